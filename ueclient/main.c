/* main.c — the ueclient command line: init, enroll, attach, swarm, suci
 * conceal. Tells
 * the story of each step on stdout (or one JSON document with --json);
 * errors go to stderr. */
#include "aka.h"
#include "pcap.h"
#include "sec_tool.h"
#include "ue.h"
#include "ue_attach.h"
#include "ue_swarm.h"
#include "util.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cJSON.h>
#include <curl/curl.h>

/* Exit status: 0 done, 1 local failure, 2 usage, 3 refused by the network,
 * 4 no genuine answer in time. */
enum { EX_DONE = 0, EX_FAIL = 1, EX_USAGE = 2, EX_REFUSED = 3, EX_TIMEOUT = 4 };

static void usage(FILE *f)
{
	fprintf(f,
	    "usage: ueclient init --state DIR --manufacturer-id ID --serial S "
	    "--model M\n"
	    "                     [--hardware-version V] [--key-type "
	    "p256|p384|rsa2048|rsa3072]\n"
	    "       ueclient enroll --state DIR --ca URL --cert MFR.pem --key "
	    "MFR.key\n"
	    "                     [--root ROOT.pem] [--tls-ca FILE] [--ca-certs "
	    "FILE] [--timeout-ms N]\n"
	    "       ueclient attach --state DIR [--core [PLMN@]HOST:PORT ...] "
	    "[--pcap FILE] [--json]\n"
	    "                     [--timeout-ms N] [--max-timeout-ms N] "
	    "[--retransmits N]\n"
	    "                     [--attempt-ms N] [--max-backoff-ms N] "
	    "[--rounds N]\n"
	    "                     [--reprovision] [--provision-only]\n"
	    "       ueclient swarm --count N --concurrency C --ca URL --cert "
	    "MFR.pem --key MFR.key\n"
	    "                     --core [PLMN@]HOST:PORT ... [--root ROOT.pem] "
	    "[--tls-ca FILE]\n"
	    "                     [--ca-certs FILE] [--manufacturer-id ID] "
	    "[--model M] [--set DIR]\n"
	    "                     [--reprovision] [--deadline-s S] [--key-type "
	    "T] [--json]\n"
	    "                     [--volatile] [--no-trust-cache] "
	    "[--timeout-ms N]\n"
	    "                     [--max-timeout-ms N] [--retransmits N] "
	    "[--attempt-ms N]\n"
	    "                     [--policy POLICY.json]\n"
	    "       ueclient suci conceal --supi imsi-MCCMNCMSIN --mnc-digits "
	    "2|3 --profile A|B\n"
	    "                     --hn-pub HEX --hn-key-id N "
	    "[--routing-indicator DIGITS] [--eph-key HEX]\n");
}

/* `ueclient suci conceal ...`: one "SUCI: ..." line; exit 2 on bad input. */
static int cmd_suci(int argc, char **argv)
{
	char err[512] = "";
	int rc;

	if (argc < 1 || strcmp(argv[0], "conceal") != 0) {
		usage(stderr);
		return EX_USAGE;
	}
	rc =
	    sec_tool_suci_conceal(stdout, argc - 1, argv + 1, err, sizeof(err));
	if (rc != SEC_TOOL_OK) {
		fprintf(stderr, "ueclient suci conceal: %s\n", err);
		return rc == SEC_TOOL_USAGE ? EX_USAGE : EX_FAIL;
	}
	return fflush(stdout) == 0 ? EX_DONE : EX_FAIL;
}

enum {
	O_STATE = 256,
	O_MFR,
	O_SERIAL,
	O_MODEL,
	O_HW,
	O_KEYTYPE,
	O_CA,
	O_CERT,
	O_KEY,
	O_ROOT,
	O_TLSCA,
	O_CACERTS,
	O_TIMEOUT,
	O_CORE,
	O_PCAP,
	O_JSON,
	O_RETX,
	O_ATTEMPT,
	O_BACKOFF,
	O_ROUNDS,
	O_COUNT,
	O_CONC,
	O_SET,
	O_REPROV,
	O_DEADLINE,
	O_HELP,
	O_PREFIX,
	O_NOTRUST,
	O_VOLATILE,
	O_MAXTMO,
	O_PROVONLY,
	O_POLICY,
};

