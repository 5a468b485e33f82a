/* prov.h — the provisioning data ProvCA carries over NAS: the provisioning
 * request (certificate URL + UE nonce, UE → core) and the sealed, signed
 * provisioning container (subscription, core → UE). Byte layouts are in
 * docs/protocol.md, section "Provisioning container". Never prints. */
#ifndef PROVCA_PROV_H
#define PROVCA_PROV_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

/* Largest container, in bytes: the NAS codec's limit for the Payload
 * container IE. Nothing larger is produced or parsed. */
#define PROV_CONTAINER_MAX 8192

#define PROV_NONCE_LEN 16     /* UE nonce and network nonce */
#define PROV_URL_MAX 512      /* certificate URL, bytes, no NUL */
#define PROV_DEVICE_ID_MAX 64 /* DeviceID, [A-Za-z0-9._-] */
#define PROV_SUPI_MAX 32      /* e.g. "imsi-001010000000001" */
#define PROV_DNN_MAX 100      /* TS 23.003 DNN, bytes */
#define PROV_NSSAI_MAX 8      /* S-NSSAIs in a subscription */
#define PROV_HN_PUB_MAX 33    /* home network public key (SUCI Profile B) */
#define PROV_KEY_LEN 16       /* Ki, OPc */
#define PROV_AMF_LEN 2
#define PROV_SQN_LEN 6
#define PROV_SIG_MAX 72      /* DER ECDSA P-256 signature */
#define PROV_SNN_MAX 128     /* serving network name, bytes, no NUL */
#define PROV_REQ_SIG_MAX 512 /* request signature: RSA up to 4096 bits */
#define PROV_REQUEST_MAX \
	(1 + 3 + PROV_URL_MAX + 3 + PROV_NONCE_LEN + 3 + PROV_SNN_MAX + 3 + \
	    8 + 3 + PROV_REQ_SIG_MAX)

/* Container format version this code writes and reads. Version 2 carries
 * the signer's chain (signer first, then intermediates); version 1 carried
 * the signer certificate alone and is refused. */
#define PROV_VERSION 2

/* Certificates in a container's signer chain: the signer plus at most
 * PROV_CHAIN_MAX - 1 intermediates (never the root). */
#define PROV_CHAIN_MAX 4

/* Key-algorithm identifiers (container header byte 5). */
enum prov_alg {
	PROV_ALG_P256 = 0x01,    /* ECDH P-256 + HKDF-SHA-256, AES-256-GCM */
	PROV_ALG_RSA2048 = 0x02, /* RSA-2048 OAEP-SHA-256 + AES-256-GCM */
	PROV_ALG_RSA3072 = 0x03, /* RSA-3072 OAEP-SHA-256 + AES-256-GCM */
	PROV_ALG_P384 = 0x04     /* ECDH P-384 + HKDF-SHA-256, AES-256-GCM */
};

enum prov_error {
	PROV_OK = 0,
	PROV_ERR_ARG = -1,            /* programming error: bad argument */
	PROV_ERR_FORMAT = -2,         /* malformed, truncated, trailing bytes */
	PROV_ERR_VERSION = -3,        /* unknown format version */
	PROV_ERR_TOO_LARGE = -4,      /* a field or the whole exceeds a limit */
	PROV_ERR_SIGNER_CHAIN = -5,   /* signer cert does not chain to root */
	PROV_ERR_SIGNER_EKU = -6,     /* signer cert lacks the signer EKU or
					 * digitalSignature key usage */
	PROV_ERR_SIGNER_EXPIRED = -7, /* signer chain outside its validity */
	PROV_ERR_SIGNATURE = -8,      /* container signature does not verify */
	PROV_ERR_DEVICE_MISMATCH = -9, /* container is for another DeviceID */
	PROV_ERR_NONCE_MISMATCH = -10, /* container answers another UE nonce */
	PROV_ERR_DECRYPT = -11,        /* wrong device key or tampered data */
	PROV_ERR_KEY_TYPE = -12,       /* unsupported key / key type mismatch */
	PROV_ERR_INTERNAL = -13,       /* allocation or OpenSSL failure */
	PROV_ERR_UNVERIFIED = -14,     /* prov_open on a view prov_verify did
					 * not accept */
	PROV_ERR_UNSIGNED = -15,       /* a provisioning request without a
					 * signature (version 1, the seed's) */
	PROV_ERR_CONCEAL = -16         /* a concealed request whose tag does
					 * not verify with the key named */
};

