/* config.c — read and write DATA/config.json through cJSON. Every setting
 * has a default; a file may omit any of them. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "util.h"

void config_defaults(ca_config_t *out)
{
	memset(out, 0, sizeof(*out));
	snprintf(out->org, sizeof(out->org), "ProvCA");
	snprintf(out->listen, sizeof(out->listen), "127.0.0.1:8443");
	snprintf(out->public_base_url, sizeof(out->public_base_url),
	    "https://localhost:8443");
	out->ocsp_validity_seconds = 3600;
	out->body_limit = 1024 * 1024;
	out->worker_threads = 1024;
	out->keep_alive_timeout_ms = 2000;
	out->max_connections_per_address = 256;
	out->tls_handshake_timeout_ms = 5000;
	out->device_validity_days = 0;
	out->principal_validity_days = 825;
	out->principal_max_valid_certs = 3;
	out->server_validity_days = 397;
	out->crl_next_update_hours = 24;
	out->crl_refresh_seconds = UTIL_SECONDS_PER_HOUR;
	out->batch_max = 1000;
	out->device_urn_pen = 32473;
	out->session_idle_seconds = 1800;
	out->session_absolute_seconds = 43200;
	out->db_pool = CONFIG_DB_POOL_MAX;
	snprintf(out->log_level, sizeof(out->log_level), "info");
	snprintf(out->device_ca_key, sizeof(out->device_ca_key),
	    "device-ca.key");
	snprintf(out->infra_ca_key, sizeof(out->infra_ca_key), "infra-ca.key");
	snprintf(out->tls_key, sizeof(out->tls_key), "server.key");
	snprintf(out->cmp_signer_key, sizeof(out->cmp_signer_key),
	    "cmp-signer.key");
}

int config_db_check(const char *db)
{
	const char *auth, *at;

	if (db[0] == '\0')
		return 0;
	if (strncmp(db, "postgresql://", 13) == 0)
		auth = db + 13;
	else if (strncmp(db, "postgres://", 11) == 0)
		auth = db + 11;
	else
		return -1;
	/* user:password@ would put the password in config.json and in
	 * `config show`. */
	at = strchr(auth, '@');
	if (at != NULL && memchr(auth, ':', (size_t)(at - auth)) != NULL)
		return -1;
	return strpbrk(db, " \t\r\n") != NULL ? -1 : 0;
}

int config_plain_url_check(const char *url)
{
	size_t n = strlen(url);

	/* Commas and blanks would split the extension strings the URL is
	 * pasted into (ca_profile_exts_build, per CA set). */
	if (strncmp(url, "http://", 7) != 0 || n <= 7 || url[n - 1] == '/' ||
	    strchr(url + 7, '/') != NULL || strpbrk(url, ", \t\r\n\"") != NULL)
		return -1;
	return 0;
}

/* One string setting: copy if present, refuse wrong type or length. */
static int get_str(const cJSON *root, const char *key, char *dst, size_t dstlen,
    char *err, size_t errlen)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);

	if (v == NULL)
		return CONFIG_OK;
	if (!cJSON_IsString(v) || v->valuestring == NULL) {
		util_err_set(err, errlen, "config: %s must be a string", key);
		return CONFIG_ERR_PARSE;
	}
	if (strlen(v->valuestring) >= dstlen) {
		util_err_set(err, errlen, "config: %s longer than %zu", key,
		    dstlen - 1);
		return CONFIG_ERR_VALUE;
	}
	memcpy(dst, v->valuestring, strlen(v->valuestring) + 1);
	return CONFIG_OK;
}

/* One integer setting within [lo, hi]. */
static int get_int(const cJSON *root, const char *key, long long *dst,
    long long lo, long long hi, char *err, size_t errlen)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
	double d;

	if (v == NULL)
		return CONFIG_OK;
	if (!cJSON_IsNumber(v)) {
		util_err_set(err, errlen, "config: %s must be a number", key);
		return CONFIG_ERR_PARSE;
	}
	d = v->valuedouble;
	if (d != (double)(long long)d || d < (double)lo || d > (double)hi) {
		util_err_set(err, errlen,
		    "config: %s must be an integer in %lld..%lld", key, lo, hi);
		return CONFIG_ERR_VALUE;
	}
	*dst = (long long)d;
	return CONFIG_OK;
}

