/* flight: how a request gets its verdict: a run of the checks of its own or,
 * with --singleflight, the run in flight when it arrived. */
#ifndef FLIGHT_H
#define FLIGHT_H

#include "checks.h"
#include "loop.h"
#include "options.h"

struct flight_wait {
	/* Called once from the loop; v is valid during the call only.  v is
	 * NULL when no run could be started (out of memory or descriptors). */
	void (*fn)(struct flight_wait *w, const struct verdict *v);
	void *ctx;
	/* private */
	struct flight *fl;
	struct check_run *own;
	struct flight_wait *next;
	struct timer fail;
};

struct flight {
	struct loop *loop;
	const struct options *o;
	struct check_run *shared; /* the run in flight, --singleflight */
	struct flight_wait *waiters;
};

void flight_init(struct flight *fl, struct loop *loop,
		 const struct options *o);
void flight_close(struct flight *fl);
/* w->fn and w->ctx set by the caller. */
void flight_join(struct flight *fl, struct flight_wait *w);
/* Withdraws a waiter whose fn has not been called yet. */
void flight_cancel(struct flight_wait *w);

#endif
