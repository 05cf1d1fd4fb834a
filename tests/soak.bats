#!/usr/bin/env bats
# Soak: the standalone server serves 50,000 requests (25,000 healthy on one
# server: a --port check; 25,000 unhealthy on another: a refused --port and
# a --script that fails, so 25,000 scripts spawned and reaped) plus a few
# thousand bad requests, and ends with the memory, descriptors and children
# it had after the first 1,000: no leak per request.  Needs wrk (Debian
# package wrk).

setup() {
	load helpers
	common_setup
	HOSTILE=$BATS_TEST_DIRNAME/hostile/client
	command -v wrk >/dev/null || skip "wrk is not installed (Debian: apt-get install wrk)"
	# count.lua ARGS LIMIT: each wrk thread stops after LIMIT responses;
	# at the end, one "code N COUNT" line per status and the totals.
	cat >"$T/count.lua" <<'EOF'
local threads = {}
function setup(thread)
  table.insert(threads, thread)
end
function init(args)
  limit = tonumber(args[1])
  seen = 0
  codes = {}
end
function response(status, headers, body)
  seen = seen + 1
  codes[status] = (codes[status] or 0) + 1
  if seen >= limit then wrk.thread:stop() end
end
function done(summary, latency, requests)
  local total = {}
  for _, t in ipairs(threads) do
    for k, v in pairs(t:get("codes")) do total[k] = (total[k] or 0) + v end
  end
  for k, v in pairs(total) do io.write(string.format("code %d %d\n", k, v)) end
  local e = summary.errors
  io.write(string.format("errors %d\n",
    e.connect + e.read + e.write + e.timeout))
end
EOF
}

teardown() {
	common_teardown
}

# serve_as NAME ARGS...: a server on 127.0.0.1 at a free port (PORT), its PID
# in PID, its log in $T/NAME.log.
serve_as() {
	local name=$1
	shift
	PORT=$(free_port)
	bg "$HC" --listener "127.0.0.1:$PORT" "$@" 2>>"$T/$name.log"
	PID=$BG_PID
	wait_until 5 grep -q "listening on 127.0.0.1:$PORT\$" "$T/$name.log"
}

fd_count() { # PID
	find "/proc/$1/fd" -mindepth 1 -maxdepth 1 | wc -l
}

socket_count() { # PID
	find "/proc/$1/fd" -mindepth 1 -maxdepth 1 -lname 'socket:*' | wc -l
}

