/* aka.h — MILENAGE (TS 35.205/35.206) on OpenSSL AES-128, the TS 33.220
 * generic KDF, the TS 33.501 Annex A 5G-AKA derivations, the network's
 * authentication vector, the USIM's AUTN check with SQN freshness and AUTS
 * resynchronisation, and the values `corehook av` prints.
 *
 * Conventions: out-parameters first; fixed-size byte arrays have the lengths
 * of the AKA_*_LEN constants; functions return AKA_OK (0) or a negative
 * AKA_ERR_* code. Every intermediate secret is wiped before return. On error,
 * fixed-size outputs are zeroed. Nothing here prints, except aka_av_write(),
 * which writes to the FILE * its caller gives it. */
#ifndef PROVCA_AKA_H
#define PROVCA_AKA_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define AKA_K_LEN 16
#define AKA_OP_LEN 16
#define AKA_OPC_LEN 16
#define AKA_RAND_LEN 16
#define AKA_SQN_LEN 6
#define AKA_AMF_LEN 2
#define AKA_MAC_LEN 8
#define AKA_RES_LEN 8     /* MILENAGE f2 output */
#define AKA_RES_MIN_LEN 4 /* RES length bounds of TS 33.102 §6.3.2 */
#define AKA_RES_MAX_LEN 16
#define AKA_CK_LEN 16
#define AKA_IK_LEN 16
#define AKA_AK_LEN 6
#define AKA_AUTN_LEN 16 /* (SQN ^ AK) || AMF || MAC-A */
#define AKA_AUTS_LEN 14 /* (SQN_MS ^ AK*) || MAC-S */
#define AKA_RES_STAR_LEN 16
#define AKA_HXRES_STAR_LEN 16
#define AKA_KDF_LEN 32 /* HMAC-SHA-256 output of the TS 33.220 KDF */
#define AKA_KAUSF_LEN 32
#define AKA_KSEAF_LEN 32
#define AKA_KAMF_LEN 32
#define AKA_KGNB_LEN 32
#define AKA_KDF_PARAM_MAX 0xFFFF /* L is a 2-octet length */
#define AKA_SNN_MAX 255          /* longest serving network name accepted */
#define AKA_SNN_BUF 33           /* "5G:mncXXX.mccXXX.3gppnetwork.org" + NUL */
#define AKA_SUPI_MAX 255
#define AKA_FP_HEX_LEN 17 /* 16 hex digits + NUL */

/* SQN is a 48-bit counter. The USIM accepts SQN when
 * SQN_MS < SQN <= SQN_MS + AKA_SQN_DELTA (see docs/protocol.md "## 5G-AKA"). */
#define AKA_SQN_MAX ((uint64_t)0xFFFFFFFFFFFF)
#define AKA_SQN_DELTA ((uint64_t)1 << 28)

/* AMF "separation bit" (TS 33.102 Annex H, bit 0 = MSB of the first octet):
 * a 5G UE accepts only AUTNs with it set (TS 24.501 §5.4.1.3.5). */
#define AKA_AMF_SEPARATION_BIT 0x80

/* Algorithm type distinguishers of TS 33.501 Annex A.8. */
#define AKA_ALG_NAS_ENC 0x01
#define AKA_ALG_NAS_INT 0x02

/* Access type distinguishers of TS 33.501 Annex A.9. */
#define AKA_ACCESS_3GPP 0x01
#define AKA_ACCESS_NON_3GPP 0x02

enum aka_err {
	AKA_OK = 0,
	AKA_ERR_ARG = -1,    /* bad argument: NULL, wrong length, bad digits */
	AKA_ERR_CRYPTO = -2, /* OpenSSL failed (error queue drained) */
	AKA_ERR_MAC = -3,    /* MAC-A (AUTN) or MAC-S (AUTS) did not verify */
	AKA_ERR_SYNC = -4,   /* SQN in AUTN not fresh; AUTS produced */
	AKA_ERR_AMF = -5,    /* AMF separation bit 0: non-5G AUTN */
	AKA_ERR_IO = -6      /* aka_av_write could not write */
};

/* A short English name for an AKA_* code ("MAC failure", ...). Never NULL. */
const char *aka_strerror(int code);

/* ---- MILENAGE (TS 35.206) ---- */

/* opc = OP ^ AES_K(OP). */
int aka_opc(uint8_t *opc, const uint8_t *k, const uint8_t *op);

/* f1 and f1*: MAC-A and MAC-S over (SQN, RAND, AMF); one of the two outputs
 * may be NULL when not wanted. */
int aka_milenage_f1(uint8_t *mac_a, uint8_t *mac_s, const uint8_t *k,
    const uint8_t *opc, const uint8_t *rand, const uint8_t *sqn,
    const uint8_t *amf);

/* f2, f3, f4, f5: RES (8), CK, IK, AK; outputs not wanted may be NULL (at
 * least one must be given). */
int aka_milenage_f2345(uint8_t *res, uint8_t *ck, uint8_t *ik, uint8_t *ak,
    const uint8_t *k, const uint8_t *opc, const uint8_t *rand);

