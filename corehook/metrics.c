/* metrics.c — corehook's counters and the CA fetch latency histogram in
 * Prometheus text format. Lock-free: every counter is an atomic. */
#include "ch_int.h"

#include <stdarg.h>
#include <stdio.h>

const char *const ch_prov_outcome_names[CH_PROV_NOUTCOMES] = {
	"provisioned",
	"not_allowed",
	"unknown_device",
	"revoked",
	"suspended",
	"invalid_certificate",
	"ca_unavailable",
	"malformed",
	"internal",
	"rate_limited",
	"unsigned",
	"bad_signature",
	"replay",
	"wrong_network",
	"unconcealable",
};

const char *const ch_aka_outcome_names[CH_AKA_NOUTCOMES] = {
	"success",
	"res_mismatch",
	"resync",
	"resync_failed",
	"unknown_subscriber",
	"ue_rejected",
	"promoted",
};

/* Upper bounds (seconds) of the latency buckets; the last is +Inf. */
static const double lat_bounds[CH_LAT_BUCKETS - 1] = {
	0.005,
	0.01,
	0.025,
	0.05,
	0.1,
	0.25,
	0.5,
	1,
	2.5,
	5,
	10,
};

/* Count one CA fetch of seconds in the latency histogram. */
void ch_metrics_fetch_observe(ch_metrics_t *m, double seconds)
{
	size_t i;

	for (i = 0; i < CH_LAT_BUCKETS - 1; i++)
		if (seconds <= lat_bounds[i])
			break;
	atomic_fetch_add(&m->lat_bucket[i], 1);
	atomic_fetch_add(&m->lat_count, 1);
	atomic_fetch_add(&m->lat_sum_us, (uint_fast64_t)(seconds * 1e6));
}

/* printf into buf at *off; -1 once it no longer fits. */
int ch_text_put(char *buf, size_t cap, size_t *off, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (*off >= cap)
		return -1;
	va_start(ap, fmt);
	n = vsnprintf(buf + *off, cap - *off, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= cap - *off)
		return -1;
	*off += (size_t)n;
	return 0;
}

/* One counter family: HELP, TYPE and a line per value, labelled
 * label="labels[i]" (label NULL: one unlabelled value). */
static int put_family(char *buf, size_t cap, size_t *off, const char *name,
    const char *help, const char *label, const char *const *labels,
    const uint64_t *v, size_t n)
{
	size_t i;

	if (ch_text_put(buf, cap, off, "# HELP %s %s\n# TYPE %s counter\n",
	        name, help, name) != 0)
		return -1;
	for (i = 0; i < n; i++) {
		if (label == NULL ?
		        ch_text_put(buf, cap, off, "%s %llu\n", name,
		            (unsigned long long)v[i]) :
		        ch_text_put(buf, cap, off, "%s{%s=\"%s\"} %llu\n", name,
		            label, labels[i], (unsigned long long)v[i]))
			return -1;
	}
	return 0;
}

/* n counters read into plain numbers. */
static void load_n(uint64_t *dst, const atomic_uint_fast64_t *src, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		dst[i] = atomic_load(&src[i]);
}

/* The CA fetch latency histogram (cumulative buckets, sum, count). */
static int put_fetch_histogram(const ch_metrics_t *m, char *buf, size_t cap,
    size_t *off)
{
	uint64_t cum = 0;
	size_t i;

	if (ch_text_put(buf, cap, off,
	        "# HELP corehook_ca_fetch_seconds "
	        "Latency of security context fetches from the CA.\n"
	        "# TYPE corehook_ca_fetch_seconds histogram\n") != 0)
		return -1;
	for (i = 0; i < CH_LAT_BUCKETS; i++) {
		cum += atomic_load(&m->lat_bucket[i]);
		if (i < CH_LAT_BUCKETS - 1 ?
		        ch_text_put(buf, cap, off,
		            "corehook_ca_fetch_seconds_bucket{le=\"%g\"} %llu\n",
		            lat_bounds[i], (unsigned long long)cum) :
		        ch_text_put(buf, cap, off,
		            "corehook_ca_fetch_seconds_bucket"
		            "{le=\"+Inf\"} %llu\n",
		            (unsigned long long)cum))
			return -1;
	}
	return ch_text_put(buf, cap, off,
	    "corehook_ca_fetch_seconds_sum %.6f\n"
	    "corehook_ca_fetch_seconds_count %llu\n",
	    (double)atomic_load(&m->lat_sum_us) / 1e6,
	    (unsigned long long)atomic_load(&m->lat_count));
}

