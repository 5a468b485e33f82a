/* sbi_server.c — the SBI's HTTP/2 server: cleartext HTTP/2 with prior
 * knowledge (h2c, as inside an operator's network) framed by libnghttp2. A
 * thread per connection (at most SBI_CONN_MAX) reads frames, collects each
 * stream's headers and body (bounded), hands complete requests to the
 * handler and sends its answer on the same stream; many streams share one
 * connection. A stream whose request is not complete within the 10 s
 * answer budget is cancelled. Optionally TLS (OpenSSL, ALPN h2, TLS 1.2+)
 * with a client certificate required (TS 33.501 §13.1). */
#define _GNU_SOURCE
#include "sbi.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <nghttp2/nghttp2.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "util.h"

#define SBI_CONN_MAX 64
#define SBI_HDR_MAX 512    /* longest header value kept */
#define SBI_IDLE_MS 120000 /* a silent connection is closed */

struct stream {
	int32_t id;
	char method[16];
	char path[SBI_HDR_MAX];
	char authority[256];
	char ctype[128];
	uint8_t *body;
	size_t len;
	int too_large, bad_header, answered;
	uint64_t start_ms;
	sbi_response_t resp;
	size_t sent;
	struct stream *next;
};

struct conn {
	struct sbi_server *srv;
	sbi_handler_fn fn;
	void *arg;
	sbi_metrics_t *m;
	int fd;
	SSL *ssl; /* NULL: h2c */
	char peer[64];
	nghttp2_session *ng;
	struct stream *streams;
};

struct slot {
	pthread_t th;
	int used, done, fd;
	struct conn c;
};

struct sbi_server {
	int lfd;
	int wake[2];
	unsigned port;
	sbi_handler_fn fn;
	void *arg;
	sbi_metrics_t *m;
	SSL_CTX *tls; /* NULL: h2c */
	pthread_t accept_th;
	int accept_started;
	atomic_int stopping;
	pthread_mutex_t mu;
	struct slot slots[SBI_CONN_MAX];
};

/* Monotonic milliseconds. */
static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Free one stream's buffers (the body may hold secrets' inputs). */
static void stream_free(struct stream *s)
{
	if (s == NULL)
		return;
	if (s->body != NULL)
		OPENSSL_cleanse(s->body, s->len);
	free(s->body);
	if (s->resp.body != NULL)
		OPENSSL_cleanse(s->resp.body, s->resp.body_len);
	free(s->resp.body);
	free(s);
}

/* Data provider: the handler's body, then END_STREAM. */
static ssize_t body_read(nghttp2_session *ng, int32_t id, uint8_t *buf,
    size_t len, uint32_t *flags, nghttp2_data_source *src, void *user)
{
	struct stream *s = src->ptr;
	size_t n = s->resp.body_len - s->sent;

	(void)ng;
	(void)id;
	(void)user;
	if (n > len)
		n = len;
	memcpy(buf, s->resp.body + s->sent, n);
	s->sent += n;
	if (s->sent == s->resp.body_len)
		*flags |= NGHTTP2_DATA_FLAG_EOF;
	return (ssize_t)n;
}

/* Send s->resp on its stream: :status, content-type when there is a body,
 * location when set. */
static int stream_respond(struct conn *c, struct stream *s)
{
	char status[8], clen[24];
	nghttp2_nv nv[4];
	nghttp2_data_provider dp;
	size_t n = 0;

#define NV(k, v) \
	do { \
		nv[n].name = (uint8_t *)(k); \
		nv[n].value = (uint8_t *)(v); \
		nv[n].namelen = strlen(k); \
		nv[n].valuelen = strlen(v); \
		nv[n].flags = NGHTTP2_NV_FLAG_NONE; \
		n++; \
	} while (0)
	snprintf(status, sizeof(status), "%d", s->resp.status);
	snprintf(clen, sizeof(clen), "%zu", s->resp.body_len);
	NV(":status", status);
	if (s->resp.body_len > 0) {
		NV("content-type", s->resp.content_type);
		NV("content-length", clen);
	}
	if (s->resp.location[0] != '\0')
		NV("location", s->resp.location);
#undef NV
	s->answered = 1;
	dp.source.ptr = s;
	dp.read_callback = body_read;
	return nghttp2_submit_response(c->ng, s->id, nv, n,
	    s->resp.body_len > 0 ? &dp : NULL);
}