/* f5*: the anonymity key AK* that conceals SQN_MS in AUTS. */
int aka_milenage_f5star(uint8_t *ak_star, const uint8_t *k, const uint8_t *opc,
    const uint8_t *rand);

/* ---- TS 33.220 Annex B.2 KDF and TS 33.501 Annex A ---- */

/* One KDF input parameter P_i; its 2-octet length L_i is appended by
 * aka_kdf. len may be 0 (then ptr may be NULL); len <= AKA_KDF_PARAM_MAX. */
typedef struct aka_kdf_param_t {
	const uint8_t *ptr;
	size_t len;
} aka_kdf_param_t;

/* out = HMAC-SHA-256(key, FC || P0 || L0 || ... || Pn-1 || Ln-1). */
int aka_kdf(uint8_t *out, const uint8_t *key, size_t keylen, uint8_t fc,
    const aka_kdf_param_t *params, size_t n);

/* Serving network name "5G:mncXXX.mccXXX.3gppnetwork.org" from a 3-digit MCC
 * and a 2- or 3-digit MNC (a 2-digit MNC gets a leading 0); outlen >=
 * AKA_SNN_BUF. */
int aka_snn_format(char *out, size_t outlen, const char *mcc, const char *mnc);

/* RES* (and XRES*) = last 16 octets of KDF(CK||IK, 0x6B, SNN, RAND, RES);
 * res_len in [AKA_RES_MIN_LEN, AKA_RES_MAX_LEN]. */
int aka_res_star(uint8_t *out, const uint8_t *ck, const uint8_t *ik,
    const char *snn, const uint8_t *rand, const uint8_t *res, size_t res_len);

/* HXRES* (and HRES*) = last 16 octets of SHA-256(RAND || XRES*). */
int aka_hxres_star(uint8_t *out, const uint8_t *rand, const uint8_t *xres_star);

/* K_AUSF = KDF(CK||IK, 0x6A, SNN, SQN^AK). */
int aka_kausf(uint8_t *out, const uint8_t *ck, const uint8_t *ik,
    const char *snn, const uint8_t *sqn_xor_ak);

/* K_SEAF = KDF(K_AUSF, 0x6C, SNN). */
int aka_kseaf(uint8_t *out, const uint8_t *kausf, const char *snn);

/* K_AMF = KDF(K_SEAF, 0x6D, SUPI, ABBA). supi is the IMSI digit string; an
 * "imsi-" prefix is dropped (P0 is the IMSI itself, TS 33.501 A.7.0).
 * abba_len in [2, 255] octets (the ABBA IE's contents, 0x0000 today). */
int aka_kamf(uint8_t *out, const uint8_t *kseaf, const char *supi,
    const uint8_t *abba, size_t abba_len);

/* K_gNB = KDF(K_AMF, 0x6E, UL NAS COUNT (4 octets), access type (1)). */
int aka_kgnb(uint8_t *out, const uint8_t *kamf, uint32_t ul_nas_count,
    uint8_t access_type);

/* NAS key KDF output = KDF(K_AMF, 0x69, alg type distinguisher, alg id);
 * out is the full 32 octets: the 128-bit K_NASenc/K_NASint is out[16..31]. */
int aka_knas(uint8_t *out, const uint8_t *kamf, uint8_t alg_type,
    uint8_t alg_id);

/* CK'||IK' = KDF(CK||IK, 0x20, access network identity, SQN^AK) (TS 33.402
 * A.2, RFC 5448): CK' is out[0..15], IK' is out[16..31]. */
int aka_ck_ik_prime(uint8_t *out, const uint8_t *ck, const uint8_t *ik,
    const char *ani, const uint8_t *sqn_xor_ak);

/* ---- 48-bit SQN ---- */

/* The big-endian 6-octet SQN as an integer. */
uint64_t aka_sqn_to_u64(const uint8_t *sqn);

/* Write v as a 6-octet big-endian SQN; AKA_ERR_ARG if v > AKA_SQN_MAX. */
int aka_sqn_from_u64(uint8_t *out, uint64_t v);

/* 1 if the USIM accepts sqn after sqn_ms (SQN_MS < SQN <= SQN_MS + DELTA),
 * 0 otherwise. */
int aka_sqn_is_fresh(uint64_t sqn, uint64_t sqn_ms);

/* ---- Network side ---- */

typedef struct aka_vector_t {
	uint8_t rand[AKA_RAND_LEN];
	uint8_t autn[AKA_AUTN_LEN];
	uint8_t xres_star[AKA_RES_STAR_LEN];
	uint8_t hxres_star[AKA_HXRES_STAR_LEN];
	uint8_t kausf[AKA_KAUSF_LEN];
	uint8_t kseaf[AKA_KSEAF_LEN];
} aka_vector_t;

/* A 5G HE AV for (K, OPc, AMF, SQN) and serving network snn; rand NULL
 * draws a fresh RAND from the CSPRNG. AUTN = (SQN^AK) || AMF || MAC-A. */
int aka_vector_make(aka_vector_t *out, const uint8_t *k, const uint8_t *opc,
    const uint8_t *amf, const uint8_t *sqn, const uint8_t *rand,
    const char *snn);

