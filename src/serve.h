/* serve: one HTTP exchange on one connection, in every mode: read the head
 * within the deadline, get a verdict, answer, shut down, drain, done. */
#ifndef SERVE_H
#define SERVE_H

#include <sys/socket.h>

#include "flight.h"
#include "loop.h"
#include "options.h"

enum serve_outcome {
	SERVE_ANSWERED, /* a response was written, whatever its status */
	SERVE_QUIET,    /* the client sent nothing: closed without a word */
	SERVE_FAILED    /* the answer could not be written */
};

struct conn;

/* Starts serving; done() is called once from the loop, after which the
 * caller frees the conn with serve_free() and closes in_fd and out_fd.
 * peer: the client's address from accept(), or NULL to ask in_fd. */
struct conn *
serve_start(struct loop *loop, struct flight *fl, const struct options *o,
	    int in_fd, int out_fd, const struct sockaddr_storage *peer,
	    void (*done)(void *ctx, struct conn *c, enum serve_outcome outcome),
	    void *ctx);
/* Stops a conn wherever it is (no done() call) and frees it. */
void serve_free(struct conn *c);
/* Shutdown: a conn still waiting for its first byte closes now. */
int serve_is_idle(const struct conn *c);

#endif
