/* checks: one run of every configured check, all started at once and driven
 * by a loop; each check's result is logged as it comes.  Never exits. */
#ifndef CHECKS_H
#define CHECKS_H

#include <stddef.h>
#include <stdint.h>

#include "options.h"
#include "probe.h"

#define CHECK_REASON_MAX PROBE_REASON_MAX
#define CHECK_OUTPUT_NOTE 252

/* Plain data: the singleflight state file holds an array of these. */
struct check_result {
	int ok;
	int ms;
	/* Failed for want of our own descriptors or memory: says nothing
	 * about the service, and must never pass for its failure. */
	int ours;
	char reason[CHECK_REASON_MAX]; /* why it failed; "" when ok */
	/* The end of a failed script's output (where the reason usually is),
	 * for the log alone: never in an answer (it may hold anything). */
	int output_len;
	char output[CHECK_OUTPUT_NOTE];
};

struct verdict {
	int ok;
	int ours; /* some check could not be run (see check_result.ours) */
	/* With ours: what we were short of, EMFILE or ENFILE (descriptors),
	 * EAGAIN (processes), ENOMEM or ENOBUFS (memory).  Set by a run, never
	 * read back from a shared result (which is never one of ours). */
	int short_errno;
	size_t n;
	const struct check_result *results; /* one per options check */
	int64_t finished_ns; /* CLOCK_MONOTONIC, when the last check ended */
};

struct check_run;

/* done() is called once, from the loop (never from within start), when
 * every check has its result.  NULL when out of memory. */
struct check_run *
check_run_start(const struct check_env *env, const struct options *o,
		void (*done)(void *ctx, const struct verdict *v), void *ctx);
/* The most descriptors one run can hold at once: what admitting a run
 * costs. */
size_t check_run_fds(const struct options *o);
/* Stops what still runs (scripts killed and reaped) and frees the run. */
void check_run_free(struct check_run *run);
const char *check_type_name(enum check_type type);

#endif
