/* prov_container.c — seal a subscription to a device key, sign the result
 * with the operator's provisioning signer, and on the device verify the
 * signer and signature before anything is decrypted, then open. The byte
 * layout is in docs/protocol.md, "Provisioning container". */
#include "prov.h"

#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/rsa.h>
#include <openssl/x509v3.h>

#include "devid.h"
#include "pki.h"
#include "util.h"

static const uint8_t MAGIC[4] = { 'P', 'R', 'V', 'C' };

#define HDR_LEN \
	11 /* magic 4, version, alg, kb len 2, ct len 2,
				 * DeviceID len */
#define IV_LEN 12
#define TAG_LEN 16
#define CEK_LEN 32      /* AES-256 content key */
#define P256_PUB_LEN 65 /* 0x04 ‖ X ‖ Y */
#define P256_COORD_LEN 32
#define P384_PUB_LEN 97
#define P384_COORD_LEN 48
#define EC_PUB_MAX P384_PUB_LEN
#define EC_COORD_MAX P384_COORD_LEN
#define SIG_MIN 8 /* smallest DER ECDSA-Sig-Value */
#define HKDF_LABEL "ProvCA v1 seal"
#define HKDF_LABEL_LEN (sizeof(HKDF_LABEL) - 1)

/* Expected key-block length for alg, or 0 for an unknown alg. */
static size_t alg_key_block_len(uint8_t alg)
{
	switch (alg) {
	case PROV_ALG_P256: return P256_PUB_LEN;
	case PROV_ALG_P384: return P384_PUB_LEN;
	case PROV_ALG_RSA2048: return 256;
	case PROV_ALG_RSA3072: return 384;
	default: return 0;
	}
}

/* The EC algorithm of k's named curve (PROV_ALG_P256 / PROV_ALG_P384),
 * or 0 when k is not an EC key on one of them. */
static uint8_t ec_alg(EVP_PKEY *k)
{
	char group[64];
	size_t glen = 0;

	if (EVP_PKEY_get_base_id(k) != EVP_PKEY_EC)
		return 0;
	if (!EVP_PKEY_get_utf8_string_param(k, OSSL_PKEY_PARAM_GROUP_NAME,
	        group, sizeof(group), &glen)) {
		ERR_clear_error();
		return 0;
	}
	if (strcmp(group, "prime256v1") == 0 || strcmp(group, "P-256") == 0)
		return PROV_ALG_P256;
	if (strcmp(group, "secp384r1") == 0 || strcmp(group, "P-384") == 0)
		return PROV_ALG_P384;
	return 0;
}

/* 1 if k is an EC key on P-256. */
static int is_p256(EVP_PKEY *k)
{
	return ec_alg(k) == PROV_ALG_P256;
}

/* Coordinate length of an EC algorithm's curve (0: not an EC alg). */
static size_t ec_coord_len(uint8_t alg)
{
	return alg == PROV_ALG_P256 ? P256_COORD_LEN :
	    alg == PROV_ALG_P384    ? P384_COORD_LEN :
	                              0;
}

/* The container algorithm for a device key, or 0 if unsupported. */
static uint8_t alg_for_key(EVP_PKEY *k)
{
	uint8_t ec = ec_alg(k);

	if (ec != 0)
		return ec;
	if (EVP_PKEY_get_base_id(k) == EVP_PKEY_RSA) {
		switch (EVP_PKEY_get_bits(k)) {
		case 2048: return PROV_ALG_RSA2048;
		case 3072: return PROV_ALG_RSA3072;
		default: return 0;
		}
	}
	return 0;
}

/* Uncompressed encoding 0x04 ‖ X ‖ Y (coord bytes each) of an EC public
 * key on the curve of that coordinate length. */
static int ec_pub_encode(uint8_t *out, size_t coord, EVP_PKEY *k)
{
	BIGNUM *x = NULL, *y = NULL;
	size_t len = 0, publen = 1 + 2 * coord;
	int ok = 0;

	/* The key's own encoding when it is the uncompressed one (OpenSSL's
	 * default); else from the coordinates. */
	if (EVP_PKEY_get_octet_string_param(k, OSSL_PKEY_PARAM_PUB_KEY, out,
	        publen, &len) == 1 &&
	    len == publen && out[0] == 0x04)
		return 1;
	ERR_clear_error();
	if (!EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_EC_PUB_X, &x) ||
	    !EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_EC_PUB_Y, &y))
		goto done;
	out[0] = 0x04;
	if (BN_bn2binpad(x, out + 1, (int)coord) != (int)coord ||
	    BN_bn2binpad(y, out + 1 + coord, (int)coord) != (int)coord)
		goto done;
	ok = 1;
done:
	BN_free(x);
	BN_free(y);
	return ok;
}

/* P-256 domain parameters as a key, made once per process: a copy of it
 * holds the group without building it from the curve's name again
 * (EC_GROUP_new_by_curve_name: Montgomery set-up, inversions). */
static EVP_PKEY *p256_params;
static pthread_once_t p256_params_once = PTHREAD_ONCE_INIT;

static void p256_params_init(void)
{
	EVP_PKEY_CTX *ctx;
	OSSL_PARAM prm[2];
	char group[] = "prime256v1";

	prm[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME,
	    group, 0);
	prm[1] = OSSL_PARAM_construct_end();
	if ((ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL)) == NULL ||
	    EVP_PKEY_fromdata_init(ctx) != 1 ||
	    EVP_PKEY_fromdata(ctx, &p256_params, EVP_PKEY_KEY_PARAMETERS,
	        prm) != 1)
		p256_params = NULL;
	EVP_PKEY_CTX_free(ctx);
	ERR_clear_error();
}

/*
 * A fresh P-256 key pair for one seal. From the cached parameters the
 * generator copies the group (EVP_PKEY_Q_keygen builds it from the curve's
 * name and parses its string arguments every time: ~2x the CPU of the
 * generation itself). The key is as random as before; only the set-up is
 * shared. The old path remains if the parameters cannot be made.
 */
static EVP_PKEY *p256_keygen(void)
{
	EVP_PKEY_CTX *ctx;
	EVP_PKEY *k = NULL;

	if (pthread_once(&p256_params_once, p256_params_init) != 0 ||
	    p256_params == NULL)
		return EVP_PKEY_Q_keygen(NULL, NULL, "EC", "prime256v1");
	if ((ctx = EVP_PKEY_CTX_new_from_pkey(NULL, p256_params, NULL)) ==
	        NULL ||
	    EVP_PKEY_keygen_init(ctx) != 1 || EVP_PKEY_keygen(ctx, &k) != 1) {
		EVP_PKEY_free(k);
		k = NULL;
	}
	EVP_PKEY_CTX_free(ctx);
	return k;
}

/* A P-256 public key from its uncompressed encoding (checked on the curve
 * by OpenSSL's import). NULL if the point is invalid. */
