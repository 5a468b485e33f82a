/* portal_session.c — portal sessions over HTTP: sign-in (throttled per
 * (user, address) and per address), sign-out, "who am I", and the two hooks the
 * dispatcher calls: the session cookie → principal, and the CSRF check on
 * session requests that change state. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <civetweb.h>
#include <openssl/crypto.h>

#include "http_int.h"
#include "portal.h"
#include "portal_http.h"

/* Login throttling, never keyed on the name alone (that would let anyone
 * lock any user out, administrators included): per (name, client address)
 * after 4 free failures, and per client address (guessing across many
 * names) after 19; each further failure locks the key for 30 s, doubling
 * up to 15 minutes. A correct password from an address that has not been
 * failing signs in at once. */
#define RL_PAIR_FREE 4
#define RL_ADDR_FREE 19
#define RL_BASE_DELAY_S 30
#define RL_MAX_DELAY_S (15 * 60)
#define RL_CAPACITY 4096

/* The limiters live for the process: one server per process, and they are
 * locked inside, so handler threads share them safely. */
static pthread_once_t rl_once = PTHREAD_ONCE_INIT;
static portal_ratelimit *rl_pair, *rl_addr;

static void rl_init(void)
{
	if (portal_ratelimit_new(&rl_pair, RL_PAIR_FREE, RL_BASE_DELAY_S,
	        RL_MAX_DELAY_S, RL_CAPACITY) != PORTAL_OK)
		rl_pair = NULL;
	if (portal_ratelimit_new(&rl_addr, RL_ADDR_FREE, RL_BASE_DELAY_S,
	        RL_MAX_DELAY_S, RL_CAPACITY) != PORTAL_OK)
		rl_addr = NULL;
}

static void session_policy(portal_session_policy_t *pol, const http_req_t *req)
{
	pol->idle_s = req->srv->cfg->session_idle_seconds > 0 ?
	    req->srv->cfg->session_idle_seconds :
	    PORTAL_SESSION_IDLE_DEFAULT;
	pol->absolute_s = req->srv->cfg->session_absolute_seconds > 0 ?
	    req->srv->cfg->session_absolute_seconds :
	    PORTAL_SESSION_ABSOLUTE_DEFAULT;
}

/* The session token from the Cookie header into tok; 0 or -1 if none. */
static int cookie_token(char *tok, size_t toklen, const http_req_t *req)
{
	const char *c = http_header(req, "Cookie");

	if (c == NULL ||
	    mg_get_cookie(c, PORTAL_COOKIE, tok, toklen) != PORTAL_TOKEN_HEX)
		return -1;
	return 0;
}

/* The request's registry connection, or NULL. */
static reg_t *req_db(http_req_t *req)
{
	return http_req_reg(req);
}

/* Look up the request's session. 1 found, 0 none/expired, <0 error. */
static int req_session(portal_session_t *out, http_req_t *req)
{
	char tok[PORTAL_TOKEN_HEX + 8], err[256];
	portal_session_policy_t pol;
	reg_t *db;
	int rc;

	if (cookie_token(tok, sizeof(tok), req) != 0)
		return 0;
	db = req_db(req);
	if (db == NULL)
		return -1;
	session_policy(&pol, req);
	rc = portal_session_lookup(out, db, tok, &pol, reg_now(), err,
	    sizeof(err));
	OPENSSL_cleanse(tok, sizeof(tok));
	if (rc == PORTAL_OK)
		return 1;
	if (rc == PORTAL_E_DB || rc == PORTAL_E_CRYPTO) {
		http_count_db_error(req);
		return -1;
	}
	return 0;
}

static void principal_from_user(http_principal_t *out, const portal_user_t *u)
{
	memset(out, 0, sizeof(*out));
	out->id = u->id;
	/* "portal:" keeps users apart from certificate principals in the
	 * audit log's actor column. */
	snprintf(out->name, sizeof(out->name), "portal:%s", u->name);
	out->role = u->role == PORTAL_ROLE_ADMIN ? HTTP_ROLE_ADMIN :
	                                           HTTP_ROLE_MANUFACTURER;
	snprintf(out->manufacturer_id, sizeof(out->manufacturer_id), "%s",
	    u->manufacturer_id);
}

int http_session_principal(http_principal_t *out, http_req_t *req)
{
	portal_session_t s;
	int rc = req_session(&s, req);

	if (rc == 1)
		principal_from_user(out, &s.user);
	OPENSSL_cleanse(&s, sizeof(s));
	return rc;
}

