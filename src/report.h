/* report: a verdict as text lines (--details bodies, --once output) or as
 * JSON.  Pure: buffers in, buffers out. */
#ifndef REPORT_H
#define REPORT_H

#include <stddef.h>
#include <stdint.h>

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
/* The IETF draft's application/health+json: {"status":"pass|fail",
 * "checks":{"TYPE-N:responseTime":[{...}]}}, N the check's rank among its
 * type's; every check's "time" is when_ms (UTC milliseconds since 1970). */
char *report_health_json(const struct options *o, const struct verdict *v,
			 int64_t when_ms, size_t *len);

#endif
