#!/usr/bin/env bats
# The option table (src/options.c) against what is made of it and what
# describes it: --help byte for byte, the parser's long options, the man
# page's options list and README's option table, each with its metavar.

setup() {
	load helpers
	common_setup
	REPO=$(cd "$BATS_TEST_DIRNAME/.." && pwd)
}

teardown() {
	common_teardown
}

need() { # PROGRAM PACKAGE: skip unless PROGRAM is installed
	command -v "$1" >/dev/null 2>&1 || skip "$1 is not installed (Debian package: $2)"
}

# help_options: every long option --help lists, one a line.
help_options() {
	"$HC" --help | grep -oE -- '--[a-z][a-z-]*' | sort -u
}

# help_rows: "--NAME METAVAR" (or "--NAME" for a flag) for every row of
# --help, in its order.  A metavar follows its name after one space; the
# help text after two or more, or on the next line.
help_rows() {
	"$HC" --help | sed -nE \
		-e 's/^  (--[a-z][a-z-]*) ("[^"]*"|[^ ]+)( .*)?$/\1 \2/p' \
		-e 's/^  (--[a-z][a-z-]*)( {2,}.*)?$/\1/p'
}

# unmentioned FILE: the options --help lists that FILE does not have as a
# whole option name (--port is not found in --port-timeout), on one line.
unmentioned() {
	local o missing=
	help_options >"$T/options"
	[ "$(wc -l <"$T/options")" -ge 10 ] || return 1
	while read -r o; do
		grep -Eq -- "$o([^a-z-]|\$)" "$1" || missing="$missing $o"
	done <"$T/options"
	echo "$missing"
}

# man_rows: "--NAME ARGUMENT" for every .It of the man page's options list
# (the .Bl after "The options are as follows:"), the mdoc macros dropped
# and the argument's words run together, lower case.
man_rows() {
	sed -n '/^The options are as follows:/,/^\.El/p' "$REPO/man/health-checker.8" |
		awk '/^\.It Fl / {
			out = "-" $3 " "
			for (i = 4; i <= NF; i++) {
				t = $i
				if (t ~ /^(Ar|Li|Cm|Ns|No|Pa)$/) continue
				if (t == "Oo") t = "["
				else if (t == "Oc") t = "]"
				else if (t == "Qq") { q = 1; out = out "\""; continue }
				gsub(/\\&/, "", t)
				out = out t
			}
			if (q) out = out "\""
			q = 0
			sub(/ $/, "", out)
			print tolower(out)
		}'
}

# readme_rows: "--NAME METAVAR|METAVAR..." for every option named in the
# first column of README's option table (its code spans; alternatives
# joined with |), one a line.
readme_rows() {
	sed -n '/^## Options$/,/^## /p' "$REPO/README.md" | grep '^| `--' |
		cut -d'|' -f2 | grep -oE '`--[^`]*`' | tr -d '`' |
		awk '{
			name = $1
			sub(/^[^ ]* ?/, "")
			if (name in m) {
				m[name] = m[name] "|" $0
			} else {
				m[name] = $0
				order[++n] = name
			}
		}
		END {
			for (i = 1; i <= n; i++)
				print order[i] (m[order[i]] == "" ? "" : " " m[order[i]])
		}'
}

