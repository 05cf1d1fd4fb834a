#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "change.h"
#include "log.h"
#include "statefile.h"

#define MAGIC "HCVERD2"
/* How far apart two readings of the boot's wall-clock time may be and
 * still be the same boot (the wall clock is slewed and stepped). */
#define SAME_BOOT_MS 5000
/* Room for every failing check's target, reason and a little output. */
#define LINE_MAX_BYTES 8192

struct record {
	char magic[8];
	int64_t boot_ms; /* wall-clock time of the boot it was written in */
	int64_t finished_ns;
	uint64_t key;
	int32_t ok;
	int32_t pad;
};

/* When this boot began, by the wall clock: two clocks read through the
 * vDSO instead of /proc's boot id at every probe. */
static int64_t
boot_ms(void)
{
	struct timespec wall, up;

	clock_gettime(CLOCK_REALTIME, &wall);
	clock_gettime(CLOCK_BOOTTIME, &up);
	return ((int64_t)wall.tv_sec - up.tv_sec) * 1000 +
	       (wall.tv_nsec - up.tv_nsec) / 1000000;
}

/* What makes two verdicts the same: healthy or not, and which checks
 * fail; not how long they took, nor the wording of a reason. */
static uint64_t
verdict_key(const struct verdict *v)
{
	uint64_t h = 14695981039346656037ULL;
	size_t i;

	h = (h ^ (uint64_t)(v->ok ? 1 : 2)) * 1099511628211ULL;
	for (i = 0; i < v->n; i++)
		if (!v->results[i].ok)
			h = (h ^ (uint64_t)(i + 3)) * 1099511628211ULL;
	return h;
}

void
change_open(struct change *ch, const struct options *o, int shared)
{
	(void)o;
	memset(ch, 0, sizeof(*ch));
	ch->fd = -1;
	ch->shared = shared;
}

static void
open_record(struct change *ch, const struct options *o)
{
	char err[512];
	char *path;

	ch->shared = 0;
	path = statefile_path(o, ".verdict", err, sizeof(err));
	if (path != NULL) {
		ch->fd = statefile_open_private(path, err, sizeof(err));
		free(path);
	}
	if (ch->fd == -1)
		log_msg(LOGLVL_DEBUG,
			"verdict record: %s; changes are told per process",
			err);
}

/* The lock goes with the descriptor: a one-shot process notes one
 * verdict, and the close is its unlock. */
static void
release(struct change *ch)
{
	close(ch->fd);
	ch->fd = -1;
	ch->done = 1;
}

void
change_close(struct change *ch)
{
	if (ch->fd != -1)
		close(ch->fd);
	ch->fd = -1;
}

/* The end of a failed script's output, quoted, for the change's line. */
static size_t
quote_output(char *out, size_t cap, const struct check_result *r)
{
	size_t n;

	if (cap < 4)
		return 0;
	out[0] = ' ';
	out[1] = '"';
	n = 2 + log_escape(out + 2, cap - 3, r->output, (size_t)r->output_len);
	out[n++] = '"';
	out[n] = '\0';
	return n;
}

static void
tell(const struct options *o, const struct verdict *v, int was_known,
     int was_ok)
{
	char line[LINE_MAX_BYTES];
	size_t i, n;
	int failing = 0;

	n = (size_t)snprintf(line, sizeof(line), "verdict %s%s",
			     v->ok ? "healthy" : "unhealthy",
			     !was_known ? ""
			     : was_ok   ? " (was healthy)"
					: " (was unhealthy)");
	for (i = 0; i < v->n && n < sizeof(line); i++) {
		const struct check_result *r = &v->results[i];
		const struct check_spec *spec = &o->checks[i];

		if (r->ok)
			continue;
		n += (size_t)snprintf(line + n, sizeof(line) - n, "%s %s %s %s",
				      failing++ ? ";" : ":",
				      check_type_name(spec->type), spec->target,
				      r->reason);
		if (spec->type == CHECK_SCRIPT && r->output_len > 0 &&
		    n < sizeof(line))
			n += quote_output(line + n, sizeof(line) - n, r);
	}
	log_msg(v->ok ? LOGLVL_NOTICE : LOGLVL_WARN, "%s", line);
}

void
change_note(struct change *ch, const struct options *o, const struct verdict *v)
{
	uint64_t key = verdict_key(v);
	struct record rec, now;
	int64_t boot = boot_ms();
	int have;

	/* A level that shows no change (error and below) needs no record:
	 * one-shots then do no file work at all. */
	if (ch->done || !log_enabled(LOGLVL_WARN))
		return;
	if (ch->shared)
		open_record(ch, o);
	if (ch->fd == -1) {
		if (!ch->known || ch->last != key)
			tell(o, v, ch->known, ch->last_ok);
		ch->known = 1;
		ch->last = key;
		ch->last_ok = v->ok;
		return;
	}
	/* Another process holds it: it is telling this very change. */
	if (flock(ch->fd, LOCK_EX | LOCK_NB) == -1)
		return;
	have = pread(ch->fd, &rec, sizeof(rec), 0) == (ssize_t)sizeof(rec) &&
	       memcmp(rec.magic, MAGIC, sizeof(rec.magic)) == 0 &&
	       rec.boot_ms > boot - SAME_BOOT_MS &&
	       rec.boot_ms < boot + SAME_BOOT_MS;
	if (have && (rec.finished_ns > v->finished_ns || rec.key == key)) {
		release(ch);
		return;
	}
	memset(&now, 0, sizeof(now));
	memcpy(now.magic, MAGIC, sizeof(now.magic));
	now.boot_ms = boot;
	now.finished_ns = v->finished_ns;
	now.key = key;
	now.ok = v->ok;
	/* A full disk: each process then tells what it sees. */
	if (pwrite(ch->fd, &now, sizeof(now), 0) != (ssize_t)sizeof(now))
		log_msg(LOGLVL_DEBUG, "verdict record: %s", strerror(errno));
	release(ch);
	tell(o, v, have, have && rec.ok);
}
