/* pki.c — load certificates, chains and keys; verify a certificate for a
 * purpose at a given time; fingerprint a certificate. */
#include "pki.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "util.h"

#include <openssl/asn1t.h>

ASN1_SEQUENCE(PKI_SPKI) = { ASN1_SIMPLE(PKI_SPKI, algor, X509_ALGOR),
	ASN1_SIMPLE(PKI_SPKI, public_key,
	    ASN1_BIT_STRING) } ASN1_SEQUENCE_END(PKI_SPKI)

    int pki_spki_i2d(const PKI_SPKI *k, unsigned char **out)
{
	return ASN1_item_i2d((const ASN1_VALUE *)k, out,
	    ASN1_ITEM_rptr(PKI_SPKI));
}

int pki_ecdsa_sig_md_nid(const X509_ALGOR *a)
{
	const ASN1_OBJECT *obj;
	int ptype, mdnid, pknid;

	X509_ALGOR_get0(&obj, &ptype, NULL, a);
	if (ptype != V_ASN1_UNDEF ||
	    !OBJ_find_sigid_algs(OBJ_obj2nid(obj), &mdnid, &pknid) ||
	    pknid != NID_X9_62_id_ecPublicKey)
		return NID_undef;
	if (mdnid == NID_sha256 || mdnid == NID_sha384 || mdnid == NID_sha512)
		return mdnid;
	return NID_undef;
}

const char *pki_strerror(int code)
{
	switch (code) {
	case PKI_OK: return "success";
	case PKI_ERR_ARG: return "invalid argument";
	case PKI_ERR_IO: return "cannot read file";
	case PKI_ERR_PARSE: return "cannot parse certificate or key";
	case PKI_ERR_CHAIN:
		return "certificate does not chain to the trust anchor";
	case PKI_ERR_EXPIRED: return "certificate expired";
	case PKI_ERR_NOT_YET_VALID: return "certificate not yet valid";
	case PKI_ERR_EKU:
		return "certificate lacks the required extended key usage";
	case PKI_ERR_INTERNAL: return "internal error";
	default: return "unknown error";
	}
}

/* True if buf starts (after whitespace) with a PEM armour line. */
static int looks_pem(const uint8_t *buf, size_t len)
{
	size_t i = 0;

	while (i < len &&
	    (buf[i] == ' ' || buf[i] == '\t' || buf[i] == '\r' ||
	        buf[i] == '\n'))
		i++;
	return len - i >= 11 && memcmp(buf + i, "-----BEGIN ", 11) == 0;
}

/* Read the whole file at path (≤ PKI_FILE_MAX) into a new buffer. */
static int read_file(uint8_t **out, size_t *outlen, const char *path, char *err,
    size_t errlen)
{
	FILE *f = NULL;
	uint8_t *buf = NULL;
	size_t n = 0, r;
	int rc = PKI_ERR_IO;

	*out = NULL;
	*outlen = 0;
	if ((f = fopen(path, "rb")) == NULL) {
		util_err_set(err, errlen, "%s: %s", path, strerror(errno));
		goto done;
	}
	if ((buf = OPENSSL_malloc(PKI_FILE_MAX + 1)) == NULL) {
		util_err_set(err, errlen, "out of memory");
		rc = PKI_ERR_INTERNAL;
		goto done;
	}
	while ((r = fread(buf + n, 1, PKI_FILE_MAX + 1 - n, f)) > 0) {
		n += r;
		if (n > PKI_FILE_MAX)
			break;
	}
	if (ferror(f)) {
		util_err_set(err, errlen, "%s: read error", path);
		goto done;
	}
	if (n > PKI_FILE_MAX) {
		util_err_set(err, errlen, "%s: larger than %d bytes", path,
		    PKI_FILE_MAX);
		goto done;
	}
	*out = buf;
	*outlen = n;
	buf = NULL;
	rc = PKI_OK;
done:
	if (buf != NULL)
		OPENSSL_clear_free(buf, PKI_FILE_MAX + 1);
	if (f != NULL)
		fclose(f);
	return rc;
}

/* Parse exactly one DER certificate covering all len bytes. */
static X509 *der_cert(const uint8_t *buf, size_t len)
{
	const unsigned char *p = buf;
	X509 *x;

	if (len > LONG_MAX)
		return NULL;
	x = d2i_X509(NULL, &p, (long)len);
	if (x != NULL && p != buf + len) {
		X509_free(x);
		return NULL;
	}
	return x;
}

