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

struct serve_hooks {
	/* Once, when the connection stops waiting for a head: a complete one
	 * came, or a bad one is being answered (NULL: no call). */
	void (*head)(void *ctx, struct conn *c);
	/* Once, at the end (from the loop, or last thing in a read this
	 * interface was asked for); the caller then frees the conn
	 * with serve_free() and closes in_fd and out_fd. */
	void (*done)(void *ctx, struct conn *c, enum serve_outcome outcome);
};

/* A conn, its deadline running; nothing is read or watched until
 * serve_watch() or serve_read_first().  peer: the client's address from
 * accept(), or NULL to ask in_fd.  Until the head arrives a conn holds no
 * buffer. */
struct conn *serve_start(struct loop *loop, struct flight *fl,
			 const struct options *o, int in_fd, int out_fd,
			 const struct sockaddr_storage *peer,
			 const struct serve_hooks *hooks, void *ctx);
/* The loop watches the conn's input from now on; -1 if it cannot. */
int serve_watch(struct conn *c);
/* Stops a conn wherever it is (no done() call) and frees it. */
void serve_free(struct conn *c);
/* What admission (and the one-shot's SIGTERM) asks of a conn. */
/* Shutdown: a conn still waiting for its first byte closes now. */
int serve_is_idle(const struct conn *c);
/* Reads what the client has sent so far, at once: before a connection
 * without a complete head is closed to make room, its head may be waiting
 * unread.  Hooks may be called from here. */
void serve_read_now(struct conn *c);
/* The standalone server, right after accept(), instead of serve_watch():
 * the head has usually come with the handshake, and a read now saves a
 * wake-up of the loop (on a non-blocking socket only); the conn is
 * watched only if the exchange is not over by the end.  Hooks may be
 * called from here, done() last. */
void serve_read_first(struct conn *c);
/* The standalone server: a request whose client resets runs nothing, nor
 * does one whose client closes while it waits in the queue for a run. */
void serve_watch_gone(struct conn *c);
/* The standalone server: HTTP/1.1 connections stay open between requests
 * (RFC 9112 9.3), and idle(ctx, c) is called whenever one waits for its
 * next request as it waited for its first; idle NULL (shutdown): the
 * answer in progress is the last.  One-shot forms never call this: a
 * process per connection must not be held by an idle client. */
void serve_keep_alive(struct conn *c, void (*idle)(void *ctx, struct conn *c));
/* The peer as logs show it. */
const char *serve_peer(struct conn *c);

#endif
