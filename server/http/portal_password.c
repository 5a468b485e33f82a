/* portal_password.c — portal passwords: scrypt (OpenSSL EVP_KDF "SCRYPT")
 * with a random per-user salt, constant-time verification, reading a
 * password from a file for `ca-server user add`. */
#include "portal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/kdf.h>
#include <openssl/params.h>

#include "util.h"

#define SALT_LEN 16
#define SALT_MIN 8
#define SALT_MAX 32
#define DK_LEN 32

/* Bounds for costs read back from the database: a tampered row must not
 * make one login allocate gigabytes. */
#define LOG2N_MIN 4
#define LOG2N_MAX 20
#define R_MAX 16
#define P_MAX 4

/* Derive DK_LEN bytes from pw and salt with scrypt(2^log2n, r, p). */
static int scrypt_derive(uint8_t *dk, const char *pw, size_t pwlen,
    const uint8_t *salt, size_t saltlen, unsigned log2n, unsigned r, unsigned p,
    char *err, size_t errlen)
{
	EVP_KDF *kdf = NULL;
	EVP_KDF_CTX *kctx = NULL;
	OSSL_PARAM params[6];
	uint64_t n = (uint64_t)1 << log2n;
	uint32_t r32 = r, p32 = p;
	int rc = PORTAL_E_CRYPTO;

	kdf = EVP_KDF_fetch(NULL, "SCRYPT", NULL);
	if (kdf == NULL) {
		util_err_openssl(err, errlen, "scrypt unavailable");
		goto out;
	}
	kctx = EVP_KDF_CTX_new(kdf);
	if (kctx == NULL) {
		util_err_openssl(err, errlen, "scrypt context");
		goto out;
	}
	/* An empty password is refused by policy before it gets here; the
	 * cast is only because OSSL_PARAM takes a non-const pointer. */
	params[0] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_PASSWORD,
	    (void *)pw, pwlen);
	params[1] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT,
	    (void *)salt, saltlen);
	params[2] = OSSL_PARAM_construct_uint64(OSSL_KDF_PARAM_SCRYPT_N, &n);
	params[3] = OSSL_PARAM_construct_uint32(OSSL_KDF_PARAM_SCRYPT_R, &r32);
	params[4] = OSSL_PARAM_construct_uint32(OSSL_KDF_PARAM_SCRYPT_P, &p32);
	params[5] = OSSL_PARAM_construct_end();
	if (EVP_KDF_derive(kctx, dk, DK_LEN, params) != 1) {
		util_err_openssl(err, errlen, "scrypt derive");
		goto out;
	}
	rc = PORTAL_OK;
out:
	EVP_KDF_CTX_free(kctx);
	EVP_KDF_free(kdf);
	return rc;
}

int portal_password_check_policy(const char *pw, size_t pwlen, char *err,
    size_t errlen)
{
	if (pw == NULL || pwlen < PORTAL_PW_MIN) {
		util_err_set(err, errlen,
		    "password must have at least %d characters", PORTAL_PW_MIN);
		return PORTAL_E_ARG;
	}
	if (pwlen > PORTAL_PW_MAX) {
		util_err_set(err, errlen, "password must have at most %d bytes",
		    PORTAL_PW_MAX);
		return PORTAL_E_ARG;
	}
	if (memchr(pw, '\0', pwlen) != NULL) {
		util_err_set(err, errlen, "password contains a NUL byte");
		return PORTAL_E_ARG;
	}
	return PORTAL_OK;
}

int portal_password_hash_cost(char *out, size_t outlen, const char *pw,
    size_t pwlen, unsigned log2n, unsigned r, unsigned p, char *err,
    size_t errlen)
{
	uint8_t salt[SALT_LEN], dk[DK_LEN];
	char salthex[2 * SALT_LEN + 1], dkhex[2 * DK_LEN + 1];
	int rc, n;

	if (out == NULL || pw == NULL || pwlen > PORTAL_PW_MAX ||
	    log2n < LOG2N_MIN || log2n > LOG2N_MAX || r < 1 || r > R_MAX ||
	    p < 1 || p > P_MAX) {
		util_err_set(err, errlen, "invalid password hash arguments");
		return PORTAL_E_ARG;
	}
	if (util_random(salt, sizeof(salt)) != 0) {
		util_err_openssl(err, errlen, "random salt");
		return PORTAL_E_CRYPTO;
	}
	rc = scrypt_derive(dk, pw, pwlen, salt, sizeof(salt), log2n, r, p, err,
	    errlen);
	if (rc != PORTAL_OK)
		goto out;
	util_hex_encode(salthex, salt, sizeof(salt));
	util_hex_encode(dkhex, dk, sizeof(dk));
	n = snprintf(out, outlen, "scrypt$%u$%u$%u$%s$%s", log2n, r, p, salthex,
	    dkhex);
	if (n < 0 || (size_t)n >= outlen) {
		util_err_set(err, errlen, "password hash buffer too small");
		rc = PORTAL_E_ARG;
		goto out;
	}
	rc = PORTAL_OK;
out:
	OPENSSL_cleanse(dk, sizeof(dk));
	OPENSSL_cleanse(dkhex, sizeof(dkhex));
	return rc;
}

