#!/usr/bin/env bats
# The command line: usage errors, help, version, --once output and exit
# status, script word splitting, single-dash options, --log-level.

setup() {
	load helpers
	common_setup
}

teardown() {
	common_teardown
}

# hc ARGS...: the checker with ARGS, stdin /dev/null, killed after 10 s so a
# value wrongly accepted cannot hang the suite; stdout in $T/out and
# $output, stderr in $T/err, $status, $ms (elapsed).
hc() {
	local start
	start=$(date +%s%N)
	timeout 10 "$HC" "$@" </dev/null >"$T/out" 2>"$T/err" && status=0 || status=$?
	ms=$(ms_since "$start")
	output=$(cat "$T/out")
}

# show: what the last hc printed, for the failure message.
show() {
	printf 'status %s, %sms\n--- stdout\n%s\n--- stderr\n%s\n' \
		"$status" "$ms" "$(cat "$T/out")" "$(cat "$T/err")" >&2
}

# usage_fails ARGS...: exit 2, nothing on stdout, exactly one line on stderr
# starting "health-checker: ".  The line in $errline.
usage_fails() {
	local errl
	hc "$@"
	mapfile -t errl <"$T/err"
	errline=${errl[0]-}
	if [ "$status" -ne 2 ] || [ -s "$T/out" ] || [ "${#errl[@]}" -ne 1 ] ||
		[ -n "$(tail -c 1 "$T/err")" ] || [[ $errline != "health-checker: "* ]]; then
		printf 'args: %q\n' "$@" >&2
		echo 'expected: status 2, empty stdout, one stderr line "health-checker: ..."' >&2
		show
		return 1
	fi
}

# names OPTION: $errline holds OPTION as a whole option name (not a prefix
# of a longer one).
names() {
	if ! grep -Eq -- "(^|[^-a-z])$1([^-a-z]|\$)" <<<"$errline"; then
		printf 'error line does not name option %s: %s\n' "$1" "$errline" >&2
		return 1
	fi
}

# names_value VALUE: $errline holds "VALUE" (quoted, as the contract shows).
names_value() {
	if ! grep -qF -- "\"$1\"" <<<"$errline"; then
		printf 'error line does not name value "%s": %s\n' "$1" "$errline" >&2
		return 1
	fi
}

# usage_error OPTION VALUE ARGS...: ARGS is a usage error naming OPTION and
# VALUE.
usage_error() {
	local opt=$1 val=$2
	shift 2
	usage_fails "$@" && names "$opt" && names_value "$val"
}

# has_line REGEX: some line of $output matches the extended REGEX whole.
has_line() {
	if ! grep -Eq -- "^$1\$" <<<"$output"; then
		printf 'no line matching: %s\n' "$1" >&2
		show
		return 1
	fi
}

# line_is N REGEX: line N (from 1) of $output matches REGEX whole.
line_is() {
	local l
	l=$(sed -n "$1p" <<<"$output")
	if ! grep -Eq -- "^$2\$" <<<"$l"; then
		printf 'line %s: %q does not match %s\n' "$1" "$l" "$2" >&2
		show
		return 1
	fi
}

# line_count N: $output has exactly N lines.
line_count() {
	local n
	n=$(wc -l <"$T/out")
	if [ "$n" -ne "$1" ]; then
		printf 'expected %s lines, got %s\n' "$1" "$n" >&2
		show
		return 1
	fi
}

# argv_script: $T/argv, a program that writes its arguments to $T/args, one
# a line.
argv_script() {
	cat >"$T/argv" <<EOF
#!/bin/sh
for a in "\$@"; do printf '%s\n' "\$a"; done >'$T/args'
EOF
	chmod +x "$T/argv"
}

# args_are ARG...: $T/args holds exactly these arguments.
args_are() {
	local expected
	expected=$(printf '%s\n' "$@"; printf x)
	assert_equal "$(cat "$T/args"; printf x)" "$expected"
}

# --- usage errors ----------------------------------------------------------

