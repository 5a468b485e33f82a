/* cli_device.c — `ca-server enroll` (one CSR, or a batch file issued in
 * chunks), `ca-server show DEVICE_ID` and `ca-server list`. */
#include "cli_opt.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A batch file's fields per line, after the CSR file. */
#define BATCH_ATTRS 4

/* The device's issuance as a JSON object, or NULL (out of memory). */
static cJSON *issue_json(const ca_issue_result_t *r)
{
	cJSON *o = cJSON_CreateObject();

	if (o == NULL ||
	    cJSON_AddStringToObject(o, "device_id", r->device_id) == NULL ||
	    cJSON_AddStringToObject(o, "cert_url", r->cert_url) == NULL ||
	    cJSON_AddBoolToObject(o, "created", r->created) == NULL ||
	    cJSON_AddStringToObject(o, "certificate", r->cert_pem) == NULL ||
	    cJSON_AddStringToObject(o, "chain", r->chain_pem) == NULL) {
		cJSON_Delete(o);
		return NULL;
	}
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

/* A batch being read: the file, the chunk's items and their strings. */
struct batch {
	FILE *f;
	const char *path;
	size_t lineno, chunk;
	ca_issue_item_t *items;
	char (*strs)[BATCH_ATTRS][REG_ATTR_MAX + 2];
	int eof, json, first;
};

/* Parse one batch line into item n; 0, 1 to skip it, or -1 (printed). */
static int batch_line(struct batch *b, char *line, size_t n)
{
	char *fld[BATCH_ATTRS + 1];
	size_t k, nf;

	if (line[0] == '#' || line[strspn(line, " \t\r\n")] == '\0')
		return 1;
	nf = split_tabs(line, fld, BATCH_ATTRS + 1);
	if (nf < BATCH_ATTRS) {
		fprintf(stderr,
		    "ca-server: %s:%zu: need CSR_FILE MANUFACTURER_ID"
		    " SERIAL MODEL [HW]\n",
		    b->path, b->lineno);
		return -1;
	}
	memset(&b->items[n], 0, sizeof(b->items[n]));
	for (k = 1; k < nf; k++) {
		if (strlen(fld[k]) > REG_ATTR_MAX) {
			fprintf(stderr,
			    "ca-server: %s:%zu: field longer than "
			    "%d\n",
			    b->path, b->lineno, REG_ATTR_MAX);
			return -1;
		}
		snprintf(b->strs[n][k - 1], sizeof(b->strs[n][k - 1]), "%s",
		    fld[k]);
	}
	if (cli_input_read((uint8_t **)&b->items[n].csr, &b->items[n].csr_len,
	        fld[0]) != CLI_OK) {
		b->items[n].csr = NULL;
		return -1;
	}
	b->items[n].attrs.manufacturer_id = b->strs[n][0];
	b->items[n].attrs.serial = b->strs[n][1];
	b->items[n].attrs.model = b->strs[n][2];
	b->items[n].attrs.hw_version = nf > BATCH_ATTRS ? b->strs[n][3] : "";
	return 0;
}

/* Read up to a chunk of items; their count, or -1 (printed). */
static long batch_read(struct batch *b)
{
	char line[4096];
	size_t n = 0;
	int rc;

	while (n < b->chunk) {
		if (fgets(line, sizeof(line), b->f) == NULL) {
			b->eof = 1;
			break;
		}
		b->lineno++;
		if (strchr(line, '\n') == NULL && !feof(b->f)) {
			fprintf(stderr, "ca-server: %s:%zu: line too long\n",
			    b->path, b->lineno);
			return -1;
		}
		if ((rc = batch_line(b, line, n)) < 0)
			return -1;
		if (rc == 0)
			n++;
	}
	return (long)n;
}

/* Print an issued chunk (a line each, or JSON array members) and free
 * what each item held; CLI_OK or CLI_FAIL (out of memory). */
static int batch_emit(struct batch *b, size_t n)
{
	size_t i;
	int rc = CLI_OK;

	for (i = 0; i < n; i++) {
		ca_issue_result_t *r = &b->items[i].result;

		if (b->json && rc == CLI_OK) {
			cJSON *o = issue_json(r);
			char *s = o != NULL ? cJSON_PrintUnformatted(o) : NULL;

			if (s == NULL)
				rc = cli_fail("enroll batch", "out of memory");
			else
				printf("%s%s", b->first ? "\n" : ",\n", s);
			b->first = 0;
			free(s);
			cJSON_Delete(o);
		} else if (!b->json) {
			printf("%s\t%s\n", r->device_id, r->cert_url);
		}
		ca_issue_result_clear(r);
		free((void *)b->items[i].csr);
		b->items[i].csr = NULL;
	}
	return rc;
}

/* --batch FILE: lines "CSR_FILE<TAB>MANUFACTURER_ID<TAB>SERIAL<TAB>MODEL
 * [<TAB>HW_VERSION]", issued batch_max at a time, one transaction each. */
static int enroll_batch(ca_t *ca, reg_t *reg, const char *path, int json)
{
	struct batch b = { .path = path, .json = json, .first = 1 };
	char err[512] = "";
	size_t ok = 0, i;
	long n;
	int rc = CLI_FAIL;

	b.chunk = (size_t)ca_config(ca)->batch_max;
	if ((b.f = fopen(path, "r")) == NULL) {
		fprintf(stderr, "ca-server: %s: %s\n", path, strerror(errno));
		return CLI_FAIL;
	}
	if ((b.items = calloc(b.chunk, sizeof(*b.items))) == NULL ||
	    (b.strs = calloc(b.chunk, sizeof(*b.strs))) == NULL) {
		fprintf(stderr, "ca-server: out of memory\n");
		goto out;
	}
	if (json)
		printf("[");
	while (!b.eof) {
		if ((n = batch_read(&b)) < 0)
			goto out;
		if (n == 0)
			break;
		if (ca_device_issue_batch(ca, reg, b.items, (size_t)n, 1,
		        CLI_ACTOR, err, sizeof(err)) != CA_OK) {
			fprintf(stderr,
			    "ca-server: enroll batch (from line "
			    "%zu): %s\n",
			    b.lineno - (size_t)n + 1, err);
			goto out;
		}
		if (batch_emit(&b, (size_t)n) != CLI_OK)
			goto out;
		ok += (size_t)n;
	}
	if (json)
		printf("\n]\n");
	rc = CLI_OK;
out:
	for (i = 0; b.items != NULL && i < b.chunk; i++) {
		ca_issue_result_clear(&b.items[i].result);
		free((void *)b.items[i].csr);
	}
	free(b.items);
	free(b.strs);
	if (b.f != NULL)
		fclose(b.f);
	if (rc == CLI_OK && !json)
		fprintf(stderr, "ca-server: enrolled %zu devices\n", ok);
	return rc;
}

struct enroll_args {
	const char *csr_path, *batch;
	ca_device_attrs_t a;
};

/* enroll's own options. */
static int enroll_opt(void *ctx, int ch, const char *arg, const char **msg)
{
	struct enroll_args *e = ctx;

	(void)msg;
	switch (ch) {
	case 'c': e->csr_path = arg; return 0;
	case 'm': e->a.manufacturer_id = arg; return 0;
	case 's': e->a.serial = arg; return 0;
	case 'M': e->a.model = arg; return 0;
	case 'w': e->a.hw_version = arg; return 0;
	case 'b': e->batch = arg; return 0;
	default: return -1;
	}
}

/* Issue one device's certificate from --csr and print it. */
static int enroll_one(const struct cli_common *c, const char *usage,
    const struct enroll_args *e)
{
	ca_issue_result_t r;
	uint8_t *csr = NULL;
	size_t csr_len = 0;
	char err[512] = "";
	ca_t *ca = NULL;
	reg_t *reg = NULL;
	cJSON *o;
	int rc;

	if (e->csr_path == NULL || e->a.manufacturer_id == NULL ||
	    e->a.serial == NULL || e->a.model == NULL)
		return cli_usage_err(usage,
		    "--csr, --manufacturer-id, --serial "
		    "and --model are required");
	if (cli_input_read(&csr, &csr_len, e->csr_path) != CLI_OK)
		return CLI_FAIL;
	if ((rc = cli_ca_open(c, &ca, &reg)) != CLI_OK) {
		free(csr);
		return rc;
	}
	rc = ca_device_issue(ca, reg, &r, csr, csr_len, &e->a, CLI_ACTOR, err,
	    sizeof(err));
	cli_ca_close(ca, reg);
	free(csr);
	if (rc != CA_OK)
		return cli_fail("enroll", err);
	if (c->json) {
		o = issue_json(&r);
		rc = cli_json_print(o);
		cJSON_Delete(o);
	} else {
		printf("%s\t%s%s\n", r.device_id, r.cert_url,
		    r.created ? "" : "\t(already enrolled)");
		rc = CLI_OK;
	}
	ca_issue_result_clear(&r);
	return rc;
}

/* ca-server enroll: one CSR, or --batch FILE. */
int cli_enroll(int argc, char **argv)
{
	static const char *usage =
	    "ca-server enroll --data DIR --csr FILE "
	    "--manufacturer-id ID --serial S --model M [--hardware-version V] "
	    "[--json] | enroll --data DIR --batch FILE [--json]";
	static const struct option lo[] = { CLI_COMMON_LONGOPTS,
		{ "csr", required_argument, NULL, 'c' },
		{ "manufacturer-id", required_argument, NULL, 'm' },
		{ "serial", required_argument, NULL, 's' },
		{ "model", required_argument, NULL, 'M' },
		{ "hardware-version", required_argument, NULL, 'w' },
		{ "batch", required_argument, NULL, 'b' },
		{ NULL, 0, NULL, 0 } };
	struct cli_common c = { 0 };
	struct enroll_args e = { NULL, NULL, { NULL, NULL, NULL, NULL } };
	ca_t *ca = NULL;
	reg_t *reg = NULL;
	int rc;

	rc = cli_opt_parse(&c, argc, argv, 1, lo, usage, enroll_opt, &e);
	if (rc != CLI_OK)
		return rc == CLI_HELP_SHOWN ? CLI_OK : rc;
	if (optind != argc)
		return cli_usage_err(usage, "unexpected argument");
	if (e.batch == NULL)
		return enroll_one(&c, usage, &e);
	if (e.csr_path != NULL || e.a.manufacturer_id != NULL ||
	    e.a.serial != NULL || e.a.model != NULL)
		return cli_usage_err(usage, "--batch takes no device options");
	if ((rc = cli_ca_open(&c, &ca, &reg)) != CLI_OK)
		return rc;
	rc = enroll_batch(ca, reg, e.batch, c.json);
	cli_ca_close(ca, reg);
	return rc;
}

/* The device's record as a JSON object (with its URL, certificate and
 * chain when given), or NULL (out of memory). */
static cJSON *device_json(const reg_device_t *d, const char *cert_pem,
    const char *chain_pem, const char *url)
{
	cJSON *o = cJSON_CreateObject();

	if (o == NULL ||
	    cJSON_AddStringToObject(o, "device_id", d->device_id) == NULL ||
	    cJSON_AddStringToObject(o, "manufacturer_id", d->manufacturer_id) ==
	        NULL ||
	    cJSON_AddStringToObject(o, "manufacturer_name",
	        d->manufacturer_name) == NULL ||
	    cJSON_AddStringToObject(o, "serial", d->serial) == NULL ||
	    cJSON_AddStringToObject(o, "model", d->model) == NULL ||
	    cJSON_AddStringToObject(o, "hardware_version", d->hw_version) ==
	        NULL ||
	    cJSON_AddStringToObject(o, "status", d->status) == NULL ||
	    (d->reason >= 0 ? cJSON_AddStringToObject(o, "reason",
	                          ca_reason_name(d->reason)) :
	                      cJSON_AddNullToObject(o, "reason")) == NULL ||
	    cJSON_AddNumberToObject(o, "revoked_at", (double)d->revoked_at) ==
	        NULL ||
	    cJSON_AddNumberToObject(o, "created_at", (double)d->created_at) ==
	        NULL ||
	    cJSON_AddNumberToObject(o, "updated_at", (double)d->updated_at) ==
	        NULL ||
	    cJSON_AddNumberToObject(o, "version", (double)d->version) == NULL ||
	    cJSON_AddStringToObject(o, "cert_serial", d->cert_serial_hex) ==
	        NULL ||
	    cJSON_AddStringToObject(o, "cert_sha256", d->cert_sha256) == NULL ||
	    cJSON_AddStringToObject(o, "key_type", d->key_type) == NULL ||
	    cJSON_AddNumberToObject(o, "not_before", (double)d->not_before) ==
	        NULL ||
	    cJSON_AddNumberToObject(o, "not_after", (double)d->not_after) ==
	        NULL ||
	    (url != NULL &&
	        cJSON_AddStringToObject(o, "cert_url", url) == NULL) ||
	    (cert_pem != NULL &&
	        cJSON_AddStringToObject(o, "certificate", cert_pem) == NULL) ||
	    (chain_pem != NULL &&
	        cJSON_AddStringToObject(o, "chain", chain_pem) == NULL)) {
		cJSON_Delete(o);
		return NULL;
	}
	return o;
}

/* show's text form: one field a line, then the certificate. */
static void show_text(const ca_device_t *d)
{
	char t1[32], t2[32];

	cli_time_format(t1, d->rec.not_before);
	cli_time_format(t2, d->rec.not_after);
	printf("device_id:       %s\n", d->rec.device_id);
	printf("cert_url:        %s\n", d->cert_url);
	printf("manufacturer:    %s (%s)\n", d->rec.manufacturer_id,
	    d->rec.manufacturer_name);
	printf("serial:          %s\n", d->rec.serial);
	printf("model:           %s\n", d->rec.model);
	printf("hardware:        %s\n", d->rec.hw_version);
	printf("status:          %s%s%s\n", d->rec.status,
	    d->rec.reason >= 0 ? " " : "",
	    d->rec.reason >= 0 ? ca_reason_name(d->rec.reason) : "");
	printf("cert_serial:     %s\n", d->rec.cert_serial_hex);
	printf("key_type:        %s\n", d->rec.key_type);
	printf("validity:        %s .. %s\n", t1, t2);
	fputs(d->cert_pem, stdout);
}

/* ca-server show DEVICE_ID. */
int cli_show(int argc, char **argv)
{
	static const char *usage = "ca-server show DEVICE_ID --data DIR "
	                           "[--json]";
	static const struct option lo[] = { CLI_COMMON_LONGOPTS,
		{ NULL, 0, NULL, 0 } };
	struct cli_common c = { 0 };
	char err[512] = "";
	ca_device_t d;
	ca_t *ca = NULL;
	reg_t *reg = NULL;
	cJSON *o;
	int rc;

	rc = cli_opt_parse(&c, argc, argv, 1, lo, usage, NULL, NULL);
	if (rc != CLI_OK)
		return rc == CLI_HELP_SHOWN ? CLI_OK : rc;
	if (optind != argc - 1)
		return cli_usage_err(usage, "one DEVICE_ID is required");
	if ((rc = cli_ca_open(&c, &ca, &reg)) != CLI_OK)
		return rc;
	rc = ca_device_get(ca, reg, &d, argv[optind], err, sizeof(err));
	cli_ca_close(ca, reg);
	if (rc != CA_OK)
		return cli_fail("show", err);
	if (c.json) {
		o = device_json(&d.rec, d.cert_pem, d.chain_pem, d.cert_url);
		rc = cli_json_print(o);
		cJSON_Delete(o);
	} else {
		show_text(&d);
		rc = CLI_OK;
	}
	ca_device_clear(&d);
	return rc;
}

struct list_args {
	reg_device_filter_t f;
	int all; /* no --limit: walk every page */
};

/* list's own options. */
static int list_opt(void *ctx, int ch, const char *arg, const char **msg)
{
	struct list_args *l = ctx;

	switch (ch) {
	case 'm': l->f.manufacturer_id = arg; return 0;
	case 's': l->f.status = arg; return 0;
	case 'S': l->f.serial = arg; return 0;
	case 'l': l->all = 0; return cli_opt_limit(&l->f.limit, arg, msg);
	case 'a': return cli_opt_after(&l->f.after, arg, msg);
	default: return -1;
	}
}

/* Read the pages (all, or one with --limit) and print them; the
 * registry's code, err set. */
static int list_pages(reg_t *reg, struct list_args *l, int json, char *err,
    size_t errlen)
{
	cJSON *arr = json ? cJSON_CreateArray() : NULL, *o;
	reg_device_t *list = NULL;
	size_t n = 0, i;
	int64_t next = 0;
	int rc;

	if (json && arr == NULL) {
		snprintf(err, errlen, "out of memory");
		return REG_ERR_INTERNAL;
	}
	do {
		rc = reg_device_list(reg, &list, &n, &next, &l->f, err, errlen);
		if (rc != REG_OK)
			break;
		for (i = 0; i < n; i++) {
			if (!json) {
				printf("%s\t%s\t%s\t%s\t%s\n",
				    list[i].device_id, list[i].manufacturer_id,
				    list[i].serial, list[i].status,
				    list[i].cert_serial_hex);
			} else if ((o = device_json(&list[i], NULL, NULL,
			                NULL)) == NULL ||
			    !cJSON_AddItemToArray(arr, o)) {
				cJSON_Delete(o);
				snprintf(err, errlen, "out of memory");
				rc = REG_ERR_INTERNAL;
				break;
			}
		}
		reg_device_list_free(list, n);
		l->f.after = next;
	} while (rc == REG_OK && l->all && next != 0);
	if (rc == REG_OK && arr != NULL && cli_json_print(arr) != CLI_OK) {
		snprintf(err, errlen, "out of memory");
		rc = REG_ERR_INTERNAL;
	}
	if (rc == REG_OK && !l->all && next != 0)
		fprintf(stderr, "next cursor: %lld\n", (long long)next);
	cJSON_Delete(arr);
	return rc;
}

/* ca-server list: devices by manufacturer, status or serial, paged. */
int cli_list(int argc, char **argv)
{
	static const char *usage =
	    "ca-server list --data DIR "
	    "[--manufacturer-id ID] [--status active|suspended|revoked] "
	    "[--serial S] [--limit N] [--after CURSOR] [--json]";
	static const struct option lo[] = { CLI_COMMON_LONGOPTS,
		{ "manufacturer-id", required_argument, NULL, 'm' },
		{ "status", required_argument, NULL, 's' },
		{ "serial", required_argument, NULL, 'S' },
		{ "limit", required_argument, NULL, 'l' },
		{ "after", required_argument, NULL, 'a' },
		{ NULL, 0, NULL, 0 } };
	struct cli_common c = { 0 };
	struct list_args l;
	char err[512] = "";
	ca_t *ca = NULL;
	reg_t *reg = NULL;
	int rc;

	memset(&l, 0, sizeof(l));
	l.all = 1;
	rc = cli_opt_parse(&c, argc, argv, 1, lo, usage, list_opt, &l);
	if (rc != CLI_OK)
		return rc == CLI_HELP_SHOWN ? CLI_OK : rc;
	if (optind != argc)
		return cli_usage_err(usage, "unexpected argument");
	if (l.f.status != NULL && strcmp(l.f.status, "active") != 0 &&
	    strcmp(l.f.status, "suspended") != 0 &&
	    strcmp(l.f.status, "revoked") != 0)
		return cli_usage_err(usage,
		    "--status is active, suspended or "
		    "revoked");
	if ((rc = cli_ca_open(&c, &ca, &reg)) != CLI_OK)
		return rc;
	rc = list_pages(reg, &l, c.json, err, sizeof(err));
	cli_ca_close(ca, reg);
	if (rc != REG_OK)
		return cli_fail("list", err);
	return CLI_OK;
}
