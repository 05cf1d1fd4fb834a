/* reap: children that outlive their run (killed, but held in uninterruptible
 * sleep by a hung disk or NFS mount), reaped as they go, never waited for. */
#ifndef REAP_H
#define REAP_H

#include <stddef.h>
#include <sys/types.h>

#include "loop.h"

struct corpse;

struct reaper {
	struct loop *loop;
	struct corpse *list;
	size_t n;
	int orphans_are_ours; /* PID 1 or a subreaper: scripts' orphans;
			       * -1 until first asked */
	struct timer poll;
};

void reaper_init(struct reaper *r, struct loop *loop);
/* Takes a child of ours, already sent SIGKILL, that has not exited yet. */
void reaper_adopt(struct reaper *r, pid_t pid);
/* Takes what is left of a killed script's group: as PID 1 its orphans are
 * ours to reap.  Does nothing otherwise (they are init's then). */
void reaper_adopt_group(struct reaper *r, pid_t pgid);
/* How many children wait to be reaped. */
size_t reaper_count(const struct reaper *r);
/* Reaps what has exited and forgets the rest: they were killed, and init
 * reaps them once we are gone. */
void reaper_close(struct reaper *r);

#endif
