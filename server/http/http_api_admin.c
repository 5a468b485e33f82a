/* http_api_admin.c — administrator routes for principals (list, create
 * from a CSR, disable) and the audit log. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "http_api.h"

/* GET /api/v1/principals */
int api_h_principal_list(http_req_t *req)
{
	reg_principal_t *list = NULL;
	size_t n = 0, i;
	cJSON *out = NULL, *arr;
	char err[256];
	int status;
	reg_t *reg;

	if ((reg = http_req_reg(req)) == NULL)
		return api_reply_no_db(req);
	if (reg_principal_list(reg, &list, &n, err, sizeof(err)) != REG_OK) {
		http_count_db_error(req);
		return http_reply_problem(req, 500, PT_INTERNAL, "Internal error",
		                          "the registry could not be read");
	}
	out = cJSON_CreateObject();
	arr = out != NULL ? cJSON_AddArrayToObject(out, "principals") : NULL;
	if (arr == NULL)
		goto oom;
	for (i = 0; i < n; i++) {
		const reg_principal_t *p = &list[i];
		cJSON *o = cJSON_CreateObject();

		if (o == NULL || !cJSON_AddItemToArray(arr, o) ||
		    cJSON_AddStringToObject(o, "name", p->name) == NULL ||
		    cJSON_AddStringToObject(o, "role", p->role) == NULL ||
		    (p->manufacturer_id[0] != '\0'
		         ? cJSON_AddStringToObject(o, "manufacturer_id", p->manufacturer_id)
		         : cJSON_AddNullToObject(o, "manufacturer_id")) == NULL ||
		    cJSON_AddStringToObject(o, "status", p->status) == NULL ||
		    cJSON_AddStringToObject(o, "certificate_sha256", p->cert_sha256) == NULL ||
		    cJSON_AddStringToObject(o, "certificate_serial", p->cert_serial_hex) == NULL ||
		    cJSON_AddBoolToObject(o, "certificate_revoked", p->cert_revoked) == NULL ||
		    api_add_time(o, "not_after", p->not_after) != 0 ||
		    api_add_time(o, "created_at", p->created_at) != 0)
			goto oom;
	}
	status = http_reply_json(req, 200, out);
	goto done;
oom:
	status = http_reply_problem(req, 500, PT_INTERNAL, "Internal error", "out of memory");
done:
	free(list);
	cJSON_Delete(out);
	return status;
}

/* POST /api/v1/principals {name, role, manufacturer_id?, csr} */
int api_h_principal_create(http_req_t *req)
{
	cJSON *body = http_json_body(req), *out = NULL;
	const char *name, *role, *mfr, *csr;
	ca_principal_attrs_t attrs;
	ca_principal_creds_t creds;
	char err[256];
	int status, rc;
	reg_t *reg;

	memset(&creds, 0, sizeof(creds));
	if (body == NULL)
		return req->status;
	if ((status = api_json_string(&name, req, body, "name", REG_NAME_MAX, 1)) != 0 ||
	    (status = api_json_string(&role, req, body, "role", 15, 1)) != 0 ||
	    (status = api_json_string(&mfr, req, body, "manufacturer_id", REG_MFR_ID_MAX, 0)) != 0 ||
	    (status = api_json_string(&csr, req, body, "csr", API_CSR_MAX, 1)) != 0)
		goto out;
	if (strcmp(role, REG_ROLE_ADMIN) != 0 && strcmp(role, REG_ROLE_OPERATOR) != 0 &&
	    strcmp(role, REG_ROLE_MANUFACTURER) != 0 && strcmp(role, REG_ROLE_SIGNER) != 0) {
		status = http_reply_problem(req, 422, PT_FIELD, "Invalid field",
		                            "role must be admin, operator, manufacturer or signer");
		goto out;
	}
	if ((strcmp(role, REG_ROLE_MANUFACTURER) == 0) != (mfr != NULL && mfr[0] != '\0')) {
		status = http_reply_problem(req, 422, PT_FIELD, "Invalid field",
		                            "manufacturer_id is required for, and only for, role manufacturer");
		goto out;
	}
	if (api_csr_check(csr, err, sizeof(err)) != 0) {
		status = http_reply_problem(req, 400, PT_BAD_CSR, "Invalid CSR", err);
		goto out;
	}
	if ((reg = http_req_reg(req)) == NULL) {
		status = api_reply_no_db(req);
		goto out;
	}
	attrs.name = name;
	attrs.role = role;
	attrs.manufacturer_id = mfr;
	rc = ca_principal_add_csr(req->srv->ca, reg, &creds, &attrs, (const uint8_t *)csr,
	                          strlen(csr), req->principal.name, err, sizeof(err));
	if (rc == CA_ERR_NOT_FOUND) {
		status = http_reply_problem(req, 422, PT_FIELD, "Invalid field",
		                            "manufacturer_id names no registered manufacturer");
		goto out;
	}
	if (rc != CA_OK) {
		status = api_reply_ca_error(req, rc, err);
		goto out;
	}
	atomic_fetch_add(&req->srv->metrics.issued, 1);
	out = cJSON_CreateObject();
	if (out == NULL || cJSON_AddStringToObject(out, "name", name) == NULL ||
	    cJSON_AddStringToObject(out, "role", role) == NULL ||
	    cJSON_AddStringToObject(out, "certificate", creds.cert_pem) == NULL ||
	    cJSON_AddStringToObject(out, "chain", creds.chain_pem) == NULL) {
		status = http_reply_problem(req, 500, PT_INTERNAL, "Internal error",
		                            "the principal exists but its certificate could not be sent");
		goto out;
	}
	status = http_reply_json(req, 201, out);
out:
	ca_principal_creds_clear(&creds);
	cJSON_Delete(out);
	cJSON_Delete(body);
	return status;
}

