/* reg_pg.c — PostgreSQL connection for the registry: connect with libpq,
 * check the server, apply the numbered migrations of reg_pg_migrations[]
 * under a transaction-scoped advisory lock. Parameters are always bound
 * (PQexecParams); migration text is the only SQL sent as a script. */
#include "reg_pg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "util.h"

/* pg_advisory_xact_lock key of the migrations: "PrCA" in ASCII. */
#define REG_PG_MIGRATE_LOCK "1349665601"
/* Seconds libpq waits for a connection before calling it unreachable. */
#define REG_PG_CONNECT_TIMEOUT "10"

struct reg_pg {
	PGconn *conn;
};

int reg_pg_is_url(const char *s)
{
	return s != NULL && (strncmp(s, "postgresql://", 13) == 0 ||
	    strncmp(s, "postgres://", 11) == 0);
}

/* Fill err with what and libpq's message (its trailing newline cut);
 * the reg_error for a failed result res (may be NULL). */
static int pg_fail(reg_pg_t *pg, PGresult *res, char *err, size_t errlen,
    const char *what)
{
	const char *msg = res != NULL ? PQresultErrorMessage(res) :
	    PQerrorMessage(pg->conn);
	const char *state = res != NULL ?
	    PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	size_t n = strlen(msg);

	while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
		n--;
	util_err_set(err, errlen, "%s: %.*s", what, (int)n, msg);
	if (PQstatus(pg->conn) != CONNECTION_OK)
		return REG_ERR_UNAVAILABLE;
	if (state != NULL && strncmp(state, "23", 2) == 0)
		return REG_ERR_CONSTRAINT;	/* integrity violation */
	if (state != NULL && (strcmp(state, "40001") == 0 ||
	    strcmp(state, "40P01") == 0 || strcmp(state, "55P03") == 0))
		return REG_ERR_BUSY;		/* serialization, deadlock, lock */
	return REG_ERR_INTERNAL;
}

/* Run sql (no parameters, may hold several statements). */
static int pg_exec(reg_pg_t *pg, const char *sql, char *err, size_t errlen,
    const char *what)
{
	PGresult *res = PQexec(pg->conn, sql);
	int rc = REG_OK;

	if (PQresultStatus(res) != PGRES_COMMAND_OK &&
	    PQresultStatus(res) != PGRES_TUPLES_OK)
		rc = pg_fail(pg, res, err, errlen, what);
	PQclear(res);
	return rc;
}

int reg_pg_schema_version(reg_pg_t *pg, char *err, size_t errlen)
{
	PGresult *res;
	int v;

	res = PQexecParams(pg->conn, "SELECT coalesce(max(version), 0)"
	    " FROM schema_migrations", 0, NULL, NULL, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
		v = pg_fail(pg, res, err, errlen, "schema version");
		PQclear(res);
		return v;
	}
	v = atoi(PQgetvalue(res, 0, 0));
	PQclear(res);
	return v;
}

/* Record migration m as applied (inside its transaction). */
static int pg_record(reg_pg_t *pg, const reg_migration_t *m, char *err,
    size_t errlen)
{
	char version[16], at[24];
	const char *vals[3] = { version, m->name, at };
	PGresult *res;
	int rc = REG_OK;

	snprintf(version, sizeof(version), "%d", m->version);
	snprintf(at, sizeof(at), "%lld", (long long)reg_now());
	res = PQexecParams(pg->conn, "INSERT INTO schema_migrations(version,"
	    " name, applied_at) VALUES ($1, $2, $3)", 3, NULL, vals, NULL,
	    NULL, 0);
	if (PQresultStatus(res) != PGRES_COMMAND_OK)
		rc = pg_fail(pg, res, err, errlen, "record migration");
	PQclear(res);
	return rc;
}

/* Apply migration m unless it is recorded: one transaction holding the
 * migrations' advisory lock, so another node waits and then skips it. */
