/* keel's configuration: keys, defaults, and the parser for keel.cfg and the image's load options.
 * Pure logic (no firmware calls), so the host unit tests compile it as it is. */
#include "config.h"

#include "../lib/fmt.h"
#include "../lib/string.h"

struct report_ctx {
	config_report_fn fn;
	void *ctx;
	const char *origin;
	unsigned line; /* 0 for load options */
	int problems;
};

static void report(struct report_ctx *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void report(struct report_ctx *r, const char *fmt, ...)
{
	char msg[CONFIG_LINE_MAX + 200], where[80];
	va_list ap;

	if (r->line)
		fmt_snprintf(where, sizeof(where), "%s:%u", r->origin, r->line);
	else
		fmt_snprintf(where, sizeof(where), "%s", r->origin);
	size_t n = (size_t)fmt_snprintf(msg, sizeof(msg), "keel: config %s: ", where);
	va_start(ap, fmt);
	if (n < sizeof(msg))
		fmt_vsnprintf(msg + n, sizeof(msg) - n, fmt, ap);
	va_end(ap);
	r->problems++;
	if (r->fn)
		r->fn(r->ctx, msg);
}

/* ---- value parsers: return 0 and store, or report and return -1 ---- */

static int set_path(struct report_ctx *r, const char *key, const char *v, size_t n, char *dst)
{
	if (n >= CONFIG_PATH_MAX) {
		report(r, "value of '%s' is %u characters long (accepted: a path of at most %u characters); "
			  "keeping '%s'",
		       key, (unsigned)n, CONFIG_PATH_MAX - 1, dst[0] ? dst : "(none)");
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		if (v[i] < 0x20 || v[i] > 0x7E || v[i] == '"') {
			report(r, "value of '%s' holds a character that is not printable ASCII at offset %u "
				  "(accepted: a path such as \\EFI\\keel\\selftest.efi)",
			       key, (unsigned)i);
			return -1;
		}
	}
	/* Paths are on the FAT volume: accept '/' as a separator, store '\'. */
	for (size_t i = 0; i < n; i++)
		dst[i] = v[i] == '/' ? '\\' : v[i];
	dst[n] = 0;
	return 0;
}

static int set_next(struct report_ctx *r, struct keel_config *c, const char *v, size_t n)
{
	return set_path(r, "next", v, n, c->next);
}

static int set_next_args(struct report_ctx *r, struct keel_config *c, const char *v, size_t n)
{
	if (n >= CONFIG_ARGS_MAX) {
		report(r, "value of 'next_args' is %u characters long (accepted: at most %u characters); "
			  "keeping the previous value",
		       (unsigned)n, CONFIG_ARGS_MAX - 1);
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		if (v[i] < 0x20 || v[i] > 0x7E) {
			report(r, "value of 'next_args' holds a non-printable character at offset %u "
				  "(accepted: printable ASCII)",
			       (unsigned)i);
			return -1;
		}
	}
	memcpy(c->next_args, v, n);
	c->next_args[n] = 0;
	return 0;
}

static int word_is(const char *v, size_t n, const char *word)
{
	return strlen(word) == n && strncmp(v, word, n) == 0;
}

static int set_log(struct report_ctx *r, struct keel_config *c, const char *v, size_t n)
{
	unsigned mask = 0;
	size_t i = 0;

	while (i <= n) {
		size_t j = i;
		while (j < n && v[j] != ',')
			j++;
		if (word_is(v + i, j - i, "serial"))
			mask |= CONFIG_LOG_SERIAL;
		else if (word_is(v + i, j - i, "e9"))
			mask |= CONFIG_LOG_E9;
		else if (word_is(v + i, j - i, "console"))
			mask |= CONFIG_LOG_CONSOLE;
		else {
			report(r, "bad value '%.*s' in 'log' (accepted: a comma-separated list of serial, e9, "
				  "console); keeping the previous setting",
			       (int)(j - i), v + i);
			return -1;
		}
		i = j + 1;
	}
	c->log_mask = mask;
	return 0;
}

static int set_choice(struct report_ctx *r, const char *key, const char *v, size_t n, const char *a,
		      const char *b, int *dst)
{
	if (word_is(v, n, a))
		*dst = 0;
	else if (word_is(v, n, b))
		*dst = 1;
	else {
		report(r, "bad value '%.*s' for '%s' (accepted: %s, %s); keeping '%s'", (int)n, v, key, a, b,
		       *dst ? b : a);
		return -1;
	}
	return 0;
}

static int set_on_error(struct report_ctx *r, struct keel_config *c, const char *v, size_t n)
{
	int halt = c->on_error == ON_ERROR_HALT;
	if (set_choice(r, "on_error", v, n, "continue", "halt", &halt))
		return -1;
	c->on_error = halt ? ON_ERROR_HALT : ON_ERROR_CONTINUE;
	return 0;
}

static int set_check(struct report_ctx *r, struct keel_config *c, const char *v, size_t n)
{
	return set_choice(r, "check", v, n, "off", "on", &c->check);
}

static int set_virtualize(struct report_ctx *r, struct keel_config *c, const char *v, size_t n)
{
	return set_choice(r, "virtualize", v, n, "off", "on", &c->virtualize);
}

static int set_break(struct report_ctx *r, struct keel_config *c, const char *v, size_t n)
{
	unsigned mask = 0;
	size_t i = 0;

	if (word_is(v, n, "none")) {
		c->break_mask = 0;
		return 0;
	}
	while (i <= n) {
		size_t j = i;
		while (j < n && v[j] != ',')
			j++;
		if (word_is(v + i, j - i, "launch"))
			mask |= CONFIG_BREAK_LAUNCH;
		else if (word_is(v + i, j - i, "exit"))
			mask |= CONFIG_BREAK_EXIT;
		else {
			report(r, "bad value '%.*s' in 'break' (accepted: none, or a comma-separated list of launch, "
				  "exit); keeping the previous setting",
			       (int)(j - i), v + i);
			return -1;
		}
		i = j + 1;
	}
	c->break_mask = mask;
	return 0;
}

static int set_stats_interval(struct report_ctx *r, struct keel_config *c, const char *v, size_t n)
{
	unsigned val = 0;
	for (size_t i = 0; i < n; i++) {
		if (v[i] < '0' || v[i] > '9' || val > CONFIG_STATS_INTERVAL_MAX) {
			report(r, "bad value '%.*s' for 'stats_interval' (accepted: seconds from 0 (off) to %u); "
				  "keeping %u",
			       (int)n, v, CONFIG_STATS_INTERVAL_MAX, c->stats_interval);
			return -1;
		}
		val = val * 10 + (unsigned)(v[i] - '0');
	}
	if (val > CONFIG_STATS_INTERVAL_MAX) {
		report(r, "bad value '%.*s' for 'stats_interval' (accepted: seconds from 0 (off) to %u); keeping %u",
		       (int)n, v, CONFIG_STATS_INTERVAL_MAX, c->stats_interval);
		return -1;
	}
	c->stats_interval = val;
	return 0;
}

static int set_debug_corrupt(struct report_ctx *r, struct keel_config *c, const char *v, size_t n)
{
	int tr = c->debug_corrupt == CONFIG_CORRUPT_GUEST_TR;
	if (set_choice(r, "debug_corrupt", v, n, "none", "guest_tr", &tr))
		return -1;
	c->debug_corrupt = tr ? CONFIG_CORRUPT_GUEST_TR : CONFIG_CORRUPT_NONE;
	return 0;
}

/* trap=: minimal, all, or a comma-separated list of classes (vmm/trap.h); "minimal" and "all" may
 * appear in the list too (all,... is all). */
static int set_trap(struct report_ctx *r, struct keel_config *c, const char *v, size_t n)
{
	unsigned mask = 0;
	size_t i = 0;

	while (i <= n) {
		size_t j = i, k;
		while (j < n && v[j] != ',')
			j++;
		if (word_is(v + i, j - i, "minimal"))
			mask |= TRAP_MINIMAL;
		else if (word_is(v + i, j - i, "all"))
			mask |= TRAP_ALL;
		else {
			for (k = 0; k < TRAP_CLASS_COUNT && !word_is(v + i, j - i, trap_class_name((unsigned)k)); k++)
				;
			if (k == TRAP_CLASS_COUNT) {
				char now[CONFIG_TRAP_NAME_MAX];
				report(r, "bad value '%.*s' in 'trap' (accepted: minimal, all, or a comma-separated list of "
					  "%s); keeping '%s'",
				       (int)(j - i), v + i, CONFIG_TRAP_LIST, config_trap_name(c->trap_mask, now, sizeof(now)));
				return -1;
			}
			mask |= 1u << k;
		}
		i = j + 1;
	}
	c->trap_mask = mask;
	return 0;
}

struct key {
	const char *name;
	int (*set)(struct report_ctx *r, struct keel_config *c, const char *v, size_t n);
};

static const char *const mmu_names[] = { [CONFIG_MMU_AUTO] = "auto", [CONFIG_MMU_EPT] = "ept",
					  [CONFIG_MMU_SHADOW] = "shadow" };

const char *config_mmu_name(enum config_mmu m)
{
	return (unsigned)m < sizeof(mmu_names) / sizeof(mmu_names[0]) ? mmu_names[m] : "?";
}

static int set_mmu(struct report_ctx *r, struct keel_config *c, const char *v, size_t n)
{
	for (unsigned i = 0; i < sizeof(mmu_names) / sizeof(mmu_names[0]); i++)
		if (word_is(v, n, mmu_names[i])) {
			c->mmu = (enum config_mmu)i;
			return 0;
		}
	report(r, "bad value '%.*s' for 'mmu' (accepted: auto, ept, shadow); keeping '%s'", (int)n, v,
	       config_mmu_name(c->mmu));
	return -1;
}

static const struct key keys[] = {
	{ "next", set_next },
	{ "next_args", set_next_args },
	{ "log", set_log },
	{ "on_error", set_on_error },
	{ "check", set_check },
	{ "virtualize", set_virtualize },
	{ "break", set_break },
	{ "stats_interval", set_stats_interval },
	{ "debug_corrupt", set_debug_corrupt },
	{ "trap", set_trap },
	{ "mmu", set_mmu },
};
#define KEY_LIST "next, next_args, log, on_error, check, virtualize, break, stats_interval, debug_corrupt, trap, mmu"

void config_defaults(struct keel_config *c)
{
	memset(c, 0, sizeof(*c));
	c->log_mask = CONFIG_LOG_ALL;
	c->on_error = ON_ERROR_CONTINUE;
	/* The VM-entry checker runs after a failed entry anyway; on: before each launch too. Debug
	 * builds (make DEBUG=1) turn it on by default. */
#ifdef KEEL_DEBUG
	c->check = 1;
#else
	c->check = 0;
#endif
	c->virtualize = 1;
	c->mmu = CONFIG_MMU_AUTO;
}

static int is_blank(char ch) { return ch == ' ' || ch == '\t'; }

static void apply(struct report_ctx *r, struct keel_config *c, const char *k, size_t kn, const char *v,
		  size_t vn)
{
	if (kn == 0) {
		report(r, "missing key before '=' (accepted keys: " KEY_LIST ")");
		return;
	}
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		if (!word_is(k, kn, keys[i].name))
			continue;
		if (vn == 0 && keys[i].set != set_next_args) {
			report(r, "empty value for '%s'; keeping the previous value", keys[i].name);
			return;
		}
		keys[i].set(r, c, v, vn);
		return;
	}
	report(r, "unknown key '%.*s' (accepted keys: " KEY_LIST ")", (int)(kn > 64 ? 64 : kn), k);
}

