/* pki.h — small X.509 helpers every program shares: load certificates,
 * chains and keys (PEM or DER, from memory or a file), verify a certificate
 * against a trust anchor at a given time for a required extended key usage,
 * and take the SHA-256 fingerprint of a certificate. Built on OpenSSL only;
 * never prints. */
#ifndef PROVCA_PKI_H
#define PROVCA_PKI_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

/*
 * ProvCA's own object identifiers live under one arc, set at build time
 * (CMake cache variable PROVCA_OID_ARC). An operator or manufacturer with an
 * IANA Private Enterprise Number sets its own arc. The default is under IANA's
 * documentation PEN 32473 (RFC 5612). We do not use a UUID arc
 * (2.25.<128-bit integer>): its arc does not fit in 64 bits, and Go's
 * crypto/x509 and Debian 12's python3-cryptography then refuse to parse the
 * whole certificate, so operators' own tooling could not read a device
 * certificate.
 */
#ifndef PROVCA_OID_ARC
#define PROVCA_OID_ARC "1.3.6.1.4.1.32473.7243"
#endif

/* id-kp-provcaDeviceProvisioning: extendedKeyUsage of device certificates
 * (the key a device uses to open what the network seals to it). */
#define PROVCA_OID_EKU_DEVICE PROVCA_OID_ARC ".1"

/* id-kp-provcaProvisioningSigner: extendedKeyUsage of an operator's
 * provisioning-signer certificate (signs provisioning containers). */
#define PROVCA_OID_EKU_SIGNER PROVCA_OID_ARC ".2"

/* Largest certificate, chain or key file the loaders accept, in bytes. */
#define PKI_FILE_MAX (256 * 1024)

/* Certificates a chain loader accepts at most. */
#define PKI_CHAIN_MAX 16

/* SHA-256 fingerprint length. */
#define PKI_FINGERPRINT_LEN 32

enum pki_error {
	PKI_OK = 0,
	PKI_ERR_ARG = -1,           /* programming error: bad argument */
	PKI_ERR_IO = -2,            /* file missing, unreadable or too large */
	PKI_ERR_PARSE = -3,         /* not a certificate / key in PEM or DER */
	PKI_ERR_CHAIN = -4,         /* does not chain to the trust anchor */
	PKI_ERR_EXPIRED = -5,       /* a chain certificate has expired */
	PKI_ERR_NOT_YET_VALID = -6, /* a chain certificate is not yet valid */
	PKI_ERR_EKU = -7,           /* leaf lacks the required EKU */
	PKI_ERR_INTERNAL = -8       /* allocation or OpenSSL failure */
};

/* A short English name for a pki_error code (static string). */
const char *pki_strerror(int code);

/* Parse one certificate from buf (PEM, first certificate, or exactly one DER
 * certificate with no trailing bytes). On success *out owns a new X509. */
int pki_cert_load(X509 **out, const uint8_t *buf, size_t len, char *err,
    size_t errlen);

/* pki_cert_load on the contents of the file at path (≤ PKI_FILE_MAX). */
int pki_cert_load_file(X509 **out, const char *path, char *err, size_t errlen);

/* Parse every certificate of a PEM bundle (or one DER certificate) in order,
 * at least one and at most PKI_CHAIN_MAX. *out owns a new stack; free it
 * with sk_X509_pop_free(s, X509_free). */
int pki_chain_load(STACK_OF(X509) * *out, const uint8_t *buf, size_t len,
    char *err, size_t errlen);

/* pki_chain_load on the contents of the file at path. */
int pki_chain_load_file(STACK_OF(X509) * *out, const char *path, char *err,
    size_t errlen);

/* Parse a private key (PEM: PKCS#8, traditional EC/RSA; or DER of those),
 * unencrypted. *out owns a new EVP_PKEY. */
int pki_key_load(EVP_PKEY **out, const uint8_t *buf, size_t len, char *err,
    size_t errlen);

/* pki_key_load on the contents of the file at path. The read buffer is
 * wiped before it is freed. */
int pki_key_load_file(EVP_PKEY **out, const char *path, char *err,
    size_t errlen);

