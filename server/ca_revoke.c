/* ca_revoke.c — device status changes (revoke with an RFC 5280 reason,
 * suspend = certificateHold, reinstate) and the CRLs of each Device CA of
 * the CA set (its own devices) and of the Infrastructure CA, cached in the registry and rebuilt only when the
 * revocation generation moved or nextUpdate draws near. */
#include "ca_priv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "ca_cas.h"
#include "reg_cas.h"
#include "util.h"

/* RFC 5280 §5.3.1 CRLReason; 7 is unused. */
static const char *const reason_names[] = {
	"unspecified",
	"keyCompromise",
	"cACompromise",
	"affiliationChanged",
	"superseded",
	"cessationOfOperation",
	"certificateHold",
	NULL,
	"removeFromCRL",
	"privilegeWithdrawn",
	"aACompromise",
};

#define REASON_HOLD 6
#define REASON_REMOVE 8

int ca_reason_from_name(const char *name)
{
	size_t i;

	if (name == NULL)
		return -1;
	for (i = 0; i < sizeof(reason_names) / sizeof(reason_names[0]); i++)
		if (reason_names[i] != NULL &&
		    strcmp(reason_names[i], name) == 0)
			return (int)i;
	return -1;
}

int ca_reason_revocable(int code)
{
	return ca_reason_name(code) != NULL && code != REASON_HOLD &&
	    code != REASON_REMOVE;
}

int ca_revocation_reason(const char *name)
{
	int code = ca_reason_from_name(name);

	return ca_reason_revocable(code) ? code : -1;
}

const char *ca_reason_name(int code)
{
	if (code < 0 ||
	    (size_t)code >= sizeof(reason_names) / sizeof(reason_names[0]))
		return NULL;
	return reason_names[code];
}

/* A status change is published by the CA that signed the device: refused
 * (CA_ERR_STATE) when the registry has retired it (its CRL is final). */
static int signer_signs(reg_t *reg, const reg_device_t *d, char *err,
    size_t errlen)
{
	char state[8];
	int rc;

	if (d->ca_id <= 0)
		return CA_OK;
	if ((rc = ca_from_reg(
	         reg_ca_state_get(reg, state, d->ca_id, err, errlen))) != CA_OK)
		return rc;
	if (strcmp(state, REG_CA_RETIRED) == 0) {
		util_err_set(err, errlen,
		    "device %s was issued by Device CA "
		    "%lld, which is retired: its final CRL is published and "
		    "it signs nothing more",
		    d->device_id, (long long)d->ca_id);
		return CA_ERR_STATE;
	}
	return CA_OK;
}

/* One status transition, checked against the current status, with its
 * audit entry, in one transaction. */
static int transition(reg_t *reg, const char *device_id,
    const char *const *allowed_from, const char *to, int reason,
    const char *action, const char *actor, char *err, size_t errlen)
{
	reg_device_t d;
	int rc, ok = 0, in_tx = 0;
	size_t i;

	memset(&d, 0, sizeof(d));
	if (!ca_device_id_valid(device_id)) {
		util_err_set(err, errlen,
		    "DeviceID must match "
		    "[A-Za-z0-9._-]{1,64}");
		return CA_ERR_INVALID;
	}
	if ((rc = ca_from_reg(reg_begin(reg, err, errlen))) != CA_OK)
		return rc;
	in_tx = 1;
	if ((rc = ca_from_reg(
	         reg_device_get(reg, &d, device_id, err, errlen))) != CA_OK) {
		if (rc == CA_ERR_NOT_FOUND)
			util_err_set(err, errlen, "unknown device %s",
			    device_id);
		goto out;
	}
	for (i = 0; allowed_from[i] != NULL; i++)
		if (strcmp(d.status, allowed_from[i]) == 0)
			ok = 1;
	if (!ok) {
		util_err_set(err, errlen, "device %s is %s%s%s", device_id,
		    d.status, d.reason >= 0 ? ": " : "",
		    d.reason >= 0 ? ca_reason_name(d.reason) : "");
		rc = CA_ERR_STATE;
		goto out;
	}
	if ((rc = signer_signs(reg, &d, err, errlen)) != CA_OK)
		goto out;
	if ((rc = ca_from_reg(reg_device_set_status(reg, device_id, to, reason,
	         reason >= 0 ? reg_now() : 0, err, errlen))) != CA_OK)
		goto out;
	if ((rc = ca_audit(reg, actor, action, device_id, err, errlen, "from",
	         d.status, "to", to, "reason",
	         reason >= 0 ? ca_reason_name(reason) : "", "cert_serial",
	         d.cert_serial_hex, (const char *)NULL)) != CA_OK)
		goto out;
	if ((rc = ca_from_reg(reg_commit(reg, err, errlen))) != CA_OK)
		goto out;
	in_tx = 0;
out:
	if (in_tx)
		reg_rollback(reg);
	reg_device_clear(&d);
	return rc;
}

