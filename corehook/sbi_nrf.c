/* sbi_nrf.c — the NRF client (TS 29.510 Nnrf_NFManagement): NFRegister
 * (PUT of the UDM's NFProfile), heartbeats (PATCH, json-patch replacing
 * /nfStatus) every heartBeatTimer, re-registration when the NRF answers 404,
 * NFDeregister (DELETE) at stop. HTTP/2 on nghttp2's client side over one
 * connection reused for every request (Debian 12's libcurl breaks the second
 * request on a reused h2c connection): h2c with prior knowledge for an
 * http nrf_uri, or OpenSSL TLS 1.2+ with ALPN h2 for https, the NRF's
 * certificate verified against the configured CA and its host name (or IP
 * address), with an optional client certificate (TS 33.501 §13.1). A broken
 * connection is replaced on the next request. */
#define _GNU_SOURCE
#include "sbi.h"

#include <errno.h>
#include <stdarg.h>
#include <netdb.h>
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

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <nghttp2/nghttp2.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "util.h"

#define NRF_BODY_MAX 65536
#define NRF_TIMEOUT_MS 10000
#define NRF_RETRY_S 2

struct nrf_call {
	int32_t id;
	int status;
	char *body;
	size_t len;
	int done;
	const char *req;
	size_t req_len, req_sent;
};

struct sbi_nrf {
	sbi_config_t cfg;
	char host[256], port[8], authority[272];
	char *profile;
	sbi_metrics_t *m;
	corehook_log_fn log;
	unsigned heartbeat;
	int fd;
	SSL_CTX *tls; /* NULL: h2c */
	SSL *ssl;
	nghttp2_session *ng;
	struct nrf_call *call;
	pthread_t th;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int stop;
};

