/* test_reg_pg.c — the registry's PostgreSQL connection and migrations
 * against a throwaway PostgreSQL 15 (pg_run.py passes its URL in
 * PROVCA_PG_URL): every migration applied once, also when several nodes
 * open at once; the schema keeps the SQLite schema's rules; an unreachable
 * server is REG_ERR_UNAVAILABLE with a message saying so. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <libpq-fe.h>

#include "reg_pg.h"

static char err[512];

/* URL of database name on the test server (PROVCA_PG_URL names the
 * database "provca" last in its path). */
static void db_url(char *out, size_t outlen, const char *name)
{
	const char *base = getenv("PROVCA_PG_URL");
	const char *slash;

	assert_non_null(base);
	slash = strrchr(base, '/');
	assert_non_null(slash);
	snprintf(out, outlen, "%.*s/%s", (int)(slash - base), base, name);
}

/* Run sql on conn; the SQLSTATE of its failure, or "" when it worked. */
static const char *run(PGconn *conn, const char *sql)
{
	static char state[8];
	PGresult *res = PQexec(conn, sql);
	ExecStatusType st = PQresultStatus(res);
	const char *s;

	state[0] = '\0';
	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		s = PQresultErrorField(res, PG_DIAG_SQLSTATE);
		snprintf(state, sizeof(state), "%s", s != NULL ? s : "?");
		snprintf(err, sizeof(err), "%s", PQresultErrorMessage(res));
	}
	PQclear(res);
	return state;
}

/* Integer result of a one-value query. */
static long long query_int(PGconn *conn, const char *sql)
{
	PGresult *res = PQexec(conn, sql);
	long long v;

	assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
	assert_int_equal(PQntuples(res), 1);
	v = atoll(PQgetvalue(res, 0, 0));
	PQclear(res);
	return v;
}

/* A new empty database name (dropped first if a run left it); its URL in
 * url. */
static void db_fresh(char *url, size_t urllen, const char *name)
{
	char admin[256], sql[128];
	PGconn *conn;

	db_url(admin, sizeof(admin), "provca");
	conn = PQconnectdb(admin);
	assert_int_equal(PQstatus(conn), CONNECTION_OK);
	snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s", name);
	assert_string_equal(run(conn, sql), "");
	snprintf(sql, sizeof(sql), "CREATE DATABASE %s", name);
	assert_string_equal(run(conn, sql), "");
	PQfinish(conn);
	db_url(url, urllen, name);
}

static void pg__url_names_the_engine(void **state)
{
	(void)state;
	assert_int_equal(reg_pg_is_url("postgresql://u@h:5432/db"), 1);
	assert_int_equal(reg_pg_is_url("postgres://h/db"), 1);
	assert_int_equal(reg_pg_is_url("/var/lib/provca/registry.db"), 0);
	assert_int_equal(reg_pg_is_url("postgresql:/x"), 0);
	assert_int_equal(reg_pg_is_url(NULL), 0);
}

static void pg__open_applies_every_migration_once(void **state)
{
	char url[256];
	reg_t *pg = NULL, *again = NULL;
	PGconn *conn;
	PGresult *res;
	size_t i;

	(void)state;
	db_fresh(url, sizeof(url), "provca_once");
	assert_int_equal(reg_open(&pg, url, err, sizeof(err)), REG_OK);
	assert_int_equal(reg_schema_version(pg),
	    reg_pg_migrations[reg_pg_migrations_count - 1].version);
	/* A second node's open finds the schema current. */
	assert_int_equal(reg_open(&again, url, err, sizeof(err)), REG_OK);
	reg_close(again);
	reg_close(pg);
	conn = PQconnectdb(url);
	assert_int_equal(PQstatus(conn), CONNECTION_OK);
	res = PQexec(conn,
	    "SELECT version, name FROM schema_migrations"
	    " ORDER BY version");
	assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
	assert_int_equal(PQntuples(res), (int)reg_pg_migrations_count);
	/* One schema history: the SQLite engine's versions and names. */
	assert_int_equal(reg_pg_migrations_count, reg_migrations_count);
	for (i = 0; i < reg_pg_migrations_count; i++) {
		assert_int_equal(atoi(PQgetvalue(res, (int)i, 0)),
		    reg_migrations[i].version);
		assert_string_equal(PQgetvalue(res, (int)i, 1),
		    reg_migrations[i].name);
	}
	PQclear(res);
	assert_int_equal(query_int(conn,
	                     "SELECT value FROM counters"
	                     " WHERE name = 'crl_generation'"),
	    1);
	PQfinish(conn);
}

struct opener {
	const char *url;
	int rc;
	char err[256];
};

static void *open_one(void *arg)
{
	struct opener *o = arg;
	reg_t *pg = NULL;

	o->rc = reg_open(&pg, o->url, o->err, sizeof(o->err));
	reg_close(pg);
	return NULL;
}

