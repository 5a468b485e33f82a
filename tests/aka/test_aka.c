/* test_aka.c — behaviour of common/aka.h beyond the published vectors: the
 * network/USIM round trip, MAC and SQN failures, AUTS resynchronisation, SQN
 * edges, argument checks, the fingerprint and the `corehook av` helpers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "aka.h"
#include "util.h"

static const char SNN[] = "5G:mnc001.mcc001.3gppnetwork.org";
static const uint8_t AMF5G[2] = { 0x80, 0x00 };
static const uint8_t ZERO[256];

/* MILENAGE test set 1 of TS 35.208 (also in milenage.json). */
static const char S1_K[] = "465b5ce8b199b49faa5f0a2ee238a6bc";
static const char S1_OP[] = "cdc202d5123e20f62b6d676ac72cb318";
static const char S1_OPC[] = "cd63cb71954a9f4e48a5994e37a02baf";
static const char S1_RAND[] = "23553cbe9637a89d218ae64dae47bf35";
static const char S1_SQN[] = "ff9bb4d0b607";
static const char S1_AMF[] = "b9b9";

struct sub {
	uint8_t k[16], opc[16];
};

static void sub_random(struct sub *s)
{
	assert_int_equal(util_random(s->k, 16), 0);
	assert_int_equal(util_random(s->opc, 16), 0);
}

static void hex(uint8_t *out, size_t len, const char *s)
{
	assert_int_equal(util_hex_decode(out, len, s), 0);
}

/* A vector for sqn, then the USIM's answer given sqn_ms. */
static int run(aka_vector_t *v, aka_usim_result_t *r, const struct sub *s,
    uint64_t sqn, uint64_t sqn_ms)
{
	uint8_t sq[6], ms[6];

	assert_int_equal(aka_sqn_from_u64(sq, sqn), AKA_OK);
	assert_int_equal(aka_sqn_from_u64(ms, sqn_ms), AKA_OK);
	assert_int_equal(aka_vector_make(v, s->k, s->opc, AMF5G, sq, NULL, SNN),
	    AKA_OK);
	return aka_usim_authenticate(r, s->k, s->opc, v->rand, v->autn, SNN,
	    ms);
}

static void aka__round_trip_keys_agree(void **state)
{
	struct sub s;
	aka_vector_t v;
	aka_usim_result_t r;
	uint8_t hres[16], kamf_n[32], kamf_u[32], abba[2] = { 0, 0 };
	char fp_n[AKA_FP_HEX_LEN], fp_u[AKA_FP_HEX_LEN];
	int i;

	(void)state;
	for (i = 0; i < 20; i++) {
		sub_random(&s);
		assert_int_equal(run(&v, &r, &s, 1000 + (uint64_t)i, 999),
		    AKA_OK);
		assert_memory_equal(r.res_star, v.xres_star, 16);
		assert_memory_not_equal(r.res_star, ZERO, 16);
		assert_int_equal(aka_hxres_star(hres, v.rand, r.res_star),
		    AKA_OK);
		assert_memory_equal(hres, v.hxres_star, 16);
		assert_memory_equal(r.kausf, v.kausf, 32);
		assert_memory_equal(r.kseaf, v.kseaf, 32);
		assert_int_equal(aka_vector_check_res_star(&v, r.res_star),
		    AKA_OK);
		assert_int_equal(aka_sqn_to_u64(r.sqn), 1000 + (uint64_t)i);
		assert_int_equal(aka_kamf(kamf_n, v.kseaf, "001010000000001",
		                     abba, 2),
		    AKA_OK);
		assert_int_equal(aka_kamf(kamf_u, r.kseaf,
		                     "imsi-001010000000001", abba, 2),
		    AKA_OK);
		assert_memory_equal(kamf_n, kamf_u, 32);
		assert_int_equal(aka_fingerprint(fp_n, kamf_n), AKA_OK);
		assert_int_equal(aka_fingerprint(fp_u, kamf_u), AKA_OK);
		assert_string_equal(fp_n, fp_u);
		assert_int_equal(strlen(fp_n), 16);
	}
}

static void aka__wrong_res_star_refused(void **state)
{
	struct sub s;
	aka_vector_t v;
	aka_usim_result_t r;
	uint8_t bad[16];
	int i;

	(void)state;
	sub_random(&s);
	assert_int_equal(run(&v, &r, &s, 2, 1), AKA_OK);
	assert_int_equal(aka_vector_check_res_star(&v, r.res_star), AKA_OK);
	for (i = 0; i < 16; i++) {
		memcpy(bad, r.res_star, 16);
		bad[i] ^= 0x01;
		assert_int_equal(aka_vector_check_res_star(&v, bad),
		    AKA_ERR_MAC);
	}
	/* HXRES* is checked too: a vector whose HXRES* was altered fails even
	 * with the right RES*. */
	v.hxres_star[0] ^= 0x80;
	assert_int_equal(aka_vector_check_res_star(&v, r.res_star),
	    AKA_ERR_MAC);
	assert_int_equal(aka_vector_check_res_star(NULL, r.res_star),
	    AKA_ERR_ARG);
	assert_int_equal(aka_vector_check_res_star(&v, NULL), AKA_ERR_ARG);
}

