/* http_int.h — what the files of the HTTP service share among themselves:
 * the server object, the thread-local registry connection, the handler
 * tables and the helpers the handlers use. Not for other modules. */
#ifndef PROVCA_HTTP_INT_H
#define PROVCA_HTTP_INT_H

#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <time.h>

#include "ca.h"
#include "config.h"
#include "reg.h"
#include "http.h"
#include "http_metrics.h"

#ifndef PATH_MAX
#define PATH_MAX 4096
#endif

/* Problem type slugs (https://provca.dev/problems/<slug>); stable, listed
 * in web/openapi.yaml. */
#define PT_UNAUTHENTICATED "unauthenticated"
#define PT_FORBIDDEN "forbidden"
#define PT_CSRF "csrf-token-invalid"
#define PT_NOT_FOUND "not-found"
#define PT_METHOD "method-not-allowed"
#define PT_BODY_TOO_LARGE "body-too-large"
#define PT_LENGTH_REQUIRED "length-required"
#define PT_MEDIA_TYPE "unsupported-media-type"
#define PT_BAD_JSON "malformed-json"
#define PT_INVALID "invalid-request"
#define PT_BAD_CSR "invalid-csr"
#define PT_CONFLICT "conflict"
#define PT_KEY_IN_USE "key-in-use"
#define PT_BAD_STATE "invalid-state"
#define PT_NOT_ACCEPTABLE "not-acceptable"
#define PT_INTERNAL "internal-error"
#define PT_UNAVAILABLE "service-unavailable"

/* Every route the server knows, both tables, in registration order. */
#define HTTP_ROUTES_MAX 80

struct http_server {
	struct mg_context *ctx;
	ca_t *ca;                  /* immutable, shared by every thread */
	const ca_config_t *cfg;    /* ca's settings */
	char data_dir[PATH_MAX];
	char web_dir[PATH_MAX];    /* "" = no static files */
	FILE *access_log;          /* NULL = none */
	int access_log_owned;
	char tls_err[256];         /* why init_ssl failed, for the start error */
	char client_ca_file[PATH_MAX]; /* Infrastructure CA + Root (PEM) */

	const http_route_t *routes[HTTP_ROUTES_MAX];
	size_t nroutes;
	size_t unmatched_slot;     /* metrics slot for requests matching no route */
	http_metrics_t metrics;

	char *chain_pem;           /* Device CA + Root, for /ca/chain.pem */
	size_t chain_pem_len;
};

/* Route tables defined by http_api.c. */
extern const http_route_t http_api_routes[];

/* Per worker thread state (CivetWeb init_thread/exit_thread). */
typedef struct {
	reg_t *reg;                /* opened lazily by http_req_reg() */
	/* The principal of the connection this worker serves, from its client
	 * certificate (a connection stays on one worker for its life). Valid
	 * while CivetWeb's user connection data points at this struct (reset
	 * for every new connection), the peer certificate is the same and
	 * the registry's change stamp has not moved since it was read. */
	struct {
		const void *peer_cert;
		const reg_t *reg;
		int64_t stamp[2];
		http_principal_t principal;
	} auth;
} http_thread_t;

/* Close the calling thread's registry connection (CivetWeb exit_thread). */
void http_thread_close(http_thread_t *t);

/* Resolve req's principal from its client certificate (req->conn). Returns
 * 1 found, 0 none (or disabled/revoked), negative on registry error. */
int http_auth_from_cert(http_principal_t *out, http_req_t *req);

/* Dispatch one request through the route tables (CivetWeb handler). */
int http_dispatch(struct mg_connection *conn, void *cbdata);

/* Serve a static file from srv->web_dir for GET/HEAD path; returns the
 * status sent (404 when no such file). */
int http_static_serve(http_req_t *req);

/* Read the request body (≤ cfg.body_limit) into req->body. Returns 0, or
 * the status of the problem already sent. */
int http_body_read(http_req_t *req);

/* Parse req->body as a JSON object; sends 415/400 and returns NULL when
 * it is not one. */
struct cJSON *http_json_body(http_req_t *req);

/* http_reply_problem with extra header lines ("Name: value\r\n"). */
int http_reply_problem_ex(http_req_t *req, int status, const char *type_slug,
                          const char *title, const char *detail,
                          const char *extra_headers);

/* Print `ca-server routes`: one "METHOD PATTERN ROLES" line per route. */
void http_routes_print(FILE *f, const http_server *srv);

/* Register both tables into srv->routes (API first, then portal). */
int http_routes_collect(http_server *srv, char *err, size_t errlen);

#endif
