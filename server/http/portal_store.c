/* portal_store.c — portal users and server-side sessions in the registry's
 * SQLite database. Session cookies are 32 random bytes; only their SHA-256
 * is stored, so a copy of the database does not hand out live sessions. */
#include "portal.h"

#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "reg_portal.h"
#include "util.h"

/* A dummy hash with the live cost, so an unknown user name costs as much as
 * a wrong password (no user-enumeration by timing). Its salt and output are
 * arbitrary: no password derives to it except by chance. */
static const char dummy_hash[] =
    "scrypt$15$8$1$00112233445566778899aabbccddeeff$"
    "0000000000000000000000000000000000000000000000000000000000000000";

int portal_role_parse(portal_role_t *out, const char *s)
{
	if (s == NULL)
		return PORTAL_E_ARG;
	if (strcmp(s, "admin") == 0)
		*out = PORTAL_ROLE_ADMIN;
	else if (strcmp(s, "manufacturer") == 0)
		*out = PORTAL_ROLE_MANUFACTURER;
	else
		return PORTAL_E_ARG;
	return PORTAL_OK;
}

const char *portal_role_name(portal_role_t role)
{
	return role == PORTAL_ROLE_ADMIN ? "admin" : "manufacturer";
}

int portal_user_name_check(const char *name)
{
	size_t i, n;

	if (name == NULL)
		return PORTAL_E_ARG;
	n = strnlen(name, PORTAL_NAME_MAX + 1);
	if (n == 0 || n > PORTAL_NAME_MAX)
		return PORTAL_E_ARG;
	for (i = 0; i < n; i++) {
		char c = name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '.' || c == '_' ||
		    c == '-' || c == '@'))
			return PORTAL_E_ARG;
	}
	return PORTAL_OK;
}

