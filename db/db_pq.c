/* db_pq.c — the PostgreSQL engine of db.h over libpq: connect (and
 * reconnect after the server restarts), statements prepared once per
 * connection with their ?N placeholders translated to $N, parameters sent
 * as text (integers, strings) or binary (bytea), rows read in binary. */
#include "db_priv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "util.h"

/* Seconds libpq waits for a connection before calling it unreachable. */
#define DB_PQ_CONNECT_TIMEOUT "10"

/* libpq's notices (e.g. ROLLBACK outside a transaction) go nowhere:
 * nothing in db/ prints. */
static void pq_quiet(void *arg, const char *msg)
{
	(void)arg;
	(void)msg;
}

/* Keep libpq's message in c->msg (its trailing newline cut). */
static void pq_msg(db_conn_t *c, const char *what, const char *msg)
{
	size_t n = msg != NULL ? strlen(msg) : 0;

	while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
		n--;
	snprintf(c->msg, sizeof(c->msg), "%s%s%.*s", what != NULL ? what : "",
	    what != NULL ? ": " : "", (int)n, n > 0 ? msg : "");
}

/* The result code of a failed result res (may be NULL) on c. */
static int pq_fail(db_conn_t *c, PGresult *res)
{
	PGconn *pq = c->pq;
	const char *state =
	    res != NULL ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;

	pq_msg(c, NULL,
	    res != NULL ? PQresultErrorMessage(res) : PQerrorMessage(pq));
	snprintf(c->state, sizeof(c->state), "%s", state != NULL ? state : "");
	if (PQstatus(pq) != CONNECTION_OK ||
	    (state != NULL &&
	        (strncmp(state, "08", 2) == 0 || strcmp(state, "57P01") == 0)))
		return DB_UNAVAILABLE;
	if (state != NULL && strncmp(state, "23", 2) == 0)
		return DB_CONSTRAINT; /* integrity violation */
	if (state != NULL &&
	    (strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0 ||
	        strcmp(state, "55P03") == 0))
		return DB_BUSY; /* serialization, deadlock, lock */
	return DB_ERROR;
}

/* Session settings every connection (and reconnection) gets. */
static int pq_session(db_conn_t *c)
{
	PQsetNoticeProcessor(c->pq, pq_quiet, NULL);
	return db_pq_exec(c, "SET client_min_messages = warning");
}

int db_pq_open(db_conn_t *c, const char *conninfo, char *err, size_t errlen)
{
	static const char *keys[] = { "connect_timeout", "application_name",
		"dbname", NULL };
	const char *vals[] = { DB_PQ_CONNECT_TIMEOUT, "ca-server", conninfo,
		NULL };

	if ((c->conninfo = strdup(conninfo)) == NULL) {
		util_err_set(err, errlen, "out of memory");
		return DB_ERROR;
	}
	/* expand_dbname: dbname may be a whole URL or key=value string;
	 * it comes last, so what it says overrides the defaults before it. */
	if ((c->pq = PQconnectdbParams(keys, vals, 1)) == NULL) {
		util_err_set(err, errlen, "out of memory");
		return DB_ERROR;
	}
	if (PQstatus(c->pq) != CONNECTION_OK) {
		pq_msg(c, "PostgreSQL unreachable", PQerrorMessage(c->pq));
		util_err_set(err, errlen, "%s", c->msg);
		return DB_UNAVAILABLE;
	}
	if (PQserverVersion(c->pq) < 150000) {
		util_err_set(err, errlen,
		    "PostgreSQL %d is too old: the "
		    "registry needs 15 or later",
		    PQserverVersion(c->pq));
		return DB_ERROR;
	}
	if (pq_session(c) != DB_OK) {
		util_err_set(err, errlen, "session settings: %s", c->msg);
		return DB_UNAVAILABLE;
	}
	return DB_OK;
}

void db_pq_close(db_conn_t *c)
{
	if (c->pq != NULL)
		PQfinish(c->pq);
	c->pq = NULL;
	free(c->conninfo);
	c->conninfo = NULL;
}

/*
 * Make sure c is connected before a statement runs. A connection that was
 * lost outside a transaction is re-established (the server restarted);
 * its prepared statements are gone, so the generation moves on. One lost
 * inside a transaction is not: that transaction is gone, and the caller
 * must learn it (DB_UNAVAILABLE) before anything runs in autocommit.
 */
