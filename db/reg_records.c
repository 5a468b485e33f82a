/* reg_records.c — registry rows: manufacturers, certificates, devices (with
 * their certificate), the revocation list's entries and cache, principals. */
#include "reg_priv.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "util.h"

/* Step a statement that returns no row; map the result. */
/* Read every row of sql into a new array of n items of elem bytes each,
 * filled by row (*out NULL and *n 0 when there are none); what names the
 * query in a registry error. The caller frees *out. */
static int list_rows(reg_t *reg, void **out, size_t *n, size_t elem,
    void (*row)(void *item, db_stmt_t *st), const char *sql, const char *what,
    char *err, size_t errlen)
{
	db_stmt_t *st = NULL;
	char *list = NULL, *grown;
	size_t cnt = 0, cap = 0;
	int rc, s;

	*out = NULL;
	*n = 0;
	if ((rc = reg_prepare(reg, &st, sql, err, errlen)) != REG_OK)
		return rc;
	while ((s = db_step(st)) == DB_ROW) {
		if (cnt == cap) {
			cap = cap ? cap * 2 : 16;
			if ((grown = realloc(list, cap * elem)) == NULL) {
				util_err_set(err, errlen, "out of memory");
				rc = REG_ERR_INTERNAL;
				goto fail;
			}
			list = grown;
		}
		row(list + cnt++ * elem, st);
	}
	if (s != DB_DONE) {
		rc = reg_fail(reg, s, err, errlen, what);
		goto fail;
	}
	reg_finalize(reg, st);
	*out = list;
	*n = cnt;
	return REG_OK;
fail:
	reg_finalize(reg, st);
	free(list);
	return rc;
}

/* ---- manufacturers -------------------------------------------------- */

int reg_manufacturer_insert(reg_t *reg, const reg_manufacturer_t *m, char *err,
    size_t errlen)
{
	db_stmt_t *st = NULL;
	int rc;

	if ((rc = reg_prepare(reg, &st,
	         "INSERT INTO manufacturers(id, name,"
	         " oui, created_at) VALUES (?, ?, ?, ?)",
	         err, errlen)) != REG_OK)
		return rc;
	reg_bind_text(st, 1, m->id);
	reg_bind_text(st, 2, m->name);
	reg_bind_text(st, 3, m->oui);
	db_bind_int64(st, 4, m->created_at != 0 ? m->created_at : reg_now());
	rc = reg_step_done(reg, st, err, errlen, "insert manufacturer");
	reg_finalize(reg, st);
	return rc;
}

static void mfr_row(reg_manufacturer_t *m, db_stmt_t *st)
{
	reg_col_copy(m->id, sizeof(m->id), st, 0);
	reg_col_copy(m->name, sizeof(m->name), st, 1);
	reg_col_copy(m->oui, sizeof(m->oui), st, 2);
	m->created_at = db_col_int64(st, 3);
}

static void mfr_row_any(void *item, db_stmt_t *st)
{
	mfr_row(item, st);
}

int reg_manufacturer_get(reg_t *reg, reg_manufacturer_t *out, const char *id,
    char *err, size_t errlen)
{
	db_stmt_t *st = NULL;
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = reg_prepare(reg, &st,
	         "SELECT id, name, oui, created_at FROM"
	         " manufacturers WHERE id = ?",
	         err, errlen)) != REG_OK)
		return rc;
	reg_bind_text(st, 1, id);
	rc = db_step(st);
	if (rc == DB_ROW) {
		mfr_row(out, st);
		rc = REG_OK;
	} else if (rc == DB_DONE) {
		util_err_set(err, errlen, "unknown manufacturer");
		rc = REG_ERR_NOT_FOUND;
	} else {
		rc = reg_fail(reg, rc, err, errlen, "manufacturer");
	}
	reg_finalize(reg, st);
	return rc;
}

