/* config.c — corehook's JSON configuration: load with defaults and bounds,
 * and write a complete default file (`corehook init`). Every setting is
 * documented in docs/corehook.md. */
#include "ch_int.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <openssl/crypto.h>

#include "subs.h"
#include "util.h"

#define CONFIG_FILE_MAX (1024 * 1024)

/* Read a whole small file into a NUL-terminated buffer. */
static char *read_file(const char *path, size_t *len, char *err, size_t errlen)
{
	FILE *fp;
	char *buf = NULL;
	long n;

	if ((fp = fopen(path, "rb")) == NULL) {
		util_err_set(err, errlen, "open %s: %s", path, strerror(errno));
		return NULL;
	}
	if (fseek(fp, 0, SEEK_END) != 0 || (n = ftell(fp)) < 0 ||
	    n > CONFIG_FILE_MAX || fseek(fp, 0, SEEK_SET) != 0) {
		util_err_set(err, errlen,
		    "%s: unreadable or larger than %d bytes", path,
		    CONFIG_FILE_MAX);
		goto fail;
	}
	if ((buf = malloc((size_t)n + 1)) == NULL) {
		util_err_set(err, errlen, "out of memory");
		goto fail;
	}
	if (fread(buf, 1, (size_t)n, fp) != (size_t)n) {
		util_err_set(err, errlen, "read %s failed", path);
		goto fail;
	}
	buf[n] = '\0';
	*len = (size_t)n;
	fclose(fp);
	return buf;
fail:
	if (buf != NULL)
		OPENSSL_cleanse(buf, (size_t)n);
	free(buf);
	fclose(fp);
	return NULL;
}

/* dst = name resolved against dir when relative. */
static int resolve(char *dst, size_t cap, const char *dir, const char *name,
    const char *what, char *err, size_t errlen)
{
	int n;

	if (name == NULL || name[0] == '\0') {
		util_err_set(err, errlen, "%s: a file name is required", what);
		return -1;
	}
	n = name[0] == '/' ? snprintf(dst, cap, "%s", name) :
	                     snprintf(dst, cap, "%s/%s", dir, name);
	if (n < 0 || (size_t)n >= cap) {
		util_err_set(err, errlen, "%s: path too long", what);
		return -1;
	}
	return 0;
}

/* Copy the database URL s into dst (cap bytes). */
static int copy_url(char *dst, size_t cap, const char *s, char *err,
    size_t errlen)
{
	if (strlen(s) >= cap) {
		util_err_set(err, errlen, "database: URL too long");
		return -1;
	}
	memcpy(dst, s, strlen(s) + 1);
	return 0;
}

static const cJSON *obj_get(const cJSON *o, const char *name)
{
	return o == NULL ? NULL : cJSON_GetObjectItemCaseSensitive(o, name);
}

static int get_str(const char **out, const cJSON *o, const char *name,
    const char *def, char *err, size_t errlen);

/* One optional string member copied into dst (cap bytes); "" if absent. */
static int copy_str(char *dst, size_t cap, const cJSON *o, const char *name,
    char *err, size_t errlen)
{
	const char *s;

	if (get_str(&s, o, name, "", err, errlen) != 0)
		return -1;
	if (strlen(s) >= cap) {
		util_err_set(err, errlen, "config: signer.%s too long", name);
		return -1;
	}
	memcpy(dst, s, strlen(s) + 1);
	return 0;
}

/* signer.key: a file (relative to dir) or a pkcs11: URI with the token's
 * module and PIN source (signer.pkcs11_module, pkcs11_pin_file or
 * pkcs11_pin_env; a relative PIN file is taken from dir). */
static int load_signer_key(corehook_config *c, const cJSON *signer,
    const char *dir, char *err, size_t errlen)
{
	const char *s;
	char pf[sizeof(c->signer_token.pin_file)];

	memset(&c->signer_token, 0, sizeof(c->signer_token));
	if (get_str(&s, signer, "key", NULL, err, errlen) != 0)
		return -1;
	if (!pki_key_ref_is_pkcs11(s))
		return resolve(c->signer_key, sizeof(c->signer_key), dir, s,
		    "signer.key", err, errlen);
	if (strlen(s) >= sizeof(c->signer_key)) {
		util_err_set(err, errlen, "config: signer.key URI too long");
		return -1;
	}
	memcpy(c->signer_key, s, strlen(s) + 1);
	if (copy_str(c->signer_token.module, sizeof(c->signer_token.module),
	        signer, "pkcs11_module", err, errlen) != 0 ||
	    copy_str(pf, sizeof(pf), signer, "pkcs11_pin_file", err, errlen) !=
	        0 ||
	    copy_str(c->signer_token.pin_env, sizeof(c->signer_token.pin_env),
	        signer, "pkcs11_pin_env", err, errlen) != 0)
		return -1;
	if (c->signer_token.module[0] == '\0') {
		util_err_set(err, errlen,
		    "config: signer.key is a pkcs11: URI: "
		    "signer.pkcs11_module is required");
		return -1;
	}
	if (pf[0] != '\0' &&
	    resolve(c->signer_token.pin_file, sizeof(c->signer_token.pin_file),
	        dir, pf, "signer.pkcs11_pin_file", err, errlen) != 0)
		return -1;
	return 0;
}

