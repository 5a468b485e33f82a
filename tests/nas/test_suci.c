/* test_suci.c — common/suci.h: TS 33.501 Annex C.4 test data for Profile A
 * (C.4.3) and Profile B (C.4.4) with an IMSI-based SUPI, round trips with
 * random home network keys on both profiles, a flipped tag or ciphertext
 * bit refused, a key of the wrong profile refused, the TS 23.003 string
 * form and its parser's bounds, the null scheme. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>

#include "suci.h"
#include "util.h"

/* TS 33.501 C.4.3 (Profile A) and C.4.4 (Profile B): MSIN 001002086 in
 * the scheme input 00012080f6 (the MCC/MNC are not part of the test data:
 * they travel in clear). */
#define HN_PRIV_A \
	"c53c22208b61860b06c62e5406a7b330c2b577aa5558981510d128247d38bd1d"
#define HN_PUB_A \
	"5a8d38864820197c3394b92613b20b91633cbd897119273bf8e4a6f4eec0a650"
#define EPH_PRIV_A \
	"c80949f13ebe61af4ebdbd293ea4f942696b9e815d7e8f0096bbf6ed7de62256"
#define OUT_A \
	"b2e92f836055a255837debf850b528997ce0201cb82adfe4be1f587d07d8457d" \
	"cb02352410" \
	"cddd9e730ef3fa87"
#define HN_PRIV_B \
	"f1ab1074477ebcc7f554ea1c5fc368b1616730155e0041ac447d6301975fecda"
#define HN_PUB_B \
	"0272da71976234ce833a6907425867b82e074d44ef907dfb4b3e21c1c2256ebcd1"
#define HN_PUB_B_FULL \
	"0472da71976234ce833a6907425867b82e074d44ef907dfb4b3e21c1c2256ebcd1" \
	"5a7ded52fcbb097a4ed250e036c7b9c8c7004c4eedc4f068cd7bf8d3f900e3b4"
#define EPH_PRIV_B \
	"99798858a1dc6a2c68637149a4b1dbfd1fdff5addd62a2142f06699ed7602529"
#define OUT_B \
	"039aab8376597021e855679a9778ea0b67396e68c66df32c0f41e9acca2da9b9d1" \
	"46a33fc271" \
	"6ac7dae96aa30a4d"
#define SUPI "imsi-27401001002086"

static void hex(uint8_t *out, size_t len, const char *s)
{
	assert_int_equal(strlen(s), 2 * len);
	assert_int_equal(util_hex_decode(out, len, s), 0);
}

/* Conceal SUPI with the published keys; compare the scheme output and the
 * string form; de-conceal with the published home network private key. */
static void annex_c4(int profile, const char *pubhex, const char *ephhex,
    const char *privhex, const char *outhex)
{
	uint8_t pub[65], eph[32], want[64];
	char str[SUCI_STR_MAX], expect[SUCI_STR_MAX], supi[SUCI_SUPI_MAX];
	char err[256] = "";
	EVP_PKEY *key = NULL;
	suci_t s, p;

	hex(pub, strlen(pubhex) / 2, pubhex);
	hex(eph, 32, ephhex);
	hex(want, strlen(outhex) / 2, outhex);
	assert_int_equal(suci_make(&s, SUPI, 2, profile, pub,
	                     strlen(pubhex) / 2, 5, "17", eph, err,
	                     sizeof(err)),
	    SUCI_OK);
	assert_int_equal(s.out_len, strlen(outhex) / 2);
	assert_memory_equal(s.out, want, s.out_len);
	assert_int_equal(suci_string_format(str, sizeof(str), &s), SUCI_OK);
	snprintf(expect, sizeof(expect), "suci-0-274-01-17-%d-5-%s", profile,
	    outhex);
	assert_string_equal(str, expect);
	assert_int_equal(suci_string_parse(&p, str, err, sizeof(err)), SUCI_OK);
	assert_int_equal(suci_hn_key_load(&key, profile, privhex, err,
	                     sizeof(err)),
	    SUCI_OK);
	assert_int_equal(suci_to_supi(supi, sizeof(supi), &p, key, err,
	                     sizeof(err)),
	    SUCI_OK);
	assert_string_equal(supi, SUPI);
	EVP_PKEY_free(key);
}

