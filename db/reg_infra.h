/* reg_infra.h — revocation of certificates the Infrastructure CA issued to
 * principals (operators, manufacturers, admins, provisioning signers), and
 * the checks a principal's renewal makes: who else holds a key, how many
 * valid certificates a principal has. */
#ifndef PROVCA_REG_INFRA_H
#define PROVCA_REG_INFRA_H

#include <stddef.h>
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

/*
 * Who else holds the key with this SubjectPublicKeyInfo SHA-256 (hex): a
 * device (any of its certificates, revoked or not; *is_device 1, holder
 * its DeviceID), or a certificate not of principal `name` (*is_device 0,
 * holder that principal's name, or "" for one of the CA's own). REG_OK
 * when found, REG_ERR_NOT_FOUND when only `name` (or nobody) holds it.
 */
int reg_key_other_holder(reg_t *reg, char *holder, size_t holderlen,
    int *is_device, const char *spki_sha256_hex, const char *name, char *err,
    size_t errlen);

/*
 * How many certificates of principal `name` are valid at `now`
 * (unrevoked, notAfter later than now) into *out.
 */
int reg_principal_valid_certs(reg_t *reg, int64_t *out, const char *name,
    int64_t now, char *err, size_t errlen);

#endif
