#include <errno.h>
#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "answer.h"
#include "http.h"
#include "log.h"
#include "maint.h"
#include "peer.h"
#include "reqbuf.h"
#include "serve_conn.h"

/* The exchange, in every mode; what a kept-alive connection does between
 * its requests is in persist.c (the conn they share: serve_conn.h). */

/* After answering: how long and how much to read so that closing does not
 * reset a connection whose client is still sending (RST eats the answer). */
#define DRAIN_MS 1000
#define DRAIN_MAX ((size_t)1024 * 1024)

/* The peer as logs show it.  Formatted at the start only when debug
 * lines (which use c->peer as it is) are on: at the default level only an
 * error line pays for it (and a one-shot for its getpeername()). */
static const char *
peer_name(struct conn *c)
{
	if (c->peer[0] == '\0')
		peer_describe(c->inw.fd,
			      c->addr.ss_family != AF_UNSPEC ? &c->addr : NULL,
			      c->peer, sizeof(c->peer));
	return c->peer;
}

/* The input stays watched from the first byte to the end of the drain, so
 * a healthy exchange costs one registration, not one per state. */
void
serve_update_watches(struct conn *c)
{
	int shared = c->outw.fd == c->inw.fd;
	/* Pipelined bytes that fill the buffer wait for their turn. */
	int full = c->keep && !c->in.in_body && c->in.len == HTTP_HEAD_MAX &&
		   c->state != ST_READ;
	unsigned in = c->in_eof || full || c->state == ST_DONE ? 0 : LOOP_IN;
	unsigned out = c->want_out && c->state == ST_WRITE ? LOOP_OUT : 0;

	loop_want(c->loop, &c->inw, &c->in_events, in | (shared ? out : 0));
	if (!shared)
		loop_want(c->loop, &c->outw, &c->out_events, out);
}

int
serve_watch(struct conn *c)
{
	serve_update_watches(c);
	return c->in_events == 0 ? -1 : 0;
}

/* The watches stay in the epoll set until serve_free(), whose caller
 * closes the descriptors: the close takes them out (loop_release knows
 * when it would not), and an EPOLL_CTL_DEL per connection is saved. */
void
serve_finish(struct conn *c, enum serve_outcome outcome)
{
	c->state = ST_DONE;
	timer_cancel(c->loop, &c->timer);
	c->outcome = outcome;
	/* done() frees the conn: serve_read_first() calls it on its way out. */
	if (!c->first)
		c->hooks->done(c->ctx, c, outcome);
}

/* Whether the client may still be sending when the answer is out: a body,
 * bytes past the head, or a head we did not read to its end.  Closing with
 * those unread would reset the connection and could eat the answer. */
static int
may_be_sending(const struct conn *c)
{
	return c->in_eof == 0 &&
	       (c->req.status != HTTP_200 || c->req.head_len == 0 ||
		c->req.has_body || c->in.len > c->req.head_len ||
		c->drained > 0);
}

static void
start_drain(struct conn *c)
{
	c->want_out = 0;
	/* As nginx's lingering close: only when more input may come. */
	if (!may_be_sending(c)) {
		serve_finish(c, SERVE_ANSWERED);
		return;
	}
	/* ENOTSOCK on a pipe (inetd tests): nothing to shut down there. */
	shutdown(c->outw.fd, SHUT_WR);
	c->state = ST_DRAIN;
	serve_update_watches(c);
	timer_arm(c->loop, &c->timer, loop_now() + DRAIN_MS);
}

static void
write_some(struct conn *c)
{
	while (c->resp_off < c->resp_len) {
		ssize_t n = write(c->outw.fd, c->resp + c->resp_off,
				  c->resp_len - c->resp_off);

		if (n >= 0) {
			c->resp_off += (size_t)n;
			continue;
		}
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN) {
			c->want_out = 1;
			serve_update_watches(c);
			return;
		}
		log_msg(LOGLVL_DEBUG, "request %s: answer not delivered: %s",
			c->peer, strerror(errno));
		serve_finish(c, SERVE_FAILED);
		return;
	}
	c->served++;
	if (c->keep && c->may_keep)
		persist_next(c);
	else
		start_drain(c);
}

/* The connection is done waiting for a head: it has one, or an answer to
 * a bad one.  Either way, not to be closed to make room any more. */
static void
leave_read(struct conn *c)
{
	if (c->head_told)
		return;
	c->head_told = 1;
	if (c->hooks->head != NULL)
		c->hooks->head(c->ctx, c);
}