static EVP_PKEY *p256_pub_decode(const uint8_t in[P256_PUB_LEN])
{
	EVP_PKEY_CTX *ctx = NULL;
	EVP_PKEY *k = NULL;
	OSSL_PARAM params[3];
	char group[] = "prime256v1";

	if (in[0] != 0x04)
		return NULL;
	if (pthread_once(&p256_params_once, p256_params_init) == 0 &&
	    p256_params != NULL) {
		/* EC_POINT_oct2point underneath: on the curve or refused. */
		if ((k = EVP_PKEY_dup(p256_params)) != NULL &&
		    EVP_PKEY_set1_encoded_public_key(k, in, P256_PUB_LEN) == 1)
			return k;
		EVP_PKEY_free(k);
		return NULL;
	}
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME,
	    group, 0);
	params[1] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY,
	    (void *)in, P256_PUB_LEN);
	params[2] = OSSL_PARAM_construct_end();
	if ((ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL)) == NULL ||
	    EVP_PKEY_fromdata_init(ctx) <= 0 ||
	    EVP_PKEY_fromdata(ctx, &k, EVP_PKEY_PUBLIC_KEY, params) <= 0)
		k = NULL;
	EVP_PKEY_CTX_free(ctx);
	return k;
}

/* A fresh key pair on the curve of an EC algorithm. */
static EVP_PKEY *ec_keygen(uint8_t alg)
{
	if (alg == PROV_ALG_P256)
		return p256_keygen();
	return EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
}

/* A public key of an EC algorithm from its uncompressed encoding (checked
 * on the curve by OpenSSL's import); NULL if the point is invalid. */
static EVP_PKEY *ec_pub_decode(uint8_t alg, const uint8_t *in)
{
	EVP_PKEY_CTX *ctx = NULL;
	EVP_PKEY *k = NULL;
	OSSL_PARAM params[3];
	char group[] = "secp384r1";

	if (alg == PROV_ALG_P256)
		return p256_pub_decode(in);
	if (alg != PROV_ALG_P384 || in[0] != 0x04)
		return NULL;
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME,
	    group, 0);
	params[1] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY,
	    (void *)in, P384_PUB_LEN);
	params[2] = OSSL_PARAM_construct_end();
	if ((ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL)) == NULL ||
	    EVP_PKEY_fromdata_init(ctx) <= 0 ||
	    EVP_PKEY_fromdata(ctx, &k, EVP_PKEY_PUBLIC_KEY, params) <= 0)
		k = NULL;
	EVP_PKEY_CTX_free(ctx);
	return k;
}

/*
 * ECDH(priv, peer) → Z (x-coordinate: 32 bytes on P-256, 48 on P-384),
 * then CEK = HKDF-SHA-256(salt = ue_nonce ‖ net_nonce, IKM = Z,
 *                    info = "ProvCA v1 seal" ‖ eph_pub ‖ dev_pub, L = 32),
 * both public keys uncompressed (1 + 2 * coord bytes each).
 */
static int ec_derive_cek(uint8_t cek[CEK_LEN], size_t coord, EVP_PKEY *priv,
    EVP_PKEY *peer, const uint8_t *eph_pub, const uint8_t *dev_pub,
    const uint8_t *ue_nonce, const uint8_t *net_nonce)
{
	EVP_PKEY_CTX *dctx = NULL, *pctx = NULL;
	EVP_KDF *kdf = NULL;
	EVP_KDF_CTX *kctx = NULL;
	uint8_t z[EC_COORD_MAX], salt[2 * PROV_NONCE_LEN];
	uint8_t info[HKDF_LABEL_LEN + 2 * EC_PUB_MAX];
	size_t zlen = sizeof(z), publen = 1 + 2 * coord, infolen;
	OSSL_PARAM params[5];
	char digest[] = "SHA256";
	int ok = 0;

	/*
	 * The peer point is validated: not the point at infinity, coordinates
	 * below p, on the curve. EVP_PKEY_derive_set_peer's full check also
	 * multiplies the point by the group order (~0.7 M instructions); on
	 * P-256 and P-384, whose cofactor is 1, every point on the curve
	 * other than infinity has that order, so the quick check decides the
	 * same.
	 */
	if ((pctx = EVP_PKEY_CTX_new_from_pkey(NULL, peer, NULL)) == NULL ||
	    EVP_PKEY_public_check_quick(pctx) != 1 ||
	    (dctx = EVP_PKEY_CTX_new_from_pkey(NULL, priv, NULL)) == NULL ||
	    EVP_PKEY_derive_init(dctx) <= 0 ||
	    EVP_PKEY_derive_set_peer_ex(dctx, peer, 0) <= 0 ||
	    EVP_PKEY_derive(dctx, z, &zlen) <= 0 || zlen != coord)
		goto done;
	memcpy(salt, ue_nonce, PROV_NONCE_LEN);
	memcpy(salt + PROV_NONCE_LEN, net_nonce, PROV_NONCE_LEN);
	memcpy(info, HKDF_LABEL, HKDF_LABEL_LEN);
	memcpy(info + HKDF_LABEL_LEN, eph_pub, publen);
	memcpy(info + HKDF_LABEL_LEN + publen, dev_pub, publen);
	infolen = HKDF_LABEL_LEN + 2 * publen;
	params[0] =
	    OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest, 0);
	params[1] =
	    OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, z, zlen);
	params[2] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, salt,
	    sizeof(salt));
	params[3] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, info,
	    infolen);
	params[4] = OSSL_PARAM_construct_end();
	if ((kdf = EVP_KDF_fetch(NULL, "HKDF", NULL)) == NULL ||
	    (kctx = EVP_KDF_CTX_new(kdf)) == NULL ||
	    EVP_KDF_derive(kctx, cek, CEK_LEN, params) <= 0)
		goto done;
	ok = 1;
done:
	OPENSSL_cleanse(z, sizeof(z));
	EVP_KDF_CTX_free(kctx);
	EVP_KDF_free(kdf);
	EVP_PKEY_CTX_free(dctx);
	EVP_PKEY_CTX_free(pctx);
	return ok;
}

/* AES-256-GCM encrypt pt into ct (same length) and tag. */
static int gcm_seal(uint8_t *ct, uint8_t tag[TAG_LEN], const uint8_t *key,
    const uint8_t *iv, const uint8_t *aad, size_t aadlen, const uint8_t *pt,
    size_t ptlen)
{
	EVP_CIPHER_CTX *c;
	int n = 0, ok = 0;

	if (aadlen > INT_MAX || ptlen > INT_MAX)
		return 0;
	if ((c = EVP_CIPHER_CTX_new()) == NULL)
		return 0;
	if (EVP_EncryptInit_ex(c, EVP_aes_256_gcm(), NULL, NULL, NULL) != 1 ||
	    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_IVLEN, IV_LEN, NULL) != 1 ||
	    EVP_EncryptInit_ex(c, NULL, NULL, key, iv) != 1 ||
	    EVP_EncryptUpdate(c, NULL, &n, aad, (int)aadlen) != 1 ||
	    EVP_EncryptUpdate(c, ct, &n, pt, (int)ptlen) != 1 ||
	    (size_t)n != ptlen || EVP_EncryptFinal_ex(c, ct + n, &n) != 1 ||
	    n != 0 ||
	    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, TAG_LEN, tag) != 1)
		goto done;
	ok = 1;
