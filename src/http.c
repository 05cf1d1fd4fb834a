#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "http.h"

static const int codes[HTTP_NSTATUS] = {
	[HTTP_200] = 200, [HTTP_400] = 400, [HTTP_408] = 408, [HTTP_431] = 431,
	[HTTP_500] = 500, [HTTP_503] = 503, [HTTP_504] = 504, [HTTP_505] = 505,
};

static const char *const reasons[HTTP_NSTATUS] = {
	[HTTP_200] = "OK",
	[HTTP_400] = "Bad Request",
	[HTTP_408] = "Request Timeout",
	[HTTP_431] = "Request Header Fields Too Large",
	[HTTP_500] = "Internal Server Error",
	[HTTP_503] = "Service Unavailable",
	[HTTP_504] = "Gateway Timeout",
	[HTTP_505] = "HTTP Version Not Supported",
};

int
http_code(enum http_status status)
{
	return codes[status];
}

const char *
http_reason(enum http_status status)
{
	return reasons[status];
}

/* RFC 9110 tchar */
static int
is_tchar(unsigned char c)
{
	if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
	    (c >= 'A' && c <= 'Z'))
		return 1;
	return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* Field values and targets: visible ASCII, or obs-text; values also SP/HT. */
static int
is_vchar(unsigned char c)
{
	return (c > 0x20 && c < 0x7f) || c >= 0x80;
}

static enum http_parse
done(struct http_request *req, enum http_status status)
{
	req->status = status;
	return HTTP_PARSE_DONE;
}

/* Bytes that no line of a head may hold, complete or not. */
static int
tail_is_bad(const char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];

		if (c == '\r') {
			if (i + 1 < n)
				return 1; /* CR not before LF */
		} else if ((c < 0x20 && c != '\t') || c == 0x7f) {
			return 1;
		}
	}
	return 0;
}

/* The request line, without its line ending. */
static enum http_status
request_line(const char *p, size_t n, struct http_request *req)
{
	size_t i = 0, start;
	int major, minor;

	for (start = i; i < n && is_tchar((unsigned char)p[i]); i++)
		;
	if (i == start || i >= n || p[i] != ' ')
		return HTTP_400;
	req->method = p + start;
	req->method_len = i - start;
	for (start = ++i; i < n && is_vchar((unsigned char)p[i]); i++)
		;
	if (i == start || i >= n || p[i] != ' ')
		return HTTP_400;
	req->target = p + start;
	req->target_len = i - start;
	i++;
	if (n - i != 8 || memcmp(p + i, "HTTP/", 5) != 0 || p[i + 5] < '0' ||
	    p[i + 5] > '9' || p[i + 6] != '.' || p[i + 7] < '0' ||
	    p[i + 7] > '9')
		return HTTP_400;
	major = p[i + 5] - '0';
	minor = p[i + 7] - '0';
	req->head_only =
		req->method_len == 4 && memcmp(req->method, "HEAD", 4) == 0;
	if (major != 1)
		return HTTP_505; /* answered as HTTP/1.1 */
	req->minor = minor > 1 ? 1 : minor;
	return HTTP_200;
}

/* A q value (RFC 9110 12.4.2) in thousandths.  Only "0" with zeros after
 * it refuses; anything else, however odd, accepts (as it always has). */
static int
qvalue(const char *p, size_t n)
{
	size_t i, len = 0;
	int zero = n > 0 && p[0] == '0', q, scale;

	/* It ends at OWS too: "q=0\t," refuses as "q=0 ," does. */
	while (len < n && p[len] != ',' && p[len] != ';' && p[len] != ' ' &&
	       p[len] != '\t')
		len++;
	for (i = 1; zero && i < len; i++)
		if (p[i] != '.' && p[i] != '0')
			zero = 0;
	if (zero)
		return 0;
	if (len == 0 || p[0] < '0' || p[0] > '1')
		return 1000;
	q = (p[0] - '0') * 1000;
	/* Three decimals at most (RFC 9110 12.4.2); more are ignored. */
	scale = len > 1 && p[1] == '.' ? 100 : 0;
	for (i = 2; i < len && scale > 0 && p[i] >= '0' && p[i] <= '9'; i++) {
		q += (p[i] - '0') * scale;
		scale /= 10;
	}
	return q > 1000 ? 1000 : q < 1 ? 1 : q;
}

