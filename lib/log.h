/* keel's one logging sink: levels, a [cpuN] prefix, fan-out to registered outputs through one ring.
 * Runs in UEFI boot services, as the guest after launch, and in VMX root; re-entrant per CPU. */
#ifndef KEEL_LIB_LOG_H
#define KEEL_LIB_LOG_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

enum log_level { LOG_ERR, LOG_WARN, LOG_INFO, LOG_DEBUG };

#define LOG_LINE_MAX 256
#define LOG_MAX_SINKS 4

/*
 * An output receives the log's bytes in order, whole lines ending in '\n' when written with waiting
 * (try_write may take part of one); it translates line ends itself. It is called without any lock
 * held, by one caller at a time, and may itself log (or VM-exit into a handler that logs): such a
 * line is queued and written after the piece in progress, by the same caller (lib/log.c).
 */
typedef void (*log_output_fn)(const char *s, size_t n);

/* Writes as much of s as the device takes without waiting; returns the bytes taken. */
typedef size_t (*log_try_fn)(const char *s, size_t n);

/*
 * Registers an output written synchronously (each line before log_msg returns, unless another
 * caller is inside the output right now and writes it instead); returns its slot, or -1 when all
 * LOG_MAX_SINKS slots (shared with buffered outputs) are taken.
 */
int log_add_output(log_output_fn fn);
/*
 * Registers a buffered output for a slow device: lines go through keel's log ring, fed with
 * try_write (NULL: only at flush time) and drained with write by log_flush(), by any LOG_WARN or
 * LOG_ERR line, and whenever the ring would overflow. Returns its slot or -1.
 */
int log_add_buffered_output(log_try_fn try_write, log_output_fn write);
/* Drains every output (waits for the devices), except one already being drained: its drainer
 * (an outer frame on this CPU, or another CPU) finishes the job before it lets go. */
void log_flush(void);
/* on = 1 (default): lines wait in the ring until a flush point; 0: every line is drained at once. */
void log_set_buffering(int on);
void log_remove_output(log_output_fn fn);
void log_set_level(enum log_level max);
/* Who is logging: returns the current logical CPU's index. Default: always 0. */
void log_set_cpu_fn(unsigned (*fn)(void));

/*
 * Formats one line "[cpuN] <message>\n" into buf (size >= 2). A message longer than the buffer is
 * cut and ends in "...\n"; a trailing '\n' in fmt is not doubled. Returns the line's length.
 */
size_t log_format_line(char *buf, size_t size, unsigned cpu, const char *fmt, va_list ap)
	__attribute__((format(printf, 4, 0)));

void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_err(...) log_msg(LOG_ERR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)

#endif
