#include <getopt.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "options.h"
#include "targets.h"

#define MAX_SECONDS 3600
#define MAX_CONNECTIONS_LIMIT 10000
#define STR(x) STR_(x)
#define STR_(x) #x

/* How a row's value is taken.  The check kinds and the listener have
 * parsers of their own (their messages name the shape they expect); every
 * other kind fails with "invalid --NAME "VALUE": expected EXPECT". */
enum opt_kind {
	OPT_CHECK,          /* adds a check: row's check fills it */
	OPT_LISTENER,       /* the listen address */
	OPT_AGENT_LISTENER, /* one more agent listen address */
	OPT_SECONDS,        /* int milliseconds, more than 0 (0 too if zero) */
	OPT_COUNT,          /* int, min to max */
	OPT_BOOL,           /* int 0/1; the value is optional */
	OPT_PATH,           /* char *, not empty */
	OPT_CHOICE,         /* int, the value of one of choices */
	OPT_LEVEL,          /* enum log_level, as log_level_parse takes it */
	OPT_EXIT            /* a flag that ends parsing with exit when true */
};

enum opt_section {
	SEC_CHECKS,
	SEC_DEADLINES,
	SEC_MODES,
	SEC_ANSWERS,
	SEC_OTHER,
	SEC_FLAGS
};

struct choice {
	const char *name;
	int value;
};

struct opt {
	const char *name;
	const char *metavar; /* NULL: a flag */
	enum opt_kind kind;
	enum opt_section section; /* of --help */
	size_t field;             /* offsetof(struct options, ...) */
	/* OPT_CHECK: fills a new check */
	int (*check)(struct arena *a, struct check_spec *c, const char *arg,
		     char *err, size_t errlen);
	int min, max; /* OPT_COUNT */
	int zero;     /* OPT_SECONDS: 0 is allowed (it turns a thing off) */
	const struct choice *choices;
	enum options_result exit;
	const char *expect; /* NULL: the kind's */
	const char *help;   /* lines after the first indented by --help */
};

static const struct choice fail_statuses[] = {
	{"504", 504}, {"503", 503}, {"500", 500}, {NULL, 0}};

#define FIELD(f) offsetof(struct options, f)

/* One row per option, in --help's order; the man page and README follow
 * it (tests/options.bats holds them to it). */