/* The key references and the token settings. */
static int config_keys_parse(ca_config_t *out, const cJSON *root, char *err,
    size_t errlen)
{
	int rc;

	if ((rc = get_str(root, "device_ca_key", out->device_ca_key,
	         sizeof(out->device_ca_key), err, errlen)) != CONFIG_OK ||
	    (rc = get_str(root, "infra_ca_key", out->infra_ca_key,
	         sizeof(out->infra_ca_key), err, errlen)) != CONFIG_OK ||
	    (rc = get_str(root, "tls_key", out->tls_key, sizeof(out->tls_key),
	         err, errlen)) != CONFIG_OK ||
	    (rc = get_str(root, "cmp_signer_key", out->cmp_signer_key,
	         sizeof(out->cmp_signer_key), err, errlen)) != CONFIG_OK ||
	    (rc = get_str(root, "pkcs11_module", out->pkcs11_module,
	         sizeof(out->pkcs11_module), err, errlen)) != CONFIG_OK ||
	    (rc = get_str(root, "pkcs11_pin_file", out->pkcs11_pin_file,
	         sizeof(out->pkcs11_pin_file), err, errlen)) != CONFIG_OK ||
	    (rc = get_str(root, "pkcs11_pin_env", out->pkcs11_pin_env,
	         sizeof(out->pkcs11_pin_env), err, errlen)) != CONFIG_OK ||
	    (rc = get_str(root, "db", out->db, sizeof(out->db), err, errlen)) !=
	        CONFIG_OK)
		return rc;
	if (config_db_check(out->db) != 0) {
		util_err_set(err, errlen,
		    "config: db must be \"\" (SQLite in the "
		    "data folder) or a postgresql:// URL without a password "
		    "(libpq reads it from ~/.pgpass or PGPASSFILE)");
		return CONFIG_ERR_VALUE;
	}
	if (out->device_ca_key[0] == '\0' || out->infra_ca_key[0] == '\0' ||
	    out->tls_key[0] == '\0' || out->cmp_signer_key[0] == '\0') {
		util_err_set(err, errlen,
		    "config: key references must not be "
		    "empty");
		return CONFIG_ERR_VALUE;
	}
	return CONFIG_OK;
}

#define INT_SETTING(key, field, lo, hi) \
	do { \
		long long tmp_ = (long long)out->field; \
		if ((rc = get_int(root, key, &tmp_, lo, hi, err, errlen)) != \
		    CONFIG_OK) \
			goto out; \
		out->field = tmp_; \
	} while (0)

