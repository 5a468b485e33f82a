/* ch_uedriver.c — a test-only UE for corehook's integration tests, built on
 * common/ (NAS codec, provisioning request/container, USIM side of 5G-AKA).
 * Not the product's device (that is ueclient); it only speaks the bytes of
 * docs/protocol.md over UDP, one message per datagram, with retransmission.
 *
 *   ch_uedriver provision CORE URL DEVICE_ID KEY ROOT
 *       → "cause N", ["t3346 S"], and on a container "supi S", "ki HEX",
 *         "opc HEX", "amf HEX", "sqn N", "dnn S"
 *   ch_uedriver register CORE SUPI K OPC SQN_MS [SNN]
 *       → "result accept|auth-reject|reject N", "kamf-fp HEX", "resync 0|1",
 *         "nas-sec NIA NEA" (after the Security mode command)
 *   ch_uedriver swarm CORE ROOT THREADS < lines of
 *       "URL DEVICE_ID KEY" → one "ok DEVICE_ID SUPI KI" or
 *       "fail DEVICE_ID cause N" line per device
 *   ch_uedriver raw CORE HEX → "type T" and "cause N" of the answer
 *   ch_uedriver silent CORE SUPI K OPC SQN_MS WAIT_MS
 *       → sends one Registration request and never answers for WAIT_MS:
 *         "received N" (downlink copies), "distinct D" (different bytes),
 *         then answers the last Authentication request: "late-answer
 *         type T" and "cause N" (the network's network-side timers, T3560)
 * The environment shapes the driver's side of the network-side timers:
 * CH_UEDRIVER_RETX_MS (default 1000; 0: never send an uplink again) and
 * CH_UEDRIVER_DROP_EACH=N (the first N copies of each downlink message —
 * Authentication request, Security mode command, Registration accept —
 * are dropped unread, as a lossy radio would; "dropped N" is printed);
 * CH_UEDRIVER_LOSE_COMPLETE=1 (register: the first Registration complete
 * is lost on the way, so the UE waits for the accept to come again; each
 * accept's downlink sequence number is printed as "accept-sqn N").
 * CORE is IPv4:port. Like a device, the driver holds only the Root: the
 * container carries the signer's intermediates. Exit status 0 when an
 * answer arrived, 1 otherwise. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/pem.h>

#include "aka.h"
#include "nas.h"
#include "nas_sec.h"
#include "pki.h"
#include "prov.h"
#include "util.h"

static struct sockaddr_in core;
static int total_ms = 30000;
static long retx_ms = 1000;
static unsigned drop_each, dropped;
static int lose_complete, skip_send;
/* Copies seen per downlink kind (plain type, or protected header type). */
static unsigned seen[2][256];

static int parse_core(const char *s)
{
	char host[64];
	const char *c = strrchr(s, ':');

	if (c == NULL || (size_t)(c - s) >= sizeof(host))
		return -1;
	memcpy(host, s, (size_t)(c - s));
	host[c - s] = '\0';
	memset(&core, 0, sizeof(core));
	core.sin_family = AF_INET;
	core.sin_port = htons((uint16_t)atoi(c + 1));
	return inet_pton(AF_INET, host, &core.sin_addr) == 1 ? 0 : -1;
}

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

/* Whether a received downlink is one of the first drop_each copies of its
 * kind (and so dropped unread). */
static int drop_this(const uint8_t *ans, size_t len)
{
	unsigned *n;

	if (drop_each == 0 || len < 3)
		return 0;
	n = ans[1] != 0 ? &seen[1][ans[1] & 0x0f] : &seen[0][ans[2]];
	if (++*n > drop_each)
		return 0;
	dropped++;
	return 1;
}

/* Send req on fd, retransmitting every retx_ms (never when 0), until an
 * answer that is not dropped, or total_ms. */
static int exchange(int fd, const uint8_t *req, size_t reqlen, uint8_t *ans,
    size_t cap, size_t *anslen)
{
	long deadline = now_ms() + total_ms, next = 0;

	for (;;) {
		struct pollfd pf = { .fd = fd, .events = POLLIN };
		long t = now_ms();
		ssize_t n;

		if (t >= deadline)
			return -1;
		if (t >= next) {
			if (skip_send)
				skip_send = 0; /* lost on the way */
			else if (sendto(fd, req, reqlen, 0,
			             (struct sockaddr *)&core,
			             sizeof(core)) < 0)
				return -1;
			next = retx_ms > 0 ? t + retx_ms : deadline;
		}
		if (poll(&pf, 1,
		        (int)((next < deadline ? next : deadline) - t)) <= 0)
			continue;
		if ((n = recv(fd, ans, cap, 0)) > 0 &&
		    !drop_this(ans, (size_t)n)) {
			*anslen = (size_t)n;
			return 0;
		}
	}
}

