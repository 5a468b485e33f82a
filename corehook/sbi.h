/* sbi.h — corehook as a UDM on the 5G service-based interface: its
 * configuration ("sbi" in corehook's JSON), the HTTP/2 server framing
 * (sbi_server.c, libnghttp2), the Nudm_UEAU handlers (sbi_ueau.c) and the
 * NRF client (sbi_nrf.c, nghttp2's client side on one reused h2c or
 * TLS (ALPN h2) connection). Reference: docs/corehook.md "Nudm_UEAU". */
#ifndef PROVCA_SBI_H
#define PROVCA_SBI_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "corehook.h"

#define SBI_ALLOW_MAX 16
#define SBI_BODY_MAX (16 * 1024) /* largest request body accepted */
#define SBI_MAX_STREAMS 128      /* concurrent streams per connection */
#define SBI_BUDGET_MS 10000      /* 3gpp-sbi-max-rsp-time of the AUSF */
#define SBI_UUID_LEN 36

/* The "sbi" object of corehook's configuration. listen "" = SBI off. */
typedef struct {
	char listen[128];    /* a.b.c.d:port (0: any free port) */
	char advertise[128]; /* host the NF profile names, "" = listen's */
	char nrf_uri[256];   /* http(s)://host:port, "" = no NRF */
	char nf_instance_id[SBI_UUID_LEN + 1];
	unsigned heartbeat_seconds; /* asked of the NRF; it may change it */
	int suci_null_scheme;       /* 1: accept SUCI protection scheme 0 */
	size_t allow_addr_count;    /* caller IPv4 addresses */
	char allow_addr[SBI_ALLOW_MAX][64];
	size_t allow_nf_count; /* caller NF instance IDs (any if 0) */
	char allow_nf[SBI_ALLOW_MAX][SBI_UUID_LEN + 1];
	/* TLS with ALPN h2 and client certificates: all three or none. */
	char tls_cert[512], tls_key[512], tls_client_ca[512];
	/* NRF over TLS (an https nrf_uri, "nrf_tls" in the JSON): the CA file
	 * the NRF's certificate must chain to; optionally a client certificate
	 * and key (TS 33.501 §13.1), both or neither. */
	char nrf_ca[512], nrf_cert[512], nrf_key[512];
} sbi_config_t;

/* Parse the "sbi" object o (NULL: SBI off, defaults) into out; relative
 * file names are taken relative to dir. */
struct cJSON;
int sbi_config_load(sbi_config_t *out, const struct cJSON *o, const char *dir,
    char *err, size_t errlen);

/* Add an "sbi" object (listen, nrf_uri, a fresh nf_instance_id, defaults)
 * to the configuration file at path, replaced atomically and kept 0600. */
int sbi_config_write(const char *path, const char *listen, const char *nrf,
    char *err, size_t errlen);

/* 1 if s is a lowercase-or-uppercase 8-4-4-4-12 UUID. */
int sbi_uuid_valid(const char *s);

/* A fresh random (version 4) UUID into out (SBI_UUID_LEN + 1 bytes). */
int sbi_uuid_new(char *out);

/* ---- metrics ---- */

enum {
	SBI_OP_GENERATE,
	SBI_OP_RESYNC,
	SBI_OP_EVENT_POST,
	SBI_OP_EVENT_PUT,
	SBI_OP_EVENT_DELETE,
	SBI_OP_OTHER,
	SBI_OP_N
};
enum {
	SBI_CAUSE_USER_NOT_FOUND,
	SBI_CAUSE_AUTH_REJECTED,
	SBI_CAUSE_SNN_NOT_AUTHORIZED,
	SBI_CAUSE_MANDATORY_IE_MISSING,
	SBI_CAUSE_MANDATORY_IE_INCORRECT,
	SBI_CAUSE_UNSUPPORTED_SCHEME,
	SBI_CAUSE_INVALID_HN_KEY_ID,
	SBI_CAUSE_INVALID_SCHEME_OUTPUT,
	SBI_CAUSE_CALLER_REFUSED,
	SBI_CAUSE_NOT_FOUND,
	SBI_CAUSE_BUDGET,
	SBI_CAUSE_INTERNAL,
	SBI_CAUSE_N
};
enum {
	SBI_NRF_REGISTER,
	SBI_NRF_HEARTBEAT,
	SBI_NRF_DEREGISTER,
	SBI_NRF_FAILURE,
	SBI_NRF_N
};

