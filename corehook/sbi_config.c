/* sbi_config.c — the "sbi" object of corehook's configuration (listen
 * address, NRF and its TLS files, NF instance ID, heartbeat, caller
 * allow-list), writing it
 * for `corehook init --sbi-listen --nrf`, UUIDs, and the SBI metrics text. */
#define _GNU_SOURCE
#include "ch_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <openssl/crypto.h>

#include "util.h"

/* See sbi.h. */
int sbi_uuid_valid(const char *s)
{
	size_t i;

	if (s == NULL || strlen(s) != SBI_UUID_LEN)
		return 0;
	for (i = 0; i < SBI_UUID_LEN; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i] != '-')
				return 0;
		} else if (!((s[i] >= '0' && s[i] <= '9') ||
		               (s[i] >= 'a' && s[i] <= 'f') ||
		               (s[i] >= 'A' && s[i] <= 'F'))) {
			return 0;
		}
	}
	return 1;
}

int sbi_uuid_new(char *out)
{
	uint8_t b[16];
	char h[33];

	if (util_random(b, sizeof(b)) != 0)
		return -1;
	b[6] = (uint8_t)((b[6] & 0x0f) | 0x40);
	b[8] = (uint8_t)((b[8] & 0x3f) | 0x80);
	util_hex_encode(h, b, sizeof(b));
	snprintf(out, SBI_UUID_LEN + 1, "%.8s-%.4s-%.4s-%.4s-%.12s", h, h + 8,
	    h + 12, h + 16, h + 20);
	return 0;
}

/* A string member copied into dst (def when absent); -1 if not a string or
 * too long. */
static int str_member(char *dst, size_t cap, const cJSON *o, const char *name,
    const char *def, char *err, size_t errlen)
{
	const cJSON *it =
	    o != NULL ? cJSON_GetObjectItemCaseSensitive(o, name) : NULL;
	const char *s = def;

	if (it != NULL && !cJSON_IsNull(it)) {
		if (!cJSON_IsString(it)) {
			util_err_set(err, errlen,
			    "config: sbi.%s must be a"
			    " string",
			    name);
			return -1;
		}
		s = it->valuestring;
	}
	if (strlen(s) >= cap) {
		util_err_set(err, errlen, "config: sbi.%s is too long", name);
		return -1;
	}
	snprintf(dst, cap, "%s", s);
	return 0;
}

/* A list of strings, each checked by ok(), into rows of width w. */
static int list_member(char *rows, size_t w, size_t *n, const cJSON *o,
    const char *name, int (*ok)(const char *), char *err, size_t errlen)
{
	const cJSON *a = o != NULL ? cJSON_GetObjectItemCaseSensitive(o, name) :
	                             NULL,
	            *it;

	*n = 0;
	if (a == NULL || cJSON_IsNull(a))
		return 0;
	if (!cJSON_IsArray(a) || cJSON_GetArraySize(a) > SBI_ALLOW_MAX)
		goto bad;
	cJSON_ArrayForEach(it, a)
	{
		if (!cJSON_IsString(it) || strlen(it->valuestring) >= w ||
		    !ok(it->valuestring))
			goto bad;
		snprintf(rows + *n * w, w, "%s", it->valuestring);
		(*n)++;
	}
	return 0;
bad:
	util_err_set(err, errlen,
	    "config: sbi.%s must be a list of at most %d"
	    " valid entries",
	    name, SBI_ALLOW_MAX);
	return -1;
}

/* 1 if s is a dotted IPv4 address. */
static int ipv4_valid(const char *s)
{
	struct in_addr a;

	return inet_pton(AF_INET, s, &a) == 1;
}

/* A file name member of t into dst (512 bytes), resolved against dir;
 * "" when absent; -1 if not a string or too long. */
static int path_member(char *dst, const cJSON *t, const char *name,
    const char *dir, char *err, size_t errlen)
{
	char v[512];
	int n;

	if (str_member(v, sizeof(v), t, name, "", err, errlen) != 0)
		return -1;
	n = v[0] == '\0' ? snprintf(dst, 512, "%s", "") :
	    v[0] == '/'  ? snprintf(dst, 512, "%s", v) :
	                   snprintf(dst, 512, "%s/%s", dir, v);
	return n >= 0 && n < 512 ? 0 : -1;
}