static const struct opt table[] = {
	{"port", "PORT|HOST:PORT|[IPv6]:PORT", OPT_CHECK, SEC_CHECKS, 0,
	 .check = targets_port,
	 .help = "TCP connect check; bare PORT is 127.0.0.1 (repeatable)"},
	{"script", "\"CMD ARGS\"", OPT_CHECK, SEC_CHECKS, 0,
	 .check = targets_script,
	 .help = "run CMD (PATH lookup, no shell); passes on exit 0\n"
		 "(repeatable)"},
	{"http", "http://HOST[:PORT][/PATH]", OPT_CHECK, SEC_CHECKS, 0,
	 .check = targets_http,
	 .help = "GET; passes on a 2xx or 3xx status (repeatable)"},
	{"unix", "PATH|@NAME", OPT_CHECK, SEC_CHECKS, 0, .check = targets_unix,
	 .help = "passes when a unix stream socket accepts (repeatable)"},
	{"script-timeout", "SECONDS", OPT_SECONDS, SEC_DEADLINES,
	 FIELD(script_timeout_ms),
	 .help = "every script's deadline (default 5)"},
	{"port-timeout", "SECONDS", OPT_SECONDS, SEC_DEADLINES,
	 FIELD(port_timeout_ms),
	 .help = "every TCP connect's deadline (default 5)"},
	{"request-timeout", "SECONDS", OPT_SECONDS, SEC_DEADLINES,
	 FIELD(request_timeout_ms),
	 .help = "deadline to receive the request head (default 5)"},
	{"idle-timeout", "SECONDS", OPT_SECONDS, SEC_DEADLINES,
	 FIELD(idle_timeout_ms),
	 .help = "keep-alive wait for the next request (default 60)"},
	{"http-timeout", "SECONDS", OPT_SECONDS, SEC_DEADLINES,
	 FIELD(http_timeout_ms),
	 .help = "every --http check's deadline (default 5)"},
	{"once", NULL, OPT_BOOL, SEC_MODES, FIELD(once),
	 .help = "run the checks once, print the results, exit 0 if\n"
		 "healthy, 1 if not; no HTTP"},
	{"inetd", NULL, OPT_BOOL, SEC_MODES, FIELD(inetd),
	 .help = "answer one request on stdin/stdout (automatic when\n"
		 "stdin is a socket)"},
	{"listener", "ADDR:PORT", OPT_LISTENER, SEC_MODES, FIELD(listener),
	 .help = "standalone server address (default :5000,\n"
		 "every address, IPv4 and IPv6)"},
	{"agent-listener", "ADDR:PORT", OPT_AGENT_LISTENER, SEC_MODES, 0,
	 .help = "standalone: also answer HAProxy's agent-check here\n"
		 "(repeatable; same forms as --listener)"},
	{"agent", NULL, OPT_BOOL, SEC_MODES, FIELD(agent),
	 .help = "one-shot: answer HAProxy's agent-check, not HTTP"},
	{"max-connections", "N", OPT_COUNT, SEC_MODES, FIELD(max_connections),
	 .min = 1, .max = MAX_CONNECTIONS_LIMIT,
	 .expect = "1 to " STR(MAX_CONNECTIONS_LIMIT),
	 .help = "standalone: requests in progress at once (default 64)"},
	{"details", NULL, OPT_BOOL, SEC_ANSWERS, FIELD(details),
	 .help = "list every check in the body (JSON with Accept:\n"
		 "application/json or application/health+json)\n"
		 "(default off)"},
	{"fail-status", "CODE", OPT_CHOICE, SEC_ANSWERS, FIELD(fail_status),
	 .choices = fail_statuses, .expect = "504, 503 or 500",
	 .help = "status when unhealthy: 504, 503 or 500 (default 504)"},
	{"maintenance-file", "PATH", OPT_PATH, SEC_ANSWERS,
	 FIELD(maintenance_file),
	 .help = "while PATH exists, answer 503 Maintenance without\n"
		 "running the checks (default none)"},
	/* 0 turns the cache off, unlike a deadline. */
	{"cache-ttl", "SECONDS", OPT_SECONDS, SEC_ANSWERS, FIELD(cache_ttl_ms),
	 .zero = 1,
	 .expect = "seconds, 0 or more and at most " STR(MAX_SECONDS),
	 .help = "serve a result younger than this, across processes\n"
		 "(default 0: off)"},
	{"singleflight", NULL, OPT_BOOL, SEC_OTHER, FIELD(singleflight),
	 .help = "concurrent requests share one run of the checks,\n"
		 "across processes too (default off)"},
	{"lock-file", "PATH", OPT_PATH, SEC_OTHER, FIELD(lock_file),
	 .help = "singleflight state file (default $RUNTIME_DIRECTORY,\n"
		 "else /run/health-checker/, else a private dir in /tmp)"},
	{"log-level", "LEVEL", OPT_LEVEL, SEC_OTHER, FIELD(log_level),
	 .expect = "panic, fatal, error, warning, info or debug",
	 .help = "panic, fatal, error, warning (warn), info, debug,\n"
		 "trace (= debug) (default info)"},
	{"version", NULL, OPT_EXIT, SEC_FLAGS, 0, .exit = OPTIONS_VERSION,
	 .help = "print the version and exit"},
	{"help", NULL, OPT_EXIT, SEC_FLAGS, 0, .exit = OPTIONS_HELP,
	 .help = "print this help and exit"},
};

#define NOPTS (sizeof(table) / sizeof(table[0]))
/* getopt_long's value for table[i]: above every short option. */
#define OPT_VAL 256

static const char *const kind_expect[] = {
	[OPT_SECONDS] = "seconds, more than 0 and at most " STR(MAX_SECONDS),
	[OPT_BOOL] = "true or false",
	[OPT_EXIT] = "true or false",
	[OPT_PATH] = "a path",
};

static const struct {
	const char *title;
	int column; /* where the help text starts */
} sections[] = {
	[SEC_CHECKS] = {"Checks (at least one):", 26},
	[SEC_DEADLINES] = {"Deadlines (seconds, decimals allowed, at most "
			   "3600):",
			   28},
	[SEC_MODES] = {"Modes:", 26},
	[SEC_ANSWERS] = {"Answers:", 26},
	[SEC_OTHER] = {"Other:", 26},
	[SEC_FLAGS] = {"Flags without a value also take =true or =false "
		       "(--singleflight=true).",
		       26},
};

static const char help_intro[] =
	"Usage: health-checker [OPTIONS]\n"
	"\n"
	"Answers an HTTP request with 200 OK when every check passes and 504\n"
	"when any fails.  Run from inetd, xinetd or systemd socket "
	"activation\n"
	"(one request per process) or as a standalone server.\n"
	"\n";

/* "  --NAME METAVAR", then the help at the section's column (on a line of
 * its own when the name is wider), each further line indented as much. */
static void
help_row(FILE *f, const struct opt *r, int column)
{
	const char *p;
	int w;

	w = fprintf(f, "  --%s%s%s", r->name, r->metavar != NULL ? " " : "",
		    r->metavar != NULL ? r->metavar : "");
	if (w >= column) {
		fputc('\n', f);
		w = 0;
	}
	fprintf(f, "%*s", column - w, "");
	for (p = r->help; *p != '\0'; p++) {
		fputc(*p, f);
		if (*p == '\n')
			fprintf(f, "%*s", column, "");
	}
	fputc('\n', f);
}

