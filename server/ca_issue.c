/* ca_issue.c — device issuance: check a PKCS#10 CSR and the device
 * attributes, assign a DeviceID, build the IDevID-profile certificate and
 * commit device row + certificate + audit entry in one transaction;
 * idempotent repeats; the same from a bare public key (CMP's certificate
 * templates); batches in one transaction; device lookup. */
#include "ca_priv.h"
#include "ca_profile.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "pki.h"
#include "reg_group.h"
#include "util.h"

/* DeviceID characters after "<manufacturer>-": a time prefix, then
 * random ones (see device_id_new). */
#define DEVICE_ID_TICK_CHARS 6
#define DEVICE_ID_RANDOM_CHARS 10

/* X.520 PrintableString characters (the subject serialNumber's type). */
static int printable_string_valid(const char *s, size_t max)
{
	size_t i;

	if (s == NULL || s[0] == '\0')
		return 0;
	for (i = 0; s[i] != '\0'; i++) {
		char c = s[i];

		if (i >= max)
			return 0;
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		        (c >= '0' && c <= '9') ||
		        strchr(" '()+,-./:=?", c) != NULL))
			return 0;
	}
	return 1;
}

static int attrs_check(const ca_device_attrs_t *a, char *err, size_t errlen)
{
	if (!ca_token_valid(a->manufacturer_id, REG_MFR_ID_MAX)) {
		util_err_set(err, errlen,
		    "manufacturer id must match "
		    "[A-Za-z0-9._-]{1,%d}",
		    REG_MFR_ID_MAX);
		return CA_ERR_INVALID;
	}
	if (!printable_string_valid(a->serial, REG_ATTR_MAX)) {
		util_err_set(err, errlen,
		    "serial must be 1..%d characters of "
		    "A-Z a-z 0-9 space ' ( ) + , - . / : = ?",
		    REG_ATTR_MAX);
		return CA_ERR_INVALID;
	}
	if (!ca_printable_valid(a->model, REG_ATTR_MAX)) {
		util_err_set(err, errlen,
		    "model must be 1..%d printable ASCII "
		    "characters (no control characters)",
		    REG_ATTR_MAX);
		return CA_ERR_INVALID;
	}
	if (a->hw_version != NULL && a->hw_version[0] != '\0' &&
	    !ca_printable_valid(a->hw_version, REG_ATTR_MAX)) {
		util_err_set(err, errlen,
		    "hardware version must be 0..%d "
		    "printable ASCII characters (no control characters)",
		    REG_ATTR_MAX);
		return CA_ERR_INVALID;
	}
	return CA_OK;
}

/* One RFC 9039 identifier: the grammar (section 3.2) has no escape of its
 * own and no '%' (devunreserved = ALPHA / DIGIT / "." / "-"; a product
 * has no "-"). ALPHA and DIGIT are kept, '-' too where keep_dash says the
 * field may carry it; every other byte, '.' included, becomes '.' and two
 * upper-case hex digits, so the mapping stays reversible and two attributes
 * never share a URN: "Sensor 1" -> "Sensor.201", "a.b" -> "a.2Eb". */
static size_t urn_enc(char *out, size_t cap, const char *s, int keep_dash)
{
	static const char hx[] = "0123456789ABCDEF";
	size_t n = 0;

	for (; *s != '\0' && n + 4 < cap; s++) {
		unsigned char c = (unsigned char)*s;

		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		    (c >= '0' && c <= '9') || (keep_dash && c == '-')) {
			out[n++] = (char)c;
		} else {
			out[n++] = '.';
			out[n++] = hx[c >> 4];
			out[n++] = hx[c & 15];
		}
	}
	out[n] = '\0';
	return n;
}

/* The device URN (RFC 9039), under the configured PEN (device_urn_pen):
 * urn:dev:ops:<PEN>-<model>-<serial> when the manufacturer has an IEEE
 * OUI (the ops form takes a PEN, never an OUI), else
 * urn:dev:org:<PEN>-<manufacturer>:<serial> (the serial as the org form's
 * ":" sub-identifier, so no separator needs escaping). */
