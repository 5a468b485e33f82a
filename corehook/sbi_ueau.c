/* sbi_ueau.c — Nudm_UEAU (TS 29.503) for the subscribers corehook
 * provisioned: generate-auth-data (5G_AKA with a 5G_HE_AKA vector, SUCI
 * de-concealment as the SIDF with the NAS front's home network keys,
 * resynchronisation), auth-events (result confirmation,
 * removal), the caller allow-list, and problem+json errors with the 3GPP
 * causes. Vectors come from the same library calls the NAS front uses, so
 * the SQN step is durable before the answer and never reused by either. */
#define _GNU_SOURCE
#include "sbi.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <openssl/crypto.h>

#include "aka.h"
#include "ch_ctx.h"
#include "suci.h"
#include "util.h"

#define EVENTS_MAX 1024
#define PREFIX "/nudm-ueau/v1/"
#define SBI_LOG_PATH_MAX 600

struct event {
	char id[SBI_UUID_LEN + 1];
	char supi[16];
	char *json; /* the AuthEvent as stored */
};

struct sbi_ueau {
	corehook *ch;
	const corehook_config *cfg;
	const sbi_config_t *sbi;
	sbi_metrics_t *m;
	char snn[AKA_SNN_BUF];
	char base[256];
	pthread_mutex_t mu; /* guards events */
	struct event events[EVENTS_MAX];
	size_t next; /* ring position of the next event */
};

/* One request's parsed path and the answer being built. */
typedef struct {
	sbi_ueau *u;
	const sbi_request_t *req;
	sbi_response_t *resp;
	char seg[4][SUCI_STR_MAX]; /* a SUCI string is the longest */
	size_t nseg;
	int op;
} call_t;