@test "--port: bad values are usage errors naming option and value" {
	local v
	for v in abc 0 65536 -1 '' '[::1' '::1:80' '[::1]' '127.0.0.1:' '127.0.0.1:0' \
		'127.0.0.1:70000' ':80'; do
		usage_error --port "$v" --inetd --port "$v"
	done
}

@test "--port: a name that does not resolve fails its check, never the start" {
	run "$HC" --once --port nonexistent.invalid:80
	[ "$status" -eq 1 ]
	has_line "fail tcp nonexistent.invalid:80 [0-9]+ms resolve nonexistent.invalid: .+"
}

@test "--port and --http: what is neither an address nor a host name is a usage error" {
	usage_error --port 'bad/name:80' --inetd --port 'bad/name:80'
	usage_error --port '[db.internal]:80' --inetd --port '[db.internal]:80'
	usage_error --http 'http://bad%name/' --inetd --http 'http://bad%name/'
}

@test "--script: empty, unterminated quotes and a trailing backslash are usage errors" {
	local v
	for v in '' '   ' "a 'b" 'a "b' "'a" '"' 'a\'; do
		usage_error --script "$v" --inetd --script "$v"
	done
}

@test "--script-timeout, --port-timeout, --request-timeout: bad values are usage errors" {
	local opt v
	for opt in --script-timeout --port-timeout --request-timeout; do
		for v in 0 -1 abc 3601 1e3 inf '' 0.0 -0.5 nan 5s 3600.5; do
			usage_error "$opt" "$v" --inetd --port 1 "$opt" "$v"
		done
	done
}

@test "timeouts: 3600, 0.5 and .5 are accepted" {
	local opt v
	start_listener
	for opt in --script-timeout --port-timeout --request-timeout; do
		for v in 3600 0.5 .5; do
			hc --once --port "$LPORT" "$opt" "$v"
			[ "$status" -eq 0 ] || { echo "$opt $v" >&2; show; false; }
		done
	done
}

@test "--listener: bad shapes are usage errors" {
	local v
	for v in foo 127.0.0.1 127.0.0.1: 127.0.0.1:99999 127.0.0.1:abc '[::1' '::1:5000' ''; do
		usage_error --listener "$v" --inetd --port 1 --listener "$v"
	done
}

@test "--log-level: an unknown level is a usage error" {
	local v
	for v in bogus '' INFOO; do
		usage_error --log-level "$v" --inetd --port 1 --log-level "$v"
	done
}

@test "--log-level: every documented level is accepted" {
	local v
	start_listener
	for v in panic fatal error warning warn info debug; do
		hc --once --port "$LPORT" --log-level "$v"
		[ "$status" -eq 0 ] || { echo "--log-level $v" >&2; show; false; }
	done
}

@test "--max-connections: 0, -5, x are usage errors" {
	local v
	for v in 0 -5 x ''; do
		usage_error --max-connections "$v" --inetd --port 1 --max-connections "$v"
	done
}

@test "unknown options are usage errors naming the option" {
	usage_fails --inetd --port 1 --bogus
	names --bogus
	usage_fails --bogus --port 1
	names --bogus
	usage_fails --port 1 -x
	names -x
}

@test "an option without its value is a usage error" {
	local opt
	for opt in --port --script --script-timeout --port-timeout --request-timeout \
		--listener --log-level --lock-file --max-connections; do
		usage_fails --inetd --port 1 "$opt"
		names "$opt"
	done
}

@test "a stray positional argument is a usage error naming it" {
	usage_fails --inetd --port 1 stray
	names_value stray
	usage_fails stray --inetd --port 1
	names_value stray
}

@test "no checks is a usage error" {
	local args
	for args in "--once" "--inetd" "--log-level debug" "--singleflight"; do
		# shellcheck disable=SC2086 # word splitting wanted
		usage_fails $args
		names --port
	done
}

@test "a usage error starts nothing: no server, no check run" {
	local p
	p=$(free_port)
	usage_fails --listener "127.0.0.1:$p" --script "touch $T/ran" --max-connections 0
	[ ! -e "$T/ran" ]
	if port_open 127.0.0.1 "$p"; then
		echo "something listens on 127.0.0.1:$p" >&2
		return 1
	fi
}

