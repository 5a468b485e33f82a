/* ca_cache.c — the bounded tables that keep NAS traffic from turning into
 * CA load: DeviceIDs the CA refused (negative cache), verified security
 * contexts (positive cache), and token buckets per source address and per
 * DeviceID. Each table is a fixed array of 4-way sets indexed by keyed
 * SipHash (a per-process random key, so a sender cannot aim its keys at
 * one set), the least recently used slot of a set replaced: memory is
 * fixed at start whatever arrives. One mutex per table. */
#include "ch_int.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "util.h"

#define WAYS 4
#define KEY_MAX 143 /* "udp:" + address, or entry/DeviceID */

/* A slot's identity and age; h == 0 is an empty slot. */
typedef struct {
	uint64_t h;
	int64_t used_ms;
	char key[KEY_MAX + 1];
} slot_t;

typedef struct {
	int outcome;
	int64_t until_ms;
} neg_t;

typedef struct {
	double tokens;
	int64_t last_ms;
} bucket_t;

typedef struct {
	pthread_mutex_t mu;
	size_t nsets;
	slot_t *slot; /* nsets * WAYS */
	void *val;    /* nsets * WAYS values of vsize bytes */
	size_t vsize;
	void (*clear)(void *); /* NULL-safe release of a value, or NULL */
} table_t;

enum { T_NEG, T_POS, T_SRC, T_DEV, T_N };

struct ch_ca_cache {
	table_t t[T_N];
	EVP_MAC_CTX *mac; /* keyed SipHash-2-4, duplicated per use */
	int64_t neg_ttl_ms;
	double rate[CH_RATE_N]; /* tokens per millisecond */
	double burst[CH_RATE_N];
};

int64_t ch_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void pos_clear(void *v)
{
	ch_pos_entry_t *e = v;

	EVP_PKEY_free(e->pub);
	memset(e, 0, sizeof(*e));
}

/* A table of at least entries slots (a multiple of WAYS). */
static int table_init(table_t *t, size_t entries, size_t vsize,
    void (*clear)(void *))
{
	t->nsets = (entries + WAYS - 1) / WAYS;
	t->vsize = vsize;
	t->clear = clear;
	pthread_mutex_init(&t->mu, NULL);
	t->slot = calloc(t->nsets * WAYS, sizeof(*t->slot));
	t->val = calloc(t->nsets * WAYS, vsize);
	return t->slot != NULL && t->val != NULL ? 0 : -1;
}

static void table_free(table_t *t)
{
	size_t i;

	if (t->slot == NULL && t->val == NULL)
		return;
	if (t->clear != NULL && t->val != NULL && t->slot != NULL)
		for (i = 0; i < t->nsets * WAYS; i++)
			if (t->slot[i].h != 0)
				t->clear((char *)t->val + i * t->vsize);
	free(t->slot);
	free(t->val);
	pthread_mutex_destroy(&t->mu);
}

static void *table_val(table_t *t, size_t i)
{
	return (char *)t->val + i * t->vsize;
}

/* Keyed 64-bit hash of key, never 0 (0 marks an empty slot). */
static uint64_t key_hash(ch_ca_cache *c, const char *key)
{
	EVP_MAC_CTX *m = EVP_MAC_CTX_dup(c->mac);
	uint8_t out[8];
	size_t outl = 0;
	uint64_t h = 0;
	int i;

	if (m != NULL &&
	    EVP_MAC_update(m, (const uint8_t *)key, strlen(key)) == 1 &&
	    EVP_MAC_final(m, out, &outl, sizeof(out)) == 1 &&
	    outl == sizeof(out))
		for (i = 0; i < 8; i++)
			h = (h << 8) | out[i];
	else
		ERR_clear_error();
	EVP_MAC_CTX_free(m);
	return h == 0 ? 1 : h;
}

/* Under t->mu: the slot index of key, or (create) a slot claimed for it
 * — an empty one or the set's least recently used, its value cleared and
 * zeroed — with *created = 1; SIZE_MAX when absent and not created. */
static size_t table_find(table_t *t, uint64_t h, const char *key,
    int64_t now_ms, int create, int *created)
{
	size_t base = (size_t)(h % t->nsets) * WAYS, i, victim = base;

	*created = 0;
	for (i = base; i < base + WAYS; i++) {
		if (t->slot[i].h == h && strcmp(t->slot[i].key, key) == 0) {
			t->slot[i].used_ms = now_ms;
			return i;
		}
		if (t->slot[victim].h != 0 &&
		    (t->slot[i].h == 0 ||
		        t->slot[i].used_ms < t->slot[victim].used_ms))
			victim = i;
	}
	if (!create)
		return SIZE_MAX;
	if (t->slot[victim].h != 0 && t->clear != NULL)
		t->clear(table_val(t, victim));
	memset(table_val(t, victim), 0, t->vsize);
	t->slot[victim].h = h;
	t->slot[victim].used_ms = now_ms;
	snprintf(t->slot[victim].key, sizeof(t->slot[victim].key), "%s", key);
	*created = 1;
	return victim;
}

