#include <errno.h>
#include <string.h>

#include "log.h"
#include "runtime.h"

int
runtime_init(struct runtime *rt, const struct options *o, unsigned long nofile,
	     enum runtime_kind kind)
{
	rt->kind = kind;
	rt->o = o;
	if (loop_init(&rt->loop) == -1) {
		log_msg(LOGLVL_ERROR, "epoll: %s", strerror(errno));
		return -1;
	}
	reaper_init(&rt->reaper, &rt->loop);
	rt->env.loop = &rt->loop;
	rt->env.reaper = &rt->reaper;
	rt->env.nofile = nofile;
	if (kind == RUNTIME_ONCE)
		return 0;
	flight_init(&rt->fl, &rt->env, o);
	/* One process per request: what the last verdict was is found in a
	 * file, and told only when this one differs. */
	change_open(&rt->change, o, kind == RUNTIME_ONE_SHOT);
	rt->fl.change = &rt->change;
	if (kind == RUNTIME_ONE_SHOT)
		maint_init(&rt->fl.maint, 1);
	return 0;
}

void
runtime_close(struct runtime *rt)
{
	if (rt->kind != RUNTIME_ONCE) {
		flight_close(&rt->fl);
		change_close(&rt->change);
	}
	reaper_close(&rt->reaper);
	loop_close(&rt->loop);
}