done:
	EVP_CIPHER_CTX_free(c);
	return ok;
}

/* AES-256-GCM decrypt; 1 ok, 0 tag mismatch, -1 OpenSSL failure. */
static int gcm_open(uint8_t *pt, const uint8_t *key, const uint8_t *iv,
    const uint8_t *aad, size_t aadlen, const uint8_t *ct, size_t ctlen,
    const uint8_t tag[TAG_LEN])
{
	EVP_CIPHER_CTX *c;
	int n = 0, rc = -1;

	if (aadlen > INT_MAX || ctlen > INT_MAX)
		return -1;
	if ((c = EVP_CIPHER_CTX_new()) == NULL)
		return -1;
	if (EVP_DecryptInit_ex(c, EVP_aes_256_gcm(), NULL, NULL, NULL) != 1 ||
	    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_IVLEN, IV_LEN, NULL) != 1 ||
	    EVP_DecryptInit_ex(c, NULL, NULL, key, iv) != 1 ||
	    EVP_DecryptUpdate(c, NULL, &n, aad, (int)aadlen) != 1 ||
	    EVP_DecryptUpdate(c, pt, &n, ct, (int)ctlen) != 1 ||
	    (size_t)n != ctlen ||
	    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, TAG_LEN,
	        (void *)tag) != 1)
		goto done;
	rc = EVP_DecryptFinal_ex(c, pt + n, &n) == 1 ? 1 : 0;
done:
	EVP_CIPHER_CTX_free(c);
	return rc;
}

/* RSA-OAEP (SHA-256, MGF1-SHA-256, empty label) context for k. */
static EVP_PKEY_CTX *oaep_ctx(EVP_PKEY *k, int decrypt)
{
	EVP_PKEY_CTX *ctx;

	if ((ctx = EVP_PKEY_CTX_new_from_pkey(NULL, k, NULL)) == NULL)
		return NULL;
	if ((decrypt ? EVP_PKEY_decrypt_init(ctx) :
	               EVP_PKEY_encrypt_init(ctx)) <= 0 ||
	    EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_OAEP_PADDING) <= 0 ||
	    EVP_PKEY_CTX_set_rsa_oaep_md(ctx, EVP_sha256()) <= 0 ||
	    EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, EVP_sha256()) <= 0) {
		EVP_PKEY_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}

/*
 * Parse the unsigned body at the start of buf into v (offsets and the
 * binding). The body must end at or before len; *body_len gets its length.
 */
static int parse_body(prov_view_t *v, const uint8_t *buf, size_t len,
    size_t *body_len, char *err, size_t errlen)
{
	size_t kb, ct, id_len, off;

	if (len < HDR_LEN) {
		util_err_set(err, errlen, "container shorter than its header");
		return PROV_ERR_FORMAT;
	}
	if (memcmp(buf, MAGIC, sizeof(MAGIC)) != 0) {
		util_err_set(err, errlen, "not a provisioning container");
		return PROV_ERR_FORMAT;
	}
	if (buf[4] != PROV_VERSION) {
		util_err_set(err, errlen, "container version %u unsupported",
		    buf[4]);
		return PROV_ERR_VERSION;
	}
	if (len > PROV_CONTAINER_MAX) {
		util_err_set(err, errlen, "container longer than %d bytes",
		    PROV_CONTAINER_MAX);
		return PROV_ERR_TOO_LARGE;
	}
	v->version = buf[4];
	v->alg = buf[5];
	kb = ((size_t)buf[6] << 8) | buf[7];
	ct = ((size_t)buf[8] << 8) | buf[9];
	id_len = buf[10];
	if (alg_key_block_len(v->alg) == 0) {
		util_err_set(err, errlen, "key algorithm 0x%02x unsupported",
		    v->alg);
		return PROV_ERR_KEY_TYPE;
	}
	if (kb != alg_key_block_len(v->alg) || ct == 0 || id_len == 0 ||
	    id_len > PROV_DEVICE_ID_MAX) {
		util_err_set(err, errlen, "container header lengths invalid");
		return PROV_ERR_FORMAT;
	}
	/* Every term is < 2^16, so the sum cannot overflow size_t. */
	off =
	    HDR_LEN + id_len + 2 * PROV_NONCE_LEN + kb + IV_LEN + ct + TAG_LEN;
	if (off > len) {
		util_err_set(err, errlen,
		    "container truncated: body needs "
		    "%zu bytes, have %zu",
		    off, len);
		return PROV_ERR_FORMAT;
	}
	off = HDR_LEN;
	if (!devid_valid_n((const char *)buf + off, id_len)) {
		util_err_set(err, errlen, "DeviceID not [A-Za-z0-9._-]");
		return PROV_ERR_FORMAT;
	}
	memcpy(v->binding.device_id, buf + off, id_len);
	v->binding.device_id[id_len] = '\0';
	off += id_len;
	memcpy(v->binding.ue_nonce, buf + off, PROV_NONCE_LEN);
	off += PROV_NONCE_LEN;
	memcpy(v->binding.net_nonce, buf + off, PROV_NONCE_LEN);
	off += PROV_NONCE_LEN;
	v->key_block = buf + off;
	v->key_block_len = kb;
	off += kb;
	v->iv = buf + off;
	off += IV_LEN;
	v->ciphertext = buf + off;
	v->ciphertext_len = ct;
	off += ct;
	v->tag = buf + off;
	off += TAG_LEN;
	*body_len = off;
	return PROV_OK;
}

/* Write the header (magic, version, algorithm, lengths) and the binding
 * (DeviceID, both nonces) to out; the offset of the key block after them. */
static size_t seal_header(uint8_t *out, uint8_t alg, size_t kb, size_t ptlen,
    const prov_binding_t *bind, size_t id_len)
{
	size_t off = HDR_LEN;

	memcpy(out, MAGIC, sizeof(MAGIC));
	out[4] = PROV_VERSION;
	out[5] = alg;
	out[6] = (uint8_t)(kb >> 8);
	out[7] = (uint8_t)kb;
	out[8] = (uint8_t)(ptlen >> 8);
	out[9] = (uint8_t)ptlen;
	out[10] = (uint8_t)id_len;
	memcpy(out + off, bind->device_id, id_len);
	off += id_len;
	memcpy(out + off, bind->ue_nonce, PROV_NONCE_LEN);
	off += PROV_NONCE_LEN;
	memcpy(out + off, bind->net_nonce, PROV_NONCE_LEN);
	off += PROV_NONCE_LEN;
	return off;
}

