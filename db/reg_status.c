/* reg_status.c — one certificate's revocation state by issuer (or by the
 * CA of the CA set that signed it) and serial (for the OCSP responder). Uses only the public connection handle, one
 * statement per call. */
#include <stdio.h>
#include <string.h>

#include <sqlite3.h>

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
	sqlite3 *db = reg_sqlite(reg);
	sqlite3_stmt *st = NULL;
	int rc, s;

	memset(out, 0, sizeof(*out));
	out->reason = -1;
	if (db == NULL) {
		snprintf(err, errlen, "registry not open");
		return REG_ERR_INTERNAL;
	}
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "certificate status: %s", sqlite3_errmsg(db));
		return REG_ERR_INTERNAL;
	}
	if ((issuer != NULL ? sqlite3_bind_text(st, 1, issuer, -1,
	    SQLITE_STATIC) : sqlite3_bind_int64(st, 1, ca_id)) != SQLITE_OK ||
	    sqlite3_bind_text(st, 2, serial_hex, -1, SQLITE_STATIC) != SQLITE_OK) {
		snprintf(err, errlen, "certificate status: %s", sqlite3_errmsg(db));
		rc = REG_ERR_INTERNAL;
		goto out;
	}
	s = sqlite3_step(st);
	if (s == SQLITE_DONE) {
		snprintf(err, errlen, "no certificate with this serial");
		rc = REG_ERR_NOT_FOUND;
		goto out;
	}
	if (s != SQLITE_ROW) {
		snprintf(err, errlen, "certificate status: %s", sqlite3_errmsg(db));
		rc = s == SQLITE_BUSY ? REG_ERR_BUSY : REG_ERR_INTERNAL;
		goto out;
	}
	if (sqlite3_column_type(st, 3) != SQLITE_NULL) {
		/* A device certificate: the device row holds the status. */
		const char *status = (const char *)sqlite3_column_text(st, 3);

		if (status != NULL && strcmp(status, REG_STATUS_ACTIVE) != 0) {
			out->revoked = 1;
			out->reason = sqlite3_column_type(st, 4) == SQLITE_NULL ? 0 :
			    sqlite3_column_int(st, 4);
			out->revoked_at = sqlite3_column_int64(st, 5);
		}
	} else if (sqlite3_column_int(st, 0) == 1) {
		out->revoked = 1;
		out->reason = sqlite3_column_type(st, 1) == SQLITE_NULL ? 0 :
		    sqlite3_column_int(st, 1);
		out->revoked_at = sqlite3_column_int64(st, 2);
	}
	rc = REG_OK;
out:
	sqlite3_finalize(st);
	return rc;
}

int reg_cert_status(reg_t *reg, reg_cert_status_t *out, const char *issuer,
    const char *serial_hex, char *err, size_t errlen)
{
	return status_query(reg, out, STATUS_SELECT
	    " WHERE c.issuer = ?1 AND c.serial_hex = ?2", issuer, 0, serial_hex,
	    err, errlen);
}

int reg_cert_status_ca(reg_t *reg, reg_cert_status_t *out, int64_t ca_id,
    const char *serial_hex, char *err, size_t errlen)
{
	return status_query(reg, out, STATUS_SELECT
	    " WHERE c.ca_id = ?1 AND c.serial_hex = ?2", NULL, ca_id,
	    serial_hex, err, errlen);
}
