/* cli.c — ca-server's admin subcommands over the CA engine: argument
 * parsing, one line per error on stderr, text or --json on stdout.
 * Exit status: 0 ok, 1 failed, 2 usage. */
#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <openssl/crypto.h>

#include "ca_priv.h"
#include "util.h"

#define CLI_ACTOR "cli"
#define CLI_MAX_HOSTNAMES 32

/* Options every subcommand shares. */
struct common {
	const char *data;
	const char *pass_file;
	const char *pass_env;
	int json;
	int help;
};

enum { O_DATA = 1000, O_PASS, O_JSON, O_HELP, O_PASS_ENV };

#define COMMON_LONGOPTS \
	{ "data", required_argument, NULL, O_DATA }, \
	{ "key-pass-file", required_argument, NULL, O_PASS }, \
	{ "key-pass-env", required_argument, NULL, O_PASS_ENV }, \
	{ "json", no_argument, NULL, O_JSON }, \
	{ "help", no_argument, NULL, O_HELP }

/* Handle a shared option; 1 if it was one. */
static int common_opt(struct common *c, int ch)
{
	switch (ch) {
	case O_DATA: c->data = optarg; return 1;
	case O_PASS: c->pass_file = optarg; return 1;
	case O_PASS_ENV: c->pass_env = optarg; return 1;
	case O_JSON: c->json = 1; return 1;
	case O_HELP: c->help = 1; return 1;
	default: return 0;
	}
}

static int usage_err(const char *usage, const char *msg)
{
	if (msg != NULL)
		fprintf(stderr, "ca-server: %s\n", msg);
	fprintf(stderr, "usage: %s\n", usage);
	return CLI_USAGE;
}

static int fail(const char *what, const char *err)
{
	fprintf(stderr, "ca-server: %s%s%s\n", what, err[0] ? ": " : "", err);
	return CLI_FAIL;
}

/* Open the CA and a registry connection. */
static int open_ca(const struct common *c, ca_t **ca, reg_t **reg)
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
		return fail("cannot open CA", err);
	if (ca_reg_open(*ca, reg, err, sizeof(err)) != CA_OK) {
		ca_free(*ca);
		*ca = NULL;
		return fail("cannot open registry", err);
	}
	return CLI_OK;
}

static void close_ca(ca_t *ca, reg_t *reg)
{
	reg_close(reg);
	ca_free(ca);
}

static void print_json(cJSON *o)
{
	char *s = o != NULL ? cJSON_Print(o) : NULL;

	if (s != NULL)
		printf("%s\n", s);
	else
		fprintf(stderr, "ca-server: out of memory\n");
	free(s);
}

static void fmt_time(char out[32], int64_t t)
{
	struct tm tm;
	time_t tt = (time_t)t;

	if (t == 0 || gmtime_r(&tt, &tm) == NULL) {
		snprintf(out, 32, "-");
		return;
	}
	strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* ---- init ----------------------------------------------------------- */

int cli_init(int argc, char **argv)
{
	static const char *usage = "ca-server init --data DIR [--org NAME] "
	    "[--hostname H ...] [--public-url URL] [--admin-name NAME] "
	    "(--key-pass-file F | --key-pass-env VAR | --plain-keys) "
	    "[--root-dir DIR] [--device-key URI] "
	    "[--infra-key URI] [--tls-key URI] [--pkcs11-module SO] "
	    "[--pkcs11-pin-file F | --pkcs11-pin-env VAR] "
	    "[--plain-url http://HOST:PORT] "
	    "[--plain-listen HOST:PORT] [--pen N] [--example-oids]";
	static const struct option lo[] = {
		COMMON_LONGOPTS,
		{ "org", required_argument, NULL, 'o' },
		{ "hostname", required_argument, NULL, 'H' },
		{ "public-url", required_argument, NULL, 'u' },
		{ "admin-name", required_argument, NULL, 'a' },
		{ "root-dir", required_argument, NULL, 'r' },
		{ "plain-keys", no_argument, NULL, 'K' },
		{ "device-key", required_argument, NULL, 'D' },
		{ "infra-key", required_argument, NULL, 'I' },
		{ "tls-key", required_argument, NULL, 'T' },
		{ "pkcs11-module", required_argument, NULL, 'M' },
		{ "pkcs11-pin-file", required_argument, NULL, 'P' },
		{ "pkcs11-pin-env", required_argument, NULL, 'E' },
		{ "plain-url", required_argument, NULL, 'U' },
		{ "plain-listen", required_argument, NULL, 'L' },
		{ "pen", required_argument, NULL, 'N' },
		{ "example-oids", no_argument, NULL, 'X' },
		{ NULL, 0, NULL, 0 }
	};
	const char *hosts[CLI_MAX_HOSTNAMES];
	unsigned long pen;
	char *end;
	struct common c = { 0 };
	ca_init_opts_t o;
	char err[512] = "";
	int ch;

	memset(&o, 0, sizeof(o));
	o.hostnames = hosts;
	optind = 1;
	while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		if (common_opt(&c, ch))
			continue;
		switch (ch) {
		case 'o': o.org = optarg; break;
		case 'u': o.public_base_url = optarg; break;
		case 'a': o.admin_name = optarg; break;
		case 'r': o.root_dir = optarg; break;
		case 'K': o.plain_keys = 1; break;
		case 'D': o.device_key_uri = optarg; break;
		case 'I': o.infra_key_uri = optarg; break;
		case 'T': o.tls_key_uri = optarg; break;
		case 'M': o.pkcs11_module = optarg; break;
		case 'P': o.pkcs11_pin_file = optarg; break;
		case 'E': o.pkcs11_pin_env = optarg; break;
		case 'U': o.plain_base_url = optarg; break;
		case 'L': o.plain_listen = optarg; break;
		case 'X': o.example_oids = 1; break;
		case 'N':
			errno = 0;
			pen = strtoul(optarg, &end, 10);
			if (errno != 0 || *end != '\0' || optarg[0] < '1' ||
			    optarg[0] > '9' || pen > 4294967295UL)
				return usage_err(usage, "--pen must be a positive "
				    "decimal number (an IANA PEN)");
			o.pen = (uint32_t)pen;
			break;
		case 'H':
			if (o.n_hostnames == CLI_MAX_HOSTNAMES)
				return usage_err(usage, "too many --hostname");
			hosts[o.n_hostnames++] = optarg;
			break;
		default:
			return usage_err(usage, NULL);
		}
	}
	if (c.help) {
		printf("usage: %s\n", usage);
		return CLI_OK;
	}
	if (c.data == NULL || optind != argc)
		return usage_err(usage, c.data == NULL ?
		    "--data DIR is required" : "unexpected argument");
	o.data_dir = c.data;
	o.key_pass_file = c.pass_file;
	o.key_pass_env = c.pass_env;
	if (ca_init(&o, err, sizeof(err)) != CA_OK)
		return fail("init failed", err);
	printf("initialised CA in %s\n", c.data);
	printf("  root certificate: %s/root-ca.crt\n", c.data);
	{
		char rd[PATH_MAX];

		if (o.root_dir != NULL)
			snprintf(rd, sizeof(rd), "%s", o.root_dir);
		else
			ca_root_dir_default(rd, sizeof(rd), c.data);
		printf("  offline Root key: %s/root-ca.key (keep it offline; "
		    "serve never opens it)\n", rd);
	}
	printf("  TLS certificate:  %s/server.crt\n", c.data);
	printf("  admin credential: %s/admin/admin.p12%s\n", c.data,
	    !o.plain_keys ? " (password: the key passphrase)" :
	    " (password in admin.p12.pass)");
	return CLI_OK;
}

