#!/usr/bin/env bats
# A real HAProxy asking health-checker's agent (HAProxy's agent-check) for
# the server's state, read from HAProxy's stats socket: UP, DOWN when a
# watched port dies, UP when it is back, DRAIN while the maintenance file
# exists, UP when it is gone; for the standalone server's --agent-listener
# and for the one-shot --agent under systemd-socket-activate, with and
# without agent-send, and beside HAProxy's HTTP check of the same checker.
# The seconds from the event to HAProxy's new state go to the log (# lines).

setup() {
	load helpers
	load peers
	common_setup
	REPO=$BATS_TEST_DIRNAME/..
}

teardown() {
	common_teardown
}

# HAProxy's view of server s of backend B (default b): "OP ADMIN STATUS",
# OP the operational state of "show servers state" (2 running, 0 stopped),
# ADMIN its administrative state (8 = drain forced, as the agent's "drain"
# sets it; 0 none), STATUS the status column of "show stat".
UP='2 0 UP'
DOWN='0 0 DOWN (agent)'
DRAIN='2 8 DRAIN (agent)'
# agent_state: the state of b/s now, asked of the stats socket.
agent_state() {
	printf '%s %s\n' \
		"$(stats "show servers state b" | awk '$2 == "b" && $4 == "s" { print $6, $7 }')" \
		"$(stats 'show stat' | awk -F, '$1 == "b" && $2 == "s" { print $18 }')"
}
# agent_status: the agent_status column of "show stat" for b/s (L7OK: the
# agent answered; L4CON: it could not be reached).
agent_status() {
	stats 'show stat' | awk -F, '$1 == "b" && $2 == "s" { print $63 }'
}
agent_said() { [ "$(agent_status)" = L7OK ]; }

# in_state STATE [BACKEND]: the last state the watcher saw is STATE.
in_state() {
	[ "$(awk -v b="${2:-b}" '$2 == b { $1 = $2 = ""; s = substr($0, 3) } END { print s }' \
		"$T/states")" = "$1" ]
}

# watched_haproxy LINES SERVER-LINE: haproxy_backend, and
# tests/peers/haproxy-stats.py watch recording each change of backends b and h
# in $T/states with the time it was seen (20 ms polls in one process: a
# poll through a Python started anew would take as long as what it times).
watched_haproxy() {
	haproxy_backend "$@" || return 1
	: >"$T/states"
	bg python3 "$BATS_TEST_DIRNAME/peers/haproxy-stats.py" watch "$T/stats.sock" b h >"$T/states"
	wait_until 5 test -s "$T/states"
}

# services: SERVICE, the port HAProxy sends traffic to (always up: HAProxy's
# own TCP check passes throughout), and WATCHED (pid WATCHED_PID), the port
# health-checker checks.
services() {
	start_listener || return 1
	SERVICE=$LPORT
	start_listener || return 1
	WATCHED=$LPORT
	WATCHED_PID=$LISTENER_PID
}

# start_agent ARGS...: the standalone server with an agent listener on a
# free loopback port (APORT), up; its HTTP listener on loopback too (the
# default would be port 5000 of every address).
start_agent() {
	APORT=$(free_port)
	start_hc --listener "127.0.0.1:$(free_port)" \
		--agent-listener "127.0.0.1:$APORT" "$@"
	wait_port "$APORT"
}

# agent_haproxy AGENT-PORT [WORDS...]: HAProxy with server s on SERVICE,
# its TCP check and the agent's every 300 ms, the WORDS added to the line.
agent_haproxy() {
	local port=$1
	shift
	watched_haproxy "" "server s 127.0.0.1:$SERVICE check inter 200 fall 1 rise 1 agent-check agent-port $port agent-inter 300ms $*"
}

