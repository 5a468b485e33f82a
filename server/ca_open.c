/* ca_open.c — the CA as its callers hold it: ca_open assembles the
 * immutable CA (ca.c), the fast path's fetched digests and parameter keys
 * (ca_fast.c) and the runtime (ca_set.c: the current CA set; ca_issue.c:
 * the group commit), and ca_free takes them apart; the CA certificates'
 * accessors, whose Device CA is the current set's issuing one. The top of
 * the engine: nothing below calls into this file. */
#include "ca_priv.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "util.h"

void ca_free(ca_t *ca)
{
	if (ca == NULL)
		return;
	if (ca->rt != NULL)
		ca_group_close(ca->rt);
	ca_rt_free(ca);
	ca_fast_free(ca);
	ca_core_free(ca);
	free(ca);
}

int ca_open(ca_t **out, const char *data_dir, const char *key_pass_file,
    char *err, size_t errlen)
{
	return ca_open_pass(out, data_dir, key_pass_file, NULL, err, errlen);
}

int ca_open_pass(ca_t **out, const char *data_dir, const char *pass_file,
    const char *pass_env, char *err, size_t errlen)
{
	char pass[CA_PASS_MAX + 1];
	int rc;

	*out = NULL;
	if ((rc = ca_pass_get(pass, pass_file, pass_env, err, errlen)) ==
	    CA_OK)
		rc = ca_open_with_pass(out, data_dir, pass, err, errlen);
	OPENSSL_cleanse(pass, sizeof(pass));
	return rc;
}

int ca_open_with_pass(ca_t **out, const char *data_dir, const char *pass,
    char *err, size_t errlen)
{
	ca_t *ca;
	reg_t *reg = NULL;
	int rc;

	*out = NULL;
	if ((ca = calloc(1, sizeof(*ca))) == NULL) {
		util_err_set(err, errlen, "out of memory");
		return CA_ERR_INTERNAL;
	}
	/* Migrations first, once, before any worker thread opens (the CA
	 * set's table may be new). */
	if ((rc = ca_core_load(ca, data_dir, pass, err, errlen)) != CA_OK ||
	    (rc = ca_from_reg(reg_open_existing(&reg, ca->db_path, err,
	    errlen))) != CA_OK)
		goto fail;
	reg_close(reg);
	if ((rc = ca_fast_init(ca, err, errlen)) != CA_OK ||
	    (rc = ca_rt_open(ca, err, errlen)) != CA_OK ||
	    (rc = ca_group_open(ca->rt, ca->db_path, err, errlen)) != CA_OK)
		goto fail;
	*out = ca;
	return CA_OK;
fail:
	ca_free(ca);
	return rc;
}

const char *ca_cert_pem(const ca_t *ca, ca_cert_t which)
{
	if (which == CA_CERT_DEVICE)
		return ca_set_issuing(ca_set_peek(ca))->pem;
	return (unsigned)which < 3 ? ca->pem[which] : NULL;
}

int ca_cert_der(const ca_t *ca, ca_cert_t which, const uint8_t **der,
    size_t *len)
{
	const struct ca_dca *d;

	if ((unsigned)which >= 3)
		return CA_ERR_INVALID;
	if (which == CA_CERT_DEVICE) {
		d = ca_set_issuing(ca_set_peek(ca));
		*der = d->der;
		*len = d->der_len;
		return CA_OK;
	}
	*der = ca->der[which];
	*len = ca->der_len[which];
	return CA_OK;
}
