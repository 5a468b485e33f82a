/* ue_keys.c — born at the factory: the device key pair (never leaves the
 * state folder), its PKCS#10 request and the identity record. */
#include "ue.h"
#include "pki.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/asn1t.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/params.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

int ue_key_generate(void **out, ue_key_type type, char *err, size_t errlen)
{
	EVP_PKEY *pk = NULL;

	*out = NULL;
	switch (type) {
	case UE_KEY_P256:
		pk = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
		break;
	case UE_KEY_P384:
		pk = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
		break;
	case UE_KEY_RSA2048:
		pk = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
		break;
	case UE_KEY_RSA3072:
		pk = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)3072);
		break;
	default:
		util_err_set(err, errlen, "unknown key type");
		return UE_ERR_ARG;
	}
	if (pk == NULL) {
		util_err_openssl(err, errlen, "key generation failed");
		return UE_ERR_CRYPTO;
	}
	*out = pk;
	return UE_OK;
}

/* Append one subject attribute; the value was validated by the caller. */
static int name_add(X509_NAME *n, const char *field, const char *value)
{
	return X509_NAME_add_entry_by_txt(n, field, MBSTRING_UTF8,
	           (const unsigned char *)value, -1, -1, 0) == 1 ?
	    0 :
	    -1;
}

int ue_csr_build(char **out, void *pkey, const ue_device_t *id, char *err,
    size_t errlen)
{
	X509_REQ *req = NULL;
	X509_NAME *name = NULL;
	BIO *mem = NULL;
	BUF_MEM *bm = NULL;
	int rc = UE_ERR_CRYPTO;

	*out = NULL;
	req = X509_REQ_new();
	name = X509_NAME_new();
	if (req == NULL || name == NULL ||
	    name_add(name, "serialNumber", id->serial) != 0 ||
	    name_add(name, "O", id->manufacturer_id) != 0 ||
	    name_add(name, "CN", id->serial) != 0 ||
	    X509_REQ_set_version(req, 0) != 1 ||
	    X509_REQ_set_subject_name(req, name) != 1 ||
	    X509_REQ_set_pubkey(req, pkey) != 1 ||
	    X509_REQ_sign(req, pkey, EVP_sha256()) <= 0) {
		util_err_openssl(err, errlen, "building the CSR failed");
		goto done;
	}
	mem = BIO_new(BIO_s_mem());
	if (mem == NULL || PEM_write_bio_X509_REQ(mem, req) != 1) {
		util_err_openssl(err, errlen, "encoding the CSR failed");
		goto done;
	}
	BIO_get_mem_ptr(mem, &bm);
	*out = malloc(bm->length + 1);
	if (*out == NULL) {
		rc = UE_ERR_NOMEM;
		util_err_set(err, errlen, "out of memory");
		goto done;
	}
	memcpy(*out, bm->data, bm->length);
	(*out)[bm->length] = '\0';
	rc = UE_OK;
done:
	BIO_free(mem);
	X509_NAME_free(name);
	X509_REQ_free(req);
	return rc;
}

/* Write the private key as PKCS#8 PEM into a new file: O_EXCL so an
 * existing key is never replaced, 0600 from the first byte. */
static int key_write_new(const char *path, EVP_PKEY *pk, char *err,
    size_t errlen)
{
	BIO *mem = NULL;
	BUF_MEM *bm = NULL;
	int fd = -1, rc = UE_ERR_IO;
	size_t off = 0;

	mem = BIO_new(BIO_s_secmem());
	if (mem == NULL ||
	    PEM_write_bio_PrivateKey(mem, pk, NULL, NULL, 0, NULL, NULL) != 1) {
		util_err_openssl(err, errlen, "encoding the key failed");
		rc = UE_ERR_CRYPTO;
		goto done;
	}
	BIO_get_mem_ptr(mem, &bm);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
	    0600);
	if (fd < 0) {
		rc = errno == EEXIST ? UE_ERR_EXISTS : UE_ERR_IO;
		util_err_set(err, errlen, "%s: %s", path,
		    errno == EEXIST ? "a device key already exists (never "
		                      "replaced)" :
		                      strerror(errno));
		goto done;
	}
	while (off < bm->length) {
		ssize_t w = write(fd, bm->data + off, bm->length - off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			util_err_set(err, errlen, "write %s: %s", path,
			    strerror(errno));
			goto fail;
		}
		off += (size_t)w;
	}
	if (fsync(fd) != 0) {
		util_err_set(err, errlen, "fsync %s: %s", path,
		    strerror(errno));
		goto fail;
	}
	rc = UE_OK;
	goto done;
