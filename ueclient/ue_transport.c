/* ue_transport.c — UDP to a core with bounded retransmission. */
#include "ue_transport.h"
#include "ue.h"
#include "util.h"

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

uint64_t ue_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

int ue_udp_open(ue_udp_t *out, const char *address, char *err, size_t errlen)
{
	char host[UE_ADDR_MAX + 1];
	const char *colon = strrchr(address, ':');
	struct addrinfo hints, *res = NULL, *ai;
	size_t hl;
	int fd = -1, gai;

	memset(out, 0, sizeof(*out));
	out->fd = -1;
	if (colon == NULL || colon == address ||
	    (hl = (size_t)(colon - address)) > UE_ADDR_MAX) {
		util_err_set(err, errlen, "\"%s\" is not HOST:PORT", address);
		return UE_ERR_ARG;
	}
	memcpy(host, address, hl);
	host[hl] = '\0';
	/* [v6]:port */
	if (hl >= 2 && host[0] == '[' && host[hl - 1] == ']') {
		memmove(host, host + 1, hl - 2);
		host[hl - 2] = '\0';
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_DGRAM;
	gai = getaddrinfo(host, colon + 1, &hints, &res);
	if (gai != 0) {
		util_err_set(err, errlen, "%s: %s", address, gai_strerror(gai));
		return UE_ERR_ARG;
	}
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
		    ai->ai_protocol);
		if (fd < 0)
			continue;
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0) {
		util_err_set(err, errlen, "%s: cannot open a UDP socket: %s",
		    address, strerror(errno));
		return UE_ERR_IO;
	}
	out->fd = fd;
	snprintf(out->peer, sizeof(out->peer), "%s", address);
	return UE_OK;
}

void ue_udp_close(ue_udp_t *u)
{
	if (u != NULL && u->fd >= 0) {
		close(u->fd);
		u->fd = -1;
	}
}

int ue_udp_send(ue_udp_t *u, const uint8_t *buf, size_t len, char *err,
    size_t errlen)
{
	ssize_t w;

	do
		w = send(u->fd, buf, len, 0);
	while (w < 0 && errno == EINTR);
	/* ECONNREFUSED is an ICMP from an earlier datagram: the core is down
	 * right now, which retransmission and the timeout deal with. */
	if (w < 0 && errno != ECONNREFUSED) {
		util_err_set(err, errlen, "send to %s: %s", u->peer,
		    strerror(errno));
		return UE_ERR_IO;
	}
	u->sent++;
	if (u->tap != NULL)
		u->tap(u->tap_ctx, UE_DIR_UL, buf, len);
	return UE_OK;
}

int ue_udp_recv(ue_udp_t *u, uint8_t *buf, size_t cap, size_t *len,
    unsigned timeout_ms, char *err, size_t errlen)
{
	uint64_t deadline = ue_now_ms() + timeout_ms;

	*len = 0;
	for (;;) {
		struct pollfd pfd = { .fd = u->fd, .events = POLLIN };
		uint64_t now = ue_now_ms();
		ssize_t r;
		int pr;

		if (now >= deadline)
			return UE_ERR_TIMEOUT;
		pr = poll(&pfd, 1, (int)(deadline - now));
		if (pr < 0 && errno == EINTR)
			continue;
		if (pr < 0) {
			util_err_set(err, errlen, "poll: %s", strerror(errno));
			return UE_ERR_IO;
		}
		if (pr == 0)
			return UE_ERR_TIMEOUT;
		r = recv(u->fd, buf, cap, MSG_TRUNC);
		if (r < 0 &&
		    (errno == EINTR || errno == ECONNREFUSED ||
		        errno == EAGAIN))
			continue; /* an ICMP error is no answer; keep waiting */
		if (r < 0) {
			util_err_set(err, errlen, "recv from %s: %s", u->peer,
			    strerror(errno));
			return UE_ERR_IO;
		}
		if ((size_t)r > cap) {
			util_err_set(err, errlen,
			    "datagram of %zd bytes from %s is "
			    "larger than %zu",
			    r, u->peer, cap);
			return UE_ERR_PROTO;
		}
		*len = (size_t)r;
		if (u->tap != NULL)
			u->tap(u->tap_ctx, UE_DIR_DL, buf, *len);
		return UE_OK;
	}
}

unsigned ue_retx_wait_ms(unsigned every_ms, unsigned max_every_ms, unsigned n)
{
	unsigned w = every_ms;

	if (max_every_ms <= every_ms)
		return every_ms;
	while (n-- > 1 && w < max_every_ms)
		w = w > max_every_ms / 2 ? max_every_ms : w * 2;
	return w;
}

int ue_udp_transact(ue_udp_t *u, const uint8_t *req, size_t reqlen,
    unsigned every_ms, unsigned max_every_ms, unsigned retransmits,
    unsigned total_ms, ue_answer_fn fn, void *ctx, char *err, size_t errlen)
{
	static __thread uint8_t buf[UE_DGRAM_MAX];
	uint64_t start = ue_now_ms(), deadline = start + total_ms;
	uint64_t next_tx = start + every_ms;
	unsigned resent = 0;
	int rc;

	if ((rc = ue_udp_send(u, req, reqlen, err, errlen)) != 0)
		return rc;
	for (;;) {
		uint64_t now = ue_now_ms(), until;
		size_t len;

		if (now >= deadline) {
			util_err_set(err, errlen,
			    "no answer from %s within %u ms "
			    "(%u retransmissions)",
			    u->peer, total_ms, resent);
			return UE_ERR_TIMEOUT;
		}
		if (now >= next_tx) {
			if (resent < retransmits) {
				if ((rc = ue_udp_send(u, req, reqlen, err,
				         errlen)) != 0)
					return rc;
				resent++;
				u->resent++;
				next_tx = now +
				    ue_retx_wait_ms(every_ms, max_every_ms,
				        resent + 1);
			} else {
				next_tx = deadline;
			}
			continue;
		}
		until = next_tx < deadline ? next_tx : deadline;
		rc = ue_udp_recv(u, buf, sizeof(buf), &len,
		    (unsigned)(until - now), err, errlen);
		if (rc == UE_ERR_TIMEOUT)
			continue;
		if (rc == UE_ERR_PROTO)
			continue; /* oversized junk is no answer */
		if (rc != 0)
			return rc;
		rc = fn(ctx, buf, len);
		if (rc < 0)
			return rc;
		if (rc == 1)
			return UE_OK;
		if (rc == UE_ANSWER_AGAIN) {
			if ((rc = ue_udp_send(u, req, reqlen, err, errlen)) !=
			    0)
				return rc;
			u->resent++;
		}
	}
}
