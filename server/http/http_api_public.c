/* http_api_public.c — routes anyone may call: the CA certificates (PEM,
 * and DER at the caIssuers URL device certificates name), each Device CA's
 * CRL (the first at its original URL, later ones at /crl/device-ca-<id>.crl),
 * the OCSP responder, health and Prometheus metrics. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <civetweb.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "ca_cas.h"
#include "ca_ocsp.h"
#include "http_api.h"

/* Largest OCSP request accepted; a request for CA_OCSP_MAX_IDS
 * certificates with a nonce and a signature is far smaller. */
#define OCSP_REQUEST_MAX (64 * 1024)

/* Longest base64 path of an OCSP GET (a single-certificate request is
 * about 100 characters; RFC 5019 asks clients to POST past 255 bytes). */
#define OCSP_GET_MAX 8192

static int reply_pem(http_req_t *req, const char *pem)
{
	if (pem == NULL)
		return http_reply_problem(req, 404, PT_NOT_FOUND, "Not found",
		    "certificate not available");
	return http_reply_bytes(req, 200, "application/x-pem-file",
	    "Cache-Control: public, max-age=3600\r\n", pem, strlen(pem));
}

int route_ca_root(http_req_t *req)
{
	return reply_pem(req, ca_cert_pem(req->srv->ca, CA_CERT_ROOT));
}

int route_ca_device(http_req_t *req)
{
	return reply_pem(req, ca_cert_pem(req->srv->ca, CA_CERT_DEVICE));
}

int route_ca_infra(http_req_t *req)
{
	return reply_pem(req, ca_cert_pem(req->srv->ca, CA_CERT_INFRA));
}

/* DER, as RFC 5280 4.2.2.1 asks of an HTTP caIssuers URL. */
static int reply_der(http_req_t *req, ca_cert_t which)
{
	const uint8_t *der = NULL;
	size_t len = 0;

	if (ca_cert_der(req->srv->ca, which, &der, &len) != CA_OK ||
	    der == NULL)
		return http_reply_problem(req, 404, PT_NOT_FOUND, "Not found",
		    "certificate not available");
	return http_reply_bytes(req, 200, "application/pkix-cert",
	    "Cache-Control: public, max-age=3600\r\n", der, len);
}

/* The first Device CA's certificate (DER): the caIssuers URL of the
 * devices it issued, whichever CA issues now. */
int route_ca_device_der(http_req_t *req)
{
	ca_device_ca_t d;

	if (ca_device_ca_get(req->srv->ca, 0, &d) != CA_OK)
		return http_reply_problem(req, 404, PT_NOT_FOUND, "Not found",
		    "certificate not available");
	return http_reply_bytes(req, 200, "application/pkix-cert",
	    "Cache-Control: public, max-age=3600\r\n", d.der, d.der_len);
}

/* The Device CA id of a "<id>.<ext>" path segment; 0 when it is not one. */
static int64_t dca_param(const char *seg, const char *ext)
{
	char *end;
	long long id;

	if (seg[0] < '1' || seg[0] > '9')
		return 0;
	id = strtoll(seg, &end, 10);
	return id > 0 && id < INT32_MAX && strcmp(end, ext) == 0 ? (int64_t)id :
	                                                           0;
}

/* GET /ca/device-ca-{id}.crt: a later Device CA's certificate (DER), the
 * caIssuers URL of the devices it issued. */
int route_ca_device_n_der(http_req_t *req)
{
	int64_t id = dca_param(req->params[0], ".crt");
	ca_device_ca_t d;

	if (id == 0 || ca_device_ca_get(req->srv->ca, id, &d) != CA_OK)
		return http_reply_problem(req, 404, PT_NOT_FOUND, "Not found",
		    "no such Device CA");
	return http_reply_bytes(req, 200, "application/pkix-cert",
	    "Cache-Control: public, max-age=3600\r\n", d.der, d.der_len);
}

/* The CRL of CA id (params[0], "<id>.crl") as get makes it; what is the
 * 404's detail. */
typedef int (*crl_get_fn)(ca_t *ca, reg_t *reg, int64_t id, uint8_t **der,
    size_t *der_len, int64_t *next_update, char *err, size_t errlen);

