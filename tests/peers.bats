#!/usr/bin/env bats
# Real peers on loopback: xinetd running the shipped xinetd service, HAProxy
# marking servers up and down through health-checker, the shipped units'
# exact ExecStart= command lines under systemd-socket-activate, singleflight
# across socket-activated instances.

setup() {
	load helpers
	load peers
	common_setup
	PEERS=$BATS_TEST_DIRNAME/peers
	REPO=$BATS_TEST_DIRNAME/..
}

teardown() {
	common_teardown
}

# activate LOG OPTIONS... -- CMD...: systemd-socket-activate OPTIONS on a
# free loopback port running CMD; the port in APORT, its messages (and the
# children's stderr) in LOG.
activate() {
	local log=$1 try
	shift
	for try in 1 2 3; do
		APORT=$(free_port)
		bg systemd-socket-activate -l "127.0.0.1:$APORT" "$@" 2>"$log"
		wait_until 5 grep -q '^Listening on' "$log" && return 0
		echo "activate: try $try failed: $(cat "$log")" >&2
	done
	return 1
}

# get PORT: GET / with curl; the code in $code, the body in $T/body.
get() {
	code=$(curl -sS -m 10 -o "$T/body" -w '%{http_code}' "http://127.0.0.1:$1/")
}

# request PORT [HTTP-VERSION]: a raw GET / on PORT; the answer in $T/answer.
request() {
	printf 'GET / HTTP/%s\r\nHost: x\r\n\r\n' "${2:-1.1}" |
		python3 "$CLIENT" 127.0.0.1 "$1" --timeout 10 >"$T/answer"
}

assert_body() { # FILE TEXT: FILE holds exactly TEXT
	printf '%s' "$2" >"$T/expected"
	if ! cmp -s "$1" "$T/expected"; then
		printf 'expected body: %q\nactual body:   %q\n' "$2" "$(cat "$1")" >&2
		return 1
	fi
}


@test "xinetd (shipped service): healthy answer, every byte" {
	need xinetd xinetd
	start_listener
	start_xinetd "--port $LPORT"
	request "$XPORT"
	python3 "$PEERS/answer.py" "$T/answer" "HTTP/1.1 200 OK" "OK"
	request "$XPORT" 1.0
	python3 "$PEERS/answer.py" "$T/answer" "HTTP/1.0 200 OK" "OK"
	get "$XPORT"
	assert_equal "$code" 200
	assert_body "$T/body" OK
	kill -0 "$XINETD_PID"
}

@test "xinetd (shipped service): unhealthy answer, every byte" {
	need xinetd xinetd
	start_listener
	start_xinetd "--port $LPORT --port $(free_port)"
	request "$XPORT"
	python3 "$PEERS/answer.py" "$T/answer" "HTTP/1.1 504 Gateway Timeout" \
		"At least one health check failed"
	get "$XPORT"
	assert_equal "$code" 504
	assert_body "$T/body" "At least one health check failed"
}

@test "xinetd (shipped service): 4 sources x 100 idle connections, reopened as closed, leave 12 of 12 probes from a fifth answered 200" {
	local src i c ok=0
	need xinetd xinetd
	start_listener
	start_xinetd "--port $LPORT"
	for src in 127.0.0.2 127.0.0.3 127.0.0.4 127.0.0.5; do
		bg python3 "$REPO/tests/faults/load" hold 127.0.0.1 "$XPORT" \
			--idle 100 --seconds 10 --source "$src" >"$T/hold.$src"
	done
	for src in 127.0.0.2 127.0.0.3 127.0.0.4 127.0.0.5; do
		wait_until 10 grep -q ready "$T/hold.$src"
	done
	for i in $(seq 12); do
		c=$(curl -s -o /dev/null -w '%{http_code}' -m 2 \
			"http://127.0.0.1:$XPORT/" || true)
		echo "probe $i: $c" >&2
		[ "$c" != 200 ] || ok=$((ok + 1))
		sleep 0.5
	done
	echo "# xinetd idle attack: $ok of 12 probes answered 200" >&3
	kill -0 "$XINETD_PID"
	[ "$ok" -eq 12 ] || failed "$T/xinetd.log" "$T/xinetd.conf"
}

