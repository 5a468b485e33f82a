/* http_dispatch.c — one request's path through the server: match the route
 * tables, identify the caller (certificate, then portal session), enforce
 * the route's roles and the portal's CSRF check, read the capped body, run
 * the handler, then write the access-log line and count the metrics. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <civetweb.h>
#include <openssl/crypto.h>

#include "http_int.h"

/* ---- registry connection pool ----------------------------------------- */

/* How long a request waits for a pooled connection before it is answered
 * 503: connections are held only while the server itself works (never
 * across reading a request body or writing an answer), so a wait this long
 * means overload. */
#define HTTP_REG_WAIT_S 10

/* A request takes one pooled connection when it needs the registry and
 * gives it back before any network I/O that a client paces (the body read,
 * the answer): identification, then the handler, each check one out. With
 * more requests than connections in flight, the next one waits (bounded)
 * for a connection to come back. A request never holds two, so waiting
 * cannot deadlock. NULL when none came back in time or it cannot open. */
struct reg *http_req_reg(http_req_t *req)
{
	http_thread_t *t = mg_get_thread_pointer(req->conn);
	http_server *srv = req->srv;
	http_reg_slot_t *slot = NULL;
	struct timespec until;
	char err[256];
	size_t max;

	if (t == NULL)
		return NULL;
	if (t->slot != NULL)
		return t->slot->reg;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += HTTP_REG_WAIT_S;
	/* config "db_pool" (1..HTTP_REG_POOL_MAX): what one node may hold of
	 * a PostgreSQL server's max_connections. */
	max = srv->cfg != NULL && srv->cfg->db_pool > 0 &&
	    srv->cfg->db_pool < HTTP_REG_POOL_MAX ? (size_t)srv->cfg->db_pool :
	    HTTP_REG_POOL_MAX;
	pthread_mutex_lock(&srv->pool.lock);
	while (srv->pool.nidle == 0 && srv->pool.nused >= max)
		if (pthread_cond_timedwait(&srv->pool.freed, &srv->pool.lock,
		    &until) != 0)
			break;
	if (srv->pool.nidle > 0)
		slot = srv->pool.idle[--srv->pool.nidle];
	else if (srv->pool.nused < max)
		slot = &srv->pool.slots[srv->pool.nused++];
	pthread_mutex_unlock(&srv->pool.lock);
	if (slot == NULL) {
		http_count_db_error(req);
		return NULL;
	}
	t->srv = srv;
	t->slot = slot;
	/* Opened on first use; a slot whose open failed stays empty and is
	 * tried again by the next request that takes it. */
	if (slot->reg == NULL) {
		slot->stamp_seen = 0;
		if (ca_reg_open(srv->ca, &slot->reg, err, sizeof(err)) != CA_OK) {
			slot->reg = NULL;
			http_count_db_error(req);
		}
	}
	return slot->reg;
}

void http_reg_release(http_thread_t *t)
{
	http_server *srv;

	if (t == NULL || t->slot == NULL)
		return;
	srv = t->srv;
	/* A connection goes back with no transaction open: a leaked one
	 * would pin its snapshot (and the auth epoch's change stamp). The
	 * read transaction of an HTTP_ROUTE_READ request ends here. */
	reg_read_end(t->slot->reg);
	if (t->slot->reg != NULL && reg_transaction_open(t->slot->reg)) {
		reg_rollback(t->slot->reg);
		atomic_fetch_add(&srv->metrics.db_errors, 1);
	}
	pthread_mutex_lock(&srv->pool.lock);
	srv->pool.idle[srv->pool.nidle++] = t->slot;
	pthread_cond_signal(&srv->pool.freed);
	pthread_mutex_unlock(&srv->pool.lock);
	t->slot = NULL;
}

void http_thread_close(http_thread_t *t)
{
	if (t == NULL)
		return;
	http_reg_release(t);
	free(t);
}

