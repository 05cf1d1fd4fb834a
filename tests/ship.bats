#!/usr/bin/env bats
# What ships: make install/uninstall, the installed units (systemd-analyze
# verify and security), the man page's lint (options.bats holds it and
# README against --help), shellcheck, and the contrib check scripts against
# fake ZooKeeper and Redis servers.

setup() {
	load helpers
	common_setup
	REPO=$(cd "$BATS_TEST_DIRNAME/.." && pwd)
	CHECKS=$REPO/contrib/checks
	FAKE=$BATS_TEST_DIRNAME/peers/fake-server.py
}

teardown() {
	common_teardown
}

need() { # PROGRAM PACKAGE: skip unless PROGRAM is installed
	command -v "$1" >/dev/null 2>&1 || skip "$1 is not installed (Debian package: $2)"
}

# install_tree MAKE-VARS...: make install into $T/root with PREFIX=/usr.
install_tree() {
	run make -s -C "$REPO" install DESTDIR="$T/root" PREFIX=/usr "$@"
	if [ "$status" -ne 0 ]; then
		echo "$output" >&2
		return 1
	fi
}

# --- make install / uninstall ----------------------------------------------

@test "make install DESTDIR PREFIX=/usr: binary, man page, units, contrib" {
	install_tree
	local r=$T/root/usr
	[ -x "$r/bin/health-checker" ]
	cmp "$REPO/health-checker" "$r/bin/health-checker"
	[ -f "$r/share/man/man8/health-checker.8" ]
	cmp "$REPO/man/health-checker.8" "$r/share/man/man8/health-checker.8"
	for u in health-checker.socket health-checker@.service health-checker.service \
		health-checker-server.socket; do
		[ -f "$r/lib/systemd/system/$u" ] || {
			echo "missing unit $u" >&2
			false
		}
		if grep -n '@bindir@' "$r/lib/systemd/system/$u" >&2; then
			false
		fi
	done
	grep -q '^ExecStart=.*/usr/bin/health-checker ' "$r/lib/systemd/system/health-checker@.service"
	grep -q '^ExecStart=.*/usr/bin/health-checker ' "$r/lib/systemd/system/health-checker.service"
	for f in "$REPO"/contrib/checks/*; do
		[ -x "$r/lib/health-checker/checks/${f##*/}" ] || {
			echo "check ${f##*/} not installed executable" >&2
			false
		}
	done
	for f in "$REPO"/contrib/*; do
		[ -f "$f" ] || continue
		[ -f "$r/share/doc/health-checker/contrib/${f##*/}" ] || {
			echo "contrib/${f##*/} not installed" >&2
			false
		}
	done
	# No unit or contrib file still points at the default prefix.
	if grep -rn /usr/local "$r/lib/systemd/system" "$r/share/doc/health-checker/contrib" >&2; then
		false
	fi
}

@test "make install: every installed path the units and contrib files name exists" {
	install_tree
	grep -rhoE '/usr/(bin/health-checker|share/doc/health-checker/[A-Za-z0-9_./@-]*[A-Za-z0-9_-])' \
		"$T/root/usr/lib/systemd/system" "$T/root/usr/share/doc/health-checker/contrib" |
		sort -u >"$T/paths"
	[ -s "$T/paths" ]
	while read -r p; do
		[ -e "$T/root$p" ] || {
			echo "named but not installed: $p" >&2
			false
		}
	done <"$T/paths"
}

@test "make install UNITDIR=/etc/systemd/system puts the units there" {
	install_tree UNITDIR=/etc/systemd/system
	for u in health-checker.socket health-checker@.service health-checker.service \
		health-checker-server.socket; do
		[ -f "$T/root/etc/systemd/system/$u" ]
	done
	[ ! -e "$T/root/usr/lib/systemd/system" ]
	[ -x "$T/root/usr/bin/health-checker" ]
}