# await STATE WHAT LOG...: wait for STATE (10 s at most); the seconds from
# $T0 (date +%s%N) to when the watcher saw it printed as "# WHAT: N.NNN s"
# and left in SECS; on a timeout, the logs shown.
await() {
	local state=$1 what=$2
	shift 2
	wait_until 10 in_state "$state" || {
		echo "never '$state' ($what): $(agent_state)" >&2
		show "$T/haproxy.cfg" "$T/haproxy.log" "$T/states" "$@"
		return 1
	}
	SECS=$(awk -v t0="$T0" '$2 == "b" { t = $1 } END { printf "%.3f", (t - t0) / 1e9 }' "$T/states")
	echo "# $what: $SECS s" >&3
}

# within SECS LIMIT: SECS is at most LIMIT seconds.
within() {
	awk -v s="$1" -v l="$2" 'BEGIN { exit !(s <= l) }' || {
		echo "$1 s, more than $2 s" >&2
		return 1
	}
}

# sequence LABEL LOG...: UP (the agent answered), DOWN once WATCHED dies, UP once a listener is
# back on it, DRAIN once $T/maint exists, UP once it is gone; DOWN and
# DRAIN within 5 s (agent-inter 300 ms: a second is plenty), their times
# printed; HAProxy says why it took the server down.
sequence() {
	local label=$1
	shift
	# HAProxy starts its servers UP: UP once the agent has said so.
	wait_until 10 agent_said || {
		echo "the agent never answered: $(agent_status)" >&2
		show "$T/haproxy.log" "$@"
		return 1
	}
	wait_until 10 in_state "$UP" || failed "$T/haproxy.log" "$T/states" "$@" || return 1
	T0=$(date +%s%N)
	kill_listener "$WATCHED_PID"
	await "$DOWN" "$label: watched port closed -> DOWN" "$@" || return 1
	within "$SECS" 5 || return 1
	grep -q "via agent : down" "$T/haproxy.log" || failed "$T/haproxy.log" || return 1
	grep -q "127\\.0\\.0\\.1:$WATCHED" "$T/haproxy.log" || failed "$T/haproxy.log" || return 1
	start_listener 127.0.0.1 "$WATCHED" || return 1
	T0=$(date +%s%N)
	await "$UP" "$label: port back -> UP" "$@" || return 1
	T0=$(date +%s%N)
	: >"$T/maint"
	await "$DRAIN" "$label: maintenance file -> DRAIN" "$@" || return 1
	within "$SECS" 5 || return 1
	T0=$(date +%s%N)
	rm "$T/maint"
	await "$UP" "$label: maintenance file gone -> UP" "$@" || return 1
	kill -0 "$HAPROXY_PID"
}

@test "HAProxy agent-check against --agent-listener: UP, DOWN, UP, DRAIN, UP" {
	need haproxy haproxy
	services
	start_agent --port "$WATCHED" --maintenance-file "$T/maint"
	agent_haproxy "$APORT"
	sequence standalone "$T/hc.log"
}

@test "HAProxy agent-check with agent-send \"hello\\n\" against --agent-listener: UP, DOWN, UP, DRAIN, UP" {
	need haproxy haproxy
	services
	start_agent --port "$WATCHED" --maintenance-file "$T/maint" \
		--log-level debug
	agent_haproxy "$APORT" 'agent-send "hello\n"'
	sequence "standalone, agent-send" "$T/hc.log"
}

