/*
 * orphans N: the zombie-reaping scenario of bench/compare.sh, run as the
 * only child of a PID 1 (ned or tini) in a fresh PID namespace. Double-forks
 * N grandchildren that exit at once: each middle child exits right after its
 * fork, so every grandchild is re-parented to PID 1, which must reap it.
 * Then waits until no process but PID 1 and itself is left in the namespace
 * (/proc is the namespace's own: unshare --mount-proc), at most 10 s, and
 * prints "orphans: N in <ms> ms, left <count>, zombies <count>".
 */
#include <ctype.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* Counts processes other than PID 1 and this one; *zombies gets those in state Z. */
static int others(int *zombies)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	int n = 0, self = getpid();
	*zombies = 0;
	if (!d)
		return -1;
	while ((e = readdir(d))) {
		if (!isdigit((unsigned char)e->d_name[0]))
			continue;
		int pid = atoi(e->d_name);
		if (pid == 1 || pid == self)
			continue;
		n++;
		char path[64], buf[512];
		snprintf(path, sizeof path, "/proc/%d/stat", pid);
		FILE *f = fopen(path, "r");
		if (!f)
			continue;
		size_t len = fread(buf, 1, sizeof buf - 1, f);
		fclose(f);
		buf[len] = 0;
		char *p = strrchr(buf, ')');
		if (p && p[1] == ' ' && p[2] == 'Z')
			(*zombies)++;
	}
	closedir(d);
	return n;
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: orphans N\n");
		return 2;
	}
	long n = strtol(argv[1], NULL, 10);
	double t0 = now_ms();
	for (long i = 0; i < n; i++) {
		pid_t mid = fork();
		if (mid < 0)
			return 1;
		if (mid == 0) {
			if (fork() < 0)
				_exit(1);
			_exit(0); /* the grandchild exits too, at once */
		}
		if (waitpid(mid, NULL, 0) < 0)
			return 1;
	}
	int left, zombies;
	while ((left = others(&zombies)) > 0 && now_ms() - t0 < 10000)
		usleep(200);
	printf("orphans: %ld in %.3f ms, left %d, zombies %d\n", n, now_ms() - t0, left,
	       zombies);
	return left == 0 ? 0 : 1;
}
