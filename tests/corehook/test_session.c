/* test_session.c — corehook's NAS state machine through corehook_handle:
 * 5G-AKA with the TS 35.208 set 1 keys, NAS security mode control (SMC
 * checked as a UE does, protected accept, registration complete, bad MAC,
 * replayed COUNT and unprotected messages discarded and counted, no common
 * algorithm refused), RES* mismatch, AUTS resync, unknown SUCI,
 * retransmission cache, malformed and refused provisioning;
 * corehook_res_confirm against the published K_AMF vector. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>

#include <cmocka.h>
#include <openssl/ec.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "aka.h"
#include "corehook.h"
#include "nas.h"
#include "nas_sec.h"
#include "pki.h"
#include "prov.h"
#include "subs.h"
#include "util.h"

/* TS 35.208 test set 1. */
#define SET1_K "465b5ce8b199b49faa5f0a2ee238a6bc"
#define SET1_OP "cdc202d5123e20f62b6d676ac72cb318"
#define SET1_OPC "cd63cb71954a9f4e48a5994e37a02baf"
#define SNN "5G:mnc001.mcc001.3gppnetwork.org"

struct fix {
	char dir[256];
	corehook_config *cfg;
	corehook *ch;
	char supi[16];
	uint8_t k[16], opc[16];
	pthread_mutex_t mu;
	char log[16384];
};

static void on_log(void *arg, int level, const char *line)
{
	struct fix *f = arg;
	size_t n;

	(void)level;
	pthread_mutex_lock(&f->mu);
	n = strlen(f->log);
	snprintf(f->log + n, sizeof(f->log) - n, "%s\n", line);
	pthread_mutex_unlock(&f->mu);
}

/* A self-signed P-256 provisioning-signer certificate and its key. */
static void make_signer(const char *dir)
{
	EVP_PKEY *k = EVP_EC_gen("P-256");
	X509 *x = X509_new();
	X509V3_CTX v3;
	X509_EXTENSION *ext;
	char path[400];
	FILE *fp;

	assert_non_null(k);
	assert_non_null(x);
	assert_int_equal(X509_set_version(x, 2), 1);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 7);
	X509_gmtime_adj(X509_getm_notBefore(x), -3600);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
	    (const unsigned char *)"test signer", -1, -1, 0);
	X509_set_issuer_name(x, X509_get_subject_name(x));
	X509_set_pubkey(x, k);
	X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &v3, NID_ext_key_usage,
	    PROVCA_OID_EKU_SIGNER);
	assert_non_null(ext);
	X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	ext = X509V3_EXT_conf_nid(NULL, &v3, NID_key_usage,
	    "critical,digitalSignature");
	X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	assert_true(X509_sign(x, k, EVP_sha256()) > 0);
	snprintf(path, sizeof(path), "%s/signer.crt", dir);
	assert_non_null(fp = fopen(path, "w"));
	PEM_write_X509(fp, x);
	fclose(fp);
	snprintf(path, sizeof(path), "%s/signer.key", dir);
	assert_non_null(fp = fopen(path, "w"));
	PEM_write_PrivateKey(fp, k, NULL, NULL, 0, NULL, NULL);
	fclose(fp);
	X509_free(x);
	EVP_PKEY_free(k);
}

static int setup(void **state)
{
	struct fix *f = calloc(1, sizeof(*f));
	char path[400], err[256];
	subs_db *db;
	subs_record_t rec;
	subs_alloc_t a;
	uint8_t amf[2] = { 0x80, 0x00 };
	FILE *fp;

	assert_non_null(f);
	pthread_mutex_init(&f->mu, NULL);
	snprintf(f->dir, sizeof(f->dir), "/tmp/chsessXXXXXX");
	assert_non_null(mkdtemp(f->dir));
	make_signer(f->dir);
	snprintf(path, sizeof(path), "%s/corehook.json", f->dir);
	assert_non_null(fp = fopen(path, "w"));
	fprintf(fp,
	    "{\"plmn\":{\"mcc\":\"001\",\"mnc\":\"01\"},"
	    "\"op\":\"" SET1_OP "\",\"amf\":\"8000\",\"sqn_initial\":1000,"
	    "\"signer\":{\"cert\":\"signer.crt\",\"key\":\"signer.key\"},"
	    "\"allow_list\":[]}");
	fclose(fp);
	assert_int_equal(corehook_config_load(&f->cfg, path, err, sizeof(err)),
	    COREHOOK_OK);
	assert_int_equal(corehook_open(&f->ch, f->cfg, on_log, f, err,
	                     sizeof(err)),
	    COREHOOK_OK);
	/* One subscriber with set 1's K and OPc, as provisioning makes it. */
	assert_int_equal(util_hex_decode(f->k, 16, SET1_K), 0);
	assert_int_equal(util_hex_decode(f->opc, 16, SET1_OPC), 0);
	assert_int_equal(subs_open(&db, corehook_config_db_path(f->cfg), err,
	                     sizeof(err)),
	    SUBS_OK);
	a = (subs_alloc_t){ .device_id = "dev-aka",
		.mcc = "001",
		.mnc = "01",
		.msin_first = 1,
		.msin_last = 99,
		.ki = f->k,
		.opc = f->opc,
		.amf = amf,
		.sqn = 1000,
		.profile = "{}",
		.counter = 1 };
	assert_int_equal(subs_allocate(db, &rec, &a, err, sizeof(err)),
	    SUBS_OK);
	snprintf(f->supi, sizeof(f->supi), "%s", rec.supi);
	subs_close(db);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fix *f = *state;
	char cmd[400];

	corehook_close(f->ch);
	corehook_config_free(f->cfg);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	if (system(cmd) != 0)
		return -1;
	pthread_mutex_destroy(&f->mu);
	free(f);
	return 0;
}

