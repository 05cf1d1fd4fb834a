#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "http.h"
#include "kind_connect.h"
#include "kind_http.h"

struct http_check {
	struct connector c;
	/* The request going out, then the response head */
	char *head;
	size_t sent, got;
};

/* The request, a write at a time; 1 once it has all gone out. */
static int
send_request(struct http_check *h, struct watch *w)
{
	const char *req = h->c.p.spec->request;
	size_t reqlen = strlen(req);
	ssize_t n;

	if (h->sent == reqlen)
		return 1;
	n = write(w->fd, req + h->sent, reqlen - h->sent);
	if (n < 0 && errno != EAGAIN && errno != EINTR) {
		probe_done(&h->c.p, PROBE_FAILED, 0,
			   kind_connect_reason(errno));
		return 0;
	}
	if (n > 0)
		h->sent += (size_t)n;
	if (h->sent == reqlen)
		loop_mod(h->c.p.env->loop, w, LOOP_IN);
	return 0;
}

/* The status of the final response head (1xx are interim: 103 Early Hints,
 * ...), or -1 while it is not all there. */
static int
final_status(struct http_check *h, int *code)
{
	size_t hlen;

	for (;;) {
		if (http_response_status(h->head, h->got, code, &hlen) ==
		    HTTP_PARSE_MORE)
			return -1;
		if (*code < 100 || *code > 199 || *code == 101)
			return 0;
		memmove(h->head, h->head + hlen, h->got - hlen);
		h->got -= hlen;
	}
}

static void
http_io(struct watch *w, unsigned events)
{
	struct http_check *h = w->ctx;
	struct probe *p = &h->c.p;
	char reason[PROBE_REASON_MAX];
	ssize_t n;
	int code;

	(void)events;
	if (!send_request(h, w))
		return;
	n = read(w->fd, h->head + h->got, HTTP_HEAD_MAX - h->got);
	if (n < 0) {
		if (errno != EAGAIN && errno != EINTR)
			probe_done(p, PROBE_FAILED, 0,
				   kind_connect_reason(errno));
		return;
	}
	h->got += (size_t)n;
	if (final_status(h, &code) == -1) {
		if (n == 0)
			probe_done(p, PROBE_FAILED, 0,
				   "incomplete response head");
		return;
	}
	if (code < 0) {
		probe_done(p, PROBE_FAILED, 0,
			   h->got >= HTTP_HEAD_MAX ? "response head too large"
						   : "malformed response");
		return;
	}
	snprintf(reason, sizeof(reason), "status %d", code);
	probe_done(p, code >= 200 && code < 400 ? PROBE_PASSED : PROBE_FAILED,
		   0, reason);
}

/* One address accepted: the request goes there, the other attempts are
 * dropped. */
static void
connected(struct connector *c, struct watch *w)
{
	struct http_check *h = (struct http_check *)c;

	kind_connect_keep(c, w);
	h->head = malloc(HTTP_HEAD_MAX);
	w->fn = http_io;
	if (h->head == NULL || loop_add(c->p.env->loop, w, LOOP_OUT) == -1)
		probe_fail_errno(&c->p, "", h->head == NULL ? ENOMEM : errno,
				 h->head == NULL ? ENOMEM : errno);
}

static void
http_start(struct probe *p)
{
	kind_connect_start((struct connector *)p, connected);
}

static void
http_stop(struct probe *p)
{
	struct http_check *h = (struct http_check *)p;

	kind_connect_stop(p);
	free(h->head);
	h->head = NULL;
}

const struct probe_kind kind_http = {
	.size = sizeof(struct http_check),
	.start = http_start,
	.expire = kind_connect_expire,
	.stop = http_stop,
	.fds = kind_connect_fds,
};
