/* test_http_ctx_parts.c — the JSON pre-render (server/http/http_api_context.c)
 * side by side with cJSON per request: the device lookup's security context
 * and the batch answer's chain, rendered with the members every device
 * shares pre-rendered once per server and again with every member rendered
 * by cJSON for this request, compared byte for byte. Byte for byte, not
 * structurally: the pre-render claims to be cJSON's own printing of the same
 * value, so any difference at all (escaping, member order, number form) is
 * a bug, and clients see these bytes. The strings carry everything JSON
 * escapes (quote, backslash, control characters, non-ASCII UTF-8). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <cmocka.h>

#include "http_api.h"
#include "http_int.h"

/* A chain-like text with every kind of character JSON escapes. */
static const char chain_a[] =
    "-----BEGIN CERTIFICATE-----\nMIIB\"quoted\"\\back\\slash\ttab\r\n"
    "\x01\x1f ctl \xc3\xa9t\xc3\xa9 \xe2\x82\xac \xf0\x9f\x94\x90 </script>\n"
    "-----END CERTIFICATE-----\n";
static const char chain_b[] =
    "-----BEGIN CERTIFICATE-----\nother\n-----END CERTIFICATE-----\n";

static ca_config_t cfg;

/* A server object as the handlers see it, with no pre-rendered parts. */
static http_server *server_new(void)
{
	http_server *srv = calloc(1, sizeof(*srv));

	assert_non_null(srv);
	srv->cfg = &cfg;
	return srv;
}

static void server_free(http_server *srv)
{
	api_security_context_free(srv);
	free(srv);
}

/* A device whose every string needs escaping, with chain as its chain. */
static void device_fill(ca_device_t *d, const char *chain, int revoked)
{
	reg_device_t *r = &d->rec;

	memset(d, 0, sizeof(*d));
	snprintf(r->device_id, sizeof(r->device_id), "ACME0001\"x\\y");
	snprintf(r->manufacturer_id, sizeof(r->manufacturer_id), "ACME");
	snprintf(r->manufacturer_name, sizeof(r->manufacturer_name),
	    "Acme \"Widgets\" \xc3\x9f\\ \x07");
	snprintf(r->serial, sizeof(r->serial), "SN\t42\n");
	snprintf(r->model, sizeof(r->model), "M\xe2\x82\xac-1");
	snprintf(r->hw_version, sizeof(r->hw_version), "1.0/\x7f");
	snprintf(r->status, sizeof(r->status), revoked ? "revoked" : "active");
	r->reason = revoked ? 1 : -1; /* keyCompromise, or none */
	r->revoked_at = revoked ? 1735689600 : 0;
	r->updated_at = 1735689601;
	r->not_before = 1704067200;
	r->not_after = 253402300799; /* 99991231235959Z */
	snprintf(r->cert_serial_hex, sizeof(r->cert_serial_hex), "0A1B2C");
	snprintf(r->cert_sha256, sizeof(r->cert_sha256), "%064d", 7);
	snprintf(r->key_type, sizeof(r->key_type), "ec-p256");
	d->cert_pem = strdup(
	    "-----BEGIN CERTIFICATE-----\nleaf\"\\\n-----END CERTIFICATE-----\n");
	d->chain_pem = strdup(chain);
	assert_non_null(d->cert_pem);
	assert_non_null(d->chain_pem);
	snprintf(d->cert_url, sizeof(d->cert_url), "%s/devices/ACME0001",
	    cfg.public_base_url);
}

static void device_clear(ca_device_t *d)
{
	free(d->cert_pem);
	free(d->chain_pem);
}

/* The security context of d printed by srv (cJSON_PrintUnformatted). */
static char *context_text(http_server *srv, const ca_device_t *d)
{
	cJSON *doc = api_security_context(srv, d);
	char *text;

	assert_non_null(doc);
	text = cJSON_PrintUnformatted(doc);
	assert_non_null(text);
	cJSON_Delete(doc);
	return text;
}

/* Render d's context on a server whose parts are d's chain (pre-rendered)
 * and on one whose parts belong to another chain (so every member is
 * rendered per request, as for a lookup under a later Device CA). */
