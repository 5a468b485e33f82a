/* http_api_public.c — routes anyone may call: the CA certificates, the
 * Device CA's CRL, health and Prometheus metrics. */
#include <stdlib.h>
#include <string.h>

#include "http_api.h"

static int reply_pem(http_req_t *req, const char *pem)
{
	if (pem == NULL)
		return http_reply_problem(req, 404, PT_NOT_FOUND, "Not found",
		                          "certificate not available");
	return http_reply_bytes(req, 200, "application/x-pem-file",
	                        "Cache-Control: public, max-age=3600\r\n", pem, strlen(pem));
}

int api_h_ca_root(http_req_t *req)
{
	return reply_pem(req, ca_cert_pem(req->srv->ca, CA_CERT_ROOT));
}

int api_h_ca_device(http_req_t *req)
{
	return reply_pem(req, ca_cert_pem(req->srv->ca, CA_CERT_DEVICE));
}

int api_h_ca_chain(http_req_t *req)
{
	return reply_pem(req, req->srv->chain_pem);
}

/* GET /crl/device.crl: the engine regenerates it when the revocation state
 * changed or nextUpdate is near, so every answer is current. */
int api_h_crl(http_req_t *req)
{
	uint8_t *der = NULL;
	size_t len = 0;
	int64_t next_update = 0;
	char err[256];
	int rc, status;
	reg_t *reg;

	if ((reg = http_req_reg(req)) == NULL)
		return api_reply_no_db(req);
	rc = ca_crl_get(req->srv->ca, reg, &der, &len, &next_update, err, sizeof(err));
	if (rc != CA_OK)
		return api_reply_ca_error(req, rc, err);
	status = http_reply_bytes(req, 200, "application/pkix-crl",
	                          "Cache-Control: no-cache\r\n", der, len);
	free(der);
	return status;
}

int api_h_healthz(http_req_t *req)
{
	static const char ok[] = "{\"status\":\"ok\"}";
	reg_t *reg = http_req_reg(req);

	if (reg == NULL || reg_schema_version(reg) < 0)
		return http_reply_problem_ex(req, 503, PT_UNAVAILABLE, "Service unavailable",
		                             "the registry cannot be read", "Retry-After: 1\r\n");
	return http_reply_bytes(req, 200, "application/json", NULL, ok, sizeof(ok) - 1);
}

int api_h_metrics(http_req_t *req)
{
	char *text = NULL;
	size_t len = 0;
	int status;

	if (http_metrics_render(&text, &len, &req->srv->metrics) != 0)
		return http_reply_problem(req, 500, PT_INTERNAL, "Internal error", "out of memory");
	status = http_reply_bytes(req, 200, "text/plain; version=0.0.4; charset=utf-8",
	                          NULL, text, len);
	free(text);
	return status;
}
