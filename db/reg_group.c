/* reg_group.c — the registry's group commit on db_group.c's primitive:
 * what is the registry's own is the writer connection the leaders share
 * and its deferred WAL checkpoints. What a group writes is the caller's
 * (reg_group_write_fn); db_group decides who writes. */
#include "reg_group.h"
#include "reg_wal.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

struct reg_group {
	db_group_t *g;
	reg_group_write_fn write;
	void *arg;
	char path[PATH_MAX];
	/* The writer connection, opened by the first leader; failed: it
	 * could not be (leaders then write on their own). used: the last
	 * group was written on it. frames: the WAL's size after its last
	 * commit; ckpt_at: the size at its last checkpoint. Only the leader
	 * touches these (db_group has one at a time). */
	reg_t *writer;
	int writer_failed, used;
	int frames, ckpt_at;
};

/* Open the writer connection, once. The writer connection if it could be
 * opened, else NULL (and each leader writes on its own). */
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

/* db_group_write_fn: write the group on the writer connection, or on the
 * leader's own (fallback) when it cannot be opened. */
static void group_write(void *conn, db_group_item_t *list, void *arg)
{
	reg_group_t *g = arg;
	reg_t *w = group_writer(g);

	g->used = w != NULL;
	g->write(w != NULL ? w : conn, list, g->arg);
}

/* db_group_after_fn: a PASSIVE checkpoint on the writer connection once
 * its commits have added REG_WAL_CHECKPOINT_FRAMES since the last one (or
 * the WAL restarted below that mark). The leader runs it between groups,
 * after the answers: no group is being written, so it copies the whole
 * WAL and the next group restarts it from the beginning. Requests queued
 * meanwhile wait for it, as they waited behind SQLite's checkpoint inside
 * a COMMIT, but the group just committed has its answers already. */
static void group_checkpoint(void *arg)
{
	reg_group_t *g = arg;
	char err[256];

	if (!g->used)
		return;
	if (g->frames < g->ckpt_at)
		g->ckpt_at = 0;
	if (g->frames - g->ckpt_at < REG_WAL_CHECKPOINT_FRAMES)
		return;
	/* A failure (a reader in the way, I/O) leaves the WAL to the next
	 * try; the data is safe in the WAL either way. */
	if (reg_wal_checkpoint(g->writer, err, sizeof(err)) == REG_OK)
		g->ckpt_at = g->frames;
}

int reg_group_new(reg_group_t **out, const char *path, reg_group_write_fn write,
    void *arg, char *err, size_t errlen)
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
	if (db_group_new(&g->g, group_write, group_checkpoint, g) != 0) {
		free(g);
		util_err_set(err, errlen, "cannot create the commit group");
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
	db_group_free(g->g);
	free(g);
}

/* Queue item and return once a leader has written it (db_group_commit);
 * a group this thread leads is written on the writer connection, or on
 * fallback when that cannot be opened. */
void reg_group_commit(reg_group_t *g, reg_t *fallback, reg_group_item_t *item)
{
	db_group_commit(g->g, fallback, item);
}
