/* subs.h — the operator's subscriber store (corehook's own database: a
 * SQLite file, or PostgreSQL for several corehook processes serving one
 * operator): subscriptions allocated to provisioned devices, their keys
 * and SQN.
 *
 * One subs_db per thread (or guarded by the caller); each handle owns one
 * connection (SQLite: WAL mode with a busy timeout), so several handles on
 * the same store may be used from different threads, and on PostgreSQL
 * from different processes, at once. */
#ifndef PROVCA_SUBS_H
#define PROVCA_SUBS_H

#include <stddef.h>
#include <stdint.h>

typedef struct subs_db subs_db;

/* Error codes (0 is success). */
enum {
	SUBS_OK = 0,
	SUBS_ERR = -1,       /* SQLite or I/O failure; see err */
	SUBS_NOTFOUND = -2,  /* no (active) subscription matches */
	SUBS_EXHAUSTED = -3, /* every MSIN of the configured range is in use */
	SUBS_INVALID = -4,   /* an argument is malformed (PLMN, range, ...) */
	SUBS_REPLAY = -5     /* request counter not above the last accepted */
};

/* Subscription states: pending until the device completes 5G-AKA with it,
 * then active (the device's previous active row is retired then); retired
 * rows have K and OPc zeroed and are deleted after the retention. */
enum { SUBS_STATE_ACTIVE = 0, SUBS_STATE_PENDING = 1, SUBS_STATE_RETIRED = 2 };

/* Retired rows are kept this long when subs_alloc_t says 0 (30 days). */
#define SUBS_RETIRED_KEEP_DEFAULT (30 * 86400)

#define SUBS_SUPI_MAX 15 /* IMSI digits */
#define SUBS_DEVICE_ID_MAX 64
#define SUBS_PROFILE_MAX 1024

/* One subscription row. ki and opc are secrets: wipe with subs_record_wipe. */
typedef struct {
	int64_t id;
	char supi[SUBS_SUPI_MAX + 1]; /* IMSI digits, e.g. 001010000000001 */
	char device_id[SUBS_DEVICE_ID_MAX + 1];
	uint8_t ki[16];
	uint8_t opc[16];
	uint8_t amf[2];
	uint64_t sqn;                       /* last SQN used (48 bits) */
	char profile[SUBS_PROFILE_MAX + 1]; /* JSON text: plmn, snssai, dnn */
	int state;                          /* SUBS_STATE_* */
	int64_t created_at;                 /* unix seconds */
	int64_t retired_at;                 /* 0 until retired */
} subs_record_t;

/* What a new subscription is made of; the store picks the SUPI. */
typedef struct {
	const char *device_id;
	const char *mcc;     /* 3 digits */
	const char *mnc;     /* 2 or 3 digits */
	uint64_t msin_first; /* inclusive range of MSINs to hand out */
	uint64_t msin_last;
	const uint8_t *ki;      /* 16 bytes */
	const uint8_t *opc;     /* 16 bytes */
	const uint8_t *amf;     /* 2 bytes */
	uint64_t sqn;           /* initial SQN */
	const char *profile;    /* JSON text, at most SUBS_PROFILE_MAX */
	uint64_t counter;       /* the signed request's freshness
	                               * counter, 1..2^63-1 */
	int64_t retired_keep_s; /* retention of retired rows; 0 =
	                               * SUBS_RETIRED_KEEP_DEFAULT */
} subs_alloc_t;

/* Open (creating if needed) the store at path — a SQLite file, or a
 * postgresql:// URL naming a database of its own (the store's
 * schema_migrations must not be the registry's) — and apply pending
 * migrations. */
int subs_open(subs_db **out, const char *path, char *err, size_t errlen);

/* 1 if path names a PostgreSQL store (a postgresql:// or postgres://
 * URL) rather than a SQLite file. */
int subs_is_pg_url(const char *path);

/* Close the store; NULL-safe. */
void subs_close(subs_db *db);

/* Schema version the store is at (its last applied migration). */
int subs_schema_version(subs_db *db, int *out);

/* Allocate a subscription for a->device_id in one transaction. First the
 * freshness counter: SUBS_REPLAY, and nothing changed, unless a->counter is
 * above the highest accepted for the device (stored in the same
 * transaction). Then the device's pending row, if any, is retired (keys
 * wiped) and a new row with a never-used MSIN (its own SUPI) and the new
 * Ki/SQN is inserted as pending; an active row stays active until
 * subs_confirm. Retired rows older than a->retired_keep_s are deleted (at
 * most once a minute per connection).
 * out (may be NULL) receives the new row. SUBS_EXHAUSTED when no MSIN is
 * left. */
