/* ca_cmp.c — CMP (RFC 4210, Lightweight CMP profile RFC 9483) on OpenSSL
 * 3.0's server context: OpenSSL parses the PKIMessage, checks its
 * protection (the signature of the one certificate the transport named,
 * or the MAC of the one-time secret the senderKID names) and the proof of
 * possession, and builds the answer, signed by the CMP signer; the
 * callbacks enroll devices (p10cr, ir, cr) through ca_device_issue /
 * ca_device_issue_key, so a CMP enrollment is recorded like a REST one,
 * renew a principal's own certificate (kur) and revoke (rr); a certConf
 * in a later exchange is checked by ca_cmp_confirm.c. */
#include "ca_cmp_priv.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include <openssl/cmperr.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "pki.h"
#include "util.h"

/* PKIBody CHOICE indexes (RFC 4210 5.1.2), which OpenSSL 3.0's
 * OSSL_CMP_MSG_get_bodytype returns without naming them publicly. */
#define CMP_BODY_IR 0
#define CMP_BODY_KUR 7
#define CMP_BODY_CERTCONF 24

/* What the callbacks need, and a refusal decided before OpenSSL ran. */
typedef struct {
	ca_t *ca;
	reg_t *reg;
	const ca_cmp_sender_t *sender; /* NULL: the MAC route */
	ca_cmp_secret_t *secret;       /* the MAC route's secret, if found */
	ca_cmp_hdr_t hdr;
	char sender_key[REG_NAME_MAX + 3]; /* "p:" name or "s:" reference */
	ca_cmp_issued_t issued;            /* the certificate granted, if any */
	reg_cmp_confirm_t conf;            /* certConf: what it confirms */
	int conf_found;
	int replay;     /* reopening conf's transaction */
	int refuse_bit; /* -1: none */
	char refuse[160];
	char err[256];
} cmp_job_t;

/* The subject attribute nid of name as text into out; 0, or -1 absent. */
static int subject_text(char *out, size_t outlen, const X509_NAME *name,
    int nid)
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
	if (d == NULL || n <= 0 || (size_t)n >= outlen ||
	    memchr(d, 0, (size_t)n) != NULL)
		return -1;
	memcpy(out, d, (size_t)n);
	out[n] = '\0';
	return 0;
}

/* A rejection carrying failure bit fail and text. */
static OSSL_CMP_PKISI *reject(int fail, const char *text)
{
	return OSSL_CMP_STATUSINFO_new(OSSL_CMP_PKISTATUS_rejection, 1 << fail,
	    text);
}

/* PKIFailureInfo bit for a ca_* error. */
static int fail_bit(int rc)
{
	switch (rc) {
	case CA_ERR_INVALID: return OSSL_CMP_PKIFAILUREINFO_badCertTemplate;
	case CA_ERR_CONFLICT:
	case CA_ERR_KEY_IN_USE: return OSSL_CMP_PKIFAILUREINFO_duplicateCertReq;
	case CA_ERR_NOT_FOUND: return OSSL_CMP_PKIFAILUREINFO_badRequest;
	case CA_ERR_DENIED:
	case CA_ERR_STATE: return OSSL_CMP_PKIFAILUREINFO_notAuthorized;
	case CA_ERR_BUSY: return OSSL_CMP_PKIFAILUREINFO_systemUnavail;
	default: return OSSL_CMP_PKIFAILUREINFO_systemFailure;
	}
}

/* The CA of the current set (an Infrastructure CA when infra, else a
 * Device CA) that issued cert; NULL if none. */
static X509 *issuer_in_set(const ca_t *ca, X509 *cert, int infra)
{
	const struct ca_set *set = ca_set_peek(ca);
	const struct ca_dca *d = infra ? set->icas : set->dcas;
	size_t i, n = infra ? set->n_icas : set->n_dcas;

	for (i = 0; i < n; i++)
		if (X509_check_issued(d[i].cert, cert) == X509_V_OK)
			return d[i].cert;
	return NULL;
}

/* The certificate (PEM) issued for target by a CA of the CA set
 * (REG_ISSUER_* issuer) as *cert_out, its chain that CA + Root; noted for
 * its certConf. */