int http_session_csrf_ok(http_req_t *req)
{
	const char *h = http_header(req, PORTAL_CSRF_HEADER);
	portal_session_t s;
	int ok = 0;

	if (h != NULL && req_session(&s, req) == 1) {
		ok = portal_session_csrf_check(&s, h) == PORTAL_OK;
		OPENSSL_cleanse(&s, sizeof(s));
	}
	return ok;
}

cJSON *portal_user_json(const portal_user_t *u)
{
	cJSON *o = cJSON_CreateObject();

	if (o == NULL || cJSON_AddStringToObject(o, "name", u->name) == NULL ||
	    cJSON_AddStringToObject(o, "role", portal_role_name(u->role)) ==
	        NULL ||
	    (u->role == PORTAL_ROLE_MANUFACTURER ?
	            cJSON_AddStringToObject(o, "manufacturer_id",
	                u->manufacturer_id) :
	            cJSON_AddNullToObject(o, "manufacturer_id")) == NULL ||
	    cJSON_AddBoolToObject(o, "disabled", u->disabled) == NULL ||
	    cJSON_AddNumberToObject(o, "created_at", (double)u->created_at) ==
	        NULL ||
	    cJSON_AddNumberToObject(o, "updated_at", (double)u->updated_at) ==
	        NULL) {
		cJSON_Delete(o);
		return NULL;
	}
	return o;
}

/* Answer 200 with {user, csrf, expires_at} and the extra header lines. */
static int reply_session(http_req_t *req, const portal_session_t *s,
    const char *extra)
{
	cJSON *doc = cJSON_CreateObject(), *u = portal_user_json(&s->user);
	char *text = NULL;
	int status;

	if (doc == NULL || u == NULL) {
		cJSON_Delete(u);
		goto fail;
	}
	if (!cJSON_AddItemToObject(doc, "user", u)) {
		cJSON_Delete(u);
		goto fail;
	}
	if (cJSON_AddStringToObject(doc, "csrf", s->csrf) == NULL ||
	    cJSON_AddNumberToObject(doc, "expires_at", (double)s->expires_at) ==
	        NULL)
		goto fail;
	text = cJSON_PrintUnformatted(doc);
	if (text == NULL)
		goto fail;
	status = http_reply_bytes(req, 200, "application/json", extra, text,
	    strlen(text));
	OPENSSL_cleanse(text, strlen(text));
	cJSON_free(text);
	cJSON_Delete(doc);
	return status;
fail:
	cJSON_Delete(doc);
	return http_reply_problem(req, 500, PT_INTERNAL, "Internal error",
	    "out of memory while rendering the response");
}

static void audit(http_req_t *req, const char *actor, const char *action,
    const char *target, const char *details)
{
	reg_t *reg = http_req_reg(req);
	char err[256];

	if (reg == NULL ||
	    reg_audit_append(reg, actor, action, target, details, err,
	        sizeof(err)) != REG_OK)
		http_count_db_error(req);
}

static int reply_limited(http_req_t *req, unsigned retry)
{
	char hdr[64], detail[128];

	snprintf(hdr, sizeof(hdr), "Retry-After: %u\r\n", retry);
	if (retry < 60)
		snprintf(detail, sizeof(detail),
		    "too many failed sign-ins; try "
		    "again in %u second%s",
		    retry, retry == 1 ? "" : "s");
	else
		snprintf(detail, sizeof(detail),
		    "too many failed sign-ins; try "
		    "again in %u minute%s",
		    (retry + 59) / 60, (retry + 59) / 60 == 1 ? "" : "s");
	return http_reply_problem_ex(req, 429, "too-many-requests",
	    "Too many attempts", detail, hdr);
}

/* The sign-in limiter's keys for this (address, name): the address
 * first, as a name cannot contain a space. */
struct login_keys {
	char pair[PORTAL_NAME_MAX + 64], addr[64];
};

/* Check the limiter for k; 0 when the sign-in may go on, else the status
 * of the answer sent (429 with Retry-After, or 503). */
