/* ca_x509.c — the CA's building blocks: key generation and key files,
 * certificate construction (random serials, SKI/AKI, profile extensions),
 * CSR parsing with proof of possession, digests, small validators. */
#include "ca_priv.h"
#include "ca_profile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "devid.h"
#include "pki.h"
#include "util.h"

int ca_from_reg(int rc)
{
	switch (rc) {
	case REG_OK: return CA_OK;
	case REG_ERR_NOT_FOUND: return CA_ERR_NOT_FOUND;
	case REG_ERR_CONSTRAINT: return CA_ERR_CONFLICT;
	case REG_ERR_BUSY: return CA_ERR_BUSY;
	case REG_ERR_UNAVAILABLE: return CA_ERR_UNAVAILABLE;
	case REG_ERR_INVALID: return CA_ERR_INVALID;
	case REG_ERR_IO: return CA_ERR_EXISTS;
	default: return CA_ERR_INTERNAL;
	}
}

int ca_token_valid(const char *s, size_t max)
{
	size_t i;

	if (s == NULL || s[0] == '\0')
		return 0;
	for (i = 0; s[i] != '\0'; i++) {
		char c = s[i];

		if (i >= max)
			return 0;
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		        (c >= '0' && c <= '9') || c == '.' || c == '_' ||
		        c == '-'))
			return 0;
	}
	return 1;
}

int ca_printable_valid(const char *s, size_t max)
{
	size_t i;

	if (s == NULL || s[0] == '\0')
		return 0;
	for (i = 0; s[i] != '\0'; i++) {
		unsigned char c = (unsigned char)s[i];

		if (i >= max || c < 0x20 || c > 0x7e)
			return 0;
	}
	return 1;
}

int64_t ca_asn1_time(const ASN1_TIME *t)
{
	int64_t v;

	return pki_time_unix(&v, t) == 0 ? v : 0;
}

void ca_subject_line(char *out, size_t outlen, X509 *cert)
{
	if (X509_NAME_oneline(X509_get_subject_name(cert), out, (int)outlen) ==
	    NULL)
		snprintf(out, outlen, "?");
}

int ca_device_id_valid(const char *id)
{
	return devid_valid(id);
}

void ca_sha256_hex(char out[65], const uint8_t *buf, size_t len)
{
	uint8_t md[32];
	unsigned int mdlen = 0;

	if (EVP_Digest(buf, len, md, &mdlen, EVP_sha256(), NULL) != 1 ||
	    mdlen != 32) {
		memset(out, '0', 64);
		out[64] = '\0';
		return;
	}
	util_hex_encode(out, md, 32);
}

int ca_spki_sha256_hex(char out[65], EVP_PKEY *key)
{
	unsigned char *der = NULL;
	int len = i2d_PUBKEY(key, &der);

	if (len <= 0)
		return CA_ERR_INTERNAL;
	ca_sha256_hex(out, der, (size_t)len);
	OPENSSL_free(der);
	return CA_OK;
}

/* An EC key whose point came compressed (or hybrid) is one key with its
 * uncompressed form: hash the uncompressed SubjectPublicKeyInfo, so the
 * key-in-use and repeat checks see one key however a request encodes it.
 * 1 and out set if key was such a key, 0 if not, -1 on error. */
static int ec_canonical_spki_sha256_hex(char out[65], EVP_PKEY *key)
{
	char fmt[24];
	size_t n = 0;
	EVP_PKEY *dup = NULL;
	int rc;

	if (key == NULL || !EVP_PKEY_is_a(key, "EC") ||
	    EVP_PKEY_get_utf8_string_param(key,
	        OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT, fmt, sizeof(fmt),
	        &n) != 1 ||
	    strcmp(fmt, OSSL_PKEY_EC_POINT_CONVERSION_FORMAT_UNCOMPRESSED) == 0)
		return 0;
	if ((dup = EVP_PKEY_dup(key)) == NULL ||
	    EVP_PKEY_set_utf8_string_param(dup,
	        OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT,
	        OSSL_PKEY_EC_POINT_CONVERSION_FORMAT_UNCOMPRESSED) != 1)
		rc = -1;
	else
		rc = ca_spki_sha256_hex(out, dup) == CA_OK ? 1 : -1;
	EVP_PKEY_free(dup);
	return rc;
}

