/* http_dispatch.c — one request's path through the server: match the route
 * tables, hold a pooled registry connection, identify the caller
 * (certificate, then portal session), enforce the route's roles and the
 * portal's CSRF check, read the capped body, run the handler, give the
 * connection back, write the answer, then the access-log line and the
 * metrics. The one place the registry connection's hold rule lives. */
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

/* ---- the registry connection's hold ---------------------------------- */

/* The one place a request takes and gives back its pooled registry
 * connection (http_pool.c). It is held while the server itself works:
 * identification, then the handler (which reaches it through
 * http_req_reg). It goes back before every wait a client paces: before the
 * body is read, and before the answer is written (http_req_finish) — a
 * client that sends or reads slowly must not keep a connection the other
 * workers wait for. A reader's read transaction (HTTP_ROUTE_READ) spans
 * identification and handler and ends when the connection goes back. */
void http_req_reg_hold(http_req_t *req)
{
	if (req->slot == NULL)
		req->slot = http_pool_take(req->srv);
}

void http_req_reg_release(http_req_t *req)
{
	http_pool_give(req->srv, req->slot);
	req->slot = NULL;
}

/* ---- route matching --------------------------------------------------- */

/* ---- access log ------------------------------------------------------- */

/* Copy s into out with anything outside printable ASCII escaped, so a path
 * cannot forge log lines. */