@test "make uninstall with the same variables removes every file make install put there" {
	install_tree
	install_tree UNITDIR=/etc/systemd/system
	run make -s -C "$REPO" uninstall DESTDIR="$T/root" PREFIX=/usr
	[ "$status" -eq 0 ]
	run make -s -C "$REPO" uninstall DESTDIR="$T/root" PREFIX=/usr UNITDIR=/etc/systemd/system
	[ "$status" -eq 0 ]
	find "$T/root" ! -type d >"$T/left"
	if [ -s "$T/left" ]; then
		cat "$T/left" >&2
		false
	fi
}

# --- the installed units ---------------------------------------------------

@test "systemd-analyze verify: the installed units are clean" {
	need systemd-analyze systemd
	# verify looks up Documentation=man:health-checker(8) with man(1).
	need man man-db
	# Installed under its own prefix (no DESTDIR), so that the units name
	# a binary that exists; the systemd suite verifies them in place too.
	run make -s -C "$REPO" install PREFIX="$T/root/usr"
	[ "$status" -eq 0 ] || {
		echo "$output" >&2
		false
	}
	cd "$T/root/usr/lib/systemd/system"
	run env MANPATH="$T/root/usr/share/man" systemd-analyze verify \
		./health-checker.socket ./health-checker@.service \
		./health-checker.service ./health-checker-server.socket
	echo "$output" >&2
	[ "$status" -eq 0 ]
	# Only lines about our units count: the host's other units are not ours.
	assert_equal "$(verify_own_lines <<<"$output")" ""
}

# exposure UNIT: the "Overall exposure level" systemd-analyze security
# gives the installed UNIT, offline.
exposure() {
	(cd "$T/root/usr/lib/systemd/system" &&
		systemd-analyze security --offline=true "./$1") >"$T/security" 2>&1
	sed -n 's/^.*Overall exposure level for [^:]*: \([0-9][0-9.]*\) .*$/\1/p' "$T/security"
}

@test "systemd-analyze security --offline: health-checker@.service exposure at most 3.0" {
	need systemd-analyze systemd
	systemd-analyze security --help | grep -q -- --offline || skip "systemd-analyze has no --offline (systemd < 250)"
	install_tree
	level=$(exposure health-checker@.service)
	echo "exposure: $level" >&2
	[ -n "$level" ] || {
		cat "$T/security" >&2
		false
	}
	awk -v l="$level" 'BEGIN { exit !(l <= 3.0) }' || {
		grep '✗' "$T/security" >&2
		false
	}
}

@test "systemd-analyze security --offline: health-checker.service exposure at most 3.0" {
	need systemd-analyze systemd
	systemd-analyze security --help | grep -q -- --offline || skip "systemd-analyze has no --offline (systemd < 250)"
	install_tree
	level=$(exposure health-checker.service)
	echo "exposure: $level" >&2
	[ -n "$level" ] || {
		cat "$T/security" >&2
		false
	}
	awk -v l="$level" 'BEGIN { exit !(l <= 3.0) }' || {
		grep '✗' "$T/security" >&2
		false
	}
}

# --- documentation ---------------------------------------------------------

@test "mandoc -Tlint -W warning: the man page is clean" {
	need mandoc mandoc
	run mandoc -Tlint -W warning "$REPO/man/health-checker.8"
	echo "$output" >&2
	[ "$status" -eq 0 ]
	assert_equal "$output" ""
}

