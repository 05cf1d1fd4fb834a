/* flight: how a request gets its verdict: a run of the checks of its own or,
 * with --singleflight, the run in flight when it arrived, in this process or
 * in another one (through the state file). */
#ifndef FLIGHT_H
#define FLIGHT_H

#include <stdint.h>

#include "change.h"
#include "checks.h"
#include "loop.h"
#include "maint.h"
#include "options.h"
#include "statefile.h"

struct flight_batch;

struct flight_wait {
	/* Called once from the loop; v is valid during the call only.  v is
	 * NULL when no run could be started (out of memory or descriptors:
	 * errno says which; ECONNRESET: gone() said the client had gone). */
	void (*fn)(struct flight_wait *w, const struct verdict *v);
	void *ctx;
	/* Asked (NULL: never) just before a run is started for it, whether
	 * its client has gone: nothing is run for a client that left.
	 * waited: it waited in the queue for that run. */
	int (*gone)(struct flight_wait *w, int waited);
	/* private */
	struct flight *fl;
	struct flight_batch *batch; /* the run it shares, not singleflight */
	int64_t arrived_ns;
	struct flight_wait *next, *prev;
	int queued;        /* waiting for a run to end before one can start */
	int err;           /* why there is no run, for fn's errno */
	struct timer soon; /* answers from the loop: no run, or a cached one */
	struct state_result cached;
};

enum flight_state {
	FLIGHT_IDLE,
	FLIGHT_LEADING,   /* our run, holding the lock when shared */
	FLIGHT_FOLLOWING, /* another process's run, waiting for its result */
};

struct flight {
	struct loop *loop;
	const struct check_env *env;
	const struct options *o;
	/* Runs of this process at once, and how many the descriptors allow:
	 * a request over the limit waits in queue for a run to end; those in
	 * the queue when one does share the run that starts then. */
	int runs, max_runs;
	int stopping; /* the queue had its run beyond the limit */
	struct flight_wait *queue, *queue_tail;
	int save_failing;      /* said once, not at every run */
	struct change *change; /* told of every verdict; set by the owner */
	enum flight_state state;
	struct check_run *run;
	int locked;
	struct flight_wait *waiters;
	struct statefile sf;
	int shared; /* sf is usable: singleflight across processes */
	struct watch notify;
	int notify_registered;
	struct timer recheck; /* FOLLOWING: look at the files now */
	struct timer give_up; /* FOLLOWING: the other run is overdue */
	struct maint maint;   /* --maintenance-file as last told */
};

void flight_init(struct flight *fl, const struct check_env *env,
		 const struct options *o);
/* At most n runs at once (default: no limit); 0: none can be afforded,
 * and every request is answered at once with v NULL, errno EMFILE. */
void flight_set_max_runs(struct flight *fl, int n);
void flight_close(struct flight *fl);
/* w->fn and w->ctx set by the caller. */
void flight_join(struct flight *fl, struct flight_wait *w);
/* Withdraws a waiter whose fn has not been called yet.  A run that nobody
 * waits for any more is stopped. */
void flight_cancel(struct flight_wait *w);
/* Whether w waits in the queue: no run of its own has started yet. */
int flight_queued(const struct flight_wait *w);
/* Shutdown: the requests queued now get their run at once, one beyond the
 * limit, so that they end within the check deadline as the runs in progress
 * do, not one deadline later. */
void flight_stopping(struct flight *fl);

#endif
