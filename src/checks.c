#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "checks.h"
#include "http.h"
#include "log.h"
#include "lookup.h"
#include "spawn.h"

#define OUTPUT_KEEP 4096
/* Without a pidfd (old kernels, valgrind): how often to look for an exit. */
#define EXIT_POLL_MS 5
/* Bytes read from a script's pipe per wake-up: bounds how long one chatty
 * script can hold the loop from other connections. */
#define OUTPUT_SLICE ((size_t)256 * 1024)
/* Children of ours stuck in uninterruptible sleep, beyond which scripts
 * fail without being run: a hung disk must not make processes without end. */
#define CHECK_STUCK_MAX 64
/* A unix socket's full accept queue: the first retry, and the longest wait
 * between two (a listener busy for a moment is found soon, one that stays
 * full costs a connect every 100 ms until the deadline). */
#define UNIX_RETRY_FIRST_MS 5
#define UNIX_RETRY_MAX_MS 100

struct probe {
	struct check_run *run;
	const struct check_spec *spec;
	struct check_result *res;
	struct timer deadline;
	int finished;
	/* CHECK_TCP, CHECK_HTTP given a name: its lookup, while it lasts */
	struct lookup *lookup;
	/* CHECK_TCP, CHECK_HTTP, CHECK_UNIX: a connect per address */
	struct watch *socks;
	size_t nsocks;
	size_t inflight;
	int err;
	/* CHECK_UNIX: the next connect while the accept queue is full */
	struct timer retry;
	int backoff_ms;
	/* CHECK_HTTP: the request going out, then the response head */
	char *head;
	size_t sent, got;
	/* CHECK_SCRIPT */
	struct child child;
	struct reaper_child track;
	int spawned; /* a process of ours still to let go of */
	int ran;     /* a process was made: its output is for the log */
	struct watch exitw, outw;
	struct timer exitpoll; /* no pidfd: look for the exit now and then */
	char out[OUTPUT_KEEP];
	size_t outlen;
};

struct check_run {
	struct loop *loop;
	const struct check_env *env;
	const struct options *o;
	int64_t started;
	size_t pending;
	int64_t finished_ns;
	int short_errno; /* the first shortage of ours that failed a check */
	struct timer done_timer;
	void (*done)(void *ctx, const struct verdict *v);
	void *ctx;
	struct check_result *results;
	struct probe probes[];
};

static const char *const type_names[] = {
	[CHECK_TCP] = "tcp",
	[CHECK_SCRIPT] = "script",
	[CHECK_HTTP] = "http",
	[CHECK_UNIX] = "unix",
};

const char *
check_type_name(enum check_type type)
{
	return type_names[type];
}

static const char *
errno_reason(int err)
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

/* Our own shortage, not the service's: such a failure must not pass for
 * an unhealthy answer.  Returns err when it is one, else 0. */
static int
shortage(int err)
{
	if (err == EMFILE || err == ENFILE || err == ENOMEM || err == ENOBUFS)
		return err;
	return 0;
}

/* The same for making a process, which EAGAIN refuses at a process limit
 * (TasksMax, pids.max, RLIMIT_NPROC). */
static int
fork_shortage(int err)
{
	return err == EAGAIN ? err : shortage(err);
}

/* What a failure to make a process says: "Resource temporarily
 * unavailable" would not tell an operator which resource. */
static const char *
fork_reason(int err)
{
	return err == EAGAIN ? "short of processes" : strerror(err);
}

static void
run_done(struct timer *t)
{
	struct check_run *run = t->ctx;
	struct verdict v;
	size_t i;

	v.ok = 1;
	v.ours = 0;
	v.n = run->o->nchecks;
	v.results = run->results;
	v.finished_ns = run->finished_ns;
	v.short_errno = run->short_errno;
	/* Ours only when nothing failed but for our own shortage: a real
	 * failure beside it is still the service's. */
	v.ours = 1;
	for (i = 0; i < v.n; i++) {
		v.ok &= run->results[i].ok;
		if (!run->results[i].ok && !run->results[i].ours)
			v.ours = 0;
	}
	if (v.ok)
		v.ours = 0;
	run->done(run->ctx, &v);
}

