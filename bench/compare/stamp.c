/*
 * stamp [FILE]: the "crashing service" of bench/compare.sh's restart
 * scenario. Appends "S <ns>" (CLOCK_MONOTONIC at start) and "E <ns>" (just
 * before exiting) to FILE (default ./stamp.log, the service directory for
 * runit, which runs ./run with no arguments; s6-supervise passes the
 * service name, so there FILE is named after the service), then exits 1. The
 * restart latency is the next run's S minus the previous run's E.
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void mark(int fd, char what)
{
	struct timespec ts;
	char line[64];
	clock_gettime(CLOCK_MONOTONIC, &ts);
	int n = snprintf(line, sizeof line, "%c %lld\n", what,
			 (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec);
	if (n > 0 && write(fd, line, (size_t)n) != n)
		_exit(2);
}

int main(int argc, char **argv)
{
	const char *path = argc > 1 ? argv[1] : "stamp.log";
	int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (fd < 0)
		return 2;
	mark(fd, 'S');
	mark(fd, 'E');
	return 1;
}