/* A complete request: ask the handler, or refuse what broke the bounds. */
static int stream_dispatch(struct conn *c, struct stream *s)
{
	sbi_request_t req;
	uint64_t t0 = mono_ms();
	static const char big[] =
	    "{\"status\":413,\"cause\":"
	    "\"MANDATORY_IE_INCORRECT\",\"detail\":\"body over 16 KiB\"}";

	atomic_fetch_add(&c->m->streams, 1);
	if (s->too_large || s->bad_header || s->method[0] == '\0' ||
	    s->path[0] == '\0') {
		s->resp.status = s->too_large ? 413 : 400;
		snprintf(s->resp.content_type, sizeof(s->resp.content_type),
		    "application/problem+json");
		if ((s->resp.body = strdup(big)) != NULL) {
			if (!s->too_large)
				memcpy(s->resp.body + 10, "400", 3);
			s->resp.body_len = strlen(big);
		}
		return stream_respond(c, s);
	}
	memset(&req, 0, sizeof(req));
	req.method = s->method;
	req.path = s->path;
	req.authority = s->authority;
	req.content_type = s->ctype;
	req.peer = c->peer;
	req.body = s->body != NULL ? s->body : (const uint8_t *)"";
	req.body_len = s->len;
	c->fn(c->arg, &req, &s->resp);
	if (mono_ms() - s->start_ms > SBI_BUDGET_MS ||
	    mono_ms() - t0 > SBI_BUDGET_MS)
		atomic_fetch_add(&c->m->cause[SBI_CAUSE_BUDGET], 1);
	return stream_respond(c, s);
}

/* A request stream opens: give it its collection state. */
static int on_begin_headers(nghttp2_session *ng, const nghttp2_frame *f,
    void *user)
{
	struct conn *c = user;
	struct stream *s;

	if (f->hd.type != NGHTTP2_HEADERS ||
	    f->headers.cat != NGHTTP2_HCAT_REQUEST)
		return 0;
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return NGHTTP2_ERR_CALLBACK_FAILURE;
	s->id = f->hd.stream_id;
	s->start_ms = mono_ms();
	s->next = c->streams;
	c->streams = s;
	nghttp2_session_set_stream_user_data(ng, s->id, s);
	return 0;
}

/* Copy a header value into dst, or mark the stream broken if it is long. */
static void hdr_keep(struct stream *s, char *dst, size_t cap, const uint8_t *v,
    size_t vlen)
{
	if (vlen >= cap) {
		s->bad_header = 1;
		return;
	}
	memcpy(dst, v, vlen);
	dst[vlen] = '\0';
}

/* Keep the request headers the handler needs, bounded. */
static int on_header(nghttp2_session *ng, const nghttp2_frame *f,
    const uint8_t *name, size_t namelen, const uint8_t *value, size_t valuelen,
    uint8_t flags, void *user)
{
	struct stream *s;

	(void)flags;
	(void)user;
	if (f->hd.type != NGHTTP2_HEADERS ||
	    (s = nghttp2_session_get_stream_user_data(ng, f->hd.stream_id)) ==
	        NULL)
		return 0;
	if (namelen == 7 && memcmp(name, ":method", 7) == 0)
		hdr_keep(s, s->method, sizeof(s->method), value, valuelen);
	else if (namelen == 5 && memcmp(name, ":path", 5) == 0)
		hdr_keep(s, s->path, sizeof(s->path), value, valuelen);
	else if (namelen == 10 && memcmp(name, ":authority", 10) == 0)
		hdr_keep(s, s->authority, sizeof(s->authority), value,
		    valuelen);
	else if (namelen == 12 && memcmp(name, "content-type", 12) == 0)
		hdr_keep(s, s->ctype, sizeof(s->ctype), value, valuelen);
	return 0;
}

