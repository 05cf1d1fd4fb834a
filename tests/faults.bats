#!/usr/bin/env bats
# Never silent, never a false verdict: idle and trickling clients, a script
# stuck on a frozen file system, ephemeral ports, a log reader that stops
# reading, singleflight under faults, a resolver that never answers, too few
# descriptors, a one-shot killed with its scripts, SIGHUP, secrets in
# --details.  Figures go to the TAP output as "# ..." lines.

setup() {
	load helpers
	common_setup
	LOAD=$BATS_TEST_DIRNAME/faults/load
	FROZEN=
}

teardown() {
	# A frozen file system must thaw before anything else, or what is
	# stuck on it stays stuck.
	if [ -n "$FROZEN" ]; then
		in_ns fsfreeze -u "$FROZEN" 2>/dev/null
	fi
	common_teardown
}

# figure TEXT: a measurement, shown in the TAP output.
figure() {
	echo "# $BATS_TEST_DESCRIPTION: $*" >&3
}

# code [URL-PATH]: the status curl gets within 1 s (000: none).
code() {
	curl -s -o /dev/null -w '%{http_code}' --max-time 1 \
		"http://127.0.0.1:$PORT${1:-/}" || true
}

# probes N: N probes, one every 0.3 s, 1 s timeout each; counts in
# PROBES_OK (200) and PROBES_BAD, the bad codes in $T/bad.
probes() {
	local i c
	PROBES_OK=0 PROBES_BAD=0
	: >"$T/bad"
	for ((i = 0; i < $1; i++)); do
		c=$(code "/probe-$i")
		if [ "$c" = 200 ]; then
			PROBES_OK=$((PROBES_OK + 1))
		else
			PROBES_BAD=$((PROBES_BAD + 1))
			echo "probe $i: $c" >>"$T/bad"
		fi
		sleep 0.3
	done
}

# attack ARGS...: faults/load hold against the server, ready; PID in ATTACK.
attack() {
	bg "$LOAD" hold 127.0.0.1 "$PORT" "$@" >"$T/attack"
	ATTACK=$BG_PID
	wait_until 20 grep -q ready "$T/attack"
}

# --- 1. idle and trickling clients ----------------------------------------

idle_flood() {
	start_listener
	serve --port "$LPORT" "$@"
	attack --idle 1000 --trickle 200 --seconds 9
	probes 20
	wait "$ATTACK"
	figure "probes answered 200: $PROBES_OK of 20; attacker: $(tail -n 1 "$T/attack")"
	cat "$T/bad"
	[ "$PROBES_OK" -eq 20 ]
	# The attack went on for the whole time: connections were closed at
	# their deadline and opened again.
	grep -q 'closed=[1-9]' "$T/attack"
}

@test "1000 idle and 200 trickling connections, reopened as closed: every probe gets 200" {
	ulimit -n 4096
	idle_flood
}

@test "the same flood with --singleflight: every probe gets 200" {
	ulimit -n 4096
	idle_flood --singleflight
}

@test "the same flood against a table of 800 (ulimit -n 1024): the oldest headless connection makes room" {
	ulimit -n 4096
	start_listener
	PORT=$(free_port)
	bg bash -c 'ulimit -n 1024 && exec "$0" "$@"' "$HC" --listener \
		"127.0.0.1:$PORT" --port "$LPORT" --log-level debug \
		2>>"$T/hc.log"
	HC_PID=$BG_PID
	wait_until 5 grep -q "listening on 127.0.0.1:$PORT\$" "$T/hc.log"
	attack --idle 1000 --trickle 200 --seconds 9
	probes 20
	wait "$ATTACK"
	figure "probes answered 200: $PROBES_OK of 20; evictions: $(grep -c 'makes room' "$T/hc.log")"
	cat "$T/bad"
	[ "$PROBES_OK" -eq 20 ]
	grep -q 'the oldest without a request makes room' "$T/hc.log"
}

