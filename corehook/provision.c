/* provision.c — provisioning: the onboarding Registration request's
 * payload (decode, de-conceal when concealed, serving network → allow-list
 * → stored counter → the device's verified security context through
 * ca_lookup.c → the request's signature → allocate as pending, counter
 * checked → seal + sign) and its NAS answer, a Registration reject
 * carrying the container or the refusal's cause. */
#include "ch_ctx.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "aka.h"
#include "prov.h"
#include "util.h"

/* Record the outcome in out, count it and log one line. */
static void prov_finish(corehook *ch, corehook_prov_result_t *out, int outcome,
    uint8_t cause, const char *reason)
{
	out->cause = cause;
	out->t3346 = cause == 22 ? ch->cfg->t3346_seconds : 0;
	snprintf(out->outcome, sizeof(out->outcome), "%s",
	    ch_prov_outcome_names[outcome]);
	snprintf(out->reason, sizeof(out->reason), "%s", reason);
	atomic_fetch_add(&ch->metrics.prov[outcome], 1);
	if (outcome == CH_PROV_PROVISIONED)
		ch_log(ch, COREHOOK_LOG_INFO,
		    "provision device=%s outcome=%s"
		    " cause=%u supi=%s",
		    out->device_id, out->outcome, cause, out->supi);
	else
		ch_log(ch, COREHOOK_LOG_WARN,
		    "provision device=%s outcome=%s"
		    " cause=%u reason=%s",
		    out->device_id[0] != '\0' ? out->device_id : "-",
		    out->outcome, cause, reason);
}

/* Best-effort DeviceID of a refused URL for the log: its last segment. */
static void url_device_hint(char *dst, size_t cap, const char *url)
{
	const char *slash = strrchr(url, '/');
	char cand[65];

	dst[0] = '\0';
	if (slash == NULL || strlen(slash + 1) >= sizeof(cand))
		return;
	snprintf(cand, sizeof(cand), "%s", slash + 1);
	if (devid_valid(cand))
		snprintf(dst, cap, "%s", cand);
}

/* The subscription's profile as the store keeps it (JSON: PLMN, DNN,
 * S-NSSAIs of the configuration). */
static void prov_profile_format(char *profile, size_t cap,
    const corehook_config *c)
{
	size_t i, off;

	off = (size_t)snprintf(profile, cap,
	    "{\"plmn\":\"%s%s\","
	    "\"dnn\":\"%s\",\"snssai\":[",
	    c->mcc, c->mnc, c->dnn);
	for (i = 0; i < c->nssai_count && off < cap; i++) {
		if (c->nssai[i].has_sd)
			off += (size_t)snprintf(profile + off, cap - off,
			    "%s{\"sst\":%u,\"sd\":\"%06x\"}", i ? "," : "",
			    c->nssai[i].sst, (unsigned)c->nssai[i].sd);
		else
			off += (size_t)snprintf(profile + off, cap - off,
			    "%s{\"sst\":%u}", i ? "," : "", c->nssai[i].sst);
	}
	if (off < cap)
		snprintf(profile + off, cap - off, "]}");
}

/* The container's subscription for the allocated IMSI digits supi with
 * Ki and OPc (copied), from the configuration. */
static int prov_sub_fill(corehook *ch, prov_subscription_t *sub,
    const char *supi, const uint8_t ki[16], const uint8_t opc[16], char *err,
    size_t errlen)
{
	const corehook_config *c = ch->cfg;
	size_t i;

	memset(sub, 0, sizeof(*sub));
	snprintf(sub->supi, sizeof(sub->supi), "imsi-%s", supi);
	memcpy(sub->ki, ki, 16);
	memcpy(sub->opc, opc, 16);
	memcpy(sub->amf, c->amf, 2);
	if (aka_sqn_from_u64(sub->sqn, c->sqn_initial) != AKA_OK) {
		util_err_set(err, errlen, "initial SQN out of range");
		return -1;
	}
	snprintf(sub->mcc, sizeof(sub->mcc), "%s", c->mcc);
	snprintf(sub->mnc, sizeof(sub->mnc), "%s", c->mnc);
	sub->nssai_count = c->nssai_count;
	for (i = 0; i < c->nssai_count; i++) {
		sub->nssai[i].sst = c->nssai[i].sst;
		sub->nssai[i].has_sd = c->nssai[i].has_sd;
		sub->nssai[i].sd = c->nssai[i].sd;
	}
	snprintf(sub->dnn, sizeof(sub->dnn), "%s", c->dnn);
	sub->issued_at = (int64_t)time(NULL);
	ch_suci_sub_fill(ch, sub); /* SUCI concealment from the first use */
	return 0;
}

