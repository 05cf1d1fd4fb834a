#!/usr/bin/env bats
# The standalone server (--listener, systemd Accept=no): answers, address
# forms, concurrency, idle and hanging clients, --max-connections, signals,
# no leaked descriptors or children.

setup() {
	load helpers
	common_setup
}

teardown() {
	common_teardown
}

# get [PATH]: curl's answer (headers and body) in $T/answer.
get() {
	curl -sS -i --max-time 10 "http://127.0.0.1:$PORT${1:-/}" >"$T/answer"
}

# raw HOST PORT FMT [CLIENT ARGS]: FMT's bytes through client.py, the
# answer in $T/answer.
raw() {
	local host=$1 port=$2 fmt=$3
	shift 3
	# shellcheck disable=SC2059
	printf "$fmt" | python3 "$CLIENT" "$host" "$port" "$@" >"$T/answer"
}

# assert_answer FILE STATUS-LINE BODY: exact status line and body bytes.
assert_answer() {
	# The dot keeps a stray trailing newline visible.
	if ! assert_equal "$(status_line "$1")" "$2" ||
		! assert_equal "$(body "$1"; echo .)" "$3."; then
		echo "--- answer:"
		cat "$1"
		echo "--- log:"
		cat "$T/hc.log"
		return 1
	fi
}

lines() { # FILE: its number of lines, 0 when missing
	if [ -f "$1" ]; then wc -l <"$1"; else echo 0; fi
}

fd_count() {
	find "/proc/$HC_PID/fd" -mindepth 1 -maxdepth 1 | wc -l
}

fds_at_least() { # N
	[ "$(fd_count)" -ge "$1" ]
}

socket_count() {
	find "/proc/$HC_PID/fd" -mindepth 1 -maxdepth 1 -lname 'socket:*' | wc -l
}