/* Under t->mu: empty slot i. */
static void table_drop(table_t *t, size_t i)
{
	if (t->clear != NULL)
		t->clear(table_val(t, i));
	memset(table_val(t, i), 0, t->vsize);
	memset(&t->slot[i], 0, sizeof(t->slot[i]));
}

int ch_ca_cache_new(ch_ca_cache **out, const corehook_config *cfg, char *err,
    size_t errlen)
{
	ch_ca_cache *c;
	EVP_MAC *mac = NULL;
	OSSL_PARAM prm[3];
	uint8_t key[16];
	size_t outsize = 8;
	int rc = -1;

	*out = NULL;
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		util_err_set(err, errlen, "out of memory");
		return -1;
	}
	if (table_init(&c->t[T_NEG], cfg->cache_entries, sizeof(neg_t), NULL) !=
	        0 ||
	    table_init(&c->t[T_POS], cfg->cache_entries, sizeof(ch_pos_entry_t),
	        pos_clear) != 0 ||
	    table_init(&c->t[T_SRC], cfg->cache_entries, sizeof(bucket_t),
	        NULL) != 0 ||
	    table_init(&c->t[T_DEV], cfg->cache_entries, sizeof(bucket_t),
	        NULL) != 0) {
		util_err_set(err, errlen, "out of memory");
		goto out;
	}
	c->neg_ttl_ms = (int64_t)cfg->negative_ttl_seconds * 1000;
	c->rate[CH_RATE_SOURCE] = cfg->source_refusals_per_minute / 60000.0;
	c->burst[CH_RATE_SOURCE] = cfg->source_burst;
	c->rate[CH_RATE_DEVICE] = cfg->device_fetches_per_minute / 60000.0;
	c->burst[CH_RATE_DEVICE] = cfg->device_burst;
	/* SipHash-2-4, 8-byte output, a key drawn now. */
	prm[0] = OSSL_PARAM_construct_size_t(OSSL_MAC_PARAM_SIZE, &outsize);
	prm[1] = OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, key,
	    sizeof(key));
	prm[2] = OSSL_PARAM_construct_end();
	if (util_random(key, sizeof(key)) != 0 ||
	    (mac = EVP_MAC_fetch(NULL, "SIPHASH", NULL)) == NULL ||
	    (c->mac = EVP_MAC_CTX_new(mac)) == NULL ||
	    EVP_MAC_init(c->mac, NULL, 0, prm) != 1) {
		util_err_openssl(err, errlen, "SipHash for the CA caches");
		goto out;
	}
	*out = c;
	c = NULL;
	rc = 0;
out:
	OPENSSL_cleanse(key, sizeof(key));
	EVP_MAC_free(mac);
	ch_ca_cache_free(c);
	return rc;
}

void ch_ca_cache_free(ch_ca_cache *c)
{
	int i;

	if (c == NULL)
		return;
	for (i = 0; i < T_N; i++)
		table_free(&c->t[i]);
	EVP_MAC_CTX_free(c->mac);
	free(c);
}

int ch_neg_lookup(ch_ca_cache *c, const char *key, int64_t now_ms)
{
	table_t *t = &c->t[T_NEG];
	uint64_t h = key_hash(c, key);
	int created, outcome = -1;
	size_t i;

	pthread_mutex_lock(&t->mu);
	i = table_find(t, h, key, now_ms, 0, &created);
	if (i != SIZE_MAX) {
		neg_t *n = table_val(t, i);

		if (now_ms < n->until_ms)
			outcome = n->outcome;
		else
			table_drop(t, i);
	}
	pthread_mutex_unlock(&t->mu);
	return outcome;
}

void ch_neg_store(ch_ca_cache *c, const char *key, int outcome, int64_t now_ms)
{
	table_t *t = &c->t[T_NEG];
	uint64_t h;
	int created;
	size_t i;

	if (c->neg_ttl_ms <= 0)
		return;
	h = key_hash(c, key);
	pthread_mutex_lock(&t->mu);
	i = table_find(t, h, key, now_ms, 1, &created);
	((neg_t *)table_val(t, i))->outcome = outcome;
	((neg_t *)table_val(t, i))->until_ms = now_ms + c->neg_ttl_ms;
	pthread_mutex_unlock(&t->mu);
}

