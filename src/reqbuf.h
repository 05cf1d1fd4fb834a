/* reqbuf: the bytes a connection has read and not used up yet: a head,
 * the body to drop after it, the pipelined requests behind them. */
#ifndef REQBUF_H
#define REQBUF_H

#include <stddef.h>

#include "http.h"

struct reqbuf {
	/* HTTP_HEAD_MAX bytes from the first one read: a thousand idle
	 * connections hold no buffers. */
	char *buf;
	size_t len;
	int in_body; /* the request's body is not all read yet */
	int bad;     /* a chunked body that cannot be read to its end */
	int chunked;
	unsigned long long left; /* of a Content-Length body */
	struct http_chunked chunk;
};

/* The buffer, if there is none yet; -1 when there is no memory. */
int reqbuf_alloc(struct reqbuf *b);
/* Drops n bytes from the front: what is left belongs to the body or to
 * the requests after this one. */
void reqbuf_consume(struct reqbuf *b, size_t n);
/* A request that may be followed by another: its head (req's, at the
 * front) leaves the buffer, and its body does as it comes. */
void reqbuf_start_body(struct reqbuf *b, const struct http_request *req);
/* Drops what has come of the body; returns whether it has all been read
 * (or b->bad says it never will). */
int reqbuf_eat_body(struct reqbuf *b);
/* Gives the buffer back when it holds nothing. */
void reqbuf_trim(struct reqbuf *b);
void reqbuf_free(struct reqbuf *b);

#endif
