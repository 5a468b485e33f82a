/* http_api_devices.c — device routes: the operator's lookup (PEM chain or
 * JSON security context, with ETags), manufacturer enrollment (single and
 * batch) and listing, administrator revoke / suspend / reinstate. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <civetweb.h>
#include <openssl/x509.h>

#include "ca_cas.h"
#include "http_api.h"

/* ---- lookup ------------------------------------------------------------ */

static int wants_json(http_req_t *req)
{
	const char *acc = http_header(req, "Accept");

	return acc != NULL && strstr(acc, "application/json") != NULL;
}

/* The security context's "urls" object for the server at base: NULL when
 * out of memory. */
static cJSON *urls_object(const char *base)
{
	cJSON *urls = cJSON_CreateObject();
	char url[512];
	int bad = urls == NULL;

	if (bad)
		return NULL;
	snprintf(url, sizeof(url), "%s/crl/device.crl", base);
	bad |= cJSON_AddStringToObject(urls, "crl", url) == NULL;
	snprintf(url, sizeof(url), "%s/ca/root.pem", base);
	bad |= cJSON_AddStringToObject(urls, "root_ca", url) == NULL;
	snprintf(url, sizeof(url), "%s/ca/device-ca.pem", base);
	bad |= cJSON_AddStringToObject(urls, "device_ca", url) == NULL;
	snprintf(url, sizeof(url), "%s/ca/chain.pem", base);
	bad |= cJSON_AddStringToObject(urls, "chain", url) == NULL;
	if (bad) {
		cJSON_Delete(urls);
		return NULL;
	}
	return urls;
}

static void ctx_parts_free(struct http_ctx_parts *p)
{
	if (p == NULL)
		return;
	free(p->chain_pem);
	cJSON_free(p->chain_json);
	cJSON_free(p->urls_json);
	free(p);
}

/* Render the security context's constant members: NULL when out of
 * memory. */
static struct http_ctx_parts *ctx_parts_build(const http_server *srv, const char *chain_pem)
{
	struct http_ctx_parts *p = calloc(1, sizeof(*p));
	cJSON *chain = cJSON_CreateString(chain_pem);
	cJSON *urls = urls_object(srv->cfg->public_base_url);
	int bad = p == NULL || chain == NULL || urls == NULL;

	if (!bad) {
		p->chain_pem = strdup(chain_pem);
		p->chain_json = cJSON_PrintUnformatted(chain);
		p->urls_json = cJSON_PrintUnformatted(urls);
		bad = p->chain_pem == NULL || p->chain_json == NULL || p->urls_json == NULL;
	}
	cJSON_Delete(chain);
	cJSON_Delete(urls);
	if (bad) {
		ctx_parts_free(p);
		p = NULL;
	}
	return p;
}

/* The server's rendered constant members for chain_pem (the Device CA
 * chain every device shares), built by the first request that needs them;
 * NULL (render them per request) when out of memory or for another chain. */
static const struct http_ctx_parts *ctx_parts(http_server *srv, const char *chain_pem)
{
	struct http_ctx_parts *p = atomic_load(&srv->ctx_parts), *none = NULL;

	if (p == NULL) {
		if ((p = ctx_parts_build(srv, chain_pem)) == NULL)
			return NULL;
		if (!atomic_compare_exchange_strong(&srv->ctx_parts, &none, p)) {
			ctx_parts_free(p);
			p = none; /* another request published first */
		}
	}
	return strcmp(p->chain_pem, chain_pem) == 0 ? p : NULL;
}

void api_security_context_free(http_server *srv)
{
	ctx_parts_free(atomic_exchange(&srv->ctx_parts, NULL));
}

/* Add member key (a literal) with the string s, which outlives obj: no
 * copy of either. 0, or -1 when out of memory. */
