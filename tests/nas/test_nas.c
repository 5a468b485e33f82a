/* test_nas.c — NAS-5GS codec: known bytes (hand-made and from public
 * captures), round trips, truncation, malformed input, random mutation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "nas.h"
#include "util.h"

static uint8_t buf[NAS_MAX_MSG_LEN + 16];
static nas_msg_t m1, m2;

/* Decode a hex string into buf; returns its length. */
static size_t hexbuf(const char *hex)
{
	size_t n = strlen(hex) / 2;

	assert_true(n <= sizeof(buf));
	assert_int_equal(util_hex_decode(buf, n, hex), 0);
	return n;
}

static void assert_hex(const uint8_t *p, size_t n, const char *hex)
{
	char got[2 * 256 + 1];

	assert_true(n <= 256);
	util_hex_encode(got, p, n);
	assert_string_equal(got, hex);
}

/* Encode m and compare with hex. */
static void assert_encodes_to(const nas_msg_t *m, const char *hex)
{
	uint8_t out[512];
	size_t n = 99;

	assert_int_equal(nas_encode(out, sizeof(out), &n, m), 0);
	assert_int_equal(n, strlen(hex) / 2);
	assert_hex(out, n, hex);
}

static int decode_hex(nas_msg_t *m, const char *hex)
{
	size_t n = hexbuf(hex);

	return nas_decode(m, buf, n);
}

/* ---- the messages every test reuses ---------------------------------- */

static const char *PROV_REQ = "7e00417d0001008e7b0004deadbeef";
static const char *SUCI_REQ = "7e004179000d0100f110000000001032547698";
static const char *REJ9 = "7e0044095f01227b0003010203";
static const char *AUTH_REQ = "7e0056000200002100112233445566778899aabbccddeeff"
                              "2010f0e0d0c0b0a09080706050403020100f";
static const char *AUTH_RESP = "7e00572d10000102030405060708090a0b0c0d0e0f";
static const char *AUTH_FAIL = "7e005915300e0102030405060708090a0b0c0d0e";
static const char *REG_ACC = "7e00420101"
                             "77000bf200f1100100412a3b4c5d";
static const char *AUTH_REJ = "7e0058";

static const char *const VALID[] = {
	"7e00417d0001008e7b0004deadbeef",
	"7e004179000d0100f110000000001032547698",
	"7e0044095f01227b0003010203",
	"7e0056000200002100112233445566778899aabbccddeeff"
	"2010f0e0d0c0b0a09080706050403020100f",
	"7e00572d10000102030405060708090a0b0c0d0e0f",
	"7e005915300e0102030405060708090a0b0c0d0e",
	"7e004201017700"
	"0bf200f1100100412a3b4c5d",
	"7e0058",
	/* security mode command: NEA2/NIA2, ngKSI 1, caps, ABBA; complete;
	 * reject #24; registration complete; a Profile B SUCI */
	"7e005d2201"
	"02a0a0"
	"38020000",
	"7e005e",
	"7e005f18",
	"7e0043",
	"7e0041790036"
	"0100f11000000202"
	"039aab8376597021e855679a9778ea0b67396e"
	"68c66df32c0f41e9acca2da9b9d146a33fc2716ac7dae96aa30a4d"
	"2e02a0a0",
	/* public captures (see test_public_*) */
	"7e004179000d0199f9070000000000000000102e0480f080f0",
	"7e005600020000215ca0df8c9bb8dbcf3c2a7dd448da13692010406296993082800030b762455c890b19",
};

/* ---- exact bytes of hand-made messages ------------------------------ */

static void test_nas_encode__provisioning_request_bytes(void **state)
{
	memset(&m1, 0, sizeof(m1));
	m1.type = NAS_MSG_REGISTRATION_REQUEST;
	m1.reg_req.reg_type = NAS_REG_SNPN_ONBOARDING;
	m1.reg_req.follow_on = 1;
	m1.reg_req.ngksi.ksi = NAS_NGKSI_NO_KEY;
	m1.reg_req.id.kind = NAS_ID_NONE;
	m1.reg_req.has_payload = true;
	m1.reg_req.payload_type = NAS_PAYLOAD_TYPE_PROVCA;
	m1.reg_req.payload_len = 4;
	memcpy(m1.reg_req.payload, "\xde\xad\xbe\xef", 4);
	assert_encodes_to(&m1, PROV_REQ);
}

static void test_nas_encode__suci_request_bytes(void **state)
{
	memset(&m1, 0, sizeof(m1));
	m1.type = NAS_MSG_REGISTRATION_REQUEST;
	m1.reg_req.reg_type = NAS_REG_INITIAL;
	m1.reg_req.follow_on = 1;
	m1.reg_req.ngksi.ksi = NAS_NGKSI_NO_KEY;
	m1.reg_req.id.kind = NAS_ID_SUCI;
	assert_int_equal(nas_suci_from_supi(&m1.reg_req.id.suci,
	                     "imsi-001010123456789", 2),
	    0);
	assert_encodes_to(&m1, SUCI_REQ);
	/* 3-digit MNC and an odd MSIN: filler nibble, MNC digit 3 used */
	assert_int_equal(nas_suci_from_supi(&m1.reg_req.id.suci,
	                     "imsi-310260123456789", 3),
	    0);
	assert_string_equal(m1.reg_req.id.suci.msin, "123456789");
	assert_encodes_to(&m1, "7e004179000d011300620000000021436587f9");
}

