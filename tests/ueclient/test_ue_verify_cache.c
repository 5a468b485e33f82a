/* test_ue_verify_cache.c — the swarm's cache of verified signer chains
 * (ueclient/ue_verify_cache.c) agrees with prov_verify: every call below
 * is made through the cache and again through prov_verify, and the two
 * give the same code, the same verified flag and the same signer
 * fingerprint; a hit still checks the time, the anchor and the container
 * signature; look-alike and forged chains are refused; a first wave of
 * threads verifies a new chain once. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <pthread.h>

#include "pki.h"
#include "prov.h"
#include "testpki.h"
#include "ue_verify_cache.h"

#define UE_NONCE testpki_ue_nonce
#define DEVICE_ID TESTPKI_DEVICE_ID

static testpki_t P;

/* The PKI once for the group. */
static int group_setup(void **state)
{
	(void)state;
	return testpki_init(&P, 0);
}

/* Free the PKI. */
static int group_teardown(void **state)
{
	(void)state;
	testpki_free(&P);
	return 0;
}

/* The standard container for key and signer, carrying the Infrastructure
 * CA. */
static size_t make(uint8_t *out, EVP_PKEY *key, X509 *signer)
{
	size_t n = testpki_container(out, &P, key, signer, P.inters);

	assert_true(n > 0 && n <= PROV_CONTAINER_MAX);
	return n;
}

/* A hand-built container (testpki_container_raw). */
static size_t raw_container(uint8_t *c, uint8_t count, X509 **certs,
    size_t ncerts, EVP_PKEY *key)
{
	size_t n = testpki_container_raw(c, &P, count, certs, ncerts, key);

	assert_true(n > 0);
	return n;
}

/* The subscription inside every container above. */
static void assert_sub_standard(const prov_subscription_t *got)
{
	prov_subscription_t want;

	testpki_subscription(&want);
	assert_string_equal(got->supi, want.supi);
	assert_memory_equal(got->ki, want.ki, PROV_KEY_LEN);
	assert_memory_equal(got->opc, want.opc, PROV_KEY_LEN);
	assert_memory_equal(got->sqn, want.sqn, PROV_SQN_LEN);
	assert_string_equal(got->dnn, want.dnn);
	prov_subscription_wipe(&want);
}

/* ue_verify_cached, then prov_verify on the same input: the same code,
 * verified flag and fingerprint. Returns the code. */
static int verify_both(prov_view_t *v, const uint8_t *c, size_t n, X509 *root,
    STACK_OF(X509) * inter, int64_t at, ue_verify_cache *vc, char *err,
    size_t errlen)
{
	prov_view_t full;
	char ferr[256];
	int rc, frc;

	rc = ue_verify_cached(v, c, n, root, inter, at, vc, err, errlen);
	frc = prov_verify(&full, c, n, root, inter, at, ferr, sizeof(ferr));
	if (rc != frc)
		fail_msg("cache said %d, prov_verify %d (%s)", rc, frc, ferr);
	assert_int_equal(v->verified, full.verified);
	if (rc == PROV_OK)
		assert_memory_equal(v->signer_fingerprint,
		    full.signer_fingerprint, 32);
	return rc;
}

/* Cache counters as one value per call, for the asserts below. */
static uint64_t vc_hits(ue_verify_cache *vc)
{
	uint64_t h = 0;

	ue_verify_cache_stats(vc, &h, NULL, NULL);
	return h;
}

static uint64_t vc_misses(ue_verify_cache *vc)
{
	uint64_t m = 0;

	ue_verify_cache_stats(vc, NULL, &m, NULL);
	return m;
}

/* A second container with the same chain is taken from the cache, opens
 * to the same subscription and reports the same signer fingerprint; the
 * time, the anchor and the container's own signature are still checked. */
