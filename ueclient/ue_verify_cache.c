/* ue_verify_cache.c — the swarm's fast path of prov_verify: a cache of
 * provisioning signer chains that verified in full, shared by the threads
 * of one process. Anything it cannot answer for takes prov_verify's full
 * verification, whose answer stands; tests/ueclient/test_ue_verify_cache.c
 * proves the two agree. A device that verifies one container per run has
 * nothing to gain from it. */
#include "ue_verify_cache.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/err.h>

/*
 * A swarm of simulated devices receives thousands of containers whose
 * signer chains are byte for byte the same, and the full verification (a
 * P-384 Root signature, three certificate parses) is most of a device's
 * CPU. An entry remembers one chain that verified in full: the exact bytes
 * of the container's chain list (count, lengths and every DER certificate,
 * the signer's included), the trust anchor it verified under, and the
 * parsed certificates. A later container hits only when its chain list is
 * byte-identical, the anchor is the same certificate (X509_cmp: same DER)
 * and the caller offers no extra intermediates: then every input of the
 * full verification is identical except the time, so the signature checks
 * over those bytes would give the same answer and are not redone; what
 * depends on the time (validity of the signer, every carried intermediate
 * and the anchor) and the signer's EKU, keyUsage and key type are checked
 * again, and the container's own signature is always verified. Anything
 * that does not hold on a hit takes the full verification, whose answer
 * (and error) stands: the cache can only save work. */
#define UE_VC_ENTRIES 8

struct vc_entry {
	uint8_t *chain; /* the chain list bytes */
	size_t chain_len;
	X509 *anchor;
	X509 *signer;
	STACK_OF(X509) * carried; /* the carried intermediates */
	uint8_t fingerprint[32];
	uint64_t used; /* LRU tick */
};

struct ue_verify_cache {
	pthread_mutex_t mu;
	pthread_cond_t cv; /* a pending full verification ended */
	struct vc_entry e[UE_VC_ENTRIES];
	uint64_t tick;
	uint64_t hits, misses, stores;
	/* The chain list one thread is verifying in full right now: threads
	 * that miss on the same bytes wait for its outcome instead of all
	 * verifying the same chain at once (a swarm's first wave). */
	uint8_t *pending;
	size_t pending_len;
	X509 *pending_anchor;
	uint64_t pending_gen; /* bumped when a pending one ends */
};

/* Longest wait for another thread's full verification of the same chain;
 * after it, verify in full anyway. */
#define UE_VC_WAIT_S 10

/* An empty cache (ue_verify_cache.h). */
int ue_verify_cache_new(ue_verify_cache **out)
{
	ue_verify_cache *c;

	if (out == NULL)
		return PROV_ERR_ARG;
	*out = NULL;
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return PROV_ERR_INTERNAL;
	if (pthread_mutex_init(&c->mu, NULL) != 0) {
		free(c);
		return PROV_ERR_INTERNAL;
	}
	if (pthread_cond_init(&c->cv, NULL) != 0) {
		pthread_mutex_destroy(&c->mu);
		free(c);
		return PROV_ERR_INTERNAL;
	}
	*out = c;
	return PROV_OK;
}

/* Free what an entry holds and zero it. */
static void vc_entry_clear(struct vc_entry *e)
{
	free(e->chain);
	X509_free(e->anchor);
	X509_free(e->signer);
	sk_X509_pop_free(e->carried, X509_free);
	memset(e, 0, sizeof(*e));
}

/* Free every entry, then the cache; NULL-safe. */
void ue_verify_cache_free(ue_verify_cache *c)
{
	size_t i;

	if (c == NULL)
		return;
	for (i = 0; i < UE_VC_ENTRIES; i++)
		vc_entry_clear(&c->e[i]);
	free(c->pending);
	X509_free(c->pending_anchor);
	pthread_cond_destroy(&c->cv);
	pthread_mutex_destroy(&c->mu);
	free(c);
}

/* The counters, read under the lock. */
void ue_verify_cache_stats(ue_verify_cache *c, uint64_t *hits, uint64_t *misses,
    uint64_t *stores)
{
	if (c == NULL)
		return;
	pthread_mutex_lock(&c->mu);
	if (hits != NULL)
		*hits = c->hits;
	if (misses != NULL)
		*misses = c->misses;
	if (stores != NULL)
		*stores = c->stores;
	pthread_mutex_unlock(&c->mu);
}

