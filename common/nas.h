/* nas.h — NAS-5GS (TS 24.501) codec for the plain 5GMM messages ProvCA uses:
 * Registration request/accept/reject/complete, Authentication
 * request/response/failure/reject and Security mode
 * command/complete/reject. Byte layouts: docs/protocol.md "codec".
 *
 * Messages are plain (security header type 0) with extended protocol
 * discriminator 0x7E; common/nas_sec.h wraps them in a security header. nas_msg_t is plain data: the decoder copies every
 * value out of the input (payload containers included, bounded by
 * NAS_PAYLOAD_MAX), so a decoded message never points into the buffer it
 * came from and the buffer may be freed right after nas_decode().
 *
 * Decoder rules (TS 24.501 §7, TS 24.007 §11.2.4):
 *  - input longer than NAS_MAX_MSG_LEN is refused (NAS_ERR_TOO_LONG);
 *  - every length is checked against the buffer (NAS_ERR_TRUNCATED);
 *  - unknown optional IEs are skipped: IEI with bit 8 set = one octet
 *    (type 1 TV half-octet or type 2 T), IEI 0x7X = TLV-E (2-octet length),
 *    any other IEI = TLV (1-octet length);
 *  - optional IEs may come in any order; a repeated IE is ignored after its
 *    first occurrence (TS 24.501 §7.6.3);
 *  - a known IE with a wrong length gives NAS_ERR_BAD_LENGTH, a missing
 *    mandatory (or required-for-ProvCA) IE NAS_ERR_MISSING_IE.
 * ProvCA runs 5G-AKA only, so RAND and AUTN are required in an
 * Authentication request and RES* in an Authentication response. In an
 * Authentication failure AUTS is required with cause #21 (synch failure) and
 * ignored with any other cause; nas_encode() refuses AUTS without #21.
 */
#ifndef PROVCA_NAS_H
#define PROVCA_NAS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NAS_EPD_5GMM 0x7E
#define NAS_MAX_MSG_LEN 8192 /* largest message encoded or decoded */
#define NAS_PAYLOAD_MAX 8000 /* largest payload container contents */
#define NAS_ABBA_MAX 32      /* largest ABBA contents (min 2) */
#define NAS_RAND_LEN 16
#define NAS_AUTN_LEN 16
#define NAS_RES_STAR_LEN 16
#define NAS_AUTS_LEN 14
#define NAS_MSIN_MAX 10      /* digits */
#define NAS_SUPI_MAX 21      /* "imsi-" + 15 digits + NUL */
#define NAS_SUCI_OUT_MAX 64  /* ECIES scheme output (A: 45, B: 46) */
#define NAS_UE_SEC_CAP_MAX 8 /* UE security capability contents */

/* Message types (TS 24.501 table 9.7.1). */
enum {
	NAS_MSG_REGISTRATION_REQUEST = 0x41,
	NAS_MSG_REGISTRATION_ACCEPT = 0x42,
	NAS_MSG_REGISTRATION_COMPLETE = 0x43,
	NAS_MSG_REGISTRATION_REJECT = 0x44,
	NAS_MSG_AUTH_REQUEST = 0x56,
	NAS_MSG_AUTH_RESPONSE = 0x57,
	NAS_MSG_AUTH_REJECT = 0x58,
	NAS_MSG_AUTH_FAILURE = 0x59,
	NAS_MSG_SECURITY_MODE_COMMAND = 0x5D,
	NAS_MSG_SECURITY_MODE_COMPLETE = 0x5E,
	NAS_MSG_SECURITY_MODE_REJECT = 0x5F,
};

/* Errors: 0 is success, every failure a distinct negative value. */
enum {
	NAS_OK = 0,
	NAS_ERR_INVALID_ARG = -1, /* NULL pointer or impossible argument */
	NAS_ERR_TRUNCATED = -2,   /* a header, IE or length runs past the end */
	NAS_ERR_BAD_EPD = -3,     /* not 0x7E (5GMM) */
	NAS_ERR_SEC_HDR = -4,     /* security header type / spare not 0 */
	NAS_ERR_UNKNOWN_TYPE = -5, /* message type not one of the above */
	NAS_ERR_BAD_LENGTH = -6,   /* a known IE with a length it cannot have */
	NAS_ERR_MISSING_IE = -7,   /* mandatory or conditional IE absent */
	NAS_ERR_BAD_VALUE = -8, /* a field out of range, bad BCD digit, ... */
	NAS_ERR_TOO_LONG = -9,  /* message or payload above the maximum */
	NAS_ERR_SPACE = -10,    /* output buffer too small */
	NAS_ERR_UNSUPPORTED = -11, /* valid 24.501 but not handled (e.g. a
					 * SUCI protection scheme other than null,
					 * an identity type other than none/SUCI/
					 * 5G-GUTI) */
};

/* 5GS registration type values (TS 24.501 9.11.3.7, 3 bits). */
enum {
	NAS_REG_INITIAL = 1,
	NAS_REG_MOBILITY = 2,
	NAS_REG_PERIODIC = 3,
	NAS_REG_EMERGENCY = 4,
	NAS_REG_SNPN_ONBOARDING = 5, /* ProvCA's provisioning registration */
};