static int udp_socket(void)
{
	int fd = socket(AF_INET, SOCK_DGRAM, 0);

	return fd;
}

struct prov_out {
	int cause;
	int t3346;
	int opened;
	prov_subscription_t sub;
	char err[256];
};

/* One provisioning exchange; fills o. */
static int provision(struct prov_out *o, const char *url, const char *dev,
    EVP_PKEY *key, X509 *root)
{
	nas_msg_t *m = calloc(1, sizeof(*m));
	prov_request_t pr;
	uint8_t req[NAS_MAX_MSG_LEN], ans[NAS_MAX_MSG_LEN];
	size_t reqlen, anslen;
	int fd = -1, rc = -1, r;

	memset(o, 0, sizeof(*o));
	o->cause = -1;
	if (m == NULL)
		return -1;
	memset(&pr, 0, sizeof(pr));
	snprintf(pr.url, sizeof(pr.url), "%s", url);
	util_random(pr.ue_nonce, sizeof(pr.ue_nonce));
	/* Signed like ueclient's: the test network's serving network name
	 * (CH_UEDRIVER_SNN overrides it) and the wall clock in microseconds
	 * as the counter (CH_UEDRIVER_COUNTER overrides it). */
	snprintf(pr.snn, sizeof(pr.snn), "%s",
	    getenv("CH_UEDRIVER_SNN") != NULL ?
	        getenv("CH_UEDRIVER_SNN") :
	        "5G:mnc001.mcc001.3gppnetwork.org");
	if (getenv("CH_UEDRIVER_COUNTER") != NULL) {
		pr.counter = strtoull(getenv("CH_UEDRIVER_COUNTER"), NULL, 10);
	} else {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		pr.counter = (uint64_t)ts.tv_sec * 1000000u +
		    (uint64_t)ts.tv_nsec / 1000u;
	}
	if (prov_request_sign(&pr, key, o->err, sizeof(o->err)) != PROV_OK)
		goto out;
	m->type = NAS_MSG_REGISTRATION_REQUEST;
	m->reg_req.reg_type = NAS_REG_SNPN_ONBOARDING;
	m->reg_req.follow_on = 1;
	m->reg_req.ngksi.ksi = NAS_NGKSI_NO_KEY;
	m->reg_req.id.kind = NAS_ID_NONE;
	m->reg_req.has_payload = true;
	m->reg_req.payload_type = NAS_PAYLOAD_TYPE_PROVCA;
	if (prov_request_encode(m->reg_req.payload, sizeof(m->reg_req.payload),
	        &m->reg_req.payload_len, &pr, o->err,
	        sizeof(o->err)) != PROV_OK ||
	    nas_encode(req, sizeof(req), &reqlen, m) != NAS_OK)
		goto out;
	if ((fd = udp_socket()) < 0 ||
	    exchange(fd, req, reqlen, ans, sizeof(ans), &anslen) != 0) {
		snprintf(o->err, sizeof(o->err), "no answer");
		goto out;
	}
	if ((r = nas_decode(m, ans, anslen)) != NAS_OK ||
	    m->type != NAS_MSG_REGISTRATION_REJECT) {
		snprintf(o->err, sizeof(o->err), "answer is not a reject");
		goto out;
	}
	o->cause = m->reg_rej.cause;
	o->t3346 = m->reg_rej.has_t3346 ?
	    (int)nas_gprs_timer_to_seconds(m->reg_rej.t3346) :
	    -1;
	if (m->reg_rej.has_payload) {
		if (prov_verify_open(&o->sub, NULL, m->reg_rej.payload,
		        m->reg_rej.payload_len, root, NULL, (int64_t)time(NULL),
		        key, dev, pr.ue_nonce, o->err,
		        sizeof(o->err)) != PROV_OK)
			goto out;
		o->opened = 1;
	}
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	free(m);
	return rc;
}

static int load_trust(X509 **root, const char *rootf)
{
	char err[256];

	if (pki_cert_load_file(root, rootf, err, sizeof(err)) != PKI_OK) {
		fprintf(stderr, "trust: %s\n", err);
		return -1;
	}
	return 0;
}