static void aka__vector_fields_follow_milenage(void **state)
{
	struct sub s;
	aka_vector_t v;
	uint8_t sqn[6] = { 0, 0, 0, 0, 0x12, 0x34 }, rand[16], res[8], ck[16],
	        ik[16], ak[6], mac[8], x[32];
	int i;

	(void)state;
	sub_random(&s);
	assert_int_equal(util_random(rand, 16), 0);
	assert_int_equal(aka_vector_make(&v, s.k, s.opc, AMF5G, sqn, rand, SNN),
	    AKA_OK);
	assert_int_equal(aka_milenage_f2345(res, ck, ik, ak, s.k, s.opc, rand),
	    AKA_OK);
	assert_int_equal(aka_milenage_f1(mac, NULL, s.k, s.opc, rand, sqn,
	                     AMF5G),
	    AKA_OK);
	for (i = 0; i < 6; i++)
		assert_int_equal(v.autn[i], sqn[i] ^ ak[i]);
	assert_memory_equal(v.autn + 6, AMF5G, 2);
	assert_memory_equal(v.autn + 8, mac, 8);
	assert_int_equal(aka_res_star(x, ck, ik, SNN, rand, res, 8), AKA_OK);
	assert_memory_equal(v.xres_star, x, 16);
	assert_int_equal(aka_kausf(x, ck, ik, SNN, v.autn), AKA_OK);
	assert_memory_equal(v.kausf, x, 32);
	/* Two vectors without a caller RAND draw different RANDs. */
	{
		aka_vector_t w;

		assert_int_equal(aka_vector_make(&v, s.k, s.opc, AMF5G, sqn,
		                     NULL, SNN),
		    AKA_OK);
		assert_int_equal(aka_vector_make(&w, s.k, s.opc, AMF5G, sqn,
		                     NULL, SNN),
		    AKA_OK);
		assert_memory_not_equal(v.rand, w.rand, 16);
		assert_memory_not_equal(v.autn, w.autn, 16);
	}
	/* The RAND may alias the output vector's own RAND. */
	memcpy(v.rand, rand, 16);
	assert_int_equal(aka_vector_make(&v, s.k, s.opc, AMF5G, sqn, v.rand,
	                     SNN),
	    AKA_OK);
	assert_memory_equal(v.rand, rand, 16);
	assert_memory_equal(v.autn + 8, mac, 8);
}

static void aka__corrupted_autn_is_mac_failure(void **state)
{
	struct sub s;
	aka_vector_t v;
	aka_usim_result_t r;
	uint8_t ms[6] = { 0 }, autn[16], rand[16];
	int i, bit;

	(void)state;
	sub_random(&s);
	assert_int_equal(run(&v, &r, &s, 5, 4), AKA_OK);
	/* Any bit of AUTN: SQN^AK, AMF and MAC-A are all covered by MAC-A. */
	for (i = 0; i < 16; i++)
		for (bit = 0; bit < 8; bit++) {
			memcpy(autn, v.autn, 16);
			autn[i] ^= (uint8_t)(1u << bit);
			memset(&r, 0xAA, sizeof(r));
			assert_int_equal(aka_usim_authenticate(&r, s.k, s.opc,
			                     v.rand, autn, SNN, ms),
			    AKA_ERR_MAC);
			assert_memory_equal(&r, ZERO, sizeof(r));
		}
	/* Another RAND, another K. */
	memcpy(rand, v.rand, 16);
	rand[15] ^= 1;
	assert_int_equal(aka_usim_authenticate(&r, s.k, s.opc, rand, v.autn,
	                     SNN, ms),
	    AKA_ERR_MAC);
	s.k[0] ^= 1;
	assert_int_equal(aka_usim_authenticate(&r, s.k, s.opc, v.rand, v.autn,
	                     SNN, ms),
	    AKA_ERR_MAC);
}

static void aka__amf_without_separation_bit_refused(void **state)
{
	struct sub s;
	aka_vector_t v;
	aka_usim_result_t r;
	uint8_t sqn[6] = { 0, 0, 0, 0, 0, 9 }, ms[6] = { 0, 0, 0, 0, 0, 8 };
	const uint8_t amf_4g[2] = { 0x00, 0x00 }, amf_7f[2] = { 0x7f, 0xff },
	              amf_81[2] = { 0x81, 0x23 };

	(void)state;
	sub_random(&s);
	assert_int_equal(aka_vector_make(&v, s.k, s.opc, amf_4g, sqn, NULL,
	                     SNN),
	    AKA_OK);
	assert_int_equal(aka_usim_authenticate(&r, s.k, s.opc, v.rand, v.autn,
	                     SNN, ms),
	    AKA_ERR_AMF);
	assert_memory_equal(&r, ZERO, sizeof(r));
	assert_int_equal(aka_vector_make(&v, s.k, s.opc, amf_7f, sqn, NULL,
	                     SNN),
	    AKA_OK);
	assert_int_equal(aka_usim_authenticate(&r, s.k, s.opc, v.rand, v.autn,
	                     SNN, ms),
	    AKA_ERR_AMF);
	assert_int_equal(aka_vector_make(&v, s.k, s.opc, amf_81, sqn, NULL,
	                     SNN),
	    AKA_OK);
	assert_int_equal(aka_usim_authenticate(&r, s.k, s.opc, v.rand, v.autn,
	                     SNN, ms),
	    AKA_OK);
	assert_memory_equal(r.res_star, v.xres_star, 16);
}

