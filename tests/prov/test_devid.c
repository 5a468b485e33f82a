/* test_devid.c — the one DeviceID grammar (common/devid.c): every allowed
 * character class, the length bounds 1 and 64, "." and ".." refused but
 * names made of dots and more allowed, bytes outside the set (slash,
 * percent, space, NUL inside a counted string, non-ASCII) refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "devid.h"

/* Characters: letters, digits and . _ - only; ASCII, whatever the
 * locale. */
static void devid__charset(void **state)
{
	static const char *const bad[] = { "a/b", "a%2e", "a b", "a\\b", "a:b",
		"a+b", "a~b", "caf\xc3\xa9", "a\tb", "a?b", "a#b" };
	size_t i;

	(void)state;
	assert_true(devid_valid("A-z_0.9"));
	assert_true(devid_valid("acme-0123456789ABCDEF"));
	assert_true(devid_valid("_"));
	assert_true(devid_valid("-"));
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (devid_valid(bad[i]))
			fail_msg("accepted \"%s\"", bad[i]);
	assert_false(devid_valid(NULL));
}

/* Length 1..64: the empty string and 65 characters are refused. */
static void devid__length_bounds(void **state)
{
	char s[80];

	(void)state;
	memset(s, 'a', sizeof(s));
	s[64] = '\0';
	assert_true(devid_valid(s));
	s[64] = 'a';
	s[65] = '\0';
	assert_false(devid_valid(s));
	assert_false(devid_valid(""));
	assert_true(devid_valid("a"));
	assert_false(devid_valid_n(s, 0));
	assert_true(devid_valid_n(s, 64));
	assert_false(devid_valid_n(s, 65));
}

/* "." and ".." are path steps, not names; other dot names are fine. */
static void devid__dot_names(void **state)
{
	(void)state;
	assert_false(devid_valid("."));
	assert_false(devid_valid(".."));
	assert_false(devid_valid_n("..x", 2));
	assert_false(devid_valid_n(".x", 1));
	assert_true(devid_valid("..."));
	assert_true(devid_valid(".a"));
	assert_true(devid_valid("a.."));
}

/* A counted string is checked over exactly its n bytes: an embedded NUL
 * is refused, bytes after n are not read. */
static void devid__counted(void **state)
{
	(void)state;
	assert_false(devid_valid_n("ab\0cd", 5));
	assert_true(devid_valid_n("ab/cd", 2));
	assert_false(devid_valid_n("ab/cd", 3));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(devid__charset),
		cmocka_unit_test(devid__length_bounds),
		cmocka_unit_test(devid__dot_names),
		cmocka_unit_test(devid__counted),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