/* A short English name for a prov_error code (static string). */
const char *prov_strerror(int code);

/* ---- Provisioning request (UE → core, Payload container type 0xE) ----
 *
 * Version 2: certificate URL, UE nonce, serving network name (TS 33.501
 * 6.1.1.4: "5G:mnc<MNC>.mcc<MCC>.3gppnetwork.org"), a 64-bit freshness
 * counter the device never repeats, and the device key's signature over
 * all of them (docs/protocol.md, "Provisioning request"). */

typedef struct {
	char url[PROV_URL_MAX + 1]; /* NUL-terminated */
	uint8_t ue_nonce[PROV_NONCE_LEN];
	char snn[PROV_SNN_MAX + 1];    /* NUL-terminated */
	uint64_t counter;              /* 1 .. 2^63 - 1 */
	uint8_t sig[PROV_REQ_SIG_MAX]; /* over prov_request_tbs */
	size_t sig_len;                /* 0: not signed yet */
} prov_request_t;

/* Encode req into out (outcap bytes); *outlen gets the length used.
 * The URL must be 1..PROV_URL_MAX and the SNN 1..PROV_SNN_MAX printable
 * ASCII bytes, the counter 1..2^63-1 and the signature present
 * (prov_request_sign); PROV_ERR_UNSIGNED when it is not. */
int prov_request_encode(uint8_t *out, size_t outcap, size_t *outlen,
    const prov_request_t *req, char *err, size_t errlen);

/* Decode exactly len bytes of buf into *out. PROV_ERR_UNSIGNED for a
 * version-1 request or one whose signature field is missing,
 * PROV_ERR_VERSION for another unknown version, PROV_ERR_TOO_LARGE for an
 * over-long field, else PROV_ERR_FORMAT for anything malformed. Decoding
 * checks no signature: prov_request_verify does. */
int prov_request_decode(prov_request_t *out, const uint8_t *buf, size_t len,
    char *err, size_t errlen);

/* Sign req (every field but the signature set) with the device's private
 * key: ECDSA with SHA-256 (P-256), SHA-384 (P-384) or SHA-512 (P-521);
 * RSA-PSS with SHA-256, MGF1-SHA-256, salt 32 octets. Fills req->sig. */
int prov_request_sign(prov_request_t *req, EVP_PKEY *key, char *err,
    size_t errlen);

/* Verify req's signature with the device certificate's public key pub,
 * the algorithm chosen by pub's type as in prov_request_sign.
 * PROV_ERR_SIGNATURE when it does not verify, PROV_ERR_UNSIGNED when there
 * is none, PROV_ERR_KEY_TYPE for a key of another type. */
int prov_request_verify(const prov_request_t *req, EVP_PKEY *pub, char *err,
    size_t errlen);

/* ---- Concealed provisioning request (prov_conceal.c) ----
 *
 * Version 3: protection scheme (1 Profile A, 2 Profile B) ‖ onboarding key
 * id ‖ ECIES scheme output (common/suci.h) of: the encoded request's
 * length (2 octets) ‖ the version-2 request ‖ zero octets up to a multiple
 * of PROV_CONCEAL_PAD. An eavesdropper sees the scheme, the key id and a
 * length rounded up to 64 octets; not the URL, DeviceID, counter, SNN,
 * nonce or signature. */

#define PROV_CONCEAL_PAD 64
#define PROV_CONCEALED_MAX \
	(3 + 33 + \
	    ((2 + PROV_REQUEST_MAX + PROV_CONCEAL_PAD - 1) / \
	        PROV_CONCEAL_PAD * PROV_CONCEAL_PAD) + \
	    8)

/* Conceal the encoded (signed, version 2) request req to pub, the core's
 * onboarding public key of profile (1 A: X25519, 2 B: P-256) and key_id.
 * eph_priv (32 octets) fixes the ephemeral key for tests; NULL: fresh. */
int prov_request_conceal(uint8_t *out, size_t outcap, size_t *outlen,
    const uint8_t *req, size_t reqlen, int profile, uint8_t key_id,
    const uint8_t *pub, size_t publen, const uint8_t *eph_priv, char *err,
    size_t errlen);

/* 1 if buf is a concealed request (version 3 with its header), with its
 * protection scheme and key id (either may be NULL); else 0. */
int prov_request_concealed(const uint8_t *buf, size_t len, int *profile,
    uint8_t *key_id);

