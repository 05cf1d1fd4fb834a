#!/usr/bin/env bats
# --port: TCP connect checks, bare port, HOST:PORT, [IPv6]:PORT, names with
# several addresses, several checks, --port-timeout, concurrency.

setup() {
	load helpers
	common_setup
	SCRIPTS=$BATS_TEST_DIRNAME/scripts
}

teardown() {
	common_teardown
}

# blackhole: a loopback port whose connects neither succeed nor fail (a
# listener that never accepts, its backlog filled); the port in BPORT.
blackhole() {
	start_listener -n || return 1
	BPORT=$LPORT
	bg "$SCRIPTS/fill-backlog" "$BPORT" "$T/filled.$BPORT"
	wait_until 10 test -s "$T/filled.$BPORT"
}

# once ARGS...: health-checker --once ARGS; stdout in $output and $lines,
# stderr in $T/err, $status, $ms (elapsed).
once() {
	local start
	start=$(date +%s%N)
	"$HC" --once "$@" >"$T/out" 2>"$T/err" && status=0 || status=$?
	ms=$(ms_since "$start")
	output=$(cat "$T/out")
	mapfile -t lines <"$T/out"
	echo "elapsed ${ms}ms" >&2
}

# has_line REGEX: some line of $output matches the extended REGEX exactly.
has_line() {
	if ! grep -Eq "^$1\$" <<<"$output"; then
		printf 'no line matching: %s\noutput:\n%s\n' "$1" "$output" >&2
		return 1
	fi
}

# resolves_to NAME ADDR: getent gives ADDR among NAME's addresses.
resolves_to() {
	getent ahosts "$1" | awk '{ print $1 }' | grep -qxF "$2"
}

@test "bare PORT connects to 127.0.0.1 and passes when it accepts" {
	start_listener
	once --port "$LPORT"
	[ "$status" -eq 0 ]
	has_line "ok tcp 127\\.0\\.0\\.1:$LPORT [0-9]+ms"
	has_line "OK"
}

@test "bare PORT fails with refused when nothing listens" {
	local p
	p=$(free_port)
	once --port "$p"
	[ "$status" -eq 1 ]
	has_line "fail tcp 127\\.0\\.0\\.1:$p [0-9]+ms refused"
	has_line "At least one health check failed"
}

@test "bare PORT does not reach a listener on ::1 only" {
	start_listener ::1
	once --port "$LPORT"
	[ "$status" -eq 1 ]
	has_line "fail tcp 127\\.0\\.0\\.1:$LPORT [0-9]+ms refused"
}

@test "HOST:PORT with 127.0.0.1 passes, target as given" {
	start_listener
	once --port "127.0.0.1:$LPORT"
	[ "$status" -eq 0 ]
	has_line "ok tcp 127\\.0\\.0\\.1:$LPORT [0-9]+ms"
}

@test "HOST:PORT with another loopback address fails refused" {
	start_listener
	# 127.0.0.2 is loopback too, but the listener is bound to 127.0.0.1.
	once --port "127.0.0.2:$LPORT"
	[ "$status" -eq 1 ]
	has_line "fail tcp 127\\.0\\.0\\.2:$LPORT [0-9]+ms refused"
}

@test "HOST:PORT with localhost passes, target as given" {
	start_listener
	resolves_to localhost 127.0.0.1 || skip "localhost does not resolve to 127.0.0.1 here"
	once --port "localhost:$LPORT"
	[ "$status" -eq 0 ]
	has_line "ok tcp localhost:$LPORT [0-9]+ms"
}

@test "HOST:PORT with localhost fails when nothing listens" {
	local p
	p=$(free_port)
	once --port "localhost:$p"
	[ "$status" -eq 1 ]
	has_line "fail tcp localhost:$p [0-9]+ms refused"
}

@test "[::1]:PORT passes against a listener on ::1" {
	start_listener ::1
	once --port "[::1]:$LPORT"
	[ "$status" -eq 0 ]
	has_line "ok tcp \\[::1\\]:$LPORT [0-9]+ms"
}

@test "[::1]:PORT fails against a listener on 127.0.0.1 only" {
	start_listener
	once --port "[::1]:$LPORT"
	[ "$status" -eq 1 ]
	has_line "fail tcp \\[::1\\]:$LPORT [0-9]+ms refused"
}

# two_address_name: in a private mount namespace (NS), dual.test has both
# 127.0.0.1 and ::1 in /etc/hosts, whatever this machine's file says.
two_address_name() {
	[ "$(id -u)" -eq 0 ] || skip "needs root for a mount namespace"
	ns_start
	ns_file /etc/hosts "127.0.0.1 dual.test
::1 dual.test"
	in_ns getent ahosts dual.test | awk '{ print $1 }' | sort -u >"$T/addrs"
	assert_equal "$(tr '\n' ' ' <"$T/addrs")" "127.0.0.1 ::1 "
}

