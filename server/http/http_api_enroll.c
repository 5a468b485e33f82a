/* http_api_enroll.c — a manufacturer's enrollment: POST /api/v1/devices
 * (one device from a CSR; 201 with Location, or 200 for the same request
 * again) and POST /api/v1/devices/batch (up to batch_max devices, checked
 * here and issued together by the engine, one result per item). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "ca_cas.h"
#include "http_api.h"

/* One enrollment item, checked: borrowed pointers into the JSON. */
typedef struct {
	const char *csr, *serial, *model, *hw;
	ca_csr_t *req; /* parsed and verified csr: ca_csr_free */
} enroll_in;

/* Check one enrollment object (and its CSR when parse_csr; a batch lets
 * the engine check CSRs on every CPU). Returns 0, or fills
 * status/type/detail of the problem (nothing is sent: the batch reports it
 * per item). */
static int enroll_check(enroll_in *in, const http_req_t *req, const cJSON *obj,
    int parse_csr, int *status, const char **type, char *detail, size_t dlen)
{
	static const struct {
		const char *name;
		size_t max;
		int required;
	} fields[] = {
		{ "csr", API_CSR_MAX, 1 },
		{ "serial", REG_ATTR_MAX, 1 },
		{ "model", REG_ATTR_MAX, 1 },
		{ "hardware_version", REG_ATTR_MAX, 0 },
		{ "manufacturer_id", REG_MFR_ID_MAX, 0 },
	};
	const char *val[5];
	size_t i;

	*status = 422;
	*type = PT_FIELD;
	in->req = NULL;
	if (!cJSON_IsObject(obj)) {
		snprintf(detail, dlen, "each device must be a JSON object");
		return -1;
	}
	for (i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		const cJSON *v =
		    cJSON_GetObjectItemCaseSensitive(obj, fields[i].name);

		val[i] = NULL;
		if (v == NULL || cJSON_IsNull(v)) {
			if (fields[i].required) {
				snprintf(detail, dlen,
				    "field \"%s\" is required", fields[i].name);
				return -1;
			}
			continue;
		}
		if (!cJSON_IsString(v)) {
			snprintf(detail, dlen, "field \"%s\" must be a string",
			    fields[i].name);
			return -1;
		}
		if (strlen(v->valuestring) > fields[i].max) {
			snprintf(detail, dlen,
			    "field \"%s\" is longer than %zu characters",
			    fields[i].name, fields[i].max);
			return -1;
		}
		if (fields[i].required && v->valuestring[0] == '\0') {
			snprintf(detail, dlen, "field \"%s\" must not be empty",
			    fields[i].name);
			return -1;
		}
		val[i] = v->valuestring;
	}
	/* A manufacturer acts only under its own ID. */
	if (val[4] != NULL &&
	    strcmp(val[4], req->principal.manufacturer_id) != 0) {
		*status = 403;
		*type = PT_FORBIDDEN;
		snprintf(detail, dlen,
		    "you may enroll only under manufacturer %s",
		    req->principal.manufacturer_id);
		return -1;
	}
	if (parse_csr &&
	    api_csr_parse(&in->req, req->srv->ca, val[0], detail, dlen) != 0) {
		*status = 400;
		*type = PT_BAD_CSR;
		return -1;
	}
	in->csr = val[0];
	in->serial = val[1];
	in->model = val[2];
	in->hw = val[3];
	return 0;
}

/* Add the result fields of an issued device to obj. 0 or -1. */
static int add_issue_result(cJSON *obj, const ca_issue_result_t *r,
    int with_chain)
{
	if (cJSON_AddStringToObject(obj, "device_id", r->device_id) == NULL ||
	    cJSON_AddStringToObject(obj, "certificate_url", r->cert_url) ==
	        NULL ||
	    cJSON_AddStringToObject(obj, "certificate", r->cert_pem) == NULL ||
	    (with_chain &&
	        cJSON_AddStringToObject(obj, "chain", r->chain_pem) == NULL) ||
	    cJSON_AddBoolToObject(obj, "created", r->created) == NULL)
		return -1;
	return 0;
}

