/* verify.c — read the CA's JSON security context of a device and decide
 * whether corehook may provision it: status active, certificate chaining to
 * the operator's anchor now, the device EKU, the keyUsage its key type
 * needs, a supported key, and the DeviceID in the certificate's CN. */
#include "ch_int.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include "pki.h"
#include "util.h"

/* The first of names present in obj as a string, else NULL. */
static const char *json_str(const cJSON *obj, const char *const *names)
{
	for (; *names != NULL; names++) {
		const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, *names);

		if (cJSON_IsString(it) && it->valuestring != NULL)
			return it->valuestring;
	}
	return NULL;
}

/* The device's status word: "status" as a string, or an object holding it
 * under "state"/"status"/"value". */
static const char *json_status(const cJSON *doc)
{
	static const char *const inner[] = { "state", "status", "value", NULL };
	const cJSON *st = cJSON_GetObjectItemCaseSensitive(doc, "status");
	const cJSON *dev;

	if (st == NULL) {
		dev = cJSON_GetObjectItemCaseSensitive(doc, "device");
		if (cJSON_IsObject(dev))
			st = cJSON_GetObjectItemCaseSensitive(dev, "status");
	}
	if (cJSON_IsString(st))
		return st->valuestring;
	if (cJSON_IsObject(st))
		return json_str(st, inner);
	return NULL;
}

/* Intermediates from "chain": one PEM bundle or an array of PEM strings. */
static int json_chain(STACK_OF(X509) **out, const cJSON *doc, char *err,
    size_t errlen)
{
	static const char *const names[] = { "chain", "chain_pem", NULL };
	const cJSON *ch = NULL, *it;
	const char *const *n;
	STACK_OF(X509) *sk = NULL;
	int rc = -1;

	*out = NULL;
	for (n = names; *n != NULL && ch == NULL; n++)
		ch = cJSON_GetObjectItemCaseSensitive(doc, *n);
	if (ch == NULL || cJSON_IsNull(ch))
		return 0;
	if (cJSON_IsString(ch)) {
		if (ch->valuestring[0] == '\0')
			return 0;
		if (pki_chain_load(out, (const uint8_t *)ch->valuestring,
		    strlen(ch->valuestring), err, errlen) != PKI_OK)
			return -1;
		return 0;
	}
	if (!cJSON_IsArray(ch) || cJSON_GetArraySize(ch) > PKI_CHAIN_MAX) {
		util_err_set(err, errlen, "security context chain is not a list");
		return -1;
	}
	if ((sk = sk_X509_new_null()) == NULL) {
		util_err_set(err, errlen, "out of memory");
		return -1;
	}
	cJSON_ArrayForEach(it, ch) {
		X509 *x = NULL;

		if (!cJSON_IsString(it) || pki_cert_load(&x, (const uint8_t *)
		    it->valuestring, strlen(it->valuestring), err, errlen)
		    != PKI_OK)
			goto out;
		if (!sk_X509_push(sk, x)) {
			X509_free(x);
			util_err_set(err, errlen, "out of memory");
			goto out;
		}
	}
	*out = sk;
	sk = NULL;
	rc = 0;
out:
	sk_X509_pop_free(sk, X509_free);
	return rc;
}

/* The certificate's single subject CN equals device_id. */
static int cn_matches(X509 *cert, const char *device_id)
{
	X509_NAME *name = X509_get_subject_name(cert);
	X509_NAME_ENTRY *ent;
	unsigned char *utf8 = NULL;
	int idx, len, ok = 0;

	if (name == NULL ||
	    (idx = X509_NAME_get_index_by_NID(name, NID_commonName, -1)) < 0 ||
	    X509_NAME_get_index_by_NID(name, NID_commonName, idx) >= 0)
		return 0;
	ent = X509_NAME_get_entry(name, idx);
	if (ent == NULL || (len = ASN1_STRING_to_UTF8(&utf8,
	    X509_NAME_ENTRY_get_data(ent))) < 0)
		return 0;
	ok = (size_t)len == strlen(device_id) &&
	    memcmp(utf8, device_id, (size_t)len) == 0;
	OPENSSL_free(utf8);
	return ok;
}

