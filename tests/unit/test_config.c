/* Host unit tests for boot/config.c: keel.cfg lines, load options, diagnostics.
 * Host program (cmocka); links boot/config.c, lib/fmt.c, lib/string.c. */
#include <stdio.h>

#include "unit.h"

#include "../../boot/config.h"

#define MAX_REPORTS 8
#define REPORT_LEN (CONFIG_LINE_MAX + 200)

struct reports {
	int n;
	char msg[MAX_REPORTS][REPORT_LEN];
};

static void collect(void *ctx, const char *msg)
{
	struct reports *r = ctx;
	if (r->n < MAX_REPORTS) {
		strncpy(r->msg[r->n], msg, REPORT_LEN - 1);
		r->msg[r->n][REPORT_LEN - 1] = 0;
	}
	r->n++;
}

/* Parses `text` as keel.cfg over defaults; reports land in *r. */
static int parse_file(struct keel_config *c, struct reports *r, const char *text)
{
	return config_parse_file(c, text, strlen(text), "keel.cfg", collect, r);
}

static int parse_options(struct keel_config *c, struct reports *r, const char *text)
{
	return config_parse_options(c, text, strlen(text), collect, r);
}

/* A string of n copies of ch, after `prefix`, in a static buffer. */
static const char *repeat(const char *prefix, char ch, size_t n)
{
	static char buf[4096];
	size_t p = strlen(prefix);
	assert_true(p + n < sizeof(buf));
	memcpy(buf, prefix, p);
	memset(buf + p, ch, n);
	buf[p + n] = 0;
	return buf;
}

#define SETUP()                                                                                   \
	struct keel_config c;                                                                     \
	struct reports r;                                                                         \
	memset(&r, 0, sizeof(r));                                                                 \
	config_defaults(&c)

/* check= defaults to on in debug builds (build/tests/test_config_debug, as make DEBUG=1). */
#ifdef KEEL_DEBUG
#define CHECK_DEFAULT 1
#define CHECK_DEFAULT_WORD "on"
#else
#define CHECK_DEFAULT 0
#define CHECK_DEFAULT_WORD "off"
#endif

/* ---- defaults and accepted values ---- */

static void test_defaults(void **state)
{
	(void)state;
	struct keel_config c;
	memset(&c, 0x5A, sizeof(c));
	config_defaults(&c);
	assert_string_equal(c.next, "");
	assert_string_equal(c.next_args, "");
	assert_int_equal(c.log_mask, CONFIG_LOG_ALL);
	assert_int_equal(c.on_error, ON_ERROR_CONTINUE);
	assert_int_equal(c.check, CHECK_DEFAULT);
	assert_int_equal(c.virtualize, 1);
	assert_int_equal(c.trap_mask, TRAP_MINIMAL);
}

static void test_file_sets_every_key(void **state)
{
	(void)state;
	SETUP();
	assert_int_equal(parse_file(&c, &r,
				    "next=\\EFI\\keel\\selftest.efi\n"
				    "next_args=console=ttyS0 quiet\n"
				    "log=serial,e9\n"
				    "on_error=halt\n"
				    "check=off\n"
				    "virtualize=off\n"),
			 0);
	assert_int_equal(r.n, 0);
	assert_string_equal(c.next, "\\EFI\\keel\\selftest.efi");
	assert_string_equal(c.next_args, "console=ttyS0 quiet");
	assert_int_equal(c.log_mask, CONFIG_LOG_SERIAL | CONFIG_LOG_E9);
	assert_int_equal(c.on_error, ON_ERROR_HALT);
	assert_int_equal(c.check, 0);
	assert_int_equal(c.virtualize, 0);
}

static void test_choice_keys_accept_both_words(void **state)
{
	(void)state;
	SETUP();
	assert_int_equal(parse_file(&c, &r, "check=off\nvirtualize=off\non_error=halt\n"), 0);
	assert_int_equal(parse_file(&c, &r, "check=on\nvirtualize=on\non_error=continue\n"), 0);
	assert_int_equal(c.check, 1);
	assert_int_equal(c.virtualize, 1);
	assert_int_equal(c.on_error, ON_ERROR_CONTINUE);
}

static void test_log_single_word_and_all_three(void **state)
{
	(void)state;
	SETUP();
	assert_int_equal(parse_file(&c, &r, "log=console\n"), 0);
	assert_int_equal(c.log_mask, CONFIG_LOG_CONSOLE);
	assert_int_equal(parse_file(&c, &r, "log=console,e9,serial\n"), 0);
	assert_int_equal(c.log_mask, CONFIG_LOG_ALL);
}

