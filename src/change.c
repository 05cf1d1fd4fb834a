#include <stdio.h>
#include <string.h>

#include "change.h"
#include "log.h"
#include "runfile.h"

/* The verdict record: its payload the verdict's key, its flags FLAG_OK.
 * Byte for byte the record of the releases before it (the same magic, key
 * and lock byte): old and new one-shots of an upgrade tell a change once. */
#define MAGIC "HCVERD3"
#define FLAG_OK 1
/* Room for every failing check's target, reason and a little output. */
#define LINE_MAX_BYTES 8192

/* What makes two verdicts the same: healthy or not, and which checks
 * fail; not how long they took, nor the wording of a reason. */
static uint64_t
verdict_key(const struct verdict *v)
{
	uint64_t h = RUNFILE_HASH_INIT;
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
	ch->shared = shared;
}

void
change_close(struct change *ch)
{
	/* The record is held only within change_note: nothing to let go. */
	ch->shared = 0;
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

/* In memory: this process alone (the server, or a one-shot without the
 * file). */
static void
note_here(struct change *ch, const struct options *o, const struct verdict *v,
	  uint64_t key)
{
	if (!ch->known || ch->last != key)
		tell(o, v, ch->known, ch->last_ok);
	ch->known = 1;
	ch->last = key;
	ch->last_ok = v->ok;
}

/* Through the record every one-shot of our checks shares, locked at our
 * byte: 0 told, or nothing to tell (older, the same, or another process
 * is telling it); -1 the record is not to be had. */
static int
note_shared(const struct options *o, const struct verdict *v, uint64_t key)
{
	struct runfile_note n;
	uint64_t was = 0;
	char err[512];
	int named, r, was_ok;

	r = runfile_note_open(&n, o, ".verdict", MAGIC, &was, sizeof(was), err,
			      sizeof(err), &named);
	/* Not ours to use: somebody else's file, a planted link or a FIFO
	 * is worth a warning; the verdicts are then told per process. */
	if (r == -1)
		log_msg(named ? LOGLVL_WARN : LOGLVL_DEBUG,
			"verdict record %s; changes are told per process", err);
	if (r != 1)
		return r;
	/* Older than the one on record (a slow process), or the same. */
	if (n.have && (n.head.finished_ns > v->finished_ns || was == key)) {
		runfile_note_close(&n);
		return 0;
	}
	was_ok = n.have && (n.head.flags & FLAG_OK) != 0;
	n.head.finished_ns = v->finished_ns;
	n.head.flags = v->ok ? FLAG_OK : 0;
	runfile_note_write(&n, "verdict record", MAGIC, &key, sizeof(key));
	runfile_note_close(&n);
	tell(o, v, n.have, was_ok);
	return 0;
}

void
change_note(struct change *ch, const struct options *o, const struct verdict *v)
{
	uint64_t key = verdict_key(v);

	/* A level that shows no change (error and below) needs no record:
	 * one-shots then do no file work at all. */
	if (ch->done || !log_enabled(LOGLVL_WARN))
		return;
	/* A one-shot's one verdict: the record is consulted once; one that
	 * cannot be had leaves this process to tell alone. */
	if (ch->shared) {
		ch->shared = 0;
		if (note_shared(o, v, key) == 0) {
			ch->done = 1;
			return;
		}
	}
	note_here(ch, o, v, key);
}
