/* interleave ROUNDS CMD...: runs each command once in turn, ROUNDS times
 * (posix_spawn, then waitpid; stdin, stdout and stderr on /dev/null), and
 * prints each command's median, 10th percentile and fastest wall time in
 * ms, one line each: "median p10 min".
 *
 * For short commands on a shared machine: hyperfine runs all of one
 * command's runs before the other's, so a load that changes between them
 * moves the ratio (bench/README.md, startup.sh). Here neighbouring runs of
 * the two commands are microseconds apart. A command is split at spaces;
 * its first word is an absolute path. */
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

extern char **environ;

enum { MAX_CMDS = 8, MAX_WORDS = 32 };

static int by_value(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static double now_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

int main(int argc, char **argv)
{
	int rounds = argc > 1 ? atoi(argv[1]) : 0, n = argc - 2;
	if (rounds < 1 || n < 1 || n > MAX_CMDS) {
		fprintf(stderr, "usage: interleave ROUNDS CMD... (at most %d)\n", MAX_CMDS);
		return 2;
	}
	char *words[MAX_CMDS][MAX_WORDS + 1] = {{0}};
	double *times[MAX_CMDS];
	for (int c = 0; c < n; c++) {
		int w = 0;
		for (char *p = strtok(argv[c + 2], " "); p && w < MAX_WORDS; p = strtok(NULL, " "))
			words[c][w++] = p;
		times[c] = calloc(rounds, sizeof(double));
		if (!w || !times[c])
			return 2;
	}
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	for (int fd = 0; fd < 3; fd++)
		posix_spawn_file_actions_addopen(&fa, fd, "/dev/null", fd ? O_WRONLY : O_RDONLY, 0);
	for (int r = 0; r < rounds; r++) {
		for (int c = 0; c < n; c++) {
			pid_t pid;
			int status;
			double t0 = now_ms();
			if (posix_spawn(&pid, words[c][0], &fa, NULL, words[c], environ)) {
				perror(words[c][0]);
				return 1;
			}
			if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status)) {
				fprintf(stderr, "interleave: %s failed\n", words[c][0]);
				return 1;
			}
			times[c][r] = now_ms() - t0;
		}
	}
	for (int c = 0; c < n; c++) {
		qsort(times[c], rounds, sizeof(double), by_value);
		printf("%.4f %.4f %.4f\n", times[c][rounds / 2], times[c][rounds / 10], times[c][0]);
	}
	return 0;
}
