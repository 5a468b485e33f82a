/* cli_principal.c — `ca-server principal add | renew | list | disable |
 * revoke` and `ca-server signer add` (a principal of role signer). */
#include "cli_opt.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/crypto.h>

#include "util.h"

/* Bytes of randomness in a generated PKCS#12 password. */
#define P12_PASS_RANDOM 16

/* Write the generated credentials into dir (created 0700 if absent). */
static int write_creds(const char *dir, const char *name,
    const ca_principal_creds_t *cr, const char *p12pass, int pass_file)
{
	char path[PATH_MAX], err[512] = "";
	struct stat sb;
	int rc;

	if (stat(dir, &sb) != 0 && mkdir(dir, 0700) != 0) {
		fprintf(stderr, "ca-server: %s: %s\n", dir, strerror(errno));
		return CLI_FAIL;
	}
	snprintf(path, sizeof(path), "%s/%s.crt", dir, name);
	rc = ca_file_write(path, cr->cert_pem, strlen(cr->cert_pem), 0644, err,
	    sizeof(err));
	snprintf(path, sizeof(path), "%s/%s-chain.pem", dir, name);
	if (rc == CA_OK)
		rc = ca_file_write(path, cr->chain_pem, strlen(cr->chain_pem),
		    0644, err, sizeof(err));
	snprintf(path, sizeof(path), "%s/%s.key", dir, name);
	if (rc == CA_OK)
		rc = ca_file_write(path, cr->key_pem, strlen(cr->key_pem), 0600,
		    err, sizeof(err));
	snprintf(path, sizeof(path), "%s/%s.p12", dir, name);
	if (rc == CA_OK)
		rc = ca_file_write(path, cr->p12, cr->p12_len, 0600, err,
		    sizeof(err));
	snprintf(path, sizeof(path), "%s/%s.p12.pass", dir, name);
	if (rc == CA_OK && !pass_file)
		rc = ca_file_write(path, p12pass, strlen(p12pass), 0600, err,
		    sizeof(err));
	if (rc != CA_OK)
		return cli_fail("write credentials", err);
	return CLI_OK;
}

/* principal add / renew / signer add: what the options asked for. */
struct add_args {
	ca_principal_attrs_t a;
	const char *fixed_role; /* "signer" for signer add */
	const char *csr_path, *out, *pass_path;
	int renew;
};

/* add's and renew's options; a renewal keeps the name, role and
 * manufacturer, signer add its role. */
static int add_opt(void *ctx, int ch, const char *arg, const char **msg)
{
	struct add_args *p = ctx;

	switch (ch) {
	case 'r':
		if (p->fixed_role != NULL || p->renew) {
			*msg = p->renew ? "a renewal keeps the role" :
			                  "signer add takes no --role";
			return -1;
		}
		p->a.role = arg;
		return 0;
	case 'n':
		if (p->renew) {
			*msg = "NAME is an argument";
			return -1;
		}
		p->a.name = arg;
		return 0;
	case 'm':
		if (p->renew) {
			*msg = "a renewal keeps the manufacturer";
			return -1;
		}
		p->a.manufacturer_id = arg;
		return 0;
	case 'c': p->csr_path = arg; return 0;
	case 'o': p->out = arg; return 0;
	case 'p': p->pass_path = arg; return 0;
	case 'R':
		if (!p->renew)
			return -1;
		p->a.revoke_previous = 1;
		return 0;
	default: return -1;
	}
}

/* Certify the CSR, or generate a key and its PKCS#12 (p12pass: the
 * file's, else a random one written into it); CA_OK or err set. */
static int add_certify(ca_t *ca, reg_t *reg, ca_principal_creds_t *cr,
    const struct add_args *p, const uint8_t *csr, size_t csr_len,
    char p12pass[CA_PASS_MAX + 1], char *err, size_t errlen)
{
	uint8_t rnd[P12_PASS_RANDOM];

	if (csr != NULL)
		return ca_principal_add_csr(ca, reg, cr, &p->a, csr, csr_len,
		    CLI_ACTOR, err, errlen);
	if (p12pass[0] == '\0') {
		if (util_random(rnd, sizeof(rnd)) != 0) {
			snprintf(err, errlen, "no randomness");
			return CA_ERR_INTERNAL;
		}
		util_hex_encode(p12pass, rnd, sizeof(rnd));
	}
	return ca_principal_add_generated(ca, reg, cr, &p->a, p12pass,
	    p->pass_path != NULL ? p12pass : NULL, CLI_ACTOR, err, errlen);
}

/* Hand out what was made: files in --out, or the certificate on stdout. */
static int add_output(const struct add_args *p, const ca_principal_creds_t *cr,
    const char *p12pass)
{
	int rc;

	if (p->out == NULL) {
		fputs(cr->cert_pem, stdout);
		return CLI_OK;
	}
	rc = write_creds(p->out, p->a.name, cr, p12pass, p->pass_path != NULL);
	if (rc == CLI_OK && p->renew)
		printf("principal %s renewed; credentials in %s/\n", p->a.name,
		    p->out);
	else if (rc == CLI_OK)
		printf("principal %s (%s) added; credentials in %s/\n",
		    p->a.name, p->a.role, p->out);
	return rc;
}

