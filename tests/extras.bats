#!/usr/bin/env bats
# Beyond the original: --http and --unix checks, --details (text and JSON),
# --maintenance-file, --fail-status, --cache-ttl and READY=1/STOPPING=1 to
# NOTIFY_SOCKET.  Fixtures (an HTTP server, a unix stream listener, a
# sd_notify receiver, a JSON answer checker) live in tests/extras/.

setup() {
	load helpers
	common_setup
	EXTRAS=$BATS_TEST_DIRNAME/extras
	printf 'GET / HTTP/1.0\r\n\r\n' >"$T/req"
}

teardown() {
	common_teardown
}

# mkcheck NAME EXIT: a script $T/NAME that appends a line to $T/runs and
# exits EXIT.
mkcheck() {
	mkscript "$1" "echo run >>$T/runs; exit $2"
}

runs() {
	if [ -f "$T/runs" ]; then wc -l <"$T/runs"; else echo 0; fi
}

# assert_runs N: the checks ran N times.
assert_runs() {
	local n
	n=$(runs)
	if [ "$n" -ne "$1" ]; then
		echo "checks ran $n times, expected $1"
		cat "$T/hc.log" 2>/dev/null
		return 1
	fi
}

# get [CURL ARGS]: curl's answer (head and body) from PORT in $T/answer.
get() {
	curl -sS -i --max-time 10 "$@" "http://127.0.0.1:$PORT/" >"$T/answer"
}

# request FMT ARGS...: FMT's bytes (printf format) to a pipe-mode checker
# with ARGS; $T/answer, $T/err (also appended to $T/hc.log), $status.
request() {
	inetd_request "$@"
	cat "$T/err" >>"$T/hc.log"
}

# header FILE NAME: the value of header NAME in the answer in FILE.
header() {
	sed -n '2,/^\r\{0,1\}$/p' "$1" | tr -d '\r' |
		sed -n "s/^$2:[[:blank:]]*//Ip" | head -n 1
}

# assert_answer FILE STATUS-LINE BODY: exact status line and body bytes.
assert_answer() {
	# The dot keeps a stray trailing newline visible.
	if ! assert_equal "$(status_line "$1")" "$2" ||
		! assert_equal "$(body "$1"; echo .)" "$3."; then
		echo "--- answer:"
		cat "$1"
		echo "--- log:"
		cat "$T/hc.log" 2>/dev/null
		return 1
	fi
}

# assert_text FILE: a text/plain answer whose Content-Length is right.
assert_text() {
	assert_equal "$(header "$1" Content-Type)" "text/plain; charset=utf-8"
	assert_equal "$(header "$1" Content-Length)" "$(body "$1" | wc -c)"
}

# re STRING: STRING quoted for a bash regular expression.
re() {
	printf '%s' "$1" | sed 's/[][\.*^$(){}?+|]/\\&/g'
}