/* ---- keel.cfg syntax ---- */

static void test_comments_and_blank_lines_ignored(void **state)
{
	(void)state;
	SETUP();
	assert_int_equal(parse_file(&c, &r, "# a comment\n\n   \n\t# indented comment\ncheck=off\n\n"), 0);
	assert_int_equal(r.n, 0);
	assert_int_equal(c.check, 0);
}

static void test_long_comment_line_is_not_overlong(void **state)
{
	(void)state;
	SETUP();
	assert_int_equal(parse_file(&c, &r, repeat("#", 'x', 2000)), 0);
	assert_int_equal(r.n, 0);
}

static void test_surrounding_blanks_trimmed(void **state)
{
	(void)state;
	SETUP();
	assert_int_equal(parse_file(&c, &r, "  \tnext \t=  \\a.efi \t \n  check = off  \n"), 0);
	assert_string_equal(c.next, "\\a.efi");
	assert_int_equal(c.check, 0);
}

static void test_crlf_line_ends(void **state)
{
	(void)state;
	SETUP();
	assert_int_equal(parse_file(&c, &r, "# cfg\r\n\r\nnext=\\a.efi\r\nnext_args=x y\r\ncheck=off\r\n"), 0);
	assert_int_equal(r.n, 0);
	assert_string_equal(c.next, "\\a.efi");
	assert_string_equal(c.next_args, "x y");
	assert_int_equal(c.check, 0);
}

static void test_last_line_without_newline(void **state)
{
	(void)state;
	SETUP();
	assert_int_equal(parse_file(&c, &r, "check=on\nvirtualize=off"), 0);
	assert_int_equal(c.virtualize, 0);
}

static void test_slash_converted_to_backslash_in_next(void **state)
{
	(void)state;
	SETUP();
	assert_int_equal(parse_file(&c, &r, "next=/EFI/keel/selftest.efi\n"), 0);
	assert_string_equal(c.next, "\\EFI\\keel\\selftest.efi");
}

static void test_next_args_keeps_slashes_and_equals(void **state)
{
	(void)state;
	SETUP();
	assert_int_equal(parse_file(&c, &r, "next_args=root=/dev/sda1 a=b\n"), 0);
	assert_string_equal(c.next_args, "root=/dev/sda1 a=b");
}

static void test_value_runs_to_end_of_line(void **state)
{
	(void)state;
	SETUP();
	/* No trailing comments: "# x" is part of the value, and "on # x" is no accepted word. */
	assert_int_equal(parse_file(&c, &r, "check=off # x\n"), 1);
	assert_contains(r.msg[0], "bad value 'off # x' for 'check'");
	assert_int_equal(c.check, CHECK_DEFAULT);
}

/* ---- keel.cfg bad input ---- */

static void test_unknown_key_message(void **state)
{
	(void)state;
	SETUP();
	assert_int_equal(parse_file(&c, &r, "verbose=1\n"), 1);
	assert_string_equal(r.msg[0], "keel: config keel.cfg:1: unknown key 'verbose' (accepted keys: next, "
				      "next_args, log, on_error, check, virtualize, break, stats_interval, debug_corrupt, trap, mmu)");
}

static void test_origin_and_line_number_in_message(void **state)
{
	(void)state;
	SETUP();
	assert_int_equal(parse_file(&c, &r, "# comment\n\nfoo=bar\n"), 1);
	assert_contains(r.msg[0], "keel: config keel.cfg:3: ");
	assert_contains(r.msg[0], "'foo'");
}

static void test_origin_name_is_the_callers(void **state)
{
	(void)state;
	SETUP();
	const char *text = "check=on\ncheck=perhaps\n";
	assert_int_equal(config_parse_file(&c, text, strlen(text), "\\EFI\\keel\\keel.cfg", collect, &r), 1);
	assert_contains(r.msg[0], "keel: config \\EFI\\keel\\keel.cfg:2: ");
}

static void test_line_numbers_count_crlf_lines(void **state)
{
	(void)state;
	SETUP();
	assert_int_equal(parse_file(&c, &r, "check=on\r\n\r\ncheck=no\r\n"), 1);
	assert_contains(r.msg[0], "keel.cfg:3:");
	assert_not_contains(r.msg[0], "\r");
}

