/* reg_portal.c — the portal's tables in the registry (users, sessions):
 * every statement that reads or writes them. The rules around them (names,
 * passwords, expiry) are server/http/portal_store.c's. Their schema is
 * migration 2 in reg_migrations.c, with the others. */
#include "reg_portal.h"
#include "reg_priv.h"

#include <string.h>

#include "util.h"

/* Columns: id, name, role, manufacturer_id, disabled, created_at,
 * updated_at — in that order from column `first`. */
#define USER_COLS \
	"u.id, u.name, u.role, u.manufacturer_id, u.disabled," \
	" u.created_at, u.updated_at"

static void user_from_row(reg_portal_user_t *u, db_stmt_t *st, int first)
{
	memset(u, 0, sizeof(*u));
	u->id = db_col_int64(st, first);
	reg_col_copy(u->name, sizeof(u->name), st, first + 1);
	reg_col_copy(u->role, sizeof(u->role), st, first + 2);
	reg_col_copy(u->manufacturer_id, sizeof(u->manufacturer_id), st,
	    first + 3);
	u->disabled = db_col_int(st, first + 4) != 0;
	u->created_at = db_col_int64(st, first + 5);
	u->updated_at = db_col_int64(st, first + 6);
}

/* The reg_error of a failed portal_users INSERT: a missing manufacturer,
 * a taken name and a CHECK each have their own. */
static int user_insert_fail(reg_t *reg, int rc, char *err, size_t errlen)
{
	int kind = db_constraint_kind(reg->c);

	rc = reg_fail(reg, rc, err, errlen, "insert user");
	if (rc != REG_ERR_CONSTRAINT)
		return rc;
	if (kind == DB_CONSTRAINT_FOREIGNKEY)
		return REG_ERR_NOT_FOUND;
	if (kind == DB_CONSTRAINT_UNIQUE)
		return REG_ERR_CONSTRAINT;
	return REG_ERR_INVALID;
}

int reg_portal_user_insert(reg_t *reg, int64_t *out_id, const char *name,
    const char *role, const char *manufacturer_id, const char *pw_hash,
    int64_t now, char *err, size_t errlen)
{
	db_stmt_t *st = NULL;
	int rc;

	if ((rc = reg_prepare(reg, &st,
	         "INSERT INTO portal_users(name, role,"
	         " manufacturer_id, pw_hash, created_at, updated_at)"
	         " VALUES(?1, ?2, ?3, ?4, ?5, ?5)",
	         err, errlen)) != REG_OK)
		return rc;
	if (reg_bind_text(st, 1, name) != DB_OK ||
	    reg_bind_text(st, 2, role) != DB_OK ||
	    reg_bind_text(st, 3, manufacturer_id) != DB_OK ||
	    reg_bind_text(st, 4, pw_hash) != DB_OK ||
	    db_bind_int64(st, 5, now) != DB_OK) {
		rc = reg_fail(reg, DB_ERROR, err, errlen, "bind user");
		goto out;
	}
	if ((rc = db_step(st)) != DB_DONE) {
		rc = user_insert_fail(reg, rc, err, errlen);
		goto out;
	}
	if (out_id != NULL)
		*out_id = db_last_id(reg->c);
	rc = REG_OK;
out:
	reg_finalize(reg, st);
	return rc;
}

int reg_portal_user_get(reg_t *reg, reg_portal_user_t *out, char *pw_hash,
    int64_t id, const char *name, char *err, size_t errlen)
{
	db_stmt_t *st = NULL;
	int rc;

	if ((rc = reg_prepare(reg, &st,
	         name != NULL ?
	             "SELECT " USER_COLS ", u.pw_hash FROM portal_users u"
	             " WHERE u.name = ?1" :
	             "SELECT " USER_COLS ", u.pw_hash FROM portal_users u"
	             " WHERE u.id = ?1",
	         err, errlen)) != REG_OK)
		return rc;
	if ((name != NULL ? reg_bind_text(st, 1, name) :
	                    db_bind_int64(st, 1, id)) != DB_OK) {
		rc = reg_fail(reg, DB_ERROR, err, errlen, "bind user");
		goto out;
	}
	rc = db_step(st);
	if (rc == DB_DONE) {
		util_err_set(err, errlen, "no such user");
		rc = REG_ERR_NOT_FOUND;
		goto out;
	}
	if (rc != DB_ROW) {
		rc = reg_fail(reg, rc, err, errlen, "user query");
		goto out;
	}
	user_from_row(out, st, 0);
	if (pw_hash != NULL)
		reg_col_copy(pw_hash, REG_PORTAL_HASH_MAX + 1, st, 7);
	rc = REG_OK;
out:
	reg_finalize(reg, st);
	return rc;
}

