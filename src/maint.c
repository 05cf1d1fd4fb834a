#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "loop.h"
#include "maint.h"
#include "runfile.h"

/* What the one-shots last told, beside the singleflight state: the
 * record's payload. */
#define MAGIC "HCMAINT4"

enum look { LOOK_ABSENT, LOOK_OURS, LOOK_FOREIGN };

struct told {
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

/* The state last told, from the record (held locked in *n), or from
 * memory when there is no record: 1 held, 0 another process is telling,
 * -1 this process tells alone. */
static int
open_record(struct maint *m, const struct options *o, struct runfile_note *n)
{
	struct told t;
	char err[512];
	int named, r;

	r = runfile_note_open(n, o, ".maintenance", MAGIC, &t, sizeof(t), err,
			      sizeof(err), &named);
	if (r == -1)
		log_msg(LOGLVL_DEBUG,
			"maintenance record: %s; changes are told per process",
			err);
	if (r == 1 && n->have) {
		m->known = 1;
		m->on = t.on != 0;
		m->foreign_uid = t.foreign_uid;
		m->foreign_dev = t.foreign_dev;
		m->foreign_ino = t.foreign_ino;
	}
	return r;
}

static void
save_record(const struct maint *m, struct runfile_note *n)
{
	struct told t;

	memset(&t, 0, sizeof(t));
	t.on = m->on;
	t.foreign_uid = m->foreign_uid;
	t.foreign_dev = m->foreign_dev;
	t.foreign_ino = m->foreign_ino;
	/* The oldest record makes room for a newcomer's. */
	n->head.finished_ns = loop_now_ns();
	runfile_note_write(n, "maintenance record", MAGIC, &t, sizeof(t));
}

/* A file another owner's (or one with a second link) is told once per
 * file; 1 when what is told changed. */
static int
tell_foreign(struct maint *m, const char *path, enum look l,
	     const struct stat *st)
{
	if (l != LOOK_FOREIGN) {
		if (m->foreign_dev == 0 && m->foreign_ino == 0)
			return 0;
		/* Gone, or ours now: the next foreign one is told again. */
		m->foreign_uid = 0;
		m->foreign_dev = m->foreign_ino = 0;
		return 1;
	}
	if (m->foreign_uid == (uint32_t)st->st_uid &&
	    m->foreign_dev == (uint64_t)st->st_dev &&
	    m->foreign_ino == (uint64_t)st->st_ino)
		return 0;
	if (!trusted(st->st_uid))
		log_msg(LOGLVL_WARN,
			"maintenance file %s ignored: owned by uid %lu, "
			"neither root nor uid %lu",
			path, (unsigned long)st->st_uid,
			(unsigned long)geteuid());
	else
		log_msg(LOGLVL_WARN,
			"maintenance file %s ignored: %lu hard links, any of "
			"them may be another user's",
			path, (unsigned long)st->st_nlink);
	m->foreign_uid = (uint32_t)st->st_uid;
	m->foreign_dev = (uint64_t)st->st_dev;
	m->foreign_ino = (uint64_t)st->st_ino;
	return 1;
}

/* The change into or out of maintenance, told once; 1 when told. */
static int
tell_on(const struct maint *m, const char *path, int on)
{
	if (on == m->on && (m->known || !on))
		return 0;
	if (on)
		log_msg(LOGLVL_NOTICE,
			"maintenance: %s is there: answering 503 Maintenance, "
			"no check runs",
			path);
	else
		log_msg(LOGLVL_NOTICE,
			"maintenance over: %s is gone or not ours: the checks "
			"answer again",
			path);
	return 1;
}

int
maint_check(struct maint *m, const struct options *o)
{
	const char *path = o->maintenance_file;
	struct runfile_note n;
	struct stat st;
	enum look l;
	int held = 0, on, changed;

	if (path == NULL)
		return 0;
	l = look(path, &st);
	on = l == LOOK_OURS;
	/* Nothing to tell at a level that hides notices: no file work. */
	if (!log_enabled(LOGLVL_WARN))
		return on;
	if (m->shared) {
		held = open_record(m, o, &n);
		if (held == 0)
			return on;
		if (held == -1)
			m->shared = 0;
	}
	changed = tell_foreign(m, path, l, &st);
	changed |= tell_on(m, path, on);
	changed |= !m->known;
	m->known = 1;
	m->on = on;
	if (held == 1) {
		if (changed)
			save_record(m, &n);
		runfile_note_close(&n);
		/* The next look reads the record afresh. */
		m->known = 0;
	}
	return on;
}