static void suci__annex_c4_profile_a(void **state)
{
	(void)state;
	annex_c4(SUCI_SCHEME_PROFILE_A, HN_PUB_A, EPH_PRIV_A, HN_PRIV_A, OUT_A);
}

static void suci__annex_c4_profile_b(void **state)
{
	(void)state;
	annex_c4(SUCI_SCHEME_PROFILE_B, HN_PUB_B, EPH_PRIV_B, HN_PRIV_B, OUT_B);
	/* the uncompressed home network key gives the same output */
	annex_c4(SUCI_SCHEME_PROFILE_B, HN_PUB_B_FULL, EPH_PRIV_B, HN_PRIV_B,
	    OUT_B);
}

/* Round trips with fresh keys; every flipped bit after the ephemeral key
 * is refused as a bad tag. */
static void round_trip(int profile)
{
	EVP_PKEY *hn = EVP_PKEY_Q_keygen(NULL, NULL,
	    profile == SUCI_SCHEME_PROFILE_A ? "X25519" : "EC",
	    profile == SUCI_SCHEME_PROFILE_A ? NULL : "P-256");
	uint8_t pub[65];
	size_t publen = 0, i, eph = profile == SUCI_SCHEME_PROFILE_A ? 32 : 33;
	char supi[SUCI_SUPI_MAX], err[256];
	const char *ids[] = { "imsi-001010000000001", "imsi-00101123",
		"imsi-310410123456789" };
	suci_t s, s2;
	int k;

	assert_non_null(hn);
	assert_int_equal(suci_hn_pub_get(pub, sizeof(pub), &publen, hn, err,
	                     sizeof(err)),
	    SUCI_OK);
	assert_int_equal(publen, eph);
	for (k = 0; k < 3; k++) {
		int mnc = k == 2 ? 3 : 2;

		assert_int_equal(suci_make(&s, ids[k], mnc, profile, pub,
		                     publen, 9, NULL, NULL, err, sizeof(err)),
		    SUCI_OK);
		assert_int_equal(suci_make(&s2, ids[k], mnc, profile, pub,
		                     publen, 9, NULL, NULL, err, sizeof(err)),
		    SUCI_OK);
		/* a fresh ephemeral key every time */
		assert_memory_not_equal(s.out, s2.out, eph);
		assert_int_equal(suci_to_supi(supi, sizeof(supi), &s, hn, err,
		                     sizeof(err)),
		    SUCI_OK);
		assert_string_equal(supi, ids[k]);
		for (i = eph * 8; i < s.out_len * 8; i++) {
			s.out[i / 8] ^= (uint8_t)(0x80 >> (i % 8));
			assert_int_equal(suci_to_supi(supi, sizeof(supi), &s,
			                     hn, err, sizeof(err)),
			    SUCI_ERR_TAG);
			s.out[i / 8] ^= (uint8_t)(0x80 >> (i % 8));
		}
	}
	EVP_PKEY_free(hn);
}

static void suci__round_trips_random_keys_both_profiles(void **state)
{
	int i;

	(void)state;
	for (i = 0; i < 4; i++) {
		round_trip(SUCI_SCHEME_PROFILE_A);
		round_trip(SUCI_SCHEME_PROFILE_B);
	}
}

