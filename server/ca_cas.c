/* ca_cas.c — the CA set: the Device CAs a data folder serves (registry
 * table cas), loaded at open with their keys (retired ones without), the
 * issuing one made ca->device; and the rollover's steps: add a CA certified
 * by the Root, make it issuing, retire an old one. Each step is one
 * transaction with its audit row. */
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

#define CAS_ACTOR_OPEN "ca-server"

/* A one-line subject of cert into out. */
static void subject_line(char *out, size_t outlen, X509 *cert)
{
	if (X509_NAME_oneline(X509_get_subject_name(cert), out,
	    (int)outlen) == NULL)
		snprintf(out, outlen, "?");
}

/* Record the data folder's Device CA (device-ca.crt, device_ca_key) as the
 * first CA of the set, issuing, when the registry has none yet; the device
 * certificates already stored are its. One transaction. */
static int cas_adopt_first(ca_t *ca, reg_t *reg, char *err, size_t errlen)
{
	reg_ca_t *list = NULL;
	reg_ca_new_t nc;
	uint8_t *der = NULL;
	size_t n = 0, len = 0;
	char sha[65], subject[REG_CA_SUBJECT_MAX + 1], idbuf[24];
	int64_t id = 0;
	int rc;

	if ((rc = ca_from_reg(reg_begin(reg, err, errlen))) != CA_OK)
		return rc;
	if ((rc = ca_from_reg(reg_ca_list(reg, &list, &n, REG_CA_ROLE_DEVICE,
	    err, errlen))) != CA_OK || n > 0)
		goto out;
	if ((rc = ca_cert_to_der(&der, &len, ca->device)) != CA_OK) {
		util_err_openssl(err, errlen, "Device CA certificate");
		goto out;
	}
	ca_sha256_hex(sha, der, len);
	subject_line(subject, sizeof(subject), ca->device);
	memset(&nc, 0, sizeof(nc));
	nc.role = REG_CA_ROLE_DEVICE;
	nc.state = REG_CA_ISSUING;
	nc.der = der;
	nc.der_len = len;
	nc.cert_sha256 = sha;
	nc.subject = subject;
	nc.key_ref = ca->cfg.device_ca_key;
	if ((rc = ca_from_reg(reg_ca_insert(reg, &id, &nc, err, errlen))) !=
	    CA_OK || (rc = ca_from_reg(reg_ca_adopt(reg, id, err, errlen))) !=
	    CA_OK)
		goto out;
	snprintf(idbuf, sizeof(idbuf), "%lld", (long long)id);
	rc = ca_audit(reg, CAS_ACTOR_OPEN, "ca.adopt", idbuf, err, errlen,
	    "role", REG_CA_ROLE_DEVICE, "certificate_sha256", sha, NULL);
out:
	if (rc == CA_OK)
		rc = ca_from_reg(reg_commit(reg, err, errlen));
	if (rc != CA_OK)
		reg_rollback(reg);
	OPENSSL_free(der);
	reg_ca_list_free(list, n);
	return rc;
}

/* The certificate, key and URLs of row r into d; first: the data
 * folder's own Device CA (its certificate file and key, already loaded). */
static int dca_load(ca_t *ca, struct ca_dca *d, const reg_ca_t *r,
    int first, const char *root_pem, char *err, size_t errlen)
{
	const unsigned char *p = r->der;
	unsigned int hl = 0;
	size_t lp, lr;

	d->id = r->id;
	snprintf(d->state, sizeof(d->state), "%s", r->state);
	if (first) {
		if (X509_up_ref(ca->device) != 1)
			goto ossl;
		d->cert = ca->device;
	} else if ((d->cert = d2i_X509(NULL, &p, (long)r->der_len)) == NULL) {
		goto ossl;
	}
	if (strcmp(r->state, REG_CA_RETIRED) != 0) {
		if (first) {
			if (EVP_PKEY_up_ref(ca->device_key) != 1)
				goto ossl;
			d->key = ca->device_key;
		} else {
			int rc = ca_key_load(&d->key, ca, r->key_ref, d->cert,
			    err, errlen);

			if (rc != CA_OK)
				return rc;
		}
	}
	if (ca_cert_to_der(&d->der, &d->der_len, d->cert) != CA_OK ||
	    (d->pem = ca_cert_to_pem(d->cert)) == NULL ||
	    X509_pubkey_digest(d->cert, EVP_sha1(), d->key_hash, &hl) != 1)
		goto ossl;
	lp = strlen(d->pem);
	lr = strlen(root_pem);
	if ((d->chain_pem = malloc(lp + lr + 1)) == NULL)
		goto ossl;
	memcpy(d->chain_pem, d->pem, lp);
	memcpy(d->chain_pem + lp, root_pem, lr + 1);
	if (first) {
		snprintf(d->crl_path, sizeof(d->crl_path), "%s",
		    CA_URL_PATH_CRL);
		snprintf(d->crt_path, sizeof(d->crt_path), "%s",
		    CA_URL_PATH_DEVICE_CA);
		snprintf(d->cache_key, sizeof(d->cache_key), "%s",
		    REG_ISSUER_DEVICE);
	} else {
		snprintf(d->crl_path, sizeof(d->crl_path),
		    CA_URL_PATH_DEVICE_CA_N_CRL, (long long)d->id);
		snprintf(d->crt_path, sizeof(d->crt_path),
		    CA_URL_PATH_DEVICE_CA_N_CRT, (long long)d->id);
		snprintf(d->cache_key, sizeof(d->cache_key), "device-ca-%lld",
		    (long long)d->id);
	}
	return CA_OK;
ossl:
	util_err_openssl(err, errlen, "Device CA %lld", (long long)r->id);
	return CA_ERR_INTERNAL;
}

