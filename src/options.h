/* options: the command line, parsed and validated in one go; read-only
 * afterwards.  No I/O: host names are resolved by each run of the checks. */
#ifndef OPTIONS_H
#define OPTIONS_H

#include <stddef.h>
#include <stdio.h>
#include <sys/socket.h>

#include "log.h"
#include "targets.h"
#include "version.h"

/* A listen address as --listener and --agent-listener take it. */
struct listen_addr {
	struct sockaddr_any addr;
	/* [::] with IPv4 too, falling back to 0.0.0.0 where IPv6 is off */
	int dual;
	char *text; /* as given */
};

struct options {
	struct check_spec *checks;
	size_t nchecks;
	int script_timeout_ms;
	int port_timeout_ms;
	int request_timeout_ms;
	int idle_timeout_ms; /* keep-alive: between requests */
	int http_timeout_ms;
	int cache_ttl_ms; /* 0: off */
	int details;
	char *maintenance_file;
	int fail_status; /* 504, 503 or 500 */
	struct sockaddr_any listener;
	/* [::] with IPv4 too, falling back to 0.0.0.0 where IPv6 is off: the
	 * default listener and :PORT, as Go's listener does */
	int listener_dual;
	char *listener_text;
	int listener_given;
	/* --agent-listener: the standalone server's HAProxy agent ports */
	struct listen_addr *agent_listeners;
	size_t nagent_listeners;
	int agent; /* --agent: the one-shot speaks the agent protocol */
	int singleflight;
	int once;
	int inetd;
	char *lock_file; /* NULL: the default location rules apply */
	int max_connections;
	enum log_level log_level;
	/* Every check, string and address above: freed whole by options_free,
	 * the first KiB without malloc.  struct options is not to be copied. */
	struct arena arena;
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