static uint64_t db_sqn(struct fix *f)
{
	subs_db *db;
	subs_record_t r;
	char err[256];

	assert_int_equal(subs_open(&db, corehook_config_db_path(f->cfg), err,
	                     sizeof(err)),
	    SUBS_OK);
	assert_int_equal(subs_find_supi(db, &r, f->supi, err, sizeof(err)),
	    SUBS_OK);
	subs_close(db);
	return r.sqn;
}

static nas_msg_t *msg_new(void)
{
	nas_msg_t *m = calloc(1, sizeof(*m));

	assert_non_null(m);
	return m;
}

/* Send msg on session, decode the answer into *ans. */
static void exchange(struct fix *f, const char *session, const nas_msg_t *msg,
    nas_msg_t *ans, uint8_t *raw, size_t *rawlen)
{
	uint8_t in[COREHOOK_NAS_MAX], out[COREHOOK_NAS_MAX];
	size_t inlen, outlen;
	char err[256];

	assert_int_equal(nas_encode(in, sizeof(in), &inlen, msg), NAS_OK);
	assert_int_equal(corehook_handle(f->ch, session, in, inlen, out,
	                     sizeof(out), &outlen, 0, err, sizeof(err)),
	    COREHOOK_OK);
	assert_true(outlen > 0);
	/* integrity protected only (the SMC): the message is readable */
	if (nas_sec_header_type(out, outlen) == NAS_SEC_HDR_INTEGRITY_NEW)
		assert_int_equal(nas_decode(ans, out + NAS_SEC_HDR_LEN,
		                     outlen - NAS_SEC_HDR_LEN),
		    NAS_OK);
	else
		assert_int_equal(nas_decode(ans, out, outlen), NAS_OK);
	if (raw != NULL) {
		memcpy(raw, out, outlen);
		*rawlen = outlen;
	}
}

static void reg_request(nas_msg_t *m, const char *supi_digits)
{
	char supi[32];

	memset(m, 0, sizeof(*m));
	m->type = NAS_MSG_REGISTRATION_REQUEST;
	m->reg_req.reg_type = NAS_REG_INITIAL;
	m->reg_req.follow_on = 1;
	m->reg_req.ngksi.ksi = NAS_NGKSI_NO_KEY;
	m->reg_req.id.kind = NAS_ID_SUCI;
	snprintf(supi, sizeof(supi), "imsi-%s", supi_digits);
	assert_int_equal(nas_suci_from_supi(&m->reg_req.id.suci, supi, 2), 0);
	m->reg_req.has_ue_sec_cap = true; /* EA0, EA2; IA2 */
	m->reg_req.ue_sec_cap_len = 2;
	m->reg_req.ue_sec_cap[0] = 0xA0;
	m->reg_req.ue_sec_cap[1] = 0x20;
}

/* Send raw bytes on session; the answer (possibly none) into out. */
static size_t send_raw(struct fix *f, const char *session, const uint8_t *in,
    size_t inlen, uint8_t *out)
{
	size_t outlen = 0;
	char err[256];

	assert_int_equal(corehook_handle(f->ch, session, in, inlen, out,
	                     COREHOOK_NAS_MAX, &outlen, 0, err, sizeof(err)),
	    COREHOOK_OK);
	return outlen;
}

/* Wrap the plain message m for the uplink in ue's context. */
static size_t ue_protect(nas_sec_ctx_t *ue, uint8_t hdr, const nas_msg_t *m,
    uint8_t *wire)
{
	uint8_t plain[256];
	size_t plen, wlen;

	assert_int_equal(nas_encode(plain, sizeof(plain), &plen, m), NAS_OK);
	assert_int_equal(nas_sec_protect(wire, 512, &wlen, ue, hdr, plain,
	                     plen),
	    NAS_SEC_OK);
	return wlen;
}

/* The answer to a good RES* is a Security mode command, integrity
 * protected with the new context; check it as a UE holding kamf does and
 * set up *ue. Then Security mode complete → protected Registration accept
 * → Registration complete (no answer). */