static int config_parse(ca_config_t *out, const char *text, char *err,
    size_t errlen)
{
	cJSON *root;
	int rc = CONFIG_OK;
	size_t n;

	if ((root = cJSON_Parse(text)) == NULL || !cJSON_IsObject(root)) {
		util_err_set(err, errlen, "config: not a JSON object");
		cJSON_Delete(root);
		return CONFIG_ERR_PARSE;
	}
	if ((rc = get_str(root, "org", out->org, sizeof(out->org), err,
	         errlen)) != CONFIG_OK ||
	    (rc = get_str(root, "listen", out->listen, sizeof(out->listen), err,
	         errlen)) != CONFIG_OK ||
	    (rc = get_str(root, "public_base_url", out->public_base_url,
	         sizeof(out->public_base_url), err, errlen)) != CONFIG_OK ||
	    (rc = get_str(root, "plain_http_listen", out->plain_http_listen,
	         sizeof(out->plain_http_listen), err, errlen)) != CONFIG_OK ||
	    (rc = get_str(root, "plain_http_base_url", out->plain_http_base_url,
	         sizeof(out->plain_http_base_url), err, errlen)) != CONFIG_OK ||
	    (rc = get_str(root, "log_level", out->log_level,
	         sizeof(out->log_level), err, errlen)) != CONFIG_OK ||
	    (rc = get_str(root, "log_file", out->log_file,
	         sizeof(out->log_file), err, errlen)) != CONFIG_OK ||
	    (rc = get_str(root, "access_log_file", out->access_log_file,
	         sizeof(out->access_log_file), err, errlen)) != CONFIG_OK ||
	    (rc = config_keys_parse(out, root, err, errlen)) != CONFIG_OK)
		goto out;
	INT_SETTING("body_limit", body_limit, 1024, 64LL * 1024 * 1024);
	INT_SETTING("worker_threads", worker_threads, 1, 16384);
	INT_SETTING("keep_alive_timeout_ms", keep_alive_timeout_ms, 100,
	    600000);
	INT_SETTING("max_connections_per_address", max_connections_per_address,
	    1, 16384);
	INT_SETTING("tls_handshake_timeout_ms", tls_handshake_timeout_ms, 100,
	    600000);
	INT_SETTING("device_validity_days", device_validity_days, 0, 36500);
	INT_SETTING("principal_validity_days", principal_validity_days, 1,
	    36500);
	INT_SETTING("principal_max_valid_certs", principal_max_valid_certs, 1,
	    1000);
	INT_SETTING("server_validity_days", server_validity_days, 1, 36500);
	INT_SETTING("crl_next_update_hours", crl_next_update_hours, 1, 8760);
	INT_SETTING("crl_refresh_seconds", crl_refresh_seconds, 0,
	    UTIL_SECONDS_PER_DAY);
	INT_SETTING("batch_max", batch_max, 1, 100000);
	INT_SETTING("ocsp_validity_seconds", ocsp_validity_seconds, 60,
	    7 * 86400);
	INT_SETTING("device_urn_pen", device_urn_pen, 1, 4294967295LL);
	INT_SETTING("session_idle_seconds", session_idle_seconds, 60,
	    UTIL_SECONDS_PER_DAY);
	INT_SETTING("session_absolute_seconds", session_absolute_seconds, 60,
	    30 * UTIL_SECONDS_PER_DAY);
	INT_SETTING("db_pool", db_pool, 1, CONFIG_DB_POOL_MAX);
	INT_SETTING("hsts_max_age", hsts_max_age, 0,
	    5 * 365 * UTIL_SECONDS_PER_DAY);
	if (strcmp(out->log_level, "error") != 0 &&
	    strcmp(out->log_level, "warn") != 0 &&
	    strcmp(out->log_level, "info") != 0 &&
	    strcmp(out->log_level, "debug") != 0) {
		util_err_set(err, errlen,
		    "config: log_level must be error, warn, info or debug");
		rc = CONFIG_ERR_VALUE;
		goto out;
	}
	n = strlen(out->public_base_url);
	if (strncmp(out->public_base_url, "https://", 8) != 0 || n <= 8 ||
	    out->public_base_url[n - 1] == '/') {
		util_err_set(err, errlen,
		    "config: public_base_url must be "
		    "https://host[:port] without a trailing '/'");
		rc = CONFIG_ERR_VALUE;
		goto out;
	}
	if (out->plain_http_base_url[0] != '\0' &&
	    config_plain_url_check(out->plain_http_base_url) != 0) {
		util_err_set(err, errlen,
		    "config: plain_http_base_url must be "
		    "http://host[:port] without a trailing '/'");
		rc = CONFIG_ERR_VALUE;
		goto out;
	}
	if (out->org[0] == '\0') {
		util_err_set(err, errlen, "config: org must not be empty");
		rc = CONFIG_ERR_VALUE;
	}
out:
	cJSON_Delete(root);
	return rc;
}

/* Read the file at path into a NUL-terminated buffer (caller frees). */
static int config_file_read(const char *path, char **out, char *err,
    size_t errlen)
{
	FILE *f;
	char *buf = NULL;
	size_t n;
	int rc = CONFIG_ERR_IO;

	*out = NULL;
	if ((f = fopen(path, "rb")) == NULL) {
		util_err_set(err, errlen, "%s: %s", path, strerror(errno));
		return CONFIG_ERR_IO;
	}
	if ((buf = malloc(CONFIG_FILE_MAX + 1)) == NULL) {
		util_err_set(err, errlen, "out of memory");
		goto out;
	}
	n = fread(buf, 1, CONFIG_FILE_MAX + 1, f);
	if (ferror(f)) {
		util_err_set(err, errlen, "%s: read error", path);
		goto out;
	}
	if (n > CONFIG_FILE_MAX) {
		util_err_set(err, errlen, "%s: larger than %d bytes", path,
		    CONFIG_FILE_MAX);
		goto out;
	}
	buf[n] = '\0';
	*out = buf;
	buf = NULL;
	rc = CONFIG_OK;
out:
	free(buf);
	fclose(f);
	return rc;
}

int config_load(ca_config_t *out, const char *path, char *err, size_t errlen)
{
	char *buf = NULL;
	int rc;

	config_defaults(out);
	if ((rc = config_file_read(path, &buf, err, errlen)) != CONFIG_OK)
		return rc;
	rc = config_parse(out, buf, err, errlen);
	free(buf);
	return rc;
}

int config_public_url_valid(const char *url)
{
	size_t n = url != NULL ? strlen(url) : 0;

	return n > 8 && n < sizeof(((ca_config_t *)0)->public_base_url) &&
	    strncmp(url, "https://", 8) == 0 && url[n - 1] != '/' &&
	    strpbrk(url, ", \t\r\n\"") == NULL;
}

