/* http_routes.c — every route the server answers, in one place: the API's
 * table (mTLS roles per route), the read-only plain-HTTP listener's table,
 * and registering them (with the portal's table) into the server. The
 * tables name handlers; the dispatcher reads the tables; no handler calls
 * back into the dispatcher. */
#include <stdio.h>
#include <string.h>

#include "http_api.h"
#include "http_int.h"
#include "portal_http.h"

#define OP HTTP_ROLE_OPERATOR
#define MF HTTP_ROLE_MANUFACTURER
#define AD HTTP_ROLE_ADMIN
#define PUB HTTP_ROLE_NONE
#define BODY HTTP_ROUTE_BODY
#define READ HTTP_ROUTE_READ

const http_route_t http_api_routes[] = {
	{ "GET", "/devices/{id}", route_device_lookup, OP | AD, READ,
	    "device certificate chain, or security context with Accept: application/json" },
	{ "GET", "/DeviceID={id}", route_device_lookup, OP | AD, READ,
	    "the seed's literal form of /devices/{id}" },
	{ "POST", "/api/v1/devices", route_device_enroll, MF, BODY,
	    "enroll one device from a CSR" },
	{ "POST", "/api/v1/devices/batch", route_device_batch, MF, BODY,
	    "enroll up to batch_max devices, per-item results" },
	{ "GET", "/api/v1/devices", route_device_list, MF | AD, 0,
	    "list devices (a manufacturer sees its own)" },
	{ "GET", "/api/v1/devices/{id}", route_device_read, MF | AD, 0,
	    "security context + status history (a manufacturer: its own devices only)" },
	{ "POST", "/api/v1/devices/{id}/revoke", route_device_revoke, AD, BODY,
	    "revoke with an RFC 5280 reason" },
	{ "POST", "/api/v1/devices/{id}/suspend", route_device_suspend, AD,
	    BODY, "suspend (certificateHold)" },
	{ "POST", "/api/v1/devices/{id}/reinstate", route_device_reinstate, AD,
	    BODY, "lift a suspension" },
	{ "GET", "/api/v1/audit", route_audit_list, AD, 0,
	    "audit log, paginated" },
	{ "GET", "/api/v1/principals", route_principal_list, AD, 0,
	    "list principals" },
	{ "POST", "/api/v1/principals", route_principal_create, AD, BODY,
	    "create a principal from a CSR" },
	{ "POST", "/api/v1/principals/{name}/disable", route_principal_disable,
	    AD, BODY, "disable a principal" },
	{ "POST", "/api/v1/principals/{name}/revoke", route_principal_revoke,
	    AD, BODY,
	    "revoke a principal's certificate (Infrastructure CA CRL)" },
	{ "POST", "/api/v1/principals/{name}/renew", route_principal_renew, AD,
	    BODY,
	    "a new certificate for an existing principal (CSR or generated PKCS#12)" },
	{ "POST", "/api/v1/renew", route_self_renew, OP | MF | AD, BODY,
	    "renew the caller's own client certificate from a CSR (mTLS only)" },
	{ "GET", "/ca/root.pem", route_ca_root, PUB, 0, "Root CA certificate" },
	{ "GET", "/ca/device-ca.pem", route_ca_device, PUB, 0,
	    "Device CA certificate" },
	{ "GET", "/ca/chain.pem", route_ca_chain, PUB, 0, "Device CA + Root" },
	{ "GET", "/ca/infra-ca.pem", route_ca_infra, PUB, 0,
	    "Infrastructure CA certificate" },
	{ "GET", CA_URL_PATH_DEVICE_CA, route_ca_device_der, PUB, 0,
	    "Device CA certificate (DER): the caIssuers URL of device certificates" },
	{ "GET", "/ca/device-ca-{id}", route_ca_device_n_der, PUB, 0,
	    "a later Device CA's certificate (DER, /ca/device-ca-<id>.crt): its devices' caIssuers URL" },
	{ "GET", CA_URL_PATH_ROOT, route_ca_root_der, PUB, 0,
	    "Root CA certificate (DER)" },
	{ "GET", "/crl/device.crl", route_crl, PUB, 0, "Device CA CRL (DER)" },
	{ "GET", CA_URL_PATH_CRL, route_crl, PUB, 0,
	    "Device CA CRL (DER): the CRL distribution point of device certificates" },
	{ "GET", "/crl/device-ca-{id}", route_crl_device_n, PUB, 0,
	    "a later Device CA's CRL (DER, /crl/device-ca-<id>.crl): its devices' CRL distribution point" },
	{ "GET", CA_URL_PATH_INFRA_CRL, route_crl_infra, PUB, 0,
	    "Infrastructure CA CRL (DER): the CRL distribution point of principal certificates" },
	{ "GET", "/crl/infra-ca-{id}", route_crl_infra_n, PUB, 0,
	    "a later Infrastructure CA's CRL (DER, /crl/infra-ca-<id>.crl): its principals' CRL distribution point" },
	{ "GET", CA_URL_PATH_ROOT_CRL, route_crl_root, PUB, 0,
	    "Root CA CRL (DER), signed offline: the CRL distribution point of the intermediates" },
	{ "POST", CA_URL_PATH_OCSP, route_ocsp, PUB, BODY,
	    "OCSP responder (RFC 6960) for device certificates, signed by the Device CA" },
	{ "GET", CA_URL_PATH_OCSP "/{request}", route_ocsp_get, PUB,
	    HTTP_ROUTE_PREFIX,
	    "OCSP by GET (RFC 6960 A.1): the URL-encoded base64 of the DER request" },
	{ "POST", "/.well-known/cmp", route_cmp, OP | MF | AD, BODY,
	    "CMP (RFC 4210/9483), signed with the caller's certificate: p10cr/ir/cr by a manufacturer, "
	    "kur by any principal, rr by an admin, genm" },
	{ "POST", "/api/v1/cmp-secrets", route_cmp_secret_create, MF | AD, BODY,
	    "one-time secrets for MAC-protected CMP enrollment (a manufacturer: its own devices)" },
	{ "POST", "/.well-known/cmp/p/pbm", route_cmp_pbm, PUB, BODY,
	    "CMP ir protected by a one-time secret (PBM); the senderKID names the secret" },
	{ "GET", "/healthz", route_healthz, PUB, 0,
	    "liveness and registry check" },
	{ "GET", "/metrics", route_metrics, PUB, 0, "Prometheus metrics" },
	{ NULL, NULL, NULL, 0, 0, NULL }
};

