#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "targets.h"
#include "version.h"
#include "words.h"

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

static int
nomem(char *err, size_t errlen, const char *opt, const char *arg)
{
	usage(err, errlen, "%s \"%s\": out of memory", opt, arg);
	return -1;
}

/* 1 to 65535 as digits alone (leading zeros too), 0 included; else -1. */
static int
port_number(const char *s)
{
	unsigned long v;
	char *end;

	if (*s < '0' || *s > '9')
		return -1;
	v = strtoul(s, &end, 10);
	return *end != '\0' || v > 65535 ? -1 : (int)v;
}

struct hostport {
	char host[256];   /* maybe "" */
	const char *port; /* after the colon; NULL when there is none */
	size_t portlen;
	int bracketed; /* [IPv6] */
};

/* Splits the len bytes at s, "HOST:PORT", "[V6]:PORT", ":PORT", "HOST" or
 * "[V6]", for --port, --listener and --http alike; -1 when the shape is
 * wrong.  The callers say which parts they need. */
static int
split_hostport(const char *s, size_t len, struct hostport *hp)
{
	const char *end = s + len, *host = s, *colon;
	size_t hlen;

	hp->bracketed = len > 0 && s[0] == '[';
	if (hp->bracketed) {
		const char *rb = memchr(s, ']', len);

		if (rb == NULL || rb == s + 1 || (rb + 1 < end && rb[1] != ':'))
			return -1;
		host = s + 1;
		hlen = (size_t)(rb - host);
		colon = rb + 1 < end ? rb + 1 : NULL;
	} else {
		colon = memchr(s, ':', len);
		if (colon != NULL &&
		    memchr(colon + 1, ':', (size_t)(end - colon - 1)) != NULL)
			return -1;
		hlen = (size_t)((colon != NULL ? colon : end) - s);
	}
	if (hlen >= sizeof(hp->host))
		return -1;
	memcpy(hp->host, host, hlen);
	hp->host[hlen] = '\0';
	hp->port = colon != NULL ? colon + 1 : NULL;
	hp->portlen = colon != NULL ? (size_t)(end - colon - 1) : 0;
	return 0;
}

static int
ipv4_address(const char *host, const char *port, struct sockaddr_any *a)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)&a->ss;

	if (inet_aton(host, &sin->sin_addr) == 0)
		return -1;
	sin->sin_family = AF_INET;
	sin->sin_port = htons((unsigned short)atoi(port));
	a->len = sizeof(*sin);
	return 0;
}

