/* kind_connect: the tcp and unix checks, passed once one address accepts a
 * connect, and the connector that the http check builds on. */
#ifndef KIND_CONNECT_H
#define KIND_CONNECT_H

#include <stddef.h>

#include "loop.h"
#include "lookup.h"
#include "probe.h"

/* A connect to every address of the check at once (looked up first when it
 * names a host), within the check's deadline. */
struct connector {
	struct probe p;
	struct lookup *lookup; /* given a name: its lookup, while it lasts */
	struct watch *socks;   /* a connect per address */
	size_t nsocks;
	size_t inflight;
	int err;
	/* A unix socket: the next connect while the accept queue is full */
	struct timer retry;
	int backoff_ms;
	/* A unix socket: a full accept queue is tried again, and the close
	 * is a FIN (no TIME_WAIT to spare ports from) */
	int local;
	/* One address accepted: what the kind does next, on w. */
	void (*connected)(struct connector *c, struct watch *w);
};

/* tcp and unix */
extern const struct probe_kind kind_connect;

/* Starts the connects; c->p as the run set it. */
void kind_connect_start(struct connector *c,
			void (*connected)(struct connector *c,
					  struct watch *w));
/* Closes every attempt but w and takes w out of the loop: the one left. */
void kind_connect_keep(struct connector *c, struct watch *w);
/* The probe_kind ops of a connector, for a kind built on one. */
void kind_connect_expire(struct probe *p);
void kind_connect_stop(struct probe *p);
size_t kind_connect_fds(const struct check_spec *spec);
/* What a socket's errno says about the service ("refused", ...). */
const char *kind_connect_reason(int err);

#endif
