/* tap: what the unit tests print (TAP: "ok N name", "not ok N name", the
 * plan "1..N" last) and their golden files, one case a line, KEY<TAB>WANT. */
#ifndef TAP_H
#define TAP_H

#include <stddef.h>

/* One test: "ok N name" when pass, else "not ok N name". */
void tap_ok(int pass, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* One test that got[0..gotlen) is want[0..wantlen); on a mismatch both
 * follow as "#" lines, escaped as the golden files spell bytes. */
void tap_same(const char *name, const char *got, size_t gotlen,
	      const char *want, size_t wantlen);
/* Prints the plan; the exit status: 0 when every test passed. */
int tap_end(void);

/* Bytes as a golden file writes them: \r \n \t \\ and \xHH for any byte
 * outside printable ASCII; NUL-terminated within cap. */
void tap_escape(char *out, size_t cap, const char *in, size_t n);

/* A malloc'd copy of p[0..n), exactly n bytes (at least 1), so that ASan
 * sees any read past its end; aborts when out of memory. */
char *tap_copy(const char *p, size_t n);

/* Calls each() for every case of tests/unit/NAME (or $UNIT_DIR/NAME): a
 * line KEY<TAB>WANT, both unescaped (\r \n \t \\ \0 \xHH) and followed by
 * a NUL, comments (#) and blank lines skipped.  A file that cannot be read, or
 * a line without a TAB, is one failed test. */
void tap_golden(const char *name,
		void (*each)(const char *key, size_t keylen, const char *want,
			     size_t wantlen, void *ctx),
		void *ctx);
/* The WANT of one KEY in NAME; NULL (and a failed test) when absent.  The
 * string stays valid until the next call. */
const char *tap_want(const char *name, const char *key, size_t *wantlen);

#endif
