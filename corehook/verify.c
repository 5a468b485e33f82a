/* verify.c — read the CA's JSON security context of a device and decide
 * whether corehook may provision it: status active, certificate chaining to
 * the operator's anchor now, the device EKU, the keyUsage its key type
 * needs, a supported key, and the DeviceID in the certificate's CN. The
 * rules live here; the fast paths in front of the chain check are
 * verify_fast.c's (ch_verify_fast answers or hands over). */
#include "ch_int.h"

#include <stdint.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <openssl/err.h>
#include <openssl/objects.h>
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
static int json_chain(STACK_OF(X509) * *out, const cJSON *doc, char *err,
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
		util_err_set(err, errlen,
		    "security context chain is not a list");
		return -1;
	}
	if ((sk = sk_X509_new_null()) == NULL) {
		util_err_set(err, errlen, "out of memory");
		return -1;
	}
	cJSON_ArrayForEach(it, ch)
	{
		X509 *x = NULL;

		if (!cJSON_IsString(it) ||
		    pki_cert_load(&x, (const uint8_t *)it->valuestring,
		        strlen(it->valuestring), err, errlen) != PKI_OK)
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
	if (ent == NULL ||
	    (len = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(ent))) <
	        0)
		return 0;
	ok = (size_t)len == strlen(device_id) &&
	    memcmp(utf8, device_id, (size_t)len) == 0;
	OPENSSL_free(utf8);
	return ok;
}

/* The key is one the exchange serves (pki_device_key_kind: P-256, P-384,
 * RSA 2048/3072, exactly what the CA issues) and keyUsage fits it. */
