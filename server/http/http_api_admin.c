/* http_api_admin.c — administrator routes for principals (list, create
 * from a CSR or with a generated key as PKCS#12, disable) and the audit
 * log (filters and time range in SQL). */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <civetweb.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "http_api.h"
#include "pki.h"
#include "util.h"

/* GET /api/v1/principals */
int route_principal_list(http_req_t *req)
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
		return http_reply_problem(req, 500, PT_INTERNAL,
		    "Internal error", "the registry could not be read");
	}
	out = cJSON_CreateObject();
	arr = out != NULL ? cJSON_AddArrayToObject(out, "principals") : NULL;
	if (arr == NULL)
		goto oom;
	for (i = 0; i < n; i++) {
		cJSON *o = ca_principal_json(&list[i]);

		if (o == NULL || !cJSON_AddItemToArray(arr, o)) {
			cJSON_Delete(o);
			goto oom;
		}
	}
	status = http_reply_json(req, 200, out);
	goto done;
oom:
	status = http_reply_problem(req, 500, PT_INTERNAL, "Internal error",
	    "out of memory");
done:
	free(list);
	cJSON_Delete(out);
	return status;
}

/* Shortest PKCS#12 password accepted: the bundle travels as a file. */
#define P12_PASS_MIN 8
#define P12_PASS_MAX 1024

/* Add creds' PKCS#12 to out as "p12" (base64). 0 or -1. */
static int add_p12(cJSON *out, const ca_principal_creds_t *creds)
{
	size_t b64len;
	unsigned char *b64;
	int ok;

	if (creds->p12 == NULL || creds->p12_len == 0 ||
	    creds->p12_len > INT_MAX / 2)
		return -1;
	b64len = 4 * ((creds->p12_len + 2) / 3) + 1;
	if ((b64 = malloc(b64len)) == NULL)
		return -1;
	EVP_EncodeBlock(b64, creds->p12, (int)creds->p12_len);
	ok = cJSON_AddStringToObject(out, "p12", (const char *)b64) != NULL;
	OPENSSL_cleanse(b64, b64len);
	free(b64);
	return ok ? 0 : -1;
}

/* Send out, which carries a PKCS#12 (and so the principal's key), as JSON
 * rendered into one buffer of our own: it and the "p12" string are wiped
 * before they are freed (cJSON's growing print buffers would leave copies
 * on the heap). Returns the HTTP status sent. */
static int reply_json_secret(http_req_t *req, int status, cJSON *out)
{
	cJSON *p12 = cJSON_GetObjectItemCaseSensitive(out, "p12");
	size_t cap = 256;
	char *text = NULL, *s;
	cJSON *it;

	/* PEM and base64 escape to at most twice their length in JSON. */
	cJSON_ArrayForEach(it,
	    out) if (cJSON_IsString(it) && (s = it->valuestring) != NULL) cap +=
	    2 * strlen(s) + strlen(it->string) + 8;
	if ((text = malloc(cap)) == NULL ||
	    !cJSON_PrintPreallocated(out, text, (int)cap, 0))
		status = http_reply_problem(req, 500, PT_INTERNAL,
		    "Internal error",
		    "the principal exists but its certificate could not be sent");
	else
		http_reply_bytes(req, status, "application/json", NULL, text,
		    strlen(text));
	if (text != NULL) {
		OPENSSL_cleanse(text, cap);
		free(text);
	}
	if (cJSON_IsString(p12) && p12->valuestring != NULL)
		OPENSSL_cleanse(p12->valuestring, strlen(p12->valuestring));
	return status;
}

/* The certificate part shared by create and renew: body's csr, or
 * generate: true with p12_password; attrs says who. Answers `created`
 * with {name, role, certificate, chain[, p12]}. */
