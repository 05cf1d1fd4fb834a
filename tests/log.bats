#!/usr/bin/env bats
# Logging: the plain stderr format and its messages, --log-level, never a
# log byte on the client's connection, the journald <N> prefix.

setup() {
	load helpers
	common_setup
	SCRIPTS=$BATS_TEST_DIRNAME/scripts
	start_listener
	UP=$LPORT
	DOWN=$(free_port)
	TS='[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z'
	REQ='GET /health HTTP/1.0\r\n\r\n'
	# The record of the last verdict one-shots compare notes through:
	# this test's own.
	mkdir -m 700 "$T/rt"
	export RUNTIME_DIRECTORY=$T/rt
}

teardown() {
	common_teardown
}

# has_line REGEX [FILE]: a line of FILE ($T/err by default) matches REGEX.
has_line() {
	local f=${2:-$T/err}
	if ! grep -Eq -e "^$1\$" "$f"; then
		printf 'no line matching: %s\nin %s:\n%s\n' "$1" "$f" "$(cat "$f")" >&2
		return 1
	fi
}

# no_line REGEX [FILE]: no line of FILE ($T/err by default) matches REGEX.
no_line() {
	local f=${2:-$T/err}
	if grep -E -e "$1" "$f" >&2; then
		echo "unexpected line matching $1 in $f" >&2
		return 1
	fi
}

# line_no REGEX: the number of the first line of $T/err matching REGEX.
line_no() {
	grep -nE -e "$1" "$T/err" | head -n 1 | cut -d: -f1
}

# all_plain FILE: every line has the plain format.
all_plain() {
	local bad
	bad=$(grep -Ev "^$TS (panic|fatal|error|warning|notice|info|debug) [^ ].*\$" "$1" || true)
	if [ -n "$bad" ]; then
		printf 'lines not in the plain format:\n%s\n' "$bad" >&2
		return 1
	fi
}

# normalized FILE: the answer with the Date header's value replaced.
normalized() {
	sed 's/^Date: .*\r$/Date: X\r/' "$1"
}

# same_answer REQUEST ACTUAL ARGS...: ACTUAL holds byte for byte what the
# pipe form answers to REQUEST with ARGS (stderr elsewhere), Date aside.
same_answer() {
	local req=$1 actual=$2
	shift 2
	# shellcheck disable=SC2059
	printf "$req" | "$HC" --inetd "$@" >"$T/reference" 2>/dev/null
	normalized "$T/reference" >"$T/reference.n"
	normalized "$actual" >"$T/actual.n"
	if ! cmp -s "$T/reference.n" "$T/actual.n"; then
		printf 'expected:\n%s\nactual:\n%s\n' "$(od -c "$T/reference.n")" "$(od -c "$T/actual.n")" >&2
		return 1
	fi
}

# ends_with FILE TEXT: the last bytes of FILE are exactly TEXT.
ends_with() {
	local got
	got=$(tail -c "${#2}" "$1"; echo x)
	assert_equal "${got%x}" "$2"
}

@test "info: the first verdict is told once, at notice, in the plain format; a repeat tells nothing" {
	inetd_request "$REQ" --port "$UP" --script true
	[ "$status" -eq 0 ]
	cat "$T/err" >&2
	all_plain "$T/err"
	has_line "$TS notice verdict healthy"
	[ "$(wc -l <"$T/err")" -eq 1 ]
	inetd_request "$REQ" --port "$UP" --script true
	assert_equal "$(status_line "$T/answer")" "HTTP/1.0 200 OK"
	assert_equal "$(cat "$T/err")" ""
}

@test "info: an unhealthy verdict names each failing check, its reason and a script's output" {
	inetd_request "$REQ" --port "$UP" --port "$DOWN" --script "sh -c 'echo hi; exit 3'"
	[ "$status" -eq 0 ]
	cat "$T/err" >&2
	all_plain "$T/err"
	has_line "$TS warning verdict unhealthy: tcp 127\\.0\\.0\\.1:$DOWN refused; script sh exit 3 \"hi\\\\n\""
	[ "$(wc -l <"$T/err")" -eq 1 ]
}

@test "info: 20 healthy one-shot probes write one line in all" {
	local i
	: >"$T/all"
	for i in $(seq 20); do
		inetd_request "$REQ" --port "$UP" --script true
		assert_equal "$(status_line "$T/answer")" "HTTP/1.0 200 OK"
		cat "$T/err" >>"$T/all"
	done
	cat "$T/all" >&2
	assert_equal "$(wc -l <"$T/all")" 1
	has_line "$TS notice verdict healthy" "$T/all"
}

