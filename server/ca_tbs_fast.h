/* ca_tbs_fast.h — the fast path of a device certificate's TBS: the bytes
 * OpenSSL's encoder would write, assembled from a template's constant DER
 * pieces and the per-certificate fields. It answers only for inputs whose
 * encoding the profile fixes, and only for a key kind enabled after a
 * sample agreed with the encoder; otherwise it hands over (the encoder
 * path in ca_fast.c decides, refusals included). Not for use outside
 * server/ca*.c. */
#ifndef PROVCA_CA_TBS_FAST_H
#define PROVCA_CA_TBS_FAST_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "ca_priv.h"
#include "ca_profile.h"

typedef struct ca_tbs_fast ca_tbs_fast_t;

/* The constant pieces of the templates of each kind (signed once by
 * OpenSSL, extensions in ca_profile.h's order): signature algorithm +
 * issuer, and per kind the constant extensions. Every kind starts
 * disabled. CA_ERR_INTERNAL if a piece does not encode. */
int ca_tbs_fast_new(ca_tbs_fast_t **out, X509 *const tmpl[CA_PROFILE_KINDS]);

/* NULL-safe. */
void ca_tbs_fast_free(ca_tbs_fast_t *f);

/* Let the fast path answer for kind (on != 0) or not. */
void ca_tbs_fast_enable(ca_tbs_fast_t *f, int kind, int on);

/* The TBS of a device certificate of kind with the 20-byte serial into
 * *tbs (OPENSSL_malloc'd), SKI digested with sha1. 1 answered, 0 hand
 * over to the encoder path (nothing allocated), -1 out of memory or a
 * digest failure. */
int ca_tbs_fast_build(const ca_tbs_fast_t *f, int kind, unsigned char **tbs,
    int *tlen, const uint8_t serial[20], const ca_device_cert_t *spec,
    const EVP_MD *sha1);

#endif
