#!/usr/bin/env bats
# The state files (singleflight lock, result, verdict record) are ours alone:
# never written through a planted hard link, never blocked by a FIFO, never
# shared by two checkers whose words match but whose checks differ, never a
# reason for two command lines on one --lock-file to wait for or silence
# each other, and a squatted /tmp directory or a wall-clock step never turns
# the one-line-per-change log into a line per probe.

setup() {
	load helpers
	common_setup
	HOOK_SYSCTL=
}

teardown() {
	common_teardown
	if [ -n "$HOOK_SYSCTL" ]; then
		sysctl -q -w "fs.protected_hardlinks=$HOOK_SYSCTL"
	fi
}

# probe ARGS...: one inetd one-shot GET; status line in $answer, stderr
# appended to $T/err.
probe() {
	printf 'GET / HTTP/1.0\r\n\r\n' | "$HC" --inetd "$@" >"$T/answer" \
		2>>"$T/err"
	answer=$(status_line "$T/answer")
}

# verdicts FILE: how many verdict lines FILE holds.
verdicts() {
	grep -c ' verdict ' "$1" || true
}

second_uid() {
	[ "$(id -u)" -eq 0 ] || skip "needs root for a second uid"
	command -v setpriv >/dev/null || skip "no setpriv"
}

as_nobody() {
	setpriv --reuid 65534 --regid 65534 --clear-groups "$@"
}

# plant MODE: a root-owned stand-in for /etc/passwd, hard-linked by uid
# 65534 at hc.lock, hc.lock.verdict and hc.lock.result in a sticky
# world-writable directory $T/pub.
plant() {
	chmod 0755 "$T"
	mkdir -m 1777 "$T/pub"
	head -c 200 /dev/urandom >"$T/standin"
	chmod "$1" "$T/standin"
	sum=$(sha256sum <"$T/standin")
	local f
	for f in hc.lock hc.lock.verdict hc.lock.result; do
		as_nobody ln "$T/standin" "$T/pub/$f"
	done
	[ "$(stat -c %h "$T/standin")" -eq 4 ]
}

# planted_probes: healthy and unhealthy probes through the planted files,
# one-shots and a server; the stand-in unchanged, a warning logged.
planted_probes() {
	local args=(--singleflight --cache-ttl 5 --lock-file "$T/pub/hc.lock")
	probe "${args[@]}" --script true
	assert_equal "$answer" "HTTP/1.0 200 OK"
	probe "${args[@]}" --script false
	assert_equal "$answer" "HTTP/1.0 504 Gateway Timeout"
	probe "${args[@]}" --script true
	assert_equal "$answer" "HTTP/1.0 200 OK"
	serve "${args[@]}" --script false
	timeout 10 bash -c 'exec 9<>"/dev/tcp/127.0.0.1/$1"
		printf "GET / HTTP/1.0\r\n\r\n" >&9
		cat <&9' sh "$PORT" >"$T/answer"
	assert_equal "$(status_line "$T/answer")" "HTTP/1.0 504 Gateway Timeout"
	assert_equal "$(sha256sum <"$T/standin")" "$sum"
	assert_equal "$(stat -c '%a %u %h' "$T/standin")" "$1 0 4"
	grep -q ' warning .*hc.lock: 4 links to it' "$T/err" || {
		cat "$T/err" >&2
		return 1
	}
	grep -q ' warning .*hc.lock.verdict: 4 links to it' "$T/err"
	grep -q ' warning .*hc.lock: 4 links to it' "$T/hc.log"
}

@test "hard links planted at the state files (a file others may write): never written through" {
	second_uid
	# The kernel lets anybody link a file they may read and write, even
	# with fs.protected_hardlinks=1.
	plant 666
	planted_probes 666
}

@test "hard links planted at the state files (root's 0644 file, fs.protected_hardlinks=0): never written through" {
	second_uid
	# Not a namespaced setting: set for this test, restored in teardown.
	HOOK_SYSCTL=$(sysctl -n fs.protected_hardlinks) || skip "no sysctl"
	sysctl -q -w fs.protected_hardlinks=0 || skip "cannot set fs.protected_hardlinks"
	plant 644
	sysctl -q -w "fs.protected_hardlinks=$HOOK_SYSCTL"
	HOOK_SYSCTL=
	planted_probes 644
}

