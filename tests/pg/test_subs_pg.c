/* test_subs_pg.c — the subscriber store (db/subs.c) on PostgreSQL, beside
 * pg_run.py's throwaway server (PROVCA_PG_URL): schema, MSIN allocation
 * from two connections, the freshness counter (replay), pending → active →
 * retired with keys zeroed, an exhausted range, SQN step and set, and two
 * commit groups (two corehook processes' worth) stepping one SQN at once:
 * every step a distinct SQN, none lost. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "subs.h"

#define THREADS 8
#define STEPS 25

static const uint8_t ki1[16] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14,
	15, 16 };
static const uint8_t opc1[16] = { 0xa0, 0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6,
	0xa7, 0xa8, 0xa9, 0xaa, 0xab, 0xac, 0xad, 0xae, 0xaf };
static const uint8_t amf1[2] = { 0x80, 0x00 };

/* PROVCA_PG_URL, or the test fails: it runs only under pg_run.py. */
static const char *url(void)
{
	const char *u = getenv("PROVCA_PG_URL");

	if (u == NULL || !subs_is_pg_url(u))
		fail_msg(
		    "PROVCA_PG_URL is not set: run under tests/pg/pg_run.py");
	return u;
}

static subs_db *open_store(void)
{
	subs_db *db = NULL;
	char err[256];

	if (subs_open(&db, url(), err, sizeof(err)) != SUBS_OK)
		fail_msg("subs_open: %s", err);
	return db;
}

/* An allocation request on PLMN 001/01 with MSINs first..last. */
static subs_alloc_t mk(const char *dev, uint64_t counter, uint64_t first,
    uint64_t last)
{
	subs_alloc_t a = {
		.device_id = dev,
		.mcc = "001",
		.mnc = "01",
		.msin_first = first,
		.msin_last = last,
		.ki = ki1,
		.opc = opc1,
		.amf = amf1,
		.sqn = 0,
		.profile = "{}",
		.counter = counter,
	};
	return a;
}

static int count_all(const subs_record_t *r, void *arg)
{
	(void)r;
	(*(int *)arg)++;
	return 0;
}

/* Two connections (two processes' worth) allocate in turn: each MSIN
 * once, in order; the schema is current for the second. */
static void allocation_from_two_connections(void **state)
{
	subs_db *a = open_store(), *b = open_store();
	subs_record_t r;
	subs_alloc_t al;
	char err[256], dev[16];
	int v = 0, i;

	(void)state;
	assert_int_equal(subs_schema_version(a, &v), SUBS_OK);
	assert_int_equal(v, 3);
	for (i = 0; i < 4; i++) {
		char want[16];

		snprintf(dev, sizeof(dev), "dev-two-%d", i);
		al = mk(dev, 1, 1000, 1999);
		assert_int_equal(subs_allocate(i % 2 ? b : a, &r, &al, err,
		                     sizeof(err)),
		    SUBS_OK);
		snprintf(want, sizeof(want), "00101%010d", 1000 + i);
		assert_string_equal(r.supi, want);
		assert_int_equal(r.state, SUBS_STATE_PENDING);
		assert_memory_equal(r.ki, ki1, 16);
		subs_record_wipe(&r);
	}
	subs_close(a);
	subs_close(b);
}

/* A counter not above the last accepted is a replay and changes nothing;
 * confirm makes pending active and retires the old row, keys zeroed. */
static void replay_and_pending_to_active(void **state)
{
	subs_db *db = open_store();
	subs_record_t r1, r2, r;
	subs_alloc_t al;
	char err[256];
	uint64_t ctr = 0;
	int n0 = 0, n1 = 0, promoted = 0;

	(void)state;
	al = mk("dev-pend", 5, 2000, 2999);
	assert_int_equal(subs_allocate(db, &r1, &al, err, sizeof(err)),
	    SUBS_OK);
	assert_int_equal(subs_find_device(db, &r, "dev-pend", err, sizeof(err)),
	    SUBS_NOTFOUND);
	assert_int_equal(subs_confirm(db, r1.supi, &promoted, err, sizeof(err)),
	    SUBS_OK);
	assert_int_equal(promoted, 1);
	assert_int_equal(subs_foreach(db, 1, count_all, &n0, err, sizeof(err)),
	    SUBS_OK);
	al.counter = 5;
	assert_int_equal(subs_allocate(db, &r2, &al, err, sizeof(err)),
	    SUBS_REPLAY);
	assert_int_equal(subs_foreach(db, 1, count_all, &n1, err, sizeof(err)),
	    SUBS_OK);
	assert_int_equal(n1, n0);
	assert_int_equal(subs_counter_get(db, &ctr, "dev-pend", err,
	                     sizeof(err)),
	    SUBS_OK);
	assert_int_equal(ctr, 5);
	al.counter = 6;
	assert_int_equal(subs_allocate(db, &r2, &al, err, sizeof(err)),
	    SUBS_OK);
	/* The active row stays active until the new one is confirmed. */
	assert_int_equal(subs_find_device(db, &r, "dev-pend", err, sizeof(err)),
	    SUBS_OK);
	assert_string_equal(r.supi, r1.supi);
	assert_int_equal(subs_confirm(db, r2.supi, &promoted, err, sizeof(err)),
	    SUBS_OK);
	assert_int_equal(promoted, 1);
	assert_int_equal(subs_find_supi(db, &r, r1.supi, err, sizeof(err)),
	    SUBS_NOTFOUND);
	assert_int_equal(subs_find_device(db, &r, "dev-pend", err, sizeof(err)),
	    SUBS_OK);
	assert_string_equal(r.supi, r2.supi);
	assert_int_equal(r.state, SUBS_STATE_ACTIVE);
	/* Confirming an active SUPI again changes nothing. */
	assert_int_equal(subs_confirm(db, r2.supi, &promoted, err, sizeof(err)),
	    SUBS_OK);
	assert_int_equal(promoted, 0);
	assert_int_equal(subs_confirm(db, r1.supi, &promoted, err, sizeof(err)),
	    SUBS_NOTFOUND);
	subs_record_wipe(&r);
	subs_record_wipe(&r1);
	subs_record_wipe(&r2);
	subs_close(db);
}

