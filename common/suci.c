/* suci.c — SUCI concealment and de-concealment (ECIES Profiles A and B of
 * TS 33.501 Annex C.3, null scheme) and the TS 23.003 §2.2B string form.
 * Every primitive is OpenSSL's: X25519 / P-256 ECDH (EVP_PKEY_derive), the
 * X9.63 KDF (EVP_KDF "X963KDF"), AES-128-CTR and HMAC-SHA-256. */
#include "suci.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/hmac.h>
#include <openssl/kdf.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>

#include "util.h"

#define KD_ENC 0 /* X9.63 output: enc key 16 || ICB 16 || MAC key 32 */
#define KD_ICB 16
#define KD_MAC 32
#define KD_LEN 64
#define KEYFILE_MAX 8192

/* Public key length of a profile's scheme output. */
static size_t eph_pub_len(int profile)
{
	return profile == SUCI_SCHEME_PROFILE_A ? SUCI_PUB_A_LEN :
	                                          SUCI_PUB_B_LEN;
}

static int profile_ok(int profile)
{
	return profile == SUCI_SCHEME_PROFILE_A ||
	    profile == SUCI_SCHEME_PROFILE_B;
}

/* P-256 key pair from a 32-octet scalar (1 <= d < n): OpenSSL computes the
 * public point, the provider gets both halves. */
static int p256_from_priv(EVP_PKEY **out, const uint8_t *priv)
{
	EC_GROUP *g = EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1);
	EC_POINT *pt = NULL;
	BIGNUM *d = BN_bin2bn(priv, SUCI_PRIV_LEN, NULL);
	OSSL_PARAM_BLD *bld = NULL;
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *pc = NULL;
	uint8_t pub[SUCI_PUB_B_FULL_LEN];
	int rc = SUCI_ERR_CRYPTO;

	if (g == NULL || d == NULL || (pt = EC_POINT_new(g)) == NULL)
		goto out;
	if (BN_is_zero(d) || BN_cmp(d, EC_GROUP_get0_order(g)) >= 0) {
		rc = SUCI_ERR_ARG;
		goto out;
	}
	if (EC_POINT_mul(g, pt, d, NULL, NULL, NULL) != 1 ||
	    EC_POINT_point2oct(g, pt, POINT_CONVERSION_UNCOMPRESSED, pub,
	        sizeof(pub), NULL) != sizeof(pub) ||
	    (bld = OSSL_PARAM_BLD_new()) == NULL ||
	    OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME,
	        "P-256", 0) != 1 ||
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PRIV_KEY, d) != 1 ||
	    OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pub,
	        sizeof(pub)) != 1 ||
	    (params = OSSL_PARAM_BLD_to_param(bld)) == NULL ||
	    (pc = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL)) == NULL ||
	    EVP_PKEY_fromdata_init(pc) != 1 ||
	    EVP_PKEY_fromdata(pc, out, EVP_PKEY_KEYPAIR, params) != 1)
		goto out;
	rc = SUCI_OK;
out:
	EVP_PKEY_CTX_free(pc);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	EC_POINT_free(pt);
	BN_clear_free(d);
	EC_GROUP_free(g);
	return rc;
}

/* A profile's key pair from a raw 32-octet private key. */
static int key_from_priv(EVP_PKEY **out, int profile, const uint8_t *priv)
{
	*out = NULL;
	if (profile == SUCI_SCHEME_PROFILE_B)
		return p256_from_priv(out, priv);
	*out = EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, NULL, priv,
	    SUCI_PRIV_LEN);
	return *out != NULL ? SUCI_OK : SUCI_ERR_CRYPTO;
}

/* A peer public key: X25519 raw (A) or a P-256 point (B, either form;
 * OpenSSL checks it is on the curve). */
