#!/usr/bin/env bats
# Hostile clients, hostile checks and hostile singleflight files, against the
# standalone server (--listener) and against one-shots under
# systemd-socket-activate -a (a process per connection, the connection on
# fd 3).  After each: the answer came in time, the server still answers, and
# nothing is left behind: no process, no descriptor, no file in /tmp.
# Complements http.bats (the one-shot's bad requests, byte by byte),
# server.bats, script.bats (--once) and singleflight.bats.

setup() {
	load helpers
	common_setup
	HOSTILE=$BATS_TEST_DIRNAME/hostile/client
	SCRIPTS=$BATS_TEST_DIRNAME/scripts
	# A script killed by SIGSEGV must not leave a core file behind either.
	ulimit -c 0
	TMP_BEFORE=$(tmp_names)
	# $T/mark: a passing check that records its PID in $T/pids.
	mkscript mark 'echo $$ >>"'"$T"'/pids"'
}

teardown() {
	common_teardown
}

# --- helpers -----------------------------------------------------------------

# tmp_names: what health-checker could leave in /tmp (its private state
# directory and anything named after it).
tmp_names() {
	find /tmp -maxdepth 1 -name 'health-checker*' 2>/dev/null | sort
}

# up server|oneshot ARGS...: health-checker with ARGS on 127.0.0.1:PORT,
# either the standalone server (HC_PID, its descriptor count in BASE_FDS) or
# systemd-socket-activate -a starting a one-shot per connection (SA_PID).
up() {
	MODE=$1
	shift
	PORT=$(free_port)
	# Per-request log lines, which the tests read, are debug.
	set -- --log-level debug "$@"
	if [ "$MODE" = server ]; then
		start_hc --listener "127.0.0.1:$PORT" "$@"
		wait_until 5 grep -q "listening on 127.0.0.1:$PORT\$" "$T/hc.log" ||
			return 1
		BASE_FDS=$(fd_count)
	else
		bg systemd-socket-activate -l "127.0.0.1:$PORT" -a -- "$HC" "$@" \
			2>>"$T/hc.log"
		SA_PID=$BG_PID
		wait_until 5 grep -q "^Listening on 127.0.0.1:$PORT" "$T/hc.log"
	fi
}

fd_count() {
	find "/proc/$HC_PID/fd" -mindepth 1 -maxdepth 1 | wc -l
}