static OSSL_CMP_PKISI *granted(cmp_job_t *job, const char *pem,
    const char *issuer, const char *target, X509 **cert_out,
    STACK_OF(X509) * *chain_out)
{
	BIO *b = BIO_new_mem_buf(pem, -1);
	X509 *ca1 = NULL;

	if (b == NULL ||
	    (*cert_out = PEM_read_bio_X509(b, NULL, NULL, NULL)) == NULL ||
	    (ca1 = issuer_in_set(job->ca, *cert_out,
	         strcmp(issuer, REG_ISSUER_INFRA) == 0)) == NULL ||
	    ca_cmp_issued_set(&job->issued, *cert_out, issuer, target) != 0 ||
	    (*chain_out = sk_X509_new_null()) == NULL ||
	    !X509_add_cert(*chain_out, ca1, X509_ADD_FLAG_UP_REF) ||
	    !X509_add_cert(*chain_out, job->ca->root, X509_ADD_FLAG_UP_REF)) {
		BIO_free(b);
		return reject(OSSL_CMP_PKIFAILUREINFO_systemFailure,
		    "certificate");
	}
	BIO_free(b);
	return OSSL_CMP_STATUSINFO_new(OSSL_CMP_PKISTATUS_accepted, 0, NULL);
}

/* Device attributes from the request's subject into a (serial, model,
 * hw: 65 bytes each); NULL, or the rejection. */
static OSSL_CMP_PKISI *device_attrs(ca_device_attrs_t *a, char *serial,
    char *model, char *hw, const X509_NAME *subj, const char *mfr_id)
{
	if (subj == NULL ||
	    subject_text(serial, 65, subj, NID_serialNumber) != 0 ||
	    subject_text(model, 65, subj, NID_commonName) != 0)
		return reject(OSSL_CMP_PKIFAILUREINFO_badCertTemplate,
		    "the subject needs serialNumber (device serial) and CN (model)");
	if (subject_text(hw, 65, subj, NID_organizationalUnitName) != 0)
		hw[0] = '\0';
	a->manufacturer_id = mfr_id;
	a->serial = serial;
	a->model = model;
	a->hw_version = hw;
	return NULL;
}

/* Issue from the template's key; on the MAC route inside one
 * transaction with the secret's use, so a refusal uses nothing up. */
static int issue_key(cmp_job_t *job, ca_issue_result_t *res, EVP_PKEY *pk,
    const ca_device_attrs_t *a, const char *actor)
{
	int rc;

	if (job->secret == NULL)
		return ca_device_issue_key(job->ca, job->reg, res, pk, a, actor,
		    job->err, sizeof(job->err));
	if ((rc = ca_from_reg(
	         reg_begin(job->reg, job->err, sizeof(job->err)))) != CA_OK)
		return rc;
	rc = ca_device_issue_key(job->ca, job->reg, res, pk, a, actor, job->err,
	    sizeof(job->err));
	if (rc == CA_OK)
		rc = ca_cmp_secret_use(job->reg, job->secret->id,
		    res->device_id, reg_now(), job->err, sizeof(job->err));
	if (rc == CA_OK)
		rc = ca_from_reg(
		    reg_commit(job->reg, job->err, sizeof(job->err)));
	if (rc != CA_OK) {
		reg_rollback(job->reg);
		ca_issue_result_clear(res);
	}
	return rc;
}

