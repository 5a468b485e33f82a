/* ca_ocsp.h — the Device CA's OCSP responder (RFC 6960, with the RFC 5019
 * lightweight profile's habits): one DER request in, one DER response out,
 * signed by the Device CA itself; signed answers to nonce-less single
 * requests cached per certificate until its status changes. */
#ifndef PROVCA_CA_OCSP_H
#define PROVCA_CA_OCSP_H

#include <stddef.h>
#include <stdint.h>

#include "ca.h"

/* Most single requests one OCSP request may carry. */
#define CA_OCSP_MAX_IDS 32

/* Signed responses kept by a cache (one per certificate ID, by hash). */
#define CA_OCSP_CACHE_SLOTS 4096

/* A cache of signed single responses, shared by threads (own lock). */
typedef struct ca_ocsp_cache ca_ocsp_cache_t;

/* New empty cache into *out. CA_ERR_INTERNAL when out of memory. */
int ca_ocsp_cache_new(ca_ocsp_cache_t **out);

/* Free the cache and every response it holds; NULL-safe. */
void ca_ocsp_cache_free(ca_ocsp_cache_t *c);

/*
 * Answer the DER OCSPRequest req (req_len bytes). *out (OPENSSL_free) gets a
 * DER OCSPResponse: malformedRequest when req does not parse or asks about
 * no or too many certificates; unauthorized when any certificate ID names
 * an issuer other than the Device CA (this responder speaks for no other,
 * RFC 6960 2.3); otherwise successful, with a basic response signed by the
 * Device CA key (SHA-256) carrying, for each ID, good / revoked (with
 * reason and time; a suspended device is revoked with certificateHold) /
 * unknown (never issued), the request's nonce, thisUpdate and nextUpdate
 * (thisUpdate + ocsp_validity_seconds). With a cache (may be NULL), a
 * single request without a nonce is answered with the response signed for
 * the same certificate ID while the registry still gives the same status
 * and less than half its validity has passed. CA_ERR_INTERNAL or
 * CA_ERR_BUSY when no response could be built.
 */
int ca_ocsp_respond(ca_t *ca, reg_t *reg, ca_ocsp_cache_t *cache, uint8_t **out,
    size_t *out_len, const uint8_t *req, size_t req_len, char *err,
    size_t errlen);

#endif
