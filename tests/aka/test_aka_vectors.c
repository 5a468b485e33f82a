/* test_aka_vectors.c — every MILENAGE set of milenage.json and every 5G-AKA
 * derivation of 5g_aka_kdf.json, read at run time from $PROVCA_VECTORS, must
 * be reproduced exactly. A missing file, field or unknown vector type fails. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <cjson/cJSON.h>

#include "aka.h"
#include "util.h"

#define MAX_FILE (1024 * 1024)

/* The parsed JSON of $PROVCA_VECTORS/name; fails the test if unreadable. */
static cJSON *load_json(const char *name)
{
	const char *dir = getenv("PROVCA_VECTORS");
	char path[4096];
	FILE *fp;
	char *buf;
	size_t n;
	cJSON *root;

	if (dir == NULL)
		fail_msg("PROVCA_VECTORS is not set");
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fp = fopen(path, "rb");
	if (fp == NULL)
		fail_msg("cannot open vectors file %s", path);
	buf = malloc(MAX_FILE + 1);
	assert_non_null(buf);
	n = fread(buf, 1, MAX_FILE + 1, fp);
	fclose(fp);
	if (n == 0 || n > MAX_FILE)
		fail_msg("vectors file %s is empty or too large", path);
	buf[n] = '\0';
	root = cJSON_Parse(buf);
	free(buf);
	if (root == NULL)
		fail_msg("vectors file %s is not JSON", path);
	return root;
}

/* The string member key of obj; fails if absent. */
static const char *str_field(const cJSON *obj, const char *key, const char *id)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);

	if (!cJSON_IsString(it) || it->valuestring == NULL)
		fail_msg("vector %s: string field '%s' missing", id, key);
	return it->valuestring;
}

/* Decode member key of obj as exactly len octets; fails otherwise. */
static void hex_field(uint8_t *out, size_t len, const cJSON *obj,
    const char *key, const char *id)
{
	const char *s = str_field(obj, key, id);

	if (util_hex_decode(out, len, s) != 0)
		fail_msg("vector %s: '%s' is not %zu octets of hex", id, key,
		    len);
}

/* Compare computed bytes against the vector's hex, naming both on failure. */
static void expect_hex(const uint8_t *got, size_t len, const cJSON *obj,
    const char *key, const char *id)
{
	uint8_t want[64];
	char g[129], w[129];

	assert_true(len <= sizeof(want));
	hex_field(want, len, obj, key, id);
	if (memcmp(got, want, len) != 0) {
		util_hex_encode(g, got, len);
		util_hex_encode(w, want, len);
		fail_msg("vector %s: %s = %s, expected %s", id, key, g, w);
	}
}