/* p10cr, ir, cr: one device of manufacturer mfr_id. */
static OSSL_CMP_PKISI *enroll(cmp_job_t *job, const OSSL_CRMF_MSG *crm,
    const X509_REQ *p10cr, const char *mfr_id, const char *actor,
    X509 **cert_out, STACK_OF(X509) * *chain_out)
{
	char serial[65], model[65], hw[65];
	ca_device_attrs_t a;
	ca_issue_result_t res;
	OSSL_CMP_PKISI *si;
	unsigned char *der = NULL;
	EVP_PKEY *pk = NULL;
	int n, rc;

	if ((si = device_attrs(&a, serial, model, hw,
	         p10cr != NULL ? X509_REQ_get_subject_name(p10cr) :
	                         OSSL_CRMF_CERTTEMPLATE_get0_subject(
	                             OSSL_CRMF_MSG_get0_tmpl(crm)),
	         mfr_id)) != NULL)
		return si;
	memset(&res, 0, sizeof(res));
	if (p10cr != NULL) {
		if ((n = i2d_X509_REQ((X509_REQ *)p10cr, &der)) <= 0)
			return reject(OSSL_CMP_PKIFAILUREINFO_systemFailure,
			    "CSR encoding");
		rc = ca_device_issue(job->ca, job->reg, &res, der, (size_t)n,
		    &a, actor, job->err, sizeof(job->err));
		OPENSSL_free(der);
	} else {
		if ((pk = ca_cmp_tmpl_pubkey(crm)) == NULL)
			return reject(OSSL_CMP_PKIFAILUREINFO_badCertTemplate,
			    "the certificate template has no usable public key");
		rc = issue_key(job, &res, pk, &a, actor);
		EVP_PKEY_free(pk);
	}
	if (rc != CA_OK)
		return reject(fail_bit(rc), job->err);
	si = granted(job, res.cert_pem, REG_ISSUER_DEVICE, res.device_id,
	    cert_out, chain_out);
	ca_issue_result_clear(&res);
	return si;
}

/* kur: the sender renews its own certificate with the template's key
 * (REST self-renewal's rules: still its own and unrevoked inside the
 * renewal's transaction, the principal_max_valid_certs cap). */
static OSSL_CMP_PKISI *renew(cmp_job_t *job, const OSSL_CRMF_MSG *crm,
    X509 **cert_out, STACK_OF(X509) * *chain_out)
{
	const ca_cmp_sender_t *s = job->sender;
	const OSSL_CRMF_CERTID *old = OSSL_CRMF_MSG_get0_regCtrl_oldCertID(crm);
	ca_principal_attrs_t pa;
	ca_principal_creds_t cr;
	uint8_t fp[PKI_FINGERPRINT_LEN];
	char hex[2 * PKI_FINGERPRINT_LEN + 1];
	OSSL_CMP_PKISI *si;
	EVP_PKEY *pk;
	int rc;

	if (old != NULL &&
	    (X509_NAME_cmp(OSSL_CRMF_CERTID_get0_issuer(old),
	         X509_get_issuer_name(s->cert)) != 0 ||
	        ASN1_INTEGER_cmp(OSSL_CRMF_CERTID_get0_serialNumber(old),
	            X509_get0_serialNumber(s->cert)) != 0))
		return reject(OSSL_CMP_PKIFAILUREINFO_badCertId,
		    "oldCertID is not the certificate this request came with");
	if (pki_cert_fingerprint(fp, (X509 *)s->cert) != PKI_OK)
		return reject(OSSL_CMP_PKIFAILUREINFO_systemFailure,
		    "fingerprint");
	util_hex_encode(hex, fp, sizeof(fp));
	if ((pk = ca_cmp_tmpl_pubkey(crm)) == NULL)
		return reject(OSSL_CMP_PKIFAILUREINFO_badCertTemplate,
		    "the certificate template has no usable public key");
	memset(&pa, 0, sizeof(pa));
	pa.name = s->name;
	pa.renew = 1;
	pa.presented_sha256 = hex;
	rc = ca_principal_add_key(job->ca, job->reg, &cr, &pa, pk, s->name,
	    job->err, sizeof(job->err));
	EVP_PKEY_free(pk);
	if (rc != CA_OK)
		return reject(fail_bit(rc), job->err);
	si = granted(job, cr.cert_pem, REG_ISSUER_INFRA, s->name, cert_out,
	    chain_out);
	ca_principal_creds_clear(&cr);
	return si;
}

/* OSSL_CMP_SRV_cert_request_cb_t: p10cr, ir, cr and kur (OpenSSL has
 * checked the protection and the proof of possession). */
