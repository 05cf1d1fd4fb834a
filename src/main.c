/* main: parse the command line, pick the mode, run it; the only exit(). */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agentconn.h"
#include "checks.h"
#include "log.h"
#include "options.h"
#include "report.h"
#include "runtime.h"
#include "sd.h"
#include "serve.h"
#include "server.h"

/* Exit statuses: 0 answered (healthy or not), 1 could not do the job,
 * 2 usage.  --once: 0 healthy, 1 unhealthy. */
enum { EXIT_ANSWERED = 0, EXIT_TROUBLE = 1, EXIT_USAGE = 2 };

/* A usage error's line, as options_parse writes it. */
#define ERR_MAX 512

/* The soft descriptor limit up to the hard one, in every mode: a run with
 * many checks must never fail for want of a descriptor.  Returns the limit
 * we were given, which scripts get back (0: unchanged). */
static unsigned long
raise_fd_limit(void)
{
	struct rlimit rl;
	rlim_t given;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1 || rl.rlim_cur >= rl.rlim_max)
		return 0;
	given = rl.rlim_cur;
	rl.rlim_cur = rl.rlim_max;
	/* Refused (a seccomp filter): we make do with what we have. */
	if (setrlimit(RLIMIT_NOFILE, &rl) == -1)
		return 0;
	return (unsigned long)given;
}

/* fds 0-2 open, so that no socket of ours ever lands on them. */
static void
fill_std_fds(void)
{
	int fd;

	for (fd = 0; fd < 3; fd++)
		if (fcntl(fd, F_GETFD) == -1 && open("/dev/null", O_RDWR) == -1)
			_exit(EXIT_TROUBLE);
}

static int
is_socket(int fd)
{
	struct stat st;

	return fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode);
}

static int
is_listening(int fd)
{
	int on = 0;
	socklen_t len = sizeof(on);

	return getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &on, &len) == 0 && on;
}

enum mode {
	MODE_ONCE,
	MODE_SERVER,           /* --listener, or nothing else applies */
	MODE_ACTIVATED_SERVER, /* systemd Accept=no */
	MODE_ACTIVATED_ONE,    /* systemd Accept=yes */
	MODE_INETD
};

/* The spec's order: --once, --listener, socket activation, inetd, server. */
static enum mode
choose_mode(const struct options *o, int nfds)
{
	if (o->once)
		return MODE_ONCE;
	if (o->listener_given || o->nagent_listeners > 0)
		return MODE_SERVER;
	if (nfds >= 1)
		return is_listening(SD_LISTEN_FDS_START) ? MODE_ACTIVATED_SERVER
							 : MODE_ACTIVATED_ONE;
	if (o->inetd || is_socket(STDIN_FILENO))
		return MODE_INETD;
	return MODE_SERVER;
}

/* The one-shot modes stop on SIGTERM, SIGINT and SIGHUP too, but through
 * the loop, so that freeing the run kills and reaps the scripts' groups. */
struct interrupt {
	struct watch w;
	int sig;
};

static void
on_interrupt(struct watch *w, unsigned events)
{
	struct interrupt *in = w->ctx;

	(void)events;
	in->sig = loop_read_signal(w);
}

static void
watch_interrupts(struct loop *loop, struct interrupt *in)
{
	in->sig = 0;
	in->w.fn = on_interrupt;
	in->w.ctx = in;
	if (loop_add_signals(loop, &in->w) == -1)
		in->w.fd = -1; /* the defaults then: terminate */
}

static int
interrupted(struct interrupt *in)
{
	if (in->w.fd != -1)
		close(in->w.fd);
	if (in->sig == 0)
		return 0;
	log_msg(LOGLVL_WARN, "signal %d: stopped, scripts killed", in->sig);
	return 1;
}

struct once_state {
	const struct options *o;
	int finished;
	int ok;
};

static void
once_done(void *ctx, const struct verdict *v)
{
	struct once_state *st = ctx;
	size_t i;

	for (i = 0; i < v->n; i++) {
		char line[8192];

		report_line(line, sizeof(line), &st->o->checks[i],
			    &v->results[i]);
		puts(line);
	}
	puts(v->ok ? REPORT_OK : REPORT_FAIL);
	st->ok = v->ok;
	st->finished = 1;
}

