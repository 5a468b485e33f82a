/* subs_migrations.h — the subscriber store's schema history in both
 * dialects: the same versions, names and meaning on SQLite and on
 * PostgreSQL 15. Applied by db_migrate from subs_open. */
#ifndef PROVCA_SUBS_MIGRATIONS_H
#define PROVCA_SUBS_MIGRATIONS_H

#include <stddef.h>

#include "db_migration.h"

extern const db_migration_t subs_migrations_sqlite[];
extern const db_migration_t subs_migrations_pg[];
extern const size_t subs_migrations_count;

#endif