/* Formats and sends an answer; the conn goes on to ST_WRITE. */
static void
send_answer(struct conn *c, struct answer *a)
{
	struct http_response r;
	size_t cap = 512 + a->len;
	/* Only a complete request line tells the version to answer with. */
	int have_req = c->req.method != NULL && c->req.status != HTTP_505;

	leave_read(c);
	timer_cancel(c->loop, &c->timer);
	r.status = a->status;
	r.minor = have_req ? c->req.minor : 1;
	r.head_only = have_req && c->req.head_only;
	r.content_type = a->type;
	r.body = a->body;
	r.body_len = a->len;
	r.retry_after = a->retry_after;
	/* A chunked body not read to its end could not be told from the
	 * next request. */
	c->keep = c->keep && c->may_keep && !(c->in.in_body && c->req.chunked);
	r.keep_alive = c->keep;
	r.date = time(NULL);
	c->resp = malloc(cap);
	c->resp_len = c->resp == NULL ? 0 : http_format(c->resp, cap, &r);
	answer_free(a);
	if (c->resp_len == 0) {
		serve_finish(c, SERVE_FAILED);
		return;
	}
	c->resp_off = 0;
	c->state = ST_WRITE;
	timer_arm(c->loop, &c->timer, loop_now() + c->o->request_timeout_ms);
	write_some(c);
}

static void
respond_error(struct conn *c, enum http_status status)
{
	struct answer a;

	c->keep = 0; /* nothing after a head we cannot trust */
	log_msg(LOGLVL_DEBUG, "request %s bad: %d %s", c->peer,
		http_code(status), http_reason(status));
	answer_error(&a, status);
	send_answer(c, &a);
}

static void
respond_short(struct conn *c, int err)
{
	struct answer a;

	answer_short(&a, err);
	send_answer(c, &a);
}

/* The client has gone before its answer: nothing more is run for it (a
 * run shared with others goes on for them). */
static void
abandon(struct conn *c)
{
	log_msg(LOGLVL_DEBUG, "request %s: the client has gone", c->peer);
	if (c->state == ST_CHECK)
		flight_cancel(&c->wait);
	serve_finish(c, SERVE_QUIET);
}

/* Asked by the flight just before a run starts for c: a reset (or, for a
 * request that waited in the queue, a close) means nobody will read the
 * answer.  What the loop has not dispatched yet is asked of the socket. */
static int
client_gone(struct flight_wait *w, int waited)
{
	struct conn *c = w->ctx;
	struct pollfd p;
	int fin_is_gone = waited && persist_fin_means_gone(c);

	if (c->peer_reset || (fin_is_gone && c->peer_fin))
		return 1;
	p.fd = c->inw.fd;
	p.events = POLLIN | POLLRDHUP;
	p.revents = 0;
	if (poll(&p, 1, 0) != 1)
		return 0;
	if ((p.revents & (POLLERR | POLLHUP | POLLNVAL)) != 0)
		return 1;
	return fin_is_gone && (p.revents & POLLRDHUP) != 0;
}

/* No verdict (v NULL, errno says why), or one that says we could not run
 * a check: the client is told so, or has gone.  Returns whether it was. */
static int
not_checked(struct conn *c, const struct verdict *v)
{
	size_t i;

	if (v == NULL) {
		int err = errno;

		if (err == ECONNRESET) {
			abandon(c);
			return 1;
		}
		log_msg(LOGLVL_ERROR, "request %s: cannot run the checks: %s",
			peer_name(c), strerror(err));
		respond_short(c, err);
		return 1;
	}
	if (v->ok || !v->ours)
		return 0;
	for (i = 0; i < v->n; i++)
		if (v->results[i].ours)
			log_msg(LOGLVL_ERROR,
				"request %s: a check could not be run: %s",
				peer_name(c), v->results[i].reason);
	respond_short(c, v->short_errno == EAGAIN ? EAGAIN : EMFILE);
	return 1;
}

static void
on_verdict(struct flight_wait *w, const struct verdict *v)
{
	struct conn *c = w->ctx;
	struct answer a;

	if (not_checked(c, v))
		return;
	answer_verdict(&a, c->o, c->req.media, v);
	log_msg(LOGLVL_DEBUG, "verdict %s %d %dms",
		v->ok ? "healthy" : "unhealthy",
		http_code(answer_status(c->o, v)),
		(int)(loop_now() - c->started));
	send_answer(c, &a);
}