static void pg__nodes_opening_at_once_migrate_once(void **state)
{
	struct opener o[4];
	pthread_t th[4];
	char url[256];
	PGconn *conn;
	int i;

	(void)state;
	db_fresh(url, sizeof(url), "provca_race");
	for (i = 0; i < 4; i++) {
		memset(&o[i], 0, sizeof(o[i]));
		o[i].url = url;
		assert_int_equal(pthread_create(&th[i], NULL, open_one, &o[i]),
		    0);
	}
	for (i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		if (o[i].rc != REG_OK)
			fail_msg("open %d: %s", i, o[i].err);
	}
	conn = PQconnectdb(url);
	assert_int_equal(PQstatus(conn), CONNECTION_OK);
	assert_int_equal(query_int(conn,
	                     "SELECT count(*) FROM"
	                     " schema_migrations"),
	    (long long)reg_pg_migrations_count);
	assert_int_equal(query_int(conn, "SELECT count(*) FROM counters"), 1);
	PQfinish(conn);
}

static void pg__schema_keeps_the_registry_rules(void **state)
{
	char url[256];
	reg_t *pg = NULL;
	PGconn *c;

	(void)state;
	db_fresh(url, sizeof(url), "provca_rules");
	assert_int_equal(reg_open(&pg, url, err, sizeof(err)), REG_OK);
	reg_close(pg);
	c = PQconnectdb(url);
	assert_int_equal(PQstatus(c), CONNECTION_OK);
	assert_string_equal(run(c,
	                        "INSERT INTO manufacturers(id, name,"
	                        " created_at) VALUES ('acme', 'Acme', 1)"),
	    "");
	assert_string_equal(
	    run(c,
	        "INSERT INTO devices(device_id,"
	        " manufacturer_id, serial, model, created_at, updated_at)"
	        " VALUES ('acme-1', 'acme', 'SN1', 'm', 1, 1)"),
	    "");
	/* One live device per manufacturer serial (unique_violation)... */
	assert_string_equal(
	    run(c,
	        "INSERT INTO devices(device_id,"
	        " manufacturer_id, serial, model, created_at, updated_at)"
	        " VALUES ('acme-2', 'acme', 'SN1', 'm', 1, 1)"),
	    "23505");
	/* ... and a revoked one may be followed by a new enrollment. */
	assert_string_equal(run(c,
	                        "UPDATE devices SET status = 'revoked'"
	                        " WHERE device_id = 'acme-1'"),
	    "");
	assert_string_equal(
	    run(c,
	        "INSERT INTO devices(device_id,"
	        " manufacturer_id, serial, model, created_at, updated_at)"
	        " VALUES ('acme-2', 'acme', 'SN1', 'm', 1, 1)"),
	    "");
	/* An unknown manufacturer (foreign_key_violation), a status outside
	 * the list and a manufacturer principal without one (check). */
	assert_string_equal(
	    run(c,
	        "INSERT INTO devices(device_id,"
	        " manufacturer_id, serial, model, created_at, updated_at)"
	        " VALUES ('x-1', 'nobody', 'SN9', 'm', 1, 1)"),
	    "23503");
	assert_string_equal(run(c,
	                        "UPDATE devices SET status = 'lost'"
	                        " WHERE device_id = 'acme-2'"),
	    "23514");
	assert_string_equal(
	    run(c,
	        "INSERT INTO principals(name, role,"
	        " created_at, updated_at) VALUES ('m', 'manufacturer', 1, 1)"),
	    "23514");
	/* The audit log is append-only. */
	assert_string_equal(run(c,
	                        "INSERT INTO audit(at, actor, action)"
	                        " VALUES (1, 'admin', 'device.issue')"),
	    "");
	assert_string_equal(run(c, "UPDATE audit SET actor = 'x'"), "P0001");
	assert_non_null(strstr(err, "audit log is append-only"));
	assert_string_equal(run(c, "DELETE FROM audit"), "P0001");
	assert_int_equal(query_int(c, "SELECT count(*) FROM audit"), 1);
	/* A portal session key is a SHA-256. */
	assert_string_equal(
	    run(c,
	        "INSERT INTO portal_users(name, role,"
	        " pw_hash, created_at, updated_at) VALUES ('root', 'admin', 'h',"
	        " 1, 1)"),
	    "");
	assert_string_equal(
	    run(c,
	        "INSERT INTO portal_sessions(token_hash,"
	        " user_id, csrf, created_at, last_seen, absolute_expiry)"
	        " SELECT '\\x00'::bytea, id, 'c', 1, 1, 2 FROM portal_users"),
	    "23514");
	PQfinish(c);
}

/* A port on 127.0.0.1 where nothing listens (bound, never listened). */
static int dead_port(int *fd)
{
	struct sockaddr_in a;
	socklen_t len = sizeof(a);

	*fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(*fd >= 0);
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(*fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(*fd, (struct sockaddr *)&a, &len), 0);
	return ntohs(a.sin_port);
}

static void pg__unreachable_server_is_unavailable(void **state)
{
	reg_t *pg = (reg_t *)1;
	char url[128];
	int fd, port;

	(void)state;
	port = dead_port(&fd);
	snprintf(url, sizeof(url), "postgresql://provca@127.0.0.1:%d/provca",
	    port);
	assert_int_equal(reg_open(&pg, url, err, sizeof(err)),
	    REG_ERR_UNAVAILABLE);
	assert_null(pg);
	assert_non_null(strstr(err, "PostgreSQL unreachable"));
	assert_non_null(strstr(err, "refused"));
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(pg__url_names_the_engine),
		cmocka_unit_test(pg__open_applies_every_migration_once),
		cmocka_unit_test(pg__nodes_opening_at_once_migrate_once),
		cmocka_unit_test(pg__schema_keeps_the_registry_rules),
		cmocka_unit_test(pg__unreachable_server_is_unavailable),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
