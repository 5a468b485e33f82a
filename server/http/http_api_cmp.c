/* http_api_cmp.c — CMP over HTTP (RFC 6712 / RFC 9811): POST
 * /.well-known/cmp with an application/pkixcmp body from a principal over
 * mutual TLS, whose client certificate is the only certificate its CMP
 * messages may be signed with; POST /.well-known/cmp/p/pbm from a factory
 * line without a certificate, whose ir is MAC-protected with a one-time
 * secret; POST /api/v1/cmp-secrets, where a manufacturer or administrator
 * makes those secrets. The PKIMessage itself is handled by
 * server/ca_cmp.c. */
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <civetweb.h>
#include <openssl/crypto.h>

#include "ca_cmp.h"
#include "http_api.h"

/* The REG_ROLE_* name of an HTTP_ROLE_* bit. */
static const char *role_name(unsigned role)
{
	if (role & HTTP_ROLE_ADMIN)
		return REG_ROLE_ADMIN;
	if (role & HTTP_ROLE_MANUFACTURER)
		return REG_ROLE_MANUFACTURER;
	return REG_ROLE_OPERATOR;
}

/* Check the media type and size, hand the body to ca_cmp_process with
 * sender (NULL: the MAC route) and answer. */
static int cmp_answer(http_req_t *req, const ca_cmp_sender_t *sender)
{
	const char *ct = http_header(req, "Content-Type");
	uint8_t *der = NULL;
	size_t len = 0;
	char err[256];
	int rc, status;
	reg_t *reg;

	if (ct == NULL || strncmp(ct, "application/pkixcmp", 19) != 0 ||
	    (ct[19] != '\0' && ct[19] != ';' && ct[19] != ' '))
		return http_reply_problem(req, 415, PT_MEDIA_TYPE,
		    "Unsupported media type",
		    "send a DER PKIMessage as application/pkixcmp");
	if (req->body_len > CA_CMP_REQUEST_MAX)
		return http_reply_problem(req, 413, PT_BODY_TOO_LARGE,
		    "Request body too large",
		    "a CMP message is at most 65536 bytes");
	if ((reg = http_req_reg(req)) == NULL)
		return api_reply_no_db(req);
	rc = ca_cmp_process(req->srv->ca, reg, sender, &der, &len,
	    (const uint8_t *)req->body, req->body_len, err, sizeof(err));
	if (rc == CA_ERR_INVALID)
		return http_reply_problem(req, 400, PT_INVALID, "Bad request",
		    err);
	if (rc != CA_OK)
		return api_reply_ca_error(req, rc, err);
	status =
	    http_reply_bytes(req, 200, "application/pkixcmp", NULL, der, len);
	OPENSSL_free(der);
	return status;
}

int route_cmp(http_req_t *req)
{
	const struct mg_client_cert *cc = req->ri->client_cert;
	ca_cmp_sender_t s;

	/* A portal session has no key to sign CMP messages with. */
	if (req->via_session || cc == NULL || cc->peer_cert == NULL)
		return http_reply_problem(req, 403, PT_FORBIDDEN, "Forbidden",
		    "CMP here needs the principal's TLS client certificate; "
		    "a line with a one-time secret uses /.well-known/cmp/p/pbm");
	s.cert = cc->peer_cert;
	s.role = role_name(req->principal.role);
	s.manufacturer_id = req->principal.manufacturer_id;
	s.name = req->principal.name;
	return cmp_answer(req, &s);
}

int route_cmp_pbm(http_req_t *req)
{
	return cmp_answer(req, NULL);
}

/* The count and valid_hours members of body (defaults 1 and 24) into
 * *count and *hours; 0, or the status of the 422 problem sent. */
static int secret_params(long *count, long *hours, http_req_t *req,
    const cJSON *body)
{
	const cJSON *c = cJSON_GetObjectItemCaseSensitive(body, "count");
	const cJSON *h = cJSON_GetObjectItemCaseSensitive(body, "valid_hours");

	*count = 1;
	*hours = 24;
	if (c != NULL &&
	    (!cJSON_IsNumber(c) ||
	        !(c->valuedouble >= 1 &&
	            c->valuedouble <= CA_CMP_SECRET_BATCH_MAX) ||
	        c->valuedouble != (double)(long)c->valuedouble))
		return http_reply_problem(req, 422, PT_FIELD, "Invalid field",
		    "field \"count\" must be a whole number 1..1000");
	if (h != NULL &&
	    (!cJSON_IsNumber(h) ||
	        !(h->valuedouble >= 1 &&
	            h->valuedouble <= CA_CMP_SECRET_VALID_MAX / 3600) ||
	        h->valuedouble != (double)(long)h->valuedouble))
		return http_reply_problem(req, 422, PT_FIELD, "Invalid field",
		    "field \"valid_hours\" must be a whole number 1..720");
	if (c != NULL)
		*count = (long)c->valuedouble;
	if (h != NULL)
		*hours = (long)h->valuedouble;
	return 0;
}

