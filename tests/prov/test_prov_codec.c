/* test_prov_codec.c — the provisioning request and subscription TLVs:
 * exact bytes, round trips, and every bound and malformation refused; the
 * concealed request (round trips on both ECIES profiles, a bad tag or the
 * wrong key refused, every length bound). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <openssl/evp.h>

#include "prov.h"
#include "suci.h"

static const uint8_t NONCE[PROV_NONCE_LEN] = { 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10,
	11, 12, 13, 14, 15 };

static const char SNN[] = "5G:mnc001.mcc001.3gppnetwork.org";

/* A request with every field set and a fake 3-byte signature. */
static void fill_req(prov_request_t *r, const char *url)
{
	memset(r, 0, sizeof(*r));
	strcpy(r->url, url);
	memcpy(r->ue_nonce, NONCE, sizeof(NONCE));
	strcpy(r->snn, SNN);
	r->counter = 0x0102030405060708ULL;
	memcpy(r->sig, "\x30\x01\x00", 3);
	r->sig_len = 3;
}

static void test_prov_request__exact_bytes(void **state)
{
	prov_request_t r, back;
	uint8_t buf[PROV_REQUEST_MAX];
	size_t n = 0, o;
	char err[128];
	static const char url[] = "https://ca.example:8443/devices/d1";
	static const uint8_t want_head[] = { 0x02, 0x01, 0x00, 34 };

	(void)state;
	fill_req(&r, url);
	assert_int_equal(prov_request_encode(buf, sizeof(buf), &n, &r, err,
	                     sizeof(err)),
	    PROV_OK);
	assert_int_equal(n, 1 + 3 + 34 + 3 + 16 + 3 + 32 + 3 + 8 + 3 + 3);
	assert_memory_equal(buf, want_head, sizeof(want_head));
	assert_memory_equal(buf + 4, url, 34);
	assert_memory_equal(buf + 38, "\x02\x00\x10", 3);
	assert_memory_equal(buf + 41, NONCE, 16);
	o = 57;
	assert_memory_equal(buf + o, "\x03\x00\x20", 3);
	assert_memory_equal(buf + o + 3, SNN, 32);
	o += 35;
	assert_memory_equal(buf + o,
	    "\x04\x00\x08\x01\x02\x03\x04\x05\x06\x07"
	    "\x08",
	    11);
	o += 11;
	assert_memory_equal(buf + o, "\x05\x00\x03\x30\x01\x00", 6);
	assert_int_equal(prov_request_decode(&back, buf, n, err, sizeof(err)),
	    PROV_OK);
	assert_string_equal(back.url, url);
	assert_memory_equal(back.ue_nonce, NONCE, 16);
	assert_string_equal(back.snn, SNN);
	assert_true(back.counter == r.counter);
	assert_int_equal(back.sig_len, 3);
	assert_memory_equal(back.sig, r.sig, 3);
}

static void test_prov_request__bounds(void **state)
{
	prov_request_t r, back;
	uint8_t buf[PROV_REQUEST_MAX + 8];
	size_t n = 0;
	char err[128];

	(void)state;
	fill_req(&r, "x");
	memset(r.url, 'u', PROV_URL_MAX);
	memset(r.snn, 's', PROV_SNN_MAX);
	memset(r.sig, 0xAA, PROV_REQ_SIG_MAX);
	r.sig_len = PROV_REQ_SIG_MAX;
	assert_int_equal(prov_request_encode(buf, sizeof(buf), &n, &r, err,
	                     sizeof(err)),
	    PROV_OK);
	assert_int_equal(n, PROV_REQUEST_MAX);
	assert_int_equal(prov_request_decode(&back, buf, n, err, sizeof(err)),
	    PROV_OK);
	assert_int_equal(strlen(back.url), PROV_URL_MAX);
	assert_int_equal(strlen(back.snn), PROV_SNN_MAX);
	assert_int_equal(back.sig_len, PROV_REQ_SIG_MAX);
	/* Output buffer one byte short. */
	assert_int_equal(prov_request_encode(buf, n - 1, &n, &r, err,
	                     sizeof(err)),
	    PROV_ERR_TOO_LARGE);
	/* Unterminated URL or SNN field is refused by the encoder. */
	memset(r.url, 'u', sizeof(r.url));
	assert_int_equal(prov_request_encode(buf, sizeof(buf), &n, &r, err,
	                     sizeof(err)),
	    PROV_ERR_TOO_LARGE);
	fill_req(&r, "x");
	memset(r.snn, 's', sizeof(r.snn));
	assert_int_equal(prov_request_encode(buf, sizeof(buf), &n, &r, err,
	                     sizeof(err)),
	    PROV_ERR_TOO_LARGE);
	/* Signature over the bound; none at all; counter 0 and 2^63. */
	fill_req(&r, "x");
	r.sig_len = PROV_REQ_SIG_MAX + 1;
	assert_int_equal(prov_request_encode(buf, sizeof(buf), &n, &r, err,
	                     sizeof(err)),
	    PROV_ERR_TOO_LARGE);
	r.sig_len = 0;
	assert_int_equal(prov_request_encode(buf, sizeof(buf), &n, &r, err,
	                     sizeof(err)),
	    PROV_ERR_UNSIGNED);
	fill_req(&r, "x");
	r.counter = 0;
	assert_int_equal(prov_request_encode(buf, sizeof(buf), &n, &r, err,
	                     sizeof(err)),
	    PROV_ERR_ARG);
	r.counter = 0x8000000000000000ULL;
	assert_int_equal(prov_request_encode(buf, sizeof(buf), &n, &r, err,
	                     sizeof(err)),
	    PROV_ERR_ARG);
	/* Empty URL, a URL with a space, an empty SNN. */
	fill_req(&r, "");
	assert_int_equal(prov_request_encode(buf, sizeof(buf), &n, &r, err,
	                     sizeof(err)),
	    PROV_ERR_ARG);
	strcpy(r.url, "https://a b");
	assert_int_equal(prov_request_encode(buf, sizeof(buf), &n, &r, err,
	                     sizeof(err)),
	    PROV_ERR_ARG);
	fill_req(&r, "x");
	r.snn[0] = '\0';
	assert_int_equal(prov_request_encode(buf, sizeof(buf), &n, &r, err,
	                     sizeof(err)),
	    PROV_ERR_ARG);
}