/* Monotonic microseconds. */
static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* Wipe every string of a JSON tree (a vector's K_AUSF and XRES*);
 * NULL-safe. */
static void json_wipe(const cJSON *node)
{
	const cJSON *it;

	for (it = node != NULL ? node->child : NULL; it != NULL;
	     it = it->next) {
		if (cJSON_IsString(it) && it->valuestring != NULL)
			OPENSSL_cleanse(it->valuestring,
			    strlen(it->valuestring));
		json_wipe(it);
	}
}

/* Set resp to a JSON body (takes doc) with status; 500 if it cannot. */
static void reply_json(call_t *c, int status, const char *ctype, cJSON *doc)
{
	char *text = doc != NULL ? cJSON_PrintUnformatted(doc) : NULL;

	json_wipe(doc);
	cJSON_Delete(doc);
	if (text == NULL) {
		c->resp->status = 500;
		return;
	}
	c->resp->status = status;
	snprintf(c->resp->content_type, sizeof(c->resp->content_type), "%s",
	    ctype);
	c->resp->body = text; /* cJSON uses malloc: the server frees it */
	c->resp->body_len = strlen(text);
}

/* path for a log line into buf: a SUCI's scheme output (the field after
 * its key id) is shortened to "..", so logs carry no long hex values. */
static const char *path_for_log(char *buf, size_t cap, const char *path)
{
	char *p, *end;
	int dashes = 0;

	snprintf(buf, cap, "%s", path);
	if ((p = strstr(buf, "/suci-")) == NULL)
		return buf;
	for (p++; *p != '\0' && *p != '/' && dashes < 7; p++)
		dashes += *p == '-';
	end = p + strcspn(p, "/?");
	if (dashes == 7 && end > p + 2) {
		memmove(p + 2, end, strlen(end) + 1);
		p[0] = '.';
		p[1] = '.';
	}
	return buf;
}

/* A problem+json answer with a 3GPP cause (NULL: none); counted. */
static void problem(call_t *c, int status, const char *cause, int metric,
    const char *detail)
{
	cJSON *doc = cJSON_CreateObject();
	char path[SBI_LOG_PATH_MAX];

	if (doc == NULL ||
	    cJSON_AddNumberToObject(doc, "status", status) == NULL ||
	    cJSON_AddStringToObject(doc, "detail", detail) == NULL ||
	    (cause != NULL &&
	        cJSON_AddStringToObject(doc, "cause", cause) == NULL)) {
		cJSON_Delete(doc);
		doc = NULL;
	}
	if (metric >= 0)
		atomic_fetch_add(&c->u->m->cause[metric], 1);
	reply_json(c, status, "application/problem+json", doc);
	ch_log(c->u->ch, COREHOOK_LOG_WARN,
	    "sbi %s %s peer=%s status=%d"
	    " cause=%s",
	    c->req->method, path_for_log(path, sizeof(path), c->req->path),
	    c->req->peer, status, cause != NULL ? cause : "-");
}

/* 1 if s is lo..hi decimal digits. */
static int digits_only(const char *s, size_t lo, size_t hi)
{
	size_t n = strlen(s), i;

	if (n < lo || n > hi)
		return 0;
	for (i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return 0;
	return 1;
}

/* 1 if corehook holds a home network key of protection scheme at any key
 * id (that scheme is served here). */
static int scheme_served(const corehook *ch, uint8_t scheme)
{
	size_t i;

	for (i = 0; i < sizeof(ch->suci_key) / sizeof(ch->suci_key[0]); i++)
		if (ch->suci_key[i] != NULL && ch->suci_key_scheme[i] == scheme)
			return 1;
	return 0;
}

/* SUPI digits of a SUCI string (TS 23.003 §2.2B, common/suci.c's parser):
 * the null scheme's MSIN where sbi.suci_null_scheme allows it, Profiles A
 * and B de-concealed with the key of the SUCI's key id by ch_suci_supi, as
 * the NAS front does (the UDM's SIDF role). TS 29.503 §6.3.7.3 causes:
 * 501 UNSUPPORTED_PROTECTION_SCHEME, 403 INVALID_HN_PUBLIC_KEY_IDENTIFIER,
 * 403 INVALID_SCHEME_OUTPUT. Answers and returns -1 on a failure. */
static int supi_from_suci(call_t *c, char *supi, const char *id)
{
	char err[256], imsi[SUCI_SUPI_MAX];
	suci_t s;
	nas_suci_t n;
	int r = -1;

	memset(&n, 0, sizeof(n));
	if (suci_string_parse(&s, id, err, sizeof(err)) != SUCI_OK) {
		problem(c, 400, "MANDATORY_IE_INCORRECT",
		    SBI_CAUSE_MANDATORY_IE_INCORRECT,
		    "not a SUPI (imsi-) or SUCI");
		return -1;
	}
	if (s.scheme == SUCI_SCHEME_NULL ? !c->u->sbi->suci_null_scheme :
	                                   !scheme_served(c->u->ch, s.scheme)) {
		problem(c, 501, "UNSUPPORTED_PROTECTION_SCHEME",
		    SBI_CAUSE_UNSUPPORTED_SCHEME,
		    "SUCI protection scheme is"
		    " not served here");
		goto out;
	}
	if (s.scheme == SUCI_SCHEME_NULL) {
		if (strlen(s.mcc) + strlen(s.mnc) + strlen(s.msin) > 15)
			goto bad;
		snprintf(supi, 16, "%s%s%s", s.mcc, s.mnc, s.msin);
		r = 0;
		goto out;
	}
	if (s.out_len > sizeof(n.out))
		goto bad;
	memcpy(n.mcc, s.mcc, sizeof(n.mcc));
	memcpy(n.mnc, s.mnc, sizeof(n.mnc));
	memcpy(n.routing, s.routing, sizeof(n.routing));
	n.scheme = s.scheme;
	n.hnpki = s.key_id;
	memcpy(n.out, s.out, s.out_len);
	n.out_len = s.out_len;
	r = ch_suci_supi(c->u->ch, imsi, sizeof(imsi), &n, err, sizeof(err));
	if (r == COREHOOK_ERR_NOTFOUND) {
		problem(c, 403, "INVALID_HN_PUBLIC_KEY_IDENTIFIER",
		    SBI_CAUSE_INVALID_HN_KEY_ID,
		    "no home network key with "
		    "this key id for this protection scheme");
		r = -1;
		goto out;
	}
	if (r != COREHOOK_OK || strncmp(imsi, "imsi-", 5) != 0 ||
	    !digits_only(imsi + 5, 6, 15)) {
		problem(c, 403, "INVALID_SCHEME_OUTPUT",
		    SBI_CAUSE_INVALID_SCHEME_OUTPUT,
		    "SUCI cannot be de-concealed"
		    " with the received data");
		r = -1;
		goto out;
	}
	snprintf(supi, 16, "%s", imsi + 5);
	r = 0;
	goto out;
bad:
	problem(c, 400, "MANDATORY_IE_INCORRECT",
	    SBI_CAUSE_MANDATORY_IE_INCORRECT, "not a SUPI (imsi-) or SUCI");
	r = -1;
out:
	OPENSSL_cleanse(&n, sizeof(n));
	OPENSSL_cleanse(&s, sizeof(s));
	return r;
}

/* SUPI digits from "imsi-<digits>" or (allow_suci) a SUCI string (see
 * supi_from_suci). Answers and returns -1 when it is neither. */
static int supi_from_id(call_t *c, char *supi, const char *id, int allow_suci)
{
	if (strncmp(id, "imsi-", 5) == 0 && digits_only(id + 5, 6, 15)) {
		snprintf(supi, 16, "%s", id + 5);
		return 0;
	}
	if (allow_suci && strncmp(id, "suci-", 5) == 0)
		return supi_from_suci(c, supi, id);
	problem(c, 400, "MANDATORY_IE_INCORRECT",
	    SBI_CAUSE_MANDATORY_IE_INCORRECT, "not a SUPI (imsi-) or SUCI");
	return -1;
}

/* The JSON request body as an object, or an answer and NULL. */
static cJSON *body_object(call_t *c)
{
	cJSON *doc;

	if (strncmp(c->req->content_type, "application/json", 16) != 0) {
		problem(c, 415, NULL, SBI_CAUSE_MANDATORY_IE_INCORRECT,
		    "content-type must be application/json");
		return NULL;
	}
	doc =
	    cJSON_ParseWithLength((const char *)c->req->body, c->req->body_len);
	if (doc == NULL || !cJSON_IsObject(doc)) {
		cJSON_Delete(doc);
		problem(c, 400, "MANDATORY_IE_INCORRECT",
		    SBI_CAUSE_MANDATORY_IE_INCORRECT,
		    "body is not a JSON object");
		return NULL;
	}
	return doc;
}

/* A mandatory string member, or an answer (MANDATORY_IE_MISSING) and NULL. */
static const char *need_str(call_t *c, const cJSON *o, const char *name)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, name);
	char detail[96];

	if (cJSON_IsString(it) && it->valuestring[0] != '\0')
		return it->valuestring;
	snprintf(detail, sizeof(detail), "%s is missing", name);
	problem(c, 400, "MANDATORY_IE_MISSING", SBI_CAUSE_MANDATORY_IE_MISSING,
	    detail);
	return NULL;
}

