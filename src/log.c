#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

enum sink { SINK_STDERR, SINK_JOURNAL, SINK_SYSLOG };

/* The only globals besides signal flags: where log lines go and how many. */
static enum sink sink = SINK_STDERR;
static enum log_level threshold = LOGLVL_INFO;

static const char *const level_names[] = {
	[LOGLVL_PANIC] = "panic", [LOGLVL_FATAL] = "fatal",
	[LOGLVL_ERROR] = "error", [LOGLVL_WARN] = "warning",
	[LOGLVL_INFO] = "info",   [LOGLVL_DEBUG] = "debug",
};

static const int level_priority[] = {
	[LOGLVL_PANIC] = LOG_EMERG, [LOGLVL_FATAL] = LOG_CRIT,
	[LOGLVL_ERROR] = LOG_ERR,   [LOGLVL_WARN] = LOG_WARNING,
	[LOGLVL_INFO] = LOG_INFO,   [LOGLVL_DEBUG] = LOG_DEBUG,
};

/* JOURNAL_STREAM is "DEV:INO" of the stream systemd connected to stderr. */
static int
journal_is_stderr(const struct stat *st)
{
	const char *js = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	char tail;

	if (js == NULL || sscanf(js, "%llu:%llu%c", &dev, &ino, &tail) != 2)
		return 0;
	return (unsigned long long)st->st_dev == dev &&
	       (unsigned long long)st->st_ino == ino;
}

/* Whether fd 2 is the socket a client talks on: the same as fd 0 or 1
 * (inetd) or fd 3 (socket activation). */
static int
is_connection(const struct stat *err)
{
	struct stat st;
	int fd;

	for (fd = 0; fd <= 3; fd++) {
		if (fd == STDERR_FILENO || fstat(fd, &st) == -1)
			continue;
		if (st.st_dev == err->st_dev && st.st_ino == err->st_ino)
			return 1;
	}
	return 0;
}

void
log_open(void)
{
	struct stat st;

	if (fstat(STDERR_FILENO, &st) == -1) {
		/* Nothing to write to; fd 2 may soon be something else. */
		sink = SINK_SYSLOG;
	} else if (journal_is_stderr(&st)) {
		sink = SINK_JOURNAL;
	} else if (S_ISSOCK(st.st_mode) && is_connection(&st)) {
		/* inetd, xinetd and Accept=yes units without a journal hand
		 * the client's socket on fd 2: a log byte there would reach
		 * the load balancer. */
		sink = SINK_SYSLOG;
	} else {
		sink = SINK_STDERR;
	}
	if (sink == SINK_SYSLOG)
		openlog("health-checker", LOG_PID, LOG_DAEMON);
}

void
log_set_level(enum log_level level)
{
	threshold = level;
}

int
log_enabled(enum log_level level)
{
	return level <= threshold;
}

int
log_is_stderr(void)
{
	return sink == SINK_STDERR;
}

int
log_level_parse(const char *name, enum log_level *level)
{
	size_t i;

	if (strcasecmp(name, "warn") == 0) {
		*level = LOGLVL_WARN;
		return 0;
	}
	for (i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
		if (strcasecmp(name, level_names[i]) == 0) {
			*level = (enum log_level)i;
			return 0;
		}
	}
	return -1;
}

void
log_msg(enum log_level level, const char *fmt, ...)
{
	char line[24576]; /* room for 4 KiB of escaped script output */
	char stamp[40];
	struct timespec ts;
	struct tm tm;
	va_list ap;
	int saved = errno;

	if (!log_enabled(level))
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);

	switch (sink) {
	case SINK_SYSLOG:
		syslog(level_priority[level], "%s", line);
		break;
	case SINK_JOURNAL:
		dprintf(STDERR_FILENO, "<%d>%s\n", level_priority[level], line);
		break;
	case SINK_STDERR:
		clock_gettime(CLOCK_REALTIME, &ts);
		gmtime_r(&ts.tv_sec, &tm);
		strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
		dprintf(STDERR_FILENO, "%s.%03ldZ %s %s\n", stamp,
			ts.tv_nsec / 1000000, level_names[level], line);
		break;
	}
	errno = saved;
}
