#!/usr/bin/env python3
"""fake-server.py REPLY [RECORD [PORT]]: a loopback TCP server standing in
for ZooKeeper or Redis in the contrib check tests.  Binds 127.0.0.1:PORT
(default 0: a free one), prints its port, then for every connection reads what the client sends (until a
short pause or 4 KiB), appends those bytes to RECORD, sends REPLY (taken
byte for byte from the argument) and closes.  REPLY "-" never answers: the
connection stays open until the server is killed."""
import os
import socket
import sys
import threading
import time


def serve(conn, reply, record):
    got = b""
    conn.settimeout(0.3)
    try:
        while len(got) < 4096:
            chunk = conn.recv(4096)
            if not chunk:
                break
            got += chunk
    except socket.timeout:
        pass
    except OSError:
        pass
    if record:
        with open(record, "ab") as f:
            f.write(got)
    if reply == b"-":
        while True:
            time.sleep(3600)
    try:
        conn.sendall(reply)
        conn.shutdown(socket.SHUT_WR)
    except OSError:
        pass
    conn.close()


def main():
    reply = os.fsencode(sys.argv[1])
    record = sys.argv[2] if len(sys.argv) > 2 and sys.argv[2] else None
    port = int(sys.argv[3]) if len(sys.argv) > 3 else 0
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", port))
    s.listen(16)
    print(s.getsockname()[1], flush=True)
    while True:
        conn, _ = s.accept()
        threading.Thread(target=serve, args=(conn, reply, record),
                         daemon=True).start()


if __name__ == "__main__":
    main()
