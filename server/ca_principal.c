/* ca_principal.c — principals (operators, manufacturers, admins and
 * provisioning signers) certified by the Infrastructure CA, their
 * authentication by client-certificate fingerprint, and manufacturers. */
#include "ca_priv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pkcs12.h>
#include <openssl/x509v3.h>

#include "pki.h"
#include "reg_infra.h"
#include "util.h"

void ca_principal_creds_clear(ca_principal_creds_t *c)
{
	if (c == NULL)
		return;
	free(c->cert_pem);
	free(c->chain_pem);
	if (c->key_pem != NULL) {
		OPENSSL_cleanse(c->key_pem, strlen(c->key_pem));
		free(c->key_pem);
	}
	if (c->p12 != NULL) {
		OPENSSL_cleanse(c->p12, c->p12_len);
		free(c->p12);
	}
	memset(c, 0, sizeof(*c));
}

static int attrs_check(const ca_principal_attrs_t *a, char *err, size_t errlen)
{
	int is_mfr;

	if (!ca_token_valid(a->name, REG_NAME_MAX)) {
		util_err_set(err, errlen,
		    "principal name must match "
		    "[A-Za-z0-9._-]{1,%d}",
		    REG_NAME_MAX);
		return CA_ERR_INVALID;
	}
	if (a->renew) {
		if (a->role != NULL || a->manufacturer_id != NULL) {
			util_err_set(err, errlen,
			    "a renewal keeps the "
			    "principal's role and manufacturer");
			return CA_ERR_INVALID;
		}
		return CA_OK;
	}
	if (a->revoke_previous) {
		util_err_set(err, errlen,
		    "only a renewal revokes previous "
		    "certificates");
		return CA_ERR_INVALID;
	}
	if (a->role == NULL ||
	    (strcmp(a->role, REG_ROLE_ADMIN) != 0 &&
	        strcmp(a->role, REG_ROLE_OPERATOR) != 0 &&
	        strcmp(a->role, REG_ROLE_MANUFACTURER) != 0 &&
	        strcmp(a->role, REG_ROLE_SIGNER) != 0)) {
		util_err_set(err, errlen,
		    "role must be admin, operator, "
		    "manufacturer or signer");
		return CA_ERR_INVALID;
	}
	is_mfr = strcmp(a->role, REG_ROLE_MANUFACTURER) == 0;
	if (is_mfr && !ca_token_valid(a->manufacturer_id, REG_MFR_ID_MAX)) {
		util_err_set(err, errlen,
		    "role manufacturer needs "
		    "--manufacturer-id");
		return CA_ERR_INVALID;
	}
	if (!is_mfr && a->manufacturer_id != NULL &&
	    a->manufacturer_id[0] != '\0') {
		util_err_set(err, errlen,
		    "--manufacturer-id is only for role "
		    "manufacturer");
		return CA_ERR_INVALID;
	}
	return CA_OK;
}

/* A renewal: the existing principal, active, into *a (role and
 * manufacturer from the registry); its earlier certificates revoked when
 * asked. Inside the transaction; *revoked gets how many. */
static int renew_prepare(reg_t *reg, ca_principal_attrs_t *a,
    reg_principal_t *p, int *revoked, char *serials, size_t serialslen,
    char *err, size_t errlen)
{
	int rc;

	*revoked = 0;
	if ((rc = ca_from_reg(
	         reg_principal_get(reg, p, a->name, err, errlen))) != CA_OK) {
		if (rc == CA_ERR_NOT_FOUND)
			util_err_set(err, errlen, "unknown principal %s",
			    a->name);
		return rc;
	}
	if (strcmp(p->status, "active") != 0) {
		util_err_set(err, errlen, "principal %s is disabled", a->name);
		return CA_ERR_STATE;
	}
	/* Self-renewal: the certificate that authenticated the request must
	 * still be this principal's and valid now, inside the transaction
	 * that issues (it may have been revoked while the request arrived). */
	if (a->presented_sha256 != NULL) {
		reg_principal_t by;
		int r = ca_from_reg(reg_principal_find_by_cert(reg, &by,
		    a->presented_sha256, err, errlen));

		if (r == CA_ERR_NOT_FOUND ||
		    (r == CA_OK && (by.id != p->id || by.cert_revoked))) {
			util_err_set(err, errlen,
			    "the certificate this request "
			    "came with is revoked");
			return CA_ERR_DENIED;
		}
		if (r != CA_OK)
			return r;
	}
	a->role = p->role;
	a->manufacturer_id =
	    p->manufacturer_id[0] != '\0' ? p->manufacturer_id : NULL;
	if (a->revoke_previous)
		return ca_from_reg(
		    reg_principal_certs_revoke(reg, a->name, 4 /* superseded */,
		        reg_now(), revoked, serials, serialslen, err, errlen));
	return CA_OK;
}

