/* admit: which connections the standalone server holds, in a table the
 * descriptor budget sizes; when it is full, the one that has waited longest
 * without a complete head is closed to make room. */
#ifndef ADMIT_H
#define ADMIT_H

#include <stdint.h>
#include <sys/socket.h>

#include "flight.h"
#include "loop.h"
#include "options.h"

struct admit_slot;

/* The exchange a listener's connections have. */
enum admit_kind { ADMIT_HTTP, ADMIT_AGENT };

struct admit_list {
	struct admit_slot *first, *last;
};

struct admit {
	struct loop *loop;
	struct flight *fl;
	const struct options *o;
	int held;                   /* connections in the table */
	int cap;                    /* at most this many */
	struct admit_list all;      /* every connection, oldest first */
	struct admit_list headless; /* those without a head, oldest first */
};

void admit_init(struct admit *a, struct loop *loop, struct flight *fl,
		const struct options *o);
/* Shares the descriptor limit between check runs (the flight's limit) and
 * the table, beside our own descriptors and those of the listeners. */
void admit_budget(struct admit *a, int listeners);
/* Whether a connection may be taken now; a full table first closes those
 * whose grace without a head is over.  When it stays full, *retry is when
 * to ask again (-1: once a connection ends). */
int admit_room(struct admit *a, int64_t *retry);
/* Serves fd, accepted from peer, with the exchange of kind, as a connection
 * of the table until it ends; -1 when it cannot (fd is closed). */
int admit_take(struct admit *a, int fd, const struct sockaddr_storage *peer,
	       enum admit_kind kind);
/* Whether the table has room without closing anybody: asked after each
 * turn of the loop, in which connections may have ended. */
int admit_has_room(const struct admit *a);
int admit_held(const struct admit *a);
/* Shutdown: what has arrived is read, then those that sent nothing close. */
void admit_close_idle(struct admit *a);
/* Closes every connection, wherever it is. */
void admit_close_all(struct admit *a);

#endif