/* Append body bytes up to SBI_BODY_MAX; beyond, mark it too large. */
static int on_data_chunk(nghttp2_session *ng, uint8_t flags, int32_t id,
    const uint8_t *data, size_t len, void *user)
{
	struct stream *s = nghttp2_session_get_stream_user_data(ng, id);
	uint8_t *nb;

	(void)flags;
	(void)user;
	if (s == NULL || s->too_large)
		return 0;
	if (len > SBI_BODY_MAX - s->len) {
		s->too_large = 1;
		return 0;
	}
	if ((nb = realloc(s->body, s->len + len + 1)) == NULL)
		return NGHTTP2_ERR_CALLBACK_FAILURE;
	s->body = nb;
	memcpy(s->body + s->len, data, len);
	s->len += len;
	s->body[s->len] = '\0';
	return 0;
}

/* END_STREAM on a request: it is complete, answer it. */
static int on_frame_recv(nghttp2_session *ng, const nghttp2_frame *f,
    void *user)
{
	struct conn *c = user;
	struct stream *s;

	if ((f->hd.type != NGHTTP2_HEADERS && f->hd.type != NGHTTP2_DATA) ||
	    !(f->hd.flags & NGHTTP2_FLAG_END_STREAM))
		return 0;
	if ((s = nghttp2_session_get_stream_user_data(ng, f->hd.stream_id)) ==
	        NULL ||
	    s->answered)
		return 0;
	if (stream_dispatch(c, s) != 0)
		return NGHTTP2_ERR_CALLBACK_FAILURE;
	return 0;
}

/* A stream is gone: unlink and free its state. */
static int on_stream_close(nghttp2_session *ng, int32_t id, uint32_t code,
    void *user)
{
	struct conn *c = user;
	struct stream **pp, *s = nghttp2_session_get_stream_user_data(ng, id);

	(void)code;
	if (s == NULL)
		return 0;
	for (pp = &c->streams; *pp != NULL; pp = &(*pp)->next)
		if (*pp == s) {
			*pp = s->next;
			break;
		}
	stream_free(s);
	return 0;
}

/* A server session for c with the callbacks above and our SETTINGS. */
static int conn_session(struct conn *c)
{
	nghttp2_session_callbacks *cb = NULL;
	nghttp2_settings_entry iv[2] = {
		{ NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, SBI_MAX_STREAMS },
		{ NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, 16384 },
	};
	int rc = -1;

	if (nghttp2_session_callbacks_new(&cb) != 0)
		return -1;
	nghttp2_session_callbacks_set_on_begin_headers_callback(cb,
	    on_begin_headers);
	nghttp2_session_callbacks_set_on_header_callback(cb, on_header);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb,
	    on_data_chunk);
	nghttp2_session_callbacks_set_on_frame_recv_callback(cb, on_frame_recv);
	nghttp2_session_callbacks_set_on_stream_close_callback(cb,
	    on_stream_close);
	if (nghttp2_session_server_new(&c->ng, cb, c) == 0 &&
	    nghttp2_submit_settings(c->ng, NGHTTP2_FLAG_NONE, iv, 2) == 0)
		rc = 0;
	nghttp2_session_callbacks_del(cb);
	return rc;
}

/* Free the session and any stream it still holds. */
static void conn_end(struct conn *c)
{
	struct stream *s, *next;

	nghttp2_session_del(c->ng); /* closes streams: callbacks free them */
	c->ng = NULL;
	for (s = c->streams; s != NULL; s = next) {
		next = s->next;
		stream_free(s);
	}
	c->streams = NULL;
}

/* Write everything nghttp2 has queued; -1 on a broken connection. */
static int conn_flush(struct conn *c)
{
	const uint8_t *p;
	ssize_t n, w;

	while ((n = nghttp2_session_mem_send(c->ng, &p)) > 0) {
		while (n > 0) {
			if (c->fd < 0)
				break; /* feeding (fuzz): drop the output */
			w = c->ssl != NULL ?
			    SSL_write(c->ssl, p, (int)n) :
			    send(c->fd, p, (size_t)n, MSG_NOSIGNAL);
			if (w < 0 && errno == EINTR)
				continue;
			if (w <= 0)
				return -1;
			p += w;
			n -= w;
		}
	}
	return n < 0 ? -1 : 0;
}

