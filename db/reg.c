/* reg.c — registry connection: open with WAL, foreign keys and busy
 * timeout, apply numbered migrations, nested transactions, online backup,
 * integrity check, and the append-only audit log. */
#include "reg_priv.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "reg_pg.h"
#include "util.h"

#define REG_BUSY_TIMEOUT_MS 10000

/* pg_advisory_xact_lock key every registry writer takes on PostgreSQL:
 * "PrCW" in ASCII. */
#define REG_PG_WRITE_LOCK "1349665623"

/* The reg_error of a db.h result code. */
static int reg_code(int rc)
{
	switch (db_rc_class(rc)) {
	case DB_CONSTRAINT: return REG_ERR_CONSTRAINT;
	case DB_BUSY: return REG_ERR_BUSY;
	case DB_UNAVAILABLE: return REG_ERR_UNAVAILABLE;
	default: return REG_ERR_INTERNAL;
	}
}

int reg_fail(reg_t *reg, int rc, char *err, size_t errlen, const char *what)
{
	util_err_set(err, errlen, "%s: %s", what,
	    reg != NULL && reg->c != NULL ? db_errmsg(reg->c) :
	                                    sqlite3_errstr(rc));
	return reg_code(rc);
}

int reg_is_pg(const reg_t *reg)
{
	return db_engine(reg->c) == DB_ENGINE_PG;
}

int reg_prepare(reg_t *reg, db_stmt_t **out, const char *sql, char *err,
    size_t errlen)
{
	int rc = db_prepare(reg->c, out, sql);

	if (rc != DB_OK)
		return reg_fail(reg, rc, err, errlen, "prepare");
	return REG_OK;
}

void reg_finalize(reg_t *reg, db_stmt_t *st)
{
	(void)reg;
	db_release(st);
}

int reg_bind_text(db_stmt_t *st, int idx, const char *s)
{
	return db_bind_text(st, idx, s);
}

void reg_col_copy(char *dst, size_t dstlen, db_stmt_t *st, int col)
{
	const char *s = db_col_text(st, col);
	size_t n;

	if (dstlen == 0)
		return;
	if (s == NULL) {
		dst[0] = '\0';
		return;
	}
	n = db_col_bytes(st, col);
	if (n >= dstlen)
		n = dstlen - 1;
	memcpy(dst, s, n);
	dst[n] = '\0';
}

int reg_step_done(reg_t *reg, db_stmt_t *st, char *err, size_t errlen,
    const char *what)
{
	int rc = db_step(st);

	if (rc == DB_DONE)
		return REG_OK;
	return reg_fail(reg, rc, err, errlen, what);
}

int reg_page_limit(size_t limit, size_t *out)
{
	if (limit == 0)
		limit = 100;
	if (limit > REG_LIST_MAX)
		return REG_ERR_INVALID;
	*out = limit;
	return REG_OK;
}

int64_t reg_now(void)
{
	return (int64_t)time(NULL);
}

/* Run sql statements without results. */
static int exec_sql(reg_t *reg, const char *sql, char *err, size_t errlen,
    const char *what)
{
	int rc = db_exec(reg->c, sql);

	if (rc != DB_OK)
		return reg_fail(reg, rc, err, errlen, what);
	return REG_OK;
}

int reg_schema_version(reg_t *reg)
{
	int v = db_schema_version(reg->c);

	return v < 0 ? REG_ERR_INTERNAL : v;
}

/* Apply pending migrations in the engine's dialect (db_migrate: each in
 * its own locked transaction; none, and no lock, when current). */
static int migrate(reg_t *reg, char *err, size_t errlen)
{
	int rc = reg_is_pg(reg) ? db_migrate(reg->c, reg_pg_migrations,
	                              reg_pg_migrations_count, err, errlen) :
	                          db_migrate(reg->c, reg_migrations,
	                              reg_migrations_count, err, errlen);

	return rc == DB_OK ? REG_OK : reg_code(rc);
}