static void device_urn(char *out, size_t cap, const ca_t *ca,
    const reg_manufacturer_t *m, const ca_device_attrs_t *a)
{
	char e1[3 * REG_ATTR_MAX + 8], e2[3 * REG_ATTR_MAX + 8];

	if (m->oui[0] != '\0') {
		urn_enc(e1, sizeof(e1), a->model, 0);
		urn_enc(e2, sizeof(e2), a->serial, 1);
		snprintf(out, cap, "urn:dev:ops:%u-%s-%s",
		    (unsigned)ca->cfg.device_urn_pen, e1, e2);
	} else {
		urn_enc(e1, sizeof(e1), m->id, 1);
		urn_enc(e2, sizeof(e2), a->serial, 1);
		snprintf(out, cap, "urn:dev:org:%u-%s:%s",
		    (unsigned)ca->cfg.device_urn_pen, e1, e2);
	}
}

/* manufacturer id + "-" + 16 base32 characters: 6 of ca_tick30() (the
 * millisecond clock, 30 bits), then 10 random (50 bits). The alphabet is
 * in ASCII order, so IDs made one after another sort one after another:
 * the three indexes keyed by DeviceID (devices, certificates, audit by
 * target) take each new entry on the page the previous one went to,
 * instead of dirtying a random page per index and device. Uniqueness is
 * the table's constraint; the random part keeps IDs unguessable within a
 * millisecond. */
static int device_id_new(char out[REG_DEVICE_ID_MAX + 1], const char *mfr)
{
	static const char b32[] = "234567abcdefghijklmnopqrstuvwxyz";
	uint8_t r[DEVICE_ID_RANDOM_CHARS];
	uint32_t tick = ca_tick30();
	size_t n, i;

	if (util_random(r, sizeof(r)) != 0)
		return CA_ERR_INTERNAL;
	n = (size_t)snprintf(out, REG_DEVICE_ID_MAX + 1, "%s-", mfr);
	for (i = 0; i < DEVICE_ID_TICK_CHARS && n < REG_DEVICE_ID_MAX; i++)
		out[n++] =
		    b32[(tick >> (5 * (DEVICE_ID_TICK_CHARS - 1 - i))) & 31];
	for (i = 0; i < sizeof(r) && n < REG_DEVICE_ID_MAX; i++)
		out[n++] = b32[r[i] & 31];
	out[n] = '\0';
	return CA_OK;
}

void ca_issue_result_clear(ca_issue_result_t *r)
{
	if (r == NULL)
		return;
	free(r->cert_url);
	free(r->cert_pem);
	free(r->chain_pem);
	memset(r, 0, sizeof(*r));
}

/* Fill out from a stored certificate signed by Device CA ca_id (its own
 * chain: after a rollover devices of the old CA keep theirs). */
static int result_fill(const ca_t *ca, ca_issue_result_t *out,
    const char *device_id, const uint8_t *der, size_t der_len, int created,
    int64_t ca_id, char *err, size_t errlen)
{
	size_t n;

	memset(out, 0, sizeof(*out));
	snprintf(out->device_id, sizeof(out->device_id), "%s", device_id);
	out->created = created;
	n = strlen(ca->cfg.public_base_url) + strlen(CA_URL_PATH_DEVICES) +
	    strlen(device_id) + 1;
	if ((out->cert_url = malloc(n)) == NULL)
		goto nomem;
	snprintf(out->cert_url, n, "%s%s%s", ca->cfg.public_base_url,
	    CA_URL_PATH_DEVICES, device_id);
	/* The stored DER is what we signed: encode it, no X509 parse. */
	if ((out->cert_pem = ca_der_to_pem(der, der_len)) == NULL ||
	    (out->chain_pem = strdup(ca_chain_pem_of(ca, ca_id))) == NULL)
		goto nomem;
	return CA_OK;
nomem:
	ca_issue_result_clear(out);
	util_err_set(err, errlen, "out of memory");
	return CA_ERR_INTERNAL;
}

