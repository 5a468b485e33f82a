/* reg_cmp.h — the registry's CMP one-time secrets (table cmp_secrets,
 * migration 6): every statement that reads or writes them. The
 * rules (who may create one, encryption, expiry, single use) are
 * server/ca_cmp_secret.c's; this is storage. */
#ifndef PROVCA_REG_CMP_H
#define PROVCA_REG_CMP_H

#include <stddef.h>
#include <stdint.h>

#include "reg.h"

#define REG_CMP_REF_MAX 64		/* reference (the CMP senderKID) */
#define REG_CMP_ENC_MAX 256		/* encrypted secret, bytes */

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

#endif
