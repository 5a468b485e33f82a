/* test_nas_sec.c — common/nas_sec.h: every 128-NEA2, 128-NIA2 (bit-level
 * and octet-padded) and A.8 vector of nas_security.json read at run time
 * from $PROVCA_VECTORS; the MAC refuses one flipped bit of message, COUNT,
 * bearer or direction; byte-aligned NIA2 equals OpenSSL's own CMAC; NIA0
 * is refused outside an emergency; protect / unprotect with COUNTs, replay
 * and bad-MAC refusal. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <cjson/cJSON.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>

#include "nas_sec.h"
#include "util.h"

#define MAX_FILE (1024 * 1024)
#define BUF 256

static cJSON *vectors;

static int load_vectors(void **state)
{
	const char *dir = getenv("PROVCA_VECTORS");
	char path[4096];
	FILE *fp;
	char *buf;
	size_t n;

	(void)state;
	if (dir == NULL) {
		fprintf(stderr, "PROVCA_VECTORS is not set\n");
		return -1;
	}
	snprintf(path, sizeof(path), "%s/nas_security.json", dir);
	if ((fp = fopen(path, "rb")) == NULL) {
		fprintf(stderr, "cannot open vectors file %s\n", path);
		return -1;
	}
	buf = malloc(MAX_FILE + 1);
	n = buf != NULL ? fread(buf, 1, MAX_FILE, fp) : 0;
	fclose(fp);
	if (n == 0) {
		free(buf);
		return -1;
	}
	buf[n] = '\0';
	vectors = cJSON_Parse(buf);
	free(buf);
	return vectors != NULL ? 0 : -1;
}

static int free_vectors(void **state)
{
	(void)state;
	cJSON_Delete(vectors);
	return 0;
}

static const char *str_of(const cJSON *o, const char *k)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, k);

	if (!cJSON_IsString(it))
		fail_msg("vector field '%s' missing", k);
	return it->valuestring;
}

static int int_of(const cJSON *o, const char *k)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, k);

	if (!cJSON_IsNumber(it))
		fail_msg("vector field '%s' missing", k);
	return it->valueint;
}

/* Hex field k of o into out; returns its octet count. */
static size_t hex_of(uint8_t *out, size_t cap, const cJSON *o, const char *k)
{
	const char *s = str_of(o, k);
	size_t n = strlen(s) / 2;

	assert_true(n <= cap);
	if (util_hex_decode(out, n, s) != 0)
		fail_msg("vector field '%s' is not hex", k);
	return n;
}

static uint32_t count_of(const cJSON *o)
{
	uint8_t c[4];

	assert_int_equal(hex_of(c, 4, o, "count"), 4);
	return (uint32_t)c[0] << 24 | (uint32_t)c[1] << 16 |
	    (uint32_t)c[2] << 8 | c[3];
}

static const cJSON *list_of(const char *name, int min)
{
	const cJSON *l = cJSON_GetObjectItemCaseSensitive(vectors, name);

	assert_true(cJSON_IsArray(l));
	assert_true(cJSON_GetArraySize(l) >= min);
	return l;
}

static void nas_sec__nea2_vectors_match(void **state)
{
	const cJSON *v;

	(void)state;
	cJSON_ArrayForEach(v, list_of("nea2", 3))
	{
		uint8_t key[16], pt[BUF], ct[BUF], out[BUF];
		size_t bits = (size_t)int_of(v, "length"), n;

		hex_of(key, 16, v, "key");
		n = hex_of(pt, BUF, v, "plaintext");
		assert_int_equal(n, (bits + 7) / 8);
		hex_of(ct, BUF, v, "ciphertext");
		assert_int_equal(nas_sec_nea2(out, key, count_of(v),
		                     (uint8_t)int_of(v, "bearer"),
		                     (uint8_t)int_of(v, "direction"), pt, bits),
		    NAS_SEC_OK);
		assert_memory_equal(out, ct, n);
		/* and back, in place */
		assert_int_equal(nas_sec_nea2(out, key, count_of(v),
		                     (uint8_t)int_of(v, "bearer"),
		                     (uint8_t)int_of(v, "direction"), out,
		                     bits),
		    NAS_SEC_OK);
		assert_memory_equal(out, pt, n);
	}
}

