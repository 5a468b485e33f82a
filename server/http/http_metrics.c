/* http_metrics.c — counting requests and rendering them in the Prometheus
 * text format (version 0.0.4). */
#include "http_metrics.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Status codes the server sends; anything else lands in the last slot. */
static const int status_codes[HTTP_METRICS_NSTATUS - 1] = { 200, 201, 204, 206,
	301, 302, 304, 400, 401, 403, 404, 405, 406, 409, 411, 413, 415, 422,
	429, 500, 501, 503, 504 };

/* Upper bounds of the latency buckets, in microseconds. */
static const uint64_t bucket_us[HTTP_METRICS_NBUCKETS - 1] = { 1000, 2500, 5000,
	10000, 25000, 50000, 100000, 250000, 500000, 1000000, 5000000 };
static const char *const bucket_le[HTTP_METRICS_NBUCKETS] = { "0.001", "0.0025",
	"0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "5",
	"+Inf" };

static size_t status_slot(int status)
{
	size_t i;

	for (i = 0; i < HTTP_METRICS_NSTATUS - 1; i++)
		if (status_codes[i] == status)
			return i;
	return HTTP_METRICS_NSTATUS - 1;
}

size_t http_metrics_init(http_metrics_t *m, const char *const *labels, size_t n)
{
	size_t i;

	memset(m, 0, sizeof(*m));
	if (n > HTTP_METRICS_MAX_ROUTES - 1)
		n = HTTP_METRICS_MAX_ROUTES - 1;
	for (i = 0; i < n; i++)
		m->route_label[i] = labels[i];
	m->route_label[n] = "unmatched";
	m->nroutes = n + 1;
	return n;
}

void http_metrics_observe(http_metrics_t *m, size_t route, int status,
    uint64_t micros)
{
	size_t b;

	if (route >= m->nroutes)
		route = m->nroutes - 1;
	atomic_fetch_add(&m->req[route][status_slot(status)], 1);
	for (b = 0; b < HTTP_METRICS_NBUCKETS - 1; b++)
		if (micros <= bucket_us[b])
			break;
	atomic_fetch_add(&m->lat_bucket[b], 1);
	atomic_fetch_add(&m->lat_count, 1);
	atomic_fetch_add(&m->lat_sum_us, micros);
}

typedef struct {
	char *buf;
	size_t len, cap;
	int failed;
} sbuf;

static void sb_printf(sbuf *sb, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Append formatted text, growing the buffer; remembers failure. */
static void sb_printf(sbuf *sb, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (sb->failed)
		return;
	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(sb->buf + sb->len, sb->cap - sb->len, fmt, ap);
		va_end(ap);
		if (n < 0) {
			sb->failed = 1;
			return;
		}
		if ((size_t)n < sb->cap - sb->len) {
			sb->len += (size_t)n;
			return;
		}
		size_t ncap = sb->cap * 2 + (size_t)n + 1;
		char *nb = realloc(sb->buf, ncap);
		if (nb == NULL) {
			sb->failed = 1;
			return;
		}
		sb->buf = nb;
		sb->cap = ncap;
	}
}

int http_metrics_render(char **out, size_t *outlen, const http_metrics_t *m)
{
	sbuf sb = { NULL, 0, 0, 0 };
	size_t r, s, b;
	uint64_t cum = 0, v;

	sb.cap = 4096;
	sb.buf = malloc(sb.cap);
	if (sb.buf == NULL)
		return -1;
	sb.buf[0] = '\0';

	sb_printf(&sb,
	    "# HELP provca_http_requests_total HTTP requests by route and status.\n"
	    "# TYPE provca_http_requests_total counter\n");
	for (r = 0; r < m->nroutes; r++) {
		for (s = 0; s < HTTP_METRICS_NSTATUS; s++) {
			v = atomic_load(&m->req[r][s]);
			if (v == 0)
				continue;
			if (s < HTTP_METRICS_NSTATUS - 1)
				sb_printf(&sb,
				    "provca_http_requests_total{route=\"%s\",status=\"%d\"} %llu\n",
				    m->route_label[r], status_codes[s],
				    (unsigned long long)v);
			else
				sb_printf(&sb,
				    "provca_http_requests_total{route=\"%s\",status=\"other\"} %llu\n",
				    m->route_label[r], (unsigned long long)v);
		}
	}
	sb_printf(&sb,
	    "# HELP provca_http_request_duration_seconds Time from request read to response sent.\n"
	    "# TYPE provca_http_request_duration_seconds histogram\n");
	for (b = 0; b < HTTP_METRICS_NBUCKETS; b++) {
		cum += atomic_load(&m->lat_bucket[b]);
		sb_printf(&sb,
		    "provca_http_request_duration_seconds_bucket{le=\"%s\"} %llu\n",
		    bucket_le[b], (unsigned long long)cum);
	}
	v = atomic_load(&m->lat_sum_us);
	sb_printf(&sb, "provca_http_request_duration_seconds_sum %llu.%06llu\n",
	    (unsigned long long)(v / 1000000),
	    (unsigned long long)(v % 1000000));
	sb_printf(&sb, "provca_http_request_duration_seconds_count %llu\n",
	    (unsigned long long)atomic_load(&m->lat_count));
	sb_printf(&sb,
	    "# HELP provca_http_requests_in_flight Requests being handled now.\n"
	    "# TYPE provca_http_requests_in_flight gauge\n"
	    "provca_http_requests_in_flight %llu\n",
	    (unsigned long long)atomic_load(&m->in_flight));
	sb_printf(&sb,
	    "# HELP provca_certificates_issued_total Device and principal certificates issued by this process.\n"
	    "# TYPE provca_certificates_issued_total counter\n"
	    "provca_certificates_issued_total %llu\n",
	    (unsigned long long)atomic_load(&m->issued));
	sb_printf(&sb,
	    "# HELP provca_certificates_revoked_total Device certificates revoked by this process.\n"
	    "# TYPE provca_certificates_revoked_total counter\n"
	    "provca_certificates_revoked_total %llu\n",
	    (unsigned long long)atomic_load(&m->revoked));
	sb_printf(&sb,
	    "# HELP provca_db_errors_total Registry operations that failed for reasons other than bad input.\n"
	    "# TYPE provca_db_errors_total counter\n"
	    "provca_db_errors_total %llu\n",
	    (unsigned long long)atomic_load(&m->db_errors));
	sb_printf(&sb,
	    "# HELP provca_connections_refused_total Connections shut at their first TLS step: their address held max_connections_per_address.\n"
	    "# TYPE provca_connections_refused_total counter\n"
	    "provca_connections_refused_total %llu\n",
	    (unsigned long long)atomic_load(&m->conn_refused));
	sb_printf(&sb,
	    "# HELP provca_tls_handshake_timeouts_total Connections cut because their TLS handshake ran past tls_handshake_timeout_ms.\n"
	    "# TYPE provca_tls_handshake_timeouts_total counter\n"
	    "provca_tls_handshake_timeouts_total %llu\n",
	    (unsigned long long)atomic_load(&m->handshake_timeouts));
	if (sb.failed) {
		free(sb.buf);
		return -1;
	}
	*out = sb.buf;
	*outlen = sb.len;
	return 0;
}
