/* Host unit tests for lib/fmt.c: conversions, flags, widths, precisions, truncation.
 * Host program (cmocka); links lib/fmt.c only. */
#include "unit.h"

#include <limits.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../../lib/fmt.h"

static char buf[256];

/* Formats into buf and checks both the text and the returned length. */
#define CHECK(expect, ...)                                                                        \
	do {                                                                                      \
		memset(buf, 0x7F, sizeof(buf));                                                   \
		int n_ = fmt_snprintf(buf, sizeof(buf), __VA_ARGS__);                             \
		assert_string_equal(buf, expect);                                                 \
		assert_int_equal(n_, (int)strlen(expect));                                        \
	} while (0)

/* For formats the compiler's printf checker rejects on purpose (bad conversions, ignored flags,
 * NULL %s). */
static int fmt_raw(char *b, size_t size, const char *f, ...)
{
	va_list ap;
	va_start(ap, f);
	int n = fmt_vsnprintf(b, size, f, ap);
	va_end(ap);
	return n;
}

#define CHECK_RAW(expect, ...)                                                                    \
	do {                                                                                      \
		int n_ = fmt_raw(buf, sizeof(buf), __VA_ARGS__);                                  \
		assert_string_equal(buf, expect);                                                 \
		assert_int_equal(n_, (int)strlen(expect));                                        \
	} while (0)

/* ---- conversions ---- */

static void test_plain_text_and_empty_format(void **state)
{
	(void)state;
	CHECK("hello, world", "hello, world");
	CHECK("", "%s", "");
}

static void test_d_and_i(void **state)
{
	(void)state;
	CHECK("42 -42 0", "%d %i %d", 42, -42, 0);
}

static void test_int_limits(void **state)
{
	(void)state;
	CHECK("2147483647 -2147483648", "%d %d", INT_MAX, INT_MIN);
}

static void test_u(void **state)
{
	(void)state;
	CHECK("4294967295 0", "%u %u", UINT_MAX, 0u);
}

static void test_x_lower_and_upper(void **state)
{
	(void)state;
	CHECK("deadbeef DEADBEEF 0", "%x %X %x", 0xdeadbeefu, 0xdeadbeefu, 0u);
}

static void test_o(void **state)
{
	(void)state;
	CHECK("10 777 0", "%o %o %o", 8u, 0777u, 0u);
}

static void test_c(void **state)
{
	(void)state;
	CHECK("a-Z", "%c-%c", 'a', 'Z');
}

static void test_s(void **state)
{
	(void)state;
	CHECK("<keel> <>", "<%s> <%s>", "keel", "");
}

static void test_null_s(void **state)
{
	(void)state;
	CHECK_RAW("(null)", "%s", (const char *)NULL);
	CHECK_RAW("(nu", "%.3s", (const char *)NULL);
}

static void test_p(void **state)
{
	(void)state;
	CHECK("0x1234abcd", "%p", (void *)0x1234abcd);
	CHECK("0xffff800000000000", "%p", (void *)0xffff800000000000ull);
	CHECK("0x0", "%p", (void *)0);
}

static void test_percent(void **state)
{
	(void)state;
	CHECK("100%", "100%%");
	CHECK("%d", "%%d");
}

/* ---- flags and width ---- */

static void test_width_right_aligns(void **state)
{
	(void)state;
	CHECK("[   42] [  abc] [    x]", "[%5d] [%5s] [%5c]", 42, "abc", 'x');
}

static void test_minus_left_aligns(void **state)
{
	(void)state;
	CHECK("[42   ] [abc  ] [x    ] [-7   ]", "[%-5d] [%-5s] [%-5c] [%-5d]", 42, "abc", 'x', -7);
}

static void test_zero_pads_numbers(void **state)
{
	(void)state;
	CHECK("00042 0000ff 000017", "%05d %06x %06o", 42, 0xffu, 15u);
}

static void test_zero_pad_after_sign(void **state)
{
	(void)state;
	CHECK("-0042", "%05d", -42);
}

static void test_minus_overrides_zero(void **state)
{
	(void)state;
	CHECK_RAW("[42   ]", "[%-05d]", 42);
	CHECK_RAW("[42   ]", "[%0-5d]", 42);
}

static void test_width_smaller_than_value(void **state)
{
	(void)state;
	CHECK("123456 abcdef", "%3d %2s", 123456, "abcdef");
}

