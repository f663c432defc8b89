/* Common includes and small assertions for keel's host unit tests (cmocka).
 * Host only: never linked into keel.efi. */
#ifndef KEEL_TESTS_UNIT_UNIT_H
#define KEEL_TESTS_UNIT_UNIT_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

/* Fails with both strings shown when `needle` is not a substring of `hay`. */
#define assert_contains(hay, needle)                                                              \
	do {                                                                                      \
		const char *hay_ = (hay), *needle_ = (needle);                                    \
		if (!strstr(hay_, needle_))                                                       \
			fail_msg("\"%s\"\n  does not contain \"%s\"", hay_, needle_);             \
	} while (0)

#define assert_not_contains(hay, needle)                                                          \
	do {                                                                                      \
		const char *hay_ = (hay), *needle_ = (needle);                                    \
		if (strstr(hay_, needle_))                                                        \
			fail_msg("\"%s\"\n  unexpectedly contains \"%s\"", hay_, needle_);        \
	} while (0)

#endif