/* ---- manufacturers -------------------------------------------------- */

int cli_manufacturer(int argc, char **argv)
{
	static const char *usage = "ca-server manufacturer add --data DIR "
	    "--id ID --name NAME [--oui HEX6] | manufacturer list --data DIR "
	    "[--json]";
	static const struct option lo[] = {
		COMMON_LONGOPTS,
		{ "id", required_argument, NULL, 'i' },
		{ "name", required_argument, NULL, 'n' },
		{ "oui", required_argument, NULL, 'u' },
		{ NULL, 0, NULL, 0 }
	};
	struct common c = { 0 };
	const char *id = NULL, *name = NULL, *oui = NULL, *verb;
	char err[512] = "";
	ca_t *ca = NULL;
	reg_t *reg = NULL;
	int ch, rc;

	if (argc < 2)
		return usage_err(usage, "add or list?");
	verb = argv[1];
	optind = 2;
	while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		if (common_opt(&c, ch))
			continue;
		switch (ch) {
		case 'i': id = optarg; break;
		case 'n': name = optarg; break;
		case 'u': oui = optarg; break;
		default: return usage_err(usage, NULL);
		}
	}
	if (c.help || strcmp(verb, "--help") == 0) {
		printf("usage: %s\n", usage);
		return CLI_OK;
	}
	if (optind != argc)
		return usage_err(usage, "unexpected argument");
	if (strcmp(verb, "add") == 0) {
		if (id == NULL || name == NULL)
			return usage_err(usage, "--id and --name are required");
		if ((rc = open_ca(&c, &ca, &reg)) != CLI_OK)
			return rc;
		rc = ca_manufacturer_add(ca, reg, id, name, oui, CLI_ACTOR, err,
		    sizeof(err));
		close_ca(ca, reg);
		if (rc != CA_OK)
			return fail("manufacturer add", err);
		printf("manufacturer %s added\n", id);
		return CLI_OK;
	}
	if (strcmp(verb, "list") == 0) {
		reg_manufacturer_t *list = NULL;
		size_t n = 0, i;
		cJSON *arr;

		if ((rc = open_ca(&c, &ca, &reg)) != CLI_OK)
			return rc;
		rc = reg_manufacturer_list(reg, &list, &n, err, sizeof(err));
		close_ca(ca, reg);
		if (rc != REG_OK)
			return fail("manufacturer list", err);
		if (c.json) {
			arr = cJSON_CreateArray();
			for (i = 0; arr != NULL && i < n; i++) {
				cJSON *o = cJSON_CreateObject();

				if (o == NULL)
					break;
				cJSON_AddStringToObject(o, "id", list[i].id);
				cJSON_AddStringToObject(o, "name",
				    list[i].name);
				cJSON_AddStringToObject(o, "oui", list[i].oui);
				cJSON_AddNumberToObject(o, "created_at",
				    (double)list[i].created_at);
				cJSON_AddItemToArray(arr, o);
			}
			print_json(arr);
			cJSON_Delete(arr);
		} else {
			for (i = 0; i < n; i++)
				printf("%s\t%s\t%s\n", list[i].id, list[i].name,
				    list[i].oui[0] ? list[i].oui : "-");
		}
		free(list);
		return CLI_OK;
	}
	return usage_err(usage, "add or list?");
}

/* ---- enroll --------------------------------------------------------- */

static int read_input(uint8_t **out, size_t *len, const char *path)
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

static cJSON *issue_json(const ca_issue_result_t *r)
{
	cJSON *o = cJSON_CreateObject();

	if (o == NULL)
		return NULL;
	cJSON_AddStringToObject(o, "device_id", r->device_id);
	cJSON_AddStringToObject(o, "cert_url", r->cert_url);
	cJSON_AddBoolToObject(o, "created", r->created);
	cJSON_AddStringToObject(o, "certificate", r->cert_pem);
	cJSON_AddStringToObject(o, "chain", r->chain_pem);
	return o;
}

/* Split a tab-separated line into at most max fields. */
static size_t split_tabs(char *line, char **f, size_t max)
{
	size_t n = 0;

	line[strcspn(line, "\r\n")] = '\0';
	while (n < max) {
		f[n++] = line;
		if ((line = strchr(line, '\t')) == NULL)
			break;
		*line++ = '\0';
	}
	return n;
}

/* --batch FILE: lines "CSR_FILE<TAB>MANUFACTURER_ID<TAB>SERIAL<TAB>MODEL
 * [<TAB>HW_VERSION]", issued batch_max at a time, one transaction each. */
