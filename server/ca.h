/* ca.h — the CA engine: the PKI hierarchy on disk (init), loading it once
 * into a read-only context, device issuance from a PKCS#10 CSR, revocation /
 * suspension / reinstatement, the Device CA's CRL, principals (client and
 * provisioning-signer certificates) and manufacturers.
 *
 * Threads: a ca_t is the immutable CA (config, certificates, keys) plus an
 * explicit runtime (ca_priv.h, struct ca_rt: the current CA set with its
 * signer pool, and the group commit of single issuances), each part behind
 * its own lock; it may be shared by any number of threads, each passing
 * its own reg_t (ca_reg_open). The CA set follows the registry: a Device
 * CA added, activated, retired or renewed by `ca-server ca|root` is used
 * from the next request on. Every state change writes its audit entry in
 * the same transaction. Nothing prints. */
#ifndef PROVCA_CA_H
#define PROVCA_CA_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "reg.h"

struct ssl_ctx_st;

/* URL paths (after public_base_url) that device certificates name: CRL
 * distribution point, AIA OCSP and AIA caIssuers (DER Device CA), and the
 * Root certificate. The HTTP service serves them. */
#define CA_URL_PATH_CRL "/crl/device-ca.crl"
#define CA_URL_PATH_INFRA_CRL "/crl/infra-ca.crl"
#define CA_URL_PATH_ROOT_CRL "/crl/root-ca.crl"
#define CA_URL_PATH_OCSP "/ocsp"
#define CA_URL_PATH_DEVICE_CA "/ca/device-ca.crt"
#define CA_URL_PATH_ROOT "/ca/root-ca.crt"
#define CA_URL_PATH_DEVICES "/devices/"
/* A later Device CA's CRL and certificate (printf forms, its cas.id): the
 * first Device CA keeps CA_URL_PATH_CRL and CA_URL_PATH_DEVICE_CA. */
#define CA_URL_PATH_DEVICE_CA_N_CRL "/crl/device-ca-%lld.crl"
#define CA_URL_PATH_DEVICE_CA_N_CRT "/ca/device-ca-%lld.crt"
/* A later Infrastructure CA's CRL (printf form, its cas.id): the CRL
 * distribution point of the principal certificates it signed. */
#define CA_URL_PATH_INFRA_CA_N_CRL "/crl/infra-ca-%lld.crl"

typedef struct ca ca_t;

enum ca_error {
	CA_OK = 0,
	CA_ERR_INTERNAL = -1, /* OpenSSL / SQLite / allocation failure */
	CA_ERR_INVALID = -2,  /* bad input: CSR, key, attribute, reason, name */
	CA_ERR_NOT_FOUND = -3, /* unknown device, manufacturer or principal */
	CA_ERR_CONFLICT =
	    -4,             /* serial enrolled with another key / name taken */
	CA_ERR_STATE = -5,  /* already revoked, not suspended, ... */
	CA_ERR_EXISTS = -6, /* init: DIR already holds a CA / output exists */
	CA_ERR_PASSPHRASE = -7,  /* key files cannot be decrypted */
	CA_ERR_NOT_CA = -8,      /* DIR is not a ProvCA data folder */
	CA_ERR_DENIED = -9,      /* principal disabled or certificate revoked */
	CA_ERR_BUSY = -10,       /* registry locked past the busy timeout */
	CA_ERR_KEY_IN_USE = -11, /* public key bound to another live device */
	CA_ERR_UNAVAILABLE = -12 /* registry's database server unreachable */
};

/* ---- init and open -------------------------------------------------- */