static const struct option opts[] = {
	{ "state", required_argument, NULL, O_STATE },
	{ "manufacturer-id", required_argument, NULL, O_MFR },
	{ "serial", required_argument, NULL, O_SERIAL },
	{ "model", required_argument, NULL, O_MODEL },
	{ "hardware-version", required_argument, NULL, O_HW },
	{ "key-type", required_argument, NULL, O_KEYTYPE },
	{ "ca", required_argument, NULL, O_CA },
	{ "cert", required_argument, NULL, O_CERT },
	{ "key", required_argument, NULL, O_KEY },
	{ "root", required_argument, NULL, O_ROOT },
	{ "tls-ca", required_argument, NULL, O_TLSCA },
	{ "ca-certs", required_argument, NULL, O_CACERTS },
	{ "timeout-ms", required_argument, NULL, O_TIMEOUT },
	{ "core", required_argument, NULL, O_CORE },
	{ "pcap", required_argument, NULL, O_PCAP },
	{ "json", no_argument, NULL, O_JSON },
	{ "retransmits", required_argument, NULL, O_RETX },
	{ "max-timeout-ms", required_argument, NULL, O_MAXTMO },
	{ "attempt-ms", required_argument, NULL, O_ATTEMPT },
	{ "max-backoff-ms", required_argument, NULL, O_BACKOFF },
	{ "rounds", required_argument, NULL, O_ROUNDS },
	{ "count", required_argument, NULL, O_COUNT },
	{ "concurrency", required_argument, NULL, O_CONC },
	{ "set", required_argument, NULL, O_SET },
	{ "reprovision", no_argument, NULL, O_REPROV },
	{ "provision-only", no_argument, NULL, O_PROVONLY },
	{ "deadline-s", required_argument, NULL, O_DEADLINE },
	{ "serial-prefix", required_argument, NULL, O_PREFIX },
	{ "no-trust-cache", no_argument, NULL, O_NOTRUST },
	{ "volatile", no_argument, NULL, O_VOLATILE },
	{ "policy", required_argument, NULL, O_POLICY },
	{ "help", no_argument, NULL, O_HELP },
	{ NULL, 0, NULL, 0 },
};

typedef struct {
	const char *state, *mfr, *serial, *model, *hw, *keytype;
	const char *ca, *cert, *key, *root, *tlsca, *cacerts, *pcap, *set;
	const char *prefix, *policy;
	const char *cores[UE_MAX_CORES];
	size_t ncores;
	long timeout_ms, max_timeout_ms, retransmits, attempt_ms, backoff_ms;
	long rounds;
	long count, concurrency, deadline_s;
	int json, reprovision, no_trust_cache, volatile_creds, provision_only;
} args_t;

/* Parse a bounded non-negative integer option. */
static int num(long *out, const char *s, long lo, long hi, const char *name)
{
	char *end;
	long v = strtol(s, &end, 10);

	if (*s == '\0' || *end != '\0' || v < lo || v > hi) {
		fprintf(stderr,
		    "ueclient: --%s must be an integer in %ld..%ld\n", name, lo,
		    hi);
		return -1;
	}
	*out = v;
	return 0;
}