static void security_mode_then_accept(struct fix *f, const char *session,
    const uint8_t *smc, size_t smclen, const uint8_t *kamf, nas_sec_ctx_t *ue)
{
	uint8_t plain[512], wire[512], out[COREHOOK_NAS_MAX], hdr;
	size_t plen, wlen, outlen;
	nas_msg_t *m = msg_new();

	assert_int_equal(nas_sec_header_type(smc, smclen), 3);
	assert_int_equal(nas_sec_ctx_init(ue, kamf, NAS_SEC_ALG_2,
	                     NAS_SEC_ALG_2, 1, 0),
	    NAS_SEC_OK);
	assert_int_equal(nas_sec_unprotect(plain, sizeof(plain), &plen, &hdr,
	                     ue, smc, smclen),
	    NAS_SEC_OK);
	assert_int_equal(nas_decode(m, plain, plen), NAS_OK);
	assert_int_equal(m->type, NAS_MSG_SECURITY_MODE_COMMAND);
	assert_int_equal(m->smc.int_alg, 2);
	assert_int_equal(m->smc.enc_alg, 2);
	assert_int_equal(m->smc.caps_len, 2);
	assert_int_equal(m->smc.caps[0], 0xA0);
	assert_int_equal(m->smc.caps[1], 0x20);
	assert_true(m->smc.has_abba);
	assert_int_equal(m->smc.abba_len, 2);
	memset(m, 0, sizeof(*m));
	m->type = NAS_MSG_SECURITY_MODE_COMPLETE;
	wlen = ue_protect(ue, NAS_SEC_HDR_INTEGRITY_CIPHERED_NEW, m, wire);
	outlen = send_raw(f, session, wire, wlen, out);
	assert_int_equal(nas_sec_header_type(out, outlen), 2);
	assert_int_equal(nas_sec_unprotect(plain, sizeof(plain), &plen, &hdr,
	                     ue, out, outlen),
	    NAS_SEC_OK);
	assert_int_equal(out[6], 1); /* downlink COUNT 1 */
	assert_int_equal(nas_decode(m, plain, plen), NAS_OK);
	assert_int_equal(m->type, NAS_MSG_REGISTRATION_ACCEPT);
	assert_int_equal(m->reg_acc.result & 0x07, NAS_REG_RESULT_3GPP);
	memset(m, 0, sizeof(*m));
	m->type = NAS_MSG_REGISTRATION_COMPLETE;
	wlen = ue_protect(ue, NAS_SEC_HDR_INTEGRITY_CIPHERED, m, wire);
	assert_int_equal(send_raw(f, session, wire, wlen, out), 0);
	assert_non_null(strstr(f->log, "outcome=complete"));
	free(m);
}

static void session__aka_success_accepts_and_logs_matching_kamf_fp(void **state)
{
	struct fix *f = *state;
	nas_msg_t *m = msg_new(), *a = msg_new();
	aka_usim_result_t u;
	uint8_t sqn_ms[6], ak[6], sqn[6], kamf[32], abba[2] = { 0, 0 };
	uint8_t raw[COREHOOK_NAS_MAX];
	size_t rawlen = 0;
	nas_sec_ctx_t ue;
	char fp[AKA_FP_HEX_LEN], want[128];
	int i;

	reg_request(m, f->supi);
	exchange(f, "t1", m, a, NULL, NULL);
	assert_int_equal(a->type, NAS_MSG_AUTH_REQUEST);
	assert_int_equal(a->auth_req.abba_len, 2);
	assert_int_equal(a->auth_req.abba[0], 0);
	assert_int_equal(a->auth_req.abba[1], 0);
	assert_true(a->auth_req.ngksi.ksi < 7);
	/* AUTN = SQN^AK || AMF || MAC-A, with SQN the successor of 1000
	 * (SEQ 31 IND 8 → SEQ 32 IND 9 = 1033) and AMF 8000. */
	assert_int_equal(aka_milenage_f2345(NULL, NULL, NULL, ak, f->k, f->opc,
	                     a->auth_req.rand),
	    AKA_OK);
	for (i = 0; i < 6; i++)
		sqn[i] = a->auth_req.autn[i] ^ ak[i];
	assert_int_equal(aka_sqn_to_u64(sqn), 1033);
	assert_int_equal(a->auth_req.autn[6], 0x80);
	assert_int_equal(a->auth_req.autn[7], 0x00);
	assert_int_equal(db_sqn(f), 1033);

	assert_int_equal(aka_sqn_from_u64(sqn_ms, 1000), AKA_OK);
	assert_int_equal(aka_usim_authenticate(&u, f->k, f->opc,
	                     a->auth_req.rand, a->auth_req.autn, SNN, sqn_ms),
	    AKA_OK);
	memset(m, 0, sizeof(*m));
	m->type = NAS_MSG_AUTH_RESPONSE;
	memcpy(m->auth_resp.res_star, u.res_star, 16);
	exchange(f, "t1", m, a, raw, &rawlen);
	assert_int_equal(a->type, NAS_MSG_SECURITY_MODE_COMMAND);
	/* Both sides print the same K_AMF fingerprint and algorithms. */
	assert_int_equal(aka_kamf(kamf, u.kseaf, f->supi, abba, 2), AKA_OK);
	assert_int_equal(aka_fingerprint(fp, kamf), AKA_OK);
	snprintf(want, sizeof(want),
	    "outcome=success kamf-fp=%s nia=128-NIA2 "
	    "nea=128-NEA2",
	    fp);
	assert_non_null(strstr(f->log, want));
	security_mode_then_accept(f, "t1", raw, rawlen, kamf, &ue);
	nas_sec_ctx_clear(&ue);
	assert_null(strstr(f->log, SET1_K));
	/* The subscription was pending: 5G-AKA with it made it active. */
	snprintf(want, sizeof(want), "subscription supi=%s state=active",
	    f->supi);
	assert_non_null(strstr(f->log, want));
	aka_usim_result_clear(&u);
	free(m);
	free(a);
}