static void test_nas_encode__reject_accept_auth_bytes(void **state)
{
	memset(&m1, 0, sizeof(m1));
	m1.type = NAS_MSG_REGISTRATION_REJECT;
	m1.reg_rej.cause = NAS_CAUSE_UE_IDENTITY_NOT_DERIVED;
	m1.reg_rej.has_t3346 = true;
	m1.reg_rej.t3346 = nas_gprs_timer_from_seconds(120);
	m1.reg_rej.has_payload = true;
	m1.reg_rej.payload_len = 3;
	memcpy(m1.reg_rej.payload, "\x01\x02\x03", 3);
	assert_encodes_to(&m1, REJ9);

	memset(&m1, 0, sizeof(m1));
	m1.type = NAS_MSG_REGISTRATION_ACCEPT;
	m1.reg_acc.result = NAS_REG_RESULT_3GPP;
	assert_encodes_to(&m1, "7e00420101");
	m1.reg_acc.has_guti = true;
	memcpy(m1.reg_acc.guti.mcc, "001", 4);
	memcpy(m1.reg_acc.guti.mnc, "01", 3);
	m1.reg_acc.guti.amf_region = 1;
	m1.reg_acc.guti.amf_set = 1;
	m1.reg_acc.guti.amf_pointer = 1;
	m1.reg_acc.guti.tmsi = 0x2a3b4c5d;
	assert_encodes_to(&m1, REG_ACC);

	memset(&m1, 0, sizeof(m1));
	m1.type = NAS_MSG_AUTH_REQUEST;
	m1.auth_req.abba_len = 2;
	assert_int_equal(util_hex_decode(m1.auth_req.rand, 16,
	                     "00112233445566778899aabbccddeeff"),
	    0);
	assert_int_equal(util_hex_decode(m1.auth_req.autn, 16,
	                     "f0e0d0c0b0a09080706050403020100f"),
	    0);
	assert_encodes_to(&m1, AUTH_REQ);

	memset(&m1, 0, sizeof(m1));
	m1.type = NAS_MSG_AUTH_RESPONSE;
	for (int i = 0; i < 16; i++)
		m1.auth_resp.res_star[i] = (uint8_t)i;
	assert_encodes_to(&m1, AUTH_RESP);

	memset(&m1, 0, sizeof(m1));
	m1.type = NAS_MSG_AUTH_FAILURE;
	m1.auth_fail.cause = NAS_CAUSE_SYNCH_FAILURE;
	m1.auth_fail.has_auts = true;
	for (int i = 0; i < 14; i++)
		m1.auth_fail.auts[i] = (uint8_t)(i + 1);
	assert_encodes_to(&m1, AUTH_FAIL);
	m1.auth_fail.cause = NAS_CAUSE_MAC_FAILURE;
	m1.auth_fail.has_auts = false;
	assert_encodes_to(&m1, "7e005914");

	memset(&m1, 0, sizeof(m1));
	m1.type = NAS_MSG_AUTH_REJECT;
	assert_encodes_to(&m1, AUTH_REJ);
}

/* ---- decoding of the same bytes ------------------------------------- */

static void test_nas_decode__hand_made_values(void **state)
{
	char supi[NAS_SUPI_MAX];

	assert_int_equal(decode_hex(&m1, PROV_REQ), 0);
	assert_int_equal(m1.type, NAS_MSG_REGISTRATION_REQUEST);
	assert_int_equal(m1.reg_req.reg_type, NAS_REG_SNPN_ONBOARDING);
	assert_int_equal(m1.reg_req.follow_on, 1);
	assert_int_equal(m1.reg_req.ngksi.ksi, 7);
	assert_int_equal(m1.reg_req.ngksi.tsc, 0);
	assert_int_equal(m1.reg_req.id.kind, NAS_ID_NONE);
	assert_true(m1.reg_req.has_payload);
	assert_int_equal(m1.reg_req.payload_type, 0x0E);
	assert_int_equal(m1.reg_req.payload_len, 4);
	assert_memory_equal(m1.reg_req.payload, "\xde\xad\xbe\xef", 4);

	assert_int_equal(decode_hex(&m1, SUCI_REQ), 0);
	assert_int_equal(m1.reg_req.id.kind, NAS_ID_SUCI);
	assert_string_equal(m1.reg_req.id.suci.mcc, "001");
	assert_string_equal(m1.reg_req.id.suci.mnc, "01");
	assert_string_equal(m1.reg_req.id.suci.routing, "0000");
	assert_string_equal(m1.reg_req.id.suci.msin, "0123456789");
	assert_false(m1.reg_req.has_payload);
	assert_int_equal(nas_supi_from_suci(supi, sizeof(supi),
	                     &m1.reg_req.id.suci),
	    0);
	assert_string_equal(supi, "imsi-001010123456789");

	assert_int_equal(decode_hex(&m1, REJ9), 0);
	assert_int_equal(m1.reg_rej.cause, 9);
	assert_true(m1.reg_rej.has_t3346);
	assert_int_equal(nas_gprs_timer_to_seconds(m1.reg_rej.t3346), 120);
	assert_true(m1.reg_rej.has_payload);
	assert_int_equal(m1.reg_rej.payload_len, 3);
	assert_memory_equal(m1.reg_rej.payload, "\x01\x02\x03", 3);

	assert_int_equal(decode_hex(&m1, REG_ACC), 0);
	assert_int_equal(m1.reg_acc.result, 1);
	assert_true(m1.reg_acc.has_guti);
	assert_string_equal(m1.reg_acc.guti.mcc, "001");
	assert_string_equal(m1.reg_acc.guti.mnc, "01");
	assert_int_equal(m1.reg_acc.guti.amf_region, 1);
	assert_int_equal(m1.reg_acc.guti.amf_set, 1);
	assert_int_equal(m1.reg_acc.guti.amf_pointer, 1);
	assert_int_equal(m1.reg_acc.guti.tmsi, 0x2a3b4c5d);

	assert_int_equal(decode_hex(&m1, AUTH_FAIL), 0);
	assert_int_equal(m1.auth_fail.cause, 21);
	assert_true(m1.auth_fail.has_auts);
	assert_hex(m1.auth_fail.auts, 14, "0102030405060708090a0b0c0d0e");

	assert_int_equal(decode_hex(&m1, AUTH_REJ), 0);
	assert_int_equal(m1.type, NAS_MSG_AUTH_REJECT);
}

