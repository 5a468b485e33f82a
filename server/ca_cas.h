/* ca_cas.h — the CA set seen from outside the engine: each Device CA a
 * data folder serves (its id, state, certificate and chain), and the
 * rollover's administrative steps. See docs/ca-server.md, CA rollover. */
#ifndef PROVCA_CA_CAS_H
#define PROVCA_CA_CAS_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/x509.h>

#include "ca.h"

/* One Device CA of the current CA set; pointers into the ca_t (valid
 * until ca_free). */
typedef struct {
	int64_t id;
	const char *state; /* issuing, active, retired */
	const uint8_t *der;
	size_t der_len;
	const char *pem;
	const char *chain_pem; /* the CA + Root */
} ca_device_ca_t;

/* The Device CA with this id (0: the first, whose URLs are the original
 * CA_URL_PATH_CRL and CA_URL_PATH_DEVICE_CA). CA_ERR_NOT_FOUND if none. */
int ca_device_ca_get(const ca_t *ca, int64_t id, ca_device_ca_t *out);

/* The chain (CA + Root) of Device CA id; the issuing one's when unknown. */
const char *ca_device_chain_pem(const ca_t *ca, int64_t id);

/* The chain (CA + Root) of the issuing Device CA of the current CA set:
 * what new devices get (valid until ca_free). */
const char *ca_issuing_chain_pem(const ca_t *ca);

/* The CRL of Device CA id (0: the first), as ca_crl_get. A retired CA's
 * is the last one it signed. CA_ERR_NOT_FOUND: no such CA. */
int ca_crl_device_ca_get(ca_t *ca, reg_t *reg, int64_t id, uint8_t **der,
    size_t *der_len, int64_t *next_update, char *err, size_t errlen);

/* The CRL of Infrastructure CA id (0: the first, at CA_URL_PATH_INFRA_CRL;
 * later ones at /crl/infra-ca-<id>.crl): its revoked principal
 * certificates. CA_ERR_NOT_FOUND: no such CA. */
int ca_crl_infra_ca_get(ca_t *ca, reg_t *reg, int64_t id, uint8_t **der,
    size_t *der_len, int64_t *next_update, char *err, size_t errlen);

/* Add a CA of role (REG_CA_ROLE_DEVICE, or REG_CA_ROLE_INFRA: the
 * Infrastructure CA that certifies principals; NULL: device): cert_path
 * (PEM, certified by the Root: `ca-server root certify-intermediate`, a CA
 * with keyCertSign, valid now) and its key, key_ref: a pkcs11: URI (the
 * data folder's token) or a key file, which is copied into DIR (0600,
 * exclusive) as <role>-ca-<hash>.key and must be encrypted with the data
 * folder's passphrase when its keys are. State active (signs nothing new
 * until ca_ca_activate). *id_out its id. Audited (ca.add). */
int ca_ca_add(ca_t *ca, reg_t *reg, int64_t *id_out, const char *role,
    const char *cert_path, const char *key_ref, const char *actor, char *err,
    size_t errlen);

/* Make CA id (Device or Infrastructure) the issuing one of its role (the
 * one before becomes active); a running serve issues with it from its next
 * request. Audited (ca.activate). */
int ca_ca_activate(ca_t *ca, reg_t *reg, int64_t id, const char *actor,
    char *err, size_t errlen);

/* Retire CA id (active, not issuing): its final CRL is signed with
 * nextUpdate at the CA certificate's notAfter and stays published; it
 * signs nothing more. An Infrastructure CA only once none of its principal
 * certificates is valid (CA_ERR_STATE). Audited (ca.retire). */
int ca_ca_retire(ca_t *ca, reg_t *reg, int64_t id, const char *actor, char *err,
    size_t errlen);

/* The CA set follows a renewal (`ca-server root renew-intermediate`): the
 * row of the CA whose certificate is old (same key and subject) gets
 * renewed's certificate, so `ca list` and a running serve use it. CA_OK
 * and *id_out 0 when old is no CA of the set (nothing to follow). Call
 * inside the ceremony's transaction. */
int ca_ca_renewed(reg_t *reg, int64_t *id_out, X509 *old, X509 *renewed,
    char *err, size_t errlen);

#endif
