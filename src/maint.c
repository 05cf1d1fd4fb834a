#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "maint.h"
#include "statefile.h"

#define MAGIC "HCMAINT"

enum look { LOOK_ABSENT, LOOK_OURS, LOOK_FOREIGN };

/* What the one-shots last told, beside the singleflight state. */
struct record {
	char magic[8];
	int32_t on;
	uint32_t foreign_uid;
	uint64_t foreign_dev, foreign_ino;
};

static int
trusted(uid_t uid)
{
	return uid == 0 || uid == geteuid();
}

/* Whether the name drains us.  The name's own owner counts (lstat: a link
 * another user planted, even to a file of root's, is theirs); a symlink of
 * a trusted owner counts while it leads to a file of a trusted owner.  A
 * regular file with more than one link may be a hard link another user
 * made to a file of root's (fs.protected_hardlinks=0): refused too. */
static enum look
look(const char *path, struct stat *st)
{
	if (lstat(path, st) == -1)
		return LOOK_ABSENT;
	if (trusted(st->st_uid) && S_ISLNK(st->st_mode) && stat(path, st) == -1)
		return LOOK_ABSENT; /* a dangling link: no maintenance */
	if (!trusted(st->st_uid) || (S_ISREG(st->st_mode) && st->st_nlink > 1))
		return LOOK_FOREIGN;
	return LOOK_OURS;
}

void
maint_init(struct maint *m, int shared)
{
	memset(m, 0, sizeof(*m));
	m->shared = shared;
}

/* The state last told, from the record (held locked on fd), or from memory
 * when there is no record. */
static int
open_record(struct maint *m, const struct options *o)
{
	struct record rec;
	char err[512];
	char *path;
	int fd = -1;

	path = statefile_path(o, statefile_key(o), ".maintenance", err, sizeof(err));
	if (path != NULL) {
		fd = statefile_open_private(path, err, sizeof(err));
		free(path);
	}
	if (fd == -1) {
		log_msg(LOGLVL_DEBUG,
			"maintenance record: %s; changes are told per process",
			err);
		return -1;
	}
	/* Another process holds it: it is telling this very change. */
	if (flock(fd, LOCK_EX | LOCK_NB) == -1) {
		close(fd);
		errno = EAGAIN;
		return -2;
	}
	if (pread(fd, &rec, sizeof(rec), 0) == (ssize_t)sizeof(rec) &&
	    memcmp(rec.magic, MAGIC, sizeof(rec.magic)) == 0) {
		m->known = 1;
		m->on = rec.on != 0;
		m->foreign_uid = rec.foreign_uid;
		m->foreign_dev = rec.foreign_dev;
		m->foreign_ino = rec.foreign_ino;
	}
	return fd;
}

static void
save_record(const struct maint *m, int fd)
{
	struct record rec;

	memset(&rec, 0, sizeof(rec));
	memcpy(rec.magic, MAGIC, sizeof(rec.magic));
	rec.on = m->on;
	rec.foreign_uid = m->foreign_uid;
	rec.foreign_dev = m->foreign_dev;
	rec.foreign_ino = m->foreign_ino;
	if (pwrite(fd, &rec, sizeof(rec), 0) != (ssize_t)sizeof(rec))
		log_msg(LOGLVL_DEBUG, "maintenance record: %s",
			strerror(errno));
}

int
maint_check(struct maint *m, const struct options *o)
{
	const char *path = o->maintenance_file;
	struct stat st;
	enum look l;
	int fd = -1, on, changed = 0;

	if (path == NULL)
		return 0;
	l = look(path, &st);
	on = l == LOOK_OURS;
	/* Nothing to tell at a level that hides notices: no file work. */
	if (!log_enabled(LOGLVL_WARN))
		return on;
	if (m->shared) {
		fd = open_record(m, o);
		if (fd == -2)
			return on;
		if (fd == -1)
			m->shared = 0;
	}
	if (l == LOOK_FOREIGN) {
		if (m->foreign_uid != (uint32_t)st.st_uid ||
		    m->foreign_dev != (uint64_t)st.st_dev ||
		    m->foreign_ino != (uint64_t)st.st_ino) {
			if (!trusted(st.st_uid))
				log_msg(LOGLVL_WARN,
					"maintenance file %s ignored: owned by "
					"uid %lu, neither root nor uid %lu",
					path, (unsigned long)st.st_uid,
					(unsigned long)geteuid());
			else
				log_msg(LOGLVL_WARN,
					"maintenance file %s ignored: %lu hard "
					"links, any of them may be another "
					"user's",
					path, (unsigned long)st.st_nlink);
			m->foreign_uid = (uint32_t)st.st_uid;
			m->foreign_dev = (uint64_t)st.st_dev;
			m->foreign_ino = (uint64_t)st.st_ino;
			changed = 1;
		}
	} else if (m->foreign_dev != 0 || m->foreign_ino != 0) {
		/* Gone, or ours now: the next foreign one is told again. */
		m->foreign_uid = 0;
		m->foreign_dev = m->foreign_ino = 0;
		changed = 1;
	}
	if (on != m->on || (!m->known && on)) {
		if (on)
			log_msg(LOGLVL_NOTICE,
				"maintenance: %s is there: answering 503 "
				"Maintenance, no check runs",
				path);
		else
			log_msg(LOGLVL_NOTICE,
				"maintenance over: %s is gone or not ours: "
				"the checks answer again",
				path);
		changed = 1;
	}
	if (!m->known)
		changed = 1;
	m->known = 1;
	m->on = on;
	if (fd >= 0) {
		if (changed)
			save_record(m, fd);
		close(fd);
		/* The next look reads the record afresh. */
		m->known = 0;
	}
	return on;
}
