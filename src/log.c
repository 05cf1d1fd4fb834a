#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

/* Room for 4 KiB of escaped script output, and the prefixes. */
#define LINE_MAX_BYTES 24576
#define SYSLOG_PATH "/dev/log"
/* The longest line format() makes (prefixes included). */
#define PENDING_MAX (LINE_MAX_BYTES + 128)

enum sink { SINK_STDERR, SINK_JOURNAL, SINK_SYSLOG };

/* The only globals besides signal flags: where log lines go, how many, and
 * what could not be written yet.  Writes never block: a reader that stops
 * reading costs lines, never an answer. */
static enum sink sink = SINK_STDERR;
static enum log_level threshold = LOGLVL_INFO;
static int out_fd = STDERR_FILENO; /* -1: syslog not connected yet */
static int out_socket;             /* send() with MSG_DONTWAIT */
static int out_poll;               /* a pipe or tty we could not reopen */
static int out_reopen;        /* a pipe or tty, reopened at the first line */
static int syslog_stream;     /* /dev/log is a stream socket */
static unsigned long dropped; /* lines lost since the last one out */
/* The rest of a line half out, from malloc at the first such line: in
 * .bss its 24 KiB would push libc's own variables onto a page of their
 * own, which every process (a healthy one-shot logs nothing) would then
 * fault in. */
static char *pending_buf;
static char pending_end[1]; /* without pending_buf: the line's last byte */
static const char *pending; /* one or the other */
static size_t pending_len, pending_off;

static const char *const level_names[] = {
	[LOGLVL_PANIC] = "panic",   [LOGLVL_FATAL] = "fatal",
	[LOGLVL_ERROR] = "error",   [LOGLVL_WARN] = "warning",
	[LOGLVL_NOTICE] = "notice", [LOGLVL_INFO] = "info",
	[LOGLVL_DEBUG] = "debug",
};

static const int level_priority[] = {
	[LOGLVL_PANIC] = LOG_EMERG,   [LOGLVL_FATAL] = LOG_CRIT,
	[LOGLVL_ERROR] = LOG_ERR,     [LOGLVL_WARN] = LOG_WARNING,
	[LOGLVL_NOTICE] = LOG_NOTICE, [LOGLVL_INFO] = LOG_INFO,
	[LOGLVL_DEBUG] = LOG_DEBUG,
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

/* A pipe or a terminal on fd 2: a description of our own, opened anew and
 * non-blocking, so that others who share fd 2's (a shell, a supervisor)
 * keep theirs blocking.  Done at the first line: a process that logs
 * nothing (a one-shot at the default level, healthy) pays nothing. */
static void
reopen_stderr(void)
{
	int fd;

	out_reopen = 0;
	fd = open("/proc/self/fd/2",
		  O_WRONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	if (fd == -1) {
		/* No /proc, or another user's pipe: poll() before each
		 * write then. */
		out_poll = 1;
		return;
	}
	out_fd = fd;
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
		out_socket = S_ISSOCK(st.st_mode);
	} else if (S_ISSOCK(st.st_mode) && is_connection(&st)) {
		/* inetd, xinetd and Accept=yes units without a journal hand
		 * the client's socket on fd 2: a log byte there would reach
		 * the load balancer. */
		sink = SINK_SYSLOG;
	} else {
		sink = SINK_STDERR;
		out_socket = S_ISSOCK(st.st_mode);
		/* A file never says EAGAIN. */
		out_reopen = S_ISFIFO(st.st_mode) || S_ISCHR(st.st_mode);
	}
	if (sink == SINK_SYSLOG) {
		out_fd = -1;
		out_socket = 1;
	}
}

/* syslog(3) would block in send() when the daemon stops reading: our own
 * client, on a non-blocking socket. */
static int
syslog_connect(void)
{
	struct sockaddr_un sun;
	int type;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, SYSLOG_PATH, sizeof(SYSLOG_PATH));
	for (type = SOCK_DGRAM;; type = SOCK_STREAM) {
		int fd =
			socket(AF_UNIX, type | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

		if (fd == -1)
			return -1;
		if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0) {
			out_fd = fd;
			syslog_stream = type == SOCK_STREAM;
			return 0;
		}
		close(fd);
		if (errno != EPROTOTYPE || type == SOCK_STREAM)
			return -1;
	}
}

