/* test_ca_cache.c — the tables in front of the CA (corehook/ca_cache.c)
 * and the Cache-Control reading of corehook/fetch.c: negative entries
 * expire after their TTL, token buckets refill at their rate up to their
 * burst and go into debt when charged, positive entries are served only
 * while their certificate is valid, and a table never holds more than its
 * slots however many keys arrive. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <openssl/evp.h>

#include "ch_int.h"

static corehook_config cfg;

static ch_ca_cache *cache_new(unsigned entries)
{
	ch_ca_cache *c = NULL;
	char err[256] = "";

	memset(&cfg, 0, sizeof(cfg));
	cfg.negative_ttl_seconds = 10;
	cfg.positive_max_age_seconds = 5;
	cfg.cache_entries = entries;
	cfg.source_refusals_per_minute = 600; /* 1 per 100 ms */
	cfg.source_burst = 5;
	cfg.device_fetches_per_minute = 60; /* 1 per second */
	cfg.device_burst = 2;
	assert_int_equal(ch_ca_cache_new(&c, &cfg, err, sizeof(err)), 0);
	return c;
}

/* A refusal is remembered for exactly the TTL, per key. */
static void ca_cache__negative_expires_after_ttl(void **state)
{
	ch_ca_cache *c = cache_new(64);
	int64_t t = 1000000;

	(void)state;
	assert_int_equal(ch_neg_lookup(c, "0/dev-a", t), -1);
	ch_neg_store(c, "0/dev-a", CH_PROV_UNKNOWN, t);
	ch_neg_store(c, "0/dev-b", CH_PROV_REVOKED, t + 500);
	assert_int_equal(ch_neg_lookup(c, "0/dev-a", t + 1), CH_PROV_UNKNOWN);
	assert_int_equal(ch_neg_lookup(c, "0/dev-a", t + 9999),
	    CH_PROV_UNKNOWN);
	assert_int_equal(ch_neg_lookup(c, "0/dev-b", t + 10000),
	    CH_PROV_REVOKED);
	assert_int_equal(ch_neg_lookup(c, "0/dev-a", t + 10000), -1);
	/* another allow-list entry is another key */
	assert_int_equal(ch_neg_lookup(c, "1/dev-b", t + 600), -1);
	assert_int_equal(ch_neg_lookup(c, "0/dev-b", t + 10500), -1);
	ch_ca_cache_free(c);
	/* TTL 0: nothing is remembered */
	c = cache_new(64);
	ch_ca_cache_free(c);
	cfg.negative_ttl_seconds = 0;
	assert_int_equal(ch_ca_cache_new(&c, &cfg, NULL, 0), 0);
	ch_neg_store(c, "0/dev-a", CH_PROV_UNKNOWN, t);
	assert_int_equal(ch_neg_lookup(c, "0/dev-a", t), -1);
	ch_ca_cache_free(c);
}

/* A bucket starts full (burst), gives one token per take, refills at its
 * rate, never above the burst; a charge goes into debt (to -burst). */