fail:
	unlink(path);
done:
	if (fd >= 0)
		close(fd);
	BIO_free(mem); /* secure-heap BIO: cleansed on free */
	return rc;
}

int ue_init(const char *dir, const ue_device_t *identity, char *err,
    size_t errlen)
{
	char path[4096];
	EVP_PKEY *pk = NULL;
	char *csr = NULL;
	ue_device_t dev;
	int rc;

	if (!ue_id_valid(identity->manufacturer_id) ||
	    !ue_id_valid(identity->serial) || !ue_id_valid(identity->model) ||
	    (identity->hardware_version[0] != '\0' &&
	        !ue_id_valid(identity->hardware_version))) {
		util_err_set(err, errlen,
		    "manufacturer ID, serial, model and "
		    "hardware version must be 1-64 characters of [A-Za-z0-9._-]");
		return UE_ERR_ARG;
	}
	if ((rc = ue_mkdir_p(dir, err, errlen)) != 0)
		return rc;
	if ((rc = ue_state_path(path, sizeof(path), dir, UE_F_KEY)) != 0) {
		util_err_set(err, errlen, "state path too long");
		return rc;
	}
	if (access(path, F_OK) == 0) {
		util_err_set(err, errlen,
		    "%s: a device key already exists (never "
		    "replaced)",
		    path);
		return UE_ERR_EXISTS;
	}
	if ((rc = ue_key_generate((void **)&pk, identity->key_type, err,
	         errlen)) != 0)
		goto done;
	if ((rc = ue_csr_build(&csr, pk, identity, err, errlen)) != 0)
		goto done;
	if ((rc = key_write_new(path, pk, err, errlen)) != 0)
		goto done;
	if ((rc = ue_state_path(path, sizeof(path), dir, UE_F_CSR)) != 0 ||
	    (rc = ue_file_write_atomic(path, csr, strlen(csr), 0644, err,
	         errlen)) != 0)
		goto done;
	dev = *identity;
	dev.device_id[0] = '\0';
	dev.certificate_url[0] = '\0';
	rc = ue_device_store(&dev, dir, err, errlen);
done:
	free(csr);
	EVP_PKEY_free(pk);
	return rc;
}

/*
 * ECPrivateKey (RFC 5915) with the parameters, when present, as a named
 * curve: what the PKCS#8 PrivateKeyInfo of a P-256 key written by
 * ue_init holds. Parsed with an ASN.1 template because OpenSSL 3.0's
 * private key readers build a decoder chain for every key (~5 M
 * instructions, most of a swarm device's key load).
 */
typedef struct {
	int32_t version;
	ASN1_OCTET_STRING *priv;
	ASN1_OBJECT *curve;
	ASN1_BIT_STRING *pub;
} UE_EC_PRIV;

ASN1_SEQUENCE(UE_EC_PRIV) = { ASN1_EMBED(UE_EC_PRIV, version, INT32),
	ASN1_SIMPLE(UE_EC_PRIV, priv, ASN1_OCTET_STRING),
	ASN1_EXP_OPT(UE_EC_PRIV, curve, ASN1_OBJECT, 0),
	ASN1_EXP_OPT(UE_EC_PRIV, pub, ASN1_BIT_STRING,
	    1) } static_ASN1_SEQUENCE_END(UE_EC_PRIV)