static void test_ue_verify_cache__hit_checks_time_anchor_signature(void **state)
{
	uint8_t c[PROV_CONTAINER_MAX], fp[32], net[PROV_NONCE_LEN];
	prov_subscription_t got;
	ue_verify_cache *vc = NULL;
	X509 *certs[2];
	prov_view_t v;
	EVP_PKEY *k2;
	uint64_t stores = 0;
	size_t n;
	char err[256] = "";

	(void)state;
	assert_int_equal(ue_verify_cache_new(&vc), PROV_OK);
	n = make(c, P.dev_p256, P.signer);
	assert_int_equal(verify_both(&v, c, n, P.root, NULL, TESTPKI_NOW, vc,
	                     err, sizeof(err)),
	    PROV_OK);
	memcpy(fp, v.signer_fingerprint, sizeof(fp));
	assert_int_equal(vc_hits(vc), 0);
	assert_int_equal(vc_misses(vc), 1);
	ue_verify_cache_stats(vc, NULL, NULL, &stores);
	assert_int_equal(stores, 1);

	/* A fresh seal (new ephemeral key, IV) with the same chain: a hit. */
	n = make(c, P.dev_p256, P.signer);
	assert_int_equal(verify_both(&v, c, n, P.root, NULL, TESTPKI_NOW, vc,
	                     err, sizeof(err)),
	    PROV_OK);
	assert_int_equal(prov_open(&got, net, &v, P.dev_p256, DEVICE_ID,
	                     UE_NONCE, err, sizeof(err)),
	    PROV_OK);
	assert_sub_standard(&got);
	prov_subscription_wipe(&got);
	assert_int_equal(vc_hits(vc), 1);
	assert_int_equal(verify_both(&v, c, n, P.root, NULL, TESTPKI_NOW, vc,
	                     err, sizeof(err)),
	    PROV_OK);
	assert_int_equal(v.verified, 1);
	assert_memory_equal(v.signer_fingerprint, fp, sizeof(fp));
	assert_int_equal(vc_hits(vc), 2);

	/* Outside the chain's validity: the full answer, not the cache's. */
	assert_int_equal(verify_both(&v, c, n, P.root, NULL, 1600000000, vc,
	                     err, sizeof(err)),
	    PROV_ERR_SIGNER_EXPIRED);
	assert_int_equal(v.verified, 0);
	assert_int_equal(verify_both(&v, c, n, P.root, NULL,
	                     (int64_t)2208988800 + 10, vc, err, sizeof(err)),
	    PROV_ERR_SIGNER_EXPIRED);
	/* Another anchor: identical chain bytes do not make it trusted. */
	assert_int_equal(verify_both(&v, c, n, P.other_root, NULL, TESTPKI_NOW,
	                     vc, err, sizeof(err)),
	    PROV_ERR_SIGNER_CHAIN);
	/* The genuine chain, but signed by another key. */
	k2 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	assert_non_null(k2);
	certs[0] = P.signer;
	certs[1] = P.inter;
	n = raw_container(c, 2, certs, 2, k2);
	assert_int_equal(verify_both(&v, c, n, P.root, NULL, TESTPKI_NOW, vc,
	                     err, sizeof(err)),
	    PROV_ERR_SIGNATURE);
	assert_int_equal(v.verified, 0);
	EVP_PKEY_free(k2);
	assert_int_equal(vc_hits(vc), 2);
	/* Extra intermediates from the caller: the cache stays out of it. */
	n = make(c, P.dev_p256, P.signer);
	assert_int_equal(verify_both(&v, c, n, P.root, P.inters, TESTPKI_NOW,
	                     vc, err, sizeof(err)),
	    PROV_OK);
	assert_int_equal(vc_hits(vc), 2);
	/* No cache: exactly prov_verify. */
	assert_int_equal(verify_both(&v, c, n, P.root, NULL, TESTPKI_NOW, NULL,
	                     err, sizeof(err)),
	    PROV_OK);
	ue_verify_cache_free(vc);
	ue_verify_cache_free(NULL);
}

typedef struct {
	ue_verify_cache *vc;
	const uint8_t *c;
	size_t n;
	pthread_barrier_t *go;
	int rc;
} vc_job;

static void *vc_worker(void *arg)
{
	vc_job *j = arg;
	prov_view_t v;
	char err[256];

	pthread_barrier_wait(j->go);
	j->rc = verify_both(&v, j->c, j->n, P.root, NULL, TESTPKI_NOW, j->vc,
	    err, sizeof(err));
	if (j->rc == PROV_OK && v.verified != 1)
		j->rc = PROV_ERR_INTERNAL;
	return NULL;
}

/* Threads that receive the same new chain at once: one verifies it in
 * full, the others wait for it and take it from the cache. */
static void test_ue_verify_cache__first_wave_verifies_once(void **state)
{
	enum { N = 8 };
	uint8_t c[PROV_CONTAINER_MAX];
	ue_verify_cache *vc = NULL;
	pthread_barrier_t go;
	pthread_t th[N];
	vc_job jobs[N];
	uint64_t hits = 0, misses = 0, stores = 0;
	size_t n;
	int i;

	(void)state;
	n = make(c, P.dev_p256, P.signer);
	assert_int_equal(ue_verify_cache_new(&vc), PROV_OK);
	assert_int_equal(pthread_barrier_init(&go, NULL, N), 0);
	for (i = 0; i < N; i++) {
		jobs[i].vc = vc;
		jobs[i].c = c;
		jobs[i].n = n;
		jobs[i].go = &go;
		jobs[i].rc = -100;
		assert_int_equal(pthread_create(&th[i], NULL, vc_worker,
		                     &jobs[i]),
		    0);
	}
	for (i = 0; i < N; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(jobs[i].rc, PROV_OK);
	}
	pthread_barrier_destroy(&go);
	ue_verify_cache_stats(vc, &hits, &misses, &stores);
	assert_int_equal(misses, 1);
	assert_int_equal(stores, 1);
	assert_int_equal(hits, N - 1);
	ue_verify_cache_free(vc);
}

/* After a genuine container filled the cache: a look-alike Infrastructure
 * CA (same subject name, its own key, under a look-alike Root of the same
 * name) with a signer of the same name, and a forged signer certificate
 * that names our Infra CA as issuer but was signed by another key, are
 * refused exactly as without the cache. */
