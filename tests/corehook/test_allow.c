/* test_allow.c — the CA allow-list: only https URLs of a configured CA's
 * host, port and path prefix ending in a DeviceID pass; tricks do not. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "ch_int.h"

static ch_allow_t list[3];

static int setup(void **state)
{
	char err[256];

	(void)state;
	memset(list, 0, sizeof(list));
	if (ch_allow_parse_base(&list[0], "https://ca.example:8443/devices/",
	        err, sizeof(err)) != CH_URL_OK)
		return -1;
	if (ch_allow_parse_base(&list[1], "https://CA2.example/v1/devices/",
	        err, sizeof(err)) != CH_URL_OK)
		return -1;
	if (ch_allow_parse_base(&list[2], "https://127.0.0.1:9443", err,
	        sizeof(err)) != CH_URL_OK)
		return -1;
	return 0;
}

static int check(const char *url, char *dev)
{
	const ch_allow_t *e;
	char err[256];

	return ch_allow_check(list, 3, url, &e, dev, err, sizeof(err));
}

static void allow_parse_base__splits_host_port_prefix(void **state)
{
	(void)state;
	assert_string_equal(list[0].host, "ca.example");
	assert_int_equal(list[0].port, 8443);
	assert_string_equal(list[0].path_prefix, "/devices/");
	assert_string_equal(list[1].host, "ca2.example");
	assert_int_equal(list[1].port, 443);
	assert_string_equal(list[1].path_prefix, "/v1/devices/");
}

static void allow_parse_base__rejects_bad_bases(void **state)
{
	ch_allow_t e;
	char err[256];

	(void)state;
	assert_int_equal(ch_allow_parse_base(&e, "http://ca.example/devices/",
	                     err, sizeof(err)),
	    CH_URL_MALFORMED);
	assert_int_equal(ch_allow_parse_base(&e, "https://ca.example/devices",
	                     err, sizeof(err)),
	    CH_URL_MALFORMED);
	assert_non_null(strstr(err, "must end with '/'"));
}

static void allow_check__accepts_listed_urls(void **state)
{
	const ch_allow_t *e;
	char dev[65], err[256];

	(void)state;
	assert_int_equal(ch_allow_check(list, 3,
	                     "https://ca.example:8443/devices/dev-0001.A_b", &e,
	                     dev, err, sizeof(err)),
	    CH_URL_OK);
	assert_ptr_equal(e, &list[0]);
	assert_string_equal(dev, "dev-0001.A_b");
	/* Host case does not matter; the default port is 443. */
	assert_int_equal(ch_allow_check(list, 3,
	                     "https://ca2.EXAMPLE/v1/devices/x1", &e, dev, err,
	                     sizeof(err)),
	    CH_URL_OK);
	assert_ptr_equal(e, &list[1]);
	assert_string_equal(dev, "x1");
	assert_int_equal(check("https://ca2.example:443/v1/devices/x2", dev),
	    CH_URL_OK);
	/* A base with no path: /devices/<id> and the seed's /DeviceID=<id>. */
	assert_string_equal(list[2].path_prefix, "/devices/");
	assert_int_equal(check("https://127.0.0.1:9443/devices/abc", dev),
	    CH_URL_OK);
	assert_string_equal(dev, "abc");
	assert_int_equal(check("https://127.0.0.1:9443/DeviceID=xyz", dev),
	    CH_URL_OK);
	assert_string_equal(dev, "xyz");
}

