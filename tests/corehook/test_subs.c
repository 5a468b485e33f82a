/* test_subs.c — the operator's subscriber store: unique allocation,
 * retirement on re-provisioning, SQN persistence, MSIN range exhaustion. */
#include <setjmp.h>
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

static subs_alloc_t mk(const char *dev, const uint8_t *ki, uint64_t first,
    uint64_t last)
{
	subs_alloc_t a = {
		.device_id = dev, .mcc = "001", .mnc = "01",
		.msin_first = first, .msin_last = last, .ki = ki, .opc = opc,
		.amf = amf, .sqn = 32,
		.profile = "{\"dnn\":\"internet\"}",
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

	assert_int_equal(subs_allocate(f->db, &r1, &a, err, sizeof(err)), SUBS_OK);
	a = mk("dev-2", ki2, 5, 100);
	assert_int_equal(subs_allocate(f->db, &r2, &a, err, sizeof(err)), SUBS_OK);
	assert_string_equal(r1.supi, "001010000000005");
	assert_string_equal(r2.supi, "001010000000006");
	assert_memory_equal(r1.ki, ki1, 16);
	assert_int_equal(r1.sqn, 32);
	assert_int_equal(r1.retired, 0);
	assert_int_equal(subs_count_active(f->db, &n, err, sizeof(err)), SUBS_OK);
	assert_int_equal(n, 2);
	assert_int_equal(subs_schema_version(f->db, &v), SUBS_OK);
	assert_int_equal(v, 2);

	/* Three-digit MNC: 9-digit MSIN. */
	a = mk("dev-3", ki2, 7, 100);
	a.mnc = "001";
	assert_int_equal(subs_allocate(f->db, &r2, &a, err, sizeof(err)), SUBS_OK);
	assert_string_equal(r2.supi, "001001000000007");
}

static int count_rows(const subs_record_t *r, void *arg)
{
	(*(int *)arg)++;
	return 0;
}

static void subs_allocate__reprovisioning_retires_old_row_keeps_supi(void **state)
{
	struct fix *f = *state;
	subs_record_t r1, r2, found;
	uint8_t ki1[16] = { 1 }, ki2[16] = { 2 };
	subs_alloc_t a = mk("dev-r", ki1, 0, 100);
	char err[256];
	int rows = 0;

	assert_int_equal(subs_allocate(f->db, &r1, &a, err, sizeof(err)), SUBS_OK);
	assert_int_equal(subs_sqn_next(f->db, &r1.sqn, r1.supi, 5, err,
	    sizeof(err)), SUBS_OK);
	a = mk("dev-r", ki2, 0, 100);
	a.sqn = 64;
	assert_int_equal(subs_allocate(f->db, &r2, &a, err, sizeof(err)), SUBS_OK);
	assert_string_equal(r1.supi, r2.supi);
	assert_int_not_equal(r1.id, r2.id);
	assert_int_equal(subs_find_supi(f->db, &found, r1.supi, err,
	    sizeof(err)), SUBS_OK);
	assert_int_equal(found.id, r2.id);
	assert_memory_equal(found.ki, ki2, 16);
	assert_int_equal(found.sqn, 64);
	assert_int_equal(subs_foreach(f->db, 1, count_rows, &rows, err,
	    sizeof(err)), SUBS_OK);
	assert_int_equal(rows, 2);
	rows = 0;
	assert_int_equal(subs_foreach(f->db, 0, count_rows, &rows, err,
	    sizeof(err)), SUBS_OK);
	assert_int_equal(rows, 1);
}

static void subs_sqn__persists_across_reopen(void **state)
{
	struct fix *f = *state;
	subs_record_t r;
	uint8_t ki[16] = { 9 };
	subs_alloc_t a = mk("dev-s", ki, 0, 10);
	uint64_t sqn;
	char err[256];

	assert_int_equal(subs_allocate(f->db, &r, &a, err, sizeof(err)), SUBS_OK);
	/* SQN 32 = SEQ 1, IND 0 → SEQ 2, IND 1 = 65. */
	assert_int_equal(subs_sqn_next(f->db, &sqn, r.supi, 5, err,
	    sizeof(err)), SUBS_OK);
	assert_int_equal(sqn, 65);
	assert_int_equal(subs_sqn_next(f->db, &sqn, r.supi, 5, err,
	    sizeof(err)), SUBS_OK);
	assert_int_equal(sqn, 98);
	subs_close(f->db);
	assert_int_equal(subs_open(&f->db, f->path, err, sizeof(err)), SUBS_OK);
	assert_int_equal(subs_find_supi(f->db, &r, r.supi, err, sizeof(err)),
	    SUBS_OK);
	assert_int_equal(r.sqn, 98);
	assert_int_equal(subs_sqn_set(f->db, r.supi, 1000, err, sizeof(err)),
	    SUBS_OK);
	assert_int_equal(subs_sqn_next(f->db, &sqn, r.supi, 0, err,
	    sizeof(err)), SUBS_OK);
	assert_int_equal(sqn, 1001);
	assert_int_equal(subs_sqn_next(f->db, &sqn, "001019999999999", 5, err,
	    sizeof(err)), SUBS_NOTFOUND);
	assert_int_equal(subs_sqn_set(f->db, "001019999999999", 1, err,
	    sizeof(err)), SUBS_NOTFOUND);
	assert_int_equal(subs_sqn_set(f->db, "12ab", 1, err, sizeof(err)),
	    SUBS_INVALID);
}

static void subs_sqn_successor__cycles_ind_and_wraps_seq(void **state)
{
	(void)state;
	assert_int_equal(subs_sqn_successor(0, 5), 33);
	assert_int_equal(subs_sqn_successor(31, 5), 32);   /* IND 31 → 0 */
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

	assert_int_equal(subs_allocate(f->db, &r, &a, err, sizeof(err)), SUBS_OK);
	a.device_id = "dev-b";
	assert_int_equal(subs_allocate(f->db, &r, &a, err, sizeof(err)), SUBS_OK);
	a.device_id = "dev-c";
	assert_int_equal(subs_allocate(f->db, &r, &a, err, sizeof(err)),
	    SUBS_EXHAUSTED);
	assert_non_null(strstr(err, "exhausted"));
	assert_non_null(strstr(err, "10-11"));
	/* Re-provisioning an existing device still works: it keeps its SUPI. */
	a.device_id = "dev-a";
	assert_int_equal(subs_allocate(f->db, &r, &a, err, sizeof(err)), SUBS_OK);
	assert_string_equal(r.supi, "001010000000010");
	assert_int_equal(subs_find_device(f->db, NULL, "dev-c", err,
	    sizeof(err)), SUBS_NOTFOUND);
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
	a = mk("ok", ki, 0, 10000000000ULL);   /* 11 digits > 10-digit MSIN */
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
	    sizeof(err)), SUBS_ERR);
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
		    subs_allocate__gives_distinct_supis_in_range, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    subs_allocate__reprovisioning_retires_old_row_keeps_supi,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(subs_sqn__persists_across_reopen,
		    setup, teardown),
		cmocka_unit_test(subs_sqn_successor__cycles_ind_and_wraps_seq),
		cmocka_unit_test_setup_teardown(
		    subs_allocate__range_exhaustion_is_clear_error, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    subs_allocate__rejects_malformed_input, setup, teardown),
		cmocka_unit_test(subs_open__fails_on_unwritable_path),
		cmocka_unit_test_setup_teardown(subs_open__store_is_owner_only,
		    setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
