/* verify.c — read the CA's JSON security context of a device and decide
 * whether corehook may provision it: status active, certificate chaining to
 * the operator's anchor now, the device EKU, the keyUsage its key type
 * needs, a supported key, and the DeviceID in the certificate's CN. */
#include "ch_int.h"

#include <string.h>

#include <cjson/cJSON.h>
#include <openssl/ec.h>
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

int ch_context_verify(EVP_PKEY **pubkey, const char *json, size_t len,
    const char *device_id, X509 *anchor, int64_t now, char *err,
    size_t errlen)
{
	static const char *const cert_names[] = { "certificate", "cert_pem",
	    "cert", NULL };
	static const char *const id_names[] = { "device_id", "deviceId", "id",
	    NULL };
	cJSON *doc = NULL;
	const cJSON *dev;
	const char *status, *pem, *id;
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
	if (json_chain(&chain, doc, perr, sizeof(perr)) != 0) {
		util_err_set(err, errlen, "device chain unreadable: %s", perr);
		rc = CH_CTX_INVALID_CERT;
		goto out;
	}
	rc = CH_CTX_INVALID_CERT;
	prc = pki_cert_verify(cert, anchor, chain, now, PROVCA_OID_EKU_DEVICE,
	    perr, sizeof(perr));
	if (prc != PKI_OK) {
		util_err_set(err, errlen, "device certificate: %s (%s)",
		    pki_strerror(prc), perr);
		if (prc == PKI_ERR_INTERNAL || prc == PKI_ERR_ARG)
			rc = CH_CTX_INTERNAL;
		goto out;
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
