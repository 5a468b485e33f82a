/* cli_manufacturer.c — `ca-server manufacturer add | list`. */
#include "cli_opt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char mfr_usage[] =
    "ca-server manufacturer add --data DIR "
    "--id ID --name NAME [--oui HEX6] | manufacturer list --data DIR "
    "[--json]";

struct mfr_args {
	const char *id, *name, *oui;
};

/* manufacturer's own options. */
static int mfr_opt(void *ctx, int ch, const char *arg, const char **msg)
{
	struct mfr_args *a = ctx;

	(void)msg;
	switch (ch) {
	case 'i': a->id = arg; return 0;
	case 'n': a->name = arg; return 0;
	case 'u': a->oui = arg; return 0;
	default: return -1;
	}
}

/* One manufacturer as a JSON object, or NULL (out of memory). */
static cJSON *mfr_json(const reg_manufacturer_t *m)
{
	cJSON *o = cJSON_CreateObject();

	if (o == NULL || cJSON_AddStringToObject(o, "id", m->id) == NULL ||
	    cJSON_AddStringToObject(o, "name", m->name) == NULL ||
	    cJSON_AddStringToObject(o, "oui", m->oui) == NULL ||
	    cJSON_AddNumberToObject(o, "created_at", (double)m->created_at) ==
	        NULL) {
		cJSON_Delete(o);
		return NULL;
	}
	return o;
}

/* Print the list as a JSON array; CLI_OK or CLI_FAIL. */
static int mfr_list_json(const reg_manufacturer_t *list, size_t n)
{
	cJSON *arr = cJSON_CreateArray(), *o;
	size_t i;
	int rc;

	for (i = 0; arr != NULL && i < n; i++) {
		if ((o = mfr_json(&list[i])) == NULL ||
		    !cJSON_AddItemToArray(arr, o)) {
			cJSON_Delete(o);
			cJSON_Delete(arr);
			return cli_fail("manufacturer list", "out of memory");
		}
	}
	rc = cli_json_print(arr);
	cJSON_Delete(arr);
	return rc;
}

/* manufacturer list: tab-separated lines or --json. */
static int mfr_list(const struct cli_common *c)
{
	reg_manufacturer_t *list = NULL;
	char err[512] = "";
	size_t n = 0, i;
	ca_t *ca = NULL;
	reg_t *reg = NULL;
	int rc;

	if ((rc = cli_ca_open(c, &ca, &reg)) != CLI_OK)
		return rc;
	rc = reg_manufacturer_list(reg, &list, &n, err, sizeof(err));
	cli_ca_close(ca, reg);
	if (rc != REG_OK)
		return cli_fail("manufacturer list", err);
	if (c->json) {
		rc = mfr_list_json(list, n);
	} else {
		for (i = 0; i < n; i++)
			printf("%s\t%s\t%s\n", list[i].id, list[i].name,
			    list[i].oui[0] ? list[i].oui : "-");
		rc = CLI_OK;
	}
	free(list);
	return rc;
}

/* manufacturer add --id --name [--oui]. */
static int mfr_add(const struct cli_common *c, const struct mfr_args *a)
{
	char err[512] = "";
	ca_t *ca = NULL;
	reg_t *reg = NULL;
	int rc;

	if (a->id == NULL || a->name == NULL)
		return cli_usage_err(mfr_usage, "--id and --name are required");
	if ((rc = cli_ca_open(c, &ca, &reg)) != CLI_OK)
		return rc;
	rc = ca_manufacturer_add(ca, reg, a->id, a->name, a->oui, CLI_ACTOR,
	    err, sizeof(err));
	cli_ca_close(ca, reg);
	if (rc != CA_OK)
		return cli_fail("manufacturer add", err);
	printf("manufacturer %s added\n", a->id);
	return CLI_OK;
}

/* ca-server manufacturer add | list. */
int cli_manufacturer(int argc, char **argv)
{
	static const struct option lo[] = { CLI_COMMON_LONGOPTS,
		{ "id", required_argument, NULL, 'i' },
		{ "name", required_argument, NULL, 'n' },
		{ "oui", required_argument, NULL, 'u' }, { NULL, 0, NULL, 0 } };
	struct cli_common c = { 0 };
	struct mfr_args a = { NULL, NULL, NULL };
	int rc;

	if (argc < 2)
		return cli_usage_err(mfr_usage, "add or list?");
	if (strcmp(argv[1], "--help") == 0) {
		printf("usage: %s\n", mfr_usage);
		return CLI_OK;
	}
	rc = cli_opt_parse(&c, argc, argv, 2, lo, mfr_usage, mfr_opt, &a);
	if (rc != CLI_OK)
		return rc == CLI_HELP_SHOWN ? CLI_OK : rc;
	if (optind != argc)
		return cli_usage_err(mfr_usage, "unexpected argument");
	if (strcmp(argv[1], "add") == 0)
		return mfr_add(&c, &a);
	if (strcmp(argv[1], "list") == 0)
		return mfr_list(&c);
	return cli_usage_err(mfr_usage, "add or list?");
}
