/* test_ue_attach.c — ue_attach against an in-process fake core (a thread
 * on a loopback UDP port that seals, signs and runs 5G-AKA and NAS
 * security mode control with common/): the happy path, forged/replayed/
 * foreign-signed rejects ignored, rejects without container, core
 * selection, retransmission and resynchronisation; an unprotected
 * Registration accept refused; a Security mode command with a bad MAC,
 * altered capabilities or unannounced algorithms answered by a Security
 * mode reject (#24 / #23); the request concealed to a policy's onboarding
 * key. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <openssl/pem.h>
#include <openssl/crypto.h>

#include "aka.h"
#include "nas.h"
#include "nas_sec.h"
#include "pki.h"
#include "prov.h"
#include "suci.h"
#include "ue.h"
#include "ue_attach.h"
#include "util.h"

enum mode {
	M_GOOD,
	M_TAMPER,
	M_WRONG_SIGNER,
	M_WRONG_NONCE,
	M_CAUSE,
	M_DROP_FIRST,
	M_GARBAGE_FIRST,
	M_PLAIN_ACCEPT,
	M_BAD_SMC_MAC,
	M_BAD_SMC_CAPS,
	M_BAD_SMC_ALG,
	M_CONCEALED
};

typedef struct {
	enum mode mode;
	int cause; /* M_CAUSE */
	int fd;
	uint16_t port;
	volatile int stop;
	pthread_t th;
	/* what it issued */
	prov_subscription_t sub;
	uint64_t sqn;
	aka_vector_t av;
	char fp[AKA_FP_HEX_LEN];
	int onboarding_seen, auth_failures, garbage_sent;
	uint64_t last_counter; /* highest request counter seen */
	nas_sec_ctx_t sec;
	int have_sec, smc_completes, reg_completes;
	uint8_t ue_caps[2];
	int smc_rejects, smc_reject_cause, smc_reject_hdr;
	int concealed_seen; /* M_CONCEALED: requests that came concealed */
} fake_core;

/* M_CONCEALED: the core's onboarding key (Profile A) and key id 5. */
static EVP_PKEY *ob_key;
static uint8_t ob_pub[32];

static char tmproot[256];
static EVP_PKEY *root_key, *infra_key, *signer_key, *other_key;
static EVP_PKEY *other_signer_key;
static X509 *root_cert, *infra_cert, *signer_cert, *other_root, *other_signer;
static STACK_OF(X509) * infra_chain; /* { infra_cert }, carried by the core */
static EVP_PKEY *device_pub;

/* ---- a tiny PKI ---- */

static X509 *make_cert(EVP_PKEY *key, const char *cn, X509 *issuer,
    EVP_PKEY *issuer_key, int ca)
{
	X509 *x = X509_new();
	X509_NAME *n = X509_NAME_new();
	X509V3_CTX ctx;
	X509_EXTENSION *e;
	static long serial = 1;

	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), serial++);
	X509_gmtime_adj(X509_getm_notBefore(x), -3600);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400);
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC,
	    (const unsigned char *)cn, -1, -1, 0);
	X509_set_subject_name(x, n);
	X509_set_issuer_name(x,
	    issuer != NULL ? X509_get_subject_name(issuer) : n);
	X509_set_pubkey(x, key);
	X509V3_set_ctx(&ctx, issuer != NULL ? issuer : x, x, NULL, NULL, 0);
	if (ca) {
		e = X509V3_EXT_conf_nid(NULL, &ctx, NID_basic_constraints,
		    "critical,CA:TRUE");
		X509_add_ext(x, e, -1);
		X509_EXTENSION_free(e);
		e = X509V3_EXT_conf_nid(NULL, &ctx, NID_key_usage,
		    "critical,keyCertSign,cRLSign");
	} else {
		e = X509V3_EXT_conf_nid(NULL, &ctx, NID_ext_key_usage,
		    PROVCA_OID_EKU_SIGNER);
		X509_add_ext(x, e, -1);
		X509_EXTENSION_free(e);
		e = X509V3_EXT_conf_nid(NULL, &ctx, NID_key_usage,
		    "critical,digitalSignature");
	}
	X509_add_ext(x, e, -1);
	X509_EXTENSION_free(e);
	e = X509V3_EXT_conf_nid(NULL, &ctx, NID_subject_key_identifier, "hash");
	X509_add_ext(x, e, -1);
	X509_EXTENSION_free(e);
	if (issuer != NULL) {
		e = X509V3_EXT_conf_nid(NULL, &ctx,
		    NID_authority_key_identifier, "keyid:always");
		X509_add_ext(x, e, -1);
		X509_EXTENSION_free(e);
	}
	X509_sign(x, issuer_key, EVP_sha256());
	X509_NAME_free(n);
	return x;
}

/* ---- the fake core ---- */

/* 1 if the text s occurs in buf. */
static int has_bytes(const uint8_t *buf, size_t len, const char *s)
{
	size_t n = strlen(s), i;

	for (i = 0; i + n <= len; i++)
		if (memcmp(buf + i, s, n) == 0)
			return 1;
	return 0;
}

static void send_msg(fake_core *fc, const struct sockaddr_in *to,
    const nas_msg_t *m)
{
	uint8_t buf[NAS_MAX_MSG_LEN];
	size_t len = 0;

	assert_int_equal(nas_encode(buf, sizeof(buf), &len, m), 0);
	sendto(fc->fd, buf, len, 0, (const struct sockaddr *)to, sizeof(*to));
}

/* Send m protected with header type hdr in the core's context. */
static void send_protected(fake_core *fc, const struct sockaddr_in *to,
    uint8_t hdr, const nas_msg_t *m)
{
	uint8_t plain[256], buf[512];
	size_t plen = 0, len = 0;

	assert_int_equal(nas_encode(plain, sizeof(plain), &plen, m), 0);
	assert_int_equal(nas_sec_protect(buf, sizeof(buf), &len, &fc->sec, hdr,
	                     plain, plen),
	    0);
	if (fc->mode == M_BAD_SMC_MAC && hdr == NAS_SEC_HDR_INTEGRITY_NEW)
		buf[3] ^= 0x01;
	sendto(fc->fd, buf, len, 0, (const struct sockaddr *)to, sizeof(*to));
}

