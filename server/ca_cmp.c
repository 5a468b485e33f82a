/* ca_cmp.c — CMP (RFC 4210, Lightweight CMP profile RFC 9483) on OpenSSL
 * 3.0's server context: OpenSSL parses the PKIMessage, checks its
 * signature protection against the one certificate the transport named,
 * and builds the answer; the p10cr callback enrolls the device through
 * ca_device_issue, so a CMP enrollment is recorded like a REST one; the rr
 * callback revokes through ca_device_revoke for an administrator. */
#include "ca_priv.h"
#include "ca_cmp.h"

#include <ctype.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/cmp.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "util.h"

/* What the enrollment callback needs, and what it found out. */
typedef struct {
	ca_t *ca;
	reg_t *reg;
	const char *mfr_id;		/* NULL: the sender is an administrator */
	const char *actor;
	char err[256];
} cmp_job_t;

/* The subject attribute nid of name as text into out; 0, or -1 absent. */
static int subject_text(char *out, size_t outlen, const X509_NAME *name, int nid)
{
	int i = X509_NAME_get_index_by_NID(name, nid, -1);
	const ASN1_STRING *s;
	const unsigned char *d;
	int n;

	if (i < 0)
		return -1;
	s = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i));
	d = ASN1_STRING_get0_data(s);
	n = ASN1_STRING_length(s);
	if (d == NULL || n <= 0 || (size_t)n >= outlen || memchr(d, 0, (size_t)n) != NULL)
		return -1;
	memcpy(out, d, (size_t)n);
	out[n] = '\0';
	return 0;
}

/* A rejection carrying failure bit fail and text. */
static OSSL_CMP_PKISI *reject(int fail, const char *text)
{
	return OSSL_CMP_STATUSINFO_new(OSSL_CMP_PKISTATUS_rejection, 1 << fail, text);
}

/* PKIFailureInfo bit for a ca_device_issue error. */
static int fail_bit(int rc)
{
	switch (rc) {
	case CA_ERR_INVALID: return OSSL_CMP_PKIFAILUREINFO_badCertTemplate;
	case CA_ERR_CONFLICT:
	case CA_ERR_KEY_IN_USE: return OSSL_CMP_PKIFAILUREINFO_duplicateCertReq;
	case CA_ERR_NOT_FOUND: return OSSL_CMP_PKIFAILUREINFO_badRequest;
	case CA_ERR_BUSY: return OSSL_CMP_PKIFAILUREINFO_systemUnavail;
	default: return OSSL_CMP_PKIFAILUREINFO_systemFailure;
	}
}

/* OSSL_CMP_SRV_cert_request_cb_t: p10cr only. */
static OSSL_CMP_PKISI *cb_cert_request(OSSL_CMP_SRV_CTX *srv,
    const OSSL_CMP_MSG *req, int cert_req_id, const OSSL_CRMF_MSG *crm,
    const X509_REQ *p10cr, X509 **cert_out, STACK_OF(X509) **chain_out,
    STACK_OF(X509) **ca_pubs)
{
	cmp_job_t *job = OSSL_CMP_SRV_CTX_get0_custom_ctx(srv);
	char serial[65], model[65], hw[65];
	ca_device_attrs_t a;
	ca_issue_result_t res;
	unsigned char *der = NULL;
	const X509_NAME *subj;
	BIO *b = NULL;
	int n, rc;

	(void)req;
	(void)cert_req_id;
	(void)crm;
	(void)ca_pubs;
	if (job->mfr_id == NULL)
		return reject(OSSL_CMP_PKIFAILUREINFO_notAuthorized,
		    "only a manufacturer enrolls devices");
	if (p10cr == NULL)
		return reject(OSSL_CMP_PKIFAILUREINFO_badRequest,
		    "only p10cr is served: send the device's PKCS#10 CSR");
	subj = X509_REQ_get_subject_name(p10cr);
	if (subject_text(serial, sizeof(serial), subj, NID_serialNumber) != 0 ||
	    subject_text(model, sizeof(model), subj, NID_commonName) != 0)
		return reject(OSSL_CMP_PKIFAILUREINFO_badCertTemplate,
		    "the CSR subject needs serialNumber (device serial) and CN (model)");
	if (subject_text(hw, sizeof(hw), subj, NID_organizationalUnitName) != 0)
		hw[0] = '\0';
	if ((n = i2d_X509_REQ((X509_REQ *)p10cr, &der)) <= 0)
		return reject(OSSL_CMP_PKIFAILUREINFO_systemFailure, "CSR encoding");
	a.manufacturer_id = job->mfr_id;
	a.serial = serial;
	a.model = model;
	a.hw_version = hw;
	memset(&res, 0, sizeof(res));
	rc = ca_device_issue(job->ca, job->reg, &res, der, (size_t)n, &a,
	    job->actor, job->err, sizeof(job->err));
	OPENSSL_free(der);
	if (rc != CA_OK)
		return reject(fail_bit(rc), job->err);
	if ((b = BIO_new_mem_buf(res.cert_pem, -1)) == NULL ||
	    (*cert_out = PEM_read_bio_X509(b, NULL, NULL, NULL)) == NULL ||
	    (*chain_out = sk_X509_new_null()) == NULL ||
	    !X509_add_cert(*chain_out, ca_set_issuing(ca_set_peek(job->ca))->cert,
	    X509_ADD_FLAG_UP_REF) ||
	    !X509_add_cert(*chain_out, job->ca->root, X509_ADD_FLAG_UP_REF)) {
		BIO_free(b);
		ca_issue_result_clear(&res);
		return reject(OSSL_CMP_PKIFAILUREINFO_systemFailure, "certificate");
	}
	BIO_free(b);
	ca_issue_result_clear(&res);
	return OSSL_CMP_STATUSINFO_new(OSSL_CMP_PKISTATUS_accepted, 0, NULL);
}

