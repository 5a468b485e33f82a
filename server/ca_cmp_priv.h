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

/* What a request's header says that OpenSSL 3.0 keeps to itself. */
typedef struct {
	int protection_nid;		/* protectionAlg; NID_undef: none */
	unsigned char kid[64];		/* senderKID */
	size_t kid_len;			/* 0: none */
	int implicit_confirm;		/* generalInfo has implicitConfirm */
} ca_cmp_hdr_t;

/* Read msg's header fields into out. 0, or -1 when they do not decode. */
int ca_cmp_hdr_read(ca_cmp_hdr_t *out, const OSSL_CMP_MSG *msg);

/* The public key of crm's certificate template (EVP_PKEY_free), or NULL
 * when it has none or it does not decode. */
EVP_PKEY *ca_cmp_tmpl_pubkey(const OSSL_CRMF_MSG *crm);

/* The CRLReason (0..10) in an rr's first RevDetails' crlEntryDetails, or
 * -1 when it names none. */
int ca_cmp_rr_reason(const OSSL_CMP_MSG *msg);

/* A one-time secret as the MAC check needs it (ca_cmp_secret.c). */
typedef struct {
	int64_t id;
	char ref[CA_CMP_REF_MAX + 1];
	char manufacturer_id[REG_MFR_ID_MAX + 1];
	char created_by[REG_NAME_MAX + 1];
	int64_t expires_at, used_at;
	unsigned char secret[CA_CMP_SECRET_LEN];	/* wipe after use */
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
