/* cli_status.c — a device's status (`ca-server revoke`, `suspend`,
 * `reinstate`) and the CRLs that publish it (`ca-server crl`). */
#include "cli_opt.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "ca_cas.h"

enum status_op { OP_REVOKE, OP_SUSPEND, OP_REINSTATE };

static const char *const status_usages[] = {
	"ca-server revoke DEVICE_ID --data DIR --reason REASON "
	"(unspecified|keyCompromise|cACompromise|affiliationChanged|"
	"superseded|cessationOfOperation|privilegeWithdrawn|aACompromise)",
	"ca-server suspend DEVICE_ID --data DIR",
	"ca-server reinstate DEVICE_ID --data DIR",
};
static const char *const status_verbs[] = { "revoke", "suspend", "reinstate" };
static const char *const status_done[] = { "revoked", "suspended",
	"reinstated" };

struct status_args {
	enum status_op op;
	const char *reason;
};

/* --reason, for revoke only. */
static int status_opt(void *ctx, int ch, const char *arg, const char **msg)
{
	struct status_args *s = ctx;

	(void)msg;
	if (ch != 'r' || s->op != OP_REVOKE)
		return -1;
	s->reason = arg;
	return 0;
}

/* revoke / suspend / reinstate DEVICE_ID. */
static int status_cmd(int argc, char **argv, enum status_op op)
{
	static const struct option lo[] = { CLI_COMMON_LONGOPTS,
		{ "reason", required_argument, NULL, 'r' },
		{ NULL, 0, NULL, 0 } };
	const char *usage = status_usages[op], *id;
	struct status_args s = { op, NULL };
	struct cli_common c = { 0 };
	char err[512] = "";
	ca_t *ca = NULL;
	reg_t *reg = NULL;
	int rc, reason = -1;

	rc = cli_opt_parse(&c, argc, argv, 1, lo, usage, status_opt, &s);
	if (rc != CLI_OK)
		return rc == CLI_HELP_SHOWN ? CLI_OK : rc;
	if (optind != argc - 1)
		return cli_usage_err(usage, "one DEVICE_ID is required");
	id = argv[optind];
	if (op == OP_REVOKE) {
		if (s.reason == NULL)
			return cli_usage_err(usage, "--reason is required");
		if ((reason = ca_revocation_reason(s.reason)) < 0)
			return cli_usage_err(usage,
			    "unknown revocation reason");
	}
	if ((rc = cli_ca_open(&c, &ca, &reg)) != CLI_OK)
		return rc;
	if (op == OP_REVOKE)
		rc = ca_device_revoke(ca, reg, id, reason, CLI_ACTOR, err,
		    sizeof(err));
	else if (op == OP_SUSPEND)
		rc =
		    ca_device_suspend(ca, reg, id, CLI_ACTOR, err, sizeof(err));
	else
		rc = ca_device_reinstate(ca, reg, id, CLI_ACTOR, err,
		    sizeof(err));
	cli_ca_close(ca, reg);
	if (rc != CA_OK)
		return cli_fail(status_verbs[op], err);
	printf("%s %s\n", id, status_done[op]);
	return CLI_OK;
}

/* ca-server revoke DEVICE_ID --reason REASON. */
int cli_revoke(int argc, char **argv)
{
	return status_cmd(argc, argv, OP_REVOKE);
}

/* ca-server suspend DEVICE_ID (certificateHold). */
int cli_suspend(int argc, char **argv)
{
	return status_cmd(argc, argv, OP_SUSPEND);
}

/* ca-server reinstate DEVICE_ID (lift the hold). */
int cli_reinstate(int argc, char **argv)
{
	return status_cmd(argc, argv, OP_REINSTATE);
}

/* crl's options: --out FILE, --issuer NAME, --ca ID. */
struct crl_cli {
	const char *out, *issuer, *ca;
};

/* crl's own options into a struct crl_cli. */
static int crl_opt(void *ctx, int ch, const char *arg, const char **msg)
{
	struct crl_cli *v = ctx;

	(void)msg;
	if (ch == 'o')
		v->out = arg;
	else if (ch == 'I')
		v->issuer = arg;
	else if (ch == 'C')
		v->ca = arg;
	else
		return -1;
	return 0;
}