static int pq_ready(db_conn_t *c)
{
	if (c->lost) {
		snprintf(c->msg, sizeof(c->msg),
		    "PostgreSQL connection lost"
		    " in a transaction: roll it back");
		return DB_UNAVAILABLE;
	}
	if (PQstatus(c->pq) == CONNECTION_OK)
		return DB_OK;
	if (c->intx) {
		c->intx = 0;
		c->lost = 1;
		pq_msg(c, "PostgreSQL connection lost in a transaction",
		    PQerrorMessage(c->pq));
		return DB_UNAVAILABLE;
	}
	PQreset(c->pq);
	if (PQstatus(c->pq) != CONNECTION_OK) {
		pq_msg(c, "PostgreSQL unreachable", PQerrorMessage(c->pq));
		return DB_UNAVAILABLE;
	}
	c->gen++;
	return pq_session(c);
}

/* Note whether c is inside a transaction after a command; a transaction
 * whose connection died is lost until the caller's ROLLBACK. */
static void pq_note_tx(db_conn_t *c)
{
	PGTransactionStatusType t;

	if (PQstatus(c->pq) != CONNECTION_OK) {
		if (c->intx)
			c->lost = 1;
		c->intx = 0;
		return;
	}
	t = PQtransactionStatus(c->pq);
	c->intx =
	    t == PQTRANS_INTRANS || t == PQTRANS_INERROR || t == PQTRANS_ACTIVE;
}

/* 1 when sql may run again after its connection died under it outside a
 * transaction: it started one, read, or set the session (a write in
 * autocommit may have committed before the connection went). */
static int pq_retryable(const char *sql)
{
	return strncmp(sql, "BEGIN", 5) == 0 ||
	    strncmp(sql, "SELECT", 6) == 0 || strncmp(sql, "SET ", 4) == 0;
}

/* A connection the server ended while idle (a restart) fails its next
 * command; run f once more on a fresh one when that command may be
 * repeated. res is the failed result; the new one or res. */
static PGresult *pq_again(db_conn_t *c, PGresult *res, int was_intx,
    const char *sql, PGresult *(*f)(void *), void *arg)
{
	ExecStatusType t = PQresultStatus(res);

	if (t == PGRES_COMMAND_OK || t == PGRES_TUPLES_OK || was_intx ||
	    PQstatus(c->pq) == CONNECTION_OK || !pq_retryable(sql))
		return res;
	c->intx = 0;
	c->lost = 0;
	if (pq_ready(c) != DB_OK)
		return res;
	PQclear(res);
	return f(arg);
}

struct pq_exec_arg {
	db_conn_t *c;
	const char *sql;
};

static PGresult *pq_exec_once(void *arg)
{
	struct pq_exec_arg *a = arg;

	return PQexec(a->c->pq, a->sql);
}

int db_pq_exec(db_conn_t *c, const char *sql)
{
	struct pq_exec_arg a = { c, sql };
	PGresult *res;
	int rc = DB_OK, was = c->intx;

	/* The server ended a lost transaction already; its owner's
	 * ROLLBACK is what lets the connection be used again. */
	if (c->lost && strcmp(sql, "ROLLBACK") == 0) {
		c->lost = 0;
		return DB_OK;
	}

	if ((rc = pq_ready(c)) != DB_OK)
		return rc;
	res = pq_again(c, PQexec(c->pq, sql), was, sql, pq_exec_once, &a);
	if (PQresultStatus(res) != PGRES_COMMAND_OK &&
	    PQresultStatus(res) != PGRES_TUPLES_OK) {
		rc = pq_fail(c, res);
	} else if (strcmp(sql, "COMMIT") == 0 &&
	    strcmp(PQcmdStatus(res), "ROLLBACK") == 0) {
		/* The transaction had failed: COMMIT rolled it back. */
		snprintf(c->msg, sizeof(c->msg),
		    "transaction aborted by an"
		    " earlier error: rolled back");
		rc = DB_ERROR;
	}
	PQclear(res);
	pq_note_tx(c);
	return rc;
}

int db_pq_in_transaction(db_conn_t *c)
{
	return c->intx || c->lost;
}

/* Translate SQLite placeholders (?N, and ? for one past the highest so
 * far) into PostgreSQL's $N, leaving quoted text alone; the highest
 * number in *nparams. A new string or NULL (out of memory, too many). */
