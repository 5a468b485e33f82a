/* ca_cmp.h — a CMP (RFC 4210 / RFC 9483) server for factory lines, built on
 * OpenSSL 3.0's OSSL_CMP_SRV_CTX: one DER PKIMessage in, one out. */
#ifndef PROVCA_CA_CMP_H
#define PROVCA_CA_CMP_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/x509.h>

#include "ca.h"

/* Largest CMP request accepted, in bytes. */
#define CA_CMP_REQUEST_MAX (64 * 1024)

/*
 * Answer the DER PKIMessage req from a principal whose certificate is
 * sender: a manufacturer (mfr_id) or an administrator (mfr_id NULL); (the request must be signature-protected with its
 * key; nothing else is accepted as the signer). A p10cr enrolls one device
 * of manufacturer mfr_id exactly as REST enrollment does (ca_device_issue:
 * same checks, rows, audit entry under actor, idempotence): the CSR's
 * subject carries serialNumber (device serial), CN (model) and optionally
 * OU (hardware version). The answer (cp, or an error message with a
 * PKIFailureInfo) is protected by the server's TLS key. A genm gets an
 * empty genp. An rr from an administrator revokes the Device CA
 * certificate it names (reason unspecified: OpenSSL 3.0 passes none on).
 * ir, cr and kur are rejected with badRequest; a request of the wrong role
 * with notAuthorized. *out (OPENSSL_free) gets the DER
 * answer; CA_ERR_INVALID when req is not a PKIMessage (nothing to answer),
 * CA_ERR_INTERNAL when no answer could be built.
 */
int ca_cmp_process(ca_t *ca, reg_t *reg, const X509 *sender,
    const char *mfr_id, const char *actor, uint8_t **out, size_t *out_len,
    const uint8_t *req, size_t req_len, char *err, size_t errlen);

#endif