static void test_prov_request__decode_errors(void **state)
{
	prov_request_t r;
	uint8_t good[128], bad[PROV_REQUEST_MAX + 8], *t;
	size_t n = 0, len, snn_at, ctr_at, sig_at;
	char err[128];
	int rc;

	(void)state;
	fill_req(&r, "https://x/d");
	assert_int_equal(prov_request_encode(good, sizeof(good), &n, &r, err,
	                     sizeof(err)),
	    PROV_OK);
	snn_at = 1 + 3 + 11 + 3 + 16;
	ctr_at = snn_at + 3 + 32;
	sig_at = ctr_at + 3 + 8;
	/* Every truncation: malformed, or unsigned where it ends right after
	 * the nonce or the counter (the signature field missing). */
	for (len = 0; len < n; len++) {
		t = malloc(len + 1);
		assert_non_null(t);
		memcpy(t, good, len);
		rc = prov_request_decode(&r, t, len, err, sizeof(err));
		if (len == snn_at || len == sig_at)
			assert_int_equal(rc, PROV_ERR_UNSIGNED);
		else
			assert_int_equal(rc, PROV_ERR_FORMAT);
		free(t);
	}
	/* Trailing byte. */
	memcpy(bad, good, n);
	bad[n] = 0;
	assert_int_equal(prov_request_decode(&r, bad, n + 1, err, sizeof(err)),
	    PROV_ERR_FORMAT);
	/* Version 1 (the seed's, unsigned) and an unknown version. */
	bad[0] = 1;
	assert_int_equal(prov_request_decode(&r, bad, n, err, sizeof(err)),
	    PROV_ERR_UNSIGNED);
	bad[0] = 3;
	assert_int_equal(prov_request_decode(&r, bad, n, err, sizeof(err)),
	    PROV_ERR_VERSION);
	bad[0] = 2;
	/* Wrong first tag, wrong nonce tag, nonce length 15. */
	bad[1] = 0x02;
	assert_int_equal(prov_request_decode(&r, bad, n, err, sizeof(err)),
	    PROV_ERR_FORMAT);
	bad[1] = 0x01;
	bad[4 + 11] = 0x03;
	assert_int_equal(prov_request_decode(&r, bad, n, err, sizeof(err)),
	    PROV_ERR_FORMAT);
	bad[4 + 11] = 0x02;
	bad[4 + 11 + 2] = 15;
	assert_int_equal(prov_request_decode(&r, bad, n - 1, err, sizeof(err)),
	    PROV_ERR_FORMAT);
	bad[4 + 11 + 2] = 16;
	/* Control character in the URL, then in the SNN. */
	bad[5] = 0x0a;
	assert_int_equal(prov_request_decode(&r, bad, n, err, sizeof(err)),
	    PROV_ERR_FORMAT);
	assert_string_equal(r.url, "");
	bad[5] = 't';
	bad[snn_at + 4] = 0x01;
	assert_int_equal(prov_request_decode(&r, bad, n, err, sizeof(err)),
	    PROV_ERR_FORMAT);
	bad[snn_at + 4] = good[snn_at + 4];
	/* Counter 0, counter field of 7 bytes, zero-length signature. */
	memset(bad + ctr_at + 3, 0, 8);
	assert_int_equal(prov_request_decode(&r, bad, n, err, sizeof(err)),
	    PROV_ERR_FORMAT);
	memcpy(bad, good, n);
	bad[ctr_at + 2] = 7;
	assert_int_equal(prov_request_decode(&r, bad, n, err, sizeof(err)),
	    PROV_ERR_FORMAT);
	memcpy(bad, good, n);
	bad[sig_at + 2] = 0;
	assert_int_equal(prov_request_decode(&r, bad, sig_at + 3, err,
	                     sizeof(err)),
	    PROV_ERR_FORMAT);
	/* Signature field claiming more than PROV_REQ_SIG_MAX. */
	memcpy(bad, good, n);
	bad[sig_at + 1] = 0x02;
	bad[sig_at + 2] = 0x01;
	memset(bad + sig_at + 3, 0x30, 513);
	assert_int_equal(prov_request_decode(&r, bad, sig_at + 3 + 513, err,
	                     sizeof(err)),
	    PROV_ERR_TOO_LARGE);
	/* Zero-length URL. */
	memcpy(bad, "\x02\x01\x00\x00\x02\x00\x10", 7);
	memcpy(bad + 7, NONCE, 16);
	assert_int_equal(prov_request_decode(&r, bad, 23, err, sizeof(err)),
	    PROV_ERR_FORMAT);
	/* URL field claiming 513 bytes. */
	memset(bad, 'u', sizeof(bad));
	memcpy(bad, "\x02\x01\x02\x01", 4);
	memcpy(bad + 4 + 513, "\x02\x00\x10", 3);
	assert_int_equal(prov_request_decode(&r, bad, 4 + 513 + 3 + 16, err,
	                     sizeof(err)),
	    PROV_ERR_TOO_LARGE);
	/* Whole request over the maximum. */
	assert_int_equal(prov_request_decode(&r, bad, PROV_REQUEST_MAX + 1, err,
	                     sizeof(err)),
	    PROV_ERR_TOO_LARGE);
	/* Length field pointing past the end. */
	memcpy(bad, "\x02\x01\xff\xff", 4);
	assert_int_equal(prov_request_decode(&r, bad, 40, err, sizeof(err)),
	    PROV_ERR_FORMAT);
	assert_int_equal(prov_request_decode(NULL, bad, 40, err, sizeof(err)),
	    PROV_ERR_ARG);
}

/* Sign with key, encode, decode, verify with key; then every field
 * changed and another key are refused. */
