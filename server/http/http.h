/* http.h — ca-server's HTTPS service: the route table, the per-request
 * context handlers receive, the helpers they answer with, and the two
 * extension points the browser portal fills in (portal_routes[] and the
 * session hooks). */
#ifndef PROVCA_HTTP_H
#define PROVCA_HTTP_H

#include <stddef.h>
#include <stdint.h>

struct mg_connection;
struct mg_request_info;
struct cJSON;
struct reg;
struct http_reg_slot;

/* Roles are bits so a route can accept several. */
enum {
	HTTP_ROLE_NONE = 0, /* public route: no principal needed */
	HTTP_ROLE_OPERATOR = 1u << 0,
	HTTP_ROLE_MANUFACTURER = 1u << 1,
	HTTP_ROLE_ADMIN = 1u << 2
};

/* Route flags. */
enum {
	HTTP_ROUTE_BODY = 1u
	    << 0, /* read the request body (capped) before the handler */
	HTTP_ROUTE_PREFIX = 1u
	    << 1, /* pattern matches any path that starts with it
	                                (up to a trailing "{name}", which takes the rest,
	                                slashes included) */
	/* A reader (GET, no body, never writes the registry): identification
	 * and the handler share one pooled connection and one read
	 * transaction, opened by the change-stamp read; it ends when the
	 * dispatcher gives the connection back, before the answer is written. */
	HTTP_ROUTE_READ = 1u << 2
};

#define HTTP_NAME_MAX 128
#define HTTP_MFR_MAX 65
#define HTTP_MAX_PARAMS 4

/* Who is calling. Filled from the client certificate or a portal session. */
typedef struct {
	int64_t id;               /* registry principal id */
	char name[HTTP_NAME_MAX]; /* principal name, for logs and audit */
	unsigned role;            /* exactly one HTTP_ROLE_* bit */
	char manufacturer_id[HTTP_MFR_MAX]; /* set for role manufacturer */
} http_principal_t;

typedef struct http_server http_server;

/* One request as a handler sees it. Valid only during the call. */
typedef struct http_req {
	struct mg_connection *conn;
	const struct mg_request_info *ri;
	http_server *srv;
	const char *method;
	const char *path;  /* decoded path, no query string */
	const char *query; /* raw query string or NULL */
	const char *
	    params[HTTP_MAX_PARAMS]; /* {captures} from the pattern, in order */
	size_t nparams;
	char *body; /* NUL-terminated body (HTTP_ROUTE_BODY) */
	size_t body_len;
	int authenticated; /* a principal was found */
	int via_session;   /* ... and it came from a portal session,
	                                     not a client certificate */
	http_principal_t principal;
	int status;          /* set by the reply helpers, for log/metrics */
	int plain;           /* arrived on the plain-HTTP listener */
	int read_txn;        /* HTTP_ROUTE_READ: the stamp read leaves
	                                     its read transaction open */
	char param_buf[512]; /* storage behind params[] */
	struct http_reg_slot *slot; /* the pooled registry connection the
	                                     dispatcher holds for this request */
	char *answer;               /* the rendered answer (status line,
	                                     headers, body), written by the
	                                     dispatcher once it let go of slot */
	size_t answer_len;
} http_req_t;

/* A handler answers the request (through the helpers below) and returns
 * the status it sent. Handlers are named route_<what they serve>
 * (route_device_lookup, route_portal_login, ...) and only the route tables
 * name them. */
typedef int (*http_handler_fn)(http_req_t *req);

typedef struct {
	const char *method;  /* "GET", "POST", ... */
	const char *pattern; /* "/api/v1/devices/{id}/revoke"; "{x}" captures
	                            one path segment, optionally after a literal
	                            prefix inside the segment ("/DeviceID={id}") */
	http_handler_fn handler;
	unsigned roles;      /* HTTP_ROLE_* bits; HTTP_ROLE_NONE = public */
	unsigned flags;      /* HTTP_ROUTE_* */
	const char *summary; /* one line, printed by `ca-server routes` */
} http_route_t;

/* The portal's routes (server/http/portal_routes.c), registered after the
 * API's own; terminated by an entry whose method is NULL. */
extern const http_route_t portal_routes[];

/* Resolve a portal session from the request (cookie) into out. Called only
 * when no valid client certificate identified the caller. Returns 1 when a
 * live session was found, 0 when there is none, negative on error. */
int http_session_principal(http_principal_t *out, http_req_t *req);

/* For a session-authenticated, state-changing request (not GET/HEAD): 1 if
 * the request carries a valid CSRF token for its session, 0 otherwise. The
 * dispatcher refuses the request with 403 when this returns 0. */
int http_session_csrf_ok(http_req_t *req);

/* Entry point for `ca-server serve ...` (and `ca-server routes`). Returns
 * the process exit status. */
int http_serve_main(int argc, char **argv);

/* ---- Replies. Each renders a complete response into the request (the
 * dispatcher writes it after the handler returns) and returns its status. */

/* RFC 9457 problem+json. type_slug becomes
 * "https://provca.dev/problems/<type_slug>"; detail may be NULL. */
int http_reply_problem(http_req_t *req, int status, const char *type_slug,
    const char *title, const char *detail);

/* Serialise json (not consumed) and send it with status. */
int http_reply_json(http_req_t *req, int status, const struct cJSON *json);

/* Send body bytes with status and content type; extra_headers is NULL or
 * "Name: value\r\n" lines. */
int http_reply_bytes(http_req_t *req, int status, const char *content_type,
    const char *extra_headers, const void *body, size_t len);

/* Value of a query parameter (URL-decoded) into out. Returns the length,
 * -1 when absent, -2 when it does not fit. */
int http_query_get(const http_req_t *req, const char *name, char *out,
    size_t outlen);

/* Request header value or NULL. */
const char *http_header(const http_req_t *req, const char *name);

/* The registry connection the dispatcher holds for this request (while
 * the handler runs); NULL when none could be taken or opened. */
struct reg *http_req_reg(http_req_t *req);

/* Count a database failure in the metrics (handlers call it when a
 * registry call fails for a reason other than bad input). */
void http_count_db_error(http_req_t *req);

#endif
