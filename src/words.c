#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "words.h"

static int
is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\n';
}

/* The quoted parts of a word: each copies what p quotes to *out and returns
 * the byte after its closing quote, or NULL when there is none. */
static const char *
single_quoted(const char *p, char **out)
{
	const char *end = strchr(p + 1, '\'');

	if (end == NULL)
		return NULL;
	memcpy(*out, p + 1, (size_t)(end - p - 1));
	*out += end - p - 1;
	return end + 1;
}

static const char *
double_quoted(const char *p, char **out)
{
	for (p++; *p != '"'; p++) {
		if (*p == '\0')
			return NULL;
		/* Inside "..", a backslash quotes only $ ` " \ and newline. */
		if (*p == '\\' && p[1] != '\0' && strchr("$`\"\\\n", p[1])) {
			p++;
			if (*p == '\n')
				continue;
		}
		*(*out)++ = *p;
	}
	return p + 1;
}

/* One word from p to *out, NUL-terminated: the byte after it, or NULL with
 * *err said. */
static const char *
word(const char *p, char **out, const char **err)
{
	while (*p != '\0' && !is_blank(*p)) {
		if (*p == '\'') {
			if ((p = single_quoted(p, out)) == NULL)
				*err = "unterminated single quote";
		} else if (*p == '"') {
			if ((p = double_quoted(p, out)) == NULL)
				*err = "unterminated double quote";
		} else if (*p == '\\') {
			if (p[1] == '\0') {
				*err = "trailing backslash";
				return NULL;
			}
			if (p[1] != '\n')
				*(*out)++ = p[1];
			p += 2;
		} else {
			*(*out)++ = *p++;
		}
		if (p == NULL)
			return NULL;
	}
	*(*out)++ = '\0';
	return p;
}

int
words_split(const char *s, char ***argvp, size_t *argcp, const char **err)
{
	size_t len = strlen(s);
	/* At most one word per two bytes plus one; the words' bytes never
	 * outnumber the input's, so one block holds vector and strings. */
	size_t maxw = len / 2 + 2;
	char **argv;
	char *out;
	size_t argc = 0;
	const char *p = s;

	if (maxw > (size_t)-1 / sizeof(char *) - len - 1) {
		*err = "command too long";
		return -1;
	}
	argv = malloc(maxw * sizeof(char *) + len + 1);
	if (argv == NULL) {
		*err = strerror(errno);
		return -1;
	}
	out = (char *)(argv + maxw);
	for (;;) {
		while (is_blank(*p))
			p++;
		if (*p == '\0')
			break;
		argv[argc++] = out;
		if ((p = word(p, &out, err)) == NULL)
			goto fail;
	}
	argv[argc] = NULL;
	if (argc == 0) {
		*err = "empty command";
		goto fail;
	}
	*argvp = argv;
	*argcp = argc;
	return 0;
fail:
	free(argv);
	return -1;
}