int ca_req_spki_sha256_hex(char out[65], X509_REQ *req)
{
	X509_PUBKEY *xpk = X509_REQ_get_X509_PUBKEY(req);
	unsigned char *der = NULL;
	int len, ec;

	if ((ec = ec_canonical_spki_sha256_hex(out,
	         X509_REQ_get0_pubkey(req))) != 0)
		return ec > 0 ? CA_OK : CA_ERR_INTERNAL;
	/* The request's own SPKI encoding: i2d_PUBKEY on the EVP_PKEY would
	 * give the same bytes through OpenSSL 3's much slower encoders. */
	if (xpk == NULL || (len = i2d_X509_PUBKEY(xpk, &der)) <= 0)
		return CA_ERR_INTERNAL;
	ca_sha256_hex(out, der, (size_t)len);
	OPENSSL_free(der);
	return CA_OK;
}

/* An RSA public exponent must be odd and 65537 <= e < 2^256 (FIPS 186-4
 * §B.3.1): e = 3 invites the low-exponent attacks on badly padded
 * messages, and an even e is not an RSA key at all. */
static int rsa_exponent_check(const EVP_PKEY *key, char *err, size_t errlen)
{
	BIGNUM *e = NULL;
	int rc = CA_ERR_INVALID;

	if (EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_RSA_E, &e) != 1) {
		util_err_openssl(err, errlen, "RSA public exponent unreadable");
		goto out;
	}
	if (!BN_is_odd(e) || BN_num_bits(e) < 17 || BN_num_bits(e) > 256) {
		if (BN_num_bits(e) <= 64)
			util_err_set(err, errlen,
			    "RSA public exponent %llu not "
			    "accepted (odd, at least 65537)",
			    (unsigned long long)BN_get_word(e));
		else
			util_err_set(err, errlen,
			    "RSA public exponent not "
			    "accepted (odd, at least 65537, below 2^256)");
		goto out;
	}
	rc = CA_OK;
out:
	BN_free(e);
	return rc;
}

int ca_key_type(char out[16], EVP_PKEY *key, char *err, size_t errlen)
{
	char group[64];
	size_t glen = 0;
	int bits = EVP_PKEY_get_bits(key);

	if (EVP_PKEY_is_a(key, "EC")) {
		if (EVP_PKEY_get_utf8_string_param(key,
		        OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group),
		        &glen) != 1) {
			ERR_clear_error();
			util_err_set(err, errlen,
			    "EC key without a named curve");
			return CA_ERR_INVALID;
		}
		if (strcmp(group, "prime256v1") == 0 ||
		    strcmp(group, "P-256") == 0) {
			snprintf(out, 16, "EC-P256");
			return CA_OK;
		}
		if (strcmp(group, "secp384r1") == 0 ||
		    strcmp(group, "P-384") == 0) {
			snprintf(out, 16, "EC-P384");
			return CA_OK;
		}
		util_err_set(err, errlen,
		    "EC curve %s not accepted (P-256 or "
		    "P-384)",
		    group);
		return CA_ERR_INVALID;
	}
	if (EVP_PKEY_is_a(key, "RSA")) {
		if (bits != 2048 && bits != 3072 && bits != 4096) {
			util_err_set(err, errlen,
			    "RSA-%d key not accepted "
			    "(2048, 3072 or 4096 bits)",
			    bits);
			return CA_ERR_INVALID;
		}
		if (rsa_exponent_check(key, err, errlen) != CA_OK)
			return CA_ERR_INVALID;
		snprintf(out, 16, "RSA-%d", bits);
		return CA_OK;
	}
	util_err_set(err, errlen, "key type not accepted (EC P-256 or RSA)");
	return CA_ERR_INVALID;
}

