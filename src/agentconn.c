#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "agent.h"
#include "agentconn.h"
#include "log.h"
#include "maint.h"
#include "peer.h"

/* After the line: how long to wait for the client to close, so that
 * closing first does not reset a connection whose agent-send is still on
 * its way (a reset can eat the line). */
#define LINGER_MS 1000
/* What a client may send before it is taken for no prober: an agent-send
 * string fits in one of HAProxy's buffers (16 KiB by default). */
#define INPUT_MAX ((size_t)1024 * 1024)

enum state { AG_START, AG_CHECK, AG_WRITE, AG_LINGER, AG_DONE };

struct agent_conn {
	struct loop *loop;
	struct flight *fl;
	const struct options *o;
	enum state state;
	struct watch inw, outw;         /* outw only when out_fd is not in_fd */
	unsigned in_events, out_events; /* what the loop watches now */
	int in_eof;                     /* nothing more is read */
	int peer_fin, peer_reset;       /* how the input ended */
	int flooded;                    /* more than INPUT_MAX came */
	int spoke;                      /* a whole line came */
	int want_out;                   /* a write would block */
	int watch_gone;
	size_t got; /* bytes read and dropped */
	struct timer timer;
	struct flight_wait wait;
	int64_t started;
	char line[AGENT_LINE_MAX];
	size_t len, off;
	const struct agent_hooks *hooks;
	void *ctx;
	char peer[64];
};

/* Moves w from the events it has (*now) to want; 0, or -1 when the loop
 * would not take it (a regular file or /dev/null on stdin). */
static int
retune(struct loop *loop, struct watch *w, unsigned *now, unsigned want)
{
	int rc = 0;

	if (want != 0 && *now == 0)
		rc = loop_add(loop, w, want);
	else if (want != 0 && want != *now)
		rc = loop_mod(loop, w, want);
	else if (want == 0 && *now != 0)
		loop_del(loop, w);
	*now = rc == -1 ? 0 : want;
	return rc;
}

static void
set_events(struct agent_conn *c)
{
	unsigned in = c->in_eof || c->state == AG_DONE ? 0 : LOOP_IN;
	unsigned out = c->want_out && c->state == AG_WRITE ? LOOP_OUT : 0;

	if (c->outw.fd == c->inw.fd) {
		in |= out;
		out = 0;
	}
	/* Input that cannot be watched is input that never comes. */
	if (retune(c->loop, &c->inw, &c->in_events, in) == -1 && out == 0)
		c->in_eof = 1;
	if (c->outw.fd != c->inw.fd)
		retune(c->loop, &c->outw, &c->out_events, out);
}

static void
finish(struct agent_conn *c, enum serve_outcome outcome)
{
	c->state = AG_DONE;
	set_events(c);
	timer_cancel(c->loop, &c->timer);
	c->hooks->done(c->ctx, outcome);
}

/* Reads and drops one piece of what the client sends; notes a whole line
 * and the end of the input. */
static void
read_input(struct agent_conn *c)
{
	char buf[4096];
	ssize_t n = read(c->inw.fd, buf, sizeof(buf));

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n > 0) {
		c->got += (size_t)n;
		if (!c->spoke && memchr(buf, '\n', (size_t)n) != NULL) {
			c->spoke = 1;
			if (c->hooks->spoke != NULL)
				c->hooks->spoke(c->ctx);
		}
		if (c->got < INPUT_MAX)
			return;
		c->flooded = 1;
	} else if (n == 0) {
		c->peer_fin = 1;
	} else {
		c->peer_reset = 1;
	}
	c->in_eof = 1;
	set_events(c);
}

/* Whether the client has sent something not read yet (or its end). */
static int
pending(const struct agent_conn *c)
{
	struct pollfd p = {.fd = c->inw.fd, .events = POLLIN | POLLRDHUP};

	return !c->in_eof && poll(&p, 1, 0) == 1;
}

