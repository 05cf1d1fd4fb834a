#!/usr/bin/env bats
# The HTTP answer: status line, headers, exact bodies, methods and versions,
# bad requests (400, 408, 431, 505) that never run the checks, clients that
# send nothing.  Driven through a pipe with --inetd and through a real
# loopback socket (systemd-socket-activate --accept --inetd, one checker per
# connection, as xinetd or an Accept=yes unit would run it).

setup() {
	load helpers
	common_setup
	# $T/mark: a check that passes and leaves a line in $T/ran, so a test
	# can tell whether the checks ran.
	cat >"$T/mark" <<EOF
#!/bin/sh
echo ran >>'$T/ran'
EOF
	chmod +x "$T/mark"
}

teardown() {
	common_teardown
}

OK_BODY='OK'
FAIL_BODY='At least one health check failed'

# --- helpers ---------------------------------------------------------------

# show_answer: the answer and the logs, for a failure message.
show_answer() {
	{
		echo '--- answer'
		od -c "$T/answer" | head -n 40
		[ -f "$T/err" ] && { echo '--- stderr (pipe)'; cat "$T/err"; }
		[ -f "$T/sa.log" ] && { echo '--- systemd-socket-activate log'; cat "$T/sa.log"; }
	} >&2
}

# split_answer: $T/answer cut at the first CRLF CRLF into $T/head (up to and
# including the last header's CRLF) and $T/body (the exact bytes after).
split_answer() {
	python3 - "$T/answer" "$T/head" "$T/body" <<'EOF' || { show_answer; return 1; }
import sys
d = open(sys.argv[1], "rb").read()
i = d.find(b"\r\n\r\n")
if i < 0:
    sys.exit("no CRLF CRLF ending a head in the answer")
open(sys.argv[2], "wb").write(d[:i + 2])
open(sys.argv[3], "wb").write(d[i + 4:])
EOF
}

# header NAME: the values of header NAME (any case) in $T/head, one a line.
header() {
	grep -i "^$1:" "$T/head" | sed 's/^[^:]*:[ 	]*//; s/[ 	]*\r$//'
}

# one_header NAME VALUE: exactly one NAME header, its value exactly VALUE.
one_header() {
	local n
	n=$(grep -ic "^$1:" "$T/head")
	if [ "$n" -ne 1 ]; then
		echo "expected one $1 header, found $n" >&2
		show_answer
		return 1
	fi
	assert_equal "$(header "$1")" "$2" || { show_answer; return 1; }
}

# body_is EXPECTED: $T/body holds exactly EXPECTED (no command substitution
# on the way, which would drop trailing newlines).
body_is() {
	local got
	got=$(cat "$T/body"; printf x)
	assert_equal "${got%x}" "$1"
}

# assert_answer STATUS_LINE BODY [head]: $T/answer is STATUS_LINE, the
# required headers (Content-Length that of BODY), then BODY exactly; with
# "head", no body at all (the answer to HEAD).
assert_answer() {
	local want_status=$1 want_body=$2 mode=${3-}
	split_answer || return 1
	assert_equal "$(status_line "$T/head")" "$want_status" || { show_answer; return 1; }
	# every head line ends in CRLF
	if grep -qv $'\r$' "$T/head"; then
		echo 'a head line does not end in CRLF' >&2
		show_answer
		return 1
	fi
	one_header Content-Type 'text/plain; charset=utf-8' || return 1
	one_header Content-Length "${#want_body}" || return 1
	one_header Connection close || return 1
	one_header Cache-Control no-store || return 1
	[ "$(grep -ic '^Date:' "$T/head")" -eq 1 ] || { echo 'no single Date header' >&2; show_answer; return 1; }
	if ! header Date | grep -Eq '^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), [0-9]{2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) [0-9]{4} [0-9]{2}:[0-9]{2}:[0-9]{2} GMT$'; then
		echo "Date is not an IMF-fixdate: $(header Date)" >&2
		show_answer
		return 1
	fi
	if [ "$mode" = head ]; then
		body_is '' || { show_answer; return 1; }
	else
		body_is "$want_body" || { show_answer; return 1; }
	fi
}