static OSSL_CMP_PKISI *cb_cert_request(OSSL_CMP_SRV_CTX *srv,
    const OSSL_CMP_MSG *req, int cert_req_id, const OSSL_CRMF_MSG *crm,
    const X509_REQ *p10cr, X509 **cert_out, STACK_OF(X509) * *chain_out,
    STACK_OF(X509) * *ca_pubs)
{
	cmp_job_t *job = OSSL_CMP_SRV_CTX_get0_custom_ctx(srv);
	const ca_cmp_sender_t *s = job->sender;
	int type = OSSL_CMP_MSG_get_bodytype(req);

	(void)cert_req_id;
	(void)ca_pubs;
	/* Only reopening a transaction for its certConf: issued already. */
	if (job->replay)
		return reject(OSSL_CMP_PKIFAILUREINFO_badRequest, "replay");
	if (job->refuse_bit >= 0)
		return reject(job->refuse_bit, job->refuse);
	if (!job->hdr.implicit_confirm && !ca_cmp_confirm_possible(req))
		return reject(OSSL_CMP_PKIFAILUREINFO_badRequest,
		    "a certConf needs a transactionID of 1..64 bytes");
	if (s == NULL) {
		if (type != CMP_BODY_IR)
			return reject(OSSL_CMP_PKIFAILUREINFO_badRequest,
			    "a one-time secret serves an ir only");
		return enroll(job, crm, NULL, job->secret->manufacturer_id,
		    job->secret->ref, cert_out, chain_out);
	}
	if (type == CMP_BODY_KUR)
		return renew(job, crm, cert_out, chain_out);
	if (strcmp(s->role, REG_ROLE_MANUFACTURER) != 0)
		return reject(OSSL_CMP_PKIFAILUREINFO_notAuthorized,
		    "only a manufacturer enrolls devices");
	return enroll(job, crm, p10cr, s->manufacturer_id, s->name, cert_out,
	    chain_out);
}

/* The registry DeviceID of the Device CA certificate serial, into id. */
static OSSL_CMP_PKISI *rr_device(cmp_job_t *job, char *id, size_t idlen,
    const ASN1_INTEGER *serial)
{
	char hex[REG_SERIAL_HEX_MAX + 2];
	int rc;

	if (ca_cmp_serial_hex(hex, sizeof(hex), serial) != 0)
		return reject(OSSL_CMP_PKIFAILUREINFO_badCertId, "serial");
	rc = reg_cert_device_id(job->reg, id, idlen, REG_ISSUER_DEVICE, hex);
	if (rc == REG_ERR_NOT_FOUND)
		return reject(OSSL_CMP_PKIFAILUREINFO_badCertId,
		    "no device certificate with this serial");
	if (rc != REG_OK)
		return reject(OSSL_CMP_PKIFAILUREINFO_systemUnavail,
		    "registry");
	return NULL;
}

/* OSSL_CMP_SRV_rr_cb_t: an administrator revokes a device certificate
 * (CRL and OCSP see it at once) with the CRLReason of the request's
 * crlEntryDetails, read from its DER (OpenSSL 3.0 hands the callback
 * none); unspecified when it names none. */
static OSSL_CMP_PKISI *cb_rr(OSSL_CMP_SRV_CTX *srv, const OSSL_CMP_MSG *req,
    const X509_NAME *issuer, const ASN1_INTEGER *serial)
{
	cmp_job_t *job = OSSL_CMP_SRV_CTX_get0_custom_ctx(srv);
	char id[REG_DEVICE_ID_MAX + 1];
	OSSL_CMP_PKISI *si;
	int reason = ca_cmp_rr_reason(req), rc;

	if (job->refuse_bit >= 0)
		return reject(job->refuse_bit, job->refuse);
	if (job->sender == NULL ||
	    strcmp(job->sender->role, REG_ROLE_ADMIN) != 0)
		return reject(OSSL_CMP_PKIFAILUREINFO_notAuthorized,
		    "only an administrator revokes");
	if (reason < 0)
		reason = 0;
	if (!ca_reason_revocable(reason))
		return reject(OSSL_CMP_PKIFAILUREINFO_badRequest,
		    "certificateHold and removeFromCRL are not revocations: "
		    "suspend and reinstate through the REST API");
	if (issuer == NULL || serial == NULL ||
	    X509_NAME_cmp(issuer,
	        X509_get_subject_name(
	            ca_set_issuing(ca_set_peek(job->ca))->cert)) != 0)
		return reject(OSSL_CMP_PKIFAILUREINFO_badCertId,
		    "not a certificate of the Device CA");
	if ((si = rr_device(job, id, sizeof(id), serial)) != NULL)
		return si;
	rc = ca_device_revoke(job->ca, job->reg, id, reason, job->sender->name,
	    job->err, sizeof(job->err));
	if (rc == CA_ERR_STATE)
		return reject(OSSL_CMP_PKIFAILUREINFO_certRevoked, job->err);
	if (rc != CA_OK)
		return reject(fail_bit(rc), job->err);
	return OSSL_CMP_STATUSINFO_new(OSSL_CMP_PKISTATUS_accepted, 0, NULL);
}

