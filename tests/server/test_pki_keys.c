/* test_pki_keys.c — the one signing-key loader (common/pki_keys.c) and the
 * key files ca-server writes (ca_key_to_pem): a scrypt-encrypted PKCS#8
 * file opens with its passphrase only (none: "passphrase file is needed";
 * wrong: "wrong passphrase"), a plain one without; missing files and
 * non-keys are told apart; pkcs11: URIs are refused without a module, with a
 * PIN inside the URI, or with an unset PIN variable — all before any token
 * is touched; custody is named from the file's label or the URI. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "ca_priv.h"
#include "pki.h"
#include "pki_keys.h"

struct fx {
	char dir[64];
	char enc[128], plain[128], junk[128];
	EVP_PKEY *key;
};

/* Write len bytes of buf to path (test set-up). */
static void put(const char *path, const void *buf, size_t len)
{
	FILE *f = fopen(path, "wb");

	assert_non_null(f);
	assert_int_equal(fwrite(buf, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	char err[256] = "", *pem = NULL;
	size_t len = 0;

	snprintf(f->dir, sizeof(f->dir), "/tmp/provca-keys-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->enc, sizeof(f->enc), "%s/enc.key", f->dir);
	snprintf(f->plain, sizeof(f->plain), "%s/plain.key", f->dir);
	snprintf(f->junk, sizeof(f->junk), "%s/junk.key", f->dir);
	assert_int_equal(ca_key_generate(&f->key, "P-256", err, sizeof(err)),
	    CA_OK);
	assert_int_equal(ca_key_to_pem(&pem, &len, f->key, "s3cret", err,
	                     sizeof(err)),
	    CA_OK);
	assert_non_null(strstr(pem, "BEGIN ENCRYPTED PRIVATE KEY"));
	put(f->enc, pem, len);
	OPENSSL_cleanse(pem, len);
	free(pem);
	assert_int_equal(ca_key_to_pem(&pem, &len, f->key, "", err,
	                     sizeof(err)),
	    CA_OK);
	assert_non_null(strstr(pem, "BEGIN PRIVATE KEY"));
	put(f->plain, pem, len);
	OPENSSL_cleanse(pem, len);
	free(pem);
	put(f->junk, "not a key\n", 10);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	unlink(f->enc);
	unlink(f->plain);
	unlink(f->junk);
	rmdir(f->dir);
	EVP_PKEY_free(f->key);
	free(f);
	return 0;
}

static void pki_signing_key_open__encrypted_needs_the_passphrase(void **state)
{
	struct fx *f = *state;
	EVP_PKEY *k = NULL;
	char err[256] = "";

	assert_int_equal(pki_signing_key_open(&k, f->enc, NULL, "", NULL, err,
	                     sizeof(err)),
	    PKI_ERR_PARSE);
	assert_null(k);
	assert_non_null(strstr(err, "passphrase file is needed"));
	assert_int_equal(pki_signing_key_open(&k, f->enc, NULL, "wrong", NULL,
	                     err, sizeof(err)),
	    PKI_ERR_PARSE);
	assert_non_null(strstr(err, "wrong passphrase"));
	assert_int_equal(pki_signing_key_open(&k, "enc.key", f->dir, "s3cret",
	                     NULL, err, sizeof(err)),
	    PKI_OK);
	assert_int_equal(EVP_PKEY_eq(k, f->key), 1);
	EVP_PKEY_free(k);
	k = NULL;
	assert_int_equal(pki_signing_key_open(&k, f->plain, NULL, NULL, NULL,
	                     err, sizeof(err)),
	    PKI_OK);
	assert_int_equal(EVP_PKEY_eq(k, f->key), 1);
	EVP_PKEY_free(k);
}

static void pki_signing_key_open__missing_and_junk_differ(void **state)
{
	struct fx *f = *state;
	EVP_PKEY *k = NULL;
	char err[256] = "";

	assert_int_equal(pki_signing_key_open(&k, "absent.key", f->dir, NULL,
	                     NULL, err, sizeof(err)),
	    PKI_ERR_IO);
	assert_int_equal(pki_signing_key_open(&k, f->junk, NULL, NULL, NULL,
	                     err, sizeof(err)),
	    PKI_ERR_PARSE);
	assert_non_null(strstr(err, "not a private key"));
	assert_int_equal(pki_signing_key_open(&k, "", NULL, NULL, NULL, err,
	                     sizeof(err)),
	    PKI_ERR_ARG);
	assert_null(k);
}

static void pki_signing_key_open__uri_refusals(void **state)
{
	pki_token_t tok;
	EVP_PKEY *k = NULL;
	char err[256] = "";

	(void)state;
	memset(&tok, 0, sizeof(tok));
	assert_int_equal(pki_signing_key_open(&k,
	                     "pkcs11:token=t;object=o;type=private", NULL, NULL,
	                     &tok, err, sizeof(err)),
	    PKI_ERR_ARG);
	assert_non_null(strstr(err, "module is required"));
	snprintf(tok.module, sizeof(tok.module), "/nonexistent/module.so");
	assert_int_equal(
	    pki_signing_key_open(&k,
	        "pkcs11:token=t;object=o;type=private;pin-value=1234", NULL,
	        NULL, &tok, err, sizeof(err)),
	    PKI_ERR_ARG);
	assert_non_null(strstr(err, "PIN"));
	assert_null(strstr(err, "1234"));
	snprintf(tok.pin_env, sizeof(tok.pin_env), "PROVCA_TEST_UNSET_PIN");
	unsetenv("PROVCA_TEST_UNSET_PIN");
	assert_int_equal(pki_signing_key_open(&k,
	                     "pkcs11:token=t;object=o;type=private", NULL, NULL,
	                     &tok, err, sizeof(err)),
	    PKI_ERR_ARG);
	assert_non_null(strstr(err, "PROVCA_TEST_UNSET_PIN is not set"));
	tok.pin_env[0] = '\0';
	assert_int_equal(pki_signing_key_open(&k,
	                     "pkcs11:token=t;object=o;type=private", NULL, NULL,
	                     &tok, err, sizeof(err)),
	    PKI_ERR_ARG);
	assert_non_null(strstr(err, "PIN file or variable is required"));
	assert_null(k);
}

static void pki_key_custody__names_each_kind(void **state)
{
	struct fx *f = *state;

	assert_string_equal(pki_custody_name(pki_key_custody(f->enc, NULL)),
	    "file-encrypted");
	assert_string_equal(pki_custody_name(
	                        pki_key_custody("plain.key", f->dir)),
	    "file-plain");
	assert_string_equal(pki_custody_name(
	                        pki_key_custody("pkcs11:object=x", NULL)),
	    "pkcs11");
	assert_string_equal(pki_custody_name(
	                        pki_key_custody("absent.key", f->dir)),
	    "missing");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(
		    pki_signing_key_open__encrypted_needs_the_passphrase),
		cmocka_unit_test(pki_signing_key_open__missing_and_junk_differ),
		cmocka_unit_test(pki_signing_key_open__uri_refusals),
		cmocka_unit_test(pki_key_custody__names_each_kind),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