/* The key is P-256 or RSA 2048/3072 and keyUsage fits it. */
static int key_ok(X509 *cert, EVP_PKEY *pk, char *err, size_t errlen)
{
	uint32_t ku, need;
	char group[64];
	size_t glen = 0;

	if (!(X509_get_extension_flags(cert) & EXFLAG_KUSAGE)) {
		util_err_set(err, errlen, "device certificate has no keyUsage");
		return 0;
	}
	ku = X509_get_key_usage(cert);
	if (EVP_PKEY_is_a(pk, "EC")) {
		if (EVP_PKEY_get_utf8_string_param(pk, "group", group,
		    sizeof(group), &glen) != 1 ||
		    (strcmp(group, "prime256v1") != 0 &&
		    strcmp(group, "P-256") != 0)) {
			util_err_set(err, errlen, "device EC key is not P-256");
			return 0;
		}
		need = KU_DIGITAL_SIGNATURE | KU_KEY_AGREEMENT;
	} else if (EVP_PKEY_is_a(pk, "RSA")) {
		int bits = EVP_PKEY_get_bits(pk);

		if (bits != 2048 && bits != 3072) {
			util_err_set(err, errlen, "device RSA key has %d bits", bits);
			return 0;
		}
		need = KU_DIGITAL_SIGNATURE | KU_KEY_ENCIPHERMENT;
	} else {
		util_err_set(err, errlen, "device key type unsupported");
		return 0;
	}
	if ((ku & need) != need) {
		util_err_set(err, errlen, "device keyUsage lacks what its key"
		    " type needs");
		return 0;
	}
	return 1;
}

/* ---- verified issuer path cache ----
 *
 * Every device of a CA comes with the same chain (Device CA, Root), and
 * verifying it (a P-384 Root signature) is most of the work of a
 * provisioning. After a full verification the issuer path OpenSSL built
 * (leaf's issuer .. anchor) is kept with the exact chain text it came from.
 * A device whose security context carries byte-identical chain text is then
 * verified against that path: its own signature, validity, key usage and
 * constraints with the issuer as the trusted end (X509_verify_cert, same
 * flags), and the validity of every certificate above the issuer now. Any
 * difference or failure takes the full path, so the cache can only save
 * work, never accept what the full verification would refuse. Paths with
 * policy constraints, or name constraints above the issuer, are never
 * cached. The entry is rebuilt every CH_PATH_TTL_S. */
#define CH_PATH_TTL_S 60

struct ch_path_cache {
	pthread_mutex_t mu;
	char *text;             /* the "chain" string the path came from */
	size_t len;
	STACK_OF(X509) *path;   /* leaf's issuer first, anchor last */
	int64_t verified_at;
};

int ch_path_cache_new(ch_path_cache **out)
{
	if ((*out = calloc(1, sizeof(**out))) == NULL)
		return -1;
	pthread_mutex_init(&(*out)->mu, NULL);
	return 0;
}

void ch_path_cache_free(ch_path_cache *c)
{
	if (c == NULL)
		return;
	free(c->text);
	sk_X509_pop_free(c->path, X509_free);
	pthread_mutex_destroy(&c->mu);
	free(c);
}

/* The security context's chain as one string, or NULL (absent, array). */
static const char *json_chain_text(const cJSON *doc)
{
	const cJSON *ch = cJSON_GetObjectItemCaseSensitive(doc, "chain");

	if (ch == NULL)
		ch = cJSON_GetObjectItemCaseSensitive(doc, "chain_pem");
	if (!cJSON_IsString(ch) || ch->valuestring == NULL ||
	    ch->valuestring[0] == '\0')
		return NULL;
	return ch->valuestring;
}

static X509_STORE_CTX *verify_ctx(X509_STORE **store, X509 *trusted,
    X509 *cert, STACK_OF(X509) *untrusted, int64_t now)
{
	X509_STORE_CTX *ctx = NULL;
	X509_VERIFY_PARAM *param;

	if ((*store = X509_STORE_new()) == NULL ||
	    !X509_STORE_add_cert(*store, trusted) ||
	    (ctx = X509_STORE_CTX_new()) == NULL ||
	    !X509_STORE_CTX_init(ctx, *store, cert, untrusted)) {
		X509_STORE_CTX_free(ctx);
		return NULL;
	}
	param = X509_STORE_CTX_get0_param(ctx);
	X509_VERIFY_PARAM_set_time(param, (time_t)now);
	/* As pki_cert_verify. */
	X509_VERIFY_PARAM_set_flags(param, X509_V_FLAG_PARTIAL_CHAIN |
	    X509_V_FLAG_X509_STRICT);
	return ctx;
}

