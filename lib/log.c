/* keel's one logging sink: levels, a [cpuN] prefix, fan-out to registered outputs.
 * Runs in UEFI boot services and in VMX root; serialized by a spinlock. */
#include "log.h"

#include "fmt.h"
#include "string.h"

static log_output_fn outputs[LOG_MAX_SINKS];
static enum log_level max_level = LOG_INFO;
static unsigned (*cpu_fn)(void);
static volatile int log_lock;

/*
 * Buffered outputs (slow devices: a 115200-baud UART, the firmware console) are fed from one ring
 * so that keel never stalls on them in the middle of its work: each line is pushed as far as the
 * device takes it without waiting, and log_flush() (or an error line, or a full ring) drains the
 * rest. Each buffered output keeps its own read position.
 */
#define LOG_RING_SIZE 16384
static char ring[LOG_RING_SIZE];
static uint64_t ring_head; /* bytes ever written */
static int buffering = 1;
static struct buffered {
	log_try_fn try_write;
	log_output_fn write;
	uint64_t tail;
} buffered[LOG_MAX_SINKS];

static void lock(void)
{
	while (__atomic_exchange_n(&log_lock, 1, __ATOMIC_ACQUIRE))
		__asm__ volatile("pause");
}

static void unlock(void) { __atomic_store_n(&log_lock, 0, __ATOMIC_RELEASE); }

/* Feeds output b from the ring; blocking: use write (waits), else try_write (never waits). */
static void pump(struct buffered *b, int blocking)
{
	while (b->tail < ring_head) {
		size_t off = (size_t)(b->tail % LOG_RING_SIZE);
		size_t n = (size_t)(ring_head - b->tail);
		if (n > LOG_RING_SIZE - off)
			n = LOG_RING_SIZE - off;
		if (blocking) {
			b->write(ring + off, n);
		} else {
			n = b->try_write ? b->try_write(ring + off, n) : 0;
			if (!n)
				return;
		}
		b->tail += n;
	}
}

int log_add_buffered_output(log_try_fn try_write, log_output_fn write)
{
	lock();
	int slot = -1;
	for (int i = 0; i < LOG_MAX_SINKS && slot < 0; i++)
		if (buffered[i].write == write)
			slot = i;
	for (int i = 0; i < LOG_MAX_SINKS && slot < 0; i++)
		if (!buffered[i].write) {
			buffered[i].write = write;
			buffered[i].try_write = try_write;
			buffered[i].tail = ring_head;
			slot = i;
		}
	unlock();
	return slot;
}

static void drain_all(void)
{
	for (int i = 0; i < LOG_MAX_SINKS; i++)
		if (buffered[i].write)
			pump(&buffered[i], 1);
}

void log_flush(void)
{
	lock();
	drain_all();
	unlock();
}

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
	lock();
	for (int i = 0; i < LOG_MAX_SINKS; i++) {
		if (outputs[i] == fn)
			outputs[i] = 0;
		if (buffered[i].write == fn) {
			pump(&buffered[i], 1);
			buffered[i].write = 0;
			buffered[i].try_write = 0;
		}
	}
	unlock();
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

	lock();
	for (int i = 0; i < LOG_MAX_SINKS; i++)
		if (outputs[i])
			outputs[i](line, n);
	/* Room for the line in every buffered output's window, else drain first. */
	for (int i = 0; i < LOG_MAX_SINKS; i++)
		if (buffered[i].write && ring_head + n - buffered[i].tail > LOG_RING_SIZE)
			pump(&buffered[i], 1);
	for (size_t i = 0; i < n; i++)
		ring[(ring_head + i) % LOG_RING_SIZE] = line[i];
	ring_head += n;
	for (int i = 0; i < LOG_MAX_SINKS; i++)
		if (buffered[i].write)
			pump(&buffered[i], !buffering || level <= LOG_WARN);
	unlock();
}

void log_set_buffering(int on) { buffering = on; }