# assert_lines TEXT REGEX...: TEXT has one line per REGEX, in order, each
# matching in full.
assert_lines() {
	local text=$1 i=0 rx
	shift
	local -a got
	mapfile -t got <<<"$text"
	if [ "${#got[@]}" -ne $# ]; then
		printf 'expected %d lines, got %d:\n%s\n' $# "${#got[@]}" "$text"
		return 1
	fi
	for rx in "$@"; do
		if ! [[ ${got[i]} =~ ^${rx}$ ]]; then
			printf 'line %d: %q\ndoes not match: %s\n' $((i + 1)) \
				"${got[i]}" "$rx"
			return 1
		fi
		i=$((i + 1))
	done
}

# assert_body_lines FILE REGEX...: the body of the answer in FILE is one
# line per REGEX, every one (the last too) ending in a newline.
assert_body_lines() {
	local b
	b=$(body "$1"; echo .)
	if [ "${b: -2}" != $'\n.' ]; then
		printf 'body does not end with a newline: %q\n' "${b%.}"
		return 1
	fi
	b=${b%.}
	assert_lines "${b%$'\n'}" "${@:2}"
}

# usage_error OPTION VALUE ARGS...: health-checker ARGS is a usage error
# naming OPTION and VALUE in one line on stderr, nothing on stdout.
usage_error() {
	local opt=$1 val=$2
	shift 2
	local rc=0
	"$HC" "$@" >"$T/out" 2>"$T/err" || rc=$?
	if [ "$rc" -ne 2 ] || [ -s "$T/out" ] ||
		[ "$(wc -l <"$T/err")" -ne 1 ] ||
		! grep -qE "^health-checker: .*$opt.*\"$(re "$val")\"" "$T/err"; then
		printf 'args: %q\n' "$@"
		echo "exit $rc, stdout:"
		cat "$T/out"
		echo "stderr:"
		cat "$T/err"
		return 1
	fi
}

# start_httpd [HOST]: the HTTP fixture on HOST (127.0.0.1), its port in
# HPORT; every request head it reads goes to $T/heads.
start_httpd() {
	local out
	out=$(mktemp "$T/httpd.XXXXXX")
	bg "$EXTRAS/httpd.py" "${1:-127.0.0.1}" "$T/heads" >"$out"
	wait_until 5 test -s "$out"
	HPORT=$(head -n 1 "$out")
	U=http://127.0.0.1:$HPORT
}

# heads_for PATH: the request heads the fixture got for PATH, CR removed.
heads_for() {
	awk -v p="GET $1 " '
		/^----$/ { if (index(h, p) == 1) printf "%s----\n", h; h = ""; next }
		{ h = h $0 "\n" }
	' "$T/heads" | tr -d '\r'
}

# start_unix ADDR: the unix stream listener fixture on ADDR (a path or
# @name), listening.
start_unix() {
	local ready
	ready=$(mktemp -u "$T/unix-ready.XXXXXX")
	bg "$EXTRAS/unixlisten.py" "$1" "$ready"
	wait_until 5 test -e "$ready"
}

# start_notify ADDR: the sd_notify receiver on ADDR, datagrams in
# $T/notified, one line each.
start_notify() {
	bg "$EXTRAS/notifyd.py" "$1" "$T/notified"
	wait_until 5 test -e "$T/notified"
}

notified() { # LINE: the receiver got a datagram line LINE
	grep -qx "$1" "$T/notified"
}

# once ARGS...: health-checker --once ARGS; stdout in $T/out, $status,
# the milliseconds it took in $ms.
once() {
	local start
	start=$(date +%s%N)
	status=0
	"$HC" --once "$@" >"$T/out" 2>>"$T/hc.log" || status=$?
	ms=$(ms_since "$start")
}

# ---------------------------------------------------------------- --http

@test "--http passes on 200, 204, 301 and 302 (redirects not followed)" {
	start_httpd
	once --http "$U/status/200" --http "$U/status/204" \
		--http "$U/status/301" --http "$U/status/302"
	cat "$T/out"
	assert_equal "$status" 0
	assert_lines "$(cat "$T/out")" \
		"ok http $(re "$U")/status/200 [0-9]+ms" \
		"ok http $(re "$U")/status/204 [0-9]+ms" \
		"ok http $(re "$U")/status/301 [0-9]+ms" \
		"ok http $(re "$U")/status/302 [0-9]+ms" \
		"OK"
	# Location: /followed was never asked for (it would answer 500).
	assert_equal "$(heads_for /followed)" ""
	assert_equal "$(heads_for /status/301 | grep -c '^GET ')" 1
}

@test "--http fails on 404, 500 and 503 with the reason 'status N'" {
	start_httpd
	once --http "$U/status/200" --http "$U/status/404" \
		--http "$U/status/500" --http "$U/status/503"
	cat "$T/out"
	assert_equal "$status" 1
	assert_lines "$(cat "$T/out")" \
		"ok http $(re "$U")/status/200 [0-9]+ms" \
		"fail http $(re "$U")/status/404 [0-9]+ms status 404" \
		"fail http $(re "$U")/status/500 [0-9]+ms status 500" \
		"fail http $(re "$U")/status/503 [0-9]+ms status 503" \
		"At least one health check failed"
}

@test "--http in the HTTP answer: 200 for a 301, 504 for a 500" {
	start_httpd
	request 'GET / HTTP/1.0\r\n\r\n' --http "$U/status/301"
	assert_answer "$T/answer" "HTTP/1.0 200 OK" "OK"
	request 'GET / HTTP/1.0\r\n\r\n' --http "$U/status/500"
	assert_answer "$T/answer" "HTTP/1.0 504 Gateway Timeout" \
		"At least one health check failed"
	grep -q ' warning verdict unhealthy.*: http .*/status/500 status 500' \
		"$T/hc.log"
}

@test "--http sends GET with the path, Host and Connection: close" {
	start_httpd
	once --http "$U/some/deep/path" --http "$U"
	assert_equal "$status" 0
	local h
	h=$(heads_for /some/deep/path)
	printf '%s\n' "$h"
	assert_equal "$(grep -c '^GET ' <<<"$h")" 1
	[[ $(head -n 1 <<<"$h") =~ ^GET\ /some/deep/path\ HTTP/1\.[01]$ ]]
	assert_equal "$(grep -ci '^Host:' <<<"$h")" 1
	assert_equal "$(sed -n 's/^Host:[[:blank:]]*//Ip' <<<"$h")" \
		"127.0.0.1:$HPORT"
	grep -qiE '^Connection:[[:blank:]]*close[[:blank:]]*$' <<<"$h"
	# The head ends with an empty line, CRLF throughout.
	[ "$(awk '/^GET \/some\/deep\/path /,/^----$/' "$T/heads" |
		grep -vc $'\r$')" -eq 1 ] # only the "----" separator
	# No path: "/" is asked for.
	h=$(heads_for /)
	[[ $(head -n 1 <<<"$h") =~ ^GET\ /\ HTTP/1\.[01]$ ]]
}

@test "--http keeps a query, and never sends a fragment" {
	start_httpd
	once --http "$U/q?full=1&x=%20" --http "http://127.0.0.1:$HPORT?bare=1"
	assert_equal "$status" 0
	cat "$T/heads"
	[[ $(heads_for "/q?full=1&x=%20" | head -n 1) =~ ^GET\ /q\?full=1\&x=%20\ HTTP/1\.[01]$ ]]
	[[ $(heads_for "/?bare=1" | head -n 1) =~ ^GET\ /\?bare=1\ HTTP/1\.[01]$ ]]
	# A fragment is not part of the request target (RFC 9110 4.2.4):
	# refused at start-up, or left out of the request.
	: >"$T/heads"
	local rc=0
	"$HC" --once --http "$U/frag?a=1#section" >"$T/out" 2>"$T/err" || rc=$?
	cat "$T/out" "$T/err"
	if [ "$rc" -ne 2 ]; then
		cat "$T/heads"
		not grep -q '#' "$T/heads"
		assert_equal "$(heads_for "/frag?a=1" | grep -c '^GET ')" 1
	fi
}

@test "--http to [::1] and to a name: Host carries them as written" {
	start_httpd ::1
	local p6=$HPORT
	once --http "http://[::1]:$p6/v6"
	cat "$T/out"
	assert_equal "$status" 0
	assert_equal "$(heads_for /v6 | sed -n 's/^Host:[[:blank:]]*//Ip')" \
		"[::1]:$p6"
	start_httpd 127.0.0.1
	once --http "http://localhost:$HPORT/byname"
	cat "$T/out"
	assert_equal "$status" 0
	assert_lines "$(cat "$T/out")" \
		"ok http http://localhost:$HPORT/byname [0-9]+ms" "OK"
	assert_equal "$(heads_for /byname | sed -n 's/^Host:[[:blank:]]*//Ip')" \
		"localhost:$HPORT"
}

@test "--http-timeout 0.5: a server that never answers fails 'timed out' in time" {
	start_httpd
	once --http-timeout 0.5 --http "$U/hang" --http "$U/status/200"
	cat "$T/out"
	echo "took ${ms}ms"
	assert_equal "$status" 1
	assert_lines "$(cat "$T/out")" \
		"fail http $(re "$U")/hang [0-9]+ms timed out" \
		"ok http $(re "$U")/status/200 [0-9]+ms" \
		"At least one health check failed"
	[ "$ms" -lt 2500 ]
	# Through HTTP too: the 504 comes within 2.5 s.
	local start
	start=$(date +%s%N)
	request 'GET / HTTP/1.0\r\n\r\n' --http-timeout 0.5 --http "$U/hang"
	ms=$(ms_since "$start")
	echo "answered in ${ms}ms"
	assert_answer "$T/answer" "HTTP/1.0 504 Gateway Timeout" \
		"At least one health check failed"
	[ "$ms" -lt 2500 ]
}

@test "--http-timeout bounds the whole head: a server trickling header lines" {
	start_httpd
	once --http-timeout 0.5 --http "$U/trickle"
	cat "$T/out"
	echo "took ${ms}ms"
	assert_equal "$status" 1
	assert_lines "$(cat "$T/out")" \
		"fail http $(re "$U")/trickle [0-9]+ms timed out" \
		"At least one health check failed"
	[ "$ms" -lt 2500 ]
}

@test "four hanging --http checks time out together, not one after another" {
	start_httpd
	once --http-timeout 0.5 --http "$U/hang1" --http "$U/hang2" \
		--http "$U/hang3" --http "$U/hang4"
	cat "$T/out"
	echo "took ${ms}ms (one after another would be 2000ms)"
	assert_equal "$status" 1
	assert_equal "$(grep -c ' timed out$' "$T/out")" 4
	[ "$ms" -lt 1700 ]
}

@test "--http decides on the response head: a body that never comes passes at once" {
	start_httpd
	once --http "$U/headonly"
	cat "$T/out"
	echo "took ${ms}ms"
	assert_equal "$status" 0
	[ "$ms" -lt 2500 ]
}

@test "--http fails a head over 8 KiB, a cut head, garbage and a refused port" {
	start_httpd
	local dead
	dead=$(free_port)
	once --http "$U/bighead" --http "$U/partial" --http "$U/garbage" \
		--http "http://127.0.0.1:$dead/x"
	cat "$T/out"
	assert_equal "$status" 1
	assert_lines "$(cat "$T/out")" \
		"fail http $(re "$U")/bighead [0-9]+ms response head too large" \
		"fail http $(re "$U")/partial [0-9]+ms incomplete response head" \
		"fail http $(re "$U")/garbage [0-9]+ms malformed response" \
		"fail http http://127\.0\.0\.1:$dead/x [0-9]+ms refused" \
		"At least one health check failed"
}

@test "--http: https:// and malformed URLs are usage errors" {
	local u
	for u in "https://127.0.0.1/" "https://127.0.0.1:8443/health" \
		"ftp://127.0.0.1/" "127.0.0.1:80" "http://" "http:///x" \
		"http://127.0.0.1:abc/" "http://127.0.0.1:0/" \
		"http://127.0.0.1:65536/" "http://[::1/" "http://:80/" ""; do
		usage_error --http "$u" --once --http "$u"
		usage_error --http "$u" --inetd --http "$u"
	done
	for u in 0 -1 abc 3601; do
		usage_error --http-timeout "$u" --once --http http://127.0.0.1/ \
			--http-timeout "$u"
	done
}

# ---------------------------------------------------------------- --unix

@test "--unix passes on a listening socket path and an abstract @name" {
	local name=@hc-extras-$$-$RANDOM
	start_unix "$T/sock"
	start_unix "$name"
	once --unix "$T/sock" --unix "$name"
	cat "$T/out"
	assert_equal "$status" 0
	assert_lines "$(cat "$T/out")" \
		"ok unix $(re "$T/sock") [0-9]+ms" \
		"ok unix $(re "$name") [0-9]+ms" \
		"OK"
	request 'GET / HTTP/1.0\r\n\r\n' --unix "$T/sock" --unix "$name"
	assert_answer "$T/answer" "HTTP/1.0 200 OK" "OK"
}

@test "--unix fails on a missing path, a dead socket and an unbound @name" {
	local name=@hc-extras-none-$$-$RANDOM
	python3 -c 'import socket, sys
s = socket.socket(socket.AF_UNIX)
s.bind(sys.argv[1])' "$T/dead"
	[ -S "$T/dead" ]
	once --unix "$T/missing" --unix "$T/dead" --unix "$name"
	cat "$T/out"
	assert_equal "$status" 1
	assert_lines "$(cat "$T/out")" \
		"fail unix $(re "$T/missing") [0-9]+ms No such file or directory" \
		"fail unix $(re "$T/dead") [0-9]+ms refused" \
		"fail unix $(re "$name") [0-9]+ms refused" \
		"At least one health check failed"
	request 'GET / HTTP/1.0\r\n\r\n' --unix "$T/missing"
	assert_answer "$T/answer" "HTTP/1.0 504 Gateway Timeout" \
		"At least one health check failed"
}

@test "--unix fails on a datagram socket and a regular file" {
	start_notify "$T/dgram"
	touch "$T/plain"
	once --unix "$T/dgram" --unix "$T/plain"
	cat "$T/out"
	assert_equal "$status" 1
	assert_lines "$(cat "$T/out")" \
		"fail unix $(re "$T/dgram") [0-9]+ms .+" \
		"fail unix $(re "$T/plain") [0-9]+ms .+" \
		"At least one health check failed"
}

@test "--unix: an empty path, a bare @ and a path too long are usage errors" {
	local long v
	long=/tmp/$(printf 'x%.0s' $(seq 110))
	for v in "" @ "$long"; do
		usage_error --unix "$v" --once --unix "$v"
	done
}

# ------------------------------------------------------------- --details

@test "--details: verdict line then one exact line per check, healthy and not" {
	start_listener
	start_unix "$T/sock"
	mkscript quick 'exit 0'
	mkscript bad 'exit 3'
	local dead
	dead=$(free_port)
	request 'GET / HTTP/1.0\r\n\r\n' --details --port "$LPORT" \
		--script "$T/quick" --unix "$T/sock"
	assert_equal "$(status_line "$T/answer")" "HTTP/1.0 200 OK"
	assert_text "$T/answer"
	assert_body_lines "$T/answer" "OK" \
		"ok tcp 127\.0\.0\.1:$LPORT [0-9]+ms" \
		"ok script $(re "$T/quick") [0-9]+ms" \
		"ok unix $(re "$T/sock") [0-9]+ms"
	request 'GET / HTTP/1.1\r\nHost: x\r\n\r\n' --details --port "$LPORT" \
		--script "$T/bad" --port "$dead" --unix "$T/missing"
	assert_equal "$(status_line "$T/answer")" "HTTP/1.1 504 Gateway Timeout"
	assert_text "$T/answer"
	assert_body_lines "$T/answer" "At least one health check failed" \
		"ok tcp 127\.0\.0\.1:$LPORT [0-9]+ms" \
		"fail script $(re "$T/bad") [0-9]+ms exit 3" \
		"fail tcp 127\.0\.0\.1:$dead [0-9]+ms refused" \
		"fail unix $(re "$T/missing") [0-9]+ms No such file or directory"
}

@test "--details through the standalone server, with --http; HEAD gets no body" {
	start_httpd
	serve --details --http "$U/status/204" --script true
	get
	assert_equal "$(status_line "$T/answer")" "HTTP/1.1 200 OK"
	assert_text "$T/answer"
	assert_body_lines "$T/answer" "OK" \
		"ok http $(re "$U")/status/204 [0-9]+ms" \
		"ok script true [0-9]+ms"
	curl -sS -i --max-time 10 -I "http://127.0.0.1:$PORT/" >"$T/answer"
	assert_equal "$(status_line "$T/answer")" "HTTP/1.1 200 OK"
	assert_equal "$(body "$T/answer" | wc -c)" 0
}

@test "--details: ms is the time the check took" {
	mkscript slow 'sleep 0.3'
	request 'GET / HTTP/1.0\r\n\r\n' --details --script "$T/slow"
	assert_body_lines "$T/answer" "OK" "ok script $(re "$T/slow") [0-9]+ms"
	local n
	n=$(body "$T/answer" | sed -n 's/.* \([0-9]*\)ms$/\1/p')
	echo "script took ${n}ms"
	[ "$n" -ge 290 ]
	[ "$n" -lt 3000 ]
}

@test "--details shows a script's program alone: no arguments, no output" {
	mkscript leaky 'echo "LEAKED-OUT $*"; echo "LEAKED-ERR $*" >&2; exit 3'
	request 'GET / HTTP/1.0\r\n\r\n' --details \
		--script "$T/leaky --password=hunter2 'two words'"
	cat "$T/answer"
	assert_equal "$(status_line "$T/answer")" "HTTP/1.0 504 Gateway Timeout"
	assert_body_lines "$T/answer" "At least one health check failed" \
		"fail script $(re "$T/leaky") [0-9]+ms exit 3"
	not grep -q -e hunter2 -e LEAKED -e 'two words' "$T/answer"
	# The script did run, with its arguments; its output is in the log.
	grep -q 'LEAKED-OUT --password=hunter2 two words' "$T/hc.log"
	# --once prints the same lines.
	once --script "$T/leaky --password=hunter2 'two words'"
	assert_equal "$status" 1
	assert_lines "$(cat "$T/out")" \
		"fail script $(re "$T/leaky") [0-9]+ms exit 3" \
		"At least one health check failed"
}

@test "without --details the body is the original, even when JSON is asked for" {
	request 'GET / HTTP/1.0\r\nAccept: application/json\r\n\r\n' --script true
	assert_answer "$T/answer" "HTTP/1.0 200 OK" "OK"
	assert_text "$T/answer"
	request 'GET / HTTP/1.0\r\nAccept: application/json\r\n\r\n' --script false
	assert_answer "$T/answer" "HTTP/1.0 504 Gateway Timeout" \
		"At least one health check failed"
	assert_text "$T/answer"
}

# ------------------------------------------------------------------ JSON

@test "JSON: a passing verdict parses, with the right types" {
	start_listener
	mkscript quick 'exit 0'
	request 'GET / HTTP/1.0\r\nAccept: application/json\r\n\r\n' --details \
		--port "$LPORT" --script "$T/quick x"
	cat "$T/answer"
	assert_equal "$(status_line "$T/answer")" "HTTP/1.0 200 OK"
	run "$EXTRAS/jsonbody.py" "$T/answer"
	echo "$output"
	assert_equal "$status" 0
	assert_equal "$output" "status=pass
tcp|127.0.0.1:$LPORT|true|
script|$T/quick|true|"
}

@test "JSON: a failing verdict, reasons, and no script arguments or output" {
	start_listener
	start_httpd
	mkscript leaky 'echo "LEAKED-OUT $*"; echo "LEAKED-ERR $*" >&2; exit 3'
	local dead
	dead=$(free_port)
	request 'GET / HTTP/1.1\r\nHost: h\r\nAccept: application/json\r\n\r\n' \
		--details --port "$LPORT" --port "$dead" \
		--script "$T/leaky --password=hunter2 'two words'" \
		--http "$U/status/500" --unix "$T/missing"
	cat "$T/answer"
	assert_equal "$(status_line "$T/answer")" "HTTP/1.1 504 Gateway Timeout"
	run "$EXTRAS/jsonbody.py" "$T/answer"
	echo "$output"
	assert_equal "$status" 0
	assert_equal "$output" "status=fail
tcp|127.0.0.1:$LPORT|true|
tcp|127.0.0.1:$dead|false|refused
script|$T/leaky|false|exit 3
http|$U/status/500|false|status 500
unix|$T/missing|false|No such file or directory"
	not grep -q -e hunter2 -e LEAKED -e 'two words' "$T/answer"
}

@test "JSON through the standalone server with curl, and with --fail-status 503" {
	mkscript bad 'exit 1'
	serve --details --fail-status 503 --script true --script "$T/bad"
	get -H 'Accept: application/json'
	assert_equal "$(status_line "$T/answer")" "HTTP/1.1 503 Service Unavailable"
	run "$EXTRAS/jsonbody.py" "$T/answer"
	echo "$output"
	assert_equal "$status" 0
	assert_equal "$output" "status=fail
script|true|true|
script|$T/bad|false|exit 1"
	# Not a maintenance answer.
	assert_equal "$(header "$T/answer" Retry-After)" ""
}

@test "JSON: a target with quotes and backslashes is escaped" {
	local odd=$T/we\"ird\\na\$me
	printf '#!/bin/sh\nexit 0\n' >"$odd"
	chmod +x "$odd"
	request 'GET / HTTP/1.0\r\nAccept: application/json\r\n\r\n' --details \
		--script "'$odd' arg"
	cat "$T/answer"
	run "$EXTRAS/jsonbody.py" "$T/answer"
	echo "$output"
	assert_equal "$status" 0
	assert_equal "$output" "status=pass
script|$odd|true|"
}

@test "JSON: control characters and UTF-8 in a target survive" {
	local odd=$T/tab$'\t'new$'\n'line-caf$'\xc3\xa9'
	printf '#!/bin/sh\nexit 0\n' >"$odd"
	chmod +x "$odd"
	request 'GET / HTTP/1.0\r\nAccept: application/json\r\n\r\n' --details \
		--script "'$odd'"
	cat -A "$T/answer"
	run python3 -c 'import json, sys
raw = open(sys.argv[1], "rb").read()
doc = json.loads(raw.partition(b"\r\n\r\n")[2].decode("utf-8"))
sys.exit(0 if doc["checks"][0]["target"] == sys.argv[2] else 1)' \
		"$T/answer" "$odd"
	echo "$output"
	assert_equal "$status" 0
}

@test "Accept: JSON only for application/json with q above 0" {
	local a want
	while IFS='|' read -r a want; do
		request "GET / HTTP/1.0\r\n$a\r\n\r\n" --details --script true
		if [ "$want" = json ]; then
			if ! "$EXTRAS/jsonbody.py" "$T/answer" >/dev/null; then
				echo "$a: expected JSON, got:"
				cat "$T/answer"
				return 1
			fi
		else
			if ! assert_text "$T/answer" ||
				! assert_body_lines "$T/answer" OK "ok script true [0-9]+ms"; then
				echo "$a: expected text, got:"
				cat "$T/answer"
				return 1
			fi
		fi
	done <<'EOF'
Accept: application/json|json
Accept: application/json;q=1|json
Accept: application/json;q=0.001|json
Accept: text/html, application/json;q=0.5|json
Accept: text/html;q=0.9, application/json ; q=0.8, */*;q=0.1|json
Accept: application/json; charset=utf-8|json
accept: application/json|json
Accept: Application/JSON|json
Accept: application/json;q=0|text
Accept: application/json; q=0.0|text
Accept: application/json;q=0.000|text
Accept: text/html, application/json;q=0|text
Accept: text/plain|text
Accept: application/json-seq|text
Accept: application/jsonx, text/plain|text
X-Accept: application/json|text
EOF
}

@test "bad requests and 505 stay text/plain with Accept: application/json" {
	mkcheck marker 0
	request 'GET / HTTP/1.1\r\nAccept: application/json\r\nbad header line\r\n\r\n' \
		--details --script "$T/marker"
	assert_answer "$T/answer" "HTTP/1.1 400 Bad Request" "400 Bad Request"
	assert_text "$T/answer"
	request 'GET / HTTP/2.0\r\nAccept: application/json\r\n\r\n' \
		--details --script "$T/marker"
	assert_answer "$T/answer" "HTTP/1.1 505 HTTP Version Not Supported" \
		"505 HTTP Version Not Supported"
	assert_text "$T/answer"
	local big
	big=$(printf 'x%.0s' $(seq 9000))
	request "GET / HTTP/1.1\r\nAccept: application/json\r\nX-Big: $big\r\n\r\n" \
		--details --script "$T/marker"
	assert_answer "$T/answer" "HTTP/1.1 431 Request Header Fields Too Large" \
		"431 Request Header Fields Too Large"
	assert_text "$T/answer"
	assert_runs 0
}

# ---------------------------------------------------- --maintenance-file

@test "maintenance file created and removed while the server runs" {
	mkcheck marker 0
	serve --maintenance-file "$T/drain" --details --script "$T/marker"
	get
	assert_equal "$(status_line "$T/answer")" "HTTP/1.1 200 OK"
	assert_runs 1
	touch "$T/drain"
	get
	assert_answer "$T/answer" "HTTP/1.1 503 Service Unavailable" "Maintenance"
	assert_equal "$(header "$T/answer" Retry-After)" 30
	assert_text "$T/answer"
	# JSON asked for: still the plain maintenance answer.
	get -H 'Accept: application/json'
	assert_answer "$T/answer" "HTTP/1.1 503 Service Unavailable" "Maintenance"
	assert_text "$T/answer"
	# A bad request still gets its 400.
	printf 'garbage\r\n\r\n' | python3 "$CLIENT" 127.0.0.1 "$PORT" >"$T/answer"
	assert_answer "$T/answer" "HTTP/1.1 400 Bad Request" "400 Bad Request"
	assert_runs 1 # no check ran while drained
	rm "$T/drain"
	get
	assert_equal "$(status_line "$T/answer")" "HTTP/1.1 200 OK"
	assert_body_lines "$T/answer" OK "ok script $(re "$T/marker") [0-9]+ms"
	assert_runs 2
}

@test "maintenance in pipe mode: 503 even when unhealthy, HEAD, a directory, 4xx kept" {
	mkcheck bad 1
	touch "$T/drain"
	request 'GET / HTTP/1.1\r\nHost: x\r\n\r\n' --maintenance-file "$T/drain" \
		--script "$T/bad"
	assert_equal "$status" 0
	assert_answer "$T/answer" "HTTP/1.1 503 Service Unavailable" "Maintenance"
	assert_equal "$(header "$T/answer" Retry-After)" 30
	assert_equal "$(header "$T/answer" Content-Length)" 11
	request 'HEAD / HTTP/1.0\r\n\r\n' --maintenance-file "$T/drain" \
		--script "$T/bad"
	assert_answer "$T/answer" "HTTP/1.0 503 Service Unavailable" ""
	assert_equal "$(header "$T/answer" Retry-After)" 30
	request 'GET / HTTP/1.0\r\n\r\n' --maintenance-file "$T/dir" \
		--script "$T/bad" --fail-status 500
	assert_answer "$T/answer" "HTTP/1.0 500 Internal Server Error" \
		"At least one health check failed"
	assert_runs 1
	mkdir "$T/dir"
	request 'GET / HTTP/1.0\r\n\r\n' --maintenance-file "$T/dir" \
		--script "$T/bad"
	assert_answer "$T/answer" "HTTP/1.0 503 Service Unavailable" "Maintenance"
	request 'GET / HTTP/1.1\r\nbad\r\n\r\n' --maintenance-file "$T/drain" \
		--script "$T/bad"
	assert_answer "$T/answer" "HTTP/1.1 400 Bad Request" "400 Bad Request"
	request 'GET / HTTP/3.0\r\n\r\n' --maintenance-file "$T/drain" \
		--script "$T/bad"
	assert_answer "$T/answer" "HTTP/1.1 505 HTTP Version Not Supported" \
		"505 HTTP Version Not Supported"
	assert_runs 1
}

@test "maintenance: a dangling symlink is no maintenance; it beats a cached result" {
	mkcheck marker 0
	ln -s "$T/nowhere" "$T/drain"
	request 'GET / HTTP/1.0\r\n\r\n' --maintenance-file "$T/drain" \
		--cache-ttl 30 --lock-file "$T/lock" --script "$T/marker"
	assert_answer "$T/answer" "HTTP/1.0 200 OK" "OK"
	assert_runs 1
	# The link now leads somewhere: drained, though a result is cached.
	touch "$T/nowhere"
	request 'GET / HTTP/1.0\r\n\r\n' --maintenance-file "$T/drain" \
		--cache-ttl 30 --lock-file "$T/lock" --script "$T/marker"
	assert_answer "$T/answer" "HTTP/1.0 503 Service Unavailable" "Maintenance"
	rm "$T/nowhere"
	request 'GET / HTTP/1.0\r\n\r\n' --maintenance-file "$T/drain" \
		--cache-ttl 30 --lock-file "$T/lock" --script "$T/marker"
	assert_answer "$T/answer" "HTTP/1.0 200 OK" "OK"
	assert_runs 1
}

@test "--once ignores the maintenance file" {
	mkcheck marker 0
	touch "$T/drain"
	once --maintenance-file "$T/drain" --script "$T/marker"
	assert_equal "$status" 0
	assert_lines "$(cat "$T/out")" "ok script $(re "$T/marker") [0-9]+ms" OK
	assert_runs 1
}

# --------------------------------------------------------- --fail-status

@test "--fail-status 503 and 500 change the unhealthy status, not the healthy one" {
	request 'GET / HTTP/1.1\r\nHost: x\r\n\r\n' --fail-status 503 --script false
	assert_answer "$T/answer" "HTTP/1.1 503 Service Unavailable" \
		"At least one health check failed"
	assert_text "$T/answer"
	request 'GET / HTTP/1.0\r\n\r\n' --fail-status 500 --script false
	assert_answer "$T/answer" "HTTP/1.0 500 Internal Server Error" \
		"At least one health check failed"
	request 'GET / HTTP/1.0\r\n\r\n' --fail-status 504 --script false
	assert_answer "$T/answer" "HTTP/1.0 504 Gateway Timeout" \
		"At least one health check failed"
	request 'GET / HTTP/1.0\r\n\r\n' --fail-status 503 --script true
	assert_answer "$T/answer" "HTTP/1.0 200 OK" "OK"
	# --once keeps its exit status.
	once --fail-status 500 --script false
	assert_equal "$status" 1
}

@test "--fail-status: anything but 504, 503 or 500 is a usage error" {
	local c
	for c in 502 200 501 5030 0503x abc ""; do
		usage_error --fail-status "$c" --once --script true --fail-status "$c"
	done
}

# ----------------------------------------------------------- --cache-ttl

@test "--cache-ttl 2, server: three requests run the checks once, then again after the TTL" {
	mkcheck marker 0
	serve --cache-ttl 2 --lock-file "$T/lock" --script "$T/marker"
	local start i since
	start=$(date +%s%N)
	for i in 1 2 3; do
		get
		assert_answer "$T/answer" "HTTP/1.1 200 OK" "OK"
	done
	assert_runs 1
	# Ask every 0.1 s until the checks run again: not before 2 s have
	# passed since the first request, and not much after.
	while [ "$(runs)" -eq 1 ]; do
		since=$(ms_since "$start")
		[ "$since" -lt 6000 ]
		get
		assert_answer "$T/answer" "HTTP/1.1 200 OK" "OK"
		sleep 0.1
	done
	echo "ran again after a request ${since}ms after the first"
	assert_runs 2
	[ "$since" -ge 1900 ]
}

@test "--cache-ttl counts from when the result finished, not when it began" {
	mkscript slow "echo run >>$T/runs; sleep 1"
	request 'GET / HTTP/1.0\r\n\r\n' --cache-ttl 1 --lock-file "$T/lock" \
		--script "$T/slow"
	assert_answer "$T/answer" "HTTP/1.0 200 OK" "OK"
	# Begun over 1 s ago, finished just now: still fresh.
	local start ms
	start=$(date +%s%N)
	request 'GET / HTTP/1.0\r\n\r\n' --cache-ttl 1 --lock-file "$T/lock" \
		--script "$T/slow"
	ms=$(ms_since "$start")
	echo "second answer after ${ms}ms"
	assert_answer "$T/answer" "HTTP/1.0 200 OK" "OK"
	assert_runs 1
	[ "$ms" -lt 500 ]
}

@test "--cache-ttl: unhealthy results are cached too, details and all" {
	mkcheck bad 1
	local i first
	for i in 1 2 3; do
		request 'GET / HTTP/1.0\r\n\r\n' --details --cache-ttl 5 \
			--lock-file "$T/lock" --script "$T/bad"
		assert_equal "$(status_line "$T/answer")" \
			"HTTP/1.0 504 Gateway Timeout"
		assert_body_lines "$T/answer" "At least one health check failed" \
			"fail script $(re "$T/bad") [0-9]+ms exit 1"
		if [ "$i" = 1 ]; then
			first=$(body "$T/answer")
		else
			assert_equal "$(body "$T/answer")" "$first"
		fi
	done
	assert_runs 1
}

@test "--cache-ttl across processes: systemd-socket-activate -a, sequential curls" {
	mkcheck marker 0
	PORT=$(free_port)
	bg systemd-socket-activate -l "127.0.0.1:$PORT" -a -- "$HC" \
		--cache-ttl 2 --lock-file "$T/lock" --script "$T/marker" \
		2>>"$T/hc.log"
	wait_until 5 grep -q "^Listening on 127.0.0.1:$PORT" "$T/hc.log"
	local i
	for i in 1 2 3; do
		get
		assert_answer "$T/answer" "HTTP/1.1 200 OK" "OK"
	done
	assert_runs 1
}

@test "--cache-ttl across pipe-mode processes, state under RUNTIME_DIRECTORY" {
	mkcheck marker 0
	mkdir "$T/rt"
	local i
	for i in 1 2 3; do
		RUNTIME_DIRECTORY=$T/rt request 'GET / HTTP/1.0\r\n\r\n' \
			--cache-ttl 2 --script "$T/marker"
		assert_answer "$T/answer" "HTTP/1.0 200 OK" "OK"
	done
	assert_runs 1
	[ -n "$(find "$T/rt" -name 'state-*')" ]
}

@test "--cache-ttl across modes: the standalone server's result serves one-shots, whatever shell started them" {
	mkcheck marker 0
	serve --cache-ttl 30 --lock-file "$T/lock" --script "$T/marker"
	get
	assert_answer "$T/answer" "HTTP/1.1 200 OK" "OK"
	assert_runs 1
	# A one-shot in the foreground, and one a deeper shell started
	# elsewhere: the same checks, so the server's result.
	request 'GET / HTTP/1.0\r\n\r\n' --cache-ttl 30 --lock-file "$T/lock" \
		--script "$T/marker"
	assert_answer "$T/answer" "HTTP/1.0 200 OK" "OK"
	SHLVL=7 OLDPWD=/ request 'GET / HTTP/1.0\r\n\r\n' --cache-ttl 30 \
		--lock-file "$T/lock" --script "$T/marker"
	assert_answer "$T/answer" "HTTP/1.0 200 OK" "OK"
	assert_runs 1
	# What the checks may read still counts: another value of a
	# variable is another result.
	HC_TEST_OTHER=1 request 'GET / HTTP/1.0\r\n\r\n' --cache-ttl 30 \
		--lock-file "$T/lock" --script "$T/marker"
	assert_answer "$T/answer" "HTTP/1.0 200 OK" "OK"
	assert_runs 2
}

@test "--cache-ttl with --singleflight: sequential and concurrent requests reuse one run" {
	mkcheck marker 0
	serve --singleflight --cache-ttl 5 --lock-file "$T/lock" \
		--script "$T/marker"
	get
	assert_answer "$T/answer" "HTTP/1.1 200 OK" "OK"
	get
	assert_answer "$T/answer" "HTTP/1.1 200 OK" "OK"
	seq 8 | xargs -P 8 -I{} curl -s -o /dev/null -w '%{http_code}\n' \
		--max-time 10 "http://127.0.0.1:$PORT/{}" >"$T/codes"
	assert_equal "$(grep -cx 200 "$T/codes")" 8
	assert_runs 1
}

@test "--cache-ttl: another command line sharing the lock file is not served our result" {
	mkcheck marker 0
	local dead
	dead=$(free_port)
	request 'GET / HTTP/1.0\r\n\r\n' --cache-ttl 30 --lock-file "$T/lock" \
		--script "$T/marker"
	assert_answer "$T/answer" "HTTP/1.0 200 OK" "OK"
	assert_runs 1
	# Other checks, same file: its own (unhealthy) result.
	request 'GET / HTTP/1.0\r\n\r\n' --cache-ttl 30 --lock-file "$T/lock" \
		--script "$T/marker" --port "$dead"
	assert_answer "$T/answer" "HTTP/1.0 504 Gateway Timeout" \
		"At least one health check failed"
	assert_runs 2
	# And the first command line is not served that one.
	request 'GET / HTTP/1.0\r\n\r\n' --cache-ttl 30 --lock-file "$T/lock" \
		--script "$T/marker"
	assert_answer "$T/answer" "HTTP/1.0 200 OK" "OK"
	# The same script with other arguments is another check too.
	request 'GET / HTTP/1.0\r\n\r\n' --cache-ttl 30 --lock-file "$T/lock" \
		--script "$T/marker other"
	assert_answer "$T/answer" "HTTP/1.0 200 OK" "OK"
	local n
	n=$(runs)
	request 'GET / HTTP/1.0\r\n\r\n' --cache-ttl 30 --lock-file "$T/lock" \
		--script "$T/marker other" --script false
	assert_answer "$T/answer" "HTTP/1.0 504 Gateway Timeout" \
		"At least one health check failed"
	assert_runs $((n + 1))
}

@test "--once with --cache-ttl runs the checks every time" {
	mkcheck marker 0
	request 'GET / HTTP/1.0\r\n\r\n' --cache-ttl 30 --lock-file "$T/lock" \
		--script "$T/marker"
	assert_runs 1
	local i
	for i in 1 2 3; do
		once --cache-ttl 30 --lock-file "$T/lock" --script "$T/marker"
		assert_equal "$status" 0
		assert_lines "$(cat "$T/out")" \
			"ok script $(re "$T/marker") [0-9]+ms" OK
	done
	assert_runs 4
}

@test "--cache-ttl 0 and no --cache-ttl: every request runs the checks" {
	mkcheck marker 0
	local i
	for i in 1 2 3; do
		request 'GET / HTTP/1.0\r\n\r\n' --cache-ttl 0 --lock-file "$T/lock" \
			--script "$T/marker"
		assert_answer "$T/answer" "HTTP/1.0 200 OK" "OK"
		request 'GET / HTTP/1.0\r\n\r\n' --lock-file "$T/lock" \
			--script "$T/marker"
		assert_answer "$T/answer" "HTTP/1.0 200 OK" "OK"
	done
	assert_runs 6
}

@test "--cache-ttl values: 0.5 and 3600 accepted, others usage errors" {
	local v
	for v in 0.5 3600; do
		once --cache-ttl "$v" --script true
		assert_equal "$status" 0
	done
	for v in -1 3601 abc 1e3 ""; do
		usage_error --cache-ttl "$v" --once --script true --cache-ttl "$v"
	done
}

# ------------------------------------------------------------- readiness

@test "READY=1 once listening, STOPPING=1 at SIGTERM (NOTIFY_SOCKET a path)" {
	start_notify "$T/notify"
	NOTIFY_SOCKET=$T/notify serve --script true
	wait_until 5 notified READY=1
	# Listening when it said so.
	port_open 127.0.0.1 "$PORT"
	not notified STOPPING=1
	get
	assert_answer "$T/answer" "HTTP/1.1 200 OK" "OK"
	kill -TERM "$HC_PID"
	local rc=0
	wait "$HC_PID" || rc=$?
	assert_equal "$rc" 0
	wait_until 5 notified STOPPING=1
	cat "$T/notified"
	[ "$(grep -nx READY=1 "$T/notified" | cut -d: -f1 | head -n 1)" -lt \
		"$(grep -nx STOPPING=1 "$T/notified" | cut -d: -f1 | head -n 1)" ]
	assert_equal "$(grep -cx READY=1 "$T/notified")" 1
}

@test "READY=1 and STOPPING=1 to an abstract @name NOTIFY_SOCKET" {
	local name=@hc-extras-notify-$$-$RANDOM
	start_notify "$name"
	NOTIFY_SOCKET=$name serve --script true
	wait_until 5 notified READY=1
	port_open 127.0.0.1 "$PORT"
	kill -TERM "$HC_PID"
	wait_until 5 notified STOPPING=1
}

@test "READY=1 and STOPPING=1 under socket activation (Accept=no)" {
	start_notify "$T/notify"
	PORT=$(free_port)
	bg systemd-socket-activate -l "127.0.0.1:$PORT" \
		-E "NOTIFY_SOCKET=$T/notify" -- "$HC" --script true 2>>"$T/hc.log"
	local pid=$BG_PID
	wait_until 5 grep -q "^Listening on 127.0.0.1:$PORT" "$T/hc.log"
	# systemd-socket-activate starts the service at the first connection.
	get
	assert_answer "$T/answer" "HTTP/1.1 200 OK" "OK"
	wait_until 5 notified READY=1
	kill -TERM "$pid"
	wait_until 5 notified STOPPING=1
}

@test "a NOTIFY_SOCKET nobody listens on does not stop the server" {
	NOTIFY_SOCKET=$T/nobody serve --script true
	get
	assert_answer "$T/answer" "HTTP/1.1 200 OK" "OK"
	kill -TERM "$HC_PID"
	local rc=0
	wait "$HC_PID" || rc=$?
	assert_equal "$rc" 0
}

@test "scripts never see NOTIFY_SOCKET, in any mode" {
	start_notify "$T/notify"
	mkscript envdump "env >$T/env.out"
	export HC_EXTRAS_MARK=seen
	NOTIFY_SOCKET=$T/notify serve --script "$T/envdump"
	wait_until 5 notified READY=1
	get
	assert_answer "$T/answer" "HTTP/1.1 200 OK" "OK"
	grep -qx HC_EXTRAS_MARK=seen "$T/env.out"
	not grep -q NOTIFY_SOCKET "$T/env.out"
	rm "$T/env.out"
	NOTIFY_SOCKET=$T/notify request 'GET / HTTP/1.0\r\n\r\n' \
		--script "$T/envdump"
	assert_answer "$T/answer" "HTTP/1.0 200 OK" "OK"
	grep -qx HC_EXTRAS_MARK=seen "$T/env.out"
	not grep -q NOTIFY_SOCKET "$T/env.out"
	rm "$T/env.out"
	NOTIFY_SOCKET=$T/notify once --script "$T/envdump"
	assert_equal "$status" 0
	grep -qx HC_EXTRAS_MARK=seen "$T/env.out"
	not grep -q NOTIFY_SOCKET "$T/env.out"
}
