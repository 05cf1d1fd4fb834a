#include <stdlib.h>
#include <sys/resource.h>
#include <unistd.h>

#include "admit.h"
#include "agentconn.h"
#include "log.h"
#include "peer.h"
#include "serve.h"

/* Connections held at once, however many descriptors there are. */
#define TABLE_MAX 16384
/* Descriptors of our own beside connections, runs and listeners: epoll,
 * signalfd, state files, inotify, the log. */
#define FDS_RESERVED 32
/* How long a connection without a complete head is safe from being closed
 * to make room: a client that connects and sends at once (any load
 * balancer) is never closed for an idle one; an idle one is, after this. */
#define EVICT_GRACE_MS 200

enum { ALL, HEADLESS }; /* the lists a slot is on */

struct admit_slot {
	struct admit *a;
	enum admit_kind kind;
	union {
		struct conn *http;
		struct agent_conn *agent;
	} conn;
	int fd;
	int headless;  /* on the headless list: no complete head yet */
	int64_t since; /* when it began to wait for a head */
	struct admit_link {
		struct admit_slot *prev, *next;
	} on[2]; /* [ALL]: every connection; [HEADLESS]: oldest first */
};

static void
list_remove(struct admit_list *l, struct admit_slot *sl, int which)
{
	struct admit_link *k = &sl->on[which];

	if (k->prev != NULL)
		k->prev->on[which].next = k->next;
	else
		l->first = k->next;
	if (k->next != NULL)
		k->next->on[which].prev = k->prev;
	else
		l->last = k->prev;
	k->prev = k->next = NULL;
}

static void
list_append(struct admit_list *l, struct admit_slot *sl, int which)
{
	sl->on[which].next = NULL;
	sl->on[which].prev = l->last;
	if (l->last != NULL)
		l->last->on[which].next = sl;
	else
		l->first = sl;
	l->last = sl;
}

static void
headless_remove(struct admit *a, struct admit_slot *sl)
{
	if (sl->headless)
		list_remove(&a->headless, sl, HEADLESS);
	sl->headless = 0;
}

/* At the tail the list stays oldest first, since being when the wait
 * began: a connection waiting for its next request would join here too. */
static void
headless_append(struct admit *a, struct admit_slot *sl, int64_t now)
{
	sl->headless = 1;
	sl->since = now;
	list_append(&a->headless, sl, HEADLESS);
}

/* Stops serving sl and closes it, with a reset for one closed to make room
 * (a flood of them leaves no TIME_WAIT behind). */
static void
release(struct admit *a, struct admit_slot *sl, int reset)
{
	if (sl->kind == ADMIT_AGENT)
		agentconn_free(sl->conn.agent);
	else
		serve_free(sl->conn.http);
	headless_remove(a, sl);
	list_remove(&a->all, sl, ALL);
	if (reset)
		peer_close_reset(sl->fd);
	else
		close(sl->fd);
	free(sl);
	a->held--;
}

static void
conn_head(void *ctx, struct conn *c)
{
	struct admit_slot *sl = ctx;

	(void)c;
	headless_remove(sl->a, sl);
}

static void
conn_done(void *ctx, struct conn *c, enum serve_outcome outcome)
{
	struct admit_slot *sl = ctx;

	(void)c;
	(void)outcome;
	release(sl->a, sl, 0);
}

/* Keep-alive: waiting for the next request is waiting for a head. */
static void
conn_idle(void *ctx, struct conn *c)
{
	struct admit_slot *sl = ctx;

	(void)c;
	if (!sl->headless)
		headless_append(sl->a, sl, loop_now());
}

static const struct serve_hooks hooks = {conn_head, conn_done};

/* An agent connection that sent a whole line (HAProxy's agent-send) is one
 * that sent its head; one that sent nothing may be a prober without
 * agent-send or an idle attacker alike, and stays first to make room,
 * which its run (begun at once) does not change. */
static void
agent_spoke(void *ctx)
{
	conn_head(ctx, NULL);
}

/* Its line is out: from now it only waits for the client to close, as a
 * kept-alive connection waits for its next request, with a grace of its
 * own to read the line. */
static void
agent_answered(void *ctx)
{
	struct admit_slot *sl = ctx;

	headless_remove(sl->a, sl);
	headless_append(sl->a, sl, loop_now());
}

static void
agent_done(void *ctx, enum serve_outcome outcome)
{
	conn_done(ctx, NULL, outcome);
}

static const struct agent_hooks agent_hooks = {agent_spoke, agent_answered,
					       agent_done};

void
admit_init(struct admit *a, struct loop *loop, struct flight *fl,
	   const struct options *o)
{
	a->loop = loop;
	a->fl = fl;
	a->o = o;
	a->held = a->cap = 0;
	a->all.first = a->all.last = NULL;
	a->headless.first = a->headless.last = NULL;
}

/* Runs get up to half of the descriptor limit (raised to the hard limit at
 * start), at most --max-connections of them; connections the rest, up to
 * TABLE_MAX.  Too few descriptors then make requests wait for a run, never
 * fail one. */