# flap: one-shots against a port that goes down and comes back; every
# stderr line in $T/all.
flap() {
	local i
	: >"$T/all"
	for i in 1 2 3; do
		inetd_request "$REQ" --port "$UP" "$@"
		cat "$T/err" >>"$T/all"
	done
	kill "$LISTENER_PID"
	wait_until 5 not port_open 127.0.0.1 "$UP"
	for i in 1 2 3; do
		inetd_request "$REQ" --port "$UP" "$@"
		assert_equal "$(status_line "$T/answer")" "HTTP/1.0 504 Gateway Timeout"
		cat "$T/err" >>"$T/all"
	done
	bg "$LISTEN" 127.0.0.1 "$UP" >/dev/null
	wait_port "$UP"
	for i in 1 2 3; do
		inetd_request "$REQ" --port "$UP" "$@"
		assert_equal "$(status_line "$T/answer")" "HTTP/1.0 200 OK"
		cat "$T/err" >>"$T/all"
	done
	cat "$T/all" >&2
}

@test "info: a port going down and back: the first verdict and the two changes, with the reason (one-shots)" {
	flap
	assert_equal "$(wc -l <"$T/all")" 3
	has_line "$TS notice verdict healthy" "$T/all"
	has_line "$TS warning verdict unhealthy \\(was healthy\\): tcp 127\\.0\\.0\\.1:$UP refused" "$T/all"
	has_line "$TS notice verdict healthy \\(was unhealthy\\)" "$T/all"
}

@test "info: the same flap through the standalone server" {
	local port i
	port=$(free_port)
	start_hc --listener "127.0.0.1:$port" --port "$UP"
	wait_port "$port"
	for i in 1 2 3; do curl -s -o /dev/null "http://127.0.0.1:$port/"; done
	kill "$LISTENER_PID"
	wait_until 5 not port_open 127.0.0.1 "$UP"
	for i in 1 2 3; do curl -s -o /dev/null "http://127.0.0.1:$port/"; done
	bg "$LISTEN" 127.0.0.1 "$UP" >/dev/null
	wait_port "$UP"
	for i in 1 2 3; do curl -s -o /dev/null "http://127.0.0.1:$port/"; done
	grep -v ' listening on ' "$T/hc.log" >"$T/all"
	cat "$T/all" >&2
	assert_equal "$(wc -l <"$T/all")" 3
	has_line "$TS notice verdict healthy" "$T/all"
	has_line "$TS warning verdict unhealthy \\(was healthy\\): tcp 127\\.0\\.0\\.1:$UP refused" "$T/all"
	has_line "$TS notice verdict healthy \\(was unhealthy\\)" "$T/all"
}

@test "info: the same flap under --singleflight: still three lines" {
	flap --singleflight
	assert_equal "$(wc -l <"$T/all")" 3
}

@test "debug: request, checks, verdict: a line each, in the plain format" {
	inetd_request "$REQ" --port "$UP" --script true --log-level debug
	[ "$status" -eq 0 ]
	cat "$T/err" >&2
	all_plain "$T/err"
	has_line "$TS debug request - GET /health"
	has_line "$TS debug check tcp 127\\.0\\.0\\.1:$UP ok [0-9]+ms"
	has_line "$TS debug check script true ok [0-9]+ms"
	has_line "$TS debug verdict healthy 200 [0-9]+ms"
	has_line "$TS notice verdict healthy"
	[ "$(line_no ' request ')" -eq 1 ]
}

@test "debug: a failing script's output is on its check's line" {
	inetd_request "$REQ" --port "$DOWN" --script "sh -c 'echo hi; exit 3'" --log-level debug
	[ "$status" -eq 0 ]
	has_line "$TS debug check tcp 127\\.0\\.0\\.1:$DOWN fail [0-9]+ms refused"
	has_line "$TS debug check script sh fail [0-9]+ms exit 3 output \"hi\\\\n\""
	has_line "$TS debug verdict unhealthy 504 [0-9]+ms"
}

@test "info: the peer of a socket is not logged, debug: it is ADDR:PORT" {
	socket_activate -a -- "$HC" --port "$UP" --log-level debug
	printf "$REQ" | python3 "$CLIENT" 127.0.0.1 "$APORT" >"$T/answer"
	assert_equal "$(status_line "$T/answer")" "HTTP/1.0 200 OK"
	wait_until 5 grep -q ' verdict healthy 200' "$T/sa.log"
	has_line "$TS debug request 127\\.0\\.0\\.1:[0-9]+ GET /health" "$T/sa.log"
}

