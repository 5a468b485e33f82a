/* ca_cmp_confirm.c — CMP certificate confirmation (RFC 4210 5.3.18, RFC
 * 9483 4.1.1) without state between HTTP exchanges: a certificate granted
 * without implicit confirmation is issued and stored at once, and a
 * registry row (cmp_confirms) keeps what its certConf, which arrives in a
 * later exchange on a fresh OpenSSL server context, is checked against:
 * the same sender, the transactionID, the answer's senderNonce (OpenSSL
 * checks the certConf's recipNonce against it once this file has set it
 * on the context) and the certHash. A rejecting certConf revokes the
 * certificate with reason cessationOfOperation. */
#include "ca_cmp_priv.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/cmperr.h>
#include <openssl/crypto.h>
#include <openssl/err.h>

#include "util.h"

/* RFC 5280 CRLReason of a certificate its holder refused. */
#define CONFIRM_REJECT_REASON 5 /* cessationOfOperation */

/* serial as lowercase hex into hex (the registry's serial_hex); 0, or -1. */
int ca_cmp_serial_hex(char *hex, size_t hexlen, const ASN1_INTEGER *serial)
{
	BIGNUM *bn = NULL;
	char *h = NULL;
	size_t i;
	int rc = -1;

	if ((bn = ASN1_INTEGER_to_BN(serial, NULL)) == NULL ||
	    BN_is_negative(bn) || (h = BN_bn2hex(bn)) == NULL ||
	    strlen(h) >= hexlen)
		goto out;
	for (i = 0; i <= strlen(h); i++)
		hex[i] = (char)tolower((unsigned char)h[i]);
	rc = 0;
out:
	BN_free(bn);
	OPENSSL_free(h);
	return rc;
}

/* bytes as lowercase hex into out (outlen > 2 * len); 0, or -1. */
static int hex_of(char *out, size_t outlen, const unsigned char *bytes,
    size_t len)
{
	if (len == 0 || 2 * len >= outlen)
		return -1;
	util_hex_encode(out, bytes, len);
	return 0;
}

int ca_cmp_issued_set(ca_cmp_issued_t *iss, const X509 *cert,
    const char *issuer, const char *target)
{
	ASN1_OCTET_STRING *h;
	int rc;

	memset(iss, 0, sizeof(*iss));
	/* What OpenSSL 3.0's client puts in certHash (and RFC 9483 4.1.1
	 * asks for): the certificate hashed with its signature's digest. */
	if ((h = X509_digest_sig(cert, NULL, NULL)) == NULL)
		return -1;
	rc = hex_of(iss->cert_hash, sizeof(iss->cert_hash), h->data,
	    (size_t)h->length);
	ASN1_OCTET_STRING_free(h);
	if (rc != 0 ||
	    ca_cmp_serial_hex(iss->serial_hex, sizeof(iss->serial_hex),
	        X509_get0_serialNumber(cert)) != 0 ||
	    strlen(target) >= sizeof(iss->target))
		return -1;
	snprintf(iss->issuer, sizeof(iss->issuer), "%s", issuer);
	snprintf(iss->target, sizeof(iss->target), "%s", target);
	iss->issued = 1;
	return 0;
}

/* The transactionID of msg as hex into out; 0, or -1 when it has none. */
static int tid_hex(char *out, size_t outlen, const OSSL_CMP_MSG *msg)
{
	const ASN1_OCTET_STRING *t =
	    OSSL_CMP_HDR_get0_transactionID(OSSL_CMP_MSG_get0_header(msg));

	if (t == NULL)
		return -1;
	return hex_of(out, outlen, t->data, (size_t)t->length);
}

int ca_cmp_confirm_possible(const OSSL_CMP_MSG *req)
{
	char hex[REG_CMP_HEX_MAX + 1];

	return tid_hex(hex, sizeof(hex), req) == 0;
}