typedef struct {
	const char *data_dir;         /* created; must not hold a CA */
	const char *org;              /* NULL = "ProvCA" */
	const char *const *hostnames; /* extra server SANs (DNS or IP) */
	size_t n_hostnames;
	const char *key_pass_file; /* passphrase for file keys ... */
	const char *key_pass_env;  /* ... or from this variable */
	int plain_keys;            /* 1: no passphrase, keys unencrypted
					 * (without it init needs one) */
	const char *
	    public_base_url; /* NULL = https://<first hostname|localhost>:8443 */
	const char *admin_name; /* NULL = "admin" */
	/* The offline Root: root-ca.key (and a copy of root-ca.crt) go here,
	 * never into data_dir. NULL = <parent of data_dir>/<name>-root. */
	const char *root_dir;
	/* Token keys (pkcs11: URIs, generated in the token beforehand); NULL
	 * = a new key file in data_dir. */
	const char *device_key_uri, *infra_key_uri, *tls_key_uri;
	const char *cmp_key_uri;   /* the CMP signer's (ca_cmp_signer_ensure) */
	const char *pkcs11_module; /* the token's PKCS#11 module */
	const char *pkcs11_pin_file; /* PIN source: a file ... */
	const char *pkcs11_pin_env;  /* ... or an environment variable */
	const char *plain_base_url;  /* NULL = none; http://host[:port] the
					   certificates' CRL/OCSP/caIssuers URLs name */
	const char *plain_listen;    /* NULL = plain-HTTP listener off */
	const char *db;              /* NULL = DATA/registry.db (SQLite); a
					 * postgresql:// URL: the schema is
					 * made there (an empty database) */
	uint32_t pen;                /* device URN PEN; 0 = 32473 (RFC 5612) */
	int example_oids;            /* allow RFC 5612's documentation arc */
} ca_init_opts_t;

/*
 * Create a CA in opts->data_dir: Root (P-384), Device CA and Infrastructure
 * CA (P-256), TLS server certificate, registry, config.json, and a first
 * admin principal in DIR/admin/ (admin.crt, admin.key, admin.p12 and
 * admin.p12.pass). Built in a temporary folder beside DIR and renamed at the
 * end: on failure nothing is left. Refuses (CA_ERR_INVALID) a CA whose EKU
 * arc (PROVCA_OID_ARC) or URN PEN lies under RFC 5612's documentation PEN
 * 32473 unless opts->example_oids.
 */
int ca_init(const ca_init_opts_t *opts, char *err, size_t errlen);

/* The default offline Root folder of data_dir: <parent>/<name>-root.
 * snprintf's result. */
int ca_root_dir_default(char *out, size_t outlen, const char *data_dir);

/* Load config, CA certificates and keys (decrypting with the passphrase in
 * key_pass_file, which may be NULL) from data_dir. The registry is opened
 * once to apply migrations. */
int ca_open(ca_t **out, const char *data_dir, const char *key_pass_file,
    char *err, size_t errlen);

/* ca_open with the passphrase from pass_file or else the environment
 * variable pass_env (both may be NULL: keys not encrypted). */
int ca_open_pass(ca_t **out, const char *data_dir, const char *pass_file,
    const char *pass_env, char *err, size_t errlen);

/* ca_open_pass with the registry at db (a postgresql:// URL) instead of
 * the config's "db" setting; db NULL or "" keeps the setting. */
int ca_open_db(ca_t **out, const char *data_dir, const char *pass_file,
    const char *pass_env, const char *db, char *err, size_t errlen);

/* The registry location of the CA in data_dir: its config's "db" (a
 * postgresql:// URL) or else DATA/registry.db. CA_OK or an error. */
int ca_db_location(char *out, size_t outlen, const char *data_dir, char *err,
    size_t errlen);

/* Free, wiping keys; NULL-safe. */
void ca_free(ca_t *ca);

/* One line naming each serving key's custody: "device-ca pkcs11 <URI>,
 * infra-ca file-encrypted, tls file-plain, cmp-signer file-encrypted" (URIs
 * never carry a PIN); the Device and Infrastructure CA keys are the
 * issuing ones of the CA set. */
int ca_custody_describe(const ca_t *ca, char *out, size_t outlen);

