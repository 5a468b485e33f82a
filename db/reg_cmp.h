/* reg_cmp.h — the registry's CMP state: one-time secrets (table
 * cmp_secrets, migration 6) and certificates awaiting a certConf (table
 * cmp_confirms, migration 7): every statement that reads or writes them.
 * The rules (who may create a secret, encryption, expiry, single use; who
 * may confirm what) are server/ca_cmp_secret.c's and ca_cmp_confirm.c's;
 * this is storage. */
#ifndef PROVCA_REG_CMP_H
#define PROVCA_REG_CMP_H

#include <stddef.h>
#include <stdint.h>

#include "reg.h"

#define REG_CMP_REF_MAX 64  /* reference (the CMP senderKID) */
#define REG_CMP_ENC_MAX 256 /* encrypted secret, bytes */

/* One cmp_secrets row. used_at 0: unused; device_id "" until used. */
typedef struct {
	int64_t id;
	char ref[REG_CMP_REF_MAX + 1];
	char manufacturer_id[REG_MFR_ID_MAX + 1];
	uint8_t enc[REG_CMP_ENC_MAX];
	size_t enc_len;
	char created_by[REG_NAME_MAX + 1];
	int64_t created_at, expires_at, used_at;
	char device_id[REG_DEVICE_ID_MAX + 1];
} reg_cmp_secret_t;

/* Insert s (id, used_at and device_id ignored). REG_ERR_NOT_FOUND: no
 * such manufacturer; REG_ERR_CONSTRAINT: the reference is taken. */
int reg_cmp_secret_insert(reg_t *reg, const reg_cmp_secret_t *s, char *err,
    size_t errlen);

/* The row with reference ref. REG_ERR_NOT_FOUND when there is none. */
int reg_cmp_secret_get(reg_t *reg, reg_cmp_secret_t *out, const char *ref,
    char *err, size_t errlen);

/* Mark row id used at now by device_id, only while it is unused and not
 * expired at now; REG_ERR_NOT_FOUND when it is not (anymore). */
int reg_cmp_secret_use(reg_t *reg, int64_t id, const char *device_id,
    int64_t now, char *err, size_t errlen);

#define REG_CMP_HEX_MAX 128 /* transactionID, nonce, certHash: hex */

/* One cmp_confirms row: the certificate (issuer "device" or "infra",
 * serial) issued to sender (principal name or secret reference) for
 * target (DeviceID or principal name) in transaction_id, answered with
 * senderNonce nonce; cert_hash the certHash its certConf must carry.
 * state "pending", "accepted" or "rejected". */
typedef struct {
	char sender[REG_NAME_MAX + 3]; /* "p:" name or "s:" reference */
	char transaction_id[REG_CMP_HEX_MAX + 1];
	char nonce[REG_CMP_HEX_MAX + 1];
	char issuer[8];
	char serial_hex[REG_SERIAL_HEX_MAX + 1];
	char cert_hash[REG_CMP_HEX_MAX + 1];
	char target[REG_NAME_MAX + 1];
	char state[12];
	int64_t created_at, confirmed_at;
	uint8_t *request; /* the DER request (get: malloc'd) */
	size_t request_len;
} reg_cmp_confirm_t;

/* Free what reg_cmp_confirm_get allocated in c (NULL-safe). */
void reg_cmp_confirm_clear(reg_cmp_confirm_t *c);

/* Record c as pending (state and confirmed_at ignored); a repeat of the
 * sender's transactionID (an idempotent repeat) replaces its row. */
int reg_cmp_confirm_put(reg_t *reg, const reg_cmp_confirm_t *c, char *err,
    size_t errlen);

/* The row of sender's transaction_id (reg_cmp_confirm_clear it).
 * REG_ERR_NOT_FOUND when none. */
int reg_cmp_confirm_get(reg_t *reg, reg_cmp_confirm_t *out, const char *sender,
    const char *transaction_id, char *err, size_t errlen);

/* Settle the pending row of sender's transaction_id as state at now;
 * REG_ERR_NOT_FOUND when it is not pending (anymore). */
int reg_cmp_confirm_settle(reg_t *reg, const char *sender,
    const char *transaction_id, const char *state, int64_t now, char *err,
    size_t errlen);

/* Revoke the one Infrastructure CA certificate serial_hex (a principal's
 * certificate its certConf rejected) with reason at now, the CRL
 * generation moved on; REG_ERR_NOT_FOUND when it is no unrevoked one. */
int reg_cmp_infra_cert_revoke(reg_t *reg, const char *serial_hex, int reason,
    int64_t now, char *err, size_t errlen);

#endif
