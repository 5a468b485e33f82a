/* reg.h — the CA's registry: data access for manufacturers, devices,
 * certificates, principals, the CRL cache and the append-only audit log, on
 * SQLite (a file path) or PostgreSQL 15 (a postgresql:// URL), through
 * db.h's one statement interface.
 *
 * One reg_t per thread (SQLite: WAL, foreign keys on, busy timeout;
 * PostgreSQL: one libpq connection). reg_open applies the numbered
 * migrations (reg_migrations[] or reg_pg_migrations[]) the database has not
 * seen yet. Transactions nest: the outermost reg_begin takes the writer
 * lock (SQLite's BEGIN IMMEDIATE; PostgreSQL's registry advisory lock),
 * inner ones are savepoints, so one transaction can span many issuances
 * (group commit). The registry holds no private keys. Nothing here
 * prints. */
#ifndef PROVCA_REG_H
#define PROVCA_REG_H

#include <stddef.h>
#include <stdint.h>

#include "db_migration.h"

typedef struct reg reg_t;

enum reg_error {
	REG_OK = 0,
	REG_ERR_INTERNAL = -1,   /* SQLite or allocation failure */
	REG_ERR_NOT_FOUND = -2,  /* no such row */
	REG_ERR_CONSTRAINT = -3, /* UNIQUE / FOREIGN KEY / CHECK violated */
	REG_ERR_BUSY = -4,       /* database locked past the busy timeout */
	REG_ERR_INVALID = -5,    /* bad argument (length, status name...) */
	REG_ERR_IO = -6,         /* file exists / cannot be created */
	REG_ERR_UNAVAILABLE = -7 /* database server unreachable */
};

/* Field limits (characters, without the terminating NUL). */
#define REG_DEVICE_ID_MAX 64
#define REG_MFR_ID_MAX 32
#define REG_NAME_MAX 64
#define REG_ATTR_MAX 64       /* device serial, model, hardware version */
#define REG_SERIAL_HEX_MAX 64 /* certificate serial, lowercase hex */
#define REG_LIST_MAX 1000     /* largest page a list call returns */

/* Certificate issuers, as stored in certificates.issuer. */
#define REG_ISSUER_DEVICE "device"
#define REG_ISSUER_INFRA "infra"

/* One numbered schema migration (db_migration.h). Others extend
 * reg_migrations[] in reg_migrations.c with the next free version; never
 * edit an applied one. */
typedef db_migration_t reg_migration_t;

extern const reg_migration_t reg_migrations[];
extern const size_t reg_migrations_count;

/* Migration 2's SQL (the portal's tables): CREATE ... IF NOT EXISTS
 * statements, safe to run twice. */
extern const char reg_migration_portal_sql[];

/* ---- connection ---------------------------------------------------- */

/* Open (creating if absent: exclusive create, 0600) the registry at path,
 * set WAL, foreign keys, a busy timeout, and apply pending migrations. An
 * existing file loses any group/other rights. */
int reg_open(reg_t **out, const char *path, char *err, size_t errlen);

/* Open an existing registry only (REG_ERR_NOT_FOUND if the file is absent). */
int reg_open_existing(reg_t **out, const char *path, char *err, size_t errlen);

/* Close; NULL-safe. Rolls back an open transaction. */
void reg_close(reg_t *reg);

/* 1 when the registry runs on PostgreSQL (reg_open was given a
 * postgresql:// URL), 0 on SQLite. */
int reg_is_pg(const reg_t *reg);

/* Highest applied migration version, or a negative error. */
int reg_schema_version(reg_t *reg);

/* The raw SQLite handle (NULL on PostgreSQL), for tests that inspect the
 * file; no module outside db/ uses it. */
struct sqlite3 *reg_sqlite(reg_t *reg);

/* A stamp of everything committed to the registry: on SQLite out[0] is
 * data_version (moves when another connection, thread or process commits),
 * out[1] this connection's total row changes (moves with its own writes,
 * rolled back ones included); on PostgreSQL the current snapshot's xmax and
 * a hash of its text (a commit by any node changes it). Equal stamps mean
 * nothing was written in between. One cheap statement; REG_OK or an
 * error. */