/* Open a concealed request with key (the private key of its key id) into
 * the version-2 request bytes out, for prov_request_decode. PROV_ERR_CONCEAL
 * when the tag does not verify (or the key is of the other profile),
 * PROV_ERR_FORMAT / _TOO_LARGE for bad lengths, padding or inner version. */
int prov_request_deconceal(uint8_t *out, size_t outcap, size_t *outlen,
    const uint8_t *buf, size_t len, EVP_PKEY *key, char *err, size_t errlen);

/* The DeviceID field of a container that answers a concealed request: the
 * real DeviceID would name the device in the clear downlink, so it is
 * "x" + 32 hex digits: the first 16 octets of SHA-256("ProvCA concealed
 * DeviceID" ‖ 0x00 ‖ the request's signature ‖ DeviceID). Only the device
 * and the core know the signature (it travels concealed), so nobody else
 * can compute it or test a guessed DeviceID against it; the device checks
 * it as it checks its DeviceID. out needs 34 octets. */
int prov_concealed_device_id(char *out, size_t cap, const prov_request_t *req,
    const char *device_id);

/* ---- Subscription (the sealed plaintext) ---- */

typedef struct {
	uint8_t sst; /* slice/service type */
	int has_sd;  /* 1 if sd is present */
	uint32_t sd; /* slice differentiator, 24 bits */
} prov_snssai_t;

typedef struct {
	char supi[PROV_SUPI_MAX + 1]; /* "imsi-" + 5..15 digits */
	uint8_t ki[PROV_KEY_LEN];     /* secret */
	uint8_t opc[PROV_KEY_LEN];    /* secret */
	uint8_t amf[PROV_AMF_LEN];
	uint8_t sqn[PROV_SQN_LEN]; /* initial SQN, big-endian */
	char mcc[4];               /* 3 digits */
	char mnc[4];               /* 2 or 3 digits */
	size_t nssai_count;        /* 1..PROV_NSSAI_MAX */
	prov_snssai_t nssai[PROV_NSSAI_MAX];
	char dnn[PROV_DNN_MAX + 1]; /* 1..PROV_DNN_MAX bytes */
	int64_t issued_at;          /* Unix seconds */
	/* SUCI concealment (optional field 0x0B): hn_scheme 0 = none (the
	 * null scheme), 1 = Profile A (32-octet X25519 key), 2 = Profile B
	 * (33-octet compressed P-256 point). */
	uint8_t hn_scheme;
	uint8_t hn_key_id;
	char routing[5]; /* routing indicator, 1..4 digits */
	size_t hn_pub_len;
	uint8_t hn_pub[PROV_HN_PUB_MAX];
} prov_subscription_t;

/* Wipe every byte of *sub (Ki and OPc included). NULL-safe. */
void prov_subscription_wipe(prov_subscription_t *sub);

/* Encode sub as the subscription TLV into out; *outlen gets the length.
 * Validates every field first (PROV_ERR_ARG / PROV_ERR_TOO_LARGE). The
 * caller wipes out after use: it holds Ki and OPc. */
int prov_subscription_encode(uint8_t *out, size_t outcap, size_t *outlen,
    const prov_subscription_t *sub, char *err, size_t errlen);

/* Decode exactly len bytes into *out (wiped on failure). */
int prov_subscription_decode(prov_subscription_t *out, const uint8_t *buf,
    size_t len, char *err, size_t errlen);

/* ---- Container ---- */

typedef struct {
	char device_id[PROV_DEVICE_ID_MAX + 1]; /* NUL-terminated */
	uint8_t ue_nonce[PROV_NONCE_LEN];
	uint8_t net_nonce[PROV_NONCE_LEN];
} prov_binding_t;

/*
 * A parsed container. Plain data; the pointers point into the caller's
 * container buffer, which must outlive the view. Only prov_verify sets
 * verified = 1, and prov_open refuses anything else.
 */
typedef struct {
	int verified;
	uint8_t version;
	uint8_t alg;              /* enum prov_alg */
	prov_binding_t binding;   /* DeviceID and both nonces */
	const uint8_t *key_block; /* ephemeral key / wrapped key */
	size_t key_block_len;
	const uint8_t *iv; /* 12 bytes */
	const uint8_t *ciphertext;
	size_t ciphertext_len;
	const uint8_t *tag;                   /* 16 bytes */
	size_t chain_count;                   /* 1..PROV_CHAIN_MAX */
	const uint8_t *chain[PROV_CHAIN_MAX]; /* DER; [0] is the signer */
	size_t chain_len[PROV_CHAIN_MAX];
	const uint8_t *signer_cert;     /* = chain[0] */
	size_t signer_cert_len;         /* = chain_len[0] */
	uint8_t signer_fingerprint[32]; /* SHA-256 of signer_cert */
	const uint8_t *signature;       /* DER ECDSA */
	size_t signature_len;
	size_t body_len;          /* bytes before the chain */
	size_t signed_len;        /* bytes before the signature */
	const uint8_t *container; /* the whole container */
	size_t container_len;
} prov_view_t;

