#!/usr/bin/env bats
# Children: what a script leaves behind as PID 1, a script that forks
# without end, a process limit, and a checker stalled past a deadline while
# its checks ended in time.

setup() {
	load helpers
	common_setup
	SCRIPTS=$BATS_TEST_DIRNAME/scripts
}

teardown() {
	common_teardown
}

# get_bg: a GET of the server at $PORT in the background (its PID in
# BG_PID), the status code in $T/code and the body in $T/answer.
get_bg() {
	bg curl -s -o "$T/answer" -w '%{http_code}' --max-time 10 \
		"http://127.0.0.1:$PORT/" >"$T/code"
}

# ns_states PID: the state letter of every process in the PID namespace
# that PID (the namespace's init, seen from here) heads, one a line.
ns_states() {
	nsenter -t "$1" -m sh -c 'cat /proc/[0-9]*/stat 2>/dev/null' |
		sed 's/^[0-9]* (.*) \([A-Z]\) .*/\1/'
}

# only_init_left PID: nothing but the namespace's init is left in it.
only_init_left() {
	[ "$(ns_states "$1" | wc -l)" -eq 1 ]
}

# pid1_server ARGS...: a server as PID 1 of a PID namespace of its own (a
# container's entrypoint) on a free loopback port (PORT); its pid seen from
# here in HC_PID, recorded for teardown before unshare's (which ignores
# SIGTERM while it waits).
pid1_server() {
	local u
	PORT=$(free_port)
	bg unshare -pf --mount-proc --kill-child \
		"$HC" --listener "127.0.0.1:$PORT" "$@" 2>>"$T/hc.log"
	u=$BG_PID
	wait_until 5 grep -q . "/proc/$u/task/$u/children" || return 1
	HC_PID=$(cat "/proc/$u/task/$u/children")
	HC_PID=${HC_PID% }
	PIDS=("$HC_PID" "${PIDS[@]}")
	wait_until 5 grep -q "listening on 127.0.0.1:$PORT\$" "$T/hc.log"
}

@test "children: as PID 1, the orphans a timed-out script leaves in groups of their own are reaped" {
	# timeout(1) puts itself in a group of its own: the kill of the
	# script's group at the deadline leaves it to PID 1, and it exits
	# (a zombie of ours) when its sleep ends.
	pid1_server --script "sh -c 'timeout 5 sleep 0.3; :'" \
		--script-timeout 0.1
	local i code
	for i in $(seq 20); do
		code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 \
			"http://127.0.0.1:$PORT/")
		assert_equal "$code" 504
	done
	# Every orphan's sleep ends 0.3 s after its start: then nothing but
	# the checker is left, or zombies are.
	if ! wait_until 5 only_init_left "$HC_PID"; then
		echo "left in the namespace (state: count):" >&2
		ns_states "$HC_PID" | sort | uniq -c >&2
		return 1
	fi
	kill -0 "$HC_PID"
}

# child_of PID: the pids of PID's children, or nothing.
child_of() {
	cat "/proc/$1/task/$1/children" 2>/dev/null
}

has_child() {
	[ -n "$(child_of "$1")" ]
}

# is_zombie PID
is_zombie() {
	grep -q '^State:.*Z' "/proc/$1/status" 2>/dev/null
}

# stall_until NS_SINCE MS: the checker (HC_PID), stopped by the caller,
# continued once MS milliseconds have passed since NS_SINCE.  The stall is
# the point of the test, so this one waits for time itself.
stall_until() {
	local left
	left=$(($2 - $(ms_since "$1")))
	if [ "$left" -gt 0 ]; then
		sleep "$(printf '%d.%03d' $((left / 1000)) $((left % 1000)))"
	fi
	kill -CONT "$HC_PID"
}

@test "children: a script that exited in time passes though the checker was stopped past its deadline" {
	# The script ends when told: only once the checker is stopped, so
	# that its end is never looked at before the deadline passes.
	mkscript waiter "n=0; while [ ! -e $T/go ] && [ \$n -lt 100 ]; do sleep 0.01; n=\$((n + 1)); done"
	serve --script "$T/waiter" --script-timeout 1
	local start pid
	start=$(date +%s%N)
	get_bg
	local curl=$BG_PID
	wait_until 5 has_child "$HC_PID"
	kill -STOP "$HC_PID"
	pid=$(child_of "$HC_PID")
	touch "$T/go"
	# It ends within its 1 s: a zombie, not yet looked at.
	wait_until 5 is_zombie "${pid% }" || { kill -CONT "$HC_PID"; return 1; }
	stall_until "$start" 1600
	wait "$curl" || true
	assert_equal "$(cat "$T/code")" 200
	assert_equal "$(cat "$T/answer")" OK
}

# syn_sent PORT: some socket here is connecting to 127.0.0.1:PORT.
syn_sent() {
	awk -v p="$(printf ':%04X' "$1")" \
		'$4 == "02" && substr($3, length($3) - 4) == p { f = 1 }
		END { exit !f }' /proc/net/tcp
}

