/* ca_cmp_secret.c — one-time secrets for CMP's MAC-based protection (PBM):
 * made by an administrator or a manufacturer for one of its own devices
 * (or a batch of them, one secret each), single use, expiring. The
 * registry holds each encrypted (AES-256-GCM, the reference as associated
 * data) under a key derived (HKDF-SHA-256) from DATA/cmp-secrets.key and
 * the data folder's passphrase: a PBM check needs the secret itself, the
 * salt and iteration count being the client's choice per message. */
#include "ca_cmp_priv.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>

#include "reg_cmp.h"
#include "util.h"

#define SECRETS_KEY_FILE "cmp-secrets.key"
#define KEY_LEN 32
#define IV_LEN 12
#define TAG_LEN 16

/* The data folder's secrets key file (made on first use, 0600,
 * exclusive) into k. */
static int file_key(const ca_t *ca, unsigned char k[KEY_LEN], int create,
    char *err, size_t errlen)
{
	char path[PATH_MAX + 32], *buf = NULL;
	size_t len = 0;
	int rc;

	snprintf(path, sizeof(path), "%s/%s", ca->data_dir, SECRETS_KEY_FILE);
	if (access(path, F_OK) != 0 && errno == ENOENT && create) {
		if (util_random(k, KEY_LEN) != 0) {
			util_err_openssl(err, errlen, "random key");
			return CA_ERR_INTERNAL;
		}
		rc = ca_file_write(path, k, KEY_LEN, 0600, err, errlen);
		if (rc != CA_ERR_EXISTS) /* else another made it: read */
			return rc;
	}
	if ((rc = ca_file_read(&buf, &len, path, KEY_LEN, err, errlen)) !=
	    CA_OK)
		return rc;
	if (len != KEY_LEN) {
		util_err_set(err, errlen, "%s is not %d bytes", path, KEY_LEN);
		rc = CA_ERR_INVALID;
	} else {
		memcpy(k, buf, KEY_LEN);
	}
	OPENSSL_cleanse(buf, len);
	free(buf);
	return rc;
}

/* The wrapping key: HKDF-SHA-256 of the key file, salted with the
 * passphrase (an encrypted data folder's secrets need both). */
static int wrap_key(const ca_t *ca, unsigned char k[KEY_LEN], int create,
    char *err, size_t errlen)
{
	unsigned char ikm[KEY_LEN];
	static const char info[] = "provca cmp secrets v1";
	EVP_KDF *kdf = NULL;
	EVP_KDF_CTX *kc = NULL;
	OSSL_PARAM p[5], *q = p;
	int rc;

	if ((rc = file_key(ca, ikm, create, err, errlen)) != CA_OK)
		return rc;
	*q++ = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST,
	    (char *)"SHA256", 0);
	*q++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, ikm,
	    sizeof(ikm));
	*q++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT,
	    (void *)ca->key_pass, strlen(ca->key_pass));
	*q++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO,
	    (void *)info, sizeof(info) - 1);
	*q = OSSL_PARAM_construct_end();
	rc = CA_OK;
	if ((kdf = EVP_KDF_fetch(NULL, "HKDF", NULL)) == NULL ||
	    (kc = EVP_KDF_CTX_new(kdf)) == NULL ||
	    EVP_KDF_derive(kc, k, KEY_LEN, p) != 1) {
		util_err_openssl(err, errlen, "secrets key");
		rc = CA_ERR_INTERNAL;
	}
	EVP_KDF_CTX_free(kc);
	EVP_KDF_free(kdf);
	OPENSSL_cleanse(ikm, sizeof(ikm));
	return rc;
}

/* AES-256-GCM of in (n bytes) with aad: out = IV || ciphertext || tag
 * (enc), or the reverse (dec: in is that, out n - IV_LEN - TAG_LEN). 1
 * on success (dec: the tag verified). */
