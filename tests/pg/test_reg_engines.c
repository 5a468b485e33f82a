/* test_reg_engines.c — the registry's data access on either engine: the
 * same calls and the same expected values on SQLite (a temporary file)
 * and, when pg_run.py passes PROVCA_PG_URL, on a fresh PostgreSQL
 * database. Devices and certificates (enroll, lookup, list, the live-serial
 * and serial uniqueness rules), status and the CRL (generation, entries,
 * cache upsert), OCSP status, principals, audit order, the CA set, portal
 * constraint kinds, the change stamp across connections, nested
 * transactions, audit ids visible in id order under concurrent appends. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <libpq-fe.h>

#include "reg.h"
#include "reg_cas.h"
#include "reg_infra.h"
#include "reg_pg.h"
#include "reg_portal.h"
#include "reg_status.h"

static char err[512];
static char where[512]; /* the registry path or URL under test */

/* A fresh registry location: a new PostgreSQL database when the run has
 * a server, else a new SQLite file. */
static void fresh_location(void)
{
	const char *base = getenv("PROVCA_PG_URL");
	char admin[256];
	PGconn *c;
	PGresult *r;
	const char *slash;

	if (base == NULL) {
		snprintf(where, sizeof(where), "/tmp/provca-engines-%d.db",
		    (int)getpid());
		unlink(where);
		return;
	}
	slash = strrchr(base, '/');
	assert_non_null(slash);
	snprintf(admin, sizeof(admin), "%s", base);
	c = PQconnectdb(admin);
	assert_int_equal(PQstatus(c), CONNECTION_OK);
	r = PQexec(c, "DROP DATABASE IF EXISTS provca_engines");
	assert_int_equal(PQresultStatus(r), PGRES_COMMAND_OK);
	PQclear(r);
	r = PQexec(c, "CREATE DATABASE provca_engines");
	assert_int_equal(PQresultStatus(r), PGRES_COMMAND_OK);
	PQclear(r);
	PQfinish(c);
	snprintf(where, sizeof(where), "%.*s/provca_engines",
	    (int)(slash - base), base);
}

static int setup(void **state)
{
	reg_t *reg = NULL;
	reg_manufacturer_t m = { "acme", "Acme Devices", "", 0 };

	fresh_location();
	if (reg_open(&reg, where, err, sizeof(err)) != REG_OK)
		fail_msg("open %s: %s", where, err);
	assert_int_equal(reg_is_pg(reg), getenv("PROVCA_PG_URL") != NULL);
	assert_int_equal(reg_manufacturer_insert(reg, &m, err, sizeof(err)),
	    REG_OK);
	*state = reg;
	return 0;
}

static int teardown(void **state)
{
	reg_close(*state);
	if (getenv("PROVCA_PG_URL") == NULL)
		unlink(where);
	return 0;
}

/* Enroll device id (serial sn, certificate serial cs, key spki) in one
 * transaction, as issuance does; the reg_error of the first failure. */
static int enroll(reg_t *reg, const char *id, const char *sn, const char *cs,
    const char *spki)
{
	static const uint8_t der[] = { 0x30, 0x03, 0x02, 0x01, 0x00 };
	static unsigned certs;
	char sha[65];
	reg_device_new_t d = { id, "acme", sn, "m1", "" };
	reg_cert_new_t c;
	int rc;

	/* A different certificate every time (sha256 is unique too). */
	snprintf(sha, sizeof(sha), "%064x", ++certs);
	memset(&c, 0, sizeof(c));
	c.issuer = REG_ISSUER_DEVICE;
	c.serial_hex = cs;
	c.der = der;
	c.der_len = sizeof(der);
	c.sha256_hex = sha;
	c.spki_sha256_hex = spki;
	c.key_type = "EC-P256";
	c.not_before = 1000;
	c.not_after = 253402300799LL; /* 9999-12-31: past 32 bits */
	c.device_id = id;
	if ((rc = reg_begin(reg, err, sizeof(err))) != REG_OK)
		return rc;
	if ((rc = reg_device_insert(reg, &d, err, sizeof(err))) != REG_OK ||
	    (rc = reg_cert_insert(reg, NULL, &c, err, sizeof(err))) != REG_OK) {
		reg_rollback(reg);
		return rc;
	}
	return reg_commit(reg, err, sizeof(err));
}

