/* ca_ocsp.h — the Device CA's OCSP responder (RFC 6960): one DER request
 * in, one DER response out, signed by the Device CA itself. */
#ifndef PROVCA_CA_OCSP_H
#define PROVCA_CA_OCSP_H

#include <stddef.h>
#include <stdint.h>

#include "ca.h"

/* Most single requests one OCSP request may carry. */
#define CA_OCSP_MAX_IDS 32

/*
 * Answer the DER OCSPRequest req (req_len bytes). *out (OPENSSL_free) gets a
 * DER OCSPResponse: malformedRequest when req does not parse or asks about
 * no or too many certificates; otherwise successful, with a basic response
 * signed by the Device CA key (SHA-256) carrying, for each certificate ID,
 * good / revoked (with reason and time; a suspended device is revoked with
 * certificateHold) / unknown (not issued by the Device CA or not in the
 * registry), the request's nonce, thisUpdate now and no nextUpdate (the
 * registry is read live). CA_ERR_INTERNAL or CA_ERR_BUSY when no response
 * could be built.
 */
int ca_ocsp_respond(ca_t *ca, reg_t *reg, uint8_t **out, size_t *out_len,
    const uint8_t *req, size_t req_len, char *err, size_t errlen);

#endif
