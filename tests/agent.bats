#!/usr/bin/env bats
# HAProxy's agent-check (issue 22): --agent-listener on the standalone
# server and --agent on the one-shots answer one line of agent words and
# close: "up ready", "down #REASON", "drain", or a word that leaves
# HAProxy's state alone when we could not run a check.  The raw line for
# each, with and without an agent-send string; several listeners beside the
# HTTP one; dual-stack; socket activation; usage errors; hostile and idle
# clients on the agent port.

setup() {
	load helpers
	common_setup
	LOAD=$BATS_TEST_DIRNAME/faults/load
}

teardown() {
	common_teardown
}

# agent_get PORT [SEND [HOST]]: connects, sends SEND (printf format, may be
# empty), reads to the end (10 s at most); the bytes in $T/line (or $OUT),
# and in $ms the milliseconds from the connect to the end (python's start
# left out).
agent_get() {
	local out=${OUT:-$T/line}
	python3 - "$1" "${2-}" "${3:-127.0.0.1}" "$out.ms" >"$out" <<'EOF'
import socket, sys, time
port, send, host = int(sys.argv[1]), sys.argv[2], sys.argv[3]
t0 = time.monotonic()
s = socket.create_connection((host, port), timeout=10)
if send:
    s.sendall(send.encode().decode("unicode_escape").encode("latin-1"))
got = b""
while True:
    d = s.recv(4096)
    if not d:
        break
    got += d
sys.stdout.buffer.write(got)
open(sys.argv[4], "w").write("%d\n" % ((time.monotonic() - t0) * 1000))
EOF
	ms=$(cat "$out.ms")
}

# assert_line TEXT: $T/line holds exactly TEXT and a newline.
assert_line() {
	printf '%s\n' "$1" >"$T/want"
	if ! cmp -s "$T/line" "$T/want"; then
		printf 'expected: %q\nactual:   %q\n' "$1" "$(cat "$T/line")" >&2
		return 1
	fi
}

# agent_serve ARGS...: a server with its HTTP listener on PORT and an agent
# listener on APORT (127.0.0.1), both up; log in $T/hc.log.
agent_serve() {
	agent_serve_nofile "" "$@"
}

# agent_serve_nofile N ARGS...: agent_serve under ulimit -n N (none when
# N is empty).
agent_serve_nofile() {
	local n=$1
	shift
	PORT=$(free_port)
	APORT=$(free_port)
	bg bash -c '[ -z "$0" ] || ulimit -n "$0" || exit; exec "$@"' "$n" \
		"$HC" --listener "127.0.0.1:$PORT" --agent-listener \
		"127.0.0.1:$APORT" "$@" 2>>"$T/hc.log"
	HC_PID=$BG_PID
	wait_until 5 grep -q "listening on 127.0.0.1:$APORT (agent)\$" \
		"$T/hc.log"
}

# --- the words ------------------------------------------------------------

@test "healthy: 'up ready', with and without an agent-send line" {
	start_listener
	agent_serve --port "$LPORT"
	agent_get "$APORT"
	assert_line "up ready"
	agent_get "$APORT" 'hello\n'
	assert_line "up ready"
	# HAProxy's agent-send may come without a newline too.
	agent_get "$APORT" 'web1'
	assert_line "up ready"
}

@test "unhealthy: 'down #REASON' names the failing checks, never a script's arguments" {
	start_listener
	mkscript fail 'echo "password=hunter2 on stdout"; exit 3'
	agent_serve --port "$LPORT" --port "$(free_port)" \
		--script "$T/fail --password=hunter2 db"
	agent_get "$APORT"
	cat "$T/line"
	grep -q '^down #tcp 127.0.0.1:[0-9]* refused; script '"$T"'/fail exit 3$' "$T/line"
	not grep -q hunter2 "$T/line"
	not grep -q password "$T/line"
	[ "$(wc -l <"$T/line")" -eq 1 ]
}