# Keep-alive attackers (issue 21): each connection makes one request first,
# then idles or trickles on the connection kept alive.  Waiting for a next
# request is waiting for a head: no check slot, first to make room.
@test "1000 idle and 200 trickling keep-alive connections, one request each first: every probe gets 200" {
	ulimit -n 4096
	start_listener
	serve --port "$LPORT"
	attack --idle 1000 --trickle 200 --seconds 9 --keep-alive
	probes 20
	wait "$ATTACK"
	figure "probes answered 200: $PROBES_OK of 20; attacker: $(tail -n 1 "$T/attack")"
	cat "$T/bad"
	[ "$PROBES_OK" -eq 20 ]
	# The trickling ones got their 408 and came back.
	grep -q 'closed=[1-9]' "$T/attack"
}

@test "the keep-alive flood against a table of 800 (ulimit -n 1024): idle kept-alive connections make room" {
	ulimit -n 4096
	start_listener
	PORT=$(free_port)
	bg bash -c 'ulimit -n 1024 && exec "$0" "$@"' "$HC" --listener \
		"127.0.0.1:$PORT" --port "$LPORT" --log-level debug \
		2>>"$T/hc.log"
	HC_PID=$BG_PID
	wait_until 5 grep -q "listening on 127.0.0.1:$PORT\$" "$T/hc.log"
	attack --idle 1000 --trickle 200 --seconds 9 --keep-alive
	probes 20
	wait "$ATTACK"
	figure "probes answered 200: $PROBES_OK of 20; evictions: $(grep -c 'makes room' "$T/hc.log")"
	cat "$T/bad"
	[ "$PROBES_OK" -eq 20 ]
	grep -q 'the oldest without a request makes room' "$T/hc.log"
}

# --- 2. a script in uninterruptible sleep ---------------------------------

# frozen_fs: an ext4 file system on a loop device, mounted at $T/mnt in a
# private mount namespace (gone with it), frozen; FROZEN names it.
frozen_fs() {
	[ "$(id -u)" -eq 0 ] || skip "needs root for a loop mount and fsfreeze"
	truncate -s 16M "$T/fs.img"
	mkfs.ext4 -q -F "$T/fs.img"
	mkdir "$T/mnt"
	ns_start
	in_ns mount -o loop "$T/fs.img" "$T/mnt"
	in_ns fsfreeze -f "$T/mnt"
	FROZEN=$T/mnt
}

@test "a script stuck on a frozen file system: 504 at its deadline, others served, SIGTERM handled" {
	local start ms i pids
	frozen_fs
	mkscript writer "echo \$\$ >>$T/writers; echo x >>$T/mnt/file"
	PORT=$(free_port)
	bg_ns "$HC" --listener "127.0.0.1:$PORT" --script "$T/writer" \
		--script-timeout 1 2>>"$T/hc.log"
	HC_PID=$BG_PID
	wait_until 5 grep -q "listening on 127.0.0.1:$PORT\$" "$T/hc.log"
	for i in 1 2 3; do
		start=$(date +%s%N)
		assert_equal "$(curl -s -o /dev/null -w '%{http_code}' \
			--max-time 5 "http://127.0.0.1:$PORT/")" 504
		ms=$(ms_since "$start")
		figure "request $i answered 504 in $ms ms"
		[ "$ms" -lt 2500 ]
	done
	# The writers are still there, stuck: the server did not wait.
	pids=$(cat "$T/writers")
	for i in $pids; do
		grep -q '^State:.*D' "/proc/$i/status"
	done
	start=$(date +%s%N)
	kill -TERM "$HC_PID"
	wait_until 2.5 gone "$HC_PID"
	figure "SIGTERM with 3 stuck scripts: stopped in $(ms_since "$start") ms"
	in_ns fsfreeze -u "$T/mnt"
	FROZEN=
	for i in $pids; do
		wait_until 5 gone "$i"
	done
}

