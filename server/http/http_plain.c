/* http_plain.c — the read-only plain-HTTP listener RFC 5280 asks for
 * (4.2.1.13, 4.2.2.1: CRL distribution points and AIA URLs are http or
 * ldap): a second CivetWeb context, no TLS, with its own small route table
 * serving only the CRLs, the CA certificates and the OCSP responder (GET
 * and POST). No principal is identified here and nothing else of the
 * HTTPS service is reachable: a path outside the table is 404. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <civetweb.h>

#include "http_api.h"
#include "http_int.h"

/* Worker threads (each holds one open connection) of the plain listener:
 * relying parties fetch a CRL or ask OCSP and leave. */
#define PLAIN_THREADS "32"

/* The route for (method, path); *path_known tells whether the path has a
 * route under another method. NULL when none; req->params are the
 * returned route's captures (it is the last one matched). */
static const http_route_t *plain_route_find(http_req_t *req, int *path_known)
{
	const char *method = req->method;
	const http_route_t *rt;

	*path_known = 0;
	if (strcmp(method, "HEAD") == 0)
		method = "GET";
	for (rt = http_plain_routes; rt->method != NULL; rt++) {
		if (!http_route_match(req, rt, req->path))
			continue;
		if (strcmp(rt->method, method) == 0)
			return rt;
		*path_known = 1;
	}
	return NULL;
}

/* CivetWeb handler of the plain listener: match, read a POST body, run
 * the handler, log. */
static int plain_dispatch(struct mg_connection *conn, void *cbdata)
{
	const http_route_t *rt;
	http_req_t *req;
	struct timespec t0;
	int known = 0;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	if ((req = http_req_new(conn, cbdata)) == NULL)
		return 500;
	req->plain = 1;
	rt = plain_route_find(req, &known);
	if (rt == NULL && known)
		http_reply_problem_ex(req, 405, PT_METHOD, "Method not allowed",
		    "this resource does not support the method",
		    strcmp(req->path, CA_URL_PATH_OCSP) == 0 ?
		        "Allow: POST\r\n" :
		        "Allow: GET\r\n");
	else if (rt == NULL)
		http_reply_problem(req, 404, PT_NOT_FOUND, "Not found",
		    "this listener serves only CRLs, CA certificates and OCSP");
	else if (!(rt->flags & HTTP_ROUTE_BODY) || http_body_read(req) == 0) {
		/* Held for the handler only; http_req_finish gives it back
		 * before writing the answer (the rule: http_dispatch.c). */
		http_req_reg_hold(req);
		rt->handler(req);
	}
	if (req->status == 0)
		http_reply_problem(req, 500, PT_INTERNAL, "Internal error",
		    NULL);
	return http_req_finish(req, &t0, NULL);
}

static void *plain_init_thread(const struct mg_context *ctx, int thread_type)
{
	(void)ctx;
	return thread_type == 1 ? calloc(1, sizeof(http_thread_t)) : NULL;
}

static void plain_exit_thread(const struct mg_context *ctx, int thread_type,
    void *thread_pointer)
{
	(void)ctx;
	if (thread_type == 1)
		free(thread_pointer);
}

static int plain_log_message(const struct mg_connection *conn,
    const char *message)
{
	(void)conn;
	fprintf(stderr, "ca-server: civetweb (plain HTTP): %s\n", message);
	return 1;
}

/* No .htpasswd lookups: nothing here needs authorisation. */
static int plain_authorize(struct mg_connection *conn, void *cbdata)
{
	(void)conn;
	(void)cbdata;
	return 1;
}

int http_plain_start(http_server *srv, const char *listen_opt, int *port,
    char *err, size_t errlen)
{
	struct mg_callbacks cb;
	struct mg_server_port ports[2];
	char keepalive[16];
	const char *options[24];
	int k = 0;

	snprintf(keepalive, sizeof(keepalive), "%d",
	    srv->cfg->keep_alive_timeout_ms);
	options[k++] = "listening_ports";
	options[k++] = listen_opt;
	options[k++] = "num_threads";
	options[k++] = PLAIN_THREADS;
	options[k++] = "tcp_nodelay";
	options[k++] = "1";
	options[k++] = "enable_keep_alive";
	options[k++] = "yes";
	options[k++] = "keep_alive_timeout_ms";
	options[k++] = keepalive;
	options[k++] = "request_timeout_ms";
	options[k++] = "10000";
	options[k++] = "max_request_size";
	options[k++] = "16384";
	options[k++] = "enable_directory_listing";
	options[k++] = "no";
	options[k] = NULL;
	memset(&cb, 0, sizeof(cb));
	cb.init_thread = plain_init_thread;
	cb.exit_thread = plain_exit_thread;
	cb.log_message = plain_log_message;
	srv->plain_ctx = mg_start(&cb, srv, options);
	if (srv->plain_ctx == NULL) {
		snprintf(err, errlen, "cannot start plain HTTP on %s",
		    listen_opt);
		return -1;
	}
	mg_set_auth_handler(srv->plain_ctx, "**", plain_authorize, NULL);
	mg_set_request_handler(srv->plain_ctx, "**", plain_dispatch, srv);
	memset(ports, 0, sizeof(ports));
	if (mg_get_server_ports(srv->plain_ctx, 2, ports) < 1) {
		mg_stop(srv->plain_ctx);
		srv->plain_ctx = NULL;
		snprintf(err, errlen, "plain HTTP: no listening port");
		return -1;
	}
	*port = ports[0].port;
	return 0;
}
