/* ca.c — the immutable CA: load a data folder once (config, the Root, the
 * Infrastructure CA, the TLS certificate and their keys), read-only
 * afterwards; signing keys by reference; file paths; where the registry
 * lives (config "db", serve --db or DATA/registry.db); per-thread registry
 * connections. Calls nothing of the
 * engine above it: ca_open.c assembles this with the runtime (ca_set.c). */
#include "ca_priv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "pki.h"
#include "pki_keys.h"
#include "util.h"

static const char *const file_names[] = {
	[CA_FILE_CONFIG] = "config.json",
	[CA_FILE_DB] = "registry.db",
	[CA_FILE_ROOT_CERT] = "root-ca.crt",
	[CA_FILE_DEVICE_CA_CERT] = "device-ca.crt",
	[CA_FILE_INFRA_CA_CERT] = "infra-ca.crt",
	[CA_FILE_DEVICE_CHAIN] = "device-chain.pem",
	[CA_FILE_CLIENT_CA] = "client-ca.pem",
	[CA_FILE_TLS_CERT] = "server.crt",
	[CA_FILE_TLS_KEY] = "server.key",
};

int ca_path(char *out, size_t outlen, const char *data_dir, ca_file_t which)
{
	int n;

	if ((size_t)which >= sizeof(file_names) / sizeof(file_names[0]))
		return -1;
	n = snprintf(out, outlen, "%s/%s", data_dir, file_names[which]);
	return n < 0 || (size_t)n >= outlen ? -1 : 0;
}

const ca_config_t *ca_config(const ca_t *ca)
{
	return &ca->cfg;
}

const char *ca_revocation_base_url(const ca_t *ca)
{
	return ca->cfg.plain_http_base_url[0] != '\0' ?
	    ca->cfg.plain_http_base_url :
	    ca->cfg.public_base_url;
}

void ca_core_free(ca_t *ca)
{
	int i;

	if (ca == NULL)
		return;
	X509_free(ca->root);
	X509_free(ca->device_file);
	X509_free(ca->infra);
	X509_free(ca->tls);
	EVP_PKEY_free(ca->infra_key);
	EVP_PKEY_free(ca->tls_key);
	X509_free(ca->cmp_cert);
	EVP_PKEY_free(ca->cmp_key);
	for (i = 0; i < 3; i++) {
		free(ca->pem[i]);
		OPENSSL_free(ca->der[i]);
	}
	free(ca->infra_chain_pem);
	OPENSSL_cleanse(ca->key_pass, sizeof(ca->key_pass));
}

/* Concatenate two PEM strings. */
static char *pem_cat(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	char *s = malloc(la + lb + 1);

	if (s == NULL)
		return NULL;
	memcpy(s, a, la);
	memcpy(s + la, b, lb + 1);
	return s;
}

/* Load one certificate of the data folder. */
static int load_cert(X509 **out, const char *dir, ca_file_t which, char *err,
    size_t errlen)
{
	char path[PATH_MAX];

	if (ca_path(path, sizeof(path), dir, which) != 0) {
		util_err_set(err, errlen, "data folder path too long");
		return CA_ERR_INVALID;
	}
	if (pki_cert_load_file(out, path, err, errlen) != PKI_OK)
		return CA_ERR_NOT_CA;
	return CA_OK;
}

/* The token settings of the config. */
static void token_of(pki_token_t *tok, const ca_config_t *cfg)
{
	memset(tok, 0, sizeof(*tok));
	snprintf(tok->module, sizeof(tok->module), "%s", cfg->pkcs11_module);
	snprintf(tok->pin_file, sizeof(tok->pin_file), "%s",
	    cfg->pkcs11_pin_file);
	snprintf(tok->pin_env, sizeof(tok->pin_env), "%s", cfg->pkcs11_pin_env);
}

