/* fetch.c — GET a device's security context from an allow-listed CA with
 * libcurl: mTLS, peer and host verification, https only, no redirects,
 * connect and total timeouts, a cap on the response size; conditional GETs
 * (If-None-Match) and the answer's ETag and Cache-Control for the caches. Each CA has a
 * small pool of easy handles that keep their verified connection open
 * (keep-alive) and share TLS sessions, so a device costs one request on an
 * open connection, not a TCP connect plus a full mTLS handshake. */
#include "ch_int.h"

#include <ctype.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>

#include "util.h"

/* A connection idle longer than this is not reused: ca-server closes idle
 * keep-alive connections after keep_alive_timeout_ms (2 s by default), and a
 * request racing that close would fail as "CA unreachable". */
#define FETCH_MAXAGE_S 1L

struct ch_fetcher {
	const ch_allow_t *e;
	long connect_ms, total_ms;
	size_t max_bytes;
	struct curl_slist *hdr; /* shared by every handle, read-only */
	CURLSH *share;          /* TLS sessions and DNS of this CA */
	pthread_mutex_t share_mu[CURL_LOCK_DATA_LAST];
	pthread_mutex_t mu; /* the pool below */
	pthread_cond_t cv;
	CURL **idle;
	size_t nidle, nopen, max;
};