static int key_ok(X509 *cert, EVP_PKEY *pk, char *err, size_t errlen)
{
	uint32_t ku, need;
	int kind = pki_device_key_kind(pk);

	if (!(X509_get_extension_flags(cert) & EXFLAG_KUSAGE)) {
		util_err_set(err, errlen, "device certificate has no keyUsage");
		return 0;
	}
	if (kind == PKI_DEVKEY_NONE) {
		if (EVP_PKEY_is_a(pk, "RSA"))
			util_err_set(err, errlen,
			    "device RSA key has %d bits "
			    "(2048 or 3072 served)",
			    EVP_PKEY_get_bits(pk));
		else
			util_err_set(err, errlen,
			    "device key type unsupported "
			    "(EC P-256/P-384, RSA-2048/3072 served)");
		return 0;
	}
	ku = X509_get_key_usage(cert);
	need = pki_device_key_usage(kind);
	if ((ku & need) != need) {
		util_err_set(err, errlen,
		    "device keyUsage lacks what its key"
		    " type needs (%s)",
		    (need & KU_KEY_AGREEMENT) ?
		        "digitalSignature, keyAgreement" :
		        "digitalSignature, keyEncipherment");
		return 0;
	}
	return 1;
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

/* The security context doc parsed from json: for device_id (when it names
 * one), status active, a certificate (*pem, in doc). CH_CTX_OK, or the
 * refusal with err (*doc freed by the caller either way). */
static int context_read(cJSON **doc, const char **pem, const char *json,
    size_t len, const char *device_id, char *err, size_t errlen)
{
	static const char *const cert_names[] = { "certificate", "cert_pem",
		"cert", NULL };
	static const char *const id_names[] = { "device_id", "deviceId", "id",
		NULL };
	const cJSON *dev;
	const char *status, *id;

	if (json == NULL || len == 0 ||
	    (*doc = cJSON_ParseWithLength(json, len)) == NULL ||
	    !cJSON_IsObject(*doc)) {
		util_err_set(err, errlen,
		    "security context is not a JSON object");
		return CH_CTX_BAD_JSON;
	}
	dev = cJSON_GetObjectItemCaseSensitive(*doc, "device");
	if ((id = json_str(*doc, id_names)) == NULL && cJSON_IsObject(dev))
		id = json_str(dev, id_names);
	if (id != NULL && strcmp(id, device_id) != 0) {
		util_err_set(err, errlen,
		    "security context is for device %.64s", id);
		return CH_CTX_INVALID_CERT;
	}
	if ((status = json_status(*doc)) == NULL) {
		util_err_set(err, errlen, "security context has no status");
		return CH_CTX_BAD_JSON;
	}
	if (strcmp(status, "revoked") == 0) {
		util_err_set(err, errlen, "device certificate revoked");
		return CH_CTX_REVOKED;
	}
	if (strcmp(status, "suspended") == 0) {
		util_err_set(err, errlen, "device suspended");
		return CH_CTX_SUSPENDED;
	}
	if (strcmp(status, "active") != 0) {
		util_err_set(err, errlen,
		    "device status \"%.32s\" is not active", status);
		return CH_CTX_BAD_JSON;
	}
	if ((*pem = json_str(*doc, cert_names)) == NULL) {
		util_err_set(err, errlen,
		    "security context has no certificate");
		return CH_CTX_BAD_JSON;
	}
	return CH_CTX_OK;
}

/* The full chain check of cert: doc's intermediates to anchor at now for
 * the device EKU (pki_cert_verify_chain); the path it built goes to cache
 * (when there is one and a chain text) and gives *until. CH_CTX_OK, or
 * INVALID_CERT / INTERNAL with err. */
static int chain_full(X509 *cert, const cJSON *doc, X509 *anchor,
    ch_path_cache *cache, const char *text, int64_t now, int64_t *until,
    char *err, size_t errlen)
{
	STACK_OF(X509) *chain = NULL, *built = NULL;
	char perr[256];
	int rc = CH_CTX_INVALID_CERT, prc;
	int64_t u0;

	if (json_chain(&chain, doc, perr, sizeof(perr)) != 0) {
		util_err_set(err, errlen, "device chain unreadable: %s", perr);
		goto out;
	}
	/* The chain it builds is the path to cache (no second verification)
	 * and gives the validity's end. */
	prc = pki_cert_verify_chain(cert, anchor, chain, now,
	    PROVCA_OID_EKU_DEVICE, &built, perr, sizeof(perr));
	if (prc != PKI_OK) {
		util_err_set(err, errlen, "device certificate: %s (%s)",
		    pki_strerror(prc), perr);
		if (prc == PKI_ERR_INTERNAL || prc == PKI_ERR_ARG)
			rc = CH_CTX_INTERNAL;
		goto out;
	}
	if (ch_path_valid_until(&u0, built))
		*until = u0;
	if (cache != NULL && text != NULL) {
		ch_path_cache_store(cache, built, text, now);
		built = NULL;
	}
	rc = CH_CTX_OK;
out:
	sk_X509_pop_free(built, X509_free);
	sk_X509_pop_free(chain, X509_free);
	return rc;
}

/* The leaf's own rules once its chain is verified: CN == device_id, a key
 * of pki_device_key_kind with keyUsage to match. *pubkey (up-referenced)
 * and pub_enc (may be NULL) set on CH_CTX_OK. */
static int leaf_accept(EVP_PKEY **pubkey, uint8_t pub_enc[65], X509 *cert,
    const char *device_id, char *err, size_t errlen)
{
	const ASN1_BIT_STRING *bits;
	EVP_PKEY *pk;

	if (!cn_matches(cert, device_id)) {
		util_err_set(err, errlen, "certificate CN is not DeviceID %s",
		    device_id);
		return CH_CTX_INVALID_CERT;
	}
	if ((pk = X509_get0_pubkey(cert)) == NULL) {
		util_err_openssl(err, errlen, "device public key unreadable");
		return CH_CTX_INVALID_CERT;
	}
	if (!key_ok(cert, pk, err, errlen))
		return CH_CTX_INVALID_CERT;
	if (!EVP_PKEY_up_ref(pk)) {
		util_err_openssl(err, errlen, "EVP_PKEY_up_ref");
		return CH_CTX_INTERNAL;
	}
	bits = X509_get0_pubkey_bitstr(cert);
	/* The certificate's own encoding of a P-256 key, when it is the
	 * uncompressed one (key_ok checked the curve). */
	if (pub_enc != NULL && EVP_PKEY_is_a(pk, "EC") && bits != NULL &&
	    bits->length == 65 && (bits->flags & 7) == 0 &&
	    bits->data[0] == 0x04)
		memcpy(pub_enc, bits->data, 65);
	*pubkey = pk;
	return CH_CTX_OK;
}

/* The security context read, the fast paths asked, else the full check;
 * then the leaf's rules (contract in ch_int.h). */
int ch_context_verify(EVP_PKEY **pubkey, uint8_t pub_enc[65], int *how,
    int64_t *valid_until, const char *json, size_t len, const char *device_id,
    X509 *anchor, ch_path_cache *cache, int64_t now, char *err, size_t errlen)
{
	cJSON *doc = NULL;
	const char *pem = NULL, *text;
	X509 *cert = NULL;
	char perr[256];
	int rc, path = CH_FAST_HANDOVER;
	int64_t until = now + 1;

	*pubkey = NULL;
	if (pub_enc != NULL)
		pub_enc[0] = 0;
	if ((rc = context_read(&doc, &pem, json, len, device_id, err,
	         errlen)) != CH_CTX_OK)
		goto out;
	text = json_chain_text(doc);
	if (cache != NULL && text != NULL)
		path = ch_verify_fast(pubkey, pub_enc, &cert, &until, cache,
		    pem, text, device_id, now);
	if (path == CH_CHECK_FAST)
		goto out;
	if (cert == NULL &&
	    pki_cert_load(&cert, (const uint8_t *)pem, strlen(pem), perr,
	        sizeof(perr)) != PKI_OK) {
		util_err_set(err, errlen, "device certificate unreadable: %s",
		    perr);
		rc = CH_CTX_INVALID_CERT;
		goto out;
	}
	if (path == CH_CHECK_CACHED) {
		if (!pki_cert_has_eku(cert, PROVCA_OID_EKU_DEVICE)) {
			util_err_set(err, errlen,
			    "device certificate: %s "
			    "(certificate lacks extended key usage %s)",
			    pki_strerror(PKI_ERR_EKU), PROVCA_OID_EKU_DEVICE);
			rc = CH_CTX_INVALID_CERT;
			goto out;
		}
	} else {
		path = CH_CHECK_FULL;
		if ((rc = chain_full(cert, doc, anchor, cache, text, now,
		         &until, err, errlen)) != CH_CTX_OK)
			goto out;
	}
	rc = leaf_accept(pubkey, pub_enc, cert, device_id, err, errlen);
out:
	if (rc == CH_CTX_OK && how != NULL)
		*how = path;
	if (rc == CH_CTX_OK && valid_until != NULL)
		*valid_until = until;
	X509_free(cert);
	cJSON_Delete(doc);
	return rc;
}
