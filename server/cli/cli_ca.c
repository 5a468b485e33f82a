/* cli_ca.c — `ca-server ca ...`: the CA set of a data folder (rollover).
 *   list                 each CA with its id, role, state, subject, times
 *   add --cert F --key K [--kind device|infra]
 *                        a CA certified by the Root, state active
 *   activate ID          make it the issuing CA of its role
 *   retire ID            an active CA's final CRL; it signs nothing more
 * A running serve follows each change from its next request.
 * Exit status as cli.h; options through cli_opt.c like every subcommand. */
#include "cli_opt.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ca_cas.h"
#include "pki_keys.h"
#include "reg_cas.h"

static const char ca_usage[] =
    "ca-server ca list --data DIR [--json] [--key-pass-file F | "
    "--key-pass-env VAR]\n"
    "       ca-server ca add --data DIR --cert FILE --key FILE|pkcs11:URI "
    "[--kind device|infra] [--key-pass-file F | --key-pass-env VAR]\n"
    "       ca-server ca activate ID --data DIR [--key-pass-file F | "
    "--key-pass-env VAR]\n"
    "       ca-server ca retire ID --data DIR [--key-pass-file F | "
    "--key-pass-env VAR]";

/* The verb, its ID and ca's own options; the shared ones in common. */
struct ca_cli {
	struct cli_common common;
	const char *verb, *cert, *key, *id, *kind;
};

/* ca's own options: --cert, --key and --kind (add). */
static int ca_cli_opt(void *ctx, int ch, const char *arg, const char **msg)
{
	struct ca_cli *c = ctx;

	switch (ch) {
	case 'c': c->cert = arg; return 0;
	case 'k': c->key = arg; return 0;
	case 't':
		if (strcmp(arg, REG_CA_ROLE_DEVICE) != 0 &&
		    strcmp(arg, REG_CA_ROLE_INFRA) != 0) {
			*msg = "--kind is device or infra";
			return -1;
		}
		c->kind = arg;
		return 0;
	default: return -1;
	}
}

/* Parse argv (argv[1] the verb): CLI_OK, CLI_USAGE (printed) or
 * CLI_HELP_SHOWN. */
static int ca_cli_args(struct ca_cli *c, int argc, char **argv)
{
	static const struct option lo[] = { CLI_COMMON_LONGOPTS,
		{ "cert", required_argument, NULL, 'c' },
		{ "key", required_argument, NULL, 'k' },
		{ "kind", required_argument, NULL, 't' },
		{ NULL, 0, NULL, 0 } };
	int rc, ok;

	c->verb = argv[1];
	rc = cli_opt_parse(&c->common, argc, argv, 2, lo, ca_usage, ca_cli_opt,
	    c);
	if (rc != CLI_OK)
		return rc;
	if (optind < argc)
		c->id = argv[optind++];
	if (strcmp(c->verb, "add") == 0)
		ok = c->cert != NULL && c->key != NULL && c->id == NULL;
	else if (c->kind != NULL)
		ok = 0; /* the role of an existing CA is its own */
	else if (strcmp(c->verb, "activate") == 0 ||
	    strcmp(c->verb, "retire") == 0)
		ok = c->id != NULL;
	else
		ok = strcmp(c->verb, "list") == 0 && c->id == NULL;
	if (optind != argc || c->common.data == NULL || !ok)
		return cli_usage_err(ca_usage, NULL);
	return CLI_OK;
}

