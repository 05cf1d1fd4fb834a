#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "options.h"
#include "words.h"

#define MAX_SECONDS 3600
#define MAX_CONNECTIONS_LIMIT 10000

enum {
	OPT_PORT = 256,
	OPT_SCRIPT,
	OPT_SCRIPT_TIMEOUT,
	OPT_PORT_TIMEOUT,
	OPT_REQUEST_TIMEOUT,
	OPT_LISTENER,
	OPT_SINGLEFLIGHT,
	OPT_LOG_LEVEL,
	OPT_INETD,
	OPT_ONCE,
	OPT_LOCK_FILE,
	OPT_MAX_CONNECTIONS,
	OPT_VERSION,
	OPT_HELP,
	OPT_DETAILS,
	OPT_MAINTENANCE_FILE,
	OPT_FAIL_STATUS,
	OPT_CACHE_TTL,
	OPT_HTTP,
	OPT_HTTP_TIMEOUT,
	OPT_UNIX
};

static const struct option longopts[] = {
	{"port", required_argument, NULL, OPT_PORT},
	{"script", required_argument, NULL, OPT_SCRIPT},
	{"script-timeout", required_argument, NULL, OPT_SCRIPT_TIMEOUT},
	{"port-timeout", required_argument, NULL, OPT_PORT_TIMEOUT},
	{"request-timeout", required_argument, NULL, OPT_REQUEST_TIMEOUT},
	{"listener", required_argument, NULL, OPT_LISTENER},
	{"singleflight", optional_argument, NULL, OPT_SINGLEFLIGHT},
	{"log-level", required_argument, NULL, OPT_LOG_LEVEL},
	{"inetd", optional_argument, NULL, OPT_INETD},
	{"once", optional_argument, NULL, OPT_ONCE},
	{"lock-file", required_argument, NULL, OPT_LOCK_FILE},
	{"max-connections", required_argument, NULL, OPT_MAX_CONNECTIONS},
	{"version", optional_argument, NULL, OPT_VERSION},
	{"help", optional_argument, NULL, OPT_HELP},
	{"details", optional_argument, NULL, OPT_DETAILS},
	{"maintenance-file", required_argument, NULL, OPT_MAINTENANCE_FILE},
	{"fail-status", required_argument, NULL, OPT_FAIL_STATUS},
	{"cache-ttl", required_argument, NULL, OPT_CACHE_TTL},
	{"http", required_argument, NULL, OPT_HTTP},
	{"http-timeout", required_argument, NULL, OPT_HTTP_TIMEOUT},
	{"unix", required_argument, NULL, OPT_UNIX},
	{NULL, 0, NULL, 0},
};

static const char help_text[] =
	"Usage: health-checker [OPTIONS]\n"
	"\n"
	"Answers an HTTP request with 200 OK when every check passes and 504\n"
	"when any fails.  Run from inetd, xinetd or systemd socket "
	"activation\n"
	"(one request per process) or as a standalone server.\n"
	"\n"
	"Checks (at least one):\n"
	"  --port PORT|HOST:PORT|[IPv6]:PORT\n"
	"                          TCP connect check; bare PORT is "
	"127.0.0.1 (repeatable)\n"
	"  --script \"CMD ARGS\"     run CMD (PATH lookup, no shell); passes "
	"on exit 0\n"
	"                          (repeatable)\n"
	"  --http http://HOST[:PORT][/PATH]\n"
	"                          GET; passes on a 2xx or 3xx status "
	"(repeatable)\n"
	"  --unix PATH|@NAME       passes when a unix stream socket accepts "
	"(repeatable)\n"
	"Deadlines (seconds, decimals allowed, at most 3600):\n"
	"  --script-timeout SECONDS  every script's deadline (default 5)\n"
	"  --port-timeout SECONDS    every TCP connect's deadline (default 5)\n"
	"  --request-timeout SECONDS deadline to receive the request head "
	"(default 5)\n"
	"  --http-timeout SECONDS    every --http check's deadline (default "
	"5)\n"
	"Modes:\n"
	"  --once                  run the checks once, print the results, "
	"exit 0 if\n"
	"                          healthy, 1 if not; no HTTP\n"
	"  --inetd                 answer one request on stdin/stdout "
	"(automatic when\n"
	"                          stdin is a socket)\n"
	"  --listener ADDR:PORT    standalone server address (default :5000,\n"
	"                          every address, IPv4 and IPv6)\n"
	"  --max-connections N     standalone: requests in progress at once "
	"(default 64)\n"
	"Answers:\n"
	"  --details               list every check in the body (JSON with "
	"Accept:\n"
	"                          application/json) (default off)\n"
	"  --fail-status CODE      status when unhealthy: 504, 503 or 500 "
	"(default 504)\n"
	"  --maintenance-file PATH while PATH exists, answer 503 Maintenance "
	"without\n"
	"                          running the checks (default none)\n"
	"  --cache-ttl SECONDS     serve a result younger than this, across "
	"processes\n"
	"                          (default 0: off)\n"
	"Other:\n"
	"  --singleflight          concurrent requests share one run of the "
	"checks,\n"
	"                          across processes too (default off)\n"
	"  --lock-file PATH        singleflight state file (default "
	"$RUNTIME_DIRECTORY,\n"
	"                          else /run/health-checker/, else a private "
	"dir in /tmp)\n"
	"  --log-level LEVEL       panic, fatal, error, warning (warn), info, "
	"debug,\n"
	"                          trace (= debug) (default info)\n"
	"Flags without a value also take =true or =false "
	"(--singleflight=true).\n"
	"  --version               print the version and exit\n"
	"  --help                  print this help and exit\n";

