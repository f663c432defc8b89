/* keel's one logging sink: levels, a [cpuN] prefix, fan-out to registered outputs through one ring.
 * Runs in UEFI boot services, as the guest after launch, and in VMX root; re-entrant per CPU. */
#include "log.h"

#include "fmt.h"
#include "string.h"

/*
 * Why it is built this way. After VMLAUNCH keel's own boot code carries on as the guest, so a call
 * to an output (the firmware console above all) can VM-exit, and the root-mode handler on the same
 * CPU may log; an NMI or exit can also land between any two instructions. A lock held across an
 * output call would then be waited for by the very CPU that holds it. So:
 *
 *  - log_lock protects only the bookkeeping below (ring bytes, ring_head, each output's tail,
 *    sync_to and busy). No critical section calls anything but pure code of this file and fmt.c.
 *  - Every output, buffered or not, is fed from the ring by a *drainer*: the logger that finds the
 *    output idle claims it (busy = 1 + its CPU), copies a piece of the ring out under the lock, and
 *    calls the output with the lock released. It keeps the claim until the output has taken
 *    everything it owes, re-checked under the lock, so a line queued meanwhile is never stranded.
 *  - A logger that finds an output busy (another CPU, or an outer frame of this CPU that this call
 *    interrupted or that this output's own write re-entered) only queues its line: the drainer
 *    delivers it after the piece it is writing.
 *
 * Guarantee: every output receives the ring's bytes exactly once and in ring order (the order in
 * which lines took the lock), whole lines per call while it waits, never two drainers at once. A
 * re-entrant line comes out after the outer line that was being written. A line is lost only when
 * (a) this CPU interrupted itself inside the locked bookkeeping (bounded wait, then give up), or
 * (b) the ring has no room for it in the window of an output that this CPU is already draining
 * (waiting would be waiting for itself). Lost lines are counted and a "lines lost" line takes their
 * place in the ring before the next line that gets in.
 *
 * Synchronous delivery (unbuffered outputs, LOG_WARN/LOG_ERR lines, buffering off, log_flush) means:
 * when the call returns, the output has taken the line, or a drainer is inside that output right
 * now (outer frame or another CPU) and will write it, waiting, before it lets go of the output.
 */

#define LOG_RING_SIZE 16384
/* A bounded wait for a lock this CPU seems to hold itself (an interrupted frame cannot release it;
 * the bound covers CPUs that share an index before their vCPU exists). */
#define LOG_SELF_SPINS (1u << 16)

static char ring[LOG_RING_SIZE];
static uint64_t ring_head; /* bytes ever queued */
static unsigned lines_lost;
static volatile unsigned log_lock; /* 0 free, else 1 + the holder's CPU index */

static struct output {
	log_output_fn write; /* 0: free slot */
	log_try_fn try_write; /* 0: no feeding without waiting */
	int buffered;
	uint64_t tail; /* next ring byte this output has not taken */
	uint64_t sync_to; /* bytes before this are written with write (waiting) */
	unsigned busy; /* 0, or 1 + the CPU whose drainer is inside this output */
	unsigned gen; /* bumped when the slot is freed: a drainer never touches a reused slot */
} outputs[LOG_MAX_SINKS];

static enum log_level max_level = LOG_INFO;
static unsigned (*cpu_fn)(void);
static int buffering = 1;

static unsigned this_cpu(void) { return cpu_fn ? cpu_fn() : 0; }

