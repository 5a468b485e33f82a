/* ue_attach.c — the device switches on: it selects a core by policy, asks
 * for a subscription with the provisioning registration, opens the signed
 * container the Registration reject carries, stores the credentials, then
 * registers normally: 5G-AKA (USIM side), NAS security mode control, a
 * protected Registration accept (an unprotected one is refused) and a
 * protected Registration complete. */
#include "ue_attach.h"
#include "ue_verify_cache.h"
#include "aka.h"
#include "nas.h"
#include "nas_sec.h"
#include "pki.h"
#include "suci.h"
#include "util.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/err.h>

#define MAX_AUTH_ROUNDS 4 /* challenges answered in one registration */

typedef struct {
	const ue_attach_opts_t *o;
	ue_attach_result_t *out;
	const char *peer;
	/* provisioning */
	X509 *root;
	STACK_OF(X509) * inter;
	EVP_PKEY *key;
	uint8_t key_pub[65]; /* key's point as its file holds it, or [0]=0 */
	const ue_device_t *dev;
	uint8_t nonce[PROV_NONCE_LEN];
	char answer_id[PROV_DEVICE_ID_MAX + 1]; /* the DeviceID the container
	                           must name: ours, or for a concealed request
	                           prov_concealed_device_id's */
	ue_creds_t *creds;
	const char *creds_file; /* UE_F_CREDS, or UE_F_CREDS_PENDING while
	                           older credentials still work */
	int prov_ok;            /* container opened */
	int cause;              /* reject cause, -1 none */
	unsigned backoff_s;     /* T3346 of a #22 */
	/* registration */
	nas_msg_t *msg; /* the answer taken */
	uint8_t last_rand[NAS_RAND_LEN];
	int have_last_rand;
	/* NAS security */
	uint8_t kamf[AKA_KAMF_LEN];
	int have_kamf; /* the last challenge was answered with RES* */
	nas_sec_ctx_t sec;
	int have_sec;       /* a Security mode command was accepted */
	uint8_t rx_hdr;     /* security header type of msg */
	uint8_t tx_hdr;     /* header type for the next uplink message */
	uint8_t ksi;        /* ngKSI of the last challenge */
	uint8_t smc_reject; /* cause of the Security mode reject owed, 0 */
	uint8_t sent_type;  /* the registration message last sent */
} attach_ctx;

/* The UE security capability this device announces: 5G-EA0 and 128-5G-EA2
 * (octet 1, bit 8 = EA0), 128-5G-IA2 (octet 2). NIA0 is not offered: the
 * device makes no emergency registrations. */
static const uint8_t ue_sec_caps[2] = { 0x80 | 0x20, 0x20 };

struct ue_trust_cache {
	pthread_mutex_t mu;
	char *root_pem; /* the root.pem bytes root was parsed from */
	size_t root_len;
	X509 *root;
	ue_verify_cache *vc;
};

int ue_trust_cache_new(ue_trust_cache **out)
{
	ue_trust_cache *c;

	*out = NULL;
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return UE_ERR_NOMEM;
	if (ue_verify_cache_new(&c->vc) != PROV_OK) {
		free(c);
		return UE_ERR_NOMEM;
	}
	if (pthread_mutex_init(&c->mu, NULL) != 0) {
		ue_verify_cache_free(c->vc);
		free(c);
		return UE_ERR_NOMEM;
	}
	*out = c;
	return UE_OK;
}

void ue_trust_cache_free(ue_trust_cache *c)
{
	if (c == NULL)
		return;
	ue_verify_cache_free(c->vc);
	X509_free(c->root);
	free(c->root_pem);
	pthread_mutex_destroy(&c->mu);
	free(c);
}

void ue_trust_cache_stats(ue_trust_cache *c, uint64_t *hits, uint64_t *full)
{
	if (c != NULL)
		ue_verify_cache_stats(c->vc, hits, full, NULL);
}

/* The Root in the file at path: parsed once per cache while the file's
 * bytes stay the same. *out gets a reference. */
static int root_load(X509 **out, ue_trust_cache *tc, const char *path,
    char *err, size_t errlen)
{
	char *pem = NULL;
	size_t len = 0;
	X509 *x = NULL;
	int rc;

	*out = NULL;
	if (tc == NULL)
		return pki_cert_load_file(out, path, err, errlen) == PKI_OK ?
		    UE_OK :
		    UE_ERR_STATE;
	if ((rc = ue_file_read(&pem, &len, path, PKI_FILE_MAX, err, errlen)) !=
	    0)
		return UE_ERR_STATE;
	pthread_mutex_lock(&tc->mu);
	if (tc->root != NULL && tc->root_len == len &&
	    memcmp(tc->root_pem, pem, len) == 0 && X509_up_ref(tc->root))
		x = tc->root;
	pthread_mutex_unlock(&tc->mu);
	if (x != NULL) {
		free(pem);
		*out = x;
		return UE_OK;
	}
	if (pki_cert_load(&x, (const uint8_t *)pem, len, err, errlen) !=
	    PKI_OK) {
		free(pem);
		return UE_ERR_STATE;
	}
	pthread_mutex_lock(&tc->mu);
	if (X509_up_ref(x)) {
		X509_free(tc->root);
		free(tc->root_pem);
		tc->root = x;
		tc->root_pem = pem;
		tc->root_len = len;
		pem = NULL;
	}
	pthread_mutex_unlock(&tc->mu);
	free(pem);
	*out = x;
	return UE_OK;
}

const char *ue_cause_name(int cause)
{
	switch (cause) {
	case NAS_CAUSE_ILLEGAL_UE: return "Illegal UE";
	case NAS_CAUSE_PEI_NOT_ACCEPTED: return "PEI not accepted";
	case NAS_CAUSE_ILLEGAL_ME: return "Illegal ME";
	case NAS_CAUSE_5GS_SERVICES_NOT_ALLOWED:
		return "5GS services not allowed";
	case NAS_CAUSE_UE_IDENTITY_NOT_DERIVED:
		return "UE identity cannot be derived by the network";
	case NAS_CAUSE_PLMN_NOT_ALLOWED: return "PLMN not allowed";
	case NAS_CAUSE_MAC_FAILURE: return "MAC failure";
	case NAS_CAUSE_SYNCH_FAILURE: return "Synch failure";
	case NAS_CAUSE_CONGESTION: return "Congestion";
	case NAS_CAUSE_UE_SEC_CAP_MISMATCH:
		return "UE security capabilities mismatch";
	case NAS_CAUSE_SEC_MODE_REJECTED:
		return "Security mode rejected, unspecified";
	case NAS_CAUSE_NON_5G_AUTH_UNACCEPTABLE:
		return "Non-5G authentication unacceptable";
	case NAS_CAUSE_INVALID_MANDATORY_INFO:
		return "Invalid mandatory information";
	default: return "unlisted cause";
	}
}

