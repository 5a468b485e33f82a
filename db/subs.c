/* subs.c — the operator's subscriber store on db.h (SQLite, or PostgreSQL
 * for several corehook processes on one store): transactional MSIN
 * allocation, the per-device freshness counter of provisioning requests,
 * pending → active → retired subscriptions (retired keys wiped, retired
 * rows kept for a bounded time), durable SQN, and the group commit of
 * corehook's writers on db_group. Schema: subs_migrations.c. */
#include "subs.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "db.h"
#include "db_group.h"
#include "devid.h"
#include "subs_migrations.h"
#include "util.h"

/* Statements every provisioning and registration runs, prepared once per
 * connection (db_prepare's cache). */
enum {
	S_BEGIN,
	S_COMMIT,
	S_ROLLBACK,
	S_SAVEPOINT,
	S_RELEASE,
	S_ROLLBACK_TO,
	S_FIND_SUPI,
	S_FIND_DEVICE,
	S_FIND_PENDING,
	S_CURSOR_GET,
	S_CURSOR_SET,
	S_RETIRE,
	S_INSERT,
	S_SQN_GET,
	S_SQN_SET,
	S_CTR_GET,
	S_CTR_SET,
	S_PURGE,
	S_ACTIVATE,
	S_RETIRE_FOR,
	S_COUNT
};

struct subs_db {
	db_conn_t *c;
	int pg;             /* on PostgreSQL */
	int64_t last_purge; /* when this connection last purged */
};

/* Retired rows past the retention are deleted at most this often per
 * connection (seconds), not on every allocation. */
#define SUBS_PURGE_INTERVAL 60

/* pg_advisory_xact_lock key every subscriber-store writer takes on
 * PostgreSQL ("SuBs" in ASCII): writers are serialised across processes
 * as SQLite's BEGIN IMMEDIATE serialises them, so reading the MSIN
 * cursor, the freshness counter or the SQN and writing it back is one
 * step for every corehook on the store. */
#define SUBS_PG_LOCK "1400193651"

#define SUBS_COLS \
	"id, supi, device_id, ki, opc, amf, sqn, profile," \
	" CASE state WHEN 'active' THEN 0 WHEN 'pending' THEN 1 ELSE 2 END," \
	" created_at, retired_at"

#define SUBS_RETIRE_SET(ZERO16) \
	"UPDATE subscription SET state =" \
	" 'retired', retired_at = ?2, ki = " ZERO16 ", opc = " ZERO16
#define SUBS_PG_ZERO16 "decode('00000000000000000000000000000000', 'hex')"

#define SUBS_INSERT \
	"INSERT INTO subscription(supi, plmn, msin, device_id," \
	" ki, opc, amf, sqn, profile, created_at, state) VALUES" \
	" (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, 'pending')"

/* The confirmation's retirement (no row read first): the device's active
 * row, named through supi's pending row; the "state <> 'retired'" terms
 * let the engine use subscription_live_supi. */
#define SUBS_RETIRE_FOR_WHERE \
	" WHERE state = 'active' AND device_id =" \
	" (SELECT device_id FROM subscription WHERE supi = ?1 AND" \
	" state <> 'retired' AND state = 'pending')"

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
	[S_CURSOR_SET] =
	    "INSERT INTO msin_cursor(plmn, next_msin)"
	    " VALUES (?1, ?2) ON CONFLICT(plmn) DO UPDATE SET next_msin ="
	    " excluded.next_msin",
	/* Retiring wipes the keys: a retired row can never authenticate. */
	[S_RETIRE] = SUBS_RETIRE_SET("zeroblob(16)") " WHERE id = ?1",
	[S_INSERT] = SUBS_INSERT,
	[S_SQN_GET] = "SELECT sqn FROM subscription WHERE supi = ?1 AND"
	              " state <> 'retired'",
	[S_SQN_SET] = "UPDATE subscription SET sqn = ?2 WHERE supi = ?1 AND"
	              " state <> 'retired'",
	[S_CTR_GET] = "SELECT counter FROM device_freshness WHERE"
	              " device_id = ?1",
	[S_CTR_SET] =
	    "INSERT INTO device_freshness(device_id, counter,"
	    " updated_at) VALUES (?1, ?2, ?3) ON CONFLICT(device_id) DO UPDATE"
	    " SET counter = excluded.counter, updated_at = excluded.updated_at",
	[S_PURGE] = "DELETE FROM subscription WHERE state = 'retired' AND"
	            " retired_at < ?1",
	[S_ACTIVATE] =
	    "UPDATE subscription SET state = 'active' WHERE"
	    " supi = ?1 AND state <> 'retired' AND state = 'pending'",
	[S_RETIRE_FOR] = SUBS_RETIRE_SET("zeroblob(16)") SUBS_RETIRE_FOR_WHERE,
};

