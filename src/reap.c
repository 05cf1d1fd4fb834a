#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "reap.h"
#include "spawn.h"

/* How often to look: the children here are rare and in no hurry, and a
 * poll holds no descriptor, however many of them a hung disk makes. */
#define REAP_POLL_MS 50

struct corpse {
	pid_t pid;
	int group; /* the orphans of group pid, not the process pid */
	struct corpse *next;
};

static int orphans_are_ours(struct reaper *r);
static void reap_orphans(struct reaper *r);

/* Returns 1 when c is gone for good. */
static int
reap_one(struct reaper *rp, struct corpse *c)
{
	pid_t r;

	if (c->group)
		return !spawn_reap_group(c->pid);
	/* Whatever its group still holds goes too, while the zombie keeps the
	 * group id from being reused. */
	r = spawn_kill_reap(c->pid, NULL);
	if (r == 0)
		return 0;
	/* As PID 1 the killed group's orphans are ours: they keep its id
	 * alive (no reuse) until the last of them is reaped. */
	if (r > 0 && orphans_are_ours(rp) && spawn_reap_group(c->pid)) {
		c->group = 1;
		return 0;
	}
	return 1;
}

static void
sweep(struct reaper *r)
{
	struct corpse **pp = &r->list;

	while (*pp != NULL) {
		struct corpse *c = *pp;

		if (reap_one(r, c)) {
			*pp = c->next;
			free(c);
			r->n--;
		} else {
			pp = &c->next;
		}
	}
	reap_orphans(r);
}

static void
on_poll(struct timer *t)
{
	struct reaper *r = t->ctx;

	sweep(r);
	if (r->list != NULL)
		timer_arm(r->loop, &r->poll, loop_now() + REAP_POLL_MS);
}

void
reaper_init(struct reaper *r, struct loop *loop)
{
	r->loop = loop;
	r->list = NULL;
	r->n = 0;
	r->poll.fn = on_poll;
	r->poll.ctx = r;
	r->poll.armed = 0;
	r->orphans_are_ours = -1;
	r->tracked = NULL;
	r->sigchld.fd = -1;
}

void
reaper_track(struct reaper *r, struct reaper_child *t, pid_t pid)
{
	t->pid = pid;
	t->prev = NULL;
	t->next = r->tracked;
	if (t->next != NULL)
		t->next->prev = t;
	r->tracked = t;
}

void
reaper_untrack(struct reaper *r, struct reaper_child *t)
{
	if (t->prev != NULL)
		t->prev->next = t->next;
	else if (r->tracked == t)
		r->tracked = t->next;
	else
		return; /* not linked */
	if (t->next != NULL)
		t->next->prev = t->prev;
	t->next = t->prev = NULL;
	/* Its zombie may have hidden orphans' from waitid(P_ALL). */
	if (r->sigchld.fd != -1)
		reap_orphans(r);
}

/* A pid some owner still means to reap (and may kill until then). */
static int
is_tracked(const struct reaper *r, pid_t pid)
{
	const struct reaper_child *t;
	const struct corpse *c;

	for (t = r->tracked; t != NULL; t = t->next)
		if (t->pid == pid)
			return 1;
	for (c = r->list; c != NULL; c = c->next)
		if (!c->group && c->pid == pid)
			return 1;
	return 0;
}

/* As PID 1 or a subreaper: reaps the exited children nobody tracks, the
 * orphans of scripts' descendants that left their group (timeout(1) and
 * setsid make groups of their own, which no group kill reaches).  WNOWAIT
 * looks without reaping, so a tracked child keeps its zombie (and its pid)
 * for its owner; the first exited child being a tracked one stops the
 * look until its owner reaps it (reaper_untrack looks again). */
static void
reap_orphans(struct reaper *r)
{
	siginfo_t si;
	pid_t pid;

	if (r->sigchld.fd == -1)
		return;
	for (;;) {
		si.si_pid = 0;
		if (waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT) == -1) {
			if (errno == EINTR)
				continue;
			return;
		}
		pid = si.si_pid;
		if (pid == 0 || is_tracked(r, pid))
			return;
		while (waitpid(pid, NULL, WNOHANG) == -1 && errno == EINTR)
			;
	}
}

static void
on_sigchld(struct watch *w, unsigned events)
{
	struct reaper *r = w->ctx;
	struct signalfd_siginfo si;

	(void)events;
	while (read(w->fd, &si, sizeof(si)) == (ssize_t)sizeof(si))
		;
	reap_orphans(r);
}

/* SIGCHLD, blocked, through a signalfd: a wake-up when any child exits,
 * whenever that is (an orphan may live for days).  Scripts get an empty
 * mask back.  Without it, orphans are still reaped when a script ends. */
static void
watch_orphans(struct reaper *r)
{
	sigset_t mask;

	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	r->sigchld.fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	r->sigchld.fn = on_sigchld;
	r->sigchld.ctx = r;
	if (r->sigchld.fd != -1 &&
	    loop_add(r->loop, &r->sigchld, LOOP_IN) == -1) {
		close(r->sigchld.fd);
		r->sigchld.fd = -1;
	}
	if (r->sigchld.fd == -1)
		sigprocmask(SIG_UNBLOCK, &mask, NULL);
}

/* Asked the first time a script has ended, not at every start. */
static int
orphans_are_ours(struct reaper *r)
{
	int sub = 0;

	if (r->orphans_are_ours == -1) {
		r->orphans_are_ours =
			getpid() == 1 ||
			(prctl(PR_GET_CHILD_SUBREAPER, &sub) == 0 && sub != 0);
		if (r->orphans_are_ours)
			watch_orphans(r);
	}
	return r->orphans_are_ours;
}

static void
adopt(struct reaper *r, pid_t pid, int group)
{
	struct corpse *c = malloc(sizeof(*c));

	/* Out of memory: it stays a zombie of ours until we exit. */
	if (c == NULL)
		return;
	c->pid = pid;
	c->group = group;
	c->next = r->list;
	r->list = c;
	r->n++;
	if (!r->poll.armed)
		timer_arm(r->loop, &r->poll, loop_now() + REAP_POLL_MS);
}

void
reaper_adopt(struct reaper *r, pid_t pid)
{
	adopt(r, pid, 0);
}

void
reaper_adopt_group(struct reaper *r, pid_t pgid)
{
	/* Only as PID 1 or a subreaper: otherwise the group's orphans are
	 * not our children, and a pid reused as a group id could make us
	 * reap a script of a later run. */
	if (orphans_are_ours(r) && spawn_reap_group(pgid))
		adopt(r, pgid, 1);
	reap_orphans(r);
}

size_t
reaper_count(const struct reaper *r)
{
	return r->n;
}

void
reaper_close(struct reaper *r)
{
	sweep(r);
	while (r->list != NULL) {
		struct corpse *c = r->list;

		r->list = c->next;
		free(c);
	}
	r->n = 0;
	timer_cancel(r->loop, &r->poll);
	if (r->sigchld.fd != -1) {
		loop_del(r->loop, &r->sigchld);
		close(r->sigchld.fd);
		r->sigchld.fd = -1;
	}
}
