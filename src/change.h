/* change: the log a fleet can afford: a line when the verdict changes (the
 * first one included), with the failing checks and why, and nothing for a
 * probe that changes nothing.  One-shot processes compare notes through a
 * small file beside the singleflight state. */
#ifndef CHANGE_H
#define CHANGE_H

#include <stdint.h>

#include "checks.h"
#include "options.h"

struct change {
	int shared;    /* through the file, consulted at the first verdict */
	int done;      /* the record was consulted: a one-shot's one verdict */
	int known;     /* last and last_ok hold the verdict last logged */
	uint64_t last; /* what makes two verdicts the same, as last logged */
	int last_ok;
};

/* shared: through the file (the one-shot modes), opened when the first
 * verdict comes (a TCP-only probe costs nothing); else in memory (the
 * server).  A file that cannot be had leaves it in memory, said at debug. */
void change_open(struct change *ch, const struct options *o, int shared);
/* Logs v when it differs from the verdict before it (a verdict older than
 * the one on record, from a slow process, changes nothing). */
void change_note(struct change *ch, const struct options *o,
		 const struct verdict *v);
void change_close(struct change *ch);

#endif
