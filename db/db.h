/* db.h — the one interface db/'s stores speak SQL through, with two engines
 * behind it: SQLite (an in-process file) and PostgreSQL 15 (libpq). A
 * statement is written once with SQLite's placeholders (?, ?N); the
 * PostgreSQL engine translates them to $N when it prepares, so SQL differs
 * between engines only where the dialects do. Parameters are always bound,
 * never spliced into text. Not for use outside db/. */
#ifndef PROVCA_DB_H
#define PROVCA_DB_H

#include <stddef.h>
#include <stdint.h>

#include "db_migration.h"

struct sqlite3;

typedef struct db_conn db_conn_t;
typedef struct db_stmt db_stmt_t;

enum db_engine { DB_ENGINE_SQLITE = 1, DB_ENGINE_PG = 2 };

/* Result codes: SQLite's primary codes (the SQLite engine returns its
 * own, extended ones included; compare with db_rc_class), and one of
 * ours for a database server that cannot be reached. */
#define DB_OK 0
#define DB_ERROR 1
#define DB_BUSY 5
#define DB_CONSTRAINT 19
#define DB_ROW 100
#define DB_DONE 101
#define DB_UNAVAILABLE 0x7f01

/* Statements kept prepared per connection. */
#define DB_STMT_CACHE 32

/* The class of rc: DB_OK, DB_ROW, DB_DONE, DB_BUSY (also SQLite's
 * LOCKED), DB_CONSTRAINT, DB_UNAVAILABLE or DB_ERROR. */
int db_rc_class(int rc);

/* Wrap an open SQLite handle (the connection owns it from now on and
 * closes it in db_close). DB_OK or DB_ERROR (out of memory). */
int db_conn_sqlite(db_conn_t **out, struct sqlite3 *h);

/* Open (creating if needed) the SQLite file at path with a busy timeout
 * of busy_ms. DB_OK, or an error code with err filled. */
int db_open_sqlite(db_conn_t **out, const char *path, int busy_ms, char *err,
    size_t errlen);

/* 1 if s names a PostgreSQL database (a postgresql:// or postgres://
 * URL, libpq's connection URI), else 0. */
int db_is_pg_url(const char *s);

/* Connect to PostgreSQL (conninfo: a postgresql:// URL or key=value
 * string), refusing a server older than 15. DB_UNAVAILABLE when it cannot
 * be reached; err says why. */
int db_conn_pg(db_conn_t **out, const char *conninfo, char *err, size_t errlen);

/* Finalize every statement and close; NULL-safe. */
void db_close(db_conn_t *c);

/* DB_ENGINE_SQLITE or DB_ENGINE_PG. */
int db_engine(const db_conn_t *c);

/* The SQLite handle, or NULL on PostgreSQL. */
struct sqlite3 *db_sqlite(db_conn_t *c);

/* Which rule the last DB_CONSTRAINT error on c broke. */
enum db_constraint {
	DB_CONSTRAINT_OTHER = 0,
	DB_CONSTRAINT_UNIQUE = 1, /* UNIQUE or PRIMARY KEY */
	DB_CONSTRAINT_FOREIGNKEY = 2,
	DB_CONSTRAINT_CHECK = 3
};
int db_constraint_kind(db_conn_t *c);

/* The last error's message on c (never NULL). */
const char *db_errmsg(db_conn_t *c);

/* Run sql (no parameters, no rows wanted; may hold several statements).
 * A result code. */
int db_exec(db_conn_t *c, const char *sql);

/* Hand out c's statement for sql, prepared once per connection (sql's
 * address and text are its key); a one-off statement when the cache is
 * full or this one is in use. A result code; *out NULL on failure. */
int db_prepare(db_conn_t *c, db_stmt_t **out, const char *sql);

/* Done with st: its rows are dropped, its bindings cleared, a one-off
 * statement freed. NULL-safe. */
void db_release(db_stmt_t *st);

/* Bind parameter idx (1-based). Text is copied; a blob is referenced
 * until the statement is released. NULL text binds NULL. */
int db_bind_int64(db_stmt_t *st, int idx, int64_t v);
int db_bind_text(db_stmt_t *st, int idx, const char *s);
int db_bind_blob(db_stmt_t *st, int idx, const void *p, size_t n);
int db_bind_null(db_stmt_t *st, int idx);
/* The highest parameter number sql uses. */
int db_bind_count(db_stmt_t *st);

/* Run st / move to its next row: DB_ROW, DB_DONE or an error code. */
int db_step(db_stmt_t *st);

/* Column col (0-based) of the current row. Text and blobs stay valid
 * until the next step or release; NULL reads as 0, NULL and 0 bytes. */
int64_t db_col_int64(db_stmt_t *st, int col);
int db_col_int(db_stmt_t *st, int col);
const char *db_col_text(db_stmt_t *st, int col);
const void *db_col_blob(db_stmt_t *st, int col);
size_t db_col_bytes(db_stmt_t *st, int col);
int db_col_is_null(db_stmt_t *st, int col);

/* Rows the statement st (just run, no rows) inserted, updated or
 * deleted. */
int64_t db_changes(db_stmt_t *st);

/* The id the last INSERT on c gave its identity / rowid column, or -1. */
int64_t db_last_id(db_conn_t *c);

/* 1 while c has a transaction open (explicit or not yet ended). */
int db_in_transaction(db_conn_t *c);

/* Highest version recorded in schema_migrations (0 when none is), or -1
 * when it cannot be read (no table yet, no connection). */
int db_schema_version(db_conn_t *c);

/* Apply every migration of list (n, increasing versions) above the
 * recorded version, each with its record in its own transaction that
 * first takes the engine's writer lock (SQLite: BEGIN IMMEDIATE;
 * PostgreSQL: an advisory lock), so processes opening at once apply each
 * once. A current schema takes no lock. A result code; err on failure. */
int db_migrate(db_conn_t *c, const db_migration_t *list, size_t n, char *err,
    size_t errlen);

#endif