static int reply_crl_n(http_req_t *req, crl_get_fn get, const char *what)
{
	int64_t id = dca_param(req->params[0], ".crl");
	uint8_t *der = NULL;
	size_t len = 0;
	char err[256];
	int rc, status;
	reg_t *reg;

	if (id == 0)
		return http_reply_problem(req, 404, PT_NOT_FOUND, "Not found",
		    what);
	if ((reg = http_req_reg(req)) == NULL)
		return api_reply_no_db(req);
	rc = get(req->srv->ca, reg, id, &der, &len, NULL, err, sizeof(err));
	if (rc != CA_OK)
		return api_reply_ca_error(req, rc, err);
	status = http_reply_bytes(req, 200, "application/pkix-crl",
	    "Cache-Control: no-cache\r\n", der, len);
	free(der);
	return status;
}

/* GET /crl/infra-ca-{id}.crl: the CRL of Infrastructure CA id (the
 * principal certificates it signed). */
int route_crl_infra_n(http_req_t *req)
{
	return reply_crl_n(req, ca_crl_infra_ca_get,
	    "no such Infrastructure CA");
}

/* GET /crl/device-ca-{id}.crl: the CRL of Device CA id (its own devices). */
int route_crl_device_n(http_req_t *req)
{
	return reply_crl_n(req, ca_crl_device_ca_get, "no such Device CA");
}

int route_ca_root_der(http_req_t *req)
{
	return reply_der(req, CA_CERT_ROOT);
}

int route_ca_chain(http_req_t *req)
{
	return reply_pem(req, ca_issuing_chain_pem(req->srv->ca));
}

/* GET /crl/device.crl and /crl/infra-ca.crl: the engine regenerates a CRL
 * when the revocation state changed or nextUpdate is near, so every answer
 * is current. */
static int reply_crl(http_req_t *req, const char *issuer)
{
	uint8_t *der = NULL;
	size_t len = 0;
	int64_t next_update = 0;
	char err[256];
	int rc, status;
	reg_t *reg;

	if ((reg = http_req_reg(req)) == NULL)
		return api_reply_no_db(req);
	rc = ca_crl_issuer_get(req->srv->ca, reg, issuer, &der, &len,
	    &next_update, err, sizeof(err));
	if (rc != CA_OK)
		return api_reply_ca_error(req, rc, err);
	status = http_reply_bytes(req, 200, "application/pkix-crl",
	    "Cache-Control: no-cache\r\n", der, len);
	free(der);
	return status;
}

int route_crl(http_req_t *req)
{
	return reply_crl(req, REG_ISSUER_DEVICE);
}

int route_crl_infra(http_req_t *req)
{
	return reply_crl(req, REG_ISSUER_INFRA);
}

/* GET /crl/root-ca.crl: the Root's CRL (revoked intermediates), signed
 * offline by `ca-server root crl` and published into the data folder. */
int route_crl_root(http_req_t *req)
{
	uint8_t *der = NULL;
	size_t len = 0;
	char err[256];
	int rc, status;

	rc = ca_root_crl_published(req->srv->ca, &der, &len, err, sizeof(err));
	if (rc != CA_OK)
		return api_reply_ca_error(req, rc, err);
	status = http_reply_bytes(req, 200, "application/pkix-crl",
	    "Cache-Control: no-cache\r\n", der, len);
	free(der);
	return status;
}

/* Answer a DER OCSP request (POST body or decoded GET path). Protocol-level
 * errors (a request that does not parse, another issuer) are OCSP responses
 * (malformedRequest, unauthorized), as RFC 6960 asks; only HTTP-level ones
 * are problems. */
static int ocsp_answer(http_req_t *req, const uint8_t *der_req, size_t req_len)
{
	uint8_t *der = NULL;
	size_t len = 0;
	char err[256];
	int rc, status;
	reg_t *reg;

	if ((reg = http_req_reg(req)) == NULL)
		return api_reply_no_db(req);
	rc = ca_ocsp_respond(req->srv->ca, reg, req->srv->ocsp_cache, &der,
	    &len, der_req, req_len, err, sizeof(err));
	if (rc != CA_OK)
		return api_reply_ca_error(req, rc, err);
	/* A status change must reach relying parties at once: HTTP caches
	 * keep nothing; nextUpdate tells clients how long they may. */
	status = http_reply_bytes(req, 200, "application/ocsp-response",
	    "Cache-Control: no-cache, no-store\r\n", der, len);
	OPENSSL_free(der);
	return status;
}

