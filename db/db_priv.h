/* db_priv.h — what db.c (the interface and the SQLite engine) and db_pq.c
 * (the PostgreSQL engine) share: the connection and statement structs and
 * the PostgreSQL engine's entry points. Not for use outside db/db*.c. */
#ifndef PROVCA_DB_PRIV_H
#define PROVCA_DB_PRIV_H

#include <sqlite3.h>

#include "db.h"

/* Most parameters one statement binds on PostgreSQL. */
#define DB_PQ_MAX_PARAMS 32

struct db_stmt {
	db_conn_t *c;
	const char *sql; /* the text as written (cache key) */
	int cached, in_use;
	sqlite3_stmt *lite; /* SQLite engine */
	/* PostgreSQL engine: the translated text, the name it is prepared
	 * under on connection generation gen, and one execution's state. */
	char *pgsql;
	int nparams;
	char name[16];
	unsigned gen;
	unsigned types[DB_PQ_MAX_PARAMS];
	char *val[DB_PQ_MAX_PARAMS];
	int len[DB_PQ_MAX_PARAMS];
	int fmt[DB_PQ_MAX_PARAMS];
	unsigned char owned[DB_PQ_MAX_PARAMS];
	void *res; /* PGresult of the execution */
	int ran, row, nrows;
	int64_t changes;
	char num[24]; /* an integer column read as text */
};

struct db_conn {
	int engine;
	sqlite3 *lite;
	void *pq; /* PGconn */
	char *conninfo;
	unsigned gen;   /* PostgreSQL: bumped on reconnect */
	unsigned names; /* prepared-statement names used */
	int intx;       /* PostgreSQL: a transaction is open */
	int lost;       /* ... and its connection was lost */
	db_stmt_t *slot[DB_STMT_CACHE];
	char state[6]; /* PostgreSQL: last error's SQLSTATE */
	char msg[512];
};

/* The PostgreSQL engine (db_pq.c), called by db.c's dispatch. */
int db_pq_open(db_conn_t *c, const char *conninfo, char *err, size_t errlen);
void db_pq_close(db_conn_t *c);
int db_pq_exec(db_conn_t *c, const char *sql);
int db_pq_stmt_init(db_stmt_t *st);
void db_pq_stmt_reset(db_stmt_t *st);
void db_pq_stmt_free(db_stmt_t *st);
int db_pq_bind(db_stmt_t *st, int idx, const void *p, size_t n, unsigned type);
int db_pq_step(db_stmt_t *st);
int64_t db_pq_col_int64(db_stmt_t *st, int col);
const char *db_pq_col_text(db_stmt_t *st, int col);
const void *db_pq_col_blob(db_stmt_t *st, int col, size_t *n);
int db_pq_col_is_null(db_stmt_t *st, int col);
int64_t db_pq_last_id(db_conn_t *c);
int db_pq_in_transaction(db_conn_t *c);

/* PostgreSQL type OIDs the engine binds and reads (pg_type.h). */
#define DB_PQ_BOOL 16
#define DB_PQ_BYTEA 17
#define DB_PQ_INT8 20
#define DB_PQ_INT2 21
#define DB_PQ_INT4 23
#define DB_PQ_TEXT 25

#endif
