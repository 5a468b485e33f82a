/* http_api_lookup.c — the operator's device lookup, GET /devices/{id} and
 * the seed's literal GET /DeviceID={id}: the PEM chain, or the security
 * context with Accept: application/json, each with its ETag (304 when it
 * matches). A reader route: identification and the lookup share one read
 * snapshot. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "http_api.h"

/* 1 if the client asks for JSON (else PEM). */
static int wants_json(http_req_t *req)
{
	const char *acc = http_header(req, "Accept");

	return acc != NULL && strstr(acc, "application/json") != NULL;
}

/* GET /devices/{id}, GET /DeviceID={id}: chain or security context. */
int route_device_lookup(http_req_t *req)
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
	/* Everything the answer needs is copied out of the read
	 * transaction into d. */
	rc = ca_device_get(req->srv->ca, reg, &d, id, err, sizeof(err));
	if (rc == CA_ERR_NOT_FOUND)
		return http_reply_problem(req, 404, PT_NOT_FOUND, "Not found",
		    "no device has this DeviceID");
	if (rc != CA_OK)
		return api_reply_ca_error(req, rc, err);

	/* The version changes with every status change; the representation
	 * is part of the tag since both share one URL. */
	snprintf(etag, sizeof(etag), "\"v%lld-%.16s-%s\"",
	    (long long)d.rec.version, d.rec.cert_sha256, json ? "json" : "pem");
	snprintf(hdr, sizeof(hdr),
	    "ETag: %s\r\nVary: Accept\r\nCache-Control: no-cache\r\n", etag);
	if (api_etag_matches(http_header(req, "If-None-Match"), etag)) {
		status = http_reply_bytes(req, 304, NULL, hdr, NULL, 0);
		goto out;
	}
	if (json) {
		cJSON *doc = api_security_context(req->srv, &d);
		char *text = doc != NULL ? cJSON_PrintUnformatted(doc) : NULL;

		if (text == NULL)
			status = http_reply_problem(req, 500, PT_INTERNAL,
			    "Internal error", "out of memory");
		else
			status = http_reply_bytes(req, 200, "application/json",
			    hdr, text, strlen(text));
		cJSON_free(text);
		cJSON_Delete(doc);
	} else {
		size_t a = strlen(d.cert_pem), b = strlen(d.chain_pem);
		char *pem = malloc(a + b + 1);

		if (pem == NULL) {
			status = http_reply_problem(req, 500, PT_INTERNAL,
			    "Internal error", "out of memory");
			goto out;
		}
		memcpy(pem, d.cert_pem, a);
		memcpy(pem + a, d.chain_pem, b + 1);
		status = http_reply_bytes(req, 200,
		    "application/pem-certificate-chain", hdr, pem, a + b);
		free(pem);
	}
out:
	ca_device_clear(&d);
	return status;
}
