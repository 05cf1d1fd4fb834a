#!/usr/bin/env python3
"""A unix stream socket fixture: unixlisten.py ADDR READY.

Binds ADDR (a path, or @name for the abstract namespace), listens, creates
the file READY, then accepts connections and closes them."""
import socket
import sys


def main():
    addr, ready = sys.argv[1], sys.argv[2]
    if addr.startswith("@"):
        addr = "\0" + addr[1:]
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(addr)
    s.listen(16)
    open(ready, "w").close()
    while True:
        conn, _ = s.accept()
        conn.close()


if __name__ == "__main__":
    main()