# Two checkers of one user, the same words, different meanings, sharing
# the default state directory through --cache-ttl (one-shots) or
# --singleflight (a slow run in flight).

@test "same words, another working directory (a relative script): each its own result" {
	mkdir "$T/up" "$T/down"
	printf '#!/bin/sh\nexit 0\n' >"$T/up/check"
	printf '#!/bin/sh\nexit 1\n' >"$T/down/check"
	chmod +x "$T/up/check" "$T/down/check"
	(cd "$T/up" && probe --cache-ttl 30 --script ./check)
	assert_equal "$(status_line "$T/answer")" "HTTP/1.0 200 OK"
	(cd "$T/down" && probe --cache-ttl 30 --script ./check)
	assert_equal "$(status_line "$T/answer")" "HTTP/1.0 504 Gateway Timeout"
	# And the cache still works for each of them.
	(cd "$T/up" && probe --cache-ttl 30 --script ./check)
	assert_equal "$(status_line "$T/answer")" "HTTP/1.0 200 OK"
}

@test "same words, another PATH: each its own result, also in flight" {
	mkdir "$T/p1" "$T/p2"
	printf '#!/bin/sh\necho >"%s/started"\nsleep 1\nexit 0\n' "$T" \
		>"$T/p1/hc-state-check"
	printf '#!/bin/sh\nexit 1\n' >"$T/p2/hc-state-check"
	chmod +x "$T/p1/hc-state-check" "$T/p2/hc-state-check"
	PATH=$T/p1:$PATH probe --cache-ttl 30 --script hc-state-check
	assert_equal "$answer" "HTTP/1.0 200 OK"
	PATH=$T/p2:$PATH probe --cache-ttl 30 --script hc-state-check
	assert_equal "$answer" "HTTP/1.0 504 Gateway Timeout"
	# --singleflight: B arrives while A's run is in flight.
	printf 'GET / HTTP/1.0\r\n\r\n' >"$T/req"
	rm -f "$T/started"
	PATH=$T/p1:$PATH bg stdin_from "$T/req" "$HC" --inetd --singleflight \
		--script hc-state-check >"$T/a.answer" 2>/dev/null
	wait_until 5 test -e "$T/started"
	PATH=$T/p2:$PATH probe --singleflight --script hc-state-check
	assert_equal "$answer" "HTTP/1.0 504 Gateway Timeout"
	wait_until 5 test -s "$T/a.answer"
	assert_equal "$(status_line "$T/a.answer")" "HTTP/1.0 200 OK"
}

@test "same words, another value of a variable the script reads: each its own result" {
	mkscript check '[ "$SERVICE_STATE" = up ]'
	SERVICE_STATE=up probe --cache-ttl 30 --singleflight --script "$T/check"
	assert_equal "$answer" "HTTP/1.0 200 OK"
	SERVICE_STATE=down probe --cache-ttl 30 --singleflight --script "$T/check"
	assert_equal "$answer" "HTTP/1.0 504 Gateway Timeout"
	SERVICE_STATE=up probe --cache-ttl 30 --singleflight --script "$T/check"
	assert_equal "$answer" "HTTP/1.0 200 OK"
}

@test "same words, a relative --unix ./app.sock from two directories: each its own result" {
	mkdir "$T/live" "$T/dead"
	bg "$BATS_TEST_DIRNAME/extras/unixlisten.py" "$T/live/app.sock" "$T/ready"
	wait_until 5 test -e "$T/ready"
	(cd "$T/live" && probe --cache-ttl 30 --unix ./app.sock)
	assert_equal "$(status_line "$T/answer")" "HTTP/1.0 200 OK"
	(cd "$T/dead" && probe --cache-ttl 30 --unix ./app.sock)
	assert_equal "$(status_line "$T/answer")" "HTTP/1.0 504 Gateway Timeout"
}