const char *ue_cause_reason(int cause)
{
	switch (cause) {
	case NAS_CAUSE_ILLEGAL_UE:
		return "the network could not authenticate this device: the CA "
		       "does not know it, or the request's signature did not "
		       "verify with the device certificate's key";
	case NAS_CAUSE_ILLEGAL_ME:
		return "the device certificate is revoked or failed the "
		       "network's checks (chain, validity, purpose, key usage, "
		       "key type)";
	case NAS_CAUSE_5GS_SERVICES_NOT_ALLOWED:
		return "the device is suspended at its CA";
	case NAS_CAUSE_UE_IDENTITY_NOT_DERIVED:
		return "the network sent a new subscription (provisioning "
		       "container); register again with it";
	case NAS_CAUSE_PLMN_NOT_ALLOWED:
		return "this network has no agreement with the device's CA, or "
		       "the request was signed for another network; try another "
		       "PLMN or name this core's PLMN in the policy";
	case NAS_CAUSE_SYNCH_FAILURE:
		return "the request's freshness counter is not above the last "
		       "one this network accepted (a replay, or restored device "
		       "state); a new request carries a higher counter";
	case NAS_CAUSE_CONGESTION:
		return "the network cannot reach the CA or store the subscription"
		       " right now; retry later (after the back-off it gives)";
	case NAS_CAUSE_INVALID_MANDATORY_INFO:
		return "the network found the request malformed";
	default: return "the network refused";
	}
}

/* What a refusal cause means for a person following the story. */
static const char *cause_story(int cause)
{
	return ue_cause_reason(cause);
}