@test "a one-shot whose script is stuck on a frozen file system answers 504 at its deadline and exits" {
	local start ms
	frozen_fs
	mkscript writer "echo x >>$T/mnt/file"
	start=$(date +%s%N)
	printf 'GET / HTTP/1.0\r\n\r\n' |
		timeout 10 nsenter -t "$NS" -m -n -- "$HC" --inetd \
			--script "$T/writer" --script-timeout 1 \
			>"$T/answer" 2>"$T/err" || true
	ms=$(ms_since "$start")
	figure "answered and exited in $ms ms"
	assert_equal "$(status_line "$T/answer")" "HTTP/1.0 504 Gateway Timeout"
	[ "$ms" -lt 2500 ]
}

# --- 3. no TIME_WAIT from checks ------------------------------------------

@test "20,000 requests with a 1000-port ephemeral range: all 200, no TIME_WAIT toward the backend" {
	local out tw
	[ "$(id -u)" -eq 0 ] || skip "needs root for a network namespace"
	ns_start -n
	# Not 127/8: the kernel reuses TIME_WAIT ports for loopback
	# addresses only (net.ipv4.tcp_tw_reuse 2).
	in_ns ip addr add 10.200.0.1/32 dev lo
	in_ns sysctl -qw net.ipv4.ip_local_port_range="40000 40999"
	out=$T/backend
	bg_ns "$LISTEN" 10.200.0.1 >"$out"
	wait_until 5 test -s "$out"
	bg_ns "$HC" --listener 127.0.0.1:5000 --port "10.200.0.1:$(cat "$out")" \
		2>>"$T/hc.log"
	HC_PID=$BG_PID
	wait_until 5 grep -q "listening on 127.0.0.1:5000\$" "$T/hc.log"
	out=$(in_ns "$LOAD" requests 127.0.0.1 5000 20000 --parallel 4)
	tw=$(in_ns ss -Htan state time-wait dst 10.200.0.1 | wc -l)
	figure "$out; TIME_WAIT toward the backend: $tw"
	[[ $out == *" ok=20000 "* ]]
	assert_equal "$tw" 0
}

# --- 4. a log reader that stops reading -----------------------------------

@test "stderr on a pipe nobody reads: 1000 requests all answered; the drop count said once it drains" {
	local out
	mkfifo "$T/log"
	# Held open for reading, and never read until the end.
	exec 7<>"$T/log"
	PORT=$(free_port)
	bg "$HC" --listener "127.0.0.1:$PORT" --script true --log-level debug \
		2>"$T/log"
	HC_PID=$BG_PID
	wait_until 5 port_open 127.0.0.1 "$PORT"
	out=$("$LOAD" requests 127.0.0.1 "$PORT" 1000 --parallel 4 --timeout 2.5)
	figure "$out"
	[[ $out == *" ok=1000 "* ]]
	# Reads what comes, until the count of dropped lines comes.
	timeout 5 python3 -c '
import os, sys, time
fd = os.open(sys.argv[1], os.O_RDONLY | os.O_NONBLOCK)
got, end = b"", time.monotonic() + 4
while time.monotonic() < end and b"dropped" not in got:
    try:
        got += os.read(fd, 65536)
    except BlockingIOError:
        time.sleep(0.02)
sys.stdout.write(got.decode("utf-8", "replace"))
' "$T/log" >"$T/drained"
	exec 7<&-
	grep 'log lines dropped' "$T/drained" >&3 || {
		tail -n 5 "$T/drained"
		return 1
	}
}

