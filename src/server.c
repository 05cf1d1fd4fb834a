#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "flight.h"
#include "log.h"
#include "peer.h"
#include "reap.h"
#include "serve.h"
#include "server.h"

/* The kernel caps it at net.core.somaxconn (4096 since Linux 5.4). */
#define BACKLOG 4096
/* After EMFILE/ENFILE/ENOMEM on accept: a pause instead of a busy loop. */
#define ACCEPT_PAUSE_MS 100
/* Connections held at once, however many descriptors there are. */
#define TABLE_MAX 16384
/* Descriptors of our own beside connections and runs: listeners, epoll,
 * signalfd, state files, inotify, the log. */
#define FDS_RESERVED 32
/* While log lines are held up, how often to try the sink again. */
#define LOG_RETRY_MS 1000
/* How long a connection without a complete head is safe from being closed
 * to make room: a client that connects and sends at once (any load
 * balancer) is never closed for an idle one; an idle one is, after this. */
#define EVICT_GRACE_MS 200

struct slot {
	struct server *srv;
	struct conn *conn;
	int fd;
	int headless;  /* on the headless list: no complete head yet */
	int64_t since; /* when it was accepted */
	struct slot *prev, *next;   /* every connection */
	struct slot *hprev, *hnext; /* headless ones, oldest first */
};

struct listener {
	struct server *srv;
	struct watch w;
};

struct server {
	const struct options *o;
	struct loop loop;
	struct reaper reaper;
	struct check_env env;
	struct flight fl;
	struct change change;
	struct listener *ls;
	int nls;
	int accepting; /* listeners are in the loop */
	int paused;    /* after an accept error, until the timer */
	int stopping;
	int active;    /* connections held */
	int table_cap; /* at most this many, by the descriptor budget */
	struct slot *slots;
	struct slot *oldest, *newest; /* the headless list */
	struct watch sigw;
	struct timer resume;
	struct timer room; /* the oldest headless connection's grace ends */
	struct timer log_retry;
	const char *notify_socket;
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
			loop_add(&s->loop, &s->ls[i].w, LOOP_IN);
		else
			loop_del(&s->loop, &s->ls[i].w);
	}
	s->accepting = on;
}

static void
headless_remove(struct server *s, struct slot *sl)
{
	if (!sl->headless)
		return;
	if (sl->hprev != NULL)
		sl->hprev->hnext = sl->hnext;
	else
		s->oldest = sl->hnext;
	if (sl->hnext != NULL)
		sl->hnext->hprev = sl->hprev;
	else
		s->newest = sl->hprev;
	sl->hprev = sl->hnext = NULL;
	sl->headless = 0;
}

static void
headless_append(struct server *s, struct slot *sl)
{
	sl->headless = 1;
	sl->hnext = NULL;
	sl->hprev = s->newest;
	if (s->newest != NULL)
		s->newest->hnext = sl;
	else
		s->oldest = sl;
	s->newest = sl;
}

/* With a reset for one closed to make room (a flood of them leaves no
 * TIME_WAIT behind). */
static void
unlink_slot(struct server *s, struct slot *sl, int reset)
{
	headless_remove(s, sl);
	if (sl->prev != NULL)
		sl->prev->next = sl->next;
	else
		s->slots = sl->next;
	if (sl->next != NULL)
		sl->next->prev = sl->prev;
	if (reset)
		peer_close_reset(sl->fd);
	else
		close(sl->fd);
	free(sl);
	s->active--;
}

static void
conn_head(void *ctx, struct conn *c)
{
	struct slot *sl = ctx;

	(void)c;
	headless_remove(sl->srv, sl);
}

static void
conn_done(void *ctx, struct conn *c, enum serve_outcome outcome)
{
	struct slot *sl = ctx;
	struct server *s = sl->srv;

	(void)outcome;
	serve_free(c);
	unlink_slot(s, sl, 0);
	set_accepting(s, s->active < s->table_cap);
}

static const struct serve_hooks hooks = {conn_head, conn_done};