@test "shellcheck -S warning: contrib/checks/* and tests/*.bash" {
	need shellcheck shellcheck
	run shellcheck -S warning "$REPO"/contrib/checks/* "$REPO"/tests/*.bash
	echo "$output" >&2
	[ "$status" -eq 0 ]
}

# --- contrib check scripts -------------------------------------------------

# fake REPLY: a fake server (tests/peers/fake-server.py) answering REPLY,
# what clients send appended to $T/sent; its port in FPORT.
fake() {
	bg python3 "$FAKE" "$1" "$T/sent" >"$T/fake.port"
	wait_until 5 test -s "$T/fake.port"
	FPORT=$(head -n 1 "$T/fake.port")
}

# check SCRIPT ARGS...: runs contrib/checks/SCRIPT, status in $status,
# stdout+stderr in $output, milliseconds in $ms.
check() {
	local start
	start=$(date +%s%N)
	run "$CHECKS/$1" "${@:2}"
	ms=$(ms_since "$start")
	echo "$1 ${*:2}: status $status, ${ms}ms, output: $output" >&2
}

sent() { # EXPECTED: what the script sent the fake server
	local got
	got=$(od -An -c "$T/sent" | tr -s ' ')
	assert_equal "$got" "$(printf '%s' "$1" | od -An -c | tr -s ' ')"
}

@test "an installed binary runs the contrib checks by their bare names (PATH without them)" {
	install_tree
	fake imok
	PATH=/usr/bin:/bin run "$T/root/usr/bin/health-checker" --once \
		--script "zk-ruok 127.0.0.1 $FPORT 2"
	echo "$output" >&2
	[ "$status" -eq 0 ]
	[[ $output == *"ok script zk-ruok "* ]]
	sent ruok
	# Found on PATH first: a program of the same name there wins.
	mkdir "$T/bin"
	printf '#!/bin/sh\nexit 7\n' >"$T/bin/zk-ruok"
	chmod +x "$T/bin/zk-ruok"
	PATH=$T/bin:/usr/bin:/bin run "$T/root/usr/bin/health-checker" --once \
		--script "zk-ruok 127.0.0.1 $FPORT 2"
	[[ $output == *"fail script zk-ruok "*"exit 7"* ]]
}

@test "zk-ruok: imok -> 0 (sends ruok)" {
	fake imok
	check zk-ruok 127.0.0.1 "$FPORT" 2
	[ "$status" -eq 0 ]
	sent ruok
}

@test "zk-ruok: any other answer -> 1 with a reason" {
	fake 'This ZooKeeper instance is not currently serving requests'
	check zk-ruok 127.0.0.1 "$FPORT" 2
	[ "$status" -eq 1 ]
	[[ $output == *"zk-ruok: 127.0.0.1:$FPORT answered"* ]]
}

@test "zk-mntr: zk_server_state follower (or leader, standalone) -> 0 (sends mntr)" {
	local state reply
	for state in follower leader standalone; do
		rm -f "$T/sent"
		printf -v reply 'zk_version\t3.8.4-9316c2a7a97e1666d8f4593f34dd6fc36ecc436c, built on 2024-02-12 22:16 UTC\nzk_avg_latency\t0.0\nzk_server_state\t%s\nzk_znode_count\t5\n' "$state"
		fake "$reply"
		check zk-mntr 127.0.0.1 "$FPORT" 2
		[ "$status" -eq 0 ]
		sent mntr
	done
}

@test "zk-mntr: zk_server_state looking -> 1" {
	fake $'zk_version\t3.8.4\nzk_server_state\tlooking\nzk_znode_count\t5\n'
	check zk-mntr 127.0.0.1 "$FPORT" 2
	[ "$status" -eq 1 ]
	[[ $output == *"zk_server_state is 'looking'"* ]]
}

@test "zk-mntr: a ZooKeeper without quorum ('not currently serving requests') -> 1" {
	fake 'This ZooKeeper instance is not currently serving requests'
	check zk-mntr 127.0.0.1 "$FPORT" 2
	[ "$status" -eq 1 ]
}

@test "redis-ping: +PONG -> 0 (sends PING)" {
	fake $'+PONG\r\n'
	check redis-ping 127.0.0.1 "$FPORT" 2
	[ "$status" -eq 0 ]
	sent $'PING\r\n'
}

@test "redis-ping: -LOADING -> 1 with the answer" {
	fake $'-LOADING Redis is loading the dataset in memory\r\n'
	check redis-ping 127.0.0.1 "$FPORT" 2
	[ "$status" -eq 1 ]
	[[ $output == *"-LOADING Redis is loading"* ]]
}

@test "zk-ruok, zk-mntr, redis-ping: closed port -> 1 at once" {
	local port s
	port=$(free_port)
	for s in zk-ruok zk-mntr redis-ping; do
		check "$s" 127.0.0.1 "$port" 2
		[ "$status" -eq 1 ]
		[[ $output == *"cannot connect to 127.0.0.1:$port"* ]]
		[ "$ms" -lt 1500 ]
	done
}

@test "zk-ruok, zk-mntr, redis-ping: a server that never answers -> 1 within TIMEOUT + 1 s" {
	local s
	fake -
	for s in zk-ruok zk-mntr redis-ping; do
		check "$s" 127.0.0.1 "$FPORT" 1
		[ "$status" -eq 1 ]
		[ "$ms" -lt 2000 ]
	done
}

@test "pg-isready without pg_isready: 1 with a clear message" {
	mkdir "$T/empty"
	start=$(date +%s%N)
	port=$(free_port)
	run env PATH="$T/empty" /bin/sh "$CHECKS/pg-isready" 127.0.0.1 "$port" 1
	echo "status $status, output: $output" >&2
	[ "$status" -eq 1 ]
	assert_equal "$output" "pg-isready: pg_isready not found (apt-get install postgresql-client)"
	[ "$(ms_since "$start")" -lt 2000 ]
}

@test "pg-isready with pg_isready: closed port -> 1" {
	need pg_isready postgresql-client
	check pg-isready 127.0.0.1 "$(free_port)" 2
	[ "$status" -ne 0 ]
}

@test "systemd-analyze verify: a warning about a host's unit that ours pull in is not counted, one about ours is" {
	need systemd-analyze systemd
	need man man-db
	run make -s -C "$REPO" install PREFIX="$T/root/usr"
	[ "$status" -eq 0 ]
	# A host unit with a warning where ours reach it (sysinit.target's
	# wants), on the unit path before the system's.
	mkdir -p "$T/host/sysinit.target.wants"
	printf '[Unit]\nDescription=another package\n[Service]\nExecStart=/bin/true\nKillMode=none\n' \
		>"$T/host/hc-other.service"
	ln -s ../hc-other.service "$T/host/sysinit.target.wants/hc-other.service"
	cd "$T/root/usr/lib/systemd/system"
	run env SYSTEMD_UNIT_PATH="$T/host:" MANPATH="$T/root/usr/share/man" \
		systemd-analyze verify ./health-checker.socket ./health-checker.service
	echo "$output" >&2
	grep -q 'hc-other.service:.*KillMode=none' <<<"$output"
	assert_equal "$(verify_own_lines <<<"$output")" ""
	# The same warning in a unit of ours is kept.
	printf '[Service]\nKillMode=none\n' >"$T/host/hc-kill.conf"
	mkdir -p health-checker.service.d
	cp "$T/host/hc-kill.conf" health-checker.service.d/kill.conf
	run env SYSTEMD_UNIT_PATH="$T/host:" MANPATH="$T/root/usr/share/man" \
		systemd-analyze verify ./health-checker.socket ./health-checker.service
	echo "$output" >&2
	verify_own_lines <<<"$output" | grep -q 'KillMode=none'
}

# --- build flags -------------------------------------------------------------

# build_copy: the Makefile and sources copied to $T/tree, so that builds
# with other flags never touch the tree's own binaries.
build_copy() {
	mkdir -p "$T/tree/tests" "$T/bin"
	cp -r "$REPO/Makefile" "$REPO/src" "$T/tree/"
	cp "$REPO/tests/listen.c" "$T/tree/tests/"
	cp -r "$REPO/tests/unit" "$T/tree/tests/"
}

# logging_cc NAME REAL: $T/bin/NAME records its arguments, one a line, in
# $T/NAME.args, then runs REAL with them.
logging_cc() {
	printf '#!/bin/sh\nprintf "%%s\\n" "$@" >>"%s"\nexec %s "$@"\n' \
		"$T/$1.args" "$2" >"$T/bin/$1"
	chmod +x "$T/bin/$1"
}

# chk_symbols BINARY: the fortified libc calls BINARY imports.
chk_symbols() {
	nm -D "$1" | sed -n 's/^ *U \(__[a-z0-9_]*_chk\)@.*/\1/p' | sort -u
}