/* The Root's CRL as the last ceremony published it (DATA/root-ca.crl, DER,
 * read each time: a ceremony replaces it without a restart). *der
 * malloc'd; CA_ERR_NOT_FOUND when none was published. */
int ca_root_crl_published(const ca_t *ca, uint8_t **der, size_t *len, char *err,
    size_t errlen);

/* Refuse to serve (CA_ERR_DENIED) while an unencrypted Root key sits in
 * data_dir: the Root is offline and only ceremonies open it. */
int ca_serve_check(const char *data_dir, char *err, size_t errlen);

const ca_config_t *ca_config(const ca_t *ca);

/* Files of a data folder. */
typedef enum {
	CA_FILE_CONFIG,         /* config.json */
	CA_FILE_DB,             /* registry.db */
	CA_FILE_ROOT_CERT,      /* root-ca.crt */
	CA_FILE_DEVICE_CA_CERT, /* device-ca.crt */
	CA_FILE_INFRA_CA_CERT,  /* infra-ca.crt */
	CA_FILE_DEVICE_CHAIN,   /* device-chain.pem: Device CA + Root */
	CA_FILE_CLIENT_CA, /* client-ca.pem: Infrastructure CA + Root (mTLS trust) */
	CA_FILE_TLS_CERT, /* server.crt: leaf + Infrastructure CA */
	CA_FILE_TLS_KEY /* server.key (encrypted with the passphrase if any) */
} ca_file_t;

/* Path of a file of data_dir into out. -1 if outlen is too small. */
int ca_path(char *out, size_t outlen, const char *data_dir, ca_file_t which);

/* Which CA certificate. */
typedef enum { CA_CERT_ROOT, CA_CERT_DEVICE, CA_CERT_INFRA } ca_cert_t;

/* PEM and DER of a CA certificate (owned by ca, valid until ca_free);
 * CA_CERT_DEVICE: the issuing Device CA of the current CA set. */
const char *ca_cert_pem(const ca_t *ca, ca_cert_t which);
int ca_cert_der(const ca_t *ca, ca_cert_t which, const uint8_t **der,
    size_t *len);

/* Put the TLS server certificate chain and (decrypted) key into ctx and
 * make client certificates verify against the Root and the CA set's
 * Infrastructure CAs only; one activated later is trusted from the next
 * handshake on (ca keeps the store). For CivetWeb's init_ssl callback. */
int ca_tls_configure(ca_t *ca, struct ssl_ctx_st *ctx, char *err,
    size_t errlen);

/* Open a registry connection for the calling thread. */
int ca_reg_open(const ca_t *ca, reg_t **out, char *err, size_t errlen);

/* ---- devices -------------------------------------------------------- */

typedef struct {
	const char *manufacturer_id; /* [A-Za-z0-9._-]{1,32}, registered */
	const char *serial;          /* 1..64 PrintableString characters */
	const char *model;      /* 1..64 printable, no control characters */
	const char *hw_version; /* NULL/"" or as model */
} ca_device_attrs_t;

typedef struct {
	char device_id[REG_DEVICE_ID_MAX + 1];
	char *cert_url;  /* public_base_url + "/devices/" + id */
	char *cert_pem;  /* device certificate */
	char *chain_pem; /* Device CA + Root */
	int created;     /* 1 new, 0 idempotent repeat */
} ca_issue_result_t;

void ca_issue_result_clear(ca_issue_result_t *r);

/*
 * Issue a device certificate from csr (PEM or DER PKCS#10) and attrs, or
 * return the existing one when the same manufacturer, serial and public key
 * are already enrolled (created = 0). The device row, certificate and audit
 * entry are committed before return (or, inside an outer reg_begin, with
 * it); concurrent callers share that commit (ca_device_issue_item).
 * CA_ERR_INVALID: bad CSR/key/attributes; CA_ERR_NOT_FOUND: unknown
 * manufacturer; CA_ERR_CONFLICT: serial live with a different key;
 * CA_ERR_KEY_IN_USE: the key belongs to another live (not revoked) device,
 * of any manufacturer (checked again inside the committing transaction).
 */
