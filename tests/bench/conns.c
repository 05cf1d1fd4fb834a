/* conns: the benchmark's connection-per-answer driver, for the agent
 * listener and, the same way, for HTTP with Connection: close: PROCS
 * processes each open a connection to 127.0.0.1:PORT, send REQUEST (may be
 * empty: HAProxy's agent-check sends nothing), read until the server
 * closes, close with a reset (no TIME_WAIT left to exhaust the ports, as
 * HAProxy's checks do), and start again, for SECONDS; prints the answers
 * per second, all processes together, and the answers that did not begin
 * with PREFIX.
 * Usage: conns PORT SECONDS PROCS PREFIX [REQUEST] */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
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

/* One connection: 1 when the answer began with prefix, 0 when it did not,
 * -1 when there was none. */
static int
one(const struct sockaddr_in *sin, const char *req, const char *prefix)
{
	struct linger lg = {1, 0};
	char buf[4096];
	size_t got = 0;
	ssize_t n;
	int fd, ok = -1;

	fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (const struct sockaddr *)sin, sizeof(*sin)) == 0 &&
	    (*req == '\0' || write(fd, req, strlen(req)) >= 0)) {
		while ((n = read(fd, buf + got, sizeof(buf) - 1 - got)) > 0 &&
		       got + (size_t)n < sizeof(buf) - 1)
			got += (size_t)n;
		buf[got] = '\0';
		if (got > 0)
			ok = strncmp(buf, prefix, strlen(prefix)) == 0;
	}
	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(fd);
	return ok;
}

/* A process's loop until end; its counts on the pipe fd. */
static void
loop(const struct sockaddr_in *sin, double end, const char *req,
     const char *prefix, int fd)
{
	long counts[2] = {0, 0}; /* answers, unexpected */
	int r;

	while (now() < end) {
		r = one(sin, req, prefix);
		counts[0] += r >= 0;
		counts[1] += r != 1;
	}
	if (write(fd, counts, sizeof(counts)) != sizeof(counts))
		_exit(1);
	_exit(0);
}

int
main(int argc, char **argv)
{
	struct sockaddr_in sin;
	long counts[2], total = 0, bad = 0;
	double secs, t0;
	int procs, i, p[2];

	if (argc < 5 || argc > 6 || pipe(p) != 0) {
		fprintf(stderr,
			"usage: conns PORT SECONDS PROCS PREFIX [REQUEST]\n");
		return 2;
	}
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((unsigned short)atoi(argv[1]));
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	secs = atof(argv[2]);
	procs = atoi(argv[3]);
	t0 = now();
	for (i = 0; i < procs; i++)
		if (fork() == 0)
			loop(&sin, t0 + secs, argc == 6 ? argv[5] : "", argv[4],
			     p[1]);
	close(p[1]);
	while (read(p[0], counts, sizeof(counts)) == sizeof(counts)) {
		total += counts[0];
		bad += counts[1];
	}
	while (wait(NULL) > 0)
		;
	printf("%.0f answers/s, %ld unexpected\n", total / (now() - t0), bad);
	return 0;
}