static int key_from_pub(EVP_PKEY **out, int profile, const uint8_t *pub,
    size_t len)
{
	OSSL_PARAM params[3];
	EVP_PKEY_CTX *pc = NULL;
	int rc = SUCI_ERR_ARG;

	*out = NULL;
	if (profile == SUCI_SCHEME_PROFILE_A) {
		if (len != SUCI_PUB_A_LEN)
			return SUCI_ERR_ARG;
		*out = EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, NULL, pub,
		    len);
		return *out != NULL ? SUCI_OK : SUCI_ERR_ARG;
	}
	if (!((len == SUCI_PUB_B_LEN && (pub[0] == 2 || pub[0] == 3)) ||
	        (len == SUCI_PUB_B_FULL_LEN && pub[0] == 4)))
		return SUCI_ERR_ARG;
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME,
	    (char *)"P-256", 0);
	params[1] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY,
	    (void *)pub, len);
	params[2] = OSSL_PARAM_construct_end();
	if ((pc = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL)) != NULL &&
	    EVP_PKEY_fromdata_init(pc) == 1 &&
	    EVP_PKEY_fromdata(pc, out, EVP_PKEY_PUBLIC_KEY, params) == 1)
		rc = SUCI_OK;
	EVP_PKEY_CTX_free(pc);
	return rc;
}

/* The public key a profile sends: X25519 raw, or the P-256 point in
 * compressed form (OpenSSL re-encodes the point it holds). */
static int pub_encode(uint8_t *out, size_t cap, size_t *outlen, int profile,
    EVP_PKEY *k)
{
	uint8_t full[SUCI_PUB_B_FULL_LEN];
	EC_GROUP *g = NULL;
	EC_POINT *pt = NULL;
	size_t n = cap;
	int rc = SUCI_ERR_CRYPTO;

	if (profile == SUCI_SCHEME_PROFILE_A) {
		if (EVP_PKEY_get_raw_public_key(k, out, &n) != 1 ||
		    n != SUCI_PUB_A_LEN)
			return SUCI_ERR_CRYPTO;
		*outlen = n;
		return SUCI_OK;
	}
	if (cap < SUCI_PUB_B_LEN ||
	    EVP_PKEY_get_octet_string_param(k, OSSL_PKEY_PARAM_PUB_KEY, full,
	        sizeof(full), &n) != 1 ||
	    (g = EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1)) == NULL ||
	    (pt = EC_POINT_new(g)) == NULL ||
	    EC_POINT_oct2point(g, pt, full, n, NULL) != 1 ||
	    EC_POINT_point2oct(g, pt, POINT_CONVERSION_COMPRESSED, out,
	        SUCI_PUB_B_LEN, NULL) != SUCI_PUB_B_LEN)
		goto out;
	*outlen = SUCI_PUB_B_LEN;
	rc = SUCI_OK;
out:
	EC_POINT_free(pt);
	EC_GROUP_free(g);
	return rc;
}

/* Shared secret Z (32 octets: X25519 output or the P-256 x coordinate)
 * followed by the X9.63 KDF with SharedInfo = the ephemeral public key. */
static int ecies_keys(uint8_t *kd, EVP_PKEY *mine, EVP_PKEY *peer,
    const uint8_t *eph_pub, size_t eph_len)
{
	EVP_PKEY_CTX *dc = EVP_PKEY_CTX_new(mine, NULL);
	EVP_KDF *kdf = NULL;
	EVP_KDF_CTX *kc = NULL;
	OSSL_PARAM p[4];
	uint8_t z[32];
	size_t zlen = sizeof(z);
	int rc = SUCI_ERR_CRYPTO;

	if (dc == NULL || EVP_PKEY_derive_init(dc) != 1 ||
	    EVP_PKEY_derive_set_peer(dc, peer) != 1 ||
	    EVP_PKEY_derive(dc, z, &zlen) != 1 || zlen != sizeof(z))
		goto out;
	p[0] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST,
	    (char *)"SHA256", 0);
	p[1] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, z, zlen);
	p[2] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO,
	    (void *)eph_pub, eph_len);
	p[3] = OSSL_PARAM_construct_end();
	if ((kdf = EVP_KDF_fetch(NULL, "X963KDF", NULL)) == NULL ||
	    (kc = EVP_KDF_CTX_new(kdf)) == NULL ||
	    EVP_KDF_derive(kc, kd, KD_LEN, p) != 1)
		goto out;
	rc = SUCI_OK;
out:
	OPENSSL_cleanse(z, sizeof(z));
	EVP_KDF_CTX_free(kc);
	EVP_KDF_free(kdf);
	EVP_PKEY_CTX_free(dc);
	return rc;
}