/* Run 5G-AKA on session up to the Security mode command: *kamf, the SMC. */
static size_t aka_to_smc(struct fix *f, const char *session, uint8_t *kamf,
    uint8_t *smc)
{
	nas_msg_t *m = msg_new(), *a = msg_new();
	aka_usim_result_t u;
	uint8_t sqn_ms[6], abba[2] = { 0, 0 };
	size_t n = 0;

	reg_request(m, f->supi);
	exchange(f, session, m, a, NULL, NULL);
	assert_int_equal(a->type, NAS_MSG_AUTH_REQUEST);
	assert_int_equal(aka_sqn_from_u64(sqn_ms, db_sqn(f) - 1), AKA_OK);
	assert_int_equal(aka_usim_authenticate(&u, f->k, f->opc,
	                     a->auth_req.rand, a->auth_req.autn, SNN, sqn_ms),
	    AKA_OK);
	memset(m, 0, sizeof(*m));
	m->type = NAS_MSG_AUTH_RESPONSE;
	memcpy(m->auth_resp.res_star, u.res_star, 16);
	exchange(f, session, m, a, smc, &n);
	assert_int_equal(a->type, NAS_MSG_SECURITY_MODE_COMMAND);
	assert_int_equal(aka_kamf(kamf, u.kseaf, f->supi, abba, 2), AKA_OK);
	aka_usim_result_clear(&u);
	free(m);
	free(a);
	return n;
}

static int metric_is(struct fix *f, const char *line)
{
	char metrics[8192];

	assert_int_equal(corehook_metrics_write(f->ch, metrics,
	                     sizeof(metrics)),
	    COREHOOK_OK);
	return strstr(metrics, line) != NULL;
}

/* A Security mode complete with a bad MAC (any flipped bit) gets no
 * Registration accept and is counted; so is an unprotected one; the
 * genuine one then succeeds; an old COUNT replayed later is a replay. */
static void session__bad_mac_smc_complete_refused_and_counted(void **state)
{
	struct fix *f = *state;
	uint8_t kamf[32], smc[COREHOOK_NAS_MAX], wire[512], first[512];
	uint8_t out[COREHOOK_NAS_MAX], plain[512], hdr;
	size_t smclen, wlen, flen, plen;
	nas_sec_ctx_t ue;
	nas_msg_t *m = msg_new();
	size_t i;

	smclen = aka_to_smc(f, "t9", kamf, smc);
	assert_int_equal(nas_sec_ctx_init(&ue, kamf, 2, 2, 1, 0), NAS_SEC_OK);
	assert_int_equal(nas_sec_unprotect(plain, sizeof(plain), &plen, &hdr,
	                     &ue, smc, smclen),
	    NAS_SEC_OK);
	m->type = NAS_MSG_SECURITY_MODE_COMPLETE;
	wlen = ue_protect(&ue, NAS_SEC_HDR_INTEGRITY_CIPHERED_NEW, m, wire);
	for (i = 2; i < 6; i++) { /* each MAC octet */
		wire[i] ^= 0x10;
		assert_int_equal(send_raw(f, "t9", wire, wlen, out), 0);
		wire[i] ^= 0x10;
	}
	wire[wlen - 1] ^= 0x01; /* the (ciphered) message */
	assert_int_equal(send_raw(f, "t9", wire, wlen, out), 0);
	wire[wlen - 1] ^= 0x01;
	assert_true(metric_is(f,
	    "corehook_nas_security_discarded_total"
	    "{reason=\"bad_mac\"} 5\n"));
	/* the same message in clear: discarded as unprotected */
	assert_int_equal(nas_encode(plain, sizeof(plain), &plen, m), NAS_OK);
	assert_int_equal(send_raw(f, "t9", plain, plen, out), 0);
	assert_true(metric_is(f,
	    "corehook_nas_security_discarded_total"
	    "{reason=\"unprotected\"} 1\n"));
	assert_null(strstr(f->log, "security-mode supi"));
	/* the genuine one: accept */
	memcpy(first, wire, wlen);
	flen = wlen;
	assert_true(send_raw(f, "t9", wire, wlen, out) > 0);
	assert_int_equal(nas_sec_header_type(out, 64), 2);
	assert_true(metric_is(f, "corehook_security_mode_total 1\n"));
	/* Registration complete, then the first SMC complete again: its
	 * COUNT 0 was used already */
	memset(m, 0, sizeof(*m));
	m->type = NAS_MSG_REGISTRATION_COMPLETE;
	wlen = ue_protect(&ue, NAS_SEC_HDR_INTEGRITY_CIPHERED, m, wire);
	assert_int_equal(send_raw(f, "t9", wire, wlen, out), 0);
	assert_int_equal(send_raw(f, "t9", first, flen, out), 0);
	assert_true(metric_is(f,
	    "corehook_nas_security_discarded_total"
	    "{reason=\"replay\"} 1\n"));
	nas_sec_ctx_clear(&ue);
	free(m);
}