/* The key block (kb octets at kbuf) that gives device_pub the content
 * encryption key, and that key into cek: for EC an ephemeral public key,
 * the CEK derived from the agreement and the nonces; for RSA a random CEK
 * wrapped with OAEP. dev_enc as seal_body's. */
static int seal_key_block(uint8_t *kbuf, size_t kb, uint8_t *cek, uint8_t alg,
    EVP_PKEY *device_pub, const uint8_t *dev_enc, const prov_binding_t *bind,
    char *err, size_t errlen)
{
	uint8_t dev_pub[EC_PUB_MAX];
	EVP_PKEY *eph = NULL;
	EVP_PKEY_CTX *rctx = NULL;
	size_t coord = ec_coord_len(alg), wrapped = kb;
	int rc = PROV_ERR_INTERNAL;

	if (coord != 0) {
		/* The device key's encoding from its certificate when the
		 * caller has it (P-256 only): OpenSSL's P-256 code computes
		 * the affine coordinates (an inversion) for every encoding. */
		if (alg != PROV_ALG_P256)
			dev_enc = NULL;
		if (dev_enc != NULL && dev_enc[0] == 0x04)
			memcpy(dev_pub, dev_enc, P256_PUB_LEN);
		if ((eph = ec_keygen(alg)) == NULL ||
		    !ec_pub_encode(kbuf, coord, eph) ||
		    ((dev_enc == NULL || dev_enc[0] != 0x04) &&
		        !ec_pub_encode(dev_pub, coord, device_pub)) ||
		    !ec_derive_cek(cek, coord, eph, device_pub, kbuf, dev_pub,
		        bind->ue_nonce, bind->net_nonce)) {
			util_err_openssl(err, errlen, "ECDH key agreement");
			goto done;
		}
	} else if (util_random(cek, CEK_LEN) != 0 ||
	    (rctx = oaep_ctx(device_pub, 0)) == NULL ||
	    EVP_PKEY_encrypt(rctx, kbuf, &wrapped, cek, CEK_LEN) <= 0 ||
	    wrapped != kb) {
		util_err_openssl(err, errlen, "RSA-OAEP key wrap");
		goto done;
	}
	rc = PROV_OK;
done:
	EVP_PKEY_free(eph);
	EVP_PKEY_CTX_free(rctx);
	return rc;
}

/* prov_seal; dev_enc, when not NULL and uncompressed, is device_pub's
 * encoding as its certificate carries it (see prov_seal_sign_prepared). */
static int seal_body(uint8_t *out, size_t outcap, size_t *outlen,
    const prov_subscription_t *sub, const prov_binding_t *bind,
    EVP_PKEY *device_pub, const uint8_t *dev_enc, char *err, size_t errlen)
{
	uint8_t pt[PROV_CONTAINER_MAX], cek[CEK_LEN];
	size_t ptlen = 0, id_len, kb, total, off;
	uint8_t alg;
	int rc = PROV_ERR_INTERNAL;

	if (out == NULL || outlen == NULL || sub == NULL || bind == NULL ||
	    device_pub == NULL) {
		util_err_set(err, errlen, "missing argument");
		return PROV_ERR_ARG;
	}
	*outlen = 0;
	id_len = strnlen(bind->device_id, sizeof(bind->device_id));
	if (!devid_valid_n(bind->device_id, id_len)) {
		util_err_set(err, errlen,
		    "DeviceID must be 1..%d of "
		    "[A-Za-z0-9._-]",
		    PROV_DEVICE_ID_MAX);
		return PROV_ERR_ARG;
	}
	if ((alg = alg_for_key(device_pub)) == 0) {
		util_err_set(err, errlen,
		    "device key must be EC P-256, EC "
		    "P-384, RSA-2048 or RSA-3072");
		return PROV_ERR_KEY_TYPE;
	}
	kb = alg_key_block_len(alg);
	rc = prov_subscription_encode(pt, sizeof(pt), &ptlen, sub, err, errlen);
	if (rc != PROV_OK)
		goto done;
	total = HDR_LEN + id_len + 2 * PROV_NONCE_LEN + kb + IV_LEN + ptlen +
	    TAG_LEN;
	if (total > PROV_CONTAINER_MAX || total > outcap) {
		util_err_set(err, errlen, "sealed body needs %zu bytes", total);
		rc = PROV_ERR_TOO_LARGE;
		goto done;
	}
	off = seal_header(out, alg, kb, ptlen, bind, id_len);
	if ((rc = seal_key_block(out + off, kb, cek, alg, device_pub, dev_enc,
	         bind, err, errlen)) != PROV_OK)
		goto done;
	rc = PROV_ERR_INTERNAL;
	off += kb;
	if (util_random(out + off, IV_LEN) != 0) {
		util_err_openssl(err, errlen, "random IV");
		goto done;
	}
	/* AAD = everything before the IV. */
	if (!gcm_seal(out + off + IV_LEN, out + off + IV_LEN + ptlen, cek,
	        out + off, out, off, pt, ptlen)) {
		util_err_openssl(err, errlen, "AES-256-GCM");
		goto done;
	}
	*outlen = total;
	rc = PROV_OK;
done:
	if (rc != PROV_OK && out != NULL)
		OPENSSL_cleanse(out, outcap);
	OPENSSL_cleanse(pt, sizeof(pt));
	OPENSSL_cleanse(cek, sizeof(cek));
	return rc;
}

int prov_seal(uint8_t *out, size_t outcap, size_t *outlen,
    const prov_subscription_t *sub, const prov_binding_t *bind,
    EVP_PKEY *device_pub, char *err, size_t errlen)
{
	return seal_body(out, outcap, outlen, sub, bind, device_pub, NULL, err,
	    errlen);
}

/* Free a list of DER encodings from chain_der(). */
static void chain_der_free(unsigned char **der, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		OPENSSL_free(der[i]);
}

/*
 * DER-encode signer_cert and then each intermediate into der[]/dlen[],
 * *n certificates; check the count and that each certificate is issued by
 * the next one. The caller frees with chain_der_free(der, *n).
 */