int http_shared_init(http_server *srv)
{
	if (pthread_mutex_init(&srv->pool.lock, NULL) != 0)
		return -1;
	if (pthread_cond_init(&srv->pool.freed, NULL) != 0) {
		pthread_mutex_destroy(&srv->pool.lock);
		return -1;
	}
	if (pthread_mutex_init(&srv->auth_cache.lock, NULL) != 0) {
		pthread_cond_destroy(&srv->pool.freed);
		pthread_mutex_destroy(&srv->pool.lock);
		return -1;
	}
	atomic_init(&srv->auth_epoch, 1);
	srv->shared_ready = 1;
	return 0;
}

/* After mg_stop: no worker is left, every slot is back. */
void http_shared_free(http_server *srv)
{
	size_t i;

	if (srv == NULL)
		return;
	api_security_context_free(srv);
	if (!srv->shared_ready)
		return;
	for (i = 0; i < srv->pool.nused; i++)
		reg_close(srv->pool.slots[i].reg);
	pthread_mutex_destroy(&srv->auth_cache.lock);
	pthread_cond_destroy(&srv->pool.freed);
	pthread_mutex_destroy(&srv->pool.lock);
	srv->shared_ready = 0;
}

/* ---- route matching --------------------------------------------------- */

/* Match path against pattern; on success fill req->params from the
 * "{name}" captures and return 1. */
static int route_match(http_req_t *req, const http_route_t *rt, const char *path)
{
	const char *p = rt->pattern, *s = path;
	char *store = req->param_buf;
	size_t left = sizeof(req->param_buf);

	req->nparams = 0;
	/* A prefix route's pattern may name the rest of the path
	 * ("/ocsp/{request}"): only what comes before the '{' is matched. */
	if (rt->flags & HTTP_ROUTE_PREFIX)
		return strncmp(path, rt->pattern, strcspn(rt->pattern, "{")) == 0;
	while (*p != '\0') {
		if (*p == '{') {
			const char *close = strchr(p, '}');
			size_t n = strcspn(s, "/");

			if (close == NULL || n == 0 || n >= left ||
			    req->nparams >= HTTP_MAX_PARAMS)
				return 0;
			memcpy(store, s, n);
			store[n] = '\0';
			req->params[req->nparams++] = store;
			store += n + 1;
			left -= n + 1;
			s += n;
			p = close + 1;
			continue;
		}
		if (*p != *s)
			return 0;
		p++;
		s++;
	}
	return *s == '\0';
}

/* ---- body ------------------------------------------------------------- */

int http_body_read(http_req_t *req)
{
	size_t cap = req->srv->cfg->body_limit;
	long long declared = req->ri->content_length;
	size_t len = 0, alloc;
	char *buf;
	int n;

	if (declared > 0 && (unsigned long long)declared > cap)
		return http_reply_problem(req, 413, PT_BODY_TOO_LARGE,
		                          "Request body too large",
		                          "the body exceeds the server's body_limit");
	alloc = declared > 0 ? (size_t)declared + 1 : 4096;
	buf = malloc(alloc);
	if (buf == NULL)
		return http_reply_problem(req, 500, PT_INTERNAL, "Internal error",
		                          "out of memory");
	/* Chunked bodies have no declared length: read until the end, but
	 * never past cap + 1 bytes. */
	for (;;) {
		if (len + 1 >= alloc) {
			size_t nalloc = alloc * 2;
			char *nb;

			if (nalloc > cap + 2)
				nalloc = cap + 2;
			if (nalloc <= alloc) {
				free(buf);
				return http_reply_problem(req, 413, PT_BODY_TOO_LARGE,
				                          "Request body too large",
				                          "the body exceeds the server's body_limit");
			}
			nb = realloc(buf, nalloc);
			if (nb == NULL) {
				free(buf);
				return http_reply_problem(req, 500, PT_INTERNAL,
				                          "Internal error", "out of memory");
			}
			buf = nb;
			alloc = nalloc;
		}
		n = mg_read(req->conn, buf + len, alloc - 1 - len);
		if (n < 0) {
			free(buf);
			return http_reply_problem(req, 400, PT_INVALID, "Bad request",
			                          "the request body could not be read");
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len > cap) {
			free(buf);
			return http_reply_problem(req, 413, PT_BODY_TOO_LARGE,
			                          "Request body too large",
			                          "the body exceeds the server's body_limit");
		}
	}
	buf[len] = '\0';
	req->body = buf;
	req->body_len = len;
	return 0;
}