/* AES-128-CTR of len octets under kd's encryption key and ICB. */
static int ecies_ctr(uint8_t *out, const uint8_t *kd, const uint8_t *in,
    size_t len)
{
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	int n = 0, ok;

	ok = c != NULL &&
	    EVP_EncryptInit_ex(c, EVP_aes_128_ctr(), NULL, kd + KD_ENC,
	        kd + KD_ICB) == 1 &&
	    EVP_EncryptUpdate(c, out, &n, in, (int)len) == 1 &&
	    (size_t)n == len;
	EVP_CIPHER_CTX_free(c);
	return ok ? SUCI_OK : SUCI_ERR_CRYPTO;
}

/* The 8-octet tag: HMAC-SHA-256(MAC key, ciphertext) truncated. */
static int ecies_tag(uint8_t *tag, const uint8_t *kd, const uint8_t *ct,
    size_t len)
{
	uint8_t md[EVP_MAX_MD_SIZE];
	unsigned mdlen = 0;

	if (HMAC(EVP_sha256(), kd + KD_MAC, KD_LEN - KD_MAC, ct, len, md,
	        &mdlen) == NULL ||
	    mdlen < SUCI_TAG_LEN)
		return SUCI_ERR_CRYPTO;
	memcpy(tag, md, SUCI_TAG_LEN);
	return SUCI_OK;
}

/* MSIN digits as TBCD (two digits an octet, low nibble first, 0xF fill). */
static int msin_to_bcd(uint8_t *out, size_t *outlen, const char *msin)
{
	size_t n = strlen(msin), i;

	if (n == 0 || n > SUCI_MSIN_MAX)
		return SUCI_ERR_ARG;
	for (i = 0; i < n; i++)
		if (msin[i] < '0' || msin[i] > '9')
			return SUCI_ERR_ARG;
	for (i = 0; i < n; i += 2) {
		uint8_t hi = i + 1 < n ? (uint8_t)(msin[i + 1] - '0') : 0x0F;

		out[i / 2] = (uint8_t)((hi << 4) | (msin[i] - '0'));
	}
	*outlen = (n + 1) / 2;
	return SUCI_OK;
}

static int bcd_to_msin(char *out, size_t cap, const uint8_t *bcd, size_t len)
{
	size_t i, n = 0;

	for (i = 0; i < len; i++) {
		uint8_t lo = bcd[i] & 0x0F, hi = bcd[i] >> 4;

		if (lo > 9 || n + 3 > cap)
			return SUCI_ERR_ARG;
		out[n++] = (char)('0' + lo);
		if (hi == 0x0F && i == len - 1)
			break;
		if (hi > 9)
			return SUCI_ERR_ARG;
		out[n++] = (char)('0' + hi);
	}
	out[n] = '\0';
	return SUCI_OK;
}

/* The ephemeral key: fixed (test data) or fresh from OpenSSL. */
static int eph_key(EVP_PKEY **out, int profile, const uint8_t *eph_priv)
{
	if (eph_priv != NULL)
		return key_from_priv(out, profile, eph_priv);
	if (profile == SUCI_SCHEME_PROFILE_A)
		*out = EVP_PKEY_Q_keygen(NULL, NULL, "X25519");
	else
		*out = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	return *out != NULL ? SUCI_OK : SUCI_ERR_CRYPTO;
}