static void log_clean(char *out, size_t outlen, const char *s)
{
	size_t o = 0;

	for (; s != NULL && *s != '\0' && o + 5 < outlen; s++) {
		unsigned char c = (unsigned char)*s;

		if (c < 0x21 || c > 0x7e || c == '"' || c == '\\')
			o +=
			    (size_t)snprintf(out + o, outlen - o, "\\x%02x", c);
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
static void access_log_write(http_req_t *req, uint64_t micros)
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
	log_clean(who, sizeof(who),
	    req->authenticated ? req->principal.name : "-");
	n = snprintf(line, sizeof(line),
	    "%s.%03ldZ %s%s %s \"%s\" %d %llu.%03llums\n", log_when(now.tv_sec),
	    now.tv_nsec / 1000000L, who, req->via_session ? "(session)" : "",
	    req->method, path, req->status, (unsigned long long)(micros / 1000),
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
	if (origin != NULL &&
	    (strncmp(origin, "https://", 8) != 0 || host == NULL ||
	        strcasecmp(origin + 8, host) != 0))
		return 1;
	return 0;
}

/* Find the route for req; returns its index or -1. *path_known tells
 * whether some route has this path with another method, and allow gets the
 * methods that would match. */
static long table_find(http_req_t *req, int *path_known, char *allow,
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

		if (!http_route_match(req, rt, req->path))
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
		    "Service unavailable", "the registry could not be read");
	if (rc == 1) {
		req->authenticated = 1;
		return 0;
	}
	/* The session lookup writes (last_seen, an expired session's
	 * removal): never inside the snapshot a reader's stamp read left
	 * open, where it fails with SQLITE_BUSY_SNAPSHOT as soon as another
	 * connection has committed. The reader's later reads then begin
	 * their own transactions. */
	if (req->read_txn)
		reg_read_end(http_req_reg(req));
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

/* Microseconds since t0 (CLOCK_MONOTONIC), for access logs and metrics. */
static uint64_t elapsed_us(const struct timespec *t0)
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

int http_req_finish(http_req_t *req, const struct timespec *t0,
    const size_t *metrics_slot)
{
	uint64_t us;
	int status = req->status;

	/* The registry connection goes back before the answer is written:
	 * a client that reads slowly must not hold a connection the other
	 * workers wait for (the hold rule at the top of this file). */
	http_req_reg_release(req);
	http_reply_send(req);
	us = elapsed_us(t0);
	if (metrics_slot != NULL)
		http_metrics_observe(&req->srv->metrics, *metrics_slot, status,
		    us);
	access_log_write(req, us);
	if (req->body != NULL) {
		OPENSSL_cleanse(req->body, req->body_len);
		free(req->body);
	}
	free(req);
	return status;
}

/* Answer a request no route matched: 405 with Allow when its path has
 * routes under other methods, a static file for GET and HEAD, else 404. */
static void unmatched_answer(http_req_t *req, int path_known, const char *allow)
{
	char allow_hdr[160];

	if (path_known) {
		snprintf(allow_hdr, sizeof(allow_hdr), "Allow: %s\r\n", allow);
		http_reply_problem_ex(req, 405, PT_METHOD, "Method not allowed",
		    "this resource does not support the method", allow_hdr);
	} else if (method_is_safe(req->method) &&
	    strcmp(req->method, "OPTIONS") != 0) {
		http_static_serve(req);
	} else {
		http_reply_problem(req, 404, PT_NOT_FOUND, "Not found",
		    "no such resource");
	}
}

/* The route's gate for an identified caller: its roles, then the
 * cross-site and CSRF checks of a state change. 0 to go on, or the status
 * of the problem sent. */
static int access_check(http_req_t *req, const http_route_t *rt)
{
	if (rt->roles != HTTP_ROLE_NONE && !req->authenticated)
		return http_reply_problem(req, 401, PT_UNAUTHENTICATED,
		    "Authentication required",
		    "present a client certificate issued by the Infrastructure CA for a registered principal");
	if (rt->roles != HTTP_ROLE_NONE &&
	    (req->principal.role & rt->roles) == 0)
		return http_reply_problem(req, 403, PT_FORBIDDEN, "Forbidden",
		    "your role may not use this resource");
	if (!method_is_safe(req->method) && request_cross_site(req))
		return http_reply_problem(req, 403, PT_CSRF,
		    "Cross-site request refused",
		    "state changes are accepted only from this server's own pages");
	if (req->via_session && !method_is_safe(req->method) &&
	    http_session_csrf_ok(req) != 1)
		return http_reply_problem(req, 403, PT_CSRF,
		    "CSRF token missing or invalid",
		    "session requests that change state need the session's CSRF token");
	return 0;
}

/* Read the route's body with the registry connection given back (the
 * client paces it), then take one again. A body may take long to arrive:
 * whoever sent it must still be who they were, with the same role, once it
 * is complete (a principal disabled or a certificate revoked meanwhile is
 * refused). 0, or the status of the problem sent. */
static int body_take(http_req_t *req, const http_route_t *rt)
{
	int status;

	http_req_reg_release(req);
	if ((status = http_body_read(req)) != 0)
		return status;
	http_req_reg_hold(req);
	if (rt->roles != HTTP_ROLE_NONE)
		return reidentify(req);
	return 0;
}

/* Run route rt for an identified caller: gate, body, handler. */
static void matched_run(http_req_t *req, const http_route_t *rt)
{
	/* table_find may have matched other patterns after this one; match
	 * again so params come from the chosen route. */
	http_route_match(req, rt, req->path);
	if (access_check(req, rt) != 0)
		return;
	if ((rt->flags & HTTP_ROUTE_BODY) && body_take(req, rt) != 0)
		return;
	rt->handler(req);
	if (req->status == 0) /* a handler that forgot to answer is a bug */
		http_reply_problem(req, 500, PT_INTERNAL, "Internal error",
		    NULL);
}

int http_dispatch(struct mg_connection *conn, void *cbdata)
{
	const http_route_t *rt;
	http_server *srv;
	http_req_t *req;
	struct timespec t0;
	char allow[128];
	int path_known = 0, identified;
	long ri_idx;
	size_t slot;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	if ((req = http_req_new(conn, cbdata)) == NULL)
		return 500;
	srv = req->srv;
	atomic_fetch_add(&srv->metrics.in_flight, 1);

	/* Matching reads nothing but the path; known first so that a
	 * reader's identification can open the transaction it reads in. */
	ri_idx = table_find(req, &path_known, allow, sizeof(allow));
	rt = ri_idx >= 0 ? srv->routes[ri_idx] : NULL;
	req->read_txn = rt != NULL && (rt->flags & HTTP_ROUTE_READ) &&
	    method_is_safe(req->method);
	http_req_reg_hold(req); /* identification reads the registry */
	identified = identify(req) == 0;
	if (identified && rt != NULL) {
		matched_run(req, rt);
	} else if (identified) {
		http_req_reg_release(req); /* static files and 404s need none */
		unmatched_answer(req, path_known, allow);
	}
	slot = identified && rt != NULL ? (size_t)ri_idx : srv->unmatched_slot;
	atomic_fetch_sub(&srv->metrics.in_flight, 1);
	return http_req_finish(req, &t0, &slot);
}
