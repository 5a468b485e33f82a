/* session.c — the session table and corehook_handle: one thread per
 * session at a time, the per-session retransmission cache, the security
 * gate in front of the decoder, and the dispatch of each message to
 * provisioning (provision.c) or the 5G-AKA / security mode steps
 * (nas_auth.c); the T3560/T3550 hooks (nas_timer.h): the downlink
 * nas_auth.c noted is armed after its message is processed, and sent again
 * or the procedure aborted by ch_session_expire. */
#include "ch_ctx.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "nas.h"
#include "nas_sec.h"
#include "nas_timer.h"
#include "util.h"

/* One session of the table: its name, the retransmission cache (its last
 * message and the answer) and its NAS state (nas_auth.c). */
typedef struct ch_session {
	struct ch_session *next;
	char name[COREHOOK_SESSION_MAX + 1];
	int busy;
	unsigned refs;
	time_t last_used;
	uint8_t *req; /* last message and its answer (cache) */
	size_t reqlen;
	uint8_t *resp;
	size_t resplen;
	ch_nas_state nas;
} ch_session;

/* The bucket of a session name (FNV-1a). */
static uint32_t name_hash(const char *s)
{
	uint32_t h = 2166136261u; /* FNV-1a */

	for (; *s != '\0'; s++)
		h = (h ^ (uint8_t)*s) * 16777619u;
	return h % CH_BUCKETS;
}

/* Free a session, its keys wiped; NULL-safe. */
static void session_free(ch_session *s)
{
	if (s == NULL)
		return;
	ch_nas_state_reset(&s->nas);
	free(s->req);
	free(s->resp);
	free(s);
}

/* The table's lock and condition. */
void ch_sessions_init(corehook *ch)
{
	pthread_mutex_init(&ch->smu, NULL);
	pthread_cond_init(&ch->scv, NULL);
}

/* Every session freed, the lock destroyed (at close). */
void ch_sessions_close(corehook *ch)
{
	size_t i;

	for (i = 0; i < CH_BUCKETS; i++) {
		ch_session *s = ch->bucket[i], *n;

		for (; s != NULL; s = n) {
			n = s->next;
			session_free(s);
		}
		ch->bucket[i] = NULL;
	}
	ch->nsessions = 0;
	pthread_mutex_destroy(&ch->smu);
	pthread_cond_destroy(&ch->scv);
}

/* Drop idle sessions unused for the TTL (under smu). */
static void sessions_sweep(corehook *ch, time_t now)
{
	size_t i;

	for (i = 0; i < CH_BUCKETS; i++) {
		ch_session **pp = &ch->bucket[i];

		while (*pp != NULL) {
			ch_session *s = *pp;

			if (!s->busy && s->refs == 0 &&
			    now - s->last_used >
			        (time_t)ch->cfg->session_ttl_seconds) {
				*pp = s->next;
				session_free(s);
				ch->nsessions--;
			} else {
				pp = &s->next;
			}
		}
	}
}

/* Find or create the session (under smu); NULL when the table is full. */
static ch_session *session_get(corehook *ch, const char *name, time_t now)
{
	uint32_t h = name_hash(name);
	ch_session *s;

	for (s = ch->bucket[h]; s != NULL; s = s->next)
		if (strcmp(s->name, name) == 0)
			break;
	if (s != NULL) {
		/* An expired session starts over. */
		if (!s->busy && s->refs == 0 &&
		    now - s->last_used > (time_t)ch->cfg->session_ttl_seconds) {
			free(s->req);
			free(s->resp);
			s->req = s->resp = NULL;
			s->reqlen = s->resplen = 0;
			ch_nas_state_reset(&s->nas);
		}
		return s;
	}
	if (++ch->inserts % 1024 == 0 || ch->nsessions >= ch->cfg->max_sessions)
		sessions_sweep(ch, now);
	if (ch->nsessions >= ch->cfg->max_sessions)
		return NULL;
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return NULL;
	snprintf(s->name, sizeof(s->name), "%s", name);
	s->nas.name = s->name;
	s->last_used = now;
	s->next = ch->bucket[h];
	ch->bucket[h] = s;
	ch->nsessions++;
	return s;
}