/* TS 24.501 §5.4.2.5: the UE's Security mode reject (in clear: no
 * earlier context) aborts the procedure: no answer, the new context is
 * dropped (a Security mode complete made with it afterwards is discarded,
 * no Registration accept), the cause is logged; a reject outside the
 * procedure is unexpected (#96); a new Registration request starts over. */
static void session__smc_reject_aborts_the_procedure(void **state)
{
	struct fix *f = *state;
	uint8_t kamf[32], smc[COREHOOK_NAS_MAX], wire[512], plain[512], hdr;
	uint8_t out[COREHOOK_NAS_MAX];
	size_t smclen, wlen, plen;
	nas_sec_ctx_t ue;
	nas_msg_t *m = msg_new(), *a = msg_new();
	char want[128];

	smclen = aka_to_smc(f, "t23", kamf, smc);
	assert_int_equal(nas_sec_ctx_init(&ue, kamf, 2, 2, 1, 0), NAS_SEC_OK);
	assert_int_equal(nas_sec_unprotect(plain, sizeof(plain), &plen, &hdr,
	                     &ue, smc, smclen),
	    NAS_SEC_OK);
	m->type = NAS_MSG_SECURITY_MODE_REJECT;
	m->smc_rej.cause = NAS_CAUSE_UE_SEC_CAP_MISMATCH;
	assert_int_equal(nas_encode(plain, sizeof(plain), &plen, m), NAS_OK);
	assert_int_equal(send_raw(f, "t23", plain, plen, out), 0);
	snprintf(want, sizeof(want),
	    "security-mode supi=%s outcome=rejected "
	    "cause=23",
	    f->supi);
	assert_non_null(strstr(f->log, want));
	/* the context the command offered is gone */
	memset(m, 0, sizeof(*m));
	m->type = NAS_MSG_SECURITY_MODE_COMPLETE;
	wlen = ue_protect(&ue, NAS_SEC_HDR_INTEGRITY_CIPHERED_NEW, m, wire);
	assert_int_equal(send_raw(f, "t23", wire, wlen, out), 0);
	assert_true(metric_is(f,
	    "corehook_nas_security_discarded_total"
	    "{reason=\"bad_mac\"} 1\n"));
	assert_true(metric_is(f, "corehook_security_mode_total 0\n"));
	/* a second reject: no procedure to abort */
	memset(m, 0, sizeof(*m));
	m->type = NAS_MSG_SECURITY_MODE_REJECT;
	m->smc_rej.cause = NAS_CAUSE_SEC_MODE_REJECTED;
	exchange(f, "t23", m, a, NULL, NULL);
	assert_int_equal(a->type, NAS_MSG_REGISTRATION_REJECT);
	assert_int_equal(a->reg_rej.cause, NAS_CAUSE_INVALID_MANDATORY_INFO);
	/* the UE registers again: a new challenge */
	reg_request(m, f->supi);
	exchange(f, "t23", m, a, NULL, NULL);
	assert_int_equal(a->type, NAS_MSG_AUTH_REQUEST);
	nas_sec_ctx_clear(&ue);
	OPENSSL_cleanse(kamf, sizeof(kamf));
	free(m);
	free(a);
}

/* A UE that offers no configured integrity algorithm, or no capability
 * at all, is refused with #23 before any vector is spent. */
static void session__no_common_algorithm_gets_cause_23(void **state)
{
	struct fix *f = *state;
	nas_msg_t *m = msg_new(), *a = msg_new();
	uint64_t sqn = db_sqn(f);

	reg_request(m, f->supi);
	m->reg_req.ue_sec_cap[1] = 0x80 | 0x40; /* IA0, IA1 only */
	exchange(f, "t10", m, a, NULL, NULL);
	assert_int_equal(a->type, NAS_MSG_REGISTRATION_REJECT);
	assert_int_equal(a->reg_rej.cause, NAS_CAUSE_UE_SEC_CAP_MISMATCH);
	reg_request(m, f->supi);
	m->reg_req.has_ue_sec_cap = false;
	exchange(f, "t10", m, a, NULL, NULL);
	assert_int_equal(a->reg_rej.cause, NAS_CAUSE_UE_SEC_CAP_MISMATCH);
	assert_int_equal(db_sqn(f), sqn);
	free(m);
	free(a);
}