int reg_manufacturer_list(reg_t *reg, reg_manufacturer_t **out, size_t *n,
    char *err, size_t errlen)
{
	void *list;
	int rc = list_rows(reg, &list, n, sizeof(**out), mfr_row_any,
	    "SELECT id, name, oui, created_at FROM manufacturers ORDER BY id",
	    "manufacturer list", err, errlen);

	*out = list;
	return rc;
}

/* ---- certificates --------------------------------------------------- */

int reg_cert_insert(reg_t *reg, int64_t *id_out, const reg_cert_new_t *c,
    char *err, size_t errlen)
{
	db_stmt_t *st = NULL;
	int rc;

	if ((rc = reg_prepare(reg, &st,
	         "INSERT INTO certificates(issuer,"
	         " serial_hex, der, sha256, spki_sha256, key_type, not_before,"
	         " not_after, device_id, principal_id, created_at, ca_id) VALUES (?,"
	         " ?, ?, ?, ?, ?, ?, ?, ?, (SELECT id FROM principals WHERE name ="
	         " ?10), ?11, ?12)",
	         err, errlen)) != REG_OK)
		return rc;
	reg_bind_text(st, 1, c->issuer);
	reg_bind_text(st, 2, c->serial_hex);
	db_bind_blob(st, 3, c->der, c->der_len);
	reg_bind_text(st, 4, c->sha256_hex);
	reg_bind_text(st, 5, c->spki_sha256_hex);
	reg_bind_text(st, 6, c->key_type);
	db_bind_int64(st, 7, c->not_before);
	db_bind_int64(st, 8, c->not_after);
	reg_bind_text(st, 9, c->device_id);
	reg_bind_text(st, 10, c->principal);
	db_bind_int64(st, 11, reg_now());
	if (c->ca_id > 0)
		db_bind_int64(st, 12, c->ca_id);
	rc = reg_step_done(reg, st, err, errlen, "insert certificate");
	if (rc == REG_OK && id_out != NULL)
		*id_out = db_last_id(reg->c);
	reg_finalize(reg, st);
	return rc;
}

int reg_cert_device_id(reg_t *reg, char *out, size_t outlen, const char *issuer,
    const char *serial_hex)
{
	db_stmt_t *st = NULL;
	const char *id;
	int rc;

	if (reg_prepare(reg, &st,
	        "SELECT device_id FROM certificates WHERE"
	        " issuer = ? AND serial_hex = ? AND device_id IS NOT NULL",
	        NULL, 0) != REG_OK)
		return REG_ERR_INTERNAL;
	reg_bind_text(st, 1, issuer);
	reg_bind_text(st, 2, serial_hex);
	rc = db_step(st);
	if (rc == DB_ROW && (id = db_col_text(st, 0)) != NULL &&
	    strlen((const char *)id) < outlen) {
		memcpy(out, id, strlen((const char *)id) + 1);
		rc = REG_OK;
	} else {
		rc = rc == DB_DONE ? REG_ERR_NOT_FOUND : REG_ERR_INTERNAL;
	}
	reg_finalize(reg, st);
	return rc;
}

/* ---- devices -------------------------------------------------------- */

#define DEVICE_COLS \
	"d.seq, d.device_id, d.manufacturer_id, m.name, d.serial, d.model," \
	" d.hw_version, d.status, coalesce(d.reason, -1), d.revoked_at," \
	" d.created_at, d.updated_at, d.version, c.serial_hex, c.sha256," \
	" c.spki_sha256, c.key_type, c.not_before, c.not_after, c.der," \
	" coalesce(c.ca_id, 0)" \
	" FROM devices d JOIN manufacturers m ON m.id = d.manufacturer_id" \
	" LEFT JOIN certificates c ON c.device_id = d.device_id"

void reg_device_clear(reg_device_t *d)
{
	if (d == NULL)
		return;
	free(d->cert_der);
	memset(d, 0, sizeof(*d));
}