/* ---- public captures ------------------------------------------------- */

/* UERANSIM UE against an AMF, as exported from Wireshark and quoted in a
 * public project (NGAP NAS-PDU of "Registration request" and the following
 * "Authentication request", "Authentication response", "Registration
 * accept"). SUCI: MCC 999, MNC 70, routing 0000, null scheme, MSIN
 * 0000000001; UE security capability (0x2E) follows and is skipped. */
static void test_nas_decode__public_ueransim_capture(void **state)
{
	uint8_t out[128];
	size_t n;

	assert_int_equal(
	    decode_hex(&m1,
	        "7e004179000d0199f9070000000000000000102e0480f080f0"),
	    0);
	assert_int_equal(m1.reg_req.reg_type, NAS_REG_INITIAL);
	assert_int_equal(m1.reg_req.follow_on, 1);
	assert_int_equal(m1.reg_req.ngksi.ksi, 7);
	assert_int_equal(m1.reg_req.id.kind, NAS_ID_SUCI);
	assert_string_equal(m1.reg_req.id.suci.mcc, "999");
	assert_string_equal(m1.reg_req.id.suci.mnc, "70");
	assert_string_equal(m1.reg_req.id.suci.routing, "0000");
	assert_int_equal(m1.reg_req.id.suci.scheme, 0);
	assert_int_equal(m1.reg_req.id.suci.hnpki, 0);
	assert_string_equal(m1.reg_req.id.suci.msin, "0000000001");
	/* our encoder writes the same bytes, minus the skipped IE */
	/* the UE security capability IE: EA0; IA0-IA3 (EPS octets too) */
	assert_true(m1.reg_req.has_ue_sec_cap);
	assert_int_equal(m1.reg_req.ue_sec_cap_len, 4);
	assert_hex(m1.reg_req.ue_sec_cap, 4, "80f080f0");
	assert_int_equal(nas_ue_sec_cap_has(m1.reg_req.ue_sec_cap, 4, 1, 2), 1);
	assert_int_equal(nas_ue_sec_cap_has(m1.reg_req.ue_sec_cap, 4, 0, 2), 0);
	assert_int_equal(nas_encode(out, sizeof(out), &n, &m1), 0);
	assert_hex(out, n,
	    "7e004179000d0199f9070000000000000000102e0480f080f0");
}

/* The same session's Authentication request/response and the plain
 * Registration accept (5G-GUTI, then TAI list, allowed NSSAI, network
 * feature support and T3512, which ProvCA skips). */
static void test_nas_decode__public_auth_and_accept(void **state)
{
	static const char *areq =
	    "7e005600020000215ca0df8c9bb8dbcf3c2a7dd4"
	    "48da13692010406296993082800030b762455c890b19";
	static const char *aresp = "7e00572d10ef2770c69e7382aa38e8134f602234e1";
	uint8_t out[128];
	size_t n;

	assert_int_equal(decode_hex(&m1, areq), 0);
	assert_int_equal(m1.auth_req.ngksi.ksi, 0);
	assert_int_equal(m1.auth_req.abba_len, 2);
	assert_hex(m1.auth_req.abba, 2, "0000");
	assert_hex(m1.auth_req.rand, 16, "5ca0df8c9bb8dbcf3c2a7dd448da1369");
	assert_hex(m1.auth_req.autn, 16, "406296993082800030b762455c890b19");
	assert_int_equal(nas_encode(out, sizeof(out), &n, &m1), 0);
	assert_hex(out, n, areq);

	assert_int_equal(decode_hex(&m1, aresp), 0);
	assert_hex(m1.auth_resp.res_star, 16,
	    "ef2770c69e7382aa38e8134f602234e1");
	assert_int_equal(nas_encode(out, sizeof(out), &n, &m1), 0);
	assert_hex(out, n, aresp);

	assert_int_equal(decode_hex(&m1,
	                     "7e0042010177000bf299f907020040c00007"
	                     "2754074099f90700000115020101210201005e0192"),
	    0);
	assert_int_equal(m1.reg_acc.result, 1);
	assert_true(m1.reg_acc.has_guti);
	assert_string_equal(m1.reg_acc.guti.mcc, "999");
	assert_string_equal(m1.reg_acc.guti.mnc, "70");
	assert_int_equal(m1.reg_acc.guti.amf_region, 2);
	assert_int_equal(m1.reg_acc.guti.amf_set, 1);
	assert_int_equal(m1.reg_acc.guti.amf_pointer, 0);
	assert_int_equal(m1.reg_acc.guti.tmsi, 0xc0000727);
	assert_int_equal(nas_encode(out, sizeof(out), &n, &m1), 0);
	assert_hex(out, n, "7e0042010177000bf299f907020040c0000727");

	/* another public UE capture: one-digit routing indicator "0" */
	assert_int_equal(decode_hex(&m1,
	                     "7e004179000d0100f110f0ff0000103254"
	                     "76982e04f070f070"),
	    0);
	assert_string_equal(m1.reg_req.id.suci.routing, "0");
	assert_string_equal(m1.reg_req.id.suci.msin, "0123456789");
	assert_int_equal(nas_encode(out, sizeof(out), &n, &m1), 0);
	assert_hex(out, n,
	    "7e004179000d0100f110f0ff000010325476"
	    "98"
	    "2e04f070f070");
}

