/* http_auth.c — who is calling: the SHA-256 of the client certificate's
 * DER, looked up among the registry's principals. A disabled principal, a
 * revoked certificate or a signer counts as no certificate at all. The
 * answer is kept for the connection's next requests only while nothing at
 * all has been committed to the registry since it was read. */
#include <stdio.h>
#include <string.h>

#include <civetweb.h>
#include <openssl/x509.h>

#include "http_int.h"
#include "pki.h"

/* Map the registry's role name to a role bit; 0 for roles that never use
 * the HTTP API. */
static unsigned role_bit(const char *role)
{
	if (strcmp(role, REG_ROLE_ADMIN) == 0)
		return HTTP_ROLE_ADMIN;
	if (strcmp(role, REG_ROLE_OPERATOR) == 0)
		return HTTP_ROLE_OPERATOR;
	if (strcmp(role, REG_ROLE_MANUFACTURER) == 0)
		return HTTP_ROLE_MANUFACTURER;
	return 0;
}

int http_auth_from_cert(http_principal_t *out, http_req_t *req)
{
	const struct mg_client_cert *cc = req->ri->client_cert;
	http_thread_t *t = mg_get_thread_pointer(req->conn);
	uint8_t fp[PKI_FINGERPRINT_LEN];
	int64_t stamp[2];
	reg_principal_t p;
	reg_t *reg;
	char err[256];
	int rc;

	/* CivetWeb fills client_cert only after OpenSSL verified the chain to
	 * the Infrastructure CA (SSL_VERIFY_PEER fails the handshake
	 * otherwise). The X509 belongs to the connection: use, never keep. */
	if (cc == NULL || cc->peer_cert == NULL)
		return 0;
	reg = http_req_reg(req);
	if (reg == NULL || t == NULL)
		return -1;
	/* Taken before the lookup: any commit after this point (a disable,
	 * a revocation, from any thread or process) moves the stamp, so the
	 * next request looks the principal up again. */
	if (reg_change_stamp(reg, stamp, err, sizeof(err)) != REG_OK) {
		http_count_db_error(req);
		return -1;
	}
	if (mg_get_user_connection_data(req->conn) == t &&
	    t->auth.peer_cert == cc->peer_cert && t->auth.reg == reg &&
	    t->auth.stamp[0] == stamp[0] && t->auth.stamp[1] == stamp[1]) {
		*out = t->auth.principal;
		return 1;
	}
	mg_set_user_connection_data(req->conn, NULL);
	if (pki_cert_fingerprint(fp, (X509 *)cc->peer_cert) != PKI_OK)
		return -1;
	rc = ca_principal_authenticate(req->srv->ca, reg, &p, fp, err, sizeof(err));
	if (rc == CA_ERR_NOT_FOUND || rc == CA_ERR_DENIED)
		return 0;
	if (rc != CA_OK) {
		http_count_db_error(req);
		return -1;
	}
	if (role_bit(p.role) == 0)
		return 0;
	memset(out, 0, sizeof(*out));
	out->id = p.id;
	snprintf(out->name, sizeof(out->name), "%s", p.name);
	out->role = role_bit(p.role);
	snprintf(out->manufacturer_id, sizeof(out->manufacturer_id), "%s",
	         p.manufacturer_id);
	t->auth.peer_cert = cc->peer_cert;
	t->auth.reg = reg;
	t->auth.stamp[0] = stamp[0];
	t->auth.stamp[1] = stamp[1];
	t->auth.principal = *out;
	mg_set_user_connection_data(req->conn, t);
	return 1;
}
