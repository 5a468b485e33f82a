/* http_reply.c — the ways a handler answers: raw bytes, JSON, RFC 9457
 * problem+json; plus query and header accessors. Every reply sets
 * Content-Length and records the status for the access log and metrics. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <civetweb.h>

#include "http_int.h"
#include "portal_http.h"

#define PROBLEM_BASE "https://provca.dev/problems/"

int http_reply_bytes(http_req_t *req, int status, const char *content_type,
                     const char *extra_headers, const void *body, size_t len)
{
	char clen[32];

	req->status = status;
	if (mg_response_header_start(req->conn, status) != 0)
		return status;
	if (content_type != NULL)
		mg_response_header_add(req->conn, "Content-Type", content_type, -1);
	if (status != 304) {
		snprintf(clen, sizeof(clen), "%zu", len);
		mg_response_header_add(req->conn, "Content-Length", clen, -1);
	}
	mg_response_header_add(req->conn, "X-Content-Type-Options", "nosniff", -1);
	/* The portal's CSP and framing rules, harmless on API answers. */
	mg_response_header_add_lines(req->conn, portal_security_headers);
	/* Off by default: a browser pins HTTPS for the whole host name for
	 * max-age seconds, which the operator chooses knowingly. */
	if (req->srv->cfg->hsts_max_age > 0) {
		char hsts[32];

		snprintf(hsts, sizeof(hsts), "max-age=%d", req->srv->cfg->hsts_max_age);
		mg_response_header_add(req->conn, "Strict-Transport-Security", hsts, -1);
	}
	if (extra_headers == NULL || strstr(extra_headers, "Cache-Control:") == NULL)
		mg_response_header_add(req->conn, "Cache-Control", "no-store", -1);
	if (extra_headers != NULL && extra_headers[0] != '\0')
		mg_response_header_add_lines(req->conn, extra_headers);
	mg_response_header_send(req->conn);
	if (status != 304 && status != 204 && len > 0 &&
	    strcmp(req->method, "HEAD") != 0)
		mg_write(req->conn, body, len);
	return status;
}

int http_reply_json(http_req_t *req, int status, const cJSON *json)
{
	char *text = cJSON_PrintUnformatted(json);

	if (text == NULL)
		return http_reply_problem(req, 500, PT_INTERNAL, "Internal error",
		                          "out of memory while rendering the response");
	http_reply_bytes(req, status, "application/json", NULL, text, strlen(text));
	cJSON_free(text);
	return status;
}

/* A fixed fallback when even the problem document cannot be built. */
static int reply_problem_fallback(http_req_t *req, int status)
{
	static const char body[] =
	    "{\"type\":\"" PROBLEM_BASE PT_INTERNAL "\",\"title\":\"Internal error\",\"status\":500}";

	(void)status;
	return http_reply_bytes(req, 500, "application/problem+json", NULL, body,
	                        sizeof(body) - 1);
}

int http_reply_problem_ex(http_req_t *req, int status, const char *type_slug,
                          const char *title, const char *detail,
                          const char *extra_headers)
{
	char type[160];
	cJSON *doc = cJSON_CreateObject();
	char *text = NULL;

	if (doc == NULL)
		return reply_problem_fallback(req, status);
	snprintf(type, sizeof(type), PROBLEM_BASE "%s", type_slug);
	if (cJSON_AddStringToObject(doc, "type", type) == NULL ||
	    cJSON_AddStringToObject(doc, "title", title) == NULL ||
	    cJSON_AddNumberToObject(doc, "status", status) == NULL ||
	    (detail != NULL && cJSON_AddStringToObject(doc, "detail", detail) == NULL) ||
	    (req->path != NULL && cJSON_AddStringToObject(doc, "instance", req->path) == NULL))
		goto fail;
	text = cJSON_PrintUnformatted(doc);
	if (text == NULL)
		goto fail;
	http_reply_bytes(req, status, "application/problem+json", extra_headers,
	                 text, strlen(text));
	cJSON_free(text);
	cJSON_Delete(doc);
	return status;
fail:
	cJSON_Delete(doc);
	return reply_problem_fallback(req, status);
}

int http_reply_problem(http_req_t *req, int status, const char *type_slug,
                       const char *title, const char *detail)
{
	return http_reply_problem_ex(req, status, type_slug, title, detail, NULL);
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

void http_count_db_error(http_req_t *req)
{
	atomic_fetch_add(&req->srv->metrics.db_errors, 1);
}