# ran_once: the checks ran, once.
ran_once() {
	if [ ! -f "$T/ran" ] || [ "$(wc -l <"$T/ran")" -ne 1 ]; then
		echo "expected the checks to run once; \$T/ran: $(cat "$T/ran" 2>&1)" >&2
		show_answer
		return 1
	fi
}

# no_checks: the checks did not run.
no_checks() {
	if [ -e "$T/ran" ]; then
		echo 'the checks ran for a request that must not run them' >&2
		show_answer
		return 1
	fi
}

# pipe_ok: the one-shot checker of inetd_request exited 0.
pipe_ok() {
	if [ "$status" -ne 0 ]; then
		echo "one-shot checker exited $status, expected 0" >&2
		show_answer
		return 1
	fi
}

# activate ARGS...: systemd-socket-activate on a free loopback port ($PORT),
# one `health-checker --inetd`-style process per connection, started with
# ARGS; its log (and the checkers' stderr) in $T/sa.log.
activate() {
	PORT=$(free_port)
	: >"$T/sa.log"
	bg systemd-socket-activate --accept --inetd -l "127.0.0.1:$PORT" -- "$HC" "$@" 2>>"$T/sa.log"
	wait_port "$PORT" || { show_answer; return 1; }
	CONNS=1 # wait_port's probe
	children_done || return 1
}

# exited_children: how many checkers systemd-socket-activate saw exit.
exited_children() {
	grep -c '^Child [0-9]* died with code' "$T/sa.log"
}

children_reaped() {
	[ "$(exited_children)" -ge "$CONNS" ]
}

# children_done: every connection's checker has exited, each with status 0.
children_done() {
	wait_until 10 children_reaped || { show_answer; return 1; }
	if grep '^Child [0-9]* died with code' "$T/sa.log" | grep -qv 'code 0$'; then
		echo 'a checker exited non-zero' >&2
		show_answer
		return 1
	fi
}

# sock FMT [CLIENT-OPTIONS...]: the bytes of FMT (printf format) sent over
# a connection to $PORT with tests/client.py; the answer in $T/answer, the
# client's status in $cstatus, elapsed ms in $ms; then waits for that
# connection's checker to exit (status 0).
sock() {
	local fmt=$1 start
	shift
	start=$(date +%s%N)
	# shellcheck disable=SC2059
	printf "$fmt" | python3 "$CLIENT" 127.0.0.1 "$PORT" --timeout 8 "$@" >"$T/answer" &&
		cstatus=0 || cstatus=$?
	ms=$(ms_since "$start")
	CONNS=$((CONNS + 1))
	children_done
}

# via_curl ARGS...: curl ARGS against $PORT, the answer in $T/answer; then
# waits for that connection's checker to exit (status 0).
via_curl() {
	curl -sS --max-time 8 "$@" >"$T/answer" || { show_answer; return 1; }
	CONNS=$((CONNS + 1))
	children_done
}

# client_closed: the client saw the server close (not its own timeout).
client_closed() {
	if [ "$cstatus" -ne 0 ]; then
		echo "client status $cstatus (3: the server did not close)" >&2
		show_answer
		return 1
	fi
}

# bad_request STATUS_LINE FMT: FMT gets STATUS_LINE and the body the
# contract gives for it (the reason phrase after "HTTP/1.x "), through a
# pipe (exit 0) and through a socket without half-close, and the checks
# never run.
bad_request() {
	local want=$1 fmt=$2
	inetd_request "$fmt" --script "$T/mark"
	pipe_ok || return 1
	assert_answer "$want" "${want#HTTP/1.? }" || return 1
	no_checks || return 1
	activate --request-timeout 2 --script "$T/mark" || return 1
	sock "$fmt" || return 1
	client_closed || return 1
	assert_answer "$want" "${want#HTTP/1.? }" || return 1
	no_checks
}

