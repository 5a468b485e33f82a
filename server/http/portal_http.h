/* portal_http.h — the portal's HTTP pieces shared by its own files: the
 * route handlers portal_routes[] names, the session cookie, the security
 * headers every portal response carries, and the `ca-server user` CLI. */
#ifndef PROVCA_PORTAL_HTTP_H
#define PROVCA_PORTAL_HTTP_H

#include "http.h"
#include "portal.h"

struct cJSON;

/* __Host- prefix: the browser only accepts it with Secure, Path=/ and no
 * Domain, so no sibling host can plant or shadow it. */
#define PORTAL_COOKIE "__Host-provca_session"

/* Header carrying the session's CSRF token on state-changing requests. */
#define PORTAL_CSRF_HEADER "X-CSRF-Token"

/* Response header lines ("Name: value\r\n") for every portal response: a
 * strict CSP without inline script, nosniff, no referrer, no framing. */
extern const char portal_security_headers[];

/* The user as JSON (no secrets); NULL on allocation failure. */
struct cJSON *portal_user_json(const portal_user_t *u);

/* Route handlers (portal_http.c, portal_users.c). */
int route_portal_login(http_req_t *req);
int route_portal_logout(http_req_t *req);
int route_portal_me(http_req_t *req);
int route_portal_users_list(http_req_t *req);
int route_portal_users_create(http_req_t *req);
int route_portal_user_password(http_req_t *req);
int route_portal_user_disable(http_req_t *req);
int route_portal_user_enable(http_req_t *req);

#endif
