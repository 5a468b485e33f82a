/* corehook.h — the AUSF hook of ProvCA as a library an AUSF/AMF can call.
 *
 * A corehook context holds the operator's configuration (PLMN, MSIN range,
 * OP/AMF, profile, the CA allow-list, the provisioning signer), the
 * subscriber store, the per-peer NAS state and the metrics. Every function
 * taking a corehook * is thread-safe: many UEs are served at once, each
 * session (a peer address, an HTTP session name, an AMF's UE context id) is
 * processed by one thread at a time, and a CA fetch for one UE never blocks
 * another. The library never prints; log lines go to the callback given to
 * corehook_open. Reference: docs/corehook.md. */
#ifndef PROVCA_COREHOOK_H
#define PROVCA_COREHOOK_H

#include <stddef.h>
#include <stdint.h>

typedef struct corehook corehook;
typedef struct corehook_config corehook_config;

/* Error codes (0 is success). */
enum {
	COREHOOK_OK = 0,
	COREHOOK_ERR = -1,            /* internal failure; see err */
	COREHOOK_ERR_CONFIG = -2,     /* configuration missing or invalid */
	COREHOOK_ERR_ARG = -3,        /* bad argument (programming error) */
	COREHOOK_ERR_INPROGRESS = -4, /* same session busy and NOWAIT given */
	COREHOOK_ERR_SPACE = -5,      /* output buffer too small */
	COREHOOK_ERR_NOTFOUND = -6,   /* no such subscriber */
	COREHOOK_ERR_AUTH = -7        /* AUTS (MAC-S) does not verify */
};

/* Largest NAS message corehook reads or writes (NAS_MAX_MSG_LEN). */
#define COREHOOK_NAS_MAX 8192
/* Longest session name. */
#define COREHOOK_SESSION_MAX 128

/* ---- configuration ---- */

/* Load the JSON configuration at path; relative file names in it are taken
 * relative to the file's folder. Every setting and its default:
 * docs/corehook.md. */
int corehook_config_load(corehook_config **out, const char *path, char *err,
    size_t errlen);

/* Free a configuration; NULL-safe. Wipes OP/OPc. */
void corehook_config_free(corehook_config *cfg);

/* Write a complete configuration with every default to path (created
 * exclusively, 0600). ca_base_url, client_cert, client_key, ca_root,
 * signer_cert, signer_chain and signer_key may be NULL (the default file
 * names are written: signer.crt, signer-chain.pem, signer.key — what
 * `ca-server principal add --name signer --role signer --out DIR` writes); op_hex
 * NULL draws a random OP. */
int corehook_config_write_default(const char *path, const char *ca_base_url,
    const char *client_cert, const char *client_key, const char *ca_root,
    const char *signer_cert, const char *signer_chain, const char *signer_key,
    const char *op_hex, char *err, size_t errlen);

/* Settings the daemon needs (pointers live as long as cfg). */
const char *corehook_config_nas_listen(const corehook_config *cfg);
const char *corehook_config_http_listen(const corehook_config *cfg);
const char *corehook_config_db_path(const corehook_config *cfg);
unsigned corehook_config_workers(const corehook_config *cfg);

/* ---- context ---- */

enum { COREHOOK_LOG_INFO = 0, COREHOOK_LOG_WARN = 1, COREHOOK_LOG_ERR = 2 };
typedef void (*corehook_log_fn)(void *arg, int level, const char *line);

/* Open a context: open the subscriber store (applying migrations), load the
 * signer key/certificate and every allow-list entry's files. cfg must
 * outlive the context. log may be NULL. */
int corehook_open(corehook **out, const corehook_config *cfg,
    corehook_log_fn log, void *logarg, char *err, size_t errlen);

/* Close a context; waits for nothing: call after every corehook_handle has
 * returned. NULL-safe. */
void corehook_close(corehook *ch);

/* ---- the NAS state machine ---- */

/* corehook_handle flags. */
#define COREHOOK_NOWAIT 0x1 /* session busy: return INPROGRESS at once */
#define COREHOOK_RETX \
	0x2 /* the caller retransmits (corehook_retx_start):
                               * start T3560/T3550 for this session's answer */

/*
 * Handle one NAS message in (inlen bytes) from session and write the answer
 * to out (outcap >= COREHOOK_NAS_MAX always suffices); *outlen = 0 means
 * nothing is to be sent. A retransmission (the same bytes as the session's
 * previous message) is answered from the session's cache without being
 * processed again. While the session is busy with an earlier message the
 * call waits for it, or returns COREHOOK_ERR_INPROGRESS under NOWAIT.
 * Provisioning requests may block for the CA fetch (bounded by the
 * configured timeouts). Protocol failures are answers (a reject with the
 * 5GMM cause of docs/protocol.md), not errors.
 */
int corehook_handle(corehook *ch, const char *session, const uint8_t *in,
    size_t inlen, uint8_t *out, size_t outcap, size_t *outlen, int flags,
    char *err, size_t errlen);

/* ---- network-side retransmission (T3560, T3550) ---- */

