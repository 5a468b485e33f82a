/* subs.c — the operator's subscriber store on SQLite: numbered migrations,
 * transactional MSIN allocation, the per-device freshness counter of
 * provisioning requests, pending → active → retired subscriptions (retired
 * keys wiped, retired rows kept for a bounded time), durable SQN. */
#include "subs.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <sqlite3.h>

#include "devid.h"
#include "util.h"

/* Statements every provisioning and registration runs, prepared once per
 * connection (SQLITE_PREPARE_PERSISTENT) instead of on every call. */
enum {
	S_BEGIN, S_COMMIT, S_ROLLBACK, S_SAVEPOINT, S_RELEASE, S_ROLLBACK_TO,
	S_FIND_SUPI, S_FIND_DEVICE, S_FIND_PENDING, S_CURSOR_GET, S_CURSOR_SET,
	S_RETIRE, S_INSERT, S_SQN_GET, S_SQN_SET, S_CTR_GET, S_CTR_SET, S_PURGE,
	S_ACTIVATE, S_RETIRE_FOR, S_COUNT
};

struct subs_db {
	sqlite3 *h;
	sqlite3_stmt *st[S_COUNT];
	int64_t last_purge;	/* when this connection last purged */
};

/* Retired rows past the retention are deleted at most this often per
 * connection (seconds), not on every allocation. */
#define SUBS_PURGE_INTERVAL 60

/* Migrations, applied in order; PRAGMA user_version records the last one. */
static const char *const subs_migrations[] = {
	/* 1: subscriptions. A SUPI is active for at most one row; retired rows
	 * keep their SUPI for audit, and MSINs are never handed out twice. */
	"CREATE TABLE subscription ("
	" id INTEGER PRIMARY KEY AUTOINCREMENT,"
	" supi TEXT NOT NULL CHECK (length(supi) BETWEEN 14 AND 15),"
	" plmn TEXT NOT NULL,"
	" msin INTEGER NOT NULL CHECK (msin >= 0),"
	" device_id TEXT NOT NULL CHECK (length(device_id) BETWEEN 1 AND 64),"
	" ki BLOB NOT NULL CHECK (length(ki) = 16),"
	" opc BLOB NOT NULL CHECK (length(opc) = 16),"
	" amf BLOB NOT NULL CHECK (length(amf) = 2),"
	" sqn INTEGER NOT NULL CHECK (sqn >= 0 AND sqn < 281474976710656),"
	" profile TEXT NOT NULL,"
	" retired INTEGER NOT NULL DEFAULT 0 CHECK (retired IN (0, 1)),"
	" created_at INTEGER NOT NULL,"
	" retired_at INTEGER NOT NULL DEFAULT 0);"
	"CREATE UNIQUE INDEX subscription_active_supi ON subscription(supi)"
	" WHERE retired = 0;"
	"CREATE UNIQUE INDEX subscription_active_device ON subscription(device_id)"
	" WHERE retired = 0;"
	"CREATE INDEX subscription_plmn_msin ON subscription(plmn, msin);",
	/* 2: MSIN cursor per PLMN, so allocation is O(1) and never reuses. */
	"CREATE TABLE msin_cursor ("
	" plmn TEXT PRIMARY KEY,"
	" next_msin INTEGER NOT NULL CHECK (next_msin >= 0));",
	/* 3: a subscription is pending until the device completes 5G-AKA with
	 * it, then active; the one it replaces is retired. Every live row
	 * (pending or active) has its own SUPI; a device has at most one of
	 * each. Retired rows lose K and OPc (zeroed). device_freshness holds
	 * the highest provisioning-request counter accepted per DeviceID. */
	"ALTER TABLE subscription ADD COLUMN state TEXT NOT NULL DEFAULT"
	" 'pending' CHECK (state IN ('active', 'pending', 'retired'));"
	"UPDATE subscription SET state = CASE retired WHEN 0 THEN 'active'"
	" ELSE 'retired' END;"
	"UPDATE subscription SET ki = zeroblob(16), opc = zeroblob(16)"
	" WHERE state = 'retired';"
	"DROP INDEX subscription_active_supi;"
	"DROP INDEX subscription_active_device;"
	"ALTER TABLE subscription DROP COLUMN retired;"
	"CREATE UNIQUE INDEX subscription_live_supi ON subscription(supi)"
	" WHERE state <> 'retired';"
	"CREATE UNIQUE INDEX subscription_active_device ON"
	" subscription(device_id) WHERE state = 'active';"
	"CREATE UNIQUE INDEX subscription_pending_device ON"
	" subscription(device_id) WHERE state = 'pending';"
	"CREATE INDEX subscription_retired_at ON subscription(retired_at)"
	" WHERE state = 'retired';"
	"CREATE TABLE device_freshness ("
	" device_id TEXT PRIMARY KEY"
	" CHECK (length(device_id) BETWEEN 1 AND 64),"
	" counter INTEGER NOT NULL CHECK (counter > 0),"
	" updated_at INTEGER NOT NULL);",
};

#define SUBS_COLS "id, supi, device_id, ki, opc, amf, sqn, profile," \
	" CASE state WHEN 'active' THEN 0 WHEN 'pending' THEN 1 ELSE 2 END," \
	" created_at, retired_at"

