/* Unit tests of report: verdicts built by hand, written as text lines, as
 * JSON and as health+json, against golden answers (report.golden). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/report.h"
#include "tap.h"

/* The fields report reads, and only those: one place to follow a change
 * of struct check_spec or struct check_result (one line each, where
 * clang-format would spread them over four). */
/* clang-format off */
#define SPEC(kind, what) {.type = (kind), .target = (what)}
#define PASSED(msecs) {.ok = 1, .ms = (msecs)}
#define FAILED(msecs, why) {.ok = 0, .ms = (msecs), .reason = why}
/* clang-format on */

static struct report_case {
	const char *name;
	int ok;
	size_t n;
	struct check_spec specs[4];
	struct check_result results[4];
} cases[] = {
	{"pass",
	 1,
	 2,
	 {SPEC(CHECK_TCP, "127.0.0.1:2181"),
	  SPEC(CHECK_SCRIPT, "/usr/lib/health-checker/checks/zk-ruok")},
	 {PASSED(0), PASSED(12)}},
	{"fail",
	 0,
	 4,
	 {SPEC(CHECK_TCP, "[::1]:5432"), SPEC(CHECK_SCRIPT, "/bin/false"),
	  SPEC(CHECK_HTTP, "http://127.0.0.1:8080/health"),
	  SPEC(CHECK_UNIX, "@abstract")},
	 {PASSED(1), FAILED(3, "exit status 1"), FAILED(5000, "timed out"),
	  FAILED(0, "refused")}},
	{"escape",
	 0,
	 2,
	 {SPEC(CHECK_SCRIPT, "/opt/a\"b\\c\t\x01\x7f\xc3\xa9"),
	  SPEC(CHECK_UNIX, "/run/\xff.sock")},
	 {FAILED(7, "said \"no\"\nthen \\ left"), PASSED(2)}},
	/* UTF-8 passes; any byte outside a well-formed sequence (a stray
	 * byte, overlong, a surrogate, above U+10FFFF, cut short) is a
	 * U+FFFD each in JSON, and as it is in text. */
	{"utf8",
	 0,
	 2,
	 {SPEC(CHECK_UNIX, "/run/\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80.sock"),
	  SPEC(CHECK_SCRIPT, "/opt/\xff\xc0\xaf\xed\xa0\x80\xf4\x90\x80\x80"
			     "\xc3(\xe2\x82")},
	 {PASSED(1), FAILED(2, "exit status 1")}},
	{"no-reason", 0, 1, {SPEC(CHECK_TCP, "10.0.0.1:80")}, {FAILED(1, "")}},
	/* Two checks of one target, and the types interleaved: each NAME its
	 * type's rank. */
	{"shared",
	 0,
	 4,
	 {SPEC(CHECK_TCP, "127.0.0.1:80"), SPEC(CHECK_SCRIPT, "/bin/true"),
	  SPEC(CHECK_TCP, "127.0.0.1:80"), SPEC(CHECK_SCRIPT, "/bin/true")},
	 {PASSED(1), PASSED(2), FAILED(3, "refused"), PASSED(4)}},
};

/* 14 Nov 2023 22:13:20.042 UTC: every check's "time" in health+json. */
#define WHEN_MS 1700000000042LL

static void
golden(const char *name, const char *what, const char *got, size_t len)
{
	char key[64], label[80];
	const char *want;
	size_t wantlen = 0;

	snprintf(key, sizeof(key), "%s-%s", what, name);
	snprintf(label, sizeof(label), "report %s", key);
	want = tap_want("report.golden", key, &wantlen);
	if (got == NULL)
		tap_ok(0, "%s: out of memory", label);
	else if (want != NULL)
		tap_same(label, got, len, want, wantlen);
}

static void
test_case(struct report_case *c)
{
	struct options o = {.checks = c->specs, .nchecks = c->n};
	struct verdict v = {.ok = c->ok, .n = c->n, .results = c->results};
	char line[512];
	size_t len = 0, i;
	char *out;

	out = report_text(&o, &v, &len);
	golden(c->name, "text", out, len);
	free(out);
	out = report_json(&o, &v, &len);
	golden(c->name, "json", out, len);
	free(out);
	out = report_health_json(&o, &v, WHEN_MS, &len);
	golden(c->name, "health", out, len);
	free(out);
	for (i = 0; i < c->n; i++) {
		int n = report_line(line, sizeof(line), &c->specs[i],
				    &c->results[i]);
		char what[32];

		snprintf(what, sizeof(what), "line%zu", i);
		golden(c->name, what, line, n < 0 ? 0 : (size_t)n);
	}
}

/* A line cut short says how long it would have been, and ends in NUL. */
static void
test_line_cut(void)
{
	char out[8];
	int n = report_line(out, sizeof(out), &cases[1].specs[1],
			    &cases[1].results[1]);

	tap_ok(n == (int)strlen("fail script /bin/false 3ms exit status 1") &&
		       strcmp(out, "fail sc") == 0,
	       "report_line: cut at its buffer, full length returned");
}

static size_t
count(const char *s, size_t len, const char *what)
{
	size_t n = 0, w = strlen(what);
	const char *p;

	for (p = s; p + w <= s + len; p++)
		if (memcmp(p, what, w) == 0)
			n++;
	return n;
}

/* The longest target and reason, every byte of them escaped six-fold:
 * the buffer sized for the worst case holds them (ASan watches). */
static void
test_worst(void)
{
	enum { TARGET = 4096 };
	char *target = malloc(TARGET + 1), *out;
	struct check_spec spec[2] = {SPEC(CHECK_SCRIPT, target),
				     SPEC(CHECK_TCP, target)};
	struct check_result r[2] = {FAILED(1, ""), FAILED(2, "")};
	struct options o = {.checks = spec, .nchecks = 2};
	struct verdict v = {.ok = 0, .n = 2, .results = r};
	size_t len = 0;

	if (target == NULL)
		abort();
	memset(target, '\x01', TARGET);
	target[TARGET] = '\0';
	memset(r[0].reason, '\x1f', sizeof(r[0].reason) - 1);
	memset(r[1].reason, '"', sizeof(r[1].reason) - 1);
	out = report_json(&o, &v, &len);
	tap_ok(out != NULL && count(out, len, "\\u0001") == 2 * TARGET &&
		       count(out, len, "\\u001f") == sizeof(r[0].reason) - 1 &&
		       count(out, len, "\\\"") == sizeof(r[1].reason) - 1 &&
		       len == strlen(out),
	       "report_json: the longest target and reason, all escaped");
	free(out);
	out = report_health_json(&o, &v, WHEN_MS, &len);
	tap_ok(out != NULL && count(out, len, "\\u0001") == 2 * TARGET &&
		       count(out, len, "\\u001f") == sizeof(r[0].reason) - 1 &&
		       count(out, len, "\\\"") == sizeof(r[1].reason) - 1 &&
		       len == strlen(out),
	       "report_health_json: the longest target and reason, all "
	       "escaped");
	free(out);
	out = report_text(&o, &v, &len);
	tap_ok(out != NULL &&
		       len == strlen(REPORT_FAIL "\n"
						 "fail script  1ms \n"
						 "fail tcp  2ms \n") +
				       2 * (TARGET + sizeof(r[0].reason) - 1),
	       "report_text: the longest target and reason");
	free(out);
	free(target);
}

int
main(void)
{
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		test_case(&cases[i]);
	test_line_cut();
	test_worst();
	return tap_end();
}