static void
got_request(struct conn *c)
{
	struct answer a;

	leave_read(c);
	log_msg(LOGLVL_DEBUG, "request %s %.*s %.*s", c->peer,
		(int)c->req.method_len, c->req.method,
		(int)(c->req.target_len > 200 ? 200 : c->req.target_len),
		c->req.target);
	timer_cancel(c->loop, &c->timer);
	c->keep = c->may_keep && c->req.keep_alive && !c->req.unframed;
	if (c->keep)
		persist_start_body(c);
	/* A drained node: `touch` the file before a deploy, `rm` after. */
	if (maint_check(&c->fl->maint, c->o)) {
		log_msg(LOGLVL_DEBUG, "verdict maintenance 503 (%s exists)",
			c->o->maintenance_file);
		answer_maintenance(&a);
		send_answer(c, &a);
		return;
	}
	c->state = ST_CHECK;
	c->wait.fn = on_verdict;
	c->wait.ctx = c;
	c->wait.gone = c->watch_gone ? client_gone : NULL;
	flight_join(c->fl, &c->wait);
}

/* The client closed its side before a complete head. */
void
serve_head_eof(struct conn *c)
{
	c->in_eof = 1;
	if (c->in.len > 0) {
		/* Half-closed before the head ended: it never will. */
		respond_error(c, HTTP_400);
		return;
	}
	/* A TCP-only probe: connect and close (or a keep-alive client done
	 * with the connection: that is no news). */
	if (c->served == 0)
		log_msg(LOGLVL_DEBUG, "connection %s closed without a request",
			c->peer);
	serve_finish(c, c->served == 0 ? SERVE_QUIET : SERVE_ANSWERED);
}

/* A complete head, or a bad one, in c->req. */
void
serve_head_done(struct conn *c)
{
	c->resume = 0;
	if (c->req.status != HTTP_200)
		respond_error(c, c->req.status);
	else
		got_request(c);
}

static void
read_head(struct conn *c)
{
	long room = reqbuf_room(&c->in);
	ssize_t n;

	if (room == -1) {
		serve_finish(c, SERVE_FAILED);
		return;
	}
	n = read(c->inw.fd, c->in.buf + c->in.len, (size_t)room);

	if (n < 0) {
		if (errno == EAGAIN || errno == EINTR)
			return;
		log_msg(LOGLVL_DEBUG, "request %s: read: %s", c->peer,
			strerror(errno));
		serve_finish(c, c->in.len == 0 ? SERVE_QUIET : SERVE_FAILED);
		return;
	}
	if (n == 0) {
		serve_head_eof(c);
		return;
	}
	if (!persist_came(c, (size_t)n))
		return;
	if (c->in.len > 0 &&
	    http_parse(c->in.buf, c->in.len, &c->req) == HTTP_PARSE_DONE)
		serve_head_done(c);
}

/* No more input: how the last read (n) ended it; returns 0. */
int
serve_input_ended(struct conn *c, ssize_t n)
{
	if (n == 0)
		c->peer_fin = 1;
	else if (n < 0)
		c->peer_reset = 1;
	c->in_eof = 1;
	serve_update_watches(c);
	return 0;
}

/* Reads and drops what the client still sends after its head; returns 0
 * when the drain is over (end of file, error, or enough bytes).  Into the
 * head's own buffer, whose bytes are not needed once the head is parsed:
 * a scratch buffer on the stack would cost a one-shot page faults. */
static int
discard_input(struct conn *c)
{
	size_t cap;
	char *p = reqbuf_scratch(&c->in, c->drained > 0, &cap);
	ssize_t n = read(c->inw.fd, p, cap);

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return 1;
	if (n > 0) {
		c->drained += (size_t)n;
		if (c->drained < DRAIN_MAX)
			return 1;
	}
	return serve_input_ended(c, n);
}

static void
on_in(struct watch *w, unsigned events)
{
	struct conn *c = w->ctx;

	switch (c->state) {
	case ST_READ:
		read_head(c);
		break;
	case ST_CHECK:
		/* A reset ends the request; a close, one still queued. */
		if (!(c->keep ? persist_read_more(c) : discard_input(c)) &&
		    c->watch_gone &&
		    (c->peer_reset ||
		     (c->peer_fin && persist_fin_means_gone(c) &&
		      flight_queued(&c->wait))))
			abandon(c);
		break;
	case ST_WRITE:
		if ((events & LOOP_OUT) != 0) {
			write_some(c);
			break;
		}
		if (c->keep)
			persist_read_more(c);
		else
			discard_input(c);
		break;
	case ST_DRAIN:
		if (!discard_input(c))
			serve_finish(c, SERVE_ANSWERED);
		break;
	default:
		break;
	}
}