/* Allocate the subscription (pending, the request's counter taken in the
 * same transaction) and fill sub (caller wipes it); *src gets the store's
 * code (SUBS_REPLAY for a counter not above the last accepted). */
static int prov_allocate(corehook *ch, prov_subscription_t *sub,
    const char *device_id, uint64_t counter, char *err, size_t errlen,
    int *src_out)
{
	const corehook_config *c = ch->cfg;
	subs_record_t rec;
	subs_alloc_t a;
	subs_db *db = NULL;
	char profile[SUBS_PROFILE_MAX + 1];
	uint8_t ki[16], opc[16];
	int rc = COREHOOK_ERR, src;

	memset(&rec, 0, sizeof(rec));
	*src_out = SUBS_ERR;
	if (util_random(ki, sizeof(ki)) != 0) {
		util_err_set(err, errlen, "no randomness for Ki");
		goto out;
	}
	if (c->have_op) {
		if (aka_opc(opc, ki, c->op_or_opc) != AKA_OK) {
			util_err_set(err, errlen, "OPc derivation failed");
			goto out;
		}
	} else {
		memcpy(opc, c->op_or_opc, sizeof(opc));
	}
	prov_profile_format(profile, sizeof(profile), c);
	a = (subs_alloc_t){
		.device_id = device_id,
		.mcc = c->mcc,
		.mnc = c->mnc,
		.msin_first = c->msin_first,
		.msin_last = c->msin_last,
		.ki = ki,
		.opc = opc,
		.amf = c->amf,
		.sqn = c->sqn_initial,
		.profile = profile,
		.counter = counter,
		.retired_keep_s = c->retired_keep_seconds,
	};
	if (ch_db_get(ch, &db, err, errlen) != COREHOOK_OK)
		goto out;
	/* Durable when this returns: the reject carrying Ki comes after. */
	src = subs_group_allocate(ch->group, db, &rec, &a, err, errlen);
	ch_db_put(ch, db);
	*src_out = src;
	if (src != SUBS_OK)
		goto out;
	if (prov_sub_fill(ch, sub, rec.supi, ki, opc, err, errlen) != 0)
		goto out;
	rc = COREHOOK_OK;
out:
	OPENSSL_cleanse(ki, sizeof(ki));
	OPENSSL_cleanse(opc, sizeof(opc));
	subs_record_wipe(&rec);
	return rc;
}

/* A concealed request opened with the onboarding key its key id names
 * (the SUCI home network keys, suci_keys.c) into plain; 0, or -1 with the
 * outcome recorded in out (#96: the request cannot be read). */
static int prov_request_open(corehook *ch, corehook_prov_result_t *out,
    uint8_t *plain, size_t cap, size_t *plen, const uint8_t *request,
    size_t len)
{
	char err[256] = "";
	uint8_t kid = 0;
	int profile = 0, r;

	atomic_fetch_add(&ch->metrics.prov_concealed, 1);
	(void)prov_request_concealed(request, len, &profile, &kid);
	if (ch->suci_key[kid] == NULL || ch->suci_key_scheme[kid] != profile) {
		snprintf(err, sizeof(err),
		    "concealed to Profile %c key id %u, "
		    "which this core does not hold",
		    profile == 1     ? 'A' :
		        profile == 2 ? 'B' :
		                       '?',
		    kid);
		prov_finish(ch, out, CH_PROV_UNCONCEALABLE, 96, err);
		return -1;
	}
	r = prov_request_deconceal(plain, cap, plen, request, len,
	    ch->suci_key[kid], err, sizeof(err));
	if (r != PROV_OK) {
		prov_finish(ch, out,
		    r == PROV_ERR_CONCEAL ? CH_PROV_UNCONCEALABLE :
		                            CH_PROV_MALFORMED,
		    96, err);
		return -1;
	}
	return 0;
}

/* Decode the request (de-concealed first when it came concealed) and
 * check it names this serving network; 0, or -1 with the outcome recorded
 * in out. */
