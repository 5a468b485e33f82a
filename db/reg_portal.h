/* reg_portal.h — schema of the portal's registry tables (portal_users,
 * portal_sessions), applied as one of reg_migrations[]. */
#ifndef PROVCA_REG_PORTAL_H
#define PROVCA_REG_PORTAL_H

/* CREATE TABLE/INDEX IF NOT EXISTS statements; safe to run twice. */
extern const char reg_portal_schema_sql[];

#endif
