/* ca_open.c — the CA as its callers hold it: ca_open assembles the
 * immutable CA (ca.c), the fast path's fetched digests and parameter keys
 * (ca_fast.c) and the runtime (ca_set.c: the current CA set; ca_issue.c:
 * the group commit), and ca_free takes them apart; the CA certificates'
 * accessors, whose Device CA is the current set's issuing one; TLS set-up
 * for the HTTPS service (its client trust store follows the CA set). The top of
 * the engine: nothing below calls into this file. */
#include "ca_priv.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/ssl.h>

#include "pki_keys.h"
#include "util.h"

/* How often a TLS handshake may look for a new Infrastructure CA. */
#define CA_TLS_REFRESH_MS 100

void ca_free(ca_t *ca)
{
	if (ca == NULL)
		return;
	if (ca->rt != NULL)
		ca_group_close(ca->rt);
	ca_rt_free(ca);
	ca_fast_free(ca);
	ca_core_free(ca);
	free(ca);
}

int ca_open(ca_t **out, const char *data_dir, const char *key_pass_file,
    char *err, size_t errlen)
{
	return ca_open_pass(out, data_dir, key_pass_file, NULL, err, errlen);
}

int ca_open_pass(ca_t **out, const char *data_dir, const char *pass_file,
    const char *pass_env, char *err, size_t errlen)
{
	return ca_open_db(out, data_dir, pass_file, pass_env, NULL, err,
	    errlen);
}

static int ca_open_full(ca_t **out, const char *data_dir, const char *pass,
    const char *db, char *err, size_t errlen);

int ca_open_db(ca_t **out, const char *data_dir, const char *pass_file,
    const char *pass_env, const char *db, char *err, size_t errlen)
{
	char pass[CA_PASS_MAX + 1];
	int rc;

	*out = NULL;
	if ((rc = ca_pass_get(pass, pass_file, pass_env, err, errlen)) == CA_OK)
		rc = ca_open_full(out, data_dir, pass, db, err, errlen);
	OPENSSL_cleanse(pass, sizeof(pass));
	return rc;
}

int ca_open_with_pass(ca_t **out, const char *data_dir, const char *pass,
    char *err, size_t errlen)
{
	return ca_open_full(out, data_dir, pass, NULL, err, errlen);
}

/* ca_open_with_pass, with the registry at db when it is not NULL (else
 * the config's "db", else DATA/registry.db). */
static int ca_open_full(ca_t **out, const char *data_dir, const char *pass,
    const char *db, char *err, size_t errlen)
{
	ca_t *ca;
	reg_t *reg = NULL;
	int rc;

	*out = NULL;
	if ((ca = calloc(1, sizeof(*ca))) == NULL) {
		util_err_set(err, errlen, "out of memory");
		return CA_ERR_INTERNAL;
	}
	/* Migrations first, once, before any worker thread opens (the CA
	 * set's table may be new). */
	if ((rc = ca_core_load(ca, data_dir, pass, db, err, errlen)) != CA_OK ||
	    (rc = ca_from_reg(
	         reg_open_existing(&reg, ca->db_path, err, errlen))) != CA_OK)
		goto fail;
	reg_close(reg);
	if ((rc = ca_fast_init(ca, err, errlen)) != CA_OK ||
	    (rc = ca_rt_open(ca, err, errlen)) != CA_OK ||
	    (rc = ca_group_open(ca->rt, ca->db_path, err, errlen)) != CA_OK)
		goto fail;
	*out = ca;
	return CA_OK;
fail:
	ca_free(ca);
	return rc;
}

