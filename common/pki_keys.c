/* pki_keys.c — open a signing key from a PEM file (plain or encrypted
 * PKCS#8) or a pkcs11: URI through the libp11 engine (Debian 12's
 * libengine-pkcs11-openssl; see docs/ca-server.md for why not the
 * provider). The engine is loaded once per process, on the first URI. */
#define OPENSSL_SUPPRESS_DEPRECATED /* ENGINE: libp11's documented API */
#include "pki_keys.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/engine.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>

#include "pki.h"
#include "util.h"

static pthread_mutex_t engine_mu = PTHREAD_MUTEX_INITIALIZER;
static ENGINE *engine; /* initialised (ENGINE_init) */
static char engine_module[256];

void pki_keys_init(void)
{
	OPENSSL_init_crypto(OPENSSL_INIT_NO_ATEXIT |
	        OPENSSL_INIT_LOAD_CRYPTO_STRINGS,
	    NULL);
	OPENSSL_init_ssl(OPENSSL_INIT_NO_ATEXIT | OPENSSL_INIT_LOAD_SSL_STRINGS,
	    NULL);
}

void pki_keys_shutdown(void)
{
	pthread_mutex_lock(&engine_mu);
	if (engine != NULL) {
		ENGINE_finish(engine);
		ENGINE_free(engine);
		engine = NULL;
	}
	pthread_mutex_unlock(&engine_mu);
}

int pki_key_ref_is_pkcs11(const char *ref)
{
	return ref != NULL && strncmp(ref, "pkcs11:", 7) == 0;
}

/* Read a whole file of at most PKI_FILE_MAX bytes, NUL-terminated. */
static int file_slurp(char **out, size_t *len, const char *path, char *err,
    size_t errlen)
{
	FILE *f;
	char *buf = NULL;
	size_t n;

	*out = NULL;
	if ((f = fopen(path, "rb")) == NULL) {
		util_err_set(err, errlen, "%s: %s", path, strerror(errno));
		return PKI_ERR_IO;
	}
	if ((buf = malloc(PKI_FILE_MAX + 1)) == NULL) {
		fclose(f);
		util_err_set(err, errlen, "out of memory");
		return PKI_ERR_INTERNAL;
	}
	n = fread(buf, 1, PKI_FILE_MAX + 1, f);
	if (ferror(f) || n > PKI_FILE_MAX) {
		fclose(f);
		OPENSSL_cleanse(buf, PKI_FILE_MAX + 1);
		free(buf);
		util_err_set(err, errlen,
		    "%s: unreadable or larger than %d "
		    "bytes",
		    path, PKI_FILE_MAX);
		return PKI_ERR_IO;
	}
	fclose(f);
	buf[n] = '\0';
	*out = buf;
	*len = n;
	return PKI_OK;
}

/* The PIN from tok's file (first line) or environment variable. */
static int pin_read(char pin[PKI_PIN_MAX + 1], const pki_token_t *tok,
    char *err, size_t errlen)
{
	char *buf = NULL;
	const char *src;
	size_t len = 0, n;
	int rc;

	if (tok->pin_file[0] != '\0') {
		if ((rc = file_slurp(&buf, &len, tok->pin_file, err, errlen)) !=
		    PKI_OK)
			return PKI_ERR_ARG;
		src = buf;
	} else if (tok->pin_env[0] != '\0') {
		if ((src = getenv(tok->pin_env)) == NULL) {
			util_err_set(err, errlen,
			    "PKCS#11 PIN variable %s is "
			    "not set",
			    tok->pin_env);
			return PKI_ERR_ARG;
		}
	} else {
		util_err_set(err, errlen,
		    "a PKCS#11 PIN file or variable "
		    "is required");
		return PKI_ERR_ARG;
	}
	n = strcspn(src, "\r\n");
	rc = PKI_OK;
	if (n == 0 || n > PKI_PIN_MAX) {
		util_err_set(err, errlen, "PKCS#11 PIN must be 1..%d bytes",
		    PKI_PIN_MAX);
		rc = PKI_ERR_ARG;
	} else {
		memcpy(pin, src, n);
		pin[n] = '\0';
	}
	if (buf != NULL) {
		OPENSSL_cleanse(buf, len);
		free(buf);
	}
	return rc;
}