static int enroll_batch(ca_t *ca, reg_t *reg, const char *path, int json)
{
	FILE *f = NULL;
	char line[4096], *fld[5];
	size_t chunk = (size_t)ca_config(ca)->batch_max, n = 0, i, lineno = 0;
	ca_issue_item_t *items = NULL;
	char (*strs)[4][REG_ATTR_MAX + 2] = NULL;
	char err[512] = "";
	int rc = CLI_FAIL, eof = 0, first = 1;
	size_t ok = 0;

	if ((f = fopen(path, "r")) == NULL) {
		fprintf(stderr, "ca-server: %s: %s\n", path, strerror(errno));
		return CLI_FAIL;
	}
	if ((items = calloc(chunk, sizeof(*items))) == NULL ||
	    (strs = calloc(chunk, sizeof(*strs))) == NULL) {
		fprintf(stderr, "ca-server: out of memory\n");
		goto out;
	}
	if (json)
		printf("[");
	while (!eof) {
		n = 0;
		while (n < chunk) {
			size_t k, nf;

			if (fgets(line, sizeof(line), f) == NULL) {
				eof = 1;
				break;
			}
			lineno++;
			if (strchr(line, '\n') == NULL && !feof(f)) {
				fprintf(stderr, "ca-server: %s:%zu: line too "
				    "long\n", path, lineno);
				goto out;
			}
			if (line[0] == '#' || line[strspn(line, " \t\r\n")] ==
			    '\0')
				continue;
			nf = split_tabs(line, fld, 5);
			if (nf < 4) {
				fprintf(stderr, "ca-server: %s:%zu: need CSR_FILE"
				    " MANUFACTURER_ID SERIAL MODEL [HW]\n", path,
				    lineno);
				goto out;
			}
			memset(&items[n], 0, sizeof(items[n]));
			for (k = 1; k < nf; k++) {
				if (strlen(fld[k]) > REG_ATTR_MAX) {
					fprintf(stderr, "ca-server: %s:%zu: field "
					    "longer than %d\n", path, lineno,
					    REG_ATTR_MAX);
					goto out;
				}
				snprintf(strs[n][k - 1], sizeof(strs[n][k - 1]),
				    "%s", fld[k]);
			}
			if (read_input((uint8_t **)&items[n].csr,
			    &items[n].csr_len, fld[0]) != CLI_OK) {
				items[n].csr = NULL;
				goto out;
			}
			items[n].attrs.manufacturer_id = strs[n][0];
			items[n].attrs.serial = strs[n][1];
			items[n].attrs.model = strs[n][2];
			items[n].attrs.hw_version = nf > 4 ? strs[n][3] : "";
			n++;
		}
		if (n == 0)
			break;
		if (ca_device_issue_batch(ca, reg, items, n, 1, CLI_ACTOR, err,
		    sizeof(err)) != CA_OK) {
			fprintf(stderr, "ca-server: enroll batch (from line "
			    "%zu): %s\n", lineno - n + 1, err);
			goto out;
		}
		for (i = 0; i < n; i++) {
			ca_issue_result_t *r = &items[i].result;

			if (json) {
				cJSON *o = issue_json(r);
				char *s = o != NULL ?
				    cJSON_PrintUnformatted(o) : NULL;

				printf("%s%s", first ? "\n" : ",\n",
				    s != NULL ? s : "null");
				first = 0;
				free(s);
				cJSON_Delete(o);
			} else {
				printf("%s\t%s\n", r->device_id, r->cert_url);
			}
			ok++;
			ca_issue_result_clear(r);
			free((void *)items[i].csr);
			items[i].csr = NULL;
		}
	}
	if (json)
		printf("\n]\n");
	rc = CLI_OK;
out:
	for (i = 0; items != NULL && i < chunk; i++) {
		ca_issue_result_clear(&items[i].result);
		free((void *)items[i].csr);
	}
	free(items);
	free(strs);
	if (f != NULL)
		fclose(f);
	if (rc == CLI_OK && !json)
		fprintf(stderr, "ca-server: enrolled %zu devices\n", ok);
	return rc;
}

int cli_enroll(int argc, char **argv)
{
	static const char *usage = "ca-server enroll --data DIR --csr FILE "
	    "--manufacturer-id ID --serial S --model M [--hardware-version V] "
	    "[--json] | enroll --data DIR --batch FILE [--json]";
	static const struct option lo[] = {
		COMMON_LONGOPTS,
		{ "csr", required_argument, NULL, 'c' },
		{ "manufacturer-id", required_argument, NULL, 'm' },
		{ "serial", required_argument, NULL, 's' },
		{ "model", required_argument, NULL, 'M' },
		{ "hardware-version", required_argument, NULL, 'w' },
		{ "batch", required_argument, NULL, 'b' },
		{ NULL, 0, NULL, 0 }
	};
	struct common c = { 0 };
	const char *csr_path = NULL, *batch = NULL;
	ca_device_attrs_t a = { NULL, NULL, NULL, NULL };
	ca_issue_result_t r;
	uint8_t *csr = NULL;
	size_t csr_len = 0;
	char err[512] = "";
	ca_t *ca = NULL;
	reg_t *reg = NULL;
	int ch, rc;

	optind = 1;
	while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		if (common_opt(&c, ch))
			continue;
		switch (ch) {
		case 'c': csr_path = optarg; break;
		case 'm': a.manufacturer_id = optarg; break;
		case 's': a.serial = optarg; break;
		case 'M': a.model = optarg; break;
		case 'w': a.hw_version = optarg; break;
		case 'b': batch = optarg; break;
		default: return usage_err(usage, NULL);
		}
	}
	if (c.help) {
		printf("usage: %s\n", usage);
		return CLI_OK;
	}
	if (optind != argc)
		return usage_err(usage, "unexpected argument");
	if (batch != NULL) {
		if (csr_path != NULL || a.manufacturer_id != NULL ||
		    a.serial != NULL || a.model != NULL)
			return usage_err(usage, "--batch takes no device "
			    "options");
		if ((rc = open_ca(&c, &ca, &reg)) != CLI_OK)
			return rc;
		rc = enroll_batch(ca, reg, batch, c.json);
		close_ca(ca, reg);
		return rc;
	}
	if (csr_path == NULL || a.manufacturer_id == NULL || a.serial == NULL ||
	    a.model == NULL)
		return usage_err(usage, "--csr, --manufacturer-id, --serial and "
		    "--model are required");
	if (read_input(&csr, &csr_len, csr_path) != CLI_OK)
		return CLI_FAIL;
	if ((rc = open_ca(&c, &ca, &reg)) != CLI_OK) {
		free(csr);
		return rc;
	}
	rc = ca_device_issue(ca, reg, &r, csr, csr_len, &a, CLI_ACTOR, err,
	    sizeof(err));
	close_ca(ca, reg);
	free(csr);
	if (rc != CA_OK)
		return fail("enroll", err);
	if (c.json) {
		cJSON *o = issue_json(&r);

		print_json(o);
		cJSON_Delete(o);
	} else {
		printf("%s\t%s%s\n", r.device_id, r.cert_url,
		    r.created ? "" : "\t(already enrolled)");
	}
	ca_issue_result_clear(&r);
	return CLI_OK;
}

