/* options: the command line, parsed and validated in one go (names resolved
 * here, once); read-only afterwards.  No I/O beyond the resolver. */
#ifndef OPTIONS_H
#define OPTIONS_H

#include <stddef.h>
#include <stdio.h>
#include <sys/socket.h>

#include "log.h"

#define VERSION "1.0.0"

enum check_type { CHECK_TCP, CHECK_SCRIPT };

struct sockaddr_any {
	struct sockaddr_storage ss;
	socklen_t len;
};

struct check_spec {
	enum check_type type;
	char *target; /* as logs and --once show it: "127.0.0.1:80", argv[0] */
	struct sockaddr_any *addrs; /* CHECK_TCP: every resolved address */
	size_t naddrs;
	char **argv; /* CHECK_SCRIPT: one free() releases it */
};

struct options {
	struct check_spec *checks;
	size_t nchecks;
	int script_timeout_ms;
	int port_timeout_ms;
	int request_timeout_ms;
	struct sockaddr_any listener;
	char *listener_text;
	int listener_given;
	int singleflight;
	int once;
	int inetd;
	char *lock_file; /* NULL: the default location rules apply */
	int max_connections;
	enum log_level log_level;
};

enum options_result {
	OPTIONS_RUN,
	OPTIONS_HELP,
	OPTIONS_VERSION,
	OPTIONS_USAGE
};

/* On OPTIONS_USAGE, err holds one line naming the option and the value. */
enum options_result options_parse(struct options *o, int argc, char **argv,
				  char *err, size_t errlen);
void options_free(struct options *o);
void options_help(FILE *f);
/* The longest deadline of any one check, for waiting on somebody's run. */
int options_max_check_ms(const struct options *o);

#endif
