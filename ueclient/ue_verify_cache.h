/* ue_verify_cache.h — the swarm's cache of provisioning signer chains that
 * verified in full (the fast path of prov_verify for load: see
 * ue_verify_cache.c). */
#ifndef PROVCA_UE_VERIFY_CACHE_H
#define PROVCA_UE_VERIFY_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/x509.h>

#include "prov.h"

/*
 * Thread-safe; at most 8 chains, least recently used replaced.
 * ue_verify_cached with a cache takes a container whose chain list (count,
 * lengths, every DER certificate, the signer's included) is byte-identical
 * to one that verified in full under the same trust anchor (same DER),
 * when the caller passes no extra intermediates: the signer's, each
 * carried intermediate's and the anchor's validity at `at`, the signer's
 * EKU, keyUsage and P-256 key are checked again and the container
 * signature is always verified; the certificate signatures over the same
 * bytes are not. Any difference or failed check takes prov_verify's full
 * verification, whose answer stands: the cache never accepts what
 * prov_verify would refuse.
 */
typedef struct ue_verify_cache ue_verify_cache;

/* A new, empty cache in *out. PROV_ERR_INTERNAL when out of memory. */
int ue_verify_cache_new(ue_verify_cache **out);

/* Free the cache and everything in it. NULL-safe. */
void ue_verify_cache_free(ue_verify_cache *c);

/* Containers accepted from the cache, verified in full with the cache
 * usable, and chains stored; any out pointer may be NULL. */
void ue_verify_cache_stats(ue_verify_cache *c, uint64_t *hits, uint64_t *misses,
    uint64_t *stores);

/* prov_verify with an optional cache (NULL: exactly prov_verify). Same
 * errors, same view. */
int ue_verify_cached(prov_view_t *out, const uint8_t *container, size_t len,
    X509 *root, STACK_OF(X509) * intermediates, int64_t at,
    ue_verify_cache *cache, char *err, size_t errlen);

#endif
