/* Host unit tests for lib/log.c: line formatting, levels, outputs, CPU numbers.
 * Host program (cmocka); links lib/log.c, lib/fmt.c, lib/string.c. */
#include "unit.h"

#include "../../lib/log.h"

/* ---- recording outputs: five distinct functions so the slot table can be filled ---- */

struct capture {
	int calls;
	size_t last_n;
	char text[4096]; /* every line received, concatenated */
};

static struct capture cap[5];

static void record(struct capture *c, const char *s, size_t n)
{
	size_t used = strlen(c->text);
	c->calls++;
	c->last_n = n;
	if (used + n < sizeof(c->text)) {
		memcpy(c->text + used, s, n);
		c->text[used + n] = 0;
	}
}

static void out0(const char *s, size_t n) { record(&cap[0], s, n); }
static void out1(const char *s, size_t n) { record(&cap[1], s, n); }
static void out2(const char *s, size_t n) { record(&cap[2], s, n); }
static void out3(const char *s, size_t n) { record(&cap[3], s, n); }
static void out4(const char *s, size_t n) { record(&cap[4], s, n); }

static const log_output_fn outs[5] = { out0, out1, out2, out3, out4 };

/* log.c keeps its outputs, level and CPU function in statics: reset them before every test. */
static int reset_log(void **state)
{
	(void)state;
	for (int i = 0; i < 5; i++)
		log_remove_output(outs[i]);
	log_set_level(LOG_INFO);
	log_set_cpu_fn(NULL);
	memset(cap, 0, sizeof(cap));
	return 0;
}

