/* reg_priv.h — what the registry's own files share: the connection struct
 * and statement helpers. Not for use outside db/reg*.c. */
#ifndef PROVCA_REG_PRIV_H
#define PROVCA_REG_PRIV_H

#include <sqlite3.h>

#include "db.h"
#include "reg.h"

struct reg {
	db_conn_t *c;    /* the engine connection (db.h) */
	sqlite3 *db;     /* c's SQLite handle; NULL on PostgreSQL */
	int depth;       /* open transaction levels */
	db_stmt_t *held; /* reg_read_begin's statement, left active */
};

/* Map a db.h result code to a reg_error, with the message in err. */
int reg_fail(reg_t *reg, int rc, char *err, size_t errlen, const char *what);

/* Prepare sql, or hand out this connection's cached statement for it
 * (db_prepare); on failure fill err and return a reg_error. Give it back
 * with reg_finalize. */
int reg_prepare(reg_t *reg, db_stmt_t **out, const char *sql, char *err,
    size_t errlen);

/* Done with st: a cached statement is reset and its bindings cleared (so
 * no read transaction stays open and no bound buffer is referenced), any
 * other is finalized. NULL-safe. */
void reg_finalize(reg_t *reg, db_stmt_t *st);

/* Bind text, or NULL when s is NULL. */
int reg_bind_text(db_stmt_t *st, int idx, const char *s);

/* Copy column col (text, may be NULL) into dst of dstlen bytes. */
void reg_col_copy(char *dst, size_t dstlen, db_stmt_t *st, int col);

/* Step a statement that returns no row: REG_OK or the mapped error. */
int reg_step_done(reg_t *reg, db_stmt_t *st, char *err, size_t errlen,
    const char *what);

/* Step st, a prepared and bound CRL entries query (serial_hex, reason,
 * revoked_at), calling fn for each row until fn returns non-zero (that
 * value is returned); st is finalized. what names the query in err. */
int reg_crl_rows(reg_t *reg, db_stmt_t *st, reg_crl_entry_fn fn, void *arg,
    char *err, size_t errlen, const char *what);

/* Length check for a page size: 0 -> 100, above REG_LIST_MAX -> error. */
int reg_page_limit(size_t limit, size_t *out);

#endif
