/* ca_ocsp.c — the Device CAs' OCSP responder: parse the request, pick the
 * Device CA of the CA set the request names, look each certificate up in
 * the registry, sign a basic response with that CA's key. The registry is the source of truth, as for the CRL. */
#include "ca_priv.h"
#include "ca_ocsp.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/ocsp.h>

#include "reg_status.h"
#include "util.h"

/* Serial of cid as the registry stores it (lowercase hex, no leading zero
 * bytes) into out. 0, or -1 when it is negative or too long. */
static int serial_hex(char *out, size_t outlen, const ASN1_INTEGER *serial)
{
	BIGNUM *bn = ASN1_INTEGER_to_BN(serial, NULL);
	char *hex = NULL;
	size_t i, n;
	int rc = -1;

	if (bn == NULL || BN_is_negative(bn) || (hex = BN_bn2hex(bn)) == NULL)
		goto out;
	n = strlen(hex);
	if (n == 0 || n >= outlen)
		goto out;
	for (i = 0; i <= n; i++)
		out[i] = (char)tolower((unsigned char)hex[i]);
	rc = 0;
out:
	OPENSSL_free(hex);
	BN_free(bn);
	return rc;
}

/* The Device CA of the CA set that cid names (its issuerNameHash and
 * issuerKeyHash, in the hash cid uses) and that still signs; NULL when
 * none does (a retired CA, another issuer, a digest the build lacks). */
static const struct ca_dca *ocsp_issuer_select(const ca_t *ca,
    OCSP_CERTID *cid)
{
	ASN1_OBJECT *md_obj = NULL;
	const struct ca_dca *found = NULL;
	const EVP_MD *md;
	OCSP_CERTID *id;
	size_t i;

	if (OCSP_id_get0_info(NULL, &md_obj, NULL, NULL, cid) != 1 ||
	    (md = EVP_get_digestbyobj(md_obj)) == NULL) {
		ERR_clear_error();
		return NULL;
	}
	for (i = 0; i < ca->n_dcas && found == NULL; i++) {
		if (ca->dcas[i].key == NULL)
			continue;
		id = OCSP_cert_to_id(md, NULL, ca->dcas[i].cert);
		if (id != NULL && OCSP_id_issuer_cmp(id, cid) == 0)
			found = &ca->dcas[i];
		OCSP_CERTID_free(id);
	}
	ERR_clear_error();
	return found;
}

/* Status of one certificate ID into the basic response signed by signer:
 * IDs of another issuer are unknown. */
static int add_one(ca_t *ca, reg_t *reg, OCSP_BASICRESP *bs, OCSP_CERTID *cid,
    const struct ca_dca *signer, ASN1_TIME *now, char *err, size_t errlen)
{
	ASN1_INTEGER *serial = NULL;
	ASN1_TIME *rev = NULL;
	reg_cert_status_t cs;
	char hex[REG_SERIAL_HEX_MAX + 2];
	int status = V_OCSP_CERTSTATUS_UNKNOWN, reason = -1, rc;

	if (OCSP_id_get0_info(NULL, NULL, NULL, &serial, cid) != 1) {
		util_err_openssl(err, errlen, "OCSP certificate ID");
		return CA_ERR_INTERNAL;
	}
	/* Only IDs naming the signing Device CA are answered. */
	if (ocsp_issuer_select(ca, cid) == signer && signer != NULL &&
	    serial_hex(hex, sizeof(hex), serial) == 0) {
		rc = reg_cert_status_ca(reg, &cs, signer->id, hex, err, errlen);
		if (rc == REG_OK) {
			status = cs.revoked ? V_OCSP_CERTSTATUS_REVOKED : V_OCSP_CERTSTATUS_GOOD;
			reason = cs.revoked ? cs.reason : -1;
			if (cs.revoked && (rev = ASN1_TIME_set(NULL, (time_t)cs.revoked_at)) == NULL) {
				util_err_openssl(err, errlen, "OCSP revocation time");
				return CA_ERR_INTERNAL;
			}
		} else if (rc != REG_ERR_NOT_FOUND) {
			return ca_from_reg(rc);
		}
	}
	ERR_clear_error(); /* a digest the build lacks is "unknown", not an error */
	if (OCSP_basic_add1_status(bs, cid, status, reason, rev, now, NULL) == NULL) {
		ASN1_TIME_free(rev);
		util_err_openssl(err, errlen, "OCSP single response");
		return CA_ERR_INTERNAL;
	}
	ASN1_TIME_free(rev);
	return CA_OK;
}