/* PostgreSQL's text where its dialect differs (NULL: as on SQLite). Its
 * writers take the store's advisory lock, and make their COMMIT durable
 * whatever the server's default (synchronous_commit). */
static const char *const stmt_sql_pg[S_COUNT] = {
	[S_BEGIN] = "BEGIN; SET LOCAL synchronous_commit = on;"
	            " SELECT pg_advisory_xact_lock(" SUBS_PG_LOCK ")",
	[S_RETIRE] = SUBS_RETIRE_SET(SUBS_PG_ZERO16) " WHERE id = ?1",
	[S_INSERT] = SUBS_INSERT " RETURNING id",
	[S_RETIRE_FOR] = SUBS_RETIRE_SET(SUBS_PG_ZERO16) SUBS_RETIRE_FOR_WHERE,
};

#define SQN_MASK 0xffffffffffffULL

/* The text of statement id in db's dialect. */
static const char *sql_of(const subs_db *db, int id)
{
	return db->pg && stmt_sql_pg[id] != NULL ? stmt_sql_pg[id] :
	                                           stmt_sql[id];
}

/* SUBS_ERR with what failed and the engine's message in err. */
static int db_fail(subs_db *db, char *err, size_t errlen, const char *what)
{
	util_err_set(err, errlen, "%s: %s", what, db_errmsg(db->c));
	return SUBS_ERR;
}

/* db's statement id, from its connection's cache; NULL with the engine's
 * message in db. Give it back with db_release. */
static db_stmt_t *stmt(subs_db *db, int id)
{
	db_stmt_t *st = NULL;

	if (db_prepare(db->c, &st, sql_of(db, id)) != DB_OK)
		return NULL;
	return st;
}

/* Run one transaction-control statement (BEGIN, COMMIT, savepoints): a
 * cached statement on SQLite, a simple query on PostgreSQL (its BEGIN is
 * several statements). */
static int ctl(subs_db *db, int id, char *err, size_t errlen)
{
	db_stmt_t *st = NULL;
	int rc;

	if (db->pg)
		rc = db_exec(db->c, sql_of(db, id));
	else if ((st = stmt(db, id)) == NULL)
		rc = DB_ERROR;
	else if ((rc = db_step(st)) == DB_DONE)
		rc = DB_OK;
	if (rc != DB_OK)
		util_err_set(err, errlen, "%s: %s: %s",
		    db->pg ? "postgresql" : "sqlite", stmt_sql[id],
		    db_errmsg(db->c));
	db_release(st);
	return rc == DB_OK ? SUBS_OK : SUBS_ERR;
}

/* A store written before the shared runner recorded its version in
 * PRAGMA user_version: record versions 1..user_version in
 * schema_migrations (SQLite only; once), so db_migrate goes on from
 * there. */
