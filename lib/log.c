/* keel's one logging sink: levels, a [cpuN] prefix, fan-out to registered outputs.
 * Runs in UEFI boot services and in VMX root; serialized by a spinlock. */
#include "log.h"

#include "fmt.h"
#include "string.h"

static log_output_fn outputs[LOG_MAX_SINKS];
static enum log_level max_level = LOG_INFO;
static unsigned (*cpu_fn)(void);
static volatile int log_lock;

int log_add_output(log_output_fn fn)
{
	for (int i = 0; i < LOG_MAX_SINKS; i++)
		if (outputs[i] == fn)
			return i;
	for (int i = 0; i < LOG_MAX_SINKS; i++) {
		if (!outputs[i]) {
			outputs[i] = fn;
			return i;
		}
	}
	return -1;
}

void log_remove_output(log_output_fn fn)
{
	for (int i = 0; i < LOG_MAX_SINKS; i++)
		if (outputs[i] == fn)
			outputs[i] = 0;
}

void log_set_level(enum log_level max) { max_level = max; }

void log_set_cpu_fn(unsigned (*fn)(void)) { cpu_fn = fn; }

size_t log_format_line(char *buf, size_t size, unsigned cpu, const char *fmt, va_list ap)
{
	size_t n = (size_t)fmt_snprintf(buf, size, "[cpu%u] ", cpu);
	if (n >= size - 1)
		n = size - 2;
	size_t room = size - n;
	size_t m = (size_t)fmt_vsnprintf(buf + n, room, fmt, ap);

	/* Cut when the text does not fit, or fits only without the '\n' added below. */
	if (m >= room || (m == room - 1 && buf[size - 2] != '\n')) {
		/* Cut: mark it so a reader knows the line is incomplete. */
		if (size >= 6)
			memcpy(buf + size - 5, "...", 3);
		buf[size - 2] = '\n';
		buf[size - 1] = 0;
		return size - 1;
	}
	n += m;
	if (n == 0 || buf[n - 1] != '\n') {
		buf[n++] = '\n';
		buf[n] = 0;
	}
	return n;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	char line[LOG_LINE_MAX];
	va_list ap;

	if (level > max_level)
		return;
	va_start(ap, fmt);
	size_t n = log_format_line(line, sizeof(line), cpu_fn ? cpu_fn() : 0, fmt, ap);
	va_end(ap);

	while (__atomic_exchange_n(&log_lock, 1, __ATOMIC_ACQUIRE))
		__asm__ volatile("pause");
	for (int i = 0; i < LOG_MAX_SINKS; i++)
		if (outputs[i])
			outputs[i](line, n);
	__atomic_store_n(&log_lock, 0, __ATOMIC_RELEASE);
}
