/* http_api_context.c — the security context document (the operator's
 * JSON lookup, a device as its owner sees it) and the one piece of it the
 * batch answer shares: the device's strings are referenced, not copied,
 * and the members every device shares (the Device CA chain, the URLs) are
 * rendered by cJSON once per server (ctx_parts) — or per request, the
 * same way, when the chain is another or memory ran out. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "http_api.h"

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
static struct http_ctx_parts *ctx_parts_build(const http_server *srv,
    const char *chain_pem)
{
	struct http_ctx_parts *p = calloc(1, sizeof(*p));
	cJSON *chain = cJSON_CreateString(chain_pem);
	cJSON *urls = urls_object(srv->cfg->public_base_url);
	int bad = p == NULL || chain == NULL || urls == NULL;

	if (!bad) {
		p->chain_pem = strdup(chain_pem);
		p->chain_json = cJSON_PrintUnformatted(chain);
		p->urls_json = cJSON_PrintUnformatted(urls);
		bad = p->chain_pem == NULL || p->chain_json == NULL ||
		    p->urls_json == NULL;
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
static const struct http_ctx_parts *ctx_parts(http_server *srv,
    const char *chain_pem)
{
	struct http_ctx_parts *p = atomic_load(&srv->ctx_parts), *none = NULL;

	if (p == NULL) {
		if ((p = ctx_parts_build(srv, chain_pem)) == NULL)
			return NULL;
		if (!atomic_compare_exchange_strong(&srv->ctx_parts, &none,
		        p)) {
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

int api_add_ref(cJSON *obj, const char *key, const char *s)
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

/* Add "chain" with chain_pem: its pre-rendered text from parts, or
 * rendered by cJSON when parts is NULL (the same bytes either way). */
static int chain_add(cJSON *doc, const struct http_ctx_parts *parts,
    const char *chain_pem)
{
	if (parts != NULL)
		return add_raw(doc, "chain", parts->chain_json);
	return api_add_ref(doc, "chain", chain_pem);
}

int api_add_chain(cJSON *doc, http_server *srv, const char *chain_pem)
{
	return chain_add(doc, ctx_parts(srv, chain_pem), chain_pem);
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
	bad |= api_add_ref(doc, "device_id", r->device_id);
	m = cJSON_AddObjectToObject(doc, "manufacturer");
	bad |= m == NULL;
	if (m != NULL) {
		bad |= api_add_ref(m, "id", r->manufacturer_id);
		bad |= api_add_ref(m, "name", r->manufacturer_name);
	}
	bad |= api_add_ref(doc, "serial", r->serial);
	bad |= api_add_ref(doc, "model", r->model);
	bad |= api_add_ref(doc, "hardware_version", r->hw_version);
	st = cJSON_AddObjectToObject(doc, "status");
	bad |= st == NULL;
	if (st != NULL) {
		bad |= api_add_ref(st, "state", r->status);
		if (r->reason >= 0 && ca_reason_name(r->reason) != NULL)
			bad |= api_add_ref(st, "reason",
			    ca_reason_name(r->reason));
		else
			bad |= cJSON_AddNullToObject(st, "reason") == NULL;
		bad |= api_add_time(st, "since", r->revoked_at) != 0;
	}
	bad |= api_add_ref(doc, "certificate", d->cert_pem);
	bad |= chain_add(doc, parts, d->chain_pem);
	bad |= api_add_ref(doc, "certificate_serial", r->cert_serial_hex);
	bad |= api_add_ref(doc, "certificate_sha256", r->cert_sha256);
	bad |= api_add_time(doc, "not_before", r->not_before) != 0;
	bad |= api_add_time(doc, "not_after", r->not_after) != 0;
	bad |= api_add_ref(doc, "key_type", r->key_type);
	bad |= api_add_ref(doc, "certificate_url", d->cert_url);
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