int ca_csr_spki_check(const X509_REQ *req, char *err, size_t errlen)
{
	X509_PUBKEY *xpk = X509_REQ_get_X509_PUBKEY((X509_REQ *)req);
	const X509_ALGOR *alg = NULL;
	const ASN1_OBJECT *oid = NULL;
	int ptype = V_ASN1_UNDEF;

	if (xpk == NULL ||
	    X509_PUBKEY_get0_param(NULL, NULL, NULL, (X509_ALGOR **)&alg,
	        xpk) != 1 ||
	    alg == NULL) {
		util_err_set(err, errlen, "CSR public key unreadable");
		return CA_ERR_INVALID;
	}
	X509_ALGOR_get0(&oid, &ptype, NULL, alg);
	/* RFC 5480 §2.1.1: an EC key names its curve. Explicit parameters
	 * equal to P-256 would also give the same key another encoding (and
	 * another SPKI hash for the key-in-use check). */
	if (OBJ_obj2nid(oid) == NID_X9_62_id_ecPublicKey &&
	    ptype != V_ASN1_OBJECT) {
		util_err_set(err, errlen,
		    "EC key with explicit curve parameters "
		    "not accepted: name the curve (RFC 5480 section 2.1.1)");
		return CA_ERR_INVALID;
	}
	return CA_OK;
}

int ca_csr_parse(X509_REQ **out, const uint8_t *buf, size_t len, char *err,
    size_t errlen)
{
	X509_REQ *req = NULL;
	EVP_PKEY *pk;
	int rc = CA_ERR_INVALID;

	*out = NULL;
	if (buf == NULL || len == 0) {
		util_err_set(err, errlen, "CSR is empty");
		return CA_ERR_INVALID;
	}
	if (len > CA_CSR_MAX) {
		util_err_set(err, errlen, "CSR larger than %d bytes",
		    CA_CSR_MAX);
		return CA_ERR_INVALID;
	}
	if (len >= 10 && memcmp(buf, "-----BEGIN", 10) == 0) {
		BIO *b = BIO_new_mem_buf(buf, (int)len);

		if (b == NULL) {
			util_err_openssl(err, errlen, "CSR");
			return CA_ERR_INTERNAL;
		}
		req = PEM_read_bio_X509_REQ(b, NULL, NULL, NULL);
		BIO_free(b);
	} else {
		const unsigned char *p = buf;

		req = d2i_X509_REQ(NULL, &p, (long)len);
		if (req != NULL && p != buf + len) {
			X509_REQ_free(req);
			req = NULL;
			util_err_set(err, errlen,
			    "CSR has trailing bytes after the DER");
			ERR_clear_error();
			return CA_ERR_INVALID;
		}
	}
	if (req == NULL) {
		util_err_openssl(err, errlen,
		    "CSR is not a PKCS#10 request in PEM or DER");
		return CA_ERR_INVALID;
	}
	if (ca_csr_spki_check(req, err, errlen) != CA_OK)
		goto fail;
	if ((pk = X509_REQ_get0_pubkey(req)) == NULL) {
		util_err_openssl(err, errlen, "CSR public key unreadable");
		goto fail;
	}
	if (X509_REQ_verify(req, pk) != 1) {
		util_err_openssl(err, errlen,
		    "CSR signature does not verify (no proof of possession)");
		goto fail;
	}
	*out = req;
	return CA_OK;
fail:
	X509_REQ_free(req);
	return rc;
}

int ca_key_generate(EVP_PKEY **out, const char *curve, char *err, size_t errlen)
{
	*out = EVP_PKEY_Q_keygen(NULL, NULL, "EC", curve);
	if (*out == NULL) {
		util_err_openssl(err, errlen, "generate %s key", curve);
		return CA_ERR_INTERNAL;
	}
	return CA_OK;
}

