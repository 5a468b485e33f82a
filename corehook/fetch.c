/* fetch.c — GET a device's security context from an allow-listed CA with
 * libcurl: mTLS, peer and host verification, https only, no redirects,
 * connect and total timeouts, a cap on the response size. */
#include "ch_int.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#include "util.h"

struct sink {
	char *buf;
	size_t len;
	size_t cap;     /* allocated */
	size_t max;     /* refuse more than this */
	int overflow;
};

/* Append a chunk, refusing (and so aborting the transfer) past max. */
static size_t sink_write(char *ptr, size_t size, size_t nmemb, void *arg)
{
	struct sink *s = arg;
	size_t n;
	char *nb;

	if (size != 0 && nmemb > ((size_t)-1) / size)
		return 0;
	n = size * nmemb;
	if (n > s->max - s->len) {
		s->overflow = 1;
		return 0;
	}
	if (s->len + n + 1 > s->cap) {
		size_t ncap = s->cap == 0 ? 4096 : s->cap;

		while (ncap < s->len + n + 1)
			ncap *= 2;
		if ((nb = realloc(s->buf, ncap)) == NULL)
			return 0;
		s->buf = nb;
		s->cap = ncap;
	}
	memcpy(s->buf + s->len, ptr, n);
	s->len += n;
	s->buf[s->len] = '\0';
	return n;
}

static double now_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void ch_fetch_result_free(ch_fetch_result_t *r)
{
	if (r == NULL)
		return;
	free(r->body);
	r->body = NULL;
	r->body_len = 0;
}

int ch_fetch(ch_fetch_result_t *out, const ch_allow_t *e, const char *url,
    long connect_ms, long total_ms, size_t max_bytes, char *err,
    size_t errlen)
{
	CURL *c = NULL;
	struct curl_slist *hdr = NULL;
	struct sink s = { .max = max_bytes };
	char cerr[CURL_ERROR_SIZE] = "";
	CURLcode cc;
	double t0 = now_seconds();
	int rc = -1;

	memset(out, 0, sizeof(*out));
	if ((c = curl_easy_init()) == NULL ||
	    (hdr = curl_slist_append(NULL, "Accept: application/json")) == NULL) {
		util_err_set(err, errlen, "out of memory");
		out->transport_error = 1;
		goto out;
	}
	if (curl_easy_setopt(c, CURLOPT_URL, url) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https") != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "https") != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_CAINFO, e->ca_root) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_CAPATH, NULL) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_SSLCERT, e->client_cert) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_SSLCERTTYPE, "PEM") != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_SSLKEY, e->client_key) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_SSLKEYTYPE, "PEM") != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_SSLVERSION,
	    (long)CURL_SSLVERSION_TLSv1_2) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, connect_ms) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, total_ms) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_PROXY, "") != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE,
	    (curl_off_t)max_bytes) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink_write) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_WRITEDATA, &s) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, cerr) != CURLE_OK) {
		util_err_set(err, errlen, "libcurl refused an option");
		out->transport_error = 1;
		goto out;
	}
	cc = curl_easy_perform(c);
	out->seconds = now_seconds() - t0;
	if (cc != CURLE_OK) {
		out->transport_error = 1;
		out->timed_out = cc == CURLE_OPERATION_TIMEDOUT;
		if (s.overflow || cc == CURLE_FILESIZE_EXCEEDED)
			util_err_set(err, errlen, "CA response larger than %zu bytes",
			    max_bytes);
		else
			util_err_set(err, errlen, "CA fetch failed: %s%s%s",
			    curl_easy_strerror(cc), cerr[0] != '\0' ? ": " : "",
			    cerr);
		goto out;
	}
	if (curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out->http_status)
	    != CURLE_OK) {
		util_err_set(err, errlen, "no HTTP status");
		out->transport_error = 1;
		goto out;
	}
	out->body = s.buf;
	out->body_len = s.len;
	s.buf = NULL;
	rc = 0;
out:
	free(s.buf);
	curl_slist_free_all(hdr);
	curl_easy_cleanup(c);
	return rc;
}