/* The q of the media range at p[*i]'s parameters, up to the next range:
 * only q matters; 1000 when it has none. */
static int
range_q(const char *p, size_t n, size_t *i)
{
	int q = 1000;

	while (*i < n && p[*i] != ',') {
		if (p[*i] != ';') {
			(*i)++;
			continue;
		}
		for ((*i)++; *i < n && (p[*i] == ' ' || p[*i] == '\t'); (*i)++)
			;
		if (*i + 1 < n && (p[*i] == 'q' || p[*i] == 'Q') &&
		    p[*i + 1] == '=')
			q = qvalue(p + *i + 2, n - *i - 2);
	}
	return q;
}

static int
is_range(const char *p, size_t n, const char *name)
{
	return n == strlen(name) && strncasecmp(p, name, n) == 0;
}

/* Accept: the best q of application/json and of application/health+json
 * over every range and every Accept line; the choice is head_end's. */
static void
accept_field(const char *p, size_t n, struct http_request *req)
{
	size_t i = 0;

	while (i < n) {
		size_t start, len;
		int q;

		while (i < n && (p[i] == ' ' || p[i] == '\t' || p[i] == ','))
			i++;
		start = i;
		while (i < n && p[i] != ',' && p[i] != ';' && p[i] != ' ' &&
		       p[i] != '\t')
			i++;
		len = i - start;
		q = range_q(p, n, &i);
		if (is_range(p + start, len, "application/json") &&
		    q > req->q_json)
			req->q_json = q;
		if (is_range(p + start, len, "application/health+json") &&
		    q > req->q_health)
			req->q_health = q;
	}
}

/* A field value without the whitespace around it. */
static void
trim(const char **p, size_t *n)
{
	while (*n > 0 && (**p == ' ' || **p == '\t')) {
		(*p)++;
		(*n)--;
	}
	while (*n > 0 && ((*p)[*n - 1] == ' ' || (*p)[*n - 1] == '\t'))
		(*n)--;
}

/* Connection: comma-separated tokens; close and keep-alive matter. */
static void
connection(const char *p, size_t n, struct http_request *req)
{
	while (n > 0) {
		const char *comma = memchr(p, ',', n);
		size_t len = comma != NULL ? (size_t)(comma - p) : n;
		const char *t = p;
		size_t tn = len;

		trim(&t, &tn);
		if (tn == 5 && strncasecmp(t, "close", 5) == 0)
			req->conn_close = 1;
		if (tn == 10 && strncasecmp(t, "keep-alive", 10) == 0)
			req->conn_keep = 1;
		p += len + (comma != NULL);
		n -= len + (comma != NULL);
	}
}

/* Only chunked alone frames a body we can read to its end; any other
 * coding (or a second header) leaves the connection to close. */
static void
transfer_encoding(const char *p, size_t n, struct http_request *req)
{
	trim(&p, &n);
	if (!req->chunked && n == 7 && strncasecmp(p, "chunked", 7) == 0)
		req->chunked = 1;
	else
		req->unframed = 1;
}

/* Digits alone, and the same value if repeated (RFC 9112 6.3). */
static void
content_length(const char *p, size_t n, struct http_request *req)
{
	unsigned long long v = 0;
	size_t i;

	trim(&p, &n);
	for (i = 0; i < n && p[i] >= '0' && p[i] <= '9' && i < 18; i++)
		v = v * 10 + (unsigned long long)(p[i] - '0');
	if (n == 0 || i < n || (req->have_length && v != req->content_length))
		req->unframed = 1;
	req->have_length = 1;
	req->content_length = v;
}