int portal_password_hash(char *out, size_t outlen, const char *pw, size_t pwlen,
    char *err, size_t errlen)
{
	return portal_password_hash_cost(out, outlen, pw, pwlen,
	    PORTAL_SCRYPT_LOG2N, PORTAL_SCRYPT_R, PORTAL_SCRYPT_P, err, errlen);
}

/* Parse a decimal field of at most 2 digits ending at '$'; advances *s. */
static int parse_small(unsigned *out, const char **s)
{
	const char *p = *s;
	unsigned v = 0;
	int digits = 0;

	while (*p >= '0' && *p <= '9' && digits < 2) {
		v = v * 10 + (unsigned)(*p - '0');
		p++;
		digits++;
	}
	if (digits == 0 || *p != '$')
		return -1;
	*out = v;
	*s = p + 1;
	return 0;
}

int portal_password_verify(const char *encoded, const char *pw, size_t pwlen,
    char *err, size_t errlen)
{
	uint8_t salt[SALT_MAX], want[DK_LEN], got[DK_LEN];
	char salthex[2 * SALT_MAX + 1];
	const char *s = encoded, *dollar;
	size_t saltlen;
	unsigned log2n, r, p;
	int rc = PORTAL_E_ARG;

	if (encoded == NULL || pw == NULL || pwlen > PORTAL_PW_MAX) {
		util_err_set(err, errlen, "invalid password verify arguments");
		return PORTAL_E_ARG;
	}
	if (strncmp(s, "scrypt$", 7) != 0)
		goto bad;
	s += 7;
	if (parse_small(&log2n, &s) != 0 || parse_small(&r, &s) != 0 ||
	    parse_small(&p, &s) != 0)
		goto bad;
	if (log2n < LOG2N_MIN || log2n > LOG2N_MAX || r < 1 || r > R_MAX ||
	    p < 1 || p > P_MAX)
		goto bad;
	/* Salt: 8..32 bytes (ours are 16; others come from elsewhere, e.g.
	 * RFC 7914's vectors), then exactly DK_LEN bytes of output. */
	dollar = strchr(s, '$');
	if (dollar == NULL || (dollar - s) % 2 != 0)
		goto bad;
	saltlen = (size_t)(dollar - s) / 2;
	if (saltlen < SALT_MIN || saltlen > SALT_MAX)
		goto bad;
	memcpy(salthex, s, 2 * saltlen);
	salthex[2 * saltlen] = '\0';
	if (util_hex_decode(salt, saltlen, salthex) != 0 ||
	    util_hex_decode(want, sizeof(want), dollar + 1) != 0)
		goto bad;
	rc = scrypt_derive(got, pw, pwlen, salt, saltlen, log2n, r, p, err,
	    errlen);
	if (rc != PORTAL_OK)
		goto out;
	if (CRYPTO_memcmp(got, want, DK_LEN) != 0) {
		util_err_set(err, errlen, "wrong password");
		rc = PORTAL_E_AUTH;
		goto out;
	}
	rc = PORTAL_OK;
	goto out;
bad:
	util_err_set(err, errlen, "malformed password hash");
	rc = PORTAL_E_ARG;
out:
	OPENSSL_cleanse(got, sizeof(got));
	OPENSSL_cleanse(want, sizeof(want));
	return rc;
}

int portal_password_read_file(char *out, size_t outlen, const char *path,
    char *err, size_t errlen)
{
	FILE *f = NULL;
	size_t n = 0;
	int c, rc = PORTAL_E_ARG;

	if (out == NULL || outlen < 2 || path == NULL) {
		util_err_set(err, errlen, "invalid password file arguments");
		return PORTAL_E_ARG;
	}
	f = fopen(path, "rb");
	if (f == NULL) {
		util_err_set(err, errlen, "cannot open password file %s: %s",
		    path, strerror(errno));
		return PORTAL_E_ARG;
	}
	/* First line only; bytes are copied one by one so the limit is
	 * checked before anything lands past the buffer. */
	while ((c = fgetc(f)) != EOF && c != '\n') {
		if (c == '\0') {
			util_err_set(err, errlen,
			    "password in %s contains a NUL byte", path);
			goto out;
		}
		if (n + 1 >= outlen) {
			util_err_set(err, errlen,
			    "password in %s is longer than %zu bytes", path,
			    outlen - 1);
			goto out;
		}
		out[n++] = (char)c;
	}
	if (ferror(f)) {
		util_err_set(err, errlen, "cannot read password file %s", path);
		goto out;
	}
	if (n > 0 && out[n - 1] == '\r')
		n--;
	out[n] = '\0';
	rc = PORTAL_OK;
out:
	if (rc != PORTAL_OK)
		OPENSSL_cleanse(out, outlen);
	fclose(f);
	return rc;
}
