/* db_group.h — the group-commit primitive both stores share (the
 * registry's issuance, corehook's subscriber writes): concurrent writers
 * queue their work, and whichever finds no group being written leads: it
 * writes everything queued so far in one transaction, so one durable
 * COMMIT serves many. What a group writes, and on which connection, is the
 * caller's (db_group_write_fn); this file decides who writes and when. */
#ifndef PROVCA_DB_GROUP_H
#define PROVCA_DB_GROUP_H

#include <stddef.h>
#include <stdint.h>

typedef struct db_group db_group_t;

/* A queued piece of work; embed it (first member) in the caller's job. */
typedef struct db_group_item {
	struct db_group_item *next;
	int done; /* written; under the group's lock */
} db_group_item_t;

/* Write every item of list in one transaction on conn (the connection the
 * leader passed to db_group_commit); an item's own result travels in the
 * caller's job. Runs on the leader's thread, outside the group's lock,
 * never on two threads at once. */
typedef void (*db_group_write_fn)(void *conn, db_group_item_t *list, void *arg);

/* Run by the leader after a group's owners have been woken, before it
 * gives up the lead (e.g. a WAL checkpoint); may be NULL. */
typedef void (*db_group_after_fn)(void *arg);

typedef struct {
	uint64_t groups; /* transactions written so far */
	uint64_t jobs;   /* items they carried */
	size_t queued;   /* items waiting for the next one */
	int writing;     /* 1 while a group is being written */
} db_group_stats_t;

/* A group whose leaders write with write(conn, list, arg) and then run
 * after(arg). 0, or -1 (out of memory, no mutex). */
int db_group_new(db_group_t **out, db_group_write_fn write,
    db_group_after_fn after, void *arg);

/* Free the group (no commit may be running); NULL-safe. */
void db_group_free(db_group_t *g);

/* Queue item and return once it has been written, by this thread as the
 * leader (on conn) or by another. */
void db_group_commit(db_group_t *g, void *conn, db_group_item_t *item);

/* The group's counters, read under its lock. */
void db_group_stats(db_group_t *g, db_group_stats_t *out);

#endif
