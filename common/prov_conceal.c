/* prov_conceal.c — the concealed provisioning request: the whole signed
 * request TLV (version 2), length-prefixed and zero-padded to a multiple of
 * 64 octets, sealed with SUCI's ECIES scheme (common/suci.c, Profile A or
 * B) to the core's onboarding public key its key id names. Layout in
 * docs/protocol.md, "Concealed provisioning request". */
#include "prov.h"

#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "suci.h"
#include "util.h"

#define REQ_VERSION_CONCEALED 0x03

/* Label of the DeviceID that stands in a container answering a concealed
 * request (prov_concealed_device_id). */
static const char pseudo_label[] = "ProvCA concealed DeviceID";
#define HDR_LEN 3 /* version, protection scheme, key id */

/* Padded plaintext length for a request of reqlen octets. */
static size_t padded_len(size_t reqlen)
{
	size_t n = 2 + reqlen;

	return (n + PROV_CONCEAL_PAD - 1) / PROV_CONCEAL_PAD * PROV_CONCEAL_PAD;
}

/* Ephemeral public key length of a protection scheme (0 if unknown). */
static size_t eph_len(int profile)
{
	return profile == SUCI_SCHEME_PROFILE_A ? SUCI_PUB_A_LEN :
	    profile == SUCI_SCHEME_PROFILE_B    ? SUCI_PUB_B_LEN :
	                                          0;
}

int prov_request_conceal(uint8_t *out, size_t outcap, size_t *outlen,
    const uint8_t *req, size_t reqlen, int profile, uint8_t key_id,
    const uint8_t *pub, size_t publen, const uint8_t *eph_priv, char *err,
    size_t errlen)
{
	uint8_t pt[PROV_CONCEALED_MAX];
	size_t ptlen, solen = 0;
	int rc = PROV_ERR_ARG;

	if (outlen != NULL)
		*outlen = 0;
	if (out == NULL || outlen == NULL || req == NULL || pub == NULL ||
	    eph_len(profile) == 0 || reqlen == 0 || reqlen > PROV_REQUEST_MAX ||
	    req[0] != 0x02) {
		util_err_set(err, errlen,
		    "conceal: need a signed request and a "
		    "Profile A or B key");
		return PROV_ERR_ARG;
	}
	ptlen = padded_len(reqlen);
	if (outcap < HDR_LEN + eph_len(profile) + ptlen + SUCI_TAG_LEN) {
		util_err_set(err, errlen, "conceal: no room");
		return PROV_ERR_TOO_LARGE;
	}
	memset(pt, 0, ptlen);
	pt[0] = (uint8_t)(reqlen >> 8);
	pt[1] = (uint8_t)reqlen;
	memcpy(pt + 2, req, reqlen);
	out[0] = REQ_VERSION_CONCEALED;
	out[1] = (uint8_t)profile;
	out[2] = key_id;
	if (suci_ecies_seal(out + HDR_LEN, outcap - HDR_LEN, &solen, profile,
	        pub, publen, pt, ptlen, eph_priv, err, errlen) != SUCI_OK) {
		rc = PROV_ERR_KEY_TYPE;
		goto out;
	}
	*outlen = HDR_LEN + solen;
	rc = PROV_OK;
out:
	OPENSSL_cleanse(pt, sizeof(pt));
	return rc;
}

int prov_request_concealed(const uint8_t *buf, size_t len, int *profile,
    uint8_t *key_id)
{
	if (buf == NULL || len < HDR_LEN || buf[0] != REQ_VERSION_CONCEALED)
		return 0;
	if (profile != NULL)
		*profile = buf[1];
	if (key_id != NULL)
		*key_id = buf[2];
	return 1;
}

/* Check the opened plaintext (length, version 2, zero padding to the next
 * multiple) and copy the request out. */