static void sign_verify_one(EVP_PKEY *key, EVP_PKEY *other, size_t maxsig)
{
	prov_request_t r, back, t;
	uint8_t buf[PROV_REQUEST_MAX];
	size_t n = 0;
	char err[256];

	fill_req(&r, "https://ca.example:8443/devices/d1");
	r.sig_len = 0;
	assert_int_equal(prov_request_verify(&r, key, err, sizeof(err)),
	    PROV_ERR_UNSIGNED);
	assert_int_equal(prov_request_sign(&r, key, err, sizeof(err)), PROV_OK);
	assert_true(r.sig_len > 0 && r.sig_len <= maxsig);
	assert_int_equal(prov_request_encode(buf, sizeof(buf), &n, &r, err,
	                     sizeof(err)),
	    PROV_OK);
	assert_int_equal(prov_request_decode(&back, buf, n, err, sizeof(err)),
	    PROV_OK);
	assert_int_equal(prov_request_verify(&back, key, err, sizeof(err)),
	    PROV_OK);
	assert_int_equal(prov_request_verify(&back, other, err, sizeof(err)),
	    PROV_ERR_SIGNATURE);
	t = back;
	t.url[8] ^= 1;
	assert_int_equal(prov_request_verify(&t, key, err, sizeof(err)),
	    PROV_ERR_SIGNATURE);
	t = back;
	t.ue_nonce[0] ^= 1;
	assert_int_equal(prov_request_verify(&t, key, err, sizeof(err)),
	    PROV_ERR_SIGNATURE);
	t = back;
	strcpy(t.snn, "5G:mnc002.mcc001.3gppnetwork.org");
	assert_int_equal(prov_request_verify(&t, key, err, sizeof(err)),
	    PROV_ERR_SIGNATURE);
	t = back;
	t.counter++;
	assert_int_equal(prov_request_verify(&t, key, err, sizeof(err)),
	    PROV_ERR_SIGNATURE);
	t = back;
	t.sig[t.sig_len / 2] ^= 1;
	assert_int_equal(prov_request_verify(&t, key, err, sizeof(err)),
	    PROV_ERR_SIGNATURE);
}

static void test_prov_request__sign_verify_every_key_type(void **state)
{
	EVP_PKEY *p256 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	EVP_PKEY *p384 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
	EVP_PKEY *rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	EVP_PKEY *rsa3 = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)3072);
	EVP_PKEY *ed = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	prov_request_t r;
	char err[256];

	(void)state;
	assert_non_null(p256);
	assert_non_null(p384);
	assert_non_null(rsa);
	assert_non_null(rsa3);
	assert_non_null(ed);
	sign_verify_one(p256, p384, 72);
	sign_verify_one(p384, p256, 104);
	sign_verify_one(rsa, rsa3, 256);
	sign_verify_one(rsa3, p256, 384);
	/* A key type with no defined request signature. */
	fill_req(&r, "https://x/d");
	assert_int_equal(prov_request_sign(&r, ed, err, sizeof(err)),
	    PROV_ERR_KEY_TYPE);
	r.sig_len = 3;
	assert_int_equal(prov_request_verify(&r, ed, err, sizeof(err)),
	    PROV_ERR_KEY_TYPE);
	EVP_PKEY_free(p256);
	EVP_PKEY_free(p384);
	EVP_PKEY_free(rsa);
	EVP_PKEY_free(rsa3);
	EVP_PKEY_free(ed);
}

static void fill_sub(prov_subscription_t *s)
{
	size_t i;

	memset(s, 0, sizeof(*s));
	strcpy(s->supi, "imsi-310260123456789");
	memset(s->ki, 0x11, PROV_KEY_LEN);
	memset(s->opc, 0x22, PROV_KEY_LEN);
	memcpy(s->amf, "\x90\x01", 2);
	memcpy(s->sqn, "\x00\x00\x00\x00\x01\x00", 6);
	strcpy(s->mcc, "310");
	strcpy(s->mnc, "260");
	s->nssai_count = PROV_NSSAI_MAX;
	for (i = 0; i < PROV_NSSAI_MAX; i++) {
		s->nssai[i].sst = (uint8_t)(i + 1);
		s->nssai[i].has_sd = (int)(i % 2);
		s->nssai[i].sd = i % 2 ? 0x000100u + (uint32_t)i : 0;
	}
	memset(s->dnn, 'd', PROV_DNN_MAX);
	s->dnn[3] = '.';
	s->issued_at = -5; /* before 1970 still round-trips */
}

static void test_prov_subscription__exact_bytes_minimal(void **state)
{
	prov_subscription_t s, back;
	uint8_t buf[512];
	size_t n = 0;
	char err[128];
	static const uint8_t want[] = {
		0x01,
		0x01,
		0x00,
		0x0f,
		'i',
		'm',
		's',
		'i',
		'-',
		'0',
		'0',
		'1',
		'0',
		'1',
		'1',
		'2',
		'3',
		'4',
		'5',
		0x02,
		0x00,
		0x10,
		1,
		1,
		1,
		1,
		1,
		1,
		1,
		1,
		1,
		1,
		1,
		1,
		1,
		1,
		1,
		1,
		0x03,
		0x00,
		0x10,
		2,
		2,
		2,
		2,
		2,
		2,
		2,
		2,
		2,
		2,
		2,
		2,
		2,
		2,
		2,
		2,
		0x04,
		0x00,
		0x02,
		0x80,
		0x00,
		0x05,
		0x00,
		0x06,
		0,
		0,
		0,
		0,
		0,
		0x20,
		0x06,
		0x00,
		0x03,
		'0',
		'0',
		'1',
		0x07,
		0x00,
		0x02,
		'0',
		'1',
		0x08,
		0x00,
		0x01,
		0x01,
		0x08,
		0x00,
		0x04,
		0x02,
		0x00,
		0x00,
		0x07,
		0x09,
		0x00,
		0x03,
		'i',
		'o',
		't',
		0x0a,
		0x00,
		0x08,
		0,
		0,
		0,
		0,
		0x68,
		0x4e,
		0xe1,
		0x80,
	};

	(void)state;
	memset(&s, 0, sizeof(s));
	strcpy(s.supi, "imsi-0010112345");
	memset(s.ki, 1, 16);
	memset(s.opc, 2, 16);
	s.amf[0] = 0x80;
	s.sqn[5] = 0x20;
	strcpy(s.mcc, "001");
	strcpy(s.mnc, "01");
	s.nssai_count = 2;
	s.nssai[0].sst = 1;
	s.nssai[1].sst = 2;
	s.nssai[1].has_sd = 1;
	s.nssai[1].sd = 7;
	strcpy(s.dnn, "iot");
	s.issued_at = 1750000000; /* 0x684EE180 */
	assert_int_equal(prov_subscription_encode(buf, sizeof(buf), &n, &s, err,
	                     sizeof(err)),
	    PROV_OK);
	assert_int_equal(n, sizeof(want));
	assert_memory_equal(buf, want, sizeof(want));
	assert_int_equal(prov_subscription_decode(&back, buf, n, err,
	                     sizeof(err)),
	    PROV_OK);
	assert_string_equal(back.supi, "imsi-0010112345");
	assert_int_equal(back.nssai_count, 2);
	assert_int_equal(back.nssai[1].sd, 7);
	assert_int_equal(back.nssai[0].has_sd, 0);
	assert_int_equal(back.issued_at, 1750000000);
}