/* Open a signing key and check it against cert (see ca_priv.h). */
int ca_key_load(EVP_PKEY **out, const ca_t *ca, const char *ref, X509 *cert,
    char *err, size_t errlen)
{
	pki_token_t tok;
	int rc;

	token_of(&tok, &ca->cfg);
	if ((rc = pki_signing_key_open(out, ref, ca->data_dir, ca->key_pass,
	         &tok, err, errlen)) != PKI_OK)
		return rc == PKI_ERR_IO ? CA_ERR_NOT_CA :
		    rc == PKI_ERR_PARSE &&
		        pki_key_custody(ref, ca->data_dir) ==
		            PKI_CUSTODY_FILE_ENCRYPTED ?
		                          CA_ERR_PASSPHRASE :
		                          CA_ERR_INVALID;
	if (X509_check_private_key(cert, *out) != 1) {
		ERR_clear_error();
		/* A refused key is not handed out: the caller owns nothing. */
		EVP_PKEY_free(*out);
		*out = NULL;
		util_err_set(err, errlen, "%s does not match its certificate",
		    ref);
		return CA_ERR_INVALID;
	}
	return CA_OK;
}

int ca_root_crl_published(const ca_t *ca, uint8_t **der, size_t *len, char *err,
    size_t errlen)
{
	char path[PATH_MAX], *buf = NULL;
	int rc;

	*der = NULL;
	*len = 0;
	if (snprintf(path, sizeof(path), "%s/root-ca.crl", ca->data_dir) >=
	    (int)sizeof(path)) {
		util_err_set(err, errlen, "data folder path too long");
		return CA_ERR_INVALID;
	}
	if ((rc = ca_file_read(&buf, len, path, 1024 * 1024, err, errlen)) !=
	    CA_OK) {
		if (rc == CA_ERR_NOT_FOUND)
			util_err_set(err, errlen,
			    "no Root CRL published (run "
			    "ca-server root crl)");
		return rc;
	}
	*der = (uint8_t *)buf;
	return CA_OK;
}

int ca_serve_check(const char *data_dir, char *err, size_t errlen)
{
	pki_custody_t c = pki_key_custody("root-ca.key", data_dir);

	if (c == PKI_CUSTODY_FILE_PLAIN) {
		util_err_set(err, errlen,
		    "%s/root-ca.key is an unencrypted "
		    "Root key in the serving folder: move it offline (see "
		    "docs/ca-server.md, Key ceremonies) before serving",
		    data_dir);
		return CA_ERR_DENIED;
	}
	return CA_OK;
}

/* The folder's config.json must exist; it is loaded (the registry is
 * located by ca_db_locate). */
static int core_paths(ca_t *ca, const char *data_dir, char *err, size_t errlen)
{
	char path[PATH_MAX];
	struct stat sb;

	if (snprintf(ca->data_dir, sizeof(ca->data_dir), "%s", data_dir) >=
	        (int)sizeof(ca->data_dir) - 32 ||
	    ca_path(path, sizeof(path), data_dir, CA_FILE_CONFIG) != 0) {
		util_err_set(err, errlen, "data folder path too long");
		return CA_ERR_INVALID;
	}
	if (stat(path, &sb) != 0) {
		util_err_set(err, errlen,
		    "%s is not a ProvCA data folder "
		    "(run ca-server init)",
		    data_dir);
		return CA_ERR_NOT_CA;
	}
	if (config_load(&ca->cfg, path, err, errlen) != CONFIG_OK)
		return CA_ERR_INVALID;
	return CA_OK;
}

/* Where ca's registry lives: db when given (serve --db), else the
 * config's "db", else DATA/registry.db, which must then exist. */
static int ca_db_locate(ca_t *ca, const char *db, char *err, size_t errlen)
{
	struct stat sb;

	if (db == NULL || db[0] == '\0')
		db = ca->cfg.db;
	if (db[0] != '\0') {
		if (config_db_check(db) != 0) {
			util_err_set(err, errlen,
			    "--db must be a postgresql://"
			    " URL without a password");
			return CA_ERR_INVALID;
		}
		if (snprintf(ca->db_path, sizeof(ca->db_path), "%s", db) >=
		    (int)sizeof(ca->db_path)) {
			util_err_set(err, errlen, "database URL too long");
			return CA_ERR_INVALID;
		}
		return CA_OK;
	}
	if (ca_path(ca->db_path, sizeof(ca->db_path), ca->data_dir,
	        CA_FILE_DB) != 0) {
		util_err_set(err, errlen, "data folder path too long");
		return CA_ERR_INVALID;
	}
	if (stat(ca->db_path, &sb) != 0) {
		util_err_set(err, errlen,
		    "%s is not a ProvCA data folder "
		    "(run ca-server init)",
		    ca->data_dir);
		return CA_ERR_NOT_CA;
	}
	return CA_OK;
}