static const char spki1[] =
    "1111111111111111111111111111111111111111111111111111111111111111";
static const char spki2[] =
    "2222222222222222222222222222222222222222222222222222222222222222";

static void engines__device_enroll_lookup_list(void **state)
{
	reg_t *reg = *state;
	reg_device_t d, *list = NULL;
	reg_device_filter_t f;
	char id[REG_DEVICE_ID_MAX + 1], mfr[REG_MFR_ID_MAX + 1];
	size_t n = 0;
	int64_t next = 0;

	assert_int_equal(enroll(reg, "acme-0001", "SN1", "0a01", spki1),
	    REG_OK);
	assert_int_equal(enroll(reg, "acme-0002", "SN2", "0a02", spki2),
	    REG_OK);
	/* A second live device for SN1, a taken DeviceID, a taken serial:
	 * the database refuses each, and nothing of it stays. */
	assert_int_equal(enroll(reg, "acme-0003", "SN1", "0a03", spki1),
	    REG_ERR_CONSTRAINT);
	assert_int_equal(enroll(reg, "acme-0001", "SN9", "0a04", spki1),
	    REG_ERR_CONSTRAINT);
	assert_int_equal(enroll(reg, "acme-0005", "SN5", "0a01", spki1),
	    REG_ERR_CONSTRAINT);
	assert_int_equal(reg_device_get(reg, &d, "acme-0005", err, sizeof(err)),
	    REG_ERR_NOT_FOUND);
	assert_int_equal(reg_device_count(reg), 2);
	assert_int_equal(reg_device_get(reg, &d, "acme-0001", err, sizeof(err)),
	    REG_OK);
	assert_string_equal(d.manufacturer_name, "Acme Devices");
	assert_string_equal(d.serial, "SN1");
	assert_string_equal(d.status, REG_STATUS_ACTIVE);
	assert_int_equal(d.reason, -1);
	assert_int_equal(d.version, 1);
	assert_string_equal(d.cert_serial_hex, "0a01");
	assert_string_equal(d.spki_sha256, spki1);
	assert_int_equal(d.not_after, 253402300799LL);
	assert_int_equal(d.cert_der_len, 5);
	assert_int_equal(d.cert_der[0], 0x30);
	assert_int_equal(d.cert_der[4], 0x00);
	reg_device_clear(&d);
	assert_int_equal(reg_device_find_live(reg, &d, "acme", "SN2", err,
	                     sizeof(err)),
	    REG_OK);
	assert_string_equal(d.device_id, "acme-0002");
	reg_device_clear(&d);
	assert_int_equal(reg_device_find_live_key(reg, id, mfr, spki2, err,
	                     sizeof(err)),
	    REG_OK);
	assert_string_equal(id, "acme-0002");
	assert_string_equal(mfr, "acme");
	assert_int_equal(reg_cert_device_id(reg, id, sizeof(id),
	                     REG_ISSUER_DEVICE, "0a02"),
	    REG_OK);
	assert_string_equal(id, "acme-0002");
	/* Pages of one, then a filter by serial. */
	memset(&f, 0, sizeof(f));
	f.limit = 1;
	assert_int_equal(reg_device_list(reg, &list, &n, &next, &f, err,
	                     sizeof(err)),
	    REG_OK);
	assert_int_equal(n, 1);
	assert_string_equal(list[0].device_id, "acme-0001");
	assert_int_equal(next, list[0].seq);
	reg_device_list_free(list, n);
	f.after = next;
	assert_int_equal(reg_device_list(reg, &list, &n, &next, &f, err,
	                     sizeof(err)),
	    REG_OK);
	assert_int_equal(n, 1);
	assert_string_equal(list[0].device_id, "acme-0002");
	assert_int_equal(next, 0);
	reg_device_list_free(list, n);
	memset(&f, 0, sizeof(f));
	f.q = "SN2";
	assert_int_equal(reg_device_list(reg, &list, &n, &next, &f, err,
	                     sizeof(err)),
	    REG_OK);
	assert_int_equal(n, 1);
	assert_string_equal(list[0].device_id, "acme-0002");
	reg_device_list_free(list, n);
}

struct crl_seen {
	int n;
	char serial[8];
	int reason;
};