static void hex(char *out, const uint8_t *b, size_t n)
{
	util_hex_encode(out, b, n);
}

static int cmd_provision(char **a)
{
	EVP_PKEY *key = NULL;
	X509 *root = NULL;
	struct prov_out o;
	char err[256], h[65];

	if (pki_key_load_file(&key, a[3], err, sizeof(err)) != PKI_OK ||
	    load_trust(&root, a[4]) != 0) {
		fprintf(stderr, "load: %s\n", err);
		return 1;
	}
	if (provision(&o, a[1], a[2], key, root) != 0) {
		printf("cause %d\nerror %s\n", o.cause, o.err);
		return 1;
	}
	printf("cause %d\n", o.cause);
	if (o.t3346 >= 0)
		printf("t3346 %d\n", o.t3346);
	if (o.opened) {
		printf("supi %s\n", o.sub.supi);
		hex(h, o.sub.ki, 16);
		printf("ki %s\n", h);
		hex(h, o.sub.opc, 16);
		printf("opc %s\n", h);
		hex(h, o.sub.amf, 2);
		printf("amf %s\n", h);
		printf("sqn %llu\n",
		    (unsigned long long)aka_sqn_to_u64(o.sub.sqn));
		printf("dnn %s\n", o.sub.dnn);
	}
	prov_subscription_wipe(&o.sub);
	EVP_PKEY_free(key);
	X509_free(root);
	return 0;
}

/* Open a protected answer in ctx (a Security mode command first sets ctx
 * up from kamf) and decode the message into m. */
static int open_answer(nas_sec_ctx_t *ctx, int *have, const uint8_t *kamf,
    const uint8_t *ans, size_t anslen, nas_msg_t *m)
{
	uint8_t plain[NAS_MAX_MSG_LEN], hdr;
	size_t plen;

	if (nas_sec_header_type(ans, anslen) <= 0)
		return nas_decode(m, ans, anslen) == NAS_OK ? 0 : -1;
	if (ans[1] == NAS_SEC_HDR_INTEGRITY_NEW) {
		if (anslen <= NAS_SEC_HDR_LEN ||
		    nas_decode(m, ans + NAS_SEC_HDR_LEN,
		        anslen - NAS_SEC_HDR_LEN) != NAS_OK ||
		    nas_sec_ctx_init(ctx, kamf, m->smc.enc_alg, m->smc.int_alg,
		        1, 0) != NAS_SEC_OK)
			return -1;
		*have = 1;
	}
	if (!*have ||
	    nas_sec_unprotect(plain, sizeof(plain), &plen, &hdr, ctx, ans,
	        anslen) != NAS_SEC_OK)
		return -1;
	return nas_decode(m, plain, plen) == NAS_OK ? 0 : -1;
}

/* Encode m, protected with header type hdr in ctx when hdr > 0. */
static int wire(uint8_t *req, size_t cap, size_t *reqlen, nas_sec_ctx_t *ctx,
    uint8_t hdr, const nas_msg_t *m)
{
	uint8_t plain[NAS_MAX_MSG_LEN];
	size_t plen;

	if (hdr == 0)
		return nas_encode(req, cap, reqlen, m) == NAS_OK ? 0 : -1;
	if (nas_encode(plain, sizeof(plain), &plen, m) != NAS_OK ||
	    nas_sec_protect(req, cap, reqlen, ctx, hdr, plain, plen) !=
	        NAS_SEC_OK)
		return -1;
	return 0;
}