/* OSSL_CMP_SRV_rr_cb_t: an administrator revokes a device certificate
 * (CRL and OCSP see it at once). OpenSSL 3.0 hands over no CRLReason, so
 * the reason is unspecified; the REST and CLI revocations take one. */
static OSSL_CMP_PKISI *cb_rr(OSSL_CMP_SRV_CTX *srv, const OSSL_CMP_MSG *req,
    const X509_NAME *issuer, const ASN1_INTEGER *serial)
{
	cmp_job_t *job = OSSL_CMP_SRV_CTX_get0_custom_ctx(srv);
	char hex[REG_SERIAL_HEX_MAX + 2], id[REG_DEVICE_ID_MAX + 1];
	BIGNUM *bn = NULL;
	char *h = NULL;
	size_t i;
	int rc;

	(void)req;
	if (job->mfr_id != NULL)
		return reject(OSSL_CMP_PKIFAILUREINFO_notAuthorized,
		    "only an administrator revokes");
	if (issuer == NULL || serial == NULL ||
	    X509_NAME_cmp(issuer, X509_get_subject_name(
	    ca_set_issuing(ca_set_peek(job->ca))->cert)) != 0)
		return reject(OSSL_CMP_PKIFAILUREINFO_badCertId,
		    "not a certificate of the Device CA");
	if ((bn = ASN1_INTEGER_to_BN(serial, NULL)) == NULL || BN_is_negative(bn) ||
	    (h = BN_bn2hex(bn)) == NULL || strlen(h) >= sizeof(hex)) {
		BN_free(bn);
		OPENSSL_free(h);
		return reject(OSSL_CMP_PKIFAILUREINFO_badCertId, "serial");
	}
	for (i = 0; i <= strlen(h); i++)
		hex[i] = (char)tolower((unsigned char)h[i]);
	BN_free(bn);
	OPENSSL_free(h);
	rc = reg_cert_device_id(job->reg, id, sizeof(id), REG_ISSUER_DEVICE, hex);
	if (rc == REG_ERR_NOT_FOUND)
		return reject(OSSL_CMP_PKIFAILUREINFO_badCertId,
		    "no device certificate with this serial");
	if (rc != REG_OK)
		return reject(OSSL_CMP_PKIFAILUREINFO_systemUnavail, "registry");
	rc = ca_device_revoke(job->ca, job->reg, id, 0, job->actor, job->err,
	    sizeof(job->err));
	if (rc == CA_ERR_STATE)
		return reject(OSSL_CMP_PKIFAILUREINFO_certRevoked, job->err);
	if (rc != CA_OK)
		return reject(fail_bit(rc), job->err);
	return OSSL_CMP_STATUSINFO_new(OSSL_CMP_PKISTATUS_accepted, 0, NULL);
}

