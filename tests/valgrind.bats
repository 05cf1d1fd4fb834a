#!/usr/bin/env bats
# valgrind memcheck over the one-shot path (a request on a pipe, --inetd),
# --once and the standalone server: no memory error, no leak, no descriptor
# left open at exit beyond 0, 1, 2 and what we were given.  valgrind follows
# the checker alone (--trace-children=no): scripts run natively.

setup() {
	load helpers
	common_setup
	command -v valgrind >/dev/null || skip "valgrind is not installed"
	printf 'GET / HTTP/1.0\r\n\r\n' >"$T/req"
	start_listener
	UP=$LPORT
	DOWN=$(free_port)
}

teardown() {
	common_teardown
}

VG=(valgrind --error-exitcode=99 --leak-check=full
	'--errors-for-leak-kinds=definite,indirect' --track-fds=yes
	--trace-children=no --child-silent-after-fork=yes)

# vg ARGS...: the checker under valgrind, stdin from $T/req; stdout in
# $T/answer, stderr in $T/err, valgrind's report in $T/vg.log, the exit
# status in $status.
vg() {
	"${VG[@]}" --log-file="$T/vg.log" "$HC" "$@" <"$T/req" >"$T/answer" \
		2>"$T/err" && status=0 || status=$?
}

# clean: valgrind's report in $T/vg.log shows no error, no definite or indirect
# leak, and no descriptor open at exit other than 0, 1, 2 and those
# inherited from the parent (the test's own, valgrind's log).
clean() {
	local bad
	bad=$(python3 - "$T/vg.log" <<'EOF'
import re
import sys

text = open(sys.argv[1]).read()
lines = [re.sub(r"^==\d+== ?", "", l) for l in text.splitlines()
         if l.startswith("==")]
problems = []
if not re.search(r"ERROR SUMMARY: 0 errors from 0 contexts", text):
    problems.append("memory errors reported")
if "All heap blocks were freed" not in text:
    for kind in ("definitely", "indirectly"):
        m = re.search(kind + r" lost: ([\d,]+) bytes", text)
        if m is None:
            problems.append("no '%s lost' line" % kind)
        elif m.group(1) != "0":
            problems.append("%s lost: %s bytes" % (kind, m.group(1)))
if "FILE DESCRIPTORS:" not in text:
    problems.append("no FILE DESCRIPTORS report (--track-fds)")
# Blocks: "Open file descriptor N: ...", "Open AF_INET socket N: ...", each
# followed by where it was opened or "<inherited from parent>".
fd, inherited, block = None, False, []


def flush():
    if fd is not None and fd not in (0, 1, 2) and not inherited:
        problems.append("descriptor %d left open:\n  %s" % (fd, "\n  ".join(block)))


for l in lines:
    m = re.match(r"Open .*?(\d+):", l)
    if m:
        flush()
        fd, inherited, block = int(m.group(1)), False, [l]
        continue
    if fd is None:
        continue
    if l.strip() == "":
        flush()
        fd = None
        continue
    block.append(l.strip())
    if "<inherited from parent>" in l:
        inherited = True
flush()
print("\n".join(problems))
EOF
)
	if [ -n "$bad" ]; then
		echo "$bad" >&2
		echo "--- valgrind report:" >&2
		grep -v '^--' "$T/vg.log" >&2
		return 1
	fi
}

answer_is() { # STATUS-LINE BODY
	if ! assert_equal "$(status_line "$T/answer")" "$1" ||
		! assert_equal "$(body "$T/answer"; echo .)" "$2."; then
		cat "$T/answer" "$T/err" >&2
		return 1
	fi
}

@test "valgrind: healthy one-shot (200): no error, leak or descriptor left" {
	vg --inetd --port "$UP" --port "localhost:$UP"
	assert_equal "$status" 0
	answer_is 'HTTP/1.0 200 OK' 'OK'
	clean
}

@test "valgrind: unhealthy one-shot (504, refused port): clean" {
	vg --inetd --port "$UP" --port "$DOWN"
	assert_equal "$status" 0
	answer_is 'HTTP/1.0 504 Gateway Timeout' 'At least one health check failed'
	clean
}

