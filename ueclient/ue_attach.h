/* ue_attach.h — switching the device on: network selection, the
 * provisioning registration (answered by a Registration reject #9 that
 * carries the sealed, signed subscription), then the normal registration
 * with the USIM side of 5G-AKA and NAS security mode control. Every step is reported through a callback
 * so the program can tell the story (or emit JSON); the library prints
 * nothing. */
#ifndef PROVCA_UE_ATTACH_H
#define PROVCA_UE_ATTACH_H

#include <stddef.h>
#include <stdint.h>

#include "ue.h"
#include "ue_transport.h"

typedef enum {
	UE_EV_STEP = 0, /* a new phase starts */
	UE_EV_SEND,     /* a message went out */
	UE_EV_RECV,     /* a message came in */
	UE_EV_ACCEPT,   /* a check passed; what came in is taken */
	UE_EV_REFUSE,   /* what came in is refused or ignored, and why */
	UE_EV_INFO,
} ue_ev_kind;

typedef struct {
	ue_ev_kind kind;
	const char *phase; /* "select", "provision", "register", "done" */
	const char *peer;  /* core address or NULL */
	const char *msg;   /* NAS message name or NULL */
	int cause;         /* 5GMM cause, or -1 */
	const char *text;  /* one sentence for a person */
} ue_event_t;

typedef void (*ue_event_fn)(void *ctx, const ue_event_t *ev);

/*
 * What many simulated devices of one process share (ueclient swarm): the
 * Root parsed once (reused while a device's root.pem has the same bytes)
 * and a ue_verify_cache of signer chains that verified in full (see
 * ue_verify_cache.h for exactly what a hit still checks). Thread-safe. A real device
 * attaches once per run and passes NULL: everything is loaded and verified
 * in full.
 */
typedef struct ue_trust_cache ue_trust_cache;

/* A new, empty cache in *out; UE_ERR_NOMEM. */
int ue_trust_cache_new(ue_trust_cache **out);

/* NULL-safe. */
void ue_trust_cache_free(ue_trust_cache *c);

/* Containers verified from the cache and in full (either may be NULL). */
void ue_trust_cache_stats(ue_trust_cache *c, uint64_t *hits, uint64_t *full);

typedef struct {
	const char *dir;      /* state folder (enrolled) */
	ue_policy_t policy;   /* cores to try, timers */
	unsigned rounds;      /* passes over the core list; 0 = 2 */
	ue_event_fn on_event; /* may be NULL */
	void *event_ctx;
	ue_tap_fn tap; /* every datagram, for the trace; may be NULL */
	void *tap_ctx;
	int64_t now;            /* Unix time for certificate checks; 0 = now */
	ue_trust_cache *trust;  /* shared by a swarm; NULL = none */
	int volatile_creds;     /* simulated device: credentials and SQN_MS
	                          live in memory for this attach only (stored
	                          ones are not read, nothing is written) */
	const ue_device_t *dev; /* the device as just read from dir (a
	                          swarm's enroll step); NULL = read it */
	int reprovision;        /* provision even with stored credentials:
	                          the new ones are kept in
	                          credentials-pending.json until 5G-AKA with
	                          them succeeds, the stored ones until then */
	int provision_only;     /* stop once the new credentials are stored */
} ue_attach_opts_t;

typedef struct {
	int provisioned;  /* 1: credentials received in this run */
	int registered;   /* 1: Registration accept after 5G-AKA */
	int cause;        /* last 5GMM cause that ended an attempt, -1 none */
	unsigned ignored; /* answers ignored as not genuine */
	unsigned resyncs; /* synch failures sent */
	unsigned retransmissions; /* datagrams sent again (all steps) */
	unsigned prov_ms; /* provisioning latency (request → stored) */
	unsigned reg_ms;  /* registration latency (request → accept) */
	char core[UE_ADDR_MAX + 1]; /* core that served the last step */
	char supi[PROV_SUPI_MAX + 1];
	char kamf_fp[17];      /* hex, "" until registered */
	int pending;           /* 1: the new credentials are stored as pending
	                     (not yet proven by 5G-AKA) */
	const char *nia, *nea; /* NAS algorithms in use (static
	                                names), NULL until registered */
} ue_attach_result_t;

/* Run the whole attach. Returns 0 when registered; UE_ERR_REJECTED with
 * out->cause when the network refused; UE_ERR_TIMEOUT when no core gave a
 * genuine answer in time; other UE_ERR_* for local failures. err says why. */
int ue_attach(ue_attach_result_t *out, const ue_attach_opts_t *opts, char *err,
    size_t errlen);

/* A short English name for a 5GMM cause ("Illegal UE", ...). */
const char *ue_cause_name(int cause);

/* What the cause means for this device and what it can do, one sentence
 * (docs/protocol.md, "5GMM causes corehook sends"). */
const char *ue_cause_reason(int cause);

#endif
