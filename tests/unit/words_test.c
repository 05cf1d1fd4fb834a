/* Unit tests of words: golden command lines split into words, or refused
 * with their reason. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/words.h"
#include "tap.h"

/* The words as "[w1] [w2]", or "error: REASON"; "bad vector" when the
 * count and the NULL after the last word disagree. */
static size_t
split(char *out, size_t cap, const char *s)
{
	char **argv = NULL;
	const char *err = NULL;
	size_t argc = 0, i, n = 0;

	if (words_split(s, &argv, &argc, &err) != 0)
		return (size_t)snprintf(out, cap, "error: %s", err);
	for (i = 0; i < argc && argv[i] != NULL && n < cap; i++)
		n += (size_t)snprintf(out + n, cap - n, "%s[%s]", i ? " " : "",
				      argv[i]);
	if (i != argc || argv[argc] != NULL)
		n = (size_t)snprintf(out, cap, "bad vector");
	free(argv);
	return n < cap ? n : cap - 1;
}

static void
split_case(const char *key, size_t keylen, const char *want, size_t wantlen,
	   void *ctx)
{
	char got[1024], name[128], esc[80];
	char *s = tap_copy(key, keylen + 1); /* its NUL the last byte */

	(void)ctx;
	tap_escape(esc, sizeof(esc), key, keylen);
	snprintf(name, sizeof(name), "words_split %s", esc);
	tap_same(name, got, split(got, sizeof(got), s), want, wantlen);
	free(s);
}

/* The most words a line can hold, and the most bytes: the one block that
 * holds both must be large enough. */
static void
test_worst(void)
{
	enum { N = 2000 };
	char *s = malloc(2 * N), **argv = NULL;
	const char *err = NULL;
	size_t argc = 0, i;
	int good;

	if (s == NULL)
		abort();
	for (i = 0; i < N; i++) {
		s[2 * i] = (char)('a' + i % 26);
		s[2 * i + 1] = ' ';
	}
	s[2 * N - 1] = '\0';
	good = words_split(s, &argv, &argc, &err) == 0 && argc == N &&
	       argv[N] == NULL && strcmp(argv[N - 1], "x") == 0;
	tap_ok(good, "words_split: %d one-byte words", N);
	free(argv);
	memset(s, '\'', 2 * N - 2);
	s[2 * N - 2] = '\0';
	good = words_split(s, &argv, &argc, &err) == 0 && argc == 1 &&
	       argv[0][0] == '\0';
	tap_ok(good, "words_split: %d quotes make one empty word", 2 * N - 2);
	free(argv);
	free(s);
}

int
main(void)
{
	tap_golden("words.golden", split_case, NULL);
	test_worst();
	return tap_end();
}
