/* reg_group.h — group commit on the registry, on db_group.h's shared
 * primitive: concurrent writers queue their work, and whichever finds no
 * group being written leads: it writes everything queued so far in one
 * transaction, so one durable COMMIT serves many. Every leader writes on one writer connection the group owns (no
 * other connection commits in between, so its page cache stays warm), and
 * that connection checkpoints after a group's answers, not inside the
 * COMMIT they wait for. */
#ifndef PROVCA_REG_GROUP_H
#define PROVCA_REG_GROUP_H

#include "db_group.h"
#include "reg.h"

typedef struct reg_group reg_group_t;

/* A queued piece of work; embed it (first member) in the caller's job. */
typedef db_group_item_t reg_group_item_t;

/* Write every item of list on reg, in one transaction the callback begins
 * and commits; an item's own result travels in the caller's job. Runs on
 * the leader's thread, outside the group's lock. */
typedef void (
    *reg_group_write_fn)(reg_t *reg, reg_group_item_t *list, void *arg);

/* A group for the registry at path, whose leaders write with write(arg).
 * The writer connection opens at the first group. REG_OK or an error with
 * err filled. */
int reg_group_new(reg_group_t **out, const char *path, reg_group_write_fn write,
    void *arg, char *err, size_t errlen);

/* Close the writer connection and free the group (no commit may be
 * running); NULL-safe. */
void reg_group_free(reg_group_t *g);

/* Queue item and return once it has been written, by this thread as the
 * leader or by another. fallback (the caller's connection) writes the
 * group if the writer connection cannot be opened. */
void reg_group_commit(reg_group_t *g, reg_t *fallback, reg_group_item_t *item);

#endif
