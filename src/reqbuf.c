#include <stdlib.h>
#include <string.h>

#include "reqbuf.h"

static int
grow(struct reqbuf *b)
{
	char *heap = malloc(HTTP_HEAD_MAX);

	if (heap == NULL)
		return -1;
	memcpy(heap, b->buf, b->len);
	b->buf = heap;
	b->cap = HTTP_HEAD_MAX;
	return 0;
}

long
reqbuf_room(struct reqbuf *b)
{
	if (b->buf == NULL) {
		b->buf = b->small;
		b->cap = sizeof(b->small);
	}
	if (b->len == b->cap && b->cap < HTTP_HEAD_MAX && grow(b) == -1)
		return -1;
	return (long)(b->cap - b->len);
}

char *
reqbuf_scratch(struct reqbuf *b, int big, size_t *cap)
{
	if (reqbuf_room(b) != -1 && big && b->cap < HTTP_HEAD_MAX)
		grow(b);
	*cap = b->cap;
	return b->buf;
}

void
reqbuf_consume(struct reqbuf *b, size_t n)
{
	memmove(b->buf, b->buf + n, b->len - n);
	b->len -= n;
}

void
reqbuf_start_body(struct reqbuf *b, const struct http_request *req)
{
	reqbuf_consume(b, req->head_len);
	b->chunked = req->chunked;
	b->left = req->chunked ? 0 : req->content_length;
	b->in_body = req->chunked || b->left > 0;
	b->bad = 0;
	memset(&b->chunk, 0, sizeof(b->chunk));
	reqbuf_eat_body(b);
}

int
reqbuf_eat_body(struct reqbuf *b)
{
	if (!b->in_body)
		return 1;
	if (b->len == 0)
		return 0;
	if (b->chunked) {
		reqbuf_consume(b, http_chunked_eat(&b->chunk, b->buf, b->len));
		b->bad = b->chunk.state == HTTP_CHUNK_BAD;
		b->in_body = b->chunk.state != HTTP_CHUNK_DONE && !b->bad;
	} else {
		size_t k = b->len < b->left ? b->len : (size_t)b->left;

		reqbuf_consume(b, k);
		b->left -= k;
		b->in_body = b->left > 0;
	}
	return !b->in_body;
}

void
reqbuf_trim(struct reqbuf *b)
{
	if (b->len == 0 && b->buf != b->small)
		reqbuf_free(b);
}

void
reqbuf_free(struct reqbuf *b)
{
	if (b->buf != b->small)
		free(b->buf);
	b->buf = NULL;
	b->len = 0;
}