/* A string member (or def when absent); -1 if present but not a string. */
static int get_str(const char **out, const cJSON *o, const char *name,
    const char *def, char *err, size_t errlen)
{
	const cJSON *it = obj_get(o, name);

	if (it == NULL || cJSON_IsNull(it)) {
		*out = def;
		return 0;
	}
	if (!cJSON_IsString(it)) {
		util_err_set(err, errlen, "config: \"%s\" must be a string",
		    name);
		return -1;
	}
	*out = it->valuestring;
	return 0;
}

/* An integer member in [lo, hi] (or def when absent). */
static int get_uint(uint64_t *out, const cJSON *o, const char *name,
    uint64_t def, uint64_t lo, uint64_t hi, char *err, size_t errlen)
{
	const cJSON *it = obj_get(o, name);
	double v;

	if (it == NULL || cJSON_IsNull(it)) {
		*out = def;
		return 0;
	}
	if (cJSON_IsString(it)) {
		/* Digit strings keep leading zeros readable (MSINs). */
		const char *s = it->valuestring;
		char *end;
		unsigned long long u;

		if (s[0] < '0' || s[0] > '9')
			goto bad;
		errno = 0;
		u = strtoull(s, &end, 10);
		if (*end != '\0' || errno != 0 || u < lo || u > hi)
			goto bad;
		*out = u;
		return 0;
	}
	if (!cJSON_IsNumber(it))
		goto bad;
	v = it->valuedouble;
	if (v < (double)lo || v > (double)hi || v != (double)(uint64_t)v)
		goto bad;
	*out = (uint64_t)v;
	return 0;
bad:
	util_err_set(err, errlen,
	    "config: \"%s\" must be an integer in"
	    " %" PRIu64 "..%" PRIu64,
	    name, lo, hi);
	return -1;
}