int ca_device_revoke(ca_t *ca, reg_t *reg, const char *device_id, int reason,
    const char *actor, char *err, size_t errlen)
{
	static const char *const from[] = { REG_STATUS_ACTIVE,
		REG_STATUS_SUSPENDED, NULL };

	(void)ca;
	if (!ca_reason_revocable(reason)) {
		util_err_set(err, errlen,
		    "revocation reason must be one of " CA_REVOCATION_REASONS
		    " (use suspend for certificateHold)");
		return CA_ERR_INVALID;
	}
	return transition(reg, device_id, from, REG_STATUS_REVOKED, reason,
	    "device.revoke", actor, err, errlen);
}

int ca_device_suspend(ca_t *ca, reg_t *reg, const char *device_id,
    const char *actor, char *err, size_t errlen)
{
	static const char *const from[] = { REG_STATUS_ACTIVE, NULL };

	(void)ca;
	return transition(reg, device_id, from, REG_STATUS_SUSPENDED,
	    REASON_HOLD, "device.suspend", actor, err, errlen);
}

int ca_device_reinstate(ca_t *ca, reg_t *reg, const char *device_id,
    const char *actor, char *err, size_t errlen)
{
	static const char *const from[] = { REG_STATUS_SUSPENDED, NULL };

	(void)ca;
	return transition(reg, device_id, from, REG_STATUS_ACTIVE, -1,
	    "device.reinstate", actor, err, errlen);
}

/* ---- CRL ------------------------------------------------------------ */

struct crl_build {
	X509_CRL *crl;
	int failed;
};

static int crl_add(void *arg, const char *serial_hex, int reason,
    int64_t revoked_at)
{
	struct crl_build *b = arg;
	X509_REVOKED *r = NULL;
	ASN1_INTEGER *sn = NULL;
	ASN1_TIME *t = NULL;
	ASN1_ENUMERATED *e = NULL;
	BIGNUM *bn = NULL;

	if ((r = X509_REVOKED_new()) == NULL ||
	    BN_hex2bn(&bn, serial_hex) == 0 ||
	    (sn = BN_to_ASN1_INTEGER(bn, NULL)) == NULL ||
	    X509_REVOKED_set_serialNumber(r, sn) != 1 ||
	    (t = ASN1_TIME_set(NULL, (time_t)revoked_at)) == NULL ||
	    X509_REVOKED_set_revocationDate(r, t) != 1)
		goto fail;
	/* unspecified (0) is expressed by omitting the extension. */
	if (reason > 0) {
		if ((e = ASN1_ENUMERATED_new()) == NULL ||
		    ASN1_ENUMERATED_set(e, reason) != 1 ||
		    X509_REVOKED_add1_ext_i2d(r, NID_crl_reason, e, 0, 0) != 1)
			goto fail;
	}
	if (X509_CRL_add0_revoked(b->crl, r) != 1)
		goto fail;
	r = NULL;
	ASN1_ENUMERATED_free(e);
	ASN1_TIME_free(t);
	ASN1_INTEGER_free(sn);
	BN_free(bn);
	return 0;
fail:
	b->failed = 1;
	X509_REVOKED_free(r);
	ASN1_ENUMERATED_free(e);
	ASN1_TIME_free(t);
	ASN1_INTEGER_free(sn);
	BN_free(bn);
	return 1;
}