/* CA_OK unless the key (SPKI SHA-256 hex) is already certified for a
 * device (revoked or not) or for another principal: a CSR replayed from
 * one of them must not bind its key to this principal too
 * (CA_ERR_KEY_IN_USE). Inside the transaction. */
static int key_unshared(reg_t *reg, const char *spki, const char *name,
    char *err, size_t errlen)
{
	char holder[REG_DEVICE_ID_MAX + REG_NAME_MAX + 2];
	int is_device = 0;
	int rc = ca_from_reg(reg_key_other_holder(reg, holder, sizeof(holder),
	    &is_device, spki, name, err, errlen));

	if (rc == CA_ERR_NOT_FOUND)
		return CA_OK;
	if (rc != CA_OK)
		return rc;
	if (is_device)
		util_err_set(err, errlen,
		    "this public key is already certified "
		    "for device %s; a principal needs a key of its own",
		    holder);
	else if (holder[0] != '\0')
		util_err_set(err, errlen,
		    "this public key is already certified "
		    "for principal %s; a principal needs a key of its own",
		    holder);
	else
		util_err_set(err, errlen,
		    "this public key is already certified "
		    "by the CA; a principal needs a key of its own");
	return CA_ERR_KEY_IN_USE;
}

/* A self-renewal may leave the principal at most principal_max_valid_certs
 * valid certificates, counting the one it issues (CA_ERR_STATE otherwise):
 * a stolen certificate must not mint an unbounded set of others. Inside
 * the transaction, after renew_prepare's revocations. */
static int renew_cap(const ca_t *ca, reg_t *reg, const char *name, int64_t now,
    char *err, size_t errlen)
{
	int64_t n = 0;
	int rc = ca_from_reg(
	    reg_principal_valid_certs(reg, &n, name, now, err, errlen));

	if (rc != CA_OK)
		return rc;
	if (n >= (int64_t)ca->cfg.principal_max_valid_certs) {
		util_err_set(err, errlen,
		    "principal %s already holds %lld valid "
		    "certificates (principal_max_valid_certs %d): renew with "
		    "revoke_previous, or ask an administrator to revoke one",
		    name, (long long)n, ca->cfg.principal_max_valid_certs);
		return CA_ERR_STATE;
	}
	return CA_OK;
}

/* A renewal's previous record (ra's role and manufacturer point into it)
 * and what it revoked, for its audit row; lives as long as certify. */
struct renew_note {
	reg_principal_t prev;
	char revoked_s[16], revoked_serials[512];
};

/* Check pk is the principal's own and register the principal, or prepare
 * its renewal (ra completed from the registry, previous certificates
 * revoked when asked, the self-renewal cap); inside the transaction. */