int config_parse_file(struct keel_config *c, const char *text, size_t len, const char *origin,
		      config_report_fn fn, void *ctx)
{
	struct report_ctx r = { fn, ctx, origin, 0, 0 };
	size_t pos = 0;

	while (pos < len) {
		size_t end = pos;
		while (end < len && text[end] != '\n')
			end++;
		r.line++;
		size_t a = pos, b = end;
		pos = end + 1;
		while (a < b && (is_blank(text[a]) || text[a] == '\r'))
			a++;
		while (b > a && (is_blank(text[b - 1]) || text[b - 1] == '\r'))
			b--;
		if (a == b || text[a] == '#')
			continue;
		if (b - a >= CONFIG_LINE_MAX) {
			report(&r, "line is %u characters long (accepted: at most %u); line ignored",
			       (unsigned)(b - a), CONFIG_LINE_MAX - 1);
			continue;
		}
		size_t eq = a;
		while (eq < b && text[eq] != '=')
			eq++;
		if (eq == b) {
			report(&r, "expected key=value, found '%.*s'", (int)(b - a > 64 ? 64 : b - a), text + a);
			continue;
		}
		size_t ke = eq, vs = eq + 1;
		while (ke > a && is_blank(text[ke - 1]))
			ke--;
		while (vs < b && is_blank(text[vs]))
			vs++;
		apply(&r, c, text + a, ke - a, text + vs, b - vs);
	}
	return r.problems;
}