@test "make CPPFLAGS=-D_FORTIFY_SOURCE=3: the user's level stands, with no warning" {
	build_copy
	logging_cc cc cc
	run make -C "$T/tree" health-checker CC="$T/bin/cc" \
		CPPFLAGS=-D_FORTIFY_SOURCE=3
	[ "$status" -eq 0 ] || {
		echo "$output" >&2
		false
	}
	# Nothing on stderr: no "redefined" (nor any other) warning.
	make -C "$T/tree" -s clean
	make -C "$T/tree" -s health-checker CPPFLAGS=-D_FORTIFY_SOURCE=3 \
		2>"$T/stderr" >/dev/null
	cat "$T/stderr" >&2
	[ ! -s "$T/stderr" ]
	mv "$T/tree/health-checker" "$T/hc-3"
	# The compiler saw one level, the user's, and its macro is 3.
	assert_equal "$(grep _FORTIFY_SOURCE "$T/cc.args" | sort -u)" \
		-D_FORTIFY_SOURCE=3
	run sh -c "cc -O2 $(grep -E '^-[DU]' "$T/cc.args" | sort -u | tr '\n' ' ') \
		-dM -E -x c /dev/null | grep ' _FORTIFY_SOURCE '"
	assert_equal "$output" "#define _FORTIFY_SOURCE 3"
	# The binary: level 3 checks calls level 2 cannot (sizes known only at
	# run time), so it imports every __*_chk the default build does and more.
	make -C "$T/tree" -s clean
	make -C "$T/tree" -s health-checker 2>"$T/stderr" >/dev/null
	[ ! -s "$T/stderr" ]
	chk_symbols "$T/tree/health-checker" >"$T/chk-2"
	chk_symbols "$T/hc-3" >"$T/chk-3"
	echo "default: $(tr '\n' ' ' <"$T/chk-2")" >&2
	echo "level 3: $(tr '\n' ' ' <"$T/chk-3")" >&2
	grep -q __memcpy_chk "$T/chk-2"
	assert_equal "$(comm -23 "$T/chk-2" "$T/chk-3")" ""
	[ -n "$(comm -13 "$T/chk-2" "$T/chk-3")" ]
}