static int crl_note(void *arg, const char *serial_hex, int reason,
    int64_t revoked_at)
{
	struct crl_seen *s = arg;

	assert_int_equal(revoked_at, 1700000000);
	snprintf(s->serial, sizeof(s->serial), "%s", serial_hex);
	s->reason = reason;
	s->n++;
	return 0;
}

static void engines__revoke_crl_and_ocsp_status(void **state)
{
	reg_t *reg = *state;
	reg_cert_status_t cs;
	struct crl_seen seen = { 0, "", 0 };
	reg_crl_t c = { 7, 0, 100, 200, NULL, 0 }, got;
	uint8_t der[3] = { 1, 0, 2 };
	reg_device_t d;
	int64_t gen0, gen1;

	assert_int_equal(enroll(reg, "acme-0001", "SN1", "0a01", spki1),
	    REG_OK);
	assert_int_equal(reg_crl_generation(reg, &gen0), REG_OK);
	assert_int_equal(reg_cert_status(reg, &cs, REG_ISSUER_DEVICE, "0a01",
	                     err, sizeof(err)),
	    REG_OK);
	assert_int_equal(cs.revoked, 0);
	assert_int_equal(reg_begin(reg, err, sizeof(err)), REG_OK);
	assert_int_equal(reg_device_set_status(reg, "acme-0001",
	                     REG_STATUS_REVOKED, 1, 1700000000, err,
	                     sizeof(err)),
	    REG_OK);
	assert_int_equal(reg_device_set_status(reg, "nobody",
	                     REG_STATUS_REVOKED, 1, 1700000000, err,
	                     sizeof(err)),
	    REG_ERR_NOT_FOUND);
	assert_int_equal(reg_commit(reg, err, sizeof(err)), REG_OK);
	assert_int_equal(reg_crl_generation(reg, &gen1), REG_OK);
	assert_int_equal(gen1, gen0 + 1);
	assert_int_equal(reg_device_get(reg, &d, "acme-0001", err, sizeof(err)),
	    REG_OK);
	assert_string_equal(d.status, REG_STATUS_REVOKED);
	assert_int_equal(d.reason, 1);
	assert_int_equal(d.version, 2);
	reg_device_clear(&d);
	assert_int_equal(reg_cert_status(reg, &cs, REG_ISSUER_DEVICE, "0a01",
	                     err, sizeof(err)),
	    REG_OK);
	assert_int_equal(cs.revoked, 1);
	assert_int_equal(cs.reason, 1);
	assert_int_equal(cs.revoked_at, 1700000000);
	assert_int_equal(reg_cert_status(reg, &cs, REG_ISSUER_DEVICE, "ffff",
	                     err, sizeof(err)),
	    REG_ERR_NOT_FOUND);
	assert_int_equal(reg_crl_entries(reg, REG_ISSUER_DEVICE, crl_note,
	                     &seen, err, sizeof(err)),
	    REG_OK);
	assert_int_equal(seen.n, 1);
	assert_string_equal(seen.serial, "0a01");
	assert_int_equal(seen.reason, 1);
	/* A revoked serial may enroll again with a new device. */
	assert_int_equal(enroll(reg, "acme-0009", "SN1", "0a09", spki1),
	    REG_OK);
	/* The CRL cache: insert, then replace in place. */
	assert_int_equal(reg_crl_cache_get(reg, &got, REG_ISSUER_DEVICE, err,
	                     sizeof(err)),
	    REG_ERR_NOT_FOUND);
	c.der = der;
	c.der_len = sizeof(der);
	assert_int_equal(reg_crl_cache_put(reg, REG_ISSUER_DEVICE, &c, err,
	                     sizeof(err)),
	    REG_OK);
	c.number = 8;
	c.generation = gen1;
	assert_int_equal(reg_crl_cache_put(reg, REG_ISSUER_DEVICE, &c, err,
	                     sizeof(err)),
	    REG_OK);
	assert_int_equal(reg_crl_cache_get(reg, &got, REG_ISSUER_DEVICE, err,
	                     sizeof(err)),
	    REG_OK);
	assert_int_equal(got.number, 8);
	assert_int_equal(got.generation, gen1);
	assert_int_equal(got.der_len, 3);
	assert_memory_equal(got.der, der, 3);
	reg_crl_clear(&got);
}