/* The security gate in front of the decoder: a protected message is opened
 * into *plain (allocated here, COREHOOK_NAS_MAX octets) and *in / *inlen
 * point at its plain message; once a context is on, only a new
 * Registration request (or the UE's Security mode reject) may come in
 * clear. 1: decode what *in points at; 0: discarded, counted. */
static int sec_gate(corehook *ch, ch_session *s, const uint8_t **in,
    size_t *inlen, uint8_t **plain, uint8_t *hdr)
{
	int sh = nas_sec_header_type(*in, *inlen);
	int st = s->nas.state;
	size_t plen = 0;

	if (sh > 0) {
		if ((*plain = OPENSSL_malloc(COREHOOK_NAS_MAX)) == NULL ||
		    !ch_auth_sec_open(ch, &s->nas, *in, *inlen, *plain,
		        COREHOOK_NAS_MAX, &plen, hdr))
			return 0;
		*in = *plain;
		*inlen = plen;
		return 1;
	}
	if (sh == 0 && (st == CH_NAS_SMC || st == CH_NAS_ACCEPTED) &&
	    !(*inlen >= 3 &&
	        ((*in)[2] == NAS_MSG_REGISTRATION_REQUEST ||
	            (st == CH_NAS_SMC &&
	                (*in)[2] == NAS_MSG_SECURITY_MODE_REJECT)))) {
		atomic_fetch_add(&ch->metrics.nas_sec_plain, 1);
		ch_log(ch, COREHOOK_LOG_WARN,
		    "nas session=%s outcome=discarded"
		    " reason=unprotected message in a protected exchange",
		    s->name);
		return 0;
	}
	return 1;
}

/* A message that does not decode: counted (as a malformed provisioning
 * too when it looks like a Registration request) and rejected #96. */
static int on_malformed(corehook *ch, ch_session *s, const uint8_t *in,
    size_t inlen, int r, nas_msg_t *m, uint8_t *out, size_t outcap,
    size_t *outlen, char *err, size_t errlen)
{
	atomic_fetch_add(&ch->metrics.nas_malformed, 1);
	if (inlen >= 3 && in[0] == NAS_EPD_5GMM &&
	    in[2] == NAS_MSG_REGISTRATION_REQUEST)
		atomic_fetch_add(&ch->metrics.prov[CH_PROV_MALFORMED], 1);
	ch_log(ch, COREHOOK_LOG_WARN,
	    "nas session=%s outcome=malformed"
	    " cause=96 reason=%s",
	    s->name, nas_strerror(r));
	return ch_nas_reject(m, NAS_CAUSE_INVALID_MANDATORY_INFO, 0, NULL, 0,
	    out, outcap, outlen, err, errlen);
}

/* A message this session's state does not expect (a network-to-UE message
 * sent to the network, one that needs a security context the session does
 * not have, an authentication answer without a challenge): counted and
 * rejected #96. */
static int on_unexpected(corehook *ch, ch_session *s, nas_msg_t *m,
    uint8_t *out, size_t outcap, size_t *outlen, char *err, size_t errlen)
{
	atomic_fetch_add(&ch->metrics.nas_malformed, 1);
	if (m->type == NAS_MSG_AUTH_RESPONSE || m->type == NAS_MSG_AUTH_FAILURE)
		ch_log(ch, COREHOOK_LOG_WARN,
		    "nas session=%s reason=%s"
		    " without authentication in progress",
		    s->name, nas_msg_name(m->type));
	else
		ch_log(ch, COREHOOK_LOG_WARN,
		    "nas session=%s reason=unexpected"
		    " %s",
		    s->name, nas_msg_name(m->type));
	return ch_nas_reject(m, NAS_CAUSE_INVALID_MANDATORY_INFO, 0, NULL, 0,
	    out, outcap, outlen, err, errlen);
}