int suci_ecies_seal(uint8_t *out, size_t outcap, size_t *outlen, int profile,
    const uint8_t *hn_pub, size_t hn_pub_len, const uint8_t *in, size_t inlen,
    const uint8_t *eph_priv, char *err, size_t errlen)
{
	EVP_PKEY *peer = NULL, *eph = NULL;
	uint8_t kd[KD_LEN];
	size_t plen = 0;
	int rc;

	if (outlen != NULL)
		*outlen = 0;
	if (out == NULL || outlen == NULL || hn_pub == NULL || in == NULL ||
	    !profile_ok(profile) || inlen == 0 || inlen > SUCI_ECIES_IN_MAX ||
	    outcap < SUCI_PUB_B_LEN + inlen + SUCI_TAG_LEN) {
		util_err_set(err, errlen, "ecies: bad argument");
		return SUCI_ERR_ARG;
	}
	if ((rc = key_from_pub(&peer, profile, hn_pub, hn_pub_len)) !=
	    SUCI_OK) {
		util_err_openssl(err, errlen,
		    "ecies: public key is not a "
		    "Profile %c key",
		    profile == 1 ? 'A' : 'B');
		goto out;
	}
	if ((rc = eph_key(&eph, profile, eph_priv)) != SUCI_OK ||
	    (rc = pub_encode(out, outcap, &plen, profile, eph)) != SUCI_OK ||
	    (rc = ecies_keys(kd, eph, peer, out, plen)) != SUCI_OK ||
	    (rc = ecies_ctr(out + plen, kd, in, inlen)) != SUCI_OK ||
	    (rc = ecies_tag(out + plen + inlen, kd, out + plen, inlen)) !=
	        SUCI_OK) {
		util_err_openssl(err, errlen, "ecies: concealment failed");
		goto out;
	}
	*outlen = plen + inlen + SUCI_TAG_LEN;
out:
	OPENSSL_cleanse(kd, sizeof(kd));
	EVP_PKEY_free(eph);
	EVP_PKEY_free(peer);
	return rc;
}

int suci_scheme_conceal(uint8_t *out, size_t outcap, size_t *outlen,
    int profile, const uint8_t *hn_pub, size_t hn_pub_len, const char *msin,
    const uint8_t *eph_priv, char *err, size_t errlen)
{
	uint8_t bcd[SUCI_MSIN_BCD_MAX];
	size_t bcdlen = 0;
	int rc;

	if (outlen != NULL)
		*outlen = 0;
	if (out == NULL || outlen == NULL || hn_pub == NULL || msin == NULL ||
	    !profile_ok(profile) || outcap < SUCI_OUTPUT_MAX) {
		util_err_set(err, errlen, "suci: bad argument");
		return SUCI_ERR_ARG;
	}
	if ((rc = msin_to_bcd(bcd, &bcdlen, msin)) != SUCI_OK) {
		util_err_set(err, errlen, "suci: MSIN must be 1-10 digits");
		return rc;
	}
	rc = suci_ecies_seal(out, outcap, outlen, profile, hn_pub, hn_pub_len,
	    bcd, bcdlen, eph_priv, err, errlen);
	OPENSSL_cleanse(bcd, sizeof(bcd));
	return rc;
}

/* 1 if hn_key is the kind of key profile needs. */
static int key_fits(EVP_PKEY *k, int profile)
{
	char group[32];
	size_t glen = 0;

	if (profile == SUCI_SCHEME_PROFILE_A)
		return EVP_PKEY_is_a(k, "X25519");
	return EVP_PKEY_is_a(k, "EC") &&
	    EVP_PKEY_get_utf8_string_param(k, OSSL_PKEY_PARAM_GROUP_NAME, group,
	        sizeof(group), &glen) == 1 &&
	    strcmp(group, "prime256v1") == 0;
}

int suci_ecies_open(uint8_t *out, size_t outcap, size_t *outlen, int profile,
    EVP_PKEY *hn_key, const uint8_t *so, size_t solen, char *err, size_t errlen)
{
	EVP_PKEY *peer = NULL;
	uint8_t kd[KD_LEN], tag[SUCI_TAG_LEN];
	size_t plen = eph_pub_len(profile), ctlen;
	int rc = SUCI_ERR_ARG;

	if (outlen != NULL)
		*outlen = 0;
	if (out == NULL || outlen == NULL || hn_key == NULL || so == NULL ||
	    !profile_ok(profile) || solen <= plen + SUCI_TAG_LEN ||
	    solen - plen - SUCI_TAG_LEN > outcap ||
	    solen - plen - SUCI_TAG_LEN > SUCI_ECIES_IN_MAX) {
		util_err_set(err, errlen,
		    "ecies: scheme output has a bad length");
		return SUCI_ERR_ARG;
	}
	ctlen = solen - plen - SUCI_TAG_LEN;
	if (!key_fits(hn_key, profile)) {
		util_err_set(err, errlen,
		    "ecies: private key does not fit "
		    "Profile %c",
		    profile == 1 ? 'A' : 'B');
		return SUCI_ERR_SCHEME;
	}
	if (profile == SUCI_SCHEME_PROFILE_B && so[0] != 2 && so[0] != 3) {
		util_err_set(err, errlen,
		    "ecies: ephemeral key not compressed");
		return SUCI_ERR_ARG;
	}
	if ((rc = key_from_pub(&peer, profile, so, plen)) != SUCI_OK) {
		util_err_openssl(err, errlen,
		    "ecies: bad ephemeral public key");
		goto out;
	}
	if ((rc = ecies_keys(kd, hn_key, peer, so, plen)) != SUCI_OK ||
	    (rc = ecies_tag(tag, kd, so + plen, ctlen)) != SUCI_OK) {
		util_err_openssl(err, errlen, "ecies: de-concealment failed");
		goto out;
	}
	if (CRYPTO_memcmp(tag, so + plen + ctlen, SUCI_TAG_LEN) != 0) {
		util_err_set(err, errlen, "ecies: MAC tag does not verify");
		rc = SUCI_ERR_TAG;
		goto out;
	}
	if ((rc = ecies_ctr(out, kd, so + plen, ctlen)) != SUCI_OK) {
		util_err_openssl(err, errlen, "ecies: deciphering failed");
		goto out;
	}
	*outlen = ctlen;
out:
	OPENSSL_cleanse(kd, sizeof(kd));
	EVP_PKEY_free(peer);
	return rc;
}

