#!/usr/bin/env bats
# --script: exit status, PATH lookup, no shell, the script's surroundings
# (stdin, process group, descriptors, environment), deadlines, output,
# concurrency and cleaning up after it.

setup() {
	load helpers
	common_setup
	SCRIPTS=$BATS_TEST_DIRNAME/scripts
	PROBE=$SCRIPTS/probe
}

teardown() {
	common_teardown
}

# once ARGS...: health-checker --once ARGS; stdout in $output and $lines,
# stderr in $T/err, $status, $ms (elapsed).
once() {
	local start
	start=$(date +%s%N)
	# Per-check lines, which tests read, are debug.
	"$HC" --once --log-level debug "$@" >"$T/out" 2>"$T/err" && status=0 || status=$?
	ms=$(ms_since "$start")
	output=$(cat "$T/out")
	mapfile -t lines <"$T/out"
	echo "elapsed ${ms}ms" >&2
}

# has_line REGEX [FILE]: a line of $output (or FILE) matches REGEX exactly.
has_line() {
	local text
	if [ $# -gt 1 ]; then text=$(cat "$2"); else text=$output; fi
	if ! grep -Eq "^$1\$" <<<"$text"; then
		printf 'no line matching: %s\nin:\n%s\n' "$1" "$text" >&2
		return 1
	fi
}

# no_match REGEX FILE: no line of FILE matches REGEX (shows the ones that do).
no_match() {
	if grep -E -e "$1" "$2" >&2; then
		echo "unexpected match for $1 in $2" >&2
		return 1
	fi
}

# all_gone FILE...: every PID written in the files is gone (waits up to 2 s:
# a SIGKILLed process takes a moment to die).
all_gone() {
	local f pid
	for f in "$@"; do
		[ -s "$f" ] || {
			echo "no PID in $f" >&2
			return 1
		}
		for pid in $(cat "$f"); do
			wait_until 2 gone "$pid" || {
				echo "PID $pid from $f still runs: $(tr '\0' ' ' <"/proc/$pid/cmdline")" >&2
				return 1
			}
		done
	done
}

# get: an HTTP/1.0 request to APORT, the answer in $T/answer.
get() {
	printf 'GET / HTTP/1.0\r\n\r\n' | python3 "$CLIENT" 127.0.0.1 "$APORT" >"$T/answer"
}

# fds_clean FILE: the `ls -l /proc/self/fd` in FILE shows only 0, 1, 2 and
# the directory ls itself opened.
fds_clean() {
	local bad
	[ -s "$1" ] || {
		echo "no listing in $1" >&2
		return 1
	}
	cat "$1" >&2
	bad=$(awk '$NF != "" && $(NF-1) == "->" {
		fd = $(NF-2); t = $NF
		if (fd != "0" && fd != "1" && fd != "2" && t !~ /^\/proc\/[0-9]+\/fd$/) print
	}' "$1")
	if [ -n "$bad" ]; then
		printf 'inherited descriptors:\n%s\n' "$bad" >&2
		return 1
	fi
	grep -Eq ' 0 -> ' "$1" && grep -Eq ' 1 -> ' "$1" && grep -Eq ' 2 -> ' "$1"
}

@test "a script exiting 0 passes" {
	once --script true
	[ "$status" -eq 0 ]
	has_line "ok script true [0-9]+ms"
	has_line OK
}

@test "a script exiting non-zero fails with its status" {
	once --script "sh -c 'exit 3'"
	[ "$status" -eq 1 ]
	has_line "fail script sh [0-9]+ms exit 3"
	has_line "At least one health check failed"
}

@test "false fails with exit 1" {
	once --script false
	[ "$status" -eq 1 ]
	has_line "fail script false [0-9]+ms exit 1"
}

@test "the script is looked up in PATH" {
	mkdir "$T/bin"
	printf '#!/bin/sh\nexit 0\n' >"$T/bin/hc-test-check"
	chmod +x "$T/bin/hc-test-check"
	PATH=$T/bin:$PATH once --script hc-test-check
	[ "$status" -eq 0 ]
	has_line "ok script hc-test-check [0-9]+ms"
	# and not found without that PATH entry
	once --script hc-test-check
	[ "$status" -eq 1 ]
	has_line "fail script hc-test-check [0-9]+ms cannot execute: No such file or directory"
}

@test "a missing, a non-executable and a shebang-less script fail, no crash" {
	printf 'exit 0\n' >"$T/noshebang"
	chmod +x "$T/noshebang"
	printf '#!/bin/sh\nexit 0\n' >"$T/noexec"
	once --script "$T/missing" --script "$T/noexec" --script "$T/noshebang" --script true
	[ "$status" -eq 1 ]
	has_line "fail script $T/missing [0-9]+ms cannot execute: No such file or directory"
	has_line "fail script $T/noexec [0-9]+ms cannot execute: Permission denied"
	has_line "fail script $T/noshebang [0-9]+ms cannot execute: .+"
	has_line "ok script true [0-9]+ms"
	# the reason reaches the log too
	grep -q "check script $T/missing fail [0-9]*ms cannot execute" "$T/err"
}

@test "no shell: ; and \$ are plain words" {
	once --script "echo a; touch $T/x" --script "echo \$HOME > $T/y"
	[ "$status" -eq 0 ]
	[ ! -e "$T/x" ]
	[ ! -e "$T/y" ]
}

@test "quoted words reach the script as one argument each" {
	once --script "$SCRIPTS/probe 'ids' \"$T/i\""
	[ "$status" -eq 0 ]
	[ -s "$T/i" ]
}

@test "stdin is /dev/null" {
	once --script "$PROBE stdin $T/stdin"
	[ "$status" -eq 0 ]
	assert_equal "$(cat "$T/stdin")" /dev/null
}

@test "stdin is /dev/null: cat exits at once even when our stdin stays open" {
	mkfifo "$T/fifo"
	# A FIFO we hold open for writing: whoever reads it waits for ever.
	exec 8<>"$T/fifo"
	once --script cat --script-timeout 3 <&8
	exec 8>&-
	[ "$status" -eq 0 ]
	has_line "ok script cat [0-9]+ms"
	[ "$ms" -lt 2000 ]
}

@test "the script runs in its own process group" {
	once --script "$PROBE ids $T/ids"
	[ "$status" -eq 0 ]
	local pid pgid ppid
	read -r pid pgid ppid <"$T/ids"
	echo "pid=$pid pgid=$pgid ppid=$ppid" >&2
	[ "$pid" -eq "$pgid" ]
	# and it is not the group the checker ran in (ours)
	local ours
	read -r _ _ _ _ ours _ <"/proc/$$/stat"
	[ "$pgid" -ne "$ours" ]
}

@test "no inherited descriptors (checker given extra fds)" {
	once --script "$PROBE fds $T/fds" 7<"$T" 9>"$T/extra"
	[ "$status" -eq 0 ]
	fds_clean "$T/fds"
	no_match 'socket:' "$T/fds"
}

@test "no inherited descriptors under systemd-socket-activate -a --inetd (fds 0, 1)" {
	socket_activate -a --inetd -- "$HC" --script "$PROBE fds $T/fds"
	get
	assert_equal "$(status_line "$T/answer")" "HTTP/1.0 200 OK"
	fds_clean "$T/fds"
	no_match 'socket:' "$T/fds"
}

@test "no inherited descriptors under systemd-socket-activate -a (fd 3)" {
	socket_activate -a -- "$HC" --script "$PROBE fds $T/fds"
	get
	assert_equal "$(status_line "$T/answer")" "HTTP/1.0 200 OK"
	fds_clean "$T/fds"
	no_match 'socket:' "$T/fds"
}

@test "LISTEN_* are not in the script's environment, others are" {
	socket_activate -a -E FOO=bar --fdname=hc -- "$HC" --script "$PROBE env $T/env"
	get
	assert_equal "$(status_line "$T/answer")" "HTTP/1.0 200 OK"
	cat "$T/env" >&2
	grep -qx 'FOO=bar' "$T/env"
	no_match '^LISTEN_' "$T/env"
}

@test "the environment given to the checker reaches the script" {
	FOO=bar once --script "$PROBE env $T/env"
	[ "$status" -eq 0 ]
	grep -qx 'FOO=bar' "$T/env"
	grep -qx "PATH=$PATH" "$T/env"
}

@test "stale LISTEN_* (not our pid) are dropped too" {
	LISTEN_PID=1 LISTEN_FDS=1 LISTEN_FDNAMES=x once --script "$PROBE env $T/env"
	[ "$status" -eq 0 ]
	[ -s "$T/env" ]
	no_match '^LISTEN_' "$T/env"
}

@test "--script-timeout: a hanging script fails with timed out and is killed" {
	once --script "sh -c 'echo \$\$ > $T/pid; exec sleep 30'" --script-timeout 1
	[ "$status" -eq 1 ]
	has_line "fail script sh [0-9]+ms timed out"
	[ "$ms" -lt 2500 ]
	all_gone "$T/pid"
}

@test "--script-timeout: what a timed-out script wrote is logged" {
	once --script "sh -c 'echo started; exec sleep 30'" --script-timeout 1
	[ "$status" -eq 1 ]
	grep -Eq 'debug check script sh fail [0-9]+ms timed out output "started\\n"$' "$T/err" || {
		cat "$T/err" >&2
		false
	}
}

@test "--script-timeout: a script that closed its output and hangs is killed" {
	once --script "sh -c 'echo \$\$ > $T/pid; exec >&- 2>&-; exec sleep 30'" --script-timeout 1
	[ "$status" -eq 1 ]
	has_line "fail script sh [0-9]+ms timed out"
	[ "$ms" -lt 2500 ]
	all_gone "$T/pid"
}

@test "--script-timeout accepts decimals" {
	once --script "sleep 30" --script-timeout 0.5
	[ "$status" -eq 1 ]
	has_line "fail script sleep [0-9]+ms timed out"
	[ "$ms" -lt 2000 ]
}

@test "a script ignoring SIGTERM is still killed at the deadline" {
	once --script "sh -c 'trap \"\" TERM; echo \$\$ > $T/pid; exec sleep 30'" --script-timeout 1
	[ "$status" -eq 1 ]
	has_line "fail script sh [0-9]+ms timed out"
	[ "$ms" -lt 2500 ]
	all_gone "$T/pid"
}

@test "a grandchild holding the pipe does not delay the verdict and is killed" {
	once --script "sh -c 'sleep 30 & echo \$! > $T/gc; exit 0'" --script-timeout 10
	[ "$status" -eq 0 ]
	has_line "ok script sh [0-9]+ms"
	[ "$ms" -lt 3000 ]
	all_gone "$T/gc"
}

@test "a grandchild holding the pipe of a failing script: prompt, killed" {
	once --script "sh -c 'sleep 30 & echo \$! > $T/gc; echo bye; exit 4'" --script-timeout 10
	[ "$status" -eq 1 ]
	has_line "fail script sh [0-9]+ms exit 4"
	[ "$ms" -lt 3000 ]
	grep -q 'output "bye\\n"' "$T/err"
	all_gone "$T/gc"
}

@test "a grandchild with the pipe and a hanging script: answer in time, nothing left" {
	once --script "sh -c 'sleep 30 & echo \$! > $T/gc; echo \$\$ > $T/pid; exec sleep 30'" --script-timeout 1
	[ "$status" -eq 1 ]
	has_line "fail script sh [0-9]+ms timed out"
	[ "$ms" -lt 2500 ]
	all_gone "$T/gc" "$T/pid"
}

@test "a daemon that left the group with setsid and keeps the pipe does not delay the answer" {
	command -v setsid >/dev/null || skip "no setsid"
	local start ms2
	start=$(date +%s%N)
	inetd_request 'GET / HTTP/1.0\r\n\r\n' --script-timeout 10 \
		--script "sh -c 'setsid sleep 30 & echo \$! > $T/daemon; exit 0'"
	ms2=$(ms_since "$start")
	# beyond our reach: the test kills it (by PID) in teardown
	[ -s "$T/daemon" ] && PIDS+=("$(cat "$T/daemon")")
	echo "elapsed ${ms2}ms" >&2
	[ "$status" -eq 0 ]
	assert_equal "$(status_line "$T/answer")" "HTTP/1.0 200 OK"
	[ "$ms2" -lt 3000 ]
}

@test "a script writing 50 MB passes without blocking" {
	once --script "head -c 50000000 /dev/zero" --script-timeout 20
	[ "$status" -eq 0 ]
	has_line "ok script head [0-9]+ms"
	[ "$ms" -lt 5000 ]
}

@test "a script writing 50 MB and failing: the log keeps 4 KiB" {
	once --script "sh -c 'head -c 50000000 /dev/zero | tr \"\\\\0\" b; exit 1'" --script-timeout 20
	[ "$status" -eq 1 ]
	[ "$ms" -lt 5000 ]
	grep -Eq "check script sh fail [0-9]+ms exit 1 output \"b{4096}\"\$" "$T/err" || {
		head -c 300 "$T/err" >&2
		false
	}
}

@test "scripts run concurrently: three sleep 1 answer in under 2 s" {
	once --script "sleep 1" --script "sleep 1" --script "sleep 1"
	[ "$status" -eq 0 ]
	[ "$(grep -c '^ok script sleep ' <<<"$output")" -eq 3 ]
	[ "$ms" -lt 2000 ]
}

@test "scripts and port checks run concurrently" {
	local p
	p=$(free_port)
	once --script "sleep 1" --port "$p" --script "sleep 1"
	[ "$status" -eq 1 ]
	has_line "fail tcp 127\\.0\\.0\\.1:$p [0-9]+ms refused"
	[ "$ms" -lt 2000 ]
}

@test "a script killed by a signal: killed by signal 9" {
	once --script "sh -c 'kill -9 \$\$'"
	[ "$status" -eq 1 ]
	has_line "fail script sh [0-9]+ms killed by signal 9"
}

@test "a script killed by SIGTERM: killed by signal 15" {
	once --script "sh -c 'kill -15 \$\$'"
	[ "$status" -eq 1 ]
	has_line "fail script sh [0-9]+ms killed by signal 15"
}

@test "a failing script's output is logged, escaped" {
	once --script "sh -c 'echo hi; echo \"q\\\"\" >&2; exit 3'"
	[ "$status" -eq 1 ]
	grep -E 'check script sh fail [0-9]+ms exit 3 output "hi\\nq\\"\\n"$' "$T/err" || {
		cat "$T/err" >&2
		false
	}
}

@test "a failing script's output: only the first 4 KiB reach the log" {
	once --script "$SCRIPTS/chatty 4096 1"
	[ "$status" -eq 1 ]
	has_line "fail script $SCRIPTS/chatty [0-9]+ms exit 1"
	grep -Eq "check script $SCRIPTS/chatty fail [0-9]+ms exit 1 output \"a{4096}\"\$" "$T/err" || {
		head -c 300 "$T/err" >&2
		false
	}
	no_match TAIL "$T/err"
}

@test "a failing script's output: 4 KiB of control bytes logged whole, escaped" {
	once --script "sh -c 'head -c 4096 /dev/zero; exit 1'"
	[ "$status" -eq 1 ]
	local want
	want=$(printf '\\\\x00%.0s' {1..4096})
	grep -q "check script sh fail [0-9]*ms exit 1 output \"$want\"\$" "$T/err" || {
		echo "log line (last 80 bytes): $(tail -c 80 "$T/err")" >&2
		echo "log line length: $(wc -c <"$T/err")" >&2
		false
	}
}

@test "a failing script's output over HTTP: in the log, never in the answer" {
	inetd_request 'GET / HTTP/1.0\r\n\r\n' --script "$SCRIPTS/chatty 10 2" \
		--log-level debug
	[ "$status" -eq 0 ]
	assert_equal "$(status_line "$T/answer")" "HTTP/1.0 504 Gateway Timeout"
	assert_equal "$(body "$T/answer")" "At least one health check failed"
	grep -q 'output "aaaaaaaaaaTAIL\\n"' "$T/err"
	no_match aaa "$T/answer"
}

@test "a passing script's output is not logged" {
	once --script "$SCRIPTS/chatty 10 0"
	[ "$status" -eq 0 ]
	no_match aaaa "$T/err"
}

@test "no child left: every PID the scripts recorded is gone after the one-shot" {
	inetd_request 'GET / HTTP/1.0\r\n\r\n' --script-timeout 1 \
		--script "sh -c 'echo \$\$ >> $T/p; exit 0'" \
		--script "sh -c 'echo \$\$ >> $T/p; exit 5'" \
		--script "sh -c 'echo \$\$ >> $T/p; sleep 30 & echo \$! >> $T/p; exit 0'" \
		--script "sh -c 'echo \$\$ >> $T/p; sleep 30 & echo \$! >> $T/p; exec sleep 30'" \
		--script "sh -c 'trap \"\" TERM; echo \$\$ >> $T/p; exec sleep 30'"
	[ "$status" -eq 0 ]
	assert_equal "$(status_line "$T/answer")" "HTTP/1.0 504 Gateway Timeout"
	[ "$(wc -l <"$T/p")" -eq 7 ]
	all_gone "$T/p"
}

@test "no zombie while the checker still runs: a finished script is reaped at once" {
	bg "$HC" --once --script "$PROBE ids $T/ids" --script "sleep 2" >"$T/out" 2>"$T/err"
	local hc=$BG_PID pid
	wait_until 5 test -s "$T/ids"
	read -r pid _ <"$T/ids"
	# Not even a zombie: its /proc entry goes once the checker reaps it.
	wait_until 1 test ! -e "/proc/$pid"
	# ... and that happened while the checker was still waiting for sleep 2.
	kill -0 "$hc"
	no_match . "$T/out"
	wait_until 10 gone "$hc"
	grep -q '^OK$' "$T/out"
}

# inetd_busy SCRIPT-CMD...: an --inetd one-shot busy with its script: the
# request in a FIFO held open read-write here (its end never comes); PID in
# $pid, its answer in $T/out.
inetd_busy() {
	rm -f "$T/pid" "$T/fifo"
	mkfifo "$T/fifo"
	exec 7<>"$T/fifo"
	printf 'GET / HTTP/1.0\r\n\r\n' >&7
	bg sh -c 'exec "$@" <&7 7<&-' sh "$HC" --inetd "$@" >"$T/out"
	pid=$BG_PID
	wait_until 5 test -s "$T/pid"
}

@test "SIGTERM to --once, SIGINT and SIGHUP to --inetd: stopped at once, scripts' groups killed" {
	local sig
	rm -f "$T/pid"
	bg "$HC" --once --script "sh -c 'echo \$\$ > $T/pid; exec sleep 37'"
	pid=$BG_PID
	wait_until 5 test -s "$T/pid"
	kill -TERM "$pid"
	wait_until 5 gone "$pid"
	wait_until 5 gone "$(cat "$T/pid")"
	for sig in INT HUP; do
		inetd_busy --script "sh -c 'echo \$\$ > $T/pid; exec sleep 37'"
		kill "-$sig" "$pid"
		wait_until 5 gone "$pid"
		exec 7>&-
		wait_until 5 gone "$(cat "$T/pid")"
	done
}

@test "SIGTERM to --inetd (systemctl stop): the request in progress still gets its real answer" {
	local start
	inetd_busy --script "sh -c 'echo \$\$ > $T/pid; sleep 1'"
	start=$(date +%s%N)
	kill -TERM "$pid"
	wait_until 5 gone "$pid"
	exec 7>&-
	echo "answered $(ms_since "$start") ms after SIGTERM" >&2
	assert_equal "$(status_line "$T/out")" "HTTP/1.0 200 OK"
	wait "$pid"
}

# term_blocked PID: SIGTERM is in PID's blocked signal mask.
term_blocked() {
	local mask
	mask=$(awk '$1 == "SigBlk:" { print $2 }' "/proc/$1/status")
	(((16#$mask & 16#4000) != 0))
}

@test "SIGTERM to --inetd before any byte came: closed at once, quietly" {
	mkfifo "$T/fifo"
	exec 7<>"$T/fifo"
	bg sh -c 'exec "$@" <&7 7<&-' sh "$HC" --inetd --script true >"$T/out"
	pid=$BG_PID
	# Its signals are blocked (taken through the loop) once it is up.
	wait_until 5 term_blocked "$pid"
	kill -TERM "$pid"
	wait_until 2 gone "$pid"
	exec 7>&-
	[ ! -s "$T/out" ]
}

@test "as PID 1 (a container's entrypoint) a script's orphans are reaped, not left as zombies" {
	command -v unshare >/dev/null || skip "unshare is missing"
	unshare -p -f --mount-proc true 2>/dev/null || skip "no PID namespace here (needs root)"
	local i zombies
	# The checker is PID 1 of a new PID namespace; its scripts leave a
	# child behind that is reparented to it and killed with the group.
	local port
	port=$(free_port)
	bg unshare -p -f --mount-proc --kill-child sh -c '
		exec "$0" --listener "127.0.0.1:$1" --script "sh -c \"sleep 30 & exit 0\"" \
			2>/dev/null' "$HC" "$port"
	wait_port "$port"
	for i in 1 2 3 4 5; do
		curl -s -o /dev/null "http://127.0.0.1:$port/"
	done
	# The server is PID 1 inside; find it outside as the unshare's child.
	local inner
	inner=$(cat "/proc/$BG_PID/task/$BG_PID/children")
	zombies=$(for c in $(cat "/proc/$inner/task/$inner/children" 2>/dev/null); do
		grep -l '^State:.*Z' "/proc/$c/status" 2>/dev/null
	done | wc -l)
	assert_equal "$zombies" 0
}
