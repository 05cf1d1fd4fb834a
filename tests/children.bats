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

