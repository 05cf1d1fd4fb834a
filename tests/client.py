#!/usr/bin/env python3
"""A raw HTTP client for tests: sends stdin's bytes (or nothing) to HOST PORT
and prints what comes back until the server closes.

  client.py HOST PORT [--timeout S] [--half-close] [--slow SECONDS]
                      [--no-send] [--status] [--source ADDR]

--half-close  shut down our write side after sending
--slow S      send one byte every S seconds
--status      print only the status code (or "closed" when no answer came)
--source A    connect from address A
Exit 0 when the server closed the connection, 3 on timeout."""
import argparse
import socket
import sys
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("host")
    ap.add_argument("port", type=int)
    ap.add_argument("--timeout", type=float, default=10.0)
    ap.add_argument("--half-close", action="store_true")
    ap.add_argument("--slow", type=float, default=0.0)
    ap.add_argument("--no-send", action="store_true")
    ap.add_argument("--status", action="store_true")
    ap.add_argument("--source")
    a = ap.parse_args()
    data = b"" if a.no_send else sys.stdin.buffer.read()
    deadline = time.monotonic() + a.timeout
    s = socket.create_connection((a.host, a.port), timeout=a.timeout,
                                 source_address=(a.source, 0) if a.source else None)
    got = b""
    try:
        if a.slow > 0:
            s.setblocking(True)
            for i in range(len(data)):
                try:
                    s.sendall(data[i:i + 1])
                except OSError:
                    break
                s.settimeout(a.slow)
                try:
                    chunk = s.recv(65536)
                    if not chunk:
                        break
                    got += chunk
                except socket.timeout:
                    pass
                if time.monotonic() > deadline:
                    break
        elif data:
            s.sendall(data)
        if a.half_close:
            s.shutdown(socket.SHUT_WR)
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                sys.stdout.buffer.write(got)
                return 3
            s.settimeout(left)
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                continue
            except ConnectionResetError:
                break
            if not chunk:
                break
            got += chunk
    finally:
        s.close()
    if a.status:
        parts = got.split(b" ", 2)
        print(parts[1].decode() if len(parts) > 1 else "closed")
    else:
        sys.stdout.buffer.write(got)
    return 0


if __name__ == "__main__":
    sys.exit(main())
