#!/usr/bin/env bats
# make static: one binary against musl, with no program interpreter and no
# library, that answers right in an empty root (a chroot holding nothing but
# the binary), the way a scratch container image runs it.

setup() {
	load helpers
	common_setup
	STATIC_HC=$BATS_TEST_DIRNAME/../health-checker-static
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