int ca_cmp_confirm_record(reg_t *reg, const ca_cmp_issued_t *iss,
    const char *sender, const OSSL_CMP_MSG *req, const OSSL_CMP_MSG *rsp,
    char *err, size_t errlen)
{
	reg_cmp_confirm_t c;
	ca_cmp_hdr_t h;
	unsigned char *der = NULL;
	int n, rc;

	if (!iss->issued)
		return CA_OK;
	if (ca_cmp_hdr_read(&h, rsp) != 0) {
		util_err_set(err, errlen, "CMP answer header");
		return CA_ERR_INTERNAL;
	}
	if (h.implicit_confirm)
		return CA_OK;
	memset(&c, 0, sizeof(c));
	if (strlen(sender) >= sizeof(c.sender) ||
	    tid_hex(c.transaction_id, sizeof(c.transaction_id), req) != 0 ||
	    hex_of(c.nonce, sizeof(c.nonce), h.nonce, h.nonce_len) != 0) {
		util_err_set(err, errlen,
		    "the request has no usable "
		    "transactionID (1..64 bytes) to confirm in");
		return CA_ERR_INVALID;
	}
	snprintf(c.sender, sizeof(c.sender), "%s", sender);
	snprintf(c.issuer, sizeof(c.issuer), "%s", iss->issuer);
	snprintf(c.serial_hex, sizeof(c.serial_hex), "%s", iss->serial_hex);
	snprintf(c.cert_hash, sizeof(c.cert_hash), "%s", iss->cert_hash);
	snprintf(c.target, sizeof(c.target), "%s", iss->target);
	c.created_at = reg_now();
	if ((n = i2d_OSSL_CMP_MSG(req, &der)) <= 0) {
		util_err_openssl(err, errlen, "CMP request");
		return CA_ERR_INTERNAL;
	}
	c.request = der;
	c.request_len = (size_t)n;
	rc = ca_from_reg(reg_cmp_confirm_put(reg, &c, err, errlen));
	OPENSSL_free(der);
	return rc;
}

/* Reopen row's transaction on the fresh context of srv: its stored
 * request processed again with *replay set (the request callback then
 * issues nothing and refuses, which leaves OpenSSL's transaction open:
 * transactionID, certReqId, "waiting for certConf"), then the senderNonce
 * the certConf's recipNonce must echo. 0, or -1. */
static int transaction_reopen(OSSL_CMP_SRV_CTX *srv, int *replay,
    const reg_cmp_confirm_t *row)
{
	const unsigned char *p = row->request;
	unsigned char nb[64];
	OSSL_CMP_MSG *orig = NULL, *rsp = NULL;
	ASN1_OCTET_STRING *nonce = NULL;
	size_t n = strlen(row->nonce) / 2;
	int ok;

	if (n == 0 || n > sizeof(nb) ||
	    util_hex_decode(nb, n, row->nonce) != 0 ||
	    (orig = d2i_OSSL_CMP_MSG(NULL, &p, (long)row->request_len)) == NULL)
		return -1;
	*replay = 1;
	rsp = OSSL_CMP_SRV_process_request(srv, orig);
	*replay = 0;
	ok = rsp != NULL && (nonce = ASN1_OCTET_STRING_new()) != NULL &&
	    ASN1_OCTET_STRING_set(nonce, nb, (int)n) == 1 &&
	    OSSL_CMP_CTX_set1_senderNonce(OSSL_CMP_SRV_CTX_get0_cmp_ctx(srv),
	        nonce) == 1;
	ASN1_OCTET_STRING_free(nonce);
	OSSL_CMP_MSG_free(rsp);
	OSSL_CMP_MSG_free(orig);
	ERR_clear_error();
	return ok ? 0 : -1;
}

int ca_cmp_confirm_prepare(OSSL_CMP_SRV_CTX *srv, int *replay, reg_t *reg,
    reg_cmp_confirm_t *row, int *found, const char *sender,
    const OSSL_CMP_MSG *req, char *err, size_t errlen)
{
	const ASN1_OCTET_STRING *tid =
	    OSSL_CMP_HDR_get0_transactionID(OSSL_CMP_MSG_get0_header(req));
	char hex[REG_CMP_HEX_MAX + 1];
	int rc;

	*found = 0;
	memset(row, 0, sizeof(*row));
	/* No transaction of this sender's to reopen: OpenSSL's fresh context
	 * answers the certConf "unexpected PKIBody" (badRequest). */
	if (tid == NULL ||
	    hex_of(hex, sizeof(hex), tid->data, (size_t)tid->length) != 0)
		return CA_OK;
	rc = ca_from_reg(
	    reg_cmp_confirm_get(reg, row, sender, hex, err, errlen));
	if (rc == CA_ERR_NOT_FOUND)
		return CA_OK;
	if (rc != CA_OK)
		return rc;
	*found = 1;
	/* OpenSSL then checks the certConf's protection, transactionID,
	 * recipNonce and certReqId against the reopened transaction. */
	if (transaction_reopen(srv, replay, row) != 0) {
		util_err_set(err, errlen, "CMP transaction %s does not reopen",
		    hex);
		return CA_ERR_INTERNAL;
	}
	return CA_OK;
}

/* Refuse the certConf: an OpenSSL error with reason and text, which the
 * CMP error answer carries. Always 0. */
static int confirm_refuse(int reason, const char *text)
{
	ERR_raise_data(ERR_LIB_CMP, reason, "%s", text);
	return 0;
}