/* The NF instance allow-list (empty: any instance); answers 403 if not. */
static int nf_allowed(call_t *c, const char *nf)
{
	size_t i;

	if (c->u->sbi->allow_nf_count == 0)
		return 1;
	for (i = 0; i < c->u->sbi->allow_nf_count; i++)
		if (strcasecmp(c->u->sbi->allow_nf[i], nf) == 0)
			return 1;
	problem(c, 403, NULL, SBI_CAUSE_CALLER_REFUSED,
	    "NF instance not allowed");
	return 0;
}

/* Apply resynchronizationInfo {rand, auts}; answers and returns -1 on a
 * failure. */
static int resync(call_t *c, const char *supi, const cJSON *ri)
{
	const cJSON *jr = cJSON_GetObjectItemCaseSensitive(ri, "rand");
	const cJSON *ja = cJSON_GetObjectItemCaseSensitive(ri, "auts");
	uint8_t rand[16], auts[14];
	char err[256];
	int r;

	c->op = SBI_OP_RESYNC;
	if (!cJSON_IsObject(ri) || !cJSON_IsString(jr) || !cJSON_IsString(ja) ||
	    util_hex_decode(rand, 16, jr->valuestring) != 0 ||
	    util_hex_decode(auts, 14, ja->valuestring) != 0) {
		problem(c, 400, "MANDATORY_IE_INCORRECT",
		    SBI_CAUSE_MANDATORY_IE_INCORRECT,
		    "resynchronizationInfo needs rand (32 hex) and auts (28 hex)");
		return -1;
	}
	r = corehook_resync(c->u->ch, supi, rand, auts, err, sizeof(err));
	if (r == COREHOOK_ERR_NOTFOUND) {
		problem(c, 404, "USER_NOT_FOUND", SBI_CAUSE_USER_NOT_FOUND,
		    "no such subscriber");
		return -1;
	}
	if (r == COREHOOK_ERR_AUTH) {
		problem(c, 403, "AUTHENTICATION_REJECTED",
		    SBI_CAUSE_AUTH_REJECTED, "AUTS does not verify");
		return -1;
	}
	if (r != COREHOOK_OK) {
		problem(c, 500, "SYSTEM_FAILURE", SBI_CAUSE_INTERNAL, err);
		return -1;
	}
	return 0;
}

