#!/usr/bin/env bats
# Under a real systemd: one Debian container for the whole file, booted by
# tests/systemd/container (root cached under /var/tmp, an overlay per run, a
# private network), the build installed into it with make install, and
# requests made with curl from inside.

CONTAINER=$BATS_TEST_DIRNAME/systemd/container

# bats 1.8 cannot skip from setup_file: it leaves the reason to setup.
setup_file() {
	load helpers
	load systemd/helpers
	case $HC in
	*-asan)
		export SKIP_REASON="systemd suite runs against the plain build only"
		return 0
		;;
	esac
	SKIP_REASON=$(container_unavailable)
	export SKIP_REASON
	[ -z "$SKIP_REASON" ] || return 0
	echo "# systemd suite: Debian $(release)" >&3
	container_boot || return 1
	"$CONTAINER" install "$CT" 3>&-
}

teardown_file() {
	if [ -n "${CT:-}" ]; then
		"$CONTAINER" stop "$CT" 3>&-
	fi
}

setup() {
	# Loaded first: teardown runs after a skip too.
	load helpers
	load systemd/helpers
	[ -z "${SKIP_REASON:-}" ] || skip "$SKIP_REASON"
	UNDO=$BATS_TEST_TMPDIR/undo
	LOAD=$BATS_TEST_DIRNAME/faults/load
	PIDS=()
	HOST_CGROUPS=()
}

teardown() {
	local cg rc=0
	container_teardown || rc=1
	# The host cgroups a test made, once empty: what is left in them
	# descends from the test's own checker (a script's sleeps).
	for cg in "${HOST_CGROUPS[@]}"; do
		xargs -r kill -KILL <"$cg/cgroup.procs" 2>/dev/null
		wait_until 10 eval "[ -z \"\$(cat '$cg/cgroup.procs')\" ]" || rc=1
		rmdir "$cg" || rc=1
	done
	return "$rc"
}

# get: GET http://127.0.0.1:5000/ with curl inside; "BODY\nCODE" in
# $output.
get() {
	run ct curl -sS -m 10 -w '\n%{http_code}' http://127.0.0.1:5000/
	if [ "$status" -ne 0 ]; then
		echo "curl failed ($status): $output" >&2
		return 1
	fi
}

# opts OPTIONS: HEALTH_CHECKER_OPTS in /etc/default/health-checker, put
# back at teardown.
opts() {
	if [ ! -f "$BATS_TEST_TMPDIR/opts.kept" ]; then
		keep /etc/default/health-checker
		: >"$BATS_TEST_TMPDIR/opts.kept"
	fi
	write /etc/default/health-checker "HEALTH_CHECKER_OPTS=\"$1\""
}

# use FORM: health-checker.socket (the per-connection form) or
# health-checker.service (standalone) started, stopped at teardown.
use() {
	undo "systemctl stop health-checker.socket health-checker.service health-checker-server.socket"
	ct systemctl start "$1"
	wait_until 10 open_inside 5000
}

# mark TEXT: TEXT in the journal, and seen there.
mark() {
	ct systemd-cat -t hc-test-mark echo "$1"
	wait_until 10 eval "ct journalctl -q --no-pager -t hc-test-mark -o cat | grep -qx '$1'"
}

# journal_between A B: the journal's lines after mark A and before mark B.
journal_between() {
	ct journalctl -q --no-pager -o short-monotonic |
		sed -n "/hc-test-mark.*: $1\$/,/hc-test-mark.*: $2\$/p" |
		sed '1d;$d'
}

# fake_zk: a fake ZooKeeper answering imok on 2181 in the container's
# network, up.
fake_zk() {
	bg_netns python3 "$BATS_TEST_DIRNAME/peers/fake-server.py" imok "" 2181 >"$BATS_TEST_TMPDIR/zk"
	wait_until 10 test -s "$BATS_TEST_TMPDIR/zk"
}

@test "the container runs systemd as PID 1, and it is running" {
	run ct cat /proc/1/comm
	assert_equal "$output" systemd
	run ct readlink /proc/1/exe
	assert_equal "$output" /usr/lib/systemd/systemd
	run ct systemctl is-system-running
	if [ "$output" != running ]; then
		ct systemctl --failed --no-pager >&2
	fi
	assert_equal "$output" running
	# Its own PID namespace: the host sees its PID 1 as another PID.
	leader=$(cat "$CT/leader.pid")
	[ "$(readlink "/proc/$leader/ns/pid")" != "$(readlink /proc/self/ns/pid)" ]
}

