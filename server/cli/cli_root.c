/* cli_root.c — `ca-server root ...`: the offline Root's ceremonies. Each
 * names the Root key explicitly (--root-key: a file, usually on removable
 * media, or a pkcs11: URI), checks it against the data folder's Root
 * certificate, does one thing, and writes an audit row:
 *   certify-intermediate  a new Device or Infrastructure CA from a CSR
 *   renew-intermediate    the current one's key, certified again
 *   crl                   the Root's next CRL (optionally revoking one)
 * Serving keys are never opened here. Exit status as cli.h. */
#include "cli_opt.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "ca_cas.h"
#include "ca_priv.h"
#include "pki.h"
#include "pki_keys.h"
#include "util.h"

#define ROOT_ACTOR "ca-server root"
#define ROOT_DAYS_MAX 36500

static const char root_usage[] =
    "ca-server root certify-intermediate --data DIR --root-key KEY "
    "--kind device|infra --csr FILE --out FILE [--cn NAME] [--days N]\n"
    "       ca-server root renew-intermediate --data DIR --root-key KEY "
    "--kind device|infra [--days N]\n"
    "       ca-server root crl --data DIR --root-key KEY [--revoke SERIAL "
    "--reason REASON] [--days N]\n"
    "  KEY: a file (--key-pass-file F | --key-pass-env VAR when encrypted) "
    "or a pkcs11: URI\n"
    "       (--pkcs11-module SO --pkcs11-pin-file F | --pkcs11-pin-env VAR)";

/* A ceremony's inputs and what it opened. */
struct root_ctx {
	const char *data, *root_key, *kind, *csr, *out, *cn, *revoke;
	const char *pass_file, *pass_env;
	pki_token_t tok;
	int days, reason;
	ca_config_t cfg;
	X509 *root;
	EVP_PKEY *rk;
	reg_t *reg;
};

static int root_fail(const char *what, const char *err)
{
	fprintf(stderr, "ca-server root %s: %s\n", what, err);
	return CLI_FAIL;
}

/* Copy optarg into a token setting; 0 or -1 when too long. */
static int tok_set(char *dst, size_t cap, const char *v)
{
	if (strlen(v) >= cap)
		return -1;
	memcpy(dst, v, strlen(v) + 1);
	return 0;
}

/* One ceremony option into c; 0, or -1 with *msg when its value is bad. */
static int root_opt(void *ctx, int ch, const char *arg, const char **msg)
{
	struct root_ctx *c = ctx;
	char *end;
	long v;

	switch (ch) {
	case 'k': c->root_key = arg; return 0;
	case 't': c->kind = arg; return 0;
	case 'c': c->csr = arg; return 0;
	case 'o': c->out = arg; return 0;
	case 'n': c->cn = arg; return 0;
	case 'r': c->revoke = arg; return 0;
	case 'R':
		if ((c->reason = ca_revocation_reason(arg)) < 0)
			*msg = "unknown revocation reason";
		return c->reason < 0 ? -1 : 0;
	case 'D':
		errno = 0;
		v = strtol(arg, &end, 10);
		if (errno || *end || v < 1 || v > ROOT_DAYS_MAX) {
			*msg = "--days is 1..36500";
			return -1;
		}
		c->days = (int)v;
		return 0;
	case 'M': return tok_set(c->tok.module, sizeof(c->tok.module), arg);
	case 'P': return tok_set(c->tok.pin_file, sizeof(c->tok.pin_file), arg);
	case 'E': return tok_set(c->tok.pin_env, sizeof(c->tok.pin_env), arg);
	default: return -1;
	}
}

/* Parse the options every verb shares (argv[1] is the verb): CLI_OK,
 * CLI_USAGE (printed) or CLI_HELP_SHOWN, through cli_opt_parse. */
