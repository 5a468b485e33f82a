/* reg_cmp.c — the CMP state in the registry (reg_cmp.h): the statements
 * on tables cmp_secrets and cmp_confirms (their migrations, 6 and 7, are
 * in reg_migrations.c and reg_pg_migrations.c). */
#include "reg_cmp.h"
#include "reg_priv.h"

#include <stdlib.h>
#include <string.h>

#include "util.h"

int reg_cmp_secret_insert(reg_t *reg, const reg_cmp_secret_t *s, char *err,
    size_t errlen)
{
	db_stmt_t *st = NULL;
	int rc, kind;

	if ((rc = reg_prepare(reg, &st,
	         "INSERT INTO cmp_secrets(ref,"
	         " manufacturer_id, secret_enc, created_by, created_at, expires_at)"
	         " VALUES(?1, ?2, ?3, ?4, ?5, ?6)",
	         err, errlen)) != REG_OK)
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
	if ((rc = reg_prepare(reg, &st,
	         "SELECT id, ref, manufacturer_id,"
	         " secret_enc, created_by, created_at, expires_at, used_at,"
	         " device_id FROM cmp_secrets WHERE ref = ?1",
	         err, errlen)) != REG_OK)
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

	if ((rc = reg_prepare(reg, &st,
	         "UPDATE cmp_secrets SET used_at = ?3,"
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

int reg_cmp_confirm_put(reg_t *reg, const reg_cmp_confirm_t *c, char *err,
    size_t errlen)
{
	db_stmt_t *st = NULL;
	int rc;

	if ((rc = reg_prepare(reg, &st,
	         "INSERT INTO cmp_confirms(sender,"
	         " transaction_id, nonce, issuer, serial_hex, cert_hash, target,"
	         " created_at, request) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
	         " ON CONFLICT(sender, transaction_id) DO UPDATE SET"
	         " nonce = excluded.nonce, issuer = excluded.issuer,"
	         " serial_hex = excluded.serial_hex, cert_hash = excluded.cert_hash,"
	         " target = excluded.target, state = 'pending', confirmed_at = 0,"
	         " request = excluded.request,"
	         " created_at = excluded.created_at",
	         err, errlen)) != REG_OK)
		return rc;
	if (reg_bind_text(st, 1, c->sender) != DB_OK ||
	    reg_bind_text(st, 2, c->transaction_id) != DB_OK ||
	    reg_bind_text(st, 3, c->nonce) != DB_OK ||
	    reg_bind_text(st, 4, c->issuer) != DB_OK ||
	    reg_bind_text(st, 5, c->serial_hex) != DB_OK ||
	    reg_bind_text(st, 6, c->cert_hash) != DB_OK ||
	    reg_bind_text(st, 7, c->target) != DB_OK ||
	    db_bind_int64(st, 8, c->created_at) != DB_OK ||
	    db_bind_blob(st, 9, c->request, c->request_len) != DB_OK) {
		rc = reg_fail(reg, DB_ERROR, err, errlen, "bind confirm");
		goto out;
	}
	if ((rc = db_step(st)) != DB_DONE) {
		rc = reg_fail(reg, rc, err, errlen, "insert confirm");
		goto out;
	}
	rc = REG_OK;
out:
	reg_finalize(reg, st);
	return rc;
}

void reg_cmp_confirm_clear(reg_cmp_confirm_t *c)
{
	if (c == NULL)
		return;
	free(c->request);
	c->request = NULL;
	c->request_len = 0;
}

int reg_cmp_confirm_get(reg_t *reg, reg_cmp_confirm_t *out, const char *sender,
    const char *transaction_id, char *err, size_t errlen)
{
	db_stmt_t *st = NULL;
	const void *b;
	int rc, n;

	memset(out, 0, sizeof(*out));
	if ((rc = reg_prepare(reg, &st,
	         "SELECT sender, transaction_id, nonce,"
	         " issuer, serial_hex, cert_hash, target, state, created_at,"
	         " confirmed_at, request FROM cmp_confirms WHERE sender = ?1 AND"
	         " transaction_id = ?2",
	         err, errlen)) != REG_OK)
		return rc;
	if (reg_bind_text(st, 1, sender) != DB_OK ||
	    reg_bind_text(st, 2, transaction_id) != DB_OK) {
		rc = reg_fail(reg, DB_ERROR, err, errlen, "bind confirm");
		goto out;
	}
	if ((rc = db_step(st)) == DB_DONE) {
		util_err_set(err, errlen, "no certificate of this transaction");
		rc = REG_ERR_NOT_FOUND;
		goto out;
	}
	if (rc != DB_ROW) {
		rc = reg_fail(reg, rc, err, errlen, "confirm query");
		goto out;
	}
	reg_col_copy(out->sender, sizeof(out->sender), st, 0);
	reg_col_copy(out->transaction_id, sizeof(out->transaction_id), st, 1);
	reg_col_copy(out->nonce, sizeof(out->nonce), st, 2);
	reg_col_copy(out->issuer, sizeof(out->issuer), st, 3);
	reg_col_copy(out->serial_hex, sizeof(out->serial_hex), st, 4);
	reg_col_copy(out->cert_hash, sizeof(out->cert_hash), st, 5);
	reg_col_copy(out->target, sizeof(out->target), st, 6);
	reg_col_copy(out->state, sizeof(out->state), st, 7);
	out->created_at = db_col_int64(st, 8);
	out->confirmed_at = db_col_int64(st, 9);
	b = db_col_blob(st, 10);
	n = (int)db_col_bytes(st, 10);
	if (b == NULL || n <= 0 || (out->request = malloc((size_t)n)) == NULL) {
		util_err_set(err, errlen, "stored request");
		rc = REG_ERR_INVALID;
		goto out;
	}
	memcpy(out->request, b, (size_t)n);
	out->request_len = (size_t)n;
	rc = REG_OK;
out:
	reg_finalize(reg, st);
	return rc;
}

/* Run the prepared st to completion: REG_OK when it changed exactly one
 * row, REG_ERR_NOT_FOUND when none; st finalized. */
static int step_one(reg_t *reg, db_stmt_t *st, const char *what, char *err,
    size_t errlen)
{
	int rc;

	if ((rc = db_step(st)) != DB_DONE)
		rc = reg_fail(reg, rc, err, errlen, what);
	else if (db_changes(st) != 1) {
		util_err_set(err, errlen, "%s: no such row", what);
		rc = REG_ERR_NOT_FOUND;
	} else
		rc = REG_OK;
	reg_finalize(reg, st);
	return rc;
}

int reg_cmp_confirm_settle(reg_t *reg, const char *sender,
    const char *transaction_id, const char *state, int64_t now, char *err,
    size_t errlen)
{
	db_stmt_t *st = NULL;
	int rc;

	if ((rc = reg_prepare(reg, &st,
	         "UPDATE cmp_confirms SET state = ?3,"
	         " confirmed_at = ?4 WHERE sender = ?1 AND transaction_id = ?2"
	         " AND state = 'pending'",
	         err, errlen)) != REG_OK)
		return rc;
	if (reg_bind_text(st, 1, sender) != DB_OK ||
	    reg_bind_text(st, 2, transaction_id) != DB_OK ||
	    reg_bind_text(st, 3, state) != DB_OK ||
	    db_bind_int64(st, 4, now) != DB_OK) {
		reg_finalize(reg, st);
		return reg_fail(reg, DB_ERROR, err, errlen, "bind confirm");
	}
	return step_one(reg, st, "settle confirm", err, errlen);
}

int reg_cmp_infra_cert_revoke(reg_t *reg, const char *serial_hex, int reason,
    int64_t now, char *err, size_t errlen)
{
	db_stmt_t *st = NULL;
	int rc;

	if ((rc = reg_prepare(reg, &st,
	         "UPDATE certificates SET revoked = 1,"
	         " revoked_reason = ?2, revoked_at = ?3 WHERE issuer = 'infra' AND"
	         " serial_hex = ?1 AND revoked = 0",
	         err, errlen)) != REG_OK)
		return rc;
	if (reg_bind_text(st, 1, serial_hex) != DB_OK ||
	    db_bind_int64(st, 2, reason) != DB_OK ||
	    db_bind_int64(st, 3, now) != DB_OK) {
		reg_finalize(reg, st);
		return reg_fail(reg, DB_ERROR, err, errlen, "bind revoke");
	}
	if ((rc = step_one(reg, st, "revoke certificate", err, errlen)) !=
	    REG_OK)
		return rc;
	if ((rc = reg_prepare(reg, &st,
	         "UPDATE counters SET value = value + 1"
	         " WHERE name = 'crl_generation'",
	         err, errlen)) != REG_OK)
		return rc;
	return step_one(reg, st, "crl generation", err, errlen);
}