/* POST /api/v1/devices */
int route_device_enroll(http_req_t *req)
{
	cJSON *body = http_json_body(req), *out = NULL;
	ca_issue_item_t it;
	ca_issue_result_t res;
	enroll_in in;
	char detail[256], loc[600];
	const char *type;
	int status, rc;
	reg_t *reg;

	memset(&res, 0, sizeof(res));
	memset(&in, 0, sizeof(in));
	memset(&it, 0, sizeof(it));
	if (body == NULL)
		return req->status;
	if (enroll_check(&in, req, body, 1, &status, &type, detail,
	        sizeof(detail)) != 0) {
		status = http_reply_problem(req, status, type,
		    status == 400     ? "Invalid CSR" :
		        status == 403 ? "Forbidden" :
		                        "Invalid field",
		    detail);
		goto out;
	}
	if ((reg = http_req_reg(req)) == NULL) {
		status = api_reply_no_db(req);
		goto out;
	}
	it.csr = (const uint8_t *)in.csr;
	it.csr_len = strlen(in.csr);
	it.csr_req = in.req;
	it.attrs.manufacturer_id = req->principal.manufacturer_id;
	it.attrs.serial = in.serial;
	it.attrs.model = in.model;
	it.attrs.hw_version = in.hw;
	/* Returns once the rows are committed (group commit). */
	rc = ca_device_issue_item(req->srv->ca, reg, &it, req->principal.name);
	res = it.result;
	if (rc != CA_OK) {
		status = api_reply_ca_error(req, rc, it.err);
		goto out;
	}
	if (res.created)
		atomic_fetch_add(&req->srv->metrics.issued, 1);
	out = cJSON_CreateObject();
	if (out == NULL || add_issue_result(out, &res, 1) != 0) {
		/* The certificate is committed; the client can repeat the
		 * request and get it idempotently. */
		status = http_reply_problem(req, 500, PT_INTERNAL,
		    "Internal error",
		    "out of memory; repeat the request to fetch the certificate");
		goto out;
	}
	if (res.created) {
		snprintf(loc, sizeof(loc), "Location: %s\r\n", res.cert_url);
		char *text = cJSON_PrintUnformatted(out);
		if (text == NULL) {
			status = http_reply_problem(req, 500, PT_INTERNAL,
			    "Internal error",
			    "out of memory; repeat the request to fetch the certificate");
			goto out;
		}
		status = http_reply_bytes(req, 201, "application/json", loc,
		    text, strlen(text));
		cJSON_free(text);
	} else {
		status = http_reply_json(req, 200, out);
	}
out:
	ca_issue_result_clear(&res);
	ca_csr_free(in.req);
	cJSON_Delete(out);
	cJSON_Delete(body);
	return status;
}

/* Per-item problem object for the batch answer. */
static int add_item_problem(cJSON *item, int status, const char *type,
    const char *detail)
{
	char t[160];
	cJSON *p = cJSON_AddObjectToObject(item, "problem");

	snprintf(t, sizeof(t), "https://provca.dev/problems/%s", type);
	if (cJSON_AddNumberToObject(item, "status", status) == NULL ||
	    p == NULL || cJSON_AddStringToObject(p, "type", t) == NULL ||
	    cJSON_AddNumberToObject(p, "status", status) == NULL ||
	    cJSON_AddStringToObject(p, "detail", detail) == NULL)
		return -1;
	return 0;
}

