#!/usr/bin/env bats
# A flood of complete requests against the standalone server (no
# --singleflight): a queued request whose client has gone runs nothing,
# requests waiting in the queue when a run starts share it, the probe after
# the flood is answered at once, SIGTERM during it exits within the check
# deadline.  Loopback only, bounded in count and time.  Figures go to the
# TAP output as "# ..." lines.

setup() {
	load helpers
	common_setup
	FLOOD=$BATS_TEST_DIRNAME/flood/flood.py
}

teardown() {
	common_teardown
}

# figure TEXT: a measurement, shown in the TAP output.
figure() {
	echo "# $BATS_TEST_DESCRIPTION: $*" >&3
}

# word FILE KEY: the value of KEY=VALUE in FILE's last line.
word() {
	tail -n 1 "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"
}

lines() { # FILE: its number of lines, 0 when missing
	if [ -f "$1" ]; then wc -l <"$1"; else echo 0; fi
}

starts() { # the runs the counting script has seen start
	if [ -f "$T/runs" ]; then grep -c start "$T/runs"; else echo 0; fi
}

children() {
	cat "/proc/$HC_PID"/task/*/children 2>/dev/null | tr -d ' \n'
}

# settled: no script of the server running, and the count stable for 0.3 s.
settled() {
	local n
	n=$(starts)
	[ -z "$(children)" ] || return 1
	sleep 0.3
	[ -z "$(children)" ] && [ "$(starts)" -eq "$n" ]
}

# probe: one request; its status in PROBE_STATUS, its milliseconds in
# PROBE_MS.
probe() {
	python3 "$FLOOD" probe 127.0.0.1 "$PORT" --timeout 30 >"$T/probe"
	PROBE_STATUS=$(word "$T/probe" status)
	PROBE_MS=$(word "$T/probe" ms)
}

# requests_read N: the debug log shows N requests read.
requests_read() {
	[ "$(grep -c ' debug request [^ ]* GET ' "$T/hc.log")" -ge "$1" ]
}

# term_ms: SIGTERM to exit in TERM_MS (capped at 30 s), exit status in TERM_RC.
term() {
	local start
	start=$(date +%s%N)
	kill -TERM "$HC_PID"
	wait_until 30 gone "$HC_PID" || true
	TERM_MS=$(ms_since "$start")
	TERM_RC=0
	if gone "$HC_PID"; then
		wait "$HC_PID" || TERM_RC=$?
	else
		TERM_RC=running
	fi
}

count_script() { # a 100 ms check that counts its runs, begun and ended
	mkscript count "echo start >>$T/runs; sleep 0.1; echo end >>$T/runs"
}

ends() { # the runs of the counting script that ran to their end
	if [ -f "$T/runs" ]; then grep -c end "$T/runs"; else echo 0; fi
}

@test "4000 complete requests reset at once: the probe after them answers within 1 s; they run next to nothing" {
	count_script
	serve --script "$T/count"
	python3 "$FLOOD" reset 127.0.0.1 "$PORT" 4000 >"$T/flood"
	probe
	wait_until 60 settled || true
	figure "probe after the flood: $PROBE_STATUS in ${PROBE_MS}ms; runs begun: $(starts), run to their end: $(ends) (the probe's included) for $(word "$T/flood" sent) gone clients"
	assert_equal "$PROBE_STATUS" 200
	[ "$PROBE_MS" -lt 1000 ]
	# A gone client runs nothing once it is seen to be gone, and a run
	# begun before its reset came (it looked like any client until then)
	# is stopped when it does.
	[ "$(starts)" -lt 400 ]
	[ "$(ends)" -lt 20 ]
	kill -0 "$HC_PID"
}

@test "1000 flooding clients stay connected and wait: the probe answers within 1 s, every flooder gets 200" {
	ulimit -n 4096
	count_script
	serve --script "$T/count"
	local flood
	bg python3 "$FLOOD" wait 127.0.0.1 "$PORT" 1000 --timeout 60 >"$T/flood"
	flood=$BG_PID
	wait_until 60 grep -q '^sent$' "$T/flood"
	probe
	wait "$flood"
	wait_until 30 settled || true
	figure "probe during the flood: $PROBE_STATUS in ${PROBE_MS}ms; flooders: $(tail -n 1 "$T/flood"); runs: $(starts) for 1001 requests"
	assert_equal "$PROBE_STATUS" 200
	[ "$PROBE_MS" -lt 1000 ]
	assert_equal "$(word "$T/flood" ok)" 1000
	# Far fewer runs than requests: the queue shares them.
	[ "$(starts)" -lt 500 ]
}

@test "SIGTERM during a flood (1000 waiting, 4000 reset) exits 0 within the check deadline (3 s)" {
	ulimit -n 4096
	count_script
	serve --script "$T/count" --script-timeout 3
	bg python3 "$FLOOD" wait 127.0.0.1 "$PORT" 1000 --timeout 60 >"$T/flood"
	wait_until 60 grep -q '^sent$' "$T/flood"
	bg python3 "$FLOOD" reset 127.0.0.1 "$PORT" 4000 >"$T/reset"
	wait_until 10 eval '[ "$(starts)" -ge 1 ]'
	term
	figure "SIGTERM to exit: ${TERM_MS}ms (status $TERM_RC)"
	assert_equal "$TERM_RC" 0
	[ "$TERM_MS" -lt 3000 ]
}

@test "SIGTERM with 48 requests queued behind 2 hung checks: exits within the deadline (2 s), every one answered 504" {
	mkscript hang "echo start >>$T/runs; exec sleep 30"
	serve --script "$T/hang" --script-timeout 2 --max-connections 2 \
		--log-level debug
	local flood
	bg python3 "$FLOOD" wait 127.0.0.1 "$PORT" 50 --timeout 60 >"$T/flood"
	flood=$BG_PID
	wait_until 10 requests_read 50
	wait_until 10 eval '[ "$(starts)" -ge 2 ]'
	term
	wait "$flood"
	figure "SIGTERM to exit: ${TERM_MS}ms (status $TERM_RC); clients: $(tail -n 1 "$T/flood"); runs: $(starts)"
	assert_equal "$TERM_RC" 0
	[ "$TERM_MS" -lt 3000 ]
	# Answered, not dropped: the queue got its run at once.
	assert_equal "$(word "$T/flood" other)" 50
	assert_equal "$(starts)" 3
}

@test "requests queued when a run starts share that run, which starts after they arrived" {
	mkscript slow "echo start >>$T/runs; sleep 2; echo end >>$T/runs"
	serve --script "$T/slow" --max-connections 1 --log-level debug
	local first queued
	bg python3 "$FLOOD" wait 127.0.0.1 "$PORT" 1 --path /first >"$T/first"
	first=$BG_PID
	wait_until 5 eval '[ "$(starts)" -ge 1 ]'
	bg python3 "$FLOOD" wait 127.0.0.1 "$PORT" 10 --path /queued >"$T/queued"
	queued=$BG_PID
	wait_until 5 requests_read 11
	echo queued >>"$T/runs"
	wait "$first"
	wait "$queued"
	cat "$T/runs"
	figure "runs for 11 requests: $(starts)"
	assert_equal "$(word "$T/first" ok)" 1
	assert_equal "$(word "$T/queued" ok)" 10
	# One run for the ten, begun after all of them had arrived.
	assert_equal "$(tr '\n' ' ' <"$T/runs")" "start queued end start end "
}

@test "queued requests whose clients closed (FIN) or reset run nothing" {
	mkscript slow "echo start >>$T/runs; sleep 2; echo end >>$T/runs"
	serve --script "$T/slow" --max-connections 1 --log-level debug
	local first
	bg python3 "$FLOOD" wait 127.0.0.1 "$PORT" 1 --path /first >"$T/first"
	first=$BG_PID
	wait_until 5 eval '[ "$(starts)" -ge 1 ]'
	python3 "$FLOOD" close 127.0.0.1 "$PORT" 5 >"$T/close"
	python3 "$FLOOD" reset 127.0.0.1 "$PORT" 5 >"$T/reset"
	wait_until 5 requests_read 11
	wait "$first"
	wait_until 30 settled || true
	figure "runs for 1 waiting and 10 gone clients: $(starts)"
	assert_equal "$(word "$T/first" ok)" 1
	assert_equal "$(starts)" 1
	# The server still answers, with a run of its own.
	probe
	assert_equal "$PROBE_STATUS" 200
	assert_equal "$(starts)" 2
}
