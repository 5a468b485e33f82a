/* ca_profile.h — the device certificate profile (IEEE 802.1AR IDevID on
 * RFC 5280) in one place: subject attributes, the extensions and their
 * order, keyUsage per key kind, the EKU OID, the CRL/AIA URL forms and the
 * validity rule. OpenSSL's encoder path (ca_fast.c's templates, ca_x509.c)
 * and the DER TBS path (ca_tbs_fast.c) both read it, so a profile change
 * is made here once. Not for use outside server/ca*.c. */
#ifndef PROVCA_CA_PROFILE_H
#define PROVCA_CA_PROFILE_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "ca_priv.h"

/* Device key kinds: they differ in keyUsage only. */
enum { CA_PROFILE_EC = 0, CA_PROFILE_RSA = 1, CA_PROFILE_KINDS = 2 };

/* notBefore is this far before the issuing clock (a verifier's clock may
 * run a little behind the CA's). */
#define CA_PROFILE_BACKDATE_S 60

/* IEEE 802.1AR's "no well-defined expiration" notAfter, as text and as
 * the Unix seconds ca_asn1_time reads back from it. */
#define CA_PROFILE_NOT_AFTER_NONE "99991231235959Z"
#define CA_PROFILE_NOT_AFTER_NONE_UNIX INT64_C(253402300799)

/* Extension order in a device certificate: the two that change per
 * certificate first, then CA_PROFILE_EXTS constant ones (basicConstraints,
 * keyUsage, extendedKeyUsage, AKI, CRL distribution point, AIA). */
#define CA_PROFILE_EXT_SKI 0
#define CA_PROFILE_EXT_SAN 1
#define CA_PROFILE_EXTS 6

/* Subject attributes in order: serialNumber, O, CN. */
#define CA_PROFILE_RDNS 3

/* One subject attribute: its NID, the last arc of its OID (2.5.4.x), the
 * string type a certificate carries and the MBSTRING_* input flag OpenSSL
 * is given to choose that type. */
typedef struct {
	int nid;
	unsigned char oid_arc;
	int der_tag;
	int mbstring;
} ca_profile_rdn_t;

extern const ca_profile_rdn_t ca_profile_subject[CA_PROFILE_RDNS];

/* The subject values of a device certificate, in ca_profile_subject's
 * order. */
void ca_profile_subject_values(const char *out[CA_PROFILE_RDNS],
    const ca_device_cert_t *d);

/* The key kind (CA_PROFILE_EC / CA_PROFILE_RSA) of a parsed request. */
int ca_profile_kind(const ca_csr_t *csr);

/* keyUsage (OpenSSL config text) of a key kind. */
const char *ca_profile_key_usage(int kind);

/* Build the constant extensions of kind into out (NULL-terminated, the
 * order above), AKI from issuer, URLs under base_url: the CRL DP at
 * crl_path and the caIssuers at crt_path (NULL: CA_URL_PATH_CRL and
 * CA_URL_PATH_DEVICE_CA, the first Device CA's). On failure the entries
 * built so far stay in out for the caller to free. */
int ca_profile_exts_build(X509_EXTENSION *out[CA_PROFILE_EXTS + 1], int kind,
    X509 *issuer, const char *base_url, const char *crl_path,
    const char *crt_path, char *err, size_t errlen);

/* The validity of a certificate issued at now with validity_days (0 or
 * less: no well-defined expiration, *not_after = 0). */
void ca_profile_validity(int64_t *not_before, int64_t *not_after, int64_t now,
    int validity_days);

/* notAfter as the certificate encodes it (0 becomes
 * CA_PROFILE_NOT_AFTER_NONE_UNIX). */
int64_t ca_profile_not_after_unix(int64_t not_after);

/* Set t's notAfter: not_after seconds, or 0 for the 802.1AR
 * no-expiration value. 1 on success. */
int ca_profile_not_after_set(ASN1_TIME *t, int64_t not_after);

/* subjectKeyIdentifier: SHA-1 of the subjectPublicKey bits (RFC 5280
 * method 1). 1 on success. */
int ca_profile_ski(unsigned char out[20], const EVP_MD *sha1,
    const unsigned char *bits, int blen);

#endif