/* Parse a public key (PEM "PUBLIC KEY" or DER SubjectPublicKeyInfo).
 * *out owns a new EVP_PKEY. */
int pki_pubkey_load(EVP_PKEY **out, const uint8_t *buf, size_t len, char *err,
    size_t errlen);

/*
 * Verify cert against the trust anchor root (which may itself be an
 * intermediate: partial chains ending at root are accepted), with optional
 * untrusted intermediates, at Unix time `at` (seconds), under RFC 5280 rules
 * (X509_verify_cert, strict mode). If eku_oid is not NULL, cert's
 * extendedKeyUsage must list that OID (dotted text) explicitly.
 * Returns PKI_OK, PKI_ERR_CHAIN, PKI_ERR_EXPIRED, PKI_ERR_NOT_YET_VALID,
 * PKI_ERR_EKU, PKI_ERR_ARG or PKI_ERR_INTERNAL.
 */
int pki_cert_verify(X509 *cert, X509 *root, STACK_OF(X509) * intermediates,
    int64_t at, const char *eku_oid, char *err, size_t errlen);

/* pki_cert_verify that also hands out the chain it built (cert first,
 * the anchor last) in *chain_out when chain_out is not NULL; free it with
 * sk_X509_pop_free(s, X509_free). NULL on any error. */
int pki_cert_verify_chain(X509 *cert, X509 *root,
    STACK_OF(X509) * intermediates, int64_t at, const char *eku_oid,
    STACK_OF(X509) * *chain_out, char *err, size_t errlen);

/* 1 if cert's extendedKeyUsage lists eku_oid (dotted text), 0 if not or if
 * cert has no extendedKeyUsage extension. */
int pki_cert_has_eku(X509 *cert, const char *eku_oid);

/* SHA-256 of cert's DER encoding into out. Returns PKI_OK or an error. */
int pki_cert_fingerprint(uint8_t out[PKI_FINGERPRINT_LEN], X509 *cert);

/*
 * A SubjectPublicKeyInfo kept as algorithm + key bits, for ASN.1
 * templates of certificates and requests that must not decode the key
 * while parsing (OpenSSL 3.0's X509_PUBKEY builds a decoder chain for every
 * key it parses, ~1.1 M instructions). pki_spki_i2d encodes it as
 * i2d_X509_PUBKEY would (length, or -1).
 */
typedef struct {
	X509_ALGOR *algor;
	ASN1_BIT_STRING *public_key;
} PKI_SPKI;
DECLARE_ASN1_ITEM(PKI_SPKI)
int pki_spki_i2d(const PKI_SPKI *k, unsigned char **out);

/* The digest NID (NID_sha256/384/512) of an ECDSA signature algorithm
 * identifier without parameters, or NID_undef for anything else. */
int pki_ecdsa_sig_md_nid(const X509_ALGOR *a);

/*
 * Device key kinds: the one list of keys ProvCA's CA issues with the
 * provisioning EKU and corehook serves (a container algorithm each,
 * docs/protocol.md). Both sides call pki_device_key_kind, so they cannot
 * disagree about a key.
 */
enum pki_devkey {
	PKI_DEVKEY_NONE = 0, /* not issued, not served */
	PKI_DEVKEY_P256,
	PKI_DEVKEY_P384,
	PKI_DEVKEY_RSA2048,
	PKI_DEVKEY_RSA3072
};

/* The kind of device key k (an enum pki_devkey), PKI_DEVKEY_NONE for any
 * other key (RSA-4096, P-521, Ed25519, ...). */
int pki_device_key_kind(EVP_PKEY *k);

/* The keyUsage bits (KU_*) a device certificate of that kind must carry:
 * EC digitalSignature + keyAgreement, RSA digitalSignature +
 * keyEncipherment; 0 for PKI_DEVKEY_NONE. */
uint32_t pki_device_key_usage(int kind);

/* t (UTCTime or GeneralizedTime) as seconds since the Unix epoch, UTC.
 * 0, or -1 when t is NULL or cannot be read. */
int pki_time_unix(int64_t *out, const ASN1_TIME *t);

#endif
