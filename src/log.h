/* log: levelled, one line per event, to stderr, journald (<N> prefixes) or
 * syslog when stderr is the client's connection.  Never to the client, and
 * never blocking: lines a stalled reader cannot take are dropped and
 * counted, and the count is said once it reads again. */
#ifndef LOG_H
#define LOG_H

#include <stddef.h>

enum log_level {
	LOGLVL_PANIC,
	LOGLVL_FATAL,
	LOGLVL_ERROR,
	LOGLVL_WARN,
	LOGLVL_NOTICE, /* shown at info: a change of verdict back to healthy */
	LOGLVL_INFO,
	LOGLVL_DEBUG
};

/* Chooses the sink from what fd 2 is; call before anything opens fd 2. */
void log_open(void);
void log_set_level(enum log_level level);
int log_enabled(enum log_level level);
/* 0 when name is a level (panic fatal error warning warn info debug, and
 * trace as debug, as logrus has it). */
int log_level_parse(const char *name, enum log_level *level);
/* Non-zero when messages go to a plain stderr a person reads. */
int log_is_stderr(void);
void log_msg(enum log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* in[0..n) as part of one log line, NUL-terminated within cap: newline as
 * \n, quote and backslash escaped, other control bytes, C1 controls and
 * bytes that are not UTF-8 as \xNN each; valid UTF-8 kept.  Returns the
 * length written; what does not fit (whole characters) is left out.
 * log_msg() itself cleans every line the same way, quotes aside. */
size_t log_escape(char *out, size_t cap, const char *in, size_t n);
/* The same cleaning as log_msg() gives each line, quotes kept as they are:
 * for text that reaches stderr without log_msg() (a usage error). */
size_t log_clean(char *out, size_t cap, const char *in, size_t n);
/* Tries again to finish a half-written line and say how many were dropped;
 * non-zero while lines are still held up (call it again later). */
int log_retry(void);

#endif
