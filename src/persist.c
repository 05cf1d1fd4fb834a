#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include "serve_conn.h"

/* HTTP/1.1 persistence (RFC 9112 9.3) for serve.c: the body of a request
 * that may be followed by another is dropped, pipelined requests are kept
 * in order, and the connection waits between requests as for its first. */

/* Whether a close of the client's side, while its request waits, means
 * nobody will read the answer: not on a kept-alive connection that sent
 * more than this request or had answers already, whose client half-closes
 * when it has nothing more to say and still reads (pipelining). */
int
persist_fin_means_gone(const struct conn *c)
{
	return !c->keep || (c->served == 0 && c->in.len == 0);
}

/* Drops what has come of the request's body; returns whether it has all
 * been read.  One that cannot be closes the connection after the answer
 * (the drain takes the rest). */
int
persist_eat_body(struct conn *c)
{
	int done = reqbuf_eat_body(&c->in);

	if (c->in.bad)
		c->keep = 0;
	return done;
}

/* A request that may be followed by another.  head_len 0 from here: were
 * the answer to close after all, the drain would not know what is left
 * unread. */
void
persist_start_body(struct conn *c)
{
	reqbuf_start_body(&c->in, &c->req);
	c->req.head_len = 0;
	if (c->in.bad)
		c->keep = 0;
}

int
persist_came(struct conn *c, size_t n)
{
	int body;

	/* The next request's first byte: its own deadline from now. */
	if (c->served > 0 && c->in.len == 0 && !c->in.in_body)
		timer_arm(c->loop, &c->timer,
			  loop_now() + c->o->request_timeout_ms);
	body = c->in.in_body;
	c->in.len += n;
	if (!persist_eat_body(c))
		return 0;
	/* A body that ends after its answer: from here the connection waits
	 * as after the answer (idle, or for the rest of the next head). */
	if (body) {
		reqbuf_trim(&c->in); /* an idle connection holds no buffer */
		timer_arm(c->loop, &c->timer,
			  loop_now() + (c->in.len == 0
						? c->o->idle_timeout_ms
						: c->o->request_timeout_ms));
	}
	return 1;
}

/* Keep-alive, while a request is checked or answered: what comes is its
 * body (dropped) or the next requests (kept, up to a buffer's worth).
 * Returns 0 at the end of the input. */
int
persist_read_more(struct conn *c)
{
	long room = reqbuf_room(&c->in);
	ssize_t n;

	if (room <= 0) {
		/* No memory to keep them: this answer closes, and the drain
		 * takes what comes. */
		if (room == -1)
			c->keep = 0;
		return 1;
	}
	n = read(c->inw.fd, c->in.buf + c->in.len, (size_t)room);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return 1;
	if (n > 0) {
		c->in.len += (size_t)n;
		persist_eat_body(c);
		serve_update_watches(c);
		return 1;
	}
	serve_input_ended(c, n);
	if (c->peer_reset)
		c->keep = 0;
	return 0;
}

/* Answered, and the connection stays: back to waiting for a head, which
 * may have come already (pipelining).  One waiting with nothing holds no
 * buffer, and the idle timeout closes it. */
void
persist_next(struct conn *c)
{
	int idle;

	free(c->resp);
	c->resp = NULL;
	c->resp_len = c->resp_off = 0;
	c->want_out = 0;
	c->head_told = 0;
	c->state = ST_READ;
	c->started = loop_now();
	reqbuf_trim(&c->in);
	c->idle(c->ctx, c);
	serve_update_watches(c);
	/* What has come already is for the next turn of the loop, not for
	 * inside the write that ended this answer. */
	c->resume = c->in.len > 0 || c->in_eof;
	idle = c->in.len == 0 && !c->in.in_body;
	timer_arm(c->loop, &c->timer,
		  c->resume ? c->started
		  : idle    ? c->started + c->o->idle_timeout_ms
			    : c->started + c->o->request_timeout_ms);
}

/* Pipelined bytes, or the end of the input, after an answer. */
static void
resume_read(struct conn *c)
{
	c->resume = 0;
	timer_arm(c->loop, &c->timer, loop_now() + c->o->request_timeout_ms);
	if (!persist_eat_body(c) || c->in.len == 0 ||
	    http_parse(c->in.buf, c->in.len, &c->req) == HTTP_PARSE_MORE) {
		if (c->in_eof)
			serve_head_eof(c);
		return;
	}
	serve_head_done(c);
}

int
persist_timer(struct conn *c)
{
	if (c->resume) {
		resume_read(c);
		return 1;
	}
	/* Idle after an answer, or a body that stopped coming. */
	if (c->served > 0 && c->in.len == 0) {
		serve_finish(c, SERVE_QUIET);
		return 1;
	}
	return 0;
}

void
serve_keep_alive(struct conn *c, void (*idle)(void *ctx, struct conn *c))
{
	c->idle = idle;
	c->may_keep = idle != NULL;
}
