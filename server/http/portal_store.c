/* portal_store.c — the rules of portal users and server-side sessions:
 * names, roles, password hashing, token hashing and expiry. Their rows are
 * stored by db/reg_portal.c. Session cookies are 32 random bytes; only
 * their SHA-256 is stored, so a copy of the database does not hand out live
 * sessions. */
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
		        (c >= '0' && c <= '9') || c == '.' || c == '_' ||
		        c == '-'))
			return PORTAL_E_ARG;
	}
	return PORTAL_OK;
}

/* Copy NUL-terminated src into dst of dstlen bytes, cut to fit. */
static void text_copy(char *dst, const char *src, size_t dstlen)
{
	size_t n = strnlen(src, dstlen - 1);

	memcpy(dst, src, n);
	dst[n] = '\0';
}

/* A registry failure as a portal error: not-found stays not-found, any
 * other is PORTAL_E_DB (err already says what). */
static int db_err(int rc)
{
	if (rc == REG_OK)
		return PORTAL_OK;
	return rc == REG_ERR_NOT_FOUND ? PORTAL_E_NOTFOUND : PORTAL_E_DB;
}

/* A registry row as the portal's user. */
static void user_from_reg(portal_user_t *u, const reg_portal_user_t *r)
{
	memset(u, 0, sizeof(*u));
	u->id = r->id;
	text_copy(u->name, r->name, sizeof(u->name));
	u->role = strcmp(r->role, "admin") == 0 ? PORTAL_ROLE_ADMIN :
	                                          PORTAL_ROLE_MANUFACTURER;
	text_copy(u->manufacturer_id, r->manufacturer_id,
	    sizeof(u->manufacturer_id));
	u->disabled = r->disabled;
	u->created_at = r->created_at;
	u->updated_at = r->updated_at;
}

/* Check role and manufacturer ID of a new user; *mfr becomes NULL for an
 * admin. PORTAL_OK or PORTAL_E_ARG with err filled. */
static int user_role_check(portal_role_t role, const char **mfr, char *err,
    size_t errlen)
{
	if (role == PORTAL_ROLE_MANUFACTURER) {
		if (*mfr == NULL || mfr_id_check(*mfr) != PORTAL_OK) {
			util_err_set(err, errlen,
			    "a manufacturer user needs a "
			    "manufacturer ID of 1-%d characters of "
			    "A-Z a-z 0-9 . _ -",
			    PORTAL_MFR_MAX);
			return PORTAL_E_ARG;
		}
		return PORTAL_OK;
	}
	if (role == PORTAL_ROLE_ADMIN) {
		if (*mfr != NULL && (*mfr)[0] != '\0') {
			util_err_set(err, errlen,
			    "an admin user has no manufacturer ID");
			return PORTAL_E_ARG;
		}
		*mfr = NULL;
		return PORTAL_OK;
	}
	util_err_set(err, errlen, "unknown role");
	return PORTAL_E_ARG;
}

int portal_user_add(int64_t *out_id, reg_t *reg, const char *name,
    portal_role_t role, const char *manufacturer_id, const char *pw,
    size_t pwlen, int64_t now, char *err, size_t errlen)
{
	char hash[PORTAL_PW_HASH_LEN];
	int rc;

	if (reg == NULL || portal_user_name_check(name) != PORTAL_OK) {
		util_err_set(err, errlen,
		    "user name must be 1-%d characters "
		    "of A-Z a-z 0-9 . _ - @",
		    PORTAL_NAME_MAX);
		return PORTAL_E_ARG;
	}
	if ((rc = user_role_check(role, &manufacturer_id, err, errlen)) !=
	    PORTAL_OK)
		return rc;
	rc = portal_password_check_policy(pw, pwlen, err, errlen);
	if (rc != PORTAL_OK)
		return rc;
	rc = portal_password_hash(hash, sizeof(hash), pw, pwlen, err, errlen);
	if (rc != PORTAL_OK)
		goto out;
	rc = reg_portal_user_insert(reg, out_id, name, portal_role_name(role),
	    manufacturer_id, hash, now, err, errlen);
	if (rc == REG_ERR_NOT_FOUND) {
		util_err_set(err, errlen, "no manufacturer %s",
		    manufacturer_id);
		rc = PORTAL_E_ARG;
	} else if (rc == REG_ERR_CONSTRAINT) {
		util_err_set(err, errlen, "user %s already exists", name);
		rc = PORTAL_E_CONFLICT;
	} else if (rc == REG_ERR_INVALID) { /* a CHECK the input failed */
		rc = PORTAL_E_ARG;
	} else {
		rc = db_err(rc);
	}
out:
	OPENSSL_cleanse(hash, sizeof(hash));
	return rc;
}

