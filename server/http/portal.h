/* portal.h — the browser portal's own state: password users, server-side
 * sessions with CSRF tokens, and the login rate limiter. The HTTP glue
 * (routes, cookies, security headers) is in portal_http.c; this header is
 * what it and the `ca-server user` subcommand build on. */
#ifndef PROVCA_PORTAL_H
#define PROVCA_PORTAL_H

#include <stddef.h>
#include <stdint.h>

#include "reg.h"

enum {
	PORTAL_OK = 0,
	PORTAL_E_ARG = -1, /* bad input (length, characters, role) */
	PORTAL_E_NOMEM = -2,
	PORTAL_E_CRYPTO = -3, /* OpenSSL failed */
	PORTAL_E_DB = -4,     /* the registry failed */
	PORTAL_E_AUTH = -5,   /* wrong password / unknown user / bad token */
	PORTAL_E_NOTFOUND = -6,
	PORTAL_E_EXPIRED = -7,  /* session past idle or absolute expiry */
	PORTAL_E_LIMITED = -8,  /* too many failed logins; retry later */
	PORTAL_E_CONFLICT = -9, /* user name taken */
	PORTAL_E_DISABLED = -10 /* user disabled */
};

/* ---- passwords (portal_password.c) ---- */

#define PORTAL_PW_MIN 10       /* characters a new password needs */
#define PORTAL_PW_MAX 1024     /* bytes; longer input is refused, not cut */
#define PORTAL_PW_HASH_LEN 160 /* buffer for an encoded hash, with NUL */

/* scrypt cost for new hashes: N = 2^15, r = 8, p = 1 (32 MiB, ~0.1 s). */
#define PORTAL_SCRYPT_LOG2N 15
#define PORTAL_SCRYPT_R 8
#define PORTAL_SCRYPT_P 1

/* Hash pw (pwlen bytes) with scrypt and a fresh 16-byte salt into out as
 * "scrypt$<log2N>$<r>$<p>$<salt hex>$<hash hex>". */
int portal_password_hash(char *out, size_t outlen, const char *pw, size_t pwlen,
    char *err, size_t errlen);

/* Same with explicit cost (tests use a small N). */
int portal_password_hash_cost(char *out, size_t outlen, const char *pw,
    size_t pwlen, unsigned log2n, unsigned r, unsigned p, char *err,
    size_t errlen);

/* 0 if pw matches the encoded hash, PORTAL_E_AUTH if not, PORTAL_E_ARG
 * if the encoding is malformed or its cost is out of bounds. Constant time
 * in the comparison. */
int portal_password_verify(const char *encoded, const char *pw, size_t pwlen,
    char *err, size_t errlen);

/* Read a password from the first line of a file (trailing CR/LF dropped).
 * out receives at most outlen-1 bytes; too long is PORTAL_E_ARG. */
int portal_password_read_file(char *out, size_t outlen, const char *path,
    char *err, size_t errlen);

/* 0 if pw is acceptable as a new password (length bounds, no NUL). */
int portal_password_check_policy(const char *pw, size_t pwlen, char *err,
    size_t errlen);

/* ---- login rate limiter (portal_ratelimit.c) ---- */

typedef struct portal_ratelimit portal_ratelimit;

/* A limiter letting each key fail free_failures times freely; every later
 * failure locks the key for base_delay_s, doubling per failure up to
 * max_delay_s. A key quiet for max_delay_s after its lock starts afresh. Tracks at most
 * capacity keys (least recently used are forgotten first). Thread-safe. */
int portal_ratelimit_new(portal_ratelimit **out, unsigned free_failures,
    unsigned base_delay_s, unsigned max_delay_s, size_t capacity);
void portal_ratelimit_free(portal_ratelimit *rl);

/* 0 if key may try now; PORTAL_E_LIMITED with *retry_after (seconds) set
 * while its lock after the last failure lasts. */
int portal_ratelimit_check(portal_ratelimit *rl, const char *key, int64_t now,
    unsigned *retry_after);

/* Count one failure for key at time now. */
void portal_ratelimit_fail(portal_ratelimit *rl, const char *key, int64_t now);

/* Forget key's failures (after a successful login). */
void portal_ratelimit_reset(portal_ratelimit *rl, const char *key);

/* ---- users and sessions (portal_store.c) ---- */

#define PORTAL_NAME_MAX 64  /* user name: [A-Za-z0-9._@-], 1..64 */
#define PORTAL_MFR_MAX 32   /* manufacturer ID length (REG_MFR_ID_MAX) */
#define PORTAL_TOKEN_HEX 64 /* session and CSRF tokens: 32 bytes, hex */