int suci_scheme_deconceal(char *msin, size_t msincap, int profile,
    EVP_PKEY *hn_key, const uint8_t *so, size_t solen, char *err, size_t errlen)
{
	uint8_t bcd[SUCI_MSIN_BCD_MAX];
	size_t plen = eph_pub_len(profile), bcdlen = 0;
	int rc;

	if (msin == NULL || hn_key == NULL || so == NULL ||
	    !profile_ok(profile) || solen <= plen + SUCI_TAG_LEN ||
	    solen - plen - SUCI_TAG_LEN > SUCI_MSIN_BCD_MAX) {
		util_err_set(err, errlen,
		    "suci: scheme output has a bad length");
		return SUCI_ERR_ARG;
	}
	rc = suci_ecies_open(bcd, sizeof(bcd), &bcdlen, profile, hn_key, so,
	    solen, err, errlen);
	if (rc == SUCI_OK &&
	    (rc = bcd_to_msin(msin, msincap, bcd, bcdlen)) != SUCI_OK)
		util_err_set(err, errlen, "suci: concealed MSIN is not BCD");
	OPENSSL_cleanse(bcd, sizeof(bcd));
	return rc;
}

/* 1 if s is min..max decimal digits. */
static int digits(const char *s, size_t min, size_t max)
{
	size_t n = strlen(s), i;

	if (n < min || n > max)
		return 0;
	for (i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return 0;
	return 1;
}

int suci_make(suci_t *out, const char *supi, int mnc_digits, int scheme,
    const uint8_t *hn_pub, size_t hn_pub_len, uint8_t key_id,
    const char *routing, const uint8_t *eph_priv, char *err, size_t errlen)
{
	const char *d;
	size_t n;

	if (out == NULL)
		return SUCI_ERR_ARG;
	memset(out, 0, sizeof(*out));
	if (routing == NULL)
		routing = "0";
	if (supi == NULL || strncmp(supi, "imsi-", 5) != 0 ||
	    !digits(supi + 5, 6, 15) || (mnc_digits != 2 && mnc_digits != 3) ||
	    strlen(supi + 5) < (size_t)(3 + mnc_digits + 1) ||
	    strlen(supi + 5) - 3 - (size_t)mnc_digits > SUCI_MSIN_MAX ||
	    !digits(routing, 1, 4) ||
	    (scheme != SUCI_SCHEME_NULL && !profile_ok(scheme))) {
		util_err_set(err, errlen,
		    "suci: need imsi-MCCMNCMSIN, MNC of 2 "
		    "or 3 digits, routing indicator of 1-4 digits");
		return SUCI_ERR_ARG;
	}
	d = supi + 5;
	n = strlen(d);
	memcpy(out->mcc, d, 3);
	memcpy(out->mnc, d + 3, (size_t)mnc_digits);
	memcpy(out->msin, d + 3 + mnc_digits, n - 3 - (size_t)mnc_digits);
	snprintf(out->routing, sizeof(out->routing), "%s", routing);
	out->scheme = (uint8_t)scheme;
	if (scheme == SUCI_SCHEME_NULL)
		return SUCI_OK;
	out->key_id = key_id;
	return suci_scheme_conceal(out->out, sizeof(out->out), &out->out_len,
	    scheme, hn_pub, hn_pub_len, out->msin, eph_priv, err, errlen);
}

int suci_to_supi(char *supi, size_t cap, const suci_t *s, EVP_PKEY *hn_key,
    char *err, size_t errlen)
{
	char msin[SUCI_MSIN_MAX + 1];
	int rc;

	if (supi == NULL || s == NULL || cap < SUCI_SUPI_MAX)
		return SUCI_ERR_ARG;
	if (s->scheme == SUCI_SCHEME_NULL) {
		snprintf(msin, sizeof(msin), "%s", s->msin);
	} else if (hn_key == NULL) {
		util_err_set(err, errlen,
		    "suci: no home network key for "
		    "scheme %u key id %u",
		    s->scheme, s->key_id);
		return SUCI_ERR_SCHEME;
	} else if ((rc = suci_scheme_deconceal(msin, sizeof(msin), s->scheme,
	                hn_key, s->out, s->out_len, err, errlen)) != SUCI_OK)
		return rc;
	if (strlen(s->mcc) + strlen(s->mnc) + strlen(msin) > 15) {
		util_err_set(err, errlen, "suci: SUPI longer than 15 digits");
		return SUCI_ERR_ARG;
	}
	snprintf(supi, cap, "imsi-%s%s%s", s->mcc, s->mnc, msin);
	OPENSSL_cleanse(msin, sizeof(msin));
	return SUCI_OK;
}

int suci_string_format(char *out, size_t cap, const suci_t *s)
{
	char hex[2 * SUCI_OUTPUT_MAX + 1];
	int n;

	if (out == NULL || s == NULL || s->out_len > SUCI_OUTPUT_MAX)
		return SUCI_ERR_ARG;
	if (s->scheme == SUCI_SCHEME_NULL)
		snprintf(hex, sizeof(hex), "%s", s->msin);
	else
		util_hex_encode(hex, s->out, s->out_len);
	n = snprintf(out, cap, "suci-0-%s-%s-%s-%u-%u-%s", s->mcc, s->mnc,
	    s->routing, s->scheme, s->key_id, hex);
	return n > 0 && (size_t)n < cap ? SUCI_OK : SUCI_ERR_ARG;
}

/* Copy field i of the '-'-separated str (at most cap-1 characters). */
static int field(char *out, size_t cap, const char *str, int i)
{
	const char *p = str, *e;

	while (i-- > 0) {
		if ((p = strchr(p, '-')) == NULL)
			return -1;
		p++;
	}
	e = strchr(p, '-');
	if (e == NULL)
		e = p + strlen(p);
	if ((size_t)(e - p) >= cap)
		return -1;
	memcpy(out, p, (size_t)(e - p));
	out[e - p] = '\0';
	return 0;
}

int suci_string_parse(suci_t *out, const char *str, char *err, size_t errlen)
{
	char f[8][2 * SUCI_OUTPUT_MAX + 1];
	int i;
	size_t hexlen;

	if (out == NULL)
		return SUCI_ERR_ARG;
	memset(out, 0, sizeof(*out));
	if (str == NULL || strlen(str) >= SUCI_STR_MAX)
		goto bad;
	for (i = 0; i < 8; i++)
		if (field(f[i], sizeof(f[i]), str, i) != 0)
			goto bad;
	if (field(f[0], sizeof(f[0]), str, 8) == 0 ||
	    strcmp(f[0], "suci") != 0 || strcmp(f[1], "0") != 0 ||
	    !digits(f[2], 3, 3) || !digits(f[3], 2, 3) || !digits(f[4], 1, 4) ||
	    !digits(f[5], 1, 2) || atoi(f[5]) > 2 || !digits(f[6], 1, 3) ||
	    atoi(f[6]) > 255)
		goto bad;
	memcpy(out->mcc, f[2], 4);
	memcpy(out->mnc, f[3], strlen(f[3]) + 1);
	memcpy(out->routing, f[4], strlen(f[4]) + 1);
	out->scheme = (uint8_t)atoi(f[5]);
	out->key_id = (uint8_t)atoi(f[6]);
	if (out->scheme == SUCI_SCHEME_NULL) {
		if (!digits(f[7], 1, SUCI_MSIN_MAX) || out->key_id != 0)
			goto bad;
		memcpy(out->msin, f[7], strlen(f[7]) + 1);
		return SUCI_OK;
	}
	hexlen = strlen(f[7]);
	if (hexlen % 2 != 0 || hexlen / 2 > SUCI_OUTPUT_MAX ||
	    util_hex_decode(out->out, hexlen / 2, f[7]) != 0)
		goto bad;
	out->out_len = hexlen / 2;
	return SUCI_OK;
bad:
	memset(out, 0, sizeof(*out));
	util_err_set(err, errlen,
	    "suci: not a SUCI of the form "
	    "suci-0-MCC-MNC-RI-SCHEME-KEYID-OUTPUT");
	return SUCI_ERR_ARG;
}

/* The contents of a small file (at most KEYFILE_MAX octets), NUL-ended. */
static int file_slurp(char *buf, size_t cap, size_t *len, const char *path)
{
	FILE *fp = fopen(path, "rb");
	size_t n;

	if (fp == NULL)
		return -1;
	n = fread(buf, 1, cap - 1, fp);
	if (ferror(fp) || !feof(fp)) {
		fclose(fp);
		return -1;
	}
	fclose(fp);
	buf[n] = '\0';
	*len = n;
	return 0;
}

int suci_hn_key_load(EVP_PKEY **out, int profile, const char *file_or_hex,
    char *err, size_t errlen)
{
	char *buf = NULL;
	uint8_t raw[SUCI_PRIV_LEN];
	size_t len = 0;
	BIO *bio = NULL;
	int rc = SUCI_ERR_ARG;

	if (out == NULL)
		return SUCI_ERR_ARG;
	*out = NULL;
	if (file_or_hex == NULL || !profile_ok(profile))
		goto out;
	if (util_hex_decode(raw, sizeof(raw), file_or_hex) == 0) {
		rc = key_from_priv(out, profile, raw);
		goto out;
	}
	if ((buf = OPENSSL_zalloc(KEYFILE_MAX + 1)) == NULL ||
	    file_slurp(buf, KEYFILE_MAX + 1, &len, file_or_hex) != 0) {
		util_err_set(err, errlen, "suci: cannot read key file %s",
		    file_or_hex);
		rc = SUCI_ERR_IO;
		goto out;
	}
	while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
		buf[--len] = '\0';
	if (util_hex_decode(raw, sizeof(raw), buf) == 0)
		rc = key_from_priv(out, profile, raw);
	else if ((bio = BIO_new_mem_buf(buf, (int)len)) != NULL &&
	    (*out = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL)) != NULL)
		rc = SUCI_OK;
out:
	if (rc == SUCI_OK && !key_fits(*out, profile)) {
		EVP_PKEY_free(*out);
		*out = NULL;
		rc = SUCI_ERR_SCHEME;
	}
	if (rc != SUCI_OK && rc != SUCI_ERR_IO)
		util_err_openssl(err, errlen,
		    "suci: not a Profile %c private "
		    "key (64 hex digits or PEM)",
		    profile == 1 ? 'A' : 'B');
	OPENSSL_cleanse(raw, sizeof(raw));
	BIO_free(bio);
	if (buf != NULL)
		OPENSSL_clear_free(buf, KEYFILE_MAX + 1);
	return rc;
}

int suci_hn_pub_get(uint8_t *out, size_t cap, size_t *outlen, EVP_PKEY *hn_key,
    char *err, size_t errlen)
{
	int profile;

	if (out == NULL || outlen == NULL || hn_key == NULL)
		return SUCI_ERR_ARG;
	profile = EVP_PKEY_is_a(hn_key, "X25519") ? SUCI_SCHEME_PROFILE_A :
	                                            SUCI_SCHEME_PROFILE_B;
	if (!key_fits(hn_key, profile) ||
	    pub_encode(out, cap, outlen, profile, hn_key) != SUCI_OK) {
		util_err_openssl(err, errlen, "suci: not a Profile A/B key");
		return SUCI_ERR_ARG;
	}
	return SUCI_OK;
}