/*
 * Seal sub to the device public key device_pub (EC P-256 or P-384,
 * RSA-2048 or RSA-3072; else PROV_ERR_KEY_TYPE) with the binding bind, writing the
 * unsigned body (header ‖ DeviceID ‖ nonces ‖ key block ‖ IV ‖ ciphertext ‖
 * tag) into out (outcap bytes, PROV_CONTAINER_MAX is always enough for a
 * body a signature will still fit after). *outlen gets the length.
 */
int prov_seal(uint8_t *out, size_t outcap, size_t *outlen,
    const prov_subscription_t *sub, const prov_binding_t *bind,
    EVP_PKEY *device_pub, char *err, size_t errlen);

/*
 * Sign body (from prov_seal) with signer_key (EC P-256, ECDSA-SHA-256),
 * attaching the signer chain, into out (outcap bytes): body ‖ count (1) ‖
 * { length (2) ‖ DER } for signer_cert then each of intermediates ‖
 * signature DER. intermediates (may be NULL or empty) run from the signer's
 * issuer towards the root, the root itself excluded; each certificate must
 * be issued by the next (PROV_ERR_SIGNER_CHAIN), at most PROV_CHAIN_MAX - 1
 * (PROV_ERR_TOO_LARGE). PROV_ERR_TOO_LARGE if the result would exceed
 * PROV_CONTAINER_MAX. signer_cert must hold signer_key's public key.
 */
int prov_sign(uint8_t *out, size_t outcap, size_t *outlen, const uint8_t *body,
    size_t bodylen, EVP_PKEY *signer_key, X509 *signer_cert,
    STACK_OF(X509) * intermediates, char *err, size_t errlen);

/*
 * Parse container (len bytes) into *out without any trust decision
 * (out->verified stays 0). For diagnostics and tools only.
 */
int prov_parse(prov_view_t *out, const uint8_t *container, size_t len,
    char *err, size_t errlen);

/*
 * Parse container and, before anything is decrypted, check that the signer
 * certificate chains to root — the only trust anchor — at Unix time `at`,
 * using the intermediates the container carries plus the caller's optional
 * extra untrusted intermediates (may be NULL); that it carries
 * PROVCA_OID_EKU_SIGNER (and digitalSignature if it has keyUsage), holds a
 * P-256 key, and that the signature verifies. A carried certificate is
 * never trusted by being carried. On success
 * *out is a verified view. Errors: FORMAT, VERSION, TOO_LARGE,
 * SIGNER_CHAIN, SIGNER_EKU, SIGNER_EXPIRED, KEY_TYPE, SIGNATURE.
 */
int prov_verify(prov_view_t *out, const uint8_t *container, size_t len,
    X509 *root, STACK_OF(X509) * intermediates, int64_t at, char *err,
    size_t errlen);

/*
 * prov_verify that also hands back, on success, the verified signer
 * certificate (*signer_out) and the intermediates the container carried
 * (*carried_out), each a reference of the caller's (either pointer may be
 * NULL): for a cache of verified chains (ueclient/ue_verify_cache.c).
 */
int prov_verify_chain(prov_view_t *out, X509 **signer_out,
    STACK_OF(X509) * *carried_out, const uint8_t *container, size_t len,
    X509 *root, STACK_OF(X509) * intermediates, int64_t at, char *err,
    size_t errlen);

/* The signer certificate's own checks that prov_verify makes beside its
 * chain: the provisioning-signer EKU (PROV_ERR_SIGNER_EKU), keyUsage
 * allowing digitalSignature if present (PROV_ERR_SIGNER_EKU), an EC P-256
 * key (PROV_ERR_KEY_TYPE). */
int prov_signer_cert_check(X509 *cert, char *err, size_t errlen);

/* 1 if the container signature of a parsed view (over everything before
 * it) verifies with signer's key, 0 if not, -1 on an OpenSSL failure. */
int prov_view_signature_verify(const prov_view_t *v, X509 *signer);