static int legacy_version(subs_db *db, char *err, size_t errlen)
{
	db_stmt_t *st = NULL;
	int uv = 0, v, rc = SUBS_ERR;

	if (db->pg || db_schema_version(db->c) >= 0)
		return SUBS_OK;
	if (db_prepare(db->c, &st, "PRAGMA user_version") != DB_OK ||
	    db_step(st) != DB_ROW)
		return db_fail(db, err, errlen, "read schema version");
	uv = db_col_int(st, 0);
	db_release(st);
	st = NULL;
	if (uv <= 0)
		return SUBS_OK;
	if (uv > (int)subs_migrations_count) {
		util_err_set(err, errlen,
		    "subscriber store schema version %d is"
		    " newer than this program (%zu)",
		    uv, subs_migrations_count);
		return SUBS_ERR;
	}
	if (db_exec(db->c,
	        "BEGIN IMMEDIATE; CREATE TABLE IF NOT EXISTS"
	        " schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT"
	        " NULL, applied_at INTEGER NOT NULL)") != DB_OK) {
		rc = db_fail(db, err, errlen, "record schema version");
		goto out;
	}
	for (v = 1; v <= uv; v++) {
		if (db_prepare(db->c, &st,
		        "INSERT OR IGNORE INTO"
		        " schema_migrations(version, name, applied_at) VALUES"
		        " (?1, ?2, 0)") != DB_OK ||
		    db_bind_int64(st, 1, v) != DB_OK ||
		    db_bind_text(st, 2, subs_migrations_sqlite[v - 1].name) !=
		        DB_OK ||
		    db_step(st) != DB_DONE) {
			rc = db_fail(db, err, errlen, "record schema version");
			goto out;
		}
		db_release(st);
		st = NULL;
	}
	if (db_exec(db->c, "COMMIT") != DB_OK) {
		rc = db_fail(db, err, errlen, "record schema version");
		goto out;
	}
	rc = SUBS_OK;
out:
	db_release(st);
	if (rc != SUBS_OK)
		db_exec(db->c, "ROLLBACK");
	return rc;
}

/* Bring the schema up to date in db's dialect (db_migrate); refuse a
 * store a newer program has migrated further. */
static int migrate(subs_db *db, char *err, size_t errlen)
{
	char pragma[48];
	int v;

	if (legacy_version(db, err, errlen) != SUBS_OK)
		return SUBS_ERR;
	v = db_schema_version(db->c);
	if (v > (int)subs_migrations_count) {
		util_err_set(err, errlen,
		    "subscriber store schema version %d is"
		    " newer than this program (%zu)",
		    v, subs_migrations_count);
		return SUBS_ERR;
	}
	if (db_migrate(db->c,
	        db->pg ? subs_migrations_pg : subs_migrations_sqlite,
	        subs_migrations_count, err, errlen) != DB_OK)
		return SUBS_ERR;
	/* user_version follows, so a program from before the shared runner
	 * still finds the file current (and does not migrate it again). */
	snprintf(pragma, sizeof(pragma), "PRAGMA user_version = %zu",
	    subs_migrations_count);
	if (!db->pg && v < (int)subs_migrations_count &&
	    db_exec(db->c, pragma) != DB_OK)
		return db_fail(db, err, errlen, "record schema version");
	return SUBS_OK;
}

/* Open the SQLite file at path with the store's settings. */
static int open_sqlite(subs_db *db, const char *path, char *err, size_t errlen)
{
	/* Owner-only: the store holds every Ki and OPc. */
	if (util_file_owner_only(path, "open", err, errlen) != 0)
		return SUBS_ERR;
	if (db_open_sqlite(&db->c, path, 10000, err, errlen) != DB_OK)
		return SUBS_ERR;
	/* FULL: in WAL mode NORMAL syncs only at checkpoints, so a power loss
	 * could drop a subscription whose Ki already went to the device in a
	 * reject (or an SQN the network already used). Every commit is durable
	 * before corehook answers. */
	/* secure_delete: the space a wiped key or a purged row leaves is
	 * zeroed in the database file too. */
	if (db_exec(db->c,
	        "PRAGMA journal_mode = WAL; PRAGMA foreign_keys ="
	        " ON; PRAGMA synchronous = FULL; PRAGMA secure_delete = ON;") !=
	    DB_OK)
		return db_fail(db, err, errlen, "sqlite");
	return SUBS_OK;
}

