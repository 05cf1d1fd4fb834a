#!/usr/bin/env bats
# --details with Accept: application/health+json: the IETF draft "Health
# Check Response Format for HTTP APIs", field by field, in the one-shot
# (inetd, stdin) and standalone forms; the q-value choice between it,
# today's JSON and text; --cache-ttl, --fail-status, maintenance, 4xx.
# tests/extras/healthbody.py checks a body's shape and prints its checks.

setup() {
	load helpers
	common_setup
	EXTRAS=$BATS_TEST_DIRNAME/extras
	HJ='Accept: application/health+json'
}

teardown() {
	common_teardown
}

# request FMT ARGS...: FMT's bytes (printf format) to a one-shot checker on
# its stdin with ARGS; $T/answer, $status; stderr appended to $T/hc.log.
request() {
	inetd_request "$@"
	cat "$T/err" >>"$T/hc.log"
}

# health FILE [AFTER_MS]: healthbody.py's lines for the answer in FILE in
# $output; fails (showing the answer) when the body is not the draft's.
health() {
	run "$EXTRAS/healthbody.py" "$@"
	if [ "$status" -ne 0 ]; then
		echo "$output"
		echo "--- answer:"
		cat -A "$1"
		echo "--- log:"
		cat "$T/hc.log" 2>/dev/null
		return 1
	fi
}

# header FILE NAME: the value of header NAME in the answer in FILE.
header() {
	sed -n '2,/^\r\{0,1\}$/p' "$1" | tr -d '\r' |
		sed -n "s/^$2:[[:blank:]]*//Ip" | head -n 1
}

# get [CURL ARGS]: curl's answer (head and body) from PORT in $T/answer.
get() {
	curl -sS -i --max-time 10 "$@" "http://127.0.0.1:$PORT/" >"$T/answer"
}

now_ms() {
	echo $(($(date +%s%N) / 1000000))
}

# passed START_MS MS: MS milliseconds have passed since START_MS.
passed() {
	[ $(($(now_ms) - $1)) -ge "$2" ]
}

start_httpd() {
	local out
	out=$(mktemp "$T/httpd.XXXXXX")
	bg "$EXTRAS/httpd.py" 127.0.0.1 "$T/heads" >"$out"
	wait_until 5 test -s "$out"
	U=http://127.0.0.1:$(head -n 1 "$out")
}

start_unix() { # ADDR
	local ready
	ready=$(mktemp -u "$T/unix-ready.XXXXXX")
	bg "$EXTRAS/unixlisten.py" "$1" "$ready"
	wait_until 5 test -e "$ready"
}

# the checks' lines healthbody.py prints, as expected for the tests below
expect() {
	local want
	want=$(printf '%s\n' "$@")
	assert_equal "$output" "$want" || {
		cat "$T/answer"
		return 1
	}
}

@test "health+json one-shot: every check passing, each field checked" {
	start_listener
	start_httpd
	start_unix "$T/sock"
	mkscript quick 'exit 0'
	local t0
	t0=$(now_ms)
	request "GET / HTTP/1.0\r\n$HJ\r\n\r\n" --details --port "$LPORT" \
		--unix "$T/sock" --http "$U/ok?token=QUERYSECRET#FRAGSECRET" \
		--script "$T/quick --password=hunter2"
	assert_equal "$status" 0
	assert_equal "$(status_line "$T/answer")" "HTTP/1.0 200 OK"
	health "$T/answer" "$t0"
	expect status=pass \
		"tcp-1:responseTime|tcp|127.0.0.1:$LPORT|pass|" \
		"unix-1:responseTime|unix|$T/sock|pass|" \
		"http-1:responseTime|http|$U/ok|pass|" \
		"script-1:responseTime|script|$T/quick|pass|"
	not grep -q -e hunter2 -e QUERYSECRET -e FRAGSECRET "$T/answer"
	# The query did reach the checked server: only the answer hides it.
	grep -q 'GET /ok?token=QUERYSECRET ' "$T/heads"
}

