/* loadgen.c — the benchmark's HTTPS load client: presents a client
 * certificate (which wrk and h2load cannot), keeps connections alive or makes
 * a full handshake per request (with or without session resumption), and
 * reports throughput and latency percentiles as one JSON object.
 *
 * HTTP goes through libcurl: one easy handle per thread, reused, so a
 * keep-alive run reuses one TLS connection per thread. */
#include <curl/curl.h>

#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct opts {
	const char *base; /* https://127.0.0.1:PORT */
	const char *cert, *key, *cacert;
	const char *paths_file;  /* GET: one path per line */
	const char *bodies_file; /* POST: one JSON body per line */
	const char *post_path;   /* POST target */
	const char *accept;
	int concurrency;
	long requests;   /* total, shared by threads */
	double duration; /* seconds; 0 = until requests are done */
	int handshake;   /* 1: new connection per request */
	int resume;      /* with handshake: share TLS sessions */
};

struct lines {
	char **v;
	size_t n;
};

struct shared {
	const struct opts *o;
	struct lines items;
	CURLSH *share;
	pthread_mutex_t share_lock;
	pthread_mutex_t lock;
	long next; /* next request index */
	double deadline;
};

struct worker {
	struct shared *sh;
	double *lat; /* seconds, one per completed request */
	long nlat, caplat;
	long ok, fail, non2xx;
	pthread_t tid;
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Read a file into lines (newline-separated, empty lines skipped). */
static int lines_load(struct lines *out, const char *path)
{
	FILE *f = fopen(path, "r");
	char *line = NULL;
	size_t cap = 0, vcap = 0;
	ssize_t len;

	if (f == NULL)
		return -1;
	out->v = NULL;
	out->n = 0;
	while ((len = getline(&line, &cap, f)) >= 0) {
		while (
		    len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
			line[--len] = '\0';
		if (len == 0)
			continue;
		if (out->n == vcap) {
			size_t ncap = vcap ? vcap * 2 : 1024;
			char **nv = realloc(out->v, ncap * sizeof(*nv));

			if (nv == NULL)
				goto fail;
			out->v = nv;
			vcap = ncap;
		}
		if ((out->v[out->n] = strdup(line)) == NULL)
			goto fail;
		out->n++;
	}
	free(line);
	fclose(f);
	return out->n > 0 ? 0 : -1;
fail:
	free(line);
	fclose(f);
	return -1;
}

static size_t sink(char *ptr, size_t size, size_t nmemb, void *ud)
{
	(void)ptr;
	(void)ud;
	return size * nmemb;
}

static void share_lock(CURL *h, curl_lock_data d, curl_lock_access a, void *ud)
{
	(void)h;
	(void)d;
	(void)a;
	pthread_mutex_lock(&((struct shared *)ud)->share_lock);
}

static void share_unlock(CURL *h, curl_lock_data d, void *ud)
{
	(void)h;
	(void)d;
	pthread_mutex_unlock(&((struct shared *)ud)->share_lock);
}

/* Take the next request index, or -1 when the run is over. */
static long take(struct shared *sh)
{
	long i = -1;

	pthread_mutex_lock(&sh->lock);
	if ((sh->o->requests == 0 || sh->next < sh->o->requests) &&
	    (sh->deadline == 0 || now_s() < sh->deadline))
		i = sh->next++;
	pthread_mutex_unlock(&sh->lock);
	return i;
}

static void *run(void *arg)
{
	struct worker *w = arg;
	struct shared *sh = w->sh;
	const struct opts *o = sh->o;
	CURL *h = curl_easy_init();
	struct curl_slist *hdr = NULL;
	char url[2048];
	long i;

	if (h == NULL)
		return NULL;
	if (o->accept != NULL) {
		char a[256];

		snprintf(a, sizeof(a), "Accept: %s", o->accept);
		hdr = curl_slist_append(hdr, a);
	}
	if (o->bodies_file != NULL)
		hdr = curl_slist_append(hdr, "Content-Type: application/json");
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, sink);
	curl_easy_setopt(h, CURLOPT_SSLCERT, o->cert);
	curl_easy_setopt(h, CURLOPT_SSLKEY, o->key);
	curl_easy_setopt(h, CURLOPT_CAINFO, o->cacert);
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, 30L);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	if (o->handshake) {
		curl_easy_setopt(h, CURLOPT_FORBID_REUSE, 1L);
		curl_easy_setopt(h, CURLOPT_FRESH_CONNECT, 1L);
		curl_easy_setopt(h, CURLOPT_SSL_SESSIONID_CACHE,
		    o->resume ? 1L : 0L);
		if (o->resume && sh->share != NULL)
			curl_easy_setopt(h, CURLOPT_SHARE, sh->share);
	}
	while ((i = take(sh)) >= 0) {
		const char *item = sh->items.v[(size_t)i % sh->items.n];
		double t0, dt;
		long code = 0;
		CURLcode rc;

		if (o->bodies_file != NULL) {
			snprintf(url, sizeof(url), "%s%s", o->base,
			    o->post_path);
			curl_easy_setopt(h, CURLOPT_POSTFIELDS, item);
		} else {
			snprintf(url, sizeof(url), "%s%s", o->base, item);
		}
		curl_easy_setopt(h, CURLOPT_URL, url);
		t0 = now_s();
		rc = curl_easy_perform(h);
		dt = now_s() - t0;
		if (rc != CURLE_OK) {
			w->fail++;
			continue;
		}
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
		if (code < 200 || code > 299)
			w->non2xx++;
		else
			w->ok++;
		if (w->nlat == w->caplat) {
			long ncap = w->caplat ? w->caplat * 2 : 4096;
			double *nl =
			    realloc(w->lat, (size_t)ncap * sizeof(*nl));

			if (nl == NULL)
				break;
			w->lat = nl;
			w->caplat = ncap;
		}
		w->lat[w->nlat++] = dt;
	}
	curl_slist_free_all(hdr);
	curl_easy_cleanup(h);
	return NULL;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double pct(const double *v, long n, double p)
{
	long i;

	if (n == 0)
		return 0;
	i = (long)(p * (double)(n - 1) + 0.5);
	return v[i];
}

static void usage(void)
{
	fprintf(stderr,
	    "usage: loadgen --base URL --cert F --key F --cacert F\n"
	    "               (--paths FILE | --bodies FILE --post-path P)\n"
	    "               [--accept TYPE] [--concurrency N] [--requests N]\n"
	    "               [--duration S] [--handshake [--resume]]\n");
}

int main(int argc, char **argv)
{
	static const struct option lo[] = { { "base", 1, 0, 'b' },
		{ "cert", 1, 0, 'c' }, { "key", 1, 0, 'k' },
		{ "cacert", 1, 0, 'a' }, { "paths", 1, 0, 'p' },
		{ "bodies", 1, 0, 'B' }, { "post-path", 1, 0, 'P' },
		{ "accept", 1, 0, 'A' }, { "concurrency", 1, 0, 'n' },
		{ "requests", 1, 0, 'r' }, { "duration", 1, 0, 'd' },
		{ "handshake", 0, 0, 'H' }, { "resume", 0, 0, 'R' },
		{ 0, 0, 0, 0 } };
	struct opts o = { .concurrency = 1 };
	struct shared sh;
	struct worker *w;
	double t0, elapsed, *all;
	long total = 0, ok = 0, fail = 0, non2xx = 0, k = 0;
	int c, i;

	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'b': o.base = optarg; break;
		case 'c': o.cert = optarg; break;
		case 'k': o.key = optarg; break;
		case 'a': o.cacert = optarg; break;
		case 'p': o.paths_file = optarg; break;
		case 'B': o.bodies_file = optarg; break;
		case 'P': o.post_path = optarg; break;
		case 'A': o.accept = optarg; break;
		case 'n': o.concurrency = atoi(optarg); break;
		case 'r': o.requests = atol(optarg); break;
		case 'd': o.duration = atof(optarg); break;
		case 'H': o.handshake = 1; break;
		case 'R': o.resume = 1; break;
		default: usage(); return 2;
		}
	}
	if (o.base == NULL || o.cacert == NULL || o.concurrency < 1 ||
	    o.concurrency > 1024 ||
	    (o.paths_file == NULL) == (o.bodies_file == NULL) ||
	    (o.bodies_file != NULL && o.post_path == NULL) ||
	    (o.requests <= 0 && o.duration <= 0)) {
		usage();
		return 2;
	}
	memset(&sh, 0, sizeof(sh));
	sh.o = &o;
	if (lines_load(&sh.items,
	        o.paths_file ? o.paths_file : o.bodies_file) != 0) {
		fprintf(stderr, "loadgen: cannot read items from %s\n",
		    o.paths_file ? o.paths_file : o.bodies_file);
		return 1;
	}
	curl_global_init(CURL_GLOBAL_DEFAULT);
	pthread_mutex_init(&sh.lock, NULL);
	pthread_mutex_init(&sh.share_lock, NULL);
	if (o.resume) {
		sh.share = curl_share_init();
		curl_share_setopt(sh.share, CURLSHOPT_SHARE,
		    CURL_LOCK_DATA_SSL_SESSION);
		curl_share_setopt(sh.share, CURLSHOPT_LOCKFUNC, share_lock);
		curl_share_setopt(sh.share, CURLSHOPT_UNLOCKFUNC, share_unlock);
		curl_share_setopt(sh.share, CURLSHOPT_USERDATA, &sh);
	}
	w = calloc((size_t)o.concurrency, sizeof(*w));
	if (w == NULL)
		return 1;
	t0 = now_s();
	sh.deadline = o.duration > 0 ? t0 + o.duration : 0;
	for (i = 0; i < o.concurrency; i++) {
		w[i].sh = &sh;
		if (pthread_create(&w[i].tid, NULL, run, &w[i]) != 0)
			return 1;
	}
	for (i = 0; i < o.concurrency; i++) {
		pthread_join(w[i].tid, NULL);
		total += w[i].nlat;
		ok += w[i].ok;
		fail += w[i].fail;
		non2xx += w[i].non2xx;
	}
	elapsed = now_s() - t0;
	all = malloc((size_t)(total ? total : 1) * sizeof(*all));
	if (all == NULL)
		return 1;
	for (i = 0; i < o.concurrency; i++) {
		memcpy(all + k, w[i].lat, (size_t)w[i].nlat * sizeof(*all));
		k += w[i].nlat;
		free(w[i].lat);
	}
	qsort(all, (size_t)total, sizeof(*all), cmp_double);
	printf("{\"requests\":%ld,\"ok\":%ld,\"non2xx\":%ld,\"failed\":%ld,"
	       "\"seconds\":%.3f,\"rps\":%.1f,\"p50_ms\":%.3f,\"p99_ms\":%.3f,"
	       "\"concurrency\":%d,\"handshake\":%s,\"resume\":%s}\n",
	    total, ok, non2xx, fail, elapsed,
	    elapsed > 0 ? (double)ok / elapsed : 0, pct(all, total, 0.50) * 1e3,
	    pct(all, total, 0.99) * 1e3, o.concurrency,
	    o.handshake ? "true" : "false", o.resume ? "true" : "false");
	free(all);
	free(w);
	for (size_t j = 0; j < sh.items.n; j++)
		free(sh.items.v[j]);
	free(sh.items.v);
	if (sh.share != NULL)
		curl_share_cleanup(sh.share);
	curl_global_cleanup();
	return fail > 0 ? 1 : 0;
}
