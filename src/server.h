/* server: the standalone server, one process, one event loop: accepts until
 * SIGTERM/SIGINT; connections without a request hold no check slot, and the
 * oldest of them makes room when the table is full; at most
 * --max-connections check runs at once, as the descriptors allow. */
#ifndef SERVER_H
#define SERVER_H

struct runtime;
struct sd;

/* Listens on the nfds listening sockets from first_fd (systemd Accept=no),
 * or on rt->o->listener when nfds is 0, and runs on rt (a RUNTIME_SERVER),
 * which the caller closes after.  sd's notify socket hears READY=1 once
 * listening and STOPPING=1 at shutdown.  Returns the exit status. */
int server_run(struct runtime *rt, int first_fd, int nfds, const struct sd *sd);

#endif
