#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "flight.h"
#include "log.h"

/* With inotify refused, how often a follower looks at the files. */
#define POLL_MS 50
/* How much longer than the longest check a follower waits for another
 * process's run before it runs the checks itself. */
#define OVERDUE_MS 1000

/* One run of the checks without singleflight, shared by the requests that
 * were in the queue when it started (or one that found a slot free). */
struct flight_batch {
	struct flight *fl;
	struct check_run *run;
	struct flight_wait *waiters; /* linked by next and prev */
};

static void begin(struct flight *fl);
static void start_batch(struct flight *fl, struct flight_wait *list,
			int waited);

/* Every verdict a request gets goes through here: change hears of each
 * one (but a run we could not do, which says nothing of the service). */
static void
answer(struct flight *fl, struct flight_wait *w, const struct verdict *v)
{
	if (fl->change != NULL && (v->ok || !v->ours))
		change_note(fl->change, fl->o, v);
	w->fn(w, v);
}

static void
no_run(struct timer *t)
{
	struct flight_wait *w = t->ctx;

	w->fl = NULL;
	errno = w->err;
	w->fn(w, NULL);
}

/* Answers w from the loop with "no run": errno err. */
static void
answer_no_run(struct flight *fl, struct flight_wait *w, int err)
{
	w->err = err;
	w->soon.fn = no_run;
	timer_arm(fl->loop, &w->soon, 0);
}

static void
cached_ready(struct timer *t)
{
	struct flight_wait *w = t->ctx;
	struct check_result *results = w->cached.results;
	struct flight *fl = w->fl;

	w->fl = NULL;
	w->cached.results = NULL;
	answer(fl, w, &w->cached.v);
	free(results);
}

/* --cache-ttl: a result younger than the TTL, from any process, is served
 * without running anything. */
static int
serve_cached(struct flight *fl, struct flight_wait *w)
{
	int64_t age;

	if (statefile_read(&fl->sf, fl->o->nchecks, &w->cached) == -1)
		return 0;
	age = w->arrived_ns - w->cached.v.finished_ns;
	if (age < 0 || age >= (int64_t)fl->o->cache_ttl_ms * 1000000) {
		free(w->cached.results);
		w->cached.results = NULL;
		return 0;
	}
	log_msg(LOGLVL_DEBUG, "cache: a result from %lldms ago",
		(long long)(age / 1000000));
	w->soon.fn = cached_ready;
	timer_arm(fl->loop, &w->soon, 0);
	return 1;
}

/* Answers every waiter that arrived before the result was made; the rest
 * stay, to start a run of their own. */
static void
deliver(struct flight *fl, const struct verdict *v, int64_t finished_ns)
{
	struct flight_wait *w = fl->waiters, *keep = NULL;

	fl->waiters = NULL;
	while (w != NULL) {
		struct flight_wait *next = w->next;

		if (w->arrived_ns <= finished_ns) {
			w->fl = NULL;
			answer(fl, w, v);
		} else {
			w->next = keep;
			keep = w;
		}
		w = next;
	}
	fl->waiters = keep;
}

static void
stop_following(struct flight *fl)
{
	fl->state = FLIGHT_IDLE;
	timer_cancel(fl->loop, &fl->recheck);
	timer_cancel(fl->loop, &fl->give_up);
	if (fl->notify_registered) {
		loop_del(fl->loop, &fl->notify);
		fl->notify_registered = 0;
	}
}

static void
note_save(struct flight *fl, int failed, int err)
{
	if (failed && !fl->save_failing)
		log_msg(LOGLVL_WARN,
			"state file %s: %s; runs are not shared until it can "
			"be written",
			fl->sf.resultpath, statefile_strerror(&fl->sf, err));
	else if (!failed && fl->save_failing)
		log_msg(LOGLVL_INFO, "state file %s: written again",
			fl->sf.resultpath);
	fl->save_failing = failed;
}

/* The result for singleflight followers and the cache, in any process. */
static void
save(struct flight *fl, const struct verdict *v)
{
	/* A run we could not do says nothing worth keeping for others. */
	if (!fl->shared || v->ours)
		return;
	if (statefile_write(&fl->sf, v) == -1)
		note_save(fl, 1, errno);
	else
		note_save(fl, 0, 0);
}

