#!/usr/bin/env python3
"""Floods of complete requests for tests/flood.bats, from one client on
loopback; each mode prints one line of "key=value" words.

  flood.py reset|close HOST PORT N
      N connections, one after another, each sending a complete HTTP/1.0
      request and then reset at once (reset: SO_LINGER 0 close) or closed
      (close: FIN) without reading the answer.
      -> sent=N failed=N ms=MS
  flood.py wait HOST PORT N [--timeout S] [--path P]
      N connections that each send a complete request and stay to read the
      answer; prints "sent" (flushed) once every request is out, then waits
      up to S seconds (default 30) for every answer.
      -> answered=N ok=N other=N none=N max_ms=MS
  flood.py probe HOST PORT [--timeout S]
      One request; how long its answer took.
      -> status=CODE ms=MS  (status=none: no answer within S)"""
import argparse
import selectors
import socket
import struct
import sys
import time

RESET = struct.pack("ii", 1, 0)


def request(path):
    return ("GET %s HTTP/1.0\r\n\r\n" % path).encode()


def reset(a):
    sent = failed = 0
    start = time.monotonic()
    for i in range(a.n):
        try:
            s = socket.create_connection((a.host, a.port), timeout=5)
        except OSError:
            failed += 1
            continue
        try:
            s.sendall(request("/flood-%d" % i))
            sent += 1
        except OSError:
            failed += 1
        if a.mode == "reset":
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, RESET)
        s.close()
    print("sent=%d failed=%d ms=%d" %
          (sent, failed, (time.monotonic() - start) * 1000))
    return 0


def status_of(data):
    parts = data.split(b" ", 2)
    if len(parts) >= 2 and parts[0].startswith(b"HTTP/"):
        return parts[1].decode("ascii", "replace")
    return "none"


def wait(a):
    sel = selectors.DefaultSelector()
    got = {}
    start = time.monotonic()
    conns = []
    for i in range(a.n):
        s = socket.create_connection((a.host, a.port), timeout=5)
        s.sendall(request("%s-%d" % (a.path, i)))
        s.setblocking(False)
        conns.append(s)
        got[s] = b""
        sel.register(s, selectors.EVENT_READ)
    print("sent", flush=True)
    answered = ok = other = 0
    max_ms = 0
    deadline = start + a.timeout
    while got and time.monotonic() < deadline:
        for key, _ in sel.select(deadline - time.monotonic()):
            s = key.fileobj
            try:
                chunk = s.recv(65536)
            except OSError:
                chunk = b""
            if chunk:
                got[s] += chunk
                continue
            st = status_of(got.pop(s))
            sel.unregister(s)
            s.close()
            if st == "none":
                continue
            answered += 1
            ok += st == "200"
            other += st != "200"
            max_ms = max(max_ms, (time.monotonic() - start) * 1000)
    none = a.n - answered
    for s in got:
        s.close()
    print("answered=%d ok=%d other=%d none=%d max_ms=%d" %
          (answered, ok, other, none, max_ms))
    return 0


def probe(a):
    start = time.monotonic()
    data = b""
    try:
        s = socket.create_connection((a.host, a.port), timeout=a.timeout)
        s.sendall(request("/probe"))
        while True:
            left = start + a.timeout - time.monotonic()
            if left <= 0:
                break
            s.settimeout(left)
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        s.close()
    except OSError:
        pass
    print("status=%s ms=%d" %
          (status_of(data), (time.monotonic() - start) * 1000))
    return 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["reset", "close", "wait", "probe"])
    ap.add_argument("host")
    ap.add_argument("port", type=int)
    ap.add_argument("n", type=int, nargs="?", default=1)
    ap.add_argument("--timeout", type=float, default=30.0)
    ap.add_argument("--path", default="/waiting")
    a = ap.parse_args()
    modes = {"reset": reset, "close": reset, "wait": wait, "probe": probe}
    return modes[a.mode](a)


if __name__ == "__main__":
    sys.exit(main())