/* The table is full: the connection that has waited longest without a
 * complete head goes, with a reset (no TIME_WAIT for a flood of them), once
 * its grace is over.  Its head may be waiting unread (a burst of clients is
 * accepted before any is read): read first, and only one still without a
 * head is closed.  Returns whether there is room now; if not, accepting
 * resumes when a connection ends or the oldest one's grace does. */
static int
make_room(struct server *s)
{
	int64_t now = loop_now();

	/* A slot freed here, by a callback or below, has left the headless
	 * list first: s->oldest never points to freed memory (the analyzer
	 * cannot follow that through the callbacks). */
	while (s->active >= s->table_cap && s->oldest != NULL &&
	       /* NOLINTNEXTLINE(clang-analyzer-unix.Malloc) */
	       now - s->oldest->since >= EVICT_GRACE_MS) {
		struct slot *sl = s->oldest;

		serve_read_now(sl->conn);
		if (s->oldest != sl)
			continue; /* a head came, or the connection ended */
		log_msg(LOGLVL_DEBUG,
			"connection %s closed: %d connections held, the "
			"oldest without a request makes room",
			serve_peer(sl->conn), s->active);
		serve_free(sl->conn);
		unlink_slot(s, sl, 1);
	}
	if (s->active < s->table_cap)
		return 1;
	if (s->oldest != NULL)
		timer_arm(&s->loop, &s->room,
			  s->oldest->since + EVICT_GRACE_MS);
	return 0;
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
		struct slot *sl;
		int fd;

		if (!make_room(s)) {
			/* Every connection held has a request in progress
			 * or its grace: the rest wait in the backlog. */
			set_accepting(s, 0);
			return;
		}
		fd = accept4(w->fd, (struct sockaddr *)&peer, &plen,
			     SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd == -1) {
			if (errno == EAGAIN || errno == EINTR ||
			    errno == ECONNABORTED)
				return;
			log_msg(LOGLVL_ERROR, "accept: %s", strerror(errno));
			s->paused = 1;
			set_accepting(s, 0);
			timer_arm(&s->loop, &s->resume,
				  loop_now() + ACCEPT_PAUSE_MS);
			return;
		}
		sl = calloc(1, sizeof(*sl));
		if (sl == NULL) {
			close(fd);
			continue;
		}
		sl->srv = s;
		sl->fd = fd;
		sl->since = loop_now();
		sl->conn = serve_start(&s->loop, &s->fl, s->o, fd, fd, &peer,
				       &hooks, sl);
		if (sl->conn == NULL) {
			close(fd);
			free(sl);
			continue;
		}
		serve_watch_gone(sl->conn);
		sl->next = s->slots;
		if (s->slots != NULL)
			s->slots->prev = sl;
		s->slots = sl;
		headless_append(s, sl);
		s->active++;
	}
}

/* sd_notify(3) without libsystemd: one datagram to NOTIFY_SOCKET ('@' is
 * the abstract namespace). */
static void
notify(const char *path, const char *msg)
{
	struct sockaddr_un sun;
	size_t len;
	socklen_t salen;
	int fd;

	if (path == NULL || (path[0] != '/' && path[0] != '@'))
		return;
	len = strlen(path);
	if (len >= sizeof(sun.sun_path))
		return;
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, path, len);
	if (sun.sun_path[0] == '@')
		sun.sun_path[0] = '\0';
	salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return;
	/* systemd's queue full must not stall the loop. */
	if (sendto(fd, msg, strlen(msg), MSG_NOSIGNAL | MSG_DONTWAIT,
		   (const struct sockaddr *)&sun, salen) == -1)
		log_msg(LOGLVL_WARN, "NOTIFY_SOCKET %s: %s", path,
			strerror(errno));
	close(fd);
}

