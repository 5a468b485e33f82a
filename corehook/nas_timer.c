/* nas_timer.c — T3560/T3550 for corehook: the downlink a session awaits an
 * answer to, how it is sent again, and the deadline queue (a binary
 * min-heap under a mutex, one waiter thread woken when the earliest
 * deadline changes or the queue closes). Entries are never removed early:
 * an answered or replaced timer's entry is stale and is dropped when it
 * comes due (its id no longer matches the session's). */
#include "nas_timer.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "corehook.h"
#include "nas.h"

typedef struct {
	uint64_t due_ms;
	uint64_t id;
	char name[COREHOOK_SESSION_MAX + 1];
} timer_entry;

struct ch_nas_timers {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	timer_entry *heap;
	size_t n, cap, max;
	uint64_t next_id;
	int closed;
	unsigned ms[CH_TIMER_N];
	atomic_uint_fast64_t retx[CH_TIMER_N];
	atomic_uint_fast64_t aborted[CH_TIMER_N];
};

int ch_nas_timer_for(int msg_type)
{
	switch (msg_type) {
	case NAS_MSG_AUTH_REQUEST:
	case NAS_MSG_SECURITY_MODE_COMMAND: return CH_TIMER_T3560;
	case NAS_MSG_REGISTRATION_ACCEPT: return CH_TIMER_T3550;
	default: return CH_TIMER_NONE;
	}
}

const char *ch_nas_timer_name(int timer)
{
	return timer == CH_TIMER_T3560 ? "T3560" :
	    timer == CH_TIMER_T3550    ? "T3550" :
	                                 "none";
}

void ch_nas_dl_clear(ch_nas_dl_t *dl)
{
	if (dl == NULL)
		return;
	if (dl->plain != NULL)
		OPENSSL_clear_free(dl->plain, dl->plen);
	memset(dl, 0, sizeof(*dl));
}

int ch_nas_dl_note(ch_nas_dl_t *dl, int msg_type, uint8_t hdr,
    const uint8_t *plain, size_t plen)
{
	int timer = ch_nas_timer_for(msg_type);

	ch_nas_dl_clear(dl);
	if (timer == CH_TIMER_NONE)
		return CH_NAS_TIMER_OK;
	if (plen == 0 || plen > CH_DL_MAX)
		return CH_NAS_TIMER_SPACE;
	if ((dl->plain = OPENSSL_malloc(plen)) == NULL)
		return CH_NAS_TIMER_ERR;
	memcpy(dl->plain, plain, plen);
	dl->plen = plen;
	dl->hdr = hdr;
	dl->timer = timer;
	dl->fresh = 1;
	return CH_NAS_TIMER_OK;
}

int ch_nas_dl_resend(uint8_t *out, size_t cap, size_t *outlen,
    const ch_nas_dl_t *dl, nas_sec_ctx_t *sec)
{
	if (dl->plain == NULL)
		return CH_NAS_TIMER_ERR;
	if (dl->hdr == 0) {
		if (dl->plen > cap)
			return CH_NAS_TIMER_SPACE;
		memcpy(out, dl->plain, dl->plen);
		*outlen = dl->plen;
		return CH_NAS_TIMER_OK;
	}
	/* Not the earlier bytes: a retransmitted protected message takes
	 * the next downlink COUNT (TS 24.501 §4.4.3.1), so a UE that did get
	 * the first copy (and whose answer was lost) does not discard it as
	 * a replay. */
	return nas_sec_protect(out, cap, outlen, sec, dl->hdr, dl->plain,
	           dl->plen) == NAS_SEC_OK ?
	    CH_NAS_TIMER_OK :
	    CH_NAS_TIMER_SEC;
}

int ch_nas_timers_new(ch_nas_timers **out, unsigned t3560_ms, unsigned t3550_ms,
    size_t max_entries)
{
	ch_nas_timers *q = calloc(1, sizeof(*q));
	pthread_condattr_t ca;
	int i;

	*out = NULL;
	if (q == NULL)
		return CH_NAS_TIMER_ERR;
	pthread_mutex_init(&q->mu, NULL);
	/* Deadlines are on the monotonic clock, and so is the wait. */
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&q->cv, &ca);
	pthread_condattr_destroy(&ca);
	q->ms[CH_TIMER_T3560] = t3560_ms;
	q->ms[CH_TIMER_T3550] = t3550_ms;
	q->max = max_entries > 0 ? max_entries : 1;
	q->next_id = 1;
	for (i = 0; i < CH_TIMER_N; i++) {
		atomic_init(&q->retx[i], 0);
		atomic_init(&q->aborted[i], 0);
	}
	*out = q;
	return CH_NAS_TIMER_OK;
}

void ch_nas_timers_free(ch_nas_timers *q)
{
	if (q == NULL)
		return;
	pthread_mutex_destroy(&q->mu);
	pthread_cond_destroy(&q->cv);
	free(q->heap);
	free(q);
}

static void heap_swap(timer_entry *a, timer_entry *b)
{
	timer_entry t = *a;

	*a = *b;
	*b = t;
}

/* Restore the heap order from slot i upwards. */
static void heap_up(timer_entry *h, size_t i)
{
	while (i > 0 && h[(i - 1) / 2].due_ms > h[i].due_ms) {
		heap_swap(&h[(i - 1) / 2], &h[i]);
		i = (i - 1) / 2;
	}
}

