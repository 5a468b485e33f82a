/* test_nas_timer.c — corehook's T3560/T3550 building blocks (nas_timer.c):
 * which downlink each timer guards, a retransmission in clear is the same
 * bytes while a protected one takes the next downlink COUNT (a UE opens
 * both copies, and refuses the first again as a replay), the deadline
 * queue hands entries out earliest first and only once due, a deferred
 * entry keeps its id, a closed queue wakes its waiter, the counters. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "nas.h"
#include "nas_sec.h"
#include "nas_timer.h"

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void timer_for__guarded_messages(void **state)
{
	(void)state;
	assert_int_equal(ch_nas_timer_for(NAS_MSG_AUTH_REQUEST),
	    CH_TIMER_T3560);
	assert_int_equal(ch_nas_timer_for(NAS_MSG_SECURITY_MODE_COMMAND),
	    CH_TIMER_T3560);
	assert_int_equal(ch_nas_timer_for(NAS_MSG_REGISTRATION_ACCEPT),
	    CH_TIMER_T3550);
	assert_int_equal(ch_nas_timer_for(NAS_MSG_REGISTRATION_REJECT),
	    CH_TIMER_NONE);
	assert_int_equal(ch_nas_timer_for(NAS_MSG_AUTH_REJECT), CH_TIMER_NONE);
	assert_string_equal(ch_nas_timer_name(CH_TIMER_T3560), "T3560");
	assert_string_equal(ch_nas_timer_name(CH_TIMER_T3550), "T3550");
}

static void dl__clear_message_resent_identical(void **state)
{
	const uint8_t msg[] = { 0x7e, 0x00, 0x56, 0x01, 0x02, 0x03 };
	uint8_t out[64];
	size_t n = 0;
	ch_nas_dl_t dl;

	(void)state;
	memset(&dl, 0, sizeof(dl));
	assert_int_equal(ch_nas_dl_note(&dl, NAS_MSG_AUTH_REQUEST, 0, msg,
	                     sizeof(msg)),
	    CH_NAS_TIMER_OK);
	assert_int_equal(dl.timer, CH_TIMER_T3560);
	assert_int_equal(dl.fresh, 1);
	assert_int_equal(ch_nas_dl_resend(out, sizeof(out), &n, &dl, NULL),
	    CH_NAS_TIMER_OK);
	assert_int_equal(n, sizeof(msg));
	assert_memory_equal(out, msg, sizeof(msg));
	assert_int_equal(ch_nas_dl_resend(out, 3, &n, &dl, NULL),
	    CH_NAS_TIMER_SPACE);
	/* a message no timer guards drops what was held */
	assert_int_equal(ch_nas_dl_note(&dl, NAS_MSG_REGISTRATION_REJECT, 0,
	                     msg, sizeof(msg)),
	    CH_NAS_TIMER_OK);
	assert_int_equal(dl.timer, CH_TIMER_NONE);
	assert_null(dl.plain);
	ch_nas_dl_clear(&dl);
	ch_nas_dl_clear(NULL);
}

static void dl__protected_resent_with_next_count(void **state)
{
	uint8_t kamf[32], plain[] = { 0x7e, 0x00, 0x42, 0x01, 0x01 };
	uint8_t c1[64], c2[64], got[64], hdr = 0;
	size_t n1 = 0, n2 = 0, gn = 0;
	nas_sec_ctx_t amf, ue;
	ch_nas_dl_t dl;

	(void)state;
	memset(&dl, 0, sizeof(dl));
	memset(kamf, 0x5a, sizeof(kamf));
	assert_int_equal(nas_sec_ctx_init(&amf, kamf, NAS_SEC_ALG_2,
	                     NAS_SEC_ALG_2, 0, 0),
	    NAS_SEC_OK);
	assert_int_equal(nas_sec_ctx_init(&ue, kamf, NAS_SEC_ALG_2,
	                     NAS_SEC_ALG_2, 1, 0),
	    NAS_SEC_OK);
	assert_int_equal(ch_nas_dl_note(&dl, NAS_MSG_REGISTRATION_ACCEPT,
	                     NAS_SEC_HDR_INTEGRITY_CIPHERED, plain,
	                     sizeof(plain)),
	    CH_NAS_TIMER_OK);
	assert_int_equal(dl.timer, CH_TIMER_T3550);
	assert_int_equal(ch_nas_dl_resend(c1, sizeof(c1), &n1, &dl, &amf), 0);
	assert_int_equal(ch_nas_dl_resend(c2, sizeof(c2), &n2, &dl, &amf), 0);
	assert_int_equal(n1, n2);
	assert_int_equal(c1[6], 0); /* sequence numbers 0, then 1 */
	assert_int_equal(c2[6], 1);
	assert_memory_not_equal(c1, c2, n1);
	/* the UE opens the first copy, then the retransmission; the first
	 * again is a replay */
	assert_int_equal(nas_sec_unprotect(got, sizeof(got), &gn, &hdr, &ue, c1,
	                     n1),
	    NAS_SEC_OK);
	assert_memory_equal(got, plain, sizeof(plain));
	assert_int_equal(nas_sec_unprotect(got, sizeof(got), &gn, &hdr, &ue, c2,
	                     n2),
	    NAS_SEC_OK);
	assert_memory_equal(got, plain, sizeof(plain));
	assert_int_equal(nas_sec_unprotect(got, sizeof(got), &gn, &hdr, &ue, c1,
	                     n1),
	    NAS_SEC_ERR_REPLAY);
	ch_nas_dl_clear(&dl);
	nas_sec_ctx_clear(&amf);
	nas_sec_ctx_clear(&ue);
}

