/* portal_routes.c — the browser portal's routes, registered by the HTTP
 * server after the API's own table: sign-in, sign-out, who am I, and the
 * administrators' management of portal users. Every other portal page
 * calls the JSON API the mTLS clients use. */
#include <stddef.h>

#include "http.h"
#include "portal_http.h"

#define ANY_USER (HTTP_ROLE_ADMIN | HTTP_ROLE_MANUFACTURER)

const http_route_t portal_routes[] = {
	{ "POST", "/api/v1/portal/login", route_portal_login, HTTP_ROLE_NONE,
	    HTTP_ROUTE_BODY,
	    "portal sign-in: name + password, sets the session cookie" },
	{ "POST", "/api/v1/portal/logout", route_portal_logout, ANY_USER, 0,
	    "portal sign-out: ends the session" },
	{ "GET", "/api/v1/portal/me", route_portal_me, ANY_USER, 0,
	    "the signed-in user, role, manufacturer and CSRF token" },
	{ "GET", "/api/v1/portal/users", route_portal_users_list,
	    HTTP_ROLE_ADMIN, 0, "portal users" },
	{ "POST", "/api/v1/portal/users", route_portal_users_create,
	    HTTP_ROLE_ADMIN, HTTP_ROUTE_BODY, "create a portal user" },
	{ "POST", "/api/v1/portal/users/{name}/password",
	    route_portal_user_password, HTTP_ROLE_ADMIN, HTTP_ROUTE_BODY,
	    "reset a portal user's password" },
	{ "POST", "/api/v1/portal/users/{name}/disable",
	    route_portal_user_disable, HTTP_ROLE_ADMIN, 0,
	    "disable a portal user (ends their sessions)" },
	{ "POST", "/api/v1/portal/users/{name}/enable",
	    route_portal_user_enable, HTTP_ROLE_ADMIN, 0,
	    "enable a portal user" },
	{ NULL, NULL, NULL, 0, 0, NULL }
};