static void aka__stale_sqn_gives_auts_that_resyncs(void **state)
{
	struct sub s;
	aka_vector_t v;
	aka_usim_result_t r;
	uint8_t ms[6], got[6], mac_s[8], ak_star[6];
	const uint64_t cases[][2] = {
		/* {SQN in AUTN, SQN_MS} */
		{ 100, 100 }, /* replay of the last one */
		{ 99, 100 },  /* older */
		{ 0, 0 },     /* zero SQN never fresh */
		{ 0, 0xABCDEF },
		{ 100 + AKA_SQN_DELTA + 1, 100 }, /* too far ahead */
		{ 5, AKA_SQN_MAX - 3 },           /* network wrapped: no wrap */
		{ AKA_SQN_MAX, AKA_SQN_MAX },     /* counter exhausted */
	};
	size_t i;
	int j;

	(void)state;
	sub_random(&s);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(&r, 0x55, sizeof(r));
		assert_int_equal(run(&v, &r, &s, cases[i][0], cases[i][1]),
		    AKA_ERR_SYNC);
		/* Only the AUTS is set on a synch failure. */
		assert_memory_equal(r.res_star, ZERO, 16);
		assert_memory_equal(r.kausf, ZERO, 32);
		assert_memory_equal(r.sqn, ZERO, 6);
		/* AUTS = (SQN_MS ^ AK*) || f1*(SQN_MS, RAND, AMF 0000). */
		assert_int_equal(aka_sqn_from_u64(ms, cases[i][1]), AKA_OK);
		assert_int_equal(aka_milenage_f5star(ak_star, s.k, s.opc,
		                     v.rand),
		    AKA_OK);
		for (j = 0; j < 6; j++)
			assert_int_equal(r.auts[j], ms[j] ^ ak_star[j]);
		assert_int_equal(aka_milenage_f1(NULL, mac_s, s.k, s.opc,
		                     v.rand, ms, (const uint8_t *)"\0\0"),
		    AKA_OK);
		assert_memory_equal(r.auts + 6, mac_s, 8);
		assert_int_equal(aka_milenage_f1(NULL, mac_s, s.k, s.opc,
		                     v.rand, ms, AMF5G),
		    AKA_OK);
		assert_memory_not_equal(r.auts + 6, mac_s, 8);
		/* The network recovers SQN_MS exactly. */
		assert_int_equal(aka_auts_resync(got, s.k, s.opc, v.rand,
		                     r.auts),
		    AKA_OK);
		assert_int_equal(aka_sqn_to_u64(got), cases[i][1]);
		/* ... and its next SQN is accepted (unless exhausted). */
		if (cases[i][1] < AKA_SQN_MAX)
			assert_int_equal(run(&v, &r, &s, cases[i][1] + 1,
			                     cases[i][1]),
			    AKA_OK);
	}
}

static void aka__tampered_auts_rejected(void **state)
{
	struct sub s;
	aka_vector_t v;
	aka_usim_result_t r;
	uint8_t auts[14], got[6], rand[16];
	int i, bit;

	(void)state;
	sub_random(&s);
	assert_int_equal(run(&v, &r, &s, 7, 7), AKA_ERR_SYNC);
	for (i = 0; i < 14; i++)
		for (bit = 0; bit < 8; bit++) {
			memcpy(auts, r.auts, 14);
			auts[i] ^= (uint8_t)(1u << bit);
			memset(got, 0xEE, sizeof(got));
			assert_int_equal(aka_auts_resync(got, s.k, s.opc,
			                     v.rand, auts),
			    AKA_ERR_MAC);
			assert_memory_equal(got, ZERO, 6);
		}
	memcpy(rand, v.rand, 16);
	rand[0] ^= 0x80;
	assert_int_equal(aka_auts_resync(got, s.k, s.opc, rand, r.auts),
	    AKA_ERR_MAC);
	s.opc[3] ^= 4;
	assert_int_equal(aka_auts_resync(got, s.k, s.opc, v.rand, r.auts),
	    AKA_ERR_MAC);
}