/* Cancel streams whose request is still incomplete past the budget. */
static void conn_budget(struct conn *c)
{
	struct stream *s;
	uint64_t now = mono_ms();

	for (s = c->streams; s != NULL; s = s->next)
		if (!s->answered && now - s->start_ms > SBI_BUDGET_MS) {
			s->answered = 1;
			atomic_fetch_add(&c->m->cause[SBI_CAUSE_BUDGET], 1);
			nghttp2_submit_rst_stream(c->ng, NGHTTP2_FLAG_NONE,
			    s->id, NGHTTP2_CANCEL);
		}
}

/* With TLS: handshake (10 s at most), client certificate verified by
 * OpenSSL against the client CA, ALPN h2 required. 0 for h2c. */
static int conn_tls(struct conn *c)
{
	struct timeval tv = { .tv_sec = SBI_BUDGET_MS / 1000 };
	const unsigned char *alpn = NULL;
	unsigned alen = 0;

	if (c->srv == NULL || c->srv->tls == NULL)
		return 0;
	(void)setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	(void)setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if ((c->ssl = SSL_new(c->srv->tls)) == NULL ||
	    SSL_set_fd(c->ssl, c->fd) != 1 || SSL_accept(c->ssl) != 1)
		goto refused;
	SSL_get0_alpn_selected(c->ssl, &alpn, &alen);
	if (alen != 2 || memcmp(alpn, "h2", 2) != 0 ||
	    SSL_get_verify_result(c->ssl) != X509_V_OK)
		goto refused;
	return 0;
refused:
	atomic_fetch_add(&c->m->cause[SBI_CAUSE_CALLER_REFUSED], 1);
	return -1;
}

/* One connection's thread: read, frame, answer until closed or stop. */
static void *conn_main(void *arg)
{
	struct slot *sl = arg;
	struct conn *c = &sl->c;
	uint8_t buf[16384];
	uint64_t last = mono_ms();

	if (conn_session(c) != 0 || conn_tls(c) != 0)
		goto done;
	while (!atomic_load(&c->srv->stopping)) {
		struct pollfd pf = { .fd = c->fd, .events = POLLIN };
		ssize_t n;
		int r;

		conn_budget(c);
		if (conn_flush(c) != 0)
			break;
		if (!nghttp2_session_want_read(c->ng) &&
		    !nghttp2_session_want_write(c->ng))
			break;
		if (c->ssl != NULL && SSL_pending(c->ssl) > 0)
			r = 1;
		else if ((r = poll(&pf, 1, 1000)) < 0 && errno != EINTR)
			break;
		if (r <= 0) {
			if (mono_ms() - last > SBI_IDLE_MS)
				break;
			continue;
		}
		n = c->ssl != NULL ? SSL_read(c->ssl, buf, sizeof(buf)) :
		                     recv(c->fd, buf, sizeof(buf), 0);
		if (n <= 0) {
			if (n < 0 && errno == EINTR)
				continue;
			break;
		}
		last = mono_ms();
		if (nghttp2_session_mem_recv(c->ng, buf, (size_t)n) < 0)
			break;
	}
	(void)conn_flush(c);
done:
	conn_end(c);
	if (c->ssl != NULL) {
		(void)SSL_shutdown(c->ssl);
		SSL_free(c->ssl);
		c->ssl = NULL;
	}
	ERR_clear_error();
	pthread_mutex_lock(&c->srv->mu);
	close(c->fd);
	sl->fd = -1;
	sl->done = 1;
	pthread_mutex_unlock(&c->srv->mu);
	return NULL;
}

/* Join finished connection threads so their slots can be reused. */
static void slots_reap(sbi_server *s)
{
	size_t i;

	for (i = 0; i < SBI_CONN_MAX; i++) {
		int join;

		pthread_mutex_lock(&s->mu);
		join = s->slots[i].used && s->slots[i].done;
		pthread_mutex_unlock(&s->mu);
		if (join) {
			pthread_join(s->slots[i].th, NULL);
			s->slots[i].used = 0;
		}
	}
}