/* Takes the whole queue off, for one run. */
static struct flight_wait *
take_queue(struct flight *fl)
{
	struct flight_wait *list = fl->queue, *w;

	for (w = list; w != NULL; w = w->next)
		w->queued = 0;
	fl->queue = fl->queue_tail = NULL;
	return list;
}

/* A run has ended: every request queued now shares the one that starts
 * (it starts after they all arrived, so its result is fresh for each). */
static void
run_ended(struct flight *fl)
{
	fl->runs--;
	if (fl->queue != NULL && fl->runs < fl->max_runs)
		start_batch(fl, take_queue(fl), 1);
}

static void
led_done(void *ctx, const struct verdict *v)
{
	struct flight *fl = ctx;
	struct check_run *run = fl->run;

	/* Written even without the lock: followers of a holder that is
	 * stopped or stuck are woken by it. */
	save(fl, v);
	if (fl->locked)
		statefile_unlock(&fl->sf);
	fl->locked = 0;
	fl->run = NULL;
	fl->state = FLIGHT_IDLE;
	/* Those who came after the run ended (in the same batch of events)
	 * stay, for a run of their own. */
	deliver(fl, v, v->finished_ns);
	check_run_free(run);
	run_ended(fl);
	if (fl->waiters != NULL)
		begin(fl);
}

static void
lead(struct flight *fl, int locked)
{
	/* A result that could not be written would keep every follower
	 * waiting for this run, one run after another: found out now, the
	 * lock goes at once and they run their own, side by side. */
	if (locked && statefile_prepare(&fl->sf) == -1) {
		note_save(fl, 1, errno);
		statefile_unlock(&fl->sf);
		locked = 0;
	}
	fl->state = FLIGHT_LEADING;
	fl->locked = locked;
	fl->run = check_run_start(fl->env, fl->o, led_done, fl);
	if (fl->run != NULL) {
		fl->runs++;
		return;
	}
	if (locked)
		statefile_unlock(&fl->sf);
	fl->locked = 0;
	fl->state = FLIGHT_IDLE;
	while (fl->waiters != NULL) {
		struct flight_wait *w = fl->waiters;

		fl->waiters = w->next;
		answer_no_run(fl, w, ENOMEM);
	}
}

/* Serves a result from the file to the waiters it is fresh for.  Returns 1
 * when it answered anybody. */
static int
serve_from_file(struct flight *fl)
{
	struct state_result r;
	struct flight_wait *w;
	int fresh = 0;

	if (statefile_read(&fl->sf, fl->o->nchecks, &r) == -1)
		return 0;
	for (w = fl->waiters; w != NULL; w = w->next)
		fresh |= w->arrived_ns <= r.v.finished_ns;
	if (fresh) {
		stop_following(fl);
		deliver(fl, &r.v, r.v.finished_ns);
	}
	free(r.results);
	return fresh;
}

static void
recheck(struct flight *fl)
{
	int lk;

	if (serve_from_file(fl)) {
		if (fl->waiters != NULL)
			begin(fl);
		return;
	}
	lk = statefile_try_lock(&fl->sf);
	if (lk == 0) {
		if (!fl->notify_registered)
			timer_arm(fl->loop, &fl->recheck, loop_now() + POLL_MS);
		return;
	}
	/* The lock is free: the run finished (its result may have landed
	 * between our read and the lock) or its process died. */
	if (lk == 1 && serve_from_file(fl)) {
		statefile_unlock(&fl->sf);
		if (fl->waiters != NULL)
			begin(fl);
		return;
	}
	stop_following(fl);
	lead(fl, lk == 1);
}

static void
on_recheck(struct timer *t)
{
	recheck(t->ctx);
}

static void
on_notify(struct watch *w, unsigned events)
{
	struct flight *fl = w->ctx;

	(void)events;
	statefile_drain_notify(&fl->sf);
	if (fl->state == FLIGHT_FOLLOWING)
		recheck(fl);
}