static int add_ref(cJSON *obj, const char *key, const char *s)
{
	cJSON *v = s != NULL ? cJSON_CreateStringReference(s) : NULL;

	if (v == NULL || !cJSON_AddItemToObjectCS(obj, key, v)) {
		cJSON_Delete(v);
		return -1;
	}
	return 0;
}

/* Add member key (a literal) with already rendered JSON text. */
static int add_raw(cJSON *obj, const char *key, const char *json)
{
	cJSON *v = cJSON_CreateRaw(json);

	if (v == NULL || !cJSON_AddItemToObjectCS(obj, key, v)) {
		cJSON_Delete(v);
		return -1;
	}
	return 0;
}

/* The security context document of d; it borrows d's strings, so d must
 * outlive it. NULL when out of memory. Rendering it was ~30 us a lookup
 * (a strdup per key and value, and every byte of the chain escaped again
 * per request); the members' strings are now referenced and the members
 * every device shares are rendered once per server. The printed text is
 * the same. */
cJSON *api_security_context(http_server *srv, const ca_device_t *d)
{
	const reg_device_t *r = &d->rec;
	const struct http_ctx_parts *parts = ctx_parts(srv, d->chain_pem);
	cJSON *doc = cJSON_CreateObject(), *m, *st, *urls;
	int bad = 0;

	if (doc == NULL)
		return NULL;
	bad |= add_ref(doc, "device_id", r->device_id);
	m = cJSON_AddObjectToObject(doc, "manufacturer");
	bad |= m == NULL;
	if (m != NULL) {
		bad |= add_ref(m, "id", r->manufacturer_id);
		bad |= add_ref(m, "name", r->manufacturer_name);
	}
	bad |= add_ref(doc, "serial", r->serial);
	bad |= add_ref(doc, "model", r->model);
	bad |= add_ref(doc, "hardware_version", r->hw_version);
	st = cJSON_AddObjectToObject(doc, "status");
	bad |= st == NULL;
	if (st != NULL) {
		bad |= add_ref(st, "state", r->status);
		if (r->reason >= 0 && ca_reason_name(r->reason) != NULL)
			bad |= add_ref(st, "reason", ca_reason_name(r->reason));
		else
			bad |= cJSON_AddNullToObject(st, "reason") == NULL;
		bad |= api_add_time(st, "since", r->revoked_at) != 0;
	}
	bad |= add_ref(doc, "certificate", d->cert_pem);
	if (parts != NULL)
		bad |= add_raw(doc, "chain", parts->chain_json);
	else
		bad |= add_ref(doc, "chain", d->chain_pem);
	bad |= add_ref(doc, "certificate_serial", r->cert_serial_hex);
	bad |= add_ref(doc, "certificate_sha256", r->cert_sha256);
	bad |= api_add_time(doc, "not_before", r->not_before) != 0;
	bad |= api_add_time(doc, "not_after", r->not_after) != 0;
	bad |= add_ref(doc, "key_type", r->key_type);
	bad |= add_ref(doc, "certificate_url", d->cert_url);
	if (parts != NULL) {
		bad |= add_raw(doc, "urls", parts->urls_json);
	} else {
		urls = urls_object(srv->cfg->public_base_url);
		if (urls == NULL || !cJSON_AddItemToObject(doc, "urls", urls)) {
			cJSON_Delete(urls);
			bad = 1;
		}
	}
	bad |= api_add_time(doc, "updated_at", r->updated_at) != 0;
	if (bad) {
		cJSON_Delete(doc);
		return NULL;
	}
	return doc;
}

