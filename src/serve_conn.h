/* serve_conn: the conn of serve, shared by its two files only: serve.c (the
 * exchange) and persist.c (HTTP/1.1 persistence between requests). */
#ifndef SERVE_CONN_H
#define SERVE_CONN_H

/* Private: both halves of one state machine read and change every field of
 * one conn, so it cannot be opaque to either; nothing outside the module
 * includes this (serve.h is the interface, and keeps struct conn opaque). */

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "flight.h"
#include "http.h"
#include "loop.h"
#include "options.h"
#include "reqbuf.h"
#include "serve.h"

enum state { ST_READ, ST_CHECK, ST_WRITE, ST_DRAIN, ST_DONE };

struct conn {
	struct loop *loop;
	struct flight *fl;
	const struct options *o;
	enum state state;
	struct watch inw, outw;         /* outw only when out_fd is not in_fd */
	unsigned in_events, out_events; /* what the loop watches now */
	int in_eof;                     /* nothing more to read */
	int head_told;                  /* hooks->head called */
	int want_out;                   /* a write would block */
	int peer_fin, peer_reset;       /* how the input ended */
	int watch_gone;                 /* serve_watch_gone() */
	int may_keep;                   /* serve_keep_alive(), not closing */
	int keep;   /* this answer leaves the connection open */
	int served; /* answers given on this connection */
	int resume; /* the timer is for bytes that came before it */
	int first;  /* in serve_read_first(): done() waits for its end */
	enum serve_outcome outcome; /* what done() will be told, then */
	struct timer timer;
	struct flight_wait wait;
	int64_t started;
	struct http_request req;
	char *resp;
	size_t resp_len, resp_off;
	size_t drained;
	const struct serve_hooks *hooks;
	void (*idle)(void *ctx, struct conn *c); /* serve_keep_alive() */
	void *ctx;
	char peer[64]; /* formatted when first needed (serve.c peer_name) */
	struct sockaddr_storage addr; /* from accept(); AF_UNSPEC: ask */
	struct reqbuf in; /* what has been read and not used up */
};

/* serve.c, for persist.c: the exchange's steps that persistence re-enters. */
/* Watches what the conn's state wants of its descriptors. */
void serve_update_watches(struct conn *c);
/* The end: the done() hook, from the loop. */
void serve_finish(struct conn *c, enum serve_outcome outcome);
/* The client closed its side before a complete head. */
void serve_head_eof(struct conn *c);
/* A complete head, or a bad one, in c->req: answered or checked. */
void serve_head_done(struct conn *c);
/* No more input: how the last read (n) ended it; returns 0. */
int serve_input_ended(struct conn *c, ssize_t n);

/* persist.c, for serve.c: what a kept-alive connection does differently. */
/* A request that may be followed by another: its body is to be dropped. */
void persist_start_body(struct conn *c);
/* Drops what has come of the body; returns whether it has all been read. */
int persist_eat_body(struct conn *c);
/* n bytes read into c->in while waiting for a head: the deadlines between
 * requests.  Returns whether what is left may hold a head. */
int persist_came(struct conn *c, size_t n);
/* Input while a request is checked or answered; returns 0 at its end. */
int persist_read_more(struct conn *c);
/* Answered, and the connection stays: back to waiting for a head. */
void persist_next(struct conn *c);
/* The timer of a conn waiting for a head: returns whether it was one of
 * persistence's (pipelined bytes to read, an idle connection to close). */
int persist_timer(struct conn *c);
/* Whether a close of the client's side means nobody will read the answer. */
int persist_fin_means_gone(const struct conn *c);

#endif
