/* devid.h — the DeviceID grammar, defined once: 1..DEVID_MAX characters of
 * [A-Za-z0-9._-], and neither "." nor ".." (a DeviceID is a URL path
 * segment: those two are path steps, not names). Used by the CA, the
 * registry, the provisioning container and corehook. */
#ifndef PROVCA_DEVID_H
#define PROVCA_DEVID_H

#include <stddef.h>

#define DEVID_MAX 64

/* 1 if the n bytes at s (no NUL needed) are a DeviceID, else 0. */
int devid_valid_n(const char *s, size_t n);

/* 1 if the NUL-terminated s is a DeviceID, else 0 (NULL: 0). */
int devid_valid(const char *s);

#endif
