/* ue_swarm.c — a pool of threads that each take the next device number,
 * and create, enroll, provision and register that device; a coordinating
 * thread reports progress and enforces the deadline. */
#define _XOPEN_SOURCE 700 /* nftw */
#include "ue_swarm.h"
#include "util.h"

#include <errno.h>
#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

typedef struct {
	unsigned prov_ms, reg_ms;
	unsigned retransmissions;
	unsigned flow_ms; /* the whole attach: switch-on to Registration
	                       accept (keys, trust, provisioning, registration) */
	int ok;
	char cause[64];
	char detail[160];
} dev_result;

typedef struct {
	const ue_swarm_opts_t *o;
	char base[4096];
	char prefix[40];
	dev_result *res;
	ue_trust_cache *trust; /* Root and verified signer chains, shared */
	pthread_mutex_t lock;
	unsigned next; /* next device number */
	unsigned done;
	unsigned failed;
	uint64_t deadline; /* ue_now_ms() after which nothing new starts */
	uint64_t last_end; /* ue_now_ms() when the last device finished */
} swarm;

unsigned ue_percentile(const unsigned *sorted, size_t n, unsigned q)
{
	size_t rank;

	if (n == 0)
		return 0;
	if (q > 100)
		q = 100;
	/* nearest rank: ceil(q/100 * n), at least 1 */
	rank = ((size_t)q * n + 99) / 100;
	if (rank == 0)
		rank = 1;
	return sorted[rank - 1];
}

static int cmp_uint(const void *a, const void *b)
{
	unsigned x = *(const unsigned *)a, y = *(const unsigned *)b;

	return x < y ? -1 : x > y;
}

/* Classify a failure into a short cause for the summary. */
static void classify(dev_result *r, const char *step, int rc,
    const ue_attach_result_t *ar, const char *err)
{
	if (ar != NULL && rc == UE_ERR_REJECTED && ar->cause >= 0)
		snprintf(r->cause, sizeof(r->cause), "%s: #%d %s", step,
		    ar->cause, ue_cause_name(ar->cause));
	else if (rc == UE_ERR_TIMEOUT)
		snprintf(r->cause, sizeof(r->cause), "%s: timeout", step);
	else if (rc == UE_ERR_HTTP)
		snprintf(r->cause, sizeof(r->cause), "%s: HTTP", step);
	else
		snprintf(r->cause, sizeof(r->cause), "%s: error %d", step, rc);
	snprintf(r->detail, sizeof(r->detail), "%s", err);
}

/* One device's whole life. */
static void device_run(swarm *s, unsigned i)
{
	const ue_swarm_opts_t *o = s->o;
	dev_result *r = &s->res[i];
	char dir[4200], path[4300], err[512] = "";
	ue_device_t dev, got;
	ue_attach_opts_t ao;
	ue_attach_result_t ar;
	uint64_t t0;
	int rc;

	snprintf(dir, sizeof(dir), "%s/dev-%06u", s->base, i);
	if (ue_state_path(path, sizeof(path), dir, UE_F_KEY) != 0 ||
	    access(path, F_OK) != 0) {
		memset(&dev, 0, sizeof(dev));
		snprintf(dev.manufacturer_id, sizeof(dev.manufacturer_id), "%s",
		    o->manufacturer_id);
		snprintf(dev.model, sizeof(dev.model), "%s", o->model);
		snprintf(dev.serial, sizeof(dev.serial), "%s-%06u", s->prefix,
		    i);
		dev.key_type = o->key_type;
		if ((rc = ue_init(dir, &dev, err, sizeof(err))) != 0) {
			classify(r, "init", rc, NULL, err);
			return;
		}
	}
	if ((rc = ue_enroll(&got, dir, &o->enroll, err, sizeof(err))) != 0) {
		classify(r, "enroll", rc, NULL, err);
		return;
	}
	/* Volatile devices neither read nor write stored credentials: they
	 * provision every time and leave the folder as it was. */
	if (o->reprovision && !o->volatile_creds &&
	    ue_state_path(path, sizeof(path), dir, UE_F_CREDS) == 0)
		(void)unlink(path);
	memset(&ao, 0, sizeof(ao));
	ao.dir = dir;
	ao.policy = o->policy;
	ao.trust = s->trust;
	ao.volatile_creds = o->volatile_creds;
	ao.dev = &got; /* ue_enroll just read (or wrote) it */
	t0 = ue_now_ms();
	rc = ue_attach(&ar, &ao, err, sizeof(err));
	r->retransmissions = ar.retransmissions;
	if (rc != 0) {
		classify(r, ar.provisioned ? "register" : "attach", rc, &ar,
		    err);
		return;
	}
	r->prov_ms = ar.provisioned ? ar.prov_ms : 0;
	r->reg_ms = ar.reg_ms;
	r->flow_ms = (unsigned)(ue_now_ms() - t0);
	r->ok = ar.provisioned ? 2 : 1; /* 2: has a provisioning sample */
}