static void
on_give_up(struct timer *t)
{
	struct flight *fl = t->ctx;

	log_msg(LOGLVL_WARN, "singleflight: the run in flight elsewhere is "
			     "overdue; running the checks here");
	stop_following(fl);
	lead(fl, 0);
}

static int
overdue_ms(const struct flight *fl)
{
	return options_max_check_ms(fl->o) + OVERDUE_MS;
}

static void
follow(struct flight *fl)
{
	int fd;

	fl->state = FLIGHT_FOLLOWING;
	fd = statefile_notify_fd(&fl->sf);
	if (fd != -1) {
		statefile_drain_notify(&fl->sf);
		fl->notify.fd = fd;
		if (loop_add(fl->loop, &fl->notify, LOOP_IN) == 0)
			fl->notify_registered = 1;
	}
	/* The watch is in place before this first look, so a run that ends
	 * between the lock attempt and now is not missed. */
	timer_arm(fl->loop, &fl->recheck, 0);
	timer_arm(fl->loop, &fl->give_up, loop_now() + overdue_ms(fl));
}

static void
begin(struct flight *fl)
{
	int lk;

	if (!fl->shared) {
		lead(fl, 0);
		return;
	}
	lk = statefile_try_lock(&fl->sf);
	if (lk != 0) {
		lead(fl, lk == 1);
	} else if (statefile_holder_overdue(&fl->sf, overdue_ms(fl))) {
		/* A holder stopped (SIGSTOP) or stuck costs one request the
		 * wait at most: whoever comes later runs at once. */
		log_msg(LOGLVL_DEBUG, "singleflight: the lock holder is "
				      "overdue; running the checks here");
		lead(fl, 0);
	} else {
		follow(fl);
	}
}

void
flight_init(struct flight *fl, const struct check_env *env,
	    const struct options *o)
{
	char err[512];

	memset(fl, 0, sizeof(*fl));
	fl->loop = env->loop;
	fl->env = env;
	fl->o = o;
	fl->max_runs = INT_MAX;
	fl->sf.lockfd = fl->sf.notifyfd = fl->sf.tmpfd = -1;
	fl->notify.fd = -1;
	fl->notify.fn = on_notify;
	fl->notify.ctx = fl;
	fl->recheck.fn = on_recheck;
	fl->recheck.ctx = fl;
	fl->give_up.fn = on_give_up;
	fl->give_up.ctx = fl;
	if (!o->singleflight && o->cache_ttl_ms == 0)
		return;
	if (statefile_open(&fl->sf, o, err, sizeof(err)) == 0)
		fl->shared = 1;
	else
		log_msg(LOGLVL_WARN,
			"%s: %s; sharing runs within this process only",
			o->singleflight ? "singleflight" : "cache", err);
}

void
flight_set_max_runs(struct flight *fl, int n)
{
	fl->max_runs = n;
}

void
flight_close(struct flight *fl)
{
	stop_following(fl);
	if (fl->run != NULL)
		check_run_free(fl->run);
	fl->run = NULL;
	if (fl->locked)
		statefile_unlock(&fl->sf);
	fl->locked = 0;
	if (fl->shared)
		statefile_close(&fl->sf);
	fl->shared = 0;
}

static void
batch_done(void *ctx, const struct verdict *v)
{
	struct flight_batch *b = ctx;
	struct flight *fl = b->fl;
	struct flight_wait *w, *next, *list = b->waiters;

	save(fl, v);
	/* All let go before any is answered: an answer that ends another
	 * waiter's connection finds it no longer ours to cancel. */
	for (w = list; w != NULL; w = w->next) {
		w->batch = NULL;
		w->fl = NULL;
	}
	b->waiters = NULL;
	for (w = list; w != NULL; w = next) {
		next = w->next;
		w->next = w->prev = NULL;
		answer(fl, w, v);
	}
	check_run_free(b->run);
	free(b);
	run_ended(fl);
}

/* Starts one run for the waiters of list (linked by next), leaving out
 * those whose client has gone: they are answered ECONNRESET. */