static int root_args(struct root_ctx *c, int argc, char **argv)
{
	static const struct option lo[] = { CLI_COMMON_LONGOPTS,
		{ "root-key", required_argument, NULL, 'k' },
		{ "kind", required_argument, NULL, 't' },
		{ "csr", required_argument, NULL, 'c' },
		{ "out", required_argument, NULL, 'o' },
		{ "cn", required_argument, NULL, 'n' },
		{ "days", required_argument, NULL, 'D' },
		{ "revoke", required_argument, NULL, 'r' },
		{ "reason", required_argument, NULL, 'R' },
		{ "pkcs11-module", required_argument, NULL, 'M' },
		{ "pkcs11-pin-file", required_argument, NULL, 'P' },
		{ "pkcs11-pin-env", required_argument, NULL, 'E' },
		{ NULL, 0, NULL, 0 } };
	struct cli_common cc = { 0 };
	int rc;

	rc = cli_opt_parse(&cc, argc, argv, 2, lo, root_usage, root_opt, c);
	if (rc != CLI_OK)
		return rc;
	c->data = cc.data;
	c->pass_file = cc.pass_file;
	c->pass_env = cc.pass_env;
	/* A ceremony prints no JSON; --json is refused as before. */
	if (cc.json || optind != argc || c->data == NULL ||
	    c->root_key == NULL || (c->revoke != NULL) != (c->reason >= 0) ||
	    (c->kind != NULL && strcmp(c->kind, "device") != 0 &&
	        strcmp(c->kind, "infra") != 0))
		return cli_usage_err(root_usage, NULL);
	return CLI_OK;
}

/* Open the data folder's config, Root certificate and registry, and the
 * Root key, which must be the certificate's. */
static int root_open(struct root_ctx *c, char *err, size_t errlen)
{
	char path[PATH_MAX + 32], pass[CA_PASS_MAX + 1];
	int rc;

	snprintf(path, sizeof(path), "%s/config.json", c->data);
	if (config_load(&c->cfg, path, err, errlen) != CONFIG_OK)
		return CA_ERR_NOT_CA;
	snprintf(path, sizeof(path), "%s/root-ca.crt", c->data);
	if (pki_cert_load_file(&c->root, path, err, errlen) != PKI_OK)
		return CA_ERR_NOT_CA;
	if ((rc = ca_pass_get(pass, c->pass_file, c->pass_env, err, errlen)) !=
	    CA_OK)
		return rc;
	rc = pki_signing_key_open(&c->rk, c->root_key, NULL, pass, &c->tok, err,
	    errlen);
	OPENSSL_cleanse(pass, sizeof(pass));
	if (rc != PKI_OK)
		return rc == PKI_ERR_PARSE &&
		        pki_key_custody(c->root_key, NULL) ==
		            PKI_CUSTODY_FILE_ENCRYPTED ?
		    CA_ERR_PASSPHRASE :
		    CA_ERR_INVALID;
	if (X509_check_private_key(c->root, c->rk) != 1) {
		ERR_clear_error();
		util_err_set(err, errlen, "%s is not the key of %s/root-ca.crt",
		    c->root_key, c->data);
		return CA_ERR_INVALID;
	}
	if ((rc = ca_db_location(path, sizeof(path), c->data, err, errlen)) !=
	    CA_OK)
		return rc;
	return ca_from_reg(reg_open_existing(&c->reg, path, err, errlen));
}

static void root_close(struct root_ctx *c)
{
	reg_close(c->reg);
	EVP_PKEY_free(c->rk);
	X509_free(c->root);
}

/* Replace path with len bytes: written beside it, then renamed over it. */
static int file_replace(const char *path, const void *buf, size_t len, int mode,
    char *err, size_t errlen)
{
	char tmp[PATH_MAX + 16];
	int rc;

	snprintf(tmp, sizeof(tmp), "%s.new", path);
	unlink(tmp);
	if ((rc = ca_file_write(tmp, buf, len, mode, err, errlen)) != CA_OK)
		return rc;
	if (rename(tmp, path) != 0) {
		util_err_set(err, errlen, "%s: %s", path, strerror(errno));
		unlink(tmp);
		return CA_ERR_INTERNAL;
	}
	return CA_OK;
}

