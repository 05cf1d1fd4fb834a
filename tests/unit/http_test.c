/* Unit tests of http: the parser's outcomes over golden requests and
 * response heads, the response formatter over golden answers. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/http.h"
#include "tap.h"

/* A name for a case: its escaped bytes, cut where a line would get long. */
static const char *
label(const char *what, const char *p, size_t n)
{
	static char name[128];
	char esc[80];

	tap_escape(esc, sizeof(esc), p, n);
	snprintf(name, sizeof(name), "%s %s", what, esc);
	return name;
}

/* The outcome as a golden file spells it: "more", or the status and the
 * version answered, then for a good request what the rest relies on. */
static size_t
outcome(char *out, size_t cap, enum http_parse r,
	const struct http_request *req)
{
	int n;

	if (r == HTTP_PARSE_MORE)
		return (size_t)snprintf(out, cap, "more");
	n = snprintf(out, cap, "%d 1.%d%s", http_code(req->status), req->minor,
		     req->head_only ? " head-only" : "");
	if (req->status == HTTP_200)
		n += snprintf(out + n, cap - (size_t)n,
			      " %.*s %.*s len=%zu%s%s", (int)req->method_len,
			      req->method, (int)req->target_len, req->target,
			      req->head_len, req->wants_json ? " json" : "",
			      req->has_body ? " body" : "");
	return (size_t)n;
}

static void
parse_case(const char *key, size_t keylen, const char *want, size_t wantlen,
	   void *ctx)
{
	struct http_request req;
	char got[256], *buf = tap_copy(key, keylen);
	enum http_parse r;

	(void)ctx;
	r = http_parse(buf, keylen, &req);
	tap_same(label("http_parse", key, keylen), got,
		 outcome(got, sizeof(got), r, &req), want, wantlen);
	free(buf);
}

static void
response_case(const char *key, size_t keylen, const char *want, size_t wantlen,
	      void *ctx)
{
	char got[64], *buf = tap_copy(key, keylen);
	int code = 0;
	size_t head_len = 0, n;

	(void)ctx;
	if (http_response_status(buf, keylen, &code, &head_len) ==
	    HTTP_PARSE_MORE)
		n = (size_t)snprintf(got, sizeof(got), "more");
	else if (code < 0)
		n = (size_t)snprintf(got, sizeof(got), "%d", code);
	else
		n = (size_t)snprintf(got, sizeof(got), "%d len=%zu", code,
				     head_len);
	tap_same(label("http_response_status", key, keylen), got, n, want,
		 wantlen);
	free(buf);
}

/* A head of exactly len bytes: the request line, one long header, the
 * empty line; ends with a complete head when complete, else cut short. */
static char *
long_head(size_t len, int complete)
{
	static const char start[] = "GET / HTTP/1.1\r\nX-Pad: ";
	char *buf = malloc(len);

	if (buf == NULL)
		abort();
	memcpy(buf, start, sizeof(start) - 1);
	memset(buf + sizeof(start) - 1, 'a', len - (sizeof(start) - 1));
	if (complete)
		memcpy(buf + len - 4, "\r\n\r\n", 4);
	return buf;
}

static void
test_limits(void)
{
	struct http_request req;
	enum http_parse r;
	char *buf;

	buf = long_head(HTTP_HEAD_MAX, 1);
	r = http_parse(buf, HTTP_HEAD_MAX, &req);
	tap_ok(r == HTTP_PARSE_DONE && req.status == HTTP_200 &&
		       req.head_len == HTTP_HEAD_MAX,
	       "http_parse: a head of exactly HTTP_HEAD_MAX bytes is good");
	free(buf);
	buf = long_head(HTTP_HEAD_MAX, 0);
	r = http_parse(buf, HTTP_HEAD_MAX - 1, &req);
	tap_ok(r == HTTP_PARSE_MORE,
	       "http_parse: an unended head below HTTP_HEAD_MAX wants more");
	r = http_parse(buf, HTTP_HEAD_MAX, &req);
	tap_ok(r == HTTP_PARSE_DONE && req.status == HTTP_431,
	       "http_parse: an unended head of HTTP_HEAD_MAX bytes is 431");
	free(buf);
	buf = malloc(HTTP_HEAD_MAX);
	if (buf == NULL)
		abort();
	memset(buf, '\n', HTTP_HEAD_MAX);
	r = http_parse(buf, HTTP_HEAD_MAX, &req);
	tap_ok(r == HTTP_PARSE_DONE && req.status == HTTP_431,
	       "http_parse: HTTP_HEAD_MAX empty lines are 431");
	free(buf);
}