@test "make without fortify flags of the user's builds with _FORTIFY_SOURCE=2; -U_FORTIFY_SOURCE drops it" {
	build_copy
	logging_cc cc cc
	make -C "$T/tree" -s tests/listen CC="$T/bin/cc" 2>&1
	assert_equal "$(grep _FORTIFY_SOURCE "$T/cc.args" | sort -u)" \
		-D_FORTIFY_SOURCE=2
	rm "$T/cc.args" "$T/tree/tests/listen"
	make -C "$T/tree" -s tests/listen CC="$T/bin/cc" \
		CFLAGS="-O2 -U_FORTIFY_SOURCE" 2>&1
	assert_equal "$(grep _FORTIFY_SOURCE "$T/cc.args" | sort -u)" \
		-U_FORTIFY_SOURCE
}

@test "make werror: clang joins gcc and musl-gcc where it is installed" {
	command -v musl-gcc >/dev/null || skip "musl-gcc is not installed (Debian package: musl-tools)"
	build_copy
	# A clang that fails: werror fails, having given it -Werror.
	printf '#!/bin/sh\nprintf "%%s\\n" "$@" >>"%s"\nexit 1\n' \
		"$T/clang.args" >"$T/bin/clang"
	chmod +x "$T/bin/clang"
	run make -C "$T/tree" -s werror SRC=src/http.c CLANG="$T/bin/clang"
	[ "$status" -ne 0 ]
	grep -qx -- -Werror "$T/clang.args"
	grep -qx -- src/http.c "$T/clang.args"
	# No clang at all: the pass is gcc's and musl-gcc's alone.
	run make -C "$T/tree" -s werror SRC=src/http.c CLANG="$T/bin/no-clang"
	echo "$output" >&2
	[ "$status" -eq 0 ]
	# The real one, where installed, passes on every source.
	command -v clang >/dev/null || skip "clang is not installed (Debian package: clang)"
	logging_cc clang clang
	run make -C "$T/tree" -s werror CLANG="$T/bin/clang"
	echo "$output" >&2
	[ "$status" -eq 0 ]
	[ "$(grep -cx -- -Werror "$T/clang.args")" -ge 17 ]
}

