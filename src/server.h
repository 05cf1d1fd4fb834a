/* server: the standalone server, one process, one event loop: accepts until
 * SIGTERM/SIGINT; connections without a request hold no check slot, and the
 * oldest of them makes room when the table is full; at most
 * --max-connections check runs at once, as the descriptors allow. */
#ifndef SERVER_H
#define SERVER_H

#include "options.h"

/* Listens on the nfds listening sockets from first_fd (systemd Accept=no),
 * or on o->listener when nfds is 0.  notify_socket (NULL: none) hears
 * READY=1 once listening and STOPPING=1 at shutdown.  Scripts get the
 * descriptor limit script_nofile (0: ours).  Returns the exit status. */
int server_run(const struct options *o, int first_fd, int nfds,
	       const char *notify_socket, unsigned long script_nofile);

#endif