static int pg_migrate_one(reg_pg_t *pg, const reg_migration_t *m,
    char *err, size_t errlen)
{
	int rc, cur;

	if ((rc = pg_exec(pg, "BEGIN; SELECT pg_advisory_xact_lock("
	    REG_PG_MIGRATE_LOCK "); CREATE TABLE IF NOT EXISTS"
	    " schema_migrations (version INTEGER PRIMARY KEY,"
	    " name TEXT NOT NULL, applied_at BIGINT NOT NULL)", err, errlen,
	    "begin migration")) != REG_OK)
		goto fail;
	if ((cur = reg_pg_schema_version(pg, err, errlen)) < 0) {
		rc = cur;
		goto fail;
	}
	if (m->version > cur &&
	    ((rc = pg_exec(pg, m->sql, err, errlen, m->name)) != REG_OK ||
	    (rc = pg_record(pg, m, err, errlen)) != REG_OK))
		goto fail;
	if ((rc = pg_exec(pg, "COMMIT", err, errlen, "commit migration")) !=
	    REG_OK)
		goto fail;
	return REG_OK;
fail:
	if (PQstatus(pg->conn) == CONNECTION_OK)
		PQclear(PQexec(pg->conn, "ROLLBACK"));
	return rc;
}

/* Apply every pending migration, in order. */
static int pg_migrate(reg_pg_t *pg, char *err, size_t errlen)
{
	size_t i;
	int rc;

	for (i = 0; i < reg_pg_migrations_count; i++) {
		if (i > 0 && reg_pg_migrations[i].version <=
		    reg_pg_migrations[i - 1].version) {
			util_err_set(err, errlen, "migration %d out of order",
			    reg_pg_migrations[i].version);
			return REG_ERR_INTERNAL;
		}
		if ((rc = pg_migrate_one(pg, &reg_pg_migrations[i], err,
		    errlen)) != REG_OK)
			return rc;
	}
	return REG_OK;
}

int reg_pg_open(reg_pg_t **out, const char *conninfo, char *err,
    size_t errlen)
{
	static const char *keys[] = { "connect_timeout", "application_name",
	    "dbname", NULL };
	const char *vals[] = { REG_PG_CONNECT_TIMEOUT, "ca-server", conninfo,
	    NULL };
	reg_pg_t *pg;
	int rc;

	*out = NULL;
	if ((pg = calloc(1, sizeof(*pg))) == NULL) {
		util_err_set(err, errlen, "out of memory");
		return REG_ERR_INTERNAL;
	}
	/* expand_dbname: dbname may be a whole URL or key=value string;
	 * it comes last, so what it says overrides the defaults before it. */
	pg->conn = PQconnectdbParams(keys, vals, 1);
	if (pg->conn == NULL) {
		util_err_set(err, errlen, "out of memory");
		rc = REG_ERR_INTERNAL;
		goto fail;
	}
	if (PQstatus(pg->conn) != CONNECTION_OK) {
		pg_fail(pg, NULL, err, errlen, "PostgreSQL unreachable");
		rc = REG_ERR_UNAVAILABLE;
		goto fail;
	}
	if (PQserverVersion(pg->conn) < 150000) {
		util_err_set(err, errlen, "PostgreSQL %d is too old: the "
		    "registry needs 15 or later", PQserverVersion(pg->conn));
		rc = REG_ERR_INVALID;
		goto fail;
	}
	if ((rc = pg_exec(pg, "SET client_min_messages = warning", err,
	    errlen, "session settings")) != REG_OK ||
	    (rc = pg_migrate(pg, err, errlen)) != REG_OK)
		goto fail;
	*out = pg;
	return REG_OK;
fail:
	reg_pg_close(pg);
	return rc;
}

void reg_pg_close(reg_pg_t *pg)
{
	if (pg == NULL)
		return;
	PQfinish(pg->conn);
	free(pg);
}
