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

#define MAGIC "HCSTATE1"

struct record_head {
	char magic[8];
	uint64_t config;
	char boot_id[40];
	int64_t finished_ns;
	uint32_t n;
	int32_t ok;
};

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

	snprintf(path, sizeof(path), "/tmp/health-checker-%lu",
		 (unsigned long)geteuid());
	if (mkdir(path, 0700) == -1 && errno != EEXIST) {
		snprintf(err, errlen, "mkdir %s: %s", path, strerror(errno));
		return NULL;
	}
	if (lstat(path, &st) == -1 || !S_ISDIR(st.st_mode) ||
	    st.st_uid != geteuid() || (st.st_mode & 077) != 0) {
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

int
statefile_open(struct statefile *sf, const struct options *o, char *err,
	       size_t errlen)
{
	struct stat st;
	size_t len;

	memset(sf, 0, sizeof(*sf));
	sf->lockfd = sf->notifyfd = -1;
	sf->config = config_hash(o);
	read_boot_id(sf->boot_id, sizeof(sf->boot_id));
	if (o->lock_file != NULL) {
		const char *slash = strrchr(o->lock_file, '/');

		sf->lockpath = strdup(o->lock_file);
		sf->dir = slash == NULL ? strdup(".")
			  : slash == o->lock_file
				  ? strdup("/")
				  : strndup(o->lock_file,
					    (size_t)(slash - o->lock_file));
	} else {
		sf->dir = default_dir(err, errlen);
		if (sf->dir == NULL)
			return -1;
		sf->lockpath = malloc(strlen(sf->dir) + 32);
		if (sf->lockpath != NULL)
			sprintf(sf->lockpath, "%s/state-%016llx", sf->dir,
				(unsigned long long)sf->config);
	}
	if (sf->dir == NULL || sf->lockpath == NULL)
		goto nomem;
	len = strlen(sf->lockpath);
	sf->resultpath = malloc(len + 8);
	if (sf->resultpath == NULL)
		goto nomem;
	memcpy(sf->resultpath, sf->lockpath, len);
	memcpy(sf->resultpath + len, ".result", 8);

	/* O_NOFOLLOW: a planted symlink is refused, never followed; a FIFO
	 * must not block the open. */
	sf->lockfd = open(
		sf->lockpath,
		O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK, 0600);
	if (sf->lockfd == -1) {
		snprintf(err, errlen, "lock file %s: %s", sf->lockpath,
			 strerror(errno));
		statefile_close(sf);
		return -1;
	}
	if (fstat(sf->lockfd, &st) == -1 || !S_ISREG(st.st_mode) ||
	    st.st_uid != geteuid()) {
		snprintf(err, errlen,
			 "lock file %s: not a regular file of ours",
			 sf->lockpath);
		statefile_close(sf);
		return -1;
	}
	if ((st.st_mode & 077) != 0)
		fchmod(sf->lockfd, 0600);
	return 0;
nomem:
	snprintf(err, errlen, "lock file: %s", strerror(ENOMEM));
	statefile_close(sf);
	return -1;
}

void
statefile_close(struct statefile *sf)
{
	if (sf->lockfd != -1)
		close(sf->lockfd);
	if (sf->notifyfd != -1)
		close(sf->notifyfd);
	free(sf->dir);
	free(sf->lockpath);
	free(sf->resultpath);
	sf->lockfd = sf->notifyfd = -1;
	sf->dir = sf->lockpath = sf->resultpath = NULL;
}

int
statefile_try_lock(struct statefile *sf)
{
	if (flock(sf->lockfd, LOCK_EX | LOCK_NB) == 0)
		return 1;
	return errno == EWOULDBLOCK ? 0 : -1;
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

int
statefile_write(struct statefile *sf, const struct verdict *v)
{
	struct record_head h;
	uint64_t sum;
	char tmp[4096];
	int fd, ok;

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
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", sf->resultpath,
			     (long)getpid()) >= sizeof(tmp)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	unlink(tmp);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
		  0600);
	if (fd == -1)
		return -1;
	ok = write(fd, &h, sizeof(h)) == (ssize_t)sizeof(h) &&
	     write(fd, v->results, v->n * sizeof(*v->results)) ==
		     (ssize_t)(v->n * sizeof(*v->results)) &&
	     write(fd, &sum, sizeof(sum)) == (ssize_t)sizeof(sum);
	if (close(fd) == -1)
		ok = 0;
	if (!ok || rename(tmp, sf->resultpath) == -1) {
		int e = errno;

		unlink(tmp);
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
	size_t i, want = sizeof(h) + nchecks * sizeof(*res) + sizeof(sum);
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
	for (i = 0; ok && i < nchecks; i++) {
		if ((res[i].ok != 0 && res[i].ok != 1) ||
		    memchr(res[i].reason, '\0', sizeof(res[i].reason)) == NULL)
			ok = 0;
	}
	if (!ok) {
		free(res);
		return -1;
	}
	r->v.finished_ns = h.finished_ns;
	r->results = res;
	r->v.ok = h.ok != 0;
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