static int certify_register(ca_t *ca, reg_t *reg, ca_principal_attrs_t *ra,
    const char *spki, int64_t now, struct renew_note *rn, char *err,
    size_t errlen)
{
	reg_manufacturer_t m;
	int revoked = 0, rc;

	if ((rc = key_unshared(reg, spki, ra->name, err, errlen)) != CA_OK)
		return rc;
	if (ra->renew) {
		if ((rc = renew_prepare(reg, ra, &rn->prev, &revoked,
		         rn->revoked_serials, sizeof(rn->revoked_serials), err,
		         errlen)) != CA_OK)
			return rc;
		snprintf(rn->revoked_s, sizeof(rn->revoked_s), "%d", revoked);
		if (ra->presented_sha256 != NULL)
			return renew_cap(ca, reg, ra->name, now, err, errlen);
		return CA_OK;
	}
	if (strcmp(ra->role, REG_ROLE_MANUFACTURER) == 0 &&
	    (rc = ca_from_reg(reg_manufacturer_get(reg, &m, ra->manufacturer_id,
	         err, errlen))) != CA_OK) {
		if (rc == CA_ERR_NOT_FOUND)
			util_err_set(err, errlen, "unknown manufacturer %s",
			    ra->manufacturer_id);
		return rc;
	}
	if ((rc = ca_from_reg(reg_principal_insert(reg, ra->name, ra->role,
	         ra->manufacturer_id, err, errlen))) != CA_OK) {
		if (rc == CA_ERR_CONFLICT)
			util_err_set(err, errlen, "principal %s already exists",
			    ra->name);
		return rc;
	}
	return CA_OK;
}

/* The principal's certificate from the Infrastructure CA: O, OU = role,
 * CN = name; clientAuth, or the signer EKU; the Infrastructure CRL. */
static int certify_make(const ca_t *ca, const struct ca_dca *ica, X509 **out,
    char serial[41], const ca_principal_attrs_t *a, EVP_PKEY *pk, int64_t now,
    char *err, size_t errlen)
{
	X509_NAME *n = NULL;
	char crl_dp[400];
	ca_cert_spec_t sp;
	int rc;

	if ((n = X509_NAME_new()) == NULL ||
	    X509_NAME_add_entry_by_NID(n, NID_organizationName, MBSTRING_UTF8,
	        (const unsigned char *)ca->cfg.org, -1, -1, 0) != 1 ||
	    X509_NAME_add_entry_by_NID(n, NID_organizationalUnitName,
	        MBSTRING_UTF8, (const unsigned char *)a->role, -1, -1,
	        0) != 1 ||
	    X509_NAME_add_entry_by_NID(n, NID_commonName, MBSTRING_UTF8,
	        (const unsigned char *)a->name, -1, -1, 0) != 1) {
		util_err_openssl(err, errlen, "principal subject");
		X509_NAME_free(n);
		return CA_ERR_INTERNAL;
	}
	memset(&sp, 0, sizeof(sp));
	sp.subject = n;
	sp.pubkey = pk;
	sp.issuer = ica->cert;
	sp.issuer_key = ica->key;
	sp.not_before = now - 60;
	sp.not_after = now +
	    (int64_t)ca->cfg.principal_validity_days * UTIL_SECONDS_PER_DAY;
	sp.basic_constraints = "critical,CA:FALSE";
	sp.key_usage = "critical,digitalSignature";
	sp.ext_key_usage = strcmp(a->role, REG_ROLE_SIGNER) == 0 ?
	    PROVCA_OID_EKU_SIGNER :
	    "clientAuth";
	snprintf(crl_dp, sizeof(crl_dp), "URI:%s%s", ca_revocation_base_url(ca),
	    ica->crl_path);
	sp.crl_dp = crl_dp;
	rc = ca_x509_make(out, serial, &sp, err, errlen);
	X509_NAME_free(n);
	return rc;
}

/* Record the principal's certificate in the registry; its SHA-256 hex
 * into sha. */
static int certify_record(reg_t *reg, X509 *cert, int64_t ca_id,
    const char *serial, const char *spki, const char *key_type,
    const char *name, char sha[65], char *err, size_t errlen)
{
	reg_cert_new_t cn;
	uint8_t *der = NULL;
	size_t der_len = 0;
	int rc;

	if (ca_cert_to_der(&der, &der_len, cert) != CA_OK) {
		util_err_openssl(err, errlen, "encode certificate");
		return CA_ERR_INTERNAL;
	}
	ca_sha256_hex(sha, der, der_len);
	memset(&cn, 0, sizeof(cn));
	cn.issuer = REG_ISSUER_INFRA;
	cn.serial_hex = serial;
	cn.der = der;
	cn.der_len = der_len;
	cn.sha256_hex = sha;
	cn.spki_sha256_hex = spki;
	cn.key_type = key_type;
	cn.not_before = ca_asn1_time(X509_get0_notBefore(cert));
	cn.not_after = ca_asn1_time(X509_get0_notAfter(cert));
	cn.principal = name;
	cn.ca_id = ca_id;
	rc = ca_from_reg(reg_cert_insert(reg, NULL, &cn, err, errlen));
	OPENSSL_free(der);
	return rc;
}

