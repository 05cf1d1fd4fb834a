#!/usr/bin/env bats
# Found by the review of the redesign (issue 20): behaviour the other suites
# did not pin down.

setup() {
	load helpers
	common_setup
}

teardown() {
	common_teardown
}

@test "a TCP check closes with a reset: no socket of ours left toward the backend" {
	# A listener that never accepts: the kernel completes the handshake,
	# and a FIN from us would leave our end in FIN_WAIT2 until it expires.
	start_listener -n
	run "$HC" --once --port "$LPORT"
	[ "$status" -eq 0 ] || { echo "$output"; false; }
	left=$(ss -Htan dst "127.0.0.1:$LPORT")
	[ -z "$left" ] || { echo "left: $left"; false; }
}

# resum FILE [OFFSET VALUE]: sets the int32 at OFFSET of the result record
# FILE to VALUE and sums the record again, as a writer would have: the file
# stays whole by its framing, and only its contents say it is wrong.
resum() {
	python3 - "$@" <<'PY'
import struct, sys
path = sys.argv[1]
with open(path, "r+b") as f:
    rec = bytearray(f.read())
    if len(sys.argv) > 3:
        struct.pack_into("<i", rec, int(sys.argv[2]), int(sys.argv[3]))
    h = 14695981039346656037
    for b in rec[:-8]:
        h = ((h ^ b) * 1099511628211) & 0xFFFFFFFFFFFFFFFF
    struct.pack_into("<Q", rec, len(rec) - 8, h)
    f.seek(0)
    f.write(rec)
PY
}

# cached_probe: one inetd GET through the cache; how many runs in $runs.
cached_probe() {
	printf 'GET / HTTP/1.0\r\n\r\n' | "$HC" --inetd --cache-ttl 600 \
		--lock-file "$T/hc.lock" --script "$T/check" >"$T/answer" \
		2>>"$T/err"
	runs=$(wc -l <"$T/runs")
}

@test "a cached result whose sum holds but whose contents cannot be is no result" {
	printf '#!/bin/sh\necho run >>"%s"\necho broken\nexit 1\n' "$T/runs" \
		>"$T/check"
	chmod +x "$T/check"
	cached_probe
	[ "$runs" -eq 1 ]
	# The control: summed again as it was, the result is served.
	resum "$T/hc.lock.result"
	cached_probe
	[ "$runs" -eq 1 ] || { cat "$T/err"; false; }
	# The head (72 bytes), then results[0]: ok, ms, ours, reason[96],
	# output_len: a length past output[] must not reach the log.
	resum "$T/hc.lock.result" $((72 + 12 + 96)) 100000
	cached_probe
	[ "$runs" -eq 2 ] || { cat "$T/err"; false; }
	grep -q '^HTTP/1.0 504 ' "$T/answer"
}

@test "the result and verdict records keep the bytes of the releases before the redesign" {
	# An old and a new one-shot on one lock file during an upgrade share
	# a result and tell a change once only when the bytes are the same.
	printf 'GET / HTTP/1.0\r\n\r\n' | "$HC" --inetd --cache-ttl 600 \
		--lock-file "$T/lock" --script true >"$T/answer" 2>"$T/err"
	grep -q '^HTTP/1.0 200 ' "$T/answer"
	[ "$(head -c 8 "$T/lock.result" | tr -d '\0')" = HCSTATE3 ]
	[ "$(head -c 8 "$T/lock.verdict" | tr -d '\0')" = HCVERD3 ]
	# The healthy verdict's key after the 72-byte head: FNV-1a of the
	# word 1, as verdict_key always made it.
	python3 - "$T/lock.verdict" <<'PY'
import struct, sys
rec = open(sys.argv[1], "rb").read()
want = ((14695981039346656037 ^ 1) * 1099511628211) & 0xFFFFFFFFFFFFFFFF
got = struct.unpack_from("<Q", rec, 72)[0]
sys.exit(0 if got == want else "key %x, want %x" % (got, want))
PY
}