int subs_open(subs_db **out, const char *path, char *err, size_t errlen)
{
	subs_db *db;
	int rc = SUBS_ERR;

	*out = NULL;
	if ((db = calloc(1, sizeof(*db))) == NULL) {
		util_err_set(err, errlen, "out of memory");
		return SUBS_ERR;
	}
	db->pg = db_is_pg_url(path);
	if (db->pg ? db_conn_pg(&db->c, path, err, errlen) != DB_OK :
	             open_sqlite(db, path, err, errlen) != SUBS_OK)
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

int subs_is_pg_url(const char *path)
{
	return db_is_pg_url(path);
}

void subs_close(subs_db *db)
{
	if (db == NULL)
		return;
	db_close(db->c);
	free(db);
}

int subs_schema_version(subs_db *db, int *out)
{
	int v = db_schema_version(db->c);

	if (v < 0)
		return SUBS_ERR;
	*out = v;
	return SUBS_OK;
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

static void read_row(db_stmt_t *st, subs_record_t *r)
{
	const void *b;
	const char *t;

	memset(r, 0, sizeof(*r));
	r->id = db_col_int64(st, 0);
	if ((t = db_col_text(st, 1)) != NULL)
		snprintf(r->supi, sizeof(r->supi), "%s", t);
	if ((t = db_col_text(st, 2)) != NULL)
		snprintf(r->device_id, sizeof(r->device_id), "%s", t);
	/* CHECK constraints guarantee the blob lengths. */
	if ((b = db_col_blob(st, 3)) != NULL && db_col_bytes(st, 3) == 16)
		memcpy(r->ki, b, 16);
	if ((b = db_col_blob(st, 4)) != NULL && db_col_bytes(st, 4) == 16)
		memcpy(r->opc, b, 16);
	if ((b = db_col_blob(st, 5)) != NULL && db_col_bytes(st, 5) == 2)
		memcpy(r->amf, b, 2);
	r->sqn = (uint64_t)db_col_int64(st, 6);
	if ((t = db_col_text(st, 7)) != NULL)
		snprintf(r->profile, sizeof(r->profile), "%s", t);
	r->state = db_col_int(st, 8);
	r->created_at = db_col_int64(st, 9);
	r->retired_at = db_col_int64(st, 10);
}

/* Run a one-row lookup (statement id, a single text parameter) into out. */
static int find_one(subs_db *db, subs_record_t *out, int id, const char *param,
    char *err, size_t errlen)
{
	db_stmt_t *st;
	int rc = SUBS_ERR, s;

	if ((st = stmt(db, id)) == NULL ||
	    db_bind_text(st, 1, param) != DB_OK) {
		rc = db_fail(db, err, errlen, "prepare lookup");
		goto out;
	}
	s = db_step(st);
	if (s == DB_ROW) {
		if (out != NULL)
			read_row(st, out);
		rc = SUBS_OK;
	} else if (s == DB_DONE) {
		util_err_set(err, errlen, "no active subscription for %s",
		    param);
		rc = SUBS_NOTFOUND;
	} else {
		rc = db_fail(db, err, errlen, "lookup");
	}
out:
	db_release(st);
	return rc;
}

int subs_find_supi(subs_db *db, subs_record_t *out, const char *supi, char *err,
    size_t errlen)
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
	db_stmt_t *st;
	uint64_t next = a->msin_first;
	int rc = SUBS_ERR, s;

	if ((st = stmt(db, S_CURSOR_GET)) == NULL ||
	    db_bind_text(st, 1, plmn) != DB_OK) {
		rc = db_fail(db, err, errlen, "prepare cursor");
		goto out;
	}
	s = db_step(st);
	if (s == DB_ROW) {
		uint64_t cur = (uint64_t)db_col_int64(st, 0);

		if (cur > next)
			next = cur;
	} else if (s != DB_DONE) {
		rc = db_fail(db, err, errlen, "read cursor");
		goto out;
	}
	db_release(st);
	st = NULL;
	if (next > a->msin_last) {
		util_err_set(err, errlen,
		    "MSIN range %" PRIu64 "-%" PRIu64 " of PLMN %s exhausted",
		    a->msin_first, a->msin_last, plmn);
		rc = SUBS_EXHAUSTED;
		goto out;
	}
	if ((st = stmt(db, S_CURSOR_SET)) == NULL ||
	    db_bind_text(st, 1, plmn) != DB_OK ||
	    db_bind_int64(st, 2, (int64_t)(next + 1)) != DB_OK ||
	    db_step(st) != DB_DONE) {
		rc = db_fail(db, err, errlen, "advance cursor");
		goto out;
	}
	*out = next;
	rc = SUBS_OK;
out:
	db_release(st);
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
		util_err_set(err, errlen,
		    "MSIN range must be first <= last <"
		    " %" PRIu64,
		    limit);
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
	db_stmt_t *st;
	int rc = SUBS_ERR, s;

	if ((st = stmt(db, S_CTR_GET)) == NULL ||
	    db_bind_text(st, 1, device_id) != DB_OK) {
		rc = db_fail(db, err, errlen, "prepare counter read");
		goto out;
	}
	s = db_step(st);
	if (s == DB_ROW && counter <= (uint64_t)db_col_int64(st, 0)) {
		util_err_set(err, errlen,
		    "request counter %" PRIu64 " not above"
		    " the last accepted %" PRId64 " (replay)",
		    counter, (int64_t)db_col_int64(st, 0));
		rc = SUBS_REPLAY;
		goto out;
	} else if (s != DB_ROW && s != DB_DONE) {
		rc = db_fail(db, err, errlen, "read counter");
		goto out;
	}
	db_release(st);
	if ((st = stmt(db, S_CTR_SET)) == NULL ||
	    db_bind_text(st, 1, device_id) != DB_OK ||
	    db_bind_int64(st, 2, (int64_t)counter) != DB_OK ||
	    db_bind_int64(st, 3, now) != DB_OK || db_step(st) != DB_DONE) {
		rc = db_fail(db, err, errlen, "store counter");
		goto out;
	}
	rc = SUBS_OK;
out:
	db_release(st);
	return rc;
}

/* Run a statement binding two integers (retire: id, now; purge: before,
 * unused; activate: id). */
static int run_ints(subs_db *db, int id, int64_t a, int64_t b, int nb,
    const char *what, char *err, size_t errlen)
{
	db_stmt_t *st;
	int rc = SUBS_OK;

	if ((st = stmt(db, id)) == NULL || db_bind_int64(st, 1, a) != DB_OK ||
	    (nb > 1 && db_bind_int64(st, 2, b) != DB_OK) ||
	    db_step(st) != DB_DONE)
		rc = db_fail(db, err, errlen, what);
	db_release(st);
	return rc;
}

/* Insert the new pending row; fill out (may be NULL). */
static int alloc_insert(subs_db *db, subs_record_t *out, const subs_alloc_t *a,
    const char *supi, const char *plmn, uint64_t msin, int64_t now, char *err,
    size_t errlen)
{
	db_stmt_t *st;
	int rc = SUBS_ERR, s;

	if ((st = stmt(db, S_INSERT)) == NULL ||
	    db_bind_text(st, 1, supi) != DB_OK ||
	    db_bind_text(st, 2, plmn) != DB_OK ||
	    db_bind_int64(st, 3, (int64_t)msin) != DB_OK ||
	    db_bind_text(st, 4, a->device_id) != DB_OK ||
	    db_bind_blob(st, 5, a->ki, 16) != DB_OK ||
	    db_bind_blob(st, 6, a->opc, 16) != DB_OK ||
	    db_bind_blob(st, 7, a->amf, 2) != DB_OK ||
	    db_bind_int64(st, 8, (int64_t)a->sqn) != DB_OK ||
	    db_bind_text(st, 9, a->profile) != DB_OK ||
	    db_bind_int64(st, 10, now) != DB_OK) {
		rc = db_fail(db, err, errlen, "insert subscription");
		goto out;
	}
	/* PostgreSQL's insert returns the new id; SQLite's is its rowid. */
	s = db_step(st);
	if (s != DB_DONE && s != DB_ROW) {
		rc = db_fail(db, err, errlen, "insert subscription");
		goto out;
	}
	if (out != NULL) {
		memset(out, 0, sizeof(*out));
		out->id = s == DB_ROW ? db_col_int64(st, 0) : db_last_id(db->c);
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
	db_release(st);
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
	if ((rc = fresh_take(db, a->device_id, a->counter, now, err, errlen)) !=
	    SUBS_OK)
		goto out;
	rc = find_one(db, &old, S_FIND_PENDING, a->device_id, err, errlen);
	if (rc == SUBS_OK)
		rc = run_ints(db, S_RETIRE, old.id, now, 2,
		    "replace pending "
		    "subscription",
		    err, errlen);
	else if (rc == SUBS_NOTFOUND)
		rc = SUBS_OK;
	if (rc != SUBS_OK)
		goto out;
	if ((rc = msin_take(db, &msin, plmn, a, err, errlen)) != SUBS_OK)
		goto out;
	snprintf(supi, sizeof(supi), "%s%0*" PRIu64, plmn, (int)msin_digits,
	    msin);
	if ((rc = alloc_insert(db, out, a, supi, plmn, msin, now, err,
	         errlen)) != SUBS_OK)
		goto out;
	if (now - db->last_purge >= SUBS_PURGE_INTERVAL) {
		rc = run_ints(db, S_PURGE, now - keep, 0, 1,
		    "purge retired "
		    "rows",
		    err, errlen);
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
	db_stmt_t *st;
	int64_t now = (int64_t)time(NULL);
	int rc = SUBS_ERR;

	*promoted = 0;
	if ((st = stmt(db, S_RETIRE_FOR)) == NULL ||
	    db_bind_text(st, 1, supi) != DB_OK ||
	    db_bind_int64(st, 2, now) != DB_OK || db_step(st) != DB_DONE) {
		rc = db_fail(db, err, errlen, "retire active subscription");
		goto out;
	}
	db_release(st);
	if ((st = stmt(db, S_ACTIVATE)) == NULL ||
	    db_bind_text(st, 1, supi) != DB_OK || db_step(st) != DB_DONE) {
		rc = db_fail(db, err, errlen, "activate subscription");
		goto out;
	}
	*promoted = db_changes(st) == 1;
	db_release(st);
	st = NULL;
	/* Not pending: already active (SUBS_OK) or no live row (NOTFOUND). */
	rc = *promoted ? SUBS_OK :
	                 find_one(db, NULL, S_FIND_SUPI, supi, err, errlen);
out:
	db_release(st);
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
	if ((rc = alloc_in_tx(db, out, a, plmn, msin_digits, err, errlen)) !=
	    SUBS_OK)
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
	db_stmt_t *st = NULL;
	uint64_t cur, next;
	int rc = SUBS_ERR, s;

	if ((st = stmt(db, S_SQN_GET)) == NULL ||
	    db_bind_text(st, 1, supi) != DB_OK) {
		rc = db_fail(db, err, errlen, "prepare SQN read");
		goto out;
	}
	s = db_step(st);
	if (s == DB_DONE) {
		util_err_set(err, errlen, "no active subscription for %s",
		    supi);
		rc = SUBS_NOTFOUND;
		goto out;
	} else if (s != DB_ROW) {
		rc = db_fail(db, err, errlen, "read SQN");
		goto out;
	}
	cur = (uint64_t)db_col_int64(st, 0);
	db_release(st);
	st = NULL;
	next = subs_sqn_successor(cur, ind_bits);
	if (next <= cur) {
		util_err_set(err, errlen, "SQN space of %s exhausted", supi);
		rc = SUBS_EXHAUSTED;
		goto out;
	}
	if ((st = stmt(db, S_SQN_SET)) == NULL ||
	    db_bind_text(st, 1, supi) != DB_OK ||
	    db_bind_int64(st, 2, (int64_t)next) != DB_OK ||
	    db_step(st) != DB_DONE) {
		rc = db_fail(db, err, errlen, "write SQN");
		goto out;
	}
	*out = next;
	rc = SUBS_OK;
out:
	db_release(st);
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
	if ((rc = sqn_next_in_tx(db, &next, supi, ind_bits, err, errlen)) !=
	    SUBS_OK)
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

int subs_sqn_set(subs_db *db, const char *supi, uint64_t sqn, char *err,
    size_t errlen)
{
	db_stmt_t *st = NULL;
	int rc = SUBS_ERR, intx = 0;

	if (!digits_ok(supi, 14, 15) || sqn > SQN_MASK) {
		util_err_set(err, errlen, "malformed SUPI or SQN");
		return SUBS_INVALID;
	}
	/* A write transaction (the writers' lock on PostgreSQL), so a step
	 * of another process never reads the SQN before this and writes its
	 * successor after. */
	if (ctl(db, S_BEGIN, err, errlen) != SUBS_OK)
		goto out;
	intx = 1;
	if ((st = stmt(db, S_SQN_SET)) == NULL ||
	    db_bind_text(st, 1, supi) != DB_OK ||
	    db_bind_int64(st, 2, (int64_t)sqn) != DB_OK ||
	    db_step(st) != DB_DONE) {
		rc = db_fail(db, err, errlen, "write SQN");
		goto out;
	}
	if (db_changes(st) != 1) {
		util_err_set(err, errlen, "no active subscription for %s",
		    supi);
		rc = SUBS_NOTFOUND;
		goto out;
	}
	db_release(st);
	st = NULL;
	if ((rc = ctl(db, S_COMMIT, err, errlen)) != SUBS_OK)
		goto out;
	intx = 0;
out:
	db_release(st);
	if (intx)
		ctl(db, S_ROLLBACK, NULL, 0);
	return rc;
}

int subs_foreach(subs_db *db, int all,
    int (*fn)(const subs_record_t *rec, void *arg), void *arg, char *err,
    size_t errlen)
{
	db_stmt_t *st = NULL;
	subs_record_t rec;
	int rc = SUBS_ERR, s;

	if (db_prepare(db->c, &st,
	        all ? "SELECT " SUBS_COLS " FROM subscription ORDER BY id" :
	              "SELECT " SUBS_COLS
	              " FROM subscription WHERE state <> 'retired'"
	              " ORDER BY id") != DB_OK) {
		rc = db_fail(db, err, errlen, "prepare list");
		goto out;
	}
	while ((s = db_step(st)) == DB_ROW) {
		int r;

		read_row(st, &rec);
		r = fn(&rec, arg);
		subs_record_wipe(&rec);
		if (r != 0) {
			rc = r;
			goto out;
		}
	}
	if (s != DB_DONE) {
		rc = db_fail(db, err, errlen, "list");
		goto out;
	}
	rc = SUBS_OK;
out:
	db_release(st);
	return rc;
}

int subs_count_active(subs_db *db, int64_t *out, char *err, size_t errlen)
{
	db_stmt_t *st = NULL;
	int rc = SUBS_ERR;

	if (db_prepare(db->c, &st,
	        "SELECT count(*) FROM subscription WHERE"
	        " state = 'active'") != DB_OK ||
	    db_step(st) != DB_ROW) {
		rc = db_fail(db, err, errlen, "count");
		goto out;
	}
	*out = db_col_int64(st, 0);
	rc = SUBS_OK;
out:
	db_release(st);
	return rc;
}

int subs_synchronous(subs_db *db, int *out)
{
	db_stmt_t *st = NULL;
	int rc = SUBS_ERR;

	/* PostgreSQL: what its writers' SET LOCAL makes of every COMMIT
	 * (on: durable), in SQLite's numbers. */
	if (db_prepare(db->c, &st,
	        db->pg ?
	            "SELECT CASE"
	            " current_setting('synchronous_commit') WHEN 'off' THEN 0 WHEN"
	            " 'local' THEN 1 ELSE 2 END" :
	            "PRAGMA synchronous") == DB_OK &&
	    db_step(st) == DB_ROW) {
		*out = db_col_int(st, 0);
		rc = SUBS_OK;
	}
	db_release(st);
	return rc;
}

/* ---- group commit ----
 *
 * With synchronous=FULL every commit waits for the disk (an fdatasync of
 * the WAL, milliseconds here; a WAL flush on PostgreSQL), and the engine
 * holds the write lock meanwhile, so one transaction per allocation or SQN
 * step caps the whole store at the disk's flush rate. Instead, concurrent
 * writers queue their operation on db_group (the primitive the registry's
 * issuance shares); the first that finds no write in progress becomes the
 * writer, on its own connection, for everything queued so far: one
 * transaction, a savepoint per operation (one failing does not undo the
 * others), one commit and one fsync. Operations that arrive meanwhile
 * form the next group. No caller returns before its operation is
 * committed (or has failed). */

enum { JOB_ALLOC, JOB_SQN, JOB_CONFIRM };

typedef struct subs_job {
	db_group_item_t gi; /* first: a job is its group item */
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
} subs_job;

struct subs_group {
	db_group_t *g;
};

static void group_write(void *conn, db_group_item_t *list, void *arg);

int subs_group_new(subs_group **out)
{
	subs_group *g;

	*out = NULL;
	if ((g = calloc(1, sizeof(*g))) == NULL)
		return SUBS_ERR;
	if (db_group_new(&g->g, group_write, NULL, NULL) != 0) {
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
	db_group_free(g->g);
	free(g);
}

void subs_group_stats(subs_group *g, subs_group_stats_t *out)
{
	db_group_stats_t s;

	db_group_stats(g->g, &s);
	out->groups = s.groups;
	out->jobs = s.jobs;
	out->queued = s.queued;
	out->writing = s.writing;
}

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
		j->rc =
		    confirm_in_tx(db, j->supi, &j->promoted, j->err, j->errlen);
	else if ((j->rc = sqn_next_in_tx(db, &j->sqn, j->supi, j->ind_bits,
	              j->err, j->errlen)) == SUBS_OK &&
	    j->rec != NULL)
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

/* db_group_write_fn: every job of list in one transaction on the leader's
 * connection conn. A failed begin or commit fails every job of the group
 * that had succeeded. */
static void group_write(void *conn, db_group_item_t *list, void *arg)
{
	subs_db *db = conn;
	db_group_item_t *it;
	char err[256];
	int rc, broken = 0;

	(void)arg;
	for (it = list; it != NULL; it = it->next)
		((subs_job *)it)->rc = SUBS_OK; /* not failed (yet) */
	if ((rc = ctl(db, S_BEGIN, err, sizeof(err))) == SUBS_OK) {
		for (it = list; it != NULL; it = it->next) {
			/* A savepoint that failed to undo or release leaves
			 * the transaction unfit to commit; an I/O error may
			 * have ended it, and the rest must not run (and
			 * commit) one by one. Either way the group fails. */
			if (job_run(db, (subs_job *)it) != 0 ||
			    !db_in_transaction(db->c)) {
				broken = 1;
				break;
			}
		}
		if (!broken &&
		    (rc = ctl(db, S_COMMIT, err, sizeof(err))) == SUBS_OK)
			return;
		if (rc == SUBS_OK) {
			util_err_set(err, sizeof(err),
			    "transaction aborted: %s", db_errmsg(db->c));
			rc = SUBS_ERR;
		}
		ctl(db, S_ROLLBACK, NULL, 0);
	}
	for (it = list; it != NULL; it = it->next) {
		subs_job *j = (subs_job *)it;

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
	db_group_commit(g->g, db, &j->gi);
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
	db_stmt_t *st;
	int rc = SUBS_ERR, s;

	*out = 0;
	if (!devid_valid(device_id)) {
		util_err_set(err, errlen, "malformed DeviceID");
		return SUBS_INVALID;
	}
	if ((st = stmt(db, S_CTR_GET)) == NULL ||
	    db_bind_text(st, 1, device_id) != DB_OK) {
		rc = db_fail(db, err, errlen, "prepare counter read");
		goto out;
	}
	s = db_step(st);
	if (s == DB_ROW) {
		*out = (uint64_t)db_col_int64(st, 0);
		rc = SUBS_OK;
	} else if (s == DB_DONE) {
		rc = SUBS_NOTFOUND;
	} else {
		rc = db_fail(db, err, errlen, "read counter");
	}
out:
	db_release(st);
	return rc;
}
