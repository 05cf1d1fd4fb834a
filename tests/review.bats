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