int ca_device_issue(ca_t *ca, reg_t *reg, ca_issue_result_t *out,
    const uint8_t *csr, size_t csr_len, const ca_device_attrs_t *attrs,
    const char *actor, char *err, size_t errlen);

struct evp_pkey_st;

/*
 * ca_device_issue for a device whose public key comes without a PKCS#10
 * request (a CMP ir/cr's certificate template, its proof of possession
 * already checked by the caller): the same checks, profile, rows, audit
 * entry and idempotence. pub is not kept.
 */
int ca_device_issue_key(ca_t *ca, reg_t *reg, ca_issue_result_t *out,
    struct evp_pkey_st *pub, const ca_device_attrs_t *attrs, const char *actor,
    char *err, size_t errlen);

struct X509_req_st;

/* A device's PKCS#10 request, parsed and its self-signature verified
 * (ca_csr_read): the key as sent, its type and SPKI hash. */
typedef struct ca_csr ca_csr_t;

/* Why ca_csr_read refused a request. */
enum ca_csr_refusal {
	CA_CSR_BAD_FORMAT = 1, /* not a PKCS#10 request / trailing bytes */
	CA_CSR_BAD_KEY,        /* public key unreadable */
	CA_CSR_BAD_SIGNATURE,  /* no proof of possession */
	CA_CSR_EXPLICIT_CURVE  /* EC key with explicit parameters (RFC 5480) */
};

/* CA_OK when req's key is spelled as RFC 5480 asks: an EC key names its
 * curve (explicit parameters refused, with a message saying so). Checked
 * before the signature, so the refusal says what is wrong. */
int ca_csr_spki_check(const struct X509_req_st *req, char *err, size_t errlen);

/* Formats ca_csr_read accepts. */
enum ca_csr_format {
	CA_CSR_PEM_OR_DER, /* PEM when it starts "-----BEGIN", else DER
				 * without trailing bytes */
	CA_CSR_PEM         /* PEM only */
};

/*
 * Parse a PKCS#10 CSR (at most 64 KiB) and verify its self-signature
 * (proof of possession), as ca_csr_parse does, without OpenSSL 3.0's
 * per-key decoder for EC P-256/P-384 keys (other keys: the general path;
 * every refusal is decided by the general path). CA_ERR_INVALID with a
 * message and *why (may be NULL) otherwise. The key type is not checked
 * here (issuance does). Free with ca_csr_free. Thread-safe.
 */
int ca_csr_read(ca_csr_t **out, int *why, const ca_t *ca, const uint8_t *buf,
    size_t len, int format, char *err, size_t errlen);

void ca_csr_free(ca_csr_t *csr);

/* One batch element: inputs, then rc/err/result written by the batch. */
typedef struct {
	const uint8_t *csr;
	size_t csr_len;
	ca_device_attrs_t attrs;
	int rc;
	char err[256];
	ca_issue_result_t result;
	/* Optional, borrowed: the request already parsed and its signature
	 * verified by the caller (ca_csr_read); csr/csr_len are then not
	 * read. Saves decoding and verifying the same CSR twice. */
	ca_csr_t *csr_req;
	/* Input: how csr is read (enum ca_csr_format; 0 = PEM or DER). With
	 * CA_CSR_PEM (the HTTP API's reading) the CSR is also checked before
	 * the attributes. Batches check CSRs on every CPU. */
	int csr_format;
	/* Output: the ca_csr_refusal when the CSR was refused, else 0. */
	int csr_refused;
} ca_issue_item_t;

/*
 * ca_device_issue for one item (rc, err and result written into it; rc
 * returned). Concurrent callers on different threads and connections share
 * one registry transaction (group commit): CSR checks and signing run
 * before any lock, the rows of every waiting caller are written in one
 * transaction with a savepoint each, and each caller returns only once
 * that transaction is committed.
 */
