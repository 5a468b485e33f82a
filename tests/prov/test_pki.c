/* test_pki.c — the shared PKI helpers: loading PEM/DER certificates,
 * bundles and keys from memory and files, verification results per cause,
 * EKU lookup and fingerprints. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <openssl/x509v3.h>

#include "pki.h"
#include "testpki.h"

static testpki_t P;
static char dir[64];

static int group_setup(void **state)
{
	(void)state;
	strcpy(dir, "/tmp/provca-pki-XXXXXX");
	if (mkdtemp(dir) == NULL)
		return -1;
	return testpki_init(&P, 0);
}

static int group_teardown(void **state)
{
	char cmd[128];

	(void)state;
	testpki_free(&P);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* PEM of a certificate (or two) or a key into a malloc'd buffer. */
static size_t pem_of(uint8_t **out, X509 *a, X509 *b, EVP_PKEY *key)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *p;
	long n;

	assert_non_null(bio);
	if (a != NULL)
		assert_int_equal(PEM_write_bio_X509(bio, a), 1);
	if (b != NULL)
		assert_int_equal(PEM_write_bio_X509(bio, b), 1);
	if (key != NULL)
		assert_int_equal(PEM_write_bio_PrivateKey(bio, key, NULL, NULL,
		                     0, NULL, NULL),
		    1);
	n = BIO_get_mem_data(bio, &p);
	assert_true(n > 0);
	*out = malloc((size_t)n);
	assert_non_null(*out);
	memcpy(*out, p, (size_t)n);
	BIO_free(bio);
	return (size_t)n;
}

static void write_file(const char *path, const uint8_t *b, size_t n)
{
	FILE *f = fopen(path, "wb");

	assert_non_null(f);
	assert_int_equal(fwrite(b, 1, n, f), n);
	assert_int_equal(fclose(f), 0);
}

static void test_pki_load__cert_pem_and_der(void **state)
{
	uint8_t *pem, *der = NULL, fp1[32], fp2[32];
	X509 *x = NULL;
	size_t n;
	int dl;
	char err[256], path[128];

	(void)state;
	n = pem_of(&pem, P.signer, NULL, NULL);
	assert_int_equal(pki_cert_load(&x, pem, n, err, sizeof(err)), PKI_OK);
	assert_int_equal(X509_cmp(x, P.signer), 0);
	X509_free(x);
	dl = i2d_X509(P.signer, &der);
	assert_true(dl > 0);
	assert_int_equal(pki_cert_load(&x, der, (size_t)dl, err, sizeof(err)),
	    PKI_OK);
	assert_int_equal(X509_cmp(x, P.signer), 0);
	/* Fingerprint = SHA-256 of the DER. */
	assert_int_equal(pki_cert_fingerprint(fp1, x), PKI_OK);
	SHA256(der, (size_t)dl, fp2);
	assert_memory_equal(fp1, fp2, 32);
	X509_free(x);
	/* DER with a trailing byte, truncated DER, garbage: parse errors. */
	der = realloc(der, (size_t)dl + 1);
	der[dl] = 0;
	assert_int_equal(pki_cert_load(&x, der, (size_t)dl + 1, err,
	                     sizeof(err)),
	    PKI_ERR_PARSE);
	assert_null(x);
	assert_int_equal(pki_cert_load(&x, der, (size_t)dl - 1, err,
	                     sizeof(err)),
	    PKI_ERR_PARSE);
	assert_int_equal(pki_cert_load(&x, (const uint8_t *)"hello", 5, err,
	                     sizeof(err)),
	    PKI_ERR_PARSE);
	assert_int_equal(pki_cert_load(&x, der, 0, err, sizeof(err)),
	    PKI_ERR_ARG);
	/* From a file. */
	snprintf(path, sizeof(path), "%s/signer.pem", dir);
	write_file(path, pem, n);
	assert_int_equal(pki_cert_load_file(&x, path, err, sizeof(err)),
	    PKI_OK);
	assert_int_equal(X509_cmp(x, P.signer), 0);
	X509_free(x);
	snprintf(path, sizeof(path), "%s/missing.pem", dir);
	assert_int_equal(pki_cert_load_file(&x, path, err, sizeof(err)),
	    PKI_ERR_IO);
	assert_non_null(strstr(err, "missing.pem"));
	free(pem);
	OPENSSL_free(der);
}