static void sqn__edges(void **state)
{
	uint8_t b[6];
	const uint8_t max[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	const uint8_t mid[6] = { 0x01, 0x23, 0x45, 0x67, 0x89, 0xab };

	(void)state;
	assert_int_equal(aka_sqn_from_u64(b, AKA_SQN_MAX), AKA_OK);
	assert_memory_equal(b, max, 6);
	assert_true(aka_sqn_to_u64(max) == AKA_SQN_MAX);
	assert_true(aka_sqn_to_u64(mid) == 0x0123456789abULL);
	assert_int_equal(aka_sqn_from_u64(b, 0x0123456789abULL), AKA_OK);
	assert_memory_equal(b, mid, 6);
	assert_int_equal(aka_sqn_from_u64(b, 0), AKA_OK);
	assert_memory_equal(b, ZERO, 6);
	assert_int_equal(aka_sqn_from_u64(b, AKA_SQN_MAX + 1), AKA_ERR_ARG);
	assert_int_equal(aka_sqn_from_u64(NULL, 1), AKA_ERR_ARG);

	assert_true(aka_sqn_is_fresh(1, 0));
	assert_false(aka_sqn_is_fresh(0, 0));
	assert_false(aka_sqn_is_fresh(41, 42));
	assert_false(aka_sqn_is_fresh(42, 42));
	assert_true(aka_sqn_is_fresh(42 + AKA_SQN_DELTA, 42));
	assert_false(aka_sqn_is_fresh(43 + AKA_SQN_DELTA, 42));
	assert_true(aka_sqn_is_fresh(AKA_SQN_MAX, AKA_SQN_MAX - 1));
	assert_false(aka_sqn_is_fresh(AKA_SQN_MAX, AKA_SQN_MAX));
	assert_false(aka_sqn_is_fresh(0, AKA_SQN_MAX));
	assert_false(aka_sqn_is_fresh(AKA_SQN_MAX + 1, 0));
	assert_false(aka_sqn_is_fresh(AKA_SQN_MAX + 2, AKA_SQN_MAX + 1));
	assert_true(aka_sqn_is_fresh(AKA_SQN_DELTA, 0));
	assert_false(aka_sqn_is_fresh(AKA_SQN_DELTA + 1, 0));
}

static void aka__usim_top_of_sqn_range(void **state)
{
	struct sub s;
	aka_vector_t v;
	aka_usim_result_t r;

	(void)state;
	sub_random(&s);
	assert_int_equal(run(&v, &r, &s, AKA_SQN_MAX, AKA_SQN_MAX - 1), AKA_OK);
	assert_true(aka_sqn_to_u64(r.sqn) == AKA_SQN_MAX);
	assert_int_equal(run(&v, &r, &s, AKA_SQN_DELTA, 0), AKA_OK);
	assert_int_equal(run(&v, &r, &s, AKA_SQN_DELTA + 1, 0), AKA_ERR_SYNC);
}

static void snn__format(void **state)
{
	char out[AKA_SNN_BUF];

	(void)state;
	assert_int_equal(aka_snn_format(out, sizeof(out), "001", "01"), AKA_OK);
	assert_string_equal(out, "5G:mnc001.mcc001.3gppnetwork.org");
	assert_int_equal(aka_snn_format(out, sizeof(out), "901", "70"), AKA_OK);
	assert_string_equal(out, "5G:mnc070.mcc901.3gppnetwork.org");
	assert_int_equal(aka_snn_format(out, sizeof(out), "310", "410"),
	    AKA_OK);
	assert_string_equal(out, "5G:mnc410.mcc310.3gppnetwork.org");
	assert_int_equal(strlen(out) + 1, AKA_SNN_BUF);
	assert_int_equal(aka_snn_format(out, sizeof(out), "01", "01"),
	    AKA_ERR_ARG);
	assert_string_equal(out, "");
	assert_int_equal(aka_snn_format(out, sizeof(out), "0011", "01"),
	    AKA_ERR_ARG);
	assert_int_equal(aka_snn_format(out, sizeof(out), "00a", "01"),
	    AKA_ERR_ARG);
	assert_int_equal(aka_snn_format(out, sizeof(out), "001", "1"),
	    AKA_ERR_ARG);
	assert_int_equal(aka_snn_format(out, sizeof(out), "001", "1234"),
	    AKA_ERR_ARG);
	assert_int_equal(aka_snn_format(out, sizeof(out), "001", "0x"),
	    AKA_ERR_ARG);
	assert_int_equal(aka_snn_format(out, sizeof(out), NULL, "01"),
	    AKA_ERR_ARG);
	assert_int_equal(aka_snn_format(out, sizeof(out), "001", NULL),
	    AKA_ERR_ARG);
	assert_int_equal(aka_snn_format(out, AKA_SNN_BUF - 1, "001", "01"),
	    AKA_ERR_ARG);
	assert_int_equal(aka_snn_format(NULL, 64, "001", "01"), AKA_ERR_ARG);
}

static void kdf__encoding_and_bounds(void **state)
{
	uint8_t key[32], out[32], want[32], s[64], big[AKA_KDF_PARAM_MAX + 1];
	unsigned int wl = 0;
	aka_kdf_param_t p[3];

	(void)state;
	memset(key, 0x0b, sizeof(key));
	/* S = FC || "ab" || 00 02 || (empty) || 00 00 || 0x01 || 00 01 */
	p[0] = (aka_kdf_param_t){ (const uint8_t *)"ab", 2 };
	p[1] = (aka_kdf_param_t){ NULL, 0 };
	p[2] = (aka_kdf_param_t){ (const uint8_t *)"\x01", 1 };
	assert_int_equal(aka_kdf(out, key, 32, 0x6B, p, 3), AKA_OK);
	memcpy(s,
	    "\x6b"
	    "ab"
	    "\x00\x02"
	    "\x00\x00"
	    "\x01"
	    "\x00\x01",
	    10);
	assert_non_null(HMAC(EVP_sha256(), key, 32, s, 10, want, &wl));
	assert_int_equal(wl, 32);
	assert_memory_equal(out, want, 32);
	/* n = 0: S = FC only. */
	assert_int_equal(aka_kdf(out, key, 32, 0x6C, NULL, 0), AKA_OK);
	assert_non_null(
	    HMAC(EVP_sha256(), key, 32, (const uint8_t *)"\x6c", 1, want, &wl));
	assert_memory_equal(out, want, 32);
	/* Bounds: L is two octets. */
	memset(big, 0x33, sizeof(big));
	p[0] = (aka_kdf_param_t){ big, AKA_KDF_PARAM_MAX };
	assert_int_equal(aka_kdf(out, key, 32, 0x6A, p, 1), AKA_OK);
	p[0] = (aka_kdf_param_t){ big, AKA_KDF_PARAM_MAX + 1 };
	memset(out, 0x77, sizeof(out));
	assert_int_equal(aka_kdf(out, key, 32, 0x6A, p, 1), AKA_ERR_ARG);
	assert_memory_equal(out, ZERO, 32);
	p[0] = (aka_kdf_param_t){ NULL, 3 };
	assert_int_equal(aka_kdf(out, key, 32, 0x6A, p, 1), AKA_ERR_ARG);
	assert_int_equal(aka_kdf(out, key, 0, 0x6A, NULL, 0), AKA_ERR_ARG);
	assert_int_equal(aka_kdf(out, NULL, 32, 0x6A, NULL, 0), AKA_ERR_ARG);
	assert_int_equal(aka_kdf(out, key, 32, 0x6A, NULL, 1), AKA_ERR_ARG);
	assert_int_equal(aka_kdf(NULL, key, 32, 0x6A, NULL, 0), AKA_ERR_ARG);
}

static void derive__argument_checks(void **state)
{
	uint8_t ck[16] = { 1 }, ik[16] = { 2 }, rand[16] = { 3 },
	        res[16] = { 4 }, sxa[6] = { 5 }, key[32] = { 6 }, out[32],
	        abba[256] = { 0 };
	char longname[AKA_SNN_MAX + 2];

	(void)state;
	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	/* RES length within [4, 16]. */
	assert_int_equal(aka_res_star(out, ck, ik, SNN, rand, res, 4), AKA_OK);
	assert_int_equal(aka_res_star(out, ck, ik, SNN, rand, res, 16), AKA_OK);
	memset(out, 0x11, sizeof(out));
	assert_int_equal(aka_res_star(out, ck, ik, SNN, rand, res, 3),
	    AKA_ERR_ARG);
	assert_memory_equal(out, ZERO, 16);
	assert_int_equal(aka_res_star(out, ck, ik, SNN, rand, res, 17),
	    AKA_ERR_ARG);
	assert_int_equal(aka_res_star(out, ck, ik, "", rand, res, 8),
	    AKA_ERR_ARG);
	assert_int_equal(aka_res_star(out, ck, ik, longname, rand, res, 8),
	    AKA_ERR_ARG);
	longname[AKA_SNN_MAX] = '\0';
	assert_int_equal(aka_res_star(out, ck, ik, longname, rand, res, 8),
	    AKA_OK);
	assert_int_equal(aka_res_star(out, NULL, ik, SNN, rand, res, 8),
	    AKA_ERR_ARG);
	assert_int_equal(aka_res_star(NULL, ck, ik, SNN, rand, res, 8),
	    AKA_ERR_ARG);
	assert_int_equal(aka_hxres_star(out, NULL, res), AKA_ERR_ARG);
	assert_int_equal(aka_hxres_star(NULL, rand, res), AKA_ERR_ARG);
	assert_int_equal(aka_kausf(out, ck, ik, NULL, sxa), AKA_ERR_ARG);
	assert_int_equal(aka_kausf(out, ck, ik, SNN, NULL), AKA_ERR_ARG);
	assert_int_equal(aka_kseaf(out, NULL, SNN), AKA_ERR_ARG);
	assert_int_equal(aka_kseaf(out, key, ""), AKA_ERR_ARG);
	/* K_AMF: SUPI and ABBA. */
	assert_int_equal(aka_kamf(out, key, "", abba, 2), AKA_ERR_ARG);
	assert_int_equal(aka_kamf(out, key, NULL, abba, 2), AKA_ERR_ARG);
	assert_int_equal(aka_kamf(out, key, "imsi-", abba, 2), AKA_ERR_ARG);
	assert_int_equal(aka_kamf(out, key, "imsi-0010101234", abba, 2),
	    AKA_OK);
	assert_int_equal(aka_kamf(out, key, "imsi-0010101234567890", abba, 2),
	    AKA_ERR_ARG);
	assert_int_equal(aka_kamf(out, key, "imsi-00101a", abba, 2),
	    AKA_ERR_ARG);
	assert_int_equal(aka_kamf(out, key, "001010000000001", abba, 1),
	    AKA_ERR_ARG);
	assert_int_equal(aka_kamf(out, key, "001010000000001", abba, 255),
	    AKA_OK);
	assert_int_equal(aka_kamf(out, key, "001010000000001", abba, 256),
	    AKA_ERR_ARG);
	assert_int_equal(aka_kamf(out, key, "001010000000001", NULL, 2),
	    AKA_ERR_ARG);
	assert_int_equal(aka_kgnb(out, NULL, 0, 1), AKA_ERR_ARG);
	assert_int_equal(aka_knas(out, NULL, 1, 2), AKA_ERR_ARG);
	assert_int_equal(aka_ck_ik_prime(out, ck, ik, "", sxa), AKA_ERR_ARG);
	assert_int_equal(aka_ck_ik_prime(out, ck, ik, "WLAN", NULL),
	    AKA_ERR_ARG);
	/* Distinct inputs give distinct keys (parameters all reach the KDF). */
	{
		uint8_t a[32], b[32];

		assert_int_equal(aka_kgnb(a, key, 0, AKA_ACCESS_3GPP), AKA_OK);
		assert_int_equal(aka_kgnb(b, key, 0, AKA_ACCESS_NON_3GPP),
		    AKA_OK);
		assert_memory_not_equal(a, b, 32);
		assert_int_equal(aka_kgnb(b, key, 1, AKA_ACCESS_3GPP), AKA_OK);
		assert_memory_not_equal(a, b, 32);
	}
}

static void milenage__argument_checks(void **state)
{
	uint8_t b[16] = { 0 }, o[16];

	(void)state;
	assert_int_equal(aka_opc(NULL, b, b), AKA_ERR_ARG);
	assert_int_equal(aka_opc(o, NULL, b), AKA_ERR_ARG);
	assert_int_equal(aka_opc(o, b, NULL), AKA_ERR_ARG);
	assert_int_equal(aka_milenage_f1(NULL, NULL, b, b, b, b, b),
	    AKA_ERR_ARG);
	assert_int_equal(aka_milenage_f1(o, NULL, NULL, b, b, b, b),
	    AKA_ERR_ARG);
	assert_int_equal(aka_milenage_f1(o, NULL, b, b, b, b, NULL),
	    AKA_ERR_ARG);
	assert_int_equal(aka_milenage_f2345(NULL, NULL, NULL, NULL, b, b, b),
	    AKA_ERR_ARG);
	assert_int_equal(aka_milenage_f2345(o, NULL, NULL, NULL, b, NULL, b),
	    AKA_ERR_ARG);
	assert_int_equal(aka_milenage_f5star(NULL, b, b, b), AKA_ERR_ARG);
	assert_int_equal(aka_milenage_f5star(o, b, b, NULL), AKA_ERR_ARG);
}

static void aka__network_and_usim_argument_checks(void **state)
{
	uint8_t b[16] = { 0 }, sqn[6] = { 0 }, out6[6];
	aka_vector_t v;
	aka_usim_result_t r;

	(void)state;
	memset(&v, 0x44, sizeof(v));
	assert_int_equal(aka_vector_make(&v, b, b, AMF5G, sqn, NULL, ""),
	    AKA_ERR_ARG);
	assert_memory_equal(&v, ZERO, sizeof(v));
	assert_int_equal(aka_vector_make(&v, NULL, b, AMF5G, sqn, NULL, SNN),
	    AKA_ERR_ARG);
	assert_int_equal(aka_vector_make(&v, b, b, NULL, sqn, NULL, SNN),
	    AKA_ERR_ARG);
	assert_int_equal(aka_vector_make(NULL, b, b, AMF5G, sqn, NULL, SNN),
	    AKA_ERR_ARG);
	assert_int_equal(aka_usim_authenticate(&r, b, b, b, b, NULL, sqn),
	    AKA_ERR_ARG);
	assert_int_equal(aka_usim_authenticate(&r, b, b, b, b, SNN, NULL),
	    AKA_ERR_ARG);
	assert_int_equal(aka_usim_authenticate(&r, b, b, b, NULL, SNN, sqn),
	    AKA_ERR_ARG);
	assert_int_equal(aka_usim_authenticate(NULL, b, b, b, b, SNN, sqn),
	    AKA_ERR_ARG);
	assert_int_equal(aka_auts_resync(out6, b, b, b, NULL), AKA_ERR_ARG);
	assert_int_equal(aka_auts_resync(NULL, b, b, b, b), AKA_ERR_ARG);
	aka_vector_clear(NULL);
	aka_usim_result_clear(NULL);
}

static void fingerprint__is_sha256_prefix(void **state)
{
	uint8_t kamf[32];
	char fp[AKA_FP_HEX_LEN];

	(void)state;
	/* K_AMF of srsran-kamf-1; SHA-256 prefix computed with Python's
	 * hashlib. */
	hex(kamf, 32,
	    "46237ef051d6a16a3927525fa65cc395"
	    "44cdfd7990b946ad796530e6d787a0da");
	assert_int_equal(aka_fingerprint(fp, kamf), AKA_OK);
	assert_string_equal(fp, "291231b1abc5c06e");
	assert_int_equal(aka_fingerprint(fp, NULL), AKA_ERR_ARG);
	assert_string_equal(fp, "");
	assert_int_equal(aka_fingerprint(NULL, kamf), AKA_ERR_ARG);
}

static void hxres__is_last_half_of_sha256(void **state)
{
	uint8_t r[16], x[16], out[16], want[16];
	int i;

	(void)state;
	for (i = 0; i < 16; i++) {
		r[i] = (uint8_t)i;
		x[i] = (uint8_t)(16 + i);
	}
	/* hashlib.sha256(bytes(range(32))).hexdigest()[32:] */
	hex(want, 16, "f412a49c732db2c8abc1b8581bd710dd");
	assert_int_equal(aka_hxres_star(out, r, x), AKA_OK);
	assert_memory_equal(out, want, 16);
}

static void strerror__names_every_code(void **state)
{
	const int codes[] = { AKA_OK, AKA_ERR_ARG, AKA_ERR_CRYPTO, AKA_ERR_MAC,
		AKA_ERR_SYNC, AKA_ERR_AMF, AKA_ERR_IO };
	size_t i, j;

	(void)state;
	for (i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
		assert_string_not_equal(aka_strerror(codes[i]),
		    "unknown AKA error");
		for (j = 0; j < i; j++)
			assert_string_not_equal(aka_strerror(codes[i]),
			    aka_strerror(codes[j]));
	}
	assert_string_equal(aka_strerror(-99), "unknown AKA error");
	assert_string_equal(aka_strerror(AKA_ERR_SYNC), "synch failure");
}

/* Parse argv (NULL-terminated), expect rc, and the message to contain msg. */
static void av_parse_expect(int rc, const char *msg, const char **argv)
{
	aka_av_args_t a;
	char err[256];
	int argc = 0;

	while (argv[argc] != NULL)
		argc++;
	memset(&a, 0x5a, sizeof(a));
	assert_int_equal(aka_av_args_parse(&a, argc, (char *const *)argv, err,
	                     sizeof(err)),
	    rc);
	if (rc != AKA_OK) {
		if (strstr(err, msg) == NULL)
			fail_msg("message '%s' lacks '%s'", err, msg);
		assert_memory_equal(a.k, ZERO, 16);
		assert_int_equal(a.have_op + a.have_opc + a.have_snn, 0);
	}
	aka_av_args_clear(&a);
}

static void av__parse_errors_name_the_option(void **state)
{
	(void)state;
	av_parse_expect(AKA_OK, "",
	    (const char *[]){ "--k", S1_K, "--op", S1_OP, "--rand", S1_RAND,
	        "--sqn", S1_SQN, "--amf", S1_AMF, NULL });
	av_parse_expect(AKA_ERR_ARG, "--k is required",
	    (const char *[]){ "--op", S1_OP, "--rand", S1_RAND, "--sqn", S1_SQN,
	        "--amf", S1_AMF, NULL });
	av_parse_expect(AKA_ERR_ARG, "--amf is required",
	    (const char *[]){ "--k", S1_K, "--op", S1_OP, "--rand", S1_RAND,
	        "--sqn", S1_SQN, NULL });
	av_parse_expect(AKA_ERR_ARG,
	    "--k: expected 32 hex digits (16 octets), "
	    "got 30",
	    (const char *[]){ "--k", "465b5ce8b199b49faa5f0a2ee238a6", "--op",
	        S1_OP, "--rand", S1_RAND, "--sqn", S1_SQN, "--amf", S1_AMF,
	        NULL });
	av_parse_expect(AKA_ERR_ARG,
	    "--sqn: expected 12 hex digits (6 octets), "
	    "got more than 12",
	    (const char *[]){ "--k", S1_K, "--op", S1_OP, "--rand", S1_RAND,
	        "--sqn", "ff9bb4d0b60700", "--amf", S1_AMF, NULL });
	av_parse_expect(AKA_ERR_ARG, "--rand: 'g' is not a hex digit",
	    (const char *[]){ "--k", S1_K, "--op", S1_OP, "--rand",
	        "g3553cbe9637a89d218ae64dae47bf35", "--sqn", S1_SQN, "--amf",
	        S1_AMF, NULL });
	av_parse_expect(AKA_ERR_ARG,
	    "--amf: expected 4 hex digits (2 octets), "
	    "got 0",
	    (const char *[]){ "--k", S1_K, "--op", S1_OP, "--rand", S1_RAND,
	        "--sqn", S1_SQN, "--amf=", NULL });
	av_parse_expect(AKA_ERR_ARG, "exactly one of --op and --opc",
	    (const char *[]){ "--k", S1_K, "--op", S1_OP, "--opc", S1_OPC,
	        "--rand", S1_RAND, "--sqn", S1_SQN, "--amf", S1_AMF, NULL });
	av_parse_expect(AKA_ERR_ARG, "exactly one of --op and --opc",
	    (const char *[]){ "--k", S1_K, "--rand", S1_RAND, "--sqn", S1_SQN,
	        "--amf", S1_AMF, NULL });
	av_parse_expect(AKA_ERR_ARG, "--k given twice",
	    (const char *[]){ "--k", S1_K, "--k", S1_K, NULL });
	av_parse_expect(AKA_ERR_ARG, "unknown option '--key'",
	    (const char *[]){ "--key", S1_K, NULL });
	av_parse_expect(AKA_ERR_ARG, "unexpected argument 'k'",
	    (const char *[]){ "k", S1_K, NULL });
	av_parse_expect(AKA_ERR_ARG, "--amf needs a value",
	    (const char *[]){ "--k", S1_K, "--op", S1_OP, "--rand", S1_RAND,
	        "--sqn", S1_SQN, "--amf", NULL });
	av_parse_expect(AKA_ERR_ARG, "--snn: expected 1 to 255 characters",
	    (const char *[]){ "--k", S1_K, "--op", S1_OP, "--rand", S1_RAND,
	        "--sqn", S1_SQN, "--amf", S1_AMF, "--snn=", NULL });
	av_parse_expect(AKA_ERR_ARG, "--snn: only printable ASCII",
	    (const char *[]){ "--k", S1_K, "--op", S1_OP, "--rand", S1_RAND,
	        "--sqn", S1_SQN, "--amf", S1_AMF, "--snn", "5G:a b", NULL });
	{
		aka_av_args_t a;
		char err[64];

		assert_int_equal(aka_av_args_parse(NULL, 0, NULL, err,
		                     sizeof(err)),
		    AKA_ERR_ARG);
		assert_int_equal(aka_av_args_parse(&a, 1, NULL, err,
		                     sizeof(err)),
		    AKA_ERR_ARG);
		assert_string_equal(err, "invalid arguments");
	}
}

static void av__values_of_test_set_1(void **state)
{
	const char *argv[] = { "--k", S1_K,
		"--opc="
		"cd63cb71954a9f4e48a5994e37a02baf",
		"--rand", S1_RAND, "--sqn=ff9bb4d0b607", "--amf", "B9B9",
		"--snn", SNN, NULL };
	static const char *names[] = { "OPc", "MAC-A", "MAC-S", "XRES", "CK",
		"IK", "AK", "AK*", "AUTN", "XRES*", "HXRES*", "K_AUSF",
		"K_SEAF" };
	static const char *want[] = { "cd63cb71954a9f4e48a5994e37a02baf",
		"4a9ffac354dfafb3", "01cfaf9ec4e871e9", "a54211d5e3ba50bf",
		"b40ba9a3c58b2a05bbf0d987b21bf8cb",
		"f769bcd751044604127672711c6d3441", "aa689c648370",
		"451e8beca43b",
		/* osmo-auc-gen -3 -a milenage ... -s 281044218590727 */
		"55f328b43577b9b94a9ffac354dfafb3" };
	aka_av_args_t a;
	aka_av_field_t f[AKA_AV_FIELDS_MAX];
	aka_vector_t v;
	uint8_t k[16], opc[16], rand[16], sqn[6], amf[2];
	char err[128], h[65];
	size_t n = 0, i;

	(void)state;
	assert_int_equal(aka_av_args_parse(&a, 10, (char *const *)argv, err,
	                     sizeof(err)),
	    AKA_OK);
	assert_int_equal(a.have_opc, 1);
	assert_int_equal(a.have_snn, 1);
	assert_int_equal(aka_av_compute(f, &n, &a, err, sizeof(err)), AKA_OK);
	assert_int_equal(n, 13);
	for (i = 0; i < n; i++)
		assert_string_equal(f[i].name, names[i]);
	for (i = 0; i < 9; i++)
		assert_string_equal(f[i].hex, want[i]);
	/* The 5G values equal the network's vector for the same inputs. */
	hex(k, 16, S1_K);
	hex(opc, 16, S1_OPC);
	hex(rand, 16, S1_RAND);
	hex(sqn, 6, S1_SQN);
	hex(amf, 2, S1_AMF);
	assert_int_equal(aka_vector_make(&v, k, opc, amf, sqn, rand, SNN),
	    AKA_OK);
	util_hex_encode(h, v.xres_star, 16);
	assert_string_equal(f[9].hex, h);
	util_hex_encode(h, v.hxres_star, 16);
	assert_string_equal(f[10].hex, h);
	util_hex_encode(h, v.kausf, 32);
	assert_string_equal(f[11].hex, h);
	util_hex_encode(h, v.kseaf, 32);
	assert_string_equal(f[12].hex, h);
	aka_av_fields_clear(f, AKA_AV_FIELDS_MAX);
	assert_null(f[0].name);

	/* Without --snn: nine values; --op gives the same OPc. */
	{
		const char *argv2[] = { "--k", S1_K, "--op", S1_OP, "--rand",
			S1_RAND, "--sqn", S1_SQN, "--amf", S1_AMF, NULL };
		aka_av_args_t b;

		assert_int_equal(aka_av_args_parse(&b, 10, (char *const *)argv2,
		                     err, sizeof(err)),
		    AKA_OK);
		assert_int_equal(aka_av_compute(f, &n, &b, err, sizeof(err)),
		    AKA_OK);
		assert_int_equal(n, 9);
		for (i = 0; i < n; i++) {
			assert_string_equal(f[i].name, names[i]);
			assert_string_equal(f[i].hex, want[i]);
		}
		aka_av_args_clear(&b);
	}
	/* Inconsistent args struct. */
	a.have_op = 1;
	assert_int_equal(aka_av_compute(f, &n, &a, err, sizeof(err)),
	    AKA_ERR_ARG);
	assert_int_equal(n, 0);
	assert_int_equal(aka_av_compute(NULL, &n, &a, err, sizeof(err)),
	    AKA_ERR_ARG);
	aka_av_args_clear(&a);
	assert_memory_equal(a.k, ZERO, 16);
}

static void av__write_lines_and_io_error(void **state)
{
	const char *argv[] = { "--k", S1_K, "--op", S1_OP, "--rand", S1_RAND,
		"--sqn", S1_SQN, "--amf", S1_AMF, NULL };
	aka_av_args_t a;
	char err[128], buf[1024];
	FILE *fp;
	size_t n;

	(void)state;
	assert_int_equal(aka_av_args_parse(&a, 10, (char *const *)argv, err,
	                     sizeof(err)),
	    AKA_OK);
	fp = tmpfile();
	assert_non_null(fp);
	assert_int_equal(aka_av_write(fp, &a, err, sizeof(err)), AKA_OK);
	rewind(fp);
	n = fread(buf, 1, sizeof(buf) - 1, fp);
	buf[n] = '\0';
	fclose(fp);
	assert_string_equal(buf,
	    "OPc: cd63cb71954a9f4e48a5994e37a02baf\n"
	    "MAC-A: 4a9ffac354dfafb3\n"
	    "MAC-S: 01cfaf9ec4e871e9\n"
	    "XRES: a54211d5e3ba50bf\n"
	    "CK: b40ba9a3c58b2a05bbf0d987b21bf8cb\n"
	    "IK: f769bcd751044604127672711c6d3441\n"
	    "AK: aa689c648370\n"
	    "AK*: 451e8beca43b\n"
	    "AUTN: 55f328b43577b9b94a9ffac354dfafb3\n");
	/* A stream that cannot be written. */
	fp = fopen("/dev/null", "r");
	assert_non_null(fp);
	assert_int_equal(aka_av_write(fp, &a, err, sizeof(err)), AKA_ERR_IO);
	assert_string_equal(err, "writing the values failed");
	fclose(fp);
	assert_int_equal(aka_av_write(NULL, &a, err, sizeof(err)), AKA_ERR_ARG);
	aka_av_args_clear(&a);
}

/* With no provider offering the algorithms (default property "fips=yes" and
 * no FIPS provider loaded), every OpenSSL failure path reports
 * AKA_ERR_CRYPTO and leaves zeroed outputs. */
static void crypto__library_failure_is_reported(void **state)
{
	uint8_t b[32] = { 7 }, o[32], sqn[6] = { 0, 0, 0, 0, 0, 2 },
	        ms[6] = { 0, 0, 0, 0, 0, 1 };
	aka_vector_t v;
	aka_usim_result_t r;
	aka_av_args_t a;
	aka_av_field_t f[AKA_AV_FIELDS_MAX];
	char fp[AKA_FP_HEX_LEN], err[128];
	size_t n;

	(void)state;
	assert_int_equal(EVP_set_default_properties(NULL, "fips=yes"), 1);
	memset(o, 0x99, sizeof(o));
	assert_int_equal(aka_opc(o, b, b), AKA_ERR_CRYPTO);
	assert_memory_equal(o, ZERO, 16);
	assert_int_equal(aka_milenage_f1(o, o + 8, b, b, b, sqn, AMF5G),
	    AKA_ERR_CRYPTO);
	assert_int_equal(aka_milenage_f2345(o, NULL, NULL, NULL, b, b, b),
	    AKA_ERR_CRYPTO);
	assert_int_equal(aka_milenage_f5star(o, b, b, b), AKA_ERR_CRYPTO);
	memset(o, 0x99, sizeof(o));
	assert_int_equal(aka_kdf(o, b, 32, 0x6a, NULL, 0), AKA_ERR_CRYPTO);
	assert_memory_equal(o, ZERO, 32);
	assert_int_equal(aka_res_star(o, b, b, SNN, b, b, 8), AKA_ERR_CRYPTO);
	assert_int_equal(aka_hxres_star(o, b, b), AKA_ERR_CRYPTO);
	assert_int_equal(aka_fingerprint(fp, b), AKA_ERR_CRYPTO);
	assert_int_equal(aka_vector_make(&v, b, b, AMF5G, sqn, b, SNN),
	    AKA_ERR_CRYPTO);
	assert_memory_equal(&v, ZERO, sizeof(v));
	assert_int_equal(aka_usim_authenticate(&r, b, b, b, b, SNN, ms),
	    AKA_ERR_CRYPTO);
	assert_int_equal(aka_auts_resync(o, b, b, b, b), AKA_ERR_CRYPTO);
	memset(&v, 0, sizeof(v));
	assert_int_equal(aka_vector_check_res_star(&v, b), AKA_ERR_CRYPTO);
	memset(&a, 0, sizeof(a));
	a.have_op = 1;
	assert_int_equal(aka_av_compute(f, &n, &a, err, sizeof(err)),
	    AKA_ERR_CRYPTO);
	assert_string_equal(err,
	    "computing the vector failed: cryptographic "
	    "library failure");
	assert_int_equal(aka_av_write(stdout, &a, err, sizeof(err)),
	    AKA_ERR_CRYPTO);
	assert_int_equal(EVP_set_default_properties(NULL, ""), 1);
	/* And everything works again. */
	assert_int_equal(aka_opc(o, b, b), AKA_OK);
	assert_int_equal(aka_kdf(o, b, 32, 0x6a, NULL, 0), AKA_OK);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(aka__round_trip_keys_agree),
		cmocka_unit_test(aka__wrong_res_star_refused),
		cmocka_unit_test(aka__vector_fields_follow_milenage),
		cmocka_unit_test(aka__corrupted_autn_is_mac_failure),
		cmocka_unit_test(aka__amf_without_separation_bit_refused),
		cmocka_unit_test(aka__stale_sqn_gives_auts_that_resyncs),
		cmocka_unit_test(aka__tampered_auts_rejected),
		cmocka_unit_test(sqn__edges),
		cmocka_unit_test(aka__usim_top_of_sqn_range),
		cmocka_unit_test(snn__format),
		cmocka_unit_test(kdf__encoding_and_bounds),
		cmocka_unit_test(derive__argument_checks),
		cmocka_unit_test(milenage__argument_checks),
		cmocka_unit_test(aka__network_and_usim_argument_checks),
		cmocka_unit_test(fingerprint__is_sha256_prefix),
		cmocka_unit_test(hxres__is_last_half_of_sha256),
		cmocka_unit_test(strerror__names_every_code),
		cmocka_unit_test(av__parse_errors_name_the_option),
		cmocka_unit_test(av__values_of_test_set_1),
		cmocka_unit_test(av__write_lines_and_io_error),
		cmocka_unit_test(crypto__library_failure_is_reported),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
