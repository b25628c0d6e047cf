/*
 * static-lines ID N: the fast log writer of ned's log benchmark. Writes N
 * lines "ID <number>, a line of a log throughput test" to stdout, gathered
 * in 64 KiB writes so that the writer, not ned, is never the bottleneck.
 * Every line is complete; the number counts from 0, so a reader can check
 * that no line was lost, cut or reordered.
 *
 * Built by bench/logs.sh (gcc -static when static glibc is installed).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static char buf[64 * 1024];

static int flush(size_t len)
{
	size_t done = 0;
	while (done < len) {
		ssize_t n = write(1, buf + done, len - done);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		done += (size_t)n;
	}
	return 0;
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: static-lines ID N\n");
		return 2;
	}
	const char *id = argv[1];
	long n = strtol(argv[2], NULL, 10);
	size_t len = 0;
	for (long i = 0; i < n; i++) {
		if (sizeof buf - len < 256) {
			if (flush(len))
				return 1;
			len = 0;
		}
		int w = snprintf(buf + len, sizeof buf - len,
				 "%.32s %ld, a line of a log throughput test\n", id, i);
		if (w < 0)
			return 1;
		len += (size_t)w;
	}
	return flush(len) ? 1 : 0;
}