/* A Registration request: onboarding to provisioning, any other to the
 * 5G-AKA steps (the request copied out of m, which the answer reuses). */
static int on_registration(corehook *ch, ch_session *s, nas_msg_t *m,
    uint8_t *out, size_t outcap, size_t *outlen, char *err, size_t errlen)
{
	nas_reg_request_t *rq = malloc(sizeof(*rq));
	int rc;

	if (rq == NULL) {
		util_err_set(err, errlen, "out of memory");
		return COREHOOK_ERR;
	}
	*rq = m->reg_req;
	if (rq->reg_type == NAS_REG_SNPN_ONBOARDING)
		rc = ch_prov_nas(ch, s->name, rq, m, out, outcap, outlen, err,
		    errlen);
	else
		rc = ch_auth_on_registration(ch, &s->nas, rq, m, out, outcap,
		    outlen, err, errlen);
	free(rq);
	return rc;
}

/* Dispatch the decoded plain message m (hdr: the security header it came
 * under, 0 for none) by type and the session's state. */
static int dispatch(corehook *ch, ch_session *s, uint8_t hdr, nas_msg_t *m,
    uint8_t *out, size_t outcap, size_t *outlen, char *err, size_t errlen)
{
	if (hdr > 0)
		return ch_auth_on_protected(ch, &s->nas, hdr, m, out, outcap,
		    outlen, err, errlen);
	switch (m->type) {
	case NAS_MSG_SECURITY_MODE_REJECT:
		if (s->nas.state != CH_NAS_SMC)
			break;
		return ch_auth_on_smc_reject(ch, &s->nas, m->smc_rej.cause);
	case NAS_MSG_REGISTRATION_REQUEST:
		return on_registration(ch, s, m, out, outcap, outlen, err,
		    errlen);
	case NAS_MSG_AUTH_RESPONSE: {
		nas_auth_response_t ar = m->auth_resp;

		if (s->nas.state != CH_NAS_AUTH)
			break;
		return ch_auth_on_response(ch, &s->nas, &ar, m, out, outcap,
		    outlen, err, errlen);
	}
	case NAS_MSG_AUTH_FAILURE: {
		nas_auth_failure_t af = m->auth_fail;

		if (s->nas.state != CH_NAS_AUTH)
			break;
		return ch_auth_on_failure(ch, &s->nas, &af, m, out, outcap,
		    outlen, err, errlen);
	}
	default: break;
	}
	return on_unexpected(ch, s, m, out, outcap, outlen, err, errlen);
}

/* Process one message of session s (s is busy: only this thread uses it). */
static int process(corehook *ch, ch_session *s, const uint8_t *in, size_t inlen,
    uint8_t *out, size_t outcap, size_t *outlen, char *err, size_t errlen)
{
	nas_msg_t *m = NULL;
	uint8_t *plain = NULL, hdr = 0;
	int rc = COREHOOK_ERR, r;

	*outlen = 0;
	if ((m = malloc(sizeof(*m))) == NULL) {
		util_err_set(err, errlen, "out of memory");
		goto out;
	}
	if (!sec_gate(ch, s, &in, &inlen, &plain, &hdr)) {
		rc = COREHOOK_OK; /* discarded: no answer */
		goto out;
	}
	r = nas_decode(m, in, inlen);
	if (r != NAS_OK)
		rc = on_malformed(ch, s, in, inlen, r, m, out, outcap, outlen,
		    err, errlen);
	else
		rc = dispatch(ch, s, hdr, m, out, outcap, outlen, err, errlen);
out:
	if (m != NULL)
		OPENSSL_cleanse(m, sizeof(*m));
	free(m);
	if (plain != NULL)
		OPENSSL_clear_free(plain, COREHOOK_NAS_MAX);
	return rc;
}