static void test_bad_on_error(void **state)
{
	(void)state;
	SETUP();
	assert_int_equal(parse_file(&c, &r, "on_error=stop\n"), 1);
	assert_string_equal(r.msg[0], "keel: config keel.cfg:1: bad value 'stop' for 'on_error' "
				      "(accepted: continue, halt); keeping 'continue'");
	assert_int_equal(c.on_error, ON_ERROR_CONTINUE);
}

static void test_bad_on_error_keeps_halt(void **state)
{
	(void)state;
	SETUP();
	assert_int_equal(parse_file(&c, &r, "on_error=halt\non_error=Halt\n"), 1);
	assert_contains(r.msg[0], "keel.cfg:2: bad value 'Halt' for 'on_error'");
	assert_contains(r.msg[0], "keeping 'halt'");
	assert_int_equal(c.on_error, ON_ERROR_HALT);
}

static void test_bad_check(void **state)
{
	(void)state;
	SETUP();
	assert_int_equal(parse_file(&c, &r, "check=yes\n"), 1);
	assert_contains(r.msg[0], "bad value 'yes' for 'check' (accepted: off, on); keeping '" CHECK_DEFAULT_WORD "'");
	assert_int_equal(c.check, CHECK_DEFAULT);
}

static void test_bad_virtualize_keeps_previous_off(void **state)
{
	(void)state;
	SETUP();
	assert_int_equal(parse_file(&c, &r, "virtualize=off\nvirtualize=1\n"), 1);
	assert_contains(r.msg[0], "keel.cfg:2: bad value '1' for 'virtualize' (accepted: off, on); "
				  "keeping 'off'");
	assert_int_equal(c.virtualize, 0);
}

static void test_log_with_bad_word_rejects_whole_value(void **state)
{
	(void)state;
	SETUP();
	assert_int_equal(parse_file(&c, &r, "log=e9\nlog=serial,vga,e9\n"), 1);
	assert_string_equal(r.msg[0], "keel: config keel.cfg:2: bad value 'vga' in 'log' (accepted: a "
				      "comma-separated list of serial, e9, console); keeping the previous "
				      "setting");
	assert_int_equal(c.log_mask, CONFIG_LOG_E9);
}

static void test_log_with_empty_word_rejected(void **state)
{
	(void)state;
	SETUP();
	assert_int_equal(parse_file(&c, &r, "log=serial,\n"), 1);
	assert_contains(r.msg[0], "bad value '' in 'log'");
	assert_int_equal(c.log_mask, CONFIG_LOG_ALL);
}

static void test_empty_value_rejected(void **state)
{
	(void)state;
	SETUP();
	assert_int_equal(parse_file(&c, &r, "next=\\a.efi\nnext=\nlog=\non_error= \ncheck=\nvirtualize=\n"), 5);
	assert_int_equal(r.n, 5);
	assert_string_equal(r.msg[0], "keel: config keel.cfg:2: empty value for 'next'; keeping the previous "
				      "value");
	assert_contains(r.msg[1], "keel.cfg:3: empty value for 'log'");
	assert_contains(r.msg[2], "keel.cfg:4: empty value for 'on_error'");
	assert_contains(r.msg[3], "keel.cfg:5: empty value for 'check'");
	assert_contains(r.msg[4], "keel.cfg:6: empty value for 'virtualize'");
	assert_string_equal(c.next, "\\a.efi");
	assert_int_equal(c.log_mask, CONFIG_LOG_ALL);
	assert_int_equal(c.check, CHECK_DEFAULT);
}

static void test_empty_next_args_allowed(void **state)
{
	(void)state;
	SETUP();
	assert_int_equal(parse_file(&c, &r, "next_args=quiet\nnext_args=\n"), 0);
	assert_int_equal(r.n, 0);
	assert_string_equal(c.next_args, "");
}

static void test_next_path_of_255_accepted(void **state)
{
	(void)state;
	SETUP();
	assert_int_equal(parse_file(&c, &r, repeat("next=", 'a', CONFIG_PATH_MAX - 1)), 0);
	assert_int_equal(strlen(c.next), CONFIG_PATH_MAX - 1);
}

static void test_next_path_of_256_rejected(void **state)
{
	(void)state;
	SETUP();
	assert_int_equal(parse_file(&c, &r, repeat("next=", 'a', CONFIG_PATH_MAX)), 1);
	assert_string_equal(r.msg[0], "keel: config keel.cfg:1: value of 'next' is 256 characters long "
				      "(accepted: a path of at most 255 characters); keeping '(none)'");
	assert_string_equal(c.next, "");
}