/* The answer {manufacturer_id, secrets: [{ref, secret, expires_at}]};
 * every copy of a secret is wiped before it is freed. */
static int secrets_reply(http_req_t *req, const ca_cmp_secret_new_t *s,
    size_t n, const char *mfr)
{
	cJSON *doc = cJSON_CreateObject(), *arr = NULL, *o, *it;
	char *text = NULL;
	size_t i;
	int status;

	if (doc == NULL ||
	    cJSON_AddStringToObject(doc, "manufacturer_id", mfr) == NULL ||
	    (arr = cJSON_AddArrayToObject(doc, "secrets")) == NULL)
		goto nomem;
	for (i = 0; i < n; i++)
		if ((o = cJSON_CreateObject()) == NULL ||
		    !cJSON_AddItemToArray(arr, o) ||
		    cJSON_AddStringToObject(o, "ref", s[i].ref) == NULL ||
		    cJSON_AddStringToObject(o, "secret", s[i].secret) == NULL ||
		    api_add_time(o, "expires_at", s[i].expires_at) != 0)
			goto nomem;
	if ((text = cJSON_PrintUnformatted(doc)) == NULL)
		goto nomem;
	status = http_reply_bytes(req, 201, "application/json", NULL,
	    (const uint8_t *)text, strlen(text));
	OPENSSL_cleanse(text, strlen(text));
	cJSON_free(text);
	goto out;
nomem:
	status = http_reply_problem(req, 500, PT_INTERNAL, "Internal error",
	    "out of memory");
out:
	cJSON_ArrayForEach(o, arr)
	{
		it = cJSON_GetObjectItemCaseSensitive(o, "secret");
		if (cJSON_IsString(it))
			OPENSSL_cleanse(it->valuestring,
			    strlen(it->valuestring));
	}
	cJSON_Delete(doc);
	return status;
}

/* POST /api/v1/cmp-secrets {manufacturer_id?, count?, valid_hours?}: one-time
 * secrets for MAC-protected CMP enrollment. A manufacturer makes them for its
 * own devices only; an administrator names the manufacturer. */
int route_cmp_secret_create(http_req_t *req)
{
	ca_cmp_secret_new_t *s = NULL;
	const char *mfr = NULL;
	cJSON *body;
	char err[256];
	long count, hours;
	int rc, status;
	reg_t *reg;

	if ((body = http_json_body(req)) == NULL)
		return req->status;
	if (!cJSON_IsObject(body)) {
		status = http_reply_problem(req, 400, PT_BAD_JSON,
		    "Malformed JSON", "the body must be a JSON object");
		goto out;
	}
	if ((status = api_json_string(&mfr, req, body, "manufacturer_id",
	         REG_MFR_ID_MAX,
	         !(req->principal.role & HTTP_ROLE_MANUFACTURER))) != 0 ||
	    (status = secret_params(&count, &hours, req, body)) != 0)
		goto out;
	if (req->principal.role & HTTP_ROLE_MANUFACTURER) {
		if (mfr != NULL &&
		    strcmp(mfr, req->principal.manufacturer_id) != 0) {
			status = http_reply_problem(req, 403, PT_FORBIDDEN,
			    "Forbidden",
			    "a manufacturer makes secrets for its own devices only");
			goto out;
		}
		mfr = req->principal.manufacturer_id;
	}
	if ((reg = http_req_reg(req)) == NULL) {
		status = api_reply_no_db(req);
		goto out;
	}
	if ((s = calloc((size_t)count, sizeof(*s))) == NULL) {
		status = http_reply_problem(req, 500, PT_INTERNAL,
		    "Internal error", "out of memory");
		goto out;
	}
	rc = ca_cmp_secret_create(req->srv->ca, reg, s, (size_t)count, mfr,
	    (int64_t)hours * 3600, req->principal.name, err, sizeof(err));
	if (rc == CA_ERR_NOT_FOUND)
		status = http_reply_problem(req, 422, PT_FIELD, "Invalid field",
		    err);
	else if (rc != CA_OK)
		status = api_reply_ca_error(req, rc, err);
	else
		status = secrets_reply(req, s, (size_t)count, mfr);
out:
	if (s != NULL)
		OPENSSL_cleanse(s, (size_t)count * sizeof(*s));
	free(s);
	cJSON_Delete(body);
	return status;
}
