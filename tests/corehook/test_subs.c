/* test_subs.c — the operator's subscriber store: unique allocation,
 * retirement on re-provisioning, SQN persistence, MSIN range exhaustion,
 * synchronous=FULL, group commit. */
#include <pthread.h>
#include <setjmp.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include <sqlite3.h>

#include "subs.h"

struct fix {
	char dir[256];
	char path[300];
	subs_db *db;
};

static int setup(void **state)
{
	struct fix *f = calloc(1, sizeof(*f));
	char err[256];

	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "%s/subsXXXXXX",
	    getenv("TMPDIR") != NULL ? getenv("TMPDIR") : "/tmp");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/subs.db", f->dir);
	assert_int_equal(subs_open(&f->db, f->path, err, sizeof(err)), SUBS_OK);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fix *f = *state;
	char cmd[400];

	subs_close(f->db);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	if (system(cmd) != 0)
		return -1;
	free(f);
	return 0;
}

static const uint8_t opc[16] = { 0xcd, 0x63, 0xcb, 0x71 };
static const uint8_t amf[2] = { 0x80, 0x00 };

/* Every request a test makes carries a counter above all before it. */
static atomic_uint_fast64_t mk_counter;

static subs_alloc_t mk(const char *dev, const uint8_t *ki, uint64_t first,
    uint64_t last)
{
	subs_alloc_t a = {
		.device_id = dev,
		.mcc = "001",
		.mnc = "01",
		.msin_first = first,
		.msin_last = last,
		.ki = ki,
		.opc = opc,
		.amf = amf,
		.sqn = 32,
		.profile = "{\"dnn\":\"internet\"}",
		.counter = atomic_fetch_add(&mk_counter, 1) + 1,
	};
	return a;
}

static void subs_allocate__gives_distinct_supis_in_range(void **state)
{
	struct fix *f = *state;
	subs_record_t r1, r2;
	uint8_t ki1[16] = { 1 }, ki2[16] = { 2 };
	subs_alloc_t a = mk("dev-1", ki1, 5, 100);
	char err[256];
	int64_t n;
	int v;

	assert_int_equal(subs_allocate(f->db, &r1, &a, err, sizeof(err)),
	    SUBS_OK);
	a = mk("dev-2", ki2, 5, 100);
	assert_int_equal(subs_allocate(f->db, &r2, &a, err, sizeof(err)),
	    SUBS_OK);
	assert_string_equal(r1.supi, "001010000000005");
	assert_string_equal(r2.supi, "001010000000006");
	assert_memory_equal(r1.ki, ki1, 16);
	assert_int_equal(r1.sqn, 32);
	assert_int_equal(r1.state, SUBS_STATE_PENDING);
	/* Pending until 5G-AKA confirms them. */
	assert_int_equal(subs_count_active(f->db, &n, err, sizeof(err)),
	    SUBS_OK);
	assert_int_equal(n, 0);
	assert_int_equal(subs_confirm(f->db, r1.supi, NULL, err, sizeof(err)),
	    SUBS_OK);
	assert_int_equal(subs_confirm(f->db, r2.supi, NULL, err, sizeof(err)),
	    SUBS_OK);
	assert_int_equal(subs_count_active(f->db, &n, err, sizeof(err)),
	    SUBS_OK);
	assert_int_equal(n, 2);
	assert_int_equal(subs_schema_version(f->db, &v), SUBS_OK);
	assert_int_equal(v, 3);

	/* Three-digit MNC: 9-digit MSIN. */
	a = mk("dev-3", ki2, 7, 100);
	a.mnc = "001";
	assert_int_equal(subs_allocate(f->db, &r2, &a, err, sizeof(err)),
	    SUBS_OK);
	assert_string_equal(r2.supi, "001001000000007");
}

static int count_rows(const subs_record_t *r, void *arg)
{
	(*(int *)arg)++;
	return 0;
}