void
options_help(FILE *f)
{
	size_t i;

	fputs(help_intro, f);
	for (i = 0; i < NOPTS; i++) {
		const struct opt *r = &table[i];

		if (i == 0 || r->section != table[i - 1].section)
			fprintf(f, "%s\n", sections[r->section].title);
		help_row(f, r, sections[r->section].column);
	}
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
parse_bool(const char *arg, int *out)
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

/* Room for one more of n elements of size in *arr: 4 at first, then twice
 * as many each time it is full (the arena cannot grow an array in place).
 * Returns the new element, zeroed, or NULL when out of memory. */
static void *
grow(struct arena *a, void **arr, size_t n, size_t size)
{
	char *p = *arr;

	if (n == 0 || (n >= 4 && (n & (n - 1)) == 0)) {
		p = arena_alloc(a, (n == 0 ? 4 : 2 * n) * size);
		if (p == NULL)
			return NULL;
		if (n > 0)
			memcpy(p, *arr, n * size);
		*arr = p;
	}
	memset(p + n * size, 0, size);
	return p + n * size;
}

/* One more check, filled by the row's kind. */
static enum options_result
add_check(struct options *o, const struct opt *r, const char *arg, char *err,
	  size_t errlen)
{
	struct check_spec *c =
		grow(&o->arena, (void **)&o->checks, o->nchecks, sizeof(*c));

	if (c == NULL) {
		snprintf(err, errlen, "--%s \"%s\": out of memory", r->name,
			 arg);
		return OPTIONS_USAGE;
	}
	o->nchecks++;
	return r->check(&o->arena, c, arg, err, errlen) == 0 ? OPTIONS_RUN
							     : OPTIONS_USAGE;
}

static enum options_result
set_listener(struct options *o, const char *arg, char *err, size_t errlen)
{
	if (targets_listener(&o->listener, &o->listener_dual, "listener", arg,
			     err, errlen) == -1)
		return OPTIONS_USAGE;
	o->listener_text = arena_strdup(&o->arena, arg);
	o->listener_given = 1;
	return OPTIONS_RUN;
}

/* Another agent listener, parsed as --listener is. */
static enum options_result
add_agent_listener(struct options *o, const char *arg, char *err, size_t errlen)
{
	struct listen_addr *l = grow(&o->arena, (void **)&o->agent_listeners,
				     o->nagent_listeners, sizeof(*l));

	if (l == NULL) {
		snprintf(err, errlen, "--agent-listener \"%s\": out of memory",
			 arg);
		return OPTIONS_USAGE;
	}
	if (targets_listener(&l->addr, &l->dual, "agent-listener", arg, err,
			     errlen) == -1)
		return OPTIONS_USAGE;
	l->text = arena_strdup(&o->arena, arg);
	o->nagent_listeners++;
	return OPTIONS_RUN;
}

static void
set_defaults(struct options *o)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)&o->listener.ss;

	memset(o, 0, sizeof(*o));
	o->script_timeout_ms = 5000;
	o->port_timeout_ms = 5000;
	o->request_timeout_ms = 5000;
	o->idle_timeout_ms = 60000;
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
	arena_init(&o->arena);
}

static int
set_count(const char *arg, const struct opt *r, int *out)
{
	long n;

	if (parse_uint(arg, r->max, &n) == -1 || n < r->min)
		return -1;
	*out = (int)n;
	return 0;
}

static int
set_path(struct arena *a, const char *arg, char **out)
{
	if (arg[0] == '\0')
		return -1;
	*out = arena_strdup(a, arg);
	return 0;
}

static int
set_choice(const char *arg, const struct choice *choices, int *out)
{
	for (; choices->name != NULL; choices++) {
		if (strcmp(arg, choices->name) == 0) {
			*out = choices->value;
			return 0;
		}
	}
	return -1;
}

/* Takes one option's value into o by the row's kind: OPTIONS_RUN to go
 * on, OPTIONS_USAGE with err set, or the row's exit. */
