/* nas_sec.h — 5G NAS security: 128-NIA2 (AES-CMAC, general bit-length
 * form) and 128-NEA2 (AES-CTR) on OpenSSL's AES, NEA0/NIA0, the TS 33.501
 * Annex A.8 NAS key derivation, NAS COUNT (TS 24.501 §4.4.3.1) and the
 * protection / unprotection of a NAS message (security header types 1-4,
 * TS 24.501 §9.1.1, §4.4.4, §4.4.5). Bytes on the wire: docs/protocol.md
 * "## NAS security".
 *
 * Conventions: out-parameters first; functions return NAS_SEC_OK (0) or a
 * negative NAS_SEC_ERR_* code. Bit strings are LENGTH bits, MSB first, in
 * ceil(LENGTH/8) octets; unused low bits of the last octet are ignored on
 * input and zero on output. Keys are wiped by nas_sec_ctx_clear(). */
#ifndef PROVCA_NAS_SEC_H
#define PROVCA_NAS_SEC_H

#include <stddef.h>
#include <stdint.h>

#define NAS_SEC_KEY_LEN 16
#define NAS_SEC_KAMF_LEN 32
#define NAS_SEC_MAC_LEN 4
#define NAS_SEC_HDR_LEN 7              /* EPD, header type, MAC (4), SQN */
#define NAS_SEC_MAX_BITS (8u * 65536u) /* longest input accepted */
#define NAS_SEC_COUNT_MAX 0xFFFFFFu    /* 24-bit NAS COUNT */

/* Algorithm identities (TS 33.501 §5.11.1.1 / 5.11.1.2, 4 bits). */
enum {
	NAS_SEC_ALG_0 = 0, /* NEA0 / NIA0 */
	NAS_SEC_ALG_1 = 1, /* 128-NEA1 / 128-NIA1 (SNOW 3G): not built */
	NAS_SEC_ALG_2 = 2, /* 128-NEA2 / 128-NIA2 (AES) */
	NAS_SEC_ALG_3 = 3, /* 128-NEA3 / 128-NIA3 (ZUC): not built */
};

/* Algorithm type distinguishers of TS 33.501 Annex A.8. */
#define NAS_SEC_ALG_TYPE_ENC 0x01
#define NAS_SEC_ALG_TYPE_INT 0x02

/* Security header types (TS 24.501 §9.3.1). */
enum {
	NAS_SEC_HDR_PLAIN = 0,
	NAS_SEC_HDR_INTEGRITY = 1,
	NAS_SEC_HDR_INTEGRITY_CIPHERED = 2,
	NAS_SEC_HDR_INTEGRITY_NEW = 3,          /* Security mode command */
	NAS_SEC_HDR_INTEGRITY_CIPHERED_NEW = 4, /* Security mode complete */
};

#define NAS_SEC_DIR_UPLINK 0
#define NAS_SEC_DIR_DOWNLINK 1
#define NAS_SEC_BEARER_3GPP 0 /* NAS connection identifier, 3GPP */

/* nas_sec_ctx_init flags. */
#define NAS_SEC_ALLOW_NIA0 0x01 /* unauthenticated emergency only */

enum {
	NAS_SEC_OK = 0,
	NAS_SEC_ERR_ARG = -1,    /* NULL, bad length, bit set past LENGTH */
	NAS_SEC_ERR_CRYPTO = -2, /* OpenSSL failed */
	NAS_SEC_ERR_ALG = -3,    /* algorithm not built / not allowed */
	NAS_SEC_ERR_NIA0 = -4,   /* NIA0 outside an emergency context */
	NAS_SEC_ERR_MAC = -5,    /* MAC did not verify */
	NAS_SEC_ERR_REPLAY = -6, /* MAC verifies for an already used COUNT */
	NAS_SEC_ERR_HDR = -7,    /* not a security protected 5GMM message */
	NAS_SEC_ERR_SPACE = -8,  /* output buffer too small */
	NAS_SEC_ERR_COUNT = -9,  /* NAS COUNT would wrap: new key needed */
};

/* A short English name for a NAS_SEC_* code. Never NULL. */
const char *nas_sec_strerror(int code);

