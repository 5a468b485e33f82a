/* reg_portal.c — the portal's tables in the registry (users, sessions):
 * the SQL of the migration that reg_migrations[] lists for them. The code
 * that reads and writes them is server/http/portal_store.c. */
#include "reg_portal.h"

const char reg_portal_schema_sql[] =
    "CREATE TABLE IF NOT EXISTS portal_users("
    " id INTEGER PRIMARY KEY,"
    " name TEXT NOT NULL UNIQUE,"
    " role TEXT NOT NULL CHECK(role IN ('admin','manufacturer')),"
    " manufacturer_id TEXT REFERENCES manufacturers(id),"
    " pw_hash TEXT NOT NULL,"
    " disabled INTEGER NOT NULL DEFAULT 0 CHECK(disabled IN (0,1)),"
    " created_at INTEGER NOT NULL,"
    " updated_at INTEGER NOT NULL,"
    " CHECK((role = 'manufacturer') = (manufacturer_id IS NOT NULL)));"
    "CREATE TABLE IF NOT EXISTS portal_sessions("
    " token_hash BLOB PRIMARY KEY CHECK(length(token_hash) = 32),"
    " user_id INTEGER NOT NULL REFERENCES portal_users(id) ON DELETE CASCADE,"
    " csrf TEXT NOT NULL,"
    " address TEXT,"
    " created_at INTEGER NOT NULL,"
    " last_seen INTEGER NOT NULL,"
    " absolute_expiry INTEGER NOT NULL);"
    "CREATE INDEX IF NOT EXISTS portal_sessions_user"
    " ON portal_sessions(user_id);";
