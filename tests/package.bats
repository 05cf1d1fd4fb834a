#!/usr/bin/env bats
# The Debian package: built once with dpkg-buildpackage from a copy of the
# working tree, checked with lintian, then installed, used, upgraded, removed
# and purged inside the real systemd container of the systemd suite
# (tests/systemd/container), never on this machine.  For the release of
# HC_RELEASE (tests/run runs the file once per release): on the host when
# that is the host's release, else in that release's build root (container
# run), with its own debhelper and lintian.  The container tests run
# in order on one container, each from where the previous one left the
# package: installed, configured, upgraded, removed, purged.

CONTAINER=$BATS_TEST_DIRNAME/systemd/container
REPO=$BATS_TEST_DIRNAME/..

# bats 1.8 cannot skip from setup_file: it leaves the reasons to setup and
# to need_container.
setup_file() {
	load helpers
	load systemd/helpers
	case $HC in
	*-asan | *-static)
		export SKIP_REASON="package suite runs against the plain build only"
		return 0
		;;
	esac
	local cmd
	export IN_ROOT=
	if [ "$(release)" = "$(host_release)" ]; then
		for cmd in dpkg-buildpackage:dpkg-dev dh:debhelper lintian:lintian; do
			if ! command -v "${cmd%%:*}" >/dev/null; then
				export SKIP_REASON="${cmd%%:*} is not installed (Debian package: ${cmd#*:})"
				return 0
			fi
		done
		# dpkg-buildpackage requires build-essential besides
		# Build-Depends.
		if [ "$(dpkg-query -W -f '${db:Status-Status}' build-essential 2>/dev/null)" != installed ]; then
			export SKIP_REASON="build-essential is not installed (dpkg-buildpackage needs it)"
			return 0
		fi
	else
		# Another release: built and checked in its build root.
		SKIP_REASON=$(container_unavailable)
		export SKIP_REASON
		[ -z "$SKIP_REASON" ] || return 0
		IN_ROOT=yes
	fi
	export VERSION ARCH PKGDIR DEB
	VERSION=$(sed -n 's/^#define VERSION "\(.*\)"$/\1/p' "$REPO/src/version.h")
	ARCH=$(dpkg --print-architecture)
	PKGDIR=$BATS_FILE_TMPDIR/pkg
	DEB=$PKGDIR/health-checker_${VERSION}_$ARCH.deb
	echo "# package suite: Debian $(release)" >&3
	build_package
	CT_SKIP_REASON=$(container_unavailable)
	export CT_SKIP_REASON
	[ -z "$CT_SKIP_REASON" ] || return 0
	container_boot || return 1
	# The container's files before the package: what purge must get back.
	snapshot >"$BATS_FILE_TMPDIR/before" || return 1
}

teardown_file() {
	if [ -n "${CT:-}" ]; then
		"$CONTAINER" stop "$CT" 3>&-
	fi
}

