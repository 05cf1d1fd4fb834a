/* maint: whether --maintenance-file drains the node.  Only a file of root's
 * or of the checker's own user counts; the changes are told once each. */
#ifndef MAINT_H
#define MAINT_H

#include <stdint.h>

#include "options.h"

struct maint {
	/* One-shots: what was last told is in a small file beside the
	 * singleflight state, shared by every process; else this memory. */
	int shared;
	int known; /* on holds what was last told */
	int on;
	/* The other owner's file last warned about (uid 0 with dev 0: none),
	 * so that a probe every second does not repeat the warning. */
	uint64_t foreign_dev, foreign_ino;
	uint32_t foreign_uid;
};

/* A zeroed struct maint is one of this process alone (the server); shared:
 * one-shot processes comparing notes through the file. */
void maint_init(struct maint *m, int shared);
/* 1 while o->maintenance_file drains the node, 0 when it does not (or none
 * is set); logs the change into and out of it and a file refused. */
int maint_check(struct maint *m, const struct options *o);

#endif