static int plain_take(uint8_t *out, size_t outcap, size_t *outlen,
    const uint8_t *pt, size_t ptlen, char *err, size_t errlen)
{
	size_t n, i;

	n = ((size_t)pt[0] << 8) | pt[1];
	if (n == 0 || n > PROV_REQUEST_MAX || n > outcap || 2 + n > ptlen ||
	    padded_len(n) != ptlen || pt[2] != 0x02) {
		util_err_set(err, errlen,
		    "concealed request: bad inner length, "
		    "padding or version");
		return PROV_ERR_FORMAT;
	}
	for (i = 2 + n; i < ptlen; i++)
		if (pt[i] != 0) {
			util_err_set(err, errlen,
			    "concealed request: padding "
			    "not zero");
			return PROV_ERR_FORMAT;
		}
	memcpy(out, pt + 2, n);
	*outlen = n;
	return PROV_OK;
}

int prov_request_deconceal(uint8_t *out, size_t outcap, size_t *outlen,
    const uint8_t *buf, size_t len, EVP_PKEY *key, char *err, size_t errlen)
{
	uint8_t pt[PROV_CONCEALED_MAX];
	size_t ptlen = 0, el;
	int profile, r, rc;

	if (outlen != NULL)
		*outlen = 0;
	if (out == NULL || outlen == NULL || key == NULL ||
	    !prov_request_concealed(buf, len, &profile, NULL)) {
		util_err_set(err, errlen, "not a concealed request");
		return PROV_ERR_ARG;
	}
	el = eph_len(profile);
	if (el == 0) {
		util_err_set(err, errlen,
		    "concealed request: protection "
		    "scheme %d unknown",
		    profile);
		return PROV_ERR_FORMAT;
	}
	if (len > PROV_CONCEALED_MAX) {
		util_err_set(err, errlen,
		    "concealed request longer than %d "
		    "octets",
		    PROV_CONCEALED_MAX);
		return PROV_ERR_TOO_LARGE;
	}
	if (len < HDR_LEN + el + PROV_CONCEAL_PAD + SUCI_TAG_LEN ||
	    (len - HDR_LEN - el - SUCI_TAG_LEN) % PROV_CONCEAL_PAD != 0) {
		util_err_set(err, errlen,
		    "concealed request: length %zu is not "
		    "header + key + padded blocks + tag",
		    len);
		return PROV_ERR_FORMAT;
	}
	r = suci_ecies_open(pt, sizeof(pt), &ptlen, profile, key, buf + HDR_LEN,
	    len - HDR_LEN, err, errlen);
	if (r == SUCI_ERR_TAG || r == SUCI_ERR_SCHEME) {
		rc = PROV_ERR_CONCEAL;
		goto out;
	}
	if (r != SUCI_OK) {
		rc = r == SUCI_ERR_CRYPTO ? PROV_ERR_INTERNAL : PROV_ERR_FORMAT;
		goto out;
	}
	rc = plain_take(out, outcap, outlen, pt, ptlen, err, errlen);
out:
	OPENSSL_cleanse(pt, sizeof(pt));
	return rc;
}

int prov_concealed_device_id(char *out, size_t cap, const prov_request_t *req,
    const char *device_id)
{
	uint8_t md[32];
	unsigned mdlen = 0;
	EVP_MD_CTX *ctx = NULL;
	int rc = PROV_ERR_INTERNAL;

	if (out == NULL || cap < 34 || req == NULL || device_id == NULL ||
	    req->sig_len == 0 || req->sig_len > PROV_REQ_SIG_MAX)
		return PROV_ERR_ARG;
	if ((ctx = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1 ||
	    EVP_DigestUpdate(ctx, pseudo_label, sizeof(pseudo_label)) != 1 ||
	    EVP_DigestUpdate(ctx, req->sig, req->sig_len) != 1 ||
	    EVP_DigestUpdate(ctx, device_id, strlen(device_id)) != 1 ||
	    EVP_DigestFinal_ex(ctx, md, &mdlen) != 1 || mdlen != sizeof(md))
		goto out;
	out[0] = 'x';
	util_hex_encode(out + 1, md, 16);
	rc = PROV_OK;
out:
	EVP_MD_CTX_free(ctx);
	return rc;
}
