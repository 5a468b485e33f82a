/* ch_ctx.h — the corehook context and what corehook's files call on each
 * other, layered without a cycle (docs/corehook.md, "Source layout"):
 * corehook.c (open/close) and nas_retx.c (the T3560/T3550 thread) on
 * top; session.c (the session table and corehook_handle); provision.c and
 * nas_auth.c (the NAS steps); auth.c (5G-AKA); signer.c, suci_keys.c,
 * ca_lookup.c, nas_reply.c; ch_ctx.c (the log and the subscriber store
 * pool) and nas_timer.c (the timers' queue and resend bytes) at the
 * bottom. */
#ifndef PROVCA_CH_CTX_H
#define PROVCA_CH_CTX_H

#include "ch_int.h"
#include "nas.h"
#include "nas_sec.h"
#include "nas_timer.h"
#include "prov.h"
#include "subs.h"

#define CH_BUCKETS 4096

struct ch_session;

struct corehook {
	const corehook_config *cfg;
	corehook_log_fn log;
	void *logarg;
	EVP_PKEY *signer_key;
	X509 *signer_cert;
	STACK_OF(X509) * signer_chain; /* intermediates carried in every
	                                 * container, issuer first, no root */
	prov_signer *signer;           /* the above, checked and encoded once */
	X509 *anchor[CH_ALLOW_MAX];    /* per allow-list entry */
	ch_fetcher *fetch[CH_ALLOW_MAX];    /* per allow-list entry */
	ch_path_cache *paths[CH_ALLOW_MAX]; /* per allow-list entry */
	ch_ca_cache *cache;                 /* caches and limits (ca_cache.c) */
	char snn[64];                       /* serving network name */
	ch_metrics_t metrics;

	/* Pool of subscriber store connections, one per concurrent user
	 * (ch_ctx.c; db_ready once its lock exists). */
	int db_ready;
	pthread_mutex_t dbmu;
	pthread_cond_t dbcv;
	subs_db **dbfree;
	size_t ndbfree, ndb, ndbmax;
	/* Allocations and SQN steps share transactions and fsyncs. */
	subs_group *group;

	/* Sessions (session.c): hash table under smu; scv signals a session
	 * going idle. */
	pthread_mutex_t smu;
	pthread_cond_t scv;
	struct ch_session *bucket[CH_BUCKETS];
	size_t nsessions;
	unsigned long inserts;
	/* T3560/T3550 deadlines (nas_timer.h) while a caller retransmits
	 * (corehook_retx_start), else NULL. */
	ch_nas_timers *timers;

	/* SUCI home network private keys by key id (suci_keys.c), loaded
	 * once at open, read-only afterwards. */
	EVP_PKEY *suci_key[256];
	uint8_t suci_key_scheme[256];
	uint8_t suci_pub[33]; /* the configured key's public half */
	size_t suci_pub_len;
};

/* Load the home network keys of the configuration (the configured key id
 * must exist; COREHOOK_ERR_CONFIG otherwise). Free them with
 * ch_suci_close. */
int ch_suci_open(corehook *ch, char *err, size_t errlen);
void ch_suci_close(corehook *ch);

/* Put the configured home network public key, key id, profile and routing
 * indicator into a new subscription (nothing when none is configured). */
void ch_suci_sub_fill(const corehook *ch, prov_subscription_t *sub);

/* The SUPI of a SUCI: the null scheme as is (when allowed), else
 * de-concealed with the key its key id names. COREHOOK_ERR_ARG for a
 * refused or undecryptable SUCI, COREHOOK_ERR_NOTFOUND for an unknown key. */
int ch_suci_supi(const corehook *ch, char *supi, size_t cap,
    const nas_suci_t *s, char *err, size_t errlen);

/* ---- the log and the subscriber store pool (ch_ctx.c) ---- */