int ca_device_issue_item(ca_t *ca, reg_t *reg, ca_issue_item_t *it,
    const char *actor);

/*
 * Issue n devices in one transaction (one fsync). all_or_nothing: the first
 * failing item aborts and rolls back all (its rc is returned); otherwise
 * each item succeeds or fails on its own and 0 is returned once committed.
 * CSR checks and signing run on up to one thread per CPU before the
 * transaction starts; the transaction only writes rows.
 */
int ca_device_issue_batch(ca_t *ca, reg_t *reg, ca_issue_item_t *items,
    size_t n, int all_or_nothing, const char *actor, char *err, size_t errlen);

/* A device's security context: registry record + certificate and chain. */
typedef struct {
	reg_device_t rec;
	char *cert_pem;
	char *chain_pem; /* Device CA + Root */
	char cert_url[512];
} ca_device_t;

int ca_device_get(ca_t *ca, reg_t *reg, ca_device_t *out, const char *device_id,
    char *err, size_t errlen);
void ca_device_clear(ca_device_t *d);

/* 1 if id matches [A-Za-z0-9._-]{1,64}, else 0. */
int ca_device_id_valid(const char *id);

/* RFC 5280 CRLReason names (keyCompromise, ...) <-> codes; -1 if unknown. */
int ca_reason_from_name(const char *name);
const char *ca_reason_name(int code);
/* Reasons a certificate is revoked with: every CRLReason but
 * certificateHold and removeFromCRL (those are suspend and reinstate). */
#define CA_REVOCATION_REASONS \
	"unspecified, keyCompromise, cACompromise, " \
	"affiliationChanged, superseded, cessationOfOperation, " \
	"privilegeWithdrawn, aACompromise"
/* 1 if code is one of CA_REVOCATION_REASONS. */
int ca_reason_revocable(int code);
/* The code of revocation reason name, or -1 (unknown, hold or remove). */
int ca_revocation_reason(const char *name);

/* Revoke with an RFC 5280 reason (not certificateHold or removeFromCRL:
 * use suspend/reinstate). A suspended device may be revoked; a revoked one
 * may not (CA_ERR_STATE). */
int ca_device_revoke(ca_t *ca, reg_t *reg, const char *device_id, int reason,
    const char *actor, char *err, size_t errlen);
/* Suspend (certificateHold); only an active device. */
int ca_device_suspend(ca_t *ca, reg_t *reg, const char *device_id,
    const char *actor, char *err, size_t errlen);
/* Lift a suspension; only a suspended device. */
int ca_device_reinstate(ca_t *ca, reg_t *reg, const char *device_id,
    const char *actor, char *err, size_t errlen);

/* ---- CRL ------------------------------------------------------------ */

/*
 * The Device CA's CRL (DER) listing every revoked and suspended device
 * certificate with its reason. Served from the registry's cache; rebuilt
 * (next CRL number) when the CRL generation changed or nextUpdate is within
 * crl_refresh_seconds. *der freed with free().
 */
int ca_crl_get(ca_t *ca, reg_t *reg, uint8_t **der, size_t *der_len,
    int64_t *next_update, char *err, size_t errlen);

/* The same for issuer REG_ISSUER_DEVICE or REG_ISSUER_INFRA (the
 * Infrastructure CA's CRL lists revoked principal certificates). */
int ca_crl_issuer_get(ca_t *ca, reg_t *reg, const char *issuer, uint8_t **der,
    size_t *der_len, int64_t *next_update, char *err, size_t errlen);

/* ---- principals and manufacturers ----------------------------------- */