static int cmd_register(char **a)
{
	nas_msg_t *m = calloc(1, sizeof(*m));
	uint8_t k[16], opc[16], sqn_ms[6], req[NAS_MAX_MSG_LEN],
	    ans[NAS_MAX_MSG_LEN], kamf[32], abba[2] = { 0, 0 };
	size_t reqlen, anslen;
	aka_usim_result_t u;
	char supi[32], fp[AKA_FP_HEX_LEN];
	const char *snn =
	    a[6] != NULL ? a[6] : "5G:mnc001.mcc001.3gppnetwork.org";
	int fd, resync = 0, r, rc = 1, have_sec = 0;
	nas_sec_ctx_t sec;
	uint8_t hdr = 0;

	memset(&u, 0, sizeof(u));
	if (m == NULL || util_hex_decode(k, 16, a[3]) != 0 ||
	    util_hex_decode(opc, 16, a[4]) != 0 ||
	    aka_sqn_from_u64(sqn_ms, strtoull(a[5], NULL, 10)) != AKA_OK)
		return 1;
	snprintf(supi, sizeof(supi), "imsi-%s", a[2]);
	m->type = NAS_MSG_REGISTRATION_REQUEST;
	m->reg_req.reg_type = NAS_REG_INITIAL;
	m->reg_req.follow_on = 1;
	m->reg_req.ngksi.ksi = NAS_NGKSI_NO_KEY;
	m->reg_req.id.kind = NAS_ID_SUCI;
	m->reg_req.has_ue_sec_cap = true; /* EA0, EA2; IA2 */
	m->reg_req.ue_sec_cap_len = 2;
	m->reg_req.ue_sec_cap[0] = 0xA0;
	m->reg_req.ue_sec_cap[1] = 0x20;
	memset(&sec, 0, sizeof(sec));
	if (nas_suci_from_supi(&m->reg_req.id.suci, supi, 2) != NAS_OK ||
	    nas_encode(req, sizeof(req), &reqlen, m) != NAS_OK ||
	    (fd = udp_socket()) < 0)
		return 1;
	for (;;) {
		if (exchange(fd, req, reqlen, ans, sizeof(ans), &anslen) != 0 ||
		    open_answer(&sec, &have_sec, kamf, ans, anslen, m) != 0) {
			printf("result none\n");
			goto out;
		}
		if (m->type == NAS_MSG_SECURITY_MODE_COMMAND) {
			printf("nas-sec %s %s\n",
			    nas_sec_alg_name(1, sec.int_alg),
			    nas_sec_alg_name(0, sec.enc_alg));
			memset(m, 0, sizeof(*m));
			m->type = NAS_MSG_SECURITY_MODE_COMPLETE;
			if (wire(req, sizeof(req), &reqlen, &sec,
			        NAS_SEC_HDR_INTEGRITY_CIPHERED_NEW, m) != 0)
				goto out;
			continue;
		}
		if (m->type == NAS_MSG_REGISTRATION_ACCEPT) {
			/* only a protected accept counts; then complete */
			if (ans[1] != NAS_SEC_HDR_INTEGRITY_CIPHERED)
				goto out;
			printf("accept-sqn %u\n", ans[6]);
			memset(m, 0, sizeof(*m));
			m->type = NAS_MSG_REGISTRATION_COMPLETE;
			if (lose_complete == 1) {
				lose_complete = 2;
				if (wire(req, sizeof(req), &reqlen, &sec,
				        NAS_SEC_HDR_INTEGRITY_CIPHERED, m) != 0)
					goto out;
				skip_send = 1;
				continue;
			}
			if (wire(req, sizeof(req), &reqlen, &sec,
			        NAS_SEC_HDR_INTEGRITY_CIPHERED, m) != 0 ||
			    sendto(fd, req, reqlen, 0, (struct sockaddr *)&core,
			        sizeof(core)) < 0)
				goto out;
			printf("result accept\nresync %d\ndropped %u\n", resync,
			    dropped);
			rc = 0;
			goto out;
		}
		if (m->type == NAS_MSG_REGISTRATION_REJECT) {
			printf("result reject %u\n", m->reg_rej.cause);
			rc = 0;
			goto out;
		}
		if (m->type == NAS_MSG_AUTH_REJECT) {
			printf("result auth-reject\n");
			rc = 0;
			goto out;
		}
		if (m->type != NAS_MSG_AUTH_REQUEST)
			goto out;
		r = aka_usim_authenticate(&u, k, opc, m->auth_req.rand,
		    m->auth_req.autn, snn, sqn_ms);
		memset(m, 0, sizeof(*m));
		if (r == AKA_OK) {
			memcpy(sqn_ms, u.sqn, 6);
			if (aka_kamf(kamf, u.kseaf, a[2], abba, 2) == AKA_OK &&
			    aka_fingerprint(fp, kamf) == AKA_OK)
				printf("kamf-fp %s\n", fp);
			printf("sqn %llu\n",
			    (unsigned long long)aka_sqn_to_u64(sqn_ms));
			m->type = NAS_MSG_AUTH_RESPONSE;
			memcpy(m->auth_resp.res_star, u.res_star, 16);
		} else if (r == AKA_ERR_SYNC) {
			resync++;
			m->type = NAS_MSG_AUTH_FAILURE;
			m->auth_fail.cause = NAS_CAUSE_SYNCH_FAILURE;
			m->auth_fail.has_auts = true;
			memcpy(m->auth_fail.auts, u.auts, 14);
		} else {
			m->type = NAS_MSG_AUTH_FAILURE;
			m->auth_fail.cause = NAS_CAUSE_MAC_FAILURE;
		}
		if (wire(req, sizeof(req), &reqlen, &sec, hdr, m) != 0)
			goto out;
	}
out:
	close(fd);
	nas_sec_ctx_clear(&sec);
	OPENSSL_cleanse(kamf, sizeof(kamf));
	aka_usim_result_clear(&u);
	OPENSSL_cleanse(k, sizeof(k));
	free(m);
	return rc;
}