void
options_help(FILE *f)
{
	fputs(help_text, f);
}

static void usage(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void
usage(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* SECONDS: digits with an optional fraction, > 0, <= MAX_SECONDS; strtod
 * would take "inf", "1e3" and " -1", which are no deadline. */
static int
parse_seconds(const char *s, int *ms, int allow_zero)
{
	long long v = 0;
	int digits = 0, place = 0, rest = 0;
	const char *p = s;

	for (; *p >= '0' && *p <= '9'; p++, digits++) {
		v = v * 10 + (*p - '0');
		if (v > MAX_SECONDS)
			return -1;
	}
	v *= 1000;
	if (*p == '.') {
		static const int scale[] = {100, 10, 1};

		for (p++; *p >= '0' && *p <= '9'; p++, digits++, place++) {
			if (place < 3)
				v += (long long)(*p - '0') * scale[place];
			else if (*p != '0')
				rest = 1; /* below a millisecond: round up */
		}
	}
	v += rest;
	if (*p != '\0' || digits == 0 || (v == 0 && !allow_zero) ||
	    v > (long long)MAX_SECONDS * 1000)
		return -1;
	*ms = (int)v;
	return 0;
}

/* A flag's value: none (it is given, so true), or what Go's
 * strconv.ParseBool takes, which the original's command line did. */
static int
parse_bool(const char *name, const char *arg, int *out, char *err,
	   size_t errlen)
{
	static const char *const yes[] = {"1",    "t",    "T",
					  "true", "TRUE", "True"};
	static const char *const no[] = {"0",     "f",     "F",
					 "false", "FALSE", "False"};
	size_t i;

	if (arg == NULL) {
		*out = 1;
		return 0;
	}
	for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (strcmp(arg, yes[i]) == 0) {
			*out = 1;
			return 0;
		}
		if (strcmp(arg, no[i]) == 0) {
			*out = 0;
			return 0;
		}
	}
	usage(err, errlen, "invalid %s \"%s\": expected true or false", name,
	      arg);
	return -1;
}

static int
parse_uint(const char *s, long max, long *out)
{
	long v = 0;

	if (*s == '\0')
		return -1;
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		v = v * 10 + (*s - '0');
		if (v > max)
			return -1;
	}
	*out = v;
	return 0;
}

/* Splits "HOST:PORT", "[V6]:PORT" or ":PORT" into host (maybe "") and port;
 * returns -1 when the shape is wrong.  host is a copy in buf. */