# build_package: the working tree as a clean checkout has it (tracked and
# untracked files that .gitignore does not exclude: no build output, no
# debian/ build directories, uncommitted work included) copied to
# $PKGDIR/health-checker, built with dpkg-buildpackage -us -uc -b; its
# status in $PKGDIR/build.status, its output in $PKGDIR/build.log, then
# lintian's on the .changes in $PKGDIR/lintian.log.  Failures are left to
# the tests to report.
build_package() {
	local src=$PKGDIR/health-checker changes rc
	mkdir -p "$src" || return 1
	if git -C "$REPO" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
		git -C "$REPO" ls-files -z -c -o --exclude-standard |
			(cd "$REPO" && while IFS= read -r -d '' f; do
				# Tracked but deleted in the working tree: not there.
				if [ -e "$f" ] || [ -L "$f" ]; then
					printf '%s\0' "$f"
				fi
			done) |
			tar -C "$REPO" --null -T - -cf - | tar -C "$src" -xf - ||
			return 1
	else
		tar -C "$REPO" --exclude=.git -cf - . | tar -C "$src" -xf - &&
			make -s -C "$src" clean || return 1
	fi
	# Not the caller's make flags (make check runs this under make).
	rc=0
	if [ -n "$IN_ROOT" ]; then
		timeout 900 "$CONTAINER" run "$PKGDIR" sh -c \
			'cd /build/health-checker && dpkg-buildpackage -us -uc -b'
	else
		(cd "$src" && timeout 900 env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL \
			dpkg-buildpackage -us -uc -b)
	fi >"$PKGDIR/build.log" 2>&1 </dev/null 3>&- || rc=$?
	echo "$rc" >"$PKGDIR/build.status"
	changes=$PKGDIR/health-checker_${VERSION}_$ARCH.changes
	[ "$rc" -eq 0 ] && [ -f "$changes" ] || return 0
	# Everything, pedantic and experimental tags included, overrides
	# shown; its status in $PKGDIR/lintian.status (not 0: it did not run
	# to the end).
	rc=0
	if [ -n "$IN_ROOT" ]; then
		"$CONTAINER" run "$PKGDIR" lintian --version
	else
		lintian --version
	fi >"$PKGDIR/lintian.version" 2>&1 </dev/null 3>&-
	if [ -n "$IN_ROOT" ]; then
		timeout 600 "$CONTAINER" run "$PKGDIR" lintian --fail-on none \
			-EvIL +pedantic --show-overrides --tag-display-limit 0 \
			"/build/${changes##*/}"
	else
		timeout 600 lintian --fail-on none -EvIL +pedantic --show-overrides \
			--tag-display-limit 0 "$changes"
	fi >"$PKGDIR/lintian.out" 2>&1 </dev/null 3>&- || rc=$?
	echo "$rc" >"$PKGDIR/lintian.status"
	grep -v -e '^running with root privileges' -e '^N:' \
		"$PKGDIR/lintian.out" >"$PKGDIR/lintian.log" || true
}

setup() {
	# Loaded first: teardown runs after a skip too.
	load helpers
	load systemd/helpers
	[ -z "${SKIP_REASON:-}" ] || skip "$SKIP_REASON"
	UNDO=$BATS_TEST_TMPDIR/undo
	PIDS=()
}

teardown() {
	container_teardown
}

need_container() {
	[ -z "${CT_SKIP_REASON:-}" ] || skip "$CT_SKIP_REASON"
	[ -n "${CT:-}" ] || {
		echo "no container: setup_file failed" >&2
		return 1
	}
}

# snapshot: every path of the container's root file system, with its type,
# sorted.  -xdev leaves out what is mounted apart and volatile anyway: /proc,
# /sys, /dev, /run and /tmp (tmpfs; what the package leaves there is
# checked by name).  Pruned: what the system writes on its own while the
# suite runs, which the package never touches: /var/log (the journal, its
# rotations, dpkg.log: health-checker logs to the journal only), /var/cache
# and /var/lib/apt (apt's daily timer may run), /var/lib/systemd/timers
# (its stamps).
snapshot() {
	ct find / -xdev \( -path /var/log -o -path /var/cache -o \
		-path /var/lib/apt -o -path /var/lib/systemd/timers \) -prune \
		-o -printf '%y %p\n' | LC_ALL=C sort
}

# quiet_dpkg: dpkg's $output says nothing of a warning or an error (a
# maintainer script's complaint, a failed systemctl).
quiet_dpkg() {
	not grep -qiE 'warn|error|fail|denied|not found' <<<"$output"
}

# assert_man_finds ROOT: man-db, looking only under ROOT's /usr/share/man,
# finds the packaged page and renders its NAME line.
assert_man_finds() {
	run env MANPATH="$1/usr/share/man" man -w health-checker
	echo "$output" >&2
	assert_equal "$output" "$1/usr/share/man/man8/health-checker.8.gz"
	run env MANPATH="$1/usr/share/man" MANPAGER=cat MANWIDTH=80 man health-checker
	[ "$status" -eq 0 ]
	grep -q '^ *health-checker .* answer load balancer health checks' <<<"$output"
}

