/* ca_cas.c — the CA set seen from outside the engine (each Device CA's
 * certificate and chain, from the current set: ca_set.c) and the
 * rollover's steps: add a CA certified by the Root, make it issuing,
 * retire an old one. Each step is one transaction with its audit row; a
 * running serve picks the change up at its next request (ca_set_get). */
#include "ca_priv.h"
#include "ca_cas.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "pki.h"
#include "pki_keys.h"
#include "reg_cas.h"
#include "util.h"

int ca_device_ca_get(const ca_t *ca, int64_t id, ca_device_ca_t *out)
{
	const struct ca_dca *d = ca_set_dca(ca_set_peek(ca), id);

	memset(out, 0, sizeof(*out));
	if (d == NULL)
		return CA_ERR_NOT_FOUND;
	out->id = d->id;
	out->state = d->state;
	out->der = d->der;
	out->der_len = d->der_len;
	out->pem = d->pem;
	out->chain_pem = d->chain_pem;
	return CA_OK;
}

const char *ca_device_chain_pem(const ca_t *ca, int64_t id)
{
	return ca_chain_pem_of(ca, id);
}

const char *ca_issuing_chain_pem(const ca_t *ca)
{
	return ca_set_issuing(ca_set_peek(ca))->chain_pem;
}

/* ---- rollover steps ------------------------------------------------- */

/* cert may join the CA set: certified by the Root, a CA that signs
 * certificates and CRLs, valid now. */
static int cert_check(const ca_t *ca, X509 *cert, char *err, size_t errlen)
{
	uint32_t ku = X509_get_key_usage(cert);

	if (X509_check_issued(ca->root, cert) != X509_V_OK ||
	    X509_verify(cert, X509_get0_pubkey(ca->root)) != 1) {
		ERR_clear_error();
		util_err_set(err, errlen,
		    "the certificate is not certified "
		    "by this data folder's Root (ca-server root "
		    "certify-intermediate)");
		return CA_ERR_INVALID;
	}
	if (X509_check_ca(cert) < 1 || (ku & KU_KEY_CERT_SIGN) == 0 ||
	    (ku & KU_CRL_SIGN) == 0) {
		util_err_set(err, errlen,
		    "the certificate is not a CA "
		    "certificate with keyCertSign and cRLSign");
		return CA_ERR_INVALID;
	}
	if (X509_cmp_current_time(X509_get0_notBefore(cert)) >= 0 ||
	    X509_cmp_current_time(X509_get0_notAfter(cert)) <= 0) {
		util_err_set(err, errlen, "the certificate is not valid now");
		return CA_ERR_INVALID;
	}
	return CA_OK;
}

/* The key of cert named by key_ref: a token URI is kept as is; a file is
 * checked, then copied into DIR as name (device-ca-<hash>.key, 0600,
 * exclusive; *copied set). */
static int key_take(ca_t *ca, X509 *cert, const char *key_ref, const char *name,
    int *copied, char *err, size_t errlen)
{
	EVP_PKEY *k = NULL;
	char *buf = NULL, path[PATH_MAX];
	size_t len = 0;
	int rc;

	*copied = 0;
	if (pki_key_ref_is_pkcs11(key_ref)) {
		rc = ca_key_load(&k, ca, key_ref, cert, err, errlen);
		EVP_PKEY_free(k);
		return rc;
	}
	if (ca->key_pass[0] != '\0' &&
	    pki_key_custody(key_ref, NULL) == PKI_CUSTODY_FILE_PLAIN) {
		util_err_set(err, errlen,
		    "%s is not encrypted: this data "
		    "folder's keys are (encrypt it with the same passphrase)",
		    key_ref);
		return CA_ERR_INVALID;
	}
	if ((rc = ca_key_load(&k, ca, key_ref, cert, err, errlen)) != CA_OK)
		return rc;
	EVP_PKEY_free(k);
	if ((rc = ca_file_read(&buf, &len, key_ref, 64 * 1024, err, errlen)) !=
	    CA_OK)
		return rc;
	if (snprintf(path, sizeof(path), "%s/%s", ca->data_dir, name) >=
	    (int)sizeof(path)) {
		util_err_set(err, errlen, "data folder path too long");
		rc = CA_ERR_INVALID;
	} else if ((rc = ca_file_write(path, buf, len, 0600, err, errlen)) ==
	    CA_OK) {
		*copied = 1;
	}
	OPENSSL_cleanse(buf, len);
	free(buf);
	return rc;
}