static void milenage__every_test_set_matches(void **state)
{
	cJSON *root = load_json("milenage.json");
	const cJSON *sets = cJSON_GetObjectItemCaseSensitive(root, "sets");
	const cJSON *s;
	int count = 0;

	(void)state;
	assert_true(cJSON_IsArray(sets));
	cJSON_ArrayForEach(s, sets)
	{
		uint8_t k[16], op[16], opc[16], rand[16], sqn[6], amf[2];
		uint8_t mac_a[8], mac_s[8], res[8], ck[16], ik[16], ak[6],
		    ak_star[6], autn_want[16];
		aka_vector_t v;
		const cJSON *num = cJSON_GetObjectItemCaseSensitive(s, "set");
		char id[32];
		int i;

		if (!cJSON_IsNumber(num))
			fail_msg("a MILENAGE set has no number");
		snprintf(id, sizeof(id), "milenage set %d", num->valueint);
		hex_field(k, 16, s, "k", id);
		hex_field(op, 16, s, "op", id);
		hex_field(rand, 16, s, "rand", id);
		hex_field(sqn, 6, s, "sqn", id);
		hex_field(amf, 2, s, "amf", id);

		assert_int_equal(aka_opc(opc, k, op), AKA_OK);
		expect_hex(opc, 16, s, "opc", id);
		/* Also run from the published OPc, not only ours. */
		hex_field(opc, 16, s, "opc", id);
		assert_int_equal(aka_milenage_f1(mac_a, mac_s, k, opc, rand,
		                     sqn, amf),
		    AKA_OK);
		expect_hex(mac_a, 8, s, "f1", id);
		expect_hex(mac_s, 8, s, "f1star", id);
		assert_int_equal(aka_milenage_f2345(res, ck, ik, ak, k, opc,
		                     rand),
		    AKA_OK);
		expect_hex(res, 8, s, "f2", id);
		expect_hex(ck, 16, s, "f3", id);
		expect_hex(ik, 16, s, "f4", id);
		expect_hex(ak, 6, s, "f5", id);
		assert_int_equal(aka_milenage_f5star(ak_star, k, opc, rand),
		    AKA_OK);
		expect_hex(ak_star, 6, s, "f5star", id);

		/* Single outputs give the same values as the combined call. */
		memset(ck, 0, sizeof(ck));
		assert_int_equal(aka_milenage_f2345(NULL, ck, NULL, NULL, k,
		                     opc, rand),
		    AKA_OK);
		expect_hex(ck, 16, s, "f3", id);
		memset(mac_s, 0, sizeof(mac_s));
		assert_int_equal(aka_milenage_f1(NULL, mac_s, k, opc, rand, sqn,
		                     amf),
		    AKA_OK);
		expect_hex(mac_s, 8, s, "f1star", id);

		/* AUTN from the published f5 and f1. */
		hex_field(autn_want + 8, 8, s, "f1", id);
		hex_field(ak, 6, s, "f5", id);
		for (i = 0; i < 6; i++)
			autn_want[i] = sqn[i] ^ ak[i];
		memcpy(autn_want + 6, amf, 2);
		assert_int_equal(aka_vector_make(&v, k, opc, amf, sqn, rand,
		                     "5G:mnc001.mcc001.3gppnetwork.org"),
		    AKA_OK);
		assert_memory_equal(v.autn, autn_want, 16);
		assert_memory_equal(v.rand, rand, 16);
		count++;
	}
	/* TS 35.208 §4.3 has ten sets; the file says it holds 1-10. */
	assert_int_equal(count, 10);
	cJSON_Delete(root);
}

/* The FC octet a vector names, e.g. "0x6B". */
static unsigned vector_fc(const cJSON *v, const char *id)
{
	const char *s = str_field(v, "fc", id);
	char *end = NULL;
	unsigned long fc = strtoul(s, &end, 16);

	if (end == s || *end != '\0' || fc > 0xff)
		fail_msg("vector %s: bad fc '%s'", id, s);
	return (unsigned)fc;
}

/* The octet in an "NEA0 (0x00)"-style algorithm name. */
static uint8_t alg_id(const cJSON *in, const char *key, const char *id)
{
	const char *s = strstr(str_field(in, key, id), "(0x");
	unsigned v;

	if (s == NULL || sscanf(s, "(0x%2x)", &v) != 1)
		fail_msg("vector %s: cannot read algorithm id from %s", id,
		    key);
	return (uint8_t)v;
}

