/* portal_ratelimit.c — counts failed portal logins per key (user name,
 * client address) in a fixed window and refuses further attempts once a
 * key has used its allowance. Fixed memory: the least recently used key is
 * forgotten when the table is full. */
#include "portal.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define KEY_MAX 128

struct rl_entry {
	char key[KEY_MAX];
	int64_t window_start;
	int64_t last_used;
	unsigned failures;
	int used;
};

struct portal_ratelimit {
	pthread_mutex_t lock;
	unsigned max_failures;
	unsigned window_s;
	size_t capacity;
	struct rl_entry *e;
};

int portal_ratelimit_new(portal_ratelimit **out, unsigned max_failures,
    unsigned window_s, size_t capacity)
{
	portal_ratelimit *rl;

	if (out == NULL || max_failures == 0 || window_s == 0 ||
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
	rl->max_failures = max_failures;
	rl->window_s = window_s;
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

int portal_ratelimit_check(portal_ratelimit *rl, const char *key,
    int64_t now, unsigned *retry_after)
{
	struct rl_entry *e;
	int rc = PORTAL_OK;

	if (rl == NULL || key == NULL)
		return PORTAL_E_ARG;
	if (retry_after != NULL)
		*retry_after = 0;
	pthread_mutex_lock(&rl->lock);
	e = find(rl, key);
	if (e != NULL && now - e->window_start < (int64_t)rl->window_s &&
	    e->failures >= rl->max_failures) {
		rc = PORTAL_E_LIMITED;
		if (retry_after != NULL)
			*retry_after = (unsigned)(e->window_start +
			    (int64_t)rl->window_s - now);
	}
	pthread_mutex_unlock(&rl->lock);
	return rc;
}

void portal_ratelimit_fail(portal_ratelimit *rl, const char *key,
    int64_t now)
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
		e->window_start = now;
	}
	if (now - e->window_start >= (int64_t)rl->window_s) {
		e->window_start = now;
		e->failures = 0;
	}
	if (e->failures < rl->max_failures + 1)
		e->failures++;
	e->last_used = now;
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
