/* http_util.c — small pieces the API handlers share: JSON field checks
 * that answer 422 on their own, CSR pre-checks (400 invalid-csr), ISO 8601
 * times, cursor/limit parsing, If-None-Match matching, mapping CA engine
 * errors to problem responses. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "http_api.h"

int api_json_string(const char **out, http_req_t *req, const cJSON *obj,
                    const char *name, size_t maxlen, int required)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
	char detail[160];

	*out = NULL;
	if (v == NULL || cJSON_IsNull(v)) {
		if (!required)
			return 0;
		snprintf(detail, sizeof(detail), "field \"%s\" is required", name);
		return http_reply_problem(req, 422, PT_FIELD, "Invalid field", detail);
	}
	if (!cJSON_IsString(v) || v->valuestring == NULL) {
		snprintf(detail, sizeof(detail), "field \"%s\" must be a string", name);
		return http_reply_problem(req, 422, PT_FIELD, "Invalid field", detail);
	}
	if (strlen(v->valuestring) > maxlen) {
		snprintf(detail, sizeof(detail), "field \"%s\" is longer than %zu characters",
		         name, maxlen);
		return http_reply_problem(req, 422, PT_FIELD, "Invalid field", detail);
	}
	if (required && v->valuestring[0] == '\0') {
		snprintf(detail, sizeof(detail), "field \"%s\" must not be empty", name);
		return http_reply_problem(req, 422, PT_FIELD, "Invalid field", detail);
	}
	*out = v->valuestring;
	return 0;
}

int api_csr_check(const char *pem, char *err, size_t errlen)
{
	BIO *bio = NULL;
	X509_REQ *csr = NULL;
	EVP_PKEY *pk;
	int rc = -1;

	bio = BIO_new_mem_buf(pem, (int)strlen(pem));
	if (bio == NULL) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	csr = PEM_read_bio_X509_REQ(bio, NULL, NULL, NULL);
	if (csr == NULL) {
		snprintf(err, errlen, "not a PEM PKCS#10 certificate request");
		goto out;
	}
	pk = X509_REQ_get0_pubkey(csr);
	if (pk == NULL || X509_REQ_verify(csr, pk) != 1) {
		snprintf(err, errlen, "the request's signature does not verify with its key");
		goto out;
	}
	rc = 0;
out:
	ERR_clear_error();
	X509_REQ_free(csr);
	BIO_free(bio);
	return rc;
}

void api_time_iso(char *out, size_t outlen, int64_t t)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (gmtime_r(&tt, &tm) == NULL || strftime(out, outlen, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(out, outlen, "%lld", (long long)t);
}

int api_add_time(cJSON *obj, const char *name, int64_t t)
{
	char buf[40];

	if (t <= 0)
		return cJSON_AddNullToObject(obj, name) != NULL ? 0 : -1;
	api_time_iso(buf, sizeof(buf), t);
	return cJSON_AddStringToObject(obj, name, buf) != NULL ? 0 : -1;
}

int api_page_params(int64_t *after, size_t *limit, http_req_t *req)
{
	char buf[32], *end;
	long long v;
	int n;

	*after = 0;
	*limit = 100;
	n = http_query_get(req, "cursor", buf, sizeof(buf));
	if (n == -2 || (n >= 0 && n > 0 && (buf[0] < '0' || buf[0] > '9')))
		return http_reply_problem(req, 400, PT_QUERY, "Invalid query parameter",
		                          "cursor must be a value returned as next_cursor");
	if (n > 0) {
		v = strtoll(buf, &end, 10);
		if (*end != '\0' || v < 0)
			return http_reply_problem(req, 400, PT_QUERY, "Invalid query parameter",
			                          "cursor must be a value returned as next_cursor");
		*after = v;
	}
	n = http_query_get(req, "limit", buf, sizeof(buf));
	if (n == -2 || n == 0)
		return http_reply_problem(req, 400, PT_QUERY, "Invalid query parameter",
		                          "limit must be an integer from 1 to 1000");
	if (n > 0) {
		if (buf[0] < '0' || buf[0] > '9')
			return http_reply_problem(req, 400, PT_QUERY, "Invalid query parameter",
			                          "limit must be an integer from 1 to 1000");
		v = strtoll(buf, &end, 10);
		if (*end != '\0' || v < 1 || v > REG_LIST_MAX)
			return http_reply_problem(req, 400, PT_QUERY, "Invalid query parameter",
			                          "limit must be an integer from 1 to 1000");
		*limit = (size_t)v;
	}
	return 0;
}

int api_etag_matches(const char *inm, const char *etag)
{
	const char *p = inm;
	size_t elen = strlen(etag);

	if (inm == NULL)
		return 0;
	while (*p != '\0') {
		size_t n;

		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		if (*p == '*')
			return 1;
		if (strncmp(p, "W/", 2) == 0)
			p += 2;
		n = strcspn(p, ",");
		while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
			n--;
		if (n == elen && strncmp(p, etag, n) == 0)
			return 1;
		p += strcspn(p, ",");
	}
	return 0;
}

int api_reply_ca_error(http_req_t *req, int rc, const char *err)
{
	switch (rc) {
	case CA_ERR_INVALID:
		return http_reply_problem(req, 422, PT_FIELD, "Invalid request", err);
	case CA_ERR_NOT_FOUND:
		return http_reply_problem(req, 404, PT_NOT_FOUND, "Not found", err);
	case CA_ERR_CONFLICT:
	case CA_ERR_EXISTS:
		return http_reply_problem(req, 409, PT_CONFLICT, "Conflict", err);
	case CA_ERR_STATE:
		return http_reply_problem(req, 409, PT_BAD_STATE, "Invalid state", err);
	case CA_ERR_DENIED:
		return http_reply_problem(req, 403, PT_FORBIDDEN, "Forbidden", err);
	case CA_ERR_BUSY:
		http_count_db_error(req);
		return http_reply_problem_ex(req, 503, PT_UNAVAILABLE, "Service unavailable",
		                             "the registry is busy; retry", "Retry-After: 1\r\n");
	default:
		/* Internal details stay in the server; the client learns only
		 * that nothing was done. */
		http_count_db_error(req);
		return http_reply_problem(req, 500, PT_INTERNAL, "Internal error",
		                          "the request was not carried out");
	}
}

int api_reply_no_db(http_req_t *req)
{
	return http_reply_problem_ex(req, 503, PT_UNAVAILABLE, "Service unavailable",
	                             "the registry cannot be opened", "Retry-After: 1\r\n");
}
