/* http_api_device_status.c — an administrator's device status changes:
 * POST /api/v1/devices/{id}/revoke (with an RFC 5280 reason), /suspend
 * (certificateHold) and /reinstate, through the CA engine. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "http_api.h"

typedef enum { ACT_REVOKE, ACT_SUSPEND, ACT_REINSTATE } status_action;

static int device_status_change(http_req_t *req, status_action act)
{
	const char *id = req->params[0];
	const char *reason_name = NULL;
	cJSON *body = NULL, *out = NULL, *st;
	reg_device_t d;
	char err[256];
	int reason = -1, rc, status;
	reg_t *reg;

	memset(&d, 0, sizeof(d));
	if (act == ACT_REVOKE || req->body_len > 0) {
		body = http_json_body(req);
		if (body == NULL)
			return req->status;
		if (!cJSON_IsObject(body)) {
			status = http_reply_problem(req, 400, PT_BAD_JSON,
			    "Malformed JSON", "the body must be a JSON object");
			goto out;
		}
	}
	if (act == ACT_REVOKE) {
		if ((status = api_json_string(&reason_name, req, body, "reason",
		         32, 1)) != 0)
			goto out;
		/* certificateHold and removeFromCRL are suspend / reinstate. */
		if ((reason = ca_revocation_reason(reason_name)) < 0) {
			status = http_reply_problem(req, 422, PT_FIELD,
			    "Invalid field",
			    "reason must be an RFC 5280 CRLReason name such as keyCompromise (use suspend/reinstate for certificateHold)");
			goto out;
		}
	}
	if (!ca_device_id_valid(id)) {
		status = http_reply_problem(req, 404, PT_NOT_FOUND, "Not found",
		    "no device has this DeviceID");
		goto out;
	}
	if ((reg = http_req_reg(req)) == NULL) {
		status = api_reply_no_db(req);
		goto out;
	}
	if (act == ACT_REVOKE)
		rc = ca_device_revoke(req->srv->ca, reg, id, reason,
		    req->principal.name, err, sizeof(err));
	else if (act == ACT_SUSPEND)
		rc = ca_device_suspend(req->srv->ca, reg, id,
		    req->principal.name, err, sizeof(err));
	else
		rc = ca_device_reinstate(req->srv->ca, reg, id,
		    req->principal.name, err, sizeof(err));
	if (rc != CA_OK) {
		status = api_reply_ca_error(req, rc, err);
		goto out;
	}
	if (act == ACT_REVOKE)
		atomic_fetch_add(&req->srv->metrics.revoked, 1);
	/* Answer with the state as stored, read back. */
	rc = reg_device_get(reg, &d, id, err, sizeof(err));
	out = cJSON_CreateObject();
	if (rc != REG_OK || out == NULL ||
	    cJSON_AddStringToObject(out, "device_id", d.device_id) == NULL ||
	    (st = cJSON_AddObjectToObject(out, "status")) == NULL ||
	    cJSON_AddStringToObject(st, "state", d.status) == NULL ||
	    (d.reason >= 0 && ca_reason_name(d.reason) != NULL ?
	            cJSON_AddStringToObject(st, "reason",
	                ca_reason_name(d.reason)) :
	            cJSON_AddNullToObject(st, "reason")) == NULL ||
	    api_add_time(st, "since", d.revoked_at) != 0) {
		status =
		    http_reply_problem(req, 500, PT_INTERNAL, "Internal error",
		        "the change is committed but could not be read back");
		goto out;
	}
	status = http_reply_json(req, 200, out);
out:
	reg_device_clear(&d);
	cJSON_Delete(out);
	cJSON_Delete(body);
	return status;
}

int route_device_revoke(http_req_t *req)
{
	return device_status_change(req, ACT_REVOKE);
}

int route_device_suspend(http_req_t *req)
{
	return device_status_change(req, ACT_SUSPEND);
}

int route_device_reinstate(http_req_t *req)
{
	return device_status_change(req, ACT_REINSTATE);
}