static int device_row(reg_device_t *d, db_stmt_t *st)
{
	const void *der;
	int len;

	memset(d, 0, sizeof(*d));
	d->seq = db_col_int64(st, 0);
	reg_col_copy(d->device_id, sizeof(d->device_id), st, 1);
	reg_col_copy(d->manufacturer_id, sizeof(d->manufacturer_id), st, 2);
	reg_col_copy(d->manufacturer_name, sizeof(d->manufacturer_name), st, 3);
	reg_col_copy(d->serial, sizeof(d->serial), st, 4);
	reg_col_copy(d->model, sizeof(d->model), st, 5);
	reg_col_copy(d->hw_version, sizeof(d->hw_version), st, 6);
	reg_col_copy(d->status, sizeof(d->status), st, 7);
	d->reason = db_col_int(st, 8);
	d->revoked_at = db_col_int64(st, 9);
	d->created_at = db_col_int64(st, 10);
	d->updated_at = db_col_int64(st, 11);
	d->version = db_col_int64(st, 12);
	reg_col_copy(d->cert_serial_hex, sizeof(d->cert_serial_hex), st, 13);
	reg_col_copy(d->cert_sha256, sizeof(d->cert_sha256), st, 14);
	reg_col_copy(d->spki_sha256, sizeof(d->spki_sha256), st, 15);
	reg_col_copy(d->key_type, sizeof(d->key_type), st, 16);
	d->not_before = db_col_int64(st, 17);
	d->not_after = db_col_int64(st, 18);
	d->ca_id = db_col_int64(st, 20);
	der = db_col_blob(st, 19);
	len = (int)db_col_bytes(st, 19);
	if (der != NULL && len > 0) {
		if ((d->cert_der = malloc((size_t)len)) == NULL)
			return REG_ERR_INTERNAL;
		memcpy(d->cert_der, der, (size_t)len);
		d->cert_der_len = (size_t)len;
	}
	return REG_OK;
}

int reg_device_insert(reg_t *reg, const reg_device_new_t *d, char *err,
    size_t errlen)
{
	db_stmt_t *st = NULL;
	int64_t now = reg_now();
	int rc;

	if ((rc = reg_prepare(reg, &st,
	         "INSERT INTO devices(device_id,"
	         " manufacturer_id, serial, model, hw_version, created_at,"
	         " updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
	         err, errlen)) != REG_OK)
		return rc;
	reg_bind_text(st, 1, d->device_id);
	reg_bind_text(st, 2, d->manufacturer_id);
	reg_bind_text(st, 3, d->serial);
	reg_bind_text(st, 4, d->model);
	reg_bind_text(st, 5, d->hw_version != NULL ? d->hw_version : "");
	db_bind_int64(st, 6, now);
	db_bind_int64(st, 7, now);
	rc = reg_step_done(reg, st, err, errlen, "insert device");
	reg_finalize(reg, st);
	return rc;
}

/* Run a device query expected to return at most one row. */
static int device_one(reg_t *reg, db_stmt_t *st, reg_device_t *out, char *err,
    size_t errlen)
{
	int rc = db_step(st);

	if (rc == DB_ROW) {
		if (device_row(out, st) != REG_OK) {
			util_err_set(err, errlen, "out of memory");
			return REG_ERR_INTERNAL;
		}
		return REG_OK;
	}
	if (rc == DB_DONE) {
		util_err_set(err, errlen, "unknown device");
		return REG_ERR_NOT_FOUND;
	}
	return reg_fail(reg, rc, err, errlen, "device");
}

int reg_device_get(reg_t *reg, reg_device_t *out, const char *device_id,
    char *err, size_t errlen)
{
	db_stmt_t *st = NULL;
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = reg_prepare(reg, &st,
	         "SELECT " DEVICE_COLS " WHERE d.device_id = ?", err,
	         errlen)) != REG_OK)
		return rc;
	reg_bind_text(st, 1, device_id);
	rc = device_one(reg, st, out, err, errlen);
	reg_finalize(reg, st);
	return rc;
}