static int gcm(int enc, const unsigned char key[KEY_LEN], unsigned char *out,
    const unsigned char *in, size_t n, const char *aad)
{
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	const unsigned char *iv = enc ? out : in;
	unsigned char *dst = enc ? out + IV_LEN : out;
	size_t len = enc ? n : n - IV_LEN - TAG_LEN;
	unsigned char *tag =
	    enc ? out + IV_LEN + n : (unsigned char *)in + n - TAG_LEN;
	int l = 0, ok;

	ok = c != NULL && (enc || n >= IV_LEN + TAG_LEN) &&
	    (!enc || util_random(out, IV_LEN) == 0) &&
	    EVP_CipherInit_ex(c, EVP_aes_256_gcm(), NULL, key, iv, enc) == 1 &&
	    EVP_CipherUpdate(c, NULL, &l, (const unsigned char *)aad,
	        (int)strlen(aad)) == 1 &&
	    EVP_CipherUpdate(c, dst, &l, enc ? in : in + IV_LEN, (int)len) ==
	        1 &&
	    (enc ||
	        EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, TAG_LEN, tag) ==
	            1) &&
	    EVP_CipherFinal_ex(c, dst + l, &l) == 1 &&
	    (!enc ||
	        EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, TAG_LEN, tag) ==
	            1);
	EVP_CIPHER_CTX_free(c);
	return ok;
}

/* One new secret of mfr_id into out and its encrypted row into row. */
static int secret_new(ca_cmp_secret_new_t *out, reg_cmp_secret_t *row,
    const unsigned char key[KEY_LEN], const char *mfr_id, int64_t now,
    int64_t valid_s, const char *actor)
{
	uint8_t r[8 + CA_CMP_SECRET_LEN / 2];
	char hex[2 * sizeof(r) + 1];

	if (util_random(r, sizeof(r)) != 0)
		return CA_ERR_INTERNAL;
	util_hex_encode(hex, r, sizeof(r));
	snprintf(out->ref, sizeof(out->ref), "pbm-%.16s", hex);
	memcpy(out->secret, hex + 16, CA_CMP_SECRET_LEN);
	out->secret[CA_CMP_SECRET_LEN] = '\0';
	out->expires_at = now + valid_s;
	OPENSSL_cleanse(r, sizeof(r));
	OPENSSL_cleanse(hex, sizeof(hex));
	memset(row, 0, sizeof(*row));
	snprintf(row->ref, sizeof(row->ref), "%s", out->ref);
	snprintf(row->manufacturer_id, sizeof(row->manufacturer_id), "%s",
	    mfr_id);
	snprintf(row->created_by, sizeof(row->created_by), "%s", actor);
	row->created_at = now;
	row->expires_at = out->expires_at;
	row->enc_len = IV_LEN + CA_CMP_SECRET_LEN + TAG_LEN;
	if (!gcm(1, key, row->enc, (const unsigned char *)out->secret,
	        CA_CMP_SECRET_LEN, row->ref))
		return CA_ERR_INTERNAL;
	return CA_OK;
}

/* Insert n new secrets and their audit rows, inside a transaction. */
static int secrets_store(reg_t *reg, ca_cmp_secret_new_t *out, size_t n,
    const unsigned char key[KEY_LEN], const char *mfr_id, int64_t valid_s,
    const char *actor, char *err, size_t errlen)
{
	reg_cmp_secret_t row;
	char exp[24];
	int64_t now = reg_now();
	size_t i;
	int rc = CA_OK;

	for (i = 0; i < n && rc == CA_OK; i++) {
		if ((rc = secret_new(&out[i], &row, key, mfr_id, now, valid_s,
		         actor)) != CA_OK) {
			util_err_openssl(err, errlen, "new secret");
			break;
		}
		rc = ca_from_reg(reg_cmp_secret_insert(reg, &row, err, errlen));
		if (rc == CA_ERR_NOT_FOUND)
			util_err_set(err, errlen, "unknown manufacturer %s",
			    mfr_id);
		snprintf(exp, sizeof(exp), "%lld", (long long)row.expires_at);
		if (rc == CA_OK)
			rc = ca_audit(reg, actor, "cmp_secret.create",
			    out[i].ref, err, errlen, "manufacturer_id", mfr_id,
			    "expires_at", exp, (const char *)NULL);
	}
	OPENSSL_cleanse(&row, sizeof(row));
	return rc;
}