/* Read the CSR or password file, open the CA, certify, hand out. */
static int add_run(const struct cli_common *c, struct add_args *p)
{
	const char *what = p->renew ? "principal renew" : "principal add";
	char err[512] = "", p12pass[CA_PASS_MAX + 1] = "";
	ca_principal_creds_t cr;
	uint8_t *csr = NULL;
	size_t csr_len = 0;
	ca_t *ca = NULL;
	reg_t *reg = NULL;
	int rc;

	memset(&cr, 0, sizeof(cr));
	if (p->csr_path != NULL &&
	    cli_input_read(&csr, &csr_len, p->csr_path) != CLI_OK)
		return CLI_FAIL;
	if (p->pass_path != NULL &&
	    ca_pass_read(p12pass, p->pass_path, err, sizeof(err)) != CA_OK) {
		rc = cli_fail("--out-pass-file", err);
		goto out;
	}
	if ((rc = cli_ca_open(c, &ca, &reg)) != CLI_OK)
		goto out;
	rc = add_certify(ca, reg, &cr, p, csr, csr_len, p12pass, err,
	    sizeof(err));
	cli_ca_close(ca, reg);
	if (rc != CA_OK)
		rc = cli_fail(what, err);
	else
		rc = add_output(p, &cr, p12pass);
out:
	free(csr);
	OPENSSL_cleanse(p12pass, sizeof(p12pass));
	ca_principal_creds_clear(&cr);
	return rc;
}

/* principal add / signer add (fixed_role "signer") / principal renew. */
static int principal_add(int argc, char **argv, const char *fixed_role,
    int renew)
{
	static const char *add_usage =
	    "ca-server principal add --data DIR "
	    "--role operator|manufacturer|admin|signer --name NAME "
	    "[--manufacturer-id ID] (--csr FILE | --out DIR "
	    "[--out-pass-file F])";
	static const char *renew_usage =
	    "ca-server principal renew NAME "
	    "--data DIR (--csr FILE | --out DIR [--out-pass-file F]) "
	    "[--revoke-previous]";
	static const struct option lo[] = { CLI_COMMON_LONGOPTS,
		{ "role", required_argument, NULL, 'r' },
		{ "name", required_argument, NULL, 'n' },
		{ "manufacturer-id", required_argument, NULL, 'm' },
		{ "csr", required_argument, NULL, 'c' },
		{ "out", required_argument, NULL, 'o' },
		{ "out-pass-file", required_argument, NULL, 'p' },
		{ "revoke-previous", no_argument, NULL, 'R' },
		{ NULL, 0, NULL, 0 } };
	const char *usage = renew ? renew_usage : add_usage;
	struct cli_common c = { 0 };
	struct add_args p;
	int rc;

	memset(&p, 0, sizeof(p));
	p.a.role = fixed_role;
	p.a.renew = renew;
	p.fixed_role = fixed_role;
	p.renew = renew;
	rc = cli_opt_parse(&c, argc, argv, 2, lo, usage, add_opt, &p);
	if (rc != CLI_OK)
		return rc == CLI_HELP_SHOWN ? CLI_OK : rc;
	if (renew && optind == argc - 1)
		p.a.name = argv[optind++];
	if (optind != argc || (!renew && p.a.role == NULL) ||
	    p.a.name == NULL || (p.csr_path == NULL) == (p.out == NULL))
		return cli_usage_err(usage,
		    renew ? "NAME and one of --csr or "
		            "--out are required" :
		            "--role, --name and one of --csr "
		            "or --out are required");
	return add_run(&c, &p);
}

static const char principal_usage[] =
    "ca-server principal add|renew|list|"
    "disable|revoke --data DIR ... (see --help of each)";
static const char revoke_usage[] =
    "ca-server principal revoke NAME "
    "--data DIR --reason REASON (unspecified|keyCompromise|"
    "cACompromise|affiliationChanged|superseded|cessationOfOperation|"
    "privilegeWithdrawn|aACompromise)";

/* principal list: tab-separated lines, or the API's JSON objects. */
static int principal_list(const struct cli_common *c)
{
	reg_principal_t *list = NULL;
	char err[512] = "", t[32];
	cJSON *arr = NULL, *o;
	size_t n = 0, i;
	ca_t *ca = NULL;
	reg_t *reg = NULL;
	int rc;

	if ((rc = cli_ca_open(c, &ca, &reg)) != CLI_OK)
		return rc;
	rc = reg_principal_list(reg, &list, &n, err, sizeof(err));
	cli_ca_close(ca, reg);
	if (rc != REG_OK)
		return cli_fail("principal list", err);
	if (c->json && (arr = cJSON_CreateArray()) == NULL) {
		free(list);
		return cli_fail("principal list", "out of memory");
	}
	for (i = 0; i < n; i++) {
		if (arr == NULL) {
			cli_time_format(t, list[i].not_after);
			printf("%s\t%s\t%s\t%s%s\t%s\n", list[i].name,
			    list[i].role,
			    list[i].manufacturer_id[0] ?
			        list[i].manufacturer_id :
			        "-",
			    list[i].status,
			    list[i].cert_revoked ? ",cert-revoked" : "", t);
		} else if ((o = ca_principal_json(&list[i])) == NULL ||
		    !cJSON_AddItemToArray(arr, o)) {
			cJSON_Delete(o);
			cJSON_Delete(arr);
			free(list);
			return cli_fail("principal list", "out of memory");
		}
	}
	rc = arr != NULL ? cli_json_print(arr) : CLI_OK;
	cJSON_Delete(arr);
	free(list);
	return rc;
}

