#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "admit.h"
#include "log.h"
#include "peer.h"
#include "runtime.h"
#include "sd.h"
#include "server.h"

/* The kernel caps it at net.core.somaxconn (4096 since Linux 5.4). */
#define BACKLOG 4096
/* After EMFILE/ENFILE/ENOMEM on accept: a pause instead of a busy loop. */
#define ACCEPT_PAUSE_MS 100
/* While log lines are held up, how often to try the sink again. */
#define LOG_RETRY_MS 1000

struct listener {
	struct server *srv;
	struct watch w;
	enum admit_kind kind; /* the exchange its connections have */
};

struct server {
	const struct options *o;
	struct runtime *rt;
	struct listener *ls;
	int nls;
	int accepting; /* listeners are in the loop */
	int paused;    /* after an accept error, until the timer */
	int stopping;
	struct admit adm; /* the connections held */
	struct watch sigw;
	struct timer resume;
	struct timer room; /* the oldest headless connection's grace ends */
	struct timer log_retry;
	const struct sd *sd;
};

static void
set_accepting(struct server *s, int on)
{
	int i;

	if (s->stopping || s->paused)
		on = 0;
	if (on == s->accepting)
		return;
	for (i = 0; i < s->nls; i++) {
		if (on)
			loop_add(&s->rt->loop, &s->ls[i].w, LOOP_IN);
		else
			loop_del(&s->rt->loop, &s->ls[i].w);
	}
	s->accepting = on;
}

static void
resume_accepting(struct timer *t)
{
	struct server *s = t->ctx;

	if (t == &s->resume)
		s->paused = 0;
	/* on_accept makes room, or turns accepting off again. */
	set_accepting(s, 1);
}

/* Accepting stops until a timer: EMFILE, ENFILE or ENOMEM would only come
 * back at once. */
static void
accept_failed(struct server *s)
{
	log_msg(LOGLVL_ERROR, "accept: %s", strerror(errno));
	s->paused = 1;
	set_accepting(s, 0);
	timer_arm(&s->rt->loop, &s->resume, loop_now() + ACCEPT_PAUSE_MS);
}

static void
on_accept(struct watch *w, unsigned events)
{
	struct listener *l = w->ctx;
	struct server *s = l->srv;
	int burst;

	(void)events;
	/* A bounded burst per wake-up keeps one busy listener fair. */
	for (burst = 0; burst < 64 && s->accepting; burst++) {
		struct sockaddr_storage peer;
		socklen_t plen = sizeof(peer);
		int64_t retry;
		int fd;

		if (!admit_room(&s->adm, &retry)) {
			/* Every connection held has a request in progress
			 * or its grace: the rest wait in the backlog. */
			if (retry != -1)
				timer_arm(&s->rt->loop, &s->room, retry);
			set_accepting(s, 0);
			return;
		}
		fd = accept4(w->fd, (struct sockaddr *)&peer, &plen,
			     SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd == -1) {
			if (errno != EAGAIN && errno != EINTR &&
			    errno != ECONNABORTED)
				accept_failed(s);
			return;
		}
		admit_take(&s->adm, fd, &peer, l->kind);
	}
}

static void
stop(struct server *s, int sig)
{
	int i, held = admit_held(&s->adm);

	log_msg(LOGLVL_INFO, "signal %d: stopping, %d request%s in progress",
		sig, held, held == 1 ? "" : "s");
	sd_notify(s->sd, "STOPPING=1"); /* shutdown begins now */
	set_accepting(s, 0);
	s->stopping = 1;
	/* The queue is not left for one deadline after another. */
	flight_stopping(&s->rt->fl);
	for (i = 0; i < s->nls; i++) {
		close(s->ls[i].w.fd);
		s->ls[i].w.fd = -1;
	}
	admit_close_idle(&s->adm);
}

static void
on_signal(struct watch *w, unsigned events)
{
	struct server *s = w->ctx;
	int sig = loop_read_signal(w);

	(void)events;
	if (sig == SIGHUP) {
		/* A terminal hanging up, or somebody expecting a reload:
		 * there is nothing to reload, and stopping would leave the
		 * port dead under Restart=on-failure. */
		log_msg(LOGLVL_INFO,
			"signal %d (SIGHUP): ignored, nothing to "
			"reload",
			sig);
		return;
	}
	if (sig != 0 && !s->stopping)
		stop(s, sig);
}

static int
bind_listener(const struct sockaddr *sa, socklen_t len, int v6only)
{
	int fd, on = 1, e;

	fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
		    0);
	if (fd == -1)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
	if (sa->sa_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only,
			   sizeof(v6only));
	if (bind(fd, sa, len) == 0 && listen(fd, BACKLOG) == 0)
		return fd;
	e = errno;
	close(fd);
	errno = e;
	return -1;
}

/* The default listener and the wildcards (:PORT, 0.0.0.0:PORT, [::]:PORT)
 * are [::] taking IPv4 too, as Go's are; 0.0.0.0 where IPv6 is off (no
 * AF_INET6 socket, or no bind).  Any other address is that address alone. */
static int
open_listener(const struct sockaddr_any *addr, int dual)
{
	struct sockaddr_in6 any6;
	struct sockaddr_in any4;
	int fd;

	if (!dual)
		return bind_listener((const struct sockaddr *)&addr->ss,
				     addr->len, 1);
	memset(&any6, 0, sizeof(any6));
	any6.sin6_family = AF_INET6;
	any6.sin6_addr = in6addr_any;
	memset(&any4, 0, sizeof(any4));
	any4.sin_family = AF_INET;
	any4.sin_addr.s_addr = htonl(INADDR_ANY);
	any4.sin_port = any6.sin6_port =
		addr->ss.ss_family == AF_INET6
			? ((const struct sockaddr_in6 *)&addr->ss)->sin6_port
			: ((const struct sockaddr_in *)&addr->ss)->sin_port;
	fd = bind_listener((const struct sockaddr *)&any6, sizeof(any6), 0);
	if (fd == -1 && (errno == EAFNOSUPPORT || errno == EADDRNOTAVAIL))
		fd = bind_listener((const struct sockaddr *)&any4, sizeof(any4),
				   1);
	return fd;
}

