/* http_match.c — a route pattern against a request path, for both
 * listeners' dispatchers: literal text, "{name}" captures of one path
 * segment each (into req->params), and prefix routes. Calls nothing else in
 * this folder. */
#include <string.h>

#include "http_int.h"

int http_route_match(http_req_t *req, const http_route_t *rt, const char *path)
{
	const char *p = rt->pattern, *s = path;
	char *store = req->param_buf;
	size_t left = sizeof(req->param_buf);

	req->nparams = 0;
	/* A prefix route's pattern may name the rest of the path
	 * ("/ocsp/{request}"): only what comes before the '{' is matched. */
	if (rt->flags & HTTP_ROUTE_PREFIX)
		return strncmp(path, rt->pattern, strcspn(rt->pattern, "{")) ==
		    0;
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