static int parse(args_t *a, int argc, char **argv)
{
	int c;

	memset(a, 0, sizeof(*a));
	a->timeout_ms = a->retransmits = a->attempt_ms = a->backoff_ms = -1;
	a->max_timeout_ms = -1;
	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case O_STATE: a->state = optarg; break;
		case O_MFR: a->mfr = optarg; break;
		case O_SERIAL: a->serial = optarg; break;
		case O_MODEL: a->model = optarg; break;
		case O_HW: a->hw = optarg; break;
		case O_KEYTYPE: a->keytype = optarg; break;
		case O_CA: a->ca = optarg; break;
		case O_CERT: a->cert = optarg; break;
		case O_KEY: a->key = optarg; break;
		case O_ROOT: a->root = optarg; break;
		case O_TLSCA: a->tlsca = optarg; break;
		case O_CACERTS: a->cacerts = optarg; break;
		case O_PCAP: a->pcap = optarg; break;
		case O_SET: a->set = optarg; break;
		case O_PREFIX: a->prefix = optarg; break;
		case O_POLICY: a->policy = optarg; break;
		case O_JSON: a->json = 1; break;
		case O_REPROV: a->reprovision = 1; break;
		case O_PROVONLY: a->provision_only = 1; break;
		case O_NOTRUST: a->no_trust_cache = 1; break;
		case O_VOLATILE: a->volatile_creds = 1; break;
		case O_CORE:
			if (a->ncores == UE_MAX_CORES) {
				fprintf(stderr, "ueclient: at most %d --core\n",
				    UE_MAX_CORES);
				return -1;
			}
			a->cores[a->ncores++] = optarg;
			break;
		case O_TIMEOUT:
			if (num(&a->timeout_ms, optarg, 10, 60000,
			        "timeout-ms"))
				return -1;
			break;
		case O_RETX:
			if (num(&a->retransmits, optarg, 0, 10, "retransmits"))
				return -1;
			break;
		case O_MAXTMO:
			if (num(&a->max_timeout_ms, optarg, 0, 60000,
			        "max-timeout-ms"))
				return -1;
			break;
		case O_ATTEMPT:
			if (num(&a->attempt_ms, optarg, 10, 600000,
			        "attempt-ms"))
				return -1;
			break;
		case O_BACKOFF:
			if (num(&a->backoff_ms, optarg, 0, 600000,
			        "max-backoff-ms"))
				return -1;
			break;
		case O_ROUNDS:
			if (num(&a->rounds, optarg, 1, 10, "rounds"))
				return -1;
			break;
		case O_COUNT:
			if (num(&a->count, optarg, 1, UE_SWARM_MAX_COUNT,
			        "count"))
				return -1;
			break;
		case O_CONC:
			if (num(&a->concurrency, optarg, 1,
			        UE_SWARM_MAX_CONCURRENCY, "concurrency"))
				return -1;
			break;
		case O_DEADLINE:
			if (num(&a->deadline_s, optarg, 1, UTIL_SECONDS_PER_DAY,
			        "deadline-s"))
				return -1;
			break;
		case O_HELP: usage(stdout); exit(EX_DONE);
		default: return -1;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "ueclient: unexpected argument \"%s\"\n",
		    argv[optind]);
		return -1;
	}
	return 0;
}

static int need(const char *v, const char *name)
{
	if (v == NULL) {
		fprintf(stderr, "ueclient: --%s is required\n", name);
		return -1;
	}
	return 0;
}

static int exit_for(int rc)
{
	switch (rc) {
	case UE_OK: return EX_DONE;
	case UE_ERR_REJECTED: return EX_REFUSED;
	case UE_ERR_TIMEOUT: return EX_TIMEOUT;
	case UE_ERR_ARG: return EX_USAGE;
	default: return EX_FAIL;
	}
}

static int cmd_init(const args_t *a)
{
	ue_device_t dev;
	char err[512];
	int rc;

	if (need(a->state, "state") || need(a->mfr, "manufacturer-id") ||
	    need(a->serial, "serial") || need(a->model, "model"))
		return EX_USAGE;
	memset(&dev, 0, sizeof(dev));
	if (a->keytype != NULL &&
	    ue_key_type_parse(&dev.key_type, a->keytype) != 0) {
		fprintf(stderr,
		    "ueclient: --key-type is p256, p384, rsa2048 "
		    "or rsa3072\n");
		return EX_USAGE;
	}
	if (strlen(a->mfr) > UE_ID_MAX || strlen(a->serial) > UE_ID_MAX ||
	    strlen(a->model) > UE_ID_MAX ||
	    (a->hw != NULL && strlen(a->hw) > UE_ID_MAX)) {
		fprintf(stderr,
		    "ueclient: identity fields are at most %d "
		    "characters\n",
		    UE_ID_MAX);
		return EX_USAGE;
	}
	snprintf(dev.manufacturer_id, sizeof(dev.manufacturer_id), "%s",
	    a->mfr);
	snprintf(dev.serial, sizeof(dev.serial), "%s", a->serial);
	snprintf(dev.model, sizeof(dev.model), "%s", a->model);
	snprintf(dev.hardware_version, sizeof(dev.hardware_version), "%s",
	    a->hw != NULL ? a->hw : "");
	rc = ue_init(a->state, &dev, err, sizeof(err));
	if (rc != 0) {
		fprintf(stderr, "ueclient init: %s\n", err);
		return exit_for(rc);
	}
	printf("initialised %s: %s key generated on the device (%s/%s, 0600), "
	       "CSR in %s/%s for serial %s of %s\n",
	    a->state, ue_key_type_name(dev.key_type), a->state, UE_F_KEY,
	    a->state, UE_F_CSR, dev.serial, dev.manufacturer_id);
	return EX_DONE;
}