/* Log one line through the context's callback. */
void ch_log(corehook *ch, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Create the pool (its lock, the group commit) and open the store once, so
 * migrations run and errors surface at open; ch_db_pool_close frees it
 * (also after a failed or no open). */
int ch_db_pool_open(corehook *ch, char *err, size_t errlen);
void ch_db_pool_close(corehook *ch);

/* Borrow a subscriber store connection (opening one if the pool may grow,
 * else waiting for one); give it back with ch_db_put. */
int ch_db_get(corehook *ch, subs_db **out, char *err, size_t errlen);
void ch_db_put(corehook *ch, subs_db *db);

/* ---- the provisioning signer (signer.c) ---- */

/* Load the signer key (file or PKCS#11 URI), its certificate and the
 * intermediates containers carry; check that the key matches, the signer
 * EKU and the chain; prepare the prov_signer. COREHOOK_ERR_CONFIG with err
 * on any failure. ch_signer_close frees what was loaded (NULL-safe). */
int ch_signer_open(corehook *ch, char *err, size_t errlen);
void ch_signer_close(corehook *ch);

/* ---- the session table (session.c) ---- */

/* The table's lock (at open) and, at close, every session freed and the
 * lock destroyed. */
void ch_sessions_init(corehook *ch);
void ch_sessions_close(corehook *ch);

/* A T3560/T3550 entry id of session name came due: STALE (answered,
 * replaced, or the session is gone), RESEND with the retransmission in out
 * and the timer restarted, or ABORTED on the fifth expiry (the session's
 * state freed). *timer: which timer (for RESEND and ABORTED). */
enum { CH_EXPIRE_STALE = 0, CH_EXPIRE_RESEND = 1, CH_EXPIRE_ABORTED = 2 };
int ch_session_expire(corehook *ch, const char *name, uint64_t id, uint8_t *out,
    size_t cap, size_t *outlen, int *timer);

/* ---- NAS answers (nas_reply.c) ---- */

/* Encode m into out (COREHOOK_ERR_SPACE when it does not fit). */
int ch_nas_encode(uint8_t *out, size_t outcap, size_t *outlen,
    const nas_msg_t *m, char *err, size_t errlen);

/* Registration reject with cause, T3346 (0: none) and a payload container
 * (NULL: none), built in m and encoded into out. */
int ch_nas_reject(nas_msg_t *m, uint8_t cause, unsigned t3346,
    const uint8_t *container, size_t clen, uint8_t *out, size_t outcap,
    size_t *outlen, char *err, size_t errlen);

/* A message of type without fields (Registration accept: 3GPP access). */
int ch_nas_simple(nas_msg_t *m, int type, uint8_t *out, size_t outcap,
    size_t *outlen, char *err, size_t errlen);

/* m encoded and wrapped with security header type hdr in sec (the next
 * downlink COUNT). */
int ch_nas_protect(nas_sec_ctx_t *sec, uint8_t hdr, const nas_msg_t *m,
    uint8_t *out, size_t outcap, size_t *outlen, char *err, size_t errlen);

/* ---- provisioning (provision.c) ---- */

/* An onboarding Registration request rq of session: its payload
 * container provisioned (corehook_provision_from), answered with a
 * Registration reject carrying the container or the refusal's cause; #96
 * without a ProvCA payload container. */
int ch_prov_nas(corehook *ch, const char *session, const nas_reg_request_t *rq,
    nas_msg_t *m, uint8_t *out, size_t outcap, size_t *outlen, char *err,
    size_t errlen);

/* ---- the NAS side of 5G-AKA per session (nas_auth.c) ---- */

/* CH_NAS_SMC: Security mode command sent; CH_NAS_ACCEPTED: protected
 * Registration accept sent, Registration complete awaited. */
enum { CH_NAS_IDLE = 0, CH_NAS_AUTH = 1, CH_NAS_SMC = 2, CH_NAS_ACCEPTED = 3 };

/* A session's 5G-AKA and NAS security state, used by one thread at a time
 * (the session is busy). */
typedef struct {
	const char *name; /* the session's name, for log lines */
	int state;
	int resynced;
	uint8_t ksi;
	corehook_av_t av;
	/* NAS security: the UE's capabilities, the algorithms chosen for
	 * them, and the context of the last K_AMF (have_sec). The context
	 * lives only in this session: a restart loses it, and the UE's next
	 * registration runs 5G-AKA for a new K_AMF, so no COUNT is ever
	 * reused with the same key. */
	uint8_t ue_caps[NAS_UE_SEC_CAP_MAX];
	size_t ue_caps_len;
	uint8_t enc_alg, int_alg;
	int have_sec;
	nas_sec_ctx_t sec;
	char supi[NAS_SUPI_MAX]; /* IMSI digits of the last AKA */
	/* The downlink T3560/T3550 guards (nas_timer.h): noted here when an
	 * Authentication request, Security mode command or Registration
	 * accept is built, armed and resent by session.c. */
	ch_nas_dl_t dl;
} ch_nas_state;

/* Back to idle: the vector, the security context and the awaited
 * downlink wiped. */
void ch_nas_state_reset(ch_nas_state *s);

/* A normal (initial, SUCI) Registration request: SUPI, NAS algorithms, a
 * vector → Authentication request; rejects #3, #23, #96, #22. */
int ch_auth_on_registration(corehook *ch, ch_nas_state *s,
    const nas_reg_request_t *rq, nas_msg_t *m, uint8_t *out, size_t outcap,
    size_t *outlen, char *err, size_t errlen);

/* Authentication response (state CH_NAS_AUTH): RES* checked, a pending
 * subscription confirmed → Security mode command; Authentication reject on
 * a mismatch. */
int ch_auth_on_response(corehook *ch, ch_nas_state *s,
    const nas_auth_response_t *ar, nas_msg_t *m, uint8_t *out, size_t outcap,
    size_t *outlen, char *err, size_t errlen);

/* Authentication failure (state CH_NAS_AUTH): synch failure → resync once
 * and a new Authentication request; else Authentication reject. */
int ch_auth_on_failure(corehook *ch, ch_nas_state *s,
    const nas_auth_failure_t *af, nas_msg_t *m, uint8_t *out, size_t outcap,
    size_t *outlen, char *err, size_t errlen);

/* Security mode reject (state CH_NAS_SMC): context dropped, no answer. */
int ch_auth_on_smc_reject(corehook *ch, ch_nas_state *s, uint8_t cause);

/* A protected message opened under header type hdr: Security mode
 * complete → protected Registration accept; Registration complete ends the
 * procedure; anything else discarded (no answer). */
int ch_auth_on_protected(corehook *ch, ch_nas_state *s, uint8_t hdr,
    nas_msg_t *m, uint8_t *out, size_t outcap, size_t *outlen, char *err,
    size_t errlen);

/* Open a protected message in s's context into plain. 1: use plain;
 * 0: discarded (no context, bad MAC, replayed COUNT), counted. */
int ch_auth_sec_open(corehook *ch, ch_nas_state *s, const uint8_t *in,
    size_t inlen, uint8_t *plain, size_t cap, size_t *plen, uint8_t *hdr);

/* ---- the CA lookup (ca_lookup.c) ---- */

/* The verified public key of device_id at allow-list entry idx for a
 * provisioning from session (its source address is rate-limited; NULL:
 * none), through the caches and limits (ca_lookup.c), fetching url from
 * the CA only when they allow. CH_PROV_PROVISIONED with *pub (and pub_enc
 * as ch_context_verify's) set, or the outcome of the refusal (UNKNOWN,
 * REVOKED, SUSPENDED, INVALID_CERT, CA_UNAVAILABLE, RATE_LIMITED,
 * INTERNAL) with err. */
int ch_ca_lookup(corehook *ch, size_t idx, const char *url,
    const char *device_id, const char *session, EVP_PKEY **pub,
    uint8_t pub_enc[65], char *err, size_t errlen);

#endif
