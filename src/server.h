/* server: the standalone server, one process, one event loop: accepts until
 * SIGTERM/SIGINT, at most --max-connections requests in progress. */
#ifndef SERVER_H
#define SERVER_H

#include "options.h"

/* Listens on the nfds listening sockets from first_fd (systemd Accept=no),
 * or on o->listener when nfds is 0.  notify_socket (NULL: none) hears
 * READY=1 once listening and STOPPING=1 at shutdown.  Returns the exit
 * status. */
int server_run(const struct options *o, int first_fd, int nfds,
	       const char *notify_socket);

#endif