/* Switch the registry to WAL unless it is already: the switch takes the
 * write lock, the question does not. */
static int wal_on(reg_t *reg, char *err, size_t errlen)
{
	sqlite3_stmt *st = NULL;
	int wal = 0;

	if (sqlite3_prepare_v2(reg->db, "PRAGMA journal_mode", -1, &st, NULL) ==
	        SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW) {
		const unsigned char *m = sqlite3_column_text(st, 0);

		wal = m != NULL && strcmp((const char *)m, "wal") == 0;
	}
	sqlite3_finalize(st);
	if (wal)
		return REG_OK;
	return exec_sql(reg, "PRAGMA journal_mode=WAL", err, errlen, "WAL");
}

/* The SQLite connection's settings (reg->db open). */
static int sqlite_setup(reg_t *reg, char *err, size_t errlen)
{
	int rc;

	sqlite3_extended_result_codes(reg->db, 1);
	sqlite3_busy_timeout(reg->db, REG_BUSY_TIMEOUT_MS);
	if ((rc = wal_on(reg, err, errlen)) != REG_OK ||
	    (rc = exec_sql(reg, "PRAGMA foreign_keys=ON", err, errlen,
	         "foreign keys")) != REG_OK ||
	    /* In WAL mode NORMAL syncs only at checkpoints: a power loss
	     * could take certificates already answered. FULL syncs the WAL
	     * at every COMMIT; group commit shares that cost. */
	    (rc = exec_sql(reg, "PRAGMA synchronous=FULL", err, errlen,
	         "synchronous")) != REG_OK ||
	    /* Savepoint journals (each issuance is a savepoint of its
	     * group's transaction, ~17 pages) spilled past 64 KiB into a
	     * temp file: open, write, close, unlink per issuance. They only
	     * undo a savepoint inside a live transaction (never read at
	     * recovery; the WAL is), so memory loses no durability. */
	    (rc = exec_sql(reg, "PRAGMA temp_store=MEMORY", err, errlen,
	         "temp store")) != REG_OK)
		return rc;
	return REG_OK;
}

static int open_flags(reg_t **out, const char *path, int flags, char *err,
    size_t errlen)
{
	sqlite3 *h = NULL;
	reg_t *reg;
	int rc;

	*out = NULL;
	if ((reg = calloc(1, sizeof(*reg))) == NULL) {
		util_err_set(err, errlen, "out of memory");
		return REG_ERR_INTERNAL;
	}
	rc = sqlite3_open_v2(path, &h, flags | SQLITE_OPEN_NOMUTEX, NULL);
	if (db_conn_sqlite(&reg->c, h) != DB_OK) {
		sqlite3_close_v2(h);
		util_err_set(err, errlen, "out of memory");
		rc = REG_ERR_INTERNAL;
		goto fail;
	}
	reg->db = h;
	if (rc != SQLITE_OK) {
		rc = reg_fail(reg, rc, err, errlen, "open registry");
		if (rc != REG_ERR_BUSY)
			rc = (flags & SQLITE_OPEN_CREATE) ? REG_ERR_IO :
			                                    REG_ERR_NOT_FOUND;
		goto fail;
	}
	if ((rc = sqlite_setup(reg, err, errlen)) != REG_OK ||
	    (rc = migrate(reg, err, errlen)) != REG_OK)
		goto fail;
	*out = reg;
	return REG_OK;
fail:
	reg_close(reg);
	return rc;
}

/* Connect to the PostgreSQL database url names and bring its schema up
 * to date (reg_pg_migrations). */
static int open_pg(reg_t **out, const char *url, char *err, size_t errlen)
{
	reg_t *reg;
	int rc;

	*out = NULL;
	if ((reg = calloc(1, sizeof(*reg))) == NULL) {
		util_err_set(err, errlen, "out of memory");
		return REG_ERR_INTERNAL;
	}
	if ((rc = db_conn_pg(&reg->c, url, err, errlen)) != DB_OK) {
		rc = reg_code(rc);
		goto fail;
	}
	if ((rc = migrate(reg, err, errlen)) != REG_OK)
		goto fail;
	*out = reg;
	return REG_OK;
fail:
	reg_close(reg);
	return rc;
}