/* Register the principal (or renew it) and certify pk by Infrastructure
 * CA ica; inside a transaction. */
static int certify(ca_t *ca, reg_t *reg, const struct ca_dca *ica, X509 **out,
    const ca_principal_attrs_t *attrs, EVP_PKEY *pk, const char *actor,
    char *err, size_t errlen)
{
	ca_principal_attrs_t ra = *attrs;
	const ca_principal_attrs_t *a = &ra;
	struct renew_note rn;
	char serial[41], sha[65], spki[65], key_type[16];
	X509 *cert = NULL;
	int64_t now = reg_now();
	int rc;

	*out = NULL;
	memset(&rn, 0, sizeof(rn));
	rn.revoked_s[0] = '0';
	if ((rc = ca_key_type(key_type, pk, err, errlen)) != CA_OK)
		return rc;
	if (ca_spki_sha256_hex(spki, pk) != CA_OK) {
		util_err_openssl(err, errlen, "public key");
		return CA_ERR_INTERNAL;
	}
	if ((rc = certify_register(ca, reg, &ra, spki, now, &rn, err,
	         errlen)) != CA_OK)
		return rc;
	if ((rc = certify_make(ca, ica, &cert, serial, a, pk, now, err,
	         errlen)) != CA_OK ||
	    (rc = certify_record(reg, cert, ica->id, serial, spki, key_type,
	         a->name, sha, err, errlen)) != CA_OK)
		goto out;
	if (attrs->renew)
		rc = ca_audit(reg, actor, "principal.renew", a->name, err,
		    errlen, "role", a->role, "cert_serial", serial,
		    "cert_sha256", sha, "revoked_previous", rn.revoked_s,
		    "revoked_serials", rn.revoked_serials, (const char *)NULL);
	else
		rc = ca_audit(reg, actor, "principal.add", a->name, err, errlen,
		    "role", a->role, "manufacturer_id",
		    a->manufacturer_id != NULL ? a->manufacturer_id : "",
		    "cert_serial", serial, "cert_sha256", sha,
		    (const char *)NULL);
	if (rc != CA_OK)
		goto out;
	*out = cert;
	cert = NULL;
out:
	X509_free(cert);
	return rc;
}

/* Common tail: transaction around certify by the issuing Infrastructure
 * CA of the current CA set (*ica_out), PEMs into out. */
static int add_common(ca_t *ca, reg_t *reg, ca_principal_creds_t *out,
    X509 **cert_out, const struct ca_dca **ica_out,
    const ca_principal_attrs_t *a, EVP_PKEY *pk, const char *actor, char *err,
    size_t errlen)
{
	const struct ca_set *set;
	const struct ca_dca *ica;
	X509 *cert = NULL;
	int rc;

	if ((set = ca_set_get(ca, reg, err, errlen)) == NULL)
		return CA_ERR_INTERNAL;
	ica = ca_set_infra(set);
	if ((rc = ca_from_reg(reg_begin(reg, err, errlen))) != CA_OK)
		return rc;
	if ((rc = certify(ca, reg, ica, &cert, a, pk, actor, err, errlen)) !=
	    CA_OK)
		goto fail;
	if ((out->cert_pem = ca_cert_to_pem(cert)) == NULL ||
	    (out->chain_pem = strdup(ica->chain_pem)) == NULL) {
		util_err_set(err, errlen, "out of memory");
		rc = CA_ERR_INTERNAL;
		goto fail;
	}
	if ((rc = ca_from_reg(reg_commit(reg, err, errlen))) != CA_OK)
		goto fail;
	*cert_out = cert;
	if (ica_out != NULL)
		*ica_out = ica;
	return CA_OK;
fail:
	reg_rollback(reg);
	X509_free(cert);
	ca_principal_creds_clear(out);
	return rc;
}

