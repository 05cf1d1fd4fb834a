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
	enum state state;
	/* What the exchange runs on and answers to. */
	const struct options *o;
	struct loop *loop;
	struct flight *fl;
	const struct agent_hooks *hooks;
	void *ctx;
	/* The input: taken and dropped as it comes, noting a whole line. */
	struct watch inw;
	unsigned in_events;       /* what the loop watches on inw now */
	size_t got;               /* bytes taken */
	int spoke;                /* a whole line came */
	int in_eof;               /* nothing more is taken */
	int peer_fin, peer_reset; /* how the input ended */
	int watch_gone;           /* a reset runs nothing */
	/* The line: outw is watched only when out_fd is not in_fd. */
	struct watch outw;
	unsigned out_events;
	int want_out; /* a write would block */
	char line[AGENT_LINE_MAX];
	size_t len, off;
	/* One deadline at a time; the verdict's wait; the logs' figures. */
	struct timer timer;
	struct flight_wait wait;
	int64_t started;
	char peer[64];
};

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
	if (loop_want(c->loop, &c->inw, &c->in_events, in) == -1 && out == 0)
		c->in_eof = 1;
	if (c->outw.fd != c->inw.fd)
		loop_want(c->loop, &c->outw, &c->out_events, out);
}

/* Whatever is in progress stops: the wait for a verdict, the watches, the
 * timer. */
static void
stop(struct agent_conn *c)
{
	if (c->state == AG_CHECK)
		flight_cancel(&c->wait);
	c->state = AG_DONE;
	set_events(c);
	timer_cancel(c->loop, &c->timer);
}

static void
finish(struct agent_conn *c, enum serve_outcome outcome)
{
	stop(c);
	c->hooks->done(c->ctx, outcome);
}

/* What poll says of the input now, without reading (0: nothing). */
static unsigned
peek(const struct agent_conn *c)
{
	struct pollfd p = {.fd = c->inw.fd, .events = POLLIN | POLLRDHUP};

	return !c->in_eof && poll(&p, 1, 0) == 1 ? (unsigned)p.revents : 0;
}

/* Reads and drops one piece of what the client sends; notes a whole line
 * and the end of the input. */
static void
take_input(struct agent_conn *c)
{
	char buf[4096];
	ssize_t n = read(c->inw.fd, buf, sizeof(buf));

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n > 0) {
		c->got += (size_t)n;
		if (!c->spoke && memchr(buf, '\n', (size_t)n) != NULL) {
			c->spoke = 1;
			/* After the line, a line is no prober's: it would only
			 * keep a lingering connection from making room. */
			if (c->hooks->spoke != NULL && c->state < AG_LINGER)
				c->hooks->spoke(c->ctx);
		}
		/* More than a prober sends: no more is taken, and the
		 * connection closes once the line is out. */
		if (c->got < INPUT_MAX)
			return;
	}
	c->peer_fin = n == 0;
	c->peer_reset = n < 0;
	c->in_eof = 1;
	set_events(c);
}

/* Whether the client may still send, so that closing now could reset the
 * connection and eat the line: it has not closed, and it has sent nothing
 * or part of a line (its agent-send may be on the way), or more since. */
static int
may_still_send(const struct agent_conn *c)
{
	return !c->in_eof && (!c->spoke || peek(c) != 0);
}

/* Our end of the stream first; the client has LINGER_MS to close its
 * own.  ENOTSOCK on a pipe (inetd tests): nothing to shut down there. */
static void
linger(struct agent_conn *c)
{
	c->state = AG_LINGER;
	timer_arm(c->loop, &c->timer, loop_now() + LINGER_MS);
	set_events(c);
	shutdown(c->outw.fd, SHUT_WR);
}

/* The line is out: the connection only waits for the client to close. */
static void
answered(struct agent_conn *c)
{
	c->want_out = 0;
	if (c->hooks->answered != NULL)
		c->hooks->answered(c->ctx);
	if (may_still_send(c))
		linger(c);
	else
		finish(c, SERVE_ANSWERED);
}

/* One write of what is left of the line (a line of under 200 bytes goes
 * in one but for a client whose window is shut); the rest when the
 * descriptor says it can take it. */
static void
write_line(struct agent_conn *c)
{
	ssize_t n = write(c->outw.fd, c->line + c->off, c->len - c->off);

	if (n > 0)
		c->off += (size_t)n;
	if (c->off == c->len) {
		answered(c);
	} else if (n >= 0 || errno == EAGAIN || errno == EINTR) {
		c->want_out = 1;
		set_events(c);
	} else {
		log_msg(LOGLVL_DEBUG, "request %s: line not delivered: %s",
			c->peer, strerror(errno));
		finish(c, SERVE_FAILED);
	}
}

static void
send_line(struct agent_conn *c, enum agent_word w, const struct verdict *v)
{
	c->len = agent_line(c->line, w, c->o, v);
	c->off = 0;
	c->state = AG_WRITE;
	timer_arm(c->loop, &c->timer, loop_now() + c->o->request_timeout_ms);
	write_line(c);
}

/* The client has gone before its line: nothing more is run for it (a run
 * shared with others goes on for them). */
static void
abandon(struct agent_conn *c)
{
	log_msg(LOGLVL_DEBUG, "request %s: the client has gone", c->peer);
	finish(c, SERVE_QUIET);
}

/* Whether the client has gone, so that the line would be for nobody: a
 * reset; or, for a request still queued, a close from a client that never
 * sent a line (connect and close, as a TCP-only probe does).  What the
 * loop has not dispatched yet is asked of the socket. */