/* Replace path atomically with der: write beside, then rename. */
static int crl_write(const char *path, const uint8_t *der, size_t len)
{
	char err[512] = "", tmp[PATH_MAX];

	if (snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid()) >=
	    (int)sizeof(tmp))
		return cli_fail("crl", "path too long");
	if (ca_file_write(tmp, der, len, 0644, err, sizeof(err)) != CA_OK)
		return cli_fail("crl", err);
	if (rename(tmp, path) != 0) {
		unlink(tmp);
		fprintf(stderr, "ca-server: crl: %s: %s\n", path,
		    strerror(errno));
		return CLI_FAIL;
	}
	printf("CRL written to %s\n", path);
	return CLI_OK;
}

/* Print der as PEM ("X509 CRL") on stdout. */
static int crl_print(const uint8_t *der, size_t len)
{
	const unsigned char *p = der;
	X509_CRL *crl =
	    len <= LONG_MAX ? d2i_X509_CRL(NULL, &p, (long)len) : NULL;
	int ok = crl != NULL && PEM_write_X509_CRL(stdout, crl) == 1;

	X509_CRL_free(crl);
	if (!ok) {
		ERR_clear_error();
		return cli_fail("crl", "cannot encode the CRL");
	}
	return CLI_OK;
}

/* The Device CA id of --ca: 1.. (0 when not given, -1 when bad). */
static long long crl_ca_id(const char *s)
{
	char *end;
	long long id;

	if (s == NULL)
		return 0;
	errno = 0;
	id = strtoll(s, &end, 10);
	return errno || *end || id <= 0 || id > INT32_MAX ? -1 : id;
}

/* ca-server crl [--out FILE] [--issuer device|infra | --ca ID]: the CRL
 * (DER into FILE, else PEM on stdout), signed anew when due. */
int cli_crl(int argc, char **argv)
{
	static const char *usage = "ca-server crl --data DIR [--out FILE] "
	                           "[--issuer device|infra | --ca ID]";
	static const struct option lo[] = { CLI_COMMON_LONGOPTS,
		{ "out", required_argument, NULL, 'o' },
		{ "issuer", required_argument, NULL, 'I' },
		{ "ca", required_argument, NULL, 'C' }, { NULL, 0, NULL, 0 } };
	struct cli_common c = { 0 };
	struct crl_cli v = { NULL, NULL, NULL };
	uint8_t *der = NULL;
	size_t len = 0;
	int64_t next = 0;
	long long id;
	char err[512] = "";
	ca_t *ca = NULL;
	reg_t *reg = NULL;
	int rc;

	rc = cli_opt_parse(&c, argc, argv, 1, lo, usage, crl_opt, &v);
	if (rc != CLI_OK)
		return rc == CLI_HELP_SHOWN ? CLI_OK : rc;
	if (optind != argc)
		return cli_usage_err(usage, NULL);
	if ((id = crl_ca_id(v.ca)) < 0)
		return cli_usage_err(usage, "--ca takes a CA id (ca list)");
	if (id > 0 && v.issuer != NULL)
		return cli_usage_err(usage,
		    "--ca and --issuer exclude each "
		    "other");
	if (v.issuer == NULL)
		v.issuer = REG_ISSUER_DEVICE;
	if (strcmp(v.issuer, REG_ISSUER_DEVICE) != 0 &&
	    strcmp(v.issuer, REG_ISSUER_INFRA) != 0)
		return cli_usage_err(usage, "--issuer must be device or infra");
	if ((rc = cli_ca_open(&c, &ca, &reg)) != CLI_OK)
		return rc;
	if (id > 0)
		rc = ca_crl_device_ca_get(ca, reg, (int64_t)id, &der, &len,
		    &next, err, sizeof(err));
	else
		rc = ca_crl_issuer_get(ca, reg, v.issuer, &der, &len, &next,
		    err, sizeof(err));
	cli_ca_close(ca, reg);
	if (rc != CA_OK)
		return cli_fail("crl", err);
	rc = v.out != NULL ? crl_write(v.out, der, len) : crl_print(der, len);
	free(der);
	return rc;
}
