/* ue_transport.h — UDP transport to a core: one NAS message per datagram, a
 * connected socket (only the core's address is heard), and a request loop
 * with bounded retransmission that lets the caller ignore forged answers
 * and keep waiting. */
#ifndef PROVCA_UE_TRANSPORT_H
#define PROVCA_UE_TRANSPORT_H

#include <stddef.h>
#include <stdint.h>

#define UE_DGRAM_MAX 9000 /* largest datagram read (NAS_MAX_MSG_LEN fits) */

enum { UE_DIR_UL = 0, UE_DIR_DL = 1 };

/* Called with every datagram sent (UE_DIR_UL) or received (UE_DIR_DL):
 * the trace writer hooks in here. */
typedef void (*ue_tap_fn)(void *ctx, int dir, const uint8_t *buf, size_t len);

typedef struct {
	int fd;
	char peer[128]; /* "host:port" as given */
	ue_tap_fn tap;
	void *tap_ctx;
	unsigned sent;   /* datagrams sent (retransmissions included) */
	unsigned resent; /* of those, retransmissions by ue_udp_transact */
} ue_udp_t;

/* Open a UDP socket connected to "HOST:PORT" (numeric or resolvable). */
int ue_udp_open(ue_udp_t *out, const char *address, char *err, size_t errlen);

void ue_udp_close(ue_udp_t *u);

int ue_udp_send(ue_udp_t *u, const uint8_t *buf, size_t len, char *err,
    size_t errlen);

/* Wait at most timeout_ms for one datagram. UE_ERR_TIMEOUT if none came;
 * a datagram larger than cap is truncated and refused (UE_ERR_PROTO). */
int ue_udp_recv(ue_udp_t *u, uint8_t *buf, size_t cap, size_t *len,
    unsigned timeout_ms, char *err, size_t errlen);

/* Handler for an answer: return 1 when it is the answer (stop), 0 to
 * ignore it and keep waiting, UE_ANSWER_AGAIN when the peer sent again the
 * message the request answers (the network's retransmission: the request
 * was lost) so the request goes again now, a negative UE_ERR_* to fail. */
#define UE_ANSWER_AGAIN 2
typedef int (*ue_answer_fn)(void *ctx, const uint8_t *buf, size_t len);

/* Send req, then wait for an answer the handler accepts. With no accepted
 * answer after every_ms, send again, at most retransmits more times; when
 * max_every_ms is larger than every_ms the wait doubles after each send up
 * to max_every_ms (else it stays every_ms). Give up with UE_ERR_TIMEOUT at
 * total_ms after the first send. */
int ue_udp_transact(ue_udp_t *u, const uint8_t *req, size_t reqlen,
    unsigned every_ms, unsigned max_every_ms, unsigned retransmits,
    unsigned total_ms, ue_answer_fn fn, void *ctx, char *err, size_t errlen);

/* The wait after the n-th send of one request (n = 1: the first send):
 * every_ms doubled per earlier send, up to max_every_ms when that is
 * larger than every_ms; else every_ms each time. */
unsigned ue_retx_wait_ms(unsigned every_ms, unsigned max_every_ms, unsigned n);

/* Milliseconds from a monotonic clock. */
uint64_t ue_now_ms(void);

#endif
