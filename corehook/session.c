/* session.c — corehook_handle: the per-session NAS state machine
 * (provisioning registration; normal registration with 5G-AKA, resync,
 * NAS security mode control, protected accept/complete, reject) and the
 * per-session retransmission cache; the T3560/T3550 hooks (nas_timer.h):
 * a guarded downlink is noted, armed after the message is processed, and
 * sent again or aborted by ch_session_expire. */
#include "ch_ctx.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "aka.h"
#include "nas.h"
#include "nas_sec.h"
#include "nas_timer.h"
#include "prov.h"
#include "util.h"

/* S_SMC: Security mode command sent; S_ACCEPTED: protected Registration
 * accept sent, Registration complete awaited. */
enum { S_IDLE = 0, S_AUTH = 1, S_SMC = 2, S_ACCEPTED = 3 };

typedef struct ch_session {
	struct ch_session *next;
	char name[COREHOOK_SESSION_MAX + 1];
	int busy;
	unsigned refs;
	time_t last_used;
	uint8_t *req;           /* last message and its answer (cache) */
	size_t reqlen;
	uint8_t *resp;
	size_t resplen;
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
	char supi[NAS_SUPI_MAX];	/* IMSI digits of the last AKA */
	ch_nas_dl_t dl;		/* the downlink T3560/T3550 guards */
} ch_session;

static uint32_t name_hash(const char *s)
{
	uint32_t h = 2166136261u;   /* FNV-1a */

	for (; *s != '\0'; s++)
		h = (h ^ (uint8_t)*s) * 16777619u;
	return h % CH_BUCKETS;
}

static void session_free(ch_session *s)
{
	if (s == NULL)
		return;
	corehook_av_clear(&s->av);
	nas_sec_ctx_clear(&s->sec);
	ch_nas_dl_clear(&s->dl);
	free(s->req);
	free(s->resp);
	free(s);
}

void ch_sessions_free(corehook *ch)
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
}

