/* printf-style formatting into a bounded buffer.
 * Runs anywhere; reentrant, no state. */
#ifndef KEEL_LIB_FMT_H
#define KEEL_LIB_FMT_H

#include <stdarg.h>
#include <stddef.h>

/*
 * Supports %d %i %u %x %X %o %c %s %p %% with flags '-', '0', width, precision (for %s and
 * integers), and length modifiers hh h l ll z. Always NUL-terminates when size > 0; returns the
 * length the full output would have had (like C99 vsnprintf). An unknown conversion is copied
 * literally so a bad format string is visible rather than silently dropped.
 */
int fmt_vsnprintf(char *buf, size_t size, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));
int fmt_snprintf(char *buf, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