static void engines__principals_and_audit_order(void **state)
{
	reg_t *reg = *state;
	reg_principal_t p, *plist = NULL;
	reg_audit_t *a = NULL;
	reg_audit_filter_t f;
	static const uint8_t der[] = { 0x30, 0x00 };
	char sha[65];
	reg_cert_new_t c;
	size_t n = 0;
	int64_t next = 0, valid = 0;
	int count = 0;
	char serials[64];

	assert_int_equal(reg_principal_insert(reg, "op1", REG_ROLE_OPERATOR,
	                     NULL, err, sizeof(err)),
	    REG_OK);
	assert_int_equal(reg_principal_insert(reg, "op1", REG_ROLE_OPERATOR,
	                     NULL, err, sizeof(err)),
	    REG_ERR_CONSTRAINT);
	memset(sha, 'e', 64);
	sha[64] = '\0';
	memset(&c, 0, sizeof(c));
	c.issuer = REG_ISSUER_INFRA;
	c.serial_hex = "77";
	c.der = der;
	c.der_len = sizeof(der);
	c.sha256_hex = sha;
	c.spki_sha256_hex = spki2;
	c.key_type = "EC-P256";
	c.not_before = 1;
	c.not_after = 4000000000LL;
	c.principal = "op1";
	assert_int_equal(reg_cert_insert(reg, NULL, &c, err, sizeof(err)),
	    REG_OK);
	assert_int_equal(reg_principal_find_by_cert(reg, &p, sha, err,
	                     sizeof(err)),
	    REG_OK);
	assert_string_equal(p.name, "op1");
	assert_string_equal(p.role, REG_ROLE_OPERATOR);
	assert_string_equal(p.status, "active");
	assert_string_equal(p.cert_serial_hex, "77");
	assert_int_equal(p.not_after, 4000000000LL);
	assert_int_equal(reg_principal_valid_certs(reg, &valid, "op1", 2, err,
	                     sizeof(err)),
	    REG_OK);
	assert_int_equal(valid, 1);
	assert_int_equal(reg_principal_set_status(reg, "op1", "disabled", err,
	                     sizeof(err)),
	    REG_OK);
	assert_int_equal(reg_principal_set_status(reg, "nobody", "disabled",
	                     err, sizeof(err)),
	    REG_ERR_NOT_FOUND);
	assert_int_equal(reg_principal_get(reg, &p, "op1", err, sizeof(err)),
	    REG_OK);
	assert_string_equal(p.status, "disabled");
	assert_int_equal(reg_principal_list(reg, &plist, &n, err, sizeof(err)),
	    REG_OK);
	assert_int_equal(n, 1);
	free(plist);
	assert_int_equal(reg_principal_certs_revoke(reg, "op1", 4, 50, &count,
	                     serials, sizeof(serials), err, sizeof(err)),
	    REG_OK);
	assert_int_equal(count, 1);
	assert_string_equal(serials, "77");
	assert_int_equal(reg_principal_get(reg, &p, "op1", err, sizeof(err)),
	    REG_OK);
	assert_int_equal(p.cert_revoked, 1);
	/* Audit: one order, filters, pages. */
	assert_int_equal(reg_audit_append(reg, "admin", "principal.add", "op1",
	                     NULL, err, sizeof(err)),
	    REG_OK);
	assert_int_equal(reg_audit_append(reg, "admin", "principal.disable",
	                     "op1", "{\"why\":\"test\"}", err, sizeof(err)),
	    REG_OK);
	assert_int_equal(reg_audit_append(reg, "cli", "device.issue", "x", NULL,
	                     err, sizeof(err)),
	    REG_OK);
	memset(&f, 0, sizeof(f));
	f.target = "op1";
	f.limit = 1;
	assert_int_equal(reg_audit_list(reg, &a, &n, &next, &f, err,
	                     sizeof(err)),
	    REG_OK);
	assert_int_equal(n, 1);
	assert_string_equal(a[0].action, "principal.add");
	assert_string_equal(a[0].details, "{}");
	assert_int_not_equal(next, 0);
	reg_audit_list_free(a, n);
	f.after = next;
	assert_int_equal(reg_audit_list(reg, &a, &n, &next, &f, err,
	                     sizeof(err)),
	    REG_OK);
	assert_int_equal(n, 1);
	assert_string_equal(a[0].action, "principal.disable");
	assert_string_equal(a[0].details, "{\"why\":\"test\"}");
	assert_true(a[0].id > f.after);
	reg_audit_list_free(a, n);
	memset(&f, 0, sizeof(f));
	f.since = reg_now() - 60;
	assert_int_equal(reg_audit_list(reg, &a, &n, &next, &f, err,
	                     sizeof(err)),
	    REG_OK);
	assert_int_equal(n, 3);
	assert_true(a[0].id < a[1].id && a[1].id < a[2].id);
	reg_audit_list_free(a, n);
}