@test "make install: binary and units in place; the socket answers 200, and 504 for a closed port" {
	ct test -x /usr/bin/health-checker
	ct /usr/bin/health-checker --version
	for unit in health-checker.socket health-checker@.service health-checker.service; do
		ct test -f "/etc/systemd/system/$unit"
	done
	# The units name the installed binary.
	ct grep -q '^ExecStart=/usr/bin/health-checker --inetd ' /etc/systemd/system/health-checker@.service

	"$CONTAINER" cp "$CT" "$LISTEN" /usr/local/bin/listen
	undo "rm -f /usr/local/bin/listen"
	undo "systemctl stop hc-test-listen.service 2>/dev/null; ! systemctl -q is-active hc-test-listen.service"
	ct systemd-run --quiet --collect --unit=hc-test-listen /usr/local/bin/listen 127.0.0.1 7000
	wait_until 10 open_inside 7000

	keep /etc/default/health-checker
	write /etc/default/health-checker 'HEALTH_CHECKER_OPTS="--port 7000"'
	undo "systemctl disable --quiet --now health-checker.socket"
	ct systemctl enable --quiet --now health-checker.socket
	get
	assert_equal "$output" "$(printf 'OK\n200')"

	run ct ss -Hltn 'sport = :7001'
	assert_equal "$output" ""
	write /etc/default/health-checker 'HEALTH_CHECKER_OPTS="--port 7001"'
	get
	assert_equal "$output" "$(printf 'At least one health check failed\n504')"

	# Unhealthy answers exit 0: no failed instance left behind.
	run ct systemctl list-units --failed --no-legend --plain 'health-checker@*'
	assert_equal "$output" ""
}

@test "the container's network is private: only lo" {
	run ct ip -br link
	[ "$status" -eq 0 ]
	assert_equal "$(printf '%s\n' "$output" | awk '{ print $1 }')" lo
	leader=$(cat "$CT/leader.pid")
	[ "$(readlink "/proc/$leader/ns/net")" != "$(readlink /proc/self/ns/net)" ]
}

# --- the journal ------------------------------------------------------------

@test "journal: a healthy probe adds no line at all, systemd's own included; a change is logged with its reason, tagged health-checker" {
	local i
	mark start
	listen_inside 7000
	# A command line of this test's own: its first verdict is told.
	opts "--port 7000 --port-timeout 4"
	use health-checker.socket
	assert_equal "$(code)" 200
	mark before
	for i in 1 2 3 4 5 6 7 8 9 10; do
		assert_equal "$(code)" 200
	done
	mark after
	run journal_between before after
	echo "$output" >&2
	assert_equal "$output" ""
	# A change of verdict: told once, with the reason, under our tag.
	ct systemctl stop hc-listen-7000.service
	assert_equal "$(code)" 504
	assert_equal "$(code)" 504
	wait_until 10 eval "ct journalctl -q --no-pager -t health-checker -o cat | grep -q 'verdict unhealthy (was healthy): tcp 127.0.0.1:7000 refused'"
	# The first verdict, and the change: no more.
	mark end
	run journal_between start end
	echo "$output" >&2
	assert_equal "$(grep -c 'health-checker\[[0-9]*\]: .*verdict' <<<"$output")" 2
}

# --- no client can disable or starve it ------------------------------------

@test "a flood of 1000 connections from one source leaves the socket active and answering" {
	local out
	listen_inside 7000
	opts "--port 7000"
	use health-checker.socket
	out=$(netns "$LOAD" requests 127.0.0.1 5000 1000 --parallel 100 --timeout 5)
	echo "# flood: $out" >&3
	run ct systemctl is-active health-checker.socket
	assert_equal "$output" active
	assert_equal "$(code)" 200
}

