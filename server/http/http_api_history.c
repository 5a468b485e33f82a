/* http_api_history.c — GET /api/v1/devices/{id}: one device as its owner
 * (a manufacturer) or an administrator sees it: the security context, the
 * enrollment time and the status history read from the audit log. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "http_api.h"

/* Pages of audit entries read for one device's history at most (each
 * REG_LIST_MAX long): a bound on the work one request can cause. */
#define HISTORY_PAGES_MAX 10

/* The history event name of a device audit action, or NULL when the entry
 * is not a status change of a device. */
static const char *history_event(const char *action)
{
	static const struct {
		const char *action, *event;
	} map[] = {
		{ "device.issue", "issued" },
		{ "device.suspend", "suspended" },
		{ "device.reinstate", "reinstated" },
		{ "device.revoke", "revoked" },
	};
	size_t i;

	for (i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (strcmp(action, map[i].action) == 0)
			return map[i].event;
	return NULL;
}

/* Copy member name of the JSON object det into o as a string, or null when
 * det lacks it or it is empty. 0 or -1 (out of memory). */
static int add_detail(cJSON *o, const char *key, const cJSON *det,
    const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(det, name);

	if (cJSON_IsString(v) && v->valuestring != NULL &&
	    v->valuestring[0] != '\0')
		return cJSON_AddStringToObject(o, key, v->valuestring) == NULL ?
		    -1 :
		    0;
	return cJSON_AddNullToObject(o, key) == NULL ? -1 : 0;
}

/* One history entry from audit entry a (whose action is a device event). */
static cJSON *history_entry(const reg_audit_t *a, const char *event)
{
	cJSON *o = cJSON_CreateObject(), *det;
	int bad = 0;

	if (o == NULL)
		return NULL;
	det = a->details != NULL ? cJSON_Parse(a->details) : NULL;
	if (det == NULL)
		det = cJSON_CreateObject();
	/* Once added, det belongs to o; the fields below borrow from it. */
	if (det == NULL || !cJSON_AddItemToObject(o, "details", det)) {
		cJSON_Delete(det);
		cJSON_Delete(o);
		return NULL;
	}
	bad |= api_add_time(o, "at", a->at) != 0;
	bad |= cJSON_AddStringToObject(o, "event", event) == NULL;
	bad |= cJSON_AddStringToObject(o, "action", a->action) == NULL;
	bad |= cJSON_AddStringToObject(o, "actor", a->actor) == NULL;
	/* revoke: the RFC 5280 reason; suspend: certificateHold;
	 * issue and reinstate: none (null). */
	bad |= add_detail(o, "reason", det, "reason");
	bad |= add_detail(o, "from", det, "from");
	bad |= add_detail(o, "to", det, "to");
	bad |= add_detail(o, "certificate_serial", det, "cert_serial");
	if (bad) {
		cJSON_Delete(o);
		return NULL;
	}
	return o;
}

/* Append the device's status changes, oldest first, to arr. REG_OK or the
 * registry's error. */
static int history_fill(cJSON *arr, reg_t *reg, const char *device_id, int *oom,
    char *err, size_t errlen)
{
	reg_audit_filter_t f;
	reg_audit_t *list = NULL;
	size_t n = 0, i, page;
	int64_t next = 0;
	int rc;

	*oom = 0;
	memset(&f, 0, sizeof(f));
	f.target = device_id;
	f.limit = REG_LIST_MAX;
	for (page = 0; page < HISTORY_PAGES_MAX; page++) {
		rc = reg_audit_list(reg, &list, &n, &next, &f, err, errlen);
		if (rc != REG_OK)
			return rc;
		for (i = 0; i < n; i++) {
			/* The target column also names principals; only device
			 * actions belong in a device's history. */
			const char *event = history_event(list[i].action);
			cJSON *e;

			if (event == NULL)
				continue;
			e = history_entry(&list[i], event);
			if (e == NULL || !cJSON_AddItemToArray(arr, e)) {
				cJSON_Delete(e);
				*oom = 1;
				break;
			}
		}
		reg_audit_list_free(list, n);
		list = NULL;
		if (*oom || next == 0)
			break;
		f.after = next;
	}
	return REG_OK;
}

/* GET /api/v1/devices/{id} */
int route_device_read(http_req_t *req)
{
	const char *id = req->params[0];
	ca_device_t d;
	cJSON *doc = NULL, *hist;
	char err[256];
	int rc, status, oom = 0;
	reg_t *reg;

	memset(&d, 0, sizeof(d));
	if (!ca_device_id_valid(id))
		return http_reply_problem(req, 404, PT_NOT_FOUND, "Not found",
		    "no device has this DeviceID");
	if ((reg = http_req_reg(req)) == NULL)
		return api_reply_no_db(req);
	rc = ca_device_get(req->srv->ca, reg, &d, id, err, sizeof(err));
	/* Another manufacturer's device answers exactly like an unknown one,
	 * so DeviceIDs are never confirmed to outsiders. */
	if (rc == CA_ERR_NOT_FOUND ||
	    (rc == CA_OK && req->principal.role == HTTP_ROLE_MANUFACTURER &&
	        strcmp(d.rec.manufacturer_id, req->principal.manufacturer_id) !=
	            0)) {
		status = http_reply_problem(req, 404, PT_NOT_FOUND, "Not found",
		    "no device has this DeviceID");
		goto out;
	}
	if (rc != CA_OK) {
		status = api_reply_ca_error(req, rc, err);
		goto out;
	}
	doc = api_security_context(req->srv, &d);
	hist = doc != NULL ? cJSON_AddArrayToObject(doc, "history") : NULL;
	if (hist == NULL ||
	    api_add_time(doc, "enrolled_at", d.rec.created_at) != 0)
		goto oom;
	if (history_fill(hist, reg, d.rec.device_id, &oom, err, sizeof(err)) !=
	    REG_OK) {
		http_count_db_error(req);
		status = http_reply_problem(req, 500, PT_INTERNAL,
		    "Internal error", "the registry could not be read");
		goto out;
	}
	if (oom)
		goto oom;
	status = http_reply_json(req, 200, doc);
	goto out;
oom:
	status = http_reply_problem(req, 500, PT_INTERNAL, "Internal error",
	    "out of memory");
out:
	cJSON_Delete(doc);
	ca_device_clear(&d);
	return status;
}
