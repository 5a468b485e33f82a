/* http_api_cmp.c — CMP over HTTP (RFC 6712 / RFC 9811): POST
 * /.well-known/cmp with an application/pkixcmp body from a manufacturer
 * (enrollment) or administrator (revocation) principal, whose TLS client
 * certificate is the only certificate its CMP
 * messages may be signed with; the PKIMessage itself is handled by
 * server/ca_cmp.c. */
#include <string.h>

#include <civetweb.h>
#include <openssl/crypto.h>

#include "ca_cmp.h"
#include "http_api.h"

int route_cmp(http_req_t *req)
{
	const char *ct = http_header(req, "Content-Type");
	const struct mg_client_cert *cc = req->ri->client_cert;
	uint8_t *der = NULL;
	size_t len = 0;
	char err[256];
	int rc, status;
	reg_t *reg;

	if (ct == NULL || strncmp(ct, "application/pkixcmp", 19) != 0 ||
	    (ct[19] != '\0' && ct[19] != ';' && ct[19] != ' '))
		return http_reply_problem(req, 415, PT_MEDIA_TYPE, "Unsupported media type",
		                          "send a DER PKIMessage as application/pkixcmp");
	if (req->body_len > CA_CMP_REQUEST_MAX)
		return http_reply_problem(req, 413, PT_BODY_TOO_LARGE, "Request body too large",
		                          "a CMP message is at most 65536 bytes");
	/* A portal session has no key to sign CMP messages with. */
	if (req->via_session || cc == NULL || cc->peer_cert == NULL)
		return http_reply_problem(req, 403, PT_FORBIDDEN, "Forbidden",
		                          "CMP needs the manufacturer's TLS client certificate");
	if ((reg = http_req_reg(req)) == NULL)
		return api_reply_no_db(req);
	rc = ca_cmp_process(req->srv->ca, reg, cc->peer_cert,
	                    (req->principal.role & HTTP_ROLE_ADMIN) ? NULL :
	                    req->principal.manufacturer_id,
	                    req->principal.name, &der, &len, (const uint8_t *)req->body,
	                    req->body_len, err, sizeof(err));
	if (rc == CA_ERR_INVALID)
		return http_reply_problem(req, 400, PT_INVALID, "Bad request", err);
	if (rc != CA_OK)
		return api_reply_ca_error(req, rc, err);
	status = http_reply_bytes(req, 200, "application/pkixcmp", NULL, der, len);
	OPENSSL_free(der);
	return status;
}