/* Write certificates a (and b, if any) as PEM, replacing path. */
static int pem_replace(const char *path, X509 *a, X509 *b, char *err,
    size_t errlen)
{
	char *pa = ca_cert_to_pem(a),
	     *pb = b != NULL ? ca_cert_to_pem(b) : NULL, *all = NULL;
	int rc = CA_ERR_INTERNAL;

	if (pa == NULL || (b != NULL && pb == NULL) ||
	    (all = malloc(strlen(pa) + (pb ? strlen(pb) : 0) + 1)) == NULL) {
		util_err_set(err, errlen, "out of memory");
		goto out;
	}
	snprintf(all, strlen(pa) + (pb ? strlen(pb) : 0) + 1, "%s%s", pa,
	    pb ? pb : "");
	rc = file_replace(path, all, strlen(all), 0644, err, errlen);
out:
	free(pa);
	free(pb);
	free(all);
	return rc;
}

/* The audit row of a ceremony, with the Root key's custody. */
static int root_audit(struct root_ctx *c, const char *action,
    const char *target, const char *k, const char *v, char *err, size_t errlen)
{
	return ca_audit(c->reg, ROOT_ACTOR, action, target, err, errlen,
	    "root_key",
	    pki_key_ref_is_pkcs11(c->root_key) ?
	        c->root_key :
	        pki_custody_name(pki_key_custody(c->root_key, NULL)),
	    k, v, (const char *)NULL);
}

/* certify-intermediate: a new CA for the CSR's key, written to --out. */
static int root_certify(struct root_ctx *c, char *err, size_t errlen)
{
	X509_REQ *req = NULL;
	X509_NAME *n = NULL;
	X509 *cert = NULL;
	char serial[41], cn[160], kt[16], *buf = NULL, *pem = NULL, ts[32];
	size_t len = 0;
	int dev = strcmp(c->kind, "device") == 0, rc;
	time_t now = time(NULL);
	struct tm tm;

	gmtime_r(&now, &tm);
	strftime(ts, sizeof(ts), "%Y%m%dT%H%M%SZ", &tm);
	snprintf(cn, sizeof(cn), "%s %s CA %s", c->cfg.org,
	    dev ? "Device" : "Infrastructure", ts);
	if (c->cn != NULL && !ca_printable_valid(c->cn, 64)) {
		util_err_set(err, errlen, "--cn: 1..64 printable characters");
		return CA_ERR_INVALID;
	}
	if ((rc = ca_file_read(&buf, &len, c->csr, CA_CSR_MAX, err, errlen)) !=
	        CA_OK ||
	    (rc = ca_csr_parse(&req, (uint8_t *)buf, len, err, errlen)) !=
	        CA_OK ||
	    (rc = ca_key_type(kt, X509_REQ_get0_pubkey(req), err, errlen)) !=
	        CA_OK)
		goto out;
	rc = CA_ERR_INTERNAL;
	if ((n = X509_NAME_new()) == NULL ||
	    X509_NAME_add_entry_by_NID(n, NID_organizationName, MBSTRING_UTF8,
	        (const unsigned char *)c->cfg.org, -1, -1, 0) != 1 ||
	    X509_NAME_add_entry_by_NID(n, NID_commonName, MBSTRING_UTF8,
	        (const unsigned char *)(c->cn ? c->cn : cn), -1, -1, 0) != 1) {
		util_err_openssl(err, errlen, "subject");
		goto out;
	}
	if ((rc = ca_root_certify(&cert, serial, c->root, c->rk, n,
	         X509_REQ_get0_pubkey(req), dev,
	         (int64_t)now + (int64_t)c->days * UTIL_SECONDS_PER_DAY,
	         &c->cfg, err, errlen)) != CA_OK)
		goto out;
	if ((pem = ca_cert_to_pem(cert)) == NULL) {
		util_err_openssl(err, errlen, "encode certificate");
		rc = CA_ERR_INTERNAL;
		goto out;
	}
	if ((rc = ca_file_write(c->out, pem, strlen(pem), 0644, err, errlen)) !=
	    CA_OK)
		goto out;
	if ((rc = root_audit(c, "root.certify-intermediate", serial, "kind",
	         c->kind, err, errlen)) != CA_OK) {
		unlink(c->out);
		goto out;
	}
	printf("certified %s CA %s (serial %s, key %s) into %s\n", c->kind,
	    c->cn ? c->cn : cn, serial, kt, c->out);
out:
	free(buf);
	free(pem);
	X509_NAME_free(n);
	X509_REQ_free(req);
	X509_free(cert);
	return rc;
}