static int
split_hostport(const char *s, char *buf, size_t buflen, const char **host,
	       const char **port, int *bracketed)
{
	const char *colon;
	size_t hlen;

	*bracketed = 0;
	if (s[0] == '[') {
		const char *end = strchr(s, ']');

		if (end == NULL || end[1] != ':')
			return -1;
		hlen = (size_t)(end - s - 1);
		if (hlen == 0 || hlen >= buflen)
			return -1;
		memcpy(buf, s + 1, hlen);
		colon = end + 1;
		*bracketed = 1;
	} else {
		colon = strrchr(s, ':');
		if (colon == NULL || memchr(s, ':', (size_t)(colon - s)))
			return -1;
		hlen = (size_t)(colon - s);
		if (hlen >= buflen)
			return -1;
		memcpy(buf, s, hlen);
	}
	buf[hlen] = '\0';
	*host = buf;
	*port = colon + 1;
	return 0;
}

static int
port_number(const char *s)
{
	long v;

	if (parse_uint(s, 65535, &v) == -1)
		return -1;
	return (int)v;
}

static int
add_check(struct options *o, struct check_spec **out)
{
	struct check_spec *c;

	c = realloc(o->checks, (o->nchecks + 1) * sizeof(*c));
	if (c == NULL)
		return -1;
	o->checks = c;
	*out = &c[o->nchecks++];
	memset(*out, 0, sizeof(**out));
	return 0;
}

/* An address is parsed now; a name is only kept, for every run to look up
 * within its own deadline (a moved address is followed, a resolver that
 * hangs fails that check, never the start).  bracketed: IPv6 only. */
