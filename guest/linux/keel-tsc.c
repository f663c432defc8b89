/* keel-tsc: prints the time-stamp counter in decimal (static, in keel's initramfs). On Bochs the TSC
 * advances one tick per emulated instruction, so /init uses it to say how far the boot got. */
#include <stdio.h>

int main(void)
{
	unsigned lo, hi;

	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	printf("%llu\n", (unsigned long long)hi << 32 | lo);
	return 0;
}