@test "HAProxy with contrib/haproxy.cfg's agent-check line against --agent under systemd-socket-activate --accept: UP, DOWN, UP, DRAIN, UP" {
	local line
	need haproxy haproxy
	need systemd-socket-activate systemd
	# The shipped line, its ports and intervals made fast for the test.
	line=$(awk '$1 == "backend" { b = $2 } b == "zookeeper-agent" && $1 == "default-server"' \
		"$REPO/contrib/haproxy.cfg")
	grep -q 'agent-check agent-port 5001 ' <<<"$line" || {
		echo "contrib/haproxy.cfg's agent line: '$line'" >&2
		false
	}
	services
	mkdir -m 700 "$T/rt"
	export RUNTIME_DIRECTORY=$T/rt
	socket_activate -a -E RUNTIME_DIRECTORY -- "$HC" --agent --port "$WATCHED" \
		--maintenance-file "$T/maint"
	line=$(sed -e "s/agent-port 5001/agent-port $APORT/" \
		-e 's/agent-inter [0-9a-z]*/agent-inter 300ms/' \
		-e 's/ inter [0-9a-z]*/ inter 200/' <<<"$line")
	watched_haproxy "$line" "server s 127.0.0.1:$SERVICE"
	sequence "one-shot (contrib line)" "$T/sa.log"
	# Every one-shot answered and exited 0.
	if grep '^Child [0-9]* died' "$T/sa.log" | grep -v 'with code 0$' >&2; then
		false
	fi
}

@test "HAProxy agent-check with agent-send against --agent --inetd under systemd-socket-activate --inetd: UP, DOWN, UP, DRAIN, UP" {
	need haproxy haproxy
	need systemd-socket-activate systemd
	services
	mkdir -m 700 "$T/rt"
	export RUNTIME_DIRECTORY=$T/rt
	socket_activate -a --inetd -E RUNTIME_DIRECTORY -- "$HC" --agent --inetd \
		--port "$WATCHED" --maintenance-file "$T/maint"
	agent_haproxy "$APORT" 'agent-send "hello\n"'
	sequence "one-shot --inetd, agent-send" "$T/sa.log"
}

# agent_line PORT [SEND]: the agent's whole answer on PORT, SEND (printf
# format) sent first, or nothing; in $T/line.
agent_line() {
	# shellcheck disable=SC2059
	printf "${2-}" | python3 "$CLIENT" 127.0.0.1 "$1" --timeout 10 >"$T/line"
}

@test "the agent's raw lines: up ready, down #REASON (no script argument), drain; with and without a line sent" {
	local send
	services
	mkscript ok 'exit 0'
	start_agent --port "$WATCHED" --script "$T/ok secret-argument" \
		--maintenance-file "$T/maint"
	for send in '' 'hello\n'; do
		agent_line "$APORT" "$send"
		assert_equal "$(cat "$T/line")" "up ready"
	done
	kill_listener "$WATCHED_PID"
	for send in '' 'hello\n'; do
		agent_line "$APORT" "$send"
		[[ $(cat "$T/line") == "down #"*"127.0.0.1:$WATCHED"* ]] || failed "$T/line"
		not grep -q secret-argument "$T/line"
		# One line, ended by its newline.
		assert_equal "$(wc -l <"$T/line")" 1
		assert_equal "$(tail -c 1 "$T/line" | od -An -c | tr -d ' ')" '\n'
	done
	: >"$T/maint"
	agent_line "$APORT"
	assert_equal "$(cat "$T/line")" "drain"
}