@test "unhealthy with many failing checks: one line under 200 bytes, printable, cut with ..." {
	local args=() i
	for ((i = 0; i < 20; i++)); do
		args+=(--unix "$T/no-such-socket-$i")
	done
	agent_serve "${args[@]}"
	agent_get "$APORT"
	cat "$T/line"
	[ "$(wc -c <"$T/line")" -lt 200 ]
	[ "$(wc -l <"$T/line")" -eq 1 ]
	grep -q '^down #unix '"$T"'/no-such-socket-0 .*\.\.\.$' "$T/line"
	not grep -q "$(printf '[\001-\011\013-\037\177\r]')" "$T/line"
}

@test "a target with control bytes and non-ASCII: '?' in the line, which stays one line" {
	agent_serve --unix "$T/bad$(printf '\001\033')é"
	agent_get "$APORT"
	cat -v "$T/line"
	# \001, \033 and the two bytes of the e with an acute accent.
	grep -q "^down #unix $T/bad???? " "$T/line"
	[ "$(wc -l <"$T/line")" -eq 1 ]
}

@test "maintenance: 'drain', no check run; 'up ready' again when the file goes" {
	start_listener
	mkscript count "echo run >>$T/runs"
	agent_serve --port "$LPORT" --script "$T/count" \
		--maintenance-file "$T/maint"
	touch "$T/maint"
	agent_get "$APORT"
	assert_line "drain"
	agent_get "$APORT" 'hello\n'
	assert_line "drain"
	[ ! -e "$T/runs" ]
	rm "$T/maint"
	agent_get "$APORT"
	assert_line "up ready"
	[ "$(wc -l <"$T/runs")" -eq 1 ]
}

@test "a check we could not run (no processes): 'short-of-processes', a word that changes no state, said at error" {
	# LeakSanitizer's thread at exit is refused by the same limit.
	[ -z "${ASAN_OPTIONS-}" ] || export ASAN_OPTIONS=$ASAN_OPTIONS:detect_leaks=0
	(as_user 64996 prlimit --nproc=1 "$HC" --inetd --agent --script true) \
		</dev/null >"$T/line" 2>"$T/err" || true
	cat "$T/err"
	assert_line "short-of-processes"
	grep -q "a check could not be run: cannot execute: short of processes" "$T/err"
}

@test "the server short of descriptors for one run: 'short-of-descriptors' on the agent port, 503 on HTTP" {
	local args=() i
	start_listener
	for ((i = 0; i < 40; i++)); do
		args+=(--port "$LPORT")
	done
	agent_serve_nofile 60 "${args[@]}"
	agent_get "$APORT"
	cat "$T/hc.log"
	assert_line "short-of-descriptors"
	grep -q "error request .*: cannot run the checks" "$T/hc.log"
	assert_equal "$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 \
		"http://127.0.0.1:$PORT/")" 503
}

@test "a check we could not run (no descriptors): 'short-of-descriptors', never 'down' (inetd)" {
	local args=() i
	# Scripts hold their pipes for as long as they run (a loopback
	# connect is settled inside the call and holds nothing).
	for ((i = 0; i < 20; i++)); do
		args+=(--script "sleep 0.2")
	done
	printf '' | (ulimit -n 20 && exec "$HC" --inetd --agent "${args[@]}") \
		>"$T/line" 2>"$T/err"
	cat "$T/err"
	assert_line "short-of-descriptors"
	grep -q "a check could not be run" "$T/err"
}