/* Rewrite the data folder's files that carry the intermediate. */
static int root_renew_files(struct root_ctx *c, X509 *cert, int dev, char *err,
    size_t errlen)
{
	char path[PATH_MAX + 32];
	X509 *srv = NULL;
	int rc;

	snprintf(path, sizeof(path), "%s/%s", c->data,
	    dev ? "device-chain.pem" : "client-ca.pem");
	if ((rc = pem_replace(path, cert, c->root, err, errlen)) != CA_OK ||
	    dev)
		return rc;
	/* server.crt carries the Infrastructure CA after the TLS certificate. */
	snprintf(path, sizeof(path), "%s/server.crt", c->data);
	if (pki_cert_load_file(&srv, path, err, errlen) != PKI_OK)
		return CA_ERR_NOT_CA;
	rc = pem_replace(path, srv, cert, err, errlen);
	X509_free(srv);
	return rc;
}

/* renew-intermediate: the current CA's key and subject, certified again
 * (devices it issued verify under either); the old certificate is kept as
 * KIND-ca.SERIAL.crt. The CA set's row of that CA follows (ca list, and a
 * running serve from its next request). */
static int root_renew(struct root_ctx *c, char *err, size_t errlen)
{
	char path[PATH_MAX + 32], old[PATH_MAX + 96], serial[41], *oldsn;
	X509 *cur = NULL, *cert = NULL;
	BIGNUM *bn = NULL;
	int64_t row = 0;
	int dev = strcmp(c->kind, "device") == 0, rc;
	char *pem = NULL;

	snprintf(path, sizeof(path), "%s/%s-ca.crt", c->data, c->kind);
	if (pki_cert_load_file(&cur, path, err, errlen) != PKI_OK)
		return CA_ERR_NOT_CA;
	rc = CA_ERR_INTERNAL;
	if ((bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cur), NULL)) ==
	        NULL ||
	    (oldsn = BN_bn2hex(bn)) == NULL)
		goto out;
	snprintf(old, sizeof(old), "%s/%s-ca.%s.crt", c->data, c->kind, oldsn);
	OPENSSL_free(oldsn);
	if ((rc = ca_root_certify(&cert, serial, c->root, c->rk,
	         X509_get_subject_name(cur), X509_get0_pubkey(cur), dev,
	         (int64_t)time(NULL) + (int64_t)c->days * UTIL_SECONDS_PER_DAY,
	         &c->cfg, err, errlen)) != CA_OK)
		goto out;
	/* The CA set's row and the audit row in one transaction, committed
	 * once the files are written. */
	if ((rc = ca_from_reg(reg_begin(c->reg, err, errlen))) != CA_OK)
		goto out;
	if ((rc = ca_ca_renewed(c->reg, &row, cur, cert, err, errlen)) !=
	        CA_OK ||
	    (rc = root_audit(c, "root.renew-intermediate", serial, "kind",
	         c->kind, err, errlen)) != CA_OK ||
	    (pem = ca_cert_to_pem(cur)) == NULL ||
	    (rc = ca_file_write(old, pem, strlen(pem), 0644, err, errlen)) !=
	        CA_OK ||
	    (rc = pem_replace(path, cert, NULL, err, errlen)) != CA_OK ||
	    (rc = root_renew_files(c, cert, dev, err, errlen)) != CA_OK ||
	    (rc = ca_from_reg(reg_commit(c->reg, err, errlen))) != CA_OK) {
		if (rc == CA_OK) {
			util_err_set(err, errlen, "out of memory");
			rc = CA_ERR_INTERNAL;
		}
		reg_rollback(c->reg);
		goto out;
	}
	printf("renewed the %s CA (same key and subject): serial %s in %s; "
	       "previous certificate kept as %s",
	    c->kind, serial, path, old);
	if (row > 0)
		printf("; CA %lld of the CA set follows (serve uses it from "
		       "its next request)\n",
		    (long long)row);
	else
		printf("; restart serve to use it\n");
