#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "kind_connect.h"
#include "peer.h"

/* A unix socket's full accept queue: the first retry, and the longest wait
 * between two (a listener busy for a moment is found soon, one that stays
 * full costs a connect every 100 ms until the deadline). */
#define UNIX_RETRY_FIRST_MS 5
#define UNIX_RETRY_MAX_MS 100

const char *
kind_connect_reason(int err)
{
	switch (err) {
	case ECONNREFUSED:
		return "refused";
	case ETIMEDOUT:
		return "timed out";
	case ENETUNREACH:
		return "network unreachable";
	case EHOSTUNREACH:
		return "host unreachable";
	case EAGAIN:
		return "backlog full";
	default:
		return strerror(err);
	}
}

static struct loop *
loop_of(const struct connector *c)
{
	return c->p.env->loop;
}

/* Every address refused or failed: the last errno says why. */
static void
refused(struct connector *c, int err)
{
	probe_fail(&c->p, probe_shortage(err), kind_connect_reason(err));
}

/* Out of the epoll set before the close: a child forked a moment ago may
 * still hold a copy, and a close would then leave it there.  A TCP socket
 * closes with a reset, as HAProxy's checks do (peer_close_reset says why):
 * a flood of requests would otherwise use up the host's ephemeral ports. */
static void
close_sock(struct connector *c, struct watch *w)
{
	if (w->fd == -1)
		return;
	loop_release(loop_of(c), w);
	if (c->local)
		close(w->fd);
	else
		peer_close_reset(w->fd);
	w->fd = -1;
}

void
kind_connect_stop(struct probe *p)
{
	struct connector *c = (struct connector *)p;
	size_t i;

	for (i = 0; i < c->nsocks; i++)
		close_sock(c, &c->socks[i]);
	c->inflight = 0;
	timer_cancel(loop_of(c), &c->retry);
	lookup_cancel(c->lookup);
	c->lookup = NULL;
	free(c->socks);
	c->socks = NULL;
	c->nsocks = 0;
}

void
kind_connect_keep(struct connector *c, struct watch *w)
{
	size_t i;

	for (i = 0; i < c->nsocks; i++) {
		struct watch *o = &c->socks[i];

		if (o != w)
			close_sock(c, o);
	}
	loop_del(loop_of(c), w);
	c->inflight = 1;
}

/* Why a connect that reported an error failed. */
static int
connect_error(int fd)
{
	int err = 0;
	socklen_t len = sizeof(err);

	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1)
		err = errno;
	return err == 0 ? ECONNREFUSED : err;
}

static void
tcp_ready(struct watch *w, unsigned events)
{
	struct connector *c = w->ctx;
	int err;

	/* Writable without an error: connected, no getsockopt needed. */
	if ((events & LOOP_ERR) == 0) {
		c->connected(c, w);
		return;
	}
	err = c->err = connect_error(w->fd);
	loop_release(loop_of(c), w);
	close(w->fd);
	w->fd = -1;
	if (--c->inflight == 0)
		refused(c, err);
}

/* At the deadline, before failing: a connect or an answer that is already
 * there came in time, however late the loop looks (the checker stopped,
 * starved or paused).  Each socket's own handler takes what it finds. */
static void
sockets_ended(struct connector *c)
{
	struct pollfd pfd;
	size_t i;

	for (i = 0; i < c->nsocks && !c->p.ended; i++) {
		struct watch *w = &c->socks[i];

		if (w->fd == -1)
			continue;
		pfd.fd = w->fd;
		pfd.events = POLLIN | POLLOUT;
		pfd.revents = 0;
		/* The same bits as epoll's: LOOP_IN, LOOP_OUT, LOOP_ERR. */
		if (poll(&pfd, 1, 0) == 1 &&
		    (pfd.revents & (w->fn == tcp_ready ? POLLOUT | POLLERR
						       : POLLIN | POLLERR)))
			w->fn(w, (unsigned)pfd.revents);
	}
}

void
kind_connect_expire(struct probe *p)
{
	struct connector *c = (struct connector *)p;
	char reason[PROBE_REASON_MAX];

	sockets_ended(c);
	if (p->ended)
		return;
	if (c->lookup != NULL) {
		snprintf(reason, sizeof(reason), "resolve %s: timed out",
			 p->spec->host);
		probe_done(p, PROBE_TIMEOUT, 0, reason);
	} else if (c->retry.armed) {
		probe_done(p, PROBE_TIMEOUT, 0, "timed out: backlog full");
	} else {
		probe_done(p, PROBE_TIMEOUT, 0, NULL);
	}
}

/* Tries again later when a unix socket's accept queue refused them all. */
static int
backlog_full(struct connector *c)
{
	if (!c->local || c->err != EAGAIN)
		return 0;
	c->backoff_ms =
		c->backoff_ms == 0 ? UNIX_RETRY_FIRST_MS : 2 * c->backoff_ms;
	if (c->backoff_ms > UNIX_RETRY_MAX_MS)
		c->backoff_ms = UNIX_RETRY_MAX_MS;
	timer_arm(loop_of(c), &c->retry, loop_now() + c->backoff_ms);
	return 1;
}

