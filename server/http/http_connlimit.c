/* http_connlimit.c — per-address connection limit and TLS-handshake
 * timeout for the HTTPS listener. CivetWeb gives every connection a worker
 * thread and takes up to request_timeout_ms over a handshake, so a client
 * opening idle TCP connections could hold every worker. OpenSSL's info
 * callback sees each connection at its first handshake step, on the worker,
 * before any byte is read: a connection over its address's limit is shut
 * down there (the worker is free again at once), the others are counted
 * until their SSL is freed (an ex_data free callback, which CivetWeb runs
 * before it closes the socket), and a watchdog thread shuts down any whose
 * handshake runs past the timeout. */
#include "http_connlimit.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <netinet/in.h>
#include <sys/socket.h>

#include <openssl/crypto.h>
#include <openssl/ssl.h>

/* How often the watchdog looks for handshakes past their time. */
#define WATCH_INTERVAL_MS 100

/* One counted connection: from its first handshake step until its SSL is
 * freed. Linked into the limiter's list under its lock. */
typedef struct conn_rec {
	struct conn_rec *prev, *next;
	struct http_connlimit *cl;
	unsigned char addr[16]; /* IPv6, or IPv4 as ::ffff:a.b.c.d */
	int fd;
	int in_handshake;
	int cut; /* the watchdog shut it down */
	int64_t start_ms;
} conn_rec;

struct http_connlimit {
	pthread_mutex_t lock;
	pthread_cond_t wake;
	pthread_t watchdog;
	int stop;
	int per_addr;
	int handshake_ms;
	int ssl_idx; /* CRYPTO_EX_INDEX_SSL slot of the conn_rec */
	conn_rec *head;
	atomic_uint_fast64_t *refused, *timed_out;
};

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void count(atomic_uint_fast64_t *c)
{
	if (c != NULL)
		atomic_fetch_add(c, 1);
}

/* The peer address of fd as a 16-byte key; 0, or -1 if it has none. */
static int addr_key(unsigned char key[16], int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	memset(key, 0, 16);
	if (getpeername(fd, (struct sockaddr *)&ss, &len) != 0)
		return -1;
	if (ss.ss_family == AF_INET) {
		key[10] = key[11] = 0xff;
		memcpy(key + 12, &((struct sockaddr_in *)&ss)->sin_addr, 4);
	} else if (ss.ss_family == AF_INET6) {
		memcpy(key, &((struct sockaddr_in6 *)&ss)->sin6_addr, 16);
	}
	return 0;
}

/* First handshake step of s: refuse it over the limit, else count it. */
static void conn_begin(http_connlimit *cl, SSL *s)
{
	unsigned char key[16];
	conn_rec *rec, *r;
	int fd = SSL_get_fd(s), n = 0;

	if (SSL_get_ex_data(s, cl->ssl_idx) != NULL || fd < 0)
		return; /* counted already (a renegotiation), or no socket */
	if (addr_key(key, fd) != 0 || (rec = calloc(1, sizeof(*rec))) == NULL) {
		shutdown(fd, SHUT_RDWR);
		count(cl->refused);
		return;
	}
	memcpy(rec->addr, key, sizeof(key));
	rec->cl = cl;
	rec->fd = fd;
	rec->in_handshake = 1;
	rec->start_ms = now_ms();
	pthread_mutex_lock(&cl->lock);
	for (r = cl->head; r != NULL; r = r->next)
		n += memcmp(r->addr, key, sizeof(key)) == 0;
	if (n >= cl->per_addr || SSL_set_ex_data(s, cl->ssl_idx, rec) != 1) {
		pthread_mutex_unlock(&cl->lock);
		free(rec);
		/* The handshake's next read sees EOF and fails; CivetWeb
		 * closes the socket and the worker takes the next one. */
		shutdown(fd, SHUT_RDWR);
		count(cl->refused);
		return;
	}
	rec->next = cl->head;
	if (cl->head != NULL)
		cl->head->prev = rec;
	cl->head = rec;
	pthread_mutex_unlock(&cl->lock);
}

/* OpenSSL's info callback for every SSL of the attached context. */
static void cb_info(const SSL *ssl, int where, int ret)
{
	SSL *s = (SSL *)(uintptr_t)ssl; /* ex_data setters take non-const */
	http_connlimit *cl = SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl));
	conn_rec *rec;

	(void)ret;
	if (cl == NULL)
		return;
	if (where & SSL_CB_HANDSHAKE_START)
		conn_begin(cl, s);
	if ((where & SSL_CB_HANDSHAKE_DONE) &&
	    (rec = SSL_get_ex_data(s, cl->ssl_idx)) != NULL) {
		pthread_mutex_lock(&cl->lock);
		rec->in_handshake = 0;
		pthread_mutex_unlock(&cl->lock);
	}
}

/* ex_data free callback: the SSL is being freed (before its socket is
 * closed), so the connection no longer counts. */
