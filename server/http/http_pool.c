/* http_pool.c — the registry connections the workers share (the bottom
 * floor of the HTTP service: it calls nothing else in this folder), plus
 * the locks of the shared principal cache. Which request holds a
 * connection, and when it goes back, is the dispatcher's rule
 * (http_dispatch.c, "the registry connection's hold"). */
#include <stdlib.h>
#include <time.h>

#include "http_int.h"

/* How long a request waits for a pooled connection before it is answered
 * 503: connections are held only while the server itself works (never
 * across reading a request body or writing an answer; see the dispatcher),
 * so a wait this long means overload. */
#define HTTP_REG_WAIT_S 10

/* With more requests than connections in flight, the next one waits
 * (bounded) for a connection to come back. A request never holds two, so
 * waiting cannot deadlock. */
http_reg_slot_t *http_pool_take(http_server *srv)
{
	http_reg_slot_t *slot = NULL;
	struct timespec until;
	char err[256];
	size_t max;

	/* config "db_pool" (1..HTTP_REG_POOL_MAX): what one node may hold of
	 * a PostgreSQL server's max_connections. */
	max = srv->cfg != NULL && srv->cfg->db_pool > 0 &&
	        srv->cfg->db_pool < HTTP_REG_POOL_MAX ?
	    (size_t)srv->cfg->db_pool :
	    HTTP_REG_POOL_MAX;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += HTTP_REG_WAIT_S;
	pthread_mutex_lock(&srv->pool.lock);
	while (srv->pool.nidle == 0 && srv->pool.nused >= max)
		if (pthread_cond_timedwait(&srv->pool.freed, &srv->pool.lock,
		        &until) != 0)
			break;
	if (srv->pool.nidle > 0)
		slot = srv->pool.idle[--srv->pool.nidle];
	else if (srv->pool.nused < max)
		slot = &srv->pool.slots[srv->pool.nused++];
	pthread_mutex_unlock(&srv->pool.lock);
	if (slot == NULL) {
		atomic_fetch_add(&srv->metrics.db_errors, 1);
		return NULL;
	}
	/* Opened on first use; a slot whose open failed stays empty and is
	 * tried again by the next request that takes it. */
	if (slot->reg == NULL) {
		slot->stamp_seen = 0;
		if (ca_reg_open(srv->ca, &slot->reg, err, sizeof(err)) !=
		    CA_OK) {
			slot->reg = NULL;
			atomic_fetch_add(&srv->metrics.db_errors, 1);
		}
	}
	return slot;
}

void http_pool_give(http_server *srv, http_reg_slot_t *slot)
{
	if (slot == NULL)
		return;
	/* A connection goes back with no transaction open: a leaked one
	 * would pin its snapshot (and the auth epoch's change stamp). The
	 * read transaction of an HTTP_ROUTE_READ request ends here. */
	reg_read_end(slot->reg);
	if (slot->reg != NULL && reg_transaction_open(slot->reg)) {
		reg_rollback(slot->reg);
		atomic_fetch_add(&srv->metrics.db_errors, 1);
	}
	pthread_mutex_lock(&srv->pool.lock);
	srv->pool.idle[srv->pool.nidle++] = slot;
	pthread_cond_signal(&srv->pool.freed);
	pthread_mutex_unlock(&srv->pool.lock);
}

int http_shared_init(http_server *srv)
{
	if (pthread_mutex_init(&srv->pool.lock, NULL) != 0)
		return -1;
	if (pthread_cond_init(&srv->pool.freed, NULL) != 0) {
		pthread_mutex_destroy(&srv->pool.lock);
		return -1;
	}
	if (pthread_mutex_init(&srv->auth_cache.lock, NULL) != 0) {
		pthread_cond_destroy(&srv->pool.freed);
		pthread_mutex_destroy(&srv->pool.lock);
		return -1;
	}
	atomic_init(&srv->auth_epoch, 1);
	srv->shared_ready = 1;
	return 0;
}

/* After mg_stop: no worker is left, every slot is back. */
void http_shared_free(http_server *srv)
{
	size_t i;

	if (srv == NULL)
		return;
	if (!srv->shared_ready)
		return;
	for (i = 0; i < srv->pool.nused; i++)
		reg_close(srv->pool.slots[i].reg);
	pthread_mutex_destroy(&srv->auth_cache.lock);
	pthread_cond_destroy(&srv->pool.freed);
	pthread_mutex_destroy(&srv->pool.lock);
	srv->shared_ready = 0;
}
