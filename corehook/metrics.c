/* metrics.c — corehook's counters and the CA fetch latency histogram in
 * Prometheus text format. Lock-free: every counter is an atomic. */
#include "ch_int.h"

#include <stdarg.h>
#include <stdio.h>

const char *const ch_prov_outcome_names[CH_PROV_NOUTCOMES] = {
	"provisioned", "not_allowed", "unknown_device", "revoked", "suspended",
	"invalid_certificate", "ca_unavailable", "malformed", "internal",
	"rate_limited", "unsigned", "bad_signature", "replay", "wrong_network",
	"unconcealable",
};

const char *const ch_aka_outcome_names[CH_AKA_NOUTCOMES] = {
	"success", "res_mismatch", "resync", "resync_failed",
	"unknown_subscriber", "ue_rejected", "promoted",
};

/* Upper bounds (seconds) of the latency buckets; the last is +Inf. */
static const double lat_bounds[CH_LAT_BUCKETS - 1] = {
	0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
};

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

/* Append to buf at *off; -1 once it no longer fits. */
static int put(char *buf, size_t cap, size_t *off, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int put(char *buf, size_t cap, size_t *off, const char *fmt, ...)
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

int ch_metrics_format(const ch_metrics_t *m, char *buf, size_t cap)
{
	size_t off = 0, i;
	uint64_t cum = 0;

	if (cap == 0)
		return COREHOOK_ERR_SPACE;
	buf[0] = '\0';
	if (put(buf, cap, &off, "# HELP corehook_provisionings_total"
	    " Provisioning registrations by outcome.\n"
	    "# TYPE corehook_provisionings_total counter\n") != 0)
		return COREHOOK_ERR_SPACE;
	for (i = 0; i < CH_PROV_NOUTCOMES; i++)
		if (put(buf, cap, &off, "corehook_provisionings_total{outcome=\"%s\"}"
		    " %llu\n", ch_prov_outcome_names[i], (unsigned long long)
		    atomic_load(&m->prov[i])) != 0)
			return COREHOOK_ERR_SPACE;
	if (put(buf, cap, &off, "# HELP corehook_aka_total 5G-AKA outcomes.\n"
	    "# TYPE corehook_aka_total counter\n") != 0)
		return COREHOOK_ERR_SPACE;
	for (i = 0; i < CH_AKA_NOUTCOMES; i++)
		if (put(buf, cap, &off, "corehook_aka_total{outcome=\"%s\"} %llu\n",
		    ch_aka_outcome_names[i], (unsigned long long)
		    atomic_load(&m->aka[i])) != 0)
			return COREHOOK_ERR_SPACE;
	if (put(buf, cap, &off, "# HELP corehook_ca_fetch_seconds Latency of"
	    " security context fetches from the CA.\n"
	    "# TYPE corehook_ca_fetch_seconds histogram\n") != 0)
		return COREHOOK_ERR_SPACE;
	for (i = 0; i < CH_LAT_BUCKETS; i++) {
		cum += atomic_load(&m->lat_bucket[i]);
		if (i < CH_LAT_BUCKETS - 1) {
			if (put(buf, cap, &off, "corehook_ca_fetch_seconds_bucket"
			    "{le=\"%g\"} %llu\n", lat_bounds[i],
			    (unsigned long long)cum) != 0)
				return COREHOOK_ERR_SPACE;
		} else if (put(buf, cap, &off, "corehook_ca_fetch_seconds_bucket"
		    "{le=\"+Inf\"} %llu\n", (unsigned long long)cum) != 0)
			return COREHOOK_ERR_SPACE;
	}
	if (put(buf, cap, &off, "corehook_ca_fetch_seconds_sum %.6f\n"
	    "corehook_ca_fetch_seconds_count %llu\n",
	    (double)atomic_load(&m->lat_sum_us) / 1e6,
	    (unsigned long long)atomic_load(&m->lat_count)) != 0)
		return COREHOOK_ERR_SPACE;
	if (put(buf, cap, &off, "# HELP corehook_nas_messages_total NAS"
	    " messages received, by disposition.\n"
	    "# TYPE corehook_nas_messages_total counter\n"
	    "corehook_nas_messages_total{kind=\"received\"} %llu\n"
	    "corehook_nas_messages_total{kind=\"retransmission\"} %llu\n"
	    "corehook_nas_messages_total{kind=\"malformed\"} %llu\n",
	    (unsigned long long)atomic_load(&m->nas_in),
	    (unsigned long long)atomic_load(&m->nas_dup),
	    (unsigned long long)atomic_load(&m->nas_malformed)) != 0)
		return COREHOOK_ERR_SPACE;
	if (put(buf, cap, &off, "# HELP corehook_nas_security_discarded_total"
	    " NAS messages discarded by the security checks, by reason.\n"
	    "# TYPE corehook_nas_security_discarded_total counter\n"
	    "corehook_nas_security_discarded_total{reason=\"bad_mac\"} %llu\n"
	    "corehook_nas_security_discarded_total{reason=\"replay\"} %llu\n"
	    "corehook_nas_security_discarded_total{reason=\"unprotected\"}"
	    " %llu\n"
	    "# HELP corehook_security_mode_total Security mode procedures"
	    " completed.\n"
	    "# TYPE corehook_security_mode_total counter\n"
	    "corehook_security_mode_total %llu\n"
	    "# HELP corehook_provisioning_concealed_total Provisioning requests"
	    " that came concealed to an onboarding key.\n"
	    "# TYPE corehook_provisioning_concealed_total counter\n"
	    "corehook_provisioning_concealed_total %llu\n",
	    (unsigned long long)atomic_load(&m->nas_sec_bad_mac),
	    (unsigned long long)atomic_load(&m->nas_sec_replay),
	    (unsigned long long)atomic_load(&m->nas_sec_plain),
	    (unsigned long long)atomic_load(&m->smc_done),
	    (unsigned long long)atomic_load(&m->prov_concealed)) != 0)
		return COREHOOK_ERR_SPACE;
	if (put(buf, cap, &off, "# HELP corehook_device_cert_checks_total"
	    " Device certificates accepted, by how they were verified.\n"
	    "# TYPE corehook_device_cert_checks_total counter\n"
	    "corehook_device_cert_checks_total{path=\"fast\"} %llu\n"
	    "corehook_device_cert_checks_total{path=\"cached_issuer\"} %llu\n"
	    "corehook_device_cert_checks_total{path=\"full\"} %llu\n",
	    (unsigned long long)atomic_load(&m->cert_check[CH_CHECK_FAST]),
	    (unsigned long long)atomic_load(&m->cert_check[CH_CHECK_CACHED]),
	    (unsigned long long)atomic_load(&m->cert_check[CH_CHECK_FULL]))
	    != 0)
		return COREHOOK_ERR_SPACE;
	if (put(buf, cap, &off, "# HELP corehook_ca_context_total Security"
	    " contexts a provisioning needed, by where they came from.\n"
	    "# TYPE corehook_ca_context_total counter\n"
	    "corehook_ca_context_total{source=\"negative_cache\"} %llu\n"
	    "corehook_ca_context_total{source=\"positive_cache\"} %llu\n"
	    "corehook_ca_context_total{source=\"revalidated\"} %llu\n"
	    "corehook_ca_context_total{source=\"fetched\"} %llu\n",
	    (unsigned long long)atomic_load(&m->ctx_source[CH_CTX_NEG_HIT]),
	    (unsigned long long)atomic_load(&m->ctx_source[CH_CTX_POS_FRESH]),
	    (unsigned long long)atomic_load(
	    &m->ctx_source[CH_CTX_POS_REVALIDATED]),
	    (unsigned long long)atomic_load(&m->ctx_source[CH_CTX_FETCHED]))
	    != 0)
		return COREHOOK_ERR_SPACE;
	if (put(buf, cap, &off, "# HELP corehook_ca_rate_limited_total CA"
	    " fetches not made because a token bucket was empty.\n"
	    "# TYPE corehook_ca_rate_limited_total counter\n"
	    "corehook_ca_rate_limited_total{limit=\"source\"} %llu\n"
	    "corehook_ca_rate_limited_total{limit=\"device\"} %llu\n",
	    (unsigned long long)atomic_load(&m->rate_limited[CH_RATE_SOURCE]),
	    (unsigned long long)atomic_load(&m->rate_limited[CH_RATE_DEVICE]))
	    != 0)
		return COREHOOK_ERR_SPACE;
	return COREHOOK_OK;
}