/* Every entry of list name: nas_sec_nia2 gives its mac. */
static void nia2_list_matches(const char *name, int min)
{
	const cJSON *v;

	cJSON_ArrayForEach(v, list_of(name, min))
	{
		uint8_t key[16], msg[BUF], mac[4], want[4];
		size_t bits = (size_t)int_of(v, "length");

		hex_of(key, 16, v, "key");
		assert_int_equal(hex_of(msg, BUF, v, "message"),
		    (bits + 7) / 8);
		assert_int_equal(hex_of(want, 4, v, "mac"), 4);
		assert_int_equal(nas_sec_nia2(mac, key, count_of(v),
		                     (uint8_t)int_of(v, "bearer"),
		                     (uint8_t)int_of(v, "direction"), msg,
		                     bits),
		    NAS_SEC_OK);
		assert_memory_equal(mac, want, 4);
	}
}

static void nas_sec__nia2_vectors_match(void **state)
{
	(void)state;
	nia2_list_matches("nia2", 4);
	nia2_list_matches("nia2_octet_padded", 3);
}

static void nas_sec__kdf_vectors_match(void **state)
{
	const cJSON *v;

	(void)state;
	cJSON_ArrayForEach(v, list_of("kdf_nas", 3))
	{
		uint8_t kamf[32], key[16], want[16];

		assert_int_equal(hex_of(kamf, 32, v, "kamf"), 32);
		assert_int_equal(hex_of(want, 16, v, "key"), 16);
		assert_int_equal(nas_sec_kdf(key, kamf,
		                     (uint8_t)int_of(v, "alg_type"),
		                     (uint8_t)int_of(v, "alg_id")),
		    NAS_SEC_OK);
		assert_memory_equal(key, want, 16);
	}
}

/* NIA2 set 2 of the vectors (byte aligned) as the base of the flip test. */
static void nas_sec__one_flipped_bit_changes_the_mac(void **state)
{
	const cJSON *v = cJSON_GetArrayItem(list_of("nia2", 4), 1);
	uint8_t key[16], msg[BUF], mac[4], want[4];
	size_t bits = (size_t)int_of(v, "length"), i;
	uint32_t count = count_of(v);
	uint8_t bearer = (uint8_t)int_of(v, "bearer");
	uint8_t dir = (uint8_t)int_of(v, "direction");

	(void)state;
	hex_of(key, 16, v, "key");
	hex_of(msg, BUF, v, "message");
	hex_of(want, 4, v, "mac");
	for (i = 0; i < bits; i++) {
		msg[i / 8] ^= (uint8_t)(0x80 >> (i % 8));
		assert_int_equal(nas_sec_nia2(mac, key, count, bearer, dir, msg,
		                     bits),
		    NAS_SEC_OK);
		assert_memory_not_equal(mac, want, 4);
		msg[i / 8] ^= (uint8_t)(0x80 >> (i % 8));
	}
	for (i = 0; i < 32; i++) {
		assert_int_equal(nas_sec_nia2(mac, key, count ^ (1u << i),
		                     bearer, dir, msg, bits),
		    NAS_SEC_OK);
		assert_memory_not_equal(mac, want, 4);
	}
	for (i = 0; i < 5; i++) {
		assert_int_equal(nas_sec_nia2(mac, key, count,
		                     (uint8_t)(bearer ^ (1u << i)), dir, msg,
		                     bits),
		    NAS_SEC_OK);
		assert_memory_not_equal(mac, want, 4);
	}
	assert_int_equal(nas_sec_nia2(mac, key, count, bearer, dir ^ 1, msg,
	                     bits),
	    NAS_SEC_OK);
	assert_memory_not_equal(mac, want, 4);
	assert_int_equal(nas_sec_nia2(mac, key, count, bearer, dir, msg, bits),
	    NAS_SEC_OK);
	assert_memory_equal(mac, want, 4);
	/* a bit past LENGTH is not part of the message */
	msg[bits / 8] ^= 0x01;
	assert_int_equal(nas_sec_nia2(mac, key, count, bearer, dir, msg,
	                     bits - 1),
	    NAS_SEC_OK);
	msg[bits / 8] ^= 0x01;
}

/* Byte-aligned NIA2 = the first 32 bits of OpenSSL's CMAC over the same
 * octets, for every length from 0 to 70 octets. */