/* Insert the CA row and its audit entry in one transaction. */
static int ca_row_add(reg_t *reg, int64_t *id_out, const reg_ca_new_t *nc,
    const char *actor, const char *custody, char *err, size_t errlen)
{
	char idbuf[24];
	int rc;

	if ((rc = ca_from_reg(reg_begin(reg, err, errlen))) != CA_OK)
		return rc;
	if ((rc = ca_from_reg(reg_ca_insert(reg, id_out, nc, err, errlen))) ==
	    CA_OK) {
		snprintf(idbuf, sizeof(idbuf), "%lld", (long long)*id_out);
		rc = ca_audit(reg, actor, "ca.add", idbuf, err, errlen, "role",
		    nc->role, "subject", nc->subject, "certificate_sha256",
		    nc->cert_sha256, "key_custody", custody, NULL);
	}
	if (rc == CA_OK)
		rc = ca_from_reg(reg_commit(reg, err, errlen));
	if (rc != CA_OK)
		reg_rollback(reg);
	if (rc == CA_ERR_CONFLICT)
		util_err_set(err, errlen,
		    "this certificate is already in the "
		    "CA set");
	return rc;
}

int ca_ca_add(ca_t *ca, reg_t *reg, int64_t *id_out, const char *role,
    const char *cert_path, const char *key_ref, const char *actor, char *err,
    size_t errlen)
{
	int infra = role != NULL && strcmp(role, REG_CA_ROLE_INFRA) == 0;
	X509 *cert = NULL;
	uint8_t *der = NULL;
	size_t len = 0;
	char sha[65], subject[REG_CA_SUBJECT_MAX + 1], name[64], path[PATH_MAX];
	const struct ca_set *set;
	reg_ca_new_t nc;
	size_t i;
	int rc, copied = 0;

	*id_out = 0;
	if (!infra && role != NULL && strcmp(role, REG_CA_ROLE_DEVICE) != 0) {
		util_err_set(err, errlen, "the kind is device or infra");
		return CA_ERR_INVALID;
	}
	if ((set = ca_set_get(ca, reg, err, errlen)) == NULL)
		return CA_ERR_INTERNAL;
	if (pki_cert_load_file(&cert, cert_path, err, errlen) != PKI_OK)
		return CA_ERR_INVALID;
	if ((rc = cert_check(ca, cert, err, errlen)) != CA_OK)
		goto out;
	for (i = 0; i < set->n_dcas + set->n_icas; i++) {
		const struct ca_dca *d = i < set->n_dcas ?
		    &set->dcas[i] :
		    &set->icas[i - set->n_dcas];

		if (X509_cmp(d->cert, cert) == 0) {
			util_err_set(err, errlen,
			    "this certificate is already "
			    "in the CA set (id %lld)",
			    (long long)d->id);
			rc = CA_ERR_CONFLICT;
			goto out;
		}
	}
	if ((rc = ca_cert_to_der(&der, &len, cert)) != CA_OK) {
		util_err_openssl(err, errlen, "certificate");
		goto out;
	}
	ca_sha256_hex(sha, der, len);
	snprintf(name, sizeof(name), "%s-ca-%.16s.key",
	    infra ? "infra" : "device", sha);
	if ((rc = key_take(ca, cert, key_ref, name, &copied, err, errlen)) !=
	    CA_OK)
		goto out;
	ca_subject_line(subject, sizeof(subject), cert);
	memset(&nc, 0, sizeof(nc));
	nc.role = infra ? REG_CA_ROLE_INFRA : REG_CA_ROLE_DEVICE;
	nc.state = REG_CA_ACTIVE;
	nc.der = der;
	nc.der_len = len;
	nc.cert_sha256 = sha;
	nc.subject = subject;
	nc.key_ref = copied ? name : key_ref;
	rc = ca_row_add(reg, id_out, &nc, actor,
	    pki_custody_name(pki_key_custody(nc.key_ref, ca->data_dir)), err,
	    errlen);
out:
	/* Failures leave the folder as it was. */
	if (rc != CA_OK && copied &&
	    snprintf(path, sizeof(path), "%s/%s", ca->data_dir, name) <
	        (int)sizeof(path))
		unlink(path);
	OPENSSL_free(der);
	X509_free(cert);
	return rc;
}

/* Activate (retire 0) or retire CA id with its audit row in one
 * transaction; a retirement also signs the CA's final CRL. */
/* An Infrastructure CA retires only once every principal certificate it
 * signed is revoked or expired: those principals keep working until then,
 * and its CRL must still be able to list them. */
static int infra_retire_check(reg_t *reg, int64_t id, char *err, size_t errlen)
{
	int64_t live = 0;
	int rc;

	if ((rc = ca_from_reg(
	         reg_ca_live_certs(reg, &live, id, err, errlen))) != CA_OK)
		return rc;
	if (live > 0) {
		util_err_set(err, errlen,
		    "Infrastructure CA %lld still has %lld "
		    "valid principal certificate%s (renew or revoke them, or "
		    "wait until they expire)",
		    (long long)id, (long long)live, live == 1 ? "" : "s");
		return CA_ERR_STATE;
	}
	return CA_OK;
}

