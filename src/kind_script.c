#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kind_script.h"
#include "spawn.h"

/* Without a pidfd (old kernels, valgrind): how often to look for an exit. */
#define EXIT_POLL_MS 5
/* Bytes read from a script's pipe per wake-up: bounds how long one chatty
 * script can hold the loop from other connections. */
#define OUTPUT_SLICE ((size_t)256 * 1024)
/* Children of ours stuck in uninterruptible sleep, beyond which scripts
 * fail without being run: a hung disk must not make processes without end. */
#define CHECK_STUCK_MAX 64

struct script_check {
	struct probe p; /* p.output is out once it ran, p.outlen its length */
	struct child child;
	struct reaper_child track;
	int spawned; /* a process of ours still to let go of */
	int expired; /* the deadline has come */
	struct watch exitw, outw;
	struct timer exitpoll; /* no pidfd: look for the exit now and then */
	char out[PROBE_OUTPUT_MAX];
};

static struct loop *
loop_of(const struct script_check *s)
{
	return s->p.env->loop;
}

/* Reads what the pipe holds now, at most OUTPUT_SLICE; keeps the first
 * PROBE_OUTPUT_MAX bytes.  Returns 1 at end of file. */
static int
drain_output(struct script_check *s)
{
	char scratch[16384];
	size_t total = 0;

	while (total < OUTPUT_SLICE) {
		ssize_t n = read(s->child.outfd, scratch, sizeof(scratch));

		if (n == 0)
			return 1;
		if (n < 0)
			return errno != EAGAIN && errno != EINTR;
		if (s->p.outlen < PROBE_OUTPUT_MAX) {
			size_t keep = PROBE_OUTPUT_MAX - s->p.outlen;

			if (keep > (size_t)n)
				keep = (size_t)n;
			memcpy(s->out + s->p.outlen, scratch, keep);
			s->p.outlen += keep;
		}
		total += (size_t)n;
	}
	return 0;
}

static void
close_output(struct script_check *s)
{
	if (s->child.outfd == -1)
		return;
	loop_del(loop_of(s), &s->outw);
	close(s->child.outfd);
	s->child.outfd = -1;
}

static void
script_output(struct watch *w, unsigned events)
{
	struct script_check *s = w->ctx;

	(void)events;
	if (drain_output(s))
		close_output(s);
}

static void
stop_exit_watch(struct script_check *s)
{
	if (s->child.pidfd != -1)
		loop_del(loop_of(s), &s->exitw);
	timer_cancel(loop_of(s), &s->exitpoll);
}

static void script_exited(struct watch *w, unsigned events);

static void
poll_exit(struct timer *t)
{
	struct script_check *s = t->ctx;

	if (spawn_exited(&s->child))
		script_exited(&s->exitw, LOOP_IN);
	else
		timer_arm(loop_of(s), t, loop_now() + EXIT_POLL_MS);
}

/* Lets go of the script: watches and pipe closed, reaped now if it has
 * exited (and, as PID 1, the orphans it left in its group as they exit),
 * else handed to the reaper.  Returns 1 with the wait status when reaped. */
static int
let_go(struct script_check *s, int *status)
{
	struct reaper *r = s->p.env->reaper;
	int reaped;

	close_output(s);
	stop_exit_watch(s);
	reaped = spawn_reap(&s->child, status);
	if (reaped)
		reaper_adopt_group(r, s->child.pid);
	else
		reaper_adopt(r, s->child.pid);
	reaper_untrack(r, &s->track);
	s->spawned = 0;
	return reaped;
}

