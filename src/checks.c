#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checks.h"
#include "kind_connect.h"
#include "kind_http.h"
#include "kind_script.h"
#include "log.h"

/* One row per type: its name as logs and details show it, and its kind,
 * behind which is everything that differs between them. */
static const struct {
	const char *name;
	const struct probe_kind *kind;
} types[] = {
	[CHECK_TCP] = {"tcp", &kind_connect},
	[CHECK_SCRIPT] = {"script", &kind_script},
	[CHECK_HTTP] = {"http", &kind_http},
	[CHECK_UNIX] = {"unix", &kind_connect},
};

/* What a status makes of a check's result; text: the reason when the kind
 * gives none. */
static const struct {
	int ok, ours;
	const char *text;
} statuses[] = {
	[PROBE_PASSED] = {1, 0, ""},
	[PROBE_FAILED] = {0, 0, ""},
	[PROBE_TIMEOUT] = {0, 0, "timed out"},
	[PROBE_SHORT] = {0, 1, ""},
};

/* The run's side of one check; its kind's state (a probe first) apart. */
struct slot {
	struct check_run *run;
	const struct probe_kind *kind;
	struct probe *probe;
	struct check_result *res;
	struct timer deadline;
};

struct check_run {
	struct loop *loop;
	const struct options *o;
	int64_t started;
	size_t pending;
	int64_t finished_ns;
	int short_errno; /* the first shortage of ours that failed a check */
	struct timer done_timer;
	void (*done)(void *ctx, const struct verdict *v);
	void *ctx;
	struct check_result *results;
	struct slot slots[];
};

/* The run, its results and every kind's state in one allocation, each
 * part aligned for anything. */
union align {
	void *p;
	long long ll;
	long double ld;
};

static size_t
aligned(size_t n)
{
	return (n + sizeof(union align) - 1) / sizeof(union align) *
	       sizeof(union align);
}

const char *
check_type_name(enum check_type type)
{
	return types[type].name;
}

static void
run_done(struct timer *t)
{
	struct check_run *run = t->ctx;
	struct verdict v;
	size_t i;

	v.ok = 1;
	v.n = run->o->nchecks;
	v.results = run->results;
	v.finished_ns = run->finished_ns;
	v.short_errno = run->short_errno;
	/* Ours only when nothing failed but for our own shortage: a real
	 * failure beside it is still the service's. */
	v.ours = 1;
	for (i = 0; i < v.n; i++) {
		v.ok &= run->results[i].ok;
		if (!run->results[i].ok && !run->results[i].ours)
			v.ours = 0;
	}
	if (v.ok)
		v.ours = 0;
	run->done(run->ctx, &v);
}

/* The check's debug line.  Apart from slot_done: its buffer (16 KiB) would
 * make every call below slot_done touch stack pages that a one-shot
 * otherwise never faults in. */
static void log_check(const struct slot *s, const char *reason)
	__attribute__((noinline));

static void
log_check(const struct slot *s, const char *reason)
{
	char output[PROBE_OUTPUT_MAX * 4 + 1]; /* every byte may take 4 */
	const struct probe *p = s->probe;
	const char *type = types[p->spec->type].name;

	if (s->res->ok) {
		log_msg(LOGLVL_DEBUG, "check %s %s ok %dms", type,
			p->spec->target, s->res->ms);
	} else if (p->output != NULL) {
		log_escape(output, sizeof(output), p->output, p->outlen);
		log_msg(LOGLVL_DEBUG, "check %s %s fail %dms %s output \"%s\"",
			type, p->spec->target, s->res->ms, reason, output);
	} else {
		log_msg(LOGLVL_DEBUG, "check %s %s fail %dms %s", type,
			p->spec->target, s->res->ms, reason);
	}
}

