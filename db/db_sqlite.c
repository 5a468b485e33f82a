/* db_sqlite.c — the SQLite stores' shared machinery: a per-connection
 * prepared-statement cache and the numbered-migrations runner. */
#include "db_sqlite.h"

#include <string.h>
#include <time.h>

#include "util.h"

int db_stmt_prepare(db_stmt_cache_t *c, sqlite3 *h, sqlite3_stmt **out,
    const char *sql)
{
	int rc, i, free_slot = -1;

	/* Preparing costs more than most of our statements take to run, so
	 * each connection keeps its statements; the text is compared on a
	 * hit in case sql is not a literal. */
	for (i = 0; i < DB_STMT_CACHE; i++) {
		if (c->slot[i].st == NULL) {
			if (free_slot < 0)
				free_slot = i;
			continue;
		}
		if (c->slot[i].sql == sql && !c->slot[i].in_use &&
		    strcmp(sqlite3_sql(c->slot[i].st), sql) == 0) {
			c->slot[i].in_use = 1;
			*out = c->slot[i].st;
			return SQLITE_OK;
		}
	}
	if (free_slot >= 0) {
		rc = sqlite3_prepare_v3(h, sql, -1, SQLITE_PREPARE_PERSISTENT,
		    out, NULL);
		if (rc == SQLITE_OK) {
			c->slot[free_slot].sql = sql;
			c->slot[free_slot].st = *out;
			c->slot[free_slot].in_use = 1;
			return SQLITE_OK;
		}
	} else {
		/* Cache full or this statement already in use (nested): a
		 * one-off statement, finalized by db_stmt_release. */
		rc = sqlite3_prepare_v2(h, sql, -1, out, NULL);
		if (rc == SQLITE_OK)
			return SQLITE_OK;
	}
	*out = NULL;
	return rc;
}

void db_stmt_release(db_stmt_cache_t *c, sqlite3_stmt *st)
{
	int i;

	if (st == NULL)
		return;
	for (i = 0; c != NULL && i < DB_STMT_CACHE; i++) {
		if (c->slot[i].st == st) {
			sqlite3_reset(st);
			sqlite3_clear_bindings(st);
			c->slot[i].in_use = 0;
			return;
		}
	}
	sqlite3_finalize(st);
}

void db_stmt_cache_free(db_stmt_cache_t *c)
{
	int i;

	for (i = 0; i < DB_STMT_CACHE; i++) {
		sqlite3_finalize(c->slot[i].st);
		c->slot[i].st = NULL;
	}
}

int db_sqlite_schema_version(sqlite3 *h)
{
	sqlite3_stmt *st = NULL;
	int v = -1;

	if (sqlite3_prepare_v2(h,
	    "SELECT coalesce(max(version), 0) FROM schema_migrations", -1, &st,
	    NULL) != SQLITE_OK)
		goto out;
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int(st, 0);
out:
	sqlite3_finalize(st);
	return v;
}

/* Run sql (no results); on failure err says what and SQLite's message. */
static int exec_sql(sqlite3 *h, const char *sql, char *err, size_t errlen,
    const char *what)
{
	int rc = sqlite3_exec(h, sql, NULL, NULL, NULL);

	if (rc != SQLITE_OK)
		util_err_set(err, errlen, "%s: %s", what, sqlite3_errmsg(h));
	return rc;
}

/* Record m as applied, inside its transaction. */
static int record(sqlite3 *h, const db_migration_t *m, char *err,
    size_t errlen)
{
	sqlite3_stmt *st = NULL;
	int rc;

	rc = sqlite3_prepare_v2(h, "INSERT INTO schema_migrations(version,"
	    " name, applied_at) VALUES (?, ?, ?)", -1, &st, NULL);
	if (rc == SQLITE_OK &&
	    (rc = sqlite3_bind_int(st, 1, m->version)) == SQLITE_OK &&
	    (rc = sqlite3_bind_text(st, 2, m->name, -1, SQLITE_STATIC)) ==
	    SQLITE_OK &&
	    (rc = sqlite3_bind_int64(st, 3, (sqlite3_int64)time(NULL))) ==
	    SQLITE_OK)
		rc = sqlite3_step(st) == SQLITE_DONE ? SQLITE_OK :
		    sqlite3_errcode(h);
	if (rc != SQLITE_OK)
		util_err_set(err, errlen, "record migration: %s",
		    sqlite3_errmsg(h));
	sqlite3_finalize(st);
	return rc;
}

/* Apply m unless a concurrent opener already has: one IMMEDIATE
 * transaction reads the version, runs m and records it. */
static int migrate_one(sqlite3 *h, const db_migration_t *m, char *err,
    size_t errlen)
{
	int rc, cur;

	if ((rc = exec_sql(h, "BEGIN IMMEDIATE", err, errlen,
	    "begin migration")) != SQLITE_OK)
		return rc;
	if ((cur = db_sqlite_schema_version(h)) < 0) {
		util_err_set(err, errlen, "cannot read schema version");
		rc = SQLITE_ERROR;
		goto fail;
	}
	if (m->version > cur &&
	    ((rc = exec_sql(h, m->sql, err, errlen, m->name)) != SQLITE_OK ||
	    (rc = record(h, m, err, errlen)) != SQLITE_OK))
		goto fail;
	if ((rc = exec_sql(h, "COMMIT", err, errlen, "commit migration")) !=
	    SQLITE_OK)
		goto fail;
	return SQLITE_OK;
fail:
	sqlite3_exec(h, "ROLLBACK", NULL, NULL, NULL);
	return rc;
}

int db_sqlite_migrate(sqlite3 *h, const db_migration_t *list, size_t n,
    char *err, size_t errlen)
{
	size_t i;
	int rc;

	/* Already current (every open after the first): no write lock. A
	 * server opening its pooled connections while it writes must not
	 * queue behind its own group commits for a lock it does not need. */
	if (n > 0 && db_sqlite_schema_version(h) >= list[n - 1].version)
		return SQLITE_OK;
	if ((rc = exec_sql(h, "CREATE TABLE IF NOT EXISTS schema_migrations ("
	    " version INTEGER PRIMARY KEY, name TEXT NOT NULL,"
	    " applied_at INTEGER NOT NULL)", err, errlen,
	    "schema_migrations")) != SQLITE_OK)
		return rc;
	for (i = 0; i < n; i++) {
		if (i > 0 && list[i].version <= list[i - 1].version) {
			util_err_set(err, errlen, "migration %d out of order",
			    list[i].version);
			return SQLITE_ERROR;
		}
		if ((rc = migrate_one(h, &list[i], err, errlen)) != SQLITE_OK)
			return rc;
	}
	return SQLITE_OK;
}