static int
numeric_address(const char *host, const char *port, int bracketed,
		struct sockaddr_any *a)
{
	struct addrinfo hints, *res;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = bracketed ? AF_INET6 : AF_INET;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV | AI_NUMERICHOST;
	if (getaddrinfo(host, port, &hints, &res) != 0)
		return -1;
	memcpy(&a->ss, res->ai_addr, res->ai_addrlen);
	a->len = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

static int
host_name(const char *host)
{
	size_t len = strlen(host);

	return len <= 253 && strspn(host, "abcdefghijklmnopqrstuvwxyz"
					  "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
					  "0123456789-._") == len;
}

/* An address is parsed now; a name is only kept, for every run to look up
 * within its own deadline (a moved address is followed, a resolver that
 * hangs fails that check, never the start).  bracketed: IPv6 only. */
static int
set_target_host(struct arena *a, struct check_spec *c,
		const struct hostport *hp, const char *opt, const char *arg,
		char *err, size_t errlen)
{
	const char *host = hp->host, *port = hp->port;
	int bracketed = hp->bracketed;
	struct sockaddr_any addr;

	memset(&addr, 0, sizeof(addr));
	snprintf(c->port, sizeof(c->port), "%s", port);
	if ((!bracketed && ipv4_address(host, port, &addr) == 0) ||
	    numeric_address(host, port, bracketed, &addr) == 0) {
		c->addrs = arena_alloc(a, sizeof(*c->addrs));
		if (c->addrs == NULL)
			return nomem(err, errlen, opt, arg);
		c->addrs[0] = addr;
		c->naddrs = 1;
		return 0;
	}
	if (bracketed || !host_name(host)) {
		usage(err, errlen, "invalid %s \"%s\": %s is not %s", opt, arg,
		      host, bracketed ? "an IPv6 address" : "a host name");
		return -1;
	}
	c->host = arena_strdup(a, host);
	if (c->host == NULL)
		return nomem(err, errlen, opt, arg);
	return 0;
}

int
targets_port(struct arena *a, struct check_spec *c, const char *arg, char *err,
	     size_t errlen)
{
	struct hostport hp;
	int pnum;

	if (strchr(arg, ':') == NULL) {
		strcpy(hp.host, "127.0.0.1");
		hp.port = arg;
		hp.bracketed = 0;
	} else if (split_hostport(arg, strlen(arg), &hp) == -1 ||
		   hp.host[0] == '\0' || hp.port == NULL) {
		usage(err, errlen,
		      "invalid --port \"%s\": expected PORT, HOST:PORT or "
		      "[IPv6]:PORT",
		      arg);
		return -1;
	}
	pnum = port_number(hp.port);
	if (pnum < 1) {
		usage(err, errlen,
		      "invalid --port \"%s\": port must be 1 to 65535", arg);
		return -1;
	}
	c->type = CHECK_TCP;
	c->target = arena_printf(a, hp.bracketed ? "[%s]:%d" : "%s:%d", hp.host,
				 pnum);
	if (c->target == NULL)
		return nomem(err, errlen, "--port", arg);
	return set_target_host(a, c, &hp, "--port", arg, err, errlen);
}

/* words_split's vector, copied into the arena with its words. */
static char **
arena_words(struct arena *a, char **argv, size_t argc)
{
	char **v = arena_alloc(a, (argc + 1) * sizeof(*v));
	size_t i;

	for (i = 0; v != NULL && i < argc; i++)
		if ((v[i] = arena_strdup(a, argv[i])) == NULL)
			return NULL;
	return v;
}

int
targets_script(struct arena *a, struct check_spec *c, const char *arg,
	       char *err, size_t errlen)
{
	char **argv;
	size_t argc;
	const char *why;

	if (words_split(arg, &argv, &argc, &why) == -1) {
		usage(err, errlen, "invalid --script \"%s\": %s", arg, why);
		return -1;
	}
	c->type = CHECK_SCRIPT;
	c->argv = arena_words(a, argv, argc);
	free(argv);
	if (c->argv == NULL)
		return nomem(err, errlen, "--script", arg);
	c->target = c->argv[0];
	return 0;
}

/* ":PORT", 0.0.0.0:PORT and [::]:PORT (a name that resolves to either
 * too) listen on every address, IPv6 and IPv4, as Go's listener does with
 * a wildcard: probes a Go checker answered keep their answer. */
static int
wildcard(const struct sockaddr_any *a)
{
	const struct sockaddr_in *sin = (const struct sockaddr_in *)&a->ss;
	const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)&a->ss;

	if (a->ss.ss_family == AF_INET)
		return sin->sin_addr.s_addr == htonl(INADDR_ANY);
	return a->ss.ss_family == AF_INET6 &&
	       IN6_IS_ADDR_UNSPECIFIED(&sin6->sin6_addr);
}

int
targets_listener(struct sockaddr_any *addr, int *dual, const char *name,
		 const char *arg, char *err, size_t errlen)
{
	struct hostport hp;
	struct addrinfo hints, *res;
	const char *host;
	int rc;

	if (split_hostport(arg, strlen(arg), &hp) == -1 || hp.port == NULL ||
	    port_number(hp.port) < 0) {
		usage(err, errlen,
		      "invalid --%s \"%s\": expected ADDR:PORT, "
		      "[IPv6]:PORT or :PORT",
		      name, arg);
		return -1;
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = hp.bracketed ? AF_INET6 : AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV |
			 (hp.bracketed ? AI_NUMERICHOST : 0);
	host = hp.host[0] == '\0' ? NULL : hp.host;
	if (host == NULL)
		hints.ai_family = AF_INET6;
	rc = getaddrinfo(host, hp.port, &hints, &res);
	if (rc != 0) {
		usage(err, errlen, "invalid --%s \"%s\": %s", name, arg,
		      rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc));
		return -1;
	}
	memcpy(&addr->ss, res->ai_addr, res->ai_addrlen);
	addr->len = res->ai_addrlen;
	freeaddrinfo(res);
	*dual = host == NULL || wildcard(addr);
	return 0;
}

