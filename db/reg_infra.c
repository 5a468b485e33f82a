/* reg_infra.c — revoking the certificates of a principal, and the
 * questions a renewal asks (who else holds a key, how many valid
 * certificates a principal has). Certificates of
 * devices carry their state on the device row; a principal's certificate
 * carries it on its own row (revoked, revoked_reason, revoked_at), which the
 * Infrastructure CA's CRL and client authentication both read. */
#include <stdio.h>
#include <string.h>

#include "reg_infra.h"
#include "reg_priv.h"

int reg_principal_certs_revoke(reg_t *reg, const char *name, int reason,
    int64_t at, int *count, char *serials, size_t serialslen, char *err,
    size_t errlen)
{
	static const char pick[] =
	    "SELECT c.serial_hex FROM certificates c"
	    " JOIN principals p ON p.id = c.principal_id"
	    " WHERE p.name = ?1 AND c.revoked = 0 ORDER BY c.id";
	static const char mark[] =
	    "UPDATE certificates SET revoked = 1, revoked_reason = ?2,"
	    " revoked_at = ?3 WHERE revoked = 0 AND principal_id ="
	    " (SELECT id FROM principals WHERE name = ?1)";
	static const char bump[] = "UPDATE counters SET value = value + 1"
	                           " WHERE name = 'crl_generation'";
	db_stmt_t *st = NULL;
	size_t used = 0;
	int rc, s;

	*count = 0;
	if (serials != NULL && serialslen > 0)
		serials[0] = '\0';
	if (reason < 0 || reason > 10) {
		snprintf(err, errlen, "revocation reason out of range");
		return REG_ERR_INVALID;
	}
	if ((rc = reg_prepare(reg, &st, pick, err, errlen)) != REG_OK)
		return rc;
	reg_bind_text(st, 1, name);
	while ((s = db_step(st)) == DB_ROW) {
		const char *sn = (const char *)db_col_text(st, 0);
		size_t n;

		if (serials == NULL || sn == NULL || used + 4 >= serialslen)
			continue;
		n = strlen(sn) + (used > 0);
		if (used + n + 4 >= serialslen) {
			snprintf(serials + used, serialslen - used, "...");
			used = serialslen;
			continue;
		}
		used += (size_t)snprintf(serials + used, serialslen - used,
		    "%s%s", used > 0 ? "," : "", sn);
	}
	if (s != DB_DONE) {
		rc = reg_fail(reg, s, err, errlen, "principal certificates");
		goto out;
	}
	reg_finalize(reg, st);
	st = NULL;
	if ((rc = reg_prepare(reg, &st, mark, err, errlen)) != REG_OK)
		goto out;
	reg_bind_text(st, 1, name);
	db_bind_int64(st, 2, reason);
	db_bind_int64(st, 3, at);
	if ((s = db_step(st)) != DB_DONE) {
		rc = reg_fail(reg, s, err, errlen, "revoke certificates");
		goto out;
	}
	*count = db_changes(st);
	reg_finalize(reg, st);
	st = NULL;
	if (*count == 0)
		goto out;
	if ((rc = reg_prepare(reg, &st, bump, err, errlen)) != REG_OK)
		goto out;
	if ((s = db_step(st)) != DB_DONE)
		rc = reg_fail(reg, s, err, errlen, "crl generation");
out:
	reg_finalize(reg, st);
	return rc;
}

int reg_key_other_holder(reg_t *reg, char *holder, size_t holderlen,
    int *is_device, const char *spki_sha256_hex, const char *name, char *err,
    size_t errlen)
{
	static const char q[] =
	    "SELECT c.device_id, p.name FROM certificates c"
	    " LEFT JOIN principals p ON p.id = c.principal_id"
	    " WHERE c.spki_sha256 = ?1"
	    " AND (c.device_id IS NOT NULL OR p.name IS NULL OR p.name <> ?2)"
	    " ORDER BY c.device_id IS NULL LIMIT 1";
	db_stmt_t *st = NULL;
	int rc, s;

	*is_device = 0;
	if (holderlen > 0)
		holder[0] = '\0';
	if ((rc = reg_prepare(reg, &st, q, err, errlen)) != REG_OK)
		return rc;
	reg_bind_text(st, 1, spki_sha256_hex);
	reg_bind_text(st, 2, name);
	s = db_step(st);
	if (s == DB_ROW) {
		*is_device = !db_col_is_null(st, 0);
		reg_col_copy(holder, holderlen, st, *is_device ? 0 : 1);
		rc = REG_OK;
	} else if (s == DB_DONE) {
		rc = REG_ERR_NOT_FOUND;
	} else {
		rc = reg_fail(reg, s, err, errlen, "key holder");
	}
	reg_finalize(reg, st);
	return rc;
}

int reg_principal_valid_certs(reg_t *reg, int64_t *out, const char *name,
    int64_t now, char *err, size_t errlen)
{
	static const char q[] =
	    "SELECT count(*) FROM certificates c"
	    " JOIN principals p ON p.id = c.principal_id"
	    " WHERE p.name = ?1 AND c.revoked = 0 AND c.not_after > ?2";
	db_stmt_t *st = NULL;
	int rc, s;

	*out = 0;
	if ((rc = reg_prepare(reg, &st, q, err, errlen)) != REG_OK)
		return rc;
	reg_bind_text(st, 1, name);
	db_bind_int64(st, 2, now);
	s = db_step(st);
	if (s == DB_ROW)
		*out = db_col_int64(st, 0);
	else
		rc = reg_fail(reg, s, err, errlen, "valid certificates");
	reg_finalize(reg, st);
	return rc;
}
