/* db_group.c — the group-commit primitive of db_group.h: the queue, the
 * choice of a leader, the counters. Engine- and store-agnostic: the
 * caller's write callback runs the transaction. */
#include "db_group.h"

#include <pthread.h>
#include <stdlib.h>

struct db_group {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	db_group_item_t *head, *tail; /* waiting to be written */
	size_t queued;                /* items in head..tail */
	int leader;                   /* a thread is writing a group */
	db_group_write_fn write;
	db_group_after_fn after;
	void *arg;
	uint64_t groups, jobs; /* statistics, under mu */
};

int db_group_new(db_group_t **out, db_group_write_fn write,
    db_group_after_fn after, void *arg)
{
	db_group_t *g;

	*out = NULL;
	if ((g = calloc(1, sizeof(*g))) == NULL)
		return -1;
	if (pthread_mutex_init(&g->mu, NULL) != 0) {
		free(g);
		return -1;
	}
	if (pthread_cond_init(&g->cv, NULL) != 0) {
		pthread_mutex_destroy(&g->mu);
		free(g);
		return -1;
	}
	g->write = write;
	g->after = after;
	g->arg = arg;
	*out = g;
	return 0;
}

void db_group_free(db_group_t *g)
{
	if (g == NULL)
		return;
	pthread_cond_destroy(&g->cv);
	pthread_mutex_destroy(&g->mu);
	free(g);
}

void db_group_stats(db_group_t *g, db_group_stats_t *out)
{
	pthread_mutex_lock(&g->mu);
	out->groups = g->groups;
	out->jobs = g->jobs;
	out->queued = g->queued;
	out->writing = g->leader;
	pthread_mutex_unlock(&g->mu);
}

/* Mark every item of list written and wake their owners. Under mu.
 * Owners read their job only after seeing done under the lock, so the
 * list may be walked until it is released. */
static void group_done(db_group_t *g, db_group_item_t *list)
{
	db_group_item_t *k;
	uint64_t n = 0;

	for (k = list; k != NULL; k = k->next, n++)
		k->done = 1;
	g->groups++;
	g->jobs += n;
	pthread_cond_broadcast(&g->cv);
}

/*
 * Queue item, and either wait until a leader has written it or, when no
 * one is writing, lead: take everything queued so far and write it on
 * conn. Requests that arrive while a group is being written form the next
 * group. The after hook runs once the group's answers are out, before the
 * lead is given up.
 */
void db_group_commit(db_group_t *g, void *conn, db_group_item_t *item)
{
	db_group_item_t *list;

	pthread_mutex_lock(&g->mu);
	item->next = NULL;
	item->done = 0;
	if (g->tail != NULL)
		g->tail->next = item;
	else
		g->head = item;
	g->tail = item;
	g->queued++;
	while (!item->done) {
		if (g->leader) {
			pthread_cond_wait(&g->cv, &g->mu);
			continue;
		}
		g->leader = 1;
		list = g->head;
		g->head = g->tail = NULL;
		g->queued = 0;
		pthread_mutex_unlock(&g->mu);
		g->write(conn, list, g->arg);
		pthread_mutex_lock(&g->mu);
		group_done(g, list);
		if (g->after != NULL) {
			pthread_mutex_unlock(&g->mu);
			g->after(g->arg);
			pthread_mutex_lock(&g->mu);
		}
		g->leader = 0;
		pthread_cond_broadcast(&g->cv);
	}
	pthread_mutex_unlock(&g->mu);
}