@test "health+json one-shot: failures carry output; secrets never in the body" {
	start_listener
	mkscript leaky 'echo "LEAKED-OUT $*"; echo "LEAKED-ERR $*" >&2; exit 3'
	local dead t0
	dead=$(free_port)
	t0=$(now_ms)
	request "GET / HTTP/1.1\r\nHost: h\r\n$HJ\r\n\r\n" --details \
		--port "$LPORT" --port "$dead" \
		--script "$T/leaky --password=hunter2 'two words'" \
		--http "http://127.0.0.1:$dead/x?token=QUERYSECRET" \
		--unix "$T/missing"
	assert_equal "$status" 0
	assert_equal "$(status_line "$T/answer")" "HTTP/1.1 504 Gateway Timeout"
	health "$T/answer" "$t0"
	expect status=fail \
		"tcp-1:responseTime|tcp|127.0.0.1:$LPORT|pass|" \
		"tcp-2:responseTime|tcp|127.0.0.1:$dead|fail|refused" \
		"script-1:responseTime|script|$T/leaky|fail|exit 3" \
		"http-1:responseTime|http|http://127.0.0.1:$dead/x|fail|refused" \
		"unix-1:responseTime|unix|$T/missing|fail|No such file or directory"
	not grep -q -e hunter2 -e LEAKED -e 'two words' -e QUERYSECRET \
		"$T/answer"
	# The script ran with its arguments: its output is in the log alone.
	grep -q 'LEAKED-OUT --password=hunter2 two words' "$T/hc.log"
}

@test "health+json: NAME is the type and its rank, unique for one target" {
	start_listener
	request "GET / HTTP/1.0\r\n$HJ\r\n\r\n" --details --port "$LPORT" \
		--script true --port "$LPORT" --script true --script false
	health "$T/answer"
	expect status=fail \
		"tcp-1:responseTime|tcp|127.0.0.1:$LPORT|pass|" \
		"script-1:responseTime|script|true|pass|" \
		"tcp-2:responseTime|tcp|127.0.0.1:$LPORT|pass|" \
		"script-2:responseTime|script|true|pass|" \
		"script-3:responseTime|script|false|fail|exit 1"
	# The same names on the next run: dashboards key on them.
	cp "$T/answer" "$T/first"
	request "GET / HTTP/1.0\r\n$HJ\r\n\r\n" --details --port "$LPORT" \
		--script true --port "$LPORT" --script true --script false
	local before=$output
	health "$T/answer"
	assert_equal "$output" "$before"
}

@test "health+json: observedValue is the milliseconds, time when it ended" {
	mkscript slow 'sleep 0.3'
	local t0
	t0=$(now_ms)
	request "GET / HTTP/1.0\r\n$HJ\r\n\r\n" --details --script "$T/slow"
	health "$T/answer" "$t0"
	run python3 -c 'import json, sys, datetime
raw = open(sys.argv[1], "rb").read()
doc = json.loads(raw.partition(b"\r\n\r\n")[2])
c = doc["checks"]["script-1:responseTime"][0]
t = datetime.datetime.fromisoformat(c["time"].replace("Z", "+00:00"))
ended_ms = t.timestamp() * 1000 - int(sys.argv[2])
print(c["observedValue"], int(ended_ms))' "$T/answer" "$t0"
	echo "observedValue, ms from the request to time: $output"
	local ms ended
	read -r ms ended <<<"$output"
	[ "$ms" -ge 290 ] && [ "$ms" -lt 3000 ]
	# It ended after the script's 0.3 s, not when the request came.
	[ "$ended" -ge 250 ] && [ "$ended" -lt 4000 ]
}