struct swarm {
	pthread_mutex_t mu;
	X509 *root;
	FILE *in;
};

static void *swarm_main(void *arg)
{
	struct swarm *s = arg;
	char line[1024], url[600], dev[80], keyf[400], err[256], h[33];

	for (;;) {
		EVP_PKEY *key = NULL;
		struct prov_out o;
		int ok;

		pthread_mutex_lock(&s->mu);
		ok = fgets(line, sizeof(line), s->in) != NULL;
		pthread_mutex_unlock(&s->mu);
		if (!ok)
			break;
		if (sscanf(line, "%599s %79s %399s", url, dev, keyf) != 3)
			continue;
		if (pki_key_load_file(&key, keyf, err, sizeof(err)) != PKI_OK) {
			pthread_mutex_lock(&s->mu);
			printf("fail %s key %s\n", dev, err);
			pthread_mutex_unlock(&s->mu);
			continue;
		}
		ok = provision(&o, url, dev, key, s->root) == 0 && o.opened;
		pthread_mutex_lock(&s->mu);
		if (ok) {
			hex(h, o.sub.ki, 16);
			printf("ok %s %s %s\n", dev, o.sub.supi, h);
		} else {
			printf("fail %s cause %d %s\n", dev, o.cause, o.err);
		}
		fflush(stdout);
		pthread_mutex_unlock(&s->mu);
		prov_subscription_wipe(&o.sub);
		EVP_PKEY_free(key);
	}
	return NULL;
}

static int cmd_swarm(char **a)
{
	struct swarm s = { .in = stdin };
	pthread_t th[256];
	int n = atoi(a[3]), i;

	if (n < 1 || n > 256 || load_trust(&s.root, a[2]) != 0)
		return 1;
	pthread_mutex_init(&s.mu, NULL);
	for (i = 0; i < n; i++)
		pthread_create(&th[i], NULL, swarm_main, &s);
	for (i = 0; i < n; i++)
		pthread_join(th[i], NULL);
	X509_free(s.root);
	return 0;
}

/* Registration request once, then silence for WAIT_MS while the network's
 * copies arrive; then the answer to the last Authentication request. */
