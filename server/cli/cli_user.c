/* cli_user.c — `ca-server user add`: the first portal user from the
 * command line (later ones over the API, server/http/portal_users.c),
 * audited. Built with the HTTP service, whose portal store it uses. */
#include "cli_opt.h"

#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>

#include "portal.h"

static const char user_usage[] =
    "ca-server user add --data DIR --name NAME "
    "--role admin|manufacturer [--manufacturer-id ID] --password-file FILE";

struct user_args {
	const char *name, *role, *mfr, *pwfile;
};

/* user add's own options. */
static int user_opt(void *ctx, int ch, const char *arg, const char **msg)
{
	struct user_args *u = ctx;

	(void)msg;
	switch (ch) {
	case 'n': u->name = arg; return 0;
	case 'r': u->role = arg; return 0;
	case 'm': u->mfr = arg; return 0;
	case 'p': u->pwfile = arg; return 0;
	default: return -1;
	}
}

/* Add the user to the registry in data and audit it: the exit status. */
static int user_add(const char *data, const struct user_args *u,
    portal_role_t role)
{
	char pw[PORTAL_PW_MAX + 2], err[256], path[4096];
	reg_manufacturer_t m;
	reg_t *reg = NULL;
	int64_t id;
	int rc, status = CLI_USAGE;

	if (portal_password_read_file(pw, sizeof(pw), u->pwfile, err,
	        sizeof(err)) != PORTAL_OK) {
		fprintf(stderr, "ca-server user: %s\n", err);
		goto out;
	}
	if (ca_db_location(path, sizeof(path), data, err, sizeof(err)) !=
	        CA_OK ||
	    reg_open_existing(&reg, path, err, sizeof(err)) != REG_OK) {
		fprintf(stderr,
		    "ca-server user: cannot open the registry in %s: "
		    "%s\n",
		    data, err);
		status = CLI_FAIL;
		goto out;
	}
	if (role == PORTAL_ROLE_MANUFACTURER && u->mfr != NULL &&
	    strlen(u->mfr) <= REG_MFR_ID_MAX &&
	    reg_manufacturer_get(reg, &m, u->mfr, err, sizeof(err)) ==
	        REG_ERR_NOT_FOUND) {
		fprintf(stderr, "ca-server user: no manufacturer %s\n", u->mfr);
		goto out;
	}
	rc = portal_user_add(&id, reg, u->name, role, u->mfr, pw, strlen(pw),
	    reg_now(), err, sizeof(err));
	if (rc != PORTAL_OK) {
		fprintf(stderr, "ca-server user: %s\n", err);
		status = rc == PORTAL_E_DB ? CLI_FAIL : CLI_USAGE;
		goto out;
	}
	if (reg_audit_append(reg, "cli:user", "user.create", u->name, NULL, err,
	        sizeof(err)) != REG_OK)
		fprintf(stderr, "ca-server user: warning: not audited: %s\n",
		    err);
	printf("user %s added (%s%s%s)\n", u->name, portal_role_name(role),
	    u->mfr != NULL ? ", manufacturer " : "",
	    u->mfr != NULL ? u->mfr : "");
	status = CLI_OK;
out:
	OPENSSL_cleanse(pw, sizeof(pw));
	reg_close(reg);
	return status;
}

/* ca-server user add (--data defaults to ./data). */
int cli_user(int argc, char **argv)
{
	static const struct option lo[] = { CLI_COMMON_LONGOPTS,
		{ "name", required_argument, NULL, 'n' },
		{ "role", required_argument, NULL, 'r' },
		{ "manufacturer-id", required_argument, NULL, 'm' },
		{ "password-file", required_argument, NULL, 'p' },
		{ NULL, 0, NULL, 0 } };
	struct cli_common c = { 0 };
	struct user_args u = { NULL, NULL, NULL, NULL };
	portal_role_t role;
	int rc;

	if (argc < 2 || strcmp(argv[1], "add") != 0)
		return cli_usage_err(user_usage, NULL);
	rc = cli_opt_parse(&c, argc, argv, 2, lo, user_usage, user_opt, &u);
	if (rc != CLI_OK)
		return rc == CLI_HELP_SHOWN ? CLI_OK : rc;
	if (c.json || c.pass_file != NULL || c.pass_env != NULL ||
	    optind != argc)
		return cli_usage_err(user_usage,
		    "user add takes no --json, key "
		    "options or arguments");
	if (u.name == NULL || u.role == NULL || u.pwfile == NULL ||
	    portal_role_parse(&role, u.role) != PORTAL_OK)
		return cli_usage_err(user_usage, NULL);
	return user_add(c.data != NULL ? c.data : "data", &u, role);
}