static void ca_cache__token_buckets(void **state)
{
	ch_ca_cache *c = cache_new(64);
	int64_t t = 5000000;
	int i;

	(void)state;
	for (i = 0; i < 5; i++)
		assert_int_equal(ch_rate_take(c, CH_RATE_SOURCE, "udp:10.0.0.1",
		                     t),
		    1);
	assert_int_equal(ch_rate_take(c, CH_RATE_SOURCE, "udp:10.0.0.1", t), 0);
	assert_int_equal(ch_rate_peek(c, CH_RATE_SOURCE, "udp:10.0.0.1",
	                     t + 99),
	    0);
	/* one token per 100 ms */
	assert_int_equal(ch_rate_peek(c, CH_RATE_SOURCE, "udp:10.0.0.1",
	                     t + 100),
	    1);
	assert_int_equal(ch_rate_peek(c, CH_RATE_SOURCE, "udp:10.0.0.1",
	                     t + 100),
	    1); /* peek takes nothing */
	assert_int_equal(ch_rate_take(c, CH_RATE_SOURCE, "udp:10.0.0.1",
	                     t + 100),
	    1);
	assert_int_equal(ch_rate_take(c, CH_RATE_SOURCE, "udp:10.0.0.1",
	                     t + 100),
	    0);
	/* another source has its own bucket */
	assert_int_equal(ch_rate_take(c, CH_RATE_SOURCE, "udp:10.0.0.2",
	                     t + 100),
	    1);
	/* a long pause refills to the burst, not beyond */
	t += 3600 * 1000;
	for (i = 0; i < 5; i++)
		assert_int_equal(ch_rate_take(c, CH_RATE_SOURCE, "udp:10.0.0.1",
		                     t),
		    1);
	assert_int_equal(ch_rate_take(c, CH_RATE_SOURCE, "udp:10.0.0.1", t), 0);
	/* charges put it in debt: 3 charges → 3 tokens owed, so 400 ms
	 * pass before one is there again */
	for (i = 0; i < 3; i++)
		ch_rate_charge(c, CH_RATE_SOURCE, "udp:10.0.0.1", t);
	assert_int_equal(ch_rate_peek(c, CH_RATE_SOURCE, "udp:10.0.0.1",
	                     t + 399),
	    0);
	assert_int_equal(ch_rate_peek(c, CH_RATE_SOURCE, "udp:10.0.0.1",
	                     t + 400),
	    1);
	/* the debt is bounded by the burst (5): 1,000 charges owe 5 tokens,
	 * so one is back after 600 ms, not 100 s */
	for (i = 0; i < 1000; i++)
		ch_rate_charge(c, CH_RATE_SOURCE, "udp:10.0.0.3", t);
	assert_int_equal(ch_rate_peek(c, CH_RATE_SOURCE, "udp:10.0.0.3",
	                     t + 599),
	    0);
	assert_int_equal(ch_rate_peek(c, CH_RATE_SOURCE, "udp:10.0.0.3",
	                     t + 600),
	    1);
	/* a charge stamped earlier than the last refill (a slow fetch's
	 * start time) does not refill that time again */
	t += 3600 * 1000;
	for (i = 0; i < 5; i++)
		assert_int_equal(ch_rate_take(c, CH_RATE_SOURCE, "udp:10.0.0.4",
		                     t),
		    1);
	assert_int_equal(ch_rate_peek(c, CH_RATE_SOURCE, "udp:10.0.0.4",
	                     t + 50),
	    0);
	ch_rate_charge(c, CH_RATE_SOURCE, "udp:10.0.0.4", t);
	assert_int_equal(ch_rate_peek(c, CH_RATE_SOURCE, "udp:10.0.0.4",
	                     t + 100),
	    0); /* 0.5 refilled - 1 charged = -0.5 + 0.5 */
	assert_int_equal(ch_rate_peek(c, CH_RATE_SOURCE, "udp:10.0.0.4",
	                     t + 190),
	    0);
	assert_int_equal(ch_rate_peek(c, CH_RATE_SOURCE, "udp:10.0.0.4",
	                     t + 210),
	    1);
	/* device buckets: burst 2, one per second */
	assert_int_equal(ch_rate_take(c, CH_RATE_DEVICE, "0/d", t), 1);
	assert_int_equal(ch_rate_take(c, CH_RATE_DEVICE, "0/d", t), 1);
	assert_int_equal(ch_rate_take(c, CH_RATE_DEVICE, "0/d", t + 999), 0);
	assert_int_equal(ch_rate_take(c, CH_RATE_DEVICE, "0/d", t + 1000), 1);
	ch_ca_cache_free(c);
}

/* A kept context comes back (its key up-referenced) while its certificate
 * is valid; refresh moves its freshness; drop forgets it. */