static void
stop(struct server *s, int sig)
{
	struct slot *sl, *next;
	int i;

	log_msg(LOGLVL_INFO, "signal %d: stopping, %d request%s in progress",
		sig, s->active, s->active == 1 ? "" : "s");
	notify(s->notify_socket, "STOPPING=1"); /* shutdown begins now */
	set_accepting(s, 0);
	s->stopping = 1;
	/* The queue is not left for one deadline after another. */
	flight_stopping(&s->fl);
	for (i = 0; i < s->nls; i++) {
		close(s->ls[i].w.fd);
		s->ls[i].w.fd = -1;
	}
	/* Requests in flight finish within their own deadlines; connections
	 * that have sent nothing would only wait for their timeout.  What has
	 * arrived is read first, so that a probe accepted a moment ago gets
	 * its answer.  A read ends at most its own connection: next stays
	 * valid. */
	for (sl = s->slots; sl != NULL; sl = next) {
		next = sl->next;
		if (serve_is_idle(sl->conn))
			serve_read_now(sl->conn);
	}
	for (sl = s->slots; sl != NULL; sl = next) {
		next = sl->next;
		if (serve_is_idle(sl->conn)) {
			serve_free(sl->conn);
			unlink_slot(s, sl, 0);
		}
	}
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

/* The default listener and :PORT are [::] taking IPv4 too, as Go's is;
 * 0.0.0.0 where IPv6 is off.  An address given is that address alone. */
static int
open_listener(const struct options *o)
{
	struct sockaddr_in6 any6;
	struct sockaddr_in any4;
	int fd;

	if (!o->listener_dual)
		return bind_listener((const struct sockaddr *)&o->listener.ss,
				     o->listener.len, 1);
	memset(&any6, 0, sizeof(any6));
	any6.sin6_family = AF_INET6;
	any6.sin6_addr = in6addr_any;
	memset(&any4, 0, sizeof(any4));
	any4.sin_family = AF_INET;
	any4.sin_addr.s_addr = htonl(INADDR_ANY);
	any4.sin_port = any6.sin6_port =
		o->listener.ss.ss_family == AF_INET6
			? ((const struct sockaddr_in6 *)&o->listener.ss)
				  ->sin6_port
			: ((const struct sockaddr_in *)&o->listener.ss)
				  ->sin_port;
	fd = bind_listener((const struct sockaddr *)&any6, sizeof(any6), 0);
	if (fd == -1 && (errno == EAFNOSUPPORT || errno == EADDRNOTAVAIL))
		fd = bind_listener((const struct sockaddr *)&any4, sizeof(any4),
				   1);
	return fd;
}

/* Shares the descriptor limit (raised to the hard limit at start) between
 * check runs and connections: runs get up to half of it, at most
 * --max-connections of them; connections the rest, up to TABLE_MAX.  Too
 * few descriptors then make requests wait for a run, never fail one. */
static void
fit_budget(struct server *s)
{
	const struct options *o = s->o;
	size_t cost = check_run_fds(o), avail = 0, runs, table;
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 &&
	    rl.rlim_cur > (rlim_t)(FDS_RESERVED + s->nls))
		avail = rl.rlim_cur > 1000000
				? 1000000
				: (size_t)rl.rlim_cur - FDS_RESERVED - s->nls;
	runs = avail / 2 / cost;
	if (runs == 0 && avail > cost)
		runs = 1;
	if (runs > (size_t)o->max_connections)
		runs = (size_t)o->max_connections;
	table = avail - runs * cost;
	if (table > TABLE_MAX)
		table = TABLE_MAX;
	if (table < 1)
		table = 1;
	s->table_cap = (int)table;
	flight_set_max_runs(&s->fl, (int)runs);
	if (runs == 0)
		log_msg(LOGLVL_ERROR,
			"the descriptor limit (%llu) cannot hold one run of "
			"the checks (%zu descriptors): every request gets 503",
			(unsigned long long)rl.rlim_cur, cost);
	else if (runs < (size_t)o->max_connections)
		log_msg(LOGLVL_WARN,
			"the descriptor limit (%llu) allows %zu check runs at "
			"once, not --max-connections %d; more requests wait",
			(unsigned long long)rl.rlim_cur, runs,
			o->max_connections);
	log_msg(LOGLVL_DEBUG, "up to %d connections, %zu check runs at once",
		s->table_cap, runs);
}