/* Write text to a new temporary file beside path, then rename it over path. */
static int config_file_replace(const char *path, const char *text, char *err,
    size_t errlen)
{
	char tmp[PATH_MAX];
	size_t len = strlen(text), off = 0;
	int fd = -1, rc = CONFIG_ERR_IO;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.XXXXXX", path) >=
	    sizeof(tmp)) {
		util_err_set(err, errlen, "%s: path too long", path);
		return CONFIG_ERR_IO;
	}
	if ((fd = mkstemp(tmp)) < 0) {
		util_err_set(err, errlen, "%s: %s", tmp, strerror(errno));
		return CONFIG_ERR_IO;
	}
	while (off < len) {
		ssize_t w = write(fd, text + off, len - off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			util_err_set(err, errlen, "%s: %s", tmp,
			    strerror(errno));
			goto out;
		}
		off += (size_t)w;
	}
	if (fchmod(fd, 0644) != 0 || fsync(fd) != 0) {
		util_err_set(err, errlen, "%s: %s", tmp, strerror(errno));
		goto out;
	}
	rc = close(fd);
	fd = -1;
	if (rc != 0) {
		rc = CONFIG_ERR_IO;
		util_err_set(err, errlen, "%s: %s", tmp, strerror(errno));
		goto out;
	}
	rc = CONFIG_ERR_IO;
	if (rename(tmp, path) != 0) {
		util_err_set(err, errlen, "%s: %s", path, strerror(errno));
		goto out;
	}
	rc = CONFIG_OK;
out:
	if (fd >= 0)
		close(fd);
	if (rc != CONFIG_OK)
		unlink(tmp);
	return rc;
}

int config_public_url_set(const char *path, const char *url, char *err,
    size_t errlen)
{
	ca_config_t check;
	cJSON *root = NULL, *v;
	char *buf = NULL, *text = NULL;
	int rc;

	if (!config_public_url_valid(url)) {
		util_err_set(err, errlen,
		    "public URL must be https://host[:port] "
		    "without a trailing '/' (at most %zu characters)",
		    sizeof(check.public_base_url) - 1);
		return CONFIG_ERR_VALUE;
	}
	if ((rc = config_file_read(path, &buf, err, errlen)) != CONFIG_OK)
		return rc;
	/* The file as it stands must load; a broken one is not rewritten. */
	if ((rc = config_parse(&check, buf, err, errlen)) != CONFIG_OK)
		goto out;
	rc = CONFIG_ERR_IO;
	if ((root = cJSON_Parse(buf)) == NULL ||
	    (v = cJSON_CreateString(url)) == NULL) {
		util_err_set(err, errlen, "out of memory");
		goto out;
	}
	if (cJSON_GetObjectItemCaseSensitive(root, "public_base_url") != NULL)
		cJSON_ReplaceItemInObjectCaseSensitive(root, "public_base_url",
		    v);
	else
		cJSON_AddItemToObject(root, "public_base_url", v);
	if ((text = cJSON_Print(root)) == NULL) {
		util_err_set(err, errlen, "out of memory");
		goto out;
	}
	if ((rc = config_parse(&check, text, err, errlen)) != CONFIG_OK)
		goto out;
	rc = config_file_replace(path, text, err, errlen);
out:
	cJSON_Delete(root);
	free(text);
	free(buf);
	return rc;
}