int config_parse_options(struct keel_config *c, const char *text, size_t len, config_report_fn fn,
			 void *ctx)
{
	struct report_ctx r = { fn, ctx, "load options", 0, 0 };
	char value[CONFIG_LINE_MAX];
	size_t pos = 0;

	while (pos < len) {
		while (pos < len && (is_blank(text[pos]) || text[pos] == '\r' || text[pos] == '\n'))
			pos++;
		if (pos >= len || !text[pos])
			break;
		size_t ks = pos;
		while (pos < len && text[pos] && text[pos] != '=' && !is_blank(text[pos]))
			pos++;
		if (pos >= len || text[pos] != '=') {
			/* A bare word: the image's name as the shell passes it. */
			while (pos < len && text[pos] && !is_blank(text[pos]))
				pos++;
			continue;
		}
		size_t kn = pos - ks, vn = 0;
		int quoted = 0, overflow = 0;
		pos++;
		if (pos < len && text[pos] == '"') {
			quoted = 1;
			pos++;
		}
		while (pos < len && text[pos]) {
			char ch = text[pos];
			if (quoted ? ch == '"' : is_blank(ch))
				break;
			if (vn < sizeof(value))
				value[vn++] = ch;
			else
				overflow = 1;
			pos++;
		}
		if (quoted) {
			if (pos >= len || text[pos] != '"') {
				report(&r, "value of '%.*s' has no closing '\"'; word ignored", (int)kn, text + ks);
				continue;
			}
			pos++;
		}
		if (overflow) {
			report(&r, "value of '%.*s' is longer than %u characters; word ignored", (int)kn, text + ks,
			       (unsigned)sizeof(value) - 1);
			continue;
		}
		apply(&r, c, text + ks, kn, value, vn);
	}
	return r.problems;
}

const char *config_log_mask_name(unsigned mask, char *buf, size_t size)
{
	fmt_snprintf(buf, size, "%s%s%s%s", mask & CONFIG_LOG_SERIAL ? "serial," : "",
		     mask & CONFIG_LOG_E9 ? "e9," : "", mask & CONFIG_LOG_CONSOLE ? "console," : "",
		     mask ? "" : "none");
	size_t n = strlen(buf);
	if (n && buf[n - 1] == ',')
		buf[n - 1] = 0;
	return buf;
}

const char *config_trap_name(unsigned mask, char *buf, size_t size)
{
	size_t n = 0;

	if (mask == TRAP_MINIMAL)
		fmt_snprintf(buf, size, "minimal");
	else if (mask == TRAP_ALL)
		fmt_snprintf(buf, size, "all");
	else {
		buf[0] = 0;
		for (unsigned k = 0; k < TRAP_CLASS_COUNT; k++)
			if ((mask & (1u << k)) && n < size)
				n += (size_t)fmt_snprintf(buf + n, size - n, "%s%s", n ? "," : "", trap_class_name(k));
	}
	return buf;
}