/* Why an exited script failed, from its exec error and wait status. */
static void
exit_reason(char *reason, size_t cap, int err, int status)
{
	if (err != 0)
		snprintf(reason, cap, "cannot execute: %s",
			 probe_fork_reason(err));
	else if (status == -1)
		snprintf(reason, cap, "exit status lost");
	else if (WIFEXITED(status))
		snprintf(reason, cap, "exit %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(reason, cap, "killed by signal %d", WTERMSIG(status));
	else
		snprintf(reason, cap, "wait status %d", status);
}

/* The script has exited; killed: by us, at its deadline. */
static void
script_ended(struct script_check *s, int killed)
{
	char reason[PROBE_REASON_MAX];
	int status, err;

	/* Whatever it wrote before exiting is in the pipe now; a grandchild
	 * that keeps the pipe open gets no more of our time. */
	if (s->child.outfd != -1)
		drain_output(s);
	err = spawn_exec_error(&s->child);
	/* It has exited: the reap does not wait. */
	if (!let_go(s, &status))
		status = -1;
	if (killed) {
		probe_done(&s->p, PROBE_TIMEOUT, 0, NULL);
		return;
	}
	exit_reason(reason, sizeof(reason), err, status);
	if (err == 0 && status != -1 && WIFEXITED(status) &&
	    WEXITSTATUS(status) == 0)
		probe_done(&s->p, PROBE_PASSED, 0, NULL);
	else
		probe_fail(&s->p, probe_fork_shortage(err), reason);
}

static void
script_exited(struct watch *w, unsigned events)
{
	struct script_check *s = w->ctx;

	(void)events;
	script_ended(s, s->expired);
}

/* The deadline: the group is killed, and the answer does not wait for it
 * to go.  A script held in uninterruptible sleep (a hung disk or NFS
 * mount) outlives SIGKILL until the I/O ends; the reaper gets it then. */
static void
script_expire(struct probe *p)
{
	struct script_check *s = (struct script_check *)p;
	int status;

	s->expired = 1;
	/* Exited before we looked: in time, however late we look (the
	 * checker stopped or starved past the deadline). */
	if (spawn_exited(&s->child)) {
		script_ended(s, 0);
		return;
	}
	spawn_kill(&s->child);
	if (spawn_exited(&s->child)) {
		script_ended(s, 1);
		return;
	}
	/* What it wrote so far is for the log. */
	if (s->child.outfd != -1)
		drain_output(s);
	let_go(s, &status);
	probe_done(p, PROBE_TIMEOUT, 0, NULL);
}

/* The exit and the output watched: 0, or -1 with errno. */
static int
watch_child(struct script_check *s)
{
	s->exitw.fd = s->child.pidfd;
	s->exitw.fn = script_exited;
	s->exitw.ctx = s;
	s->outw.fd = s->child.outfd;
	s->outw.fn = script_output;
	s->outw.ctx = s;
	s->exitpoll.fn = poll_exit;
	s->exitpoll.ctx = s;
	if (s->child.pidfd == -1)
		timer_arm(loop_of(s), &s->exitpoll, loop_now() + EXIT_POLL_MS);
	if (s->child.pidfd != -1 &&
	    loop_add(loop_of(s), &s->exitw, LOOP_IN) == -1)
		return -1;
	return loop_add(loop_of(s), &s->outw, LOOP_IN);
}

static void
script_start(struct probe *p)
{
	struct script_check *s = (struct script_check *)p;
	char reason[PROBE_REASON_MAX];
	size_t stuck = reaper_count(p->env->reaper);
	int err, status;

	/* Scripts stuck where SIGKILL cannot reach them (a hung mount): a
	 * new one would only join them, and a hang is this check's failure,
	 * found out now instead of at the deadline. */
	if (stuck >= CHECK_STUCK_MAX) {
		snprintf(reason, sizeof(reason),
			 "not run: %zu earlier scripts still stuck", stuck);
		probe_done(p, PROBE_FAILED, 0, reason);
		return;
	}
	s->child.outfd = s->child.pidfd = s->child.errfd = -1;
	loop_forking(loop_of(s));
	err = spawn_start(p->spec->argv, p->env->nofile, &s->child);
	if (err != 0) {
		probe_fail_errno(p, "cannot execute", err,
				 probe_fork_shortage(err));
		return;
	}
	s->spawned = 1;
	p->output = s->out;
	reaper_track(p->env->reaper, &s->track, s->child.pid);
	if (watch_child(s) == -1) {
		err = errno;
		spawn_kill(&s->child);
		let_go(s, &status);
		probe_fail_errno(p, "", err, err);
	}
}

static void
script_stop(struct probe *p)
{
	struct script_check *s = (struct script_check *)p;
	int status;

	if (!s->spawned)
		return;
	spawn_kill(&s->child);
	let_go(s, &status);
}

static size_t
script_fds(const struct check_spec *spec)
{
	(void)spec;
	return 3; /* output pipe, exec error pipe, pidfd */
}

const struct probe_kind kind_script = {
	.size = sizeof(struct script_check),
	.start = script_start,
	.expire = script_expire,
	.stop = script_stop,
	.fds = script_fds,
};