static int login_limit_check(http_req_t *req, const struct login_keys *k)
{
	unsigned retry = 0, retry2 = 0;
	int rc;

	pthread_once(&rl_once, rl_init);
	if (rl_pair == NULL || rl_addr == NULL)
		return http_reply_problem(req, 503, PT_UNAVAILABLE,
		    "Service unavailable",
		    "the sign-in limiter could not start");
	rc = portal_ratelimit_check(rl_pair, k->pair, reg_now(), &retry);
	if (portal_ratelimit_check(rl_addr, k->addr, reg_now(), &retry2) !=
	        PORTAL_OK ||
	    rc != PORTAL_OK)
		return reply_limited(req, retry > retry2 ? retry : retry2);
	return 0;
}

/* A wrong password or a disabled account: counted against the pair and
 * the address, audited under the name when it is one, answered 401/403. */
static int login_refuse(http_req_t *req, const struct login_keys *k,
    const char *name, int rc)
{
	char actor[PORTAL_NAME_MAX + 8];

	portal_ratelimit_fail(rl_pair, k->pair, reg_now());
	portal_ratelimit_fail(rl_addr, k->addr, reg_now());
	if (portal_user_name_check(name) == PORTAL_OK) {
		snprintf(actor, sizeof(actor), "portal:%s", name);
		audit(req, actor,
		    rc == PORTAL_E_AUTH ? "portal.login_failed" :
		                          "portal.login_disabled",
		    name, NULL);
	}
	if (rc == PORTAL_E_AUTH)
		return http_reply_problem(req, 401, PT_UNAUTHENTICATED,
		    "Wrong user name or password", "check both and try again");
	return http_reply_problem(req, 403, PT_FORBIDDEN, "Account disabled",
	    "ask an administrator to enable your account");
}

/* Store a new session for u (expired ones purged first), audit the
 * sign-in and answer with the session cookie. */
static int login_session_start(http_req_t *req, reg_t *db,
    const portal_user_t *u)
{
	char tok[PORTAL_TOKEN_HEX + 1], err[256];
	char hdr[512]; /* the Set-Cookie line */
	char actor[PORTAL_NAME_MAX + 8];
	portal_session_policy_t pol;
	portal_session_t s;
	int rc, status;

	memset(&s, 0, sizeof(s));
	memset(tok, 0, sizeof(tok));
	memset(hdr, 0, sizeof(hdr));
	session_policy(&pol, req);
	(void)portal_session_purge(NULL, db, &pol, reg_now(), err, sizeof(err));
	rc = portal_session_create(tok, sizeof(tok), &s, db, u->id, &pol,
	    req->ri->remote_addr, reg_now(), err, sizeof(err));
	if (rc != PORTAL_OK) {
		http_count_db_error(req);
		status = http_reply_problem(req, 503, PT_UNAVAILABLE,
		    "Service unavailable", "the session could not be stored");
		goto out;
	}
	snprintf(actor, sizeof(actor), "portal:%s", u->name);
	audit(req, actor, "portal.login", u->name, NULL);
	snprintf(hdr, sizeof(hdr),
	    "Set-Cookie: " PORTAL_COOKIE "=%s; Path=/; "
	    "Secure; HttpOnly; SameSite=Strict\r\n",
	    tok);
	status = reply_session(req, &s, hdr);
out:
	OPENSSL_cleanse(tok, sizeof(tok));
	OPENSSL_cleanse(hdr, sizeof(hdr));
	OPENSSL_cleanse(&s, sizeof(s));
	return status;
}

