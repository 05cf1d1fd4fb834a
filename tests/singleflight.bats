#!/usr/bin/env bats
# --singleflight: concurrent requests share one run of the checks, in the
# standalone server and across one-shot processes (systemd Accept=yes, a
# pipe), through a lock file that never follows a symlink and a result file
# whose garbage counts as no result.  A finished result is never reused.

setup() {
	load helpers
	common_setup
	printf 'GET / HTTP/1.0\r\n\r\n' >"$T/req"
}

teardown() {
	common_teardown
}

# mkcheck NAME EXIT [SLEEP]: a script $T/NAME that appends a line to
# $T/runs, sleeps SLEEP seconds (default 0.5) and exits EXIT.
mkcheck() {
	printf '#!/bin/sh\necho "run $$" >>%s\nsleep %s\nexit %s\n' \
		"$T/runs" "${3:-0.5}" "$2" >"$T/$1"
	chmod +x "$T/$1"
}

runs() {
	if [ -f "$T/runs" ]; then wc -l <"$T/runs"; else echo 0; fi
}

# activate ARGS...: systemd-socket-activate -a (one checker process per
# connection) on 127.0.0.1 at a free port (PORT).
activate() {
	PORT=$(free_port)
	bg systemd-socket-activate -l "127.0.0.1:$PORT" -a -- "$HC" "$@" \
		2>>"$T/hc.log"
	wait_until 5 grep -q "^Listening on 127.0.0.1:$PORT" "$T/hc.log"
}

