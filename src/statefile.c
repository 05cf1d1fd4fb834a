#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "runfile.h"
#include "statefile.h"

/* The result record: its payload an array of struct check_result.  Byte
 * for byte the one before the redesign: an old and a new process on one
 * lock file, mid-upgrade, share results (their keys match). */
#define MAGIC "HCSTATE3"
/* The verdict's ok and ours, in the record's flags. */
#define FLAG_OK 1
#define FLAG_OURS 2

static void discard_tmp(struct statefile *sf);

/* The directory, the result's name and the temporary one, from the lock
 * file's name; -1 out of memory. */
static int
name_files(struct statefile *sf)
{
	const char *slash = strrchr(sf->lockpath, '/');
	size_t len = strlen(sf->lockpath);

	sf->dir =
		slash == NULL ? strdup(".")
		: slash == sf->lockpath
			? strdup("/")
			: strndup(sf->lockpath, (size_t)(slash - sf->lockpath));
	sf->resultpath = malloc(len + 8);
	sf->tmppath = malloc(len + 40);
	if (sf->dir == NULL || sf->resultpath == NULL || sf->tmppath == NULL)
		return -1;
	snprintf(sf->resultpath, len + 8, "%s.result", sf->lockpath);
	snprintf(sf->tmppath, len + 40, "%s.tmp.%ld", sf->resultpath,
		 (long)getpid());
	return 0;
}

int
statefile_open(struct statefile *sf, const struct options *o, char *err,
	       size_t errlen)
{
	char why[512];

	memset(sf, 0, sizeof(*sf));
	sf->lockfd = sf->notifyfd = sf->tmpfd = -1;
	sf->nchecks = o->nchecks;
	runfile_id(&sf->id, o);
	sf->lockpath = runfile_path(o, sf->id.config, "", err, errlen);
	if (sf->lockpath == NULL)
		return -1;
	if (name_files(sf) == -1) {
		snprintf(err, errlen, "lock file: %s", strerror(ENOMEM));
		statefile_close(sf);
		return -1;
	}
	sf->lockfd = runfile_open_private(sf->lockpath, why, sizeof(why));
	if (sf->lockfd == -1) {
		/* "lock file PATH: why", as before */
		snprintf(err, errlen, "lock file %s", why);
		statefile_close(sf);
		return -1;
	}
	return 0;
}

void
statefile_close(struct statefile *sf)
{
	if (sf->lockfd != -1)
		close(sf->lockfd);
	if (sf->notifyfd != -1)
		close(sf->notifyfd);
	discard_tmp(sf);
	free(sf->dir);
	free(sf->lockpath);
	free(sf->resultpath);
	free(sf->tmppath);
	sf->lockfd = sf->notifyfd = -1;
	sf->dir = sf->lockpath = sf->resultpath = sf->tmppath = NULL;
}

int
statefile_try_lock(struct statefile *sf)
{
	/* Our byte of the lock file: a run of another command line sharing
	 * an explicit --lock-file is never waited for. */
	int r = runfile_lock(sf->lockfd, sf->id.config, F_WRLCK);

	/* A time stamp is an inode update: it needs no free block, so it
	 * works on a full disk too. */
	if (r == 1)
		futimens(sf->lockfd, NULL);
	return r;
}

int
statefile_holder_overdue(struct statefile *sf, int ms)
{
	struct timespec now;
	struct stat st;
	int64_t age;

	if (fstat(sf->lockfd, &st) == -1 ||
	    clock_gettime(CLOCK_REALTIME, &now) == -1)
		return 0;
	/* The wall clock: the stamp must mean the same in every process.
	 * A clock set back makes the holder look young, and a follower then
	 * waits until it gives up, as before. */
	age = ((int64_t)now.tv_sec - st.st_mtim.tv_sec) * 1000 +
	      (now.tv_nsec - st.st_mtim.tv_nsec) / 1000000;
	return age > ms;
}

void
statefile_unlock(struct statefile *sf)
{
	const int flags = O_WRONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY;
	char self[64];
	int fd;

	runfile_lock(sf->lockfd, sf->id.config, F_UNLCK);
	/* A lock release makes no inotify event; closing a descriptor open
	 * for writing does (IN_CLOSE_WRITE).  Without it a follower would
	 * sleep until it gives up when no new result was renamed in.  The
	 * file we hold, reopened: whatever was put at its name since (a
	 * link to a device, say) is never opened.  By name only without
	 * /proc, and then never through a symlink. */
	snprintf(self, sizeof(self), "/proc/self/fd/%d", sf->lockfd);
	fd = open(self, flags);
	if (fd == -1 && errno == ENOENT)
		fd = open(sf->lockpath, flags | O_NOFOLLOW);
	if (fd != -1)
		close(fd);
}

static void
discard_tmp(struct statefile *sf)
{
	if (sf->tmpfd == -1 || sf->tmppath == NULL)
		return;
	close(sf->tmpfd);
	sf->tmpfd = -1;
	unlink(sf->tmppath);
}

static size_t
record_size(size_t n)
{
	return runfile_size(n * sizeof(struct check_result));
}

/* Writes all of buf at offset; 0 or -1 with errno. */
static int
pwrite_all(int fd, const void *buf, size_t len, off_t off)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t n = pwrite(fd, p, len, off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = ENOSPC;
			return -1;
		}
		p += n;
		off += n;
		len -= (size_t)n;
	}
	return 0;
}