typedef struct {
	atomic_uint_fast64_t op[SBI_OP_N];
	atomic_uint_fast64_t op_us[SBI_OP_N]; /* latency sum, microseconds */
	atomic_uint_fast64_t cause[SBI_CAUSE_N];
	atomic_uint_fast64_t vectors, confirmations, auth_failures;
	atomic_uint_fast64_t streams, connections;
	atomic_uint_fast64_t nrf[SBI_NRF_N];
} sbi_metrics_t;

/* Prometheus text of m appended at buf + strlen(buf); -1 if it does not
 * fit in cap. */
int sbi_metrics_append(const sbi_metrics_t *m, char *buf, size_t cap);

/* ---- the HTTP/2 server (sbi_server.c) ---- */

/* One request as the handler sees it (pointers valid during the call). */
typedef struct {
	const char *method;
	const char *path;
	const char *authority;    /* "" if absent */
	const char *content_type; /* "" if absent */
	const char *peer;         /* caller IPv4 address */
	const uint8_t *body;
	size_t body_len;
} sbi_request_t;

/* The handler's answer; body is malloc'd (or NULL) and freed by the server. */
typedef struct {
	int status;
	char content_type[48];
	char location[512]; /* "" = no Location header */
	char *body;
	size_t body_len;
} sbi_response_t;

typedef void (
    *sbi_handler_fn)(void *arg, const sbi_request_t *req, sbi_response_t *resp);

typedef struct sbi_server sbi_server;

/* Listen on listen (IPv4:port) and serve h2c with prior knowledge, or
 * with TLS when sbi has tls_cert (ALPN h2, TLS 1.2+, a client certificate
 * issued by tls_client_ca required), from a thread per connection (at most
 * 64); fn answers each complete request. */
int sbi_server_start(sbi_server **out, const char *listen,
    const sbi_config_t *sbi, sbi_handler_fn fn, void *arg, sbi_metrics_t *m,
    char *err, size_t errlen);

/* The bound port. */
unsigned sbi_server_port(const sbi_server *s);

/* Stop accepting, close every connection, join the threads; NULL-safe. */
void sbi_server_stop(sbi_server *s);

/* Feed raw client bytes to a fresh server session (fuzzing and tests):
 * frames are parsed, complete requests answered by fn, output dropped. */
int sbi_server_feed(const uint8_t *data, size_t len, sbi_handler_fn fn,
    void *arg);

/* ---- Nudm_UEAU (sbi_ueau.c) ---- */

typedef struct sbi_ueau sbi_ueau;

/* Handlers over an open corehook; cfg and ch must outlive it. base is the
 * absolute URI prefix for Location when the request carries no usable
 * :authority (e.g. "http://127.0.0.1:7777"). */
int sbi_ueau_new(sbi_ueau **out, corehook *ch, const corehook_config *cfg,
    const sbi_config_t *sbi, sbi_metrics_t *m, const char *base, char *err,
    size_t errlen);
void sbi_ueau_free(sbi_ueau *u);

/* Replace the Location prefix (once the bound port is known). */
void sbi_ueau_set_base(sbi_ueau *u, const char *base);

/* An sbi_handler_fn: arg is the sbi_ueau. */
void sbi_ueau_handle(void *arg, const sbi_request_t *req, sbi_response_t *resp);

/* ---- NRF client (sbi_nrf.c) ---- */

typedef struct sbi_nrf sbi_nrf;

/* Start the NRF thread: NFRegister, heartbeats every heartBeatTimer (the
 * NRF's answer wins), re-registration when the NRF answers 404. host and
 * port are what the profile advertises; supi_first/last the IMSI range. */
int sbi_nrf_start(sbi_nrf **out, const sbi_config_t *sbi, const char *host,
    unsigned port, const char *supi_first, const char *supi_last,
    sbi_metrics_t *m, corehook_log_fn log, char *err, size_t errlen);

/* Deregister (DELETE) and stop the thread; NULL-safe. */
void sbi_nrf_stop(sbi_nrf *n);

/* The NFProfile JSON (malloc'd text) for sbi at host:port. */
char *sbi_nrf_profile(const sbi_config_t *sbi, const char *host, unsigned port,
    const char *supi_first, const char *supi_last, unsigned heartbeat);

#endif