static const char *const stmt_sql[S_COUNT] = {
	[S_BEGIN] = "BEGIN IMMEDIATE",
	[S_COMMIT] = "COMMIT",
	[S_ROLLBACK] = "ROLLBACK",
	[S_SAVEPOINT] = "SAVEPOINT job",
	[S_RELEASE] = "RELEASE job",
	[S_ROLLBACK_TO] = "ROLLBACK TO job",
	[S_FIND_SUPI] = "SELECT " SUBS_COLS " FROM subscription"
	    " WHERE supi = ?1 AND state <> 'retired'",
	[S_FIND_DEVICE] = "SELECT " SUBS_COLS " FROM subscription"
	    " WHERE device_id = ?1 AND state = 'active'",
	[S_FIND_PENDING] = "SELECT " SUBS_COLS " FROM subscription"
	    " WHERE device_id = ?1 AND state = 'pending'",
	[S_CURSOR_GET] = "SELECT next_msin FROM msin_cursor WHERE plmn = ?1",
	[S_CURSOR_SET] = "INSERT INTO msin_cursor(plmn, next_msin)"
	    " VALUES (?1, ?2) ON CONFLICT(plmn) DO UPDATE SET next_msin ="
	    " excluded.next_msin",
	/* Retiring wipes the keys: a retired row can never authenticate. */
	[S_RETIRE] = "UPDATE subscription SET state = 'retired', retired_at ="
	    " ?2, ki = zeroblob(16), opc = zeroblob(16) WHERE id = ?1",
	[S_INSERT] = "INSERT INTO subscription(supi, plmn, msin, device_id,"
	    " ki, opc, amf, sqn, profile, created_at, state) VALUES"
	    " (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, 'pending')",
	[S_SQN_GET] = "SELECT sqn FROM subscription WHERE supi = ?1 AND"
	    " state <> 'retired'",
	[S_SQN_SET] = "UPDATE subscription SET sqn = ?2 WHERE supi = ?1 AND"
	    " state <> 'retired'",
	[S_CTR_GET] = "SELECT counter FROM device_freshness WHERE"
	    " device_id = ?1",
	[S_CTR_SET] = "INSERT INTO device_freshness(device_id, counter,"
	    " updated_at) VALUES (?1, ?2, ?3) ON CONFLICT(device_id) DO UPDATE"
	    " SET counter = excluded.counter, updated_at = excluded.updated_at",
	[S_PURGE] = "DELETE FROM subscription WHERE state = 'retired' AND"
	    " retired_at < ?1",
	/* The confirmation in two statements (no row read first); the
	 * "state <> 'retired'" terms let SQLite use subscription_live_supi. */
	[S_ACTIVATE] = "UPDATE subscription SET state = 'active' WHERE"
	    " supi = ?1 AND state <> 'retired' AND state = 'pending'",
	[S_RETIRE_FOR] = "UPDATE subscription SET state = 'retired',"
	    " retired_at = ?2, ki = zeroblob(16), opc = zeroblob(16) WHERE"
	    " state = 'active' AND device_id = (SELECT device_id FROM"
	    " subscription WHERE supi = ?1 AND state <> 'retired' AND"
	    " state = 'pending')",
};

#define SUBS_NMIGRATIONS (sizeof(subs_migrations) / sizeof(subs_migrations[0]))
#define SQN_MASK 0xffffffffffffULL

static int db_fail(subs_db *db, char *err, size_t errlen, const char *what)
{
	util_err_set(err, errlen, "%s: %s", what, sqlite3_errmsg(db->h));
	return SUBS_ERR;
}

static int exec_sql(subs_db *db, const char *sql, char *err, size_t errlen)
{
	char *msg = NULL;

	if (sqlite3_exec(db->h, sql, NULL, NULL, &msg) != SQLITE_OK) {
		util_err_set(err, errlen, "sqlite: %s",
		    msg != NULL ? msg : sqlite3_errmsg(db->h));
		sqlite3_free(msg);
		return SUBS_ERR;
	}
	return SUBS_OK;
}

/* The connection's prepared statement id (prepared on first use), or NULL
 * with SQLite's message in db. Give it back with stmt_done. */
static sqlite3_stmt *stmt(subs_db *db, int id)
{
	if (db->st[id] == NULL && sqlite3_prepare_v3(db->h, stmt_sql[id], -1,
	    SQLITE_PREPARE_PERSISTENT, &db->st[id], NULL) != SQLITE_OK)
		db->st[id] = NULL;
	return db->st[id];
}

/* Reset a statement from stmt() (ending its read) and drop its bindings
 * (they may hold a copy of Ki). NULL-safe. */
static void stmt_done(sqlite3_stmt *st)
{
	if (st == NULL)
		return;
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
}

/* Run one transaction-control statement (BEGIN, COMMIT, savepoints). */
static int ctl(subs_db *db, int id, char *err, size_t errlen)
{
	sqlite3_stmt *st = stmt(db, id);
	int s;

	if (st == NULL) {
		util_err_set(err, errlen, "sqlite: %s", sqlite3_errmsg(db->h));
		return SUBS_ERR;
	}
	s = sqlite3_step(st);
	if (s != SQLITE_DONE)
		util_err_set(err, errlen, "sqlite: %s: %s", stmt_sql[id],
		    sqlite3_errmsg(db->h));
	sqlite3_reset(st);
	return s == SQLITE_DONE ? SUBS_OK : SUBS_ERR;
}

static int migrate(subs_db *db, char *err, size_t errlen)
{
	sqlite3_stmt *st = NULL;
	int version = 0, rc = SUBS_ERR;
	size_t i;

	if (sqlite3_prepare_v2(db->h, "PRAGMA user_version", -1, &st, NULL)
	    != SQLITE_OK || sqlite3_step(st) != SQLITE_ROW) {
		rc = db_fail(db, err, errlen, "read schema version");
		goto out;
	}
	version = sqlite3_column_int(st, 0);
	/* No statement may stay open: DROP INDEX would find the schema
	 * locked. */
	sqlite3_finalize(st);
	st = NULL;
	if (version < 0 || (size_t)version > SUBS_NMIGRATIONS) {
		util_err_set(err, errlen, "subscriber store schema version %d is"
		    " newer than this program (%zu)", version, SUBS_NMIGRATIONS);
		goto out;
	}
	for (i = (size_t)version; i < SUBS_NMIGRATIONS; i++) {
		char pragma[64];

		if (exec_sql(db, "BEGIN IMMEDIATE", err, errlen) != SUBS_OK)
			goto out;
		snprintf(pragma, sizeof(pragma), "PRAGMA user_version = %zu", i + 1);
		if (exec_sql(db, subs_migrations[i], err, errlen) != SUBS_OK ||
		    exec_sql(db, pragma, err, errlen) != SUBS_OK) {
			exec_sql(db, "ROLLBACK", NULL, 0);
			goto out;
		}
		if (exec_sql(db, "COMMIT", err, errlen) != SUBS_OK) {
			exec_sql(db, "ROLLBACK", NULL, 0);
			goto out;
		}
	}
	rc = SUBS_OK;
out:
	sqlite3_finalize(st);
	return rc;
}