/* The tables live in the registry (db/reg_portal.c, one migration). */

typedef enum {
	PORTAL_ROLE_ADMIN = 1,
	PORTAL_ROLE_MANUFACTURER = 2
} portal_role_t;

typedef struct {
	int64_t id;
	char name[PORTAL_NAME_MAX + 1];
	portal_role_t role;
	char manufacturer_id[PORTAL_MFR_MAX + 1]; /* "" for admins */
	int disabled;
	int64_t created_at;
	int64_t updated_at;
} portal_user_t;

typedef struct {
	int64_t idle_s;     /* idle expiry: no request for this long */
	int64_t absolute_s; /* absolute expiry: from sign-in */
} portal_session_policy_t;

#define PORTAL_SESSION_IDLE_DEFAULT (30 * 60)
#define PORTAL_SESSION_ABSOLUTE_DEFAULT (12 * 60 * 60)

typedef struct {
	portal_user_t user;
	char csrf[PORTAL_TOKEN_HEX + 1];
	int64_t created_at;
	int64_t expires_at; /* the earlier of idle and absolute expiry */
} portal_session_t;

/* Parse "admin" / "manufacturer"; 0 or PORTAL_E_ARG. */
int portal_role_parse(portal_role_t *out, const char *s);
const char *portal_role_name(portal_role_t role);

/* 0 if name is a valid user name. */
int portal_user_name_check(const char *name);

/* Create a user. manufacturer_id is required for manufacturers and must be
 * NULL or "" for admins. The password is hashed here. */
int portal_user_add(int64_t *out_id, reg_t *reg, const char *name,
    portal_role_t role, const char *manufacturer_id, const char *pw,
    size_t pwlen, int64_t now, char *err, size_t errlen);

int portal_user_get(portal_user_t *out, reg_t *reg, int64_t id, char *err,
    size_t errlen);
int portal_user_find(portal_user_t *out, reg_t *reg, const char *name,
    char *err, size_t errlen);

/* Replace a user's password; ends all their sessions. */
int portal_user_set_password(reg_t *reg, int64_t id, const char *pw,
    size_t pwlen, int64_t now, char *err, size_t errlen);

/* Disable (1) or enable (0) a user; disabling ends all their sessions. */
int portal_user_set_disabled(reg_t *reg, int64_t id, int disabled, int64_t now,
    char *err, size_t errlen);

/* Call fn for every user ordered by name; stops early if fn returns
 * non-zero and returns that value. */
int portal_user_list(reg_t *reg, int (*fn)(const portal_user_t *u, void *arg),
    void *arg, char *err, size_t errlen);

/* Check name/password; on success *out is the user. PORTAL_E_AUTH for an
 * unknown user or a wrong password (the same work is done either way),
 * PORTAL_E_DISABLED for a disabled user with the right password. */
int portal_user_authenticate(portal_user_t *out, reg_t *reg, const char *name,
    const char *pw, size_t pwlen, char *err, size_t errlen);

/* Start a session for user_id: token_out receives the cookie value
 * (PORTAL_TOKEN_HEX hex chars + NUL); only its SHA-256 is stored. */
int portal_session_create(char *token_out, size_t token_outlen,
    portal_session_t *out, reg_t *reg, int64_t user_id,
    const portal_session_policy_t *pol, const char *address, int64_t now,
    char *err, size_t errlen);

/* Resolve a cookie token: PORTAL_E_AUTH if unknown, PORTAL_E_EXPIRED if
 * past its idle or absolute expiry (the row is then deleted),
 * PORTAL_E_DISABLED if the user is disabled. On success the idle timer
 * restarts and *out is filled. */
int portal_session_lookup(portal_session_t *out, reg_t *reg, const char *token,
    const portal_session_policy_t *pol, int64_t now, char *err, size_t errlen);

/* 0 if csrf equals the session's token (constant time), else PORTAL_E_AUTH. */
int portal_session_csrf_check(const portal_session_t *s, const char *csrf);

/* End the session named by token (no error if already gone). */
int portal_session_delete(reg_t *reg, const char *token, char *err,
    size_t errlen);

/* Delete expired sessions; *out_deleted may be NULL. */
int portal_session_purge(int *out_deleted, reg_t *reg,
    const portal_session_policy_t *pol, int64_t now, char *err, size_t errlen);

#endif