/*
 * One issuance on its way through four steps: parse (CSR decode and
 * proof of possession), check (manufacturer, live device of the serial:
 * registry reads), sign (build the certificate), store (rows, inside a
 * transaction). Parse and sign need no lock and no connection, so batches
 * run them on several threads and single issuances run them before joining
 * a group commit.
 */
typedef struct issue_job {
	reg_group_item_t gi; /* first: a job is its group item */
	const ca_device_attrs_t *attrs;
	const char *actor;
	const uint8_t *csr;
	size_t csr_len;
	ca_csr_t *req;           /* parsed, verified */
	int own_req;             /* req is ours to free */
	int csr_format, csr_why; /* ca_csr_read's format, refusal */
	char key_type[16], spki[65];
	reg_manufacturer_t m;
	int need_new; /* 0: answer with live (repeat) */
	reg_device_t live;
	char id[REG_DEVICE_ID_MAX + 1], serial[41], sha[65];
	uint8_t *der; /* OPENSSL_malloc'd */
	size_t der_len;
	int64_t not_before, not_after;
	int64_t ca_id;      /* the issuing Device CA that signed der */
	struct ca_set *set; /* the CA set it is signed in */
	int rc;
	char *err;
	size_t errlen;
} issue_job_t;

static void job_clear(issue_job_t *j)
{
	if (j->own_req)
		ca_csr_free(j->req);
	j->req = NULL;
	j->own_req = 0;
	reg_device_clear(&j->live);
	OPENSSL_free(j->der);
	j->der = NULL;
}

/* Attribute checks, CSR decode + signature, key type and SPKI hash. */
static void job_parse(const ca_t *ca, issue_job_t *j)
{
	int csr_first = j->csr_format == CA_CSR_PEM;

	if (!csr_first &&
	    (j->rc = attrs_check(j->attrs, j->err, j->errlen)) != CA_OK)
		return;
	if (j->req == NULL) {
		if ((j->rc = ca_csr_read(&j->req, &j->csr_why, ca, j->csr,
		         j->csr_len, j->csr_format, j->err, j->errlen)) !=
		    CA_OK)
			return;
		j->own_req = 1;
	}
	if (csr_first &&
	    (j->rc = attrs_check(j->attrs, j->err, j->errlen)) != CA_OK)
		return;
	if ((j->rc = ca_csr_key_type(j->key_type, j->req, j->err, j->errlen)) !=
	    CA_OK)
		return;
	if (ca_csr_spki_sha256_hex(j->spki, ca, j->req) != CA_OK) {
		util_err_openssl(j->err, j->errlen, "public key");
		j->rc = CA_ERR_INTERNAL;
	}
}

/* The live device of the serial decides: same key, the earlier answer
 * again (need_new = 0); another key, a conflict until the first
 * certificate is revoked. rc from reg_device_find_live is passed in. */
static int job_live(issue_job_t *j, int rc)
{
	if (rc == REG_ERR_NOT_FOUND) {
		reg_device_clear(&j->live);
		j->need_new = 1;
		return CA_OK;
	}
	if (rc != REG_OK)
		return ca_from_reg(rc);
	if (CRYPTO_memcmp(j->live.spki_sha256, j->spki, 64) != 0) {
		util_err_set(j->err, j->errlen,
		    "serial %s of %s is already "
		    "enrolled with another key (device %s)",
		    j->attrs->serial, j->attrs->manufacturer_id,
		    j->live.device_id);
		return CA_ERR_CONFLICT;
	}
	j->need_new = 0;
	return CA_OK;
}

/* A new device's key must not belong to another live device, of any
 * manufacturer: one key, one identity. Another manufacturer's DeviceID is
 * not named. */
static int job_key_free(issue_job_t *j, reg_t *reg)
{
	char id[REG_DEVICE_ID_MAX + 1], mfr[REG_MFR_ID_MAX + 1];
	int rc;

	rc = reg_device_find_live_key(reg, id, mfr, j->spki, j->err, j->errlen);
	if (rc == REG_ERR_NOT_FOUND)
		return CA_OK;
	if (rc != REG_OK)
		return ca_from_reg(rc);
	if (strcmp(mfr, j->attrs->manufacturer_id) == 0)
		util_err_set(j->err, j->errlen,
		    "this public key is already "
		    "bound to live device %s; every device needs its own key",
		    id);
	else
		util_err_set(j->err, j->errlen,
		    "this public key is already "
		    "bound to a live device of another manufacturer; every "
		    "device needs its own key");
	return CA_ERR_KEY_IN_USE;
}