static enum options_result
apply(const struct opt *r, struct options *o, const char *arg, char *err,
      size_t errlen)
{
	void *field = (char *)o + r->field;
	int rc = -1, flag;

	switch (r->kind) {
	case OPT_CHECK:
		return add_check(o, r, arg, err, errlen);
	case OPT_LISTENER:
		return set_listener(o, arg, err, errlen);
	case OPT_AGENT_LISTENER:
		return add_agent_listener(o, arg, err, errlen);
	case OPT_SECONDS:
		rc = parse_seconds(arg, field, r->zero);
		break;
	case OPT_COUNT:
		rc = set_count(arg, r, field);
		break;
	case OPT_BOOL:
		rc = parse_bool(arg, field);
		break;
	case OPT_PATH:
		rc = set_path(&o->arena, arg, field);
		break;
	case OPT_CHOICE:
		rc = set_choice(arg, r->choices, field);
		break;
	case OPT_LEVEL:
		rc = log_level_parse(arg, field);
		break;
	case OPT_EXIT:
		if ((rc = parse_bool(arg, &flag)) == 0 && flag)
			return r->exit;
		break;
	}
	if (rc == 0)
		return OPTIONS_RUN;
	snprintf(err, errlen, "invalid --%s \"%s\": expected %s", r->name, arg,
		 r->expect != NULL ? r->expect : kind_expect[r->kind]);
	return OPTIONS_USAGE;
}

/* getopt_long's array, from the table: a flag's value is optional
 * ("--once=false"), every other option needs one. */
static void
fill_longopts(struct option *lo)
{
	size_t i;

	for (i = 0; i < NOPTS; i++) {
		lo[i].name = table[i].name;
		lo[i].has_arg =
			table[i].kind == OPT_BOOL || table[i].kind == OPT_EXIT
				? optional_argument
				: required_argument;
		lo[i].flag = NULL;
		lo[i].val = OPT_VAL + (int)i;
	}
	memset(&lo[NOPTS], 0, sizeof(lo[NOPTS]));
}

/* What getopt_long returns that is no row of the table. */
static enum options_result
not_a_row(int c, char **argv, char *err, size_t errlen)
{
	if (c == 'v')
		return OPTIONS_VERSION;
	if (c == 'h')
		return OPTIONS_HELP;
	snprintf(err, errlen,
		 c == ':' ? "option \"%s\" needs a value"
			  : "unknown option \"%s\"",
		 argv[optind - 1]);
	return OPTIONS_USAGE;
}

/* Deadlines may come after the checks on the command line. */
static void
set_check_timeouts(struct options *o)
{
	size_t i;

	for (i = 0; i < o->nchecks; i++) {
		struct check_spec *spec = &o->checks[i];

		spec->timeout_ms =
			spec->type == CHECK_SCRIPT ? o->script_timeout_ms
			: spec->type == CHECK_HTTP ? o->http_timeout_ms
						   : o->port_timeout_ms;
	}
}

/* --agent-listener belongs to the standalone server, --agent to the
 * one-shots; --once speaks neither.  Which mode socket activation chooses
 * is main's to tell. */
static enum options_result
agent_conflicts(const struct options *o, char *err, size_t errlen)
{
	const char *with = o->once    ? "--once"
			   : o->inetd ? "--inetd"
			   : o->agent ? "--agent"
				      : NULL;

	if (o->nagent_listeners > 0 && with != NULL) {
		snprintf(err, errlen,
			 "--agent-listener \"%s\": the standalone server's, "
			 "not with %s",
			 o->agent_listeners[0].text, with);
		return OPTIONS_USAGE;
	}
	if (o->agent && o->once) {
		snprintf(err, errlen,
			 "--agent: for the one-shot forms "
			 "(inetd, Accept=yes), not with --once");
		return OPTIONS_USAGE;
	}
	if (o->agent && o->listener_given) {
		snprintf(err, errlen,
			 "--agent: for the one-shot forms (inetd, Accept=yes), "
			 "not with --listener \"%s\" (the standalone server "
			 "takes --agent-listener)",
			 o->listener_text);
		return OPTIONS_USAGE;
	}
	return OPTIONS_RUN;
}

enum options_result
options_parse(struct options *o, int argc, char **argv, char *err,
	      size_t errlen)
{
	struct option longopts[NOPTS + 1];
	enum options_result r;
	int c;

	set_defaults(o);
	if (argc <= 1)
		return OPTIONS_HELP; /* as the original does */
	fill_longopts(longopts);
	opterr = 0;
	optind = 1;
	/* _only: the original's Go flags also take "-port 80". */
	while ((c = getopt_long_only(argc, argv, ":hv", longopts, NULL)) !=
	       -1) {
		r = c >= OPT_VAL && c < OPT_VAL + (int)NOPTS
			    ? apply(&table[c - OPT_VAL], o, optarg, err, errlen)
			    : not_a_row(c, argv, err, errlen);
		if (r != OPTIONS_RUN)
			return r;
	}
	if (optind < argc) {
		snprintf(err, errlen, "unexpected argument \"%s\"",
			 argv[optind]);
		return OPTIONS_USAGE;
	}
	if (o->nchecks == 0) {
		snprintf(
			err, errlen,
			"no checks: give at least one --port, --script, --http "
			"or --unix");
		return OPTIONS_USAGE;
	}
	set_check_timeouts(o);
	return agent_conflicts(o, err, errlen);
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
	arena_free(&o->arena);
	memset(o, 0, sizeof(*o));
}