static void enroll_opts(ue_enroll_opts_t *e, const args_t *a)
{
	memset(e, 0, sizeof(*e));
	e->ca_url = a->ca;
	e->cert_file = a->cert;
	e->key_file = a->key;
	e->root_file = a->root;
	e->tls_ca = a->tlsca;
	e->ca_certs_file = a->cacerts;
	e->timeout_ms = a->timeout_ms > 0 ? a->timeout_ms : 10000;
}

static int cmd_enroll(const args_t *a)
{
	ue_enroll_opts_t e;
	ue_device_t dev;
	char err[512];
	int rc;

	if (need(a->state, "state") || need(a->ca, "ca") ||
	    need(a->cert, "cert") || need(a->key, "key"))
		return EX_USAGE;
	enroll_opts(&e, a);
	rc = ue_enroll(&dev, a->state, &e, err, sizeof(err));
	if (rc != 0) {
		fprintf(stderr, "ueclient enroll: %s\n", err);
		return exit_for(rc);
	}
	printf("enrolled: DeviceID %s, certificate URL %s; certificate, chain "
	       "and Root CA stored in %s\n",
	    dev.device_id, dev.certificate_url, a->state);
	return EX_DONE;
}

/* ---- attach: narrative or JSON ---- */

typedef struct {
	int json;
	cJSON *events; /* --json: collected here */
} story_t;

static void story_event(void *ctx, const ue_event_t *ev)
{
	story_t *s = ctx;
	static const char *const mark[] = { "==", "->", "<-", "ok", "!!",
		"  " };

	if (s->json) {
		cJSON *o = cJSON_CreateObject();
		static const char *const kind[] = { "step", "send", "recv",
			"accept", "refuse", "info" };

		if (o == NULL)
			return;
		cJSON_AddStringToObject(o, "kind", kind[ev->kind]);
		cJSON_AddStringToObject(o, "phase", ev->phase);
		if (ev->peer != NULL)
			cJSON_AddStringToObject(o, "peer", ev->peer);
		if (ev->msg != NULL)
			cJSON_AddStringToObject(o, "message", ev->msg);
		if (ev->cause >= 0)
			cJSON_AddNumberToObject(o, "cause", ev->cause);
		cJSON_AddStringToObject(o, "text", ev->text);
		cJSON_AddItemToArray(s->events, o);
		return;
	}
	printf("[%-9s] %s %s\n", ev->phase, mark[ev->kind], ev->text);
	fflush(stdout);
}

static void trace_tap(void *ctx, int dir, const uint8_t *buf, size_t len)
{
	(void)pcap_writer_add(ctx,
	    dir == UE_DIR_UL ? PCAP_DIR_UE_TO_CORE : PCAP_DIR_CORE_TO_UE, buf,
	    len);
}

/* A --core whose address the stored policy names keeps that core's
 * onboarding key (the request stays concealed to it). */
static void onboarding_keys_keep(ue_policy_t *p, const ue_policy_t *stored)
{
	size_t i, j;

	for (i = 0; i < p->ncores; i++)
		for (j = 0; j < stored->ncores; j++) {
			const ue_core_t *c = &stored->cores[j];

			if (strcmp(p->cores[i].address, c->address) != 0 ||
			    c->ob_scheme == 0)
				continue;
			p->cores[i].ob_scheme = c->ob_scheme;
			p->cores[i].ob_key_id = c->ob_key_id;
			memcpy(p->cores[i].ob_pub, c->ob_pub,
			    sizeof(c->ob_pub));
			p->cores[i].ob_pub_len = c->ob_pub_len;
		}
}

/* Apply the timer flags and the --core list over the stored policy. */
static int policy_from(ue_policy_t *p, const args_t *a, char *err,
    size_t errlen)
{
	size_t i;

	ue_policy_init(p);
	if (a->ncores == 0) {
		if (ue_policy_load(p, a->state, err, errlen) != 0)
			return -1;
	} else {
		ue_policy_t stored;

		/* Flags replace the stored core list but keep its timers. */
		ue_policy_init(&stored);
		if (ue_policy_load(&stored, a->state, err, errlen) != 0)
			return -1;
		*p = stored;
		p->ncores = 0;
		for (i = 0; i < a->ncores; i++)
			if (ue_policy_add_core(p, a->cores[i], err, errlen) !=
			    0)
				return -1;
		onboarding_keys_keep(p, &stored);
	}
	if (a->timeout_ms >= 0)
		p->timeout_ms = (unsigned)a->timeout_ms;
	if (a->max_timeout_ms >= 0)
		p->max_timeout_ms = (unsigned)a->max_timeout_ms;
	if (a->retransmits >= 0)
		p->retransmits = (unsigned)a->retransmits;
	if (a->attempt_ms >= 0)
		p->attempt_ms = (unsigned)a->attempt_ms;
	if (a->backoff_ms >= 0)
		p->max_backoff_ms = (unsigned)a->backoff_ms;
	return 0;
}

