/* http_connlimit.h — bounds on TLS connections per client address and on
 * the time a TLS handshake may take, so one address cannot hold every
 * CivetWeb worker thread (one thread per connection) with idle sockets. */
#ifndef PROVCA_HTTP_CONNLIMIT_H
#define PROVCA_HTTP_CONNLIMIT_H

#include <stdatomic.h>
#include <stddef.h>

struct ssl_ctx_st;

typedef struct http_connlimit http_connlimit;

/* A limiter: at most per_addr open connections per client address (IPv4
 * or IPv6 address, any port), each TLS handshake over after handshake_ms.
 * refused and timed_out (may be NULL) count connections closed for each
 * reason. Starts the handshake watchdog thread. 0, or -1 with err. */
int http_connlimit_new(http_connlimit **out, int per_addr, int handshake_ms,
    atomic_uint_fast64_t *refused, atomic_uint_fast64_t *timed_out, char *err,
    size_t errlen);

/* Hook cl into ctx (its info callback and ex_data), for CivetWeb's
 * init_ssl callback. Every SSL made from ctx is counted from its first
 * handshake step until it is freed. 0, or -1 with err. */
int http_connlimit_attach(http_connlimit *cl, struct ssl_ctx_st *ctx, char *err,
    size_t errlen);

/* Stop the watchdog and free cl; after mg_stop (no SSL of ctx alive).
 * NULL-safe. */
void http_connlimit_free(http_connlimit *cl);

#endif