/* The user with id (name NULL) or name; hash_out (may be NULL) gets the
 * stored password hash. */
static int user_query(portal_user_t *out, char *hash_out, size_t hashlen,
    reg_t *reg, int64_t id, const char *name, char *err, size_t errlen)
{
	char hash[REG_PORTAL_HASH_MAX + 1];
	reg_portal_user_t r;
	int rc;

	if (reg == NULL) {
		util_err_set(err, errlen, "no registry");
		return PORTAL_E_DB;
	}
	rc = reg_portal_user_get(reg, &r, hash_out != NULL ? hash : NULL, id,
	    name, err, errlen);
	if (rc == REG_OK) {
		user_from_reg(out, &r);
		if (hash_out != NULL)
			text_copy(hash_out, hash, hashlen);
	}
	OPENSSL_cleanse(hash, sizeof(hash));
	return db_err(rc);
}

int portal_user_get(portal_user_t *out, reg_t *reg, int64_t id, char *err,
    size_t errlen)
{
	return user_query(out, NULL, 0, reg, id, NULL, err, errlen);
}

int portal_user_find(portal_user_t *out, reg_t *reg, const char *name,
    char *err, size_t errlen)
{
	if (portal_user_name_check(name) != PORTAL_OK) {
		util_err_set(err, errlen, "no such user");
		return PORTAL_E_NOTFOUND;
	}
	return user_query(out, NULL, 0, reg, 0, name, err, errlen);
}

int portal_user_set_password(reg_t *reg, int64_t id, const char *pw,
    size_t pwlen, int64_t now, char *err, size_t errlen)
{
	char hash[PORTAL_PW_HASH_LEN];
	int rc;

	rc = portal_password_check_policy(pw, pwlen, err, errlen);
	if (rc != PORTAL_OK)
		return rc;
	rc = portal_password_hash(hash, sizeof(hash), pw, pwlen, err, errlen);
	if (rc != PORTAL_OK)
		goto out;
	rc = db_err(reg_portal_user_update(reg, id, hash, 0, now, err, errlen));
	if (rc == PORTAL_OK)
		rc = db_err(
		    reg_portal_session_delete(reg, NULL, id, err, errlen));
out:
	OPENSSL_cleanse(hash, sizeof(hash));
	return rc;
}

int portal_user_set_disabled(reg_t *reg, int64_t id, int disabled, int64_t now,
    char *err, size_t errlen)
{
	int rc;

	rc = db_err(
	    reg_portal_user_update(reg, id, NULL, disabled, now, err, errlen));
	if (rc != PORTAL_OK || !disabled)
		return rc;
	return db_err(reg_portal_session_delete(reg, NULL, id, err, errlen));
}

struct user_list_ctx {
	int (*fn)(const portal_user_t *u, void *arg);
	void *arg;
};

static int user_list_one(const reg_portal_user_t *r, void *arg)
{
	struct user_list_ctx *c = arg;
	portal_user_t u;

	user_from_reg(&u, r);
	return c->fn(&u, c->arg);
}

int portal_user_list(reg_t *reg, int (*fn)(const portal_user_t *u, void *arg),
    void *arg, char *err, size_t errlen)
{
	struct user_list_ctx c = { fn, arg };
	int rc;

	rc = reg_portal_user_list(reg, user_list_one, &c, err, errlen);
	/* fn's own non-zero value comes back unchanged. */
	if (rc == REG_ERR_INTERNAL || rc == REG_ERR_BUSY)
		return PORTAL_E_DB;
	return rc;
}

int portal_user_authenticate(portal_user_t *out, reg_t *reg, const char *name,
    const char *pw, size_t pwlen, char *err, size_t errlen)
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
		rc = user_query(&u, hash, sizeof(hash), reg, 0, name, err,
		    errlen);
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

	if (EVP_Digest(token, strlen(token), out32, &len, EVP_sha256(), NULL) !=
	        1 ||
	    len != 32)
		return PORTAL_E_CRYPTO;
	return PORTAL_OK;
}