static int
gone(const struct agent_conn *c, int queued)
{
	unsigned ev = peek(c);
	int fin = c->peer_fin || (ev & POLLRDHUP) != 0;

	return c->peer_reset || (ev & (POLLERR | POLLHUP | POLLNVAL)) != 0 ||
	       (queued && fin && !c->spoke);
}

/* The flight asks just before a run starts for w. */
static int
client_gone(struct flight_wait *w, int waited)
{
	return gone(w->ctx, waited);
}

/* Why there is no verdict to tell (v NULL: errno err), or a check we could
 * not run for want of ours: said at error, once per request. */
static void
tell_short(struct agent_conn *c, const struct verdict *v, int err)
{
	size_t i = 0;

	while (v != NULL && i < v->n && !v->results[i].ours)
		i++;
	if (v == NULL)
		log_msg(LOGLVL_ERROR, "request %s: cannot run the checks: %s",
			agentconn_peer(c), strerror(err));
	else
		log_msg(LOGLVL_ERROR,
			"request %s: a check could not be run: %s",
			agentconn_peer(c),
			i < v->n ? v->results[i].reason : "");
}

static void
on_verdict(struct flight_wait *w, const struct verdict *v)
{
	struct agent_conn *c = w->ctx;
	int err = errno;
	enum agent_word word;

	if (v == NULL && err == ECONNRESET) {
		abandon(c);
		return;
	}
	word = v == NULL ? agent_short(err) : agent_word_of(v);
	if (word != AGENT_UP && word != AGENT_DOWN)
		tell_short(c, v, err);
	else
		log_msg(LOGLVL_DEBUG, "verdict %s agent %s %dms",
			v->ok ? "healthy" : "unhealthy", agent_word_name(word),
			(int)(loop_now() - c->started));
	send_line(c, word, v);
}

/* From the loop, at once: nothing waits for input that may never come. */
static void
begin(struct agent_conn *c)
{
	const char *mf = c->o->maintenance_file;

	log_msg(LOGLVL_DEBUG, "request %s agent", c->peer);
	/* The maintenance file drains the node: HAProxy keeps the sessions
	 * it has and sends no new ones, and no check is run. */
	if (maint_check(&c->fl->maint, c->o)) {
		log_msg(LOGLVL_DEBUG, "verdict maintenance agent drain (%s)",
			mf);
		send_line(c, AGENT_DRAIN, NULL);
		return;
	}
	c->state = AG_CHECK;
	flight_join(c->fl, &c->wait);
}

/* Both watches: the line goes out when it can, input is taken whenever it
 * comes. */
static void
on_io(struct watch *w, unsigned events)
{
	struct agent_conn *c = w->ctx;

	/* The write may end the exchange (and free c): input is taken on
	 * the next turn, the watch being level-triggered. */
	if ((events & LOOP_OUT) != 0 && c->state == AG_WRITE) {
		write_line(c);
		return;
	}
	if (w != &c->inw || (events & ~LOOP_OUT) == 0 || c->state == AG_DONE)
		return;
	take_input(c);
	if (c->state == AG_LINGER && c->in_eof)
		finish(c, SERVE_ANSWERED);
	else if (c->watch_gone && c->state <= AG_CHECK &&
		 gone(c, c->state == AG_START || flight_queued(&c->wait)))
		abandon(c);
}

static void
on_timer(struct timer *t)
{
	struct agent_conn *c = t->ctx;

	if (c->state == AG_START) {
		begin(c);
		return;
	}
	/* AG_WRITE: a client that does not read; AG_LINGER: enough. */
	if (c->state == AG_WRITE)
		log_msg(LOGLVL_DEBUG, "request %s: client does not read",
			c->peer);
	finish(c, c->state == AG_WRITE ? SERVE_FAILED : SERVE_ANSWERED);
}

static void
watch_init(struct watch *w, int fd, struct agent_conn *c)
{
	w->fd = fd;
	w->fn = on_io;
	w->ctx = c;
}

struct agent_conn *
agentconn_start(struct loop *loop, struct flight *fl, const struct options *o,
		int in_fd, int out_fd, const struct sockaddr_storage *peer,
		int watch_gone, const struct agent_hooks *hooks, void *ctx)
{
	struct agent_conn *c = calloc(1, sizeof(*c));

	if (c == NULL)
		return NULL;
	c->loop = loop;
	c->fl = fl;
	c->o = o;
	c->hooks = hooks;
	c->ctx = ctx;
	c->watch_gone = watch_gone;
	c->state = AG_START;
	watch_init(&c->inw, in_fd, c);
	watch_init(&c->outw, out_fd, c);
	c->timer.fn = on_timer;
	c->timer.ctx = c;
	c->wait.fn = on_verdict;
	c->wait.ctx = c;
	c->wait.gone = watch_gone ? client_gone : NULL;
	if (peer != NULL || log_enabled(LOGLVL_DEBUG))
		peer_describe(in_fd, peer, c->peer, sizeof(c->peer));
	set_events(c);
	c->started = loop_now();
	timer_arm(loop, &c->timer, c->started);
	return c;
}

void
agentconn_free(struct agent_conn *c)
{
	if (c != NULL)
		stop(c);
	free(c);
}

void
agentconn_read_now(struct agent_conn *c)
{
	if (c->state != AG_DONE && peek(c) != 0)
		take_input(c);
}

const char *
agentconn_peer(struct agent_conn *c)
{
	if (c->peer[0] == '\0')
		peer_describe(c->inw.fd, NULL, c->peer, sizeof(c->peer));
	return c->peer;
}