/* Encrypted PKCS#8 (PBES2: scrypt N=2^14, r=8, p=1 — memory-hard, within
 * OpenSSL's 32 MiB decode limit — and AES-256-CBC) of key to b. 1 on
 * success. */
static int pkcs8_scrypt_write(BIO *b, EVP_PKEY *key, const char *pass)
{
	PKCS8_PRIV_KEY_INFO *p8inf = NULL;
	X509_ALGOR *pbe = NULL;
	X509_SIG *p8 = NULL;
	int ok = 0;

	if ((p8inf = EVP_PKEY2PKCS8(key)) == NULL ||
	    (pbe = PKCS5_pbe2_set_scrypt(EVP_aes_256_cbc(), NULL, 0, NULL,
	         CA_SCRYPT_N, CA_SCRYPT_R, CA_SCRYPT_P)) == NULL)
		goto out;
	if ((p8 = PKCS8_set0_pbe(pass, (int)strlen(pass), p8inf, pbe)) == NULL)
		goto out;
	pbe = NULL; /* p8 owns it */
	ok = PEM_write_bio_PKCS8(b, p8) == 1;
out:
	X509_SIG_free(p8);
	X509_ALGOR_free(pbe);
	PKCS8_PRIV_KEY_INFO_free(p8inf);
	return ok;
}

int ca_key_to_pem(char **out, size_t *len, EVP_PKEY *key, const char *pass,
    char *err, size_t errlen)
{
	BIO *b = BIO_new(BIO_s_secmem());
	char *data = NULL, *copy;
	long n;
	int ok;

	*out = NULL;
	*len = 0;
	if (b == NULL)
		goto fail;
	if (pass != NULL && pass[0] != '\0')
		ok = pkcs8_scrypt_write(b, key, pass);
	else
		ok = PEM_write_bio_PKCS8PrivateKey(b, key, NULL, NULL, 0, NULL,
		    NULL);
	if (ok != 1)
		goto fail;
	n = BIO_get_mem_data(b, &data);
	if (n <= 0 || (copy = malloc((size_t)n + 1)) == NULL)
		goto fail;
	memcpy(copy, data, (size_t)n);
	copy[n] = '\0';
	*out = copy;
	*len = (size_t)n;
	BIO_free(b);
	return CA_OK;
fail:
	util_err_openssl(err, errlen, "encode private key");
	BIO_free(b);
	return CA_ERR_INTERNAL;
}

int ca_file_write(const char *path, const void *buf, size_t len, int mode,
    char *err, size_t errlen)
{
	const uint8_t *p = buf;
	size_t off = 0;
	int fd;

	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
	    mode);
	if (fd < 0) {
		util_err_set(err, errlen, "%s: %s", path, strerror(errno));
		return errno == EEXIST ? CA_ERR_EXISTS : CA_ERR_INTERNAL;
	}
	while (off < len) {
		ssize_t w = write(fd, p + off, len - off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			goto fail;
		off += (size_t)w;
	}
	if (fsync(fd) != 0)
		goto fail;
	if (close(fd) != 0) {
		fd = -1;
		goto fail;
	}
	return CA_OK;
fail:
	util_err_set(err, errlen, "%s: %s", path, strerror(errno));
	if (fd >= 0)
		close(fd);
	unlink(path);
	return CA_ERR_INTERNAL;
}