static int chain_der(unsigned char *der[PROV_CHAIN_MAX],
    size_t dlen[PROV_CHAIN_MAX], size_t *n, X509 *signer_cert,
    STACK_OF(X509) * intermediates, char *err, size_t errlen)
{
	X509 *x, *prev = signer_cert;
	int i, ni = intermediates != NULL ? sk_X509_num(intermediates) : 0;
	int len;

	*n = 0;
	if (ni < 0 || ni > PROV_CHAIN_MAX - 1) {
		util_err_set(err, errlen,
		    "at most %d intermediates fit a "
		    "container",
		    PROV_CHAIN_MAX - 1);
		return PROV_ERR_TOO_LARGE;
	}
	for (i = -1; i < ni; i++) {
		x = i < 0 ? signer_cert : sk_X509_value(intermediates, i);
		if (x == NULL) {
			util_err_set(err, errlen, "NULL intermediate");
			return PROV_ERR_ARG;
		}
		if (i >= 0 && X509_check_issued(x, prev) != X509_V_OK) {
			util_err_set(err, errlen,
			    "intermediate %d did not "
			    "issue the certificate before it",
			    i + 1);
			return PROV_ERR_SIGNER_CHAIN;
		}
		if (i >= 0 && X509_check_issued(x, x) == X509_V_OK) {
			util_err_set(err, errlen,
			    "intermediate %d is "
			    "self-issued: the root is never carried",
			    i + 1);
			return PROV_ERR_SIGNER_CHAIN;
		}
		der[*n] = NULL;
		if ((len = i2d_X509(x, &der[*n])) <= 0) {
			util_err_openssl(err, errlen, "i2d_X509");
			return PROV_ERR_INTERNAL;
		}
		dlen[*n] = (size_t)len;
		(*n)++;
		if ((size_t)len > 0xffff) {
			util_err_set(err, errlen, "certificate of %d bytes",
			    len);
			return PROV_ERR_TOO_LARGE;
		}
		prev = x;
	}
	return PROV_OK;
}

/* A signer whose checks are done and whose chain list is encoded: the key
 * (P-256, matching the certificate) and the bytes that follow a body
 * (count ‖ { length ‖ DER } for the signer and each intermediate). */
struct prov_signer {
	EVP_PKEY *key;
	uint8_t *chain;
	size_t chain_len;
};

void prov_signer_free(prov_signer *s)
{
	if (s == NULL)
		return;
	EVP_PKEY_free(s->key);
	free(s->chain);
	free(s);
}

int prov_signer_new(prov_signer **out, EVP_PKEY *signer_key, X509 *signer_cert,
    STACK_OF(X509) * intermediates, char *err, size_t errlen)
{
	prov_signer *s = NULL;
	unsigned char *der[PROV_CHAIN_MAX];
	size_t dlen[PROV_CHAIN_MAX], nder = 0, i, off;
	int rc;

	if (out == NULL || signer_key == NULL || signer_cert == NULL) {
		util_err_set(err, errlen, "missing argument");
		return PROV_ERR_ARG;
	}
	*out = NULL;
	if (!is_p256(signer_key)) {
		util_err_set(err, errlen, "signer key must be EC P-256");
		return PROV_ERR_KEY_TYPE;
	}
	if (X509_check_private_key(signer_cert, signer_key) != 1) {
		util_err_openssl(err, errlen,
		    "signer certificate does not "
		    "match the signer key");
		return PROV_ERR_KEY_TYPE;
	}
	if ((rc = chain_der(der, dlen, &nder, signer_cert, intermediates, err,
	         errlen)) != PROV_OK)
		goto done;
	rc = PROV_ERR_INTERNAL;
	if ((s = calloc(1, sizeof(*s))) == NULL) {
		util_err_set(err, errlen, "out of memory");
		goto done;
	}
	/* ≤ 4 certificates of < 2^16 bytes each: no overflow. */
	s->chain_len = 1;
	for (i = 0; i < nder; i++)
		s->chain_len += 2 + dlen[i];
	if ((s->chain = malloc(s->chain_len)) == NULL) {
		util_err_set(err, errlen, "out of memory");
		goto done;
	}
	off = 0;
	s->chain[off++] = (uint8_t)nder;
	for (i = 0; i < nder; i++) {
		s->chain[off++] = (uint8_t)(dlen[i] >> 8);
		s->chain[off++] = (uint8_t)dlen[i];
		memcpy(s->chain + off, der[i], dlen[i]);
		off += dlen[i];
	}
	if (!EVP_PKEY_up_ref(signer_key)) {
		util_err_openssl(err, errlen, "EVP_PKEY_up_ref");
		goto done;
	}
	s->key = signer_key;
	*out = s;
	s = NULL;
	rc = PROV_OK;
done:
	prov_signer_free(s);
	chain_der_free(der, nder);
	return rc;
}