static int principal_issue(http_req_t *req, cJSON *body,
    ca_principal_attrs_t *attrs, int created)
{
	cJSON *out = NULL;
	const cJSON *gen;
	const char *csr = NULL, *p12_pass = NULL;
	ca_principal_creds_t creds;
	reg_principal_t p;
	char err[256];
	int status, rc, generate = 0;
	reg_t *reg;

	memset(&creds, 0, sizeof(creds));
	gen = cJSON_GetObjectItemCaseSensitive(body, "generate");
	if (gen != NULL && !cJSON_IsBool(gen) && !cJSON_IsNull(gen))
		return http_reply_problem(req, 422, PT_FIELD, "Invalid field",
		    "field \"generate\" must be true or false");
	generate = cJSON_IsTrue(gen);
	if ((status = api_json_string(&csr, req, body, "csr", API_CSR_MAX,
	         !generate)) != 0 ||
	    (status = api_json_string(&p12_pass, req, body, "p12_password",
	         P12_PASS_MAX, generate)) != 0)
		goto out;
	if (generate && csr != NULL)
		status = http_reply_problem(req, 422, PT_FIELD, "Invalid field",
		    "send either a csr or generate: true, not both");
	else if (!generate && p12_pass != NULL)
		status = http_reply_problem(req, 422, PT_FIELD, "Invalid field",
		    "p12_password goes with generate: true");
	else if (generate && strlen(p12_pass) < P12_PASS_MIN)
		status = http_reply_problem(req, 422, PT_FIELD, "Invalid field",
		    "p12_password must have at least 8 characters");
	else if (!generate && api_csr_check(csr, err, sizeof(err)) != 0)
		status = http_reply_problem(req, 400, PT_BAD_CSR, "Invalid CSR",
		    err);
	if (status != 0)
		goto out;
	if ((reg = http_req_reg(req)) == NULL) {
		status = api_reply_no_db(req);
		goto out;
	}
	if (generate)
		rc =
		    ca_principal_add_generated(req->srv->ca, reg, &creds, attrs,
		        p12_pass, NULL, req->principal.name, err, sizeof(err));
	else
		rc = ca_principal_add_csr(req->srv->ca, reg, &creds, attrs,
		    (const uint8_t *)csr, strlen(csr), req->principal.name, err,
		    sizeof(err));
	if (rc == CA_ERR_NOT_FOUND) {
		status = attrs->renew ?
		    http_reply_problem(req, 404, PT_NOT_FOUND, "Not found",
		        "no principal has this name") :
		    http_reply_problem(req, 422, PT_FIELD, "Invalid field",
		        "manufacturer_id names no registered manufacturer");
		goto out;
	}
	if (rc != CA_OK) {
		status = api_reply_ca_error(req, rc, err);
		goto out;
	}
	atomic_fetch_add(&req->srv->metrics.issued, 1);
	/* A renewal's role is the registry's. */
	rc = reg_principal_get(reg, &p, attrs->name, err, sizeof(err));
	out = cJSON_CreateObject();
	if (rc != REG_OK || out == NULL ||
	    cJSON_AddStringToObject(out, "name", p.name) == NULL ||
	    cJSON_AddStringToObject(out, "role", p.role) == NULL ||
	    cJSON_AddStringToObject(out, "certificate", creds.cert_pem) ==
	        NULL ||
	    cJSON_AddStringToObject(out, "chain", creds.chain_pem) == NULL ||
	    (generate && add_p12(out, &creds) != 0)) {
		status = http_reply_problem(req, 500, PT_INTERNAL,
		    "Internal error",
		    "the principal exists but its certificate could not be sent");
		goto out;
	}
	status = generate ? reply_json_secret(req, created, out) :
	                    http_reply_json(req, created, out);
out:
	ca_principal_creds_clear(&creds);
	cJSON_Delete(out);
	if (p12_pass != NULL)
		OPENSSL_cleanse((void *)p12_pass, strlen(p12_pass));
	return status;
}

/* POST /api/v1/principals {name, role, manufacturer_id?, csr} or
 * {name, role, manufacturer_id?, generate: true, p12_password}: the second
 * form makes the key here and answers its PKCS#12 once (never stored). */
