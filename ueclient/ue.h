/* ue.h — the device side of ProvCA: state folder, keys and CSR, enrollment,
 * network-selection policy, credential storage and the reporter that tells
 * the story of each step. The attach exchange is in ue_attach.h, the UDP
 * transport in ue_transport.h, the swarm in ue_swarm.h. */
#ifndef PROVCA_UE_H
#define PROVCA_UE_H

#include <stddef.h>
#include <stdint.h>

#include "prov.h"

/* Error codes shared by every ueclient function: 0 is success. */
enum ue_error {
	UE_OK = 0,
	UE_ERR_ARG = -1,      /* bad argument or malformed input */
	UE_ERR_IO = -2,       /* file-system failure */
	UE_ERR_CRYPTO = -3,   /* OpenSSL failure or a failed check */
	UE_ERR_HTTP = -4,     /* transport or HTTP status failure */
	UE_ERR_TIMEOUT = -5,  /* no answer within the bounds */
	UE_ERR_PROTO = -6,    /* the peer broke the protocol */
	UE_ERR_REJECTED = -7, /* the network refused (cause in the result) */
	UE_ERR_EXISTS = -8,   /* would overwrite something that must not be */
	UE_ERR_NOMEM = -9,
	UE_ERR_STATE = -10, /* the state folder lacks a needed step */
};

/* Bounds for strings read from the state folder and the network. */
#define UE_ID_MAX 64 /* DeviceID, serial, manufacturer ID, model */
#define UE_URL_MAX 512
#define UE_SUPI_MAX 32 /* "imsi-" + 15 digits, with room */
#define UE_DNN_MAX 64
#define UE_PLMN_MAX 7 /* MCC + 2 or 3 digit MNC */
#define UE_ADDR_MAX 128
#define UE_MAX_CORES 8
#define UE_FILE_MAX (1024 * 1024) /* largest state file read */
/* The PLMN a core given without one is taken to serve (the ITU test
 * network, corehook's default): the request is signed for its serving
 * network name. Name the PLMN (PLMN@HOST:PORT) for any other network. */
#define UE_DEFAULT_PLMN "00101"

typedef enum {
	UE_KEY_P256 = 0,
	UE_KEY_RSA2048,
	UE_KEY_RSA3072,
	UE_KEY_P384
} ue_key_type;

/* ---- state folder -------------------------------------------------- */

/* File names inside the state folder. */
#define UE_F_DEVICE "device.json"
#define UE_F_KEY "device.key"
#define UE_F_CSR "device.csr"
#define UE_F_CERT "device.crt"
#define UE_F_CHAIN "chain.pem"
#define UE_F_ROOT "root.pem"
#define UE_F_POLICY "policy.json"
#define UE_F_CREDS "credentials.json"
/* A newer subscription, kept apart until 5G-AKA with it succeeds. */
#define UE_F_CREDS_PENDING "credentials-pending.json"
/* The provisioning request's freshness counter (decimal). */
#define UE_F_COUNTER "prov-counter"
/* Extra CA certificates (the Infrastructure CA that issues operators'
 * provisioning signers): untrusted intermediates for the signer check. */
#define UE_F_CACERTS "ca-certs.pem"

/* What device.json holds: identity from init, enrollment from enroll. */
typedef struct {
	char manufacturer_id[UE_ID_MAX + 1];
	char serial[UE_ID_MAX + 1];
	char model[UE_ID_MAX + 1];
	char hardware_version[UE_ID_MAX + 1];
	ue_key_type key_type;
	char device_id[UE_ID_MAX + 1];        /* empty until enrolled */
	char certificate_url[UE_URL_MAX + 1]; /* empty until enrolled */
} ue_device_t;

/* Join dir and name into out (outlen bytes). Returns 0 or UE_ERR_ARG when it
 * does not fit. */
int ue_state_path(char *out, size_t outlen, const char *dir, const char *name);