/* Sign body with a prepared signer into out (see prov_sign). */
static int sign_body(uint8_t *out, size_t outcap, size_t *outlen,
    const uint8_t *body, size_t bodylen, const prov_signer *s, char *err,
    size_t errlen)
{
	prov_view_t v;
	EVP_MD_CTX *md = NULL;
	size_t need, parsed = 0, off, siglen;
	int rc;

	*outlen = 0;
	memset(&v, 0, sizeof(v));
	if ((rc = parse_body(&v, body, bodylen, &parsed, err, errlen)) !=
	    PROV_OK)
		return rc;
	if (parsed != bodylen) {
		util_err_set(err, errlen, "body has %zu trailing bytes",
		    bodylen - parsed);
		return PROV_ERR_FORMAT;
	}
	/* Each term is bounded (body ≤ 8192, chain list < 2^18). */
	need = bodylen + s->chain_len + PROV_SIG_MAX;
	if (need > PROV_CONTAINER_MAX || need > outcap) {
		util_err_set(err, errlen,
		    "container would need up to %zu "
		    "bytes",
		    need);
		return PROV_ERR_TOO_LARGE;
	}
	memmove(out, body, bodylen);
	off = bodylen;
	memcpy(out + off, s->chain, s->chain_len);
	off += s->chain_len;
	siglen = PROV_SIG_MAX;
	if ((md = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestSignInit_ex(md, NULL, "SHA256", NULL, NULL, s->key,
	        NULL) != 1 ||
	    EVP_DigestSign(md, out + off, &siglen, out, off) != 1 ||
	    siglen < SIG_MIN || siglen > PROV_SIG_MAX) {
		util_err_openssl(err, errlen, "ECDSA signature");
		rc = PROV_ERR_INTERNAL;
		goto done;
	}
	*outlen = off + siglen;
	rc = PROV_OK;
done:
	EVP_MD_CTX_free(md);
	return rc;
}

int prov_sign(uint8_t *out, size_t outcap, size_t *outlen, const uint8_t *body,
    size_t bodylen, EVP_PKEY *signer_key, X509 *signer_cert,
    STACK_OF(X509) * intermediates, char *err, size_t errlen)
{
	prov_view_t v;
	prov_signer *s = NULL;
	size_t parsed = 0;
	int rc;

	if (out == NULL || outlen == NULL || body == NULL ||
	    signer_key == NULL || signer_cert == NULL) {
		util_err_set(err, errlen, "missing argument");
		return PROV_ERR_ARG;
	}
	*outlen = 0;
	/* The body first, as before the signer was a prepared object. */
	memset(&v, 0, sizeof(v));
	if ((rc = parse_body(&v, body, bodylen, &parsed, err, errlen)) !=
	    PROV_OK)
		return rc;
	if ((rc = prov_signer_new(&s, signer_key, signer_cert, intermediates,
	         err, errlen)) != PROV_OK)
		return rc;
	rc = sign_body(out, outcap, outlen, body, bodylen, s, err, errlen);
	prov_signer_free(s);
	return rc;
}

int prov_parse(prov_view_t *out, const uint8_t *container, size_t len,
    char *err, size_t errlen)
{
	size_t body = 0, off, count, i, clen, rest;
	int rc;

	if (out == NULL || (container == NULL && len > 0)) {
		util_err_set(err, errlen, "missing argument");
		return PROV_ERR_ARG;
	}
	memset(out, 0, sizeof(*out));
	if ((rc = parse_body(out, container, len, &body, err, errlen)) !=
	    PROV_OK)
		goto fail;
	rc = PROV_ERR_FORMAT;
	if (len - body < 1) {
		util_err_set(err, errlen,
		    "container truncated before the "
		    "signer chain");
		goto fail;
	}
	count = container[body];
	if (count < 1 || count > PROV_CHAIN_MAX) {
		util_err_set(err, errlen,
		    "signer chain of %zu certificates "
		    "(1..%d allowed)",
		    count, PROV_CHAIN_MAX);
		goto fail;
	}
	off = body + 1;
	for (i = 0; i < count; i++) {
		if (len - off < 2) {
			util_err_set(err, errlen,
			    "container truncated in the "
			    "signer chain");
			goto fail;
		}
		clen = ((size_t)container[off] << 8) | container[off + 1];
		off += 2;
		if (clen == 0 || clen > len - off) {
			util_err_set(err, errlen,
			    "container truncated in "
			    "chain certificate %zu",
			    i + 1);
			goto fail;
		}
		out->chain[i] = container + off;
		out->chain_len[i] = clen;
		off += clen;
	}
	rest = len - off;
	if (rest < SIG_MIN || rest > PROV_SIG_MAX) {
		util_err_set(err, errlen,
		    "signature of %zu bytes (%d..%d "
		    "allowed)",
		    rest, SIG_MIN, PROV_SIG_MAX);
		goto fail;
	}
	out->container = container;
	out->container_len = len;
	out->body_len = body;
	out->chain_count = count;
	out->signer_cert = out->chain[0];
	out->signer_cert_len = out->chain_len[0];
	out->signed_len = off;
	out->signature = container + off;
	out->signature_len = rest;
	return PROV_OK;
fail:
	memset(out, 0, sizeof(*out));
	return rc;
}

/* Map a pki_cert_verify result to the container's error codes. */
static int map_pki(int pki_rc)
{
	switch (pki_rc) {
	case PKI_OK: return PROV_OK;
	case PKI_ERR_CHAIN: return PROV_ERR_SIGNER_CHAIN;
	case PKI_ERR_EXPIRED:
	case PKI_ERR_NOT_YET_VALID: return PROV_ERR_SIGNER_EXPIRED;
	case PKI_ERR_EKU: return PROV_ERR_SIGNER_EKU;
	case PKI_ERR_ARG: return PROV_ERR_ARG;
	default: return PROV_ERR_INTERNAL;
	}
}

/* Parse exactly one DER certificate of n bytes at p; NULL if it is not. */
static X509 *der_cert(const uint8_t *p, size_t n)
{
	const unsigned char *q = p;
	X509 *x;

	if (n > LONG_MAX)
		return NULL;
	x = d2i_X509(NULL, &q, (long)n);
	if (x != NULL && q != p + n) {
		X509_free(x);
		x = NULL;
	}
	return x;
}

/* The signer's own checks after its chain verified: keyUsage, if present,
 * allows digitalSignature; the key is P-256. */
static int signer_own_checks(X509 *cert, char *err, size_t errlen)
{
	uint32_t ku = X509_get_key_usage(cert);

	if (ku != UINT32_MAX && (ku & KU_DIGITAL_SIGNATURE) == 0) {
		util_err_set(err, errlen,
		    "signer certificate keyUsage lacks "
		    "digitalSignature");
		return PROV_ERR_SIGNER_EKU;
	}
	if (!is_p256(X509_get0_pubkey(cert))) {
		util_err_set(err, errlen, "signer key is not EC P-256");
		return PROV_ERR_KEY_TYPE;
	}
	return PROV_OK;
}

/* The signer certificate's own checks, without its chain: the signer EKU,
 * keyUsage, P-256 key. */
int prov_signer_cert_check(X509 *cert, char *err, size_t errlen)
{
	if (!pki_cert_has_eku(cert, PROVCA_OID_EKU_SIGNER)) {
		util_err_set(err, errlen,
		    "signer certificate lacks the "
		    "provisioning-signer EKU");
		return PROV_ERR_SIGNER_EKU;
	}
	return signer_own_checks(cert, err, errlen);
}

/* 1 if the container signature (over everything before it) verifies with
 * the signer's key, 0 if not, -1 on an OpenSSL failure. */
int prov_view_signature_verify(const prov_view_t *v, X509 *signer)
{
	EVP_MD_CTX *md;
	int r;

	if ((md = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestVerifyInit_ex(md, NULL, "SHA256", NULL, NULL,
	        X509_get0_pubkey(signer), NULL) != 1) {
		EVP_MD_CTX_free(md);
		return -1;
	}
	r = EVP_DigestVerify(md, v->signature, v->signature_len, v->container,
	        v->signed_len) == 1 ?
	    1 :
	    0;
	EVP_MD_CTX_free(md);
	return r;
}

/* Push x onto sk with a reference of its own; 0 (nothing kept) on
 * failure. */
static int push_ref(STACK_OF(X509) * sk, X509 *x)
{
	if (x == NULL || !X509_up_ref(x))
		return 0;
	if (!sk_X509_push(sk, x)) {
		X509_free(x);
		return 0;
	}
	return 1;
}

/* The untrusted pool for the signer's chain (what the container carries,
 * then the caller's intermediates) and, separately, the carried ones.
 * PROV_ERR_FORMAT if a carried certificate does not parse. */
static int chain_pools(STACK_OF(X509) * *untrusted, STACK_OF(X509) * *carried,
    const prov_view_t *v, STACK_OF(X509) * intermediates, char *err,
    size_t errlen)
{
	X509 *x;
	size_t i;
	int j;

	if ((*untrusted = sk_X509_new_null()) == NULL ||
	    (*carried = sk_X509_new_null()) == NULL) {
		util_err_openssl(err, errlen, "sk_X509_new_null");
		return PROV_ERR_INTERNAL;
	}
	for (i = 1; i < v->chain_count; i++) {
		if ((x = der_cert(v->chain[i], v->chain_len[i])) == NULL) {
			util_err_openssl(err, errlen,
			    "chain certificate %zu "
			    "is not one DER certificate",
			    i + 1);
			return PROV_ERR_FORMAT;
		}
		/* untrusted takes the parse's reference, carried one more. */
		if (!sk_X509_push(*untrusted, x)) {
			X509_free(x);
			util_err_openssl(err, errlen, "sk_X509_push");
			return PROV_ERR_INTERNAL;
		}
		if (!push_ref(*carried, x)) {
			util_err_openssl(err, errlen, "chain certificate");
			return PROV_ERR_INTERNAL;
		}
	}
	for (j = 0; intermediates != NULL && j < sk_X509_num(intermediates);
	     j++) {
		if (!push_ref(*untrusted, sk_X509_value(intermediates, j))) {
			util_err_openssl(err, errlen, "caller intermediate");
			return PROV_ERR_INTERNAL;
		}
	}
	return PROV_OK;
}

/* The full verification (prov.h); signer and carried chain handed back. */
int prov_verify_chain(prov_view_t *out, X509 **signer_out,
    STACK_OF(X509) * *carried_out, const uint8_t *container, size_t len,
    X509 *root, STACK_OF(X509) * intermediates, int64_t at, char *err,
    size_t errlen)
{
	X509 *cert = NULL;
	STACK_OF(X509) *untrusted = NULL, *carried = NULL;
	int rc, v;

	if (signer_out != NULL)
		*signer_out = NULL;
	if (carried_out != NULL)
		*carried_out = NULL;
	if (out == NULL || root == NULL) {
		util_err_set(err, errlen, "missing argument");
		return PROV_ERR_ARG;
	}
	if ((rc = prov_parse(out, container, len, err, errlen)) != PROV_OK)
		return rc;
	rc = PROV_ERR_FORMAT;
	if ((cert = der_cert(out->chain[0], out->chain_len[0])) == NULL) {
		util_err_openssl(err, errlen,
		    "signer certificate is not one "
		    "DER certificate");
		goto done;
	}
	if ((rc = chain_pools(&untrusted, &carried, out, intermediates, err,
	         errlen)) != PROV_OK)
		goto done;
	rc = map_pki(pki_cert_verify(cert, root, untrusted, at,
	    PROVCA_OID_EKU_SIGNER, err, errlen));
	if (rc != PROV_OK)
		goto done;
	if ((rc = signer_own_checks(cert, err, errlen)) != PROV_OK)
		goto done;
	rc = PROV_ERR_INTERNAL;
	if ((v = prov_view_signature_verify(out, cert)) < 0) {
		util_err_openssl(err, errlen, "EVP_DigestVerifyInit");
		goto done;
	}
	if (v != 1) {
		util_err_set(err, errlen,
		    "container signature does not "
		    "verify");
		ERR_clear_error();
		rc = PROV_ERR_SIGNATURE;
		goto done;
	}
	if (pki_cert_fingerprint(out->signer_fingerprint, cert) != PKI_OK) {
		util_err_set(err, errlen, "signer fingerprint");
		goto done;
	}
	out->verified = 1;
	rc = PROV_OK;
	if (signer_out != NULL) {
		*signer_out = cert;
		cert = NULL;
	}
	if (carried_out != NULL) {
		*carried_out = carried;
		carried = NULL;
	}
done:
	if (rc != PROV_OK)
		memset(out, 0, sizeof(*out));
	sk_X509_pop_free(untrusted, X509_free);
	sk_X509_pop_free(carried, X509_free);
	X509_free(cert);
	return rc;
}

/* prov_verify_chain without handing anything back. */
int prov_verify(prov_view_t *out, const uint8_t *container, size_t len,
    X509 *root, STACK_OF(X509) * intermediates, int64_t at, char *err,
    size_t errlen)
{
	return prov_verify_chain(out, NULL, NULL, container, len, root,
	    intermediates, at, err, errlen);
}

/* Recover the content key from the key block with the device private key.
 * PROV_ERR_DECRYPT if the key block does not open with this key. */
static int unwrap_cek(uint8_t cek[CEK_LEN], const prov_view_t *view,
    EVP_PKEY *device_key, const uint8_t *dev_enc, char *err, size_t errlen)
{
	EVP_PKEY *eph = NULL;
	EVP_PKEY_CTX *rctx = NULL;
	uint8_t dev_pub[EC_PUB_MAX], tmp[512];
	size_t n = sizeof(tmp), coord;
	int rc = PROV_ERR_INTERNAL;

	if ((coord = ec_coord_len(view->alg)) != 0) {
		if ((eph = ec_pub_decode(view->alg, view->key_block)) == NULL) {
			util_err_openssl(err, errlen,
			    "ephemeral key is not a "
			    "point on the device's curve");
			rc = PROV_ERR_FORMAT;
			goto done;
		}
		if (view->alg != PROV_ALG_P256)
			dev_enc = NULL;
		if (dev_enc != NULL && dev_enc[0] == 0x04)
			memcpy(dev_pub, dev_enc, P256_PUB_LEN);
		if (((dev_enc == NULL || dev_enc[0] != 0x04) &&
		        !ec_pub_encode(dev_pub, coord, device_key)) ||
		    !ec_derive_cek(cek, coord, device_key, eph, view->key_block,
		        dev_pub, view->binding.ue_nonce,
		        view->binding.net_nonce)) {
			util_err_openssl(err, errlen, "ECDH key agreement");
			goto done;
		}
	} else {
		if ((rctx = oaep_ctx(device_key, 1)) == NULL) {
			util_err_openssl(err, errlen, "RSA-OAEP setup");
			goto done;
		}
		if (EVP_PKEY_decrypt(rctx, tmp, &n, view->key_block,
		        view->key_block_len) <= 0 ||
		    n != CEK_LEN) {
			util_err_set(err, errlen,
			    "content key does not "
			    "unwrap with this device key");
			ERR_clear_error();
			rc = PROV_ERR_DECRYPT;
			goto done;
		}
		memcpy(cek, tmp, CEK_LEN);
	}
	rc = PROV_OK;
done:
	OPENSSL_cleanse(tmp, sizeof(tmp));
	EVP_PKEY_free(eph);
	EVP_PKEY_CTX_free(rctx);
	return rc;
}

/* prov_open; dev_enc as in prov_verify_open_key. */
static int open_view(prov_subscription_t *sub_out,
    uint8_t net_nonce_out[PROV_NONCE_LEN], const prov_view_t *view,
    EVP_PKEY *device_key, const uint8_t *dev_enc, const char *expect_device_id,
    const uint8_t expect_ue_nonce[PROV_NONCE_LEN], char *err, size_t errlen)
{
	uint8_t pt[PROV_CONTAINER_MAX], cek[CEK_LEN];
	size_t id_len, aad_len;
	int rc, g;

	if (sub_out == NULL || view == NULL || device_key == NULL ||
	    expect_device_id == NULL || expect_ue_nonce == NULL) {
		util_err_set(err, errlen, "missing argument");
		return PROV_ERR_ARG;
	}
	memset(sub_out, 0, sizeof(*sub_out));
	if (!view->verified) {
		util_err_set(err, errlen, "container was not verified");
		return PROV_ERR_UNVERIFIED;
	}
	id_len = strnlen(expect_device_id, PROV_DEVICE_ID_MAX + 1);
	if (id_len != strlen(view->binding.device_id) ||
	    CRYPTO_memcmp(expect_device_id, view->binding.device_id, id_len) !=
	        0) {
		util_err_set(err, errlen, "container is for DeviceID %s",
		    view->binding.device_id);
		return PROV_ERR_DEVICE_MISMATCH;
	}
	if (CRYPTO_memcmp(expect_ue_nonce, view->binding.ue_nonce,
	        PROV_NONCE_LEN) != 0) {
		util_err_set(err, errlen,
		    "container answers another UE "
		    "nonce");
		return PROV_ERR_NONCE_MISMATCH;
	}
	if (alg_for_key(device_key) != view->alg) {
		util_err_set(err, errlen,
		    "device key does not fit key "
		    "algorithm 0x%02x",
		    view->alg);
		return PROV_ERR_KEY_TYPE;
	}
	if (view->ciphertext_len > sizeof(pt)) {
		util_err_set(err, errlen, "ciphertext too large");
		return PROV_ERR_TOO_LARGE;
	}
	if ((rc = unwrap_cek(cek, view, device_key, dev_enc, err, errlen)) !=
	    PROV_OK)
		goto done;
	/* AAD runs from the container's first byte to the IV. */
	aad_len = (size_t)(view->iv - view->container);
	g = gcm_open(pt, cek, view->iv, view->container, aad_len,
	    view->ciphertext, view->ciphertext_len, view->tag);
	if (g != 1) {
		if (g == 0)
			util_err_set(err, errlen,
			    "AES-GCM tag mismatch: wrong "
			    "device key or altered container");
		else
			util_err_openssl(err, errlen, "AES-256-GCM");
		rc = g == 0 ? PROV_ERR_DECRYPT : PROV_ERR_INTERNAL;
		goto done;
	}
	rc = prov_subscription_decode(sub_out, pt, view->ciphertext_len, err,
	    errlen);
	if (rc != PROV_OK)
		goto done;
	if (net_nonce_out != NULL)
		memcpy(net_nonce_out, view->binding.net_nonce, PROV_NONCE_LEN);
done:
	if (rc != PROV_OK)
		prov_subscription_wipe(sub_out);
	OPENSSL_cleanse(pt, sizeof(pt));
	OPENSSL_cleanse(cek, sizeof(cek));
	return rc;
}

/* prov_open with the device's own point (prov.h). */
int prov_open_key(prov_subscription_t *sub_out,
    uint8_t net_nonce_out[PROV_NONCE_LEN], const prov_view_t *view,
    EVP_PKEY *device_key, const uint8_t *device_pub_enc,
    const char *expect_device_id, const uint8_t expect_ue_nonce[PROV_NONCE_LEN],
    char *err, size_t errlen)
{
	return open_view(sub_out, net_nonce_out, view, device_key,
	    device_pub_enc, expect_device_id, expect_ue_nonce, err, errlen);
}

int prov_open(prov_subscription_t *sub_out,
    uint8_t net_nonce_out[PROV_NONCE_LEN], const prov_view_t *view,
    EVP_PKEY *device_key, const char *expect_device_id,
    const uint8_t expect_ue_nonce[PROV_NONCE_LEN], char *err, size_t errlen)
{
	return open_view(sub_out, net_nonce_out, view, device_key, NULL,
	    expect_device_id, expect_ue_nonce, err, errlen);
}

int prov_seal_sign(uint8_t *out, size_t outcap, size_t *outlen,
    const prov_subscription_t *sub, const prov_binding_t *bind,
    EVP_PKEY *device_pub, EVP_PKEY *signer_key, X509 *signer_cert,
    STACK_OF(X509) * intermediates, char *err, size_t errlen)
{
	size_t bodylen = 0;
	int rc;

	if (out == NULL || outlen == NULL) {
		util_err_set(err, errlen, "missing argument");
		return PROV_ERR_ARG;
	}
	*outlen = 0;
	rc = prov_seal(out, outcap, &bodylen, sub, bind, device_pub, err,
	    errlen);
	if (rc != PROV_OK)
		return rc;
	/* prov_sign moves the body in place (memmove) and appends. */
	rc = prov_sign(out, outcap, outlen, out, bodylen, signer_key,
	    signer_cert, intermediates, err, errlen);
	if (rc != PROV_OK)
		OPENSSL_cleanse(out, outcap);
	return rc;
}

int prov_seal_sign_prepared(uint8_t *out, size_t outcap, size_t *outlen,
    const prov_subscription_t *sub, const prov_binding_t *bind,
    EVP_PKEY *device_pub, const uint8_t *device_pub_enc,
    const prov_signer *signer, char *err, size_t errlen)
{
	size_t bodylen = 0;
	int rc;

	if (outlen != NULL)
		*outlen = 0;
	if (out == NULL || outlen == NULL || signer == NULL) {
		util_err_set(err, errlen, "missing argument");
		return PROV_ERR_ARG;
	}
	rc = seal_body(out, outcap, &bodylen, sub, bind, device_pub,
	    device_pub_enc, err, errlen);
	if (rc != PROV_OK)
		return rc;
	rc = sign_body(out, outcap, outlen, out, bodylen, signer, err, errlen);
	if (rc != PROV_OK)
		OPENSSL_cleanse(out, outcap);
	return rc;
}

int prov_verify_open_key(prov_subscription_t *sub_out,
    uint8_t net_nonce_out[PROV_NONCE_LEN], const uint8_t *container, size_t len,
    X509 *root, STACK_OF(X509) * intermediates, int64_t at,
    EVP_PKEY *device_key, const uint8_t *device_pub_enc,
    const char *expect_device_id, const uint8_t expect_ue_nonce[PROV_NONCE_LEN],
    char *err, size_t errlen)
{
	prov_view_t view;
	int rc;

	if (sub_out == NULL) {
		util_err_set(err, errlen, "missing argument");
		return PROV_ERR_ARG;
	}
	memset(sub_out, 0, sizeof(*sub_out));
	rc = prov_verify(&view, container, len, root, intermediates, at, err,
	    errlen);
	if (rc != PROV_OK)
		return rc;
	return open_view(sub_out, net_nonce_out, &view, device_key,
	    device_pub_enc, expect_device_id, expect_ue_nonce, err, errlen);
}

int prov_verify_open(prov_subscription_t *sub_out,
    uint8_t net_nonce_out[PROV_NONCE_LEN], const uint8_t *container, size_t len,
    X509 *root, STACK_OF(X509) * intermediates, int64_t at,
    EVP_PKEY *device_key, const char *expect_device_id,
    const uint8_t expect_ue_nonce[PROV_NONCE_LEN], char *err, size_t errlen)
{
	return prov_verify_open_key(sub_out, net_nonce_out, container, len,
	    root, intermediates, at, device_key, NULL, expect_device_id,
	    expect_ue_nonce, err, errlen);
}