/* ---- show / list ---------------------------------------------------- */

static cJSON *device_json(const reg_device_t *d, const char *cert_pem,
    const char *chain_pem, const char *url)
{
	cJSON *o = cJSON_CreateObject();

	if (o == NULL)
		return NULL;
	cJSON_AddStringToObject(o, "device_id", d->device_id);
	cJSON_AddStringToObject(o, "manufacturer_id", d->manufacturer_id);
	cJSON_AddStringToObject(o, "manufacturer_name", d->manufacturer_name);
	cJSON_AddStringToObject(o, "serial", d->serial);
	cJSON_AddStringToObject(o, "model", d->model);
	cJSON_AddStringToObject(o, "hardware_version", d->hw_version);
	cJSON_AddStringToObject(o, "status", d->status);
	if (d->reason >= 0)
		cJSON_AddStringToObject(o, "reason", ca_reason_name(d->reason));
	else
		cJSON_AddNullToObject(o, "reason");
	cJSON_AddNumberToObject(o, "revoked_at", (double)d->revoked_at);
	cJSON_AddNumberToObject(o, "created_at", (double)d->created_at);
	cJSON_AddNumberToObject(o, "updated_at", (double)d->updated_at);
	cJSON_AddNumberToObject(o, "version", (double)d->version);
	cJSON_AddStringToObject(o, "cert_serial", d->cert_serial_hex);
	cJSON_AddStringToObject(o, "cert_sha256", d->cert_sha256);
	cJSON_AddStringToObject(o, "key_type", d->key_type);
	cJSON_AddNumberToObject(o, "not_before", (double)d->not_before);
	cJSON_AddNumberToObject(o, "not_after", (double)d->not_after);
	if (url != NULL)
		cJSON_AddStringToObject(o, "cert_url", url);
	if (cert_pem != NULL)
		cJSON_AddStringToObject(o, "certificate", cert_pem);
	if (chain_pem != NULL)
		cJSON_AddStringToObject(o, "chain", chain_pem);
	return o;
}

int cli_show(int argc, char **argv)
{
	static const char *usage = "ca-server show DEVICE_ID --data DIR "
	    "[--json]";
	static const struct option lo[] = { COMMON_LONGOPTS,
	    { NULL, 0, NULL, 0 } };
	struct common c = { 0 };
	char err[512] = "", t1[32], t2[32];
	ca_device_t d;
	ca_t *ca = NULL;
	reg_t *reg = NULL;
	int ch, rc;

	optind = 1;
	while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1)
		if (!common_opt(&c, ch))
			return usage_err(usage, NULL);
	if (c.help) {
		printf("usage: %s\n", usage);
		return CLI_OK;
	}
	if (optind != argc - 1)
		return usage_err(usage, "one DEVICE_ID is required");
	if ((rc = open_ca(&c, &ca, &reg)) != CLI_OK)
		return rc;
	rc = ca_device_get(ca, reg, &d, argv[optind], err, sizeof(err));
	close_ca(ca, reg);
	if (rc != CA_OK)
		return fail("show", err);
	if (c.json) {
		cJSON *o = device_json(&d.rec, d.cert_pem, d.chain_pem,
		    d.cert_url);

		print_json(o);
		cJSON_Delete(o);
	} else {
		fmt_time(t1, d.rec.not_before);
		fmt_time(t2, d.rec.not_after);
		printf("device_id:       %s\n", d.rec.device_id);
		printf("cert_url:        %s\n", d.cert_url);
		printf("manufacturer:    %s (%s)\n", d.rec.manufacturer_id,
		    d.rec.manufacturer_name);
		printf("serial:          %s\n", d.rec.serial);
		printf("model:           %s\n", d.rec.model);
		printf("hardware:        %s\n", d.rec.hw_version);
		printf("status:          %s%s%s\n", d.rec.status,
		    d.rec.reason >= 0 ? " " : "",
		    d.rec.reason >= 0 ? ca_reason_name(d.rec.reason) : "");
		printf("cert_serial:     %s\n", d.rec.cert_serial_hex);
		printf("key_type:        %s\n", d.rec.key_type);
		printf("validity:        %s .. %s\n", t1, t2);
		fputs(d.cert_pem, stdout);
	}
	ca_device_clear(&d);
	return CLI_OK;
}

