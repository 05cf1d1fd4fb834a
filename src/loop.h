/* loop: descriptors and deadlines, dispatched from one epoll set; every mode
 * (one-shot and server) drives its connections and checks through it. */
#ifndef LOOP_H
#define LOOP_H

#include <stdint.h>

#define LOOP_IN 0x001u  /* EPOLLIN */
#define LOOP_OUT 0x004u /* EPOLLOUT */
#define LOOP_ERR 0x008u /* EPOLLERR: reported, never asked for */

struct watch {
	int fd;
	void (*fn)(struct watch *w, unsigned events);
	void *ctx;
	/* A regular file: epoll refuses it, and reads never block. */
	int always_ready;
	struct watch *next_ready;
};

struct timer {
	int64_t at; /* CLOCK_MONOTONIC milliseconds */
	void (*fn)(struct timer *t);
	void *ctx;
	int armed;
	/* private: a node of the loop's pairing heap.  prev is the parent
	 * for a first child, else the left sibling. */
	uint64_t seq; /* equal deadlines fire in the order they were armed */
	struct timer *child, *sibling, *prev;
};

struct loop {
	int epfd;
	/* A pairing heap: arming and cancelling stay cheap with thousands
	 * of connections' deadlines, whatever order they come in. */
	struct timer *timers;
	uint64_t timer_seq;
	struct watch *ready; /* always-ready watches */
	/* The batch being dispatched, so loop_del can void pending events of
	 * a watch that an earlier callback of the same batch removed. */
	void *batch;
	int nbatch;
	int forked; /* a child of ours may hold copies of our descriptors */
};

int64_t loop_now(void);
int64_t loop_now_ns(void);
int loop_init(struct loop *loop);
void loop_close(struct loop *loop);
/* Returns 0 or -1 with errno. */
int loop_add(struct loop *loop, struct watch *w, unsigned events);
int loop_mod(struct loop *loop, struct watch *w, unsigned events);
void loop_del(struct loop *loop, struct watch *w);
/* Moves w from the events it is watched for (*now, 0: not in the set) to
 * want, with whichever of add, mod or del that takes; -1 (and *now 0) when
 * the set would not take it. */
int loop_want(struct loop *loop, struct watch *w, unsigned *now, unsigned want);
/* Before closing a watched descriptor.  Once this process has forked, a
 * child may hold a copy, and close() would leave it in the epoll set: it
 * is taken out first.  Until then close() takes it out by itself, and only
 * the events already fetched are voided (no system call). */
void loop_release(struct loop *loop, struct watch *w);
/* Before every fork(): from then on loop_release() deletes. */
void loop_forking(struct loop *loop);
void timer_arm(struct loop *loop, struct timer *t, int64_t at);
void timer_cancel(struct loop *loop, struct timer *t);
/* SIGTERM, SIGINT and SIGHUP arrive as reads of w->fd (a signalfd): they
 * are blocked in this process (scripts get an empty mask back).  w->fn and
 * w->ctx set by the caller; 0 or -1 with errno. */
int loop_add_signals(struct loop *loop, struct watch *w);
/* The number of a signal read from such a watch, or 0. */
int loop_read_signal(struct watch *w);
/* Waits for one batch of events or the next deadline and dispatches them.
 * Returns -1 with errno only when epoll itself fails (EINTR is not). */
int loop_run_once(struct loop *loop);

#endif
