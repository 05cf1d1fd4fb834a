#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <stdint.h>
#include <unistd.h>

#include "change.h"
#include "log.h"
#include "statefile.h"

#define MAGIC "HCVERD3"
/* Room for every failing check's target, reason and a little output. */
#define LINE_MAX_BYTES 8192
/* Records of as many sets of checks as may share one --lock-file; the
 * oldest makes room for a newcomer. */
#define SLOTS 16

/* One set of checks' last verdict, framed as the result file is. */
struct record {
	struct statefile_head h; /* h.config: whose record it is */
	uint64_t key;            /* verdict_key */
	uint64_t sum;
};

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
	int named;

	ch->shared = 0;
	ch->config = statefile_key(o);
	path = statefile_path(o, ch->config, ".verdict", err, sizeof(err));
	named = path != NULL;
	if (named) {
		ch->fd = statefile_open_private(path, err, sizeof(err));
		free(path);
	}
	/* Not ours to use: somebody else's file, a planted link or a FIFO
	 * is worth a warning; the verdicts are then told per process. */
	if (ch->fd == -1)
		log_msg(named ? LOGLVL_WARN : LOGLVL_DEBUG,
			"verdict record %s; changes are told per process", err);
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

/* Our slot of the table (*have set: it holds our last verdict), or the
 * one to take: a free one or one of another boot, else the oldest. */
static size_t
find_slot(const struct record *tab, size_t n, uint64_t config,
	  const char *boot_id, int *have)
{
	size_t i, free_slot = SLOTS, oldest = 0;

	*have = 0;
	for (i = 0; i < SLOTS; i++) {
		const struct record *r = &tab[i];
		int valid = i < n && statefile_sum(&r->h, &r->key,
						   sizeof(r->key)) == r->sum;

		if (valid &&
		    statefile_head_ours(&r->h, MAGIC, config, boot_id)) {
			*have = 1;
			return i;
		}
		if (!valid ||
		    memcmp(r->h.boot_id, boot_id, sizeof(r->h.boot_id)) != 0) {
			if (free_slot == SLOTS)
				free_slot = i;
		} else if (r->h.finished_ns < tab[oldest].h.finished_ns) {
			oldest = i;
		}
	}
	return free_slot != SLOTS ? free_slot : oldest;
}

void
change_note(struct change *ch, const struct options *o, const struct verdict *v)
{
	uint64_t key = verdict_key(v);
	struct record tab[SLOTS], *rec, was;
	char boot_id[40];
	size_t slot, n;
	ssize_t got;
	int have, lk;

	/* A level that shows no change (error and below) needs no record:
	 * one-shots then do no file work at all. */
	if (ch->done || !log_enabled(LOGLVL_WARN))
		return;
	if (ch->shared)
		open_record(ch, o);
	/* Another process of our checks holds our byte: it is telling this
	 * very change.  Another command line's never stands in our way.  A
	 * lock refused for any other reason: this process tells alone. */
	if (ch->fd != -1 &&
	    (lk = statefile_lock_key(ch->fd, (off_t)sizeof(tab), ch->config,
				     F_WRLCK)) != 1) {
		release(ch);
		if (lk == 0)
			return;
	}
	if (ch->fd == -1) {
		if (!ch->known || ch->last != key)
			tell(o, v, ch->known, ch->last_ok);
		ch->known = 1;
		ch->last = key;
		ch->last_ok = v->ok;
		return;
	}
	memset(tab, 0, sizeof(tab));
	got = pread(ch->fd, tab, sizeof(tab), 0);
	n = got > 0 ? (size_t)got / sizeof(tab[0]) : 0;
	statefile_boot_id(boot_id);
	slot = find_slot(tab, n, ch->config, boot_id, &have);
	rec = &tab[slot];
	was = *rec;
	if (have && (was.h.finished_ns > v->finished_ns || was.key == key)) {
		release(ch);
		return;
	}
	statefile_head_init(&rec->h, MAGIC, ch->config, boot_id);
	rec->h.finished_ns = v->finished_ns;
	rec->h.ok = v->ok;
	rec->key = key;
	rec->sum = statefile_sum(&rec->h, &rec->key, sizeof(rec->key));
	/* A full disk: each process then tells what it sees. */
	if (pwrite(ch->fd, rec, sizeof(*rec), (off_t)(slot * sizeof(*rec))) !=
	    (ssize_t)sizeof(*rec))
		log_msg(LOGLVL_DEBUG, "verdict record: %s", strerror(errno));
	release(ch);
	tell(o, v, have, have && was.h.ok);
}
