/* reg_pg.h — the registry on PostgreSQL 15 (libpq): a connection that
 * applies the registry's numbered migrations in PostgreSQL's dialect
 * (reg_pg_migrations[], the same versions and meaning as the SQLite
 * ones). The first brick of the PostgreSQL engine: the reg_* data access
 * does not run on it yet. Nothing here prints. */
#ifndef PROVCA_REG_PG_H
#define PROVCA_REG_PG_H

#include <stddef.h>

#include "reg.h"

typedef struct reg_pg reg_pg_t;

extern const reg_migration_t reg_pg_migrations[];
extern const size_t reg_pg_migrations_count;

/* 1 if s names a PostgreSQL database (postgresql:// or postgres:// URL),
 * else 0: how --db and the config tell the engines apart. */
int reg_pg_is_url(const char *s);

/* Connect to the database conninfo names (a URL or key=value string) and
 * apply every migration above the recorded version, each in its own
 * transaction under an advisory lock, so nodes opening at once apply each
 * once. REG_ERR_UNAVAILABLE when the server cannot be reached. */
int reg_pg_open(reg_pg_t **out, const char *conninfo, char *err,
    size_t errlen);

/* Close; NULL-safe. */
void reg_pg_close(reg_pg_t *pg);

/* Highest applied migration version, or a negative reg_error. */
int reg_pg_schema_version(reg_pg_t *pg, char *err, size_t errlen);

#endif
