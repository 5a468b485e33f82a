/* http_reply.c — the ways a handler answers: raw bytes, JSON, RFC 9457
 * problem+json; plus the request's query, header and registry accessors.
 * Every reply sets Content-Length, records the status for the access log
 * and metrics, and is rendered whole into the request: the dispatcher
 * writes it with one mg_write (status line, headers and body together)
 * after it has given the registry connection back. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <civetweb.h>
#include <openssl/crypto.h>

#include "http_int.h"
#include "portal_http.h"

#define PROBLEM_BASE "https://provca.dev/problems/"

/* Declared in portal_http.h: every answer carries it (the portal's pages
 * are served by the same helpers), so it lives with the helpers. */
const char portal_security_headers[] =
    "Content-Security-Policy: default-src 'none'; script-src 'self'; "
    "style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "font-src 'self'; form-action 'self'; base-uri 'none'; "
    "frame-ancestors 'none'\r\n"
    "X-Frame-Options: DENY\r\n"
    "Referrer-Policy: no-referrer\r\n"
    "Cross-Origin-Opener-Policy: same-origin\r\n";

/* Status line + every header we send stays well below this. */
#define REPLY_HEAD_MAX 4096

/* CivetWeb's should_keep_alive() as far as a handler can see it: the
 * server enables keep-alive, so the client's Connection header decides,
 * else HTTP/1.1 keeps the connection. CivetWeb makes the final decision
 * after the handler returns (it may still close, e.g. an unread chunked
 * body), exactly as when it printed this header itself. */
static int reply_keep_alive(const http_req_t *req)
{
	const char *h = mg_get_header(req->conn, "Connection");
	const char *v = req->ri->http_version;

	if (h != NULL) {
		while (*h != '\0') {
			size_t n;

			h += strspn(h, " \t,");
			n = strcspn(h, " \t,");
			if (n == 10 && strncasecmp(h, "keep-alive", 10) == 0)
				return 1;
			h += n;
		}
		return 0;
	}
	return v != NULL && strcmp(v, "1.1") == 0;
}

/* The Date header's value, formatted once per second per thread. */
static const char *reply_date(void)
{
	static _Thread_local time_t last;
	static _Thread_local char text[40];
	time_t now = time(NULL);
	struct tm tm;

	if (now != last || text[0] == '\0') {
		gmtime_r(&now, &tm);
		strftime(text, sizeof(text), "%a, %d %b %Y %H:%M:%S GMT", &tm);
		last = now;
	}
	return text;
}