/* After a good RES*: the Security mode command with NEA2/NIA2 (or, in
 * M_PLAIN_ACCEPT, the Registration accept in clear as cores did before). */
static void security_mode(fake_core *fc, const struct sockaddr_in *to,
    nas_msg_t *m, const uint8_t *kamf)
{
	memset(m, 0, sizeof(*m));
	if (fc->mode == M_PLAIN_ACCEPT) {
		m->type = NAS_MSG_REGISTRATION_ACCEPT;
		m->reg_acc.result = NAS_REG_RESULT_3GPP;
		send_msg(fc, to, m);
		return;
	}
	assert_int_equal(nas_sec_ctx_init(&fc->sec, kamf, 2, 2, 0, 0), 0);
	fc->have_sec = 1;
	m->type = NAS_MSG_SECURITY_MODE_COMMAND;
	m->smc.enc_alg = fc->mode == M_BAD_SMC_ALG ? 1 : 2; /* NEA1: never
							     * announced */
	m->smc.int_alg = 2;
	m->smc.caps_len = 2;
	memcpy(m->smc.caps, fc->ue_caps, 2);
	if (fc->mode == M_BAD_SMC_CAPS)
		m->smc.caps[0] &= (uint8_t)~0x20; /* a bidding-down MITM */
	m->smc.has_abba = true;
	m->smc.abba_len = 2;
	send_protected(fc, to, NAS_SEC_HDR_INTEGRITY_NEW, m);
}

/* A protected uplink message: Security mode complete → protected
 * Registration accept; Registration complete is counted. */
static void on_protected(fake_core *fc, const struct sockaddr_in *to,
    const uint8_t *buf, size_t n, nas_msg_t *m)
{
	uint8_t plain[512], hdr;
	size_t plen;

	if (!fc->have_sec ||
	    nas_sec_unprotect(plain, sizeof(plain), &plen, &hdr, &fc->sec, buf,
	        n) != 0 ||
	    nas_decode(m, plain, plen) != 0)
		return;
	if (m->type == NAS_MSG_SECURITY_MODE_COMPLETE && hdr == 4) {
		fc->smc_completes++;
		memset(m, 0, sizeof(*m));
		m->type = NAS_MSG_REGISTRATION_ACCEPT;
		m->reg_acc.result = NAS_REG_RESULT_3GPP;
		send_protected(fc, to, NAS_SEC_HDR_INTEGRITY_CIPHERED, m);
	} else if (m->type == NAS_MSG_REGISTRATION_COMPLETE && hdr == 2) {
		fc->reg_completes++;
	}
}

static void challenge(fake_core *fc, const struct sockaddr_in *to, nas_msg_t *m)
{
	uint8_t sqn[6];
	char snn[AKA_SNN_BUF];

	fc->sqn++;
	aka_sqn_from_u64(sqn, fc->sqn);
	aka_snn_format(snn, sizeof(snn), "001", "01");
	assert_int_equal(aka_vector_make(&fc->av, fc->sub.ki, fc->sub.opc,
	                     fc->sub.amf, sqn, NULL, snn),
	    0);
	memset(m, 0, sizeof(*m));
	m->type = NAS_MSG_AUTH_REQUEST;
	m->auth_req.ngksi.ksi = 0;
	m->auth_req.abba_len = 2;
	memcpy(m->auth_req.rand, fc->av.rand, 16);
	memcpy(m->auth_req.autn, fc->av.autn, 16);
	send_msg(fc, to, m);
}

static void onboarding(fake_core *fc, const struct sockaddr_in *to,
    nas_msg_t *m)
{
	prov_request_t req;
	prov_binding_t b;
	uint8_t c[PROV_CONTAINER_MAX];
	size_t clen = 0;
	char err[256];

	fc->onboarding_seen++;
	if (fc->mode == M_DROP_FIRST && fc->onboarding_seen == 1)
		return;
	if (fc->mode == M_GARBAGE_FIRST && !fc->garbage_sent) {
		static const uint8_t junk[] = { 0x7e, 0x00,
			0x44 }; /* no cause */

		fc->garbage_sent = 1;
		sendto(fc->fd, junk, sizeof(junk), 0,
		    (const struct sockaddr *)to, sizeof(*to));
	}
	if (fc->mode == M_CAUSE) {
		memset(m, 0, sizeof(*m));
		m->type = NAS_MSG_REGISTRATION_REJECT;
		m->reg_rej.cause = (uint8_t)fc->cause;
		if (fc->cause == NAS_CAUSE_CONGESTION) {
			m->reg_rej.has_t3346 = true;
			m->reg_rej.t3346 = nas_gprs_timer_from_seconds(1);
		}
		send_msg(fc, to, m);
		return;
	}
	if (fc->mode == M_CONCEALED) {
		uint8_t plain[PROV_REQUEST_MAX];
		size_t plen = 0;
		int prof = 0;
		uint8_t kid = 0;

		/* Nothing of the request is readable on the wire. */
		assert_true(prov_request_concealed(m->reg_req.payload,
		    m->reg_req.payload_len, &prof, &kid));
		assert_int_equal(prof, 1);
		assert_int_equal(kid, 5);
		assert_false(has_bytes(m->reg_req.payload,
		    m->reg_req.payload_len, "dev-1"));
		assert_false(has_bytes(m->reg_req.payload,
		    m->reg_req.payload_len, "ca.test"));
		assert_int_equal((m->reg_req.payload_len - 3 - 32 - 8) % 64, 0);
		assert_int_equal(prov_request_deconceal(plain, sizeof(plain),
		                     &plen, m->reg_req.payload,
		                     m->reg_req.payload_len, ob_key, err,
		                     sizeof(err)),
		    PROV_OK);
		fc->concealed_seen++;
		memcpy(m->reg_req.payload, plain, plen);
		m->reg_req.payload_len = plen;
	}
	assert_int_equal(prov_request_decode(&req, m->reg_req.payload,
	                     m->reg_req.payload_len, err, sizeof(err)),
	    0);
	assert_string_equal(req.url, "https://ca.test/devices/dev-1");
	/* Signed by the device key for this network, counter never lower
	 * (a retransmission repeats it). */
	assert_string_equal(req.snn, "5G:mnc001.mcc001.3gppnetwork.org");
	assert_int_equal(prov_request_verify(&req, device_pub, err,
	                     sizeof(err)),
	    PROV_OK);
	assert_true(req.counter >= fc->last_counter);
	fc->last_counter = req.counter;
	memset(&b, 0, sizeof(b));
	strcpy(b.device_id, "dev-1");
	if (fc->mode == M_CONCEALED) {
		/* the answer names the device only by its pseudonym */
		assert_int_equal(prov_concealed_device_id(b.device_id,
		                     sizeof(b.device_id), &req, "dev-1"),
		    PROV_OK);
		assert_int_equal(strlen(b.device_id), 33);
		assert_int_equal(b.device_id[0], 'x');
	}
	memcpy(b.ue_nonce, req.ue_nonce, 16);
	if (fc->mode == M_WRONG_NONCE)
		b.ue_nonce[0] ^= 0x01; /* an answer to another request */
	util_random(b.net_nonce, 16);
	assert_int_equal(prov_seal_sign(c, sizeof(c), &clen, &fc->sub, &b,
	                     device_pub,
	                     fc->mode == M_WRONG_SIGNER ? other_signer_key :
	                                                  signer_key,
	                     fc->mode == M_WRONG_SIGNER ? other_signer :
	                                                  signer_cert,
	                     fc->mode == M_WRONG_SIGNER ? NULL : infra_chain,
	                     err, sizeof(err)),
	    0);
	if (fc->mode == M_TAMPER)
		c[clen / 2] ^= 0x01;
	memset(m, 0, sizeof(*m));
	m->type = NAS_MSG_REGISTRATION_REJECT;
	m->reg_rej.cause = NAS_CAUSE_UE_IDENTITY_NOT_DERIVED;
	m->reg_rej.has_payload = true;
	m->reg_rej.payload_len = clen;
	memcpy(m->reg_rej.payload, c, clen);
	send_msg(fc, to, m);
}