@test "xinetd: --log-level debug and a noisy failing script: not one log byte on the socket" {
	need xinetd xinetd
	start_listener
	printf '#!/bin/sh\necho NOISE-out\necho NOISE-err >&2\nexit 3\n' >"$T/noisy"
	chmod +x "$T/noisy"
	start_xinetd "--port $LPORT --log-level debug --script $T/noisy"
	request "$XPORT"
	python3 "$PEERS/answer.py" "$T/answer" "HTTP/1.1 504 Gateway Timeout" \
		"At least one health check failed"
	if grep -aE 'NOISE|debug|warning|verdict|check (tcp|script)' "$T/answer" >&2; then
		false
	fi
	# A client that sends nothing (debug logs "closed without a request")
	# gets no byte either.
	run python3 "$CLIENT" 127.0.0.1 "$XPORT" --no-send --half-close --timeout 10
	[ "$status" -eq 0 ]
	assert_equal "$output" ""
}

@test "xinetd: a one-shot killed with SIGKILL takes its script along" {
	local oneshot
	need xinetd xinetd
	printf '#!/bin/sh\necho $$ >%s\nexec sleep 300\n' "$T/sleeper.pid" >"$T/sleeper"
	chmod +x "$T/sleeper"
	start_xinetd "--script $T/sleeper --script-timeout 10"
	bg curl -s -o /dev/null --max-time 15 "http://127.0.0.1:$XPORT/"
	wait_until 5 test -s "$T/sleeper.pid"
	oneshot=$(ps -o ppid= -p "$(cat "$T/sleeper.pid")" | tr -d ' ')
	[[ $(ps -o comm= -p "$oneshot") == health-checker* ]]
	kill -KILL "$oneshot"
	wait_until 2 gone "$(cat "$T/sleeper.pid")"
}


# up_down_up HCLOG...: server s goes UP, DOWN once the watched listener
# (LISTENER_PID, port WATCHED) dies, UP again once a listener is back on
# the same port.
up_down_up() {
	wait_until 10 is_up || {
		echo "never UP: $(server_state)" >&2
		show "$T/haproxy.log" "$@"
		return 1
	}
	kill_listener "$LISTENER_PID"
	wait_until 10 is_down || {
		echo "never DOWN: $(server_state)" >&2
		show "$T/haproxy.log" "$@"
		return 1
	}
	# Down because health-checker said 504, not because it did not answer.
	grep -q 'Layer7 wrong status, code: 504' "$T/haproxy.log" || {
		show "$T/haproxy.log"
		return 1
	}
	start_listener 127.0.0.1 "$WATCHED"
	assert_equal "$LPORT" "$WATCHED"
	wait_until 10 is_up || {
		echo "never UP again: $(server_state)" >&2
		show "$T/haproxy.log" "$@"
		return 1
	}
	kill -0 "$HAPROXY_PID"
}

@test "HAProxy option httpchk (OPTIONS / HTTP/1.0) against --listener: UP, DOWN, UP" {
	need haproxy haproxy
	start_listener
	WATCHED=$LPORT
	CPORT=$(free_port)
	start_hc --listener "127.0.0.1:$CPORT" --port "$WATCHED" --log-level debug
	wait_port "$CPORT"
	start_haproxy "$WATCHED" "$CPORT" $'\toption httpchk'
	up_down_up "$T/hc.log"
	grep -Eq '^[-0-9T:.Z]+ debug request 127\.0\.0\.1:[0-9]+ OPTIONS /$' "$T/hc.log" || {
		show "$T/hc.log"
		false
	}
}

