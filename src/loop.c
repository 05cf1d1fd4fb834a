#include <errno.h>
#include <stddef.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "loop.h"

#define BATCH 64

int64_t
loop_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t
loop_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int
loop_init(struct loop *loop)
{
	loop->timers = NULL;
	loop->timer_seq = 0;
	loop->ready = NULL;
	loop->batch = NULL;
	loop->nbatch = 0;
	loop->forked = 0;
	loop->epfd = epoll_create1(EPOLL_CLOEXEC);
	return loop->epfd == -1 ? -1 : 0;
}

void
loop_close(struct loop *loop)
{
	if (loop->epfd != -1)
		close(loop->epfd);
	loop->epfd = -1;
}

static int
ctl(struct loop *loop, int op, struct watch *w, unsigned events)
{
	struct epoll_event ev;

	ev.events = events;
	ev.data.ptr = w;
	return epoll_ctl(loop->epfd, op, w->fd, &ev);
}

int
loop_add(struct loop *loop, struct watch *w, unsigned events)
{
	w->always_ready = 0;
	w->next_ready = NULL;
	if (ctl(loop, EPOLL_CTL_ADD, w, events) == 0)
		return 0;
	if (errno != EPERM)
		return -1;
	/* inetd mode with a file on stdin: never blocks, always ready. */
	w->always_ready = 1;
	w->next_ready = loop->ready;
	loop->ready = w;
	return 0;
}

int
loop_mod(struct loop *loop, struct watch *w, unsigned events)
{
	if (w->always_ready)
		return 0;
	return ctl(loop, EPOLL_CTL_MOD, w, events);
}

/* Voids the pending events of w in the batch being dispatched. */
static void
loop_forget(struct loop *loop, struct watch *w)
{
	struct epoll_event *batch = loop->batch;
	int i;

	for (i = 0; i < loop->nbatch; i++)
		if (batch[i].data.ptr == w)
			batch[i].data.ptr = NULL;
}

void
loop_del(struct loop *loop, struct watch *w)
{
	if (w->always_ready) {
		struct watch **pp;

		for (pp = &loop->ready; *pp != NULL; pp = &(*pp)->next_ready) {
			if (*pp == w) {
				*pp = w->next_ready;
				break;
			}
		}
		w->always_ready = 0;
	} else {
		ctl(loop, EPOLL_CTL_DEL, w, 0);
	}
	loop_forget(loop, w);
}

int
loop_want(struct loop *loop, struct watch *w, unsigned *now, unsigned want)
{
	int rc = 0;

	if (want == *now)
		return 0;
	if (want == 0)
		loop_del(loop, w);
	else if (*now == 0)
		rc = loop_add(loop, w, want);
	else
		loop_mod(loop, w, want);
	*now = rc == -1 ? 0 : want;
	return rc;
}

static int
earlier(const struct timer *a, const struct timer *b)
{
	return a->at < b->at || (a->at == b->at && a->seq < b->seq);
}

/* Two detached heaps into one; returns its root. */
static struct timer *
meld(struct timer *a, struct timer *b)
{
	struct timer *t;

	if (a == NULL)
		return b;
	if (b == NULL)
		return a;
	if (earlier(b, a)) {
		t = a;
		a = b;
		b = t;
	}
	b->sibling = a->child;
	if (a->child != NULL)
		a->child->prev = b;
	b->prev = a;
	a->child = b;
	return a;
}

/* The children of a removed node, from first, into one heap: melded in
 * pairs left to right, then the pairs right to left.  Iterative, so a
 * root with thousands of children costs no stack. */
static struct timer *
merge_pairs(struct timer *first)
{
	struct timer *pairs = NULL, *heap = NULL;

	while (first != NULL) {
		struct timer *a = first, *b = a->sibling, *m;

		first = b != NULL ? b->sibling : NULL;
		a->sibling = a->prev = NULL;
		if (b != NULL)
			b->sibling = b->prev = NULL;
		m = meld(a, b);
		m->sibling = pairs;
		pairs = m;
	}
	while (pairs != NULL) {
		struct timer *next = pairs->sibling;

		pairs->sibling = NULL;
		heap = meld(pairs, heap);
		pairs = next;
	}
	return heap;
}