static int
run_once(struct runtime *rt)
{
	struct once_state st = {rt->o, 0, 0};
	struct interrupt in;
	struct check_run *run;

	watch_interrupts(&rt->loop, &in);
	run = check_run_start(&rt->env, rt->o, once_done, &st);
	if (run == NULL) {
		log_msg(LOGLVL_ERROR, "cannot run the checks: %s",
			strerror(errno));
		interrupted(&in);
		return EXIT_TROUBLE;
	}
	while (!st.finished && in.sig == 0)
		if (loop_run_once(&rt->loop) == -1)
			break;
	check_run_free(run);
	if (interrupted(&in))
		st.finished = 0;
	if (fflush(stdout) == EOF)
		return EXIT_TROUBLE;
	return st.finished && st.ok ? 0 : 1;
}

struct one_state {
	int finished;
	enum serve_outcome outcome;
};

static void
one_end(void *ctx, enum serve_outcome outcome)
{
	struct one_state *st = ctx;

	st->finished = 1;
	st->outcome = outcome;
}

static void
one_done(void *ctx, struct conn *c, enum serve_outcome outcome)
{
	(void)c;
	one_end(ctx, outcome);
}

static const struct serve_hooks one_hooks = {NULL, one_done};
static const struct agent_hooks one_agent_hooks = {NULL, NULL, one_end};

/* SIGTERM is how systemd stops a unit (systemctl stop, restart): a request
 * already in progress still gets its real answer, within its deadlines, and
 * the process exits after it.  A connection with nothing to read yet, once
 * what has arrived is read, is closed.  SIGINT and SIGHUP stop at once. */
static int
finish_on_sigterm(struct conn *c)
{
	/* c NULL: an agent-check, whose run began at once. */
	if (c != NULL && serve_is_idle(c))
		serve_read_now(c);
	if (c != NULL && serve_is_idle(c))
		return 0;
	log_msg(LOGLVL_INFO,
		"signal %d: answering the request in progress "
		"first",
		SIGTERM);
	return 1;
}

/* inetd, xinetd and Accept=yes: one connection, one answer, exit.  agent:
 * HAProxy's agent-check instead of HTTP. */
static int
serve_one(struct runtime *rt, int in_fd, int out_fd, int agent)
{
	struct one_state st = {0, SERVE_FAILED};
	struct interrupt in;
	struct conn *c = NULL;
	struct agent_conn *ac = NULL;

	watch_interrupts(&rt->loop, &in);
	if (agent)
		ac = agentconn_start(&rt->loop, &rt->fl, rt->o, in_fd, out_fd,
				     NULL, 0, &one_agent_hooks, &st);
	else
		c = serve_start(&rt->loop, &rt->fl, rt->o, in_fd, out_fd, NULL,
				&one_hooks, &st);
	if (c != NULL && serve_watch(c) == -1) {
		serve_free(c);
		c = NULL;
	}
	if (c == NULL && ac == NULL) {
		log_msg(LOGLVL_ERROR, "cannot serve fd %d: %s", in_fd,
			strerror(errno));
		interrupted(&in);
		return EXIT_TROUBLE;
	}
	while (!st.finished && in.sig == 0) {
		if (loop_run_once(&rt->loop) == -1) {
			log_msg(LOGLVL_ERROR, "epoll: %s", strerror(errno));
			break;
		}
		if (in.sig == SIGTERM && finish_on_sigterm(c))
			in.sig = 0;
	}
	serve_free(c);
	agentconn_free(ac);
	if (interrupted(&in))
		st.finished = 0;
	/* A client that went away is not our failure: only our own trouble
	 * should leave a failed unit behind. */
	return st.finished ? EXIT_ANSWERED : EXIT_TROUBLE;
}

/* inetd "wait" (or systemd-socket-activate --inetd without -a) hands over
 * the listening socket: nobody to answer there. */
static int
refuse_listening(int fd)
{
	if (!is_listening(fd))
		return 0;
	log_msg(LOGLVL_ERROR,
		"fd %d is a listening socket, not a connection: run from "
		"inetd with nowait (xinetd: wait = no)",
		fd);
	return 1;
}

static const enum runtime_kind mode_runtime[] = {
	[MODE_ONCE] = RUNTIME_ONCE,
	[MODE_SERVER] = RUNTIME_SERVER,
	[MODE_ACTIVATED_SERVER] = RUNTIME_SERVER,
	[MODE_ACTIVATED_ONE] = RUNTIME_ONE_SHOT,
	[MODE_INETD] = RUNTIME_ONE_SHOT,
};

