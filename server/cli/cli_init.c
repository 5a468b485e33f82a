/* cli_init.c — `ca-server init` (a new CA in a data folder) and
 * `ca-server config` (show the settings, set public-url). */
#include "cli_opt.h"

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

#define CLI_MAX_HOSTNAMES 32

static const char init_usage[] =
    "ca-server init --data DIR [--org NAME] "
    "[--hostname H ...] [--public-url URL] [--admin-name NAME] "
    "(--key-pass-file F | --key-pass-env VAR | --plain-keys) "
    "[--root-dir DIR] [--device-key URI] "
    "[--infra-key URI] [--tls-key URI] [--cmp-key URI] [--pkcs11-module SO] "
    "[--pkcs11-pin-file F | --pkcs11-pin-env VAR] "
    "[--plain-url http://HOST:PORT] "
    "[--plain-listen HOST:PORT] [--pen N] [--example-oids] "
    "[--db postgresql://USER@HOST:PORT/DB]";

/* init's options and the --hostname values they point at. */
struct init_args {
	ca_init_opts_t o;
	const char *hosts[CLI_MAX_HOSTNAMES];
};

/* --pen N: a positive decimal IANA PEN below 2^32; 0, or -1 with *msg. */
static int init_pen_parse(uint32_t *out, const char *arg, const char **msg)
{
	unsigned long pen;
	char *end;

	errno = 0;
	pen = strtoul(arg, &end, 10);
	if (errno != 0 || *end != '\0' || arg[0] < '1' || arg[0] > '9' ||
	    pen > 4294967295UL) {
		*msg = "--pen must be a positive decimal number (an IANA PEN)";
		return -1;
	}
	*out = (uint32_t)pen;
	return 0;
}

/* init's options, into the CA's init options. */
static int init_opt(void *ctx, int ch, const char *arg, const char **msg)
{
	struct init_args *ia = ctx;
	ca_init_opts_t *o = &ia->o;

	switch (ch) {
	case 'o': o->org = arg; break;
	case 'u': o->public_base_url = arg; break;
	case 'a': o->admin_name = arg; break;
	case 'r': o->root_dir = arg; break;
	case 'K': o->plain_keys = 1; break;
	case 'D': o->device_key_uri = arg; break;
	case 'I': o->infra_key_uri = arg; break;
	case 'T': o->tls_key_uri = arg; break;
	case 'C': o->cmp_key_uri = arg; break;
	case 'M': o->pkcs11_module = arg; break;
	case 'P': o->pkcs11_pin_file = arg; break;
	case 'E': o->pkcs11_pin_env = arg; break;
	case 'U': o->plain_base_url = arg; break;
	case 'L': o->plain_listen = arg; break;
	case 'X': o->example_oids = 1; break;
	case 'B': o->db = arg; break;
	case 'N': return init_pen_parse(&o->pen, arg, msg);
	case 'H':
		if (o->n_hostnames == CLI_MAX_HOSTNAMES) {
			*msg = "too many --hostname";
			return -1;
		}
		ia->hosts[o->n_hostnames++] = arg;
		break;
	default: return -1;
	}
	return 0;
}

/* Say where init put what an operator needs next. */
static void init_print(const ca_init_opts_t *o, const char *data)
{
	char rd[PATH_MAX];

	printf("initialised CA in %s\n", data);
	printf("  root certificate: %s/root-ca.crt\n", data);
	if (o->root_dir != NULL)
		snprintf(rd, sizeof(rd), "%s", o->root_dir);
	else
		ca_root_dir_default(rd, sizeof(rd), data);
	printf("  offline Root key: %s/root-ca.key (keep it offline; "
	       "serve never opens it)\n",
	    rd);
	printf("  TLS certificate:  %s/server.crt\n", data);
	printf("  admin credential: %s/admin/admin.p12%s\n", data,
	    !o->plain_keys ? " (password: the key passphrase)" :
	                     " (password in admin.p12.pass)");
}