int cli_list(int argc, char **argv)
{
	static const char *usage = "ca-server list --data DIR "
	    "[--manufacturer-id ID] [--status active|suspended|revoked] "
	    "[--serial S] [--limit N] [--after CURSOR] [--json]";
	static const struct option lo[] = {
		COMMON_LONGOPTS,
		{ "manufacturer-id", required_argument, NULL, 'm' },
		{ "status", required_argument, NULL, 's' },
		{ "serial", required_argument, NULL, 'S' },
		{ "limit", required_argument, NULL, 'l' },
		{ "after", required_argument, NULL, 'a' },
		{ NULL, 0, NULL, 0 }
	};
	struct common c = { 0 };
	reg_device_filter_t f;
	reg_device_t *list = NULL;
	size_t n = 0, i;
	int64_t next = 0;
	char err[512] = "", *end;
	ca_t *ca = NULL;
	reg_t *reg = NULL;
	int ch, rc, all = 1;

	memset(&f, 0, sizeof(f));
	optind = 1;
	while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		if (common_opt(&c, ch))
			continue;
		switch (ch) {
		case 'm': f.manufacturer_id = optarg; break;
		case 's': f.status = optarg; break;
		case 'S': f.serial = optarg; break;
		case 'l':
			errno = 0;
			f.limit = (size_t)strtoul(optarg, &end, 10);
			if (errno || *end || f.limit < 1 || f.limit >
			    REG_LIST_MAX)
				return usage_err(usage, "--limit is 1..1000");
			all = 0;
			break;
		case 'a':
			errno = 0;
			f.after = strtoll(optarg, &end, 10);
			if (errno || *end || f.after < 0)
				return usage_err(usage, "bad --after cursor");
			break;
		default: return usage_err(usage, NULL);
		}
	}
	if (c.help) {
		printf("usage: %s\n", usage);
		return CLI_OK;
	}
	if (optind != argc)
		return usage_err(usage, "unexpected argument");
	if (f.status != NULL && strcmp(f.status, "active") != 0 &&
	    strcmp(f.status, "suspended") != 0 &&
	    strcmp(f.status, "revoked") != 0)
		return usage_err(usage, "--status is active, suspended or "
		    "revoked");
	if ((rc = open_ca(&c, &ca, &reg)) != CLI_OK)
		return rc;
	{
		cJSON *arr = c.json ? cJSON_CreateArray() : NULL;

		/* Without --limit, walk every page. */
		do {
			rc = reg_device_list(reg, &list, &n, &next, &f, err,
			    sizeof(err));
			if (rc != REG_OK)
				break;
			for (i = 0; i < n; i++) {
				if (arr != NULL) {
					cJSON_AddItemToArray(arr, device_json(
					    &list[i], NULL, NULL, NULL));
				} else if (!c.json) {
					printf("%s\t%s\t%s\t%s\t%s\n",
					    list[i].device_id,
					    list[i].manufacturer_id,
					    list[i].serial, list[i].status,
					    list[i].cert_serial_hex);
				}
			}
			reg_device_list_free(list, n);
			f.after = next;
		} while (all && next != 0);
		if (rc == REG_OK && arr != NULL)
			print_json(arr);
		if (rc == REG_OK && !all && next != 0)
			fprintf(stderr, "next cursor: %lld\n", (long long)next);
		cJSON_Delete(arr);
	}
	close_ca(ca, reg);
	if (rc != REG_OK)
		return fail("list", err);
	return CLI_OK;
}

/* ---- revoke / suspend / reinstate ----------------------------------- */

enum status_op { OP_REVOKE, OP_SUSPEND, OP_REINSTATE };

static int status_cmd(int argc, char **argv, enum status_op op)
{
	static const char *usages[] = {
		"ca-server revoke DEVICE_ID --data DIR --reason REASON "
		"(unspecified|keyCompromise|cACompromise|affiliationChanged|"
		"superseded|cessationOfOperation|privilegeWithdrawn|aACompromise)",
		"ca-server suspend DEVICE_ID --data DIR",
		"ca-server reinstate DEVICE_ID --data DIR",
	};
	static const struct option lo[] = {
		COMMON_LONGOPTS,
		{ "reason", required_argument, NULL, 'r' },
		{ NULL, 0, NULL, 0 }
	};
	const char *usage = usages[op], *reason_s = NULL, *id;
	struct common c = { 0 };
	char err[512] = "";
	ca_t *ca = NULL;
	reg_t *reg = NULL;
	int ch, rc, reason = -1;

	optind = 1;
	while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		if (common_opt(&c, ch))
			continue;
		if (ch == 'r' && op == OP_REVOKE) {
			reason_s = optarg;
			continue;
		}
		return usage_err(usage, NULL);
	}
	if (c.help) {
		printf("usage: %s\n", usage);
		return CLI_OK;
	}
	if (optind != argc - 1)
		return usage_err(usage, "one DEVICE_ID is required");
	id = argv[optind];
	if (op == OP_REVOKE) {
		if (reason_s == NULL)
			return usage_err(usage, "--reason is required");
		if ((reason = ca_revocation_reason(reason_s)) < 0)
			return usage_err(usage, "unknown revocation reason");
	}
	if ((rc = open_ca(&c, &ca, &reg)) != CLI_OK)
		return rc;
	if (op == OP_REVOKE)
		rc = ca_device_revoke(ca, reg, id, reason, CLI_ACTOR, err,
		    sizeof(err));
	else if (op == OP_SUSPEND)
		rc = ca_device_suspend(ca, reg, id, CLI_ACTOR, err, sizeof(err));
	else
		rc = ca_device_reinstate(ca, reg, id, CLI_ACTOR, err,
		    sizeof(err));
	close_ca(ca, reg);
	if (rc != CA_OK)
		return fail(op == OP_REVOKE ? "revoke" : op == OP_SUSPEND ?
		    "suspend" : "reinstate", err);
	printf("%s %s\n", id, op == OP_REVOKE ? "revoked" : op == OP_SUSPEND ?
	    "suspended" : "reinstated");
	return CLI_OK;
}

int cli_revoke(int argc, char **argv)
{
	return status_cmd(argc, argv, OP_REVOKE);
}

int cli_suspend(int argc, char **argv)
{
	return status_cmd(argc, argv, OP_SUSPEND);
}

int cli_reinstate(int argc, char **argv)
{
	return status_cmd(argc, argv, OP_REINSTATE);
}

/* ---- crl / backup --------------------------------------------------- */

/* Common shape: --data DIR --out FILE, and --issuer NAME where issuer is
 * not NULL. */
static int out_cmd(int argc, char **argv, const char *usage,
    struct common *c, const char **out, const char **issuer)
{
	static const struct option lo[] = {
		COMMON_LONGOPTS,
		{ "out", required_argument, NULL, 'o' },
		{ "issuer", required_argument, NULL, 'I' },
		{ NULL, 0, NULL, 0 }
	};
	int ch;

	optind = 1;
	while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		if (common_opt(c, ch))
			continue;
		if (ch == 'o') {
			*out = optarg;
			continue;
		}
		if (ch == 'I' && issuer != NULL) {
			*issuer = optarg;
			continue;
		}
		return usage_err(usage, NULL);
	}
	if (c->help) {
		printf("usage: %s\n", usage);
		return -1;
	}
	if (optind != argc || *out == NULL)
		return usage_err(usage, "--out FILE is required");
	return CLI_OK;
}

