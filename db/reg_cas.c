/* reg_cas.c — the CA set's rows (table cas) and the certificates each CA
 * signed: insert, list, issuing/active/retired transitions, adoption of an
 * older registry's certificates, a CA's CRL entries. */
#include "reg_cas.h"
#include "reg_priv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

int reg_ca_insert(reg_t *reg, int64_t *id_out, const reg_ca_new_t *c, char *err,
    size_t errlen)
{
	db_stmt_t *st = NULL;
	int rc;

	if (c->der == NULL || c->der_len == 0 || c->der_len > INT32_MAX ||
	    strlen(c->key_ref) > REG_CA_KEY_REF_MAX ||
	    strlen(c->subject) > REG_CA_SUBJECT_MAX) {
		util_err_set(err, errlen, "CA record out of bounds");
		return REG_ERR_INVALID;
	}
	if ((rc = reg_prepare(reg, &st,
	         "INSERT INTO cas(role, cert_der,"
	         " cert_sha256, subject, key_ref, state, created_at) VALUES (?, ?,"
	         " ?, ?, ?, ?, ?)",
	         err, errlen)) != REG_OK)
		return rc;
	reg_bind_text(st, 1, c->role);
	db_bind_blob(st, 2, c->der, c->der_len);
	reg_bind_text(st, 3, c->cert_sha256);
	reg_bind_text(st, 4, c->subject);
	reg_bind_text(st, 5, c->key_ref);
	reg_bind_text(st, 6, c->state);
	db_bind_int64(st, 7, reg_now());
	if ((rc = db_step(st)) == DB_DONE) {
		rc = REG_OK;
		*id_out = db_last_id(reg->c);
	} else {
		rc = reg_fail(reg, rc, err, errlen, "insert CA");
	}
	reg_finalize(reg, st);
	return rc;
}

/* Fill c from a row of the list query; -1 when out of memory. */
static int ca_row(reg_ca_t *c, db_stmt_t *st)
{
	const void *der = db_col_blob(st, 4);
	int len = (int)db_col_bytes(st, 4);

	memset(c, 0, sizeof(*c));
	c->id = db_col_int64(st, 0);
	reg_col_copy(c->role, sizeof(c->role), st, 1);
	reg_col_copy(c->state, sizeof(c->state), st, 2);
	reg_col_copy(c->key_ref, sizeof(c->key_ref), st, 3);
	reg_col_copy(c->subject, sizeof(c->subject), st, 5);
	reg_col_copy(c->cert_sha256, sizeof(c->cert_sha256), st, 6);
	c->created_at = db_col_int64(st, 7);
	c->retired_at = db_col_int64(st, 8);
	if (der == NULL || len <= 0 || (c->der = malloc((size_t)len)) == NULL)
		return -1;
	memcpy(c->der, der, (size_t)len);
	c->der_len = (size_t)len;
	return 0;
}

int reg_ca_list(reg_t *reg, reg_ca_t **out, size_t *n, const char *role,
    char *err, size_t errlen)
{
	db_stmt_t *st = NULL;
	reg_ca_t *list = NULL, *grown;
	size_t cnt = 0, cap = 0;
	int rc, s;

	*out = NULL;
	*n = 0;
	if ((rc = reg_prepare(reg, &st,
	         "SELECT id, role, state, key_ref,"
	         " cert_der, subject, cert_sha256, created_at, retired_at FROM cas"
	         " WHERE ?1 IS NULL OR role = ?1 ORDER BY id",
	         err, errlen)) != REG_OK)
		return rc;
	reg_bind_text(st, 1, role);
	while ((s = db_step(st)) == DB_ROW) {
		if (cnt == cap) {
			cap = cap ? cap * 2 : 4;
			if ((grown = realloc(list, cap * sizeof(*list))) ==
			    NULL)
				goto nomem;
			list = grown;
		}
		if (ca_row(&list[cnt], st) != 0)
			goto nomem;
		cnt++;
	}
	if (s != DB_DONE) {
		rc = reg_fail(reg, s, err, errlen, "CA list");
		goto fail;
	}
	reg_finalize(reg, st);
	*out = list;
	*n = cnt;
	return REG_OK;
nomem:
	util_err_set(err, errlen, "out of memory");
	rc = REG_ERR_INTERNAL;
fail:
	reg_finalize(reg, st);
	reg_ca_list_free(list, cnt);
	return rc;
}