static void test_prov_subscription__roundtrip_maximal(void **state)
{
	prov_subscription_t s, back;
	uint8_t buf[1024];
	size_t n = 0, i;
	char err[128];

	(void)state;
	fill_sub(&s);
	assert_int_equal(prov_subscription_encode(buf, sizeof(buf), &n, &s, err,
	                     sizeof(err)),
	    PROV_OK);
	assert_int_equal(prov_subscription_decode(&back, buf, n, err,
	                     sizeof(err)),
	    PROV_OK);
	assert_string_equal(back.supi, s.supi);
	assert_memory_equal(back.ki, s.ki, 16);
	assert_memory_equal(back.opc, s.opc, 16);
	assert_memory_equal(back.amf, s.amf, 2);
	assert_memory_equal(back.sqn, s.sqn, 6);
	assert_string_equal(back.mcc, "310");
	assert_string_equal(back.mnc, "260");
	assert_int_equal(back.nssai_count, PROV_NSSAI_MAX);
	for (i = 0; i < PROV_NSSAI_MAX; i++) {
		assert_int_equal(back.nssai[i].sst, s.nssai[i].sst);
		assert_int_equal(back.nssai[i].has_sd, s.nssai[i].has_sd);
		assert_int_equal(back.nssai[i].sd, s.nssai[i].sd);
	}
	assert_string_equal(back.dnn, s.dnn);
	assert_int_equal(back.issued_at, -5);
	/* Output buffer too small: refused, buffer wiped. */
	assert_int_equal(prov_subscription_encode(buf, n - 1, &n, &s, err,
	                     sizeof(err)),
	    PROV_ERR_TOO_LARGE);
	assert_int_equal(n, 0);
	for (i = 0; i < 40; i++)
		assert_int_equal(buf[i], 0);
	prov_subscription_wipe(&back);
	prov_subscription_wipe(NULL);
	assert_int_equal(back.ki[0] | back.opc[15] | back.dnn[0], 0);
}

static void test_prov_subscription__encode_validation(void **state)
{
	prov_subscription_t s;
	uint8_t buf[1024];
	size_t n;
	char err[128];

	(void)state;
#define EXPECT(rc_) \
	assert_int_equal(prov_subscription_encode(buf, sizeof(buf), &n, &s, \
	                     err, sizeof(err)), \
	    rc_)
	fill_sub(&s);
	strcpy(s.supi, "nai-1234567890");
	EXPECT(PROV_ERR_ARG);
	fill_sub(&s);
	strcpy(s.supi, "imsi-1234");
	EXPECT(PROV_ERR_ARG);
	fill_sub(&s);
	strcpy(s.supi, "imsi-1234567890123456");
	EXPECT(PROV_ERR_ARG);
	fill_sub(&s);
	strcpy(s.supi, "imsi-12345a");
	EXPECT(PROV_ERR_ARG);
	fill_sub(&s);
	strcpy(s.mcc, "01");
	EXPECT(PROV_ERR_ARG);
	fill_sub(&s);
	strcpy(s.mnc, "1");
	EXPECT(PROV_ERR_ARG);
	fill_sub(&s);
	strcpy(s.mnc, "0x1");
	EXPECT(PROV_ERR_ARG);
	fill_sub(&s);
	s.nssai_count = 0;
	EXPECT(PROV_ERR_ARG);
	fill_sub(&s);
	s.nssai_count = 9;
	EXPECT(PROV_ERR_TOO_LARGE);
	fill_sub(&s);
	s.nssai[1].sd = 0x1000000;
	EXPECT(PROV_ERR_ARG);
	fill_sub(&s);
	memset(s.dnn, 'd', sizeof(s.dnn));
	EXPECT(PROV_ERR_TOO_LARGE);
	fill_sub(&s);
	strcpy(s.dnn, "");
	EXPECT(PROV_ERR_ARG);
	fill_sub(&s);
	strcpy(s.dnn, "a b");
	EXPECT(PROV_ERR_ARG);
	fill_sub(&s);
	strcpy(s.dnn, ".internet");
	EXPECT(PROV_ERR_ARG);
	fill_sub(&s);
	EXPECT(PROV_OK);
#undef EXPECT
}

/* The optional home network key field (0x0B): both profiles round-trip
 * as the last field; bad profiles, keys and routing indicators are
 * refused on both sides. */