/* ---- round trips ------------------------------------------------------ */

static void roundtrip(const nas_msg_t *m)
{
	static uint8_t out[NAS_MAX_MSG_LEN];
	size_t n;

	assert_int_equal(nas_encode(out, sizeof(out), &n, m), 0);
	assert_int_equal(nas_decode(&m2, out, n), 0);
	assert_memory_equal(m, &m2, sizeof(m2));
}

static void test_nas__roundtrip_every_message(void **state)
{
	for (size_t i = 0; i < sizeof(VALID) / sizeof(VALID[0]); i++) {
		size_t n = hexbuf(VALID[i]);

		assert_int_equal(nas_decode(&m1, buf, n), 0);
		roundtrip(&m1);
	}
	/* the largest payload container fits and survives */
	memset(&m1, 0, sizeof(m1));
	m1.type = NAS_MSG_REGISTRATION_REJECT;
	m1.reg_rej.cause = 9;
	m1.reg_rej.has_payload = true;
	m1.reg_rej.payload_len = NAS_PAYLOAD_MAX;
	for (size_t i = 0; i < NAS_PAYLOAD_MAX; i++)
		m1.reg_rej.payload[i] = (uint8_t)(i * 31);
	roundtrip(&m1);
	memset(&m1, 0, sizeof(m1));
	m1.type = NAS_MSG_REGISTRATION_REQUEST;
	m1.reg_req.reg_type = NAS_REG_SNPN_ONBOARDING;
	m1.reg_req.ngksi.tsc = 1;
	m1.reg_req.ngksi.ksi = 3;
	m1.reg_req.id.kind = NAS_ID_GUTI;
	memcpy(m1.reg_req.id.guti.mcc, "262", 4);
	memcpy(m1.reg_req.id.guti.mnc, "001", 4);
	m1.reg_req.id.guti.amf_set = 0x3FF;
	m1.reg_req.id.guti.amf_pointer = 0x3F;
	m1.reg_req.id.guti.tmsi = 0xFFFFFFFF;
	m1.reg_req.has_payload = true;
	m1.reg_req.payload_type = 1;
	m1.reg_req.payload_len = NAS_PAYLOAD_MAX;
	roundtrip(&m1);
	/* the ABBA at its maximum */
	memset(&m1, 0, sizeof(m1));
	m1.type = NAS_MSG_AUTH_REQUEST;
	m1.auth_req.abba_len = NAS_ABBA_MAX;
	memset(m1.auth_req.abba, 0x5A, NAS_ABBA_MAX);
	roundtrip(&m1);
}

/* ---- truncation ------------------------------------------------------- */

/* Every strict prefix fails, except the listed lengths where the prefix
 * is itself a complete, shorter message (then it must differ). */
static void prefixes(const char *hex, const size_t *valid, size_t nvalid)
{
	size_t n = hexbuf(hex);
	nas_msg_t *full = &m1;

	assert_int_equal(nas_decode(full, buf, n), 0);
	for (size_t k = 0; k < n; k++) {
		bool ok = false;
		int rc = nas_decode(&m2, buf, k);

		for (size_t j = 0; j < nvalid; j++)
			ok |= valid[j] == k;
		if (ok) {
			assert_int_equal(rc, 0);
			assert_int_equal(m2.type, full->type);
			assert_memory_not_equal(&m2, full, sizeof(m2));
		} else {
			if (rc != NAS_ERR_TRUNCATED && rc != NAS_ERR_MISSING_IE)
				fail_msg("%s prefix %zu: %s", hex, k,
				    nas_strerror(rc));
			if (k < 3)
				assert_int_equal(rc, NAS_ERR_TRUNCATED);
		}
	}
}

static void test_nas_decode__every_prefix_rejected(void **state)
{
	static const size_t prov_ok[] = { 7 }, rej_ok[] = { 4, 7 },
	                    acc_ok[] = { 5 };

	prefixes(PROV_REQ, prov_ok, 1);
	prefixes(SUCI_REQ, NULL, 0);
	prefixes(REJ9, rej_ok, 2);
	prefixes(AUTH_REQ, NULL, 0);
	prefixes(AUTH_RESP, NULL, 0);
	prefixes(AUTH_FAIL, NULL, 0);
	prefixes(REG_ACC, acc_ok, 1);
	prefixes(AUTH_REJ, NULL, 0);
	/* the mid-IE cuts are TRUNCATED, the cut before AUTN MISSING_IE */
	assert_int_equal(hexbuf(AUTH_REQ), 42);
	assert_int_equal(nas_decode(&m2, buf, 10), NAS_ERR_TRUNCATED);
	assert_int_equal(nas_decode(&m2, buf, 3 + 1 + 3 + 17),
	    NAS_ERR_MISSING_IE);
}

/* ---- unknown and repeated IEs ----------------------------------------- */