static void engines__ca_set_and_portal_constraints(void **state)
{
	reg_t *reg = *state;
	static const uint8_t der[] = { 0x30, 0x01, 0x00 };
	char sha[65], state_s[8];
	reg_ca_new_t nc = { REG_CA_ROLE_DEVICE, REG_CA_ISSUING, der,
		sizeof(der), sha, "CN=Device CA", "device-ca.key" };
	reg_ca_t *list = NULL;
	size_t n = 0;
	int64_t id1 = 0, id2 = 0, uid = 0, uid2 = 0;

	memset(sha, 'a', 64);
	sha[64] = '\0';
	assert_int_equal(reg_ca_insert(reg, &id1, &nc, err, sizeof(err)),
	    REG_OK);
	assert_true(id1 > 0);
	sha[0] = 'b';
	nc.state = REG_CA_ACTIVE;
	assert_int_equal(reg_ca_insert(reg, &id2, &nc, err, sizeof(err)),
	    REG_OK);
	assert_int_equal(id2, id1 + 1);
	assert_int_equal(reg_begin(reg, err, sizeof(err)), REG_OK);
	assert_int_equal(reg_ca_activate(reg, id2, err, sizeof(err)), REG_OK);
	assert_int_equal(reg_commit(reg, err, sizeof(err)), REG_OK);
	assert_int_equal(reg_ca_state_get(reg, state_s, id1, err, sizeof(err)),
	    REG_OK);
	assert_string_equal(state_s, REG_CA_ACTIVE);
	assert_int_equal(reg_ca_list(reg, &list, &n, REG_CA_ROLE_DEVICE, err,
	                     sizeof(err)),
	    REG_OK);
	assert_int_equal(n, 2);
	assert_string_equal(list[1].state, REG_CA_ISSUING);
	assert_int_equal(list[1].der_len, sizeof(der));
	reg_ca_list_free(list, n);
	/* The portal's insert tells a missing manufacturer (foreign key)
	 * from a taken name (unique). */
	assert_int_equal(reg_portal_user_insert(reg, &uid, "alice", "admin",
	                     NULL, "h", 1, err, sizeof(err)),
	    REG_OK);
	assert_int_equal(reg_portal_user_insert(reg, &uid2, "alice", "admin",
	                     NULL, "h", 1, err, sizeof(err)),
	    REG_ERR_CONSTRAINT);
	assert_int_equal(reg_portal_user_insert(reg, &uid2, "bob",
	                     "manufacturer", "nope", "h", 1, err, sizeof(err)),
	    REG_ERR_NOT_FOUND);
	assert_int_equal(reg_portal_user_insert(reg, &uid2, "carol",
	                     "manufacturer", NULL, "h", 1, err, sizeof(err)),
	    REG_ERR_INVALID);
}

static void engines__stamp_follows_other_connections(void **state)
{
	reg_t *reg = *state, *other = NULL;
	int64_t s0[2], s1[2], s2[2];

	assert_int_equal(reg_open_existing(&other, where, err, sizeof(err)),
	    REG_OK);
	assert_int_equal(reg_change_stamp(reg, s0, err, sizeof(err)), REG_OK);
	assert_int_equal(reg_change_stamp(reg, s1, err, sizeof(err)), REG_OK);
	/* Reads alone leave it. */
	assert_true(s0[0] == s1[0] && s0[1] == s1[1]);
	assert_int_equal(reg_principal_insert(other, "op2", REG_ROLE_OPERATOR,
	                     NULL, err, sizeof(err)),
	    REG_OK);
	assert_int_equal(reg_change_stamp(reg, s2, err, sizeof(err)), REG_OK);
	assert_false(s2[0] == s1[0] && s2[1] == s1[1]);
	/* A read transaction's stamp, then its end. */
	assert_int_equal(reg_read_begin(reg, s1, err, sizeof(err)), REG_OK);
	assert_true(s1[0] == s2[0] && s1[1] == s2[1]);
	reg_read_end(reg);
	assert_int_equal(reg_transaction_open(reg), 0);
	reg_close(other);
}

