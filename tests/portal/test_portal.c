/* test_portal.c — portal passwords, rate limiter, users and sessions. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "portal.h"
#include "reg.h"
#include "reg_portal.h"

static char err[256];

/* ---- passwords ---- */

/* RFC 7914 section 12, third vector ("pleaseletmein", "SodiumChloride",
 * N=16384, r=8, p=1): the first 32 bytes of its 64-byte output. */
static const char rfc7914_encoded[] =
    "scrypt$14$8$1$536f6469756d43686c6f72696465$"
    "7023bdcb3afd7348461c06cd81fd38ebfda8fbba904f8e3ea9b543f6545da1f2";

static void password__rfc7914_vector_verifies(void **state)
{
	(void)state;
	assert_int_equal(portal_password_verify(rfc7914_encoded,
	                     "pleaseletmein", 13, err, sizeof(err)),
	    PORTAL_OK);
	assert_int_equal(portal_password_verify(rfc7914_encoded,
	                     "pleaseletmeim", 13, err, sizeof(err)),
	    PORTAL_E_AUTH);
	assert_string_equal(err, "wrong password");
}

static void password__hash_roundtrip_and_fresh_salt(void **state)
{
	char h1[PORTAL_PW_HASH_LEN], h2[PORTAL_PW_HASH_LEN];

	(void)state;
	assert_int_equal(portal_password_hash_cost(h1, sizeof(h1),
	                     "correct horse", 13, 10, 8, 1, err, sizeof(err)),
	    PORTAL_OK);
	assert_int_equal(portal_password_hash_cost(h2, sizeof(h2),
	                     "correct horse", 13, 10, 8, 1, err, sizeof(err)),
	    PORTAL_OK);
	/* "scrypt$10$8$1$" + 32 hex salt + "$" + 64 hex output */
	assert_int_equal(strlen(h1), 14 + 32 + 1 + 64);
	assert_memory_equal(h1, "scrypt$10$8$1$", 14);
	assert_string_not_equal(h1, h2); /* per-hash random salt */
	assert_int_equal(portal_password_verify(h1, "correct horse", 13, err,
	                     sizeof(err)),
	    PORTAL_OK);
	assert_int_equal(portal_password_verify(h2, "correct horse", 13, err,
	                     sizeof(err)),
	    PORTAL_OK);
	assert_int_equal(portal_password_verify(h1, "correct horsf", 13, err,
	                     sizeof(err)),
	    PORTAL_E_AUTH);
	assert_int_equal(portal_password_verify(h1, "correct hors", 12, err,
	                     sizeof(err)),
	    PORTAL_E_AUTH);
}

static void password__default_cost_is_encoded(void **state)
{
	char h[PORTAL_PW_HASH_LEN];

	(void)state;
	assert_int_equal(portal_password_hash(h, sizeof(h), "0123456789", 10,
	                     err, sizeof(err)),
	    PORTAL_OK);
	assert_memory_equal(h, "scrypt$15$8$1$", 14);
	assert_int_equal(portal_password_verify(h, "0123456789", 10, err,
	                     sizeof(err)),
	    PORTAL_OK);
}

static void password__malformed_encodings_refused(void **state)
{
	static const char *bad[] = {
		"",
		"bcrypt$10$8$1$00112233445566778899aabbccddeeff$"
		"7023bdcb3afd7348461c06cd81fd38ebfda8fbba904f8e3ea9b543f6545da1f2",
		/* cost out of bounds: log2N 21, r 17, p 5, N 3 */
		"scrypt$21$8$1$00112233445566778899aabbccddeeff$"
		"7023bdcb3afd7348461c06cd81fd38ebfda8fbba904f8e3ea9b543f6545da1f2",
		"scrypt$14$17$1$00112233445566778899aabbccddeeff$"
		"7023bdcb3afd7348461c06cd81fd38ebfda8fbba904f8e3ea9b543f6545da1f2",
		"scrypt$14$8$5$00112233445566778899aabbccddeeff$"
		"7023bdcb3afd7348461c06cd81fd38ebfda8fbba904f8e3ea9b543f6545da1f2",
		"scrypt$3$8$1$00112233445566778899aabbccddeeff$"
		"7023bdcb3afd7348461c06cd81fd38ebfda8fbba904f8e3ea9b543f6545da1f2",
		"scrypt$100$8$1$00112233445566778899aabbccddeeff$"
		"7023bdcb3afd7348461c06cd81fd38ebfda8fbba904f8e3ea9b543f6545da1f2",
		/* salt too short (7 bytes), odd, not hex; output truncated */
		"scrypt$14$8$1$00112233445566$"
		"7023bdcb3afd7348461c06cd81fd38ebfda8fbba904f8e3ea9b543f6545da1f2",
		"scrypt$14$8$1$00112233445566778$"
		"7023bdcb3afd7348461c06cd81fd38ebfda8fbba904f8e3ea9b543f6545da1f2",
		"scrypt$14$8$1$zz112233445566778899aabbccddeeff$"
		"7023bdcb3afd7348461c06cd81fd38ebfda8fbba904f8e3ea9b543f6545da1f2",
		"scrypt$14$8$1$00112233445566778899aabbccddeeff$7023bdcb",
		"scrypt$14$8$1$00112233445566778899aabbccddeeff",
		"scrypt$14$8$",
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(portal_password_verify(bad[i], "x", 1, err,
		                     sizeof(err)),
		    PORTAL_E_ARG);
		assert_string_equal(err, "malformed password hash");
	}
}