@test "valgrind: bad requests (400, 431, 505) and a quiet probe: clean" {
	printf 'garbage\0\r\n\r\n' >"$T/req"
	vg --inetd --port "$UP"
	assert_equal "$status" 0
	answer_is 'HTTP/1.1 400 Bad Request' '400 Bad Request'
	clean
	{
		printf 'GET / HTTP/1.1\r\nX-Pad: '
		head -c 9000 /dev/zero | tr '\0' p
		printf '\r\n\r\n'
	} >"$T/req"
	vg --inetd --port "$UP"
	assert_equal "$status" 0
	answer_is 'HTTP/1.1 431 Request Header Fields Too Large' \
		'431 Request Header Fields Too Large'
	clean
	printf 'GET / HTTP/2.0\r\n\r\n' >"$T/req"
	vg --inetd --port "$UP"
	answer_is 'HTTP/1.1 505 HTTP Version Not Supported' \
		'505 HTTP Version Not Supported'
	clean
	: >"$T/req"
	vg --inetd --port "$UP"
	assert_equal "$status" 0
	[ ! -s "$T/answer" ]
	clean
}

@test "valgrind: --details with JSON, --fail-status 503: clean" {
	printf 'GET / HTTP/1.1\r\nAccept: application/json\r\n\r\n' >"$T/req"
	vg --inetd --details --fail-status 503 --port "$UP" --port "$DOWN"
	assert_equal "$status" 0
	assert_equal "$(status_line "$T/answer")" 'HTTP/1.1 503 Service Unavailable'
	grep -q '"status":"fail"' "$T/answer"
	clean
}

@test "valgrind: a script past --script-timeout 0.5 (sleep 5): 504 timed out, clean" {
	local start ms
	start=$(date +%s%N)
	vg --inetd --details --script-timeout 0.5 --script "sleep 5"
	ms=$(ms_since "$start")
	assert_equal "$status" 0
	assert_equal "$(status_line "$T/answer")" 'HTTP/1.0 504 Gateway Timeout'
	clean
	grep -Eq '^fail script sleep [0-9]+ms timed out$' "$T/answer" || {
		cat "$T/answer" >&2
		return 1
	}
	[ "$ms" -lt 5000 ]
}

@test "valgrind: scripts passing and failing with output: clean" {
	vg --inetd --details --log-level debug --script true \
		--script "sh -c 'echo out; echo err >&2; exit 3'"
	assert_equal "$status" 0
	assert_equal "$(status_line "$T/answer")" 'HTTP/1.0 504 Gateway Timeout'
	clean
	grep -Eq '^ok script true [0-9]+ms$' "$T/answer"
	grep -Eq '^fail script sh [0-9]+ms exit 3$' "$T/answer"
	grep -q 'output "out\\nerr\\n"' "$T/err"
}

@test "valgrind: --once, healthy (exit 0) and unhealthy (exit 1): clean" {
	"${VG[@]}" --log-file="$T/vg.log" "$HC" --once --port "$UP" \
		>"$T/out" 2>"$T/err" && status=0 || status=$?
	assert_equal "$status" 0
	grep -qx OK "$T/out"
	clean
	"${VG[@]}" --log-file="$T/vg.log" "$HC" --once --port "$UP" \
		--port "$DOWN" >"$T/out" 2>"$T/err" && status=0 || status=$?
	assert_equal "$status" 1 # 99 would be valgrind's error exit
	grep -qx 'At least one health check failed' "$T/out"
	clean
}

@test "valgrind: --singleflight --lock-file, leader then a run of its own: clean" {
	vg --inetd --singleflight --lock-file "$T/lock" --port "$UP"
	assert_equal "$status" 0
	answer_is 'HTTP/1.0 200 OK' 'OK'
	clean
	[ -f "$T/lock.result" ]
	vg --inetd --singleflight --lock-file "$T/lock" --port "$UP" --port "$DOWN"
	assert_equal "$status" 0
	answer_is 'HTTP/1.0 504 Gateway Timeout' 'At least one health check failed'
	clean
	# A garbage result file on the way.
	head -c 200 /dev/urandom >"$T/lock.result"
	vg --inetd --singleflight --lock-file "$T/lock" --port "$UP"
	answer_is 'HTTP/1.0 200 OK' 'OK'
	clean
}