int ca_db_location(char *out, size_t outlen, const char *data_dir, char *err,
    size_t errlen)
{
	ca_config_t cfg;
	char path[PATH_MAX];

	if (ca_path(path, sizeof(path), data_dir, CA_FILE_CONFIG) != 0) {
		util_err_set(err, errlen, "data folder path too long");
		return CA_ERR_INVALID;
	}
	if (config_load(&cfg, path, err, errlen) != CONFIG_OK)
		return CA_ERR_NOT_CA;
	if (cfg.db[0] != '\0') {
		if (snprintf(out, outlen, "%s", cfg.db) >= (int)outlen) {
			util_err_set(err, errlen, "database URL too long");
			return CA_ERR_INVALID;
		}
		return CA_OK;
	}
	if (ca_path(out, outlen, data_dir, CA_FILE_DB) != 0) {
		util_err_set(err, errlen, "data folder path too long");
		return CA_ERR_INVALID;
	}
	return CA_OK;
}

int ca_core_load(ca_t *ca, const char *data_dir, const char *pass,
    const char *db, char *err, size_t errlen)
{
	X509 *certs[3];
	int rc, i;

	if ((rc = core_paths(ca, data_dir, err, errlen)) != CA_OK ||
	    (rc = ca_db_locate(ca, db, err, errlen)) != CA_OK)
		return rc;
	if (strlen(pass) > CA_PASS_MAX) {
		util_err_set(err, errlen, "passphrase too long");
		return CA_ERR_INVALID;
	}
	memcpy(ca->key_pass, pass, strlen(pass) + 1);
	if ((rc = load_cert(&ca->root, data_dir, CA_FILE_ROOT_CERT, err,
	         errlen)) != CA_OK ||
	    (rc = load_cert(&ca->device_file, data_dir, CA_FILE_DEVICE_CA_CERT,
	         err, errlen)) != CA_OK ||
	    (rc = load_cert(&ca->infra, data_dir, CA_FILE_INFRA_CA_CERT, err,
	         errlen)) != CA_OK ||
	    (rc = load_cert(&ca->tls, data_dir, CA_FILE_TLS_CERT, err,
	         errlen)) != CA_OK)
		return rc;
	if ((rc = ca_key_load(&ca->infra_key, ca, ca->cfg.infra_ca_key,
	         ca->infra, err, errlen)) != CA_OK ||
	    (rc = ca_key_load(&ca->tls_key, ca, ca->cfg.tls_key, ca->tls, err,
	         errlen)) != CA_OK)
		return rc;
	certs[CA_CERT_ROOT] = ca->root;
	certs[CA_CERT_DEVICE] = ca->device_file;
	certs[CA_CERT_INFRA] = ca->infra;
	for (i = 0; i < 3; i++)
		if ((ca->pem[i] = ca_cert_to_pem(certs[i])) == NULL ||
		    ca_cert_to_der(&ca->der[i], &ca->der_len[i], certs[i]) !=
		        CA_OK) {
			util_err_openssl(err, errlen, "encode CA cert");
			return CA_ERR_INTERNAL;
		}
	if ((ca->infra_chain_pem = pem_cat(ca->pem[CA_CERT_INFRA],
	         ca->pem[CA_CERT_ROOT])) == NULL) {
		util_err_set(err, errlen, "out of memory");
		return CA_ERR_INTERNAL;
	}
	return CA_OK;
}

int ca_reg_open(const ca_t *ca, reg_t **out, char *err, size_t errlen)
{
	return ca_from_reg(reg_open_existing(out, ca->db_path, err, errlen));
}