static void *core_main(void *arg)
{
	fake_core *fc = arg;
	static __thread nas_msg_t m;
	uint8_t buf[NAS_MAX_MSG_LEN];

	while (!fc->stop) {
		struct pollfd p = { .fd = fc->fd, .events = POLLIN };
		struct sockaddr_in from;
		socklen_t fl = sizeof(from);
		ssize_t n;

		if (poll(&p, 1, 50) <= 0)
			continue;
		n = recvfrom(fc->fd, buf, sizeof(buf), 0,
		    (struct sockaddr *)&from, &fl);
		if (n > 0 && nas_sec_header_type(buf, (size_t)n) > 0) {
			on_protected(fc, &from, buf, (size_t)n, &m);
			continue;
		}
		if (n <= 0 || nas_decode(&m, buf, (size_t)n) != 0)
			continue;
		if (m.type == NAS_MSG_SECURITY_MODE_REJECT) {
			fc->smc_rejects++;
			fc->smc_reject_cause = m.smc_rej.cause;
			fc->smc_reject_hdr = buf[1];
			continue;
		}
		if (m.type == NAS_MSG_REGISTRATION_REQUEST &&
		    m.reg_req.reg_type == NAS_REG_SNPN_ONBOARDING) {
			onboarding(fc, &from, &m);
		} else if (m.type == NAS_MSG_REGISTRATION_REQUEST) {
			char supi[NAS_SUPI_MAX];

			nas_supi_from_suci(supi, sizeof(supi),
			    &m.reg_req.id.suci);
			assert_true(m.reg_req.has_ue_sec_cap);
			memcpy(fc->ue_caps, m.reg_req.ue_sec_cap, 2);
			if (strcmp(supi, fc->sub.supi) != 0) {
				memset(&m, 0, sizeof(m));
				m.type = NAS_MSG_REGISTRATION_REJECT;
				m.reg_rej.cause = NAS_CAUSE_ILLEGAL_UE;
				send_msg(fc, &from, &m);
				continue;
			}
			challenge(fc, &from, &m);
		} else if (m.type == NAS_MSG_AUTH_RESPONSE) {
			uint8_t kamf[32];

			if (CRYPTO_memcmp(m.auth_resp.res_star,
			        fc->av.xres_star, 16) != 0) {
				memset(&m, 0, sizeof(m));
				m.type = NAS_MSG_AUTH_REJECT;
				send_msg(fc, &from, &m);
				continue;
			}
			aka_kamf(kamf, fc->av.kseaf, fc->sub.supi,
			    (const uint8_t *)"\0\0", 2);
			aka_fingerprint(fc->fp, kamf);
			security_mode(fc, &from, &m, kamf);
			OPENSSL_cleanse(kamf, sizeof(kamf));
		} else if (m.type == NAS_MSG_AUTH_FAILURE &&
		    m.auth_fail.cause == NAS_CAUSE_SYNCH_FAILURE) {
			uint8_t sqn_ms[6];

			fc->auth_failures++;
			if (aka_auts_resync(sqn_ms, fc->sub.ki, fc->sub.opc,
			        fc->av.rand, m.auth_fail.auts) == 0)
				fc->sqn = aka_sqn_to_u64(sqn_ms);
			challenge(fc, &from, &m);
		}
	}
	return NULL;
}

static void core_start(fake_core *fc, enum mode mode, int cause)
{
	struct sockaddr_in a;
	socklen_t al = sizeof(a);

	memset(fc, 0, sizeof(*fc));
	fc->mode = mode;
	fc->cause = cause;
	strcpy(fc->sub.supi, "imsi-001010000000001");
	util_random(fc->sub.ki, 16);
	util_random(fc->sub.opc, 16);
	fc->sub.amf[0] = 0x80;
	fc->sqn = 0x20;
	aka_sqn_from_u64(fc->sub.sqn, fc->sqn);
	strcpy(fc->sub.mcc, "001");
	strcpy(fc->sub.mnc, "01");
	fc->sub.nssai_count = 1;
	fc->sub.nssai[0].sst = 1;
	strcpy(fc->sub.dnn, "internet");
	fc->sub.issued_at = (int64_t)time(NULL);
	fc->fd = socket(AF_INET, SOCK_DGRAM, 0);
	assert_true(fc->fd >= 0);
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fc->fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(fc->fd, (struct sockaddr *)&a, &al), 0);
	fc->port = ntohs(a.sin_port);
	assert_int_equal(pthread_create(&fc->th, NULL, core_main, fc), 0);
}