/* The NAS families: messages by disposition, security discards by reason,
 * security mode procedures, concealed provisioning requests. */
static int put_nas(const ch_metrics_t *m, char *buf, size_t cap, size_t *off)
{
	static const char *const kinds[] = { "received", "retransmission",
		"malformed" };
	static const char *const reasons[] = { "bad_mac", "replay",
		"unprotected" };
	uint64_t v[3];

	v[0] = atomic_load(&m->nas_in);
	v[1] = atomic_load(&m->nas_dup);
	v[2] = atomic_load(&m->nas_malformed);
	if (put_family(buf, cap, off, "corehook_nas_messages_total",
	        "NAS "
	        "messages received, by disposition.",
	        "kind", kinds, v, 3) != 0)
		return -1;
	v[0] = atomic_load(&m->nas_sec_bad_mac);
	v[1] = atomic_load(&m->nas_sec_replay);
	v[2] = atomic_load(&m->nas_sec_plain);
	if (put_family(buf, cap, off, "corehook_nas_security_discarded_total",
	        "NAS messages discarded by the security checks, by reason.",
	        "reason", reasons, v, 3) != 0)
		return -1;
	v[0] = atomic_load(&m->smc_done);
	if (put_family(buf, cap, off, "corehook_security_mode_total",
	        "Security mode procedures completed.", NULL, NULL, v, 1) != 0)
		return -1;
	v[0] = atomic_load(&m->prov_concealed);
	return put_family(buf, cap, off,
	    "corehook_provisioning_concealed_total",
	    "Provisioning requests that came concealed to an onboarding key.",
	    NULL, NULL, v, 1);
}

/* Where provisionings' security contexts came from: certificate checks by
 * path, contexts by source, fetches a token bucket held back. */
static int put_ca(const ch_metrics_t *m, char *buf, size_t cap, size_t *off)
{
	static const char *const paths[CH_CHECK_N] = { "fast", "cached_issuer",
		"full" };
	static const char *const sources[CH_CTX_SRC_N] = { "negative_cache",
		"positive_cache", "revalidated", "fetched" };
	static const char *const limits[CH_RATE_N] = { "source", "device" };
	uint64_t v[CH_CTX_SRC_N];

	load_n(v, m->cert_check, CH_CHECK_N);
	if (put_family(buf, cap, off, "corehook_device_cert_checks_total",
	        "Device certificates accepted, by how they were verified.",
	        "path", paths, v, CH_CHECK_N) != 0)
		return -1;
	load_n(v, m->ctx_source, CH_CTX_SRC_N);
	if (put_family(buf, cap, off, "corehook_ca_context_total",
	        "Security "
	        "contexts a provisioning needed, by where they came from.",
	        "source", sources, v, CH_CTX_SRC_N) != 0)
		return -1;
	load_n(v, m->rate_limited, CH_RATE_N);
	return put_family(buf, cap, off, "corehook_ca_rate_limited_total",
	    "CA fetches not made because a token bucket was empty.", "limit",
	    limits, v, CH_RATE_N);
}

/* Every counter family in Prometheus text (COREHOOK_ERR_SPACE). */
int ch_metrics_format(const ch_metrics_t *m, char *buf, size_t cap)
{
	uint64_t v[CH_PROV_NOUTCOMES];
	size_t off = 0;

	if (cap == 0)
		return COREHOOK_ERR_SPACE;
	buf[0] = '\0';
	load_n(v, m->prov, CH_PROV_NOUTCOMES);
	if (put_family(buf, cap, &off, "corehook_provisionings_total",
	        "Provisioning registrations by outcome.", "outcome",
	        ch_prov_outcome_names, v, CH_PROV_NOUTCOMES) != 0)
		return COREHOOK_ERR_SPACE;
	load_n(v, m->aka, CH_AKA_NOUTCOMES);
	if (put_family(buf, cap, &off, "corehook_aka_total", "5G-AKA outcomes.",
	        "outcome", ch_aka_outcome_names, v, CH_AKA_NOUTCOMES) != 0 ||
	    put_fetch_histogram(m, buf, cap, &off) != 0 ||
	    put_nas(m, buf, cap, &off) != 0 || put_ca(m, buf, cap, &off) != 0)
		return COREHOOK_ERR_SPACE;
	return COREHOOK_OK;
}