# units_state: "is-enabled is-active" of the three units, one line each.
units_state() {
	local u
	for u in health-checker.socket health-checker.service health-checker-server.socket; do
		echo "$u $(ct systemctl is-enabled "$u") $(ct systemctl is-active "$u")"
	done
}

# --- the build -----------------------------------------------------------------

@test "dpkg-buildpackage -us -uc -b on a clean copy builds health-checker_VERSION_ARCH.deb with Debian's flags and the Makefile's" {
	local status_file=$PKGDIR/build.status
	if [ "$(cat "$status_file" 2>/dev/null)" != 0 ]; then
		echo "dpkg-buildpackage failed ($(cat "$status_file" 2>/dev/null)):" >&2
		tail -n 40 "$PKGDIR/build.log" >&2
		return 1
	fi
	[ -n "$VERSION" ]
	echo "# built $(basename "$DEB")" >&3
	test -f "$DEB"
	assert_equal "$(dpkg-deb -f "$DEB" Package)" health-checker
	# The package's version is the program's: native, in the tree.
	assert_equal "$(dpkg-deb -f "$DEB" Version)" "$VERSION"
	assert_equal "$(dpkg-deb -f "$DEB" Architecture)" "$ARCH"
	# One compiler call with the project's warnings and hardening and
	# dpkg-buildflags' (the prefix map and format-security are Debian's).
	run grep -E '^(cc|gcc|[a-z0-9_-]+-gcc) ' "$PKGDIR/build.log"
	echo "$output" >&2
	grep -q -- '-Wshadow .*-fPIE .*-ffile-prefix-map=.*-Werror=format-security' <<<"$output"
	grep -A3 -E '^(cc|gcc) ' "$PKGDIR/build.log" | grep -q -- '-pie -Wl,-z,relro,-z,now'
	# The project's test suite is not run at build time.
	not grep -q -e 'tests/run' -e 'make.* check' "$PKGDIR/build.log"
}

@test "lintian: no error, and no warning that is not overridden with its reason" {
	test -f "$PKGDIR/lintian.log"
	cat "$PKGDIR/lintian.log" >&2
	assert_equal "$(cat "$PKGDIR/lintian.status")" 0
	echo "# $(cat "$PKGDIR/lintian.version") (Debian $(release)'s)" >&3
	sed 's/^/# lintian: /' "$PKGDIR/lintian.log" >&3
	not grep -q '^E:' "$PKGDIR/lintian.log"
	not grep -q '^W:' "$PKGDIR/lintian.log"
	# Every override carries a comment: a reason.
	local f=$PKGDIR/health-checker/debian/health-checker.lintian-overrides
	awk '/^[^#]/ && $0 != "" && prev !~ /^#/ { bad = 1; print "no reason: " $0 }
		{ if ($0 != "") prev = $0 } END { exit bad }' "$f" >&2
}