cJSON *http_json_body(http_req_t *req)
{
	const char *ct = http_header(req, "Content-Type");
	const char *end = NULL;
	char field[72], detail[160];
	cJSON *doc;

	if (ct == NULL || strncmp(ct, "application/json", 16) != 0 ||
	    (ct[16] != '\0' && ct[16] != ';' && ct[16] != ' ')) {
		http_reply_problem(req, 415, PT_MEDIA_TYPE, "Unsupported media type",
		                   "send the body as application/json");
		return NULL;
	}
	if (req->body == NULL || req->body_len == 0 ||
	    strlen(req->body) != req->body_len) {
		http_reply_problem(req, 400, PT_BAD_JSON, "Malformed JSON",
		                   "the body is empty or contains NUL bytes");
		return NULL;
	}
	/* cJSON's require_null_terminated misfires when the length ends
	 * exactly at the text's end; check for trailing bytes ourselves. */
	doc = cJSON_ParseWithLengthOpts(req->body, req->body_len, &end, 0);
	while (doc != NULL && end < req->body + req->body_len &&
	       (*end == ' ' || *end == '\t' || *end == '\r' || *end == '\n'))
		end++;
	if (doc != NULL && end != req->body + req->body_len) {
		cJSON_Delete(doc);
		doc = NULL;
	}
	if (doc == NULL) {
		http_reply_problem(req, 400, PT_BAD_JSON, "Malformed JSON",
		                   "the body is not valid JSON");
		return NULL;
	}
	if (!cJSON_IsObject(doc) && !cJSON_IsArray(doc)) {
		cJSON_Delete(doc);
		http_reply_problem(req, 400, PT_BAD_JSON, "Malformed JSON",
		                   "the body must be a JSON object");
		return NULL;
	}
	/* cJSON keeps strings NUL-terminated: "m\u0000<script>" would be
	 * read as "m" by every handler. Refuse it for every route here. */
	if (http_json_nul_find(field, sizeof(field), req->body, req->body_len)) {
		cJSON_Delete(doc);
		snprintf(detail, sizeof(detail), "field \"%s\" contains a NUL "
		         "character (\\u0000)", field);
		http_reply_problem(req, 422, "invalid-field", "Invalid field", detail);
		return NULL;
	}
	return doc;
}

/* ---- access log ------------------------------------------------------- */

/* Copy s into out with anything outside printable ASCII escaped, so a path
 * cannot forge log lines. */
static void log_clean(char *out, size_t outlen, const char *s)
{
	size_t o = 0;

	for (; s != NULL && *s != '\0' && o + 5 < outlen; s++) {
		unsigned char c = (unsigned char)*s;

		if (c < 0x21 || c > 0x7e || c == '"' || c == '\\')
			o += (size_t)snprintf(out + o, outlen - o, "\\x%02x", c);
		else
			out[o++] = (char)c;
	}
	out[o] = '\0';
}

/* The access log's second-resolution timestamp, formatted once per second
 * per thread. */
static const char *log_when(time_t sec)
{
	static _Thread_local time_t last = -1;
	static _Thread_local char text[40];
	struct tm tm;

	if (sec != last) {
		gmtime_r(&sec, &tm);
		strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%S", &tm);
		last = sec;
	}
	return text;
}

/* One line per request, written with one write(2) (O_APPEND file or
 * stderr: lines from concurrent workers do not interleave), not through
 * stdio's per-stream lock. */
