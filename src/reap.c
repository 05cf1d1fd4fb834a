#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
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

/* Returns 1 when c is gone for good. */
static int
reap_one(struct reaper *rp, struct corpse *c)
{
	pid_t r;

	if (c->group)
		return !spawn_reap_group(c->pid);
	/* Whatever its group still holds goes too, while the zombie keeps the
	 * group id from being reused. */
	kill(-c->pid, SIGKILL);
	while ((r = waitpid(c->pid, NULL, WNOHANG)) == -1 && errno == EINTR)
		;
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
}

/* Asked the first time a script has ended, not at every start. */
static int
orphans_are_ours(struct reaper *r)
{
	int sub = 0;

	if (r->orphans_are_ours == -1)
		r->orphans_are_ours =
			getpid() == 1 ||
			(prctl(PR_GET_CHILD_SUBREAPER, &sub) == 0 && sub != 0);
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
}
