/* targets: what a check or the listener points at, from its option's
 * argument; addresses parsed now, host names kept for each run to look up. */
#ifndef TARGETS_H
#define TARGETS_H

#include <stddef.h>

#include "arena.h"
#include "options.h"

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
 * name is resolved now, at start-up. */
int targets_listener(struct sockaddr_any *addr, int *dual, const char *arg,
		     char *err, size_t errlen);

#endif
