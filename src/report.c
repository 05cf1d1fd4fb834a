#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "report.h"

int
report_line(char *out, size_t cap, const struct check_spec *spec,
	    const struct check_result *r)
{
	return snprintf(out, cap, "%s %s %s %dms%s%s", r->ok ? "ok" : "fail",
			check_type_name(spec->type), spec->target, r->ms,
			r->ok ? "" : " ", r->ok ? "" : r->reason);
}

/* Room for every check's line, however its target and reason escape. */
static size_t
worst_case(const struct options *o)
{
	size_t i, n = 128;

	for (i = 0; i < o->nchecks; i++)
		n += 6 * strlen(o->checks[i].target) +
		     6 * (size_t)CHECK_REASON_MAX + 256;
	return n;
}

char *
report_text(const struct options *o, const struct verdict *v, size_t *len)
{
	size_t cap = worst_case(o), n, i;
	char *out = malloc(cap);

	if (out == NULL)
		return NULL;
	n = (size_t)snprintf(out, cap, "%s\n", v->ok ? REPORT_OK : REPORT_FAIL);
	for (i = 0; i < v->n && n < cap; i++) {
		n += (size_t)report_line(out + n, cap - n, &o->checks[i],
					 &v->results[i]);
		if (n < cap - 1)
			out[n++] = '\n';
	}
	*len = n < cap ? n : cap - 1;
	return out;
}

/* The length of the well-formed UTF-8 sequence at s (RFC 3629: no
 * overlong form, no surrogate, nothing above U+10FFFF), s[0] from 0x80
 * up; 0 when there is none.  It stops at the first byte that does not
 * fit, so never reads past the NUL. */
static size_t
utf8_len(const unsigned char *s)
{
	unsigned char lo = s[0] == 0xe0 ? 0xa0 : s[0] == 0xf0 ? 0x90 : 0x80;
	unsigned char hi = s[0] == 0xed ? 0x9f : s[0] == 0xf4 ? 0x8f : 0xbf;
	size_t n = s[0] >= 0xf0 ? 4 : s[0] >= 0xe0 ? 3 : 2, i;

	if (s[0] < 0xc2 || s[0] > 0xf4 || s[1] < lo || s[1] > hi)
		return 0;
	for (i = 2; i < n; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	return n;
}

/* A JSON string.  UTF-8 passes as it is; a byte that is not part of it
 * (a path in Latin-1, say) becomes U+FFFD: JSON is UTF-8 (RFC 8259 8.1),
 * and a parser refuses the whole body for one such byte. */
static size_t
json_string(char *out, const char *s)
{
	size_t n = 0, k;

	out[n++] = '"';
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\') {
			out[n++] = '\\';
			out[n++] = (char)c;
		} else if (c < 0x20 || c == 0x7f) {
			n += (size_t)sprintf(out + n, "\\u%04x", c);
		} else if (c < 0x80) {
			out[n++] = (char)c;
		} else if ((k = utf8_len((const unsigned char *)s)) == 0) {
			memcpy(out + n, "\\ufffd", 6);
			n += 6;
		} else {
			memcpy(out + n, s, k);
			n += k;
			s += k - 1;
		}
	}
	out[n++] = '"';
	return n;
}

/* One check as a JSON object, at out: its length. */
static size_t
json_check(char *out, const struct check_spec *spec,
	   const struct check_result *r, int comma)
{
	size_t n = (size_t)sprintf(
		out, "%s{\"type\":\"%s\",\"target\":", comma ? "," : "",
		check_type_name(spec->type));

	n += json_string(out + n, spec->target);
	n += (size_t)sprintf(out + n, ",\"ok\":%s,\"ms\":%d,\"reason\":",
			     r->ok ? "true" : "false", r->ms);
	n += json_string(out + n, r->ok ? "" : r->reason);
	out[n++] = '}';
	return n;
}

char *
report_json(const struct options *o, const struct verdict *v, size_t *len)
{
	char *out = malloc(worst_case(o));
	size_t n, i;

	if (out == NULL)
		return NULL;
	n = (size_t)sprintf(out, "{\"status\":\"%s\",\"checks\":[",
			    v->ok ? "pass" : "fail");
	for (i = 0; i < v->n; i++)
		n += json_check(out + n, &o->checks[i], &v->results[i], i > 0);
	n += (size_t)sprintf(out + n, "]}\n");
	*len = n;
	return out;
}

/* "2026-12-01T17:25:00.123Z": RFC 3339 in UTC, to the millisecond. */
static void
rfc3339(char *out, size_t cap, int64_t ms)
{
	time_t s;
	struct tm tm;
	size_t n;

	if (ms < 0)
		ms = 0;
	s = (time_t)(ms / 1000);
	if (gmtime_r(&s, &tm) == NULL)
		memset(&tm, 0, sizeof(tm));
	n = strftime(out, cap, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out + n, cap - n, ".%03dZ", (int)(ms % 1000));
}

/* Check i's NAME: its type and its rank among the checks of that type on
 * the command line (tcp-1, tcp-2, script-1): no colon, stable from run to
 * run, unique even when two checks share a target. */
static size_t
rank(const struct options *o, size_t i)
{
	size_t j, n = 1;

	for (j = 0; j < i; j++)
		n += o->checks[j].type == o->checks[i].type;
	return n;
}

/* Check i as a member of the draft's "checks" object, at out: its length. */
static size_t
health_check(char *out, const struct options *o, size_t i,
	     const struct check_result *r, const char *when)
{
	const char *type = check_type_name(o->checks[i].type);
	size_t n = (size_t)sprintf(
		out,
		"%s\"%s-%zu:responseTime\":[{\"componentType\":\"%s\","
		"\"componentId\":",
		i > 0 ? "," : "", type, rank(o, i), type);

	n += json_string(out + n, o->checks[i].target);
	n += (size_t)sprintf(out + n,
			     ",\"observedValue\":%d,\"observedUnit\":\"ms\","
			     "\"status\":\"%s\",\"time\":\"%s\"",
			     r->ms, r->ok ? "pass" : "fail", when);
	if (!r->ok) {
		n += (size_t)sprintf(out + n, ",\"output\":");
		n += json_string(out + n, r->reason);
	}
	n += (size_t)sprintf(out + n, "}]");
	return n;
}

char *
report_health_json(const struct options *o, const struct verdict *v,
		   int64_t when_ms, size_t *len)
{
	char *out = malloc(worst_case(o)), when[64];
	size_t n, i;

	if (out == NULL)
		return NULL;
	rfc3339(when, sizeof(when), when_ms);
	n = (size_t)sprintf(out, "{\"status\":\"%s\",\"checks\":{",
			    v->ok ? "pass" : "fail");
	for (i = 0; i < v->n; i++)
		n += health_check(out + n, o, i, &v->results[i], when);
	n += (size_t)sprintf(out + n, "}}\n");
	*len = n;
	return out;
}
