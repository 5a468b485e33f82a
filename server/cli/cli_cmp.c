/* cli_cmp.c — `ca-server cmp-secret create`: one-time secrets for CMP's
 * MAC-protected enrollment (PBM) of a manufacturer's devices, one per
 * device (--count N: a batch, each single use), printed once. */
#include "cli_opt.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "ca_cmp.h"

static const char cmp_usage[] =
    "ca-server cmp-secret create --data DIR "
    "--manufacturer ID [--count N (1..1000, 1)] [--valid-hours H (1..720, "
    "24)] [--json]";

struct cmp_args {
	const char *mfr;
	long count, hours;
};

/* A whole decimal number in lo..hi from arg into out; 0, or -1. */
static int num_arg(long *out, const char *arg, long lo, long hi)
{
	char *end = NULL;
	long v;

	errno = 0;
	v = strtol(arg, &end, 10);
	if (errno != 0 || end == arg || *end != '\0' || v < lo || v > hi)
		return -1;
	*out = v;
	return 0;
}

/* cmp-secret's own options. */
static int cmp_opt(void *ctx, int ch, const char *arg, const char **msg)
{
	struct cmp_args *a = ctx;

	switch (ch) {
	case 'm': a->mfr = arg; return 0;
	case 'c':
		if (num_arg(&a->count, arg, 1, CA_CMP_SECRET_BATCH_MAX) == 0)
			return 0;
		*msg = "--count must be 1..1000";
		return -1;
	case 'v':
		if (num_arg(&a->hours, arg, 1,
		        CA_CMP_SECRET_VALID_MAX / 3600) == 0)
			return 0;
		*msg = "--valid-hours must be 1..720";
		return -1;
	default: return -1;
	}
}

/* Print the secrets: reference, secret and expiry per line, or JSON. */
static int cmp_print(const ca_cmp_secret_new_t *s, size_t n, int json)
{
	cJSON *arr = NULL, *o;
	char t[32];
	size_t i;
	int rc = CLI_OK;

	if (json && (arr = cJSON_CreateArray()) == NULL)
		return cli_fail("cmp-secret create", "out of memory");
	for (i = 0; i < n; i++) {
		cli_time_format(t, s[i].expires_at);
		if (!json) {
			printf("%s\t%s\t%s\n", s[i].ref, s[i].secret, t);
			continue;
		}
		if ((o = cJSON_CreateObject()) == NULL ||
		    !cJSON_AddItemToArray(arr, o) ||
		    cJSON_AddStringToObject(o, "ref", s[i].ref) == NULL ||
		    cJSON_AddStringToObject(o, "secret", s[i].secret) == NULL ||
		    cJSON_AddStringToObject(o, "expires_at", t) == NULL) {
			cJSON_Delete(arr);
			return cli_fail("cmp-secret create", "out of memory");
		}
	}
	if (json) {
		rc = cli_json_print(arr);
		cJSON_ArrayForEach(o, arr) /* wipe the copies */
		    OPENSSL_cleanse(cJSON_GetObjectItemCaseSensitive(o,
		                        "secret")
		                        ->valuestring,
		        CA_CMP_SECRET_LEN);
		cJSON_Delete(arr);
	}
	return rc;
}

/* cmp-secret create --manufacturer [--count] [--valid-hours]. */
static int cmp_create(const struct cli_common *c, const struct cmp_args *a)
{
	ca_cmp_secret_new_t *s;
	char err[512] = "";
	ca_t *ca = NULL;
	reg_t *reg = NULL;
	int rc;

	if (a->mfr == NULL)
		return cli_usage_err(cmp_usage, "--manufacturer is required");
	if ((s = calloc((size_t)a->count, sizeof(*s))) == NULL)
		return cli_fail("cmp-secret create", "out of memory");
	if ((rc = cli_ca_open(c, &ca, &reg)) != CLI_OK) {
		free(s);
		return rc;
	}
	rc = ca_cmp_secret_create(ca, reg, s, (size_t)a->count, a->mfr,
	    (int64_t)a->hours * 3600, CLI_ACTOR, err, sizeof(err));
	cli_ca_close(ca, reg);
	if (rc != CA_OK)
		rc = cli_fail("cmp-secret create", err);
	else
		rc = cmp_print(s, (size_t)a->count, c->json);
	OPENSSL_cleanse(s, (size_t)a->count * sizeof(*s));
	free(s);
	return rc;
}

/* ca-server cmp-secret create. */
int cli_cmp_secret(int argc, char **argv)
{
	static const struct option lo[] = { CLI_COMMON_LONGOPTS,
		{ "manufacturer", required_argument, NULL, 'm' },
		{ "count", required_argument, NULL, 'c' },
		{ "valid-hours", required_argument, NULL, 'v' },
		{ NULL, 0, NULL, 0 } };
	struct cli_common c = { 0 };
	struct cmp_args a = { NULL, 1, 24 };
	int rc;

	if (argc < 2)
		return cli_usage_err(cmp_usage, "create?");
	if (strcmp(argv[1], "--help") == 0) {
		printf("usage: %s\n", cmp_usage);
		return CLI_OK;
	}
	rc = cli_opt_parse(&c, argc, argv, 2, lo, cmp_usage, cmp_opt, &a);
	if (rc != CLI_OK)
		return rc == CLI_HELP_SHOWN ? CLI_OK : rc;
	if (optind != argc)
		return cli_usage_err(cmp_usage, "unexpected argument");
	if (strcmp(argv[1], "create") == 0)
		return cmp_create(&c, &a);
	return cli_usage_err(cmp_usage, "create?");
}
