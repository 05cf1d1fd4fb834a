/* ref-server: the benchmark's reference, the least a health checker can do
 * per request, one request at a time: one read, two blocking connects, a
 * fixed answer; the connection closed after it when the request says
 * "Connection: close" (or is HTTP/1.0 without keep-alive), else kept and
 * polled for its next request.  Usage: ref-server LISTEN_PORT CHECK CHECK */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAXCONN 1024

static const char answer_close[] = "HTTP/1.1 200 OK\r\nContent-Type: "
				   "text/plain; charset=utf-8\r\n"
				   "Content-Length: 2\r\n"
				   "Connection: close\r\n\r\nOK";
static const char answer_keep[] = "HTTP/1.1 200 OK\r\nContent-Type: "
				  "text/plain; charset=utf-8\r\n"
				  "Content-Length: 2\r\n\r\nOK";

static struct sockaddr_in
loopback(int port)
{
	struct sockaddr_in sin;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((unsigned short)port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	return sin;
}

/* A crude look at the head, enough for wrk and curl: closes unless it is
 * HTTP/1.1 without "Connection: close". */
static int
keeps(const char *buf, ssize_t n)
{
	const char *p, *end = buf + n;

	if (n < 14 || memmem(buf, (size_t)n, "HTTP/1.1\r\n", 10) == NULL)
		return 0;
	for (p = buf; p + 18 <= end; p++)
		if (strncasecmp(p, "\nConnection: close", 18) == 0)
			return 0;
	return 1;
}

/* One request on c: 1 when c stays open for the next. */
static int
serve(int c, char **ports)
{
	char buf[8192];
	ssize_t n = read(c, buf, sizeof(buf));
	int i, keep;

	if (n <= 0)
		return 0;
	for (i = 0; i < 2; i++) {
		struct sockaddr_in t = loopback(atoi(ports[i]));
		int s = socket(AF_INET, SOCK_STREAM, 0);

		connect(s, (struct sockaddr *)&t, sizeof(t));
		close(s);
	}
	keep = keeps(buf, n);
	if (keep ? write(c, answer_keep, sizeof(answer_keep) - 1) < 0
		 : write(c, answer_close, sizeof(answer_close) - 1) < 0)
		return 0;
	return keep;
}

int
main(int argc, char **argv)
{
	static struct pollfd pfd[MAXCONN + 1];
	struct sockaddr_in sin;
	int lfd, on = 1, i, n = 1;

	if (argc != 4)
		return 2;
	signal(SIGPIPE, SIG_IGN);
	sin = loopback(atoi(argv[1]));
	lfd = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
	if (bind(lfd, (struct sockaddr *)&sin, sizeof(sin)) == -1 ||
	    listen(lfd, 1024) == -1)
		return 1;
	pfd[0].fd = lfd;
	pfd[0].events = POLLIN;
	for (;;) {
		/* Nothing kept open: accept at once, as a close-mode server
		 * does, without a poll per connection. */
		if (n > 1 && poll(pfd, (nfds_t)n, -1) == -1)
			continue;
		for (i = n - 1; i >= 1; i--)
			if (pfd[i].revents != 0 &&
			    !serve(pfd[i].fd, argv + 2)) {
				close(pfd[i].fd);
				pfd[i] = pfd[--n];
			}
		if (n == 1 || pfd[0].revents != 0) {
			int c = accept(lfd, NULL, NULL);

			if (c == -1)
				continue;
			if (serve(c, argv + 2) && n <= MAXCONN) {
				pfd[n].fd = c;
				pfd[n++].events = POLLIN;
			} else {
				close(c);
			}
		}
	}
}
