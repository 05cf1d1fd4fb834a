#!/usr/bin/env bats
# What reaches the journal stays readable, whatever a script, a client or a
# command line holds: every line valid UTF-8 without a control character
# (checked byte by byte, and by a private journald that must store MESSAGE
# as a string); and --maintenance-file counts only a file of root's or of
# the checker's own user, its changes told once.

setup() {
	load helpers
	common_setup
	REQ='GET / HTTP/1.0\r\n\r\n'
	mkdir -m 700 "$T/rt"
	export RUNTIME_DIRECTORY=$T/rt
	# Every byte, then what a decoder must keep (é, €, U+1F600) and what
	# it must not: a C1 control in UTF-8 (CSI), an overlong "/", a
	# surrogate, one past U+10FFFF, a sequence cut short at the end.
	python3 -c '
import sys
sys.stdout.buffer.write(bytes(range(256)) + b" \xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80 \xc2\x9b \xc0\xaf \xed\xa0\x80 \xf4\x90\x80\x80 \xe2\x82")' >"$T/bytes"
	printf '#!/bin/sh\ncat %s\nexit 3\n' "$T/bytes" >"$T/hostile"
	chmod +x "$T/hostile"
}

teardown() {
	common_teardown
}

# expected_escape FILE: the bytes of FILE as a log line must show them:
# valid UTF-8 (C1 controls aside) kept, \n, \", \\, every other byte \xNN.
expected_escape() {
	python3 - "$1" <<'PY'
import sys, unicodedata
data = open(sys.argv[1], "rb").read()
out, i = [], 0
while i < len(data):
    b = data[i]
    if b >= 0x80:
        for n in (4, 3, 2):
            try:
                ch = data[i:i + n].decode("utf-8")
            except UnicodeDecodeError:
                continue
            if len(ch) == 1 and unicodedata.category(ch) != "Cc":
                out.append(ch)
                i += n
                break
        else:
            out.append("\\x%02x" % b)
            i += 1
        continue
    out.append("\\n" if b == 10 else "\\" + chr(b) if b in (34, 92)
               else "\\x%02x" % b if b < 0x20 or b == 0x7f else chr(b))
    i += 1
sys.stdout.write("".join(out))
PY
}

# clean_lines FILE: every line of FILE is valid UTF-8 without a control
# character (the newline that ends it aside); prints the offender.
clean_lines() {
	python3 - "$1" <<'PY'
import sys, unicodedata
data = open(sys.argv[1], "rb").read()
assert data, "no log line at all"
for no, raw in enumerate(data.split(b"\n")[:-1], 1):
    try:
        line = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        sys.exit("line %d not UTF-8: %s: %r" % (no, e, raw))
    bad = [c for c in line if unicodedata.category(c) == "Cc"]
    if bad:
        sys.exit("line %d has control characters %r: %r" % (no, bad, line))
assert data.endswith(b"\n"), "last line unterminated"
PY
}

