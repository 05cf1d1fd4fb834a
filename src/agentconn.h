/* agentconn: one HAProxy agent-check exchange on one connection, in every
 * mode: the checks start at once, what the client sends is read and
 * dropped meanwhile, one line of agent words is written, then close. */
#ifndef AGENTCONN_H
#define AGENTCONN_H

#include <sys/socket.h>

#include "flight.h"
#include "loop.h"
#include "options.h"
#include "serve.h"

struct agent_conn;

struct agent_hooks {
	/* Once, when a whole line has come (HAProxy's agent-send) before
	 * the answer is out: the client speaks, as an HTTP client that sent
	 * its head (NULL: no call). */
	void (*spoke)(void *ctx);
	/* Once, when the line is out and the connection only waits for the
	 * client to close (NULL: no call). */
	void (*answered)(void *ctx);
	/* Once, from the loop, at the end; the caller then frees the conn
	 * with agentconn_free() and closes in_fd and out_fd. */
	void (*done)(void *ctx, enum serve_outcome outcome);
};

/* Starts the exchange.  peer: the client's address from accept(), or NULL
 * to ask in_fd.  watch_gone: a client that resets runs nothing (the
 * standalone server). */
struct agent_conn *
agentconn_start(struct loop *loop, struct flight *fl, const struct options *o,
		int in_fd, int out_fd, const struct sockaddr_storage *peer,
		int watch_gone, const struct agent_hooks *hooks, void *ctx);
/* Stops a conn wherever it is (no done() call) and frees it. */
void agentconn_free(struct agent_conn *c);
/* Reads what the client has sent so far, at once (hooks may be called). */
void agentconn_read_now(struct agent_conn *c);
/* The peer as logs show it. */
const char *agentconn_peer(struct agent_conn *c);

#endif