int reg_device_find_live(reg_t *reg, reg_device_t *out,
    const char *manufacturer_id, const char *serial, char *err, size_t errlen)
{
	db_stmt_t *st = NULL;
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = reg_prepare(reg, &st,
	         "SELECT " DEVICE_COLS
	         " WHERE d.manufacturer_id = ? AND d.serial = ?"
	         " AND d.status <> 'revoked'",
	         err, errlen)) != REG_OK)
		return rc;
	reg_bind_text(st, 1, manufacturer_id);
	reg_bind_text(st, 2, serial);
	rc = device_one(reg, st, out, err, errlen);
	reg_finalize(reg, st);
	return rc;
}

int reg_device_find_live_key(reg_t *reg,
    char out_device_id[REG_DEVICE_ID_MAX + 1],
    char out_manufacturer_id[REG_MFR_ID_MAX + 1], const char *spki_sha256_hex,
    char *err, size_t errlen)
{
	db_stmt_t *st = NULL;
	int rc;

	if ((rc = reg_prepare(reg, &st,
	         "SELECT d.device_id, d.manufacturer_id"
	         " FROM certificates c JOIN devices d ON d.device_id = c.device_id"
	         " WHERE c.spki_sha256 = ? AND d.status <> 'revoked' LIMIT 1",
	         err, errlen)) != REG_OK)
		return rc;
	reg_bind_text(st, 1, spki_sha256_hex);
	rc = db_step(st);
	if (rc == DB_ROW) {
		if (out_device_id != NULL)
			reg_col_copy(out_device_id, REG_DEVICE_ID_MAX + 1, st,
			    0);
		if (out_manufacturer_id != NULL)
			reg_col_copy(out_manufacturer_id, REG_MFR_ID_MAX + 1,
			    st, 1);
		rc = REG_OK;
	} else if (rc == DB_DONE) {
		rc = REG_ERR_NOT_FOUND;
	} else {
		rc = reg_fail(reg, rc, err, errlen, "device by key");
	}
	reg_finalize(reg, st);
	return rc;
}

int reg_device_set_status(reg_t *reg, const char *device_id, const char *status,
    int reason, int64_t at, char *err, size_t errlen)
{
	db_stmt_t *st = NULL;
	int rc;

	if ((rc = reg_prepare(reg, &st,
	         "UPDATE devices SET status = ?,"
	         " reason = ?, revoked_at = ?, updated_at = ?,"
	         " version = version + 1 WHERE device_id = ?",
	         err, errlen)) != REG_OK)
		return rc;
	reg_bind_text(st, 1, status);
	if (reason < 0)
		db_bind_null(st, 2);
	else
		db_bind_int64(st, 2, reason);
	db_bind_int64(st, 3, at);
	db_bind_int64(st, 4, reg_now());
	reg_bind_text(st, 5, device_id);
	if ((rc = reg_step_done(reg, st, err, errlen, "device status")) !=
	    REG_OK)
		goto out;
	if (db_changes(st) != 1) {
		util_err_set(err, errlen, "unknown device");
		rc = REG_ERR_NOT_FOUND;
		goto out;
	}
	reg_finalize(reg, st);
	st = NULL;
	if ((rc = reg_prepare(reg, &st,
	         "UPDATE counters SET value = value + 1"
	         " WHERE name = 'crl_generation'",
	         err, errlen)) != REG_OK)
		goto out;
	rc = reg_step_done(reg, st, err, errlen, "crl generation");
out:
	reg_finalize(reg, st);
	return rc;
}

void reg_device_list_free(reg_device_t *list, size_t n)
{
	size_t i;

	if (list == NULL)
		return;
	for (i = 0; i < n; i++)
		free(list[i].cert_der);
	free(list);
}

