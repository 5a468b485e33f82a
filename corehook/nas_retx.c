/* nas_retx.c — the thread that drives T3560/T3550 for a caller that can
 * send to its sessions on its own (corehook serve's UDP peers): it waits
 * for the next deadline of the queue (nas_timer.c), asks the session
 * (ch_session_expire) whether the timer still runs, and hands a
 * retransmission to the caller's send function or counts an abort. */
#include "ch_ctx.h"

#include <stdlib.h>

#include <openssl/crypto.h>

#include "nas_timer.h"
#include "util.h"

struct corehook_retx {
	corehook *ch;
	ch_nas_timers *q;
	corehook_send_fn send;
	void *arg;
	pthread_t th;
	int started;
};

/* Timer entries come due here, one at a time, until the queue closes. */
static void *retx_main(void *arg)
{
	corehook_retx *r = arg;
	char name[COREHOOK_SESSION_MAX + 1];
	uint8_t *out = OPENSSL_malloc(COREHOOK_NAS_MAX);
	uint64_t id;

	if (out == NULL)
		return NULL;
	while (ch_nas_timers_wait(r->q, name, sizeof(name), &id)) {
		size_t outlen = 0;
		int timer = CH_TIMER_NONE;
		int what = ch_session_expire(r->ch, name, id, out,
		    COREHOOK_NAS_MAX, &outlen, &timer);

		if (what == CH_EXPIRE_RESEND && outlen > 0) {
			ch_nas_timers_count(r->q, timer, 0);
			r->send(r->arg, name, out, outlen);
		} else if (what == CH_EXPIRE_ABORTED) {
			ch_nas_timers_count(r->q, timer, 1);
		}
		OPENSSL_cleanse(out, outlen);
	}
	OPENSSL_free(out);
	return NULL;
}

int corehook_retx_start(corehook_retx **out, corehook *ch,
    corehook_send_fn send, void *arg, char *err, size_t errlen)
{
	corehook_retx *r = NULL;
	const corehook_config *cfg;

	*out = NULL;
	if (ch == NULL || send == NULL || ch->timers != NULL) {
		util_err_set(err, errlen, "bad argument");
		return COREHOOK_ERR_ARG;
	}
	cfg = ch->cfg;
	if ((r = calloc(1, sizeof(*r))) == NULL ||
	    ch_nas_timers_new(&r->q, cfg->t3560_ms, cfg->t3550_ms,
	        (size_t)cfg->max_sessions * 4) != 0) {
		util_err_set(err, errlen, "out of memory");
		free(r);
		return COREHOOK_ERR;
	}
	r->ch = ch;
	r->send = send;
	r->arg = arg;
	if (pthread_create(&r->th, NULL, retx_main, r) != 0) {
		util_err_set(err, errlen, "no timer thread");
		ch_nas_timers_free(r->q);
		free(r);
		return COREHOOK_ERR;
	}
	r->started = 1;
	ch->timers = r->q;
	*out = r;
	return COREHOOK_OK;
}

void corehook_retx_stop(corehook_retx *r)
{
	if (r == NULL)
		return;
	ch_nas_timers_close(r->q);
	if (r->started)
		pthread_join(r->th, NULL);
	r->ch->timers = NULL;
	ch_nas_timers_free(r->q);
	free(r);
}

int corehook_retx_metrics_write(const corehook_retx *r, char *buf, size_t cap)
{
	if (r == NULL)
		return COREHOOK_OK;
	return ch_nas_timers_metrics(r->q, buf, cap) == 0 ? COREHOOK_OK :
	                                                    COREHOOK_ERR_SPACE;
}
