/* devid.c — the DeviceID grammar (see devid.h). ASCII ranges, not
 * isalnum(): the answer must not depend on the locale. */
#include "devid.h"

#include <string.h>

/* One DeviceID character. */
static int devid_char_ok(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	    (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
}

/* The grammar over n bytes; a NUL among them is refused. */
int devid_valid_n(const char *s, size_t n)
{
	size_t i;

	if (s == NULL || n == 0 || n > DEVID_MAX)
		return 0;
	if ((n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.'))
		return 0;
	for (i = 0; i < n; i++)
		if (!devid_char_ok((unsigned char)s[i]))
			return 0;
	return 1;
}

/* The grammar over a C string, never reading past DEVID_MAX + 1 bytes. */
int devid_valid(const char *s)
{
	if (s == NULL)
		return 0;
	return devid_valid_n(s, strnlen(s, DEVID_MAX + 1));
}
