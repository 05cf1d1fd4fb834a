#!/usr/bin/env bats
# One-shot modes: systemd socket activation with Accept=yes (connection on
# fd 3, LISTEN_* set), inetd under systemd-socket-activate --inetd, stdin a
# socket without --inetd, and a plain pipe with --inetd.

setup() {
	load helpers
	common_setup
	SCRIPTS=$BATS_TEST_DIRNAME/scripts
	PROBE=$SCRIPTS/probe
	start_listener
	UP=$LPORT
	DOWN=$(free_port)
}

teardown() {
	common_teardown
}

# curl_get: GET http://127.0.0.1:APORT/ with curl; the code in $code, the
# body in $T/body.
curl_get() {
	code=$(curl -sS -m 10 -o "$T/body" -w '%{http_code}' "http://127.0.0.1:$APORT/health")
}

# assert_body FILE TEXT: FILE holds exactly TEXT (no newline added).
assert_body() {
	printf '%s' "$2" >"$T/expected"
	if ! cmp -s "$1" "$T/expected"; then
		printf 'expected body:\n%s\nactual body:\n%s\n' "$(od -c "$T/expected")" "$(od -c "$1")" >&2
		return 1
	fi
}

# died N: systemd-socket-activate reported at least N children dead.
died() {
	[ "$(grep -c '^Child [0-9]* died' "$T/sa.log")" -ge "$1" ]
}

# children_exited N CODE: systemd-socket-activate saw N children die, all
# with CODE.
children_exited() {
	wait_until 5 died "$1" || {
		cat "$T/sa.log" >&2
		return 1
	}
	if grep '^Child [0-9]* died' "$T/sa.log" | grep -v "with code $2\$" >&2; then
		echo "a one-shot exited with another code than $2" >&2
		return 1
	fi
}

@test "Accept=yes (-a): healthy answers 200 OK, body exact" {
	socket_activate -a -- "$HC" --port "$UP"
	curl_get
	assert_equal "$code" 200
	assert_body "$T/body" "OK"
	children_exited 1 0
}

@test "Accept=yes (-a): unhealthy answers 504, body exact, exit 0" {
	socket_activate -a -- "$HC" --port "$UP" --port "$DOWN"
	curl_get
	assert_equal "$code" 504
	assert_body "$T/body" "At least one health check failed"
	children_exited 1 0
}

@test "Accept=yes (-a): the whole answer, HTTP/1.0 status line" {
	socket_activate -a -- "$HC" --port "$UP"
	printf 'GET / HTTP/1.0\r\n\r\n' | python3 "$CLIENT" 127.0.0.1 "$APORT" >"$T/answer"
	assert_equal "$(status_line "$T/answer")" "HTTP/1.0 200 OK"
	grep -q $'^Content-Type: text/plain; charset=utf-8\r$' "$T/answer"
	grep -q $'^Content-Length: 2\r$' "$T/answer"
	grep -q $'^Connection: close\r$' "$T/answer"
	grep -q $'^Cache-Control: no-store\r$' "$T/answer"
	grep -Eq $'^Date: [A-Z][a-z]{2}, [0-9]{2} [A-Z][a-z]{2} [0-9]{4} [0-9]{2}:[0-9]{2}:[0-9]{2} GMT\r$' "$T/answer"
	assert_equal "$(body "$T/answer")" "OK"
}

@test "Accept=yes (-a): a client that sends nothing is closed quietly, exit 0" {
	socket_activate -a -- "$HC" --port "$UP"
	run python3 "$CLIENT" 127.0.0.1 "$APORT" --no-send --half-close --timeout 5
	[ "$status" -eq 0 ]
	assert_equal "$output" ""
	children_exited 1 0
}

@test "Accept=yes (-a): scripts see no LISTEN_* and the checker is gone after" {
	socket_activate -a --fdname=web -- "$HC" --script "$PROBE ppid $T/ppid" --script "$PROBE env $T/env"
	curl_get
	assert_equal "$code" 200
	[ -s "$T/ppid" ]
	wait_until 5 gone "$(cat "$T/ppid")"
	if grep '^LISTEN_' "$T/env" >&2; then false; fi
	children_exited 1 0
}