static void nas_sec__byte_aligned_nia2_equals_openssl_cmac(void **state)
{
	EVP_MAC *m = EVP_MAC_fetch(NULL, "CMAC", NULL);
	uint8_t key[16], buf[8 + 70], mac[4], ref[16];
	OSSL_PARAM p[2];
	size_t len, outl;

	(void)state;
	assert_non_null(m);
	assert_int_equal(util_random(key, sizeof(key)), 0);
	assert_int_equal(util_random(buf, sizeof(buf)), 0);
	buf[4] = (uint8_t)((13 << 3) | (1 << 2));
	buf[5] = buf[6] = buf[7] = 0;
	p[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_CIPHER,
	    (char *)"AES-128-CBC", 0);
	p[1] = OSSL_PARAM_construct_end();
	for (len = 0; len <= 70; len++) {
		EVP_MAC_CTX *c = EVP_MAC_CTX_new(m);
		uint32_t count = (uint32_t)buf[0] << 24 |
		    (uint32_t)buf[1] << 16 | (uint32_t)buf[2] << 8 | buf[3];

		assert_non_null(c);
		assert_int_equal(EVP_MAC_init(c, key, 16, p), 1);
		assert_int_equal(EVP_MAC_update(c, buf, 8 + len), 1);
		assert_int_equal(EVP_MAC_final(c, ref, &outl, sizeof(ref)), 1);
		EVP_MAC_CTX_free(c);
		assert_int_equal(nas_sec_nia2(mac, key, count, 13, 1, buf + 8,
		                     len * 8),
		    NAS_SEC_OK);
		assert_memory_equal(mac, ref, 4);
	}
	EVP_MAC_free(m);
}

static void nas_sec__nia0_refused_outside_emergency(void **state)
{
	uint8_t kamf[32] = { 1 }, mac[4] = { 9 }, msg[3] = { 1, 2, 3 };
	nas_sec_ctx_t ctx;

	(void)state;
	assert_int_equal(nas_sec_ctx_init(&ctx, kamf, NAS_SEC_ALG_0,
	                     NAS_SEC_ALG_0, 0, 0),
	    NAS_SEC_ERR_NIA0);
	assert_int_equal(nas_sec_mac(mac, NAS_SEC_ALG_0, 0, kamf, 0, 0, 0, msg,
	                     24),
	    NAS_SEC_ERR_NIA0);
	assert_int_equal(nas_sec_mac(mac, NAS_SEC_ALG_0, NAS_SEC_ALLOW_NIA0,
	                     kamf, 0, 0, 0, msg, 24),
	    NAS_SEC_OK);
	assert_int_equal(mac[0] | mac[1] | mac[2] | mac[3], 0);
	assert_int_equal(nas_sec_ctx_init(&ctx, kamf, NAS_SEC_ALG_0,
	                     NAS_SEC_ALG_0, 0, NAS_SEC_ALLOW_NIA0),
	    NAS_SEC_OK);
	assert_int_equal(nas_sec_ctx_init(&ctx, kamf, NAS_SEC_ALG_1,
	                     NAS_SEC_ALG_2, 0, 0),
	    NAS_SEC_ERR_ALG);
	assert_int_equal(nas_sec_ctx_init(&ctx, kamf, NAS_SEC_ALG_2,
	                     NAS_SEC_ALG_3, 0, 0),
	    NAS_SEC_ERR_ALG);
}

/* A network and a UE context for one random K_AMF with NEA2/NIA2. */
static void pair_make(nas_sec_ctx_t *net, nas_sec_ctx_t *ue)
{
	uint8_t kamf[32];

	assert_int_equal(util_random(kamf, sizeof(kamf)), 0);
	assert_int_equal(nas_sec_ctx_init(net, kamf, NAS_SEC_ALG_2,
	                     NAS_SEC_ALG_2, 0, 0),
	    NAS_SEC_OK);
	assert_int_equal(nas_sec_ctx_init(ue, kamf, NAS_SEC_ALG_2,
	                     NAS_SEC_ALG_2, 1, 0),
	    NAS_SEC_OK);
}

