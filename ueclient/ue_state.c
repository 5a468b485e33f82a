/* ue_state.c — the state folder: paths, bounded reads, atomic writes and
 * device.json (the device's identity and enrollment record). */
#include "ue.h"
#include "devid.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cJSON.h>

int ue_state_path(char *out, size_t outlen, const char *dir, const char *name)
{
	int n;

	if (out == NULL || dir == NULL || name == NULL)
		return UE_ERR_ARG;
	n = snprintf(out, outlen, "%s/%s", dir, name);
	if (n < 0 || (size_t)n >= outlen)
		return UE_ERR_ARG;
	return UE_OK;
}

int ue_file_read(char **out, size_t *lenout, const char *path, size_t max,
    char *err, size_t errlen)
{
	int fd = -1, rc = UE_ERR_IO;
	struct stat st;
	char *buf = NULL;
	size_t got = 0;

	*out = NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		util_err_set(err, errlen, "%s: %s", path, strerror(errno));
		goto done;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		util_err_set(err, errlen, "%s: not a regular file", path);
		goto done;
	}
	if ((uint64_t)st.st_size > max) {
		util_err_set(err, errlen, "%s: larger than %zu bytes", path,
		    max);
		rc = UE_ERR_ARG;
		goto done;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (buf == NULL) {
		rc = UE_ERR_NOMEM;
		util_err_set(err, errlen, "out of memory");
		goto done;
	}
	while (got < (size_t)st.st_size) {
		ssize_t r = read(fd, buf + got, (size_t)st.st_size - got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			util_err_set(err, errlen, "%s: short read", path);
			goto done;
		}
		got += (size_t)r;
	}
	buf[got] = '\0';
	*out = buf;
	buf = NULL;
	if (lenout != NULL)
		*lenout = got;
	rc = UE_OK;
done:
	free(buf);
	if (fd >= 0)
		close(fd);
	return rc;
}

int ue_file_write_atomic(const char *path, const void *data, size_t len,
    unsigned mode, char *err, size_t errlen)
{
	char tmp[4096], dirbuf[4096];
	const unsigned char *p = data;
	int fd = -1, dfd = -1, rc = UE_ERR_IO;
	size_t off = 0;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp.XXXXXX", path) >=
	        (int)sizeof(tmp) ||
	    snprintf(dirbuf, sizeof(dirbuf), "%s", path) >=
	        (int)sizeof(dirbuf)) {
		util_err_set(err, errlen, "path too long");
		return UE_ERR_ARG;
	}
	fd = mkstemp(tmp);
	if (fd < 0) {
		util_err_set(err, errlen, "%s: %s", tmp, strerror(errno));
		return UE_ERR_IO;
	}
	/* mkstemp already gives 0600; narrow or widen to exactly mode. */
	if (fchmod(fd, (mode_t)mode) != 0) {
		util_err_set(err, errlen, "chmod %s: %s", tmp, strerror(errno));
		goto done;
	}
	while (off < len) {
		ssize_t w = write(fd, p + off, len - off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			util_err_set(err, errlen, "write %s: %s", tmp,
			    strerror(errno));
			goto done;
		}
		off += (size_t)w;
	}
	if (fsync(fd) != 0) {
		util_err_set(err, errlen, "fsync %s: %s", tmp, strerror(errno));
		goto done;
	}
	if (close(fd) != 0) {
		fd = -1;
		util_err_set(err, errlen, "close %s: %s", tmp, strerror(errno));
		goto done;
	}
	fd = -1;
	if (rename(tmp, path) != 0) {
		util_err_set(err, errlen, "rename to %s: %s", path,
		    strerror(errno));
		goto done;
	}
	tmp[0] = '\0';
	/* Make the rename itself durable. */
	dfd = open(dirname(dirbuf), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0)
		(void)fsync(dfd);
	rc = UE_OK;
done:
	if (fd >= 0)
		close(fd);
	if (dfd >= 0)
		close(dfd);
	if (rc != UE_OK && tmp[0] != '\0')
		unlink(tmp);
	return rc;
}

int ue_mkdir_p(const char *dir, char *err, size_t errlen)
{
	char buf[4096];
	size_t i, n = strlen(dir);

	if (n == 0 || n >= sizeof(buf)) {
		util_err_set(err, errlen, "bad folder name");
		return UE_ERR_ARG;
	}
	memcpy(buf, dir, n + 1);
	for (i = 1; i <= n; i++) {
		if (buf[i] != '/' && buf[i] != '\0')
			continue;
		buf[i] = '\0';
		/* Parents with the umask's rights, the folder itself 0700. */
		if (mkdir(buf, i == n ? 0700 : 0755) != 0 && errno != EEXIST) {
			util_err_set(err, errlen, "mkdir %s: %s", buf,
			    strerror(errno));
			return UE_ERR_IO;
		}
		buf[i] = i == n ? '\0' : '/';
	}
	return UE_OK;
}

int ue_id_valid(const char *s)
{
	size_t i, n;

	if (s == NULL)
		return 0;
	n = strlen(s);
	if (n == 0 || n > UE_ID_MAX)
		return 0;
	for (i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		        (c >= '0' && c <= '9') || c == '.' || c == '_' ||
		        c == '-'))
			return 0;
	}
	return 1;
}