/* The AuthenticationInfoResult for av. */
static cJSON *auth_info_result(const corehook_av_t *av)
{
	cJSON *doc = cJSON_CreateObject(), *v;
	char h[4][65], supi[24];
	int ok;

	util_hex_encode(h[0], av->rand, 16);
	util_hex_encode(h[1], av->xres_star, 16);
	util_hex_encode(h[2], av->autn, 16);
	util_hex_encode(h[3], av->kausf, 32);
	snprintf(supi, sizeof(supi), "imsi-%s", av->supi);
	ok = doc != NULL &&
	    cJSON_AddStringToObject(doc, "authType", "5G_AKA") != NULL &&
	    (v = cJSON_AddObjectToObject(doc, "authenticationVector")) !=
	        NULL &&
	    cJSON_AddStringToObject(v, "avType", "5G_HE_AKA") != NULL &&
	    cJSON_AddStringToObject(v, "rand", h[0]) != NULL &&
	    cJSON_AddStringToObject(v, "xresStar", h[1]) != NULL &&
	    cJSON_AddStringToObject(v, "autn", h[2]) != NULL &&
	    cJSON_AddStringToObject(v, "kausf", h[3]) != NULL &&
	    cJSON_AddStringToObject(doc, "supi", supi) != NULL;
	OPENSSL_cleanse(h, sizeof(h));
	if (!ok) {
		cJSON_Delete(doc);
		return NULL;
	}
	return doc;
}

/* POST /{supiOrSuci}/security-information/generate-auth-data */
static void h_generate(call_t *c)
{
	cJSON *doc = NULL, *res;
	const char *snn, *ausf;
	char supi[16], err[256];
	corehook_av_t av;
	int r;

	memset(&av, 0, sizeof(av));
	c->op = SBI_OP_GENERATE;
	if (supi_from_id(c, supi, c->seg[0], 1) != 0 ||
	    (doc = body_object(c)) == NULL ||
	    (snn = need_str(c, doc, "servingNetworkName")) == NULL ||
	    (ausf = need_str(c, doc, "ausfInstanceId")) == NULL ||
	    !nf_allowed(c, ausf))
		goto out;
	if (strcmp(snn, c->u->snn) != 0) {
		problem(c, 403, "SERVING_NETWORK_NOT_AUTHORIZED",
		    SBI_CAUSE_SNN_NOT_AUTHORIZED, "serving network not served");
		goto out;
	}
	if (cJSON_GetObjectItemCaseSensitive(doc, "resynchronizationInfo") !=
	        NULL &&
	    resync(c, supi,
	        cJSON_GetObjectItemCaseSensitive(doc,
	            "resynchronizationInfo")) != 0)
		goto out;
	r = corehook_av_generate(c->u->ch, &av, supi, err, sizeof(err));
	if (r == COREHOOK_ERR_NOTFOUND) {
		char detail[64];

		snprintf(detail, sizeof(detail), "no such subscriber imsi-%s",
		    supi);
		problem(c, 404, "USER_NOT_FOUND", SBI_CAUSE_USER_NOT_FOUND,
		    detail);
		goto out;
	}
	if (r != COREHOOK_OK || (res = auth_info_result(&av)) == NULL) {
		problem(c, 500, "SYSTEM_FAILURE", SBI_CAUSE_INTERNAL,
		    "vector failed");
		goto out;
	}
	reply_json(c, 200, "application/json", res);
	atomic_fetch_add(&c->u->m->vectors, 1);
	ch_log(c->u->ch, COREHOOK_LOG_INFO,
	    "sbi generate-auth-data supi=%s"
	    " ausf=%s sqn=%llu%s",
	    supi, ausf, (unsigned long long)av.sqn,
	    c->op == SBI_OP_RESYNC ? " resync=1" : "");
out:
	corehook_av_clear(&av);
	cJSON_Delete(doc);
}