static void test_prov_subscription__home_network_key(void **state)
{
	prov_subscription_t s, back;
	uint8_t buf[1024];
	size_t n = 0, i;
	char err[128];

	(void)state;
	for (i = 1; i <= 2; i++) {
		fill_sub(&s);
		s.hn_scheme = (uint8_t)i;
		s.hn_key_id = 200;
		strcpy(s.routing, "1234");
		s.hn_pub_len = i == 1 ? 32 : 33;
		memset(s.hn_pub, 0x5a, s.hn_pub_len);
		s.hn_pub[0] = 0x03;
		assert_int_equal(prov_subscription_encode(buf, sizeof(buf), &n,
		                     &s, err, sizeof(err)),
		    PROV_OK);
		/* 0x0B ‖ length ‖ scheme ‖ key id ‖ RI length ‖ RI ‖ key */
		assert_int_equal(buf[n - s.hn_pub_len - 10], 0x0B);
		assert_int_equal(buf[n - s.hn_pub_len - 7], i);
		assert_int_equal(buf[n - s.hn_pub_len - 6], 200);
		assert_int_equal(buf[n - s.hn_pub_len - 5], 4);
		assert_int_equal(prov_subscription_decode(&back, buf, n, err,
		                     sizeof(err)),
		    PROV_OK);
		assert_int_equal(back.hn_scheme, i);
		assert_int_equal(back.hn_key_id, 200);
		assert_string_equal(back.routing, "1234");
		assert_int_equal(back.hn_pub_len, s.hn_pub_len);
		assert_memory_equal(back.hn_pub, s.hn_pub, s.hn_pub_len);
		/* a key of the other profile's length: refused when decoding */
		buf[n - s.hn_pub_len - 7] = (uint8_t)(3 - i);
		assert_int_equal(prov_subscription_decode(&back, buf, n, err,
		                     sizeof(err)),
		    PROV_ERR_FORMAT);
	}
#define EXPECT(rc_) \
	assert_int_equal(prov_subscription_encode(buf, sizeof(buf), &n, &s, \
	                     err, sizeof(err)), \
	    rc_)
	s.hn_scheme = 3;
	EXPECT(PROV_ERR_ARG);
	s.hn_scheme = 2;
	s.hn_pub[0] = 0x04;
	EXPECT(PROV_ERR_ARG);
	s.hn_pub[0] = 0x02;
	strcpy(s.routing, "");
	EXPECT(PROV_ERR_ARG);
	strcpy(s.routing, "12a");
	EXPECT(PROV_ERR_ARG);
	strcpy(s.routing, "0");
	EXPECT(PROV_OK);
	s.hn_pub_len = 32;
	EXPECT(PROV_ERR_ARG);
#undef EXPECT
	/* without the field: no key, the null scheme */
	fill_sub(&s);
	assert_int_equal(prov_subscription_encode(buf, sizeof(buf), &n, &s, err,
	                     sizeof(err)),
	    PROV_OK);
	assert_int_equal(prov_subscription_decode(&back, buf, n, err,
	                     sizeof(err)),
	    PROV_OK);
	assert_int_equal(back.hn_scheme, 0);
}

/* Decode one hand-built TLV sequence. */
static int dec(const uint8_t *b, size_t n)
{
	prov_subscription_t s;
	char err[128];
	int rc;

	rc = prov_subscription_decode(&s, b, n, err, sizeof(err));
	if (rc != PROV_OK)
		assert_int_equal(s.ki[0] | s.supi[0], 0);
	return rc;
}

static void test_prov_subscription__decode_errors(void **state)
{
	prov_subscription_t s;
	uint8_t good[1024], b[1024], *t;
	size_t n = 0, len, i;
	char err[128];

	(void)state;
	fill_sub(&s);
	s.nssai_count = 1;
	strcpy(s.dnn, "internet");
	assert_int_equal(prov_subscription_encode(good, sizeof(good), &n, &s,
	                     err, sizeof(err)),
	    PROV_OK);
	assert_int_equal(dec(good, n), PROV_OK);
	for (len = 0; len < n; len++) {
		t = malloc(len + 1);
		assert_non_null(t);
		memcpy(t, good, len);
		assert_int_equal(dec(t, len), PROV_ERR_FORMAT);
		free(t);
	}
	memcpy(b, good, n);
	b[n] = 0;
	assert_int_equal(dec(b, n + 1), PROV_ERR_FORMAT); /* trailing */
	b[0] = 9;
	assert_int_equal(dec(b, n), PROV_ERR_VERSION);
	b[0] = 1;
	/* Walk the fields: corrupt each tag, then each length. */
	for (i = 1; i < n;) {
		size_t vl = ((size_t)b[i + 1] << 8) | b[i + 2];

		b[i] ^= 0x40; /* unknown / out-of-order tag */
		assert_int_equal(dec(b, n), PROV_ERR_FORMAT);
		b[i] ^= 0x40;
		b[i + 2] ^= 0x01; /* length off by one */
		assert_int_equal(dec(b, n), PROV_ERR_FORMAT);
		b[i + 2] ^= 0x01;
		i += 3 + vl;
	}
	assert_int_equal(dec(b, n), PROV_OK);
	/* Non-digit in MCC; DNN with a space; SUPI prefix. */
	for (i = 0; i + 6 < n; i++) {
		if (memcmp(b + i,
		        "\x06\x00\x03"
		        "310",
		        6) == 0) {
			b[i + 4] = 'x';
			assert_int_equal(dec(b, n), PROV_ERR_FORMAT);
			b[i + 4] = '1';
		}
		if (memcmp(b + i,
		        "\x09\x00\x08"
		        "internet",
		        11) == 0) {
			b[i + 5] = ' ';
			assert_int_equal(dec(b, n), PROV_ERR_FORMAT);
			b[i + 5] = 't';
		}
	}
	b[4] = 'I';
	assert_int_equal(dec(b, n), PROV_ERR_FORMAT);
	b[4] = 'i';
	assert_int_equal(dec(b, n), PROV_OK);
	assert_int_equal(dec(NULL, 0), PROV_ERR_FORMAT);
	assert_int_equal(prov_subscription_decode(NULL, b, n, err, sizeof(err)),
	    PROV_ERR_ARG);
	/* Too long overall. */
	memset(good + n, 0, sizeof(good) - n);
	assert_int_equal(dec(good, sizeof(good)), PROV_ERR_TOO_LARGE);
}