/* Name of an algorithm as the specs write it: "128-NIA2", "NEA0", ... */
const char *nas_sec_alg_name(int is_integrity, int alg);

/* 128-NIA2: mac = first 32 bits of AES-CMAC(key, COUNT || BEARER ||
 * DIRECTION || 0^26 || MSG), MSG being bits bits; the CMAC padding starts
 * right after the last message bit. bearer < 32, direction 0 or 1. */
int nas_sec_nia2(uint8_t *mac, const uint8_t *key, uint32_t count,
    uint8_t bearer, uint8_t direction, const uint8_t *msg, size_t bits);

/* 128-NEA2: out = in XOR AES-128-CTR keystream from T1 = COUNT || BEARER ||
 * DIRECTION || 0^26 || 0^64, bits bits (out may equal in). */
int nas_sec_nea2(uint8_t *out, const uint8_t *key, uint32_t count,
    uint8_t bearer, uint8_t direction, const uint8_t *in, size_t bits);

/* K_NASenc / K_NASint = the 128 least significant bits of KDF(K_AMF, 0x69,
 * alg_type, alg_id) (TS 33.501 A.8); alg_type NAS_SEC_ALG_TYPE_*. */
int nas_sec_kdf(uint8_t *key, const uint8_t *kamf, uint8_t alg_type,
    uint8_t alg_id);

/* One side's 5G NAS security context for one K_AMF. Counts are the next
 * COUNT this side sends (tx) and the lowest it still accepts (rx). */
typedef struct nas_sec_ctx_t {
	uint8_t knas_int[NAS_SEC_KEY_LEN];
	uint8_t knas_enc[NAS_SEC_KEY_LEN];
	uint8_t int_alg;
	uint8_t enc_alg;
	uint8_t tx_dir; /* NAS_SEC_DIR_UPLINK on the UE */
	uint8_t bearer;
	uint32_t tx_count;
	uint32_t rx_count;
} nas_sec_ctx_t;

/* Derive K_NASint/K_NASenc from kamf for (enc_alg, int_alg) with both
 * counts 0. is_ue selects the sending direction. NIA0 is refused
 * (NAS_SEC_ERR_NIA0) unless flags has NAS_SEC_ALLOW_NIA0; an algorithm not
 * built is NAS_SEC_ERR_ALG. */
int nas_sec_ctx_init(nas_sec_ctx_t *ctx, const uint8_t *kamf, uint8_t enc_alg,
    uint8_t int_alg, int is_ue, unsigned flags);

/* Wipe a context. NULL-safe. */
void nas_sec_ctx_clear(nas_sec_ctx_t *ctx);

/* MAC of alg (NIA0 gives 0, and only with NAS_SEC_ALLOW_NIA0 in flags). */
int nas_sec_mac(uint8_t *mac, uint8_t alg, unsigned flags, const uint8_t *key,
    uint32_t count, uint8_t bearer, uint8_t direction, const uint8_t *msg,
    size_t bits);

/* Wrap the plain NAS message plain (plen octets) into a security protected
 * message of header type hdr (1-4) with ctx's tx COUNT, ciphering for 2 and
 * 4, then step the tx COUNT. out may not overlap plain. */
int nas_sec_protect(uint8_t *out, size_t outcap, size_t *outlen,
    nas_sec_ctx_t *ctx, uint8_t hdr, const uint8_t *plain, size_t plen);

/* Check and open a security protected message: estimate the COUNT from its
 * SQN (§4.4.3.1), verify the MAC, decipher for header types 2 and 4, and
 * accept the COUNT (rx = COUNT + 1). *out_hdr gets the header type. A MAC
 * that verifies only for an already used COUNT is NAS_SEC_ERR_REPLAY, any
 * other mismatch NAS_SEC_ERR_MAC; ctx is unchanged on every error. */
int nas_sec_unprotect(uint8_t *out, size_t outcap, size_t *outlen,
    uint8_t *out_hdr, nas_sec_ctx_t *ctx, const uint8_t *msg, size_t len);

/* The security header type of a 5GMM message (0-4), or NAS_SEC_ERR_HDR if
 * msg is not a 5GMM message or the type is not one of those. */
int nas_sec_header_type(const uint8_t *msg, size_t len);

#endif