# systemd gives each Accept=yes instance its own values of these.
@test "variables of one connection or instance (REMOTE_*, INVOCATION_ID, JOURNAL_STREAM) do not keep one-shots from sharing" {
	mkscript check 'echo run >>"'"$T"'/runs"'
	REMOTE_ADDR=10.0.0.1 REMOTE_PORT=40001 INVOCATION_ID=aaaa \
		JOURNAL_STREAM=8:1 TCPREMOTEIP=10.0.0.1 SYSTEMD_EXEC_PID=101 \
		MEMORY_PRESSURE_WATCH=/sys/fs/cgroup/a/memory.pressure \
		probe --cache-ttl 30 --script "$T/check"
	assert_equal "$answer" "HTTP/1.0 200 OK"
	REMOTE_ADDR=10.0.0.2 REMOTE_PORT=40002 INVOCATION_ID=bbbb \
		JOURNAL_STREAM=8:2 TCPREMOTEIP=10.0.0.2 SYSTEMD_EXEC_PID=102 \
		MEMORY_PRESSURE_WATCH=/sys/fs/cgroup/b/memory.pressure \
		probe --cache-ttl 30 --script "$T/check"
	assert_equal "$answer" "HTTP/1.0 200 OK"
	assert_equal "$(wc -l <"$T/runs")" 1
	assert_equal "$(verdicts "$T/err")" 1
}

@test "two command lines on one --lock-file: B never waits for A's slow run" {
	mkscript slow 'echo started >"'"$T"'/started"; sleep 3'
	printf 'GET / HTTP/1.0\r\n\r\n' >"$T/req"
	bg stdin_from "$T/req" "$HC" --inetd --singleflight \
		--lock-file "$T/lock" --script "$T/slow" >"$T/a.answer" \
		2>/dev/null
	wait_until 5 test -e "$T/started"
	local start ms
	start=$(date +%s%N)
	probe --singleflight --lock-file "$T/lock" --script true
	ms=$(ms_since "$start")
	echo "B answered in ${ms}ms"
	assert_equal "$answer" "HTTP/1.0 200 OK"
	# A generous bound on a loaded machine; A's run takes 3 s.
	[ "$ms" -lt 1000 ]
	wait_until 10 test -s "$T/a.answer"
	assert_equal "$(status_line "$T/a.answer")" "HTTP/1.0 200 OK"
}

@test "two command lines on one --lock-file: each one's changes are logged" {
	mkscript b 'test -e "'"$T"'/b-up"'
	touch "$T/b-up"
	local a=(--lock-file "$T/lock" --script false)
	local b=(--lock-file "$T/lock" --script "$T/b")
	: >"$T/err"
	probe "${b[@]}"
	assert_equal "$(verdicts "$T/err")" 1
	probe "${a[@]}"
	assert_equal "$(verdicts "$T/err")" 2
	probe "${b[@]}"
	probe "${a[@]}"
	assert_equal "$(verdicts "$T/err")" 2
	rm "$T/b-up"
	probe "${b[@]}"
	assert_equal "$answer" "HTTP/1.0 504 Gateway Timeout"
	cat "$T/err"
	assert_equal "$(verdicts "$T/err")" 3
	tail -n 1 "$T/err" | grep -q "verdict unhealthy (was healthy): script $T/b"
	probe "${a[@]}"
	probe "${b[@]}"
	assert_equal "$(verdicts "$T/err")" 3
}

# in_private_run SCRIPT: sh SCRIPT ($1 = the checker) in a mount namespace
# whose /tmp and /run are empty tmpfs (no /run/health-checker), without
# RUNTIME_DIRECTORY: the /tmp fallback is used, and the real one untouched.
in_private_run() {
	unshare -m true 2>/dev/null || skip "no unshare -m"
	# The checker is held open on fd 9 and run from there: a checker
	# under /tmp or /run stays reachable when the tmpfs hides it.
	env -u RUNTIME_DIRECTORY unshare -m sh -c "
		mount --make-rprivate / || exit 97
		mount -t tmpfs -o mode=1777 tmpfs /tmp || exit 97
		mount -t tmpfs -o mode=0755 tmpfs /run || exit 97
		$1" sh /dev/fd/9 9<"$HC"
}

@test "the /tmp state directory squatted by another uid: a warning once, one verdict line in 10 one-shot probes" {
	second_uid
	# shellcheck disable=SC2016
	run in_private_run '
		d=/tmp/health-checker-$(id -u)
		setpriv --reuid 65534 --regid 65534 --clear-groups \
			mkdir -m 0777 "$d" || exit 98
		chmod 0777 "$d"
		for i in 1 2 3 4 5 6 7 8 9 10; do
			printf "GET / HTTP/1.0\r\n\r\n" |
				"$1" --inetd --script true 2>>/tmp/err |
				head -n 1 | tr -d "\r"
		done
		echo "lines: $(wc -l </tmp/err)"
		echo "verdicts: $(grep -c " verdict " /tmp/err)"
		echo "warnings: $(grep -c " warning state directory $d is not a private directory of ours" /tmp/err)"
		echo "squatted dir: $(ls -A "$d" | wc -l)"
		cat /tmp/err >&2'
	echo "$output"
	[ "$status" -eq 0 ]
	assert_equal "$(grep -c '^HTTP/1.0 200 OK$' <<<"$output")" 10
	assert_equal "$(grep '^verdicts:' <<<"$output")" "verdicts: 1"
	assert_equal "$(grep '^warnings:' <<<"$output")" "warnings: 1"
	assert_equal "$(grep '^lines:' <<<"$output")" "lines: 2"
	assert_equal "$(grep '^squatted dir:' <<<"$output")" "squatted dir: 0"
}