static void
test_response_limit(void)
{
	char *buf = malloc(HTTP_HEAD_MAX);
	size_t head_len = 0;
	int code = 0;
	enum http_parse r;

	if (buf == NULL)
		abort();
	memcpy(buf, "HTTP/1.1 200 OK\r\n", 17);
	memset(buf + 17, 'x', HTTP_HEAD_MAX - 17);
	r = http_response_status(buf, HTTP_HEAD_MAX - 1, &code, &head_len);
	tap_ok(r == HTTP_PARSE_MORE,
	       "http_response_status: an unended head below the limit");
	r = http_response_status(buf, HTTP_HEAD_MAX, &code, &head_len);
	tap_ok(r == HTTP_PARSE_DONE && code == -1,
	       "http_response_status: an unended head at the limit is -1");
	free(buf);
}

/* Every status has its code and its reason, and the code is the name. */
static void
test_statuses(void)
{
	static const int want[HTTP_NSTATUS] = {200, 400, 408, 431,
					       500, 503, 504, 505};
	int i, good = 1;

	for (i = 0; i < HTTP_NSTATUS; i++)
		if (http_code((enum http_status)i) != want[i] ||
		    http_reason((enum http_status)i) == NULL ||
		    *http_reason((enum http_status)i) == '\0')
			good = 0;
	tap_ok(good, "http_code, http_reason: every status");
}

#define TEXT "text/plain; charset=utf-8"
/* 14 Nov 2023 22:13:20 UTC: a Tuesday, for the Date header. */
#define WHEN 1700000000

/* The answers serve.c gives, one a row. */
static const struct answer {
	const char *name;
	enum http_status status;
	int minor, head_only, retry_after;
	const char *type, *body;
	time_t date;
} answers[] = {
	{"ok-1.1", HTTP_200, 1, 0, 0, TEXT, "OK", WHEN},
	{"fail-1.0", HTTP_504, 0, 0, 0, TEXT,
	 "At least one health check failed", WHEN},
	{"head", HTTP_200, 1, 1, 0, TEXT, "OK", WHEN},
	{"maintenance", HTTP_503, 1, 0, 30, TEXT, "Maintenance", WHEN},
	{"json", HTTP_200, 1, 0, 0, "application/json",
	 "{\"status\":\"pass\",\"checks\":[]}\n", 0},
	{"431", HTTP_431, 1, 0, 0, TEXT, "431 Request Header Fields Too Large",
	 WHEN},
};

static void
format_case(const struct answer *a)
{
	struct http_response resp = {
		.status = a->status,
		.minor = a->minor,
		.head_only = a->head_only,
		.content_type = a->type,
		.body = a->body,
		.body_len = strlen(a->body),
		.retry_after = a->retry_after,
		.date = a->date,
	};
	char out[1024], name[64];
	size_t n, wantlen = 0;
	const char *want = tap_want("http_format.golden", a->name, &wantlen);

	if (want == NULL)
		return;
	n = http_format(out, sizeof(out), &resp);
	snprintf(name, sizeof(name), "http_format %s", a->name);
	tap_same(name, out, n, want, wantlen);
	/* Short of room: 0, never half an answer. */
	tap_ok(n > 0 && http_format(out, n - 1, &resp) == 0 &&
		       http_format(out, n + 1, &resp) == n,
	       "http_format %s: all or nothing", a->name);
}

/* A chunked body fed whole, then a byte at a time: the same end. */
static void
chunked_case(const char *body, enum http_chunk_state want, size_t used)
{
	struct http_chunked whole, bytes;
	size_t n = strlen(body), got, i, by = 0;

	memset(&whole, 0, sizeof(whole));
	memset(&bytes, 0, sizeof(bytes));
	got = http_chunked_eat(&whole, body, n);
	for (i = 0; i < n; i++)
		by += http_chunked_eat(&bytes, body + i, 1);
	tap_ok(whole.state == want && bytes.state == want && got == used &&
		       by == used,
	       "%s", label("http_chunked_eat", body, n));
}

