/* reqbuf: the bytes a connection has read and not used up yet: a head,
 * the body to drop after it, the pipelined requests behind them. */
#ifndef REQBUF_H
#define REQBUF_H

#include <stddef.h>

#include "http.h"

/* Room for most heads without a trip to malloc (probes send 40 to 300
 * bytes); a longer one moves to HTTP_HEAD_MAX bytes of heap. */
#define REQBUF_SMALL 512

struct reqbuf {
	char *buf;   /* NULL (nothing read yet), small, or heap */
	size_t len;  /* bytes held */
	size_t cap;  /* of buf */
	int in_body; /* the request's body is not all read yet */
	int bad;     /* a chunked body that cannot be read to its end */
	int chunked;
	unsigned long long left; /* of a Content-Length body */
	struct http_chunked chunk;
	/* A thousand idle connections hold no heap buffers. */
	char small[REQBUF_SMALL];
};

/* Where the next bytes go (b->buf + b->len): returns the room there,
 * after moving a full small buffer to the heap; 0 when HTTP_HEAD_MAX bytes
 * are held, -1 when there is no memory. */
long reqbuf_room(struct reqbuf *b);
/* A place to read bytes that will be dropped: the buffer as it is, or with
 * big, moved to the heap first if memory allows (a drain of a megabyte
 * costs 128 reads, not 2048).  Its size in *cap. */
char *reqbuf_scratch(struct reqbuf *b, int big, size_t *cap);
/* Drops n bytes from the front: what is left belongs to the body or to
 * the requests after this one. */
void reqbuf_consume(struct reqbuf *b, size_t n);
/* A request that may be followed by another: its head (req's, at the
 * front) leaves the buffer, and its body does as it comes. */
void reqbuf_start_body(struct reqbuf *b, const struct http_request *req);
/* Drops what has come of the body; returns whether it has all been read
 * (or b->bad says it never will). */
int reqbuf_eat_body(struct reqbuf *b);
/* Gives the heap buffer back when it holds nothing. */
void reqbuf_trim(struct reqbuf *b);
void reqbuf_free(struct reqbuf *b);

#endif