int pki_cert_load(X509 **out, const uint8_t *buf, size_t len, char *err,
    size_t errlen)
{
	BIO *bio = NULL;
	X509 *x = NULL;

	if (out == NULL || buf == NULL || len == 0 || len > INT_MAX) {
		util_err_set(err, errlen, "no certificate data");
		return PKI_ERR_ARG;
	}
	*out = NULL;
	if (looks_pem(buf, len)) {
		if ((bio = BIO_new_mem_buf(buf, (int)len)) == NULL) {
			util_err_openssl(err, errlen, "BIO_new_mem_buf");
			return PKI_ERR_INTERNAL;
		}
		x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
		BIO_free(bio);
	} else {
		x = der_cert(buf, len);
	}
	if (x == NULL) {
		util_err_openssl(err, errlen, "not a PEM or DER certificate");
		return PKI_ERR_PARSE;
	}
	ERR_clear_error();
	*out = x;
	return PKI_OK;
}

int pki_cert_load_file(X509 **out, const char *path, char *err, size_t errlen)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	int rc;

	if (out == NULL || path == NULL)
		return PKI_ERR_ARG;
	*out = NULL;
	if ((rc = read_file(&buf, &len, path, err, errlen)) != PKI_OK)
		return rc;
	rc = pki_cert_load(out, buf, len, err, errlen);
	OPENSSL_free(buf);
	return rc;
}

int pki_chain_load(STACK_OF(X509) * *out, const uint8_t *buf, size_t len,
    char *err, size_t errlen)
{
	STACK_OF(X509) *sk = NULL;
	BIO *bio = NULL;
	X509 *x = NULL;
	int rc = PKI_ERR_INTERNAL;

	if (out == NULL || buf == NULL || len == 0 || len > INT_MAX) {
		util_err_set(err, errlen, "no certificate data");
		return PKI_ERR_ARG;
	}
	*out = NULL;
	if ((sk = sk_X509_new_null()) == NULL) {
		util_err_openssl(err, errlen, "sk_X509_new_null");
		goto done;
	}
	if (!looks_pem(buf, len)) {
		if ((x = der_cert(buf, len)) == NULL) {
			util_err_openssl(err, errlen,
			    "not a PEM bundle or DER certificate");
			rc = PKI_ERR_PARSE;
			goto done;
		}
		if (!sk_X509_push(sk, x)) {
			util_err_openssl(err, errlen, "sk_X509_push");
			goto done;
		}
		x = NULL;
	} else {
		if ((bio = BIO_new_mem_buf(buf, (int)len)) == NULL) {
			util_err_openssl(err, errlen, "BIO_new_mem_buf");
			goto done;
		}
		while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
			if (sk_X509_num(sk) >= PKI_CHAIN_MAX) {
				util_err_set(err, errlen,
				    "more than %d certificates", PKI_CHAIN_MAX);
				rc = PKI_ERR_PARSE;
				goto done;
			}
			if (!sk_X509_push(sk, x)) {
				util_err_openssl(err, errlen, "sk_X509_push");
				goto done;
			}
			x = NULL;
		}
		/* The loop ends on "no start line" after the last one; any
		 * other error means a damaged certificate. */
		if (ERR_GET_REASON(ERR_peek_last_error()) !=
		        PEM_R_NO_START_LINE ||
		    sk_X509_num(sk) == 0) {
			util_err_openssl(err, errlen,
			    "damaged or missing certificate in PEM bundle");
			rc = PKI_ERR_PARSE;
			goto done;
		}
		ERR_clear_error();
	}
	*out = sk;
	sk = NULL;
	rc = PKI_OK;
done:
	X509_free(x);
	sk_X509_pop_free(sk, X509_free);
	BIO_free(bio);
	return rc;
}

int pki_chain_load_file(STACK_OF(X509) * *out, const char *path, char *err,
    size_t errlen)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	int rc;

	if (out == NULL || path == NULL)
		return PKI_ERR_ARG;
	*out = NULL;
	if ((rc = read_file(&buf, &len, path, err, errlen)) != PKI_OK)
		return rc;
	rc = pki_chain_load(out, buf, len, err, errlen);
	OPENSSL_free(buf);
	return rc;
}

/* Parse a key with OpenSSL's decoder; is_private selects private or public
 * keys, PEM or DER. */
