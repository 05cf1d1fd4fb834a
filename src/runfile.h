/* runfile: the files kept in /run (or a private /tmp directory): where they
 * are, how they are opened (ours alone) and locked, and one record framing. */
#ifndef RUNFILE_H
#define RUNFILE_H

#include <stdint.h>
#include <sys/types.h>

#include "options.h"

#define RUNFILE_HASH_INIT 14695981039346656037ULL

/* Whose records are ours: a set of checks, in this boot. */
struct runfile_id {
	uint64_t config; /* runfile_key: another set's record is foreign */
	char boot[40];   /* CLOCK_MONOTONIC means nothing across boots */
};

/* Every record: this head, a payload, and a sum of both after them. */
struct runfile_head {
	char magic[8]; /* which record it is, and its layout */
	uint64_t config;
	char boot[40];
	int64_t finished_ns; /* CLOCK_MONOTONIC of that boot */
	uint32_t n;
	int32_t flags;
};

enum runfile_look {
	RUNFILE_NONE,    /* no record: missing, short, garbage, other magic */
	RUNFILE_FOREIGN, /* a record of another set of checks or boot */
	RUNFILE_OURS,
};

/* The one hash (FNV-1a) of every key and sum we keep. */
uint64_t runfile_hash(uint64_t h, const void *p, size_t n);
/* What the checks mean to this process: the words, deadlines, resolved
 * programs, working directory, environment and ids, in this boot.  Two
 * processes share records only when their ids match. */
void runfile_id(struct runfile_id *id, const struct options *o);
/* --lock-file, or DIR/state-KEY, with suffix appended (malloc'd); the
 * directory made when it is ours to make.  NULL with a reason in err. */
char *runfile_path(const struct options *o, uint64_t key, const char *suffix,
		   char *err, size_t errlen);
/* Creates path 0600 exclusively, or opens the file there when it is a
 * regular file of ours with one link that others cannot write; never
 * through a symlink, never blocking on a FIFO, never chmod-ed.  -1 with
 * what it is instead in err ("PATH: why"). */
int runfile_open_private(const char *path, char *err, size_t errlen);
/* What is at a name instead of a regular file; NULL for a regular file. */
const char *runfile_not_a_file(mode_t mode);
/* Opens path read-only when it is a regular file of ours with one link,
 * not writable by others, of exactly size bytes (a whole record); -1
 * otherwise, never through a symlink, never blocking on a FIFO. */
int runfile_open_record(const char *path, size_t size);
/* A byte-range lock (F_OFD_SETLK, so it goes with the descriptor as flock
 * does) of one byte of key's own: two sets of checks sharing one file never
 * contend.  type F_WRLCK or F_UNLCK; 1 taken, 0 held elsewhere, -1 error.
 * The one lock of every file we share. */
int runfile_lock(int fd, uint64_t key, int type);
/* The bytes of a record with len bytes of payload.  A record is its head,
 * the payload at rec + sizeof(struct runfile_head), and their sum. */
size_t runfile_size(size_t len);
/* Frames rec, whose payload is in place: h (magic and id filled in here),
 * then the sum of both. */
void runfile_frame(unsigned char *rec, size_t len, const struct runfile_head *h,
		   const char *magic, const struct runfile_id *id);
/* Whose record rec (runfile_size(len) bytes) is; *h gets its head. */
enum runfile_look runfile_look(const unsigned char *rec, size_t len,
			       const char *magic, const struct runfile_id *id,
			       struct runfile_head *h);

/* A small table of records, one slot per set of checks, in a file shared
 * by one-shot processes; held at the set's byte while it is open. */
struct runfile_note {
	int fd;
	size_t slot;
	int have; /* the slot held our record: payload and head are it */
	struct runfile_head head;
	struct runfile_id id;
};

/* Opens the table at runfile_path's suffix and reads our record (len at
 * most 32 bytes) into payload: 1 held by us (our byte past the table, as
 * the records before the redesign had it), 0 held by another process
 * (telling this very change), -1 not to be had: err says why, *named
 * whether it was the file itself that was refused. */
int runfile_note_open(struct runfile_note *n, const struct options *o,
		      const char *suffix, const char *magic, void *payload,
		      size_t len, char *err, size_t errlen, int *named);
/* Writes our record, n->head.finished_ns and flags set by the caller; a
 * failure is said at debug as name's (each process then tells what it
 * sees). */
void runfile_note_write(struct runfile_note *n, const char *name,
			const char *magic, const void *payload, size_t len);
/* Closes and so unlocks. */
void runfile_note_close(struct runfile_note *n);

#endif