# --- help and version ------------------------------------------------------

@test "no arguments prints the help on stdout, exit 0" {
	hc
	[ "$status" -eq 0 ] || { show; false; }
	[ ! -s "$T/err" ] || { show; false; }
	grep -q -- --port "$T/out"
	grep -q -- --script "$T/out"
}

@test "--help lists every long option and exits 0, same text as no arguments" {
	local opt noargs
	hc
	noargs=$output
	hc --help
	[ "$status" -eq 0 ] || { show; false; }
	[ ! -s "$T/err" ] || { show; false; }
	assert_equal "$output" "$noargs"
	for opt in --port --script --script-timeout --port-timeout --request-timeout \
		--listener --singleflight --log-level --inetd --once --lock-file \
		--max-connections --version --help; do
		if ! grep -Eq -- "(^|[^-a-z])$opt([^-a-z]|\$)" "$T/out"; then
			echo "help does not mention $opt" >&2
			show
			return 1
		fi
	done
}

@test "--help shows the defaults: 5 s, :5000, 64, info" {
	local d
	hc --help
	for d in 5 :5000 64 info; do
		if ! grep -Eq -- "default:? $d([^0-9.:]|\$)" "$T/out"; then
			echo "help does not show default $d" >&2
			show
			return 1
		fi
	done
	# three timeouts, each default 5
	[ "$(grep -Ec -- 'default:? 5\)' "$T/out")" -ge 3 ] || { show; false; }
}

@test "--version prints one line and exits 0" {
	hc --version
	[ "$status" -eq 0 ] || { show; false; }
	line_count 1
	line_is 1 'health-checker [0-9]+\.[0-9]+\.[0-9]+'
	[ ! -s "$T/err" ]
}

@test "-help and -version work with a single dash too" {
	hc -version
	[ "$status" -eq 0 ] || { show; false; }
	line_is 1 'health-checker [0-9]+\.[0-9]+\.[0-9]+'
	hc -help
	[ "$status" -eq 0 ] || { show; false; }
	grep -q -- --max-connections "$T/out"
}

# --- --once ----------------------------------------------------------------

@test "--once healthy: one line per check, OK, exit 0" {
	start_listener
	hc --once --port "$LPORT"
	[ "$status" -eq 0 ] || { show; false; }
	line_count 2
	line_is 1 "ok tcp 127\\.0\\.0\\.1:$LPORT [0-9]+ms"
	line_is 2 'OK'
}

@test "--once unhealthy: a closed port fails with refused, exit 1" {
	local p
	p=$(free_port)
	hc --once --port "$p"
	[ "$status" -eq 1 ] || { show; false; }
	line_count 2
	line_is 1 "fail tcp 127\\.0\\.0\\.1:$p [0-9]+ms refused"
	line_is 2 'At least one health check failed'
}

@test "--once with one good and one bad check: both lines, unhealthy, exit 1" {
	local p
	start_listener
	p=$(free_port)
	hc --once --port "$LPORT" --port "127.0.0.1:$p"
	[ "$status" -eq 1 ] || { show; false; }
	line_count 3
	has_line "ok tcp 127\\.0\\.0\\.1:$LPORT [0-9]+ms"
	has_line "fail tcp 127\\.0\\.0\\.1:$p [0-9]+ms refused"
	line_is 3 'At least one health check failed'
}

@test "--once HOST:PORT keeps the host as given" {
	start_listener
	hc --once --port "localhost:$LPORT"
	[ "$status" -eq 0 ] || { show; false; }
	line_is 1 "ok tcp localhost:$LPORT [0-9]+ms"
}

@test "--once script true passes, exit 0" {
	hc --once --script true
	[ "$status" -eq 0 ] || { show; false; }
	line_count 2
	line_is 1 'ok script true [0-9]+ms'
	line_is 2 'OK'
}