/* Manufacturer IDs follow the DeviceID alphabet: [A-Za-z0-9._-], 1..64. */
static int mfr_id_check(const char *id)
{
	size_t i, n;

	n = strnlen(id, PORTAL_MFR_MAX + 1);
	if (n == 0 || n > PORTAL_MFR_MAX)
		return PORTAL_E_ARG;
	for (i = 0; i < n; i++) {
		char c = id[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
			return PORTAL_E_ARG;
	}
	return PORTAL_OK;
}

static int db_fail(sqlite3 *db, const char *what, char *err, size_t errlen)
{
	util_err_set(err, errlen, "%s: %s", what, sqlite3_errmsg(db));
	return PORTAL_E_DB;
}

static void copy_text(char *dst, size_t dstlen, const unsigned char *src)
{
	size_t n;

	dst[0] = '\0';
	if (src == NULL)
		return;
	n = strnlen((const char *)src, dstlen - 1);
	memcpy(dst, src, n);
	dst[n] = '\0';
}

/* Columns: id, name, role, manufacturer_id, disabled, created_at,
 * updated_at — in that order from column `first`. */
#define USER_COLS "u.id, u.name, u.role, u.manufacturer_id, u.disabled," \
    " u.created_at, u.updated_at"

static void user_from_row(portal_user_t *u, sqlite3_stmt *st, int first)
{
	memset(u, 0, sizeof(*u));
	u->id = sqlite3_column_int64(st, first);
	copy_text(u->name, sizeof(u->name), sqlite3_column_text(st, first + 1));
	u->role = strcmp((const char *)sqlite3_column_text(st, first + 2),
	    "admin") == 0 ? PORTAL_ROLE_ADMIN : PORTAL_ROLE_MANUFACTURER;
	copy_text(u->manufacturer_id, sizeof(u->manufacturer_id),
	    sqlite3_column_text(st, first + 3));
	u->disabled = sqlite3_column_int(st, first + 4) != 0;
	u->created_at = sqlite3_column_int64(st, first + 5);
	u->updated_at = sqlite3_column_int64(st, first + 6);
}

int portal_user_add(int64_t *out_id, sqlite3 *db, const char *name,
    portal_role_t role, const char *manufacturer_id, const char *pw,
    size_t pwlen, int64_t now, char *err, size_t errlen)
{
	char hash[PORTAL_PW_HASH_LEN];
	sqlite3_stmt *st = NULL;
	int rc;

	if (db == NULL || portal_user_name_check(name) != PORTAL_OK) {
		util_err_set(err, errlen, "user name must be 1-%d characters "
		    "of A-Z a-z 0-9 . _ - @", PORTAL_NAME_MAX);
		return PORTAL_E_ARG;
	}
	if (role == PORTAL_ROLE_MANUFACTURER) {
		if (manufacturer_id == NULL ||
		    mfr_id_check(manufacturer_id) != PORTAL_OK) {
			util_err_set(err, errlen, "a manufacturer user needs a "
			    "manufacturer ID of 1-%d characters of "
			    "A-Z a-z 0-9 . _ -", PORTAL_MFR_MAX);
			return PORTAL_E_ARG;
		}
	} else if (role == PORTAL_ROLE_ADMIN) {
		if (manufacturer_id != NULL && manufacturer_id[0] != '\0') {
			util_err_set(err, errlen,
			    "an admin user has no manufacturer ID");
			return PORTAL_E_ARG;
		}
		manufacturer_id = NULL;
	} else {
		util_err_set(err, errlen, "unknown role");
		return PORTAL_E_ARG;
	}
	rc = portal_password_check_policy(pw, pwlen, err, errlen);
	if (rc != PORTAL_OK)
		return rc;
	rc = portal_password_hash(hash, sizeof(hash), pw, pwlen, err, errlen);
	if (rc != PORTAL_OK)
		goto out;
	if (sqlite3_prepare_v2(db, "INSERT INTO portal_users(name, role,"
	    " manufacturer_id, pw_hash, created_at, updated_at)"
	    " VALUES(?1, ?2, ?3, ?4, ?5, ?5)", -1, &st, NULL) != SQLITE_OK) {
		rc = db_fail(db, "prepare user insert", err, errlen);
		goto out;
	}
	if (sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_bind_text(st, 2, portal_role_name(role), -1,
	    SQLITE_STATIC) != SQLITE_OK ||
	    (manufacturer_id != NULL ? sqlite3_bind_text(st, 3,
	    manufacturer_id, -1, SQLITE_STATIC) : sqlite3_bind_null(st, 3)) !=
	    SQLITE_OK ||
	    sqlite3_bind_text(st, 4, hash, -1, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_bind_int64(st, 5, now) != SQLITE_OK) {
		rc = db_fail(db, "bind user insert", err, errlen);
		goto out;
	}
	/* The registry's connection has extended result codes on: compare
	 * the primary code. */
	rc = sqlite3_step(st);
	if ((rc & 0xff) == SQLITE_CONSTRAINT &&
	    sqlite3_extended_errcode(db) == SQLITE_CONSTRAINT_FOREIGNKEY) {
		util_err_set(err, errlen, "no manufacturer %s", manufacturer_id);
		rc = PORTAL_E_ARG;
		goto out;
	}
	if (rc == SQLITE_CONSTRAINT_UNIQUE || rc == SQLITE_CONSTRAINT_PRIMARYKEY ||
	    ((rc & 0xff) == SQLITE_CONSTRAINT && (sqlite3_extended_errcode(db) ==
	    SQLITE_CONSTRAINT_UNIQUE || sqlite3_extended_errcode(db) ==
	    SQLITE_CONSTRAINT_PRIMARYKEY))) {
		util_err_set(err, errlen, "user %s already exists", name);
		rc = PORTAL_E_CONFLICT;
		goto out;
	}
	if ((rc & 0xff) == SQLITE_CONSTRAINT) { /* a CHECK the input failed */
		util_err_set(err, errlen, "user refused: %s", sqlite3_errmsg(db));
		rc = PORTAL_E_ARG;
		goto out;
	}
	if (rc != SQLITE_DONE) {
		rc = db_fail(db, "insert user", err, errlen);
		goto out;
	}
	if (out_id != NULL)
		*out_id = sqlite3_last_insert_rowid(db);
	rc = PORTAL_OK;
out:
	OPENSSL_cleanse(hash, sizeof(hash));
	sqlite3_finalize(st);
	return rc;
}

/* Run a one-row user query bound to (?1 = int64 id | text name). */
static int user_query(portal_user_t *out, char *hash_out, size_t hashlen,
    sqlite3 *db, const char *sql, int64_t id, const char *name, char *err,
    size_t errlen)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
		rc = db_fail(db, "prepare user query", err, errlen);
		goto out;
	}
	if ((name != NULL ? sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC)
	    : sqlite3_bind_int64(st, 1, id)) != SQLITE_OK) {
		rc = db_fail(db, "bind user query", err, errlen);
		goto out;
	}
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE) {
		util_err_set(err, errlen, "no such user");
		rc = PORTAL_E_NOTFOUND;
		goto out;
	}
	if (rc != SQLITE_ROW) {
		rc = db_fail(db, "user query", err, errlen);
		goto out;
	}
	user_from_row(out, st, 0);
	if (hash_out != NULL)
		copy_text(hash_out, hashlen, sqlite3_column_text(st, 7));
	rc = PORTAL_OK;