/* Drop idle sessions unused for the TTL (under smu). */
static void sessions_sweep(corehook *ch, time_t now)
{
	size_t i;

	for (i = 0; i < CH_BUCKETS; i++) {
		ch_session **pp = &ch->bucket[i];

		while (*pp != NULL) {
			ch_session *s = *pp;

			if (!s->busy && s->refs == 0 && now - s->last_used >
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
		if (!s->busy && s->refs == 0 && now - s->last_used >
		    (time_t)ch->cfg->session_ttl_seconds) {
			free(s->req);
			free(s->resp);
			s->req = s->resp = NULL;
			s->reqlen = s->resplen = 0;
			s->state = S_IDLE;
			corehook_av_clear(&s->av);
			nas_sec_ctx_clear(&s->sec);
			ch_nas_dl_clear(&s->dl);
			s->have_sec = 0;
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
	s->last_used = now;
	s->next = ch->bucket[h];
	ch->bucket[h] = s;
	ch->nsessions++;
	return s;
}

/* ---- answers ---- */

static int encode(uint8_t *out, size_t outcap, size_t *outlen,
    const nas_msg_t *m, char *err, size_t errlen)
{
	int r = nas_encode(out, outcap, outlen, m);

	if (r != NAS_OK) {
		util_err_set(err, errlen, "NAS encode: %s", nas_strerror(r));
		return r == NAS_ERR_SPACE ? COREHOOK_ERR_SPACE : COREHOOK_ERR;
	}
	return COREHOOK_OK;
}

static int reg_reject(nas_msg_t *m, uint8_t cause, unsigned t3346,
    const uint8_t *container, size_t clen, uint8_t *out, size_t outcap,
    size_t *outlen, char *err, size_t errlen)
{
	memset(m, 0, sizeof(*m));
	m->type = NAS_MSG_REGISTRATION_REJECT;
	m->reg_rej.cause = cause;
	if (t3346 > 0) {
		m->reg_rej.has_t3346 = true;
		m->reg_rej.t3346 = nas_gprs_timer_from_seconds(t3346);
	}
	if (container != NULL && clen > 0) {
		if (clen > sizeof(m->reg_rej.payload)) {
			util_err_set(err, errlen, "container too large");
			return COREHOOK_ERR;
		}
		m->reg_rej.has_payload = true;
		m->reg_rej.payload_len = clen;
		memcpy(m->reg_rej.payload, container, clen);
	}
	return encode(out, outcap, outlen, m, err, errlen);
}

static int auth_request(corehook *ch, ch_session *s, nas_msg_t *m,
    uint8_t *out, size_t outcap, size_t *outlen, char *err, size_t errlen)
{
	int rc;

	memset(m, 0, sizeof(*m));
	m->type = NAS_MSG_AUTH_REQUEST;
	m->auth_req.ngksi.tsc = 0;
	m->auth_req.ngksi.ksi = s->ksi;
	m->auth_req.abba_len = 2;          /* ABBA 0x0000 */
	memcpy(m->auth_req.rand, s->av.rand, 16);
	memcpy(m->auth_req.autn, s->av.autn, 16);
	if ((rc = encode(out, outcap, outlen, m, err, errlen)) != COREHOOK_OK)
		return rc;
	if (ch_nas_dl_note(&s->dl, m->type, 0, out, *outlen) != 0)
		ch_log(ch, COREHOOK_LOG_WARN, "nas session=%s reason=no T3560 "
		    "for this Authentication request", s->name);
	return COREHOOK_OK;
}

static int simple(nas_msg_t *m, int type, uint8_t *out, size_t outcap,
    size_t *outlen, char *err, size_t errlen)
{
	memset(m, 0, sizeof(*m));
	m->type = type;
	if (type == NAS_MSG_REGISTRATION_ACCEPT)
		m->reg_acc.result = NAS_REG_RESULT_3GPP;
	return encode(out, outcap, outlen, m, err, errlen);
}

/* Encode m and wrap it with security header type hdr in s's context (the
 * next downlink COUNT). */
static int protect(ch_session *s, uint8_t hdr, const nas_msg_t *m,
    uint8_t *out, size_t outcap, size_t *outlen, char *err, size_t errlen)
{
	uint8_t plain[256];
	size_t plen = 0;
	int rc, r;

	if ((rc = encode(plain, sizeof(plain), &plen, m, err, errlen)) != 0)
		return rc;
	r = nas_sec_protect(out, outcap, outlen, &s->sec, hdr, plain, plen);
	if (r == NAS_SEC_OK)
		(void)ch_nas_dl_note(&s->dl, m->type, hdr, plain, plen);
	OPENSSL_cleanse(plain, sizeof(plain));
	if (r != NAS_SEC_OK) {
		util_err_set(err, errlen, "NAS protect: %s", nas_sec_strerror(r));
		return r == NAS_SEC_ERR_SPACE ? COREHOOK_ERR_SPACE : COREHOOK_ERR;
	}
	return COREHOOK_OK;
}

/* The first algorithm of the configured preference list pref that the UE
 * announces in caps; -1 if there is none. */
static int alg_select(const uint8_t *pref, size_t n, const uint8_t *caps,
    size_t clen, int integrity)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (nas_ue_sec_cap_has(caps, clen, integrity, pref[i]))
			return pref[i];
	return -1;
}

/* ---- the state machine ---- */

static int on_provisioning(corehook *ch, const char *session,
    const nas_reg_request_t *rq, nas_msg_t *m, uint8_t *out, size_t outcap,
    size_t *outlen, char *err, size_t errlen)
{
	corehook_prov_result_t *res;
	char perr[256];
	int rc;

	if (!rq->has_payload || rq->payload_type != NAS_PAYLOAD_TYPE_PROVCA) {
		if (!rq->has_payload)
			util_err_set(perr, sizeof(perr), "no payload container");
		else
			util_err_set(perr, sizeof(perr), "payload container type"
			    " %u", rq->payload_type);
		atomic_fetch_add(&ch->metrics.prov[CH_PROV_MALFORMED], 1);
		ch_log(ch, COREHOOK_LOG_WARN, "provision device=- outcome=%s"
		    " cause=96 reason=%s", ch_prov_outcome_names[CH_PROV_MALFORMED],
		    perr);
		return reg_reject(m, NAS_CAUSE_INVALID_MANDATORY_INFO, 0, NULL, 0,
		    out, outcap, outlen, err, errlen);
	}
	if ((res = malloc(sizeof(*res))) == NULL) {
		util_err_set(err, errlen, "out of memory");
		return COREHOOK_ERR;
	}
	corehook_provision_from(ch, res, rq->payload, rq->payload_len, session);
	rc = reg_reject(m, res->cause, res->t3346, res->container,
	    res->container_len, out, outcap, outlen, err, errlen);
	OPENSSL_cleanse(res, sizeof(*res));
	free(res);
	return rc;
}

static int on_registration(corehook *ch, ch_session *s,
    const nas_reg_request_t *rq, nas_msg_t *m, uint8_t *out, size_t outcap,
    size_t *outlen, char *err, size_t errlen)
{
	char supi[NAS_SUPI_MAX], aerr[256];
	int r;

	if (rq->reg_type == NAS_REG_SNPN_ONBOARDING)
		return on_provisioning(ch, s->name, rq, m, out, outcap, outlen,
		    err, errlen);
	if (rq->reg_type == NAS_REG_INITIAL && rq->id.kind == NAS_ID_SUCI &&
	    (r = ch_suci_supi(ch, supi, sizeof(supi), &rq->id.suci, aerr,
	    sizeof(aerr))) != COREHOOK_OK) {
		atomic_fetch_add(&ch->metrics.aka[CH_AKA_UNKNOWN_SUBSCRIBER], 1);
		ch_log(ch, COREHOOK_LOG_WARN, "registration session=%s "
		    "outcome=suci-refused scheme=%u key-id=%u cause=3 reason=%s",
		    s->name, rq->id.suci.scheme, rq->id.suci.hnpki, aerr);
		return reg_reject(m, NAS_CAUSE_ILLEGAL_UE, 0, NULL, 0, out, outcap,
		    outlen, err, errlen);
	}
	if (rq->reg_type != NAS_REG_INITIAL || rq->id.kind != NAS_ID_SUCI ||
	    strncmp(supi, "imsi-", 5) != 0) {
		atomic_fetch_add(&ch->metrics.nas_malformed, 1);
		ch_log(ch, COREHOOK_LOG_WARN, "registration session=%s"
		    " reason=unsupported registration type %u or identity %d",
		    s->name, rq->reg_type, rq->id.kind);
		return reg_reject(m, NAS_CAUSE_INVALID_MANDATORY_INFO, 0, NULL, 0,
		    out, outcap, outlen, err, errlen);
	}
	corehook_av_clear(&s->av);
	nas_sec_ctx_clear(&s->sec);
	s->have_sec = 0;
	s->state = S_IDLE;
	if (!rq->has_ue_sec_cap ||
	    (r = alg_select(ch->cfg->nas_int_pref, ch->cfg->nas_int_n,
	    rq->ue_sec_cap, rq->ue_sec_cap_len, 1)) < 0 ||
	    (s->enc_alg = (uint8_t)alg_select(ch->cfg->nas_enc_pref,
	    ch->cfg->nas_enc_n, rq->ue_sec_cap, rq->ue_sec_cap_len, 0)) > 7) {
		ch_log(ch, COREHOOK_LOG_WARN, "registration supi=%s outcome="
		    "security-capabilities-mismatch cause=23 reason=%s", supi + 5,
		    rq->has_ue_sec_cap ? "no configured algorithm in the UE "
		    "security capability" : "no UE security capability");
		return reg_reject(m, NAS_CAUSE_UE_SEC_CAP_MISMATCH, 0, NULL, 0,
		    out, outcap, outlen, err, errlen);
	}
	s->int_alg = (uint8_t)r;
	memcpy(s->ue_caps, rq->ue_sec_cap, rq->ue_sec_cap_len);
	s->ue_caps_len = rq->ue_sec_cap_len;
	r = corehook_av_generate(ch, &s->av, supi + 5, aerr, sizeof(aerr));
	if (r == COREHOOK_ERR_NOTFOUND) {
		atomic_fetch_add(&ch->metrics.aka[CH_AKA_UNKNOWN_SUBSCRIBER], 1);
		ch_log(ch, COREHOOK_LOG_WARN, "aka supi=%s outcome=%s cause=3",
		    supi + 5, ch_aka_outcome_names[CH_AKA_UNKNOWN_SUBSCRIBER]);
		return reg_reject(m, NAS_CAUSE_ILLEGAL_UE, 0, NULL, 0, out, outcap,
		    outlen, err, errlen);
	}
	if (r != COREHOOK_OK) {
		ch_log(ch, COREHOOK_LOG_ERR, "aka supi=%s outcome=error reason=%s",
		    supi + 5, aerr);
		return reg_reject(m, NAS_CAUSE_CONGESTION, ch->cfg->t3346_seconds,
		    NULL, 0, out, outcap, outlen, err, errlen);
	}
	s->state = S_AUTH;
	s->resynced = 0;
	s->ksi = (uint8_t)((s->ksi + 1) % 7);
	return auth_request(ch, s, m, out, outcap, outlen, err, errlen);
}

static int on_auth_response(corehook *ch, ch_session *s,
    const nas_auth_response_t *ar, nas_msg_t *m, uint8_t *out,
    size_t outcap, size_t *outlen, char *err, size_t errlen)
{
	uint8_t kamf[32];
	char fp[AKA_FP_HEX_LEN];
	int ok, rc;

	ok = corehook_res_confirm(&s->av, ar->res_star, kamf);
	s->state = S_IDLE;
	if (ok && s->av.pending) {
		char cerr[256];
		int promoted = 0;

		/* The device proved the new credentials: they become active and
		 * the previous ones are retired, keys wiped. */
		if (corehook_confirm(ch, s->av.supi, &promoted, cerr,
		    sizeof(cerr)) != COREHOOK_OK) {
			ch_log(ch, COREHOOK_LOG_ERR, "aka supi=%s outcome=error "
			    "reason=%s", s->av.supi, cerr);
			corehook_av_clear(&s->av);
			OPENSSL_cleanse(kamf, sizeof(kamf));
			return reg_reject(m, NAS_CAUSE_CONGESTION,
			    ch->cfg->t3346_seconds, NULL, 0, out, outcap, outlen,
			    err, errlen);
		}
		if (promoted)
			ch_log(ch, COREHOOK_LOG_INFO, "subscription supi=%s "
			    "state=active (pending confirmed by 5G-AKA)",
			    s->av.supi);
	}
	if (!ok) {
		atomic_fetch_add(&ch->metrics.aka[CH_AKA_RES_MISMATCH], 1);
		ch_log(ch, COREHOOK_LOG_WARN, "aka supi=%s outcome=%s",
		    s->av.supi, ch_aka_outcome_names[CH_AKA_RES_MISMATCH]);
		corehook_av_clear(&s->av);
		return simple(m, NAS_MSG_AUTH_REJECT, out, outcap, outlen, err,
		    errlen);
	}
	if (aka_fingerprint(fp, kamf) != AKA_OK)
		snprintf(fp, sizeof(fp), "unavailable");
	rc = nas_sec_ctx_init(&s->sec, kamf, s->enc_alg, s->int_alg, 0, 0);
	OPENSSL_cleanse(kamf, sizeof(kamf));
	snprintf(s->supi, sizeof(s->supi), "%s", s->av.supi);
	corehook_av_clear(&s->av);
	if (rc != NAS_SEC_OK) {
		util_err_set(err, errlen, "NAS keys: %s", nas_sec_strerror(rc));
		return COREHOOK_ERR;
	}
	s->have_sec = 1;
	atomic_fetch_add(&ch->metrics.aka[CH_AKA_SUCCESS], 1);
	ch_log(ch, COREHOOK_LOG_INFO, "aka supi=%s outcome=success kamf-fp=%s"
	    " nia=%s nea=%s", s->supi, fp, nas_sec_alg_name(1, s->int_alg),
	    nas_sec_alg_name(0, s->enc_alg));
	/* Security mode command: integrity protected with the new context
	 * (TS 24.501 §5.4.2.2), replaying what the UE announced. */
	memset(m, 0, sizeof(*m));
	m->type = NAS_MSG_SECURITY_MODE_COMMAND;
	m->smc.enc_alg = s->enc_alg;
	m->smc.int_alg = s->int_alg;
	m->smc.ngksi.ksi = s->ksi;
	m->smc.caps_len = s->ue_caps_len;
	memcpy(m->smc.caps, s->ue_caps, s->ue_caps_len);
	m->smc.has_abba = true;
	m->smc.abba_len = 2;		/* ABBA 0x0000, as K_AMF used */
	rc = protect(s, NAS_SEC_HDR_INTEGRITY_NEW, m, out, outcap, outlen, err,
	    errlen);
	if (rc == COREHOOK_OK)
		s->state = S_SMC;
	return rc;
}

/* A protected message opened in s's context: Security mode complete
 * (header type 4) → protected Registration accept; Registration complete
 * closes the procedure (no answer). Anything else is discarded. */
static int on_protected(corehook *ch, ch_session *s, uint8_t hdr,
    nas_msg_t *m, uint8_t *out, size_t outcap, size_t *outlen, char *err,
    size_t errlen)
{
	int rc;

	if (s->state == S_SMC && m->type == NAS_MSG_SECURITY_MODE_COMPLETE &&
	    hdr == NAS_SEC_HDR_INTEGRITY_CIPHERED_NEW) {
		atomic_fetch_add(&ch->metrics.smc_done, 1);
		ch_log(ch, COREHOOK_LOG_INFO, "security-mode supi=%s "
		    "outcome=complete", s->supi);
		rc = simple(m, NAS_MSG_REGISTRATION_ACCEPT, out, outcap, outlen,
		    err, errlen);
		if (rc == COREHOOK_OK)
			rc = protect(s, NAS_SEC_HDR_INTEGRITY_CIPHERED, m, out,
			    outcap, outlen, err, errlen);
		if (rc == COREHOOK_OK)
			s->state = S_ACCEPTED;
		return rc;
	}
	if (s->state == S_ACCEPTED && m->type == NAS_MSG_REGISTRATION_COMPLETE) {
		ch_log(ch, COREHOOK_LOG_INFO, "registration supi=%s "
		    "outcome=complete", s->supi);
		s->state = S_IDLE;
		return COREHOOK_OK;
	}
	atomic_fetch_add(&ch->metrics.nas_malformed, 1);
	ch_log(ch, COREHOOK_LOG_WARN, "nas session=%s reason=unexpected %s"
	    " (header type %u) discarded", s->name, nas_msg_name(m->type), hdr);
	return COREHOOK_OK;
}

/* Open a security protected message in s's context into plain. 1: use
 * plain; 0: discarded (no context, bad MAC, replayed COUNT), counted. */
static int sec_open(corehook *ch, ch_session *s, const uint8_t *in,
    size_t inlen, uint8_t *plain, size_t cap, size_t *plen, uint8_t *hdr)
{
	int r = NAS_SEC_ERR_MAC;

	if (s->have_sec)
		r = nas_sec_unprotect(plain, cap, plen, hdr, &s->sec, in, inlen);
	if (r == NAS_SEC_OK)
		return 1;
	if (r == NAS_SEC_ERR_REPLAY)
		atomic_fetch_add(&ch->metrics.nas_sec_replay, 1);
	else
		atomic_fetch_add(&ch->metrics.nas_sec_bad_mac, 1);
	ch_log(ch, COREHOOK_LOG_WARN, "nas session=%s outcome=discarded "
	    "reason=%s", s->name, s->have_sec ? nas_sec_strerror(r) :
	    "protected message without a security context");
	return 0;
}

static int on_auth_failure(corehook *ch, ch_session *s,
    const nas_auth_failure_t *af, nas_msg_t *m, uint8_t *out,
    size_t outcap, size_t *outlen, char *err, size_t errlen)
{
	char supi[16], aerr[256];
	uint8_t rand[16];

	if (af->cause != NAS_CAUSE_SYNCH_FAILURE || !af->has_auts) {
		atomic_fetch_add(&ch->metrics.aka[CH_AKA_UE_REJECTED], 1);
		ch_log(ch, COREHOOK_LOG_WARN, "aka supi=%s outcome=%s cause=%u",
		    s->av.supi, ch_aka_outcome_names[CH_AKA_UE_REJECTED],
		    af->cause);
		goto reject;
	}
	if (s->resynced) {
		snprintf(aerr, sizeof(aerr), "second synch failure");
		goto resync_failed;
	}
	snprintf(supi, sizeof(supi), "%s", s->av.supi);
	memcpy(rand, s->av.rand, sizeof(rand));
	if (corehook_resync(ch, supi, rand, af->auts, aerr, sizeof(aerr))
	    != COREHOOK_OK)
		goto resync_failed;
	corehook_av_clear(&s->av);
	if (corehook_av_generate(ch, &s->av, supi, aerr, sizeof(aerr))
	    != COREHOOK_OK)
		goto resync_failed;
	s->resynced = 1;
	s->ksi = (uint8_t)((s->ksi + 1) % 7);
	atomic_fetch_add(&ch->metrics.aka[CH_AKA_RESYNC], 1);
	ch_log(ch, COREHOOK_LOG_INFO, "aka supi=%s outcome=resync sqn=%llu",
	    supi, (unsigned long long)s->av.sqn);
	return auth_request(ch, s, m, out, outcap, outlen, err, errlen);
resync_failed:
	atomic_fetch_add(&ch->metrics.aka[CH_AKA_RESYNC_FAILED], 1);
	ch_log(ch, COREHOOK_LOG_WARN, "aka supi=%s outcome=%s reason=%s",
	    s->av.supi, ch_aka_outcome_names[CH_AKA_RESYNC_FAILED], aerr);
reject:
	s->state = S_IDLE;
	corehook_av_clear(&s->av);
	return simple(m, NAS_MSG_AUTH_REJECT, out, outcap, outlen, err, errlen);
}

/* The UE refused the Security mode command (sent in clear): drop the
 * context, no answer. */
static int on_smc_reject(corehook *ch, ch_session *s, uint8_t cause)
{
	ch_log(ch, COREHOOK_LOG_WARN, "security-mode supi=%s outcome=rejected"
	    " cause=%u", s->supi, cause);
	nas_sec_ctx_clear(&s->sec);
	s->have_sec = 0;
	s->state = S_IDLE;
	return COREHOOK_OK;
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
	size_t plen = 0;

	if (sh > 0) {
		if ((*plain = OPENSSL_malloc(COREHOOK_NAS_MAX)) == NULL ||
		    !sec_open(ch, s, *in, *inlen, *plain, COREHOOK_NAS_MAX, &plen,
		    hdr))
			return 0;
		*in = *plain;
		*inlen = plen;
		return 1;
	}
	if (sh == 0 && (s->state == S_SMC || s->state == S_ACCEPTED) &&
	    !(*inlen >= 3 && ((*in)[2] == NAS_MSG_REGISTRATION_REQUEST ||
	    (s->state == S_SMC && (*in)[2] == NAS_MSG_SECURITY_MODE_REJECT)))) {
		atomic_fetch_add(&ch->metrics.nas_sec_plain, 1);
		ch_log(ch, COREHOOK_LOG_WARN, "nas session=%s outcome=discarded"
		    " reason=unprotected message in a protected exchange",
		    s->name);
		return 0;
	}
	return 1;
}

/* Process one message of session s (s is busy: only this thread uses it). */
static int process(corehook *ch, ch_session *s, const uint8_t *in,
    size_t inlen, uint8_t *out, size_t outcap, size_t *outlen, char *err,
    size_t errlen)
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
		rc = COREHOOK_OK;	/* discarded: no answer */
		goto out;
	}
	r = nas_decode(m, in, inlen);
	if (r != NAS_OK) {
		atomic_fetch_add(&ch->metrics.nas_malformed, 1);
		if (inlen >= 3 && in[0] == NAS_EPD_5GMM &&
		    in[2] == NAS_MSG_REGISTRATION_REQUEST) {
			atomic_fetch_add(&ch->metrics.prov[CH_PROV_MALFORMED], 1);
		}
		ch_log(ch, COREHOOK_LOG_WARN, "nas session=%s outcome=malformed"
		    " cause=96 reason=%s", s->name, nas_strerror(r));
		rc = reg_reject(m, NAS_CAUSE_INVALID_MANDATORY_INFO, 0, NULL, 0,
		    out, outcap, outlen, err, errlen);
		goto out;
	}
	if (hdr > 0) {
		rc = on_protected(ch, s, hdr, m, out, outcap, outlen, err, errlen);
		goto out;
	}
	switch (m->type) {
	case NAS_MSG_SECURITY_MODE_REJECT:
		if (s->state != S_SMC)
			goto unexpected;
		rc = on_smc_reject(ch, s, m->smc_rej.cause);
		break;
	case NAS_MSG_REGISTRATION_REQUEST: {
		nas_reg_request_t *rq = malloc(sizeof(*rq));

		if (rq == NULL) {
			util_err_set(err, errlen, "out of memory");
			goto out;
		}
		*rq = m->reg_req;
		rc = on_registration(ch, s, rq, m, out, outcap, outlen, err,
		    errlen);
		free(rq);
		break;
	}
	case NAS_MSG_AUTH_RESPONSE:
	case NAS_MSG_AUTH_FAILURE:
		if (s->state != S_AUTH) {
			atomic_fetch_add(&ch->metrics.nas_malformed, 1);
			ch_log(ch, COREHOOK_LOG_WARN, "nas session=%s reason=%s"
			    " without authentication in progress", s->name,
			    nas_msg_name(m->type));
			rc = reg_reject(m, NAS_CAUSE_INVALID_MANDATORY_INFO, 0, NULL,
			    0, out, outcap, outlen, err, errlen);
			break;
		}
		if (m->type == NAS_MSG_AUTH_RESPONSE) {
			nas_auth_response_t ar = m->auth_resp;

			rc = on_auth_response(ch, s, &ar, m, out, outcap, outlen,
			    err, errlen);
		} else {
			nas_auth_failure_t af = m->auth_fail;

			rc = on_auth_failure(ch, s, &af, m, out, outcap, outlen,
			    err, errlen);
		}
		break;
	default:
	unexpected:
		/* A network-to-UE message sent to the network, or one that
		 * needs a security context the session does not have. */
		atomic_fetch_add(&ch->metrics.nas_malformed, 1);
		ch_log(ch, COREHOOK_LOG_WARN, "nas session=%s reason=unexpected %s",
		    s->name, nas_msg_name(m->type));
		rc = reg_reject(m, NAS_CAUSE_INVALID_MANDATORY_INFO, 0, NULL, 0,
		    out, outcap, outlen, err, errlen);
		break;
	}
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
	if (!s->dl.fresh)
		return;
	s->dl.state = s->state;
	if (!(flags & COREHOOK_RETX) || ch->timers == NULL)
		return;
	if (ch_nas_timers_arm(ch->timers, s->name, &s->dl,
	    (uint64_t)ch_now_ms()) != 0)
		ch_log(ch, COREHOOK_LOG_WARN, "nas session=%s reason=timer queue "
		    "full, %s not started", s->name, ch_nas_timer_name(s->dl.timer));
}

int corehook_handle(corehook *ch, const char *session, const uint8_t *in,
    size_t inlen, uint8_t *out, size_t outcap, size_t *outlen, int flags,
    char *err, size_t errlen)
{
	ch_session *s;
	uint8_t *req = NULL, *resp = NULL;
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
	if (rc == COREHOOK_OK)
		session_timer_arm(ch, s, flags);
	if (rc == COREHOOK_OK && (req = malloc(inlen)) != NULL &&
	    (resp = malloc(*outlen > 0 ? *outlen : 1)) != NULL) {
		memcpy(req, in, inlen);
		memcpy(resp, out, *outlen);
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
	s->resplen = req != NULL ? *outlen : 0;
	s->busy = 0;
	s->refs--;
	s->last_used = time(NULL);
	pthread_cond_broadcast(&ch->scv);
	pthread_mutex_unlock(&ch->smu);
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
		s->state = S_IDLE;
		corehook_av_clear(&s->av);
		nas_sec_ctx_clear(&s->sec);
		ch_nas_dl_clear(&s->dl);
		s->have_sec = 0;
		s->supi[0] = '\0';
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

int ch_session_expire(corehook *ch, const char *name, uint64_t id,
    uint8_t *out, size_t cap, size_t *outlen, int *timer)
{
	ch_session *s;
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
		/* An uplink is being processed (its thread owns s->dl): look
		 * again a little later. */
		(void)ch_nas_timers_defer(ch->timers, name, id, now);
		goto out;
	}
	if (s->dl.armed != id || s->dl.timer == CH_TIMER_NONE ||
	    s->state != s->dl.state)
		goto out;	/* answered or replaced: the procedure moved on */
	*timer = s->dl.timer;
	if (s->dl.expiries >= CH_RETX_MAX) {
		ch_log(ch, COREHOOK_LOG_WARN, "nas session=%s supi=%s timer=%s "
		    "outcome=aborted expiries=%u (session state freed)", name,
		    s->state == S_AUTH ? s->av.supi : s->supi,
		    ch_nas_timer_name(s->dl.timer), s->dl.expiries + 1);
		session_drop(ch, s);
		rc = CH_EXPIRE_ABORTED;
		goto out;
	}
	s->busy = 1;
	pthread_mutex_unlock(&ch->smu);
	if (ch_nas_dl_resend(out, cap, outlen, &s->dl, &s->sec) == 0) {
		s->dl.expiries++;
		rc = CH_EXPIRE_RESEND;
		if (ch_nas_timers_arm(ch->timers, name, &s->dl, now) != 0)
			ch_log(ch, COREHOOK_LOG_WARN, "nas session=%s reason=timer"
			    " queue full, %s stopped", name,
			    ch_nas_timer_name(s->dl.timer));
	}
	pthread_mutex_lock(&ch->smu);
	s->busy = 0;
	s->last_used = time(NULL);
	pthread_cond_broadcast(&ch->scv);
out:
	pthread_mutex_unlock(&ch->smu);
	return rc;
}
