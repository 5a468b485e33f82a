/* nas_trace.c — test helper: write a pcap of one full ProvCA exchange with
 * the pcap writer, and print the values Wireshark must show: the plain
 * messages, then a registration with a Profile A SUCI and NAS security
 * (Security mode command/complete, protected accept/complete).
 * Usage: nas_trace OUT.pcap. Prints "name=hex" lines (rand, autn, res_star,
 * auts, payload_req, payload_rej, suci_out, smc_mac) on stdout. */
#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>

#include "nas.h"
#include "nas_sec.h"
#include "pcap.h"
#include "prov.h"
#include "suci.h"
#include "util.h"

static const char *RAND_HEX = "23553cbe9637a89d218ae64dae47bf35";
static const char *AUTN_HEX = "55f328b43577b9b94a9ffac354dfafb3";
static const char *RES_HEX = "a52b7ccf7cb4cc01a46a0e7d5b2a1c35";
static const char *AUTS_HEX = "6a8d1f3b1c75e4a0d99b1aef1a2b";
static const char *SUPI = "imsi-001010123456789";
/* the provisioning request (signed, version 2) and a stand-in for the
 * sealed container */
static const char *PREQ = "https://ca.example:8443/devices/dev-0001";

/* The signed provisioning request as ueclient builds it, signed with a
 * fresh RSA-2048 key (the largest signature of the trace) into rq. */
static int signed_request(nas_reg_request_t *rq)
{
	prov_request_t r;
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	char err[256];
	int rc = -1;

	memset(&r, 0, sizeof(r));
	snprintf(r.url, sizeof(r.url), "%s", PREQ);
	memset(r.ue_nonce, 0xA5, sizeof(r.ue_nonce));
	snprintf(r.snn, sizeof(r.snn), "5G:mnc001.mcc001.3gppnetwork.org");
	r.counter = 1765000000000000ULL;
	if (k == NULL ||
	    prov_request_sign(&r, k, err, sizeof(err)) != PROV_OK ||
	    prov_request_encode(rq->payload, sizeof(rq->payload),
	        &rq->payload_len, &r, err, sizeof(err)) != PROV_OK) {
		fprintf(stderr, "signed request: %s\n", err);
		goto out;
	}
	rc = 0;
out:
	EVP_PKEY_free(k);
	return rc;
}

static int add(pcap_writer *w, int dir, const nas_msg_t *m)
{
	uint8_t buf[NAS_MAX_MSG_LEN];
	size_t n;
	int rc;

	if ((rc = nas_encode(buf, sizeof(buf), &n, m)) != 0) {
		fprintf(stderr, "encode %s: %s\n", nas_msg_name(m->type),
		    nas_strerror(rc));
		return -1;
	}
	if (pcap_writer_add(w, dir, buf, n) != 0) {
		fprintf(stderr, "pcap add failed\n");
		return -1;
	}
	return 0;
}

/* Add m protected with header type hdr in ctx. */
static int add_protected(pcap_writer *w, int dir, nas_sec_ctx_t *ctx,
    uint8_t hdr, const nas_msg_t *m, uint8_t *mac)
{
	uint8_t plain[512], buf[600];
	size_t plen, n;

	if (nas_encode(plain, sizeof(plain), &plen, m) != 0 ||
	    nas_sec_protect(buf, sizeof(buf), &n, ctx, hdr, plain, plen) != 0 ||
	    pcap_writer_add(w, dir, buf, n) != 0) {
		fprintf(stderr, "protected %s failed\n", nas_msg_name(m->type));
		return -1;
	}
	if (mac != NULL)
		memcpy(mac, buf + 2, 4);
	return 0;
}

static void print_hex(const char *name, const uint8_t *p, size_t n)
{
	char hex[2 * 64 + 1];

	util_hex_encode(hex, p, n);
	printf("%s=%s\n", name, hex);
}

/* 10.-14. A registration as it runs with NAS security: Registration
 * request with a Profile A SUCI (TS 33.501 C.4.3 keys) and the UE security
 * capability, Security mode command (header type 3), Security mode
 * complete (4), Registration accept (2), Registration complete (2). */
