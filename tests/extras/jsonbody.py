#!/usr/bin/env python3
"""Checks a --details JSON answer: jsonbody.py ANSWER.

ANSWER is a whole HTTP answer (head and body).  Verifies Content-Type,
Content-Length, the trailing newline and the shape and types of the JSON,
then prints "status=pass|fail" and one line per check:
"TYPE|TARGET|true|false|REASON".  Exit 1 with a message on stderr when
anything is off."""
import json
import sys


def fail(msg):
    sys.stderr.write("jsonbody: %s\n" % msg)
    sys.exit(1)


def json_body(path, ctype, fail, **loads):
    """The JSON document of the answer in PATH, its Content-Type CTYPE and
    its Content-Length right, its body ending in one newline; fail(msg)
    otherwise (healthbody.py uses it too)."""
    raw = open(path, "rb").read()
    head, sep, body = raw.partition(b"\r\n\r\n")
    if not sep:
        fail("no end of head in %r" % raw)
    fields = {}
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        fields[name.strip().lower()] = value.strip()
    if fields.get(b"content-type") != ctype:
        fail("Content-Type %r" % fields.get(b"content-type"))
    if fields.get(b"content-length") != str(len(body)).encode():
        fail("Content-Length %r, body is %d bytes" %
             (fields.get(b"content-length"), len(body)))
    if not body.endswith(b"}\n") or body.count(b"\n") != 1:
        fail("body does not end with exactly one newline: %r" % body)
    try:
        return json.loads(body.decode("utf-8"), **loads)
    except ValueError as e:
        fail("not JSON (%s): %r" % (e, body))


def main():
    doc = json_body(sys.argv[1], b"application/json", fail)
    if not isinstance(doc, dict) or set(doc) != {"status", "checks"}:
        fail("top level: %r" % doc)
    if doc["status"] not in ("pass", "fail"):
        fail("status %r" % doc["status"])
    if not isinstance(doc["checks"], list) or not doc["checks"]:
        fail("checks %r" % doc["checks"])
    print("status=%s" % doc["status"])
    for c in doc["checks"]:
        if not isinstance(c, dict) or \
                set(c) != {"type", "target", "ok", "ms", "reason"}:
            fail("check keys: %r" % c)
        for k in ("type", "target", "reason"):
            if not isinstance(c[k], str):
                fail("%s is not a string: %r" % (k, c))
        if not isinstance(c["ok"], bool):
            fail("ok is not a boolean: %r" % c)
        if isinstance(c["ms"], bool) or not isinstance(c["ms"], int) \
                or c["ms"] < 0:
            fail("ms is not a non-negative integer: %r" % c)
        print("%s|%s|%s|%s" % (c["type"], c["target"],
                               "true" if c["ok"] else "false", c["reason"]))


if __name__ == "__main__":
    main()