@test "a bad request: nothing at info, a line at debug" {
	inetd_request 'BLAH\r\n\r\n' --port "$UP"
	[ "$status" -eq 0 ]
	assert_equal "$(status_line "$T/answer")" "HTTP/1.1 400 Bad Request"
	assert_equal "$(cat "$T/err")" ""
	inetd_request 'BLAH\r\n\r\n' --port "$UP" --log-level debug
	has_line "$TS debug request - bad: 400 Bad Request"
	no_line ' check '
}

@test "--log-level warning: a change to unhealthy is told, a change back is not" {
	flap --log-level warning
	assert_equal "$(wc -l <"$T/all")" 1
	has_line "$TS warning verdict unhealthy \\(was healthy\\): tcp 127\\.0\\.0\\.1:$UP refused" "$T/all"
}

@test "--log-level warning: a healthy request logs nothing" {
	inetd_request "$REQ" --port "$UP" --script true --log-level warning
	[ "$status" -eq 0 ]
	assert_equal "$(status_line "$T/answer")" "HTTP/1.0 200 OK"
	assert_equal "$(cat "$T/err")" ""
}

@test "--log-level warn is warning" {
	inetd_request "$REQ" --port "$UP" --port "$DOWN" --log-level warn
	[ "$status" -eq 0 ]
	has_line "$TS warning verdict unhealthy: tcp 127\\.0\\.0\\.1:$DOWN refused"
	no_line ' ok [0-9]+ms$'
}

@test "--log-level error hides warnings" {
	inetd_request "$REQ" --port "$DOWN" --log-level error
	[ "$status" -eq 0 ]
	assert_equal "$(status_line "$T/answer")" "HTTP/1.0 504 Gateway Timeout"
	assert_equal "$(cat "$T/err")" ""
}

@test "debug: a connect-and-close on a pipe logs the quiet probe" {
	inetd_request '' --port "$UP" --log-level debug
	[ "$status" -eq 0 ]
	[ ! -s "$T/answer" ]
	has_line "$TS debug connection - closed without a request"
	no_line ' check '
}

@test "info: the quiet probe is not logged" {
	inetd_request '' --port "$UP"
	[ "$status" -eq 0 ]
	assert_equal "$(cat "$T/err")" ""
}

@test "debug: a connect-and-close on a socket logs the quiet probe with its peer" {
	socket_activate -a -- "$HC" --port "$UP" --log-level debug
	run python3 "$CLIENT" 127.0.0.1 "$APORT" --no-send --half-close --timeout 5
	[ "$status" -eq 0 ]
	assert_equal "$output" ""
	wait_until 5 grep -q 'closed without a request' "$T/sa.log"
	has_line "$TS debug connection 127\\.0\\.0\\.1:[0-9]+ closed without a request" "$T/sa.log"
}

@test "stderr is the client's socket (-a --inetd): 200 answer byte-exact" {
	socket_activate -a --inetd -- sh -c 'exec "$0" "$@" 2>&1' "$HC" --port "$UP" --script true --log-level debug
	printf "$REQ" | python3 "$CLIENT" 127.0.0.1 "$APORT" >"$T/answer"
	assert_equal "$(status_line "$T/answer")" "HTTP/1.0 200 OK"
	ends_with "$T/answer" "OK"
	same_answer "$REQ" "$T/answer" --port "$UP" --script true
}

@test "stderr is the client's socket (-a --inetd): 504 answer byte-exact" {
	socket_activate -a --inetd -- sh -c 'exec "$0" "$@" 2>&1' "$HC" --port "$DOWN" --log-level debug
	printf "$REQ" | python3 "$CLIENT" 127.0.0.1 "$APORT" >"$T/answer"
	assert_equal "$(status_line "$T/answer")" "HTTP/1.0 504 Gateway Timeout"
	ends_with "$T/answer" "At least one health check failed"
	same_answer "$REQ" "$T/answer" --port "$DOWN"
}

@test "stderr is the client's socket (-a --inetd): failing script with output" {
	socket_activate -a --inetd -- sh -c 'exec "$0" "$@" 2>&1' "$HC" --script "$SCRIPTS/chatty 100 7" --log-level debug
	printf 'GET / HTTP/1.1\r\nHost: x\r\n\r\n' | python3 "$CLIENT" 127.0.0.1 "$APORT" >"$T/answer"
	assert_equal "$(status_line "$T/answer")" "HTTP/1.1 504 Gateway Timeout"
	ends_with "$T/answer" "At least one health check failed"
	no_line 'aaaa|TAIL' "$T/answer"
	same_answer 'GET / HTTP/1.1\r\nHost: x\r\n\r\n' "$T/answer" --script "$SCRIPTS/chatty 100 7"
}

