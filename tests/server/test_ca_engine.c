/* test_ca_engine.c — the CA engine and registry through their C API:
 * migrations, issuance and idempotency, conflicts, bad input, status
 * changes, CRL caching, principals, audit paging, batches, group commit
 * of concurrent issuances. */
#include <limits.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sqlite3.h>

#include "ca.h"
#include "reg.h"

struct fx {
	char dir[256];
	char data[300];
	ca_t *ca;
	reg_t *reg;
};

static void rm_rf(const char *dir)
{
	char cmd[600];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

/* A PEM CSR for a fresh key of the given kind ("P-256", "P-192",
 * "RSA1024"...). */
static char *make_csr(const char *kind, size_t *len)
{
	EVP_PKEY *k;
	X509_REQ *r = X509_REQ_new();
	BIO *b = BIO_new(BIO_s_mem());
	char *data, *out;
	long n;

	if (strncmp(kind, "RSA", 3) == 0)
		k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA",
		    (size_t)atoi(kind + 3));
	else
		k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", kind);
	assert_non_null(k);
	assert_int_equal(X509_REQ_set_pubkey(r, k), 1);
	assert_true(X509_REQ_sign(r, k, EVP_sha256()) > 0);
	assert_int_equal(PEM_write_bio_X509_REQ(b, r), 1);
	n = BIO_get_mem_data(b, &data);
	out = malloc((size_t)n + 1);
	memcpy(out, data, (size_t)n);
	out[n] = '\0';
	*len = (size_t)n;
	BIO_free(b);
	X509_REQ_free(r);
	EVP_PKEY_free(k);
	return out;
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	char err[512] = "";
	ca_init_opts_t o;

	snprintf(f->dir, sizeof(f->dir), "/tmp/provca-ca-test-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->data, sizeof(f->data), "%s/data", f->dir);
	memset(&o, 0, sizeof(o));
	o.data_dir = f->data;
	o.plain_keys = 1;
	o.example_oids = 1;
	o.public_base_url = "https://ca.test:8443";
	assert_int_equal(ca_init(&o, err, sizeof(err)), CA_OK);
	assert_int_equal(ca_open(&f->ca, f->data, NULL, err, sizeof(err)),
	    CA_OK);
	assert_int_equal(ca_reg_open(f->ca, &f->reg, err, sizeof(err)), CA_OK);
	assert_int_equal(ca_manufacturer_add(f->ca, f->reg, "acme", "Acme",
	                     NULL, "test", err, sizeof(err)),
	    CA_OK);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	reg_close(f->reg);
	ca_free(f->ca);
	rm_rf(f->dir);
	free(f);
	return 0;
}

static void reg_open__applies_every_migration(void **state)
{
	struct fx *f = *state;

	assert_int_equal(reg_schema_version(f->reg),
	    reg_migrations[reg_migrations_count - 1].version);
}

/* A server opens pooled connections while it issues: an open of a current
 * registry must not wait for the write lock another connection holds. */
static void reg_open__takes_no_write_lock_when_current(void **state)
{
	struct fx *f = *state;
	char err[512] = "";
	reg_t *second = NULL;

	assert_int_equal(reg_begin(f->reg, err, sizeof(err)), REG_OK);
	assert_int_equal(ca_reg_open(f->ca, &second, err, sizeof(err)), CA_OK);
	assert_int_equal(reg_schema_version(second),
	    reg_migrations[reg_migrations_count - 1].version);
	reg_close(second);
	reg_rollback(f->reg);
}

static void ca_init__refuses_existing_ca(void **state)
{
	struct fx *f = *state;
	ca_init_opts_t o;
	char err[512] = "";

	memset(&o, 0, sizeof(o));
	o.data_dir = f->data;
	o.plain_keys = 1;
	o.example_oids = 1;
	assert_int_equal(ca_init(&o, err, sizeof(err)), CA_ERR_EXISTS);
	assert_non_null(strstr(err, "already holds a CA"));
}

/* RFC 5612's documentation arc only when asked for; a real PEN for the URN
 * does not help while the build's EKU arc is still the example one. */
static void ca_init__refuses_example_oids_unless_told(void **state)
{
	struct fx *f = *state;
	ca_init_opts_t o;
	char err[512] = "", dir[PATH_MAX + 16];
	struct stat st;

	snprintf(dir, sizeof(dir), "%s/other", f->dir);
	memset(&o, 0, sizeof(o));
	o.data_dir = dir;
	o.plain_keys = 1;
	assert_int_equal(ca_init(&o, err, sizeof(err)), CA_ERR_INVALID);
	assert_non_null(strstr(err, "--example-oids"));
	o.pen = 99999;
	assert_int_equal(ca_init(&o, err, sizeof(err)), CA_ERR_INVALID);
	assert_non_null(strstr(err, "PROVCA_OID_ARC"));
	assert_int_not_equal(stat(dir, &st), 0); /* nothing was made */
	o.plain_base_url = "http://ca.test/crl";
	o.example_oids = 1;
	assert_int_equal(ca_init(&o, err, sizeof(err)), CA_ERR_INVALID);
	assert_non_null(strstr(err, "--plain-url"));
	o.plain_base_url = "http://ca.test:8080";
	assert_int_equal(ca_init(&o, err, sizeof(err)), CA_OK);
}

static void ca_device_issue__is_idempotent_for_same_key(void **state)
{
	struct fx *f = *state;
	ca_device_attrs_t a = { "acme", "SN-1", "M1", "1.0" };
	ca_issue_result_t r1, r2;
	char err[512] = "", *csr;
	size_t len;

	csr = make_csr("P-256", &len);
	assert_int_equal(ca_device_issue(f->ca, f->reg, &r1, (uint8_t *)csr,
	                     len, &a, "t", err, sizeof(err)),
	    CA_OK);
	assert_int_equal(r1.created, 1);
	assert_int_equal(strncmp(r1.device_id, "acme-", 5), 0);
	assert_int_equal(strlen(r1.device_id), 21);
	assert_true(ca_device_id_valid(r1.device_id));
	assert_non_null(strstr(r1.cert_url, "https://ca.test:8443/devices/"));
	assert_non_null(strstr(r1.cert_pem, "BEGIN CERTIFICATE"));
	assert_int_equal(ca_device_issue(f->ca, f->reg, &r2, (uint8_t *)csr,
	                     len, &a, "t", err, sizeof(err)),
	    CA_OK);
	assert_int_equal(r2.created, 0);
	assert_string_equal(r1.device_id, r2.device_id);
	assert_string_equal(r1.cert_pem, r2.cert_pem);
	assert_int_equal(reg_device_count(f->reg), 1);
	ca_issue_result_clear(&r1);
	ca_issue_result_clear(&r2);
	free(csr);
}

static void ca_device_issue__conflicts_on_second_key_until_revoked(void **state)
{
	struct fx *f = *state;
	ca_device_attrs_t a = { "acme", "SN-2", "M1", NULL };
	ca_issue_result_t r1, r2;
	char err[512] = "", *c1, *c2;
	size_t l1, l2;

	c1 = make_csr("P-256", &l1);
	c2 = make_csr("RSA2048", &l2);
	assert_int_equal(ca_device_issue(f->ca, f->reg, &r1, (uint8_t *)c1, l1,
	                     &a, "t", err, sizeof(err)),
	    CA_OK);
	assert_int_equal(ca_device_issue(f->ca, f->reg, &r2, (uint8_t *)c2, l2,
	                     &a, "t", err, sizeof(err)),
	    CA_ERR_CONFLICT);
	assert_non_null(strstr(err, "already enrolled with another key"));
	assert_int_equal(ca_device_revoke(f->ca, f->reg, r1.device_id, 1, "t",
	                     err, sizeof(err)),
	    CA_OK);
	assert_int_equal(ca_device_issue(f->ca, f->reg, &r2, (uint8_t *)c2, l2,
	                     &a, "t", err, sizeof(err)),
	    CA_OK);
	assert_int_equal(r2.created, 1);
	assert_string_not_equal(r1.device_id, r2.device_id);
	ca_issue_result_clear(&r1);
	ca_issue_result_clear(&r2);
	free(c1);
	free(c2);
}

/* One key, one identity: a key live on another device is refused, under
 * this manufacturer or another, alone or in a batch; the same request
 * again is still answered; once the holder is revoked the key is free. */
static void ca_device_issue__refuses_key_of_another_live_device(void **state)
{
	struct fx *f = *state;
	ca_device_attrs_t a = { "acme", "K-1", "M1", NULL };
	ca_device_attrs_t b = { "acme", "K-2", "M1", NULL };
	ca_device_attrs_t c = { "other", "K-1", "M1", NULL };
	ca_issue_result_t r1, r2;
	ca_issue_item_t it[2];
	char err[512] = "", *k, *k2;
	size_t l, l2;
	int i;

	assert_int_equal(ca_manufacturer_add(f->ca, f->reg, "other", "Other",
	                     NULL, "test", err, sizeof(err)),
	    CA_OK);
	k = make_csr("P-256", &l);
	k2 = make_csr("P-256", &l2);
	assert_int_equal(ca_device_issue(f->ca, f->reg, &r1, (uint8_t *)k, l,
	                     &a, "t", err, sizeof(err)),
	    CA_OK);
	assert_int_equal(ca_device_issue(f->ca, f->reg, &r2, (uint8_t *)k, l,
	                     &b, "t", err, sizeof(err)),
	    CA_ERR_KEY_IN_USE);
	assert_non_null(strstr(err, r1.device_id));
	assert_int_equal(ca_device_issue(f->ca, f->reg, &r2, (uint8_t *)k, l,
	                     &c, "t", err, sizeof(err)),
	    CA_ERR_KEY_IN_USE);
	assert_non_null(strstr(err, "another manufacturer"));
	assert_null(strstr(err, r1.device_id));
	/* Idempotency is untouched. */
	assert_int_equal(ca_device_issue(f->ca, f->reg, &r2, (uint8_t *)k, l,
	                     &a, "t", err, sizeof(err)),
	    CA_OK);
	assert_int_equal(r2.created, 0);
	assert_string_equal(r2.device_id, r1.device_id);
	ca_issue_result_clear(&r2);
	/* Two new devices with one new key in one batch: the second item is
	 * refused inside the transaction that stores the first. */
	memset(it, 0, sizeof(it));
	for (i = 0; i < 2; i++) {
		it[i].csr = (uint8_t *)k2;
		it[i].csr_len = l2;
		it[i].attrs.manufacturer_id = "acme";
		it[i].attrs.model = "B";
		it[i].attrs.serial = i == 0 ? "K-3" : "K-4";
	}
	assert_int_equal(ca_device_issue_batch(f->ca, f->reg, it, 2, 0, "t",
	                     err, sizeof(err)),
	    CA_OK);
	assert_int_equal(it[0].rc, CA_OK);
	assert_int_equal(it[1].rc, CA_ERR_KEY_IN_USE);
	assert_non_null(strstr(it[1].err, it[0].result.device_id));
	for (i = 0; i < 2; i++)
		ca_issue_result_clear(&it[i].result);
	assert_int_equal(reg_device_count(f->reg), 2);
	/* A suspended holder still holds the key; a revoked one does not. */
	assert_int_equal(ca_device_suspend(f->ca, f->reg, r1.device_id, "t",
	                     err, sizeof(err)),
	    CA_OK);
	assert_int_equal(ca_device_issue(f->ca, f->reg, &r2, (uint8_t *)k, l,
	                     &b, "t", err, sizeof(err)),
	    CA_ERR_KEY_IN_USE);
	assert_int_equal(ca_device_revoke(f->ca, f->reg, r1.device_id, 1, "t",
	                     err, sizeof(err)),
	    CA_OK);
	assert_int_equal(ca_device_issue(f->ca, f->reg, &r2, (uint8_t *)k, l,
	                     &c, "t", err, sizeof(err)),
	    CA_OK);
	assert_int_equal(r2.created, 1);
	ca_issue_result_clear(&r1);
	ca_issue_result_clear(&r2);
	free(k);
	free(k2);
}

static void ca_device_issue__refuses_bad_input(void **state)
{
	struct fx *f = *state;
	ca_device_attrs_t good = { "acme", "SN-3", "M1", NULL };
	ca_device_attrs_t a;
	ca_issue_result_t r;
	char err[512] = "", *csr, *weak, *rsa1k, bad[2048], ctl[] = "M\x01";
	size_t len, wl, rl;

	csr = make_csr("P-256", &len);
	weak = make_csr("P-192", &wl);
	rsa1k = make_csr("RSA1024", &rl);
	assert_int_equal(ca_device_issue(f->ca, f->reg, &r, (uint8_t *)weak, wl,
	                     &good, "t", err, sizeof(err)),
	    CA_ERR_INVALID);
	assert_non_null(strstr(err, "not accepted"));
	assert_int_equal(ca_device_issue(f->ca, f->reg, &r, (uint8_t *)rsa1k,
	                     rl, &good, "t", err, sizeof(err)),
	    CA_ERR_INVALID);
	assert_non_null(strstr(err, "RSA-1024"));
	/* Truncated CSR. */
	assert_int_equal(ca_device_issue(f->ca, f->reg, &r, (uint8_t *)csr,
	                     len / 2, &good, "t", err, sizeof(err)),
	    CA_ERR_INVALID);
	/* Tampered signature: flip a byte inside the base64 body's tail. */
	memcpy(bad, csr, len);
	bad[len - 40] = bad[len - 40] == 'A' ? 'B' : 'A';
	assert_int_equal(ca_device_issue(f->ca, f->reg, &r, (uint8_t *)bad, len,
	                     &good, "t", err, sizeof(err)),
	    CA_ERR_INVALID);
	a = good;
	a.model = ctl;
	assert_int_equal(ca_device_issue(f->ca, f->reg, &r, (uint8_t *)csr, len,
	                     &a, "t", err, sizeof(err)),
	    CA_ERR_INVALID);
	a = good;
	a.serial =
	    "0123456789012345678901234567890123456789012345678901234567890"
	    "12345";
	assert_int_equal(ca_device_issue(f->ca, f->reg, &r, (uint8_t *)csr, len,
	                     &a, "t", err, sizeof(err)),
	    CA_ERR_INVALID);
	a = good;
	a.manufacturer_id = "nobody";
	assert_int_equal(ca_device_issue(f->ca, f->reg, &r, (uint8_t *)csr, len,
	                     &a, "t", err, sizeof(err)),
	    CA_ERR_NOT_FOUND);
	assert_non_null(strstr(err, "unknown manufacturer"));
	assert_int_equal(reg_device_count(f->reg), 0);
	free(csr);
	free(weak);
	free(rsa1k);
}

static void ca_device_status__transitions_and_crl_generation(void **state)
{
	struct fx *f = *state;
	ca_device_attrs_t a = { "acme", "SN-4", "M1", NULL };
	ca_issue_result_t r;
	ca_device_t d;
	uint8_t *der1 = NULL, *der2 = NULL, *der3 = NULL;
	size_t l1, l2, l3;
	int64_t g1, g2, nu;
	char err[512] = "", *csr;
	size_t len;

	csr = make_csr("P-256", &len);
	assert_int_equal(ca_device_issue(f->ca, f->reg, &r, (uint8_t *)csr, len,
	                     &a, "t", err, sizeof(err)),
	    CA_OK);
	assert_int_equal(ca_crl_get(f->ca, f->reg, &der1, &l1, &nu, err,
	                     sizeof(err)),
	    CA_OK);
	assert_int_equal(ca_crl_get(f->ca, f->reg, &der2, &l2, &nu, err,
	                     sizeof(err)),
	    CA_OK);
	/* Unchanged generation: the cached CRL, byte for byte. */
	assert_int_equal(l1, l2);
	assert_memory_equal(der1, der2, l1);
	assert_int_equal(reg_crl_generation(f->reg, &g1), REG_OK);
	assert_int_equal(ca_device_reinstate(f->ca, f->reg, r.device_id, "t",
	                     err, sizeof(err)),
	    CA_ERR_STATE);
	assert_int_equal(ca_device_suspend(f->ca, f->reg, r.device_id, "t", err,
	                     sizeof(err)),
	    CA_OK);
	assert_int_equal(reg_crl_generation(f->reg, &g2), REG_OK);
	assert_int_equal(g2, g1 + 1);
	assert_int_equal(ca_crl_get(f->ca, f->reg, &der3, &l3, &nu, err,
	                     sizeof(err)),
	    CA_OK);
	assert_true(l3 > l1);
	assert_int_equal(ca_device_get(f->ca, f->reg, &d, r.device_id, err,
	                     sizeof(err)),
	    CA_OK);
	assert_string_equal(d.rec.status, "suspended");
	assert_int_equal(d.rec.reason, 6);
	assert_int_equal(d.rec.version, 2);
	assert_string_equal(d.rec.manufacturer_name, "Acme");
	assert_string_equal(d.rec.key_type, "EC-P256");
	ca_device_clear(&d);
	assert_int_equal(ca_device_revoke(f->ca, f->reg, r.device_id,
	                     ca_reason_from_name("keyCompromise"), "t", err,
	                     sizeof(err)),
	    CA_OK);
	assert_int_equal(ca_device_revoke(f->ca, f->reg, r.device_id, 1, "t",
	                     err, sizeof(err)),
	    CA_ERR_STATE);
	assert_non_null(strstr(err, "revoked: keyCompromise"));
	assert_int_equal(ca_device_revoke(f->ca, f->reg, "no-such", 1, "t", err,
	                     sizeof(err)),
	    CA_ERR_NOT_FOUND);
	assert_int_equal(ca_device_revoke(f->ca, f->reg, "bad/id", 1, "t", err,
	                     sizeof(err)),
	    CA_ERR_INVALID);
	assert_int_equal(ca_device_revoke(f->ca, f->reg, r.device_id, 6, "t",
	                     err, sizeof(err)),
	    CA_ERR_INVALID);
	free(der1);
	free(der2);
	free(der3);
	ca_issue_result_clear(&r);
	free(csr);
}

static void ca_principal__authenticates_until_disabled(void **state)
{
	struct fx *f = *state;
	ca_principal_attrs_t a = { .name = "op1", .role = REG_ROLE_OPERATOR };
	ca_principal_attrs_t m = { .name = "m1",
		.role = REG_ROLE_MANUFACTURER };
	ca_principal_creds_t cr;
	reg_principal_t p;
	X509 *x = NULL;
	BIO *b;
	unsigned char *der = NULL, md[32];
	unsigned int mdlen;
	char err[512] = "";
	int len;

	assert_int_equal(ca_principal_add_generated(f->ca, f->reg, &cr, &a,
	                     "pw", NULL, "t", err, sizeof(err)),
	    CA_OK);
	assert_non_null(cr.key_pem);
	assert_true(cr.p12_len > 0);
	b = BIO_new_mem_buf(cr.cert_pem, -1);
	x = PEM_read_bio_X509(b, NULL, NULL, NULL);
	BIO_free(b);
	ca_principal_creds_clear(&cr);
	assert_non_null(x);
	len = i2d_X509(x, &der);
	EVP_Digest(der, (size_t)len, md, &mdlen, EVP_sha256(), NULL);
	assert_int_equal(ca_principal_authenticate(f->ca, f->reg, &p, md, err,
	                     sizeof(err)),
	    CA_OK);
	assert_string_equal(p.name, "op1");
	assert_string_equal(p.role, "operator");
	assert_int_equal(ca_principal_add_generated(f->ca, f->reg, &cr, &a,
	                     "pw", NULL, "t", err, sizeof(err)),
	    CA_ERR_CONFLICT);
	assert_int_equal(ca_principal_add_generated(f->ca, f->reg, &cr, &m,
	                     "pw", NULL, "t", err, sizeof(err)),
	    CA_ERR_INVALID);
	assert_int_equal(ca_principal_disable(f->ca, f->reg, "op1", "t", err,
	                     sizeof(err)),
	    CA_OK);
	assert_int_equal(ca_principal_authenticate(f->ca, f->reg, &p, md, err,
	                     sizeof(err)),
	    CA_ERR_DENIED);
	md[0] ^= 1;
	assert_int_equal(ca_principal_authenticate(f->ca, f->reg, &p, md, err,
	                     sizeof(err)),
	    CA_ERR_NOT_FOUND);
	OPENSSL_free(der);
	X509_free(x);
}

static void ca_device_issue_batch__all_or_nothing_rolls_back(void **state)
{
	struct fx *f = *state;
	ca_issue_item_t it[3];
	char err[512] = "", *c[3];
	size_t l[3];
	int i;

	memset(it, 0, sizeof(it));
	for (i = 0; i < 3; i++) {
		c[i] = make_csr("P-256", &l[i]);
		it[i].csr = (uint8_t *)c[i];
		it[i].csr_len = l[i];
		it[i].attrs.manufacturer_id = "acme";
		it[i].attrs.model = "B";
	}
	it[0].attrs.serial = "B-1";
	it[1].attrs.serial = "B-2";
	it[2].attrs.serial = "bad\tserial";
	assert_int_equal(ca_device_issue_batch(f->ca, f->reg, it, 3, 1, "t",
	                     err, sizeof(err)),
	    CA_ERR_INVALID);
	assert_int_equal(reg_device_count(f->reg), 0);
	it[2].attrs.serial = "B-3";
	assert_int_equal(ca_device_issue_batch(f->ca, f->reg, it, 3, 1, "t",
	                     err, sizeof(err)),
	    CA_OK);
	assert_int_equal(reg_device_count(f->reg), 3);
	for (i = 0; i < 3; i++) {
		assert_int_equal(it[i].rc, CA_OK);
		ca_issue_result_clear(&it[i].result);
		free(c[i]);
	}
}

/* ---- group commit and batches ------------------------------------------ */

#define GC_THREADS 8
#define GC_OWN 3

struct gc_arg {
	ca_t *ca;
	pthread_barrier_t *start;
	int idx;
	const char *same_csr; /* every thread: serial G-same */
	const char *key_csr;  /* threads 0 and 1: serial G-key */
	char *own_csr[GC_OWN];
	int open_rc;
	int rc_own[GC_OWN], created_own[GC_OWN];
	char id_own[GC_OWN][REG_DEVICE_ID_MAX + 1];
	char cn_own[GC_OWN][REG_DEVICE_ID_MAX + 1];
	int rc_same, created_same;
	char id_same[REG_DEVICE_ID_MAX + 1];
	int rc_key;
	char err_key[512];
};

/* The CN of a PEM certificate into out ("" if unreadable). */
static void pem_cn(char *out, size_t outlen, const char *pem)
{
	BIO *b = BIO_new_mem_buf(pem, -1);
	X509 *c = b != NULL ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;

	out[0] = '\0';
	if (c != NULL)
		X509_NAME_get_text_by_NID(X509_get_subject_name(c),
		    NID_commonName, out, (int)outlen);
	X509_free(c);
	BIO_free(b);
}

static void *gc_thread(void *p)
{
	struct gc_arg *a = p;
	ca_device_attrs_t at = { "acme", NULL, "G", "" };
	ca_issue_result_t r;
	reg_t *reg = NULL;
	char err[512], serial[32];
	int i;

	a->open_rc = ca_reg_open(a->ca, &reg, err, sizeof(err));
	pthread_barrier_wait(a->start);
	if (a->open_rc != CA_OK)
		return NULL;
	for (i = 0; i < GC_OWN; i++) {
		snprintf(serial, sizeof(serial), "G-%d-%d", a->idx, i);
		at.serial = serial;
		a->rc_own[i] =
		    ca_device_issue(a->ca, reg, &r, (uint8_t *)a->own_csr[i],
		        strlen(a->own_csr[i]), &at, "t", err, sizeof(err));
		if (a->rc_own[i] == CA_OK) {
			a->created_own[i] = r.created;
			snprintf(a->id_own[i], sizeof(a->id_own[i]), "%s",
			    r.device_id);
			pem_cn(a->cn_own[i], sizeof(a->cn_own[i]), r.cert_pem);
		}
		ca_issue_result_clear(&r);
		if (i == 0) {
			at.serial = "G-same";
			a->rc_same = ca_device_issue(a->ca, reg, &r,
			    (uint8_t *)a->same_csr, strlen(a->same_csr), &at,
			    "t", err, sizeof(err));
			a->created_same = r.created;
			snprintf(a->id_same, sizeof(a->id_same), "%s",
			    r.device_id);
			ca_issue_result_clear(&r);
		}
		if (i == 1 && a->key_csr != NULL) {
			at.serial = "G-key";
			a->rc_key = ca_device_issue(a->ca, reg, &r,
			    (uint8_t *)a->key_csr, strlen(a->key_csr), &at, "t",
			    a->err_key, sizeof(a->err_key));
			ca_issue_result_clear(&r);
		}
	}
	reg_close(reg);
	return NULL;
}

static int64_t audit_issue_count(reg_t *reg)
{
	sqlite3_stmt *st = NULL;
	int64_t n = -1;

	if (sqlite3_prepare_v2(reg_sqlite(reg),
	        "SELECT count(*) FROM audit"
	        " WHERE action = 'device.issue'",
	        -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return n;
}

static void ca_device_issue__concurrent_callers_get_their_own_answers(
    void **state)
{
	struct fx *f = *state;
	struct gc_arg a[GC_THREADS];
	pthread_t th[GC_THREADS];
	pthread_barrier_t start;
	char *same, *key[2];
	size_t len;
	int t, i, created_same = 0, ok_key = 0, conflict_key = 0;

	/* The registry connection keeps its statements: a count read before
	 * must not pin the snapshot the later count sees. */
	assert_int_equal(reg_device_count(f->reg), 0);
	same = make_csr("P-256", &len);
	key[0] = make_csr("P-256", &len);
	key[1] = make_csr("P-256", &len);
	assert_int_equal(pthread_barrier_init(&start, NULL, GC_THREADS), 0);
	memset(a, 0, sizeof(a));
	for (t = 0; t < GC_THREADS; t++) {
		a[t].ca = f->ca;
		a[t].start = &start;
		a[t].idx = t;
		a[t].same_csr = same;
		a[t].key_csr = t < 2 ? key[t] : NULL;
		for (i = 0; i < GC_OWN; i++)
			a[t].own_csr[i] = make_csr("P-256", &len);
		assert_int_equal(pthread_create(&th[t], NULL, gc_thread, &a[t]),
		    0);
	}
	for (t = 0; t < GC_THREADS; t++)
		assert_int_equal(pthread_join(th[t], NULL), 0);
	pthread_barrier_destroy(&start);
	for (t = 0; t < GC_THREADS; t++) {
		assert_int_equal(a[t].open_rc, CA_OK);
		for (i = 0; i < GC_OWN; i++) {
			/* Each caller gets the certificate of its own device. */
			assert_int_equal(a[t].rc_own[i], CA_OK);
			assert_int_equal(a[t].created_own[i], 1);
			assert_string_equal(a[t].cn_own[i], a[t].id_own[i]);
			free(a[t].own_csr[i]);
		}
		/* One serial, one key, many callers: one device. */
		assert_int_equal(a[t].rc_same, CA_OK);
		assert_string_equal(a[t].id_same, a[0].id_same);
		created_same += a[t].created_same;
	}
	assert_int_equal(created_same, 1);
	for (t = 0; t < 2; t++) {
		if (a[t].rc_key == CA_OK) {
			ok_key++;
		} else {
			assert_int_equal(a[t].rc_key, CA_ERR_CONFLICT);
			assert_non_null(strstr(a[t].err_key,
			    "already enrolled with another key"));
			conflict_key++;
		}
	}
	assert_int_equal(ok_key, 1);
	assert_int_equal(conflict_key, 1);
	assert_int_equal(reg_device_count(f->reg), GC_THREADS * GC_OWN + 2);
	assert_int_equal(audit_issue_count(f->reg), GC_THREADS * GC_OWN + 2);
	free(same);
	free(key[0]);
	free(key[1]);
}

#define KEY_RACERS 6

struct key_race {
	ca_t *ca;
	pthread_barrier_t *start;
	const char *csr;
	char serial[16];
	int rc;
};

static void *key_race_thread(void *p)
{
	struct key_race *k = p;
	ca_device_attrs_t at = { "acme", k->serial, "R", "" };
	ca_issue_result_t r;
	reg_t *reg = NULL;
	char err[512];

	k->rc = ca_reg_open(k->ca, &reg, err, sizeof(err));
	pthread_barrier_wait(k->start);
	if (k->rc != CA_OK)
		return NULL;
	k->rc = ca_device_issue(k->ca, reg, &r, (const uint8_t *)k->csr,
	    strlen(k->csr), &at, "t", err, sizeof(err));
	ca_issue_result_clear(&r);
	reg_close(reg);
	return NULL;
}

/* Callers racing with one key under different serials: every one passes
 * the early check, the committing transaction lets exactly one through. */
static void ca_device_issue__one_key_race_has_one_winner(void **state)
{
	struct fx *f = *state;
	struct key_race k[KEY_RACERS];
	pthread_t th[KEY_RACERS];
	pthread_barrier_t start;
	char *csr;
	size_t len;
	int t, ok = 0, in_use = 0;

	csr = make_csr("P-256", &len);
	assert_int_equal(pthread_barrier_init(&start, NULL, KEY_RACERS), 0);
	for (t = 0; t < KEY_RACERS; t++) {
		memset(&k[t], 0, sizeof(k[t]));
		k[t].ca = f->ca;
		k[t].start = &start;
		k[t].csr = csr;
		snprintf(k[t].serial, sizeof(k[t].serial), "R-%d", t);
		assert_int_equal(pthread_create(&th[t], NULL, key_race_thread,
		                     &k[t]),
		    0);
	}
	for (t = 0; t < KEY_RACERS; t++)
		assert_int_equal(pthread_join(th[t], NULL), 0);
	pthread_barrier_destroy(&start);
	for (t = 0; t < KEY_RACERS; t++) {
		if (k[t].rc == CA_OK)
			ok++;
		else if (k[t].rc == CA_ERR_KEY_IN_USE)
			in_use++;
	}
	assert_int_equal(ok, 1);
	assert_int_equal(in_use, KEY_RACERS - 1);
	assert_int_equal(reg_device_count(f->reg), 1);
	free(csr);
}

/* Callers repeating one request (manufacturer, serial, key) at once all
 * get the one device: the key check never mistakes the winner's fresh
 * commit for another device holding the key. */
static void ca_device_issue__racing_repeats_all_get_the_device(void **state)
{
	struct fx *f = *state;
	struct key_race k[KEY_RACERS];
	pthread_t th[KEY_RACERS];
	pthread_barrier_t start;
	char *csr;
	size_t len;
	int t, round;

	for (round = 0; round < 15; round++) {
		csr = make_csr("P-256", &len);
		assert_int_equal(pthread_barrier_init(&start, NULL, KEY_RACERS),
		    0);
		for (t = 0; t < KEY_RACERS; t++) {
			memset(&k[t], 0, sizeof(k[t]));
			k[t].ca = f->ca;
			k[t].start = &start;
			k[t].csr = csr;
			snprintf(k[t].serial, sizeof(k[t].serial), "S-%d",
			    round);
			assert_int_equal(pthread_create(&th[t], NULL,
			                     key_race_thread, &k[t]),
			    0);
		}
		for (t = 0; t < KEY_RACERS; t++)
			assert_int_equal(pthread_join(th[t], NULL), 0);
		pthread_barrier_destroy(&start);
		for (t = 0; t < KEY_RACERS; t++)
			assert_int_equal(k[t].rc, CA_OK);
		free(csr);
	}
	assert_int_equal(reg_device_count(f->reg), 15);
}

static void ca_device_issue_batch__repeats_and_conflicts_within_a_batch(
    void **state)
{
	struct fx *f = *state;
	ca_issue_item_t it[4];
	char err[512] = "", *c[3];
	size_t l[3];
	int i;

	memset(it, 0, sizeof(it));
	for (i = 0; i < 3; i++)
		c[i] = make_csr("P-256", &l[i]);
	for (i = 0; i < 4; i++) {
		it[i].attrs.manufacturer_id = "acme";
		it[i].attrs.model = "B";
	}
	it[0].csr = (uint8_t *)c[0];
	it[0].csr_len = l[0];
	it[0].attrs.serial = "D-1";
	it[1].csr = (uint8_t *)c[0];
	it[1].csr_len = l[0];
	it[1].attrs.serial = "D-1";
	it[2].csr = (uint8_t *)c[1];
	it[2].csr_len = l[1];
	it[2].attrs.serial = "D-2";
	it[3].csr = (uint8_t *)c[2];
	it[3].csr_len = l[2];
	it[3].attrs.serial = "D-2";
	assert_int_equal(ca_device_issue_batch(f->ca, f->reg, it, 4, 0, "t",
	                     err, sizeof(err)),
	    CA_OK);
	assert_int_equal(it[0].rc, CA_OK);
	assert_int_equal(it[0].result.created, 1);
	assert_int_equal(it[1].rc, CA_OK);
	assert_int_equal(it[1].result.created, 0);
	assert_string_equal(it[1].result.device_id, it[0].result.device_id);
	assert_string_equal(it[1].result.cert_pem, it[0].result.cert_pem);
	assert_int_equal(it[2].rc, CA_OK);
	assert_int_equal(it[2].result.created, 1);
	assert_int_equal(it[3].rc, CA_ERR_CONFLICT);
	assert_non_null(strstr(it[3].err, it[2].result.device_id));
	assert_int_equal(reg_device_count(f->reg), 2);
	assert_int_equal(audit_issue_count(f->reg), 2);
	for (i = 0; i < 4; i++)
		ca_issue_result_clear(&it[i].result);
	for (i = 0; i < 3; i++)
		free(c[i]);
}

/* Large enough for the parse and sign threads: repeats and conflicts
 * inside the batch are decided as one by one, in order; an all-or-nothing
 * batch that fails at a late item (found only when it is stored) stores
 * nothing. */
#define BIG 48
static void ca_device_issue_batch__threaded_batch_keeps_item_results(
    void **state)
{
	struct fx *f = *state;
	ca_issue_item_t it[BIG];
	char err[512] = "", *c[BIG], sn[BIG][16];
	size_t l[BIG];
	int i, created = 0;

	memset(it, 0, sizeof(it));
	for (i = 0; i < BIG; i++) {
		c[i] = make_csr("P-256", &l[i]);
		snprintf(sn[i], sizeof(sn[i]), "P-%d", i);
		it[i].csr = (uint8_t *)c[i];
		it[i].csr_len = l[i];
		it[i].attrs.manufacturer_id = "acme";
		it[i].attrs.model = "B";
		it[i].attrs.serial = sn[i];
	}
	/* i % 8 == 3: repeat of item i - 1 (same serial, same key);
	 * i % 8 == 5: item i - 1's serial with its own key (conflict). */
	for (i = 0; i < BIG; i++) {
		if (i % 8 == 3) {
			it[i].csr = it[i - 1].csr;
			it[i].csr_len = it[i - 1].csr_len;
			it[i].attrs.serial = sn[i - 1];
		} else if (i % 8 == 5) {
			it[i].attrs.serial = sn[i - 1];
		}
	}
	assert_int_equal(ca_device_issue_batch(f->ca, f->reg, it, BIG, 0, "t",
	                     err, sizeof(err)),
	    CA_OK);
	for (i = 0; i < BIG; i++) {
		if (i % 8 == 3) {
			assert_int_equal(it[i].rc, CA_OK);
			assert_int_equal(it[i].result.created, 0);
			assert_string_equal(it[i].result.device_id,
			    it[i - 1].result.device_id);
			assert_string_equal(it[i].result.cert_pem,
			    it[i - 1].result.cert_pem);
		} else if (i % 8 == 5) {
			assert_int_equal(it[i].rc, CA_ERR_CONFLICT);
			assert_non_null(
			    strstr(it[i].err, it[i - 1].result.device_id));
		} else {
			assert_int_equal(it[i].rc, CA_OK);
			assert_int_equal(it[i].result.created, 1);
			created++;
		}
	}
	assert_int_equal(reg_device_count(f->reg), created);
	assert_int_equal(audit_issue_count(f->reg), created);
	for (i = 0; i < BIG; i++) {
		ca_issue_result_clear(&it[i].result);
		free(c[i]);
	}

	/* All or nothing: item 40 takes item 39's serial with another key,
	 * found only when it is stored. */
	for (i = 0; i < BIG; i++) {
		c[i] = make_csr("P-256", &l[i]);
		snprintf(sn[i], sizeof(sn[i]), "Q-%d", i);
		it[i].csr = (uint8_t *)c[i];
		it[i].csr_len = l[i];
		it[i].attrs.serial = sn[i];
	}
	it[40].attrs.serial = sn[39];
	assert_int_equal(ca_device_issue_batch(f->ca, f->reg, it, BIG, 1, "t",
	                     err, sizeof(err)),
	    CA_ERR_CONFLICT);
	assert_non_null(strstr(err, "item 40:"));
	assert_int_equal(reg_device_count(f->reg), created);
	assert_int_equal(audit_issue_count(f->reg), created);
	for (i = 0; i < BIG; i++) {
		assert_null(it[i].result.cert_pem);
		free(c[i]);
	}
}

static void ca_device_issue__certificate_carries_the_request_key(void **state)
{
	struct fx *f = *state;
	ca_device_attrs_t a = { "acme", "K-1", "M1", "" };
	ca_issue_result_t r;
	char err[512] = "", *csr, *data;
	size_t len;
	long n;
	BIO *b, *out;
	X509 *c, *dca;
	X509_REQ *req;
	const ASN1_OCTET_STRING *aki, *ski;
	const uint8_t *der;
	size_t der_len;

	csr = make_csr("P-256", &len);
	assert_int_equal(ca_device_issue(f->ca, f->reg, &r, (uint8_t *)csr, len,
	                     &a, "t", err, sizeof(err)),
	    CA_OK);
	b = BIO_new_mem_buf(csr, (int)len);
	req = PEM_read_bio_X509_REQ(b, NULL, NULL, NULL);
	BIO_free(b);
	b = BIO_new_mem_buf(r.cert_pem, -1);
	c = PEM_read_bio_X509(b, NULL, NULL, NULL);
	BIO_free(b);
	assert_non_null(req);
	assert_non_null(c);
	/* The subject key is the request's, byte for byte. */
	assert_int_equal(EVP_PKEY_eq(X509_get0_pubkey(c),
	                     X509_REQ_get0_pubkey(req)),
	    1);
	/* Signed by the Device CA, AKI = its SKI. */
	assert_int_equal(ca_cert_der(f->ca, CA_CERT_DEVICE, &der, &der_len),
	    CA_OK);
	dca = d2i_X509(NULL, &der, (long)der_len);
	assert_non_null(dca);
	assert_int_equal(X509_verify(c, X509_get0_pubkey(dca)), 1);
	aki = X509_get0_authority_key_id(c);
	ski = X509_get0_subject_key_id(dca);
	assert_non_null(aki);
	assert_non_null(ski);
	assert_int_equal(ASN1_STRING_cmp(aki, ski), 0);
	assert_non_null(X509_get0_subject_key_id(c));
	assert_int_equal(X509_get_key_usage(c),
	    KU_DIGITAL_SIGNATURE | KU_KEY_AGREEMENT);
	assert_true(X509_get_extension_flags(c) & EXFLAG_XKUSAGE);
	assert_true(
	    X509_get_ext_by_NID(c, NID_crl_distribution_points, -1) >= 0);
	assert_true(X509_get_ext_by_NID(c, NID_info_access, -1) >= 0);
	assert_true(X509_get_ext_by_NID(c, NID_subject_alt_name, -1) >= 0);
	/* The PEM written from the stored DER is OpenSSL's own PEM. */
	out = BIO_new(BIO_s_mem());
	assert_int_equal(PEM_write_bio_X509(out, c), 1);
	n = BIO_get_mem_data(out, &data);
	assert_int_equal((size_t)n, strlen(r.cert_pem));
	assert_memory_equal(data, r.cert_pem, (size_t)n);
	BIO_free(out);
	X509_free(dca);
	X509_free(c);
	X509_REQ_free(req);
	ca_issue_result_clear(&r);
	free(csr);
}

static void reg_audit__is_append_only_and_pages(void **state)
{
	struct fx *f = *state;
	reg_audit_filter_t fl;
	reg_audit_t *list = NULL;
	size_t n = 0;
	int64_t next = 0;
	char err[512] = "";
	int i;

	for (i = 0; i < 5; i++)
		assert_int_equal(reg_audit_append(f->reg, "t", "x.test", "tgt",
		                     NULL, err, sizeof(err)),
		    REG_OK);
	memset(&fl, 0, sizeof(fl));
	fl.action = "x.test";
	fl.limit = 2;
	assert_int_equal(reg_audit_list(f->reg, &list, &n, &next, &fl, err,
	                     sizeof(err)),
	    REG_OK);
	assert_int_equal(n, 2);
	assert_true(next > 0);
	assert_string_equal(list[0].details, "{}");
	reg_audit_list_free(list, n);
	fl.after = next;
	fl.limit = 10;
	assert_int_equal(reg_audit_list(f->reg, &list, &n, &next, &fl, err,
	                     sizeof(err)),
	    REG_OK);
	assert_int_equal(n, 3);
	assert_int_equal(next, 0);
	reg_audit_list_free(list, n);
	assert_int_not_equal(sqlite3_exec(reg_sqlite(f->reg),
	                         "DELETE FROM audit", NULL, NULL, NULL),
	    SQLITE_OK);
	assert_int_not_equal(sqlite3_exec(reg_sqlite(f->reg),
	                         "UPDATE audit SET actor = 'x'", NULL, NULL,
	                         NULL),
	    SQLITE_OK);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
		    ca_init__refuses_example_oids_unless_told, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    reg_open__applies_every_migration, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    reg_open__takes_no_write_lock_when_current, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(ca_init__refuses_existing_ca,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    ca_device_issue__is_idempotent_for_same_key, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    ca_device_issue__conflicts_on_second_key_until_revoked,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    ca_device_issue__refuses_key_of_another_live_device, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    ca_device_issue__refuses_bad_input, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    ca_device_status__transitions_and_crl_generation, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    ca_principal__authenticates_until_disabled, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    ca_device_issue_batch__all_or_nothing_rolls_back, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    reg_audit__is_append_only_and_pages, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    ca_device_issue__concurrent_callers_get_their_own_answers,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    ca_device_issue_batch__repeats_and_conflicts_within_a_batch,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    ca_device_issue_batch__threaded_batch_keeps_item_results,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    ca_device_issue__one_key_race_has_one_winner, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    ca_device_issue__racing_repeats_all_get_the_device, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    ca_device_issue__certificate_carries_the_request_key, setup,
		    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