static int
set_target_host(struct check_spec *c, const char *opt, const char *arg,
		const char *host, const char *port, int bracketed, char *err,
		size_t errlen)
{
	struct addrinfo hints, *res;
	int rc;

	snprintf(c->port, sizeof(c->port), "%s", port);
	/* IPv4, the common case, without getaddrinfo (and the stack and code
	 * it brings into every one-shot); the forms it takes ("127.1") too. */
	if (!bracketed) {
		struct sockaddr_in *sin;

		c->addrs = calloc(1, sizeof(*c->addrs));
		if (c->addrs == NULL) {
			usage(err, errlen, "%s \"%s\": out of memory", opt,
			      arg);
			return -1;
		}
		sin = (struct sockaddr_in *)&c->addrs[0].ss;
		if (inet_aton(host, &sin->sin_addr) != 0) {
			sin->sin_family = AF_INET;
			sin->sin_port = htons((unsigned short)atoi(port));
			c->addrs[0].len = sizeof(*sin);
			c->naddrs = 1;
			return 0;
		}
		free(c->addrs);
		c->addrs = NULL;
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = bracketed ? AF_INET6 : AF_INET;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV | AI_NUMERICHOST;
	rc = getaddrinfo(host, port, &hints, &res);
	if (rc == 0) {
		c->addrs = calloc(1, sizeof(*c->addrs));
		if (c->addrs == NULL) {
			freeaddrinfo(res);
			usage(err, errlen, "%s \"%s\": out of memory", opt,
			      arg);
			return -1;
		}
		memcpy(&c->addrs[0].ss, res->ai_addr, res->ai_addrlen);
		c->addrs[0].len = res->ai_addrlen;
		c->naddrs = 1;
		freeaddrinfo(res);
		return 0;
	}
	if (bracketed || strlen(host) > 253 ||
	    strspn(host,
		   "abcdefghijklmnopqrstuvwxyz"
		   "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._") != strlen(host)) {
		usage(err, errlen, "invalid %s \"%s\": %s is not %s", opt, arg,
		      host, bracketed ? "an IPv6 address" : "a host name");
		return -1;
	}
	c->host = strdup(host);
	if (c->host == NULL) {
		usage(err, errlen, "%s \"%s\": out of memory", opt, arg);
		return -1;
	}
	return 0;
}

static int
parse_port(struct options *o, const char *arg, char *err, size_t errlen)
{
	char hostbuf[256];
	const char *host, *port;
	struct check_spec *c;
	int bracketed, pnum;

	if (strchr(arg, ':') == NULL) {
		host = "127.0.0.1";
		port = arg;
		bracketed = 0;
	} else if (split_hostport(arg, hostbuf, sizeof(hostbuf), &host, &port,
				  &bracketed) == -1 ||
		   host[0] == '\0') {
		usage(err, errlen,
		      "invalid --port \"%s\": expected PORT, HOST:PORT or "
		      "[IPv6]:PORT",
		      arg);
		return -1;
	}
	pnum = port_number(port);
	if (pnum < 1) {
		usage(err, errlen,
		      "invalid --port \"%s\": port must be 1 to 65535", arg);
		return -1;
	}
	if (add_check(o, &c) == -1) {
		usage(err, errlen, "--port \"%s\": out of memory", arg);
		return -1;
	}
	c->type = CHECK_TCP;
	c->target = malloc(strlen(host) + 16);
	if (c->target == NULL) {
		usage(err, errlen, "--port \"%s\": out of memory", arg);
		return -1;
	}
	sprintf(c->target, bracketed ? "[%s]:%d" : "%s:%d", host, pnum);
	return set_target_host(c, "--port", arg, host, port, bracketed, err,
			       errlen);
}

static int
parse_script(struct options *o, const char *arg, char *err, size_t errlen)
{
	struct check_spec *c;
	char **argv;
	size_t argc;
	const char *why;

	if (words_split(arg, &argv, &argc, &why) == -1) {
		usage(err, errlen, "invalid --script \"%s\": %s", arg, why);
		return -1;
	}
	if (add_check(o, &c) == -1) {
		free(argv);
		usage(err, errlen, "--script \"%s\": out of memory", arg);
		return -1;
	}
	c->type = CHECK_SCRIPT;
	c->argv = argv;
	c->target = argv[0];
	return 0;
}

static int
parse_listener(struct options *o, const char *arg, char *err, size_t errlen)
{
	char hostbuf[256];
	const char *host, *port;
	struct addrinfo hints, *res;
	int bracketed, rc;

	if (split_hostport(arg, hostbuf, sizeof(hostbuf), &host, &port,
			   &bracketed) == -1 ||
	    port_number(port) < 0) {
		usage(err, errlen,
		      "invalid --listener \"%s\": expected ADDR:PORT, "
		      "[IPv6]:PORT or :PORT",
		      arg);
		return -1;
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = bracketed ? AF_INET6 : AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags =
		AI_PASSIVE | AI_NUMERICSERV | (bracketed ? AI_NUMERICHOST : 0);
	/* ":PORT" listens on every address, IPv6 and IPv4 (0.0.0.0:PORT is
	 * IPv4 alone). */
	o->listener_dual = host[0] == '\0';
	if (host[0] == '\0') {
		host = NULL;
		hints.ai_family = AF_INET6;
	}
	rc = getaddrinfo(host, port, &hints, &res);
	if (rc != 0) {
		usage(err, errlen, "invalid --listener \"%s\": %s", arg,
		      rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc));
		return -1;
	}
	memcpy(&o->listener.ss, res->ai_addr, res->ai_addrlen);
	o->listener.len = res->ai_addrlen;
	freeaddrinfo(res);
	free(o->listener_text);
	o->listener_text = strdup(arg);
	o->listener_given = 1;
	return 0;
}

#define REQUEST_FMT                                                            \
	"GET %s%.*s HTTP/1.1\r\nHost: %.*s\r\n"                                \
	"User-Agent: health-checker/" VERSION "\r\n"                           \
	"Connection: close\r\n\r\n"

/* http://HOST[:PORT][/PATH]: HOST a name (looked up by every run), IPv4 or
 * [IPv6]. */
static int
parse_http(struct options *o, const char *arg, char *err, size_t errlen)
{
	char hostbuf[256], portbuf[8] = "80";
	const char *rest, *path, *hostend, *portp = NULL;
	struct check_spec *c;
	size_t hlen, len;
	int bracketed = 0, pathlen;

	if (strncmp(arg, "http://", 7) != 0) {
		usage(err, errlen,
		      "invalid --http \"%s\": expected "
		      "http://HOST[:PORT][/PATH]%s",
		      arg,
		      strncmp(arg, "https://", 8) == 0
			      ? " (https is not supported)"
			      : "");
		return -1;
	}
	rest = arg + 7;
	path = rest + strcspn(rest, "/?#");
	if (*path == '#' || strpbrk(arg, " \t\r\n") != NULL)
		goto bad;
	if (rest[0] == '[') {
		hostend = memchr(rest, ']', (size_t)(path - rest));
		if (hostend == NULL)
			goto bad;
		bracketed = 1;
		hlen = (size_t)(hostend - rest - 1);
		memcpy(hostbuf, rest + 1, hlen < sizeof(hostbuf) ? hlen : 0);
		hostend++;
	} else {
		hostend = memchr(rest, ':', (size_t)(path - rest));
		if (hostend == NULL)
			hostend = path;
		hlen = (size_t)(hostend - rest);
		memcpy(hostbuf, rest, hlen < sizeof(hostbuf) ? hlen : 0);
	}
	if (hlen == 0 || hlen >= sizeof(hostbuf) ||
	    memchr(rest, '@', (size_t)(path - rest)))
		goto bad;
	hostbuf[hlen] = '\0';
	if (hostend < path) {
		if (*hostend != ':' || path - hostend - 1 < 1 ||
		    path - hostend - 1 > 5)
			goto bad;
		portp = hostend + 1;
		memcpy(portbuf, portp, (size_t)(path - portp));
		portbuf[path - portp] = '\0';
		if (port_number(portbuf) < 1)
			goto bad;
	}
	if (add_check(o, &c) == -1)
		goto nomem;
	c->type = CHECK_HTTP;
	/* What logs and --details show: no query (tokens live there), no
	 * fragment; user info is refused above. */
	pathlen = (int)strcspn(path, "?#");
	len = (size_t)snprintf(NULL, 0,
			       bracketed ? "http://[%s]:%s%s%.*s"
					 : "http://%s:%s%s%.*s",
			       hostbuf, portbuf, *path == '/' ? "" : "/",
			       pathlen, path) +
	      1;
	c->target = malloc(len);
	if (c->target != NULL)
		snprintf(c->target, len,
			 bracketed ? "http://[%s]:%s%s%.*s"
				   : "http://%s:%s%s%.*s",
			 hostbuf, portbuf, *path == '/' ? "" : "/", pathlen,
			 path);
	/* Host is the URL's authority, port included (RFC 9110 7.2). */
	/* A fragment stays with the client (RFC 9110 4.2.4). */
	pathlen = (int)strcspn(path, "#");
	len = (size_t)snprintf(NULL, 0, REQUEST_FMT, *path == '/' ? "" : "/",
			       pathlen, path, (int)(path - rest), rest) +
	      1;
	c->request = malloc(len);
	if (c->target == NULL || c->request == NULL)
		goto nomem;
	snprintf(c->request, len, REQUEST_FMT, *path == '/' ? "" : "/", pathlen,
		 path, (int)(path - rest), rest);
	return set_target_host(c, "--http", arg, hostbuf, portbuf, bracketed,
			       err, errlen);
bad:
	usage(err, errlen,
	      "invalid --http \"%s\": expected http://HOST[:PORT][/PATH]", arg);
	return -1;
nomem:
	usage(err, errlen, "--http \"%s\": out of memory", arg);
	return -1;
}

/* A socket path, or @NAME in the abstract namespace. */
static int
parse_unix(struct options *o, const char *arg, char *err, size_t errlen)
{
	struct sockaddr_un *sun;
	struct check_spec *c;
	size_t len = strlen(arg);

	if (len == 0 || (arg[0] == '@' && len == 1) ||
	    len >= sizeof(sun->sun_path)) {
		usage(err, errlen,
		      "invalid --unix \"%s\": expected a socket path or @name "
		      "(at most %zu bytes)",
		      arg, sizeof(sun->sun_path) - 1);
		return -1;
	}
	if (add_check(o, &c) == -1)
		goto nomem;
	c->type = CHECK_UNIX;
	c->addrs = calloc(1, sizeof(*c->addrs));
	c->target = strdup(arg);
	if (c->addrs == NULL || c->target == NULL)
		goto nomem;
	sun = (struct sockaddr_un *)&c->addrs[0].ss;
	sun->sun_family = AF_UNIX;
	memcpy(sun->sun_path, arg, len);
	if (arg[0] == '@')
		sun->sun_path[0] = '\0';
	/* An abstract name is exactly its bytes: no terminating NUL. */
	c->addrs[0].len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) +
				      len + (arg[0] == '@' ? 0 : 1));
	c->naddrs = 1;
	return 0;
