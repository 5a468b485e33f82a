/* reg_cmp.c — the CMP one-time secrets in the registry (reg_cmp.h): the
 * statements on table cmp_secrets (its migration, 6, is in
 * reg_migrations.c and reg_pg_migrations.c). */
#include "reg_cmp.h"
#include "reg_priv.h"

#include <string.h>

#include "util.h"

int reg_cmp_secret_insert(reg_t *reg, const reg_cmp_secret_t *s, char *err,
    size_t errlen)
{
	db_stmt_t *st = NULL;
	int rc, kind;

	if ((rc = reg_prepare(reg, &st, "INSERT INTO cmp_secrets(ref,"
	    " manufacturer_id, secret_enc, created_by, created_at, expires_at)"
	    " VALUES(?1, ?2, ?3, ?4, ?5, ?6)", err, errlen)) != REG_OK)
		return rc;
	if (reg_bind_text(st, 1, s->ref) != DB_OK ||
	    reg_bind_text(st, 2, s->manufacturer_id) != DB_OK ||
	    db_bind_blob(st, 3, s->enc, s->enc_len) != DB_OK ||
	    reg_bind_text(st, 4, s->created_by) != DB_OK ||
	    db_bind_int64(st, 5, s->created_at) != DB_OK ||
	    db_bind_int64(st, 6, s->expires_at) != DB_OK) {
		rc = reg_fail(reg, DB_ERROR, err, errlen, "bind secret");
		goto out;
	}
	if ((rc = db_step(st)) != DB_DONE) {
		kind = db_constraint_kind(reg->c);
		rc = reg_fail(reg, rc, err, errlen, "insert secret");
		if (rc == REG_ERR_CONSTRAINT &&
		    kind == DB_CONSTRAINT_FOREIGNKEY)
			rc = REG_ERR_NOT_FOUND;
		goto out;
	}
	rc = REG_OK;
out:
	reg_finalize(reg, st);
	return rc;
}

int reg_cmp_secret_get(reg_t *reg, reg_cmp_secret_t *out, const char *ref,
    char *err, size_t errlen)
{
	db_stmt_t *st = NULL;
	const void *b;
	int rc, n;

	memset(out, 0, sizeof(*out));
	if ((rc = reg_prepare(reg, &st, "SELECT id, ref, manufacturer_id,"
	    " secret_enc, created_by, created_at, expires_at, used_at,"
	    " device_id FROM cmp_secrets WHERE ref = ?1", err, errlen)) !=
	    REG_OK)
		return rc;
	if (reg_bind_text(st, 1, ref) != DB_OK) {
		rc = reg_fail(reg, DB_ERROR, err, errlen, "bind secret");
		goto out;
	}
	if ((rc = db_step(st)) == DB_DONE) {
		util_err_set(err, errlen, "no such secret");
		rc = REG_ERR_NOT_FOUND;
		goto out;
	}
	if (rc != DB_ROW) {
		rc = reg_fail(reg, rc, err, errlen, "secret query");
		goto out;
	}
	out->id = db_col_int64(st, 0);
	reg_col_copy(out->ref, sizeof(out->ref), st, 1);
	reg_col_copy(out->manufacturer_id, sizeof(out->manufacturer_id), st, 2);
	b = db_col_blob(st, 3);
	n = (int)db_col_bytes(st, 3);
	if (b == NULL || n <= 0 || (size_t)n > sizeof(out->enc)) {
		util_err_set(err, errlen, "stored secret has a bad length");
		rc = REG_ERR_INVALID;
		goto out;
	}
	memcpy(out->enc, b, (size_t)n);
	out->enc_len = (size_t)n;
	reg_col_copy(out->created_by, sizeof(out->created_by), st, 4);
	out->created_at = db_col_int64(st, 5);
	out->expires_at = db_col_int64(st, 6);
	out->used_at = db_col_int64(st, 7);
	reg_col_copy(out->device_id, sizeof(out->device_id), st, 8);
	rc = REG_OK;
out:
	reg_finalize(reg, st);
	return rc;
}

int reg_cmp_secret_use(reg_t *reg, int64_t id, const char *device_id,
    int64_t now, char *err, size_t errlen)
{
	db_stmt_t *st = NULL;
	int rc;

	if ((rc = reg_prepare(reg, &st, "UPDATE cmp_secrets SET used_at = ?3,"
	    " device_id = ?2 WHERE id = ?1 AND used_at = 0 AND expires_at > ?3",
	    err, errlen)) != REG_OK)
		return rc;
	if (db_bind_int64(st, 1, id) != DB_OK ||
	    reg_bind_text(st, 2, device_id) != DB_OK ||
	    db_bind_int64(st, 3, now) != DB_OK) {
		rc = reg_fail(reg, DB_ERROR, err, errlen, "bind secret");
		goto out;
	}
	if ((rc = db_step(st)) != DB_DONE) {
		rc = reg_fail(reg, rc, err, errlen, "use secret");
		goto out;
	}
	if (db_changes(st) != 1) {
		util_err_set(err, errlen, "the secret is used or expired");
		rc = REG_ERR_NOT_FOUND;
		goto out;
	}
	rc = REG_OK;
out:
	reg_finalize(reg, st);
	return rc;
}