int route_principal_create(http_req_t *req)
{
	cJSON *body = http_json_body(req);
	const char *name, *role, *mfr;
	ca_principal_attrs_t attrs;
	int status;

	if (body == NULL)
		return req->status;
	if (!cJSON_IsObject(body)) {
		status = http_reply_problem(req, 400, PT_BAD_JSON,
		    "Malformed JSON", "the body must be a JSON object");
		goto out;
	}
	if ((status = api_json_string(&name, req, body, "name", REG_NAME_MAX,
	         1)) != 0 ||
	    (status = api_json_string(&role, req, body, "role", 15, 1)) != 0 ||
	    (status = api_json_string(&mfr, req, body, "manufacturer_id",
	         REG_MFR_ID_MAX, 0)) != 0)
		goto out;
	if (strcmp(role, REG_ROLE_ADMIN) != 0 &&
	    strcmp(role, REG_ROLE_OPERATOR) != 0 &&
	    strcmp(role, REG_ROLE_MANUFACTURER) != 0 &&
	    strcmp(role, REG_ROLE_SIGNER) != 0) {
		status = http_reply_problem(req, 422, PT_FIELD, "Invalid field",
		    "role must be admin, operator, manufacturer or signer");
		goto out;
	}
	if ((strcmp(role, REG_ROLE_MANUFACTURER) == 0) !=
	    (mfr != NULL && mfr[0] != '\0')) {
		status = http_reply_problem(req, 422, PT_FIELD, "Invalid field",
		    "manufacturer_id is required for, and only for, role manufacturer");
		goto out;
	}
	memset(&attrs, 0, sizeof(attrs));
	attrs.name = name;
	attrs.role = role;
	attrs.manufacturer_id = mfr;
	status = principal_issue(req, body, &attrs, 201);
out:
	cJSON_Delete(body);
	return status;
}

/* Renewal body: optional revoke_previous (bool) into attrs. 0, or the
 * status of the problem sent. */
static int renew_attrs(ca_principal_attrs_t *attrs, http_req_t *req,
    const cJSON *body, const char *name)
{
	const cJSON *rp =
	    cJSON_GetObjectItemCaseSensitive(body, "revoke_previous");

	if (rp != NULL && !cJSON_IsBool(rp) && !cJSON_IsNull(rp))
		return http_reply_problem(req, 422, PT_FIELD, "Invalid field",
		    "field \"revoke_previous\" must be true or false");
	memset(attrs, 0, sizeof(*attrs));
	attrs->name = name;
	attrs->renew = 1;
	attrs->revoke_previous = cJSON_IsTrue(rp);
	return 0;
}

/* POST /api/v1/principals/{name}/renew {csr | generate, p12_password,
 * revoke_previous?} (admin): a new certificate for an existing principal,
 * same role; the earlier ones are revoked (superseded) when asked. */
int route_principal_renew(http_req_t *req)
{
	cJSON *body;
	ca_principal_attrs_t attrs;
	int status;

	if (strlen(req->params[0]) > REG_NAME_MAX)
		return http_reply_problem(req, 404, PT_NOT_FOUND, "Not found",
		    "no principal has this name");
	if ((body = http_json_body(req)) == NULL)
		return req->status;
	if (!cJSON_IsObject(body))
		status = http_reply_problem(req, 400, PT_BAD_JSON,
		    "Malformed JSON", "the body must be a JSON object");
	else if ((status = renew_attrs(&attrs, req, body, req->params[0])) == 0)
		status = principal_issue(req, body, &attrs, 200);
	cJSON_Delete(body);
	return status;
}

/* POST /api/v1/renew {csr, revoke_previous?}: a principal renews its own
 * client certificate, authenticated by the current one (as EST's
 * simplereenroll, RFC 7030 §4.2.2). Not from a portal session: a portal
 * user holds no certificate. */
int route_self_renew(http_req_t *req)
{
	cJSON *body;
	const cJSON *gen;
	ca_principal_attrs_t attrs;
	int status;

	if (req->via_session)
		return http_reply_problem(req, 403, PT_FORBIDDEN, "Forbidden",
		    "renewal needs the client certificate being renewed; "
		    "a portal session has none");
	if ((body = http_json_body(req)) == NULL)
		return req->status;
	gen = cJSON_GetObjectItemCaseSensitive(body, "generate");
	if (!cJSON_IsObject(body))
		status = http_reply_problem(req, 400, PT_BAD_JSON,
		    "Malformed JSON", "the body must be a JSON object");
	else if (gen != NULL && !cJSON_IsFalse(gen) && !cJSON_IsNull(gen))
		status = http_reply_problem(req, 422, PT_FIELD, "Invalid field",
		    "self-renewal takes a csr: the new key stays with its owner");
	else if ((status = renew_attrs(&attrs, req, body,
	              req->principal.name)) == 0) {
		const struct mg_client_cert *cc = req->ri->client_cert;
		uint8_t fp[PKI_FINGERPRINT_LEN];
		char hex[2 * PKI_FINGERPRINT_LEN + 1];

		if (cc == NULL || cc->peer_cert == NULL ||
		    pki_cert_fingerprint(fp, (X509 *)cc->peer_cert) != PKI_OK) {
			status = http_reply_problem(req, 401,
			    PT_UNAUTHENTICATED, "Authentication required",
			    "renewal needs the client certificate being renewed");
		} else {
			util_hex_encode(hex, fp, sizeof(fp));
			attrs.presented_sha256 = hex;
			status = principal_issue(req, body, &attrs, 200);
		}
	}
	cJSON_Delete(body);
	return status;
}

