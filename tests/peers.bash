# HAProxy and xinetd on loopback, shared by peers.bats and haproxy.bats
# (loaded after helpers.bash): starting them from a config of the test's
# own or the shipped contrib file, reading HAProxy's stats socket.
# shellcheck shell=bash
# Variables set here (XPORT, HAPROXY_PID, ...) are read by the suites.
# shellcheck disable=SC2034

need() { # PROGRAM PACKAGE: skip unless PROGRAM is installed
	command -v "$1" >/dev/null 2>&1 && return 0
	[ -x "/usr/sbin/$1" ] && return 0
	skip "$1 is not installed (Debian package: $2)"
}

sbin() { # PROGRAM: its path (daemons live in /usr/sbin, often not in PATH)
	command -v "$1" 2>/dev/null || echo "/usr/sbin/$1"
}

# show FILE...: the files on stderr, for a failing test's output.
show() {
	local f
	for f in "$@"; do
		echo "--- $f" >&2
		cat "$f" >&2 2>/dev/null
	done
}

# failed FILE...: show the files, then fail.
failed() {
	show "$@"
	return 1
}

# kill_listener PID: the fixture listener is gone, its port closed.
kill_listener() {
	kill "$1"
	wait_until 5 gone "$1"
}

# --- xinetd ---------------------------------------------------------------

# start_xinetd CHECKS [FILE]: the real xinetd in the foreground with the
# shipped FILE (default contrib/xinetd.health-checker), rewritten for this
# test: a free loopback port, the built binary, its server_args' checks
# replaced by CHECKS (its other options, those before the first --port or
# --script: the request deadline, --agent, kept), user root (or no user
# switch when we are not root) and its state in $T, not the package's user
# and /run/health-checker.  The port in XPORT.
start_xinetd() {
	local file=${2:-$REPO/contrib/xinetd.health-checker} args user_sed
	args="$(awk '$1 == "server_args" {
		for (i = 3; i <= NF && $i != "--port" && $i != "--script"; i++)
			printf "%s ", $i
	}' "$file")$1"
	XPORT=$(free_port)
	if [ "$(id -u)" -eq 0 ]; then
		user_sed='s|^\([[:space:]]*user[[:space:]]*=\).*|\1 root|'
	else
		user_sed='/^[[:space:]]*user[[:space:]]*=/d'
	fi
	{
		printf 'defaults\n{\n}\n'
		sed -e "s|^\\([[:space:]]*port[[:space:]]*=\\).*|\\1 $XPORT|" \
			-e "s|^\\([[:space:]]*server[[:space:]]*=\\).*|\\1 $HC|" \
			-e "s|^\\([[:space:]]*server_args[[:space:]]*=\\).*|\\1 $args|" \
			-e "$user_sed" \
			-e '/^[[:space:]]*group[[:space:]]*=/d' \
			-e "s|RUNTIME_DIRECTORY=/run/health-checker|RUNTIME_DIRECTORY=$T|" \
			-e 's|^{$|{\n\tbind\t\t= 127.0.0.1|' \
			"$file"
	} >"$T/xinetd.conf"
	# Each rewrite took: the shipped file still has the lines this expects.
	grep -Eq "^[[:space:]]*port[[:space:]]*= $XPORT\$" "$T/xinetd.conf" &&
		grep -Fq "= $HC" "$T/xinetd.conf" &&
		grep -Fq "= $args" "$T/xinetd.conf" &&
		grep -Eq '^[[:space:]]*bind[[:space:]]*= 127\.0\.0\.1$' "$T/xinetd.conf" || {
		show "$T/xinetd.conf"
		echo "$file no longer has the expected lines" >&2
		return 1
	}
	bg "$(sbin xinetd)" -dontfork -stayalive -f "$T/xinetd.conf" \
		-pidfile "$T/xinetd.pid" -filelog "$T/xinetd.log"
	XINETD_PID=$BG_PID
	wait_port "$XPORT" || {
		show "$T/xinetd.conf" "$T/xinetd.log"
		return 1
	}
}

# --- HAProxy --------------------------------------------------------------

# stats COMMAND: COMMAND on HAProxy's stats socket, the answer on stdout.
stats() {
	python3 "$BATS_TEST_DIRNAME/peers/haproxy-stats.py" ask "$T/stats.sock" "$1"
}

# server_state: "OP_STATE CHECK_RESULT" of server b/s (op state 2 = UP,
# 0 = DOWN; check result 3 = passed, 2 = failed).
server_state() {
	stats "show servers state b" | awk '$2 == "b" && $4 == "s" { print $6, $12 }'
}
is_up() { [ "$(server_state)" = "2 3" ]; }
is_down() { [ "$(server_state)" = "0 2" ]; }

# start_haproxy WATCHED CHECKPORT HTTPCHK-LINES: HAProxy in the foreground
# with backend b, server s on WATCHED, checked over HTTP on CHECKPORT with
# the given option httpchk / http-check lines, fast timings.
start_haproxy() {
	haproxy_backend "$3" "server s 127.0.0.1:$1 check port $2 inter 200 fall 1 rise 1"
}

# haproxy_backend LINES SERVER-LINE: HAProxy in the foreground with backend
# b made of LINES and SERVER-LINE (server s), its stats socket in
# $T/stats.sock, its log in $T/haproxy.log.
haproxy_backend() {
	cat >"$T/haproxy.cfg" <<-EOF
		global
		    stats socket $T/stats.sock mode 600 level admin
		defaults
		    mode tcp
		    timeout connect 2s
		    timeout client 5s
		    timeout server 5s
		    timeout check 3s
		backend b
		$1
		    $2
	EOF
	bg "$(sbin haproxy)" -f "$T/haproxy.cfg" -db 2>"$T/haproxy.log" >&2
	HAPROXY_PID=$BG_PID
	wait_until 5 test -S "$T/stats.sock" || {
		show "$T/haproxy.cfg" "$T/haproxy.log"
		return 1
	}
}
