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
#include "util.h"

int api_json_string(const char **out, http_req_t *req, const cJSON *obj,
    const char *name, size_t maxlen, int required)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
	char detail[160];

	*out = NULL;
	if (v == NULL || cJSON_IsNull(v)) {
		if (!required)
			return 0;
		snprintf(detail, sizeof(detail), "field \"%s\" is required",
		    name);
		return http_reply_problem(req, 422, PT_FIELD, "Invalid field",
		    detail);
	}
	if (!cJSON_IsString(v) || v->valuestring == NULL) {
		snprintf(detail, sizeof(detail),
		    "field \"%s\" must be a string", name);
		return http_reply_problem(req, 422, PT_FIELD, "Invalid field",
		    detail);
	}
	if (strlen(v->valuestring) > maxlen) {
		snprintf(detail, sizeof(detail),
		    "field \"%s\" is longer than %zu characters", name, maxlen);
		return http_reply_problem(req, 422, PT_FIELD, "Invalid field",
		    detail);
	}
	if (required && v->valuestring[0] == '\0') {
		snprintf(detail, sizeof(detail),
		    "field \"%s\" must not be empty", name);
		return http_reply_problem(req, 422, PT_FIELD, "Invalid field",
		    detail);
	}
	*out = v->valuestring;
	return 0;
}

/* The refusal of an EC key whose curve is spelled out, not named. */
#define API_CSR_EXPLICIT \
	"EC key with explicit curve parameters not accepted: " \
	"name the curve (RFC 5480 section 2.1.1)"

int api_csr_parse(ca_csr_t **out, const ca_t *ca, const char *pem, char *err,
    size_t errlen)
{
	char msg[256];
	int why = 0;

	if (ca_csr_read(out, &why, ca, (const uint8_t *)pem, strlen(pem),
	        CA_CSR_PEM, msg, sizeof(msg)) == CA_OK)
		return 0;
	ERR_clear_error();
	snprintf(err, errlen, "%s", api_csr_refusal(why));
	return -1;
}

