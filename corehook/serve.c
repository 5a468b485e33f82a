/* serve.c — the corehook daemon: NAS over UDP (one message per datagram,
 * the peer address is the session) read by a pool of workers, so a slow CA
 * fetch holds one worker, not the socket; the HTTP JSON endpoint and
 * /metrics through CivetWeb; the SBI (Nudm_UEAU over HTTP/2, NRF
 * registration) when configured; T3560/T3550 retransmissions to UDP peers
 * (nas_retx.c); a clean stop on SIGTERM. */
#include "serve.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <civetweb.h>
#include <cjson/cJSON.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "ch_int.h"
#include "pcap.h"
#include "sbi.h"
#include "util.h"

#define HTTP_BODY_MAX (64 * 1024)
/* A worker blocked in recvfrom wakes at least this often to see a stop. */
#define RECV_WAKE_MS 1000
/* After a stop, workers answer what is queued for at most this long: a
 * sender that keeps the queue full cannot hold the daemon up. */
#define DRAIN_MS 2000

struct daemon {
	corehook *ch;
	int udp;
	pcap_writer *pcap;
	pcap_endpoint_t core_ep;
	atomic_int closing;
	sbi_metrics_t sbim;
	sbi_ueau *ueau;
	sbi_server *sbi;
	sbi_nrf *nrf;
	corehook_retx *retx;
};

static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;

