#!/usr/bin/env bats
# Persistent connections in the standalone server (issue 21, items 1-5):
# HTTP/1.1 stays open unless Connection: close, HTTP/1.0 with keep-alive,
# pipelining, bodies, --idle-timeout, SIGTERM, the one-shot forms.

setup() {
	load helpers
	common_setup
	KA=$T/ka.py
	cat >"$KA" <<'PY'
"""ka.py PORT STEP...: one connection, steps in order.
  send:BYTES   send BYTES (Python escapes: \r\n)
  get:N        read N answers (head:N when they answer HEAD): for each, a
               line "STATUS-LINE|Connection header|body"
  sleep:S      wait S seconds
  eof:S        the server closes within S seconds: "closed", else "open"
"""
import socket, sys, time

s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
buf = b""


def more():
    global buf
    c = s.recv(65536)
    if not c:
        raise EOFError
    buf += c


def answer(head_only):
    global buf
    while b"\r\n\r\n" not in buf:
        more()
    head, buf = buf.split(b"\r\n\r\n", 1)
    lines = head.decode().split("\r\n")
    h = {k.lower(): v.strip() for k, v in
         (l.split(":", 1) for l in lines[1:])}
    n = 0 if head_only else int(h["content-length"])
    while len(buf) < n:
        more()
    body, buf = buf[:n], buf[n:]
    print("%s|%s|%s" % (lines[0], h.get("connection", ""), body.decode()))


for step in sys.argv[2:]:
    verb, _, arg = step.partition(":")
    try:
        if verb == "send":
            s.sendall(arg.encode().decode("unicode_escape").encode("latin-1"))
        elif verb in ("get", "head"):
            for _ in range(int(arg)):
                answer(verb == "head")
        elif verb == "sleep":
            time.sleep(float(arg))
        elif verb == "eof":
            s.settimeout(float(arg))
            try:
                more()
                print("more: %r" % buf)
            except EOFError:
                print("closed")
            except socket.timeout:
                print("open")
    except EOFError:
        print("closed early")
        sys.exit(1)
    except (ConnectionResetError, BrokenPipeError):
        print("reset")
        sys.exit(1)
PY
}

teardown() {
	common_teardown
}

GET11='GET / HTTP/1.1\r\nHost: x\r\n\r\n'
OK11='HTTP/1.1 200 OK|keep-alive|OK'

# ka STEP...: ka.py's lines in $T/out.
ka() {
	python3 "$KA" "$PORT" "$@" >"$T/out" || { cat "$T/out" "$T/hc.log"; return 1; }
}

# expect LINE...: $T/out is these lines.
expect() {
	local want
	want=$(printf '%s\n' "$@")
	assert_equal "$(cat "$T/out")" "$want" || { cat "$T/hc.log"; return 1; }
}

# connections: how many connections the log shows a request on.
connections() {
	grep -o ' debug request [0-9.:]* [A-Z]' "$T/hc.log" | sort -u | wc -l
}

@test "HTTP/1.1: two requests on one connection, each answered keep-alive" {
	serve --script true --log-level debug
	ka "send:$GET11" get:1 "send:$GET11" get:1 eof:0.3
	expect "$OK11" "$OK11" open
	assert_equal "$(connections)" 1
	assert_equal "$(grep -c ' debug verdict healthy 200' "$T/hc.log")" 2
}

@test "HTTP/1.1 with Connection: close: the answer says close and closes" {
	serve --script true
	ka "send:$GET11" get:1 'send:GET / HTTP/1.1\r\nConnection: Close\r\n\r\n' get:1 eof:2
	expect "$OK11" 'HTTP/1.1 200 OK|close|OK' closed
}

@test "HTTP/1.0: closed unless it asks for keep-alive, and the answer says so" {
	serve --script true
	ka 'send:GET / HTTP/1.0\r\n\r\n' get:1 eof:2
	expect 'HTTP/1.0 200 OK|close|OK' closed
	ka 'send:GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n' get:1 \
		'send:HEAD / HTTP/1.0\r\nConnection: foo, Keep-Alive\r\n\r\n' head:1 eof:0.3
	expect 'HTTP/1.0 200 OK|keep-alive|OK' 'HTTP/1.0 200 OK|keep-alive|' open
}

@test "every request runs the checks afresh: 200, then 504 once the check fails" {
	mkscript up "echo >>$T/ran; [ ! -e $T/down ]"
	serve --script "$T/up"
	python3 - "$PORT" "$T/down" >"$T/out" <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
def one():
    s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    got = b""
    while b"\r\n\r\n" not in got:
        got += s.recv(4096)
    head, body = got.split(b"\r\n\r\n", 1)
    n = int([l for l in head.split(b"\r\n") if l.lower().startswith(b"content-length")][0].split(b":")[1])
    while len(body) < n:
        body += s.recv(4096)
    print(head.split(b"\r\n")[0].decode())
one()
open(sys.argv[2], "w").close()
one()
PY
	expect 'HTTP/1.1 200 OK' 'HTTP/1.1 504 Gateway Timeout'
	assert_equal "$(wc -l <"$T/ran")" 2
}

