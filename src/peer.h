/* peer: a socket address as the logs show it (1.2.3.4:80, [::1]:80), and
 * the reset close that leaves no TIME_WAIT behind; libc only, no state. */
#ifndef PEER_H
#define PEER_H

#include <stddef.h>
#include <sys/socket.h>

/* Writes an IPv4 or IPv6 address with its port into out; -1 (out as it
 * was) for any other family. */
int peer_format(const struct sockaddr_storage *ss, char *out, size_t cap);
/* The client on fd: peer as accept() gave it, or NULL to ask the socket;
 * "unix" for a local one, "-" when it cannot be told. */
void peer_describe(int fd, const struct sockaddr_storage *peer, char *out,
		   size_t cap);
/* Closes a TCP socket with a reset (SO_LINGER 0): a FIN would hold its
 * port in TIME_WAIT for a minute, which a flood of them would use up. */
void peer_close_reset(int fd);

#endif
