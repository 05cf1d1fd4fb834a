#!/usr/bin/env bats
# The README's two opening commands on a bare machine: a fresh debootstrap
# --variant=minbase root of the host's release (and of Debian 13), without
# apt lists, as container images ship, the tree copied in.  The first
# command, taken verbatim from README.md, must build the checker and show a
# 200 and a 504; the second's install part (tests/deps) must be enough for
# what make check builds and for a suite.  The roots are built once and
# cached under /var/tmp (debootstrap into a temporary directory, renamed
# into place under a lock); each test runs on an overlay of its own.
# Needs root, debootstrap, overlayfs and apt's mirror.

setup() {
	load helpers
	common_setup
	REPO=$(cd "$BATS_TEST_DIRNAME/.." && pwd)
	[ "$(id -u)" -eq 0 ] || skip "needs root (debootstrap, chroot, overlayfs)"
	command -v debootstrap >/dev/null || PATH=$PATH:/usr/sbin:/sbin
	command -v debootstrap >/dev/null ||
		skip "debootstrap is not installed (Debian package: debootstrap)"
	CACHE=/var/tmp
	INSIDE_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
}

teardown() {
	local m d
	if [ -n "${MERGED:-}" ]; then
		# Whatever the commands left running in the root (started by
		# this test: nothing else has that root), then the mounts.
		for d in /proc/[0-9]*; do
			[ "$(readlink "$d/root" 2>/dev/null)" = "$MERGED" ] &&
				kill -KILL "${d#/proc/}" 2>/dev/null
		done
		awk -v p="$MERGED" '$2 == p || index($2, p "/") == 1 { print $2 }' \
			/proc/self/mounts | sort -r | while read -r m; do
			umount "$m" 2>/dev/null || umount -l "$m"
		done
	fi
	common_teardown
}

# Changing this builds new roots.
ROOT_VERSION=1

host_suite() {
	(. /etc/os-release && echo "${VERSION_CODENAME:-}")
}

# mirror SUITE: the archive apt uses for SUITE, else Debian's own.
mirror() {
	local m
	m=$(apt-get indextargets --format '$(REPO_URI) $(RELEASE)' \
		'Identifier: Packages' 2>/dev/null | awk -v s="$1" '$2 == s { print $1; exit }')
	echo "${m:-http://deb.debian.org/debian/}"
}