static void rec_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx,
    long argl, void *argp)
{
	conn_rec *rec = ptr;
	http_connlimit *cl;

	(void)parent;
	(void)ad;
	(void)idx;
	(void)argl;
	(void)argp;
	if (rec == NULL)
		return;
	cl = rec->cl;
	pthread_mutex_lock(&cl->lock);
	if (rec->prev != NULL)
		rec->prev->next = rec->next;
	else
		cl->head = rec->next;
	if (rec->next != NULL)
		rec->next->prev = rec->prev;
	pthread_mutex_unlock(&cl->lock);
	free(rec);
}

/* Shut down every connection whose handshake has run past the timeout;
 * until stopped. A record is unlinked before its socket is closed, so fd
 * is still that connection's. */
static void *watchdog_main(void *arg)
{
	http_connlimit *cl = arg;
	struct timespec until;
	conn_rec *r;
	int64_t now;

	pthread_mutex_lock(&cl->lock);
	while (!cl->stop) {
		now = now_ms();
		for (r = cl->head; r != NULL; r = r->next) {
			if (r->in_handshake && !r->cut &&
			    now - r->start_ms >= cl->handshake_ms) {
				shutdown(r->fd, SHUT_RDWR);
				r->cut = 1;
				count(cl->timed_out);
			}
		}
		clock_gettime(CLOCK_MONOTONIC, &until);
		until.tv_nsec += WATCH_INTERVAL_MS * 1000000L;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&cl->wake, &cl->lock, &until);
	}
	pthread_mutex_unlock(&cl->lock);
	return NULL;
}

/* The mutex, the monotonic-clock condition and the watchdog thread. */
static int connlimit_threads_start(http_connlimit *cl)
{
	pthread_condattr_t ca;
	int ok;

	if (pthread_mutex_init(&cl->lock, NULL) != 0)
		return -1;
	if (pthread_condattr_init(&ca) != 0) {
		pthread_mutex_destroy(&cl->lock);
		return -1;
	}
	ok = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) == 0 &&
	    pthread_cond_init(&cl->wake, &ca) == 0;
	pthread_condattr_destroy(&ca);
	if (!ok) {
		pthread_mutex_destroy(&cl->lock);
		return -1;
	}
	if (pthread_create(&cl->watchdog, NULL, watchdog_main, cl) != 0) {
		pthread_cond_destroy(&cl->wake);
		pthread_mutex_destroy(&cl->lock);
		return -1;
	}
	return 0;
}

int http_connlimit_new(http_connlimit **out, int per_addr, int handshake_ms,
    atomic_uint_fast64_t *refused, atomic_uint_fast64_t *timed_out, char *err,
    size_t errlen)
{
	http_connlimit *cl;

	*out = NULL;
	if (per_addr < 1 || handshake_ms < 1) {
		snprintf(err, errlen, "connection limits must be positive");
		return -1;
	}
	if ((cl = calloc(1, sizeof(*cl))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	cl->per_addr = per_addr;
	cl->handshake_ms = handshake_ms;
	cl->refused = refused;
	cl->timed_out = timed_out;
	cl->ssl_idx = SSL_get_ex_new_index(0, NULL, NULL, NULL, rec_free);
	if (cl->ssl_idx < 0) {
		snprintf(err, errlen, "cannot reserve an SSL ex_data slot");
		free(cl);
		return -1;
	}
	if (connlimit_threads_start(cl) != 0) {
		snprintf(err, errlen, "cannot start the handshake watchdog");
		CRYPTO_free_ex_index(CRYPTO_EX_INDEX_SSL, cl->ssl_idx);
		free(cl);
		return -1;
	}
	*out = cl;
	return 0;
}

int http_connlimit_attach(http_connlimit *cl, struct ssl_ctx_st *ctx, char *err,
    size_t errlen)
{
	if (SSL_CTX_set_app_data(ctx, cl) != 1) {
		snprintf(err, errlen, "cannot attach the connection limiter");
		return -1;
	}
	SSL_CTX_set_info_callback(ctx, cb_info);
	return 0;
}

void http_connlimit_free(http_connlimit *cl)
{
	conn_rec *r, *next;

	if (cl == NULL)
		return;
	pthread_mutex_lock(&cl->lock);
	cl->stop = 1;
	pthread_cond_signal(&cl->wake);
	pthread_mutex_unlock(&cl->lock);
	pthread_join(cl->watchdog, NULL);
	/* No SSL of the context is left after mg_stop; records that remain
	 * (none expected) are only memory now. */
	for (r = cl->head; r != NULL; r = next) {
		next = r->next;
		free(r);
	}
	CRYPTO_free_ex_index(CRYPTO_EX_INDEX_SSL, cl->ssl_idx);
	pthread_cond_destroy(&cl->wake);
	pthread_mutex_destroy(&cl->lock);
	free(cl);
}
