#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "loop.h"
#include "spawn.h"
#include "statefile.h"

#define MAGIC "HCSTATE3"
/* How often a squatted /tmp directory is told at warning, at most: one
 * line, not one per one-shot probe. */
#define SQUAT_WARN_S 3600
/* Where a set of checks locks its byte of a shared file: far enough apart
 * that two sets never meet. */
#define LOCK_SPAN (1LL << 30)

extern char **environ;

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

/* Variables that describe one connection or one instance, not the checks:
 * systemd gives every Accept=yes instance its own, as inetd superservers
 * do.  In the key they would keep one-shots from ever sharing. */
static int
per_instance(const char *e)
{
	static const char *const prefix[] = {
		"LISTEN_",
		"NOTIFY_SOCKET=",
		"REMOTE_ADDR=",
		"REMOTE_PORT=",
		"REMOTE_HOST=",
		"TCPREMOTE",
		"TCPLOCAL",
		"TCP6REMOTE",
		"TCP6LOCAL",
		"TCPCONNNUM=",
		"PROTO=",
		"INVOCATION_ID=",
		"JOURNAL_STREAM=",
		"SYSTEMD_EXEC_PID=",
		"WATCHDOG_PID=",
		"WATCHDOG_USEC=",
		"MEMORY_PRESSURE_",
		"CREDENTIALS_DIRECTORY=",
		"TRIGGER_",
		"MONITOR_",
		"_=",
	};
	size_t i;

	for (i = 0; i < sizeof(prefix) / sizeof(prefix[0]); i++)
		if (strncmp(e, prefix[i], strlen(prefix[i])) == 0)
			return 1;
	return 0;
}

uint64_t
statefile_key(const struct options *o)
{
	uint64_t h = 14695981039346656037ULL, env = 0;
	char buf[PATH_MAX];
	size_t i;
	char **a;
	uid_t uid = geteuid();
	gid_t gid = getegid();

	h = fnv(h, &o->nchecks, sizeof(o->nchecks));
	for (i = 0; i < o->nchecks; i++) {
		const struct check_spec *c = &o->checks[i];
		int type = (int)c->type;

		h = fnv(h, &type, sizeof(type));
		h = fnv(h, &c->timeout_ms, sizeof(c->timeout_ms));
		if (c->type != CHECK_SCRIPT) {
			h = hash_str(h, c->target);
			continue;
		}
		for (a = c->argv; *a != NULL; a++)
			h = hash_str(h, *a);
		/* The program the words name here: PATH and the checks
		 * directory may find another one elsewhere. */
		spawn_resolve(c->argv[0], buf, sizeof(buf));
		h = hash_str(h, buf);
	}
	/* A relative script or socket, and what a script does, depend on
	 * where we are, what we are given and who we are. */
	h = hash_str(h, getcwd(buf, sizeof(buf)) != NULL ? buf : "?");
	/* In any order: the sum of each variable's own hash. */
	for (a = environ; a != NULL && *a != NULL; a++)
		if (!per_instance(*a))
			env += hash_str(14695981039346656037ULL, *a);
	h = fnv(h, &env, sizeof(env));
	h = fnv(h, &uid, sizeof(uid));
	return fnv(h, &gid, sizeof(gid));
}

void
statefile_boot_id(char out[40])
{
	int fd = open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC);
	ssize_t n = -1;

	memset(out, 0, 40);
	if (fd != -1) {
		n = read(fd, out, 39);
		close(fd);
	}
	if (n <= 0)
		snprintf(out, 40, "unknown");
	out[strcspn(out, "\n")] = '\0';
}

static int
private_dir(const struct stat *st, uid_t uid)
{
	return S_ISDIR(st->st_mode) && st->st_uid == uid &&
	       (st->st_mode & 077) == 0;
}

/* Another user who made /tmp/health-checker-UID first cannot make a
 * directory owned by us: any "health-checker-UID.*" that is a private
 * directory of ours is one we made.  The first by name, so that every
 * process picks the same; made with an unguessable name when none is. */
