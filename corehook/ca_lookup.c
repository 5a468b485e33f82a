/* ca_lookup.c — a device's verified security context for one provisioning,
 * through what keeps NAS traffic from becoming CA load, in this order: the
 * negative cache (DeviceIDs the CA answered 404 / revoked / suspended,
 * remembered negative_ttl_seconds), the positive cache (a verified context
 * used without asking while the CA's max-age lasts — capped by
 * positive_max_age_seconds — then revalidated with If-None-Match), the
 * source address's bucket (refused provisionings per source), the
 * DeviceID's bucket (CA requests per device), and only then the CA.
 * docs/corehook.md, "Caches and limits", says why. */
#include "ch_ctx.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>

#include "util.h"

#define SRC_MAX 136

/* The source address of a session name: "udp:ADDR:PORT" → "udp:ADDR";
 * the HTTP endpoint's sessions are one source ("http"); NULL or another
 * form (a library caller's own session) → "" (no source limit). */
static void source_key(char *out, size_t cap, const char *session)
{
	const char *colon;

	out[0] = '\0';
	if (session == NULL)
		return;
	if (strncmp(session, "udp:", 4) == 0 &&
	    (colon = strrchr(session, ':')) != NULL && colon > session + 4 &&
	    (size_t)(colon - session) < cap)
		snprintf(out, cap, "%.*s", (int)(colon - session), session);
	else if (strncmp(session, "http:", 5) == 0)
		snprintf(out, cap, "http");
}

/* Until when (CLOCK_MONOTONIC ms) the answer fr may be used without
 * asking the CA: its max-age capped by positive_max_age_seconds; now_ms
 * (revalidate before every use) for no-cache, no max-age or a zero cap. */
static int64_t fresh_until(const corehook_config *cfg,
    const ch_fetch_result_t *fr, int64_t now_ms)
{
	long age = fr->max_age;

	if (fr->no_cache || fr->no_store || age <= 0)
		return now_ms;
	if (age > (long)cfg->positive_max_age_seconds)
		age = (long)cfg->positive_max_age_seconds;
	return now_ms + (int64_t)age * 1000;
}

/* The words of a remembered refusal. */
static const char *neg_words(int outcome)
{
	switch (outcome) {
	case CH_PROV_UNKNOWN: return "device unknown at the CA (HTTP 404)";
	case CH_PROV_REVOKED: return "device certificate revoked";
	default: return "device suspended";
	}
}

/* A refusal the CA's answer caused: remembered (404, revoked, suspended),
 * the positive entry dropped, the source charged. */
static int refused(corehook *ch, const char *key, const char *src, int outcome,
    int64_t now_ms)
{
	if (outcome != CH_PROV_INVALID_CERT)
		ch_neg_store(ch->cache, key, outcome, now_ms);
	ch_pos_drop(ch->cache, key);
	/* Charged at the answer's time, not the request's. */
	if (src[0] != '\0')
		ch_rate_charge(ch->cache, CH_RATE_SOURCE, src, ch_now_ms());
	return outcome;
}

/* A 200 answer: verify it, keep it (unless no-store), hand the key out. */
static int answer_verify(corehook *ch, size_t idx, const char *key,
    const char *src, const char *device_id, const ch_fetch_result_t *fr,
    EVP_PKEY **pub, uint8_t pub_enc[65], int64_t now_ms, char *err,
    size_t errlen)
{
	ch_pos_entry_t e;
	int how = CH_CHECK_FULL, r;

	memset(&e, 0, sizeof(e));
	r = ch_context_verify(pub, pub_enc, &how, &e.valid_until, fr->body,
	    fr->body_len, device_id, ch->anchor[idx], ch->paths[idx],
	    (int64_t)time(NULL), err, errlen);
	switch (r) {
	case CH_CTX_OK:
		atomic_fetch_add(&ch->metrics.cert_check[how], 1);
		if (!fr->no_store) {
			e.pub = *pub;
			memcpy(e.pub_enc, pub_enc, sizeof(e.pub_enc));
			snprintf(e.etag, sizeof(e.etag), "%s", fr->etag);
			e.fresh_until_ms = fresh_until(ch->cfg, fr, now_ms);
			ch_pos_store(ch->cache, key, &e, now_ms);
		}
		return CH_PROV_PROVISIONED;
	case CH_CTX_REVOKED:
		return refused(ch, key, src, CH_PROV_REVOKED, now_ms);
	case CH_CTX_SUSPENDED:
		return refused(ch, key, src, CH_PROV_SUSPENDED, now_ms);
	case CH_CTX_INVALID_CERT:
		return refused(ch, key, src, CH_PROV_INVALID_CERT, now_ms);
	case CH_CTX_BAD_JSON:
		/* The CA gave nothing usable: its fault, retry later. */
		return CH_PROV_CA_UNAVAILABLE;
	default: return CH_PROV_INTERNAL;
	}
}

