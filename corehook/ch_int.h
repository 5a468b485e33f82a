/* ch_int.h — corehook's internals shared between its files (and its unit
 * tests): the configuration, the allow-list, the CA fetcher, the security
 * context verifier, the metrics. Not part of the public API. */
#ifndef PROVCA_CH_INT_H
#define PROVCA_CH_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "corehook.h"
#include "devid.h"
#include "pki_keys.h"
#include "sbi.h"

#define CH_ALLOW_MAX 16
#define CH_NSSAI_MAX 8
#define CH_PATH_MAX 512
#define CH_URL_MAX 512
#define CH_ALG_PREF_MAX 4

/* One CA the operator has an agreement with. */
typedef struct {
	char base_url[CH_URL_MAX + 1]; /* as configured */
	char host[256];                /* lowercase */
	unsigned port;
	char path_prefix[CH_URL_MAX + 1]; /* ends with '/' */
	int seed_form; /* base had no path: /DeviceID=<id> too */
	char client_cert[CH_PATH_MAX];  /* mTLS client certificate (PEM) */
	char client_key[CH_PATH_MAX];   /* its key (PEM) */
	char ca_root[CH_PATH_MAX];      /* CAINFO for the TLS link */
	char trust_anchor[CH_PATH_MAX]; /* anchor for device certificates */
} ch_allow_t;

struct corehook_config {
	char path[CH_PATH_MAX];
	char db_path[CH_PATH_MAX];
	char mcc[4], mnc[4];
	uint64_t msin_first, msin_last;
	int have_op; /* 1: OP (OPc derived per Ki); 0: OPc */
	uint8_t op_or_opc[16];
	uint8_t amf[2];
	uint64_t sqn_initial;
	unsigned sqn_ind_bits;
	size_t nssai_count;
	struct {
		uint8_t sst;
		int has_sd;
		uint32_t sd;
	} nssai[CH_NSSAI_MAX];
	char dnn[101];
	size_t allow_count;
	ch_allow_t allow[CH_ALLOW_MAX];
	char signer_cert[CH_PATH_MAX];  /* signer certificate (PEM; may be
	                                 * followed by its intermediates) */
	char signer_chain[CH_PATH_MAX]; /* issuer chain (PEM), "" = none */
	char signer_key[CH_PATH_MAX];   /* file or pkcs11: URI */
	pki_token_t signer_token;       /* when signer_key is a URI */
	char nas_listen[128];
	char http_listen[128];
	long connect_timeout_ms;
	long total_timeout_ms;
	size_t max_response_bytes;
	unsigned fetch_connections; /* per allow-list entry */
	unsigned t3346_seconds;
	unsigned t3560_ms, t3550_ms; /* NAS retransmission timers */
	unsigned workers;
	unsigned session_ttl_seconds;
	int64_t retired_keep_seconds; /* retention of retired subscriptions */
	unsigned max_sessions;
	/* What keeps NAS traffic from becoming CA load (ca_cache.c). */
	unsigned negative_ttl_seconds; /* 404/revoked/suspended remembered */
	unsigned positive_max_age_seconds; /* cap on the CA's max-age */
	unsigned cache_entries;            /* slots per table */
	unsigned source_refusals_per_minute, source_burst;
	unsigned device_fetches_per_minute, device_burst;
	sbi_config_t sbi; /* "sbi": corehook as a UDM */
	/* NAS security: algorithm ids (nas_sec.h) in preference order. */
	uint8_t nas_int_pref[CH_ALG_PREF_MAX];
	size_t nas_int_n;
	uint8_t nas_enc_pref[CH_ALG_PREF_MAX];
	size_t nas_enc_n;
	/* SUCI: the key handed out in new subscriptions (scheme 0: none),
	 * the folder of home network private keys (hn-<id>.pem, 0600), and
	 * whether a null-scheme SUCI is accepted. */
	uint8_t suci_scheme;
	uint8_t suci_key_id;
	char suci_routing[5];
	char suci_keys_dir[CH_PATH_MAX];
	int suci_null_allowed;
};

/* ---- allow-list (allow.c) ---- */

enum {
	CH_URL_OK = 0,
	CH_URL_MALFORMED = -1,  /* not a URL, or illegal characters */
	CH_URL_NOT_ALLOWED = -2 /* a URL, but on no allow-list entry */
};