out:
	sqlite3_finalize(st);
	return rc;
}

int portal_user_get(portal_user_t *out, sqlite3 *db, int64_t id, char *err,
    size_t errlen)
{
	return user_query(out, NULL, 0, db, "SELECT " USER_COLS
	    " FROM portal_users u WHERE u.id = ?1", id, NULL, err, errlen);
}

int portal_user_find(portal_user_t *out, sqlite3 *db, const char *name,
    char *err, size_t errlen)
{
	if (portal_user_name_check(name) != PORTAL_OK) {
		util_err_set(err, errlen, "no such user");
		return PORTAL_E_NOTFOUND;
	}
	return user_query(out, NULL, 0, db, "SELECT " USER_COLS
	    " FROM portal_users u WHERE u.name = ?1", 0, name, err, errlen);
}

/* Run an UPDATE/DELETE bound to (?1 int64, ?2 int64 or text, ?3 int64). */
static int exec_changes(int *changes, sqlite3 *db, const char *sql,
    int64_t a, const char *btext, int64_t bint, int64_t c, char *err,
    size_t errlen)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
		rc = db_fail(db, "prepare update", err, errlen);
		goto out;
	}
	if (sqlite3_bind_int64(st, 1, a) != SQLITE_OK ||
	    (sqlite3_bind_parameter_count(st) >= 2 &&
	    (btext != NULL ? sqlite3_bind_text(st, 2, btext, -1, SQLITE_STATIC)
	    : sqlite3_bind_int64(st, 2, bint)) != SQLITE_OK) ||
	    (sqlite3_bind_parameter_count(st) >= 3 &&
	    sqlite3_bind_int64(st, 3, c) != SQLITE_OK)) {
		rc = db_fail(db, "bind update", err, errlen);
		goto out;
	}
	if (sqlite3_step(st) != SQLITE_DONE) {
		rc = db_fail(db, "update", err, errlen);
		goto out;
	}
	if (changes != NULL)
		*changes = sqlite3_changes(db);
	rc = PORTAL_OK;
out:
	sqlite3_finalize(st);
	return rc;
}

static int end_user_sessions(sqlite3 *db, int64_t id, char *err,
    size_t errlen)
{
	return exec_changes(NULL, db,
	    "DELETE FROM portal_sessions WHERE user_id = ?1", id, NULL, 0, 0,
	    err, errlen);
}

int portal_user_set_password(sqlite3 *db, int64_t id, const char *pw,
    size_t pwlen, int64_t now, char *err, size_t errlen)
{
	char hash[PORTAL_PW_HASH_LEN];
	int rc, changes = 0;

	rc = portal_password_check_policy(pw, pwlen, err, errlen);
	if (rc != PORTAL_OK)
		return rc;
	rc = portal_password_hash(hash, sizeof(hash), pw, pwlen, err, errlen);
	if (rc != PORTAL_OK)
		goto out;
	rc = exec_changes(&changes, db, "UPDATE portal_users SET pw_hash = ?2,"
	    " updated_at = ?3 WHERE id = ?1", id, hash, 0, now, err, errlen);
	if (rc != PORTAL_OK)
		goto out;
	if (changes == 0) {
		util_err_set(err, errlen, "no such user");
		rc = PORTAL_E_NOTFOUND;
		goto out;
	}
	rc = end_user_sessions(db, id, err, errlen);
out:
	OPENSSL_cleanse(hash, sizeof(hash));
	return rc;
}