/* Restore the heap order from the root downwards. */
static void heap_down(timer_entry *h, size_t n)
{
	size_t i = 0;

	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;

		if (l < n && h[l].due_ms < h[m].due_ms)
			m = l;
		if (r < n && h[r].due_ms < h[m].due_ms)
			m = r;
		if (m == i)
			return;
		heap_swap(&h[i], &h[m]);
		i = m;
	}
}

/* Push an entry (under mu); 0, or -1 when closed, full or out of memory. */
static int timers_push(ch_nas_timers *q, const char *name, uint64_t id,
    uint64_t due_ms)
{
	timer_entry *e;

	if (q->closed || q->n >= q->max)
		return -1;
	if (q->n == q->cap) {
		size_t cap = q->cap > 0 ? q->cap * 2 : 64;
		timer_entry *h = realloc(q->heap, cap * sizeof(*h));

		if (h == NULL)
			return -1;
		q->heap = h;
		q->cap = cap;
	}
	e = &q->heap[q->n];
	e->due_ms = due_ms;
	e->id = id;
	snprintf(e->name, sizeof(e->name), "%s", name);
	heap_up(q->heap, q->n++);
	/* Only a new earliest deadline changes what the waiter sleeps for. */
	if (q->heap[0].id == id)
		pthread_cond_signal(&q->cv);
	return 0;
}

int ch_nas_timers_arm(ch_nas_timers *q, const char *name, ch_nas_dl_t *dl,
    uint64_t now_ms)
{
	int rc = CH_NAS_TIMER_ERR;

	if (dl->timer <= CH_TIMER_NONE || dl->timer >= CH_TIMER_N ||
	    strlen(name) > COREHOOK_SESSION_MAX)
		return CH_NAS_TIMER_ERR;
	pthread_mutex_lock(&q->mu);
	if (timers_push(q, name, q->next_id, now_ms + q->ms[dl->timer]) == 0) {
		dl->armed = q->next_id++;
		dl->fresh = 0;
		rc = CH_NAS_TIMER_OK;
	}
	pthread_mutex_unlock(&q->mu);
	return rc;
}

int ch_nas_timers_defer(ch_nas_timers *q, const char *name, uint64_t id,
    uint64_t now_ms)
{
	int rc;

	if (q == NULL || strlen(name) > COREHOOK_SESSION_MAX)
		return CH_NAS_TIMER_ERR;
	pthread_mutex_lock(&q->mu);
	rc = timers_push(q, name, id, now_ms + CH_DEFER_MS) == 0 ?
	    CH_NAS_TIMER_OK :
	    CH_NAS_TIMER_ERR;
	pthread_mutex_unlock(&q->mu);
	return rc;
}

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

int ch_nas_timers_wait(ch_nas_timers *q, char *name, size_t cap, uint64_t *id)
{
	int rc = 0;

	pthread_mutex_lock(&q->mu);
	while (!q->closed) {
		uint64_t now = mono_ms();
		struct timespec ts;

		if (q->n > 0 && q->heap[0].due_ms <= now) {
			snprintf(name, cap, "%s", q->heap[0].name);
			*id = q->heap[0].id;
			q->heap[0] = q->heap[--q->n];
			heap_down(q->heap, q->n);
			rc = 1;
			break;
		}
		if (q->n == 0) {
			pthread_cond_wait(&q->cv, &q->mu);
			continue;
		}
		ts.tv_sec = (time_t)(q->heap[0].due_ms / 1000u);
		ts.tv_nsec = (long)(q->heap[0].due_ms % 1000u) * 1000000L;
		(void)pthread_cond_timedwait(&q->cv, &q->mu, &ts);
	}
	pthread_mutex_unlock(&q->mu);
	return rc;
}

void ch_nas_timers_close(ch_nas_timers *q)
{
	if (q == NULL)
		return;
	pthread_mutex_lock(&q->mu);
	q->closed = 1;
	pthread_cond_broadcast(&q->cv);
	pthread_mutex_unlock(&q->mu);
}

void ch_nas_timers_count(ch_nas_timers *q, int timer, int aborted)
{
	if (timer <= CH_TIMER_NONE || timer >= CH_TIMER_N)
		return;
	atomic_fetch_add(aborted ? &q->aborted[timer] : &q->retx[timer], 1);
}

int ch_nas_timers_metrics(const ch_nas_timers *q, char *buf, size_t cap)
{
	size_t off = strlen(buf);
	int n;

	if (off >= cap)
		return -1;
	n = snprintf(buf + off, cap - off,
	    "# HELP corehook_nas_retransmissions_total Downlink NAS messages"
	    " sent again on a timer expiry, by timer.\n"
	    "# TYPE corehook_nas_retransmissions_total counter\n"
	    "corehook_nas_retransmissions_total{timer=\"T3560\"} %llu\n"
	    "corehook_nas_retransmissions_total{timer=\"T3550\"} %llu\n"
	    "# HELP corehook_nas_procedures_aborted_total Procedures aborted"
	    " on the fifth expiry of their timer (session state freed).\n"
	    "# TYPE corehook_nas_procedures_aborted_total counter\n"
	    "corehook_nas_procedures_aborted_total{timer=\"T3560\"} %llu\n"
	    "corehook_nas_procedures_aborted_total{timer=\"T3550\"} %llu\n",
	    (unsigned long long)atomic_load(&q->retx[CH_TIMER_T3560]),
	    (unsigned long long)atomic_load(&q->retx[CH_TIMER_T3550]),
	    (unsigned long long)atomic_load(&q->aborted[CH_TIMER_T3560]),
	    (unsigned long long)atomic_load(&q->aborted[CH_TIMER_T3550]));
	return n < 0 || (size_t)n >= cap - off ? -1 : 0;
}