/* Revoke row's certificate (the holder refused it) and settle row as
 * rejected with an audit entry by actor, in one transaction (the device's
 * own revocation nested in it). CA_OK or CA_ERR_*. */
static int confirm_reject(ca_t *ca, reg_t *reg, const reg_cmp_confirm_t *row,
    const char *actor, char *err, size_t errlen)
{
	int rc;

	if ((rc = ca_from_reg(reg_begin(reg, err, errlen))) != CA_OK)
		return rc;
	if (strcmp(row->issuer, REG_ISSUER_DEVICE) == 0)
		/* The device's transition: CRL, OCSP, audit device.revoke;
		 * revoked meanwhile (CA_ERR_STATE) is no failure. */
		rc = ca_device_revoke(ca, reg, row->target,
		    CONFIRM_REJECT_REASON, actor, err, errlen);
	else
		rc = ca_from_reg(reg_cmp_infra_cert_revoke(reg, row->serial_hex,
		    CONFIRM_REJECT_REASON, reg_now(), err, errlen));
	if (rc == CA_ERR_STATE || rc == CA_ERR_NOT_FOUND)
		rc = CA_OK;
	if (rc != CA_OK ||
	    (rc = ca_from_reg(reg_cmp_confirm_settle(reg, row->sender,
	         row->transaction_id, "rejected", reg_now(), err, errlen))) !=
	        CA_OK ||
	    (rc = ca_audit(reg, actor, "cmp.cert_conf", row->target, err,
	         errlen, "result", "rejected", "reason",
	         ca_reason_name(CONFIRM_REJECT_REASON), "cert_serial",
	         row->serial_hex, "transaction_id", row->transaction_id,
	         (const char *)NULL)) != CA_OK ||
	    (rc = ca_from_reg(reg_commit(reg, err, errlen))) != CA_OK) {
		reg_rollback(reg);
		return rc;
	}
	return CA_OK;
}

/* Settle row as accepted with an audit entry by actor. */
static int confirm_accept(reg_t *reg, const reg_cmp_confirm_t *row,
    const char *actor, char *err, size_t errlen)
{
	int rc;

	if ((rc = ca_from_reg(reg_begin(reg, err, errlen))) != CA_OK)
		return rc;
	if ((rc = ca_from_reg(reg_cmp_confirm_settle(reg, row->sender,
	         row->transaction_id, "accepted", reg_now(), err, errlen))) !=
	        CA_OK ||
	    (rc = ca_audit(reg, actor, "cmp.cert_conf", row->target, err,
	         errlen, "result", "accepted", "cert_serial", row->serial_hex,
	         "transaction_id", row->transaction_id, (const char *)NULL)) !=
	        CA_OK ||
	    (rc = ca_from_reg(reg_commit(reg, err, errlen))) != CA_OK) {
		reg_rollback(reg);
		return rc;
	}
	return CA_OK;
}

int ca_cmp_confirm_settle(ca_t *ca, reg_t *reg, const reg_cmp_confirm_t *row,
    int found, const char *actor, const ASN1_OCTET_STRING *hash,
    const OSSL_CMP_PKISI *si)
{
	char hex[REG_CMP_HEX_MAX + 1], err[256];
	int accept = si == NULL ||
	    ca_cmp_pkisi_status(si) == OSSL_CMP_PKISTATUS_accepted,
	    rc;
	const char *want = accept ? "accepted" : "rejected";

	if (!found)
		return confirm_refuse(CMP_R_TRANSACTIONID_UNMATCHED,
		    "no certificate of this sender awaits confirmation in this "
		    "transaction");
	if (hash == NULL ||
	    hex_of(hex, sizeof(hex), hash->data, (size_t)hash->length) != 0 ||
	    strlen(hex) != strlen(row->cert_hash) ||
	    CRYPTO_memcmp(hex, row->cert_hash, strlen(hex)) != 0)
		return confirm_refuse(CMP_R_CERTHASH_UNMATCHED,
		    "certHash is not that of the certificate of this transaction");
	/* A repeated certConf (its pkiConf lost) gets pkiConf again. */
	if (strcmp(row->state, "pending") != 0)
		return strcmp(row->state, want) == 0 ?
		    1 :
		    confirm_refuse(CMP_R_UNEXPECTED_PKISTATUS,
		        "this certificate was confirmed "
		        "already, with the other answer");
	rc = accept ? confirm_accept(reg, row, actor, err, sizeof(err)) :
	              confirm_reject(ca, reg, row, actor, err, sizeof(err));
	if (rc != CA_OK)
		return confirm_refuse(CMP_R_ERROR_PROCESSING_MESSAGE, err);
	return 1;
}