int ca_custody_describe(const ca_t *ca, char *out, size_t outlen)
{
	const struct ca_set *set = ca_set_peek(ca);
	const char *refs[4] = { ca_set_issuing(set)->key_ref,
		ca_set_infra(set)->key_ref, ca->cfg.tls_key,
		ca->cfg.cmp_signer_key };
	static const char *const roles[4] = { "device-ca", "infra-ca", "tls",
		"cmp-signer" };
	size_t off = 0;
	int i, n;

	for (i = 0; i < 4; i++) {
		pki_custody_t c = pki_key_custody(refs[i], ca->data_dir);

		n = snprintf(out + off, outlen - off, "%s%s %s%s%s",
		    i ? ", " : "", roles[i], pki_custody_name(c),
		    c == PKI_CUSTODY_PKCS11 ? " " : "",
		    c == PKI_CUSTODY_PKCS11 ? refs[i] : "");
		if (n < 0 || (size_t)n >= outlen - off)
			return CA_ERR_INVALID;
		off += (size_t)n;
	}
	return CA_OK;
}

const char *ca_cert_pem(const ca_t *ca, ca_cert_t which)
{
	if (which == CA_CERT_DEVICE)
		return ca_set_issuing(ca_set_peek(ca))->pem;
	return (unsigned)which < 3 ? ca->pem[which] : NULL;
}

int ca_cert_der(const ca_t *ca, ca_cert_t which, const uint8_t **der,
    size_t *len)
{
	const struct ca_dca *d;

	if ((unsigned)which >= 3)
		return CA_ERR_INVALID;
	if (which == CA_CERT_DEVICE) {
		d = ca_set_issuing(ca_set_peek(ca));
		*der = d->der;
		*len = d->der_len;
		return CA_OK;
	}
	*der = ca->der[which];
	*len = ca->der_len[which];
	return CA_OK;
}

/* TLS 1.2: forward-secret AEAD suites only (no CBC: LUCKY13-class padding
 * oracles; no static RSA). TLS 1.3 keeps OpenSSL's defaults, all AEAD. */
#define CA_TLS12_CIPHERS \
	"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:" \
	"ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-AES128-GCM-SHA256:" \
	"ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-CHACHA20-POLY1305"

/* SSL_CTX_set_cert_verify_callback: a client certificate is verified
 * against the trust store as the registry's CA set has it (an
 * Infrastructure CA activated since start included: looked up at most
 * every CA_TLS_REFRESH_MS), then by OpenSSL as always. */
static int tls_verify(X509_STORE_CTX *x, void *arg)
{
	ca_set_refresh(arg, CA_TLS_REFRESH_MS);
	return X509_verify_cert(x);
}

/* The client trust store: the Root and every Infrastructure CA of the
 * current set (later ones join at each reload: ca_set.c); one per CA. */
static X509_STORE *tls_store(const ca_t *ca)
{
	struct ca_rt *rt = ca->rt;
	X509_STORE *store = NULL;

	pthread_mutex_lock(&rt->mu);
	if (rt->tls_store == NULL && (store = X509_STORE_new()) != NULL) {
		if (X509_STORE_add_cert(store, ca->root) == 1 &&
		    ca_set_trust(ca_set_peek(ca), store) == CA_OK)
			rt->tls_store = store;
		else
			X509_STORE_free(store);
	}
	store = rt->tls_store;
	if (store != NULL && X509_STORE_up_ref(store) != 1)
		store = NULL;
	pthread_mutex_unlock(&rt->mu);
	return store;
}

int ca_tls_configure(ca_t *ca, struct ssl_ctx_st *ctx, char *err, size_t errlen)
{
	X509_STORE *store;

	if (SSL_CTX_use_certificate(ctx, ca->tls) != 1 ||
	    SSL_CTX_set_cipher_list(ctx, CA_TLS12_CIPHERS) != 1 ||
	    SSL_CTX_add1_chain_cert(ctx, ca->infra) != 1 ||
	    SSL_CTX_use_PrivateKey(ctx, ca->tls_key) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1)
		goto fail;
	/* Clients authenticate against our own hierarchy only. */
	if ((store = tls_store(ca)) == NULL)
		goto fail;
	SSL_CTX_set_cert_store(ctx, store);
	SSL_CTX_set_cert_verify_callback(ctx, tls_verify, ca);
	return CA_OK;
fail:
	util_err_openssl(err, errlen, "TLS set-up");
	return CA_ERR_INTERNAL;
}
