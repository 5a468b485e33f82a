/* corehook.c — the corehook context and its lower-level calls: open/close,
 * the subscriber store pool, provisioning (decode the signed request →
 * serving network → allow-list → fetch → verify the certificate → verify
 * the request's signature → allocate as pending, counter checked → seal +
 * sign) and the 5G-AKA vector, RES*, confirmation and resync steps. */
#include "ch_ctx.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "aka.h"
#include "pki.h"
#include "prov.h"
#include "util.h"

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static int curl_ok;

static void curl_init_once(void)
{
	curl_ok = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;
}

void ch_log(corehook *ch, int level, const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	if (ch->log == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	ch->log(ch->logarg, level, line);
}

int ch_db_get(corehook *ch, subs_db **out, char *err, size_t errlen)
{
	int rc = COREHOOK_OK;

	pthread_mutex_lock(&ch->dbmu);
	while (ch->ndbfree == 0 && ch->ndb >= ch->ndbmax)
		pthread_cond_wait(&ch->dbcv, &ch->dbmu);
	if (ch->ndbfree > 0) {
		*out = ch->dbfree[--ch->ndbfree];
		pthread_mutex_unlock(&ch->dbmu);
		return COREHOOK_OK;
	}
	ch->ndb++;
	pthread_mutex_unlock(&ch->dbmu);
	if (subs_open(out, ch->cfg->db_path, err, errlen) != SUBS_OK) {
		pthread_mutex_lock(&ch->dbmu);
		ch->ndb--;
		pthread_cond_signal(&ch->dbcv);
		pthread_mutex_unlock(&ch->dbmu);
		rc = COREHOOK_ERR;
	}
	return rc;
}

void ch_db_put(corehook *ch, subs_db *db)
{
	if (db == NULL)
		return;
	pthread_mutex_lock(&ch->dbmu);
	ch->dbfree[ch->ndbfree++] = db;
	pthread_cond_signal(&ch->dbcv);
	pthread_mutex_unlock(&ch->dbmu);
}

/* Move every certificate of the PEM file at path onto pool. */
static int pool_add_file(STACK_OF(X509) *pool, const char *path, char *err,
    size_t errlen)
{
	STACK_OF(X509) *s = NULL;
	X509 *x;

	if (pki_chain_load_file(&s, path, err, errlen) != PKI_OK)
		return -1;
	while ((x = sk_X509_shift(s)) != NULL) {
		if (!sk_X509_push(pool, x)) {
			X509_free(x);
			sk_X509_pop_free(s, X509_free);
			util_err_set(err, errlen, "out of memory");
			return -1;
		}
	}
	sk_X509_free(s);
	return 0;
}

/*
 * Load the signer certificate (the first in signer.cert) and the
 * intermediates the container carries: from the certificates after it in
 * the same file and from signer.chain, follow issuers up from the signer,
 * stop at a self-issued certificate (the Root is never carried). Files may
 * list them in any order (ca-server's NAME-chain.pem is Infra CA, Root).
 */
static int signer_chain_load(corehook *ch, const corehook_config *cfg,
    char *err, size_t errlen)
{
	STACK_OF(X509) *pool = NULL;
	X509 *cur, *x;
	int i, found, rc = -1;

	if ((pool = sk_X509_new_null()) == NULL ||
	    (ch->signer_chain = sk_X509_new_null()) == NULL) {
		util_err_set(err, errlen, "out of memory");
		goto done;
	}
	if (pool_add_file(pool, cfg->signer_cert, err, errlen) != 0 ||
	    (cfg->signer_chain[0] != '\0' &&
	    pool_add_file(pool, cfg->signer_chain, err, errlen) != 0))
		goto done;
	ch->signer_cert = sk_X509_shift(pool);
	cur = ch->signer_cert;
	do {
		found = 0;
		for (i = 0; i < sk_X509_num(pool); i++) {
			x = sk_X509_value(pool, i);
			if (X509_check_issued(x, cur) != X509_V_OK ||
			    X509_check_issued(x, x) == X509_V_OK)
				continue;
			if (sk_X509_num(ch->signer_chain) >= PROV_CHAIN_MAX - 1) {
				util_err_set(err, errlen, "signer chain longer "
				    "than %d intermediates", PROV_CHAIN_MAX - 1);
				goto done;
			}
			(void)sk_X509_delete(pool, i);
			if (!sk_X509_push(ch->signer_chain, x)) {
				X509_free(x);
				util_err_set(err, errlen, "out of memory");
				goto done;
			}
			cur = x;
			found = 1;
			break;
		}
	} while (found);
	/* Fail closed: a signer the devices cannot chain to their Root would
	 * make every container useless. A self-signed signer is its own root;
	 * otherwise the chain must be complete, and when the files also hold
	 * the Root, the whole chain is verified now, as a device will. */
	if (X509_self_signed(ch->signer_cert, 1) != 1) {
		X509 *root = NULL;

		for (i = 0; i < sk_X509_num(pool); i++) {
			x = sk_X509_value(pool, i);
			if (X509_check_issued(x, x) == X509_V_OK &&
			    X509_check_issued(x, cur) == X509_V_OK)
				root = x;
		}
		if (root == NULL && sk_X509_num(ch->signer_chain) == 0) {
			util_err_set(err, errlen, "the signer certificate's "
			    "issuer is in neither signer.cert nor signer.chain; "
			    "set signer.chain to the file with its Infrastructure "
			    "CA and Root (ca-server writes NAME-chain.pem)");
			goto done;
		}
		if (root != NULL && pki_cert_verify(ch->signer_cert, root,
		    ch->signer_chain, (int64_t)time(NULL), PROVCA_OID_EKU_SIGNER,
		    err, errlen) != PKI_OK)
			goto done;
	}
	rc = 0;
done:
	ERR_clear_error();
	sk_X509_pop_free(pool, X509_free);
	return rc;
}

int corehook_open(corehook **out, const corehook_config *cfg,
    corehook_log_fn log, void *logarg, char *err, size_t errlen)
{
	corehook *ch = NULL;
	subs_db *db = NULL;
	char perr[256];
	size_t i;
	int rc = COREHOOK_ERR;

	*out = NULL;
	pthread_once(&curl_once, curl_init_once);
	if (!curl_ok) {
		util_err_set(err, errlen, "libcurl initialisation failed");
		return COREHOOK_ERR;
	}
	if ((ch = calloc(1, sizeof(*ch))) == NULL) {
		util_err_set(err, errlen, "out of memory");
		return COREHOOK_ERR;
	}
	ch->cfg = cfg;
	ch->log = log;
	ch->logarg = logarg;
	pthread_mutex_init(&ch->dbmu, NULL);
	pthread_cond_init(&ch->dbcv, NULL);
	pthread_mutex_init(&ch->smu, NULL);
	pthread_cond_init(&ch->scv, NULL);
	ch->ndbmax = (size_t)cfg->workers + 16;
	if ((ch->dbfree = calloc(ch->ndbmax, sizeof(*ch->dbfree))) == NULL) {
		util_err_set(err, errlen, "out of memory");
		goto out;
	}
	if (subs_group_new(&ch->group) != SUBS_OK) {
		util_err_set(err, errlen, "out of memory");
		goto out;
	}
	if (aka_snn_format(ch->snn, sizeof(ch->snn), cfg->mcc, cfg->mnc)
	    != AKA_OK) {
		util_err_set(err, errlen, "cannot form the serving network name");
		rc = COREHOOK_ERR_CONFIG;
		goto out;
	}
	if (pki_signing_key_open(&ch->signer_key, cfg->signer_key, NULL, NULL,
	    &cfg->signer_token, perr, sizeof(perr)) != PKI_OK ||
	    signer_chain_load(ch, cfg, perr, sizeof(perr)) != 0) {
		util_err_set(err, errlen, "provisioning signer: %s", perr);
		rc = COREHOOK_ERR_CONFIG;
		goto out;
	}
	if (X509_check_private_key(ch->signer_cert, ch->signer_key) != 1) {
		util_err_openssl(err, errlen, "signer key does not match its"
		    " certificate");
		rc = COREHOOK_ERR_CONFIG;
		goto out;
	}
	if (!pki_cert_has_eku(ch->signer_cert, PROVCA_OID_EKU_SIGNER)) {
		util_err_set(err, errlen, "signer certificate lacks the"
		    " provisioning-signer EKU");
		rc = COREHOOK_ERR_CONFIG;
		goto out;
	}
	/* The key check and the chain's DER, once rather than per container. */
	if (prov_signer_new(&ch->signer, ch->signer_key, ch->signer_cert,
	    ch->signer_chain, perr, sizeof(perr)) != PROV_OK) {
		util_err_set(err, errlen, "provisioning signer: %s", perr);
		rc = COREHOOK_ERR_CONFIG;
		goto out;
	}
	ch_log(ch, COREHOOK_LOG_INFO, "signer %s: containers carry %d "
	    "intermediate(s); key custody %s%s%s", cfg->signer_cert,
	    sk_X509_num(ch->signer_chain),
	    pki_custody_name(pki_key_custody(cfg->signer_key, NULL)),
	    pki_key_ref_is_pkcs11(cfg->signer_key) ? " " : "",
	    pki_key_ref_is_pkcs11(cfg->signer_key) ? cfg->signer_key : "");
	if (ch_ca_cache_new(&ch->cache, cfg, err, errlen) != 0)
		goto out;
	if ((rc = ch_suci_open(ch, err, errlen)) != COREHOOK_OK)
		goto out;
	rc = COREHOOK_ERR;
	for (i = 0; i < cfg->allow_count; i++) {
		if (pki_cert_load_file(&ch->anchor[i], cfg->allow[i].trust_anchor,
		    perr, sizeof(perr)) != PKI_OK) {
			util_err_set(err, errlen, "trust anchor of %s: %s",
			    cfg->allow[i].base_url, perr);
			rc = COREHOOK_ERR_CONFIG;
			goto out;
		}
		if (ch_path_cache_new(&ch->paths[i]) != 0) {
			util_err_set(err, errlen, "out of memory");
			goto out;
		}
		if (ch_fetcher_new(&ch->fetch[i], &cfg->allow[i],
		    cfg->fetch_connections, cfg->connect_timeout_ms,
		    cfg->total_timeout_ms, cfg->max_response_bytes, err,
		    errlen) != 0)
			goto out;
	}
	/* Open the store once now: migrations run here, errors surface here. */
	if (subs_open(&db, cfg->db_path, err, errlen) != SUBS_OK)
		goto out;
	ch->dbfree[ch->ndbfree++] = db;
	ch->ndb = 1;
	*out = ch;
	ch = NULL;
	rc = COREHOOK_OK;
out:
	corehook_close(ch);
	return rc;
}

void corehook_close(corehook *ch)
{
	size_t i;

	if (ch == NULL)
		return;
	ch_sessions_free(ch);
	for (i = 0; i < ch->ndbfree; i++)
		subs_close(ch->dbfree[i]);
	free(ch->dbfree);
	subs_group_free(ch->group);
	for (i = 0; i < CH_ALLOW_MAX; i++) {
		X509_free(ch->anchor[i]);
		ch_fetcher_free(ch->fetch[i]);
		ch_path_cache_free(ch->paths[i]);
	}
	ch_ca_cache_free(ch->cache);
	ch_suci_close(ch);
	prov_signer_free(ch->signer);
	EVP_PKEY_free(ch->signer_key);
	X509_free(ch->signer_cert);
	sk_X509_pop_free(ch->signer_chain, X509_free);
	pthread_mutex_destroy(&ch->dbmu);
	pthread_cond_destroy(&ch->dbcv);
	pthread_mutex_destroy(&ch->smu);
	pthread_cond_destroy(&ch->scv);
	free(ch);
}

int corehook_metrics_write(corehook *ch, char *buf, size_t cap)
{
	return ch_metrics_format(&ch->metrics, buf, cap);
}

/* ---- provisioning ---- */

/* Record the outcome in out, count it and log one line. */
static void prov_finish(corehook *ch, corehook_prov_result_t *out,
    int outcome, uint8_t cause, const char *reason)
{
	out->cause = cause;
	out->t3346 = cause == 22 ? ch->cfg->t3346_seconds : 0;
	snprintf(out->outcome, sizeof(out->outcome), "%s",
	    ch_prov_outcome_names[outcome]);
	snprintf(out->reason, sizeof(out->reason), "%s", reason);
	atomic_fetch_add(&ch->metrics.prov[outcome], 1);
	if (outcome == CH_PROV_PROVISIONED)
		ch_log(ch, COREHOOK_LOG_INFO, "provision device=%s outcome=%s"
		    " cause=%u supi=%s", out->device_id, out->outcome, cause,
		    out->supi);
	else
		ch_log(ch, COREHOOK_LOG_WARN, "provision device=%s outcome=%s"
		    " cause=%u reason=%s", out->device_id[0] != '\0' ?
		    out->device_id : "-", out->outcome, cause, reason);
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
	size_t i, off;
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
	off = (size_t)snprintf(profile, sizeof(profile), "{\"plmn\":\"%s%s\","
	    "\"dnn\":\"%s\",\"snssai\":[", c->mcc, c->mnc, c->dnn);
	for (i = 0; i < c->nssai_count && off < sizeof(profile); i++) {
		if (c->nssai[i].has_sd)
			off += (size_t)snprintf(profile + off, sizeof(profile) - off,
			    "%s{\"sst\":%u,\"sd\":\"%06x\"}", i ? "," : "",
			    c->nssai[i].sst, (unsigned)c->nssai[i].sd);
		else
			off += (size_t)snprintf(profile + off, sizeof(profile) - off,
			    "%s{\"sst\":%u}", i ? "," : "", c->nssai[i].sst);
	}
	if (off < sizeof(profile))
		snprintf(profile + off, sizeof(profile) - off, "]}");
	a = (subs_alloc_t){
		.device_id = device_id, .mcc = c->mcc, .mnc = c->mnc,
		.msin_first = c->msin_first, .msin_last = c->msin_last,
		.ki = ki, .opc = opc, .amf = c->amf, .sqn = c->sqn_initial,
		.profile = profile, .counter = counter,
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
	memset(sub, 0, sizeof(*sub));
	snprintf(sub->supi, sizeof(sub->supi), "imsi-%s", rec.supi);
	memcpy(sub->ki, ki, sizeof(ki));
	memcpy(sub->opc, opc, sizeof(opc));
	memcpy(sub->amf, c->amf, 2);
	if (aka_sqn_from_u64(sub->sqn, c->sqn_initial) != AKA_OK) {
		util_err_set(err, errlen, "initial SQN out of range");
		goto out;
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
	ch_suci_sub_fill(ch, sub);	/* SUCI concealment from the first use */
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
		snprintf(err, sizeof(err), "concealed to Profile %c key id %u, "
		    "which this core does not hold", profile == 1 ? 'A' :
		    profile == 2 ? 'B' : '?', kid);
		prov_finish(ch, out, CH_PROV_UNCONCEALABLE, 96, err);
		return -1;
	}
	r = prov_request_deconceal(plain, cap, plen, request, len,
	    ch->suci_key[kid], err, sizeof(err));
	if (r != PROV_OK) {
		prov_finish(ch, out, r == PROV_ERR_CONCEAL ?
		    CH_PROV_UNCONCEALABLE : CH_PROV_MALFORMED, 96, err);
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
		url_device_hint(out->device_id, sizeof(out->device_id), req->url);
		snprintf(err, sizeof(err), "request signed for serving network "
		    "%.100s, this is %s", req->snn, ch->snn);
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
	snprintf(err, sizeof(err), "request counter %llu not above the last "
	    "accepted %llu (replay)", (unsigned long long)req->counter,
	    (unsigned long long)stored);
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
	case CH_PROV_PROVISIONED:
		return 0;
	case CH_PROV_UNKNOWN:
		prov_finish(ch, out, r, 3, err);
		break;
	case CH_PROV_REVOKED:
		prov_finish(ch, out, r, 6, err);
		break;
	case CH_PROV_SUSPENDED:
		prov_finish(ch, out, r, 7, err);
		break;
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

int corehook_provision(corehook *ch, corehook_prov_result_t *out,
    const uint8_t *request, size_t len)
{
	return corehook_provision_from(ch, out, request, len, NULL);
}

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
		url_device_hint(out->device_id, sizeof(out->device_id), req.url);
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
		prov_finish(ch, out, r == PROV_ERR_INTERNAL ? CH_PROV_INTERNAL :
		    CH_PROV_BAD_SIGNATURE, r == PROV_ERR_INTERNAL ? 22 : 3, err);
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
	    &out->container_len, &sub, &bind, pub, pub_enc[0] == 0x04 ?
	    pub_enc : NULL, ch->signer, err, sizeof(err)) != PROV_OK) {
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

/* ---- 5G-AKA ---- */

void corehook_av_clear(corehook_av_t *av)
{
	if (av != NULL)
		OPENSSL_cleanse(av, sizeof(*av));
}

int corehook_av_generate(corehook *ch, corehook_av_t *out, const char *supi,
    char *err, size_t errlen)
{
	subs_db *db = NULL;
	subs_record_t rec;
	aka_vector_t v;
	uint8_t sqn[6];
	uint64_t next;
	int rc = COREHOOK_ERR, r;

	memset(out, 0, sizeof(*out));
	memset(&rec, 0, sizeof(rec));
	memset(&v, 0, sizeof(v));
	if (ch_db_get(ch, &db, err, errlen) != COREHOOK_OK)
		return COREHOOK_ERR;
	r = subs_group_sqn_next_read(ch->group, db, &next, &rec, supi,
	    ch->cfg->sqn_ind_bits, err, errlen);
	ch_db_put(ch, db);
	if (r == SUBS_NOTFOUND || r == SUBS_INVALID) {
		rc = COREHOOK_ERR_NOTFOUND;
		goto out;
	}
	if (r != SUBS_OK)
		goto out;
	if (aka_sqn_from_u64(sqn, next) != AKA_OK ||
	    aka_vector_make(&v, rec.ki, rec.opc, rec.amf, sqn, NULL, ch->snn)
	    != AKA_OK) {
		util_err_set(err, errlen, "authentication vector failed");
		goto out;
	}
	snprintf(out->supi, sizeof(out->supi), "%s", supi);
	out->pending = rec.state == SUBS_STATE_PENDING;
	memcpy(out->rand, v.rand, 16);
	memcpy(out->autn, v.autn, 16);
	memcpy(out->xres_star, v.xres_star, 16);
	memcpy(out->hxres_star, v.hxres_star, 16);
	memcpy(out->kausf, v.kausf, 32);
	memcpy(out->kseaf, v.kseaf, 32);
	out->sqn = next;
	rc = COREHOOK_OK;
out:
	aka_vector_clear(&v);
	subs_record_wipe(&rec);
	return rc;
}

int corehook_res_confirm(const corehook_av_t *av, const uint8_t *res_star,
    uint8_t *kamf)
{
	static const uint8_t abba[2] = { 0x00, 0x00 };
	uint8_t hres[16];
	int ok;

	if (aka_hxres_star(hres, av->rand, res_star) != AKA_OK)
		return 0;
	/* The SEAF's check (HRES* vs HXRES*), then the AUSF's (RES* vs XRES*). */
	ok = CRYPTO_memcmp(hres, av->hxres_star, 16) == 0;
	ok &= CRYPTO_memcmp(res_star, av->xres_star, 16) == 0;
	OPENSSL_cleanse(hres, sizeof(hres));
	if (!ok)
		return 0;
	if (kamf != NULL && aka_kamf(kamf, av->kseaf, av->supi, abba,
	    sizeof(abba)) != AKA_OK)
		return 0;
	return 1;
}

int corehook_confirm(corehook *ch, const char *supi, int *promoted,
    char *err, size_t errlen)
{
	subs_db *db = NULL;
	int r, p = 0;

	if (promoted != NULL)
		*promoted = 0;
	if (ch == NULL || supi == NULL)
		return COREHOOK_ERR_ARG;
	if (ch_db_get(ch, &db, err, errlen) != COREHOOK_OK)
		return COREHOOK_ERR;
	r = subs_group_confirm(ch->group, db, supi, &p, err, errlen);
	ch_db_put(ch, db);
	if (r == SUBS_NOTFOUND)
		return COREHOOK_ERR_NOTFOUND;
	if (r != SUBS_OK)
		return COREHOOK_ERR;
	if (p)
		atomic_fetch_add(&ch->metrics.aka[CH_AKA_PROMOTED], 1);
	if (promoted != NULL)
		*promoted = p;
	return COREHOOK_OK;
}

int corehook_resync(corehook *ch, const char *supi, const uint8_t *rand,
    const uint8_t *auts, char *err, size_t errlen)
{
	subs_db *db = NULL;
	subs_record_t rec;
	uint8_t sqn_ms[6];
	int rc = COREHOOK_ERR, r;

	memset(&rec, 0, sizeof(rec));
	if (ch_db_get(ch, &db, err, errlen) != COREHOOK_OK)
		return COREHOOK_ERR;
	r = subs_find_supi(db, &rec, supi, err, errlen);
	if (r != SUBS_OK) {
		rc = r == SUBS_NOTFOUND ? COREHOOK_ERR_NOTFOUND : COREHOOK_ERR;
		goto out;
	}
	if (aka_auts_resync(sqn_ms, rec.ki, rec.opc, rand, auts) != AKA_OK) {
		util_err_set(err, errlen, "AUTS does not verify");
		rc = COREHOOK_ERR_AUTH;
		goto out;
	}
	if (subs_sqn_set(db, supi, aka_sqn_to_u64(sqn_ms), err, errlen)
	    != SUBS_OK)
		goto out;
	rc = COREHOOK_OK;
out:
	ch_db_put(ch, db);
	subs_record_wipe(&rec);
	return rc;
}
