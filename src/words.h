/* words: split a --script command line as a POSIX shell splits words with
 * quotes ('..', "..", backslash) but no expansion of any kind.  Pure. */
#ifndef WORDS_H
#define WORDS_H

#include <stddef.h>

/* On success returns 0 and a NULL-terminated vector in *argv that one
 * free(*argv) releases.  On a syntax error returns -1 and *err says why. */
int words_split(const char *s, char ***argv, size_t *argc, const char **err);

#endif
