/* nas_auth.c — the NAS side of 5G-AKA for one session (corehook_handle's
 * state, session.c): a normal Registration request (SUCI → SUPI, NAS
 * algorithms chosen from the UE's capabilities, a vector from auth.c) →
 * Authentication request; the response (RES* checked, a pending
 * subscription confirmed) → integrity-protected Security mode command;
 * Security mode complete → protected Registration accept; Registration
 * complete; synch failure → resync and a new challenge; rejects. The
 * Authentication request, Security mode command and Registration accept
 * are noted in the state for T3560/T3550 (nas_timer.h). */
#include "ch_ctx.h"

#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>

#include "aka.h"
#include "nas.h"
#include "nas_sec.h"
#include "util.h"

/* Back to idle: vector, security context and awaited downlink wiped. */
void ch_nas_state_reset(ch_nas_state *s)
{
	s->state = CH_NAS_IDLE;
	corehook_av_clear(&s->av);
	nas_sec_ctx_clear(&s->sec);
	ch_nas_dl_clear(&s->dl);
	s->have_sec = 0;
}

/* Keep the downlink m just built in s->dl for T3560/T3550 (a message no
 * timer guards only drops what it held): sent, the bytes that went out in
 * clear (hdr 0), or else m's plain encoding, protected under hdr. A
 * failure costs only the retransmission, and is logged. */
