/* reg_infra.h — revocation of certificates the Infrastructure CA issued to
 * principals (operators, manufacturers, admins, provisioning signers). */
#ifndef PROVCA_REG_INFRA_H
#define PROVCA_REG_INFRA_H

#include <stdint.h>

#include "reg.h"

/*
 * Mark every unrevoked certificate of principal `name` revoked with RFC 5280
 * `reason` at time `at`, and move the CRL generation so both CRLs are
 * rebuilt on their next request. Call inside the caller's transaction.
 * *count gets the number of certificates revoked (0: all were already).
 * serials (optional) gets their serial numbers, comma-separated, cut with
 * "..." when they do not fit in serialslen bytes.
 */
int reg_principal_certs_revoke(reg_t *reg, const char *name, int reason,
    int64_t at, int *count, char *serials, size_t serialslen, char *err,
    size_t errlen);

#endif