static void allow_check__refuses_tricks(void **state)
{
	static const struct {
		const char *url;
		int rc;
	} bad[] = {
		{ "http://ca.example:8443/devices/d1", CH_URL_MALFORMED },
		{ "ftp://ca.example:8443/devices/d1", CH_URL_MALFORMED },
		{ "https://user@ca.example:8443/devices/d1", CH_URL_MALFORMED },
		{ "https://user:pw@ca.example:8443/devices/d1",
		    CH_URL_MALFORMED },
		{ "https://ca.example:8443@evil.example/devices/d1",
		    CH_URL_MALFORMED },
		{ "https://ca.example:8444/devices/d1", CH_URL_NOT_ALLOWED },
		{ "https://ca.example/devices/d1", CH_URL_NOT_ALLOWED },
		{ "https://ca.example.evil:8443/devices/d1",
		    CH_URL_NOT_ALLOWED },
		{ "https://evil.ca.example:8443/devices/d1",
		    CH_URL_NOT_ALLOWED },
		{ "https://ca.exampl:8443/devices/d1", CH_URL_NOT_ALLOWED },
		{ "https://ca.example:8443/devicesX/d1", CH_URL_NOT_ALLOWED },
		{ "https://ca.example:8443/other/d1", CH_URL_NOT_ALLOWED },
		{ "https://ca.example:8443/devices/", CH_URL_NOT_ALLOWED },
		{ "https://ca.example:8443/DeviceID=d1", CH_URL_NOT_ALLOWED },
		{ "https://127.0.0.1:9443/api/v1/principals",
		    CH_URL_NOT_ALLOWED },
		{ "https://127.0.0.1:9443/DeviceID=", CH_URL_NOT_ALLOWED },
		{ "https://localhost:9443/devices/d1", CH_URL_NOT_ALLOWED },
		{ "https://127.0.0.1:9443/devices/../api/v1/principals",
		    CH_URL_MALFORMED },
		{ "https://ca.example:8443/devices/a/b", CH_URL_NOT_ALLOWED },
		{ "https://ca.example:8443/devices/../admin",
		    CH_URL_MALFORMED },
		{ "https://ca.example:8443/devices/./d1", CH_URL_MALFORMED },
		{ "https://ca.example:8443/devices//d1", CH_URL_MALFORMED },
		{ "https://ca.example:8443/devices/..", CH_URL_MALFORMED },
		{ "https://ca.example:8443/devices/%2e%2e/admin",
		    CH_URL_MALFORMED },
		{ "https://ca.example:8443/devices/d%31", CH_URL_MALFORMED },
		{ "https://ca.example:8443/devices/..%2fadmin",
		    CH_URL_MALFORMED },
		{ "https://ca.example:8443/devices/d1?x=1", CH_URL_MALFORMED },
		{ "https://ca.example:8443/devices/d1#frag", CH_URL_MALFORMED },
		{ "https://evil.example#@ca.example:8443/devices/d1",
		    CH_URL_MALFORMED },
		{ "https://ca.example:8443\\@evil/devices/d1",
		    CH_URL_MALFORMED },
		{ "https://ca.example:8443/devices/d 1", CH_URL_MALFORMED },
		{ "https://ca.example:8443/devices/d\x01", CH_URL_MALFORMED },
		{ "https://ca.example:8443/devices/d\xc3\xa9",
		    CH_URL_MALFORMED },
		{ "https://ca.example:99999/devices/d1", CH_URL_MALFORMED },
		{ "ca.example:8443/devices/d1", CH_URL_MALFORMED },
		{ "", CH_URL_MALFORMED },
		{ "https://ca.example:8443/devices/"
		  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
		    CH_URL_NOT_ALLOWED }, /* 65-character DeviceID */
	};
	char dev[65];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc = check(bad[i].url, dev);

		if (rc != bad[i].rc)
			fail_msg("%s: got %d, want %d", bad[i].url, rc,
			    bad[i].rc);
		assert_string_equal(dev, "");
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(allow_parse_base__splits_host_port_prefix),
		cmocka_unit_test(allow_parse_base__rejects_bad_bases),
		cmocka_unit_test(allow_check__accepts_listed_urls),
		cmocka_unit_test(allow_check__refuses_tricks),
	};
	return cmocka_run_group_tests(tests, setup, NULL);
}