int reg_open(reg_t **out, const char *path, char *err, size_t errlen)
{
	*out = NULL;
	if (reg_pg_is_url(path))
		return open_pg(out, path, err, errlen);
	/* Owner-only: the registry names every device and principal. */
	if (util_file_owner_only(path, "registry", err, errlen) != 0)
		return REG_ERR_IO;
	return open_flags(out, path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
	    err, errlen);
}

int reg_open_existing(reg_t **out, const char *path, char *err, size_t errlen)
{
	struct stat sb;

	if (reg_pg_is_url(path))
		return open_pg(out, path, err, errlen);
	if (stat(path, &sb) != 0) {
		*out = NULL;
		util_err_set(err, errlen, "registry %s: %s", path,
		    strerror(errno));
		return REG_ERR_NOT_FOUND;
	}
	return open_flags(out, path, SQLITE_OPEN_READWRITE, err, errlen);
}

void reg_close(reg_t *reg)
{
	if (reg == NULL)
		return;
	if (reg->c != NULL && reg->depth > 0)
		db_exec(reg->c, "ROLLBACK");
	db_close(reg->c); /* closes the SQLite handle too */
	free(reg);
}

struct sqlite3 *reg_sqlite(reg_t *reg)
{
	return reg->db;
}

/* The PostgreSQL engine's change stamp: the current snapshot's xmax (the
 * next transaction id) and a hash of the snapshot's text (xmin, xmax and
 * the transactions in progress). A commit anywhere in the cluster either
 * ends a transaction that was in progress or one that began since: either
 * way the snapshot differs. A read-only request assigns no transaction id
 * and leaves it alone. */
static const char pg_stamp_sql[] =
    "SELECT pg_snapshot_xmax(s)::text::bigint,"
    " hashtextextended(s::text, 0) FROM (SELECT pg_current_snapshot() AS s) q";
static const char data_version_sql[] = "PRAGMA data_version";

/* Read the stamp; the statement is left active (its read transaction
 * open) when hold, and is then reg->held. PostgreSQL holds nothing: its
 * statements each read a snapshot at least as new as the stamp's. */
static int stamp_read(reg_t *reg, int64_t out[2], int hold, char *err,
    size_t errlen)
{
	db_stmt_t *st = NULL;
	int rc, pg = reg_is_pg(reg);

	if ((rc = reg_prepare(reg, &st, pg ? pg_stamp_sql : data_version_sql,
	         err, errlen)) != REG_OK)
		return rc;
	rc = db_step(st);
	if (rc != DB_ROW) {
		rc = reg_fail(reg, rc, err, errlen, "change stamp");
		reg_finalize(reg, st);
		return rc;
	}
	out[0] = db_col_int64(st, 0);
	out[1] = pg ? db_col_int64(st, 1) :
	              (int64_t)sqlite3_total_changes64(reg->db);
	if (hold && !pg)
		reg->held = st;
	else
		reg_finalize(reg, st);
	return REG_OK;
}

int reg_change_stamp(reg_t *reg, int64_t out[2], char *err, size_t errlen)
{
	return stamp_read(reg, out, 0, err, errlen);
}

int reg_read_begin(reg_t *reg, int64_t out[2], char *err, size_t errlen)
{
	/* A statement left active keeps an autocommit read transaction
	 * open: no BEGIN/COMMIT to run, and the connection never leaves
	 * autocommit mode (a pooled connection's leak check stays true). */
	reg_read_end(reg);
	return stamp_read(reg, out, 1, err, errlen);
}