int
statefile_prepare(struct statefile *sf)
{
	char zero[4096];
	size_t left = record_size(sf->nchecks);
	off_t off = 0;
	struct stat st;

	discard_tmp(sf);
	sf->why = NULL;
	/* Whatever else is at the result's name (a directory would make the
	 * rename fail at the end) is somebody's: said as what it is. */
	if (lstat(sf->resultpath, &st) == 0 && !S_ISREG(st.st_mode)) {
		sf->why = runfile_not_a_file(st.st_mode);
		errno = EEXIST;
		return -1;
	}
	unlink(sf->tmppath);
	sf->tmpfd = open(sf->tmppath,
			 O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
			 0600);
	if (sf->tmpfd == -1)
		return -1;
	/* Real blocks, not a hole: rewriting them later needs no space. */
	memset(zero, 0, sizeof(zero));
	while (left > 0) {
		size_t n = left < sizeof(zero) ? left : sizeof(zero);

		if (pwrite_all(sf->tmpfd, zero, n, off) == -1) {
			int e = errno;

			discard_tmp(sf);
			errno = e;
			return -1;
		}
		off += (off_t)n;
		left -= n;
	}
	return 0;
}

/* The result as its record: the payload the array of v's results. */
static unsigned char *
frame(const struct statefile *sf, const struct verdict *v, size_t *size)
{
	size_t len = v->n * sizeof(*v->results);
	struct runfile_head h;
	unsigned char *rec;

	*size = runfile_size(len);
	rec = malloc(*size);
	if (rec == NULL)
		return NULL;
	memset(&h, 0, sizeof(h));
	h.finished_ns = v->finished_ns;
	h.n = (uint32_t)v->n;
	h.flags = (v->ok ? FLAG_OK : 0) | (v->ours ? FLAG_OURS : 0);
	if (len > 0)
		memcpy(rec + sizeof(h), v->results, len);
	runfile_frame(rec, len, &h, MAGIC, &sf->id);
	return rec;
}

int
statefile_write(struct statefile *sf, const struct verdict *v)
{
	unsigned char *rec;
	size_t size;
	int ok, e = ENOMEM;

	/* Written aside, then renamed over: a reader sees the old file or
	 * the whole new one, never half of it. */
	if (sf->tmpfd == -1 && statefile_prepare(sf) == -1)
		return -1;
	rec = frame(sf, v, &size);
	ok = rec != NULL && pwrite_all(sf->tmpfd, rec, size, 0) == 0;
	if (rec != NULL)
		e = errno;
	free(rec);
	if (close(sf->tmpfd) == -1) {
		e = errno;
		ok = 0;
	}
	sf->tmpfd = -1;
	if (ok && rename(sf->tmppath, sf->resultpath) == -1) {
		e = errno;
		ok = 0;
	}
	if (!ok) {
		unlink(sf->tmppath);
		errno = e;
		return -1;
	}
	return 0;
}

/* A sum says the bytes are the ones written, not that a writer (another
 * build, a bug) wrote what this one reads: a length past output[] or a
 * reason without its NUL would be read out of bounds by the log. */
static int
results_sane(const unsigned char *rec, size_t nchecks)
{
	struct check_result res;
	size_t i;

	for (i = 0; i < nchecks; i++) {
		memcpy(&res, rec + i * sizeof(res), sizeof(res));
		if ((res.ok != 0 && res.ok != 1) ||
		    (res.ours != 0 && res.ours != 1) || res.output_len < 0 ||
		    res.output_len > CHECK_OUTPUT_NOTE ||
		    memchr(res.reason, '\0', sizeof(res.reason)) == NULL)
			return 0;
	}
	return 1;
}

int
statefile_read(struct statefile *sf, size_t nchecks, struct state_result *r)
{
	size_t len = nchecks * sizeof(struct check_result);
	size_t size = runfile_size(len);
	struct runfile_head h;
	unsigned char *rec = NULL;
	int fd = runfile_open_record(sf->resultpath, size), ok = 0;

	if (fd != -1 && (rec = malloc(size)) != NULL)
		ok = read(fd, rec, size) == (ssize_t)size &&
		     runfile_look(rec, len, MAGIC, &sf->id, &h) ==
			     RUNFILE_OURS &&
		     h.n == nchecks && results_sane(rec + sizeof(h), nchecks);
	if (fd != -1)
		close(fd);
	if (!ok) {
		free(rec);
		return -1;
	}
	/* The results, moved to the front: r->results is what is freed. */
	memmove(rec, rec + sizeof(h), len);
	memset(&r->v, 0, sizeof(r->v));
	r->results = (struct check_result *)(void *)rec;
	r->v.ok = (h.flags & FLAG_OK) != 0;
	r->v.ours = (h.flags & FLAG_OURS) != 0;
	r->v.n = nchecks;
	r->v.results = r->results;
	r->v.finished_ns = h.finished_ns;
	return 0;
}

const char *
statefile_strerror(const struct statefile *sf, int err)
{
	return sf->why != NULL ? sf->why : strerror(err);
}

int
statefile_notify_fd(struct statefile *sf)
{
	if (sf->notifyfd != -1)
		return sf->notifyfd;
	sf->notifyfd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (sf->notifyfd == -1)
		return -1;
	/* A result renamed into place, or a lock holder closing its lock
	 * file (which is how a crashed leader shows itself). */
	if (inotify_add_watch(sf->notifyfd, sf->dir,
			      IN_MOVED_TO | IN_CLOSE_WRITE) == -1) {
		int e = errno;

		close(sf->notifyfd);
		sf->notifyfd = -1;
		errno = e;
		return -1;
	}
	return sf->notifyfd;
}

void
statefile_drain_notify(struct statefile *sf)
{
	char buf[4096];

	while (read(sf->notifyfd, buf, sizeof(buf)) > 0)
		;
}