static void nas_sec__protect_unprotect_round_trip_and_counts(void **state)
{
	static const uint8_t plain[] = { 0x7E, 0x00, 0x42, 0x01, 0x01 };
	nas_sec_ctx_t net, ue;
	uint8_t wire[64], out[64], hdr;
	size_t wl, ol;
	int i;

	(void)state;
	pair_make(&net, &ue);
	for (i = 0; i < 600; i++) { /* past two SQN wraps */
		assert_int_equal(nas_sec_protect(wire, sizeof(wire), &wl, &net,
		                     NAS_SEC_HDR_INTEGRITY_CIPHERED, plain,
		                     sizeof(plain)),
		    NAS_SEC_OK);
		assert_int_equal(wl, NAS_SEC_HDR_LEN + sizeof(plain));
		assert_int_equal(wire[1], 2);
		assert_int_equal(wire[6], (uint8_t)i);
		assert_memory_not_equal(wire + 7, plain, sizeof(plain));
		assert_int_equal(nas_sec_unprotect(out, sizeof(out), &ol, &hdr,
		                     &ue, wire, wl),
		    NAS_SEC_OK);
		assert_int_equal(hdr, 2);
		assert_int_equal(ol, sizeof(plain));
		assert_memory_equal(out, plain, sizeof(plain));
	}
	assert_int_equal(net.tx_count, 600);
	assert_int_equal(ue.rx_count, 600);
	/* integrity only: the message travels in clear */
	assert_int_equal(nas_sec_protect(wire, sizeof(wire), &wl, &net,
	                     NAS_SEC_HDR_INTEGRITY_NEW, plain, sizeof(plain)),
	    NAS_SEC_OK);
	assert_memory_equal(wire + 7, plain, sizeof(plain));
	assert_int_equal(nas_sec_unprotect(out, sizeof(out), &ol, &hdr, &ue,
	                     wire, wl),
	    NAS_SEC_OK);
	assert_int_equal(hdr, 3);
	nas_sec_ctx_clear(&net);
	nas_sec_ctx_clear(&ue);
}

static void nas_sec__replay_and_bad_mac_refused(void **state)
{
	static const uint8_t plain[] = { 0x7E, 0x00, 0x5E };
	nas_sec_ctx_t net, ue, before;
	uint8_t w1[32], w2[32], out[32], hdr;
	size_t l1, l2, ol;
	size_t i;

	(void)state;
	pair_make(&net, &ue);
	assert_int_equal(nas_sec_protect(w1, sizeof(w1), &l1, &ue,
	                     NAS_SEC_HDR_INTEGRITY_CIPHERED_NEW, plain,
	                     sizeof(plain)),
	    NAS_SEC_OK);
	assert_int_equal(nas_sec_unprotect(out, sizeof(out), &ol, &hdr, &net,
	                     w1, l1),
	    NAS_SEC_OK);
	before = net;
	assert_int_equal(nas_sec_unprotect(out, sizeof(out), &ol, &hdr, &net,
	                     w1, l1),
	    NAS_SEC_ERR_REPLAY);
	assert_memory_equal(&before, &net, sizeof(net));
	assert_int_equal(nas_sec_protect(w2, sizeof(w2), &l2, &ue,
	                     NAS_SEC_HDR_INTEGRITY_CIPHERED, plain,
	                     sizeof(plain)),
	    NAS_SEC_OK);
	for (i = 2 * 8; i < l2 * 8; i++) { /* every bit after the header type */
		w2[i / 8] ^= (uint8_t)(0x80 >> (i % 8));
		assert_int_not_equal(nas_sec_unprotect(out, sizeof(out), &ol,
		                         &hdr, &net, w2, l2),
		    NAS_SEC_OK);
		w2[i / 8] ^= (uint8_t)(0x80 >> (i % 8));
	}
	assert_memory_equal(&before, &net, sizeof(net));
	/* the uplink message does not verify as a downlink one */
	assert_int_equal(nas_sec_unprotect(out, sizeof(out), &ol, &hdr, &ue, w2,
	                     l2),
	    NAS_SEC_ERR_MAC);
	assert_int_equal(nas_sec_unprotect(out, sizeof(out), &ol, &hdr, &net,
	                     w2, l2),
	    NAS_SEC_OK);
	assert_int_equal(nas_sec_header_type(plain, sizeof(plain)), 0);
	assert_int_equal(nas_sec_unprotect(out, sizeof(out), &ol, &hdr, &net,
	                     plain, sizeof(plain)),
	    NAS_SEC_ERR_HDR);
	nas_sec_ctx_clear(&net);
	nas_sec_ctx_clear(&ue);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(nas_sec__nea2_vectors_match),
		cmocka_unit_test(nas_sec__nia2_vectors_match),
		cmocka_unit_test(nas_sec__kdf_vectors_match),
		cmocka_unit_test(nas_sec__one_flipped_bit_changes_the_mac),
		cmocka_unit_test(
		    nas_sec__byte_aligned_nia2_equals_openssl_cmac),
		cmocka_unit_test(nas_sec__nia0_refused_outside_emergency),
		cmocka_unit_test(
		    nas_sec__protect_unprotect_round_trip_and_counts),
		cmocka_unit_test(nas_sec__replay_and_bad_mac_refused),
	};

	return cmocka_run_group_tests(tests, load_vectors, free_vectors);
}
