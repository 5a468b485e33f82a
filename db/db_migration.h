/* db_migration.h — one numbered schema migration, the unit every store's
 * schema history is written in (SQLite and PostgreSQL alike). */
#ifndef PROVCA_DB_MIGRATION_H
#define PROVCA_DB_MIGRATION_H

/* Applied in a transaction and recorded in schema_migrations; a list is in
 * increasing version order, and an applied entry is never edited. */
typedef struct db_migration {
	int version;
	const char *name;
	const char *sql;
} db_migration_t;

#endif