/* ngKSI value meaning "no key is available" (TS 24.501 9.11.3.32). */
#define NAS_NGKSI_NO_KEY 7

/* Payload container type ProvCA uses for provisioning data (spare in
 * TS 24.501 Rel-17 table 9.11.3.40.1). */
#define NAS_PAYLOAD_TYPE_PROVCA 0x0E

/* 5GS registration result values (TS 24.501 9.11.3.6, bits 1-3). */
#define NAS_REG_RESULT_3GPP 0x01
#define NAS_REG_RESULT_SMS_ALLOWED 0x08 /* bit 4 */

/* 5GMM causes ProvCA sends or reads (TS 24.501 9.11.3.2). */
enum {
	NAS_CAUSE_ILLEGAL_UE = 3,
	NAS_CAUSE_PEI_NOT_ACCEPTED = 5,
	NAS_CAUSE_ILLEGAL_ME = 6,
	NAS_CAUSE_5GS_SERVICES_NOT_ALLOWED = 7,
	NAS_CAUSE_UE_IDENTITY_NOT_DERIVED = 9,
	NAS_CAUSE_PLMN_NOT_ALLOWED = 11,
	NAS_CAUSE_MAC_FAILURE = 20,
	NAS_CAUSE_SYNCH_FAILURE = 21,
	NAS_CAUSE_CONGESTION = 22,
	NAS_CAUSE_UE_SEC_CAP_MISMATCH = 23,
	NAS_CAUSE_SEC_MODE_REJECTED = 24,
	NAS_CAUSE_NON_5G_AUTH_UNACCEPTABLE = 26,
	NAS_CAUSE_INVALID_MANDATORY_INFO = 96,
};

/* Key set identifier: TSC (0 native, 1 mapped) and value (0..7). */
typedef struct {
	uint8_t tsc;
	uint8_t ksi;
} nas_ngksi_t;

/* SUCI with SUPI format IMSI. Digit strings are NUL-terminated ASCII.
 * The null scheme (0) carries the MSIN; Profiles A (1) and B (2) carry
 * the ECIES scheme output as opaque octets (common/suci.h opens them). */
typedef struct {
	char mcc[4];                 /* 3 digits */
	char mnc[4];                 /* 2 or 3 digits */
	char routing[5];             /* routing indicator, 1..4 digits */
	uint8_t scheme;              /* protection scheme id, 0 = null */
	uint8_t hnpki;               /* home network public key id */
	char msin[NAS_MSIN_MAX + 1]; /* scheme 0: 1..10 digits */
	size_t out_len;              /* schemes 1, 2: 1..NAS_SUCI_OUT_MAX */
	uint8_t out[NAS_SUCI_OUT_MAX];
} nas_suci_t;

/* 5G-GUTI (TS 23.003 §2.10). */
typedef struct {
	char mcc[4];
	char mnc[4];
	uint8_t amf_region;
	uint16_t amf_set;    /* 10 bits */
	uint8_t amf_pointer; /* 6 bits */
	uint32_t tmsi;       /* 5G-TMSI */
} nas_guti_t;

enum {
	NAS_ID_NONE = 0, /* "no identity" */
	NAS_ID_SUCI = 1,
	NAS_ID_GUTI = 2,
};

/* 5GS mobile identity: kind selects which member is valid. */
typedef struct {
	int kind;
	union {
		nas_suci_t suci;
		nas_guti_t guti;
	};
} nas_mobile_id_t;

typedef struct {
	uint8_t reg_type;  /* NAS_REG_*, 3 bits, kept as received */
	uint8_t follow_on; /* FOR: 0 or 1 */
	nas_ngksi_t ngksi;
	nas_mobile_id_t id;
	/* UE security capability (IEI 0x2E): octet 1 5G-EA0..7 (bit 8 =
	 * EA0), octet 2 5G-IA0..7 (bit 8 = IA0), optional EPS octets. */
	bool has_ue_sec_cap;
	size_t ue_sec_cap_len; /* 2..NAS_UE_SEC_CAP_MAX */
	uint8_t ue_sec_cap[NAS_UE_SEC_CAP_MAX];
	/* Payload container type (IEI 0x8-) + Payload container (0x7B);
	 * they travel together, one without the other is NAS_ERR_MISSING_IE. */
	bool has_payload;
	uint8_t payload_type; /* 4 bits, NAS_PAYLOAD_TYPE_PROVCA */
	size_t payload_len;   /* 1..NAS_PAYLOAD_MAX */
	uint8_t payload[NAS_PAYLOAD_MAX];
} nas_reg_request_t;

typedef struct {
	uint8_t result; /* whole 5GS registration result octet */
	bool has_guti;  /* 5G-GUTI (IEI 0x77) */
	nas_guti_t guti;
} nas_reg_accept_t;

typedef struct {
	uint8_t cause;      /* 5GMM cause */
	bool has_t3346;     /* T3346 value (IEI 0x5F, GPRS timer 2) */
	uint8_t t3346;      /* the timer octet; see nas_gprs_timer_*() */
	bool has_payload;   /* Payload container (IEI 0x7B) */
	size_t payload_len; /* 1..NAS_PAYLOAD_MAX */
	uint8_t payload[NAS_PAYLOAD_MAX];
} nas_reg_reject_t;