/* Start a connection thread for fd in a free slot; closes fd if none. */
static void conn_start(sbi_server *s, int fd, const struct sockaddr_in *peer)
{
	struct slot *sl = NULL;
	size_t i;
	int one = 1;

	slots_reap(s);
	for (i = 0; i < SBI_CONN_MAX && sl == NULL; i++)
		if (!s->slots[i].used)
			sl = &s->slots[i];
	if (sl == NULL) {
		close(fd);
		return;
	}
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	memset(&sl->c, 0, sizeof(sl->c));
	sl->c.srv = s;
	sl->c.fn = s->fn;
	sl->c.arg = s->arg;
	sl->c.m = s->m;
	sl->c.fd = fd;
	inet_ntop(AF_INET, &peer->sin_addr, sl->c.peer, sizeof(sl->c.peer));
	sl->fd = fd;
	sl->done = 0;
	sl->used = 1;
	atomic_fetch_add(&s->m->connections, 1);
	if (pthread_create(&sl->th, NULL, conn_main, sl) != 0) {
		sl->used = 0;
		close(fd);
	}
}

/* The accept thread: a connection thread per caller, until stop. */
static void *accept_main(void *arg)
{
	sbi_server *s = arg;

	while (!atomic_load(&s->stopping)) {
		struct pollfd pf[2] = { { .fd = s->lfd, .events = POLLIN },
			{ .fd = s->wake[0], .events = POLLIN } };
		struct sockaddr_in peer;
		socklen_t plen = sizeof(peer);
		int fd;

		if (poll(pf, 2, 1000) <= 0 || (pf[1].revents & POLLIN))
			continue;
		fd = accept4(s->lfd, (struct sockaddr *)&peer, &plen,
		    SOCK_CLOEXEC);
		if (fd < 0)
			continue;
		if (plen != sizeof(peer) || peer.sin_family != AF_INET) {
			close(fd);
			continue;
		}
		conn_start(s, fd, &peer);
	}
	return NULL;
}

/* Parse "a.b.c.d:port". */
static int hostport_parse(struct sockaddr_in *sa, const char *s)
{
	char host[64];
	const char *colon = strrchr(s, ':');
	char *end;
	long port;

	memset(sa, 0, sizeof(*sa));
	if (colon == NULL || (size_t)(colon - s) >= sizeof(host))
		return -1;
	memcpy(host, s, (size_t)(colon - s));
	host[colon - s] = '\0';
	port = strtol(colon + 1, &end, 10);
	if (*end != '\0' || colon[1] == '\0' || port < 0 || port > 65535)
		return -1;
	sa->sin_family = AF_INET;
	sa->sin_port = htons((uint16_t)port);
	return inet_pton(AF_INET, host, &sa->sin_addr) == 1 ? 0 : -1;
}

/* ALPN: h2 or nothing. */
static int alpn_select(SSL *ssl, const unsigned char **out,
    unsigned char *outlen, const unsigned char *in, unsigned inlen, void *arg)
{
	unsigned i;

	(void)ssl;
	(void)arg;
	for (i = 0; i + 1 <= inlen && i + 1 + in[i] <= inlen; i += 1u + in[i])
		if (in[i] == 2 && memcmp(in + i + 1, "h2", 2) == 0) {
			*out = in + i + 1;
			*outlen = 2;
			return SSL_TLSEXT_ERR_OK;
		}
	return SSL_TLSEXT_ERR_ALERT_FATAL;
}

/* The TLS context of sbi: certificate chain and key, TLS 1.2+, client
 * certificates from tls_client_ca required, ALPN h2. */
static int tls_ctx_new(SSL_CTX **out, const sbi_config_t *sbi, char *err,
    size_t errlen)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	STACK_OF(X509_NAME) *names = NULL;

	*out = NULL;
	if (ctx == NULL ||
	    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 ||
	    SSL_CTX_use_certificate_chain_file(ctx, sbi->tls_cert) != 1 ||
	    SSL_CTX_use_PrivateKey_file(ctx, sbi->tls_key, SSL_FILETYPE_PEM) !=
	        1 ||
	    SSL_CTX_check_private_key(ctx) != 1 ||
	    SSL_CTX_load_verify_locations(ctx, sbi->tls_client_ca, NULL) != 1 ||
	    (names = SSL_load_client_CA_file(sbi->tls_client_ca)) == NULL) {
		util_err_openssl(err, errlen, "sbi.tls");
		SSL_CTX_free(ctx);
		return -1;
	}
	SSL_CTX_set_client_CA_list(ctx, names);
	SSL_CTX_set_verify(ctx,
	    SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	SSL_CTX_set_alpn_select_cb(ctx, alpn_select, NULL);
	*out = ctx;
	return 0;
}