/* After a message of s was processed (s busy): start T3560/T3550 for the
 * downlink it noted, when the caller retransmits (COREHOOK_RETX). */
static void session_timer_arm(corehook *ch, ch_session *s, int flags)
{
	if (!s->nas.dl.fresh)
		return;
	s->nas.dl.state = s->nas.state;
	if (!(flags & COREHOOK_RETX) || ch->timers == NULL)
		return;
	if (ch_nas_timers_arm(ch->timers, s->name, &s->nas.dl,
	        (uint64_t)ch_now_ms()) != 0)
		ch_log(ch, COREHOOK_LOG_WARN,
		    "nas session=%s reason=timer queue "
		    "full, %s not started",
		    s->name, ch_nas_timer_name(s->nas.dl.timer));
}

/* After process answered rc with out (s busy): the timer armed, the
 * message and its answer kept for retransmissions (when rc is OK), s
 * released. */
static void session_done(corehook *ch, ch_session *s, int rc, int flags,
    const uint8_t *in, size_t inlen, const uint8_t *out, size_t outlen)
{
	uint8_t *req = NULL, *resp = NULL;

	if (rc == COREHOOK_OK)
		session_timer_arm(ch, s, flags);
	if (rc == COREHOOK_OK && (req = malloc(inlen)) != NULL &&
	    (resp = malloc(outlen > 0 ? outlen : 1)) != NULL) {
		memcpy(req, in, inlen);
		memcpy(resp, out, outlen);
	} else {
		free(req);
		req = NULL;
	}

	pthread_mutex_lock(&ch->smu);
	free(s->req);
	free(s->resp);
	s->req = req;
	s->reqlen = req != NULL ? inlen : 0;
	s->resp = req != NULL ? resp : NULL;
	s->resplen = req != NULL ? outlen : 0;
	s->busy = 0;
	s->refs--;
	s->last_used = time(NULL);
	pthread_cond_broadcast(&ch->scv);
	pthread_mutex_unlock(&ch->smu);
}

/* One NAS message of a session (contract in corehook.h): retransmissions
 * answered from the cache, one thread per session at a time. */
int corehook_handle(corehook *ch, const char *session, const uint8_t *in,
    size_t inlen, uint8_t *out, size_t outcap, size_t *outlen, int flags,
    char *err, size_t errlen)
{
	ch_session *s;
	time_t now = time(NULL);
	int rc;

	if (ch == NULL || session == NULL || in == NULL || out == NULL ||
	    outlen == NULL || strlen(session) == 0 ||
	    strlen(session) > COREHOOK_SESSION_MAX) {
		util_err_set(err, errlen, "bad argument");
		return COREHOOK_ERR_ARG;
	}
	*outlen = 0;
	if (inlen == 0 || inlen > COREHOOK_NAS_MAX) {
		util_err_set(err, errlen, "NAS message of %zu bytes", inlen);
		return COREHOOK_ERR_ARG;
	}
	atomic_fetch_add(&ch->metrics.nas_in, 1);
	pthread_mutex_lock(&ch->smu);
	if ((s = session_get(ch, session, now)) == NULL) {
		pthread_mutex_unlock(&ch->smu);
		util_err_set(err, errlen, "session table full");
		return COREHOOK_ERR;
	}
	s->refs++;
	while (s->busy) {
		if (flags & COREHOOK_NOWAIT) {
			s->refs--;
			pthread_mutex_unlock(&ch->smu);
			util_err_set(err, errlen, "session busy");
			return COREHOOK_ERR_INPROGRESS;
		}
		pthread_cond_wait(&ch->scv, &ch->smu);
	}
	if (s->req != NULL && s->reqlen == inlen &&
	    memcmp(s->req, in, inlen) == 0) {
		/* A retransmission: the same answer, nothing done twice. */
		rc = COREHOOK_OK;
		if (s->resplen > outcap) {
			rc = COREHOOK_ERR_SPACE;
		} else {
			memcpy(out, s->resp, s->resplen);
			*outlen = s->resplen;
		}
		s->last_used = now;
		s->refs--;
		pthread_mutex_unlock(&ch->smu);
		atomic_fetch_add(&ch->metrics.nas_dup, 1);
		return rc;
	}
	s->busy = 1;
	pthread_mutex_unlock(&ch->smu);

	rc = process(ch, s, in, inlen, out, outcap, outlen, err, errlen);
	session_done(ch, s, rc, flags, in, inlen, out, *outlen);
	return rc;
}

