/* ca_cmp.h — a CMP (RFC 4210 / RFC 9483) server for factory lines and
 * principals, built on OpenSSL 3.0's OSSL_CMP_SRV_CTX: one DER PKIMessage
 * in, one out; the CMP signer that protects its answers; the one-time
 * secrets of its MAC-protected (PBM) enrollment. */
#ifndef PROVCA_CA_CMP_H
#define PROVCA_CA_CMP_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/x509.h>

#include "ca.h"

/* Largest CMP request accepted, in bytes. */
#define CA_CMP_REQUEST_MAX (64 * 1024)

/* One-time secrets: the reference ("pbm-" + 16 hex digits, the CMP
 * senderKID) and the secret (32 hex digits, 128 bits). */
#define CA_CMP_REF_MAX 64
#define CA_CMP_SECRET_LEN 32
#define CA_CMP_SECRET_BATCH_MAX 1000
#define CA_CMP_SECRET_VALID_MAX (30 * 24 * 3600)

/* Who sent a signature-protected request: the principal the TLS client
 * certificate cert authenticated. */
typedef struct {
	const X509 *cert;            /* the only certificate it may sign with */
	const char *role;            /* REG_ROLE_* */
	const char *manufacturer_id; /* role manufacturer: its manufacturer */
	const char *name;            /* the principal: audit actor */
} ca_cmp_sender_t;

/*
 * Answer the DER PKIMessage req. sender non-NULL: the request must be
 * signature-protected with sender->cert's key. A manufacturer's p10cr, ir
 * or cr enrolls one device exactly as REST enrollment does
 * (ca_device_issue / ca_device_issue_key: same checks, rows, audit entry
 * under its name, idempotence), the subject of the CSR or CRMF template
 * carrying serialNumber (device serial), CN (model) and optionally OU
 * (hardware version); any principal's kur renews its own certificate as
 * POST /api/v1/renew does; an administrator's rr revokes the Device CA
 * certificate it names with the request's CRLReason (unspecified when it
 * names none). sender NULL (the MAC route): only an ir, MAC-protected
 * (PBM) with a one-time secret its senderKID names, enrolling a device of
 * the secret's manufacturer and using the secret up in the same
 * transaction. A certificate request that asks for implicit confirmation
 * gets it; one that does not is answered without it, its certificate
 * issued and stored all the same, and the certConf of a later exchange
 * (same sender, transactionID, recipNonce and certHash, checked against
 * the registry: ca_cmp_confirm.c) gets pkiConf, a rejecting one revoking
 * the certificate (cessationOfOperation); on the MAC route with the
 * secret its ir used up. A genm gets an empty genp. Answers are signed by the CMP signer
 * (MAC-protected answers to MAC-protected requests); refusals are CMP
 * error or rejection messages with a PKIFailureInfo and store nothing.
 * *out (OPENSSL_free) gets the DER answer; CA_ERR_INVALID when req is not
 * a PKIMessage (nothing to answer), CA_ERR_INTERNAL when no answer could
 * be built.
 */
int ca_cmp_process(ca_t *ca, reg_t *reg, const ca_cmp_sender_t *sender,
    uint8_t **out, size_t *out_len, const uint8_t *req, size_t req_len,
    char *err, size_t errlen);

/* Load the CMP signer of ca's data folder (cmp-signer.key / .crt), making
 * it first when the folder has none (init; the first serve of an older
 * data folder): a P-256 key and an Infrastructure CA certificate with
 * digitalSignature and EKU id-kp-cmcRA. */
int ca_cmp_signer_ensure(ca_t *ca, char *err, size_t errlen);

/* A new one-time secret: hand ref and secret to the factory line once. */
typedef struct {
	char ref[CA_CMP_REF_MAX + 1];
	char secret[CA_CMP_SECRET_LEN + 1]; /* wipe after use */
	int64_t expires_at;
} ca_cmp_secret_new_t;

/* Make n (1..CA_CMP_SECRET_BATCH_MAX) one-time secrets for devices of
 * manufacturer mfr_id, valid valid_s seconds (60..CA_CMP_SECRET_VALID_MAX),
 * stored encrypted with an audit row each under actor, in one
 * transaction. CA_ERR_NOT_FOUND: unknown manufacturer. */
int ca_cmp_secret_create(ca_t *ca, reg_t *reg, ca_cmp_secret_new_t *out,
    size_t n, const char *mfr_id, int64_t valid_s, const char *actor, char *err,
    size_t errlen);

#endif