/* Where a CRL comes from: its signer, its entries (ca_id > 0: the
 * certificates that CA signed; else issuer's), its cache row. */
struct crl_src {
	const char *cache_key;
	const char *issuer;
	int64_t ca_id;
	X509 *ica;
	EVP_PKEY *ikey;      /* NULL: retired, serve the last one */
	int64_t next_update; /* 0: now + crl_next_update_hours */
	int force;           /* sign a new one even if fresh */
};

/* The source of Device CA d's CRL. */
static struct crl_src dca_src(const struct ca_dca *d)
{
	struct crl_src s = { d->cache_key, REG_ISSUER_DEVICE, d->id, d->cert,
		d->key, 0, 0 };

	return s;
}

/* Build and sign src's CRL number `number` over its current entries. */
static int crl_build(ca_t *ca, reg_t *reg, const struct crl_src *src,
    reg_crl_t *out, int64_t number, int64_t now, char *err, size_t errlen)
{
	X509 *ica = src->ica;
	EVP_PKEY *ikey = src->ikey;
	struct crl_build b = { NULL, 0 };
	ASN1_TIME *tu = NULL, *nu = NULL;
	ASN1_INTEGER *num = NULL;
	X509_EXTENSION *aki = NULL;
	X509V3_CTX ctx;
	unsigned char *der = NULL;
	int len, rc = CA_ERR_INTERNAL;

	out->number = number;
	out->this_update = now;
	out->next_update = src->next_update > 0 ? src->next_update :
	                                          now +
	        (int64_t)ca->cfg.crl_next_update_hours * UTIL_SECONDS_PER_HOUR;
	if ((b.crl = X509_CRL_new()) == NULL ||
	    X509_CRL_set_version(b.crl, X509_CRL_VERSION_2) != 1 ||
	    X509_CRL_set_issuer_name(b.crl, X509_get_subject_name(ica)) != 1 ||
	    (tu = ASN1_TIME_set(NULL, (time_t)out->this_update)) == NULL ||
	    (nu = ASN1_TIME_set(NULL, (time_t)out->next_update)) == NULL ||
	    X509_CRL_set1_lastUpdate(b.crl, tu) != 1 ||
	    X509_CRL_set1_nextUpdate(b.crl, nu) != 1 ||
	    (num = ASN1_INTEGER_new()) == NULL ||
	    ASN1_INTEGER_set_int64(num, number) != 1 ||
	    X509_CRL_add1_ext_i2d(b.crl, NID_crl_number, num, 0, 0) != 1)
		goto ossl;
	X509V3_set_ctx(&ctx, ica, NULL, NULL, b.crl, 0);
	if ((aki = X509V3_EXT_conf_nid(NULL, &ctx, NID_authority_key_identifier,
	         "keyid:always")) == NULL ||
	    X509_CRL_add_ext(b.crl, aki, -1) != 1)
		goto ossl;
	rc = src->ca_id > 0 ?
	    reg_ca_crl_entries(reg, src->ca_id, crl_add, &b, err, errlen) :
	    reg_crl_entries(reg, src->issuer, crl_add, &b, err, errlen);
	if (b.failed)
		goto ossl;
	if (rc != 0) {
		rc = ca_from_reg(rc);
		goto out;
	}
	if (X509_CRL_sort(b.crl) != 1 ||
	    X509_CRL_sign(b.crl, ikey, EVP_sha256()) <= 0 ||
	    (len = i2d_X509_CRL(b.crl, &der)) <= 0)
		goto ossl;
	if ((out->der = malloc((size_t)len)) == NULL)
		goto ossl;
	memcpy(out->der, der, (size_t)len);
	out->der_len = (size_t)len;
	rc = CA_OK;
	goto out;
ossl:
	util_err_openssl(err, errlen, "build CRL");
	rc = CA_ERR_INTERNAL;
out:
	OPENSSL_free(der);
	X509_EXTENSION_free(aki);
	ASN1_INTEGER_free(num);
	ASN1_TIME_free(tu);
	ASN1_TIME_free(nu);
	X509_CRL_free(b.crl);
	return rc;
}

