/* statefile: the lock file that says a run is in flight, and the result file
 * beside it that the run leaves, shared by every process on the machine. */
#ifndef STATEFILE_H
#define STATEFILE_H

#include <stdint.h>
#include <sys/types.h>

#include "checks.h"
#include "options.h"

struct statefile {
	int lockfd;     /* flock(LOCK_EX) held by the process running checks */
	int notifyfd;   /* inotify on the directory; -1 until asked for */
	int tmpfd;      /* the next result, written aside; -1 until prepared */
	char *dir;      /* holds both files */
	char *lockpath; /* --lock-file, or DIR/state-HASH */
	char *resultpath; /* lockpath + ".result" */
	uint64_t config;  /* statefile_key: another set's result is foreign */
	char boot_id[40]; /* CLOCK_MONOTONIC means nothing across boots */
	size_t nchecks;
	char *tmppath;   /* resultpath + ".tmp.PID" */
	const char *why; /* what is wrong with the result's name, or NULL */
};

/* One framing for every record we keep: this head, a body, and a sum of
 * both after them.  magic says which record it is. */
struct statefile_head {
	char magic[8];
	uint64_t config; /* statefile_key of the checks it speaks for */
	char boot_id[40];
	int64_t finished_ns; /* CLOCK_MONOTONIC of that boot */
	uint32_t n;
	int32_t ok;
};

/* The result of one finished run, as the result file holds it. */
struct state_result {
	struct verdict v;             /* v.finished_ns: CLOCK_MONOTONIC */
	struct check_result *results; /* v.results points here */
};

/* What the checks mean to this process: the words, deadlines, resolved
 * programs, working directory, environment and ids.  Two processes share
 * results only when their keys match. */
uint64_t statefile_key(const struct options *o);
/* This boot's id ("unknown" without /proc), NUL-terminated in 40 bytes:
 * the one way to tell a record from this boot. */
void statefile_boot_id(char out[40]);
/* --lock-file, or DIR/state-KEY, with suffix appended (malloc'd); the
 * directory made when it is ours to make.  NULL with a reason in err. */
char *statefile_path(const struct options *o, uint64_t key, const char *suffix,
		     char *err, size_t errlen);
/* Creates path 0600 exclusively, or opens the file there when it is a
 * regular file of ours with one link that others cannot write; never
 * through a symlink, never blocking on a FIFO, never chmod-ed.  -1 with
 * what it is instead in err. */
int statefile_open_private(const char *path, char *err, size_t errlen);
/* A byte-range lock (F_OFD_SETLK, so it goes with the descriptor as flock
 * does) of one byte at base + a place of key's own: two sets of checks
 * sharing one file never contend.  type F_WRLCK or F_UNLCK; 1 taken, 0
 * held elsewhere, -1 error. */
int statefile_lock_key(int fd, off_t base, uint64_t key, int type);
/* Fills h's framing; statefile_sum covers h and body. */
void statefile_head_init(struct statefile_head *h, const char *magic,
			 uint64_t config, const char *boot_id);
uint64_t statefile_sum(const struct statefile_head *h, const void *body,
		       size_t len);
/* Whether h is a record of magic's kind, of this boot, of config. */
int statefile_head_ours(const struct statefile_head *h, const char *magic,
			uint64_t config, const char *boot_id);
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
