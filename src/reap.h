/* reap: children that outlive their run (killed, but held in uninterruptible
 * sleep by a hung disk or NFS mount), reaped as they go, never waited for;
 * as PID 1 or a subreaper, every orphan that becomes ours, reaped too. */
#ifndef REAP_H
#define REAP_H

#include <stddef.h>
#include <sys/types.h>

#include "loop.h"

struct corpse;

/* A child that its owner reaps (a script or a lookup that runs): the sweep
 * of orphans leaves it alone, or its pid could be reused under the owner's
 * kill. */
struct reaper_child {
	pid_t pid;
	struct reaper_child *next, *prev;
};

struct reaper {
	struct loop *loop;
	struct corpse *list;
	size_t n;
	int orphans_are_ours; /* PID 1 or a subreaper: scripts' orphans;
			       * -1 until first asked */
	struct timer poll;
	struct reaper_child *tracked;
	struct watch sigchld; /* a signalfd once orphans are ours, else -1 */
};

void reaper_init(struct reaper *r, struct loop *loop);
/* From the fork to the owner's own reap: t is the caller's, and stays
 * linked until reaper_untrack. */
void reaper_track(struct reaper *r, struct reaper_child *t, pid_t pid);
void reaper_untrack(struct reaper *r, struct reaper_child *t);
/* Takes a child of ours, already sent SIGKILL, that has not exited yet. */
void reaper_adopt(struct reaper *r, pid_t pid);
/* Takes what is left of a killed script's group: as PID 1 its orphans are
 * ours to reap.  Does nothing otherwise (they are init's then).  As PID 1
 * also starts reaping every untracked child as it exits: the orphans a
 * script left in groups of their own (timeout(1), setsid). */
void reaper_adopt_group(struct reaper *r, pid_t pgid);
/* How many children wait to be reaped. */
size_t reaper_count(const struct reaper *r);
/* Reaps what has exited and forgets the rest: they were killed, and init
 * reaps them once we are gone. */
void reaper_close(struct reaper *r);

#endif
