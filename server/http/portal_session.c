/* portal_session.c — portal session lookup and CSRF check, the hooks the
 * HTTP server's auth layer calls. Owned by the portal (issue 7); this first
 * version knows no sessions, so only client certificates authenticate. */
#include "http.h"

/* No session store yet: nobody is logged in. */
int http_session_principal(http_principal_t *out, http_req_t *req)
{
	(void)out;
	(void)req;
	return 0;
}

/* Without sessions no session-authenticated request exists; refuse. */
int http_session_csrf_ok(http_req_t *req)
{
	(void)req;
	return 0;
}