static void core_stop(fake_core *fc)
{
	fc->stop = 1;
	pthread_join(fc->th, NULL);
	nas_sec_ctx_clear(&fc->sec);
	close(fc->fd);
	prov_subscription_wipe(&fc->sub);
}

/* ---- the device ---- */

static char devdir[512];

static void write_pem_cert(const char *path, X509 *x)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	PEM_write_X509(f, x);
	fclose(f);
}

/* A fresh enrolled-looking state folder: key, device.json, root.pem. */
static void device_make(void)
{
	static int n;
	char err[256], path[700];
	ue_device_t d;
	EVP_PKEY *k = NULL;

	snprintf(devdir, sizeof(devdir), "%s/dev%d", tmproot, n++);
	memset(&d, 0, sizeof(d));
	strcpy(d.manufacturer_id, "acme");
	strcpy(d.serial, "SN1");
	strcpy(d.model, "m");
	assert_int_equal(ue_init(devdir, &d, err, sizeof(err)), 0);
	strcpy(d.device_id, "dev-1");
	strcpy(d.certificate_url, "https://ca.test/devices/dev-1");
	assert_int_equal(ue_device_store(&d, devdir, err, sizeof(err)), 0);
	snprintf(path, sizeof(path), "%s/%s", devdir, UE_F_ROOT);
	write_pem_cert(path, root_cert);
	assert_int_equal(ue_key_load((void **)&k, devdir, err, sizeof(err)), 0);
	EVP_PKEY_free(device_pub);
	device_pub = k;
}

typedef struct {
	unsigned refuse, accept;
	char last_refusal[512]; /* the first one, in fact */
	char promoted[512];     /* the accept that promoted pending creds */
} ev_count;

static void on_event(void *ctx, const ue_event_t *ev)
{
	ev_count *c = ctx;

	if (ev->kind == UE_EV_REFUSE) {
		if (c->refuse++ == 0)
			snprintf(c->last_refusal, sizeof(c->last_refusal), "%s",
			    ev->text);
	}
	if (ev->kind == UE_EV_ACCEPT) {
		c->accept++;
		if (strstr(ev->text, "replaces the older one") != NULL)
			snprintf(c->promoted, sizeof(c->promoted), "%s",
			    ev->text);
	}
}

static void opts_for(ue_attach_opts_t *o, ev_count *ec, unsigned attempt_ms)
{
	memset(o, 0, sizeof(*o));
	o->dir = devdir;
	ue_policy_init(&o->policy);
	o->policy.timeout_ms = 150;
	o->policy.retransmits = 2;
	o->policy.attempt_ms = attempt_ms;
	o->policy.max_backoff_ms = 200;
	o->rounds = 1;
	o->on_event = on_event;
	o->event_ctx = ec;
}

static void add_core(ue_attach_opts_t *o, uint16_t port)
{
	char spec[64], err[128];

	snprintf(spec, sizeof(spec), "00101@127.0.0.1:%u", port);
	assert_int_equal(ue_policy_add_core(&o->policy, spec, err, sizeof(err)),
	    0);
}

static int setup(void **state)
{
	(void)state;
	snprintf(tmproot, sizeof(tmproot), "/tmp/ue_attach_test.XXXXXX");
	if (mkdtemp(tmproot) == NULL)
		return -1;
	root_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	infra_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	signer_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	other_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	other_signer_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	root_cert = make_cert(root_key, "Test Root", NULL, root_key, 1);
	/* As ProvCA issues it: the signer under the Infrastructure CA, which
	 * the device never holds — the container carries it. */
	infra_cert = make_cert(infra_key, "Test Infrastructure CA", root_cert,
	    root_key, 1);
	signer_cert =
	    make_cert(signer_key, "op signer", infra_cert, infra_key, 0);
	if ((infra_chain = sk_X509_new_null()) == NULL ||
	    !sk_X509_push(infra_chain, infra_cert))
		return -1;
	other_root = make_cert(other_key, "Other Root", NULL, other_key, 1);
	other_signer =
	    make_cert(other_signer_key, "op signer", other_root, other_key, 0);
	{
		size_t n = 0;

		if ((ob_key = EVP_PKEY_Q_keygen(NULL, NULL, "X25519")) ==
		        NULL ||
		    suci_hn_pub_get(ob_pub, sizeof(ob_pub), &n, ob_key, NULL,
		        0) != SUCI_OK ||
		    n != sizeof(ob_pub))
			return -1;
	}
	return root_cert != NULL && other_signer != NULL ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[300];

	(void)state;
	sk_X509_free(infra_chain);
	X509_free(root_cert);
	X509_free(infra_cert);
	X509_free(signer_cert);
	X509_free(other_root);
	X509_free(other_signer);
	EVP_PKEY_free(root_key);
	EVP_PKEY_free(infra_key);
	EVP_PKEY_free(signer_key);
	EVP_PKEY_free(other_key);
	EVP_PKEY_free(other_signer_key);
	EVP_PKEY_free(device_pub);
	EVP_PKEY_free(ob_key);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmproot);
	return system(cmd) == 0 ? 0 : -1;
}

static void assert_no_creds(void)
{
	assert_false(ue_creds_exist(devdir));
}

/* The Registration complete is sent once, after ue_attach has its accept:
 * give the core's thread a moment to read it. */
static void wait_reg_complete(fake_core *fc)
{
	int i;

	for (i = 0; i < 100 && fc->reg_completes == 0; i++)
		usleep(10000);
}

/* ---- cases ---- */

static void ue_attach__happy_path_provisions_and_registers(void **state)
{
	fake_core fc;
	ue_attach_opts_t o;
	ue_attach_result_t r;
	ev_count ec = { 0 };
	ue_creds_t c;
	char err[512] = "", path[700];
	struct stat st;

	(void)state;
	device_make();
	core_start(&fc, M_GOOD, 0);
	opts_for(&o, &ec, 3000);
	add_core(&o, fc.port);
	assert_int_equal(ue_attach(&r, &o, err, sizeof(err)), 0);
	wait_reg_complete(&fc);
	core_stop(&fc);
	assert_int_equal(r.provisioned, 1);
	assert_int_equal(r.registered, 1);
	assert_int_equal(r.ignored, 0);
	assert_string_equal(r.supi, "imsi-001010000000001");
	assert_int_equal(strlen(r.kamf_fp), 16);
	assert_string_equal(r.kamf_fp, fc.fp);
	assert_string_equal(r.nia, "128-NIA2");
	assert_string_equal(r.nea, "128-NEA2");
	assert_int_equal(fc.smc_completes, 1);
	assert_int_equal(fc.reg_completes, 1);
	snprintf(path, sizeof(path), "%s/%s", devdir, UE_F_CREDS);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(ue_creds_load(&c, devdir, err, sizeof(err)), 0);
	assert_string_equal(c.device_id, "dev-1");
	/* SQN_MS advanced to the SQN of the accepted challenge */
	assert_int_equal(aka_sqn_to_u64(c.sqn_ms), 0x21);
	ue_creds_wipe(&c);
}