@test "HAProxy with contrib/haproxy.cfg's http-check lines (GET, HTTP/1.1, Host) against socket activation: UP, DOWN, UP" {
	need haproxy haproxy
	need systemd-socket-activate systemd
	grep -E '^[[:space:]]*(option httpchk|http-check)' "$REPO/contrib/haproxy.cfg" >"$T/httpchk"
	grep -q 'http-check send meth GET' "$T/httpchk" || {
		show "$T/httpchk"
		false
	}
	start_listener
	WATCHED=$LPORT
	mkdir -m 700 "$T/rt"
	export RUNTIME_DIRECTORY=$T/rt
	activate "$T/sa.log" -a -E RUNTIME_DIRECTORY -- "$HC" --port "$WATCHED"
	start_haproxy "$WATCHED" "$APORT" "$(cat "$T/httpchk")"
	up_down_up "$T/sa.log"
	# A process per probe, every 100 ms, at the default log level: the
	# log holds the first verdict and the two changes, nothing else.
	grep ' verdict ' "$T/sa.log" >"$T/verdicts"
	assert_equal "$(wc -l <"$T/verdicts")" 3 || failed "$T/sa.log"
	grep -Eq "notice verdict healthy\$" "$T/verdicts"
	grep -Eq "warning verdict unhealthy \\(was healthy\\): tcp 127\\.0\\.0\\.1:$WATCHED refused\$" "$T/verdicts"
	grep -Eq "notice verdict healthy \\(was unhealthy\\)\$" "$T/verdicts" ||
		failed "$T/verdicts"
}

# --- the shipped units' command lines --------------------------------------

# unit_argv UNIT: ARGV = the argv systemd builds from UNIT's ExecStart=,
# @bindir@ being a directory holding the built binary as health-checker.
unit_argv() {
	mkdir -p "$T/bin"
	ln -sf "$HC" "$T/bin/health-checker"
	ARGV=()
	mapfile -d '' -t ARGV < <(python3 "$PEERS/exec-argv.py" "$REPO/units/$1" "$T/bin")
	[ "${#ARGV[@]}" -gt 0 ] || {
		echo "no command line from units/$1" >&2
		return 1
	}
}

@test "health-checker@.service ExecStart= (fd 3, LISTEN_*): quoted HEALTH_CHECKER_OPTS, 200 then 504" {
	need systemd-socket-activate systemd
	start_listener
	# Before unit_argv, which expands it as systemd does at each start.
	export HEALTH_CHECKER_OPTS="--port $LPORT --script 'sh -c \"exit 0\"'"
	unit_argv health-checker@.service
	activate "$T/sa.log" -a -E HEALTH_CHECKER_OPTS -- "${ARGV[@]}"
	get "$APORT"
	assert_equal "$code" 200 || failed "$T/sa.log"
	assert_body "$T/body" OK
	kill_listener "$LISTENER_PID"
	get "$APORT"
	assert_equal "$code" 504 || failed "$T/sa.log"
	assert_body "$T/body" "At least one health check failed"
	if grep '^Child [0-9]* died' "$T/sa.log" | grep -v 'with code 0$' >&2; then
		false
	fi
}

@test "health-checker@.service ExecStart= (StandardInput=socket, fds 0/1): 200 then 504" {
	need systemd-socket-activate systemd
	start_listener
	export HEALTH_CHECKER_OPTS="--port $LPORT --script 'sh -c \"exit 0\"'"
	unit_argv health-checker@.service
	activate "$T/sa.log" -a --inetd -E HEALTH_CHECKER_OPTS -- "${ARGV[@]}"
	get "$APORT"
	assert_equal "$code" 200 || failed "$T/sa.log"
	kill_listener "$LISTENER_PID"
	get "$APORT"
	assert_equal "$code" 504 || failed "$T/sa.log"
}

# notify_listener: a NOTIFY_SOCKET in $T/notify.sock, datagrams one per line
# in $T/notify.log.
notify_listener() {
	bg python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
while True:
    with open(sys.argv[2], "ab") as f:
        f.write(s.recv(4096) + b"\n")
' "$T/notify.sock" "$T/notify.log"
	wait_until 5 test -S "$T/notify.sock"
}

