#!/usr/bin/env python3
"""Checks a --details health+json answer: healthbody.py ANSWER [AFTER_MS].

ANSWER is a whole HTTP answer (head and body).  Verifies Content-Type,
Content-Length, the one trailing newline and the shape the IETF draft
"Health Check Response Format for HTTP APIs" gives it: "status", a "checks"
object keyed NAME:responseTime (NAME without a colon), each an array of one
object with its fields' types; "output" on failure alone; "time" RFC 3339,
not before AFTER_MS (Unix milliseconds, when given) and not in the future.
Then prints "status=pass|fail" and one line per check, in the body's order:
"NAME|componentType|componentId|status|output".  Exit 1 with a message on
stderr when anything is off."""
import datetime
import re
import sys
import time

from jsonbody import json_body

RFC3339 = re.compile(r"^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(\.\d+)?"
                     r"(Z|[+-]\d\d:\d\d)$")
FIELDS = {"componentType", "componentId", "observedValue", "observedUnit",
          "status", "time"}


def fail(msg):
    sys.stderr.write("healthbody: %s\n" % msg)
    sys.exit(1)


def pairs(items):
    """Object members in order; a repeated key is an error."""
    seen = {}
    for k, v in items:
        if k in seen:
            fail("repeated key %r" % k)
        seen[k] = v
    return seen


def when(s):
    """RFC 3339 date-time -> Unix seconds (float)."""
    m = RFC3339.match(s) if isinstance(s, str) else None
    if m is None:
        fail("time is not RFC 3339: %r" % (s,))
    t = datetime.datetime.fromisoformat(s.replace("Z", "+00:00"))
    return t.timestamp()


def check(name, value, after):
    if not re.match(r"^[^:]+:responseTime$", name):
        fail("key %r is not NAME:responseTime with NAME colon-free" % name)
    if not isinstance(value, list) or len(value) != 1:
        fail("%s: not an array of one object: %r" % (name, value))
    c = value[0]
    if not isinstance(c, dict):
        fail("%s: not an object: %r" % (name, c))
    want = FIELDS | ({"output"} if c.get("status") == "fail" else set())
    if set(c) != want:
        fail("%s: fields %r, expected %r" % (name, sorted(c), sorted(want)))
    for k in ("componentType", "componentId", "observedUnit", "status"):
        if not isinstance(c[k], str):
            fail("%s: %s is not a string: %r" % (name, k, c))
    if c["componentType"] not in ("tcp", "unix", "http", "script"):
        fail("%s: componentType %r" % (name, c["componentType"]))
    if c["status"] not in ("pass", "fail"):
        fail("%s: status %r" % (name, c["status"]))
    v = c["observedValue"]
    if isinstance(v, bool) or not isinstance(v, int) or v < 0:
        fail("%s: observedValue is not a non-negative number: %r" % (name, v))
    if c["observedUnit"] != "ms":
        fail("%s: observedUnit %r" % (name, c["observedUnit"]))
    t = when(c["time"])
    now = time.time()
    if t > now + 1:
        fail("%s: time %s is in the future" % (name, c["time"]))
    if after is not None and t < after - 1:
        fail("%s: time %s is before the request" % (name, c["time"]))
    if "output" in c and not isinstance(c["output"], str):
        fail("%s: output is not a string: %r" % (name, c["output"]))
    return "%s|%s|%s|%s|%s" % (name, c["componentType"], c["componentId"],
                               c["status"], c.get("output", ""))


def main():
    after = int(sys.argv[2]) / 1000.0 if len(sys.argv) > 2 else None
    doc = json_body(sys.argv[1], b"application/health+json", fail,
                    object_pairs_hook=pairs)
    if not isinstance(doc, dict) or set(doc) != {"status", "checks"}:
        fail("top level: %r" % doc)
    if not isinstance(doc["checks"], dict) or not doc["checks"]:
        fail("checks is not a non-empty object: %r" % doc["checks"])
    lines = [check(k, v, after) for k, v in doc["checks"].items()]
    failed = any(c[0]["status"] == "fail" for c in doc["checks"].values())
    if doc["status"] != ("fail" if failed else "pass"):
        fail("status %r with checks %r" % (doc["status"], doc["checks"]))
    print("status=%s" % doc["status"])
    for line in lines:
        print(line)


if __name__ == "__main__":
    main()
