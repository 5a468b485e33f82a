/* reg_group.c — the registry's group commit: the queue, the choice of a
 * leader, the writer connection and its deferred WAL checkpoints. What a
 * group writes is the caller's (reg_group_write_fn); this file decides who
 * writes, on which connection, and when the WAL is copied back. */
#include "reg_group.h"
#include "reg_wal.h"

#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

struct reg_group {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	reg_group_item_t *head, *tail;	/* waiting to be written */
	int leader;			/* a thread is writing a group */
	reg_group_write_fn write;
	void *arg;
	char path[PATH_MAX];
	/* The writer connection, opened by the first leader; failed: it
	 * could not be (leaders then write on their own). frames: the WAL's
	 * size after its last commit; ckpt_at: the size at its last
	 * checkpoint. */
	reg_t *writer;
	int writer_failed;
	int frames, ckpt_at;
};

int reg_group_new(reg_group_t **out, const char *path,
    reg_group_write_fn write, void *arg, char *err, size_t errlen)
{
	reg_group_t *g;

	*out = NULL;
	if (strlen(path) >= sizeof(g->path)) {
		util_err_set(err, errlen, "registry path too long");
		return REG_ERR_INVALID;
	}
	if ((g = calloc(1, sizeof(*g))) == NULL) {
		util_err_set(err, errlen, "out of memory");
		return REG_ERR_INTERNAL;
	}
	if (pthread_mutex_init(&g->mu, NULL) != 0) {
		free(g);
		util_err_set(err, errlen, "cannot create a mutex");
		return REG_ERR_INTERNAL;
	}
	if (pthread_cond_init(&g->cv, NULL) != 0) {
		pthread_mutex_destroy(&g->mu);
		free(g);
		util_err_set(err, errlen, "cannot create a condition variable");
		return REG_ERR_INTERNAL;
	}
	memcpy(g->path, path, strlen(path) + 1);
	g->write = write;
	g->arg = arg;
	*out = g;
	return REG_OK;
}

void reg_group_free(reg_group_t *g)
{
	if (g == NULL)
		return;
	reg_close(g->writer);
	pthread_cond_destroy(&g->cv);
	pthread_mutex_destroy(&g->mu);
	free(g);
}

/* Open the writer connection, once. Under mu. The writer connection if
 * it could be opened, else NULL (and each leader writes on its own). */
static reg_t *group_writer(reg_group_t *g)
{
	char err[256];

	if (g->writer != NULL || g->writer_failed)
		return g->writer;
	if (reg_open_existing(&g->writer, g->path, err, sizeof(err)) !=
	    REG_OK) {
		g->writer = NULL;
		g->writer_failed = 1;
		return NULL;
	}
	reg_wal_defer_checkpoints(g->writer, &g->frames);
	return g->writer;
}

/* A PASSIVE checkpoint on the writer connection once its commits have
 * added REG_WAL_CHECKPOINT_FRAMES since the last one (or the WAL restarted
 * below that mark). The leader runs it between groups, after the answers:
 * no group is being written, so it copies the whole WAL and the next group
 * restarts it from the beginning. Requests queued meanwhile wait for it,
 * as they waited behind SQLite's checkpoint inside a COMMIT, but the group
 * just committed has its answers already. */
static void group_checkpoint(reg_group_t *g)
{
	char err[256];

	if (g->frames < g->ckpt_at)
		g->ckpt_at = 0;
	if (g->frames - g->ckpt_at < REG_WAL_CHECKPOINT_FRAMES)
		return;
	/* A failure (a reader in the way, I/O) leaves the WAL to the next
	 * try; the data is safe in the WAL either way. */
	if (reg_wal_checkpoint(g->writer, err, sizeof(err)) == REG_OK)
		g->ckpt_at = g->frames;
}

/* Mark every item of list written and wake their owners. Under mu.
 * Owners read their job only after seeing done under the lock, so the
 * list may be walked until it is released. */
static void group_done(reg_group_t *g, reg_group_item_t *list)
{
	reg_group_item_t *k;

	for (k = list; k != NULL; k = k->next)
		k->done = 1;
	pthread_cond_broadcast(&g->cv);
}

/*
 * Queue item, and either wait until a leader has written it or, when no
 * one is writing, lead: take everything queued so far and write it.
 * Requests that arrive while a group is being written form the next group.
 * A leader that finds the WAL due for a checkpoint runs it after the
 * group's answers are out, before giving up the lead.
 */
void reg_group_commit(reg_group_t *g, reg_t *fallback,
    reg_group_item_t *item)
{
	reg_group_item_t *list;
	reg_t *w;

	pthread_mutex_lock(&g->mu);
	item->next = NULL;
	item->done = 0;
	if (g->tail != NULL)
		g->tail->next = item;
	else
		g->head = item;
	g->tail = item;
	while (!item->done) {
		if (g->leader) {
			pthread_cond_wait(&g->cv, &g->mu);
			continue;
		}
		g->leader = 1;
		list = g->head;
		g->head = g->tail = NULL;
		w = group_writer(g);
		pthread_mutex_unlock(&g->mu);
		g->write(w != NULL ? w : fallback, list, g->arg);
		pthread_mutex_lock(&g->mu);
		group_done(g, list);
		if (w != NULL) {
			pthread_mutex_unlock(&g->mu);
			group_checkpoint(g);
			pthread_mutex_lock(&g->mu);
		}
		g->leader = 0;
		pthread_cond_broadcast(&g->cv);
	}
	pthread_mutex_unlock(&g->mu);
}