@test "health-checker.service ExecStart= under Accept=no activation (Type=notify): READY=1, quoted HEALTH_CHECKER_OPTS, 200 then 504, SIGTERM exit 0" {
	need systemd-socket-activate systemd
	start_listener
	notify_listener
	export HEALTH_CHECKER_OPTS="--port $LPORT --script 'sh -c \"exit 0\"'"
	export NOTIFY_SOCKET=$T/notify.sock
	unit_argv health-checker.service
	activate "$T/sa.log" -E HEALTH_CHECKER_OPTS -E NOTIFY_SOCKET -- "${ARGV[@]}"
	pid=$BG_PID
	get "$APORT"
	assert_equal "$code" 200 || failed "$T/sa.log"
	assert_body "$T/body" OK
	wait_until 10 grep -qx 'READY=1' "$T/notify.log" || {
		show "$T/sa.log" "$T/notify.log"
		false
	}
	kill_listener "$LISTENER_PID"
	get "$APORT"
	assert_equal "$code" 504 || failed "$T/sa.log"
	# One process served both: the listening socket was handed over.
	assert_equal "$(grep -c '^Execing ' "$T/sa.log")" 1 || failed "$T/sa.log"
	kill -TERM "$pid"
	st=0
	wait "$pid" || st=$?
	assert_equal "$st" 0
	# The listener writes what it hears in its own time.
	wait_until 10 grep -qx 'STOPPING=1' "$T/notify.log"
}

@test "contrib/default's HEALTH_CHECKER_OPTS through health-checker@.service, fake ZooKeeper: 200, then 504 without it" {
	need systemd-socket-activate systemd
	bg python3 "$PEERS/fake-server.py" imok >"$T/zk.port"
	ZK_PID=$BG_PID
	wait_until 5 test -s "$T/zk.port"
	zk=$(cat "$T/zk.port")
	# The shipped file with ZooKeeper's port; read as sh reads it (for this
	# file systemd's EnvironmentFile= parsing gives the same value).  The
	# check goes by its bare name: the repository's contrib directory on
	# PATH stands in for the installed one.
	sed -e "s|2181|$zk|g" "$REPO/contrib/default" >"$T/default"
	HEALTH_CHECKER_OPTS=$(. "$T/default" && printf '%s' "$HEALTH_CHECKER_OPTS")
	export HEALTH_CHECKER_OPTS
	export PATH=$REPO/contrib/checks:$PATH
	grep -Fq "'zk-ruok localhost $zk'" <<<"$HEALTH_CHECKER_OPTS" || {
		echo "unexpected contrib/default: $HEALTH_CHECKER_OPTS" >&2
		false
	}
	mkdir -m 700 "$T/rt"
	export RUNTIME_DIRECTORY=$T/rt
	unit_argv health-checker@.service
	activate "$T/sa.log" -a -E RUNTIME_DIRECTORY -E HEALTH_CHECKER_OPTS -E PATH -- "${ARGV[@]}"
	get "$APORT"
	assert_equal "$code" 200 || failed "$T/sa.log"
	assert_body "$T/body" OK
	kill_listener "$ZK_PID"
	get "$APORT"
	assert_equal "$code" 504 || failed "$T/sa.log"
	grep -q 'zk-ruok: cannot connect' "$T/sa.log" || failed "$T/sa.log"
}

@test "singleflight across socket-activated instances (unit command line, RUNTIME_DIRECTORY): 8 concurrent requests, at most 2 runs" {
	need systemd-socket-activate systemd
	mkdir -m 700 "$T/rt"
	printf '#!/bin/sh\necho run >>"$1"\nsleep 0.5\n' >"$T/slow"
	chmod +x "$T/slow"
	export RUNTIME_DIRECTORY=$T/rt
	export HEALTH_CHECKER_OPTS="--singleflight --script '$T/slow $T/runs'"
	unit_argv health-checker@.service
	activate "$T/sa.log" -a -E RUNTIME_DIRECTORY -E HEALTH_CHECKER_OPTS -- "${ARGV[@]}"
	local curls=() i pid
	for i in 1 2 3 4 5 6 7 8; do
		bg curl -sS -m 10 -o "$T/body.$i" -w '%{http_code}' "http://127.0.0.1:$APORT/" >"$T/code.$i"
		curls+=("$BG_PID")
	done
	for pid in "${curls[@]}"; do
		wait "$pid"
	done
	for i in 1 2 3 4 5 6 7 8; do
		assert_equal "$(cat "$T/code.$i")" 200 || failed "$T/sa.log"
	done
	runs=$(wc -l <"$T/runs")
	echo "runs: $runs" >&2
	[ "$runs" -ge 1 ] && [ "$runs" -le 2 ] || {
		show "$T/sa.log"
		false
	}
	# The state lives where the unit's RuntimeDirectory= puts it.
	[ -n "$(ls -A "$T/rt")" ]
}