/* POST /ocsp: RFC 6960 appendix A.1, the DER request as the body. */
int route_ocsp(http_req_t *req)
{
	const char *ct = http_header(req, "Content-Type");

	if (ct == NULL || strncmp(ct, "application/ocsp-request", 24) != 0 ||
	    (ct[24] != '\0' && ct[24] != ';' && ct[24] != ' '))
		return http_reply_problem(req, 415, PT_MEDIA_TYPE,
		    "Unsupported media type",
		    "send a DER OCSPRequest as application/ocsp-request");
	if (req->body_len > OCSP_REQUEST_MAX)
		return http_reply_problem(req, 413, PT_BODY_TOO_LARGE,
		    "Request body too large",
		    "an OCSP request is at most 65536 bytes");
	return ocsp_answer(req, (const uint8_t *)req->body, req->body_len);
}

/* Base64 text (standard alphabet, padded) into out (at most outcap bytes).
 * Returns the length, or -1 when it is not base64 or does not fit. */
static int b64_decode(uint8_t *out, size_t outcap, const char *text, size_t n)
{
	EVP_ENCODE_CTX *ctx = EVP_ENCODE_CTX_new();
	int len = 0, fin = 0, rc = -1;

	/* Three bytes for every four characters: bound before decoding. */
	if (ctx == NULL || n == 0 || n > INT32_MAX || n / 4 * 3 + 3 > outcap)
		goto out;
	EVP_DecodeInit(ctx);
	if (EVP_DecodeUpdate(ctx, out, &len, (const unsigned char *)text,
	        (int)n) < 0 ||
	    EVP_DecodeFinal(ctx, out + len, &fin) != 1)
		goto out;
	rc = len + fin;
out:
	EVP_ENCODE_CTX_free(ctx);
	return rc;
}

/* GET /ocsp/{base64}: RFC 6960 appendix A.1 (and RFC 5019's preferred
 * form): the URL-encoding of the base64 of the DER request. The raw path
 * is used: CivetWeb's cleaned one folds the "//" base64 may contain. */
int route_ocsp_get(http_req_t *req)
{
	static const char prefix[] = CA_URL_PATH_OCSP "/";
	const char *raw = req->ri->local_uri_raw;
	char *text = NULL;
	uint8_t *der = NULL;
	size_t n;
	int tlen, dlen, status;

	if (raw == NULL || strncmp(raw, prefix, sizeof(prefix) - 1) != 0)
		return http_reply_problem(req, 404, PT_NOT_FOUND, "Not found",
		    "no such resource");
	raw += sizeof(prefix) - 1;
	n = strlen(raw);
	if (n > OCSP_GET_MAX)
		return http_reply_problem(req, 414, PT_INVALID, "URI too long",
		    "an OCSP GET request is at most 8192 characters; POST larger ones");
	if ((text = malloc(n + 1)) == NULL || (der = malloc(n + 4)) == NULL) {
		free(text);
		return http_reply_problem(req, 500, PT_INTERNAL,
		    "Internal error", "out of memory");
	}
	tlen = mg_url_decode(raw, (int)n, text, (int)n + 1, 0);
	dlen = tlen > 0 ? b64_decode(der, n + 4, text, (size_t)tlen) : -1;
	/* Not base64 at all: hand OpenSSL nothing, so the answer is the
	 * OCSP malformedRequest a client understands. */
	status = ocsp_answer(req, der, dlen > 0 ? (size_t)dlen : 0);
	free(text);
	free(der);
	return status;
}

int route_healthz(http_req_t *req)
{
	static const char ok[] = "{\"status\":\"ok\"}";
	reg_t *reg = http_req_reg(req);

	if (reg == NULL || reg_schema_version(reg) < 0)
		return http_reply_problem_ex(req, 503, PT_UNAVAILABLE,
		    "Service unavailable", "the registry cannot be read",
		    "Retry-After: 1\r\n");
	return http_reply_bytes(req, 200, "application/json", NULL, ok,
	    sizeof(ok) - 1);
}

int route_metrics(http_req_t *req)
{
	char *text = NULL;
	size_t len = 0;
	int status;

	if (http_metrics_render(&text, &len, &req->srv->metrics) != 0)
		return http_reply_problem(req, 500, PT_INTERNAL,
		    "Internal error", "out of memory");
	status = http_reply_bytes(req, 200,
	    "text/plain; version=0.0.4; charset=utf-8", NULL, text, len);
	free(text);
	return status;
}