/* OSSL_CMP_SRV_certConf_cb_t: the certConf of a certificate issued (and
 * stored) in an earlier exchange of this transaction, which OpenSSL has
 * checked (protection, transactionID, recipNonce, certReqId): the same
 * sender, the certHash of that certificate; a rejection revokes it. */
static int cb_cert_conf(OSSL_CMP_SRV_CTX *srv, const OSSL_CMP_MSG *req,
    int cert_req_id, const ASN1_OCTET_STRING *hash, const OSSL_CMP_PKISI *si)
{
	cmp_job_t *job = OSSL_CMP_SRV_CTX_get0_custom_ctx(srv);

	(void)req;
	(void)cert_req_id;
	if (job->refuse_bit >= 0) {
		ERR_raise_data(ERR_LIB_CMP, CMP_R_ERROR_VALIDATING_PROTECTION,
		    "%s", job->refuse);
		return 0;
	}
	return ca_cmp_confirm_settle(job->ca, job->reg, &job->conf,
	    job->conf_found,
	    job->sender != NULL ? job->sender->name : job->secret->ref, hash,
	    si);
}

/* OSSL_CMP_SRV_genm_cb_t: no general information is offered yet; an
 * empty genp is a complete answer (RFC 4210 5.3.19: unknown InfoTypes
 * may be ignored), so `openssl cmp -cmd genm` works as a probe. Not on
 * the MAC route (a one-time secret serves an ir only). */
static int cb_genm(OSSL_CMP_SRV_CTX *srv, const OSSL_CMP_MSG *req,
    const STACK_OF(OSSL_CMP_ITAV) * in, STACK_OF(OSSL_CMP_ITAV) * *out)
{
	cmp_job_t *job = OSSL_CMP_SRV_CTX_get0_custom_ctx(srv);

	(void)req;
	(void)in;
	if (job->sender == NULL)
		return 0;
	*out = sk_OSSL_CMP_ITAV_new_null();
	return *out != NULL;
}

/* The server context: answers signed by the CMP signer (its chain in
 * extraCerts); requests accepted only when signed by the sender's
 * certificate, or on the MAC route as ca_cmp_process decided. */
