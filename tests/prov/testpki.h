/* testpki.h — a small in-memory PKI for the container tests, the test CLI
 * and the fuzz target: a root, an intermediate, provisioning signers (good,
 * without the EKU, without digitalSignature, expired, under another root)
 * and device keys (P-256, RSA-2048, RSA-3072). Test code only. */
#ifndef PROVCA_TESTPKI_H
#define PROVCA_TESTPKI_H

#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "prov.h"

/* "Now" for every test: 2025-06-15T15:06:40Z. */
#define TESTPKI_NOW ((int64_t)1750000000)

typedef struct {
	EVP_PKEY *root_key;
	X509 *root;
	EVP_PKEY *inter_key;
	X509 *inter;             /* Infrastructure CA under root */
	STACK_OF(X509) * inters; /* { inter } */
	EVP_PKEY *signer_key;    /* P-256 */
	X509 *signer;            /* under inter, signer EKU */
	X509 *signer_noeku;      /* under inter, device EKU only */
	X509 *signer_noku;       /* signer EKU, keyUsage keyAgreement */
	X509 *signer_expired;    /* expired before TESTPKI_NOW */
	EVP_PKEY *other_root_key;
	X509 *other_root;
	X509 *signer_other;      /* signer EKU, under other_root */
	EVP_PKEY *signer384_key; /* P-384 */
	X509 *signer384;         /* signer EKU, P-384 key */
	EVP_PKEY *dev_p256;
	EVP_PKEY *dev_p256_other;
	EVP_PKEY *dev_rsa2048;
	EVP_PKEY *dev_rsa2048_other;
	EVP_PKEY *dev_rsa3072;
	EVP_PKEY *dev_rsa1024; /* unsupported size */
} testpki_t;

/* Build the whole PKI (with_rsa = 0 skips the RSA keys, for the fuzzer).
 * Returns 0 or -1. */
int testpki_init(testpki_t *p, int with_rsa);

/* The fixed P-256 device key the fuzz target and its seed corpus share
 * (private scalar TESTPKI_FUZZ_SCALAR), so seeds open in the fuzzer. */
#define TESTPKI_FUZZ_SCALAR \
	"c9afa9d845ba75166b5c215767b1d6934e50c3db36e89b127b8a622b120f6721"
EVP_PKEY *testpki_fixed_p256(void);

/* Free everything. NULL-safe. */
void testpki_free(testpki_t *p);

/* Issue a certificate for key under issuer (NULL issuer = self-signed),
 * valid [nb, na], CA or leaf, with extended key usage eku (dotted OID or
 * NULL), keyUsage ku (KU_* bits, 0 = default for the kind) and an optional
 * nsComment of pad bytes (to make large certificates). NULL on failure. */
X509 *testpki_issue(EVP_PKEY *key, const char *cn, X509 *issuer,
    EVP_PKEY *issuer_key, int is_ca, const char *eku, int ku, int64_t nb,
    int64_t na, size_t pad);

/* The standard subscription and binding of the container tests: DeviceID
 * TESTPKI_DEVICE_ID, UE nonce testpki_ue_nonce, network nonce
 * testpki_net_nonce. */
#define TESTPKI_DEVICE_ID "dev-0001_A.b"
extern const uint8_t testpki_ue_nonce[PROV_NONCE_LEN];
extern const uint8_t testpki_net_nonce[PROV_NONCE_LEN];
void testpki_subscription(prov_subscription_t *s);
void testpki_binding(prov_binding_t *b);

/* The standard subscription sealed to device_key and signed by
 * p->signer_key with signer, carrying chain (may be NULL), into out
 * (PROV_CONTAINER_MAX bytes). Its length, 0 on failure. */
size_t testpki_container(uint8_t *out, const testpki_t *p, EVP_PKEY *device_key,
    X509 *signer, STACK_OF(X509) * chain);

/* A container built by hand, bypassing prov_sign's checks: the standard
 * body for p->dev_p256, the count octet `count`, the ncerts certificates
 * and an ECDSA-SHA-256 signature by key over everything before it, into
 * out (PROV_CONTAINER_MAX bytes). Its length, 0 on failure. */
size_t testpki_container_raw(uint8_t *out, const testpki_t *p, uint8_t count,
    X509 **certs, size_t ncerts, EVP_PKEY *key);

#endif