static int secured(pcap_writer *w, nas_msg_t *m)
{
	static const char *HN_PUB = "5a8d38864820197c3394b92613b20b91633cbd897"
	                            "119273bf8e4a6f4eec0a650";
	static const char *EPH = "c80949f13ebe61af4ebdbd293ea4f942696b9e815d7e"
	                         "8f0096bbf6ed7de62256";
	uint8_t pub[32], eph[32], kamf[32], mac[4];
	nas_sec_ctx_t net, ue;
	suci_t s;
	char err[256];
	int rc = -1;

	memset(kamf, 0x3c, sizeof(kamf));
	if (util_hex_decode(pub, 32, HN_PUB) != 0 ||
	    util_hex_decode(eph, 32, EPH) != 0 ||
	    suci_make(&s, "imsi-00101001002086", 2, SUCI_SCHEME_PROFILE_A, pub,
	        32, 1, "0", eph, err, sizeof(err)) != 0 ||
	    nas_sec_ctx_init(&net, kamf, 2, 2, 0, 0) != 0 ||
	    nas_sec_ctx_init(&ue, kamf, 2, 2, 1, 0) != 0)
		return -1;
	memset(m, 0, sizeof(*m));
	m->type = NAS_MSG_REGISTRATION_REQUEST;
	m->reg_req.reg_type = NAS_REG_INITIAL;
	m->reg_req.follow_on = 1;
	m->reg_req.ngksi.ksi = NAS_NGKSI_NO_KEY;
	m->reg_req.id.kind = NAS_ID_SUCI;
	memcpy(m->reg_req.id.suci.mcc, "001", 4);
	memcpy(m->reg_req.id.suci.mnc, "01", 3);
	memcpy(m->reg_req.id.suci.routing, "0", 2);
	m->reg_req.id.suci.scheme = SUCI_SCHEME_PROFILE_A;
	m->reg_req.id.suci.hnpki = 1;
	m->reg_req.id.suci.out_len = s.out_len;
	memcpy(m->reg_req.id.suci.out, s.out, s.out_len);
	m->reg_req.has_ue_sec_cap = true;
	m->reg_req.ue_sec_cap_len = 2;
	m->reg_req.ue_sec_cap[0] = 0xA0;
	m->reg_req.ue_sec_cap[1] = 0x20;
	print_hex("suci_out", s.out, s.out_len);
	if (add(w, PCAP_DIR_UE_TO_CORE, m) != 0)
		goto out;
	memset(m, 0, sizeof(*m));
	m->type = NAS_MSG_SECURITY_MODE_COMMAND;
	m->smc.enc_alg = 2;
	m->smc.int_alg = 2;
	m->smc.ngksi.ksi = 1;
	m->smc.caps_len = 2;
	m->smc.caps[0] = 0xA0;
	m->smc.caps[1] = 0x20;
	m->smc.has_abba = true;
	m->smc.abba_len = 2;
	if (add_protected(w, PCAP_DIR_CORE_TO_UE, &net, 3, m, mac) != 0)
		goto out;
	print_hex("smc_mac", mac, 4);
	memset(m, 0, sizeof(*m));
	m->type = NAS_MSG_SECURITY_MODE_COMPLETE;
	if (add_protected(w, PCAP_DIR_UE_TO_CORE, &ue, 4, m, NULL) != 0)
		goto out;
	memset(m, 0, sizeof(*m));
	m->type = NAS_MSG_REGISTRATION_ACCEPT;
	m->reg_acc.result = NAS_REG_RESULT_3GPP;
	if (add_protected(w, PCAP_DIR_CORE_TO_UE, &net, 2, m, NULL) != 0)
		goto out;
	memset(m, 0, sizeof(*m));
	m->type = NAS_MSG_REGISTRATION_COMPLETE;
	if (add_protected(w, PCAP_DIR_UE_TO_CORE, &ue, 2, m, NULL) != 0)
		goto out;
	rc = 0;
out:
	nas_sec_ctx_clear(&net);
	nas_sec_ctx_clear(&ue);
	return rc;
}