/* The library's log lines, timestamped, one per line on stderr. */
static void log_line(void *arg, int level, const char *line)
{
	static const char *const lv[] = { "info", "warn", "error" };
	char ts[32];
	time_t now = time(NULL);
	struct tm tm;

	(void)arg;
	gmtime_r(&now, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
	pthread_mutex_lock(&log_mu);
	fprintf(stderr, "%s corehook %s: %s\n", ts,
	    level >= 0 && level <= 2 ? lv[level] : "info", line);
	fflush(stderr);
	pthread_mutex_unlock(&log_mu);
}

static void pcap_note(struct daemon *d, const struct sockaddr_in *peer,
    int to_ue, const uint8_t *pdu, size_t len)
{
	pcap_endpoint_t ue;

	if (d->pcap == NULL || len == 0)
		return;
	memcpy(ue.addr, &peer->sin_addr.s_addr, 4);
	ue.port = ntohs(peer->sin_port);
	if (to_ue)
		pcap_writer_add_addr(d->pcap, &d->core_ep, &ue, pdu, len);
	else
		pcap_writer_add_addr(d->pcap, &ue, &d->core_ep, pdu, len);
}

/* ---- UDP workers ----
 *
 * Every worker receives from the socket itself: the kernel hands each
 * datagram to one waiting worker, so a slow CA fetch holds one worker and
 * the others keep reading. Before, one thread polled, read and queued each
 * datagram and woke a worker through a condition variable: a poll, a read,
 * a futex wake, a copy and two context switches per message. The socket's
 * receive buffer is the queue. At a stop the main thread shuts the
 * socket's receive side: the datagrams already queued are still handed
 * out, then every recvfrom returns 0. */

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void *worker_main(void *arg)
{
	struct daemon *d = arg;
	uint64_t drain_until = 0;
	uint8_t *in = malloc(COREHOOK_NAS_MAX + 1);
	uint8_t *out = malloc(COREHOOK_NAS_MAX);

	if (in == NULL || out == NULL)
		goto done;
	for (;;) {
		struct sockaddr_in peer;
		socklen_t plen = sizeof(peer);
		char session[64], addr[INET_ADDRSTRLEN], err[256];
		size_t outlen = 0;
		ssize_t got;
		int rc, closing = atomic_load(&d->closing);

		/* Stopping: take what is queued without waiting, until the
		 * queue is empty or the drain time is up. */
		if (closing && drain_until == 0)
			drain_until = now_ms() + DRAIN_MS;
		if (closing && now_ms() >= drain_until)
			break;
		got = recvfrom(d->udp, in, COREHOOK_NAS_MAX + 1,
		    closing ? MSG_DONTWAIT : 0, (struct sockaddr *)&peer,
		    &plen);
		if (got <= 0) {
			if (closing &&
			    (got == 0 || errno == EAGAIN ||
			        errno == EWOULDBLOCK))
				break;
			continue; /* timeout, EINTR, an empty datagram */
		}
		if (got > COREHOOK_NAS_MAX || plen != sizeof(peer) ||
		    peer.sin_family != AF_INET)
			continue;
		inet_ntop(AF_INET, &peer.sin_addr, addr, sizeof(addr));
		snprintf(session, sizeof(session), "udp:%s:%u", addr,
		    (unsigned)ntohs(peer.sin_port));
		pcap_note(d, &peer, 0, in, (size_t)got);
		/* NOWAIT: a retransmission of a message still being worked on
		 * is dropped; the answer to the first copy is on its way. */
		rc = corehook_handle(d->ch, session, in, (size_t)got, out,
		    COREHOOK_NAS_MAX, &outlen, COREHOOK_NOWAIT | COREHOOK_RETX,
		    err, sizeof(err));
		if (rc == COREHOOK_OK && outlen > 0) {
			pcap_note(d, &peer, 1, out, outlen);
			if (sendto(d->udp, out, outlen, 0,
			        (const struct sockaddr *)&peer,
			        sizeof(peer)) < 0)
				log_line(NULL, 1, "sendto failed");
		} else if (rc != COREHOOK_OK && rc != COREHOOK_ERR_INPROGRESS) {
			char line[400];

			snprintf(line, sizeof(line), "nas session=%s error=%s",
			    session, err);
			log_line(NULL, 2, line);
		}
		OPENSSL_cleanse(out, outlen);
	}
done:
	free(in);
	free(out);
	return NULL;
}

/* The timer thread's retransmission to a UDP session "udp:ADDR:PORT". */
static void retx_send(void *arg, const char *session, const uint8_t *pdu,
    size_t len)
{
	struct daemon *d = arg;
	struct sockaddr_in peer;
	char addr[INET_ADDRSTRLEN];
	unsigned port;

	memset(&peer, 0, sizeof(peer));
	if (sscanf(session, "udp:%15[0-9.]:%u", addr, &port) != 2 ||
	    port > 65535 || inet_pton(AF_INET, addr, &peer.sin_addr) != 1)
		return;
	peer.sin_family = AF_INET;
	peer.sin_port = htons((uint16_t)port);
	pcap_note(d, &peer, 1, pdu, len);
	if (sendto(d->udp, pdu, len, 0, (const struct sockaddr *)&peer,
	        sizeof(peer)) < 0)
		log_line(NULL, 1, "sendto failed (retransmission)");
}

/* Parse "a.b.c.d:port" into sa. */
static int parse_hostport(struct sockaddr_in *sa, const char *s, char *err,
    size_t errlen)
{
	char host[64];
	const char *colon = strrchr(s, ':');
	char *end;
	long port;

	memset(sa, 0, sizeof(*sa));
	if (colon == NULL || (size_t)(colon - s) >= sizeof(host))
		goto bad;
	memcpy(host, s, (size_t)(colon - s));
	host[colon - s] = '\0';
	port = strtol(colon + 1, &end, 10);
	if (*end != '\0' || colon[1] == '\0' || port < 0 || port > 65535)
		goto bad;
	sa->sin_family = AF_INET;
	sa->sin_port = htons((uint16_t)port);
	if (inet_pton(AF_INET, host, &sa->sin_addr) != 1)
		goto bad;
	return 0;
bad:
	util_err_set(err, errlen, "listen address \"%s\" is not IPv4:port", s);
	return -1;
}

/* ---- HTTP ---- */

static void http_reply(struct mg_connection *conn, int status,
    const char *reason, const char *ctype, const char *body)
{
	size_t n = strlen(body);

	mg_printf(conn,
	    "HTTP/1.1 %d %s\r\nContent-Type: %s\r\n"
	    "Content-Length: %zu\r\nCache-Control: no-store\r\n"
	    "Connection: close\r\n\r\n",
	    status, reason, ctype, n);
	mg_write(conn, body, n);
}

static void http_problem(struct mg_connection *conn, int status,
    const char *reason, const char *type, const char *detail)
{
	char body[512];
	cJSON *doc = cJSON_CreateObject();
	char *text = NULL;

	if (doc != NULL && cJSON_AddStringToObject(doc, "type", type) != NULL &&
	    cJSON_AddStringToObject(doc, "title", reason) != NULL &&
	    cJSON_AddNumberToObject(doc, "status", status) != NULL &&
	    cJSON_AddStringToObject(doc, "detail", detail) != NULL)
		text = cJSON_PrintUnformatted(doc);
	snprintf(body, sizeof(body), "%s",
	    text != NULL ? text : "{\"title\":\"error\"}");
	cJSON_free(text);
	cJSON_Delete(doc);
	http_reply(conn, status, reason, "application/problem+json", body);
}

/* Read the whole body (at most HTTP_BODY_MAX). NULL on a refusal sent. */
static char *read_body(struct mg_connection *conn, size_t *len)
{
	const struct mg_request_info *ri = mg_get_request_info(conn);
	char *buf;
	size_t got = 0;
	int n;

	if (ri->content_length < 0 || ri->content_length > HTTP_BODY_MAX) {
		http_problem(conn, 413, "Content Too Large",
		    "urn:provca:corehook:too-large",
		    "body over 64 KiB or unsized");
		return NULL;
	}
	if ((buf = malloc((size_t)ri->content_length + 1)) == NULL) {
		http_problem(conn, 500, "Internal Server Error",
		    "urn:provca:corehook:internal", "out of memory");
		return NULL;
	}
	while (got < (size_t)ri->content_length &&
	    (n = mg_read(conn, buf + got, (size_t)ri->content_length - got)) >
	        0)
		got += (size_t)n;
	if (got != (size_t)ri->content_length) {
		free(buf);
		http_problem(conn, 400, "Bad Request",
		    "urn:provca:corehook:bad-request", "truncated body");
		return NULL;
	}
	buf[got] = '\0';
	*len = got;
	return buf;
}

/* Base64 decode with OpenSSL, removing the padding EVP_DecodeBlock keeps. */
static int b64_decode(uint8_t *out, size_t cap, size_t *outlen, const char *in)
{
	size_t n = strlen(in), pad = 0;
	int r;

	if (n == 0 || n % 4 != 0 || n / 4 * 3 > cap)
		return -1;
	if (in[n - 1] == '=')
		pad++;
	if (in[n - 2] == '=')
		pad++;
	if ((r = EVP_DecodeBlock(out, (const unsigned char *)in, (int)n)) < 0 ||
	    (size_t)r < pad)
		return -1;
	*outlen = (size_t)r - pad;
	return 0;
}

static int h_registrations(struct mg_connection *conn, void *cbdata)
{
	struct daemon *d = cbdata;
	cJSON *doc = NULL, *resp = NULL;
	const cJSON *js, *jn;
	char *body = NULL, *text = NULL, *b64 = NULL, err[256];
	char session[COREHOOK_SESSION_MAX + 1];
	uint8_t *in = NULL, *out = NULL;
	size_t len = 0, inlen = 0, outlen = 0, i;
	int rc;

	if (strcmp(mg_get_request_info(conn)->request_method, "POST") != 0) {
		http_problem(conn, 405, "Method Not Allowed",
		    "urn:provca:corehook:method", "use POST");
		return 405;
	}
	if ((body = read_body(conn, &len)) == NULL)
		return 400;
	if ((doc = cJSON_ParseWithLength(body, len)) == NULL ||
	    !cJSON_IsObject(doc) ||
	    !cJSON_IsString(
	        js = cJSON_GetObjectItemCaseSensitive(doc, "session")) ||
	    !cJSON_IsString(
	        jn = cJSON_GetObjectItemCaseSensitive(doc, "nas"))) {
		http_problem(conn, 400, "Bad Request",
		    "urn:provca:corehook:bad-request",
		    "expected {\"session\": string, \"nas\": base64}");
		goto out;
	}
	len = strlen(js->valuestring);
	for (i = 0; i < len; i++)
		if (js->valuestring[i] <= 0x20 || js->valuestring[i] >= 0x7f)
			break;
	if (len == 0 || len > COREHOOK_SESSION_MAX - 5 || i != len) {
		http_problem(conn, 400, "Bad Request",
		    "urn:provca:corehook:bad-request",
		    "session must be 1..123 printable characters");
		goto out;
	}
	snprintf(session, sizeof(session), "http:%s", js->valuestring);
	if ((in = malloc(COREHOOK_NAS_MAX)) == NULL ||
	    (out = malloc(COREHOOK_NAS_MAX)) == NULL) {
		http_problem(conn, 500, "Internal Server Error",
		    "urn:provca:corehook:internal", "out of memory");
		goto out;
	}
	if (b64_decode(in, COREHOOK_NAS_MAX, &inlen, jn->valuestring) != 0 ||
	    inlen == 0) {
		http_problem(conn, 400, "Bad Request",
		    "urn:provca:corehook:bad-request",
		    "nas must be base64 of 1..8192 bytes");
		goto out;
	}
	rc = corehook_handle(d->ch, session, in, inlen, out, COREHOOK_NAS_MAX,
	    &outlen, 0, err, sizeof(err));
	if (rc != COREHOOK_OK) {
		http_problem(conn, 500, "Internal Server Error",
		    "urn:provca:corehook:internal", err);
		goto out;
	}
	if ((resp = cJSON_CreateObject()) == NULL ||
	    (b64 = malloc(4 * ((outlen + 2) / 3) + 1)) == NULL) {
		http_problem(conn, 500, "Internal Server Error",
		    "urn:provca:corehook:internal", "out of memory");
		goto out;
	}
	EVP_EncodeBlock((unsigned char *)b64, out, (int)outlen);
	if ((outlen > 0 ? cJSON_AddStringToObject(resp, "nas", b64) :
	                  cJSON_AddNullToObject(resp, "nas")) == NULL ||
	    (text = cJSON_PrintUnformatted(resp)) == NULL) {
		http_problem(conn, 500, "Internal Server Error",
		    "urn:provca:corehook:internal", "out of memory");
		goto out;
	}
	http_reply(conn, 200, "OK", "application/json", text);
out:
	if (out != NULL)
		OPENSSL_cleanse(out, COREHOOK_NAS_MAX);
	free(in);
	free(out);
	free(b64);
	cJSON_free(text);
	cJSON_Delete(resp);
	cJSON_Delete(doc);
	free(body);
	return 200;
}

static int h_metrics(struct mg_connection *conn, void *cbdata)
{
	struct daemon *d = cbdata;
	char *buf;

	if (strcmp(mg_get_request_info(conn)->request_method, "GET") != 0) {
		http_problem(conn, 405, "Method Not Allowed",
		    "urn:provca:corehook:method", "use GET");
		return 405;
	}
	if ((buf = malloc(32768)) == NULL ||
	    corehook_metrics_write(d->ch, buf, 32768) != COREHOOK_OK ||
	    corehook_retx_metrics_write(d->retx, buf, 32768) != COREHOOK_OK ||
	    (d->sbi != NULL && sbi_metrics_append(&d->sbim, buf, 32768) != 0)) {
		free(buf);
		http_problem(conn, 500, "Internal Server Error",
		    "urn:provca:corehook:internal", "metrics");
		return 500;
	}
	http_reply(conn, 200, "OK", "text/plain; version=0.0.4", buf);
	free(buf);
	return 200;
}

/* The HTTP routes: path, handler. */
static const struct {
	const char *path;
	mg_request_handler fn;
} routes[] = {
	{ "/prov/v1/registrations$", h_registrations },
	{ "/metrics$", h_metrics },
};

/* Start the SBI when sbi.listen is set: the Nudm_UEAU server, then the
 * NRF client advertising the bound port; prints the "sbi" line. */
static int sbi_start(struct daemon *d, const corehook_config *cfg, char *err,
    size_t errlen)
{
	const sbi_config_t *sc = &cfg->sbi;
	char host[128], base[200], first[16], last[16];
	const char *colon;
	int w = 12 - (int)strlen(cfg->mnc);

	if (sc->listen[0] == '\0')
		return 0;
	colon = strrchr(sc->listen, ':');
	snprintf(host, sizeof(host), "%.*s",
	    colon != NULL ? (int)(colon - sc->listen) : 0, sc->listen);
	if (sc->advertise[0] != '\0')
		snprintf(host, sizeof(host), "%s", sc->advertise);
	if (strcmp(host, "0.0.0.0") == 0 || host[0] == '\0') {
		util_err_set(err, errlen,
		    "sbi.listen on any address needs"
		    " sbi.advertise (the address the NRF hands out)");
		return -1;
	}
	if (sbi_ueau_new(&d->ueau, d->ch, cfg, sc, &d->sbim, "", err, errlen) !=
	        0 ||
	    sbi_server_start(&d->sbi, sc->listen, sc, sbi_ueau_handle, d->ueau,
	        &d->sbim, err, errlen) != 0)
		return -1;
	snprintf(base, sizeof(base), "%s://%s:%u",
	    sc->tls_cert[0] != '\0' ? "https" : "http", host,
	    sbi_server_port(d->sbi));
	sbi_ueau_set_base(d->ueau, base);
	snprintf(first, sizeof(first), "%s%s%0*llu", cfg->mcc, cfg->mnc, w,
	    (unsigned long long)cfg->msin_first);
	snprintf(last, sizeof(last), "%s%s%0*llu", cfg->mcc, cfg->mnc, w,
	    (unsigned long long)cfg->msin_last);
	if (sc->nrf_uri[0] != '\0' &&
	    sbi_nrf_start(&d->nrf, sc, host, sbi_server_port(d->sbi), first,
	        last, &d->sbim, log_line, err, errlen) != 0)
		return -1;
	printf("sbi %s\n", base);
	return 0;
}

static int civet_log(const struct mg_connection *conn, const char *msg)
{
	(void)conn;
	log_line(NULL, 1, msg);
	return 1;
}

/* Block SIGTERM and SIGINT in every thread and read them from a
 * signalfd; the descriptor, or -1 with err set. */
static int serve_signals_open(char *err, size_t errlen)
{
	sigset_t mask;
	int sfd;

	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	if (pthread_sigmask(SIG_BLOCK, &mask, NULL) != 0 ||
	    (sfd = signalfd(-1, &mask, SFD_CLOEXEC)) < 0) {
		util_err_set(err, errlen, "signalfd: %s", strerror(errno));
		return -1;
	}
	return sfd;
}

/* Bind the NAS UDP socket into d->udp (its address into sa): a 4 MiB
 * receive buffer, the workers' wake-up timeout; 0 or -1 with err set. */
static int serve_udp_open(struct daemon *d, struct sockaddr_in *sa,
    const corehook_config *cfg, char *err, size_t errlen)
{
	struct timeval tv = { .tv_sec = RECV_WAKE_MS / 1000,
		.tv_usec = (RECV_WAKE_MS % 1000) * 1000 };
	socklen_t slen = sizeof(*sa);
	int n;

	if (parse_hostport(sa, corehook_config_nas_listen(cfg), err, errlen) !=
	    0)
		return -1;
	if ((d->udp = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0)) < 0 ||
	    bind(d->udp, (struct sockaddr *)sa, sizeof(*sa)) != 0 ||
	    getsockname(d->udp, (struct sockaddr *)sa, &slen) != 0) {
		util_err_set(err, errlen, "UDP %s: %s",
		    corehook_config_nas_listen(cfg), strerror(errno));
		return -1;
	}
	/* The receive buffer is the workers' queue: room for thousands of
	 * datagrams (FORCE passes net.core.rmem_max when privileged). */
	n = 4 * 1024 * 1024;
	if (setsockopt(d->udp, SOL_SOCKET, SO_RCVBUFFORCE, &n, sizeof(n)) != 0)
		(void)setsockopt(d->udp, SOL_SOCKET, SO_RCVBUF, &n, sizeof(n));
	(void)setsockopt(d->udp, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	memcpy(d->core_ep.addr, &sa->sin_addr.s_addr, 4);
	d->core_ep.port = ntohs(sa->sin_port);
	return 0;
}

/* Start the HTTP JSON endpoint with its routes; the context, or NULL
 * with err set. *port: the port it bound. */
static struct mg_context *serve_http_start(struct daemon *d, int *port,
    const corehook_config *cfg, unsigned nworkers, char *err, size_t errlen)
{
	struct mg_server_port ports[4];
	struct mg_callbacks cb;
	struct mg_context *mg;
	char nthreads[16];
	const char *opts[9];
	size_t i;

	snprintf(nthreads, sizeof(nthreads), "%u", nworkers);
	opts[0] = "listening_ports";
	opts[1] = corehook_config_http_listen(cfg);
	opts[2] = "num_threads";
	opts[3] = nthreads;
	opts[4] = "request_timeout_ms";
	opts[5] = "30000";
	opts[6] = "enable_keep_alive";
	opts[7] = "no";
	opts[8] = NULL;
	memset(&cb, 0, sizeof(cb));
	cb.log_message = civet_log;
	if ((mg = mg_start(&cb, NULL, opts)) == NULL) {
		util_err_set(err, errlen, "HTTP listener %s could not start",
		    corehook_config_http_listen(cfg));
		return NULL;
	}
	for (i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
		mg_set_request_handler(mg, routes[i].path, routes[i].fn, d);
	memset(ports, 0, sizeof(ports));
	if (mg_get_server_ports(mg, 4, ports) < 1) {
		util_err_set(err, errlen, "HTTP listener has no port");
		mg_stop(mg);
		return NULL;
	}
	*port = ports[0].port;
	return mg;
}

/* Print where the daemon listens (tests read these lines). */
static void serve_banner(const corehook_config *cfg,
    const struct sockaddr_in *sa, int http_port)
{
	char a[INET_ADDRSTRLEN], hh[64];
	const char *hl = corehook_config_http_listen(cfg);
	const char *colon = strrchr(hl, ':');

	inet_ntop(AF_INET, &sa->sin_addr, a, sizeof(a));
	snprintf(hh, sizeof(hh), "%.*s", colon != NULL ? (int)(colon - hl) : 0,
	    hl);
	printf("nas udp %s:%u\n", a, (unsigned)ntohs(sa->sin_port));
	printf("http http://%s:%d\n", hh[0] != '\0' ? hh : "127.0.0.1",
	    http_port);
	fflush(stdout);
}

/* Run the daemon until SIGTERM/SIGINT, then finish what is queued. */
int serve_run(const corehook_config *cfg, const char *pcap_path, char *err,
    size_t errlen)
{
	struct daemon d;
	struct mg_context *mg = NULL;
	struct sockaddr_in sa;
	pthread_t *th = NULL;
	unsigned nworkers = corehook_config_workers(cfg), started = 0, i;
	int sfd = -1, rc = -1, http_port = 0;

	memset(&d, 0, sizeof(d));
	d.udp = -1;
	atomic_init(&d.closing, 0);
	if ((sfd = serve_signals_open(err, errlen)) < 0)
		goto out;
	signal(SIGPIPE, SIG_IGN);
	if (corehook_open(&d.ch, cfg, log_line, NULL, err, errlen) !=
	    COREHOOK_OK)
		goto out;
	if (pcap_path != NULL &&
	    pcap_writer_open(&d.pcap, pcap_path, 0, err, errlen) != PCAP_OK)
		goto out;
	if (serve_udp_open(&d, &sa, cfg, err, errlen) != 0 ||
	    corehook_retx_start(&d.retx, d.ch, retx_send, &d, err, errlen) !=
	        COREHOOK_OK ||
	    (mg = serve_http_start(&d, &http_port, cfg, nworkers, err,
	         errlen)) == NULL)
		goto out;
	if ((th = calloc(nworkers, sizeof(*th))) == NULL) {
		util_err_set(err, errlen, "out of memory");
		goto out;
	}
	for (started = 0; started < nworkers; started++)
		if (pthread_create(&th[started], NULL, worker_main, &d) != 0)
			break;
	if (started == 0) {
		util_err_set(err, errlen, "no worker thread");
		goto out;
	}
	serve_banner(cfg, &sa, http_port);
	if (sbi_start(&d, cfg, err, errlen) != 0)
		goto out;
	fflush(stdout);

	for (;;) {
		struct signalfd_siginfo si;
		ssize_t got = read(sfd, &si, sizeof(si));

		if (got >= 0 || errno != EINTR)
			break;
	}
	log_line(NULL, 0, "stopping: finishing in-flight exchanges");
	rc = 0;
out:
	/* Finish what the socket has queued (the workers drain it after the
	 * receive side is shut), then stop HTTP (mg_stop waits for its
	 * handlers), then close the store. */
	atomic_store(&d.closing, 1);
	if (d.udp >= 0)
		(void)shutdown(d.udp, SHUT_RD);
	for (i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	free(th);
	/* Leave the NRF first (no new callers), then close the SBI. */
	sbi_nrf_stop(d.nrf);
	sbi_server_stop(d.sbi);
	sbi_ueau_free(d.ueau);
	if (mg != NULL)
		mg_stop(mg);
	/* The timer thread sends on the socket and /metrics reads it. */
	corehook_retx_stop(d.retx);
	if (d.udp >= 0)
		close(d.udp);
	pcap_writer_close(d.pcap);
	corehook_close(d.ch);
	if (sfd >= 0)
		close(sfd);
	if (rc == 0)
		log_line(NULL, 0, "stopped");
	return rc;
}