/* The first column of sql's first row, straight from SQLite. */
static int64_t raw_int(const char *path, const char *sql)
{
	sqlite3 *h = NULL;
	sqlite3_stmt *st = NULL;
	int64_t v;

	assert_int_equal(sqlite3_open(path, &h), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(h, sql, -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(h);
	return v;
}

/* Read one row's K and OPc straight from SQLite. */
static void raw_keys(const char *path, int64_t id, uint8_t *ki_out,
    uint8_t *opc_out, char *state, size_t cap)
{
	sqlite3 *h = NULL;
	sqlite3_stmt *st = NULL;

	assert_int_equal(sqlite3_open(path, &h), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(h,
	                     "SELECT ki, opc, state FROM"
	                     " subscription WHERE id = ?1",
	                     -1, &st, NULL),
	    SQLITE_OK);
	sqlite3_bind_int64(st, 1, id);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_int_equal(sqlite3_column_bytes(st, 0), 16);
	assert_int_equal(sqlite3_column_bytes(st, 1), 16);
	memcpy(ki_out, sqlite3_column_blob(st, 0), 16);
	memcpy(opc_out, sqlite3_column_blob(st, 1), 16);
	snprintf(state, cap, "%s", (const char *)sqlite3_column_text(st, 2));
	sqlite3_finalize(st);
	sqlite3_close(h);
}

/* A second provisioning is pending with its own SUPI; the active one keeps
 * working until the pending one is confirmed, then it is retired with its
 * keys zeroed. A newer request replaces the pending row, never the active
 * one. */
static void subs_allocate__pending_until_confirmed_then_old_wiped(void **state)
{
	struct fix *f = *state;
	subs_record_t r1, r2, r3, found;
	uint8_t ki1[16] = { 1 }, ki2[16] = { 2 }, ki3[16] = { 3 };
	uint8_t zero[16] = { 0 }, k[16], o[16];
	subs_alloc_t a = mk("dev-r", ki1, 0, 100);
	char err[256], st[16];
	int rows = 0, promoted = 0;

	assert_int_equal(subs_allocate(f->db, &r1, &a, err, sizeof(err)),
	    SUBS_OK);
	assert_int_equal(subs_confirm(f->db, r1.supi, &promoted, err,
	                     sizeof(err)),
	    SUBS_OK);
	assert_int_equal(promoted, 1);
	a = mk("dev-r", ki2, 0, 100);
	a.sqn = 64;
	assert_int_equal(subs_allocate(f->db, &r2, &a, err, sizeof(err)),
	    SUBS_OK);
	assert_string_not_equal(r1.supi, r2.supi);
	/* Both authenticate; the device's active row is still the first. */
	assert_int_equal(subs_find_supi(f->db, &found, r1.supi, err,
	                     sizeof(err)),
	    SUBS_OK);
	assert_memory_equal(found.ki, ki1, 16);
	assert_int_equal(found.state, SUBS_STATE_ACTIVE);
	assert_int_equal(subs_find_supi(f->db, &found, r2.supi, err,
	                     sizeof(err)),
	    SUBS_OK);
	assert_int_equal(found.state, SUBS_STATE_PENDING);
	assert_int_equal(subs_find_device(f->db, &found, "dev-r", err,
	                     sizeof(err)),
	    SUBS_OK);
	assert_int_equal(found.id, r1.id);
	/* A newer request replaces the pending row (wiped), not the active. */
	a = mk("dev-r", ki3, 0, 100);
	assert_int_equal(subs_allocate(f->db, &r3, &a, err, sizeof(err)),
	    SUBS_OK);
	assert_int_equal(subs_find_supi(f->db, &found, r2.supi, err,
	                     sizeof(err)),
	    SUBS_NOTFOUND);
	raw_keys(f->path, r2.id, k, o, st, sizeof(st));
	assert_string_equal(st, "retired");
	assert_memory_equal(k, zero, 16);
	assert_memory_equal(o, zero, 16);
	assert_int_equal(subs_find_supi(f->db, &found, r1.supi, err,
	                     sizeof(err)),
	    SUBS_OK);
	/* Confirming the replaced (retired) one or an unknown SUPI: NOTFOUND,
	 * and the device's active row is left as it is. */
	promoted = 7;
	assert_int_equal(subs_confirm(f->db, r2.supi, &promoted, err,
	                     sizeof(err)),
	    SUBS_NOTFOUND);
	assert_int_equal(promoted, 0);
	assert_int_equal(subs_confirm(f->db, "001019999999999", &promoted, err,
	                     sizeof(err)),
	    SUBS_NOTFOUND);
	raw_keys(f->path, r1.id, k, o, st, sizeof(st));
	assert_string_equal(st, "active");
	assert_memory_equal(k, ki1, 16);
	raw_keys(f->path, r3.id, k, o, st, sizeof(st));
	assert_string_equal(st, "pending");
	/* 5G-AKA with the newest: it becomes active, the first is retired. */
	assert_int_equal(subs_confirm(f->db, r3.supi, &promoted, err,
	                     sizeof(err)),
	    SUBS_OK);
	assert_int_equal(promoted, 1);
	assert_int_equal(subs_find_supi(f->db, &found, r1.supi, err,
	                     sizeof(err)),
	    SUBS_NOTFOUND);
	raw_keys(f->path, r1.id, k, o, st, sizeof(st));
	assert_string_equal(st, "retired");
	assert_memory_equal(k, zero, 16);
	assert_memory_equal(o, zero, 16);
	raw_keys(f->path, r3.id, k, o, st, sizeof(st));
	assert_string_equal(st, "active");
	assert_memory_equal(k, ki3, 16);
	/* Confirming an active row again changes nothing. */
	assert_int_equal(subs_confirm(f->db, r3.supi, &promoted, err,
	                     sizeof(err)),
	    SUBS_OK);
	assert_int_equal(promoted, 0);
	assert_int_equal(subs_foreach(f->db, 1, count_rows, &rows, err,
	                     sizeof(err)),
	    SUBS_OK);
	assert_int_equal(rows, 3);
	rows = 0;
	assert_int_equal(subs_foreach(f->db, 0, count_rows, &rows, err,
	                     sizeof(err)),
	    SUBS_OK);
	assert_int_equal(rows, 1);
	subs_record_wipe(&found);
}

/* A counter not above the last accepted one is refused and changes
 * nothing: no row, no counter move. */
static void subs_allocate__replayed_counter_changes_nothing(void **state)
{
	struct fix *f = *state;
	subs_record_t r;
	uint8_t ki[16] = { 7 };
	subs_alloc_t a = mk("dev-x", ki, 0, 100);
	uint64_t c = 0;
	char err[256];
	int rows = 0;

	a.counter = 1000;
	assert_int_equal(subs_allocate(f->db, &r, &a, err, sizeof(err)),
	    SUBS_OK);
	assert_int_equal(subs_counter_get(f->db, &c, "dev-x", err, sizeof(err)),
	    SUBS_OK);
	assert_int_equal(c, 1000);
	assert_int_equal(subs_allocate(f->db, &r, &a, err, sizeof(err)),
	    SUBS_REPLAY);
	assert_non_null(strstr(err, "replay"));
	a.counter = 999;
	assert_int_equal(subs_allocate(f->db, &r, &a, err, sizeof(err)),
	    SUBS_REPLAY);
	assert_int_equal(subs_counter_get(f->db, &c, "dev-x", err, sizeof(err)),
	    SUBS_OK);
	assert_int_equal(c, 1000);
	assert_int_equal(subs_foreach(f->db, 1, count_rows, &rows, err,
	                     sizeof(err)),
	    SUBS_OK);
	assert_int_equal(rows, 1);
	/* Another device's counter is its own. */
	a = mk("dev-y", ki, 0, 100);
	a.counter = 1;
	assert_int_equal(subs_allocate(f->db, &r, &a, err, sizeof(err)),
	    SUBS_OK);
	a = mk("dev-x", ki, 0, 100);
	a.counter = 0;
	assert_int_equal(subs_allocate(f->db, &r, &a, err, sizeof(err)),
	    SUBS_INVALID);
	assert_int_equal(subs_counter_get(f->db, &c, "dev-none", err,
	                     sizeof(err)),
	    SUBS_NOTFOUND);
}

/* Retired rows older than the retention are deleted at an allocation
 * (at most once a minute per connection: a new one purges at once). */
static void subs_allocate__retired_rows_are_purged(void **state)
{
	struct fix *f = *state;
	subs_record_t r1, r2;
	uint8_t ki[16] = { 9 };
	subs_alloc_t a = mk("dev-p", ki, 0, 100);
	subs_db *db2 = NULL;
	sqlite3 *h = NULL;
	char err[256];
	int rows = 0;

	assert_int_equal(subs_allocate(f->db, &r1, &a, err, sizeof(err)),
	    SUBS_OK);
	a = mk("dev-p", ki, 0, 100);
	assert_int_equal(subs_allocate(f->db, &r2, &a, err, sizeof(err)),
	    SUBS_OK);
	/* r1 was replaced: make it look retired long ago. */
	assert_int_equal(sqlite3_open(f->path, &h), SQLITE_OK);
	assert_int_equal(sqlite3_exec(h,
	                     "UPDATE subscription SET retired_at ="
	                     " 1000 WHERE state = 'retired'",
	                     NULL, NULL, NULL),
	    SQLITE_OK);
	sqlite3_close(h);
	a = mk("dev-q", ki, 0, 100);
	a.retired_keep_s = 3600;
	/* The same connection purged a moment ago: not again yet. */
	assert_int_equal(subs_allocate(f->db, &r1, &a, err, sizeof(err)),
	    SUBS_OK);
	assert_int_equal(subs_foreach(f->db, 1, count_rows, &rows, err,
	                     sizeof(err)),
	    SUBS_OK);
	assert_int_equal(rows, 3);
	assert_int_equal(subs_open(&db2, f->path, err, sizeof(err)), SUBS_OK);
	a = mk("dev-s", ki, 0, 100);
	a.retired_keep_s = 3600;
	assert_int_equal(subs_allocate(db2, &r1, &a, err, sizeof(err)),
	    SUBS_OK);
	subs_close(db2);
	rows = 0;
	assert_int_equal(subs_foreach(f->db, 1, count_rows, &rows, err,
	                     sizeof(err)),
	    SUBS_OK);
	assert_int_equal(rows, 3); /* dev-p, dev-q, dev-s pending */
}

/* A store at schema 2 (the seed's: retired flag, retired rows keeping
 * their keys) upgrades: states set, retired keys zeroed, the new indexes
 * and the counter table in place. */
static void subs_open__upgrades_schema_2(void **state)
{
	struct fix *f = *state;
	char path[600], err[256], st[16];
	uint8_t zero[16] = { 0 }, k[16], o[16], one[16];
	subs_db *db = NULL;
	subs_record_t r;
	sqlite3 *h = NULL;
	int v = 0;

	memset(one, 0x11, sizeof(one));
	snprintf(path, sizeof(path), "%s/old.db", f->dir);
	assert_int_equal(sqlite3_open(path, &h), SQLITE_OK);
	assert_int_equal(
	    sqlite3_exec(h,
	        "CREATE TABLE subscription ("
	        " id INTEGER PRIMARY KEY AUTOINCREMENT, supi TEXT NOT NULL,"
	        " plmn TEXT NOT NULL, msin INTEGER NOT NULL, device_id TEXT NOT NULL,"
	        " ki BLOB NOT NULL CHECK (length(ki) = 16),"
	        " opc BLOB NOT NULL CHECK (length(opc) = 16), amf BLOB NOT NULL,"
	        " sqn INTEGER NOT NULL, profile TEXT NOT NULL,"
	        " retired INTEGER NOT NULL DEFAULT 0 CHECK (retired IN (0, 1)),"
	        " created_at INTEGER NOT NULL, retired_at INTEGER NOT NULL DEFAULT 0);"
	        "CREATE UNIQUE INDEX subscription_active_supi ON subscription(supi)"
	        " WHERE retired = 0;"
	        "CREATE UNIQUE INDEX subscription_active_device ON"
	        " subscription(device_id) WHERE retired = 0;"
	        "CREATE INDEX subscription_plmn_msin ON subscription(plmn, msin);"
	        "CREATE TABLE msin_cursor (plmn TEXT PRIMARY KEY,"
	        " next_msin INTEGER NOT NULL);"
	        "INSERT INTO subscription VALUES (1, '001010000000001', '00101', 1,"
	        " 'dev-o', zeroblob(16), zeroblob(16), x'8000', 32, '{}', 1, 1, 2);"
	        "UPDATE subscription SET ki = x'11111111111111111111111111111111',"
	        " opc = x'11111111111111111111111111111111';"
	        "INSERT INTO subscription VALUES (2, '001010000000001', '00101', 1,"
	        " 'dev-o', x'11111111111111111111111111111111',"
	        " x'11111111111111111111111111111111', x'8000', 32, '{}', 0, 3, 0);"
	        "PRAGMA user_version = 2;",
	        NULL, NULL, NULL),
	    SQLITE_OK);
	sqlite3_close(h);
	assert_int_equal(subs_open(&db, path, err, sizeof(err)), SUBS_OK);
	assert_int_equal(subs_schema_version(db, &v), SUBS_OK);
	assert_int_equal(v, 3);
	assert_int_equal(subs_find_device(db, &r, "dev-o", err, sizeof(err)),
	    SUBS_OK);
	assert_int_equal(r.id, 2);
	assert_int_equal(r.state, SUBS_STATE_ACTIVE);
	assert_memory_equal(r.ki, one, 16);
	subs_record_wipe(&r);
	subs_close(db);
	raw_keys(path, 1, k, o, st, sizeof(st));
	assert_string_equal(st, "retired");
	assert_memory_equal(k, zero, 16);
	assert_memory_equal(o, zero, 16);
	raw_keys(path, 2, k, o, st, sizeof(st));
	assert_string_equal(st, "active");
	/* The shared runner's record carries the old versions over, and
	 * user_version follows it (a program from before still finds the
	 * file current). */
	assert_int_equal(raw_int(path,
	                     "SELECT count(*) FROM"
	                     " schema_migrations WHERE version IN (1, 2, 3)"),
	    3);
	assert_int_equal(raw_int(path, "PRAGMA user_version"), 3);
}

static void subs_sqn__persists_across_reopen(void **state)
{
	struct fix *f = *state;
	subs_record_t r;
	uint8_t ki[16] = { 9 };
	subs_alloc_t a = mk("dev-s", ki, 0, 10);
	uint64_t sqn;
	char err[256];

	assert_int_equal(subs_allocate(f->db, &r, &a, err, sizeof(err)),
	    SUBS_OK);
	/* SQN 32 = SEQ 1, IND 0 → SEQ 2, IND 1 = 65. */
	assert_int_equal(subs_sqn_next(f->db, &sqn, r.supi, 5, err,
	                     sizeof(err)),
	    SUBS_OK);
	assert_int_equal(sqn, 65);
	assert_int_equal(subs_sqn_next(f->db, &sqn, r.supi, 5, err,
	                     sizeof(err)),
	    SUBS_OK);
	assert_int_equal(sqn, 98);
	subs_close(f->db);
	assert_int_equal(subs_open(&f->db, f->path, err, sizeof(err)), SUBS_OK);
	assert_int_equal(subs_find_supi(f->db, &r, r.supi, err, sizeof(err)),
	    SUBS_OK);
	assert_int_equal(r.sqn, 98);
	assert_int_equal(subs_sqn_set(f->db, r.supi, 1000, err, sizeof(err)),
	    SUBS_OK);
	assert_int_equal(subs_sqn_next(f->db, &sqn, r.supi, 0, err,
	                     sizeof(err)),
	    SUBS_OK);
	assert_int_equal(sqn, 1001);
	assert_int_equal(subs_sqn_next(f->db, &sqn, "001019999999999", 5, err,
	                     sizeof(err)),
	    SUBS_NOTFOUND);
	assert_int_equal(subs_sqn_set(f->db, "001019999999999", 1, err,
	                     sizeof(err)),
	    SUBS_NOTFOUND);
	assert_int_equal(subs_sqn_set(f->db, "12ab", 1, err, sizeof(err)),
	    SUBS_INVALID);
}

static void subs_sqn_successor__cycles_ind_and_wraps_seq(void **state)
{
	(void)state;
	assert_int_equal(subs_sqn_successor(0, 5), 33);
	assert_int_equal(subs_sqn_successor(31, 5), 32); /* IND 31 → 0 */
	assert_int_equal(subs_sqn_successor(41, 0), 42);
	assert_int_equal(subs_sqn_successor(0xffffffffffe0ULL, 5), 1);
}

static void subs_allocate__range_exhaustion_is_clear_error(void **state)
{
	struct fix *f = *state;
	subs_record_t r;
	uint8_t ki[16] = { 3 };
	subs_alloc_t a = mk("dev-a", ki, 10, 11);
	char err[256];

	assert_int_equal(subs_allocate(f->db, &r, &a, err, sizeof(err)),
	    SUBS_OK);
	a.device_id = "dev-b";
	assert_int_equal(subs_allocate(f->db, &r, &a, err, sizeof(err)),
	    SUBS_OK);
	a.device_id = "dev-c";
	assert_int_equal(subs_allocate(f->db, &r, &a, err, sizeof(err)),
	    SUBS_EXHAUSTED);
	assert_non_null(strstr(err, "exhausted"));
	assert_non_null(strstr(err, "10-11"));
	/* Re-provisioning needs a new MSIN too (each subscription has its own
	 * SUPI): refused, and the refusal leaves the counter where it was. */
	a = mk("dev-a", ki, 10, 11);
	assert_int_equal(subs_allocate(f->db, &r, &a, err, sizeof(err)),
	    SUBS_EXHAUSTED);
	assert_int_equal(subs_allocate(f->db, &r, &a, err, sizeof(err)),
	    SUBS_EXHAUSTED); /* not SUBS_REPLAY: the counter was not kept */
	assert_int_equal(subs_find_device(f->db, NULL, "dev-c", err,
	                     sizeof(err)),
	    SUBS_NOTFOUND);
}

static void subs_allocate__rejects_malformed_input(void **state)
{
	struct fix *f = *state;
	subs_record_t r;
	uint8_t ki[16] = { 3 };
	subs_alloc_t a = mk("bad/id", ki, 0, 10);
	char err[256];

	assert_int_equal(subs_allocate(f->db, &r, &a, err, sizeof(err)),
	    SUBS_INVALID);
	a = mk("ok", ki, 0, 10000000000ULL); /* 11 digits > 10-digit MSIN */
	assert_int_equal(subs_allocate(f->db, &r, &a, err, sizeof(err)),
	    SUBS_INVALID);
	a = mk("ok", ki, 5, 4);
	assert_int_equal(subs_allocate(f->db, &r, &a, err, sizeof(err)),
	    SUBS_INVALID);
	a = mk("ok", ki, 0, 10);
	a.mcc = "0a1";
	assert_int_equal(subs_allocate(f->db, &r, &a, err, sizeof(err)),
	    SUBS_INVALID);
	assert_int_equal(subs_find_supi(f->db, &r, "1", err, sizeof(err)),
	    SUBS_INVALID);
}

static void subs_open__fails_on_unwritable_path(void **state)
{
	subs_db *db = NULL;
	char err[256] = "";

	(void)state;
	assert_int_equal(subs_open(&db, "/nonexistent-dir/x/subs.db", err,
	                     sizeof(err)),
	    SUBS_ERR);
	assert_null(db);
	assert_non_null(strstr(err, "/nonexistent-dir"));
}

/* The store holds every Ki and OPc: owner-only whatever the umask, the
 * WAL too, and a store left readable by others is narrowed on open. */
static void subs_open__store_is_owner_only(void **state)
{
	struct fix *f = *state;
	char path[320], wal[330], err[256];
	struct stat st;
	subs_db *db = NULL;
	mode_t old = umask(022);
	int fd;

	snprintf(path, sizeof(path), "%s/fresh.db", f->dir);
	snprintf(wal, sizeof(wal), "%s-wal", path);
	assert_int_equal(subs_open(&db, path, err, sizeof(err)), SUBS_OK);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(stat(wal, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	subs_close(db);

	snprintf(path, sizeof(path), "%s/loose.db", f->dir);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(subs_open(&db, path, err, sizeof(err)), SUBS_OK);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	subs_close(db);
	umask(old);
}

/* Every connection runs synchronous=FULL: a commit (a Ki, an SQN) is on
 * disk before corehook answers the message that depends on it. */
static void subs_open__runs_synchronous_full(void **state)
{
	struct fix *f = *state;
	subs_db *db2 = NULL;
	char err[256];
	int sync = -1;

	assert_int_equal(subs_synchronous(f->db, &sync), SUBS_OK);
	assert_int_equal(sync, 2);
	assert_int_equal(subs_open(&db2, f->path, err, sizeof(err)), SUBS_OK);
	sync = -1;
	assert_int_equal(subs_synchronous(db2, &sync), SUBS_OK);
	assert_int_equal(sync, 2);
	subs_close(db2);
}

/* Statements are prepared once per connection and reused: none may stay
 * in the middle of a step, or its read transaction would pin the WAL (a
 * full checkpoint from another connection would be refused as busy). */
static void subs_statements__leave_no_read_open(void **state)
{
	struct fix *f = *state;
	subs_record_t r;
	subs_alloc_t a;
	uint64_t sqn;
	sqlite3 *h = NULL;
	sqlite3_stmt *st = NULL;
	char err[256];
	static const uint8_t ki[16] = { 0x31 };
	int i;

	for (i = 0; i < 3; i++) {
		a = mk("dev-ro", ki, 1, 100);
		assert_int_equal(subs_allocate(f->db, &r, &a, err, sizeof(err)),
		    SUBS_OK);
	}
	assert_int_equal(subs_find_supi(f->db, &r, r.supi, err, sizeof(err)),
	    SUBS_OK);
	assert_int_equal(subs_confirm(f->db, r.supi, NULL, err, sizeof(err)),
	    SUBS_OK);
	assert_memory_equal(r.ki, ki, 16);
	assert_int_equal(subs_find_device(f->db, &r, "dev-ro", err,
	                     sizeof(err)),
	    SUBS_OK);
	assert_int_equal(subs_find_device(f->db, NULL, "dev-none", err,
	                     sizeof(err)),
	    SUBS_NOTFOUND);
	assert_int_equal(subs_sqn_next(f->db, &sqn, r.supi, 5, err,
	                     sizeof(err)),
	    SUBS_OK);
	assert_int_equal(subs_sqn_next(f->db, &sqn, "001019999999999", 5, err,
	                     sizeof(err)),
	    SUBS_NOTFOUND);
	assert_int_equal(sqlite3_open(f->path, &h), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(h,
	                     "PRAGMA wal_checkpoint(TRUNCATE)", -1, &st, NULL),
	    SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int(st, 0), 0); /* not busy */
	assert_int_equal(sqlite3_column_int(st, 1), 0); /* WAL emptied */
	sqlite3_finalize(st);
	sqlite3_close(h);
	/* Still usable after the checkpoint. */
	assert_int_equal(subs_find_supi(f->db, &r, r.supi, err, sizeof(err)),
	    SUBS_OK);
	assert_int_equal(r.sqn, sqn);
}

/* ---- group commit ---- */

#define GC_THREADS 8

struct gc_arg {
	struct fix *f;
	subs_group *g;
	int kind; /* 0 allocate, 1 SQN step */
	char dev[32];
	char supi[16];
	uint8_t ki[16];
	int rc;
	subs_record_t rec;
	uint64_t sqn;
	char err[256];
};

static void *gc_thread(void *p)
{
	struct gc_arg *a = p;
	subs_alloc_t al;
	subs_db *db = NULL;
	char err[256];

	if (subs_open(&db, a->f->path, err, sizeof(err)) != SUBS_OK) {
		a->rc = -100;
		return NULL;
	}
	if (a->kind == 0) {
		al = mk(a->dev, a->ki, 1, 3);
		a->rc = subs_group_allocate(a->g, db, &a->rec, &al, a->err,
		    sizeof(a->err));
	} else {
		a->rc = subs_group_sqn_next(a->g, db, &a->sqn, a->supi, 5,
		    a->err, sizeof(a->err));
	}
	subs_close(db);
	return NULL;
}

/* Hold the store's write lock from another connection so the first group
 * writer blocks in BEGIN and everyone else queues behind it. */
static sqlite3 *lock_store(const char *path)
{
	sqlite3 *h = NULL;

	assert_int_equal(sqlite3_open(path, &h), SQLITE_OK);
	assert_int_equal(sqlite3_exec(h, "BEGIN IMMEDIATE", NULL, NULL, NULL),
	    SQLITE_OK);
	return h;
}

static void unlock_store(sqlite3 *h)
{
	assert_int_equal(sqlite3_exec(h, "COMMIT", NULL, NULL, NULL),
	    SQLITE_OK);
	sqlite3_close(h);
}

/* Wait until the group is being written and n jobs queue behind it. */
static void wait_queued(subs_group *g, size_t n)
{
	subs_group_stats_t st;

	for (;;) {
		subs_group_stats(g, &st);
		if (st.writing && st.queued == n)
			return;
		usleep(1000);
	}
}

/* Operations queued while one group is being written share the next
 * transaction; one failing (MSIN range exhausted, unknown SUPI) undoes
 * only itself, and every success is in the store for a new connection. */
static void subs_group__queued_operations_share_one_commit(void **state)
{
	struct fix *f = *state;
	struct gc_arg a[GC_THREADS];
	pthread_t t[GC_THREADS];
	subs_group *g = NULL;
	subs_record_t r, first;
	subs_db *check = NULL;
	sqlite3 *lock;
	subs_group_stats_t st;
	char err[256];
	int i, ok = 0, exhausted = 0;

	/* A subscriber for the SQN jobs, allocated before the lock. */
	static const uint8_t ki0[16] = { 0x42 };
	subs_alloc_t a0 = mk("dev-sqn", ki0, 1, 3);

	assert_int_equal(subs_allocate(f->db, &first, &a0, err, sizeof(err)),
	    SUBS_OK);
	assert_int_equal(subs_group_new(&g), SUBS_OK);
	memset(a, 0, sizeof(a));
	for (i = 0; i < GC_THREADS; i++) {
		a[i].f = f;
		a[i].g = g;
		a[i].rc = -99;
		/* 5 allocations for 2 MSINs left, 2 SQN steps, 1 unknown. */
		if (i < 5) {
			snprintf(a[i].dev, sizeof(a[i].dev), "gdev-%d", i);
			memset(a[i].ki, 0x10 + i, sizeof(a[i].ki));
		} else {
			a[i].kind = 1;
			snprintf(a[i].supi, sizeof(a[i].supi), "%s",
			    i < 7 ? first.supi : "001019999999999");
		}
	}
	lock = lock_store(f->path);
	/* Thread 0 becomes the writer and blocks in BEGIN IMMEDIATE. */
	assert_int_equal(pthread_create(&t[0], NULL, gc_thread, &a[0]), 0);
	wait_queued(g, 0);
	for (i = 1; i < GC_THREADS; i++)
		assert_int_equal(pthread_create(&t[i], NULL, gc_thread, &a[i]),
		    0);
	wait_queued(g, GC_THREADS - 1);
	unlock_store(lock);
	for (i = 0; i < GC_THREADS; i++)
		assert_int_equal(pthread_join(t[i], NULL), 0);
	subs_group_stats(g, &st);
	assert_int_equal(st.jobs, GC_THREADS);
	assert_int_equal(st.groups, 2); /* thread 0 alone, then the rest */
	assert_int_equal(st.queued, 0);
	assert_int_equal(st.writing, 0);

	assert_int_equal(subs_open(&check, f->path, err, sizeof(err)), SUBS_OK);
	for (i = 0; i < 5; i++) {
		if (a[i].rc == SUBS_EXHAUSTED) {
			exhausted++;
			assert_int_equal(subs_find_device(check, &r, a[i].dev,
			                     err, sizeof(err)),
			    SUBS_NOTFOUND);
			continue;
		}
		assert_int_equal(a[i].rc, SUBS_OK);
		ok++;
		assert_int_equal(subs_find_supi(check, &r, a[i].rec.supi, err,
		                     sizeof(err)),
		    SUBS_OK);
		assert_string_equal(r.device_id, a[i].dev);
		assert_memory_equal(r.ki, a[i].ki, 16);
		assert_int_equal(r.id, a[i].rec.id);
	}
	assert_int_equal(ok, 2);
	assert_int_equal(exhausted, 3);
	assert_int_equal(a[5].rc, SUBS_OK);
	assert_int_equal(a[6].rc, SUBS_OK);
	assert_true(a[5].sqn != a[6].sqn);
	assert_int_equal(a[7].rc, SUBS_NOTFOUND);
	assert_non_null(strstr(a[7].err, "001019999999999"));
	assert_int_equal(subs_find_supi(check, &r, first.supi, err,
	                     sizeof(err)),
	    SUBS_OK);
	assert_int_equal(r.sqn,
	    subs_sqn_successor(subs_sqn_successor(32, 5), 5));
	subs_close(check);
	subs_group_free(g);
}

#define SQN_THREADS 6
#define SQN_STEPS 20

struct sqn_arg {
	struct fix *f;
	subs_group *g;
	const char *supi;
	uint64_t got[SQN_STEPS];
	int rc;
};

static void *sqn_thread(void *p)
{
	struct sqn_arg *a = p;
	subs_db *db = NULL;
	char err[256];
	int i;

	a->rc = subs_open(&db, a->f->path, err, sizeof(err));
	for (i = 0; i < SQN_STEPS && a->rc == SUBS_OK; i++)
		a->rc = subs_group_sqn_next(a->g, db, &a->got[i], a->supi, 5,
		    err, sizeof(err));
	subs_close(db);
	return NULL;
}

static int u64_cmp(const void *x, const void *y)
{
	uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;

	return a < b ? -1 : a > b;
}

/* Concurrent SQN steps through the group: each value handed out once, in
 * the successor order, and the stored SQN is the last of them. */
static void subs_group__concurrent_sqn_steps_are_distinct_and_durable(
    void **state)
{
	struct fix *f = *state;
	struct sqn_arg a[SQN_THREADS];
	pthread_t t[SQN_THREADS];
	uint64_t all[SQN_THREADS * SQN_STEPS], want = 32;
	subs_group *g = NULL;
	subs_record_t r;
	subs_db *check = NULL;
	static const uint8_t ki[16] = { 0x77 };
	subs_alloc_t al = mk("dev-seq", ki, 1, 100);
	char err[256];
	int i, j;

	assert_int_equal(subs_allocate(f->db, &r, &al, err, sizeof(err)),
	    SUBS_OK);
	assert_int_equal(subs_group_new(&g), SUBS_OK);
	for (i = 0; i < SQN_THREADS; i++) {
		a[i].f = f;
		a[i].g = g;
		a[i].supi = r.supi;
		assert_int_equal(pthread_create(&t[i], NULL, sqn_thread, &a[i]),
		    0);
	}
	for (i = 0; i < SQN_THREADS; i++) {
		assert_int_equal(pthread_join(t[i], NULL), 0);
		assert_int_equal(a[i].rc, SUBS_OK);
		for (j = 0; j < SQN_STEPS; j++)
			all[i * SQN_STEPS + j] = a[i].got[j];
	}
	qsort(all, SQN_THREADS * SQN_STEPS, sizeof(all[0]), u64_cmp);
	for (i = 0; i < SQN_THREADS * SQN_STEPS; i++) {
		want = subs_sqn_successor(want, 5);
		assert_int_equal(all[i], want);
	}
	assert_int_equal(subs_open(&check, f->path, err, sizeof(err)), SUBS_OK);
	assert_int_equal(subs_find_supi(check, &r, r.supi, err, sizeof(err)),
	    SUBS_OK);
	assert_int_equal(r.sqn, want);
	subs_close(check);
	subs_group_free(g);
}

/* The vector's inputs come from the row whose SQN was stepped: after a
 * re-provisioning the step reads the new row's keys with its new SQN. */
static void subs_group__sqn_step_reads_the_stepped_row(void **state)
{
	struct fix *f = *state;
	subs_group *g = NULL;
	subs_record_t r, got;
	uint8_t ki1[16] = { 0x11 }, ki2[16] = { 0x22 };
	subs_alloc_t a = mk("dev-v", ki1, 1, 9);
	uint64_t sqn = 0;
	char err[256];

	assert_int_equal(subs_group_new(&g), SUBS_OK);
	assert_int_equal(subs_group_allocate(g, f->db, &r, &a, err,
	                     sizeof(err)),
	    SUBS_OK);
	assert_int_equal(subs_group_sqn_next_read(g, f->db, &sqn, &got, r.supi,
	                     5, err, sizeof(err)),
	    SUBS_OK);
	assert_memory_equal(got.ki, ki1, 16);
	assert_string_equal(got.supi, r.supi);
	assert_int_equal(got.sqn, sqn);
	assert_int_equal(sqn, subs_sqn_successor(32, 5));
	subs_record_wipe(&got);
	/* Re-provisioned: a new pending SUPI, new Ki, SQN from the start. */
	a = mk("dev-v", ki2, 1, 9);
	subs_record_wipe(&r);
	assert_int_equal(subs_group_allocate(g, f->db, &r, &a, err,
	                     sizeof(err)),
	    SUBS_OK);
	assert_int_equal(subs_group_sqn_next_read(g, f->db, &sqn, &got, r.supi,
	                     5, err, sizeof(err)),
	    SUBS_OK);
	assert_memory_equal(got.ki, ki2, 16);
	assert_int_equal(got.sqn, sqn);
	subs_record_wipe(&got);
	/* Unknown SUPI: not found, nothing read. */
	assert_int_equal(subs_group_sqn_next_read(g, f->db, &sqn, &got,
	                     "001019999999999", 5, err, sizeof(err)),
	    SUBS_NOTFOUND);
	subs_record_wipe(&r);
	subs_group_free(g);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
		    subs_allocate__gives_distinct_supis_in_range, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    subs_allocate__pending_until_confirmed_then_old_wiped,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    subs_allocate__replayed_counter_changes_nothing, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    subs_allocate__retired_rows_are_purged, setup, teardown),
		cmocka_unit_test_setup_teardown(subs_open__upgrades_schema_2,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    subs_sqn__persists_across_reopen, setup, teardown),
		cmocka_unit_test(subs_sqn_successor__cycles_ind_and_wraps_seq),
		cmocka_unit_test_setup_teardown(
		    subs_allocate__range_exhaustion_is_clear_error, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    subs_allocate__rejects_malformed_input, setup, teardown),
		cmocka_unit_test(subs_open__fails_on_unwritable_path),
		cmocka_unit_test_setup_teardown(subs_open__store_is_owner_only,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    subs_open__runs_synchronous_full, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    subs_statements__leave_no_read_open, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    subs_group__queued_operations_share_one_commit, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    subs_group__concurrent_sqn_steps_are_distinct_and_durable,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    subs_group__sqn_step_reads_the_stepped_row, setup,
		    teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
