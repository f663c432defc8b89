/* printf-style formatting into a bounded buffer.
 * Runs anywhere; reentrant, no state. */
#include "fmt.h"

#include <stdint.h>

struct out {
	char *buf;
	size_t size, len;
};

static void put(struct out *o, char c)
{
	if (o->len + 1 < o->size)
		o->buf[o->len] = c;
	o->len++;
}

static void put_padded(struct out *o, const char *s, size_t n, int width, int left, char pad)
{
	int fill = width > (int)n ? width - (int)n : 0;
	if (!left)
		while (fill-- > 0)
			put(o, pad);
	while (n--)
		put(o, *s++);
	if (left)
		while (fill-- > 0)
			put(o, ' ');
}

static void put_number(struct out *o, uint64_t v, int neg, unsigned base, int upper, int width, int prec,
		       int left, int zero)
{
	char tmp[24];
	const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
	int n = 0;

	if (v == 0 && prec != 0)
		tmp[n++] = '0';
	while (v) {
		tmp[n++] = digits[v % base];
		v /= base;
	}
	while (n < prec && n < (int)sizeof(tmp))
		tmp[n++] = '0';

	int total = n + neg;
	int fill = width > total ? width - total : 0;
	if (!left && !(zero && prec < 0))
		while (fill-- > 0)
			put(o, ' ');
	if (neg)
		put(o, '-');
	if (!left && zero && prec < 0)
		while (fill-- > 0)
			put(o, '0');
	while (n)
		put(o, tmp[--n]);
	if (left)
		while (fill-- > 0)
			put(o, ' ');
}

int fmt_vsnprintf(char *buf, size_t size, const char *fmt, va_list ap)
{
	struct out o = { buf, size, 0 };

	for (const char *p = fmt; *p; p++) {
		if (*p != '%') {
			put(&o, *p);
			continue;
		}
		const char *start = p++;
		int left = 0, zero = 0, width = 0, prec = -1, lng = 0;

		for (;; p++) {
			if (*p == '-')
				left = 1;
			else if (*p == '0')
				zero = 1;
			else
				break;
		}
		if (*p == '*') {
			width = va_arg(ap, int);
			if (width < 0) { /* C11 7.21.6.1p5: a '-' flag and a positive width */
				left = 1;
				width = -width;
			}
			p++;
		}
		while (*p >= '0' && *p <= '9')
			width = width * 10 + (*p++ - '0');
		if (*p == '.') {
			prec = 0;
			p++;
			if (*p == '*') {
				prec = va_arg(ap, int);
				p++;
			}
			while (*p >= '0' && *p <= '9')
				prec = prec * 10 + (*p++ - '0');
		}
		while (*p == 'l' || *p == 'h' || *p == 'z') {
			if (*p == 'l' || *p == 'z')
				lng++;
			else
				lng--;
			p++;
		}

		uint64_t u;
		int64_t s;
		switch (*p) {
		case 'd':
		case 'i':
			s = lng > 0 ? va_arg(ap, int64_t) : va_arg(ap, int);
			if (lng == -1)
				s = (short)s;
			else if (lng <= -2)
				s = (signed char)s;
			put_number(&o, s < 0 ? -(uint64_t)s : (uint64_t)s, s < 0, 10, 0, width, prec, left, zero);
			break;
		case 'u':
		case 'x':
		case 'X':
		case 'o':
			u = lng > 0 ? va_arg(ap, uint64_t) : va_arg(ap, unsigned int);
			if (lng == -1)
				u = (unsigned short)u;
			else if (lng <= -2)
				u = (unsigned char)u;
			put_number(&o, u, 0, *p == 'u' ? 10 : *p == 'o' ? 8 : 16, *p == 'X', width, prec, left,
				   zero);
			break;
		case 'p':
			put(&o, '0');
			put(&o, 'x');
			put_number(&o, (uintptr_t)va_arg(ap, void *), 0, 16, 0, 0, -1, 0, 0);
			break;
		case 'c': {
			char c = (char)va_arg(ap, int);
			put_padded(&o, &c, 1, width, left, ' ');
			break;
		}
		case 's': {
			const char *str = va_arg(ap, const char *);
			if (!str)
				str = "(null)";
			size_t n = 0;
			while ((prec < 0 || n < (size_t)prec) && str[n]) /* never read past prec */
				n++;
			put_padded(&o, str, n, width, left, ' ');
			break;
		}
		case '%':
			put(&o, '%');
			break;
		default:
			/* Unknown or truncated conversion: emit it as written. */
			for (const char *q = start; q <= p && *q; q++)
				put(&o, *q);
			if (!*p)
				p--;
			break;
		}
	}
	if (size)
		buf[o.len < size ? o.len : size - 1] = 0;
	return (int)o.len;
}

int fmt_snprintf(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = fmt_vsnprintf(buf, size, fmt, ap);
	va_end(ap);
	return n;
}