static void ue_attach__existing_credentials_skip_provisioning(void **state)
{
	fake_core fc;
	ue_attach_opts_t o;
	ue_attach_result_t r;
	ev_count ec = { 0 };
	char err[512] = "";

	(void)state;
	device_make();
	core_start(&fc, M_GOOD, 0);
	opts_for(&o, &ec, 3000);
	add_core(&o, fc.port);
	assert_int_equal(ue_attach(&r, &o, err, sizeof(err)), 0);
	assert_int_equal(fc.onboarding_seen, 1);
	assert_int_equal(ue_attach(&r, &o, err, sizeof(err)), 0);
	core_stop(&fc);
	assert_int_equal(fc.onboarding_seen, 1); /* no second provisioning */
	assert_int_equal(r.provisioned, 0);
	assert_int_equal(r.registered, 1);
	assert_string_equal(r.kamf_fp, fc.fp);
}

/* A second provisioning keeps the stored credentials: the new ones wait
 * in credentials-pending.json (provision only), the next attach registers
 * with them and promotes them. The counter file holds the last counter
 * sent, which only grows. */
static void ue_attach__reprovision_keeps_old_until_registered(void **state)
{
	fake_core fc;
	ue_attach_opts_t o;
	ue_attach_result_t r;
	ev_count ec = { 0 };
	char err[512] = "", path[700], *text = NULL;
	size_t len = 0;
	uint64_t first;

	(void)state;
	device_make();
	core_start(&fc, M_GOOD, 0);
	opts_for(&o, &ec, 3000);
	add_core(&o, fc.port);
	assert_int_equal(ue_attach(&r, &o, err, sizeof(err)), 0);
	first = fc.last_counter;
	assert_true(first > 1700000000ULL * 1000000ULL); /* clock-floored */
	o.reprovision = 1;
	o.provision_only = 1;
	assert_int_equal(ue_attach(&r, &o, err, sizeof(err)), 0);
	assert_int_equal(fc.onboarding_seen, 2);
	assert_true(fc.last_counter > first);
	assert_int_equal(r.provisioned, 1);
	assert_int_equal(r.registered, 0);
	assert_int_equal(r.pending, 1);
	assert_true(ue_creds_exist_as(devdir, UE_F_CREDS_PENDING));
	assert_true(ue_creds_exist(devdir));
	snprintf(path, sizeof(path), "%s/%s", devdir, UE_F_COUNTER);
	assert_int_equal(ue_file_read(&text, &len, path, 64, err, sizeof(err)),
	    0);
	assert_true(strtoull(text, NULL, 10) == fc.last_counter);
	free(text);
	o.reprovision = 0;
	o.provision_only = 0;
	assert_int_equal(ue_attach(&r, &o, err, sizeof(err)), 0);
	core_stop(&fc);
	assert_int_equal(fc.onboarding_seen, 2);
	assert_int_equal(r.registered, 1);
	assert_false(ue_creds_exist_as(devdir, UE_F_CREDS_PENDING));
	assert_non_null(strstr(ec.promoted, "imsi-001010000000001"));
}

/* Provisioned, authenticated, but the core's next answer is refused: the
 * attach ends without registration, the refusal says why. */
static void registration_refused(enum mode mode, const char *why)
{
	fake_core fc;
	ue_attach_opts_t o;
	ue_attach_result_t r;
	ev_count ec = { 0 };
	char err[512] = "";

	device_make();
	core_start(&fc, mode, 0);
	opts_for(&o, &ec, 1500);
	add_core(&o, fc.port);
	assert_int_equal(ue_attach(&r, &o, err, sizeof(err)), UE_ERR_TIMEOUT);
	core_stop(&fc);
	assert_int_equal(r.provisioned, 1);
	assert_int_equal(r.registered, 0);
	assert_true(r.ignored >= 1);
	assert_string_equal(r.kamf_fp, "");
	assert_int_equal(fc.smc_completes, 0);
	assert_non_null(strstr(ec.last_refusal, why));
}

static void ue_attach__unprotected_accept_after_aka_is_refused(void **state)
{
	(void)state;
	registration_refused(M_PLAIN_ACCEPT,
	    "refused an unprotected Registration accept");
}

/* TS 24.501 §5.4.2.5 / TS 33.501 §6.7.2: a Security mode command the UE
 * cannot accept is answered by one unprotected Security mode reject with
 * cause, and the registration ends there (no Security mode complete, no
 * K_AMF fingerprint). */
static void smc_rejected(enum mode mode, int cause, const char *why)
{
	fake_core fc;
	ue_attach_opts_t o;
	ue_attach_result_t r;
	ev_count ec = { 0 };
	char err[512] = "", want[64];
	int i;

	device_make();
	core_start(&fc, mode, 0);
	opts_for(&o, &ec, 1500);
	add_core(&o, fc.port);
	assert_int_equal(ue_attach(&r, &o, err, sizeof(err)), UE_ERR_PROTO);
	for (i = 0; i < 40 && fc.smc_rejects == 0; i++)
		usleep(5000);
	core_stop(&fc);
	assert_int_equal(r.provisioned, 1);
	assert_int_equal(r.registered, 0);
	assert_string_equal(r.kamf_fp, "");
	assert_int_equal(fc.smc_completes, 0);
	assert_int_equal(fc.smc_rejects, 1);
	assert_int_equal(fc.smc_reject_cause, cause);
	assert_int_equal(fc.smc_reject_hdr, 0); /* no earlier context */
	assert_non_null(strstr(ec.last_refusal, why));
	snprintf(want, sizeof(want), "cause #%d", cause);
	assert_non_null(strstr(err, want));
}