static int prov_request_take(corehook *ch, corehook_prov_result_t *out,
    prov_request_t *req, const uint8_t *request, size_t len)
{
	uint8_t plain[PROV_REQUEST_MAX];
	size_t plen = 0;
	char err[256] = "";
	int r;

	if (prov_request_concealed(request, len, NULL, NULL)) {
		if (prov_request_open(ch, out, plain, sizeof(plain), &plen,
		        request, len) != 0)
			return -1;
		request = plain;
		len = plen;
	}
	r = prov_request_decode(req, request, len, err, sizeof(err));
	if (r == PROV_ERR_UNSIGNED) {
		prov_finish(ch, out, CH_PROV_UNSIGNED, 3, err);
		return -1;
	}
	if (r != PROV_OK) {
		prov_finish(ch, out, CH_PROV_MALFORMED, 96, err);
		return -1;
	}
	/* A request signed for another network is not for us (and cannot be
	 * replayed from another network's capture). */
	if (strcmp(req->snn, ch->snn) != 0) {
		url_device_hint(out->device_id, sizeof(out->device_id),
		    req->url);
		snprintf(err, sizeof(err),
		    "request signed for serving network "
		    "%.100s, this is %s",
		    req->snn, ch->snn);
		prov_finish(ch, out, CH_PROV_WRONG_NETWORK, 11, err);
		return -1;
	}
	return 0;
}

/* A request whose counter is not above the one stored for its DeviceID is
 * a replay whatever its signature: refused before the CA is asked. The
 * allocation checks again in its transaction; this read only saves the
 * fetch. 1 = refused (out filled), 0 = go on. */
static int prov_replay_early(corehook *ch, corehook_prov_result_t *out,
    const prov_request_t *req)
{
	subs_db *db = NULL;
	uint64_t stored = 0;
	char err[256] = "";
	int r;

	if (ch_db_get(ch, &db, err, sizeof(err)) != COREHOOK_OK)
		return 0;
	r = subs_counter_get(db, &stored, out->device_id, err, sizeof(err));
	ch_db_put(ch, db);
	if (r != SUBS_OK || req->counter > stored)
		return 0;
	snprintf(err, sizeof(err),
	    "request counter %llu not above the last "
	    "accepted %llu (replay)",
	    (unsigned long long)req->counter, (unsigned long long)stored);
	prov_finish(ch, out, CH_PROV_REPLAY, 21, err);
	return 1;
}

/* The device's verified security context through the CA lookup (caches and
 * limits first, docs/corehook.md "Caches and limits"); on success *pub and
 * pub_enc as ch_context_verify gives them. 0, or -1 with out filled. */
static int prov_context_get(corehook *ch, corehook_prov_result_t *out,
    size_t idx, const ch_allow_t *entry, const char *session, EVP_PKEY **pub,
    uint8_t *pub_enc)
{
	char err[512] = "", fetch_url[2 * CH_URL_MAX + 512];
	int r;

	/* Fetch the canonical resource, built from the allow-list entry. */
	snprintf(fetch_url, sizeof(fetch_url), "https://%s:%u%s%s", entry->host,
	    entry->port, entry->path_prefix, out->device_id);
	r = ch_ca_lookup(ch, idx, fetch_url, out->device_id, session, pub,
	    pub_enc, err, sizeof(err));
	switch (r) {
	case CH_PROV_PROVISIONED: return 0;
	case CH_PROV_UNKNOWN: prov_finish(ch, out, r, 3, err); break;
	case CH_PROV_REVOKED: prov_finish(ch, out, r, 6, err); break;
	case CH_PROV_SUSPENDED: prov_finish(ch, out, r, 7, err); break;
	case CH_PROV_INVALID_CERT:
		/* Annex A #6: the ME (its certificate) is not acceptable. */
		prov_finish(ch, out, r, 6, err);
		break;
	default:
		/* CA unavailable, rate limited, internal: #22 + T3346. */
		prov_finish(ch, out, r, 22, err);
		break;
	}
	return -1;
}

/* corehook_provision_from with no session (contract in corehook.h). */
int corehook_provision(corehook *ch, corehook_prov_result_t *out,
    const uint8_t *request, size_t len)
{
	return corehook_provision_from(ch, out, request, len, NULL);
}

