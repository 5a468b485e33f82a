/* reg_portal.h — the portal's registry tables (portal_users,
 * portal_sessions): the only code that reads and writes them (their schema
 * is migration 2, reg_migration_portal_sql). The rules (names, passwords,
 * expiry) are server/http/portal_store.c's; this is storage. */
#ifndef PROVCA_REG_PORTAL_H
#define PROVCA_REG_PORTAL_H

#include <stdint.h>

#include "reg.h"

#define REG_PORTAL_NAME_MAX 64  /* portal user name */
#define REG_PORTAL_HASH_MAX 159 /* encoded password hash */
#define REG_PORTAL_CSRF_MAX 64  /* CSRF token, hex */

/* One portal_users row. role is "admin" or "manufacturer";
 * manufacturer_id is "" for admins. */
typedef struct {
	int64_t id;
	char name[REG_PORTAL_NAME_MAX + 1];
	char role[16];
	char manufacturer_id[REG_MFR_ID_MAX + 1];
	int disabled;
	int64_t created_at;
	int64_t updated_at;
} reg_portal_user_t;

/* One portal_sessions row joined with its user. */
typedef struct {
	reg_portal_user_t user;
	char csrf[REG_PORTAL_CSRF_MAX + 1];
	int64_t created_at, last_seen, absolute_expiry;
} reg_portal_session_t;

/* Insert a user (manufacturer_id NULL for admins); *out_id gets its id.
 * REG_ERR_NOT_FOUND: no such manufacturer; REG_ERR_CONSTRAINT: the name is
 * taken; REG_ERR_INVALID: a CHECK refused the row. */
int reg_portal_user_insert(reg_t *reg, int64_t *out_id, const char *name,
    const char *role, const char *manufacturer_id, const char *pw_hash,
    int64_t now, char *err, size_t errlen);

/* The user with id (name NULL) or name; pw_hash (may be NULL, else
 * REG_PORTAL_HASH_MAX + 1 bytes) gets the stored hash. REG_ERR_NOT_FOUND
 * when there is none. */
int reg_portal_user_get(reg_t *reg, reg_portal_user_t *out, char *pw_hash,
    int64_t id, const char *name, char *err, size_t errlen);

/* Set a user's password hash (pw_hash non-NULL) or disabled flag
 * (pw_hash NULL), and updated_at; REG_ERR_NOT_FOUND when no such user. */
int reg_portal_user_update(reg_t *reg, int64_t id, const char *pw_hash,
    int disabled, int64_t now, char *err, size_t errlen);

/* Call fn for every user ordered by name; stops at fn's first non-zero
 * and returns it. */
int reg_portal_user_list(reg_t *reg,
    int (*fn)(const reg_portal_user_t *u, void *arg), void *arg, char *err,
    size_t errlen);

/* Store a session keyed by the SHA-256 of its token (32 bytes); address
 * may be NULL. */
int reg_portal_session_insert(reg_t *reg, const uint8_t token_hash[32],
    int64_t user_id, const char *csrf, const char *address, int64_t now,
    int64_t absolute_expiry, char *err, size_t errlen);

/* The session with token_hash and its user; REG_ERR_NOT_FOUND if none. */
int reg_portal_session_get(reg_t *reg, reg_portal_session_t *out,
    const uint8_t token_hash[32], char *err, size_t errlen);

/* Restart a session's idle timer: last_seen = now. */
int reg_portal_session_touch(reg_t *reg, const uint8_t token_hash[32],
    int64_t now, char *err, size_t errlen);

/* Delete one session (token_hash) or every session of user_id
 * (token_hash NULL); none there is not an error. */
int reg_portal_session_delete(reg_t *reg, const uint8_t *token_hash,
    int64_t user_id, char *err, size_t errlen);

/* Delete the sessions past their absolute expiry or idle for idle_s;
 * *out_deleted (may be NULL) gets their count. */
int reg_portal_session_purge(reg_t *reg, int *out_deleted, int64_t now,
    int64_t idle_s, char *err, size_t errlen);

#endif
