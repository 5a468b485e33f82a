/* suci.h — SUPI concealment (TS 33.501 §6.12.2, Annex C): the ECIES
 * protection schemes Profile A (X25519) and Profile B (P-256, compressed
 * ephemeral key) with the ANSI X9.63 KDF (SHA-256), AES-128-CTR and an
 * HMAC-SHA-256 tag of 8 octets, all through OpenSSL; the null scheme; and
 * the SUCI string form of TS 23.003 §2.2B
 * ("suci-0-MCC-MNC-RI-SCHEME-KEYID-OUTPUT"). IMSI-type SUPIs only.
 *
 * Conventions: out-parameters first, SUCI_OK (0) or a negative SUCI_ERR_*
 * code, a message in err. Secrets (ephemeral and home network private keys,
 * the shared secret and the derived keys) are wiped before return. */
#ifndef PROVCA_SUCI_H
#define PROVCA_SUCI_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

enum {
	SUCI_SCHEME_NULL = 0,
	SUCI_SCHEME_PROFILE_A = 1,
	SUCI_SCHEME_PROFILE_B = 2,
};

#define SUCI_PRIV_LEN 32       /* raw private key, both profiles */
#define SUCI_PUB_A_LEN 32      /* X25519 public key */
#define SUCI_PUB_B_LEN 33      /* compressed P-256 point */
#define SUCI_PUB_B_FULL_LEN 65 /* uncompressed P-256 point */
#define SUCI_TAG_LEN 8
#define SUCI_MSIN_MAX 10 /* digits */
#define SUCI_MSIN_BCD_MAX 5
#define SUCI_OUTPUT_MAX (SUCI_PUB_B_LEN + SUCI_MSIN_BCD_MAX + SUCI_TAG_LEN)
#define SUCI_STR_MAX 128 /* longest string form, with NUL */
#define SUCI_SUPI_MAX 21 /* "imsi-" + 15 digits + NUL */

enum {
	SUCI_OK = 0,
	SUCI_ERR_ARG = -1,    /* malformed SUPI / SUCI / key / option */
	SUCI_ERR_CRYPTO = -2, /* OpenSSL failed */
	SUCI_ERR_TAG = -3,    /* MAC tag did not verify */
	SUCI_ERR_SCHEME = -4, /* scheme or key the caller does not allow */
	SUCI_ERR_IO = -5,     /* key file unreadable */
};

/* A SUCI of SUPI type IMSI in parts. For the null scheme the output is
 * the MSIN's digits; for Profiles A and B it is the ECIES scheme output. */
typedef struct suci_t {
	char mcc[4];
	char mnc[4];
	char routing[5];              /* routing indicator, 1-4 digits */
	uint8_t scheme;               /* SUCI_SCHEME_* */
	uint8_t key_id;               /* home network public key id */
	char msin[SUCI_MSIN_MAX + 1]; /* null scheme */
	size_t out_len;               /* Profiles A/B */
	uint8_t out[SUCI_OUTPUT_MAX];
} suci_t;

/* Longest plaintext suci_ecies_seal takes (the onboarding request's
 * concealment, docs/protocol.md, is the largest user). */
#define SUCI_ECIES_IN_MAX 2048

/* The Annex C.3 ECIES scheme over any octets: ephemeral public key (A: 32,
 * B: 33 compressed) || AES-128-CTR(in) || 8-octet HMAC-SHA-256 tag, into
 * out (outcap >= 33 + inlen + 8). inlen 1..SUCI_ECIES_IN_MAX; hn_pub and
 * eph_priv as for suci_scheme_conceal. SUCI and the concealed onboarding
 * request share this one implementation. */
int suci_ecies_seal(uint8_t *out, size_t outcap, size_t *outlen, int profile,
    const uint8_t *hn_pub, size_t hn_pub_len, const uint8_t *in, size_t inlen,
    const uint8_t *eph_priv, char *err, size_t errlen);

/* Open an ECIES scheme output so (solen octets) with hn_key into out; the
 * tag is checked (constant time) before anything is deciphered:
 * SUCI_ERR_TAG when it does not verify, SUCI_ERR_ARG for a bad length or
 * ephemeral key, SUCI_ERR_SCHEME for a key of the other profile. */
int suci_ecies_open(uint8_t *out, size_t outcap, size_t *outlen, int profile,
    EVP_PKEY *hn_key, const uint8_t *so, size_t solen, char *err,
    size_t errlen);

/* The ECIES scheme output for profile (A or B) of the BCD-encoded msin
 * digits, concealed to hn_pub (A: 32 octets; B: 33 compressed or 65
 * uncompressed). eph_priv (32 octets) fixes the ephemeral private key, as
 * test data needs; NULL draws one from OpenSSL's CSPRNG. */
int suci_scheme_conceal(uint8_t *out, size_t outcap, size_t *outlen,
    int profile, const uint8_t *hn_pub, size_t hn_pub_len, const char *msin,
    const uint8_t *eph_priv, char *err, size_t errlen);

/* The MSIN digits of an ECIES scheme output, opened with hn_key (an X25519
 * key for Profile A, a P-256 key for Profile B). SUCI_ERR_TAG if the tag
 * does not verify (checked before anything is deciphered). */
int suci_scheme_deconceal(char *msin, size_t msincap, int profile,
    EVP_PKEY *hn_key, const uint8_t *so, size_t solen, char *err,
    size_t errlen);

/* Build a SUCI from "imsi-<MCC><MNC><MSIN>" whose MNC has mnc_digits (2 or
 * 3) digits: null scheme (hn_pub unused) or Profile A / B as above.
 * routing NULL means "0". */
int suci_make(suci_t *out, const char *supi, int mnc_digits, int scheme,
    const uint8_t *hn_pub, size_t hn_pub_len, uint8_t key_id,
    const char *routing, const uint8_t *eph_priv, char *err, size_t errlen);

/* The SUPI "imsi-..." of a SUCI: the null scheme's MSIN as is, else
 * de-concealed with hn_key (NULL with a non-null scheme: SUCI_ERR_SCHEME). */
int suci_to_supi(char *supi, size_t cap, const suci_t *s, EVP_PKEY *hn_key,
    char *err, size_t errlen);

/* TS 23.003 §2.2B string form of s into out (SUCI_STR_MAX is enough). */
int suci_string_format(char *out, size_t cap, const suci_t *s);

/* Parse a TS 23.003 §2.2B string (SUPI type 0 only); every field bounded. */
int suci_string_parse(suci_t *out, const char *str, char *err, size_t errlen);

/* A home network private key for profile: 64 hex digits (the raw 32
 * octets) or a file holding a PEM private key of the profile's type, or
 * those 64 hex digits. *out is freed with EVP_PKEY_free. */
int suci_hn_key_load(EVP_PKEY **out, int profile, const char *file_or_hex,
    char *err, size_t errlen);

/* The home network public key of hn_key as the device receives it (A: 32
 * octets; B: 33, compressed). */
int suci_hn_pub_get(uint8_t *out, size_t cap, size_t *outlen, EVP_PKEY *hn_key,
    char *err, size_t errlen);

#endif