# good_request STATUS_LINE FMT: like bad_request, but the checks ($T/mark,
# healthy) run once for each and the body is OK.
good_request() {
	local want=$1 fmt=$2
	inetd_request "$fmt" --script "$T/mark"
	pipe_ok || return 1
	assert_answer "$want" "$OK_BODY" || return 1
	ran_once || return 1
	rm -f "$T/ran"
	activate --request-timeout 2 --script "$T/mark" || return 1
	sock "$fmt" || return 1
	client_closed || return 1
	assert_answer "$want" "$OK_BODY" || return 1
	ran_once
}

# probe_and_close: connect to $PORT and close at once, then wait for that
# connection's checker to exit (status 0).
probe_and_close() {
	port_open 127.0.0.1 "$PORT" || return 1
	CONNS=$((CONNS + 1))
	children_done
}

# pad N: N bytes of "a".
pad() {
	printf '%*s' "$1" '' | tr ' ' a
}

# --- verdicts --------------------------------------------------------------

@test "pipe: GET healthy is 200 OK with every header and body OK, exit 0" {
	inetd_request 'GET / HTTP/1.1\r\nHost: lb\r\n\r\n' --script "$T/mark"
	pipe_ok
	assert_answer 'HTTP/1.1 200 OK' "$OK_BODY"
	ran_once
}

@test "pipe: GET unhealthy is 504 Gateway Timeout with the original body, exit 0" {
	inetd_request 'GET / HTTP/1.1\r\nHost: lb\r\n\r\n' --script "$T/mark" --script false
	pipe_ok
	assert_answer 'HTTP/1.1 504 Gateway Timeout' "$FAIL_BODY"
	ran_once
}

@test "pipe: a closed port makes the answer 504" {
	local p
	p=$(free_port)
	inetd_request 'GET / HTTP/1.1\r\n\r\n' --port "$p"
	pipe_ok
	assert_answer 'HTTP/1.1 504 Gateway Timeout' "$FAIL_BODY"
}

@test "pipe: HEAD gets the headers alone, Content-Length that of the body" {
	inetd_request 'HEAD / HTTP/1.1\r\nHost: lb\r\n\r\n' --script "$T/mark"
	pipe_ok
	assert_answer 'HTTP/1.1 200 OK' "$OK_BODY" head
	ran_once
	inetd_request 'HEAD / HTTP/1.1\r\nHost: lb\r\n\r\n' --script false
	pipe_ok
	assert_answer 'HTTP/1.1 504 Gateway Timeout' "$FAIL_BODY" head
}

@test "pipe: HTTP/1.0 is answered HTTP/1.0" {
	inetd_request 'GET / HTTP/1.0\r\n\r\n' --script "$T/mark"
	pipe_ok
	assert_answer 'HTTP/1.0 200 OK' "$OK_BODY"
	inetd_request 'GET / HTTP/1.0\r\n\r\n' --script false
	pipe_ok
	assert_answer 'HTTP/1.0 504 Gateway Timeout' "$FAIL_BODY"
}

@test "pipe: HTTP/1.2 is answered HTTP/1.1" {
	inetd_request 'GET / HTTP/1.2\r\nHost: lb\r\n\r\n' --script "$T/mark"
	pipe_ok
	assert_answer 'HTTP/1.1 200 OK' "$OK_BODY"
	ran_once
}

@test "pipe: OPTIONS * HTTP/1.0 (HAProxy's check) is answered" {
	inetd_request 'OPTIONS * HTTP/1.0\r\n\r\n' --script "$T/mark"
	pipe_ok
	assert_answer 'HTTP/1.0 200 OK' "$OK_BODY"
	ran_once
}

@test "pipe: POST with a body is answered, the body ignored" {
	inetd_request 'POST /health HTTP/1.1\r\nHost: lb\r\nContent-Type: text/plain\r\nContent-Length: 11\r\n\r\nhello world' --script "$T/mark"
	pipe_ok
	assert_answer 'HTTP/1.1 200 OK' "$OK_BODY"
	ran_once
}

@test "pipe: any method and target" {
	local m
	for m in 'DELETE /a/b?c=d&e' 'PUT http://lb/x' 'BREW /pot'; do
		inetd_request "$m HTTP/1.1\\r\\nHost: lb\\r\\n\\r\\n" --script true
		pipe_ok
		assert_answer 'HTTP/1.1 200 OK' "$OK_BODY"
	done
}