#define P256_SCALAR_LEN 32
#define P256_POINT_LEN 65

    /* Free a parsed ECPrivateKey, wiping the scalar first. */
    static void ec_priv_free(UE_EC_PRIV * k)
{
	if (k == NULL)
		return;
	if (k->priv != NULL && k->priv->data != NULL)
		OPENSSL_cleanse(k->priv->data, (size_t)k->priv->length);
	ASN1_item_free((ASN1_VALUE *)k, ASN1_ITEM_rptr(UE_EC_PRIV));
}

/* The EC key of scalar (big-endian) and public point, as OpenSSL's own
 * import makes it (the point is checked on the curve). */
static EVP_PKEY *p256_from_parts(const uint8_t *scalar, const uint8_t *pub)
{
	static const uint16_t one = 1;
	EVP_PKEY_CTX *ctx = NULL;
	EVP_PKEY *k = NULL;
	OSSL_PARAM prm[4];
	uint8_t native[P256_SCALAR_LEN];
	char group[] = "prime256v1";
	size_t i;

	/* OSSL_PARAM integers are in the machine's byte order. */
	for (i = 0; i < P256_SCALAR_LEN; i++)
		native[i] = *(const uint8_t *)&one == 1 ?
		    scalar[P256_SCALAR_LEN - 1 - i] :
		    scalar[i];
	prm[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME,
	    group, 0);
	prm[1] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY,
	    (void *)pub, P256_POINT_LEN);
	prm[2] = OSSL_PARAM_construct_BN(OSSL_PKEY_PARAM_PRIV_KEY, native,
	    sizeof(native));
	prm[3] = OSSL_PARAM_construct_end();
	if ((ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL)) == NULL ||
	    EVP_PKEY_fromdata_init(ctx) != 1 ||
	    EVP_PKEY_fromdata(ctx, &k, EVP_PKEY_KEYPAIR, prm) != 1)
		k = NULL;
	EVP_PKEY_CTX_free(ctx);
	OPENSSL_cleanse(native, sizeof(native));
	return k;
}

/* A P-256 key in PKCS#8 PEM with its public point, without the decoder
 * framework; NULL when the text is anything else (the general reader then
 * decides, with its own messages). */
static EVP_PKEY *p256_pkcs8_fast(const uint8_t *pem, size_t len,
    uint8_t *pub_enc)
{
	BIO *b = NULL;
	unsigned char *der = NULL;
	const unsigned char *p, *pk = NULL;
	long dlen = 0;
	int pklen = 0, ptype = 0;
	PKCS8_PRIV_KEY_INFO *p8 = NULL;
	const ASN1_OBJECT *alg = NULL;
	const X509_ALGOR *pa = NULL;
	const void *pval = NULL;
	UE_EC_PRIV *ec = NULL;
	EVP_PKEY *k = NULL;

	if (len > INT_MAX || (b = BIO_new_mem_buf(pem, (int)len)) == NULL)
		goto out;
	/* Secure heap: the DER holds the scalar; cleared when freed. */
	if (PEM_bytes_read_bio_secmem(&der, &dlen, NULL, PEM_STRING_PKCS8INF, b,
	        NULL, NULL) != 1)
		goto out;
	p = der;
	if ((p8 = d2i_PKCS8_PRIV_KEY_INFO(NULL, &p, dlen)) == NULL ||
	    p != der + dlen ||
	    PKCS8_pkey_get0(&alg, &pk, &pklen, &pa, p8) != 1 ||
	    OBJ_obj2nid(alg) != NID_X9_62_id_ecPublicKey)
		goto out;
	X509_ALGOR_get0(NULL, &ptype, &pval, pa);
	if (ptype != V_ASN1_OBJECT ||
	    OBJ_obj2nid((const ASN1_OBJECT *)pval) != NID_X9_62_prime256v1)
		goto out;
	p = pk;
	if ((ec = (UE_EC_PRIV *)ASN1_item_d2i(NULL, &p, pklen,
	         ASN1_ITEM_rptr(UE_EC_PRIV))) == NULL ||
	    p != pk + pklen || ec->version != 1 ||
	    ec->priv->length != P256_SCALAR_LEN ||
	    (ec->curve != NULL &&
	        OBJ_obj2nid(ec->curve) != NID_X9_62_prime256v1) ||
	    ec->pub == NULL || ec->pub->length != P256_POINT_LEN ||
	    (ec->pub->flags & 7) != 0 || ec->pub->data[0] != 0x04)
		goto out;
	k = p256_from_parts(ec->priv->data, ec->pub->data);
	if (k != NULL && pub_enc != NULL)
		memcpy(pub_enc, ec->pub->data, P256_POINT_LEN);
out:
	ec_priv_free(ec);
	PKCS8_PRIV_KEY_INFO_free(p8); /* clears its key octets */
	if (der != NULL)
		OPENSSL_secure_clear_free(der, (size_t)dlen);
	BIO_free(b);
	ERR_clear_error();
	return k;
}