/* Registry reads before signing: the manufacturer, the live device, the
 * key (checked again at store, inside the committing transaction). */
static void job_check(issue_job_t *j, reg_t *reg)
{
	int rc;

	if ((rc = ca_from_reg(reg_manufacturer_get(reg, &j->m,
	         j->attrs->manufacturer_id, j->err, j->errlen))) != CA_OK) {
		if (rc == CA_ERR_NOT_FOUND)
			util_err_set(j->err, j->errlen,
			    "unknown manufacturer %s",
			    j->attrs->manufacturer_id);
		j->rc = rc;
		return;
	}
	j->rc = job_live(j,
	    reg_device_find_live(reg, &j->live, j->attrs->manufacturer_id,
	        j->attrs->serial, j->err, j->errlen));
	if (j->rc == CA_OK && j->need_new)
		j->rc = job_key_free(j, reg);
	if (j->rc == CA_ERR_KEY_IN_USE) {
		/* The two reads are not one snapshot: the same request may
		 * have committed between them. Its device is visible now. */
		j->rc = job_live(j,
		    reg_device_find_live(reg, &j->live,
		        j->attrs->manufacturer_id, j->attrs->serial, j->err,
		        j->errlen));
		if (j->rc == CA_OK && j->need_new)
			j->rc = job_key_free(j, reg);
	}
}

/* The one registry read a grouped issuance makes before signing: the
 * manufacturer (its name and OUI go into the certificate). The live
 * device of the serial and the key are decided by job_store inside the
 * group's transaction, on the writer's connection; reading them here as
 * well cost two index lookups on a page cache that every group commit
 * empties (another connection's commit discards it). A repeat or a
 * conflict is found there after signing: a signature thrown away, no
 * different answer. */
static void job_check_mfr(issue_job_t *j, reg_t *reg)
{
	if ((j->rc = ca_from_reg(reg_manufacturer_get(reg, &j->m,
	         j->attrs->manufacturer_id, j->err, j->errlen))) != CA_OK) {
		if (j->rc == CA_ERR_NOT_FOUND)
			util_err_set(j->err, j->errlen,
			    "unknown manufacturer %s",
			    j->attrs->manufacturer_id);
		return;
	}
	j->need_new = 1;
}

/* Build and sign the certificate of a new device (no registry access:
 * DeviceID uniqueness is the table's constraint, checked at store). */
static void job_sign(const ca_t *ca, issue_job_t *j)
{
	char urn[512];
	ca_device_cert_t dc;
	int64_t now = reg_now();

	if ((j->rc = device_id_new(j->id, j->attrs->manufacturer_id)) !=
	    CA_OK) {
		util_err_set(j->err, j->errlen, "random DeviceID failed");
		return;
	}
	device_urn(urn, sizeof(urn), ca, &j->m, j->attrs);
	memset(&dc, 0, sizeof(dc));
	dc.serial_number = j->attrs->serial;
	dc.org = j->m.name;
	dc.cn = j->id;
	dc.san_uri = urn;
	ca_profile_validity(&dc.not_before, &dc.not_after, now,
	    ca->cfg.device_validity_days);
	dc.csr = j->req;
	j->ca_id = ca_set_issuing(j->set)->id;
	j->rc = ca_device_cert_sign(ca, j->set, &j->der, &j->der_len, j->sha,
	    j->serial, &j->not_before, &j->not_after, &dc, j->err, j->errlen);
}

/* Write a new device's rows in a savepoint of the open transaction. A
 * live device of the serial that appeared since the check (a concurrent
 * or earlier item) is decided again as in job_check. */