static int load_key(EVP_PKEY **out, const uint8_t *buf, size_t len,
    int is_private, char *err, size_t errlen)
{
	BIO *bio = NULL;
	EVP_PKEY *k = NULL;
	const unsigned char *p = buf;

	if (out == NULL || buf == NULL || len == 0 || len > INT_MAX) {
		util_err_set(err, errlen, "no key data");
		return PKI_ERR_ARG;
	}
	*out = NULL;
	if (looks_pem(buf, len)) {
		if ((bio = BIO_new_mem_buf(buf, (int)len)) == NULL) {
			util_err_openssl(err, errlen, "BIO_new_mem_buf");
			return PKI_ERR_INTERNAL;
		}
		k = is_private ?
		    PEM_read_bio_PrivateKey(bio, NULL, NULL, (void *)"") :
		    PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
		BIO_free(bio);
	} else {
		k = is_private ? d2i_AutoPrivateKey(NULL, &p, (long)len) :
		                 d2i_PUBKEY(NULL, &p, (long)len);
		if (k != NULL && p != buf + len) {
			EVP_PKEY_free(k);
			k = NULL;
		}
	}
	if (k == NULL) {
		util_err_openssl(err, errlen, "not a PEM or DER %s key",
		    is_private ? "private" : "public");
		return PKI_ERR_PARSE;
	}
	ERR_clear_error();
	*out = k;
	return PKI_OK;
}

int pki_key_load(EVP_PKEY **out, const uint8_t *buf, size_t len, char *err,
    size_t errlen)
{
	return load_key(out, buf, len, 1, err, errlen);
}

int pki_pubkey_load(EVP_PKEY **out, const uint8_t *buf, size_t len, char *err,
    size_t errlen)
{
	return load_key(out, buf, len, 0, err, errlen);
}

int pki_key_load_file(EVP_PKEY **out, const char *path, char *err,
    size_t errlen)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	int rc;

	if (out == NULL || path == NULL)
		return PKI_ERR_ARG;
	*out = NULL;
	if ((rc = read_file(&buf, &len, path, err, errlen)) != PKI_OK)
		return rc;
	rc = pki_key_load(out, buf, len, err, errlen);
	OPENSSL_clear_free(buf, PKI_FILE_MAX + 1);
	return rc;
}

int pki_cert_has_eku(X509 *cert, const char *eku_oid)
{
	EXTENDED_KEY_USAGE *eku = NULL;
	ASN1_OBJECT *want = NULL;
	int i, crit = 0, found = 0;

	if (cert == NULL || eku_oid == NULL)
		return 0;
	if ((want = OBJ_txt2obj(eku_oid, 1)) == NULL) {
		ERR_clear_error();
		return 0;
	}
	eku = X509_get_ext_d2i(cert, NID_ext_key_usage, &crit, NULL);
	for (i = 0; eku != NULL && i < sk_ASN1_OBJECT_num(eku); i++) {
		if (OBJ_cmp(sk_ASN1_OBJECT_value(eku, i), want) == 0) {
			found = 1;
			break;
		}
	}
	EXTENDED_KEY_USAGE_free(eku);
	ASN1_OBJECT_free(want);
	ERR_clear_error();
	return found;
}

int pki_cert_verify(X509 *cert, X509 *root, STACK_OF(X509) * intermediates,
    int64_t at, const char *eku_oid, char *err, size_t errlen)
{
	return pki_cert_verify_chain(cert, root, intermediates, at, eku_oid,
	    NULL, err, errlen);
}

