/* test_verify.c — ch_context_verify on the cached issuer path: whatever
 * depends on the time (the issuer's and every higher certificate's
 * validity) is decided again at every use, on the leaf fast path and on
 * the cached-issuer path, up to the second a certificate expires. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <cjson/cJSON.h>
#include <openssl/ec.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "ch_int.h"
#include "pki.h"
#include "testpki.h"

#define T0 ((int64_t)1800000000) /* "now" of the first verification */
#define DAY ((int64_t)86400)

static EVP_PKEY *p256(void)
{
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");

	assert_non_null(k);
	return k;
}

/* PEM text of x appended to *buf (heap, NUL-terminated). */
static void pem_append(char **buf, X509 *x)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *data, *n;
	long len;
	size_t have = *buf != NULL ? strlen(*buf) : 0;

	assert_non_null(b);
	assert_int_equal(PEM_write_bio_X509(b, x), 1);
	len = BIO_get_mem_data(b, &data);
	n = realloc(*buf, have + (size_t)len + 1);
	assert_non_null(n);
	memcpy(n + have, data, (size_t)len);
	n[have + (size_t)len] = '\0';
	*buf = n;
	BIO_free(b);
}

/* The CA's JSON security context of an active device. */
static char *context(const char *id, X509 *leaf, X509 *dca, X509 *root)
{
	cJSON *doc = cJSON_CreateObject(), *st;
	char *cert = NULL, *chain = NULL, *text;

	assert_non_null(doc);
	pem_append(&cert, leaf);
	pem_append(&chain, dca);
	pem_append(&chain, root);
	assert_non_null(cJSON_AddStringToObject(doc, "device_id", id));
	assert_non_null(st = cJSON_AddObjectToObject(doc, "status"));
	assert_non_null(cJSON_AddStringToObject(st, "state", "active"));
	assert_non_null(cJSON_AddStringToObject(doc, "certificate", cert));
	assert_non_null(cJSON_AddStringToObject(doc, "chain", chain));
	text = cJSON_PrintUnformatted(doc);
	assert_non_null(text);
	cJSON_Delete(doc);
	free(cert);
	free(chain);
	return text;
}

/* Verify json at time now; returns the result, *how the path taken. */
/* The validity end the last accepted verify() reported. */
static int64_t last_until;

static int verify(const char *json, const char *id, X509 *anchor,
    ch_path_cache *cache, int64_t now, int *how, uint8_t enc[65])
{
	EVP_PKEY *pk = NULL;
	char err[256] = "";
	int r;

	*how = -1;
	last_until = -1;
	r = ch_context_verify(&pk, enc, how, &last_until, json, strlen(json),
	    id, anchor, cache, now, err, sizeof(err));
	assert_true((r == CH_CTX_OK) == (pk != NULL));
	EVP_PKEY_free(pk);
	return r;
}

/* A PKI: a root, a Device CA, and two devices under it: "dev-fast" in
 * ProvCA's profile (the leaf fast path takes it) and "dev-cached" with a
 * comment extension outside the profile (verified against the cached
 * issuer). root_na / dca_na: the root's and the Device CA's notAfter. */
typedef struct {
	EVP_PKEY *kr, *kd, *kf, *kc;
	X509 *root, *dca, *fast, *cached;
	char *jf, *jc;
	int64_t until; /* the earliest notAfter of leaf, Device CA, root */
} pki_t;

static void pki_make(pki_t *p, int64_t root_na, int64_t dca_na)
{
	memset(p, 0, sizeof(*p));
	p->kr = p256();
	p->kd = p256();
	p->kf = p256();
	p->kc = p256();
	p->root = testpki_issue(p->kr, "Test Root", NULL, NULL, 1, NULL, 0,
	    T0 - 10 * DAY, root_na, 0);
	p->dca = testpki_issue(p->kd, "Test Device CA", p->root, p->kr, 1, NULL,
	    0, T0 - DAY, dca_na, 0);
	p->fast = testpki_issue(p->kf, "dev-fast", p->dca, p->kd, 0,
	    PROVCA_OID_EKU_DEVICE, KU_DIGITAL_SIGNATURE | KU_KEY_AGREEMENT,
	    T0 - DAY, T0 + 365 * DAY, 0);
	p->cached = testpki_issue(p->kc, "dev-cached", p->dca, p->kd, 0,
	    PROVCA_OID_EKU_DEVICE, KU_DIGITAL_SIGNATURE | KU_KEY_AGREEMENT,
	    T0 - DAY, T0 + 365 * DAY, 8);
	assert_non_null(p->root);
	assert_non_null(p->dca);
	assert_non_null(p->fast);
	assert_non_null(p->cached);
	p->jf = context("dev-fast", p->fast, p->dca, p->root);
	p->jc = context("dev-cached", p->cached, p->dca, p->root);
	p->until = T0 + 365 * DAY;
	if (root_na < p->until)
		p->until = root_na;
	if (dca_na < p->until)
		p->until = dca_na;
}