int ca_principal_add_csr(ca_t *ca, reg_t *reg, ca_principal_creds_t *out,
    const ca_principal_attrs_t *attrs, const uint8_t *csr, size_t csr_len,
    const char *actor, char *err, size_t errlen)
{
	X509_REQ *req = NULL;
	X509 *cert = NULL;
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = attrs_check(attrs, err, errlen)) != CA_OK)
		return rc;
	if ((rc = ca_csr_parse(&req, csr, csr_len, err, errlen)) != CA_OK)
		return rc;
	rc = add_common(ca, reg, out, &cert, NULL, attrs,
	    X509_REQ_get0_pubkey(req), actor, err, errlen);
	X509_free(cert);
	X509_REQ_free(req);
	return rc;
}

int ca_principal_add_key(ca_t *ca, reg_t *reg, ca_principal_creds_t *out,
    const ca_principal_attrs_t *attrs, EVP_PKEY *pk, const char *actor,
    char *err, size_t errlen)
{
	X509 *cert = NULL;
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = attrs_check(attrs, err, errlen)) != CA_OK)
		return rc;
	rc = add_common(ca, reg, out, &cert, NULL, attrs, pk, actor, err,
	    errlen);
	X509_free(cert);
	return rc;
}

int ca_principal_add_generated(ca_t *ca, reg_t *reg, ca_principal_creds_t *out,
    const ca_principal_attrs_t *attrs, const char *p12_pass,
    const char *key_pass, const char *actor, char *err, size_t errlen)
{
	const struct ca_dca *ica = NULL;
	EVP_PKEY *pk = NULL;
	X509 *cert = NULL;
	STACK_OF(X509) *chain = NULL;
	PKCS12 *p12 = NULL;
	unsigned char *der = NULL;
	size_t klen;
	int rc, len;

	memset(out, 0, sizeof(*out));
	if ((rc = attrs_check(attrs, err, errlen)) != CA_OK)
		return rc;
	if (p12_pass == NULL || p12_pass[0] == '\0') {
		util_err_set(err, errlen, "a PKCS#12 password is required");
		return CA_ERR_INVALID;
	}
	if ((rc = ca_key_generate(&pk, "P-256", err, errlen)) != CA_OK)
		return rc;
	if ((rc = add_common(ca, reg, out, &cert, &ica, attrs, pk, actor, err,
	         errlen)) != CA_OK)
		goto out;
	/* The principal is committed; from here failures only lose the
	 * key, which the caller reports (the principal can be disabled). */
	if ((rc = ca_key_to_pem(&out->key_pem, &klen, pk, key_pass, err,
	         errlen)) != CA_OK)
		goto fail;
	if ((chain = sk_X509_new_null()) == NULL ||
	    !sk_X509_push(chain, ica->cert) || !sk_X509_push(chain, ca->root))
		goto ossl;
	if ((p12 = PKCS12_create(p12_pass, attrs->name, pk, cert, chain, 0, 0,
	         0, 0, 0)) == NULL ||
	    (len = i2d_PKCS12(p12, &der)) <= 0)
		goto ossl;
	if ((out->p12 = malloc((size_t)len)) == NULL)
		goto ossl;
	memcpy(out->p12, der, (size_t)len);
	out->p12_len = (size_t)len;
	OPENSSL_cleanse(der, (size_t)len);
	rc = CA_OK;
	goto out;
ossl:
	util_err_openssl(err, errlen, "PKCS#12");
	rc = CA_ERR_INTERNAL;
fail:
	ca_principal_creds_clear(out);
out:
	OPENSSL_free(der);
	PKCS12_free(p12);
	sk_X509_free(chain);
	X509_free(cert);
	EVP_PKEY_free(pk);
	return rc;
}

/* Open a transaction holding principal `name` in *p; nothing open on
 * error (unknown name, bad name). */