/* The "nrf_tls" object: ca (required with an https nrf_uri, refused with
 * http), cert and key (both or neither). */
static int nrf_tls_load(sbi_config_t *out, const cJSON *t, const char *dir,
    char *err, size_t errlen)
{
	int https = strncmp(out->nrf_uri, "https://", 8) == 0;

	if (t != NULL && !cJSON_IsNull(t) &&
	    (!cJSON_IsObject(t) ||
	        path_member(out->nrf_ca, t, "ca", dir, err, errlen) != 0 ||
	        path_member(out->nrf_cert, t, "cert", dir, err, errlen) != 0 ||
	        path_member(out->nrf_key, t, "key", dir, err, errlen) != 0))
		goto bad;
	if (https != (out->nrf_ca[0] != '\0') ||
	    (out->nrf_cert[0] == '\0') != (out->nrf_key[0] == '\0'))
		goto bad;
	return 0;
bad:
	util_err_set(err, errlen,
	    "config: an https sbi.nrf_uri needs "
	    "sbi.nrf_tls.ca (PEM CA file), and cert with key for a client "
	    "certificate; an http one takes no nrf_tls");
	return -1;
}

/* The "tls" object: cert, key, client_ca, each resolved against dir. */
static int tls_load(sbi_config_t *out, const cJSON *t, const char *dir,
    char *err, size_t errlen)
{
	static const char *const names[3] = { "cert", "key", "client_ca" };
	char *dst[3] = { out->tls_cert, out->tls_key, out->tls_client_ca };
	char name[512];
	int i, n;

	if (t == NULL || cJSON_IsNull(t))
		return 0;
	if (!cJSON_IsObject(t))
		goto bad;
	for (i = 0; i < 3; i++) {
		if (str_member(name, sizeof(name), t, names[i], "", err,
		        errlen) != 0 ||
		    name[0] == '\0')
			goto bad;
		n = name[0] == '/' ? snprintf(dst[i], 512, "%s", name) :
		                     snprintf(dst[i], 512, "%s/%s", dir, name);
		if (n < 0 || n >= 512)
			goto bad;
	}
	return 0;
bad:
	util_err_set(err, errlen,
	    "config: sbi.tls needs cert, key and"
	    " client_ca (PEM file names)");
	return -1;
}

int sbi_config_load(sbi_config_t *out, const cJSON *o, const char *dir,
    char *err, size_t errlen)
{
	const cJSON *it;

	memset(out, 0, sizeof(*out));
	out->heartbeat_seconds = 10;
	out->suci_null_scheme = 1;
	if (o != NULL && !cJSON_IsObject(o)) {
		util_err_set(err, errlen, "config: sbi must be an object");
		return -1;
	}
	if (str_member(out->listen, sizeof(out->listen), o, "listen", "", err,
	        errlen) != 0 ||
	    str_member(out->advertise, sizeof(out->advertise), o, "advertise",
	        "", err, errlen) != 0 ||
	    str_member(out->nrf_uri, sizeof(out->nrf_uri), o, "nrf_uri", "",
	        err, errlen) != 0 ||
	    str_member(out->nf_instance_id, sizeof(out->nf_instance_id), o,
	        "nf_instance_id", "", err, errlen) != 0)
		return -1;
	if (out->nrf_uri[0] != '\0' &&
	    strncmp(out->nrf_uri, "http://", 7) != 0 &&
	    strncmp(out->nrf_uri, "https://", 8) != 0) {
		util_err_set(err, errlen,
		    "config: sbi.nrf_uri must be http://"
		    "host:port (h2c) or https://host:port (TLS, ALPN h2)");
		return -1;
	}
	if (out->nf_instance_id[0] != '\0' &&
	    !sbi_uuid_valid(out->nf_instance_id)) {
		util_err_set(err, errlen,
		    "config: sbi.nf_instance_id must be a"
		    " UUID");
		return -1;
	}
	if (out->nf_instance_id[0] == '\0' &&
	    sbi_uuid_new(out->nf_instance_id) != 0) {
		util_err_set(err, errlen,
		    "no randomness for an NF instance ID");
		return -1;
	}
	it = o != NULL ?
	    cJSON_GetObjectItemCaseSensitive(o, "heartbeat_seconds") :
	    NULL;
	if (it != NULL) {
		if (!cJSON_IsNumber(it) || it->valuedouble < 1 ||
		    it->valuedouble > 86400) {
			util_err_set(err, errlen,
			    "config: sbi.heartbeat_seconds"
			    " must be 1..86400");
			return -1;
		}
		out->heartbeat_seconds = (unsigned)it->valuedouble;
	}
	it = o != NULL ?
	    cJSON_GetObjectItemCaseSensitive(o, "suci_null_scheme") :
	    NULL;
	if (it != NULL) {
		if (!cJSON_IsBool(it)) {
			util_err_set(err, errlen,
			    "config: sbi.suci_null_scheme"
			    " must be true or false");
			return -1;
		}
		out->suci_null_scheme = cJSON_IsTrue(it);
	}
	if (list_member(&out->allow_addr[0][0], sizeof(out->allow_addr[0]),
	        &out->allow_addr_count, o, "allow_addresses", ipv4_valid, err,
	        errlen) != 0 ||
	    list_member(&out->allow_nf[0][0], sizeof(out->allow_nf[0]),
	        &out->allow_nf_count, o, "allow_nf_instances", sbi_uuid_valid,
	        err, errlen) != 0)
		return -1;
	if (tls_load(out,
	        o != NULL ? cJSON_GetObjectItemCaseSensitive(o, "tls") : NULL,
	        dir, err, errlen) != 0 ||
	    nrf_tls_load(out,
	        o != NULL ? cJSON_GetObjectItemCaseSensitive(o, "nrf_tls") :
	                    NULL,
	        dir, err, errlen) != 0)
		return -1;
	/* Inside the operator's network, but not open to anyone: with no
	 * list, only this host may call. */
	if (o == NULL ||
	    cJSON_GetObjectItemCaseSensitive(o, "allow_addresses") == NULL) {
		snprintf(out->allow_addr[0], sizeof(out->allow_addr[0]),
		    "127.0.0.1");
		out->allow_addr_count = 1;
	}
	return 0;
}