nomem:
	usage(err, errlen, "--unix \"%s\": out of memory", arg);
	return -1;
}

static void
set_defaults(struct options *o)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)&o->listener.ss;

	memset(o, 0, sizeof(*o));
	o->script_timeout_ms = 5000;
	o->port_timeout_ms = 5000;
	o->request_timeout_ms = 5000;
	o->http_timeout_ms = 5000;
	o->fail_status = 504;
	o->max_connections = 64;
	o->log_level = LOGLVL_INFO;
	sin->sin_family = AF_INET;
	sin->sin_port = htons(5000);
	sin->sin_addr.s_addr = htonl(INADDR_ANY);
	o->listener.len = sizeof(*sin);
	/* [::]:5000, 0.0.0.0:5000 where IPv6 is off. */
	o->listener_dual = 1;
}

static int
seconds_option(const char *name, const char *arg, int *ms, int allow_zero,
	       char *err, size_t errlen)
{
	if (parse_seconds(arg, ms, allow_zero) == 0)
		return 0;
	usage(err, errlen,
	      "invalid %s \"%s\": expected seconds, %s and at most %d", name,
	      arg, allow_zero ? "0 or more" : "more than 0", MAX_SECONDS);
	return -1;
}

enum options_result
options_parse(struct options *o, int argc, char **argv, char *err,
	      size_t errlen)
{
	long n;
	int c, flag;

	set_defaults(o);
	if (argc <= 1)
		return OPTIONS_HELP; /* as the original does */
	opterr = 0;
	optind = 1;
	/* _only: the original's Go flags also take "-port 80". */
	while ((c = getopt_long_only(argc, argv, ":hv", longopts, NULL)) !=
	       -1) {
		switch (c) {
		case OPT_PORT:
			if (parse_port(o, optarg, err, errlen) == -1)
				return OPTIONS_USAGE;
			break;
		case OPT_SCRIPT:
			if (parse_script(o, optarg, err, errlen) == -1)
				return OPTIONS_USAGE;
			break;
		case OPT_SCRIPT_TIMEOUT:
			if (seconds_option("--script-timeout", optarg,
					   &o->script_timeout_ms, 0, err,
					   errlen) == -1)
				return OPTIONS_USAGE;
			break;
		case OPT_PORT_TIMEOUT:
			if (seconds_option("--port-timeout", optarg,
					   &o->port_timeout_ms, 0, err,
					   errlen) == -1)
				return OPTIONS_USAGE;
			break;
		case OPT_REQUEST_TIMEOUT:
			if (seconds_option("--request-timeout", optarg,
					   &o->request_timeout_ms, 0, err,
					   errlen) == -1)
				return OPTIONS_USAGE;
			break;
		case OPT_LISTENER:
			if (parse_listener(o, optarg, err, errlen) == -1)
				return OPTIONS_USAGE;
			break;
		case OPT_SINGLEFLIGHT:
			if (parse_bool("--singleflight", optarg,
				       &o->singleflight, err, errlen) == -1)
				return OPTIONS_USAGE;
			break;
		case OPT_LOG_LEVEL:
			if (log_level_parse(optarg, &o->log_level) == -1) {
				usage(err, errlen,
				      "invalid --log-level \"%s\": expected "
				      "panic, fatal, error, warning, info or "
				      "debug",
				      optarg);
				return OPTIONS_USAGE;
			}
			break;
		case OPT_INETD:
			if (parse_bool("--inetd", optarg, &o->inetd, err,
				       errlen) == -1)
				return OPTIONS_USAGE;
			break;
		case OPT_ONCE:
			if (parse_bool("--once", optarg, &o->once, err,
				       errlen) == -1)
				return OPTIONS_USAGE;
			break;
		case OPT_LOCK_FILE:
			if (optarg[0] == '\0') {
				usage(err, errlen,
				      "invalid --lock-file \"\": expected a "
				      "path");
				return OPTIONS_USAGE;
			}
			free(o->lock_file);
			o->lock_file = strdup(optarg);
			break;
		case OPT_MAX_CONNECTIONS:
			if (parse_uint(optarg, MAX_CONNECTIONS_LIMIT, &n) ==
				    -1 ||
			    n < 1) {
				usage(err, errlen,
				      "invalid --max-connections \"%s\": "
				      "expected 1 to %d",
				      optarg, MAX_CONNECTIONS_LIMIT);
				return OPTIONS_USAGE;
			}
			o->max_connections = (int)n;
			break;
		case OPT_DETAILS:
			if (parse_bool("--details", optarg, &o->details, err,
				       errlen) == -1)
				return OPTIONS_USAGE;
			break;
		case OPT_MAINTENANCE_FILE:
			if (optarg[0] == '\0') {
				usage(err, errlen,
				      "invalid --maintenance-file \"\": "
				      "expected a path");
				return OPTIONS_USAGE;
			}
			free(o->maintenance_file);
			o->maintenance_file = strdup(optarg);
			break;
		case OPT_FAIL_STATUS:
			if (strcmp(optarg, "504") != 0 &&
			    strcmp(optarg, "503") != 0 &&
			    strcmp(optarg, "500") != 0) {
				usage(err, errlen,
				      "invalid --fail-status \"%s\": expected "
				      "504, 503 or 500",
				      optarg);
				return OPTIONS_USAGE;
			}
			o->fail_status = atoi(optarg);
			break;
		case OPT_CACHE_TTL:
			/* 0 turns the cache off, unlike a deadline. */
			if (seconds_option("--cache-ttl", optarg,
					   &o->cache_ttl_ms, 1, err,
					   errlen) == -1)
				return OPTIONS_USAGE;
			break;
		case OPT_HTTP:
			if (parse_http(o, optarg, err, errlen) == -1)
				return OPTIONS_USAGE;
			break;
		case OPT_HTTP_TIMEOUT:
			if (seconds_option("--http-timeout", optarg,
					   &o->http_timeout_ms, 0, err,
					   errlen) == -1)
				return OPTIONS_USAGE;
			break;
		case OPT_UNIX:
			if (parse_unix(o, optarg, err, errlen) == -1)
				return OPTIONS_USAGE;
			break;
		case 'v':
			return OPTIONS_VERSION;
		case OPT_VERSION:
			if (parse_bool("--version", optarg, &flag, err,
				       errlen) == -1)
				return OPTIONS_USAGE;
			if (flag)
				return OPTIONS_VERSION;
			break;
		case 'h':
			return OPTIONS_HELP;
		case OPT_HELP:
			if (parse_bool("--help", optarg, &flag, err, errlen) ==
			    -1)
				return OPTIONS_USAGE;
			if (flag)
				return OPTIONS_HELP;
			break;
		case ':':
			usage(err, errlen, "option \"%s\" needs a value",
			      argv[optind - 1]);
			return OPTIONS_USAGE;
		default:
			usage(err, errlen, "unknown option \"%s\"",
			      argv[optind - 1]);
			return OPTIONS_USAGE;
		}
	}
	if (optind < argc) {
		usage(err, errlen, "unexpected argument \"%s\"", argv[optind]);
		return OPTIONS_USAGE;
	}
	if (o->nchecks == 0) {
		usage(err, errlen,
		      "no checks: give at least one --port, --script, --http "
		      "or --unix");
		return OPTIONS_USAGE;
	}
	/* Deadlines may come after the checks on the command line. */
	for (n = 0; n < (long)o->nchecks; n++) {
		struct check_spec *spec = &o->checks[n];

		spec->timeout_ms =
			spec->type == CHECK_SCRIPT ? o->script_timeout_ms
			: spec->type == CHECK_HTTP ? o->http_timeout_ms
						   : o->port_timeout_ms;
	}
	return OPTIONS_RUN;
}

int
options_max_check_ms(const struct options *o)
{
	int ms = 0;
	size_t i;

	for (i = 0; i < o->nchecks; i++)
		if (o->checks[i].timeout_ms > ms)
			ms = o->checks[i].timeout_ms;
	return ms;
}

void
options_free(struct options *o)
{
	size_t i;

	for (i = 0; i < o->nchecks; i++) {
		struct check_spec *c = &o->checks[i];

		if (c->type == CHECK_SCRIPT) {
			free(c->argv);
		} else {
			free(c->target);
			free(c->addrs);
			free(c->host);
			free(c->request);
		}
	}
	free(o->checks);
	free(o->listener_text);
	free(o->lock_file);
	free(o->maintenance_file);
	memset(o, 0, sizeof(*o));
}