#define REQUEST_FMT                                                            \
	"GET %s%.*s HTTP/1.1\r\nHost: %.*s\r\n"                                \
	"User-Agent: health-checker/" VERSION "\r\n"                           \
	"Connection: close\r\n\r\n"

/* The authority of a URL, rest up to path: HOST[:PORT], HOST a name, IPv4
 * or [IPv6], no user info; the port 1 to 65535 (five digits at most),
 * into portbuf, 80 when there is none. */
static int
http_authority(const char *rest, const char *path, struct hostport *hp,
	       char *portbuf)
{
	size_t len = (size_t)(path - rest);

	if (memchr(rest, '@', len) != NULL ||
	    split_hostport(rest, len, hp) == -1 || hp->host[0] == '\0')
		return -1;
	if (hp->port == NULL) {
		hp->port = "80";
		return 0;
	}
	if (hp->portlen < 1 || hp->portlen > 5)
		return -1;
	memcpy(portbuf, hp->port, hp->portlen);
	portbuf[hp->portlen] = '\0';
	hp->port = portbuf;
	return port_number(portbuf) < 1 ? -1 : 0;
}

/* What logs and --details show: no query (tokens live there), no
 * fragment; and the request, whose Host is the URL's authority, port
 * included (RFC 9110 7.2), and whose target keeps the query but not the
 * fragment, which stays with the client (RFC 9110 4.2.4). */
static int
http_strings(struct arena *a, struct check_spec *c, const struct hostport *hp,
	     const char *rest, const char *path)
{
	const char *slash = *path == '/' ? "" : "/";

	c->target = arena_printf(
		a,
		hp->bracketed ? "http://[%s]:%s%s%.*s" : "http://%s:%s%s%.*s",
		hp->host, hp->port, slash, (int)strcspn(path, "?#"), path);
	c->request =
		arena_printf(a, REQUEST_FMT, slash, (int)strcspn(path, "#"),
			     path, (int)(path - rest), rest);
	return c->target != NULL && c->request != NULL ? 0 : -1;
}

/* http://HOST[:PORT][/PATH]: HOST a name (looked up by every run), IPv4 or
 * [IPv6]. */
int
targets_http(struct arena *a, struct check_spec *c, const char *arg, char *err,
	     size_t errlen)
{
	struct hostport hp;
	char portbuf[8];
	const char *rest = arg + 7, *path;

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
	path = rest + strcspn(rest, "/?#");
	if (*path == '#' || strpbrk(arg, " \t\r\n") != NULL ||
	    http_authority(rest, path, &hp, portbuf) == -1) {
		usage(err, errlen,
		      "invalid --http \"%s\": expected "
		      "http://HOST[:PORT][/PATH]",
		      arg);
		return -1;
	}
	c->type = CHECK_HTTP;
	if (http_strings(a, c, &hp, rest, path) == -1)
		return nomem(err, errlen, "--http", arg);
	return set_target_host(a, c, &hp, "--http", arg, err, errlen);
}

/* A socket path, or @NAME in the abstract namespace. */
int
targets_unix(struct arena *a, struct check_spec *c, const char *arg, char *err,
	     size_t errlen)
{
	struct sockaddr_un *sun;
	size_t len = strlen(arg);

	if (len == 0 || (arg[0] == '@' && len == 1) ||
	    len >= sizeof(sun->sun_path)) {
		usage(err, errlen,
		      "invalid --unix \"%s\": expected a socket path or @name "
		      "(at most %zu bytes)",
		      arg, sizeof(sun->sun_path) - 1);
		return -1;
	}
	c->type = CHECK_UNIX;
	c->addrs = arena_alloc(a, sizeof(*c->addrs));
	c->target = arena_strdup(a, arg);
	if (c->addrs == NULL || c->target == NULL)
		return nomem(err, errlen, "--unix", arg);
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
}