struct sink {
	char *buf;
	size_t len;
	size_t cap; /* allocated */
	size_t max; /* refuse more than this */
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

/* 1 if the header line (n bytes) is the header name (any case); its
 * value, blanks and line end trimmed, in *v, *vn. */
static int header_is(const char *line, size_t n, const char *name,
    const char **v, size_t *vn)
{
	size_t k = strlen(name);

	if (n <= k || strncasecmp(line, name, k) != 0 || line[k] != ':')
		return 0;
	line += k + 1;
	n -= k + 1;
	while (n > 0 && (*line == ' ' || *line == '\t')) {
		line++;
		n--;
	}
	while (n > 0 &&
	    (line[n - 1] == '\r' || line[n - 1] == '\n' || line[n - 1] == ' ' ||
	        line[n - 1] == '\t'))
		n--;
	*v = line;
	*vn = n;
	return 1;
}

void ch_cache_control_parse(ch_fetch_result_t *r, const char *v, size_t n)
{
	size_t i = 0, j, k;

	while (i < n) {
		while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
			i++;
		for (j = i; j < n && v[j] != ','; j++)
			;
		k = j;
		while (k > i && (v[k - 1] == ' ' || v[k - 1] == '\t'))
			k--;
		if (k - i == 8 && strncasecmp(v + i, "no-cache", 8) == 0)
			r->no_cache = 1;
		else if (k - i == 8 && strncasecmp(v + i, "no-store", 8) == 0)
			r->no_store = 1;
		else if (k - i > 8 && strncasecmp(v + i, "max-age=", 8) == 0) {
			long a = 0;
			size_t d;

			/* Digits only, at most 9 of them (RFC 9111 5.2: a
			 * delta-seconds too large is as good as "long"). */
			for (d = i + 8; d < k && d < i + 17 &&
			     isdigit((unsigned char)v[d]);
			     d++)
				a = a * 10 + (v[d] - '0');
			if (d == k && d > i + 8)
				r->max_age = a;
		}
		i = j + 1;
	}
}

/* Keep the ETag (a quoted string of visible ASCII, optionally W/-weak)
 * and the Cache-Control directives of a header line. */
static size_t header_read(char *ptr, size_t size, size_t nmemb, void *arg)
{
	ch_fetch_result_t *r = arg;
	size_t n, vn, i;
	const char *v;

	if (size != 0 && nmemb > ((size_t)-1) / size)
		return 0;
	n = size * nmemb;
	/* A new response (after a 100-continue, say) starts over. */
	if (n >= 5 && strncmp(ptr, "HTTP/", 5) == 0) {
		r->etag[0] = '\0';
		r->max_age = -1;
		r->no_cache = r->no_store = 0;
	} else if (header_is(ptr, n, "etag", &v, &vn)) {
		int ok = vn >= 2 && vn <= CH_ETAG_MAX && v[vn - 1] == '"' &&
		    (v[0] == '"' || (vn >= 4 && strncmp(v, "W/\"", 3) == 0));

		for (i = 0; ok && i < vn; i++)
			ok = v[i] > 0x20 && v[i] < 0x7f;
		if (ok) {
			memcpy(r->etag, v, vn);
			r->etag[vn] = '\0';
		}
	} else if (header_is(ptr, n, "cache-control", &v, &vn)) {
		ch_cache_control_parse(r, v, vn);
	}
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

static void share_lock(CURL *h, curl_lock_data d, curl_lock_access a, void *arg)
{
	struct ch_fetcher *f = arg;

	(void)h;
	(void)a;
	if ((int)d >= 0 && d < CURL_LOCK_DATA_LAST)
		pthread_mutex_lock(&f->share_mu[d]);
}

static void share_unlock(CURL *h, curl_lock_data d, void *arg)
{
	struct ch_fetcher *f = arg;

	(void)h;
	if ((int)d >= 0 && d < CURL_LOCK_DATA_LAST)
		pthread_mutex_unlock(&f->share_mu[d]);
}

int ch_fetcher_new(ch_fetcher **out, const ch_allow_t *e, size_t connections,
    long connect_ms, long total_ms, size_t max_bytes, char *err, size_t errlen)
{
	ch_fetcher *f;
	int i;

	*out = NULL;
	if ((f = calloc(1, sizeof(*f))) == NULL ||
	    (f->idle = calloc(connections, sizeof(*f->idle))) == NULL) {
		free(f);
		util_err_set(err, errlen, "out of memory");
		return -1;
	}
	f->e = e;
	f->connect_ms = connect_ms;
	f->total_ms = total_ms;
	f->max_bytes = max_bytes;
	f->max = connections;
	pthread_mutex_init(&f->mu, NULL);
	pthread_cond_init(&f->cv, NULL);
	for (i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_init(&f->share_mu[i], NULL);
	if ((f->hdr = curl_slist_append(NULL, "Accept: application/json")) ==
	        NULL ||
	    (f->share = curl_share_init()) == NULL ||
	    curl_share_setopt(f->share, CURLSHOPT_LOCKFUNC, share_lock) !=
	        CURLSHE_OK ||
	    curl_share_setopt(f->share, CURLSHOPT_UNLOCKFUNC, share_unlock) !=
	        CURLSHE_OK ||
	    curl_share_setopt(f->share, CURLSHOPT_USERDATA, f) != CURLSHE_OK ||
	    curl_share_setopt(f->share, CURLSHOPT_SHARE,
	        CURL_LOCK_DATA_SSL_SESSION) != CURLSHE_OK ||
	    curl_share_setopt(f->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS) !=
	        CURLSHE_OK) {
		util_err_set(err, errlen, "libcurl share set-up failed");
		ch_fetcher_free(f);
		return -1;
	}
	*out = f;
	return 0;
}

void ch_fetcher_free(ch_fetcher *f)
{
	size_t k;
	int i;

	if (f == NULL)
		return;
	for (k = 0; k < f->nidle; k++)
		curl_easy_cleanup(f->idle[k]);
	if (f->share != NULL)
		curl_share_cleanup(f->share);
	curl_slist_free_all(f->hdr);
	for (i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_destroy(&f->share_mu[i]);
	pthread_mutex_destroy(&f->mu);
	pthread_cond_destroy(&f->cv);
	free(f->idle);
	free(f);
}

/* A new handle with every option that does not change per request. */
static CURL *handle_new(ch_fetcher *f)
{
	const ch_allow_t *e = f->e;
	CURL *c = curl_easy_init();

	if (c == NULL)
		return NULL;
	if (curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https") != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "https") !=
	        CURLE_OK ||
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
	    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, f->connect_ms) !=
	        CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, f->total_ms) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_PROXY, "") != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE,
	        (curl_off_t)f->max_bytes) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_HTTPHEADER, f->hdr) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink_write) !=
	        CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, header_read) !=
	        CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_SHARE, f->share) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_MAXCONNECTS, 1L) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_MAXAGE_CONN, FETCH_MAXAGE_S) !=
	        CURLE_OK) {
		curl_easy_cleanup(c);
		return NULL;
	}
	return c;
}