# busy_listener tcp|unix PORT|PATH SECONDS|until:FILE: tests/scripts/busy-listener,
# its queue full; for tcp its port in BPORT.
busy_listener() {
	bg "$SCRIPTS/busy-listener" "$1" "$2" "$T/busy" "$3"
	wait_until 5 test -s "$T/busy" || return 1
	BPORT=$(cat "$T/busy")
}

@test "children: a connect that completed in time passes though the checker was stopped past its deadline" {
	# Its SYN dropped by a full queue, the connect completes when the
	# SYN is sent again, about 1 s later, within the 2 s deadline.  The
	# queue is freed only once the checker is stopped.
	BPORT=$(free_port)
	serve --port "127.0.0.1:$BPORT" --port-timeout 2
	busy_listener tcp "$BPORT" "until:$T/free"
	local start
	start=$(date +%s%N)
	get_bg
	local curl=$BG_PID
	wait_until 5 syn_sent "$BPORT"
	kill -STOP "$HC_PID"
	touch "$T/free"
	wait_until 5 not syn_sent "$BPORT" || { kill -CONT "$HC_PID"; return 1; }
	echo "connected after $(ms_since "$start")ms" >&2
	stall_until "$start" 2600
	wait "$curl" || true
	assert_equal "$(cat "$T/code")" 200
	assert_equal "$(cat "$T/answer")" OK
}

@test "children: a unix socket whose accept queue is full for 0.3 s passes within --port-timeout" {
	busy_listener unix "$T/app.sock" 0.3
	local start
	start=$(date +%s%N)
	run "$HC" --once --unix "$T/app.sock" --port-timeout 2
	echo "$output" >&2
	[ "$status" -eq 0 ]
	[ "$(ms_since "$start")" -lt 2000 ]
	# Still full at the deadline: the reason says so.
	rm -f "$T/busy"
	busy_listener unix "$T/full.sock" 30
	run "$HC" --once --unix "$T/full.sock" --port-timeout 0.3
	echo "$output" >&2
	[ "$status" -eq 1 ]
	[[ ${lines[0]} == "fail unix $T/full.sock "*"ms timed out: backlog full" ]]
}

@test "children: at the process limit a check says short of processes, not of descriptors" {
	# RLIMIT_NPROC counts the user's processes: at 1, the checker's own
	# fork fails with EAGAIN (root ignores the limit: another user).
	# LeakSanitizer's check at exit needs a thread, which the same limit
	# refuses: leaks are looked for everywhere else.
	[ -z "${ASAN_OPTIONS-}" ] || export ASAN_OPTIONS=$ASAN_OPTIONS:detect_leaks=0
	printf 'GET / HTTP/1.0\r\n\r\n' >"$T/req"
	(as_user 64997 prlimit --nproc=1 "$HC" --inetd --script true) \
		<"$T/req" >"$T/answer" 2>"$T/err" || true
	cat "$T/answer" "$T/err" >&2
	assert_equal "$(status_line "$T/answer")" "HTTP/1.0 503 Service Unavailable"
	assert_equal "$(body "$T/answer")" "health-checker is short of processes"
	grep -q "a check could not be run: cannot execute: short of processes" "$T/err"
	run as_user 64997 prlimit --nproc=1 "$HC" --once --script true
	echo "$output" >&2
	[ "$status" -eq 1 ]
	[[ ${lines[0]} == "fail script true "*"ms cannot execute: short of processes" ]]
}

@test "children: a script that forks as fast as it can is answered at its deadline" {
	command -v perl >/dev/null || skip "no perl"
	# The checker's answer must not wait for CPU that 1500 spinning
	# processes take: each script has a session of its own, which the
	# scheduler's autogroups weigh as one.
	[ "$(cat /proc/sys/kernel/sched_autogroup_enabled 2>/dev/null)" = 1 ] ||
		skip "scheduler autogroups are off here"
	# Bounded twice: by the user's process limit, and in time (every
	# copy stops by itself after 5 s should the kill miss one).
	printf '#!/usr/bin/perl\nmy $end = time + 5;\nfork while time < $end;\n' \
		>"$T/forks"
	chmod 755 "$T/forks"
	PORT=$(free_port)
	bg as_user 64996 prlimit --nproc=1500 "$HC" \
		--listener "127.0.0.1:$PORT" --script "$T/forks" \
		--script-timeout 1 2>>"$T/hc.log"
	HC_PID=$BG_PID
	wait_until 5 grep -q "listening on 127.0.0.1:$PORT\$" "$T/hc.log"
	local start code ms
	start=$(date +%s%N)
	code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 20 \
		"http://127.0.0.1:$PORT/")
	ms=$(ms_since "$start")
	echo "answered $code in ${ms}ms" >&2
	assert_equal "$code" 504
	[ "$ms" -lt 2500 ]
}