@test "one-shot stderr: every byte 0x00-0xff of a script's output, valid UTF-8 and escaped, at debug and at info" {
	local want
	printf "$REQ" | "$HC" --inetd --log-level debug --script "$T/hostile" \
		>"$T/answer" 2>"$T/err"
	assert_equal "$(status_line "$T/answer")" "HTTP/1.0 504 Gateway Timeout"
	cat "$T/err" >&2
	clean_lines "$T/err"
	want=$(expected_escape "$T/bytes")
	# The check's line holds the whole output, escaped exactly so.
	grep -F -e "check script $T/hostile fail " "$T/err" >"$T/check"
	assert_equal "$(sed 's/.* output "\(.*\)"$/\1/' "$T/check")" "$want"
	grep -Fq -e '\xc2\x9b' "$T/check"
	grep -Fq -e ' é€😀 ' "$T/check"
	# At the default level: the change line alone, clean too.
	rm -rf "$T/rt"/*
	printf "$REQ" | "$HC" --inetd --script "$T/hostile" >"$T/answer" 2>"$T/err"
	cat "$T/err" >&2
	clean_lines "$T/err"
	assert_equal "$(wc -l <"$T/err")" 1
	grep -Fq -e "warning verdict unhealthy: script $T/hostile exit 3 \"" "$T/err"
	grep -Fq -e '\xf4\x90\x80\x80 \xe2\x82"' "$T/err"
}

@test "one-shot stderr: a hostile request target, script path and maintenance path leave every line clean" {
	local evil
	evil=$(printf '%s/x\233\302\233\033[2J\177\377' "$T")
	printf 'GET /\233\302\233\377\303\251 HTTP/1.0\r\n\r\n' |
		"$HC" --inetd --log-level debug --script "$evil arg" \
			--maintenance-file "$evil" >"$T/answer" 2>"$T/err"
	assert_equal "$(status_line "$T/answer")" "HTTP/1.0 504 Gateway Timeout"
	cat "$T/err" >&2
	clean_lines "$T/err"
	grep -Fq -e 'request - GET /\x9b\xc2\x9b\xffé' "$T/err"
	grep -Fq -e "script $T/x\\x9b\\xc2\\x9b\\x1b[2J\\x7f\\xff" "$T/err"
}

@test "a usage error naming a hostile value: one clean line, the bytes escaped, exit 2" {
	run "$HC" --port "$(printf '\233\033[2J\302\233:1')"
	assert_equal "$status" 2
	printf '%s\n' "$output" >"$T/err"
	cat "$T/err" >&2
	clean_lines "$T/err"
	assert_equal "$output" 'health-checker: invalid --port "\x9b\x1b[2J\xc2\x9b:1": \x9b\x1b[2J\xc2\x9b is not a host name'
}

# journald_start: a journald of the test's own in a private mount namespace
# (ns_start): tmpfs over its sockets and its files, so the host's journal
# never sees a line of this test, nor this test the host's.
journald_start() {
	local jd
	for jd in /lib/systemd/systemd-journald /usr/lib/systemd/systemd-journald; do
		[ -x "$jd" ] && break
	done
	if [ ! -x "$jd" ]; then
		echo "no systemd-journald here (Debian: apt-get install systemd)" >&2
		return 1
	fi
	ns_start
	in_ns mount -t tmpfs -o mode=0755 tmpfs /run/systemd
	in_ns mkdir /run/systemd/journal
	in_ns mkdir -p /run/log
	in_ns mount -t tmpfs -o mode=0755 tmpfs /run/log
	if [ -d /var/log/journal ]; then
		in_ns mount -t tmpfs -o mode=0755 tmpfs /var/log/journal
	fi
	# An empty environment: journald puts its sockets under the
	# RUNTIME_DIRECTORY it is given, which here is the checker's.
	bg_ns env -i "$jd" </dev/null >"$T/journald.log" 2>&1
	if ! wait_until 10 in_ns test -S /run/systemd/journal/stdout; then
		cat "$T/journald.log" >&2
		return 1
	fi
}

# journal_json: every entry of the private journal, one JSON object a line.
journal_json() {
	in_ns journalctl -D /run/log/journal -o json --no-pager
}

journal_has_verdict() {
	journal_json >"$T/journal.json" 2>/dev/null &&
		grep -q '"SYSLOG_IDENTIFIER":"hc-journal"' "$T/journal.json" &&
		grep -q 'verdict unhealthy' "$T/journal.json"
}

@test "a private journald stores the unhealthy verdict of a hostile script as a string, escaped" {
	journald_start
	printf "$REQ" >"$T/request"
	# systemd-cat connects stdout and stderr to a journal stream, as a
	# service's StandardError=journal does; JOURNAL_STREAM is set the way
	# systemd sets it when this systemd-cat does not.
	in_ns systemd-cat -t hc-journal sh -c '
		: "${JOURNAL_STREAM:=$(stat -L -c %d:%i /proc/self/fd/2)}"
		export JOURNAL_STREAM
		exec "$0" --inetd --log-level debug --script "$3" <"$1" >"$2"' \
		"$HC" "$T/request" "$T/answer" "$T/hostile"
	assert_equal "$(status_line "$T/answer")" "HTTP/1.0 504 Gateway Timeout"
	wait_until 10 journal_has_verdict
	expected_escape "$T/bytes" >"$T/want"
	python3 - "$T/journal.json" "$T/want" "$T/hostile" <<'PY'
import json, sys
entries = [json.loads(l) for l in open(sys.argv[1], encoding="utf-8")]
want = open(sys.argv[2], encoding="utf-8").read()
script = sys.argv[3]
ours = [e for e in entries if e.get("SYSLOG_IDENTIFIER") == "hc-journal"]
for e in ours:
    print(e.get("PRIORITY"), repr(e["MESSAGE"]), file=sys.stderr)
blobs = [e["MESSAGE"] for e in ours if not isinstance(e["MESSAGE"], str)]
assert not blobs, "stored as binary: %d of %d" % (len(blobs), len(ours))
verdict = [e for e in ours if e["MESSAGE"].startswith("verdict unhealthy: ")]
assert len(verdict) == 1, "no single verdict line"
v = verdict[0]
assert v["PRIORITY"] == "4", "verdict priority " + v["PRIORITY"]
assert v["MESSAGE"].startswith("verdict unhealthy: script %s exit 3 \"" % script)
assert v["MESSAGE"].endswith('\\xf4\\x90\\x80\\x80 \\xe2\\x82"'), v["MESSAGE"]
assert want.endswith(v["MESSAGE"].rsplit('"', 2)[1]), "output not as escaped"
check = [e for e in ours if e["MESSAGE"].startswith("check script ")]
assert len(check) == 1 and check[0]["PRIORITY"] == "7"
assert check[0]["MESSAGE"].endswith(' output "%s"' % want), check[0]["MESSAGE"]
assert "\\xc2\\x9b" in want and " é€😀 " in want
PY
}

# ---------------------------------------------------- --maintenance-file

# as_nobody CMD...: CMD as uid and gid 65534, no other group.
as_nobody() {
	setpriv --reuid 65534 --regid 65534 --clear-groups -- "$@"
}

# drain_dir: $T/sticky, a sticky world-writable directory (as /tmp is)
# that another uid can reach; the maintenance file goes in DRAIN.
drain_dir() {
	chmod 755 "$T"
	mkdir -m 1777 "$T/sticky"
	DRAIN=$T/sticky/health-checker.drain
}

# probe: one request to the server at $PORT; its status line in $STATUS.
probe() {
	STATUS=$(printf 'GET / HTTP/1.0\r\n\r\n' |
		python3 "$CLIENT" 127.0.0.1 "$PORT" | head -n 1 | tr -d '\r')
}

# probes N WANT: N requests to the server, each answered WANT.
probes() {
	local i
	for i in $(seq "$1"); do
		probe
		assert_equal "$STATUS" "$2"
	done
}

# count FIXED-STRING [FILE]: how many lines of FILE ($T/hc.log) hold it.
count() {
	grep -cF -e "$1" "${2:-$T/hc.log}" || true
}

@test "server: another user's maintenance file is ignored and warned about once; root's drains; each change told once" {
	drain_dir
	serve --maintenance-file "$DRAIN" --script true
	probes 2 "HTTP/1.0 200 OK"
	as_nobody touch "$DRAIN"
	[ "$(stat -c %u "$DRAIN")" = 65534 ]
	probes 5 "HTTP/1.0 200 OK"
	cat "$T/hc.log" >&2
	assert_equal "$(count "warning maintenance file $DRAIN ignored: owned by uid 65534, neither root nor uid 0")" 1
	assert_equal "$(count maintenance:)" 0
	rm "$DRAIN"
	touch "$DRAIN"
	probes 5 "HTTP/1.0 503 Service Unavailable"
	assert_equal "$(count "notice maintenance: $DRAIN is there: answering 503 Maintenance, no check runs")" 1
	rm "$DRAIN"
	probes 3 "HTTP/1.0 200 OK"
	assert_equal "$(count "notice maintenance over: $DRAIN is gone or not ours: the checks answer again")" 1
	# Another one of another user's, later: told again, once.
	as_nobody touch "$DRAIN"
	probes 3 "HTTP/1.0 200 OK"
	cat "$T/hc.log" >&2
	assert_equal "$(count "ignored: owned by uid 65534")" 2
	assert_equal "$(count maintenance)" 4
	clean_lines "$T/hc.log"
}

# oneshot: one pipe-mode request with the maintenance file; status line in
# $STATUS, stderr appended to $T/all.
oneshot() {
	printf "$REQ" | "$HC" --inetd --maintenance-file "$DRAIN" --script true \
		"$@" >"$T/answer" 2>>"$T/all"
	STATUS=$(status_line "$T/answer")
}

@test "one-shots: 10 probes with another user's file warn once in all; root's file: one line in, one line out" {
	local i
	drain_dir
	: >"$T/all"
	as_nobody touch "$DRAIN"
	for i in $(seq 10); do
		oneshot
		assert_equal "$STATUS" "HTTP/1.0 200 OK"
	done
	cat "$T/all" >&2
	assert_equal "$(count "warning maintenance file $DRAIN ignored: owned by uid 65534" "$T/all")" 1
	rm "$DRAIN"
	touch "$DRAIN"
	for i in $(seq 10); do
		oneshot
		assert_equal "$STATUS" "HTTP/1.0 503 Service Unavailable"
	done
	rm "$DRAIN"
	for i in $(seq 10); do
		oneshot
		assert_equal "$STATUS" "HTTP/1.0 200 OK"
	done
	cat "$T/all" >&2
	assert_equal "$(count "notice maintenance: $DRAIN is there" "$T/all")" 1
	assert_equal "$(count "notice maintenance over: $DRAIN is gone" "$T/all")" 1
	# The healthy verdict once, the file once, the two changes.
	assert_equal "$(wc -l <"$T/all")" 4
}

@test "maintenance file: a link of another user's, a root link to another user's file, a hard link: none drains" {
	drain_dir
	: >"$T/all"
	touch "$T/roots"
	as_nobody touch "$T/sticky/theirs"
	# Another user's symlink to a file of root's.
	as_nobody ln -s "$T/roots" "$DRAIN"
	oneshot
	assert_equal "$STATUS" "HTTP/1.0 200 OK"
	rm "$DRAIN"
	# Root's symlink to another user's file.
	ln -s "$T/sticky/theirs" "$DRAIN"
	oneshot
	assert_equal "$STATUS" "HTTP/1.0 200 OK"
	rm "$DRAIN"
	# A second name of root's file, as a hard link another user could
	# make where fs.protected_hardlinks is 0.
	ln "$T/roots" "$DRAIN"
	oneshot
	assert_equal "$STATUS" "HTTP/1.0 200 OK"
	cat "$T/all" >&2
	assert_equal "$(count "ignored: owned by uid 65534" "$T/all")" 2
	assert_equal "$(count "ignored: 2 hard links" "$T/all")" 1
	# Root's symlink to root's file drains, as a plain file of root's does.
	rm "$DRAIN"
	ln -s "$T/roots" "$DRAIN"
	oneshot
	assert_equal "$STATUS" "HTTP/1.0 503 Service Unavailable"
	# The checker's own user counts too: nobody's checker, nobody's file.
	rm "$DRAIN"
	as_nobody touch "$DRAIN"
	STATUS=$(printf "$REQ" | as_nobody env RUNTIME_DIRECTORY="$T/sticky" \
		"$HC" --inetd --maintenance-file "$DRAIN" --script true 2>/dev/null |
		head -n 1 | tr -d '\r')
	assert_equal "$STATUS" "HTTP/1.0 503 Service Unavailable"
}
