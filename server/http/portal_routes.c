/* portal_routes.c — the browser portal's routes, registered by the HTTP
 * server after the API's own table. Owned by the portal (issue 7); starts
 * empty. */
#include <stddef.h>

#include "http.h"

const http_route_t portal_routes[] = {
	{ NULL, NULL, NULL, 0, 0, NULL }
};
