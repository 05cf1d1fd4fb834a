#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
		     6 * (size_t)CHECK_REASON_MAX + 128;
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

/* A JSON string; bytes from 0x80 up pass as they are (targets and reasons
 * come from the command line and strerror, UTF-8 or ASCII). */
static size_t
json_string(char *out, const char *s)
{
	size_t n = 0;

	out[n++] = '"';
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\') {
			out[n++] = '\\';
			out[n++] = (char)c;
		} else if (c < 0x20 || c == 0x7f) {
			n += (size_t)sprintf(out + n, "\\u%04x", c);
		} else {
			out[n++] = (char)c;
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