/* The outcome members of attach's JSON document into j; 0, or -1 when
 * an add failed. */
static int attach_json_fill(cJSON *j, const args_t *a, int rc,
    const ue_attach_result_t *r, const char *err)
{
	if (cJSON_AddBoolToObject(j, "ok", rc == 0) == NULL ||
	    cJSON_AddBoolToObject(j, "provisioned", r->provisioned) == NULL ||
	    cJSON_AddBoolToObject(j, "registered", r->registered) == NULL ||
	    (r->supi[0] != '\0' &&
	        cJSON_AddStringToObject(j, "supi", r->supi) == NULL) ||
	    (r->core[0] != '\0' &&
	        cJSON_AddStringToObject(j, "core", r->core) == NULL))
		return -1;
	if (r->cause >= 0 &&
	    (cJSON_AddNumberToObject(j, "cause", r->cause) == NULL ||
	        cJSON_AddStringToObject(j, "cause_name",
	            ue_cause_name(r->cause)) == NULL ||
	        cJSON_AddStringToObject(j, "cause_reason",
	            ue_cause_reason(r->cause)) == NULL))
		return -1;
	if (cJSON_AddBoolToObject(j, "pending", r->pending) == NULL ||
	    (r->kamf_fp[0] != '\0' &&
	        cJSON_AddStringToObject(j, "kamf_fp", r->kamf_fp) == NULL) ||
	    (r->nia != NULL && r->nea != NULL &&
	        (cJSON_AddStringToObject(j, "nas_integrity", r->nia) == NULL ||
	            cJSON_AddStringToObject(j, "nas_ciphering", r->nea) ==
	                NULL)))
		return -1;
	if (cJSON_AddNumberToObject(j, "provisioning_ms", r->prov_ms) == NULL ||
	    cJSON_AddNumberToObject(j, "registration_ms", r->reg_ms) == NULL ||
	    cJSON_AddNumberToObject(j, "ignored", r->ignored) == NULL ||
	    cJSON_AddNumberToObject(j, "resyncs", r->resyncs) == NULL ||
	    (rc != 0 && cJSON_AddStringToObject(j, "error", err) == NULL) ||
	    (a->pcap != NULL &&
	        cJSON_AddStringToObject(j, "pcap", a->pcap) == NULL))
		return -1;
	return 0;
}

/* Print attach's --json document (the outcome and the story's events,
 * which it takes over); ex, or EX_FAIL when it cannot be built. */
static int attach_print_json(const args_t *a, int rc, int ex,
    const ue_attach_result_t *r, cJSON *events, const char *err)
{
	cJSON *j = cJSON_CreateObject();
	char *text = NULL;

	if (j == NULL || attach_json_fill(j, a, rc, r, err) != 0 ||
	    !cJSON_AddItemToObject(j, "events", events)) {
		cJSON_Delete(events);
		cJSON_Delete(j);
		return EX_FAIL;
	}
	if ((text = cJSON_Print(j)) == NULL)
		ex = EX_FAIL;
	else
		printf("%s\n", text);
	cJSON_free(text);
	cJSON_Delete(j);
	return ex;
}

/* Print attach's closing lines; the exit status. */
static int attach_print_text(const args_t *a, int rc, int ex,
    const ue_attach_result_t *r, const char *err)
{
	if (rc != 0) {
		printf("[%-9s] !! %s\n", "done", err);
		fprintf(stderr, "ueclient attach: %s\n", err);
		return ex;
	}
	if (!r->registered) {
		printf("[%-9s] ok provisioned %s via %s, stored %s\n", "done",
		    r->supi[0] != '\0' ? r->supi : "a subscription", r->core,
		    r->pending ? "as pending (the older credentials stay until "
		                 "it registers)" :
		                 "");
		return EX_DONE;
	}
	printf("[%-9s] ok registered as %s via %s%s\n", "done", r->supi,
	    r->core, r->provisioned ? " (provisioned in this run)" : "");
	if (a->pcap != NULL)
		printf("[%-9s]    trace written to %s (open it in Wireshark)\n",
		    "done", a->pcap);
	printf("kamf-fp=%s nia=%s nea=%s\n", r->kamf_fp,
	    r->nia != NULL ? r->nia : "-", r->nea != NULL ? r->nea : "-");
	return EX_DONE;
}

