/* http: a pure request-head parser and response formatter over buffers.
 * No descriptors, no clocks, no allocation: the fuzz target. */
#ifndef HTTP_H
#define HTTP_H

#include <stddef.h>
#include <time.h>

#define HTTP_HEAD_MAX 8192

enum http_status {
	HTTP_200,
	HTTP_400,
	HTTP_408,
	HTTP_431,
	HTTP_500,
	HTTP_503,
	HTTP_504,
	HTTP_505,
	HTTP_NSTATUS
};

/* The body an Accept header chose (the --details formats). */
enum http_media {
	HTTP_MEDIA_TEXT,       /* no Accept, or nothing of ours in it */
	HTTP_MEDIA_JSON,       /* application/json */
	HTTP_MEDIA_HEALTH_JSON /* application/health+json */
};

enum http_parse {
	HTTP_PARSE_MORE, /* valid so far, head not complete */
	HTTP_PARSE_DONE, /* req filled in; req->status says what to answer */
};

struct http_request {
	enum http_status status;     /* HTTP_200: a good request */
	int minor;                   /* answer with HTTP/1.<minor> */
	int head_only;               /* HEAD: no body in the answer */
	const char *method, *target; /* point into the buffer */
	size_t method_len, target_len;
	size_t head_len; /* bytes of the head, final empty line included */
	enum http_media media; /* the higher q wins; equal: health+json */
	int q_json, q_health;  /* best q, in thousandths; 0: none or q=0 */
	int has_body; /* Content-Length above 0, or Transfer-Encoding */
	/* RFC 9112 9.3: HTTP/1.1 without Connection: close, or HTTP/1.0
	 * with Connection: keep-alive, may send another request. */
	int keep_alive;
	int conn_close, conn_keep; /* the Connection header's tokens */
	int chunked;               /* Transfer-Encoding: chunked alone */
	int unframed;              /* a body whose end we cannot tell */
	int have_length;           /* a Content-Length header came */
	unsigned long long content_length;
};

/* A chunked body as it is read and dropped (RFC 9112 7.1). */
enum http_chunk_state {
	HTTP_CHUNK_SIZE,
	HTTP_CHUNK_SIZE_END, /* whitespace after the size: no more digits */
	HTTP_CHUNK_EXT,
	HTTP_CHUNK_DATA,
	HTTP_CHUNK_DATA_END,
	HTTP_CHUNK_TRAILER,
	HTTP_CHUNK_TRAILER_LINE,
	HTTP_CHUNK_DONE,
	HTTP_CHUNK_BAD
};

struct http_chunked {
	enum http_chunk_state state;
	unsigned long long left; /* of the chunk's data */
	int digits;              /* of its size so far */
	int line_start;          /* a trailer line has no byte yet */
};

struct http_response {
	enum http_status status;
	int minor;
	int head_only;
	const char *content_type;
	const char *body;
	size_t body_len;
	int retry_after; /* seconds; 0: no Retry-After header */
	int keep_alive;  /* Connection: keep-alive, not close */
	time_t date;
};

/* Parses buf[0..len); len never exceeds HTTP_HEAD_MAX.  A head that has not
 * ended within HTTP_HEAD_MAX bytes is DONE with status HTTP_431. */
enum http_parse http_parse(const char *buf, size_t len,
			   struct http_request *req);
/* A response head (our --http checks): HTTP_PARSE_MORE until it ends;
 * then *code is its status, or -1 when malformed or over HTTP_HEAD_MAX,
 * and *head_len its length. */
enum http_parse http_response_status(const char *buf, size_t len, int *code,
				     size_t *head_len);
/* Eats a chunked body from buf[0..len): returns the bytes that belong to
 * it; ch->state is HTTP_CHUNK_DONE after its last chunk and trailers,
 * HTTP_CHUNK_BAD when it is malformed.  Start from a zeroed ch. */
size_t http_chunked_eat(struct http_chunked *ch, const char *buf, size_t len);
int http_code(enum http_status status);
const char *http_reason(enum http_status status);
/* Writes the whole response (head, and body unless head_only) to out;
 * returns its length, or 0 when cap is too small. */
size_t http_format(char *out, size_t cap, const struct http_response *resp);

#endif
