/* statefile: the lock file that says a run is in flight, and the result file
 * beside it that the run leaves, shared by every process on the machine. */
#ifndef STATEFILE_H
#define STATEFILE_H

#include <stdint.h>
#include <sys/types.h>

#include "checks.h"
#include "options.h"
#include "runfile.h"

struct statefile {
	int lockfd;     /* our byte of it held by the process running checks */
	int notifyfd;   /* inotify on the directory; -1 until asked for */
	int tmpfd;      /* the next result, written aside; -1 until prepared */
	char *dir;      /* holds both files */
	char *lockpath; /* --lock-file, or DIR/state-KEY */
	char *resultpath;     /* lockpath + ".result" */
	struct runfile_id id; /* another set's or boot's result is foreign */
	size_t nchecks;
	char *tmppath;   /* resultpath + ".tmp.PID" */
	const char *why; /* what is wrong with the result's name, or NULL */
};

/* The result of one finished run, as the result file holds it. */
struct state_result {
	struct verdict v;             /* v.finished_ns: CLOCK_MONOTONIC */
	struct check_result *results; /* v.results points here */
};

/* 0, or -1 with a reason in err: the caller then goes on alone. */
int statefile_open(struct statefile *sf, const struct options *o, char *err,
		   size_t errlen);
void statefile_close(struct statefile *sf);
/* 1 when this process now holds the lock, 0 when another does, -1 error.
 * Taking it stamps the lock file's time, for statefile_holder_overdue. */
int statefile_try_lock(struct statefile *sf);
/* Whether the lock was taken more than ms ago: its holder is stopped or
 * stuck, and nobody should wait for it any more. */
int statefile_holder_overdue(struct statefile *sf, int ms);
/* Makes room for the next result now, so that a full or read-only disk is
 * found out before the run, not after; 0 or -1 with errno (and sf->why
 * when something other than a file is at the result's name). */
int statefile_prepare(struct statefile *sf);
/* Why statefile_prepare or statefile_write failed with err. */
const char *statefile_strerror(const struct statefile *sf, int err);
/* Unlocks, and wakes the followers' inotify even when no result came. */
void statefile_unlock(struct statefile *sf);
/* Replaces the result file atomically (through the prepared file when
 * there is one); 0 or -1 with errno. */
int statefile_write(struct statefile *sf, const struct verdict *v);
/* 0 and *r filled (free r->results) when a valid result of our checks is
 * there; -1 when there is none, or it is corrupt, truncated or foreign. */
int statefile_read(struct statefile *sf, size_t nchecks,
		   struct state_result *r);
/* A descriptor readable when either file changes; drain it with
 * statefile_drain_notify.  -1 with errno when inotify is refused. */
int statefile_notify_fd(struct statefile *sf);
void statefile_drain_notify(struct statefile *sf);

#endif