@test "--cache-ttl: an instant answer still reaches a client whose agent-send comes after it (no reset)" {
	start_listener
	mkscript count "echo run >>$T/runs"
	agent_serve --port "$LPORT" --script "$T/count" --cache-ttl 60
	agent_get "$APORT"
	assert_line "up ready"
	python3 - "$APORT" >"$T/line" <<'EOF'
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
time.sleep(0.3)  # the cached line is out long before this
s.sendall(b"web1\n")
got = b""
while True:
    d = s.recv(4096)
    if not d:
        break
    got += d
sys.stdout.buffer.write(got)
# Had the server closed at once, web1 would have met a closed socket and a
# reset: a send now would fail.  It lingers for our close instead.
time.sleep(0.1)
try:
    s.sendall(b"more\n")
    time.sleep(0.05)
    s.sendall(b"more\n")
    print("no reset")
except OSError as e:
    print("reset:", e)
EOF
	printf 'up ready\nno reset\n' >"$T/want"
	diff "$T/want" "$T/line"
	assert_equal "$(wc -l <"$T/runs")" 1
}

# --- listeners and modes --------------------------------------------------

@test "two agent listeners beside the HTTP listener: all answer, one shared --singleflight run" {
	local a2 pids=()
	mkscript slow "echo run >>$T/runs; sleep 3"
	PORT=$(free_port)
	APORT=$(free_port)
	a2=$(free_port)
	start_hc --listener "127.0.0.1:$PORT" --agent-listener \
		"127.0.0.1:$APORT" --agent-listener "127.0.0.1:$a2" \
		--script "$T/slow" --singleflight --lock-file "$T/lock"
	wait_until 5 grep -q "listening on 127.0.0.1:$a2 (agent)\$" "$T/hc.log"
	grep -q "listening on 127.0.0.1:$PORT\$" "$T/hc.log"
	curl -s -o "$T/body" -w '%{http_code}' --max-time 10 \
		"http://127.0.0.1:$PORT/" >"$T/code" 3>&- &
	pids+=($!)
	wait_until 5 test -s "$T/runs"
	OUT=$T/line1 agent_get "$APORT" 3>&- &
	pids+=($!)
	OUT=$T/line2 agent_get "$a2" 'web2\n' 3>&- &
	pids+=($!)
	wait "${pids[@]}"
	assert_equal "$(cat "$T/code")" 200
	assert_equal "$(cat "$T/line1")" "up ready"
	assert_equal "$(cat "$T/line2")" "up ready"
	assert_equal "$(wc -l <"$T/runs")" 1
}

@test "dual-stack: --agent-listener [::]:P and :P answer on 127.0.0.1 and ::1" {
	local form
	[ -e /proc/net/if_inet6 ] || {
		echo "no IPv6 on this host" >&2
		false
	}
	start_listener
	for form in '[::]' ''; do
		APORT=$(free_port)
		PORT=$(free_port)
		start_hc --listener "127.0.0.1:$PORT" \
			--agent-listener "$form:$APORT" --port "$LPORT"
		wait_until 5 grep -q "listening on \[::\]:$APORT (agent)\$" \
			"$T/hc.log"
		agent_get "$APORT" '' 127.0.0.1
		assert_line "up ready"
		agent_get "$APORT" '' ::1
		assert_line "up ready"
		kill "$HC_PID"
		wait_until 5 gone "$HC_PID"
	done
}

@test "--agent-listener [::1]:P is that address alone" {
	start_listener
	PORT=$(free_port)
	APORT=$(free_port)
	start_hc --listener "127.0.0.1:$PORT" --agent-listener "[::1]:$APORT" \
		--port "$LPORT"
	wait_until 5 grep -q "listening on \[::1\]:$APORT (agent)\$" "$T/hc.log"
	agent_get "$APORT" '' ::1
	assert_line "up ready"
	not port_open 127.0.0.1 "$APORT"
}

@test "one-shot (--inetd --agent) on a pipe: the line, with or without agent-send, exit 0" {
	start_listener
	printf '' | "$HC" --inetd --agent --port "$LPORT" >"$T/line"
	assert_line "up ready"
	printf 'web1\n' | "$HC" --inetd --agent --port "$LPORT" >"$T/line"
	assert_line "up ready"
	"$HC" --inetd --agent --port "$(free_port)" </dev/null >"$T/line"
	[[ $(cat "$T/line") == "down #tcp 127.0.0.1:"*" refused" ]]
}

