/*
 * static-term: the task of ned's shutdown benchmark. It says "up" once its
 * SIGTERM is blocked (so the signal cannot end it early), waits for
 * SIGTERM, then takes MS milliseconds (default 200) to "clean up" before
 * exiting 0 — a service with a known stop time.
 *
 * Built by bench/shutdown.sh (gcc -static when static glibc is installed).
 */
#include <signal.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	long ms = argc > 1 ? atol(argv[1]) : 200;
	sigset_t set;
	int sig;
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigprocmask(SIG_BLOCK, &set, NULL);
	if (write(1, "up\n", 3) != 3)
		return 1;
	sigwait(&set, &sig);
	nanosleep(&ts, NULL);
	return 0;
}