/* Load and initialise the pkcs11 engine for tok (engine_mu held). */
static int engine_start(const pki_token_t *tok, char *err, size_t errlen)
{
	char pin[PKI_PIN_MAX + 1];
	ENGINE *e = NULL;
	int rc = PKI_ERR_INTERNAL, inited = 0;

	if (engine != NULL) {
		if (strcmp(engine_module, tok->module) == 0)
			return PKI_OK;
		util_err_set(err, errlen,
		    "one PKCS#11 module per process "
		    "(%s already loaded)",
		    engine_module);
		return PKI_ERR_ARG;
	}
	if ((rc = pin_read(pin, tok, err, errlen)) != PKI_OK)
		return rc;
	rc = PKI_ERR_INTERNAL;
	ENGINE_load_builtin_engines();
	if ((e = ENGINE_by_id("pkcs11")) == NULL) {
		util_err_openssl(err, errlen,
		    "PKCS#11 engine (Debian package "
		    "libengine-pkcs11-openssl) not found");
		goto out;
	}
	if (ENGINE_ctrl_cmd_string(e, "MODULE_PATH", tok->module, 0) != 1 ||
	    ENGINE_init(e) != 1) {
		util_err_openssl(err, errlen, "PKCS#11 module %s", tok->module);
		goto out;
	}
	inited = 1;
	if (ENGINE_ctrl_cmd_string(e, "PIN", pin, 0) != 1) {
		util_err_openssl(err, errlen, "PKCS#11 PIN");
		goto out;
	}
	snprintf(engine_module, sizeof(engine_module), "%s", tok->module);
	engine = e;
	e = NULL;
	rc = PKI_OK;
out:
	OPENSSL_cleanse(pin, sizeof(pin));
	if (e != NULL) {
		if (inited)
			ENGINE_finish(e);
		ENGINE_free(e);
	}
	return rc;
}

/* A private key on the token named by uri. */
static int token_key_open(EVP_PKEY **out, const char *uri,
    const pki_token_t *tok, char *err, size_t errlen)
{
	int rc;

	if (tok == NULL || tok->module[0] == '\0') {
		util_err_set(err, errlen, "%s: a PKCS#11 module is required",
		    uri);
		return PKI_ERR_ARG;
	}
	if (strlen(uri) > PKI_KEY_REF_MAX || strstr(uri, "pin-value") ||
	    strstr(uri, "pin-source")) {
		util_err_set(err, errlen,
		    "pkcs11: URI too long or carrying a "
		    "PIN (give a PIN file or variable instead)");
		return PKI_ERR_ARG;
	}
	pthread_mutex_lock(&engine_mu);
	if ((rc = engine_start(tok, err, errlen)) == PKI_OK &&
	    (*out = ENGINE_load_private_key(engine, uri, NULL, NULL)) == NULL) {
		util_err_openssl(err, errlen, "no private key at %s", uri);
		rc = PKI_ERR_INTERNAL;
	}
	pthread_mutex_unlock(&engine_mu);
	ERR_clear_error();
	return rc;
}

/* 1 if the PEM text buf is an encrypted key (PKCS#8 or the legacy
 * Proc-Type form). */
static int pem_encrypted(const char *buf)
{
	return strstr(buf, "-----BEGIN ENCRYPTED PRIVATE KEY-----") != NULL ||
	    strstr(buf, "Proc-Type: 4,ENCRYPTED") != NULL;
}

/* Passphrase callback: never prompts, copies the given string. */
static int pass_cb(char *buf, int size, int rwflag, void *u)
{
	const char *pass = u;
	size_t n;

	(void)rwflag;
	if (pass == NULL || pass[0] == '\0' || size <= 0)
		return 0;
	n = strlen(pass);
	if (n > (size_t)size)
		return 0;
	memcpy(buf, pass, n);
	return (int)n;
}

