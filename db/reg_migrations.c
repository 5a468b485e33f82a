/* reg_migrations.c — the registry's schema as numbered migrations. reg_open
 * applies, in order and each in its own transaction, every entry whose
 * version is above the highest recorded in schema_migrations. To change the
 * schema, append an entry with the next version; never edit an applied one. */
#include "reg.h"

static const char m1_core[] =
    "CREATE TABLE manufacturers ("
    "  id TEXT PRIMARY KEY CHECK (length(id) BETWEEN 1 AND 32),"
    "  name TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 64),"
    "  oui TEXT NOT NULL DEFAULT '' CHECK (oui = '' OR length(oui) = 6),"
    "  created_at INTEGER NOT NULL"
    ");"
    "CREATE TABLE devices ("
    "  seq INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  device_id TEXT NOT NULL UNIQUE"
    "    CHECK (length(device_id) BETWEEN 1 AND 64),"
    "  manufacturer_id TEXT NOT NULL REFERENCES manufacturers(id),"
    "  serial TEXT NOT NULL CHECK (length(serial) BETWEEN 1 AND 64),"
    "  model TEXT NOT NULL CHECK (length(model) BETWEEN 1 AND 64),"
    "  hw_version TEXT NOT NULL DEFAULT '' CHECK (length(hw_version) <= 64),"
    "  status TEXT NOT NULL DEFAULT 'active'"
    "    CHECK (status IN ('active', 'suspended', 'revoked')),"
    "  reason INTEGER CHECK (reason IS NULL OR reason BETWEEN 0 AND 10),"
    "  revoked_at INTEGER NOT NULL DEFAULT 0,"
    "  created_at INTEGER NOT NULL,"
    "  updated_at INTEGER NOT NULL,"
    "  version INTEGER NOT NULL DEFAULT 1"
    ");"
    /* One live device per manufacturer serial; a revoked one may be
     * followed by a new enrollment. */
    "CREATE UNIQUE INDEX devices_live_serial ON devices(manufacturer_id, serial)"
    "  WHERE status <> 'revoked';"
    "CREATE INDEX devices_by_mfr ON devices(manufacturer_id, seq);"
    "CREATE INDEX devices_by_status ON devices(status, seq);"
    "CREATE TABLE principals ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  name TEXT NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 64),"
    "  role TEXT NOT NULL"
    "    CHECK (role IN ('admin', 'operator', 'manufacturer', 'signer')),"
    "  manufacturer_id TEXT REFERENCES manufacturers(id),"
    "  status TEXT NOT NULL DEFAULT 'active'"
    "    CHECK (status IN ('active', 'disabled')),"
    "  created_at INTEGER NOT NULL,"
    "  updated_at INTEGER NOT NULL,"
    "  CHECK ((role = 'manufacturer') = (manufacturer_id IS NOT NULL))"
    ");"
    "CREATE TABLE certificates ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  issuer TEXT NOT NULL CHECK (issuer IN ('device', 'infra')),"
    "  serial_hex TEXT NOT NULL CHECK (length(serial_hex) BETWEEN 1 AND 64),"
    "  der BLOB NOT NULL,"
    "  sha256 TEXT NOT NULL UNIQUE CHECK (length(sha256) = 64),"
    "  spki_sha256 TEXT NOT NULL CHECK (length(spki_sha256) = 64),"
    "  key_type TEXT NOT NULL,"
    "  not_before INTEGER NOT NULL,"
    "  not_after INTEGER NOT NULL,"
    "  device_id TEXT UNIQUE REFERENCES devices(device_id),"
    "  principal_id INTEGER REFERENCES principals(id),"
    "  revoked INTEGER NOT NULL DEFAULT 0 CHECK (revoked IN (0, 1)),"
    "  revoked_reason INTEGER,"
    "  revoked_at INTEGER NOT NULL DEFAULT 0,"
    "  created_at INTEGER NOT NULL,"
    "  UNIQUE (issuer, serial_hex),"
    "  CHECK (device_id IS NULL OR principal_id IS NULL)"
    ");"
    "CREATE INDEX certificates_by_principal ON certificates(principal_id);"
    "CREATE TABLE counters ("
    "  name TEXT PRIMARY KEY,"
    "  value INTEGER NOT NULL"
    ");"
    "INSERT INTO counters(name, value) VALUES ('crl_generation', 1);"
    "CREATE TABLE crl_cache ("
    "  issuer TEXT PRIMARY KEY,"
    "  number INTEGER NOT NULL,"
    "  generation INTEGER NOT NULL,"
    "  this_update INTEGER NOT NULL,"
    "  next_update INTEGER NOT NULL,"
    "  der BLOB NOT NULL"
    ");"
    "CREATE TABLE audit ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  at INTEGER NOT NULL,"
    "  actor TEXT NOT NULL,"
    "  action TEXT NOT NULL,"
    "  target TEXT NOT NULL DEFAULT '',"
    "  details TEXT NOT NULL DEFAULT '{}'"
    ");"
    "CREATE INDEX audit_by_target ON audit(target, id);"
    "CREATE INDEX audit_by_actor ON audit(actor, id);"
    "CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit"
    "  BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;"
    "CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit"
    "  BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;";

/* 3: enrollment refuses a public key bound to another live device, a
 * lookup by key hash inside every issuing transaction. */
/* The portal's tables (db/reg_portal.c reads and writes them). */
const char reg_migration_portal_sql[] =
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