@test "pipe: no Host header is fine" {
	inetd_request 'GET / HTTP/1.1\r\n\r\n' --script "$T/mark"
	pipe_ok
	assert_answer 'HTTP/1.1 200 OK' "$OK_BODY"
	ran_once
}

@test "pipe: bare LF line endings" {
	inetd_request 'GET / HTTP/1.1\nHost: lb\nUser-Agent: t\n\n' --script "$T/mark"
	pipe_ok
	assert_answer 'HTTP/1.1 200 OK' "$OK_BODY"
	ran_once
}

@test "pipe: a leading empty line before the request line is skipped" {
	inetd_request '\r\nGET / HTTP/1.1\r\nHost: lb\r\n\r\n' --script "$T/mark"
	pipe_ok
	assert_answer 'HTTP/1.1 200 OK' "$OK_BODY"
	ran_once
	rm -f "$T/ran"
	inetd_request '\nGET / HTTP/1.1\n\n' --script "$T/mark"
	pipe_ok
	assert_answer 'HTTP/1.1 200 OK' "$OK_BODY"
	ran_once
}

@test "pipe: header values with colons, tabs and empty values are fine" {
	inetd_request 'GET / HTTP/1.1\r\nHost: 127.0.0.1:5000\r\nX-A:\t v \t\r\nX-Empty:\r\n\r\n' --script "$T/mark"
	pipe_ok
	assert_answer 'HTTP/1.1 200 OK' "$OK_BODY"
	ran_once
}

@test "pipe: no log byte reaches the answer, logs go to stderr" {
	inetd_request 'GET /x HTTP/1.1\r\n\r\n' --log-level debug --script "sh -c 'echo out; echo err >&2; exit 3'"
	pipe_ok
	assert_answer 'HTTP/1.1 504 Gateway Timeout' "$FAIL_BODY"
	grep -q ' debug request - GET /x$' "$T/err" || { show_answer; false; }
	grep -q ' debug verdict unhealthy 504 ' "$T/err" || { show_answer; false; }
}

# --- bad requests: pipe and socket ----------------------------------------

@test "400 for garbage" {
	bad_request 'HTTP/1.1 400 Bad Request' 'hello there\r\n\r\n'
}

@test "400 for a NUL byte in the request line" {
	bad_request 'HTTP/1.1 400 Bad Request' 'GET /a\0b HTTP/1.1\r\nHost: lb\r\n\r\n'
}

@test "400 for a NUL byte in a header" {
	bad_request 'HTTP/1.1 400 Bad Request' 'GET / HTTP/1.1\r\nHost: l\0b\r\n\r\n'
}

@test "400 for a header line without a colon" {
	bad_request 'HTTP/1.1 400 Bad Request' 'GET / HTTP/1.1\r\nHost lb\r\n\r\n'
}

@test "400 for obs-fold (a header continued on an indented line)" {
	bad_request 'HTTP/1.1 400 Bad Request' 'GET / HTTP/1.1\r\nHost: lb\r\nX-Long: a\r\n b\r\n\r\n'
}

@test "400 for a space before the colon" {
	bad_request 'HTTP/1.1 400 Bad Request' 'GET / HTTP/1.1\r\nHost : lb\r\n\r\n'
}

@test "400 for a lowercase version" {
	bad_request 'HTTP/1.1 400 Bad Request' 'GET / http/1.1\r\nHost: lb\r\n\r\n'
}

@test "400 for a missing version" {
	bad_request 'HTTP/1.1 400 Bad Request' 'GET /\r\n\r\n'
}

@test "400 for a request line with extra words" {
	bad_request 'HTTP/1.1 400 Bad Request' 'GET / HTTP/1.1 extra\r\n\r\n'
}

@test "505 for HTTP/2.0" {
	bad_request 'HTTP/1.1 505 HTTP Version Not Supported' 'GET / HTTP/2.0\r\nHost: lb\r\n\r\n'
}