int reg_device_list(reg_t *reg, reg_device_t **out, size_t *n, int64_t *next,
    const reg_device_filter_t *f, char *err, size_t errlen)
{
	db_stmt_t *st = NULL;
	reg_device_t *list = NULL;
	size_t limit, cnt = 0;
	int rc, s;

	*out = NULL;
	*n = 0;
	*next = 0;
	if (reg_page_limit(f->limit, &limit) != REG_OK) {
		util_err_set(err, errlen, "page size above %d", REG_LIST_MAX);
		return REG_ERR_INVALID;
	}
	if ((rc = reg_prepare(reg, &st,
	         "SELECT " DEVICE_COLS
	         " WHERE d.seq > ?1 AND (?2 IS NULL OR d.manufacturer_id = ?2)"
	         " AND (?3 IS NULL OR d.status = ?3) AND (?4 IS NULL OR d.serial = ?4)"
	         " AND (?6 IS NULL OR d.serial = ?6 OR d.device_id = ?6)"
	         " ORDER BY d.seq LIMIT ?5",
	         err, errlen)) != REG_OK)
		return rc;
	reg_bind_text(st, 6, f->q);
	db_bind_int64(st, 1, f->after);
	reg_bind_text(st, 2, f->manufacturer_id);
	reg_bind_text(st, 3, f->status);
	reg_bind_text(st, 4, f->serial);
	db_bind_int64(st, 5, (int64_t)limit + 1);
	if ((list = calloc(limit, sizeof(*list))) == NULL) {
		util_err_set(err, errlen, "out of memory");
		rc = REG_ERR_INTERNAL;
		goto fail;
	}
	while ((s = db_step(st)) == DB_ROW) {
		if (cnt == limit) {
			*next = list[cnt - 1].seq;
			break;
		}
		if (device_row(&list[cnt], st) != REG_OK) {
			util_err_set(err, errlen, "out of memory");
			rc = REG_ERR_INTERNAL;
			goto fail;
		}
		cnt++;
	}
	if (s != DB_ROW && s != DB_DONE) {
		rc = reg_fail(reg, s, err, errlen, "device list");
		goto fail;
	}
	reg_finalize(reg, st);
	*out = list;
	*n = cnt;
	return REG_OK;
fail:
	reg_finalize(reg, st);
	reg_device_list_free(list, cnt);
	return rc;
}

int64_t reg_device_count(reg_t *reg)
{
	db_stmt_t *st = NULL;
	int64_t v = REG_ERR_INTERNAL;

	if (reg_prepare(reg, &st, "SELECT count(*) FROM devices", NULL, 0) !=
	    REG_OK)
		return v;
	if (db_step(st) == DB_ROW)
		v = db_col_int64(st, 0);
	reg_finalize(reg, st);
	return v;
}

/* ---- revocation list ------------------------------------------------ */

int reg_crl_generation(reg_t *reg, int64_t *out)
{
	db_stmt_t *st = NULL;
	int rc;

	if ((rc = reg_prepare(reg, &st,
	         "SELECT value FROM counters WHERE"
	         " name = 'crl_generation'",
	         NULL, 0)) != REG_OK)
		return rc;
	rc = db_step(st);
	if (rc == DB_ROW) {
		*out = db_col_int64(st, 0);
		rc = REG_OK;
	} else {
		rc = reg_fail(reg, rc, NULL, 0, "crl generation");
	}
	reg_finalize(reg, st);
	return rc;
}

int reg_crl_entries(reg_t *reg, const char *issuer, reg_crl_entry_fn fn,
    void *arg, char *err, size_t errlen)
{
	db_stmt_t *st = NULL;
	int rc;

	/* Device certificates carry status on the device row; other
	 * certificates (principals) on their own row. */
	if ((rc = reg_prepare(reg, &st,
	         "SELECT c.serial_hex, d.reason, d.revoked_at FROM certificates c"
	         " JOIN devices d ON d.device_id = c.device_id"
	         " WHERE c.issuer = ?1 AND d.status <> 'active'"
	         " UNION ALL SELECT serial_hex, coalesce(revoked_reason, 0),"
	         " revoked_at FROM certificates WHERE issuer = ?1 AND revoked = 1"
	         " AND device_id IS NULL ORDER BY 1",
	         err, errlen)) != REG_OK)
		return rc;
	reg_bind_text(st, 1, issuer);
	return reg_crl_rows(reg, st, fn, arg, err, errlen, "crl entries");
}