static void test_star_width(void **state)
{
	(void)state;
	CHECK("[   42] [ab    ]", "[%*d] [%-*s]", 5, 42, 6, "ab");
}

static void test_negative_star_width_left_aligns(void **state)
{
	(void)state;
	/* C11 7.21.6.1p5: a negative '*' width is a '-' flag and a positive width. */
	CHECK("[ab  ] [7   ]", "[%*s] [%*d]", -4, "ab", -4, 7);
}

/* ---- precision ---- */

static void test_string_precision(void **state)
{
	(void)state;
	CHECK("abc|abcdef|", "%.3s|%.10s|", "abcdef", "abcdef");
	CHECK("[   ab]", "[%5.2s]", "abcdef");
}

static void test_star_precision(void **state)
{
	(void)state;
	CHECK("ab", "%.*s", 2, "abcdef");
	CHECK("00042", "%.*d", 5, 42);
	/* A negative precision argument counts as no precision. */
	CHECK("abcdef", "%.*s", -1, "abcdef");
}

/* C11 7.21.6.1p8: with a precision, %s reads no further than that many bytes. The three bytes end
 * a page followed by an inaccessible one, so reading a fourth faults. */
static void test_string_precision_reads_no_further(void **state)
{
	(void)state;
	long page = sysconf(_SC_PAGESIZE);
	char *map = mmap(NULL, 2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(map != MAP_FAILED);
	assert_int_equal(mprotect(map + page, page, PROT_NONE), 0);
	char *xyz = map + page - 3;
	memcpy(xyz, "xyz", 3);
	CHECK("xyz", "%.3s", xyz);
	CHECK("xy", "%.2s", xyz);
	munmap(map, 2 * page);
}

static void test_integer_precision_pads_digits(void **state)
{
	(void)state;
	CHECK("00042 -007 0000ff", "%.5d %.3d %.6x", 42, -7, 0xffu);
	CHECK("[   00042] [00042   ]", "[%8.5d] [%-8.5d]", 42, 42);
}

static void test_zero_flag_ignored_with_precision(void **state)
{
	(void)state;
	CHECK_RAW("[     007]", "[%08.3d]", 7);
}

static void test_zero_with_precision_zero_prints_nothing(void **state)
{
	(void)state;
	CHECK("[] [] [     ] [5]", "[%.0d] [%.0x] [%5.0u] [%.0d]", 0, 0u, 0u, 5);
	CHECK("[]", "[%.d]", 0);
}

/* ---- length modifiers ---- */

static void test_hh(void **state)
{
	(void)state;
	CHECK("-56 44 ff", "%hhd %hhu %hhx", 200, 300, 0x1ff);
}

static void test_h(void **state)
{
	(void)state;
	CHECK("-25536 2345 65535", "%hd %hx %hu", 40000, 0x12345, -1);
}

static void test_l_and_ll(void **state)
{
	(void)state;
	CHECK("18446744073709551615 ffffffffffffffff 1777777777777777777777", "%lu %llx %llo", ULONG_MAX,
	      ULLONG_MAX, ULLONG_MAX);
	CHECK("-1 4294967296", "%ld %lld", -1L, 1LL << 32);
}

static void test_int64_min(void **state)
{
	(void)state;
	CHECK("-9223372036854775808", "%lld", (long long)INT64_MIN);
	CHECK("-9223372036854775808", "%ld", LONG_MIN);
	CHECK("9223372036854775807", "%lld", (long long)INT64_MAX);
}

static void test_z(void **state)
{
	(void)state;
	CHECK("123 fffffffffffffff0", "%zu %zx", (size_t)123, (size_t)-16);
}

static void test_int_argument_not_sign_extended_for_unsigned(void **state)
{
	(void)state;
	CHECK("ffffffff 4294967295", "%x %u", -1, -1);
}

/* ---- truncation and buffer sizes ---- */

static void test_truncation_returns_full_length(void **state)
{
	(void)state;
	char small[5];
	assert_int_equal(fmt_snprintf(small, sizeof(small), "abcdefgh"), 8);
	assert_string_equal(small, "abcd");
	assert_int_equal(fmt_snprintf(small, sizeof(small), "%d", 1234567), 7);
	assert_string_equal(small, "1234");
	assert_int_equal(fmt_snprintf(small, sizeof(small), "%8s|", "ab"), 9);
	assert_string_equal(small, "    ");
}

static void test_exact_fit(void **state)
{
	(void)state;
	char small[5];
	assert_int_equal(fmt_snprintf(small, sizeof(small), "abcd"), 4);
	assert_string_equal(small, "abcd");
}

static void test_size_zero_writes_nothing(void **state)
{
	(void)state;
	char sentinel[4] = { 'Q', 'Q', 'Q', 'Q' };
	assert_int_equal(fmt_snprintf(sentinel, 0, "%s-%d", "abc", 12), 6);
	assert_memory_equal(sentinel, "QQQQ", 4);
	assert_int_equal(fmt_snprintf(NULL, 0, "%d", 12345), 5);
}

static void test_size_one_writes_only_nul(void **state)
{
	(void)state;
	char one[2] = { 'Q', 'Q' };
	assert_int_equal(fmt_snprintf(one, 1, "abc%d", 7), 4);
	assert_int_equal(one[0], 0);
	assert_int_equal(one[1], 'Q');
}

static void test_no_write_past_size(void **state)
{
	(void)state;
	char area[16];
	memset(area, 'Q', sizeof(area));
	fmt_snprintf(area, 8, "%-20s%d", "long text", 123456);
	assert_string_equal(area, "long te");
	for (size_t i = 8; i < sizeof(area); i++)
		assert_int_equal(area[i], 'Q');
}

/* ---- bad formats ---- */

static void test_unknown_conversion_copied(void **state)
{
	(void)state;
	CHECK_RAW("a%qb", "a%qb");
	CHECK_RAW("[%-5y]", "[%-5y]");
}

static void test_unknown_conversion_consumes_no_argument(void **state)
{
	(void)state;
	CHECK_RAW("%q 7", "%q %d", 7);
}

static void test_trailing_lone_percent(void **state)
{
	(void)state;
	CHECK_RAW("abc%", "abc%");
	CHECK_RAW("%", "%");
}

static void test_truncated_conversion_at_end(void **state)
{
	(void)state;
	CHECK_RAW("x%-08l", "x%-08l");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain_text_and_empty_format),
		cmocka_unit_test(test_d_and_i),
		cmocka_unit_test(test_int_limits),
		cmocka_unit_test(test_u),
		cmocka_unit_test(test_x_lower_and_upper),
		cmocka_unit_test(test_o),
		cmocka_unit_test(test_c),
		cmocka_unit_test(test_s),
		cmocka_unit_test(test_null_s),
		cmocka_unit_test(test_p),
		cmocka_unit_test(test_percent),
		cmocka_unit_test(test_width_right_aligns),
		cmocka_unit_test(test_minus_left_aligns),
		cmocka_unit_test(test_zero_pads_numbers),
		cmocka_unit_test(test_zero_pad_after_sign),
		cmocka_unit_test(test_minus_overrides_zero),
		cmocka_unit_test(test_width_smaller_than_value),
		cmocka_unit_test(test_star_width),
		cmocka_unit_test(test_negative_star_width_left_aligns),
		cmocka_unit_test(test_string_precision),
		cmocka_unit_test(test_star_precision),
		cmocka_unit_test(test_string_precision_reads_no_further),
		cmocka_unit_test(test_integer_precision_pads_digits),
		cmocka_unit_test(test_zero_flag_ignored_with_precision),
		cmocka_unit_test(test_zero_with_precision_zero_prints_nothing),
		cmocka_unit_test(test_hh),
		cmocka_unit_test(test_h),
		cmocka_unit_test(test_l_and_ll),
		cmocka_unit_test(test_int64_min),
		cmocka_unit_test(test_z),
		cmocka_unit_test(test_int_argument_not_sign_extended_for_unsigned),
		cmocka_unit_test(test_truncation_returns_full_length),
		cmocka_unit_test(test_exact_fit),
		cmocka_unit_test(test_size_zero_writes_nothing),
		cmocka_unit_test(test_size_one_writes_only_nul),
		cmocka_unit_test(test_no_write_past_size),
		cmocka_unit_test(test_unknown_conversion_copied),
		cmocka_unit_test(test_unknown_conversion_consumes_no_argument),
		cmocka_unit_test(test_trailing_lone_percent),
		cmocka_unit_test(test_truncated_conversion_at_end),
	};
	return cmocka_run_group_tests_name("fmt", tests, NULL, NULL);
}