int portal_user_set_disabled(sqlite3 *db, int64_t id, int disabled,
    int64_t now, char *err, size_t errlen)
{
	int rc, changes = 0;

	rc = exec_changes(&changes, db, "UPDATE portal_users SET disabled = ?2,"
	    " updated_at = ?3 WHERE id = ?1", id, NULL, disabled ? 1 : 0, now,
	    err, errlen);
	if (rc != PORTAL_OK)
		return rc;
	if (changes == 0) {
		util_err_set(err, errlen, "no such user");
		return PORTAL_E_NOTFOUND;
	}
	return disabled ? end_user_sessions(db, id, err, errlen) : PORTAL_OK;
}

int portal_user_list(sqlite3 *db,
    int (*fn)(const portal_user_t *u, void *arg), void *arg, char *err,
    size_t errlen)
{
	sqlite3_stmt *st = NULL;
	portal_user_t u;
	int rc;

	if (sqlite3_prepare_v2(db, "SELECT " USER_COLS " FROM portal_users u"
	    " ORDER BY u.name", -1, &st, NULL) != SQLITE_OK) {
		rc = db_fail(db, "prepare user list", err, errlen);
		goto out;
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		user_from_row(&u, st, 0);
		rc = fn(&u, arg);
		if (rc != 0)
			goto out;
	}
	if (rc != SQLITE_DONE) {
		rc = db_fail(db, "user list", err, errlen);
		goto out;
	}
	rc = PORTAL_OK;
out:
	sqlite3_finalize(st);
	return rc;
}

int portal_user_authenticate(portal_user_t *out, sqlite3 *db,
    const char *name, const char *pw, size_t pwlen, char *err,
    size_t errlen)
{
	char hash[PORTAL_PW_HASH_LEN];
	portal_user_t u;
	int rc, found;

	if (pw == NULL || pwlen > PORTAL_PW_MAX) {
		util_err_set(err, errlen, "wrong user name or password");
		return PORTAL_E_AUTH;
	}
	rc = PORTAL_E_NOTFOUND;
	if (portal_user_name_check(name) == PORTAL_OK)
		rc = user_query(&u, hash, sizeof(hash), db, "SELECT " USER_COLS
		    ", u.pw_hash FROM portal_users u WHERE u.name = ?1", 0,
		    name, err, errlen);
	if (rc != PORTAL_OK && rc != PORTAL_E_NOTFOUND)
		return rc;
	found = rc == PORTAL_OK;
	rc = portal_password_verify(found ? hash : dummy_hash, pw, pwlen, err,
	    errlen);
	OPENSSL_cleanse(hash, sizeof(hash));
	if (rc == PORTAL_E_CRYPTO)
		return rc;
	if (!found || rc != PORTAL_OK) {
		util_err_set(err, errlen, "wrong user name or password");
		return PORTAL_E_AUTH;
	}
	if (u.disabled) {
		util_err_set(err, errlen, "user %s is disabled", u.name);
		return PORTAL_E_DISABLED;
	}
	*out = u;
	return PORTAL_OK;
}

/* SHA-256 of the token's text: the session row's key. */
static int token_hash(uint8_t *out32, const char *token)
{
	unsigned int len = 0;

	if (EVP_Digest(token, strlen(token), out32, &len, EVP_sha256(),
	    NULL) != 1 || len != 32)
		return PORTAL_E_CRYPTO;
	return PORTAL_OK;
}

static int token_valid(const char *token)
{
	size_t i;

	if (token == NULL || strnlen(token, PORTAL_TOKEN_HEX + 1) !=
	    PORTAL_TOKEN_HEX)
		return 0;
	for (i = 0; i < PORTAL_TOKEN_HEX; i++)
		if (!((token[i] >= '0' && token[i] <= '9') ||
		    (token[i] >= 'a' && token[i] <= 'f')))
			return 0;
	return 1;
}

static int64_t session_expiry(int64_t last_seen, int64_t absolute,
    const portal_session_policy_t *pol)
{
	int64_t idle = last_seen + pol->idle_s;

	return idle < absolute ? idle : absolute;
}