void http_access_log(http_req_t *req, uint64_t micros)
{
	FILE *f = req->srv->access_log;
	char path[600], who[HTTP_NAME_MAX * 4], line[1024];
	struct timespec now;
	size_t off = 0;
	ssize_t w;
	int n;

	if (f == NULL)
		return;
	clock_gettime(CLOCK_REALTIME, &now);
	log_clean(path, sizeof(path), req->path);
	log_clean(who, sizeof(who), req->authenticated ? req->principal.name : "-");
	n = snprintf(line, sizeof(line), "%s.%03ldZ %s%s %s \"%s\" %d %llu.%03llums\n",
	             log_when(now.tv_sec), now.tv_nsec / 1000000L, who,
	             req->via_session ? "(session)" : "", req->method, path,
	             req->status, (unsigned long long)(micros / 1000),
	             (unsigned long long)(micros % 1000));
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(line)) { /* cut, but still one line */
		n = (int)sizeof(line) - 1;
		line[n - 1] = '\n';
	}
	while (off < (size_t)n) {
		w = write(fileno(f), line + off, (size_t)n - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break;
		off += (size_t)w;
	}
}

/* ---- dispatch --------------------------------------------------------- */

static int method_is_safe(const char *m)
{
	return strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0 ||
	       strcmp(m, "OPTIONS") == 0;
}

/* 1 if a browser marks req as sent from another site. A browser that holds
 * a client certificate presents it on cross-site requests too, so the
 * certificate is as ambient as a cookie; the CSRF token covers sessions
 * only. Non-browser clients send neither header and are not affected. */
static int request_cross_site(const http_req_t *req)
{
	const char *site = http_header(req, "Sec-Fetch-Site");
	const char *origin = http_header(req, "Origin");
	const char *host = http_header(req, "Host");

	if (site != NULL && strcmp(site, "same-origin") != 0 &&
	    strcmp(site, "none") != 0)
		return 1;
	if (origin != NULL && (strncmp(origin, "https://", 8) != 0 ||
	    host == NULL || strcasecmp(origin + 8, host) != 0))
		return 1;
	return 0;
}

/* Find the route for req; returns its index or -1. *path_known tells
 * whether some route has this path with another method, and allow gets the
 * methods that would match. */
static long route_find(http_req_t *req, int *path_known, char *allow,
                       size_t allowlen)
{
	const http_server *srv = req->srv;
	const char *m = req->method;
	size_t i;

	*path_known = 0;
	allow[0] = '\0';
	if (strcmp(m, "HEAD") == 0)
		m = "GET";
	for (i = 0; i < srv->nroutes; i++) {
		const http_route_t *rt = srv->routes[i];

		if (!route_match(req, rt, req->path))
			continue;
		if (strcmp(rt->method, m) == 0)
			return (long)i;
		*path_known = 1;
		if (strstr(allow, rt->method) == NULL) {
			size_t used = strlen(allow);
			snprintf(allow + used, allowlen - used, "%s%s",
			         used ? ", " : "", rt->method);
		}
	}
	return -1;
}

/* Identify the caller; returns 0, or the status of an error reply. */
static int identify(http_req_t *req)
{
	int rc = http_auth_from_cert(&req->principal, req);

	if (rc < 0)
		return http_reply_problem(req, 503, PT_UNAVAILABLE,
		                          "Service unavailable",
		                          "the registry could not be read");
	if (rc == 1) {
		req->authenticated = 1;
		return 0;
	}
	/* The session lookup writes (last_seen, an expired session's
	 * removal): never inside the snapshot a reader's stamp read left
	 * open, where it fails with SQLITE_BUSY_SNAPSHOT as soon as another
	 * connection has committed. The reader's later reads then begin
	 * their own transactions. */
	if (req->read_txn) {
		http_thread_t *t = mg_get_thread_pointer(req->conn);

		if (t != NULL && t->slot != NULL)
			reg_read_end(t->slot->reg);
	}
	rc = http_session_principal(&req->principal, req);
	if (rc < 0)
		return http_reply_problem(req, 503, PT_UNAVAILABLE,
		                          "Service unavailable",
		                          "the session store could not be read");
	if (rc == 1) {
		req->authenticated = 1;
		req->via_session = 1;
	} else {
		memset(&req->principal, 0, sizeof(req->principal));
	}
	return 0;
}

/* Identify the caller again (after a body read); 0 if it is the same
 * principal with the same role, else the status of the problem sent. */