@test "the package holds the binary, the man page, the units, the checks, the examples, and /etc/default/health-checker as a conffile" {
	local p x=$BATS_TEST_TMPDIR/x
	test -f "$DEB"
	dpkg-deb -c "$DEB" | awk '{ print $1, $6 }' | sed 's| \./| /|' >"$BATS_TEST_TMPDIR/list"
	cat "$BATS_TEST_TMPDIR/list" >&2
	for p in /usr/bin/health-checker /usr/lib/health-checker/checks/zk-ruok \
		/usr/lib/health-checker/checks/zk-mntr \
		/usr/lib/health-checker/checks/pg-isready \
		/usr/lib/health-checker/checks/redis-ping; do
		grep -qx -- "-rwxr-xr-x $p" "$BATS_TEST_TMPDIR/list"
	done
	for p in /usr/share/man/man8/health-checker.8.gz \
		/usr/lib/systemd/system/health-checker.socket \
		/usr/lib/systemd/system/health-checker@.service \
		/usr/lib/systemd/system/health-checker.service \
		/usr/lib/systemd/system/health-checker-server.socket \
		/usr/share/doc/health-checker/contrib/xinetd.health-checker \
		/usr/share/doc/health-checker/contrib/inetd.conf \
		/usr/share/doc/health-checker/contrib/haproxy.cfg \
		/usr/share/doc/health-checker/contrib/aws-target-group.md \
		/usr/share/doc/health-checker/copyright \
		/etc/default/health-checker; do
		grep -qx -- "-rw-r--r-- $p" "$BATS_TEST_TMPDIR/list"
	done
	# README, compressed or not.
	grep -qE -- '^-rw-r--r-- /usr/share/doc/health-checker/README\.md(\.gz)?$' "$BATS_TEST_TMPDIR/list"
	# The state directory of the superserver forms, and the generator
	# where the release's systemd keeps its own: /lib on bookworm, /usr/lib
	# from trixie on.
	grep -qx -- "-rw-r--r-- /usr/lib/tmpfiles.d/health-checker.conf" "$BATS_TEST_TMPDIR/list"
	run grep -E -- '^-.* (/usr)?/lib/systemd/system-generators/' "$BATS_TEST_TMPDIR/list"
	case $(release) in
	bookworm) assert_equal "$output" "-rwxr-xr-x /lib/systemd/system-generators/health-checker-generator" ;;
	*) assert_equal "$output" "-rwxr-xr-x /usr/lib/systemd/system-generators/health-checker-generator" ;;
	esac
	# No other file under /lib, none under /usr/local or /etc/systemd.
	run awk '/^-/ && $2 ~ "^/(lib|usr/local|etc/systemd)/" &&
		$2 != "/lib/systemd/system-generators/health-checker-generator"' \
		"$BATS_TEST_TMPDIR/list"
	assert_equal "$output" ""
	dpkg-deb --ctrl-tarfile "$DEB" | tar -xOf - ./conffiles >"$BATS_TEST_TMPDIR/conffiles"
	assert_equal "$(cat "$BATS_TEST_TMPDIR/conffiles")" /etc/default/health-checker
	# Unpacked into a directory of our own (not installed): the default is
	# contrib/default, and the units and examples name the installed paths.
	dpkg-deb -x "$DEB" "$x"
	cmp "$x/etc/default/health-checker" "$REPO/contrib/default"
	grep -q '^ExecStart=/usr/bin/health-checker --inetd ' "$x/usr/lib/systemd/system/health-checker@.service"
	grep -q '^ExecStart=/usr/bin/health-checker ' "$x/usr/lib/systemd/system/health-checker.service"
	grep -q '/usr/bin/health-checker' "$x/usr/share/doc/health-checker/contrib/xinetd.health-checker"
	not grep -rq /usr/local "$x/usr/lib/systemd" "$x/usr/share/doc/health-checker/contrib"
}

@test "man health-checker finds the packaged page (host man-db, MANPATH on the unpacked package)" {
	local x=$BATS_TEST_TMPDIR/x
	command -v man >/dev/null || skip "man is not installed (Debian package: man-db)"
	test -f "$DEB"
	dpkg-deb -x "$DEB" "$x"
	assert_man_finds "$x"
}

# --- installed in the container -----------------------------------------------