/* A repeated non-S-NSSAI field, nine S-NSSAIs, a missing field. */
static void test_prov_subscription__field_counts(void **state)
{
	prov_subscription_t s;
	uint8_t good[1024], b[1200];
	size_t n = 0, off, i, nss;
	char err[128];

	(void)state;
	fill_sub(&s);
	s.nssai_count = 1;
	strcpy(s.dnn, "internet");
	assert_int_equal(prov_subscription_encode(good, sizeof(good), &n, &s,
	                     err, sizeof(err)),
	    PROV_OK);
	/* Locate the single S-NSSAI TLV (tag 8, length 1 or 4). */
	for (nss = 1; nss < n;) {
		size_t vl = ((size_t)good[nss + 1] << 8) | good[nss + 2];

		if (good[nss] == 0x08)
			break;
		nss += 3 + vl;
	}
	assert_int_equal(good[nss], 0x08);
	/* Replace it by nine one-byte S-NSSAI fields. */
	assert_int_equal(good[nss + 2], 1);
	memcpy(b, good, nss);
	off = nss;
	for (i = 0; i < 9; i++) {
		memcpy(b + off, "\x08\x00\x01\x05", 4);
		off += 4;
	}
	memcpy(b + off, good + nss + 4, n - nss - 4);
	off += n - nss - 4;
	assert_int_equal(dec(b, off), PROV_ERR_FORMAT);
	/* Eight copies are fine. */
	memmove(b + nss + 4 * 8, b + nss + 4 * 9, off - nss - 4 * 9);
	assert_int_equal(dec(b, off - 4), PROV_OK);
	/* Duplicate DNN (tag 9) before the issue time. */
	memcpy(b, good, n - 11);
	memcpy(b + n - 11, "\x09\x00\x01z", 4);
	memcpy(b + n - 7, good + n - 11, 11);
	assert_int_equal(dec(b, n + 4), PROV_ERR_FORMAT);
	/* Issue time missing. */
	assert_int_equal(dec(good, n - 11), PROV_ERR_FORMAT);
}

/* ---- concealed request ---- */

/* The largest request there is: a 512-octet URL, a 128-octet SNN, an
 * RSA-3072 signature. */
static size_t big_request(uint8_t *buf, size_t cap, EVP_PKEY *key)
{
	prov_request_t r;
	char url[PROV_URL_MAX + 1], err[256];
	size_t n = 0;

	memset(url, 'u', PROV_URL_MAX);
	memcpy(url, "https://ca.secret-example:8443/devices/", 39);
	memcpy(url + PROV_URL_MAX - 12, "dev-secret42", 12);
	url[PROV_URL_MAX] = '\0';
	fill_req(&r, url);
	memset(r.snn, 's', PROV_SNN_MAX);
	r.snn[PROV_SNN_MAX] = '\0';
	assert_int_equal(prov_request_sign(&r, key, err, sizeof(err)), PROV_OK);
	assert_int_equal(prov_request_encode(buf, cap, &n, &r, err,
	                     sizeof(err)),
	    PROV_OK);
	return n;
}

static int has_text(const uint8_t *b, size_t n, const char *t)
{
	size_t k = strlen(t), i;

	for (i = 0; i + k <= n; i++)
		if (memcmp(b + i, t, k) == 0)
			return 1;
	return 0;
}

static void conceal_roundtrip(int profile, EVP_PKEY *hn, EVP_PKEY *other,
    EVP_PKEY *signer)
{
	uint8_t req[PROV_REQUEST_MAX], c[PROV_CONCEALED_MAX],
	    c2[PROV_CONCEALED_MAX];
	uint8_t back[PROV_REQUEST_MAX], pub[33], eph[32];
	size_t rlen, clen = 0, c2len = 0, blen = 0, publen = 0;
	size_t el = profile == 1 ? 32 : 33;
	prov_request_t dec;
	char err[256];

	rlen = big_request(req, sizeof(req), signer);
	assert_int_equal(suci_hn_pub_get(pub, sizeof(pub), &publen, hn, err,
	                     sizeof(err)),
	    SUCI_OK);
	assert_int_equal(prov_request_conceal(c, sizeof(c), &clen, req, rlen,
	                     profile, 7, pub, publen, NULL, err, sizeof(err)),
	    PROV_OK);
	/* header, ephemeral key, padded ciphertext, tag */
	assert_int_equal(c[0], 0x03);
	assert_int_equal(c[1], profile);
	assert_int_equal(c[2], 7);
	assert_int_equal(clen, 3 + el + (2 + rlen + 63) / 64 * 64 + 8);
	assert_true(clen <= PROV_CONCEALED_MAX);
	assert_false(has_text(c, clen, "dev-secret42"));
	assert_false(has_text(c, clen, "ca.secret-example"));
	assert_false(has_text(c, clen, "sssssss"));
	assert_true(prov_request_concealed(c, clen, NULL, NULL));
	assert_false(prov_request_concealed(req, rlen, NULL, NULL));
	/* The decoder alone refuses the concealed form. */
	assert_int_equal(prov_request_decode(&dec, c, clen, err, sizeof(err)),
	    PROV_ERR_VERSION);
	assert_int_equal(prov_request_deconceal(back, sizeof(back), &blen, c,
	                     clen, hn, err, sizeof(err)),
	    PROV_OK);
	assert_int_equal(blen, rlen);
	assert_memory_equal(back, req, rlen);
	assert_int_equal(prov_request_decode(&dec, back, blen, err,
	                     sizeof(err)),
	    PROV_OK);
	assert_int_equal(prov_request_verify(&dec, signer, err, sizeof(err)),
	    PROV_OK);
	/* A fresh ephemeral key each time; a fixed one repeats exactly. */
	assert_int_equal(prov_request_conceal(c2, sizeof(c2), &c2len, req, rlen,
	                     profile, 7, pub, publen, NULL, err, sizeof(err)),
	    PROV_OK);
	assert_int_equal(c2len, clen);
	assert_memory_not_equal(c2 + 3, c + 3, el);
	memset(eph, 0x11, sizeof(eph));
	assert_int_equal(prov_request_conceal(c, sizeof(c), &clen, req, rlen,
	                     profile, 7, pub, publen, eph, err, sizeof(err)),
	    PROV_OK);
	assert_int_equal(prov_request_conceal(c2, sizeof(c2), &c2len, req, rlen,
	                     profile, 7, pub, publen, eph, err, sizeof(err)),
	    PROV_OK);
	assert_memory_equal(c, c2, clen);
	/* Another key of the profile, or the other profile's key: refused. */
	assert_int_equal(prov_request_deconceal(back, sizeof(back), &blen, c,
	                     clen, other, err, sizeof(err)),
	    PROV_ERR_CONCEAL);
	assert_int_equal(blen, 0);
}

