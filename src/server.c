#include <arpa/inet.h>
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
#include "serve.h"
#include "server.h"

#define BACKLOG 1024
/* After EMFILE/ENFILE/ENOMEM on accept: a pause instead of a busy loop. */
#define ACCEPT_PAUSE_MS 100

struct slot {
	struct server *srv;
	struct conn *conn;
	int fd;
	struct slot *prev, *next;
};

struct listener {
	struct server *srv;
	struct watch w;
};

struct server {
	const struct options *o;
	struct loop loop;
	struct flight fl;
	struct listener *ls;
	int nls;
	int accepting; /* listeners are in the loop */
	int paused;    /* after an accept error, until the timer */
	int stopping;
	int active;
	struct slot *slots;
	struct watch sigw;
	struct timer resume;
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
unlink_slot(struct server *s, struct slot *sl)
{
	if (sl->prev != NULL)
		sl->prev->next = sl->next;
	else
		s->slots = sl->next;
	if (sl->next != NULL)
		sl->next->prev = sl->prev;
	close(sl->fd);
	free(sl);
	s->active--;
}

static void
conn_done(void *ctx, struct conn *c, enum serve_outcome outcome)
{
	struct slot *sl = ctx;
	struct server *s = sl->srv;

	(void)outcome;
	serve_free(c);
	unlink_slot(s, sl);
	if (s->active < s->o->max_connections)
		set_accepting(s, 1);
}

static void
resume_accepting(struct timer *t)
{
	struct server *s = t->ctx;

	s->paused = 0;
	set_accepting(s, s->active < s->o->max_connections);
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
		int fd = accept4(w->fd, (struct sockaddr *)&peer, &plen,
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
		sl->conn = serve_start(&s->loop, &s->fl, s->o, fd, fd, &peer,
				       conn_done, sl);
		if (sl->conn == NULL) {
			close(fd);
			free(sl);
			continue;
		}
		sl->next = s->slots;
		if (s->slots != NULL)
			s->slots->prev = sl;
		s->slots = sl;
		if (++s->active >= s->o->max_connections)
			set_accepting(s, 0); /* the rest wait in the backlog */
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
	if (sendto(fd, msg, strlen(msg), MSG_NOSIGNAL,
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
	for (i = 0; i < s->nls; i++) {
		close(s->ls[i].w.fd);
		s->ls[i].w.fd = -1;
	}
	/* Requests in flight finish within their own deadlines; connections
	 * that have sent nothing would only wait for their timeout. */
	for (sl = s->slots; sl != NULL; sl = next) {
		next = sl->next;
		if (serve_is_idle(sl->conn)) {
			serve_free(sl->conn);
			unlink_slot(s, sl);
		}
	}
}

static void
on_signal(struct watch *w, unsigned events)
{
	struct server *s = w->ctx;
	int sig = loop_read_signal(w);

	(void)events;
	if (sig != 0 && !s->stopping)
		stop(s, sig);
}

static void
describe_addr(const struct sockaddr_storage *ss, char *out, size_t cap)
{
	char host[INET6_ADDRSTRLEN] = "?";
	unsigned port = 0;

	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *sin = (const void *)ss;

		inet_ntop(AF_INET, &sin->sin_addr, host, sizeof(host));
		port = ntohs(sin->sin_port);
		snprintf(out, cap, "%s:%u", host, port);
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const void *)ss;

		inet_ntop(AF_INET6, &sin6->sin6_addr, host, sizeof(host));
		port = ntohs(sin6->sin6_port);
		snprintf(out, cap, "[%s]:%u", host, port);
	} else {
		snprintf(out, cap, "fd");
	}
}

static int
open_listener(const struct options *o)
{
	int fd, on = 1;

	fd = socket(o->listener.ss.ss_family,
		    SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
	if (bind(fd, (const struct sockaddr *)&o->listener.ss,
		 o->listener.len) == -1 ||
	    listen(fd, BACKLOG) == -1) {
		int e = errno;

		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

/* Descriptors --max-connections requests can hold at once: the
 * connection, a socket per address of each port, http and unix check, a
 * pipe and a pidfd per script.  A soft limit below that would turn EMFILE
 * into failed checks; raised only as far as needed, since scripts inherit
 * it (and some close every descriptor up to it). */
static void
fit_fd_limit(const struct options *o)
{
	struct rlimit rl;
	rlim_t need = 64; /* ours: listeners, epoll, signalfd, state files */
	size_t i;

	for (i = 0; i < o->nchecks; i++)
		need += (rlim_t)o->max_connections *
			(o->checks[i].type == CHECK_SCRIPT
				 ? 2
				 : o->checks[i].naddrs);
	need += (rlim_t)o->max_connections;
	if (getrlimit(RLIMIT_NOFILE, &rl) == -1 || rl.rlim_cur >= need)
		return;
	rl.rlim_cur = need < rl.rlim_max ? need : rl.rlim_max;
	setrlimit(RLIMIT_NOFILE, &rl);
	if (rl.rlim_cur < need)
		log_msg(LOGLVL_WARN,
			"--max-connections %d may need %llu descriptors; the "
			"limit is %llu",
			o->max_connections, (unsigned long long)need,
			(unsigned long long)rl.rlim_cur);
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
						    : "0.0.0.0:5000",
				strerror(errno));
			return -1;
		}
		s->ls[i].srv = s;
		s->ls[i].w.fd = fd;
		s->ls[i].w.fn = on_accept;
		s->ls[i].w.ctx = &s->ls[i];
		memset(&ss, 0, sizeof(ss));
		getsockname(fd, (struct sockaddr *)&ss, &len);
		describe_addr(&ss, where, sizeof(where));
		log_msg(LOGLVL_INFO, "listening on %s", where);
	}
	s->sigw.fn = on_signal;
	s->sigw.ctx = s;
	if (loop_add_signals(&s->loop, &s->sigw) == -1)
		return -1;
	fit_fd_limit(s->o);
	s->resume.fn = resume_accepting;
	s->resume.ctx = s;
	set_accepting(s, 1);
	return 0;
}

int
server_run(const struct options *o, int first_fd, int nfds,
	   const char *notify_socket)
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
	flight_init(&s.fl, &s.loop, o);
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
	}
	while (s.slots != NULL) {
		struct slot *sl = s.slots;

		/* The head's prev is NULL: unlink_slot moves s.slots on. */
		serve_free(sl->conn); /* NOLINT(clang-analyzer-unix.Malloc) */
		unlink_slot(&s, sl);
	}
	for (i = 0; i < s.nls; i++)
		if (s.ls != NULL && s.ls[i].w.fd != -1 && s.ls[i].w.fd != 0)
			close(s.ls[i].w.fd);
	if (s.sigw.fd != -1)
		close(s.sigw.fd);
	free(s.ls);
	flight_close(&s.fl);
	loop_close(&s.loop);
	if (status == 0)
		log_msg(LOGLVL_INFO, "stopped");
	return status;
}