/* 1 if supi has an active subscription; answers 404 / 500 if not. */
static int subscriber_known(call_t *c, const char *supi)
{
	subs_db *db = NULL;
	subs_record_t rec;
	char err[256];
	int r;

	if (ch_db_get(c->u->ch, &db, err, sizeof(err)) != COREHOOK_OK) {
		problem(c, 500, "SYSTEM_FAILURE", SBI_CAUSE_INTERNAL, err);
		return 0;
	}
	r = subs_find_supi(db, &rec, supi, err, sizeof(err));
	ch_db_put(c->u->ch, db);
	subs_record_wipe(&rec);
	if (r == SUBS_OK)
		return 1;
	if (r == SUBS_NOTFOUND || r == SUBS_INVALID)
		problem(c, 404, "USER_NOT_FOUND", SBI_CAUSE_USER_NOT_FOUND,
		    "no such subscriber");
	else
		problem(c, 500, "SYSTEM_FAILURE", SBI_CAUSE_INTERNAL, err);
	return 0;
}

/* Store an AuthEvent for supi under a new id; -1 when out of memory. */
static int event_store(sbi_ueau *u, char *id, const char *supi, const cJSON *ev)
{
	char *json = cJSON_PrintUnformatted(ev);
	struct event *e;

	if (json == NULL || sbi_uuid_new(id) != 0) {
		cJSON_free(json);
		return -1;
	}
	pthread_mutex_lock(&u->mu);
	e = &u->events[u->next];
	u->next = (u->next + 1) % EVENTS_MAX;
	cJSON_free(e->json); /* the oldest makes room */
	snprintf(e->id, sizeof(e->id), "%s", id);
	snprintf(e->supi, sizeof(e->supi), "%s", supi);
	e->json = json;
	pthread_mutex_unlock(&u->mu);
	return 0;
}

/* Remove the events of supi (id NULL: all of them); count removed. */
static size_t event_remove(sbi_ueau *u, const char *supi, const char *id)
{
	size_t i, n = 0;

	pthread_mutex_lock(&u->mu);
	for (i = 0; i < EVENTS_MAX; i++) {
		struct event *e = &u->events[i];

		if (e->json == NULL || strcmp(e->supi, supi) != 0 ||
		    (id != NULL && strcasecmp(e->id, id) != 0))
			continue;
		cJSON_free(e->json);
		memset(e, 0, sizeof(*e));
		n++;
	}
	pthread_mutex_unlock(&u->mu);
	return n;
}

/* The :authority if it is a plain host[:port], for an absolute Location. */
static const char *location_base(call_t *c, char *buf, size_t cap)
{
	const char *a = c->req->authority;
	size_t i, n = strlen(a);

	for (i = 0; i < n; i++)
		if (strchr(
		        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
		        "0123456789.-:[]",
		        a[i]) == NULL)
			break;
	if (n == 0 || i != n || n > 255) {
		pthread_mutex_lock(&c->u->mu);
		snprintf(buf, cap, "%s", c->u->base);
		pthread_mutex_unlock(&c->u->mu);
		return buf;
	}
	snprintf(buf, cap, "%s://%s",
	    c->u->sbi->tls_cert[0] != '\0' ? "https" : "http", a);
	return buf;
}