void
loop_release(struct loop *loop, struct watch *w)
{
	if (loop->forked || w->always_ready)
		loop_del(loop, w);
	else
		loop_forget(loop, w);
}

void
loop_forking(struct loop *loop)
{
	loop->forked = 1;
}

void
timer_arm(struct loop *loop, struct timer *t, int64_t at)
{
	if (t->armed)
		timer_cancel(loop, t);
	t->at = at;
	t->seq = loop->timer_seq++;
	t->child = t->sibling = t->prev = NULL;
	loop->timers = meld(loop->timers, t);
	t->armed = 1;
}

void
timer_cancel(struct loop *loop, struct timer *t)
{
	struct timer *rest;

	if (!t->armed)
		return;
	rest = merge_pairs(t->child);
	if (t == loop->timers) {
		loop->timers = rest;
	} else {
		if (t->prev->child == t)
			t->prev->child = t->sibling;
		else
			t->prev->sibling = t->sibling;
		if (t->sibling != NULL)
			t->sibling->prev = t->prev;
		loop->timers = meld(loop->timers, rest);
	}
	if (loop->timers != NULL)
		loop->timers->prev = loop->timers->sibling = NULL;
	t->armed = 0;
	t->child = t->sibling = t->prev = NULL;
}

static void
fire_timers(struct loop *loop)
{
	int64_t now = loop_now();

	while (loop->timers != NULL && loop->timers->at <= now) {
		struct timer *t = loop->timers;

		timer_cancel(loop, t);
		t->fn(t);
	}
}

int
loop_run_once(struct loop *loop)
{
	struct epoll_event batch[BATCH];
	int timeout = -1;
	int i, n;

	if (loop->ready != NULL) {
		timeout = 0;
	} else if (loop->timers != NULL) {
		int64_t left = loop->timers->at - loop_now();

		timeout = left < 0 ? 0 : left > 60000 ? 60000 : (int)left;
	}
	n = epoll_wait(loop->epfd, batch, BATCH, timeout);
	/* A stop (SIGSTOP, a freezer) ends the wait with EINTR however long
	 * it lasted: what became ready meanwhile is fetched before the
	 * deadlines that passed fire, so an end that came in time counts. */
	if (n == -1 && errno == EINTR)
		n = epoll_wait(loop->epfd, batch, BATCH, 0);
	if (n == -1) {
		if (errno != EINTR)
			return -1;
		n = 0;
	}
	loop->batch = batch;
	loop->nbatch = n;
	for (i = 0; i < n; i++) {
		struct watch *w = batch[i].data.ptr;

		if (w != NULL)
			w->fn(w, batch[i].events);
	}
	loop->batch = NULL;
	loop->nbatch = 0;
	if (loop->ready != NULL) {
		struct watch *w = loop->ready;

		/* One per turn: its callback may remove it or others. */
		w->fn(w, LOOP_IN | LOOP_OUT);
	}
	fire_timers(loop);
	return 0;
}

int
loop_add_signals(struct loop *loop, struct watch *w)
{
	sigset_t mask, old;
	int e;

	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigprocmask(SIG_BLOCK, &mask, &old);
	w->fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	if (w->fd != -1 && loop_add(loop, w, LOOP_IN) == 0)
		return 0;
	/* Blocked with nobody to read them, they would never stop us: the
	 * defaults again. */
	e = errno;
	if (w->fd != -1)
		close(w->fd);
	w->fd = -1;
	sigprocmask(SIG_SETMASK, &old, NULL);
	errno = e;
	return -1;
}

int
loop_read_signal(struct watch *w)
{
	struct signalfd_siginfo si;

	if (read(w->fd, &si, sizeof(si)) != (ssize_t)sizeof(si))
		return 0;
	return (int)si.ssi_signo;
}