static int reidentify(http_req_t *req)
{
	http_principal_t before = req->principal;
	int via = req->via_session, status;

	req->authenticated = 0;
	req->via_session = 0;
	status = identify(req);
	http_reg_release(mg_get_thread_pointer(req->conn));
	if (status != 0)
		return status;
	if (!req->authenticated || req->via_session != via ||
	    req->principal.id != before.id ||
	    req->principal.role != before.role)
		return http_reply_problem(req, 401, PT_UNAUTHENTICATED,
		                          "Authentication required",
		                          "the client's credentials were withdrawn "
		                          "while the request was being received");
	return 0;
}

/* 1 if req is a reader whose caller the route lets in: it keeps the
 * pooled connection from identification to its handler. */
static int reader_allowed(const http_req_t *req, const http_route_t *rt)
{
	if (!req->read_txn)
		return 0;
	if (rt->roles == HTTP_ROLE_NONE)
		return 1;
	return req->authenticated && (req->principal.role & rt->roles) != 0;
}

void http_req_done_reading(http_req_t *req)
{
	http_reg_release(mg_get_thread_pointer(req->conn));
}

uint64_t http_elapsed_us(const struct timespec *t0)
{
	struct timespec t1;
	int64_t us;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	us = (int64_t)(t1.tv_sec - t0->tv_sec) * 1000000 +
	     (t1.tv_nsec - t0->tv_nsec) / 1000;
	return us < 0 ? 0 : (uint64_t)us;
}

http_req_t *http_req_new(struct mg_connection *conn, void *cbdata)
{
	/* The request struct is large (captures buffer): keep it off the
	 * worker's stack. */
	http_req_t *req = calloc(1, sizeof(*req));

	if (req == NULL) {
		mg_send_http_error(conn, 500, "out of memory");
		return NULL;
	}
	req->conn = conn;
	req->ri = mg_get_request_info(conn);
	req->srv = cbdata;
	req->method = req->ri->request_method;
	req->path = req->ri->local_uri;
	req->query = req->ri->query_string;
	return req;
}

int http_dispatch(struct mg_connection *conn, void *cbdata)
{
	http_req_t *req;
	struct timespec t0;
	char allow[128], allow_hdr[160];
	int path_known = 0, status;
	long ri_idx;
	size_t slot;
	const http_route_t *rt = NULL;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	if ((req = http_req_new(conn, cbdata)) == NULL)
		return 500;
	atomic_fetch_add(&req->srv->metrics.in_flight, 1);

	/* Matching reads nothing but the path; known first so that a
	 * reader's identification can open the transaction it reads in. */
	ri_idx = route_find(req, &path_known, allow, sizeof(allow));
	rt = ri_idx >= 0 ? req->srv->routes[ri_idx] : NULL;
	req->read_txn = rt != NULL && (rt->flags & HTTP_ROUTE_READ) &&
	                method_is_safe(req->method);
	status = identify(req);
	/* The pooled connection goes back before anything a client paces;
	 * a reader allowed in keeps it (and its snapshot) for the handler,
	 * which gives it back before answering. */
	if (status != 0 || !reader_allowed(req, rt))
		http_reg_release(mg_get_thread_pointer(conn));
	if (status != 0)
		goto done_unmatched;

	if (ri_idx < 0) {
		if (path_known) {
			snprintf(allow_hdr, sizeof(allow_hdr), "Allow: %s\r\n", allow);
			http_reply_problem_ex(req, 405, PT_METHOD, "Method not allowed",
			                      "this resource does not support the method",
			                      allow_hdr);
		} else if (method_is_safe(req->method) && strcmp(req->method, "OPTIONS") != 0) {
			http_static_serve(req);
		} else {
			http_reply_problem(req, 404, PT_NOT_FOUND, "Not found",
			                   "no such resource");
		}
		goto done_unmatched;
	}
	/* route_find may have matched other patterns after this one; match
	 * again so params come from the chosen route. */
	route_match(req, rt, req->path);

	if (rt->roles != HTTP_ROLE_NONE) {
		if (!req->authenticated) {
			http_reply_problem(req, 401, PT_UNAUTHENTICATED,
			                   "Authentication required",
			                   "present a client certificate issued by the Infrastructure CA for a registered principal");
			goto done;
		}
		if ((req->principal.role & rt->roles) == 0) {
			http_reply_problem(req, 403, PT_FORBIDDEN, "Forbidden",
			                   "your role may not use this resource");
			goto done;
		}
	}
	if (!method_is_safe(req->method) && request_cross_site(req)) {
		http_reply_problem(req, 403, PT_CSRF, "Cross-site request refused",
		                   "state changes are accepted only from this server's own pages");
		goto done;
	}
	if (req->via_session && !method_is_safe(req->method) &&
	    http_session_csrf_ok(req) != 1) {
		http_reply_problem(req, 403, PT_CSRF, "CSRF token missing or invalid",
		                   "session requests that change state need the session's CSRF token");
		goto done;
	}
	if ((rt->flags & HTTP_ROUTE_BODY) && http_body_read(req) != 0)
		goto done;
	/* A body may take long to arrive: whoever sent it must still be who
	 * they were, with the same role, once it is complete (a principal
	 * disabled or a certificate revoked meanwhile is refused). */
	if ((rt->flags & HTTP_ROUTE_BODY) && rt->roles != HTTP_ROLE_NONE &&
	    (status = reidentify(req)) != 0)
		goto done;
	rt->handler(req);
	if (req->status == 0) /* a handler that forgot to answer is a bug */
		http_reply_problem(req, 500, PT_INTERNAL, "Internal error", NULL);
done:
	slot = (size_t)ri_idx;
	goto count;
done_unmatched:
	slot = req->srv->unmatched_slot;
count:
	{
		uint64_t us = http_elapsed_us(&t0);
		http_metrics_observe(&req->srv->metrics, slot, req->status, us);
		http_access_log(req, us);
	}
	atomic_fetch_sub(&req->srv->metrics.in_flight, 1);
	http_reg_release(mg_get_thread_pointer(conn));
	status = req->status;
	if (req->body != NULL) {
		OPENSSL_cleanse(req->body, req->body_len);
		free(req->body);
	}
	free(req);
	return status;
}

