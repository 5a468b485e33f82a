/* cli_opt.h — what ca-server's subcommand files share: the options every
 * subcommand takes, one option loop with --help, --limit and --after
 * parsing, usage and failure lines, opening the CA, JSON and time output.
 * Only for server/cli/. */
#ifndef PROVCA_CLI_OPT_H
#define PROVCA_CLI_OPT_H

#include <getopt.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "ca_priv.h"
#include "cli.h"

#define CLI_ACTOR "cli"
/* cli_opt_parse's answer when --help printed the usage: exit CLI_OK. */
#define CLI_HELP_SHOWN (-1)

/* Options every subcommand shares. */
struct cli_common {
	const char *data;
	const char *pass_file;
	const char *pass_env;
	int json;
	int help;
	const char *help_usage; /* set before parsing: --help prints it
				 * instead of the usage errors print */
};

enum { CLI_O_DATA = 1000, CLI_O_PASS, CLI_O_JSON, CLI_O_HELP, CLI_O_PASS_ENV };

#define CLI_COMMON_LONGOPTS \
	{ "data", required_argument, NULL, CLI_O_DATA }, \
	    { "key-pass-file", required_argument, NULL, CLI_O_PASS }, \
	    { "key-pass-env", required_argument, NULL, CLI_O_PASS_ENV }, \
	    { "json", no_argument, NULL, CLI_O_JSON }, \
	{ \
		"help", no_argument, NULL, CLI_O_HELP \
	}

/* A subcommand's own option: 0 taken, -1 refused (*msg: why, or NULL). */
typedef int (*cli_opt_fn)(void *ctx, int ch, const char *arg, const char **msg);

/* Parse argv[first..] against lo (shared options into c, the rest to fn,
 * which may be NULL). Returns CLI_OK, CLI_USAGE (printed) or
 * CLI_HELP_SHOWN (usage printed on stdout). optind is left after them. */
int cli_opt_parse(struct cli_common *c, int argc, char **argv, int first,
    const struct option *lo, const char *usage, cli_opt_fn fn, void *ctx);

/* --limit N: 1..REG_LIST_MAX; 0, or -1 with *msg set. */
int cli_opt_limit(size_t *out, const char *arg, const char **msg);

/* --after CURSOR: a non-negative integer; 0, or -1 with *msg set. */
int cli_opt_after(int64_t *out, const char *arg, const char **msg);

/* Print "ca-server: msg" (when not NULL) and the usage; CLI_USAGE. */
int cli_usage_err(const char *usage, const char *msg);

/* Print "ca-server: what: err"; CLI_FAIL. */
int cli_fail(const char *what, const char *err);

/* Open the CA in c->data and a registry connection; CLI_OK, CLI_USAGE
 * (no --data) or CLI_FAIL, each printed. */
int cli_ca_open(const struct cli_common *c, ca_t **ca, reg_t **reg);

/* Close what cli_ca_open opened (NULL-safe). */
void cli_ca_close(ca_t *ca, reg_t *reg);

/* Print o indented on stdout; CLI_OK, or CLI_FAIL (out of memory, also
 * when o is NULL). */
int cli_json_print(const cJSON *o);

/* Write t as RFC 3339 UTC, or "-" for 0. */
void cli_time_format(char out[32], int64_t t);

/* Read a CSR (or any input up to CA_CSR_MAX) from path; prints errors. */
int cli_input_read(uint8_t **out, size_t *len, const char *path);

#endif