static size_t format_line(char *buf, size_t size, unsigned cpu, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static size_t format_line(char *buf, size_t size, unsigned cpu, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	size_t n = log_format_line(buf, size, cpu, fmt, ap);
	va_end(ap);
	return n;
}

/* ---- log_format_line ---- */

static void test_format_prefix_and_newline(void **state)
{
	(void)state;
	char buf[64];
	assert_int_equal(format_line(buf, sizeof(buf), 3, "hello %d", 7), 15);
	assert_string_equal(buf, "[cpu3] hello 7\n");
}

static void test_format_newline_not_doubled(void **state)
{
	(void)state;
	char buf[64];
	assert_int_equal(format_line(buf, sizeof(buf), 12, "done\n"), 13);
	assert_string_equal(buf, "[cpu12] done\n");
}

static void test_format_empty_message(void **state)
{
	(void)state;
	char buf[64];
	assert_int_equal(format_line(buf, sizeof(buf), 0, "%s", ""), 8);
	assert_string_equal(buf, "[cpu0] \n");
}

static void test_format_long_message_cut_with_ellipsis(void **state)
{
	(void)state;
	char area[32];
	memset(area, 'Q', sizeof(area));
	size_t n = format_line(area, 16, 0, "%s", "a message much longer than sixteen bytes");
	assert_int_equal(n, 15);
	assert_string_equal(area, "[cpu0] a me...\n");
	assert_int_equal(area[16], 'Q');
}

static void test_format_cut_message_ending_in_newline(void **state)
{
	(void)state;
	char buf[16];
	size_t n = format_line(buf, sizeof(buf), 0, "%s\n", "0123456789abcdef");
	assert_int_equal(n, 15);
	assert_string_equal(buf, "[cpu0] 0123...\n");
}

static void test_format_message_that_just_fits(void **state)
{
	(void)state;
	char area[32];
	memset(area, 'Q', sizeof(area));
	/* 7 prefix + 7 text + '\n' + NUL = 16 bytes. */
	assert_int_equal(format_line(area, 16, 0, "%s", "abcdefg"), 15);
	assert_string_equal(area, "[cpu0] abcdefg\n");
	assert_int_equal(area[16], 'Q');
}

static void test_format_message_with_newline_that_just_fits(void **state)
{
	(void)state;
	char area[32];
	memset(area, 'Q', sizeof(area));
	assert_int_equal(format_line(area, 16, 0, "%s\n", "abcdefg"), 15);
	assert_string_equal(area, "[cpu0] abcdefg\n");
	assert_int_equal(area[16], 'Q');
}

static void test_format_one_char_too_long_stays_in_buffer(void **state)
{
	(void)state;
	char area[32];
	memset(area, 'Q', sizeof(area));
	/* The text fills the buffer exactly, leaving no room for the newline log adds. */
	size_t n = format_line(area, 16, 0, "%s", "abcdefgh");
	assert_int_equal(area[16], 'Q');
	assert_int_equal(area[15], 0);
	assert_int_equal(n, strlen(area));
	assert_true(n <= 15);
	assert_int_equal(area[n - 1], '\n');
	assert_memory_equal(area, "[cpu0] ", 7);
}

static void test_format_tiny_buffers_fit(void **state)
{
	(void)state;
	for (size_t size = 2; size < 12; size++) {
		char area[32];
		memset(area, 'Q', sizeof(area));
		size_t n = format_line(area, size, 7, "%s", "x");
		assert_int_equal(area[size], 'Q');
		assert_true(n < size);
		assert_int_equal(n, strlen(area));
		assert_int_equal(area[n - 1], '\n');
	}
}

/* ---- log_msg ---- */

static void test_msg_fans_out_to_every_output(void **state)
{
	(void)state;
	assert_int_equal(log_add_output(out0), 0);
	assert_int_equal(log_add_output(out1), 1);
	log_info("boot %s", "ok");
	assert_string_equal(cap[0].text, "[cpu0] boot ok\n");
	assert_string_equal(cap[1].text, "[cpu0] boot ok\n");
	assert_int_equal(cap[0].last_n, 15);
	assert_int_equal(cap[1].calls, 1);
}

static void test_msg_without_outputs_is_harmless(void **state)
{
	(void)state;
	log_err("nobody listens");
	assert_int_equal(cap[0].calls, 0);
}

static void test_msg_long_line_cut_to_log_line_max(void **state)
{
	(void)state;
	char big[600];
	memset(big, 'z', sizeof(big) - 1);
	big[sizeof(big) - 1] = 0;
	log_add_output(out0);
	log_warn("%s", big);
	assert_int_equal(cap[0].last_n, LOG_LINE_MAX - 1);
	assert_int_equal(strlen(cap[0].text), LOG_LINE_MAX - 1);
	assert_string_equal(cap[0].text + LOG_LINE_MAX - 5, "...\n");
}

static void test_levels_default_is_info(void **state)
{
	(void)state;
	log_add_output(out0);
	log_err("e");
	log_warn("w");
	log_info("i");
	log_debug("d");
	assert_string_equal(cap[0].text, "[cpu0] e\n[cpu0] w\n[cpu0] i\n");
}

static void test_levels_debug_enabled(void **state)
{
	(void)state;
	log_add_output(out0);
	log_set_level(LOG_DEBUG);
	log_debug("d");
	assert_string_equal(cap[0].text, "[cpu0] d\n");
}

static void test_levels_err_only(void **state)
{
	(void)state;
	log_add_output(out0);
	log_set_level(LOG_ERR);
	log_warn("w");
	log_info("i");
	log_err("e");
	assert_string_equal(cap[0].text, "[cpu0] e\n");
	assert_int_equal(cap[0].calls, 1);
}

static unsigned cpu_five(void) { return 5; }

static void test_cpu_fn_sets_prefix(void **state)
{
	(void)state;
	log_add_output(out0);
	log_set_cpu_fn(cpu_five);
	log_info("ap up");
	log_set_cpu_fn(NULL);
	log_info("bsp");
	assert_string_equal(cap[0].text, "[cpu5] ap up\n[cpu0] bsp\n");
}

/* ---- output table ---- */

static void test_add_output_twice_is_one_slot(void **state)
{
	(void)state;
	assert_int_equal(log_add_output(out0), 0);
	assert_int_equal(log_add_output(out0), 0);
	log_info("once");
	assert_int_equal(cap[0].calls, 1);
}

static void test_add_output_full_table(void **state)
{
	(void)state;
	for (int i = 0; i < LOG_MAX_SINKS; i++)
		assert_int_equal(log_add_output(outs[i]), i);
	assert_int_equal(log_add_output(outs[LOG_MAX_SINKS]), -1);
	/* A registered output is still found when the table is full. */
	assert_int_equal(log_add_output(outs[2]), 2);
	log_info("x");
	assert_int_equal(cap[LOG_MAX_SINKS].calls, 0);
	assert_int_equal(cap[LOG_MAX_SINKS - 1].calls, 1);
}

static void test_remove_output_stops_delivery_and_frees_slot(void **state)
{
	(void)state;
	log_add_output(out0);
	log_add_output(out1);
	log_remove_output(out0);
	log_info("after");
	assert_int_equal(cap[0].calls, 0);
	assert_int_equal(cap[1].calls, 1);
	assert_int_equal(log_add_output(out2), 0);
}

static void test_remove_unknown_output_is_harmless(void **state)
{
	(void)state;
	log_add_output(out0);
	log_remove_output(out3);
	log_info("still");
	assert_int_equal(cap[0].calls, 1);
}

static void test_add_output_dedupes_after_a_hole(void **state)
{
	(void)state;
	log_add_output(out0);
	assert_int_equal(log_add_output(out1), 1);
	log_remove_output(out0);
	/* out1 sits in slot 1 behind a free slot 0: adding it again must not register it twice. */
	assert_int_equal(log_add_output(out1), 1);
	log_info("one line");
	assert_int_equal(cap[1].calls, 1);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup(f, reset_log)
	const struct CMUnitTest tests[] = {
		T(test_format_prefix_and_newline),
		T(test_format_newline_not_doubled),
		T(test_format_empty_message),
		T(test_format_long_message_cut_with_ellipsis),
		T(test_format_cut_message_ending_in_newline),
		T(test_format_message_that_just_fits),
		T(test_format_message_with_newline_that_just_fits),
		T(test_format_one_char_too_long_stays_in_buffer),
		T(test_format_tiny_buffers_fit),
		T(test_msg_fans_out_to_every_output),
		T(test_msg_without_outputs_is_harmless),
		T(test_msg_long_line_cut_to_log_line_max),
		T(test_levels_default_is_info),
		T(test_levels_debug_enabled),
		T(test_levels_err_only),
		T(test_cpu_fn_sets_prefix),
		T(test_add_output_twice_is_one_slot),
		T(test_add_output_full_table),
		T(test_remove_output_stops_delivery_and_frees_slot),
		T(test_remove_unknown_output_is_harmless),
		T(test_add_output_dedupes_after_a_hole),
	};
#undef T
	return cmocka_run_group_tests_name("log", tests, NULL, NULL);
}
