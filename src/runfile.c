#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "loop.h"
#include "runfile.h"
#include "spawn.h"

/* How often a squatted /tmp directory is told at warning, at most: one
 * line, not one per one-shot probe. */
#define SQUAT_WARN_S 3600
/* Where a set of checks locks its byte of a shared file: far enough apart
 * that two sets never meet. */
#define LOCK_SPAN (1LL << 30)
/* Records of as many sets of checks as may share one --lock-file; the
 * oldest makes room for a newcomer. */
#define SLOTS 16
/* The largest payload of a note, and the record that holds it. */
#define NOTE_MAX 32
#define NOTE_REC (sizeof(struct runfile_head) + NOTE_MAX + sizeof(uint64_t))

extern char **environ;

uint64_t
runfile_hash(uint64_t h, const void *p, size_t n)
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
	return runfile_hash(h, s, strlen(s) + 1);
}

/* Variables that describe one connection or one instance, not the checks:
 * systemd gives every Accept=yes instance its own, as inetd superservers
 * do.  In the key they would keep one-shots from ever sharing.  So do the
 * shell's own (its nesting, its last directory, the command it ran): a
 * server started in the background and a one-shot in the foreground of
 * one shell see another SHLVL. */
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
		"SHLVL=",
		"OLDPWD=",
	};
	size_t i;

	for (i = 0; i < sizeof(prefix) / sizeof(prefix[0]); i++)
		if (strncmp(e, prefix[i], strlen(prefix[i])) == 0)
			return 1;
	return 0;
}

/* What the checks mean to this process: the words, deadlines, resolved
 * programs, working directory, environment and ids. */
static uint64_t
runfile_key(const struct options *o)
{
	uint64_t h = RUNFILE_HASH_INIT, env = 0;
	char buf[PATH_MAX];
	size_t i;
	char **a;
	uid_t uid = geteuid();
	gid_t gid = getegid();

	h = runfile_hash(h, &o->nchecks, sizeof(o->nchecks));
	for (i = 0; i < o->nchecks; i++) {
		const struct check_spec *c = &o->checks[i];
		int type = (int)c->type;

		h = runfile_hash(h, &type, sizeof(type));
		h = runfile_hash(h, &c->timeout_ms, sizeof(c->timeout_ms));
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
			env += hash_str(RUNFILE_HASH_INIT, *a);
	h = runfile_hash(h, &env, sizeof(env));
	h = runfile_hash(h, &uid, sizeof(uid));
	return runfile_hash(h, &gid, sizeof(gid));
}

static void
boot_id(char out[40])
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
		if (strnlen(e->d_name, plen + 1) <= plen ||
		    memcmp(e->d_name, squatted + 5, plen) != 0 ||
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
runfile_path(const struct options *o, uint64_t key, const char *suffix,
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

const char *
runfile_not_a_file(mode_t mode)
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

/* 0 when st is a regular file of ours with one link that others cannot
 * write; else -1 with what it is instead in err. */
static int
not_ours(const struct stat *st, const char *path, char *err, size_t errlen)
{
	const char *why = runfile_not_a_file(st->st_mode);

	if (why != NULL)
		snprintf(err, errlen, "%s: %s", path, why);
	else if (st->st_uid != geteuid())
		snprintf(err, errlen, "%s: owned by uid %lu, not by us", path,
			 (unsigned long)st->st_uid);
	else if (st->st_nlink != 1)
		snprintf(err, errlen,
			 "%s: %lu links to it (a hard link planted?), not "
			 "used",
			 path, (unsigned long)st->st_nlink);
	else if ((st->st_mode & 022) != 0)
		snprintf(err, errlen, "%s: writable by others (mode %04o)",
			 path, (unsigned)(st->st_mode & 07777));
	else
		return 0;
	return -1;
}

int
runfile_open_private(const char *path, char *err, size_t errlen)
{
	const int flags =
		O_RDWR | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK | O_NOCTTY;
	struct stat st;
	int fd, tries;

	/* Ours only when we make it (O_EXCL) or it passes every test of
	 * not_ours: a hard link planted to somebody's file is never written
	 * through, a FIFO never blocks us, a symlink is never followed. */
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
				 runfile_not_a_file(st.st_mode));
		else
			snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) == -1)
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
	else if (not_ours(&st, path, err, errlen) == 0)
		return fd;
	close(fd);
	return -1;
}

int
runfile_open_record(const char *path, size_t size)
{
	char err[8];
	struct stat st;
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);

	if (fd == -1)
		return -1;
	if (fstat(fd, &st) == -1 || not_ours(&st, path, err, sizeof(err)) ||
	    (size_t)st.st_size != size) {
		close(fd);
		return -1;
	}
	return fd;
}

/* runfile_lock's byte at base + key's place. */
static int
lock_at(int fd, off_t base, uint64_t key, int type)
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

int
runfile_lock(int fd, uint64_t key, int type)
{
	return lock_at(fd, 0, key, type);
}

void
runfile_id(struct runfile_id *id, const struct options *o)
{
	id->config = runfile_key(o);
	boot_id(id->boot);
}

size_t
runfile_size(size_t len)
{
	return sizeof(struct runfile_head) + len + sizeof(uint64_t);
}

static uint64_t
sum(const unsigned char *rec, size_t len)
{
	return runfile_hash(RUNFILE_HASH_INIT, rec,
			    sizeof(struct runfile_head) + len);
}