int ca_file_read(char **out, size_t *len, const char *path, size_t max,
    char *err, size_t errlen)
{
	FILE *f;
	char *buf;
	size_t n;

	*out = NULL;
	*len = 0;
	if ((f = fopen(path, "rb")) == NULL) {
		util_err_set(err, errlen, "%s: %s", path, strerror(errno));
		return errno == ENOENT ? CA_ERR_NOT_FOUND : CA_ERR_INTERNAL;
	}
	if ((buf = malloc(max + 1)) == NULL) {
		fclose(f);
		util_err_set(err, errlen, "out of memory");
		return CA_ERR_INTERNAL;
	}
	n = fread(buf, 1, max + 1, f);
	if (ferror(f) || n > max) {
		util_err_set(err, errlen,
		    ferror(f) ? "%s: read error" : "%s: file too large", path);
		OPENSSL_cleanse(buf, n);
		free(buf);
		fclose(f);
		return CA_ERR_INVALID;
	}
	fclose(f);
	buf[n] = '\0';
	*out = buf;
	*len = n;
	return CA_OK;
}

int ca_pass_read(char out[CA_PASS_MAX + 1], const char *path, char *err,
    size_t errlen)
{
	char *buf = NULL;
	size_t len = 0, n;
	int rc;

	out[0] = '\0';
	if ((rc = ca_file_read(&buf, &len, path, CA_PASS_MAX + 2, err,
	         errlen)) != CA_OK)
		return rc;
	n = strcspn(buf, "\r\n");
	if (n == 0 || n > CA_PASS_MAX || memchr(buf, '\0', n) != NULL) {
		util_err_set(err, errlen,
		    "%s: passphrase must be one line of "
		    "1..%d bytes",
		    path, CA_PASS_MAX);
		rc = CA_ERR_INVALID;
	} else {
		memcpy(out, buf, n);
		out[n] = '\0';
	}
	OPENSSL_cleanse(buf, len);
	free(buf);
	return rc;
}

int ca_pass_get(char out[CA_PASS_MAX + 1], const char *file, const char *env,
    char *err, size_t errlen)
{
	const char *v;
	size_t n;

	out[0] = '\0';
	if (file != NULL)
		return ca_pass_read(out, file, err, errlen);
	if (env == NULL)
		return CA_OK;
	if ((v = getenv(env)) == NULL) {
		util_err_set(err, errlen, "passphrase variable %s is not set",
		    env);
		return CA_ERR_PASSPHRASE;
	}
	n = strcspn(v, "\r\n");
	if (n == 0 || n > CA_PASS_MAX || v[n] != '\0') {
		util_err_set(err, errlen,
		    "%s: passphrase must be one line of "
		    "1..%d bytes",
		    env, CA_PASS_MAX);
		return CA_ERR_INVALID;
	}
	memcpy(out, v, n + 1);
	return CA_OK;
}

char *ca_cert_to_pem(X509 *cert)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *data, *copy = NULL;
	long n;

	if (b == NULL)
		return NULL;
	if (PEM_write_bio_X509(b, cert) == 1 &&
	    (n = BIO_get_mem_data(b, &data)) > 0 &&
	    (copy = malloc((size_t)n + 1)) != NULL) {
		memcpy(copy, data, (size_t)n);
		copy[n] = '\0';
	}
	BIO_free(b);
	return copy;
}

char *ca_der_to_pem(const uint8_t *der, size_t len)
{
	static const char head[] = "-----BEGIN CERTIFICATE-----\n";
	static const char tail[] = "-----END CERTIFICATE-----\n";
	size_t lines, cap, n = 0, off;
	char *pem;

	if (der == NULL || len == 0 || len > (size_t)INT_MAX / 2)
		return NULL;
	/* 48 input bytes make one 64-character line. */
	lines = (len + 47) / 48;
	cap = sizeof(head) - 1 + lines * 65 + sizeof(tail);
	if ((pem = malloc(cap)) == NULL)
		return NULL;
	memcpy(pem, head, sizeof(head) - 1);
	n = sizeof(head) - 1;
	for (off = 0; off < len; off += 48) {
		size_t chunk = len - off < 48 ? len - off : 48;

		n += (size_t)EVP_EncodeBlock((unsigned char *)pem + n,
		    der + off, (int)chunk);
		pem[n++] = '\n';
	}
	memcpy(pem + n, tail, sizeof(tail));
	return pem;
}