/* Out of the epoll set before the close: a child forked a moment ago may
 * still hold a copy, and a close would then leave it there.  A TCP socket
 * closes with a reset, as HAProxy's checks do: a FIN would leave it in
 * TIME_WAIT for a minute, and a flood of requests would use up the host's
 * ephemeral ports (for its own services too). */
static void
close_sock(struct probe *p, struct watch *w)
{
	static const struct linger reset = {1, 0};

	if (w->fd == -1)
		return;
	loop_release(p->run->loop, w);
	if (p->spec->type != CHECK_UNIX)
		setsockopt(w->fd, SOL_SOCKET, SO_LINGER, &reset, sizeof(reset));
	close(w->fd);
	w->fd = -1;
}

static void
tcp_close_all(struct probe *p)
{
	size_t i;

	for (i = 0; i < p->nsocks; i++)
		close_sock(p, &p->socks[i]);
	p->inflight = 0;
	timer_cancel(p->run->loop, &p->retry);
	lookup_cancel(p->lookup);
	p->lookup = NULL;
}

static void finish_as(struct probe *p, int ok, int short_of,
		      const char *reason);

static void
finish(struct probe *p, int ok, const char *reason)
{
	finish_as(p, ok, 0, reason);
}

/* A failure for errno err; short_of: err when it is our own shortage. */
static void
finish_errno(struct probe *p, const char *what, int err, int short_of)
{
	char reason[CHECK_REASON_MAX];

	snprintf(reason, sizeof(reason), "%s%s%s", what, *what ? ": " : "",
		 short_of != 0 ? fork_reason(err) : strerror(err));
	finish_as(p, 0, short_of, reason);
}

/* The check's debug line.  Apart from finish_as: its buffer (16 KiB) would
 * make every call below finish_as touch stack pages that a one-shot
 * otherwise never faults in. */
static void log_check(const struct probe *p, int ok, const char *reason)
	__attribute__((noinline));

static void
log_check(const struct probe *p, int ok, const char *reason)
{
	char output[OUTPUT_KEEP * 4 + 1]; /* every byte may take 4 */

	if (ok) {
		log_msg(LOGLVL_DEBUG, "check %s %s ok %dms",
			type_names[p->spec->type], p->spec->target, p->res->ms);
	} else if (p->spec->type == CHECK_SCRIPT && p->ran) {
		log_escape(output, sizeof(output), p->out, p->outlen);
		log_msg(LOGLVL_DEBUG,
			"check script %s fail %dms %s output \"%s\"",
			p->spec->target, p->res->ms, reason, output);
	} else {
		log_msg(LOGLVL_DEBUG, "check %s %s fail %dms %s",
			type_names[p->spec->type], p->spec->target, p->res->ms,
			reason);
	}
}

/* short_of: the errno of our own shortage that failed it, or 0. */
static void
finish_as(struct probe *p, int ok, int short_of, const char *reason)
{
	struct check_run *run = p->run;

	if (p->finished)
		return;
	p->finished = 1;
	timer_cancel(run->loop, &p->deadline);
	if (p->spec->type != CHECK_SCRIPT)
		tcp_close_all(p);
	p->res->ok = ok;
	p->res->ours = !ok && short_of != 0;
	if (p->res->ours && run->short_errno == 0)
		run->short_errno = short_of;
	p->res->ms = (int)(loop_now() - run->started);
	snprintf(p->res->reason, sizeof(p->res->reason), "%s",
		 ok ? "" : reason);
	if (!ok && p->spec->type == CHECK_SCRIPT && p->ran) {
		size_t keep = p->outlen < CHECK_OUTPUT_NOTE ? p->outlen
							    : CHECK_OUTPUT_NOTE;

		p->res->output_len = (int)keep;
		memcpy(p->res->output, p->out + p->outlen - keep, keep);
	}
	/* One line per check at debug; at info, the verdict's change says
	 * which failed and why (see change.h). */
	if (log_enabled(LOGLVL_DEBUG))
		log_check(p, ok, reason);
	/* Stamped now, not when the loop gets to done(): a request read
	 * later in this same batch arrived after the run ended. */
	if (--run->pending == 0) {
		run->finished_ns = loop_now_ns();
		timer_arm(run->loop, &run->done_timer, 0);
	}
}