/* Read a whole file (at most max bytes) into a NUL-terminated heap buffer.
 * *lenout gets the length without the NUL. */
int ue_file_read(char **out, size_t *lenout, const char *path, size_t max,
    char *err, size_t errlen);

/* Write data to path atomically: a temporary file in the same folder with
 * the given mode, fsync, rename over path, fsync the folder. */
int ue_file_write_atomic(const char *path, const void *data, size_t len,
    unsigned mode, char *err, size_t errlen);

/* mkdir -p: parents as needed, the last folder 0700; existing is fine. */
int ue_mkdir_p(const char *dir, char *err, size_t errlen);

/* Load / store device.json of the state folder. */
int ue_device_load(ue_device_t *out, const char *dir, char *err, size_t errlen);
int ue_device_store(const ue_device_t *dev, const char *dir, char *err,
    size_t errlen);

/* A serial / manufacturer ID / model token: [A-Za-z0-9._-]{1,64} (a
 * DeviceID is devid_valid's). */
int ue_id_valid(const char *s);

/* Parse "p256" / "rsa2048" / "rsa3072". Returns 0 or UE_ERR_ARG. */
int ue_key_type_parse(ue_key_type *out, const char *s);
const char *ue_key_type_name(ue_key_type t);

/* ---- keys and CSR (ue_keys.c) ---------------------------------------- */

/* Create the state folder (0700, may exist), generate the device key
 * (written 0600 with O_EXCL: an existing key is never replaced), the CSR
 * (subject serialNumber, O = manufacturer, CN = serial) and device.json. */
int ue_init(const char *dir, const ue_device_t *identity, char *err,
    size_t errlen);

/* Generate a key of the given type. *out is an EVP_PKEY *. */
int ue_key_generate(void **out, ue_key_type type, char *err, size_t errlen);

/* Build a PEM CSR for key and identity into a heap string. */
int ue_csr_build(char **out, void *pkey, const ue_device_t *identity, char *err,
    size_t errlen);

/* Load the device's private key (EVP_PKEY *) from the state folder. A
 * P-256 key in PKCS#8 PEM (what ue_init writes) is read by
 * ue_key_p256_fast; any other key by OpenSSL's general reader. The buffers
 * that held the key are wiped. */
int ue_key_load(void **out, const char *dir, char *err, size_t errlen);

/* ue_key_load, and pub_enc gets the key's public point as the PKCS#8 file
 * holds it (65-byte uncompressed P-256) when ue_key_p256_fast read it;
 * pub_enc[0] = 0 otherwise. */
int ue_key_load_pub(void **out, uint8_t pub_enc[65], const char *dir, char *err,
    size_t errlen);

/* Read a P-256 private key from PKCS#8 PEM ("PRIVATE KEY", named curve,
 * public point present) without OpenSSL 3.0's decoder framework. *out is
 * an EVP_PKEY *, the same key OpenSSL's reader gives; UE_ERR_ARG for any
 * other text (the caller falls back to the general reader). */
int ue_key_p256_fast(void **out, const uint8_t *pem, size_t len);

/* ---- enrollment (ue_enroll.c) ---------------------------------------- */

typedef struct {
	const char *ca_url;        /* https://host:port of ca-server */
	const char *cert_file;     /* manufacturer client certificate (PEM) */
	const char *key_file;      /* its key (PEM) */
	const char *tls_ca;        /* trust anchor for the CA's TLS certificate;
	                          defaults to root_file */
	const char *root_file;     /* Root CA certificate; fetched from
	                          <ca>/ca/root.pem when NULL */
	const char *ca_certs_file; /* optional extra untrusted intermediates
	                          for the signer check, stored as
	                          ca-certs.pem; NULL (the usual case: the
	                          container carries the signer chain) */
	long timeout_ms;           /* per request; 0 = 10000 */
} ue_enroll_opts_t;