static void *worker(void *arg)
{
	swarm *s = arg;

	for (;;) {
		unsigned i;
		int ok;

		pthread_mutex_lock(&s->lock);
		if (s->next >= s->o->count || ue_now_ms() >= s->deadline) {
			pthread_mutex_unlock(&s->lock);
			return NULL;
		}
		i = s->next++;
		pthread_mutex_unlock(&s->lock);
		device_run(s, i);
		ok = s->res[i].ok != 0;
		pthread_mutex_lock(&s->lock);
		s->last_end = ue_now_ms();
		s->done++;
		if (!ok)
			s->failed++;
		pthread_mutex_unlock(&s->lock);
	}
}

static int rm_entry(const char *path, const struct stat *st, int flag,
    struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void summarise(ue_swarm_result_t *out, const swarm *s, unsigned *prov,
    unsigned *reg, unsigned *flow)
{
	unsigned i;
	size_t k;

	for (i = 0; i < s->o->count; i++) {
		const dev_result *r = &s->res[i];

		if (i >= s->next) {
			out->not_started++;
			continue;
		}
		out->retransmissions += r->retransmissions;
		if (r->ok) {
			out->completed++;
			flow[out->reg_n] = r->flow_ms;
			reg[out->reg_n++] = r->reg_ms;
			if (r->ok == 2)
				prov[out->prov_n++] = r->prov_ms;
			continue;
		}
		out->failed++;
		for (k = 0; k < out->ncauses; k++)
			if (strcmp(out->causes[k].cause, r->cause) == 0)
				break;
		if (k == out->ncauses) {
			if (out->ncauses == UE_SWARM_MAX_CAUSES)
				k = UE_SWARM_MAX_CAUSES -
				    1; /* last bucket: "other" */
			else {
				out->ncauses++;
				snprintf(out->causes[k].cause,
				    sizeof(out->causes[k].cause), "%s",
				    r->cause);
				snprintf(out->causes[k].example,
				    sizeof(out->causes[k].example), "%s",
				    r->detail);
			}
		}
		out->causes[k].n++;
	}
	qsort(prov, out->prov_n, sizeof(unsigned), cmp_uint);
	qsort(reg, out->reg_n, sizeof(unsigned), cmp_uint);
	qsort(flow, out->reg_n, sizeof(unsigned), cmp_uint);
	out->prov_p50 = ue_percentile(prov, out->prov_n, 50);
	out->prov_p95 = ue_percentile(prov, out->prov_n, 95);
	out->prov_p99 = ue_percentile(prov, out->prov_n, 99);
	out->reg_p50 = ue_percentile(reg, out->reg_n, 50);
	out->reg_p95 = ue_percentile(reg, out->reg_n, 95);
	out->reg_p99 = ue_percentile(reg, out->reg_n, 99);
	out->flow_p50 = ue_percentile(flow, out->reg_n, 50);
	out->flow_p95 = ue_percentile(flow, out->reg_n, 95);
	out->flow_p99 = ue_percentile(flow, out->reg_n, 99);
}

/* Check the swarm's options; 0 or UE_ERR_ARG with err set. */
static int swarm_opts_check(const ue_swarm_opts_t *o, char *err, size_t errlen)
{
	if (o->count == 0 || o->count > UE_SWARM_MAX_COUNT ||
	    o->concurrency == 0 || o->concurrency > UE_SWARM_MAX_CONCURRENCY) {
		util_err_set(err, errlen,
		    "count must be 1..%d and concurrency "
		    "1..%d",
		    UE_SWARM_MAX_COUNT, UE_SWARM_MAX_CONCURRENCY);
		return UE_ERR_ARG;
	}
	if (!ue_id_valid(o->manufacturer_id) || !ue_id_valid(o->model)) {
		util_err_set(err, errlen,
		    "swarm needs a valid manufacturer ID and "
		    "model");
		return UE_ERR_ARG;
	}
	if (o->serial_prefix != NULL &&
	    (!ue_id_valid(o->serial_prefix) ||
	        strlen(o->serial_prefix) > 40 - 8)) {
		util_err_set(err, errlen,
		    "serial prefix must be at most 32 "
		    "characters of [A-Za-z0-9._-]");
		return UE_ERR_ARG;
	}
	return UE_OK;
}

/* The devices' serial prefix: the caller's, or fresh per run (a serial
 * with a new key would conflict); 0 or UE_ERR_CRYPTO. */
static int swarm_prefix_set(swarm *s, const ue_swarm_opts_t *o, char *err,
    size_t errlen)
{
	uint8_t rnd[6];

	if (o->serial_prefix != NULL) {
		snprintf(s->prefix, sizeof(s->prefix), "%s", o->serial_prefix);
		return UE_OK;
	}
	if (util_random(rnd, sizeof(rnd)) != 0) {
		util_err_set(err, errlen, "no randomness");
		return UE_ERR_CRYPTO;
	}
	memcpy(s->prefix, "swarm-", 6);
	util_hex_encode(s->prefix + 6, rnd, sizeof(rnd));
	return UE_OK;
}

/* The devices' state folder: the set folder (made if missing), or a
 * temporary one (*tmp = 1, removed at the end); 0 or UE_ERR_IO. */
static int swarm_base_make(swarm *s, int *tmp, const ue_swarm_opts_t *o,
    char *err, size_t errlen)
{
	const char *t = getenv("TMPDIR");

	if (o->set_dir != NULL) {
		if (snprintf(s->base, sizeof(s->base), "%s", o->set_dir) >=
		        (int)sizeof(s->base) - 16 ||
		    (mkdir(s->base, 0700) != 0 && errno != EEXIST)) {
			util_err_set(err, errlen, "set folder %s: %s",
			    o->set_dir, strerror(errno));
			return UE_ERR_IO;
		}
		return UE_OK;
	}
	snprintf(s->base, sizeof(s->base), "%s/ueswarm.XXXXXX",
	    t != NULL && t[0] != '\0' ? t : "/tmp");
	if (mkdtemp(s->base) == NULL) {
		util_err_set(err, errlen, "mkdtemp: %s", strerror(errno));
		return UE_ERR_IO;
	}
	*tmp = 1;
	return UE_OK;
}

/* Wait until every started device has ended (or the deadline stopped new
 * ones), reporting progress every 200 ms. */
static void swarm_wait(swarm *s, const ue_swarm_opts_t *o)
{
	for (;;) {
		unsigned d, f;
		int all;
		struct timespec ts = { 0, 200 * 1000000L };

		pthread_mutex_lock(&s->lock);
		d = s->done;
		f = s->failed;
		all = d >= s->next &&
		    (s->next >= o->count || ue_now_ms() >= s->deadline);
		pthread_mutex_unlock(&s->lock);
		if (o->progress != NULL)
			o->progress(o->progress_ctx, d, f, o->count);
		if (all)
			break;
		nanosleep(&ts, NULL);
	}
}

int ue_swarm_run(ue_swarm_result_t *out, const ue_swarm_opts_t *o, char *err,
    size_t errlen)
{
	swarm s;
	pthread_t *th = NULL;
	unsigned *prov = NULL, *reg = NULL, *flow = NULL, started = 0, i;
	uint64_t t0;
	int rc = UE_ERR_ARG, tmp = 0, locked = 0;

	memset(out, 0, sizeof(*out));
	memset(&s, 0, sizeof(s));
	if ((rc = swarm_opts_check(o, err, errlen)) != UE_OK)
		return rc;
	s.o = o;
	if ((rc = swarm_prefix_set(&s, o, err, errlen)) != UE_OK ||
	    (rc = swarm_base_make(&s, &tmp, o, err, errlen)) != UE_OK)
		return rc;
	rc = UE_ERR_NOMEM;
	if (!o->no_trust_cache && ue_trust_cache_new(&s.trust) != UE_OK) {
		util_err_set(err, errlen, "out of memory");
		goto done;
	}
	s.res = calloc(o->count, sizeof(*s.res));
	prov = calloc(o->count, sizeof(*prov));
	reg = calloc(o->count, sizeof(*reg));
	flow = calloc(o->count, sizeof(*flow));
	th = calloc(o->concurrency, sizeof(*th));
	if (s.res == NULL || prov == NULL || reg == NULL || flow == NULL ||
	    th == NULL || pthread_mutex_init(&s.lock, NULL) != 0) {
		util_err_set(err, errlen, "out of memory");
		goto done;
	}
	locked = 1;
	t0 = ue_now_ms();
	s.deadline =
	    t0 + (uint64_t)(o->deadline_s != 0 ? o->deadline_s : 600) * 1000u;
	for (i = 0; i < o->concurrency && i < o->count; i++) {
		if (pthread_create(&th[i], NULL, worker, &s) != 0)
			break;
		started++;
	}
	if (started == 0) {
		util_err_set(err, errlen, "cannot start threads");
		rc = UE_ERR_NOMEM;
		goto done;
	}
	swarm_wait(&s, o);
	for (i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	/* Up to the last device's end, not to the coordinating loop's next
	 * 200 ms tick after it. */
	out->elapsed_s =
	    (double)((s.last_end > t0 ? s.last_end : ue_now_ms()) - t0) /
	    1000.0;
	out->total = o->count;
	summarise(out, &s, prov, reg, flow);
	out->flows_per_s =
	    out->elapsed_s > 0 ? (double)out->completed / out->elapsed_s : 0;
	ue_trust_cache_stats(s.trust, &out->verify_cached, &out->verify_full);
	rc = UE_OK;
done:
	if (locked)
		pthread_mutex_destroy(&s.lock);
	if (tmp)
		(void)nftw(s.base, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(th);
	free(prov);
	free(reg);
	free(flow);
	free(s.res);
	ue_trust_cache_free(s.trust);
	return rc;
}
