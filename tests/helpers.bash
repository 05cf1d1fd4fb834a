# Shared by every suite: temporary directory, background processes recorded
# by PID and killed by PID in teardown, waiting with deadlines.
# shellcheck shell=bash
# Variables set here (LPORT, HC_PID, status, ...) are read by the suites.
# shellcheck disable=SC2034

HC=${HC:-$BATS_TEST_DIRNAME/../health-checker}
case $HC in /*) ;; *) HC=$PWD/$HC ;; esac
LISTEN=$BATS_TEST_DIRNAME/listen
CLIENT=$BATS_TEST_DIRNAME/client.py

common_setup() {
	T=$(mktemp -d "${BATS_TMPDIR:-/tmp}/hc-test.XXXXXX")
	PIDS=()
}

common_teardown() {
	local pid deadline
	for pid in "${PIDS[@]}"; do
		kill -TERM "$pid" 2>/dev/null
	done
	deadline=$((SECONDS + 5))
	for pid in "${PIDS[@]}"; do
		while kill -0 "$pid" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ]; do
			sleep 0.02
		done
		kill -KILL "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	done
	rm -rf "$T"
}

# wait_until SECONDS CMD...: polls CMD until it succeeds or the deadline.
wait_until() {
	local limit=$1 end
	shift
	end=$(($(date +%s%N) + ${limit%.*} * 1000000000))
	until "$@"; do
		if [ "$(date +%s%N)" -ge "$end" ]; then
			echo "wait_until: gave up after ${limit}s: $*" >&2
			return 1
		fi
		sleep 0.02
	done
}

# bg CMD...: runs CMD in the background, fd 3 closed (or bats waits for it),
# its PID recorded for teardown and left in BG_PID.
bg() {
	"$@" 3>&- &
	BG_PID=$!
	PIDS+=("$BG_PID")
}

# start_listener [-n] [ADDR]: a fixture TCP listener; its port in LPORT.
start_listener() {
	local out
	out=$(mktemp "$T/listen.XXXXXX")
	bg "$LISTEN" "$@" >"$out"
	LISTENER_PID=$BG_PID
	wait_until 5 test -s "$out" || return 1
	LPORT=$(head -n 1 "$out")
}

# free_port: a TCP port nobody listens on right now.
# free_port: a port free on every address of both families (a dual-stack
# [::] bind), so that wildcard listeners find it free too; IPv4 alone where
# there is no IPv6.
free_port() {
	python3 -c '
import socket
try:
    s = socket.socket(socket.AF_INET6)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    s.bind(("::", 0))
except OSError:
    s = socket.socket()
    s.bind(("0.0.0.0", 0))
print(s.getsockname()[1])'
}

port_open() { # HOST PORT
	(exec 9<>"/dev/tcp/$1/$2") 2>/dev/null
}

wait_port() { # PORT [HOST]
	wait_until 5 port_open "${2:-127.0.0.1}" "$1"
}

# start_hc ARGS...: health-checker in the background, log in $T/hc.log.
start_hc() {
	bg "$HC" "$@" 2>>"$T/hc.log"
	HC_PID=$BG_PID
}

# as_user UID CMD...: exec CMD as a user of its own (no name needed), its
# state directory in $T: the process limit counts that user's processes
# alone.  exec: under bg, the PID recorded is CMD's own.
as_user() {
	local uid=$1
	shift
	chmod 755 "$T"
	mkdir -p "$T/run-$uid"
	chown "$uid:$uid" "$T/run-$uid"
	RUNTIME_DIRECTORY=$T/run-$uid exec setpriv --reuid="$uid" \
		--regid="$uid" --clear-groups "$@"
}

# stdin_from FILE CMD...: CMD with FILE on stdin (bash gives a background
# job /dev/null otherwise); exec keeps the PID bg recorded.
stdin_from() {
	local f=$1
	shift
	exec "$@" <"$f"
}

# serve ARGS...: a server on 127.0.0.1 at a free port (in PORT), up.
serve() {
	PORT=$(free_port)
	start_hc --listener "127.0.0.1:$PORT" "$@"
	wait_until 5 grep -q "listening on 127.0.0.1:$PORT\$" "$T/hc.log"
}

# mkscript NAME BODY: an executable sh script $T/NAME running BODY.
mkscript() {
	printf '#!/bin/sh\n%s\n' "$2" >"$T/$1"
	chmod +x "$T/$1"
}

# inetd_request REQUEST ARGS...: the bytes of REQUEST (printf format) on a
# pipe to a one-shot checker; the answer in $T/answer, the status in
# $status, stderr in $T/err.
inetd_request() {
	local req=$1
	shift
	# shellcheck disable=SC2059
	printf "$req" | "$HC" --inetd "$@" >"$T/answer" 2>"$T/err"
	status=$?
}

# status_line FILE: the first line of an answer, CR removed.
status_line() {
	head -n 1 "$1" | tr -d '\r'
}

# body FILE: what follows the empty line of an answer.
body() {
	sed '1,/^\r\{0,1\}$/d' "$1"
}

# assert_equal ACTUAL EXPECTED: prints both when they differ.
assert_equal() {
	if [ "$1" != "$2" ]; then
		printf 'expected: %q\nactual:   %q\n' "$2" "$1" >&2
		return 1
	fi
}

# ms_since START_NS: milliseconds elapsed.
ms_since() {
	echo $((($(date +%s%N) - $1) / 1000000))
}

# gone PID: the process no longer exists (or is a zombie of somebody else).
gone() {
	! kill -0 "$1" 2>/dev/null || grep -q '^State:.*Z' "/proc/$1/status" 2>/dev/null
}

# socket_activate OPTIONS... -- CMD...: systemd-socket-activate OPTIONS on a
# free loopback port running CMD; the port in APORT, its messages in
# $T/sa.log.  A port taken between free_port and the bind is tried again.
socket_activate() {
	local try
	for try in 1 2 3; do
		APORT=$(free_port)
		bg systemd-socket-activate -l "127.0.0.1:$APORT" "$@" 2>"$T/sa.log"
		wait_until 5 grep -q '^Listening on' "$T/sa.log" && return 0
		echo "socket_activate: try $try failed: $(cat "$T/sa.log")" >&2
	done
	return 1
}

# not CMD...: succeeds when CMD fails (a bare "!" never fails a bats test).
not() {
	if "$@"; then
		return 1
	fi
}

# ns_start [-n]: a private mount namespace (and with -n a network namespace
# of its own, loopback up) held by a sleeping process, PID in NS; in_ns runs
# commands in it.  Its mounts vanish with it at teardown.
ns_start() {
	local flags=(--mount --propagation private)
	[ "${1-}" = -n ] && flags+=(--net)
	bg unshare "${flags[@]}" sleep 600
	NS=$BG_PID
	wait_until 5 ns_ready || return 1
	if [ "${1-}" = -n ]; then
		in_ns ip link set lo up
	fi
}

ns_ready() {
	[ "$(readlink "/proc/$NS/ns/mnt")" != "$(readlink /proc/self/ns/mnt)" ]
}

# in_ns CMD...: CMD in the namespaces of ns_start.
in_ns() {
	nsenter -t "$NS" -m -n -- "$@"
}

# bg_ns CMD...: bg, in the namespaces of ns_start: nsenter execs CMD, so
# BG_PID is CMD's own PID (a function such as in_ns would leave it the PID
# of a subshell, and teardown would miss CMD).
bg_ns() {
	bg nsenter -t "$NS" -m -n -- "$@"
}

# ns_file PATH TEXT: inside the namespace, PATH holds TEXT (a bind mount of
# a file in $T, which ns_file may rewrite in place later).
ns_file() {
	local f
	f="$T/ns$(printf '%s' "$1" | tr / _)"
	printf '%s\n' "$2" >"$f"
	if ! grep -qs "^$1\$" "$T/ns.mounted"; then
		in_ns mount --bind "$f" "$1" && echo "$1" >>"$T/ns.mounted"
	fi
}

# verify_own_lines: the lines of systemd-analyze verify's output (stdin)
# that are not about another package's unit.  verify loads what our units
# pull in (sysinit.target, sockets.target and what the host hangs off
# them), so a warning about a unit of the host's (ldirectord's
# KillMode=none) is host state, not ours: a line naming a unit (file) that
# is not health-checker's is dropped, every other line kept.
verify_own_lines() {
	awk '
	match($0, /^[^ :]*\.(service|socket|target|timer|path|mount|automount|swap|slice|scope|device)(:[0-9]+)?:/) {
		if (substr($0, 1, RLENGTH) !~ /health-checker/)
			next
	}
	{ print }'
}
