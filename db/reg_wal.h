/* reg_wal.h — checkpoint control for a connection that writes in groups:
 * its commits no longer checkpoint inline; its owner checkpoints when the
 * WAL has grown, at a moment no answer waits for. */
#ifndef PROVCA_REG_WAL_H
#define PROVCA_REG_WAL_H

#include "reg.h"

/* WAL frames after which a deferred checkpoint is due: SQLite's own
 * automatic threshold (1000 pages), so the WAL stays the size it was. */
#define REG_WAL_CHECKPOINT_FRAMES 1000

/* Stop automatic checkpoints on reg; after each of its commits *frames
 * gets the WAL's frame count. frames must outlive reg (or the next call). */
/* (Both are no-ops on PostgreSQL, which checkpoints on its own.) */
void reg_wal_defer_checkpoints(reg_t *reg, int *frames);

/* A PASSIVE checkpoint on reg: copies what no reader still needs, waits
 * for no one. REG_OK or an error with err filled. */
int reg_wal_checkpoint(reg_t *reg, char *err, size_t errlen);

#endif