/* Step a bound UPDATE/DELETE; *changes (may be NULL) gets its row count. */
static int step_changes(reg_t *reg, db_stmt_t *st, int *changes, char *err,
    size_t errlen, const char *what)
{
	int rc = db_step(st);

	if (rc != DB_DONE)
		return reg_fail(reg, rc, err, errlen, what);
	if (changes != NULL)
		*changes = (int)db_changes(st);
	return REG_OK;
}

int reg_portal_user_update(reg_t *reg, int64_t id, const char *pw_hash,
    int disabled, int64_t now, char *err, size_t errlen)
{
	db_stmt_t *st = NULL;
	int rc, changes = 0;

	if ((rc = reg_prepare(reg, &st,
	         pw_hash != NULL ?
	             "UPDATE portal_users SET pw_hash = ?2, updated_at = ?3"
	             " WHERE id = ?1" :
	             "UPDATE portal_users SET disabled = ?2, updated_at = ?3"
	             " WHERE id = ?1",
	         err, errlen)) != REG_OK)
		return rc;
	if (db_bind_int64(st, 1, id) != DB_OK ||
	    (pw_hash != NULL ?
	            reg_bind_text(st, 2, pw_hash) :
	            db_bind_int64(st, 2, disabled ? 1 : 0)) != DB_OK ||
	    db_bind_int64(st, 3, now) != DB_OK) {
		rc = reg_fail(reg, DB_ERROR, err, errlen, "bind user");
		goto out;
	}
	if ((rc = step_changes(reg, st, &changes, err, errlen,
	         "update user")) != REG_OK)
		goto out;
	if (changes == 0) {
		util_err_set(err, errlen, "no such user");
		rc = REG_ERR_NOT_FOUND;
	}
out:
	reg_finalize(reg, st);
	return rc;
}

int reg_portal_user_list(reg_t *reg,
    int (*fn)(const reg_portal_user_t *u, void *arg), void *arg, char *err,
    size_t errlen)
{
	db_stmt_t *st = NULL;
	reg_portal_user_t u;
	int rc;

	if ((rc = reg_prepare(reg, &st,
	         "SELECT " USER_COLS " FROM portal_users u ORDER BY u.name",
	         err, errlen)) != REG_OK)
		return rc;
	while ((rc = db_step(st)) == DB_ROW) {
		user_from_row(&u, st, 0);
		if ((rc = fn(&u, arg)) != 0)
			goto out;
	}
	rc = rc == DB_DONE ? REG_OK :
	                     reg_fail(reg, rc, err, errlen, "user list");
out:
	reg_finalize(reg, st);
	return rc;
}

int reg_portal_session_insert(reg_t *reg, const uint8_t token_hash[32],
    int64_t user_id, const char *csrf, const char *address, int64_t now,
    int64_t absolute_expiry, char *err, size_t errlen)
{
	db_stmt_t *st = NULL;
	int rc;

	if ((rc = reg_prepare(reg, &st,
	         "INSERT INTO portal_sessions("
	         "token_hash, user_id, csrf, address, created_at, last_seen,"
	         " absolute_expiry) VALUES(?1, ?2, ?3, ?4, ?5, ?5, ?6)",
	         err, errlen)) != REG_OK)
		return rc;
	if (db_bind_blob(st, 1, token_hash, 32) != DB_OK ||
	    db_bind_int64(st, 2, user_id) != DB_OK ||
	    reg_bind_text(st, 3, csrf) != DB_OK ||
	    reg_bind_text(st, 4, address) != DB_OK ||
	    db_bind_int64(st, 5, now) != DB_OK ||
	    db_bind_int64(st, 6, absolute_expiry) != DB_OK) {
		rc = reg_fail(reg, DB_ERROR, err, errlen, "bind session");
		goto out;
	}
	rc = step_changes(reg, st, NULL, err, errlen, "insert session");
out:
	reg_finalize(reg, st);
	return rc;
}