/* POST sign-in: {name, password} → a session, under the limiter. */
int route_portal_login(http_req_t *req)
{
	cJSON *body = NULL, *jn, *jp;
	struct login_keys k;
	char err[256];
	portal_user_t u;
	reg_t *db;
	int rc, status;

	body = http_json_body(req);
	if (body == NULL)
		return req->status;
	jn = cJSON_GetObjectItemCaseSensitive(body, "name");
	jp = cJSON_GetObjectItemCaseSensitive(body, "password");
	if (!cJSON_IsString(jn) || !cJSON_IsString(jp) ||
	    jn->valuestring[0] == '\0' || jp->valuestring[0] == '\0') {
		status = http_reply_problem(req, 400, PT_INVALID,
		    "Name and password required",
		    "send {\"name\": ..., \"password\": ...}");
		goto out;
	}
	if (strlen(jn->valuestring) > PORTAL_NAME_MAX ||
	    strlen(jp->valuestring) > PORTAL_PW_MAX) {
		status = http_reply_problem(req, 401, PT_UNAUTHENTICATED,
		    "Wrong user name or password", NULL);
		goto out;
	}
	snprintf(k.pair, sizeof(k.pair), "p:%s %s", req->ri->remote_addr,
	    jn->valuestring);
	snprintf(k.addr, sizeof(k.addr), "a:%s", req->ri->remote_addr);
	if ((status = login_limit_check(req, &k)) != 0)
		goto out;
	if ((db = req_db(req)) == NULL) {
		status = http_reply_problem(req, 503, PT_UNAVAILABLE,
		    "Service unavailable", "the registry could not be opened");
		goto out;
	}
	rc = portal_user_authenticate(&u, db, jn->valuestring, jp->valuestring,
	    strlen(jp->valuestring), err, sizeof(err));
	if (rc == PORTAL_E_AUTH || rc == PORTAL_E_DISABLED) {
		status = login_refuse(req, &k, jn->valuestring, rc);
	} else if (rc != PORTAL_OK) {
		http_count_db_error(req);
		status = http_reply_problem(req, 503, PT_UNAVAILABLE,
		    "Service unavailable", "the user store could not be read");
	} else {
		/* Only the pair: a sign-in to one account must not wipe the
		 * address's record of guessing at others. */
		portal_ratelimit_reset(rl_pair, k.pair);
		status = login_session_start(req, db, &u);
	}
out:
	jp = cJSON_GetObjectItemCaseSensitive(body, "password");
	if (cJSON_IsString(jp))
		OPENSSL_cleanse(jp->valuestring, strlen(jp->valuestring));
	cJSON_Delete(body);
	return status;
}

int route_portal_logout(http_req_t *req)
{
	static const char clear[] =
	    "Set-Cookie: " PORTAL_COOKIE "=; Path=/; "
	    "Max-Age=0; Secure; HttpOnly; SameSite=Strict\r\n";
	static const char ok[] = "{\"signed_out\":true}";
	char tok[PORTAL_TOKEN_HEX + 8], err[256];
	reg_t *db;
	int rc;

	if (!req->via_session || cookie_token(tok, sizeof(tok), req) != 0)
		return http_reply_problem(req, 409, PT_BAD_STATE,
		    "No portal session",
		    "you are identified by a client certificate, not a session");
	db = req_db(req);
	rc = db != NULL ? portal_session_delete(db, tok, err, sizeof(err)) :
	                  PORTAL_E_DB;
	OPENSSL_cleanse(tok, sizeof(tok));
	if (rc != PORTAL_OK) {
		http_count_db_error(req);
		return http_reply_problem(req, 503, PT_UNAVAILABLE,
		    "Service unavailable", "the session could not be ended");
	}
	audit(req, req->principal.name, "portal.logout",
	    req->principal.name + strlen("portal:"), NULL);
	return http_reply_bytes(req, 200, "application/json", clear, ok,
	    sizeof(ok) - 1);
}

int route_portal_me(http_req_t *req)
{
	portal_session_t s;
	cJSON *doc, *u;
	int rc, status;

	if (req->via_session) {
		rc = req_session(&s, req);
		if (rc != 1)
			return http_reply_problem(req, 401, PT_UNAUTHENTICATED,
			    "Session ended", "sign in again");
		status = reply_session(req, &s, NULL);
		OPENSSL_cleanse(&s, sizeof(s));
		return status;
	}
	/* A client certificate: same shape, no CSRF token (none is needed). */
	doc = cJSON_CreateObject();
	u = doc != NULL ? cJSON_AddObjectToObject(doc, "user") : NULL;
	if (u == NULL ||
	    cJSON_AddStringToObject(u, "name", req->principal.name) == NULL ||
	    cJSON_AddStringToObject(u, "role",
	        req->principal.role == HTTP_ROLE_ADMIN ?
	            "admin" :
	            "manufacturer") == NULL ||
	    (req->principal.role == HTTP_ROLE_MANUFACTURER ?
	            cJSON_AddStringToObject(u, "manufacturer_id",
	                req->principal.manufacturer_id) :
	            cJSON_AddNullToObject(u, "manufacturer_id")) == NULL) {
		cJSON_Delete(doc);
		return http_reply_problem(req, 500, PT_INTERNAL,
		    "Internal error",
		    "out of memory while rendering the response");
	}
	status = http_reply_json(req, 200, doc);
	cJSON_Delete(doc);
	return status;
}