# burst N: N requests at once to PORT (all connect, then all send, then
# each reads its answer until the server closes); their status codes in
# $T/codes, one a line in connection order ("closed" for no answer,
# "timeout" when none came in time).
burst() {
	python3 - 127.0.0.1 "$PORT" "$1" --timeout 20 >"$T/codes" <<'EOF'
import argparse
import socket
import sys
import threading


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("host")
    ap.add_argument("port", type=int)
    ap.add_argument("n", type=int)
    ap.add_argument("--timeout", type=float, default=10.0)
    ap.add_argument("--request", default="GET / HTTP/1.0\r\n\r\n")
    a = ap.parse_args()
    req = a.request.encode()
    socks = [socket.create_connection((a.host, a.port), timeout=a.timeout)
             for _ in range(a.n)]
    codes = ["timeout"] * a.n
    go = threading.Barrier(a.n)

    def one(i):
        s = socks[i]
        got = b""
        try:
            go.wait()
            s.sendall(req)
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                got += chunk
        except socket.timeout:
            return
        except OSError:
            pass
        finally:
            s.close()
        parts = got.split(b" ", 2)
        codes[i] = parts[1].decode() if len(parts) > 1 else "closed"

    threads = [threading.Thread(target=one, args=(i,)) for i in range(a.n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    sys.stdout.write("".join(c + "\n" for c in codes))
    return 0


if __name__ == "__main__":
    sys.exit(main())
EOF
}

# oneshots N ARGS...: N pipe-mode checkers at once, answers in $T/ans.I.
oneshots() {
	local n=$1 i pids=()
	shift
	for i in $(seq "$n"); do
		bg stdin_from "$T/req" "$HC" --inetd "$@" >"$T/ans.$i" \
			2>>"$T/hc.log"
		pids+=("$BG_PID")
	done
	for i in "${pids[@]}"; do
		wait "$i"
	done
	: >"$T/codes"
	for i in $(seq "$n"); do
		status_line "$T/ans.$i" >>"$T/codes"
	done
}

# all_codes N WHAT: $T/codes holds N lines, every one WHAT.
all_codes() {
	if [ "$(wc -l <"$T/codes")" -ne "$1" ] ||
		[ "$(grep -cxF "$2" "$T/codes")" -ne "$1" ]; then
		echo "expected $1 times $2, got:"
		cat "$T/codes"
		echo "--- log:"
		cat "$T/hc.log"
		return 1
	fi
}

# runs_between MIN MAX: how many times the checks ran, within bounds.
runs_between() {
	local n
	n=$(runs)
	echo "checks ran $n times (expected $1 to $2)"
	[ "$n" -ge "$1" ] && [ "$n" -le "$2" ]
}

# one_request ARGS...: one pipe-mode request; $T/answer, $T/err, $status.
one_request() {
	inetd_request 'GET / HTTP/1.0\r\n\r\n' "$@"
	cat "$T/err" >>"$T/hc.log"
}

assert_ok_answer() {
	assert_equal "$(status_line "$T/answer")" "HTTP/1.0 200 OK"
	assert_equal "$(body "$T/answer")" "OK"
}

@test "server: 12 concurrent requests share at most 2 runs; a later one runs again" {
	mkcheck slow 0
	serve --singleflight --lock-file "$T/lock" --script "$T/slow"
	burst 12
	all_codes 12 200
	runs_between 1 2
	local before
	before=$(runs)
	burst 1
	all_codes 1 200
	assert_equal "$(runs)" $((before + 1))
}

@test "server without --singleflight: 12 concurrent requests run 12 times" {
	mkcheck slow 0
	serve --lock-file "$T/lock" --script "$T/slow"
	burst 12
	all_codes 12 200
	assert_equal "$(runs)" 12
}

@test "Accept=yes (systemd-socket-activate -a): 12 processes share at most 2 runs" {
	mkcheck slow 0
	activate --singleflight --lock-file "$T/lock" --script "$T/slow"
	burst 12
	all_codes 12 200
	runs_between 1 2
	local before
	before=$(runs)
	burst 1
	all_codes 1 200
	assert_equal "$(runs)" $((before + 1))
}

@test "12 concurrent pipe-mode one-shots share at most 2 runs; a later one runs again" {
	mkcheck slow 0
	oneshots 12 --singleflight --lock-file "$T/lock" --script "$T/slow"
	all_codes 12 "HTTP/1.0 200 OK"
	runs_between 1 2
	local before
	before=$(runs)
	oneshots 1 --singleflight --lock-file "$T/lock" --script "$T/slow"
	all_codes 1 "HTTP/1.0 200 OK"
	assert_equal "$(runs)" $((before + 1))
}

@test "12 pipe-mode one-shots without --singleflight run 12 times" {
	mkcheck slow 0
	oneshots 12 --lock-file "$T/lock" --script "$T/slow"
	all_codes 12 "HTTP/1.0 200 OK"
	assert_equal "$(runs)" 12
}

@test "unhealthy results are shared too: all 504" {
	mkcheck bad 1
	serve --singleflight --lock-file "$T/lock" --script "$T/bad"
	burst 12
	all_codes 12 504
	runs_between 1 2
	rm -f "$T/runs"
	oneshots 12 --singleflight --lock-file "$T/lock2" --script "$T/bad"
	all_codes 12 "HTTP/1.0 504 Gateway Timeout"
	runs_between 1 2
	grep -qx 'At least one health check failed' <(body "$T/ans.1"; echo)
}

@test "lock file is 0600 and the result file sits beside it" {
	mkcheck quick 0 0
	one_request --singleflight --lock-file "$T/lock" --script "$T/quick"
	assert_equal "$status" 0
	assert_ok_answer
	[ -f "$T/lock" ]
	not test -L "$T/lock"
	assert_equal "$(stat -c %a "$T/lock")" 600
	[ -f "$T/lock.result" ]
	[ -s "$T/lock.result" ]
	# Written to a temporary name and renamed: nothing left over.
	assert_equal "$(find "$T" -name 'lock.result.tmp*' | wc -l)" 0
}

@test "a symlink planted at the lock path is not followed" {
	mkcheck quick 0 0
	printf 'precious\n' >"$T/target"
	ln -s "$T/target" "$T/lock"
	one_request --singleflight --lock-file "$T/lock" --script "$T/quick"
	assert_equal "$status" 0
	assert_ok_answer
	assert_equal "$(runs)" 1
	grep -q ' warning singleflight: ' "$T/err"
	assert_equal "$(cat "$T/target")" precious
	[ -L "$T/lock" ]
	# The server goes on alone too.
	serve --singleflight --lock-file "$T/lock" --script "$T/quick"
	burst 3
	all_codes 3 200
	assert_equal "$(cat "$T/target")" precious
	grep -q ' warning singleflight: ' "$T/hc.log"
}

@test "a symlink planted at the result path: target untouched, answers right" {
	mkcheck quick 0 0
	printf 'precious\n' >"$T/target"
	ln -s "$T/target" "$T/lock.result"
	one_request --singleflight --lock-file "$T/lock" --script "$T/quick"
	assert_equal "$status" 0
	assert_ok_answer
	assert_equal "$(runs)" 1
	assert_equal "$(cat "$T/target")" precious
}

@test "a garbage result file counts as no result" {
	mkcheck quick 0 0
	mkcheck bad 1 0
	local n=0 real size cut
	# Random bytes, all-ones bytes, then the magic of a real file followed
	# by random bytes.
	head -c 300 /dev/urandom >"$T/lock.result"
	one_request --singleflight --lock-file "$T/lock" --script "$T/quick"
	assert_ok_answer
	n=$((n + 1))
	assert_equal "$(runs)" "$n"
	head -c 300 /dev/zero | tr '\0' '\377' >"$T/lock.bad.result"
	one_request --singleflight --lock-file "$T/lock.bad" --script "$T/bad"
	assert_equal "$(status_line "$T/answer")" "HTTP/1.0 504 Gateway Timeout"
	n=$((n + 1))
	assert_equal "$(runs)" "$n"
	# A truncated copy of a real result, at several lengths.
	one_request --singleflight --lock-file "$T/lock" --script "$T/quick"
	n=$((n + 1))
	real=$T/real.result
	cp "$T/lock.result" "$real"
	size=$(stat -c %s "$real")
	[ "$size" -gt 8 ]
	for cut in 1 8 $((size / 2)) $((size - 1)); do
		head -c "$cut" "$real" >"$T/lock.result"
		one_request --singleflight --lock-file "$T/lock" --script "$T/quick"
		assert_equal "$status" 0
		assert_ok_answer
		n=$((n + 1))
		assert_equal "$(runs)" "$n"
	done
	{
		head -c 8 "$real"
		head -c 300 /dev/urandom
	} >"$T/lock.result"
	one_request --singleflight --lock-file "$T/lock" --script "$T/quick"
	assert_ok_answer
	n=$((n + 1))
	assert_equal "$(runs)" "$n"
}

@test "a garbage result file while a run is in flight: followers still right" {
	mkcheck bad 1 1
	# A leader runs (1 s) and fails; garbage lands in the result file.
	bg stdin_from "$T/req" "$HC" --inetd --singleflight --lock-file "$T/lock" \
		--script "$T/bad" >"$T/leader" 2>>"$T/hc.log"
	local leader=$BG_PID
	wait_until 5 test -s "$T/runs"
	head -c 300 /dev/urandom >"$T/lock.result"
	oneshots 4 --singleflight --lock-file "$T/lock" --script "$T/bad"
	all_codes 4 "HTTP/1.0 504 Gateway Timeout"
	wait "$leader"
	assert_equal "$(status_line "$T/leader")" "HTTP/1.0 504 Gateway Timeout"
}

@test "a leader killed with SIGKILL does not wedge the next request" {
	# The first run takes 3 s (its PID in $T/marker), later ones none.
	printf '#!/bin/sh\necho "run $$" >>%s\nif [ ! -e %s ]; then echo $$ >%s; exec sleep 3; fi\n' \
		"$T/runs" "$T/marker" "$T/marker" >"$T/first-slow"
	chmod +x "$T/first-slow"
	bg stdin_from "$T/req" "$HC" --inetd --singleflight --lock-file "$T/lock" \
		--script-timeout 5 --script "$T/first-slow" >"$T/leader" \
		2>>"$T/hc.log"
	local leader=$BG_PID start ms
	wait_until 5 test -s "$T/marker"
	PIDS+=("$(cat "$T/marker")") # the orphaned sleep
	kill -KILL "$leader"
	wait_until 2 gone "$leader"
	start=$(date +%s%N)
	one_request --singleflight --lock-file "$T/lock" --script-timeout 5 \
		--script "$T/first-slow"
	ms=$(ms_since "$start")
	echo "answered in ${ms}ms"
	cat "$T/hc.log"
	assert_equal "$status" 0
	assert_ok_answer
	assert_equal "$(runs)" 2 # a run of its own
	[ "$ms" -lt 2000 ]
}

@test "default state file goes under \$RUNTIME_DIRECTORY" {
	mkcheck quick 0 0
	mkdir "$T/rt"
	export RUNTIME_DIRECTORY=$T/rt
	one_request --singleflight --script "$T/quick"
	assert_equal "$status" 0
	assert_ok_answer
	ls -la "$T/rt"
	local f
	f=$(find "$T/rt" -maxdepth 1 -name 'state-*' ! -name '*.result*' | head -n 1)
	[ -n "$f" ]
	assert_equal "$(stat -c %a "$f")" 600
	[ -f "$f.result" ] || [ -n "$(find "$T/rt" -name 'state-*.result')" ]
}

@test "a leader that unlocks without a new result still wakes its followers at once" {
	local start ms
	cat >"$T/slow" <<'EOS'
#!/bin/sh
echo run >>"$1"
sleep 1
EOS
	chmod +x "$T/slow"
	# The leader is a standalone server: it keeps its lock file open, so
	# no close of it at exit wakes anybody either.
	local port
	port=$(free_port)
	bg "$HC" --listener "127.0.0.1:$port" --singleflight \
		--lock-file "$T/lock" --script "$T/slow $T/runs" 2>"$T/server.log"
	wait_port "$port"
	# A directory where the leader writes its result aside: the write
	# fails before any file is touched, so no inotify event comes from
	# it; only the unlock can wake the follower.
	mkdir "$T/lock.result.tmp.$BG_PID"
	bg curl -s -o /dev/null "http://127.0.0.1:$port/"
	wait_until 5 test -s "$T/runs"
	start=$(date +%s%N)
	printf 'GET / HTTP/1.0\r\n\r\n' | "$HC" --inetd --singleflight \
		--lock-file "$T/lock" --script "$T/slow $T/runs" >"$T/answer" 2>"$T/err"
	ms=$(ms_since "$start")
	cat "$T/err" >&2
	assert_equal "$(status_line "$T/answer")" 'HTTP/1.0 200 OK'
	# Leader's second left plus a run of its own: about 2 s.  Waiting
	# for the give-up (deadline 5 s + 1 s) would take over 6 s.
	echo "follower answered in ${ms}ms" >&2
	[ "$ms" -lt 4500 ]
}