/* Join dir and ref unless ref is absolute. */
static int ref_path(char out[PATH_MAX], const char *ref, const char *dir)
{
	int n = ref[0] == '/' || dir == NULL ?
	    snprintf(out, PATH_MAX, "%s", ref) :
	    snprintf(out, PATH_MAX, "%s/%s", dir, ref);

	return n < 0 || n >= PATH_MAX ? -1 : 0;
}

/* A PEM private key file, decrypted with pass when encrypted. */
static int file_key_open(EVP_PKEY **out, const char *path, const char *pass,
    char *err, size_t errlen)
{
	char *buf = NULL;
	size_t len = 0;
	BIO *b = NULL;
	int rc, encrypted;

	if ((rc = file_slurp(&buf, &len, path, err, errlen)) != PKI_OK)
		return rc;
	encrypted = pem_encrypted(buf);
	if ((b = BIO_new_mem_buf(buf, (int)len)) == NULL) {
		util_err_openssl(err, errlen, "%s", path);
		rc = PKI_ERR_INTERNAL;
		goto out;
	}
	if ((*out = PEM_read_bio_PrivateKey(b, NULL, pass_cb, (void *)pass)) ==
	        NULL &&
	    !encrypted &&
	    pki_key_load(out, (const uint8_t *)buf, len, err, errlen) == PKI_OK)
		goto out; /* DER, as pki_key_load_file takes it */
	if (*out == NULL) {
		if (encrypted && (pass == NULL || pass[0] == '\0'))
			util_err_set(err, errlen,
			    "%s is encrypted: a "
			    "passphrase file is needed",
			    path);
		else if (encrypted)
			util_err_set(err, errlen, "%s: wrong passphrase", path);
		else
			util_err_set(err, errlen, "%s: not a private key",
			    path);
		rc = PKI_ERR_PARSE;
	}
out:
	ERR_clear_error();
	BIO_free(b);
	OPENSSL_cleanse(buf, len);
	free(buf);
	return rc;
}

int pki_signing_key_open(EVP_PKEY **out, const char *ref, const char *dir,
    const char *pass, const pki_token_t *tok, char *err, size_t errlen)
{
	char path[PATH_MAX];

	if (out == NULL || ref == NULL || ref[0] == '\0') {
		util_err_set(err, errlen, "no key named");
		return PKI_ERR_ARG;
	}
	*out = NULL;
	if (pki_key_ref_is_pkcs11(ref))
		return token_key_open(out, ref, tok, err, errlen);
	if (ref_path(path, ref, dir) != 0) {
		util_err_set(err, errlen, "key path too long");
		return PKI_ERR_ARG;
	}
	return file_key_open(out, path, pass, err, errlen);
}

pki_custody_t pki_key_custody(const char *ref, const char *dir)
{
	char path[PATH_MAX], e[8], *buf = NULL;
	size_t len = 0;
	pki_custody_t c;

	if (pki_key_ref_is_pkcs11(ref))
		return PKI_CUSTODY_PKCS11;
	if (ref == NULL || ref_path(path, ref, dir) != 0 ||
	    file_slurp(&buf, &len, path, e, sizeof(e)) != PKI_OK)
		return PKI_CUSTODY_MISSING;
	c = pem_encrypted(buf) ? PKI_CUSTODY_FILE_ENCRYPTED :
	                         PKI_CUSTODY_FILE_PLAIN;
	OPENSSL_cleanse(buf, len);
	free(buf);
	return c;
}

const char *pki_custody_name(pki_custody_t c)
{
	switch (c) {
	case PKI_CUSTODY_FILE_PLAIN: return "file-plain";
	case PKI_CUSTODY_FILE_ENCRYPTED: return "file-encrypted";
	case PKI_CUSTODY_PKCS11: return "pkcs11";
	default: return "missing";
	}
}
