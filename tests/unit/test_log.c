/* Host unit tests for lib/log.c: line formatting, levels, outputs, buffering, re-entry, CPUs.
 * Host program (cmocka, POSIX threads); links lib/log.c, lib/fmt.c, lib/string.c. */
#include "unit.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <unistd.h>

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

static void remove_test_outputs(void);

/* A logger that deadlocks spins forever: the watchdog turns that into a failed run, not a hang. */
static void watchdog_fire(int sig)
{
	static const char msg[] = "test_log: watchdog: the running test hung for 5 s (the logger deadlocked)\n";
	(void)sig;
	if (write(1, msg, sizeof(msg) - 1) < 0)
		_exit(3);
	_exit(1);
}

/* log.c keeps its outputs, level and CPU function in statics: reset them before every test. */
static int reset_log(void **state)
{
	(void)state;
	signal(SIGALRM, watchdog_fire);
	alarm(5);
	for (int i = 0; i < 5; i++)
		log_remove_output(outs[i]);
	remove_test_outputs();
	log_set_level(LOG_INFO);
	log_set_cpu_fn(NULL);
	log_set_buffering(1);
	memset(cap, 0, sizeof(cap));
	return 0;
}

static int stop_watchdog(void **state)
{
	(void)state;
	alarm(0);
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

/* ---- buffered outputs ---- */

static size_t try_budget; /* bytes the fake device takes without waiting, per call */
static int try_calls;

static size_t try0(const char *s, size_t n)
{
	try_calls++;
	if (n > try_budget)
		n = try_budget;
	if (n)
		record(&cap[0], s, n);
	return n;
}

static void test_buffered_fed_without_waiting(void **state)
{
	(void)state;
	try_budget = 1000;
	try_calls = 0;
	log_add_buffered_output(try0, out0);
	log_info("fast");
	assert_string_equal(cap[0].text, "[cpu0] fast\n");
	assert_int_equal(try_calls, 1);
}

static void test_buffered_info_waits_for_flush(void **state)
{
	(void)state;
	try_budget = 0;
	log_add_buffered_output(try0, out0);
	log_info("one");
	log_info("two");
	assert_string_equal(cap[0].text, "");
	log_flush();
	assert_string_equal(cap[0].text, "[cpu0] one\n[cpu0] two\n");
	log_flush();
	assert_string_equal(cap[0].text, "[cpu0] one\n[cpu0] two\n");
}

static void test_buffered_partial_take_resumes_in_order(void **state)
{
	(void)state;
	try_budget = 5;
	log_add_buffered_output(try0, out0);
	log_info("abcdefghij");
	/* The fake takes 5 bytes per call and never stalls: the whole line goes in pieces. */
	assert_string_equal(cap[0].text, "[cpu0] abcdefghij\n");
	assert_true(cap[0].calls > 1);
}

static void test_buffered_warn_is_synchronous(void **state)
{
	(void)state;
	try_budget = 0;
	log_add_buffered_output(try0, out0);
	log_info("queued");
	log_warn("now");
	assert_string_equal(cap[0].text, "[cpu0] queued\n[cpu0] now\n");
}

static void test_buffered_without_try_only_at_flush_points(void **state)
{
	(void)state;
	log_add_buffered_output(0, out0);
	log_info("later");
	assert_int_equal(cap[0].calls, 0);
	log_err("err");
	assert_string_equal(cap[0].text, "[cpu0] later\n[cpu0] err\n");
}

static void test_buffering_off_drains_every_line(void **state)
{
	(void)state;
	try_budget = 0;
	log_add_buffered_output(try0, out0);
	log_set_buffering(0);
	log_info("at once");
	assert_string_equal(cap[0].text, "[cpu0] at once\n");
}

static void test_remove_buffered_output_drains_it_first(void **state)
{
	(void)state;
	try_budget = 0;
	log_add_buffered_output(try0, out0);
	log_info("owed");
	log_remove_output(out0);
	assert_string_equal(cap[0].text, "[cpu0] owed\n");
	log_info("gone");
	assert_string_equal(cap[0].text, "[cpu0] owed\n");
}

/* A big capture for the ring-size tests: lines counted and checked in order. */
static char big_text[1 << 17];
static size_t big_len;
static int big_active, big_overlap;

static void big_out(const char *s, size_t n)
{
	if (__atomic_add_fetch(&big_active, 1, __ATOMIC_SEQ_CST) != 1)
		big_overlap = 1;
	if (big_len + n < sizeof(big_text)) {
		memcpy(big_text + big_len, s, n);
		big_len += n;
		big_text[big_len] = 0;
	}
	__atomic_sub_fetch(&big_active, 1, __ATOMIC_SEQ_CST);
}

static size_t big_try_none(const char *s, size_t n)
{
	(void)s;
	(void)n;
	return 0;
}

static void big_reset(void)
{
	big_len = 0;
	big_text[0] = 0;
	big_active = big_overlap = 0;
}

static void test_buffered_ring_overflow_drains_in_order(void **state)
{
	(void)state;
	big_reset();
	log_add_buffered_output(big_try_none, big_out);
	/* 400 lines of about 100 bytes: more than the 16 KiB ring, so keel drains on the way. */
	for (int i = 0; i < 400; i++)
		log_info("line %04d %090d", i, 0);
	log_flush();
	char *p = big_text;
	for (int i = 0; i < 400; i++) {
		char want[32];
		snprintf(want, sizeof(want), "[cpu0] line %04d ", i);
		assert_memory_equal(p, want, strlen(want));
		p = strchr(p, '\n');
		assert_non_null(p);
		p++;
	}
	assert_int_equal(*p, 0);
}

/* ---- re-entry: an output that logs, a drainer interrupted by another log call ---- */

static int reent_depth, reent_max_depth, reent_calls;

/* An unbuffered output whose first write logs (as an exit handler would when the write exits). */
static void reent_out(const char *s, size_t n)
{
	reent_calls++;
	if (++reent_depth > reent_max_depth)
		reent_max_depth = reent_depth;
	record(&cap[2], s, n);
	/* Guard: a logger that recursed into this output would otherwise recurse without end. */
	if (reent_depth > 3)
		fail_msg("reent_out re-entered %d deep", reent_depth);
	if (reent_calls == 1)
		log_info("inner");
	reent_depth--;
}

static void reent_reset(void)
{
	reent_depth = reent_max_depth = reent_calls = 0;
}

static void test_reentrant_output_delivers_each_line_once(void **state)
{
	(void)state;
	reent_reset();
	log_add_output(reent_out);
	log_add_output(out1);
	log_info("outer");
	assert_string_equal(cap[2].text, "[cpu0] outer\n[cpu0] inner\n");
	assert_string_equal(cap[1].text, "[cpu0] outer\n[cpu0] inner\n");
	assert_int_equal(reent_max_depth, 1);
	log_info("after");
	assert_string_equal(cap[2].text, "[cpu0] outer\n[cpu0] inner\n[cpu0] after\n");
	assert_string_equal(cap[1].text, "[cpu0] outer\n[cpu0] inner\n[cpu0] after\n");
}

/* A buffered console-like output whose write exits, and the exit handler logs an error and flushes. */
static void flush_reent_out(const char *s, size_t n)
{
	reent_calls++;
	if (++reent_depth > reent_max_depth)
		reent_max_depth = reent_depth;
	record(&cap[3], s, n);
	if (reent_depth > 3)
		fail_msg("flush_reent_out re-entered %d deep", reent_depth);
	if (reent_calls == 1) {
		log_err("exit handler: err");
		log_flush();
		log_info("exit handler: info");
	}
	reent_depth--;
}

static void test_reentrant_flush_from_buffered_output(void **state)
{
	(void)state;
	reent_reset();
	log_add_buffered_output(0, flush_reent_out);
	log_add_output(out1);
	log_info("a");
	log_info("b");
	assert_int_equal(cap[3].calls, 0);
	log_flush();
	const char *all = "[cpu0] a\n[cpu0] b\n[cpu0] exit handler: err\n[cpu0] exit handler: info\n";
	assert_string_equal(cap[3].text, all);
	assert_string_equal(cap[1].text, all);
	assert_int_equal(reent_max_depth, 1);
}

/* A slow device: takes 4 bytes per call; the second call is "interrupted" by root-mode logging. */
static int slow_calls;

static size_t slow_try(const char *s, size_t n)
{
	slow_calls++;
	if (n > 4)
		n = 4;
	record(&cap[0], s, n);
	if (slow_calls == 2) {
		log_warn("[root] statistics");
		log_info("[root] beyond the EPT map");
	}
	return n;
}

static unsigned cpu_two(void) { return 2; }

static void test_drainer_interrupted_by_log_call(void **state)
{
	(void)state;
	slow_calls = 0;
	log_set_cpu_fn(cpu_two);
	log_add_buffered_output(slow_try, out0);
	log_info("guest side line");
	log_flush();
	assert_string_equal(cap[0].text, "[cpu2] guest side line\n[cpu2] [root] statistics\n"
					 "[cpu2] [root] beyond the EPT map\n");
}

/* An output that, from inside its write, logs more than the ring holds: it cannot wait for itself. */
static int flood_calls;

static void flood_out(const char *s, size_t n)
{
	big_out(s, n);
	if (++flood_calls == 1)
		for (int i = 0; i < 300; i++)
			log_info("flood %04d %090d", i, 0);
}

static void test_reentrant_flood_loses_lines_counted(void **state)
{
	(void)state;
	big_reset();
	flood_calls = 0;
	log_add_output(flood_out);
	log_info("start");
	log_info("end");
	/* Every line that got in came out once, in order; the rest are counted in a note. */
	int last = -1, seen = 0;
	unsigned lost = 0;
	for (char *p = big_text; *p; p = strchr(p, '\n') + 1) {
		int i;
		if (sscanf(p, "[cpu0] flood %d", &i) == 1) {
			assert_true(i > last);
			last = i;
			seen++;
		} else if (sscanf(p, "[cpu0] log: %u lines lost", &lost) == 1) {
			assert_true(lost > 0);
		}
	}
	assert_true(seen > 100); /* the ring held most */
	assert_int_equal((unsigned)seen + lost, 300);
	assert_memory_equal(big_text, "[cpu0] start\n", 13);
	assert_contains(big_text, "lines lost");
	assert_string_equal(big_text + big_len - 11, "[cpu0] end\n");
}

/* ---- several CPUs (threads): one drainer at a time, every line once, never cut ---- */

static __thread unsigned thread_cpu;

static unsigned cpu_of_thread(void) { return thread_cpu; }

static size_t big_try_some(const char *s, size_t n)
{
	static unsigned turn;
	if (__atomic_add_fetch(&turn, 1, __ATOMIC_RELAXED) % 3)
		return 0;
	big_out(s, n);
	return n;
}

#define CPU_THREADS 3
#define CPU_LINES 400

static void *cpu_thread(void *arg)
{
	thread_cpu = (unsigned)(uintptr_t)arg;
	for (int i = 0; i < CPU_LINES; i++)
		if (i % 50 == 0)
			log_warn("line %d", i);
		else
			log_info("line %d", i);
	return 0;
}

static void test_cpus_log_concurrently(void **state)
{
	(void)state;
	pthread_t t[CPU_THREADS];
	big_reset();
	log_set_cpu_fn(cpu_of_thread);
	log_add_buffered_output(big_try_some, big_out);
	for (uintptr_t i = 0; i < CPU_THREADS; i++)
		assert_int_equal(pthread_create(&t[i], 0, cpu_thread, (void *)(i + 1)), 0);
	for (int i = 0; i < CPU_THREADS; i++)
		pthread_join(t[i], 0);
	log_flush();
	assert_false(big_overlap);
	int next[CPU_THREADS + 1] = { 0 };
	for (char *p = big_text; *p; p = strchr(p, '\n') + 1) {
		unsigned cpu;
		int i;
		assert_int_equal(sscanf(p, "[cpu%u] line %d\n", &cpu, &i), 2);
		assert_true(cpu >= 1 && cpu <= CPU_THREADS);
		assert_int_equal(i, next[cpu]);
		next[cpu]++;
	}
	for (int c = 1; c <= CPU_THREADS; c++)
		assert_int_equal(next[c], CPU_LINES);
}

/* The outputs of the buffering and re-entry tests, removed by reset_log. */
static void remove_test_outputs(void)
{
	log_remove_output(reent_out);
	log_remove_output(flush_reent_out);
	log_remove_output(flood_out);
	log_remove_output(big_out);
}

int main(void)
{
	/* Line-buffered, so a watchdog exit still shows which test was running. */
	setvbuf(stdout, 0, _IOLBF, 0);
#define T(f) cmocka_unit_test_setup_teardown(f, reset_log, stop_watchdog)
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
		T(test_buffered_fed_without_waiting),
		T(test_buffered_info_waits_for_flush),
		T(test_buffered_partial_take_resumes_in_order),
		T(test_buffered_warn_is_synchronous),
		T(test_buffered_without_try_only_at_flush_points),
		T(test_buffering_off_drains_every_line),
		T(test_remove_buffered_output_drains_it_first),
		T(test_buffered_ring_overflow_drains_in_order),
		T(test_reentrant_output_delivers_each_line_once),
		T(test_reentrant_flush_from_buffered_output),
		T(test_drainer_interrupted_by_log_call),
		T(test_reentrant_flood_loses_lines_counted),
		T(test_cpus_log_concurrently),
	};
#undef T
	return cmocka_run_group_tests_name("log", tests, NULL, NULL);
}