# once_ns ARGS...: once, inside the namespace.
once_ns() {
	local start
	start=$(date +%s%N)
	in_ns "$HC" --once "$@" >"$T/out" 2>"$T/err" && status=0 || status=$?
	ms=$(ms_since "$start")
	output=$(cat "$T/out")
}

@test "a name with several addresses passes when only ::1 accepts" {
	two_address_name
	start_listener ::1
	once_ns --port "dual.test:$LPORT"
	[ "$status" -eq 0 ]
	has_line "ok tcp dual.test:$LPORT [0-9]+ms"
}

@test "a name with several addresses passes when only 127.0.0.1 accepts" {
	two_address_name
	start_listener 127.0.0.1
	once_ns --port "dual.test:$LPORT"
	[ "$status" -eq 0 ]
	has_line "ok tcp dual.test:$LPORT [0-9]+ms"
}

@test "a name with several addresses fails when none accepts, with the last reason" {
	local p
	two_address_name
	p=$(free_port)
	once_ns --port "dual.test:$p"
	[ "$status" -eq 1 ]
	has_line "fail tcp dual.test:$p [0-9]+ms refused"
}

@test "several --port checks all passing: healthy" {
	local a b
	start_listener
	a=$LPORT
	start_listener ::1
	b=$LPORT
	once --port "$a" --port "[::1]:$b" --port "127.0.0.1:$a"
	[ "$status" -eq 0 ]
	has_line "ok tcp 127\\.0\\.0\\.1:$a [0-9]+ms"
	has_line "ok tcp \\[::1\\]:$b [0-9]+ms"
	[ "$(grep -c '^ok tcp ' <<<"$output")" -eq 3 ]
	[ "${lines[-1]}" = OK ]
}

@test "several --port checks, one refused: unhealthy, the others still ok" {
	local a p
	start_listener
	a=$LPORT
	p=$(free_port)
	once --port "$a" --port "$p" --port "127.0.0.1:$a"
	[ "$status" -eq 1 ]
	has_line "fail tcp 127\\.0\\.0\\.1:$p [0-9]+ms refused"
	[ "$(grep -c '^ok tcp ' <<<"$output")" -eq 2 ]
	[ "${lines[-1]}" = "At least one health check failed" ]
}

@test "the blackhole fixture really blackholes (connects time out)" {
	blackhole
	run python3 -c 'import socket,sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=0.5)' "$BPORT"
	[ "$status" -ne 0 ]
	[[ $output == *"timed out"* ]]
}

@test "--port-timeout: a blackholed port fails with timed out in time" {
	blackhole
	once --port "$BPORT" --port-timeout 1
	echo "elapsed ${ms}ms" >&2
	[ "$status" -eq 1 ]
	has_line "fail tcp 127\\.0\\.0\\.1:$BPORT [0-9]+ms timed out"
	[ "$ms" -lt 2500 ]
}

@test "--port-timeout accepts decimals" {
	blackhole
	once --port "$BPORT" --port-timeout 0.5
	echo "elapsed ${ms}ms" >&2
	[ "$status" -eq 1 ]
	has_line "fail tcp 127\\.0\\.0\\.1:$BPORT [0-9]+ms timed out"
	[ "$ms" -lt 2000 ]
}

@test "--port-timeout: a fast port is not held up by a blackholed one" {
	local a
	start_listener
	a=$LPORT
	blackhole
	once --port "$BPORT" --port "$a" --port-timeout 1
	[ "$status" -eq 1 ]
	has_line "ok tcp 127\\.0\\.0\\.1:$a [0-9]+ms"
	# The passing check's own time does not include the blackhole's wait.
	local t
	t=$(sed -n "s/^ok tcp 127\\.0\\.0\\.1:$a \\([0-9]*\\)ms\$/\\1/p" <<<"$output")
	[ "$t" -lt 500 ]
}

@test "port checks run concurrently: two blackholes answer in one timeout" {
	local a
	blackhole
	a=$BPORT
	blackhole
	once --port "$a" --port "$BPORT" --port-timeout 1
	echo "elapsed ${ms}ms" >&2
	[ "$status" -eq 1 ]
	has_line "fail tcp 127\\.0\\.0\\.1:$a [0-9]+ms timed out"
	has_line "fail tcp 127\\.0\\.0\\.1:$BPORT [0-9]+ms timed out"
	[ "$ms" -lt 1800 ]
}

@test "port checks over HTTP: 200 when it accepts, 504 when refused" {
	local p
	start_listener
	p=$(free_port)
	inetd_request 'GET / HTTP/1.0\r\n\r\n' --port "$LPORT"
	[ "$status" -eq 0 ]
	assert_equal "$(status_line "$T/answer")" "HTTP/1.0 200 OK"
	assert_equal "$(body "$T/answer")" "OK"
	inetd_request 'GET / HTTP/1.0\r\n\r\n' --port "$LPORT" --port "$p"
	[ "$status" -eq 0 ]
	assert_equal "$(status_line "$T/answer")" "HTTP/1.0 504 Gateway Timeout"
	assert_equal "$(body "$T/answer")" "At least one health check failed"
}