static void ue_attach__smc_with_bad_mac_is_rejected_24(void **state)
{
	(void)state;
	smc_rejected(M_BAD_SMC_MAC, NAS_CAUSE_SEC_MODE_REJECTED,
	    "Security mode command MAC does not verify");
}

static void ue_attach__smc_with_altered_caps_is_rejected_23(void **state)
{
	(void)state;
	smc_rejected(M_BAD_SMC_CAPS, NAS_CAUSE_UE_SEC_CAP_MISMATCH,
	    "replayed UE security capabilities differ from ours");
}

static void ue_attach__smc_with_unannounced_alg_is_rejected_24(void **state)
{
	(void)state;
	smc_rejected(M_BAD_SMC_ALG, NAS_CAUSE_SEC_MODE_REJECTED,
	    "selects algorithms we did not announce");
}

/* A policy naming the core's onboarding key: the request goes concealed
 * (checked and opened by the fake core), provisioning and registration
 * proceed as usual. */
static void ue_attach__onboarding_key_conceals_request(void **state)
{
	fake_core fc;
	ue_attach_opts_t o;
	ue_attach_result_t r;
	ev_count ec = { 0 };
	char err[512] = "", json[512], hex[65];

	(void)state;
	device_make();
	core_start(&fc, M_CONCEALED, 0);
	opts_for(&o, &ec, 3000);
	util_hex_encode(hex, ob_pub, sizeof(ob_pub));
	snprintf(json, sizeof(json),
	    "{\"cores\":[{\"plmn\":\"00101\","
	    "\"address\":\"127.0.0.1:%u\",\"onboarding_key\":{\"profile\":"
	    "\"A\",\"key_id\":5,\"public_key\":\"%s\"}}]}",
	    fc.port, hex);
	assert_int_equal(ue_policy_parse(&o.policy, json, err, sizeof(err)), 0);
	assert_int_equal(o.policy.cores[0].ob_scheme, 1);
	assert_int_equal(ue_attach(&r, &o, err, sizeof(err)), 0);
	wait_reg_complete(&fc);
	core_stop(&fc);
	assert_int_equal(r.provisioned, 1);
	assert_int_equal(r.registered, 1);
	assert_true(fc.concealed_seen >= 1);
}

/* A malformed onboarding key in the policy is refused, not ignored (a
 * device must not fall back to sending its identifiers in clear). */
static void ue_policy__bad_onboarding_key_refused(void **state)
{
	ue_policy_t p;
	char err[256] = "";

	(void)state;
	ue_policy_init(&p);
	assert_int_equal(
	    ue_policy_parse(&p,
	        "{\"cores\":[{\"address\":"
	        "\"h:1\",\"onboarding_key\":{\"profile\":\"A\",\"key_id\":1,"
	        "\"public_key\":\"0011\"}}]}",
	        err, sizeof(err)),
	    UE_ERR_ARG);
	assert_non_null(strstr(err, "onboarding_key"));
	ue_policy_init(&p);
	assert_int_equal(
	    ue_policy_parse(&p,
	        "{\"cores\":[{\"address\":"
	        "\"h:1\",\"onboarding_key\":{\"profile\":\"C\",\"key_id\":1,"
	        "\"public_key\":\"00\"}}]}",
	        err, sizeof(err)),
	    UE_ERR_ARG);
	ue_policy_init(&p);
	assert_int_equal(
	    ue_policy_parse(&p,
	        "{\"cores\":[{\"address\":"
	        "\"h:1\",\"onboarding_key\":{\"profile\":\"B\",\"key_id\":"
	        "256,\"public_key\":\"00\"}}]}",
	        err, sizeof(err)),
	    UE_ERR_ARG);
}

static void run_ignored(enum mode mode, const char *why)
{
	fake_core fc;
	ue_attach_opts_t o;
	ue_attach_result_t r;
	ev_count ec = { 0 };
	char err[512] = "";

	device_make();
	core_start(&fc, mode, 0);
	opts_for(&o, &ec, 700);
	add_core(&o, fc.port);
	assert_int_equal(ue_attach(&r, &o, err, sizeof(err)), UE_ERR_TIMEOUT);
	core_stop(&fc);
	assert_true(r.ignored >= 1);
	assert_int_equal(r.provisioned, 0);
	assert_int_equal(r.registered, 0);
	assert_non_null(strstr(ec.last_refusal, why));
	assert_non_null(strstr(err, "no core gave a genuine"));
	assert_no_creds();
}

static void ue_attach__tampered_container_is_ignored(void **state)
{
	(void)state;
	run_ignored(M_TAMPER, "ignored as if it never came");
}

static void ue_attach__foreign_signer_is_ignored(void **state)
{
	(void)state;
	run_ignored(M_WRONG_SIGNER, "container refused");
}

static void ue_attach__other_nonce_is_ignored(void **state)
{
	(void)state;
	run_ignored(M_WRONG_NONCE, "nonce");
}

/* One attach with the shared trust cache; returns ue_attach's code. */
static int attach_shared(ue_trust_cache *tc, enum mode mode,
    ue_attach_result_t *r, ev_count *ec)
{
	fake_core fc;
	ue_attach_opts_t o;
	char err[512] = "";
	int rc;

	device_make();
	core_start(&fc, mode, 0);
	opts_for(&o, ec, mode == M_GOOD ? 3000 : 700);
	add_core(&o, fc.port);
	o.trust = tc;
	rc = ue_attach(r, &o, err, sizeof(err));
	core_stop(&fc);
	return rc;
}

/* Devices sharing a trust cache (as a swarm's do): the second genuine
 * container is verified from the cache and registers; a tampered one and a
 * foreign signer's are still ignored with the cache filled. */
