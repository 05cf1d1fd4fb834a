/* probe: one check as its kind sees it: what the run gives the kind, the ops
 * every kind offers, how it reports its end.  Below the run and the kinds. */
#ifndef PROBE_H
#define PROBE_H

#include <stddef.h>

#include "loop.h"
#include "options.h"
#include "reap.h"

#define PROBE_REASON_MAX 96
/* The most of a script's output that is kept for the log. */
#define PROBE_OUTPUT_MAX 4096

/* What runs need from the process around them. */
struct check_env {
	struct loop *loop;
	struct reaper *reaper; /* takes children that outlive their run */
	unsigned long nofile;  /* the descriptor limit scripts get; 0: ours */
};

/* How a check ended.  What the run makes of each (passed, whose failure,
 * the reason when the kind gives none) is its table, not the kinds'. */
enum probe_status {
	PROBE_PASSED,
	PROBE_FAILED,  /* the service's failure, for the reason given */
	PROBE_TIMEOUT, /* the deadline came first */
	/* Failed for want of our own descriptors, processes or memory: says
	 * nothing about the service, and must never pass for its failure. */
	PROBE_SHORT,
};

/* The part of a check that the run and its kind share.  A kind's own state
 * begins with it; the run allocates that state (size bytes, zeroed). */
struct probe {
	const struct check_spec *spec;
	const struct check_env *env;
	/* What a script wrote, for the log and the result; NULL: none. */
	const char *output;
	size_t outlen;
	int ended; /* probe_done() has been called */
	/* The run's, given to the kind (the kind never names the run). */
	void (*done)(void *ctx, struct probe *p, enum probe_status st, int err,
		     const char *reason);
	void *ctx;
};

/* One kind of check.  start() may end the check at once; expire() at the
 * deadline ends it; stop() gives back what it still holds (descriptors,
 * processes, memory), at its end and when the run is freed, and may be
 * called more than once. */
struct probe_kind {
	size_t size; /* of the kind's state, which begins with a probe */
	void (*start)(struct probe *p);
	void (*expire)(struct probe *p);
	void (*stop)(struct probe *p);
	/* The most descriptors the check can hold at once. */
	size_t (*fds)(const struct check_spec *spec);
};

/* The end, reported once (later calls do nothing).  err: with PROBE_SHORT,
 * the errno we were short of; reason NULL: the status's own text. */
void probe_done(struct probe *p, enum probe_status st, int err,
		const char *reason);
/* A failure: PROBE_SHORT when short_of (the errno we were short of) is
 * not 0, else PROBE_FAILED. */
void probe_fail(struct probe *p, int short_of, const char *reason);
/* A failure for errno err, "what: why"; short_of: err when it is our own
 * shortage (then PROBE_SHORT), else 0. */
void probe_fail_errno(struct probe *p, const char *what, int err, int short_of);
/* err when it is a shortage of our descriptors or memory, else 0. */
int probe_shortage(int err);
/* The same for making a process, which EAGAIN refuses at a process limit
 * (TasksMax, pids.max, RLIMIT_NPROC). */
int probe_fork_shortage(int err);
/* What a failure to make a process says: "Resource temporarily
 * unavailable" would not tell an operator which resource. */
const char *probe_fork_reason(int err);

#endif
