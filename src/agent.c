#include <errno.h>
#include <string.h>

#include "agent.h"

static const struct {
	const char *line; /* without '\n' */
	const char *name;
} words[] = {
	[AGENT_UP] = {"up ready", "up"},
	[AGENT_DOWN] = {"down", "down"},
	[AGENT_DRAIN] = {"drain", "drain"},
	[AGENT_SHORT_PROCS] = {"short-of-processes", "short"},
	[AGENT_SHORT_FDS] = {"short-of-descriptors", "short"},
	[AGENT_SHORT_MEMORY] = {"short-of-memory", "short"},
};

#define ELLIPSIS "..."

enum agent_word
agent_short(int err)
{
	return err == EAGAIN                    ? AGENT_SHORT_PROCS
	       : err == EMFILE || err == ENFILE ? AGENT_SHORT_FDS
						: AGENT_SHORT_MEMORY;
}

enum agent_word
agent_word_of(const struct verdict *v)
{
	if (v->ok)
		return AGENT_UP;
	if (v->ours)
		return agent_short(v->short_errno);
	return AGENT_DOWN;
}

const char *
agent_word_name(enum agent_word w)
{
	return words[w].name;
}

/* Appends s to out at *n, up to end; bytes HAProxy or a terminal could
 * take for something else (controls, '\n', anything not ASCII) become
 * '?'.  Returns 0 when s did not fit. */
static int
append(char *out, size_t *n, size_t end, const char *s)
{
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (*n == end)
			return 0;
		out[(*n)++] = c >= 0x20 && c < 0x7f ? (char)c : '?';
	}
	return 1;
}

/* "#tcp 127.0.0.1:80 connection refused; script /bin/x exit 1" after
 * "down ", each failing check as the verdict line of the log has it. */
static size_t
reason(char *out, size_t n, const struct options *o, const struct verdict *v)
{
	/* Room left for the ellipsis and the '\n'. */
	size_t end = AGENT_LINE_MAX - 1 - sizeof(ELLIPSIS);
	size_t i;
	int first = 1, fits = 1;

	for (i = 0; i < v->n && fits; i++) {
		const struct check_spec *spec = &o->checks[i];

		if (v->results[i].ok)
			continue;
		fits = append(out, &n, end, first ? " #" : "; ") &&
		       append(out, &n, end, check_type_name(spec->type)) &&
		       append(out, &n, end, " ") &&
		       append(out, &n, end, spec->target) &&
		       append(out, &n, end, " ") &&
		       append(out, &n, end, v->results[i].reason);
		first = 0;
	}
	if (!fits) {
		memcpy(out + n, ELLIPSIS, sizeof(ELLIPSIS) - 1);
		n += sizeof(ELLIPSIS) - 1;
	}
	return n;
}

size_t
agent_line(char *out, enum agent_word w, const struct options *o,
	   const struct verdict *v)
{
	size_t n = strlen(words[w].line);

	memcpy(out, words[w].line, n);
	if (w == AGENT_DOWN && v != NULL)
		n = reason(out, n, o, v);
	out[n++] = '\n';
	return n;
}