static void ue_attach__trust_cache_shared_by_devices(void **state)
{
	ue_trust_cache *tc = NULL;
	ue_attach_result_t r;
	ev_count ec = { 0 };
	uint64_t hits = 0, full = 0;

	(void)state;
	assert_int_equal(ue_trust_cache_new(&tc), 0);
	assert_int_equal(attach_shared(tc, M_GOOD, &r, &ec), 0);
	assert_int_equal(r.provisioned, 1);
	ue_trust_cache_stats(tc, &hits, &full);
	assert_int_equal(hits, 0);
	assert_int_equal(full, 1);
	assert_int_equal(attach_shared(tc, M_GOOD, &r, &ec), 0);
	assert_int_equal(r.provisioned, 1);
	assert_int_equal(r.registered, 1);
	ue_trust_cache_stats(tc, &hits, &full);
	assert_int_equal(hits, 1);
	assert_int_equal(full, 1);

	memset(&ec, 0, sizeof(ec));
	assert_int_equal(attach_shared(tc, M_TAMPER, &r, &ec), UE_ERR_TIMEOUT);
	assert_int_equal(r.provisioned, 0);
	assert_true(r.ignored >= 1);
	assert_non_null(strstr(ec.last_refusal, "container refused"));
	assert_no_creds();
	memset(&ec, 0, sizeof(ec));
	assert_int_equal(attach_shared(tc, M_WRONG_SIGNER, &r, &ec),
	    UE_ERR_TIMEOUT);
	assert_int_equal(r.provisioned, 0);
	assert_true(r.ignored >= 1);
	assert_non_null(strstr(ec.last_refusal, "signer"));
	assert_no_creds();
	ue_trust_cache_stats(tc, &hits, NULL);
	assert_int_equal(hits, 1);
	ue_trust_cache_free(tc);
}

static void ue_attach__reject_without_container_gives_cause(void **state)
{
	fake_core fc;
	ue_attach_opts_t o;
	ue_attach_result_t r;
	ev_count ec = { 0 };
	char err[512] = "";

	(void)state;
	device_make();
	core_start(&fc, M_CAUSE, NAS_CAUSE_ILLEGAL_ME);
	opts_for(&o, &ec, 2000);
	add_core(&o, fc.port);
	assert_int_equal(ue_attach(&r, &o, err, sizeof(err)), UE_ERR_REJECTED);
	core_stop(&fc);
	assert_int_equal(r.cause, NAS_CAUSE_ILLEGAL_ME);
	assert_non_null(strstr(err, "revoked"));
	assert_no_creds();
}

static void ue_attach__congestion_backoff_then_next_round(void **state)
{
	fake_core fc;
	ue_attach_opts_t o;
	ue_attach_result_t r;
	ev_count ec = { 0 };
	char err[512] = "";

	(void)state;
	device_make();
	core_start(&fc, M_CAUSE, NAS_CAUSE_CONGESTION);
	opts_for(&o, &ec, 2000);
	o.rounds = 2;
	add_core(&o, fc.port);
	assert_int_equal(ue_attach(&r, &o, err, sizeof(err)), UE_ERR_REJECTED);
	core_stop(&fc);
	assert_int_equal(fc.onboarding_seen, 2); /* retried after back-off */
	assert_int_equal(r.cause, NAS_CAUSE_CONGESTION);
	assert_non_null(strstr(err, "retry later"));
}

static void ue_attach__first_core_down_second_provisions(void **state)
{
	fake_core down, fc;
	ue_attach_opts_t o;
	ue_attach_result_t r;
	ev_count ec = { 0 };
	char err[512] = "", want[64];

	(void)state;
	device_make();
	core_start(&down, M_GOOD, 0);
	core_stop(&down); /* its port is now closed */
	core_start(&fc, M_GOOD, 0);
	opts_for(&o, &ec, 400);
	add_core(&o, down.port);
	add_core(&o, fc.port);
	assert_int_equal(ue_attach(&r, &o, err, sizeof(err)), 0);
	core_stop(&fc);
	snprintf(want, sizeof(want), "127.0.0.1:%u", fc.port);
	assert_string_equal(r.core, want);
	assert_int_equal(r.provisioned, 1);
	assert_string_equal(r.kamf_fp, fc.fp);
}

static void ue_attach__not_allowed_core_moves_to_next(void **state)
{
	fake_core no, fc;
	ue_attach_opts_t o;
	ue_attach_result_t r;
	ev_count ec = { 0 };
	char err[512] = "";

	(void)state;
	device_make();
	core_start(&no, M_CAUSE, NAS_CAUSE_PLMN_NOT_ALLOWED);
	core_start(&fc, M_GOOD, 0);
	opts_for(&o, &ec, 2000);
	add_core(&o, no.port);
	add_core(&o, fc.port);
	assert_int_equal(ue_attach(&r, &o, err, sizeof(err)), 0);
	core_stop(&no);
	core_stop(&fc);
	assert_int_equal(no.onboarding_seen, 1);
	assert_int_equal(r.provisioned, 1);
}

static void ue_attach__lost_request_is_retransmitted(void **state)
{
	fake_core fc;
	ue_attach_opts_t o;
	ue_attach_result_t r;
	ev_count ec = { 0 };
	char err[512] = "";

	(void)state;
	device_make();
	core_start(&fc, M_DROP_FIRST, 0);
	opts_for(&o, &ec, 3000);
	add_core(&o, fc.port);
	assert_int_equal(ue_attach(&r, &o, err, sizeof(err)), 0);
	core_stop(&fc);
	assert_int_equal(fc.onboarding_seen, 2);
	assert_int_equal(r.registered, 1);
}

/* With the doubling timer (as a swarm runs it) a lost request is still
 * sent again and the device provisions and registers. */
static void ue_attach__lost_request_retransmitted_with_doubling(void **state)
{
	fake_core fc;
	ue_attach_opts_t o;
	ue_attach_result_t r;
	ev_count ec = { 0 };
	char err[512] = "";

	(void)state;
	device_make();
	core_start(&fc, M_DROP_FIRST, 0);
	opts_for(&o, &ec, 3000);
	o.policy.timeout_ms = 50;
	o.policy.max_timeout_ms = 400;
	add_core(&o, fc.port);
	assert_int_equal(ue_attach(&r, &o, err, sizeof(err)), 0);
	core_stop(&fc);
	assert_int_equal(fc.onboarding_seen, 2);
	assert_int_equal(r.provisioned, 1);
	assert_int_equal(r.registered, 1);
}

/* A volatile (simulated) device provisions even when credentials are
 * stored, registers with what it received, and leaves the stored file as
 * it was. */