const char *api_csr_refusal(int why)
{
	switch (why) {
	case CA_CSR_BAD_FORMAT: return "not a PEM PKCS#10 certificate request";
	case CA_CSR_EXPLICIT_CURVE: return API_CSR_EXPLICIT;
	default: /* bad signature, or a key that is not one (off the curve) */
		return "the request's signature does not verify with its key";
	}
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
	if (ca_csr_spki_check(csr, err, errlen) != CA_OK)
		goto out;
	pk = X509_REQ_get0_pubkey(csr);
	if (pk == NULL || X509_REQ_verify(csr, pk) != 1) {
		snprintf(err, errlen,
		    "the request's signature does not verify with its key");
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
	util_time_iso(out, outlen, t);
}

int api_add_time(cJSON *obj, const char *name, int64_t t)
{
	char buf[40];

	if (t <= 0)
		return cJSON_AddNullToObject(obj, name) != NULL ? 0 : -1;
	api_time_iso(buf, sizeof(buf), t);
	return cJSON_AddStringToObject(obj, name, buf) != NULL ? 0 : -1;
}

int api_add_cursor(cJSON *obj, int64_t next)
{
	char buf[32];

	if (next <= 0)
		return cJSON_AddNullToObject(obj, "next_cursor") != NULL ? 0 :
		                                                           -1;
	snprintf(buf, sizeof(buf), "%lld", (long long)next);
	return cJSON_AddStringToObject(obj, "next_cursor", buf) != NULL ? 0 :
	                                                                  -1;
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
		return http_reply_problem(req, 400, PT_QUERY,
		    "Invalid query parameter",
		    "cursor must be a value returned as next_cursor");
	if (n > 0) {
		v = strtoll(buf, &end, 10);
		if (*end != '\0' || v < 0)
			return http_reply_problem(req, 400, PT_QUERY,
			    "Invalid query parameter",
			    "cursor must be a value returned as next_cursor");
		*after = v;
	}
	n = http_query_get(req, "limit", buf, sizeof(buf));
	if (n == -2 || n == 0)
		return http_reply_problem(req, 400, PT_QUERY,
		    "Invalid query parameter",
		    "limit must be an integer from 1 to 1000");
	if (n > 0) {
		if (buf[0] < '0' || buf[0] > '9')
			return http_reply_problem(req, 400, PT_QUERY,
			    "Invalid query parameter",
			    "limit must be an integer from 1 to 1000");
		v = strtoll(buf, &end, 10);
		if (*end != '\0' || v < 1 || v > REG_LIST_MAX)
			return http_reply_problem(req, 400, PT_QUERY,
			    "Invalid query parameter",
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
		return http_reply_problem(req, 422, PT_FIELD, "Invalid request",
		    err);
	case CA_ERR_NOT_FOUND:
		return http_reply_problem(req, 404, PT_NOT_FOUND, "Not found",
		    err);
	case CA_ERR_CONFLICT:
	case CA_ERR_EXISTS:
		return http_reply_problem(req, 409, PT_CONFLICT, "Conflict",
		    err);
	case CA_ERR_KEY_IN_USE:
		return http_reply_problem(req, 409, PT_KEY_IN_USE,
		    "Public key in use", err);
	case CA_ERR_STATE:
		return http_reply_problem(req, 409, PT_BAD_STATE,
		    "Invalid state", err);
	case CA_ERR_DENIED:
		return http_reply_problem(req, 403, PT_FORBIDDEN, "Forbidden",
		    err);
	case CA_ERR_BUSY:
		http_count_db_error(req);
		return http_reply_problem_ex(req, 503, PT_UNAVAILABLE,
		    "Service unavailable", "the registry is busy; retry",
		    "Retry-After: 1\r\n");
	case CA_ERR_UNAVAILABLE:
		http_count_db_error(req);
		return http_reply_problem_ex(req, 503, PT_UNAVAILABLE,
		    "Service unavailable",
		    "the registry's database cannot be reached; "
		    "nothing was done",
		    "Retry-After: 1\r\n");
	default:
		/* Internal details stay in the server; the client learns only
		 * that nothing was done. */
		http_count_db_error(req);
		return http_reply_problem(req, 500, PT_INTERNAL,
		    "Internal error", "the request was not carried out");
	}
}

int api_reply_no_db(http_req_t *req)
{
	return http_reply_problem_ex(req, 503, PT_UNAVAILABLE,
	    "Service unavailable", "the registry cannot be opened",
	    "Retry-After: 1\r\n");
}

/* Digits of s[0..n) as a number; -1 when one is not a digit. */
static int digits(const char *s, size_t n)
{
	int v = 0;
	size_t i;

	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

int api_time_parse(int64_t *out, const char *s)
{
	static const int mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30,
		31 };
	int y, mo, d, hh, mi, ss, oh = 0, om = 0, sign = 0;
	const char *p;
	struct tm tm;
	time_t t;
	size_t n = strlen(s);

	if (n > 0 && n <= 12 && strspn(s, "0123456789") == n) {
		*out = (int64_t)strtoll(s, NULL, 10);
		return 0;
	}
	/* RFC 3339 date-time: full-date "T" full-time. */
	if (n < 20 || s[4] != '-' || s[7] != '-' || s[13] != ':' ||
	    s[16] != ':' || (s[10] != 'T' && s[10] != 't' && s[10] != ' '))
		return -1;
	y = digits(s, 4);
	mo = digits(s + 5, 2);
	d = digits(s + 8, 2);
	hh = digits(s + 11, 2);
	mi = digits(s + 14, 2);
	ss = digits(s + 17, 2);
	if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] ||
	    (mo == 2 && d == 29 &&
	        !(y % 4 == 0 && (y % 100 != 0 || y % 400 == 0))) ||
	    hh < 0 || hh > 23 || mi < 0 || mi > 59 || ss < 0 || ss > 60)
		return -1;
	p = s + 19;
	if (*p == '.') {
		p++;
		if (*p < '0' || *p > '9')
			return -1;
		while (*p >= '0' && *p <= '9')
			p++;
	}
	if ((*p == 'Z' || *p == 'z') && p[1] == '\0') {
		sign = 0;
	} else if ((*p == '+' || *p == '-') && strlen(p) == 6 && p[3] == ':') {
		sign = *p == '+' ? 1 : -1;
		oh = digits(p + 1, 2);
		om = digits(p + 4, 2);
		if (oh < 0 || oh > 23 || om < 0 || om > 59)
			return -1;
	} else {
		return -1;
	}
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = hh;
	tm.tm_min = mi;
	tm.tm_sec = ss == 60 ? 59 : ss; /* a leap second counts as :59 */
	t = timegm(&tm);
	if (t == (time_t)-1)
		return -1;
	*out = (int64_t)t - sign * (int64_t)(oh * 3600 + om * 60);
	return *out >= 0 ? 0 : -1;
}