/* Under the table's mutex: key's bucket refilled to now (a new bucket
 * starts full). */
static bucket_t *bucket_get(ch_ca_cache *c, int kind, const char *key,
    int64_t now_ms)
{
	table_t *t = &c->t[kind == CH_RATE_SOURCE ? T_SRC : T_DEV];
	bucket_t *b;
	int created;
	size_t i;

	i = table_find(t, key_hash(c, key), key, now_ms, 1, &created);
	b = table_val(t, i);
	if (created) {
		b->tokens = c->burst[kind];
		b->last_ms = now_ms;
	} else if (now_ms > b->last_ms) {
		b->tokens += (double)(now_ms - b->last_ms) * c->rate[kind];
		if (b->tokens > c->burst[kind])
			b->tokens = c->burst[kind];
		b->last_ms = now_ms;
	}
	/* An earlier now_ms (a caller's clock read before a slow fetch)
	 * never moves last_ms back: the same time would be refilled twice. */
	return b;
}

/* take (1), peek (0) or charge (-1) one token of key's bucket. */
static int rate_op(ch_ca_cache *c, int kind, const char *key, int64_t now_ms,
    int op)
{
	table_t *t = &c->t[kind == CH_RATE_SOURCE ? T_SRC : T_DEV];
	bucket_t *b;
	int ok;

	pthread_mutex_lock(&t->mu);
	b = bucket_get(c, kind, key, now_ms);
	ok = b->tokens >= 1.0;
	if ((op == 1 && ok) || op == -1) {
		b->tokens -= 1.0;
		if (b->tokens < -c->burst[kind])
			b->tokens = -c->burst[kind];
	}
	pthread_mutex_unlock(&t->mu);
	return ok;
}

int ch_rate_take(ch_ca_cache *c, int kind, const char *key, int64_t now_ms)
{
	return rate_op(c, kind, key, now_ms, 1);
}

int ch_rate_peek(ch_ca_cache *c, int kind, const char *key, int64_t now_ms)
{
	return rate_op(c, kind, key, now_ms, 0);
}

void ch_rate_charge(ch_ca_cache *c, int kind, const char *key, int64_t now_ms)
{
	(void)rate_op(c, kind, key, now_ms, -1);
}

int ch_pos_lookup(ch_ca_cache *c, ch_pos_entry_t *out, const char *key,
    int64_t now_ms, int64_t now)
{
	table_t *t = &c->t[T_POS];
	uint64_t h = key_hash(c, key);
	int created, found = 0;
	size_t i;

	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&t->mu);
	i = table_find(t, h, key, now_ms, 0, &created);
	if (i != SIZE_MAX) {
		ch_pos_entry_t *e = table_val(t, i);

		/* A certificate past its validity (or a chain certificate's)
		 * is never served from here: the full path refuses it. */
		if (now < e->valid_until && EVP_PKEY_up_ref(e->pub) == 1) {
			*out = *e;
			found = 1;
		} else {
			table_drop(t, i);
		}
	}
	pthread_mutex_unlock(&t->mu);
	return found;
}

void ch_pos_store(ch_ca_cache *c, const char *key, const ch_pos_entry_t *e,
    int64_t now_ms)
{
	table_t *t = &c->t[T_POS];
	uint64_t h = key_hash(c, key);
	ch_pos_entry_t *dst;
	int created;
	size_t i;

	if (e->pub == NULL || EVP_PKEY_up_ref(e->pub) != 1)
		return;
	pthread_mutex_lock(&t->mu);
	i = table_find(t, h, key, now_ms, 1, &created);
	dst = table_val(t, i);
	if (!created)
		pos_clear(dst);
	*dst = *e;
	pthread_mutex_unlock(&t->mu);
}

void ch_pos_refresh(ch_ca_cache *c, const char *key, int64_t fresh_until_ms)
{
	table_t *t = &c->t[T_POS];
	uint64_t h = key_hash(c, key);
	int created;
	size_t i;

	pthread_mutex_lock(&t->mu);
	i = table_find(t, h, key, ch_now_ms(), 0, &created);
	if (i != SIZE_MAX)
		((ch_pos_entry_t *)table_val(t, i))->fresh_until_ms =
		    fresh_until_ms;
	pthread_mutex_unlock(&t->mu);
}

void ch_pos_drop(ch_ca_cache *c, const char *key)
{
	table_t *t = &c->t[T_POS];
	uint64_t h = key_hash(c, key);
	int created;
	size_t i;

	pthread_mutex_lock(&t->mu);
	i = table_find(t, h, key, 0, 0, &created);
	if (i != SIZE_MAX)
		table_drop(t, i);
	pthread_mutex_unlock(&t->mu);
}