@test "stderr is the client's socket (-a --inetd): a bad request's answer byte-exact" {
	socket_activate -a --inetd -- sh -c 'exec "$0" "$@" 2>&1' "$HC" --port "$UP" --log-level debug
	printf 'BLAH\r\n\r\n' | python3 "$CLIENT" 127.0.0.1 "$APORT" >"$T/answer"
	assert_equal "$(status_line "$T/answer")" "HTTP/1.1 400 Bad Request"
	same_answer 'BLAH\r\n\r\n' "$T/answer" --port "$UP"
}

@test "stderr is the client's socket (-a --inetd): a quiet probe gets no byte" {
	socket_activate -a --inetd -- sh -c 'exec "$0" "$@" 2>&1' "$HC" --port "$UP" --log-level debug
	python3 "$CLIENT" 127.0.0.1 "$APORT" --no-send --half-close --timeout 5 >"$T/answer"
	[ ! -s "$T/answer" ] || {
		od -c "$T/answer" >&2
		false
	}
}

@test "stderr is the client's socket (-a, fd 3): 504 answer byte-exact" {
	socket_activate -a -- sh -c 'exec "$0" "$@" 2>&3' "$HC" --port "$DOWN" --script "$SCRIPTS/chatty 10 1" --log-level debug
	printf "$REQ" | python3 "$CLIENT" 127.0.0.1 "$APORT" >"$T/answer"
	assert_equal "$(status_line "$T/answer")" "HTTP/1.0 504 Gateway Timeout"
	ends_with "$T/answer" "At least one health check failed"
	same_answer "$REQ" "$T/answer" --port "$DOWN" --script "$SCRIPTS/chatty 10 1"
}

@test "JOURNAL_STREAM matching stderr: every line carries its <N> priority" {
	: >"$T/err"
	printf "$REQ" | JOURNAL_STREAM=$(stat -c %d:%i "$T/err") \
		"$HC" --inetd --port "$UP" --port "$DOWN" --script true --log-level debug >"$T/answer" 2>>"$T/err"
	cat "$T/err" >&2
	assert_equal "$(status_line "$T/answer")" "HTTP/1.0 504 Gateway Timeout"
	[ -s "$T/err" ]
	no_line '^[^<]|^<[^0-7]|^<[0-7][^>]' "$T/err"
	has_line '<7>request - GET /health'
	has_line "<7>check tcp 127\\.0\\.0\\.1:$UP ok [0-9]+ms"
	has_line '<7>check script true ok [0-9]+ms'
	has_line "<7>check tcp 127\\.0\\.0\\.1:$DOWN fail [0-9]+ms refused"
	has_line "<4>verdict unhealthy: tcp 127\\.0\\.0\\.1:$DOWN refused"
	no_line "$TS"
}

@test "JOURNAL_STREAM matching stderr: a healthy change <5>, debug <7>" {
	: >"$T/err"
	printf "$REQ" | JOURNAL_STREAM=$(stat -c %d:%i "$T/err") \
		"$HC" --inetd --port "$UP" >"$T/answer" 2>>"$T/err"
	assert_equal "$(status_line "$T/answer")" "HTTP/1.0 200 OK"
	has_line '<5>verdict healthy'
	: >"$T/err"
	JOURNAL_STREAM=$(stat -c %d:%i "$T/err") \
		"$HC" --inetd --port "$UP" --log-level debug </dev/null >"$T/answer" 2>>"$T/err"
	has_line '<7>connection - closed without a request'
}

@test "JOURNAL_STREAM of another file: plain lines" {
	: >"$T/err"
	: >"$T/other"
	printf "$REQ" | JOURNAL_STREAM=$(stat -c %d:%i "$T/other") \
		"$HC" --inetd --port "$UP" --port "$DOWN" >"$T/answer" 2>>"$T/err"
	[ -s "$T/err" ]
	all_plain "$T/err"
	has_line "$TS warning verdict unhealthy: tcp 127\\.0\\.0\\.1:$DOWN refused"
	no_line '^<'
}

@test "JOURNAL_STREAM garbage or empty: plain lines" {
	local js
	: >"$T/err"
	for js in "" garbage "1:" ":2" "$(stat -c %d:%i "$T/err")x"; do
		: >"$T/err"
		rm -f "$T"/rt/*
		printf "$REQ" | JOURNAL_STREAM=$js "$HC" --inetd --port "$UP" >"$T/answer" 2>>"$T/err"
		[ -s "$T/err" ]
		all_plain "$T/err"
		has_line "$TS notice verdict healthy"
	done
}
