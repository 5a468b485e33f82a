/* http_static.c — the portal's static files from the configured web
 * folder for GET/HEAD paths no route claims: index.html for "/", MIME type
 * by extension, no directory listings, nothing outside the folder, and only
 * the portal's own assets (an explicit list): the folder also holds build
 * files (CMakeLists.txt, package.json, node_modules) that are not content. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <civetweb.h>

#include "http_int.h"

/* Largest file served; the portal's assets are small. */
#define STATIC_FILE_MAX (8 * 1024 * 1024)

static const struct {
	const char *ext;
	const char *type;
} mime_types[] = { { ".html", "text/html; charset=utf-8" },
	{ ".htm", "text/html; charset=utf-8" },
	{ ".js", "text/javascript; charset=utf-8" },
	{ ".mjs", "text/javascript; charset=utf-8" },
	{ ".css", "text/css; charset=utf-8" }, { ".json", "application/json" },
	{ ".map", "application/json" }, { ".yaml", "application/yaml" },
	{ ".yml", "application/yaml" }, { ".svg", "image/svg+xml" },
	{ ".png", "image/png" }, { ".jpg", "image/jpeg" },
	{ ".jpeg", "image/jpeg" }, { ".gif", "image/gif" },
	{ ".ico", "image/x-icon" }, { ".webp", "image/webp" },
	{ ".woff", "font/woff" }, { ".woff2", "font/woff2" },
	{ ".txt", "text/plain; charset=utf-8" },
	{ ".pem", "application/x-pem-file" }, { NULL, NULL } };

static const char *mime_type(const char *path)
{
	const char *dot = strrchr(path, '.');
	size_t i;

	if (dot == NULL || strchr(dot, '/') != NULL)
		return "application/octet-stream";
	for (i = 0; mime_types[i].ext != NULL; i++)
		if (strcasecmp(dot, mime_types[i].ext) == 0)
			return mime_types[i].type;
	return "application/octet-stream";
}

/* The portal's assets: these files at the top of the web folder, and
 * whatever lies in these sub-folders. Everything else there is a 404. */
static const char *const asset_files[] = { "index.html", "openapi.yaml", NULL };
static const char *const asset_dirs[] = { "css/", "js/", "img/", "vendor/",
	NULL };

/* 1 if rel (relative, "" for the index) names one of the portal's assets. */
static int asset_allowed(const char *rel)
{
	size_t i;

	if (*rel == '\0')
		return 1;
	for (i = 0; asset_files[i] != NULL; i++)
		if (strcmp(rel, asset_files[i]) == 0)
			return 1;
	for (i = 0; asset_dirs[i] != NULL; i++)
		if (strncmp(rel, asset_dirs[i], strlen(asset_dirs[i])) == 0)
			return 1;
	return 0;
}

/* Only plain relative names: [A-Za-z0-9._-] segments, no "..", no hidden
 * files, no node_modules (the portal's build tooling lives there). */
static int path_ok(const char *p)
{
	const char *seg = p;

	if (*p == '\0')
		return 1;
	for (; *p != '\0'; p++) {
		char c = *p;

		if (c == '/') {
			if (p == seg)
				return 0;
			seg = p + 1;
			continue;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		        (c >= '0' && c <= '9') || c == '.' || c == '_' ||
		        c == '-'))
			return 0;
		if (p == seg && c == '.')
			return 0;
	}
	return 1;
}

int http_static_serve(http_req_t *req)
{
	const char *rel = req->path + 1; /* path starts with '/' */
	char full[PATH_MAX * 2], real[PATH_MAX], etag[64], hdr[256],
	    inm_buf[64];
	const char *inm;
	struct stat st;
	char *buf = NULL;
	size_t got = 0;
	int fd = -1, status;
	ssize_t n;
	size_t root_len = strlen(req->srv->web_dir);

	if (req->srv->web_dir[0] == '\0' || req->path[0] != '/' ||
	    !path_ok(rel) || !asset_allowed(rel) ||
	    strstr(req->path, "node_modules") != NULL)
		return http_reply_problem(req, 404, PT_NOT_FOUND, "Not found",
		    "no such resource");
	if (*rel == '\0' || rel[strlen(rel) - 1] == '/')
		snprintf(full, sizeof(full), "%s/%sindex.html",
		    req->srv->web_dir, rel);
	else
		snprintf(full, sizeof(full), "%s/%s", req->srv->web_dir, rel);
	/* Symlinks must not lead out of the folder. */
	if (realpath(full, real) == NULL ||
	    strncmp(real, req->srv->web_dir, root_len) != 0 ||
	    real[root_len] != '/')
		return http_reply_problem(req, 404, PT_NOT_FOUND, "Not found",
		    "no such resource");
	fd = open(real, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
	    st.st_size > STATIC_FILE_MAX) {
		status = http_reply_problem(req, 404, PT_NOT_FOUND, "Not found",
		    "no such resource");
		goto out;
	}
	snprintf(etag, sizeof(etag), "\"%llx-%llx\"",
	    (unsigned long long)st.st_mtime, (unsigned long long)st.st_size);
	inm = http_header(req, "If-None-Match");
	if (inm != NULL) {
		snprintf(inm_buf, sizeof(inm_buf), "%s", inm);
		if (strcmp(inm_buf, etag) == 0) {
			snprintf(hdr, sizeof(hdr),
			    "ETag: %s\r\nCache-Control: no-cache\r\n", etag);
			status = http_reply_bytes(req, 304, NULL, hdr, NULL, 0);
			goto out;
		}
	}
	buf = malloc((size_t)st.st_size + 1);
	if (buf == NULL) {
		status = http_reply_problem(req, 500, PT_INTERNAL,
		    "Internal error", "out of memory");
		goto out;
	}
	while (got < (size_t)st.st_size) {
		n = read(fd, buf + got, (size_t)st.st_size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	snprintf(hdr, sizeof(hdr), "ETag: %s\r\nCache-Control: no-cache\r\n",
	    etag);
	status = http_reply_bytes(req, 200, mime_type(real), hdr, buf, got);
out:
	free(buf);
	if (fd >= 0)
		close(fd);
	return status;
}