int sbi_server_start(sbi_server **out, const char *listen_addr,
    const sbi_config_t *sbi, sbi_handler_fn fn, void *arg, sbi_metrics_t *m,
    char *err, size_t errlen)
{
	sbi_server *s;
	struct sockaddr_in sa;
	socklen_t slen = sizeof(sa);
	int one = 1;

	*out = NULL;
	if (hostport_parse(&sa, listen_addr) != 0) {
		util_err_set(err, errlen, "sbi.listen \"%s\" is not IPv4:port",
		    listen_addr);
		return -1;
	}
	if ((s = calloc(1, sizeof(*s))) == NULL) {
		util_err_set(err, errlen, "out of memory");
		return -1;
	}
	s->lfd = s->wake[0] = s->wake[1] = -1;
	s->fn = fn;
	s->arg = arg;
	s->m = m;
	atomic_init(&s->stopping, 0);
	pthread_mutex_init(&s->mu, NULL);
	if (sbi != NULL && sbi->tls_cert[0] != '\0' &&
	    tls_ctx_new(&s->tls, sbi, err, errlen) != 0)
		goto fail;
	if ((s->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0 ||
	    setsockopt(s->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) !=
	        0 ||
	    bind(s->lfd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
	    listen(s->lfd, 128) != 0 ||
	    getsockname(s->lfd, (struct sockaddr *)&sa, &slen) != 0 ||
	    pipe2(s->wake, O_CLOEXEC) != 0) {
		util_err_set(err, errlen, "SBI %s: %s", listen_addr,
		    strerror(errno));
		goto fail;
	}
	s->port = ntohs(sa.sin_port);
	if (pthread_create(&s->accept_th, NULL, accept_main, s) != 0) {
		util_err_set(err, errlen, "no SBI thread");
		goto fail;
	}
	s->accept_started = 1;
	*out = s;
	return 0;
fail:
	sbi_server_stop(s);
	return -1;
}

unsigned sbi_server_port(const sbi_server *s)
{
	return s->port;
}

void sbi_server_stop(sbi_server *s)
{
	size_t i;

	if (s == NULL)
		return;
	atomic_store(&s->stopping, 1);
	if (s->wake[1] >= 0)
		(void)!write(s->wake[1], "x", 1);
	if (s->accept_started)
		pthread_join(s->accept_th, NULL);
	/* Wake every connection thread out of recv, then join it. */
	pthread_mutex_lock(&s->mu);
	for (i = 0; i < SBI_CONN_MAX; i++)
		if (s->slots[i].used && s->slots[i].fd >= 0)
			(void)shutdown(s->slots[i].fd, SHUT_RDWR);
	pthread_mutex_unlock(&s->mu);
	for (i = 0; i < SBI_CONN_MAX; i++)
		if (s->slots[i].used)
			pthread_join(s->slots[i].th, NULL);
	if (s->lfd >= 0)
		close(s->lfd);
	if (s->wake[0] >= 0)
		close(s->wake[0]);
	if (s->wake[1] >= 0)
		close(s->wake[1]);
	pthread_mutex_destroy(&s->mu);
	SSL_CTX_free(s->tls);
	free(s);
}

int sbi_server_feed(const uint8_t *data, size_t len, sbi_handler_fn fn,
    void *arg)
{
	static sbi_metrics_t m;
	struct conn c;
	int rc = -1;

	memset(&c, 0, sizeof(c));
	c.fn = fn;
	c.arg = arg;
	c.m = &m;
	c.fd = -1;
	snprintf(c.peer, sizeof(c.peer), "127.0.0.1");
	if (conn_session(&c) != 0)
		goto out;
	if (nghttp2_session_mem_recv(c.ng, data, len) >= 0 &&
	    conn_flush(&c) == 0)
		rc = 0;
out:
	conn_end(&c);
	return rc;
}