static enum http_status
header_line(const char *p, size_t n, struct http_request *req)
{
	size_t i, name;

	for (i = 0; i < n && is_tchar((unsigned char)p[i]); i++)
		;
	/* Also refuses obs-fold (a line that starts with whitespace) and
	 * whitespace between the name and the colon (RFC 9112 5.1). */
	if (i == 0 || i >= n || p[i] != ':')
		return HTTP_400;
	name = i;
	for (i++; i < n; i++) {
		unsigned char c = (unsigned char)p[i];

		if (!is_vchar(c) && c != ' ' && c != '\t')
			return HTTP_400;
	}
	if (name == 6 && strncasecmp(p, "Accept", 6) == 0)
		accept_field(p + 7, n - 7, req);
	/* RFC 9112 6.3: a request without these has no body. */
	if (name == 17 && strncasecmp(p, "Transfer-Encoding", 17) == 0) {
		req->has_body = 1;
		transfer_encoding(p + 18, n - 18, req);
	}
	if (name == 14 && strncasecmp(p, "Content-Length", 14) == 0) {
		if (strspn(p + 15, " \t0") < n - 15)
			req->has_body = 1;
		content_length(p + 15, n - 15, req);
	}
	if (name == 10 && strncasecmp(p, "Connection", 10) == 0)
		connection(p + 11, n - 11, req);
	return HTTP_200;
}

/* The head is not all here: wait for more, unless what has come is bad
 * already (garbage gets its 400 now, not at 8 KiB) or too long. */
static enum http_parse
unfinished(struct http_request *req, const char *line, size_t left, int first,
	   size_t len)
{
	if (tail_is_bad(line, left))
		return done(req, HTTP_400);
	if (first) {
		size_t i = 0;

		if (left > 0 && line[left - 1] == '\r')
			left--;
		while (i < left && is_tchar((unsigned char)line[i]))
			i++;
		if (i < left && line[i] != ' ')
			return done(req, HTTP_400);
	}
	if (len >= HTTP_HEAD_MAX)
		return done(req, HTTP_431);
	return HTTP_PARSE_MORE;
}

/* What the whole head says about the connection and the body. */
static void
head_end(struct http_request *req)
{
	/* RFC 9112 6.1: with a Content-Length too, or in HTTP/1.0, the
	 * framing is faulty: close after. */
	if (req->chunked && (req->have_length || req->minor == 0))
		req->unframed = 1;
	req->keep_alive = req->minor >= 1 ? !req->conn_close
					  : req->conn_keep && !req->conn_close;
	/* Equal q: health+json, the more specific of the two. */
	if (req->q_health > 0 && req->q_health >= req->q_json)
		req->media = HTTP_MEDIA_HEALTH_JSON;
	else if (req->q_json > 0)
		req->media = HTTP_MEDIA_JSON;
}

enum http_parse
http_parse(const char *buf, size_t len, struct http_request *req)
{
	size_t pos = 0;
	int first = 1;

	memset(req, 0, sizeof(*req));
	req->status = HTTP_200;
	req->minor = 1;

	/* RFC 9112 2.2: ignore empty lines before the request line. */
	while (pos < len &&
	       (buf[pos] == '\n' ||
		(buf[pos] == '\r' && pos + 1 < len && buf[pos + 1] == '\n')))
		pos += buf[pos] == '\r' ? 2 : 1;

	for (;;) {
		const char *line = buf + pos;
		const char *nl = memchr(line, '\n', len - pos);
		size_t n;
		enum http_status st;

		if (nl == NULL)
			return unfinished(req, line, len - pos, first, len);
		n = (size_t)(nl - line);
		pos += n + 1;
		if (n > 0 && line[n - 1] == '\r')
			n--;
		if (memchr(line, '\r', n) != NULL)
			return done(req, HTTP_400);
		if (n == 0 && !first) {
			req->head_len = pos;
			head_end(req);
			return done(req, HTTP_200);
		}
		st = first ? request_line(line, n, req)
			   : header_line(line, n, req);
		if (st != HTTP_200)
			return done(req, st);
		first = 0;
	}
}

static char *
put_digits(char *p, int v, int width)
{
	int i;

	for (i = width - 1; i >= 0; i--, v /= 10)
		p[i] = (char)('0' + v % 10);
	return p + width;
}

/* The IMF-fixdate of RFC 9110 5.6.7 ("Sun, 06 Nov 1994 08:49:37 GMT"),
 * by hand: strftime's locale and time zone machinery cost more than the
 * rest of an answer's head, and the names must be English in any locale. */
