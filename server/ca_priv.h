/* ca_priv.h — what the CA engine's files share: the context and the X.509
 * building blocks. Not for use outside server/ca*.c and server/cli/. */
#ifndef PROVCA_CA_PRIV_H
#define PROVCA_CA_PRIV_H

#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "ca.h"

#define CA_PASS_MAX 1024
#define CA_CSR_MAX (64 * 1024)
/* scrypt for encrypted key files (RFC 7914's interactive cost; 16 MiB). */
#define CA_SCRYPT_N 16384
#define CA_SCRYPT_R 8
#define CA_SCRYPT_P 1
/* The Root's CRL: nextUpdate this many days after it is signed. */
#define CA_ROOT_CRL_DAYS 365

/* One CA of a CA set (registry table cas): a Device CA or an
 * Infrastructure CA. */
#define CA_DEVICE_CAS_MAX 16
#define CA_INFRA_CAS_MAX 16
struct ca_dca {
	int64_t id;           /* cas.id */
	char state[8];        /* issuing, active, retired */
	char cert_sha256[65]; /* cas.cert_sha256 */
	char *key_ref;        /* cas.key_ref: file in DIR or URI */
	X509 *cert;
	EVP_PKEY *key; /* NULL when retired: signs nothing */
	uint8_t *der;
	size_t der_len;
	char *pem;                  /* the certificate */
	char *chain_pem;            /* the certificate + Root */
	unsigned char key_hash[20]; /* SHA-1 of its key bits (OCSP) */
	/* URL paths its certificates name: the first Device CA keeps
	 * CA_URL_PATH_CRL / CA_URL_PATH_DEVICE_CA, later ones
	 * /crl/device-ca-<id>.crl and /ca/device-ca-<id>.crt; the first
	 * Infrastructure CA CA_URL_PATH_INFRA_CRL, later ones
	 * /crl/infra-ca-<id>.crl (crt_path unused). */
	char crl_path[48], crt_path[48];
	char cache_key[32]; /* crl_cache.issuer of its CRL */
};

/* The registry's CA set stamp (reg_ca_stamp) a set was built from. */
#define CA_SET_STAMP_MAX 2048

/*
 * A CA set: the Device CAs as the registry listed them at one moment, the
 * issuing one's device-certificate extensions and its signer pool (ca_set.c).
 * Immutable once published but for the pool, which has its own lock. A
 * set is published by an atomic pointer swap and kept until ca_free, so
 * every pointer into it a reader took stays valid (a set is a few KB; CA
 * changes are ceremonies).
 */
struct ca_set {
	struct ca_dca dcas[CA_DEVICE_CAS_MAX];
	size_t n_dcas, issuing;
	/* The Infrastructure CAs: [infra_issuing] certifies new principals;
	 * every one stays in the TLS client trust store. */
	struct ca_dca icas[CA_INFRA_CAS_MAX];
	size_t n_icas, infra_issuing;
	char stamp[CA_SET_STAMP_MAX];
	/* Device certificate extensions that are the same for every device
	 * (basicConstraints, keyUsage, EKU, AKI, CRL DP, AIA) of the issuing
	 * CA; NULL-terminated. [0]: EC keys, [1]: RSA keys. */
	X509_EXTENSION *dev_exts[2][8];
	/* Device certificate signers of the issuing CA (ca_fast.c): a pool
	 * of templates each used by one thread at a time, grown on demand. */
	pthread_mutex_t signer_mu;
	struct ca_signer *signers;
	struct ca_set *older; /* the set published before */
};

/*
 * The CA's runtime: everything that changes after ca_open, each part
 * behind its own lock. The current CA set (read lock-free, replaced
 * under mu when the registry's CA set stamp moves) and the group commit
 * of single issuances (the queue, leader, writer connection and WAL
 * checkpoint counters are db/reg_group.c's, behind the group's lock).
 */
