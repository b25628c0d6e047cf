/*
 * static-true: the "short-lived static program" of ned's start benchmark.
 * It exits 0 and does nothing else, so a benchmark starting it measures
 * process creation, exec and exit, not dynamic linking or program work.
 *
 * Built by bench/build-static.sh, normally against static glibc
 * (gcc -static). Where no static libc is installed the script defines
 * NED_NOSTDLIB and links with -nostdlib: then _start below makes the
 * exit_group system call itself.
 */
#ifndef NED_NOSTDLIB
int main(void)
{
	return 0;
}
#else
void _start(void)
{
#if defined(__x86_64__)
	/* exit_group(0): syscall number 231 in rax, status in rdi. */
	__asm__ volatile("mov $231, %eax\n\txor %edi, %edi\n\tsyscall");
#elif defined(__aarch64__)
	/* exit_group(0): syscall number 94 in x8, status in x0. */
	__asm__ volatile("mov x8, #94\n\tmov x0, #0\n\tsvc #0");
#else
#error "static-true: add the exit_group call for this architecture"
#endif
	for (;;)
		;
}
#endif