/* The network's check of a UE's RES*: HRES* = SHA-256(RAND || RES*) against
 * HXRES* (the SEAF step), then RES* against XRES* (the AUSF step), both in
 * constant time. AKA_OK if both match, AKA_ERR_MAC if not. */
int aka_vector_check_res_star(const aka_vector_t *v, const uint8_t *res_star);

/* Wipe a vector (it holds keys). NULL-safe. */
void aka_vector_clear(aka_vector_t *v);

/* SQN_MS from an AUTS: AK* = f5*(RAND), SQN_MS = AUTS[0..5] ^ AK*, then
 * MAC-S = f1*(SQN_MS, RAND, AMF 0x0000) checked in constant time against
 * AUTS[6..13]. AKA_ERR_MAC (out zeroed) if it does not verify. */
int aka_auts_resync(uint8_t *out_sqn_ms, const uint8_t *k, const uint8_t *opc,
    const uint8_t *rand, const uint8_t *auts);

/* ---- USIM side ---- */

typedef struct aka_usim_result_t {
	uint8_t res_star[AKA_RES_STAR_LEN]; /* AKA_OK: send in the response */
	uint8_t kausf[AKA_KAUSF_LEN];       /* AKA_OK */
	uint8_t kseaf[AKA_KSEAF_LEN];       /* AKA_OK */
	uint8_t sqn[AKA_SQN_LEN];   /* AKA_OK: the new SQN_MS to store */
	uint8_t auts[AKA_AUTS_LEN]; /* AKA_ERR_SYNC: send in the failure */
} aka_usim_result_t;

/* Check AUTN as the USIM + ME do, in this order: MAC-A (AKA_ERR_MAC), AMF
 * separation bit (AKA_ERR_AMF), SQN freshness against sqn_ms, the highest SQN
 * accepted so far (AKA_ERR_SYNC with out->auts = (SQN_MS ^ AK*) || MAC-S,
 * MAC-S over AMF 0x0000). On AKA_OK, out holds RES*, K_AUSF, K_SEAF and the
 * accepted SQN; the caller stores that SQN as its new SQN_MS. */
int aka_usim_authenticate(aka_usim_result_t *out, const uint8_t *k,
    const uint8_t *opc, const uint8_t *rand, const uint8_t *autn,
    const char *snn, const uint8_t *sqn_ms);

/* Wipe a USIM result (it holds keys). NULL-safe. */
void aka_usim_result_clear(aka_usim_result_t *r);

/* out = lowercase hex of the first 8 octets of SHA-256(K_AMF): a fingerprint
 * both sides print as "kamf-fp=<hex>" to show they agree, without the key. */
int aka_fingerprint(char *out, const uint8_t *kamf);

/* ---- `corehook av` ---- */

/* Inputs of `corehook av`, filled by aka_av_args_parse. Holds K: clear it. */
typedef struct aka_av_args_t {
	uint8_t k[AKA_K_LEN];
	uint8_t op[AKA_OP_LEN];
	uint8_t opc[AKA_OPC_LEN];
	uint8_t rand[AKA_RAND_LEN];
	uint8_t sqn[AKA_SQN_LEN];
	uint8_t amf[AKA_AMF_LEN];
	char snn[AKA_SNN_MAX + 1];
	int have_op; /* exactly one of have_op, have_opc */
	int have_opc;
	int have_snn;
} aka_av_args_t;

/* Parse the options after "av": --k K (--op OP | --opc OPC) --rand R --sqn S
 * --amf A [--snn NAME], each "--name value" or "--name=value", hex of the
 * exact length. argv[0] is the first option. AKA_ERR_ARG with a message
 * naming the option on any problem (the CLI then exits 2). */
int aka_av_args_parse(aka_av_args_t *out, int argc, char *const *argv,
    char *err, size_t errlen);

/* Wipe parsed arguments. NULL-safe. */
void aka_av_args_clear(aka_av_args_t *a);

/* One printed value: name as listed below, lowercase hex. */
typedef struct aka_av_field_t {
	const char *name;
	char hex[2 * AKA_KDF_LEN + 1];
} aka_av_field_t;

#define AKA_AV_FIELDS_MAX 13

/* Compute, in this order, OPc, MAC-A, MAC-S, XRES, CK, IK, AK, AK*, AUTN and,
 * when a->have_snn, XRES*, HXRES*, K_AUSF, K_SEAF. MAC-S is f1* over the given
 * AMF (as TS 35.208 lists it). out has room for AKA_AV_FIELDS_MAX; *out_n is
 * set to the count. Clear out with aka_av_fields_clear after use. */
int aka_av_compute(aka_av_field_t *out, size_t *out_n, const aka_av_args_t *a,
    char *err, size_t errlen);

/* Wipe n fields. NULL-safe. */
void aka_av_fields_clear(aka_av_field_t *f, size_t n);

/* aka_av_compute, then one "NAME: hex" line per value to fp. */
int aka_av_write(FILE *fp, const aka_av_args_t *a, char *err, size_t errlen);

#endif