@test "health+json: quotes, backslashes, control bytes and UTF-8 in a target" {
	local odd=$T/we\"ird\\na\$me-tab$'\t'nl$'\n'cr$'\r'bel$'\a'-caf$'\xc3\xa9'
	printf '#!/bin/sh\nexit 4\n' >"$odd"
	chmod +x "$odd"
	request "GET / HTTP/1.0\r\n$HJ\r\n\r\n" --details --script "'$odd' arg"
	health "$T/answer"
	run python3 -c 'import json, sys
raw = open(sys.argv[1], "rb").read()
body = raw.partition(b"\r\n\r\n")[2]
c = json.loads(body.decode("utf-8"))["checks"]["script-1:responseTime"][0]
assert b"\n" not in body[:-1] and b"\r" not in body and b"\t" not in body
sys.exit(0 if c["componentId"] == sys.argv[2] and c["output"] == "exit 4" else 1)' \
		"$T/answer" "$odd"
	echo "$output"
	assert_equal "$status" 0
}

@test "a target that is not UTF-8 (a Latin-1 path): both JSON bodies still parse, U+FFFD in its place" {
	local odd=$T/caf$'\xe9'-$'\xff\xc0\xaf'-ok$'\xc3\xa9'
	printf '#!/bin/sh\nexit 4\n' >"$odd"
	chmod +x "$odd"
	for accept in application/health+json application/json; do
		request "GET / HTTP/1.0\r\nAccept: $accept\r\n\r\n" --details \
			--script "'$odd' arg"
		run python3 -c 'import json, sys
body = open(sys.argv[1], "rb").read().partition(b"\r\n\r\n")[2]
doc = json.loads(body.decode("utf-8"))
c = doc["checks"]
c = c[0]["target"] if isinstance(c, list) else c["script-1:responseTime"][0]["componentId"]
want = sys.argv[2] + "/caf\ufffd-\ufffd\ufffd\ufffd-ok\u00e9"
sys.exit(0 if c == want else 1)' "$T/answer" "$T"
		echo "$accept: $output"
		cat -A "$T/answer"
		assert_equal "$status" 0
	done
}

@test "health+json through the standalone server; HEAD gets the headers alone" {
	start_httpd
	serve --details --http "$U/ok" --script true
	local t0
	t0=$(now_ms)
	get -H "$HJ"
	assert_equal "$(status_line "$T/answer")" "HTTP/1.1 200 OK"
	health "$T/answer" "$t0"
	expect status=pass "http-1:responseTime|http|$U/ok|pass|" \
		"script-1:responseTime|script|true|pass|"
	curl -sS -i --max-time 10 -I -H "$HJ" "http://127.0.0.1:$PORT/" \
		>"$T/head"
	assert_equal "$(status_line "$T/head")" "HTTP/1.1 200 OK"
	assert_equal "$(header "$T/head" Content-Type)" "application/health+json"
	assert_equal "$(body "$T/head" | wc -c)" 0
	# The length the body would have: the same checks, the same bytes.
	[ "$(header "$T/head" Content-Length)" -gt 100 ]
}

@test "health+json with --fail-status 503: the code, and no Retry-After" {
	mkscript bad 'echo oops; exit 1'
	serve --details --fail-status 503 --script true --script "$T/bad"
	get -H "$HJ"
	assert_equal "$(status_line "$T/answer")" "HTTP/1.1 503 Service Unavailable"
	health "$T/answer"
	expect status=fail "script-1:responseTime|script|true|pass|" \
		"script-2:responseTime|script|$T/bad|fail|exit 1"
	assert_equal "$(header "$T/answer" Retry-After)" ""
	not grep -q oops "$T/answer"
}