void reg_ca_list_free(reg_ca_t *list, size_t n)
{
	size_t i;

	if (list == NULL)
		return;
	for (i = 0; i < n; i++)
		free(list[i].der);
	free(list);
}

/* Run one statement binding ?1 = id and, when it has one, ?2 = v. */
static int exec_id(reg_t *reg, const char *sql, int64_t id, int64_t v,
    char *err, size_t errlen)
{
	db_stmt_t *st = NULL;
	int rc;

	if ((rc = reg_prepare(reg, &st, sql, err, errlen)) != REG_OK)
		return rc;
	if (db_bind_int64(st, 1, id) != DB_OK ||
	    (db_bind_count(st) >= 2 && db_bind_int64(st, 2, v) != DB_OK))
		rc = reg_fail(reg, DB_ERROR, err, errlen, "CA state bind");
	else if ((rc = db_step(st)) == DB_DONE)
		rc = REG_OK;
	else
		rc = reg_fail(reg, rc, err, errlen, "CA state");
	reg_finalize(reg, st);
	return rc;
}

int reg_ca_state_get(reg_t *reg, char out[8], int64_t id, char *err,
    size_t errlen)
{
	db_stmt_t *st = NULL;
	int rc;

	if ((rc = reg_prepare(reg, &st, "SELECT state FROM cas WHERE id = ?",
	         err, errlen)) != REG_OK)
		return rc;
	db_bind_int64(st, 1, id);
	if ((rc = db_step(st)) == DB_ROW) {
		reg_col_copy(out, 8, st, 0);
		rc = REG_OK;
	} else if (rc == DB_DONE) {
		util_err_set(err, errlen, "no CA with id %lld", (long long)id);
		rc = REG_ERR_NOT_FOUND;
	} else {
		rc = reg_fail(reg, rc, err, errlen, "CA state");
	}
	reg_finalize(reg, st);
	return rc;
}

int reg_ca_activate(reg_t *reg, int64_t id, char *err, size_t errlen)
{
	char state[8];
	int rc;

	if ((rc = reg_ca_state_get(reg, state, id, err, errlen)) != REG_OK)
		return rc;
	if (strcmp(state, REG_CA_RETIRED) == 0) {
		util_err_set(err, errlen, "CA %lld is retired", (long long)id);
		return REG_ERR_INVALID;
	}
	if ((rc = exec_id(reg,
	         "UPDATE cas SET state = 'active' WHERE state ="
	         " 'issuing' AND role = (SELECT role FROM cas WHERE id = ?1) AND"
	         " id <> ?1",
	         id, 0, err, errlen)) != REG_OK)
		return rc;
	return exec_id(reg,
	    "UPDATE cas SET state = 'issuing' WHERE id = ?1"
	    "",
	    id, 0, err, errlen);
}

int reg_ca_retire(reg_t *reg, int64_t id, char *err, size_t errlen)
{
	char state[8];
	int rc;

	if ((rc = reg_ca_state_get(reg, state, id, err, errlen)) != REG_OK)
		return rc;
	if (strcmp(state, REG_CA_ACTIVE) != 0) {
		util_err_set(err, errlen,
		    "CA %lld is %s: only an active CA "
		    "(not issuing) can be retired",
		    (long long)id, state);
		return REG_ERR_INVALID;
	}
	return exec_id(reg,
	    "UPDATE cas SET state = 'retired', retired_at = ?2"
	    " WHERE id = ?1",
	    id, reg_now(), err, errlen);
}

/* Append "id:role:state:cert_sha256" of the current row of st to out at
 * *off (a ',' before all but the first); -1 when it does not fit. */
static int stamp_add(char *out, size_t outlen, size_t *off, db_stmt_t *st)
{
	const char *role = db_col_text(st, 1), *state = db_col_text(st, 2),
	           *sha = db_col_text(st, 3);
	int n;

	n = snprintf(out + *off, outlen - *off, "%s%lld:%s:%s:%s",
	    *off ? "," : "", (long long)db_col_int64(st, 0),
	    role != NULL ? role : "", state != NULL ? state : "",
	    sha != NULL ? sha : "");
	if (n < 0 || (size_t)n >= outlen - *off)
		return -1;
	*off += (size_t)n;
	return 0;
}