static void test_nas_decode__unknown_optional_ies_skipped(void **state)
{
	/* one-octet IEs 0xA1 and 0xB0 (bit 8 set), TLV 0x35, TLV-E 0x78 (EAP
	 * message), then RAND and AUTN; a second RAND is ignored (the first
	 * occurrence wins, TS 24.501 7.6.3). */
	static const char *hex = "7e0056"
	                         "00"
	                         "020000"
	                         "a1"
	                         "b0"
	                         "3502abcd"
	                         "780003010203"
	                         "2100112233445566778899aabbccddeeff"
	                         "2010f0e0d0c0b0a09080706050403020100f"
	                         "21ffffffffffffffffffffffffffffffff";

	assert_int_equal(decode_hex(&m1, hex), 0);
	assert_hex(m1.auth_req.rand, 16, "00112233445566778899aabbccddeeff");
	assert_hex(m1.auth_req.autn, 16, "f0e0d0c0b0a09080706050403020100f");
	assert_int_equal(decode_hex(&m2, AUTH_REQ), 0);
	assert_memory_equal(&m1, &m2, sizeof(m1));

	/* Registration request with unknown IEs around the known pair and a
	 * repeated payload container */
	assert_int_equal(decode_hex(&m1,
	                     "7e00417d000100"
	                     "2e0480f080f0"
	                     "8e"
	                     "700001ff"
	                     "7b0004deadbeef"
	                     "7b000100"
	                     "9b"),
	    0);
	assert_int_equal(m1.reg_req.payload_len, 4);
	assert_memory_equal(m1.reg_req.payload, "\xde\xad\xbe\xef", 4);
	/* Authentication reject with an EAP message */
	assert_int_equal(decode_hex(&m1, "7e0058780005030000000a"), 0);
	assert_int_equal(m1.type, NAS_MSG_AUTH_REJECT);
	/* AUTS with a cause other than #21 is ignored */
	assert_int_equal(decode_hex(&m1,
	                     "7e005914300e0102030405060708090a0b0c0d0e"),
	    0);
	assert_int_equal(m1.auth_fail.cause, 20);
	assert_false(m1.auth_fail.has_auts);
}

/* ---- malformed input -------------------------------------------------- */

struct bad {
	const char *hex;
	int rc;
};

static void test_nas_decode__malformed_rejected(void **state)
{
	static const struct bad cases[] = {
		/* header */
		{ "", NAS_ERR_TRUNCATED },
		{ "7e00", NAS_ERR_TRUNCATED },
		{ "2e0058", NAS_ERR_BAD_EPD },
		{ "7e0258", NAS_ERR_SEC_HDR },
		{ "7e1058", NAS_ERR_SEC_HDR },
		{ "7e0045", NAS_ERR_UNKNOWN_TYPE },
		/* lengths past the end of the buffer */
		{ "7e004179000d0100f11000", NAS_ERR_TRUNCATED },
		{ "7e00417d0001008e7bffff00", NAS_ERR_TRUNCATED },
		{ "7e005600ff0000", NAS_ERR_TRUNCATED },
		{ "7e0056000200002100112233445566778899aabbccddeeff"
		  "2020f0e0d0c0b0a09080706050403020100f",
		    NAS_ERR_TRUNCATED },
		{ "7e0058780100", NAS_ERR_TRUNCATED },
		{ "7e005835", NAS_ERR_TRUNCATED },
		{ "7e0044095f", NAS_ERR_TRUNCATED },
		{ "7e004202", NAS_ERR_TRUNCATED },
		/* lengths a known IE cannot have */
		{ "7e0056000200002100112233445566778899aabbccddeeff"
		  "200ff0e0d0c0b0a09080706050403020100f",
		    NAS_ERR_BAD_LENGTH },
		{ "7e00572d080001020304050607", NAS_ERR_BAD_LENGTH },
		{ "7e005915300d0102030405060708090a0b0c0d",
		    NAS_ERR_BAD_LENGTH },
		{ "7e0044165f022200", NAS_ERR_BAD_LENGTH },
		{ "7e0042020100", NAS_ERR_BAD_LENGTH },
		{ "7e00560001002100112233445566778899aabbccddeeff"
		  "2010f0e0d0c0b0a09080706050403020100f",
		    NAS_ERR_BAD_LENGTH },
		{ "7e00417d0001008e7b0000", NAS_ERR_BAD_LENGTH },
		{ "7e00420101770000", NAS_ERR_BAD_LENGTH },
		{ "7e0042010177000af200f1100100412a3b4c", NAS_ERR_BAD_LENGTH },
		{ "7e00417d0000", NAS_ERR_BAD_LENGTH },
		{ "7e00417d00020000", NAS_ERR_BAD_LENGTH },
		{ "7e0041790008"
		  "0100f11000000000",
		    NAS_ERR_BAD_LENGTH },
		{ "7e004179000e0100f11000000000103254769810",
		    NAS_ERR_BAD_LENGTH },
		/* missing mandatory / required IEs */
		{ "7e00560002000021001122334455667788"
		  "99aabbccddeeff",
		    NAS_ERR_MISSING_IE },
		{ "7e0056000200002010f0e0d0c0b0a09080706050403020100f",
		    NAS_ERR_MISSING_IE },
		{ "7e0057", NAS_ERR_MISSING_IE },
		{ "7e005915", NAS_ERR_MISSING_IE },
		{ "7e00417d0001008e", NAS_ERR_MISSING_IE },
		{ "7e00417d0001007b0001aa", NAS_ERR_MISSING_IE },
		/* bad values */
		{ "7e004179000d010af110000000001032547698", NAS_ERR_BAD_VALUE },
		{ "7e004179000d0100f1a0000000001032547698", NAS_ERR_BAD_VALUE },
		{ "7e004179000d0100f1100000000010f2547698", NAS_ERR_BAD_VALUE },
		{ "7e004179000d0100f11000000000103254769f", NAS_ERR_BAD_VALUE },
		{ "7e004179000d0100f110f00f00001032547698", NAS_ERR_BAD_VALUE },
		{ "7e004179000d0100f110a00000001032547698", NAS_ERR_BAD_VALUE },
		{ "7e0042010177000bf100f1100100412a3b4c5d", NAS_ERR_BAD_VALUE },
		/* supported by 24.501, not by ProvCA */
		{ "7e004179000d0100f110000003001032547698",
		    NAS_ERR_UNSUPPORTED },
		{ "7e004179000d1100f110000000001032547698",
		    NAS_ERR_UNSUPPORTED },
		{ "7e004179000833"
		  "43658709214365",
		    NAS_ERR_UNSUPPORTED },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int rc = decode_hex(&m1, cases[i].hex);

		if (rc != cases[i].rc)
			fail_msg("case %zu %s: got %s want %s", i, cases[i].hex,
			    nas_strerror(rc), nas_strerror(cases[i].rc));
		/* out is zeroed on error */
		assert_int_equal(m1.type, 0);
	}
}