@test "one-shot on stdin that is a socket (inetd form): the line, exit 0" {
	start_listener
	socket_activate -a --inetd -- "$HC" --agent --port "$LPORT"
	agent_get "$APORT"
	assert_line "up ready"
	wait_until 5 grep -q '^Child [0-9]* died with code 0$' "$T/sa.log"
}

@test "systemd-socket-activate --accept: --agent answers the line on fd 3; so does a socket named agent" {
	command -v systemd-socket-activate >/dev/null
	start_listener
	socket_activate -a -- "$HC" --agent --port "$LPORT"
	agent_get "$APORT" 'hello\n'
	assert_line "up ready"
	wait_until 5 grep -q '^Child [0-9]* died with code 0$' "$T/sa.log"
	kill "$BG_PID"
	wait_until 5 gone "$BG_PID"
	socket_activate -a --fdname=agent -- "$HC" --port "$(free_port)"
	agent_get "$APORT"
	[[ $(cat "$T/line") == "down #tcp 127.0.0.1:"*" refused" ]]
}

@test "Accept=no: passed sockets named agent are agent listeners, the others HTTP" {
	local hport
	command -v systemd-socket-activate >/dev/null
	start_listener
	APORT=$(free_port)
	hport=$(free_port)
	bg systemd-socket-activate -l "127.0.0.1:$hport" -l "127.0.0.1:$APORT" \
		--fdname=http:agent -- "$HC" --port "$LPORT" 2>"$T/sa.log"
	wait_until 5 grep -q '^Listening on 127.0.0.1:'"$APORT" "$T/sa.log"
	agent_get "$APORT"
	assert_line "up ready"
	assert_equal "$(curl -s --max-time 5 "http://127.0.0.1:$hport/")" OK
}

@test "usage errors: one line naming the option, exit 2, nothing started" {
	local a
	a=$(free_port)
	run "$HC" --agent --listener "127.0.0.1:$a" --port 1
	[ "$status" -eq 2 ]
	[[ $output == *'--agent'*'--listener "127.0.0.1:'"$a"'"'* ]]
	run "$HC" --agent --once --port 1
	[ "$status" -eq 2 ]
	[[ $output == *'--agent'*'--once'* ]]
	run "$HC" --agent-listener "127.0.0.1:$a" --once --port 1
	[ "$status" -eq 2 ]
	[[ $output == *'--agent-listener "127.0.0.1:'"$a"'"'*'--once'* ]]
	run "$HC" --agent-listener "127.0.0.1:$a" --inetd --port 1
	[ "$status" -eq 2 ]
	run "$HC" --agent-listener "127.0.0.1:$a" --agent --port 1
	[ "$status" -eq 2 ]
	run "$HC" --agent-listener "[::1" --port 1
	[ "$status" -eq 2 ]
	[[ $output == *'--agent-listener'*'[::1'* ]]
	# The standalone server would run: --agent is no use there.
	run "$HC" --agent --port 1 </dev/null
	[ "$status" -eq 2 ]
	[[ $output == *'--agent'* ]]
	[ "$(printf '%s\n' "$output" | wc -l)" -eq 1 ]
	not port_open 127.0.0.1 "$a"
	not port_open 127.0.0.1 5000
}

# --- hostile clients ------------------------------------------------------

@test "a client that sends 4 MiB: the server goes on answering, no descriptor left" {
	local fds
	start_listener
	agent_serve --port "$LPORT"
	fds=$(ls "/proc/$HC_PID/fd" | wc -l)
	python3 - "$APORT" <<'EOF' &
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
try:
    s.sendall(b"x" * (4 << 20))
    s.recv(100)
except OSError:
    pass
EOF
	wait $!
	agent_get "$APORT"
	assert_line "up ready"
	wait_until 5 test "$(ls "/proc/$HC_PID/fd" | wc -l)" -le "$fds"
}