/* No policy constraints anywhere on the path, and no name constraints
 * above the issuer (the trusted end's own are applied to the leaf by
 * X509_verify_cert; those further up would not be). */
static int path_cacheable(STACK_OF(X509) *path)
{
	int i;

	for (i = 0; i < sk_X509_num(path); i++) {
		X509 *x = sk_X509_value(path, i);

		if (X509_get_ext_by_NID(x, NID_policy_constraints, -1) >= 0 ||
		    X509_get_ext_by_NID(x, NID_inhibit_any_policy, -1) >= 0 ||
		    (i > 0 && X509_get_ext_by_NID(x, NID_name_constraints, -1)
		    >= 0))
			return 0;
	}
	return sk_X509_num(path) > 0;
}

/* After a full verification succeeded: keep the path it built. */
static void path_store(ch_path_cache *c, X509 *cert, X509 *anchor,
    STACK_OF(X509) *untrusted, const char *text, int64_t now)
{
	X509_STORE *store = NULL;
	X509_STORE_CTX *ctx;
	STACK_OF(X509) *chain = NULL;
	X509 *leaf;
	char *copy = NULL;
	size_t len = strlen(text);

	if ((ctx = verify_ctx(&store, anchor, cert, untrusted, now)) == NULL ||
	    X509_verify_cert(ctx) != 1 ||
	    (chain = X509_STORE_CTX_get1_chain(ctx)) == NULL ||
	    sk_X509_num(chain) < 2 ||
	    (leaf = sk_X509_shift(chain)) == NULL)
		goto out;
	X509_free(leaf);
	if (!path_cacheable(chain) || (copy = malloc(len + 1)) == NULL)
		goto out;
	memcpy(copy, text, len + 1);
	pthread_mutex_lock(&c->mu);
	free(c->text);
	sk_X509_pop_free(c->path, X509_free);
	c->text = copy;
	c->len = len;
	c->path = chain;
	c->verified_at = now;
	pthread_mutex_unlock(&c->mu);
	copy = NULL;
	chain = NULL;
out:
	free(copy);
	sk_X509_pop_free(chain, X509_free);
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(store);
	ERR_clear_error();
}

/* 1 if cert verifies on the cached path for exactly this chain text. */
static int path_verify(ch_path_cache *c, X509 *cert, const char *text,
    int64_t now)
{
	X509_STORE *store = NULL;
	X509_STORE_CTX *ctx = NULL;
	STACK_OF(X509) *path = NULL;
	time_t t = (time_t)now;
	size_t len = strlen(text);
	int i, ok = 0;

	pthread_mutex_lock(&c->mu);
	if (c->path != NULL && c->len == len && memcmp(c->text, text, len) == 0
	    && now >= c->verified_at && now - c->verified_at < CH_PATH_TTL_S)
		path = X509_chain_up_ref(c->path);
	pthread_mutex_unlock(&c->mu);
	if (path == NULL)
		return 0;
	/* Above the issuer: valid now (the issuer itself is checked by
	 * X509_verify_cert as the trusted end). */
	for (i = 1; i < sk_X509_num(path); i++) {
		X509 *x = sk_X509_value(path, i);

		if (X509_cmp_time(X509_get0_notBefore(x), &t) >= 0 ||
		    X509_cmp_time(X509_get0_notAfter(x), &t) <= 0)
			goto out;
	}
	if ((ctx = verify_ctx(&store, sk_X509_value(path, 0), cert, NULL,
	    now)) == NULL || X509_verify_cert(ctx) != 1 ||
	    X509_STORE_CTX_get0_chain(ctx) == NULL ||
	    sk_X509_num(X509_STORE_CTX_get0_chain(ctx)) != 2 ||
	    X509_cmp(sk_X509_value(X509_STORE_CTX_get0_chain(ctx), 1),
	    sk_X509_value(path, 0)) != 0)
		goto out;
	ok = 1;
out:
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(store);
	sk_X509_pop_free(path, X509_free);
	ERR_clear_error();
	return ok;
}