/* HTTP status and problem type of a CA error code for one batch item. */
static void ca_rc_status(int rc, int *status, const char **type)
{
	switch (rc) {
	case CA_ERR_INVALID:
		*status = 422;
		*type = PT_FIELD;
		break;
	case CA_ERR_NOT_FOUND:
		*status = 404;
		*type = PT_NOT_FOUND;
		break;
	case CA_ERR_CONFLICT:
		*status = 409;
		*type = PT_CONFLICT;
		break;
	case CA_ERR_KEY_IN_USE:
		*status = 409;
		*type = PT_KEY_IN_USE;
		break;
	case CA_ERR_STATE:
		*status = 409;
		*type = PT_BAD_STATE;
		break;
	default:
		*status = 500;
		*type = PT_INTERNAL;
		break;
	}
}

/* One batch item's answer object: its certificate (strings referenced
 * from r, which outlives the document) or its problem. 0, or -1 when out
 * of memory. */
static int batch_item_add(cJSON *results, size_t index, int st, const char *ty,
    const char *dt, const ca_issue_result_t *r)
{
	cJSON *item = cJSON_CreateObject();
	int bad;

	if (item == NULL || !cJSON_AddItemToArray(results, item)) {
		cJSON_Delete(item);
		return -1;
	}
	bad = cJSON_AddNumberToObject(item, "index", (double)index) == NULL;
	if (ty != NULL)
		return bad || add_item_problem(item, st, ty, dt) != 0 ? -1 : 0;
	bad |= cJSON_AddNumberToObject(item, "status",
	           r->created ? 201 : 200) == NULL;
	bad |= api_add_ref(item, "device_id", r->device_id);
	bad |= api_add_ref(item, "certificate_url", r->cert_url);
	bad |= api_add_ref(item, "certificate", r->cert_pem);
	bad |= cJSON_AddBoolToObject(item, "created", r->created) == NULL;
	return bad ? -1 : 0;
}

/* The batch answer: per item (in request order) its certificate or its
 * problem, the counts, and the Device CA chain (rendered once per server,
 * as in the security context). NULL when out of memory. */
static cJSON *batch_answer(http_req_t *req, const ca_issue_item_t *items,
    size_t n, const int *item_status, const char **item_type,
    char (*detail)[256])
{
	cJSON *doc = cJSON_CreateObject();
	cJSON *results = cJSON_AddArrayToObject(doc, "results");
	long created = 0, existing = 0, failed = 0;
	size_t i, k;
	int bad = results == NULL;

	for (i = 0, k = 0; i < n && !bad; i++) {
		const ca_issue_result_t *r = NULL;
		const char *ty = NULL, *dt = NULL;
		int st = 0;

		if (item_status[i] != 0) {
			st = item_status[i];
			ty = item_type[i];
			dt = detail[i];
		} else if (items[k].rc != CA_OK && items[k].csr_refused != 0) {
			st = 400;
			ty = PT_BAD_CSR;
			dt = api_csr_refusal(items[k++].csr_refused);
		} else if (items[k].rc != CA_OK) {
			ca_rc_status(items[k].rc, &st, &ty);
			dt = items[k++].err;
		} else {
			r = &items[k++].result;
			if (r->created) {
				created++;
				atomic_fetch_add(&req->srv->metrics.issued, 1);
			} else {
				existing++;
			}
		}
		failed += ty != NULL;
		bad |= batch_item_add(results, i, st, ty, dt, r) != 0;
	}
	bad |= cJSON_AddNumberToObject(doc, "created", (double)created) == NULL;
	bad |=
	    cJSON_AddNumberToObject(doc, "existing", (double)existing) == NULL;
	bad |= cJSON_AddNumberToObject(doc, "failed", (double)failed) == NULL;
	/* The issuing Device CA's chain now (a rollover needs no restart). */
	bad |= api_add_chain(doc, req->srv,
	           ca_issuing_chain_pem(req->srv->ca)) != 0;
	if (bad) {
		cJSON_Delete(doc);
		return NULL;
	}
	return doc;
}