struct ca_rt {
	pthread_mutex_t mu;           /* serialises set reloads */
	_Atomic(struct ca_set *) cur; /* the newest set; ->older the rest */
	struct reg_group *group;
	/* The HTTPS client trust store (ca_tls_configure; NULL until then):
	 * each set published adds its Infrastructure CAs (the store has
	 * its own lock). */
	X509_STORE *tls_store;
	/* ca_set_refresh: its own registry connection, used under the
	 * try-lock refresh_mu, and when it last looked (monotonic ms). */
	pthread_mutex_t refresh_mu;
	reg_t *refresh_reg;
	_Atomic(int64_t) refreshed_ms;
};

/*
 * The CA: what ca_open loads and nothing changes afterwards (config,
 * the Root, the Infrastructure CA, the TLS certificate, their keys,
 * fetched digests and CSR parameter keys), and the explicit runtime rt.
 */
struct ca {
	char data_dir[PATH_MAX];
	char db_path[PATH_MAX];
	ca_config_t cfg;
	X509 *root, *infra, *tls;
	X509 *device_file; /* device-ca.crt: the first Device CA */
	EVP_PKEY *infra_key, *tls_key;
	/* The CMP signer (ca_cmp_signer.c): its key signs CMP answers; NULL
	 * until ca_cmp_signer_ensure (serve_load, before any worker thread),
	 * then unchanged; freed by ca_core_free. */
	X509 *cmp_cert;
	EVP_PKEY *cmp_key;
	char *pem[3]; /* root and infra by ca_cert_t */
	uint8_t *der[3];
	size_t der_len[3];
	char *infra_chain_pem;          /* Infrastructure CA + Root */
	char key_pass[CA_PASS_MAX + 1]; /* "" when keys are not encrypted */
	/* Fast CSR path (ca_csr_read): parameter-only EC keys of P-256 [0]
	 * and P-384 [1], duplicated per request key; built at open. */
	EVP_PKEY *csr_ec[2];
	/* Digests fetched once (EVP_sha256() etc. fetch on every use):
	 * SHA-1, SHA-256, SHA-384, SHA-512. */
	EVP_MD *md[4];
	struct ca_rt *rt;
};

/* A parsed, verified device request. Fast path (EC P-256/P-384): raw is
 * the request parsed without decoding its key, req NULL; general path: req.
 * alg/bits/blen point into whichever holds the SubjectPublicKeyInfo. */
struct ca_csr {
	X509_REQ *req;
	void *raw;
	const X509_ALGOR *alg;
	const unsigned char *bits;
	int blen;
	EVP_PKEY *pkey; /* general path only (borrowed from req) */
	int rsa;
	char curve[16]; /* EC: "P-256" / "P-384" on the fast path */
};

/* Key type ("EC-P256", ...) and SPKI SHA-256 (hex, of the re-encoded
 * SubjectPublicKeyInfo as ca_req_spki_sha256_hex) of a parsed request. */
int ca_csr_key_type(char out[16], const ca_csr_t *csr, char *err,
    size_t errlen);
int ca_csr_spki_sha256_hex(char out[65], const ca_t *ca, const ca_csr_t *csr);

/* Set dst (the X509_PUBKEY of a certificate under construction) to a
 * copy of algorithm a and key bits, without decoding the key. 1 on
 * success. */
int ca_pubkey_set(X509_PUBKEY *dst, const X509_ALGOR *a,
    const unsigned char *bits, int blen);

/* The millisecond clock (CLOCK_REALTIME) modulo 2^30 (it wraps every
 * 12.4 days): the prefix of new DeviceIDs and certificate serials, so
 * consecutive ones are close in their indexes. */
uint32_t ca_tick30(void);

/* Create the issuance group commit into rt (ca_open) / free it with its
 * writer connection (ca_free; no issuance runs; NULL-safe). */
int ca_group_open(struct ca_rt *rt, const char *db_path, char *err,
    size_t errlen);
void ca_group_close(struct ca_rt *rt);

/* Fetch the digests and build the fast-path EC parameter keys (ca_open);
 * free them (ca_free, NULL-safe). */
