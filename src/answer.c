#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "answer.h"
#include "report.h"

static const char text_plain[] = "text/plain; charset=utf-8";
/* Seconds a drained node asks to be left alone. */
#define MAINTENANCE_RETRY 30

static void
set(struct answer *a, enum http_status status, const char *body, size_t len)
{
	memset(a, 0, sizeof(*a));
	a->status = status;
	a->type = text_plain;
	a->body = body;
	a->len = len;
}

enum http_status
answer_status(const struct options *o, const struct verdict *v)
{
	return v->ok                   ? HTTP_200
	       : o->fail_status == 503 ? HTTP_503
	       : o->fail_status == 500 ? HTTP_500
				       : HTTP_504;
}

static void
internal_error(struct answer *a)
{
	set(a, HTTP_500, "500 Internal Server Error", 25);
}

/* When the verdict's run finished, as UTC milliseconds: finished_ns is of
 * CLOCK_MONOTONIC (it survives in the state file, so a cached verdict
 * keeps its own time), so it is taken back from now. */
static int64_t
finished_utc_ms(const struct verdict *v)
{
	struct timespec mono, real;
	int64_t ago_ns;

	clock_gettime(CLOCK_MONOTONIC, &mono);
	clock_gettime(CLOCK_REALTIME, &real);
	ago_ns = (int64_t)mono.tv_sec * 1000000000 + mono.tv_nsec -
		 v->finished_ns;
	if (ago_ns < 0 || v->finished_ns == 0)
		ago_ns = 0;
	/* In nanoseconds first: two answers of one verdict say one time. */
	return ((int64_t)real.tv_sec * 1000000000 + real.tv_nsec - ago_ns) /
	       1000000;
}

static char *
report(const struct options *o, enum http_media media, const struct verdict *v,
       size_t *len)
{
	switch (media) {
	case HTTP_MEDIA_JSON:
		return report_json(o, v, len);
	case HTTP_MEDIA_HEALTH_JSON:
		return report_health_json(o, v, finished_utc_ms(v), len);
	default:
		return report_text(o, v, len);
	}
}

static const char *const media_types[] = {
	[HTTP_MEDIA_TEXT] = text_plain,
	[HTTP_MEDIA_JSON] = "application/json",
	[HTTP_MEDIA_HEALTH_JSON] = "application/health+json",
};

void
answer_verdict(struct answer *a, const struct options *o, enum http_media media,
	       const struct verdict *v)
{
	const char *line = v->ok ? REPORT_OK : REPORT_FAIL;
	char *body;
	size_t len;

	if (!o->details) {
		set(a, answer_status(o, v), line, strlen(line));
		return;
	}
	/* Script output never reaches the client: only the log has it. */
	body = report(o, media, v, &len);
	if (body == NULL) {
		internal_error(a);
		return;
	}
	set(a, answer_status(o, v), body, len);
	a->owned = body;
	a->type = media_types[media];
}

void
answer_error(struct answer *a, enum http_status status)
{
	int n;

	set(a, status, NULL, 0);
	n = snprintf(a->line, sizeof(a->line), "%d %s", http_code(status),
		     http_reason(status));
	a->body = a->line;
	a->len = (size_t)n;
}

void
answer_short(struct answer *a, int err)
{
	static const char fds[] = "health-checker is short of file descriptors";
	static const char procs[] = "health-checker is short of processes";

	if (err == EAGAIN)
		set(a, HTTP_503, procs, sizeof(procs) - 1);
	else if (err == EMFILE || err == ENFILE)
		set(a, HTTP_503, fds, sizeof(fds) - 1);
	else
		internal_error(a);
}

void
answer_maintenance(struct answer *a)
{
	static const char body[] = "Maintenance";

	set(a, HTTP_503, body, sizeof(body) - 1);
	a->retry_after = MAINTENANCE_RETRY;
}

void
answer_free(struct answer *a)
{
	free(a->owned);
	a->owned = NULL;
}