typedef struct {
	nas_ngksi_t ngksi;
	size_t abba_len; /* 2..NAS_ABBA_MAX */
	uint8_t abba[NAS_ABBA_MAX];
	uint8_t rand[NAS_RAND_LEN]; /* IEI 0x21, required */
	uint8_t autn[NAS_AUTN_LEN]; /* IEI 0x20, required */
} nas_auth_request_t;

typedef struct {
	uint8_t res_star[NAS_RES_STAR_LEN]; /* IEI 0x2D, required */
} nas_auth_response_t;

typedef struct {
	uint8_t cause; /* 5GMM cause (#20, #21, #26) */
	bool has_auts; /* IEI 0x30; present iff cause is #21 */
	uint8_t auts[NAS_AUTS_LEN];
} nas_auth_failure_t;

/* Security mode command (TS 24.501 8.2.25). */
typedef struct {
	uint8_t enc_alg; /* type of ciphering algorithm, 4 bits */
	uint8_t int_alg; /* type of integrity algorithm, 4 bits */
	nas_ngksi_t ngksi;
	size_t caps_len; /* replayed UE security capabilities */
	uint8_t caps[NAS_UE_SEC_CAP_MAX];
	bool has_abba;   /* ABBA (IEI 0x38) */
	size_t abba_len; /* 2..NAS_ABBA_MAX */
	uint8_t abba[NAS_ABBA_MAX];
} nas_smc_t;

typedef struct {
	uint8_t cause; /* 5GMM cause (#23, #24) */
} nas_smc_reject_t;

/* One NAS message. type is a NAS_MSG_* value and selects the union member
 * (Authentication reject, Security mode complete and Registration complete
 * have no fields). Zero the struct before filling it
 * for nas_encode(): absent optional IEs are has_* == false. */
typedef struct {
	int type;
	union {
		nas_reg_request_t reg_req;
		nas_reg_accept_t reg_acc;
		nas_reg_reject_t reg_rej;
		nas_auth_request_t auth_req;
		nas_auth_response_t auth_resp;
		nas_auth_failure_t auth_fail;
		nas_smc_t smc;
		nas_smc_reject_t smc_rej;
	};
} nas_msg_t;

/* Encode msg into out (outcap bytes); *outlen gets the length written.
 * Returns 0, NAS_ERR_SPACE if outcap is too small, NAS_ERR_BAD_VALUE /
 * NAS_ERR_BAD_LENGTH / NAS_ERR_TOO_LONG for fields the message cannot
 * carry, NAS_ERR_UNKNOWN_TYPE, or NAS_ERR_INVALID_ARG. On error *outlen is
 * 0 and out's contents are unspecified. */
int nas_encode(uint8_t *out, size_t outcap, size_t *outlen,
    const nas_msg_t *msg);

/* Decode the len-byte message in buf into out (fully overwritten).
 * Returns 0 or a NAS_ERR_* code (see the decoder rules above); on error
 * out is zeroed. */
int nas_decode(nas_msg_t *out, const uint8_t *buf, size_t len);

/* A static English description of a NAS_ERR_* code. */
const char *nas_strerror(int err);

/* A static name of a message type as TS 24.501 (and Wireshark) spells it,
 * e.g. "Registration request"; "Unknown message type" otherwise. */
const char *nas_msg_name(int type);

/* Build a null-scheme SUCI (routing indicator "0000", hnpki 0) from an
 * IMSI-type SUPI "imsi-<MCC><MNC><MSIN>" of 6..15 digits whose MNC has
 * mnc_len (2 or 3) digits. Returns 0, NAS_ERR_BAD_VALUE for a malformed
 * SUPI or mnc_len, NAS_ERR_INVALID_ARG for NULL. */
int nas_suci_from_supi(nas_suci_t *out, const char *supi, int mnc_len);

/* 1 if the UE security capability caps (len octets) announces 5G-EA alg
 * (is_integrity 0) or 5G-IA alg (is_integrity 1), alg 0..7. */
int nas_ue_sec_cap_has(const uint8_t *caps, size_t len, int is_integrity,
    int alg);

/* Write the SUPI "imsi-" + MCC + MNC + MSIN of a null-scheme SUCI into out
 * (outcap bytes, NAS_SUPI_MAX is always enough). Returns 0,
 * NAS_ERR_UNSUPPORTED for a non-null scheme, NAS_ERR_BAD_VALUE for
 * non-digit fields, NAS_ERR_SPACE if out is too small. */
int nas_supi_from_suci(char *out, size_t outcap, const nas_suci_t *suci);

/* GPRS timer 2 octet (TS 24.008 10.5.7.4) for a back-off of secs seconds,
 * rounded up to the next representable value (capped at 31 decihours). */
uint8_t nas_gprs_timer_from_seconds(unsigned secs);

/* Seconds a GPRS timer 2 octet stands for; 0 for "deactivated". */
unsigned nas_gprs_timer_to_seconds(uint8_t octet);

#endif
