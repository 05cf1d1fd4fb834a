/* listen: a test fixture TCP listener.  Binds ADDR (default 127.0.0.1) on
 * port PORT (default 0: the kernel picks), prints the port, then accepts and
 * closes connections until killed.  With -n it never accepts: connections
 * stay in the backlog. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int
main(int argc, char **argv)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
	socklen_t len;
	int fd, on = 1, noaccept = 0, backlog = SOMAXCONN;
	const char *addr = "127.0.0.1";
	int port = 0;

	if (argc > 1 && strcmp(argv[1], "-n") == 0) {
		noaccept = 1;
		backlog = 0;
		argv++;
		argc--;
	}
	if (argc > 1)
		addr = argv[1];
	if (argc > 2)
		port = atoi(argv[2]);
	memset(&ss, 0, sizeof(ss));
	if (strchr(addr, ':') != NULL) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((unsigned short)port);
		if (inet_pton(AF_INET6, addr, &sin6->sin6_addr) != 1)
			return 2;
		len = sizeof(*sin6);
	} else {
		sin->sin_family = AF_INET;
		sin->sin_port = htons((unsigned short)port);
		if (inet_pton(AF_INET, addr, &sin->sin_addr) != 1)
			return 2;
		len = sizeof(*sin);
	}
	fd = socket(ss.ss_family, SOCK_STREAM, 0);
	if (fd == -1)
		return 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
	if (bind(fd, (struct sockaddr *)&ss, len) == -1 ||
	    listen(fd, backlog) == -1) {
		perror("listen");
		return 1;
	}
	len = sizeof(ss);
	getsockname(fd, (struct sockaddr *)&ss, &len);
	printf("%d\n", ntohs(ss.ss_family == AF_INET6 ? sin6->sin6_port
						      : sin->sin_port));
	fflush(stdout);
	for (;;) {
		int c;

		if (noaccept) {
			pause();
			continue;
		}
		c = accept(fd, NULL, NULL);
		if (c >= 0)
			close(c);
	}
}