static void test_prov_conceal__roundtrip_both_profiles(void **state)
{
	EVP_PKEY *a = EVP_PKEY_Q_keygen(NULL, NULL, "X25519");
	EVP_PKEY *a2 = EVP_PKEY_Q_keygen(NULL, NULL, "X25519");
	EVP_PKEY *b = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	EVP_PKEY *b2 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	EVP_PKEY *rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)3072);

	(void)state;
	assert_non_null(rsa);
	conceal_roundtrip(1, a, a2, rsa);
	conceal_roundtrip(1, a, b, rsa);
	conceal_roundtrip(2, b, b2, rsa);
	conceal_roundtrip(2, b, a, rsa);
	EVP_PKEY_free(a);
	EVP_PKEY_free(a2);
	EVP_PKEY_free(b);
	EVP_PKEY_free(b2);
	EVP_PKEY_free(rsa);
}

/* One flipped bit anywhere in the ephemeral key, ciphertext or tag. */
static void test_prov_conceal__bad_tag_refused(void **state)
{
	EVP_PKEY *a = EVP_PKEY_Q_keygen(NULL, NULL, "X25519");
	EVP_PKEY *p = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	uint8_t req[PROV_REQUEST_MAX], c[PROV_CONCEALED_MAX];
	uint8_t back[PROV_REQUEST_MAX], pub[33];
	size_t rlen, clen = 0, blen = 0, publen = 0, i;
	char err[256];
	prov_request_t r;

	(void)state;
	fill_req(&r, "https://ca.example/devices/d1");
	assert_int_equal(prov_request_sign(&r, p, err, sizeof(err)), PROV_OK);
	assert_int_equal(prov_request_encode(req, sizeof(req), &rlen, &r, err,
	                     sizeof(err)),
	    PROV_OK);
	assert_int_equal(suci_hn_pub_get(pub, sizeof(pub), &publen, a, err,
	                     sizeof(err)),
	    SUCI_OK);
	assert_int_equal(prov_request_conceal(c, sizeof(c), &clen, req, rlen, 1,
	                     0, pub, publen, NULL, err, sizeof(err)),
	    PROV_OK);
	for (i = 3; i < clen; i += 7) {
		c[i] ^= 0x04;
		assert_int_equal(prov_request_deconceal(back, sizeof(back),
		                     &blen, c, clen, a, err, sizeof(err)),
		    PROV_ERR_CONCEAL);
		c[i] ^= 0x04;
	}
	c[clen - 1] ^= 0x80;
	assert_int_equal(prov_request_deconceal(back, sizeof(back), &blen, c,
	                     clen, a, err, sizeof(err)),
	    PROV_ERR_CONCEAL);
	assert_non_null(strstr(err, "tag"));
	c[clen - 1] ^= 0x80;
	assert_int_equal(prov_request_deconceal(back, sizeof(back), &blen, c,
	                     clen, a, err, sizeof(err)),
	    PROV_OK);
	EVP_PKEY_free(a);
	EVP_PKEY_free(p);
}

/* Seal pt (ptlen octets) as a concealed request body to a's key. */
static size_t seal_raw(uint8_t *c, EVP_PKEY *a, const uint8_t *pt, size_t ptlen)
{
	uint8_t pub[32];
	size_t publen = 0, solen = 0;

	assert_int_equal(suci_hn_pub_get(pub, sizeof(pub), &publen, a, NULL, 0),
	    SUCI_OK);
	c[0] = 0x03;
	c[1] = 1;
	c[2] = 0;
	assert_int_equal(suci_ecies_seal(c + 3, PROV_CONCEALED_MAX - 3, &solen,
	                     1, pub, publen, pt, ptlen, NULL, NULL, 0),
	    SUCI_OK);
	return 3 + solen;
}