int portal_session_create(char *token_out, size_t token_outlen,
    portal_session_t *out, sqlite3 *db, int64_t user_id,
    const portal_session_policy_t *pol, const char *address, int64_t now,
    char *err, size_t errlen)
{
	uint8_t raw[32], csrf_raw[32], th[32];
	sqlite3_stmt *st = NULL;
	portal_session_t s;
	int rc;

	memset(&s, 0, sizeof(s));
	if (token_out == NULL || token_outlen < PORTAL_TOKEN_HEX + 1 ||
	    pol == NULL || pol->idle_s <= 0 || pol->absolute_s <= 0) {
		util_err_set(err, errlen, "invalid session arguments");
		return PORTAL_E_ARG;
	}
	rc = portal_user_get(&s.user, db, user_id, err, errlen);
	if (rc != PORTAL_OK)
		goto out;
	if (s.user.disabled) {
		util_err_set(err, errlen, "user %s is disabled", s.user.name);
		rc = PORTAL_E_DISABLED;
		goto out;
	}
	if (util_random(raw, sizeof(raw)) != 0 ||
	    util_random(csrf_raw, sizeof(csrf_raw)) != 0) {
		util_err_openssl(err, errlen, "session token");
		rc = PORTAL_E_CRYPTO;
		goto out;
	}
	util_hex_encode(token_out, raw, sizeof(raw));
	util_hex_encode(s.csrf, csrf_raw, sizeof(csrf_raw));
	if (token_hash(th, token_out) != PORTAL_OK) {
		util_err_openssl(err, errlen, "session token hash");
		rc = PORTAL_E_CRYPTO;
		goto out;
	}
	s.created_at = now;
	s.expires_at = session_expiry(now, now + pol->absolute_s, pol);
	if (sqlite3_prepare_v2(db, "INSERT INTO portal_sessions(token_hash,"
	    " user_id, csrf, address, created_at, last_seen, absolute_expiry)"
	    " VALUES(?1, ?2, ?3, ?4, ?5, ?5, ?6)", -1, &st, NULL) !=
	    SQLITE_OK) {
		rc = db_fail(db, "prepare session insert", err, errlen);
		goto out;
	}
	if (sqlite3_bind_blob(st, 1, th, sizeof(th), SQLITE_STATIC) !=
	    SQLITE_OK || sqlite3_bind_int64(st, 2, user_id) != SQLITE_OK ||
	    sqlite3_bind_text(st, 3, s.csrf, -1, SQLITE_STATIC) != SQLITE_OK ||
	    (address != NULL ? sqlite3_bind_text(st, 4, address, -1,
	    SQLITE_STATIC) : sqlite3_bind_null(st, 4)) != SQLITE_OK ||
	    sqlite3_bind_int64(st, 5, now) != SQLITE_OK ||
	    sqlite3_bind_int64(st, 6, now + pol->absolute_s) != SQLITE_OK) {
		rc = db_fail(db, "bind session insert", err, errlen);
		goto out;
	}
	if (sqlite3_step(st) != SQLITE_DONE) {
		rc = db_fail(db, "insert session", err, errlen);
		goto out;
	}
	if (out != NULL)
		*out = s;
	rc = PORTAL_OK;
out:
	if (rc != PORTAL_OK && token_out != NULL && token_outlen > 0)
		OPENSSL_cleanse(token_out, token_outlen);
	OPENSSL_cleanse(raw, sizeof(raw));
	OPENSSL_cleanse(csrf_raw, sizeof(csrf_raw));
	OPENSSL_cleanse(&s, sizeof(s));
	sqlite3_finalize(st);
	return rc;
}