/* Print the CA set (text, or a JSON array). */
static int ca_list_print(reg_t *reg, int json)
{
	reg_ca_t *list = NULL;
	cJSON *arr = NULL, *o;
	char err[256] = "", t1[32], t2[32], *s;
	size_t n = 0, i;
	int bad = 0;

	if (reg_ca_list(reg, &list, &n, NULL, err, sizeof(err)) != REG_OK)
		return cli_fail("ca list", err);
	if (json && (arr = cJSON_CreateArray()) == NULL)
		bad = 1;
	for (i = 0; i < n && !bad; i++) {
		cli_time_format(t1, list[i].created_at);
		cli_time_format(t2, list[i].retired_at);
		if (!json) {
			printf("%lld\t%s\t%s\t%s\tcreated %s\tretired %s\n",
			    (long long)list[i].id, list[i].role, list[i].state,
			    list[i].subject, t1, t2);
			continue;
		}
		bad |= (o = cJSON_CreateObject()) == NULL ||
		    !cJSON_AddItemToArray(arr, o) ||
		    cJSON_AddNumberToObject(o, "id", (double)list[i].id) ==
		        NULL ||
		    cJSON_AddStringToObject(o, "role", list[i].role) == NULL ||
		    cJSON_AddStringToObject(o, "state", list[i].state) ==
		        NULL ||
		    cJSON_AddStringToObject(o, "subject", list[i].subject) ==
		        NULL ||
		    cJSON_AddStringToObject(o, "certificate_sha256",
		        list[i].cert_sha256) == NULL ||
		    cJSON_AddStringToObject(o, "created_at", t1) == NULL ||
		    (list[i].retired_at != 0 ?
		            cJSON_AddStringToObject(o, "retired_at", t2) :
		            cJSON_AddNullToObject(o, "retired_at")) == NULL;
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
	int rc, infra;

	if (c->id != NULL) {
		errno = 0;
		id = strtoll(c->id, &end, 10);
		if (errno || *end || id <= 0) {
			fprintf(stderr, "ca-server: ca %s: bad id %s\n",
			    c->verb, c->id);
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
		infra =
		    c->kind != NULL && strcmp(c->kind, REG_CA_ROLE_INFRA) == 0;
		rc = ca_ca_add(ca, reg, &added, c->kind, c->cert, key,
		    CLI_ACTOR, err, sizeof(err));
		if (rc == CA_OK)
			printf("%s CA %lld added (active); make it certify new "
			       "%s with: ca-server ca activate %lld\n",
			    infra ? "Infrastructure" : "Device",
			    (long long)added, infra ? "principals" : "devices",
			    (long long)added);
	} else if (strcmp(c->verb, "activate") == 0) {
		rc = ca_ca_activate(ca, reg, id, CLI_ACTOR, err, sizeof(err));
		if (rc == CA_OK)
			printf("CA %lld is issuing (a running serve uses it "
			       "from its next request)\n",
			    id);
	} else {
		rc = ca_ca_retire(ca, reg, id, CLI_ACTOR, err, sizeof(err));
		if (rc == CA_OK)
			printf("CA %lld retired; its final CRL stays "
			       "published\n",
			    id);
	}
	if (rc != CA_OK) {
		fprintf(stderr, "ca-server: ca %s: %s\n", c->verb, err);
		return CLI_FAIL;
	}
	return CLI_OK;
}

/* ca-server ca: list the CA set, or add, activate or retire a CA. */
int cli_ca(int argc, char **argv)
{
	struct ca_cli c;
	ca_t *ca = NULL;
	reg_t *reg = NULL;
	int rc;

	memset(&c, 0, sizeof(c));
	if (argc >= 2 &&
	    (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		printf("usage: %s\n", ca_usage);
		return CLI_OK;
	}
	if (argc < 2)
		return cli_usage_err(ca_usage, NULL);
	if ((rc = ca_cli_args(&c, argc, argv)) != CLI_OK)
		return rc == CLI_HELP_SHOWN ? CLI_OK : rc;
	if ((rc = cli_ca_open(&c.common, &ca, &reg)) != CLI_OK)
		return rc;
	rc = strcmp(c.verb, "list") == 0 ? ca_list_print(reg, c.common.json) :
	                                   ca_cli_change(ca, reg, &c);
	cli_ca_close(ca, reg);
	return rc;
}