static void suci__wrong_key_or_profile_refused(void **state)
{
	uint8_t pub[32], eph[32];
	char supi[SUCI_SUPI_MAX], err[256];
	EVP_PKEY *a = NULL, *b = NULL, *other;
	suci_t s;

	(void)state;
	hex(pub, 32, HN_PUB_A);
	hex(eph, 32, EPH_PRIV_A);
	assert_int_equal(suci_make(&s, SUPI, 2, SUCI_SCHEME_PROFILE_A, pub, 32,
	                     1, NULL, eph, err, sizeof(err)),
	    SUCI_OK);
	assert_int_equal(suci_hn_key_load(&a, SUCI_SCHEME_PROFILE_A, HN_PRIV_A,
	                     err, sizeof(err)),
	    SUCI_OK);
	assert_int_equal(suci_hn_key_load(&b, SUCI_SCHEME_PROFILE_B, HN_PRIV_B,
	                     err, sizeof(err)),
	    SUCI_OK);
	assert_int_equal(suci_to_supi(supi, sizeof(supi), &s, b, err,
	                     sizeof(err)),
	    SUCI_ERR_SCHEME);
	assert_int_equal(suci_to_supi(supi, sizeof(supi), &s, NULL, err,
	                     sizeof(err)),
	    SUCI_ERR_SCHEME);
	other = EVP_PKEY_Q_keygen(NULL, NULL, "X25519");
	assert_non_null(other);
	assert_int_equal(suci_to_supi(supi, sizeof(supi), &s, other, err,
	                     sizeof(err)),
	    SUCI_ERR_TAG);
	assert_int_equal(suci_to_supi(supi, sizeof(supi), &s, a, err,
	                     sizeof(err)),
	    SUCI_OK);
	EVP_PKEY_free(other);
	/* the P-256 group order is not a private key */
	assert_int_equal(
	    suci_hn_key_load(&other, SUCI_SCHEME_PROFILE_B,
	        "ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551",
	        err, sizeof(err)),
	    SUCI_ERR_ARG);
	assert_null(other);
	/* a point not on the curve is refused as a home network key */
	{
		uint8_t full[65];

		hex(full, 65, HN_PUB_B_FULL);
		full[64] ^= 1;
		assert_int_equal(suci_make(&s, SUPI, 2, SUCI_SCHEME_PROFILE_B,
		                     full, 65, 1, NULL, NULL, err, sizeof(err)),
		    SUCI_ERR_ARG);
	}
	EVP_PKEY_free(a);
	EVP_PKEY_free(b);
}

static void suci__string_form_and_bounds(void **state)
{
	static const char *bad[] = {
		"suci-1-001-01-0-0-0-0123",     /* SUPI type NAI */
		"suci-0-01-01-0-0-0-0123",      /* MCC of 2 digits */
		"suci-0-001-1-0-0-0-0123",      /* MNC of 1 digit */
		"suci-0-001-01-12345-0-0-0123", /* routing indicator of 5 */
		"suci-0-001-01-0-3-0-0123",     /* scheme 3 */
		"suci-0-001-01-0-1-256-00",     /* key id 256 */
		"suci-0-001-01-0-0-1-0123",     /* null scheme with a key id */
		"suci-0-001-01-0-0-0-01234567890", /* MSIN of 11 */
		"suci-0-001-01-0-1-1-0g",          /* not hex */
		"suci-0-001-01-0-1-1-abc",         /* odd hex */
		"suci-0-001-01-0-0-0-0123-9",      /* a ninth field */
		"suci-0-001-01-0-0-0",             /* seven fields */
		"",
	};
	char supi[SUCI_SUPI_MAX], str[SUCI_STR_MAX], err[256];
	suci_t s;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(suci_string_parse(&s, bad[i], err,
		                     sizeof(err)),
		    SUCI_ERR_ARG);
	assert_int_equal(suci_make(&s, "imsi-001010123456789", 2,
	                     SUCI_SCHEME_NULL, NULL, 0, 0, NULL, NULL, err,
	                     sizeof(err)),
	    SUCI_OK);
	assert_int_equal(suci_string_format(str, sizeof(str), &s), SUCI_OK);
	assert_string_equal(str, "suci-0-001-01-0-0-0-0123456789");
	assert_int_equal(suci_string_parse(&s, str, err, sizeof(err)), SUCI_OK);
	assert_int_equal(suci_to_supi(supi, sizeof(supi), &s, NULL, err,
	                     sizeof(err)),
	    SUCI_OK);
	assert_string_equal(supi, "imsi-001010123456789");
	assert_int_equal(suci_make(&s, "imsi-00101", 2, SUCI_SCHEME_NULL, NULL,
	                     0, 0, NULL, NULL, err, sizeof(err)),
	    SUCI_ERR_ARG);
	assert_int_equal(suci_make(&s, "imsi-0010112345678901", 2,
	                     SUCI_SCHEME_NULL, NULL, 0, 0, NULL, NULL, err,
	                     sizeof(err)),
	    SUCI_ERR_ARG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(suci__annex_c4_profile_a),
		cmocka_unit_test(suci__annex_c4_profile_b),
		cmocka_unit_test(suci__round_trips_random_keys_both_profiles),
		cmocka_unit_test(suci__wrong_key_or_profile_refused),
		cmocka_unit_test(suci__string_form_and_bounds),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
