/* ca_cmp_signer.c — the CMP signer: a P-256 key (cmp_signer_key:
 * DATA/cmp-signer.key, encrypted with the data folder's passphrase when it
 * has one, or a token key named by `init --cmp-key URI`) and its
 * certificate from the Infrastructure CA (DATA/cmp-signer.crt:
 * digitalSignature, EKU id-kp-cmcRA, the Infrastructure CA's CRL), whose
 * key protects every signature-protected CMP answer. The Device CA has no
 * digitalSignature (keyCertSign and cRLSign only) and the TLS server key
 * is for TLS, so neither signs CMP messages. Made at init and, in a data
 * folder from before it, at the first serve. */
#include "ca_priv.h"
#include "ca_cmp.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/x509v3.h>

#include "pki.h"
#include "pki_keys.h"
#include "util.h"

#define CMP_SIGNER_CERT "cmp-signer.crt"

/* The signer's key: a fresh one for a file, else opened on the token. */
static int signer_key(const ca_t *ca, EVP_PKEY **key, char *err, size_t errlen)
{
	const ca_config_t *c = &ca->cfg;
	pki_token_t tok;

	if (!pki_key_ref_is_pkcs11(c->cmp_signer_key))
		return ca_key_generate(key, "P-256", err, errlen);
	memset(&tok, 0, sizeof(tok));
	snprintf(tok.module, sizeof(tok.module), "%s", c->pkcs11_module);
	snprintf(tok.pin_file, sizeof(tok.pin_file), "%s", c->pkcs11_pin_file);
	snprintf(tok.pin_env, sizeof(tok.pin_env), "%s", c->pkcs11_pin_env);
	if (pki_signing_key_open(key, c->cmp_signer_key, NULL, NULL, &tok, err,
	        errlen) != PKI_OK)
		return CA_ERR_INVALID;
	return CA_OK;
}

/* The signer's key and its CMP-signer certificate from the
 * Infrastructure CA. */
static int signer_make(const ca_t *ca, X509 **cert, EVP_PKEY **key, char *err,
    size_t errlen)
{
	X509_NAME *n = NULL;
	char crl_dp[400], serial[41];
	ca_cert_spec_t sp;
	int64_t now = reg_now();
	int rc;

	if ((rc = signer_key(ca, key, err, errlen)) != CA_OK)
		return rc;
	if ((n = X509_NAME_new()) == NULL ||
	    X509_NAME_add_entry_by_NID(n, NID_organizationName, MBSTRING_UTF8,
	        (const unsigned char *)ca->cfg.org, -1, -1, 0) != 1 ||
	    X509_NAME_add_entry_by_NID(n, NID_organizationalUnitName,
	        MBSTRING_UTF8, (const unsigned char *)"cmp", -1, -1, 0) != 1 ||
	    X509_NAME_add_entry_by_NID(n, NID_commonName, MBSTRING_UTF8,
	        (const unsigned char *)"CMP signer", -1, -1, 0) != 1) {
		util_err_openssl(err, errlen, "CMP signer subject");
		rc = CA_ERR_INTERNAL;
		goto out;
	}
	memset(&sp, 0, sizeof(sp));
	sp.subject = n;
	sp.pubkey = *key;
	sp.issuer = ca->infra;
	sp.issuer_key = ca->infra_key;
	sp.not_before = now - 60;
	sp.not_after =
	    now + (int64_t)ca->cfg.server_validity_days * UTIL_SECONDS_PER_DAY;
	sp.basic_constraints = "critical,CA:FALSE";
	sp.key_usage = "critical,digitalSignature";
	sp.ext_key_usage = "cmcRA";
	snprintf(crl_dp, sizeof(crl_dp), "URI:%s%s", ca_revocation_base_url(ca),
	    CA_URL_PATH_INFRA_CRL);
	sp.crl_dp = crl_dp;
	rc = ca_x509_make(cert, serial, &sp, err, errlen);
out:
	X509_NAME_free(n);
	if (rc != CA_OK) {
		EVP_PKEY_free(*key);
		*key = NULL;
	}
	return rc;
}