/* The factory step: send the CSR to POST <ca>/api/v1/devices over mTLS,
 * check the answer (certificate matches our key and chains to the Root),
 * store certificate, chain, root and certificate URL in the state folder.
 * Idempotent: an already enrolled folder is left as it is. */
int ue_enroll(ue_device_t *out, const char *dir, const ue_enroll_opts_t *opts,
    char *err, size_t errlen);

/* ---- network-selection policy (ue_policy.c) ---------------------------- */

typedef struct {
	char plmn[UE_PLMN_MAX + 1];
	char address[UE_ADDR_MAX + 1]; /* host:port */
	/* The core's onboarding public key (SUCI's ECIES scheme): when
	 * ob_scheme is 1 (Profile A) or 2 (Profile B), the provisioning
	 * request is concealed to it; 0: sent as is. */
	uint8_t ob_scheme;
	uint8_t ob_key_id;
	uint8_t ob_pub[65];
	size_t ob_pub_len;
} ue_core_t;

typedef struct {
	ue_core_t cores[UE_MAX_CORES];
	size_t ncores;
	unsigned timeout_ms;     /* wait for one answer before retransmitting */
	unsigned max_timeout_ms; /* above timeout_ms: the wait doubles after
	                          every send up to this; else fixed */
	unsigned retransmits;    /* extra sends of one request */
	unsigned attempt_ms; /* longest wait for a genuine answer per core */
	unsigned max_backoff_ms; /* upper bound on a T3346 back-off honoured */
} ue_policy_t;

/* Defaults: no cores, 1000 ms (fixed), 3 retransmits, 10 s per core, 5 s
 * back-off. */
void ue_policy_init(ue_policy_t *p);

/* Parse policy JSON ({"cores":[{"plmn":"00101","address":"h:p",
 * "onboarding_key":{"profile":"A"|"B","key_id":N,"public_key":"HEX"}}],
 * "timeout_ms":..,"max_timeout_ms":..,"retransmits":..,"attempt_ms":..,
 * "max_backoff_ms":..}). */
int ue_policy_parse(ue_policy_t *p, const char *json, char *err, size_t errlen);

/* Load DIR/policy.json if present (missing → defaults, returns 0). */
int ue_policy_load(ue_policy_t *p, const char *dir, char *err, size_t errlen);

/* Add a core given as "HOST:PORT" or "PLMN@HOST:PORT". */
int ue_policy_add_core(ue_policy_t *p, const char *spec, char *err,
    size_t errlen);

/* ---- credentials (ue_creds.c) ------------------------------------------ */

/* What provisioning delivers (the subscription) and what the USIM keeps
 * besides: SQN_MS, the highest SQN it accepted. Secrets wiped by
 * ue_creds_wipe. */
typedef struct {
	char device_id[UE_ID_MAX + 1];
	prov_subscription_t sub;
	uint8_t sqn_ms[PROV_SQN_LEN];
} ue_creds_t;

void ue_creds_wipe(ue_creds_t *c);

/* 1 if DIR/credentials.json exists, 0 if not. */
int ue_creds_exist(const char *dir);

/* Load / store credentials.json (stored atomically, 0600). */
int ue_creds_load(ue_creds_t *out, const char *dir, char *err, size_t errlen);
int ue_creds_store(const ue_creds_t *c, const char *dir, char *err,
    size_t errlen);

/* The same for the state folder's file name (UE_F_CREDS or
 * UE_F_CREDS_PENDING). */
int ue_creds_exist_as(const char *dir, const char *name);
int ue_creds_load_as(ue_creds_t *out, const char *dir, const char *name,
    char *err, size_t errlen);
int ue_creds_store_as(const ue_creds_t *c, const char *dir, const char *name,
    char *err, size_t errlen);

/* The next provisioning-request counter of the state folder: above the
 * stored one and at least the wall clock in microseconds, stored
 * atomically (0600, fsync) before it is returned, so no counter is ever
 * signed twice. */
int ue_counter_next(uint64_t *out, const char *dir, char *err, size_t errlen);

#endif