int ue_key_type_parse(ue_key_type *out, const char *s)
{
	if (s == NULL)
		return UE_ERR_ARG;
	if (strcmp(s, "p256") == 0 || strcmp(s, "P-256") == 0 ||
	    strcmp(s, "ec") == 0)
		*out = UE_KEY_P256;
	else if (strcmp(s, "p384") == 0 || strcmp(s, "P-384") == 0)
		*out = UE_KEY_P384;
	else if (strcmp(s, "rsa2048") == 0)
		*out = UE_KEY_RSA2048;
	else if (strcmp(s, "rsa3072") == 0)
		*out = UE_KEY_RSA3072;
	else
		return UE_ERR_ARG;
	return UE_OK;
}

const char *ue_key_type_name(ue_key_type t)
{
	switch (t) {
	case UE_KEY_P384: return "p384";
	case UE_KEY_RSA2048: return "rsa2048";
	case UE_KEY_RSA3072: return "rsa3072";
	default: return "p256";
	}
}

/* Copy a string member of obj into dst (cap bytes) if present. Absent is
 * allowed when !required; too long or not a string is an error. */
static int json_str(char *dst, size_t cap, const cJSON *obj, const char *name,
    int required, char *err, size_t errlen)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);

	if (v == NULL) {
		if (!required) {
			dst[0] = '\0';
			return UE_OK;
		}
		util_err_set(err, errlen, "missing \"%s\"", name);
		return UE_ERR_ARG;
	}
	if (!cJSON_IsString(v) || v->valuestring == NULL ||
	    strlen(v->valuestring) >= cap) {
		util_err_set(err, errlen,
		    "\"%s\" is not a string of at most %zu "
		    "characters",
		    name, cap - 1);
		return UE_ERR_ARG;
	}
	memcpy(dst, v->valuestring, strlen(v->valuestring) + 1);
	return UE_OK;
}

int ue_device_load(ue_device_t *out, const char *dir, char *err, size_t errlen)
{
	char path[4096], kt[16], *text = NULL;
	cJSON *root = NULL;
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = ue_state_path(path, sizeof(path), dir, UE_F_DEVICE)) != 0) {
		util_err_set(err, errlen, "state path too long");
		return rc;
	}
	if (access(path, F_OK) != 0) {
		util_err_set(err, errlen,
		    "%s: not initialised (run ueclient init)", dir);
		return UE_ERR_STATE;
	}
	if ((rc = ue_file_read(&text, NULL, path, 65536, err, errlen)) != 0)
		return rc;
	root = cJSON_Parse(text);
	rc = UE_ERR_ARG;
	if (root == NULL || !cJSON_IsObject(root)) {
		util_err_set(err, errlen, "%s: not a JSON object", path);
		goto done;
	}
	if (json_str(out->manufacturer_id, sizeof(out->manufacturer_id), root,
	        "manufacturer_id", 1, err, errlen) != 0 ||
	    json_str(out->serial, sizeof(out->serial), root, "serial", 1, err,
	        errlen) != 0 ||
	    json_str(out->model, sizeof(out->model), root, "model", 1, err,
	        errlen) != 0 ||
	    json_str(out->hardware_version, sizeof(out->hardware_version), root,
	        "hardware_version", 0, err, errlen) != 0 ||
	    json_str(kt, sizeof(kt), root, "key_type", 1, err, errlen) != 0 ||
	    json_str(out->device_id, sizeof(out->device_id), root, "device_id",
	        0, err, errlen) != 0 ||
	    json_str(out->certificate_url, sizeof(out->certificate_url), root,
	        "certificate_url", 0, err, errlen) != 0)
		goto done;
	if (ue_key_type_parse(&out->key_type, kt) != 0) {
		util_err_set(err, errlen, "%s: unknown key_type \"%s\"", path,
		    kt);
		goto done;
	}
	if (out->device_id[0] != '\0' && !devid_valid(out->device_id)) {
		util_err_set(err, errlen, "%s: invalid device_id", path);
		goto done;
	}
	rc = UE_OK;
done:
	cJSON_Delete(root);
	free(text);
	return rc;
}

int ue_device_store(const ue_device_t *dev, const char *dir, char *err,
    size_t errlen)
{
	char path[4096], *text = NULL;
	cJSON *root = cJSON_CreateObject();
	int rc = UE_ERR_NOMEM;

	if (root == NULL ||
	    cJSON_AddStringToObject(root, "manufacturer_id",
	        dev->manufacturer_id) == NULL ||
	    cJSON_AddStringToObject(root, "serial", dev->serial) == NULL ||
	    cJSON_AddStringToObject(root, "model", dev->model) == NULL ||
	    cJSON_AddStringToObject(root, "hardware_version",
	        dev->hardware_version) == NULL ||
	    cJSON_AddStringToObject(root, "key_type",
	        ue_key_type_name(dev->key_type)) == NULL)
		goto nomem;
	if (dev->device_id[0] != '\0' &&
	    (cJSON_AddStringToObject(root, "device_id", dev->device_id) ==
	            NULL ||
	        cJSON_AddStringToObject(root, "certificate_url",
	            dev->certificate_url) == NULL))
		goto nomem;
	text = cJSON_Print(root);
	if (text == NULL)
		goto nomem;
	if ((rc = ue_state_path(path, sizeof(path), dir, UE_F_DEVICE)) != 0) {
		util_err_set(err, errlen, "state path too long");
		goto done;
	}
	rc = ue_file_write_atomic(path, text, strlen(text), 0644, err, errlen);
	goto done;
nomem:
	util_err_set(err, errlen, "out of memory");
done:
	cJSON_free(text);
	cJSON_Delete(root);
	return rc;
}