static void test_nas_decode__size_limits(void **state)
{
	static uint8_t big[NAS_MAX_MSG_LEN + 1];
	size_t n;

	/* a message above NAS_MAX_MSG_LEN, however well formed */
	memset(big, 0, sizeof(big));
	memcpy(big, "\x7e\x00\x58\x78\x1f\xfa", 6);
	assert_int_equal(nas_decode(&m1, big, sizeof(big)), NAS_ERR_TOO_LONG);
	assert_int_equal(nas_decode(&m1, big, NAS_MAX_MSG_LEN), 0);
	/* a payload container above NAS_PAYLOAD_MAX */
	n = 3 + 1 + 3 + NAS_PAYLOAD_MAX + 1;
	memcpy(big, "\x7e\x00\x44\x09\x7b", 5);
	big[5] = (uint8_t)((NAS_PAYLOAD_MAX + 1) >> 8);
	big[6] = (uint8_t)(NAS_PAYLOAD_MAX + 1);
	assert_int_equal(nas_decode(&m1, big, n), NAS_ERR_TOO_LONG);
	assert_int_equal(nas_decode(&m1, big, n - 1), NAS_ERR_TRUNCATED);
	/* an ABBA above NAS_ABBA_MAX */
	memset(big, 0, 64);
	memcpy(big, "\x7e\x00\x56\x00\x21", 5);
	assert_int_equal(nas_decode(&m1, big, 6 + 0x21), NAS_ERR_TOO_LONG);
	/* arguments */
	assert_int_equal(nas_decode(NULL, big, 3), NAS_ERR_INVALID_ARG);
	assert_int_equal(nas_decode(&m1, NULL, 3), NAS_ERR_INVALID_ARG);
	assert_int_equal(nas_decode(&m1, NULL, 0), NAS_ERR_TRUNCATED);
}

/* ---- encoder errors --------------------------------------------------- */

static int enc(const nas_msg_t *m)
{
	static uint8_t out[NAS_MAX_MSG_LEN];
	size_t n = 77;
	int rc = nas_encode(out, sizeof(out), &n, m);

	if (rc != 0)
		assert_int_equal(n, 0);
	return rc;
}

static void test_nas_encode__bad_fields_refused(void **state)
{
	uint8_t out[64];
	size_t n, full;

	assert_int_equal(decode_hex(&m1, SUCI_REQ), 0);
	m2 = m1;
	assert_int_equal(enc(&m2), 0);
	m2.reg_req.reg_type = 8;
	assert_int_equal(enc(&m2), NAS_ERR_BAD_VALUE);
	m2 = m1;
	m2.reg_req.follow_on = 2;
	assert_int_equal(enc(&m2), NAS_ERR_BAD_VALUE);
	m2 = m1;
	m2.reg_req.ngksi.ksi = 8;
	assert_int_equal(enc(&m2), NAS_ERR_BAD_VALUE);
	m2 = m1;
	m2.reg_req.ngksi.tsc = 2;
	assert_int_equal(enc(&m2), NAS_ERR_BAD_VALUE);
	m2 = m1;
	memcpy(m2.reg_req.id.suci.mcc, "0a1", 4);
	assert_int_equal(enc(&m2), NAS_ERR_BAD_VALUE);
	m2 = m1;
	memcpy(m2.reg_req.id.suci.mnc, "1", 2);
	assert_int_equal(enc(&m2), NAS_ERR_BAD_VALUE);
	m2 = m1;
	m2.reg_req.id.suci.msin[0] = '\0';
	assert_int_equal(enc(&m2), NAS_ERR_BAD_VALUE);
	m2 = m1;
	memcpy(m2.reg_req.id.suci.msin, "12345678901", 11);
	assert_int_equal(enc(&m2), NAS_ERR_BAD_VALUE);
	m2 = m1;
	memcpy(m2.reg_req.id.suci.routing, "12345", 5);
	assert_int_equal(enc(&m2), NAS_ERR_BAD_VALUE);
	m2 = m1;
	m2.reg_req.id.suci.scheme = 3;
	assert_int_equal(enc(&m2), NAS_ERR_UNSUPPORTED);
	m2 = m1;
	m2.reg_req.id.suci.scheme = 1; /* no scheme output */
	assert_int_equal(enc(&m2), NAS_ERR_BAD_VALUE);
	m2 = m1;
	m2.reg_req.id.kind = 9;
	assert_int_equal(enc(&m2), NAS_ERR_BAD_VALUE);
	m2 = m1;
	m2.reg_req.has_payload = true;
	m2.reg_req.payload_len = 0;
	assert_int_equal(enc(&m2), NAS_ERR_BAD_LENGTH);
	m2.reg_req.payload_len = NAS_PAYLOAD_MAX + 1;
	assert_int_equal(enc(&m2), NAS_ERR_TOO_LONG);
	m2.reg_req.payload_len = 1;
	m2.reg_req.payload_type = 0x10;
	assert_int_equal(enc(&m2), NAS_ERR_BAD_VALUE);

	assert_int_equal(decode_hex(&m1, REG_ACC), 0);
	m2 = m1;
	m2.reg_acc.guti.amf_set = 0x400;
	assert_int_equal(enc(&m2), NAS_ERR_BAD_VALUE);
	m2 = m1;
	m2.reg_acc.guti.amf_pointer = 0x40;
	assert_int_equal(enc(&m2), NAS_ERR_BAD_VALUE);

	assert_int_equal(decode_hex(&m1, AUTH_REQ), 0);
	m2 = m1;
	m2.auth_req.abba_len = 1;
	assert_int_equal(enc(&m2), NAS_ERR_BAD_LENGTH);
	m2.auth_req.abba_len = NAS_ABBA_MAX + 1;
	assert_int_equal(enc(&m2), NAS_ERR_BAD_LENGTH);
	m2 = m1;
	m2.auth_req.ngksi.ksi = 9;
	assert_int_equal(enc(&m2), NAS_ERR_BAD_VALUE);

	assert_int_equal(decode_hex(&m1, AUTH_FAIL), 0);
	m2 = m1;
	m2.auth_fail.has_auts = false;
	assert_int_equal(enc(&m2), NAS_ERR_BAD_VALUE);
	m2 = m1;
	m2.auth_fail.cause = 20;
	assert_int_equal(enc(&m2), NAS_ERR_BAD_VALUE);

	assert_int_equal(decode_hex(&m1, REJ9), 0);
	m2 = m1;
	m2.reg_rej.payload_len = NAS_PAYLOAD_MAX + 1;
	assert_int_equal(enc(&m2), NAS_ERR_TOO_LONG);

	m2.type = 0x45;
	assert_int_equal(enc(&m2), NAS_ERR_UNKNOWN_TYPE);
	assert_int_equal(nas_encode(NULL, 10, &n, &m1), NAS_ERR_INVALID_ARG);
	assert_int_equal(nas_encode(out, 10, NULL, &m1), NAS_ERR_INVALID_ARG);
	assert_int_equal(nas_encode(out, 10, &n, NULL), NAS_ERR_INVALID_ARG);

	/* every output size short of the message is NAS_ERR_SPACE */
	for (size_t i = 0; i < sizeof(VALID) / sizeof(VALID[0]); i++) {
		assert_int_equal(nas_decode(&m1, buf, hexbuf(VALID[i])), 0);
		assert_int_equal(nas_encode(out, sizeof(out), &full, &m1), 0);
		for (size_t cap = 0; cap < full; cap++) {
			n = 5;
			assert_int_equal(nas_encode(out, cap, &n, &m1),
			    NAS_ERR_SPACE);
			assert_int_equal(n, 0);
		}
	}
}