/* ueclient attach: the policy, the trace, the switch-on, the story. */
static int cmd_attach(const args_t *a)
{
	ue_attach_opts_t o;
	ue_attach_result_t r;
	story_t story = { 0 };
	pcap_writer *pw = NULL;
	char err[512] = "";
	int rc;

	if (need(a->state, "state"))
		return EX_USAGE;
	memset(&o, 0, sizeof(o));
	if (policy_from(&o.policy, a, err, sizeof(err)) != 0) {
		fprintf(stderr, "ueclient attach: %s\n", err);
		return EX_USAGE;
	}
	if (a->pcap != NULL &&
	    pcap_writer_open(&pw, a->pcap, 0, err, sizeof(err)) != PCAP_OK) {
		fprintf(stderr, "ueclient attach: %s\n", err);
		return EX_FAIL;
	}
	story.json = a->json;
	if (a->json && (story.events = cJSON_CreateArray()) == NULL) {
		pcap_writer_close(pw);
		return EX_FAIL;
	}
	o.dir = a->state;
	o.rounds = a->rounds > 0 ? (unsigned)a->rounds : 0;
	o.on_event = story_event;
	o.event_ctx = &story;
	o.tap = pw != NULL ? trace_tap : NULL;
	o.tap_ctx = pw;
	o.reprovision = a->reprovision;
	o.provision_only = a->provision_only;
	rc = ue_attach(&r, &o, err, sizeof(err));
	pcap_writer_close(pw);
	if (a->json)
		return attach_print_json(a, rc, exit_for(rc), &r, story.events,
		    err);
	return attach_print_text(a, rc, exit_for(rc), &r, err);
}

/* ---- swarm ---- */

static void bar(void *ctx, unsigned done, unsigned failed, unsigned total)
{
	int width = 40,
	    fill = total ? (int)((uint64_t)done * width / total) : 0;

	(void)ctx;
	fprintf(stderr, "\r[%.*s%*s] %u/%u done, %u failed", fill,
	    "########################################", width - fill, "", done,
	    total, failed);
	if (done == total)
		fputc('\n', stderr);
	fflush(stderr);
}

/* The swarm's cores: --policy FILE's (a policy.json; its onboarding keys
 * conceal every device's provisioning request, as attach's do), or the
 * --core list, a listed address keeping the file's onboarding key. Only
 * the cores are taken: the swarm keeps its own timers. */
static int swarm_cores(ue_policy_t *p, const args_t *a, char *err,
    size_t errlen)
{
	ue_policy_t file;
	char *text = NULL;
	size_t i;
	int rc;

	ue_policy_init(p);
	ue_policy_init(&file);
	if (a->policy != NULL) {
		if ((rc = ue_file_read(&text, NULL, a->policy, 65536, err,
		         errlen)) != 0)
			return rc;
		rc = ue_policy_parse(&file, text, err, errlen);
		free(text);
		if (rc != 0)
			return rc;
		if (a->ncores == 0) {
			p->ncores = file.ncores;
			memcpy(p->cores, file.cores, sizeof(p->cores));
			return UE_OK;
		}
	}
	for (i = 0; i < a->ncores; i++)
		if ((rc = ue_policy_add_core(p, a->cores[i], err, errlen)) != 0)
			return rc;
	onboarding_keys_keep(p, &file);
	return UE_OK;
}

/* The swarm's options from the command line (swarm transport timers
 * unless given); EX_DONE, or EX_USAGE / EX_FAIL with a line printed. */