/* Is the cached CRL usable at now for generation gen? A retired CA's
 * last CRL always is (it signs nothing more). */
static int crl_fresh(const ca_t *ca, const struct crl_src *src,
    const reg_crl_t *c, int64_t gen, int64_t now)
{
	if (c->der != NULL && src->ikey == NULL)
		return 1;
	return c->der != NULL && c->generation == gen && !src->force &&
	    now + ca->cfg.crl_refresh_seconds < c->next_update;
}

int ca_crl_get(ca_t *ca, reg_t *reg, uint8_t **der, size_t *der_len,
    int64_t *next_update, char *err, size_t errlen)
{
	return ca_crl_issuer_get(ca, reg, REG_ISSUER_DEVICE, der, der_len,
	    next_update, err, errlen);
}

/* 1 when the registry has retired src's CA (a serve started before the
 * retirement still holds its key): its cached CRL is final. */
static int crl_is_final(reg_t *reg, const struct crl_src *src)
{
	char state[8], err[64];

	return reg_ca_state_get(reg, state, src->ca_id, err, sizeof(err)) ==
	    REG_OK &&
	    strcmp(state, REG_CA_RETIRED) == 0;
}

/* src's CRL: the cached one while fresh, else a new one signed and
 * cached in one transaction. */
static int crl_get(ca_t *ca, reg_t *reg, const struct crl_src *src,
    uint8_t **der, size_t *der_len, int64_t *next_update, char *err,
    size_t errlen)
{
	const char *issuer = src->cache_key;
	reg_crl_t c, fresh;
	int64_t gen = 0, now = reg_now();
	int rc, in_tx = 0;

	memset(&c, 0, sizeof(c));
	memset(&fresh, 0, sizeof(fresh));
	*der = NULL;
	*der_len = 0;
	/* Cheap path: no lock when the cache is current. */
	if ((rc = reg_crl_generation(reg, &gen)) != REG_OK) {
		util_err_set(err, errlen, "read CRL generation");
		return ca_from_reg(rc);
	}
	rc = reg_crl_cache_get(reg, &c, issuer, err, errlen);
	if (rc != REG_OK && rc != REG_ERR_NOT_FOUND)
		return ca_from_reg(rc);
	if (!crl_fresh(ca, src, &c, gen, now)) {
		reg_crl_clear(&c);
		if ((rc = ca_from_reg(reg_begin(reg, err, errlen))) != CA_OK)
			return rc;
		in_tx = 1;
		/* Another thread may have rebuilt it while we waited. */
		if ((rc = ca_from_reg(reg_crl_generation(reg, &gen))) != CA_OK)
			goto out;
		rc = reg_crl_cache_get(reg, &c, issuer, err, errlen);
		if (rc != REG_OK && rc != REG_ERR_NOT_FOUND) {
			rc = ca_from_reg(rc);
			goto out;
		}
		if (!crl_fresh(ca, src, &c, gen, now) &&
		    !(!src->force && src->ca_id > 0 && c.der != NULL &&
		        crl_is_final(reg, src))) {
			if (src->ikey == NULL) {
				util_err_set(err, errlen,
				    "retired CA: no "
				    "CRL was kept");
				rc = CA_ERR_NOT_FOUND;
				goto out;
			}
			if ((rc = crl_build(ca, reg, src, &fresh, c.number + 1,
			         now, err, errlen)) != CA_OK)
				goto out;
			fresh.generation = gen;
			if ((rc = ca_from_reg(reg_crl_cache_put(reg, issuer,
			         &fresh, err, errlen))) != CA_OK)
				goto out;
			reg_crl_clear(&c);
			c = fresh;
			memset(&fresh, 0, sizeof(fresh));
		}
		if ((rc = ca_from_reg(reg_commit(reg, err, errlen))) != CA_OK)
			goto out;
		in_tx = 0;
	}
	*der = c.der;
	*der_len = c.der_len;
	if (next_update != NULL)
		*next_update = c.next_update;
	c.der = NULL;
	rc = CA_OK;
out:
	if (in_tx)
		reg_rollback(reg);
	reg_crl_clear(&c);
	reg_crl_clear(&fresh);
	return rc;
}