static void ue_attach__volatile_device_writes_nothing(void **state)
{
	fake_core fc;
	ue_attach_opts_t o;
	ue_attach_result_t r;
	ev_count ec = { 0 };
	char err[512] = "", path[700], *before = NULL, *after = NULL;

	(void)state;
	device_make();
	core_start(&fc, M_GOOD, 0);
	opts_for(&o, &ec, 3000);
	add_core(&o, fc.port);
	o.volatile_creds = 1;
	assert_int_equal(ue_attach(&r, &o, err, sizeof(err)), 0);
	assert_int_equal(r.provisioned, 1);
	assert_int_equal(r.registered, 1);
	assert_string_equal(r.kamf_fp, fc.fp);
	assert_no_creds();
	/* Now with credentials stored by a normal attach. */
	o.volatile_creds = 0;
	assert_int_equal(ue_attach(&r, &o, err, sizeof(err)), 0);
	assert_int_equal(r.provisioned, 1);
	snprintf(path, sizeof(path), "%s/%s", devdir, UE_F_CREDS);
	assert_int_equal(ue_file_read(&before, NULL, path, 65536, err,
	                     sizeof(err)),
	    0);
	o.volatile_creds = 1;
	assert_int_equal(ue_attach(&r, &o, err, sizeof(err)), 0);
	core_stop(&fc);
	assert_int_equal(r.provisioned, 1);
	assert_int_equal(r.registered, 1);
	assert_int_equal(ue_file_read(&after, NULL, path, 65536, err,
	                     sizeof(err)),
	    0);
	assert_string_equal(before, after);
	free(before);
	free(after);
}

static void ue_attach__garbage_before_answer_is_ignored(void **state)
{
	fake_core fc;
	ue_attach_opts_t o;
	ue_attach_result_t r;
	ev_count ec = { 0 };
	char err[512] = "";

	(void)state;
	device_make();
	core_start(&fc, M_GARBAGE_FIRST, 0);
	opts_for(&o, &ec, 3000);
	add_core(&o, fc.port);
	assert_int_equal(ue_attach(&r, &o, err, sizeof(err)), 0);
	core_stop(&fc);
	assert_int_equal(r.ignored, 1);
	assert_non_null(strstr(ec.last_refusal, "not a NAS message"));
	assert_int_equal(r.registered, 1);
}

static void ue_attach__sqn_out_of_range_resynchronises(void **state)
{
	fake_core fc;
	ue_attach_opts_t o;
	ue_attach_result_t r;
	ev_count ec = { 0 };
	ue_creds_t c;
	char err[512] = "";

	(void)state;
	device_make();
	core_start(&fc, M_GOOD, 0);
	opts_for(&o, &ec, 3000);
	add_core(&o, fc.port);
	assert_int_equal(ue_attach(&r, &o, err, sizeof(err)), 0);
	/* The USIM's SQN_MS jumps ahead of the network: not fresh. */
	assert_int_equal(ue_creds_load(&c, devdir, err, sizeof(err)), 0);
	aka_sqn_from_u64(c.sqn_ms, 0x100000);
	assert_int_equal(ue_creds_store(&c, devdir, err, sizeof(err)), 0);
	ue_creds_wipe(&c);
	assert_int_equal(ue_attach(&r, &o, err, sizeof(err)), 0);
	core_stop(&fc);
	assert_int_equal(r.resyncs, 1);
	assert_int_equal(fc.auth_failures, 1);
	assert_int_equal(r.registered, 1);
	assert_string_equal(r.kamf_fp, fc.fp);
	assert_int_equal(ue_creds_load(&c, devdir, err, sizeof(err)), 0);
	assert_int_equal(aka_sqn_to_u64(c.sqn_ms), 0x100001);
	ue_creds_wipe(&c);
}

static void ue_attach__unenrolled_and_no_core_refused(void **state)
{
	ue_attach_opts_t o;
	ue_attach_result_t r;
	ev_count ec = { 0 };
	char err[512] = "", dir[600];
	ue_device_t d;

	(void)state;
	device_make();
	opts_for(&o, &ec, 300);
	assert_int_equal(ue_attach(&r, &o, err, sizeof(err)), UE_ERR_ARG);
	assert_non_null(strstr(err, "no core"));
	snprintf(dir, sizeof(dir), "%s/unenrolled", tmproot);
	memset(&d, 0, sizeof(d));
	strcpy(d.manufacturer_id, "a");
	strcpy(d.serial, "s");
	strcpy(d.model, "m");
	assert_int_equal(ue_init(dir, &d, err, sizeof(err)), 0);
	o.dir = dir;
	add_core(&o, 9);
	assert_int_equal(ue_attach(&r, &o, err, sizeof(err)), UE_ERR_STATE);
	assert_non_null(strstr(err, "not enrolled"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(
		    ue_attach__happy_path_provisions_and_registers),
		cmocka_unit_test(
		    ue_attach__unprotected_accept_after_aka_is_refused),
		cmocka_unit_test(ue_attach__smc_with_bad_mac_is_rejected_24),
		cmocka_unit_test(
		    ue_attach__smc_with_altered_caps_is_rejected_23),
		cmocka_unit_test(
		    ue_attach__smc_with_unannounced_alg_is_rejected_24),
		cmocka_unit_test(ue_attach__onboarding_key_conceals_request),
		cmocka_unit_test(ue_policy__bad_onboarding_key_refused),
		cmocka_unit_test(
		    ue_attach__existing_credentials_skip_provisioning),
		cmocka_unit_test(
		    ue_attach__reprovision_keeps_old_until_registered),
		cmocka_unit_test(ue_attach__tampered_container_is_ignored),
		cmocka_unit_test(ue_attach__foreign_signer_is_ignored),
		cmocka_unit_test(ue_attach__other_nonce_is_ignored),
		cmocka_unit_test(ue_attach__trust_cache_shared_by_devices),
		cmocka_unit_test(
		    ue_attach__reject_without_container_gives_cause),
		cmocka_unit_test(ue_attach__congestion_backoff_then_next_round),
		cmocka_unit_test(ue_attach__first_core_down_second_provisions),
		cmocka_unit_test(ue_attach__not_allowed_core_moves_to_next),
		cmocka_unit_test(ue_attach__lost_request_is_retransmitted),
		cmocka_unit_test(
		    ue_attach__lost_request_retransmitted_with_doubling),
		cmocka_unit_test(ue_attach__volatile_device_writes_nothing),
		cmocka_unit_test(ue_attach__garbage_before_answer_is_ignored),
		cmocka_unit_test(ue_attach__sqn_out_of_range_resynchronises),
		cmocka_unit_test(ue_attach__unenrolled_and_no_core_refused),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