/* ---- random mutation --------------------------------------------------- */

static void test_nas_decode__mutations_never_crash(void **state)
{
	static uint8_t mut[NAS_MAX_MSG_LEN], out[NAS_MAX_MSG_LEN];
	size_t nvalid = sizeof(VALID) / sizeof(VALID[0]);
	unsigned seed = 12345, ok = 0;
	int iters = getenv("PROVCA_SANITIZE") &&
	        strcmp(getenv("PROVCA_SANITIZE"), "1") == 0 ?
	    100000 :
	    300000;

	for (int it = 0; it < iters; it++) {
		size_t n = hexbuf(VALID[(size_t)rand_r(&seed) % nvalid]), on;
		int edits = 1 + rand_r(&seed) % 4, rc;

		memcpy(mut, buf, n);
		for (int e = 0; e < edits; e++) {
			size_t pos = n ? (size_t)rand_r(&seed) % n : 0;

			switch (rand_r(&seed) % 4) {
			case 0: /* flip a byte */
				if (n)
					mut[pos] = (uint8_t)rand_r(&seed);
				break;
			case 1: /* truncate */ n = pos; break;
			case 2: /* insert a byte */
				if (n < 200) {
					memmove(mut + pos + 1, mut + pos,
					    n - pos);
					mut[pos] = (uint8_t)rand_r(&seed);
					n++;
				}
				break;
			default: /* flip one bit */
				if (n)
					mut[pos] ^=
					    (uint8_t)(1 << rand_r(&seed) % 8);
				break;
			}
		}
		rc = nas_decode(&m1, mut, n);
		assert_true(rc <= 0 && rc >= NAS_ERR_UNSUPPORTED);
		if (rc != 0)
			continue;
		ok++;
		/* whatever decodes re-encodes to something that decodes the same */
		assert_int_equal(nas_encode(out, sizeof(out), &on, &m1), 0);
		assert_int_equal(nas_decode(&m2, out, on), 0);
		assert_memory_equal(&m1, &m2, sizeof(m1));
	}
	assert_true(ok > 0);
}

/* ---- names and helpers ------------------------------------------------ */

static void test_nas__names_and_errors(void **state)
{
	assert_string_equal(nas_msg_name(0x41), "Registration request");
	assert_string_equal(nas_msg_name(0x42), "Registration accept");
	assert_string_equal(nas_msg_name(0x44), "Registration reject");
	assert_string_equal(nas_msg_name(0x56), "Authentication request");
	assert_string_equal(nas_msg_name(0x57), "Authentication response");
	assert_string_equal(nas_msg_name(0x58), "Authentication reject");
	assert_string_equal(nas_msg_name(0x59), "Authentication failure");
	assert_string_equal(nas_msg_name(0x43), "Registration complete");
	assert_string_equal(nas_msg_name(0x5D), "Security mode command");
	assert_string_equal(nas_msg_name(0x5E), "Security mode complete");
	assert_string_equal(nas_msg_name(0x5F), "Security mode reject");
	assert_string_equal(nas_msg_name(0x45), "Unknown message type");
	for (int a = NAS_ERR_UNSUPPORTED; a <= 0; a++)
		for (int b = a + 1; b <= 0; b++)
			assert_string_not_equal(nas_strerror(a),
			    nas_strerror(b));
	assert_string_equal(nas_strerror(NAS_ERR_TRUNCATED),
	    "message truncated");
	assert_string_equal(nas_strerror(-99), "unknown NAS error");
}