static int job_store(reg_t *reg, issue_job_t *j)
{
	reg_device_new_t dn;
	reg_cert_new_t cn;
	int rc;

	if (!j->need_new)
		return CA_OK;
	if ((rc = ca_from_reg(reg_begin(reg, j->err, j->errlen))) != CA_OK)
		return rc;
	dn.device_id = j->id;
	dn.manufacturer_id = j->attrs->manufacturer_id;
	dn.serial = j->attrs->serial;
	dn.model = j->attrs->model;
	dn.hw_version =
	    j->attrs->hw_version != NULL ? j->attrs->hw_version : "";
	rc = ca_from_reg(reg_device_insert(reg, &dn, j->err, j->errlen));
	if (rc == CA_ERR_CONFLICT) {
		reg_rollback(reg);
		rc = job_live(j,
		    reg_device_find_live(reg, &j->live,
		        j->attrs->manufacturer_id, j->attrs->serial, j->err,
		        j->errlen));
		if (rc == CA_OK && j->need_new) {
			/* Not the serial: the random DeviceID was taken. */
			util_err_set(j->err, j->errlen,
			    "cannot allocate a DeviceID");
			rc = CA_ERR_INTERNAL;
		}
		return rc;
	}
	if (rc != CA_OK)
		goto fail;
	/* After the serial (a repeat of this very request is answered, not
	 * refused), under the write lock: no other writer can take the key
	 * between this read and the commit. */
	if ((rc = job_key_free(j, reg)) != CA_OK)
		goto fail;
	memset(&cn, 0, sizeof(cn));
	cn.issuer = REG_ISSUER_DEVICE;
	cn.serial_hex = j->serial;
	cn.der = j->der;
	cn.der_len = j->der_len;
	cn.sha256_hex = j->sha;
	cn.spki_sha256_hex = j->spki;
	cn.key_type = j->key_type;
	cn.not_before = j->not_before;
	cn.not_after = j->not_after;
	cn.device_id = j->id;
	cn.ca_id = j->ca_id;
	if ((rc = ca_from_reg(
	         reg_cert_insert(reg, NULL, &cn, j->err, j->errlen))) != CA_OK)
		goto fail;
	if ((rc = ca_audit(reg, j->actor, "device.issue", j->id, j->err,
	         j->errlen, "manufacturer_id", j->attrs->manufacturer_id,
	         "serial", j->attrs->serial, "model", j->attrs->model,
	         "cert_serial", j->serial, "key_type", j->key_type,
	         (const char *)NULL)) != CA_OK)
		goto fail;
	if ((rc = ca_from_reg(reg_commit(reg, j->err, j->errlen))) != CA_OK)
		goto fail;
	return CA_OK;
fail:
	reg_rollback(reg);
	return rc;
}

/* The answer of a stored (or repeated) job. */
static int job_result(const ca_t *ca, issue_job_t *j, ca_issue_result_t *out)
{
	if (j->need_new)
		return result_fill(ca, out, j->id, j->der, j->der_len, 1,
		    j->ca_id, j->err, j->errlen);
	return result_fill(ca, out, j->live.device_id, j->live.cert_der,
	    j->live.cert_der_len, 0, j->live.ca_id, j->err, j->errlen);
}

/* Store every job of list (rc still CA_OK) in one transaction on reg. A
 * failed commit fails every job of the group. reg_group_write_fn. */
static void group_write(reg_t *reg, reg_group_item_t *list, void *arg)
{
	reg_group_item_t *it;
	issue_job_t *j;
	char err[256];
	int rc;

	(void)arg;
	if ((rc = ca_from_reg(reg_begin(reg, err, sizeof(err)))) == CA_OK) {
		for (it = list; it != NULL; it = it->next) {
			j = (issue_job_t *)it;
			if (j->rc == CA_OK)
				j->rc = job_store(reg, j);
		}
		if ((rc = ca_from_reg(reg_commit(reg, err, sizeof(err)))) ==
		    CA_OK)
			return;
		reg_rollback(reg);
	}
	for (it = list; it != NULL; it = it->next) {
		j = (issue_job_t *)it;
		if (j->rc == CA_OK) {
			util_err_set(j->err, j->errlen, "%s", err);
			j->rc = rc;
		}
	}
}