static void dl_note(corehook *ch, ch_nas_state *s, uint8_t hdr,
    const nas_msg_t *m, const uint8_t *sent, size_t sentlen)
{
	uint8_t plain[256];
	size_t plen = 0;
	char err[128];
	int rc = CH_NAS_TIMER_ERR;

	if (hdr == 0)
		rc = ch_nas_dl_note(&s->dl, m->type, 0, sent, sentlen);
	else if (ch_nas_encode(plain, sizeof(plain), &plen, m, err,
	             sizeof(err)) == COREHOOK_OK)
		rc = ch_nas_dl_note(&s->dl, m->type, hdr, plain, plen);
	OPENSSL_cleanse(plain, sizeof(plain));
	if (rc != CH_NAS_TIMER_OK)
		ch_log(ch, COREHOOK_LOG_WARN,
		    "nas session=%s reason=no %s for "
		    "this %s",
		    s->name, ch_nas_timer_name(ch_nas_timer_for(m->type)),
		    nas_msg_name(m->type));
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

/* Authentication request with s's vector (RAND, AUTN) and ngKSI, noted
 * for T3560. */
static int auth_request(corehook *ch, ch_nas_state *s, nas_msg_t *m,
    uint8_t *out, size_t outcap, size_t *outlen, char *err, size_t errlen)
{
	int rc;

	memset(m, 0, sizeof(*m));
	m->type = NAS_MSG_AUTH_REQUEST;
	m->auth_req.ngksi.tsc = 0;
	m->auth_req.ngksi.ksi = s->ksi;
	m->auth_req.abba_len = 2; /* ABBA 0x0000 */
	memcpy(m->auth_req.rand, s->av.rand, 16);
	memcpy(m->auth_req.autn, s->av.autn, 16);
	if ((rc = ch_nas_encode(out, outcap, outlen, m, err, errlen)) ==
	    COREHOOK_OK)
		dl_note(ch, s, 0, m, out, *outlen);
	return rc;
}

/* A normal Registration request → Authentication request, or a reject. */
int ch_auth_on_registration(corehook *ch, ch_nas_state *s,
    const nas_reg_request_t *rq, nas_msg_t *m, uint8_t *out, size_t outcap,
    size_t *outlen, char *err, size_t errlen)
{
	char supi[NAS_SUPI_MAX], aerr[256];
	int r;

	if (rq->reg_type == NAS_REG_INITIAL && rq->id.kind == NAS_ID_SUCI &&
	    (r = ch_suci_supi(ch, supi, sizeof(supi), &rq->id.suci, aerr,
	         sizeof(aerr))) != COREHOOK_OK) {
		atomic_fetch_add(&ch->metrics.aka[CH_AKA_UNKNOWN_SUBSCRIBER],
		    1);
		ch_log(ch, COREHOOK_LOG_WARN,
		    "registration session=%s "
		    "outcome=suci-refused scheme=%u key-id=%u cause=3 reason=%s",
		    s->name, rq->id.suci.scheme, rq->id.suci.hnpki, aerr);
		return ch_nas_reject(m, NAS_CAUSE_ILLEGAL_UE, 0, NULL, 0, out,
		    outcap, outlen, err, errlen);
	}
	if (rq->reg_type != NAS_REG_INITIAL || rq->id.kind != NAS_ID_SUCI ||
	    strncmp(supi, "imsi-", 5) != 0) {
		atomic_fetch_add(&ch->metrics.nas_malformed, 1);
		ch_log(ch, COREHOOK_LOG_WARN,
		    "registration session=%s"
		    " reason=unsupported registration type %u or identity %d",
		    s->name, rq->reg_type, rq->id.kind);
		return ch_nas_reject(m, NAS_CAUSE_INVALID_MANDATORY_INFO, 0,
		    NULL, 0, out, outcap, outlen, err, errlen);
	}
	corehook_av_clear(&s->av);
	nas_sec_ctx_clear(&s->sec);
	s->have_sec = 0;
	s->state = CH_NAS_IDLE;
	if (!rq->has_ue_sec_cap ||
	    (r = alg_select(ch->cfg->nas_int_pref, ch->cfg->nas_int_n,
	         rq->ue_sec_cap, rq->ue_sec_cap_len, 1)) < 0 ||
	    (s->enc_alg = (uint8_t)alg_select(ch->cfg->nas_enc_pref,
	         ch->cfg->nas_enc_n, rq->ue_sec_cap, rq->ue_sec_cap_len, 0)) >
	        7) {
		ch_log(ch, COREHOOK_LOG_WARN,
		    "registration supi=%s outcome="
		    "security-capabilities-mismatch cause=23 reason=%s",
		    supi + 5,
		    rq->has_ue_sec_cap ? "no configured algorithm in the UE "
		                         "security capability" :
		                         "no UE security capability");
		return ch_nas_reject(m, NAS_CAUSE_UE_SEC_CAP_MISMATCH, 0, NULL,
		    0, out, outcap, outlen, err, errlen);
	}
	s->int_alg = (uint8_t)r;
	memcpy(s->ue_caps, rq->ue_sec_cap, rq->ue_sec_cap_len);
	s->ue_caps_len = rq->ue_sec_cap_len;
	r = corehook_av_generate(ch, &s->av, supi + 5, aerr, sizeof(aerr));
	if (r == COREHOOK_ERR_NOTFOUND) {
		atomic_fetch_add(&ch->metrics.aka[CH_AKA_UNKNOWN_SUBSCRIBER],
		    1);
		ch_log(ch, COREHOOK_LOG_WARN, "aka supi=%s outcome=%s cause=3",
		    supi + 5, ch_aka_outcome_names[CH_AKA_UNKNOWN_SUBSCRIBER]);
		return ch_nas_reject(m, NAS_CAUSE_ILLEGAL_UE, 0, NULL, 0, out,
		    outcap, outlen, err, errlen);
	}
	if (r != COREHOOK_OK) {
		ch_log(ch, COREHOOK_LOG_ERR,
		    "aka supi=%s outcome=error reason=%s", supi + 5, aerr);
		return ch_nas_reject(m, NAS_CAUSE_CONGESTION,
		    ch->cfg->t3346_seconds, NULL, 0, out, outcap, outlen, err,
		    errlen);
	}
	s->state = CH_NAS_AUTH;
	s->resynced = 0;
	s->ksi = (uint8_t)((s->ksi + 1) % 7);
	return auth_request(ch, s, m, out, outcap, outlen, err, errlen);
}

/* Authentication response → Security mode command, or a reject. */
int ch_auth_on_response(corehook *ch, ch_nas_state *s,
    const nas_auth_response_t *ar, nas_msg_t *m, uint8_t *out, size_t outcap,
    size_t *outlen, char *err, size_t errlen)
{
	uint8_t kamf[32];
	char fp[AKA_FP_HEX_LEN];
	int ok, rc;

	ok = corehook_res_confirm(&s->av, ar->res_star, kamf);
	s->state = CH_NAS_IDLE;
	if (ok && s->av.pending) {
		char cerr[256];
		int promoted = 0;

		/* The device proved the new credentials: they become active and
		 * the previous ones are retired, keys wiped. */
		if (corehook_confirm(ch, s->av.supi, &promoted, cerr,
		        sizeof(cerr)) != COREHOOK_OK) {
			ch_log(ch, COREHOOK_LOG_ERR,
			    "aka supi=%s outcome=error "
			    "reason=%s",
			    s->av.supi, cerr);
			corehook_av_clear(&s->av);
			OPENSSL_cleanse(kamf, sizeof(kamf));
			return ch_nas_reject(m, NAS_CAUSE_CONGESTION,
			    ch->cfg->t3346_seconds, NULL, 0, out, outcap,
			    outlen, err, errlen);
		}
		if (promoted)
			ch_log(ch, COREHOOK_LOG_INFO,
			    "subscription supi=%s "
			    "state=active (pending confirmed by 5G-AKA)",
			    s->av.supi);
	}
	if (!ok) {
		atomic_fetch_add(&ch->metrics.aka[CH_AKA_RES_MISMATCH], 1);
		ch_log(ch, COREHOOK_LOG_WARN, "aka supi=%s outcome=%s",
		    s->av.supi, ch_aka_outcome_names[CH_AKA_RES_MISMATCH]);
		corehook_av_clear(&s->av);
		return ch_nas_simple(m, NAS_MSG_AUTH_REJECT, out, outcap,
		    outlen, err, errlen);
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
	ch_log(ch, COREHOOK_LOG_INFO,
	    "aka supi=%s outcome=success kamf-fp=%s"
	    " nia=%s nea=%s",
	    s->supi, fp, nas_sec_alg_name(1, s->int_alg),
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
	m->smc.abba_len = 2; /* ABBA 0x0000, as K_AMF used */
	rc = ch_nas_protect(&s->sec, NAS_SEC_HDR_INTEGRITY_NEW, m, out, outcap,
	    outlen, err, errlen);
	if (rc == COREHOOK_OK) {
		s->state = CH_NAS_SMC;
		dl_note(ch, s, NAS_SEC_HDR_INTEGRITY_NEW, m, NULL, 0);
	}
	return rc;
}

/* Authentication failure → a resync and a new challenge, or a reject. */
int ch_auth_on_failure(corehook *ch, ch_nas_state *s,
    const nas_auth_failure_t *af, nas_msg_t *m, uint8_t *out, size_t outcap,
    size_t *outlen, char *err, size_t errlen)
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
	if (corehook_resync(ch, supi, rand, af->auts, aerr, sizeof(aerr)) !=
	    COREHOOK_OK)
		goto resync_failed;
	corehook_av_clear(&s->av);
	if (corehook_av_generate(ch, &s->av, supi, aerr, sizeof(aerr)) !=
	    COREHOOK_OK)
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
	s->state = CH_NAS_IDLE;
	corehook_av_clear(&s->av);
	return ch_nas_simple(m, NAS_MSG_AUTH_REJECT, out, outcap, outlen, err,
	    errlen);
}

/* The UE refused the Security mode command (sent in clear): drop the
 * context, no answer. */
int ch_auth_on_smc_reject(corehook *ch, ch_nas_state *s, uint8_t cause)
{
	ch_log(ch, COREHOOK_LOG_WARN,
	    "security-mode supi=%s outcome=rejected"
	    " cause=%u",
	    s->supi, cause);
	nas_sec_ctx_clear(&s->sec);
	s->have_sec = 0;
	s->state = CH_NAS_IDLE;
	return COREHOOK_OK;
}

/* A protected message opened in s's context: Security mode complete
 * (header type 4) → protected Registration accept; Registration complete
 * closes the procedure (no answer). Anything else is discarded. */
int ch_auth_on_protected(corehook *ch, ch_nas_state *s, uint8_t hdr,
    nas_msg_t *m, uint8_t *out, size_t outcap, size_t *outlen, char *err,
    size_t errlen)
{
	int rc;

	if (s->state == CH_NAS_SMC &&
	    m->type == NAS_MSG_SECURITY_MODE_COMPLETE &&
	    hdr == NAS_SEC_HDR_INTEGRITY_CIPHERED_NEW) {
		atomic_fetch_add(&ch->metrics.smc_done, 1);
		ch_log(ch, COREHOOK_LOG_INFO,
		    "security-mode supi=%s "
		    "outcome=complete",
		    s->supi);
		rc = ch_nas_simple(m, NAS_MSG_REGISTRATION_ACCEPT, out, outcap,
		    outlen, err, errlen);
		if (rc == COREHOOK_OK)
			rc = ch_nas_protect(&s->sec,
			    NAS_SEC_HDR_INTEGRITY_CIPHERED, m, out, outcap,
			    outlen, err, errlen);
		if (rc == COREHOOK_OK) {
			s->state = CH_NAS_ACCEPTED;
			dl_note(ch, s, NAS_SEC_HDR_INTEGRITY_CIPHERED, m, NULL,
			    0);
		}
		return rc;
	}
	if (s->state == CH_NAS_ACCEPTED &&
	    m->type == NAS_MSG_REGISTRATION_COMPLETE) {
		ch_log(ch, COREHOOK_LOG_INFO,
		    "registration supi=%s "
		    "outcome=complete",
		    s->supi);
		s->state = CH_NAS_IDLE;
		return COREHOOK_OK;
	}
	atomic_fetch_add(&ch->metrics.nas_malformed, 1);
	ch_log(ch, COREHOOK_LOG_WARN,
	    "nas session=%s reason=unexpected %s"
	    " (header type %u) discarded",
	    s->name, nas_msg_name(m->type), hdr);
	return COREHOOK_OK;
}

/* Open a security protected message in s's context into plain. 1: use
 * plain; 0: discarded (no context, bad MAC, replayed COUNT), counted. */
int ch_auth_sec_open(corehook *ch, ch_nas_state *s, const uint8_t *in,
    size_t inlen, uint8_t *plain, size_t cap, size_t *plen, uint8_t *hdr)
{
	int r = NAS_SEC_ERR_MAC;

	if (s->have_sec)
		r = nas_sec_unprotect(plain, cap, plen, hdr, &s->sec, in,
		    inlen);
	if (r == NAS_SEC_OK)
		return 1;
	if (r == NAS_SEC_ERR_REPLAY)
		atomic_fetch_add(&ch->metrics.nas_sec_replay, 1);
	else
		atomic_fetch_add(&ch->metrics.nas_sec_bad_mac, 1);
	ch_log(ch, COREHOOK_LOG_WARN,
	    "nas session=%s outcome=discarded "
	    "reason=%s",
	    s->name,
	    s->have_sec ? nas_sec_strerror(r) :
	                  "protected message without a security context");
	return 0;
}