static void test_pki_load__chain_bundle(void **state)
{
	STACK_OF(X509) *sk = NULL;
	uint8_t *pem, *big;
	size_t n, i;
	char err[256], path[128];

	(void)state;
	n = pem_of(&pem, P.signer, P.inter, NULL);
	assert_int_equal(pki_chain_load(&sk, pem, n, err, sizeof(err)), PKI_OK);
	assert_int_equal(sk_X509_num(sk), 2);
	assert_int_equal(X509_cmp(sk_X509_value(sk, 0), P.signer), 0);
	assert_int_equal(X509_cmp(sk_X509_value(sk, 1), P.inter), 0);
	sk_X509_pop_free(sk, X509_free);
	/* A damaged second certificate fails the whole bundle. */
	pem[n - 60] = '*';
	assert_int_equal(pki_chain_load(&sk, pem, n, err, sizeof(err)),
	    PKI_ERR_PARSE);
	assert_null(sk);
	free(pem);
	/* Seventeen certificates are too many. */
	n = pem_of(&pem, P.root, NULL, NULL);
	big = malloc(n * 17);
	assert_non_null(big);
	for (i = 0; i < 17; i++)
		memcpy(big + i * n, pem, n);
	assert_int_equal(pki_chain_load(&sk, big, n * 16, err, sizeof(err)),
	    PKI_OK);
	assert_int_equal(sk_X509_num(sk), 16);
	sk_X509_pop_free(sk, X509_free);
	assert_int_equal(pki_chain_load(&sk, big, n * 17, err, sizeof(err)),
	    PKI_ERR_PARSE);
	snprintf(path, sizeof(path), "%s/chain.pem", dir);
	write_file(path, big, n * 2);
	assert_int_equal(pki_chain_load_file(&sk, path, err, sizeof(err)),
	    PKI_OK);
	assert_int_equal(sk_X509_num(sk), 2);
	sk_X509_pop_free(sk, X509_free);
	/* No certificate at all in a PEM file. */
	assert_int_equal(pki_chain_load(&sk,
	                     (const uint8_t *)"-----BEGIN NOTHING-----\n", 24,
	                     err, sizeof(err)),
	    PKI_ERR_PARSE);
	free(big);
	free(pem);
}

static void test_pki_load__keys(void **state)
{
	EVP_PKEY *k = NULL;
	uint8_t *pem, *der = NULL, *big;
	size_t n;
	int dl;
	char err[256], path[128];

	(void)state;
	n = pem_of(&pem, NULL, NULL, P.dev_p256);
	assert_int_equal(pki_key_load(&k, pem, n, err, sizeof(err)), PKI_OK);
	assert_int_equal(EVP_PKEY_eq(k, P.dev_p256), 1);
	EVP_PKEY_free(k);
	snprintf(path, sizeof(path), "%s/key.pem", dir);
	write_file(path, pem, n);
	assert_int_equal(pki_key_load_file(&k, path, err, sizeof(err)), PKI_OK);
	assert_int_equal(EVP_PKEY_eq(k, P.dev_p256), 1);
	EVP_PKEY_free(k);
	dl = i2d_PrivateKey(P.dev_p256, &der);
	assert_true(dl > 0);
	assert_int_equal(pki_key_load(&k, der, (size_t)dl, err, sizeof(err)),
	    PKI_OK);
	assert_int_equal(EVP_PKEY_eq(k, P.dev_p256), 1);
	EVP_PKEY_free(k);
	OPENSSL_free(der);
	der = NULL;
	/* Public key, DER SubjectPublicKeyInfo. */
	dl = i2d_PUBKEY(P.dev_p256, &der);
	assert_true(dl > 0);
	assert_int_equal(pki_pubkey_load(&k, der, (size_t)dl, err, sizeof(err)),
	    PKI_OK);
	assert_int_equal(EVP_PKEY_eq(k, P.dev_p256), 1);
	EVP_PKEY_free(k);
	assert_int_equal(pki_pubkey_load(&k, der, (size_t)dl - 1, err,
	                     sizeof(err)),
	    PKI_ERR_PARSE);
	OPENSSL_free(der);
	/* A certificate is not a key. */
	free(pem);
	n = pem_of(&pem, P.root, NULL, NULL);
	assert_int_equal(pki_key_load(&k, pem, n, err, sizeof(err)),
	    PKI_ERR_PARSE);
	assert_null(k);
	/* A file over the size limit. */
	big = calloc(1, PKI_FILE_MAX + 1);
	assert_non_null(big);
	snprintf(path, sizeof(path), "%s/big.pem", dir);
	write_file(path, big, PKI_FILE_MAX + 1);
	assert_int_equal(pki_key_load_file(&k, path, err, sizeof(err)),
	    PKI_ERR_IO);
	assert_non_null(strstr(err, "larger than"));
	free(big);
	free(pem);
}

