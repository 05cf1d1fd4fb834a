#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "words.h"

static int
is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\n';
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
		while (*p != '\0' && !is_blank(*p)) {
			if (*p == '\'') {
				const char *end = strchr(p + 1, '\'');

				if (end == NULL) {
					*err = "unterminated single quote";
					goto fail;
				}
				memcpy(out, p + 1, (size_t)(end - p - 1));
				out += end - p - 1;
				p = end + 1;
			} else if (*p == '"') {
				for (p++; *p != '"'; p++) {
					if (*p == '\0') {
						*err = "unterminated double "
						       "quote";
						goto fail;
					}
					/* Inside "..", a backslash quotes
					 * only $ ` " \ and newline. */
					if (*p == '\\' &&
					    strchr("$`\"\\\n", p[1]) != NULL &&
					    p[1] != '\0') {
						p++;
						if (*p == '\n')
							continue;
					}
					*out++ = *p;
				}
				p++;
			} else if (*p == '\\') {
				if (p[1] == '\0') {
					*err = "trailing backslash";
					goto fail;
				}
				if (p[1] != '\n')
					*out++ = p[1];
				p += 2;
			} else {
				*out++ = *p++;
			}
		}
		*out++ = '\0';
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