/* What a kind reports through probe_done(): the check's result. */
static void
slot_done(void *ctx, struct probe *p, enum probe_status st, int err,
	  const char *reason)
{
	struct slot *s = ctx;
	struct check_run *run = s->run;
	struct check_result *res = s->res;

	timer_cancel(run->loop, &s->deadline);
	s->kind->stop(p);
	if (reason == NULL || statuses[st].ok)
		reason = statuses[st].text;
	res->ok = statuses[st].ok;
	res->ours = statuses[st].ours;
	if (res->ours && run->short_errno == 0)
		run->short_errno = err;
	res->ms = (int)(loop_now() - run->started);
	snprintf(res->reason, sizeof(res->reason), "%s", reason);
	if (!res->ok && p->output != NULL) {
		size_t keep = p->outlen < CHECK_OUTPUT_NOTE ? p->outlen
							    : CHECK_OUTPUT_NOTE;

		res->output_len = (int)keep;
		memcpy(res->output, p->output + p->outlen - keep, keep);
	}
	/* One line per check at debug; at info, the verdict's change says
	 * which failed and why (see change.h). */
	if (log_enabled(LOGLVL_DEBUG))
		log_check(s, reason);
	/* Stamped now, not when the loop gets to done(): a request read
	 * later in this same batch arrived after the run ended. */
	if (--run->pending == 0) {
		run->finished_ns = loop_now_ns();
		timer_arm(run->loop, &run->done_timer, 0);
	}
}

static void
timed_out(struct timer *t)
{
	struct slot *s = t->ctx;

	s->kind->expire(s->probe);
}

size_t
check_run_fds(const struct options *o)
{
	/* Creating a pipe or a socket briefly holds one more. */
	size_t i, n = 2;

	for (i = 0; i < o->nchecks; i++)
		n += types[o->checks[i].type].kind->fds(&o->checks[i]);
	return n;
}

/* The run with its slots, results and the kinds' states, zeroed. */
static struct check_run *
run_alloc(const struct options *o)
{
	size_t i, size, at;
	struct check_run *run;
	char *base;

	size = aligned(sizeof(*run) + o->nchecks * sizeof(struct slot));
	at = size;
	size += aligned(o->nchecks * sizeof(struct check_result));
	for (i = 0; i < o->nchecks; i++)
		size += aligned(types[o->checks[i].type].kind->size);
	run = calloc(1, size);
	if (run == NULL)
		return NULL;
	base = (char *)run;
	run->results = (struct check_result *)(base + at);
	at += aligned(o->nchecks * sizeof(struct check_result));
	for (i = 0; i < o->nchecks; i++) {
		run->slots[i].probe = (struct probe *)(base + at);
		at += aligned(types[o->checks[i].type].kind->size);
	}
	return run;
}

static void
slot_start(struct check_run *run, const struct check_env *env, size_t i)
{
	struct slot *s = &run->slots[i];
	struct probe *p = s->probe;

	s->run = run;
	s->kind = types[run->o->checks[i].type].kind;
	s->res = &run->results[i];
	p->spec = &run->o->checks[i];
	p->env = env;
	p->done = slot_done;
	p->ctx = s;
	s->deadline.fn = timed_out;
	s->deadline.ctx = s;
	timer_arm(run->loop, &s->deadline, run->started + p->spec->timeout_ms);
	s->kind->start(p);
}

struct check_run *
check_run_start(const struct check_env *env, const struct options *o,
		void (*done)(void *ctx, const struct verdict *v), void *ctx)
{
	struct check_run *run;
	size_t i;

	run = run_alloc(o);
	if (run == NULL)
		return NULL;
	run->loop = env->loop;
	run->o = o;
	run->done = done;
	run->ctx = ctx;
	run->done_timer.fn = run_done;
	run->done_timer.ctx = run;
	run->started = loop_now();
	run->pending = o->nchecks;
	for (i = 0; i < o->nchecks; i++)
		slot_start(run, env, i);
	return run;
}

void
check_run_free(struct check_run *run)
{
	size_t i;

	if (run == NULL)
		return;
	for (i = 0; i < run->o->nchecks; i++) {
		struct slot *s = &run->slots[i];

		timer_cancel(run->loop, &s->deadline);
		s->kind->stop(s->probe);
	}
	timer_cancel(run->loop, &run->done_timer);
	free(run);
}