static int swarm_opts(ue_swarm_opts_t *o, const args_t *a)
{
	char err[512] = "";

	memset(o, 0, sizeof(*o));
	o->count = (unsigned)a->count;
	o->concurrency = (unsigned)a->concurrency;
	o->set_dir = a->set;
	o->reprovision = a->reprovision;
	o->no_trust_cache = a->no_trust_cache;
	o->volatile_creds = a->volatile_creds;
	o->manufacturer_id = a->mfr != NULL ? a->mfr : "swarm-mfr";
	o->model = a->model != NULL ? a->model : "swarm-sensor";
	o->serial_prefix = a->prefix;
	o->deadline_s = a->deadline_s > 0 ? (unsigned)a->deadline_s : 0;
	if (a->keytype != NULL &&
	    ue_key_type_parse(&o->key_type, a->keytype) != 0) {
		fprintf(stderr, "ueclient swarm: bad --key-type\n");
		return EX_USAGE;
	}
	enroll_opts(&o->enroll, a);
	if (swarm_cores(&o->policy, a, err, sizeof(err)) != 0) {
		fprintf(stderr, "ueclient swarm: %s\n", err);
		return EX_USAGE;
	}
	/* Loopback by default. */
	if (o->policy.ncores == 0 &&
	    ue_policy_add_core(&o->policy, "127.0.0.1:4997", err,
	        sizeof(err)) != 0)
		return EX_FAIL;
	/* A datagram lost under load must not cost a simulated device a
	 * whole second: the swarm's first wait is short and doubles. */
	o->policy.timeout_ms =
	    a->timeout_ms >= 0 ? (unsigned)a->timeout_ms : UE_SWARM_TIMEOUT_MS;
	o->policy.max_timeout_ms = a->max_timeout_ms >= 0 ?
	    (unsigned)a->max_timeout_ms :
	    UE_SWARM_MAX_TIMEOUT_MS;
	o->policy.retransmits = a->retransmits >= 0 ? (unsigned)a->retransmits :
	                                              UE_SWARM_RETRANSMITS;
	if (a->attempt_ms >= 0)
		o->policy.attempt_ms = (unsigned)a->attempt_ms;
	if (!a->json && isatty(STDERR_FILENO))
		o->progress = bar;
	return EX_DONE;
}

/* {"n", "p50", "p95", "p99"} under name; 0 or -1 (out of memory). */
static int swarm_pct_add(cJSON *j, const char *name, unsigned n, unsigned p50,
    unsigned p95, unsigned p99)
{
	cJSON *c = cJSON_AddObjectToObject(j, name);

	return c == NULL || cJSON_AddNumberToObject(c, "n", n) == NULL ||
	        cJSON_AddNumberToObject(c, "p50", p50) == NULL ||
	        cJSON_AddNumberToObject(c, "p95", p95) == NULL ||
	        cJSON_AddNumberToObject(c, "p99", p99) == NULL ?
	    -1 :
	    0;
}

/* The swarm's result as a JSON document, or NULL (out of memory). */
static cJSON *swarm_json(const ue_swarm_result_t *r)
{
	cJSON *j = cJSON_CreateObject(), *c, *f, *e;
	size_t i;

	if (j == NULL ||
	    cJSON_AddNumberToObject(j, "total", r->total) == NULL ||
	    cJSON_AddNumberToObject(j, "completed", r->completed) == NULL ||
	    cJSON_AddNumberToObject(j, "failed", r->failed) == NULL ||
	    cJSON_AddNumberToObject(j, "not_started", r->not_started) == NULL ||
	    cJSON_AddNumberToObject(j, "elapsed_s", r->elapsed_s) == NULL ||
	    cJSON_AddNumberToObject(j, "flows_per_s", r->flows_per_s) == NULL ||
	    cJSON_AddNumberToObject(j, "retransmissions",
	        (double)r->retransmissions) == NULL ||
	    swarm_pct_add(j, "provisioning_ms", r->prov_n, r->prov_p50,
	        r->prov_p95, r->prov_p99) != 0 ||
	    swarm_pct_add(j, "registration_ms", r->reg_n, r->reg_p50,
	        r->reg_p95, r->reg_p99) != 0 ||
	    swarm_pct_add(j, "flow_ms", r->reg_n, r->flow_p50, r->flow_p95,
	        r->flow_p99) != 0 ||
	    (c = cJSON_AddObjectToObject(j, "signer_chain")) == NULL ||
	    cJSON_AddNumberToObject(c, "verified_from_cache",
	        (double)r->verify_cached) == NULL ||
	    cJSON_AddNumberToObject(c, "verified_in_full",
	        (double)r->verify_full) == NULL ||
	    (f = cJSON_AddArrayToObject(j, "failures")) == NULL)
		goto fail;
	for (i = 0; i < r->ncauses; i++) {
		if ((e = cJSON_CreateObject()) == NULL)
			goto fail;
		if (!cJSON_AddItemToArray(f, e)) {
			cJSON_Delete(e);
			goto fail;
		}
		if (cJSON_AddStringToObject(e, "cause", r->causes[i].cause) ==
		        NULL ||
		    cJSON_AddNumberToObject(e, "count", r->causes[i].n) ==
		        NULL ||
		    cJSON_AddStringToObject(e, "example",
		        r->causes[i].example) == NULL)
			goto fail;
	}
	return j;
fail:
	cJSON_Delete(j);
	return NULL;
}