/* One attempt, never blocking: bytes written, or -1 with errno. */
static ssize_t
sink_write(const char *p, size_t n)
{
	struct pollfd pfd;
	ssize_t w;

	if (sink == SINK_SYSLOG && out_fd == -1 && syslog_connect() == -1)
		return -1;
	if (out_reopen)
		reopen_stderr();
	if (out_socket) {
		w = send(out_fd, p, n, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (w == -1 && sink == SINK_SYSLOG &&
		    (errno == ECONNREFUSED || errno == ENOTCONN)) {
			/* The daemon restarted: once more, anew. */
			close(out_fd);
			out_fd = -1;
			if (syslog_connect() == 0)
				w = send(out_fd, p, n,
					 MSG_DONTWAIT | MSG_NOSIGNAL);
		}
		return w;
	}
	if (out_poll) {
		pfd.fd = out_fd;
		pfd.events = POLLOUT;
		if (poll(&pfd, 1, 0) != 1) {
			errno = EAGAIN;
			return -1;
		}
		/* A writable pipe has room for PIPE_BUF bytes, not for any
		 * line: the rest waits in pending. */
		if (n > PIPE_BUF)
			n = PIPE_BUF;
	}
	return write(out_fd, p, n);
}

/* Out with the rest of a line begun earlier; 0 once nothing is left. */
static int
flush_pending(void)
{
	while (pending_off < pending_len) {
		ssize_t n = sink_write(pending + pending_off,
				       pending_len - pending_off);

		if (n <= 0)
			return -1;
		pending_off += (size_t)n;
	}
	pending_len = pending_off = 0;
	return 0;
}

/* One whole line, or nothing but a count; a line half written is finished
 * before any other. */
static int
emit(const char *line, size_t len)
{
	ssize_t n;

	if (flush_pending() == -1)
		return -1;
	n = sink_write(line, len);
	if (n == (ssize_t)len)
		return 0;
	if (n <= 0)
		return -1;
	pending_off = 0;
	if (pending_buf == NULL)
		pending_buf = malloc(PENDING_MAX);
	if (pending_buf == NULL) {
		/* The middle of this line is lost, counted as a line lost;
		 * its last byte still ends it, for the next to begin a line. */
		pending_end[0] = line[len - 1];
		pending = pending_end;
		pending_len = 1;
		dropped++;
		return 0;
	}
	pending = pending_buf;
	pending_len = len - (size_t)n;
	memcpy(pending_buf, line + n, pending_len);
	return 0;
}

/* The line as the sink wants it: time and level for a terminal or file,
 * the <N> prefix for journald, RFC 3164 for syslog. */
static size_t
format(char *out, size_t cap, enum log_level level, const char *msg)
{
	char stamp[40];
	struct timespec ts;
	struct tm tm;
	int n;

	switch (sink) {
	case SINK_SYSLOG:
		clock_gettime(CLOCK_REALTIME, &ts);
		localtime_r(&ts.tv_sec, &tm);
		strftime(stamp, sizeof(stamp), "%b %e %H:%M:%S", &tm);
		n = snprintf(out, cap, "<%d>%s health-checker[%ld]: %s",
			     LOG_DAEMON | level_priority[level], stamp,
			     (long)getpid(), msg);
		/* A stream socket needs the end of each message marked. */
		if (syslog_stream && n >= 0 && (size_t)n + 1 < cap)
			out[n++] = '\0';
		break;
	case SINK_JOURNAL:
		n = snprintf(out, cap, "<%d>%s\n", level_priority[level], msg);
		break;
	default:
		clock_gettime(CLOCK_REALTIME, &ts);
		gmtime_r(&ts.tv_sec, &tm);
		strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
		n = snprintf(out, cap, "%s.%03ldZ %s %s\n", stamp,
			     ts.tv_nsec / 1000000, level_names[level], msg);
		break;
	}
	if (n < 0)
		return 0;
	if ((size_t)n >= cap) {
		n = (int)cap - 1;
		if (sink != SINK_SYSLOG)
			out[n - 1] = '\n';
	}
	return (size_t)n;
}

/* Says how many lines were lost, once the sink takes lines again. */
static int
say_dropped(void)
{
	char msg[128], line[256];
	size_t len;

	if (dropped == 0)
		return 0;
	snprintf(msg, sizeof(msg),
		 "%lu log line%s dropped: the log reader was not keeping up",
		 dropped, dropped == 1 ? "" : "s");
	len = format(line, sizeof(line), LOGLVL_WARN, msg);
	if (emit(line, len) == -1)
		return -1;
	dropped = 0;
	return 0;
}

/* The length of the UTF-8 character at p[0..n) when it is one a log line
 * may carry as it is: well formed, shortest form, no surrogate, at most
 * U+10FFFF, and not a C1 control (U+0080-U+009F), which journald, like a
 * terminal, takes for binary.  0 when it is not. */
static size_t
utf8_len(const unsigned char *p, size_t n)
{
	unsigned long cp;
	size_t len, i;

	if (p[0] < 0xc2 || p[0] > 0xf4) /* ASCII, continuation, overlong */
		return 0;
	len = p[0] < 0xe0 ? 2 : p[0] < 0xf0 ? 3 : 4;
	if (n < len)
		return 0;
	cp = p[0] & (0x7f >> len);
	for (i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (p[i] & 0x3f);
	}
	if ((len == 2 && cp < 0xa0) || (len == 3 && cp < 0x800) ||
	    (len == 4 && cp < 0x10000) || (cp >= 0xd800 && cp <= 0xdfff) ||
	    cp > 0x10ffff)
		return 0;
	return len;
}

/* in[0..n) into out: valid UTF-8 kept, every other byte of 0x80 and up and
 * every control byte as \xNN; quote, backslash and newline escaped too
 * when quoting (a value inside a log line), not when only cleaning (a
 * whole line, whose quotes are its own).  Whole characters or nothing. */
static size_t
escape(char *out, size_t cap, const char *in, size_t n, int quoting)
{
	const unsigned char *u = (const unsigned char *)in;
	size_t i, o = 0, len;

	if (cap == 0)
		return 0;
	for (i = 0; i < n; i += len) {
		unsigned char c = u[i];

		len = 1;
		if (c >= 0x80 && (len = utf8_len(u + i, n - i)) > 0) {
			if (o + len >= cap)
				break;
			memcpy(out + o, in + i, len);
			o += len;
			continue;
		}
		len = 1;
		if (o + 4 >= cap)
			break;
		if (quoting && c == '\n') {
			out[o++] = '\\';
			out[o++] = 'n';
		} else if (quoting && (c == '"' || c == '\\')) {
			out[o++] = '\\';
			out[o++] = (char)c;
		} else if (c < 0x20 || c >= 0x7f) {
			o += (size_t)snprintf(out + o, cap - o, "\\x%02x", c);
		} else {
			out[o++] = (char)c;
		}
	}
	out[o] = '\0';
	return o;
}

size_t
log_escape(char *out, size_t cap, const char *in, size_t n)
{
	return escape(out, cap, in, n, 1);
}

size_t
log_clean(char *out, size_t cap, const char *in, size_t n)
{
	return escape(out, cap, in, n, 0);
}

int
log_retry(void)
{
	if (flush_pending() == 0)
		say_dropped();
	return dropped > 0 || pending_len > 0;
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
	if (strcasecmp(name, "trace") == 0) {
		*level = LOGLVL_DEBUG;
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
	char msg[LINE_MAX_BYTES], line[PENDING_MAX];
	size_t len;
	va_list ap;
	int saved = errno;

	if (!log_enabled(level))
		return;
	/* Formatted into line first, as scratch: whatever reached it from
	 * outside (a reason, a path, a request's target) leaves it for msg
	 * valid UTF-8 without a control byte, since journald stores anything
	 * else as a blob no one reads. */
	va_start(ap, fmt);
	vsnprintf(line, sizeof(msg), fmt, ap);
	va_end(ap);
	escape(msg, sizeof(msg), line, strlen(line), 0);
	len = format(line, sizeof(line), level, msg);
	if (flush_pending() == -1 || say_dropped() == -1 ||
	    emit(line, len) == -1)
		dropped++;
	errno = saved;
}