/* POST /api/v1/principals/{name}/disable */
int route_principal_disable(http_req_t *req)
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
	rc = ca_principal_disable(req->srv->ca, reg, name, req->principal.name,
	    err, sizeof(err));
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
		return http_reply_problem(req, 500, PT_INTERNAL,
		    "Internal error",
		    "the change is committed but could not be read back");
	}
	status = http_reply_json(req, 200, out);
	cJSON_Delete(out);
	return status;
}

/* POST /api/v1/principals/{name}/revoke {"reason": "keyCompromise"}: the
 * principal's certificate goes on the Infrastructure CA's CRL and stops
 * authenticating at once. */
int route_principal_revoke(http_req_t *req)
{
	const char *name = req->params[0], *reason_name = NULL;
	reg_principal_t p;
	cJSON *body = NULL, *out = NULL;
	char err[256];
	int rc, status, reason;
	reg_t *reg;

	if ((body = http_json_body(req)) == NULL)
		return req->status;
	if (!cJSON_IsObject(body)) {
		status = http_reply_problem(req, 400, PT_BAD_JSON,
		    "Malformed JSON", "the body must be a JSON object");
		goto out;
	}
	if ((status = api_json_string(&reason_name, req, body, "reason", 32,
	         1)) != 0)
		goto out;
	if ((reason = ca_revocation_reason(reason_name)) < 0) {
		status = http_reply_problem(req, 422, PT_FIELD, "Invalid field",
		    "reason must be an RFC 5280 CRLReason name such as keyCompromise (not certificateHold: disable the principal instead)");
		goto out;
	}
	if (strlen(name) > REG_NAME_MAX) {
		status = http_reply_problem(req, 404, PT_NOT_FOUND, "Not found",
		    "no principal has this name");
		goto out;
	}
	if ((reg = http_req_reg(req)) == NULL) {
		status = api_reply_no_db(req);
		goto out;
	}
	rc = ca_principal_revoke(req->srv->ca, reg, name, reason,
	    req->principal.name, err, sizeof(err));
	if (rc == CA_ERR_NOT_FOUND) {
		status = http_reply_problem(req, 404, PT_NOT_FOUND, "Not found",
		    "no principal has this name");
		goto out;
	}
	if (rc != CA_OK) {
		status = api_reply_ca_error(req, rc, err);
		goto out;
	}
	rc = reg_principal_get(reg, &p, name, err, sizeof(err));
	out = cJSON_CreateObject();
	if (rc != REG_OK || out == NULL ||
	    cJSON_AddStringToObject(out, "name", p.name) == NULL ||
	    cJSON_AddStringToObject(out, "status", p.status) == NULL ||
	    cJSON_AddStringToObject(out, "certificate_serial",
	        p.cert_serial_hex) == NULL ||
	    cJSON_AddBoolToObject(out, "certificate_revoked", p.cert_revoked) ==
	        NULL ||
	    cJSON_AddStringToObject(out, "reason", reason_name) == NULL) {
		status =
		    http_reply_problem(req, 500, PT_INTERNAL, "Internal error",
		        "the change is committed but could not be read back");
		goto out;
	}
	status = http_reply_json(req, 200, out);
out:
	cJSON_Delete(out);
	cJSON_Delete(body);
	return status;
}

/* The since= or until= query parameter into *out (0 when absent). Returns
 * 0, or the status of the 400 problem sent. */