static void test_overlong_next_keeps_previous_path(void **state)
{
	(void)state;
	SETUP();
	assert_int_equal(parse_file(&c, &r, "next=/b.efi\n"), 0);
	assert_int_equal(parse_file(&c, &r, repeat("next=", 'a', 300)), 1);
	assert_contains(r.msg[0], "keeping '\\b.efi'");
	assert_string_equal(c.next, "\\b.efi");
}

static void test_next_args_of_511_accepted(void **state)
{
	(void)state;
	SETUP();
	assert_int_equal(parse_file(&c, &r, repeat("next_args=", 'x', CONFIG_ARGS_MAX - 1)), 0);
	assert_int_equal(strlen(c.next_args), CONFIG_ARGS_MAX - 1);
}

static void test_next_args_of_512_rejected(void **state)
{
	(void)state;
	SETUP();
	assert_int_equal(parse_file(&c, &r, "next_args=keep me\n"), 0);
	assert_int_equal(parse_file(&c, &r, repeat("next_args=", 'x', CONFIG_ARGS_MAX)), 1);
	assert_string_equal(r.msg[0], "keel: config keel.cfg:1: value of 'next_args' is 512 characters long "
				      "(accepted: at most 511 characters); keeping the previous value");
	assert_string_equal(c.next_args, "keep me");
}

static void test_non_printable_in_next_rejected(void **state)
{
	(void)state;
	SETUP();
	assert_int_equal(parse_file(&c, &r, "next=\\a\x01.efi\n"), 1);
	assert_contains(r.msg[0], "value of 'next' holds a character that is not printable ASCII at offset 2");
	assert_contains(r.msg[0], "(accepted: a path such as \\EFI\\keel\\selftest.efi)");
	assert_string_equal(c.next, "");
}

static void test_high_bit_and_quote_in_next_rejected(void **state)
{
	(void)state;
	SETUP();
	assert_int_equal(parse_file(&c, &r, "next=\\caf\xc3\xa9.efi\nnext=\\a\"b.efi\nnext=\\a\tb\n"), 3);
	assert_contains(r.msg[0], "keel.cfg:1: value of 'next' holds a character that is not printable ASCII "
				  "at offset 4");
	assert_contains(r.msg[1], "keel.cfg:2: value of 'next' holds a character that is not printable ASCII "
				  "at offset 2");
	assert_contains(r.msg[2], "keel.cfg:3: value of 'next' holds a character that is not printable ASCII");
	assert_string_equal(c.next, "");
}

static void test_non_printable_in_next_args_rejected(void **state)
{
	(void)state;
	SETUP();
	assert_int_equal(parse_file(&c, &r, "next_args=a\x7f"
					    "b\n"),
			 1);
	assert_contains(r.msg[0], "value of 'next_args' holds a non-printable character at offset 1 "
				  "(accepted: printable ASCII)");
	assert_string_equal(c.next_args, "");
}

static void test_nul_byte_in_value_rejected(void **state)
{
	(void)state;
	SETUP();
	static const char text[] = "next=\\a\0b\n";
	assert_int_equal(config_parse_file(&c, text, sizeof(text) - 1, "keel.cfg", collect, &r), 1);
	assert_contains(r.msg[0], "not printable ASCII at offset 2");
}

static void test_line_without_equals(void **state)
{
	(void)state;
	SETUP();
	assert_int_equal(parse_file(&c, &r, "check=off\nvirtualize off\n"), 1);
	assert_string_equal(r.msg[0], "keel: config keel.cfg:2: expected key=value, found 'virtualize off'");
	assert_int_equal(c.virtualize, 1);
}

static void test_missing_key_before_equals(void **state)
{
	(void)state;
	SETUP();
	assert_int_equal(parse_file(&c, &r, "  =off\n"), 1);
	assert_string_equal(r.msg[0], "keel: config keel.cfg:1: missing key before '=' (accepted keys: next, "
				      "next_args, log, on_error, check, virtualize, break, stats_interval, debug_corrupt, trap, mmu)");
}

static void test_overlong_line_rejected(void **state)
{
	(void)state;
	SETUP();
	/* 10 + 1014 = 1024 characters: one more than CONFIG_LINE_MAX - 1. */
	assert_int_equal(parse_file(&c, &r, repeat("next_args=", 'x', CONFIG_LINE_MAX - 10)), 1);
	assert_string_equal(r.msg[0], "keel: config keel.cfg:1: line is 1024 characters long (accepted: at most "
				      "1023); line ignored");
	assert_string_equal(c.next_args, "");
}

