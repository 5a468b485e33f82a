/* reg_status.h — the revocation state of one certificate, looked up by its
 * issuer and serial number (what an OCSP responder asks). */
#ifndef PROVCA_REG_STATUS_H
#define PROVCA_REG_STATUS_H

#include <stddef.h>
#include <stdint.h>

#include "reg.h"

typedef struct {
	int revoked;        /* 1 revoked or suspended (on hold), 0 good */
	int reason;         /* RFC 5280 CRLReason code while revoked, else -1 */
	int64_t revoked_at; /* Unix seconds while revoked, else 0 */
} reg_cert_status_t;

/* State of the certificate (issuer, serial_hex) into out: a device
 * certificate takes its device's status (suspended = revoked with
 * certificateHold), any other its own revoked flag. REG_ERR_NOT_FOUND when
 * the registry never issued such a certificate. */
int reg_cert_status(reg_t *reg, reg_cert_status_t *out, const char *issuer,
    const char *serial_hex, char *err, size_t errlen);

/* The same for a certificate signed by CA ca_id of the CA set (cas.id):
 * after a rollover two Device CAs answer, each for its own serials. */
int reg_cert_status_ca(reg_t *reg, reg_cert_status_t *out, int64_t ca_id,
    const char *serial_hex, char *err, size_t errlen);

#endif