/* Borrow a handle: an idle one, a new one while under the bound, else wait
 * for one to come back. */
static CURL *handle_get(ch_fetcher *f)
{
	CURL *c = NULL;

	pthread_mutex_lock(&f->mu);
	while (f->nidle == 0 && f->nopen >= f->max)
		pthread_cond_wait(&f->cv, &f->mu);
	if (f->nidle > 0) {
		c = f->idle[--f->nidle];
		pthread_mutex_unlock(&f->mu);
		return c;
	}
	f->nopen++;
	pthread_mutex_unlock(&f->mu);
	if ((c = handle_new(f)) == NULL) {
		pthread_mutex_lock(&f->mu);
		f->nopen--;
		pthread_cond_signal(&f->cv);
		pthread_mutex_unlock(&f->mu);
	}
	return c;
}

/* Give a handle back; keep = 0 closes it (after a transport failure its
 * connection is of no further use). */
static void handle_put(ch_fetcher *f, CURL *c, int keep)
{
	if (c == NULL)
		return;
	(void)curl_easy_setopt(c, CURLOPT_WRITEDATA, NULL);
	(void)curl_easy_setopt(c, CURLOPT_HEADERDATA, NULL);
	(void)curl_easy_setopt(c, CURLOPT_HTTPHEADER, f->hdr);
	(void)curl_easy_setopt(c, CURLOPT_ERRORBUFFER, NULL);
	if (!keep) {
		curl_easy_cleanup(c);
		c = NULL;
	}
	pthread_mutex_lock(&f->mu);
	if (c != NULL)
		f->idle[f->nidle++] = c;
	else
		f->nopen--;
	pthread_cond_signal(&f->cv);
	pthread_mutex_unlock(&f->mu);
}

int ch_fetch(ch_fetch_result_t *out, ch_fetcher *f, const char *url,
    const char *etag, char *err, size_t errlen)
{
	CURL *c = NULL;
	struct curl_slist *hdr = NULL, *h2;
	struct sink s = { .max = f->max_bytes };
	char cerr[CURL_ERROR_SIZE] = "", inm[CH_ETAG_MAX + 32];
	CURLcode cc;
	double t0 = now_seconds();
	int rc = -1, keep = 0;

	memset(out, 0, sizeof(*out));
	out->max_age = -1;
	if (etag != NULL) {
		/* Only a tag this file accepted (header_read) comes back. */
		if (strlen(etag) > CH_ETAG_MAX ||
		    strpbrk(etag, "\r\n") != NULL) {
			util_err_set(err, errlen, "bad ETag to revalidate");
			out->transport_error = 1;
			goto out;
		}
		snprintf(inm, sizeof(inm), "If-None-Match: %s", etag);
		if ((hdr = curl_slist_append(NULL,
		         "Accept: application/json")) == NULL ||
		    (h2 = curl_slist_append(hdr, inm)) == NULL) {
			util_err_set(err, errlen, "out of memory");
			out->transport_error = 1;
			goto out;
		}
		hdr = h2;
	}
	if ((c = handle_get(f)) == NULL) {
		util_err_set(err, errlen, "libcurl handle set-up failed");
		out->transport_error = 1;
		goto out;
	}
	if (curl_easy_setopt(c, CURLOPT_URL, url) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_WRITEDATA, &s) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_HEADERDATA, out) != CURLE_OK ||
	    (hdr != NULL &&
	        curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr) != CURLE_OK) ||
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
			util_err_set(err, errlen,
			    "CA response larger than %zu bytes", f->max_bytes);
		else
			util_err_set(err, errlen, "CA fetch failed: %s%s%s",
			    curl_easy_strerror(cc), cerr[0] != '\0' ? ": " : "",
			    cerr);
		goto out;
	}
	if (curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out->http_status) !=
	    CURLE_OK) {
		util_err_set(err, errlen, "no HTTP status");
		out->transport_error = 1;
		goto out;
	}
	out->body = s.buf;
	out->body_len = s.len;
	s.buf = NULL;
	keep = 1;
	rc = 0;
out:
	free(s.buf);
	handle_put(f, c, keep);
	curl_slist_free_all(hdr);
	return rc;
}