@test "one kept-alive connection: each pipelined request gets the body it asks for" {
	serve --details --script true
	printf 'GET / HTTP/1.1\r\n%s\r\n\r\nGET / HTTP/1.1\r\nAccept: application/json\r\n\r\nGET / HTTP/1.1\r\nConnection: close\r\n\r\n' \
		"$HJ" | "$CLIENT" 127.0.0.1 "$PORT" >"$T/answers"
	run python3 -c 'import sys
raw = open(sys.argv[1], "rb").read()
while raw:
    head, _, rest = raw.partition(b"\r\n\r\n")
    fields = dict(l.split(b": ", 1) for l in head.split(b"\r\n")[1:])
    n = int(fields[b"Content-Length"])
    print(head.split(b"\r\n")[0].decode(), fields[b"Content-Type"].decode(),
          rest[:1].decode() if n else "")
    raw = rest[n:]' "$T/answers"
	echo "$output"
	assert_equal "$status" 0
	assert_equal "$output" "HTTP/1.1 200 OK application/health+json {
HTTP/1.1 200 OK application/json {
HTTP/1.1 200 OK text/plain; charset=utf-8 O"
}

# choose ACCEPT-LINES: which body a one-shot gives: text, json or health.
choose() {
	request "GET / HTTP/1.0\r\n$1\r\n\r\n" --details --script true
	case $(header "$T/answer" Content-Type) in
	"text/plain; charset=utf-8") echo text ;;
	application/json)
		"$EXTRAS/jsonbody.py" "$T/answer" >/dev/null && echo json ;;
	application/health+json)
		"$EXTRAS/healthbody.py" "$T/answer" >/dev/null && echo health ;;
	*) echo "other: $(cat "$T/answer")" ;;
	esac
}

@test "Accept: the higher q wins between health+json and JSON; */* is text" {
	local a want got
	while IFS='|' read -r a want; do
		got=$(choose "$a")
		if [ "$got" != "$want" ]; then
			echo "$a: expected $want, got $got"
			cat "$T/answer"
			return 1
		fi
	done <<'EOF2'
Accept: application/health+json|health
Accept: application/health+json;q=0.001|health
Accept: APPLICATION/HEALTH+JSON|health
Accept: text/plain, application/health+json; charset=utf-8|health
Accept: application/health+json;q=0|text
Accept: application/health+json;q=0, application/json|json
Accept: application/health+json;q=0, application/json;q=0.2|json
Accept: application/json;q=0.5, application/health+json;q=0.9|health
Accept: application/json;q=0.9, application/health+json;q=0.5|json
Accept: application/json, application/health+json|health
Accept: application/json;q=0.7, application/health+json;q=0.7|health
Accept: application/json|json
Accept: */*|text
Accept: application/*|text
Accept: */*;q=1, application/health+json;q=0|text
Accept: application/health+jsonx|text
Accept: text/plain|text
EOF2
	# No Accept at all: text.
	request 'GET / HTTP/1.0\r\n\r\n' --details --script true
	assert_equal "$(header "$T/answer" Content-Type)" "text/plain; charset=utf-8"
	# Over two Accept lines, the best q of each.
	got=$(choose $'Accept: application/json;q=0.8\r\nAccept: application/health+json;q=0.3')
	assert_equal "$got" json
}

@test "application/json alone keeps today's JSON byte for byte" {
	start_listener
	request 'GET / HTTP/1.0\r\nAccept: application/json\r\n\r\n' --details \
		--port "$LPORT" --script false
	body "$T/answer" >"$T/got"
	printf '{"status":"fail","checks":[{"type":"tcp","target":"127.0.0.1:%s","ok":true,"ms":0,"reason":""},{"type":"script","target":"false","ok":false,"ms":0,"reason":"exit 1"}]}\n' \
		"$LPORT" >"$T/want"
	# ms varies: compare with it set to 0.
	sed -i 's/"ms":[0-9]*/"ms":0/g' "$T/got"
	cmp "$T/got" "$T/want" || {
		cat "$T/got" "$T/want"
		return 1
	}
	assert_equal "$(header "$T/answer" Content-Type)" application/json
}