/* Retired rows read back with K and OPc zeroed. */
static int check_retired(const subs_record_t *r, void *arg)
{
	static const uint8_t zero[16];

	if (strcmp(r->device_id, "dev-pend") == 0 &&
	    r->state == SUBS_STATE_RETIRED) {
		if (memcmp(r->ki, zero, 16) != 0 ||
		    memcmp(r->opc, zero, 16) != 0 || r->retired_at == 0)
			return -1;
		(*(int *)arg)++;
	}
	return 0;
}

static void retired_keys_zeroed(void **state)
{
	subs_db *db = open_store();
	char err[256];
	int n = 0;

	(void)state;
	assert_int_equal(subs_foreach(db, 1, check_retired, &n, err,
	                     sizeof(err)),
	    SUBS_OK);
	assert_int_equal(n, 1);
	subs_close(db);
}

/* A range of two MSINs gives two, then SUBS_EXHAUSTED. */
static void exhausted_range(void **state)
{
	subs_db *db = open_store();
	subs_alloc_t al;
	char err[256];

	(void)state;
	al = mk("dev-ex-1", 1, 3000, 3001);
	al.mnc = "001";
	assert_int_equal(subs_allocate(db, NULL, &al, err, sizeof(err)),
	    SUBS_OK);
	al.device_id = "dev-ex-2";
	assert_int_equal(subs_allocate(db, NULL, &al, err, sizeof(err)),
	    SUBS_OK);
	al.device_id = "dev-ex-3";
	assert_int_equal(subs_allocate(db, NULL, &al, err, sizeof(err)),
	    SUBS_EXHAUSTED);
	subs_close(db);
}

struct stepper {
	subs_group *g;
	const char *supi;
	uint64_t got[STEPS];
	int rc;
};

/* One thread: STEPS vectors' SQNs through its process's group. */
static void *step_thread(void *arg)
{
	struct stepper *s = arg;
	subs_db *db = NULL;
	subs_record_t rec;
	char err[256];
	int i;

	s->rc = subs_open(&db, getenv("PROVCA_PG_URL"), err, sizeof(err));
	for (i = 0; i < STEPS && s->rc == SUBS_OK; i++) {
		s->rc = subs_group_sqn_next_read(s->g, db, &s->got[i], &rec,
		    s->supi, 5, err, sizeof(err));
		if (s->rc == SUBS_OK &&
		    (rec.sqn != s->got[i] || memcmp(rec.ki, ki1, 16) != 0))
			s->rc = SUBS_ERR;
		subs_record_wipe(&rec);
	}
	subs_close(db);
	return NULL;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Two groups (two corehook processes), four threads each, step one SQN:
 * THREADS * STEPS distinct values, the stored one the highest, SEQ that
 * many steps on. Then a resynchronisation's set, and the next step
 * follows it. */
static void sqn_steps_from_two_groups(void **state)
{
	static struct stepper st[THREADS];
	static uint64_t all[THREADS * STEPS];
	subs_group *g[2];
	subs_db *db = open_store();
	subs_record_t r;
	subs_alloc_t al;
	pthread_t th[THREADS];
	uint64_t next = 0;
	char err[256];
	int i, j, n = 0;

	(void)state;
	al = mk("dev-sqn", 1, 4000, 4999);
	assert_int_equal(subs_allocate(db, &r, &al, err, sizeof(err)), SUBS_OK);
	assert_int_equal(subs_group_new(&g[0]), SUBS_OK);
	assert_int_equal(subs_group_new(&g[1]), SUBS_OK);
	for (i = 0; i < THREADS; i++) {
		st[i].g = g[i % 2];
		st[i].supi = r.supi;
		assert_int_equal(pthread_create(&th[i], NULL, step_thread,
		                     &st[i]),
		    0);
	}
	for (i = 0; i < THREADS; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(st[i].rc, SUBS_OK);
		for (j = 0; j < STEPS; j++)
			all[n++] = st[i].got[j];
	}
	qsort(all, (size_t)n, sizeof(all[0]), cmp_u64);
	for (i = 1; i < n; i++)
		assert_true(all[i] > all[i - 1]);
	assert_int_equal(subs_find_supi(db, &r, r.supi, err, sizeof(err)),
	    SUBS_OK);
	assert_int_equal(r.sqn, all[n - 1]);
	assert_int_equal(r.sqn >> 5, (uint64_t)n);
	assert_int_equal(subs_sqn_set(db, r.supi, 0x100000, err, sizeof(err)),
	    SUBS_OK);
	assert_int_equal(subs_sqn_next(db, &next, r.supi, 5, err, sizeof(err)),
	    SUBS_OK);
	assert_int_equal(next, subs_sqn_successor(0x100000, 5));
	assert_int_equal(subs_sqn_set(db, "001019999999999", 1, err,
	                     sizeof(err)),
	    SUBS_NOTFOUND);
	subs_group_free(g[0]);
	subs_group_free(g[1]);
	subs_record_wipe(&r);
	subs_close(db);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(allocation_from_two_connections),
		cmocka_unit_test(replay_and_pending_to_active),
		cmocka_unit_test(retired_keys_zeroed),
		cmocka_unit_test(exhausted_range),
		cmocka_unit_test(sqn_steps_from_two_groups),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