static void queue__earliest_first_only_when_due(void **state)
{
	ch_nas_timers *q = NULL;
	ch_nas_dl_t a, b;
	char name[200];
	uint64_t id = 0, t0 = mono_ms();

	(void)state;
	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	a.timer = CH_TIMER_T3560; /* 300 ms */
	b.timer = CH_TIMER_T3550; /* 100 ms */
	assert_int_equal(ch_nas_timers_new(&q, 300, 100, 8), 0);
	assert_int_equal(ch_nas_timers_arm(q, "udp:a", &a, t0), 0);
	assert_int_equal(ch_nas_timers_arm(q, "udp:b", &b, t0), 0);
	assert_true(a.armed != 0 && b.armed != 0 && a.armed != b.armed);
	assert_int_equal(a.fresh, 0);
	assert_int_equal(ch_nas_timers_wait(q, name, sizeof(name), &id), 1);
	assert_string_equal(name, "udp:b");
	assert_int_equal(id, b.armed);
	assert_true(mono_ms() - t0 >= 100);
	/* a deferred entry comes back with the same id */
	assert_int_equal(ch_nas_timers_defer(q, "udp:b", b.armed, mono_ms()),
	    0);
	assert_int_equal(ch_nas_timers_wait(q, name, sizeof(name), &id), 1);
	assert_string_equal(name, "udp:b");
	assert_int_equal(id, b.armed);
	assert_int_equal(ch_nas_timers_wait(q, name, sizeof(name), &id), 1);
	assert_string_equal(name, "udp:a");
	assert_int_equal(id, a.armed);
	assert_true(mono_ms() - t0 >= 300);
	ch_nas_timers_close(q);
	assert_int_equal(ch_nas_timers_wait(q, name, sizeof(name), &id), 0);
	assert_int_not_equal(ch_nas_timers_arm(q, "udp:a", &a, t0), 0);
	ch_nas_timers_free(q);
}

static void queue__bounded_and_counted(void **state)
{
	ch_nas_timers *q = NULL;
	ch_nas_dl_t a;
	char buf[2048] = "x 1\n";

	(void)state;
	memset(&a, 0, sizeof(a));
	a.timer = CH_TIMER_T3560;
	assert_int_equal(ch_nas_timers_new(&q, 1000, 1000, 2), 0);
	assert_int_equal(ch_nas_timers_arm(q, "s1", &a, 0), 0);
	assert_int_equal(ch_nas_timers_arm(q, "s2", &a, 0), 0);
	assert_int_equal(ch_nas_timers_arm(q, "s3", &a, 0), CH_NAS_TIMER_ERR);
	a.timer = CH_TIMER_NONE;
	assert_int_equal(ch_nas_timers_arm(q, "s4", &a, 0), CH_NAS_TIMER_ERR);
	ch_nas_timers_count(q, CH_TIMER_T3560, 0);
	ch_nas_timers_count(q, CH_TIMER_T3560, 0);
	ch_nas_timers_count(q, CH_TIMER_T3550, 1);
	assert_int_equal(ch_nas_timers_metrics(q, buf, sizeof(buf)), 0);
	assert_non_null(
	    strstr(buf, "x 1\n# HELP corehook_nas_retransmissions"));
	assert_non_null(strstr(buf,
	    "corehook_nas_retransmissions_total{timer=\"T3560\"} 2\n"));
	assert_non_null(strstr(buf,
	    "corehook_nas_retransmissions_total{timer=\"T3550\"} 0\n"));
	assert_non_null(strstr(buf,
	    "corehook_nas_procedures_aborted_total{timer=\"T3550\"} 1\n"));
	assert_int_equal(ch_nas_timers_metrics(q, buf, strlen(buf) + 10), -1);
	ch_nas_timers_free(q);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(timer_for__guarded_messages),
		cmocka_unit_test(dl__clear_message_resent_identical),
		cmocka_unit_test(dl__protected_resent_with_next_count),
		cmocka_unit_test(queue__earliest_first_only_when_due),
		cmocka_unit_test(queue__bounded_and_counted),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