# bare_root SUITE: the cached minbase root of SUITE (built unless there),
# its path in ROOT.  sudo is its one addition, for the test as a user; the
# tests that run as root remove it again.  A release the mirror does not
# serve skips.
bare_root() {
	local suite=$1 arch key
	arch=$(dpkg --print-architecture)
	key=$(printf '%s\n' "$ROOT_VERSION" "$suite" "$arch" | sha256sum | cut -c1-12)
	ROOT=$CACHE/health-checker-bare-root-$suite-$key
	[ -d "$ROOT" ] && return 0
	(
		flock -w 900 9 || exit 1
		[ -d "$ROOT" ] && exit 0
		rm -rf --one-file-system "$ROOT".tmp.*
		tmp=$(mktemp -d "$ROOT.tmp.XXXXXX") || exit 1
		trap 'rm -rf --one-file-system "$tmp"' EXIT
		echo "# building $ROOT ($suite, a few minutes)" >&3
		start=$SECONDS
		if ! setsid debootstrap --variant=minbase --arch="$arch" \
			--include=sudo "$suite" "$tmp" "$(mirror "$suite")" \
			</dev/null >"$ROOT.log" 2>&1 3>&-; then
			tail -n 20 "$ROOT.log" >&2
			exit 1
		fi
		# As container images ship: no lists, no downloaded
		# packages, and no service started by a package's postinst.
		rm -rf "$tmp"/var/lib/apt/lists/* "$tmp"/var/cache/apt/archives/*.deb
		printf '#!/bin/sh\nexit 101\n' >"$tmp/usr/sbin/policy-rc.d"
		chmod 755 "$tmp/usr/sbin/policy-rc.d"
		mv -T "$tmp" "$ROOT" || exit 1
		trap - EXIT
		echo "# built in $((SECONDS - start)) s" >&3
	) 9>"$ROOT.lock"
	[ -d "$ROOT" ] || {
		if grep -q 'Failed getting release file' "$ROOT.log" 2>/dev/null; then
			skip "the mirror does not serve $suite"
		fi
		echo "building the $suite root failed; its log: $ROOT.log" >&2
		return 1
	}
}

# fresh SUITE: an overlay of SUITE's root at $MERGED, the tree copied to
# /src (tracked and new files, no build output), /proc and /dev mounted,
# the host's resolver; no apt lists.
fresh() {
	bare_root "$1" || return 1
	mkdir -p "$T/upper" "$T/work" "$T/merged"
	mount -t overlay overlay \
		-o "lowerdir=$ROOT,upperdir=$T/upper,workdir=$T/work" "$T/merged"
	MERGED=$T/merged
	mount -t proc proc "$MERGED/proc"
	mount --rbind /dev "$MERGED/dev"
	cp /etc/resolv.conf "$MERGED/etc/resolv.conf"
	mkdir "$MERGED/src"
	(cd "$REPO" && git ls-files -z --cached --others --exclude-standard |
		xargs -0 cp --parents -a -t "$MERGED/src")
	[ -f "$MERGED/src/README.md" ] && [ ! -e "$MERGED/src/health-checker" ]
	assert_equal "$(find "$MERGED/var/lib/apt/lists" -name '*Packages*' | wc -l)" 0
}

# inside [USER] CMD: CMD by sh -c in /src of the root, a clean environment,
# as root or USER; stdout+stderr in $T/out, status in $status.
inside() {
	local spec=() home=/root
	if [ $# -eq 2 ]; then
		spec=(--userspec="$1:$1")
		home=/home/$1
		shift
	fi
	chroot "${spec[@]}" "$MERGED" /usr/bin/env -i PATH="$INSIDE_PATH" \
		HOME="$home" LANG=C.UTF-8 TERM=dumb sh -c "cd /src && $1" \
		</dev/null >"$T/out" 2>&1 3>&-
	status=$?
}

# readme_command N: the README's Nth opening command, verbatim.
readme_command() {
	awk -v n="$1" '/^```/ { if (open) exit; open = 1; next }
		open && ++i == n { print; exit }' "$REPO/README.md"
}

# answers: the 200 and the 504 the first command shows, in this order,
# each with its exact body.
answers() {
	local out=$T/out
	grep -q $'^HTTP/1.0 200 OK\r$' "$out"
	grep -q $'^HTTP/1.0 504 Gateway Timeout\r$' "$out"
	assert_equal "$(grep -a '^HTTP/' "$out" | tr -d '\r' | tr '\n' '|')" \
		"HTTP/1.0 200 OK|HTTP/1.0 504 Gateway Timeout|"
	# The body follows the blank line after the headers: OK, then the
	# failure's text (the command's echo ends each).
	assert_equal "$(awk '/^\r$/ { getline; print }' "$out" | tr '\n' '|')" \
		"OK|At least one health check failed|"
}

# first_command SUITE [USER]: the README's first command in a fresh root.
first_command() {
	local cmd start
	cmd=$(readme_command 1)
	[ -n "$cmd" ]
	fresh "$1" || return 1
	if [ -z "${2:-}" ]; then
		# Root on a machine that never had sudo.
		rm -f "$MERGED/usr/bin/sudo"
	else
		chroot "$MERGED" useradd -m "$2"
		echo "$2 ALL=(ALL) NOPASSWD: ALL" >"$MERGED/etc/sudoers.d/$2"
		chmod 440 "$MERGED/etc/sudoers.d/$2"
		chroot "$MERGED" chown -R "$2:$2" /src
	fi
	start=$SECONDS
	inside ${2:+"$2"} "$cmd"
	echo "# $1${2:+ as $2}: exit $status in $((SECONDS - start)) s: $cmd" >&3
	sed -n '/^HTTP\//,$p' "$T/out" | sed 's/^/# /' >&3
	cat "$T/out" >&2
	[ "$status" -eq 0 ]
	answers
}

@test "README's first command in a bare root of the host's release, as root without sudo: builds, answers 200 and 504" {
	first_command "$(host_suite)"
}

@test "README's first command in a bare root of the host's release, as a user with sudo" {
	first_command "$(host_suite)" newcomer
}

@test "README's first command in a bare root of Debian 13 (trixie), as root" {
	[ "$(host_suite)" != trixie ] || skip "the host runs trixie: the first test covers it"
	first_command trixie
}

@test ".ci/run runs exactly the README's second command" {
	cmd=$(readme_command 2)
	[ -n "$cmd" ]
	assert_equal "$(grep -v '^#' "$REPO/.ci/run" | grep -v '^$' | tail -n 1)" "$cmd"
}

# second_command SUITE: the second command's install part in a fresh root
# of SUITE, then what make check builds and one suite, all inside.
second_command() {
	local cmd install start
	cmd=$(readme_command 2)
	# The part before "&& make check", verbatim; the whole suite inside
	# the suite would take too long.
	install=${cmd%% && make check}
	[ "$install" != "$cmd" ]
	fresh "$1" || return 1
	rm -f "$MERGED/usr/bin/sudo"
	start=$SECONDS
	inside "$install"
	echo "# $1: $install: exit $status in $((SECONDS - start)) s" >&3
	tail -n 5 "$T/out" >&2
	[ "$status" -eq 0 ]
	start=$SECONDS
	inside "make health-checker health-checker-asan health-checker-static health-checker-static-aarch64 tests/listen werror"
	echo "# $1: make (check's builds, werror with clang): exit $status in $((SECONDS - start)) s" >&3
	tail -n 20 "$T/out" >&2
	[ "$status" -eq 0 ]
	start=$SECONDS
	inside "tests/run tests/static.bats"
	echo "# $1: tests/run tests/static.bats: exit $status in $((SECONDS - start)) s: $(tail -n 1 "$T/out")" >&3
	cat "$T/out" >&2
	[ "$status" -eq 0 ]
	# Nothing skipped for want of a program.
	assert_equal "$(tail -n 1 "$T/out")" "8 passed, 0 failed"
}

@test "README's second command: its install part in a bare root is enough for every build make check needs and a suite" {
	second_command "$(host_suite)"
}

@test "README's second command in a bare root of Debian 13 (trixie): the same" {
	[ "$(host_suite)" != trixie ] || skip "the host runs trixie: the test above covers it"
	second_command trixie
}
