#!/usr/bin/env python3
"""HAProxy's stats socket, for peers.bash and haproxy.bats.

  haproxy-stats.py ask SOCKET COMMAND
      COMMAND's answer on stdout.
  haproxy-stats.py watch SOCKET BACKEND...
      Polls every 20 ms and appends a line to stdout (flushed) whenever
      server s of a BACKEND changes: "NS BACKEND OP ADMIN STATUS", NS the
      time.time_ns() it was seen, OP and ADMIN the srv_op_state and
      srv_admin_state of "show servers state", STATUS the status column of
      "show stat".  One process for the whole test: a poll costs a
      connection, not a Python start, so the times it records are the
      servers' to within the 20 ms."""
import socket
import sys
import time


def ask(path, command):
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(5)
    s.connect(path)
    s.sendall(command.encode() + b"\n")
    got = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        got += chunk
    s.close()
    return got.decode()


def states(path, backends):
    out = {}
    for line in ask(path, "show servers state").splitlines():
        f = line.split()
        if len(f) > 6 and f[1] in backends and f[3] == "s":
            out[f[1]] = f[5] + " " + f[6]
    for line in ask(path, "show stat").splitlines():
        f = line.split(",")
        if len(f) > 17 and f[0] in out and f[1] == "s":
            out[f[0]] += " " + f[17]
    return out


def watch(path, backends):
    last = {}
    while True:
        try:
            now = states(path, backends)
        except OSError:
            now = {}
        t = time.time_ns()
        for b, st in now.items():
            if last.get(b) != st:
                print(t, b, st, flush=True)
                last[b] = st
        time.sleep(0.02)


if sys.argv[1] == "ask":
    sys.stdout.write(ask(sys.argv[2], sys.argv[3]))
else:
    watch(sys.argv[2], sys.argv[3:])