int cli_crl(int argc, char **argv)
{
	static const char *usage = "ca-server crl --data DIR --out FILE "
	    "[--issuer device|infra]";
	struct common c = { 0 };
	const char *out = NULL, *issuer = REG_ISSUER_DEVICE;
	uint8_t *der = NULL;
	size_t len = 0;
	int64_t next = 0;
	char err[512] = "", tmp[PATH_MAX];
	ca_t *ca = NULL;
	reg_t *reg = NULL;
	int rc;

	if ((rc = out_cmd(argc, argv, usage, &c, &out, &issuer)) != CLI_OK)
		return rc < 0 ? CLI_OK : rc;
	if (strcmp(issuer, REG_ISSUER_DEVICE) != 0 &&
	    strcmp(issuer, REG_ISSUER_INFRA) != 0)
		return usage_err(usage, "--issuer must be device or infra");
	if ((rc = open_ca(&c, &ca, &reg)) != CLI_OK)
		return rc;
	rc = ca_crl_issuer_get(ca, reg, issuer, &der, &len, &next, err,
	    sizeof(err));
	close_ca(ca, reg);
	if (rc != CA_OK)
		return fail("crl", err);
	/* Replace atomically: write beside, then rename. */
	if (snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", out, (long)getpid()) >=
	    (int)sizeof(tmp)) {
		free(der);
		return fail("crl", "path too long");
	}
	rc = ca_file_write(tmp, der, len, 0644, err, sizeof(err));
	free(der);
	if (rc != CA_OK)
		return fail("crl", err);
	if (rename(tmp, out) != 0) {
		unlink(tmp);
		fprintf(stderr, "ca-server: crl: %s: %s\n", out,
		    strerror(errno));
		return CLI_FAIL;
	}
	printf("CRL written to %s\n", out);
	return CLI_OK;
}

int cli_backup(int argc, char **argv)
{
	static const char *usage = "ca-server backup --data DIR --out FILE";
	struct common c = { 0 };
	const char *out = NULL;
	char err[512] = "";
	ca_t *ca = NULL;
	reg_t *reg = NULL;
	int rc;

	if ((rc = out_cmd(argc, argv, usage, &c, &out, NULL)) != CLI_OK)
		return rc < 0 ? CLI_OK : rc;
	if ((rc = open_ca(&c, &ca, &reg)) != CLI_OK)
		return rc;
	rc = reg_backup(reg, out, err, sizeof(err));
	close_ca(ca, reg);
	if (rc != REG_OK)
		return fail("backup", err);
	printf("registry copied to %s (integrity ok)\n", out);
	return CLI_OK;
}

/* ---- principals ----------------------------------------------------- */

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
		return fail("write credentials", err);
	return CLI_OK;
}

/* principal add / signer add (fixed_role "signer") / principal renew. */
static int principal_add(int argc, char **argv, const char *fixed_role,
    int renew)
{
	static const char *add_usage = "ca-server principal add --data DIR "
	    "--role operator|manufacturer|admin|signer --name NAME "
	    "[--manufacturer-id ID] (--csr FILE | --out DIR "
	    "[--out-pass-file F])";
	static const char *renew_usage = "ca-server principal renew NAME "
	    "--data DIR (--csr FILE | --out DIR [--out-pass-file F]) "
	    "[--revoke-previous]";
	static const struct option lo[] = {
		COMMON_LONGOPTS,
		{ "role", required_argument, NULL, 'r' },
		{ "name", required_argument, NULL, 'n' },
		{ "manufacturer-id", required_argument, NULL, 'm' },
		{ "csr", required_argument, NULL, 'c' },
		{ "out", required_argument, NULL, 'o' },
		{ "out-pass-file", required_argument, NULL, 'p' },
		{ "revoke-previous", no_argument, NULL, 'R' },
		{ NULL, 0, NULL, 0 }
	};
	const char *usage = renew ? renew_usage : add_usage;
	struct common c = { 0 };
	ca_principal_attrs_t a = { .role = fixed_role, .renew = renew };
	const char *csr_path = NULL, *out = NULL, *pass_path = NULL;
	ca_principal_creds_t cr;
	char err[512] = "", p12pass[CA_PASS_MAX + 1] = "";
	uint8_t rnd[16], *csr = NULL;
	size_t csr_len = 0;
	ca_t *ca = NULL;
	reg_t *reg = NULL;
	int ch, rc;

	memset(&cr, 0, sizeof(cr));
	optind = 2;
	while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		if (common_opt(&c, ch))
			continue;
		switch (ch) {
		case 'r':
			if (fixed_role != NULL || renew)
				return usage_err(usage, renew ? "a renewal "
				    "keeps the role" : "signer add takes no "
				    "--role");
			a.role = optarg;
			break;
		case 'n':
			if (renew)
				return usage_err(usage, "NAME is an argument");
			a.name = optarg;
			break;
		case 'm':
			if (renew)
				return usage_err(usage, "a renewal keeps the "
				    "manufacturer");
			a.manufacturer_id = optarg;
			break;
		case 'c': csr_path = optarg; break;
		case 'o': out = optarg; break;
		case 'p': pass_path = optarg; break;
		case 'R':
			if (!renew)
				return usage_err(usage, NULL);
			a.revoke_previous = 1;
			break;
		default: return usage_err(usage, NULL);
		}
	}
	if (c.help) {
		printf("usage: %s\n", usage);
		return CLI_OK;
	}
	if (renew && optind == argc - 1)
		a.name = argv[optind++];
	if (optind != argc || (!renew && a.role == NULL) || a.name == NULL ||
	    (csr_path == NULL) == (out == NULL))
		return usage_err(usage, renew ? "NAME and one of --csr or "
		    "--out are required" : "--role, --name and one of --csr "
		    "or --out are required");
	if (csr_path != NULL && read_input(&csr, &csr_len, csr_path) !=
	    CLI_OK)
		return CLI_FAIL;
	if (pass_path != NULL && ca_pass_read(p12pass, pass_path, err,
	    sizeof(err)) != CA_OK) {
		free(csr);
		return fail("--out-pass-file", err);
	}
	if ((rc = open_ca(&c, &ca, &reg)) != CLI_OK) {
		free(csr);
		return rc;
	}
	if (csr != NULL) {
		rc = ca_principal_add_csr(ca, reg, &cr, &a, csr, csr_len,
		    CLI_ACTOR, err, sizeof(err));
	} else {
		if (p12pass[0] == '\0') {
			if (util_random(rnd, sizeof(rnd)) != 0) {
				close_ca(ca, reg);
				return fail(renew ? "principal renew" :
				    "principal add", "no randomness");
			}
			util_hex_encode(p12pass, rnd, sizeof(rnd));
		}
		rc = ca_principal_add_generated(ca, reg, &cr, &a, p12pass,
		    pass_path != NULL ? p12pass : NULL, CLI_ACTOR, err,
		    sizeof(err));
	}
	close_ca(ca, reg);
	free(csr);
	if (rc != CA_OK) {
		OPENSSL_cleanse(p12pass, sizeof(p12pass));
		return fail(renew ? "principal renew" : "principal add", err);
	}
	if (out != NULL) {
		rc = write_creds(out, a.name, &cr, p12pass, pass_path != NULL);
		if (rc == CLI_OK && renew)
			printf("principal %s renewed; credentials in %s/\n",
			    a.name, out);
		else if (rc == CLI_OK)
			printf("principal %s (%s) added; credentials in %s/\n",
			    a.name, a.role, out);
	} else {
		fputs(cr.cert_pem, stdout);
		rc = CLI_OK;
	}
	OPENSSL_cleanse(p12pass, sizeof(p12pass));
	ca_principal_creds_clear(&cr);
	return rc;
}

