/* reg_pg.h — the registry on PostgreSQL 15: how a --db value names it,
 * and its schema in PostgreSQL's dialect (reg_pg_migrations[], the same
 * versions, names and meaning as reg_migrations[]). reg_open runs the
 * registry on the PostgreSQL engine of db.h when its path is such a URL. */
#ifndef PROVCA_REG_PG_H
#define PROVCA_REG_PG_H

#include <stddef.h>

#include "reg.h"

extern const reg_migration_t reg_pg_migrations[];
extern const size_t reg_pg_migrations_count;

/* 1 if s names a PostgreSQL database (postgresql:// or postgres:// URL),
 * else 0: how --db and the config tell the engines apart. */
int reg_pg_is_url(const char *s);

#endif