out:
	free(pem);
	BN_free(bn);
	X509_free(cur);
	X509_free(cert);
	return rc;
}

/* crl: the Root's next CRL, published into the data folder. */
static int root_crl(struct root_ctx *c, char *err, size_t errlen)
{
	char path[PATH_MAX + 32], *prev = NULL;
	uint8_t *der = NULL;
	size_t prev_len = 0, len = 0;
	int rc;

	snprintf(path, sizeof(path), "%s/root-ca.crl", c->data);
	rc = ca_file_read(&prev, &prev_len, path, 1024 * 1024, err, errlen);
	if (rc != CA_OK && rc != CA_ERR_NOT_FOUND)
		return rc;
	if ((rc = ca_root_crl_make(&der, &len, c->root, c->rk, (uint8_t *)prev,
	         prev_len, c->revoke, c->reason, c->days, err, errlen)) !=
	    CA_OK)
		goto out;
	if ((rc = file_replace(path, der, len, 0644, err, errlen)) != CA_OK)
		goto out;
	if ((rc = root_audit(c, "root.crl", c->revoke ? c->revoke : "",
	         "reason", c->revoke ? ca_reason_name(c->reason) : "", err,
	         errlen)) != CA_OK)
		goto out;
	printf("Root CRL published to %s (nextUpdate in %d days)%s%s\n", path,
	    c->days, c->revoke ? "; revoked " : "", c->revoke ? c->revoke : "");
out:
	free(prev);
	free(der);
	return rc;
}

/* ca-server root certify-intermediate | renew-intermediate | crl. */
int cli_root(int argc, char **argv)
{
	struct root_ctx c;
	char err[512] = "";
	const char *verb = argc > 1 ? argv[1] : "";
	int rc;

	memset(&c, 0, sizeof(c));
	c.reason = -1;
	c.days = strcmp(verb, "crl") == 0 ? CA_ROOT_CRL_DAYS : 20 * 365;
	if (strcmp(verb, "--help") == 0) {
		printf("usage: %s\n", root_usage);
		return CLI_OK;
	}
	if (strcmp(verb, "certify-intermediate") != 0 &&
	    strcmp(verb, "renew-intermediate") != 0 && strcmp(verb, "crl") != 0)
		return cli_usage_err(root_usage, NULL);
	if ((rc = root_args(&c, argc, argv)) != CLI_OK)
		return rc == CLI_HELP_SHOWN ? CLI_OK : rc;
	if ((strcmp(verb, "crl") != 0 && c.kind == NULL) ||
	    (strcmp(verb, "certify-intermediate") == 0 &&
	        (c.csr == NULL || c.out == NULL))) {
		fprintf(stderr, "usage: %s\n", root_usage);
		return CLI_USAGE;
	}
	if ((rc = root_open(&c, err, sizeof(err))) == CA_OK) {
		if (strcmp(verb, "crl") == 0)
			rc = root_crl(&c, err, sizeof(err));
		else if (strcmp(verb, "renew-intermediate") == 0)
			rc = root_renew(&c, err, sizeof(err));
		else
			rc = root_certify(&c, err, sizeof(err));
	}
	root_close(&c);
	return rc == CA_OK ? CLI_OK : root_fail(verb, err);
}