@test "--help is the table's text, byte for byte as it was before the table" {
	"$HC" --help >"$T/help"
	cat >"$T/expected" <<'HELP'
Usage: health-checker [OPTIONS]

Answers an HTTP request with 200 OK when every check passes and 504
when any fails.  Run from inetd, xinetd or systemd socket activation
(one request per process) or as a standalone server.

Checks (at least one):
  --port PORT|HOST:PORT|[IPv6]:PORT
                          TCP connect check; bare PORT is 127.0.0.1 (repeatable)
  --script "CMD ARGS"     run CMD (PATH lookup, no shell); passes on exit 0
                          (repeatable)
  --http http://HOST[:PORT][/PATH]
                          GET; passes on a 2xx or 3xx status (repeatable)
  --unix PATH|@NAME       passes when a unix stream socket accepts (repeatable)
Deadlines (seconds, decimals allowed, at most 3600):
  --script-timeout SECONDS  every script's deadline (default 5)
  --port-timeout SECONDS    every TCP connect's deadline (default 5)
  --request-timeout SECONDS deadline to receive the request head (default 5)
  --idle-timeout SECONDS    keep-alive wait for the next request (default 60)
  --http-timeout SECONDS    every --http check's deadline (default 5)
Modes:
  --once                  run the checks once, print the results, exit 0 if
                          healthy, 1 if not; no HTTP
  --inetd                 answer one request on stdin/stdout (automatic when
                          stdin is a socket)
  --listener ADDR:PORT    standalone server address (default :5000,
                          every address, IPv4 and IPv6)
  --agent-listener ADDR:PORT
                          standalone: also answer HAProxy's agent-check here
                          (repeatable; same forms as --listener)
  --agent                 one-shot: answer HAProxy's agent-check, not HTTP
  --max-connections N     standalone: requests in progress at once (default 64)
Answers:
  --details               list every check in the body (JSON with Accept:
                          application/json or application/health+json)
                          (default off)
  --fail-status CODE      status when unhealthy: 504, 503 or 500 (default 504)
  --maintenance-file PATH while PATH exists, answer 503 Maintenance without
                          running the checks (default none)
  --cache-ttl SECONDS     serve a result younger than this, across processes
                          (default 0: off)
Other:
  --singleflight          concurrent requests share one run of the checks,
                          across processes too (default off)
  --lock-file PATH        singleflight state file (default $RUNTIME_DIRECTORY,
                          else /run/health-checker/, else a private dir in /tmp)
  --log-level LEVEL       panic, fatal, error, warning (warn), info, debug,
                          trace (= debug) (default info)
Flags without a value also take =true or =false (--singleflight=true).
  --version               print the version and exit
  --help                  print this help and exit
HELP
	diff "$T/expected" "$T/help"
}

@test "every option --help lists is one the parser takes; a flag takes =false" {
	local row name meta missing=
	help_rows >"$T/rows"
	[ "$(wc -l <"$T/rows")" -ge 20 ]
	while read -r name meta; do
		if [ -n "$meta" ]; then
			run "$HC" "$name" x --version
		else
			run "$HC" "$name=false" --port 1 --version
			[ "$status" -eq 0 ] || missing="$missing $name=false"
		fi
		case $output in
		*"unknown option"* | *"needs a value"*) missing="$missing $name" ;;
		esac
	done <"$T/rows"
	assert_equal "$missing" ""
}

@test "--port, --http and --listener split HOST:PORT alike" {
	local a p h l
	for a in 127.0.0.1:80 '[::1]:80' '[::1]:0080' db.internal:80 \
		a:b:80 '[::1]x:80' '[]:80' '[::1' '[zz]:80' 'bad!host:80' \
		127.0.0.1:0 127.0.0.1:65536 127.0.0.1:x; do
		run "$HC" --port "$a" --version
		p=$status
		run "$HC" --http "http://$a/" --version
		h=$status
		[ "$p" -eq "$h" ] || { echo "$a: --port $p, --http $h" >&2; false; }
	done
	for a in a:b:80 '[::1]x:80' '[]:80' '[::1' 127.0.0.1:x; do
		run "$HC" --listener "$a" --port 1 --version
		l=$status
		[ "$l" -eq 2 ] || { echo "$a: --listener $l" >&2; false; }
	done
	# Only --http may leave the port out, and --port its host.
	run "$HC" --http 'http://[::1]/' --version
	[ "$status" -eq 0 ]
	run "$HC" --port '[::1]' --version
	[ "$status" -eq 2 ]
}

@test "the rendered man page mentions every option --help lists" {
	need mandoc mandoc
	mandoc -Tascii "$REPO/man/health-checker.8" | sed 's/.\x08//g' >"$T/page"
	run unmentioned "$T/page"
	[ "$status" -eq 0 ]
	assert_equal "$output" ""
	# ... and its options list has each of the table's rows, metavar too.
	man_rows >"$T/man"
	help_rows | tr -d ' ' | tr '[:upper:]' '[:lower:]' | sort >"$T/want"
	tr -d ' ' <"$T/man" | sort >"$T/have"
	[ "$(wc -l <"$T/want")" -ge 20 ]
	run comm -23 "$T/want" "$T/have"
	assert_equal "$output" ""
}

@test "README.md mentions every option --help lists" {
	run unmentioned "$REPO/README.md"
	[ "$status" -eq 0 ]
	assert_equal "$output" ""
	# ... and its option table has each of the table's rows, metavar too.
	help_rows | sort >"$T/want"
	readme_rows | sort >"$T/have"
	[ "$(wc -l <"$T/want")" -ge 20 ]
	run comm -23 "$T/want" "$T/have"
	assert_equal "$output" ""
}
