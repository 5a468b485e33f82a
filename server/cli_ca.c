/* cli_ca.c — `ca-server ca ...`: the CA set of a data folder (rollover).
 *   list                 each Device CA with its id, state, subject, times
 *   add --cert F --key K  a Device CA certified by the Root, state active
 *   activate ID          make it the issuing CA (restart serve)
 *   retire ID            an active CA's final CRL; it signs nothing more
 * Exit status as cli.c. */
#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "ca_cas.h"
#include "pki_keys.h"
#include "reg_cas.h"

#define CA_CLI_ACTOR "cli"

static const char ca_usage[] =
    "ca-server ca list --data DIR [--json] [--key-pass-file F | "
    "--key-pass-env VAR]\n"
    "       ca-server ca add --data DIR --cert FILE --key FILE|pkcs11:URI "
    "[--key-pass-file F | --key-pass-env VAR]\n"
    "       ca-server ca activate ID --data DIR [--key-pass-file F | "
    "--key-pass-env VAR]\n"
    "       ca-server ca retire ID --data DIR [--key-pass-file F | "
    "--key-pass-env VAR]";

struct ca_cli {
	const char *verb, *data, *cert, *key, *pass_file, *pass_env, *id;
	int json;
};

/* Parse argv (argv[1] the verb); -1 on a usage error. */
static int ca_cli_args(struct ca_cli *c, int argc, char **argv)
{
	static const struct option lo[] = {
		{ "data", required_argument, NULL, 'd' },
		{ "cert", required_argument, NULL, 'c' },
		{ "key", required_argument, NULL, 'k' },
		{ "key-pass-file", required_argument, NULL, 'p' },
		{ "key-pass-env", required_argument, NULL, 'e' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 }
	};
	int ch;

	if (argc < 2)
		return -1;
	c->verb = argv[1];
	optind = 2;
	while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (ch) {
		case 'd': c->data = optarg; break;
		case 'c': c->cert = optarg; break;
		case 'k': c->key = optarg; break;
		case 'p': c->pass_file = optarg; break;
		case 'e': c->pass_env = optarg; break;
		case 'j': c->json = 1; break;
		default: return -1;
		}
	}
	if (optind < argc)
		c->id = argv[optind++];
	if (optind != argc || c->data == NULL)
		return -1;
	if (strcmp(c->verb, "add") == 0)
		return c->cert != NULL && c->key != NULL && c->id == NULL ? 0 :
		    -1;
	if (strcmp(c->verb, "activate") == 0 || strcmp(c->verb, "retire") == 0)
		return c->id != NULL ? 0 : -1;
	return strcmp(c->verb, "list") == 0 && c->id == NULL ? 0 : -1;
}

/* UTC time t (0: "-") into out. */
static void ca_time(char out[32], int64_t t)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (t == 0 || gmtime_r(&tt, &tm) == NULL)
		snprintf(out, 32, "-");
	else
		strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* Print the CA set (text, or a JSON array). */
static int ca_list_print(reg_t *reg, int json)
{
	reg_ca_t *list = NULL;
	cJSON *arr = NULL, *o;
	char err[256] = "", t1[32], t2[32], *s;
	size_t n = 0, i;
	int bad = 0;

	if (reg_ca_list(reg, &list, &n, NULL, err, sizeof(err)) != REG_OK) {
		fprintf(stderr, "ca-server: ca list: %s\n", err);
		return CLI_FAIL;
	}
	if (json && (arr = cJSON_CreateArray()) == NULL)
		bad = 1;
	for (i = 0; i < n && !bad; i++) {
		ca_time(t1, list[i].created_at);
		ca_time(t2, list[i].retired_at);
		if (!json) {
			printf("%lld\t%s\t%s\t%s\tcreated %s\tretired %s\n",
			    (long long)list[i].id, list[i].role,
			    list[i].state, list[i].subject, t1, t2);
			continue;
		}
		bad |= (o = cJSON_CreateObject()) == NULL ||
		    !cJSON_AddItemToArray(arr, o) ||
		    cJSON_AddNumberToObject(o, "id", (double)list[i].id) == NULL ||
		    cJSON_AddStringToObject(o, "role", list[i].role) == NULL ||
		    cJSON_AddStringToObject(o, "state", list[i].state) == NULL ||
		    cJSON_AddStringToObject(o, "subject", list[i].subject) ==
		    NULL || cJSON_AddStringToObject(o, "certificate_sha256",
		    list[i].cert_sha256) == NULL ||
		    cJSON_AddStringToObject(o, "created_at", t1) == NULL ||
		    (list[i].retired_at != 0 ? cJSON_AddStringToObject(o,
		    "retired_at", t2) : cJSON_AddNullToObject(o,
		    "retired_at")) == NULL;
	}
	if (json && !bad && (s = cJSON_Print(arr)) != NULL) {
		printf("%s\n", s);
		free(s);
	} else if (json) {
		bad = 1;
	}
	cJSON_Delete(arr);
	reg_ca_list_free(list, n);
	if (bad)
		fprintf(stderr, "ca-server: ca list: out of memory\n");
	return bad ? CLI_FAIL : CLI_OK;
}

