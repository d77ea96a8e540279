#!/usr/bin/env python3
"""mboxrd.py - check an mboxrd file that popfetch filled against the sources.

    mboxrd.py [--received HOST:USER] MBOX SOURCE...

The file is read strictly, as an mboxrd reader would, and nothing in it
may be left unexplained:
  - it is empty (then SOURCE must be empty too) or starts with "From ";
  - messages are split at each line starting with "From " (mboxrd quotes
    every such line inside a message, so each one is a separator);
  - a separator is "From SENDER DATE" with DATE in asctime form
    ("Mon Jan  2 03:04:05 2023"), and SENDER is the address of the
    message's Return-Path header without <>, else MAILER-DAEMON;
  - each message ends in a newline followed by one blank line, which is
    dropped; then one '>' is taken from every line matching ^>+From .
Every message must be one of the SOURCE files (genmail.py output), paired
by Message-ID, each source exactly once, byte-exact in the sense of
mailcmp.py (a source without a final newline arrives with one added).

  --received HOST:USER   each message starts with popfetch's Received:
                         header, checked and stripped as in mailcmp.py.

Exit status 0 if everything matches; otherwise 1, with "# " lines saying
what differs (TAP diagnostics).
"""

import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mailcmp import expected_bytes, first_diff, message_id, strip_received  # noqa: E402

SEPARATOR = re.compile(
    rb"From (\S+) (?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) "
    rb"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) "
    rb"[ 1-3]\d [0-2]\d:[0-5]\d:[0-6]\d \d{4}")
UNQUOTE = re.compile(rb"^>(>*From )", re.M)


def return_path(msg):
    """The sender an mbox separator should show for msg."""
    end = msg.find(b"\n\n")
    head = msg if end < 0 else msg[:end + 1]
    if head.startswith(b"\n"):
        head = b""
    for m in re.finditer(rb"^Return-Path:[ \t<]*+([^>\s]*)", head,
                         re.M | re.I):
        if m.group(1):
            return m.group(1)
    return b"MAILER-DAEMON"


def parse(data, errors):
    """Splits an mboxrd file into (separator sender, message) pairs."""
    if data == b"":
        return []
    if not data.startswith(b"From "):
        errors.append("does not start with a 'From ' line: %r" % data[:40])
        return []
    starts = [0] + [m.start() + 1 for m in re.finditer(rb"\nFrom ", data)]
    starts.append(len(data))
    out = []
    for i in range(len(starts) - 1):
        chunk = data[starts[i]:starts[i + 1]]
        nl = chunk.find(b"\n")
        sep = chunk[:nl] if nl >= 0 else chunk
        m = SEPARATOR.fullmatch(sep)
        if not m:
            errors.append("message %d at byte %d: bad separator line %r"
                          % (i + 1, starts[i], sep[:120]))
            continue
        body = chunk[nl + 1:] if nl >= 0 else b""
        if not body.endswith(b"\n\n"):
            errors.append("message %d at byte %d: does not end in a newline "
                          "and a blank line: ends %r"
                          % (i + 1, starts[i], body[-40:]))
            continue
        out.append((m.group(1), UNQUOTE.sub(rb"\1", body[:-1]),
                    starts[i]))
    return out


def main(argv):
    received = None
    args = argv[1:]
    while args and args[0].startswith("--"):
        opt = args.pop(0)
        if opt == "--received" and args:
            host, _, user = args.pop(0).partition(":")
            received = (host, user)
        else:
            sys.stderr.write(__doc__)
            return 2
    if len(args) < 1:
        sys.stderr.write(__doc__)
        return 2
    mbox, sources = args[0], args[1:]

    errors = []
    want = {}
    for path in sources:
        with open(path, "rb") as f:
            data = f.read()
        mid = message_id(data)
        if mid is None or mid in want:
            errors.append("%s: source without unique Message-ID" % path)
            continue
        want[mid] = (path, expected_bytes(data))

    try:
        with open(mbox, "rb") as f:
            data = f.read()
    except OSError as e:
        print("# %s: %s" % (mbox, e.strerror))
        return 1

    got = {}
    uids = {}
    for n, (sender, msg, off) in enumerate(parse(data, errors), 1):
        where = "%s: message %d at byte %d" % (mbox, n, off)
        if received:
            msg, uid = strip_received(msg, received[0], received[1],
                                      errors, where)
            if msg is None:
                continue
            if uid in uids:
                errors.append("%s: same Received: id %s as message %d"
                              % (where, uid, uids[uid]))
            uids[uid] = n
        elif msg.startswith(b"Received:"):
            errors.append("%s: unexpected Received: header" % where)
        exp_sender = return_path(msg)
        if sender != exp_sender:
            errors.append("%s: separator says From %s, expected %s"
                          % (where, sender.decode("latin-1"),
                             exp_sender.decode("latin-1")))
        mid = message_id(msg)
        if mid is None or mid not in want:
            errors.append("%s: not one of the sources (Message-ID %s)"
                          % (where, mid))
            continue
        if mid in got:
            errors.append("%s: delivered twice (also %s)"
                          % (mid, got[mid][0]))
            continue
        got[mid] = (where, msg)

    for mid, (src, exp) in sorted(want.items()):
        if mid not in got:
            errors.append("%s: not in the mbox" % src)
            continue
        where, msg = got[mid]
        if msg != exp:
            i = first_diff(msg, exp)
            errors.append("%s differs from %s (%d bytes, expected %d): "
                          "first difference at byte %d: got %r, expected %r"
                          % (where, src, len(msg), len(exp), i,
                             msg[max(0, i - 20):i + 20],
                             exp[max(0, i - 20):i + 20]))

    for e in errors:
        print("# " + e)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