static char *
fallback_dir(const char *squatted, uid_t uid, int *made)
{
	char path[PATH_MAX], best[NAME_MAX + 1] = "";
	size_t plen = strlen(squatted + 5);
	struct dirent *e;
	struct stat st;
	DIR *d;

	*made = 0;
	d = opendir("/tmp");
	while (d != NULL && (e = readdir(d)) != NULL) {
		if (strncmp(e->d_name, squatted + 5, plen) != 0 ||
		    e->d_name[plen] != '.' ||
		    (best[0] != '\0' && strcmp(e->d_name, best) >= 0))
			continue;
		if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) ==
			    0 &&
		    private_dir(&st, uid))
			snprintf(best, sizeof(best), "%s", e->d_name);
	}
	if (d != NULL)
		closedir(d);
	if (best[0] != '\0') {
		snprintf(path, sizeof(path), "/tmp/%s", best);
		return strdup(path);
	}
	snprintf(path, sizeof(path), "%s.XXXXXX", squatted);
	if (mkdtemp(path) == NULL)
		return NULL;
	*made = 1;
	return strdup(path);
}

/* Said at warning once an hour at most, through a stamp in the fallback:
 * a one-shot per probe must not make it a line per probe. */
static void
tell_squatted(const char *squatted, const struct stat *st, const char *dir,
	      int made)
{
	char stamp[PATH_MAX];
	struct stat sst;
	time_t now = time(NULL);
	int fd, warn;

	snprintf(stamp, sizeof(stamp), "%s/squatted", dir);
	warn = made || lstat(stamp, &sst) == -1 ||
	       sst.st_mtime + SQUAT_WARN_S <= now || sst.st_mtime > now;
	log_msg(warn ? LOGLVL_WARN : LOGLVL_DEBUG,
		"state directory %s is not a private directory of ours "
		"(owner uid %lu, mode %04o): using %s instead",
		squatted, (unsigned long)st->st_uid,
		(unsigned)(st->st_mode & 07777), dir);
	if (!warn)
		return;
	fd = open(stamp,
		  O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK |
			  O_NOCTTY,
		  0600);
	if (fd != -1) {
		futimens(fd, NULL);
		close(fd);
	}
}

/* The user's own 0700 directory under /tmp; when somebody else made that
 * name first or left it open to others, a private one beside it. */
static char *
private_tmp_dir(char *err, size_t errlen)
{
	char path[64];
	struct stat st;
	char *dir;
	uid_t uid = geteuid();
	int made;

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
	if (private_dir(&st, uid))
		return strdup(path);
	dir = fallback_dir(path, uid, &made);
	if (dir == NULL) {
		snprintf(err, errlen,
			 "%s is not a private directory of ours, and no "
			 "other can be made: %s",
			 path, strerror(errno));
		return NULL;
	}
	tell_squatted(path, &st, dir, made);
	return dir;
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
statefile_path(const struct options *o, uint64_t key, const char *suffix,
	       char *err, size_t errlen)
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
				(unsigned long long)key, suffix);
		free(dir);
	}
	if (path == NULL)
		snprintf(err, errlen, "state file: %s", strerror(ENOMEM));
	return path;
}

/* What is at a name instead of a file we could use. */
static const char *
not_a_file(mode_t mode)
{
	switch (mode & S_IFMT) {
	case S_IFIFO:
		return "a FIFO, not a regular file";
	case S_IFDIR:
		return "a directory, not a regular file";
	case S_IFSOCK:
		return "a socket, not a regular file";
	case S_IFCHR:
	case S_IFBLK:
		return "a device, not a regular file";
	case S_IFLNK:
		return "a symbolic link, never followed";
	default:
		return NULL;
	}
}

int
statefile_open_private(const char *path, char *err, size_t errlen)
{
	const int flags =
		O_RDWR | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK | O_NOCTTY;
	struct stat st;
	const char *why;
	int fd, tries;

	/* Ours only when we make it (O_EXCL) or it passes every test below:
	 * a hard link planted to somebody's file is never written through,
	 * a FIFO never blocks us, a symlink is never followed. */
	for (tries = 0;; tries++) {
		fd = open(path, flags | O_CREAT | O_EXCL, 0600);
		if (fd != -1)
			return fd;
		if (errno != EEXIST)
			break;
		fd = open(path, flags);
		if (fd != -1 || errno != ENOENT || tries == 2)
			break;
	}
	if (fd == -1) {
		if (errno == ELOOP && lstat(path, &st) == 0 &&
		    S_ISLNK(st.st_mode))
			snprintf(err, errlen, "%s: %s", path,
				 not_a_file(st.st_mode));
		else
			snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) == -1) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
	} else if ((why = not_a_file(st.st_mode)) != NULL) {
		snprintf(err, errlen, "%s: %s", path, why);
	} else if (st.st_uid != geteuid()) {
		snprintf(err, errlen, "%s: owned by uid %lu, not by us", path,
			 (unsigned long)st.st_uid);
	} else if (st.st_nlink != 1) {
		snprintf(err, errlen,
			 "%s: %lu links to it (a hard link planted?), not "
			 "used",
			 path, (unsigned long)st.st_nlink);
	} else if ((st.st_mode & 022) != 0) {
		snprintf(err, errlen, "%s: writable by others (mode %04o)",
			 path, (unsigned)(st.st_mode & 07777));
	} else {
		return fd;
	}
	close(fd);
	return -1;
}