static void test_prov_conceal__bounds(void **state)
{
	EVP_PKEY *a = EVP_PKEY_Q_keygen(NULL, NULL, "X25519");
	uint8_t c[PROV_CONCEALED_MAX + 64], back[PROV_REQUEST_MAX];
	uint8_t pt[128], pub[32], req[8] = { 0x02, 1, 2, 3 };
	size_t blen = 0, clen, publen = 0;
	char err[256];

	(void)state;
	assert_int_equal(suci_hn_pub_get(pub, sizeof(pub), &publen, a, NULL, 0),
	    SUCI_OK);
	/* Conceal: only a version-2 request of 1..PROV_REQUEST_MAX octets,
	 * Profile A or B, with room. */
	assert_int_equal(prov_request_conceal(c, sizeof(c), &clen, req, 0, 1, 0,
	                     pub, 32, NULL, err, sizeof(err)),
	    PROV_ERR_ARG);
	assert_int_equal(prov_request_conceal(c, sizeof(c), &clen, req,
	                     PROV_REQUEST_MAX + 1, 1, 0, pub, 32, NULL, err,
	                     sizeof(err)),
	    PROV_ERR_ARG);
	req[0] = 0x03;
	assert_int_equal(prov_request_conceal(c, sizeof(c), &clen, req, 4, 1, 0,
	                     pub, 32, NULL, err, sizeof(err)),
	    PROV_ERR_ARG);
	req[0] = 0x02;
	assert_int_equal(prov_request_conceal(c, sizeof(c), &clen, req, 4, 3, 0,
	                     pub, 32, NULL, err, sizeof(err)),
	    PROV_ERR_ARG);
	assert_int_equal(prov_request_conceal(c, 3 + 32 + 64 + 7, &clen, req, 4,
	                     1, 0, pub, 32, NULL, err, sizeof(err)),
	    PROV_ERR_TOO_LARGE);
	assert_int_equal(prov_request_conceal(c, sizeof(c), &clen, req, 4, 1, 0,
	                     pub, 32, NULL, err, sizeof(err)),
	    PROV_OK);
	assert_int_equal(clen, 3 + 32 + 64 + 8);
	/* Deconceal: the header and length shape first. */
	assert_int_equal(prov_request_deconceal(back, sizeof(back), &blen, c, 2,
	                     a, err, sizeof(err)),
	    PROV_ERR_ARG);
	assert_int_equal(prov_request_deconceal(back, sizeof(back), &blen, c,
	                     clen - 1, a, err, sizeof(err)),
	    PROV_ERR_FORMAT);
	assert_int_equal(prov_request_deconceal(back, sizeof(back), &blen, c,
	                     3 + 32 + 8, a, err, sizeof(err)),
	    PROV_ERR_FORMAT);
	assert_int_equal(prov_request_deconceal(back, sizeof(back), &blen, c,
	                     PROV_CONCEALED_MAX + 64, a, err, sizeof(err)),
	    PROV_ERR_TOO_LARGE);
	c[1] = 3;
	assert_int_equal(prov_request_deconceal(back, sizeof(back), &blen, c,
	                     clen, a, err, sizeof(err)),
	    PROV_ERR_FORMAT);
	c[1] = 1;
	assert_int_equal(prov_request_deconceal(back, 3, &blen, c, clen, a, err,
	                     sizeof(err)),
	    PROV_ERR_FORMAT); /* no room for the request */
	/* Inside: length beyond the block, padding not zero, another
	 * version, a length that leaves a whole empty block. */
	memset(pt, 0, sizeof(pt));
	pt[1] = 63;
	pt[2] = 0x02;
	clen = seal_raw(c, a, pt, 64);
	assert_int_equal(prov_request_deconceal(back, sizeof(back), &blen, c,
	                     clen, a, err, sizeof(err)),
	    PROV_ERR_FORMAT);
	pt[1] = 4;
	pt[40] = 1;
	clen = seal_raw(c, a, pt, 64);
	assert_int_equal(prov_request_deconceal(back, sizeof(back), &blen, c,
	                     clen, a, err, sizeof(err)),
	    PROV_ERR_FORMAT);
	pt[40] = 0;
	pt[2] = 0x03;
	clen = seal_raw(c, a, pt, 64);
	assert_int_equal(prov_request_deconceal(back, sizeof(back), &blen, c,
	                     clen, a, err, sizeof(err)),
	    PROV_ERR_FORMAT);
	pt[2] = 0x02;
	clen = seal_raw(c, a, pt, 128);
	assert_int_equal(prov_request_deconceal(back, sizeof(back), &blen, c,
	                     clen, a, err, sizeof(err)),
	    PROV_ERR_FORMAT);
	clen = seal_raw(c, a, pt, 64);
	assert_int_equal(prov_request_deconceal(back, sizeof(back), &blen, c,
	                     clen, a, err, sizeof(err)),
	    PROV_OK);
	assert_int_equal(blen, 4);
	assert_memory_equal(back, pt + 2, 4);
	EVP_PKEY_free(a);
}

/* The DeviceID a container names when it answers a concealed request:
 * "x" + 32 hex digits, a valid DeviceID, fixed by signature and DeviceID,
 * different when either differs. */
static void test_prov_conceal__pseudonym(void **state)
{
	prov_request_t r;
	char a[PROV_DEVICE_ID_MAX + 1], b[PROV_DEVICE_ID_MAX + 1];
	size_t i;

	(void)state;
	fill_req(&r, "https://ca.example/devices/d1");
	assert_int_equal(prov_concealed_device_id(a, sizeof(a), &r, "d1"),
	    PROV_OK);
	assert_int_equal(strlen(a), 33);
	assert_int_equal(a[0], 'x');
	for (i = 1; i < 33; i++)
		assert_non_null(strchr("0123456789abcdef", a[i]));
	assert_int_equal(prov_concealed_device_id(b, sizeof(b), &r, "d1"),
	    PROV_OK);
	assert_string_equal(a, b);
	assert_int_equal(prov_concealed_device_id(b, sizeof(b), &r, "d2"),
	    PROV_OK);
	assert_string_not_equal(a, b);
	r.sig[0] ^= 1;
	assert_int_equal(prov_concealed_device_id(b, sizeof(b), &r, "d1"),
	    PROV_OK);
	assert_string_not_equal(a, b);
	assert_int_equal(prov_concealed_device_id(b, 33, &r, "d1"),
	    PROV_ERR_ARG);
	r.sig_len = 0;
	assert_int_equal(prov_concealed_device_id(b, sizeof(b), &r, "d1"),
	    PROV_ERR_ARG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_prov_request__exact_bytes),
		cmocka_unit_test(test_prov_request__bounds),
		cmocka_unit_test(test_prov_request__sign_verify_every_key_type),
		cmocka_unit_test(test_prov_request__decode_errors),
		cmocka_unit_test(test_prov_subscription__exact_bytes_minimal),
		cmocka_unit_test(test_prov_subscription__roundtrip_maximal),
		cmocka_unit_test(test_prov_subscription__encode_validation),
		cmocka_unit_test(test_prov_subscription__decode_errors),
		cmocka_unit_test(test_prov_subscription__field_counts),
		cmocka_unit_test(test_prov_subscription__home_network_key),
		cmocka_unit_test(test_prov_conceal__roundtrip_both_profiles),
		cmocka_unit_test(test_prov_conceal__bad_tag_refused),
		cmocka_unit_test(test_prov_conceal__bounds),
		cmocka_unit_test(test_prov_conceal__pseudonym),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