/* Send pdu to session (a name given to corehook_handle); called from the
 * timer thread. */
typedef void (*corehook_send_fn)(void *arg, const char *session,
    const uint8_t *pdu, size_t len);
typedef struct corehook_retx corehook_retx;

/* Start the timer thread: an Authentication request or Security mode
 * command (T3560) or Registration accept (T3550) answered by
 * corehook_handle with COREHOOK_RETX is sent again through send on each of
 * the first four expiries of the configured duration (a protected one
 * with the next downlink NAS COUNT); the fifth expiry aborts the procedure
 * and frees the session's state. One per context, before the first
 * corehook_handle with COREHOOK_RETX. */
int corehook_retx_start(corehook_retx **out, corehook *ch,
    corehook_send_fn send, void *arg, char *err, size_t errlen);

/* Stop the timer thread (pending timers are dropped); call before
 * corehook_close and after the last corehook_handle. NULL-safe. */
void corehook_retx_stop(corehook_retx *r);

/* Append the retransmission and abort counters (Prometheus text) to the
 * NUL-terminated buf of cap bytes; COREHOOK_ERR_SPACE if they do not fit. */
int corehook_retx_metrics_write(const corehook_retx *r, char *buf, size_t cap);

/* ---- lower-level calls ---- */

/* Outcome of one provisioning attempt. */
typedef struct {
	uint8_t cause;        /* 5GMM cause: 9 on success */
	unsigned t3346;       /* back-off seconds for cause 22, else 0 */
	char outcome[24];     /* metrics label: "provisioned", "revoked"... */
	char device_id[65];   /* "" when the URL gave none */
	char supi[16];        /* IMSI digits on success */
	char reason[256];     /* for the log line */
	size_t container_len; /* signed container on success */
	uint8_t container[8192];
} corehook_prov_result_t;

/* Provision from a provisioning request (the Payload container's bytes,
 * docs/protocol.md): decode, serving network name check, allow-list, a
 * replay check on the stored counter, fetch, verify the certificate,
 * verify the request's signature with the certificate's key, allocate +
 * commit as pending (counter checked and stored in the same transaction),
 * seal + sign. Nothing is stored for a refused request. Always fills out
 * (cause and reason) and logs one line; returns COREHOOK_OK when
 * out->cause is set (whatever it is), an error only for programming
 * errors. */
int corehook_provision(corehook *ch, corehook_prov_result_t *out,
    const uint8_t *request, size_t len);

/* corehook_provision for a request that arrived in session (a
 * corehook_handle session name, NULL: unknown): "udp:ADDR:PORT" sessions
 * share their address's rate limit of refused provisionings, HTTP
 * endpoint sessions share one (docs/corehook.md, "Caches and limits"). */
int corehook_provision_from(corehook *ch, corehook_prov_result_t *out,
    const uint8_t *request, size_t len, const char *session);

/* One 5G authentication vector as the AUSF keeps it. Holds keys: wipe
 * with corehook_av_clear. */
typedef struct {
	char supi[16];
	uint8_t rand[16];
	uint8_t autn[16];
	uint8_t xres_star[16];
	uint8_t hxres_star[16];
	uint8_t kausf[32];
	uint8_t kseaf[32];
	uint64_t sqn;
	int pending; /* the subscription is still pending */
} corehook_av_t;

/* Fresh vector for the active subscriber supi (IMSI digits): new RAND, the
 * next SQN (persisted before return). COREHOOK_ERR_NOTFOUND if unknown. */
int corehook_av_generate(corehook *ch, corehook_av_t *out, const char *supi,
    char *err, size_t errlen);

/* Confirm RES* (16 bytes) against av: HRES* vs HXRES* then RES* vs XRES*,
 * in constant time. On a match returns 1 and writes K_AMF (32 bytes,
 * ABBA 0x0000) to kamf (may be NULL); 0 on mismatch. */
int corehook_res_confirm(const corehook_av_t *av, const uint8_t *res_star,
    uint8_t *kamf);

/* The device completed 5G-AKA with supi (corehook_res_confirm accepted):
 * a pending subscription becomes active and the device's previous one is
 * retired, its keys wiped (*promoted = 1, may be NULL); an active one is
 * left as it is. COREHOOK_ERR_NOTFOUND if supi has no live row. */
int corehook_confirm(corehook *ch, const char *supi, int *promoted, char *err,
    size_t errlen);

/* Resynchronise: recover SQN_MS from AUTS (14 bytes) for the RAND that
 * was sent, and store it as the subscriber's SQN. COREHOOK_ERR_AUTH if the
 * AUTS does not verify. */
int corehook_resync(corehook *ch, const char *supi, const uint8_t *rand,
    const uint8_t *auts, char *err, size_t errlen);

/* Wipe a vector; NULL-safe. */
void corehook_av_clear(corehook_av_t *av);

/* Prometheus text exposition of the metrics into buf (NUL-terminated);
 * COREHOOK_ERR_SPACE if it does not fit. */
int corehook_metrics_write(corehook *ch, char *buf, size_t cap);

#endif