/* Parse base (an allow-list base URL: https, host, optional port, path
 * prefix ending in '/') into e's host, port and path_prefix. A base with no
 * path (https://ca.example:8443) allows the CA's two device forms,
 * /devices/<id> and the seed's /DeviceID=<id>. */
int ch_allow_parse_base(ch_allow_t *e, const char *base, char *err,
    size_t errlen);

/* Check url against the allow-list: https only, no userinfo/query/fragment,
 * no percent-encoding or dot segments, exact host and port, path =
 * prefix + DeviceID (or prefix + "DeviceID=" + id). On CH_URL_OK *entry is
 * the matching entry and device_id (65 bytes) the DeviceID. */
int ch_allow_check(const ch_allow_t *list, size_t n, const char *url,
    const ch_allow_t **entry, char *device_id, char *err, size_t errlen);

/* ---- CA fetcher (fetch.c) ---- */

#define CH_ETAG_MAX 127

typedef struct {
	long http_status;    /* 0 when no HTTP answer arrived */
	int transport_error; /* 1: connect/TLS/timeout/size failure */
	int timed_out;
	double seconds; /* wall time of the fetch */
	char *body;     /* NUL-terminated, free() */
	size_t body_len;
	char etag[CH_ETAG_MAX + 1]; /* "" when absent or not a clean tag */
	long max_age;               /* Cache-Control max-age, -1 absent */
	int no_cache;               /* no-cache: revalidate before every use */
	int no_store;               /* no-store (or private caching refused) */
} ch_fetch_result_t;

/* The fetcher of one allow-list entry: at most `connections` easy
 * handles, each keeping its verified mTLS connection to the CA open between
 * fetches, TLS sessions shared between them. Thread-safe. */
typedef struct ch_fetcher ch_fetcher;

int ch_fetcher_new(ch_fetcher **out, const ch_allow_t *e, size_t connections,
    long connect_ms, long total_ms, size_t max_bytes, char *err, size_t errlen);
void ch_fetcher_free(ch_fetcher *f);

/* GET url (already allow-listed for f's entry) over mTLS with the entry's
 * files, Accept: application/json, If-None-Match: etag when etag is not
 * NULL, on one of f's connections (waiting for one when all are busy).
 * Fills out (status, body, the answer's ETag and Cache-Control); returns
 * 0, or -1 with err on a transport failure (out->transport_error set). */
int ch_fetch(ch_fetch_result_t *out, ch_fetcher *f, const char *url,
    const char *etag, char *err, size_t errlen);

/* Read one Cache-Control header value into r (max_age, no_cache,
 * no_store); unknown directives are ignored. */
void ch_cache_control_parse(ch_fetch_result_t *r, const char *v, size_t n);

void ch_fetch_result_free(ch_fetch_result_t *r);

/* ---- security context (verify.c) ---- */

enum {
	CH_CTX_OK = 0,
	CH_CTX_BAD_JSON = -1, /* not a usable security context */
	CH_CTX_REVOKED = -2,
	CH_CTX_SUSPENDED = -3,
	CH_CTX_INVALID_CERT =
	    -4, /* chain, time, EKU, keyUsage, DeviceID, key */
	CH_CTX_INTERNAL = -5
};

/* Verified issuer paths of one trust anchor (verify_fast.c); thread-safe. */
typedef struct ch_path_cache ch_path_cache;

int ch_path_cache_new(ch_path_cache **out);
void ch_path_cache_free(ch_path_cache *c);

/* How an accepted device certificate was verified (ch_context_verify). */
enum { CH_CHECK_FAST, CH_CHECK_CACHED, CH_CHECK_FULL, CH_CHECK_N };

/* ---- the fast paths in front of the full check (verify_fast.c) ---- */

/* ch_verify_fast hands over to the full check. */
#define CH_FAST_HANDOVER (-1)

/*
 * The fast paths for a device certificate pem whose security context's
 * chain text is byte-identical to the one cache holds a verified issuer
 * path for (docs/ARCHITECTURE.md, "Fast paths"). Answers:
 * CH_CHECK_FAST: the leaf fast path accepted the leaf whole (every rule of
 *   ch_context_verify's, CN == device_id): *pubkey owned by the caller,
 *   pub_enc (may be NULL) its point, *valid_until set;
 * CH_CHECK_CACHED: *cert (parsed here, the caller frees it) chains to the
 *   anchor on the cached path at now, *valid_until set; the caller still
 *   applies the leaf's own rules (EKU, CN, key) as after the full check;
 * CH_FAST_HANDOVER: the full check decides; *cert is the parsed leaf (the
 *   caller frees it) or NULL when pem did not parse.
 * Never a refusal: any doubt hands over.
 */