/* POST /{supi}/auth-events: the AUSF's result of one authentication. */
static void h_event_post(call_t *c)
{
	cJSON *doc = NULL;
	const cJSON *ok;
	const char *nf;
	char supi[16], id[SBI_UUID_LEN + 1], base[280], err[256];
	int promoted = 0;

	c->op = SBI_OP_EVENT_POST;
	if (supi_from_id(c, supi, c->seg[0], 0) != 0 ||
	    (doc = body_object(c)) == NULL ||
	    (nf = need_str(c, doc, "nfInstanceId")) == NULL ||
	    need_str(c, doc, "timeStamp") == NULL ||
	    need_str(c, doc, "authType") == NULL ||
	    need_str(c, doc, "servingNetworkName") == NULL ||
	    !nf_allowed(c, nf))
		goto out;
	ok = cJSON_GetObjectItemCaseSensitive(doc, "success");
	if (!cJSON_IsBool(ok)) {
		problem(c, 400, "MANDATORY_IE_MISSING",
		    SBI_CAUSE_MANDATORY_IE_MISSING, "success is missing");
		goto out;
	}
	if (!subscriber_known(c, supi))
		goto out;
	/* A successful authentication with a pending subscription's
	 * credentials makes it the device's active one (docs/corehook.md,
	 * "Pending → active → retired"); a failure changes nothing. */
	if (cJSON_IsTrue(ok) &&
	    corehook_confirm(c->u->ch, supi, &promoted, err, sizeof(err)) !=
	        COREHOOK_OK) {
		problem(c, 500, "SYSTEM_FAILURE", SBI_CAUSE_INTERNAL, err);
		goto out;
	}
	if (event_store(c->u, id, supi, doc) != 0) {
		problem(c, 500, "SYSTEM_FAILURE", SBI_CAUSE_INTERNAL,
		    "out of memory");
		goto out;
	}
	snprintf(c->resp->location, sizeof(c->resp->location),
	    "%s" PREFIX "imsi-%s/auth-events/%s",
	    location_base(c, base, sizeof(base)), supi, id);
	atomic_fetch_add(cJSON_IsTrue(ok) ? &c->u->m->confirmations :
	                                    &c->u->m->auth_failures,
	    1);
	ch_log(c->u->ch, COREHOOK_LOG_INFO,
	    "sbi auth-event supi=%s id=%s"
	    " success=%s nf=%s%s",
	    supi, id, cJSON_IsTrue(ok) ? "true" : "false", nf,
	    promoted ? " promoted=pending->active" : "");
	reply_json(c, 201, "application/json", doc);
	doc = NULL;
out:
	cJSON_Delete(doc);
}

/* PUT /{supi}/auth-events[/{id}] with authRemovalInd, DELETE
 * /{supi}/auth-events/{id}: forget the event(s). */
static void h_event_remove(call_t *c)
{
	cJSON *doc = NULL;
	const cJSON *rm;
	const char *id = c->nseg == 3 ? c->seg[2] : NULL;
	char supi[16];

	c->op = strcmp(c->req->method, "DELETE") == 0 ? SBI_OP_EVENT_DELETE :
	                                                SBI_OP_EVENT_PUT;
	if (supi_from_id(c, supi, c->seg[0], 0) != 0)
		goto out;
	if (c->op == SBI_OP_EVENT_PUT) {
		if ((doc = body_object(c)) == NULL)
			goto out;
		rm = cJSON_GetObjectItemCaseSensitive(doc, "authRemovalInd");
		if (!cJSON_IsTrue(rm)) {
			problem(c, 400, "MANDATORY_IE_INCORRECT",
			    SBI_CAUSE_MANDATORY_IE_INCORRECT,
			    "only authRemovalInd: true is accepted");
			goto out;
		}
	}
	if (id == NULL && !subscriber_known(c, supi))
		goto out;
	if (event_remove(c->u, supi, id) == 0 && id != NULL) {
		problem(c, 404, "DATA_NOT_FOUND", SBI_CAUSE_NOT_FOUND,
		    "no such auth event");
		goto out;
	}
	ch_log(c->u->ch, COREHOOK_LOG_INFO,
	    "sbi auth-event removed supi=%s"
	    " id=%s",
	    supi, id != NULL ? id : "*");
	c->resp->status = 204;
out:
	cJSON_Delete(doc);
}

/* The routes: method, number of segments after PREFIX, fixed segments
 * ("" matches any), handler. */
static const struct {
	const char *method;
	size_t nseg;
	const char *seg1, *seg2;
	void (*fn)(call_t *);
} routes[] = {
	{ "POST", 3, "security-information", "generate-auth-data", h_generate },
	{ "POST", 2, "auth-events", NULL, h_event_post },
	{ "PUT", 2, "auth-events", NULL, h_event_remove },
	{ "PUT", 3, "auth-events", "", h_event_remove },
	{ "DELETE", 3, "auth-events", "", h_event_remove },
};