/* A log line through the daemon's callback. */
static void nrf_log(sbi_nrf *n, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void nrf_log(sbi_nrf *n, int level, const char *fmt, ...)
{
	char line[512];
	va_list ap;

	if (n->log == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	n->log(NULL, level, line);
}

/* Note the :status of the call in flight. */
static int c_header(nghttp2_session *ng, const nghttp2_frame *f,
    const uint8_t *name, size_t namelen, const uint8_t *value, size_t valuelen,
    uint8_t flags, void *user)
{
	sbi_nrf *n = user;
	char v[8];

	(void)ng;
	(void)flags;
	if (n->call == NULL || f->hd.stream_id != n->call->id || namelen != 7 ||
	    memcmp(name, ":status", 7) != 0 || valuelen != 3)
		return 0;
	memcpy(v, value, 3);
	v[3] = '\0';
	n->call->status = atoi(v);
	return 0;
}

/* Collect the answer body of the call in flight (bounded). */
static int c_data(nghttp2_session *ng, uint8_t flags, int32_t id,
    const uint8_t *data, size_t len, void *user)
{
	sbi_nrf *n = user;
	char *nb;

	(void)ng;
	(void)flags;
	if (n->call == NULL || id != n->call->id ||
	    len > NRF_BODY_MAX - n->call->len)
		return 0;
	if ((nb = realloc(n->call->body, n->call->len + len + 1)) == NULL)
		return NGHTTP2_ERR_CALLBACK_FAILURE;
	n->call->body = nb;
	memcpy(nb + n->call->len, data, len);
	n->call->len += len;
	nb[n->call->len] = '\0';
	return 0;
}

/* The call in flight is finished. */
static int c_close(nghttp2_session *ng, int32_t id, uint32_t code, void *user)
{
	sbi_nrf *n = user;

	(void)ng;
	(void)code;
	if (n->call != NULL && id == n->call->id)
		n->call->done = 1;
	return 0;
}

/* Data provider: the request body. */
static ssize_t c_body(nghttp2_session *ng, int32_t id, uint8_t *buf, size_t len,
    uint32_t *flags, nghttp2_data_source *src, void *user)
{
	struct nrf_call *c = src->ptr;
	size_t k = c->req_len - c->req_sent;

	(void)ng;
	(void)id;
	(void)user;
	if (k > len)
		k = len;
	memcpy(buf, c->req + c->req_sent, k);
	c->req_sent += k;
	if (c->req_sent == c->req_len)
		*flags |= NGHTTP2_DATA_FLAG_EOF;
	return (ssize_t)k;
}

/* Drop the connection (the next request opens a new one). */
static void conn_close(sbi_nrf *n)
{
	nghttp2_session_del(n->ng);
	n->ng = NULL;
	if (n->ssl != NULL)
		(void)SSL_shutdown(n->ssl); /* close_notify, best effort */
	SSL_free(n->ssl);
	n->ssl = NULL;
	if (n->fd >= 0)
		close(n->fd);
	n->fd = -1;
}

/* The TLS handshake on n->fd: the NRF's certificate must chain to the
 * configured CA and name n->host (DNS name, or IP address for a literal),
 * and the NRF must choose ALPN h2. Failures are logged with the reason. */
static int tls_open(sbi_nrf *n)
{
	const unsigned char *alpn = NULL;
	unsigned alpn_len = 0;
	struct in6_addr a6;
	struct in_addr a4;
	char why[256] = "";
	long v;

	if ((n->ssl = SSL_new(n->tls)) == NULL ||
	    SSL_set_fd(n->ssl, n->fd) != 1)
		goto fail;
	if (inet_pton(AF_INET, n->host, &a4) == 1 ||
	    inet_pton(AF_INET6, n->host, &a6) == 1) {
		if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(n->ssl),
		        n->host) != 1)
			goto fail;
	} else if (SSL_set_tlsext_host_name(n->ssl, n->host) != 1 ||
	    SSL_set1_host(n->ssl, n->host) != 1) {
		goto fail;
	}
	if (SSL_connect(n->ssl) != 1) {
		v = SSL_get_verify_result(n->ssl);
		if (v != X509_V_OK)
			snprintf(why, sizeof(why), "certificate: %s",
			    X509_verify_cert_error_string(v));
		goto fail;
	}
	SSL_get0_alpn_selected(n->ssl, &alpn, &alpn_len);
	if (alpn_len != 2 || memcmp(alpn, "h2", 2) != 0) {
		snprintf(why, sizeof(why), "the NRF did not choose ALPN h2");
		goto fail;
	}
	return 0;
fail:
	if (why[0] == '\0')
		util_err_openssl(why, sizeof(why), "handshake failed");
	ERR_clear_error();
	nrf_log(n, COREHOOK_LOG_WARN, "nrf tls %s: %s", n->authority, why);
	return -1;
}

/* Send all of p, through TLS when the connection has it; -1 on failure. */
static int conn_send(sbi_nrf *n, const uint8_t *p, size_t len)
{
	ssize_t w;

	for (; len > 0; p += w, len -= (size_t)w) {
		w = n->ssl != NULL ? SSL_write(n->ssl, p, (int)len) :
		                     send(n->fd, p, len, MSG_NOSIGNAL);
		if (w <= 0)
			return -1;
	}
	return 0;
}

/* Receive what is there (at most cap octets); <= 0 on close or failure. */
static ssize_t conn_recv(sbi_nrf *n, uint8_t *buf, size_t cap)
{
	if (n->ssl != NULL)
		return SSL_read(n->ssl, buf, (int)cap);
	return recv(n->fd, buf, cap, 0);
}