children() {
	cat "/proc/$HC_PID"/task/*/children 2>/dev/null | tr -d ' \n'
}

# quiet: the server holds its listener alone and has no child.
quiet() {
	[ "$(socket_count)" -eq 1 ] && [ -z "$(children)" ]
}

@test "200 OK through --listener, via curl and a raw HTTP/1.0 client" {
	start_listener
	serve --port "$LPORT"
	get /health
	assert_answer "$T/answer" "HTTP/1.1 200 OK" "OK"
	grep -qi '^Content-Length: 2'$'\r''$' "$T/answer"
	raw 127.0.0.1 "$PORT" 'GET / HTTP/1.0\r\n\r\n'
	assert_answer "$T/answer" "HTTP/1.0 200 OK" "OK"
}

@test "504 through --listener, via curl and a raw client" {
	serve --port "$(free_port)" --port-timeout 1
	get
	assert_answer "$T/answer" "HTTP/1.1 504 Gateway Timeout" \
		"At least one health check failed"
	raw 127.0.0.1 "$PORT" 'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'
	assert_answer "$T/answer" "HTTP/1.1 504 Gateway Timeout" \
		"At least one health check failed"
	grep -q ' warning verdict unhealthy: tcp ' "$T/hc.log"
}

@test "IPv6 listener on [::1]" {
	PORT=$(free_port)
	start_hc --listener "[::1]:$PORT" --script true
	wait_until 5 grep -q "listening on \[::1\]:$PORT\$" "$T/hc.log"
	curl -sS -g -i --max-time 10 "http://[::1]:$PORT/" >"$T/answer"
	assert_answer "$T/answer" "HTTP/1.1 200 OK" "OK"
	raw ::1 "$PORT" 'HEAD / HTTP/1.0\r\n\r\n'
	assert_equal "$(status_line "$T/answer")" "HTTP/1.0 200 OK"
}

@test ":PORT listens on every address, IPv4 and IPv6 (dual-stack [::])" {
	PORT=$(free_port)
	start_hc --listener ":$PORT" --script true
	wait_until 5 grep -q "listening on \[::\]:$PORT\$" "$T/hc.log" || {
		cat "$T/hc.log" >&2
		false
	}
	raw 127.0.0.1 "$PORT" 'GET / HTTP/1.0\r\n\r\n'
	assert_answer "$T/answer" "HTTP/1.0 200 OK" "OK"
	# Not bound to 127.0.0.1 alone: any loopback address answers.
	raw 127.0.0.2 "$PORT" 'GET / HTTP/1.0\r\n\r\n'
	assert_answer "$T/answer" "HTTP/1.0 200 OK" "OK"
	raw ::1 "$PORT" 'GET / HTTP/1.0\r\n\r\n'
	assert_answer "$T/answer" "HTTP/1.0 200 OK" "OK"
}

@test "0.0.0.0:PORT listens on every address, IPv4 and IPv6, as Go's does (dual-stack [::])" {
	PORT=$(free_port)
	start_hc --listener "0.0.0.0:$PORT" --script true
	wait_until 5 grep -q "listening on \[::\]:$PORT\$" "$T/hc.log"
	raw 127.0.0.1 "$PORT" 'GET / HTTP/1.0\r\n\r\n'
	assert_answer "$T/answer" "HTTP/1.0 200 OK" "OK"
	raw ::1 "$PORT" 'GET / HTTP/1.0\r\n\r\n'
	assert_answer "$T/answer" "HTTP/1.0 200 OK" "OK"
}

@test "no mode given: the default listener, port 5000 on IPv4 and IPv6 (in a network namespace of its own)" {
	[ "$(id -u)" -eq 0 ] || skip "needs root for a network namespace"
	ns_start -n
	bg_ns "$HC" --script true 2>>"$T/hc.log"
	HC_PID=$BG_PID
	wait_until 5 grep -q "listening on \[::\]:5000\$" "$T/hc.log"
	assert_equal "$(in_ns curl -s -4 -m 5 http://127.0.0.1:5000/)" OK
	assert_equal "$(in_ns curl -s -6 -m 5 'http://[::1]:5000/')" OK
}

@test "300 requests from 30 concurrent clients are all answered 200" {
	start_listener
	serve --port "$LPORT"
	local start=$SECONDS
	seq 300 | timeout 40 xargs -P 30 -I{} curl -s -o /dev/null \
		-w '%{http_code}\n' --max-time 10 "http://127.0.0.1:$PORT/{}" \
		>"$T/codes"
	[ $((SECONDS - start)) -lt 30 ]
	assert_equal "$(grep -cx 200 "$T/codes")" 300
	assert_equal "$(wc -l <"$T/codes")" 300
	kill -0 "$HC_PID"
}

@test "20 idle connections do not delay a real client" {
	serve --script true --request-timeout 5
	local base fds=() fd _ start ms
	base=$(fd_count)
	for _ in $(seq 20); do
		exec {fd}<>"/dev/tcp/127.0.0.1/$PORT"
		fds+=("$fd")
	done
	# All 20 accepted, each waiting for its request.
	wait_until 5 fds_at_least $((base + 20))
	start=$(date +%s%N)
	get
	ms=$(ms_since "$start")
	assert_answer "$T/answer" "HTTP/1.1 200 OK" "OK"
	echo "answered in ${ms}ms"
	[ "$ms" -lt 1000 ]
	for fd in "${fds[@]}"; do
		exec {fd}>&-
	done
}

@test "an idle client is closed quietly at --request-timeout with no bytes" {
	serve --script true --request-timeout 0.5 --log-level debug
	local start ms
	start=$(date +%s%N)
	run python3 "$CLIENT" 127.0.0.1 "$PORT" --no-send --timeout 5
	ms=$(ms_since "$start")
	echo "closed after ${ms}ms, output: $output"
	assert_equal "$status" 0 # closed by the server, not our timeout
	assert_equal "$output" ""
	[ "$ms" -ge 400 ]
	[ "$ms" -lt 3000 ]
	grep -q ' debug connection 127.0.0.1:[0-9]* ' "$T/hc.log"
	not grep -Eq ' request 127\.0\.0\.1:[0-9]+ [A-Z]' "$T/hc.log"
}

@test "a hanging check does not stop another connection being read" {
	mkscript hang "echo \$\$ >$T/hang.pid; exec sleep 30"
	serve --script "$T/hang" --script-timeout 2
	local a start ms
	printf 'GET /a HTTP/1.0\r\n\r\n' >"$T/req"
	bg stdin_from "$T/req" python3 "$CLIENT" 127.0.0.1 "$PORT" \
		--timeout 10 >"$T/a"
	a=$BG_PID
	wait_until 5 test -s "$T/hang.pid"
	start=$(date +%s%N)
	raw 127.0.0.1 "$PORT" 'garbage\r\n\r\n'
	ms=$(ms_since "$start")
	echo "400 after ${ms}ms"
	assert_answer "$T/answer" "HTTP/1.1 400 Bad Request" "400 Bad Request"
	[ "$ms" -lt 1000 ]
	# The first client is still waiting, then gets its 504 at the deadline.
	[ ! -s "$T/a" ]
	wait "$a"
	assert_answer "$T/a" "HTTP/1.0 504 Gateway Timeout" \
		"At least one health check failed"
	wait_until 2 gone "$(cat "$T/hang.pid")"
}

@test "--max-connections 2: a third request waits for a free check slot" {
	mkscript slow "echo start >>$T/runs; sleep 1.5; echo end >>$T/runs"
	serve --script "$T/slow" --max-connections 2 --log-level debug
	local a b c
	printf 'GET /a HTTP/1.0\r\n\r\n' >"$T/req.a"
	printf 'GET /b HTTP/1.0\r\n\r\n' >"$T/req.b"
	printf 'GET /third HTTP/1.0\r\n\r\n' >"$T/req.c"
	bg stdin_from "$T/req.a" python3 "$CLIENT" 127.0.0.1 "$PORT" >"$T/a"
	a=$BG_PID
	bg stdin_from "$T/req.b" python3 "$CLIENT" 127.0.0.1 "$PORT" >"$T/b"
	b=$BG_PID
	wait_until 5 eval '[ "$(lines "$T/runs")" -eq 2 ]'
	bg stdin_from "$T/req.c" python3 "$CLIENT" 127.0.0.1 "$PORT" >"$T/c"
	c=$BG_PID
	# The connection is taken and its head read at once...
	wait_until 5 grep -q ' request 127.0.0.1:[0-9]* GET /third$' "$T/hc.log"
	wait "$a"
	wait "$b"
	wait "$c"
	assert_answer "$T/a" "HTTP/1.0 200 OK" "OK"
	assert_answer "$T/b" "HTTP/1.0 200 OK" "OK"
	# Answered late, not refused: a 200 of its own run.
	assert_answer "$T/c" "HTTP/1.0 200 OK" "OK"
	cat "$T/runs"
	assert_equal "$(grep -c start "$T/runs")" 3
	# ...but its run starts only when one of the first two has ended.
	assert_equal "$(sed -n 3p "$T/runs")" end
}

@test "SIGTERM with nothing in flight exits 0 promptly" {
	serve --script true
	get
	local start rc=0
	start=$(date +%s%N)
	kill -TERM "$HC_PID"
	wait_until 2 gone "$HC_PID"
	wait "$HC_PID" || rc=$?
	assert_equal "$rc" 0
	[ "$(ms_since "$start")" -lt 2000 ]
	grep -q ' info stopped$' "$T/hc.log"
}

@test "SIGTERM closes an idle connection instead of waiting for it" {
	serve --script true --request-timeout 30
	local base fd rc=0 start
	base=$(fd_count)
	exec {fd}<>"/dev/tcp/127.0.0.1/$PORT"
	wait_until 5 fds_at_least $((base + 1))
	start=$(date +%s%N)
	kill -TERM "$HC_PID"
	wait_until 2 gone "$HC_PID"
	wait "$HC_PID" || rc=$?
	assert_equal "$rc" 0
	[ "$(ms_since "$start")" -lt 2000 ]
	# Closed with no bytes.
	assert_equal "$(timeout 2 cat <&"$fd" | wc -c)" 0
	exec {fd}>&-
}

# in_flight_signal SIG: a request in flight when SIG comes still gets its
# 200, new connections are refused, then the server exits 0.
in_flight_signal() {
	mkscript slow "echo \$\$ >$T/started; sleep 1"
	serve --script "$T/slow"
	local a rc=0
	printf 'GET / HTTP/1.0\r\n\r\n' >"$T/req"
	bg stdin_from "$T/req" python3 "$CLIENT" 127.0.0.1 "$PORT" \
		--timeout 10 >"$T/a"
	a=$BG_PID
	wait_until 5 test -s "$T/started"
	kill "-$1" "$HC_PID"
	wait_until 2 grep -q ' signal ' "$T/hc.log"
	not port_open 127.0.0.1 "$PORT"
	wait "$a"
	assert_answer "$T/a" "HTTP/1.0 200 OK" "OK"
	wait_until 3 gone "$HC_PID"
	wait "$HC_PID" || rc=$?
	assert_equal "$rc" 0
	grep -q ' info stopped$' "$T/hc.log"
}

@test "SIGTERM lets a request in flight finish, then exits 0" {
	in_flight_signal TERM
}

@test "SIGINT lets a request in flight finish, then exits 0" {
	in_flight_signal INT
}

# rude PORT fin|rst: sends a request, then closes at once (FIN), or
# half-closes and resets (RST) so that the answer meets a reset socket
# (EPIPE: SIGPIPE unless it is ignored).
rude() {
	python3 -c '
import socket, struct, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"GET /" + sys.argv[2].encode() + b" HTTP/1.0\r\n\r\n")
if sys.argv[2] == "rst":
    s.shutdown(socket.SHUT_WR)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
s.close()' "$1" "$2"
}

# seen N: the log shows N connections dealt with (a request read, or a
# connection closed before one was).
seen() {
	[ "$(grep -c ' debug request [^ ]* [A-Z]\| debug connection ' \
		"$T/hc.log")" -ge "$1" ]
}

# all_answered: every request read has had its verdict, or was dropped
# because its client had reset before its run started.
all_answered() {
	[ "$(grep -c ' debug request [^ ]* [A-Z]' "$T/hc.log")" -eq \
		"$(grep -c ' debug verdict \| debug request [^ ]*: the client has gone$' \
			"$T/hc.log")" ]
}

@test "clients that close before the answer do not kill the server (SIGPIPE)" {
	mkscript slow "sleep 0.3"
	serve --script "$T/slow" --log-level debug
	local _ fd
	for _ in 1 2; do
		rude "$PORT" fin
		exec {fd}<>"/dev/tcp/127.0.0.1/$PORT"
		printf 'GET /bash HTTP/1.1\r\nHost: x\r\n\r\n' >&"$fd"
		exec {fd}>&-
		rude "$PORT" rst
	done
	# Every answer has been written (or tried) by now.
	if ! wait_until 5 seen 6 || ! wait_until 5 all_answered ||
		gone "$HC_PID"; then
		gone "$HC_PID" && echo "health-checker is gone"
		cat "$T/hc.log"
		return 1
	fi
	get
	assert_answer "$T/answer" "HTTP/1.1 200 OK" "OK"
	kill -0 "$HC_PID"
}

@test "no descriptor growth over 200 requests" {
	start_listener
	serve --port "$LPORT" --script true
	local before after _
	for _ in $(seq 10); do
		get
	done
	wait_until 5 quiet
	before=$(fd_count)
	seq 150 | xargs -P 10 -I{} curl -s -o /dev/null --max-time 10 \
		"http://127.0.0.1:$PORT/{}"
	for _ in $(seq 25); do
		raw 127.0.0.1 "$PORT" 'garbage\r\n\r\n'
		python3 "$CLIENT" 127.0.0.1 "$PORT" --no-send --half-close \
			>/dev/null
	done
	wait_until 5 quiet
	after=$(fd_count)
	ls -l "/proc/$HC_PID/fd"
	assert_equal "$after" "$before"
	get
	assert_answer "$T/answer" "HTTP/1.1 200 OK" "OK"
}

@test "no children left after requests, a timed-out script included" {
	mkscript maybe "if [ -e $T/hang ]; then echo \$\$ >$T/hang.pid; exec sleep 30; fi"
	serve --script "$T/maybe" --script-timeout 0.5
	local _
	for _ in $(seq 20); do
		get
		assert_answer "$T/answer" "HTTP/1.1 200 OK" "OK"
	done
	touch "$T/hang"
	get
	assert_answer "$T/answer" "HTTP/1.1 504 Gateway Timeout" \
		"At least one health check failed"
	wait_until 2 eval '[ -z "$(children)" ]'
	assert_equal "$(children)" ""
	gone "$(cat "$T/hang.pid")"
}

@test "Accept=no: systemd-socket-activate without -a, one process serves all" {
	PORT=$(free_port)
	mkscript ppid "echo \$PPID >>$T/ppids"
	bg systemd-socket-activate -l "127.0.0.1:$PORT" -- "$HC" \
		--script "$T/ppid" 2>>"$T/hc.log"
	HC_PID=$BG_PID
	# It execs the checker at the first connection (same PID).
	wait_until 5 grep -q "^Listening on 127.0.0.1:$PORT" "$T/hc.log"
	local _
	for _ in 1 2 3 4; do
		get
		assert_answer "$T/answer" "HTTP/1.1 200 OK" "OK"
	done
	grep -q " info listening on 127.0.0.1:$PORT\$" "$T/hc.log"
	assert_equal "$(lines "$T/ppids")" 4
	assert_equal "$(sort -u "$T/ppids")" "$HC_PID"
	kill -TERM "$HC_PID"
	wait_until 3 gone "$HC_PID"
	local rc=0
	wait "$HC_PID" || rc=$?
	assert_equal "$rc" 0
}
