/* ch_ctx.h — the corehook context shared by corehook.c (provisioning, AKA,
 * store pool) and session.c (the per-session NAS state machine). */
#ifndef PROVCA_CH_CTX_H
#define PROVCA_CH_CTX_H

#include "ch_int.h"
#include "nas.h"
#include "prov.h"
#include "subs.h"

#define CH_BUCKETS 4096

struct ch_session;
struct ch_nas_timers;

struct corehook {
	const corehook_config *cfg;
	corehook_log_fn log;
	void *logarg;
	EVP_PKEY *signer_key;
	X509 *signer_cert;
	STACK_OF(X509) *signer_chain;   /* intermediates carried in every
	                                 * container, issuer first, no root */
	prov_signer *signer;            /* the above, checked and encoded once */
	X509 *anchor[CH_ALLOW_MAX];     /* per allow-list entry */
	ch_fetcher *fetch[CH_ALLOW_MAX]; /* per allow-list entry */
	ch_path_cache *paths[CH_ALLOW_MAX]; /* per allow-list entry */
	ch_ca_cache *cache;             /* caches and limits (ca_cache.c) */
	char snn[64];                   /* serving network name */
	ch_metrics_t metrics;

	/* Pool of subscriber store connections, one per concurrent user. */
	pthread_mutex_t dbmu;
	pthread_cond_t dbcv;
	subs_db **dbfree;
	size_t ndbfree, ndb, ndbmax;
	/* Allocations and SQN steps share transactions and fsyncs. */
	subs_group *group;

	/* Sessions: hash table under smu; scv signals a session going idle. */
	pthread_mutex_t smu;
	pthread_cond_t scv;
	struct ch_session *bucket[CH_BUCKETS];
	size_t nsessions;
	unsigned long inserts;
	/* T3560/T3550 deadlines (nas_timer.h) while a caller retransmits
	 * (corehook_retx_start), else NULL. */
	struct ch_nas_timers *timers;

	/* SUCI home network private keys by key id (suci_keys.c), loaded
	 * once at open, read-only afterwards. */
	EVP_PKEY *suci_key[256];
	uint8_t suci_key_scheme[256];
	uint8_t suci_pub[33];           /* the configured key's public half */
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

/* Log one line through the context's callback. */
void ch_log(corehook *ch, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Borrow a subscriber store connection (opening one if the pool may grow,
 * else waiting for one); give it back with ch_db_put. */
int ch_db_get(corehook *ch, subs_db **out, char *err, size_t errlen);
void ch_db_put(corehook *ch, subs_db *db);

/* Free every session (at close). */
void ch_sessions_free(corehook *ch);

/* A T3560/T3550 entry id of session name came due: STALE (answered,
 * replaced, or the session is gone), RESEND with the retransmission in out
 * and the timer restarted, or ABORTED on the fifth expiry (the session's
 * state freed). *timer: which timer (for RESEND and ABORTED). */
enum { CH_EXPIRE_STALE = 0, CH_EXPIRE_RESEND = 1, CH_EXPIRE_ABORTED = 2 };
int ch_session_expire(corehook *ch, const char *name, uint64_t id,
    uint8_t *out, size_t cap, size_t *outlen, int *timer);

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
