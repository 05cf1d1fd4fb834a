#!/usr/bin/env bats
# make static: one binary against musl, with no program interpreter and no
# library, that answers right in an empty root (a chroot holding nothing but
# the binary), the way a scratch container image runs it.  The same for
# make static-aarch64, run under qemu-aarch64-static (the root then holds
# the emulator too, itself static), and make dist.

setup() {
	load helpers
	common_setup
	REPO=$(cd "$BATS_TEST_DIRNAME/.." && pwd)
	STATIC_HC=$REPO/health-checker-static
	A64_HC=$REPO/health-checker-static-aarch64
	[ -x "$STATIC_HC" ] ||
		skip "health-checker-static is not built (make static, needs musl-tools)"
	REQ='GET / HTTP/1.0\r\n\r\n'
}

teardown() {
	common_teardown
}

# empty_root: $T/root holding the static binary alone, as /health-checker.
empty_root() {
	[ "$(id -u)" -eq 0 ] || skip "chroot needs root"
	mkdir "$T/root"
	cp "$STATIC_HC" "$T/root/health-checker"
	assert_equal "$(cd "$T/root" && find . | sort | tr '\n' ' ')" \
		". ./health-checker "
}

@test "static: no program interpreter, no shared library" {
	run readelf -lW "$STATIC_HC"
	[ "$status" -eq 0 ]
	not grep -q INTERP <<<"$output"
	run readelf -dW "$STATIC_HC"
	not grep -q NEEDED <<<"$output"
}

@test "static in an empty root: --once with port checks, healthy and not" {
	local down
	empty_root
	start_listener
	down=$(free_port)
	run chroot "$T/root" /health-checker --once --port "$LPORT" \
		--port "127.0.0.1:$LPORT"
	echo "$output" >&2
	[ "$status" -eq 0 ]
	grep -Eq "^ok tcp 127\\.0\\.0\\.1:$LPORT [0-9]+ms\$" <<<"$output"
	assert_equal "$(tail -n 1 <<<"$output")" OK
	run chroot "$T/root" /health-checker --once --port "$LPORT" --port "$down"
	[ "$status" -eq 1 ]
	grep -Eq "^fail tcp 127\\.0\\.0\\.1:$down [0-9]+ms refused\$" <<<"$output"
}

@test "static in an empty root: one inetd request, 200 and 504, byte-exact bodies" {
	empty_root
	start_listener
	printf "$REQ" | chroot "$T/root" /health-checker --inetd --port "$LPORT" \
		>"$T/answer" 2>"$T/err"
	cat "$T/err" >&2
	assert_equal "$(status_line "$T/answer")" "HTTP/1.0 200 OK"
	assert_equal "$(body "$T/answer")" OK
	printf "$REQ" | chroot "$T/root" /health-checker --inetd \
		--port "$(free_port)" >"$T/answer" 2>"$T/err"
	assert_equal "$(status_line "$T/answer")" "HTTP/1.0 504 Gateway Timeout"
	assert_equal "$(body "$T/answer")" "At least one health check failed"
}

@test "make install STATIC=1 installs the static build as the binary" {
	run make -s -C "$BATS_TEST_DIRNAME/.." install STATIC=1 DESTDIR="$T/inst" \
		PREFIX=/usr
	echo "$output" >&2
	[ "$status" -eq 0 ]
	cmp "$STATIC_HC" "$T/inst/usr/bin/health-checker"
}

# --- aarch64 ---------------------------------------------------------------

need_a64() {
	[ -x "$A64_HC" ] || skip "health-checker-static-aarch64 is not built (make static-aarch64, needs gcc-aarch64-linux-gnu)"
}

# a64_root: $T/root holding the aarch64 binary as /health-checker and the
# emulator as /qemu-aarch64-static, nothing else; QEMU is the command that
# runs the binary there.
a64_root() {
	need_a64
	[ "$(id -u)" -eq 0 ] || skip "chroot needs root"
	local qemu
	qemu=$(command -v qemu-aarch64-static) ||
		skip "qemu-aarch64-static is not installed (Debian package: qemu-user-static)"
	mkdir "$T/root"
	cp "$A64_HC" "$T/root/health-checker"
	cp "$qemu" "$T/root/qemu-aarch64-static"
	assert_equal "$(cd "$T/root" && find . | sort | tr '\n' ' ')" \
		". ./health-checker ./qemu-aarch64-static "
	# The emulator needs nothing from the root either.
	run readelf -lW "$T/root/qemu-aarch64-static"
	[ "$status" -eq 0 ]
	not grep -q INTERP <<<"$output"
	QEMU=(chroot "$T/root" /qemu-aarch64-static /health-checker)
}