int subs_open(subs_db **out, const char *path, char *err, size_t errlen)
{
	subs_db *db;
	int rc = SUBS_ERR;

	*out = NULL;
	/* Owner-only: the store holds every Ki and OPc. */
	if (util_file_owner_only(path, "open", err, errlen) != 0)
		return SUBS_ERR;
	if ((db = calloc(1, sizeof(*db))) == NULL) {
		util_err_set(err, errlen, "out of memory");
		return SUBS_ERR;
	}
	if (sqlite3_open_v2(path, &db->h, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
		util_err_set(err, errlen, "open %s: %s", path,
		    db->h != NULL ? sqlite3_errmsg(db->h) : "out of memory");
		goto out;
	}
	if (sqlite3_busy_timeout(db->h, 10000) != SQLITE_OK) {
		db_fail(db, err, errlen, "busy timeout");
		goto out;
	}
	/* FULL: in WAL mode NORMAL syncs only at checkpoints, so a power loss
	 * could drop a subscription whose Ki already went to the device in a
	 * reject (or an SQN the network already used). Every commit is durable
	 * before corehook answers. */
	/* secure_delete: the space a wiped key or a purged row leaves is
	 * zeroed in the database file too. */
	if (exec_sql(db, "PRAGMA journal_mode = WAL; PRAGMA foreign_keys = ON;"
	    " PRAGMA synchronous = FULL; PRAGMA secure_delete = ON;", err,
	    errlen) != SUBS_OK)
		goto out;
	if (migrate(db, err, errlen) != SUBS_OK)
		goto out;
	*out = db;
	db = NULL;
	rc = SUBS_OK;
out:
	subs_close(db);
	return rc;
}

void subs_close(subs_db *db)
{
	size_t i;

	if (db == NULL)
		return;
	for (i = 0; i < S_COUNT; i++)
		sqlite3_finalize(db->st[i]);
	sqlite3_close(db->h);
	free(db);
}

int subs_schema_version(subs_db *db, int *out)
{
	sqlite3_stmt *st = NULL;
	int rc = SUBS_ERR;

	if (sqlite3_prepare_v2(db->h, "PRAGMA user_version", -1, &st, NULL)
	    == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW) {
		*out = sqlite3_column_int(st, 0);
		rc = SUBS_OK;
	}
	sqlite3_finalize(st);
	return rc;
}

void subs_record_wipe(subs_record_t *rec)
{
	if (rec != NULL)
		OPENSSL_cleanse(rec, sizeof(*rec));
}

uint64_t subs_sqn_successor(uint64_t cur, unsigned ind_bits)
{
	uint64_t ind_mod, seq, ind;

	if (ind_bits > 16)
		ind_bits = 16;
	ind_mod = (uint64_t)1 << ind_bits;
	seq = (cur & SQN_MASK) >> ind_bits;
	ind = (cur & SQN_MASK) & (ind_mod - 1);
	seq++;
	ind = (ind + 1) & (ind_mod - 1);
	return ((seq << ind_bits) | ind) & SQN_MASK;
}

static int digits_ok(const char *s, size_t minlen, size_t maxlen)
{
	size_t n;

	if (s == NULL)
		return 0;
	n = strlen(s);
	if (n < minlen || n > maxlen)
		return 0;
	for (; *s != '\0'; s++)
		if (*s < '0' || *s > '9')
			return 0;
	return 1;
}

static void read_row(sqlite3_stmt *st, subs_record_t *r)
{
	const void *b;
	const unsigned char *t;

	memset(r, 0, sizeof(*r));
	r->id = sqlite3_column_int64(st, 0);
	if ((t = sqlite3_column_text(st, 1)) != NULL)
		snprintf(r->supi, sizeof(r->supi), "%s", (const char *)t);
	if ((t = sqlite3_column_text(st, 2)) != NULL)
		snprintf(r->device_id, sizeof(r->device_id), "%s", (const char *)t);
	/* CHECK constraints guarantee the blob lengths. */
	if ((b = sqlite3_column_blob(st, 3)) != NULL &&
	    sqlite3_column_bytes(st, 3) == 16)
		memcpy(r->ki, b, 16);
	if ((b = sqlite3_column_blob(st, 4)) != NULL &&
	    sqlite3_column_bytes(st, 4) == 16)
		memcpy(r->opc, b, 16);
	if ((b = sqlite3_column_blob(st, 5)) != NULL &&
	    sqlite3_column_bytes(st, 5) == 2)
		memcpy(r->amf, b, 2);
	r->sqn = (uint64_t)sqlite3_column_int64(st, 6);
	if ((t = sqlite3_column_text(st, 7)) != NULL)
		snprintf(r->profile, sizeof(r->profile), "%s", (const char *)t);
	r->state = sqlite3_column_int(st, 8);
	r->created_at = sqlite3_column_int64(st, 9);
	r->retired_at = sqlite3_column_int64(st, 10);
}

/* Run a one-row lookup (statement id, a single text parameter) into out. */
static int find_one(subs_db *db, subs_record_t *out, int id,
    const char *param, char *err, size_t errlen)
{
	sqlite3_stmt *st;
	int rc = SUBS_ERR, s;

	if ((st = stmt(db, id)) == NULL ||
	    sqlite3_bind_text(st, 1, param, -1, SQLITE_TRANSIENT) != SQLITE_OK) {
		rc = db_fail(db, err, errlen, "prepare lookup");
		goto out;
	}
	s = sqlite3_step(st);
	if (s == SQLITE_ROW) {
		if (out != NULL)
			read_row(st, out);
		rc = SUBS_OK;
	} else if (s == SQLITE_DONE) {
		util_err_set(err, errlen, "no active subscription for %s", param);
		rc = SUBS_NOTFOUND;
	} else {
		rc = db_fail(db, err, errlen, "lookup");
	}
out:
	stmt_done(st);
	return rc;
}

int subs_find_supi(subs_db *db, subs_record_t *out, const char *supi,
    char *err, size_t errlen)
{
	if (!digits_ok(supi, 14, 15)) {
		util_err_set(err, errlen, "SUPI must be 14 or 15 digits");
		return SUBS_INVALID;
	}
	return find_one(db, out, S_FIND_SUPI, supi, err, errlen);
}

int subs_find_device(subs_db *db, subs_record_t *out, const char *device_id,
    char *err, size_t errlen)
{
	if (!devid_valid(device_id)) {
		util_err_set(err, errlen, "malformed DeviceID");
		return SUBS_INVALID;
	}
	return find_one(db, out, S_FIND_DEVICE, device_id, err, errlen);
}

/* Choose the MSIN for a new device: the PLMN's cursor, inside the range. */
static int msin_take(subs_db *db, uint64_t *out, const char *plmn,
    const subs_alloc_t *a, char *err, size_t errlen)
{
	sqlite3_stmt *st;
	uint64_t next = a->msin_first;
	int rc = SUBS_ERR, s;

	if ((st = stmt(db, S_CURSOR_GET)) == NULL ||
	    sqlite3_bind_text(st, 1, plmn, -1, SQLITE_TRANSIENT) != SQLITE_OK) {
		rc = db_fail(db, err, errlen, "prepare cursor");
		goto out;
	}
	s = sqlite3_step(st);
	if (s == SQLITE_ROW) {
		uint64_t cur = (uint64_t)sqlite3_column_int64(st, 0);

		if (cur > next)
			next = cur;
	} else if (s != SQLITE_DONE) {
		rc = db_fail(db, err, errlen, "read cursor");
		goto out;
	}
	stmt_done(st);
	st = NULL;
	if (next > a->msin_last) {
		util_err_set(err, errlen, "MSIN range %" PRIu64 "-%" PRIu64
		    " of PLMN %s exhausted", a->msin_first, a->msin_last, plmn);
		rc = SUBS_EXHAUSTED;
		goto out;
	}
	if ((st = stmt(db, S_CURSOR_SET)) == NULL ||
	    sqlite3_bind_text(st, 1, plmn, -1, SQLITE_TRANSIENT) != SQLITE_OK ||
	    sqlite3_bind_int64(st, 2, (sqlite3_int64)(next + 1)) != SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_DONE) {
		rc = db_fail(db, err, errlen, "advance cursor");
		goto out;
	}
	*out = next;
	rc = SUBS_OK;
out:
	stmt_done(st);
	return rc;
}

/* Check an allocation request; on success fill plmn. */
static int alloc_check(const subs_alloc_t *a, char *plmn, size_t plmnlen,
    size_t *msin_digits, char *err, size_t errlen)
{
	uint64_t limit = 1;
	size_t i;

	if (!devid_valid(a->device_id)) {
		util_err_set(err, errlen, "malformed DeviceID");
		return SUBS_INVALID;
	}
	if (!digits_ok(a->mcc, 3, 3) || !digits_ok(a->mnc, 2, 3)) {
		util_err_set(err, errlen, "MCC must be 3 digits, MNC 2 or 3");
		return SUBS_INVALID;
	}
	*msin_digits = 15 - 3 - strlen(a->mnc);
	for (i = 0; i < *msin_digits; i++)
		limit *= 10;
	if (a->msin_first > a->msin_last || a->msin_last >= limit) {
		util_err_set(err, errlen, "MSIN range must be first <= last <"
		    " %" PRIu64, limit);
		return SUBS_INVALID;
	}
	if (a->counter == 0 || a->counter > (uint64_t)INT64_MAX) {
		util_err_set(err, errlen, "request counter must be 1..2^63-1");
		return SUBS_INVALID;
	}
	if (a->ki == NULL || a->opc == NULL || a->amf == NULL ||
	    a->profile == NULL || strlen(a->profile) > SUBS_PROFILE_MAX ||
	    a->sqn > SQN_MASK) {
		util_err_set(err, errlen, "incomplete subscription");
		return SUBS_INVALID;
	}
	snprintf(plmn, plmnlen, "%s%s", a->mcc, a->mnc);
	return SUBS_OK;
}

/* Take the request's freshness counter for device_id: SUBS_REPLAY (and
 * nothing written) unless it is above the highest one accepted so far. */
static int fresh_take(subs_db *db, const char *device_id, uint64_t counter,
    int64_t now, char *err, size_t errlen)
{
	sqlite3_stmt *st;
	int rc = SUBS_ERR, s;

	if ((st = stmt(db, S_CTR_GET)) == NULL ||
	    sqlite3_bind_text(st, 1, device_id, -1, SQLITE_TRANSIENT)
	    != SQLITE_OK) {
		rc = db_fail(db, err, errlen, "prepare counter read");
		goto out;
	}
	s = sqlite3_step(st);
	if (s == SQLITE_ROW && counter <=
	    (uint64_t)sqlite3_column_int64(st, 0)) {
		util_err_set(err, errlen, "request counter %" PRIu64 " not above"
		    " the last accepted %" PRId64 " (replay)", counter,
		    (int64_t)sqlite3_column_int64(st, 0));
		rc = SUBS_REPLAY;
		goto out;
	} else if (s != SQLITE_ROW && s != SQLITE_DONE) {
		rc = db_fail(db, err, errlen, "read counter");
		goto out;
	}
	stmt_done(st);
	if ((st = stmt(db, S_CTR_SET)) == NULL ||
	    sqlite3_bind_text(st, 1, device_id, -1, SQLITE_TRANSIENT)
	    != SQLITE_OK ||
	    sqlite3_bind_int64(st, 2, (sqlite3_int64)counter) != SQLITE_OK ||
	    sqlite3_bind_int64(st, 3, now) != SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_DONE) {
		rc = db_fail(db, err, errlen, "store counter");
		goto out;
	}
	rc = SUBS_OK;
out:
	stmt_done(st);
	return rc;
}

/* Run a statement binding two integers (retire: id, now; purge: before,
 * unused; activate: id). */
static int run_ints(subs_db *db, int id, int64_t a, int64_t b, int nb,
    const char *what, char *err, size_t errlen)
{
	sqlite3_stmt *st;
	int rc = SUBS_OK;

	if ((st = stmt(db, id)) == NULL ||
	    sqlite3_bind_int64(st, 1, a) != SQLITE_OK ||
	    (nb > 1 && sqlite3_bind_int64(st, 2, b) != SQLITE_OK) ||
	    sqlite3_step(st) != SQLITE_DONE)
		rc = db_fail(db, err, errlen, what);
	stmt_done(st);
	return rc;
}

/* Insert the new pending row; fill out (may be NULL). */
static int alloc_insert(subs_db *db, subs_record_t *out,
    const subs_alloc_t *a, const char *supi, const char *plmn, uint64_t msin,
    int64_t now, char *err, size_t errlen)
{
	sqlite3_stmt *st;
	int rc = SUBS_ERR;

	if ((st = stmt(db, S_INSERT)) == NULL ||
	    sqlite3_bind_text(st, 1, supi, -1, SQLITE_TRANSIENT) != SQLITE_OK ||
	    sqlite3_bind_text(st, 2, plmn, -1, SQLITE_TRANSIENT) != SQLITE_OK ||
	    sqlite3_bind_int64(st, 3, (sqlite3_int64)msin) != SQLITE_OK ||
	    sqlite3_bind_text(st, 4, a->device_id, -1, SQLITE_TRANSIENT)
	    != SQLITE_OK ||
	    sqlite3_bind_blob(st, 5, a->ki, 16, SQLITE_TRANSIENT) != SQLITE_OK ||
	    sqlite3_bind_blob(st, 6, a->opc, 16, SQLITE_TRANSIENT) != SQLITE_OK ||
	    sqlite3_bind_blob(st, 7, a->amf, 2, SQLITE_TRANSIENT) != SQLITE_OK ||
	    sqlite3_bind_int64(st, 8, (sqlite3_int64)a->sqn) != SQLITE_OK ||
	    sqlite3_bind_text(st, 9, a->profile, -1, SQLITE_TRANSIENT)
	    != SQLITE_OK ||
	    sqlite3_bind_int64(st, 10, now) != SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_DONE) {
		rc = db_fail(db, err, errlen, "insert subscription");
		goto out;
	}
	if (out != NULL) {
		memset(out, 0, sizeof(*out));
		out->id = sqlite3_last_insert_rowid(db->h);
		snprintf(out->supi, sizeof(out->supi), "%s", supi);
		snprintf(out->device_id, sizeof(out->device_id), "%s",
		    a->device_id);
		memcpy(out->ki, a->ki, 16);
		memcpy(out->opc, a->opc, 16);
		memcpy(out->amf, a->amf, 2);
		out->sqn = a->sqn;
		snprintf(out->profile, sizeof(out->profile), "%s", a->profile);
		out->state = SUBS_STATE_PENDING;
		out->created_at = now;
	}
	rc = SUBS_OK;
out:
	stmt_done(st);
	return rc;
}

/* The allocation itself, inside the caller's write transaction (plmn and
 * msin_digits from alloc_check): the freshness counter first (a replay
 * changes nothing), then the device's pending row (if any) is retired, a
 * new MSIN is taken and the new row inserted as pending; the active row is
 * left alone. Retired rows older than the retention are deleted (at most
 * once per SUBS_PURGE_INTERVAL on this connection). */
static int alloc_in_tx(subs_db *db, subs_record_t *out, const subs_alloc_t *a,
    const char *plmn, size_t msin_digits, char *err, size_t errlen)
{
	subs_record_t old;
	char supi[SUBS_SUPI_MAX + 1];
	uint64_t msin = 0;
	int64_t now = (int64_t)time(NULL);
	int64_t keep = a->retired_keep_s > 0 ? a->retired_keep_s :
	    SUBS_RETIRED_KEEP_DEFAULT;
	int rc;

	memset(&old, 0, sizeof(old));
	if ((rc = fresh_take(db, a->device_id, a->counter, now, err, errlen))
	    != SUBS_OK)
		goto out;
	rc = find_one(db, &old, S_FIND_PENDING, a->device_id, err, errlen);
	if (rc == SUBS_OK)
		rc = run_ints(db, S_RETIRE, old.id, now, 2, "replace pending "
		    "subscription", err, errlen);
	else if (rc == SUBS_NOTFOUND)
		rc = SUBS_OK;
	if (rc != SUBS_OK)
		goto out;
	if ((rc = msin_take(db, &msin, plmn, a, err, errlen)) != SUBS_OK)
		goto out;
	snprintf(supi, sizeof(supi), "%s%0*" PRIu64, plmn, (int)msin_digits,
	    msin);
	if ((rc = alloc_insert(db, out, a, supi, plmn, msin, now, err, errlen))
	    != SUBS_OK)
		goto out;
	if (now - db->last_purge >= SUBS_PURGE_INTERVAL) {
		rc = run_ints(db, S_PURGE, now - keep, 0, 1, "purge retired "
		    "rows", err, errlen);
		db->last_purge = now;
	}
out:
	subs_record_wipe(&old);
	return rc;
}

/* The confirmation itself, inside the caller's write transaction: supi's
 * row, if pending, becomes active and the device's active row is retired
 * (keys wiped). *promoted = 1 when that happened. Two UPDATEs and no row
 * read on the usual path (a pending supi): the retirement names the
 * device through supi's pending row, so it touches nothing otherwise. */
static int confirm_in_tx(subs_db *db, const char *supi, int *promoted,
    char *err, size_t errlen)
{
	sqlite3_stmt *st;
	int64_t now = (int64_t)time(NULL);
	int rc = SUBS_ERR;

	*promoted = 0;
	if ((st = stmt(db, S_RETIRE_FOR)) == NULL ||
	    sqlite3_bind_text(st, 1, supi, -1, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_bind_int64(st, 2, now) != SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_DONE) {
		rc = db_fail(db, err, errlen, "retire active subscription");
		goto out;
	}
	stmt_done(st);
	if ((st = stmt(db, S_ACTIVATE)) == NULL ||
	    sqlite3_bind_text(st, 1, supi, -1, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_DONE) {
		rc = db_fail(db, err, errlen, "activate subscription");
		goto out;
	}
	*promoted = sqlite3_changes(db->h) == 1;
	stmt_done(st);
	st = NULL;
	/* Not pending: already active (SUBS_OK) or no live row (NOTFOUND). */
	rc = *promoted ? SUBS_OK : find_one(db, NULL, S_FIND_SUPI, supi, err,
	    errlen);
out:
	stmt_done(st);
	return rc;
}

int subs_allocate(subs_db *db, subs_record_t *out, const subs_alloc_t *a,
    char *err, size_t errlen)
{
	char plmn[8];
	size_t msin_digits;
	int rc, intx = 0;

	if ((rc = alloc_check(a, plmn, sizeof(plmn), &msin_digits, err,
	    errlen)) != SUBS_OK)
		return rc;
	if ((rc = ctl(db, S_BEGIN, err, errlen)) != SUBS_OK)
		goto out;
	intx = 1;
	if ((rc = alloc_in_tx(db, out, a, plmn, msin_digits, err, errlen))
	    != SUBS_OK)
		goto out;
	if ((rc = ctl(db, S_COMMIT, err, errlen)) != SUBS_OK)
		goto out;
	intx = 0;
out:
	if (intx)
		ctl(db, S_ROLLBACK, NULL, 0);
	if (rc != SUBS_OK && out != NULL)
		subs_record_wipe(out);
	return rc;
}

/* The SQN step itself, inside the caller's write transaction. */
static int sqn_next_in_tx(subs_db *db, uint64_t *out, const char *supi,
    unsigned ind_bits, char *err, size_t errlen)
{
	sqlite3_stmt *st = NULL;
	uint64_t cur, next;
	int rc = SUBS_ERR, s;

	if ((st = stmt(db, S_SQN_GET)) == NULL ||
	    sqlite3_bind_text(st, 1, supi, -1, SQLITE_TRANSIENT) != SQLITE_OK) {
		rc = db_fail(db, err, errlen, "prepare SQN read");
		goto out;
	}
	s = sqlite3_step(st);
	if (s == SQLITE_DONE) {
		util_err_set(err, errlen, "no active subscription for %s", supi);
		rc = SUBS_NOTFOUND;
		goto out;
	} else if (s != SQLITE_ROW) {
		rc = db_fail(db, err, errlen, "read SQN");
		goto out;
	}
	cur = (uint64_t)sqlite3_column_int64(st, 0);
	stmt_done(st);
	st = NULL;
	next = subs_sqn_successor(cur, ind_bits);
	if (next <= cur) {
		util_err_set(err, errlen, "SQN space of %s exhausted", supi);
		rc = SUBS_EXHAUSTED;
		goto out;
	}
	if ((st = stmt(db, S_SQN_SET)) == NULL ||
	    sqlite3_bind_text(st, 1, supi, -1, SQLITE_TRANSIENT) != SQLITE_OK ||
	    sqlite3_bind_int64(st, 2, (sqlite3_int64)next) != SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_DONE) {
		rc = db_fail(db, err, errlen, "write SQN");
		goto out;
	}
	*out = next;
	rc = SUBS_OK;
out:
	stmt_done(st);
	return rc;
}

int subs_sqn_next(subs_db *db, uint64_t *out, const char *supi,
    unsigned ind_bits, char *err, size_t errlen)
{
	uint64_t next = 0;
	int rc, intx = 0;

	if (!digits_ok(supi, 14, 15)) {
		util_err_set(err, errlen, "SUPI must be 14 or 15 digits");
		return SUBS_INVALID;
	}
	if ((rc = ctl(db, S_BEGIN, err, errlen)) != SUBS_OK)
		goto out;
	intx = 1;
	if ((rc = sqn_next_in_tx(db, &next, supi, ind_bits, err, errlen))
	    != SUBS_OK)
		goto out;
	if ((rc = ctl(db, S_COMMIT, err, errlen)) != SUBS_OK)
		goto out;
	intx = 0;
	*out = next;
out:
	if (intx)
		ctl(db, S_ROLLBACK, NULL, 0);
	return rc;
}

int subs_sqn_set(subs_db *db, const char *supi, uint64_t sqn,
    char *err, size_t errlen)
{
	sqlite3_stmt *st = NULL;
	int rc = SUBS_ERR;

	if (!digits_ok(supi, 14, 15) || sqn > SQN_MASK) {
		util_err_set(err, errlen, "malformed SUPI or SQN");
		return SUBS_INVALID;
	}
	if ((st = stmt(db, S_SQN_SET)) == NULL ||
	    sqlite3_bind_text(st, 1, supi, -1, SQLITE_TRANSIENT) != SQLITE_OK ||
	    sqlite3_bind_int64(st, 2, (sqlite3_int64)sqn) != SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_DONE) {
		rc = db_fail(db, err, errlen, "write SQN");
		goto out;
	}
	if (sqlite3_changes(db->h) != 1) {
		util_err_set(err, errlen, "no active subscription for %s", supi);
		rc = SUBS_NOTFOUND;
		goto out;
	}
	rc = SUBS_OK;
out:
	stmt_done(st);
	return rc;
}

int subs_foreach(subs_db *db, int all,
    int (*fn)(const subs_record_t *rec, void *arg), void *arg,
    char *err, size_t errlen)
{
	sqlite3_stmt *st = NULL;
	subs_record_t rec;
	int rc = SUBS_ERR, s;

	if (sqlite3_prepare_v2(db->h, all ?
	    "SELECT " SUBS_COLS " FROM subscription ORDER BY id" :
	    "SELECT " SUBS_COLS " FROM subscription WHERE state <> 'retired'"
	    " ORDER BY id", -1, &st, NULL) != SQLITE_OK) {
		rc = db_fail(db, err, errlen, "prepare list");
		goto out;
	}
	while ((s = sqlite3_step(st)) == SQLITE_ROW) {
		int r;

		read_row(st, &rec);
		r = fn(&rec, arg);
		subs_record_wipe(&rec);
		if (r != 0) {
			rc = r;
			goto out;
		}
	}
	if (s != SQLITE_DONE) {
		rc = db_fail(db, err, errlen, "list");
		goto out;
	}
	rc = SUBS_OK;
out:
	sqlite3_finalize(st);
	return rc;
}

int subs_count_active(subs_db *db, int64_t *out, char *err, size_t errlen)
{
	sqlite3_stmt *st = NULL;
	int rc = SUBS_ERR;

	if (sqlite3_prepare_v2(db->h, "SELECT count(*) FROM subscription WHERE"
	    " state = 'active'", -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_ROW) {
		rc = db_fail(db, err, errlen, "count");
		goto out;
	}
	*out = sqlite3_column_int64(st, 0);
	rc = SUBS_OK;
out:
	sqlite3_finalize(st);
	return rc;
}

int subs_synchronous(subs_db *db, int *out)
{
	sqlite3_stmt *st = NULL;
	int rc = SUBS_ERR;

	if (sqlite3_prepare_v2(db->h, "PRAGMA synchronous", -1, &st, NULL)
	    == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW) {
		*out = sqlite3_column_int(st, 0);
		rc = SUBS_OK;
	}
	sqlite3_finalize(st);
	return rc;
}

/* ---- group commit ----
 *
 * With synchronous=FULL every commit waits for the disk (an fdatasync of
 * the WAL, milliseconds here), and SQLite holds the write lock meanwhile,
 * so one transaction per allocation or SQN step caps the whole store at
 * the disk's flush rate, and writers that find the lock taken sleep in the
 * busy handler. Instead, concurrent writers queue their operation; the
 * first that finds no write in progress becomes the writer, on its own
 * connection, for everything queued so far: one transaction, a savepoint
 * per operation (one failing does not undo the others), one commit and
 * one fsync. Operations that arrive meanwhile form the next group. No
 * caller returns before its operation is committed (or has failed). */

enum { JOB_ALLOC, JOB_SQN, JOB_CONFIRM };

typedef struct subs_job {
	struct subs_job *next;
	int kind;
	/* JOB_ALLOC; JOB_SQN: the subscription read back (optional) */
	const subs_alloc_t *a;
	subs_record_t *rec;
	char plmn[8];
	size_t msin_digits;
	/* JOB_SQN, JOB_CONFIRM (promoted: the pending row became active) */
	int promoted;
	const char *supi;
	unsigned ind_bits;
	uint64_t sqn;
	/* result, written by the writer, read by the owner after done */
	int rc;
	char *err;
	size_t errlen;
	int done;
} subs_job;

struct subs_group {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	subs_job *head, *tail;
	size_t queued;		/* jobs in head..tail */
	int writing;
	uint64_t groups, jobs;	/* statistics, under mu */
};

int subs_group_new(subs_group **out)
{
	subs_group *g;

	*out = NULL;
	if ((g = calloc(1, sizeof(*g))) == NULL)
		return SUBS_ERR;
	if (pthread_mutex_init(&g->mu, NULL) != 0) {
		free(g);
		return SUBS_ERR;
	}
	if (pthread_cond_init(&g->cv, NULL) != 0) {
		pthread_mutex_destroy(&g->mu);
		free(g);
		return SUBS_ERR;
	}
	*out = g;
	return SUBS_OK;
}

void subs_group_free(subs_group *g)
{
	if (g == NULL)
		return;
	pthread_mutex_destroy(&g->mu);
	pthread_cond_destroy(&g->cv);
	free(g);
}

void subs_group_stats(subs_group *g, subs_group_stats_t *out)
{
	pthread_mutex_lock(&g->mu);
	out->groups = g->groups;
	out->jobs = g->jobs;
	out->queued = g->queued;
	out->writing = g->writing;
	pthread_mutex_unlock(&g->mu);
}

/* One job inside the open transaction, under its own savepoint. */
/* Run j inside its own savepoint. 0, or -1 when the savepoint could not be
 * opened, undone or released: the transaction may then hold part of a
 * failed job (or lose a released one), so nothing of the group may commit. */
static int job_run(subs_db *db, subs_job *j)
{
	if (ctl(db, S_SAVEPOINT, j->err, j->errlen) != SUBS_OK) {
		j->rc = SUBS_ERR;
		return -1;
	}
	if (j->kind == JOB_ALLOC)
		j->rc = alloc_in_tx(db, j->rec, j->a, j->plmn, j->msin_digits,
		    j->err, j->errlen);
	else if (j->kind == JOB_CONFIRM)
		j->rc = confirm_in_tx(db, j->supi, &j->promoted, j->err,
		    j->errlen);
	else if ((j->rc = sqn_next_in_tx(db, &j->sqn, j->supi, j->ind_bits,
	    j->err, j->errlen)) == SUBS_OK && j->rec != NULL)
		/* The keys of the very row whose SQN was stepped. */
		j->rc = find_one(db, j->rec, S_FIND_SUPI, j->supi, j->err,
		    j->errlen);
	if (j->rc != SUBS_OK && ctl(db, S_ROLLBACK_TO, NULL, 0) != SUBS_OK)
		return -1;
	if (ctl(db, S_RELEASE, j->rc == SUBS_OK ? j->err : NULL,
	    j->rc == SUBS_OK ? j->errlen : 0) != SUBS_OK) {
		if (j->rc == SUBS_OK)
			j->rc = SUBS_ERR;
		return -1;
	}
	return 0;
}

/* Write every job of list in one transaction on db. A failed begin or
 * commit fails every job of the group that had succeeded. */
static void group_write(subs_db *db, subs_job *list)
{
	subs_job *j;
	char err[256];
	int rc, broken = 0;

	if ((rc = ctl(db, S_BEGIN, err, sizeof(err))) == SUBS_OK) {
		for (j = list; j != NULL; j = j->next) {
			/* A savepoint that failed to undo or release leaves
			 * the transaction unfit to commit; an I/O error may
			 * have ended it, and the rest must not run (and
			 * commit) one by one. Either way the group fails. */
			if (job_run(db, j) != 0 ||
			    sqlite3_get_autocommit(db->h)) {
				broken = 1;
				break;
			}
		}
		if (!broken &&
		    (rc = ctl(db, S_COMMIT, err, sizeof(err))) == SUBS_OK)
			return;
		if (rc == SUBS_OK) {
			util_err_set(err, sizeof(err), "transaction aborted: %s",
			    sqlite3_errmsg(db->h));
			rc = SUBS_ERR;
		}
		ctl(db, S_ROLLBACK, NULL, 0);
	}
	for (j = list; j != NULL; j = j->next) {
		if (j->rc == SUBS_OK) {
			util_err_set(j->err, j->errlen, "%s", err);
			j->rc = rc;
		}
	}
}

/* Queue j and return once a writer (this thread, on db, or another) has
 * committed it or it has failed. */
static void group_run(subs_group *g, subs_db *db, subs_job *j)
{
	subs_job *list, *k;
	uint64_t n;

	pthread_mutex_lock(&g->mu);
	j->next = NULL;
	j->done = 0;
	j->rc = SUBS_OK;	/* not failed (yet) */
	if (g->tail != NULL)
		g->tail->next = j;
	else
		g->head = j;
	g->tail = j;
	g->queued++;
	while (!j->done) {
		if (g->writing) {
			pthread_cond_wait(&g->cv, &g->mu);
			continue;
		}
		g->writing = 1;
		list = g->head;
		g->head = g->tail = NULL;
		g->queued = 0;
		pthread_mutex_unlock(&g->mu);
		group_write(db, list);
		pthread_mutex_lock(&g->mu);
		/* Owners read their job only after seeing done under the lock,
		 * so the list may be walked until it is released. */
		for (n = 0, k = list; k != NULL; k = k->next, n++)
			k->done = 1;
		g->groups++;
		g->jobs += n;
		g->writing = 0;
		pthread_cond_broadcast(&g->cv);
	}
	pthread_mutex_unlock(&g->mu);
}

int subs_group_allocate(subs_group *g, subs_db *db, subs_record_t *out,
    const subs_alloc_t *a, char *err, size_t errlen)
{
	subs_job j;
	int rc;

	memset(&j, 0, sizeof(j));
	if ((rc = alloc_check(a, j.plmn, sizeof(j.plmn), &j.msin_digits, err,
	    errlen)) != SUBS_OK)
		return rc;
	j.kind = JOB_ALLOC;
	j.a = a;
	j.rec = out;
	j.err = err;
	j.errlen = errlen;
	group_run(g, db, &j);
	if (j.rc != SUBS_OK && out != NULL)
		subs_record_wipe(out);
	return j.rc;
}

/* Both entry points: the SQN step, and with rec the row read back. */
static int group_sqn(subs_group *g, subs_db *db, uint64_t *out,
    subs_record_t *rec, const char *supi, unsigned ind_bits, char *err,
    size_t errlen)
{
	subs_job j;

	if (!digits_ok(supi, 14, 15)) {
		util_err_set(err, errlen, "SUPI must be 14 or 15 digits");
		return SUBS_INVALID;
	}
	memset(&j, 0, sizeof(j));
	j.kind = JOB_SQN;
	j.supi = supi;
	j.ind_bits = ind_bits;
	j.rec = rec;
	j.err = err;
	j.errlen = errlen;
	group_run(g, db, &j);
	if (j.rc == SUBS_OK)
		*out = j.sqn;
	else if (rec != NULL)
		subs_record_wipe(rec);
	return j.rc;
}

int subs_group_sqn_next(subs_group *g, subs_db *db, uint64_t *out,
    const char *supi, unsigned ind_bits, char *err, size_t errlen)
{
	return group_sqn(g, db, out, NULL, supi, ind_bits, err, errlen);
}

int subs_group_sqn_next_read(subs_group *g, subs_db *db, uint64_t *out,
    subs_record_t *rec, const char *supi, unsigned ind_bits, char *err,
    size_t errlen)
{
	return group_sqn(g, db, out, rec, supi, ind_bits, err, errlen);
}

int subs_group_confirm(subs_group *g, subs_db *db, const char *supi,
    int *promoted, char *err, size_t errlen)
{
	subs_job j;

	if (promoted != NULL)
		*promoted = 0;
	if (!digits_ok(supi, 14, 15)) {
		util_err_set(err, errlen, "SUPI must be 14 or 15 digits");
		return SUBS_INVALID;
	}
	memset(&j, 0, sizeof(j));
	j.kind = JOB_CONFIRM;
	j.supi = supi;
	j.err = err;
	j.errlen = errlen;
	group_run(g, db, &j);
	if (j.rc == SUBS_OK && promoted != NULL)
		*promoted = j.promoted;
	return j.rc;
}

int subs_confirm(subs_db *db, const char *supi, int *promoted, char *err,
    size_t errlen)
{
	int rc, p = 0, intx = 0;

	if (promoted != NULL)
		*promoted = 0;
	if (!digits_ok(supi, 14, 15)) {
		util_err_set(err, errlen, "SUPI must be 14 or 15 digits");
		return SUBS_INVALID;
	}
	if ((rc = ctl(db, S_BEGIN, err, errlen)) != SUBS_OK)
		goto out;
	intx = 1;
	if ((rc = confirm_in_tx(db, supi, &p, err, errlen)) != SUBS_OK)
		goto out;
	if ((rc = ctl(db, S_COMMIT, err, errlen)) != SUBS_OK)
		goto out;
	intx = 0;
	if (promoted != NULL)
		*promoted = p;
out:
	if (intx)
		ctl(db, S_ROLLBACK, NULL, 0);
	return rc;
}

const char *subs_state_name(int state)
{
	switch (state) {
	case SUBS_STATE_ACTIVE: return "active";
	case SUBS_STATE_PENDING: return "pending";
	case SUBS_STATE_RETIRED: return "retired";
	default: return "unknown";
	}
}

int subs_counter_get(subs_db *db, uint64_t *out, const char *device_id,
    char *err, size_t errlen)
{
	sqlite3_stmt *st;
	int rc = SUBS_ERR, s;

	*out = 0;
	if (!devid_valid(device_id)) {
		util_err_set(err, errlen, "malformed DeviceID");
		return SUBS_INVALID;
	}
	if ((st = stmt(db, S_CTR_GET)) == NULL ||
	    sqlite3_bind_text(st, 1, device_id, -1, SQLITE_TRANSIENT)
	    != SQLITE_OK) {
		rc = db_fail(db, err, errlen, "prepare counter read");
		goto out;
	}
	s = sqlite3_step(st);
	if (s == SQLITE_ROW) {
		*out = (uint64_t)sqlite3_column_int64(st, 0);
		rc = SUBS_OK;
	} else if (s == SQLITE_DONE) {
		rc = SUBS_NOTFOUND;
	} else {
		rc = db_fail(db, err, errlen, "read counter");
	}
out:
	stmt_done(st);
	return rc;
}