@test "HAProxy's HTTP check and agent check of one checker (--listener, --agent-listener, --singleflight): both DOWN with the port, then DOWN (503) beside DRAIN in maintenance" {
	need haproxy haproxy
	services
	HPORT=$(free_port)
	APORT=$(free_port)
	start_hc --listener "127.0.0.1:$HPORT" --agent-listener "127.0.0.1:$APORT" \
		--singleflight --port "$WATCHED" --maintenance-file "$T/maint"
	wait_port "$HPORT"
	wait_port "$APORT"
	# Backend h asks over HTTP, backend b through the agent.
	watched_haproxy "" "server s 127.0.0.1:$SERVICE check inter 200 fall 1 rise 1 agent-check agent-port $APORT agent-inter 300ms
backend h
    option httpchk
    http-check expect status 200
    server s 127.0.0.1:$SERVICE check port $HPORT inter 200 fall 1 rise 1"
	wait_until 10 agent_said || failed "$T/haproxy.log"
	wait_until 10 in_state "$UP" || failed "$T/haproxy.log"
	wait_until 10 in_state '2 0 UP' h || failed "$T/haproxy.log"
	T0=$(date +%s%N)
	kill_listener "$WATCHED_PID"
	await "$DOWN" "side by side: port closed -> agent DOWN"
	wait_until 10 in_state '0 0 DOWN' h || failed "$T/haproxy.log"
	T0=$(date +%s%N)
	start_listener 127.0.0.1 "$WATCHED"
	await "$UP" "side by side: port back -> agent UP"
	wait_until 10 in_state '2 0 UP' h || failed "$T/haproxy.log"
	: >"$T/maint"
	T0=$(date +%s%N)
	await "$DRAIN" "side by side: maintenance -> agent DRAIN"
	# The HTTP check can only take the server out: 503, DOWN.
	wait_until 10 in_state '0 0 DOWN' h || failed "$T/haproxy.log"
	grep -q 'Server h/s is DOWN.*code: 503' "$T/haproxy.log" || failed "$T/haproxy.log"
	T0=$(date +%s%N)
	rm "$T/maint"
	await "$UP" "side by side: maintenance over -> agent UP"
	wait_until 10 in_state '2 0 UP' h || failed "$T/haproxy.log"
}

@test "xinetd (shipped contrib/xinetd.health-checker-agent): up ready on a raw connection, and HAProxy through it: UP, DOWN, UP, DRAIN, UP" {
	need xinetd xinetd
	need haproxy haproxy
	services
	start_xinetd "--port $WATCHED --maintenance-file $T/maint" \
		"$REPO/contrib/xinetd.health-checker-agent"
	# The shipped service speaks the agent protocol: --agent kept.
	grep -Eq '^[[:space:]]*server_args[[:space:]]*= --agent ' "$T/xinetd.conf" ||
		failed "$T/xinetd.conf"
	agent_line "$XPORT"
	assert_equal "$(cat "$T/line")" "up ready"
	agent_haproxy "$XPORT"
	sequence "xinetd" "$T/xinetd.log"
	kill -0 "$XINETD_PID"
}

@test "contrib/inetd.conf's agent line (its arguments, checks replaced) under systemd-socket-activate --inetd: up ready, then down #REASON" {
	local argv
	need systemd-socket-activate systemd
	services
	# The arguments after argv[0], up to the first check.
	argv=$(awk '$1 == "health-checker-agent" {
		for (i = 8; i <= NF && $i != "--port" && $i != "--script"; i++)
			printf "%s ", $i
	}' "$REPO/contrib/inetd.conf")
	[[ $argv == *--agent* ]] || {
		echo "contrib/inetd.conf's agent line: '$argv'" >&2
		false
	}
	mkdir -m 700 "$T/rt"
	export RUNTIME_DIRECTORY=$T/rt
	# shellcheck disable=SC2086
	socket_activate -a --inetd -E RUNTIME_DIRECTORY -- "$HC" $argv --port "$WATCHED"
	agent_line "$APORT"
	assert_equal "$(cat "$T/line")" "up ready"
	kill_listener "$WATCHED_PID"
	agent_line "$APORT" 'hello\n'
	[[ $(cat "$T/line") == "down #"*"127.0.0.1:$WATCHED"* ]] || failed "$T/line" "$T/sa.log"
}

@test "HAProxy: an agent that cannot be reached changes nothing (the server stays UP, its own TCP check decides)" {
	need haproxy haproxy
	services
	start_agent --port "$WATCHED"
	agent_haproxy "$APORT"
	wait_until 10 in_state "$UP" || failed "$T/haproxy.log"
	kill "$HC_PID"
	wait_until 5 gone "$HC_PID"
	# HAProxy has tried the agent and failed, and took nothing from it.
	wait_until 10 eval '[ "$(agent_status)" = L4CON ]' || {
		echo "agent status: $(agent_status)" >&2
		failed "$T/haproxy.log"
	}
	assert_equal "$(agent_state)" "$UP"
}