static void pki_free(pki_t *p)
{
	EVP_PKEY_free(p->kr);
	EVP_PKEY_free(p->kd);
	EVP_PKEY_free(p->kf);
	EVP_PKEY_free(p->kc);
	X509_free(p->root);
	X509_free(p->dca);
	X509_free(p->fast);
	X509_free(p->cached);
	cJSON_free(p->jf);
	cJSON_free(p->jc);
}

/* Fill the cache at T0, then check both devices at `at` on their paths:
 * accepted (want_ok) on the fast / cached path, or refused. */
static void check_at(pki_t *p, int64_t at, int want_ok)
{
	ch_path_cache *cache = NULL;
	uint8_t enc[65], want[65];
	size_t len = 0;
	int how;

	assert_int_equal(ch_path_cache_new(&cache), 0);
	assert_int_equal(verify(p->jf, "dev-fast", p->root, cache, T0, &how,
	                     enc),
	    CH_CTX_OK);
	assert_int_equal(how, CH_CHECK_FULL);
	/* Every path reports the chain's earliest notAfter (the positive
	 * cache serves the key no longer than that). */
	assert_int_equal(last_until, p->until);
	/* The point handed back is the certificate's own (full path). */
	assert_int_equal(EVP_PKEY_get_octet_string_param(p->kf,
	                     "encoded-pub-key", want, sizeof(want), &len),
	    1);
	assert_memory_equal(enc, want, 65);
	assert_int_equal(verify(p->jf, "dev-fast", p->root, cache, at, &how,
	                     enc),
	    want_ok ? CH_CTX_OK : CH_CTX_INVALID_CERT);
	if (want_ok) {
		assert_int_equal(how, CH_CHECK_FAST);
		assert_int_equal(last_until, p->until);
		assert_memory_equal(enc, want, 65);
	} else {
		assert_int_equal(enc[0], 0);
	}
	assert_int_equal(verify(p->jc, "dev-cached", p->root, cache, at, &how,
	                     enc),
	    want_ok ? CH_CTX_OK : CH_CTX_INVALID_CERT);
	if (want_ok) {
		assert_int_equal(how, CH_CHECK_CACHED);
		assert_int_equal(last_until, p->until);
	}
	ch_path_cache_free(cache);
}

/* The Device CA (the cached issuer) expires 30 s after the cache filled. */
static void verify__cached_issuer_expiry_refused(void **state)
{
	pki_t p;

	(void)state;
	pki_make(&p, T0 + 3650 * DAY, T0 + 30);
	check_at(&p, T0 + 10, 1);
	check_at(&p, T0 + 29, 1);
	check_at(&p, T0 + 30, 0);
	check_at(&p, T0 + 45, 0);
	pki_free(&p);
}

/* The Root (above the issuer) expires 40 s after the cache filled. */
static void verify__cached_root_expiry_refused(void **state)
{
	pki_t p;

	(void)state;
	pki_make(&p, T0 + 40, T0 + 3650 * DAY);
	check_at(&p, T0 + 39, 1);
	check_at(&p, T0 + 40, 0);
	check_at(&p, T0 + 59, 0);
	pki_free(&p);
}

/* Before the time the cache was filled: not taken from the cache (a
 * clock that went back); the full verification decides. */
static void verify__clock_back_takes_full_path(void **state)
{
	ch_path_cache *cache = NULL;
	uint8_t enc[65];
	pki_t p;
	int how;

	(void)state;
	pki_make(&p, T0 + 3650 * DAY, T0 + 3650 * DAY);
	assert_int_equal(ch_path_cache_new(&cache), 0);
	assert_int_equal(verify(p.jf, "dev-fast", p.root, cache, T0, &how, enc),
	    CH_CTX_OK);
	assert_int_equal(verify(p.jf, "dev-fast", p.root, cache, T0 - 5, &how,
	                     enc),
	    CH_CTX_OK);
	assert_int_equal(how, CH_CHECK_FULL);
	ch_path_cache_free(cache);
	pki_free(&p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(verify__cached_issuer_expiry_refused),
		cmocka_unit_test(verify__cached_root_expiry_refused),
		cmocka_unit_test(verify__clock_back_takes_full_path),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