static void
http_io(struct watch *w, unsigned events)
{
	struct probe *p = w->ctx;
	const char *req = p->spec->request;
	size_t reqlen = strlen(req);
	char reason[CHECK_REASON_MAX];
	ssize_t n;
	size_t hlen;
	int code;

	(void)events;
	if (p->sent < reqlen) {
		n = write(w->fd, req + p->sent, reqlen - p->sent);
		if (n < 0 && errno != EAGAIN && errno != EINTR) {
			finish(p, 0, errno_reason(errno));
			return;
		}
		if (n > 0)
			p->sent += (size_t)n;
		if (p->sent == reqlen)
			loop_mod(p->run->loop, w, LOOP_IN);
		return;
	}
	n = read(w->fd, p->head + p->got, HTTP_HEAD_MAX - p->got);
	if (n < 0) {
		if (errno != EAGAIN && errno != EINTR)
			finish(p, 0, errno_reason(errno));
		return;
	}
	p->got += (size_t)n;
	for (;;) {
		if (http_response_status(p->head, p->got, &code, &hlen) ==
		    HTTP_PARSE_MORE) {
			if (n == 0)
				finish(p, 0, "incomplete response head");
			return;
		}
		/* 1xx (103 Early Hints, ...) are interim: the answer follows.
		 */
		if (code < 100 || code > 199 || code == 101)
			break;
		memmove(p->head, p->head + hlen, p->got - hlen);
		p->got -= hlen;
	}
	if (code < 0) {
		finish(p, 0,
		       p->got >= HTTP_HEAD_MAX ? "response head too large"
					       : "malformed response");
		return;
	}
	snprintf(reason, sizeof(reason), "status %d", code);
	finish(p, code >= 200 && code < 400, reason);
}

/* One address accepted: a tcp or unix check has passed; an http check
 * sends its request there and drops the other attempts. */
static void
connected(struct probe *p, struct watch *w)
{
	size_t i;

	if (p->spec->type != CHECK_HTTP) {
		finish(p, 1, NULL);
		return;
	}
	for (i = 0; i < p->nsocks; i++) {
		struct watch *o = &p->socks[i];

		if (o != w)
			close_sock(p, o);
	}
	loop_del(p->run->loop, w);
	p->inflight = 1;
	p->head = malloc(HTTP_HEAD_MAX);
	w->fn = http_io;
	if (p->head == NULL || loop_add(p->run->loop, w, LOOP_OUT) == -1)
		finish_errno(p, "", p->head == NULL ? ENOMEM : errno,
			     p->head == NULL ? ENOMEM : errno);
}