void reg_read_end(reg_t *reg)
{
	db_stmt_t *st;

	if (reg == NULL || reg->held == NULL)
		return;
	st = reg->held;
	reg->held = NULL;
	reg_finalize(reg, st);
}

/* One transaction-control statement. SQLite: prepared once per
 * connection (kept with the others): sqlite3_exec parsed BEGIN /
 * SAVEPOINT / RELEASE / COMMIT on every call (~11 k instructions per batch
 * item). PostgreSQL: one simple-protocol round trip. */
static int tx_sql(reg_t *reg, const char *sql, char *err, size_t errlen,
    const char *what)
{
	db_stmt_t *st = NULL;
	int rc;

	if (reg_is_pg(reg)) {
		rc = db_exec(reg->c, sql);
		return rc == DB_OK ? REG_OK :
		                     reg_fail(reg, rc, err, errlen, what);
	}
	if ((rc = reg_prepare(reg, &st, sql, err, errlen)) != REG_OK)
		return rc;
	rc = reg_step_done(reg, st, err, errlen, what);
	reg_finalize(reg, st);
	return rc;
}

/* The outermost BEGIN: SQLite's IMMEDIATE takes the file's write lock;
 * on PostgreSQL every registry writer takes one advisory lock, so the
 * read-check-write rules (idempotent enrollment, CRL numbers, CA states)
 * hold across nodes exactly as across SQLite's processes, while readers
 * never wait (MVCC). The unique constraints stay the last word. */
static const char *begin_sql(const reg_t *reg)
{
	return reg_is_pg(reg) ?
	    "BEGIN; SELECT pg_advisory_xact_lock(" REG_PG_WRITE_LOCK ")" :
	    "BEGIN IMMEDIATE";
}

int reg_begin(reg_t *reg, char *err, size_t errlen)
{
	int rc;

	rc = tx_sql(reg,
	    reg->depth == 0 ? begin_sql(reg) : "SAVEPOINT reg_nested", err,
	    errlen, "begin");
	if (rc == REG_OK)
		reg->depth++;
	else if (reg->depth == 0 && reg_is_pg(reg))
		db_exec(reg->c, "ROLLBACK"); /* BEGIN ran, the lock not */
	return rc;
}

int reg_in_transaction(const reg_t *reg)
{
	return reg->depth > 0;
}

int reg_transaction_open(reg_t *reg)
{
	return db_in_transaction(reg->c);
}

int reg_commit(reg_t *reg, char *err, size_t errlen)
{
	int rc;

	if (reg->depth <= 0) {
		util_err_set(err, errlen, "commit without a transaction");
		return REG_ERR_INVALID;
	}
	rc = tx_sql(reg,
	    reg->depth == 1 ? "COMMIT" : "RELEASE SAVEPOINT reg_nested", err,
	    errlen, "commit");
	if (rc == REG_OK)
		reg->depth--;
	return rc;
}

void reg_rollback(reg_t *reg)
{
	if (reg == NULL || reg->depth <= 0)
		return;
	if (reg->depth == 1) {
		tx_sql(reg, "ROLLBACK", NULL, 0, "rollback");
	} else {
		/* ROLLBACK TO keeps the savepoint open: release it too. */
		tx_sql(reg, "ROLLBACK TO SAVEPOINT reg_nested", NULL, 0,
		    "rollback");
		tx_sql(reg, "RELEASE SAVEPOINT reg_nested", NULL, 0,
		    "rollback");
	}
	reg->depth--;
}

static int integrity(sqlite3 *db, char *err, size_t errlen)
{
	sqlite3_stmt *st = NULL;
	int rc = REG_ERR_INTERNAL;
	const unsigned char *s;

	if (sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL) !=
	    SQLITE_OK) {
		util_err_set(err, errlen, "integrity_check: %s",
		    sqlite3_errmsg(db));
		goto out;
	}
	if (sqlite3_step(st) != SQLITE_ROW) {
		util_err_set(err, errlen, "integrity_check: %s",
		    sqlite3_errmsg(db));
		goto out;
	}
	s = sqlite3_column_text(st, 0);
	if (s != NULL && strcmp((const char *)s, "ok") == 0) {
		rc = REG_OK;
	} else {
		util_err_set(err, errlen, "integrity_check: %s",
		    s != NULL ? (const char *)s : "no answer");
	}
