/* http_body.c — a request's body: read it (capped at body_limit, chunked
 * or not) and parse it as one JSON object or array, refusing a string that
 * hides a NUL (\u0000) behind cJSON's C strings. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <civetweb.h>

#include "http_int.h"

/* Nesting depth whose member names http_json_nul_find remembers; deeper
 * levels report the deepest name it kept. */
#define NUL_SCAN_DEPTH 64

/* Copy text[start, start+len) into out as printable ASCII (others '?'). */
static void nul_scan_name(char *out, size_t outlen, const char *text,
    size_t start, size_t len)
{
	size_t i, o = 0;

	for (i = 0; i < len && o + 1 < outlen; i++) {
		unsigned char c = (unsigned char)text[start + i];

		out[o++] = c >= 0x20 && c < 0x7f ? (char)c : '?';
	}
	out[o] = '\0';
}

/* A \u0000 escape at text[i] (just after the backslash is 'u')? */
static int nul_scan_escape(const char *text, size_t len, size_t i)
{
	return i + 5 < len && text[i + 1] == 'u' &&
	    memcmp(text + i + 2, "0000", 4) == 0;
}

/* Scan text, which cJSON has accepted, for a string holding "\u0000":
 * cJSON 1.7 decodes it to a NUL byte and every C reader of the field
 * then sees it cut short. Backslashes occur only inside strings in valid
 * JSON, and each escape is skipped whole, so "\\u0000" is not a match.
 * Returns 1 and names the member the string belongs to (its own name
 * when the NUL is in a member name; the array's name for an element),
 * else 0. */
int http_json_nul_find(char *field, size_t fieldlen, const char *text,
    size_t len)
{
	size_t ks[NUL_SCAN_DEPTH + 1], kl[NUL_SCAN_DEPTH + 1];
	size_t i, s_start = 0, s_len = 0, depth = 0, over = 0;
	int in_str = 0, pending = 0, hit = 0;

	ks[0] = kl[0] = 0;
	for (i = 0; i < len; i++) {
		char c = text[i];

		if (in_str) {
			if (c == '\\') {
				hit |= nul_scan_escape(text, len, i);
				i++; /* the escaped character (or the 'u') */
			} else if (c == '"') {
				in_str = 0;
				s_len = i - s_start;
				pending = 1;
			}
			continue;
		}
		if (c == ' ' || c == '\t' || c == '\r' || c == '\n')
			continue;
		if (c == ':' &&
		    pending) { /* the string just closed was a name */
			ks[depth] = s_start;
			kl[depth] = s_len;
			pending = 0;
			if (hit)
				break;
			continue;
		}
		if (hit) /* the string with the NUL was a value */
			break;
		pending = 0;
		if (c == '"') {
			in_str = 1;
			s_start = i + 1;
		} else if (c == '{' || c == '[') {
			if (depth < NUL_SCAN_DEPTH) {
				depth++;
				ks[depth] = ks[depth - 1];
				kl[depth] = kl[depth - 1];
			} else {
				over++;
			}
		} else if (c == '}' || c == ']') {
			if (over > 0)
				over--;
			else if (depth > 0)
				depth--;
		}
	}
	if (!hit)
		return 0;
	nul_scan_name(field, fieldlen, text, ks[depth], kl[depth]);
	if (field[0] == '\0')
		snprintf(field, fieldlen, "(top level)");
	return 1;
}

int http_body_read(http_req_t *req)
{
	size_t cap = req->srv->cfg->body_limit;
	long long declared = req->ri->content_length;
	size_t len = 0, alloc;
	char *buf;
	int n;

	if (declared > 0 && (unsigned long long)declared > cap)
		return http_reply_problem(req, 413, PT_BODY_TOO_LARGE,
		    "Request body too large",
		    "the body exceeds the server's body_limit");
	alloc = declared > 0 ? (size_t)declared + 1 : 4096;
	buf = malloc(alloc);
	if (buf == NULL)
		return http_reply_problem(req, 500, PT_INTERNAL,
		    "Internal error", "out of memory");
	/* Chunked bodies have no declared length: read until the end, but
	 * never past cap + 1 bytes. */
	for (;;) {
		if (len + 1 >= alloc) {
			size_t nalloc = alloc * 2;
			char *nb;

			if (nalloc > cap + 2)
				nalloc = cap + 2;
			if (nalloc <= alloc) {
				free(buf);
				return http_reply_problem(req, 413,
				    PT_BODY_TOO_LARGE, "Request body too large",
				    "the body exceeds the server's body_limit");
			}
			nb = realloc(buf, nalloc);
			if (nb == NULL) {
				free(buf);
				return http_reply_problem(req, 500, PT_INTERNAL,
				    "Internal error", "out of memory");
			}
			buf = nb;
			alloc = nalloc;
		}
		n = mg_read(req->conn, buf + len, alloc - 1 - len);
		if (n < 0) {
			free(buf);
			return http_reply_problem(req, 400, PT_INVALID,
			    "Bad request",
			    "the request body could not be read");
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len > cap) {
			free(buf);
			return http_reply_problem(req, 413, PT_BODY_TOO_LARGE,
			    "Request body too large",
			    "the body exceeds the server's body_limit");
		}
	}
	buf[len] = '\0';
	req->body = buf;
	req->body_len = len;
	return 0;
}

cJSON *http_json_body(http_req_t *req)
{
	const char *ct = http_header(req, "Content-Type");
	const char *end = NULL;
	char field[72], detail[160];
	cJSON *doc;

	if (ct == NULL || strncmp(ct, "application/json", 16) != 0 ||
	    (ct[16] != '\0' && ct[16] != ';' && ct[16] != ' ')) {
		http_reply_problem(req, 415, PT_MEDIA_TYPE,
		    "Unsupported media type",
		    "send the body as application/json");
		return NULL;
	}
	if (req->body == NULL || req->body_len == 0 ||
	    strlen(req->body) != req->body_len) {
		http_reply_problem(req, 400, PT_BAD_JSON, "Malformed JSON",
		    "the body is empty or contains NUL bytes");
		return NULL;
	}
	/* cJSON's require_null_terminated misfires when the length ends
	 * exactly at the text's end; check for trailing bytes ourselves. */
	doc = cJSON_ParseWithLengthOpts(req->body, req->body_len, &end, 0);
	while (doc != NULL && end < req->body + req->body_len &&
	    (*end == ' ' || *end == '\t' || *end == '\r' || *end == '\n'))
		end++;
	if (doc != NULL && end != req->body + req->body_len) {
		cJSON_Delete(doc);
		doc = NULL;
	}
	if (doc == NULL) {
		http_reply_problem(req, 400, PT_BAD_JSON, "Malformed JSON",
		    "the body is not valid JSON");
		return NULL;
	}
	if (!cJSON_IsObject(doc) && !cJSON_IsArray(doc)) {
		cJSON_Delete(doc);
		http_reply_problem(req, 400, PT_BAD_JSON, "Malformed JSON",
		    "the body must be a JSON object");
		return NULL;
	}
	/* cJSON keeps strings NUL-terminated: "m\u0000<script>" would be
	 * read as "m" by every handler. Refuse it for every route here. */
	if (http_json_nul_find(field, sizeof(field), req->body,
	        req->body_len)) {
		cJSON_Delete(doc);
		snprintf(detail, sizeof(detail),
		    "field \"%s\" contains a NUL "
		    "character (\\u0000)",
		    field);
		http_reply_problem(req, 422, "invalid-field", "Invalid field",
		    detail);
		return NULL;
	}
	return doc;
}