int cli_principal(int argc, char **argv)
{
	static const char *usage = "ca-server principal add|renew|list|"
	    "disable|revoke --data DIR ... (see --help of each)";
	static const char *revoke_usage = "ca-server principal revoke NAME "
	    "--data DIR --reason REASON (unspecified|keyCompromise|"
	    "cACompromise|affiliationChanged|superseded|cessationOfOperation|"
	    "privilegeWithdrawn|aACompromise)";
	static const struct option lo[] = { COMMON_LONGOPTS,
	    { "reason", required_argument, NULL, 'r' },
	    { NULL, 0, NULL, 0 } };
	struct common c = { 0 };
	char err[512] = "", t[32];
	const char *reason_s = NULL;
	ca_t *ca = NULL;
	reg_t *reg = NULL;
	int ch, rc, revoke;

	if (argc < 2)
		return usage_err(usage, "add, renew, list, disable or revoke?");
	if (strcmp(argv[1], "--help") == 0) {
		printf("usage: %s\n", usage);
		return CLI_OK;
	}
	if (strcmp(argv[1], "add") == 0)
		return principal_add(argc, argv, NULL, 0);
	if (strcmp(argv[1], "renew") == 0)
		return principal_add(argc, argv, NULL, 1);
	revoke = strcmp(argv[1], "revoke") == 0;
	if (strcmp(argv[1], "list") != 0 && strcmp(argv[1], "disable") != 0 &&
	    !revoke)
		return usage_err(usage, "add, renew, list, disable or revoke?");
	optind = 2;
	while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		if (common_opt(&c, ch))
			continue;
		if (ch == 'r' && revoke) {
			reason_s = optarg;
			continue;
		}
		return usage_err(revoke ? revoke_usage : usage, NULL);
	}
	if (c.help) {
		if (revoke)
			printf("usage: %s\n", revoke_usage);
		else
			printf("usage: ca-server principal %s --data DIR%s\n",
			    argv[1], strcmp(argv[1], "list") == 0 ?
			    " [--json]" : " NAME");
		return CLI_OK;
	}
	if (revoke) {
		int reason;

		if (optind != argc - 1)
			return usage_err(revoke_usage, "one NAME is required");
		if (reason_s == NULL)
			return usage_err(revoke_usage, "--reason is required");
		if ((reason = ca_revocation_reason(reason_s)) < 0)
			return usage_err(revoke_usage,
			    "unknown revocation reason");
		if ((rc = open_ca(&c, &ca, &reg)) != CLI_OK)
			return rc;
		rc = ca_principal_revoke(ca, reg, argv[optind], reason,
		    CLI_ACTOR, err, sizeof(err));
		close_ca(ca, reg);
		if (rc != CA_OK)
			return fail("principal revoke", err);
		printf("certificate of principal %s revoked (%s)\n",
		    argv[optind], reason_s);
		return CLI_OK;
	}
	if (strcmp(argv[1], "disable") == 0) {
		if (optind != argc - 1)
			return usage_err("ca-server principal disable --data DIR"
			    " NAME", "one NAME is required");
		if ((rc = open_ca(&c, &ca, &reg)) != CLI_OK)
			return rc;
		rc = ca_principal_disable(ca, reg, argv[optind], CLI_ACTOR, err,
		    sizeof(err));
		close_ca(ca, reg);
		if (rc != CA_OK)
			return fail("principal disable", err);
		printf("principal %s disabled\n", argv[optind]);
		return CLI_OK;
	}
	if (optind != argc)
		return usage_err(usage, "unexpected argument");
	{
		reg_principal_t *list = NULL;
		size_t n = 0, i;
		cJSON *arr = NULL;

		if ((rc = open_ca(&c, &ca, &reg)) != CLI_OK)
			return rc;
		rc = reg_principal_list(reg, &list, &n, err, sizeof(err));
		close_ca(ca, reg);
		if (rc != REG_OK)
			return fail("principal list", err);
		if (c.json)
			arr = cJSON_CreateArray();
		for (i = 0; i < n; i++) {
			if (arr != NULL) {
				cJSON *o = ca_principal_json(&list[i]);

				if (o == NULL || !cJSON_AddItemToArray(arr, o)) {
					cJSON_Delete(o);
					cJSON_Delete(arr);
					free(list);
					return fail("principal list", "out of memory");
				}
			} else {
				fmt_time(t, list[i].not_after);
				printf("%s\t%s\t%s\t%s%s\t%s\n", list[i].name,
				    list[i].role, list[i].manufacturer_id[0] ?
				    list[i].manufacturer_id : "-",
				    list[i].status, list[i].cert_revoked ?
				    ",cert-revoked" : "", t);
			}
		}
		if (arr != NULL)
			print_json(arr);
		cJSON_Delete(arr);
		free(list);
	}
	return CLI_OK;
}

int cli_signer(int argc, char **argv)
{
	if (argc < 2 || strcmp(argv[1], "add") != 0) {
		return usage_err("ca-server signer add --data DIR --name NAME "
		    "(--csr FILE | --out DIR [--out-pass-file F])",
		    "add?");
	}
	return principal_add(argc, argv, REG_ROLE_SIGNER, 0);
}

/* ---- audit ---------------------------------------------------------- */