@test "without --details no JSON at all, health+json asked or not" {
	request "GET / HTTP/1.0\r\n$HJ\r\n\r\n" --script true
	assert_equal "$(status_line "$T/answer")" "HTTP/1.0 200 OK"
	assert_equal "$(body "$T/answer")" OK
	assert_equal "$(header "$T/answer" Content-Type)" "text/plain; charset=utf-8"
	request "GET / HTTP/1.0\r\n$HJ\r\n\r\n" --script false
	assert_equal "$(body "$T/answer")" "At least one health check failed"
	assert_equal "$(header "$T/answer" Content-Type)" "text/plain; charset=utf-8"
}

@test "maintenance and 4xx answers stay text with health+json asked" {
	touch "$T/drain"
	request "GET / HTTP/1.0\r\n$HJ\r\n\r\n" --details \
		--maintenance-file "$T/drain" --script true
	assert_equal "$(status_line "$T/answer")" "HTTP/1.0 503 Service Unavailable"
	assert_equal "$(body "$T/answer")" Maintenance
	assert_equal "$(header "$T/answer" Content-Type)" "text/plain; charset=utf-8"
	request "GET / HTTP/1.1\r\n$HJ\r\nbad header line\r\n\r\n" --details \
		--script true
	assert_equal "$(status_line "$T/answer")" "HTTP/1.1 400 Bad Request"
	assert_equal "$(header "$T/answer" Content-Type)" "text/plain; charset=utf-8"
}

# same_verdict A B: two health+json bodies of one verdict: the same bytes
# but for "time", which is the same to the millisecond (each answer turns
# the verdict's monotonic time into UTC anew: a boundary may fall between).
same_verdict() {
	python3 -c 'import json, sys, datetime
def load(path):
    doc = json.load(open(path))
    times = []
    for c in doc["checks"].values():
        t = c[0].pop("time")
        times.append(datetime.datetime.fromisoformat(t.replace("Z", "+00:00")))
    return doc, times
a, ta = load(sys.argv[1])
b, tb = load(sys.argv[2])
ok = a == b and all(abs((x - y).total_seconds()) <= 0.001 for x, y in zip(ta, tb))
sys.exit(0 if ok else 1)' "$1" "$2" || {
		cat "$1" "$2"
		return 1
	}
}

@test "--cache-ttl: a cached verdict is served as health+json, its own time" {
	mkscript marker "echo run >>$T/runs; exit 0"
	serve --details --cache-ttl 30 --lock-file "$T/lock" --script "$T/marker"
	get -H "$HJ"
	health "$T/answer"
	body "$T/answer" >"$T/first"
	# A request well after the run: its time is still the run's.
	local t1
	t1=$(now_ms)
	wait_until 5 passed "$t1" 20
	get -H "$HJ"
	health "$T/answer"
	body "$T/answer" >"$T/second"
	assert_equal "$(wc -l <"$T/runs")" 1
	same_verdict "$T/first" "$T/second"
	# The same cached verdict in the other formats, as each request asks.
	get -H 'Accept: application/json'
	"$EXTRAS/jsonbody.py" "$T/answer"
	get
	assert_equal "$(header "$T/answer" Content-Type)" "text/plain; charset=utf-8"
	assert_equal "$(wc -l <"$T/runs")" 1
}

@test "--cache-ttl, one-shots: the next process serves the cached health+json" {
	mkscript marker "echo run >>$T/runs; exit 3"
	local i
	for i in 1 2; do
		request "GET / HTTP/1.0\r\n$HJ\r\n\r\n" --details --cache-ttl 30 \
			--lock-file "$T/lock" --script "$T/marker"
		assert_equal "$(status_line "$T/answer")" \
			"HTTP/1.0 504 Gateway Timeout"
		health "$T/answer"
		body "$T/answer" >"$T/body$i"
	done
	assert_equal "$(wc -l <"$T/runs")" 1
	same_verdict "$T/body1" "$T/body2"
}
