#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "loop.h"
#include "statefile.h"

#define MAGIC "HCSTATE3"

struct record_head {
	char magic[8];
	uint64_t config;
	char boot_id[40];
	int64_t finished_ns;
	uint32_t n;
	int32_t ok;
};

static void discard_tmp(struct statefile *sf);

static uint64_t
fnv(uint64_t h, const void *p, size_t n)
{
	const unsigned char *b = p;

	while (n-- > 0) {
		h ^= *b++;
		h *= 1099511628211ULL;
	}
	return h;
}

static uint64_t
hash_str(uint64_t h, const char *s)
{
	return fnv(h, s, strlen(s) + 1);
}

/* What makes two command lines share results: the checks and deadlines. */
static uint64_t
config_hash(const struct options *o)
{
	uint64_t h = 14695981039346656037ULL;
	size_t i;
	char **a;

	h = fnv(h, &o->nchecks, sizeof(o->nchecks));
	for (i = 0; i < o->nchecks; i++) {
		const struct check_spec *c = &o->checks[i];
		int type = (int)c->type;

		h = fnv(h, &type, sizeof(type));
		h = fnv(h, &c->timeout_ms, sizeof(c->timeout_ms));
		if (c->type == CHECK_SCRIPT)
			for (a = c->argv; *a != NULL; a++)
				h = hash_str(h, *a);
		else
			h = hash_str(h, c->target);
	}
	return h;
}

static void
read_boot_id(char *out, size_t cap)
{
	int fd = open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC);
	ssize_t n = -1;

	memset(out, 0, cap);
	if (fd != -1) {
		n = read(fd, out, cap - 1);
		close(fd);
	}
	if (n <= 0)
		snprintf(out, cap, "unknown");
	out[strcspn(out, "\n")] = '\0';
}

/* The user's own 0700 directory under /tmp, refused when somebody else
 * made it first or left it open to others. */
static char *
private_tmp_dir(char *err, size_t errlen)
{
	char path[64];
	struct stat st;

	uid_t uid = geteuid();

	snprintf(path, sizeof(path), "/tmp/health-checker-%lu",
		 (unsigned long)uid);
	/* Made only when missing: one-shots come here at every probe. */
	if (lstat(path, &st) == -1) {
		if (mkdir(path, 0700) == -1 && errno != EEXIST) {
			snprintf(err, errlen, "mkdir %s: %s", path,
				 strerror(errno));
			return NULL;
		}
		if (lstat(path, &st) == -1)
			st.st_mode = 0;
	}
	if (!S_ISDIR(st.st_mode) || st.st_uid != uid ||
	    (st.st_mode & 077) != 0) {
		snprintf(err, errlen, "%s is not a private directory of ours",
			 path);
		return NULL;
	}
	return strdup(path);
}

static char *
default_dir(char *err, size_t errlen)
{
	const char *rd = getenv("RUNTIME_DIRECTORY");

	/* systemd lists several directories with ':'; the first is ours. */
	if (rd != NULL && rd[0] == '/')
		return strndup(rd, strcspn(rd, ":"));
	if (access("/run/health-checker", W_OK) == 0)
		return strdup("/run/health-checker");
	return private_tmp_dir(err, errlen);
}

char *
statefile_path(const struct options *o, const char *suffix, char *err,
	       size_t errlen)
{
	size_t slen = strlen(suffix);
	char *dir, *path;

	if (o->lock_file != NULL) {
		path = malloc(strlen(o->lock_file) + slen + 1);
		if (path != NULL)
			sprintf(path, "%s%s", o->lock_file, suffix);
	} else {
		dir = default_dir(err, errlen);
		if (dir == NULL)
			return NULL;
		path = malloc(strlen(dir) + slen + 32);
		if (path != NULL)
			sprintf(path, "%s/state-%016llx%s", dir,
				(unsigned long long)config_hash(o), suffix);
		free(dir);
	}
	if (path == NULL)
		snprintf(err, errlen, "state file: %s", strerror(ENOMEM));
	return path;
}

int
statefile_open_private(const char *path, char *err, size_t errlen)
{
	struct stat st;
	int fd;

	/* O_NOFOLLOW: a planted symlink is refused, never followed; a FIFO
	 * must not block the open. */
	fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK,
		  0600);
	if (fd == -1) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode) ||
	    st.st_uid != geteuid()) {
		snprintf(err, errlen, "%s: not a regular file of ours", path);
		close(fd);
		return -1;
	}
	if ((st.st_mode & 077) != 0)
		fchmod(fd, 0600);
	return fd;
}

