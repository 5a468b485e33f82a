/* http_int.h — what the files of the HTTP service share among themselves:
 * the server object, the registry connection pool, the route tables and
 * the helpers the handlers use. Not for other modules. */
#ifndef PROVCA_HTTP_INT_H
#define PROVCA_HTTP_INT_H

#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
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

/* Registry connections shared by the workers (one is checked out for each
 * request that touches the registry): bounds memory and descriptors
 * however many connection threads there are. */
#define HTTP_REG_POOL_MAX CONFIG_DB_POOL_MAX

/* Principals of recently seen client certificates, shared by every
 * connection (so a new or resumed TLS connection need not query). */
#define HTTP_AUTH_CACHE_SLOTS 256

/* One pooled registry connection and the change stamp last read on it. */
typedef struct http_reg_slot {
	reg_t *reg;       /* NULL until first needed */
	int64_t stamp[2]; /* reg_change_stamp at the last check */
	int stamp_seen;   /* stamp holds a value */
} http_reg_slot_t;

/* A cached principal, valid only while the server's auth epoch is the
 * one it was read under (see http_auth.c). */
typedef struct {
	unsigned char fp[32]; /* SHA-256 of the certificate's DER */
	uint64_t epoch;
	int used;
	http_principal_t principal;
} http_auth_entry_t;

struct http_server {
	struct mg_context *ctx;
	struct mg_context
	    *plain_ctx; /* read-only plain-HTTP listener, or NULL */
	struct ca_ocsp_cache *ocsp_cache; /* signed OCSP answers (ca_ocsp.c) */
	ca_t *ca;               /* immutable, shared by every thread */
	const ca_config_t *cfg; /* ca's settings */
	char data_dir[PATH_MAX];
	char web_dir[PATH_MAX]; /* "" = no static files */
	FILE *access_log;       /* NULL = none */
	int access_log_owned;
	char tls_err[256]; /* why init_ssl failed, for the start error */
	char client_ca_file[PATH_MAX]; /* Infrastructure CA + Root (PEM) */
	struct http_connlimit
	    *connlimit; /* per-address limit, handshake timeout */

	const http_route_t *routes[HTTP_ROUTES_MAX];
	size_t nroutes;
	size_t unmatched_slot; /* metrics slot for requests matching no route */
	http_metrics_t metrics;

	/* The security context's members that are the same for every device,
	 * rendered by cJSON once (built on first use, then never changed). */
	_Atomic(struct http_ctx_parts *) ctx_parts;

	int shared_ready; /* the locks below are initialised */
	struct {
		pthread_mutex_t lock;
		pthread_cond_t freed;
		http_reg_slot_t slots[HTTP_REG_POOL_MAX];
		http_reg_slot_t *idle[HTTP_REG_POOL_MAX];
		size_t nidle; /* entries of idle[] */
		size_t nused; /* slots[] handed out at least once */
	} pool;
	/* Moves whenever any pooled connection sees that the registry changed
	 * (any commit, by any connection or process) since it last looked. */
	_Atomic uint64_t auth_epoch;
	struct {
		pthread_mutex_t lock;
		http_auth_entry_t e[HTTP_AUTH_CACHE_SLOTS];
	} auth_cache;
};

/* JSON text of a security context's constant members, as cJSON prints
 * them: the chain (a string) and the urls object. */
struct http_ctx_parts {
	char *chain_pem; /* the chain chain_json renders */
	char *chain_json;
	char *urls_json;
};

/* Free srv->ctx_parts (http_api_context.c); at shutdown, after mg_stop. */
void api_security_context_free(http_server *srv);

/* Route tables (http_routes.c): the API's, and the plain-HTTP
 * listener's. Each ends with an entry whose method is NULL. */
extern const http_route_t http_api_routes[];
extern const http_route_t http_plain_routes[];

/* 1 when path matches rt's pattern, with req->params filled from its
 * "{name}" captures (one path segment each); a prefix route matches what
 * comes before its first '{'. 0 otherwise (http_match.c). */
int http_route_match(http_req_t *req, const http_route_t *rt, const char *path);

