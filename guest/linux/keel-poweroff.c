/* keel-poweroff: ends the emulator run from the Linux guest's user mode (static, in keel's
 * initramfs). Without ACPI (OVMF on Bochs 2.7 has none) a Linux power-off only halts the machine, so
 * this writes "Shutdown" to Bochs's shutdown port 0x8900 first, then falls back to `poweroff -f`. */
#include <stdio.h>
#include <sys/io.h>
#include <termios.h>
#include <unistd.h>

#define SHUTDOWN_PORT 0x8900

int main(void)
{
	static const char word[] = "Shutdown";
	unsigned lo, hi;

	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	printf("keel-poweroff: tsc %llu, writing Shutdown to port 0x%x\n",
	       (unsigned long long)hi << 32 | lo, SHUTDOWN_PORT);
	fflush(stdout);
	/* The serial console may still hold queued output that Bochs would never send: wait for it
	 * (on a tty, tcdrain returns once the UART's transmitter is empty). */
	if (isatty(STDOUT_FILENO))
		tcdrain(STDOUT_FILENO);
	if (ioperm(SHUTDOWN_PORT, 1, 1) == 0) {
		for (const char *p = word; *p; p++)
			outb((unsigned char)*p, SHUTDOWN_PORT);
		usleep(200 * 1000);
	} else {
		perror("keel-poweroff: ioperm");
	}
	/* Still running: not Bochs (or a Bochs without the port). */
	printf("keel-poweroff: still running; poweroff -f\n");
	fflush(stdout);
	execl("/bin/busybox", "poweroff", "-f", (char *)NULL);
	perror("keel-poweroff: exec /bin/busybox poweroff");
	return 1;
}