/* The chain list of a parsed view: from the count byte to the signature. */
static const uint8_t *view_chain(const prov_view_t *v, size_t *len)
{
	*len = v->signed_len - v->body_len;
	return v->container + v->body_len;
}

/* x is valid at t, as X509_verify_cert decides it (notBefore <= t <
 * notAfter; an unreadable time is not valid). */
static int valid_at(X509 *x, time_t t)
{
	return X509_cmp_time(X509_get0_notBefore(x), &t) < 0 &&
	    X509_cmp_time(X509_get0_notAfter(x), &t) > 0;
}

/* A hit: the view's chain list and anchor match an entry that verified in
 * full, and what depends on the time holds. *signer gets a reference.
 * 0 = no hit (take the full verification). */
static int vc_lookup(ue_verify_cache *c, const prov_view_t *v, X509 *root,
    int64_t at, X509 **signer, uint8_t fp[32])
{
	STACK_OF(X509) *carried = NULL;
	X509 *s = NULL;
	const uint8_t *chain;
	size_t clen, i;
	time_t t = (time_t)at;
	int j, ok = 0;

	chain = view_chain(v, &clen);
	pthread_mutex_lock(&c->mu);
	for (i = 0; i < UE_VC_ENTRIES; i++) {
		struct vc_entry *e = &c->e[i];

		if (e->chain == NULL || e->chain_len != clen ||
		    memcmp(e->chain, chain, clen) != 0 ||
		    X509_cmp(e->anchor, root) != 0)
			continue;
		if (!X509_up_ref(e->signer))
			break;
		s = e->signer;
		if ((carried = X509_chain_up_ref(e->carried)) == NULL)
			break;
		memcpy(fp, e->fingerprint, 32);
		e->used = ++c->tick;
		break;
	}
	pthread_mutex_unlock(&c->mu);
	if (s == NULL || carried == NULL)
		goto out;
	if (!valid_at(s, t) || !valid_at(root, t))
		goto out;
	for (j = 0; j < sk_X509_num(carried); j++)
		if (!valid_at(sk_X509_value(carried, j), t))
			goto out;
	if (prov_signer_cert_check(s, NULL, 0) != PROV_OK)
		goto out;
	*signer = s;
	s = NULL;
	ok = 1;
out:
	X509_free(s);
	sk_X509_pop_free(carried, X509_free);
	ERR_clear_error();
	return ok;
}

/* After a full verification accepted the view: remember its chain list,
 * in the least recently used slot. Failure to remember is no error. */
static void vc_store(ue_verify_cache *c, const prov_view_t *v, X509 *root,
    X509 *signer, STACK_OF(X509) * carried, const uint8_t fp[32])
{
	struct vc_entry n, *victim;
	const uint8_t *chain;
	size_t clen, i;

	memset(&n, 0, sizeof(n));
	chain = view_chain(v, &clen);
	if ((n.chain = malloc(clen)) == NULL)
		return;
	memcpy(n.chain, chain, clen);
	n.chain_len = clen;
	if (!X509_up_ref(root)) {
		vc_entry_clear(&n);
		return;
	}
	n.anchor = root;
	if (!X509_up_ref(signer)) {
		vc_entry_clear(&n);
		return;
	}
	n.signer = signer;
	if ((n.carried = X509_chain_up_ref(carried)) == NULL) {
		vc_entry_clear(&n);
		return;
	}
	memcpy(n.fingerprint, fp, 32);
	pthread_mutex_lock(&c->mu);
	victim = &c->e[0];
	for (i = 0; i < UE_VC_ENTRIES; i++) {
		struct vc_entry *e = &c->e[i];

		if (e->chain != NULL && e->chain_len == clen &&
		    memcmp(e->chain, chain, clen) == 0 &&
		    X509_cmp(e->anchor, root) == 0) {
			victim = NULL; /* another thread stored it first */
			break;
		}
		if (e->chain == NULL || e->used < victim->used)
			victim = e;
		if (e->chain == NULL)
			break;
	}
	if (victim != NULL) {
		vc_entry_clear(victim);
		*victim = n;
		victim->used = ++c->tick;
		c->stores++;
		memset(&n, 0, sizeof(n));
	}
	pthread_mutex_unlock(&c->mu);
	vc_entry_clear(&n);
}

/* A hit, with the container signature verified: out is a verified view.
 * 0 = take the full verification. */