static OSSL_CMP_SRV_CTX *srv_new(ca_t *ca, cmp_job_t *job)
{
	OSSL_CMP_SRV_CTX *srv = OSSL_CMP_SRV_CTX_new(NULL, NULL);
	OSSL_CMP_CTX *ctx =
	    srv != NULL ? OSSL_CMP_SRV_CTX_get0_cmp_ctx(srv) : NULL;
	STACK_OF(X509) *chain = sk_X509_new_null();
	int ok;

	ok = ctx != NULL && chain != NULL &&
	    X509_add_cert(chain, ca->infra, X509_ADD_FLAG_UP_REF) &&
	    X509_add_cert(chain, ca->root, X509_ADD_FLAG_UP_REF) &&
	    OSSL_CMP_SRV_CTX_init(srv, job, cb_cert_request, cb_rr, cb_genm,
	        NULL, cb_cert_conf, NULL) == 1 &&
	    OSSL_CMP_SRV_CTX_set_grant_implicit_confirm(srv, 1) == 1 &&
	    OSSL_CMP_CTX_set1_cert(ctx, ca->cmp_cert) == 1 &&
	    OSSL_CMP_CTX_set1_pkey(ctx, ca->cmp_key) == 1 &&
	    OSSL_CMP_CTX_set1_untrusted(ctx, chain) == 1;
	if (ok && job->sender != NULL)
		ok = OSSL_CMP_CTX_set1_srvCert(ctx,
		         (X509 *)job->sender->cert) == 1;
	else if (ok && job->secret != NULL)
		ok = OSSL_CMP_CTX_set1_secretValue(ctx, job->secret->secret,
		         CA_CMP_SECRET_LEN) == 1 &&
		    OSSL_CMP_CTX_set1_referenceValue(ctx,
		        (const unsigned char *)job->secret->ref,
		        (int)strlen(job->secret->ref)) == 1;
	/* The MAC route checked the protection itself (mac_decide): OpenSSL
	 * answers, the callbacks refuse what it refused. */
	if (ok && job->sender == NULL)
		ok = OSSL_CMP_SRV_CTX_set_accept_unprotected(srv, 1) == 1;
	sk_X509_pop_free(chain, X509_free);
	if (!ok) {
		OSSL_CMP_SRV_CTX_free(srv);
		return NULL;
	}
	return srv;
}

/* Refuse the request with failure bit and text pre + ref + post (MAC
 * route); CA_OK: a refusal is answered. */
static int refuse(cmp_job_t *job, int bit, const char *pre, const char *ref,
    const char *post)
{
	job->refuse_bit = bit;
	snprintf(job->refuse, sizeof(job->refuse), "%s%s%s", pre, ref, post);
	return CA_OK;
}

/* The MAC route: find the secret the senderKID names and decide, before
 * OpenSSL answers, whether the request may proceed: PBM protection that
 * verifies with an unused, unexpired secret. */
static int mac_decide(cmp_job_t *job, ca_cmp_secret_t *sec,
    const OSSL_CMP_MSG *msg, char *err, size_t errlen)
{
	char ref[CA_CMP_REF_MAX + 1];
	OSSL_CMP_CTX *vc;
	size_t i;
	int rc, ok;

	if (job->hdr.protection_nid != NID_id_PasswordBasedMAC)
		return refuse(job, OSSL_CMP_PKIFAILUREINFO_wrongIntegrity,
		    "this path takes MAC-protected (PBM) requests only; "
		    "signed ones go to /.well-known/cmp",
		    "", "");
	for (i = 0; i < job->hdr.kid_len && i < sizeof(ref) - 1; i++)
		if (!isgraph(job->hdr.kid[i]))
			break;
	if (job->hdr.kid_len == 0 || i != job->hdr.kid_len)
		return refuse(job, OSSL_CMP_PKIFAILUREINFO_badRequest,
		    "the reference (senderKID) must name a one-time secret", "",
		    "");
	memcpy(ref, job->hdr.kid, i);
	ref[i] = '\0';
	rc = ca_cmp_secret_get(job->ca, job->reg, sec, ref, err, errlen);
	if (rc == CA_ERR_NOT_FOUND)
		return refuse(job, OSSL_CMP_PKIFAILUREINFO_notAuthorized,
		    "no one-time secret ", ref, "");
	if (rc != CA_OK)
		return rc;
	job->secret = sec;
	if ((vc = OSSL_CMP_CTX_new(NULL, NULL)) == NULL ||
	    OSSL_CMP_CTX_set1_secretValue(vc, sec->secret, CA_CMP_SECRET_LEN) !=
	        1) {
		OSSL_CMP_CTX_free(vc);
		util_err_openssl(err, errlen, "CMP context");
		return CA_ERR_INTERNAL;
	}
	ok = OSSL_CMP_validate_msg(vc, msg);
	OSSL_CMP_CTX_free(vc);
	ERR_clear_error();
	if (!ok)
		return refuse(job, OSSL_CMP_PKIFAILUREINFO_badMessageCheck,
		    "the MAC does not verify with secret ", ref, "");
	/* A certConf comes with the secret its ir used up; it confirms only
	 * the certificate of that ir's transaction (ca_cmp_confirm.c). */
	if (OSSL_CMP_MSG_get_bodytype(msg) == CMP_BODY_CERTCONF)
		return CA_OK;
	if (sec->used_at != 0)
		return refuse(job, OSSL_CMP_PKIFAILUREINFO_notAuthorized,
		    "one-time secret ", ref, " was used already");
	if (sec->expires_at <= reg_now())
		return refuse(job, OSSL_CMP_PKIFAILUREINFO_notAuthorized,
		    "one-time secret ", ref, " has expired");
	return CA_OK;
}