/* ca-server init: a new CA, registry, config and first admin. */
int cli_init(int argc, char **argv)
{
	static const struct option lo[] = { CLI_COMMON_LONGOPTS,
		{ "org", required_argument, NULL, 'o' },
		{ "hostname", required_argument, NULL, 'H' },
		{ "public-url", required_argument, NULL, 'u' },
		{ "admin-name", required_argument, NULL, 'a' },
		{ "root-dir", required_argument, NULL, 'r' },
		{ "plain-keys", no_argument, NULL, 'K' },
		{ "device-key", required_argument, NULL, 'D' },
		{ "infra-key", required_argument, NULL, 'I' },
		{ "tls-key", required_argument, NULL, 'T' },
		{ "cmp-key", required_argument, NULL, 'C' },
		{ "pkcs11-module", required_argument, NULL, 'M' },
		{ "pkcs11-pin-file", required_argument, NULL, 'P' },
		{ "pkcs11-pin-env", required_argument, NULL, 'E' },
		{ "plain-url", required_argument, NULL, 'U' },
		{ "plain-listen", required_argument, NULL, 'L' },
		{ "pen", required_argument, NULL, 'N' },
		{ "example-oids", no_argument, NULL, 'X' },
		{ "db", required_argument, NULL, 'B' }, { NULL, 0, NULL, 0 } };
	struct cli_common c = { 0 };
	struct init_args ia;
	ca_init_opts_t *o = &ia.o;
	char err[512] = "";
	int rc;

	memset(&ia, 0, sizeof(ia));
	o->hostnames = ia.hosts;
	rc = cli_opt_parse(&c, argc, argv, 1, lo, init_usage, init_opt, &ia);
	if (rc != CLI_OK)
		return rc == CLI_HELP_SHOWN ? CLI_OK : rc;
	if (c.data == NULL || optind != argc)
		return cli_usage_err(init_usage,
		    c.data == NULL ? "--data DIR is required" :
		                     "unexpected argument");
	o->data_dir = c.data;
	o->key_pass_file = c.pass_file;
	o->key_pass_env = c.pass_env;
	if (ca_init(o, err, sizeof(err)) != CA_OK)
		return cli_fail("init failed", err);
	init_print(o, c.data);
	return CLI_OK;
}

/* Set public_base_url in DATA/config.json and audit the change; when the
 * audit cannot be written the old URL is put back. */
static int config_public_url_cmd(const char *data, const char *url)
{
	char path[PATH_MAX], db[PATH_MAX], err[512] = "", err2[256] = "";
	ca_config_t old;
	reg_t *reg = NULL;
	int rc = CLI_FAIL;

	if ((size_t)snprintf(path, sizeof(path), "%s/config.json", data) >=
	    sizeof(path))
		return cli_fail("config", "--data path too long");
	if (config_load(&old, path, err, sizeof(err)) != CONFIG_OK)
		return cli_fail("cannot read config", err);
	if (ca_db_location(db, sizeof(db), data, err, sizeof(err)) != CA_OK)
		return cli_fail("not a CA folder", err);
	if (reg_open_existing(&reg, db, err, sizeof(err)) != REG_OK)
		return cli_fail("not a CA folder", err);
	if (config_public_url_set(path, url, err, sizeof(err)) != CONFIG_OK) {
		rc = cli_fail("public-url not changed", err);
		goto out;
	}
	if (ca_audit(reg, CLI_ACTOR, "config set", "public_base_url", err,
	        sizeof(err), "old", old.public_base_url, "new", url,
	        (const char *)NULL) != CA_OK) {
		if (config_public_url_set(path, old.public_base_url, err2,
		        sizeof(err2)) != CONFIG_OK)
			fprintf(stderr, "ca-server: could not restore %s: %s\n",
			    path, err2);
		rc = cli_fail("public-url not changed (audit failed)", err);
		goto out;
	}
	printf("public_base_url: %s (was %s); certificates issued from now on "
	       "carry it; restart a running ca-server serve\n",
	    url, old.public_base_url);
	rc = CLI_OK;
out:
	reg_close(reg);
	return rc;
}

/* Print every setting of DATA/config.json as JSON. */
static int config_show_cmd(const char *data)
{
	ca_config_t cfg;
	char path[PATH_MAX], err[512] = "", *s;

	if ((size_t)snprintf(path, sizeof(path), "%s/config.json", data) >=
	    sizeof(path))
		return cli_fail("config", "--data path too long");
	if (config_load(&cfg, path, err, sizeof(err)) != CONFIG_OK)
		return cli_fail("cannot read config", err);
	if ((s = config_to_json(&cfg)) == NULL)
		return cli_fail("config", "out of memory");
	printf("%s\n", s);
	free(s);
	return CLI_OK;
}

/* ca-server config: print every setting, or set public-url. */
int cli_config(int argc, char **argv)
{
	static const char *usage = "ca-server config --data DIR "
	                           "(show | set public-url URL)";
	static const struct option lo[] = { CLI_COMMON_LONGOPTS,
		{ NULL, 0, NULL, 0 } };
	struct cli_common c = { 0 };
	int rc;

	rc = cli_opt_parse(&c, argc, argv, 1, lo, usage, NULL, NULL);
	if (rc != CLI_OK)
		return rc == CLI_HELP_SHOWN ? CLI_OK : rc;
	if (c.data == NULL)
		return cli_usage_err(usage, "--data DIR is required");
	if (argc - optind == 3 && strcmp(argv[optind], "set") == 0 &&
	    strcmp(argv[optind + 1], "public-url") == 0)
		return config_public_url_cmd(c.data, argv[optind + 2]);
	if (argc - optind != 1 || strcmp(argv[optind], "show") != 0)
		return cli_usage_err(usage,
		    "expected `show` or `set public-url URL`");
	return config_show_cmd(c.data);
}
