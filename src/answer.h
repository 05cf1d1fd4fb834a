/* answer: what a request is told, as data: the status, type and body for a
 * verdict, a bad request, a shortage of ours or maintenance.  No I/O. */
#ifndef ANSWER_H
#define ANSWER_H

#include <stddef.h>

#include "checks.h"
#include "http.h"
#include "options.h"

struct answer {
	enum http_status status;
	const char *type;
	const char *body;
	size_t len;
	int retry_after; /* seconds; 0: no Retry-After */
	char *owned;     /* what body points into, when allocated */
	char line[64];   /* a short body of its own */
};

/* The status a verdict gives under these options. */
enum http_status answer_status(const struct options *o,
			       const struct verdict *v);
/* One line, or with --details the report in the media the request chose
 * (text, today's JSON, or the draft's health+json). */
void answer_verdict(struct answer *a, const struct options *o,
		    enum http_media media, const struct verdict *v);
/* "400 Bad Request" and the like. */
void answer_error(struct answer *a, enum http_status status);
/* We could not check for want of ours (errno err: EAGAIN processes,
 * EMFILE or ENFILE descriptors, else memory): never a 504, which would
 * blame the service. */
void answer_short(struct answer *a, int err);
void answer_maintenance(struct answer *a);
void answer_free(struct answer *a);

#endif