static char *pq_translate(const char *sql, int *nparams)
{
	size_t n = strlen(sql), o = 0, i;
	char *out = malloc(n * 3 + 1), quote = 0;
	int hi = 0;

	if (out == NULL)
		return NULL;
	for (i = 0; i < n; i++) {
		char ch = sql[i];
		long v;

		if (quote != 0) {
			if (ch == quote)
				quote = 0;
			out[o++] = ch;
			continue;
		}
		if (ch == '\'' || ch == '"') {
			quote = ch;
			out[o++] = ch;
			continue;
		}
		if (ch != '?') {
			out[o++] = ch;
			continue;
		}
		if (sql[i + 1] >= '0' && sql[i + 1] <= '9') {
			char *end;

			v = strtol(sql + i + 1, &end, 10);
			i = (size_t)(end - sql) - 1;
		} else {
			v = hi + 1;
		}
		if (v < 1 || v > DB_PQ_MAX_PARAMS) {
			free(out);
			return NULL;
		}
		if (v > hi)
			hi = (int)v;
		o += (size_t)sprintf(out + o, "$%ld", v);
	}
	out[o] = '\0';
	*nparams = hi;
	return out;
}

int db_pq_stmt_init(db_stmt_t *st)
{
	if ((st->pgsql = pq_translate(st->sql, &st->nparams)) == NULL) {
		snprintf(st->c->msg, sizeof(st->c->msg),
		    "statement has too many parameters (or no memory)");
		return DB_ERROR;
	}
	/* Only a cached statement is prepared under a name (for the
	 * connection's life); a one-off one runs unnamed. */
	if (st->cached)
		snprintf(st->name, sizeof(st->name), "s%u", ++st->c->names);
	return DB_OK;
}

void db_pq_stmt_reset(db_stmt_t *st)
{
	int i;

	PQclear(st->res);
	st->res = NULL;
	st->ran = st->row = st->nrows = 0;
	st->changes = 0;
	for (i = 0; i < st->nparams; i++) {
		if (st->owned[i])
			free(st->val[i]);
		st->val[i] = NULL;
		st->owned[i] = 0;
		st->len[i] = 0;
		st->fmt[i] = 0;
	}
}

void db_pq_stmt_free(db_stmt_t *st)
{
	db_pq_stmt_reset(st);
	free(st->pgsql);
	st->pgsql = NULL;
}

int db_pq_bind(db_stmt_t *st, int idx, const void *p, size_t n, unsigned type)
{
	int i = idx - 1;
	char *copy = NULL;

	if (idx < 1 || idx > st->nparams || st->ran)
		return DB_ERROR;
	if (p != NULL && type != DB_PQ_BYTEA) {
		/* Text parameters are copied, as SQLITE_TRANSIENT does. */
		if ((copy = malloc(n + 1)) == NULL)
			return DB_ERROR;
		memcpy(copy, p, n);
		copy[n] = '\0';
	}
	if (st->owned[i])
		free(st->val[i]);
	st->val[i] = copy != NULL ? copy : (char *)(uintptr_t)p;
	st->owned[i] = copy != NULL;
	st->len[i] = (int)n;
	st->fmt[i] = type == DB_PQ_BYTEA;
	/* The type a parameter is prepared with comes from its binding
	 * before the first run: text (NULL included: "?1 IS NULL OR col =
	 * ?1" names no type before its comparison), bigint or bytea; an
	 * untyped NULL is left to the server to infer from its column. */
	if (st->gen != st->c->gen + 1 && type != 0)
		st->types[i] = type;
	return DB_OK;
}

/* Run st once with its bindings: prepared under its name on this
 * connection generation (once), or unnamed when one-off. */
static PGresult *pq_run(db_stmt_t *st)
{
	db_conn_t *c = st->c;
	PGresult *res;

	if (!st->cached)
		return PQexecParams(c->pq, st->pgsql, st->nparams,
		    (const Oid *)st->types, (const char *const *)st->val,
		    st->len, st->fmt, 1);
	if (st->gen != c->gen + 1) {
		res = PQprepare(c->pq, st->name, st->pgsql, st->nparams,
		    (const Oid *)st->types);
		if (PQresultStatus(res) != PGRES_COMMAND_OK)
			return res;
		PQclear(res);
		st->gen = c->gen + 1; /* 0 stays "never prepared" */
	}
	return PQexecPrepared(c->pq, st->name, st->nparams,
	    (const char *const *)st->val, st->len, st->fmt, 1);
}