static void session__wrong_res_star_gets_auth_reject(void **state)
{
	struct fix *f = *state;
	nas_msg_t *m = msg_new(), *a = msg_new();
	char metrics[8192];

	reg_request(m, f->supi);
	exchange(f, "t2", m, a, NULL, NULL);
	assert_int_equal(a->type, NAS_MSG_AUTH_REQUEST);
	memset(m, 0, sizeof(*m));
	m->type = NAS_MSG_AUTH_RESPONSE;
	memset(m->auth_resp.res_star, 0x5a, 16);
	exchange(f, "t2", m, a, NULL, NULL);
	assert_int_equal(a->type, NAS_MSG_AUTH_REJECT);
	assert_int_equal(corehook_metrics_write(f->ch, metrics,
	                     sizeof(metrics)),
	    COREHOOK_OK);
	assert_non_null(strstr(metrics,
	    "corehook_aka_total{outcome=\"res_mismatch\"} 1\n"));
	/* A response with no authentication running is refused. */
	exchange(f, "t2", m, a, NULL, NULL); /* cached: same bytes */
	assert_int_equal(a->type, NAS_MSG_AUTH_REJECT);
	m->auth_resp.res_star[0] ^= 1;
	exchange(f, "t2", m, a, NULL, NULL);
	assert_int_equal(a->type, NAS_MSG_REGISTRATION_REJECT);
	assert_int_equal(a->reg_rej.cause, NAS_CAUSE_INVALID_MANDATORY_INFO);
	free(m);
	free(a);
}

static void session__synch_failure_resyncs_once_then_succeeds(void **state)
{
	struct fix *f = *state;
	nas_msg_t *m = msg_new(), *a = msg_new();
	aka_usim_result_t u;
	uint8_t sqn_ms[6];

	reg_request(m, f->supi);
	exchange(f, "t3", m, a, NULL, NULL);
	assert_int_equal(a->type, NAS_MSG_AUTH_REQUEST);
	/* The USIM has seen SQN 500000 already: AUTN's 1033 is stale. */
	assert_int_equal(aka_sqn_from_u64(sqn_ms, 500000), AKA_OK);
	assert_int_equal(aka_usim_authenticate(&u, f->k, f->opc,
	                     a->auth_req.rand, a->auth_req.autn, SNN, sqn_ms),
	    AKA_ERR_SYNC);
	memset(m, 0, sizeof(*m));
	m->type = NAS_MSG_AUTH_FAILURE;
	m->auth_fail.cause = NAS_CAUSE_SYNCH_FAILURE;
	m->auth_fail.has_auts = true;
	memcpy(m->auth_fail.auts, u.auts, 14);
	exchange(f, "t3", m, a, NULL, NULL);
	assert_int_equal(a->type, NAS_MSG_AUTH_REQUEST);
	assert_true(db_sqn(f) > 500000);
	assert_int_equal(aka_usim_authenticate(&u, f->k, f->opc,
	                     a->auth_req.rand, a->auth_req.autn, SNN, sqn_ms),
	    AKA_OK);
	memset(m, 0, sizeof(*m));
	m->type = NAS_MSG_AUTH_RESPONSE;
	memcpy(m->auth_resp.res_star, u.res_star, 16);
	exchange(f, "t3", m, a, NULL, NULL);
	assert_int_equal(a->type, NAS_MSG_SECURITY_MODE_COMMAND);
	assert_non_null(strstr(f->log, "outcome=resync"));

	/* A second synch failure in the same exchange is not resynced. */
	reg_request(m, f->supi);
	exchange(f, "t3b", m, a, NULL, NULL);
	assert_int_equal(aka_sqn_from_u64(sqn_ms, 900000), AKA_OK);
	assert_int_equal(aka_usim_authenticate(&u, f->k, f->opc,
	                     a->auth_req.rand, a->auth_req.autn, SNN, sqn_ms),
	    AKA_ERR_SYNC);
	memset(m, 0, sizeof(*m));
	m->type = NAS_MSG_AUTH_FAILURE;
	m->auth_fail.cause = NAS_CAUSE_SYNCH_FAILURE;
	m->auth_fail.has_auts = true;
	memcpy(m->auth_fail.auts, u.auts, 14);
	exchange(f, "t3b", m, a, NULL, NULL);
	assert_int_equal(a->type, NAS_MSG_AUTH_REQUEST);
	assert_int_equal(aka_sqn_from_u64(sqn_ms, 1ULL << 40), AKA_OK);
	assert_int_equal(aka_usim_authenticate(&u, f->k, f->opc,
	                     a->auth_req.rand, a->auth_req.autn, SNN, sqn_ms),
	    AKA_ERR_SYNC);
	memcpy(m->auth_fail.auts, u.auts, 14);
	exchange(f, "t3b", m, a, NULL, NULL);
	assert_int_equal(a->type, NAS_MSG_AUTH_REJECT);
	assert_non_null(strstr(f->log, "second synch failure"));
	/* A forged AUTS does not move the SQN. */
	aka_usim_result_clear(&u);
	free(m);
	free(a);
}

static void session__bad_auts_and_mac_failure_get_auth_reject(void **state)
{
	struct fix *f = *state;
	nas_msg_t *m = msg_new(), *a = msg_new();
	uint64_t before;

	reg_request(m, f->supi);
	exchange(f, "t4", m, a, NULL, NULL);
	before = db_sqn(f);
	memset(m, 0, sizeof(*m));
	m->type = NAS_MSG_AUTH_FAILURE;
	m->auth_fail.cause = NAS_CAUSE_SYNCH_FAILURE;
	m->auth_fail.has_auts = true;
	memset(m->auth_fail.auts, 0x11, 14);
	exchange(f, "t4", m, a, NULL, NULL);
	assert_int_equal(a->type, NAS_MSG_AUTH_REJECT);
	assert_int_equal(db_sqn(f), before);

	reg_request(m, f->supi);
	exchange(f, "t4b", m, a, NULL, NULL);
	memset(m, 0, sizeof(*m));
	m->type = NAS_MSG_AUTH_FAILURE;
	m->auth_fail.cause = NAS_CAUSE_MAC_FAILURE;
	exchange(f, "t4b", m, a, NULL, NULL);
	assert_int_equal(a->type, NAS_MSG_AUTH_REJECT);
	assert_non_null(strstr(f->log, "outcome=ue_rejected cause=20"));
	free(m);
	free(a);
}