@test "valgrind: --singleflight follower waits for a native leader's result: clean" {
	# The leader's run lasts until the follower (slow to start under
	# valgrind) has the lock file open: it then finds the run in flight.
	printf '#!/bin/sh\necho $$ >>%s\nn=0\nwhile [ ! -e %s ] && [ $n -lt 300 ]; do sleep 0.05; n=$((n + 1)); done\n' \
		"$T/runs" "$T/go" >"$T/slow"
	chmod +x "$T/slow"
	# The checks' meaning includes the environment scripts get, and
	# valgrind adds to it (LD_PRELOAD, ...): the leader gets the same.
	local vgenv
	vgenv=$("${VG[@]}" env | grep -E '^(GLIBC(PP|XX)_FORCE_NEW|LD_LIBRARY_PATH|LD_PRELOAD)=')
	# shellcheck disable=SC2086
	bg env $vgenv sh -c 'exec "$@" <"$0"' "$T/req" "$HC" --inetd --singleflight \
		--lock-file "$T/lock" --script-timeout 30 --script "$T/slow" \
		>"$T/leader" 2>"$T/leader.err"
	local leader=$BG_PID
	wait_until 5 test -s "$T/runs"
	"${VG[@]}" --log-file="$T/vg.log" "$HC" --inetd --singleflight \
		--lock-file "$T/lock" --script-timeout 30 --script "$T/slow" \
		<"$T/req" >"$T/answer" 2>"$T/err" 3>&- &
	local follower=$! st=0
	wait_until 30 sh -c 'ls -l /proc/[0-9]*/fd 2>/dev/null | grep -c " $1\$" | grep -qv "^[01]\$"' \
		sh "$T/lock"
	touch "$T/go"
	wait "$follower" || st=$?
	wait "$leader"
	assert_equal "$st" 0
	assert_equal "$(status_line "$T/leader")" 'HTTP/1.0 200 OK'
	answer_is 'HTTP/1.0 200 OK' 'OK'
	assert_equal "$(wc -l <"$T/runs")" 1 # the follower ran nothing
	clean
}

@test "valgrind: --cache-ttl served from the state file: clean" {
	vg --inetd --cache-ttl 60 --lock-file "$T/lock" --port "$UP"
	answer_is 'HTTP/1.0 200 OK' 'OK'
	clean
	vg --inetd --cache-ttl 60 --lock-file "$T/lock" --port "$UP" --log-level debug
	answer_is 'HTTP/1.0 200 OK' 'OK'
	grep -q 'cache: ' "$T/err"
	clean
}

@test "valgrind: the standalone server over 60 requests of every kind, then SIGTERM: clean" {
	local port rc=0 i
	port=$(free_port)
	bg "${VG[@]}" --log-file="$T/vg.log" "$HC" --listener "127.0.0.1:$port" \
		--port "$UP" --request-timeout 1 2>"$T/err"
	local pid=$BG_PID
	wait_until 30 grep -q "listening on 127.0.0.1:$port\$" "$T/err"
	for i in $(seq 20); do
		curl -s -o /dev/null --max-time 10 "http://127.0.0.1:$port/$i"
	done
	"$BATS_TEST_DIRNAME/hostile/client" mixed 127.0.0.1 "$port" 30 --threads 4 \
		>"$T/mixed"
	assert_equal "$(cat "$T/mixed")" "done=30 wrong=0 first_wrong=-"
	"$BATS_TEST_DIRNAME/hostile/client" storm 127.0.0.1 "$port" 10 >/dev/null
	# An idle connection still open at SIGTERM, and one mid-head.
	exec 8<>"/dev/tcp/127.0.0.1/$port"
	exec 9<>"/dev/tcp/127.0.0.1/$port"
	printf 'GET / HTTP/1.1\r\n' >&9
	curl -s -o "$T/answer" --max-time 10 "http://127.0.0.1:$port/last"
	assert_equal "$(cat "$T/answer")" OK
	kill -TERM "$pid"
	wait "$pid" || rc=$?
	exec 8>&- 9>&-
	assert_equal "$rc" 0
	clean
}