static void test_pki_verify__each_cause(void **state)
{
	char err[256];
	const int64_t now = TESTPKI_NOW;

	(void)state;
	assert_int_equal(pki_cert_verify(P.signer, P.root, P.inters, now,
	                     PROVCA_OID_EKU_SIGNER, err, sizeof(err)),
	    PKI_OK);
	assert_int_equal(pki_cert_verify(P.signer, P.root, P.inters, now, NULL,
	                     err, sizeof(err)),
	    PKI_OK);
	assert_int_equal(pki_cert_verify(P.signer, P.root, P.inters, now,
	                     PROVCA_OID_EKU_DEVICE, err, sizeof(err)),
	    PKI_ERR_EKU);
	assert_int_equal(pki_cert_verify(P.signer_noeku, P.root, P.inters, now,
	                     PROVCA_OID_EKU_SIGNER, err, sizeof(err)),
	    PKI_ERR_EKU);
	assert_int_equal(pki_cert_verify(P.signer_expired, P.root, P.inters,
	                     now, PROVCA_OID_EKU_SIGNER, err, sizeof(err)),
	    PKI_ERR_EXPIRED);
	assert_int_equal(pki_cert_verify(P.signer, P.root, P.inters, 1600000000,
	                     NULL, err, sizeof(err)),
	    PKI_ERR_NOT_YET_VALID);
	assert_int_equal(pki_cert_verify(P.signer_other, P.root, P.inters, now,
	                     NULL, err, sizeof(err)),
	    PKI_ERR_CHAIN);
	assert_int_equal(pki_cert_verify(P.signer, P.root, NULL, now, NULL, err,
	                     sizeof(err)),
	    PKI_ERR_CHAIN);
	assert_non_null(strstr(err, "depth"));
	assert_int_equal(pki_cert_verify(P.signer, P.inter, NULL, now, NULL,
	                     err, sizeof(err)),
	    PKI_OK);
	assert_int_equal(pki_cert_verify(NULL, P.root, NULL, now, NULL, err,
	                     sizeof(err)),
	    PKI_ERR_ARG);
	/* Has-EKU helper. */
	assert_int_equal(pki_cert_has_eku(P.signer, PROVCA_OID_EKU_SIGNER), 1);
	assert_int_equal(pki_cert_has_eku(P.signer, PROVCA_OID_EKU_DEVICE), 0);
	assert_int_equal(pki_cert_has_eku(P.root, PROVCA_OID_EKU_SIGNER), 0);
	assert_int_equal(pki_cert_has_eku(P.signer, "not an oid"), 0);
	assert_string_equal(pki_strerror(PKI_ERR_EKU),
	    "certificate lacks the required extended key usage");
	assert_string_equal(pki_strerror(42), "unknown error");
}