@test "--cache-ttl still serves a young result to the second request" {
	mkscript up "echo >>$T/ran"
	serve --script "$T/up" --cache-ttl 30
	ka "send:$GET11" get:1 "send:$GET11" get:1
	expect "$OK11" "$OK11"
	assert_equal "$(wc -l <"$T/ran")" 1
}

@test "pipelining: three requests in one write, answered in order" {
	serve --script true --log-level debug
	ka "send:GET /a HTTP/1.1\\r\\nHost: x\\r\\n\\r\\nHEAD /b HTTP/1.1\\r\\nHost: x\\r\\n\\r\\nGET /c HTTP/1.0\\r\\n\\r\\n" \
		get:1 head:1 get:1 eof:2
	expect "$OK11" 'HTTP/1.1 200 OK|keep-alive|' 'HTTP/1.0 200 OK|close|OK' closed
	assert_equal "$(grep -o ' debug request [^ ]* [A-Z]* /[a-c]' "$T/hc.log" | awk '{print $NF}' | tr -d '\n')" /a/b/c
}

@test "pipelining: a client that half-closes after its requests gets every answer" {
	serve --script true
	printf 'GET / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n' |
		python3 "$CLIENT" 127.0.0.1 "$PORT" --half-close >"$T/answer"
	assert_equal "$(grep -o 'HTTP/1.1 200 OK' "$T/answer" | wc -l)" 2
}

@test "pipelining: a client that half-closes after its requests gets every answer, also when they wait in the queue" {
	serve --script "sleep 0.5" --max-connections 1 --log-level debug
	# The one run slot is taken: the pipelined requests wait for it.
	printf 'GET / HTTP/1.1\r\nConnection: close\r\n\r\n' |
		python3 "$CLIENT" 127.0.0.1 "$PORT" >"$T/first" 3>&- &
	local first=$!
	wait_until 5 grep -q "request .* GET /" "$T/hc.log"
	printf 'GET / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n' |
		python3 "$CLIENT" 127.0.0.1 "$PORT" --half-close >"$T/answer"
	wait "$first"
	grep -q 'HTTP/1.1 200 OK' "$T/first"
	assert_equal "$(grep -o 'HTTP/1.1 200 OK' "$T/answer" | wc -l)" 2
}

@test "a Content-Length body is dropped and the next request parses" {
	serve --script true
	ka 'send:POST / HTTP/1.1\r\nContent-Length: 11\r\n\r\nhello' sleep:0.2 \
		'send: worldGET / HTTP/1.1\r\n\r\n' get:2 eof:0.3
	expect "$OK11" "$OK11" open
}

@test "a chunked body is read through its last chunk" {
	serve --script true
	ka 'send:POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5;x=y\r\nhello\r\n10\r\n0123456789abcdef\r\n0\r\nX-Trailer: 1\r\n\r\nGET / HTTP/1.1\r\n\r\n' \
		get:2 eof:0.3
	expect "$OK11" "$OK11" open
}

@test "a chunked body not all there when the answer is ready: the answer closes" {
	serve --script true
	ka 'send:POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel' get:1 \
		'send:lo\r\n0\r\n\r\n' eof:3
	expect 'HTTP/1.1 200 OK|close|OK' closed
}

@test "a body we cannot frame, and a bad request after a good one, close" {
	serve --script true
	ka 'send:POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\nxx' get:1 eof:3
	expect 'HTTP/1.1 200 OK|close|OK' closed
	# A chunk size with a second number after a space: no size at all.
	ka 'send:POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1 2\r\nx\r\n0\r\n\r\nGET / HTTP/1.1\r\n\r\n' get:1 eof:3
	expect 'HTTP/1.1 200 OK|close|OK' closed
	ka 'send:POST / HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nxx' get:1 eof:3
	expect 'HTTP/1.1 200 OK|close|OK' closed
	# RFC 9112 6.1: Transfer-Encoding in HTTP/1.0 is faulty framing.
	ka 'send:POST / HTTP/1.0\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n' get:1 eof:3
	expect 'HTTP/1.0 200 OK|close|OK' closed
	ka "send:$GET11" get:1 'send:GET / HTTP/1.1\r\nbad line\r\n\r\n' get:1 eof:3
	expect "$OK11" 'HTTP/1.1 400 Bad Request|close|400 Bad Request' closed
	ka "send:$GET11" get:1 'send:GET / HTTP/2.0\r\n\r\n' get:1 eof:3
	expect "$OK11" 'HTTP/1.1 505 HTTP Version Not Supported|close|505 HTTP Version Not Supported' closed
}

