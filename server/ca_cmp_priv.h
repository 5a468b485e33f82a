/* ca_cmp_priv.h — what the CMP server's files (ca_cmp.c, ca_cmp_msg.c,
 * ca_cmp_secret.c) share. Not for use outside server/ca_cmp*.c. */
#ifndef PROVCA_CA_CMP_PRIV_H
#define PROVCA_CA_CMP_PRIV_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/cmp.h>
#include <openssl/crmf.h>

#include "ca_priv.h"
#include "ca_cmp.h"
#include "reg_cmp.h"

/* What a request's header says that OpenSSL 3.0 keeps to itself. */
typedef struct {
	int protection_nid;      /* protectionAlg; NID_undef: none */
	unsigned char kid[64];   /* senderKID */
	size_t kid_len;          /* 0: none */
	int implicit_confirm;    /* generalInfo has implicitConfirm */
	unsigned char nonce[64]; /* senderNonce */
	size_t nonce_len;        /* 0: none (or longer than 64) */
} ca_cmp_hdr_t;

/* Read msg's header fields into out. 0, or -1 when they do not decode. */
int ca_cmp_hdr_read(ca_cmp_hdr_t *out, const OSSL_CMP_MSG *msg);

/* The public key of crm's certificate template (EVP_PKEY_free), or NULL
 * when it has none or it does not decode. */
EVP_PKEY *ca_cmp_tmpl_pubkey(const OSSL_CRMF_MSG *crm);

/* The CRLReason (0..10) in an rr's first RevDetails' crlEntryDetails, or
 * -1 when it names none. */
int ca_cmp_rr_reason(const OSSL_CMP_MSG *msg);

/* The PKIStatus of si (0 accepted, 2 rejection, ...), or -1 when it does
 * not decode. */
int ca_cmp_pkisi_status(const OSSL_CMP_PKISI *si);

/* serial as lowercase hex (the registry's serial_hex) into hex; 0, or -1
 * when negative or too long. */
int ca_cmp_serial_hex(char *hex, size_t hexlen, const ASN1_INTEGER *serial);

/* A certificate granted in this exchange, as its certConf will name it
 * (ca_cmp_confirm.c): issuer REG_ISSUER_*, serial, the certHash a client
 * computes (X509_digest_sig: the signature's digest) as hex, and the
 * DeviceID or principal it was issued for. */
typedef struct {
	int issued;
	char issuer[8];
	char serial_hex[REG_SERIAL_HEX_MAX + 1];
	char cert_hash[REG_CMP_HEX_MAX + 1];
	char target[REG_NAME_MAX + 1];
} ca_cmp_issued_t;

/* Fill iss for cert, issued by issuer for target. 0, or -1. */
int ca_cmp_issued_set(ca_cmp_issued_t *iss, const X509 *cert,
    const char *issuer, const char *target);

/* 1 when req's transactionID (1..64 bytes) can key a certConf, else 0. */
int ca_cmp_confirm_possible(const OSSL_CMP_MSG *req);

/* After the answer rsp to a certificate request from sender ("p:" name
 * or "s:" secret reference): when rsp grants no implicit confirmation,
 * record iss as awaiting the certConf of the request's transactionID,
 * answered with rsp's senderNonce. CA_OK or CA_ERR_*. */
int ca_cmp_confirm_record(reg_t *reg, const ca_cmp_issued_t *iss,
    const char *sender, const OSSL_CMP_MSG *req, const OSSL_CMP_MSG *rsp,
    char *err, size_t errlen);

/* Before OpenSSL handles certConf req from sender on srv's fresh
 * context: the row its transactionID names into *row (*found 0 when
 * none; reg_cmp_confirm_clear it), and that transaction reopened on srv
 * (its request replayed while *replay is 1, then the senderNonce the
 * certConf's recipNonce must echo), so that OpenSSL checks the certConf
 * as within it. CA_OK or CA_ERR_*. */
int ca_cmp_confirm_prepare(OSSL_CMP_SRV_CTX *srv, int *replay, reg_t *reg,
    reg_cmp_confirm_t *row, int *found, const char *sender,
    const OSSL_CMP_MSG *req, char *err, size_t errlen);

/* The certConf for row (found 0: none) with certHash hash and status si
 * (NULL: accepted), by actor: accepted settles it; a rejection revokes
 * the certificate (cessationOfOperation) and settles it; both audited.
 * 1, or 0 with an OpenSSL error queued (the answer is a CMP error:
 * unknown transaction, hash mismatch, already settled otherwise). */
int ca_cmp_confirm_settle(ca_t *ca, reg_t *reg, const reg_cmp_confirm_t *row,
    int found, const char *actor, const ASN1_OCTET_STRING *hash,
    const OSSL_CMP_PKISI *si);

/* A one-time secret as the MAC check needs it (ca_cmp_secret.c). */
typedef struct {
	int64_t id;
	char ref[CA_CMP_REF_MAX + 1];
	char manufacturer_id[REG_MFR_ID_MAX + 1];
	char created_by[REG_NAME_MAX + 1];
	int64_t expires_at, used_at;
	unsigned char secret[CA_CMP_SECRET_LEN]; /* wipe after use */
} ca_cmp_secret_t;

/* The secret named ref, decrypted. CA_ERR_NOT_FOUND when none has that
 * reference (or its ciphertext does not open). */
int ca_cmp_secret_get(ca_t *ca, reg_t *reg, ca_cmp_secret_t *out,
    const char *ref, char *err, size_t errlen);

/* Mark the secret used at now for device_id, inside the caller's
 * transaction: CA_ERR_STATE when it was used or expired meanwhile. */
int ca_cmp_secret_use(reg_t *reg, int64_t id, const char *device_id,
    int64_t now, char *err, size_t errlen);

#endif
