/* main.c — the corehook program: serve, init, subscribers, av, nas-sec,
 * suci deconceal.
 * Exit status: 0 success, 1 runtime failure, 2 usage error. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "aka.h"
#include "ch_int.h"
#include "corehook.h"
#include "pki_keys.h"
#include "sbi.h"
#include "sec_tool.h"
#include "serve.h"
#include "subs.h"
#include "suci.h"
#include "util.h"

static void usage(FILE *fp)
{
	fprintf(fp,
	    "usage: corehook serve --config FILE [--pcap FILE]\n"
	    "       corehook init --config FILE [--ca-url URL] [--client-cert F]"
	    " [--client-key F]\n"
	    "                     [--ca-root F] [--signer-cert F]"
	    " [--signer-chain F] [--signer-key F] [--op HEX]\n"
	    "                     [--sbi-listen ADDR:PORT] [--nrf URI]\n"
	    "       corehook subscribers list|export [--all] --config FILE\n"
	    "       corehook subscribers show SUPI --config FILE\n"
	    "       corehook av --k K (--op OP | --opc OPC) --rand R --sqn S"
	    " --amf A [--snn NAME]\n"
	    "       corehook nas-sec nia2|nea2 --key HEX --count HEX --bearer N"
	    " --direction 0|1\n"
	    "                     --length BITS --msg HEX\n"
	    "       corehook nas-sec kdf --kamf HEX --alg-type 1|2 --alg-id N\n"
	    "       corehook suci deconceal --suci STRING --hn-key FILE_OR_HEX\n"
	    "       corehook suci keygen --config FILE\n");
}

/* Value of "--name V" or "--name=V" at argv[*i]; NULL if not this option. */
static const char *opt(int argc, char **argv, int *i, const char *name)
{
	size_t n = strlen(name);

	if (strncmp(argv[*i], name, n) != 0)
		return NULL;
	if (argv[*i][n] == '=')
		return argv[*i] + n + 1;
	if (argv[*i][n] == '\0' && *i + 1 < argc)
		return argv[++*i];
	return NULL;
}

static int cmd_serve(int argc, char **argv)
{
	const char *config = NULL, *pcap = NULL, *v;
	corehook_config *cfg = NULL;
	char err[512] = "";
	int i, rc;

	for (i = 0; i < argc; i++) {
		if ((v = opt(argc, argv, &i, "--config")) != NULL)
			config = v;
		else if ((v = opt(argc, argv, &i, "--pcap")) != NULL)
			pcap = v;
		else {
			fprintf(stderr, "corehook serve: unknown option %s\n",
			    argv[i]);
			return 2;
		}
	}
	if (config == NULL) {
		usage(stderr);
		return 2;
	}
	if (corehook_config_load(&cfg, config, err, sizeof(err)) !=
	    COREHOOK_OK) {
		fprintf(stderr, "corehook: %s\n", err);
		return 1;
	}
	rc = serve_run(cfg, pcap, err, sizeof(err));
	if (rc != 0)
		fprintf(stderr, "corehook: %s\n", err);
	corehook_config_free(cfg);
	return rc == 0 ? 0 : 1;
}

static int cmd_init(int argc, char **argv)
{
	const char *config = NULL, *url = NULL, *cc = NULL, *ck = NULL,
	           *root = NULL, *sc = NULL, *sch = NULL, *sk = NULL,
	           *op = NULL, *v, *sbi_listen = NULL, *nrf = NULL;
	char err[512] = "";
	int i;

	for (i = 0; i < argc; i++) {
		if ((v = opt(argc, argv, &i, "--config")) != NULL)
			config = v;
		else if ((v = opt(argc, argv, &i, "--ca-url")) != NULL)
			url = v;
		else if ((v = opt(argc, argv, &i, "--client-cert")) != NULL)
			cc = v;
		else if ((v = opt(argc, argv, &i, "--client-key")) != NULL)
			ck = v;
		else if ((v = opt(argc, argv, &i, "--ca-root")) != NULL)
			root = v;
		else if ((v = opt(argc, argv, &i, "--signer-cert")) != NULL)
			sc = v;
		else if ((v = opt(argc, argv, &i, "--signer-chain")) != NULL)
			sch = v;
		else if ((v = opt(argc, argv, &i, "--signer-key")) != NULL)
			sk = v;
		else if ((v = opt(argc, argv, &i, "--op")) != NULL)
			op = v;
		else if ((v = opt(argc, argv, &i, "--sbi-listen")) != NULL)
			sbi_listen = v;
		else if ((v = opt(argc, argv, &i, "--nrf")) != NULL)
			nrf = v;
		else {
			fprintf(stderr, "corehook init: unknown option %s\n",
			    argv[i]);
			return 2;
		}
	}
	if (config == NULL) {
		usage(stderr);
		return 2;
	}
	switch (corehook_config_write_default(config, url, cc, ck, root, sc,
	    sch, sk, op, err, sizeof(err))) {
	case COREHOOK_OK:
		/* The SBI (corehook as a UDM) is added when asked for. */
		if ((sbi_listen != NULL || nrf != NULL) &&
		    sbi_config_write(config, sbi_listen, nrf, err,
		        sizeof(err)) != 0) {
			fprintf(stderr, "corehook init: %s\n", err);
			return 1;
		}
		printf("wrote %s\n", config);
		return 0;
	case COREHOOK_ERR_ARG:
		fprintf(stderr, "corehook init: %s\n", err);
		return 2;
	default: fprintf(stderr, "corehook init: %s\n", err); return 1;
	}
}