int ca_group_open(struct ca_rt *rt, const char *db_path, char *err,
    size_t errlen)
{
	return ca_from_reg(
	    reg_group_new(&rt->group, db_path, group_write, NULL, err, errlen));
}

void ca_group_close(struct ca_rt *rt)
{
	if (rt == NULL)
		return;
	reg_group_free(rt->group);
	rt->group = NULL;
}

int ca_device_issue_item(ca_t *ca, reg_t *reg, ca_issue_item_t *it,
    const char *actor)
{
	issue_job_t j;
	int grouped;

	memset(&j, 0, sizeof(j));
	memset(&it->result, 0, sizeof(it->result));
	it->err[0] = '\0';
	j.attrs = &it->attrs;
	j.actor = actor;
	j.csr = it->csr;
	j.csr_len = it->csr_len;
	j.req = it->csr_req;
	j.csr_format = it->csr_format;
	j.err = it->err;
	j.errlen = sizeof(it->err);
	grouped = ca->rt->group != NULL && !reg_in_transaction(reg);
	job_parse(ca, &j);
	if (j.rc == CA_OK && grouped)
		job_check_mfr(&j, reg);
	else if (j.rc == CA_OK)
		job_check(&j, reg);
	/* The CA set as the registry has it now (a CA activated since the
	 * last request signs this one). */
	if (j.rc == CA_OK && j.need_new &&
	    (j.set = ca_set_get(ca, reg, j.err, j.errlen)) == NULL)
		j.rc = CA_ERR_INTERNAL;
	if (j.rc == CA_OK && j.need_new)
		job_sign(ca, &j);
	if (j.rc == CA_OK && j.need_new) {
		if (grouped) {
			/* Answered only once the group's COMMIT is
			 * durable (reg_group_commit returns after it). */
			reg_group_commit(ca->rt->group, reg, &j.gi);
		} else if (reg_in_transaction(reg)) {
			/* Inside the caller's transaction: its commit is
			 * the durable point. */
			j.rc = job_store(reg, &j);
		} else {
			j.gi.next = NULL;
			group_write(reg, &j.gi, NULL);
		}
	}
	if (j.rc == CA_OK)
		j.rc = job_result(ca, &j, &it->result);
	job_clear(&j);
	it->csr_refused = j.csr_why;
	it->rc = j.rc;
	return j.rc;
}

int ca_device_issue(ca_t *ca, reg_t *reg, ca_issue_result_t *out,
    const uint8_t *csr, size_t csr_len, const ca_device_attrs_t *attrs,
    const char *actor, char *err, size_t errlen)
{
	ca_issue_item_t it;
	int rc;

	memset(&it, 0, sizeof(it));
	it.csr = csr;
	it.csr_len = csr_len;
	it.attrs = *attrs;
	rc = ca_device_issue_item(ca, reg, &it, actor);
	if (rc != CA_OK)
		util_err_set(err, errlen, "%s", it.err);
	*out = it.result;
	return rc;
}

/* A parsed request holding only pub, as the general path holds a CSR's
 * key (an unsigned X509_REQ carries it): issuance reads the key, its type
 * and SPKI hash from it exactly as from a verified CSR. */
static int key_as_csr(ca_csr_t **out, EVP_PKEY *pub, char *err, size_t errlen)
{
	ca_csr_t *c;

	*out = NULL;
	if ((c = calloc(1, sizeof(*c))) == NULL ||
	    (c->req = X509_REQ_new()) == NULL ||
	    X509_REQ_set_pubkey(c->req, pub) != 1 ||
	    (c->pkey = X509_REQ_get0_pubkey(c->req)) == NULL ||
	    X509_PUBKEY_get0_param(NULL, &c->bits, &c->blen,
	        (X509_ALGOR **)&c->alg,
	        X509_REQ_get_X509_PUBKEY(c->req)) != 1) {
		ca_csr_free(c);
		util_err_openssl(err, errlen, "public key");
		return CA_ERR_INVALID;
	}
	c->rsa = EVP_PKEY_is_a(c->pkey, "RSA");
	/* The refusal of an EC key with explicit parameters, as for CSRs. */
	if (ca_csr_spki_check(c->req, err, errlen) != CA_OK) {
		ca_csr_free(c);
		return CA_ERR_INVALID;
	}
	*out = c;
	return CA_OK;
}

