/* runtime: what every mode runs on (loop, reaper, the checks' environment,
 * and to answer requests the flight and change), built in one order. */
#ifndef RUNTIME_H
#define RUNTIME_H

#include "change.h"
#include "checks.h"
#include "flight.h"
#include "loop.h"
#include "options.h"
#include "reap.h"

enum runtime_kind {
	RUNTIME_ONCE,     /* --once: checks alone, no flight, no change */
	RUNTIME_ONE_SHOT, /* inetd and Accept=yes: one process per request */
	RUNTIME_SERVER    /* the standalone server: one process for all */
};

struct runtime {
	enum runtime_kind kind;
	const struct options *o;
	struct loop loop;
	struct reaper reaper;
	struct check_env env;
	struct flight fl;     /* not with RUNTIME_ONCE */
	struct change change; /* told of every verdict by fl */
};

/* Scripts get the descriptor limit nofile (0: ours).  0, or -1 when there
 * is no loop (logged).  rt must not move until runtime_close. */
int runtime_init(struct runtime *rt, const struct options *o,
		 unsigned long nofile, enum runtime_kind kind);
/* After the mode has freed what it built on rt (runs, connections). */
void runtime_close(struct runtime *rt);

#endif
