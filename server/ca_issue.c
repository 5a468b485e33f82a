/* ca_issue.c — device issuance: check a PKCS#10 CSR and the device
 * attributes, assign a DeviceID, build the IDevID-profile certificate and
 * commit device row + certificate + audit entry in one transaction;
 * idempotent repeats; batches in one transaction; device lookup. */
#include "ca_priv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "pki.h"
#include "util.h"

#define DEVICE_ID_RANDOM_CHARS 16

int ca_device_id_valid(const char *id)
{
	return ca_token_valid(id, REG_DEVICE_ID_MAX);
}

/* X.520 PrintableString characters (the subject serialNumber's type). */
static int printable_string_valid(const char *s, size_t max)
{
	size_t i;

	if (s == NULL || s[0] == '\0')
		return 0;
	for (i = 0; s[i] != '\0'; i++) {
		char c = s[i];

		if (i >= max)
			return 0;
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		    (c >= '0' && c <= '9') || strchr(" '()+,-./:=?", c) != NULL))
			return 0;
	}
	return 1;
}

static int attrs_check(const ca_device_attrs_t *a, char *err, size_t errlen)
{
	if (!ca_token_valid(a->manufacturer_id, REG_MFR_ID_MAX)) {
		util_err_set(err, errlen, "manufacturer id must match "
		    "[A-Za-z0-9._-]{1,%d}", REG_MFR_ID_MAX);
		return CA_ERR_INVALID;
	}
	if (!printable_string_valid(a->serial, REG_ATTR_MAX)) {
		util_err_set(err, errlen, "serial must be 1..%d characters of "
		    "A-Z a-z 0-9 space ' ( ) + , - . / : = ?", REG_ATTR_MAX);
		return CA_ERR_INVALID;
	}
	if (!ca_printable_valid(a->model, REG_ATTR_MAX)) {
		util_err_set(err, errlen, "model must be 1..%d printable ASCII "
		    "characters (no control characters)", REG_ATTR_MAX);
		return CA_ERR_INVALID;
	}
	if (a->hw_version != NULL && a->hw_version[0] != '\0' &&
	    !ca_printable_valid(a->hw_version, REG_ATTR_MAX)) {
		util_err_set(err, errlen, "hardware version must be 0..%d "
		    "printable ASCII characters (no control characters)",
		    REG_ATTR_MAX);
		return CA_ERR_INVALID;
	}
	return CA_OK;
}

/* RFC 9039 component: ALPHA / DIGIT kept, everything else %-encoded, so
 * the '-' and '.' separators stay unambiguous. */
static size_t urn_enc(char *out, size_t cap, const char *s)
{
	static const char hx[] = "0123456789ABCDEF";
	size_t n = 0;

	for (; *s != '\0' && n + 4 < cap; s++) {
		unsigned char c = (unsigned char)*s;

		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		    (c >= '0' && c <= '9')) {
			out[n++] = (char)c;
		} else {
			out[n++] = '%';
			out[n++] = hx[c >> 4];
			out[n++] = hx[c & 15];
		}
	}
	out[n] = '\0';
	return n;
}

/* The device URN: urn:dev:ops:<OUI>-<model>-<serial> when the manufacturer
 * has an IEEE OUI, else urn:dev:org:<PEN>-<manufacturer>.<serial>. */
static void device_urn(char *out, size_t cap, const ca_t *ca,
    const reg_manufacturer_t *m, const ca_device_attrs_t *a)
{
	char e1[3 * REG_ATTR_MAX + 8], e2[3 * REG_ATTR_MAX + 8];

	if (m->oui[0] != '\0') {
		urn_enc(e1, sizeof(e1), a->model);
		urn_enc(e2, sizeof(e2), a->serial);
		snprintf(out, cap, "urn:dev:ops:%s-%s-%s", m->oui, e1, e2);
	} else {
		urn_enc(e1, sizeof(e1), m->id);
		urn_enc(e2, sizeof(e2), a->serial);
		snprintf(out, cap, "urn:dev:org:%u-%s.%s",
		    (unsigned)ca->cfg.device_urn_pen, e1, e2);
	}
}