int main(int argc, char **argv)
{
	static nas_msg_t m;
	char err[256];
	pcap_writer *w = NULL;
	int rc = 1;

	if (argc != 2) {
		fprintf(stderr, "usage: nas_trace OUT.pcap\n");
		return 2;
	}
	if (pcap_writer_open(&w, argv[1], 0, err, sizeof(err)) != 0) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	/* 1. provisioning registration request */
	memset(&m, 0, sizeof(m));
	m.type = NAS_MSG_REGISTRATION_REQUEST;
	m.reg_req.reg_type = NAS_REG_SNPN_ONBOARDING;
	m.reg_req.follow_on = 1;
	m.reg_req.ngksi.ksi = NAS_NGKSI_NO_KEY;
	m.reg_req.id.kind = NAS_ID_NONE;
	m.reg_req.has_payload = true;
	m.reg_req.payload_type = NAS_PAYLOAD_TYPE_PROVCA;
	if (signed_request(&m.reg_req) != 0)
		goto out;
	print_hex("payload_req", m.reg_req.payload, 32);
	if (add(w, PCAP_DIR_UE_TO_CORE, &m) != 0)
		goto out;
	/* 2. registration reject #9 with the container */
	memset(&m, 0, sizeof(m));
	m.type = NAS_MSG_REGISTRATION_REJECT;
	m.reg_rej.cause = NAS_CAUSE_UE_IDENTITY_NOT_DERIVED;
	m.reg_rej.has_payload = true;
	m.reg_rej.payload_len = 3000;
	for (size_t i = 0; i < 3000; i++)
		m.reg_rej.payload[i] = (uint8_t)(i * 7 + 1);
	print_hex("payload_rej", m.reg_rej.payload, 32);
	if (add(w, PCAP_DIR_CORE_TO_UE, &m) != 0)
		goto out;
	/* 3. normal registration request with the SUCI */
	memset(&m, 0, sizeof(m));
	m.type = NAS_MSG_REGISTRATION_REQUEST;
	m.reg_req.reg_type = NAS_REG_INITIAL;
	m.reg_req.follow_on = 1;
	m.reg_req.ngksi.ksi = NAS_NGKSI_NO_KEY;
	m.reg_req.id.kind = NAS_ID_SUCI;
	if (nas_suci_from_supi(&m.reg_req.id.suci, SUPI, 2) != 0 ||
	    add(w, PCAP_DIR_UE_TO_CORE, &m) != 0)
		goto out;
	/* 4. authentication request, 5. failure (synch), 6. request again */
	memset(&m, 0, sizeof(m));
	m.type = NAS_MSG_AUTH_REQUEST;
	m.auth_req.abba_len = 2;
	if (util_hex_decode(m.auth_req.rand, 16, RAND_HEX) != 0 ||
	    util_hex_decode(m.auth_req.autn, 16, AUTN_HEX) != 0 ||
	    add(w, PCAP_DIR_CORE_TO_UE, &m) != 0)
		goto out;
	print_hex("rand", m.auth_req.rand, 16);
	print_hex("autn", m.auth_req.autn, 16);
	memset(&m, 0, sizeof(m));
	m.type = NAS_MSG_AUTH_FAILURE;
	m.auth_fail.cause = NAS_CAUSE_SYNCH_FAILURE;
	m.auth_fail.has_auts = true;
	if (util_hex_decode(m.auth_fail.auts, 14, AUTS_HEX) != 0 ||
	    add(w, PCAP_DIR_UE_TO_CORE, &m) != 0)
		goto out;
	print_hex("auts", m.auth_fail.auts, 14);
	/* 7. authentication response, 8. registration accept */
	memset(&m, 0, sizeof(m));
	m.type = NAS_MSG_AUTH_RESPONSE;
	if (util_hex_decode(m.auth_resp.res_star, 16, RES_HEX) != 0 ||
	    add(w, PCAP_DIR_UE_TO_CORE, &m) != 0)
		goto out;
	print_hex("res_star", m.auth_resp.res_star, 16);
	memset(&m, 0, sizeof(m));
	m.type = NAS_MSG_REGISTRATION_ACCEPT;
	m.reg_acc.result = NAS_REG_RESULT_3GPP;
	if (add(w, PCAP_DIR_CORE_TO_UE, &m) != 0)
		goto out;
	/* 9. authentication reject (a second, failing device) */
	memset(&m, 0, sizeof(m));
	m.type = NAS_MSG_AUTH_REJECT;
	if (add(w, PCAP_DIR_CORE_TO_UE, &m) != 0)
		goto out;
	if (secured(w, &m) != 0)
		goto out;
	rc = 0;
out:
	pcap_writer_close(w);
	return rc;
}