int ch_verify_fast(EVP_PKEY **pubkey, uint8_t pub_enc[65], X509 **cert,
    int64_t *valid_until, ch_path_cache *cache, const char *pem,
    const char *text, const char *device_id, int64_t now);

/* After the full check verified a leaf: keep the path it built (chain:
 * leaf first, anchor last; consumed) for the chain text text. */
void ch_path_cache_store(ch_path_cache *c, STACK_OF(X509) * chain,
    const char *text, int64_t now);

/* The end of path's validity (earliest notAfter) as Unix seconds: 1, or 0
 * when a time is not in RFC 5280's form. */
int ch_path_valid_until(int64_t *until, STACK_OF(X509) * path);

/* Parse the CA's JSON security context and verify the device certificate:
 * chain to anchor at time now, device EKU, keyUsage for its key type
 * (pki_device_key_kind: P-256/P-384 digitalSignature + keyAgreement; RSA
 * 2048/3072 digitalSignature + keyEncipherment), CN == device_id, status
 * active. On CH_CTX_OK *pubkey owns the device public key, pub_enc (may be
 * NULL) its uncompressed P-256 point as the certificate carries it
 * (pub_enc[0] = 0 when it is not one), *how (may be NULL) says which path
 * accepted it and *valid_until (may be NULL) is the Unix second from
 * which the leaf or a certificate above it is no longer valid (now + 1
 * when a time cannot be read exactly). cache (NULL: none) holds the issuer
 * path verified for the same chain text, so only the leaf is verified
 * again. */
int ch_context_verify(EVP_PKEY **pubkey, uint8_t pub_enc[65], int *how,
    int64_t *valid_until, const char *json, size_t len, const char *device_id,
    X509 *anchor, ch_path_cache *cache, int64_t now, char *err, size_t errlen);

/* ---- caches and limits in front of the CA (ca_cache.c) ---- */

/*
 * Bounded, thread-safe tables keyed by keyed SipHash, each a fixed number
 * of 4-way sets (least recently used slot replaced): DeviceIDs the CA
 * refused (negative), verified security contexts (positive: device key,
 * ETag, freshness, validity), and token buckets per source address and per
 * DeviceID. Keys of DeviceIDs include the allow-list entry.
 */
typedef struct ch_ca_cache ch_ca_cache;

int ch_ca_cache_new(ch_ca_cache **out, const corehook_config *cfg, char *err,
    size_t errlen);
void ch_ca_cache_free(ch_ca_cache *c);

/* Negative cache: the refusal outcome (CH_PROV_UNKNOWN/REVOKED/SUSPENDED)
 * remembered for key until now_ms + ttl; lookup returns it, or -1. */
int ch_neg_lookup(ch_ca_cache *c, const char *key, int64_t now_ms);
void ch_neg_store(ch_ca_cache *c, const char *key, int outcome, int64_t now_ms);

/* Token buckets: take one token for key (1 allowed, 0 empty); peek says
 * whether one is there without taking it; charge takes one even when that
 * leaves the bucket in debt (to at most -burst). */
enum { CH_RATE_SOURCE, CH_RATE_DEVICE, CH_RATE_N };
int ch_rate_take(ch_ca_cache *c, int kind, const char *key, int64_t now_ms);
int ch_rate_peek(ch_ca_cache *c, int kind, const char *key, int64_t now_ms);
void ch_rate_charge(ch_ca_cache *c, int kind, const char *key, int64_t now_ms);

/* A verified security context as the positive cache keeps it. */
typedef struct {
	EVP_PKEY *pub; /* owned by the caller after lookup */
	uint8_t pub_enc[65];
	char etag[CH_ETAG_MAX + 1]; /* "" = cannot be revalidated */
	int64_t fresh_until_ms;     /* use without asking the CA before */
	int64_t valid_until;        /* Unix seconds: certificate validity */
} ch_pos_entry_t;

/* Copy the entry of key into out (pub up-referenced) when one is kept and
 * its certificate is still valid at now (Unix seconds): 1, else 0. */
int ch_pos_lookup(ch_ca_cache *c, ch_pos_entry_t *out, const char *key,
    int64_t now_ms, int64_t now);