int reg_change_stamp(reg_t *reg, int64_t out[2], char *err, size_t errlen);

/* reg_change_stamp, read in a read transaction that stays open until
 * reg_read_end: the statements run in between read the snapshot the stamp
 * describes and begin no transaction of their own (each costs SQLite's
 * WAL read-lock round, two fcntl locks when no other connection of the
 * process holds one). Only for readers: a write in between would fail
 * with SQLITE_BUSY_SNAPSHOT once another connection has committed. */
int reg_read_begin(reg_t *reg, int64_t out[2], char *err, size_t errlen);
/* End the read transaction of reg_read_begin; no-op when none is open. */
void reg_read_end(reg_t *reg);

/* Nested transactions: begin / commit / rollback. reg_rollback is safe to
 * call after a failed step and undoes only the innermost level. */
int reg_begin(reg_t *reg, char *err, size_t errlen);
/* 1 while a reg_begin is open on this connection, else 0. */
int reg_in_transaction(const reg_t *reg);
/* 1 while the database has a write or explicit transaction open on this
 * connection (a reg_begin never ended, whatever its depth), else 0. A
 * pooled connection is checked with this before it goes back. */
int reg_transaction_open(reg_t *reg);
int reg_commit(reg_t *reg, char *err, size_t errlen);
void reg_rollback(reg_t *reg);

/* Online copy (SQLite backup API) to out_path, which must not exist; the
 * copy is then checked with PRAGMA integrity_check. REG_ERR_INVALID on
 * PostgreSQL (pg_dump's job). */
int reg_backup(reg_t *reg, const char *out_path, char *err, size_t errlen);

/* Current Unix time in seconds (one clock for every timestamp). */
int64_t reg_now(void);

/* ---- manufacturers -------------------------------------------------- */

typedef struct {
	char id[REG_MFR_ID_MAX + 1];
	char name[REG_NAME_MAX + 1];
	char oui[7]; /* IEEE OUI as 6 upper-case hex, or "" */
	int64_t created_at;
} reg_manufacturer_t;

int reg_manufacturer_insert(reg_t *reg, const reg_manufacturer_t *m, char *err,
    size_t errlen);
int reg_manufacturer_get(reg_t *reg, reg_manufacturer_t *out, const char *id,
    char *err, size_t errlen);
/* Every manufacturer, ordered by id. Free *out with free(). */
int reg_manufacturer_list(reg_t *reg, reg_manufacturer_t **out, size_t *n,
    char *err, size_t errlen);

/* ---- certificates --------------------------------------------------- */

/* Store an issued certificate; (issuer, serial_hex) and sha256 are unique.
 * device_id or principal may be NULL. *id_out (optional) gets the row id. */
typedef struct {
	const char *issuer;     /* REG_ISSUER_* */
	const char *serial_hex; /* lowercase hex, no leading zero pairs */
	const uint8_t *der;
	size_t der_len;
	const char *sha256_hex;      /* SHA-256 of der, lowercase hex */
	const char *spki_sha256_hex; /* SHA-256 of SubjectPublicKeyInfo DER */
	const char *key_type;        /* "EC-P256", "RSA-2048", ... */
	int64_t not_before, not_after;
	const char *device_id; /* owning device, or NULL */
	const char *principal; /* owning principal name, or NULL */
	int64_t ca_id;         /* signing CA (cas.id), 0 = not recorded */
} reg_cert_new_t;

int reg_cert_insert(reg_t *reg, int64_t *id_out, const reg_cert_new_t *c,
    char *err, size_t errlen);

/* DeviceID of the device certificate (issuer, serial_hex) into out;
 * REG_ERR_NOT_FOUND when no device holds such a certificate. */
int reg_cert_device_id(reg_t *reg, char *out, size_t outlen, const char *issuer,
    const char *serial_hex);

/* ---- devices -------------------------------------------------------- */

/* Status names stored in devices.status. */
#define REG_STATUS_ACTIVE "active"
#define REG_STATUS_SUSPENDED "suspended"
#define REG_STATUS_REVOKED "revoked"