@test "syslog that never reads (inetd, stderr the client's socket): every request answered" {
	local out
	[ "$(id -u)" -eq 0 ] || skip "needs root for a mount namespace"
	command -v systemd-socket-activate >/dev/null ||
		skip "systemd-socket-activate is not installed"
	ns_start
	# A /dev of our own: /dev/null, and a /dev/log that never reads.
	touch "$T/null"
	in_ns mount --bind /dev/null "$T/null"
	in_ns mount -t tmpfs tmpfs /dev
	in_ns touch /dev/null
	in_ns mount --bind "$T/null" /dev/null
	bg_ns python3 -c '
import socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind("/dev/log")
print("bound", flush=True)
time.sleep(600)
' >"$T/syslogd"
	wait_until 5 grep -q bound "$T/syslogd"
	APORT=$(free_port)
	bg_ns systemd-socket-activate -l "127.0.0.1:$APORT" --inetd -a \
		sh -c 'exec "$0" --inetd --script true --log-level debug 2>&1' \
		"$HC" 2>"$T/sa.log"
	wait_until 5 port_open 127.0.0.1 "$APORT"
	out=$("$LOAD" requests 127.0.0.1 "$APORT" 40 --timeout 2.5)
	figure "$out"
	[[ $out == *" ok=40 "* ]]
}

# --- 5. singleflight under faults -----------------------------------------

# twenty ARGS...: 20 requests at once to one-shots (systemd-socket-activate
# --inetd -a) running a 0.5 s script with --singleflight ARGS; counts runs.
# One after another would take 10 s; the median bound is generous for a
# loaded machine.
twenty() {
	local out runs
	command -v systemd-socket-activate >/dev/null ||
		skip "systemd-socket-activate is not installed"
	mkscript half "echo run >>$T/runs; sleep 0.5"
	socket_activate --inetd -a "${PREFIX_CMD[@]}" "$HC" --script "$T/half" \
		--singleflight "$@"
	out=$("$LOAD" requests 127.0.0.1 "$APORT" 20 --parallel 20 --timeout 10)
	runs=$(wc -l <"$T/runs")
	figure "$out runs=$runs"
	[[ $out == *" ok=20 "* ]]
	p50=${out#* p50_ms=}
	p50=${p50%% *}
	[ "$p50" -lt 2500 ]
}

@test "singleflight with a directory where the result goes: 20 one-shots run side by side (median under 2.5 s, not 10 s in a row)" {
	PREFIX_CMD=()
	mkdir -p "$T/state.result"
	twenty --lock-file "$T/state"
}

@test "singleflight on a full file system: 20 one-shots run side by side (median under 2.5 s, not 10 s in a row)" {
	[ "$(id -u)" -eq 0 ] || skip "needs root for a mount namespace"
	ns_start
	mkdir "$T/full"
	in_ns mount -t tmpfs -o size=64k tmpfs "$T/full"
	in_ns touch "$T/full/state"
	in_ns dd if=/dev/zero of="$T/full/fill" bs=4k 2>/dev/null || true
	PREFIX_CMD=(nsenter -t "$NS" -m --)
	twenty --lock-file "$T/full/state"
}

@test "singleflight: a leader stopped with SIGSTOP costs one request the overdue wait, not every one" {
	local i start ms slow=0 leader
	command -v systemd-socket-activate >/dev/null ||
		skip "systemd-socket-activate is not installed"
	mkscript half "echo \$PPID >>$T/leaders; sleep 0.5"
	socket_activate --inetd -a "$HC" --script "$T/half" --singleflight \
		--lock-file "$T/state" --script-timeout 1
	bg curl -s -o /dev/null --max-time 30 "http://127.0.0.1:$APORT/leader"
	wait_until 5 test -s "$T/leaders"
	leader=$(head -n 1 "$T/leaders")
	kill -STOP "$leader"
	for i in 1 2 3 4 5 6; do
		start=$(date +%s%N)
		assert_equal "$(curl -s -o /dev/null -w '%{http_code}' \
			--max-time 5 "http://127.0.0.1:$APORT/$i")" 200
		ms=$(ms_since "$start")
		echo "request $i: $ms ms"
		[ "$ms" -lt 1000 ] || slow=$((slow + 1))
	done
	kill -CONT "$leader"
	figure "requests slower than 1 s: $slow of 6"
	[ "$slow" -le 1 ]
}

# --- 6. names resolved per run, within the deadline -----------------------

# dead_resolver: a network and mount namespace whose resolver (127.0.0.1:53)
# reads queries and never answers; db.internal is in no hosts file.
dead_resolver() {
	[ "$(id -u)" -eq 0 ] || skip "needs root for namespaces"
	ns_start -n
	ns_file /etc/resolv.conf "nameserver 127.0.0.1"
	ns_file /etc/hosts "127.0.0.1 localhost"
	bg_ns python3 -c '
import socket, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 53))
print("bound", flush=True)
while True:
    s.recvfrom(4096)
