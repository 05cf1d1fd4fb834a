/* Unit tests of reqbuf: a head fits the connection's own small buffer, a
 * longer one moves to the heap with its bytes, and what is used up leaves
 * the front. */
#include <stdlib.h>
#include <string.h>

#include "../../src/reqbuf.h"
#include "tap.h"

/* Appends s as a read would: into the room reqbuf_room() gives. */
static int
put(struct reqbuf *b, const char *s, size_t n)
{
	while (n > 0) {
		long room = reqbuf_room(b);
		size_t k;

		if (room <= 0)
			return -1;
		k = n < (size_t)room ? n : (size_t)room;
		memcpy(b->buf + b->len, s, k);
		b->len += k;
		s += k;
		n -= k;
	}
	return 0;
}

static void
test_grow(void)
{
	struct reqbuf b = {0};
	char *head = malloc(HTTP_HEAD_MAX);
	size_t i;

	if (head == NULL)
		abort();
	for (i = 0; i < HTTP_HEAD_MAX; i++)
		head[i] = (char)('a' + i % 26);
	tap_ok(reqbuf_room(&b) == REQBUF_SMALL && b.buf == b.small,
	       "reqbuf: the first room is the small buffer's");
	tap_ok(put(&b, head, REQBUF_SMALL) == 0 && b.buf == b.small,
	       "reqbuf: a head of %d bytes stays in it", REQBUF_SMALL);
	tap_ok(reqbuf_room(&b) == HTTP_HEAD_MAX - REQBUF_SMALL &&
		       b.buf != b.small && b.len == REQBUF_SMALL &&
		       memcmp(b.buf, head, REQBUF_SMALL) == 0,
	       "reqbuf: one byte more moves it to the heap, bytes kept");
	tap_ok(put(&b, head + REQBUF_SMALL, HTTP_HEAD_MAX - REQBUF_SMALL) ==
			       0 &&
		       reqbuf_room(&b) == 0 &&
		       memcmp(b.buf, head, HTTP_HEAD_MAX) == 0,
	       "reqbuf: HTTP_HEAD_MAX bytes fill it, no room beyond");
	reqbuf_consume(&b, 100);
	tap_ok(b.len == HTTP_HEAD_MAX - 100 &&
		       memcmp(b.buf, head + 100, b.len) == 0,
	       "reqbuf: consume drops the front");
	reqbuf_trim(&b);
	tap_ok(b.buf != NULL && b.buf != b.small,
	       "reqbuf: trim keeps a buffer that holds bytes");
	reqbuf_consume(&b, b.len);
	reqbuf_trim(&b);
	tap_ok(b.buf == NULL && b.len == 0,
	       "reqbuf: trim gives an empty heap buffer back");
	tap_ok(reqbuf_room(&b) == REQBUF_SMALL && b.buf == b.small,
	       "reqbuf: after it, the small buffer again");
	reqbuf_trim(&b);
	tap_ok(b.buf == b.small, "reqbuf: trim leaves the small buffer be");
	reqbuf_free(&b);
	free(head);
}

static void
test_scratch(void)
{
	struct reqbuf b = {0};
	size_t cap = 0;
	char *p = reqbuf_scratch(&b, 0, &cap);

	tap_ok(p == b.small && cap == REQBUF_SMALL,
	       "reqbuf_scratch: the small buffer for a first drain read");
	p = reqbuf_scratch(&b, 1, &cap);
	tap_ok(p != b.small && p == b.buf && cap == HTTP_HEAD_MAX,
	       "reqbuf_scratch: the heap's full size for the rest");
	reqbuf_free(&b);
	tap_ok(b.buf == NULL, "reqbuf_free: nothing held");
}

/* A Content-Length body split by the buffer's edge, then the next head. */
static void
test_body(void)
{
	static const char req[] =
		"POST / HTTP/1.1\r\nContent-Length: 600\r\n\r\n";
	struct reqbuf b = {0};
	struct http_request r;
	char body[600], next[] = "GET / HTTP/1.1\r\n\r\n";

	memset(body, 'x', sizeof(body));
	put(&b, req, sizeof(req) - 1);
	put(&b, body, 300);
	tap_ok(http_parse(b.buf, b.len, &r) == HTTP_PARSE_DONE &&
		       r.status == HTTP_200 && r.content_length == 600,
	       "reqbuf: a POST head with half its body");
	reqbuf_start_body(&b, &r);
	tap_ok(b.in_body && b.len == 0 && b.left == 300,
	       "reqbuf: the head and the body so far leave the buffer");
	put(&b, body, 300);
	put(&b, next, sizeof(next) - 1);
	tap_ok(reqbuf_eat_body(&b) && b.len == sizeof(next) - 1 &&
		       memcmp(b.buf, next, b.len) == 0,
	       "reqbuf: the rest of the body is dropped, the next head kept");
	reqbuf_free(&b);
}

int
main(void)
{
	test_grow();
	test_scratch();
	test_body();
	return tap_end();
}
