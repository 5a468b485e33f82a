/* cli_audit.c — the registry's records kept and copied: `ca-server audit`
 * (the audit log, filtered and paged) and `ca-server backup`. */
#include "cli_opt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* audit's own options, into the registry's filter. */
static int audit_opt(void *ctx, int ch, const char *arg, const char **msg)
{
	reg_audit_filter_t *f = ctx;

	switch (ch) {
	case 'a': f->actor = arg; return 0;
	case 'x': f->action = arg; return 0;
	case 't': f->target = arg; return 0;
	case 'l': return cli_opt_limit(&f->limit, arg, msg);
	case 'A': return cli_opt_after(&f->after, arg, msg);
	default: return -1;
	}
}

/* One audit row as a JSON object (details parsed back when they are
 * JSON, left out otherwise), or NULL (out of memory). */
static cJSON *audit_json(const reg_audit_t *a)
{
	cJSON *o = cJSON_CreateObject(), *d = NULL;

	if (o == NULL ||
	    cJSON_AddNumberToObject(o, "id", (double)a->id) == NULL ||
	    cJSON_AddNumberToObject(o, "at", (double)a->at) == NULL ||
	    cJSON_AddStringToObject(o, "actor", a->actor) == NULL ||
	    cJSON_AddStringToObject(o, "action", a->action) == NULL ||
	    cJSON_AddStringToObject(o, "target", a->target) == NULL)
		goto fail;
	if ((d = cJSON_Parse(a->details)) != NULL &&
	    !cJSON_AddItemToObject(o, "details", d))
		goto fail;
	return o;
fail:
	cJSON_Delete(d);
	cJSON_Delete(o);
	return NULL;
}

/* Print the rows: tab-separated lines, or a JSON array. */
static int audit_print(const reg_audit_t *list, size_t n, int json)
{
	cJSON *arr, *o;
	char t[32];
	size_t i;
	int rc;

	if (!json) {
		for (i = 0; i < n; i++) {
			cli_time_format(t, list[i].at);
			printf("%lld\t%s\t%s\t%s\t%s\t%s\n",
			    (long long)list[i].id, t, list[i].actor,
			    list[i].action, list[i].target, list[i].details);
		}
		return CLI_OK;
	}
	if ((arr = cJSON_CreateArray()) == NULL)
		return cli_fail("audit", "out of memory");
	for (i = 0; i < n; i++) {
		if ((o = audit_json(&list[i])) == NULL ||
		    !cJSON_AddItemToArray(arr, o)) {
			cJSON_Delete(o);
			cJSON_Delete(arr);
			return cli_fail("audit", "out of memory");
		}
	}
	rc = cli_json_print(arr);
	cJSON_Delete(arr);
	return rc;
}

/* ca-server audit [--actor] [--action] [--target] [--limit] [--after]. */
int cli_audit(int argc, char **argv)
{
	static const char *usage =
	    "ca-server audit --data DIR [--actor A] "
	    "[--action X] [--target T] [--limit N] [--after CURSOR] [--json]";
	static const struct option lo[] = { CLI_COMMON_LONGOPTS,
		{ "actor", required_argument, NULL, 'a' },
		{ "action", required_argument, NULL, 'x' },
		{ "target", required_argument, NULL, 't' },
		{ "limit", required_argument, NULL, 'l' },
		{ "after", required_argument, NULL, 'A' },
		{ NULL, 0, NULL, 0 } };
	struct cli_common c = { 0 };
	reg_audit_filter_t f;
	reg_audit_t *list = NULL;
	size_t n = 0;
	int64_t next = 0;
	char err[512] = "";
	ca_t *ca = NULL;
	reg_t *reg = NULL;
	int rc;

	memset(&f, 0, sizeof(f));
	rc = cli_opt_parse(&c, argc, argv, 1, lo, usage, audit_opt, &f);
	if (rc != CLI_OK)
		return rc == CLI_HELP_SHOWN ? CLI_OK : rc;
	if (optind != argc)
		return cli_usage_err(usage, "unexpected argument");
	if ((rc = cli_ca_open(&c, &ca, &reg)) != CLI_OK)
		return rc;
	rc = reg_audit_list(reg, &list, &n, &next, &f, err, sizeof(err));
	cli_ca_close(ca, reg);
	if (rc != REG_OK)
		return cli_fail("audit", err);
	rc = audit_print(list, n, c.json);
	reg_audit_list_free(list, n);
	if (rc == CLI_OK && next != 0)
		fprintf(stderr, "next cursor: %lld\n", (long long)next);
	return rc;
}

/* backup's --out FILE. */
static int backup_opt(void *ctx, int ch, const char *arg, const char **msg)
{
	(void)msg;
	if (ch != 'o')
		return -1;
	*(const char **)ctx = arg;
	return 0;
}

/* The PostgreSQL way, printed: ca-server does not run pg_dump itself (its
 * version must match the server's, and its credentials are the
 * operator's). CLI_FAIL: nothing was copied. */
static int backup_pg_explain(const char *data, const char *out)
{
	char url[PATH_MAX], err[256] = "";

	if (ca_db_location(url, sizeof(url), data, err, sizeof(err)) != CA_OK)
		return cli_fail("backup", err);
	fprintf(stderr,
	    "ca-server: backup: the registry is on PostgreSQL "
	    "(%s); nothing was copied. Back it up the PostgreSQL way:\n"
	    "  pg_dump --format=custom --file='%s' '%s'\n"
	    "(one consistent snapshot, taken while nodes serve; restore into "
	    "an empty database with pg_restore --dbname=URL FILE), or "
	    "pg_basebackup with WAL archiving for point-in-time recovery. "
	    "Back up the data folder (keys, certificates, config.json) as "
	    "well.\n",
	    url, out, url);
	return CLI_FAIL;
}

/* ca-server backup --out FILE: an online, integrity-checked copy. */
int cli_backup(int argc, char **argv)
{
	static const char *usage = "ca-server backup --data DIR --out FILE";
	static const struct option lo[] = { CLI_COMMON_LONGOPTS,
		{ "out", required_argument, NULL, 'o' }, { NULL, 0, NULL, 0 } };
	struct cli_common c = { 0 };
	const char *out = NULL;
	char err[512] = "";
	ca_t *ca = NULL;
	reg_t *reg = NULL;
	int rc;

	rc = cli_opt_parse(&c, argc, argv, 1, lo, usage, backup_opt, &out);
	if (rc != CLI_OK)
		return rc == CLI_HELP_SHOWN ? CLI_OK : rc;
	if (optind != argc || out == NULL)
		return cli_usage_err(usage, "--out FILE is required");
	if ((rc = cli_ca_open(&c, &ca, &reg)) != CLI_OK)
		return rc;
	if (reg_is_pg(reg)) {
		cli_ca_close(ca, reg);
		return backup_pg_explain(c.data, out);
	}
	rc = reg_backup(reg, out, err, sizeof(err));
	cli_ca_close(ca, reg);
	if (rc != REG_OK)
		return cli_fail("backup", err);
	printf("registry copied to %s (integrity ok)\n", out);
	return CLI_OK;
}