/* Per worker thread state (CivetWeb init_thread/exit_thread). */
typedef struct {
	/* The principal of the connection this worker serves, from its client
	 * certificate (a connection stays on one worker for its life). Valid
	 * while CivetWeb's user connection data points at this struct (reset
	 * for every new connection), the peer certificate is the same and
	 * the auth epoch has not moved since it was read. */
	struct {
		const void *peer_cert;
		uint64_t epoch;
		int64_t not_before; /* peer_cert's validity period, read */
		int64_t not_after;  /* once per connection */
		http_principal_t principal;
	} auth;
} http_thread_t;

/* Take a pooled registry connection (opened on first use; its reg is
 * NULL when that failed), waiting up to 10 s for one to come back; NULL
 * when none did (counted as a database error). */
http_reg_slot_t *http_pool_take(http_server *srv);

/* Give slot back, ending any transaction left open on it. NULL-safe. */
void http_pool_give(http_server *srv, http_reg_slot_t *slot);

/* The request takes the pooled registry connection it works with /
 * gives it back (http_dispatch.c, which states when). */
void http_req_reg_hold(http_req_t *req);
void http_req_reg_release(http_req_t *req);

/* Write the answer the reply helpers rendered into req (or a bare 500 when
 * rendering failed), then wipe and free it. */
void http_reply_send(http_req_t *req);

/* Set up / tear down the registry pool and the principal cache's lock
 * (http_pool.c). */
int http_shared_init(http_server *srv);
void http_shared_free(http_server *srv);

/* The auth epoch for this request: checks the request's registry
 * connection's change stamp first (moving the epoch when it changed).
 * 0, or -1 on a registry error. */
int http_auth_epoch(uint64_t *out, http_req_t *req);

/* Resolve req's principal from its client certificate (req->conn). Returns
 * 1 found, 0 none (or disabled/revoked), negative on registry error. */
int http_auth_from_cert(http_principal_t *out, http_req_t *req);

/* Start the plain-HTTP listener on listen_opt (CivetWeb "host:port") with
 * its own route table: CRLs, CA certificates and OCSP, nothing else.
 * *port gets the bound port. 0, or -1 with err. */
int http_plain_start(http_server *srv, const char *listen_opt, int *port,
    char *err, size_t errlen);

/* A request for conn from its request info (heap: the struct is large);
 * NULL after answering 500 when out of memory. */
http_req_t *http_req_new(struct mg_connection *conn, void *cbdata);

/* The end of every request on either listener: count it in the metrics
 * (slot of the route, or no count when metrics_slot is NULL), write its
 * access-log line, give its registry connection back and free it. Returns
 * the status it was answered with. */
int http_req_finish(http_req_t *req, const struct timespec *t0,
    const size_t *metrics_slot);

/* Dispatch one request through the route tables (CivetWeb handler). */
int http_dispatch(struct mg_connection *conn, void *cbdata);

/* Serve a static file from srv->web_dir for GET/HEAD path; returns the
 * status sent (404 when no such file). */
int http_static_serve(http_req_t *req);

/* Read the request body (≤ cfg.body_limit) into req->body. Returns 0, or
 * the status of the problem already sent. */
int http_body_read(http_req_t *req);

/* Parse req->body as a JSON object; sends 415/400 and returns NULL when
 * it is not one, and 422 naming the field when a string holds \u0000. */
struct cJSON *http_json_body(http_req_t *req);

/* 1 when JSON text (already accepted by cJSON) has a string with a
 * \u0000 escape; field gets the member name it belongs to. 0 if none. */
int http_json_nul_find(char *field, size_t fieldlen, const char *text,
    size_t len);

/* http_reply_problem with extra header lines ("Name: value\r\n"). */
int http_reply_problem_ex(http_req_t *req, int status, const char *type_slug,
    const char *title, const char *detail, const char *extra_headers);

/* Print `ca-server routes`: one "METHOD PATTERN ROLES" line per route. */
void http_routes_print(FILE *f, const http_server *srv);

/* Register both tables into srv->routes (API first, then portal). */
int http_routes_collect(http_server *srv, char *err, size_t errlen);

#endif
