/* checks: one run of every configured check, all started at once and driven
 * by a loop; each check's result is logged as it comes.  Never exits. */
#ifndef CHECKS_H
#define CHECKS_H

#include <stddef.h>
#include <stdint.h>

#include "loop.h"
#include "options.h"

#define CHECK_REASON_MAX 96

/* Plain data: the singleflight state file holds an array of these. */
struct check_result {
	int ok;
	int ms;
	char reason[CHECK_REASON_MAX]; /* why it failed; "" when ok */
};

struct verdict {
	int ok;
	size_t n;
	const struct check_result *results; /* one per options check */
	int64_t finished_ns; /* CLOCK_MONOTONIC, when the last check ended */
};

struct check_run;

/* done() is called once, from the loop (never from within start), when
 * every check has its result.  NULL when out of memory. */
struct check_run *
check_run_start(struct loop *loop, const struct options *o,
		void (*done)(void *ctx, const struct verdict *v), void *ctx);
/* Stops what still runs (scripts killed and reaped) and frees the run. */
void check_run_free(struct check_run *run);
const char *check_type_name(enum check_type type);

#endif