/* Append printf output to head; returns 0, or -1 when it does not fit. */
static int head_add(char *head, size_t *used, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int head_add(char *head, size_t *used, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(head + *used, REPLY_HEAD_MAX - *used, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= REPLY_HEAD_MAX - *used)
		return -1;
	*used += (size_t)n;
	return 0;
}

/* Append the strings of the NULL-terminated list to head; 0, or -1 when
 * they do not fit. Plain copies: vsnprintf per header line was ~5 % of a
 * lookup's instructions. */
static int head_put(char *head, size_t *used, ...)
{
	const char *s;
	va_list ap;
	int rc = 0;

	va_start(ap, used);
	while ((s = va_arg(ap, const char *)) != NULL) {
		size_t n = strlen(s);

		if (n >= REPLY_HEAD_MAX - *used) {
			rc = -1;
			break;
		}
		memcpy(head + *used, s, n);
		*used += n;
	}
	va_end(ap);
	return rc;
}

/* Render the status line and every header (ending with the blank line)
 * into head; returns its length, or 0 when it does not fit. */
static size_t reply_head(char *head, http_req_t *req, int status,
    const char *content_type, const char *extra_headers, size_t len)
{
	const char *ver = req->ri->http_version;
	size_t used = 0;

	if (head_add(head, &used, "HTTP/%s %d %s\r\n",
	        ver != NULL ? ver : "1.0", status,
	        mg_get_response_code_text(req->conn, status)) != 0)
		return 0;
	if (content_type != NULL &&
	    head_put(head, &used, "Content-Type: ", content_type, "\r\n",
	        (const char *)NULL) != 0)
		return 0;
	if (status != 304 &&
	    head_add(head, &used, "Content-Length: %zu\r\n", len) != 0)
		return 0;
	/* The portal's CSP and framing rules, harmless on API answers. */
	if (head_put(head, &used, "X-Content-Type-Options: nosniff\r\n",
	        portal_security_headers, (const char *)NULL) != 0)
		return 0;
	/* Off by default: a browser pins HTTPS for the whole host name for
	 * max-age seconds, which the operator chooses knowingly. */
	if (req->srv->cfg->hsts_max_age > 0 && !req->plain && /* RFC 6797 7.2 */
	    head_add(head, &used, "Strict-Transport-Security: max-age=%d\r\n",
	        req->srv->cfg->hsts_max_age) != 0)
		return 0;
	if ((extra_headers == NULL ||
	        strstr(extra_headers, "Cache-Control:") == NULL) &&
	    head_put(head, &used, "Cache-Control: no-store\r\n",
	        (const char *)NULL) != 0)
		return 0;
	if (extra_headers != NULL && extra_headers[0] != '\0') {
		size_t n = strlen(extra_headers);
		int crlf = n >= 1 && extra_headers[n - 1] == '\n';

		if (head_put(head, &used, extra_headers, crlf ? "" : "\r\n",
		        (const char *)NULL) != 0)
			return 0;
	}
	if (head_put(head, &used, "Date: ", reply_date(), "\r\nConnection: ",
	        reply_keep_alive(req) ? "keep-alive" : "close", "\r\n\r\n",
	        (const char *)NULL) != 0)
		return 0;
	return used;
}

/* Wipe and free an answer already rendered into req: it may carry a
 * secret (a generated PKCS#12 and its password). */
static void reply_drop(http_req_t *req)
{
	if (req->answer == NULL)
		return;
	OPENSSL_cleanse(req->answer, req->answer_len);
	free(req->answer);
	req->answer = NULL;
	req->answer_len = 0;
}

int http_reply_bytes(http_req_t *req, int status, const char *content_type,
    const char *extra_headers, const void *body, size_t len)
{
	char head[REPLY_HEAD_MAX];
	size_t hlen, blen = 0;

	/* A second answer replaces the first (only one goes out). */
	reply_drop(req);
	req->status = status;
	/* CivetWeb's header API prints every header line with its own
	 * SSL_write: one TLS record and one TCP segment each. Render the
	 * whole answer for one mg_write instead (http_reply_send). CivetWeb
	 * takes the handler's return value as the status for its own
	 * bookkeeping and still decides keep-alive after the handler
	 * returns. */
	hlen = reply_head(head, req, status, content_type, extra_headers, len);
	if (hlen == 0) {
		req->status = 500;
		return 500;
	}
	if (status != 304 && status != 204 && len > 0 &&
	    strcmp(req->method, "HEAD") != 0)
		blen = len;
	req->answer = malloc(hlen + blen);
	if (req->answer == NULL) {
		req->status = 500;
		return 500;
	}
	memcpy(req->answer, head, hlen);
	if (blen > 0)
		memcpy(req->answer + hlen, body, blen);
	req->answer_len = hlen + blen;
	return status;
}

void http_reply_send(http_req_t *req)
{
	static const char fallback[] =
	    "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n"
	    "Connection: close\r\n\r\n";

	if (req->answer != NULL)
		mg_write(req->conn, req->answer, req->answer_len);
	else
		mg_write(req->conn, fallback, sizeof(fallback) - 1);
	reply_drop(req);
}

int http_reply_json(http_req_t *req, int status, const cJSON *json)
{
	char *text = cJSON_PrintUnformatted(json);

	if (text == NULL)
		return http_reply_problem(req, 500, PT_INTERNAL,
		    "Internal error",
		    "out of memory while rendering the response");
	http_reply_bytes(req, status, "application/json", NULL, text,
	    strlen(text));
	cJSON_free(text);
	return status;
}

/* A fixed fallback when even the problem document cannot be built. */
static int reply_problem_fallback(http_req_t *req, int status)
{
	static const char body[] =
	    "{\"type\":\"" PROBLEM_BASE PT_INTERNAL
	    "\",\"title\":\"Internal error\",\"status\":500}";

	(void)status;
	return http_reply_bytes(req, 500, "application/problem+json", NULL,
	    body, sizeof(body) - 1);
}

/* Every 401 names the two ways to authenticate (RFC 9110 §11.6.1 requires
 * a challenge): a client certificate on the TLS connection, or a portal
 * session cookie from POST /api/v1/portal/login. */
#define HTTP_CHALLENGE \
	"WWW-Authenticate: MutualTLS realm=\"provca\", " \
	"Session realm=\"provca-portal\"\r\n"

int http_reply_problem_ex(http_req_t *req, int status, const char *type_slug,
    const char *title, const char *detail, const char *extra_headers)
{
	char type[160], hdrs[512];
	cJSON *doc = cJSON_CreateObject();
	char *text = NULL;

	if (doc == NULL)
		return reply_problem_fallback(req, status);
	snprintf(type, sizeof(type), PROBLEM_BASE "%s", type_slug);
	if (cJSON_AddStringToObject(doc, "type", type) == NULL ||
	    cJSON_AddStringToObject(doc, "title", title) == NULL ||
	    cJSON_AddNumberToObject(doc, "status", status) == NULL ||
	    (detail != NULL &&
	        cJSON_AddStringToObject(doc, "detail", detail) == NULL) ||
	    (req->path != NULL &&
	        cJSON_AddStringToObject(doc, "instance", req->path) == NULL))
		goto fail;
	text = cJSON_PrintUnformatted(doc);
	if (text == NULL)
		goto fail;
	if (status == 401) {
		if ((size_t)snprintf(hdrs, sizeof(hdrs), "%s%s", HTTP_CHALLENGE,
		        extra_headers != NULL ? extra_headers : "") >=
		    sizeof(hdrs))
			goto fail;
		extra_headers = hdrs;
	}
	http_reply_bytes(req, status, "application/problem+json", extra_headers,
	    text, strlen(text));
	cJSON_free(text);
	cJSON_Delete(doc);
	return status;
fail:
	cJSON_free(text);
	cJSON_Delete(doc);
	return reply_problem_fallback(req, status);
}

int http_reply_problem(http_req_t *req, int status, const char *type_slug,
    const char *title, const char *detail)
{
	return http_reply_problem_ex(req, status, type_slug, title, detail,
	    NULL);
}

int http_query_get(const http_req_t *req, const char *name, char *out,
    size_t outlen)
{
	int n;

	if (req->query == NULL || outlen == 0)
		return -1;
	n = mg_get_var(req->query, strlen(req->query), name, out, outlen);
	if (n == -1)
		return -1;
	if (n < 0)
		return -2;
	return n;
}

const char *http_header(const http_req_t *req, const char *name)
{
	return mg_get_header(req->conn, name);
}

struct reg *http_req_reg(http_req_t *req)
{
	return req->slot != NULL ? req->slot->reg : NULL;
}

void http_count_db_error(http_req_t *req)
{
	atomic_fetch_add(&req->srv->metrics.db_errors, 1);
}
