/* ue_swarm.h — many simulated devices in one process for load: each is
 * created (or taken from a prepared set folder), enrolled, provisioned and
 * registered by a pool of threads; the result is throughput, latency
 * percentiles and failures counted by cause. */
#ifndef PROVCA_UE_SWARM_H
#define PROVCA_UE_SWARM_H

#include <stddef.h>
#include <stdint.h>

#include "ue.h"
#include "ue_attach.h"

#define UE_SWARM_MAX_COUNT 100000
#define UE_SWARM_MAX_CONCURRENCY 256
#define UE_SWARM_MAX_CAUSES 16

/* The swarm's retransmission timer (flags override): first wait 150 ms,
 * doubling to 1.2 s, 5 retransmissions (sends at 0, 0.15, 0.45, 1.05, 2.25,
 * 3.45 s). A real device's attach keeps 1 s fixed, 3 retransmissions. */
#define UE_SWARM_TIMEOUT_MS 150
#define UE_SWARM_MAX_TIMEOUT_MS 1200
#define UE_SWARM_RETRANSMITS 5

typedef struct {
	unsigned count;       /* devices, 1..UE_SWARM_MAX_COUNT */
	unsigned concurrency; /* threads, 1..UE_SWARM_MAX_CONCURRENCY */
	const char *set_dir;  /* state folders set_dir/dev-NNNNNN, kept and
	                            reused; NULL = a temporary folder */
	int reprovision;      /* drop stored credentials before attach */
	const char *manufacturer_id;
	const char *model;
	const char *serial_prefix; /* NULL = random per run */
	ue_key_type key_type;
	ue_enroll_opts_t enroll; /* CA, manufacturer credentials */
	ue_policy_t policy;      /* cores */
	unsigned deadline_s;     /* no new device starts after this; 0 = 600 */
	int volatile_creds;      /* 1: devices keep credentials and SQN_MS in
	                            memory (provision every run, write nothing:
	                            no per-flow file creation and fsync in the
	                            load generator) */
	int no_trust_cache;      /* 1: every device loads its Root and verifies
	                            every container in full, as a real device */
	/* Called from the coordinating thread about every 200 ms and at the
	 * end; may be NULL. */
	void (*progress)(void *ctx, unsigned done, unsigned failed,
	    unsigned total);
	void *progress_ctx;
} ue_swarm_opts_t;

typedef struct {
	char cause[64];
	unsigned n;
	char example[160]; /* one message of this kind */
} ue_swarm_cause_t;

typedef struct {
	unsigned total, completed, failed, not_started;
	double elapsed_s, flows_per_s;
	unsigned prov_p50, prov_p95, prov_p99; /* ms */
	unsigned reg_p50, reg_p95, reg_p99;    /* ms */
	unsigned flow_p50, flow_p95, flow_p99; /* ms, whole attach of a
	                                          completed device */
	unsigned prov_n, reg_n;                /* samples behind them (flow:
	                                          reg_n, one per completed) */
	uint64_t retransmissions;              /* by all devices, all steps */
	uint64_t verify_cached, verify_full;   /* containers verified from the
	                                          trust cache / in full */
	ue_swarm_cause_t causes[UE_SWARM_MAX_CAUSES];
	size_t ncauses;
} ue_swarm_result_t;

/* Run the swarm. Returns 0 when it ran (out says how many failed), or an
 * error for bad options or a set folder that cannot be made. */
int ue_swarm_run(ue_swarm_result_t *out, const ue_swarm_opts_t *o, char *err,
    size_t errlen);

/* The q-th percentile (0..100, nearest rank) of n sorted values. */
unsigned ue_percentile(const unsigned *sorted, size_t n, unsigned q);

#endif