static void test_nas__supi_suci_helpers(void **state)
{
	nas_suci_t s;
	char supi[NAS_SUPI_MAX], small[20];

	assert_int_equal(nas_suci_from_supi(&s, "imsi-001010123456789", 2), 0);
	assert_string_equal(s.mcc, "001");
	assert_string_equal(s.mnc, "01");
	assert_string_equal(s.routing, "0000");
	assert_int_equal(s.scheme, 0);
	assert_int_equal(s.hnpki, 0);
	assert_string_equal(s.msin, "0123456789");
	assert_int_equal(nas_supi_from_suci(supi, sizeof(supi), &s), 0);
	assert_string_equal(supi, "imsi-001010123456789");
	assert_int_equal(nas_supi_from_suci(small, sizeof(small), &s),
	    NAS_ERR_SPACE);
	assert_string_equal(small, "");
	s.scheme = 1;
	assert_int_equal(nas_supi_from_suci(supi, sizeof(supi), &s),
	    NAS_ERR_UNSUPPORTED);
	s.scheme = 0;
	s.msin[0] = 'x';
	assert_int_equal(nas_supi_from_suci(supi, sizeof(supi), &s),
	    NAS_ERR_BAD_VALUE);
	assert_int_equal(nas_supi_from_suci(NULL, 1, &s), NAS_ERR_INVALID_ARG);

	assert_int_equal(nas_suci_from_supi(&s, "imsi-00101012345678", 3), 0);
	assert_string_equal(s.mnc, "010");
	assert_string_equal(s.msin, "12345678");
	assert_int_equal(nas_suci_from_supi(&s, "imsi-0010101234567890", 2),
	    NAS_ERR_BAD_VALUE); /* 16 digits */
	assert_int_equal(nas_suci_from_supi(&s, "imsi-00101", 2),
	    NAS_ERR_BAD_VALUE); /* too short */
	assert_int_equal(nas_suci_from_supi(&s, "imsi-001010", 3),
	    NAS_ERR_BAD_VALUE); /* no MSIN */
	assert_int_equal(nas_suci_from_supi(&s, "nai-001010123456789", 2),
	    NAS_ERR_BAD_VALUE);
	assert_int_equal(nas_suci_from_supi(&s, "imsi-00101012345678a", 2),
	    NAS_ERR_BAD_VALUE);
	assert_int_equal(nas_suci_from_supi(&s, "imsi-001010123456789", 4),
	    NAS_ERR_BAD_VALUE);
	assert_int_equal(nas_suci_from_supi(&s, "imsi-0010101234567891", 3),
	    NAS_ERR_BAD_VALUE);
	assert_int_equal(nas_suci_from_supi(NULL, "imsi-001010123456789", 2),
	    NAS_ERR_INVALID_ARG);
	/* failed parse leaves nothing behind */
	assert_string_equal(s.msin, "");
}

static void test_nas__gprs_timer(void **state)
{
	assert_int_equal(nas_gprs_timer_from_seconds(0), 0x00);
	assert_int_equal(nas_gprs_timer_from_seconds(1), 0x01); /* 2 s */
	assert_int_equal(nas_gprs_timer_from_seconds(62), 0x1f);
	assert_int_equal(nas_gprs_timer_from_seconds(63), 0x22); /* 2 min */
	assert_int_equal(nas_gprs_timer_from_seconds(120), 0x22);
	assert_int_equal(nas_gprs_timer_from_seconds(31 * 60), 0x3f);
	assert_int_equal(nas_gprs_timer_from_seconds(31 * 60 + 1), 0x46);
	assert_int_equal(nas_gprs_timer_from_seconds(1000000), 0x5f);
	assert_int_equal(nas_gprs_timer_to_seconds(0x22), 120);
	assert_int_equal(nas_gprs_timer_to_seconds(0x1f), 62);
	assert_int_equal(nas_gprs_timer_to_seconds(0x46), 6 * 360);
	assert_int_equal(nas_gprs_timer_to_seconds(0xe5), 0); /* deactivated */
	assert_int_equal(nas_gprs_timer_to_seconds(0x65), 5 * 60);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_nas_encode__provisioning_request_bytes),
		cmocka_unit_test(test_nas_encode__suci_request_bytes),
		cmocka_unit_test(test_nas_encode__reject_accept_auth_bytes),
		cmocka_unit_test(test_nas_decode__hand_made_values),
		cmocka_unit_test(test_nas_decode__public_ueransim_capture),
		cmocka_unit_test(test_nas_decode__public_auth_and_accept),
		cmocka_unit_test(test_nas__roundtrip_every_message),
		cmocka_unit_test(test_nas_decode__every_prefix_rejected),
		cmocka_unit_test(test_nas_decode__unknown_optional_ies_skipped),
		cmocka_unit_test(test_nas_decode__malformed_rejected),
		cmocka_unit_test(test_nas_decode__size_limits),
		cmocka_unit_test(test_nas_encode__bad_fields_refused),
		cmocka_unit_test(test_nas_decode__mutations_never_crash),
		cmocka_unit_test(test_nas__names_and_errors),
		cmocka_unit_test(test_nas__supi_suci_helpers),
		cmocka_unit_test(test_nas__gprs_timer),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
