/* db.c — the statement interface of db.h: dispatch to the engine, the
 * SQLite engine itself (a thin layer over sqlite3_*), each connection's
 * prepared-statement cache and the numbered-migrations runner both
 * engines share. */
#include "db_priv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util.h"

/* pg_advisory_xact_lock key of the migrations: "PrCA" in ASCII. */
#define DB_PQ_MIGRATE_LOCK "1349665601"

int db_rc_class(int rc)
{
	int prim;

	if (rc == DB_UNAVAILABLE)
		return DB_UNAVAILABLE;
	prim = rc & 0xff;
	if (prim == SQLITE_OK || prim == SQLITE_ROW || prim == SQLITE_DONE ||
	    prim == SQLITE_CONSTRAINT || prim == SQLITE_BUSY)
		return prim;
	if (prim == SQLITE_LOCKED)
		return DB_BUSY;
	return DB_ERROR;
}

/* A new connection struct of engine e; NULL when out of memory. */
static db_conn_t *conn_new(int e)
{
	db_conn_t *c = calloc(1, sizeof(*c));

	if (c != NULL)
		c->engine = e;
	return c;
}

int db_conn_sqlite(db_conn_t **out, sqlite3 *h)
{
	if ((*out = conn_new(DB_ENGINE_SQLITE)) == NULL)
		return DB_ERROR;
	(*out)->lite = h;
	return DB_OK;
}