@test "systemd-socket-activate -a --inetd, checker given --inetd: 200" {
	socket_activate -a --inetd -- "$HC" --inetd --port "$UP"
	curl_get
	assert_equal "$code" 200
	assert_body "$T/body" "OK"
	children_exited 1 0
}

@test "systemd-socket-activate -a --inetd, checker given --inetd: 504" {
	socket_activate -a --inetd -- "$HC" --inetd --port "$DOWN"
	curl_get
	assert_equal "$code" 504
	assert_body "$T/body" "At least one health check failed"
	children_exited 1 0
}

@test "stdin a socket without --inetd: inetd mode chosen by itself" {
	socket_activate -a --inetd -- "$HC" --port "$UP" --script "$PROBE ppid $T/ppid"
	curl_get
	assert_equal "$code" 200
	assert_body "$T/body" "OK"
	wait_until 5 gone "$(cat "$T/ppid")"
	children_exited 1 0
}

@test "stdin a socket without --inetd: 504 when a check fails" {
	socket_activate -a --inetd -- "$HC" --port "$DOWN"
	curl_get
	assert_equal "$code" 504
	assert_body "$T/body" "At least one health check failed"
	children_exited 1 0
}

@test "sequential requests: each answered by a new one-shot that then exits" {
	local pid
	socket_activate -a -- "$HC" --port "$UP" --script "$PROBE ppid $T/ppid"
	for _ in 1 2 3; do
		curl_get
		assert_equal "$code" 200
		assert_body "$T/body" "OK"
	done
	cat "$T/ppid" >&2
	[ "$(wc -l <"$T/ppid")" -eq 3 ]
	[ "$(sort -u "$T/ppid" | wc -l)" -eq 3 ]
	for pid in $(cat "$T/ppid"); do
		wait_until 5 gone "$pid"
	done
	children_exited 3 0
}

@test "sequential requests under -a --inetd, healthy then unhealthy" {
	socket_activate -a --inetd -- "$HC" --inetd --port "$UP" --script "test -e $T/healthy"
	touch "$T/healthy"
	for _ in 1 2; do
		curl_get
		assert_equal "$code" 200
	done
	rm "$T/healthy"
	curl_get
	assert_equal "$code" 504
	assert_body "$T/body" "At least one health check failed"
	touch "$T/healthy"
	curl_get
	assert_equal "$code" 200
	children_exited 4 0
}

@test "HEAD under Accept=yes: headers only" {
	socket_activate -a -- "$HC" --port "$UP"
	printf 'HEAD / HTTP/1.1\r\nHost: x\r\n\r\n' | python3 "$CLIENT" 127.0.0.1 "$APORT" >"$T/answer"
	assert_equal "$(status_line "$T/answer")" "HTTP/1.1 200 OK"
	assert_equal "$(body "$T/answer")" ""
	grep -q $'^Content-Length: 2\r$' "$T/answer"
}

@test "pipe form: --inetd on a pipe answers 200 with exact status and body" {
	printf 'GET / HTTP/1.0\r\n\r\n' | "$HC" --inetd --port "$UP" >"$T/answer" 2>"$T/err"
	assert_equal "$(status_line "$T/answer")" "HTTP/1.0 200 OK"
	assert_body <(body "$T/answer") "OK"
	assert_equal "$(tail -c 2 "$T/answer")" "OK"
}

@test "pipe form: 504 and exit 0" {
	inetd_request 'GET / HTTP/1.1\r\nHost: x\r\n\r\n' --port "$UP" --port "$DOWN"
	[ "$status" -eq 0 ]
	assert_equal "$(status_line "$T/answer")" "HTTP/1.1 504 Gateway Timeout"
	assert_equal "$(tail -c 32 "$T/answer")" "At least one health check failed"
	grep -q $'^Content-Length: 32\r$' "$T/answer"
}

@test "pipe form: exit 0 when healthy, nothing but the answer on stdout" {
	inetd_request 'GET / HTTP/1.0\r\n\r\n' --port "$UP"
	[ "$status" -eq 0 ]
	assert_equal "$(head -c 17 "$T/answer" | od -An -c -w64 | tr -s ' ')" " H T T P / 1 . 0 2 0 0 O K \r \n"
	assert_equal "$(tail -c 2 "$T/answer")" "OK"
}
