/* reg_priv.h — what the registry's own files share: the connection struct
 * and statement helpers. Not for use outside db/reg*.c. */
#ifndef PROVCA_REG_PRIV_H
#define PROVCA_REG_PRIV_H

#include <sqlite3.h>

#include "db_sqlite.h"
#include "reg.h"

struct reg {
	sqlite3 *db;
	int depth;		/* open transaction levels */
	sqlite3_stmt *held;	/* reg_read_begin's statement, left active */
	db_stmt_cache_t stmts;	/* kept prepared for the connection's life */
};

/* Map a SQLite result code to a reg_error, with the message in err. */
int reg_fail(reg_t *reg, int rc, char *err, size_t errlen, const char *what);

/* Prepare sql, or hand out this connection's cached statement for it
 * (SQLITE_PREPARE_PERSISTENT, reset and unbound); on failure fill err and
 * return a reg_error. Give it back with reg_finalize. */
int reg_prepare(reg_t *reg, sqlite3_stmt **out, const char *sql, char *err,
    size_t errlen);

/* Done with st: a cached statement is reset and its bindings cleared (so
 * no read transaction stays open and no bound buffer is referenced), any
 * other is finalized. NULL-safe. */
void reg_finalize(reg_t *reg, sqlite3_stmt *st);

/* Bind text, or NULL when s is NULL. */
int reg_bind_text(sqlite3_stmt *st, int idx, const char *s);

/* Copy column col (text, may be NULL) into dst of dstlen bytes. */
void reg_col_copy(char *dst, size_t dstlen, sqlite3_stmt *st, int col);

/* Length check for a page size: 0 -> 100, above REG_LIST_MAX -> error. */
int reg_page_limit(size_t limit, size_t *out);

#endif