static void
tcp_ready(struct watch *w, unsigned events)
{
	struct probe *p = w->ctx;
	int err = 0;
	socklen_t len = sizeof(err);

	/* Writable without an error: connected, no getsockopt needed. */
	if ((events & LOOP_ERR) == 0) {
		connected(p, w);
		return;
	}
	if (getsockopt(w->fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1)
		err = errno;
	if (err == 0)
		err = ECONNREFUSED;
	p->err = err;
	loop_release(p->run->loop, w);
	close(w->fd);
	w->fd = -1;
	if (--p->inflight == 0)
		finish_as(p, 0, shortage(err), errno_reason(err));
}

static void script_timed_out(struct probe *p);

/* At the deadline, before failing: a connect or an answer that is already
 * there came in time, however late the loop looks (the checker stopped,
 * starved or paused).  Each socket's own handler takes what it finds. */
static void
sockets_ended(struct probe *p)
{
	struct pollfd pfd;
	size_t i;

	for (i = 0; i < p->nsocks && !p->finished; i++) {
		struct watch *w = &p->socks[i];

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

static void
timed_out(struct timer *t)
{
	struct probe *p = t->ctx;
	char reason[CHECK_REASON_MAX];

	if (p->spec->type == CHECK_SCRIPT) {
		script_timed_out(p);
		return;
	}
	sockets_ended(p);
	if (p->finished)
		return;
	if (p->lookup != NULL) {
		snprintf(reason, sizeof(reason), "resolve %s: timed out",
			 p->spec->host);
		finish(p, 0, reason);
	} else if (p->retry.armed) {
		finish(p, 0, "timed out: backlog full");
	} else {
		finish(p, 0, "timed out");
	}
}

static void connect_each(struct probe *p, const struct sockaddr_any *addrs);

/* A unix socket whose accept queue is full refuses with EAGAIN at once,
 * where TCP would retry the SYN: tried again, sooner then later, within
 * the check's deadline. */
static void
unix_retry(struct timer *t)
{
	struct probe *p = t->ctx;

	connect_each(p, p->spec->addrs);
}

/* A connect to every address at once: passes on the first that accepts. */
static void
connect_all(struct probe *p, const struct sockaddr_any *addrs, size_t n)
{
	size_t i;

	p->socks = calloc(n, sizeof(*p->socks));
	if (p->socks == NULL) {
		finish_errno(p, "", ENOMEM, ENOMEM);
		return;
	}
	p->nsocks = n;
	for (i = 0; i < p->nsocks; i++)
		p->socks[i].fd =
			-1; /* not 0: in inetd mode that is the client */
	p->retry.fn = unix_retry;
	p->retry.ctx = p;
	connect_each(p, addrs);
}

static void
connect_each(struct probe *p, const struct sockaddr_any *addrs)
{
	size_t i, n = p->nsocks;

	p->err = ECONNREFUSED;
	for (i = 0; i < n; i++) {
		struct watch *w = &p->socks[i];
		const struct sockaddr_any *a = &addrs[i];

		w->ctx = p;
		w->fn = tcp_ready;
		w->fd = socket(a->ss.ss_family,
			       SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (w->fd == -1) {
			p->err = errno;
			continue;
		}
		if (connect(w->fd, (const struct sockaddr *)&a->ss, a->len) ==
		    0) {
			p->inflight++;
			connected(p, w);
			return;
		}
		if (errno != EINPROGRESS ||
		    loop_add(p->run->loop, w, LOOP_OUT) == -1) {
			p->err = errno;
			close(w->fd);
			w->fd = -1;
			continue;
		}
		p->inflight++;
	}
	if (p->inflight == 0 && p->spec->type == CHECK_UNIX &&
	    p->err == EAGAIN) {
		p->backoff_ms = p->backoff_ms == 0 ? UNIX_RETRY_FIRST_MS
						   : 2 * p->backoff_ms;
		if (p->backoff_ms > UNIX_RETRY_MAX_MS)
			p->backoff_ms = UNIX_RETRY_MAX_MS;
		timer_arm(p->run->loop, &p->retry, loop_now() + p->backoff_ms);
		return;
	}
	if (p->inflight == 0)
		finish_as(p, 0, shortage(p->err), errno_reason(p->err));
}

static void
resolved(void *ctx, const struct sockaddr_any *addrs, size_t n, const char *err)
{
	struct probe *p = ctx;
	char reason[CHECK_REASON_MAX];

	p->lookup = NULL;
	if (err != NULL) {
		snprintf(reason, sizeof(reason), "resolve %s: %s",
			 p->spec->host, err);
		finish(p, 0, reason);
		return;
	}
	connect_all(p, addrs, n);
}

static void
tcp_start(struct probe *p)
{
	const struct check_spec *s = p->spec;
	char reason[CHECK_REASON_MAX];
	int err;

	if (s->host == NULL) {
		connect_all(p, s->addrs, s->naddrs);
		return;
	}
	/* Looked up at every run, within this check's deadline. */
	p->lookup = lookup_start(p->run->loop, p->run->env->reaper, s->host,
				 s->port, AF_UNSPEC, resolved, p);
	if (p->lookup == NULL) {
		err = errno;
		snprintf(reason, sizeof(reason), "resolve %s: %s", s->host,
			 fork_reason(err));
		finish_as(p, 0, fork_shortage(err), reason);
	}
}

/* Reads what the pipe holds now, at most OUTPUT_SLICE; keeps the first
 * OUTPUT_KEEP bytes.  Returns 1 at end of file. */
static int
drain_output(struct probe *p)
{
	char scratch[16384];
	size_t total = 0;

	while (total < OUTPUT_SLICE) {
		ssize_t n = read(p->child.outfd, scratch, sizeof(scratch));

		if (n == 0)
			return 1;
		if (n < 0)
			return errno != EAGAIN && errno != EINTR;
		if (p->outlen < OUTPUT_KEEP) {
			size_t keep = OUTPUT_KEEP - p->outlen;

			if (keep > (size_t)n)
				keep = (size_t)n;
			memcpy(p->out + p->outlen, scratch, keep);
			p->outlen += keep;
		}
		total += (size_t)n;
	}
	return 0;
}

static void
close_output(struct probe *p)
{
	if (p->child.outfd == -1)
		return;
	loop_del(p->run->loop, &p->outw);
	close(p->child.outfd);
	p->child.outfd = -1;
}

static void
script_output(struct watch *w, unsigned events)
{
	struct probe *p = w->ctx;

	(void)events;
	if (drain_output(p))
		close_output(p);
}

static void
stop_exit_watch(struct probe *p)
{
	if (p->child.pidfd != -1)
		loop_del(p->run->loop, &p->exitw);
	timer_cancel(p->run->loop, &p->exitpoll);
}

static void script_exited(struct watch *w, unsigned events);

static void
poll_exit(struct timer *t)
{
	struct probe *p = t->ctx;

	if (spawn_exited(&p->child))
		script_exited(&p->exitw, LOOP_IN);
	else
		timer_arm(p->run->loop, t, loop_now() + EXIT_POLL_MS);
}

/* Lets go of the script: watches and pipe closed, reaped now if it has
 * exited (and, as PID 1, the orphans it left in its group as they exit),
 * else handed to the reaper.  Returns 1 with the wait status when reaped. */
static int
let_go(struct probe *p, int *status)
{
	struct reaper *r = p->run->env->reaper;
	int reaped;

	close_output(p);
	stop_exit_watch(p);
	reaped = spawn_reap(&p->child, status);
	if (reaped)
		reaper_adopt_group(r, p->child.pid);
	else
		reaper_adopt(r, p->child.pid);
	reaper_untrack(r, &p->track);
	p->spawned = 0;
	return reaped;
}

/* The script has exited; killed: by us, at its deadline. */
static void
script_ended(struct probe *p, int killed)
{
	char reason[CHECK_REASON_MAX];
	int status, err;

	/* Whatever it wrote before exiting is in the pipe now; a grandchild
	 * that keeps the pipe open gets no more of our time. */
	if (p->child.outfd != -1)
		drain_output(p);
	err = spawn_exec_error(&p->child);
	/* It has exited: the reap does not wait. */
	if (!let_go(p, &status))
		status = -1;
	if (killed)
		snprintf(reason, sizeof(reason), "timed out");
	else if (err != 0)
		snprintf(reason, sizeof(reason), "cannot execute: %s",
			 fork_reason(err));
	else if (status == -1)
		snprintf(reason, sizeof(reason), "exit status lost");
	else if (WIFEXITED(status))
		snprintf(reason, sizeof(reason), "exit %d",
			 WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(reason, sizeof(reason), "killed by signal %d",
			 WTERMSIG(status));
	else
		snprintf(reason, sizeof(reason), "wait status %d", status);
	finish_as(p,
		  !killed && err == 0 && status != -1 && WIFEXITED(status) &&
			  WEXITSTATUS(status) == 0,
		  killed ? 0 : fork_shortage(err), reason);
}

static void
script_exited(struct watch *w, unsigned events)
{
	struct probe *p = w->ctx;

	(void)events;
	script_ended(p, !p->deadline.armed);
}

/* The deadline: the group is killed, and the answer does not wait for it
 * to go.  A script held in uninterruptible sleep (a hung disk or NFS
 * mount) outlives SIGKILL until the I/O ends; the reaper gets it then. */
static void
script_timed_out(struct probe *p)
{
	int status;

	/* Exited before we looked: in time, however late we look (the
	 * checker stopped or starved past the deadline). */
	if (spawn_exited(&p->child)) {
		script_ended(p, 0);
		return;
	}
	spawn_kill(&p->child);
	if (spawn_exited(&p->child)) {
		script_ended(p, 1);
		return;
	}
	/* What it wrote so far is for the log. */
	if (p->child.outfd != -1)
		drain_output(p);
	let_go(p, &status);
	finish(p, 0, "timed out");
}

static void
script_start(struct probe *p)
{
	char reason[CHECK_REASON_MAX];
	size_t stuck = reaper_count(p->run->env->reaper);
	int err, status;

	/* Scripts stuck where SIGKILL cannot reach them (a hung mount): a
	 * new one would only join them, and a hang is this check's failure,
	 * found out now instead of at the deadline. */
	if (stuck >= CHECK_STUCK_MAX) {
		snprintf(reason, sizeof(reason),
			 "not run: %zu earlier scripts still stuck", stuck);
		finish(p, 0, reason);
		return;
	}
	p->child.outfd = p->child.pidfd = p->child.errfd = -1;
	loop_forking(p->run->loop);
	err = spawn_start(p->spec->argv, p->run->env->nofile, &p->child);
	if (err != 0) {
		finish_errno(p, "cannot execute", err, fork_shortage(err));
		return;
	}
	p->spawned = p->ran = 1;
	reaper_track(p->run->env->reaper, &p->track, p->child.pid);
	p->exitw.fd = p->child.pidfd;
	p->exitw.fn = script_exited;
	p->exitw.ctx = p;
	p->outw.fd = p->child.outfd;
	p->outw.fn = script_output;
	p->outw.ctx = p;
	p->exitpoll.fn = poll_exit;
	p->exitpoll.ctx = p;
	if (p->child.pidfd == -1)
		timer_arm(p->run->loop, &p->exitpoll,
			  loop_now() + EXIT_POLL_MS);
	if ((p->child.pidfd != -1 &&
	     loop_add(p->run->loop, &p->exitw, LOOP_IN) == -1) ||
	    loop_add(p->run->loop, &p->outw, LOOP_IN) == -1) {
		err = errno;
		spawn_kill(&p->child);
		let_go(p, &status);
		finish_errno(p, "", err, err);
	}
}

size_t
check_run_fds(const struct options *o)
{
	/* Creating a pipe or a socket briefly holds one more. */
	size_t i, n = 2;

	for (i = 0; i < o->nchecks; i++) {
		const struct check_spec *c = &o->checks[i];

		if (c->type == CHECK_SCRIPT)
			n += 3; /* output pipe, exec error pipe, pidfd */
		else if (c->host != NULL)
			n += LOOKUP_MAX_ADDRS;
		else
			n += c->naddrs;
	}
	return n;
}

struct check_run *
check_run_start(const struct check_env *env, const struct options *o,
		void (*done)(void *ctx, const struct verdict *v), void *ctx)
{
	struct loop *loop = env->loop;
	struct check_run *run;
	size_t i;

	run = calloc(1, sizeof(*run) + o->nchecks * sizeof(struct probe));
	if (run == NULL)
		return NULL;
	run->results = calloc(o->nchecks, sizeof(*run->results));
	if (run->results == NULL) {
		free(run);
		return NULL;
	}
	run->loop = loop;
	run->env = env;
	run->o = o;
	run->done = done;
	run->ctx = ctx;
	run->done_timer.fn = run_done;
	run->done_timer.ctx = run;
	run->started = loop_now();
	run->pending = o->nchecks;
	for (i = 0; i < o->nchecks; i++) {
		struct probe *p = &run->probes[i];

		p->run = run;
		p->spec = &o->checks[i];
		p->res = &run->results[i];
		p->deadline.fn = timed_out;
		p->deadline.ctx = p;
		timer_arm(loop, &p->deadline,
			  run->started + p->spec->timeout_ms);
		if (p->spec->type == CHECK_SCRIPT)
			script_start(p);
		else
			tcp_start(p);
	}
	return run;
}

void
check_run_free(struct check_run *run)
{
	size_t i;

	if (run == NULL)
		return;
	for (i = 0; i < run->o->nchecks; i++) {
		struct probe *p = &run->probes[i];

		timer_cancel(run->loop, &p->deadline);
		if (p->spec->type != CHECK_SCRIPT) {
			tcp_close_all(p);
			free(p->socks);
			free(p->head);
		} else if (p->spawned) {
			int status;

			spawn_kill(&p->child);
			let_go(p, &status);
		}
	}
	timer_cancel(run->loop, &run->done_timer);
	free(run->results);
	free(run);
}