@test "--once script false fails with exit 1" {
	hc --once --script false
	[ "$status" -eq 1 ] || { show; false; }
	line_count 2
	line_is 1 'fail script false [0-9]+ms exit 1'
	line_is 2 'At least one health check failed'
}

@test "--once script exit status 3 is reported as exit 3" {
	hc --once --script "sh -c 'exit 3'"
	[ "$status" -eq 1 ] || { show; false; }
	line_is 1 'fail script sh [0-9]+ms exit 3'
}

@test "--once script killed by SIGKILL is reported as killed by signal 9" {
	hc --once --script "sh -c 'kill -9 \$\$'"
	[ "$status" -eq 1 ] || { show; false; }
	line_is 1 'fail script sh [0-9]+ms killed by signal 9'
}

@test "--once missing program: cannot execute: No such file or directory" {
	hc --once --script "no-such-program-hc-test arg"
	[ "$status" -eq 1 ] || { show; false; }
	line_is 1 'fail script no-such-program-hc-test [0-9]+ms cannot execute: No such file or directory'
	hc --once --script "$T/missing"
	[ "$status" -eq 1 ] || { show; false; }
	line_is 1 "fail script $T/missing [0-9]+ms cannot execute: No such file or directory"
}

@test "--once executable file without shebang: cannot execute: Exec format error" {
	printf 'this is plain text, not a program\n' >"$T/plain"
	chmod +x "$T/plain"
	hc --once --script "$T/plain"
	[ "$status" -eq 1 ] || { show; false; }
	line_is 1 "fail script $T/plain [0-9]+ms cannot execute: Exec format error"
	line_is 2 'At least one health check failed'
}

@test "--once file without execute permission: cannot execute: Permission denied" {
	printf '#!/bin/sh\nexit 0\n' >"$T/noexec"
	chmod 644 "$T/noexec"
	hc --once --script "$T/noexec"
	[ "$status" -eq 1 ] || { show; false; }
	line_is 1 "fail script $T/noexec [0-9]+ms cannot execute: Permission denied"
}

@test "--once with scripts and ports: every check reported, unhealthy if any fails" {
	start_listener
	hc --once --script true --port "$LPORT" --script false
	[ "$status" -eq 1 ] || { show; false; }
	line_count 4
	has_line 'ok script true [0-9]+ms'
	has_line "ok tcp 127\\.0\\.0\\.1:$LPORT [0-9]+ms"
	has_line 'fail script false [0-9]+ms exit 1'
	line_is 4 'At least one health check failed'
}

@test "--script-timeout 0.5: a sleep 2 script times out well before 2 s" {
	hc --once --script-timeout 0.5 --script 'sleep 2'
	[ "$status" -eq 1 ] || { show; false; }
	line_is 1 'fail script sleep [0-9]+ms timed out'
	[ "$ms" -lt 1900 ] || { show; false; }
	[ "$ms" -ge 400 ] || { show; false; }
}

# --- word splitting --------------------------------------------------------

@test "--script: single quotes, double quotes and backslashes split like sh" {
	argv_script
	hc --once --script "$T/argv 'a b' \"c d\" e\\ f 'it'\\''s' \"x\\\"y\" \"\\\\\" ''  plain"
	[ "$status" -eq 0 ] || { show; false; }
	args_are 'a b' 'c d' 'e f' "it's" 'x"y' '\' '' plain
}

@test "--script: backslash is literal in single quotes and before ordinary chars in double quotes" {
	argv_script
	hc --once --script "$T/argv 'a\\b' \"c\\d\" e\\g a'b'\"c\"d"
	[ "$status" -eq 0 ] || { show; false; }
	args_are 'a\b' 'c\d' 'eg' 'abcd'
}

@test "--script: tabs and runs of blanks separate words" {
	argv_script
	hc --once --script "  $T/argv	one   two	 three  "
	[ "$status" -eq 0 ] || { show; false; }
	args_are one two three
}