/* Over loopback the handshake has run by the time connect() returns (the
 * SYN and its answer are processed before the call ends), so one poll
 * tells what an epoll registration and a wake-up would: 1 connected, -1
 * failed (c->err says why, the socket is closed), 0 still in progress. */
static int
settled_now(struct connector *c, struct watch *w)
{
	struct pollfd p = {.fd = w->fd, .events = POLLOUT};

	if (poll(&p, 1, 0) != 1)
		return 0;
	if ((p.revents & (POLLERR | POLLHUP)) == 0)
		return 1;
	c->err = connect_error(w->fd);
	close(w->fd);
	w->fd = -1;
	return -1;
}

static void
connect_each(struct connector *c, const struct sockaddr_any *addrs)
{
	size_t i, n = c->nsocks;

	c->err = ECONNREFUSED;
	for (i = 0; i < n; i++) {
		struct watch *w = &c->socks[i];
		const struct sockaddr_any *a = &addrs[i];

		w->ctx = c;
		w->fn = tcp_ready;
		w->fd = socket(a->ss.ss_family,
			       SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (w->fd == -1) {
			c->err = errno;
			continue;
		}
		if (connect(w->fd, (const struct sockaddr *)&a->ss, a->len) ==
		    0) {
			c->inflight++;
			c->connected(c, w);
			return;
		}
		if (errno == EINPROGRESS) {
			int now = settled_now(c, w);

			if (now > 0) {
				c->inflight++;
				c->connected(c, w);
				return;
			}
			if (now < 0)
				continue;
		}
		if (errno != EINPROGRESS ||
		    loop_add(loop_of(c), w, LOOP_OUT) == -1) {
			c->err = errno;
			close(w->fd);
			w->fd = -1;
			continue;
		}
		c->inflight++;
	}
	if (c->inflight == 0 && !backlog_full(c))
		refused(c, c->err);
}

/* A unix socket whose accept queue is full refuses with EAGAIN at once,
 * where TCP would retry the SYN: tried again, sooner then later, within
 * the check's deadline. */
static void
unix_retry(struct timer *t)
{
	struct connector *c = t->ctx;

	connect_each(c, c->p.spec->addrs);
}

/* A connect to every address at once: passes on the first that accepts. */
static void
connect_all(struct connector *c, const struct sockaddr_any *addrs, size_t n)
{
	size_t i;

	c->socks = calloc(n, sizeof(*c->socks));
	if (c->socks == NULL) {
		probe_fail_errno(&c->p, "", ENOMEM, ENOMEM);
		return;
	}
	c->nsocks = n;
	for (i = 0; i < c->nsocks; i++)
		c->socks[i].fd =
			-1; /* not 0: in inetd mode that is the client */
	c->retry.fn = unix_retry;
	c->retry.ctx = c;
	connect_each(c, addrs);
}

static void
resolved(void *ctx, const struct sockaddr_any *addrs, size_t n, const char *err)
{
	struct connector *c = ctx;
	char reason[PROBE_REASON_MAX];

	c->lookup = NULL;
	if (err != NULL) {
		snprintf(reason, sizeof(reason), "resolve %s: %s",
			 c->p.spec->host, err);
		probe_done(&c->p, PROBE_FAILED, 0, reason);
		return;
	}
	connect_all(c, addrs, n);
}

void
kind_connect_start(struct connector *c,
		   void (*connected)(struct connector *c, struct watch *w))
{
	const struct check_spec *s = c->p.spec;
	char reason[PROBE_REASON_MAX];
	int err;

	c->connected = connected;
	/* A unix socket's one address says so; tcp and http name a host or
	 * an IP address. */
	c->local = s->host == NULL && s->addrs[0].ss.ss_family == AF_UNIX;
	if (s->host == NULL) {
		connect_all(c, s->addrs, s->naddrs);
		return;
	}
	/* Looked up at every run, within this check's deadline. */
	c->lookup = lookup_start(loop_of(c), c->p.env->reaper, s->host, s->port,
				 AF_UNSPEC, resolved, c);
	if (c->lookup == NULL) {
		err = errno;
		snprintf(reason, sizeof(reason), "resolve %s: %s", s->host,
			 probe_fork_reason(err));
		probe_fail(&c->p, probe_fork_shortage(err), reason);
	}
}

size_t
kind_connect_fds(const struct check_spec *spec)
{
	return spec->host != NULL ? LOOKUP_MAX_ADDRS : spec->naddrs;
}

/* tcp and unix: an accepted connect is the whole check. */
static void
passed(struct connector *c, struct watch *w)
{
	(void)w;
	probe_done(&c->p, PROBE_PASSED, 0, NULL);
}

static void
connect_start(struct probe *p)
{
	kind_connect_start((struct connector *)p, passed);
}

const struct probe_kind kind_connect = {
	.size = sizeof(struct connector),
	.start = connect_start,
	.expire = kind_connect_expire,
	.stop = kind_connect_stop,
	.fds = kind_connect_fds,
};