/* ---- tables ----------------------------------------------------------- */

int http_routes_collect(http_server *srv, char *err, size_t errlen)
{
	const http_route_t *tables[2] = { http_api_routes, portal_routes };
	const char *labels[HTTP_ROUTES_MAX];
	size_t t, i;

	srv->nroutes = 0;
	for (t = 0; t < 2; t++) {
		for (i = 0; tables[t][i].method != NULL; i++) {
			const http_route_t *rt = &tables[t][i];

			if (srv->nroutes >= HTTP_ROUTES_MAX) {
				snprintf(err, errlen, "more than %d routes", HTTP_ROUTES_MAX);
				return -1;
			}
			if (rt->pattern == NULL || rt->pattern[0] != '/' || rt->handler == NULL) {
				snprintf(err, errlen, "route %zu of table %zu is malformed", i, t);
				return -1;
			}
			labels[srv->nroutes] = rt->pattern;
			srv->routes[srv->nroutes++] = rt;
		}
	}
	srv->unmatched_slot = http_metrics_init(&srv->metrics, labels, srv->nroutes);
	return 0;
}

static void roles_text(char *out, size_t outlen, unsigned roles)
{
	out[0] = '\0';
	if (roles == HTTP_ROLE_NONE) {
		snprintf(out, outlen, "public");
		return;
	}
	snprintf(out, outlen, "%s%s%s",
	         (roles & HTTP_ROLE_OPERATOR) ? "operator," : "",
	         (roles & HTTP_ROLE_MANUFACTURER) ? "manufacturer," : "",
	         (roles & HTTP_ROLE_ADMIN) ? "admin," : "");
	if (out[0] != '\0')
		out[strlen(out) - 1] = '\0';
}

void http_routes_print(FILE *f, const http_server *srv)
{
	char roles[64];
	size_t i;

	for (i = 0; i < srv->nroutes; i++) {
		roles_text(roles, sizeof(roles), srv->routes[i]->roles);
		fprintf(f, "%s %s %s\n", srv->routes[i]->method,
		        srv->routes[i]->pattern, roles);
	}
}