int ca_fast_init(ca_t *ca, char *err, size_t errlen);
void ca_fast_free(ca_t *ca);

/* Free set's signer pool (the set is being freed; NULL-safe). */
void ca_signer_pool_free(struct ca_set *set);

/* A device certificate: what changes from one to the next. */
typedef struct {
	const char *serial_number; /* subject serialNumber */
	const char *org;           /* subject O */
	const char *cn;            /* subject CN (the DeviceID) */
	const char *san_uri;       /* subjectAltName URI */
	int64_t not_before;
	int64_t not_after;   /* 0: 99991231235959Z */
	const ca_csr_t *csr; /* the subject key, copied as sent */
} ca_device_cert_t;

/* Sign a device certificate by set's issuing Device CA from a per-thread
 * template of set's pool (the profile: SKI, SAN, basicConstraints,
 * keyUsage, EKU, AKI, CRL DP, AIA, in that order), TBS encoded once and
 * signed with a reused signing context. *der OPENSSL_malloc'd; its SHA-256
 * (hex), serial_hex (41) and the validity as encoded. */
int ca_device_cert_sign(const ca_t *ca, struct ca_set *set, uint8_t **der,
    size_t *der_len, char sha_hex[65], char serial_hex[41], int64_t *not_before,
    int64_t *not_after, const ca_device_cert_t *spec, char *err, size_t errlen);

/* The TBSCertificate of a device certificate with the given serial (20
 * bytes), as ca_device_cert_sign builds it: der != 0 from the template's
 * DER pieces when the input allows (*took_der = 1), der == 0 always
 * through OpenSSL's encoder (tests compare the two). *tbs
 * OPENSSL_malloc'd; CA_ERR_INVALID if OpenSSL refuses the subject. */
int ca_device_tbs_build(const ca_t *ca, struct ca_set *set, unsigned char **tbs,
    size_t *len, int der, int *took_der, const uint8_t serial[20],
    const ca_device_cert_t *spec);

/* What a new certificate looks like. ext_* are OpenSSL v3 config strings
 * (NULL = absent). */
typedef struct {
	X509_NAME *subject;
	EVP_PKEY *pubkey;
	X509 *issuer; /* NULL: self-signed */
	EVP_PKEY *issuer_key;
	int64_t not_before;
	int64_t not_after; /* 0: 99991231235959Z */
	const char *basic_constraints;
	const char *key_usage;
	const char *ext_key_usage;
	const char *subject_alt_name;
	const char *name_constraints;
	const char *crl_dp;
	const char *aia;
	/* Optional: the subject key as the request's SubjectPublicKeyInfo,
	 * copied as is (no key re-encoding); pubkey is then not used. */
	X509_PUBKEY *pubkey_x;
	/* Optional prebuilt extensions (NULL-terminated), added after the
	 * text ones; when set, AKI is expected among them (not derived). */
	X509_EXTENSION *const *exts;
} ca_cert_spec_t;

/* Build and sign a certificate with a fresh random serial (159 bits,
 * positive) and SKI/AKI. *serial_hex (41 bytes) gets the serial. */
int ca_x509_make(X509 **out, char serial_hex[41], const ca_cert_spec_t *spec,
    char *err, size_t errlen);

/* A fresh EC key on curve ("P-256", "P-384"). */
int ca_key_generate(EVP_PKEY **out, const char *curve, char *err,
    size_t errlen);

/* PEM (PKCS#8; when pass is non-empty encrypted with PBES2: scrypt
 * N=2^14 r=8 p=1 and AES-256-CBC). The buffer is
 * malloc'd; wipe with OPENSSL_cleanse before free. */
int ca_key_to_pem(char **out, size_t *len, EVP_PKEY *key, const char *pass,
    char *err, size_t errlen);

/* ca_open with the key passphrase itself ("" = keys not encrypted). */
int ca_open_with_pass(ca_t **out, const char *data_dir, const char *pass,
    char *err, size_t errlen);

/* The passphrase from file (first line) or else the environment variable
 * env; "" when both are NULL. */