static void session__unknown_suci_gets_cause_3(void **state)
{
	struct fix *f = *state;
	nas_msg_t *m = msg_new(), *a = msg_new();

	reg_request(m, "001010000000077");
	exchange(f, "t5", m, a, NULL, NULL);
	assert_int_equal(a->type, NAS_MSG_REGISTRATION_REJECT);
	assert_int_equal(a->reg_rej.cause, NAS_CAUSE_ILLEGAL_UE);
	assert_false(a->reg_rej.has_payload);
	free(m);
	free(a);
}

static void session__retransmission_answered_from_cache(void **state)
{
	struct fix *f = *state;
	nas_msg_t *m = msg_new(), *a = msg_new();
	uint8_t r1[COREHOOK_NAS_MAX], r2[COREHOOK_NAS_MAX];
	size_t l1, l2;
	uint64_t sqn;
	char metrics[8192];

	reg_request(m, f->supi);
	exchange(f, "t6", m, a, r1, &l1);
	sqn = db_sqn(f);
	exchange(f, "t6", m, a, r2, &l2);
	assert_int_equal(l1, l2);
	assert_memory_equal(r1, r2, l1);
	assert_int_equal(db_sqn(f), sqn); /* no second vector */
	/* Another session with the same bytes is a different UE. */
	exchange(f, "t6-other", m, a, r2, &l2);
	assert_memory_not_equal(r1, r2, l1);
	assert_int_equal(corehook_metrics_write(f->ch, metrics,
	                     sizeof(metrics)),
	    COREHOOK_OK);
	assert_non_null(strstr(metrics,
	    "corehook_nas_messages_total{kind=\"retransmission\"} 1\n"));
	free(m);
	free(a);
}

static void session__malformed_and_refused_provisioning(void **state)
{
	struct fix *f = *state;
	nas_msg_t *m = msg_new(), *a = msg_new();
	prov_request_t pr;
	uint8_t out[COREHOOK_NAS_MAX], junk[3] = { 0x7e, 0x00, 0x41 };
	size_t outlen;
	char err[256], metrics[8192];

	/* Truncated registration request. */
	assert_int_equal(corehook_handle(f->ch, "t7", junk, sizeof(junk), out,
	                     sizeof(out), &outlen, 0, err, sizeof(err)),
	    COREHOOK_OK);
	assert_int_equal(nas_decode(a, out, outlen), NAS_OK);
	assert_int_equal(a->type, NAS_MSG_REGISTRATION_REJECT);
	assert_int_equal(a->reg_rej.cause, NAS_CAUSE_INVALID_MANDATORY_INFO);

	/* Onboarding without the payload container. */
	memset(m, 0, sizeof(*m));
	m->type = NAS_MSG_REGISTRATION_REQUEST;
	m->reg_req.reg_type = NAS_REG_SNPN_ONBOARDING;
	m->reg_req.follow_on = 1;
	m->reg_req.ngksi.ksi = NAS_NGKSI_NO_KEY;
	m->reg_req.id.kind = NAS_ID_NONE;
	exchange(f, "t7", m, a, NULL, NULL);
	assert_int_equal(a->reg_rej.cause, NAS_CAUSE_INVALID_MANDATORY_INFO);

	/* A URL on no allow-list: #11, no container. */
	memset(&pr, 0, sizeof(pr));
	snprintf(pr.url, sizeof(pr.url), "https://evil.example/devices/d1");
	snprintf(pr.snn, sizeof(pr.snn), "%s", SNN);
	pr.counter = 1;
	memcpy(pr.sig, "\x30\x00", 2); /* checked only after the fetch */
	pr.sig_len = 2;
	m->reg_req.has_payload = true;
	m->reg_req.payload_type = NAS_PAYLOAD_TYPE_PROVCA;
	assert_int_equal(prov_request_encode(m->reg_req.payload,
	                     sizeof(m->reg_req.payload),
	                     &m->reg_req.payload_len, &pr, err, sizeof(err)),
	    PROV_OK);
	exchange(f, "t7", m, a, NULL, NULL);
	assert_int_equal(a->type, NAS_MSG_REGISTRATION_REJECT);
	assert_int_equal(a->reg_rej.cause, NAS_CAUSE_PLMN_NOT_ALLOWED);
	assert_false(a->reg_rej.has_payload);
	assert_non_null(strstr(f->log,
	    "provision device=d1 outcome=not_allowed"
	    " cause=11"));
	/* Signed for another serving network: #11 before anything else. */
	snprintf(pr.snn, sizeof(pr.snn), "5G:mnc002.mcc001.3gppnetwork.org");
	assert_int_equal(prov_request_encode(m->reg_req.payload,
	                     sizeof(m->reg_req.payload),
	                     &m->reg_req.payload_len, &pr, err, sizeof(err)),
	    PROV_OK);
	exchange(f, "t7", m, a, NULL, NULL);
	assert_int_equal(a->reg_rej.cause, NAS_CAUSE_PLMN_NOT_ALLOWED);
	assert_non_null(strstr(f->log, "outcome=wrong_network cause=11"));
	/* The seed's unsigned request (version 1: URL and nonce only): #3. */
	memcpy(m->reg_req.payload,
	    "\x01\x01\x00\x0bhttps://x/d\x02\x00\x10"
	    "0123456789abcdef",
	    34);
	m->reg_req.payload_len = 34;
	exchange(f, "t7", m, a, NULL, NULL);
	assert_int_equal(a->reg_rej.cause, NAS_CAUSE_ILLEGAL_UE);
	assert_false(a->reg_rej.has_payload);
	assert_non_null(strstr(f->log, "outcome=unsigned cause=3"));
	/* A garbled provisioning payload. */
	m->reg_req.payload[0] ^= 0xff;
	exchange(f, "t7", m, a, NULL, NULL);
	assert_int_equal(a->reg_rej.cause, NAS_CAUSE_INVALID_MANDATORY_INFO);
	assert_int_equal(corehook_metrics_write(f->ch, metrics,
	                     sizeof(metrics)),
	    COREHOOK_OK);
	assert_non_null(strstr(metrics,
	    "corehook_provisionings_total{outcome=\"not_allowed\"} 1\n"));
	assert_non_null(strstr(metrics,
	    "corehook_provisionings_total{outcome=\"malformed\"} 3\n"));
	assert_non_null(strstr(metrics,
	    "corehook_provisionings_total{outcome=\"unsigned\"} 1\n"));
	assert_non_null(strstr(metrics,
	    "corehook_provisionings_total{outcome=\"wrong_network\"} 1\n"));
	/* Under NOWAIT nothing is busy here, so the answer comes at once. */
	assert_int_equal(corehook_handle(f->ch, "t7", junk, sizeof(junk), out,
	                     sizeof(out), &outlen, COREHOOK_NOWAIT, err,
	                     sizeof(err)),
	    COREHOOK_OK);
	assert_int_equal(corehook_handle(f->ch, "", junk, sizeof(junk), out,
	                     sizeof(out), &outlen, 0, err, sizeof(err)),
	    COREHOOK_ERR_ARG);
	free(m);
	free(a);
}