# children_of PID: the PIDs of its children (zombies included), if any.
children_of() {
	cat "/proc/$1"/task/*/children 2>/dev/null | tr -s ' \n' ' ' |
		sed 's/^ //; s/ $//'
}

# settled: the server holds its base descriptors and has no child; under
# systemd-socket-activate every one-shot has exited.
settled() {
	if [ "$MODE" = server ]; then
		[ "$(fd_count)" -eq "$BASE_FDS" ] && [ -z "$(children_of "$HC_PID")" ]
	else
		[ -z "$(children_of "$SA_PID")" ]
	fi
}

# pids_gone FILE: every PID recorded in FILE is gone.
pids_gone() {
	local pid
	[ -f "$1" ] || return 0
	for pid in $(cat "$1"); do
		wait_until 2 gone "$pid" || {
			echo "PID $pid from $1 still runs: $(tr '\0' ' ' <"/proc/$pid/cmdline")" >&2
			return 1
		}
	done
}

# show: the state of things, for a failure message.
show() {
	{
		echo "--- mode $MODE"
		if [ "$MODE" = server ]; then
			echo "fds now $(fd_count), at start $BASE_FDS; children: $(children_of "$HC_PID")"
			ls -l "/proc/$HC_PID/fd"
		else
			echo "one-shots still running: $(children_of "$SA_PID")"
		fi
		echo "--- log"
		tail -n 40 "$T/hc.log"
	} >&2
}

# nothing_left: no descriptor, child, script process or /tmp file left over.
nothing_left() {
	if ! wait_until 5 settled; then
		show
		return 1
	fi
	pids_gone "$T/pids"
	assert_equal "$(tmp_names)" "$TMP_BEFORE"
}

# still_serves: the server (or a new one-shot) still answers a plain
# request with 200 (every test's checks pass unless it says otherwise),
# then nothing is left over.
still_serves() {
	if [ "$MODE" = server ]; then
		kill -0 "$HC_PID" || {
			echo "health-checker (PID $HC_PID) is gone" >&2
			show
			return 1
		}
	fi
	ask 'GET /after HTTP/1.0\r\n\r\n'
	assert_answer 'HTTP/1.0 200 OK' 'OK'
	nothing_left
}

# ask FMT [client.py ARGS]: FMT's bytes through client.py to PORT; the answer
# in $T/answer, the client's status in $cstatus (3: the server did not
# close), the time taken in $ms.
ask() {
	local fmt=$1 start
	shift
	start=$(date +%s%N)
	# shellcheck disable=SC2059
	printf "$fmt" | python3 "$CLIENT" 127.0.0.1 "$PORT" --timeout 8 "$@" \
		>"$T/answer" && cstatus=0 || cstatus=$?
	ms=$(ms_since "$start")
	echo "answered in ${ms}ms (client status $cstatus)" >&2
}

# assert_answer STATUS-LINE BODY: exact status line and body of $T/answer.
assert_answer() {
	if ! assert_equal "$(status_line "$T/answer")" "$1" ||
		! assert_equal "$(body "$T/answer"; echo .)" "$2."; then
		echo "--- answer:" >&2
		od -c "$T/answer" | head -n 20 >&2
		show
		return 1
	fi
}

# kv KEY: the value of KEY in the key=value line in $output.
kv() {
	tr ' ' '\n' <<<"$output" | sed -n "s/^$1=//p"
}

# --- hostile clients -----------------------------------------------------------

slowloris() {
	up "$1" --request-timeout 1 --script "$T/mark"
	ask 'GET /slowloris HTTP/1.1\r\nHost: lb\r\nUser-Agent: slowloris\r\n\r\n' \
		--slow 0.5
	assert_equal "$cstatus" 0
	assert_answer 'HTTP/1.1 408 Request Timeout' '408 Request Timeout'
	[ "$ms" -ge 900 ]
	[ "$ms" -lt 2500 ]
	not test -e "$T/pids" # the checks never ran
	still_serves
}

@test "server: slowloris (a byte every 0.5 s) gets 408 at --request-timeout 1" {
	slowloris server
}

@test "one-shot: slowloris (a byte every 0.5 s) gets 408 at --request-timeout 1" {
	slowloris oneshot
}

# 64 KiB of header lines sent at once: the server reads at most 8 KiB of
# head and answers 431.  The client may still be sending when the server
# closes; a reset then is fine, the server must live on.
big_head() {
	up "$1" --script "$T/mark"
	run "$HOSTILE" flood 127.0.0.1 "$PORT" 65536 --max-time 8
	echo "$output"
	[ "$status" -eq 0 ]
	case $(kv status):$(kv ended) in
	431:*) ;;
	none:reset | none:epipe) ;;
	*)
		show
		return 1
		;;
	esac
	not test -e "$T/pids"
	still_serves
}

@test "server: 64 KiB of headers get 431 (or a reset), the server lives on" {
	big_head server
}

@test "one-shot: 64 KiB of headers get 431 (or a reset), the next one-shot answers" {
	big_head oneshot
}

# A head of 8193 bytes, then nothing: the answer comes at once, from the
# first 8 KiB, not at --request-timeout for the rest.
just_over() {
	up "$1" --request-timeout 5 --script "$T/mark"
	run "$HOSTILE" flood 127.0.0.1 "$PORT" 8193 --max-time 8
	echo "$output"
	[ "$status" -eq 0 ]
	assert_equal "$(kv status)" 431
	[ "$(kv answer_ms)" -ge 0 ]
	[ "$(kv answer_ms)" -lt 2000 ]
	not test -e "$T/pids"
	still_serves
}

@test "server: 8193 bytes of head then silence: 431 at once, not 408 later" {
	just_over server
}

@test "one-shot: 8193 bytes of head then silence: 431 at once, not 408 later" {
	just_over oneshot
}

# A head that never ends, sent as fast as the kernel takes it: the server
# answers 431, stops reading soon after (it drains a little so the answer is
# not reset away) and the connection ends: it does not read without bound.
endless_head() {
	up "$1" --request-timeout 5 --script "$T/mark"
	run "$HOSTILE" flood 127.0.0.1 "$PORT" 0 --max-time 10
	echo "$output"
	[ "$status" -eq 0 ]
	case $(kv ended) in
	reset | epipe | eof) ;;
	*)
		echo "the server read for 10 s without end" >&2
		show
		return 1
		;;
	esac
	[ "$(kv end_ms)" -lt 4000 ]
	case $(kv status) in 431 | none) ;; *) return 1 ;; esac
	not test -e "$T/pids"
	still_serves
}

@test "server: a head without end: 431, then the server stops reading and closes" {
	endless_head server
}

@test "one-shot: a head without end: 431, then it stops reading and exits" {
	endless_head oneshot
}

garbage() {
	up "$1" --script "$T/mark"
	# 4 KiB of the same pseudo-random bytes every run.
	run "$HOSTILE" garbage 127.0.0.1 "$PORT" 7 4096
	echo "$output"
	[ "$status" -eq 0 ]
	assert_equal "$(kv status)" 400
	[ "$(kv ms)" -lt 2000 ]
	ask 'GET /\0 HTTP/1.1\r\nHost: lb\r\n\r\n'
	assert_answer 'HTTP/1.1 400 Bad Request' '400 Bad Request'
	ask '\0\0\0\0\r\n\r\n'
	assert_answer 'HTTP/1.1 400 Bad Request' '400 Bad Request'
	# A TLS ClientHello, as a misconfigured HTTPS check sends.
	ask '\026\003\001\002\000\001\000\001\374\003\003\r\n\r\n'
	assert_answer 'HTTP/1.1 400 Bad Request' '400 Bad Request'
	not test -e "$T/pids"
	still_serves
}

@test "server: binary garbage and NUL bytes get 400" {
	garbage server
}

@test "one-shot: binary garbage and NUL bytes get 400" {
	garbage oneshot
}

long_line() {
	up "$1" --script "$T/mark"
	ask "GET /$(printf '%*s' 10000 '' | tr ' ' a) HTTP/1.1\\r\\nHost: lb\\r\\n\\r\\n"
	assert_answer 'HTTP/1.1 431 Request Header Fields Too Large' \
		'431 Request Header Fields Too Large'
	not test -e "$T/pids"
	still_serves
}

@test "server: a 10 KB request line gets 431" {
	long_line server
}

@test "one-shot: a 10 KB request line gets 431" {
	long_line oneshot
}

half_close() {
	up "$1" --script "$T/mark"
	ask 'GET /half HTTP/1.1\r\nHost: lb\r\n\r\n' --half-close
	assert_equal "$cstatus" 0
	assert_answer 'HTTP/1.1 200 OK' 'OK'
	# and the checks ran for it
	assert_equal "$(wc -l <"$T/pids")" 1
	still_serves
}

@test "server: a client that half-closes after its request gets the answer" {
	half_close server
}

@test "one-shot: a client that half-closes after its request gets the answer" {
	half_close oneshot
}

# A client that sends a request and never reads the answer, holding its
# connection: others are answered meanwhile, and its connection is closed
# on our side (the one-shot exits) while it still holds it.
no_reader() {
	up "$1" --script "$T/mark"
	bg "$HOSTILE" noread 127.0.0.1 "$PORT" --hold 30 >"$T/noread"
	local reader=$BG_PID
	wait_until 5 grep -qx sent "$T/noread"
	wait_until 5 grep -q ' GET /noread$' "$T/hc.log"
	ask 'GET /other HTTP/1.0\r\n\r\n'
	assert_answer 'HTTP/1.0 200 OK' 'OK'
	[ "$ms" -lt 1500 ]
	nothing_left
	kill -0 "$reader" # it still holds its end
	still_serves
}

@test "server: a client that never reads does not block others and is closed" {
	no_reader server
}

@test "one-shot: a client that never reads: the one-shot still exits" {
	no_reader oneshot
}

# quiet_closes N: the log shows at least N connections closed without a
# request (at EOF, or reset by the client).
quiet_closes() {
	[ "$(grep -c ' debug connection 127\.0\.0\.1:[0-9]* closed without a request$\| debug request 127\.0\.0\.1:[0-9]*: read: ' \
		"$T/hc.log")" -ge "$1" ]
}

@test "server: a storm of 1000 connect-and-close (a quarter reset) leaves nothing" {
	up server --script "$T/mark" --log-level debug
	run "$HOSTILE" storm 127.0.0.1 "$PORT" 1000 --parallel 4 --max-time 30
	echo "$output"
	[ "$status" -eq 0 ]
	assert_equal "$(kv "done")" 1000
	# Every connection dealt with (closed at EOF, or reset), quietly: no
	# request logged, checks never run.
	wait_until 10 quiet_closes 1000 || {
		show
		return 1
	}
	not grep -E ' debug request 127\.0\.0\.1:[0-9]+ [A-Z]+ ' "$T/hc.log"
	not test -e "$T/pids"
	still_serves
}

@test "one-shot: a storm of 300 connect-and-close through systemd-socket-activate -a" {
	up oneshot --script "$T/mark"
	run "$HOSTILE" storm 127.0.0.1 "$PORT" 300 --parallel 4 --max-time 20
	echo "$output"
	[ "$status" -eq 0 ]
	assert_equal "$(kv "done")" 300
	wait_until 20 eval '[ "$(grep -c "^Child [0-9]* died" "$T/hc.log")" -ge 300 ]' || {
		show
		return 1
	}
	nothing_left
	# Each of them exited 0: a client that sent nothing is no failure.
	if grep '^Child [0-9]* died' "$T/hc.log" | grep -v 'with code 0$' >&2; then
		return 1
	fi
	not test -e "$T/pids"
	still_serves
}

# --- hostile checks ------------------------------------------------------------

# check_answer MODE STATUS-LINE BODY ARGS...: one request to a checker run
# with ARGS; its exact answer within 2.5 s, then nothing of it left.
check_answer() {
	local mode=$1 want=$2 text=$3
	shift 3
	up "$mode" --details "$@"
	ask 'GET /check HTTP/1.0\r\n\r\n'
	assert_equal "$cstatus" 0
	if ! assert_equal "$(status_line "$T/answer")" "$want" ||
		! grep -Eq "$text" "$T/answer"; then
		echo "wanted a line matching: $text" >&2
		cat "$T/answer" >&2
		show
		return 1
	fi
	[ "$ms" -lt 2500 ]
	nothing_left
}

ignores_term() {
	mkscript stubborn 'trap "" TERM
echo $$ >>"'"$T"'/pids"
sleep 30 &
echo $! >>"'"$T"'/pids"
wait'
	check_answer "$1" 'HTTP/1.0 504 Gateway Timeout' \
		"^fail script $T/stubborn [0-9]+ms timed out\$" \
		--script-timeout 1 --script "$T/stubborn"
	assert_equal "$(wc -l <"$T/pids")" 2
}

@test "server: a script ignoring SIGTERM (and its child) is killed at the deadline" {
	ignores_term server
}

@test "one-shot: a script ignoring SIGTERM (and its child) is killed at the deadline" {
	ignores_term oneshot
}

# The daemon leaves the group with setsid and keeps the pipe open: beyond
# reach by design, so the test kills it (by PID) in teardown.  The verdict
# comes when the script exits, before the 1 s deadline: 200, not 504.
setsid_daemon() {
	command -v setsid >/dev/null || skip "no setsid"
	mkscript daemon 'setsid sh -c '\''echo $$ >"'"$T"'/daemon.pid"; exec sleep 30'\'' &
while [ ! -s "'"$T"'/daemon.pid" ]; do sleep 0.01; done
echo $$ >>"'"$T"'/pids"
echo started'
	up "$1" --details --script-timeout 1 --script "$T/daemon"
	ask 'GET /check HTTP/1.0\r\n\r\n'
	[ -s "$T/daemon.pid" ] && PIDS+=("$(cat "$T/daemon.pid")")
	assert_equal "$cstatus" 0
	assert_equal "$(status_line "$T/answer")" 'HTTP/1.0 200 OK'
	grep -Eq "^ok script $T/daemon [0-9]+ms\$" "$T/answer"
	[ "$ms" -lt 2500 ]
	# The daemon runs on, holding the pipe; we hold nothing of it.
	kill -0 "$(cat "$T/daemon.pid")"
	nothing_left
}

@test "server: a setsid daemon holding the pipe: verdict at the script's exit, no fd held" {
	setsid_daemon server
}

@test "one-shot: a setsid daemon holding the pipe: verdict at the script's exit, exits" {
	setsid_daemon oneshot
}

closes_output() {
	mkscript quiet 'echo $$ >>"'"$T"'/pids"
exec >&- 2>&-
exec sleep 30'
	check_answer "$1" 'HTTP/1.0 504 Gateway Timeout' \
		"^fail script $T/quiet [0-9]+ms timed out\$" \
		--script-timeout 1 --script "$T/quiet"
}

@test "server: a script that closes its output, then sleeps past the deadline" {
	closes_output server
}

@test "one-shot: a script that closes its output, then sleeps past the deadline" {
	closes_output oneshot
}

writes_100mb() {
	mkscript flood 'echo $$ >>"'"$T"'/pids"
exec head -c 100000000 /dev/zero'
	check_answer "$1" 'HTTP/1.0 200 OK' "^ok script $T/flood [0-9]+ms\$" \
		--script-timeout 5 --script "$T/flood"
}

@test "server: a script writing 100 MB passes promptly" {
	writes_100mb server
}

@test "one-shot: a script writing 100 MB passes promptly" {
	writes_100mb oneshot
}

segfaults() {
	mkscript segv 'echo $$ >>"'"$T"'/pids"
kill -SEGV $$'
	check_answer "$1" 'HTTP/1.0 504 Gateway Timeout' \
		"^fail script $T/segv [0-9]+ms killed by signal 11\$" \
		--script-timeout 1 --script "$T/segv"
	grep -Eq "debug check script $T/segv fail [0-9]+ms killed by signal 11" \
		"$T/hc.log"
}

@test "server: a script dying of SIGSEGV: killed by signal 11" {
	segfaults server
}

@test "one-shot: a script dying of SIGSEGV: killed by signal 11" {
	segfaults oneshot
}

# blackhole: a loopback port whose connects neither succeed nor fail (a
# listener that never accepts, its backlog filled); the port in BPORT.
blackhole() {
	start_listener -n || return 1
	BPORT=$LPORT
	bg "$SCRIPTS/fill-backlog" "$BPORT" "$T/filled.$BPORT"
	wait_until 10 test -s "$T/filled.$BPORT"
}

blackholed_port() {
	blackhole
	check_answer "$1" 'HTTP/1.0 504 Gateway Timeout' \
		"^fail tcp 127\\.0\\.0\\.1:$BPORT [0-9]+ms timed out\$" \
		--port-timeout 1 --port "$BPORT"
}

@test "server: a blackholed --port times out at --port-timeout 1, socket closed" {
	blackholed_port server
}

@test "one-shot: a blackholed --port times out at --port-timeout 1" {
	blackholed_port oneshot
}

# --- hostile singleflight files ------------------------------------------------

# pipe_get ARGS...: one request on a pipe; $T/answer, $T/err, $status.
pipe_get() {
	inetd_request 'GET / HTTP/1.0\r\n\r\n' "$@"
	cat "$T/err" >>"$T/hc.log"
}

runs() {
	if [ -f "$T/pids" ]; then wc -l <"$T/pids"; else echo 0; fi
}

# A file we did not create is never chmod-ed: 0644 of ours is used as it
# is, one that others may write is refused.
@test "a lock file pre-created 0644: right answers, its mode left alone" {
	: >"$T/lock"
	chmod 0644 "$T/lock"
	pipe_get --singleflight --lock-file "$T/lock" --script "$T/mark"
	assert_equal "$status" 0
	assert_answer 'HTTP/1.0 200 OK' 'OK'
	assert_equal "$(runs)" 1
	assert_equal "$(stat -c %a "$T/lock")" 644
	chmod 0666 "$T/lock"
	pipe_get --singleflight --lock-file "$T/lock" --script false
	assert_equal "$status" 0
	assert_answer 'HTTP/1.0 504 Gateway Timeout' 'At least one health check failed'
	assert_equal "$(stat -c %a "$T/lock")" 666
	grep -q " warning singleflight: lock file $T/lock: writable by others" \
		"$T/err"
}

@test "a result file of another owner is ignored: the checks run" {
	[ "$(id -u)" -eq 0 ] || skip "needs root to chown"
	id nobody >/dev/null 2>&1 || skip "no user nobody"
	local args=(--singleflight --cache-ttl 60 --lock-file "$T/lock"
		--script "$T/mark")
	pipe_get "${args[@]}"
	assert_answer 'HTTP/1.0 200 OK' 'OK'
	assert_equal "$(runs)" 1
	# Our own fresh result is served from the file within the TTL ...
	pipe_get "${args[@]}"
	assert_answer 'HTTP/1.0 200 OK' 'OK'
	assert_equal "$(runs)" 1
	# ... the same bytes owned by somebody else are not.
	chown nobody "$T/lock.result"
	pipe_get "${args[@]}"
	assert_equal "$status" 0
	assert_answer 'HTTP/1.0 200 OK' 'OK'
	assert_equal "$(runs)" 2
	# A foreign result saying "healthy" does not hide a check that now fails.
	chown nobody "$T/lock.result"
	mkscript mark 'echo $$ >>"'"$T"'/pids"; exit 1'
	pipe_get "${args[@]}"
	assert_answer 'HTTP/1.0 504 Gateway Timeout' 'At least one health check failed'
	assert_equal "$(runs)" 3
}

@test "a lock file of another owner: right answers, the file left alone" {
	[ "$(id -u)" -eq 0 ] || skip "needs root to chown"
	id nobody >/dev/null 2>&1 || skip "no user nobody"
	: >"$T/lock"
	chmod 0640 "$T/lock"
	chown nobody "$T/lock"
	pipe_get --singleflight --lock-file "$T/lock" --script "$T/mark"
	assert_equal "$status" 0
	assert_answer 'HTTP/1.0 200 OK' 'OK'
	pipe_get --singleflight --lock-file "$T/lock" --script "$T/mark"
	assert_answer 'HTTP/1.0 200 OK' 'OK'
	assert_equal "$(runs)" 2
	assert_equal "$(stat -c '%U %a' "$T/lock")" "nobody 640"
}

@test "a lock path under a file (not a directory): a warning, right answers" {
	: >"$T/file"
	pipe_get --singleflight --lock-file "$T/file/lock" --script "$T/mark"
	assert_equal "$status" 0
	assert_answer 'HTTP/1.0 200 OK' 'OK'
	grep -q ' warning singleflight: .*file/lock' "$T/err" || {
		cat "$T/err" >&2
		return 1
	}
	pipe_get --singleflight --lock-file "$T/file/lock" --script false
	assert_equal "$status" 0
	assert_answer 'HTTP/1.0 504 Gateway Timeout' 'At least one health check failed'
	# The server too: it goes on sharing runs within itself.
	up server --singleflight --lock-file "$T/file/lock" --script "$T/mark"
	ask 'GET / HTTP/1.0\r\n\r\n'
	assert_answer 'HTTP/1.0 200 OK' 'OK'
	grep -q ' warning singleflight: ' "$T/hc.log"
	assert_equal "$(runs)" 2
	assert_equal "$(cat "$T/file")" ""
	nothing_left
}

# in_private_tmp SCRIPT: runs sh SCRIPT with $1 = the checker in a mount
# namespace of its own whose /tmp is an empty tmpfs (so the real /tmp, and
# whatever health-checker-UID it holds, is never touched); 97: cannot.
in_private_tmp() {
	# The checker is held open on fd 9 and run from there: a checker
	# under /tmp stays reachable when the tmpfs hides it.
	env -u RUNTIME_DIRECTORY unshare -m sh -c "
		mount --make-rprivate / 2>/dev/null
		mount -t tmpfs -o mode=1777 tmpfs /tmp || exit 97
		$1" sh /dev/fd/9 9<"$HC"
}

# private_tmp_works: in_private_tmp can be used (root, unshare -m allowed).
private_tmp_works() {
	[ "$(id -u)" -eq 0 ] && command -v unshare >/dev/null &&
		unshare -m true 2>/dev/null
}

@test "default state dir: /tmp/health-checker-UID created 0700 (no RUNTIME_DIRECTORY, no /run/health-checker)" {
	[ ! -e /run/health-checker ] || skip "/run/health-checker exists: it would be used"
	local uid dir
	uid=$(id -u)
	dir=/tmp/health-checker-$uid
	if private_tmp_works; then
		# shellcheck disable=SC2016
		run in_private_tmp '
			printf "GET / HTTP/1.0\r\n\r\n" | "$1" --inetd --singleflight \
				--script true 2>/dev/null | head -n 1 | tr -d "\r"
			stat -c "%a %u %F" /tmp/health-checker-$(id -u)
			find /tmp/health-checker-$(id -u) -name "state-*" ! -name "*.result" \
				! -name "*.verdict" \
				-exec stat -c "%a %F" {} +'
	elif [ ! -e "$dir" ]; then
		# No namespace: the real /tmp, and we remove only what we made.
		run sh -c '
			printf "GET / HTTP/1.0\r\n\r\n" | env -u RUNTIME_DIRECTORY "$1" \
				--inetd --singleflight --script true 2>/dev/null |
				head -n 1 | tr -d "\r"
			stat -c "%a %u %F" "$2"
			find "$2" -name "state-*" ! -name "*.result" ! -name "*.verdict" \
				-exec stat -c "%a %F" {} +
			' sh "$HC" "$dir"
		rm -rf "$dir"
	else
		skip "$dir exists already and no private /tmp can be had"
	fi
	echo "$output"
	[ "$status" -eq 0 ]
	assert_equal "${lines[0]}" "HTTP/1.0 200 OK"
	assert_equal "${lines[1]}" "700 $uid directory"
	assert_equal "${lines[2]}" "600 regular empty file"
}

@test "default state dir squatted by another user: not used, right answers" {
	[ ! -e /run/health-checker ] || skip "/run/health-checker exists: it would be used"
	private_tmp_works || skip "no private /tmp (needs root and unshare -m)"
	id nobody >/dev/null 2>&1 || skip "no user nobody"
	# shellcheck disable=SC2016
	run in_private_tmp '
		d=/tmp/health-checker-$(id -u)
		mkdir -m 0777 "$d" && chown nobody "$d" && chmod 0777 "$d"
		printf "GET / HTTP/1.0\r\n\r\n" | "$1" --inetd --singleflight \
			--script true 2>/tmp/err | head -n 1 | tr -d "\r"
		printf "GET / HTTP/1.0\r\n\r\n" | "$1" --inetd --singleflight \
			--script false 2>>/tmp/err | head -n 1 | tr -d "\r"
		echo "files: $(ls -A "$d" | wc -l)"
		grep -c " warning .*$d" /tmp/err'
	echo "$output"
	[ "$status" -eq 0 ]
	assert_equal "${lines[0]}" "HTTP/1.0 200 OK"
	assert_equal "${lines[1]}" "HTTP/1.0 504 Gateway Timeout"
	assert_equal "${lines[2]}" "files: 0"
	# Said once, not at every probe (a private fallback is used instead).
	assert_equal "${lines[3]}" 1
}