static void both_ways_same(int revoked)
{
	http_server *pre = server_new(), *per = server_new();
	ca_device_t d, other;
	char *a, *b, *warm;
	cJSON *doc, *urls;

	device_fill(&d, chain_a, revoked);
	device_fill(&other, chain_b, 0);
	/* per's parts are published for chain_b first. */
	warm = context_text(per, &other);
	cJSON_free(warm);
	assert_non_null(atomic_load(&per->ctx_parts));
	assert_string_equal(atomic_load(&per->ctx_parts)->chain_pem, chain_b);

	a = context_text(pre, &d);
	assert_non_null(
	    atomic_load(&pre->ctx_parts)); /* the pre-rendered way */
	assert_string_equal(atomic_load(&pre->ctx_parts)->chain_pem, chain_a);
	b = context_text(per, &d);
	assert_string_equal(atomic_load(&per->ctx_parts)->chain_pem, chain_b);

	assert_int_equal(strlen(a), strlen(b));
	assert_memory_equal(a, b, strlen(a) + 1);

	/* And the values are the device's, unescaped again by a parser. */
	doc = cJSON_Parse(a);
	assert_non_null(doc);
	assert_string_equal(cJSON_GetObjectItemCaseSensitive(doc, "chain")
	                        ->valuestring,
	    chain_a);
	assert_string_equal(cJSON_GetObjectItemCaseSensitive(doc, "device_id")
	                        ->valuestring,
	    d.rec.device_id);
	assert_string_equal(cJSON_GetObjectItemCaseSensitive(
	                        cJSON_GetObjectItemCaseSensitive(doc,
	                            "manufacturer"),
	                        "name")
	                        ->valuestring,
	    d.rec.manufacturer_name);
	urls = cJSON_GetObjectItemCaseSensitive(doc, "urls");
	assert_string_equal(cJSON_GetObjectItemCaseSensitive(urls, "crl")
	                        ->valuestring,
	    "https://ca.example:8443/p\"q\\r/crl/device.crl");
	assert_string_equal(cJSON_GetObjectItemCaseSensitive(urls, "chain")
	                        ->valuestring,
	    "https://ca.example:8443/p\"q\\r/ca/chain.pem");
	assert_string_equal(cJSON_GetObjectItemCaseSensitive(
	                        cJSON_GetObjectItemCaseSensitive(doc, "status"),
	                        "state")
	                        ->valuestring,
	    revoked ? "revoked" : "active");
	if (revoked)
		assert_string_equal(cJSON_GetObjectItemCaseSensitive(
		                        cJSON_GetObjectItemCaseSensitive(doc,
		                            "status"),
		                        "reason")
		                        ->valuestring,
		    "keyCompromise");
	else
		assert_true(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(
		    cJSON_GetObjectItemCaseSensitive(doc, "status"),
		    "reason")));
	assert_string_equal(cJSON_GetObjectItemCaseSensitive(doc, "not_after")
	                        ->valuestring,
	    "9999-12-31T23:59:59Z");
	cJSON_Delete(doc);
	cJSON_free(a);
	cJSON_free(b);
	device_clear(&d);
	device_clear(&other);
	server_free(pre);
	server_free(per);
}

static void context__active_device_same_bytes_both_ways(void **state)
{
	(void)state;
	both_ways_same(0);
}

static void context__revoked_device_same_bytes_both_ways(void **state)
{
	(void)state;
	both_ways_same(1);
}

/* The batch answer's "chain": pre-rendered for the server's chain, per
 * request for another; the same text as cJSON's own string member. */
static void batch_chain__same_bytes_both_ways(void **state)
{
	http_server *srv = server_new();
	cJSON *pre = cJSON_CreateObject(), *per = cJSON_CreateObject();
	cJSON *ref = cJSON_CreateObject();
	char *a, *b, *c;

	(void)state;
	assert_non_null(pre);
	assert_non_null(per);
	assert_non_null(ref);
	assert_int_equal(api_add_chain(pre, srv, chain_a), 0);
	assert_non_null(atomic_load(&srv->ctx_parts)); /* parts for chain_a */
	assert_int_equal(api_add_chain(per, srv, chain_b),
	    0); /* not chain_a: per request */
	assert_string_equal(atomic_load(&srv->ctx_parts)->chain_pem, chain_a);
	assert_non_null(cJSON_AddStringToObject(ref, "chain", chain_a));
	a = cJSON_PrintUnformatted(pre);
	c = cJSON_PrintUnformatted(ref);
	assert_non_null(a);
	assert_non_null(c);
	assert_string_equal(a, c);
	b = cJSON_PrintUnformatted(per);
	assert_non_null(b);
	cJSON_Delete(ref);
	ref = cJSON_CreateObject();
	assert_non_null(cJSON_AddStringToObject(ref, "chain", chain_b));
	cJSON_free(c);
	c = cJSON_PrintUnformatted(ref);
	assert_string_equal(b, c);
	cJSON_free(a);
	cJSON_free(b);
	cJSON_free(c);
	cJSON_Delete(pre);
	cJSON_Delete(per);
	cJSON_Delete(ref);
	server_free(srv);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(context__active_device_same_bytes_both_ways),
		cmocka_unit_test(context__revoked_device_same_bytes_both_ways),
		cmocka_unit_test(batch_chain__same_bytes_both_ways),
	};

	config_defaults(&cfg);
	snprintf(cfg.public_base_url, sizeof(cfg.public_base_url),
	    "https://ca.example:8443/p\"q\\r");
	return cmocka_run_group_tests(tests, NULL, NULL);
}