static void test_line_of_1023_reaches_the_key(void **state)
{
	(void)state;
	SETUP();
	/* The line itself is accepted; the value (1013 characters) is then too long for next_args. */
	assert_int_equal(parse_file(&c, &r, repeat("next_args=", 'x', CONFIG_LINE_MAX - 11)), 1);
	assert_contains(r.msg[0], "value of 'next_args' is 1013 characters long");
}

static void test_problem_count_and_later_lines_still_apply(void **state)
{
	(void)state;
	SETUP();
	assert_int_equal(parse_file(&c, &r, "bogus\nfoo=1\ncheck=off\nlog=vga\nvirtualize=off\n=x\n"), 4);
	assert_int_equal(r.n, 4);
	assert_contains(r.msg[0], "keel.cfg:1:");
	assert_contains(r.msg[1], "keel.cfg:2:");
	assert_contains(r.msg[2], "keel.cfg:4:");
	assert_contains(r.msg[3], "keel.cfg:6:");
	assert_int_equal(c.check, 0);
	assert_int_equal(c.virtualize, 0);
	assert_int_equal(c.log_mask, CONFIG_LOG_ALL);
}

static void test_null_report_fn_still_counts(void **state)
{
	(void)state;
	struct keel_config c;
	config_defaults(&c);
	const char *text = "a=b\ncheck=maybe\n";
	assert_int_equal(config_parse_file(&c, text, strlen(text), "keel.cfg", NULL, NULL), 2);
	assert_int_equal(c.check, CHECK_DEFAULT);
}

static void test_empty_file(void **state)
{
	(void)state;
	SETUP();
	assert_int_equal(config_parse_file(&c, "", 0, "keel.cfg", collect, &r), 0);
	assert_int_equal(r.n, 0);
	assert_int_equal(c.check, CHECK_DEFAULT);
}

/* ---- load options ---- */

static void test_options_words(void **state)
{
	(void)state;
	SETUP();
	assert_int_equal(parse_options(&c, &r, "next=/EFI/x.efi  check=off\tlog=e9"), 0);
	assert_int_equal(r.n, 0);
	assert_string_equal(c.next, "\\EFI\\x.efi");
	assert_int_equal(c.check, 0);
	assert_int_equal(c.log_mask, CONFIG_LOG_E9);
}

static void test_options_quoted_value_holds_blanks(void **state)
{
	(void)state;
	SETUP();
	assert_int_equal(parse_options(&c, &r, "next_args=\"console=ttyS0 initrd=\\x\" virtualize=off"), 0);
	assert_string_equal(c.next_args, "console=ttyS0 initrd=\\x");
	assert_int_equal(c.virtualize, 0);
}

static void test_options_quoted_path(void **state)
{
	(void)state;
	SETUP();
	assert_int_equal(parse_options(&c, &r, "next=\"/EFI/my os/boot.efi\""), 0);
	assert_string_equal(c.next, "\\EFI\\my os\\boot.efi");
}

static void test_options_empty_quoted_next_args(void **state)
{
	(void)state;
	SETUP();
	assert_int_equal(parse_options(&c, &r, "next_args=abc next_args=\"\""), 0);
	assert_string_equal(c.next_args, "");
}

static void test_options_unterminated_quote(void **state)
{
	(void)state;
	SETUP();
	assert_int_equal(parse_options(&c, &r, "check=off next_args=\"console=ttyS0"), 1);
	assert_string_equal(r.msg[0], "keel: config load options: value of 'next_args' has no closing '\"'; "
				      "word ignored");
	assert_string_equal(c.next_args, "");
	assert_int_equal(c.check, 0);
}

static void test_options_bare_words_skipped(void **state)
{
	(void)state;
	SETUP();
	assert_int_equal(parse_options(&c, &r, "\\EFI\\keel\\keel.efi -v check=off trailing"), 0);
	assert_int_equal(r.n, 0);
	assert_int_equal(c.check, 0);
}

static void test_options_messages_name_origin_without_line(void **state)
{
	(void)state;
	SETUP();
	assert_int_equal(parse_options(&c, &r, "keel.efi mode=fast =x check="), 3);
	assert_string_equal(r.msg[0], "keel: config load options: unknown key 'mode' (accepted keys: next, "
				      "next_args, log, on_error, check, virtualize, break, stats_interval, debug_corrupt, trap, mmu)");
	assert_contains(r.msg[1], "keel: config load options: missing key before '='");
	assert_contains(r.msg[2], "keel: config load options: empty value for 'check'");
}