void reg_crl_clear(reg_crl_t *crl)
{
	if (crl == NULL)
		return;
	free(crl->der);
	memset(crl, 0, sizeof(*crl));
}

int reg_crl_cache_get(reg_t *reg, reg_crl_t *out, const char *issuer, char *err,
    size_t errlen)
{
	db_stmt_t *st = NULL;
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = reg_prepare(reg, &st,
	         "SELECT number, generation,"
	         " this_update, next_update, der FROM crl_cache WHERE issuer = ?",
	         err, errlen)) != REG_OK)
		return rc;
	reg_bind_text(st, 1, issuer);
	rc = db_step(st);
	if (rc == DB_ROW) {
		int len = (int)db_col_bytes(st, 4);
		const void *der = db_col_blob(st, 4);

		out->number = db_col_int64(st, 0);
		out->generation = db_col_int64(st, 1);
		out->this_update = db_col_int64(st, 2);
		out->next_update = db_col_int64(st, 3);
		rc = REG_OK;
		if (len > 0 && der != NULL) {
			if ((out->der = malloc((size_t)len)) == NULL) {
				util_err_set(err, errlen, "out of memory");
				rc = REG_ERR_INTERNAL;
			} else {
				memcpy(out->der, der, (size_t)len);
				out->der_len = (size_t)len;
			}
		}
	} else if (rc == DB_DONE) {
		rc = REG_ERR_NOT_FOUND;
	} else {
		rc = reg_fail(reg, rc, err, errlen, "crl cache");
	}
	reg_finalize(reg, st);
	return rc;
}

int reg_crl_cache_put(reg_t *reg, const char *issuer, const reg_crl_t *crl,
    char *err, size_t errlen)
{
	db_stmt_t *st = NULL;
	int rc;

	if ((rc = reg_prepare(reg, &st,
	         "INSERT INTO crl_cache(issuer, number,"
	         " generation, this_update, next_update, der) VALUES (?1, ?2, ?3,"
	         " ?4, ?5, ?6) ON CONFLICT(issuer) DO UPDATE SET number = ?2,"
	         " generation = ?3, this_update = ?4, next_update = ?5, der = ?6",
	         err, errlen)) != REG_OK)
		return rc;
	reg_bind_text(st, 1, issuer);
	db_bind_int64(st, 2, crl->number);
	db_bind_int64(st, 3, crl->generation);
	db_bind_int64(st, 4, crl->this_update);
	db_bind_int64(st, 5, crl->next_update);
	db_bind_blob(st, 6, crl->der, crl->der_len);
	rc = reg_step_done(reg, st, err, errlen, "crl cache");
	reg_finalize(reg, st);
	return rc;
}

/* ---- principals ----------------------------------------------------- */

#define PRINCIPAL_COLS \
	"p.id, p.name, p.role, coalesce(p.manufacturer_id, ''), p.status," \
	" c.sha256, c.serial_hex, coalesce(c.revoked, 0), c.not_after," \
	" p.created_at, p.updated_at FROM principals p"

#define PRINCIPAL_CURRENT_CERT \
	" LEFT JOIN certificates c ON c.id = (SELECT max(id) FROM" \
	" certificates WHERE principal_id = p.id)"

static void principal_row(reg_principal_t *p, db_stmt_t *st)
{
	memset(p, 0, sizeof(*p));
	p->id = db_col_int64(st, 0);
	reg_col_copy(p->name, sizeof(p->name), st, 1);
	reg_col_copy(p->role, sizeof(p->role), st, 2);
	reg_col_copy(p->manufacturer_id, sizeof(p->manufacturer_id), st, 3);
	reg_col_copy(p->status, sizeof(p->status), st, 4);
	reg_col_copy(p->cert_sha256, sizeof(p->cert_sha256), st, 5);
	reg_col_copy(p->cert_serial_hex, sizeof(p->cert_serial_hex), st, 6);
	p->cert_revoked = db_col_int(st, 7);
	p->not_after = db_col_int64(st, 8);
	p->created_at = db_col_int64(st, 9);
	p->updated_at = db_col_int64(st, 10);
}