@test "a client that never reads and never closes is closed within the linger bound" {
	start_listener
	agent_serve --port "$LPORT" --log-level debug
	python3 - "$APORT" >"$T/out" <<'EOF'
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"partial line, never ended")
t0 = time.monotonic()
# Not read for 3 s: by then the server has closed its side.
time.sleep(3)
s.settimeout(1)
got = b""
try:
    while True:
        d = s.recv(4096)
        if not d:
            break
        got += d
    print("eof", repr(got))
except socket.timeout:
    print("still open", repr(got))
except OSError as e:
    print("reset", repr(got))
EOF
	cat "$T/out"
	grep -q "^eof b'up ready\\\\n'$" "$T/out"
	agent_get "$APORT"
	assert_line "up ready"
}

@test "a client that resets while its script runs: the run is cancelled, the script killed" {
	mkscript slow "sleep 2; touch $T/finished"
	agent_serve --script "$T/slow" --log-level debug
	python3 - "$APORT" <<'EOF'
import socket, struct, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
time.sleep(0.3)
s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
s.close()
EOF
	wait_until 5 grep -q "the client has gone" "$T/hc.log"
	sleep 2.5 # past the script's own end: it must not have got there
	[ ! -e "$T/finished" ]
	# (the checker's own command line names the script too)
	not pgrep -f "^/bin/sh $T/slow"
}

# --- idle attack ----------------------------------------------------------

# The agent protocol has no request: a connection that says nothing is a
# probe all the same, and gets its run and its line at once.  A thousand
# idle connections reopened as soon as they are answered are a flood of
# probes on the agent port; what must hold is that probes on either port
# still get in: HTTP ones within 1 s, agent ones (behind the flood in the
# same accept queue) within 1 s as well.
AGENT_BOUND_MS=1000

# flood_probes N: N HTTP probes on PORT and N agent probes (with an
# agent-send line) on APORT, one pair every 0.3 s; counts in OK_HTTP and
# OK_AGENT, the slowest agent probe in MAX_MS.
flood_probes() {
	local i c
	OK_HTTP=0 OK_AGENT=0 MAX_MS=0
	for ((i = 0; i < $1; i++)); do
		c=$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 \
			"http://127.0.0.1:$PORT/probe-$i" || true)
		if [ "$c" = 200 ]; then
			OK_HTTP=$((OK_HTTP + 1))
		else
			echo "http probe $i: $c" >&2
		fi
		agent_get "$APORT" 'probe\n'
		[ "$ms" -gt "$MAX_MS" ] && MAX_MS=$ms
		if [ "$(cat "$T/line")" = "up ready" ] &&
			[ "$ms" -lt "$AGENT_BOUND_MS" ]; then
			OK_AGENT=$((OK_AGENT + 1))
		else
			echo "agent probe $i: $(cat "$T/line") ${ms}ms" >&2
		fi
		sleep 0.3
	done
}

@test "1000 idle and 200 trickling connections on the agent port, reopened as answered: HTTP and agent probes get in" {
	ulimit -n 4096
	start_listener
	agent_serve --port "$LPORT"
	bg "$LOAD" hold 127.0.0.1 "$APORT" --idle 1000 --trickle 200 \
		--seconds 8 >"$T/attack"
	wait_until 20 grep -q ready "$T/attack"
	flood_probes 12
	wait "$BG_PID"
	echo "# $BATS_TEST_DESCRIPTION: http $OK_HTTP/12, agent $OK_AGENT/12 (slowest ${MAX_MS}ms); attacker: $(tail -n 1 "$T/attack")" >&3
	[ "$OK_HTTP" -eq 12 ]
	[ "$OK_AGENT" -eq 12 ]
	grep -q 'closed=[1-9]' "$T/attack"
}