/* manufacturer id + "-" + 16 random base32 characters (80 bits). */
static int device_id_new(char out[REG_DEVICE_ID_MAX + 1], const char *mfr)
{
	static const char b32[] = "abcdefghijklmnopqrstuvwxyz234567";
	uint8_t r[DEVICE_ID_RANDOM_CHARS];
	size_t n, i;

	if (util_random(r, sizeof(r)) != 0)
		return CA_ERR_INTERNAL;
	n = (size_t)snprintf(out, REG_DEVICE_ID_MAX + 1, "%s-", mfr);
	for (i = 0; i < sizeof(r) && n < REG_DEVICE_ID_MAX; i++)
		out[n++] = b32[r[i] & 31];
	out[n] = '\0';
	return CA_OK;
}

static X509_NAME *device_subject(const char *serial, const char *org,
    const char *cn)
{
	X509_NAME *n = X509_NAME_new();

	if (n == NULL)
		return NULL;
	if (X509_NAME_add_entry_by_NID(n, NID_serialNumber, MBSTRING_ASC,
	    (const unsigned char *)serial, -1, -1, 0) != 1 ||
	    X509_NAME_add_entry_by_NID(n, NID_organizationName, MBSTRING_UTF8,
	    (const unsigned char *)org, -1, -1, 0) != 1 ||
	    X509_NAME_add_entry_by_NID(n, NID_commonName, MBSTRING_UTF8,
	    (const unsigned char *)cn, -1, -1, 0) != 1) {
		X509_NAME_free(n);
		return NULL;
	}
	return n;
}

void ca_issue_result_clear(ca_issue_result_t *r)
{
	if (r == NULL)
		return;
	free(r->cert_url);
	free(r->cert_pem);
	free(r->chain_pem);
	memset(r, 0, sizeof(*r));
}

/* Fill out from a stored certificate. */
static int result_fill(const ca_t *ca, ca_issue_result_t *out,
    const char *device_id, const uint8_t *der, size_t der_len, int created,
    char *err, size_t errlen)
{
	X509 *c = NULL;
	size_t n;

	memset(out, 0, sizeof(*out));
	snprintf(out->device_id, sizeof(out->device_id), "%s", device_id);
	out->created = created;
	n = strlen(ca->cfg.public_base_url) + strlen(CA_URL_PATH_DEVICES) +
	    strlen(device_id) + 1;
	if ((out->cert_url = malloc(n)) == NULL)
		goto nomem;
	snprintf(out->cert_url, n, "%s%s%s", ca->cfg.public_base_url,
	    CA_URL_PATH_DEVICES, device_id);
	if (pki_cert_load(&c, der, der_len, err, errlen) != PKI_OK)
		goto nomem;
	if ((out->cert_pem = ca_cert_to_pem(c)) == NULL ||
	    (out->chain_pem = strdup(ca->device_chain_pem)) == NULL)
		goto nomem;
	X509_free(c);
	return CA_OK;
nomem:
	X509_free(c);
	ca_issue_result_clear(out);
	util_err_set(err, errlen, "out of memory");
	return CA_ERR_INTERNAL;
}