static void test_options_bad_value_keeps_previous(void **state)
{
	(void)state;
	SETUP();
	assert_int_equal(parse_options(&c, &r, "on_error=halt on_error=panic"), 1);
	assert_contains(r.msg[0], "bad value 'panic' for 'on_error' (accepted: continue, halt); keeping 'halt'");
	assert_int_equal(c.on_error, ON_ERROR_HALT);
}

static void test_options_overlong_value_ignored(void **state)
{
	(void)state;
	SETUP();
	assert_int_equal(parse_options(&c, &r, repeat("next_args=", 'x', 1500)), 1);
	assert_contains(r.msg[0], "keel: config load options: value of 'next_args' is longer than 1023 "
				  "characters; word ignored");
	assert_string_equal(c.next_args, "");
}

static void test_options_stop_at_nul(void **state)
{
	(void)state;
	SETUP();
	static const char text[] = "check=off\0virtualize=off";
	assert_int_equal(config_parse_options(&c, text, sizeof(text), collect, &r), 0);
	assert_int_equal(c.check, 0);
	assert_int_equal(c.virtualize, 1);
}

static void test_options_override_file(void **state)
{
	(void)state;
	SETUP();
	assert_int_equal(parse_file(&c, &r, "next=\\EFI\\a.efi\ncheck=off\nlog=serial\non_error=halt\n"), 0);
	assert_int_equal(parse_options(&c, &r, "keel.efi next=/EFI/b.efi check=on"), 0);
	assert_string_equal(c.next, "\\EFI\\b.efi");
	assert_int_equal(c.check, 1);
	/* Keys the options do not name keep the file's values. */
	assert_int_equal(c.log_mask, CONFIG_LOG_SERIAL);
	assert_int_equal(c.on_error, ON_ERROR_HALT);
}

static void test_options_bad_value_keeps_file_value(void **state)
{
	(void)state;
	SETUP();
	assert_int_equal(parse_file(&c, &r, "log=console\n"), 0);
	assert_int_equal(parse_options(&c, &r, "log=serial,uart"), 1);
	assert_int_equal(c.log_mask, CONFIG_LOG_CONSOLE);
}

static void test_options_empty(void **state)
{
	(void)state;
	SETUP();
	assert_int_equal(config_parse_options(&c, "", 0, collect, &r), 0);
	assert_int_equal(parse_options(&c, &r, "  \r\n\t "), 0);
	assert_int_equal(r.n, 0);
}

/* ---- config_log_mask_name ---- */

static void test_log_mask_name(void **state)
{
	(void)state;
	char buf[32];
	assert_string_equal(config_log_mask_name(CONFIG_LOG_ALL, buf, sizeof(buf)), "serial,e9,console");
	assert_string_equal(config_log_mask_name(CONFIG_LOG_E9, buf, sizeof(buf)), "e9");
	assert_string_equal(config_log_mask_name(CONFIG_LOG_SERIAL | CONFIG_LOG_CONSOLE, buf, sizeof(buf)),
			    "serial,console");
	assert_string_equal(config_log_mask_name(0, buf, sizeof(buf)), "none");
}

static void test_log_mask_name_returns_buf_and_truncates(void **state)
{
	(void)state;
	char buf[8];
	assert_ptr_equal(config_log_mask_name(CONFIG_LOG_ALL, buf, sizeof(buf)), buf);
	/* "serial," fits in 8 bytes; its trailing comma is dropped. */
	assert_string_equal(buf, "serial");
}


/* ---- trap= ---- */

static void test_trap_words(void **state)
{
	(void)state;
	SETUP();
	char name[CONFIG_TRAP_NAME_MAX];
	assert_int_equal(parse_file(&c, &r, "trap=all\n"), 0);
	assert_int_equal(c.trap_mask, TRAP_ALL);
	assert_string_equal(config_trap_name(c.trap_mask, name, sizeof(name)), "all");
	assert_int_equal(parse_file(&c, &r, "trap=minimal\n"), 0);
	assert_int_equal(c.trap_mask, TRAP_MINIMAL);
	assert_string_equal(config_trap_name(c.trap_mask, name, sizeof(name)), "minimal");
	assert_int_equal(parse_file(&c, &r, "trap=hlt,rdtsc,exceptions\n"), 0);
	assert_int_equal(c.trap_mask, TRAP_HLT | TRAP_RDTSC | TRAP_EXCEPTIONS);
	assert_string_equal(config_trap_name(c.trap_mask, name, sizeof(name)), "hlt,rdtsc,exceptions");
	assert_int_equal(parse_options(&c, &r, "trap=desc,io,msr"), 0);
	assert_int_equal(c.trap_mask, TRAP_DESC | TRAP_IO | TRAP_MSR);
}

