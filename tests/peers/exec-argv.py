#!/usr/bin/env python3
"""exec-argv.py UNIT BINDIR: the argv systemd would run for UNIT's ExecStart=
line, after replacing @bindir@ with BINDIR as `make install` does, printed
NUL-separated.  Follows systemd's rules (systemd.service(5), "Command
lines"): specifiers (%% only; any other is refused here), words split at
whitespace with '...' and "..." quoting, C escapes processed inside and
outside quotes, a word that is exactly $NAME split into the variable's
words (quotes respected, then removed, as systemd does since v2xx), ${NAME}
substituted; a braceless $NAME inside a word stays as it is.
Exit 1 with a message on anything this emulation does not handle."""
import os
import re
import sys

ESC = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t",
       "v": "\v", "\\": "\\", '"': '"', "'": "'", "s": " "}


def die(msg):
    sys.stderr.write("exec-argv: %s\n" % msg)
    sys.exit(1)


def specifiers(s):
    def repl(m):
        if m.group(1) == "%":
            return "%"
        die("specifier %%%s not emulated" % m.group(1))
    return re.sub(r"%(.)", repl, s)


def words(s):
    out, i, n = [], 0, len(s)
    while True:
        while i < n and s[i] in " \t\n":
            i += 1
        if i >= n:
            return out
        w, quote = "", None
        while i < n:
            c = s[i]
            if c == "\\":
                i += 1
                if i >= n:
                    die("trailing backslash")
                e = s[i]
                if e in ESC:
                    w += ESC[e]
                elif e == "x":
                    w += chr(int(s[i + 1:i + 3], 16))
                    i += 2
                else:
                    die("escape \\%s not emulated" % e)
            elif quote:
                if c == quote:
                    quote = None
                else:
                    w += c
            elif c in "'\"":
                quote = c
            elif c in " \t\n":
                break
            else:
                w += c
            i += 1
        if quote:
            die("unbalanced quoting")
        out.append(w)


def environment(argv):
    out = []
    for w in argv:
        m = re.fullmatch(r"\$([A-Za-z_][A-Za-z0-9_]*)", w)
        if m:
            out.extend(words(os.environ.get(m.group(1), "")))
            continue
        out.append(re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}",
                          lambda m: os.environ.get(m.group(1), ""), w))
    return out


def main():
    unit, bindir = sys.argv[1], sys.argv[2]
    lines = [line for line in open(unit).read().splitlines()
             if line.startswith("ExecStart=")]
    if len(lines) != 1:
        die("%s: %d ExecStart= lines, expected 1" % (unit, len(lines)))
    cmd = specifiers(lines[0][len("ExecStart="):].replace("@bindir@", bindir))
    if cmd[:1] in ("-", "@", "+", "!", ":"):
        die("ExecStart= prefix %s not emulated" % cmd[0])
    argv = environment(words(cmd))
    if ";" in argv:
        die("several commands on one ExecStart= line not emulated")
    sys.stdout.write("\0".join(argv) + "\0")


if __name__ == "__main__":
    main()
