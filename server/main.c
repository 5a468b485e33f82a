/* main.c — ca-server: dispatch the first argument to its subcommand. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "pki_keys.h"
#ifdef PROVCA_HAVE_HTTP
#include "http.h"
#endif

struct subcommand {
	const char *name;                  /* argv[1] */
	int (*run)(int argc, char **argv); /* argv from the name on */
	const char *summary;               /* one line for `ca-server --help` */
};

static const struct subcommand subcommands[] = {
	{ "init", cli_init, "create a CA, registry, config and first admin" },
#ifdef PROVCA_HAVE_HTTP
	{ "serve", http_serve_main, "run the HTTPS service" },
	{ "user", cli_user, "add portal users" },
#endif
	{ "manufacturer", cli_manufacturer, "add or list manufacturers" },
	{ "cmp-secret", cli_cmp_secret,
	    "create one-time secrets for CMP "
	    "enrollment with MAC protection" },
	{ "enroll", cli_enroll, "issue device certificates from CSRs" },
	{ "show", cli_show, "show one device" },
	{ "list", cli_list, "list devices" },
	{ "revoke", cli_revoke, "revoke a device certificate" },
	{ "suspend", cli_suspend, "suspend a device (certificateHold)" },
	{ "reinstate", cli_reinstate, "lift a suspension" },
	{ "crl", cli_crl,
	    "write the Device CA's CRL, or the Infrastructure CA's (DER)" },
	{ "principal", cli_principal,
	    "add, renew, list, disable or revoke principals" },
	{ "signer", cli_signer, "add an operator's provisioning signer" },
	{ "audit", cli_audit, "read the audit log" },
	{ "backup", cli_backup, "online copy of the registry" },
	{ "ca", cli_ca,
	    "the CA set: list, add, activate or retire a Device "
	    "CA (rollover)" },
	{ "root", cli_root,
	    "offline Root ceremonies: certify or renew an "
	    "intermediate, the Root's CRL" },
	{ "config", cli_config,
	    "show settings, or set public-url (URLs in new certificates)" },
};

static void usage(FILE *f)
{
	size_t i;

	fprintf(f, "usage: ca-server COMMAND [--data DIR] [options]\n\n");
	for (i = 0; i < sizeof(subcommands) / sizeof(subcommands[0]); i++)
		fprintf(f, "  %-13s %s\n", subcommands[i].name,
		    subcommands[i].summary);
	fprintf(f,
	    "\n`ca-server COMMAND --help` describes each; see "
	    "docs/ca-server.md.\n");
}

int main(int argc, char **argv)
{
	size_t i;
	int rc;

	/* No OpenSSL exit handler: a PKCS#11 module's own destructors may run
	 * first; pki_keys_shutdown finalises the token explicitly. */
	pki_keys_init();
	if (argc < 2) {
		usage(stderr);
		return CLI_USAGE;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		usage(stdout);
		return CLI_OK;
	}
	for (i = 0; i < sizeof(subcommands) / sizeof(subcommands[0]); i++)
		if (strcmp(argv[1], subcommands[i].name) == 0) {
			rc = subcommands[i].run(argc - 1, argv + 1);
			pki_keys_shutdown();
			return rc;
		}
	fprintf(stderr, "ca-server: unknown command %s\n", argv[1]);
	usage(stderr);
	return CLI_USAGE;
}