static int principal_begin(reg_t *reg, reg_principal_t *p, const char *name,
    char *err, size_t errlen)
{
	int rc;

	if (!ca_token_valid(name, REG_NAME_MAX)) {
		util_err_set(err, errlen,
		    "principal name must match "
		    "[A-Za-z0-9._-]{1,%d}",
		    REG_NAME_MAX);
		return CA_ERR_INVALID;
	}
	if ((rc = ca_from_reg(reg_begin(reg, err, errlen))) != CA_OK)
		return rc;
	if ((rc = ca_from_reg(reg_principal_get(reg, p, name, err, errlen))) !=
	    CA_OK) {
		if (rc == CA_ERR_NOT_FOUND)
			util_err_set(err, errlen, "unknown principal %s", name);
		reg_rollback(reg);
	}
	return rc;
}

int ca_principal_disable(ca_t *ca, reg_t *reg, const char *name,
    const char *actor, char *err, size_t errlen)
{
	reg_principal_t p;
	int rc;

	(void)ca;
	if ((rc = principal_begin(reg, &p, name, err, errlen)) != CA_OK)
		return rc;
	if (strcmp(p.status, "disabled") == 0) {
		util_err_set(err, errlen, "principal %s is already disabled",
		    name);
		rc = CA_ERR_STATE;
		goto fail;
	}
	if ((rc = ca_from_reg(reg_principal_set_status(reg, name, "disabled",
	         err, errlen))) != CA_OK ||
	    (rc = ca_audit(reg, actor, "principal.disable", name, err, errlen,
	         "role", p.role, (const char *)NULL)) != CA_OK ||
	    (rc = ca_from_reg(reg_commit(reg, err, errlen))) != CA_OK)
		goto fail;
	return CA_OK;
fail:
	reg_rollback(reg);
	return rc;
}

int ca_principal_revoke(ca_t *ca, reg_t *reg, const char *name, int reason,
    const char *actor, char *err, size_t errlen)
{
	reg_principal_t p;
	char serials[512];
	int rc, n = 0;

	(void)ca;
	/* A principal is withdrawn with disable; certificateHold and
	 * removeFromCRL are not revocations of their own. */
	if (!ca_reason_revocable(reason)) {
		util_err_set(err, errlen,
		    "revocation reason must be one of " CA_REVOCATION_REASONS);
		return CA_ERR_INVALID;
	}
	if ((rc = principal_begin(reg, &p, name, err, errlen)) != CA_OK)
		return rc;
	if ((rc = ca_from_reg(reg_principal_certs_revoke(reg, name, reason,
	         reg_now(), &n, serials, sizeof(serials), err, errlen))) !=
	    CA_OK)
		goto fail;
	if (n == 0) {
		util_err_set(err, errlen,
		    "certificate of principal %s is "
		    "already revoked",
		    name);
		rc = CA_ERR_STATE;
		goto fail;
	}
	if ((rc = ca_audit(reg, actor, "principal.revoke", name, err, errlen,
	         "role", p.role, "reason", ca_reason_name(reason),
	         "cert_serials", serials, (const char *)NULL)) != CA_OK ||
	    (rc = ca_from_reg(reg_commit(reg, err, errlen))) != CA_OK)
		goto fail;
	return CA_OK;
fail:
	reg_rollback(reg);
	return rc;
}

int ca_principal_authenticate(ca_t *ca, reg_t *reg, reg_principal_t *out,
    const uint8_t cert_sha256[32], char *err, size_t errlen)
{
	char hex[65];
	int rc;

	(void)ca;
	util_hex_encode(hex, cert_sha256, 32);
	if ((rc = ca_from_reg(reg_principal_find_by_cert(reg, out, hex, err,
	         errlen))) != CA_OK) {
		if (rc == CA_ERR_NOT_FOUND)
			util_err_set(err, errlen, "unknown client certificate");
		return rc;
	}
	if (strcmp(out->status, "active") != 0) {
		util_err_set(err, errlen, "principal %s is disabled",
		    out->name);
		return CA_ERR_DENIED;
	}
	if (out->cert_revoked) {
		util_err_set(err, errlen, "certificate of %s is revoked",
		    out->name);
		return CA_ERR_DENIED;
	}
	if (strcmp(out->role, REG_ROLE_SIGNER) == 0) {
		util_err_set(err, errlen,
		    "signer certificates are not client "
		    "credentials");
		return CA_ERR_DENIED;
	}
	return CA_OK;
}