@test "505 for HTTP/0.9" {
	bad_request 'HTTP/1.1 505 HTTP Version Not Supported' 'GET / HTTP/0.9\r\n\r\n'
}

@test "505 for HTTP/3.0" {
	bad_request 'HTTP/1.1 505 HTTP Version Not Supported' 'GET / HTTP/3.0\r\n\r\n'
}

@test "431 for a head of 9000 bytes" {
	local fmt
	fmt="GET / HTTP/1.1\\r\\nHost: lb\\r\\nX-Pad: $(pad 8963)\\r\\n\\r\\n"
	# shellcheck disable=SC2059
	assert_equal "$(printf "$fmt" | wc -c)" 9000
	bad_request 'HTTP/1.1 431 Request Header Fields Too Large' "$fmt"
}

@test "a head of exactly 8192 bytes is accepted" {
	local fmt
	fmt="GET / HTTP/1.1\\r\\nHost: lb\\r\\nX-Pad: $(pad 8155)\\r\\n\\r\\n"
	# shellcheck disable=SC2059
	assert_equal "$(printf "$fmt" | wc -c)" 8192
	good_request 'HTTP/1.1 200 OK' "$fmt"
}

@test "a bad request is logged as bad" {
	inetd_request 'hello\r\n\r\n' --script "$T/mark" --log-level debug
	pipe_ok
	grep -q ' debug request - bad: 400 Bad Request$' "$T/err" || { show_answer; false; }
}

@test "pipe: a partial head then EOF is 400, checks not run" {
	inetd_request 'GET / HTTP/1.1\r\nHost: lb\r\n' --script "$T/mark"
	pipe_ok
	assert_answer 'HTTP/1.1 400 Bad Request' '400 Bad Request'
	no_checks
}

@test "pipe: nothing then EOF: zero bytes, exit 0, checks not run" {
	inetd_request '' --script "$T/mark"
	pipe_ok
	[ ! -s "$T/answer" ] || { show_answer; false; }
	no_checks
}

# --- over a socket -------------------------------------------------------

@test "socket: GET healthy and unhealthy, exact answers, checker exits 0" {
	activate --script "$T/mark"
	sock 'GET / HTTP/1.1\r\nHost: lb\r\n\r\n'
	client_closed
	assert_answer 'HTTP/1.1 200 OK' "$OK_BODY"
	ran_once
	activate --script false
	sock 'GET / HTTP/1.1\r\nHost: lb\r\n\r\n'
	client_closed
	assert_answer 'HTTP/1.1 504 Gateway Timeout' "$FAIL_BODY"
}

@test "socket: HTTP/1.0, HTTP/1.2, OPTIONS *, HEAD, bare LF, no Host" {
	activate --script true
	sock 'GET / HTTP/1.0\r\n\r\n'
	assert_answer 'HTTP/1.0 200 OK' "$OK_BODY"
	sock 'GET / HTTP/1.2\r\n\r\n'
	assert_answer 'HTTP/1.1 200 OK' "$OK_BODY"
	sock 'OPTIONS * HTTP/1.0\r\n\r\n'
	assert_answer 'HTTP/1.0 200 OK' "$OK_BODY"
	sock 'HEAD / HTTP/1.1\r\nHost: lb\r\n\r\n'
	assert_answer 'HTTP/1.1 200 OK' "$OK_BODY" head
	sock 'GET / HTTP/1.1\nHost: lb\n\n'
	assert_answer 'HTTP/1.1 200 OK' "$OK_BODY"
}

@test "socket: curl -i gets exact 200 and 504 answers" {
	activate --script "$T/mark"
	via_curl -i "http://127.0.0.1:$PORT/"
	assert_answer 'HTTP/1.1 200 OK' "$OK_BODY"
	ran_once
	activate --script false
	via_curl -i "http://127.0.0.1:$PORT/health?x=1"
	assert_answer 'HTTP/1.1 504 Gateway Timeout' "$FAIL_BODY"
}

@test "socket: curl -I (HEAD) gets the headers, no body" {
	activate --script "$T/mark"
	via_curl -I "http://127.0.0.1:$PORT/"
	assert_answer 'HTTP/1.1 200 OK' "$OK_BODY" head
	ran_once
}