/* Check every item of arr (its CSR is left to the engine, which checks
 * them on every CPU); only valid ones reach the engine, packed at the
 * front of items[] in order. A refused item gets its status, type and
 * detail; a valid one status 0 (the engine decides). Returns how many are
 * valid. */
static size_t batch_items_check(ca_issue_item_t *items, int *item_status,
    const char **item_type, char (*detail)[256], const http_req_t *req,
    const cJSON *arr)
{
	const cJSON *el;
	size_t i = 0, k = 0;

	cJSON_ArrayForEach(el, arr)
	{
		enroll_in in;

		if (enroll_check(&in, req, el, 0, &item_status[i],
		        &item_type[i], detail[i], sizeof(detail[i])) == 0) {
			items[k].csr = (const uint8_t *)in.csr;
			items[k].csr_len = strlen(in.csr);
			items[k].csr_format = CA_CSR_PEM;
			items[k].attrs.manufacturer_id =
			    req->principal.manufacturer_id;
			items[k].attrs.serial = in.serial;
			items[k].attrs.model = in.model;
			items[k].attrs.hw_version = in.hw;
			item_status[i] = 0; /* pending: the engine decides */
			k++;
		}
		i++;
	}
	return k;
}

/* POST /api/v1/devices/batch: {"devices": [ {csr, serial, ...}, ... ]} */
int route_device_batch(http_req_t *req)
{
	cJSON *body = http_json_body(req), *arr;
	ca_issue_item_t *items = NULL;
	cJSON *doc = NULL;
	size_t n, i, k = 0, max = (size_t)req->srv->cfg->batch_max;
	int *item_status = NULL;
	const char **item_type = NULL;
	char(*detail)[256] = NULL;
	char err[256];
	int status, rc;
	reg_t *reg;

	if (body == NULL)
		return req->status;
	arr = cJSON_GetObjectItemCaseSensitive(body, "devices");
	if (!cJSON_IsArray(arr)) {
		status = http_reply_problem(req, 422, PT_FIELD, "Invalid field",
		    "field \"devices\" must be an array of devices");
		goto out;
	}
	n = (size_t)cJSON_GetArraySize(arr);
	if (n == 0 || n > max) {
		snprintf(err, sizeof(err),
		    "\"devices\" must hold 1 to %zu devices", max);
		status = http_reply_problem(req, 422, PT_FIELD, "Invalid field",
		    err);
		goto out;
	}
	items = calloc(n, sizeof(*items));
	item_status = calloc(n, sizeof(*item_status));
	item_type = calloc(n, sizeof(*item_type));
	detail = calloc(n, sizeof(*detail));
	if (items == NULL || item_status == NULL || item_type == NULL ||
	    detail == NULL) {
		status = http_reply_problem(req, 500, PT_INTERNAL,
		    "Internal error", "out of memory");
		goto out;
	}
	k = batch_items_check(items, item_status, item_type, detail, req, arr);
	if (k > 0) {
		if ((reg = http_req_reg(req)) == NULL) {
			status = api_reply_no_db(req);
			goto out;
		}
		rc = ca_device_issue_batch(req->srv->ca, reg, items, k, 0,
		    req->principal.name, err, sizeof(err));
		if (rc != CA_OK) {
			status = api_reply_ca_error(req, rc, err);
			goto out;
		}
	}
	if ((doc = batch_answer(req, items, n, item_status, item_type,
	         detail)) == NULL)
		goto oom;
	status = http_reply_json(req, 200, doc);
	goto out;
oom:
	status = http_reply_problem(req, 500, PT_INTERNAL, "Internal error",
	    "out of memory; repeat the batch to fetch the certificates");
out:
	if (items != NULL)
		for (i = 0; i < n; i++) {
			ca_issue_result_clear(&items[i].result);
			ca_csr_free(items[i].csr_req);
		}
	free(items);
	free(item_status);
	free(item_type);
	free(detail);
	cJSON_Delete(doc);
	cJSON_Delete(body);
	return status;
}