static void
test_chunked(void)
{
	static const char two[] = "5;x=y\r\nhello\r\n10\r\n0123456789abcdef"
				  "\r\n0\r\nX-T: 1\r\n\r\n";

	chunked_case("0\r\n\r\nGET", HTTP_CHUNK_DONE, 5);
	chunked_case(two, HTTP_CHUNK_DONE, sizeof(two) - 1);
	chunked_case("5\r\nhel", HTTP_CHUNK_DATA, 6);
	chunked_case("A\n0123456789\n0\n\n", HTTP_CHUNK_DONE, 16);
	chunked_case("x\r\n", HTTP_CHUNK_BAD, 1);
	chunked_case("\r\n", HTTP_CHUNK_BAD, 2);
	chunked_case("1000000000000000\r\n", HTTP_CHUNK_BAD, 16);
	chunked_case("1\r\nab", HTTP_CHUNK_BAD, 5);
	chunked_case("1 2\r\nx", HTTP_CHUNK_BAD, 3);
	chunked_case("1 \t;a=b\r\nx\r\n0\r\n\r\n", HTTP_CHUNK_DONE, 17);
}

/* What the head says about the connection and its body. */
static void
keep_case(const char *head, int keep, int chunked, int unframed)
{
	struct http_request req;
	enum http_parse r = http_parse(head, strlen(head), &req);

	tap_ok(r == HTTP_PARSE_DONE && req.status == HTTP_200 &&
		       req.keep_alive == keep && req.chunked == chunked &&
		       req.unframed == unframed,
	       "%s", label("http_parse keep-alive", head, strlen(head)));
}

static void
test_keep_alive(void)
{
	keep_case("GET / HTTP/1.1\r\n\r\n", 1, 0, 0);
	keep_case("GET / HTTP/1.1\r\nConnection: foo, CLOSE\r\n\r\n", 0, 0, 0);
	keep_case("GET / HTTP/1.0\r\n\r\n", 0, 0, 0);
	keep_case("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", 1, 0, 0);
	keep_case("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", 1, 1,
		  0);
	keep_case("POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n"
		  "\r\n",
		  1, 0, 1);
	keep_case("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n"
		  "Content-Length: 3\r\n\r\n",
		  1, 1, 1);
	keep_case("POST / HTTP/1.1\r\nContent-Length: 3\r\n"
		  "Content-Length: 4\r\n\r\n",
		  1, 0, 1);
	keep_case("POST / HTTP/1.1\r\nContent-Length: 3x\r\n\r\n", 1, 0, 1);
	keep_case("POST / HTTP/1.0\r\nConnection: keep-alive\r\n"
		  "Transfer-Encoding: chunked\r\n\r\n",
		  1, 1, 1);
}

/* The Date line against strftime's in the C locale, at the edges of
 * months, leap days and years, and 100000 times in between. */
static void
test_dates(void)
{
	static const time_t edges[] = {0,         -1,         951782400,
				       951868800, 1767225599, 253402300799LL};
	struct http_response resp = {.status = HTTP_200,
				     .minor = 1,
				     .content_type = "text/plain",
				     .body = "",
				     .body_len = 0};
	char out[512], want[64], name[80];
	unsigned long long x = 88172645463325252ULL;
	size_t i, bad = 0;

	for (i = 0; i < 100000 + 6; i++) {
		struct tm tm;
		char *p;

		/* xorshift: years 1970-9999, the same every run */
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		resp.date = i < 6 ? edges[i] : (time_t)(x % 253402300800ULL);
		gmtime_r(&resp.date, &tm);
		strftime(want, sizeof(want),
			 "Date: %a, %d %b %Y %H:%M:%S GMT\r", &tm);
		out[http_format(out, sizeof(out), &resp)] = '\0';
		p = strstr(out, "Date: ");
		if (p == NULL || strncmp(p, want, strlen(want)) != 0) {
			if (bad++ == 0)
				tap_escape(name, sizeof(name), want,
					   strlen(want));
		}
		if (i < 6)
			tap_ok(bad == 0, "http_format Date at %lld",
			       (long long)resp.date);
	}
	tap_ok(bad == 0, "http_format Date at 100000 times%s%s",
	       bad ? ": first wrong " : "", bad ? name : "");
}

int
main(void)
{
	size_t i;

	tap_golden("http_parse.golden", parse_case, NULL);
	test_limits();
	tap_golden("http_response.golden", response_case, NULL);
	test_response_limit();
	test_statuses();
	for (i = 0; i < sizeof(answers) / sizeof(answers[0]); i++)
		format_case(&answers[i]);
	test_chunked();
	test_keep_alive();
	test_dates();
	return tap_end();
}