int ue_key_p256_fast(void **out, const uint8_t *pem, size_t len)
{
	*out = p256_pkcs8_fast(pem, len, NULL);
	return *out != NULL ? UE_OK : UE_ERR_ARG;
}

/* The key file into buf (cap bytes). 0 ok, 1 larger than cap, -1 with
 * errno on a read error. */
static int key_file_read(uint8_t *buf, size_t cap, size_t *len,
    const char *path)
{
	size_t got = 0;
	int fd, e;

	*len = 0;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return -1;
	for (;;) {
		ssize_t r = read(fd, buf + got, cap - got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			e = errno;
			close(fd);
			errno = e;
			return -1;
		}
		if (r == 0)
			break;
		got += (size_t)r;
		if (got == cap) {
			close(fd);
			return 1;
		}
	}
	close(fd);
	*len = got;
	return 0;
}

int ue_key_load(void **out, const char *dir, char *err, size_t errlen)
{
	return ue_key_load_pub(out, NULL, dir, err, errlen);
}

int ue_key_load_pub(void **out, uint8_t pub_enc[65], const char *dir, char *err,
    size_t errlen)
{
	char path[4096];
	uint8_t buf[8192]; /* a PEM RSA-3072 key is ~2.5 KB */
	size_t len = 0;
	EVP_PKEY *pk = NULL;
	int rc, r;

	*out = NULL;
	if (pub_enc != NULL)
		pub_enc[0] = 0;
	if ((rc = ue_state_path(path, sizeof(path), dir, UE_F_KEY)) != 0) {
		util_err_set(err, errlen, "state path too long");
		return rc;
	}
	r = key_file_read(buf, sizeof(buf), &len, path);
	if (r < 0) {
		util_err_set(err, errlen, "%s: %s", path, strerror(errno));
		OPENSSL_cleanse(buf, sizeof(buf));
		return UE_ERR_STATE;
	}
	if (r == 0 && (pk = p256_pkcs8_fast(buf, len, pub_enc)) != NULL) {
		OPENSSL_cleanse(buf, sizeof(buf));
		*out = pk;
		return UE_OK;
	}
	/* Anything else: OpenSSL's general reader. At most PKI_FILE_MAX
	 * bytes are read, and the buffers that held the key are wiped. */
	rc = r == 0 ? pki_key_load(&pk, buf, len, err, errlen) :
	              pki_key_load_file(&pk, path, err, errlen);
	OPENSSL_cleanse(buf, sizeof(buf));
	if (rc == PKI_ERR_IO)
		return UE_ERR_STATE;
	if (rc != PKI_OK)
		return rc == PKI_ERR_INTERNAL ? UE_ERR_NOMEM : UE_ERR_CRYPTO;
	*out = pk;
	return UE_OK;
}