int reg_portal_session_get(reg_t *reg, reg_portal_session_t *out,
    const uint8_t token_hash[32], char *err, size_t errlen)
{
	db_stmt_t *st = NULL;
	int rc;

	if ((rc = reg_prepare(reg, &st,
	         "SELECT " USER_COLS ", s.csrf,"
	         " s.created_at, s.last_seen, s.absolute_expiry"
	         " FROM portal_sessions s JOIN portal_users u ON u.id = s.user_id"
	         " WHERE s.token_hash = ?1",
	         err, errlen)) != REG_OK)
		return rc;
	if (db_bind_blob(st, 1, token_hash, 32) != DB_OK) {
		rc = reg_fail(reg, DB_ERROR, err, errlen, "bind session");
		goto out;
	}
	rc = db_step(st);
	if (rc == DB_DONE) {
		util_err_set(err, errlen, "no such session");
		rc = REG_ERR_NOT_FOUND;
		goto out;
	}
	if (rc != DB_ROW) {
		rc = reg_fail(reg, rc, err, errlen, "session lookup");
		goto out;
	}
	user_from_row(&out->user, st, 0);
	reg_col_copy(out->csrf, sizeof(out->csrf), st, 7);
	out->created_at = db_col_int64(st, 8);
	out->last_seen = db_col_int64(st, 9);
	out->absolute_expiry = db_col_int64(st, 10);
	rc = REG_OK;
out:
	reg_finalize(reg, st);
	return rc;
}

int reg_portal_session_touch(reg_t *reg, const uint8_t token_hash[32],
    int64_t now, char *err, size_t errlen)
{
	db_stmt_t *st = NULL;
	int rc;

	if ((rc = reg_prepare(reg, &st,
	         "UPDATE portal_sessions"
	         " SET last_seen = ?2 WHERE token_hash = ?1",
	         err, errlen)) != REG_OK)
		return rc;
	if (db_bind_blob(st, 1, token_hash, 32) != DB_OK ||
	    db_bind_int64(st, 2, now) != DB_OK) {
		rc = reg_fail(reg, DB_ERROR, err, errlen, "bind session");
		goto out;
	}
	rc = step_changes(reg, st, NULL, err, errlen, "session touch");
out:
	reg_finalize(reg, st);
	return rc;
}

int reg_portal_session_delete(reg_t *reg, const uint8_t *token_hash,
    int64_t user_id, char *err, size_t errlen)
{
	db_stmt_t *st = NULL;
	int rc;

	if ((rc = reg_prepare(reg, &st,
	         token_hash != NULL ?
	             "DELETE FROM portal_sessions WHERE token_hash = ?1" :
	             "DELETE FROM portal_sessions WHERE user_id = ?1",
	         err, errlen)) != REG_OK)
		return rc;
	if ((token_hash != NULL ? db_bind_blob(st, 1, token_hash, 32) :
	                          db_bind_int64(st, 1, user_id)) != DB_OK) {
		rc = reg_fail(reg, DB_ERROR, err, errlen, "bind session");
		goto out;
	}
	rc = step_changes(reg, st, NULL, err, errlen, "session delete");
out:
	reg_finalize(reg, st);
	return rc;
}

int reg_portal_session_purge(reg_t *reg, int *out_deleted, int64_t now,
    int64_t idle_s, char *err, size_t errlen)
{
	db_stmt_t *st = NULL;
	int rc;

	if ((rc = reg_prepare(reg, &st,
	         "DELETE FROM portal_sessions"
	         " WHERE absolute_expiry <= ?1 OR last_seen <= ?1 - ?2",
	         err, errlen)) != REG_OK)
		return rc;
	if (db_bind_int64(st, 1, now) != DB_OK ||
	    db_bind_int64(st, 2, idle_s) != DB_OK) {
		rc = reg_fail(reg, DB_ERROR, err, errlen, "bind purge");
		goto out;
	}
	rc = step_changes(reg, st, out_deleted, err, errlen, "session purge");
out:
	reg_finalize(reg, st);
	return rc;
}
