/* http_api_device_list.c — GET /api/v1/devices: the devices a
 * manufacturer enrolled (an administrator: all), filtered and paginated,
 * one summary object each. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "http_api.h"

static cJSON *device_summary(const http_server *srv, const reg_device_t *r)
{
	cJSON *o = cJSON_CreateObject();
	char url[512];
	int bad = 0;

	if (o == NULL)
		return NULL;
	snprintf(url, sizeof(url), "%s/devices/%s", srv->cfg->public_base_url,
	    r->device_id);
	bad |= cJSON_AddStringToObject(o, "device_id", r->device_id) == NULL;
	bad |= cJSON_AddStringToObject(o, "manufacturer_id",
	           r->manufacturer_id) == NULL;
	bad |= cJSON_AddStringToObject(o, "serial", r->serial) == NULL;
	bad |= cJSON_AddStringToObject(o, "model", r->model) == NULL;
	bad |= cJSON_AddStringToObject(o, "hardware_version", r->hw_version) ==
	    NULL;
	bad |= cJSON_AddStringToObject(o, "status", r->status) == NULL;
	if (r->reason >= 0 && ca_reason_name(r->reason) != NULL)
		bad |= cJSON_AddStringToObject(o, "reason",
		           ca_reason_name(r->reason)) == NULL;
	else
		bad |= cJSON_AddNullToObject(o, "reason") == NULL;
	bad |= api_add_time(o, "status_since", r->revoked_at) != 0;
	bad |= cJSON_AddStringToObject(o, "certificate_serial",
	           r->cert_serial_hex) == NULL;
	bad |= api_add_time(o, "not_after", r->not_after) != 0;
	bad |= api_add_time(o, "created_at", r->created_at) != 0;
	bad |= cJSON_AddStringToObject(o, "certificate_url", url) == NULL;
	if (bad) {
		cJSON_Delete(o);
		return NULL;
	}
	return o;
}

/* The query values a filter points into. */
typedef struct {
	char status[16], serial[REG_ATTR_MAX + 2], text[REG_ATTR_MAX + 2];
	char mfr[REG_MFR_ID_MAX + 2];
} list_query;

/* Fill f from req's query (values kept in qv), scoped to the caller: a
 * manufacturer lists only its own devices. 0, or the status of the 400 /
 * 403 problem sent. */
static int list_filter(reg_device_filter_t *f, list_query *qv, http_req_t *req)
{
	int status, q;

	memset(f, 0, sizeof(*f));
	if ((status = api_page_params(&f->after, &f->limit, req)) != 0)
		return status;
	q = http_query_get(req, "status", qv->status, sizeof(qv->status));
	if (q == -2 ||
	    (q >= 0 && strcmp(qv->status, REG_STATUS_ACTIVE) != 0 &&
	        strcmp(qv->status, REG_STATUS_SUSPENDED) != 0 &&
	        strcmp(qv->status, REG_STATUS_REVOKED) != 0))
		return http_reply_problem(req, 400, PT_QUERY,
		    "Invalid query parameter",
		    "status must be active, suspended or revoked");
	if (q >= 0)
		f->status = qv->status;
	q = http_query_get(req, "serial", qv->serial, sizeof(qv->serial));
	if (q == -2 || q > REG_ATTR_MAX)
		return http_reply_problem(req, 400, PT_QUERY,
		    "Invalid query parameter", "serial is too long");
	if (q >= 0)
		f->serial = qv->serial;
	/* The portal's one search box: the serial or the DeviceID, matched
	 * exactly (not as a prefix), inside the caller's scope below. */
	q = http_query_get(req, "q", qv->text, sizeof(qv->text));
	if (q == -2 || q > REG_ATTR_MAX)
		return http_reply_problem(req, 400, PT_QUERY,
		    "Invalid query parameter", "q is too long");
	if (q >= 0)
		f->q = qv->text;
	q = http_query_get(req, "manufacturer", qv->mfr, sizeof(qv->mfr));
	if (q == -2 || q > REG_MFR_ID_MAX)
		return http_reply_problem(req, 400, PT_QUERY,
		    "Invalid query parameter", "manufacturer is too long");
	if (req->principal.role == HTTP_ROLE_MANUFACTURER) {
		/* A manufacturer sees its own devices, never another's. */
		if (q >= 0 &&
		    strcmp(qv->mfr, req->principal.manufacturer_id) != 0)
			return http_reply_problem(req, 403, PT_FORBIDDEN,
			    "Forbidden", "you may list only your own devices");
		f->manufacturer_id = req->principal.manufacturer_id;
	} else if (q >= 0) {
		f->manufacturer_id = qv->mfr;
	}
	return 0;
}

/* GET /api/v1/devices?status=&serial=&q=&manufacturer=&cursor=&limit=
 * (q: serial or DeviceID, exact match) */
int route_device_list(http_req_t *req)
{
	reg_device_filter_t f;
	reg_device_t *list = NULL;
	list_query qv;
	size_t n = 0, i;
	int64_t next = 0;
	char err[256];
	cJSON *out = NULL, *arr;
	int status;
	reg_t *reg;

	if ((status = list_filter(&f, &qv, req)) != 0)
		return status;
	if ((reg = http_req_reg(req)) == NULL)
		return api_reply_no_db(req);
	if (reg_device_list(reg, &list, &n, &next, &f, err, sizeof(err)) !=
	    REG_OK) {
		http_count_db_error(req);
		return http_reply_problem(req, 500, PT_INTERNAL,
		    "Internal error", "the registry could not be read");
	}
	out = cJSON_CreateObject();
	arr = out != NULL ? cJSON_AddArrayToObject(out, "devices") : NULL;
	if (arr == NULL)
		goto oom;
	for (i = 0; i < n; i++) {
		cJSON *o = device_summary(req->srv, &list[i]);

		if (o == NULL || !cJSON_AddItemToArray(arr, o)) {
			cJSON_Delete(o);
			goto oom;
		}
	}
	if (api_add_cursor(out, next) != 0)
		goto oom;
	status = http_reply_json(req, 200, out);
	goto done;
oom:
	status = http_reply_problem(req, 500, PT_INTERNAL, "Internal error",
	    "out of memory");
done:
	reg_device_list_free(list, n);
	cJSON_Delete(out);
	return status;
}
