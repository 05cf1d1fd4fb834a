/* ref-oneshot: the benchmark's one-shot reference: read a request from
 * stdin, two blocking connects, a fixed answer on stdout, exit.
 * Usage: ref-oneshot CHECK_PORT CHECK_PORT */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static const char answer[] = "HTTP/1.1 200 OK\r\nContent-Type: text/plain; "
			     "charset=utf-8\r\nContent-Length: 2\r\n"
			     "Connection: close\r\n\r\nOK";

int
main(int argc, char **argv)
{
	char buf[8192];
	int i;

	if (argc != 3 || read(0, buf, sizeof(buf)) <= 0)
		return 2;
	for (i = 1; i <= 2; i++) {
		struct sockaddr_in t;
		int s = socket(AF_INET, SOCK_STREAM, 0);

		memset(&t, 0, sizeof(t));
		t.sin_family = AF_INET;
		t.sin_port = htons((unsigned short)atoi(argv[i]));
		t.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		connect(s, (struct sockaddr *)&t, sizeof(t));
		close(s);
	}
	return write(1, answer, sizeof(answer) - 1) < 0;
}