static void
on_out(struct watch *w, unsigned events)
{
	struct conn *c = w->ctx;

	(void)events;
	if (c->state == ST_WRITE)
		write_some(c);
}

/* serve_read_first's deferred watch: a conn the loop cannot watch would
 * never hear of its client again. */
static void
watch_or_fail(struct conn *c)
{
	if (serve_watch(c) == 0)
		return;
	log_msg(LOGLVL_ERROR, "request %s: cannot watch: %s", peer_name(c),
		strerror(errno));
	serve_finish(c, SERVE_FAILED);
}

static void
on_timer(struct timer *t)
{
	struct conn *c = t->ctx;

	switch (c->state) {
	case ST_CHECK:
		watch_or_fail(c);
		break;
	case ST_READ:
		if (persist_timer(c))
			break;
		if (c->in.len == 0) {
			log_msg(LOGLVL_DEBUG,
				"connection %s sent nothing in %dms", c->peer,
				c->o->request_timeout_ms);
			serve_finish(c, SERVE_QUIET);
		} else {
			respond_error(c, HTTP_408);
		}
		break;
	case ST_WRITE:
		log_msg(LOGLVL_DEBUG, "request %s: client does not read",
			c->peer);
		serve_finish(c, SERVE_FAILED);
		break;
	default: /* ST_DRAIN: enough waiting */
		serve_finish(c, SERVE_ANSWERED);
		break;
	}
}

struct conn *
serve_start(struct loop *loop, struct flight *fl, const struct options *o,
	    int in_fd, int out_fd, const struct sockaddr_storage *peer,
	    const struct serve_hooks *hooks, void *ctx)
{
	struct conn *c = malloc(sizeof(*c));

	if (c == NULL)
		return NULL;
	*c = (struct conn){
		.loop = loop,
		.fl = fl,
		.o = o,
		.hooks = hooks,
		.ctx = ctx,
		.started = loop_now(),
		.state = ST_READ,
		.inw = {.fd = in_fd, .fn = on_in, .ctx = c},
		.outw = {.fd = out_fd, .fn = on_out, .ctx = c},
		.timer = {.fn = on_timer, .ctx = c},
	};
	if (peer != NULL)
		c->addr = *peer;
	if (log_enabled(LOGLVL_DEBUG))
		peer_name(c);
	timer_arm(loop, &c->timer, c->started + o->request_timeout_ms);
	return c;
}

int
serve_is_idle(const struct conn *c)
{
	return c->state == ST_READ && c->in.len == 0;
}

void
serve_read_now(struct conn *c)
{
	struct pollfd p;

	/* Only what has arrived: stdin from inetd may be a blocking
	 * descriptor, and no read may wait here. */
	p.fd = c->inw.fd;
	p.events = POLLIN;
	if (c->state == ST_READ && poll(&p, 1, 0) == 1)
		read_head(c);
}

/* A head that came with the handshake is often answered before this
 * returns (checks that settle at once, an answer the socket takes whole):
 * the connection then never enters the epoll set, and done() comes last,
 * once nothing here touches the conn any more. */
void
serve_read_first(struct conn *c)
{
	c->first = 1;
	read_head(c);
	c->first = 0;
	if (c->state == ST_DONE) {
		c->hooks->done(c->ctx, c, c->outcome);
		return;
	}
	/* Checks that settled at once answer from the loop's timers (the
	 * run's zero timer, armed before this one): the watch waits behind
	 * them, and a checked request holds no other timer of its own. */
	if (c->state == ST_CHECK && c->in_events == 0) {
		timer_arm(c->loop, &c->timer, 0);
		return;
	}
	watch_or_fail(c);
}

const char *
serve_peer(struct conn *c)
{
	return peer_name(c);
}

void
serve_free(struct conn *c)
{
	if (c == NULL)
		return;
	if (c->state == ST_CHECK)
		flight_cancel(&c->wait);
	c->state = ST_DONE;
	if (c->in_events != 0)
		loop_release(c->loop, &c->inw);
	if (c->out_events != 0)
		loop_release(c->loop, &c->outw);
	timer_cancel(c->loop, &c->timer);
	free(c->resp);
	reqbuf_free(&c->in);
	free(c);
}

void
serve_watch_gone(struct conn *c)
{
	c->watch_gone = 1;
}