@test "a FIFO at the result, lock or verdict path: said as a FIFO, never blocks, right answers" {
	mkfifo "$T/lock.result"
	local start ms
	start=$(date +%s%N)
	timeout 10 bash -c 'printf "GET / HTTP/1.0\r\n\r\n" |
		"$1" --inetd --singleflight --lock-file "$2/lock" --script true \
		>"$2/answer" 2>>"$2/err"' sh "$HC" "$T"
	ms=$(ms_since "$start")
	assert_equal "$(status_line "$T/answer")" "HTTP/1.0 200 OK"
	[ "$ms" -lt 5000 ]
	grep -q " warning state file $T/lock.result: a FIFO, not a regular file" "$T/err" || {
		cat "$T/err" >&2
		return 1
	}
	rm "$T/lock.result" "$T/lock" "$T/lock.verdict"
	mkfifo "$T/lock" "$T/lock.verdict"
	timeout 10 bash -c 'printf "GET / HTTP/1.0\r\n\r\n" |
		"$1" --inetd --singleflight --lock-file "$2/lock" --script false \
		>"$2/answer" 2>>"$2/err"' sh "$HC" "$T"
	assert_equal "$(status_line "$T/answer")" "HTTP/1.0 504 Gateway Timeout"
	grep -q " warning singleflight: lock file $T/lock: a FIFO, not a regular file" "$T/err"
	grep -q " warning verdict record $T/lock.verdict: a FIFO, not a regular file" "$T/err"
	[ -p "$T/lock" ] && [ -p "$T/lock.verdict" ]
}

@test "a wall-clock step (another boot time by the clocks) does not log the same verdict again" {
	[ "$(id -u)" -eq 0 ] || skip "needs root for a time namespace"
	unshare -T --boottime 100000 --fork true 2>/dev/null || skip "no time namespaces"
	: >"$T/err"
	probe --lock-file "$T/lock" --script true
	assert_equal "$(verdicts "$T/err")" 1
	# The wall clock minus the time since boot, as the record's boot
	# stamp was, now says the boot began 100000 s earlier: the same as a
	# wall clock stepped by that much.  Same boot id, same boot.
	printf 'GET / HTTP/1.0\r\n\r\n' | unshare -T --boottime 100000 --fork \
		"$HC" --inetd --lock-file "$T/lock" --script true >"$T/answer" \
		2>>"$T/err"
	assert_equal "$(status_line "$T/answer")" "HTTP/1.0 200 OK"
	cat "$T/err"
	assert_equal "$(verdicts "$T/err")" 1
	# A change is still told.
	probe --lock-file "$T/lock" --script false
	assert_equal "$(verdicts "$T/err")" 2
}

@test "a verdict or maintenance record of garbage or of the old format counts as none: each change told once" {
	# A verdict record of the right magic whose sum fails, and noise.
	{
		printf 'HCVERD3\0'
		head -c 1500 /dev/urandom
	} >"$T/lock.verdict"
	head -c 1500 /dev/urandom >"$T/lock.maintenance"
	: >"$T/err"
	probe --lock-file "$T/lock" --script true
	assert_equal "$answer" "HTTP/1.0 200 OK"
	probe --lock-file "$T/lock" --script true
	cat "$T/err"
	assert_equal "$(verdicts "$T/err")" 1
	touch "$T/drain"
	probe --lock-file "$T/lock" --script true --maintenance-file "$T/drain"
	assert_equal "$answer" "HTTP/1.0 503 Service Unavailable"
	probe --lock-file "$T/lock" --script true --maintenance-file "$T/drain"
	assert_equal "$(grep -c 'maintenance: .* is there' "$T/err")" 1
}