static void test_ue_verify_cache__lookalike_and_forged_refused(void **state)
{
	uint8_t c[PROV_CONTAINER_MAX];
	ue_verify_cache *vc = NULL;
	EVP_PKEY *rk, *ik, *fk;
	X509 *froot, *finter, *fsigner, *forged, *certs[2];
	prov_view_t v;
	size_t n, i;
	char err[256] = "";

	(void)state;
	rk = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	ik = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	fk = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	assert_non_null(rk);
	assert_non_null(ik);
	assert_non_null(fk);
	froot = testpki_issue(rk, "Test Root", NULL, NULL, 1, NULL, 0,
	    1672531200, 2208988800, 0);
	finter = testpki_issue(ik, "Test Infrastructure CA", froot, rk, 1, NULL,
	    0, 1672531200, 2208988800, 0);
	fsigner = testpki_issue(P.signer_key, "signer", finter, ik, 0,
	    PROVCA_OID_EKU_SIGNER, 0, 1672531200, 2208988800, 0);
	/* Names P.inter as issuer (and its key id), signed by fk. */
	forged = testpki_issue(P.signer_key, "signer", P.inter, fk, 0,
	    PROVCA_OID_EKU_SIGNER, 0, 1672531200, 2208988800, 0);
	assert_non_null(froot);
	assert_non_null(finter);
	assert_non_null(fsigner);
	assert_non_null(forged);
	assert_int_equal(ue_verify_cache_new(&vc), PROV_OK);

	certs[0] = P.signer;
	certs[1] = P.inter;
	n = raw_container(c, 2, certs, 2, P.signer_key);
	assert_int_equal(verify_both(&v, c, n, P.root, NULL, TESTPKI_NOW, vc,
	                     err, sizeof(err)),
	    PROV_OK);
	assert_int_equal(verify_both(&v, c, n, P.root, NULL, TESTPKI_NOW, vc,
	                     err, sizeof(err)),
	    PROV_OK);
	assert_int_equal(vc_hits(vc), 1);

	/* Look-alike Infra CA carried with our genuine signer... */
	certs[0] = P.signer;
	certs[1] = finter;
	n = raw_container(c, 2, certs, 2, P.signer_key);
	assert_int_equal(verify_both(&v, c, n, P.root, NULL, TESTPKI_NOW, vc,
	                     err, sizeof(err)),
	    PROV_ERR_SIGNER_CHAIN);
	/* ... and with a same-name signer under it. */
	certs[0] = fsigner;
	n = raw_container(c, 2, certs, 2, P.signer_key);
	assert_int_equal(verify_both(&v, c, n, P.root, NULL, TESTPKI_NOW, vc,
	                     err, sizeof(err)),
	    PROV_ERR_SIGNER_CHAIN);
	assert_int_equal(v.verified, 0);
	/* A forged signer with our genuine Infra CA. */
	certs[0] = forged;
	certs[1] = P.inter;
	n = raw_container(c, 2, certs, 2, P.signer_key);
	assert_int_equal(verify_both(&v, c, n, P.root, NULL, TESTPKI_NOW, vc,
	                     err, sizeof(err)),
	    PROV_ERR_SIGNER_CHAIN);
	assert_int_equal(v.verified, 0);
	/* Each of them twice: a refusal is never remembered. */
	assert_int_equal(verify_both(&v, c, n, P.root, NULL, TESTPKI_NOW, vc,
	                     err, sizeof(err)),
	    PROV_ERR_SIGNER_CHAIN);
	assert_int_equal(vc_hits(vc), 1);

	/* Every single-byte change of a genuine container, with the cache
	 * holding its chain: each refused. */
	certs[0] = P.signer;
	certs[1] = P.inter;
	n = raw_container(c, 2, certs, 2, P.signer_key);
	assert_int_equal(verify_both(&v, c, n, P.root, NULL, TESTPKI_NOW, vc,
	                     err, sizeof(err)),
	    PROV_OK);
	for (i = 0; i < n; i++) {
		c[i] ^= 0x01;
		if (verify_both(&v, c, n, P.root, NULL, TESTPKI_NOW, vc, err,
		        sizeof(err)) == PROV_OK)
			fail_msg("byte %zu changed, still accepted", i);
		c[i] ^= 0x01;
	}
	assert_int_equal(verify_both(&v, c, n, P.root, NULL, TESTPKI_NOW, vc,
	                     err, sizeof(err)),
	    PROV_OK);
	ue_verify_cache_free(vc);
	X509_free(forged);
	X509_free(fsigner);
	X509_free(finter);
	X509_free(froot);
	EVP_PKEY_free(fk);
	EVP_PKEY_free(ik);
	EVP_PKEY_free(rk);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(
		    test_ue_verify_cache__hit_checks_time_anchor_signature),
		cmocka_unit_test(
		    test_ue_verify_cache__lookalike_and_forged_refused),
		cmocka_unit_test(
		    test_ue_verify_cache__first_wave_verifies_once),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