/* One device with everything its security context needs. cert_der is owned
 * (free with reg_device_clear). reason is the RFC 5280 CRLReason code while
 * revoked or suspended (6 = certificateHold), -1 otherwise. */
typedef struct {
	int64_t seq; /* insertion order; list cursor */
	char device_id[REG_DEVICE_ID_MAX + 1];
	char manufacturer_id[REG_MFR_ID_MAX + 1];
	char manufacturer_name[REG_NAME_MAX + 1];
	char serial[REG_ATTR_MAX + 1];
	char model[REG_ATTR_MAX + 1];
	char hw_version[REG_ATTR_MAX + 1];
	char status[12];
	int reason;
	int64_t revoked_at; /* 0 when active */
	int64_t created_at, updated_at;
	int64_t version; /* bumped on every change: ETag */
	char cert_serial_hex[REG_SERIAL_HEX_MAX + 1];
	char cert_sha256[65];
	char spki_sha256[65];
	char key_type[16];
	int64_t not_before, not_after;
	uint8_t *cert_der;
	size_t cert_der_len;
	int64_t ca_id; /* the CA that signed cert_der (cas.id) */
} reg_device_t;

/* Free cert_der; NULL-safe, leaves the struct zeroed. */
void reg_device_clear(reg_device_t *d);

typedef struct {
	const char *device_id;
	const char *manufacturer_id;
	const char *serial;
	const char *model;
	const char *hw_version; /* "" when unknown */
} reg_device_new_t;

/* Insert an active device row (the certificate follows with
 * reg_cert_insert, device_id set, in the same transaction).
 * REG_ERR_CONSTRAINT: DeviceID taken, or a live (non-revoked) device with
 * this manufacturer and serial exists, or unknown manufacturer. */
int reg_device_insert(reg_t *reg, const reg_device_new_t *d, char *err,
    size_t errlen);

/* Device by DeviceID, with its certificate. REG_ERR_NOT_FOUND if none. */
int reg_device_get(reg_t *reg, reg_device_t *out, const char *device_id,
    char *err, size_t errlen);

/* The live (active or suspended) device of (manufacturer, serial), if any. */
int reg_device_find_live(reg_t *reg, reg_device_t *out,
    const char *manufacturer_id, const char *serial, char *err, size_t errlen);

/* The live (active or suspended) device whose certificate has the public
 * key with this SubjectPublicKeyInfo SHA-256 (hex): its DeviceID and
 * manufacturer in out_device_id / out_manufacturer_id (either may be NULL).
 * REG_ERR_NOT_FOUND if no live device holds the key. Inside the writing
 * transaction the answer holds until its commit. */
int reg_device_find_live_key(reg_t *reg,
    char out_device_id[REG_DEVICE_ID_MAX + 1],
    char out_manufacturer_id[REG_MFR_ID_MAX + 1], const char *spki_sha256_hex,
    char *err, size_t errlen);

/* Set status, reason and time, bump version/updated_at and the CRL
 * generation, in one statement set (call inside a transaction). reason -1
 * and at 0 for active. */
int reg_device_set_status(reg_t *reg, const char *device_id, const char *status,
    int reason, int64_t at, char *err, size_t errlen);

typedef struct {
	const char *manufacturer_id; /* NULL = any */
	const char *status;          /* NULL = any */
	const char *serial;          /* NULL = any */
	const char *q; /* NULL = any; else serial or DeviceID equal to q */
	int64_t after; /* cursor: seq of the last row seen, 0 = start */
	size_t limit;  /* 1..REG_LIST_MAX, 0 = 100 */
} reg_device_filter_t;

/* A page of devices in seq order. *next is the cursor for the next page or
 * 0 when this was the last. Free with reg_device_list_free. */
int reg_device_list(reg_t *reg, reg_device_t **out, size_t *n, int64_t *next,
    const reg_device_filter_t *f, char *err, size_t errlen);
void reg_device_list_free(reg_device_t *list, size_t n);

/* Number of devices (all statuses), or a negative error. */
int64_t reg_device_count(reg_t *reg);