int db_open_sqlite(db_conn_t **out, const char *path, int busy_ms, char *err,
    size_t errlen)
{
	sqlite3 *h = NULL;
	int rc;

	*out = NULL;
	rc = sqlite3_open_v2(path, &h,
	    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
	    NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_busy_timeout(h, busy_ms);
	if (rc != SQLITE_OK) {
		util_err_set(err, errlen, "open %s: %s", path,
		    h != NULL ? sqlite3_errmsg(h) : "out of memory");
		sqlite3_close_v2(h);
		return rc;
	}
	if (db_conn_sqlite(out, h) != DB_OK) {
		sqlite3_close_v2(h);
		util_err_set(err, errlen, "out of memory");
		return DB_ERROR;
	}
	return DB_OK;
}

int db_is_pg_url(const char *s)
{
	return s != NULL &&
	    (strncmp(s, "postgresql://", 13) == 0 ||
	        strncmp(s, "postgres://", 11) == 0);
}

int db_conn_pg(db_conn_t **out, const char *conninfo, char *err, size_t errlen)
{
	db_conn_t *c;
	int rc;

	*out = NULL;
	if ((c = conn_new(DB_ENGINE_PG)) == NULL) {
		util_err_set(err, errlen, "out of memory");
		return DB_ERROR;
	}
	if ((rc = db_pq_open(c, conninfo, err, errlen)) != DB_OK) {
		db_close(c);
		return rc;
	}
	*out = c;
	return DB_OK;
}

/* Free st (a statement struct and its engine statement). */
static void stmt_free(db_stmt_t *st)
{
	if (st == NULL)
		return;
	if (st->lite != NULL)
		sqlite3_finalize(st->lite);
	if (st->c->engine == DB_ENGINE_PG)
		db_pq_stmt_free(st);
	free(st);
}

void db_close(db_conn_t *c)
{
	int i;

	if (c == NULL)
		return;
	for (i = 0; i < DB_STMT_CACHE; i++)
		stmt_free(c->slot[i]);
	if (c->engine == DB_ENGINE_PG)
		db_pq_close(c);
	else if (c->lite != NULL)
		sqlite3_close_v2(c->lite);
	free(c);
}

int db_engine(const db_conn_t *c)
{
	return c->engine;
}

sqlite3 *db_sqlite(db_conn_t *c)
{
	return c != NULL ? c->lite : NULL;
}

const char *db_errmsg(db_conn_t *c)
{
	if (c->engine == DB_ENGINE_SQLITE)
		return sqlite3_errmsg(c->lite);
	return c->msg;
}

int db_constraint_kind(db_conn_t *c)
{
	int ext;

	if (c->engine == DB_ENGINE_PG) {
		if (strcmp(c->state, "23505") == 0)
			return DB_CONSTRAINT_UNIQUE;
		if (strcmp(c->state, "23503") == 0)
			return DB_CONSTRAINT_FOREIGNKEY;
		if (strcmp(c->state, "23514") == 0)
			return DB_CONSTRAINT_CHECK;
		return DB_CONSTRAINT_OTHER;
	}
	ext = sqlite3_extended_errcode(c->lite);
	if (ext == SQLITE_CONSTRAINT_UNIQUE ||
	    ext == SQLITE_CONSTRAINT_PRIMARYKEY)
		return DB_CONSTRAINT_UNIQUE;
	if (ext == SQLITE_CONSTRAINT_FOREIGNKEY)
		return DB_CONSTRAINT_FOREIGNKEY;
	if (ext == SQLITE_CONSTRAINT_CHECK)
		return DB_CONSTRAINT_CHECK;
	return DB_CONSTRAINT_OTHER;
}

int db_exec(db_conn_t *c, const char *sql)
{
	if (c->engine == DB_ENGINE_PG)
		return db_pq_exec(c, sql);
	return sqlite3_exec(c->lite, sql, NULL, NULL, NULL);
}

/* A new statement for sql on c (cached: kept for c's life). */
static int stmt_new(db_conn_t *c, db_stmt_t **out, const char *sql, int cached)
{
	db_stmt_t *st = calloc(1, sizeof(*st));
	int rc;

	*out = NULL;
	if (st == NULL)
		return DB_ERROR;
	st->c = c;
	st->sql = sql;
	st->cached = cached;
	if (c->engine == DB_ENGINE_PG)
		rc = db_pq_stmt_init(st);
	else
		rc = cached ?
		    sqlite3_prepare_v3(c->lite, sql, -1,
		        SQLITE_PREPARE_PERSISTENT, &st->lite, NULL) :
		    sqlite3_prepare_v2(c->lite, sql, -1, &st->lite, NULL);
	if (rc != DB_OK) {
		stmt_free(st);
		return rc;
	}
	st->in_use = 1;
	*out = st;
	return DB_OK;
}

int db_prepare(db_conn_t *c, db_stmt_t **out, const char *sql)
{
	int i, free_slot = -1, rc;

	/* Preparing costs more than most of our statements take to run, so
	 * each connection keeps its statements; the text is compared on a
	 * hit in case sql is not a literal. */
	for (i = 0; i < DB_STMT_CACHE; i++) {
		db_stmt_t *st = c->slot[i];

		if (st == NULL) {
			if (free_slot < 0)
				free_slot = i;
			continue;
		}
		if (st->sql == sql && !st->in_use &&
		    strcmp(c->engine == DB_ENGINE_SQLITE ?
		            sqlite3_sql(st->lite) :
		            st->sql,
		        sql) == 0) {
			st->in_use = 1;
			*out = st;
			return DB_OK;
		}
	}
	/* Cache full or this statement already in use (nested): a one-off
	 * statement, freed by db_release. */
	rc = stmt_new(c, out, sql, free_slot >= 0);
	if (rc == DB_OK && free_slot >= 0)
		c->slot[free_slot] = *out;
	return rc;
}

void db_release(db_stmt_t *st)
{
	if (st == NULL)
		return;
	if (!st->cached) {
		stmt_free(st);
		return;
	}
	if (st->c->engine == DB_ENGINE_PG) {
		db_pq_stmt_reset(st);
	} else {
		sqlite3_reset(st->lite);
		sqlite3_clear_bindings(st->lite);
	}
	st->in_use = 0;
}

int db_bind_int64(db_stmt_t *st, int idx, int64_t v)
{
	char buf[24];
	int n;

	if (st->c->engine == DB_ENGINE_SQLITE)
		return sqlite3_bind_int64(st->lite, idx, v);
	n = snprintf(buf, sizeof(buf), "%lld", (long long)v);
	return db_pq_bind(st, idx, buf, (size_t)n, DB_PQ_INT8);
}

int db_bind_text(db_stmt_t *st, int idx, const char *s)
{
	if (st->c->engine == DB_ENGINE_SQLITE)
		return s == NULL ?
		    sqlite3_bind_null(st->lite, idx) :
		    sqlite3_bind_text(st->lite, idx, s, -1, SQLITE_TRANSIENT);
	return db_pq_bind(st, idx, s, s != NULL ? strlen(s) : 0, DB_PQ_TEXT);
}

int db_bind_blob(db_stmt_t *st, int idx, const void *p, size_t n)
{
	if (n > INT32_MAX)
		return DB_ERROR;
	if (st->c->engine == DB_ENGINE_SQLITE)
		return sqlite3_bind_blob(st->lite, idx, p, (int)n,
		    SQLITE_STATIC);
	return db_pq_bind(st, idx, p != NULL ? p : "", n, DB_PQ_BYTEA);
}

int db_bind_null(db_stmt_t *st, int idx)
{
	if (st->c->engine == DB_ENGINE_SQLITE)
		return sqlite3_bind_null(st->lite, idx);
	return db_pq_bind(st, idx, NULL, 0, 0);
}

int db_bind_count(db_stmt_t *st)
{
	if (st->c->engine == DB_ENGINE_SQLITE)
		return sqlite3_bind_parameter_count(st->lite);
	return st->nparams;
}

int db_step(db_stmt_t *st)
{
	if (st->c->engine == DB_ENGINE_SQLITE)
		return sqlite3_step(st->lite);
	return db_pq_step(st);
}

int64_t db_col_int64(db_stmt_t *st, int col)
{
	if (st->c->engine == DB_ENGINE_SQLITE)
		return sqlite3_column_int64(st->lite, col);
	return db_pq_col_int64(st, col);
}

int db_col_int(db_stmt_t *st, int col)
{
	if (st->c->engine == DB_ENGINE_SQLITE)
		return sqlite3_column_int(st->lite, col);
	return (int)db_pq_col_int64(st, col);
}

const char *db_col_text(db_stmt_t *st, int col)
{
	if (st->c->engine == DB_ENGINE_SQLITE)
		return (const char *)sqlite3_column_text(st->lite, col);
	return db_pq_col_text(st, col);
}

const void *db_col_blob(db_stmt_t *st, int col)
{
	size_t n;

	if (st->c->engine == DB_ENGINE_SQLITE)
		return sqlite3_column_blob(st->lite, col);
	return db_pq_col_blob(st, col, &n);
}

size_t db_col_bytes(db_stmt_t *st, int col)
{
	size_t n = 0;
	int b;

	if (st->c->engine == DB_ENGINE_SQLITE) {
		b = sqlite3_column_bytes(st->lite, col);
		return b > 0 ? (size_t)b : 0;
	}
	db_pq_col_blob(st, col, &n);
	return n;
}

int db_col_is_null(db_stmt_t *st, int col)
{
	if (st->c->engine == DB_ENGINE_SQLITE)
		return sqlite3_column_type(st->lite, col) == SQLITE_NULL;
	return db_pq_col_is_null(st, col);
}

int64_t db_changes(db_stmt_t *st)
{
	if (st->c->engine == DB_ENGINE_SQLITE)
		return sqlite3_changes64(st->c->lite);
	return st->changes;
}

int64_t db_last_id(db_conn_t *c)
{
	if (c->engine == DB_ENGINE_SQLITE)
		return sqlite3_last_insert_rowid(c->lite);
	return db_pq_last_id(c);
}

int db_in_transaction(db_conn_t *c)
{
	if (c->engine == DB_ENGINE_SQLITE)
		return !sqlite3_get_autocommit(c->lite);
	return db_pq_in_transaction(c);
}

int db_schema_version(db_conn_t *c)
{
	db_stmt_t *st = NULL;
	int v = -1;

	if (stmt_new(c, &st,
	        "SELECT coalesce(max(version), 0) FROM"
	        " schema_migrations",
	        0) != DB_OK)
		return -1;
	if (db_step(st) == DB_ROW)
		v = db_col_int(st, 0);
	db_release(st);
	return v;
}

/* Run sql (no results); on failure err says what and the message. */
static int exec_what(db_conn_t *c, const char *sql, char *err, size_t errlen,
    const char *what)
{
	int rc = db_exec(c, sql);

	if (rc != DB_OK)
		util_err_set(err, errlen, "%s: %s", what, db_errmsg(c));
	return rc;
}

/* Record m as applied, inside its transaction. */
static int record(db_conn_t *c, const db_migration_t *m, char *err,
    size_t errlen)
{
	db_stmt_t *st = NULL;
	int rc;

	rc = stmt_new(c, &st,
	    "INSERT INTO schema_migrations(version,"
	    " name, applied_at) VALUES (?, ?, ?)",
	    0);
	if (rc == DB_OK && (rc = db_bind_int64(st, 1, m->version)) == DB_OK &&
	    (rc = db_bind_text(st, 2, m->name)) == DB_OK &&
	    (rc = db_bind_int64(st, 3, (int64_t)time(NULL))) == DB_OK)
		rc = db_step(st);
	if (rc == DB_DONE)
		rc = DB_OK;
	else
		util_err_set(err, errlen, "record migration: %s", db_errmsg(c));
	db_release(st);
	return rc;
}

/* Apply m unless a concurrent opener already has: one transaction holding
 * the engine's writer lock reads the version, runs m and records it. */
static int migrate_one(db_conn_t *c, const db_migration_t *m, char *err,
    size_t errlen)
{
	int rc, cur;

	/* The table is created under the lock too: PostgreSQL's CREATE
	 * TABLE IF NOT EXISTS is not safe against a concurrent one. */
	if ((rc = exec_what(c,
	         c->engine == DB_ENGINE_PG ?
	             "BEGIN; SELECT pg_advisory_xact_lock(" DB_PQ_MIGRATE_LOCK
	             ");"
	             " CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER"
	             " PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)" :
	             "BEGIN IMMEDIATE; CREATE TABLE IF NOT EXISTS schema_migrations ("
	             " version INTEGER PRIMARY KEY, name TEXT NOT NULL,"
	             " applied_at INTEGER NOT NULL)",
	         err, errlen, "begin migration")) != DB_OK)
		goto fail;
	if ((cur = db_schema_version(c)) < 0) {
		util_err_set(err, errlen, "cannot read schema version: %s",
		    db_errmsg(c));
		rc = DB_ERROR;
		goto fail;
	}
	if (m->version > cur &&
	    ((rc = exec_what(c, m->sql, err, errlen, m->name)) != DB_OK ||
	        (rc = record(c, m, err, errlen)) != DB_OK))
		goto fail;
	if ((rc = exec_what(c, "COMMIT", err, errlen, "commit migration")) !=
	    DB_OK)
		goto fail;
	return DB_OK;
fail:
	db_exec(c, "ROLLBACK");
	return rc;
}

int db_migrate(db_conn_t *c, const db_migration_t *list, size_t n, char *err,
    size_t errlen)
{
	size_t i;
	int rc;

	/* Already current (every open after the first): no write lock. A
	 * server opening its pooled connections while it writes must not
	 * queue behind its own group commits for a lock it does not need. */
	if (n > 0 && db_schema_version(c) >= list[n - 1].version)
		return DB_OK;
	for (i = 0; i < n; i++) {
		if (i > 0 && list[i].version <= list[i - 1].version) {
			util_err_set(err, errlen, "migration %d out of order",
			    list[i].version);
			return DB_ERROR;
		}
		if ((rc = migrate_one(c, &list[i], err, errlen)) != DB_OK)
			return rc;
	}
	return DB_OK;
}