static void kdf__every_5g_vector_matches(void **state)
{
	cJSON *root = load_json("5g_aka_kdf.json");
	const cJSON *vecs = cJSON_GetObjectItemCaseSensitive(root, "vectors");
	const cJSON *v;
	int count = 0;

	(void)state;
	assert_true(cJSON_IsArray(vecs));
	cJSON_ArrayForEach(v, vecs)
	{
		const char *id = str_field(v, "id", "(no id)");
		const char *type = str_field(v, "type", id);
		const cJSON *in = cJSON_GetObjectItemCaseSensitive(v, "inputs");
		const cJSON *out =
		    cJSON_GetObjectItemCaseSensitive(v, "outputs");
		unsigned fc = vector_fc(v, id);
		uint8_t ck[16], ik[16], rand[16], res[16], sxa[6], key[32],
		    got[32], abba[16];
		const char *snn;

		if (!cJSON_IsObject(in) || !cJSON_IsObject(out))
			fail_msg("vector %s: inputs/outputs missing", id);
		if (strcmp(type, "res_star") == 0) {
			const char *res_hex = str_field(in, "res", id);
			size_t res_len = strlen(res_hex) / 2;

			assert_int_equal(fc, 0x6B);
			hex_field(ck, 16, in, "ck", id);
			hex_field(ik, 16, in, "ik", id);
			hex_field(rand, 16, in, "rand", id);
			assert_true(res_len >= 4 && res_len <= 16);
			hex_field(res, res_len, in, "res", id);
			snn = str_field(in, "serving_network_name", id);
			assert_int_equal(aka_res_star(got, ck, ik, snn, rand,
			                     res, res_len),
			    AKA_OK);
			expect_hex(got, 16, out, "res_star", id);
		} else if (strcmp(type, "kausf") == 0) {
			assert_int_equal(fc, 0x6A);
			hex_field(ck, 16, in, "ck", id);
			hex_field(ik, 16, in, "ik", id);
			hex_field(sxa, 6, in, "sqn_xor_ak", id);
			snn = str_field(in, "serving_network_name", id);
			assert_int_equal(aka_kausf(got, ck, ik, snn, sxa),
			    AKA_OK);
			expect_hex(got, 32, out, "kausf", id);
		} else if (strcmp(type, "kseaf") == 0) {
			assert_int_equal(fc, 0x6C);
			hex_field(key, 32, in, "kausf", id);
			snn = str_field(in, "serving_network_name", id);
			assert_int_equal(aka_kseaf(got, key, snn), AKA_OK);
			expect_hex(got, 32, out, "kseaf", id);
		} else if (strcmp(type, "kamf") == 0) {
			const char *supi = str_field(in, "supi", id);
			const char *abba_hex = str_field(in, "abba", id);
			size_t abba_len = strlen(abba_hex) / 2;
			char prefixed[64];

			assert_int_equal(fc, 0x6D);
			hex_field(key, 32, in, "kseaf", id);
			assert_true(abba_len >= 2 && abba_len <= sizeof(abba));
			hex_field(abba, abba_len, in, "abba", id);
			assert_int_equal(aka_kamf(got, key, supi, abba,
			                     abba_len),
			    AKA_OK);
			expect_hex(got, 32, out, "kamf", id);
			/* "imsi-" notation names the same P0. */
			snprintf(prefixed, sizeof(prefixed), "imsi-%s", supi);
			memset(got, 0, sizeof(got));
			assert_int_equal(aka_kamf(got, key, prefixed, abba,
			                     abba_len),
			    AKA_OK);
			expect_hex(got, 32, out, "kamf", id);
		} else if (strcmp(type, "kgnb") == 0) {
			const cJSON *cnt = cJSON_GetObjectItemCaseSensitive(in,
			    "uplink_nas_count");
			uint8_t at;

			assert_int_equal(fc, 0x6E);
			if (!cJSON_IsNumber(cnt) || cnt->valuedouble < 0 ||
			    cnt->valuedouble > 4294967295.0)
				fail_msg("vector %s: bad uplink_nas_count", id);
			hex_field(key, 32, in, "kamf", id);
			hex_field(&at, 1, in, "access_type_distinguisher", id);
			assert_int_equal(aka_kgnb(got, key,
			                     (uint32_t)cnt->valuedouble, at),
			    AKA_OK);
			expect_hex(got, 32, out, "kgnb", id);
		} else if (strcmp(type, "knas") == 0) {
			assert_int_equal(fc, 0x69);
			hex_field(key, 32, in, "kamf", id);
			assert_int_equal(aka_knas(got, key, AKA_ALG_NAS_ENC,
			                     alg_id(in, "enc_alg", id)),
			    AKA_OK);
			expect_hex(got, 32, out, "knas_enc_kdf_output", id);
			assert_int_equal(aka_knas(got, key, AKA_ALG_NAS_INT,
			                     alg_id(in, "int_alg", id)),
			    AKA_OK);
			expect_hex(got, 32, out, "knas_int_kdf_output", id);
		} else if (strcmp(type, "ckik_prime") == 0) {
			assert_int_equal(fc, 0x20);
			hex_field(ck, 16, in, "ck", id);
			hex_field(ik, 16, in, "ik", id);
			hex_field(sxa, 6, in, "sqn_xor_ak", id);
			assert_int_equal(aka_ck_ik_prime(got, ck, ik,
			                     str_field(in,
			                         "access_network_identity", id),
			                     sxa),
			    AKA_OK);
			expect_hex(got, 32, out, "ck_prime_ik_prime", id);
		} else {
			fail_msg("vector %s: unhandled type '%s'", id, type);
		}
		count++;
	}
	assert_true(count >= 8);
	cJSON_Delete(root);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(milenage__every_test_set_matches),
		cmocka_unit_test(kdf__every_5g_vector_matches),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
