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

#include "util.h"

#define REG_BUSY_TIMEOUT_MS 10000

/* The reg_error of a SQLite result code. */
static int reg_code(int rc)
{
	int prim = rc & 0xff;

	if (prim == SQLITE_CONSTRAINT)
		return REG_ERR_CONSTRAINT;
	if (prim == SQLITE_BUSY || prim == SQLITE_LOCKED)
		return REG_ERR_BUSY;
	return REG_ERR_INTERNAL;
}

int reg_fail(reg_t *reg, int rc, char *err, size_t errlen, const char *what)
{
	util_err_set(err, errlen, "%s: %s", what,
	    reg != NULL && reg->db != NULL ? sqlite3_errmsg(reg->db) :
	    sqlite3_errstr(rc));
	return reg_code(rc);
}

int reg_prepare(reg_t *reg, sqlite3_stmt **out, const char *sql, char *err,
    size_t errlen)
{
	int rc = db_stmt_prepare(&reg->stmts, reg->db, out, sql);

	if (rc != SQLITE_OK)
		return reg_fail(reg, rc, err, errlen, "prepare");
	return REG_OK;
}

void reg_finalize(reg_t *reg, sqlite3_stmt *st)
{
	db_stmt_release(reg != NULL ? &reg->stmts : NULL, st);
}

int reg_bind_text(sqlite3_stmt *st, int idx, const char *s)
{
	if (s == NULL)
		return sqlite3_bind_null(st, idx);
	return sqlite3_bind_text(st, idx, s, -1, SQLITE_TRANSIENT);
}

void reg_col_copy(char *dst, size_t dstlen, sqlite3_stmt *st, int col)
{
	const unsigned char *s = sqlite3_column_text(st, col);
	size_t n;

	if (dstlen == 0)
		return;
	if (s == NULL) {
		dst[0] = '\0';
		return;
	}
	n = (size_t)sqlite3_column_bytes(st, col);
	if (n >= dstlen)
		n = dstlen - 1;
	memcpy(dst, s, n);
	dst[n] = '\0';
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
	int rc = sqlite3_exec(reg->db, sql, NULL, NULL, NULL);

	if (rc != SQLITE_OK)
		return reg_fail(reg, rc, err, errlen, what);
	return REG_OK;
}

int reg_schema_version(reg_t *reg)
{
	int v = db_sqlite_schema_version(reg->db);

	return v < 0 ? REG_ERR_INTERNAL : v;
}

/* Apply pending migrations (db_sqlite_migrate: each in its own IMMEDIATE
 * transaction; none, and no write lock, when current). */
static int migrate(reg_t *reg, char *err, size_t errlen)
{
	int rc = db_sqlite_migrate(reg->db, reg_migrations,
	    reg_migrations_count, err, errlen);

	return rc == SQLITE_OK ? REG_OK : reg_code(rc);
}

/* Switch the registry to WAL unless it is already: the switch takes the
 * write lock, the question does not. */
static int wal_on(reg_t *reg, char *err, size_t errlen)
{
	sqlite3_stmt *st = NULL;
	int wal = 0;

	if (sqlite3_prepare_v2(reg->db, "PRAGMA journal_mode", -1, &st,
	    NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW) {
		const unsigned char *m = sqlite3_column_text(st, 0);

		wal = m != NULL && strcmp((const char *)m, "wal") == 0;
	}
	sqlite3_finalize(st);
	if (wal)
		return REG_OK;
	return exec_sql(reg, "PRAGMA journal_mode=WAL", err, errlen, "WAL");
}

static int open_flags(reg_t **out, const char *path, int flags, char *err,
    size_t errlen)
{
	reg_t *reg;
	int rc;

	*out = NULL;
	if ((reg = calloc(1, sizeof(*reg))) == NULL) {
		util_err_set(err, errlen, "out of memory");
		return REG_ERR_INTERNAL;
	}
	rc = sqlite3_open_v2(path, &reg->db, flags | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		rc = reg_fail(reg, rc, err, errlen, "open registry");
		if (rc != REG_ERR_BUSY)
			rc = (flags & SQLITE_OPEN_CREATE) ? REG_ERR_IO :
			    REG_ERR_NOT_FOUND;
		goto fail;
	}
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
		goto fail;
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
	/* Owner-only: the registry names every device and principal. */
	if (util_file_owner_only(path, "registry", err, errlen) != 0)
		return REG_ERR_IO;
	return open_flags(out, path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
	    err, errlen);
}

int reg_open_existing(reg_t **out, const char *path, char *err,
    size_t errlen)
{
	struct stat sb;

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
	db_stmt_cache_free(&reg->stmts);
	if (reg->db != NULL) {
		if (reg->depth > 0)
			sqlite3_exec(reg->db, "ROLLBACK", NULL, NULL, NULL);
		sqlite3_close_v2(reg->db);
	}
	free(reg);
}

struct sqlite3 *reg_sqlite(reg_t *reg)
{
	return reg->db;
}

static const char data_version_sql[] = "PRAGMA data_version";

/* Read the stamp; the statement is left active (its read transaction
 * open) when hold, and is then reg->held. */
static int stamp_read(reg_t *reg, int64_t out[2], int hold, char *err,
    size_t errlen)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if ((rc = reg_prepare(reg, &st, data_version_sql, err, errlen)) !=
	    REG_OK)
		return rc;
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		rc = reg_fail(reg, rc, err, errlen, "data_version");
		reg_finalize(reg, st);
		return rc;
	}
	out[0] = sqlite3_column_int64(st, 0);
	out[1] = (int64_t)sqlite3_total_changes64(reg->db);
	if (hold)
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
	sqlite3_stmt *st;

	if (reg == NULL || reg->held == NULL)
		return;
	st = reg->held;
	reg->held = NULL;
	reg_finalize(reg, st);
}

