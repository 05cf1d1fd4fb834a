# Shared by the suites that drive the container of tests/systemd/container
# (systemd.bats, package.bats): run inside, undo at teardown, and reach the
# container's private network from the host.  Expects CONTAINER (the
# script), CT (its state directory), UNDO (a file of lines to undo), PIDS.
# shellcheck shell=bash

# host_release: the host's Debian codename (bookworm, trixie).
host_release() {
	(
		# shellcheck disable=SC1091
		. /etc/os-release && echo "${VERSION_CODENAME:-}"
	)
}

# release: the Debian release the container runs, HC_RELEASE (tests/run
# sets it for each pass) or the host's.
release() {
	echo "${HC_RELEASE:-$(host_release)}"
}

# container_unavailable: why the container cannot run on this machine, or
# nothing when it can: no root or no tools, or a release whose root is not
# cached and that the mirror does not serve.
container_unavailable() {
	local why
	if [ "$(id -u)" -ne 0 ]; then
		echo "needs root (systemd-nspawn, overlay mounts)"
	elif ! command -v systemd-nspawn >/dev/null; then
		echo "systemd-nspawn is not installed (Debian package: systemd-container)"
	elif ! command -v debootstrap >/dev/null && [ ! -x /usr/sbin/debootstrap ]; then
		echo "debootstrap is not installed (Debian package: debootstrap)"
	elif ! why=$("$CONTAINER" available 2>&1); then
		echo "Debian $(release) cannot be had: $why"
	fi
}

# container_boot: the suite's container booted at CT (exported), with
# tests/listen built for the listeners run inside it.
container_boot() {
	export CT=$BATS_FILE_TMPDIR/container
	make -s -C "$BATS_TEST_DIRNAME/.." tests/listen 3>&- || return 1
	"$CONTAINER" start "$CT" 3>&-
}

# ct CMD...: CMD inside the container, given a minute at most.
ct() {
	timeout 60 "$CONTAINER" exec "$CT" "$@"
}

# undo LINE: a shell command line run inside the container at teardown.
undo() {
	printf '%s\n' "$1" >>"$UNDO"
}

# container_teardown: what bg started on the host, by PID; then what the
# test asked to undo inside, last first.  A failure fails the test: the
# next one would not start where it expects.
container_teardown() {
	local line rc=0 pid
	for pid in "${PIDS[@]}"; do
		kill -TERM "$pid" 2>/dev/null
	done
	for pid in "${PIDS[@]}"; do
		wait_until 5 gone "$pid" || kill -KILL "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	done
	[ -f "${UNDO:-}" ] || return 0
	while read -r line; do
		if ! ct sh -c "$line" </dev/null; then
			echo "teardown: failed inside the container: $line" >&2
			rc=1
		fi
	done < <(tac "$UNDO")
	return "$rc"
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

# code [PORT [SECONDS]]: the status curl gets inside (000: none).
code() {
	ct curl -s -o /dev/null -w '%{http_code}' -m "${2:-10}" \
		"http://127.0.0.1:${1:-5000}/" || true
}

# listen_inside PORT: the fixture listener on 127.0.0.1:PORT inside, as a
# transient unit; it (and its copy) go at teardown.
listen_inside() {
	ct test -x /usr/local/bin/listen || {
		"$CONTAINER" cp "$CT" "$LISTEN" /usr/local/bin/listen
		undo "rm -f /usr/local/bin/listen"
	}
	undo "systemctl stop hc-listen-$1.service 2>/dev/null; true"
	ct systemd-run --quiet --collect --unit="hc-listen-$1" \
		/usr/local/bin/listen 127.0.0.1 "$1"
	wait_until 10 open_inside "$1"
}

# netns CMD...: a program of the host's in the container's network (its
# private loopback), for load and fake servers the root has no python for.
netns() {
	nsenter -t "$(cat "$CT/leader.pid")" -n -- "$@"
}

# bg_netns CMD...: the same in the background; nsenter execs CMD, so
# BG_PID is CMD's and teardown stops it.
bg_netns() {
	bg nsenter -t "$(cat "$CT/leader.pid")" -n -- "$@"
}
