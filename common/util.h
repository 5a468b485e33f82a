/* util.h — small helpers every module shares: error messages that carry
 * OpenSSL's error queue, hex coding, secure wiping. */
#ifndef PROVCA_UTIL_H
#define PROVCA_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* Time units in seconds, for durations counted in hours or days. */
#define UTIL_SECONDS_PER_HOUR 3600
#define UTIL_SECONDS_PER_DAY 86400

/* Write a printf-style message into err (errlen bytes, always terminated).
 * NULL err or zero errlen is allowed and does nothing. */
void util_err_set(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Like util_err_set, then append ": " and OpenSSL's queued errors (reason
 * strings), draining the queue so the next caller starts clean. */
void util_err_openssl(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Decode exactly outlen bytes from the hex string in (upper or lower case,
 * no separators). Returns 0, or -1 if in is not 2*outlen hex digits. */
int util_hex_decode(uint8_t *out, size_t outlen, const char *in);

/* Encode len bytes as lowercase hex into out (2*len+1 bytes). */
void util_hex_encode(char *out, const uint8_t *in, size_t len);

/* Fill buf with len bytes from OpenSSL's CSPRNG. Returns 0 or -1. */
int util_random(uint8_t *buf, size_t len);

/* Unix time t as RFC 3339 UTC ("2026-01-31T12:00:00Z") into out (at
 * least 21 bytes); the decimal seconds if the time cannot be broken
 * down. */
void util_time_iso(char *out, size_t outlen, int64_t t);

/* Create path owner-only (exclusive create, 0600 whatever the umask) if it
 * is missing, and take group and other rights away if it has them (SQLite
 * gives its -wal and -shm files the rights of the database file). An
 * existing file is never opened: closing a descriptor would drop every
 * POSIX lock this process holds on it, including open connections'.
 * Returns 0, or -1 with "<what> <path>: <reason>" (or "chmod ...") in err. */
int util_file_owner_only(const char *path, const char *what, char *err,
    size_t errlen);

#endif