/* GET /devices/{id}, GET /DeviceID={id}: chain or security context. */
static int h_device_lookup(http_req_t *req)
{
	const char *id = req->params[0];
	ca_device_t d;
	char err[256], etag[96], hdr[192];
	int json = wants_json(req), rc, status;
	reg_t *reg;

	memset(&d, 0, sizeof(d));
	if (!ca_device_id_valid(id))
		return http_reply_problem(req, 404, PT_NOT_FOUND, "Not found",
		                          "no device has this DeviceID");
	if ((reg = http_req_reg(req)) == NULL)
		return api_reply_no_db(req);
	rc = ca_device_get(req->srv->ca, reg, &d, id, err, sizeof(err));
	/* Everything the answer needs is copied out: the connection and
	 * its read transaction go back before the answer is written. */
	http_req_done_reading(req);
	if (rc == CA_ERR_NOT_FOUND)
		return http_reply_problem(req, 404, PT_NOT_FOUND, "Not found",
		                          "no device has this DeviceID");
	if (rc != CA_OK)
		return api_reply_ca_error(req, rc, err);

	/* The version changes with every status change; the representation
	 * is part of the tag since both share one URL. */
	snprintf(etag, sizeof(etag), "\"v%lld-%.16s-%s\"", (long long)d.rec.version,
	         d.rec.cert_sha256, json ? "json" : "pem");
	snprintf(hdr, sizeof(hdr), "ETag: %s\r\nVary: Accept\r\nCache-Control: no-cache\r\n", etag);
	if (api_etag_matches(http_header(req, "If-None-Match"), etag)) {
		status = http_reply_bytes(req, 304, NULL, hdr, NULL, 0);
		goto out;
	}
	if (json) {
		cJSON *doc = api_security_context(req->srv, &d);
		char *text = doc != NULL ? cJSON_PrintUnformatted(doc) : NULL;

		if (text == NULL)
			status = http_reply_problem(req, 500, PT_INTERNAL, "Internal error",
			                            "out of memory");
		else
			status = http_reply_bytes(req, 200, "application/json", hdr, text,
			                          strlen(text));
		cJSON_free(text);
		cJSON_Delete(doc);
	} else {
		size_t a = strlen(d.cert_pem), b = strlen(d.chain_pem);
		char *pem = malloc(a + b + 1);

		if (pem == NULL) {
			status = http_reply_problem(req, 500, PT_INTERNAL, "Internal error",
			                            "out of memory");
			goto out;
		}
		memcpy(pem, d.cert_pem, a);
		memcpy(pem + a, d.chain_pem, b + 1);
		status = http_reply_bytes(req, 200, "application/pem-certificate-chain",
		                          hdr, pem, a + b);
		free(pem);
	}
out:
	ca_device_clear(&d);
	return status;
}

/* ---- enrollment -------------------------------------------------------- */

/* One enrollment item, checked: borrowed pointers into the JSON. */
typedef struct {
	const char *csr, *serial, *model, *hw;
	ca_csr_t *req;   /* parsed and verified csr: ca_csr_free */
} enroll_in;

/* Check one enrollment object (and its CSR when parse_csr; a batch lets
 * the engine check CSRs on every CPU). Returns 0, or fills
 * status/type/detail of the problem (nothing is sent: the batch reports it
 * per item). */