@test "static aarch64: an AArch64 executable, no program interpreter, no shared library" {
	need_a64
	run readelf -hW "$A64_HC"
	grep -Eq 'Machine: +AArch64' <<<"$output"
	run readelf -lW "$A64_HC"
	[ "$status" -eq 0 ]
	not grep -q INTERP <<<"$output"
	run readelf -dW "$A64_HC"
	not grep -q NEEDED <<<"$output"
}

@test "static aarch64 in an empty root under qemu-aarch64-static: --once healthy and not" {
	local down
	a64_root
	start_listener
	down=$(free_port)
	run "${QEMU[@]}" --once --port "$LPORT" --port "127.0.0.1:$LPORT"
	echo "$output" >&2
	[ "$status" -eq 0 ]
	grep -Eq "^ok tcp 127\\.0\\.0\\.1:$LPORT [0-9]+ms\$" <<<"$output"
	assert_equal "$(tail -n 1 <<<"$output")" OK
	run "${QEMU[@]}" --once --port "$LPORT" --port "$down"
	echo "$output" >&2
	[ "$status" -eq 1 ]
	grep -Eq "^fail tcp 127\\.0\\.0\\.1:$down [0-9]+ms refused\$" <<<"$output"
}

@test "static aarch64 in an empty root under qemu-aarch64-static: one inetd request, 200 and 504, byte-exact bodies" {
	a64_root
	start_listener
	printf "$REQ" | "${QEMU[@]}" --inetd --port "$LPORT" >"$T/answer" 2>"$T/err"
	cat "$T/err" >&2
	assert_equal "$(status_line "$T/answer")" "HTTP/1.0 200 OK"
	assert_equal "$(body "$T/answer")" OK
	printf "$REQ" | "${QEMU[@]}" --inetd --port "$(free_port)" >"$T/answer" 2>"$T/err"
	assert_equal "$(status_line "$T/answer")" "HTTP/1.0 504 Gateway Timeout"
	assert_equal "$(body "$T/answer")" "At least one health check failed"
}

@test "make dist: both static binaries, named for their architecture, with SHA-256 sums" {
	need_a64
	[ -d "$REPO/build/musl-arm64" ] || skip "no build/musl-arm64 sysroot (make static-aarch64)"
	# In a copy, timestamps kept: the tree's binaries are reused, not
	# rebuilt under the feet of other suites.
	mkdir -p "$T/tree/tests" "$T/tree/build"
	cp -a "$REPO/Makefile" "$REPO/src" "$STATIC_HC" "$A64_HC" "$T/tree/"
	cp -a "$REPO/tests/deps" "$T/tree/tests/"
	cp -a "$REPO/build/musl-arm64" "$T/tree/build/"
	run make -C "$T/tree" -s dist
	echo "$output" >&2
	[ "$status" -eq 0 ]
	v=$(sed -n 's/^#define VERSION "\(.*\)"$/\1/p' "$REPO/src/version.h")
	[ -n "$v" ]
	assert_equal "$(cd "$T/tree/dist" && ls | tr '\n' ' ')" \
		"SHA256SUMS health-checker-$v-linux-aarch64 health-checker-$v-linux-x86_64 "
	(cd "$T/tree/dist" && sha256sum --strict -c SHA256SUMS) >&2
	assert_equal "$(wc -l <"$T/tree/dist/SHA256SUMS")" 2
	cmp "$T/tree/health-checker-static" "$T/tree/dist/health-checker-$v-linux-x86_64"
	cmp "$T/tree/health-checker-static-aarch64" "$T/tree/dist/health-checker-$v-linux-aarch64"
	readelf -hW "$T/tree/dist/health-checker-$v-linux-x86_64" | grep -Eq 'Machine: +Advanced Micro Devices X86-64'
	readelf -hW "$T/tree/dist/health-checker-$v-linux-aarch64" | grep -Eq 'Machine: +AArch64'
	# dist/ is a build output: git ignores it.
	grep -qx /dist/ "$REPO/.gitignore"
}