/* Keep (a copy of) e for key, replacing any entry. */
void ch_pos_store(ch_ca_cache *c, const char *key, const ch_pos_entry_t *e,
    int64_t now_ms);
/* Extend the entry's freshness to fresh_until_ms (after a 304). */
void ch_pos_refresh(ch_ca_cache *c, const char *key, int64_t fresh_until_ms);
void ch_pos_drop(ch_ca_cache *c, const char *key);

/* Milliseconds of CLOCK_MONOTONIC. */
int64_t ch_now_ms(void);

/* ---- SUCI home network keys (suci_keys.c) ---- */

#define CH_SUCI_KEYS_MAX 16

/* The private key file of key id in cfg's keys folder. */
int ch_suci_key_path(char *out, size_t cap, const corehook_config *cfg,
    unsigned key_id);

/* Create the configured home network key pair (hn-<id>.pem, PEM PKCS#8,
 * 0600, exclusive create: an existing key is never replaced). */
int ch_suci_keygen(const corehook_config *cfg, char *err, size_t errlen);

/* ---- metrics (metrics.c) ---- */

enum {
	CH_PROV_PROVISIONED,
	CH_PROV_NOT_ALLOWED,
	CH_PROV_UNKNOWN,
	CH_PROV_REVOKED,
	CH_PROV_SUSPENDED,
	CH_PROV_INVALID_CERT,
	CH_PROV_CA_UNAVAILABLE,
	CH_PROV_MALFORMED,
	CH_PROV_INTERNAL,
	CH_PROV_RATE_LIMITED,
	CH_PROV_UNSIGNED,
	CH_PROV_BAD_SIGNATURE,
	CH_PROV_REPLAY,
	CH_PROV_WRONG_NETWORK,
	CH_PROV_UNCONCEALABLE,
	CH_PROV_NOUTCOMES
};
/* How a provisioning got the device's security context (metrics). */
enum {
	CH_CTX_NEG_HIT,         /* negative cache answered, no fetch */
	CH_CTX_POS_FRESH,       /* positive cache, fresh: no fetch */
	CH_CTX_POS_REVALIDATED, /* positive cache, CA answered 304 */
	CH_CTX_FETCHED,         /* full GET (200/404/...) */
	CH_CTX_SRC_N
};
enum {
	CH_AKA_SUCCESS,
	CH_AKA_RES_MISMATCH,
	CH_AKA_RESYNC,
	CH_AKA_RESYNC_FAILED,
	CH_AKA_UNKNOWN_SUBSCRIBER,
	CH_AKA_UE_REJECTED,
	CH_AKA_PROMOTED, /* a pending subscription became active */
	CH_AKA_NOUTCOMES
};
#define CH_LAT_BUCKETS 12

typedef struct {
	atomic_uint_fast64_t prov[CH_PROV_NOUTCOMES];
	atomic_uint_fast64_t aka[CH_AKA_NOUTCOMES];
	atomic_uint_fast64_t lat_bucket[CH_LAT_BUCKETS]; /* non-cumulative */
	atomic_uint_fast64_t lat_count;
	atomic_uint_fast64_t lat_sum_us;
	atomic_uint_fast64_t nas_in, nas_dup, nas_malformed;
	/* protected messages discarded: bad MAC, replayed COUNT, and
	 * unprotected where protection is required */
	atomic_uint_fast64_t nas_sec_bad_mac, nas_sec_replay, nas_sec_plain;
	atomic_uint_fast64_t smc_done;
	atomic_uint_fast64_t prov_concealed; /* requests that came concealed */
	atomic_uint_fast64_t cert_check[CH_CHECK_N];
	atomic_uint_fast64_t ctx_source[CH_CTX_SRC_N];
	atomic_uint_fast64_t rate_limited[CH_RATE_N];
} ch_metrics_t;

extern const char *const ch_prov_outcome_names[CH_PROV_NOUTCOMES];
extern const char *const ch_aka_outcome_names[CH_AKA_NOUTCOMES];

void ch_metrics_fetch_observe(ch_metrics_t *m, double seconds);
int ch_metrics_format(const ch_metrics_t *m, char *buf, size_t cap);

/* printf into buf (cap bytes) at *off, advancing it; -1 once it no longer
 * fits (the metrics texts of metrics.c and sbi_config.c). */
int ch_text_put(char *buf, size_t cap, size_t *off, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