/* Connect to the NRF and start an HTTP/2 client session. */
static int conn_open(sbi_nrf *n)
{
	struct addrinfo hints, *ai = NULL, *p;
	nghttp2_session_callbacks *cb = NULL;
	struct timeval tv = { .tv_sec = NRF_TIMEOUT_MS / 1000 };
	int one = 1, rc = -1;

	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	if (getaddrinfo(n->host, n->port, &hints, &ai) != 0)
		return -1;
	for (p = ai; p != NULL && n->fd < 0; p = p->ai_next) {
		n->fd = socket(p->ai_family, p->ai_socktype | SOCK_CLOEXEC, 0);
		if (n->fd >= 0 &&
		    connect(n->fd, p->ai_addr, p->ai_addrlen) != 0) {
			close(n->fd);
			n->fd = -1;
		}
	}
	freeaddrinfo(ai);
	if (n->fd < 0)
		return -1;
	(void)setsockopt(n->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	(void)setsockopt(n->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	(void)setsockopt(n->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (n->tls != NULL && tls_open(n) != 0)
		goto out;
	if (nghttp2_session_callbacks_new(&cb) != 0)
		goto out;
	nghttp2_session_callbacks_set_on_header_callback(cb, c_header);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, c_data);
	nghttp2_session_callbacks_set_on_stream_close_callback(cb, c_close);
	if (nghttp2_session_client_new(&n->ng, cb, n) == 0 &&
	    nghttp2_submit_settings(n->ng, NGHTTP2_FLAG_NONE, NULL, 0) == 0)
		rc = 0;
out:
	nghttp2_session_callbacks_del(cb);
	if (rc != 0)
		conn_close(n);
	return rc;
}

/* Drive the session until call is done or the time is up. */
static int conn_run(sbi_nrf *n, struct nrf_call *call)
{
	struct timespec t0, t;
	uint8_t buf[16384];

	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (!call->done) {
		const uint8_t *p;
		ssize_t k;
		struct pollfd pf = { .fd = n->fd, .events = POLLIN };
		long ms;

		while ((k = nghttp2_session_mem_send(n->ng, &p)) > 0)
			if (conn_send(n, p, (size_t)k) != 0)
				return -1;
		if (k < 0)
			return -1;
		clock_gettime(CLOCK_MONOTONIC, &t);
		ms = (t.tv_sec - t0.tv_sec) * 1000 +
		    (t.tv_nsec - t0.tv_nsec) / 1000000;
		/* TLS may already hold decrypted bytes the socket won't signal */
		if (ms >= NRF_TIMEOUT_MS ||
		    ((n->ssl == NULL || SSL_pending(n->ssl) == 0) &&
		        poll(&pf, 1, (int)(NRF_TIMEOUT_MS - ms)) <= 0))
			return -1;
		if ((k = conn_recv(n, buf, sizeof(buf))) <= 0 ||
		    nghttp2_session_mem_recv(n->ng, buf, (size_t)k) < 0)
			return -1;
	}
	return 0;
}

/* One request on the shared connection (opened or reopened as needed);
 * returns the HTTP status, or -1 on a transport failure. *body (may be
 * NULL) receives the answer's body (free()). */
static int nrf_request(sbi_nrf *n, const char *method, const char *path,
    const char *ctype, const char *body, char **resp)
{
	struct nrf_call call;
	nghttp2_nv nv[6];
	nghttp2_data_provider dp;
	size_t k = 0;
	int attempt, rc = -1;

#define NV(a, b) \
	do { \
		nv[k].name = (uint8_t *)(a); \
		nv[k].value = (uint8_t *)(b); \
		nv[k].namelen = strlen(a); \
		nv[k].valuelen = strlen(b); \
		nv[k].flags = NGHTTP2_NV_FLAG_NONE; \
		k++; \
	} while (0)
	for (attempt = 0; attempt < 2 && rc < 0; attempt++) {
		memset(&call, 0, sizeof(call));
		call.req = body;
		call.req_len = body != NULL ? strlen(body) : 0;
		k = 0;
		NV(":method", method);
		NV(":scheme", n->tls != NULL ? "https" : "http");
		NV(":authority", n->authority);
		NV(":path", path);
		NV("accept", "application/json,application/problem+json");
		if (ctype != NULL)
			NV("content-type", ctype);
		dp.source.ptr = &call;
		dp.read_callback = c_body;
		if (n->ng == NULL && conn_open(n) != 0)
			continue;
		n->call = &call;
		call.id = nghttp2_submit_request(n->ng, NULL, nv, k,
		    body != NULL ? &dp : NULL, NULL);
		if (call.id < 0 || conn_run(n, &call) != 0 ||
		    call.status == 0) {
			conn_close(n);
			free(call.body);
			call.body = NULL;
		} else {
			rc = call.status;
		}
		n->call = NULL;
	}
#undef NV
	if (resp != NULL)
		*resp = call.body;
	else
		free(call.body);
	return rc;
}

char *sbi_nrf_profile(const sbi_config_t *sbi, const char *host, unsigned port,
    const char *supi_first, const char *supi_last, unsigned heartbeat)
{
	cJSON *doc = cJSON_CreateObject(), *a, *s, *v, *e, *r, *ui;
	char *text = NULL;

#define CHK(x) \
	if ((x) == NULL) \
	goto out
	CHK(doc);
	CHK(cJSON_AddStringToObject(doc, "nfInstanceId", sbi->nf_instance_id));
	CHK(cJSON_AddStringToObject(doc, "nfType", "UDM"));
	CHK(cJSON_AddStringToObject(doc, "nfStatus", "REGISTERED"));
	CHK(cJSON_AddNumberToObject(doc, "heartBeatTimer", heartbeat));
	CHK(a = cJSON_AddArrayToObject(doc, "ipv4Addresses"));
	CHK(v = cJSON_CreateString(host));
	cJSON_AddItemToArray(a, v);
	CHK(ui = cJSON_AddObjectToObject(doc, "udmInfo"));
	CHK(a = cJSON_AddArrayToObject(ui, "supiRanges"));
	CHK(r = cJSON_CreateObject());
	cJSON_AddItemToArray(a, r);
	CHK(cJSON_AddStringToObject(r, "start", supi_first));
	CHK(cJSON_AddStringToObject(r, "end", supi_last));
	CHK(a = cJSON_AddArrayToObject(doc, "nfServices"));
	CHK(s = cJSON_CreateObject());
	cJSON_AddItemToArray(a, s);
	CHK(cJSON_AddStringToObject(s, "serviceInstanceId", "nudm-ueau-1"));
	CHK(cJSON_AddStringToObject(s, "serviceName", "nudm-ueau"));
	CHK(v = cJSON_AddArrayToObject(s, "versions"));
	CHK(e = cJSON_CreateObject());
	cJSON_AddItemToArray(v, e);
	CHK(cJSON_AddStringToObject(e, "apiVersionInUri", "v1"));
	CHK(cJSON_AddStringToObject(e, "apiFullVersion", "1.0.0"));
	CHK(cJSON_AddStringToObject(s, "scheme",
	    sbi->tls_cert[0] != '\0' ? "https" : "http"));
	CHK(cJSON_AddStringToObject(s, "nfServiceStatus", "REGISTERED"));
	CHK(v = cJSON_AddArrayToObject(s, "ipEndPoints"));
	CHK(e = cJSON_CreateObject());
	cJSON_AddItemToArray(v, e);
	CHK(cJSON_AddStringToObject(e, "ipv4Address", host));
	CHK(cJSON_AddNumberToObject(e, "port", port));
#undef CHK
	text = cJSON_PrintUnformatted(doc);
out:
	cJSON_Delete(doc);
	return text;
}

/* NFRegister; 0 when the NRF took the profile (its heartBeatTimer wins). */
static int nrf_register(sbi_nrf *n, const char *path)
{
	char *resp = NULL;
	cJSON *doc;
	const cJSON *hb;
	int st =
	    nrf_request(n, "PUT", path, "application/json", n->profile, &resp);

	if (st != 200 && st != 201) {
		atomic_fetch_add(&n->m->nrf[SBI_NRF_FAILURE], 1);
		nrf_log(n, COREHOOK_LOG_WARN, "nrf register status=%d", st);
		free(resp);
		return -1;
	}
	if (resp != NULL && (doc = cJSON_Parse(resp)) != NULL) {
		hb = cJSON_GetObjectItemCaseSensitive(doc, "heartBeatTimer");
		if (cJSON_IsNumber(hb) && hb->valuedouble >= 1 &&
		    hb->valuedouble <= 86400)
			n->heartbeat = (unsigned)hb->valuedouble;
		cJSON_Delete(doc);
	}
	free(resp);
	atomic_fetch_add(&n->m->nrf[SBI_NRF_REGISTER], 1);
	nrf_log(n, COREHOOK_LOG_INFO,
	    "nrf registered nf=%s status=%d"
	    " heartbeat=%us",
	    n->cfg.nf_instance_id, st, n->heartbeat);
	return 0;
}

/* Wait up to s seconds or until stop; 1 if stopping. */
static int nrf_wait(sbi_nrf *n, unsigned s)
{
	struct timespec until;
	int stop;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += s;
	pthread_mutex_lock(&n->mu);
	while (!n->stop && pthread_cond_timedwait(&n->cv, &n->mu, &until) == 0)
		;
	stop = n->stop;
	pthread_mutex_unlock(&n->mu);
	return stop;
}

/* The NRF thread: register, heartbeats, register again on 404, leave. */
static void *nrf_main(void *arg)
{
	sbi_nrf *n = arg;
	static const char patch[] =
	    "[{\"op\":\"replace\",\"path\":\"/nfStatus\","
	    "\"value\":\"REGISTERED\"}]";
	char path[128];
	int registered = 0, st;

	snprintf(path, sizeof(path), "/nnrf-nfm/v1/nf-instances/%s",
	    n->cfg.nf_instance_id);
	for (;;) {
		if (!registered) {
			registered = nrf_register(n, path) == 0;
			if (nrf_wait(n,
			        registered ? n->heartbeat : NRF_RETRY_S))
				break;
			continue;
		}
		st = nrf_request(n, "PATCH", path,
		    "application/json-patch+json", patch, NULL);
		if (st == 200 || st == 204) {
			atomic_fetch_add(&n->m->nrf[SBI_NRF_HEARTBEAT], 1);
		} else {
			atomic_fetch_add(&n->m->nrf[SBI_NRF_FAILURE], 1);
			nrf_log(n, COREHOOK_LOG_WARN,
			    "nrf heartbeat status=%d%s", st,
			    st == 404 ? ": registering again" : "");
			if (st == 404) {
				registered = 0;
				continue;
			}
		}
		if (nrf_wait(n, n->heartbeat))
			break;
	}
	if (registered) {
		st = nrf_request(n, "DELETE", path, NULL, NULL, NULL);
		atomic_fetch_add(&n->m->nrf[st == 204 || st == 200 ?
		                         SBI_NRF_DEREGISTER :
		                         SBI_NRF_FAILURE],
		    1);
		nrf_log(n, COREHOOK_LOG_INFO, "nrf deregistered status=%d", st);
	}
	conn_close(n);
	return NULL;
}

/* Split "http[s]://host:port[/]" into n's host, port and authority; *tls
 * is 1 for https. */
static int nrf_uri_parse(sbi_nrf *n, const char *uri, int *tls)
{
	const char *h, *colon, *end;

	*tls = strncmp(uri, "https://", 8) == 0;
	if (!*tls && strncmp(uri, "http://", 7) != 0)
		return -1;
	h = uri + (*tls ? 8 : 7);
	end = h + strcspn(h, "/");
	colon = memchr(h, ':', (size_t)(end - h));
	if (colon == NULL || colon == h ||
	    (size_t)(colon - h) >= sizeof(n->host) || end - colon - 1 < 1 ||
	    end - colon - 1 > 5)
		return -1;
	memcpy(n->host, h, (size_t)(colon - h));
	n->host[colon - h] = '\0';
	memcpy(n->port, colon + 1, (size_t)(end - colon - 1));
	n->port[end - colon - 1] = '\0';
	snprintf(n->authority, sizeof(n->authority), "%s:%s", n->host, n->port);
	return 0;
}

/* The TLS client context for the NRF: TLS 1.2+, peer verification against
 * the configured CA file only, ALPN h2, the client certificate if any. */
static SSL_CTX *tls_ctx_new(const sbi_config_t *sbi, char *err, size_t errlen)
{
	static const unsigned char alpn[] = { 2, 'h', '2' };
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

	if (ctx == NULL ||
	    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 ||
	    SSL_CTX_load_verify_locations(ctx, sbi->nrf_ca, NULL) != 1 ||
	    SSL_CTX_set_alpn_protos(ctx, alpn, sizeof(alpn)) != 0)
		goto fail;
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	if (sbi->nrf_cert[0] != '\0' &&
	    (SSL_CTX_use_certificate_chain_file(ctx, sbi->nrf_cert) != 1 ||
	        SSL_CTX_use_PrivateKey_file(ctx, sbi->nrf_key,
	            SSL_FILETYPE_PEM) != 1 ||
	        SSL_CTX_check_private_key(ctx) != 1))
		goto fail;
	return ctx;
fail:
	util_err_openssl(err, errlen, "sbi.nrf_tls (%s, %s)", sbi->nrf_ca,
	    sbi->nrf_cert[0] != '\0' ? sbi->nrf_cert : "no client certificate");
	SSL_CTX_free(ctx);
	return NULL;
}

int sbi_nrf_start(sbi_nrf **out, const sbi_config_t *sbi, const char *host,
    unsigned port, const char *supi_first, const char *supi_last,
    sbi_metrics_t *m, corehook_log_fn log, char *err, size_t errlen)
{
	sbi_nrf *n = calloc(1, sizeof(*n));
	int tls = 0;

	*out = NULL;
	if (n == NULL) {
		util_err_set(err, errlen, "out of memory");
		return -1;
	}
	n->cfg = *sbi;
	n->fd = -1;
	n->m = m;
	n->log = log;
	n->heartbeat = sbi->heartbeat_seconds;
	pthread_mutex_init(&n->mu, NULL);
	pthread_cond_init(&n->cv, NULL);
	if (nrf_uri_parse(n, sbi->nrf_uri, &tls) != 0) {
		util_err_set(err, errlen,
		    "sbi.nrf_uri \"%s\" is not"
		    " http[s]://host:port",
		    sbi->nrf_uri);
		goto fail;
	}
	if (tls && (n->tls = tls_ctx_new(sbi, err, errlen)) == NULL)
		goto fail;
	if ((n->profile = sbi_nrf_profile(sbi, host, port, supi_first,
	         supi_last, sbi->heartbeat_seconds)) == NULL) {
		util_err_set(err, errlen, "out of memory");
		goto fail;
	}
	if (pthread_create(&n->th, NULL, nrf_main, n) != 0) {
		util_err_set(err, errlen, "no NRF thread");
		goto fail;
	}
	*out = n;
	return 0;
fail:
	SSL_CTX_free(n->tls);
	free(n->profile);
	pthread_mutex_destroy(&n->mu);
	pthread_cond_destroy(&n->cv);
	free(n);
	return -1;
}

void sbi_nrf_stop(sbi_nrf *n)
{
	if (n == NULL)
		return;
	pthread_mutex_lock(&n->mu);
	n->stop = 1;
	pthread_cond_signal(&n->cv);
	pthread_mutex_unlock(&n->mu);
	pthread_join(n->th, NULL);
	SSL_CTX_free(n->tls);
	free(n->profile);
	pthread_mutex_destroy(&n->mu);
	pthread_cond_destroy(&n->cv);
	free(n);
}