static void
format_date(char out[32], time_t t)
{
	static const char days[] = "SunMonTueWedThuFriSat";
	static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
	struct tm tm = {.tm_mday = 1, .tm_year = 70, .tm_wday = 4};
	char *p = out;

	if (gmtime_r(&t, &tm) == NULL || tm.tm_year < -1900 ||
	    tm.tm_year > 9999 - 1900)
		tm = (struct tm){.tm_mday = 1, .tm_year = 70, .tm_wday = 4};
	memcpy(p, days + 3 * tm.tm_wday, 3);
	memcpy(p + 3, ", ", 2);
	p = put_digits(p + 5, tm.tm_mday, 2);
	*p++ = ' ';
	memcpy(p, months + 3 * tm.tm_mon, 3);
	*(p += 3) = ' ';
	p = put_digits(p + 1, tm.tm_year + 1900, 4);
	*p++ = ' ';
	p = put_digits(p, tm.tm_hour, 2);
	*p++ = ':';
	p = put_digits(p, tm.tm_min, 2);
	*p++ = ':';
	p = put_digits(p, tm.tm_sec, 2);
	memcpy(p, " GMT", 5);
}

/* Appends to the head being built; once cap is reached, nothing more
 * (the head then does not fit, and http_format says so). */
struct head {
	char *p;
	size_t len, cap;
};

static void
put(struct head *h, const char *s, size_t n)
{
	if (n > h->cap - h->len) {
		h->len = h->cap + 1;
		return;
	}
	memcpy(h->p + h->len, s, n);
	h->len += n;
}

static void
put_str(struct head *h, const char *s)
{
	put(h, s, strlen(s));
}

static void
put_num(struct head *h, size_t v)
{
	char digits[24];
	size_t i = sizeof(digits);

	do
		digits[--i] = (char)('0' + v % 10);
	while ((v /= 10) > 0);
	put(h, digits + i, sizeof(digits) - i);
}

#define PUT_LIT(h, s) put((h), (s), sizeof(s) - 1)

/* By hand rather than with snprintf, whose format parsing was most of
 * what building an answer cost. */
size_t
http_format(char *out, size_t cap, const struct http_response *resp)
{
	/* As snprintf: room for a NUL, never written. */
	struct head h = {out, 0, cap - 1};
	char date[32];

	if (cap == 0)
		return 0;
	format_date(date, resp->date);
	PUT_LIT(&h, "HTTP/1.");
	put_num(&h, (size_t)resp->minor);
	PUT_LIT(&h, " ");
	put_num(&h, (size_t)codes[resp->status]);
	PUT_LIT(&h, " ");
	put_str(&h, reasons[resp->status]);
	PUT_LIT(&h, "\r\nDate: ");
	put_str(&h, date);
	PUT_LIT(&h, "\r\nContent-Type: ");
	put_str(&h, resp->content_type);
	PUT_LIT(&h, "\r\nContent-Length: ");
	put_num(&h, resp->body_len);
	if (resp->keep_alive)
		PUT_LIT(&h, "\r\nConnection: keep-alive");
	else
		PUT_LIT(&h, "\r\nConnection: close");
	PUT_LIT(&h, "\r\nCache-Control: no-store\r\n");
	if (resp->retry_after > 0) {
		PUT_LIT(&h, "Retry-After: ");
		put_num(&h, (size_t)resp->retry_after);
		PUT_LIT(&h, "\r\n");
	}
	PUT_LIT(&h, "\r\n");
	if (h.len > h.cap)
		return 0;
	if (!resp->head_only) {
		if (resp->body_len > cap - h.len)
			return 0;
		memcpy(out + h.len, resp->body, resp->body_len);
		h.len += resp->body_len;
	}
	return h.len;
}