int cli_audit(int argc, char **argv)
{
	static const char *usage = "ca-server audit --data DIR [--actor A] "
	    "[--action X] [--target T] [--limit N] [--after CURSOR] [--json]";
	static const struct option lo[] = {
		COMMON_LONGOPTS,
		{ "actor", required_argument, NULL, 'a' },
		{ "action", required_argument, NULL, 'x' },
		{ "target", required_argument, NULL, 't' },
		{ "limit", required_argument, NULL, 'l' },
		{ "after", required_argument, NULL, 'A' },
		{ NULL, 0, NULL, 0 }
	};
	struct common c = { 0 };
	reg_audit_filter_t f;
	reg_audit_t *list = NULL;
	size_t n = 0, i;
	int64_t next = 0;
	char err[512] = "", t[32], *end;
	cJSON *arr = NULL;
	ca_t *ca = NULL;
	reg_t *reg = NULL;
	int ch, rc;

	memset(&f, 0, sizeof(f));
	optind = 1;
	while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		if (common_opt(&c, ch))
			continue;
		switch (ch) {
		case 'a': f.actor = optarg; break;
		case 'x': f.action = optarg; break;
		case 't': f.target = optarg; break;
		case 'l':
			errno = 0;
			f.limit = (size_t)strtoul(optarg, &end, 10);
			if (errno || *end || f.limit < 1 || f.limit >
			    REG_LIST_MAX)
				return usage_err(usage, "--limit is 1..1000");
			break;
		case 'A':
			errno = 0;
			f.after = strtoll(optarg, &end, 10);
			if (errno || *end || f.after < 0)
				return usage_err(usage, "bad --after cursor");
			break;
		default: return usage_err(usage, NULL);
		}
	}
	if (c.help) {
		printf("usage: %s\n", usage);
		return CLI_OK;
	}
	if (optind != argc)
		return usage_err(usage, "unexpected argument");
	if ((rc = open_ca(&c, &ca, &reg)) != CLI_OK)
		return rc;
	rc = reg_audit_list(reg, &list, &n, &next, &f, err, sizeof(err));
	close_ca(ca, reg);
	if (rc != REG_OK)
		return fail("audit", err);
	if (c.json)
		arr = cJSON_CreateArray();
	for (i = 0; i < n; i++) {
		if (arr != NULL) {
			cJSON *o = cJSON_CreateObject();

			if (o == NULL)
				break;
			cJSON_AddNumberToObject(o, "id", (double)list[i].id);
			cJSON_AddNumberToObject(o, "at", (double)list[i].at);
			cJSON_AddStringToObject(o, "actor", list[i].actor);
			cJSON_AddStringToObject(o, "action", list[i].action);
			cJSON_AddStringToObject(o, "target", list[i].target);
			cJSON_AddItemToObject(o, "details",
			    cJSON_Parse(list[i].details));
			cJSON_AddItemToArray(arr, o);
		} else {
			fmt_time(t, list[i].at);
			printf("%lld\t%s\t%s\t%s\t%s\t%s\n",
			    (long long)list[i].id, t, list[i].actor,
			    list[i].action, list[i].target, list[i].details);
		}
	}
	if (arr != NULL)
		print_json(arr);
	cJSON_Delete(arr);
	reg_audit_list_free(list, n);
	if (next != 0)
		fprintf(stderr, "next cursor: %lld\n", (long long)next);
	return CLI_OK;
}

/* ---- config ---------------------------------------------------------- */

/* Set public_base_url in DATA/config.json and audit the change; when the
 * audit cannot be written the old URL is put back. */
static int cli_config_public_url(const char *data, const char *url)
{
	char path[PATH_MAX], db[PATH_MAX], err[512] = "", err2[256] = "";
	ca_config_t old;
	reg_t *reg = NULL;
	int rc = CLI_FAIL;

	if ((size_t)snprintf(path, sizeof(path), "%s/config.json", data) >=
	    sizeof(path) || (size_t)snprintf(db, sizeof(db),
	    "%s/registry.db", data) >= sizeof(db))
		return fail("config", "--data path too long");
	if (config_load(&old, path, err, sizeof(err)) != CONFIG_OK)
		return fail("cannot read config", err);
	if (reg_open_existing(&reg, db, err, sizeof(err)) != REG_OK)
		return fail("not a CA folder", err);
	if (config_public_url_set(path, url, err, sizeof(err)) != CONFIG_OK) {
		rc = fail("public-url not changed", err);
		goto out;
	}
	if (ca_audit(reg, CLI_ACTOR, "config set", "public_base_url", err,
	    sizeof(err), "old", old.public_base_url, "new", url,
	    (const char *)NULL) != CA_OK) {
		if (config_public_url_set(path, old.public_base_url, err2,
		    sizeof(err2)) != CONFIG_OK)
			fprintf(stderr, "ca-server: could not restore %s: %s\n",
			    path, err2);
		rc = fail("public-url not changed (audit failed)", err);
		goto out;
	}
	printf("public_base_url: %s (was %s); certificates issued from now on "
	    "carry it; restart a running ca-server serve\n", url,
	    old.public_base_url);
	rc = CLI_OK;
out:
	reg_close(reg);
	return rc;
}

/* ca-server config: print every setting, or set public-url. */
int cli_config(int argc, char **argv)
{
	static const char *usage = "ca-server config --data DIR "
	    "(show | set public-url URL)";
	static const struct option lo[] = {
		COMMON_LONGOPTS,
		{ NULL, 0, NULL, 0 }
	};
	struct common c = { 0 };
	ca_config_t cfg;
	char path[PATH_MAX], err[512] = "", *s;
	int ch;

	optind = 1;
	while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		if (!common_opt(&c, ch))
			return usage_err(usage, NULL);
	}
	if (c.help) {
		printf("usage: %s\n", usage);
		return CLI_OK;
	}
	if (c.data == NULL)
		return usage_err(usage, "--data DIR is required");
	if (argc - optind == 3 && strcmp(argv[optind], "set") == 0 &&
	    strcmp(argv[optind + 1], "public-url") == 0)
		return cli_config_public_url(c.data, argv[optind + 2]);
	if (argc - optind != 1 || strcmp(argv[optind], "show") != 0)
		return usage_err(usage, "expected `show` or `set public-url URL`");
	if ((size_t)snprintf(path, sizeof(path), "%s/config.json", c.data) >=
	    sizeof(path))
		return fail("config", "--data path too long");
	if (config_load(&cfg, path, err, sizeof(err)) != CONFIG_OK)
		return fail("cannot read config", err);
	if ((s = config_to_json(&cfg)) == NULL)
		return fail("config", "out of memory");
	printf("%s\n", s);
	free(s);
	return CLI_OK;
}
