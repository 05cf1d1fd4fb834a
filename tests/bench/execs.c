/* execs: the benchmark's one-shot driver: runs CMD N times, one after the
 * other, each with the request on a pipe as its stdin and its stdout and
 * stderr on /dev/null, as inetd would; prints the wall-clock microseconds
 * per request, the children's CPU per request and their page faults per
 * request (minor and major, the forked child's few before its exec
 * included: the same for every command measured).
 * Usage: execs N REQUEST CMD ARGS... */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static double
cpu(long *faults)
{
	struct rusage ru;

	getrusage(RUSAGE_CHILDREN, &ru);
	*faults = ru.ru_minflt + ru.ru_majflt;
	return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
	       ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

int
main(int argc, char **argv)
{
	int i, n, null, bad = 0;
	const char *req;
	double t0, c0, c1;
	long f0, f1;

	if (argc < 4)
		return 2;
	n = atoi(argv[1]);
	req = argv[2];
	null = open("/dev/null", O_WRONLY);
	t0 = now();
	c0 = cpu(&f0);
	for (i = 0; i < n; i++) {
		int p[2], st;
		pid_t pid;

		if (pipe(p) == -1)
			return 1;
		/* The whole request is in the pipe before the start, as the
		 * kernel has it in the socket when inetd accepts. */
		if (write(p[1], req, strlen(req)) < 0)
			return 1;
		close(p[1]);
		pid = fork();
		if (pid == 0) {
			dup2(p[0], 0);
			dup2(null, 1);
			dup2(null, 2);
			close(p[0]);
			execv(argv[3], argv + 3);
			_exit(127);
		}
		close(p[0]);
		if (pid == -1 || waitpid(pid, &st, 0) != pid ||
		    !WIFEXITED(st) || WEXITSTATUS(st) != 0)
			bad++;
	}
	c1 = cpu(&f1);
	printf("%.0f us/request wall, %.0f us/request CPU, %d of %d failed, "
	       "%.1f page faults/request\n",
	       (now() - t0) * 1e6 / n, (c1 - c0) * 1e6 / n, bad, n,
	       (double)(f1 - f0) / n);
	return bad != 0;
}