int ca_device_issue_key(ca_t *ca, reg_t *reg, ca_issue_result_t *out,
    EVP_PKEY *pub, const ca_device_attrs_t *attrs, const char *actor, char *err,
    size_t errlen)
{
	ca_issue_item_t it;
	ca_csr_t *c = NULL;
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = key_as_csr(&c, pub, err, errlen)) != CA_OK)
		return rc;
	memset(&it, 0, sizeof(it));
	it.attrs = *attrs;
	it.csr_req = c;
	rc = ca_device_issue_item(ca, reg, &it, actor);
	ca_csr_free(c);
	if (rc != CA_OK)
		util_err_set(err, errlen, "%s", it.err);
	*out = it.result;
	return rc;
}

/* ---- batches: parse and sign on every CPU ------------------------------ */

#define BATCH_THREADS_MAX 8

typedef struct {
	const ca_t *ca;
	issue_job_t *jobs;
	size_t n;
	int sign; /* 0: job_parse, 1: job_sign */
	pthread_mutex_t mu;
	size_t next;
} batch_par_t;

static void *batch_worker(void *arg)
{
	batch_par_t *p = arg;
	size_t i;

	for (;;) {
		pthread_mutex_lock(&p->mu);
		i = p->next++;
		pthread_mutex_unlock(&p->mu);
		if (i >= p->n)
			return NULL;
		if (p->jobs[i].rc != CA_OK)
			continue;
		if (!p->sign)
			job_parse(p->ca, &p->jobs[i]);
		else if (p->jobs[i].need_new)
			job_sign(p->ca, &p->jobs[i]);
	}
}

/* Run one step over all jobs on up to one thread per CPU (this one
 * included); fewer threads if they cannot be started. */