/* OSSL_CMP_SRV_certConf_cb_t: the certificate is already committed. */
static int cb_cert_conf(OSSL_CMP_SRV_CTX *srv, const OSSL_CMP_MSG *req,
    int cert_req_id, const ASN1_OCTET_STRING *hash, const OSSL_CMP_PKISI *si)
{
	(void)srv;
	(void)req;
	(void)cert_req_id;
	(void)hash;
	(void)si;
	return 1;
}

/* OSSL_CMP_SRV_genm_cb_t: no general information is offered yet; an
 * empty genp is a complete answer (RFC 4210 5.3.19: unknown InfoTypes
 * may be ignored), so `openssl cmp -cmd genm` works as a probe. */
static int cb_genm(OSSL_CMP_SRV_CTX *srv, const OSSL_CMP_MSG *req,
    const STACK_OF(OSSL_CMP_ITAV) *in, STACK_OF(OSSL_CMP_ITAV) **out)
{
	(void)srv;
	(void)req;
	(void)in;
	*out = sk_OSSL_CMP_ITAV_new_null();
	return *out != NULL;
}

/* The server context: responses signed by the Device CA, requests
 * accepted only when signed by sender. */
static OSSL_CMP_SRV_CTX *srv_new(ca_t *ca, const X509 *sender, cmp_job_t *job)
{
	OSSL_CMP_SRV_CTX *srv = OSSL_CMP_SRV_CTX_new(NULL, NULL);
	OSSL_CMP_CTX *ctx = srv != NULL ? OSSL_CMP_SRV_CTX_get0_cmp_ctx(srv) : NULL;

	if (ctx == NULL ||
	    OSSL_CMP_SRV_CTX_init(srv, job, cb_cert_request, cb_rr, cb_genm, NULL,
	    cb_cert_conf, NULL) != 1 ||
	    OSSL_CMP_SRV_CTX_set_grant_implicit_confirm(srv, 1) != 1 ||
	    OSSL_CMP_CTX_set1_cert(ctx, ca->tls) != 1 ||
	    OSSL_CMP_CTX_set1_pkey(ctx, ca->tls_key) != 1 ||
	    OSSL_CMP_CTX_set1_srvCert(ctx, (X509 *)sender) != 1) {
		OSSL_CMP_SRV_CTX_free(srv);
		return NULL;
	}
	return srv;
}

int ca_cmp_process(ca_t *ca, reg_t *reg, const X509 *sender,
    const char *mfr_id, const char *actor, uint8_t **out, size_t *out_len,
    const uint8_t *req, size_t req_len, char *err, size_t errlen)
{
	const unsigned char *p = req;
	OSSL_CMP_MSG *creq = NULL, *rsp = NULL;
	OSSL_CMP_SRV_CTX *srv = NULL;
	cmp_job_t job = { ca, reg, mfr_id, actor, "" };
	unsigned char *der = NULL;
	int n, rc = CA_ERR_INTERNAL;

	*out = NULL;
	*out_len = 0;
	if (req_len == 0 || req_len > CA_CMP_REQUEST_MAX ||
	    (creq = d2i_OSSL_CMP_MSG(NULL, &p, (long)req_len)) == NULL ||
	    p != req + req_len) {
		ERR_clear_error();
		util_err_set(err, errlen, "the body is not a DER PKIMessage");
		rc = CA_ERR_INVALID;
		goto out;
	}
	if ((srv = srv_new(ca, sender, &job)) == NULL) {
		util_err_openssl(err, errlen, "CMP server context");
		goto out;
	}
	/* Protection failures and unsupported types come back as error
	 * messages built by OpenSSL. */
	rsp = OSSL_CMP_SRV_process_request(srv, creq);
	ERR_clear_error();
	if (rsp == NULL || (n = i2d_OSSL_CMP_MSG(rsp, &der)) <= 0) {
		util_err_openssl(err, errlen, "CMP response");
		goto out;
	}
	*out = der;
	*out_len = (size_t)n;
	rc = CA_OK;
out:
	OSSL_CMP_MSG_free(rsp);
	OSSL_CMP_MSG_free(creq);
	OSSL_CMP_SRV_CTX_free(srv);
	return rc;
}