/* Build and store a new device; called inside a transaction. */
static int issue_new(ca_t *ca, reg_t *reg, ca_issue_result_t *out,
    X509_REQ *req, EVP_PKEY *pk, const char *key_type, const char *spki,
    const ca_device_attrs_t *a, const reg_manufacturer_t *m,
    const char *actor, char *err, size_t errlen)
{
	char id[REG_DEVICE_ID_MAX + 1], serial[41], urn[512], san[560];
	char crl[400], aia[800], sha[65];
	X509_NAME *subj = NULL;
	X509 *cert = NULL;
	uint8_t *der = NULL;
	size_t der_len = 0;
	ca_cert_spec_t sp;
	reg_device_new_t dn;
	reg_cert_new_t cn;
	reg_device_t probe;
	int rc, tries;
	int64_t now = reg_now();

	(void)req;
	for (tries = 0;; tries++) {
		if ((rc = device_id_new(id, a->manufacturer_id)) != CA_OK) {
			util_err_set(err, errlen, "random DeviceID failed");
			return rc;
		}
		rc = reg_device_get(reg, &probe, id, NULL, 0);
		reg_device_clear(&probe);
		if (rc == REG_ERR_NOT_FOUND)
			break;
		if (rc != REG_OK || tries == 3) {
			util_err_set(err, errlen, "cannot allocate a DeviceID");
			return CA_ERR_INTERNAL;
		}
	}
	device_urn(urn, sizeof(urn), ca, m, a);
	snprintf(san, sizeof(san), "URI:%s", urn);
	snprintf(crl, sizeof(crl), "URI:%s%s", ca->cfg.public_base_url,
	    CA_URL_PATH_CRL);
	snprintf(aia, sizeof(aia), "OCSP;URI:%s%s,caIssuers;URI:%s%s",
	    ca->cfg.public_base_url, CA_URL_PATH_OCSP, ca->cfg.public_base_url,
	    CA_URL_PATH_DEVICE_CA);
	if ((subj = device_subject(a->serial, m->name, id)) == NULL) {
		util_err_openssl(err, errlen, "device subject");
		rc = CA_ERR_INVALID;
		goto out;
	}
	memset(&sp, 0, sizeof(sp));
	sp.subject = subj;
	sp.pubkey = pk;
	sp.issuer = ca->device;
	sp.issuer_key = ca->device_key;
	sp.not_before = now - 60;
	sp.not_after = ca->cfg.device_validity_days > 0 ?
	    now + (int64_t)ca->cfg.device_validity_days * 86400 : 0;
	sp.basic_constraints = "critical,CA:FALSE";
	sp.key_usage = EVP_PKEY_is_a(pk, "RSA") ?
	    "critical,digitalSignature,keyEncipherment" :
	    "critical,digitalSignature,keyAgreement";
	sp.ext_key_usage = PROVCA_OID_EKU_DEVICE;
	sp.subject_alt_name = san;
	sp.crl_dp = crl;
	sp.aia = aia;
	if ((rc = ca_x509_make(&cert, serial, &sp, err, errlen)) != CA_OK)
		goto out;
	if (ca_cert_to_der(&der, &der_len, cert) != CA_OK) {
		util_err_openssl(err, errlen, "encode certificate");
		rc = CA_ERR_INTERNAL;
		goto out;
	}
	ca_sha256_hex(sha, der, der_len);
	dn.device_id = id;
	dn.manufacturer_id = a->manufacturer_id;
	dn.serial = a->serial;
	dn.model = a->model;
	dn.hw_version = a->hw_version != NULL ? a->hw_version : "";
	if ((rc = ca_from_reg(reg_device_insert(reg, &dn, err, errlen))) !=
	    CA_OK)
		goto out;
	memset(&cn, 0, sizeof(cn));
	cn.issuer = REG_ISSUER_DEVICE;
	cn.serial_hex = serial;
	cn.der = der;
	cn.der_len = der_len;
	cn.sha256_hex = sha;
	cn.spki_sha256_hex = spki;
	cn.key_type = key_type;
	cn.not_before = ca_asn1_time(X509_get0_notBefore(cert));
	cn.not_after = ca_asn1_time(X509_get0_notAfter(cert));
	cn.device_id = id;
	if ((rc = ca_from_reg(reg_cert_insert(reg, NULL, &cn, err, errlen))) !=
	    CA_OK)
		goto out;
	if ((rc = ca_audit(reg, actor, "device.issue", id, err, errlen,
	    "manufacturer_id", a->manufacturer_id, "serial", a->serial,
	    "model", a->model, "cert_serial", serial, "key_type", key_type,
	    (const char *)NULL)) != CA_OK)
		goto out;
	rc = result_fill(ca, out, id, der, der_len, 1, err, errlen);
out:
	OPENSSL_free(der);
	X509_free(cert);
	X509_NAME_free(subj);
	return rc;
}