/* Split the path after PREFIX into c->seg; -1 if it is not ours. */
static int path_split(call_t *c)
{
	const char *p = c->req->path;
	size_t len;

	if (strncmp(p, PREFIX, strlen(PREFIX)) != 0)
		return -1;
	p += strlen(PREFIX);
	for (c->nseg = 0; *p != '\0' && *p != '?'; c->nseg++) {
		len = strcspn(p, "/?");
		if (c->nseg == 4 || len == 0 || len >= sizeof(c->seg[0]))
			return -1;
		memcpy(c->seg[c->nseg], p, len);
		c->seg[c->nseg][len] = '\0';
		p += len;
		if (*p == '/')
			p++;
	}
	return c->nseg > 0 ? 0 : -1;
}

/* 1 if the caller's address is on the allow-list; answers 403 if not. */
static int peer_allowed(call_t *c)
{
	size_t i;

	for (i = 0; i < c->u->sbi->allow_addr_count; i++)
		if (strcmp(c->u->sbi->allow_addr[i], c->req->peer) == 0)
			return 1;
	problem(c, 403, NULL, SBI_CAUSE_CALLER_REFUSED, "caller not allowed");
	return 0;
}

void sbi_ueau_handle(void *arg, const sbi_request_t *req, sbi_response_t *resp)
{
	call_t c;
	uint64_t t0 = now_us();
	size_t i;
	int path_ok = 0;

	memset(&c, 0, sizeof(c));
	c.u = arg;
	c.req = req;
	c.resp = resp;
	c.op = SBI_OP_OTHER;
	if (!peer_allowed(&c))
		goto done;
	if (path_split(&c) == 0)
		for (i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
			if (routes[i].nseg != c.nseg ||
			    strcmp(routes[i].seg1, c.seg[1]) != 0 ||
			    (routes[i].seg2 != NULL &&
			        routes[i].seg2[0] != '\0' &&
			        strcmp(routes[i].seg2, c.seg[2]) != 0))
				continue;
			path_ok = 1;
			if (strcmp(routes[i].method, req->method) == 0) {
				routes[i].fn(&c);
				goto done;
			}
		}
	if (path_ok)
		problem(&c, 405, NULL, -1, "method not allowed here");
	else
		problem(&c, 404, "RESOURCE_URI_STRUCTURE_NOT_FOUND",
		    SBI_CAUSE_NOT_FOUND, "no such resource");
done:
	atomic_fetch_add(&c.u->m->op[c.op], 1);
	atomic_fetch_add(&c.u->m->op_us[c.op], now_us() - t0);
}

int sbi_ueau_new(sbi_ueau **out, corehook *ch, const corehook_config *cfg,
    const sbi_config_t *sbi, sbi_metrics_t *m, const char *base, char *err,
    size_t errlen)
{
	sbi_ueau *u = calloc(1, sizeof(*u));

	*out = NULL;
	if (u == NULL) {
		util_err_set(err, errlen, "out of memory");
		return -1;
	}
	if (aka_snn_format(u->snn, sizeof(u->snn), cfg->mcc, cfg->mnc) !=
	    AKA_OK) {
		util_err_set(err, errlen,
		    "cannot form the serving network name");
		free(u);
		return -1;
	}
	u->ch = ch;
	u->cfg = cfg;
	u->sbi = sbi;
	u->m = m;
	snprintf(u->base, sizeof(u->base), "%s", base);
	pthread_mutex_init(&u->mu, NULL);
	*out = u;
	return 0;
}

void sbi_ueau_set_base(sbi_ueau *u, const char *base)
{
	pthread_mutex_lock(&u->mu);
	snprintf(u->base, sizeof(u->base), "%s", base);
	pthread_mutex_unlock(&u->mu);
}

void sbi_ueau_free(sbi_ueau *u)
{
	size_t i;

	if (u == NULL)
		return;
	for (i = 0; i < EVENTS_MAX; i++)
		cJSON_free(u->events[i].json);
	pthread_mutex_destroy(&u->mu);
	free(u);
}