static void
start_batch(struct flight *fl, struct flight_wait *list, int waited)
{
	struct flight_batch *b;
	struct flight_wait *w, *next, *keep = NULL, *tail = NULL;

	for (w = list; w != NULL; w = next) {
		next = w->next;
		w->next = w->prev = NULL;
		if (w->gone != NULL && w->gone(w, waited)) {
			answer_no_run(fl, w, ECONNRESET);
			continue;
		}
		w->prev = tail;
		if (tail != NULL)
			tail->next = w;
		else
			keep = w;
		tail = w;
	}
	if (keep == NULL)
		return;
	b = calloc(1, sizeof(*b));
	if (b != NULL) {
		b->fl = fl;
		b->waiters = keep;
		b->run = check_run_start(fl->env, fl->o, batch_done, b);
	}
	if (b == NULL || b->run == NULL) {
		free(b);
		for (w = keep; w != NULL; w = next) {
			next = w->next;
			w->next = w->prev = NULL;
			answer_no_run(fl, w, ENOMEM);
		}
		return;
	}
	for (w = keep; w != NULL; w = w->next)
		w->batch = b;
	fl->runs++;
}

void
flight_join(struct flight *fl, struct flight_wait *w)
{
	w->fl = fl;
	w->batch = NULL;
	w->next = w->prev = NULL;
	w->queued = 0;
	w->arrived_ns = loop_now_ns();
	w->soon.ctx = w;
	w->soon.armed = 0;
	w->cached.results = NULL;
	if (fl->o->cache_ttl_ms > 0 && fl->shared && serve_cached(fl, w))
		return;
	if (fl->max_runs == 0) {
		answer_no_run(fl, w, EMFILE);
		return;
	}
	if (!fl->o->singleflight) {
		if (fl->runs < fl->max_runs) {
			start_batch(fl, w, 0);
			return;
		}
		/* Its turn comes when a run ends, within that run's
		 * deadline: the run then started is shared by the whole
		 * queue, however long it is. */
		w->queued = 1;
		w->prev = fl->queue_tail;
		if (fl->queue_tail != NULL)
			fl->queue_tail->next = w;
		else
			fl->queue = w;
		fl->queue_tail = w;
		return;
	}
	w->next = fl->waiters;
	fl->waiters = w;
	if (fl->state == FLIGHT_IDLE)
		begin(fl);
}

void
flight_cancel(struct flight_wait *w)
{
	struct flight *fl = w->fl;
	struct flight_batch *b = w->batch;
	struct flight_wait **pp;

	if (fl == NULL)
		return;
	timer_cancel(fl->loop, &w->soon);
	free(w->cached.results);
	w->cached.results = NULL;
	if (b != NULL || w->queued) {
		/* Out of a run's list or the queue: both doubly linked, as
		 * thousands of a flood's clients may leave one by one. */
		if (w->prev != NULL)
			w->prev->next = w->next;
		else if (b != NULL)
			b->waiters = w->next;
		else
			fl->queue = w->next;
		if (w->next != NULL)
			w->next->prev = w->prev;
		else if (b == NULL)
			fl->queue_tail = w->prev;
		w->next = w->prev = NULL;
		w->batch = NULL;
		w->queued = 0;
		w->fl = NULL;
		if (b != NULL && b->waiters == NULL) {
			check_run_free(b->run);
			free(b);
			run_ended(fl);
		}
		return;
	}
	for (pp = &fl->waiters; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == w) {
			*pp = w->next;
			break;
		}
	}
	if (fl->waiters == NULL && fl->state == FLIGHT_FOLLOWING)
		stop_following(fl);
	w->fl = NULL;
}

int
flight_queued(const struct flight_wait *w)
{
	return w->fl != NULL && w->queued;
}

void
flight_stopping(struct flight *fl)
{
	if (fl->stopping || fl->max_runs == 0 || fl->max_runs == INT_MAX)
		return;
	fl->stopping = 1;
	fl->max_runs++;
	if (fl->queue != NULL && fl->runs < fl->max_runs)
		start_batch(fl, take_queue(fl), 1);
}