static int cmd_silent(char **a)
{
	nas_msg_t *m = calloc(1, sizeof(*m));
	uint8_t k[16], opc[16], sqn_ms[6], req[NAS_MAX_MSG_LEN],
	    ans[NAS_MAX_MSG_LEN], first[NAS_MAX_MSG_LEN];
	size_t reqlen, anslen = 0, firstlen = 0;
	aka_usim_result_t u;
	char supi[32];
	long until;
	unsigned got = 0, distinct = 0;
	int fd = -1, rc = 1;

	memset(&u, 0, sizeof(u));
	if (m == NULL || util_hex_decode(k, 16, a[3]) != 0 ||
	    util_hex_decode(opc, 16, a[4]) != 0 ||
	    aka_sqn_from_u64(sqn_ms, strtoull(a[5], NULL, 10)) != AKA_OK)
		goto out;
	snprintf(supi, sizeof(supi), "imsi-%s", a[2]);
	m->type = NAS_MSG_REGISTRATION_REQUEST;
	m->reg_req.reg_type = NAS_REG_INITIAL;
	m->reg_req.ngksi.ksi = NAS_NGKSI_NO_KEY;
	m->reg_req.id.kind = NAS_ID_SUCI;
	m->reg_req.has_ue_sec_cap = true;
	m->reg_req.ue_sec_cap_len = 2;
	m->reg_req.ue_sec_cap[0] = 0xA0;
	m->reg_req.ue_sec_cap[1] = 0x20;
	if (nas_suci_from_supi(&m->reg_req.id.suci, supi, 2) != NAS_OK ||
	    nas_encode(req, sizeof(req), &reqlen, m) != NAS_OK ||
	    (fd = udp_socket()) < 0 ||
	    sendto(fd, req, reqlen, 0, (struct sockaddr *)&core, sizeof(core)) <
	        0)
		goto out;
	for (until = now_ms() + atol(a[6]); now_ms() < until;) {
		struct pollfd pf = { .fd = fd, .events = POLLIN };
		ssize_t n;

		if (poll(&pf, 1, (int)(until - now_ms())) <= 0 ||
		    (n = recv(fd, ans, sizeof(ans), 0)) <= 0)
			continue;
		anslen = (size_t)n;
		if (got++ == 0) {
			memcpy(first, ans, anslen);
			firstlen = anslen;
		}
		if (anslen != firstlen || memcmp(first, ans, anslen) != 0)
			distinct++;
	}
	printf("received %u\ndistinct %u\n", got, got > 0 ? distinct + 1 : 0);
	if (got == 0 || nas_decode(m, first, firstlen) != NAS_OK ||
	    m->type != NAS_MSG_AUTH_REQUEST ||
	    aka_usim_authenticate(&u, k, opc, m->auth_req.rand,
	        m->auth_req.autn, "5G:mnc001.mcc001.3gppnetwork.org",
	        sqn_ms) != AKA_OK)
		goto out;
	memset(m, 0, sizeof(*m));
	m->type = NAS_MSG_AUTH_RESPONSE;
	memcpy(m->auth_resp.res_star, u.res_star, 16);
	if (nas_encode(req, sizeof(req), &reqlen, m) != NAS_OK ||
	    exchange(fd, req, reqlen, ans, sizeof(ans), &anslen) != 0 ||
	    nas_decode(m, ans, anslen) != NAS_OK) {
		printf("late-answer none\n");
		goto out;
	}
	printf("late-answer type 0x%02x\n", m->type);
	if (m->type == NAS_MSG_REGISTRATION_REJECT)
		printf("cause %u\n", m->reg_rej.cause);
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	aka_usim_result_clear(&u);
	OPENSSL_cleanse(k, sizeof(k));
	free(m);
	return rc;
}

static int cmd_raw(char **a)
{
	uint8_t req[NAS_MAX_MSG_LEN], ans[NAS_MAX_MSG_LEN];
	size_t n = strlen(a[2]) / 2, anslen;
	nas_msg_t *m = calloc(1, sizeof(*m));
	int fd = udp_socket();

	if (m == NULL || fd < 0 || n == 0 || n > sizeof(req) ||
	    util_hex_decode(req, n, a[2]) != 0)
		return 1;
	if (exchange(fd, req, n, ans, sizeof(ans), &anslen) != 0 ||
	    nas_decode(m, ans, anslen) != NAS_OK) {
		printf("result none\n");
		return 1;
	}
	printf("type 0x%02x\n", m->type);
	if (m->type == NAS_MSG_REGISTRATION_REJECT)
		printf("cause %u\n", m->reg_rej.cause);
	close(fd);
	free(m);
	return 0;
}

int main(int argc, char **argv)
{
	const char *t = getenv("CH_UEDRIVER_TIMEOUT_MS");

	if (t != NULL)
		total_ms = atoi(t);
	if ((t = getenv("CH_UEDRIVER_RETX_MS")) != NULL)
		retx_ms = atol(t);
	if ((t = getenv("CH_UEDRIVER_DROP_EACH")) != NULL)
		drop_each = (unsigned)atoi(t);
	lose_complete = getenv("CH_UEDRIVER_LOSE_COMPLETE") != NULL;
	if (argc < 3 || parse_core(argv[2]) != 0) {
		fprintf(stderr, "usage: see ch_uedriver.c\n");
		return 2;
	}
	if (strcmp(argv[1], "provision") == 0 && argc == 7)
		return cmd_provision(argv + 2);
	if (strcmp(argv[1], "register") == 0 && (argc == 7 || argc == 8))
		return cmd_register(argv + 1);
	if (strcmp(argv[1], "swarm") == 0 && argc == 5)
		return cmd_swarm(argv + 1);
	if (strcmp(argv[1], "silent") == 0 && argc == 8)
		return cmd_silent(argv + 1);
	if (strcmp(argv[1], "raw") == 0 && argc == 3 + 1)
		return cmd_raw(argv + 1);
	fprintf(stderr, "usage: see ch_uedriver.c\n");
	return 2;
}