typedef struct {
	const char *name;            /* [A-Za-z0-9._-]{1,64} */
	const char *role;            /* REG_ROLE_* */
	const char *manufacturer_id; /* required for role manufacturer */
	/* Renewal: certify a new key for the existing, active principal
	 * `name` (role and manufacturer come from the registry; role and
	 * manufacturer_id must be NULL). Its earlier certificates stay valid
	 * until they expire, or are revoked (superseded) in the same
	 * transaction with revoke_previous. */
	int renew;
	int revoke_previous;
	/* Self-renewal: the SHA-256 (hex) of the client certificate the
	 * request came with; inside the renewal's transaction it must still
	 * be this principal's and unrevoked. NULL otherwise. */
	const char *presented_sha256;
} ca_principal_attrs_t;

typedef struct {
	char *cert_pem;  /* client (or signer) certificate */
	char *chain_pem; /* Infrastructure CA + Root */
	char *key_pem;   /* PKCS#8, encrypted when key_pass given */
	uint8_t *p12;    /* PKCS#12: key, cert, chain */
	size_t p12_len;
} ca_principal_creds_t;

/* Wipe and free; NULL-safe. */
void ca_principal_creds_clear(ca_principal_creds_t *c);

/* Register a principal (or renew one, see attrs.renew) and certify the key
 * of csr (clientAuth; signer role:
 * the provisioning-signer EKU). Only cert_pem/chain_pem are set. */
int ca_principal_add_csr(ca_t *ca, reg_t *reg, ca_principal_creds_t *out,
    const ca_principal_attrs_t *attrs, const uint8_t *csr, size_t csr_len,
    const char *actor, char *err, size_t errlen);

/* ca_principal_add_csr for a public key whose possession the caller has
 * checked (a CMP kur's template). Only cert_pem/chain_pem are set. */
int ca_principal_add_key(ca_t *ca, reg_t *reg, ca_principal_creds_t *out,
    const ca_principal_attrs_t *attrs, struct evp_pkey_st *pk,
    const char *actor, char *err, size_t errlen);

/* Register a principal with a fresh P-256 key: every field of out is set.
 * p12_pass protects the PKCS#12; key_pass (NULL = none) the key PEM. */
int ca_principal_add_generated(ca_t *ca, reg_t *reg, ca_principal_creds_t *out,
    const ca_principal_attrs_t *attrs, const char *p12_pass,
    const char *key_pass, const char *actor, char *err, size_t errlen);

/* Disable a principal: its certificate no longer authenticates. */
int ca_principal_disable(ca_t *ca, reg_t *reg, const char *name,
    const char *actor, char *err, size_t errlen);
/* Revoke every certificate of the principal with an RFC 5280 reason (not
 * certificateHold/removeFromCRL): it is refused as a client credential from
 * the next request on and listed on the Infrastructure CA's CRL.
 * CA_ERR_STATE if it is already revoked. */
int ca_principal_revoke(ca_t *ca, reg_t *reg, const char *name, int reason,
    const char *actor, char *err, size_t errlen);

/* The principal whose client certificate DER has this SHA-256.
 * CA_ERR_NOT_FOUND if unknown, CA_ERR_DENIED if disabled, the certificate
 * is revoked, or it is a signer (signers are not clients). */
int ca_principal_authenticate(ca_t *ca, reg_t *reg, reg_principal_t *out,
    const uint8_t cert_sha256[32], char *err, size_t errlen);

/* A principal as JSON, the one encoding the CLI (principal list --json)
 * and the HTTP API (GET /api/v1/principals) share: name, role,
 * manufacturer_id (null if none), status, certificate_sha256,
 * certificate_serial, certificate_revoked, not_after and created_at
 * (RFC 3339, null if unset). NULL when out of memory. */
struct cJSON *ca_principal_json(const reg_principal_t *p);

/* Register a manufacturer; oui may be NULL (6 hex digits otherwise). */
int ca_manufacturer_add(ca_t *ca, reg_t *reg, const char *id, const char *name,
    const char *oui, const char *actor, char *err, size_t errlen);

#endif