@test "dpkg -i: health-checker on PATH, its version; the units registered, none enabled, none started, port 5000 closed" {
	need_container
	test -f "$DEB"
	"$CONTAINER" cp "$CT" "$DEB" /run/hc-test/health-checker.deb
	run ct dpkg -i /run/hc-test/health-checker.deb
	echo "$output" >&2
	[ "$status" -eq 0 ]
	quiet_dpkg
	run ct dpkg-query -W -f '${db:Status-Abbrev}${Version}' health-checker
	assert_equal "$output" "ii $VERSION"
	run ct sh -c 'command -v health-checker'
	assert_equal "$output" /usr/bin/health-checker
	run ct health-checker --version
	assert_equal "$output" "health-checker $VERSION"
	# systemd knows the units from the package's directory.
	run ct sh -c 'readlink -f "$(systemctl show -P FragmentPath health-checker.socket)"'
	assert_equal "$output" /usr/lib/systemd/system/health-checker.socket
	run units_state
	echo "$output" >&2
	assert_equal "$output" "$(printf '%s\n' \
		'health-checker.socket disabled inactive' \
		'health-checker.service disabled inactive' \
		'health-checker-server.socket disabled inactive')"
	not open_inside 5000
	run ct pgrep -x health-checker
	assert_equal "$output" ""
	# The superserver forms' state directory, made by the postinst from
	# the tmpfiles.d file, for the package's user alone.
	run ct stat -c '%U %G %a' /run/health-checker
	assert_equal "$output" "health-checker health-checker 700"
}

