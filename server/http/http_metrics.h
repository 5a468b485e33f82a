/* http_metrics.h — Prometheus counters of the HTTP service: requests by
 * route and status, a latency histogram, certificates issued and revoked,
 * database errors, connections refused or cut by the connection limits. Lock-free (C11 atomics); one instance per server. */
#ifndef PROVCA_HTTP_METRICS_H
#define PROVCA_HTTP_METRICS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define HTTP_METRICS_MAX_ROUTES 96 /* route slots; the last is "unmatched" */
#define HTTP_METRICS_NSTATUS 24
#define HTTP_METRICS_NBUCKETS 12

typedef struct {
	const char *route_label[HTTP_METRICS_MAX_ROUTES];
	size_t nroutes; /* used slots, "unmatched" included */
	atomic_uint_fast64_t req[HTTP_METRICS_MAX_ROUTES][HTTP_METRICS_NSTATUS];
	atomic_uint_fast64_t
	    lat_bucket[HTTP_METRICS_NBUCKETS]; /* cumulative at output */
	atomic_uint_fast64_t lat_count;
	atomic_uint_fast64_t lat_sum_us;
	atomic_uint_fast64_t issued;
	atomic_uint_fast64_t revoked;
	atomic_uint_fast64_t db_errors;
	atomic_uint_fast64_t in_flight;
	atomic_uint_fast64_t conn_refused; /* over the per-address limit */
	atomic_uint_fast64_t handshake_timeouts; /* TLS handshake cut */
} http_metrics_t;

/* Zero m and name its route slots: labels[i] for i < n (n is capped so one
 * slot stays for unmatched requests). Returns the unmatched slot index. */
size_t http_metrics_init(http_metrics_t *m, const char *const *labels,
    size_t n);

/* Count one finished request on route slot `route` with `status`, taking
 * `micros` microseconds. */
void http_metrics_observe(http_metrics_t *m, size_t route, int status,
    uint64_t micros);

/* Render the Prometheus text exposition into a malloc'd string (*out,
 * *outlen). Returns 0, or -1 when out of memory. */
int http_metrics_render(char **out, size_t *outlen, const http_metrics_t *m);

#endif