/* principal revoke NAME --reason REASON. */
static int principal_revoke(const struct cli_common *c, const char *name,
    const char *reason_s)
{
	char err[512] = "";
	ca_t *ca = NULL;
	reg_t *reg = NULL;
	int rc, reason;

	if (reason_s == NULL)
		return cli_usage_err(revoke_usage, "--reason is required");
	if ((reason = ca_revocation_reason(reason_s)) < 0)
		return cli_usage_err(revoke_usage, "unknown revocation reason");
	if ((rc = cli_ca_open(c, &ca, &reg)) != CLI_OK)
		return rc;
	rc = ca_principal_revoke(ca, reg, name, reason, CLI_ACTOR, err,
	    sizeof(err));
	cli_ca_close(ca, reg);
	if (rc != CA_OK)
		return cli_fail("principal revoke", err);
	printf("certificate of principal %s revoked (%s)\n", name, reason_s);
	return CLI_OK;
}

/* principal disable NAME. */
static int principal_disable(const struct cli_common *c, const char *name)
{
	char err[512] = "";
	ca_t *ca = NULL;
	reg_t *reg = NULL;
	int rc;

	if ((rc = cli_ca_open(c, &ca, &reg)) != CLI_OK)
		return rc;
	rc = ca_principal_disable(ca, reg, name, CLI_ACTOR, err, sizeof(err));
	cli_ca_close(ca, reg);
	if (rc != CA_OK)
		return cli_fail("principal disable", err);
	printf("principal %s disabled\n", name);
	return CLI_OK;
}

/* The --reason of principal revoke (ctx: the reason, NULL for the others). */
static int reason_opt(void *ctx, int ch, const char *arg, const char **msg)
{
	const char **reason = ctx;

	(void)msg;
	if (ch != 'r' || reason == NULL)
		return -1;
	*reason = arg;
	return 0;
}

/* principal list | disable | revoke: their options, then the verb. */
static int principal_other(int argc, char **argv, const char *verb)
{
	static const struct option lo[] = { CLI_COMMON_LONGOPTS,
		{ "reason", required_argument, NULL, 'r' },
		{ NULL, 0, NULL, 0 } };
	int revoke = strcmp(verb, "revoke") == 0;
	int list = strcmp(verb, "list") == 0;
	char help[128];
	const char *reason = NULL;
	struct cli_common c = { 0 };
	int rc;

	snprintf(help, sizeof(help), "ca-server principal %s --data DIR%s",
	    verb, list ? " [--json]" : " NAME");
	/* Errors name the group's usage, --help the verb's. */
	c.help_usage = revoke ? revoke_usage : help;
	rc = cli_opt_parse(&c, argc, argv, 2, lo,
	    revoke ? revoke_usage : principal_usage, reason_opt,
	    revoke ? &reason : NULL);
	if (rc != CLI_OK)
		return rc == CLI_HELP_SHOWN ? CLI_OK : rc;
	if (list) {
		if (optind != argc)
			return cli_usage_err(principal_usage,
			    "unexpected argument");
		return principal_list(&c);
	}
	if (optind != argc - 1)
		return cli_usage_err(revoke ? revoke_usage : help,
		    "one NAME is required");
	if (revoke)
		return principal_revoke(&c, argv[optind], reason);
	return principal_disable(&c, argv[optind]);
}

/* ca-server principal add | renew | list | disable | revoke. */
int cli_principal(int argc, char **argv)
{
	if (argc < 2)
		return cli_usage_err(principal_usage,
		    "add, renew, list, disable or revoke?");
	if (strcmp(argv[1], "--help") == 0) {
		printf("usage: %s\n", principal_usage);
		return CLI_OK;
	}
	if (strcmp(argv[1], "add") == 0)
		return principal_add(argc, argv, NULL, 0);
	if (strcmp(argv[1], "renew") == 0)
		return principal_add(argc, argv, NULL, 1);
	if (strcmp(argv[1], "list") != 0 && strcmp(argv[1], "disable") != 0 &&
	    strcmp(argv[1], "revoke") != 0)
		return cli_usage_err(principal_usage,
		    "add, renew, list, disable or revoke?");
	return principal_other(argc, argv, argv[1]);
}

/* ca-server signer add: a principal of role signer. */
int cli_signer(int argc, char **argv)
{
	if (argc < 2 || strcmp(argv[1], "add") != 0)
		return cli_usage_err(
		    "ca-server signer add --data DIR --name "
		    "NAME (--csr FILE | --out DIR [--out-pass-file F])",
		    "add?");
	return principal_add(argc, argv, REG_ROLE_SIGNER, 0);
}