/* The buckets: the source's (it must not be in debt) and the DeviceID's
 * (one token per CA request). CH_PROV_PROVISIONED when a request may go. */
static int limits_pass(corehook *ch, const char *key, const char *src,
    int64_t now_ms, char *err, size_t errlen)
{
	if (src[0] != '\0' &&
	    !ch_rate_peek(ch->cache, CH_RATE_SOURCE, src, now_ms)) {
		atomic_fetch_add(&ch->metrics.rate_limited[CH_RATE_SOURCE], 1);
		util_err_set(err, errlen,
		    "too many refused provisionings from "
		    "%s: no CA request (rate limit)",
		    src);
		return CH_PROV_RATE_LIMITED;
	}
	if (!ch_rate_take(ch->cache, CH_RATE_DEVICE, key, now_ms)) {
		atomic_fetch_add(&ch->metrics.rate_limited[CH_RATE_DEVICE], 1);
		util_err_set(err, errlen,
		    "too many CA requests for this "
		    "DeviceID: no CA request (rate limit)");
		return CH_PROV_RATE_LIMITED;
	}
	return CH_PROV_PROVISIONED;
}

int ch_ca_lookup(corehook *ch, size_t idx, const char *url,
    const char *device_id, const char *session, EVP_PKEY **pub,
    uint8_t pub_enc[65], char *err, size_t errlen)
{
	ch_pos_entry_t pe;
	ch_fetch_result_t fr;
	char key[96], src[SRC_MAX];
	int64_t now_ms = ch_now_ms();
	int outcome, have;

	*pub = NULL;
	pub_enc[0] = 0;
	memset(&fr, 0, sizeof(fr));
	snprintf(key, sizeof(key), "%zu/%s", idx, device_id);
	source_key(src, sizeof(src), session);
	if ((outcome = ch_neg_lookup(ch->cache, key, now_ms)) >= 0) {
		atomic_fetch_add(&ch->metrics.ctx_source[CH_CTX_NEG_HIT], 1);
		util_err_set(err, errlen, "%s (remembered, no CA request)",
		    neg_words(outcome));
		return outcome;
	}
	have = ch_pos_lookup(ch->cache, &pe, key, now_ms, (int64_t)time(NULL));
	if (have && now_ms < pe.fresh_until_ms) {
		atomic_fetch_add(&ch->metrics.ctx_source[CH_CTX_POS_FRESH], 1);
		goto from_cache;
	}
	if ((outcome = limits_pass(ch, key, src, now_ms, err, errlen)) !=
	    CH_PROV_PROVISIONED)
		goto out;
	outcome = CH_PROV_CA_UNAVAILABLE;
	if (ch_fetch(&fr, ch->fetch[idx], url,
	        have && pe.etag[0] != '\0' ? pe.etag : NULL, err,
	        errlen) != 0) {
		ch_metrics_fetch_observe(&ch->metrics, fr.seconds);
		goto out;
	}
	ch_metrics_fetch_observe(&ch->metrics, fr.seconds);
	if (fr.http_status == 304 && have && pe.etag[0] != '\0') {
		/* Same certificate, same status version: the verified key. */
		atomic_fetch_add(&ch->metrics
		                      .ctx_source[CH_CTX_POS_REVALIDATED],
		    1);
		ch_pos_refresh(ch->cache, key,
		    fresh_until(ch->cfg, &fr, now_ms));
		goto from_cache;
	}
	atomic_fetch_add(&ch->metrics.ctx_source[CH_CTX_FETCHED], 1);
	if (fr.http_status == 404) {
		util_err_set(err, errlen, "%s", neg_words(CH_PROV_UNKNOWN));
		outcome = refused(ch, key, src, CH_PROV_UNKNOWN, now_ms);
	} else if (fr.http_status != 200) {
		util_err_set(err, errlen, "CA answered HTTP %ld",
		    fr.http_status);
	} else {
		outcome = answer_verify(ch, idx, key, src, device_id, &fr, pub,
		    pub_enc, now_ms, err, errlen);
	}
	goto out;
from_cache:
	*pub = pe.pub;
	memcpy(pub_enc, pe.pub_enc, sizeof(pe.pub_enc));
	have = 0;
	outcome = CH_PROV_PROVISIONED;
out:
	if (have)
		EVP_PKEY_free(pe.pub);
	ch_fetch_result_free(&fr);
	return outcome;
}