/* Write key (0600, exclusive; not a token key) and then cert into the
 * data folder; a key without its certificate is removed again. */
static int signer_write(const ca_t *ca, X509 *cert, EVP_PKEY *key, char *err,
    size_t errlen)
{
	char kpath[PATH_MAX + 32], cpath[PATH_MAX + 32], *pem = NULL;
	size_t len = 0;
	int token = pki_key_ref_is_pkcs11(ca->cfg.cmp_signer_key), rc;

	snprintf(kpath, sizeof(kpath), "%s/%s", ca->data_dir,
	    ca->cfg.cmp_signer_key);
	snprintf(cpath, sizeof(cpath), "%s/%s", ca->data_dir, CMP_SIGNER_CERT);
	if (!token) {
		if ((rc = ca_key_to_pem(&pem, &len, key, ca->key_pass, err,
		         errlen)) != CA_OK)
			return rc;
		rc = ca_file_write(kpath, pem, len, 0600, err, errlen);
		OPENSSL_cleanse(pem, len);
		free(pem);
		if (rc != CA_OK)
			return rc;
	}
	if ((pem = ca_cert_to_pem(cert)) == NULL) {
		util_err_openssl(err, errlen, "CMP signer certificate");
		rc = CA_ERR_INTERNAL;
	} else {
		rc = ca_file_write(cpath, pem, strlen(pem), 0644, err, errlen);
		free(pem);
	}
	if (rc != CA_OK && !token)
		unlink(kpath);
	return rc;
}

/* Load the signer of the data folder into ca. */
static int signer_load(ca_t *ca, const char *cpath, char *err, size_t errlen)
{
	X509 *cert = NULL;
	EVP_PKEY *key = NULL;
	int rc;

	if (pki_cert_load_file(&cert, cpath, err, errlen) != PKI_OK)
		return CA_ERR_NOT_CA;
	if ((rc = ca_key_load(&key, ca, ca->cfg.cmp_signer_key, cert, err,
	         errlen)) != CA_OK) {
		X509_free(cert);
		return rc;
	}
	X509_free(ca->cmp_cert);
	EVP_PKEY_free(ca->cmp_key);
	ca->cmp_cert = cert;
	ca->cmp_key = key;
	return CA_OK;
}

int ca_cmp_signer_ensure(ca_t *ca, char *err, size_t errlen)
{
	char cpath[PATH_MAX + 32], kpath[PATH_MAX + 32];
	X509 *cert = NULL;
	EVP_PKEY *key = NULL;
	int rc;

	snprintf(cpath, sizeof(cpath), "%s/%s", ca->data_dir, CMP_SIGNER_CERT);
	snprintf(kpath, sizeof(kpath), "%s/%s", ca->data_dir,
	    ca->cfg.cmp_signer_key);
	if (access(cpath, F_OK) == 0)
		return signer_load(ca, cpath, err, errlen);
	if (errno != ENOENT) {
		util_err_set(err, errlen, "%s: %s", cpath, strerror(errno));
		return CA_ERR_INTERNAL;
	}
	/* A key file left without its certificate (a crash between the two
	 * writes) certifies nothing: replaced. */
	if (!pki_key_ref_is_pkcs11(ca->cfg.cmp_signer_key) &&
	    unlink(kpath) != 0 && errno != ENOENT) {
		util_err_set(err, errlen, "%s: %s", kpath, strerror(errno));
		return CA_ERR_INTERNAL;
	}
	if ((rc = signer_make(ca, &cert, &key, err, errlen)) == CA_OK)
		rc = signer_write(ca, cert, key, err, errlen);
	X509_free(cert);
	EVP_PKEY_free(key);
	/* Another process made it at the same moment: use its. */
	if (rc == CA_OK || rc == CA_ERR_EXISTS)
		return signer_load(ca, cpath, err, errlen);
	return rc;
}