static int enroll_check(enroll_in *in, const http_req_t *req, const cJSON *obj, int parse_csr,
                        int *status, const char **type, char *detail, size_t dlen)
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
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, fields[i].name);

		val[i] = NULL;
		if (v == NULL || cJSON_IsNull(v)) {
			if (fields[i].required) {
				snprintf(detail, dlen, "field \"%s\" is required", fields[i].name);
				return -1;
			}
			continue;
		}
		if (!cJSON_IsString(v)) {
			snprintf(detail, dlen, "field \"%s\" must be a string", fields[i].name);
			return -1;
		}
		if (strlen(v->valuestring) > fields[i].max) {
			snprintf(detail, dlen, "field \"%s\" is longer than %zu characters",
			         fields[i].name, fields[i].max);
			return -1;
		}
		if (fields[i].required && v->valuestring[0] == '\0') {
			snprintf(detail, dlen, "field \"%s\" must not be empty", fields[i].name);
			return -1;
		}
		val[i] = v->valuestring;
	}
	/* A manufacturer acts only under its own ID. */
	if (val[4] != NULL && strcmp(val[4], req->principal.manufacturer_id) != 0) {
		*status = 403;
		*type = PT_FORBIDDEN;
		snprintf(detail, dlen, "you may enroll only under manufacturer %s",
		         req->principal.manufacturer_id);
		return -1;
	}
	if (parse_csr && api_csr_parse(&in->req, req->srv->ca, val[0], detail, dlen) != 0) {
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
static int add_issue_result(cJSON *obj, const ca_issue_result_t *r, int with_chain)
{
	if (cJSON_AddStringToObject(obj, "device_id", r->device_id) == NULL ||
	    cJSON_AddStringToObject(obj, "certificate_url", r->cert_url) == NULL ||
	    cJSON_AddStringToObject(obj, "certificate", r->cert_pem) == NULL ||
	    (with_chain && cJSON_AddStringToObject(obj, "chain", r->chain_pem) == NULL) ||
	    cJSON_AddBoolToObject(obj, "created", r->created) == NULL)
		return -1;
	return 0;
}

/* POST /api/v1/devices */
static int h_device_enroll(http_req_t *req)
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
	if (enroll_check(&in, req, body, 1, &status, &type, detail, sizeof(detail)) != 0) {
		status = http_reply_problem(req, status, type,
		                            status == 400 ? "Invalid CSR" :
		                            status == 403 ? "Forbidden" : "Invalid field",
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
		status = http_reply_problem(req, 500, PT_INTERNAL, "Internal error",
		                            "out of memory; repeat the request to fetch the certificate");
		goto out;
	}
	if (res.created) {
		snprintf(loc, sizeof(loc), "Location: %s\r\n", res.cert_url);
		char *text = cJSON_PrintUnformatted(out);
		if (text == NULL) {
			status = http_reply_problem(req, 500, PT_INTERNAL, "Internal error",
			                            "out of memory; repeat the request to fetch the certificate");
			goto out;
		}
		status = http_reply_bytes(req, 201, "application/json", loc, text, strlen(text));
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
static int add_item_problem(cJSON *item, int status, const char *type, const char *detail)
{
	char t[160];
	cJSON *p = cJSON_AddObjectToObject(item, "problem");

	snprintf(t, sizeof(t), "https://provca.dev/problems/%s", type);
	if (cJSON_AddNumberToObject(item, "status", status) == NULL || p == NULL ||
	    cJSON_AddStringToObject(p, "type", t) == NULL ||
	    cJSON_AddNumberToObject(p, "status", status) == NULL ||
	    cJSON_AddStringToObject(p, "detail", detail) == NULL)
		return -1;
	return 0;
}

/* HTTP status and problem type of a CA error code for one batch item. */
static void ca_rc_status(int rc, int *status, const char **type)
{
	switch (rc) {
	case CA_ERR_INVALID: *status = 422; *type = PT_FIELD; break;
	case CA_ERR_NOT_FOUND: *status = 404; *type = PT_NOT_FOUND; break;
	case CA_ERR_CONFLICT: *status = 409; *type = PT_CONFLICT; break;
	case CA_ERR_KEY_IN_USE: *status = 409; *type = PT_KEY_IN_USE; break;
	case CA_ERR_STATE: *status = 409; *type = PT_BAD_STATE; break;
	default: *status = 500; *type = PT_INTERNAL; break;
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
	bad |= cJSON_AddNumberToObject(item, "status", r->created ? 201 : 200) == NULL;
	bad |= add_ref(item, "device_id", r->device_id);
	bad |= add_ref(item, "certificate_url", r->cert_url);
	bad |= add_ref(item, "certificate", r->cert_pem);
	bad |= cJSON_AddBoolToObject(item, "created", r->created) == NULL;
	return bad ? -1 : 0;
}

/* The batch answer: per item (in request order) its certificate or its
 * problem, the counts, and the Device CA chain (rendered once per server,
 * as in the security context). NULL when out of memory. */
static cJSON *batch_answer(http_req_t *req, const ca_issue_item_t *items, size_t n,
                           const int *item_status, const char **item_type,
                           char (*detail)[256])
{
	/* The issuing Device CA's chain now (a rollover needs no restart). */
	const char *chain_pem = ca_issuing_chain_pem(req->srv->ca);
	const struct http_ctx_parts *parts = ctx_parts(req->srv, chain_pem);
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
	bad |= cJSON_AddNumberToObject(doc, "existing", (double)existing) == NULL;
	bad |= cJSON_AddNumberToObject(doc, "failed", (double)failed) == NULL;
	if (parts != NULL)
		bad |= add_raw(doc, "chain", parts->chain_json);
	else
		bad |= add_ref(doc, "chain", chain_pem);
	if (bad) {
		cJSON_Delete(doc);
		return NULL;
	}
	return doc;
}

/* POST /api/v1/devices/batch: {"devices": [ {csr, serial, ...}, ... ]} */
static int h_device_batch(http_req_t *req)
{
	cJSON *body = http_json_body(req), *arr, *el;
	ca_issue_item_t *items = NULL;
	cJSON *doc = NULL;
	size_t n, i, k = 0, max = (size_t)req->srv->cfg->batch_max;
	int *item_status = NULL;
	const char **item_type = NULL;
	char (*detail)[256] = NULL;
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
		snprintf(err, sizeof(err), "\"devices\" must hold 1 to %zu devices", max);
		status = http_reply_problem(req, 422, PT_FIELD, "Invalid field", err);
		goto out;
	}
	items = calloc(n, sizeof(*items));
	item_status = calloc(n, sizeof(*item_status));
	item_type = calloc(n, sizeof(*item_type));
	detail = calloc(n, sizeof(*detail));
	if (items == NULL || item_status == NULL || item_type == NULL || detail == NULL) {
		status = http_reply_problem(req, 500, PT_INTERNAL, "Internal error", "out of memory");
		goto out;
	}
	/* Check every item first; only valid ones reach the engine, packed
	 * at the front of items[] (k of them), in order. */
	i = 0;
	cJSON_ArrayForEach(el, arr) {
		enroll_in in;

		if (enroll_check(&in, req, el, 0, &item_status[i], &item_type[i], detail[i],
		                 sizeof(detail[i])) == 0) {
			items[k].csr = (const uint8_t *)in.csr;
			items[k].csr_len = strlen(in.csr);
			items[k].csr_format = CA_CSR_PEM;
			items[k].attrs.manufacturer_id = req->principal.manufacturer_id;
			items[k].attrs.serial = in.serial;
			items[k].attrs.model = in.model;
			items[k].attrs.hw_version = in.hw;
			item_status[i] = 0; /* pending: the engine decides */
			k++;
		}
		i++;
	}
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
	if ((doc = batch_answer(req, items, n, item_status, item_type, detail)) == NULL)
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

/* ---- listing ----------------------------------------------------------- */

static cJSON *device_summary(const http_server *srv, const reg_device_t *r)
{
	cJSON *o = cJSON_CreateObject();
	char url[512];
	int bad = 0;

	if (o == NULL)
		return NULL;
	snprintf(url, sizeof(url), "%s/devices/%s", srv->cfg->public_base_url, r->device_id);
	bad |= cJSON_AddStringToObject(o, "device_id", r->device_id) == NULL;
	bad |= cJSON_AddStringToObject(o, "manufacturer_id", r->manufacturer_id) == NULL;
	bad |= cJSON_AddStringToObject(o, "serial", r->serial) == NULL;
	bad |= cJSON_AddStringToObject(o, "model", r->model) == NULL;
	bad |= cJSON_AddStringToObject(o, "hardware_version", r->hw_version) == NULL;
	bad |= cJSON_AddStringToObject(o, "status", r->status) == NULL;
	if (r->reason >= 0 && ca_reason_name(r->reason) != NULL)
		bad |= cJSON_AddStringToObject(o, "reason", ca_reason_name(r->reason)) == NULL;
	else
		bad |= cJSON_AddNullToObject(o, "reason") == NULL;
	bad |= api_add_time(o, "status_since", r->revoked_at) != 0;
	bad |= cJSON_AddStringToObject(o, "certificate_serial", r->cert_serial_hex) == NULL;
	bad |= api_add_time(o, "not_after", r->not_after) != 0;
	bad |= api_add_time(o, "created_at", r->created_at) != 0;
	bad |= cJSON_AddStringToObject(o, "certificate_url", url) == NULL;
	if (bad) {
		cJSON_Delete(o);
		return NULL;
	}
	return o;
}

/* GET /api/v1/devices?status=&serial=&q=&manufacturer=&cursor=&limit=
 * (q: serial or DeviceID, exact match) */
static int h_device_list(http_req_t *req)
{
	reg_device_filter_t f;
	reg_device_t *list = NULL;
	size_t n = 0, i;
	int64_t next = 0;
	char status_q[16], serial_q[REG_ATTR_MAX + 2], text_q[REG_ATTR_MAX + 2];
	char mfr_q[REG_MFR_ID_MAX + 2], err[256];
	cJSON *out = NULL, *arr;
	int status, q;
	reg_t *reg;

	memset(&f, 0, sizeof(f));
	if ((status = api_page_params(&f.after, &f.limit, req)) != 0)
		return status;
	q = http_query_get(req, "status", status_q, sizeof(status_q));
	if (q >= 0) {
		if (strcmp(status_q, REG_STATUS_ACTIVE) != 0 &&
		    strcmp(status_q, REG_STATUS_SUSPENDED) != 0 &&
		    strcmp(status_q, REG_STATUS_REVOKED) != 0)
			return http_reply_problem(req, 400, PT_QUERY, "Invalid query parameter",
			                          "status must be active, suspended or revoked");
		f.status = status_q;
	} else if (q == -2) {
		return http_reply_problem(req, 400, PT_QUERY, "Invalid query parameter",
		                          "status must be active, suspended or revoked");
	}
	q = http_query_get(req, "serial", serial_q, sizeof(serial_q));
	if (q == -2 || q > REG_ATTR_MAX)
		return http_reply_problem(req, 400, PT_QUERY, "Invalid query parameter",
		                          "serial is too long");
	if (q >= 0)
		f.serial = serial_q;
	/* The portal's one search box: the serial or the DeviceID, matched
	 * exactly (not as a prefix), inside the caller's scope below. */
	q = http_query_get(req, "q", text_q, sizeof(text_q));
	if (q == -2 || q > REG_ATTR_MAX)
		return http_reply_problem(req, 400, PT_QUERY, "Invalid query parameter",
		                          "q is too long");
	if (q >= 0)
		f.q = text_q;
	q = http_query_get(req, "manufacturer", mfr_q, sizeof(mfr_q));
	if (q == -2 || q > REG_MFR_ID_MAX)
		return http_reply_problem(req, 400, PT_QUERY, "Invalid query parameter",
		                          "manufacturer is too long");
	if (req->principal.role == HTTP_ROLE_MANUFACTURER) {
		/* A manufacturer sees its own devices, never another's. */
		if (q >= 0 && strcmp(mfr_q, req->principal.manufacturer_id) != 0)
			return http_reply_problem(req, 403, PT_FORBIDDEN, "Forbidden",
			                          "you may list only your own devices");
		f.manufacturer_id = req->principal.manufacturer_id;
	} else if (q >= 0) {
		f.manufacturer_id = mfr_q;
	}
	if ((reg = http_req_reg(req)) == NULL)
		return api_reply_no_db(req);
	if (reg_device_list(reg, &list, &n, &next, &f, err, sizeof(err)) != REG_OK) {
		http_count_db_error(req);
		return http_reply_problem(req, 500, PT_INTERNAL, "Internal error",
		                          "the registry could not be read");
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
	status = http_reply_problem(req, 500, PT_INTERNAL, "Internal error", "out of memory");
done:
	reg_device_list_free(list, n);
	cJSON_Delete(out);
	return status;
}

/* ---- status changes ------------------------------------------------------ */

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
			status = http_reply_problem(req, 400, PT_BAD_JSON, "Malformed JSON",
			                            "the body must be a JSON object");
			goto out;
		}
	}
	if (act == ACT_REVOKE) {
		if ((status = api_json_string(&reason_name, req, body, "reason", 32, 1)) != 0)
			goto out;
		/* certificateHold and removeFromCRL are suspend / reinstate. */
		if ((reason = ca_revocation_reason(reason_name)) < 0) {
			status = http_reply_problem(req, 422, PT_FIELD, "Invalid field",
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
		rc = ca_device_revoke(req->srv->ca, reg, id, reason, req->principal.name, err, sizeof(err));
	else if (act == ACT_SUSPEND)
		rc = ca_device_suspend(req->srv->ca, reg, id, req->principal.name, err, sizeof(err));
	else
		rc = ca_device_reinstate(req->srv->ca, reg, id, req->principal.name, err, sizeof(err));
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
	    (d.reason >= 0 && ca_reason_name(d.reason) != NULL
	         ? cJSON_AddStringToObject(st, "reason", ca_reason_name(d.reason))
	         : cJSON_AddNullToObject(st, "reason")) == NULL ||
	    api_add_time(st, "since", d.revoked_at) != 0) {
		status = http_reply_problem(req, 500, PT_INTERNAL, "Internal error",
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

static int h_device_revoke(http_req_t *req)
{
	return device_status_change(req, ACT_REVOKE);
}

static int h_device_suspend(http_req_t *req)
{
	return device_status_change(req, ACT_SUSPEND);
}

static int h_device_reinstate(http_req_t *req)
{
	return device_status_change(req, ACT_REINSTATE);
}

/* ---- the table ----------------------------------------------------------- */

#define OP HTTP_ROLE_OPERATOR
#define MF HTTP_ROLE_MANUFACTURER
#define AD HTTP_ROLE_ADMIN
#define PUB HTTP_ROLE_NONE
#define BODY HTTP_ROUTE_BODY
#define READ HTTP_ROUTE_READ

const http_route_t http_api_routes[] = {
	{ "GET", "/devices/{id}", h_device_lookup, OP | AD, READ,
	  "device certificate chain, or security context with Accept: application/json" },
	{ "GET", "/DeviceID={id}", h_device_lookup, OP | AD, READ,
	  "the seed's literal form of /devices/{id}" },
	{ "POST", "/api/v1/devices", h_device_enroll, MF, BODY,
	  "enroll one device from a CSR" },
	{ "POST", "/api/v1/devices/batch", h_device_batch, MF, BODY,
	  "enroll up to batch_max devices, per-item results" },
	{ "GET", "/api/v1/devices", h_device_list, MF | AD, 0,
	  "list devices (a manufacturer sees its own)" },
	{ "GET", "/api/v1/devices/{id}", api_h_device_read, MF | AD, 0,
	  "security context + status history (a manufacturer: its own devices only)" },
	{ "POST", "/api/v1/devices/{id}/revoke", h_device_revoke, AD, BODY,
	  "revoke with an RFC 5280 reason" },
	{ "POST", "/api/v1/devices/{id}/suspend", h_device_suspend, AD, BODY,
	  "suspend (certificateHold)" },
	{ "POST", "/api/v1/devices/{id}/reinstate", h_device_reinstate, AD, BODY,
	  "lift a suspension" },
	{ "GET", "/api/v1/audit", api_h_audit_list, AD, 0, "audit log, paginated" },
	{ "GET", "/api/v1/principals", api_h_principal_list, AD, 0, "list principals" },
	{ "POST", "/api/v1/principals", api_h_principal_create, AD, BODY,
	  "create a principal from a CSR" },
	{ "POST", "/api/v1/principals/{name}/disable", api_h_principal_disable, AD, BODY,
	  "disable a principal" },
	{ "POST", "/api/v1/principals/{name}/revoke", api_h_principal_revoke, AD, BODY,
	  "revoke a principal's certificate (Infrastructure CA CRL)" },
	{ "POST", "/api/v1/principals/{name}/renew", api_h_principal_renew, AD, BODY,
	  "a new certificate for an existing principal (CSR or generated PKCS#12)" },
	{ "POST", "/api/v1/renew", api_h_self_renew, OP | MF | AD, BODY,
	  "renew the caller's own client certificate from a CSR (mTLS only)" },
	{ "GET", "/ca/root.pem", api_h_ca_root, PUB, 0, "Root CA certificate" },
	{ "GET", "/ca/device-ca.pem", api_h_ca_device, PUB, 0, "Device CA certificate" },
	{ "GET", "/ca/chain.pem", api_h_ca_chain, PUB, 0, "Device CA + Root" },
	{ "GET", "/ca/infra-ca.pem", api_h_ca_infra, PUB, 0, "Infrastructure CA certificate" },
	{ "GET", CA_URL_PATH_DEVICE_CA, api_h_ca_device_der, PUB, 0,
	  "Device CA certificate (DER): the caIssuers URL of device certificates" },
	{ "GET", "/ca/device-ca-{id}", api_h_ca_device_n_der, PUB, 0,
	  "a later Device CA's certificate (DER, /ca/device-ca-<id>.crt): its devices' caIssuers URL" },
	{ "GET", CA_URL_PATH_ROOT, api_h_ca_root_der, PUB, 0, "Root CA certificate (DER)" },
	{ "GET", "/crl/device.crl", api_h_crl, PUB, 0, "Device CA CRL (DER)" },
	{ "GET", CA_URL_PATH_CRL, api_h_crl, PUB, 0,
	  "Device CA CRL (DER): the CRL distribution point of device certificates" },
	{ "GET", "/crl/device-ca-{id}", api_h_crl_device_n, PUB, 0,
	  "a later Device CA's CRL (DER, /crl/device-ca-<id>.crl): its devices' CRL distribution point" },
	{ "GET", CA_URL_PATH_INFRA_CRL, api_h_crl_infra, PUB, 0,
	  "Infrastructure CA CRL (DER): the CRL distribution point of principal certificates" },
	{ "GET", "/crl/infra-ca-{id}", api_h_crl_infra_n, PUB, 0,
	  "a later Infrastructure CA's CRL (DER, /crl/infra-ca-<id>.crl): its principals' CRL distribution point" },
	{ "GET", CA_URL_PATH_ROOT_CRL, api_h_crl_root, PUB, 0,
	  "Root CA CRL (DER), signed offline: the CRL distribution point of the intermediates" },
	{ "POST", CA_URL_PATH_OCSP, api_h_ocsp, PUB, BODY,
	  "OCSP responder (RFC 6960) for device certificates, signed by the Device CA" },
	{ "GET", CA_URL_PATH_OCSP "/{request}", api_h_ocsp_get, PUB, HTTP_ROUTE_PREFIX,
	  "OCSP by GET (RFC 6960 A.1): the URL-encoded base64 of the DER request" },
	{ "POST", "/.well-known/cmp", api_h_cmp, MF | AD, BODY,
	  "CMP (RFC 4210/9483): p10cr by a manufacturer, rr by an admin, genm; signed with the caller's certificate" },
	{ "GET", "/healthz", api_h_healthz, PUB, 0, "liveness and registry check" },
	{ "GET", "/metrics", api_h_metrics, PUB, 0, "Prometheus metrics" },
	{ NULL, NULL, NULL, 0, 0, NULL }
};