/* DER of resp into *out. */
static int response_der(uint8_t **out, size_t *out_len, OCSP_RESPONSE *resp,
    char *err, size_t errlen)
{
	unsigned char *der = NULL;
	int n = i2d_OCSP_RESPONSE(resp, &der);

	if (n <= 0) {
		util_err_openssl(err, errlen, "OCSP response encoding");
		return CA_ERR_INTERNAL;
	}
	*out = der;
	*out_len = (size_t)n;
	return CA_OK;
}

int ca_ocsp_respond(ca_t *ca, reg_t *reg, uint8_t **out, size_t *out_len,
    const uint8_t *req, size_t req_len, char *err, size_t errlen)
{
	const unsigned char *p = req;
	OCSP_REQUEST *oreq = NULL;
	OCSP_BASICRESP *bs = NULL;
	OCSP_RESPONSE *resp = NULL;
	ASN1_TIME *now = NULL;
	const struct ca_dca *signer;
	int rc = CA_ERR_INTERNAL, n, i;

	*out = NULL;
	*out_len = 0;
	if (req_len > 0 && req_len <= (size_t)INT32_MAX)
		oreq = d2i_OCSP_REQUEST(NULL, &p, (long)req_len);
	n = oreq != NULL ? OCSP_request_onereq_count(oreq) : 0;
	if (oreq == NULL || p != req + req_len || n <= 0 || n > CA_OCSP_MAX_IDS) {
		ERR_clear_error();
		resp = OCSP_response_create(OCSP_RESPONSE_STATUS_MALFORMEDREQUEST, NULL);
		if (resp == NULL) {
			util_err_openssl(err, errlen, "OCSP response");
			goto out;
		}
		rc = response_der(out, out_len, resp, err, errlen);
		goto out;
	}
	if ((bs = OCSP_BASICRESP_new()) == NULL ||
	    (now = ASN1_TIME_set(NULL, (time_t)reg_now())) == NULL) {
		util_err_openssl(err, errlen, "OCSP basic response");
		goto out;
	}
	/* One signer per response: the CA the first ID names (else the
	 * issuing one, which then answers unknown). */
	if ((signer = ocsp_issuer_select(ca, OCSP_onereq_get0_id(
	    OCSP_request_onereq_get0(oreq, 0)))) == NULL)
		signer = &ca->dcas[ca->issuing];
	for (i = 0; i < n; i++) {
		OCSP_ONEREQ *one = OCSP_request_onereq_get0(oreq, i);

		if ((rc = add_one(ca, reg, bs, OCSP_onereq_get0_id(one), signer,
		    now, err, errlen)) != CA_OK)
			goto out;
	}
	rc = CA_ERR_INTERNAL;
	/* 1 copied, 2 the request had no nonce; 0 failure. */
	if (OCSP_copy_nonce(bs, oreq) <= 0 ||
	    OCSP_basic_sign(bs, signer->cert, signer->key, EVP_sha256(), NULL,
	    OCSP_NOCERTS) != 1) {
		util_err_openssl(err, errlen, "OCSP signature");
		goto out;
	}
	if ((resp = OCSP_response_create(OCSP_RESPONSE_STATUS_SUCCESSFUL, bs)) == NULL) {
		util_err_openssl(err, errlen, "OCSP response");
		goto out;
	}
	rc = response_der(out, out_len, resp, err, errlen);
out:
	ASN1_TIME_free(now);
	OCSP_RESPONSE_free(resp);
	OCSP_BASICRESP_free(bs);
	OCSP_REQUEST_free(oreq);
	return rc;
}
