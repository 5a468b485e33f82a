/* reg_cas.h — the registry's CA set: every intermediate that serves or
 * served (Device CA, Infrastructure CA), its certificate, key reference and
 * state, and the certificates each one signed (certificates.ca_id).
 *
 * States: issuing (signs new certificates; one per role), active (signs
 * the CRL and OCSP answers for what it issued, nothing new), retired (signs
 * nothing; its last CRL stays published). Nothing here prints. */
#ifndef PROVCA_REG_CAS_H
#define PROVCA_REG_CAS_H

#include <stddef.h>
#include <stdint.h>

#include "reg.h"

#define REG_CA_ROLE_DEVICE "device"
#define REG_CA_ROLE_INFRA "infra"
#define REG_CA_ISSUING "issuing"
#define REG_CA_ACTIVE "active"
#define REG_CA_RETIRED "retired"
#define REG_CA_KEY_REF_MAX 511
#define REG_CA_SUBJECT_MAX 255

/* One CA of the set; der owned (reg_ca_list_free). */
typedef struct {
	int64_t id;
	char role[8];
	char state[8];
	char key_ref[REG_CA_KEY_REF_MAX + 1];
	char subject[REG_CA_SUBJECT_MAX + 1];
	char cert_sha256[65];
	uint8_t *der;
	size_t der_len;
	int64_t created_at, retired_at;
} reg_ca_t;

typedef struct {
	const char *role;  /* REG_CA_ROLE_* */
	const char *state; /* REG_CA_ISSUING or REG_CA_ACTIVE */
	const uint8_t *der;
	size_t der_len;
	const char *cert_sha256; /* SHA-256 of der, lowercase hex */
	const char *subject;     /* one-line subject, for lists */
	const char *key_ref;     /* file name in DIR or pkcs11: URI */
} reg_ca_new_t;

/* Insert a CA; *id_out its id. REG_ERR_CONSTRAINT when the certificate is
 * already in the set or a second issuing CA of the role is asked for. */
int reg_ca_insert(reg_t *reg, int64_t *id_out, const reg_ca_new_t *c, char *err,
    size_t errlen);

/* The CAs of role (NULL: every role) in id order. *out NULL when none. */
int reg_ca_list(reg_t *reg, reg_ca_t **out, size_t *n, const char *role,
    char *err, size_t errlen);
void reg_ca_list_free(reg_ca_t *list, size_t n);

/* The state of CA id into out (REG_CA_*). REG_ERR_NOT_FOUND: no such CA. */
int reg_ca_state_get(reg_t *reg, char out[8], int64_t id, char *err,
    size_t errlen);

/* Make CA id the issuing CA of its role; the one issuing before becomes
 * active. Call inside a transaction. REG_ERR_NOT_FOUND: no such CA;
 * REG_ERR_INVALID: it is retired. */
int reg_ca_activate(reg_t *reg, int64_t id, char *err, size_t errlen);

/* Retire CA id (it must be active, not issuing): REG_ERR_NOT_FOUND: no
 * such CA; REG_ERR_INVALID: issuing or already retired. */
int reg_ca_retire(reg_t *reg, int64_t id, char *err, size_t errlen);

/* The CA set's stamp into out: every CA's id, role, state and certificate
 * hash in id order, so any insert, state change or renewal moves it.
 * REG_ERR_INVALID when it does not fit outlen. */
int reg_ca_stamp(reg_t *reg, char *out, size_t outlen, char *err,
    size_t errlen);

/* Replace the certificate of CA id (a renewal: same key and subject) with
 * der; REG_ERR_NOT_FOUND: no such CA; REG_ERR_CONSTRAINT: der is already
 * another CA's. */
int reg_ca_cert_replace(reg_t *reg, int64_t id, const uint8_t *der,
    size_t der_len, const char *cert_sha256, const char *subject, char *err,
    size_t errlen);

/* Record CA id of role (REG_CA_ROLE_*) as the signer of every certificate
 * of that role that has none (a registry from before the CA set: the
 * first CA of the role adopts them). */
int reg_ca_adopt(reg_t *reg, int64_t id, const char *role, char *err,
    size_t errlen);

/* How many principal certificates CA id signed that are neither revoked
 * nor expired (an Infrastructure CA is retired only without any). */
int reg_ca_live_certs(reg_t *reg, int64_t *out, int64_t id, char *err,
    size_t errlen);

/* Call fn for each certificate signed by CA ca_id that its CRL lists (a
 * Device CA: revoked or suspended devices; an Infrastructure CA: revoked
 * principal certificates), in serial order. */
int reg_ca_crl_entries(reg_t *reg, int64_t ca_id, reg_crl_entry_fn fn,
    void *arg, char *err, size_t errlen);

#endif