out:
	sqlite3_finalize(st);
	return rc;
}

int reg_backup(reg_t *reg, const char *out_path, char *err, size_t errlen)
{
	sqlite3 *dst = NULL;
	sqlite3_backup *bk = NULL;
	int fd, rc = REG_ERR_INTERNAL, created = 0;

	if (reg->db == NULL) {
		util_err_set(err, errlen,
		    "a PostgreSQL registry is backed up"
		    " with pg_dump or pg_basebackup");
		return REG_ERR_INVALID;
	}
	/* Claim the name exclusively so an existing file is never replaced. */
	fd = open(out_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		util_err_set(err, errlen, "%s: %s", out_path, strerror(errno));
		return REG_ERR_IO;
	}
	close(fd);
	created = 1;
	if (sqlite3_open_v2(out_path, &dst, SQLITE_OPEN_READWRITE, NULL) !=
	    SQLITE_OK) {
		util_err_set(err, errlen, "%s: %s", out_path,
		    dst != NULL ? sqlite3_errmsg(dst) : "cannot open");
		goto out;
	}
	if ((bk = sqlite3_backup_init(dst, "main", reg->db, "main")) == NULL) {
		util_err_set(err, errlen, "backup: %s", sqlite3_errmsg(dst));
		goto out;
	}
	/* Copy in steps so writers on other connections are not starved. */
	for (;;) {
		int s = sqlite3_backup_step(bk, 256);

		if (s == SQLITE_DONE)
			break;
		if (s == SQLITE_OK || s == SQLITE_BUSY || s == SQLITE_LOCKED) {
			if (s != SQLITE_OK)
				sqlite3_sleep(20);
			continue;
		}
		util_err_set(err, errlen, "backup: %s", sqlite3_errstr(s));
		goto out;
	}
	if (sqlite3_backup_finish(bk) != SQLITE_OK) {
		bk = NULL;
		util_err_set(err, errlen, "backup: %s", sqlite3_errmsg(dst));
		goto out;
	}
	bk = NULL;
	if (integrity(dst, err, errlen) != REG_OK)
		goto out;
	rc = REG_OK;
out:
	if (bk != NULL)
		sqlite3_backup_finish(bk);
	sqlite3_close_v2(dst);
	if (rc != REG_OK && created)
		unlink(out_path);
	return rc;
}

int reg_audit_append(reg_t *reg, const char *actor, const char *action,
    const char *target, const char *details_json, char *err, size_t errlen)
{
	db_stmt_t *st = NULL;
	int rc, own;

	/* One audit order on PostgreSQL: ids come from a sequence when the
	 * row is inserted, so two nodes appending at once could commit out
	 * of id order and a reader paging by id could step over one. An
	 * append outside a transaction takes the writers' lock too (SQLite's
	 * autocommit INSERT already holds the write lock to its commit). */
	own = reg_is_pg(reg) && reg->depth == 0;
	if (own && (rc = reg_begin(reg, err, errlen)) != REG_OK)
		return rc;
	if ((rc = reg_prepare(reg, &st,
	         "INSERT INTO audit(at, actor, action,"
	         " target, details) VALUES (?, ?, ?, ?, ?)",
	         err, errlen)) != REG_OK)
		goto out;
	db_bind_int64(st, 1, reg_now());
	reg_bind_text(st, 2, actor != NULL ? actor : "-");
	reg_bind_text(st, 3, action);
	reg_bind_text(st, 4, target != NULL ? target : "");
	reg_bind_text(st, 5, details_json != NULL ? details_json : "{}");
	rc = reg_step_done(reg, st, err, errlen, "audit");
	reg_finalize(reg, st);
out:
	if (own && rc == REG_OK)
		rc = reg_commit(reg, err, errlen);
	if (own && rc != REG_OK)
		reg_rollback(reg);
	return rc;
}