int ca_manufacturer_add(ca_t *ca, reg_t *reg, const char *id, const char *name,
    const char *oui, const char *actor, char *err, size_t errlen)
{
	reg_manufacturer_t m;
	size_t i;
	int rc;

	(void)ca;
	memset(&m, 0, sizeof(m));
	if (!ca_token_valid(id, REG_MFR_ID_MAX)) {
		util_err_set(err, errlen,
		    "manufacturer id must match "
		    "[A-Za-z0-9._-]{1,%d}",
		    REG_MFR_ID_MAX);
		return CA_ERR_INVALID;
	}
	if (!ca_printable_valid(name, REG_NAME_MAX)) {
		util_err_set(err, errlen,
		    "manufacturer name must be 1..%d "
		    "printable ASCII characters",
		    REG_NAME_MAX);
		return CA_ERR_INVALID;
	}
	if (oui != NULL && oui[0] != '\0') {
		if (strlen(oui) != 6) {
			util_err_set(err, errlen, "OUI must be 6 hex digits");
			return CA_ERR_INVALID;
		}
		for (i = 0; i < 6; i++) {
			char c = oui[i];

			if (c >= 'a' && c <= 'f')
				c = (char)(c - 'a' + 'A');
			if (!((c >= '0' && c <= '9') ||
			        (c >= 'A' && c <= 'F'))) {
				util_err_set(err, errlen,
				    "OUI must be 6 hex digits");
				return CA_ERR_INVALID;
			}
			m.oui[i] = c;
		}
	}
	snprintf(m.id, sizeof(m.id), "%s", id);
	snprintf(m.name, sizeof(m.name), "%s", name);
	m.created_at = reg_now();
	if ((rc = ca_from_reg(reg_begin(reg, err, errlen))) != CA_OK)
		return rc;
	if ((rc = ca_from_reg(reg_manufacturer_insert(reg, &m, err, errlen))) !=
	    CA_OK) {
		if (rc == CA_ERR_CONFLICT)
			util_err_set(err, errlen,
			    "manufacturer %s already "
			    "exists",
			    id);
		goto fail;
	}
	if ((rc = ca_audit(reg, actor, "manufacturer.add", id, err, errlen,
	         "name", name, "oui", m.oui, (const char *)NULL)) != CA_OK ||
	    (rc = ca_from_reg(reg_commit(reg, err, errlen))) != CA_OK)
		goto fail;
	return CA_OK;
fail:
	reg_rollback(reg);
	return rc;
}

/* Add name as an RFC 3339 time, or null when t is unset. 0 or -1. */
static int json_time_add(cJSON *o, const char *name, int64_t t)
{
	char buf[40];

	if (t <= 0)
		return cJSON_AddNullToObject(o, name) != NULL ? 0 : -1;
	util_time_iso(buf, sizeof(buf), t);
	return cJSON_AddStringToObject(o, name, buf) != NULL ? 0 : -1;
}

/* The principal's JSON object (see ca.h). */
cJSON *ca_principal_json(const reg_principal_t *p)
{
	cJSON *o = cJSON_CreateObject();

	if (o == NULL || cJSON_AddStringToObject(o, "name", p->name) == NULL ||
	    cJSON_AddStringToObject(o, "role", p->role) == NULL ||
	    (p->manufacturer_id[0] != '\0' ?
	            cJSON_AddStringToObject(o, "manufacturer_id",
	                p->manufacturer_id) :
	            cJSON_AddNullToObject(o, "manufacturer_id")) == NULL ||
	    cJSON_AddStringToObject(o, "status", p->status) == NULL ||
	    cJSON_AddStringToObject(o, "certificate_sha256", p->cert_sha256) ==
	        NULL ||
	    cJSON_AddStringToObject(o, "certificate_serial",
	        p->cert_serial_hex) == NULL ||
	    cJSON_AddBoolToObject(o, "certificate_revoked", p->cert_revoked) ==
	        NULL ||
	    json_time_add(o, "not_after", p->not_after) != 0 ||
	    json_time_add(o, "created_at", p->created_at) != 0) {
		cJSON_Delete(o);
		return NULL;
	}
	return o;
}