/* One transaction-control statement, prepared once per connection (kept
 * with the others): sqlite3_exec parsed BEGIN / SAVEPOINT / RELEASE /
 * COMMIT on every call (~11 k instructions per batch item). */
static int tx_sql(reg_t *reg, const char *sql, char *err, size_t errlen,
    const char *what)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if ((rc = reg_prepare(reg, &st, sql, err, errlen)) != REG_OK)
		return rc;
	rc = sqlite3_step(st);
	rc = rc == SQLITE_DONE ? REG_OK : reg_fail(reg, rc, err, errlen, what);
	reg_finalize(reg, st);
	return rc;
}

int reg_begin(reg_t *reg, char *err, size_t errlen)
{
	int rc;

	rc = tx_sql(reg, reg->depth == 0 ? "BEGIN IMMEDIATE" :
	    "SAVEPOINT reg_nested", err, errlen, "begin");
	if (rc == REG_OK)
		reg->depth++;
	return rc;
}

int reg_in_transaction(const reg_t *reg)
{
	return reg->depth > 0;
}

int reg_transaction_open(reg_t *reg)
{
	return !sqlite3_get_autocommit(reg->db);
}

int reg_commit(reg_t *reg, char *err, size_t errlen)
{
	int rc;

	if (reg->depth <= 0) {
		util_err_set(err, errlen, "commit without a transaction");
		return REG_ERR_INVALID;
	}
	rc = tx_sql(reg, reg->depth == 1 ? "COMMIT" :
	    "RELEASE SAVEPOINT reg_nested", err, errlen, "commit");
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

	if (sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st,
	    NULL) != SQLITE_OK) {
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
	sqlite3_stmt *st = NULL;
	int rc;

	if ((rc = reg_prepare(reg, &st, "INSERT INTO audit(at, actor, action,"
	    " target, details) VALUES (?, ?, ?, ?, ?)", err, errlen)) != REG_OK)
		return rc;
	sqlite3_bind_int64(st, 1, reg_now());
	reg_bind_text(st, 2, actor != NULL ? actor : "-");
	reg_bind_text(st, 3, action);
	reg_bind_text(st, 4, target != NULL ? target : "");
	reg_bind_text(st, 5, details_json != NULL ? details_json : "{}");
	rc = sqlite3_step(st);
	rc = rc == SQLITE_DONE ? REG_OK : reg_fail(reg, rc, err, errlen,
	    "audit");
	reg_finalize(reg, st);
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
	sqlite3_stmt *st = NULL;
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
	if ((rc = reg_prepare(reg, &st, "SELECT id, at, actor, action, target,"
	    " details FROM audit WHERE id > ?1"
	    " AND (?2 IS NULL OR actor = ?2) AND (?3 IS NULL OR action = ?3)"
	    " AND (?4 IS NULL OR target = ?4) AND (?5 = 0 OR at >= ?5)"
	    " AND (?6 = 0 OR at <= ?6) ORDER BY id LIMIT ?7", err,
	    errlen)) != REG_OK)
		return rc;
	sqlite3_bind_int64(st, 1, f->after);
	reg_bind_text(st, 2, f->actor);
	reg_bind_text(st, 3, f->action);
	reg_bind_text(st, 4, f->target);
	sqlite3_bind_int64(st, 5, f->since);
	sqlite3_bind_int64(st, 6, f->until);
	sqlite3_bind_int64(st, 7, (sqlite3_int64)limit + 1);
	if ((list = calloc(limit + 1, sizeof(*list))) == NULL) {
		util_err_set(err, errlen, "out of memory");
		rc = REG_ERR_INTERNAL;
		goto fail;
	}
	while ((s = sqlite3_step(st)) == SQLITE_ROW) {
		reg_audit_t *a = &list[cnt];
		const unsigned char *d;

		if (cnt == limit) {
			*next = list[cnt - 1].id;
			break;
		}
		a->id = sqlite3_column_int64(st, 0);
		a->at = sqlite3_column_int64(st, 1);
		reg_col_copy(a->actor, sizeof(a->actor), st, 2);
		reg_col_copy(a->action, sizeof(a->action), st, 3);
		reg_col_copy(a->target, sizeof(a->target), st, 4);
		d = sqlite3_column_text(st, 5);
		if ((a->details = strdup(d != NULL ? (const char *)d : "{}")) ==
		    NULL) {
			util_err_set(err, errlen, "out of memory");
			rc = REG_ERR_INTERNAL;
			goto fail;
		}
		cnt++;
	}
	if (s != SQLITE_ROW && s != SQLITE_DONE) {
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