int subs_allocate(subs_db *db, subs_record_t *out, const subs_alloc_t *a,
    char *err, size_t errlen);

/* The live (active or pending) subscription with this SUPI. */
int subs_find_supi(subs_db *db, subs_record_t *out, const char *supi, char *err,
    size_t errlen);

/* The active subscription of this DeviceID. */
int subs_find_device(subs_db *db, subs_record_t *out, const char *device_id,
    char *err, size_t errlen);

/* Atomically move the active subscription's SQN to the next value for a new
 * vector (TS 33.102 Annex C.3: SEQ + 1, IND cycling through 2^ind_bits
 * values) and return it in out. The new SQN is durable on return. */
int subs_sqn_next(subs_db *db, uint64_t *out, const char *supi,
    unsigned ind_bits, char *err, size_t errlen);

/* Set the active subscription's SQN (after a resynchronisation). */
int subs_sqn_set(subs_db *db, const char *supi, uint64_t sqn, char *err,
    size_t errlen);

/* Call fn for each row (live ones, and retired ones too when all != 0),
 * ordered by id.
 * fn returns 0 to continue, anything else stops and is returned. */
int subs_foreach(subs_db *db, int all,
    int (*fn)(const subs_record_t *rec, void *arg), void *arg, char *err,
    size_t errlen);

/* Number of active subscriptions. */
int subs_count_active(subs_db *db, int64_t *out, char *err, size_t errlen);

/* The connection's PRAGMA synchronous (2 = FULL, what subs_open sets). */
int subs_synchronous(subs_db *db, int *out);

/*
 * Group commit for the writers of one process: with synchronous=FULL each
 * commit waits for the disk, so concurrent allocations and SQN steps share
 * one transaction (a savepoint each: one failing undoes only itself) and
 * one fsync. The first caller that finds no write in progress writes the
 * whole queue on its own connection db; the others wait. Either call
 * returns only once its own operation is committed (durable) or has
 * failed, with the same results and errors as subs_allocate /
 * subs_sqn_next. One subs_group per store file, shared by every thread.
 */
typedef struct subs_group subs_group;

int subs_group_new(subs_group **out);
void subs_group_free(subs_group *g); /* NULL-safe; no caller may wait */

int subs_group_allocate(subs_group *g, subs_db *db, subs_record_t *out,
    const subs_alloc_t *a, char *err, size_t errlen);

int subs_group_sqn_next(subs_group *g, subs_db *db, uint64_t *out,
    const char *supi, unsigned ind_bits, char *err, size_t errlen);

/* The same step, and the subscription it stepped (Ki, OPc, AMF, the new
 * SQN) read in the same transaction, so a vector never mixes the keys of
 * one row with the SQN of another (a re-provisioning in between). rec is
 * wiped on failure. */
int subs_group_sqn_next_read(subs_group *g, subs_db *db, uint64_t *out,
    subs_record_t *rec, const char *supi, unsigned ind_bits, char *err,
    size_t errlen);

typedef struct {
	uint64_t groups; /* transactions written so far */
	uint64_t jobs;   /* operations they carried */
	size_t queued;   /* operations waiting for the next one */
	int writing;     /* 1 while a group is being written */
} subs_group_stats_t;

void subs_group_stats(subs_group *g, subs_group_stats_t *out);

/* The device completed 5G-AKA with supi: if supi's row is pending it
 * becomes active and the device's active row is retired (keys wiped), in
 * one transaction; *promoted (may be NULL) = 1 then. An active supi is left
 * as it is (SUBS_OK, *promoted = 0); SUBS_NOTFOUND for no live row. */
int subs_confirm(subs_db *db, const char *supi, int *promoted, char *err,
    size_t errlen);

/* subs_confirm through the group commit. */
int subs_group_confirm(subs_group *g, subs_db *db, const char *supi,
    int *promoted, char *err, size_t errlen);

/* The highest request counter accepted for device_id (SUBS_NOTFOUND for
 * none yet). */
int subs_counter_get(subs_db *db, uint64_t *out, const char *device_id,
    char *err, size_t errlen);

/* "active", "pending", "retired" (static). */
const char *subs_state_name(int state);

/* Wipe the secrets of a record. */
void subs_record_wipe(subs_record_t *rec);

/* SQN arithmetic of TS 33.102 Annex C.3.2 (exposed for tests): the SQN
 * following cur, SEQ incremented and IND advanced modulo 2^ind_bits. */
uint64_t subs_sqn_successor(uint64_t cur, unsigned ind_bits);

#endif
