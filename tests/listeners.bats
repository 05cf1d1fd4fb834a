#!/usr/bin/env bats
# --listener's address forms as the Go tool's listener takes them, each in a
# network namespace of its own: the wildcards (default, :PORT, 0.0.0.0:PORT,
# [::]:PORT) answer IPv4 and IPv6, IPv4 alone where IPv6 is off; any other
# address answers on that address alone.

setup() {
	load helpers
	common_setup
	[ "$(id -u)" -eq 0 ] || skip "needs root for a network namespace"
	ns_start -n
}

teardown() {
	common_teardown
}

# hc_ns ARGS...: health-checker in the namespace, log in $T/hc.log.
hc_ns() {
	bg_ns "$HC" "$@" 2>>"$T/hc.log"
}

# answers URL [CURL ARGS]: OK from URL, from inside the namespace.
answers() {
	local url=$1 got
	shift
	got=$(in_ns curl -sS -g -m 5 "$@" "$url") || return 1
	assert_equal "$got" OK
}

# refused HOST PORT: nothing listens on HOST:PORT in the namespace.
refused() {
	! in_ns bash -c "exec 9<>'/dev/tcp/$1/$2'" 2>/dev/null
}

# ipv6_off: IPv6 disabled in the namespace, as
# net.ipv6.conf.all.disable_ipv6=1 does on a host: no ::1 any more.
ipv6_off() {
	in_ns sysctl -q -w net.ipv6.conf.all.disable_ipv6=1 \
		net.ipv6.conf.default.disable_ipv6=1 net.ipv6.conf.lo.disable_ipv6=1
	wait_until 5 gone_v6
}

gone_v6() {
	! in_ns ip -6 addr show dev lo | grep -q inet6
}

@test "0.0.0.0:PORT answers IPv4 and IPv6 on one dual-stack [::] socket" {
	hc_ns --listener 0.0.0.0:6000 --script true
	wait_until 5 grep -q 'listening on \[::\]:6000$' "$T/hc.log"
	answers http://127.0.0.1:6000/ -4
	answers 'http://[::1]:6000/' -6
	# Every IPv4 address, not only the one a name resolves to.
	in_ns ip addr add 192.0.2.1/32 dev lo
	answers http://192.0.2.1:6000/ -4
	assert_equal "$(grep -c 'listening on' "$T/hc.log")" 1
}

@test "0.0.0.0:PORT holds the port on both families: :PORT and [::1]:PORT beside it are refused, address in use" {
	hc_ns --listener 0.0.0.0:6000 --script true
	wait_until 5 grep -q 'listening on \[::\]:6000$' "$T/hc.log"
	for l in :6000 "[::1]:6000"; do
		run in_ns "$HC" --listener "$l" --script true
		assert_equal "$status" 1
		# glibc says "Address already in use", musl "Address in use".
		[[ $output == *"listen on $l: Address "*"in use"* ]] ||
			{ echo "$output"; false; }
	done
}

@test "[::]:PORT is the wildcard too: IPv4 and IPv6, as Go's listener" {
	hc_ns --listener "[::]:6000" --script true
	wait_until 5 grep -q 'listening on \[::\]:6000$' "$T/hc.log"
	answers http://127.0.0.1:6000/ -4
	answers 'http://[::1]:6000/' -6
}

@test "a name that resolves to 0.0.0.0 is the wildcard too, as in Go" {
	ns_file /etc/hosts "0.0.0.0 any.test"
	hc_ns --listener any.test:6000 --script true
	wait_until 5 grep -q 'listening on \[::\]:6000$' "$T/hc.log"
	answers http://127.0.0.1:6000/ -4
	answers 'http://[::1]:6000/' -6
}

@test "IPv6 off (disable_ipv6=1): 0.0.0.0:PORT, :PORT and the default answer IPv4" {
	ipv6_off
	hc_ns --listener 0.0.0.0:6000 --script true
	hc_ns --listener :6001 --script true
	hc_ns --script true
	wait_until 5 grep -Eq 'listening on (\[::\]|0\.0\.0\.0):6000$' "$T/hc.log"
	wait_until 5 grep -Eq 'listening on (\[::\]|0\.0\.0\.0):6001$' "$T/hc.log"
	wait_until 5 grep -Eq 'listening on (\[::\]|0\.0\.0\.0):5000$' "$T/hc.log"
	answers http://127.0.0.1:6000/ -4
	answers http://127.0.0.1:6001/ -4
	answers http://127.0.0.1:5000/ -4
}