' >"$T/dns"
	wait_until 5 grep -q bound "$T/dns"
}

@test "a resolver that never answers: 504 with the reason at the check's deadline, exit 0 (inetd)" {
	local start ms
	dead_resolver
	start=$(date +%s%N)
	status=0
	printf 'GET / HTTP/1.0\r\n\r\n' |
		timeout 30 nsenter -t "$NS" -m -n -- "$HC" --inetd \
			--port db.internal:5432 --port-timeout 1 --log-level debug \
			>"$T/answer" 2>"$T/err" || status=$?
	ms=$(ms_since "$start")
	figure "exit $status, answered in $ms ms"
	assert_equal "$status" 0
	assert_equal "$(status_line "$T/answer")" "HTTP/1.0 504 Gateway Timeout"
	grep -q 'check tcp db.internal:5432 fail [0-9]*ms resolve db.internal: timed out' "$T/err"
	[ "$ms" -lt 2500 ]
}

@test "a resolver that never answers: the server answers every request at its deadline, side by side" {
	local out
	dead_resolver
	bg_ns "$HC" --listener 127.0.0.1:5000 --http http://db.internal/ \
		--http-timeout 1 --details 2>>"$T/hc.log"
	HC_PID=$BG_PID
	wait_until 5 grep -q "listening on 127.0.0.1:5000\$" "$T/hc.log"
	out=$(in_ns "$LOAD" requests 127.0.0.1 5000 8 --parallel 4 --timeout 5)
	figure "$out"
	[[ $out == *" other=8 first_other=504 "* ]]
	[ "${out#* max_ms=}" -lt 2500 ]
	in_ns curl -s --max-time 5 http://127.0.0.1:5000/ >"$T/body"
	grep -q '^fail http http://db.internal:80/ [0-9]*ms resolve db.internal: timed out$' "$T/body"
}

@test "a name is looked up at every run: a moved address is followed" {
	local lport
	[ "$(id -u)" -eq 0 ] || skip "needs root for a mount namespace"
	ns_start
	start_listener 127.0.0.2
	lport=$LPORT
	ns_file /etc/hosts "127.0.0.2 db.test"
	PORT=$(free_port)
	bg_ns "$HC" --listener "127.0.0.1:$PORT" --port "db.test:$lport" \
		--log-level debug 2>>"$T/hc.log"
	HC_PID=$BG_PID
	wait_until 5 grep -q "listening on 127.0.0.1:$PORT\$" "$T/hc.log"
	assert_equal "$(code)" 200
	# A failover: the name now points where nothing listens...
	ns_file /etc/hosts "127.0.0.3 db.test"
	assert_equal "$(code)" 504
	grep -q "check tcp db.test:$lport fail [0-9]*ms refused" "$T/hc.log"
	# ...and back.
	ns_file /etc/hosts "127.0.0.2 db.test"
	assert_equal "$(code)" 200
}

# --- 7. descriptors --------------------------------------------------------

@test "ulimit -n 64, 10 port checks, 64 clients: 640 answers, not one false 504" {
	local out args=() i
	start_listener
	for ((i = 0; i < 10; i++)); do
		args+=(--port "$LPORT")
	done
	PORT=$(free_port)
	bg bash -c 'ulimit -n 64 && exec "$0" "$@"' "$HC" --listener \
		"127.0.0.1:$PORT" "${args[@]}" 2>>"$T/hc.log"
	HC_PID=$BG_PID
	wait_until 5 grep -q "listening on 127.0.0.1:$PORT\$" "$T/hc.log"
	out=$("$LOAD" requests 127.0.0.1 "$PORT" 640 --parallel 64 --timeout 10)
	figure "$out"
	[[ $out == *" ok=640 "* ]]
}