static void emit(const attach_ctx *c, ue_ev_kind kind, const char *phase,
    const char *msg, int cause, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

static void emit(const attach_ctx *c, ue_ev_kind kind, const char *phase,
    const char *msg, int cause, const char *fmt, ...)
{
	char text[512];
	ue_event_t ev;
	va_list ap;

	if (c->o->on_event == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	ev.kind = kind;
	ev.phase = phase;
	ev.peer = c->peer;
	ev.msg = msg;
	ev.cause = cause;
	ev.text = text;
	c->o->on_event(c->o->event_ctx, &ev);
}

static int encode(uint8_t *buf, size_t cap, size_t *len, const nas_msg_t *m,
    char *err, size_t errlen)
{
	int rc = nas_encode(buf, cap, len, m);

	if (rc != NAS_OK) {
		util_err_set(err, errlen, "encoding %s: %s",
		    nas_msg_name(m->type), nas_strerror(rc));
		return UE_ERR_PROTO;
	}
	return UE_OK;
}

/* ---- provisioning -------------------------------------------------- */

/* Verify the container (through the swarm's cache when there is one)
 * and open it with the device key. */
static int container_open(attach_ctx *c, prov_subscription_t *sub,
    const uint8_t *buf, size_t len, char *why, size_t whylen)
{
	prov_view_t view;
	int rc;

	memset(sub, 0, sizeof(*sub));
	rc = ue_verify_cached(&view, buf, len, c->root, c->inter,
	    c->o->now != 0 ? c->o->now : (int64_t)time(NULL),
	    c->o->trust != NULL ? c->o->trust->vc : NULL, why, whylen);
	if (rc != PROV_OK)
		return rc;
	return prov_open_key(sub, NULL, &view, c->key,
	    c->key_pub[0] == 0x04 ? c->key_pub : NULL, c->answer_id, c->nonce,
	    why, whylen);
}

/* Judge one datagram during provisioning: 1 = genuine answer (container
 * opened, or a reject without container), 0 = ignore, keep waiting. */
static int prov_answer(void *vctx, const uint8_t *buf, size_t len)
{
	attach_ctx *c = vctx;
	nas_msg_t *m = c->msg;
	prov_subscription_t sub;
	char why[256] = "";
	int rc;

	rc = nas_decode(m, buf, len);
	if (rc != NAS_OK) {
		c->out->ignored++;
		emit(c, UE_EV_REFUSE, "provision", NULL, -1,
		    "ignored %zu bytes "
		    "that are not a NAS message (%s)",
		    len, nas_strerror(rc));
		return 0;
	}
	if (m->type != NAS_MSG_REGISTRATION_REJECT) {
		c->out->ignored++;
		emit(c, UE_EV_REFUSE, "provision", nas_msg_name(m->type), -1,
		    "ignored an unexpected %s", nas_msg_name(m->type));
		return 0;
	}
	if (!m->reg_rej.has_payload ||
	    m->reg_rej.cause != NAS_CAUSE_UE_IDENTITY_NOT_DERIVED) {
		c->cause = m->reg_rej.cause;
		c->backoff_s = m->reg_rej.has_t3346 ?
		    nas_gprs_timer_to_seconds(m->reg_rej.t3346) :
		    0;
		emit(c, UE_EV_RECV, "provision", "Registration reject",
		    m->reg_rej.cause,
		    "Registration reject, 5GMM cause #%d (%s), "
		    "no container: %s%s",
		    m->reg_rej.cause, ue_cause_name(m->reg_rej.cause),
		    cause_story(m->reg_rej.cause),
		    m->reg_rej.has_t3346 ? " (back-off given)" : "");
		return 1;
	}
	emit(c, UE_EV_RECV, "provision", "Registration reject",
	    m->reg_rej.cause,
	    "Registration reject #9 with a %zu-byte provisioning container",
	    m->reg_rej.payload_len);
	rc = container_open(c, &sub, m->reg_rej.payload, m->reg_rej.payload_len,
	    why, sizeof(why));
	if (rc != PROV_OK) {
		c->out->ignored++;
		emit(c, UE_EV_REFUSE, "provision", "Registration reject",
		    m->reg_rej.cause,
		    "container refused (%s: %s); ignored as if it "
		    "never came, still waiting",
		    prov_strerror(rc), why);
		ERR_clear_error();
		return 0;
	}
	memset(c->creds, 0, sizeof(*c->creds));
	c->creds->sub = sub;
	prov_subscription_wipe(&sub);
	/* Nothing above the network's initial SQN has been seen yet. */
	memcpy(c->creds->sqn_ms, c->creds->sub.sqn, PROV_SQN_LEN);
	snprintf(c->creds->device_id, sizeof(c->creds->device_id), "%s",
	    c->dev->device_id);
	c->prov_ok = 1;
	emit(c, UE_EV_ACCEPT, "provision", NULL, -1,
	    "container accepted: the "
	    "signer chains to our Root with the signer EKU, the signature "
	    "verifies, it answers our nonce and names DeviceID %s; decrypted "
	    "subscription for %s",
	    c->dev->device_id, c->creds->sub.supi);
	return 1;
}

/* The serving network name (TS 33.501 6.1.1.4) of the PLMN the device
 * registers to: the core's PLMN in the policy, else UE_DEFAULT_PLMN. */
static int snn_for_core(char *out, size_t cap, const ue_core_t *core, char *err,
    size_t errlen)
{
	const char *plmn = core->plmn[0] != '\0' ? core->plmn : UE_DEFAULT_PLMN;
	char mcc[4], mnc[4];
	size_t n = strlen(plmn);

	if (n < 5 || n > 6) {
		util_err_set(err, errlen, "PLMN %s is not MCC + MNC", plmn);
		return UE_ERR_ARG;
	}
	memcpy(mcc, plmn, 3);
	mcc[3] = '\0';
	snprintf(mnc, sizeof(mnc), "%s", plmn + 3);
	if (aka_snn_format(out, cap, mcc, mnc) != AKA_OK) {
		util_err_set(err, errlen,
		    "cannot form the serving network name "
		    "of PLMN %s",
		    plmn);
		return UE_ERR_ARG;
	}
	return UE_OK;
}

/* Fill and sign the provisioning request for core: URL, a fresh nonce
 * (also kept in c), the core's serving network name and the next freshness
 * counter (persisted before it is used; a simulated device with volatile
 * state takes the wall clock in microseconds). */
static int request_build(attach_ctx *c, prov_request_t *req,
    const ue_core_t *core, char *err, size_t errlen)
{
	struct timespec ts;
	int rc;

	memset(req, 0, sizeof(*req));
	snprintf(req->url, sizeof(req->url), "%s", c->dev->certificate_url);
	if (util_random(c->nonce, sizeof(c->nonce)) != 0) {
		util_err_openssl(err, errlen, "no randomness for the UE nonce");
		return UE_ERR_CRYPTO;
	}
	memcpy(req->ue_nonce, c->nonce, sizeof(c->nonce));
	if ((rc = snn_for_core(req->snn, sizeof(req->snn), core, err,
	         errlen)) != 0)
		return rc;
	if (c->o->volatile_creds) {
		clock_gettime(CLOCK_REALTIME, &ts);
		req->counter = (uint64_t)ts.tv_sec * 1000000u +
		    (uint64_t)ts.tv_nsec / 1000u;
	} else if ((rc = ue_counter_next(&req->counter, c->o->dir, err,
	                errlen)) != 0) {
		return rc;
	}
	if (prov_request_sign(req, c->key, err, errlen) != PROV_OK)
		return UE_ERR_CRYPTO;
	return UE_OK;
}

/* Where the policy names core's onboarding public key, replace the
 * encoded request in buf (*len octets, cap room) by its concealed form
 * (docs/protocol.md, "Concealed provisioning request"); else leave it. */
static int request_conceal(const ue_core_t *core, uint8_t *buf, size_t cap,
    size_t *len, char *err, size_t errlen)
{
	uint8_t plain[PROV_REQUEST_MAX];
	size_t n = *len;
	int rc;

	if (core->ob_scheme == 0)
		return UE_OK;
	if (n > sizeof(plain))
		return UE_ERR_ARG;
	memcpy(plain, buf, n);
	rc = prov_request_conceal(buf, cap, len, plain, n, core->ob_scheme,
	    core->ob_key_id, core->ob_pub, core->ob_pub_len, NULL, err, errlen);
	OPENSSL_cleanse(plain, sizeof(plain));
	return rc == PROV_OK ? UE_OK : UE_ERR_CRYPTO;
}

/* Tell the story of the onboarding Registration request about to go. */
static void prov_story_request(attach_ctx *c, const ue_core_t *core,
    const prov_request_t *req)
{
	char nhex[2 * PROV_NONCE_LEN + 1];

	util_hex_encode(nhex, c->nonce, sizeof(c->nonce));
	emit(c, UE_EV_SEND, "provision", "Registration request", -1,
	    "Registration request (onboarding) to %s%s%s: certificate URL "
	    "%s, fresh UE nonce %s, serving network %s, counter %llu, "
	    "signed with the device key (%zu-byte signature)%s%s",
	    core->address, core->plmn[0] ? " PLMN " : "", core->plmn, req->url,
	    nhex, req->snn, (unsigned long long)req->counter, req->sig_len,
	    core->ob_scheme != 0 ? ", all of it concealed "
	                           "(ECIES " :
	                           "; sent in clear (no onboarding key in the "
	                           "policy for this core)",
	    core->ob_scheme == 1 ? "Profile A) "
	                           "to the core's onboarding key" :
	        core->ob_scheme == 2 ?
	                           "Profile B) to the core's onboarding key" :
	                           "");
}

/* The container opened: keep the credentials (stored, or in memory for a
 * volatile device) and record the provisioning (t0: the request sent). */
static int prov_keep(attach_ctx *c, uint64_t t0, char *err, size_t errlen)
{
	int rc;

	if (!c->o->volatile_creds &&
	    (rc = ue_creds_store_as(c->creds, c->o->dir, c->creds_file, err,
	         errlen)) != 0)
		return rc;
	c->out->prov_ms = (unsigned)(ue_now_ms() - t0);
	c->out->provisioned = 1;
	snprintf(c->out->supi, sizeof(c->out->supi), "%s", c->creds->sub.supi);
	if (c->o->volatile_creds)
		emit(c, UE_EV_ACCEPT, "provision", NULL, -1,
		    "credentials kept "
		    "in memory only (simulated device) after %u ms",
		    c->out->prov_ms);
	else
		emit(c, UE_EV_ACCEPT, "provision", NULL, -1,
		    "credentials "
		    "stored in %s/%s (0600, written atomically) after %u ms",
		    c->o->dir, c->creds_file, c->out->prov_ms);
	return UE_OK;
}

/* One provisioning attempt at core `peer`: the signed (and, with the
 * policy's onboarding key, concealed) request out, the container in and
 * kept. Returns 0 with c->prov_ok or c->cause set, UE_ERR_TIMEOUT, or
 * another error. */
static int provision_at(attach_ctx *c, const ue_core_t *core, char *err,
    size_t errlen)
{
	prov_request_t req;
	uint8_t payload[PROV_CONCEALED_MAX], wire[NAS_MAX_MSG_LEN];
	size_t plen = 0, wlen = 0;
	ue_udp_t u;
	nas_msg_t *m = c->msg;
	uint64_t t0;
	int rc;

	c->prov_ok = 0;
	c->cause = -1;
	c->backoff_s = 0;
	if ((rc = ue_udp_open(&u, core->address, err, errlen)) != 0)
		return rc;
	u.tap = c->o->tap;
	u.tap_ctx = c->o->tap_ctx;
	snprintf(c->answer_id, sizeof(c->answer_id), "%s", c->dev->device_id);
	if ((rc = request_build(c, &req, core, err, errlen)) != 0)
		goto done;
	if (prov_request_encode(payload, sizeof(payload), &plen, &req, err,
	        errlen) != PROV_OK ||
	    request_conceal(core, payload, sizeof(payload), &plen, err,
	        errlen) != 0 ||
	    (core->ob_scheme != 0 ?
	            prov_concealed_device_id(c->answer_id, sizeof(c->answer_id),
	                &req, c->dev->device_id) :
	            PROV_OK) != PROV_OK) {
		rc = UE_ERR_ARG;
		goto done;
	}
	memset(m, 0, sizeof(*m));
	m->type = NAS_MSG_REGISTRATION_REQUEST;
	m->reg_req.reg_type = NAS_REG_SNPN_ONBOARDING;
	m->reg_req.follow_on = 1;
	m->reg_req.ngksi.ksi = NAS_NGKSI_NO_KEY;
	m->reg_req.id.kind = NAS_ID_NONE;
	m->reg_req.has_payload = true;
	m->reg_req.payload_type = NAS_PAYLOAD_TYPE_PROVCA;
	m->reg_req.payload_len = plen;
	memcpy(m->reg_req.payload, payload, plen);
	if ((rc = encode(wire, sizeof(wire), &wlen, m, err, errlen)) != 0)
		goto done;
	prov_story_request(c, core, &req);
	t0 = ue_now_ms();
	rc = ue_udp_transact(&u, wire, wlen, c->o->policy.timeout_ms,
	    c->o->policy.max_timeout_ms, c->o->policy.retransmits,
	    c->o->policy.attempt_ms, prov_answer, c, err, errlen);
	if (rc == 0 && c->prov_ok) {
		rc = prov_keep(c, t0, err, errlen);
	} else if (rc == UE_ERR_TIMEOUT) {
		emit(c, UE_EV_REFUSE, "provision", NULL, -1, "%s", err);
	}
done:
	if (u.sent > 1 && rc != UE_ERR_ARG)
		emit(c, UE_EV_INFO, "provision", NULL, -1,
		    "%u retransmission(s) "
		    "to %s",
		    u.sent - 1, core->address);
	c->out->retransmissions += u.resent;
	ue_udp_close(&u);
	OPENSSL_cleanse(m, sizeof(*m));
	return rc;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { .tv_sec = ms / 1000,
		.tv_nsec = (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) != 0)
		;
}

/* Try the cores in order, rounds times; a #22 back-off (bounded by the
 * policy) is waited out before the next round. */
static int provision(attach_ctx *c, ue_core_t *served, char *err, size_t errlen)
{
	const ue_policy_t *p = &c->o->policy;
	unsigned rounds = c->o->rounds != 0 ? c->o->rounds : 2, r;
	int rc = UE_ERR_TIMEOUT, last_cause = -1;
	size_t i;

	for (r = 0; r < rounds; r++) {
		unsigned backoff_ms = 0;
		int congested = 0;

		for (i = 0; i < p->ncores; i++) {
			c->peer = p->cores[i].address;
			emit(c, UE_EV_STEP, "select", NULL, -1,
			    "trying core %zu of "
			    "%zu: %s%s%s",
			    i + 1, p->ncores, p->cores[i].address,
			    p->cores[i].plmn[0] ? " PLMN " : "",
			    p->cores[i].plmn);
			rc = provision_at(c, &p->cores[i], err, errlen);
			if (rc == 0 && c->prov_ok) {
				*served = p->cores[i];
				return UE_OK;
			}
			if (rc != 0 && rc != UE_ERR_TIMEOUT)
				return rc;
			if (rc == 0) {
				last_cause = c->cause;
				if (c->cause == NAS_CAUSE_CONGESTION) {
					unsigned b = c->backoff_s * 1000u;

					congested = 1;
					if (backoff_ms == 0 || b < backoff_ms)
						backoff_ms = b;
				}
			}
			emit(c, UE_EV_STEP, "select", NULL, -1,
			    "moving on from %s", p->cores[i].address);
		}
		if (!congested || r + 1 == rounds)
			break;
		if (backoff_ms > p->max_backoff_ms)
			backoff_ms = p->max_backoff_ms;
		c->peer = NULL;
		emit(c, UE_EV_INFO, "select", NULL, NAS_CAUSE_CONGESTION,
		    "congestion: honouring the back-off, %u ms, before the next "
		    "round",
		    backoff_ms);
		sleep_ms(backoff_ms);
	}
	c->out->cause = last_cause;
	if (last_cause >= 0) {
		util_err_set(err, errlen,
		    "provisioning refused: 5GMM cause #%d "
		    "(%s): %s",
		    last_cause, ue_cause_name(last_cause),
		    cause_story(last_cause));
		return UE_ERR_REJECTED;
	}
	util_err_set(err, errlen,
	    "no core gave a genuine provisioning answer "
	    "(%u ignored)",
	    c->out->ignored);
	return UE_ERR_TIMEOUT;
}

/* ---- registration with 5G-AKA --------------------------------------- */

/* TS 24.501 §5.4.2.3 / §5.4.2.5 and TS 33.501 §6.7.2: a decoded Security
 * mode command (in c->msg) is accepted only if it selects algorithms we
 * announced and support, names the ngKSI of our last challenge, replays our
 * UE security capabilities unaltered and its MAC verifies with the new
 * context; then that context is taken into use. Otherwise c->smc_reject
 * gets the cause of the (unprotected: no earlier context) Security mode
 * reject: #23 for altered capabilities, #24 for anything else, a MAC
 * failure included. 1 accepted (plain holds it), 0 not. */
static int smc_check(attach_ctx *c, const uint8_t *buf, size_t len,
    uint8_t *plain, size_t cap, size_t *plen, const char **why)
{
	const nas_smc_t *smc = &c->msg->smc;
	nas_sec_ctx_t fresh;
	int r;

	c->smc_reject = NAS_CAUSE_SEC_MODE_REJECTED;
	*why = "Security mode command selects algorithms we did not announce";
	if (!nas_ue_sec_cap_has(ue_sec_caps, 2, 1, smc->int_alg) ||
	    !nas_ue_sec_cap_has(ue_sec_caps, 2, 0, smc->enc_alg) ||
	    nas_sec_ctx_init(&fresh, c->kamf, smc->enc_alg, smc->int_alg, 1,
	        0) != NAS_SEC_OK)
		return 0;
	if (smc->ngksi.ksi != c->ksi) {
		*why = "Security mode command names another ngKSI";
		r = NAS_SEC_ERR_ARG;
	} else if (smc->caps_len != sizeof(ue_sec_caps) ||
	    memcmp(smc->caps, ue_sec_caps, sizeof(ue_sec_caps)) != 0) {
		*why = "replayed UE security capabilities differ from ours";
		c->smc_reject = NAS_CAUSE_UE_SEC_CAP_MISMATCH;
		r = NAS_SEC_ERR_ARG;
	} else {
		r = nas_sec_unprotect(plain, cap, plen, &c->rx_hdr, &fresh, buf,
		    len);
		if (r != NAS_SEC_OK)
			*why = "Security mode command MAC does not verify";
	}
	if (r == NAS_SEC_OK) {
		nas_sec_ctx_clear(&c->sec);
		c->sec = fresh;
		c->have_sec = 1;
		c->smc_reject = 0;
	}
	nas_sec_ctx_clear(&fresh);
	return r == NAS_SEC_OK;
}

/* Open a protected downlink message into plain. A Security mode command
 * with a new context (header type 3) is checked with keys derived from
 * K_AMF for the algorithms it names, which must be ones we announced, and
 * must replay our capabilities; any other protected message needs the
 * context it established. 1: plain holds the message; 0: refused (why);
 * a Security mode command that cannot be accepted also sets
 * c->smc_reject (the cause of the Security mode reject to send). */
static int ue_sec_open(attach_ctx *c, const uint8_t *buf, size_t len,
    uint8_t *plain, size_t cap, size_t *plen, const char **why)
{
	int r;

	if (buf[1] != NAS_SEC_HDR_INTEGRITY_NEW) {
		if (!c->have_sec) {
			*why =
			    "protected message without a NAS security context";
			return 0;
		}
		r = nas_sec_unprotect(plain, cap, plen, &c->rx_hdr, &c->sec,
		    buf, len);
		*why = nas_sec_strerror(r);
		return r == NAS_SEC_OK;
	}
	*why = c->have_sec ? "Security mode command repeated: a context is "
	                     "already in force" :
	                     "Security mode command before authentication";
	if (!c->have_kamf || c->have_sec)
		return 0;
	*why = "Security mode command not decodable";
	if (len <= NAS_SEC_HDR_LEN ||
	    nas_decode(c->msg, buf + NAS_SEC_HDR_LEN, len - NAS_SEC_HDR_LEN) !=
	        NAS_OK ||
	    c->msg->type != NAS_MSG_SECURITY_MODE_COMMAND)
		return 0;
	return smc_check(c, buf, len, plain, cap, plen, why);
}

/* The challenge just answered came again (T3560): TS 24.501 §5.4.1.3.3,
 * the stored answer goes again without the USIM (which would see the SQN
 * as used) — while that answer is what we are waiting on. */
static int same_challenge(attach_ctx *c)
{
	if (c->sent_type != NAS_MSG_AUTH_RESPONSE &&
	    c->sent_type != NAS_MSG_AUTH_FAILURE)
		return 0; /* answered, and the network moved on */
	emit(c, UE_EV_RECV, "register", "Authentication request", -1,
	    "Authentication request again (the network's retransmission, "
	    "same RAND): %s sent again, the USIM not asked twice",
	    nas_msg_name(c->sent_type));
	return UE_ANSWER_AGAIN;
}

/* A Security mode command while the context it set up is in force and
 * our Security mode complete is unanswered: the network's retransmission
 * (T3560, the next downlink COUNT) when it opens in that context, so the
 * complete was lost and goes again. 1 when it was that. */
static int smc_again(attach_ctx *c, const uint8_t *buf, size_t len)
{
	uint8_t plain[512], hdr = 0;
	size_t plen = 0;
	nas_sec_ctx_t try;
	int ok;

	if (!c->have_sec || c->sent_type != NAS_MSG_SECURITY_MODE_COMPLETE ||
	    len < 2 || buf[1] != NAS_SEC_HDR_INTEGRITY_NEW)
		return 0;
	try = c->sec;
	ok = nas_sec_unprotect(plain, sizeof(plain), &plen, &hdr, &try, buf,
	         len) == NAS_SEC_OK &&
	    nas_decode(c->msg, plain, plen) == NAS_OK &&
	    c->msg->type == NAS_MSG_SECURITY_MODE_COMMAND;
	if (ok)
		c->sec.rx_count = try.rx_count;
	OPENSSL_cleanse(&try, sizeof(try));
	OPENSSL_cleanse(plain, sizeof(plain));
	if (ok)
		emit(c, UE_EV_RECV, "register", "Security mode command", -1,
		    "Security mode command again (the network's retransmission, "
		    "MAC verified, downlink NAS COUNT %u): Security mode complete "
		    "sent again",
		    c->sec.rx_count - 1);
	return ok;
}

static int reg_answer(void *vctx, const uint8_t *buf, size_t len)
{
	attach_ctx *c = vctx;
	uint8_t plain[512];
	size_t plen = 0;
	const char *why = NULL;
	int rc;

	c->rx_hdr = 0;
	c->smc_reject = 0;
	if (smc_again(c, buf, len))
		return UE_ANSWER_AGAIN;
	if (nas_sec_header_type(buf, len) > 0) {
		if (!ue_sec_open(c, buf, len, plain, sizeof(plain), &plen,
		        &why)) {
			if (c->smc_reject != 0) {
				emit(c, UE_EV_REFUSE, "register",
				    "Security mode command", c->smc_reject,
				    "Security mode command cannot be accepted: %s",
				    why);
				return 1; /* answered by a reject */
			}
			c->out->ignored++;
			emit(c, UE_EV_REFUSE, "register", NULL, -1,
			    "discarded a "
			    "protected message: %s",
			    why);
			return 0;
		}
		buf = plain;
		len = plen;
	}
	rc = nas_decode(c->msg, buf, len);
	if (rc != NAS_OK) {
		c->out->ignored++;
		emit(c, UE_EV_REFUSE, "register", NULL, -1,
		    "ignored %zu bytes that "
		    "are not a NAS message (%s)",
		    len, nas_strerror(rc));
		return 0;
	}
	switch (c->msg->type) {
	case NAS_MSG_AUTH_REQUEST:
		if (c->have_last_rand &&
		    CRYPTO_memcmp(c->last_rand, c->msg->auth_req.rand,
		        NAS_RAND_LEN) == 0)
			return same_challenge(c);
		return 1;
	case NAS_MSG_REGISTRATION_ACCEPT:
		if (c->rx_hdr != NAS_SEC_HDR_INTEGRITY &&
		    c->rx_hdr != NAS_SEC_HDR_INTEGRITY_CIPHERED) {
			/* TS 24.501 §4.4.4.2: not integrity protected → discard */
			c->out->ignored++;
			emit(c, UE_EV_REFUSE, "register", "Registration accept",
			    -1,
			    "refused an unprotected Registration accept (security "
			    "header type %u): NAS security is required",
			    c->rx_hdr);
			return 0;
		}
		return 1;
	case NAS_MSG_SECURITY_MODE_COMMAND:
		return c->rx_hdr == NAS_SEC_HDR_INTEGRITY_NEW;
	case NAS_MSG_AUTH_REJECT:
	case NAS_MSG_REGISTRATION_REJECT: return 1;
	default:
		c->out->ignored++;
		emit(c, UE_EV_REFUSE, "register", nas_msg_name(c->msg->type),
		    -1, "ignored an unexpected %s", nas_msg_name(c->msg->type));
		return 0;
	}
}

/* Answer one Authentication request as the USIM: fills *next with the
 * Authentication response or failure; updates SQN_MS and K_AMF. */
static int usim_answer(attach_ctx *c, nas_msg_t *next, int *authenticated,
    char *err, size_t errlen)
{
	const nas_auth_request_t *ar = &c->msg->auth_req;
	aka_usim_result_t r;
	char snn[AKA_SNN_BUF];
	int rc, urc;

	memcpy(c->last_rand, ar->rand, NAS_RAND_LEN);
	c->have_last_rand = 1;
	c->ksi = ar->ngksi.ksi;
	c->have_kamf = 0;
	if (aka_snn_format(snn, sizeof(snn), c->creds->sub.mcc,
	        c->creds->sub.mnc) != AKA_OK) {
		util_err_set(err, errlen,
		    "cannot form the serving network name");
		return UE_ERR_ARG;
	}
	memset(next, 0, sizeof(*next));
	urc = aka_usim_authenticate(&r, c->creds->sub.ki, c->creds->sub.opc,
	    ar->rand, ar->autn, snn, c->creds->sqn_ms);
	switch (urc) {
	case AKA_OK:
		/* SQN_MS is durable before RES* leaves: a replay of this
		 * challenge after a crash is still refused. */
		memcpy(c->creds->sqn_ms, r.sqn, AKA_SQN_LEN);
		if (!c->o->volatile_creds &&
		    (rc = ue_creds_store_as(c->creds, c->o->dir, c->creds_file,
		         err, errlen)) != 0)
			goto done;
		if (aka_kamf(c->kamf, r.kseaf, c->creds->sub.supi, ar->abba,
		        ar->abba_len) != AKA_OK) {
			util_err_set(err, errlen, "K_AMF derivation failed");
			rc = UE_ERR_CRYPTO;
			goto done;
		}
		next->type = NAS_MSG_AUTH_RESPONSE;
		memcpy(next->auth_resp.res_star, r.res_star, NAS_RES_STAR_LEN);
		*authenticated = 1;
		c->have_kamf = 1;
		emit(c, UE_EV_ACCEPT, "register", "Authentication request", -1,
		    "AUTN verified (MAC-A good, SQN %012llx fresh against SQN_MS); "
		    "answering with RES*, SQN_MS stored",
		    (unsigned long long)aka_sqn_to_u64(r.sqn));
		rc = UE_OK;
		break;
	case AKA_ERR_SYNC:
		next->type = NAS_MSG_AUTH_FAILURE;
		next->auth_fail.cause = NAS_CAUSE_SYNCH_FAILURE;
		next->auth_fail.has_auts = true;
		memcpy(next->auth_fail.auts, r.auts, NAS_AUTS_LEN);
		c->out->resyncs++;
		emit(c, UE_EV_REFUSE, "register", "Authentication request",
		    NAS_CAUSE_SYNCH_FAILURE,
		    "SQN not fresh against SQN_MS "
		    "%012llx: synch failure, sending AUTS so the network can "
		    "resynchronise",
		    (unsigned long long)aka_sqn_to_u64(c->creds->sqn_ms));
		rc = UE_OK;
		break;
	case AKA_ERR_MAC:
	case AKA_ERR_AMF:
		next->type = NAS_MSG_AUTH_FAILURE;
		next->auth_fail.cause = urc == AKA_ERR_MAC ?
		    NAS_CAUSE_MAC_FAILURE :
		    NAS_CAUSE_NON_5G_AUTH_UNACCEPTABLE;
		emit(c, UE_EV_REFUSE, "register", "Authentication request",
		    next->auth_fail.cause,
		    "challenge refused: %s (the network does "
		    "not hold our key)",
		    aka_strerror(urc));
		rc = UE_OK;
		break;
	default:
		util_err_set(err, errlen, "USIM: %s", aka_strerror(urc));
		rc = UE_ERR_CRYPTO;
	}
done:
	aka_usim_result_clear(&r);
	return rc;
}

/* The uplink datagram for m: plain, or protected with header type
 * c->tx_hdr in the NAS security context (the next uplink COUNT). */
static int reg_wire(attach_ctx *c, const nas_msg_t *m, uint8_t *wire,
    size_t cap, size_t *wlen, char *err, size_t errlen)
{
	uint8_t plain[512];
	size_t plen = 0;
	int rc;

	if (c->tx_hdr == 0)
		return encode(wire, cap, wlen, m, err, errlen);
	if ((rc = encode(plain, sizeof(plain), &plen, m, err, errlen)) != 0)
		return rc;
	rc = nas_sec_protect(wire, cap, wlen, &c->sec, c->tx_hdr, plain, plen);
	OPENSSL_cleanse(plain, sizeof(plain));
	if (rc != NAS_SEC_OK) {
		util_err_set(err, errlen, "protecting %s: %s",
		    nas_msg_name(m->type), nas_sec_strerror(rc));
		return UE_ERR_CRYPTO;
	}
	return UE_OK;
}

/* After a protected Registration accept: Registration complete, integrity
 * protected and ciphered, sent once (nothing answers it). */
static int reg_complete(attach_ctx *c, ue_udp_t *u, nas_msg_t *next, char *err,
    size_t errlen)
{
	uint8_t wire[64];
	size_t wlen = 0;
	int rc;

	memset(next, 0, sizeof(*next));
	next->type = NAS_MSG_REGISTRATION_COMPLETE;
	c->tx_hdr = NAS_SEC_HDR_INTEGRITY_CIPHERED;
	if ((rc = reg_wire(c, next, wire, sizeof(wire), &wlen, err, errlen)) !=
	        0 ||
	    (rc = ue_udp_send(u, wire, wlen, err, errlen)) != 0)
		return rc;
	emit(c, UE_EV_SEND, "register", "Registration complete", -1,
	    "Registration complete (integrity protected and ciphered, uplink "
	    "NAS COUNT %u)",
	    c->sec.tx_count - 1);
	return UE_OK;
}

/* The SUCI of the Registration request: concealed to the home network
 * key the subscription delivered (a fresh ephemeral key each time), else
 * the null scheme. str gets the TS 23.003 string form for the story. */
static int reg_suci(attach_ctx *c, nas_suci_t *out, char *str, size_t cap,
    char *err, size_t errlen)
{
	const prov_subscription_t *sub = &c->creds->sub;
	suci_t s;
	int rc;

	rc = suci_make(&s, sub->supi, (int)strlen(sub->mnc), sub->hn_scheme,
	    sub->hn_pub, sub->hn_pub_len, sub->hn_key_id,
	    sub->hn_scheme != 0 ? sub->routing : "0000", NULL, err, errlen);
	if (rc == SUCI_OK)
		rc = suci_string_format(str, cap, &s);
	if (rc != SUCI_OK) {
		OPENSSL_cleanse(&s, sizeof(s));
		return UE_ERR_CRYPTO;
	}
	memset(out, 0, sizeof(*out));
	memcpy(out->mcc, s.mcc, sizeof(out->mcc));
	memcpy(out->mnc, s.mnc, sizeof(out->mnc));
	memcpy(out->routing, s.routing, sizeof(out->routing));
	out->scheme = s.scheme;
	out->hnpki = s.key_id;
	memcpy(out->msin, s.msin, sizeof(out->msin));
	out->out_len = s.out_len;
	memcpy(out->out, s.out, s.out_len);
	OPENSSL_cleanse(&s, sizeof(s));
	return UE_OK;
}

/* A Security mode command that ue_sec_open accepted: tell the story and
 * make next the Security mode complete (header type 4). */
static void on_smc(attach_ctx *c, nas_msg_t *next)
{
	emit(c, UE_EV_RECV, "register", "Security mode command", -1,
	    "Security mode command (integrity protected with new 5G NAS "
	    "security context)");
	emit(c, UE_EV_ACCEPT, "register", "Security mode command", -1,
	    "MAC verified with K_NASint from K_AMF, replayed UE security "
	    "capabilities match: NAS security on with %s and %s",
	    nas_sec_alg_name(1, c->sec.int_alg),
	    nas_sec_alg_name(0, c->sec.enc_alg));
	memset(next, 0, sizeof(*next));
	next->type = NAS_MSG_SECURITY_MODE_COMPLETE;
	c->tx_hdr = NAS_SEC_HDR_INTEGRITY_CIPHERED_NEW;
	emit(c, UE_EV_SEND, "register", "Security mode complete", -1,
	    "Security mode complete (integrity protected and ciphered with the "
	    "new context)");
}

/* TS 24.501 §5.4.2.5: answer a Security mode command that cannot be
 * accepted with a Security mode reject carrying c->smc_reject, unprotected
 * (no NAS security context existed before this command, TS 33.501
 * §6.7.2), sent once; the network aborts the registration, so the attempt
 * ends here (UE_ERR_PROTO, err says why). */
static int smc_reject_send(attach_ctx *c, ue_udp_t *u, nas_msg_t *next,
    char *err, size_t errlen)
{
	uint8_t wire[16];
	size_t wlen = 0;
	int rc, cause = c->smc_reject;

	memset(next, 0, sizeof(*next));
	next->type = NAS_MSG_SECURITY_MODE_REJECT;
	next->smc_rej.cause = (uint8_t)cause;
	c->tx_hdr = 0;
	if ((rc = reg_wire(c, next, wire, sizeof(wire), &wlen, err, errlen)) !=
	        0 ||
	    (rc = ue_udp_send(u, wire, wlen, err, errlen)) != 0)
		return rc;
	emit(c, UE_EV_SEND, "register", "Security mode reject", cause,
	    "Security mode reject #%d (%s), unprotected: no earlier NAS "
	    "security context",
	    cause, ue_cause_name(cause));
	util_err_set(err, errlen,
	    "Security mode command refused with cause "
	    "#%d (%s); registration aborted",
	    cause, ue_cause_name(cause));
	return UE_ERR_PROTO;
}

/* A protected Registration accept after authentication: registered;
 * record fingerprint and algorithms, then Registration complete. */
static int on_accept(attach_ctx *c, ue_udp_t *u, nas_msg_t *next, uint64_t t0,
    char *err, size_t errlen)
{
	c->out->reg_ms = (unsigned)(ue_now_ms() - t0);
	c->out->registered = 1;
	if (aka_fingerprint(c->out->kamf_fp, c->kamf) != AKA_OK) {
		util_err_set(err, errlen, "fingerprint failed");
		return UE_ERR_CRYPTO;
	}
	c->out->nia = nas_sec_alg_name(1, c->sec.int_alg);
	c->out->nea = nas_sec_alg_name(0, c->sec.enc_alg);
	emit(c, UE_EV_RECV, "register", "Registration accept", -1,
	    "Registration accept (integrity protected and ciphered, %s/%s): "
	    "registered as %s after %u ms",
	    c->out->nia, c->out->nea, c->creds->sub.supi, c->out->reg_ms);
	return reg_complete(c, u, next, err, errlen);
}

/* Start a registration at core: c's NAS state reset, next the initial
 * Registration request with the SUCI and the UE security capability. */
static int reg_request(attach_ctx *c, const ue_core_t *core, nas_msg_t *next,
    char *err, size_t errlen)
{
	char suci[SUCI_STR_MAX];
	int rc;

	c->peer = core->address;
	c->have_last_rand = 0;
	c->have_kamf = 0;
	c->have_sec = 0;
	c->tx_hdr = 0;
	nas_sec_ctx_clear(&c->sec);
	next->type = NAS_MSG_REGISTRATION_REQUEST;
	next->reg_req.reg_type = NAS_REG_INITIAL;
	next->reg_req.follow_on = 1;
	next->reg_req.ngksi.ksi = NAS_NGKSI_NO_KEY;
	next->reg_req.id.kind = NAS_ID_SUCI;
	next->reg_req.has_ue_sec_cap = true;
	next->reg_req.ue_sec_cap_len = sizeof(ue_sec_caps);
	memcpy(next->reg_req.ue_sec_cap, ue_sec_caps, sizeof(ue_sec_caps));
	if ((rc = reg_suci(c, &next->reg_req.id.suci, suci, sizeof(suci), err,
	         errlen)) != 0)
		return rc;
	snprintf(c->out->supi, sizeof(c->out->supi), "%s", c->creds->sub.supi);
	emit(c, UE_EV_SEND, "register", "Registration request", -1,
	    "Registration request (initial) to %s with SUCI (%s) %s",
	    core->address,
	    c->creds->sub.hn_scheme == 1     ? "ECIES Profile A" :
	        c->creds->sub.hn_scheme == 2 ? "ECIES Profile B" :
	                                       "null scheme",
	    suci);
	return UE_OK;
}

/* An Authentication request (c->msg): the USIM's answer into next, at
 * most MAX_AUTH_ROUNDS challenges in one registration. */
static int on_auth_request(attach_ctx *c, nas_msg_t *next, int *authenticated,
    int *rounds, char *err, size_t errlen)
{
	int rc;

	emit(c, UE_EV_RECV, "register", "Authentication request", -1,
	    "Authentication request (5G-AKA challenge: RAND, AUTN, ABBA)");
	if (++*rounds > MAX_AUTH_ROUNDS) {
		util_err_set(err, errlen,
		    "more than %d challenges in one "
		    "registration",
		    MAX_AUTH_ROUNDS);
		return UE_ERR_PROTO;
	}
	*authenticated = 0;
	c->tx_hdr = 0;
	if ((rc = usim_answer(c, next, authenticated, err, errlen)) != 0)
		return rc;
	emit(c, UE_EV_SEND, "register", nas_msg_name(next->type),
	    next->type == NAS_MSG_AUTH_FAILURE ? next->auth_fail.cause : -1,
	    "%s%s", nas_msg_name(next->type),
	    next->type == NAS_MSG_AUTH_RESPONSE ? " with RES*" :
	        next->auth_fail.has_auts        ? " #21 with AUTS" :
	                                          "");
	return UE_OK;
}

/* A Registration reject or an Authentication reject (c->msg): the attempt
 * ends, UE_ERR_REJECTED with err saying why. */
static int on_refusal(attach_ctx *c, char *err, size_t errlen)
{
	int cause;

	if (c->msg->type != NAS_MSG_REGISTRATION_REJECT) {
		emit(c, UE_EV_RECV, "register", "Authentication reject", -1,
		    "Authentication reject: the network did not accept our "
		    "answer");
		util_err_set(err, errlen,
		    "authentication rejected by the "
		    "network");
		return UE_ERR_REJECTED;
	}
	cause = c->msg->reg_rej.cause;
	c->out->cause = cause;
	emit(c, UE_EV_RECV, "register", "Registration reject", cause,
	    "Registration reject #%d (%s)", cause, ue_cause_name(cause));
	util_err_set(err, errlen,
	    "registration refused: 5GMM cause #%d (%s): "
	    "%s",
	    cause, ue_cause_name(cause),
	    cause == NAS_CAUSE_ILLEGAL_UE ?
	        "the network holds no subscription with this SUPI" :
	        ue_cause_reason(cause));
	return UE_ERR_REJECTED;
}

/* One registration at core: Registration request, 5G-AKA, Security mode
 * command, protected Registration accept, Registration complete. */
static int do_register(attach_ctx *c, const ue_core_t *core, char *err,
    size_t errlen)
{
	nas_msg_t *next = NULL;
	uint8_t wire[NAS_MAX_MSG_LEN];
	size_t wlen = 0;
	ue_udp_t u;
	uint64_t t0;
	int rc, authenticated = 0, rounds = 0;

	if ((rc = ue_udp_open(&u, core->address, err, errlen)) != 0)
		return rc;
	u.tap = c->o->tap;
	u.tap_ctx = c->o->tap_ctx;
	if ((next = calloc(1, sizeof(*next))) == NULL) {
		rc = UE_ERR_NOMEM;
		goto done;
	}
	if ((rc = reg_request(c, core, next, err, errlen)) != 0)
		goto done;
	t0 = ue_now_ms();
	for (;;) {
		c->sent_type = next->type;
		if ((rc = reg_wire(c, next, wire, sizeof(wire), &wlen, err,
		         errlen)) != 0 ||
		    (rc = ue_udp_transact(&u, wire, wlen,
		         c->o->policy.timeout_ms, c->o->policy.max_timeout_ms,
		         c->o->policy.retransmits, c->o->policy.attempt_ms,
		         reg_answer, c, err, errlen)) != 0)
			goto done;
		switch (c->msg->type) {
		case NAS_MSG_AUTH_REQUEST:
			if ((rc = on_auth_request(c, next, &authenticated,
			         &rounds, err, errlen)) != 0)
				goto done;
			break;
		case NAS_MSG_SECURITY_MODE_COMMAND:
			if (c->smc_reject != 0) {
				rc = smc_reject_send(c, &u, next, err, errlen);
				goto done;
			}
			on_smc(c, next);
			break;
		case NAS_MSG_REGISTRATION_ACCEPT:
			if (!authenticated || !c->have_sec) {
				util_err_set(err, errlen,
				    "Registration accept without "
				    "authentication refused");
				rc = UE_ERR_PROTO;
				goto done;
			}
			rc = on_accept(c, &u, next, t0, err, errlen);
			goto done;
		default: /* Registration reject, Authentication reject */
			rc = on_refusal(c, err, errlen);
			goto done;
		}
	}
done:
	OPENSSL_cleanse(c->kamf, sizeof(c->kamf));
	c->have_kamf = 0;
	nas_sec_ctx_clear(&c->sec);
	c->have_sec = 0;
	if (next != NULL) {
		OPENSSL_cleanse(next, sizeof(*next));
		free(next);
	}
	c->out->retransmissions += u.resent;
	ue_udp_close(&u);
	return rc;
}

/* Load the Root (the only trust anchor), the optional extra untrusted
 * intermediates of ca-certs.pem (the container carries the signer chain
 * itself) and the key. */
static int load_trust(attach_ctx *c, char *err, size_t errlen)
{
	char path[4096];
	STACK_OF(X509) *extra = NULL;
	int rc;

	if (ue_state_path(path, sizeof(path), c->o->dir, UE_F_ROOT) != 0 ||
	    root_load(&c->root, c->o->trust, path, err, errlen) != UE_OK)
		return UE_ERR_STATE;
	c->inter = sk_X509_new_null();
	if (c->inter == NULL)
		return UE_ERR_NOMEM;
	if (ue_state_path(path, sizeof(path), c->o->dir, UE_F_CACERTS) == 0 &&
	    access(path, F_OK) == 0) {
		if (pki_chain_load_file(&extra, path, err, errlen) != PKI_OK)
			return UE_ERR_STATE;
		while (sk_X509_num(extra) > 0) {
			X509 *x = sk_X509_shift(extra);

			if (sk_X509_push(c->inter, x) <= 0) {
				X509_free(x);
				sk_X509_pop_free(extra, X509_free);
				return UE_ERR_NOMEM;
			}
		}
		sk_X509_free(extra);
	}
	rc = ue_key_load_pub((void **)&c->key, c->key_pub, c->o->dir, err,
	    errlen);
	return rc;
}

/* Register at the first core of the policy that answers. */
static int register_any(attach_ctx *c, ue_core_t *served, char *err,
    size_t errlen)
{
	const ue_policy_t *p = &c->o->policy;
	int rc = UE_ERR_TIMEOUT;
	size_t i;

	for (i = 0; i < p->ncores; i++) {
		*served = p->cores[i];
		rc = do_register(c, served, err, errlen);
		if (rc != UE_ERR_TIMEOUT)
			break;
		emit(c, UE_EV_STEP, "select", NULL, -1, "moving on from %s",
		    served->address);
	}
	return rc;
}

/* The pending credentials passed 5G-AKA: they become credentials.json
 * (atomically) and the pending file goes. A crash in between leaves both
 * holding the new set, which the next attach promotes again. */
static int creds_promote(attach_ctx *c, char *err, size_t errlen)
{
	char path[4096];
	int rc;

	if ((rc = ue_creds_store_as(c->creds, c->o->dir, UE_F_CREDS, err,
	         errlen)) != 0)
		return rc;
	if (ue_state_path(path, sizeof(path), c->o->dir, UE_F_CREDS_PENDING) ==
	    0)
		(void)unlink(path);
	c->creds_file = UE_F_CREDS;
	emit(c, UE_EV_ACCEPT, "register", NULL, -1,
	    "the new subscription %s "
	    "passed 5G-AKA: it replaces the older one in %s",
	    c->creds->sub.supi, UE_F_CREDS);
	return UE_OK;
}

/* Stored credentials: a pending set first (promoted when it registers; if
 * the network refuses it, it is dropped and the older set is used), then
 * credentials.json. */
static int register_stored(attach_ctx *c, ue_core_t *served, char *err,
    size_t errlen)
{
	char path[4096];
	int rc;

	if (ue_creds_exist_as(c->o->dir, UE_F_CREDS_PENDING)) {
		if ((rc = ue_creds_load_as(c->creds, c->o->dir,
		         UE_F_CREDS_PENDING, err, errlen)) != 0)
			return rc;
		c->creds_file = UE_F_CREDS_PENDING;
		emit(c, UE_EV_STEP, "register", NULL, -1,
		    "a newer subscription "
		    "%s is pending: registering with it first",
		    c->creds->sub.supi);
		rc = register_any(c, served, err, errlen);
		if (rc == 0)
			return creds_promote(c, err, errlen);
		if (rc != UE_ERR_REJECTED)
			return rc;
		emit(c, UE_EV_REFUSE, "register", NULL, c->out->cause,
		    "the "
		    "network refused the pending subscription (%s); dropping it "
		    "and using the older one",
		    err);
		if (ue_state_path(path, sizeof(path), c->o->dir,
		        UE_F_CREDS_PENDING) == 0)
			(void)unlink(path);
		c->out->cause = -1;
	}
	if ((rc = ue_creds_load_as(c->creds, c->o->dir, UE_F_CREDS, err,
	         errlen)) != 0)
		return rc;
	c->creds_file = UE_F_CREDS;
	emit(c, UE_EV_STEP, "provision", NULL, -1,
	    "credentials for %s "
	    "already stored: skipping provisioning",
	    c->creds->sub.supi);
	return register_any(c, served, err, errlen);
}

int ue_attach(ue_attach_result_t *out, const ue_attach_opts_t *o, char *err,
    size_t errlen)
{
	attach_ctx c;
	ue_device_t dev;
	ue_creds_t *creds = NULL;
	ue_core_t served;
	int rc, have;

	memset(out, 0, sizeof(*out));
	out->cause = -1;
	memset(&c, 0, sizeof(c));
	memset(&served, 0, sizeof(served));
	c.o = o;
	c.out = out;
	c.dev = &dev;
	c.creds_file = UE_F_CREDS;
	if (o->policy.ncores == 0) {
		util_err_set(err, errlen,
		    "no core to attach to: give --core or a "
		    "policy.json");
		return UE_ERR_ARG;
	}
	if (o->dev != NULL)
		dev = *o->dev;
	else if ((rc = ue_device_load(&dev, o->dir, err, errlen)) != 0)
		return rc;
	creds = calloc(1, sizeof(*creds));
	c.msg = calloc(1, sizeof(*c.msg));
	if (creds == NULL || c.msg == NULL) {
		rc = UE_ERR_NOMEM;
		util_err_set(err, errlen, "out of memory");
		goto done;
	}
	c.creds = creds;
	have = !o->volatile_creds && ue_creds_exist(o->dir);
	if (have && !o->reprovision) {
		rc = register_stored(&c, &served, err, errlen);
		goto finish;
	}
	if (dev.device_id[0] == '\0' || dev.certificate_url[0] == '\0') {
		util_err_set(err, errlen,
		    "%s: not enrolled (run ueclient enroll)", o->dir);
		rc = UE_ERR_STATE;
		goto done;
	}
	if ((rc = load_trust(&c, err, errlen)) != 0)
		goto done;
	/* Working credentials stay until the new ones pass 5G-AKA. */
	c.creds_file = have ? UE_F_CREDS_PENDING : UE_F_CREDS;
	emit(&c, UE_EV_STEP, "provision", NULL, -1,
	    "%s: asking the network for "
	    "a subscription for DeviceID %s",
	    have ? "re-provisioning (the "
	           "stored credentials stay until the new ones register)" :
	           "no credentials",
	    dev.device_id);
	if ((rc = provision(&c, &served, err, errlen)) != 0)
		goto done;
	out->pending = have;
	if (o->provision_only)
		goto finish;
	rc = do_register(&c, &served, err, errlen);
	if (rc == 0 && have && !o->volatile_creds)
		rc = creds_promote(&c, err, errlen);
	if (rc == 0)
		out->pending = 0;
finish:
	snprintf(out->core, sizeof(out->core), "%s", served.address);
done:
	if (c.msg != NULL) {
		OPENSSL_cleanse(c.msg, sizeof(*c.msg));
		free(c.msg);
	}
	ue_creds_wipe(creds);
	free(creds);
	EVP_PKEY_free(c.key);
	X509_free(c.root);
	sk_X509_pop_free(c.inter, X509_free);
	return rc;
}
