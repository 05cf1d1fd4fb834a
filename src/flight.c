#include <stddef.h>

#include "flight.h"

void
flight_init(struct flight *fl, struct loop *loop, const struct options *o)
{
	fl->loop = loop;
	fl->o = o;
	fl->shared = NULL;
	fl->waiters = NULL;
}

void
flight_close(struct flight *fl)
{
	(void)fl;
}

static void
own_done(void *ctx, const struct verdict *v)
{
	struct flight_wait *w = ctx;
	struct check_run *run = w->own;

	w->own = NULL;
	w->fl = NULL;
	w->fn(w, v);
	check_run_free(run);
}

static void
shared_done(void *ctx, const struct verdict *v)
{
	struct flight *fl = ctx;
	struct check_run *run = fl->shared;
	struct flight_wait *w = fl->waiters;

	/* A request arriving from here on starts a new run. */
	fl->shared = NULL;
	fl->waiters = NULL;
	while (w != NULL) {
		struct flight_wait *next = w->next;

		w->fl = NULL;
		w->fn(w, v);
		w = next;
	}
	check_run_free(run);
}

static void
no_run(struct timer *t)
{
	struct flight_wait *w = t->ctx;

	w->fl = NULL;
	w->fn(w, NULL);
}

void
flight_join(struct flight *fl, struct flight_wait *w)
{
	w->fl = fl;
	w->own = NULL;
	w->next = NULL;
	w->fail.fn = no_run;
	w->fail.ctx = w;
	w->fail.armed = 0;
	if (!fl->o->singleflight) {
		w->own = check_run_start(fl->loop, fl->o, own_done, w);
		if (w->own == NULL)
			timer_arm(fl->loop, &w->fail, 0);
		return;
	}
	if (fl->shared == NULL) {
		fl->shared = check_run_start(fl->loop, fl->o, shared_done, fl);
		if (fl->shared == NULL) {
			timer_arm(fl->loop, &w->fail, 0);
			return;
		}
	}
	w->next = fl->waiters;
	fl->waiters = w;
}

void
flight_cancel(struct flight_wait *w)
{
	struct flight *fl = w->fl;
	struct flight_wait **pp;

	if (fl == NULL)
		return;
	timer_cancel(fl->loop, &w->fail);
	if (w->own != NULL) {
		check_run_free(w->own);
		w->own = NULL;
	}
	for (pp = &fl->waiters; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == w) {
			*pp = w->next;
			break;
		}
	}
	w->fl = NULL;
}