static int digits(const char *s, size_t lo, size_t hi)
{
	size_t n = strlen(s), i;

	if (n < lo || n > hi)
		return 0;
	for (i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return 0;
	return 1;
}

static int load_profile(corehook_config *c, const cJSON *prof, char *err,
    size_t errlen)
{
	const cJSON *sl = obj_get(prof, "snssai"), *it;
	const char *dnn;

	if (get_str(&dnn, prof, "dnn", "internet", err, errlen) != 0)
		return -1;
	if (strlen(dnn) == 0 || strlen(dnn) >= sizeof(c->dnn)) {
		util_err_set(err, errlen,
		    "config: profile.dnn must be 1..100 bytes");
		return -1;
	}
	snprintf(c->dnn, sizeof(c->dnn), "%s", dnn);
	if (sl == NULL) {
		c->nssai_count = 1;
		c->nssai[0].sst = 1;
		return 0;
	}
	if (!cJSON_IsArray(sl) || cJSON_GetArraySize(sl) < 1 ||
	    cJSON_GetArraySize(sl) > CH_NSSAI_MAX) {
		util_err_set(err, errlen,
		    "config: profile.snssai must list 1..%d"
		    " slices",
		    CH_NSSAI_MAX);
		return -1;
	}
	cJSON_ArrayForEach(it, sl)
	{
		uint64_t sst;
		const char *sd;
		size_t i = c->nssai_count;

		if (!cJSON_IsObject(it) ||
		    get_uint(&sst, it, "sst", 1, 0, 255, err, errlen) != 0 ||
		    get_str(&sd, it, "sd", NULL, err, errlen) != 0)
			return -1;
		c->nssai[i].sst = (uint8_t)sst;
		if (sd != NULL) {
			uint8_t b[3];

			if (util_hex_decode(b, 3, sd) != 0) {
				util_err_set(err, errlen,
				    "config: snssai sd must be"
				    " 6 hex digits");
				return -1;
			}
			c->nssai[i].has_sd = 1;
			c->nssai[i].sd = ((uint32_t)b[0] << 16) |
			    ((uint32_t)b[1] << 8) | b[2];
		}
		c->nssai_count++;
	}
	return 0;
}

static int load_allow(corehook_config *c, const cJSON *list, const char *dir,
    char *err, size_t errlen)
{
	const cJSON *it;

	if (!cJSON_IsArray(list) || cJSON_GetArraySize(list) > CH_ALLOW_MAX) {
		util_err_set(err, errlen,
		    "config: \"allow_list\" must be a list of"
		    " at most %d CAs",
		    CH_ALLOW_MAX);
		return -1;
	}
	cJSON_ArrayForEach(it, list)
	{
		ch_allow_t *e = &c->allow[c->allow_count];
		const char *base, *cert, *key, *root, *anchor;

		if (!cJSON_IsObject(it) ||
		    get_str(&base, it, "base_url", NULL, err, errlen) != 0 ||
		    get_str(&cert, it, "client_cert", NULL, err, errlen) != 0 ||
		    get_str(&key, it, "client_key", NULL, err, errlen) != 0 ||
		    get_str(&root, it, "ca_root", NULL, err, errlen) != 0 ||
		    get_str(&anchor, it, "trust_anchor", root, err, errlen) !=
		        0)
			return -1;
		if (base == NULL) {
			util_err_set(err, errlen,
			    "config: allow_list entry without"
			    " base_url");
			return -1;
		}
		if (ch_allow_parse_base(e, base, err, errlen) != CH_URL_OK)
			return -1;
		if (resolve(e->client_cert, sizeof(e->client_cert), dir, cert,
		        "allow_list client_cert", err, errlen) != 0 ||
		    resolve(e->client_key, sizeof(e->client_key), dir, key,
		        "allow_list client_key", err, errlen) != 0 ||
		    resolve(e->ca_root, sizeof(e->ca_root), dir, root,
		        "allow_list ca_root", err, errlen) != 0 ||
		    resolve(e->trust_anchor, sizeof(e->trust_anchor), dir,
		        anchor, "allow_list trust_anchor", err, errlen) != 0)
			return -1;
		c->allow_count++;
	}
	return 0;
}

/* The caches and rate limits in front of the CA (docs/corehook.md). */
static int load_limits(corehook_config *c, const cJSON *cache,
    const cJSON *rate, char *err, size_t errlen)
{
	uint64_t v[7];

	if (get_uint(&v[0], cache, "negative_ttl_seconds", 10, 0, 3600, err,
	        errlen) != 0 ||
	    get_uint(&v[1], cache, "positive_max_age_seconds", 5, 0, 3600, err,
	        errlen) != 0 ||
	    get_uint(&v[2], cache, "entries", 16384, 16, 4194304, err,
	        errlen) != 0 ||
	    get_uint(&v[3], rate, "source_refusals_per_minute", 600, 1, 6000000,
	        err, errlen) != 0 ||
	    get_uint(&v[4], rate, "source_burst", 100, 1, 1000000, err,
	        errlen) != 0 ||
	    get_uint(&v[5], rate, "device_fetches_per_minute", 60, 1, 6000000,
	        err, errlen) != 0 ||
	    get_uint(&v[6], rate, "device_burst", 10, 1, 1000000, err,
	        errlen) != 0)
		return -1;
	c->negative_ttl_seconds = (unsigned)v[0];
	c->positive_max_age_seconds = (unsigned)v[1];
	c->cache_entries = (unsigned)v[2];
	c->source_refusals_per_minute = (unsigned)v[3];
	c->source_burst = (unsigned)v[4];
	c->device_fetches_per_minute = (unsigned)v[5];
	c->device_burst = (unsigned)v[6];
	return 0;
}

/* One preference list of NAS algorithm names ("128-NIA2", "NEA0", ...)
 * into ids; def when absent. NIA0 is never configurable (emergency only). */
static int load_alg_list(uint8_t *ids, size_t *n, const cJSON *o,
    const char *name, int integrity, char *err, size_t errlen)
{
	static const char *const ia[] = { "128-NIA2" };
	static const char *const ea[] = { "128-NEA2", "NEA0" };
	const cJSON *list = obj_get(o, name), *it;

	*n = 0;
	if (list == NULL || cJSON_IsNull(list)) {
		ids[(*n)++] = 2; /* 128-NIA2 / 128-NEA2, then NEA0 */
		if (!integrity)
			ids[(*n)++] = 0;
		return 0;
	}
	if (!cJSON_IsArray(list) || cJSON_GetArraySize(list) < 1 ||
	    cJSON_GetArraySize(list) > CH_ALG_PREF_MAX)
		goto bad;
	cJSON_ArrayForEach(it, list)
	{
		if (!cJSON_IsString(it))
			goto bad;
		if (strcmp(it->valuestring, integrity ? ia[0] : ea[0]) == 0)
			ids[(*n)++] = 2;
		else if (!integrity && strcmp(it->valuestring, ea[1]) == 0)
			ids[(*n)++] = 0;
		else
			goto bad;
	}
	return 0;
bad:
	util_err_set(err, errlen,
	    "config: \"nas_security.%s\" must list 1-%d"
	    " of %s",
	    name, CH_ALG_PREF_MAX,
	    integrity ? "\"128-NIA2\"" : "\"128-NEA2\", \"NEA0\"");
	return -1;
}

/* "suci": {"profile": "A"|"B", "key_id", "routing_indicator",
 * "keys_dir", "null_scheme"}; absent: null scheme only. */
static int load_suci(corehook_config *c, const cJSON *o, const char *dir,
    char *err, size_t errlen)
{
	const char *prof, *ri, *kd;
	uint64_t v;
	const cJSON *ns = obj_get(o, "null_scheme");

	if (get_str(&prof, o, "profile", NULL, err, errlen) != 0 ||
	    get_str(&ri, o, "routing_indicator", "0", err, errlen) != 0 ||
	    get_str(&kd, o, "keys_dir", "suci-keys", err, errlen) != 0 ||
	    get_uint(&v, o, "key_id", 1, 0, 255, err, errlen) != 0)
		return -1;
	if (prof != NULL && strcmp(prof, "A") != 0 && strcmp(prof, "B") != 0) {
		util_err_set(err, errlen,
		    "config: \"suci.profile\" must be "
		    "\"A\" or \"B\"");
		return -1;
	}
	if (!digits(ri, 1, 4) || (ns != NULL && !cJSON_IsBool(ns))) {
		util_err_set(err, errlen,
		    "config: \"suci.routing_indicator\" "
		    "must be 1-4 digits, \"suci.null_scheme\" true or false");
		return -1;
	}
	c->suci_scheme = prof == NULL ? 0 : prof[0] == 'A' ? 1 : 2;
	c->suci_key_id = (uint8_t)v;
	snprintf(c->suci_routing, sizeof(c->suci_routing), "%s", ri);
	c->suci_null_allowed = ns != NULL ? cJSON_IsTrue(ns) : prof == NULL;
	return resolve(c->suci_keys_dir, sizeof(c->suci_keys_dir), dir, kd,
	    "suci.keys_dir", err, errlen);
}

/* PLMN (MCC, MNC) and the MSIN range, which the MNC's length bounds. */
static int load_network(corehook_config *c, const cJSON *plmn,
    const cJSON *range, char *err, size_t errlen)
{
	const char *s;
	uint64_t msin_max = 1;
	size_t i;

	if (get_str(&s, plmn, "mcc", "001", err, errlen) != 0)
		return -1;
	if (!digits(s, 3, 3)) {
		util_err_set(err, errlen, "config: plmn.mcc must be 3 digits");
		return -1;
	}
	snprintf(c->mcc, sizeof(c->mcc), "%s", s);
	if (get_str(&s, plmn, "mnc", "01", err, errlen) != 0)
		return -1;
	if (!digits(s, 2, 3)) {
		util_err_set(err, errlen,
		    "config: plmn.mnc must be 2 or 3 digits");
		return -1;
	}
	snprintf(c->mnc, sizeof(c->mnc), "%s", s);
	for (i = 0; i < 12 - strlen(c->mnc); i++)
		msin_max *= 10;
	if (get_uint(&c->msin_first, range, "first", 1, 0, msin_max - 1, err,
	        errlen) != 0 ||
	    get_uint(&c->msin_last, range, "last", msin_max - 1, 0,
	        msin_max - 1, err, errlen) != 0)
		return -1;
	if (c->msin_first > c->msin_last) {
		util_err_set(err, errlen, "config: msin_range.first > last");
		return -1;
	}
	return 0;
}

/* OP or OPc (exactly one), AMF and the SQN settings. */
static int load_keys(corehook_config *c, const cJSON *doc, char *err,
    size_t errlen)
{
	const char *s, *op, *opc;
	uint64_t v;

	if (get_str(&op, doc, "op", NULL, err, errlen) != 0 ||
	    get_str(&opc, doc, "opc", NULL, err, errlen) != 0)
		return -1;
	if ((op == NULL) == (opc == NULL)) {
		util_err_set(err, errlen,
		    "config: exactly one of \"op\" and"
		    " \"opc\" is required");
		return -1;
	}
	c->have_op = op != NULL;
	if (util_hex_decode(c->op_or_opc, 16, op != NULL ? op : opc) != 0) {
		util_err_set(err, errlen, "config: %s must be 32 hex digits",
		    op != NULL ? "op" : "opc");
		return -1;
	}
	if (get_str(&s, doc, "amf", "8000", err, errlen) != 0)
		return -1;
	if (util_hex_decode(c->amf, 2, s) != 0) {
		util_err_set(err, errlen, "config: amf must be 4 hex digits");
		return -1;
	}
	if (get_uint(&c->sqn_initial, doc, "sqn_initial", 0, 0, 0xffffffffffULL,
	        err, errlen) != 0 ||
	    get_uint(&v, doc, "sqn_ind_bits", 5, 0, 16, err, errlen) != 0)
		return -1;
	c->sqn_ind_bits = (unsigned)v;
	return 0;
}

/* The provisioning signer's certificate, key and optional chain file. */
static int load_signer(corehook_config *c, const cJSON *signer, const char *dir,
    char *err, size_t errlen)
{
	const char *s;

	if (get_str(&s, signer, "cert", NULL, err, errlen) != 0 ||
	    resolve(c->signer_cert, sizeof(c->signer_cert), dir, s,
	        "signer.cert", err, errlen) != 0 ||
	    load_signer_key(c, signer, dir, err, errlen) != 0 ||
	    get_str(&s, signer, "chain", NULL, err, errlen) != 0)
		return -1;
	c->signer_chain[0] = '\0';
	if (s != NULL &&
	    resolve(c->signer_chain, sizeof(c->signer_chain), dir, s,
	        "signer.chain", err, errlen) != 0)
		return -1;
	return 0;
}

/* The NAS and HTTP listeners and the CA fetch's timeouts and caps. */
static int load_transport(corehook_config *c, const cJSON *listen,
    const cJSON *fetch, char *err, size_t errlen)
{
	const char *s;
	uint64_t v;

	if (get_str(&s, listen, "nas_udp", "127.0.0.1:4997", err, errlen) != 0)
		return -1;
	snprintf(c->nas_listen, sizeof(c->nas_listen), "%s", s);
	if (get_str(&s, listen, "http", "127.0.0.1:8997", err, errlen) != 0)
		return -1;
	snprintf(c->http_listen, sizeof(c->http_listen), "%s", s);
	if (get_uint(&v, fetch, "connect_timeout_ms", 3000, 1, 600000, err,
	        errlen) != 0)
		return -1;
	c->connect_timeout_ms = (long)v;
	if (get_uint(&v, fetch, "total_timeout_ms", 10000, 1, 600000, err,
	        errlen) != 0)
		return -1;
	c->total_timeout_ms = (long)v;
	if (get_uint(&v, fetch, "max_response_bytes", 262144, 1024, 16777216,
	        err, errlen) != 0)
		return -1;
	c->max_response_bytes = (size_t)v;
	if (get_uint(&v, fetch, "connections", 4, 1, 64, err, errlen) != 0)
		return -1;
	c->fetch_connections = (unsigned)v;
	return 0;
}

/* Timers, workers, session bounds and the retired rows' retention. */
static int load_runtime(corehook_config *c, const cJSON *doc, char *err,
    size_t errlen)
{
	uint64_t v;

	if (get_uint(&v, doc, "t3346_seconds", 60, 1, 11160, err, errlen) != 0)
		return -1;
	c->t3346_seconds = (unsigned)v;
	/* TS 24.501 Table 10.2.2: both 6 s; shorter only for tests. */
	if (get_uint(&v, doc, "t3560_ms", 6000, 10, 60000, err, errlen) != 0)
		return -1;
	c->t3560_ms = (unsigned)v;
	if (get_uint(&v, doc, "t3550_ms", 6000, 10, 60000, err, errlen) != 0)
		return -1;
	c->t3550_ms = (unsigned)v;
	if (get_uint(&v, doc, "workers", 16, 1, 256, err, errlen) != 0)
		return -1;
	c->workers = (unsigned)v;
	if (get_uint(&v, doc, "session_ttl_seconds", 120, 1,
	        UTIL_SECONDS_PER_DAY, err, errlen) != 0)
		return -1;
	c->session_ttl_seconds = (unsigned)v;
	if (get_uint(&v, doc, "max_sessions", 65536, 16, 10000000, err,
	        errlen) != 0)
		return -1;
	c->max_sessions = (unsigned)v;
	/* Retired subscriptions (keys already wiped) are deleted after this. */
	if (get_uint(&v, doc, "retired_retention_seconds", 2592000, 60,
	        315360000, err, errlen) != 0)
		return -1;
	c->retired_keep_seconds = (int64_t)v;
	return 0;
}

/* Every setting of the parsed document into c; relative paths from dir. */
static int load_doc(corehook_config *c, const cJSON *doc, const char *dir,
    char *err, size_t errlen)
{
	const char *s;

	/* A postgresql:// URL is kept as it is; a file is relative to dir. */
	if (get_str(&s, doc, "database", "corehook.db", err, errlen) != 0 ||
	    (subs_is_pg_url(s) ?
	            copy_url(c->db_path, sizeof(c->db_path), s, err, errlen) :
	            resolve(c->db_path, sizeof(c->db_path), dir, s, "database",
	                err, errlen)) != 0 ||
	    load_network(c, obj_get(doc, "plmn"), obj_get(doc, "msin_range"),
	        err, errlen) != 0 ||
	    load_keys(c, doc, err, errlen) != 0 ||
	    load_profile(c, obj_get(doc, "profile"), err, errlen) != 0)
		return -1;
	if (obj_get(doc, "allow_list") != NULL &&
	    load_allow(c, obj_get(doc, "allow_list"), dir, err, errlen) != 0)
		return -1;
	if (load_signer(c, obj_get(doc, "signer"), dir, err, errlen) != 0 ||
	    load_transport(c, obj_get(doc, "listen"), obj_get(doc, "ca_fetch"),
	        err, errlen) != 0 ||
	    load_runtime(c, doc, err, errlen) != 0 ||
	    load_limits(c, obj_get(doc, "ca_cache"), obj_get(doc, "rate_limit"),
	        err, errlen) != 0 ||
	    sbi_config_load(&c->sbi, obj_get(doc, "sbi"), dir, err, errlen) !=
	        0)
		return -1;
	if (load_alg_list(c->nas_int_pref, &c->nas_int_n,
	        obj_get(doc, "nas_security"), "integrity", 1, err,
	        errlen) != 0 ||
	    load_alg_list(c->nas_enc_pref, &c->nas_enc_n,
	        obj_get(doc, "nas_security"), "ciphering", 0, err,
	        errlen) != 0 ||
	    load_suci(c, obj_get(doc, "suci"), dir, err, errlen) != 0)
		return -1;
	return 0;
}

int corehook_config_load(corehook_config **out, const char *path, char *err,
    size_t errlen)
{
	corehook_config *c = NULL;
	cJSON *doc = NULL;
	char *text = NULL, *pathcopy = NULL;
	size_t len = 0;
	int rc = COREHOOK_ERR_CONFIG;

	*out = NULL;
	if ((text = read_file(path, &len, err, errlen)) == NULL)
		goto out;
	if ((doc = cJSON_ParseWithLength(text, len)) == NULL ||
	    !cJSON_IsObject(doc)) {
		util_err_set(err, errlen, "%s: not a JSON object", path);
		goto out;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL ||
	    (pathcopy = strdup(path)) == NULL) {
		util_err_set(err, errlen, "out of memory");
		rc = COREHOOK_ERR;
		goto out;
	}
	snprintf(c->path, sizeof(c->path), "%s", path);
	if (load_doc(c, doc, dirname(pathcopy), err, errlen) != 0)
		goto out;
	*out = c;
	c = NULL;
	rc = COREHOOK_OK;
out:
	corehook_config_free(c);
	cJSON_Delete(doc);
	if (text != NULL)
		OPENSSL_cleanse(text, len);
	free(text);
	free(pathcopy);
	return rc;
}

void corehook_config_free(corehook_config *cfg)
{
	if (cfg == NULL)
		return;
	OPENSSL_cleanse(cfg, sizeof(*cfg));
	free(cfg);
}

const char *corehook_config_nas_listen(const corehook_config *cfg)
{
	return cfg->nas_listen;
}

const char *corehook_config_http_listen(const corehook_config *cfg)
{
	return cfg->http_listen;
}

const char *corehook_config_db_path(const corehook_config *cfg)
{
	return cfg->db_path;
}

unsigned corehook_config_workers(const corehook_config *cfg)
{
	return cfg->workers;
}

/* Add a member or fail the default document's builder (out of memory). */
#define ADD(obj, fn, name, val) \
	if (fn(obj, name, val) == NULL) \
	return -1

/* The default subscriber side: store, PLMN, MSIN range, OP, AMF, SQN and
 * the subscription profile; 0 or -1 (out of memory). */
static int default_subscriber(cJSON *doc, const char *ophex)
{
	cJSON *o, *sl, *e;

	ADD(doc, cJSON_AddStringToObject, "database", "corehook.db");
	if ((o = cJSON_AddObjectToObject(doc, "plmn")) == NULL)
		return -1;
	ADD(o, cJSON_AddStringToObject, "mcc", "001");
	ADD(o, cJSON_AddStringToObject, "mnc", "01");
	if ((o = cJSON_AddObjectToObject(doc, "msin_range")) == NULL)
		return -1;
	ADD(o, cJSON_AddStringToObject, "first", "0000000001");
	ADD(o, cJSON_AddStringToObject, "last", "9999999999");
	ADD(doc, cJSON_AddStringToObject, "op", ophex);
	ADD(doc, cJSON_AddStringToObject, "amf", "8000");
	ADD(doc, cJSON_AddNumberToObject, "sqn_initial", 0);
	ADD(doc, cJSON_AddNumberToObject, "sqn_ind_bits", 5);
	if ((o = cJSON_AddObjectToObject(doc, "profile")) == NULL ||
	    (sl = cJSON_AddArrayToObject(o, "snssai")) == NULL ||
	    (e = cJSON_CreateObject()) == NULL)
		return -1;
	if (!cJSON_AddItemToArray(sl, e)) {
		cJSON_Delete(e);
		return -1;
	}
	ADD(e, cJSON_AddNumberToObject, "sst", 1);
	ADD(e, cJSON_AddStringToObject, "sd", "000001");
	ADD(o, cJSON_AddStringToObject, "dnn", "internet");
	return 0;
}

/* The files and URL a default configuration names (NULL: the default). */
struct default_files {
	const char *ca_base_url, *client_cert, *client_key, *ca_root;
	const char *signer_cert, *signer_chain, *signer_key;
};

/* The default CA side: one allow-list entry and the signer's files. */
static int default_ca(cJSON *doc, const struct default_files *f)
{
	cJSON *o, *a, *e;

	if ((a = cJSON_AddArrayToObject(doc, "allow_list")) == NULL ||
	    (e = cJSON_CreateObject()) == NULL)
		return -1;
	if (!cJSON_AddItemToArray(a, e)) {
		cJSON_Delete(e);
		return -1;
	}
	ADD(e, cJSON_AddStringToObject, "base_url",
	    f->ca_base_url != NULL ? f->ca_base_url :
	                             "https://ca.example:8443/devices/");
	ADD(e, cJSON_AddStringToObject, "client_cert",
	    f->client_cert != NULL ? f->client_cert : "operator.crt");
	ADD(e, cJSON_AddStringToObject, "client_key",
	    f->client_key != NULL ? f->client_key : "operator.key");
	ADD(e, cJSON_AddStringToObject, "ca_root",
	    f->ca_root != NULL ? f->ca_root : "ca-root.crt");
	ADD(e, cJSON_AddStringToObject, "trust_anchor",
	    f->ca_root != NULL ? f->ca_root : "ca-root.crt");
	if ((o = cJSON_AddObjectToObject(doc, "signer")) == NULL)
		return -1;
	ADD(o, cJSON_AddStringToObject, "cert",
	    f->signer_cert != NULL ? f->signer_cert : "signer.crt");
	/* Given a certificate but no chain file: null, the intermediates
	 * follow the certificate in its own file. */
	if (f->signer_chain == NULL && f->signer_cert != NULL) {
		if (cJSON_AddNullToObject(o, "chain") == NULL)
			return -1;
	} else {
		ADD(o, cJSON_AddStringToObject, "chain",
		    f->signer_chain != NULL ? f->signer_chain :
		                              "signer-chain.pem");
	}
	ADD(o, cJSON_AddStringToObject, "key",
	    f->signer_key != NULL ? f->signer_key : "signer.key");
	return 0;
}

/* The default runtime: listeners, CA fetch, timers, caches, limits. */
static int default_runtime(cJSON *doc)
{
	cJSON *o;

	if ((o = cJSON_AddObjectToObject(doc, "listen")) == NULL)
		return -1;
	ADD(o, cJSON_AddStringToObject, "nas_udp", "127.0.0.1:4997");
	ADD(o, cJSON_AddStringToObject, "http", "127.0.0.1:8997");
	if ((o = cJSON_AddObjectToObject(doc, "ca_fetch")) == NULL)
		return -1;
	ADD(o, cJSON_AddNumberToObject, "connect_timeout_ms", 3000);
	ADD(o, cJSON_AddNumberToObject, "total_timeout_ms", 10000);
	ADD(o, cJSON_AddNumberToObject, "max_response_bytes", 262144);
	ADD(o, cJSON_AddNumberToObject, "connections", 4);
	ADD(doc, cJSON_AddNumberToObject, "t3346_seconds", 60);
	ADD(doc, cJSON_AddNumberToObject, "t3560_ms", 6000);
	ADD(doc, cJSON_AddNumberToObject, "t3550_ms", 6000);
	ADD(doc, cJSON_AddNumberToObject, "workers", 16);
	ADD(doc, cJSON_AddNumberToObject, "session_ttl_seconds", 120);
	ADD(doc, cJSON_AddNumberToObject, "max_sessions", 65536);
	if ((o = cJSON_AddObjectToObject(doc, "ca_cache")) == NULL)
		return -1;
	ADD(o, cJSON_AddNumberToObject, "negative_ttl_seconds", 10);
	ADD(o, cJSON_AddNumberToObject, "positive_max_age_seconds", 5);
	ADD(o, cJSON_AddNumberToObject, "entries", 16384);
	if ((o = cJSON_AddObjectToObject(doc, "rate_limit")) == NULL)
		return -1;
	ADD(o, cJSON_AddNumberToObject, "source_refusals_per_minute", 600);
	ADD(o, cJSON_AddNumberToObject, "source_burst", 100);
	ADD(o, cJSON_AddNumberToObject, "device_fetches_per_minute", 60);
	ADD(o, cJSON_AddNumberToObject, "device_burst", 10);
	ADD(doc, cJSON_AddNumberToObject, "retired_retention_seconds", 2592000);
	return 0;
}
#undef ADD

int corehook_config_write_default(const char *path, const char *ca_base_url,
    const char *client_cert, const char *client_key, const char *ca_root,
    const char *signer_cert, const char *signer_chain, const char *signer_key,
    const char *op_hex, char *err, size_t errlen)
{
	const struct default_files f = { ca_base_url, client_cert, client_key,
		ca_root, signer_cert, signer_chain, signer_key };
	cJSON *doc = NULL;
	char *text = NULL, ophex[33];
	uint8_t op[16];
	int fd = -1, rc = COREHOOK_ERR;
	size_t n;

	if (op_hex != NULL) {
		if (util_hex_decode(op, 16, op_hex) != 0) {
			util_err_set(err, errlen, "OP must be 32 hex digits");
			return COREHOOK_ERR_ARG;
		}
	} else if (util_random(op, sizeof(op)) != 0) {
		util_err_set(err, errlen, "no randomness for OP");
		return COREHOOK_ERR;
	}
	util_hex_encode(ophex, op, sizeof(op));
	OPENSSL_cleanse(op, sizeof(op));
	if ((doc = cJSON_CreateObject()) == NULL ||
	    default_subscriber(doc, ophex) != 0 || default_ca(doc, &f) != 0 ||
	    default_runtime(doc) != 0)
		goto oom;
	if ((text = cJSON_Print(doc)) == NULL)
		goto oom;
	/* The file holds OP: exclusive create, owner-only. */
	if ((fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) <
	    0) {
		util_err_set(err, errlen, "create %s: %s", path,
		    strerror(errno));
		goto out;
	}
	n = strlen(text);
	if (write(fd, text, n) != (ssize_t)n || write(fd, "\n", 1) != 1 ||
	    fsync(fd) != 0) {
		util_err_set(err, errlen, "write %s: %s", path,
		    strerror(errno));
		goto out;
	}
	rc = COREHOOK_OK;
	goto out;
oom:
	util_err_set(err, errlen, "out of memory");
out:
	if (fd >= 0)
		close(fd);
	OPENSSL_cleanse(ophex, sizeof(ophex));
	if (text != NULL) {
		OPENSSL_cleanse(text, strlen(text));
		cJSON_free(text);
	}
	cJSON_Delete(doc);
	return rc;
}