/* ---- revocation list ------------------------------------------------ */

/* Bumped by every status change; the CRL cache is stale when it differs. */
int reg_crl_generation(reg_t *reg, int64_t *out);

/* Call fn for each revoked or suspended certificate of issuer; fn returning
 * non-zero stops the walk and is returned. */
typedef int (*reg_crl_entry_fn)(void *arg, const char *serial_hex, int reason,
    int64_t revoked_at);
int reg_crl_entries(reg_t *reg, const char *issuer, reg_crl_entry_fn fn,
    void *arg, char *err, size_t errlen);

/* The cached CRL of issuer. REG_ERR_NOT_FOUND if none yet. *der freed with
 * free(). */
typedef struct {
	int64_t number, generation, this_update, next_update;
	uint8_t *der;
	size_t der_len;
} reg_crl_t;
int reg_crl_cache_get(reg_t *reg, reg_crl_t *out, const char *issuer, char *err,
    size_t errlen);
int reg_crl_cache_put(reg_t *reg, const char *issuer, const reg_crl_t *crl,
    char *err, size_t errlen);
void reg_crl_clear(reg_crl_t *crl);

/* ---- principals ----------------------------------------------------- */

#define REG_ROLE_ADMIN "admin"
#define REG_ROLE_OPERATOR "operator"
#define REG_ROLE_MANUFACTURER "manufacturer"
#define REG_ROLE_SIGNER "signer"

typedef struct {
	int64_t id;
	char name[REG_NAME_MAX + 1];
	char role[16];
	char manufacturer_id[REG_MFR_ID_MAX + 1]; /* "" unless manufacturer */
	char status[12];                          /* "active" | "disabled" */
	char cert_sha256[65];                     /* current certificate */
	char cert_serial_hex[REG_SERIAL_HEX_MAX + 1];
	int cert_revoked; /* 1 if that cert is revoked */
	int64_t not_after;
	int64_t created_at, updated_at;
} reg_principal_t;

/* Insert an active principal (certificate stored separately with
 * reg_cert_insert, principal = name). REG_ERR_CONSTRAINT if name taken. */
int reg_principal_insert(reg_t *reg, const char *name, const char *role,
    const char *manufacturer_id, char *err, size_t errlen);
int reg_principal_get(reg_t *reg, reg_principal_t *out, const char *name,
    char *err, size_t errlen);
/* Principal owning the certificate whose DER has this SHA-256 (hex). */
int reg_principal_find_by_cert(reg_t *reg, reg_principal_t *out,
    const char *cert_sha256_hex, char *err, size_t errlen);
int reg_principal_set_status(reg_t *reg, const char *name, const char *status,
    char *err, size_t errlen);
/* Every principal by name. Free *out with free(). */
int reg_principal_list(reg_t *reg, reg_principal_t **out, size_t *n, char *err,
    size_t errlen);

/* ---- audit log ------------------------------------------------------ */

typedef struct {
	int64_t id;
	int64_t at;
	char actor[REG_NAME_MAX + 16];
	char action[32];
	char target[REG_DEVICE_ID_MAX + 1];
	char *details; /* JSON object text, owned */
} reg_audit_t;

/* Append one entry (the table refuses UPDATE and DELETE). details_json may
 * be NULL ("{}"). */
int reg_audit_append(reg_t *reg, const char *actor, const char *action,
    const char *target, const char *details_json, char *err, size_t errlen);

typedef struct {
	const char *actor;    /* NULL = any */
	const char *action;   /* NULL = any */
	const char *target;   /* NULL = any */
	int64_t since, until; /* Unix seconds, 0 = unbounded */
	int64_t after;        /* cursor: id of the last row seen, 0 = start */
	size_t limit;         /* 1..REG_LIST_MAX, 0 = 100 */
} reg_audit_filter_t;

/* A page of entries in id order; *next as for reg_device_list. */
int reg_audit_list(reg_t *reg, reg_audit_t **out, size_t *n, int64_t *next,
    const reg_audit_filter_t *f, char *err, size_t errlen);
void reg_audit_list_free(reg_audit_t *list, size_t n);

#endif