# --- license -----------------------------------------------------------------

# dep5 FILE: FILE's paragraphs as "N FIELD VALUE" lines (N the paragraph,
# FIELD lower-cased, continuation lines appended to VALUE with "\n"); fails
# on a line that is neither a field nor a continuation.
dep5() {
	awk '
	/^$/ { if (seen) n++; seen = 0; next }
	/^[ \t]/ {
		if (!seen) { print "continuation outside a field: " $0 >"/dev/stderr"; bad = 1; exit }
		line = substr($0, 2)
		if (line == ".") line = ""
		v[n, f] = v[n, f] "\\n" line
		next
	}
	/^[A-Za-z][A-Za-z0-9-]*:/ {
		f = tolower(substr($0, 1, index($0, ":") - 1))
		val = substr($0, index($0, ":") + 1)
		sub(/^[ \t]+/, "", val)
		v[n, f] = val
		order[++k] = n SUBSEP f
		seen = 1
		next
	}
	{ print "not a field: " $0 >"/dev/stderr"; bad = 1; exit }
	END {
		if (bad) exit 1
		for (i = 1; i <= k; i++) {
			split(order[i], p, SUBSEP)
			print p[1] + 0 " " p[2] " " v[p[1], p[2]]
		}
	}' "$1"
}

@test "LICENSE is MIT for the health-checker authors; debian/copyright says so in DEP-5, with the same text" {
	local lic=$REPO/LICENSE
	[ -f "$lic" ]
	assert_equal "$(head -n 1 "$lic")" "MIT License"
	grep -qx 'Copyright (c) 2026 the health-checker authors' "$lic"
	grep -q '^Permission is hereby granted, free of charge' "$lic"
	dep5 "$REPO/debian/copyright" >"$T/fields"
	cat "$T/fields" >&2
	grep -qx '0 format https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/' "$T/fields"
	# Files: * under License: MIT, a short name alone (no text)...
	n=$(awk '$2 == "files" && $3 == "*" && NF == 3 { print $1 }' "$T/fields")
	[ -n "$n" ]
	grep -qx "$n license MIT" "$T/fields"
	grep -qx "$n copyright 2026 the health-checker authors" "$T/fields"
	# ...whose text is a stand-alone License paragraph: LICENSE's own.
	text=$(sed -n 's/^[0-9]* license MIT\\n//p' "$T/fields")
	[ -n "$text" ]
	want=$(sed -n '/^Permission/,$p' "$lic" | awk '{ printf "%s%s", (NR > 1 ? "\\n" : ""), $0 }')
	assert_equal "$text" "$want"
	# Every short name a Files paragraph uses has its text somewhere.
	awk '$2 == "license" && $0 !~ /\\n/ { print $3 }' "$T/fields" | sort -u |
		while read -r name; do
			grep -q "^[0-9]* license $name\\\\n" "$T/fields" || {
				echo "no text for License: $name" >&2
				exit 1
			}
		done
	grep -q 'MIT' "$REPO/README.md"
}