int ca_pass_get(char out[CA_PASS_MAX + 1], const char *file, const char *env,
    char *err, size_t errlen);

/* Write len bytes to path, created exclusively with mode. */
int ca_file_write(const char *path, const void *buf, size_t len, int mode,
    char *err, size_t errlen);

/* Read the whole file (at most max bytes) into a NUL-terminated buffer. */
int ca_file_read(char **out, size_t *len, const char *path, size_t max,
    char *err, size_t errlen);

/* Read a passphrase file: first line, without the line end, 1..CA_PASS_MAX
 * bytes. */
int ca_pass_read(char out[CA_PASS_MAX + 1], const char *path, char *err,
    size_t errlen);

/* PEM of one certificate (malloc'd). NULL on failure. */
char *ca_cert_to_pem(X509 *cert);

/* PEM ("CERTIFICATE") of a certificate's DER without parsing it
 * (malloc'd). NULL when out of memory. */
char *ca_der_to_pem(const uint8_t *der, size_t len);

/* A one-line subject of cert into out ("?" when it does not fit). */
void ca_subject_line(char *out, size_t outlen, X509 *cert);

/* SHA-256 (hex) of a request's SubjectPublicKeyInfo DER as sent. */
int ca_req_spki_sha256_hex(char out[65], X509_REQ *req);

/* DER of cert (OPENSSL_malloc'd via i2d). */
int ca_cert_to_der(uint8_t **out, size_t *len, X509 *cert);

/* Lowercase hex SHA-256 of buf. */
void ca_sha256_hex(char out[65], const uint8_t *buf, size_t len);

/* Base of the CRL, OCSP and caIssuers URLs certificates name: the plain
 * HTTP one when configured (RFC 5280 4.2.1.13 expects http or ldap), else
 * public_base_url. */
const char *ca_revocation_base_url(const ca_t *ca);

/* SHA-256 (hex) of the certificate's SubjectPublicKeyInfo DER. */
int ca_spki_sha256_hex(char out[65], EVP_PKEY *key);

/* "EC-P256", "RSA-2048", ... and 0, or CA_ERR_INVALID when the key is not
 * one ProvCA accepts (P-256/P-384, RSA 2048..4096). */
int ca_key_type(char out[16], EVP_PKEY *key, char *err, size_t errlen);

/* Parse a PKCS#10 CSR (PEM or DER, no trailing bytes) and verify its
 * self-signature. */
int ca_csr_parse(X509_REQ **out, const uint8_t *buf, size_t len, char *err,
    size_t errlen);

/* Unix time of an ASN1_TIME. */
int64_t ca_asn1_time(const ASN1_TIME *t);

/* Map a reg_error to a ca_error. */
int ca_from_reg(int rc);

/* 1 if s matches [A-Za-z0-9._-]{1,max}. */
int ca_token_valid(const char *s, size_t max);

/* 1 if s is 1..max printable ASCII characters (0x20..0x7e). */
int ca_printable_valid(const char *s, size_t max);

/* Append an audit entry with details built from key/value pairs (NULL
 * terminated list of const char * pairs). */
int ca_audit(reg_t *reg, const char *actor, const char *action,
    const char *target, char *err, size_t errlen, ...);

/* Open the signing key ref (file in the data folder or pkcs11: URI, with
 * the data folder's passphrase and token) and check it is cert's key. */
int ca_key_load(EVP_PKEY **out, const ca_t *ca, const char *ref, X509 *cert,
    char *err, size_t errlen);

/* ---- the immutable CA (ca.c) and its assembly (ca_open.c) ---- */

/* Load config, certificates, the Infrastructure CA and TLS keys of
 * data_dir into ca (calloc'd by the caller; nothing of the CA set), the
 * registry located at db when not NULL (else config "db", else
 * DATA/registry.db, which must exist). */
int ca_core_load(ca_t *ca, const char *data_dir, const char *pass,
    const char *db, char *err, size_t errlen);