int
statefile_open(struct statefile *sf, const struct options *o, char *err,
	       size_t errlen)
{
	const char *slash;
	size_t len;

	memset(sf, 0, sizeof(*sf));
	sf->lockfd = sf->notifyfd = sf->tmpfd = -1;
	sf->nchecks = o->nchecks;
	sf->config = config_hash(o);
	read_boot_id(sf->boot_id, sizeof(sf->boot_id));
	sf->lockpath = statefile_path(o, "", err, errlen);
	if (sf->lockpath == NULL)
		return -1;
	slash = strrchr(sf->lockpath, '/');
	sf->dir =
		slash == NULL ? strdup(".")
		: slash == sf->lockpath
			? strdup("/")
			: strndup(sf->lockpath, (size_t)(slash - sf->lockpath));
	len = strlen(sf->lockpath);
	sf->resultpath = malloc(len + 8);
	if (sf->dir == NULL || sf->resultpath == NULL) {
		snprintf(err, errlen, "lock file: %s", strerror(ENOMEM));
		statefile_close(sf);
		return -1;
	}
	memcpy(sf->resultpath, sf->lockpath, len);
	memcpy(sf->resultpath + len, ".result", 8);
	sf->tmppath = malloc(len + 40);
	if (sf->tmppath == NULL) {
		snprintf(err, errlen, "lock file: %s", strerror(ENOMEM));
		statefile_close(sf);
		return -1;
	}
	snprintf(sf->tmppath, len + 40, "%s.tmp.%ld", sf->resultpath,
		 (long)getpid());
	sf->lockfd = statefile_open_private(sf->lockpath, err, errlen);
	if (sf->lockfd == -1) {
		/* "lock file PATH: why", as before */
		char why[512];

		snprintf(why, sizeof(why), "lock file %s", err);
		snprintf(err, errlen, "%s", why);
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
	if (flock(sf->lockfd, LOCK_EX | LOCK_NB) == 0) {
		/* A time stamp is an inode update: it needs no free block,
		 * so it works on a full disk too. */
		futimens(sf->lockfd, NULL);
		return 1;
	}
	return errno == EWOULDBLOCK ? 0 : -1;
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
	int fd;

	flock(sf->lockfd, LOCK_UN);
	/* A flock release makes no inotify event; closing a descriptor open
	 * for writing does (IN_CLOSE_WRITE).  Without it a follower would
	 * sleep until it gives up when no new result was renamed in. */
	fd = open(sf->lockpath, O_WRONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	if (fd != -1)
		close(fd);
}

static uint64_t
record_sum(const struct record_head *h, const struct check_result *r)
{
	uint64_t s = 14695981039346656037ULL;

	s = fnv(s, h, sizeof(*h));
	return fnv(s, r, h->n * sizeof(*r));
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
	return sizeof(struct record_head) + n * sizeof(struct check_result) +
	       sizeof(uint64_t);
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
	/* A directory or anything else squatting the result's name would
	 * make the rename fail at the end. */
	if (lstat(sf->resultpath, &st) == 0 && !S_ISREG(st.st_mode)) {
		errno = EISDIR;
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

int
statefile_write(struct statefile *sf, const struct verdict *v)
{
	struct record_head h;
	uint64_t sum;
	int ok, e;

	memset(&h, 0, sizeof(h));
	memcpy(h.magic, MAGIC, sizeof(h.magic));
	h.config = sf->config;
	memcpy(h.boot_id, sf->boot_id, sizeof(sf->boot_id));
	h.finished_ns = v->finished_ns;
	h.n = (uint32_t)v->n;
	h.ok = v->ok;
	sum = record_sum(&h, v->results);

	/* Written aside, then renamed over: a reader sees the old file or
	 * the whole new one, never half of it. */
	if (sf->tmpfd == -1 && statefile_prepare(sf) == -1)
		return -1;
	ok = pwrite_all(sf->tmpfd, &h, sizeof(h), 0) == 0 &&
	     pwrite_all(sf->tmpfd, v->results, v->n * sizeof(*v->results),
			sizeof(h)) == 0 &&
	     pwrite_all(sf->tmpfd, &sum, sizeof(sum),
			(off_t)(sizeof(h) + v->n * sizeof(*v->results))) == 0;
	if (close(sf->tmpfd) == -1)
		ok = 0;
	sf->tmpfd = -1;
	if (!ok || rename(sf->tmppath, sf->resultpath) == -1) {
		e = errno;
		unlink(sf->tmppath);
		errno = e;
		return -1;
	}
	return 0;
}

int
statefile_read(struct statefile *sf, size_t nchecks, struct state_result *r)
{
	struct record_head h;
	struct check_result *res;
	struct stat st;
	uint64_t sum;
	size_t i, want = record_size(nchecks);
	int fd, ok = 1;

	fd = open(sf->resultpath,
		  O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	if (fd == -1)
		return -1;
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode) ||
	    st.st_uid != geteuid() || (size_t)st.st_size != want) {
		close(fd);
		return -1;
	}
	res = malloc(nchecks * sizeof(*res) + 1);
	if (res == NULL || read(fd, &h, sizeof(h)) != (ssize_t)sizeof(h) ||
	    read(fd, res, nchecks * sizeof(*res)) !=
		    (ssize_t)(nchecks * sizeof(*res)) ||
	    read(fd, &sum, sizeof(sum)) != (ssize_t)sizeof(sum)) {
		free(res);
		close(fd);
		return -1;
	}
	close(fd);
	if (memcmp(h.magic, MAGIC, sizeof(h.magic)) != 0 ||
	    h.config != sf->config || h.n != nchecks ||
	    memcmp(h.boot_id, sf->boot_id, sizeof(sf->boot_id)) != 0 ||
	    h.finished_ns > loop_now_ns() || record_sum(&h, res) != sum)
		ok = 0;
	r->v.ours = 1;
	for (i = 0; ok && i < nchecks; i++) {
		if ((res[i].ok != 0 && res[i].ok != 1) ||
		    (res[i].ours != 0 && res[i].ours != 1) ||
		    res[i].output_len < 0 ||
		    res[i].output_len > CHECK_OUTPUT_NOTE ||
		    memchr(res[i].reason, '\0', sizeof(res[i].reason)) == NULL)
			ok = 0;
		if (!res[i].ok && !res[i].ours)
			r->v.ours = 0;
	}
	if (!ok) {
		free(res);
		return -1;
	}
	r->v.finished_ns = h.finished_ns;
	r->results = res;
	r->v.ok = h.ok != 0;
	if (r->v.ok)
		r->v.ours = 0;
	r->v.n = nchecks;
	r->v.results = res;
	return 0;
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