/* Run add, activate or retire on an open CA. */
static int ca_cli_change(ca_t *ca, reg_t *reg, const struct ca_cli *c)
{
	char err[512] = "", keypath[PATH_MAX], *end;
	const char *key = c->key;
	long long id = 0;
	int64_t added = 0;
	int rc;

	if (c->id != NULL) {
		errno = 0;
		id = strtoll(c->id, &end, 10);
		if (errno || *end || id <= 0) {
			fprintf(stderr, "ca-server: ca %s: bad id %s\n", c->verb,
			    c->id);
			return CLI_USAGE;
		}
	}
	if (strcmp(c->verb, "add") == 0) {
		/* A key file is named from the working folder, not DIR. */
		if (!pki_key_ref_is_pkcs11(key)) {
			if (realpath(key, keypath) == NULL) {
				fprintf(stderr, "ca-server: ca add: %s: %s\n",
				    key, strerror(errno));
				return CLI_FAIL;
			}
			key = keypath;
		}
		rc = ca_ca_add(ca, reg, &added, c->cert, key, CA_CLI_ACTOR,
		    err, sizeof(err));
		if (rc == CA_OK)
			printf("Device CA %lld added (active); make it issue new "
			    "devices with: ca-server ca activate %lld\n",
			    (long long)added, (long long)added);
	} else if (strcmp(c->verb, "activate") == 0) {
		rc = ca_ca_activate(ca, reg, id, CA_CLI_ACTOR, err,
		    sizeof(err));
		if (rc == CA_OK)
			printf("Device CA %lld is issuing; restart serve\n", id);
	} else {
		rc = ca_ca_retire(ca, reg, id, CA_CLI_ACTOR, err, sizeof(err));
		if (rc == CA_OK)
			printf("Device CA %lld retired; its final CRL stays "
			    "published\n", id);
	}
	if (rc != CA_OK) {
		fprintf(stderr, "ca-server: ca %s: %s\n", c->verb, err);
		return CLI_FAIL;
	}
	return CLI_OK;
}

int cli_ca(int argc, char **argv)
{
	struct ca_cli c;
	char err[512] = "";
	ca_t *ca = NULL;
	reg_t *reg = NULL;
	int rc;

	memset(&c, 0, sizeof(c));
	if (argc >= 2 && (strcmp(argv[1], "--help") == 0 ||
	    strcmp(argv[1], "-h") == 0)) {
		printf("usage: %s\n", ca_usage);
		return CLI_OK;
	}
	if (ca_cli_args(&c, argc, argv) != 0) {
		fprintf(stderr, "usage: %s\n", ca_usage);
		return CLI_USAGE;
	}
	if (ca_open_pass(&ca, c.data, c.pass_file, c.pass_env, err,
	    sizeof(err)) != CA_OK || ca_reg_open(ca, &reg, err, sizeof(err)) !=
	    CA_OK) {
		fprintf(stderr, "ca-server: ca %s: %s\n", c.verb, err);
		ca_free(ca);
		return CLI_FAIL;
	}
	rc = strcmp(c.verb, "list") == 0 ? ca_list_print(reg, c.json) :
	    ca_cli_change(ca, reg, &c);
	reg_close(reg);
	ca_free(ca);
	return rc;
}
