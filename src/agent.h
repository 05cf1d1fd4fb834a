/* agent: what HAProxy's agent-check is told, as data: a verdict, the drain
 * or a shortage of ours as one line of its words.  Pure: no I/O. */
#ifndef AGENT_H
#define AGENT_H

#include <stddef.h>

#include "checks.h"
#include "options.h"

/* HAProxy keeps what follows '#' for its stats page and logs: the whole
 * line, '\n' included, stays below this. */
#define AGENT_LINE_MAX 200

enum agent_word {
	AGENT_UP,    /* healthy: "up ready" (lifts DOWN and a drain) */
	AGENT_DOWN,  /* unhealthy: "down #REASON" */
	AGENT_DRAIN, /* maintenance: "drain" (weight 0, sessions kept) */
	/* We could not run a check for want of our own processes,
	 * descriptors or memory: a word HAProxy does not know, which it
	 * reports ("agent reports an error") and which changes no state. */
	AGENT_SHORT_PROCS,
	AGENT_SHORT_FDS,
	AGENT_SHORT_MEMORY
};

/* The word a verdict gives (AGENT_UP, AGENT_DOWN, or a shortage when a
 * check could not be run for want of ours). */
enum agent_word agent_word_of(const struct verdict *v);
/* The shortage errno err names (EAGAIN processes, EMFILE or ENFILE
 * descriptors, anything else memory). */
enum agent_word agent_short(int err);
/* The line for w into out (AGENT_LINE_MAX bytes), '\n' ended, without a
 * NUL; its length.  AGENT_DOWN names v's failing checks as the log does
 * (type, target, reason: never a script's arguments nor its output), in
 * printable ASCII, cut with "..." where it would be too long. */
size_t agent_line(char *out, enum agent_word w, const struct options *o,
		  const struct verdict *v);
/* The word as the debug log shows it: "up", "down", "drain", ... */
const char *agent_word_name(enum agent_word w);

#endif
