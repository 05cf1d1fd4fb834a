#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "peer.h"

int
peer_format(const struct sockaddr_storage *ss, char *out, size_t cap)
{
	char host[INET6_ADDRSTRLEN] = "?";

	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *sin = (const void *)ss;

		inet_ntop(AF_INET, &sin->sin_addr, host, sizeof(host));
		snprintf(out, cap, "%s:%u", host, ntohs(sin->sin_port));
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const void *)ss;

		inet_ntop(AF_INET6, &sin6->sin6_addr, host, sizeof(host));
		snprintf(out, cap, "[%s]:%u", host, ntohs(sin6->sin6_port));
	} else {
		return -1;
	}
	return 0;
}

void
peer_describe(int fd, const struct sockaddr_storage *peer, char *out,
	      size_t cap)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	snprintf(out, cap, "-");
	memset(&ss, 0, sizeof(ss));
	if (peer != NULL)
		ss = *peer;
	else if (getpeername(fd, (struct sockaddr *)&ss, &len) == -1)
		return;
	if (peer_format(&ss, out, cap) == -1 && ss.ss_family == AF_UNIX)
		snprintf(out, cap, "unix");
}

void
peer_close_reset(int fd)
{
	static const struct linger reset = {1, 0};

	setsockopt(fd, SOL_SOCKET, SO_LINGER, &reset, sizeof(reset));
	close(fd);
}
