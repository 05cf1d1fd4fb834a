/* report: a verdict as text lines (--details bodies, --once output) or as
 * JSON.  Pure: buffers in, buffers out. */
#ifndef REPORT_H
#define REPORT_H

#include <stddef.h>

#include "checks.h"
#include "options.h"

#define REPORT_OK "OK"
#define REPORT_FAIL "At least one health check failed"

/* "ok|fail TYPE TARGET MSms[ REASON]" for check i, without a newline. */
int report_line(char *out, size_t cap, const struct check_spec *spec,
		const struct check_result *r);
/* The verdict line, then one line per check; malloc'd, NULL when out of
 * memory. */
char *report_text(const struct options *o, const struct verdict *v,
		  size_t *len);
/* {"status":"pass|fail","checks":[{"type","target","ok","ms","reason"}]} */
char *report_json(const struct options *o, const struct verdict *v,
		  size_t *len);

#endif