static PGresult *pq_run_any(void *arg)
{
	return pq_run(arg);
}

int db_pq_step(db_stmt_t *st)
{
	db_conn_t *c = st->c;
	PGresult *res;
	int rc, was;

	if (st->ran) {
		if (st->row + 1 < st->nrows) {
			st->row++;
			return DB_ROW;
		}
		st->row = st->nrows;
		return DB_DONE;
	}
	if ((rc = pq_ready(c)) != DB_OK)
		return rc;
	was = c->intx;
	res = pq_again(c, pq_run(st), was, st->pgsql, pq_run_any, st);
	pq_note_tx(c);
	st->ran = 1;
	if (PQresultStatus(res) == PGRES_COMMAND_OK) {
		st->changes = strtoll(PQcmdTuples(res), NULL, 10);
		PQclear(res);
		return DB_DONE;
	}
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		rc = pq_fail(c, res);
		PQclear(res);
		return rc;
	}
	st->res = res;
	st->nrows = PQntuples(res);
	st->changes = strtoll(PQcmdTuples(res), NULL, 10);
	st->row = 0;
	return st->nrows > 0 ? DB_ROW : DB_DONE;
}

/* 1 when col of the current row can be read. */
static int pq_has(db_stmt_t *st, int col)
{
	return st->res != NULL && st->row < st->nrows && col >= 0 &&
	    col < PQnfields(st->res) && !PQgetisnull(st->res, st->row, col);
}

/* Big-endian integer of n bytes at p, sign-extended. */
static int64_t pq_be(const unsigned char *p, int n)
{
	uint64_t v = 0;
	int i;

	for (i = 0; i < n; i++)
		v = v << 8 | p[i];
	if (n < 8 && (p[0] & 0x80))
		v |= ~(uint64_t)0 << (n * 8);
	return (int64_t)v;
}

int64_t db_pq_col_int64(db_stmt_t *st, int col)
{
	const unsigned char *p;
	unsigned type;
	int len;

	if (!pq_has(st, col))
		return 0;
	p = (const unsigned char *)PQgetvalue(st->res, st->row, col);
	len = PQgetlength(st->res, st->row, col);
	type = PQftype(st->res, col);
	if ((type == DB_PQ_INT8 && len == 8) ||
	    (type == DB_PQ_INT4 && len == 4) ||
	    (type == DB_PQ_INT2 && len == 2) ||
	    (type == DB_PQ_BOOL && len == 1))
		return type == DB_PQ_BOOL ? p[0] != 0 : pq_be(p, len);
	/* Text of an integer (e.g. a TEXT column holding one). */
	return strtoll((const char *)p, NULL, 10);
}

const char *db_pq_col_text(db_stmt_t *st, int col)
{
	unsigned type;

	if (!pq_has(st, col))
		return NULL;
	type = PQftype(st->res, col);
	if (type == DB_PQ_INT8 || type == DB_PQ_INT4 || type == DB_PQ_INT2 ||
	    type == DB_PQ_BOOL) {
		snprintf(st->num, sizeof(st->num), "%lld",
		    (long long)db_pq_col_int64(st, col));
		return st->num;
	}
	/* libpq ends every value, binary ones too, with a NUL. */
	return PQgetvalue(st->res, st->row, col);
}

const void *db_pq_col_blob(db_stmt_t *st, int col, size_t *n)
{
	const char *t;

	*n = 0;
	if ((t = db_pq_col_text(st, col)) == NULL)
		return NULL;
	/* An integer column reads as its decimal text, as in SQLite. */
	*n = t == st->num ? strlen(t) :
	                    (size_t)PQgetlength(st->res, st->row, col);
	return t;
}

int db_pq_col_is_null(db_stmt_t *st, int col)
{
	return st->res == NULL || st->row >= st->nrows ||
	    PQgetisnull(st->res, st->row, col);
}

int64_t db_pq_last_id(db_conn_t *c)
{
	PGresult *res;
	int64_t v = -1;

	if (pq_ready(c) != DB_OK)
		return -1;
	/* The identity columns draw from sequences: lastval() is the value
	 * this session's last INSERT took. */
	res = PQexecParams(c->pq, "SELECT lastval()", 0, NULL, NULL, NULL, NULL,
	    0);
	if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1)
		v = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	else
		pq_fail(c, res);
	PQclear(res);
	return v;
}