static void test_trap_every_class_by_name(void **state)
{
	(void)state;
	SETUP();
	char line[64], name[CONFIG_TRAP_NAME_MAX];
	for (unsigned k = 0; k < TRAP_CLASS_COUNT; k++) {
		snprintf(line, sizeof(line), "trap=%s\n", trap_class_name(k));
		assert_int_equal(parse_file(&c, &r, line), 0);
		assert_int_equal(c.trap_mask, 1u << k);
		assert_string_equal(config_trap_name(c.trap_mask, name, sizeof(name)), trap_class_name(k));
	}
	assert_null(trap_class_name(TRAP_CLASS_COUNT));
}

static void test_trap_bad_class_keeps_previous(void **state)
{
	(void)state;
	SETUP();
	parse_file(&c, &r, "trap=hlt,dr\n");
	assert_int_equal(parse_file(&c, &r, "trap=hlt,cpuid\n"), 1);
	assert_int_equal(c.trap_mask, TRAP_HLT | TRAP_DR);
	assert_non_null(strstr(r.msg[0], "bad value 'cpuid' in 'trap' (accepted: minimal, all, or a comma-separated "
					 "list of hlt, pause,"));
	assert_non_null(strstr(r.msg[0], "keeping 'hlt,dr'"));
	assert_int_equal(parse_file(&c, &r, "trap=hlt,\n"), 1); /* an empty word is no class either */
	assert_int_equal(c.trap_mask, TRAP_HLT | TRAP_DR);
}

/* ---- mmu= ---- */

static void test_mmu_values(void **state)
{
	(void)state;
	SETUP();
	assert_int_equal(c.mmu, CONFIG_MMU_AUTO);
	assert_string_equal(config_mmu_name(c.mmu), "auto");
	assert_int_equal(parse_file(&c, &r, "mmu=shadow\n"), 0);
	assert_int_equal(c.mmu, CONFIG_MMU_SHADOW);
	assert_int_equal(parse_file(&c, &r, "mmu=ept\n"), 0);
	assert_int_equal(c.mmu, CONFIG_MMU_EPT);
	assert_string_equal(config_mmu_name(CONFIG_MMU_SHADOW), "shadow");
	assert_int_equal(parse_file(&c, &r, "mmu=npt\n"), 1);
	assert_int_equal(c.mmu, CONFIG_MMU_EPT);
	assert_contains(r.msg[0], "bad value 'npt' for 'mmu' (accepted: auto, ept, shadow); keeping 'ept'");
}

/* ---- break= and stats_interval= ---- */

static void test_break_list(void **state)
{
	(void)state;
	SETUP();
	assert_int_equal(parse_file(&c, &r, "break=launch,exit\n"), 0);
	assert_int_equal(c.break_mask, CONFIG_BREAK_LAUNCH | CONFIG_BREAK_EXIT);
	assert_int_equal(parse_file(&c, &r, "break=none\n"), 0);
	assert_int_equal(c.break_mask, 0);
}

static void test_break_bad_word_keeps_previous(void **state)
{
	(void)state;
	SETUP();
	parse_file(&c, &r, "break=exit\n");
	assert_int_equal(parse_file(&c, &r, "break=exit,vmcall\n"), 1);
	assert_int_equal(c.break_mask, CONFIG_BREAK_EXIT);
	assert_non_null(strstr(r.msg[0], "'vmcall' in 'break'"));
	assert_non_null(strstr(r.msg[0], "launch, exit"));
}

static void test_stats_interval_values(void **state)
{
	(void)state;
	SETUP();
	assert_int_equal(c.stats_interval, 0);
	assert_int_equal(parse_file(&c, &r, "stats_interval=30\n"), 0);
	assert_int_equal(c.stats_interval, 30);
	assert_int_equal(parse_file(&c, &r, "stats_interval=3600\n"), 0);
	assert_int_equal(c.stats_interval, 3600);
}