/* The OIDs are the documented arc and parse as OIDs. */
/* The one list of device keys the CA issues and corehook serves: the four
 * kinds with their keyUsage, everything else none (and no keyUsage). */
static void test_pki_device_key_kind__served_set(void **state)
{
	static const struct {
		const char *alg;
		const char *arg;
		size_t bits;
		int kind;
	} cases[] = {
		{ "EC", "P-256", 0, PKI_DEVKEY_P256 },
		{ "EC", "P-384", 0, PKI_DEVKEY_P384 },
		{ "EC", "P-521", 0, PKI_DEVKEY_NONE },
		{ "EC", "secp256k1", 0, PKI_DEVKEY_NONE },
		{ "RSA", NULL, 1024, PKI_DEVKEY_NONE },
		{ "RSA", NULL, 2048, PKI_DEVKEY_RSA2048 },
		{ "RSA", NULL, 3072, PKI_DEVKEY_RSA3072 },
		{ "RSA", NULL, 4096, PKI_DEVKEY_NONE },
		{ "ED25519", NULL, 0, PKI_DEVKEY_NONE },
		{ "X25519", NULL, 0, PKI_DEVKEY_NONE },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		EVP_PKEY *k;

		if (cases[i].bits != 0)
			k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", cases[i].bits);
		else if (cases[i].arg != NULL)
			k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", cases[i].arg);
		else
			k = EVP_PKEY_Q_keygen(NULL, NULL, cases[i].alg);
		assert_non_null(k);
		assert_int_equal(pki_device_key_kind(k), cases[i].kind);
		EVP_PKEY_free(k);
	}
	assert_int_equal(pki_device_key_kind(NULL), PKI_DEVKEY_NONE);
	assert_int_equal(pki_device_key_usage(PKI_DEVKEY_P256),
	    KU_DIGITAL_SIGNATURE | KU_KEY_AGREEMENT);
	assert_int_equal(pki_device_key_usage(PKI_DEVKEY_P384),
	    KU_DIGITAL_SIGNATURE | KU_KEY_AGREEMENT);
	assert_int_equal(pki_device_key_usage(PKI_DEVKEY_RSA2048),
	    KU_DIGITAL_SIGNATURE | KU_KEY_ENCIPHERMENT);
	assert_int_equal(pki_device_key_usage(PKI_DEVKEY_RSA3072),
	    KU_DIGITAL_SIGNATURE | KU_KEY_ENCIPHERMENT);
	assert_int_equal(pki_device_key_usage(PKI_DEVKEY_NONE), 0);
}

static void test_pki_oids__arc(void **state)
{
	ASN1_OBJECT *o;
	char txt[128];

	(void)state;
	assert_string_not_equal(PROVCA_OID_EKU_DEVICE, PROVCA_OID_EKU_SIGNER);
	/* Every arc must fit in 32 bits: larger arcs make Go's crypto/x509
	 * and Debian 12's python3-cryptography reject the whole certificate. */
	{
		const char *p = PROVCA_OID_EKU_DEVICE;

		while (*p != '\0') {
			char *end;
			unsigned long long v = strtoull(p, &end, 10);

			assert_true(end != p);
			assert_true(v <= 0xffffffffULL);
			p = *end == '.' ? end + 1 : end;
		}
	}
	o = OBJ_txt2obj(PROVCA_OID_EKU_SIGNER, 1);
	assert_non_null(o);
	assert_true(OBJ_obj2txt(txt, sizeof(txt), o, 1) > 0);
	assert_string_equal(txt, PROVCA_OID_EKU_SIGNER);
	ASN1_OBJECT_free(o);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pki_load__cert_pem_and_der),
		cmocka_unit_test(test_pki_load__chain_bundle),
		cmocka_unit_test(test_pki_load__keys),
		cmocka_unit_test(test_pki_verify__each_cause),
		cmocka_unit_test(test_pki_oids__arc),
		cmocka_unit_test(test_pki_device_key_kind__served_set),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