/* Read a whole small file (a configuration) into a NUL-terminated buffer. */
static char *file_slurp(const char *path, size_t *len, char *err, size_t errlen)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	long n;

	if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 ||
	    n > 1024 * 1024 || fseek(f, 0, SEEK_SET) != 0 ||
	    (buf = malloc((size_t)n + 1)) == NULL ||
	    fread(buf, 1, (size_t)n, f) != (size_t)n) {
		util_err_set(err, errlen, "read %s: %s", path, strerror(errno));
		free(buf);
		buf = NULL;
	} else {
		buf[n] = '\0';
		*len = (size_t)n;
	}
	if (f != NULL)
		fclose(f);
	return buf;
}

int sbi_config_write(const char *path, const char *listen, const char *nrf,
    char *err, size_t errlen)
{
	cJSON *doc = NULL, *o, *a;
	char *text = NULL, *in = NULL, tmp[600], id[SBI_UUID_LEN + 1];
	size_t len = 0, n;
	int fd = -1, rc = -1;

	if ((in = file_slurp(path, &len, err, errlen)) == NULL)
		return -1;
	if ((doc = cJSON_ParseWithLength(in, len)) == NULL ||
	    !cJSON_IsObject(doc) || sbi_uuid_new(id) != 0) {
		util_err_set(err, errlen, "%s: not a JSON object", path);
		goto out;
	}
	cJSON_DeleteItemFromObjectCaseSensitive(doc, "sbi");
	if ((o = cJSON_AddObjectToObject(doc, "sbi")) == NULL ||
	    cJSON_AddStringToObject(o, "listen",
	        listen != NULL ? listen : "127.0.0.1:7777") == NULL ||
	    cJSON_AddStringToObject(o, "nrf_uri", nrf != NULL ? nrf : "") ==
	        NULL ||
	    cJSON_AddStringToObject(o, "nf_instance_id", id) == NULL ||
	    cJSON_AddNumberToObject(o, "heartbeat_seconds", 10) == NULL ||
	    cJSON_AddBoolToObject(o, "suci_null_scheme", 1) == NULL ||
	    (a = cJSON_AddArrayToObject(o, "allow_addresses")) == NULL ||
	    cJSON_AddArrayToObject(o, "allow_nf_instances") == NULL) {
		util_err_set(err, errlen, "out of memory");
		goto out;
	}
	cJSON_AddItemToArray(a, cJSON_CreateString("127.0.0.1"));
	if ((text = cJSON_Print(doc)) == NULL) {
		util_err_set(err, errlen, "out of memory");
		goto out;
	}
	/* The file holds OP: a 0600 sibling, exclusive, then renamed over. */
	snprintf(tmp, sizeof(tmp), "%s.sbi-tmp", path);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) <
	    0) {
		util_err_set(err, errlen, "create %s: %s", tmp,
		    strerror(errno));
		goto out;
	}
	n = strlen(text);
	if (write(fd, text, n) != (ssize_t)n || write(fd, "\n", 1) != 1 ||
	    fsync(fd) != 0 || rename(tmp, path) != 0) {
		util_err_set(err, errlen, "write %s: %s", path,
		    strerror(errno));
		unlink(tmp);
		goto out;
	}
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	if (text != NULL)
		OPENSSL_cleanse(text, strlen(text));
	cJSON_free(text);
	if (in != NULL)
		OPENSSL_cleanse(in, len);
	free(in);
	cJSON_Delete(doc);
	return rc;
}