static void usage_error(const char *err) __attribute__((noinline));

/* --agent is for the one-shots; the standalone server has
 * --agent-listener (and sockets named "agent"). */
static int
refuse_agent(const struct options *o, enum mode m)
{
	if (!o->agent || mode_runtime[m] != RUNTIME_SERVER)
		return 0;
	usage_error(m == MODE_SERVER
			    ? "--agent: for the one-shot forms (inetd, "
			      "Accept=yes), and stdin is no connection: give "
			      "--inetd, or --agent-listener for the server"
			    : "--agent: for the one-shot forms (inetd, "
			      "Accept=yes), not with listening sockets: name "
			      "them \"agent\" (FileDescriptorName=agent)");
	return 1;
}

/* Every mode on one runtime, built here and torn down here. */
static int
run(const struct options *o, const struct sd *sd, unsigned long nofile)
{
	enum mode m = choose_mode(o, sd->nfds);
	int in = m == MODE_INETD ? STDIN_FILENO : SD_LISTEN_FDS_START;
	/* An Accept=yes socket named "agent" speaks it without --agent. */
	int agent = o->agent ||
		    (m == MODE_ACTIVATED_ONE && sd_named(sd, 0, "agent"));
	struct runtime rt;
	int status;

	if (refuse_agent(o, m))
		return EXIT_USAGE;
	if (mode_runtime[m] == RUNTIME_ONE_SHOT && refuse_listening(in))
		return EXIT_TROUBLE;
	if (runtime_init(&rt, o, nofile, mode_runtime[m]) == -1)
		return EXIT_TROUBLE;
	switch (m) {
	case MODE_ONCE:
		status = run_once(&rt);
		break;
	case MODE_ACTIVATED_SERVER:
		status = server_run(&rt, SD_LISTEN_FDS_START, sd->nfds, sd);
		break;
	case MODE_ACTIVATED_ONE:
		status = serve_one(&rt, in, in, agent);
		break;
	case MODE_INETD:
		status = serve_one(&rt, STDIN_FILENO, STDOUT_FILENO, agent);
		break;
	default:
		status = server_run(&rt, -1, 0, sd);
		break;
	}
	runtime_close(&rt);
	log_retry();
	return status;
}

/* The value named may hold any byte: a terminal must not take it for an
 * escape sequence.  Out of line: its buffer would otherwise sit in main's
 * frame and cost every run a page of stack it never uses. */
static void usage_error(const char *err) __attribute__((noinline));

static void
usage_error(const char *err)
{
	char clean[ERR_MAX * 4];

	if (log_is_stderr()) {
		log_clean(clean, sizeof(clean), err, strlen(err));
		fprintf(stderr, "health-checker: %s\n", clean);
	} else {
		log_msg(LOGLVL_ERROR, "%s", err);
	}
}

/* The command line into o: -1 to run, else the exit status, the help, the
 * version or the usage error said.  Out of line for the same reason as
 * usage_error: err need not stay on the stack while the mode runs. */
static int parse(struct options *o, int argc, char **argv)
	__attribute__((noinline));

static int
parse(struct options *o, int argc, char **argv)
{
	char err[ERR_MAX];

	switch (options_parse(o, argc, argv, err, sizeof(err))) {
	case OPTIONS_HELP:
		options_help(stdout);
		return fflush(stdout) == EOF ? EXIT_TROUBLE : 0;
	case OPTIONS_VERSION:
		printf("health-checker %s\n", VERSION);
		return fflush(stdout) == EOF ? EXIT_TROUBLE : 0;
	case OPTIONS_USAGE:
		usage_error(err);
		return EXIT_USAGE;
	case OPTIONS_RUN:
		break;
	}
	return -1;
}

int
main(int argc, char **argv)
{
	struct options o;
	struct sd sd;
	int status;

	log_open();
	sd_take(&sd);
	fill_std_fds();
	signal(SIGPIPE, SIG_IGN);
	/* A supervisor's SIG_IGN would make the kernel reap our scripts
	 * before we could read their exit status. */
	signal(SIGCHLD, SIG_DFL);
	status = parse(&o, argc, argv);
	if (status == -1) {
		log_set_level(o.log_level);
		status = run(&o, &sd, raise_fd_limit());
	}
	options_free(&o);
	sd_close(&sd);
	return status;
}
