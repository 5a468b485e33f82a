/* ue_keys.c — born at the factory: the device key pair (never leaves the
 * state folder), its PKCS#10 request and the identity record. */
#include "ue.h"
#include "pki.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
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
	    (const unsigned char *)value, -1, -1, 0) == 1 ? 0 : -1;
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
		    "replaced)" : strerror(errno));
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
		util_err_set(err, errlen, "fsync %s: %s", path, strerror(errno));
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
		util_err_set(err, errlen, "manufacturer ID, serial, model and "
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
		util_err_set(err, errlen, "%s: a device key already exists (never "
		    "replaced)", path);
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

int ue_key_load(void **out, const char *dir, char *err, size_t errlen)
{
	char path[4096];
	EVP_PKEY *pk = NULL;
	int rc;

	*out = NULL;
	if ((rc = ue_state_path(path, sizeof(path), dir, UE_F_KEY)) != 0) {
		util_err_set(err, errlen, "state path too long");
		return rc;
	}
	/* At most PKI_FILE_MAX bytes are read, and the buffer that held
	 * the key is wiped. */
	rc = pki_key_load_file(&pk, path, err, errlen);
	if (rc == PKI_ERR_IO)
		return UE_ERR_STATE;
	if (rc != PKI_OK)
		return rc == PKI_ERR_INTERNAL ? UE_ERR_NOMEM : UE_ERR_CRYPTO;
	*out = pk;
	return UE_OK;
}
