#!/usr/bin/env python3
"""A sd_notify(3) receiver: notifyd.py ADDR OUT.

Binds a unix datagram socket at ADDR (a path, or @name for the abstract
namespace), creates OUT, then appends every datagram it receives to OUT,
each followed by a newline."""
import socket
import sys


def main():
    addr, out = sys.argv[1], sys.argv[2]
    if addr.startswith("@"):
        addr = "\0" + addr[1:]
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(addr)
    with open(out, "ab") as f:
        while True:
            data = s.recv(65536)
            f.write(data + b"\n")
            f.flush()


if __name__ == "__main__":
    main()