static int ca_step(ca_t *ca, reg_t *reg, int64_t id, const char *actor,
    const char *action, int retire, char *err, size_t errlen)
{
	const struct ca_set *set = ca_set_get(ca, reg, err, errlen);
	const struct ca_dca *d = NULL;
	const char *role = REG_CA_ROLE_DEVICE, *kind = "Device CA";
	char idbuf[24];
	int rc, infra = 0;

	if (set == NULL)
		return CA_ERR_INTERNAL;
	if (id > 0 && (d = ca_set_dca(set, id)) == NULL &&
	    (d = ca_set_ica(set, id)) != NULL) {
		role = REG_CA_ROLE_INFRA;
		kind = "Infrastructure CA";
		infra = 1;
	}
	if (d == NULL) {
		util_err_set(err, errlen,
		    "no Device CA with id %lld (nor "
		    "Infrastructure CA)",
		    (long long)id);
		return CA_ERR_NOT_FOUND;
	}
	if (d->key == NULL) {
		util_err_set(err, errlen, "%s %lld is retired", kind,
		    (long long)id);
		return CA_ERR_STATE;
	}
	if ((rc = ca_from_reg(reg_begin(reg, err, errlen))) != CA_OK)
		return rc;
	rc = ca_from_reg(retire ? reg_ca_retire(reg, id, err, errlen) :
	                          reg_ca_activate(reg, id, err, errlen));
	if (rc == CA_ERR_INVALID)
		rc = CA_ERR_STATE;
	if (rc == CA_OK && retire && infra)
		rc = infra_retire_check(reg, id, err, errlen);
	/* The final CRL is forced past the state just written. */
	if (rc == CA_OK && retire)
		rc = ca_crl_dca_final(ca, reg, d,
		    ca_asn1_time(X509_get0_notAfter(d->cert)), err, errlen);
	snprintf(idbuf, sizeof(idbuf), "%lld", (long long)id);
	if (rc == CA_OK)
		rc = ca_audit(reg, actor, action, idbuf, err, errlen, "role",
		    role, "previous_state", d->state, NULL);
	if (rc == CA_OK)
		rc = ca_from_reg(reg_commit(reg, err, errlen));
	if (rc != CA_OK)
		reg_rollback(reg);
	return rc;
}

int ca_ca_activate(ca_t *ca, reg_t *reg, int64_t id, const char *actor,
    char *err, size_t errlen)
{
	return ca_step(ca, reg, id, actor, "ca.activate", 0, err, errlen);
}

int ca_ca_retire(ca_t *ca, reg_t *reg, int64_t id, const char *actor, char *err,
    size_t errlen)
{
	return ca_step(ca, reg, id, actor, "ca.retire", 1, err, errlen);
}

/* SHA-256 (hex) and DER of cert; *der OPENSSL_malloc'd. */
static int cert_sha(uint8_t **der, size_t *len, char sha[65], X509 *cert,
    char *err, size_t errlen)
{
	if (ca_cert_to_der(der, len, cert) != CA_OK) {
		util_err_openssl(err, errlen, "certificate");
		return CA_ERR_INTERNAL;
	}
	ca_sha256_hex(sha, *der, *len);
	return CA_OK;
}

int ca_ca_renewed(reg_t *reg, int64_t *id_out, X509 *old, X509 *renewed,
    char *err, size_t errlen)
{
	reg_ca_t *list = NULL;
	uint8_t *der = NULL;
	size_t n = 0, len = 0, i;
	char sha[65], subject[REG_CA_SUBJECT_MAX + 1];
	int rc;

	*id_out = 0;
	if ((rc = cert_sha(&der, &len, sha, old, err, errlen)) != CA_OK ||
	    (rc = ca_from_reg(
	         reg_ca_list(reg, &list, &n, NULL, err, errlen))) != CA_OK)
		goto out;
	for (i = 0; i < n && strcmp(list[i].cert_sha256, sha) != 0; i++)
		;
	if (i == n)
		goto out;
	*id_out = list[i].id;
	OPENSSL_free(der);
	der = NULL;
	if ((rc = cert_sha(&der, &len, sha, renewed, err, errlen)) != CA_OK)
		goto out;
	ca_subject_line(subject, sizeof(subject), renewed);
	rc = ca_from_reg(reg_ca_cert_replace(reg, list[i].id, der, len, sha,
	    subject, err, errlen));
out:
	OPENSSL_free(der);
	reg_ca_list_free(list, n);
	return rc;
}
