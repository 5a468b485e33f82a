/* util.c — error messages with OpenSSL's queue, hex coding, randomness. */
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/rand.h>

static void err_vset(char *err, size_t errlen, const char *fmt, va_list ap)
{
	if (err == NULL || errlen == 0)
		return;
	vsnprintf(err, errlen, fmt, ap);
}

void util_err_set(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	err_vset(err, errlen, fmt, ap);
	va_end(ap);
}

void util_err_openssl(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	unsigned long e;
	int first = 1;

	va_start(ap, fmt);
	err_vset(err, errlen, fmt, ap);
	va_end(ap);
	/* Drain the whole queue even when the message is full. */
	while ((e = ERR_get_error()) != 0) {
		const char *reason = ERR_reason_error_string(e);
		size_t used;

		if (err == NULL || errlen == 0 || !first)
			continue;
		first = 0;
		used = strlen(err);
		if (used + 3 < errlen)
			snprintf(err + used, errlen - used, ": %s",
			    reason != NULL ? reason : "unknown OpenSSL error");
	}
}

static int hex_nibble(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int util_hex_decode(uint8_t *out, size_t outlen, const char *in)
{
	size_t i;

	if (in == NULL || strlen(in) != outlen * 2)
		return -1;
	for (i = 0; i < outlen; i++) {
		int hi = hex_nibble(in[2 * i]), lo = hex_nibble(in[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return -1;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

void util_hex_encode(char *out, const uint8_t *in, size_t len)
{
	static const char digits[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < len; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 0x0f];
	}
	out[2 * len] = '\0';
}

int util_random(uint8_t *buf, size_t len)
{
	if (len > 0x7fffffff)
		return -1;
	return RAND_bytes(buf, (int)len) == 1 ? 0 : -1;
}

int util_file_owner_only(const char *path, const char *what, char *err,
    size_t errlen)
{
	struct stat sb;
	int fd;

	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
	    0600);
	if (fd >= 0) {
		close(fd);
		return 0;
	}
	if (errno != EEXIST || lstat(path, &sb) != 0) {
		util_err_set(err, errlen, "%s %s: %s", what, path,
		    strerror(errno));
		return -1;
	}
	if (S_ISREG(sb.st_mode) && (sb.st_mode & 077) != 0 &&
	    chmod(path, sb.st_mode & 0700) != 0) {
		util_err_set(err, errlen, "chmod %s: %s", path,
		    strerror(errno));
		return -1;
	}
	return 0;
}

/* RFC 3339 UTC, or the decimal seconds (see util.h). */
void util_time_iso(char *out, size_t outlen, int64_t t)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (gmtime_r(&tt, &tm) == NULL ||
	    strftime(out, outlen, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(out, outlen, "%lld", (long long)t);
}
