/* db_sqlite.h — what the SQLite stores share: the numbered-migrations
 * runner (schema_migrations table) and a connection's prepared-statement
 * cache. Not for use outside db/. */
#ifndef PROVCA_DB_SQLITE_H
#define PROVCA_DB_SQLITE_H

#include <stddef.h>

#include <sqlite3.h>

#include "db_migration.h"

/* Statements kept prepared for the life of a connection, keyed by their
 * SQL text's address (checked against the text on every hit). */
#define DB_STMT_CACHE 32

typedef struct {
	struct {
		const char *sql;
		sqlite3_stmt *st;
		int in_use;
	} slot[DB_STMT_CACHE];
} db_stmt_cache_t;

/* Hand out c's statement for sql on h, preparing it (persistent) on first
 * use; a one-off statement when the cache is full or this one is in use
 * (nested). SQLite's result code; *out NULL on failure. Give it back with
 * db_stmt_release. */
int db_stmt_prepare(db_stmt_cache_t *c, sqlite3 *h, sqlite3_stmt **out,
    const char *sql);

/* Done with st: a cached statement is reset and its bindings cleared (no
 * read stays open, no bound buffer is referenced), any other is finalized.
 * NULL-safe. */
void db_stmt_release(db_stmt_cache_t *c, sqlite3_stmt *st);

/* Finalize every cached statement (before closing h). */
void db_stmt_cache_free(db_stmt_cache_t *c);

/* Highest version recorded in schema_migrations (0 when none is), or -1
 * when it cannot be read (no table yet). */
int db_sqlite_schema_version(sqlite3 *h);

/* Apply every migration of list (n, increasing versions) above the
 * recorded version, each with its record in its own BEGIN IMMEDIATE
 * transaction, so processes opening at once apply each once. A current
 * schema takes no write lock. SQLite's result code, err filled on
 * failure. */
int db_sqlite_migrate(sqlite3 *h, const db_migration_t *list, size_t n,
    char *err, size_t errlen);

#endif
