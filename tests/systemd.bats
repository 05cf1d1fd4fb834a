#!/usr/bin/env bats
# Under a real systemd: one Debian container for the whole file, booted by
# tests/systemd/container (root cached under /var/tmp, an overlay per run, a
# private network), the build installed into it with make install, and
# requests made with curl from inside.

CONTAINER=$BATS_TEST_DIRNAME/systemd/container

# bats 1.8 cannot skip from setup_file: it leaves the reason to setup.
setup_file() {
	load helpers
	case $HC in
	*-asan)
		export SKIP_REASON="systemd suite runs against the plain build only"
		return 0
		;;
	esac
	if [ "$(id -u)" -ne 0 ]; then
		export SKIP_REASON="needs root (systemd-nspawn, overlay mounts)"
	elif ! command -v systemd-nspawn >/dev/null; then
		export SKIP_REASON="systemd-nspawn is not installed (Debian package: systemd-container)"
	elif ! command -v debootstrap >/dev/null && [ ! -x /usr/sbin/debootstrap ]; then
		export SKIP_REASON="debootstrap is not installed (Debian package: debootstrap)"
	fi
	[ -z "${SKIP_REASON:-}" ] || return 0
	export CT=$BATS_FILE_TMPDIR/container
	make -s -C "$BATS_TEST_DIRNAME/.." tests/listen 3>&- || return 1
	"$CONTAINER" start "$CT" 3>&- || return 1
	"$CONTAINER" install "$CT" 3>&-
}

teardown_file() {
	if [ -n "${CT:-}" ]; then
		"$CONTAINER" stop "$CT" 3>&-
	fi
}

setup() {
	[ -z "${SKIP_REASON:-}" ] || skip "$SKIP_REASON"
	load helpers
	UNDO=$BATS_TEST_TMPDIR/undo
}

# Runs what the test asked to undo, last first; a failure fails the test,
# as the next test would not start clean.
teardown() {
	local line rc=0
	[ -f "${UNDO:-}" ] || return 0
	while read -r line; do
		if ! ct sh -c "$line" </dev/null; then
			echo "teardown: failed inside the container: $line" >&2
			rc=1
		fi
	done < <(tac "$UNDO")
	return "$rc"
}

# ct CMD...: CMD inside the container, given a minute at most.
ct() {
	timeout 60 "$CONTAINER" exec "$CT" "$@"
}

# undo LINE: a shell command line run inside the container at teardown.
undo() {
	printf '%s\n' "$1" >>"$UNDO"
}

# keep PATH: PATH inside gets back what it holds now (or goes away) at
# teardown.
keep() {
	if ct test -e "$1"; then
		ct cp -a "$1" "$1.bats-saved"
		undo "mv -f '$1.bats-saved' '$1'"
	else
		undo "rm -f '$1'"
	fi
}

# write PATH TEXT: PATH inside holds TEXT and a newline.
write() {
	printf '%s\n' "$2" | ct sh -c 'cat >"$1"' sh "$1"
}

# open_inside PORT: something accepts on 127.0.0.1:PORT inside.
open_inside() {
	ct bash -c 'exec 9<>"/dev/tcp/127.0.0.1/$1"' bash "$1" 2>/dev/null
}

# get: GET http://127.0.0.1:5000/ with curl inside; "BODY\nCODE" in
# $output.
get() {
	run ct curl -sS -m 10 -w '\n%{http_code}' http://127.0.0.1:5000/
	if [ "$status" -ne 0 ]; then
		echo "curl failed ($status): $output" >&2
		return 1
	fi
}

@test "the container runs systemd as PID 1, and it is running" {
	run ct cat /proc/1/comm
	assert_equal "$output" systemd
	run ct readlink /proc/1/exe
	assert_equal "$output" /usr/lib/systemd/systemd
	run ct systemctl is-system-running
	if [ "$output" != running ]; then
		ct systemctl --failed --no-pager >&2
	fi
	assert_equal "$output" running
	# Its own PID namespace: the host sees its PID 1 as another PID.
	leader=$(cat "$CT/leader.pid")
	[ "$(readlink "/proc/$leader/ns/pid")" != "$(readlink /proc/self/ns/pid)" ]
}

@test "make install: binary and units in place; the socket answers 200, and 504 for a closed port" {
	ct test -x /usr/bin/health-checker
	ct /usr/bin/health-checker --version
	for unit in health-checker.socket health-checker@.service health-checker.service; do
		ct test -f "/etc/systemd/system/$unit"
	done
	# The units name the installed binary.
	ct grep -q '^ExecStart=/usr/bin/health-checker --inetd ' /etc/systemd/system/health-checker@.service

	"$CONTAINER" cp "$CT" "$LISTEN" /usr/local/bin/listen
	undo "rm -f /usr/local/bin/listen"
	undo "systemctl stop hc-test-listen.service 2>/dev/null; ! systemctl -q is-active hc-test-listen.service"
	ct systemd-run --quiet --collect --unit=hc-test-listen /usr/local/bin/listen 127.0.0.1 7000
	wait_until 10 open_inside 7000

	keep /etc/default/health-checker
	write /etc/default/health-checker 'HEALTH_CHECKER_OPTS="--port 7000"'
	undo "systemctl disable --quiet --now health-checker.socket"
	ct systemctl enable --quiet --now health-checker.socket
	get
	assert_equal "$output" "$(printf 'OK\n200')"

	run ct ss -Hltn 'sport = :7001'
	assert_equal "$output" ""
	write /etc/default/health-checker 'HEALTH_CHECKER_OPTS="--port 7001"'
	get
	assert_equal "$output" "$(printf 'At least one health check failed\n504')"

	# Unhealthy answers exit 0: no failed instance left behind.
	run ct systemctl list-units --failed --no-legend --plain 'health-checker@*'
	assert_equal "$output" ""
}

@test "the container's network is private: only lo" {
	run ct ip -br link
	[ "$status" -eq 0 ]
	assert_equal "$(printf '%s\n' "$output" | awk '{ print $1 }')" lo
	leader=$(cat "$CT/leader.pid")
	[ "$(readlink "/proc/$leader/ns/net")" != "$(readlink /proc/self/ns/net)" ]
}
