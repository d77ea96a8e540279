#!/usr/bin/env python3
"""verify.py - messages for the crash loops, and the exactly-once check.

  verify.py gen DIR
      writes the source messages (LF line endings, each ending in LF, each
      with a unique Message-ID): dot lines, From lines, 8-bit bytes and one
      message of about 300 KB so that a crash can land in its middle.
  verify.py check SRC (--maildir DIR | --mbox FILE)
      every source message must be in the mailbox exactly once, byte for
      byte (popfetch runs with received_header = no), nothing else may be
      there, a Maildir's tmp/ must be empty, an mbox must parse as mboxrd.
      Prints one line per problem; exit status 1 if there is any.
"""
import os
import re
import sys


def gen(outdir):
    os.makedirs(outdir, exist_ok=True)
    bodies = [
        b"plain body\nsecond line\n",
        b".\n..\n...x\n. \nline\n.\n",
        b"From the start\n>From quoted\n>>From twice\nFrom\nFromage\n",
        "8-bit: caf\u00e9 \u00fcber \u2603\n".encode("utf-8") + b"latin-1: \xe9\xe8\n",
        b"".join(b"line %06d of a long message, with some text to fill it\n" % i
                 for i in range(5500)),
        b"\n\nblank lines first\n",
    ]
    for i, body in enumerate(bodies, 1):
        head = (b"Return-Path: <sender%d@example.org>\n"
                b"From: Sender %d <sender%d@example.org>\n"
                b"To: crash@example.org\n"
                b"Subject: crash loop message %d\n"
                b"Message-ID: <crash-%d@popfetch.test>\n\n" % (i, i, i, i, i))
        with open(os.path.join(outdir, "m%02d.eml" % i), "wb") as f:
            f.write(head + body)


def sources(srcdir):
    out = {}
    for name in sorted(os.listdir(srcdir)):
        if name.endswith(".eml"):
            with open(os.path.join(srcdir, name), "rb") as f:
                out[name] = f.read()
    return out


def maildir_messages(md, problems):
    tmp = os.listdir(os.path.join(md, "tmp"))
    if tmp:
        problems.append("tmp/ is not empty: %s" % ", ".join(sorted(tmp)))
    msgs = []
    for sub in ("new", "cur"):
        for name in sorted(os.listdir(os.path.join(md, sub))):
            with open(os.path.join(md, sub, name), "rb") as f:
                msgs.append((sub + "/" + name, f.read()))
    return msgs


SEP = re.compile(rb"^From \S+ \w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4}$")
QUOTED = re.compile(rb"^>(>*From )")


def mbox_messages(path, problems):
    if os.path.exists(path + ".lock"):
        problems.append("dotlock %s.lock left behind" % path)
    with open(path, "rb") as f:
        data = f.read()
    if not data:
        return []
    if not data.startswith(b"From "):
        problems.append("mbox does not start with a From line")
    if not data.endswith(b"\n\n"):
        problems.append("mbox does not end with a blank line")
    msgs, cur, n = [], None, 0
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    for line in lines:
        if line.startswith(b"From ") and (cur is None or cur[-1:] == [b""]):
            if not SEP.match(line):
                problems.append("bad separator line: %r" % line[:80])
            if cur is not None:
                msgs.append(cur)
            cur, n = [], n + 1
            continue
        if cur is None:
            problems.append("text before the first From line")
            cur = []
        cur.append(QUOTED.sub(rb"\1", line))
    if cur is not None:
        msgs.append(cur)
    out = []
    for i, m in enumerate(msgs, 1):
        if not m or m[-1] != b"":
            problems.append("message %d is not followed by a blank line" % i)
        else:
            m = m[:-1]
        out.append(("message %d" % i, b"\n".join(m) + b"\n"))
    return out


def check(srcdir, kind, where):
    problems = []
    src = sources(srcdir)
    got = (maildir_messages(where, problems) if kind == "maildir"
           else mbox_messages(where, problems))
    want = {body: name for name, body in src.items()}
    seen = {}
    for label, body in got:
        name = want.get(body)
        if name is None:
            problems.append("%s is no source message byte for byte (%d bytes, "
                            "starts %r)" % (label, len(body), body[:60]))
            continue
        seen.setdefault(name, []).append(label)
    for name in src:
        places = seen.get(name, [])
        if len(places) != 1:
            problems.append("%s is there %d times (%s)" % (
                name, len(places), ", ".join(places) or "missing"))
    for p in problems:
        print(p)
    return 1 if problems else 0


def main(argv):
    if len(argv) == 3 and argv[1] == "gen":
        gen(argv[2])
        return 0
    if len(argv) == 5 and argv[1] == "check" and argv[3] in ("--maildir", "--mbox"):
        return check(argv[2], argv[3][2:], argv[4])
    sys.stderr.write(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