/* The line is out.  A client that has closed, or that sent its line and
 * nothing since, is closed at once; one that may still send (nothing has
 * come, or part of a line) first sees our end of the stream and is given
 * LINGER_MS to close its own. */
static void
answered(struct agent_conn *c)
{
	c->want_out = 0;
	if (c->hooks->answered != NULL)
		c->hooks->answered(c->ctx);
	if (c->in_eof || (c->spoke && !pending(c))) {
		finish(c, SERVE_ANSWERED);
		return;
	}
	/* ENOTSOCK on a pipe (inetd tests): nothing to shut down there. */
	shutdown(c->outw.fd, SHUT_WR);
	c->state = AG_LINGER;
	set_events(c);
	timer_arm(c->loop, &c->timer, loop_now() + LINGER_MS);
}

static void
write_some(struct agent_conn *c)
{
	while (c->off < c->len) {
		ssize_t n =
			write(c->outw.fd, c->line + c->off, c->len - c->off);

		if (n >= 0) {
			c->off += (size_t)n;
			continue;
		}
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN) {
			c->want_out = 1;
			set_events(c);
			return;
		}
		log_msg(LOGLVL_DEBUG, "request %s: answer not delivered: %s",
			c->peer, strerror(errno));
		finish(c, SERVE_FAILED);
		return;
	}
	answered(c);
}

static void
send_line(struct agent_conn *c, enum agent_word w, const struct verdict *v)
{
	c->len = agent_line(c->line, w, c->o, v);
	c->off = 0;
	c->state = AG_WRITE;
	timer_arm(c->loop, &c->timer, loop_now() + c->o->request_timeout_ms);
	write_some(c);
}

/* The client has gone before its line: nothing more is run for it (a run
 * shared with others goes on for them). */
static void
abandon(struct agent_conn *c)
{
	log_msg(LOGLVL_DEBUG, "request %s: the client has gone", c->peer);
	if (c->state == AG_CHECK)
		flight_cancel(&c->wait);
	finish(c, SERVE_QUIET);
}

/* A reset means nobody reads the line; so does a close from a client that
 * never sent a line (connect and close, as a TCP-only probe does), when
 * its request waited for a run.  What the loop has not dispatched yet is
 * asked of the socket. */
static int
client_gone(struct flight_wait *w, int waited)
{
	struct agent_conn *c = w->ctx;
	struct pollfd p = {.fd = c->inw.fd, .events = POLLIN | POLLRDHUP};
	int fin_is_gone = waited && !c->spoke;

	if (c->peer_reset || (fin_is_gone && c->peer_fin))
		return 1;
	if (c->in_eof || poll(&p, 1, 0) != 1)
		return 0;
	if ((p.revents & (POLLERR | POLLHUP | POLLNVAL)) != 0)
		return 1;
	return fin_is_gone && (p.revents & POLLRDHUP) != 0;
}

/* A check we could not run for want of ours: said at error, and the line
 * leaves HAProxy's view of the server as it is. */
static void
tell_short(struct agent_conn *c, const struct verdict *v)
{
	size_t i = 0;

	while (i < v->n && !v->results[i].ours)
		i++;
	log_msg(LOGLVL_ERROR, "request %s: a check could not be run: %s",
		agentconn_peer(c), i < v->n ? v->results[i].reason : "");
}

static void
on_verdict(struct flight_wait *w, const struct verdict *v)
{
	struct agent_conn *c = w->ctx;
	enum agent_word word;

	if (v == NULL) {
		int err = errno;

		if (err == ECONNRESET) {
			abandon(c);
			return;
		}
		log_msg(LOGLVL_ERROR, "request %s: cannot run the checks: %s",
			agentconn_peer(c), strerror(err));
		send_line(c, agent_short(err), NULL);
		return;
	}
	word = agent_word_of(v);
	if (word != AGENT_UP && word != AGENT_DOWN)
		tell_short(c, v);
	log_msg(LOGLVL_DEBUG, "verdict %s agent %s %dms",
		v->ok ? "healthy" : "unhealthy", agent_word_name(word),
		(int)(loop_now() - c->started));
	send_line(c, word, v);
}

