#include <errno.h>
#include <netdb.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lookup.h"
#include "spawn.h"

/* The child's answer: records of a length and the bytes of a sockaddr, or
 * one record of length 0 and the resolver's reason. */
#define ANSWER_MAX                                                             \
	(LOOKUP_MAX_ADDRS *                                                    \
		 (sizeof(uint32_t) + sizeof(struct sockaddr_storage)) +        \
	 256)

struct lookup {
	struct loop *loop;
	struct reaper *reaper;
	struct child child;
	struct reaper_child track;
	struct watch w;
	void (*done)(void *ctx, const struct sockaddr_any *addrs, size_t n,
		     const char *err);
	void *ctx;
	size_t len;
	char buf[ANSWER_MAX];
};

static void
put(int fd, const void *p, size_t n)
{
	const char *b = p;

	while (n > 0) {
		ssize_t w = write(fd, b, n);

		if (w <= 0) {
			if (w == -1 && errno == EINTR)
				continue;
			_exit(1);
		}
		b += w;
		n -= (size_t)w;
	}
}

struct query {
	const char *host, *port;
	int family;
};

/* In the child (spawn_call): a copy of a single-threaded process, so
 * getaddrinfo (files, DNS, nscd, whatever nsswitch says) is safe here. */
static void
resolve(void *arg, int fd)
{
	const struct query *q = arg;
	struct addrinfo hints, *res, *ai;
	uint32_t len;
	int rc, n = 0;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = q->family;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	rc = getaddrinfo(q->host, q->port, &hints, &res);
	if (rc != 0) {
		const char *why =
			rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc);

		len = 0;
		put(fd, &len, sizeof(len));
		put(fd, why, strlen(why));
		return;
	}
	for (ai = res; ai != NULL && n < LOOKUP_MAX_ADDRS; ai = ai->ai_next) {
		if (ai->ai_addrlen == 0 ||
		    ai->ai_addrlen > sizeof(struct sockaddr_storage))
			continue;
		len = (uint32_t)ai->ai_addrlen;
		put(fd, &len, sizeof(len));
		put(fd, ai->ai_addr, ai->ai_addrlen);
		n++;
	}
}

/* The child is done or killed: reaped now if it has exited, else later. */
static void
release(struct lookup *l)
{
	int status;

	/* Deleted before the close: a forked child may hold a copy of the
	 * pipe for a moment, which would keep it in the epoll set. */
	loop_release(l->loop, &l->w);
	close(l->w.fd);
	if (!spawn_reap(&l->child, &status))
		reaper_adopt(l->reaper, l->child.pid);
	reaper_untrack(l->reaper, &l->track);
}

/* Parses the answer and calls done(); frees l. */
static void
answer(struct lookup *l)
{
	struct sockaddr_any addrs[LOOKUP_MAX_ADDRS];
	char why[257];
	size_t off = 0, n = 0, i;
	uint32_t len;
	void (*done)(void *, const struct sockaddr_any *, size_t,
		     const char *) = l->done;
	void *ctx = l->ctx;
	const char *err = NULL;

	while (off + sizeof(len) <= l->len) {
		memcpy(&len, l->buf + off, sizeof(len));
		off += sizeof(len);
		if (len == 0) {
			size_t wl = l->len - off < 256 ? l->len - off : 256;

			memcpy(why, l->buf + off, wl);
			why[wl] = '\0';
			err = why;
			break;
		}
		if (len > sizeof(addrs[0].ss) || off + len > l->len ||
		    n == LOOKUP_MAX_ADDRS)
			break;
		memset(&addrs[n], 0, sizeof(addrs[n]));
		memcpy(&addrs[n].ss, l->buf + off, len);
		addrs[n].len = (socklen_t)len;
		off += len;
		/* The resolver repeats itself (one per socket type, ...). */
		for (i = 0; i < n; i++)
			if (addrs[i].len == addrs[n].len &&
			    memcmp(&addrs[i].ss, &addrs[n].ss, len) == 0)
				break;
		if (i == n)
			n++;
	}
	if (err == NULL && n == 0)
		err = "no address";
	free(l);
	done(ctx, addrs, err == NULL ? n : 0, err);
}

static void
on_readable(struct watch *w, unsigned events)
{
	struct lookup *l = w->ctx;
	ssize_t n;

	(void)events;
	for (;;) {
		n = read(w->fd, l->buf + l->len, sizeof(l->buf) - l->len);
		if (n > 0) {
			l->len += (size_t)n;
			if (l->len < sizeof(l->buf))
				continue;
		} else if (n == -1 && (errno == EAGAIN || errno == EINTR)) {
			return;
		}
		break; /* end of the answer, or more than any answer holds */
	}
	release(l);
	answer(l);
}

struct lookup *
lookup_start(struct loop *loop, struct reaper *reaper, const char *host,
	     const char *port, int family,
	     void (*done)(void *ctx, const struct sockaddr_any *addrs, size_t n,
			  const char *err),
	     void *ctx)
{
	struct lookup *l = malloc(sizeof(*l));
	struct query q = {host, port, family};
	int e;

	if (l == NULL)
		return NULL;
	loop_forking(loop);
	e = spawn_call(resolve, &q, &l->child);
	if (e != 0) {
		free(l);
		errno = e;
		return NULL;
	}
	l->loop = loop;
	l->reaper = reaper;
	reaper_track(reaper, &l->track, l->child.pid);
	l->done = done;
	l->ctx = ctx;
	l->len = 0;
	l->w.fd = l->child.outfd;
	l->w.fn = on_readable;
	l->w.ctx = l;
	if (loop_add(loop, &l->w, LOOP_IN) == -1) {
		e = errno;
		release(l);
		free(l);
		errno = e;
		return NULL;
	}
	return l;
}

void
lookup_cancel(struct lookup *l)
{
	if (l == NULL)
		return;
	release(l);
	free(l);
}