void
runfile_frame(unsigned char *rec, size_t len, const struct runfile_head *h,
	      const char *magic, const struct runfile_id *id)
{
	struct runfile_head head = *h;
	uint64_t s;

	memset(head.magic, 0, sizeof(head.magic));
	memcpy(head.magic, magic, strnlen(magic, sizeof(head.magic)));
	head.config = id->config;
	memcpy(head.boot, id->boot, sizeof(head.boot));
	memcpy(rec, &head, sizeof(head));
	s = sum(rec, len);
	memcpy(rec + sizeof(head) + len, &s, sizeof(s));
}

enum runfile_look
runfile_look(const unsigned char *rec, size_t len, const char *magic,
	     const struct runfile_id *id, struct runfile_head *h)
{
	char m[sizeof(h->magic)];
	uint64_t s;

	memcpy(h, rec, sizeof(*h));
	memcpy(&s, rec + sizeof(*h) + len, sizeof(s));
	memset(m, 0, sizeof(m));
	memcpy(m, magic, strnlen(magic, sizeof(m)));
	if (memcmp(h->magic, m, sizeof(m)) != 0 || sum(rec, len) != s)
		return RUNFILE_NONE;
	/* finished_ns is of this boot's CLOCK_MONOTONIC: one from the
	 * future says the boot id could not tell two boots apart. */
	if (h->config != id->config ||
	    memcmp(h->boot, id->boot, sizeof(h->boot)) != 0 ||
	    h->finished_ns > loop_now_ns())
		return RUNFILE_FOREIGN;
	return RUNFILE_OURS;
}

/* Our slot of the table (n->have set: it holds our record), or the one to
 * take: a free one or one of another boot, else the oldest. */
static void
find_slot(struct runfile_note *n, const unsigned char *tab, size_t got,
	  const char *magic, size_t len)
{
	size_t i, rsize = runfile_size(len), free_slot = SLOTS, oldest = 0;
	int64_t oldest_ns = INT64_MAX;
	struct runfile_head h;
	enum runfile_look l;

	for (i = 0; i < SLOTS; i++) {
		l = (i + 1) * rsize > got ? RUNFILE_NONE
					  : runfile_look(tab + i * rsize, len,
							 magic, &n->id, &h);
		if (l == RUNFILE_OURS) {
			n->slot = i;
			n->have = 1;
			n->head = h;
			return;
		}
		if (l == RUNFILE_NONE ||
		    memcmp(h.boot, n->id.boot, sizeof(h.boot)) != 0) {
			if (free_slot == SLOTS)
				free_slot = i;
		} else if (h.finished_ns < oldest_ns) {
			oldest = i;
			oldest_ns = h.finished_ns;
		}
	}
	n->slot = free_slot != SLOTS ? free_slot : oldest;
}

int
runfile_note_open(struct runfile_note *n, const struct options *o,
		  const char *suffix, const char *magic, void *payload,
		  size_t len, char *err, size_t errlen, int *named)
{
	unsigned char tab[SLOTS * NOTE_REC];
	char *path;
	ssize_t got;
	int lk;

	memset(n, 0, sizeof(*n));
	if (len > NOTE_MAX) {
		snprintf(err, errlen, "%s: %s", suffix, strerror(EINVAL));
		return -1;
	}
	runfile_id(&n->id, o);
	n->fd = -1;
	path = runfile_path(o, n->id.config, suffix, err, errlen);
	*named = path != NULL;
	if (path == NULL)
		return -1;
	n->fd = runfile_open_private(path, err, errlen);
	if (n->fd != -1 &&
	    (lk = lock_at(n->fd, (off_t)(SLOTS * runfile_size(len)),
			  n->id.config, F_WRLCK)) != 1) {
		/* Another process of our checks holds our byte: it is
		 * telling this very change.  Another command line's never
		 * stands in our way. */
		snprintf(err, errlen, "%s: lock: %s", path, strerror(errno));
		*named = 0;
		runfile_note_close(n);
		if (lk == 0) {
			free(path);
			return 0;
		}
	}
	free(path);
	if (n->fd == -1)
		return -1;
	memset(tab, 0, sizeof(tab));
	got = pread(n->fd, tab, SLOTS * runfile_size(len), 0);
	find_slot(n, tab, got > 0 ? (size_t)got : 0, magic, len);
	if (n->have)
		memcpy(payload,
		       tab + n->slot * runfile_size(len) + sizeof(n->head),
		       len);
	return 1;
}

void
runfile_note_write(struct runfile_note *n, const char *name, const char *magic,
		   const void *payload, size_t len)
{
	unsigned char rec[NOTE_REC];
	size_t rsize = runfile_size(len);

	memcpy(rec + sizeof(n->head), payload, len);
	runfile_frame(rec, len, &n->head, magic, &n->id);
	/* A full disk: each process then tells what it sees. */
	if (pwrite(n->fd, rec, rsize, (off_t)(n->slot * rsize)) !=
	    (ssize_t)rsize)
		log_msg(LOGLVL_DEBUG, "%s: %s", name, strerror(errno));
}

void
runfile_note_close(struct runfile_note *n)
{
	/* The lock goes with the descriptor: the close is its unlock. */
	if (n->fd != -1)
		close(n->fd);
	n->fd = -1;
}