char *config_to_json(const ca_config_t *cfg)
{
	cJSON *o = cJSON_CreateObject();
	char *s = NULL;

	if (o == NULL)
		return NULL;
	if (cJSON_AddStringToObject(o, "org", cfg->org) == NULL ||
	    cJSON_AddStringToObject(o, "listen", cfg->listen) == NULL ||
	    cJSON_AddStringToObject(o, "public_base_url",
	        cfg->public_base_url) == NULL ||
	    cJSON_AddStringToObject(o, "plain_http_listen",
	        cfg->plain_http_listen) == NULL ||
	    cJSON_AddStringToObject(o, "plain_http_base_url",
	        cfg->plain_http_base_url) == NULL ||
	    cJSON_AddNumberToObject(o, "ocsp_validity_seconds",
	        cfg->ocsp_validity_seconds) == NULL ||
	    cJSON_AddNumberToObject(o, "body_limit", (double)cfg->body_limit) ==
	        NULL ||
	    cJSON_AddNumberToObject(o, "worker_threads", cfg->worker_threads) ==
	        NULL ||
	    cJSON_AddNumberToObject(o, "keep_alive_timeout_ms",
	        cfg->keep_alive_timeout_ms) == NULL ||
	    cJSON_AddNumberToObject(o, "max_connections_per_address",
	        cfg->max_connections_per_address) == NULL ||
	    cJSON_AddNumberToObject(o, "tls_handshake_timeout_ms",
	        cfg->tls_handshake_timeout_ms) == NULL ||
	    cJSON_AddNumberToObject(o, "device_validity_days",
	        cfg->device_validity_days) == NULL ||
	    cJSON_AddNumberToObject(o, "principal_validity_days",
	        cfg->principal_validity_days) == NULL ||
	    cJSON_AddNumberToObject(o, "principal_max_valid_certs",
	        cfg->principal_max_valid_certs) == NULL ||
	    cJSON_AddNumberToObject(o, "server_validity_days",
	        cfg->server_validity_days) == NULL ||
	    cJSON_AddNumberToObject(o, "crl_next_update_hours",
	        cfg->crl_next_update_hours) == NULL ||
	    cJSON_AddNumberToObject(o, "crl_refresh_seconds",
	        cfg->crl_refresh_seconds) == NULL ||
	    cJSON_AddNumberToObject(o, "batch_max", cfg->batch_max) == NULL ||
	    cJSON_AddNumberToObject(o, "device_urn_pen",
	        (double)cfg->device_urn_pen) == NULL ||
	    cJSON_AddNumberToObject(o, "session_idle_seconds",
	        cfg->session_idle_seconds) == NULL ||
	    cJSON_AddNumberToObject(o, "session_absolute_seconds",
	        cfg->session_absolute_seconds) == NULL ||
	    cJSON_AddNumberToObject(o, "hsts_max_age", cfg->hsts_max_age) ==
	        NULL ||
	    cJSON_AddStringToObject(o, "log_level", cfg->log_level) == NULL ||
	    cJSON_AddStringToObject(o, "log_file", cfg->log_file) == NULL ||
	    cJSON_AddStringToObject(o, "access_log_file",
	        cfg->access_log_file) == NULL ||
	    cJSON_AddStringToObject(o, "device_ca_key", cfg->device_ca_key) ==
	        NULL ||
	    cJSON_AddStringToObject(o, "infra_ca_key", cfg->infra_ca_key) ==
	        NULL ||
	    cJSON_AddStringToObject(o, "tls_key", cfg->tls_key) == NULL ||
	    cJSON_AddStringToObject(o, "cmp_signer_key", cfg->cmp_signer_key) ==
	        NULL ||
	    cJSON_AddStringToObject(o, "pkcs11_module", cfg->pkcs11_module) ==
	        NULL ||
	    cJSON_AddStringToObject(o, "pkcs11_pin_file",
	        cfg->pkcs11_pin_file) == NULL ||
	    cJSON_AddStringToObject(o, "pkcs11_pin_env", cfg->pkcs11_pin_env) ==
	        NULL ||
	    cJSON_AddStringToObject(o, "db", cfg->db) == NULL ||
	    cJSON_AddNumberToObject(o, "db_pool", cfg->db_pool) == NULL)
		goto out;
	s = cJSON_Print(o);
out:
	cJSON_Delete(o);
	return s;
}

int config_save(const ca_config_t *cfg, const char *path, char *err,
    size_t errlen)
{
	char *s;
	int fd, rc = CONFIG_ERR_IO;
	size_t len, off = 0;

	if ((s = config_to_json(cfg)) == NULL) {
		util_err_set(err, errlen, "out of memory");
		return CONFIG_ERR_IO;
	}
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0) {
		util_err_set(err, errlen, "%s: %s", path, strerror(errno));
		goto out;
	}
	len = strlen(s);
	while (off < len) {
		ssize_t w = write(fd, s + off, len - off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			util_err_set(err, errlen, "%s: %s", path,
			    strerror(errno));
			close(fd);
			goto out;
		}
		off += (size_t)w;
	}
	if (write(fd, "\n", 1) != 1 || fsync(fd) != 0) {
		util_err_set(err, errlen, "%s: %s", path, strerror(errno));
		close(fd);
		goto out;
	}
	if (close(fd) != 0) {
		util_err_set(err, errlen, "%s: %s", path, strerror(errno));
		goto out;
	}
	rc = CONFIG_OK;
out:
	free(s);
	return rc;
}