@test "408 for a second request begun but not finished, then closed" {
	serve --script true --request-timeout 0.5
	ka "send:$GET11" get:1 sleep:0.8 'send:GET / HTTP/1.1\r\n' get:1 eof:3
	expect "$OK11" 'HTTP/1.1 408 Request Timeout|close|408 Request Timeout' closed
}

@test "--idle-timeout closes a connection that sends nothing after its answer" {
	serve --script true --idle-timeout 0.5 --request-timeout 0.2
	ka "send:$GET11" get:1 sleep:0.3 "send:$GET11" get:1 eof:0.3 eof:1
	# Idle longer than --request-timeout is fine; --idle-timeout is not.
	expect "$OK11" "$OK11" open closed
	run "$HC" --idle-timeout 0 --port 1
	[ "$status" -eq 2 ]
	[[ "$output" == *'invalid --idle-timeout "0": expected seconds, more than 0 and at most 3600'* ]]
	run "$HC" --idle-timeout 3601 --port 1
	[ "$status" -eq 2 ]
}

@test "a body that ends after its answer: then --idle-timeout, not --request-timeout" {
	serve --script true --idle-timeout 2 --request-timeout 0.5
	ka 'send:POST / HTTP/1.1\r\nContent-Length: 11\r\n\r\nhello' get:1 sleep:0.2 \
		'send: world' eof:1 "send:$GET11" get:1
	expect "$OK11" open "$OK11"
}

@test "SIGTERM: an idle keep-alive connection closes at once, an answer in progress finishes" {
	mkscript slow "[ -e $T/slow ] && sleep 1; true"
	serve --script "$T/slow" --log-level debug
	python3 "$KA" "$PORT" "send:$GET11" get:1 eof:5 >"$T/idle" &
	local idle=$!
	wait_until 10 grep -q ' debug verdict healthy 200' "$T/hc.log"
	touch "$T/slow"
	python3 "$KA" "$PORT" "send:$GET11" get:1 eof:5 >"$T/busy" &
	local busy=$!
	wait_until 10 eval '[ "$(grep -c " debug request " "$T/hc.log")" -eq 2 ]'
	local start
	start=$(date +%s%N)
	kill -TERM "$HC_PID"
	wait "$idle"
	[ $(( ($(date +%s%N) - start) / 1000000 )) -lt 900 ]
	wait "$busy"
	assert_equal "$(cat "$T/idle")" "$(printf '%s\nclosed' "$OK11")"
	assert_equal "$(cat "$T/busy")" "$(printf '%s\nclosed' 'HTTP/1.1 200 OK|close|OK')"
	wait_until 5 gone "$HC_PID"
}

@test "the one-shot form answers one request and says Connection: close" {
	printf 'GET / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n' |
		"$HC" --inetd --script true >"$T/answer" 2>"$T/err"
	assert_equal "$(grep -c '^HTTP/1.1' "$T/answer")" 1
	grep -q $'^Connection: close\r$' "$T/answer"
}

@test "curl reuses the connection for two URLs" {
	serve --script true --log-level debug
	curl -sv --max-time 10 "http://127.0.0.1:$PORT/a" "http://127.0.0.1:$PORT/b" \
		>"$T/body" 2>"$T/curl"
	grep -Eiq 're-?using (existing )?connection' "$T/curl" || { cat "$T/curl"; return 1; }
	assert_equal "$(cat "$T/body")" OKOK
	assert_equal "$(connections)" 1
}

@test "200 sequential keep-alive GETs: one connection, no TIME_WAIT" {
	serve --script true --log-level debug
	python3 - "$PORT" <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
for i in range(200):
    s.sendall(b"GET /%d HTTP/1.1\r\nHost: x\r\n\r\n" % i)
    got = b""
    while not got.endswith(b"\r\n\r\nOK"):
        c = s.recv(4096)
        assert c, "closed at %d" % i
        got += c
s.close()
PY
	assert_equal "$(grep -c ' debug verdict healthy 200' "$T/hc.log")" 200
	assert_equal "$(connections)" 1
	sleep 0.2
	# The client closed first: its side holds the one TIME_WAIT, if any.
	[ "$(ss -Htan state time-wait "( sport = :$PORT )" | wc -l)" -eq 0 ]
}

@test "wrk: keep-alive load, every answer 200" {
	command -v wrk >/dev/null || skip "wrk is not installed"
	serve --script true --cache-ttl 60 --log-level debug
	wrk -t 1 -c 4 -d 1 "http://127.0.0.1:$PORT/" >"$T/wrk" 2>&1
	cat "$T/wrk"
	grep -q 'requests in' "$T/wrk"
	! grep -q 'Socket errors\|Non-2xx' "$T/wrk"
	# Four connections for all of them.
	[ "$(connections)" -le 4 ]
}