void
admit_budget(struct admit *a, int listeners)
{
	const struct options *o = a->o;
	size_t cost = check_run_fds(o), avail = 0, runs, table;
	size_t own = FDS_RESERVED + (size_t)listeners;
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur > (rlim_t)own)
		avail = rl.rlim_cur > 1000000 ? 1000000
					      : (size_t)rl.rlim_cur - own;
	runs = avail / 2 / cost;
	if (runs == 0 && avail > cost)
		runs = 1;
	if (runs > (size_t)o->max_connections)
		runs = (size_t)o->max_connections;
	table = avail - runs * cost;
	if (table > TABLE_MAX)
		table = TABLE_MAX;
	if (table < 1)
		table = 1;
	a->cap = (int)table;
	flight_set_max_runs(a->fl, (int)runs);
	if (runs == 0)
		log_msg(LOGLVL_ERROR,
			"the descriptor limit (%llu) cannot hold one run of "
			"the checks (%zu descriptors): every request gets 503",
			(unsigned long long)rl.rlim_cur, cost);
	else if (runs < (size_t)o->max_connections)
		log_msg(LOGLVL_WARN,
			"the descriptor limit (%llu) allows %zu check runs at "
			"once, not --max-connections %d; more requests wait",
			(unsigned long long)rl.rlim_cur, runs,
			o->max_connections);
	log_msg(LOGLVL_DEBUG, "up to %d connections, %zu check runs at once",
		a->cap, runs);
}

/* Its head may be waiting unread (a burst of clients is accepted before
 * any is read): it is read first, and only one still without a head is
 * closed. */
int
admit_room(struct admit *a, int64_t *retry)
{
	int64_t now = loop_now();

	/* A slot freed here, by a hook or below, has left the headless list
	 * first: its first never points to freed memory (the analyzer
	 * cannot follow that through the hooks). */
	while (a->held >= a->cap && a->headless.first != NULL &&
	       /* NOLINTNEXTLINE(clang-analyzer-unix.Malloc) */
	       now - a->headless.first->since >= EVICT_GRACE_MS) {
		struct admit_slot *sl = a->headless.first;

		if (sl->kind == ADMIT_AGENT)
			agentconn_read_now(sl->conn.agent);
		else
			serve_read_now(sl->conn.http);
		if (a->headless.first != sl)
			continue; /* a head came, or the connection ended */
		log_msg(LOGLVL_DEBUG,
			"connection %s closed: %d connections held, the "
			"oldest without a request makes room",
			sl->kind == ADMIT_AGENT ? agentconn_peer(sl->conn.agent)
						: serve_peer(sl->conn.http),
			a->held);
		release(a, sl, 1);
	}
	*retry = -1;
	if (a->held < a->cap)
		return 1;
	if (a->headless.first != NULL)
		*retry = a->headless.first->since + EVICT_GRACE_MS;
	return 0;
}

/* The exchange of kind on sl's fd: 0, or -1 when it cannot start. */
static int
start(struct admit *a, struct admit_slot *sl, enum admit_kind kind,
      const struct sockaddr_storage *peer)
{
	sl->kind = kind;
	if (kind == ADMIT_AGENT) {
		sl->conn.agent =
			agentconn_start(a->loop, a->fl, a->o, sl->fd, sl->fd,
					peer, 1, &agent_hooks, sl);
		return sl->conn.agent == NULL ? -1 : 0;
	}
	sl->conn.http = serve_start(a->loop, a->fl, a->o, sl->fd, sl->fd, peer,
				    &hooks, sl);
	if (sl->conn.http == NULL)
		return -1;
	serve_watch_gone(sl->conn.http);
	serve_keep_alive(sl->conn.http, conn_idle);
	return 0;
}

int
admit_take(struct admit *a, int fd, const struct sockaddr_storage *peer,
	   enum admit_kind kind)
{
	struct admit_slot *sl = calloc(1, sizeof(*sl));

	if (sl == NULL) {
		close(fd);
		return -1;
	}
	sl->a = a;
	sl->fd = fd;
	if (start(a, sl, kind, peer) == -1) {
		close(fd);
		free(sl);
		return -1;
	}
	list_append(&a->all, sl, ALL);
	headless_append(a, sl, loop_now());
	a->held++;
	/* An agent connection's first step is its run, not a read. */
	if (kind == ADMIT_HTTP)
		serve_read_first(sl->conn.http);
	return 0;
}

int
admit_has_room(const struct admit *a)
{
	return a->held < a->cap;
}

int
admit_held(const struct admit *a)
{
	return a->held;
}

/* Requests in flight finish within their own deadlines; connections that
 * have sent nothing would only wait for their timeout.  What has arrived
 * is read first, so that a probe accepted a moment ago gets its answer.  A
 * read ends at most its own connection: prev stays valid. */
void
admit_close_idle(struct admit *a)
{
	struct admit_slot *sl, *prev;

	for (sl = a->all.last; sl != NULL; sl = prev) {
		prev = sl->on[ALL].prev;
		if (sl->kind == ADMIT_HTTP && serve_is_idle(sl->conn.http))
			serve_read_now(sl->conn.http);
	}
	/* An agent connection's run began when it was accepted: it is a
	 * request in progress, and gets its line. */
	for (sl = a->all.last; sl != NULL; sl = prev) {
		prev = sl->on[ALL].prev;
		if (sl->kind == ADMIT_AGENT)
			continue;
		if (serve_is_idle(sl->conn.http))
			release(a, sl, 0);
		else /* its answer is the last */
			serve_keep_alive(sl->conn.http, NULL);
	}
}

void
admit_close_all(struct admit *a)
{
	/* The tail's next is NULL: release moves a->all.last on. */
	while (a->all.last != NULL)
		/* NOLINTNEXTLINE(clang-analyzer-unix.Malloc) */
		release(a, a->all.last, 0);
}
