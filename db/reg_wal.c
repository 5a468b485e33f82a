/* reg_wal.c — deferred WAL checkpoints. SQLite checkpoints inside the
 * COMMIT that takes the WAL past 1000 frames: copying pages to the database
 * file and syncing both files while the writer's answers wait. A
 * connection set up here only records the WAL's size; its owner checkpoints
 * after those answers have gone. */
#include "reg_wal.h"
#include "reg_priv.h"

/* sqlite3_wal_hook callback: remember the WAL's size. Replacing the
 * default hook is what turns automatic checkpoints off. */
static int wal_frames_note(void *arg, sqlite3 *db, const char *name, int frames)
{
	(void)db;
	(void)name;
	*(int *)arg = frames;
	return SQLITE_OK;
}

void reg_wal_defer_checkpoints(reg_t *reg, int *frames)
{
	*frames = 0;
	if (reg->db != NULL) /* PostgreSQL checkpoints on its own */
		sqlite3_wal_hook(reg->db, wal_frames_note, frames);
}

int reg_wal_checkpoint(reg_t *reg, char *err, size_t errlen)
{
	int rc;

	if (reg->db == NULL)
		return REG_OK;
	rc = sqlite3_wal_checkpoint_v2(reg->db, "main",
	    SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
	if (rc != SQLITE_OK)
		return reg_fail(reg, rc, err, errlen, "checkpoint");
	return REG_OK;
}