enum http_parse
http_response_status(const char *buf, size_t len, int *code, size_t *head_len)
{
	const char *end = NULL;
	size_t i;

	for (i = 0; i + 1 < len && end == NULL; i++) {
		if (buf[i] == '\n' && buf[i + 1] == '\n')
			end = buf + i;
		else if (buf[i] == '\n' && buf[i + 1] == '\r' && i + 2 < len &&
			 buf[i + 2] == '\n')
			end = buf + i;
	}
	if (end == NULL) {
		if (len < HTTP_HEAD_MAX)
			return HTTP_PARSE_MORE;
		*code = -1;
		return HTTP_PARSE_DONE;
	}
	/* "HTTP/1.x NNN" and a space or the end of the line after it. */
	if (len < 13 || memcmp(buf, "HTTP/1.", 7) != 0 || buf[7] < '0' ||
	    buf[7] > '9' || buf[8] != ' ' || buf[9] < '1' || buf[9] > '5' ||
	    buf[10] < '0' || buf[10] > '9' || buf[11] < '0' || buf[11] > '9' ||
	    (buf[12] != ' ' && buf[12] != '\r' && buf[12] != '\n')) {
		*code = -1;
		return HTTP_PARSE_DONE;
	}
	*code = (buf[9] - '0') * 100 + (buf[10] - '0') * 10 + (buf[11] - '0');
	*head_len = (size_t)(end - buf) + (end[1] == '\r' ? 3 : 2);
	return HTTP_PARSE_DONE;
}

static int
hex_digit(char c)
{
	static const char digits[] = "0123456789abcdefABCDEF";
	const char *p = c == '\0' ? NULL : strchr(digits, c);
	int i = p == NULL ? -1 : (int)(p - digits);

	return i > 15 ? i - 6 : i;
}

/* One byte of a chunk-size line, or of the line after a chunk's data.
 * Lenient about CR as nginx is: an LF ends a line. */
static void
chunk_line_byte(struct http_chunked *ch, char c)
{
	int d = hex_digit(c);

	if (ch->state == HTTP_CHUNK_DATA_END) {
		if (c == '\n')
			ch->state = HTTP_CHUNK_SIZE;
		else if (c != '\r')
			ch->state = HTTP_CHUNK_BAD;
		return;
	}
	if (ch->state == HTTP_CHUNK_SIZE && d >= 0) {
		/* 15 hex digits: far more than anyone sends a probe. */
		if (++ch->digits > 15)
			ch->state = HTTP_CHUNK_BAD;
		ch->left = ch->left * 16 + (unsigned long long)d;
		return;
	}
	if (c == '\n') {
		if (ch->digits == 0)
			ch->state = HTTP_CHUNK_BAD;
		else if (ch->left == 0)
			ch->state = HTTP_CHUNK_TRAILER;
		else
			ch->state = HTTP_CHUNK_DATA;
		ch->digits = 0;
		ch->line_start = 1;
	} else if (c == ';') {
		ch->state = HTTP_CHUNK_EXT;
	} else if (c == ' ' || c == '\t') {
		/* "1 2" is no size of 1 (nor of 0x12, as another reader
		 * could take it): only BWS and ';' may follow. */
		if (ch->state == HTTP_CHUNK_SIZE)
			ch->state = HTTP_CHUNK_SIZE_END;
	} else if (c != '\r' && ch->state != HTTP_CHUNK_EXT) {
		ch->state = HTTP_CHUNK_BAD;
	}
}

/* Trailer lines, up to the empty one that ends the body. */
static void
chunk_trailer_byte(struct http_chunked *ch, char c)
{
	if (c == '\n') {
		ch->state =
			ch->line_start ? HTTP_CHUNK_DONE : HTTP_CHUNK_TRAILER;
		ch->line_start = 1;
	} else if (c != '\r') {
		ch->line_start = 0;
	}
}

size_t
http_chunked_eat(struct http_chunked *ch, const char *buf, size_t len)
{
	size_t i = 0;

	while (i < len && ch->state != HTTP_CHUNK_DONE &&
	       ch->state != HTTP_CHUNK_BAD) {
		if (ch->state == HTTP_CHUNK_DATA) {
			size_t k = len - i;

			if (k > ch->left)
				k = (size_t)ch->left;
			ch->left -= k;
			i += k;
			if (ch->left == 0)
				ch->state = HTTP_CHUNK_DATA_END;
			continue;
		}
		if (ch->state == HTTP_CHUNK_TRAILER ||
		    ch->state == HTTP_CHUNK_TRAILER_LINE)
			chunk_trailer_byte(ch, buf[i]);
		else
			chunk_line_byte(ch, buf[i]);
		i++;
	}
	return i;
}