int ca_device_issue(ca_t *ca, reg_t *reg, ca_issue_result_t *out,
    const uint8_t *csr, size_t csr_len, const ca_device_attrs_t *attrs,
    const char *actor, char *err, size_t errlen)
{
	X509_REQ *req = NULL;
	EVP_PKEY *pk;
	reg_manufacturer_t m;
	reg_device_t live;
	char key_type[16], spki[65];
	int rc, in_tx = 0;

	memset(out, 0, sizeof(*out));
	memset(&live, 0, sizeof(live));
	if ((rc = attrs_check(attrs, err, errlen)) != CA_OK)
		return rc;
	if ((rc = ca_csr_parse(&req, csr, csr_len, err, errlen)) != CA_OK)
		return rc;
	pk = X509_REQ_get0_pubkey(req);
	if ((rc = ca_key_type(key_type, pk, err, errlen)) != CA_OK)
		goto out;
	if (ca_spki_sha256_hex(spki, pk) != CA_OK) {
		util_err_openssl(err, errlen, "public key");
		rc = CA_ERR_INTERNAL;
		goto out;
	}
	if ((rc = ca_from_reg(reg_begin(reg, err, errlen))) != CA_OK)
		goto out;
	in_tx = 1;
	if ((rc = ca_from_reg(reg_manufacturer_get(reg, &m,
	    attrs->manufacturer_id, err, errlen))) != CA_OK) {
		if (rc == CA_ERR_NOT_FOUND)
			util_err_set(err, errlen, "unknown manufacturer %s",
			    attrs->manufacturer_id);
		goto out;
	}
	rc = reg_device_find_live(reg, &live, attrs->manufacturer_id,
	    attrs->serial, err, errlen);
	if (rc == REG_OK) {
		/* Same key: the earlier answer again. Another key: conflict
		 * until the first certificate is revoked. */
		if (CRYPTO_memcmp(live.spki_sha256, spki, 64) != 0) {
			util_err_set(err, errlen, "serial %s of %s is already "
			    "enrolled with another key (device %s)",
			    attrs->serial, attrs->manufacturer_id,
			    live.device_id);
			rc = CA_ERR_CONFLICT;
			goto out;
		}
		rc = result_fill(ca, out, live.device_id, live.cert_der,
		    live.cert_der_len, 0, err, errlen);
		if (rc != CA_OK)
			goto out;
	} else if (rc == REG_ERR_NOT_FOUND) {
		if ((rc = issue_new(ca, reg, out, req, pk, key_type, spki,
		    attrs, &m, actor, err, errlen)) != CA_OK)
			goto out;
	} else {
		rc = ca_from_reg(rc);
		goto out;
	}
	if ((rc = ca_from_reg(reg_commit(reg, err, errlen))) != CA_OK)
		goto out;
	in_tx = 0;
	rc = CA_OK;
out:
	if (in_tx) {
		reg_rollback(reg);
		ca_issue_result_clear(out);
	}
	reg_device_clear(&live);
	X509_REQ_free(req);
	return rc;
}

int ca_device_issue_batch(ca_t *ca, reg_t *reg, ca_issue_item_t *items,
    size_t n, int all_or_nothing, const char *actor, char *err,
    size_t errlen)
{
	size_t i;
	int rc;

	if ((rc = ca_from_reg(reg_begin(reg, err, errlen))) != CA_OK)
		return rc;
	for (i = 0; i < n; i++) {
		ca_issue_item_t *it = &items[i];

		it->err[0] = '\0';
		it->rc = ca_device_issue(ca, reg, &it->result, it->csr,
		    it->csr_len, &it->attrs, actor, it->err, sizeof(it->err));
		if (it->rc != CA_OK && all_or_nothing) {
			util_err_set(err, errlen, "item %zu: %s", i, it->err);
			rc = it->rc;
			goto fail;
		}
	}
	if ((rc = ca_from_reg(reg_commit(reg, err, errlen))) != CA_OK)
		goto fail;
	return CA_OK;
fail:
	reg_rollback(reg);
	for (i = 0; i < n; i++) {
		ca_issue_result_clear(&items[i].result);
		if (items[i].rc == CA_OK)
			items[i].rc = rc;
	}
	return rc;
}

void ca_device_clear(ca_device_t *d)
{
	if (d == NULL)
		return;
	reg_device_clear(&d->rec);
	free(d->cert_pem);
	free(d->chain_pem);
	memset(d, 0, sizeof(*d));
}

int ca_device_get(ca_t *ca, reg_t *reg, ca_device_t *out,
    const char *device_id, char *err, size_t errlen)
{
	ca_issue_result_t r;
	int rc;

	memset(out, 0, sizeof(*out));
	if (!ca_device_id_valid(device_id)) {
		util_err_set(err, errlen, "DeviceID must match "
		    "[A-Za-z0-9._-]{1,64}");
		return CA_ERR_INVALID;
	}
	if ((rc = ca_from_reg(reg_device_get(reg, &out->rec, device_id, err,
	    errlen))) != CA_OK) {
		if (rc == CA_ERR_NOT_FOUND)
			util_err_set(err, errlen, "unknown device %s",
			    device_id);
		return rc;
	}
	if ((rc = result_fill(ca, &r, device_id, out->rec.cert_der,
	    out->rec.cert_der_len, 0, err, errlen)) != CA_OK) {
		ca_device_clear(out);
		return rc;
	}
	out->cert_pem = r.cert_pem;
	out->chain_pem = r.chain_pem;
	snprintf(out->cert_url, sizeof(out->cert_url), "%s", r.cert_url);
	free(r.cert_url);
	return CA_OK;
}