int ch_context_verify(EVP_PKEY **pubkey, const char *json, size_t len,
    const char *device_id, X509 *anchor, ch_path_cache *cache, int64_t now,
    char *err, size_t errlen)
{
	static const char *const cert_names[] = { "certificate", "cert_pem",
	    "cert", NULL };
	static const char *const id_names[] = { "device_id", "deviceId", "id",
	    NULL };
	cJSON *doc = NULL;
	const cJSON *dev;
	const char *status, *pem, *id, *text;
	STACK_OF(X509) *chain = NULL;
	X509 *cert = NULL;
	EVP_PKEY *pk;
	char perr[256];
	int rc = CH_CTX_BAD_JSON, prc;

	*pubkey = NULL;
	if (json == NULL || len == 0 ||
	    (doc = cJSON_ParseWithLength(json, len)) == NULL ||
	    !cJSON_IsObject(doc)) {
		util_err_set(err, errlen, "security context is not a JSON object");
		goto out;
	}
	dev = cJSON_GetObjectItemCaseSensitive(doc, "device");
	if ((id = json_str(doc, id_names)) == NULL && cJSON_IsObject(dev))
		id = json_str(dev, id_names);
	if (id != NULL && strcmp(id, device_id) != 0) {
		util_err_set(err, errlen, "security context is for device %.64s",
		    id);
		rc = CH_CTX_INVALID_CERT;
		goto out;
	}
	if ((status = json_status(doc)) == NULL) {
		util_err_set(err, errlen, "security context has no status");
		goto out;
	}
	if (strcmp(status, "revoked") == 0) {
		util_err_set(err, errlen, "device certificate revoked");
		rc = CH_CTX_REVOKED;
		goto out;
	}
	if (strcmp(status, "suspended") == 0) {
		util_err_set(err, errlen, "device suspended");
		rc = CH_CTX_SUSPENDED;
		goto out;
	}
	if (strcmp(status, "active") != 0) {
		util_err_set(err, errlen, "device status \"%.32s\" is not active",
		    status);
		goto out;
	}
	if ((pem = json_str(doc, cert_names)) == NULL) {
		util_err_set(err, errlen, "security context has no certificate");
		goto out;
	}
	if (pki_cert_load(&cert, (const uint8_t *)pem, strlen(pem), perr,
	    sizeof(perr)) != PKI_OK) {
		util_err_set(err, errlen, "device certificate unreadable: %s", perr);
		rc = CH_CTX_INVALID_CERT;
		goto out;
	}
	text = json_chain_text(doc);
	rc = CH_CTX_INVALID_CERT;
	if (cache != NULL && text != NULL && path_verify(cache, cert, text,
	    now)) {
		if (!pki_cert_has_eku(cert, PROVCA_OID_EKU_DEVICE)) {
			util_err_set(err, errlen, "device certificate: %s "
			    "(certificate lacks extended key usage %s)",
			    pki_strerror(PKI_ERR_EKU), PROVCA_OID_EKU_DEVICE);
			goto out;
		}
	} else {
		if (json_chain(&chain, doc, perr, sizeof(perr)) != 0) {
			util_err_set(err, errlen, "device chain unreadable: %s",
			    perr);
			goto out;
		}
		prc = pki_cert_verify(cert, anchor, chain, now,
		    PROVCA_OID_EKU_DEVICE, perr, sizeof(perr));
		if (prc != PKI_OK) {
			util_err_set(err, errlen, "device certificate: %s (%s)",
			    pki_strerror(prc), perr);
			if (prc == PKI_ERR_INTERNAL || prc == PKI_ERR_ARG)
				rc = CH_CTX_INTERNAL;
			goto out;
		}
		if (cache != NULL && text != NULL)
			path_store(cache, cert, anchor, chain, text, now);
	}
	if (!cn_matches(cert, device_id)) {
		util_err_set(err, errlen, "certificate CN is not DeviceID %s",
		    device_id);
		goto out;
	}
	if ((pk = X509_get0_pubkey(cert)) == NULL) {
		util_err_openssl(err, errlen, "device public key unreadable");
		goto out;
	}
	if (!key_ok(cert, pk, err, errlen))
		goto out;
	if (!EVP_PKEY_up_ref(pk)) {
		util_err_openssl(err, errlen, "EVP_PKEY_up_ref");
		rc = CH_CTX_INTERNAL;
		goto out;
	}
	*pubkey = pk;
	rc = CH_CTX_OK;
out:
	sk_X509_pop_free(chain, X509_free);
	X509_free(cert);
	cJSON_Delete(doc);
	return rc;
}