/* One provisioning, every refusal an outcome in out (corehook.h). */
int corehook_provision_from(corehook *ch, corehook_prov_result_t *out,
    const uint8_t *request, size_t len, const char *session)
{
	const corehook_config *c = ch != NULL ? ch->cfg : NULL;
	const ch_allow_t *entry = NULL;
	prov_request_t req;
	prov_subscription_t sub;
	prov_binding_t bind;
	EVP_PKEY *pub = NULL;
	uint8_t pub_enc[65];
	char err[512] = "";
	int r, src;

	if (ch == NULL || out == NULL || (request == NULL && len > 0))
		return COREHOOK_ERR_ARG;
	memset(out, 0, sizeof(*out));
	memset(&sub, 0, sizeof(sub));
	if (prov_request_take(ch, out, &req, request, len) != 0)
		goto done;
	r = ch_allow_check(c->allow, c->allow_count, req.url, &entry,
	    out->device_id, err, sizeof(err));
	if (r != CH_URL_OK) {
		url_device_hint(out->device_id, sizeof(out->device_id),
		    req.url);
		prov_finish(ch, out, CH_PROV_NOT_ALLOWED, 11, err);
		goto done;
	}
	if (prov_replay_early(ch, out, &req) ||
	    prov_context_get(ch, out, (size_t)(entry - c->allow), entry,
	        session, &pub, pub_enc) != 0)
		goto done;
	/* Proof of possession, before anything is allocated. */
	r = prov_request_verify(&req, pub, err, sizeof(err));
	if (r != PROV_OK) {
		prov_finish(ch, out,
		    r == PROV_ERR_INTERNAL ? CH_PROV_INTERNAL :
		                             CH_PROV_BAD_SIGNATURE,
		    r == PROV_ERR_INTERNAL ? 22 : 3, err);
		goto done;
	}
	if (prov_allocate(ch, &sub, out->device_id, req.counter, err,
	        sizeof(err), &src) != COREHOOK_OK) {
		if (src == SUBS_REPLAY)
			prov_finish(ch, out, CH_PROV_REPLAY, 21, err);
		else
			prov_finish(ch, out, CH_PROV_INTERNAL, 22, err);
		goto done;
	}
	memset(&bind, 0, sizeof(bind));
	snprintf(bind.device_id, sizeof(bind.device_id), "%s", out->device_id);
	/* A concealed request is answered without naming the device. */
	if (prov_request_concealed(request, len, NULL, NULL) &&
	    prov_concealed_device_id(bind.device_id, sizeof(bind.device_id),
	        &req, out->device_id) != PROV_OK) {
		prov_finish(ch, out, CH_PROV_INTERNAL, 22, "pseudonym failed");
		goto done;
	}
	memcpy(bind.ue_nonce, req.ue_nonce, PROV_NONCE_LEN);
	if (util_random(bind.net_nonce, PROV_NONCE_LEN) != 0) {
		prov_finish(ch, out, CH_PROV_INTERNAL, 22, "no randomness");
		goto done;
	}
	if (prov_seal_sign_prepared(out->container, sizeof(out->container),
	        &out->container_len, &sub, &bind, pub,
	        pub_enc[0] == 0x04 ? pub_enc : NULL, ch->signer, err,
	        sizeof(err)) != PROV_OK) {
		out->container_len = 0;
		prov_finish(ch, out, CH_PROV_INTERNAL, 22, err);
		goto done;
	}
	snprintf(out->supi, sizeof(out->supi), "%s", sub.supi + 5);
	prov_finish(ch, out, CH_PROV_PROVISIONED, 9, "");
done:
	prov_subscription_wipe(&sub);
	EVP_PKEY_free(pub);
	return COREHOOK_OK;
}

/* An onboarding Registration request answered (contract in ch_ctx.h). */
int ch_prov_nas(corehook *ch, const char *session, const nas_reg_request_t *rq,
    nas_msg_t *m, uint8_t *out, size_t outcap, size_t *outlen, char *err,
    size_t errlen)
{
	corehook_prov_result_t *res;
	char perr[256];
	int rc;

	if (!rq->has_payload || rq->payload_type != NAS_PAYLOAD_TYPE_PROVCA) {
		if (!rq->has_payload)
			util_err_set(perr, sizeof(perr),
			    "no payload container");
		else
			util_err_set(perr, sizeof(perr),
			    "payload container type"
			    " %u",
			    rq->payload_type);
		atomic_fetch_add(&ch->metrics.prov[CH_PROV_MALFORMED], 1);
		ch_log(ch, COREHOOK_LOG_WARN,
		    "provision device=- outcome=%s"
		    " cause=96 reason=%s",
		    ch_prov_outcome_names[CH_PROV_MALFORMED], perr);
		return ch_nas_reject(m, NAS_CAUSE_INVALID_MANDATORY_INFO, 0,
		    NULL, 0, out, outcap, outlen, err, errlen);
	}
	if ((res = malloc(sizeof(*res))) == NULL) {
		util_err_set(err, errlen, "out of memory");
		return COREHOOK_ERR;
	}
	corehook_provision_from(ch, res, rq->payload, rq->payload_len, session);
	rc = ch_nas_reject(m, res->cause, res->t3346, res->container,
	    res->container_len, out, outcap, outlen, err, errlen);
	OPENSSL_cleanse(res, sizeof(*res));
	free(res);
	return rc;
}