/* Unlink s from the table and free it, or (a thread waits for it) reset
 * it to a session that never registered (under smu). */
static void session_drop(corehook *ch, ch_session *s)
{
	ch_session **pp = &ch->bucket[name_hash(s->name)];

	if (s->refs > 0) {
		free(s->req);
		free(s->resp);
		s->req = s->resp = NULL;
		s->reqlen = s->resplen = 0;
		ch_nas_state_reset(&s->nas);
		s->nas.supi[0] = '\0';
		return;
	}
	for (; *pp != NULL; pp = &(*pp)->next)
		if (*pp == s) {
			*pp = s->next;
			session_free(s);
			ch->nsessions--;
			return;
		}
}

/* A T3560/T3550 entry came due (contract in ch_ctx.h): stale, resent with
 * the timer restarted, or the procedure aborted on the fifth expiry. */
int ch_session_expire(corehook *ch, const char *name, uint64_t id, uint8_t *out,
    size_t cap, size_t *outlen, int *timer)
{
	ch_session *s;
	ch_nas_state *n;
	uint64_t now = (uint64_t)ch_now_ms();
	int rc = CH_EXPIRE_STALE;

	*outlen = 0;
	*timer = CH_TIMER_NONE;
	pthread_mutex_lock(&ch->smu);
	for (s = ch->bucket[name_hash(name)]; s != NULL; s = s->next)
		if (strcmp(s->name, name) == 0)
			break;
	if (s == NULL)
		goto out;
	if (s->busy) {
		/* An uplink is being processed (its thread owns s->nas): look
		 * again a little later. */
		(void)ch_nas_timers_defer(ch->timers, name, id, now);
		goto out;
	}
	n = &s->nas;
	if (n->dl.armed != id || n->dl.timer == CH_TIMER_NONE ||
	    n->state != n->dl.state)
		goto out; /* answered or replaced: the procedure moved on */
	*timer = n->dl.timer;
	if (n->dl.expiries >= CH_RETX_MAX) {
		ch_log(ch, COREHOOK_LOG_WARN,
		    "nas session=%s supi=%s timer=%s "
		    "outcome=aborted expiries=%u (session state freed)",
		    name, n->state == CH_NAS_AUTH ? n->av.supi : n->supi,
		    ch_nas_timer_name(n->dl.timer), n->dl.expiries + 1);
		session_drop(ch, s);
		rc = CH_EXPIRE_ABORTED;
		goto out;
	}
	s->busy = 1;
	pthread_mutex_unlock(&ch->smu);
	if (ch_nas_dl_resend(out, cap, outlen, &n->dl, &n->sec) == 0) {
		n->dl.expiries++;
		rc = CH_EXPIRE_RESEND;
		if (ch_nas_timers_arm(ch->timers, name, &n->dl, now) != 0)
			ch_log(ch, COREHOOK_LOG_WARN,
			    "nas session=%s reason=timer"
			    " queue full, %s stopped",
			    name, ch_nas_timer_name(n->dl.timer));
	}
	pthread_mutex_lock(&ch->smu);
	s->busy = 0;
	s->last_used = time(NULL);
	pthread_cond_broadcast(&ch->scv);
out:
	pthread_mutex_unlock(&ch->smu);
	return rc;
}