static const char *const op_names[SBI_OP_N] = { "generate_auth_data", "resync",
	"auth_event_post", "auth_event_put", "auth_event_delete", "other" };
static const char *const cause_names[SBI_CAUSE_N] = { "USER_NOT_FOUND",
	"AUTHENTICATION_REJECTED", "SERVING_NETWORK_NOT_AUTHORIZED",
	"MANDATORY_IE_MISSING", "MANDATORY_IE_INCORRECT",
	"UNSUPPORTED_PROTECTION_SCHEME", "INVALID_HN_PUBLIC_KEY_IDENTIFIER",
	"INVALID_SCHEME_OUTPUT", "CALLER_NOT_ALLOWED", "RESOURCE_NOT_FOUND",
	"ANSWER_BUDGET_EXCEEDED", "SYSTEM_FAILURE" };
static const char *const nrf_names[SBI_NRF_N] = { "register", "heartbeat",
	"deregister", "failure" };

int sbi_metrics_append(const sbi_metrics_t *m, char *buf, size_t cap)
{
	size_t off = strlen(buf);
	int i, r = 0;

	r |= ch_text_put(buf, cap, &off,
	    "# TYPE corehook_sbi_requests_total counter\n"
	    "# TYPE corehook_sbi_latency_seconds_sum counter\n");
	for (i = 0; i < SBI_OP_N; i++)
		r |= ch_text_put(buf, cap, &off,
		    "corehook_sbi_requests_total{op=\"%s\"}"
		    " %" PRIu64 "\ncorehook_sbi_latency_seconds_sum{op=\"%s\"}"
		    " %.6f\n",
		    op_names[i], (uint64_t)atomic_load(&m->op[i]), op_names[i],
		    (double)atomic_load(&m->op_us[i]) / 1e6);
	r |= ch_text_put(buf, cap, &off,
	    "# TYPE corehook_sbi_failures_total counter\n");
	for (i = 0; i < SBI_CAUSE_N; i++)
		r |= ch_text_put(buf, cap, &off,
		    "corehook_sbi_failures_total{cause=\"%s\"}"
		    " %" PRIu64 "\n",
		    cause_names[i], (uint64_t)atomic_load(&m->cause[i]));
	r |= ch_text_put(buf, cap, &off,
	    "corehook_sbi_vectors_total %" PRIu64 "\n"
	    "corehook_sbi_confirmations_total %" PRIu64 "\n"
	    "corehook_sbi_auth_failures_total %" PRIu64 "\n"
	    "corehook_sbi_streams_total %" PRIu64 "\n"
	    "corehook_sbi_connections_total %" PRIu64 "\n",
	    (uint64_t)atomic_load(&m->vectors),
	    (uint64_t)atomic_load(&m->confirmations),
	    (uint64_t)atomic_load(&m->auth_failures),
	    (uint64_t)atomic_load(&m->streams),
	    (uint64_t)atomic_load(&m->connections));
	for (i = 0; i < SBI_NRF_N; i++)
		r |= ch_text_put(buf, cap, &off,
		    "corehook_sbi_nrf_total{op=\"%s\"}"
		    " %" PRIu64 "\n",
		    nrf_names[i], (uint64_t)atomic_load(&m->nrf[i]));
	return r != 0 ? -1 : 0;
}