@test "the installed binary: --once against a listening and a closed port, a contrib check by bare name, an HTTP answer run by hand as a user" {
	local out
	need_container
	listen_inside 7000
	run ct health-checker --once --port 7000
	echo "$output" >&2
	[ "$status" -eq 0 ]
	grep -q '^ok tcp 127.0.0.1:7000 ' <<<"$output"
	run ct health-checker --once --port 7001
	echo "$output" >&2
	[ "$status" -eq 1 ]
	grep -q '^fail tcp 127.0.0.1:7001 ' <<<"$output"
	# zk-ruok from /usr/lib/health-checker/checks, which is not on PATH,
	# against a fake ZooKeeper.
	bg_netns python3 "$BATS_TEST_DIRNAME/peers/fake-server.py" imok "" 2181 >"$BATS_TEST_TMPDIR/zk"
	wait_until 10 test -s "$BATS_TEST_TMPDIR/zk"
	run ct health-checker --once --script 'zk-ruok localhost 2181'
	echo "$output" >&2
	[ "$status" -eq 0 ]
	# A user's own run with --singleflight keeps its state in
	# /tmp/health-checker-UID (no writable /run/health-checker): purge
	# must take it too.  It stays for the purge test.
	out=$(ct sh -c 'printf "GET / HTTP/1.0\r\n\r\n" |
		setpriv --reuid=65534 --regid=65534 --clear-groups \
		health-checker --inetd --singleflight --port 7000')
	echo "$out" >&2
	assert_equal "$(head -n 1 <<<"$out" | tr -d '\r')" "HTTP/1.0 200 OK"
	ct test -d /tmp/health-checker-65534
}

@test "man: the page dpkg installed in the container is the one man health-checker finds (man-db is not in the container root)" {
	need_container
	command -v man >/dev/null || skip "man is not installed on the host (Debian package: man-db)"
	run ct dpkg -S /usr/share/man/man8/health-checker.8.gz
	assert_equal "$output" "health-checker: /usr/share/man/man8/health-checker.8.gz"
	assert_man_finds "$CT/merged"
}

# Leaves the socket enabled and running, /etc/default/health-checker the
# operator's: the upgrade test starts from there.
@test "configured in /etc/default/health-checker and systemctl enable --now health-checker.socket: 200 for a listening port, 504 for a closed one" {
	need_container
	listen_inside 7000
	write /etc/default/health-checker 'HEALTH_CHECKER_OPTS="--port 7000 --singleflight"'
	ct systemctl enable --quiet --now health-checker.socket
	wait_until 10 open_inside 5000
	run ct curl -sS -m 10 -w '\n%{http_code}' http://127.0.0.1:5000/
	assert_equal "$output" "$(printf 'OK\n200')"
	write /etc/default/health-checker 'HEALTH_CHECKER_OPTS="--port 7001 --singleflight"'
	run ct curl -sS -m 10 -w '\n%{http_code}' http://127.0.0.1:5000/
	assert_equal "$output" "$(printf 'At least one health check failed\n504')"
	run ct systemctl list-units --failed --no-legend --plain 'health-checker*'
	assert_equal "$output" ""
	# The units' runtime directory exists now: purge must take it.
	ct test -d /run/health-checker/
}

# A reinstall of the same .deb runs the maintainer scripts of an upgrade
# (preinst upgrade, postinst configure with the old version) and keeps a
# changed conffile the same way.
@test "upgrade: the operator's /etc/default/health-checker kept, the running socket left running, the running standalone server restarted" {
	local sock_id pid
	need_container
	listen_inside 7000
	write /etc/default/health-checker 'HEALTH_CHECKER_OPTS="--port 7000"'
	ct systemctl is-active --quiet health-checker.socket
	sock_id=$(ct systemctl show -P InvocationID health-checker.socket)
	run ct dpkg -i /run/hc-test/health-checker.deb
	echo "$output" >&2
	[ "$status" -eq 0 ]
	quiet_dpkg
	run ct cat /etc/default/health-checker
	assert_equal "$output" 'HEALTH_CHECKER_OPTS="--port 7000"'
	# Not stopped, not restarted: the same run of the socket, answering.
	assert_equal "$(ct systemctl show -P InvocationID health-checker.socket)" "$sock_id"
	assert_equal "$(ct systemctl is-enabled health-checker.socket)" enabled
	assert_equal "$(code)" 200

	# The other form (it stops the socket first).
	ct systemctl start health-checker.service
	wait_until 10 eval '[ "$(code)" = 200 ]'
	pid=$(ct systemctl show -P MainPID health-checker.service)
	[ "$pid" -gt 0 ]
	run ct dpkg -i /run/hc-test/health-checker.deb
	echo "$output" >&2
	[ "$status" -eq 0 ]
	quiet_dpkg
	assert_equal "$(ct systemctl is-active health-checker.service)" active
	[ "$(ct systemctl show -P MainPID health-checker.service)" != "$pid" ]
	assert_equal "$(code)" 200
	assert_equal "$(ct systemctl is-enabled health-checker.socket)" enabled
}

# Starts with the standalone server running and the socket enabled.
@test "dpkg -r: every unit stopped, port 5000 closed, no health-checker process left, the conffile kept" {
	need_container
	ct systemctl is-active --quiet health-checker.service
	run ct dpkg -r health-checker
	echo "$output" >&2
	[ "$status" -eq 0 ]
	quiet_dpkg
	run ct dpkg-query -W -f '${db:Status-Abbrev}' health-checker
	assert_equal "$output" "rc "
	for u in health-checker.socket health-checker.service health-checker-server.socket; do
		assert_equal "$(ct systemctl is-active "$u")" inactive
	done
	not open_inside 5000
	run ct pgrep -x health-checker
	assert_equal "$output" ""
	not ct test -e /usr/bin/health-checker
	run ct cat /etc/default/health-checker
	assert_equal "$output" 'HEALTH_CHECKER_OPTS="--port 7000"'
}

@test "dpkg --purge leaves no file behind: the root as before the install, nothing in /run or /tmp" {
	need_container
	run ct dpkg --purge health-checker
	echo "$output" >&2
	[ "$status" -eq 0 ]
	quiet_dpkg
	not ct dpkg-query -W health-checker
	snapshot >"$BATS_TEST_TMPDIR/after"
	run diff "$BATS_FILE_TMPDIR/before" "$BATS_TEST_TMPDIR/after"
	echo "$output" >&2
	[ "$status" -eq 0 ]
	# Outside the root file system: the units' runtime directory (a
	# symlink into /run/private under DynamicUser) and a user's state.
	for p in /run/health-checker /run/private/health-checker /tmp/health-checker-65534; do
		not ct test -e "$p" -o -L "$p"
	done
	run ct systemctl list-unit-files --no-legend 'health-checker*'
	assert_equal "$output" ""
}