int pki_cert_verify_chain(X509 *cert, X509 *root,
    STACK_OF(X509) * intermediates, int64_t at, const char *eku_oid,
    STACK_OF(X509) * *chain_out, char *err, size_t errlen)
{
	X509_STORE *store = NULL;
	X509_STORE_CTX *ctx = NULL;
	X509_VERIFY_PARAM *param;
	int rc = PKI_ERR_INTERNAL, ok, verr;

	if (chain_out != NULL)
		*chain_out = NULL;
	if (cert == NULL || root == NULL) {
		util_err_set(err, errlen,
		    "missing certificate or trust anchor");
		return PKI_ERR_ARG;
	}
	if ((store = X509_STORE_new()) == NULL ||
	    (ctx = X509_STORE_CTX_new()) == NULL) {
		util_err_openssl(err, errlen, "X509_STORE_new");
		goto done;
	}
	if (!X509_STORE_add_cert(store, root)) {
		util_err_openssl(err, errlen, "X509_STORE_add_cert");
		goto done;
	}
	if (!X509_STORE_CTX_init(ctx, store, cert, intermediates)) {
		util_err_openssl(err, errlen, "X509_STORE_CTX_init");
		goto done;
	}
	param = X509_STORE_CTX_get0_param(ctx);
	X509_VERIFY_PARAM_set_time(param, (time_t)at);
	/* The anchor may be an intermediate (e.g. the Device CA). */
	X509_VERIFY_PARAM_set_flags(param,
	    X509_V_FLAG_PARTIAL_CHAIN | X509_V_FLAG_X509_STRICT);
	ok = X509_verify_cert(ctx);
	if (ok != 1) {
		verr = X509_STORE_CTX_get_error(ctx);
		switch (verr) {
		case X509_V_ERR_CERT_HAS_EXPIRED: rc = PKI_ERR_EXPIRED; break;
		case X509_V_ERR_CERT_NOT_YET_VALID:
			rc = PKI_ERR_NOT_YET_VALID;
			break;
		default: rc = PKI_ERR_CHAIN; break;
		}
		util_err_set(err, errlen,
		    "certificate verification failed "
		    "at depth %d: %s",
		    X509_STORE_CTX_get_error_depth(ctx),
		    X509_verify_cert_error_string(verr));
		ERR_clear_error();
		goto done;
	}
	if (eku_oid != NULL && !pki_cert_has_eku(cert, eku_oid)) {
		util_err_set(err, errlen,
		    "certificate lacks extended key usage %s", eku_oid);
		rc = PKI_ERR_EKU;
		goto done;
	}
	if (chain_out != NULL &&
	    (*chain_out = X509_STORE_CTX_get1_chain(ctx)) == NULL) {
		util_err_openssl(err, errlen, "X509_STORE_CTX_get1_chain");
		goto done;
	}
	rc = PKI_OK;
done:
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(store);
	return rc;
}

int pki_cert_fingerprint(uint8_t out[PKI_FINGERPRINT_LEN], X509 *cert)
{
	unsigned int n = 0;

	if (out == NULL || cert == NULL)
		return PKI_ERR_ARG;
	if (!X509_digest(cert, EVP_sha256(), out, &n) ||
	    n != PKI_FINGERPRINT_LEN) {
		ERR_clear_error();
		return PKI_ERR_INTERNAL;
	}
	return PKI_OK;
}

int pki_device_key_kind(EVP_PKEY *k)
{
	char group[64];
	size_t glen = 0;

	if (k == NULL)
		return PKI_DEVKEY_NONE;
	if (EVP_PKEY_get_base_id(k) == EVP_PKEY_EC) {
		if (EVP_PKEY_get_utf8_string_param(k,
		        OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group),
		        &glen) != 1) {
			ERR_clear_error();
			return PKI_DEVKEY_NONE;
		}
		if (strcmp(group, "prime256v1") == 0 ||
		    strcmp(group, "P-256") == 0)
			return PKI_DEVKEY_P256;
		if (strcmp(group, "secp384r1") == 0 ||
		    strcmp(group, "P-384") == 0)
			return PKI_DEVKEY_P384;
		return PKI_DEVKEY_NONE;
	}
	if (EVP_PKEY_get_base_id(k) == EVP_PKEY_RSA) {
		switch (EVP_PKEY_get_bits(k)) {
		case 2048: return PKI_DEVKEY_RSA2048;
		case 3072: return PKI_DEVKEY_RSA3072;
		default: return PKI_DEVKEY_NONE;
		}
	}
	return PKI_DEVKEY_NONE;
}

uint32_t pki_device_key_usage(int kind)
{
	switch (kind) {
	case PKI_DEVKEY_P256:
	case PKI_DEVKEY_P384: return KU_DIGITAL_SIGNATURE | KU_KEY_AGREEMENT;
	case PKI_DEVKEY_RSA2048:
	case PKI_DEVKEY_RSA3072:
		return KU_DIGITAL_SIGNATURE | KU_KEY_ENCIPHERMENT;
	default: return 0;
	}
}

int pki_time_unix(int64_t *out, const ASN1_TIME *t)
{
	struct tm tm;

	memset(&tm, 0, sizeof(tm));
	if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1)
		return -1;
	*out = (int64_t)timegm(&tm);
	return 0;
}
