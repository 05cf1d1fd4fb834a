#!/usr/bin/env python3
"""An HTTP fixture server for the --http tests.

  httpd.py HOST HEADS

Listens on HOST at a free port, prints the port on stdout, and answers by
path, one thread per connection:

  /status/NNN  status NNN (301 and 302 carry Location: /followed)
  /followed    500, so that following a redirect would fail the check
  /hang...     (any path starting so) reads the request, never answers
  /trickle     a status line, then a header line every 0.1 s, never ending
  /headonly    a complete 200 head promising a body that never comes
  /bighead     a 200 head with a 9 KiB header
  /partial     half a head, then close
  /garbage     a line that is no status line, then close
  anything else 200

Every request head it reads is appended to the file HEADS, followed by a
line "----"."""
import socket
import sys
import threading
import time

LOCK = threading.Lock()


def record(path, head):
    with LOCK:
        with open(path, "ab") as f:
            f.write(head + b"----\n")


def answer(conn, heads):
    try:
        conn.settimeout(10)
        head = b""
        while b"\r\n\r\n" not in head and b"\n\n" not in head:
            chunk = conn.recv(4096)
            if not chunk:
                break
            head += chunk
            if len(head) > 65536:
                break
        record(heads, head)
        parts = head.split(b" ", 2)
        path = parts[1].decode("latin-1") if len(parts) > 2 else "/"
        if path.startswith("/hang"):
            time.sleep(60)
            return
        if path == "/trickle":
            conn.sendall(b"HTTP/1.1 200 OK\r\n")
            for _ in range(300):
                time.sleep(0.1)
                conn.sendall(b"X-More: yes\r\n")
            return
        if path == "/headonly":
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n")
            time.sleep(60)
            return
        if path == "/bighead":
            conn.sendall(b"HTTP/1.1 200 OK\r\nX-Big: " + b"x" * 9216 +
                         b"\r\nContent-Length: 2\r\n\r\nOK")
        elif path == "/partial":
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Le")
        elif path == "/garbage":
            conn.sendall(b"this is not http at all\r\n\r\n")
        else:
            code = 500 if path == "/followed" else 200
            if path.startswith("/status/"):
                code = int(path[len("/status/"):])
            extra = b""
            if code in (301, 302):
                extra = b"Location: /followed\r\n"
            conn.sendall(b"HTTP/1.1 %d Whatever\r\n%sContent-Length: 2\r\n"
                         b"Connection: close\r\n\r\nhi" % (code, extra))
        conn.shutdown(socket.SHUT_WR)
        # Let the client read the answer before we close.
        while conn.recv(4096):
            pass
    except OSError:
        pass
    finally:
        conn.close()


def main():
    host, heads = sys.argv[1], sys.argv[2]
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    srv = socket.socket(family, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((host, 0))
    srv.listen(64)
    open(heads, "ab").close()
    sys.stdout.write("%d\n" % srv.getsockname()[1])
    sys.stdout.flush()
    while True:
        conn, _ = srv.accept()
        threading.Thread(target=answer, args=(conn, heads),
                         daemon=True).start()


if __name__ == "__main__":
    main()