int
statefile_lock_key(int fd, off_t base, uint64_t key, int type)
{
	struct flock fl;

	memset(&fl, 0, sizeof(fl));
	fl.l_type = (short)type;
	fl.l_whence = SEEK_SET;
	fl.l_start = base + (off_t)(key % (uint64_t)LOCK_SPAN);
	fl.l_len = 1;
	if (fcntl(fd, F_OFD_SETLK, &fl) == 0)
		return 1;
	if (errno == EAGAIN || errno == EACCES)
		return 0;
	if (errno != EINVAL)
		return -1;
	/* A kernel before 3.15: the whole file, as before. */
	if (flock(fd, type == F_UNLCK ? LOCK_UN : LOCK_EX | LOCK_NB) == 0)
		return 1;
	return errno == EWOULDBLOCK ? 0 : -1;
}

void
statefile_head_init(struct statefile_head *h, const char *magic,
		    uint64_t config, const char *boot_id)
{
	memset(h, 0, sizeof(*h));
	memcpy(h->magic, magic, strnlen(magic, sizeof(h->magic)));
	h->config = config;
	memcpy(h->boot_id, boot_id, sizeof(h->boot_id));
}

uint64_t
statefile_sum(const struct statefile_head *h, const void *body, size_t len)
{
	uint64_t s = 14695981039346656037ULL;

	s = fnv(s, h, sizeof(*h));
	return fnv(s, body, len);
}

int
statefile_head_ours(const struct statefile_head *h, const char *magic,
		    uint64_t config, const char *boot_id)
{
	char m[sizeof(h->magic)];

	memset(m, 0, sizeof(m));
	memcpy(m, magic, strnlen(magic, sizeof(m)));
	/* finished_ns is of this boot's CLOCK_MONOTONIC: one from the
	 * future says the boot id could not tell two boots apart. */
	return memcmp(h->magic, m, sizeof(m)) == 0 && h->config == config &&
	       memcmp(h->boot_id, boot_id, sizeof(h->boot_id)) == 0 &&
	       h->finished_ns <= loop_now_ns();
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
	sf->config = statefile_key(o);
	statefile_boot_id(sf->boot_id);
	sf->lockpath = statefile_path(o, sf->config, "", err, errlen);
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
	/* Our byte of the lock file: a run of another command line sharing
	 * an explicit --lock-file is never waited for. */
	int r = statefile_lock_key(sf->lockfd, 0, sf->config, F_WRLCK);

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

	statefile_lock_key(sf->lockfd, 0, sf->config, F_UNLCK);
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
	return sizeof(struct statefile_head) + n * sizeof(struct check_result) +
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
	sf->why = NULL;
	/* Whatever else is at the result's name (a directory would make the
	 * rename fail at the end) is somebody's: said as what it is. */
	if (lstat(sf->resultpath, &st) == 0 && !S_ISREG(st.st_mode)) {
		sf->why = not_a_file(st.st_mode);
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

int
statefile_write(struct statefile *sf, const struct verdict *v)
{
	struct statefile_head h;
	uint64_t sum;
	int ok, e;

	statefile_head_init(&h, MAGIC, sf->config, sf->boot_id);
	h.finished_ns = v->finished_ns;
	h.n = (uint32_t)v->n;
	h.ok = v->ok;
	sum = statefile_sum(&h, v->results, v->n * sizeof(*v->results));

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
	struct statefile_head h;
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
	    st.st_uid != geteuid() || st.st_nlink != 1 ||
	    (st.st_mode & 022) != 0 || (size_t)st.st_size != want) {
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
	if (!statefile_head_ours(&h, MAGIC, sf->config, sf->boot_id) ||
	    h.n != nchecks ||
	    statefile_sum(&h, res, nchecks * sizeof(*res)) != sum)
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