static int vc_try(ue_verify_cache *c, prov_view_t *out, X509 *root, int64_t at)
{
	X509 *cert = NULL;
	int ok;

	if (!vc_lookup(c, out, root, at, &cert, out->signer_fingerprint))
		return 0;
	ok = prov_view_signature_verify(out, cert) == 1;
	X509_free(cert);
	if (!ok) {
		ERR_clear_error();
		return 0;
	}
	pthread_mutex_lock(&c->mu);
	c->hits++;
	pthread_mutex_unlock(&c->mu);
	out->verified = 1;
	return 1;
}

enum { VC_OTHER = 0, VC_CLAIMED = 1, VC_WAITED = 2 };

/* On a miss: claim the full verification of this chain list (VC_CLAIMED;
 * the caller then calls vc_release), or wait for the thread that holds
 * the claim on the same bytes and anchor (VC_WAITED: look up again), or
 * neither when another chain is pending (VC_OTHER). */
static int vc_claim_or_wait(ue_verify_cache *c, const prov_view_t *v,
    X509 *root)
{
	const uint8_t *chain;
	size_t clen;
	uint8_t *copy;
	struct timespec until;
	uint64_t gen;
	int r = VC_OTHER;

	chain = view_chain(v, &clen);
	pthread_mutex_lock(&c->mu);
	if (c->pending == NULL) {
		if ((copy = malloc(clen)) != NULL && X509_up_ref(root)) {
			memcpy(copy, chain, clen);
			c->pending = copy;
			c->pending_len = clen;
			c->pending_anchor = root;
			r = VC_CLAIMED;
		} else {
			free(copy);
		}
	} else if (c->pending_len == clen &&
	    memcmp(c->pending, chain, clen) == 0 &&
	    X509_cmp(c->pending_anchor, root) == 0) {
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += UE_VC_WAIT_S;
		gen = c->pending_gen;
		while (c->pending_gen == gen &&
		    pthread_cond_timedwait(&c->cv, &c->mu, &until) == 0)
			;
		r = VC_WAITED;
	}
	pthread_mutex_unlock(&c->mu);
	return r;
}

/* The claimed full verification ended (either way): wake the waiters. */
static void vc_release(ue_verify_cache *c)
{
	pthread_mutex_lock(&c->mu);
	free(c->pending);
	X509_free(c->pending_anchor);
	c->pending = NULL;
	c->pending_len = 0;
	c->pending_anchor = NULL;
	c->pending_gen++;
	pthread_cond_broadcast(&c->cv);
	pthread_mutex_unlock(&c->mu);
}

/* A hit answers; anything else takes prov_verify_chain, and a chain it
 * accepts is stored. */
int ue_verify_cached(prov_view_t *out, const uint8_t *container, size_t len,
    X509 *root, STACK_OF(X509) * intermediates, int64_t at,
    ue_verify_cache *cache, char *err, size_t errlen)
{
	X509 *cert = NULL;
	STACK_OF(X509) *carried = NULL;
	int rc, claim = VC_OTHER;

	/* The cache only stands in for a verification whose inputs are the
	 * container and the anchor alone. */
	if (cache == NULL ||
	    (intermediates != NULL && sk_X509_num(intermediates) > 0) ||
	    out == NULL || root == NULL)
		return prov_verify(out, container, len, root, intermediates, at,
		    err, errlen);
	if ((rc = prov_parse(out, container, len, err, errlen)) != PROV_OK)
		return rc;
	if (vc_try(cache, out, root, at))
		return PROV_OK;
	/* Look again after waiting or claiming: the chain may have been
	 * stored in between. */
	claim = vc_claim_or_wait(cache, out, root);
	if (claim != VC_OTHER && vc_try(cache, out, root, at)) {
		if (claim == VC_CLAIMED)
			vc_release(cache);
		return PROV_OK;
	}
	pthread_mutex_lock(&cache->mu);
	cache->misses++;
	pthread_mutex_unlock(&cache->mu);
	rc = prov_verify_chain(out, &cert, &carried, container, len, root, NULL,
	    at, err, errlen);
	if (rc == PROV_OK)
		vc_store(cache, out, root, cert, carried,
		    out->signer_fingerprint);
	if (claim == VC_CLAIMED)
		vc_release(cache);
	sk_X509_pop_free(carried, X509_free);
	X509_free(cert);
	return rc;
}