static int token_valid(const char *token)
{
	size_t i;

	if (token == NULL ||
	    strnlen(token, PORTAL_TOKEN_HEX + 1) != PORTAL_TOKEN_HEX)
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
    portal_session_t *out, reg_t *reg, int64_t user_id,
    const portal_session_policy_t *pol, const char *address, int64_t now,
    char *err, size_t errlen)
{
	uint8_t raw[32], csrf_raw[32], th[32];
	portal_session_t s;
	int rc;

	memset(&s, 0, sizeof(s));
	if (token_out == NULL || token_outlen < PORTAL_TOKEN_HEX + 1 ||
	    pol == NULL || pol->idle_s <= 0 || pol->absolute_s <= 0) {
		util_err_set(err, errlen, "invalid session arguments");
		return PORTAL_E_ARG;
	}
	rc = portal_user_get(&s.user, reg, user_id, err, errlen);
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
	if ((rc = db_err(reg_portal_session_insert(reg, th, user_id, s.csrf,
	         address, now, now + pol->absolute_s, err, errlen))) !=
	    PORTAL_OK)
		goto out;
	if (out != NULL)
		*out = s;
out:
	if (rc != PORTAL_OK && token_out != NULL && token_outlen > 0)
		OPENSSL_cleanse(token_out, token_outlen);
	OPENSSL_cleanse(raw, sizeof(raw));
	OPENSSL_cleanse(csrf_raw, sizeof(csrf_raw));
	OPENSSL_cleanse(&s, sizeof(s));
	return rc;
}

int portal_session_lookup(portal_session_t *out, reg_t *reg, const char *token,
    const portal_session_policy_t *pol, int64_t now, char *err, size_t errlen)
{
	reg_portal_session_t r;
	portal_session_t s;
	uint8_t th[32];
	int rc;

	memset(&s, 0, sizeof(s));
	memset(&r, 0, sizeof(r));
	if (out == NULL || pol == NULL || reg == NULL || !token_valid(token)) {
		util_err_set(err, errlen, "no such session");
		return PORTAL_E_AUTH;
	}
	if (token_hash(th, token) != PORTAL_OK) {
		util_err_openssl(err, errlen, "session token hash");
		return PORTAL_E_CRYPTO;
	}
	rc = reg_portal_session_get(reg, &r, th, err, errlen);
	if (rc == REG_ERR_NOT_FOUND) {
		rc = PORTAL_E_AUTH;
		goto out;
	}
	if ((rc = db_err(rc)) != PORTAL_OK)
		goto out;
	user_from_reg(&s.user, &r.user);
	text_copy(s.csrf, r.csrf, sizeof(s.csrf));
	s.created_at = r.created_at;
	if (now >= session_expiry(r.last_seen, r.absolute_expiry, pol)) {
		rc = portal_session_delete(reg, token, err, errlen);
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
	if ((rc = db_err(reg_portal_session_touch(reg, th, now, err,
	         errlen))) != PORTAL_OK)
		goto out;
	s.expires_at = session_expiry(now, r.absolute_expiry, pol);
	*out = s;
out:
	OPENSSL_cleanse(&s, sizeof(s));
	OPENSSL_cleanse(&r, sizeof(r));
	return rc;
}

int portal_session_csrf_check(const portal_session_t *s, const char *csrf)
{
	if (s == NULL || !token_valid(csrf) || !token_valid(s->csrf))
		return PORTAL_E_AUTH;
	return CRYPTO_memcmp(s->csrf, csrf, PORTAL_TOKEN_HEX) == 0 ?
	    PORTAL_OK :
	    PORTAL_E_AUTH;
}

int portal_session_delete(reg_t *reg, const char *token, char *err,
    size_t errlen)
{
	uint8_t th[32];

	if (!token_valid(token))
		return PORTAL_OK;
	if (token_hash(th, token) != PORTAL_OK) {
		util_err_openssl(err, errlen, "session token hash");
		return PORTAL_E_CRYPTO;
	}
	return db_err(reg_portal_session_delete(reg, th, 0, err, errlen));
}

int portal_session_purge(int *out_deleted, reg_t *reg,
    const portal_session_policy_t *pol, int64_t now, char *err, size_t errlen)
{
	if (pol == NULL || pol->idle_s <= 0) {
		util_err_set(err, errlen, "invalid session policy");
		return PORTAL_E_ARG;
	}
	return db_err(reg_portal_session_purge(reg, out_deleted, now,
	    pol->idle_s, err, errlen));
}