/* Make the issuing Device CA ca->device / ca->device_key. */
static int cas_pick_issuing(ca_t *ca, char *err, size_t errlen)
{
	struct ca_dca *d;
	size_t i;

	for (i = 0; i < ca->n_dcas; i++)
		if (strcmp(ca->dcas[i].state, REG_CA_ISSUING) == 0)
			break;
	if (i == ca->n_dcas || ca->dcas[i].key == NULL) {
		util_err_set(err, errlen, "the registry names no issuing "
		    "Device CA (ca-server ca activate ID)");
		return CA_ERR_INVALID;
	}
	ca->issuing = i;
	d = &ca->dcas[i];
	if (d->cert == ca->device)
		return CA_OK;
	if (X509_up_ref(d->cert) != 1 || EVP_PKEY_up_ref(d->key) != 1) {
		util_err_openssl(err, errlen, "issuing Device CA");
		return CA_ERR_INTERNAL;
	}
	X509_free(ca->device);
	EVP_PKEY_free(ca->device_key);
	ca->device = d->cert;
	ca->device_key = d->key;
	return CA_OK;
}

int ca_cas_load(ca_t *ca, char *err, size_t errlen)
{
	reg_t *reg = NULL;
	reg_ca_t *list = NULL;
	char *root_pem;
	size_t n = 0, i;
	int rc;

	/* Every CA's chain ends with the Root. */
	if ((root_pem = ca_cert_to_pem(ca->root)) == NULL) {
		util_err_openssl(err, errlen, "Root certificate");
		return CA_ERR_INTERNAL;
	}
	if ((rc = ca_from_reg(reg_open_existing(&reg, ca->db_path, err,
	    errlen))) != CA_OK) {
		free(root_pem);
		return rc;
	}
	/* Only a registry without a CA set takes the write lock. */
	if ((rc = ca_from_reg(reg_ca_list(reg, &list, &n, REG_CA_ROLE_DEVICE,
	    err, errlen))) != CA_OK)
		goto out;
	if (n == 0 && ((rc = cas_adopt_first(ca, reg, err, errlen)) != CA_OK ||
	    (rc = ca_from_reg(reg_ca_list(reg, &list, &n, REG_CA_ROLE_DEVICE,
	    err, errlen))) != CA_OK))
		goto out;
	if (n == 0 || n > CA_DEVICE_CAS_MAX) {
		util_err_set(err, errlen, "%zu Device CAs in the registry "
		    "(1..%d served)", n, CA_DEVICE_CAS_MAX);
		rc = CA_ERR_INVALID;
		goto out;
	}
	for (i = 0; i < n; i++) {
		rc = dca_load(ca, &ca->dcas[i], &list[i], i == 0, root_pem,
		    err, errlen);
		ca->n_dcas = i + 1;
		if (rc != CA_OK)
			goto out;
	}
	rc = cas_pick_issuing(ca, err, errlen);
out:
	reg_ca_list_free(list, n);
	reg_close(reg);
	free(root_pem);
	return rc;
}

void ca_cas_free(ca_t *ca)
{
	size_t i;

	if (ca == NULL)
		return;
	for (i = 0; i < ca->n_dcas; i++) {
		struct ca_dca *d = &ca->dcas[i];

		X509_free(d->cert);
		EVP_PKEY_free(d->key);
		OPENSSL_free(d->der);
		free(d->pem);
		free(d->chain_pem);
		memset(d, 0, sizeof(*d));
	}
	ca->n_dcas = 0;
}

const struct ca_dca *ca_dca_find(const ca_t *ca, int64_t id)
{
	size_t i;

	if (id == 0)
		return ca->n_dcas > 0 ? &ca->dcas[0] : NULL;
	for (i = 0; i < ca->n_dcas; i++)
		if (ca->dcas[i].id == id)
			return &ca->dcas[i];
	return NULL;
}