/* corehook_res_confirm derives K_AMF as the srsRAN vector publishes it. */
static void res_confirm__kamf_matches_published_vector(void **state)
{
	corehook_av_t av;
	uint8_t res_star[16], kamf[32], want[32];

	(void)state;
	memset(&av, 0, sizeof(av));
	snprintf(av.supi, sizeof(av.supi), "901700000021309");
	assert_int_equal(util_hex_decode(av.kseaf, 32,
	                     "6c50bfa5f32a89ade1ee6c70"
	                     "7de6dcfea0790afb6d14f9e55943aeda58334548"),
	    0);
	assert_int_equal(util_hex_decode(want, 32,
	                     "46237ef051d6a16a3927525fa6"
	                     "5cc39544cdfd7990b946ad796530e6d787a0da"),
	    0);
	assert_int_equal(util_hex_decode(av.rand, 16,
	                     "fc2d98a361208bf743639c9e632d7350"),
	    0);
	assert_int_equal(util_hex_decode(res_star, 16,
	                     "b0e35b23dbd7a18c848bfad91135e3fd"),
	    0);
	memcpy(av.xres_star, res_star, 16);
	assert_int_equal(aka_hxres_star(av.hxres_star, av.rand, res_star), 0);
	assert_int_equal(corehook_res_confirm(&av, res_star, kamf), 1);
	assert_memory_equal(kamf, want, 32);
	/* HXRES* right but XRES* wrong, and the other way round: refused. */
	av.xres_star[15] ^= 1;
	assert_int_equal(corehook_res_confirm(&av, res_star, kamf), 0);
	av.xres_star[15] ^= 1;
	av.hxres_star[0] ^= 1;
	assert_int_equal(corehook_res_confirm(&av, res_star, kamf), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
		T(session__aka_success_accepts_and_logs_matching_kamf_fp),
		T(session__wrong_res_star_gets_auth_reject),
		T(session__bad_mac_smc_complete_refused_and_counted),
		T(session__no_common_algorithm_gets_cause_23),
		T(session__smc_reject_aborts_the_procedure),
		T(session__synch_failure_resyncs_once_then_succeeds),
		T(session__bad_auts_and_mac_failure_get_auth_reject),
		T(session__unknown_suci_gets_cause_3),
		T(session__retransmission_answered_from_cache),
		T(session__malformed_and_refused_provisioning),
		cmocka_unit_test(res_confirm__kamf_matches_published_vector),
#undef T
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