/* Takes log_lock; returns 0 (not taken) only when this CPU appears to hold it already. */
static int log_lock_take(unsigned me)
{
	unsigned spins = 0;
	for (;;) {
		unsigned freev = 0;
		if (__atomic_compare_exchange_n(&log_lock, &freev, me + 1, 0, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
			return 1;
		/* Without a CPU function no root mode exists yet: nothing can interrupt a holder. */
		if (cpu_fn && freev == me + 1 && ++spins > LOG_SELF_SPINS)
			return 0;
		__asm__ volatile("pause");
	}
}

static void log_lock_drop(void) { __atomic_store_n(&log_lock, 0, __ATOMIC_RELEASE); }

/* Under the lock: copies ring bytes from pos, at most LOG_LINE_MAX, cut after a line end if more follow. */
static size_t ring_copy(uint64_t pos, char *buf)
{
	size_t n = (size_t)(ring_head - pos);
	if (n > LOG_LINE_MAX)
		n = LOG_LINE_MAX;
	for (size_t i = 0; i < n; i++)
		buf[i] = ring[(pos + i) % LOG_RING_SIZE];
	if (pos + n < ring_head) {
		size_t k = n;
		while (k && buf[k - 1] != '\n')
			k--;
		if (k)
			n = k;
	}
	return n;
}

static void ring_put(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		ring[(ring_head + i) % LOG_RING_SIZE] = s[i];
	ring_head += n;
}

/* Under the lock: claims output o for this CPU if it is idle and has work; returns the claim's gen + 1. */
static unsigned output_claim(struct output *o, unsigned me)
{
	if (!o->write || o->busy || o->tail >= ring_head)
		return 0;
	if (o->tail >= o->sync_to && !o->try_write)
		return 0;
	o->busy = me + 1;
	return o->gen + 1;
}

/*
 * Called without the lock, with o claimed (claim = output_claim's value). Feeds o from the ring:
 * waiting (write) up to sync_to, then without waiting (try_write) until the device takes nothing.
 * Releases the claim under the lock once nothing it owes is left.
 */
static void output_drain(struct output *o, unsigned claim, unsigned me)
{
	char piece[LOG_LINE_MAX];
	int stalled = 0;

	/* The claim keeps other drainers away and must be given back, so this wait has no bound:
	 * a frame that holds the lock never calls out, so it is never beneath a drainer. */
	while (!log_lock_take(me))
		__asm__ volatile("pause");
	for (;;) {
		if (o->gen + 1 != claim)
			break; /* the slot was freed while we wrote: it is not ours any more */
		if (o->tail >= ring_head)
			break;
		int wait = o->tail < o->sync_to;
		if (!wait && (stalled || !o->try_write))
			break;
		uint64_t from = o->tail;
		size_t n = ring_copy(from, piece);
		log_output_fn write = o->write;
		log_try_fn try_write = o->try_write;
		log_lock_drop();
		size_t took = n;
		if (wait)
			write(piece, n);
		else
			took = try_write(piece, n);
		while (!log_lock_take(me))
			__asm__ volatile("pause");
		if (o->gen + 1 != claim)
			break;
		o->tail = from + took;
		stalled = !wait && took == 0;
	}
	if (o->gen + 1 == claim)
		o->busy = 0;
	log_lock_drop();
}

/* Under the lock, which it drops: drains every output in claims[] (0 = not claimed). */
static void drain_claimed(const unsigned *claims, unsigned me)
{
	log_lock_drop();
	for (int i = 0; i < LOG_MAX_SINKS; i++)
		if (claims[i])
			output_drain(&outputs[i], claims[i], me);
}

static int add_output(log_try_fn try_write, log_output_fn write, int buffered)
{
	unsigned me = this_cpu();
	int slot = -1;

	if (!log_lock_take(me))
		return -1;
	for (int i = 0; i < LOG_MAX_SINKS && slot < 0; i++)
		if (outputs[i].write == write)
			slot = i;
	for (int i = 0; i < LOG_MAX_SINKS && slot < 0; i++)
		if (!outputs[i].write) {
			struct output *o = &outputs[i];
			o->write = write;
			o->try_write = try_write;
			o->buffered = buffered;
			o->tail = o->sync_to = ring_head;
			o->busy = 0;
			slot = i;
		}
	log_lock_drop();
	return slot;
}

int log_add_output(log_output_fn fn) { return add_output(0, fn, 0); }

int log_add_buffered_output(log_try_fn try_write, log_output_fn write) { return add_output(try_write, write, 1); }

void log_remove_output(log_output_fn fn)
{
	unsigned me = this_cpu();

	for (int i = 0; i < LOG_MAX_SINKS; i++) {
		struct output *o = &outputs[i];
		if (!log_lock_take(me))
			return;
		if (o->write != fn || !fn) {
			log_lock_drop();
			continue;
		}
		/* Hand it what it is still owed first, unless a drainer is inside it right now. */
		o->sync_to = ring_head;
		unsigned claim = output_claim(o, me);
		log_lock_drop();
		if (claim)
			output_drain(o, claim, me);
		if (!log_lock_take(me))
			return;
		if (o->write == fn) {
			o->write = 0;
			o->try_write = 0;
			o->busy = 0;
			o->gen++;
		}
		log_lock_drop();
	}
}

void log_flush(void)
{
	unsigned me = this_cpu(), claims[LOG_MAX_SINKS];

	if (!log_lock_take(me))
		return;
	for (int i = 0; i < LOG_MAX_SINKS; i++) {
		outputs[i].sync_to = ring_head;
		claims[i] = output_claim(&outputs[i], me);
	}
	drain_claimed(claims, me);
}

void log_set_level(enum log_level max) { max_level = max; }

void log_set_cpu_fn(unsigned (*fn)(void)) { cpu_fn = fn; }

void log_set_buffering(int on) { buffering = on; }

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

/*
 * Under the lock: makes room for need more bytes in every output's window. Returns 1 with the lock
 * held and room made, or 0 with the lock dropped when the line must be given up. An idle output
 * that is too far behind is drained here (waiting), without the lock; one drained by another CPU
 * is waited for; one this CPU is draining cannot be waited for.
 */
static int ring_make_room(size_t need, unsigned me)
{
	for (int i = 0; i < LOG_MAX_SINKS; i++) {
		struct output *o = &outputs[i];
		while (o->write && ring_head + need - o->tail > LOG_RING_SIZE) {
			if (!o->busy) {
				o->sync_to = ring_head;
				unsigned claim = output_claim(o, me);
				log_lock_drop();
				if (claim)
					output_drain(o, claim, me);
			} else if (o->busy != me + 1) {
				log_lock_drop();
				__asm__ volatile("pause");
			} else {
				__atomic_add_fetch(&lines_lost, 1, __ATOMIC_RELAXED);
				log_lock_drop();
				return 0;
			}
			if (!log_lock_take(me)) {
				__atomic_add_fetch(&lines_lost, 1, __ATOMIC_RELAXED);
				return 0;
			}
		}
	}
	return 1;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	char line[LOG_LINE_MAX], note[64];
	unsigned claims[LOG_MAX_SINKS];
	va_list ap;

	if (level > max_level)
		return;
	unsigned me = this_cpu();
	va_start(ap, fmt);
	size_t n = log_format_line(line, sizeof(line), me, fmt, ap);
	va_end(ap);

	if (!log_lock_take(me)) {
		__atomic_add_fetch(&lines_lost, 1, __ATOMIC_RELAXED);
		return;
	}
	/* Room for the line and a possible "lines lost" note: the note is at most sizeof(note). */
	if (!ring_make_room(n + sizeof(note), me))
		return;
	unsigned lost = __atomic_exchange_n(&lines_lost, 0, __ATOMIC_RELAXED);
	if (lost) {
		size_t k = (size_t)fmt_snprintf(note, sizeof(note), "[cpu%u] log: %u lines lost (logger re-entered)\n", me,
						lost);
		ring_put(note, k < sizeof(note) ? k : sizeof(note) - 1);
	}
	ring_put(line, n);
	int sync_all = !buffering || level <= LOG_WARN;
	for (int i = 0; i < LOG_MAX_SINKS; i++) {
		struct output *o = &outputs[i];
		if (o->write && (sync_all || !o->buffered))
			o->sync_to = ring_head;
		claims[i] = output_claim(o, me);
	}
	drain_claimed(claims, me);
}