int ca_cert_to_der(uint8_t **out, size_t *len, X509 *cert)
{
	unsigned char *der = NULL;
	int n = i2d_X509(cert, &der);

	if (n <= 0)
		return CA_ERR_INTERNAL;
	*out = der;
	*len = (size_t)n;
	return CA_OK;
}

/* Add one extension from a v3 config string. */
static int add_ext(X509 *cert, X509V3_CTX *ctx, int nid, const char *value)
{
	X509_EXTENSION *ex;
	int ok;

	if (value == NULL)
		return 1;
	if ((ex = X509V3_EXT_conf_nid(NULL, ctx, nid, value)) == NULL)
		return 0;
	ok = X509_add_ext(cert, ex, -1);
	X509_EXTENSION_free(ex);
	return ok == 1;
}

/* A random positive serial: 20 bytes, top bit clear, second bit set so the
 * DER length is always 20 and never needs a leading zero. */
static int random_serial(ASN1_INTEGER **out, char hex[41])
{
	uint8_t b[20];
	BIGNUM *bn = NULL;
	int ok = 0;

	*out = NULL;
	if (util_random(b, sizeof(b)) != 0)
		return 0;
	b[0] = (uint8_t)((b[0] & 0x7f) | 0x40);
	util_hex_encode(hex, b, sizeof(b));
	if ((bn = BN_bin2bn(b, sizeof(b), NULL)) != NULL &&
	    (*out = BN_to_ASN1_INTEGER(bn, NULL)) != NULL)
		ok = 1;
	BN_free(bn);
	return ok;
}

int ca_pubkey_set(X509_PUBKEY *dst, const X509_ALGOR *a,
    const unsigned char *bits, int blen)
{
	const ASN1_OBJECT *alg;
	int ptype;
	const void *pval;
	ASN1_OBJECT *alg2 = NULL;
	void *pval2 = NULL;
	unsigned char *bits2 = NULL;

	if (dst == NULL || a == NULL || bits == NULL || blen <= 0)
		return 0;
	X509_ALGOR_get0(&alg, &ptype, &pval, a);
	if ((alg2 = OBJ_dup(alg)) == NULL ||
	    (bits2 = OPENSSL_memdup(bits, (size_t)blen)) == NULL)
		goto fail;
	if (ptype == V_ASN1_OBJECT) {
		if ((pval2 = OBJ_dup(pval)) == NULL)
			goto fail;
	} else if (ptype == V_ASN1_SEQUENCE) {
		if ((pval2 = ASN1_STRING_dup(pval)) == NULL)
			goto fail;
	} else if (ptype != V_ASN1_NULL && ptype != V_ASN1_UNDEF) {
		goto fail;
	}
	if (X509_PUBKEY_set0_param(dst, alg2, ptype, pval2, bits2, blen) != 1)
		goto fail;
	return 1;
fail:
	if (ptype == V_ASN1_OBJECT)
		ASN1_OBJECT_free(pval2);
	else
		ASN1_STRING_free(pval2);
	ASN1_OBJECT_free(alg2);
	OPENSSL_free(bits2);
	return 0;
}

/* Copy src's algorithm and key bits into dst (an empty X509_PUBKEY of a
 * certificate under construction). 1 on success. */
static int pubkey_copy(X509_PUBKEY *dst, X509_PUBKEY *src)
{
	const unsigned char *bits;
	int blen;
	X509_ALGOR *a;

	if (X509_PUBKEY_get0_param(NULL, &bits, &blen, &a, src) != 1)
		return 0;
	return ca_pubkey_set(dst, a, bits, blen);
}