int reg_ca_stamp(reg_t *reg, char *out, size_t outlen, char *err, size_t errlen)
{
	db_stmt_t *st = NULL;
	size_t off = 0;
	int rc, s;

	if (outlen == 0) {
		util_err_set(err, errlen, "CA set stamp too long");
		return REG_ERR_INVALID;
	}
	out[0] = '\0';
	/* Concatenated here, not in SQL: the same on both engines. */
	if ((rc = reg_prepare(reg, &st,
	         "SELECT id, role, state, cert_sha256"
	         " FROM cas ORDER BY id",
	         err, errlen)) != REG_OK)
		return rc;
	rc = REG_OK;
	while ((s = db_step(st)) == DB_ROW)
		if (stamp_add(out, outlen, &off, st) != 0) {
			util_err_set(err, errlen, "CA set stamp too long");
			rc = REG_ERR_INVALID;
			break;
		}
	if (rc == REG_OK && s != DB_DONE)
		rc = reg_fail(reg, s, err, errlen, "CA set stamp");
	reg_finalize(reg, st);
	return rc;
}

int reg_ca_cert_replace(reg_t *reg, int64_t id, const uint8_t *der,
    size_t der_len, const char *cert_sha256, const char *subject, char *err,
    size_t errlen)
{
	db_stmt_t *st = NULL;
	int rc;

	if (der == NULL || der_len == 0 || der_len > INT32_MAX ||
	    strlen(subject) > REG_CA_SUBJECT_MAX) {
		util_err_set(err, errlen, "CA record out of bounds");
		return REG_ERR_INVALID;
	}
	if ((rc = reg_prepare(reg, &st,
	         "UPDATE cas SET cert_der = ?,"
	         " cert_sha256 = ?, subject = ? WHERE id = ?",
	         err, errlen)) != REG_OK)
		return rc;
	db_bind_blob(st, 1, der, der_len);
	reg_bind_text(st, 2, cert_sha256);
	reg_bind_text(st, 3, subject);
	db_bind_int64(st, 4, id);
	if ((rc = db_step(st)) != DB_DONE)
		rc = reg_fail(reg, rc, err, errlen, "replace CA certificate");
	else if (db_changes(st) == 0) {
		util_err_set(err, errlen, "no CA with id %lld", (long long)id);
		rc = REG_ERR_NOT_FOUND;
	} else
		rc = REG_OK;
	reg_finalize(reg, st);
	return rc;
}

int reg_ca_adopt(reg_t *reg, int64_t id, const char *role, char *err,
    size_t errlen)
{
	return exec_id(reg,
	    strcmp(role, REG_CA_ROLE_INFRA) == 0 ?
	        "UPDATE certificates SET ca_id = ?1 WHERE issuer = 'infra' AND"
	        " ca_id IS NULL" :
	        "UPDATE certificates SET ca_id = ?1 WHERE"
	        " issuer = 'device' AND ca_id IS NULL",
	    id, 0, err, errlen);
}

int reg_ca_live_certs(reg_t *reg, int64_t *out, int64_t id, char *err,
    size_t errlen)
{
	db_stmt_t *st = NULL;
	int rc;

	*out = 0;
	if ((rc = reg_prepare(reg, &st,
	         "SELECT count(*) FROM certificates"
	         " WHERE ca_id = ?1 AND issuer = 'infra' AND revoked = 0 AND"
	         " not_after > ?2",
	         err, errlen)) != REG_OK)
		return rc;
	db_bind_int64(st, 1, id);
	db_bind_int64(st, 2, reg_now());
	if ((rc = db_step(st)) == DB_ROW) {
		*out = db_col_int64(st, 0);
		rc = REG_OK;
	} else {
		rc = reg_fail(reg, rc, err, errlen, "CA certificates");
	}
	reg_finalize(reg, st);
	return rc;
}

int reg_ca_crl_entries(reg_t *reg, int64_t ca_id, reg_crl_entry_fn fn,
    void *arg, char *err, size_t errlen)
{
	db_stmt_t *st = NULL;
	int rc;

	if ((rc = reg_prepare(reg, &st,
	         "SELECT c.serial_hex, d.reason, d.revoked_at FROM certificates c"
	         " JOIN devices d ON d.device_id = c.device_id"
	         " WHERE c.issuer = 'device' AND c.ca_id = ?1 AND"
	         " d.status <> 'active'"
	         " UNION ALL SELECT serial_hex, coalesce(revoked_reason, 0),"
	         " revoked_at FROM certificates WHERE issuer = 'infra' AND"
	         " ca_id = ?1 AND revoked = 1 ORDER BY 1",
	         err, errlen)) != REG_OK)
		return rc;
	db_bind_int64(st, 1, ca_id);
	return reg_crl_rows(reg, st, fn, arg, err, errlen, "CA CRL entries");
}