static void test_stats_interval_rejects_bad_values(void **state)
{
	(void)state;
	SETUP();
	parse_file(&c, &r, "stats_interval=5\n");
	assert_int_equal(parse_file(&c, &r, "stats_interval=3601\nstats_interval=-1\nstats_interval=1s\n"), 3);
	assert_int_equal(c.stats_interval, 5);
	assert_non_null(strstr(r.msg[0], "'stats_interval'"));
	assert_non_null(strstr(r.msg[0], "keeping 5"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_file_sets_every_key),
		cmocka_unit_test(test_choice_keys_accept_both_words),
		cmocka_unit_test(test_log_single_word_and_all_three),
		cmocka_unit_test(test_comments_and_blank_lines_ignored),
		cmocka_unit_test(test_long_comment_line_is_not_overlong),
		cmocka_unit_test(test_surrounding_blanks_trimmed),
		cmocka_unit_test(test_crlf_line_ends),
		cmocka_unit_test(test_last_line_without_newline),
		cmocka_unit_test(test_slash_converted_to_backslash_in_next),
		cmocka_unit_test(test_next_args_keeps_slashes_and_equals),
		cmocka_unit_test(test_value_runs_to_end_of_line),
		cmocka_unit_test(test_unknown_key_message),
		cmocka_unit_test(test_origin_and_line_number_in_message),
		cmocka_unit_test(test_origin_name_is_the_callers),
		cmocka_unit_test(test_line_numbers_count_crlf_lines),
		cmocka_unit_test(test_bad_on_error),
		cmocka_unit_test(test_bad_on_error_keeps_halt),
		cmocka_unit_test(test_bad_check),
		cmocka_unit_test(test_bad_virtualize_keeps_previous_off),
		cmocka_unit_test(test_log_with_bad_word_rejects_whole_value),
		cmocka_unit_test(test_log_with_empty_word_rejected),
		cmocka_unit_test(test_empty_value_rejected),
		cmocka_unit_test(test_empty_next_args_allowed),
		cmocka_unit_test(test_next_path_of_255_accepted),
		cmocka_unit_test(test_next_path_of_256_rejected),
		cmocka_unit_test(test_overlong_next_keeps_previous_path),
		cmocka_unit_test(test_next_args_of_511_accepted),
		cmocka_unit_test(test_next_args_of_512_rejected),
		cmocka_unit_test(test_non_printable_in_next_rejected),
		cmocka_unit_test(test_high_bit_and_quote_in_next_rejected),
		cmocka_unit_test(test_non_printable_in_next_args_rejected),
		cmocka_unit_test(test_nul_byte_in_value_rejected),
		cmocka_unit_test(test_line_without_equals),
		cmocka_unit_test(test_missing_key_before_equals),
		cmocka_unit_test(test_overlong_line_rejected),
		cmocka_unit_test(test_line_of_1023_reaches_the_key),
		cmocka_unit_test(test_problem_count_and_later_lines_still_apply),
		cmocka_unit_test(test_null_report_fn_still_counts),
		cmocka_unit_test(test_empty_file),
		cmocka_unit_test(test_options_words),
		cmocka_unit_test(test_options_quoted_value_holds_blanks),
		cmocka_unit_test(test_options_quoted_path),
		cmocka_unit_test(test_options_empty_quoted_next_args),
		cmocka_unit_test(test_options_unterminated_quote),
		cmocka_unit_test(test_options_bare_words_skipped),
		cmocka_unit_test(test_options_messages_name_origin_without_line),
		cmocka_unit_test(test_options_bad_value_keeps_previous),
		cmocka_unit_test(test_options_overlong_value_ignored),
		cmocka_unit_test(test_options_stop_at_nul),
		cmocka_unit_test(test_options_override_file),
		cmocka_unit_test(test_options_bad_value_keeps_file_value),
		cmocka_unit_test(test_options_empty),
		cmocka_unit_test(test_log_mask_name),
		cmocka_unit_test(test_trap_words),
		cmocka_unit_test(test_trap_every_class_by_name),
		cmocka_unit_test(test_trap_bad_class_keeps_previous),
		cmocka_unit_test(test_mmu_values),
		cmocka_unit_test(test_break_list),
		cmocka_unit_test(test_break_bad_word_keeps_previous),
		cmocka_unit_test(test_stats_interval_values),
		cmocka_unit_test(test_stats_interval_rejects_bad_values),
		cmocka_unit_test(test_log_mask_name_returns_buf_and_truncates),
	};
	return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