int portal_session_lookup(portal_session_t *out, sqlite3 *db,
    const char *token, const portal_session_policy_t *pol, int64_t now,
    char *err, size_t errlen)
{
	sqlite3_stmt *st = NULL;
	uint8_t th[32];
	portal_session_t s;
	int64_t last_seen, absolute;
	int rc;

	memset(&s, 0, sizeof(s));
	if (out == NULL || pol == NULL || !token_valid(token)) {
		util_err_set(err, errlen, "no such session");
		return PORTAL_E_AUTH;
	}
	if (token_hash(th, token) != PORTAL_OK) {
		util_err_openssl(err, errlen, "session token hash");
		return PORTAL_E_CRYPTO;
	}
	if (sqlite3_prepare_v2(db, "SELECT " USER_COLS ", s.csrf,"
	    " s.created_at, s.last_seen, s.absolute_expiry"
	    " FROM portal_sessions s JOIN portal_users u ON u.id = s.user_id"
	    " WHERE s.token_hash = ?1", -1, &st, NULL) != SQLITE_OK) {
		rc = db_fail(db, "prepare session lookup", err, errlen);
		goto out;
	}
	if (sqlite3_bind_blob(st, 1, th, sizeof(th), SQLITE_STATIC) !=
	    SQLITE_OK) {
		rc = db_fail(db, "bind session lookup", err, errlen);
		goto out;
	}
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE) {
		util_err_set(err, errlen, "no such session");
		rc = PORTAL_E_AUTH;
		goto out;
	}
	if (rc != SQLITE_ROW) {
		rc = db_fail(db, "session lookup", err, errlen);
		goto out;
	}
	user_from_row(&s.user, st, 0);
	copy_text(s.csrf, sizeof(s.csrf), sqlite3_column_text(st, 7));
	s.created_at = sqlite3_column_int64(st, 8);
	last_seen = sqlite3_column_int64(st, 9);
	absolute = sqlite3_column_int64(st, 10);
	sqlite3_finalize(st);
	st = NULL;
	if (now >= session_expiry(last_seen, absolute, pol)) {
		rc = portal_session_delete(db, token, err, errlen);
		if (rc == PORTAL_OK) {
			util_err_set(err, errlen, "session expired");
			rc = PORTAL_E_EXPIRED;
		}
		goto out;
	}
	if (s.user.disabled) {
		util_err_set(err, errlen, "user %s is disabled", s.user.name);
		rc = PORTAL_E_DISABLED;
		goto out;
	}
	/* Restart the idle timer. */
	if (sqlite3_prepare_v2(db, "UPDATE portal_sessions SET last_seen = ?2"
	    " WHERE token_hash = ?1", -1, &st, NULL) != SQLITE_OK) {
		rc = db_fail(db, "prepare session touch", err, errlen);
		goto out;
	}
	if (sqlite3_bind_blob(st, 1, th, sizeof(th), SQLITE_STATIC) !=
	    SQLITE_OK || sqlite3_bind_int64(st, 2, now) != SQLITE_OK) {
		rc = db_fail(db, "bind session touch", err, errlen);
		goto out;
	}
	if (sqlite3_step(st) != SQLITE_DONE) {
		rc = db_fail(db, "session touch", err, errlen);
		goto out;
	}
	s.expires_at = session_expiry(now, absolute, pol);
	*out = s;
	rc = PORTAL_OK;
out:
	OPENSSL_cleanse(&s, sizeof(s));
	sqlite3_finalize(st);
	return rc;
}

int portal_session_csrf_check(const portal_session_t *s, const char *csrf)
{
	if (s == NULL || !token_valid(csrf) || !token_valid(s->csrf))
		return PORTAL_E_AUTH;
	return CRYPTO_memcmp(s->csrf, csrf, PORTAL_TOKEN_HEX) == 0 ?
	    PORTAL_OK : PORTAL_E_AUTH;
}

int portal_session_delete(sqlite3 *db, const char *token, char *err,
    size_t errlen)
{
	sqlite3_stmt *st = NULL;
	uint8_t th[32];
	int rc;

	if (!token_valid(token))
		return PORTAL_OK;
	if (token_hash(th, token) != PORTAL_OK) {
		util_err_openssl(err, errlen, "session token hash");
		return PORTAL_E_CRYPTO;
	}
	if (sqlite3_prepare_v2(db, "DELETE FROM portal_sessions"
	    " WHERE token_hash = ?1", -1, &st, NULL) != SQLITE_OK) {
		rc = db_fail(db, "prepare session delete", err, errlen);
		goto out;
	}
	if (sqlite3_bind_blob(st, 1, th, sizeof(th), SQLITE_STATIC) !=
	    SQLITE_OK) {
		rc = db_fail(db, "bind session delete", err, errlen);
		goto out;
	}
	if (sqlite3_step(st) != SQLITE_DONE) {
		rc = db_fail(db, "session delete", err, errlen);
		goto out;
	}
	rc = PORTAL_OK;
out:
	sqlite3_finalize(st);
	return rc;
}

int portal_session_purge(int *out_deleted, sqlite3 *db,
    const portal_session_policy_t *pol, int64_t now, char *err,
    size_t errlen)
{
	if (pol == NULL || pol->idle_s <= 0) {
		util_err_set(err, errlen, "invalid session policy");
		return PORTAL_E_ARG;
	}
	return exec_changes(out_deleted, db,
	    "DELETE FROM portal_sessions WHERE absolute_expiry <= ?1"
	    " OR last_seen <= ?1 - ?2", now, NULL, pol->idle_s, 0, err, errlen);
}
