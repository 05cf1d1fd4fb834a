#!/usr/bin/env python3
"""answer.py FILE STATUS-LINE BODY: FILE holds exactly one complete
health-checker answer with that status line and body: CRLF line ends, the
five headers of the contract (each once, nothing else: Date in IMF-fixdate,
Content-Type: text/plain; charset=utf-8, Content-Length of the body,
Connection: close, Cache-Control: no-store), the empty line, the body and
not one byte more.  Prints every mismatch and exits 1."""
import re
import sys


def main():
    data = open(sys.argv[1], "rb").read()
    status, body = sys.argv[2].encode(), sys.argv[3].encode()
    bad = []
    head, sep, rest = data.partition(b"\r\n\r\n")
    if not sep:
        bad.append("no CRLF CRLF ending the head")
    lines = head.split(b"\r\n")
    if lines[0] != status:
        bad.append("status line %r, expected %r" % (lines[0], status))
    want = {
        b"content-type": b"text/plain; charset=utf-8",
        b"content-length": str(len(body)).encode(),
        b"connection": b"close",
        b"cache-control": b"no-store",
    }
    seen = {}
    for line in lines[1:]:
        if b"\n" in line or b"\r" in line:
            bad.append("bare CR or LF in header line %r" % line)
        name, colon, value = line.partition(b": ")
        if not colon:
            bad.append("not a header line: %r" % line)
            continue
        key = name.lower()
        if key in seen:
            bad.append("header %r twice" % name)
        seen[key] = value
        if key == b"date":
            if not re.fullmatch(rb"(Mon|Tue|Wed|Thu|Fri|Sat|Sun), [0-9]{2} "
                                rb"(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct"
                                rb"|Nov|Dec) [0-9]{4} [0-9]{2}:[0-9]{2}:"
                                rb"[0-9]{2} GMT", value):
                bad.append("Date not in IMF-fixdate: %r" % value)
        elif key in want:
            if value != want[key]:
                bad.append("%r: %r, expected %r" % (name, value, want[key]))
        else:
            bad.append("unexpected header line %r" % line)
    for key in list(want) + [b"date"]:
        if key not in seen:
            bad.append("header %r missing" % key)
    if rest != body:
        bad.append("body %r, expected %r" % (rest, body))
    if bad:
        sys.stderr.write("answer.py: %s:\n  %s\nwhole answer: %r\n"
                         % (sys.argv[1], "\n  ".join(bad), data))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