static void principal_row_any(void *item, db_stmt_t *st)
{
	principal_row(item, st);
}

int reg_principal_insert(reg_t *reg, const char *name, const char *role,
    const char *manufacturer_id, char *err, size_t errlen)
{
	db_stmt_t *st = NULL;
	int64_t now = reg_now();
	int rc;

	if ((rc = reg_prepare(reg, &st,
	         "INSERT INTO principals(name, role,"
	         " manufacturer_id, created_at, updated_at) VALUES (?, ?, ?, ?, ?)",
	         err, errlen)) != REG_OK)
		return rc;
	reg_bind_text(st, 1, name);
	reg_bind_text(st, 2, role);
	reg_bind_text(st, 3,
	    manufacturer_id != NULL && manufacturer_id[0] ? manufacturer_id :
	                                                    NULL);
	db_bind_int64(st, 4, now);
	db_bind_int64(st, 5, now);
	rc = reg_step_done(reg, st, err, errlen, "insert principal");
	reg_finalize(reg, st);
	return rc;
}

static int principal_one(reg_t *reg, db_stmt_t *st, reg_principal_t *out,
    char *err, size_t errlen)
{
	int rc = db_step(st);

	if (rc == DB_ROW) {
		principal_row(out, st);
		return REG_OK;
	}
	if (rc == DB_DONE) {
		util_err_set(err, errlen, "unknown principal");
		return REG_ERR_NOT_FOUND;
	}
	return reg_fail(reg, rc, err, errlen, "principal");
}

int reg_principal_get(reg_t *reg, reg_principal_t *out, const char *name,
    char *err, size_t errlen)
{
	db_stmt_t *st = NULL;
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = reg_prepare(reg, &st,
	         "SELECT " PRINCIPAL_COLS PRINCIPAL_CURRENT_CERT
	         " WHERE p.name = ?",
	         err, errlen)) != REG_OK)
		return rc;
	reg_bind_text(st, 1, name);
	rc = principal_one(reg, st, out, err, errlen);
	reg_finalize(reg, st);
	return rc;
}

int reg_principal_find_by_cert(reg_t *reg, reg_principal_t *out,
    const char *cert_sha256_hex, char *err, size_t errlen)
{
	db_stmt_t *st = NULL;
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = reg_prepare(reg, &st,
	         "SELECT " PRINCIPAL_COLS
	         " JOIN certificates c ON c.principal_id = p.id WHERE c.sha256 = ?",
	         err, errlen)) != REG_OK)
		return rc;
	reg_bind_text(st, 1, cert_sha256_hex);
	rc = principal_one(reg, st, out, err, errlen);
	reg_finalize(reg, st);
	return rc;
}

int reg_principal_set_status(reg_t *reg, const char *name, const char *status,
    char *err, size_t errlen)
{
	db_stmt_t *st = NULL;
	int rc;

	if ((rc = reg_prepare(reg, &st,
	         "UPDATE principals SET status = ?,"
	         " updated_at = ? WHERE name = ?",
	         err, errlen)) != REG_OK)
		return rc;
	reg_bind_text(st, 1, status);
	db_bind_int64(st, 2, reg_now());
	reg_bind_text(st, 3, name);
	rc = reg_step_done(reg, st, err, errlen, "principal status");
	if (rc == REG_OK && db_changes(st) != 1) {
		util_err_set(err, errlen, "unknown principal");
		rc = REG_ERR_NOT_FOUND;
	}
	reg_finalize(reg, st);
	return rc;
}

int reg_principal_list(reg_t *reg, reg_principal_t **out, size_t *n, char *err,
    size_t errlen)
{
	void *list;
	int rc = list_rows(reg, &list, n, sizeof(**out), principal_row_any,
	    "SELECT " PRINCIPAL_COLS PRINCIPAL_CURRENT_CERT " ORDER BY p.name",
	    "principal list", err, errlen);

	*out = list;
	return rc;
}