@test "--script: no expansion: \$HOME, *, ~, \`cmd\`, \$(cmd) stay literal" {
	argv_script
	touch "$T/glob-me"
	# shellcheck disable=SC2016 # literal on purpose
	hc --once --script "$T/argv \$HOME * ~ ~/x \`id\` \$(id) \"\$HOME\" $T/glob-* a=\$PATH {a,b} \$1 ;"
	[ "$status" -eq 0 ] || { show; false; }
	# shellcheck disable=SC2016,SC2088 # literal on purpose
	args_are '$HOME' '*' '~' '~/x' '`id`' '$(id)' '$HOME' "$T/glob-*" 'a=$PATH' '{a,b}' '$1' ';'
}

@test "--script: a program name with quotes is looked up after unquoting" {
	argv_script
	hc --once --script "'$T/argv' x"
	[ "$status" -eq 0 ] || { show; false; }
	args_are x
}

# --- single-dash options, log levels ---------------------------------------

@test "single-dash long options work: -port N -once" {
	start_listener
	hc -once -port "$LPORT"
	[ "$status" -eq 0 ] || { show; false; }
	line_is 1 "ok tcp 127\\.0\\.0\\.1:$LPORT [0-9]+ms"
	line_is 2 'OK'
}

@test "single-dash option with a bad value is a usage error naming it" {
	usage_fails -inetd -port abc
	names_value abc
	grep -q -- 'port' <<<"$errline"
}

@test "default log level: --once writes its results to stdout and nothing to stderr" {
	start_listener
	hc --once --port "$LPORT"
	[ "$status" -eq 0 ] || { show; false; }
	[ ! -s "$T/err" ] || { show; false; }
}

@test "--log-level debug: one line per check on stderr in the contract's format" {
	start_listener
	hc --once --log-level debug --port "$LPORT"
	[ "$status" -eq 0 ] || { show; false; }
	grep -Eq "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z debug check tcp 127\\.0\\.0\\.1:$LPORT ok [0-9]+ms\$" "$T/err" ||
		{ show; false; }
}

@test "--log-level error suppresses info and warning lines" {
	local p
	start_listener
	p=$(free_port)
	hc --once --log-level error --port "$LPORT" --port "$p"
	[ "$status" -eq 1 ] || { show; false; }
	! grep -Eq ' (info|warning|debug) ' "$T/err" || { show; false; }
	# stdout still has the results
	has_line "ok tcp 127\\.0\\.0\\.1:$LPORT [0-9]+ms"
	has_line "fail tcp 127\\.0\\.0\\.1:$p [0-9]+ms refused"
}

@test "flags take =true and =false, as the original's command line did" {
	start_listener
	hc --once=true --port "$LPORT"
	[ "$status" -eq 0 ] || { show; false; }
	assert_equal "$(tail -n 1 "$T/out")" OK
	# --once=false: not --once, so inetd mode on an empty stdin.
	hc --once=false --inetd=true --singleflight=false --details=False \
		--port "$LPORT"
	[ "$status" -eq 0 ] || { show; false; }
	[ ! -s "$T/out" ] || { show; false; }
	hc --once --singleflight=1 --details=t --port "$LPORT"
	[ "$status" -eq 0 ] || { show; false; }
	usage_error --singleflight maybe --once --singleflight=maybe --port 1
	hc --help=false --version=true
	[ "$status" -eq 0 ] || { show; false; }
	grep -q '^health-checker ' "$T/out"
}

@test "--log-level trace is debug, as logrus has it" {
	start_listener
	hc --once --log-level trace --port "$LPORT"
	[ "$status" -eq 0 ] || { show; false; }
	grep -Eq " debug check tcp 127\\.0\\.0\\.1:$LPORT ok [0-9]+ms\$" "$T/err" || { show; false; }
	hc --once --log-level TRACE --port "$LPORT"
	[ "$status" -eq 0 ] || { show; false; }
}

@test "--log-level debug logs a connection closed without a request" {
	hc --inetd --log-level debug --script true
	[ "$status" -eq 0 ] || { show; false; }
	[ ! -s "$T/out" ] || { show; false; }
	grep -Eq ' debug connection - closed without a request$' "$T/err" || { show; false; }
}