/* Listener i of those given on the command line: the HTTP one first, then
 * every --agent-listener.  Its descriptor, or -1 (logged). */
static int
open_given(struct server *s, int i)
{
	const struct options *o = s->o;
	const struct listen_addr *ag =
		i > 0 ? &o->agent_listeners[i - 1] : NULL;
	int fd = ag != NULL ? open_listener(&ag->addr, ag->dual)
			    : open_listener(&o->listener, o->listener_dual);

	s->ls[i].kind = ag != NULL ? ADMIT_AGENT : ADMIT_HTTP;
	if (fd == -1)
		log_msg(LOGLVL_ERROR, "listen on %s: %s",
			ag != NULL                 ? ag->text
			: o->listener_text != NULL ? o->listener_text
						   : ":5000",
			strerror(errno));
	return fd;
}

/* Socket activation: passed socket i, an agent listener when systemd
 * names it "agent" (FileDescriptorName=agent). */
static int
take_passed(struct server *s, int first_fd, int i, const struct sd *sd)
{
	int fd = first_fd + i;

	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	s->ls[i].kind = sd_named(sd, i, "agent") ? ADMIT_AGENT : ADMIT_HTTP;
	return fd;
}

static int
setup(struct server *s, int first_fd, int nfds)
{
	int i;

	admit_init(&s->adm, &s->rt->loop, &s->rt->fl, s->o);
	s->nls = nfds > 0 ? nfds : 1 + (int)s->o->nagent_listeners;
	s->ls = calloc((size_t)s->nls, sizeof(*s->ls));
	if (s->ls == NULL)
		return -1;
	for (i = 0; i < s->nls; i++)
		s->ls[i].w.fd = -1;
	for (i = 0; i < s->nls; i++) {
		struct sockaddr_storage ss;
		socklen_t len = sizeof(ss);
		char where[80];
		int fd = nfds > 0 ? take_passed(s, first_fd, i, s->sd)
				  : open_given(s, i);

		if (fd == -1)
			return -1;
		s->ls[i].srv = s;
		s->ls[i].w.fd = fd;
		s->ls[i].w.fn = on_accept;
		s->ls[i].w.ctx = &s->ls[i];
		memset(&ss, 0, sizeof(ss));
		getsockname(fd, (struct sockaddr *)&ss, &len);
		if (peer_format(&ss, where, sizeof(where)) == -1)
			snprintf(where, sizeof(where), "fd");
		log_msg(LOGLVL_INFO, "listening on %s%s", where,
			s->ls[i].kind == ADMIT_AGENT ? " (agent)" : "");
	}
	s->sigw.fn = on_signal;
	s->sigw.ctx = s;
	if (loop_add_signals(&s->rt->loop, &s->sigw) == -1)
		return -1;
	admit_budget(&s->adm, s->nls);
	s->resume.fn = resume_accepting;
	s->resume.ctx = s;
	s->room.fn = resume_accepting;
	s->room.ctx = s;
	set_accepting(s, 1);
	return 0;
}

static void
on_log_retry(struct timer *t)
{
	(void)t;
	log_retry();
}

/* Until stopped and every request in progress has its answer: the exit
 * status. */
static int
run_loop(struct server *s)
{
	struct loop *loop = &s->rt->loop;

	while (!(s->stopping && admit_held(&s->adm) == 0)) {
		if (loop_run_once(loop) == -1) {
			log_msg(LOGLVL_ERROR, "epoll: %s", strerror(errno));
			return 1;
		}
		/* A connection that ended in this turn makes room. */
		if (admit_has_room(&s->adm))
			set_accepting(s, 1);
		/* Lines a stalled log reader left: tried again later, not
		 * waited for. */
		if (!s->log_retry.armed && log_retry())
			timer_arm(loop, &s->log_retry,
				  loop_now() + LOG_RETRY_MS);
	}
	return 0;
}

int
server_run(struct runtime *rt, int first_fd, int nfds, const struct sd *sd)
{
	struct server s;
	int i, status = 0;

	memset(&s, 0, sizeof(s));
	s.o = rt->o;
	s.rt = rt;
	s.sd = sd;
	s.sigw.fd = -1;
	s.log_retry.fn = on_log_retry;
	if (setup(&s, first_fd, nfds) == -1) {
		if (errno != 0 && s.sigw.fd == -1)
			log_msg(LOGLVL_ERROR, "server setup: %s",
				strerror(errno));
		status = 1;
	} else {
		sd_notify(sd, "READY=1");
	}
	if (status == 0)
		status = run_loop(&s);
	admit_close_all(&s.adm);
	for (i = 0; i < s.nls; i++)
		if (s.ls != NULL && s.ls[i].w.fd != -1 && s.ls[i].w.fd != 0)
			close(s.ls[i].w.fd);
	if (s.sigw.fd != -1)
		close(s.sigw.fd);
	free(s.ls);
	timer_cancel(&rt->loop, &s.log_retry);
	timer_cancel(&rt->loop, &s.room);
	timer_cancel(&rt->loop, &s.resume);
	if (status == 0)
		log_msg(LOGLVL_INFO, "stopped");
	return status;
}