static int
setup(struct server *s, int first_fd, int nfds)
{
	int i;

	s->nls = nfds > 0 ? nfds : 1;
	s->ls = calloc((size_t)s->nls, sizeof(*s->ls));
	if (s->ls == NULL)
		return -1;
	for (i = 0; i < s->nls; i++) {
		struct sockaddr_storage ss;
		socklen_t len = sizeof(ss);
		char where[80];
		int fd;

		if (nfds > 0) {
			fd = first_fd + i;
			fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
		} else if ((fd = open_listener(s->o)) == -1) {
			log_msg(LOGLVL_ERROR, "listen on %s: %s",
				s->o->listener_text ? s->o->listener_text
						    : ":5000",
				strerror(errno));
			return -1;
		}
		s->ls[i].srv = s;
		s->ls[i].w.fd = fd;
		s->ls[i].w.fn = on_accept;
		s->ls[i].w.ctx = &s->ls[i];
		memset(&ss, 0, sizeof(ss));
		getsockname(fd, (struct sockaddr *)&ss, &len);
		if (peer_format(&ss, where, sizeof(where)) == -1)
			snprintf(where, sizeof(where), "fd");
		log_msg(LOGLVL_INFO, "listening on %s", where);
	}
	s->sigw.fn = on_signal;
	s->sigw.ctx = s;
	if (loop_add_signals(&s->loop, &s->sigw) == -1)
		return -1;
	fit_budget(s);
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

int
server_run(const struct options *o, int first_fd, int nfds,
	   const char *notify_socket, unsigned long script_nofile)
{
	struct server s;
	int i, status = 0;

	memset(&s, 0, sizeof(s));
	s.o = o;
	s.notify_socket = notify_socket;
	s.sigw.fd = -1;
	if (loop_init(&s.loop) == -1) {
		log_msg(LOGLVL_ERROR, "epoll: %s", strerror(errno));
		return 1;
	}
	reaper_init(&s.reaper, &s.loop);
	s.env.loop = &s.loop;
	s.env.reaper = &s.reaper;
	s.env.nofile = script_nofile;
	s.log_retry.fn = on_log_retry;
	flight_init(&s.fl, &s.env, o);
	change_open(&s.change, o, 0);
	s.fl.change = &s.change;
	if (setup(&s, first_fd, nfds) == -1) {
		if (errno != 0 && s.sigw.fd == -1)
			log_msg(LOGLVL_ERROR, "server setup: %s",
				strerror(errno));
		status = 1;
	} else {
		notify(notify_socket, "READY=1");
	}
	while (status == 0 && !(s.stopping && s.active == 0)) {
		if (loop_run_once(&s.loop) == -1) {
			log_msg(LOGLVL_ERROR, "epoll: %s", strerror(errno));
			status = 1;
		}
		/* Lines a stalled log reader left: tried again later, not
		 * waited for. */
		if (!s.log_retry.armed && log_retry())
			timer_arm(&s.loop, &s.log_retry,
				  loop_now() + LOG_RETRY_MS);
	}
	while (s.slots != NULL) {
		struct slot *sl = s.slots;

		/* The head's prev is NULL: unlink_slot moves s.slots on. */
		serve_free(sl->conn); /* NOLINT(clang-analyzer-unix.Malloc) */
		unlink_slot(&s, sl, 0);
	}
	for (i = 0; i < s.nls; i++)
		if (s.ls != NULL && s.ls[i].w.fd != -1 && s.ls[i].w.fd != 0)
			close(s.ls[i].w.fd);
	if (s.sigw.fd != -1)
		close(s.sigw.fd);
	free(s.ls);
	flight_close(&s.fl);
	change_close(&s.change);
	reaper_close(&s.reaper);
	timer_cancel(&s.loop, &s.log_retry);
	timer_cancel(&s.loop, &s.room);
	timer_cancel(&s.loop, &s.resume);
	loop_close(&s.loop);
	if (status == 0)
		log_msg(LOGLVL_INFO, "stopped");
	log_retry();
	return status;
}
