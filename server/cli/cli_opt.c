/* cli_opt.c — the option loop, --help, --limit / --after and the usage,
 * failure, CA-opening and output helpers every ca-server subcommand file
 * shares (server/cli/). */
#include "cli_opt.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "util.h"

/* Take one shared option into c; 1 if ch was one. */
static int common_opt(struct cli_common *c, int ch)
{
	switch (ch) {
	case CLI_O_DATA: c->data = optarg; return 1;
	case CLI_O_PASS: c->pass_file = optarg; return 1;
	case CLI_O_PASS_ENV: c->pass_env = optarg; return 1;
	case CLI_O_JSON: c->json = 1; return 1;
	case CLI_O_HELP: c->help = 1; return 1;
	default: return 0;
	}
}

/* The one option loop: shared options, then the subcommand's, then help. */
int cli_opt_parse(struct cli_common *c, int argc, char **argv, int first,
    const struct option *lo, const char *usage, cli_opt_fn fn, void *ctx)
{
	const char *msg;
	int ch;

	optind = first;
	while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		if (common_opt(c, ch))
			continue;
		msg = NULL;
		/* '?' is getopt's: unknown option or missing value, said. */
		if (ch == '?' || fn == NULL || fn(ctx, ch, optarg, &msg) != 0)
			return cli_usage_err(usage, msg);
	}
	if (c->help) {
		printf("usage: %s\n",
		    c->help_usage != NULL ? c->help_usage : usage);
		return CLI_HELP_SHOWN;
	}
	return CLI_OK;
}

/* --limit N, bounded as the registry's pages are. */
int cli_opt_limit(size_t *out, const char *arg, const char **msg)
{
	unsigned long v;
	char *end;

	errno = 0;
	v = strtoul(arg, &end, 10);
	if (errno || *end || v < 1 || v > REG_LIST_MAX) {
		*msg = "--limit is 1..1000";
		return -1;
	}
	*out = (size_t)v;
	return 0;
}

/* --after CURSOR, as printed by a previous page's "next cursor". */
int cli_opt_after(int64_t *out, const char *arg, const char **msg)
{
	long long v;
	char *end;

	errno = 0;
	v = strtoll(arg, &end, 10);
	if (errno || *end || v < 0) {
		*msg = "bad --after cursor";
		return -1;
	}
	*out = (int64_t)v;
	return 0;
}

/* One line naming the problem, then the usage. */
int cli_usage_err(const char *usage, const char *msg)
{
	if (msg != NULL)
		fprintf(stderr, "ca-server: %s\n", msg);
	fprintf(stderr, "usage: %s\n", usage);
	return CLI_USAGE;
}

/* One line: what failed and the library's message. */
int cli_fail(const char *what, const char *err)
{
	fprintf(stderr, "ca-server: %s%s%s\n", what, err[0] ? ": " : "", err);
	return CLI_FAIL;
}

/* Open the CA and a registry connection. */
int cli_ca_open(const struct cli_common *c, ca_t **ca, reg_t **reg)
{
	char err[512] = "";

	*ca = NULL;
	*reg = NULL;
	if (c->data == NULL) {
		fprintf(stderr, "ca-server: --data DIR is required\n");
		return CLI_USAGE;
	}
	if (ca_open_pass(ca, c->data, c->pass_file, c->pass_env, err,
	        sizeof(err)) != CA_OK)
		return cli_fail("cannot open CA", err);
	if (ca_reg_open(*ca, reg, err, sizeof(err)) != CA_OK) {
		ca_free(*ca);
		*ca = NULL;
		return cli_fail("cannot open registry", err);
	}
	return CLI_OK;
}

/* Close the registry connection, then the CA. */
void cli_ca_close(ca_t *ca, reg_t *reg)
{
	reg_close(reg);
	ca_free(ca);
}

/* Print a JSON document, indented, with a newline. */
int cli_json_print(const cJSON *o)
{
	char *s = o != NULL ? cJSON_Print(o) : NULL;

	if (s == NULL) {
		fprintf(stderr, "ca-server: out of memory\n");
		return CLI_FAIL;
	}
	printf("%s\n", s);
	free(s);
	return CLI_OK;
}

/* RFC 3339 UTC, "-" for an unset time. */
void cli_time_format(char out[32], int64_t t)
{
	struct tm tm;
	time_t tt = (time_t)t;

	if (t == 0 || gmtime_r(&tt, &tm) == NULL) {
		snprintf(out, 32, "-");
		return;
	}
	strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* Read an input file, bounded by CA_CSR_MAX. */
int cli_input_read(uint8_t **out, size_t *len, const char *path)
{
	char err[512] = "", *buf = NULL;

	if (ca_file_read(&buf, len, path, CA_CSR_MAX, err, sizeof(err)) !=
	    CA_OK) {
		fprintf(stderr, "ca-server: %s\n", err);
		return CLI_FAIL;
	}
	*out = (uint8_t *)buf;
	return CLI_OK;
}