/* Free what ca_core_load loaded, wiping the passphrase; NULL-safe. */
void ca_core_free(ca_t *ca);

/* ---- CA sets (ca_set.c) ---- */

/* Create ca->rt with the registry's first CA set (adopting the data
 * folder's Device CA on a registry from before the CA set). */
int ca_rt_open(ca_t *ca, char *err, size_t errlen);

/* Free ca->rt and every set it published; NULL-safe. */
void ca_rt_free(ca_t *ca);

/* The current CA set, reloaded first when the registry's CA set stamp
 * (read on reg) moved since it was built: a CA added, activated, retired
 * or renewed by another process is used from the next call on. NULL with
 * a message when the new set cannot be loaded (a key that does not open). */
struct ca_set *ca_set_get(const ca_t *ca, reg_t *reg, char *err, size_t errlen);

/* The current CA set as last loaded (no registry read). */
struct ca_set *ca_set_peek(const ca_t *ca);

/* The Device CA of set with this id (0: the first); NULL if none. */
const struct ca_dca *ca_set_dca(const struct ca_set *set, int64_t id);

/* The issuing Device CA of set. */
static inline const struct ca_dca *ca_set_issuing(const struct ca_set *set)
{
	return &set->dcas[set->issuing];
}

/* The issuing Infrastructure CA of set. */
static inline const struct ca_dca *ca_set_infra(const struct ca_set *set)
{
	return &set->icas[set->infra_issuing];
}

/* The Infrastructure CA of set with this id (0: the first); NULL. */
const struct ca_dca *ca_set_ica(const struct ca_set *set, int64_t id);

/* ca_set_get on the runtime's own connection, at most once per min_ms
 * and by one thread at a time (the others go on with the current set):
 * the TLS handshake's path, which holds no registry connection. */
void ca_set_refresh(const ca_t *ca, int64_t min_ms);

/* Add set's Infrastructure CAs to store (duplicates are no error). */
int ca_set_trust(const struct ca_set *set, X509_STORE *store);

/* The chain (CA + Root) of Device CA id of the current set; the issuing
 * one's when unknown. Valid until ca_free. */
const char *ca_chain_pem_of(const ca_t *ca, int64_t id);

/* Sign the CRL of Device CA d (ca_revoke.c), cached under d->cache_key. */
int ca_crl_dca_get(ca_t *ca, reg_t *reg, const struct ca_dca *d, uint8_t **der,
    size_t *der_len, int64_t *next_update, char *err, size_t errlen);

/* Sign Device CA d's final CRL (nextUpdate next_update) and cache it: what
 * a retired CA keeps publishing. */
int ca_crl_dca_final(ca_t *ca, reg_t *reg, const struct ca_dca *d,
    int64_t next_update, char *err, size_t errlen);

/* ---- the Root (ca_root.c; init and `ca-server root` only) ---- */

/* <public_base_url>/crl/root-ca.crl: the intermediates' CRL DP. */
int ca_root_crl_url(char *out, size_t outlen, const ca_config_t *cfg);

/* An intermediate certified by the Root for pub: pathlen 0, keyCertSign +
 * cRLSign, the Root's CRL as CRL DP; device != 0 adds the Device CA's
 * name constraints (no IP addresses). */
int ca_root_certify(X509 **out, char serial_hex[41], X509 *root,
    EVP_PKEY *root_key, X509_NAME *subject, EVP_PKEY *pub, int device,
    int64_t not_after, const ca_config_t *cfg, char *err, size_t errlen);

/* The Root's next CRL (v2, CRL number, AKI, SHA-384): the entries of the
 * previous one (prev_der, checked to be signed by the Root; NULL: first),
 * plus revoke_hex (serial in hex, NULL: none) with reason; nextUpdate now
 * + days. *der malloc'd. */
int ca_root_crl_make(uint8_t **der, size_t *len, X509 *root, EVP_PKEY *root_key,
    const uint8_t *prev_der, size_t prev_len, const char *revoke_hex,
    int reason, int days, char *err, size_t errlen);

#endif