void reg_audit_list_free(reg_audit_t *list, size_t n)
{
	size_t i;

	if (list == NULL)
		return;
	for (i = 0; i < n; i++)
		free(list[i].details);
	free(list);
}

int reg_audit_list(reg_t *reg, reg_audit_t **out, size_t *n, int64_t *next,
    const reg_audit_filter_t *f, char *err, size_t errlen)
{
	db_stmt_t *st = NULL;
	reg_audit_t *list = NULL;
	size_t limit, cnt = 0;
	int rc, s;

	*out = NULL;
	*n = 0;
	*next = 0;
	if (reg_page_limit(f->limit, &limit) != REG_OK) {
		util_err_set(err, errlen, "page size above %d", REG_LIST_MAX);
		return REG_ERR_INVALID;
	}
	if ((rc = reg_prepare(reg, &st,
	         "SELECT id, at, actor, action, target,"
	         " details FROM audit WHERE id > ?1"
	         " AND (?2 IS NULL OR actor = ?2) AND (?3 IS NULL OR action = ?3)"
	         " AND (?4 IS NULL OR target = ?4) AND (?5 = 0 OR at >= ?5)"
	         " AND (?6 = 0 OR at <= ?6) ORDER BY id LIMIT ?7",
	         err, errlen)) != REG_OK)
		return rc;
	db_bind_int64(st, 1, f->after);
	reg_bind_text(st, 2, f->actor);
	reg_bind_text(st, 3, f->action);
	reg_bind_text(st, 4, f->target);
	db_bind_int64(st, 5, f->since);
	db_bind_int64(st, 6, f->until);
	db_bind_int64(st, 7, (int64_t)limit + 1);
	if ((list = calloc(limit + 1, sizeof(*list))) == NULL) {
		util_err_set(err, errlen, "out of memory");
		rc = REG_ERR_INTERNAL;
		goto fail;
	}
	while ((s = db_step(st)) == DB_ROW) {
		reg_audit_t *a = &list[cnt];
		const char *d;

		if (cnt == limit) {
			*next = list[cnt - 1].id;
			break;
		}
		a->id = db_col_int64(st, 0);
		a->at = db_col_int64(st, 1);
		reg_col_copy(a->actor, sizeof(a->actor), st, 2);
		reg_col_copy(a->action, sizeof(a->action), st, 3);
		reg_col_copy(a->target, sizeof(a->target), st, 4);
		d = db_col_text(st, 5);
		if ((a->details = strdup(d != NULL ? (const char *)d : "{}")) ==
		    NULL) {
			util_err_set(err, errlen, "out of memory");
			rc = REG_ERR_INTERNAL;
			goto fail;
		}
		cnt++;
	}
	if (s != DB_ROW && s != DB_DONE) {
		rc = reg_fail(reg, s, err, errlen, "audit list");
		goto fail;
	}
	reg_finalize(reg, st);
	*out = list;
	*n = cnt;
	return REG_OK;
fail:
	reg_finalize(reg, st);
	reg_audit_list_free(list, cnt);
	return rc;
}

int reg_crl_rows(reg_t *reg, db_stmt_t *st, reg_crl_entry_fn fn, void *arg,
    char *err, size_t errlen, const char *what)
{
	int rc = REG_OK, s;

	while ((s = db_step(st)) == DB_ROW) {
		const char *serial = (const char *)db_col_text(st, 0);

		if (serial == NULL)
			continue;
		if ((rc = fn(arg, serial, db_col_int(st, 1),
		         db_col_int64(st, 2))) != 0)
			goto out;
	}
	if (s != DB_DONE)
		rc = reg_fail(reg, s, err, errlen, what);
out:
	reg_finalize(reg, st);
	return rc;
}