# idle_sources PORT: 4 source addresses holding 100 idle connections each
# on PORT inside, reopened as fast as they are closed, for 10 s; all open.
idle_sources() {
	local src
	for src in 127.0.0.2 127.0.0.3 127.0.0.4 127.0.0.5; do
		bg_netns "$LOAD" hold 127.0.0.1 "$1" --idle 100 --seconds 10 \
			--source "$src" >"$BATS_TEST_TMPDIR/hold.$src"
	done
	for src in 127.0.0.2 127.0.0.3 127.0.0.4 127.0.0.5; do
		wait_until 10 grep -q ready "$BATS_TEST_TMPDIR/hold.$src" || return 1
	done
}

# The probes of the idle tests come from 127.0.0.6, a source of their own:
# systemd counts a source's connections until their instances are gone,
# and another test's from 127.0.0.1 must not count against them.  Each
# probe has PROBE_S, the health check timeout of AWS's and Google's load
# balancers; under the attack they took 0.04-1.2 s here (one of 24 over
# 2 s in a CI run).
PROBE_S=5

@test "4 sources x 100 idle connections, reopened as closed: 12 of 12 probes from a fifth answered 200" {
	local i ok=0 c slowest=0
	listen_inside 7000
	opts "--port 7000"
	use health-checker.socket
	idle_sources 5000
	for i in $(seq 12); do
		c=$(ct curl -s -o /dev/null --interface 127.0.0.6 -m "$PROBE_S" \
			-w '%{http_code} %{time_total} %{errormsg}' http://127.0.0.1:5000/ || true)
		[ "${c%% *}" != 200 ] || ok=$((ok + 1))
		slowest=$(awk -v a="$slowest" -v b="$(cut -d' ' -f2 <<<"$c")" 'BEGIN { print (b > a ? b : a) }')
		echo "probe $i: $c" >&2
		sleep 0.5
	done
	echo "# idle attack: $ok of 12 probes answered 200, slowest ${slowest}s" >&3
	assert_equal "$ok" 12
}

# --- what systemd itself does to the sockets --------------------------------

# systemd_version: the container's systemd's major version.
systemd_version() {
	ct systemctl --version | sed -n '1s/^systemd \([0-9][0-9]*\).*/\1/p'
}

@test "the generator: PollLimitIntervalSec=0 on both sockets where systemd knows the key (255 and later), no drop-in where it does not" {
	local v unit
	v=$(systemd_version)
	echo "# systemd $v" >&3
	[ -n "$v" ]
	for unit in health-checker.socket health-checker-server.socket; do
		run ct systemctl show -P DropInPaths "$unit"
		echo "$unit: $output" >&2
		if [ "$v" -ge 255 ]; then
			assert_equal "$output" "/run/systemd/generator/$unit.d/poll-limit.conf"
			run ct systemctl show -P PollLimitIntervalUSec "$unit"
			assert_equal "$output" 0
		else
			assert_equal "$output" ""
			not ct test -e "/run/systemd/generator/$unit.d"
		fi
	done
}

# --- a script that forks without end ---------------------------------------

# unit_tasks_max UNIT: the TasksMax= line of units/UNIT.
unit_tasks_max() {
	sed -n 's/^TasksMax=//p' "$BATS_TEST_DIRNAME/../units/$1"
}

@test "TasksMax: the shipped units set 1024 for the standalone server and 64 for each per-connection instance, as systemd reads them" {
	assert_equal "$(unit_tasks_max health-checker.service)" 1024
	assert_equal "$(unit_tasks_max health-checker@.service)" 64
	assert_equal "$(ct systemctl show -P TasksMax health-checker.service)" 1024
	assert_equal "$(ct systemctl show -P TasksMax health-checker@probe.service)" 64
}

# pids_cgroup LIMIT: a pids cgroup of the host's (below our own) whose
# pids.max is LIMIT, in CG, removed at teardown: what TasksMax= makes.  The
# container cannot show it: under nspawn on a host without systemd (cgroup
# v1 here) its systemd gets the pids hierarchy read-only and enforces no
# TasksMax=.
pids_cgroup() {
	local mnt rel
	mnt=$(awk '$3 == "cgroup" && $4 ~ /(^|,)pids(,|$)/ { print $2; exit }' /proc/self/mounts)
	rel=$(sed -n 's/^[0-9]*:pids://p' /proc/self/cgroup)
	if [ -z "$mnt" ]; then
		mnt=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/self/mounts)
		rel=$(sed -n 's/^0:://p' /proc/self/cgroup)
		grep -qw pids "$mnt${rel%/}/cgroup.subtree_control" 2>/dev/null ||
			skip "no pids cgroup controller to delegate from"
	fi
	CG=$mnt${rel%/}/hc-test-tasks-$$-$BATS_TEST_NUMBER-${#HOST_CGROUPS[@]}
	mkdir "$CG"
	HOST_CGROUPS+=("$CG")
	echo "$1" >"$CG/pids.max"
}

# in_cgroup CMD...: CMD run inside CG (exec: the PID stays).
in_cgroup() {
	sh -c 'echo $$ >"$0/cgroup.procs" && exec "$@"' "$CG" "$@"
}

@test "TasksMax: under the units' task limit, a script forking without end is answered 504 by its deadline, and the checker answers again after (standalone and one-shot)" {
	local limit n c start port t=$BATS_TEST_TMPDIR
	# Bounded (3000 sleeps): without the limit the test fails without
	# taking the machine's pids.  A line in count for every sleep started
	# (appended: the group kill at the deadline cannot truncate it).
	printf '#!/bin/sh\nn=0\nwhile [ $n -lt 3000 ]; do sleep 20 & n=$((n + 1)); echo >>%s/count; done\nwait\n' \
		"$t" >"$t/forks"
	chmod 755 "$t/forks"

	limit=$(unit_tasks_max health-checker.service)
	pids_cgroup "$limit"
	port=$(free_port)
	bg in_cgroup "$HC" --listener "127.0.0.1:$port" --script "$t/forks" --script-timeout 3
	wait_until 10 port_open 127.0.0.1 "$port"
	start=$SECONDS
	c=$(curl -s -o /dev/null -w '%{http_code}' -m 20 "http://127.0.0.1:$port/")
	n=$(wc -l <"$t/count")
	echo "# standalone: $c after $((SECONDS - start)) s, $n sleeps started (TasksMax=$limit)" >&3
	assert_equal "$c" 504
	[ $((SECONDS - start)) -le 12 ]
	[ "$n" -lt "$limit" ]
	[ "$n" -ge $((limit / 2)) ]
	# Killed with its group at the deadline: the next probe forks again.
	wait_until 10 eval '[ "$(cat "$CG/pids.current")" -le 2 ]'
	: >"$t/count"
	assert_equal "$(curl -s -o /dev/null -w '%{http_code}' -m 20 "http://127.0.0.1:$port/")" 504
	[ "$(wc -l <"$t/count")" -ge $((limit / 2)) ]

	limit=$(unit_tasks_max health-checker@.service)
	pids_cgroup "$limit"
	: >"$t/count"
	printf 'GET / HTTP/1.0\r\n\r\n' >"$t/request"
	start=$SECONDS
	c=$(in_cgroup timeout 20 "$HC" --inetd --script "$t/forks" --script-timeout 3 \
		<"$t/request" 2>"$t/err" | head -n 1 | tr -d '\r')
	n=$(wc -l <"$t/count")
	echo "# one-shot: $c after $((SECONDS - start)) s, $n sleeps started (TasksMax=$limit)" >&3
	assert_equal "$c" "HTTP/1.0 504 Gateway Timeout"
	[ $((SECONDS - start)) -le 12 ]
	[ "$n" -lt "$limit" ]
	[ "$n" -ge $((limit / 2)) ]
}

# --- stop and restart never lie ---------------------------------------------

# in_flight: a request in the background inside whose script takes 1.5 s,
# under way; its status will be in $BATS_TEST_TMPDIR/inflight once it ends.
# pgrep -x: the whole command line, or the shell running pgrep (whose own
# command line holds the pattern) would match.
in_flight() {
	ct sh -c 'curl -s -o /dev/null -w "%{http_code}" -m 10 http://127.0.0.1:5000/' \
		>"$BATS_TEST_TMPDIR/inflight" &
	INFLIGHT=$!
	wait_until 10 eval "ct pgrep -x -f 'sleep 1.5' >/dev/null"
}

@test "systemctl stop and restart of either form: a request in flight gets its real verdict" {
	local form action
	opts "--script 'sleep 1.5'"
	for form in health-checker.socket health-checker.service; do
		for action in restart stop; do
			use "$form"
			in_flight
			ct systemctl "$action" "$form"
			wait "$INFLIGHT" || {
				ct journalctl -q --no-pager -n 40 >&2
				false
			}
			echo "# $action $form: in-flight answer $(cat "$BATS_TEST_TMPDIR/inflight")" >&3
			assert_equal "$(cat "$BATS_TEST_TMPDIR/inflight")" 200
		done
	done
}

@test "systemctl restart health-checker.service: a probe every 50 ms is never refused" {
	listen_inside 7000
	opts "--port 7000"
	use health-checker.service
	ct sh -c 'end=$(($(date +%s%N) + 4000000000)); n=0; bad=0
		while [ "$(date +%s%N)" -lt "$end" ]; do
			c=$(curl -s -o /dev/null -w "%{http_code}" -m 2 http://127.0.0.1:5000/)
			n=$((n + 1)); [ "$c" = 200 ] || bad=$((bad + 1))
			sleep 0.05
		done
		echo "$n $bad"' >"$BATS_TEST_TMPDIR/probes" &
	local prober=$!
	sleep 1
	ct systemctl restart health-checker.service
	ct systemctl restart health-checker.service
	wait "$prober"
	read -r n bad <"$BATS_TEST_TMPDIR/probes"
	echo "# restarts: $bad of $n probes not answered 200" >&3
	[ "$n" -gt 20 ]
	assert_equal "$bad" 0
}

@test "switching socket -> service -> socket works both ways, three times" {
	local i
	listen_inside 7000
	opts "--port 7000"
	undo "systemctl stop health-checker.socket health-checker.service health-checker-server.socket"
	for i in 1 2 3; do
		ct systemctl start health-checker.socket
		wait_until 10 eval '[ "$(code)" = 200 ]'
		run ct systemctl is-active health-checker.service
		assert_equal "$output" inactive
		ct systemctl start health-checker.service
		wait_until 10 eval '[ "$(code)" = 200 ]'
		run ct systemctl is-active health-checker.socket
		assert_equal "$output" inactive
	done
}

# --- checks can see the host -------------------------------------------------

@test "ordinary checks see the host under the shipped sandbox, in both forms" {
	local form
	ct mkdir -p /home/ops
	undo "rm -rf /home/ops"
	write /home/ops/check 'exit 0'
	ct sh -c 'sed -i "1i #!/bin/sh" /home/ops/check; chmod 755 /home/ops/check'
	fake_zk
	opts "--details --script 'pgrep -x systemd-journal' --script 'cat /proc/loadavg' --script free --script 'ss -ltn' --script 'nice -n 5 true' --script 'ionice -c 3 true' --script 'taskset -c 0 true' --script /home/ops/check --script 'zk-ruok localhost 2181' --script 'zk-ruok localhost 2181'"
	for form in health-checker.socket health-checker.service; do
		use "$form"
		run ct curl -s -m 10 http://127.0.0.1:5000/
		echo "$form: $output" >&2
		assert_equal "$(head -n 1 <<<"$output")" OK
	done
}

# --- the docs, verbatim -------------------------------------------------------

# example NAME: the lines of README.md's shell block after the comment
# "<!-- example: NAME -->", with sudo dropped (the container runs as root)
# and the make install line left out (the suite has installed already).
example() {
	awk -v name="$1" '
		$0 == "<!-- example: " name " -->" { found = 1; next }
		found && /^```/ { if (inside) exit; inside = 1; next }
		found && inside { print }
	' "$BATS_TEST_DIRNAME/../README.md" |
		sed -e 's/sudo //g' -e '/make install/d'
}

# run_example NAME: README's example NAME run in the container by bash -e,
# through bats' run (its lines shown on failure).
run_example() {
	example "$1" >"$BATS_TEST_TMPDIR/script"
	cat "$BATS_TEST_TMPDIR/script" >&2
	run ct bash -e -c "$(cat "$BATS_TEST_TMPDIR/script")"
	echo "$output" >&2
}

@test "README: the socket-activation example works verbatim (a fake ZooKeeper on 2181)" {
	fake_zk
	keep /etc/default/health-checker
	undo "systemctl disable --quiet --now health-checker.socket"
	run_example socket
	grep -q 'systemctl enable --now health-checker.socket' "$BATS_TEST_TMPDIR/script"
	[ "$status" -eq 0 ]
	grep -q '^HTTP/1.1 200 OK' <<<"$output"
}

@test "README: the standalone example works verbatim" {
	fake_zk
	keep /etc/default/health-checker
	undo "systemctl disable --quiet --now health-checker.service health-checker-server.socket"
	run_example standalone
	[ "$status" -eq 0 ]
	grep -q '^HTTP/1.1 200 OK' <<<"$output"
}

@test "README: changing the port replaces it (the empty ListenStream= first)" {
	listen_inside 7000
	opts "--port 7000"
	use health-checker.socket
	undo "rm -rf /etc/systemd/system/health-checker.socket.d; systemctl daemon-reload"
	run_example port
	[ "$status" -eq 0 ]
	wait_until 10 open_inside 6000
	assert_equal "$(code 6000)" 200
	not open_inside 5000
}

@test "README: the SupplementaryGroups= drop-in lets checks use a socket of that group" {
	local sock
	ct sh -c 'getent group docker >/dev/null || groupadd docker'
	undo "groupdel docker 2>/dev/null; true"
	# A unix socket of group docker, mode 0660, made from the host in the
	# container's file system (the root has no python).
	sock=$CT/merged/srv/hc-test.sock
	undo "rm -f /srv/hc-test.sock"
	bg python3 -c '
import os, socket, sys, time
s = socket.socket(socket.AF_UNIX)
s.bind(sys.argv[1])
os.chown(sys.argv[1], 0, int(sys.argv[2]))
os.chmod(sys.argv[1], 0o660)
s.listen(16)
print("up", flush=True)
while True:
    s.accept()[0].close()
' "$sock" "$(ct getent group docker | cut -d: -f3)" >"$BATS_TEST_TMPDIR/sock"
	wait_until 10 grep -q up "$BATS_TEST_TMPDIR/sock"
	opts "--unix /srv/hc-test.sock --details"
	use health-checker.socket
	run ct curl -s -m 10 http://127.0.0.1:5000/
	echo "$output" >&2
	grep -q 'fail unix /srv/hc-test.sock [0-9]*ms Permission denied' <<<"$output"
	undo "rm -rf /etc/systemd/system/health-checker@.service.d; systemctl daemon-reload"
	run_example groups
	[ "$status" -eq 0 ]
	assert_equal "$(code)" 200
}

@test "--maintenance-file: the operator's file under /run or /tmp drains either form" {
	local form dir
	listen_inside 7000
	undo "rm -f /run/health-checker.maintenance /tmp/health-checker.maintenance"
	for form in health-checker.socket health-checker.service; do
		for dir in /run /tmp; do
			opts "--port 7000 --maintenance-file $dir/health-checker.maintenance"
			use "$form"
			ct systemctl restart "$form"
			wait_until 10 open_inside 5000
			assert_equal "$(code)" 200
			ct touch "$dir/health-checker.maintenance"
			assert_equal "$(code)" 503
			ct rm "$dir/health-checker.maintenance"
			assert_equal "$(code)" 200
		done
	done
}

@test "the units run as the system user health-checker, made by systemd-sysusers from the installed sysusers.d file" {
	ct getent passwd health-checker
	listen_inside 7000
	ct mkdir -p /home/ops
	undo "rm -rf /home/ops"
	write /home/ops/check 'id -un >/home/ops/who; exit 0'
	ct sh -c 'sed -i "1i #!/bin/sh" /home/ops/check; chmod 755 /home/ops/check; chmod 777 /home/ops'
	opts "--script /home/ops/check"
	use health-checker.socket
	assert_equal "$(code)" 200
	run ct cat /home/ops/who
	assert_equal "$output" health-checker
}

# --- the superserver forms -------------------------------------------------

@test "the shipped xinetd, inetd and supervisord configurations run the checker as health-checker, its state in /run/health-checker (tmpfiles.d)" {
	local c=$BATS_TEST_DIRNAME/../contrib
	assert_equal "$(grep -v '^#' "$BATS_TEST_DIRNAME/../units/health-checker.tmpfiles")" \
		"d /run/health-checker 0700 health-checker health-checker -"
	for x in "$c/xinetd.health-checker" "$c/xinetd.health-checker-agent"; do
		grep -Eqx '[[:space:]]*user[[:space:]]*= health-checker' "$x"
		grep -Eqx '[[:space:]]*group[[:space:]]*= health-checker' "$x"
		grep -Eqx '[[:space:]]*env[[:space:]]*= RUNTIME_DIRECTORY=/run/health-checker' "$x"
	done
	# Every service line (HTTP and agent) runs as health-checker.
	run awk '!/^#/ && NF { print $5 }' "$c/inetd.conf"
	assert_equal "$output" $'health-checker\nhealth-checker'
	grep -qx 'user=health-checker' "$c/supervisord.conf"
	grep -qx 'environment=RUNTIME_DIRECTORY="/run/health-checker"' "$c/supervisord.conf"
	# No setting (comments aside) names nobody any more.
	run sh -c 'cat "$@" | grep -Ev "^[[:space:]]*[#;]" | grep -w nobody' sh \
		"$c/xinetd.health-checker" "$c/xinetd.health-checker-agent" \
		"$c/inetd.conf" "$c/supervisord.conf"
	assert_equal "$output" ""
}

@test "xinetd with the installed block: the checker runs as health-checker and keeps its state in /run/health-checker, none in /tmp" {
	local i
	# make install's tmpfiles.d file, applied as at boot.
	run ct stat -c '%U %G %a' /run/health-checker
	assert_equal "$output" "health-checker health-checker 700"
	listen_inside 7000
	ct mkdir -p /home/ops
	undo "rm -rf /home/ops"
	write /home/ops/who 'id -un >/home/ops/user; exit 0'
	ct sh -c 'sed -i "1i #!/bin/sh" /home/ops/who; chmod 755 /home/ops/who; chmod 777 /home/ops'
	# The installed block, on port 5001 with this test's checks.
	undo "rm -f /etc/xinetd.d/health-checker; systemctl restart xinetd"
	ct sh -c 'sed -e "s/^\([[:space:]]*port[[:space:]]*=\).*/\1 5001/" \
		-e "s|^\([[:space:]]*server_args[[:space:]]*=\).*|\1 --port 7000 --script /home/ops/who --singleflight|" \
		/usr/share/doc/health-checker/contrib/xinetd.health-checker >/etc/xinetd.d/health-checker'
	ct grep -q '= /usr/bin/health-checker$' /etc/xinetd.d/health-checker
	ct systemctl restart xinetd
	wait_until 10 open_inside 5001
	for i in 1 2 3; do
		assert_equal "$(code 5001)" 200
	done
	run ct cat /home/ops/user
	assert_equal "$output" health-checker
	run ct find /run/health-checker -name 'state-*' -user health-checker
	echo "$output" >&2
	[ -n "$output" ]
	run ct sh -c 'ls -d /tmp/health-checker-* 2>/dev/null'
	assert_equal "$output" ""
}

@test "systemd-analyze security inside: both services at most 3.0" {
	local unit level
	for unit in health-checker@probe.service health-checker.service; do
		run ct systemd-analyze security --no-pager "$unit"
		level=$(sed -n 's/^.*Overall exposure level for [^:]*: \([0-9][0-9.]*\) .*$/\1/p' <<<"$output")
		echo "# $unit: exposure $level" >&3
		[ -n "$level" ]
		awk -v l="$level" 'BEGIN { exit !(l <= 3.0) }'
	done
}

@test "systemd-analyze inside: the installed units verify clean" {
	run ct systemd-analyze verify --man=no /etc/systemd/system/health-checker.socket \
		/etc/systemd/system/health-checker@.service \
		/etc/systemd/system/health-checker.service \
		/etc/systemd/system/health-checker-server.socket
	echo "$output" >&2
	[ "$status" -eq 0 ]
	assert_equal "$(verify_own_lines <<<"$output")" ""
}

# --- the agent socket: HAProxy's agent-check, a process per connection -------

# agent_line [SEND [SECONDS [SOURCE]]]: the whole answer of
# health-checker-agent.socket on 5001 inside, SEND (printf format) sent
# first, or nothing, within SECONDS (default 10), from address SOURCE (or
# the kernel's choice); in $output.
agent_line() {
	# shellcheck disable=SC2059
	output=$(printf "${1-}" |
		netns python3 "$BATS_TEST_DIRNAME/client.py" 127.0.0.1 5001 \
			--timeout "${2:-10}" ${3:+--source "$3"}) || true
}

# use_agent: health-checker-agent.socket started, stopped at teardown.
use_agent() {
	undo "systemctl stop health-checker-agent.socket 'health-checker-agent@*.service'"
	ct systemctl start health-checker-agent.socket
	wait_until 10 open_inside 5001
}

@test "health-checker-agent.socket: up ready, down #REASON, drain on port 5001, with and without an agent-send line; every instance exits 0" {
	local send
	listen_inside 7000
	undo "rm -f /run/health-checker.maintenance"
	opts "--port 7000 --maintenance-file /run/health-checker.maintenance"
	use_agent
	for send in '' 'hello\n'; do
		agent_line "$send"
		assert_equal "$output" "up ready"
	done
	ct systemctl stop hc-listen-7000.service
	for send in '' 'hello\n'; do
		agent_line "$send"
		[[ $output == "down #"*"127.0.0.1:7000"* ]] || {
			echo "agent line: '$output'" >&2
			false
		}
	done
	ct touch /run/health-checker.maintenance
	agent_line
	assert_equal "$output" drain
	# Every answer exited 0: no failed instance, the socket listening.
	run ct systemctl list-units --failed --no-legend --plain 'health-checker-agent@*'
	assert_equal "$output" ""
	assert_equal "$(ct systemctl is-active health-checker-agent.socket)" active
	# As the package's user, in the shared sandbox.
	run ct systemctl show -P User health-checker-agent@probe.service
	assert_equal "$output" health-checker
}

@test "health-checker-agent.socket: 4 sources x 100 idle connections that never read, reopened as closed, leave 12 of 12 agent probes from a fifth answered; a flood of 1000 leaves it active" {
	local i ok=0 out
	listen_inside 7000
	opts "--port 7000"
	use_agent
	idle_sources 5001
	for i in $(seq 12); do
		agent_line "" "$PROBE_S" 127.0.0.6
		[ "$output" != "up ready" ] || ok=$((ok + 1))
		echo "probe $i: $output" >&2
		sleep 0.5
	done
	echo "# agent socket, idle attack: $ok of 12 probes answered up ready" >&3
	assert_equal "$ok" 12
	out=$(netns "$LOAD" requests 127.0.0.1 5001 1000 --parallel 100 --timeout 5 --request 'hello\n')
	# load counts HTTP 200s as ok: agent lines are "other" to it.
	echo "# agent socket, flood: $out" >&3
	assert_equal "$(ct systemctl is-active health-checker-agent.socket)" active
	agent_line
	assert_equal "$output" "up ready"
}

@test "health-checker-agent.socket and its service: installed, verify clean, PollLimitIntervalSec=0 from the generator where systemd knows the key, exposure at most 3.0" {
	local v level
	ct grep -q '^ExecStart=/usr/bin/health-checker --agent ' /etc/systemd/system/health-checker-agent@.service
	run ct systemd-analyze verify --man=no /etc/systemd/system/health-checker-agent.socket \
		/etc/systemd/system/health-checker-agent@.service
	echo "$output" >&2
	[ "$status" -eq 0 ]
	assert_equal "$(verify_own_lines <<<"$output")" ""
	v=$(systemd_version)
	run ct systemctl show -P DropInPaths health-checker-agent.socket
	if [ "$v" -ge 255 ]; then
		assert_equal "$output" /run/systemd/generator/health-checker-agent.socket.d/poll-limit.conf
		assert_equal "$(ct systemctl show -P PollLimitIntervalUSec health-checker-agent.socket)" 0
	else
		assert_equal "$output" ""
	fi
	# The sandbox of health-checker@.service: the same exposure.
	run ct systemd-analyze security --no-pager health-checker-agent@probe.service
	level=$(sed -n 's/^.*Overall exposure level for [^:]*: \([0-9][0-9.]*\) .*$/\1/p' <<<"$output")
	echo "# health-checker-agent@probe.service: exposure $level" >&3
	[ -n "$level" ]
	awk -v l="$level" 'BEGIN { exit !(l <= 3.0) }'
}
