/* targets: what a check or the listener points at, from its option's
 * argument; addresses parsed now, host names kept for each run to look up. */
#ifndef TARGETS_H
#define TARGETS_H

#include <stddef.h>
#include <sys/socket.h>

#include "arena.h"

enum check_type { CHECK_TCP, CHECK_SCRIPT, CHECK_HTTP, CHECK_UNIX };

struct sockaddr_any {
	struct sockaddr_storage ss;
	socklen_t len;
};

struct check_spec {
	enum check_type type;
	/* As logs and details show it: "127.0.0.1:80", the URL without its
	 * query, the socket path, or a script's program alone (arguments and
	 * queries may hold secrets). */
	char *target;
	int timeout_ms;
	/* CHECK_TCP, CHECK_HTTP given an address, CHECK_UNIX: the one
	 * address; NULL for a host name, looked up at every run. */
	struct sockaddr_any *addrs;
	size_t naddrs;
	char *host;    /* the name to look up, or NULL */
	char port[6];  /* CHECK_TCP, CHECK_HTTP: decimal */
	char **argv;   /* CHECK_SCRIPT */
	char *request; /* CHECK_HTTP: the whole GET request */
};

/* Each fills c (zeroed, owned by the options) from arg, its strings and
 * addresses in a, and returns 0, or returns -1 with err holding one line
 * that names the option and arg. */
int targets_port(struct arena *a, struct check_spec *c, const char *arg,
		 char *err, size_t errlen);
int targets_script(struct arena *a, struct check_spec *c, const char *arg,
		   char *err, size_t errlen);
int targets_http(struct arena *a, struct check_spec *c, const char *arg,
		 char *err, size_t errlen);
int targets_unix(struct arena *a, struct check_spec *c, const char *arg,
		 char *err, size_t errlen);
/* ADDR:PORT, [IPv6]:PORT or :PORT into a, *dual set for :PORT, 0.0.0.0:PORT
 * and [::]:PORT (every address, IPv6 and IPv4, as Go's listener); a host
 * name is resolved now, at start-up.  name: the option err names
 * ("listener", "agent-listener"). */
int targets_listener(struct sockaddr_any *addr, int *dual, const char *name,
		     const char *arg, char *err, size_t errlen);

#endif