@test "a one-shot raises its soft descriptor limit: 40 port checks under ulimit -S -n 20 pass" {
	local args=() i
	start_listener
	for ((i = 0; i < 40; i++)); do
		args+=(--port "$LPORT")
	done
	printf 'GET / HTTP/1.0\r\n\r\n' | (ulimit -S -n 20 &&
		exec "$HC" --inetd "${args[@]}") >"$T/answer" 2>"$T/err"
	assert_equal "$(status_line "$T/answer")" "HTTP/1.0 200 OK"
}

@test "a one-shot that cannot get descriptors enough says so with 503, never 504" {
	local args=() i
	# Scripts that run a while, each holding its pipe: a loopback connect
	# settles inside connect() and gives its descriptor back before the
	# next starts, so 40 port checks now fit in 20 descriptors.
	for ((i = 0; i < 40; i++)); do
		args+=(--script "sleep 0.3")
	done
	printf 'GET / HTTP/1.0\r\n\r\n' | (ulimit -n 20 &&
		exec "$HC" --inetd "${args[@]}") >"$T/answer" 2>"$T/err"
	cat "$T/err"
	assert_equal "$(status_line "$T/answer")" \
		"HTTP/1.0 503 Service Unavailable"
	assert_equal "$(body "$T/answer")" \
		"health-checker is short of file descriptors"
}

@test "scripts get back the descriptor limit we were given, not our raised one" {
	mkscript limit "ulimit -n >$T/limit"
	(ulimit -S -n 200 && exec "$HC" --once --script "$T/limit") >/dev/null
	assert_equal "$(cat "$T/limit")" 200
}

# --- 8. killed one-shots take their scripts along -------------------------

@test "a one-shot killed with SIGKILL takes its script along (inetd)" {
	local oneshot start
	command -v systemd-socket-activate >/dev/null ||
		skip "systemd-socket-activate is not installed"
	mkscript sleeper "echo \$\$ >$T/sleeper.pid; exec sleep 300"
	socket_activate --inetd -a "$HC" --script "$T/sleeper" --script-timeout 1
	bg curl -s -o /dev/null --max-time 5 "http://127.0.0.1:$APORT/"
	wait_until 5 test -s "$T/sleeper.pid"
	oneshot=$(ps -o ppid= -p "$(cat "$T/sleeper.pid")" | tr -d ' ')
	kill -KILL "$oneshot"
	start=$(date +%s%N)
	wait_until 2 gone "$(cat "$T/sleeper.pid")"
	figure "script gone $(ms_since "$start") ms after the one-shot's SIGKILL"
}

# --- 9 and 10 --------------------------------------------------------------

@test "SIGHUP does not stop the standalone server" {
	serve --script true
	kill -HUP "$HC_PID"
	wait_until 5 grep -q 'SIGHUP' "$T/hc.log"
	assert_equal "$(code)" 200
	kill -0 "$HC_PID"
}

@test "--details shows an --http target without its query or fragment" {
	local hport
	bg python3 "$BATS_TEST_DIRNAME/extras/httpd.py" 127.0.0.1 "$T/heads" \
		>"$T/httpd" 2>/dev/null
	wait_until 5 test -s "$T/httpd"
	hport=$(head -n 1 "$T/httpd")
	serve --details --http "http://127.0.0.1:$hport/200?token=s3cret#frag"
	curl -s --max-time 5 "http://127.0.0.1:$PORT/" >"$T/text"
	curl -s --max-time 5 -H 'Accept: application/json' \
		"http://127.0.0.1:$PORT/" >"$T/json"
	cat "$T/text" "$T/json"
	grep -q "^ok http http://127.0.0.1:$hport/200 [0-9]*ms$" "$T/text"
	grep -q "\"target\":\"http://127.0.0.1:$hport/200\"" "$T/json"
	not grep -q s3cret "$T/text" "$T/json" "$T/hc.log"
}