/* POST /api/v1/principals/{name}/disable */
int api_h_principal_disable(http_req_t *req)
{
	const char *name = req->params[0];
	reg_principal_t p;
	cJSON *out = NULL;
	char err[256];
	int rc, status;
	reg_t *reg;

	if (strlen(name) > REG_NAME_MAX)
		return http_reply_problem(req, 404, PT_NOT_FOUND, "Not found",
		                          "no principal has this name");
	if ((reg = http_req_reg(req)) == NULL)
		return api_reply_no_db(req);
	rc = ca_principal_disable(req->srv->ca, reg, name, req->principal.name, err, sizeof(err));
	if (rc == CA_ERR_NOT_FOUND)
		return http_reply_problem(req, 404, PT_NOT_FOUND, "Not found",
		                          "no principal has this name");
	if (rc != CA_OK)
		return api_reply_ca_error(req, rc, err);
	rc = reg_principal_get(reg, &p, name, err, sizeof(err));
	out = cJSON_CreateObject();
	if (rc != REG_OK || out == NULL ||
	    cJSON_AddStringToObject(out, "name", p.name) == NULL ||
	    cJSON_AddStringToObject(out, "status", p.status) == NULL) {
		cJSON_Delete(out);
		return http_reply_problem(req, 500, PT_INTERNAL, "Internal error",
		                          "the change is committed but could not be read back");
	}
	status = http_reply_json(req, 200, out);
	cJSON_Delete(out);
	return status;
}

/* GET /api/v1/audit?cursor=&limit=&actor=&action=&target= */
int api_h_audit_list(http_req_t *req)
{
	reg_audit_filter_t f;
	reg_audit_t *list = NULL;
	size_t n = 0, i;
	int64_t next = 0;
	char actor[REG_NAME_MAX + 18], action[34], target[REG_DEVICE_ID_MAX + 2], err[256], cur[32];
	cJSON *out = NULL, *arr;
	int status, q;
	reg_t *reg;

	memset(&f, 0, sizeof(f));
	if ((status = api_page_params(&f.after, &f.limit, req)) != 0)
		return status;
	if ((q = http_query_get(req, "actor", actor, sizeof(actor))) == -2 ||
	    (q >= 0 && (f.actor = actor, 0)) ||
	    (q = http_query_get(req, "action", action, sizeof(action))) == -2 ||
	    (q >= 0 && (f.action = action, 0)) ||
	    (q = http_query_get(req, "target", target, sizeof(target))) == -2 ||
	    (q >= 0 && (f.target = target, 0)))
		return http_reply_problem(req, 400, PT_QUERY, "Invalid query parameter",
		                          "actor, action or target is too long");
	if ((reg = http_req_reg(req)) == NULL)
		return api_reply_no_db(req);
	if (reg_audit_list(reg, &list, &n, &next, &f, err, sizeof(err)) != REG_OK) {
		http_count_db_error(req);
		return http_reply_problem(req, 500, PT_INTERNAL, "Internal error",
		                          "the registry could not be read");
	}
	out = cJSON_CreateObject();
	arr = out != NULL ? cJSON_AddArrayToObject(out, "entries") : NULL;
	if (arr == NULL)
		goto oom;
	for (i = 0; i < n; i++) {
		const reg_audit_t *a = &list[i];
		cJSON *o = cJSON_CreateObject(), *det;

		if (o == NULL || !cJSON_AddItemToArray(arr, o)) {
			cJSON_Delete(o);
			goto oom;
		}
		det = a->details != NULL ? cJSON_Parse(a->details) : cJSON_CreateObject();
		if (det == NULL)
			det = cJSON_CreateObject();
		if (det == NULL || !cJSON_AddItemToObject(o, "details", det)) {
			cJSON_Delete(det);
			goto oom;
		}
		if (cJSON_AddNumberToObject(o, "id", (double)a->id) == NULL ||
		    api_add_time(o, "at", a->at) != 0 ||
		    cJSON_AddStringToObject(o, "actor", a->actor) == NULL ||
		    cJSON_AddStringToObject(o, "action", a->action) == NULL ||
		    cJSON_AddStringToObject(o, "target", a->target) == NULL)
			goto oom;
	}
	if (next > 0) {
		snprintf(cur, sizeof(cur), "%lld", (long long)next);
		if (cJSON_AddStringToObject(out, "next_cursor", cur) == NULL)
			goto oom;
	} else if (cJSON_AddNullToObject(out, "next_cursor") == NULL) {
		goto oom;
	}
	status = http_reply_json(req, 200, out);
	goto done;
oom:
	status = http_reply_problem(req, 500, PT_INTERNAL, "Internal error", "out of memory");
done:
	reg_audit_list_free(list, n);
	cJSON_Delete(out);
	return status;
}
