/* reg_status.c — one certificate's revocation state by issuer (or by the
 * CA of the CA set that signed it) and serial (for the OCSP responder),
 * one cached statement per call. */
#include <stdio.h>
#include <string.h>

#include "reg_priv.h"
#include "reg_status.h"

#define STATUS_SELECT \
	"SELECT c.revoked, c.revoked_reason, c.revoked_at, d.status," \
	" d.reason, d.revoked_at FROM certificates c" \
	" LEFT JOIN devices d ON d.device_id = c.device_id"

/* Run one status query (sql: ?1 issuer text or CA id, ?2 the serial). */
static int status_query(reg_t *reg, reg_cert_status_t *out, const char *sql,
    const char *issuer, int64_t ca_id, const char *serial_hex, char *err,
    size_t errlen)
{
	db_stmt_t *st = NULL;
	int rc, s;

	memset(out, 0, sizeof(*out));
	out->reason = -1;
	if ((rc = reg_prepare(reg, &st, sql, err, errlen)) != REG_OK)
		return rc;
	if ((issuer != NULL ? db_bind_text(st, 1, issuer) :
	                      db_bind_int64(st, 1, ca_id)) != DB_OK ||
	    db_bind_text(st, 2, serial_hex) != DB_OK) {
		rc = reg_fail(reg, DB_ERROR, err, errlen, "certificate status");
		goto out;
	}
	s = db_step(st);
	if (s == DB_DONE) {
		snprintf(err, errlen, "no certificate with this serial");
		rc = REG_ERR_NOT_FOUND;
		goto out;
	}
	if (s != DB_ROW) {
		rc = reg_fail(reg, s, err, errlen, "certificate status");
		goto out;
	}
	if (!db_col_is_null(st, 3)) {
		/* A device certificate: the device row holds the status. */
		const char *status = (const char *)db_col_text(st, 3);

		if (status != NULL && strcmp(status, REG_STATUS_ACTIVE) != 0) {
			out->revoked = 1;
			out->reason =
			    db_col_is_null(st, 4) ? 0 : db_col_int(st, 4);
			out->revoked_at = db_col_int64(st, 5);
		}
	} else if (db_col_int(st, 0) == 1) {
		out->revoked = 1;
		out->reason = db_col_is_null(st, 1) ? 0 : db_col_int(st, 1);
		out->revoked_at = db_col_int64(st, 2);
	}
	rc = REG_OK;
out:
	reg_finalize(reg, st);
	return rc;
}

int reg_cert_status(reg_t *reg, reg_cert_status_t *out, const char *issuer,
    const char *serial_hex, char *err, size_t errlen)
{
	return status_query(reg, out,
	    STATUS_SELECT " WHERE c.issuer = ?1 AND c.serial_hex = ?2", issuer,
	    0, serial_hex, err, errlen);
}

int reg_cert_status_ca(reg_t *reg, reg_cert_status_t *out, int64_t ca_id,
    const char *serial_hex, char *err, size_t errlen)
{
	return status_query(reg, out,
	    STATUS_SELECT " WHERE c.ca_id = ?1 AND c.serial_hex = ?2", NULL,
	    ca_id, serial_hex, err, errlen);
}