int ca_cmp_process(ca_t *ca, reg_t *reg, const ca_cmp_sender_t *sender,
    uint8_t **out, size_t *out_len, const uint8_t *req, size_t req_len,
    char *err, size_t errlen)
{
	const unsigned char *p = req;
	OSSL_CMP_MSG *creq = NULL, *rsp = NULL;
	OSSL_CMP_SRV_CTX *srv = NULL;
	ca_cmp_secret_t sec;
	cmp_job_t job;
	unsigned char *der = NULL;
	int n, rc = CA_ERR_INTERNAL;

	*out = NULL;
	*out_len = 0;
	memset(&job, 0, sizeof(job));
	memset(&sec, 0, sizeof(sec));
	job.ca = ca;
	job.reg = reg;
	job.sender = sender;
	job.refuse_bit = -1;
	if (req_len == 0 || req_len > CA_CMP_REQUEST_MAX ||
	    (creq = d2i_OSSL_CMP_MSG(NULL, &p, (long)req_len)) == NULL ||
	    p != req + req_len || ca_cmp_hdr_read(&job.hdr, creq) != 0) {
		ERR_clear_error();
		util_err_set(err, errlen, "the body is not a DER PKIMessage");
		rc = CA_ERR_INVALID;
		goto out;
	}
	if (ca->cmp_cert == NULL || ca->cmp_key == NULL) {
		util_err_set(err, errlen, "no CMP signer loaded");
		goto out;
	}
	if (sender == NULL &&
	    (rc = mac_decide(&job, &sec, creq, err, errlen)) != CA_OK)
		goto out;
	snprintf(job.sender_key, sizeof(job.sender_key), "%s%s",
	    sender != NULL ? "p:" : "s:",
	    sender != NULL         ? sender->name :
	        job.secret != NULL ? job.secret->ref :
	                             "");
	if ((srv = srv_new(ca, &job)) == NULL) {
		util_err_openssl(err, errlen, "CMP server context");
		rc = CA_ERR_INTERNAL;
		goto out;
	}
	if (OSSL_CMP_MSG_get_bodytype(creq) == CMP_BODY_CERTCONF &&
	    job.refuse_bit < 0 &&
	    (rc = ca_cmp_confirm_prepare(srv, &job.replay, reg, &job.conf,
	         &job.conf_found, job.sender_key, creq, err, errlen)) != CA_OK)
		goto out;
	/* Protection failures and unsupported types come back as error
	 * messages built by OpenSSL. */
	rsp = OSSL_CMP_SRV_process_request(srv, creq);
	ERR_clear_error();
	if (rsp == NULL || (n = i2d_OSSL_CMP_MSG(rsp, &der)) <= 0) {
		util_err_openssl(err, errlen, "CMP response");
		rc = CA_ERR_INTERNAL;
		goto out;
	}
	/* Granted without implicit confirmation: what its certConf, in a
	 * later exchange, is checked against. */
	if ((rc = ca_cmp_confirm_record(reg, &job.issued, job.sender_key, creq,
	         rsp, err, errlen)) != CA_OK) {
		OPENSSL_free(der);
		goto out;
	}
	*out = der;
	*out_len = (size_t)n;
	rc = CA_OK;
out:
	OPENSSL_cleanse(&sec, sizeof(sec));
	reg_cmp_confirm_clear(&job.conf);
	OSSL_CMP_MSG_free(rsp);
	OSSL_CMP_MSG_free(creq);
	OSSL_CMP_SRV_CTX_free(srv);
	return rc;
}