/* The swarm's result for a reader. */
static void swarm_text(const ue_swarm_result_t *r)
{
	size_t i;

	printf("swarm: %u devices, %u completed, %u failed, %u not started "
	       "in %.1f s\n",
	    r->total, r->completed, r->failed, r->not_started, r->elapsed_s);
	printf("  throughput    %.1f flows/s\n", r->flows_per_s);
	printf("  provisioning  p50 %u ms  p95 %u ms  p99 %u ms  (%u "
	       "samples)\n",
	    r->prov_p50, r->prov_p95, r->prov_p99, r->prov_n);
	printf("  registration  p50 %u ms  p95 %u ms  p99 %u ms  (%u "
	       "samples)\n",
	    r->reg_p50, r->reg_p95, r->reg_p99, r->reg_n);
	printf("  whole flow    p50 %u ms  p95 %u ms  p99 %u ms\n", r->flow_p50,
	    r->flow_p95, r->flow_p99);
	for (i = 0; i < r->ncauses; i++)
		printf("  failed %5u  %s  (e.g. %s)\n", r->causes[i].n,
		    r->causes[i].cause, r->causes[i].example);
}

/* ueclient swarm: many simulated devices, then their figures. */
static int cmd_swarm(const args_t *a)
{
	ue_swarm_opts_t o;
	ue_swarm_result_t r;
	char err[512] = "", *text;
	cJSON *j;
	int rc;

	if (need(a->ca, "ca") || need(a->cert, "cert") || need(a->key, "key"))
		return EX_USAGE;
	if (a->count <= 0 || a->concurrency <= 0) {
		fprintf(stderr,
		    "ueclient swarm: --count and --concurrency are "
		    "required\n");
		return EX_USAGE;
	}
	if ((rc = swarm_opts(&o, a)) != EX_DONE)
		return rc;
	rc = ue_swarm_run(&r, &o, err, sizeof(err));
	if (rc != 0) {
		fprintf(stderr, "ueclient swarm: %s\n", err);
		return exit_for(rc);
	}
	if (!a->json) {
		swarm_text(&r);
	} else {
		j = swarm_json(&r);
		text = j != NULL ? cJSON_Print(j) : NULL;
		cJSON_Delete(j);
		if (text == NULL) {
			fprintf(stderr, "ueclient swarm: out of memory\n");
			return EX_FAIL;
		}
		printf("%s\n", text);
		cJSON_free(text);
	}
	return r.failed == 0 && r.not_started == 0 ? EX_DONE : EX_FAIL;
}

int main(int argc, char **argv)
{
	args_t a;
	const char *cmd;
	int ex;

	if (argc < 2) {
		usage(stderr);
		return EX_USAGE;
	}
	cmd = argv[1];
	if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0 ||
	    strcmp(cmd, "help") == 0) {
		usage(stdout);
		return EX_DONE;
	}
	if (strcmp(cmd, "suci") == 0)
		return cmd_suci(argc - 2, argv + 2);
	if (parse(&a, argc - 1, argv + 1) != 0) {
		usage(stderr);
		return EX_USAGE;
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		fprintf(stderr, "ueclient: libcurl initialisation failed\n");
		return EX_FAIL;
	}
	if (strcmp(cmd, "init") == 0)
		ex = cmd_init(&a);
	else if (strcmp(cmd, "enroll") == 0)
		ex = cmd_enroll(&a);
	else if (strcmp(cmd, "attach") == 0)
		ex = cmd_attach(&a);
	else if (strcmp(cmd, "swarm") == 0)
		ex = cmd_swarm(&a);
	else {
		fprintf(stderr, "ueclient: unknown command \"%s\"\n", cmd);
		usage(stderr);
		ex = EX_USAGE;
	}
	curl_global_cleanup();
	return ex;
}