static void ca_cache__positive_entries(void **state)
{
	ch_ca_cache *c = cache_new(64);
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
	ch_pos_entry_t e, got;
	int64_t t = 7000000, now = 1800000000;

	(void)state;
	assert_non_null(k);
	memset(&e, 0, sizeof(e));
	e.pub = k;
	snprintf(e.etag, sizeof(e.etag), "\"v3-abc-json\"");
	e.fresh_until_ms = t + 5000;
	e.valid_until = now + 60;
	assert_int_equal(ch_pos_lookup(c, &got, "0/dev", t, now), 0);
	ch_pos_store(c, "0/dev", &e, t);
	assert_int_equal(ch_pos_lookup(c, &got, "0/dev", t, now), 1);
	assert_ptr_equal(got.pub, k);
	assert_string_equal(got.etag, "\"v3-abc-json\"");
	assert_int_equal(got.fresh_until_ms, t + 5000);
	EVP_PKEY_free(got.pub);
	ch_pos_refresh(c, "0/dev", t + 9000);
	assert_int_equal(ch_pos_lookup(c, &got, "0/dev", t, now + 59), 1);
	assert_int_equal(got.fresh_until_ms, t + 9000);
	EVP_PKEY_free(got.pub);
	/* the certificate's validity ends: the entry is gone */
	assert_int_equal(ch_pos_lookup(c, &got, "0/dev", t, now + 60), 0);
	assert_int_equal(ch_pos_lookup(c, &got, "0/dev", t, now), 0);
	ch_pos_store(c, "0/dev", &e, t);
	ch_pos_drop(c, "0/dev");
	assert_int_equal(ch_pos_lookup(c, &got, "0/dev", t, now), 0);
	/* the cache holds its own reference: freeing ours is safe */
	ch_pos_store(c, "0/dev2", &e, t);
	EVP_PKEY_free(k);
	assert_int_equal(ch_pos_lookup(c, &got, "0/dev2", t, now), 1);
	assert_true(EVP_PKEY_is_a(got.pub, "EC"));
	EVP_PKEY_free(got.pub);
	ch_ca_cache_free(c);
}

/* 100,000 keys through a 64-slot table: at most 64 remembered, the most
 * recent ones among them, memory fixed. */
static void ca_cache__bounded_under_a_flood(void **state)
{
	ch_ca_cache *c = cache_new(64);
	char key[64];
	int64_t t = 9000000;
	int i, kept = 0, n = 100000;

	(void)state;
	for (i = 0; i < n; i++) {
		snprintf(key, sizeof(key), "0/rand-%d", i);
		ch_neg_store(c, key, CH_PROV_UNKNOWN, t + i / 100);
		(void)ch_rate_take(c, CH_RATE_DEVICE, key, t + i / 100);
	}
	for (i = 0; i < n; i++) {
		snprintf(key, sizeof(key), "0/rand-%d", i);
		kept += ch_neg_lookup(c, key, t + n / 100) == CH_PROV_UNKNOWN;
	}
	assert_true(kept > 0);
	assert_true(kept <= 64);
	/* the last key stored is still there */
	snprintf(key, sizeof(key), "0/rand-%d", n - 1);
	assert_int_equal(ch_neg_lookup(c, key, t + n / 100), CH_PROV_UNKNOWN);
	ch_ca_cache_free(c);
}

/* Cache-Control as ca-server and other CAs send it. */
static void fetch__cache_control(void **state)
{
	static const struct {
		const char *v;
		long max_age;
		int nc, ns;
	} cases[] = {
		{ "no-cache", -1, 1, 0 },
		{ "max-age=30", 30, 0, 0 },
		{ "public, max-age=0", 0, 0, 0 },
		{ "Max-Age=7 , no-store", 7, 0, 1 },
		{ "private, max-age=60, no-cache", 60, 1, 0 },
		{ "max-age=", -1, 0, 0 },
		{ "max-age=12x", -1, 0, 0 },
		{ "max-age=99999999999999", -1, 0, 0 },
		{ "no-cachex, max-age=5", 5, 0, 0 },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		ch_fetch_result_t r;

		memset(&r, 0, sizeof(r));
		r.max_age = -1;
		ch_cache_control_parse(&r, cases[i].v, strlen(cases[i].v));
		assert_int_equal(r.max_age, cases[i].max_age);
		assert_int_equal(r.no_cache, cases[i].nc);
		assert_int_equal(r.no_store, cases[i].ns);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(ca_cache__negative_expires_after_ttl),
		cmocka_unit_test(ca_cache__token_buckets),
		cmocka_unit_test(ca_cache__positive_entries),
		cmocka_unit_test(ca_cache__bounded_under_a_flood),
		cmocka_unit_test(fetch__cache_control),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