static void fmt_time(char *out, size_t cap, int64_t t)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (t == 0 || gmtime_r(&tt, &tm) == NULL) {
		snprintf(out, cap, "-");
		return;
	}
	strftime(out, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static int print_list(const subs_record_t *r, void *arg)
{
	char created[32];

	(void)arg;
	fmt_time(created, sizeof(created), r->created_at);
	printf("%-15s  %-8s  %-20s  %14llu  %s\n", r->supi,
	    subs_state_name(r->state), created, (unsigned long long)r->sqn,
	    r->device_id);
	return 0;
}

static int print_export(const subs_record_t *r, void *arg)
{
	char ki[33], opc[33], amf[5];

	(void)arg;
	util_hex_encode(ki, r->ki, 16);
	util_hex_encode(opc, r->opc, 16);
	util_hex_encode(amf, r->amf, 2);
	printf("%s,%s,%s,%s,%llu\n", r->supi, ki, opc, amf,
	    (unsigned long long)r->sqn);
	OPENSSL_cleanse(ki, sizeof(ki));
	OPENSSL_cleanse(opc, sizeof(opc));
	return 0;
}

static int cmd_subscribers(int argc, char **argv)
{
	const char *config = NULL, *action = NULL, *supi = NULL, *v;
	corehook_config *cfg = NULL;
	subs_db *db = NULL;
	subs_record_t rec;
	char err[512] = "", created[32], retired[32], amf[5];
	int i, all = 0, rc = 1;

	memset(&rec, 0, sizeof(rec));
	for (i = 0; i < argc; i++) {
		if ((v = opt(argc, argv, &i, "--config")) != NULL)
			config = v;
		else if (strcmp(argv[i], "--all") == 0)
			all = 1;
		else if (argv[i][0] == '-') {
			fprintf(stderr,
			    "corehook subscribers: unknown option %s\n",
			    argv[i]);
			return 2;
		} else if (action == NULL)
			action = argv[i];
		else if (supi == NULL)
			supi = argv[i];
		else {
			usage(stderr);
			return 2;
		}
	}
	if (config == NULL || action == NULL ||
	    (strcmp(action, "show") == 0) != (supi != NULL) ||
	    (strcmp(action, "list") != 0 && strcmp(action, "show") != 0 &&
	        strcmp(action, "export") != 0)) {
		usage(stderr);
		return 2;
	}
	if (corehook_config_load(&cfg, config, err, sizeof(err)) !=
	        COREHOOK_OK ||
	    subs_open(&db, corehook_config_db_path(cfg), err, sizeof(err)) !=
	        SUBS_OK) {
		fprintf(stderr, "corehook subscribers: %s\n", err);
		goto out;
	}
	if (strcmp(action, "list") == 0) {
		printf("%-15s  %-8s  %-20s  %14s  %s\n", "SUPI", "STATUS",
		    "CREATED", "SQN", "DEVICE");
		if (subs_foreach(db, all, print_list, NULL, err, sizeof(err)) !=
		    SUBS_OK) {
			fprintf(stderr, "corehook subscribers: %s\n", err);
			goto out;
		}
	} else if (strcmp(action, "export") == 0) {
		/* The only place Ki is ever shown: for subscriber tools. */
		printf("IMSI,Ki,OPc,AMF,SQN\n");
		if (subs_foreach(db, 0, print_export, NULL, err, sizeof(err)) !=
		    SUBS_OK) {
			fprintf(stderr, "corehook subscribers: %s\n", err);
			goto out;
		}
	} else {
		int r = subs_find_supi(db, &rec, supi, err, sizeof(err));

		if (r != SUBS_OK) {
			fprintf(stderr, "corehook subscribers: %s\n", err);
			rc = r == SUBS_INVALID ? 2 : 1;
			goto out;
		}
		fmt_time(created, sizeof(created), rec.created_at);
		fmt_time(retired, sizeof(retired), rec.retired_at);
		util_hex_encode(amf, rec.amf, 2);
		printf("supi: %s\ndevice: %s\nstatus: %s\namf: %s\nsqn: %llu\n"
		       "profile: %s\ncreated: %s\n",
		    rec.supi, rec.device_id, subs_state_name(rec.state), amf,
		    (unsigned long long)rec.sqn, rec.profile, created);
	}
	fflush(stdout);
	rc = 0;
out:
	subs_record_wipe(&rec);
	subs_close(db);
	corehook_config_free(cfg);
	return rc;
}

static int cmd_av(int argc, char **argv)
{
	aka_av_args_t a;
	char err[512] = "";
	int rc;

	if (aka_av_args_parse(&a, argc, argv, err, sizeof(err)) != AKA_OK) {
		fprintf(stderr, "corehook av: %s\n", err);
		usage(stderr);
		aka_av_args_clear(&a);
		return 2;
	}
	rc = aka_av_write(stdout, &a, err, sizeof(err));
	aka_av_args_clear(&a);
	if (rc != AKA_OK) {
		fprintf(stderr, "corehook av: %s\n", err);
		return 1;
	}
	return fflush(stdout) == 0 ? 0 : 1;
}

/* `corehook suci keygen --config FILE`: the configured home network key
 * pair (suci.profile, suci.key_id) into suci.keys_dir/hn-<id>.pem. */
static int cmd_suci_keygen(int argc, char **argv)
{
	const char *config = NULL, *v;
	corehook_config *cfg = NULL;
	char err[512] = "", path[CH_PATH_MAX + 32], hex[2 * 33 + 1];
	uint8_t pub[33];
	size_t publen = 0;
	EVP_PKEY *k = NULL;
	int i, rc = 1;

	for (i = 0; i < argc; i++) {
		if ((v = opt(argc, argv, &i, "--config")) != NULL)
			config = v;
		else {
			usage(stderr);
			return 2;
		}
	}
	if (config == NULL) {
		usage(stderr);
		return 2;
	}
	if (corehook_config_load(&cfg, config, err, sizeof(err)) !=
	        COREHOOK_OK ||
	    ch_suci_keygen(cfg, err, sizeof(err)) != COREHOOK_OK ||
	    ch_suci_key_path(path, sizeof(path), cfg, cfg->suci_key_id) != 0) {
		fprintf(stderr, "corehook suci keygen: %s\n", err);
		goto out;
	}
	if (suci_hn_key_load(&k, cfg->suci_scheme, path, err, sizeof(err)) !=
	        SUCI_OK ||
	    suci_hn_pub_get(pub, sizeof(pub), &publen, k, err, sizeof(err)) !=
	        SUCI_OK) {
		fprintf(stderr, "corehook suci keygen: %s\n", err);
		goto out;
	}
	util_hex_encode(hex, pub, publen);
	/* PUBLIC-KEY is what subscriptions carry and what a device's policy
	 * names as the core's onboarding key (docs/protocol.md). */
	printf("KEY: %s\nPROFILE: %c\nKEY-ID: %u\nPUBLIC-KEY: %s\n", path,
	    cfg->suci_scheme == 1 ? 'A' : 'B', cfg->suci_key_id, hex);
	rc = fflush(stdout) == 0 ? 0 : 1;
out:
	EVP_PKEY_free(k);
	corehook_config_free(cfg);
	return rc;
}

/* `corehook nas-sec ...` and `corehook suci deconceal ...`: one "NAME:
 * value" line; exit 2 on bad input, 1 when a valid input fails. */
static int cmd_sec_tool(const char *cmd, int argc, char **argv)
{
	char err[512] = "";
	int rc;

	if (strcmp(cmd, "nas-sec") == 0)
		rc = sec_tool_nas(stdout, argc, argv, err, sizeof(err));
	else if (argc >= 1 && strcmp(argv[0], "keygen") == 0)
		return cmd_suci_keygen(argc - 1, argv + 1);
	else if (argc >= 1 && strcmp(argv[0], "deconceal") == 0)
		rc = sec_tool_suci_deconceal(stdout, argc - 1, argv + 1, err,
		    sizeof(err));
	else {
		usage(stderr);
		return 2;
	}
	if (rc != SEC_TOOL_OK) {
		fprintf(stderr, "corehook %s: %s\n", cmd, err);
		return rc == SEC_TOOL_USAGE ? 2 : 1;
	}
	return fflush(stdout) == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
	int rc;

	/* No OpenSSL exit handler (a PKCS#11 module's destructors may run
	 * first); the token is finalised explicitly after serve. */
	pki_keys_init();
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (strcmp(argv[1], "serve") == 0) {
		rc = cmd_serve(argc - 2, argv + 2);
		pki_keys_shutdown();
		return rc;
	}
	if (strcmp(argv[1], "init") == 0)
		return cmd_init(argc - 2, argv + 2);
	if (strcmp(argv[1], "subscribers") == 0)
		return cmd_subscribers(argc - 2, argv + 2);
	if (strcmp(argv[1], "av") == 0)
		return cmd_av(argc - 2, argv + 2);
	if (strcmp(argv[1], "nas-sec") == 0 || strcmp(argv[1], "suci") == 0)
		return cmd_sec_tool(argv[1], argc - 2, argv + 2);
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "help") == 0) {
		usage(stdout);
		return 0;
	}
	fprintf(stderr, "corehook: unknown command %s\n", argv[1]);
	usage(stderr);
	return 2;
}