/* The plain-HTTP listener (http_plain.c): CRLs, CA certificates and OCSP,
 * nothing else; every route public. */
const http_route_t http_plain_routes[] = { { "GET", CA_URL_PATH_CRL, route_crl,
	                                       HTTP_ROLE_NONE, 0,
	                                       "Device CA CRL (DER)" },
	{ "GET", "/crl/device.crl", route_crl, HTTP_ROLE_NONE, 0,
	    "Device CA CRL (DER)" },
	{ "GET", CA_URL_PATH_INFRA_CRL, route_crl_infra, HTTP_ROLE_NONE, 0,
	    "Infrastructure CA CRL (DER)" },
	{ "GET", CA_URL_PATH_DEVICE_CA, route_ca_device_der, HTTP_ROLE_NONE, 0,
	    "Device CA certificate (DER)" },
	{ "GET", CA_URL_PATH_ROOT, route_ca_root_der, HTTP_ROLE_NONE, 0,
	    "Root CA certificate (DER)" },
	{ "GET", "/ca/root.pem", route_ca_root, HTTP_ROLE_NONE, 0,
	    "Root CA (PEM)" },
	{ "GET", "/ca/device-ca.pem", route_ca_device, HTTP_ROLE_NONE, 0,
	    "Device CA (PEM)" },
	{ "GET", "/ca/infra-ca.pem", route_ca_infra, HTTP_ROLE_NONE, 0,
	    "Infrastructure CA (PEM)" },
	{ "GET", "/ca/chain.pem", route_ca_chain, HTTP_ROLE_NONE, 0,
	    "Device CA + Root (PEM)" },
	/* The CAs a rollover added: their certificates name these paths. */
	{ "GET", "/ca/device-ca-{id}", route_ca_device_n_der, HTTP_ROLE_NONE, 0,
	    "a later Device CA's certificate (DER, /ca/device-ca-<id>.crt)" },
	{ "GET", "/crl/device-ca-{id}", route_crl_device_n, HTTP_ROLE_NONE, 0,
	    "a later Device CA's CRL (DER, /crl/device-ca-<id>.crl)" },
	{ "GET", "/crl/infra-ca-{id}", route_crl_infra_n, HTTP_ROLE_NONE, 0,
	    "a later Infrastructure CA's CRL (DER, /crl/infra-ca-<id>.crl)" },
	{ "POST", CA_URL_PATH_OCSP, route_ocsp, HTTP_ROLE_NONE, HTTP_ROUTE_BODY,
	    "OCSP (POST)" },
	{ "GET", CA_URL_PATH_OCSP "/{request}", route_ocsp_get, HTTP_ROLE_NONE,
	    HTTP_ROUTE_PREFIX, "OCSP (GET)" },
	{ NULL, NULL, NULL, 0, 0, NULL } };

int http_routes_collect(http_server *srv, char *err, size_t errlen)
{
	const http_route_t *tables[2] = { http_api_routes, portal_routes };
	const char *labels[HTTP_ROUTES_MAX];
	size_t t, i;

	srv->nroutes = 0;
	for (t = 0; t < 2; t++) {
		for (i = 0; tables[t][i].method != NULL; i++) {
			const http_route_t *rt = &tables[t][i];

			if (srv->nroutes >= HTTP_ROUTES_MAX) {
				snprintf(err, errlen, "more than %d routes",
				    HTTP_ROUTES_MAX);
				return -1;
			}
			if (rt->pattern == NULL || rt->pattern[0] != '/' ||
			    rt->handler == NULL) {
				snprintf(err, errlen,
				    "route %zu of table %zu is malformed", i,
				    t);
				return -1;
			}
			labels[srv->nroutes] = rt->pattern;
			srv->routes[srv->nroutes++] = rt;
		}
	}
	srv->unmatched_slot =
	    http_metrics_init(&srv->metrics, labels, srv->nroutes);
	return 0;
}

static void roles_text(char *out, size_t outlen, unsigned roles)
{
	out[0] = '\0';
	if (roles == HTTP_ROLE_NONE) {
		snprintf(out, outlen, "public");
		return;
	}
	snprintf(out, outlen, "%s%s%s",
	    (roles & HTTP_ROLE_OPERATOR) ? "operator," : "",
	    (roles & HTTP_ROLE_MANUFACTURER) ? "manufacturer," : "",
	    (roles & HTTP_ROLE_ADMIN) ? "admin," : "");
	if (out[0] != '\0')
		out[strlen(out) - 1] = '\0';
}

void http_routes_print(FILE *f, const http_server *srv)
{
	char roles[64];
	size_t i;

	for (i = 0; i < srv->nroutes; i++) {
		roles_text(roles, sizeof(roles), srv->routes[i]->roles);
		fprintf(f, "%s %s %s\n", srv->routes[i]->method,
		    srv->routes[i]->pattern, roles);
	}
}