/* From the loop, at once: nothing waits for input that may never come. */
static void
begin(struct agent_conn *c)
{
	log_msg(LOGLVL_DEBUG, "request %s agent", c->peer);
	/* A drained node: `touch` the file before a deploy, `rm` after. */
	if (maint_check(&c->fl->maint, c->o)) {
		log_msg(LOGLVL_DEBUG,
			"verdict maintenance agent drain (%s "
			"exists)",
			c->o->maintenance_file);
		send_line(c, AGENT_DRAIN, NULL);
		return;
	}
	c->state = AG_CHECK;
	c->wait.fn = on_verdict;
	c->wait.ctx = c;
	c->wait.gone = c->watch_gone ? client_gone : NULL;
	flight_join(c->fl, &c->wait);
}

static void
on_in(struct watch *w, unsigned events)
{
	struct agent_conn *c = w->ctx;

	if (c->state == AG_WRITE && (events & LOOP_OUT) != 0) {
		write_some(c);
		return;
	}
	read_input(c);
	switch (c->state) {
	case AG_START:
	case AG_CHECK:
		/* A reset ends the request; a close without a word, one
		 * still queued. */
		if (c->watch_gone &&
		    (c->peer_reset ||
		     (c->peer_fin && !c->spoke &&
		      (c->state == AG_START || flight_queued(&c->wait)))))
			abandon(c);
		break;
	case AG_LINGER:
		if (c->in_eof)
			finish(c, SERVE_ANSWERED);
		break;
	default:
		break;
	}
}

static void
on_out(struct watch *w, unsigned events)
{
	struct agent_conn *c = w->ctx;

	(void)events;
	if (c->state == AG_WRITE)
		write_some(c);
}

static void
on_timer(struct timer *t)
{
	struct agent_conn *c = t->ctx;

	switch (c->state) {
	case AG_START:
		begin(c);
		break;
	case AG_WRITE:
		log_msg(LOGLVL_DEBUG, "request %s: client does not read",
			c->peer);
		finish(c, SERVE_FAILED);
		break;
	case AG_LINGER:
		finish(c, SERVE_ANSWERED);
		break;
	default:
		break;
	}
}

struct agent_conn *
agentconn_start(struct loop *loop, struct flight *fl, const struct options *o,
		int in_fd, int out_fd, const struct sockaddr_storage *peer,
		int watch_gone, const struct agent_hooks *hooks, void *ctx)
{
	struct agent_conn *c = malloc(sizeof(*c));

	if (c == NULL)
		return NULL;
	*c = (struct agent_conn){
		.loop = loop,
		.fl = fl,
		.o = o,
		.hooks = hooks,
		.ctx = ctx,
		.watch_gone = watch_gone,
		.started = loop_now(),
		.state = AG_START,
		.inw = {.fd = in_fd, .fn = on_in, .ctx = c},
		.outw = {.fd = out_fd, .fn = on_out, .ctx = c},
		.timer = {.fn = on_timer, .ctx = c},
	};
	if (peer != NULL || log_enabled(LOGLVL_DEBUG))
		peer_describe(in_fd, peer, c->peer, sizeof(c->peer));
	set_events(c);
	timer_arm(loop, &c->timer, c->started);
	return c;
}

void
agentconn_free(struct agent_conn *c)
{
	if (c == NULL)
		return;
	if (c->state == AG_CHECK)
		flight_cancel(&c->wait);
	c->state = AG_DONE;
	set_events(c);
	timer_cancel(c->loop, &c->timer);
	free(c);
}

void
agentconn_read_now(struct agent_conn *c)
{
	if (c->state != AG_DONE && pending(c))
		read_input(c);
}

const char *
agentconn_peer(struct agent_conn *c)
{
	if (c->peer[0] == '\0')
		peer_describe(c->inw.fd, NULL, c->peer, sizeof(c->peer));
	return c->peer;
}