int ca_cmp_secret_create(ca_t *ca, reg_t *reg, ca_cmp_secret_new_t *out,
    size_t n, const char *mfr_id, int64_t valid_s, const char *actor, char *err,
    size_t errlen)
{
	unsigned char key[KEY_LEN];
	int rc;

	memset(out, 0, n * sizeof(*out));
	if (n < 1 || n > CA_CMP_SECRET_BATCH_MAX) {
		util_err_set(err, errlen, "count must be 1..%d",
		    CA_CMP_SECRET_BATCH_MAX);
		return CA_ERR_INVALID;
	}
	if (valid_s < 60 || valid_s > CA_CMP_SECRET_VALID_MAX) {
		util_err_set(err, errlen, "validity must be 60..%d seconds",
		    CA_CMP_SECRET_VALID_MAX);
		return CA_ERR_INVALID;
	}
	if (!ca_token_valid(mfr_id, REG_MFR_ID_MAX)) {
		util_err_set(err, errlen,
		    "manufacturer id must match "
		    "[A-Za-z0-9._-]{1,%d}",
		    REG_MFR_ID_MAX);
		return CA_ERR_INVALID;
	}
	if ((rc = wrap_key(ca, key, 1, err, errlen)) != CA_OK)
		return rc;
	if ((rc = ca_from_reg(reg_begin(reg, err, errlen))) != CA_OK)
		goto out;
	rc = secrets_store(reg, out, n, key, mfr_id, valid_s, actor, err,
	    errlen);
	if (rc == CA_OK)
		rc = ca_from_reg(reg_commit(reg, err, errlen));
	if (rc != CA_OK)
		reg_rollback(reg);
out:
	OPENSSL_cleanse(key, sizeof(key));
	if (rc != CA_OK)
		OPENSSL_cleanse(out, n * sizeof(*out));
	return rc;
}

int ca_cmp_secret_get(ca_t *ca, reg_t *reg, ca_cmp_secret_t *out,
    const char *ref, char *err, size_t errlen)
{
	reg_cmp_secret_t row;
	unsigned char key[KEY_LEN];
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = ca_from_reg(
	         reg_cmp_secret_get(reg, &row, ref, err, errlen))) != CA_OK)
		return rc;
	if (row.enc_len != IV_LEN + CA_CMP_SECRET_LEN + TAG_LEN) {
		util_err_set(err, errlen, "stored secret has a bad length");
		return CA_ERR_NOT_FOUND;
	}
	if ((rc = wrap_key(ca, key, 0, err, errlen)) != CA_OK)
		return rc;
	if (!gcm(0, key, out->secret, row.enc, row.enc_len, row.ref)) {
		util_err_set(err, errlen, "stored secret does not open");
		rc = CA_ERR_NOT_FOUND;
	} else {
		out->id = row.id;
		snprintf(out->ref, sizeof(out->ref), "%s", row.ref);
		snprintf(out->manufacturer_id, sizeof(out->manufacturer_id),
		    "%s", row.manufacturer_id);
		snprintf(out->created_by, sizeof(out->created_by), "%s",
		    row.created_by);
		out->expires_at = row.expires_at;
		out->used_at = row.used_at;
	}
	OPENSSL_cleanse(key, sizeof(key));
	OPENSSL_cleanse(&row, sizeof(row));
	return rc;
}

int ca_cmp_secret_use(reg_t *reg, int64_t id, const char *device_id,
    int64_t now, char *err, size_t errlen)
{
	int rc = ca_from_reg(
	    reg_cmp_secret_use(reg, id, device_id, now, err, errlen));

	return rc == CA_ERR_NOT_FOUND ? CA_ERR_STATE : rc;
}
