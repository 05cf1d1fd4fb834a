/* ref-server: the benchmark's reference, the least a health checker can do
 * per request: sequential accept, one read, two blocking connects, a fixed
 * answer, close.  Usage: ref-server LISTEN_PORT CHECK_PORT CHECK_PORT */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static const char answer[] = "HTTP/1.1 200 OK\r\nContent-Type: text/plain; "
			     "charset=utf-8\r\nContent-Length: 2\r\n"
			     "Connection: close\r\n\r\nOK";

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

int
main(int argc, char **argv)
{
	struct sockaddr_in sin;
	int lfd, on = 1, i;

	if (argc != 4)
		return 2;
	signal(SIGPIPE, SIG_IGN);
	sin = loopback(atoi(argv[1]));
	lfd = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
	if (bind(lfd, (struct sockaddr *)&sin, sizeof(sin)) == -1 ||
	    listen(lfd, 1024) == -1)
		return 1;
	for (;;) {
		char buf[8192];
		int c = accept(lfd, NULL, NULL);

		if (c == -1)
			continue;
		if (read(c, buf, sizeof(buf)) > 0) {
			for (i = 2; i <= 3; i++) {
				struct sockaddr_in t = loopback(atoi(argv[i]));
				int s = socket(AF_INET, SOCK_STREAM, 0);

				connect(s, (struct sockaddr *)&t, sizeof(t));
				close(s);
			}
			if (write(c, answer, sizeof(answer) - 1) < 0)
				;
		}
		close(c);
	}
}