@test "socket: curl --http1.0 gets HTTP/1.0" {
	activate --script true
	via_curl -i -0 "http://127.0.0.1:$PORT/"
	assert_answer 'HTTP/1.0 200 OK' "$OK_BODY"
}

@test "socket: a POST with a 64 KiB body still gets its answer" {
	local fmt
	fmt="POST / HTTP/1.1\\r\\nHost: lb\\r\\nContent-Length: 65536\\r\\n\\r\\n$(pad 65536)"
	activate --script "$T/mark"
	sock "$fmt"
	client_closed
	assert_answer 'HTTP/1.1 200 OK' "$OK_BODY"
	ran_once
}

@test "socket: a partial head then half-close is 400, checks not run" {
	activate --script "$T/mark"
	sock 'GET / HTTP/1.1\r\nHost: lb\r\n' --half-close
	client_closed
	assert_answer 'HTTP/1.1 400 Bad Request' '400 Bad Request'
	no_checks
}

@test "socket: a partial head then silence is 408 at --request-timeout 0.5" {
	activate --request-timeout 0.5 --script "$T/mark"
	sock 'GET / HTTP/1.1\r\nHost: lb\r\n'
	client_closed
	echo "answered after ${ms}ms" >&2
	[ "$ms" -lt 2500 ]
	[ "$ms" -ge 400 ]
	assert_answer 'HTTP/1.1 408 Request Timeout' '408 Request Timeout'
	no_checks
}

@test "socket: a slow head (a byte every 0.1 s) is 408 at --request-timeout 0.5" {
	activate --request-timeout 0.5 --script "$T/mark"
	sock 'GET /slowly HTTP/1.1\r\nHost: lb\r\nUser-Agent: slowloris\r\n\r\n' --slow 0.1
	client_closed
	echo "answered after ${ms}ms" >&2
	[ "$ms" -lt 2500 ]
	assert_answer 'HTTP/1.1 408 Request Timeout' '408 Request Timeout'
	no_checks
}

@test "socket: a request sent a byte at a time within the deadline is answered" {
	activate --request-timeout 5 --script "$T/mark"
	sock 'GET / HTTP/1.1\r\nHost: lb\r\n\r\n' --slow 0.02
	client_closed
	assert_answer 'HTTP/1.1 200 OK' "$OK_BODY"
	ran_once
}

@test "socket: connect, send nothing, half-close: zero bytes, checker exits 0" {
	activate --request-timeout 5 --script "$T/mark"
	sock '' --no-send --half-close
	client_closed
	[ ! -s "$T/answer" ] || { show_answer; false; }
	echo "closed after ${ms}ms" >&2
	[ "$ms" -lt 2500 ] # at EOF, not at the 5 s timeout
	no_checks
}

@test "socket: connect and close at once (NLB TCP probe): checker exits 0" {
	activate --request-timeout 5 --script "$T/mark"
	probe_and_close
	no_checks
}

@test "socket: connect, send nothing, wait: zero bytes and a close at --request-timeout" {
	activate --request-timeout 0.5 --script "$T/mark"
	sock '' --no-send
	client_closed
	[ ! -s "$T/answer" ] || { show_answer; false; }
	echo "closed after ${ms}ms" >&2
	[ "$ms" -lt 2500 ]
	[ "$ms" -ge 400 ]
	no_checks
}

@test "a listening socket on stdin (inetd wait mode by mistake) is an error, not a quiet exit 0" {
	# Not an answer and not a client that sent nothing: the one-shot could
	# not do its job, so its exit status must say so.
	python3 - "$HC" "$T/mark" "$T/err" <<'PY' && status=0 || status=$?
import socket, subprocess, sys
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(1)
with open(sys.argv[3], "wb") as err:
    r = subprocess.run([sys.argv[1], "--inetd", "--script", sys.argv[2]],
                       stdin=s, stdout=s, stderr=err, timeout=10)
sys.exit(r.returncode)
PY
	cat "$T/err" >&2
	no_checks
	[ "$status" -ne 0 ]
}