@test "the same flood against a table of 800 (ulimit -n 1024): probes still get in" {
	ulimit -n 4096
	start_listener
	agent_serve_nofile 1024 --port "$LPORT" --log-level debug
	bg "$LOAD" hold 127.0.0.1 "$APORT" --idle 1000 --trickle 200 \
		--seconds 8 >"$T/attack"
	wait_until 20 grep -q ready "$T/attack"
	flood_probes 12
	wait "$BG_PID"
	echo "# $BATS_TEST_DESCRIPTION: http $OK_HTTP/12, agent $OK_AGENT/12 (slowest ${MAX_MS}ms); evictions: $(grep -c 'makes room' "$T/hc.log")" >&3
	[ "$OK_HTTP" -eq 12 ]
	[ "$OK_AGENT" -eq 12 ]
}

# small_table_serve: agent_serve's server (checking LPORT, a listener
# started here) under ulimit -n 64: a table of about 15 connections, fewer
# than the 40 the tests below hold.
small_table_serve() {
	start_listener
	agent_serve_nofile 64 --port "$LPORT" --log-level debug
	[ "$(sed -n 's/.*debug up to \([0-9]*\) connections.*/\1/p' "$T/hc.log")" -lt 40 ]
}

@test "a table of about 15 (ulimit -n 64) held by 40 agent connections that never read nor close: they make room, probes answered within 1 s" {
	small_table_serve
	python3 - "$APORT" "$T/held" <<'EOF' 3>&- &
import socket, sys, time
held = []
for i in range(40):
    s = socket.socket()
    s.setblocking(False)
    s.connect_ex(("127.0.0.1", int(sys.argv[1])))
    held.append(s)
open(sys.argv[2], "w").write("held\n")
time.sleep(5)
EOF
	PIDS+=($!)
	wait_until 5 test -s "$T/held"
	wait_until 5 grep -q 'makes room' "$T/hc.log"
	assert_equal "$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 \
		"http://127.0.0.1:$PORT/")" 200
	agent_get "$APORT" 'probe\n'
	assert_line "up ready"
	[ "$ms" -lt 1000 ]
	echo "# $BATS_TEST_DESCRIPTION: agent probe ${ms}ms; evictions: $(grep -c 'makes room' "$T/hc.log")" >&3
}

@test "a table of about 15 held by 40 agent connections that speak only after their line: still evicted, probes answered within 700 ms" {
	small_table_serve
	# Each reads its line, then sends a line of its own (which, had it
	# come first, would have made it a prober that spoke) and holds the
	# connection through the linger; reconnects once that is over.
	python3 - "$APORT" "$T/held" <<'EOF' 3>&- &
import selectors, socket, sys, time
sel, hold = selectors.DefaultSelector(), []
def new():
    s = socket.socket()
    s.setblocking(False)
    s.connect_ex(("127.0.0.1", int(sys.argv[1])))
    sel.register(s, selectors.EVENT_READ)
for i in range(40):
    new()
open(sys.argv[2], "w").write("held\n")
end = time.monotonic() + 8
while time.monotonic() < end:
    while hold and hold[0][0] < time.monotonic():
        hold.pop(0)[1].close()
        new()
    for key, _ in sel.select(0.02):
        try:
            d = key.fileobj.recv(100)
            if d:
                key.fileobj.send(b"\n")
        except OSError:
            d = b""
        if not d:
            sel.unregister(key.fileobj)
            hold.append((time.monotonic() + 1.2, key.fileobj))
EOF
	PIDS+=($!)
	wait_until 5 test -s "$T/held"
	# Their first lines answered: the table is full of lingering ones.
	answered_40() { [ "$(grep -c 'agent up' "$T/hc.log")" -ge 40 ]; }
	wait_until 5 answered_40
	worst=0
	for i in 1 2 3 4 5; do
		agent_get "$APORT" 'probe\n'
		assert_line "up ready"
		[ "$ms" -le "$worst" ] || worst=$ms
	done
	echo "# $BATS_TEST_DESCRIPTION: slowest probe ${worst}ms; evictions: $(grep -c 'makes room' "$T/hc.log")" >&3
	[ "$worst" -lt 700 ]
}