int ca_x509_make(X509 **out, char serial_hex[41], const ca_cert_spec_t *spec,
    char *err, size_t errlen)
{
	X509 *c = NULL;
	ASN1_INTEGER *serial = NULL;
	X509V3_CTX ctx;
	X509 *issuer;
	EVP_PKEY *ikey;
	size_t i;

	*out = NULL;
	if ((c = X509_new()) == NULL ||
	    X509_set_version(c, X509_VERSION_3) != 1)
		goto fail;
	if (!random_serial(&serial, serial_hex) ||
	    X509_set_serialNumber(c, serial) != 1)
		goto fail;
	if (X509_set_subject_name(c, spec->subject) != 1 ||
	    X509_set_issuer_name(c,
	        spec->issuer != NULL ? X509_get_subject_name(spec->issuer) :
	                               spec->subject) != 1)
		goto fail;
	if (spec->pubkey_x != NULL) {
		if (!pubkey_copy(X509_get_X509_PUBKEY(c), spec->pubkey_x))
			goto fail;
	} else if (X509_set_pubkey(c, spec->pubkey) != 1) {
		goto fail;
	}
	if (ASN1_TIME_set(X509_getm_notBefore(c), (time_t)spec->not_before) ==
	    NULL)
		goto fail;
	if (!ca_profile_not_after_set(X509_getm_notAfter(c), spec->not_after))
		goto fail;
	issuer = spec->issuer != NULL ? spec->issuer : c;
	ikey = spec->issuer_key;
	X509V3_set_ctx(&ctx, issuer, c, NULL, NULL, 0);
	if (!add_ext(c, &ctx, NID_basic_constraints, spec->basic_constraints) ||
	    !add_ext(c, &ctx, NID_key_usage, spec->key_usage) ||
	    !add_ext(c, &ctx, NID_ext_key_usage, spec->ext_key_usage) ||
	    !add_ext(c, &ctx, NID_subject_key_identifier, "hash") ||
	    (spec->issuer != NULL && spec->exts == NULL &&
	        !add_ext(c, &ctx, NID_authority_key_identifier,
	            "keyid:always")) ||
	    !add_ext(c, &ctx, NID_subject_alt_name, spec->subject_alt_name) ||
	    !add_ext(c, &ctx, NID_name_constraints, spec->name_constraints) ||
	    !add_ext(c, &ctx, NID_crl_distribution_points, spec->crl_dp) ||
	    !add_ext(c, &ctx, NID_info_access, spec->aia))
		goto fail;
	for (i = 0; spec->exts != NULL && spec->exts[i] != NULL; i++)
		if (X509_add_ext(c, spec->exts[i], -1) != 1)
			goto fail;
	if (X509_sign(c, ikey, EVP_sha256()) <= 0)
		goto fail;
	ASN1_INTEGER_free(serial);
	*out = c;
	return CA_OK;
fail:
	util_err_openssl(err, errlen, "build certificate");
	ASN1_INTEGER_free(serial);
	X509_free(c);
	return CA_ERR_INTERNAL;
}

int ca_audit(reg_t *reg, const char *actor, const char *action,
    const char *target, char *err, size_t errlen, ...)
{
	cJSON *o = cJSON_CreateObject();
	const char *k, *v;
	char *s = NULL;
	va_list ap;
	int rc = CA_ERR_INTERNAL;

	if (o == NULL)
		goto out;
	va_start(ap, errlen);
	while ((k = va_arg(ap, const char *)) != NULL) {
		v = va_arg(ap, const char *);
		if (cJSON_AddStringToObject(o, k, v != NULL ? v : "") == NULL) {
			va_end(ap);
			goto out;
		}
	}
	va_end(ap);
	if ((s = cJSON_PrintUnformatted(o)) == NULL)
		goto out;
	rc = ca_from_reg(
	    reg_audit_append(reg, actor, action, target, s, err, errlen));
out:
	if (rc == CA_ERR_INTERNAL && s == NULL)
		util_err_set(err, errlen, "audit: out of memory");
	cJSON_Delete(o);
	free(s);
	return rc;
}