child_count() { # PID
	cat "/proc/$1"/task/*/children 2>/dev/null | wc -w
}

rss_kib() { # PID
	awk '$1 == "VmRSS:" { print $2 }' "/proc/$1/status"
}

# quiet PID: no connection open (the listener alone) and no child.
quiet() {
	[ "$(socket_count "$1")" -eq 1 ] && [ "$(child_count "$1")" -eq 0 ]
}

# sample PID: "RSS FDS CHILDREN" once the server is quiet.
sample() {
	wait_until 10 quiet "$1" || {
		ls -l "/proc/$1/fd" >&2
		return 1
	}
	echo "$(rss_kib "$1") $(fd_count "$1") $(child_count "$1")"
}

# hammer NAME COUNT SECONDS: at least COUNT requests to server NAME (its
# port in PORT_NAME) through wrk (2 threads, 16 connections, in 2-second runs) within SECONDS; every
# run's summary appended to $T/NAME.wrk.
hammer() {
	local name=$1 want=$2 end=$((SECONDS + $3)) port got=0 per
	port=PORT_$name
	while [ "$got" -lt "$want" ]; do
		if [ "$SECONDS" -ge "$end" ]; then
			echo "only $got of $want requests to $name in $3 s" >&2
			return 1
		fi
		per=$(((want - got + 1) / 2))
		wrk -t 2 -c 16 -d 2s --timeout 5s -s "$T/count.lua" \
			"http://127.0.0.1:${!port}/soak" -- "$per" >"$T/run.wrk" 2>&1
		cat "$T/run.wrk" >>"$T/$name.wrk"
		got=$((got + $(awk '$1 == "code" { n += $3 } END { print n + 0 }' \
			"$T/run.wrk")))
	done
	echo "$name: $got requests" >&2
}

# codes NAME: "CODE COUNT" lines, summed over every wrk run, then errors.
codes() {
	awk '$1 == "code" { c[$2] += $3 } $1 == "errors" { e += $2 }
		END { for (k in c) print k, c[k]; print "errors", e + 0 }' \
		"$T/$1.wrk" | sort
}

@test "50,000 requests (healthy, unhealthy) and 3,000 bad ones: no growth in RSS, fds, children" {
	local start=$SECONDS before_ok before_bad after_ok after_bad ok_codes bad_codes
	local PORT_ok PORT_bad PID_ok PID_bad
	start_listener
	serve_as ok --port "$LPORT"
	PORT_ok=$PORT PID_ok=$PID
	serve_as bad --port "$(free_port)" --script false
	PORT_bad=$PORT PID_bad=$PID

	# The first 1,000 of each, bad requests among them, then the baseline.
	"$HOSTILE" mixed 127.0.0.1 "$PORT_ok" 100 >"$T/mixed.warm.ok"
	"$HOSTILE" mixed 127.0.0.1 "$PORT_bad" 100 >"$T/mixed.warm.bad"
	hammer ok 900 20
	hammer bad 900 20
	before_ok=$(sample "$PID_ok")
	before_bad=$(sample "$PID_bad")
	echo "after 1,000: ok $before_ok, bad $before_bad (RSS KiB, fds, children)"

	# The rest: 24,000 more each through wrk while bad requests arrive.
	bg "$HOSTILE" mixed 127.0.0.1 "$PORT_ok" 2000 --max-time 60 >"$T/mixed.ok"
	local mixed_ok=$BG_PID
	bg "$HOSTILE" mixed 127.0.0.1 "$PORT_bad" 1000 --max-time 60 >"$T/mixed.bad"
	local mixed_bad=$BG_PID
	hammer ok 24100 25
	hammer bad 24100 50
	wait "$mixed_ok"
	wait "$mixed_bad"
	after_ok=$(sample "$PID_ok")
	after_bad=$(sample "$PID_bad")
	echo "at the end: ok $after_ok, bad $after_bad"
	echo "took $((SECONDS - start)) s"

	# Every answer right: all 200 on one, all 504 on the other, no
	# connection errors, every bad request its 4xx/505.
	ok_codes=$(codes ok)
	bad_codes=$(codes bad)
	echo "ok: $ok_codes"
	echo "bad: $bad_codes"
	cat "$T"/mixed.*
	[ "$(awk '$1 == 200 { print $2 }' <<<"$ok_codes")" -ge 25000 ]
	assert_equal "$(awk '$1 != 200 && $1 != "errors"' <<<"$ok_codes")" ""
	[ "$(awk '$1 == 504 { print $2 }' <<<"$bad_codes")" -ge 25000 ]
	assert_equal "$(awk '$1 != 504 && $1 != "errors"' <<<"$bad_codes")" ""
	assert_equal "$(awk '$1 == "errors" { print $2 }' <<<"$ok_codes")" 0
	assert_equal "$(awk '$1 == "errors" { print $2 }' <<<"$bad_codes")" 0
	assert_equal "$(cat "$T/mixed.ok")" "done=2000 wrong=0 first_wrong=-"
	assert_equal "$(cat "$T/mixed.bad")" "done=1000 wrong=0 first_wrong=-"
	# 25,000 answers and more, one verdict each, and the log a fleet can
	# afford: the first verdict told once, nothing after.
	assert_equal "$(grep -c ' verdict ' "$T/ok.log")" 1
	grep -q ' notice verdict healthy$' "$T/ok.log"
	assert_equal "$(grep -c ' verdict ' "$T/bad.log")" 1
	grep -q ' warning verdict unhealthy: ' "$T/bad.log"

	# Descriptors and children: exactly as after the first 1,000.  RSS may
	# move by a few pages, not per request: malloc trims and re-grows its
	# heap top as the number of connections in progress varies, and the
	# kernel faults in stack and libc pages a rare path first touches.
	# 256 KiB of slack is 64 pages; a leak of 16 bytes a request would be
	# 375 KiB over these 24,000, and any real leak (a buffer, a connection,
	# a check's state: hundreds of bytes) many MiB.  An ASan build keeps
	# freed memory in quarantine, so its RSS says nothing: not compared.
	local name before after
	for name in ok bad; do
		if [ "$name" = ok ]; then
			read -ra before <<<"$before_ok"
			read -ra after <<<"$after_ok"
		else
			read -ra before <<<"$before_bad"
			read -ra after <<<"$after_bad"
		fi
		assert_equal "${after[1]}" "${before[1]}"
		assert_equal "${after[2]}" "${before[2]}"
		if ! grep -q __asan_init "$HC" 2>/dev/null; then
			if [ "${after[0]}" -gt $((before[0] + 256)) ]; then
				echo "$name: RSS grew from ${before[0]} to ${after[0]} KiB" >&2
				return 1
			fi
		fi
	done
	kill -0 "$PID_ok"
	kill -0 "$PID_bad"
	[ $((SECONDS - start)) -lt 90 ]
}
