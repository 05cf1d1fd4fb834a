#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"

/* A test program's own counters: one program, one run, no threads. */
static int tests, failures;
static char *found; /* tap_want()'s last answer */

void
tap_ok(int pass, const char *fmt, ...)
{
	va_list ap;

	tests++;
	if (!pass)
		failures++;
	printf("%sok %d ", pass ? "" : "not ", tests);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout); /* what passed stays on record if the next one dies */
}

void
tap_escape(char *out, size_t cap, const char *in, size_t n)
{
	size_t i, o = 0;

	for (i = 0; i < n && o + 5 <= cap; i++) {
		unsigned char c = (unsigned char)in[i];
		const char *e = c == '\r'   ? "\\r"
				: c == '\n' ? "\\n"
				: c == '\t' ? "\\t"
				: c == '\\' ? "\\\\"
					    : NULL;

		if (e != NULL)
			o += (size_t)sprintf(out + o, "%s", e);
		else if (c < 0x20 || c >= 0x7f)
			o += (size_t)sprintf(out + o, "\\x%02x", c);
		else
			out[o++] = (char)c;
	}
	if (cap > 0)
		out[o < cap ? o : cap - 1] = '\0';
}

void
tap_same(const char *name, const char *got, size_t gotlen, const char *want,
	 size_t wantlen)
{
	static char line[4 * 8192 + 1];
	int same = gotlen == wantlen && memcmp(got, want, gotlen) == 0;

	tap_ok(same, "%s", name);
	if (same)
		return;
	tap_escape(line, sizeof(line), want, wantlen);
	printf("#   want: %s\n", line);
	tap_escape(line, sizeof(line), got, gotlen);
	printf("#   got:  %s\n", line);
}

int
tap_end(void)
{
	free(found);
	found = NULL;
	printf("1..%d\n", tests);
	return failures > 0;
}

char *
tap_copy(const char *p, size_t n)
{
	char *copy = malloc(n ? n : 1);

	if (copy == NULL)
		abort();
	memcpy(copy, p, n);
	return copy;
}

static int
hex(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* In place: the result is never longer than its spelling. */
static size_t
unescape(char *s)
{
	char *in = s, *out = s;

	while (*in != '\0') {
		if (*in != '\\' || in[1] == '\0') {
			*out++ = *in++;
			continue;
		}
		in++;
		if (*in == 'x' && hex(in[1]) >= 0 && hex(in[2]) >= 0) {
			*out++ = (char)(hex(in[1]) * 16 + hex(in[2]));
			in += 3;
			continue;
		}
		*out++ = *in == 'r'   ? '\r'
			 : *in == 'n' ? '\n'
			 : *in == 't' ? '\t'
			 : *in == '0' ? '\0'
				      : *in;
		in++;
	}
	*out = '\0';
	return (size_t)(out - s);
}

void
tap_golden(const char *name,
	   void (*each)(const char *key, size_t keylen, const char *want,
			size_t wantlen, void *ctx),
	   void *ctx)
{
	const char *dir = getenv("UNIT_DIR");
	char path[4096], *line = NULL, *tab;
	size_t cap = 0, keylen;
	ssize_t n;
	FILE *f;
	int lineno = 0;

	snprintf(path, sizeof(path), "%s/%s", dir ? dir : "tests/unit", name);
	f = fopen(path, "r");
	if (f == NULL) {
		tap_ok(0, "%s: cannot be read", path);
		return;
	}
	while ((n = getline(&line, &cap, f)) > 0) {
		lineno++;
		if (line[n - 1] == '\n')
			line[--n] = '\0';
		if (n == 0 || line[0] == '#')
			continue;
		tab = strchr(line, '\t');
		if (tab == NULL) {
			tap_ok(0, "%s:%d: no TAB between key and want", path,
			       lineno);
			continue;
		}
		*tab = '\0';
		keylen = unescape(line);
		each(line, keylen, tab + 1, unescape(tab + 1), ctx);
	}
	free(line);
	fclose(f);
}

struct lookup {
	const char *key;
	size_t wantlen;
	int hits;
};

static void
take(const char *key, size_t keylen, const char *want, size_t wantlen,
     void *ctx)
{
	struct lookup *l = ctx;

	if (keylen != strlen(l->key) || memcmp(key, l->key, keylen) != 0)
		return;
	l->hits++;
	free(found);
	found = malloc(wantlen + 1);
	if (found == NULL)
		abort();
	memcpy(found, want, wantlen);
	found[wantlen] = '\0';
	l->wantlen = wantlen;
}

const char *
tap_want(const char *name, const char *key, size_t *wantlen)
{
	struct lookup l = {key, 0, 0};

	free(found);
	found = NULL;
	tap_golden(name, take, &l);
	if (l.hits != 1) {
		tap_ok(0, "%s: %d lines for %s", name, l.hits, key);
		free(found);
		found = NULL;
		return NULL;
	}
	*wantlen = l.wantlen;
	return found;
}
