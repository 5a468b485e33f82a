/* allow.c — the CA allow-list: which certificate URLs corehook may fetch.
 * URLs are parsed with libcurl's URL API (the same parser that will make the
 * request), then compared field by field; anything unusual is refused. */
#include "ch_int.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "devid.h"
#include "util.h"

/* Refuse what a URL must never contain before any parser sees it: controls,
 * spaces, backslashes, non-ASCII, percent-encoding. */
static int raw_ok(const char *url)
{
	size_t n = strlen(url);

	if (n == 0 || n > CH_URL_MAX)
		return 0;
	for (; *url != '\0'; url++) {
		unsigned char c = (unsigned char)*url;

		if (c <= 0x20 || c >= 0x7f || c == '\\' || c == '%')
			return 0;
	}
	return 1;
}

/* The parts of an https URL. */
struct url_parts {
	char host[256];
	unsigned port;
	char path[CH_URL_MAX + 1];
};

/* None of userinfo (user, password, options), query, fragment or zone
 * id is in u: 1, else 0 with err. */
static int url_extras_absent(CURLU *u, char *err, size_t errlen)
{
	static const CURLUPart userinfo[] = { CURLUPART_USER,
		CURLUPART_PASSWORD, CURLUPART_OPTIONS };
	static const CURLUPart extras[] = { CURLUPART_QUERY, CURLUPART_FRAGMENT,
		CURLUPART_ZONEID };
	char *v = NULL;
	size_t i;

	for (i = 0; i < sizeof(userinfo) / sizeof(userinfo[0]); i++) {
		if (curl_url_get(u, userinfo[i], &v, 0) == CURLUE_OK) {
			curl_free(v);
			util_err_set(err, errlen,
			    "URL carries user "
			    "information");
			return 0;
		}
	}
	for (i = 0; i < sizeof(extras) / sizeof(extras[0]); i++) {
		if (curl_url_get(u, extras[i], &v, 0) == CURLUE_OK) {
			curl_free(v);
			util_err_set(err, errlen,
			    "URL carries a query, "
			    "fragment or zone");
			return 0;
		}
	}
	return 1;
}

/* path (starting with '/') has no dot segments and no empty segments (a
 * trailing '/' aside). */
static int path_segments_ok(const char *path)
{
	const char *seg = path + 1;

	for (;;) {
		const char *slash = strchr(seg, '/');
		size_t len =
		    slash != NULL ? (size_t)(slash - seg) : strlen(seg);

		if ((len == 1 && seg[0] == '.') ||
		    (len == 2 && seg[0] == '.' && seg[1] == '.') ||
		    (len == 0 && slash != NULL))
			return 0;
		if (slash == NULL)
			return 1;
		seg = slash + 1;
	}
}

/* Split url with curl_url, refusing userinfo, query, fragment and anything
 * but https; dot segments are kept as they are (CURLU_PATH_AS_IS) so they
 * can be refused below. */
static int url_split(struct url_parts *p, const char *url, char *err,
    size_t errlen)
{
	CURLU *u = NULL;
	char *scheme = NULL, *host = NULL, *port = NULL, *path = NULL;
	int rc = CH_URL_MALFORMED;
	size_t i;
	long portnum;
	char *end;

	memset(p, 0, sizeof(*p));
	if (!raw_ok(url)) {
		util_err_set(err, errlen,
		    "URL has illegal characters or length");
		goto out;
	}
	if ((u = curl_url()) == NULL) {
		util_err_set(err, errlen, "out of memory");
		goto out;
	}
	if (curl_url_set(u, CURLUPART_URL, url, CURLU_PATH_AS_IS) !=
	    CURLUE_OK) {
		util_err_set(err, errlen, "not a URL");
		goto out;
	}
	if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    strcmp(scheme, "https") != 0) {
		util_err_set(err, errlen, "scheme is not https");
		goto out;
	}
	if (!url_extras_absent(u, err, errlen))
		goto out;
	if (curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
	    strlen(host) == 0 || strlen(host) >= sizeof(p->host)) {
		util_err_set(err, errlen, "URL has no usable host");
		goto out;
	}
	if (curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) !=
	    CURLUE_OK) {
		util_err_set(err, errlen, "URL has no usable port");
		goto out;
	}
	portnum = strtol(port, &end, 10);
	if (*end != '\0' || portnum < 1 || portnum > 65535) {
		util_err_set(err, errlen, "URL has no usable port");
		goto out;
	}
	if (curl_url_get(u, CURLUPART_PATH, &path, 0) != CURLUE_OK ||
	    path[0] != '/' || strlen(path) > CH_URL_MAX) {
		util_err_set(err, errlen, "URL has no usable path");
		goto out;
	}
	if (!path_segments_ok(path)) {
		util_err_set(err, errlen, "URL path has dot or empty segments");
		goto out;
	}
	for (i = 0; host[i] != '\0'; i++)
		p->host[i] = (char)tolower((unsigned char)host[i]);
	p->host[i] = '\0';
	p->port = (unsigned)portnum;
	snprintf(p->path, sizeof(p->path), "%s", path);
	rc = CH_URL_OK;
out:
	curl_free(scheme);
	curl_free(host);
	curl_free(port);
	curl_free(path);
	curl_url_cleanup(u);
	return rc;
}

int ch_allow_parse_base(ch_allow_t *e, const char *base, char *err,
    size_t errlen)
{
	struct url_parts p;
	size_t n;

	if (url_split(&p, base, err, errlen) != CH_URL_OK)
		return CH_URL_MALFORMED;
	n = strlen(p.path);
	memset(e, 0, sizeof(*e));
	if (strcmp(p.path, "/") == 0) {
		snprintf(p.path, sizeof(p.path), "/devices/");
		e->seed_form = 1;
	} else if (n == 0 || p.path[n - 1] != '/') {
		util_err_set(err, errlen,
		    "allow-list base URL %s must end with '/'", base);
		return CH_URL_MALFORMED;
	}
	snprintf(e->base_url, sizeof(e->base_url), "%s", base);
	snprintf(e->host, sizeof(e->host), "%s", p.host);
	e->port = p.port;
	snprintf(e->path_prefix, sizeof(e->path_prefix), "%s", p.path);
	return CH_URL_OK;
}

int ch_allow_check(const ch_allow_t *list, size_t n, const char *url,
    const ch_allow_t **entry, char *device_id, char *err, size_t errlen)
{
	struct url_parts p;
	size_t i;

	*entry = NULL;
	device_id[0] = '\0';
	if (url_split(&p, url, err, errlen) != CH_URL_OK)
		return CH_URL_MALFORMED;
	for (i = 0; i < n; i++) {
		const ch_allow_t *e = &list[i];
		size_t plen = strlen(e->path_prefix);
		const char *rest;

		if (strcmp(e->host, p.host) != 0 || e->port != p.port)
			continue;
		if (strncmp(p.path, e->path_prefix, plen) == 0)
			rest = p.path + plen;
		else if (e->seed_form && strncmp(p.path, "/DeviceID=", 10) == 0)
			rest = p.path + 10; /* the seed's literal form */
		else
			continue;
		if (!devid_valid(rest)) {
			util_err_set(err, errlen,
			    "URL does not end in a DeviceID");
			return CH_URL_NOT_ALLOWED;
		}
		snprintf(device_id, 65, "%s", rest);
		*entry = e;
		return CH_URL_OK;
	}
	util_err_set(err, errlen, "URL %s:%u%s is on no allow-list entry",
	    p.host, p.port, p.path);
	return CH_URL_NOT_ALLOWED;
}
