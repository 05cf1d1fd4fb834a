/* lookup: one host name resolved by the system's resolver in a child process,
 * so that a resolver that hangs costs its check the deadline and nobody else
 * anything.  Nothing is cached here. */
#ifndef LOOKUP_H
#define LOOKUP_H

#include <stddef.h>

#include "loop.h"
#include "options.h"
#include "reap.h"

/* Addresses kept of one name: enough for any failover pair or round robin,
 * and a bound on the sockets one check can open. */
#define LOOKUP_MAX_ADDRS 16

struct lookup;

/* done() is called once from the loop: addrs and n on success, else err
 * ("Name or service not known", ...); both valid during the call only.
 * NULL with errno when no child could be made. */
struct lookup *lookup_start(struct loop *loop, struct reaper *reaper,
			    const char *host, const char *port, int family,
			    void (*done)(void *ctx,
					 const struct sockaddr_any *addrs,
					 size_t n, const char *err),
			    void *ctx);
/* Stops a lookup whose done() has not been called; the child is killed. */
void lookup_cancel(struct lookup *l);

#endif