static void engines__nested_rollback_keeps_the_outer_work(void **state)
{
	reg_t *reg = *state;
	reg_principal_t p;

	assert_int_equal(reg_begin(reg, err, sizeof(err)), REG_OK);
	assert_int_equal(reg_principal_insert(reg, "keep", REG_ROLE_OPERATOR,
	                     NULL, err, sizeof(err)),
	    REG_OK);
	assert_int_equal(reg_begin(reg, err, sizeof(err)), REG_OK);
	/* A failed statement inside the savepoint (PostgreSQL aborts the
	 * savepoint, not the transaction, once rolled back to it). */
	assert_int_equal(reg_principal_insert(reg, "keep", REG_ROLE_OPERATOR,
	                     NULL, err, sizeof(err)),
	    REG_ERR_CONSTRAINT);
	reg_rollback(reg);
	assert_int_equal(reg_transaction_open(reg), 1);
	assert_int_equal(reg_commit(reg, err, sizeof(err)), REG_OK);
	assert_int_equal(reg_transaction_open(reg), 0);
	assert_int_equal(reg_principal_get(reg, &p, "keep", err, sizeof(err)),
	    REG_OK);
	assert_int_equal(reg_schema_version(reg),
	    reg_migrations[reg_migrations_count - 1].version);
}

struct appender {
	int n, rc;
	char err[256];
};

static void *append_many(void *arg)
{
	struct appender *a = arg;
	reg_t *r = NULL;
	int i;

	if ((a->rc = reg_open_existing(&r, where, a->err, sizeof(a->err))) !=
	    REG_OK)
		return NULL;
	for (i = 0; i < a->n && a->rc == REG_OK; i++)
		a->rc = reg_audit_append(r, "t", "test.append", "x", NULL,
		    a->err, sizeof(a->err));
	reg_close(r);
	return NULL;
}

/* Two connections append at once while a third pages by id: every page
 * it reads is gap-free (ids become visible in id order), so a cursor never
 * steps over an entry committed after it. */
static void engines__audit_ids_become_visible_in_order(void **state)
{
	struct appender ap[2] = { { 150, 0, "" }, { 150, 0, "" } };
	reg_t *reg = *state;
	reg_audit_t *a = NULL;
	reg_audit_filter_t f;
	pthread_t th[2];
	size_t n = 0, i, seen = 0;
	int64_t next = 0;
	int k, rounds = 0;

	memset(&f, 0, sizeof(f));
	f.limit = REG_LIST_MAX;
	for (k = 0; k < 2; k++)
		assert_int_equal(pthread_create(&th[k], NULL, append_many,
		                     &ap[k]),
		    0);
	while (seen < 300 && rounds++ < 100000) {
		assert_int_equal(reg_audit_list(reg, &a, &n, &next, &f, err,
		                     sizeof(err)),
		    REG_OK);
		for (i = 1; i < n; i++)
			if (a[i].id != a[0].id + (int64_t)i)
				fail_msg("gap: id %lld after %lld",
				    (long long)a[i].id, (long long)a[i - 1].id);
		seen = n;
		reg_audit_list_free(a, n);
	}
	for (k = 0; k < 2; k++) {
		pthread_join(th[k], NULL);
		if (ap[k].rc != REG_OK)
			fail_msg("appender %d: %s", k, ap[k].err);
	}
	assert_int_equal(reg_audit_list(reg, &a, &n, &next, &f, err,
	                     sizeof(err)),
	    REG_OK);
	assert_int_equal(n, 300);
	reg_audit_list_free(a, n);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
		    engines__device_enroll_lookup_list, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    engines__revoke_crl_and_ocsp_status, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    engines__principals_and_audit_order, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    engines__ca_set_and_portal_constraints, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    engines__stamp_follows_other_connections, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    engines__nested_rollback_keeps_the_outer_work, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    engines__audit_ids_become_visible_in_order, setup,
		    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