int ca_device_ca_get(const ca_t *ca, int64_t id, ca_device_ca_t *out)
{
	const struct ca_dca *d = ca_dca_find(ca, id);

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
	const struct ca_dca *d = ca_dca_find(ca, id);

	return d != NULL ? d->chain_pem : ca->device_chain_pem;
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
		util_err_set(err, errlen, "the certificate is not certified "
		    "by this data folder's Root (ca-server root "
		    "certify-intermediate)");
		return CA_ERR_INVALID;
	}
	if (X509_check_ca(cert) < 1 || (ku & KU_KEY_CERT_SIGN) == 0 ||
	    (ku & KU_CRL_SIGN) == 0) {
		util_err_set(err, errlen, "the certificate is not a CA "
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
static int key_take(ca_t *ca, X509 *cert, const char *key_ref,
    const char *name, int *copied, char *err, size_t errlen)
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
	if (ca->key_pass[0] != '\0' && pki_key_custody(key_ref, NULL) ==
	    PKI_CUSTODY_FILE_PLAIN) {
		util_err_set(err, errlen, "%s is not encrypted: this data "
		    "folder's keys are (encrypt it with the same passphrase)",
		    key_ref);
		return CA_ERR_INVALID;
	}
	if ((rc = ca_key_load(&k, ca, key_ref, cert, err, errlen)) != CA_OK)
		return rc;
	EVP_PKEY_free(k);
	if ((rc = ca_file_read(&buf, &len, key_ref, 64 * 1024, err,
	    errlen)) != CA_OK)
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
		util_err_set(err, errlen, "this certificate is already in the "
		    "CA set");
	return rc;
}

int ca_ca_add(ca_t *ca, reg_t *reg, int64_t *id_out, const char *cert_path,
    const char *key_ref, const char *actor, char *err, size_t errlen)
{
	X509 *cert = NULL;
	uint8_t *der = NULL;
	size_t len = 0;
	char sha[65], subject[REG_CA_SUBJECT_MAX + 1], name[64], path[PATH_MAX];
	reg_ca_new_t nc;
	size_t i;
	int rc, copied = 0;

	*id_out = 0;
	if (pki_cert_load_file(&cert, cert_path, err, errlen) != PKI_OK)
		return CA_ERR_INVALID;
	if ((rc = cert_check(ca, cert, err, errlen)) != CA_OK)
		goto out;
	for (i = 0; i < ca->n_dcas; i++)
		if (X509_cmp(ca->dcas[i].cert, cert) == 0) {
			util_err_set(err, errlen, "this certificate is already "
			    "in the CA set (id %lld)", (long long)ca->dcas[i].id);
			rc = CA_ERR_CONFLICT;
			goto out;
		}
	if ((rc = ca_cert_to_der(&der, &len, cert)) != CA_OK) {
		util_err_openssl(err, errlen, "certificate");
		goto out;
	}
	ca_sha256_hex(sha, der, len);
	snprintf(name, sizeof(name), "device-ca-%.16s.key", sha);
	if ((rc = key_take(ca, cert, key_ref, name, &copied, err, errlen)) !=
	    CA_OK)
		goto out;
	subject_line(subject, sizeof(subject), cert);
	memset(&nc, 0, sizeof(nc));
	nc.role = REG_CA_ROLE_DEVICE;
	nc.state = REG_CA_ACTIVE;
	nc.der = der;
	nc.der_len = len;
	nc.cert_sha256 = sha;
	nc.subject = subject;
	nc.key_ref = copied ? name : key_ref;
	rc = ca_row_add(reg, id_out, &nc, actor, pki_custody_name(
	    pki_key_custody(nc.key_ref, ca->data_dir)), err, errlen);
out:
	/* Failures leave the folder as it was. */
	if (rc != CA_OK && copied && snprintf(path, sizeof(path), "%s/%s",
	    ca->data_dir, name) < (int)sizeof(path))
		unlink(path);
	OPENSSL_free(der);
	X509_free(cert);
	return rc;
}

/* Activate (retire 0) or retire CA id with its audit row in one
 * transaction; a retirement also signs the CA's final CRL. */
static int ca_step(ca_t *ca, reg_t *reg, int64_t id, const char *actor,
    const char *action, int retire, char *err, size_t errlen)
{
	const struct ca_dca *d = id > 0 ? ca_dca_find(ca, id) : NULL;
	char idbuf[24];
	int rc;

	if (d == NULL) {
		util_err_set(err, errlen, "no Device CA with id %lld",
		    (long long)id);
		return CA_ERR_NOT_FOUND;
	}
	if (d->key == NULL) {
		util_err_set(err, errlen, "Device CA %lld is retired",
		    (long long)id);
		return CA_ERR_STATE;
	}
	if ((rc = ca_from_reg(reg_begin(reg, err, errlen))) != CA_OK)
		return rc;
	rc = ca_from_reg(retire ? reg_ca_retire(reg, id, err, errlen) :
	    reg_ca_activate(reg, id, err, errlen));
	if (rc == CA_ERR_INVALID)
		rc = CA_ERR_STATE;
	/* The final CRL is forced past the state just written. */
	if (rc == CA_OK && retire)
		rc = ca_crl_dca_final(ca, reg, d, ca_asn1_time(
		    X509_get0_notAfter(d->cert)), err, errlen);
	snprintf(idbuf, sizeof(idbuf), "%lld", (long long)id);
	if (rc == CA_OK)
		rc = ca_audit(reg, actor, action, idbuf, err, errlen, "role",
		    REG_CA_ROLE_DEVICE, "previous_state", d->state, NULL);
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

int ca_ca_retire(ca_t *ca, reg_t *reg, int64_t id, const char *actor,
    char *err, size_t errlen)
{
	return ca_step(ca, reg, id, actor, "ca.retire", 1, err, errlen);
}