static void batch_run(const ca_t *ca, issue_job_t *jobs, size_t n, int sign)
{
	pthread_t th[BATCH_THREADS_MAX];
	batch_par_t p;
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	size_t want, started = 0, i;

	memset(&p, 0, sizeof(p));
	p.ca = ca;
	p.jobs = jobs;
	p.n = n;
	p.sign = sign;
	if (pthread_mutex_init(&p.mu, NULL) != 0) {
		batch_worker(&p); /* single-threaded without a lock */
		return;
	}
	want = cpus > 1 ? (size_t)cpus : 1;
	if (want > BATCH_THREADS_MAX)
		want = BATCH_THREADS_MAX;
	if (want > (n + 7) / 8) /* not worth a thread below ~8 items */
		want = (n + 7) / 8;
	for (i = 1; i < want; i++)
		if (pthread_create(&th[started], NULL, batch_worker, &p) == 0)
			started++;
	batch_worker(&p);
	for (i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	pthread_mutex_destroy(&p.mu);
}

/* The jobs of a batch's items, signed in set; items' outputs cleared. */
static void batch_jobs_init(issue_job_t *jobs, ca_issue_item_t *items, size_t n,
    struct ca_set *set, const char *actor)
{
	size_t i;

	for (i = 0; i < n; i++) {
		items[i].err[0] = '\0';
		items[i].rc = CA_OK;
		memset(&items[i].result, 0, sizeof(items[i].result));
		jobs[i].attrs = &items[i].attrs;
		jobs[i].actor = actor;
		jobs[i].csr = items[i].csr;
		jobs[i].csr_len = items[i].csr_len;
		jobs[i].req = items[i].csr_req;
		jobs[i].csr_format = items[i].csr_format;
		jobs[i].err = items[i].err;
		jobs[i].errlen = sizeof(items[i].err);
		jobs[i].set = set;
	}
}

int ca_device_issue_batch(ca_t *ca, reg_t *reg, ca_issue_item_t *items,
    size_t n, int all_or_nothing, const char *actor, char *err, size_t errlen)
{
	issue_job_t *jobs;
	struct ca_set *set;
	size_t i;
	int rc = CA_OK;

	if (n == 0)
		return CA_OK;
	if ((set = ca_set_get(ca, reg, err, errlen)) == NULL) {
		for (i = 0; i < n; i++) {
			items[i].rc = CA_ERR_INTERNAL;
			util_err_set(items[i].err, sizeof(items[i].err), "%s",
			    err);
		}
		return CA_ERR_INTERNAL;
	}
	if ((jobs = calloc(n, sizeof(*jobs))) == NULL) {
		util_err_set(err, errlen, "out of memory");
		return CA_ERR_INTERNAL;
	}
	batch_jobs_init(jobs, items, n, set, actor);
	/* Decide everything before the write lock; the transaction below
	 * only writes rows (and re-decides serials that items of this same
	 * batch took first). */
	batch_run(ca, jobs, n, 0);
	for (i = 0; i < n; i++)
		if (jobs[i].rc == CA_OK)
			job_check(&jobs[i], reg);
	for (i = 0; all_or_nothing && i < n; i++)
		if (jobs[i].rc != CA_OK)
			goto item_failed;
	batch_run(ca, jobs, n, 1);
	if ((rc = ca_from_reg(reg_begin(reg, err, errlen))) != CA_OK)
		goto fail;
	for (i = 0; i < n; i++) {
		if (jobs[i].rc == CA_OK)
			jobs[i].rc = job_store(reg, &jobs[i]);
		if (jobs[i].rc != CA_OK && all_or_nothing) {
			reg_rollback(reg);
			goto item_failed;
		}
	}
	if ((rc = ca_from_reg(reg_commit(reg, err, errlen))) != CA_OK) {
		reg_rollback(reg);
		goto fail;
	}
	for (i = 0; i < n; i++) {
		if (jobs[i].rc == CA_OK)
			jobs[i].rc = job_result(ca, &jobs[i], &items[i].result);
		items[i].rc = jobs[i].rc;
		items[i].csr_refused = jobs[i].csr_why;
		job_clear(&jobs[i]);
	}
	free(jobs);
	return CA_OK;
item_failed:
	/* The first failing item, in order, is the batch's answer. */
	for (i = 0; i < n && jobs[i].rc == CA_OK; i++)
		;
	rc = jobs[i].rc;
	util_err_set(err, errlen, "item %zu: %s", i, items[i].err);
fail:
	for (i = 0; i < n; i++) {
		items[i].rc = jobs[i].rc != CA_OK ? jobs[i].rc : rc;
		items[i].csr_refused = jobs[i].csr_why;
		ca_issue_result_clear(&items[i].result);
		job_clear(&jobs[i]);
	}
	free(jobs);
	return rc;
}

void ca_device_clear(ca_device_t *d)
{
	if (d == NULL)
		return;
	reg_device_clear(&d->rec);
	free(d->cert_pem);
	free(d->chain_pem);
	memset(d, 0, sizeof(*d));
}

int ca_device_get(ca_t *ca, reg_t *reg, ca_device_t *out, const char *device_id,
    char *err, size_t errlen)
{
	ca_issue_result_t r;
	int rc;

	memset(out, 0, sizeof(*out));
	if (!ca_device_id_valid(device_id)) {
		util_err_set(err, errlen,
		    "DeviceID must match "
		    "[A-Za-z0-9._-]{1,64}");
		return CA_ERR_INVALID;
	}
	if ((rc = ca_from_reg(reg_device_get(reg, &out->rec, device_id, err,
	         errlen))) != CA_OK) {
		if (rc == CA_ERR_NOT_FOUND)
			util_err_set(err, errlen, "unknown device %s",
			    device_id);
		return rc;
	}
	if ((rc = result_fill(ca, &r, device_id, out->rec.cert_der,
	         out->rec.cert_der_len, 0, out->rec.ca_id, err, errlen)) !=
	    CA_OK) {
		ca_device_clear(out);
		return rc;
	}
	out->cert_pem = r.cert_pem;
	out->chain_pem = r.chain_pem;
	snprintf(out->cert_url, sizeof(out->cert_url), "%s", r.cert_url);
	free(r.cert_url);
	return CA_OK;
}
