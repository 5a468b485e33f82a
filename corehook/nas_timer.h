/* nas_timer.h — the network side's NAS retransmission timers (TS 24.501
 * §5.4.1.3.7, §5.4.2.7, §5.5.1.2.8): T3560 guards an Authentication request
 * and a Security mode command, T3550 a Registration accept. A session keeps
 * the downlink it awaits an answer to (ch_nas_dl_t); a deadline queue
 * (ch_nas_timers) holds every armed timer. On each of the first four
 * expiries the message is sent again — a protected one re-protected with
 * the next downlink NAS COUNT (§4.4.3.1: every new or retransmitted
 * protected message steps the COUNT) — and the fifth aborts the procedure.
 * Internal to corehook. */
#ifndef PROVCA_NAS_TIMER_H
#define PROVCA_NAS_TIMER_H

#include <stddef.h>
#include <stdint.h>

#include "nas_sec.h"

enum {
	CH_TIMER_NONE = 0,
	CH_TIMER_T3560 = 1,
	CH_TIMER_T3550 = 2,
	CH_TIMER_N = 3
};

/* Retransmissions per procedure: the fifth expiry aborts it. */
#define CH_RETX_MAX 4
/* Longest plain downlink kept for a retransmission. */
#define CH_DL_MAX 512

enum {
	CH_NAS_TIMER_OK = 0,
	CH_NAS_TIMER_ERR = -1,   /* out of memory, queue full */
	CH_NAS_TIMER_SPACE = -2, /* message or output too large */
	CH_NAS_TIMER_SEC = -3    /* re-protection failed */
};

/* The downlink a session awaits an answer to. */
typedef struct {
	int timer;      /* CH_TIMER_*; NONE: nothing awaited */
	int state;      /* the session state it is valid in */
	uint8_t hdr;    /* security header type; 0: sent in clear */
	uint8_t *plain; /* the plain message (wiped when dropped) */
	size_t plen;
	unsigned expiries;
	uint64_t armed; /* queue id of the running timer, 0: none */
	int fresh;      /* noted since the session last armed it */
} ch_nas_dl_t;

/* The timer guarding a downlink message of type msg_type (NAS_MSG_*):
 * T3560, T3550 or CH_TIMER_NONE. */
int ch_nas_timer_for(int msg_type);

/* "T3560" / "T3550" / "none". */
const char *ch_nas_timer_name(int timer);

/* Keep the plain downlink of type msg_type (sent with security header type
 * hdr) in dl, replacing what it held; expiries start again. A message no
 * timer guards only drops what dl held. */
int ch_nas_dl_note(ch_nas_dl_t *dl, int msg_type, uint8_t hdr,
    const uint8_t *plain, size_t plen);

/* Drop what dl holds (the plain message wiped); NULL-safe. */
void ch_nas_dl_clear(ch_nas_dl_t *dl);

/* The bytes of a retransmission of dl into out: the same message in clear,
 * or the same plain message protected again in sec (the next downlink
 * COUNT). */
int ch_nas_dl_resend(uint8_t *out, size_t cap, size_t *outlen,
    const ch_nas_dl_t *dl, nas_sec_ctx_t *sec);

/* ---- the deadline queue ---- */

typedef struct ch_nas_timers ch_nas_timers;

/* A queue with the two timers' durations in milliseconds and room for
 * max_entries armed timers. */
int ch_nas_timers_new(ch_nas_timers **out, unsigned t3560_ms, unsigned t3550_ms,
    size_t max_entries);

/* Free a queue (after ch_nas_timers_close and its last waiter); NULL-safe. */
void ch_nas_timers_free(ch_nas_timers *q);

/* (Re)start dl's timer for session name at now_ms: dl->armed gets the new
 * entry's id (an entry whose id no longer matches is stale). */
int ch_nas_timers_arm(ch_nas_timers *q, const char *name, ch_nas_dl_t *dl,
    uint64_t now_ms);

/* Put entry id of name back, due at now_ms + CH_DEFER_MS (it came due
 * while its session was busy with an uplink). */
#define CH_DEFER_MS 20
int ch_nas_timers_defer(ch_nas_timers *q, const char *name, uint64_t id,
    uint64_t now_ms);

/* Wait until the earliest entry's deadline has passed and take it: 1 with
 * the session name (cap >= COREHOOK_SESSION_MAX + 1) and id, 0 once the
 * queue is closed. */
int ch_nas_timers_wait(ch_nas_timers *q, char *name, size_t cap, uint64_t *id);

/* Wake every waiter; ch_nas_timers_wait returns 0 from then on. */
void ch_nas_timers_close(ch_nas_timers *q);

/* Count a retransmission (aborted = 0) or an aborted procedure
 * (aborted = 1) of timer. */
void ch_nas_timers_count(ch_nas_timers *q, int timer, int aborted);

/* Append the queue's counters in Prometheus text to buf (NUL-terminated,
 * cap bytes in all); -1 when they do not fit. */
int ch_nas_timers_metrics(const ch_nas_timers *q, char *buf, size_t cap);

#endif
