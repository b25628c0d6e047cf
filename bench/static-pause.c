/*
 * static-pause: the "live child" of ned's memory benchmark. It sleeps in
 * pause() until a signal ends it (ned sends SIGTERM when it exits), and is
 * linked statically so 1,000 of them cost the machine little: no dynamic
 * loader, no shared-library mappings.
 *
 * Built by bench/memory.sh (gcc -static when static glibc is installed).
 */
#include <unistd.h>

int main(void)
{
	for (;;)
		pause();
}