/*
 * Open a verified view with the device private key: check the DeviceID
 * equals expect_device_id (PROV_ERR_DEVICE_MISMATCH) and the UE nonce equals
 * expect_ue_nonce (PROV_ERR_NONCE_MISMATCH, constant time), that the key
 * fits the algorithm (PROV_ERR_KEY_TYPE), then decrypt (PROV_ERR_DECRYPT)
 * and decode the subscription into *sub_out (wiped on failure) and the
 * network nonce into net_nonce_out (may be NULL).
 */
int prov_open(prov_subscription_t *sub_out,
    uint8_t net_nonce_out[PROV_NONCE_LEN], const prov_view_t *view,
    EVP_PKEY *device_key, const char *expect_device_id,
    const uint8_t expect_ue_nonce[PROV_NONCE_LEN], char *err, size_t errlen);

/* prov_seal then prov_sign into out (outcap ≥ PROV_CONTAINER_MAX advised). */
int prov_seal_sign(uint8_t *out, size_t outcap, size_t *outlen,
    const prov_subscription_t *sub, const prov_binding_t *bind,
    EVP_PKEY *device_pub, EVP_PKEY *signer_key, X509 *signer_cert,
    STACK_OF(X509) * intermediates, char *err, size_t errlen);

/*
 * A provisioning signer prepared once: prov_sign's checks on the key (EC
 * P-256, matching signer_cert) and the chain (at most PROV_CHAIN_MAX - 1
 * intermediates, each issuing the one before, none self-issued), and the
 * chain list a container carries, encoded. Holds a reference to
 * signer_key; the certificates are not kept. Same errors as prov_sign.
 */
typedef struct prov_signer prov_signer;

int prov_signer_new(prov_signer **out, EVP_PKEY *signer_key, X509 *signer_cert,
    STACK_OF(X509) * intermediates, char *err, size_t errlen);

/* NULL-safe. */
void prov_signer_free(prov_signer *s);

/*
 * prov_seal_sign with a prepared signer. device_pub_enc (may be NULL) is
 * device_pub's public key as its certificate carries it; when it is the
 * 65-byte uncompressed P-256 point it is bound into the key derivation as
 * is, instead of encoding device_pub again (an inversion in OpenSSL's
 * P-256 code). It must be device_pub's own point: another point gives a
 * container the device cannot open.
 */
int prov_seal_sign_prepared(uint8_t *out, size_t outcap, size_t *outlen,
    const prov_subscription_t *sub, const prov_binding_t *bind,
    EVP_PKEY *device_pub, const uint8_t *device_pub_enc,
    const prov_signer *signer, char *err, size_t errlen);

/* prov_open with the device key's public point as the device holds it
 * (device_pub_enc: 65-byte uncompressed P-256, or NULL), as in
 * prov_verify_open_key. */
int prov_open_key(prov_subscription_t *sub_out,
    uint8_t net_nonce_out[PROV_NONCE_LEN], const prov_view_t *view,
    EVP_PKEY *device_key, const uint8_t *device_pub_enc,
    const char *expect_device_id, const uint8_t expect_ue_nonce[PROV_NONCE_LEN],
    char *err, size_t errlen);

/* prov_verify then prov_open. */
int prov_verify_open(prov_subscription_t *sub_out,
    uint8_t net_nonce_out[PROV_NONCE_LEN], const uint8_t *container, size_t len,
    X509 *root, STACK_OF(X509) * intermediates, int64_t at,
    EVP_PKEY *device_key, const char *expect_device_id,
    const uint8_t expect_ue_nonce[PROV_NONCE_LEN], char *err, size_t errlen);

/* prov_verify_open with the device key's public point as the
 * device holds it (device_pub_enc: 65-byte uncompressed P-256, or NULL):
 * bound into the key derivation as is instead of encoding device_key's
 * point again (an inversion in OpenSSL's P-256 code). It must be
 * device_key's own point; another point only makes the open fail
 * (PROV_ERR_DECRYPT). */
int prov_verify_open_key(prov_subscription_t *sub_out,
    uint8_t net_nonce_out[PROV_NONCE_LEN], const uint8_t *container, size_t len,
    X509 *root, STACK_OF(X509) * intermediates, int64_t at,
    EVP_PKEY *device_key, const uint8_t *device_pub_enc,
    const char *expect_device_id, const uint8_t expect_ue_nonce[PROV_NONCE_LEN],
    char *err, size_t errlen);

#endif