static const char m3_spki_index[] =
    "CREATE INDEX certificates_by_spki ON certificates(spki_sha256);";

/* 4: principal_id is NULL on every device certificate; a full index kept a
 * NULL entry per issuance that no query reads (every lookup is
 * principal_id = ?, which the partial index serves). */
static const char m4_principal_index_partial[] =
    "DROP INDEX certificates_by_principal;"
    "CREATE INDEX certificates_by_principal ON certificates(principal_id)"
    "  WHERE principal_id IS NOT NULL;";

/* 5: the CA set (rollover). Every intermediate that ever served: its
 * certificate, key reference (a file in the data folder or a pkcs11: URI)
 * and state; at most one issuing CA per role. certificates.ca_id names the
 * CA that signed each certificate (set for device certificates; rows of an
 * older registry are adopted by the first Device CA at open). */
static const char m5_ca_set[] =
    "CREATE TABLE cas ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  role TEXT NOT NULL CHECK (role IN ('device', 'infra')),"
    "  cert_der BLOB NOT NULL,"
    "  cert_sha256 TEXT NOT NULL UNIQUE CHECK (length(cert_sha256) = 64),"
    "  subject TEXT NOT NULL,"
    "  key_ref TEXT NOT NULL CHECK (length(key_ref) BETWEEN 1 AND 511),"
    "  state TEXT NOT NULL"
    "    CHECK (state IN ('active', 'issuing', 'retired')),"
    "  created_at INTEGER NOT NULL,"
    "  retired_at INTEGER NOT NULL DEFAULT 0"
    ");"
    "CREATE UNIQUE INDEX cas_one_issuing ON cas(role)"
    "  WHERE state = 'issuing';"
    "ALTER TABLE certificates ADD COLUMN ca_id INTEGER REFERENCES cas(id);";

/* 6: one-time secrets for CMP's MAC-protected enrollment (server/
 * ca_cmp_secret.c), stored encrypted, never in clear: PBM needs the
 * secret itself to check a MAC (the salt and iteration count are the
 * client's, per message), so a hash would not do. Used once: used_at and
 * the device it enrolled. */
static const char m6_cmp_secrets[] =
    "CREATE TABLE cmp_secrets ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  ref TEXT NOT NULL UNIQUE CHECK (length(ref) BETWEEN 1 AND 64),"
    "  manufacturer_id TEXT NOT NULL REFERENCES manufacturers(id),"
    "  secret_enc BLOB NOT NULL CHECK (length(secret_enc) BETWEEN 29 AND 256),"
    "  created_by TEXT NOT NULL CHECK (length(created_by) BETWEEN 1 AND 64),"
    "  created_at INTEGER NOT NULL,"
    "  expires_at INTEGER NOT NULL,"
    "  used_at INTEGER NOT NULL DEFAULT 0,"
    "  device_id TEXT REFERENCES devices(device_id)"
    ");"
    "CREATE INDEX cmp_secrets_by_mfr ON cmp_secrets(manufacturer_id, id);";

/* 7: CMP certificate confirmation (server/ca_cmp_confirm.c). A certificate
 * issued without implicit confirmation is stored at once; this row keeps
 * what the certConf of a later HTTP exchange is checked against: the
 * sender (principal name, or the one-time secret's reference), the
 * client's transactionID, the answer's senderNonce (the certConf's
 * recipNonce), the certificate (issuer, serial) and its certHash, and the
 * request itself (replayed into the certConf's fresh OpenSSL context to
 * reopen the transaction); state pending until the certConf accepts or
 * rejects it. The sender is "p:" + principal name or "s:" + reference. */
static const char m7_cmp_confirms[] =
    "CREATE TABLE cmp_confirms ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  sender TEXT NOT NULL CHECK (length(sender) BETWEEN 3 AND 66),"
    "  transaction_id TEXT NOT NULL"
    "    CHECK (length(transaction_id) BETWEEN 2 AND 128),"
    "  nonce TEXT NOT NULL CHECK (length(nonce) BETWEEN 2 AND 128),"
    "  issuer TEXT NOT NULL CHECK (issuer IN ('device', 'infra')),"
    "  serial_hex TEXT NOT NULL CHECK (length(serial_hex) BETWEEN 1 AND 64),"
    "  cert_hash TEXT NOT NULL CHECK (length(cert_hash) BETWEEN 2 AND 128),"
    "  target TEXT NOT NULL CHECK (length(target) BETWEEN 1 AND 64),"
    "  request BLOB NOT NULL CHECK (length(request) BETWEEN 1 AND 65536),"
    "  state TEXT NOT NULL DEFAULT 'pending'"
    "    CHECK (state IN ('pending', 'accepted', 'rejected')),"
    "  created_at INTEGER NOT NULL,"
    "  confirmed_at INTEGER NOT NULL DEFAULT 0,"
    "  UNIQUE (sender, transaction_id)"
    ");";

const reg_migration_t reg_migrations[] = {
	{ 1, "core registry", m1_core },
	{ 2, "portal users and sessions", reg_migration_portal_sql },
	{ 3, "certificates by public key", m3_spki_index },
	{ 4, "certificates by principal: principals only",
	    m4_principal_index_partial },
	{ 5, "the CA set (rollover)", m5_ca_set },
	{ 6, "CMP one-time secrets", m6_cmp_secrets },
	{ 7, "CMP certificate confirmation", m7_cmp_confirms },
};

const size_t reg_migrations_count =
    sizeof(reg_migrations) / sizeof(reg_migrations[0]);