static int audit_time_param(int64_t *out, http_req_t *req, const char *name)
{
	char buf[48], detail[160];
	int q = http_query_get(req, name, buf, sizeof(buf));

	*out = 0;
	if (q == -1)
		return 0;
	if (q < 0 || api_time_parse(out, buf) != 0 || *out <= 0) {
		snprintf(detail, sizeof(detail),
		    "%s must be an RFC 3339 date-time "
		    "(2024-05-01T12:00:00Z) or Unix seconds after 1970",
		    name);
		return http_reply_problem(req, 400, PT_QUERY,
		    "Invalid query parameter", detail);
	}
	return 0;
}

/* Append audit entry a to arr as an object (its details parsed back to
 * JSON, {} when they are not). 0, or -1 when out of memory. */
static int audit_entry_add(cJSON *arr, const reg_audit_t *a)
{
	cJSON *o = cJSON_CreateObject(), *det;

	if (o == NULL || !cJSON_AddItemToArray(arr, o)) {
		cJSON_Delete(o);
		return -1;
	}
	det =
	    a->details != NULL ? cJSON_Parse(a->details) : cJSON_CreateObject();
	if (det == NULL)
		det = cJSON_CreateObject();
	if (det == NULL || !cJSON_AddItemToObject(o, "details", det)) {
		cJSON_Delete(det);
		return -1;
	}
	if (cJSON_AddNumberToObject(o, "id", (double)a->id) == NULL ||
	    api_add_time(o, "at", a->at) != 0 ||
	    cJSON_AddStringToObject(o, "actor", a->actor) == NULL ||
	    cJSON_AddStringToObject(o, "action", a->action) == NULL ||
	    cJSON_AddStringToObject(o, "target", a->target) == NULL)
		return -1;
	return 0;
}

/* GET /api/v1/audit?cursor=&limit=&actor=&action=&target=|device=&since=&until=
 * All filters are applied in SQL; since and until are inclusive. */
int route_audit_list(http_req_t *req)
{
	reg_audit_filter_t f;
	reg_audit_t *list = NULL;
	size_t n = 0, i;
	int64_t next = 0;
	char actor[REG_NAME_MAX + 18], action[34],
	    target[REG_DEVICE_ID_MAX + 2], err[256];
	char device[REG_DEVICE_ID_MAX + 2];
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
		return http_reply_problem(req, 400, PT_QUERY,
		    "Invalid query parameter",
		    "actor, action or target is too long");
	/* device= is target= for a DeviceID; both at once must agree. */
	q = http_query_get(req, "device", device, sizeof(device));
	if (q == -2)
		return http_reply_problem(req, 400, PT_QUERY,
		    "Invalid query parameter", "device is too long");
	if (q >= 0) {
		if (f.target != NULL && strcmp(f.target, device) != 0)
			return http_reply_problem(req, 400, PT_QUERY,
			    "Invalid query parameter",
			    "device and target name different entries");
		f.target = device;
	}
	if ((status = audit_time_param(&f.since, req, "since")) != 0 ||
	    (status = audit_time_param(&f.until, req, "until")) != 0)
		return status;
	if (f.since > 0 && f.until > 0 && f.since > f.until)
		return http_reply_problem(req, 400, PT_QUERY,
		    "Invalid query parameter",
		    "since must not be later than until");
	if ((reg = http_req_reg(req)) == NULL)
		return api_reply_no_db(req);
	if (reg_audit_list(reg, &list, &n, &next, &f, err, sizeof(err)) !=
	    REG_OK) {
		http_count_db_error(req);
		return http_reply_problem(req, 500, PT_INTERNAL,
		    "Internal error", "the registry could not be read");
	}
	out = cJSON_CreateObject();
	arr = out != NULL ? cJSON_AddArrayToObject(out, "entries") : NULL;
	if (arr == NULL)
		goto oom;
	for (i = 0; i < n; i++)
		if (audit_entry_add(arr, &list[i]) != 0)
			goto oom;
	if (api_add_cursor(out, next) != 0)
		goto oom;
	status = http_reply_json(req, 200, out);
	goto done;
oom:
	status = http_reply_problem(req, 500, PT_INTERNAL, "Internal error",
	    "out of memory");
done:
	reg_audit_list_free(list, n);
	cJSON_Delete(out);
	return status;
}