# no_ipv6 CMD...: CMD where the kernel has no IPv6 (ipv6.disable=1):
# socket(AF_INET6, ...) fails with EAFNOSUPPORT, by a seccomp filter (x86-64
# system call numbers) that exec passes on.
no_ipv6() {
	cat >"$T/no_ipv6.py" <<'PY'
import ctypes, os, struct, sys
libc = ctypes.CDLL(None, use_errno=True)
def insn(code, jt, jf, k): return struct.pack("HBBI", code, jt, jf, k)
prog = b"".join([
    insn(0x20, 0, 0, 4), insn(0x15, 0, 4, 0xC000003E),  # arch x86-64
    insn(0x20, 0, 0, 0), insn(0x15, 0, 2, 41),  # socket
    insn(0x20, 0, 0, 16), insn(0x15, 1, 0, 10),  # AF_INET6
    insn(0x06, 0, 0, 0x7FFF0000), insn(0x06, 0, 0, 0x00050000 | 97)])
buf = ctypes.create_string_buffer(prog)
class Fprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]
fp = Fprog(len(prog) // 8, ctypes.addressof(buf))
if libc.prctl(38, 1, 0, 0, 0) or libc.prctl(22, 2, ctypes.byref(fp), 0, 0):
    sys.exit("no_ipv6: seccomp: " + os.strerror(ctypes.get_errno()))
os.execvp(sys.argv[1], sys.argv[1:])
PY
	python3 "$T/no_ipv6.py" "$@"
}

@test "no IPv6 in the kernel: the default and every wildcard fall back to 0.0.0.0; [::1] cannot start" {
	[ "$(uname -m)" = x86_64 ] || skip "the seccomp filter is x86-64's"
	no_ipv6 true
	bg_ns python3 "$T/no_ipv6.py" "$HC" --listener 0.0.0.0:6000 --script true 2>>"$T/hc.log"
	bg_ns python3 "$T/no_ipv6.py" "$HC" --listener :6001 --script true 2>>"$T/hc.log"
	bg_ns python3 "$T/no_ipv6.py" "$HC" --listener "[::]:6002" --script true 2>>"$T/hc.log"
	bg_ns python3 "$T/no_ipv6.py" "$HC" --script true 2>>"$T/hc.log"
	for p in 6000 6001 6002 5000; do
		wait_until 10 grep -q "listening on 0.0.0.0:$p\$" "$T/hc.log"
		answers "http://127.0.0.1:$p/" -4
	done
	run in_ns python3 "$T/no_ipv6.py" "$HC" --listener "[::1]:6003" --script true
	assert_equal "$status" 1
	[[ $output == *"listen on [::1]:6003: Address family not supported by protocol"* ]] ||
		{ echo "$output"; false; }
}

@test "127.0.0.1:PORT is that address alone: no other IPv4 address, no IPv6" {
	in_ns ip addr add 192.0.2.1/32 dev lo
	hc_ns --listener 127.0.0.1:6000 --script true
	wait_until 5 grep -q 'listening on 127.0.0.1:6000$' "$T/hc.log"
	answers http://127.0.0.1:6000/ -4
	refused 192.0.2.1 6000
	refused ::1 6000
}

@test "[::1]:PORT is that address alone: no IPv4" {
	hc_ns --listener "[::1]:6000" --script true
	wait_until 5 grep -q 'listening on \[::1\]:6000$' "$T/hc.log"
	answers 'http://[::1]:6000/' -6
	refused 127.0.0.1 6000
}

@test "a host's own address is that address alone" {
	in_ns ip addr add 192.0.2.1/32 dev lo
	in_ns ip addr add 2001:db8::1/128 dev lo
	hc_ns --listener 192.0.2.1:6000 --script true
	hc_ns --listener "[2001:db8::1]:6001" --script true
	wait_until 5 grep -q 'listening on 192.0.2.1:6000$' "$T/hc.log"
	wait_until 5 grep -q 'listening on \[2001:db8::1\]:6001$' "$T/hc.log"
	answers http://192.0.2.1:6000/ -4
	refused 127.0.0.1 6000
	refused ::1 6000
	answers 'http://[2001:db8::1]:6001/' -6
	refused ::1 6001
	refused 127.0.0.1 6001
}