int ca_crl_issuer_get(ca_t *ca, reg_t *reg, const char *issuer, uint8_t **der,
    size_t *der_len, int64_t *next_update, char *err, size_t errlen)
{
	*der = NULL;
	*der_len = 0;
	if (issuer == NULL ||
	    (strcmp(issuer, REG_ISSUER_DEVICE) != 0 &&
	        strcmp(issuer, REG_ISSUER_INFRA) != 0)) {
		util_err_set(err, errlen, "CRL issuer must be device or infra");
		return CA_ERR_INVALID;
	}
	/* "device": the first Device CA's, at its original URL. */
	if (strcmp(issuer, REG_ISSUER_DEVICE) == 0)
		return ca_crl_device_ca_get(ca, reg, 0, der, der_len,
		    next_update, err, errlen);
	/* "infra": the first Infrastructure CA's, at its original URL. */
	return ca_crl_infra_ca_get(ca, reg, 0, der, der_len, next_update, err,
	    errlen);
}

int ca_crl_infra_ca_get(ca_t *ca, reg_t *reg, int64_t id, uint8_t **der,
    size_t *der_len, int64_t *next_update, char *err, size_t errlen)
{
	const struct ca_set *set = ca_set_get(ca, reg, err, errlen);
	const struct ca_dca *d;
	struct crl_src src;

	*der = NULL;
	*der_len = 0;
	if (set == NULL)
		return CA_ERR_INTERNAL;
	if ((d = ca_set_ica(set, id)) == NULL) {
		util_err_set(err, errlen, "no such Infrastructure CA");
		return CA_ERR_NOT_FOUND;
	}
	src = dca_src(d);
	src.issuer = REG_ISSUER_INFRA;
	return crl_get(ca, reg, &src, der, der_len, next_update, err, errlen);
}

int ca_crl_dca_get(ca_t *ca, reg_t *reg, const struct ca_dca *d, uint8_t **der,
    size_t *der_len, int64_t *next_update, char *err, size_t errlen)
{
	struct crl_src src;

	*der = NULL;
	*der_len = 0;
	if (d == NULL) {
		util_err_set(err, errlen, "no such Device CA");
		return CA_ERR_NOT_FOUND;
	}
	src = dca_src(d);
	return crl_get(ca, reg, &src, der, der_len, next_update, err, errlen);
}

int ca_crl_device_ca_get(ca_t *ca, reg_t *reg, int64_t id, uint8_t **der,
    size_t *der_len, int64_t *next_update, char *err, size_t errlen)
{
	const struct ca_set *set = ca_set_get(ca, reg, err, errlen);

	if (set == NULL) {
		*der = NULL;
		*der_len = 0;
		return CA_ERR_INTERNAL;
	}
	return ca_crl_dca_get(ca, reg, ca_set_dca(set, id), der, der_len,
	    next_update, err, errlen);
}

int ca_crl_dca_final(ca_t *ca, reg_t *reg, const struct ca_dca *d,
    int64_t next_update, char *err, size_t errlen)
{
	struct crl_src src = dca_src(d);
	uint8_t *der = NULL;
	size_t len = 0;
	int rc;

	src.next_update = next_update;
	src.force = 1;
	rc = crl_get(ca, reg, &src, &der, &len, NULL, err, errlen);
	free(der);
	return rc;
}
