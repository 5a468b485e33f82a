/* portal_ratelimit.c — counts failed portal logins per key ((user name,
 * client address) pair, client address) and, once a key has used its free
 * allowance, locks it for a delay that doubles with every further failure
 * up to a ceiling. A key that has not failed for the ceiling's length
 * after its last lock ended starts afresh. Fixed memory: the least recently used key is forgotten
 * when the table is full. */
#include "portal.h"

#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define KEY_MAX 128

struct rl_entry {
	char key[KEY_MAX];
	int64_t locked_until; /* no attempt before this time */
	int64_t last_used;    /* time of the last failure */
	unsigned failures;
	int used;
};

struct portal_ratelimit {
	pthread_mutex_t lock;
	unsigned free_failures;
	unsigned base_delay_s;
	unsigned max_delay_s;
	size_t capacity;
	struct rl_entry *e;
};

int portal_ratelimit_new(portal_ratelimit **out, unsigned free_failures,
    unsigned base_delay_s, unsigned max_delay_s, size_t capacity)
{
	portal_ratelimit *rl;

	if (out == NULL || base_delay_s == 0 || max_delay_s < base_delay_s ||
	    capacity == 0 || capacity > 1u << 20)
		return PORTAL_E_ARG;
	rl = calloc(1, sizeof(*rl));
	if (rl == NULL)
		return PORTAL_E_NOMEM;
	rl->e = calloc(capacity, sizeof(*rl->e));
	if (rl->e == NULL) {
		free(rl);
		return PORTAL_E_NOMEM;
	}
	if (pthread_mutex_init(&rl->lock, NULL) != 0) {
		free(rl->e);
		free(rl);
		return PORTAL_E_NOMEM;
	}
	rl->free_failures = free_failures;
	rl->base_delay_s = base_delay_s;
	rl->max_delay_s = max_delay_s;
	rl->capacity = capacity;
	*out = rl;
	return PORTAL_OK;
}

void portal_ratelimit_free(portal_ratelimit *rl)
{
	if (rl == NULL)
		return;
	pthread_mutex_destroy(&rl->lock);
	free(rl->e);
	free(rl);
}

/* Keys longer than KEY_MAX-1 compare on their prefix; user names and
 * addresses are far shorter. */
static struct rl_entry *find(portal_ratelimit *rl, const char *key)
{
	size_t i;

	for (i = 0; i < rl->capacity; i++)
		if (rl->e[i].used &&
		    strncmp(rl->e[i].key, key, KEY_MAX - 1) == 0)
			return &rl->e[i];
	return NULL;
}

int portal_ratelimit_check(portal_ratelimit *rl, const char *key, int64_t now,
    unsigned *retry_after)
{
	struct rl_entry *e;
	int rc = PORTAL_OK;

	if (rl == NULL || key == NULL)
		return PORTAL_E_ARG;
	if (retry_after != NULL)
		*retry_after = 0;
	pthread_mutex_lock(&rl->lock);
	e = find(rl, key);
	if (e != NULL && now < e->locked_until) {
		rc = PORTAL_E_LIMITED;
		if (retry_after != NULL)
			*retry_after = (unsigned)(e->locked_until - now);
	}
	pthread_mutex_unlock(&rl->lock);
	return rc;
}

/* The lock after the n-th failure: none within the free allowance, then
 * base, 2*base, 4*base, ... up to the ceiling. */
static unsigned delay_for(const portal_ratelimit *rl, unsigned n)
{
	unsigned extra, d = rl->base_delay_s;

	if (n <= rl->free_failures)
		return 0;
	for (extra = n - rl->free_failures - 1;
	     extra > 0 && d < rl->max_delay_s; extra--)
		d = d > rl->max_delay_s / 2 ? rl->max_delay_s : d * 2;
	return d < rl->max_delay_s ? d : rl->max_delay_s;
}

void portal_ratelimit_fail(portal_ratelimit *rl, const char *key, int64_t now)
{
	struct rl_entry *e;
	size_t i;

	if (rl == NULL || key == NULL)
		return;
	pthread_mutex_lock(&rl->lock);
	e = find(rl, key);
	if (e == NULL) {
		/* A free slot, else the least recently used one. */
		e = &rl->e[0];
		for (i = 0; i < rl->capacity; i++) {
			if (!rl->e[i].used) {
				e = &rl->e[i];
				break;
			}
			if (rl->e[i].last_used < e->last_used)
				e = &rl->e[i];
		}
		memset(e, 0, sizeof(*e));
		strncpy(e->key, key, KEY_MAX - 1);
		e->used = 1;
	}
	/* Quiet for the longest delay after its lock ended: start again
	 * (measured from the lock's end, so waiting out each lock does not
	 * reset the count). */
	if (e->failures > 0 &&
	    now - e->locked_until >= (int64_t)rl->max_delay_s)
		e->failures = 0;
	if (e->failures < UINT_MAX)
		e->failures++;
	e->last_used = now;
	e->locked_until = now + (int64_t)delay_for(rl, e->failures);
	pthread_mutex_unlock(&rl->lock);
}

void portal_ratelimit_reset(portal_ratelimit *rl, const char *key)
{
	struct rl_entry *e;

	if (rl == NULL || key == NULL)
		return;
	pthread_mutex_lock(&rl->lock);
	e = find(rl, key);
	if (e != NULL)
		memset(e, 0, sizeof(*e));
	pthread_mutex_unlock(&rl->lock);
}