static void password__policy_bounds(void **state)
{
	char big[PORTAL_PW_MAX + 2];

	(void)state;
	assert_int_equal(portal_password_check_policy("short", 5, err,
	                     sizeof(err)),
	    PORTAL_E_ARG);
	assert_string_equal(err, "password must have at least 10 characters");
	memset(big, 'a', sizeof(big));
	assert_int_equal(portal_password_check_policy(big, PORTAL_PW_MAX + 1,
	                     err, sizeof(err)),
	    PORTAL_E_ARG);
	assert_int_equal(portal_password_check_policy(big, PORTAL_PW_MAX, err,
	                     sizeof(err)),
	    PORTAL_OK);
	assert_int_equal(portal_password_check_policy("0123456\0"
	                                              "89",
	                     10, err, sizeof(err)),
	    PORTAL_E_ARG);
	assert_string_equal(err, "password contains a NUL byte");
}

static void write_file(const char *path, const char *data, size_t len)
{
	FILE *f = fopen(path, "wb");

	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

static void password__read_file_first_line(void **state)
{
	char path[] = "/tmp/provca-pw-XXXXXX", pw[32];
	int fd = mkstemp(path);

	(void)state;
	assert_true(fd >= 0);
	close(fd);
	write_file(path, "s3cret pass\r\nsecond line\n", 25);
	assert_int_equal(portal_password_read_file(pw, sizeof(pw), path, err,
	                     sizeof(err)),
	    PORTAL_OK);
	assert_string_equal(pw, "s3cret pass");
	write_file(path, "0123456789012345678901234567890123", 34);
	assert_int_equal(portal_password_read_file(pw, sizeof(pw), path, err,
	                     sizeof(err)),
	    PORTAL_E_ARG);
	assert_non_null(strstr(err, "longer than 31 bytes"));
	write_file(path, "abc\0def\n", 8);
	assert_int_equal(portal_password_read_file(pw, sizeof(pw), path, err,
	                     sizeof(err)),
	    PORTAL_E_ARG);
	assert_non_null(strstr(err, "NUL byte"));
	unlink(path);
	assert_int_equal(portal_password_read_file(pw, sizeof(pw), path, err,
	                     sizeof(err)),
	    PORTAL_E_ARG);
	assert_non_null(strstr(err, "cannot open password file"));
}

/* ---- rate limiter ---- */

static void ratelimit__free_failures_then_doubling_locks(void **state)
{
	portal_ratelimit *rl = NULL;
	unsigned retry = 99;
	int i;

	(void)state;
	/* 3 free failures, then 30 s, 60 s, 120 s, capped at 100 s. */
	assert_int_equal(portal_ratelimit_new(&rl, 3, 30, 100, 16), PORTAL_OK);
	for (i = 0; i < 3; i++) {
		assert_int_equal(portal_ratelimit_check(rl, "p:10.0.0.2 alice",
		                     1000 + i, &retry),
		    PORTAL_OK);
		assert_int_equal(retry, 0);
		portal_ratelimit_fail(rl, "p:10.0.0.2 alice", 1000 + i);
	}
	assert_int_equal(portal_ratelimit_check(rl, "p:10.0.0.2 alice", 1003,
	                     &retry),
	    PORTAL_OK);
	portal_ratelimit_fail(rl, "p:10.0.0.2 alice", 1003); /* 4th: 30 s */
	assert_int_equal(portal_ratelimit_check(rl, "p:10.0.0.2 alice", 1010,
	                     &retry),
	    PORTAL_E_LIMITED);
	assert_int_equal(retry, 23);
	/* The same name from another address is not affected. */
	assert_int_equal(portal_ratelimit_check(rl, "p:10.0.0.1 alice", 1010,
	                     &retry),
	    PORTAL_OK);
	assert_int_equal(retry, 0);
	assert_int_equal(portal_ratelimit_check(rl, "p:10.0.0.2 alice", 1033,
	                     &retry),
	    PORTAL_OK);
	portal_ratelimit_fail(rl, "p:10.0.0.2 alice", 1033); /* 5th: 60 s */
	assert_int_equal(portal_ratelimit_check(rl, "p:10.0.0.2 alice", 1033,
	                     &retry),
	    PORTAL_E_LIMITED);
	assert_int_equal(retry, 60);
	portal_ratelimit_fail(rl, "p:10.0.0.2 alice", 1093); /* 6th: cap */
	assert_int_equal(portal_ratelimit_check(rl, "p:10.0.0.2 alice", 1093,
	                     &retry),
	    PORTAL_E_LIMITED);
	assert_int_equal(retry, 100);
	portal_ratelimit_fail(rl, "p:10.0.0.2 alice", 1193); /* still cap */
	assert_int_equal(portal_ratelimit_check(rl, "p:10.0.0.2 alice", 1193,
	                     &retry),
	    PORTAL_E_LIMITED);
	assert_int_equal(retry, 100);
	/* Quiet for the ceiling's length after the lock: free again. */
	portal_ratelimit_fail(rl, "p:10.0.0.2 alice", 1393);
	assert_int_equal(portal_ratelimit_check(rl, "p:10.0.0.2 alice", 1393,
	                     &retry),
	    PORTAL_OK);
	portal_ratelimit_free(rl);
}

static void ratelimit__reset_forgets_failures(void **state)
{
	portal_ratelimit *rl = NULL;
	unsigned retry;

	(void)state;
	assert_int_equal(portal_ratelimit_new(&rl, 0, 60, 60, 4), PORTAL_OK);
	portal_ratelimit_fail(rl, "addr:10.0.0.1", 5);
	assert_int_equal(portal_ratelimit_check(rl, "addr:10.0.0.1", 6, &retry),
	    PORTAL_E_LIMITED);
	portal_ratelimit_reset(rl, "addr:10.0.0.1");
	assert_int_equal(portal_ratelimit_check(rl, "addr:10.0.0.1", 6, &retry),
	    PORTAL_OK);
	portal_ratelimit_free(rl);
}

static void ratelimit__full_table_evicts_least_recent(void **state)
{
	portal_ratelimit *rl = NULL;
	unsigned retry;

	(void)state;
	assert_int_equal(portal_ratelimit_new(&rl, 0, 600, 600, 2), PORTAL_OK);
	portal_ratelimit_fail(rl, "a", 10);
	portal_ratelimit_fail(rl, "b", 11);
	portal_ratelimit_fail(rl, "c", 12); /* evicts "a" */
	assert_int_equal(portal_ratelimit_check(rl, "a", 13, &retry),
	    PORTAL_OK);
	assert_int_equal(portal_ratelimit_check(rl, "b", 13, &retry),
	    PORTAL_E_LIMITED);
	assert_int_equal(portal_ratelimit_check(rl, "c", 13, &retry),
	    PORTAL_E_LIMITED);
	assert_int_equal(portal_ratelimit_new(&rl, 1, 0, 600, 2), PORTAL_E_ARG);
	assert_int_equal(portal_ratelimit_new(&rl, 1, 60, 30, 2), PORTAL_E_ARG);
	assert_int_equal(portal_ratelimit_check(NULL, "a", 1, &retry),
	    PORTAL_E_ARG);
	portal_ratelimit_free(NULL);
	portal_ratelimit_free(rl);
}

/* ---- users and sessions ---- */

static const portal_session_policy_t pol = { 1800, 43200 };

/* The registry the server hands the portal, in a temporary folder. */
static char db_dir[64];

static void db_path(char *out, size_t outlen, const char *suffix)
{
	snprintf(out, outlen, "%s/registry.db%s", db_dir, suffix);
}

static int db_setup(void **state)
{
	static const char *mfrs[] = { "acme", "globex" };
	reg_manufacturer_t m;
	char path[128];
	reg_t *reg = NULL;
	size_t i;

	snprintf(db_dir, sizeof(db_dir), "/tmp/provca-portal-XXXXXX");
	if (mkdtemp(db_dir) == NULL)
		return -1;
	db_path(path, sizeof(path), "");
	if (reg_open(&reg, path, err, sizeof(err)) != REG_OK)
		return -1;
	/* portal_users refers to manufacturers. */
	for (i = 0; i < 2; i++) {
		memset(&m, 0, sizeof(m));
		snprintf(m.id, sizeof(m.id), "%s", mfrs[i]);
		snprintf(m.name, sizeof(m.name), "%s Inc", mfrs[i]);
		if (reg_manufacturer_insert(reg, &m, err, sizeof(err)) !=
		    REG_OK)
			goto fail;
	}
	/* Applying the portal's migration SQL twice is harmless. */
	if (sqlite3_exec(reg_sqlite(reg), reg_migration_portal_sql, NULL, NULL,
	        NULL) != SQLITE_OK)
		goto fail;
	*state = reg;
	return 0;
fail:
	reg_close(reg);
	return -1;
}

static int db_teardown(void **state)
{
	static const char *suffix[] = { "", "-wal", "-shm" };
	char path[128];
	size_t i;

	reg_close(*state);
	for (i = 0; i < 3; i++) {
		db_path(path, sizeof(path), suffix[i]);
		unlink(path);
	}
	rmdir(db_dir);
	return 0;
}

static int64_t count_sessions(reg_t *db)
{
	sqlite3_stmt *st;
	int64_t n;

	assert_int_equal(sqlite3_prepare_v2(reg_sqlite(db),
	                     "SELECT count(*) FROM portal_sessions", -1, &st,
	                     NULL),
	    SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return n;
}

static void users__add_validates_and_authenticates(void **state)
{
	reg_t *db = *state;
	portal_user_t u;
	int64_t id = 0, id2 = 0;

	assert_int_equal(portal_user_add(&id, db, "alice@acme",
	                     PORTAL_ROLE_MANUFACTURER, "acme", "alice-password",
	                     14, 100, err, sizeof(err)),
	    PORTAL_OK);
	assert_true(id > 0);
	assert_int_equal(portal_user_add(&id2, db, "root", PORTAL_ROLE_ADMIN,
	                     NULL, "root-password!", 14, 100, err, sizeof(err)),
	    PORTAL_OK);
	assert_int_equal(portal_user_add(NULL, db, "alice@acme",
	                     PORTAL_ROLE_ADMIN, NULL, "another-password", 16,
	                     100, err, sizeof(err)),
	    PORTAL_E_CONFLICT);
	assert_string_equal(err, "user alice@acme already exists");
	/* manufacturer without an ID; admin with one; bad names; short pw;
	 * a manufacturer ID the registry does not know */
	assert_int_equal(portal_user_add(NULL, db, "bob",
	                     PORTAL_ROLE_MANUFACTURER, NULL, "bob-password", 12,
	                     100, err, sizeof(err)),
	    PORTAL_E_ARG);
	assert_int_equal(portal_user_add(NULL, db, "bob", PORTAL_ROLE_ADMIN,
	                     "acme", "bob-password", 12, 100, err, sizeof(err)),
	    PORTAL_E_ARG);
	assert_string_equal(err, "an admin user has no manufacturer ID");
	assert_int_equal(portal_user_add(NULL, db, "bob smith",
	                     PORTAL_ROLE_ADMIN, NULL, "bob-password", 12, 100,
	                     err, sizeof(err)),
	    PORTAL_E_ARG);
	assert_int_equal(portal_user_add(NULL, db, "", PORTAL_ROLE_ADMIN, NULL,
	                     "bob-password", 12, 100, err, sizeof(err)),
	    PORTAL_E_ARG);
	assert_int_equal(portal_user_add(NULL, db, "bob", PORTAL_ROLE_ADMIN,
	                     NULL, "short", 5, 100, err, sizeof(err)),
	    PORTAL_E_ARG);
	assert_int_equal(portal_user_add(NULL, db, "bob",
	                     PORTAL_ROLE_MANUFACTURER, "initech",
	                     "bob-password", 12, 100, err, sizeof(err)),
	    PORTAL_E_ARG);
	assert_string_equal(err, "no manufacturer initech");

	assert_int_equal(portal_user_authenticate(&u, db, "alice@acme",
	                     "alice-password", 14, err, sizeof(err)),
	    PORTAL_OK);
	assert_int_equal(u.id, id);
	assert_string_equal(u.name, "alice@acme");
	assert_int_equal(u.role, PORTAL_ROLE_MANUFACTURER);
	assert_string_equal(u.manufacturer_id, "acme");
	assert_int_equal(u.created_at, 100);
	assert_int_equal(portal_user_authenticate(&u, db, "alice@acme",
	                     "alice-passworD", 14, err, sizeof(err)),
	    PORTAL_E_AUTH);
	assert_string_equal(err, "wrong user name or password");
	assert_int_equal(portal_user_authenticate(&u, db, "nobody",
	                     "alice-password", 14, err, sizeof(err)),
	    PORTAL_E_AUTH);
	assert_string_equal(err, "wrong user name or password");
	assert_int_equal(portal_user_authenticate(&u, db, "bad name",
	                     "alice-password", 14, err, sizeof(err)),
	    PORTAL_E_AUTH);

	assert_int_equal(portal_user_set_disabled(db, id, 1, 200, err,
	                     sizeof(err)),
	    PORTAL_OK);
	assert_int_equal(portal_user_authenticate(&u, db, "alice@acme",
	                     "alice-password", 14, err, sizeof(err)),
	    PORTAL_E_DISABLED);
	/* A wrong password on a disabled user says nothing about the state. */
	assert_int_equal(portal_user_authenticate(&u, db, "alice@acme",
	                     "wrong-password", 14, err, sizeof(err)),
	    PORTAL_E_AUTH);
	assert_int_equal(portal_user_set_disabled(db, id, 0, 201, err,
	                     sizeof(err)),
	    PORTAL_OK);
	assert_int_equal(portal_user_set_password(db, id, "new-password-1", 14,
	                     202, err, sizeof(err)),
	    PORTAL_OK);
	assert_int_equal(portal_user_authenticate(&u, db, "alice@acme",
	                     "alice-password", 14, err, sizeof(err)),
	    PORTAL_E_AUTH);
	assert_int_equal(portal_user_authenticate(&u, db, "alice@acme",
	                     "new-password-1", 14, err, sizeof(err)),
	    PORTAL_OK);
	assert_int_equal(u.updated_at, 202);
	assert_int_equal(portal_user_set_password(db, 9999, "new-password-1",
	                     14, 202, err, sizeof(err)),
	    PORTAL_E_NOTFOUND);
	assert_int_equal(portal_user_set_disabled(db, 9999, 1, 202, err,
	                     sizeof(err)),
	    PORTAL_E_NOTFOUND);
	assert_int_equal(portal_user_find(&u, db, "root", err, sizeof(err)),
	    PORTAL_OK);
	assert_int_equal(u.role, PORTAL_ROLE_ADMIN);
	assert_string_equal(u.manufacturer_id, "");
	assert_int_equal(portal_user_find(&u, db, "ghost", err, sizeof(err)),
	    PORTAL_E_NOTFOUND);
}

static int collect_names(const portal_user_t *u, void *arg)
{
	strcat(arg, u->name);
	strcat(arg, ",");
	return 0;
}

static void users__list_in_name_order(void **state)
{
	reg_t *db = *state;
	char names[256] = "";

	assert_int_equal(portal_user_add(NULL, db, "zed", PORTAL_ROLE_ADMIN,
	                     NULL, "zed-password", 12, 1, err, sizeof(err)),
	    PORTAL_OK);
	assert_int_equal(portal_user_add(NULL, db, "amy",
	                     PORTAL_ROLE_MANUFACTURER, "globex", "amy-password",
	                     12, 1, err, sizeof(err)),
	    PORTAL_OK);
	assert_int_equal(portal_user_list(db, collect_names, names, err,
	                     sizeof(err)),
	    PORTAL_OK);
	assert_string_equal(names, "amy,zed,");
}

static void sessions__idle_and_absolute_expiry(void **state)
{
	reg_t *db = *state;
	char tok[PORTAL_TOKEN_HEX + 1], tok2[PORTAL_TOKEN_HEX + 1];
	portal_session_t s, s2;
	int64_t id, t;

	assert_int_equal(portal_user_add(&id, db, "carol", PORTAL_ROLE_ADMIN,
	                     NULL, "carol-password", 14, 0, err, sizeof(err)),
	    PORTAL_OK);
	assert_int_equal(portal_session_create(tok, sizeof(tok), &s, db, id,
	                     &pol, "127.0.0.1", 1000, err, sizeof(err)),
	    PORTAL_OK);
	assert_int_equal(strlen(tok), PORTAL_TOKEN_HEX);
	assert_int_equal(strlen(s.csrf), PORTAL_TOKEN_HEX);
	assert_string_not_equal(tok, s.csrf);
	assert_int_equal(s.expires_at, 1000 + 1800);

	/* Activity within the idle window keeps it alive and moves expiry. */
	assert_int_equal(portal_session_lookup(&s2, db, tok, &pol, 2799, err,
	                     sizeof(err)),
	    PORTAL_OK);
	assert_string_equal(s2.user.name, "carol");
	assert_string_equal(s2.csrf, s.csrf);
	assert_int_equal(s2.expires_at, 2799 + 1800);
	/* Idle for exactly idle_s: gone, and the row is deleted. */
	assert_int_equal(portal_session_lookup(&s2, db, tok, &pol, 2799 + 1800,
	                     err, sizeof(err)),
	    PORTAL_E_EXPIRED);
	assert_string_equal(err, "session expired");
	assert_int_equal(portal_session_lookup(&s2, db, tok, &pol, 2799, err,
	                     sizeof(err)),
	    PORTAL_E_AUTH);

	/* Absolute expiry holds however busy the session is. */
	assert_int_equal(portal_session_create(tok2, sizeof(tok2), &s, db, id,
	                     &pol, NULL, 10000, err, sizeof(err)),
	    PORTAL_OK);
	for (t = 10000 + 1700; t < 10000 + 43200; t += 1700)
		assert_int_equal(portal_session_lookup(&s2, db, tok2, &pol, t,
		                     err, sizeof(err)),
		    PORTAL_OK);
	assert_int_equal(s2.expires_at, 10000 + 43200);
	assert_int_equal(portal_session_lookup(&s2, db, tok2, &pol,
	                     10000 + 43200, err, sizeof(err)),
	    PORTAL_E_EXPIRED);
	assert_int_equal(count_sessions(db), 0);
}

static void sessions__tokens_csrf_logout_and_revocation(void **state)
{
	reg_t *db = *state;
	char tok[PORTAL_TOKEN_HEX + 1], bad[PORTAL_TOKEN_HEX + 1];
	portal_session_t s, s2;
	int64_t id;
	int purged = -1;

	assert_int_equal(portal_user_add(&id, db, "dave",
	                     PORTAL_ROLE_MANUFACTURER, "acme", "dave-password",
	                     13, 0, err, sizeof(err)),
	    PORTAL_OK);
	assert_int_equal(portal_session_create(tok, sizeof(tok), &s, db, id,
	                     &pol, "::1", 50, err, sizeof(err)),
	    PORTAL_OK);
	assert_int_equal(portal_session_csrf_check(&s, s.csrf), PORTAL_OK);
	memcpy(bad, s.csrf, sizeof(bad));
	bad[0] = bad[0] == 'a' ? 'b' : 'a';
	assert_int_equal(portal_session_csrf_check(&s, bad), PORTAL_E_AUTH);
	assert_int_equal(portal_session_csrf_check(&s, ""), PORTAL_E_AUTH);
	assert_int_equal(portal_session_csrf_check(&s, NULL), PORTAL_E_AUTH);
	/* Malformed and unknown tokens. */
	assert_int_equal(portal_session_lookup(&s2, db, "abc", &pol, 60, err,
	                     sizeof(err)),
	    PORTAL_E_AUTH);
	assert_int_equal(portal_session_lookup(&s2, db, bad, &pol, 60, err,
	                     sizeof(err)),
	    PORTAL_E_AUTH);
	memcpy(bad, tok, sizeof(bad));
	bad[5] = 'Z';
	assert_int_equal(portal_session_lookup(&s2, db, bad, &pol, 60, err,
	                     sizeof(err)),
	    PORTAL_E_AUTH);
	/* Only the hash of the token is stored. */
	{
		sqlite3_stmt *st;

		assert_int_equal(
		    sqlite3_prepare_v2(reg_sqlite(db),
		        "SELECT count(*) FROM portal_sessions WHERE hex(token_hash) = upper(?1)",
		        -1, &st, NULL),
		    SQLITE_OK);
		sqlite3_bind_text(st, 1, tok, -1, SQLITE_STATIC);
		assert_int_equal(sqlite3_step(st), SQLITE_ROW);
		assert_int_equal(sqlite3_column_int(st, 0), 0);
		sqlite3_finalize(st);
	}
	/* Disabling the user ends the session; so does a password reset. */
	assert_int_equal(portal_user_set_disabled(db, id, 1, 70, err,
	                     sizeof(err)),
	    PORTAL_OK);
	assert_int_equal(portal_session_lookup(&s2, db, tok, &pol, 71, err,
	                     sizeof(err)),
	    PORTAL_E_AUTH);
	assert_int_equal(portal_session_create(tok, sizeof(tok), &s, db, id,
	                     &pol, NULL, 72, err, sizeof(err)),
	    PORTAL_E_DISABLED);
	assert_int_equal(portal_user_set_disabled(db, id, 0, 73, err,
	                     sizeof(err)),
	    PORTAL_OK);
	assert_int_equal(portal_session_create(tok, sizeof(tok), &s, db, id,
	                     &pol, NULL, 74, err, sizeof(err)),
	    PORTAL_OK);
	assert_int_equal(portal_user_set_password(db, id, "other-password", 14,
	                     75, err, sizeof(err)),
	    PORTAL_OK);
	assert_int_equal(portal_session_lookup(&s2, db, tok, &pol, 76, err,
	                     sizeof(err)),
	    PORTAL_E_AUTH);
	/* Logout. */
	assert_int_equal(portal_session_create(tok, sizeof(tok), &s, db, id,
	                     &pol, NULL, 80, err, sizeof(err)),
	    PORTAL_OK);
	assert_int_equal(portal_session_delete(db, tok, err, sizeof(err)),
	    PORTAL_OK);
	assert_int_equal(portal_session_lookup(&s2, db, tok, &pol, 81, err,
	                     sizeof(err)),
	    PORTAL_E_AUTH);
	assert_int_equal(portal_session_delete(db, tok, err, sizeof(err)),
	    PORTAL_OK);
	/* Purge drops idle and absolute-expired rows only. */
	assert_int_equal(portal_session_create(tok, sizeof(tok), &s, db, id,
	                     &pol, NULL, 100, err, sizeof(err)),
	    PORTAL_OK);
	assert_int_equal(portal_session_create(tok, sizeof(tok), &s, db, id,
	                     &pol, NULL, 2000, err, sizeof(err)),
	    PORTAL_OK);
	assert_int_equal(portal_session_purge(&purged, db, &pol, 2000, err,
	                     sizeof(err)),
	    PORTAL_OK);
	assert_int_equal(purged, 1);
	assert_int_equal(count_sessions(db), 1);
	assert_int_equal(portal_session_create(tok, 10, &s, db, id, &pol, NULL,
	                     100, err, sizeof(err)),
	    PORTAL_E_ARG);
	assert_int_equal(portal_session_create(tok, sizeof(tok), &s, db, 9999,
	                     &pol, NULL, 100, err, sizeof(err)),
	    PORTAL_E_NOTFOUND);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(password__rfc7914_vector_verifies),
		cmocka_unit_test(password__hash_roundtrip_and_fresh_salt),
		cmocka_unit_test(password__default_cost_is_encoded),
		cmocka_unit_test(password__malformed_encodings_refused),
		cmocka_unit_test(password__policy_bounds),
		cmocka_unit_test(password__read_file_first_line),
		cmocka_unit_test(ratelimit__free_failures_then_doubling_locks),
		cmocka_unit_test(ratelimit__reset_forgets_failures),
		cmocka_unit_test(ratelimit__full_table_evicts_least_recent),
		cmocka_unit_test_setup_teardown(
		    users__add_validates_and_authenticates, db_setup,
		    db_teardown),
		cmocka_unit_test_setup_teardown(users__list_in_name_order,
		    db_setup, db_teardown),
		cmocka_unit_test_setup_teardown(
		    sessions__idle_and_absolute_expiry, db_setup, db_teardown),
		cmocka_unit_test_setup_teardown(
		    sessions__tokens_csrf_logout_and_revocation, db_setup,
		    db_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
