#!/usr/bin/env python3
"""mailcmp.py - check a Maildir that popfetch filled against the sources.

    mailcmp.py [options] MAILDIR SOURCE...

Every file in MAILDIR/new and MAILDIR/cur must be one of the SOURCE files
(genmail.py output, LF line endings), paired by Message-ID, each source
exactly once, and MAILDIR/tmp must be empty.

What "byte-exact" means here: the stored file holds exactly the bytes the
server sent, dot-unstuffed, with each CRLF turned into LF.  Dovecot keeps
LF on disk and sends CRLF, so for a source that ends in a newline (or is
empty) the stored file equals the source.  For a source without a final
newline Dovecot sends a CRLF before the terminating ".CRLF" (RFC 1939 needs
the terminator on a line of its own), so the stored file is the source plus
one LF, and nothing else is accepted.

Options:
  --received HOST:USER   each file must start with popfetch's two-line
                         Received: header ("Received: from HOST by ... with
                         POP3 (popfetch VERSION)" then a TAB-folded line
                         "\\tid UID for <USER>; DATE"); it is checked and
                         stripped before comparing.  UIDs must be distinct.
  --no-received          files must not start with "Received:" (the
                         default).
Exit status 0 if everything matches; otherwise 1, with "# " lines saying
what differs (TAP diagnostics).
"""

import os
import re
import sys

DATE = (r"(?:(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), )?\d{1,2} "
        r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} "
        r"\d\d:\d\d(?::\d\d)? [+-]\d{4}")


def message_id(data):
    m = re.search(rb"^Message-ID: <([^>]*)>$", data, re.M | re.I)
    return m.group(1).decode("ascii", "replace") if m else None


def expected_bytes(src):
    if src == b"" or src.endswith(b"\n"):
        return src
    return src + b"\n"


def first_diff(a, b):
    n = min(len(a), len(b))
    for i in range(n):
        if a[i] != b[i]:
            return i
    return n


def strip_received(data, host, user, errors, name):
    """Returns (body, uid) or (None, None) after adding an error."""
    nl1 = data.find(b"\n")
    nl2 = data.find(b"\n", nl1 + 1) if nl1 >= 0 else -1
    if nl1 < 0 or nl2 < 0:
        errors.append("%s: no two-line Received: header" % name)
        return None, None
    l1 = data[:nl1].decode("latin-1")
    l2 = data[nl1 + 1:nl2].decode("latin-1")
    m1 = re.fullmatch(r"Received: from (\S+) by (\S+) with POP3 "
                      r"\(popfetch [^()\s]+\)", l1)
    m2 = re.fullmatch(r"\tid (\S+) for <([^<>]*)>; (" + DATE + ")", l2)
    if not m1 or not m2:
        errors.append("%s: bad Received: header %r %r" % (name, l1, l2))
        return None, None
    if m1.group(1) != host:
        errors.append("%s: Received: from %r, expected %r"
                      % (name, m1.group(1), host))
    if m2.group(2) != user:
        errors.append("%s: Received: for <%s>, expected <%s>"
                      % (name, m2.group(2), user))
    return data[nl2 + 1:], m2.group(1)


def main(argv):
    received = None
    args = argv[1:]
    while args and args[0].startswith("--"):
        opt = args.pop(0)
        if opt == "--received" and args:
            host, _, user = args.pop(0).partition(":")
            received = (host, user)
        elif opt == "--no-received":
            received = None
        else:
            sys.stderr.write(__doc__)
            return 2
    if len(args) < 1:
        sys.stderr.write(__doc__)
        return 2
    maildir, sources = args[0], args[1:]

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

    got = {}
    uids = {}
    for sub in ("new", "cur"):
        d = os.path.join(maildir, sub)
        if not os.path.isdir(d):
            errors.append("%s: missing" % d)
            continue
        for name in sorted(os.listdir(d)):
            path = os.path.join(d, name)
            with open(path, "rb") as f:
                data = f.read()
            if received:
                data, uid = strip_received(data, received[0], received[1],
                                           errors, path)
                if data is None:
                    continue
                if uid in uids:
                    errors.append("%s: same Received: id %s as %s"
                                  % (path, uid, uids[uid]))
                uids[uid] = path
            elif data.startswith(b"Received:"):
                errors.append("%s: unexpected Received: header" % path)
            mid = message_id(data)
            if mid is None or mid not in want:
                errors.append("%s: not one of the sources (Message-ID %s)"
                              % (path, mid))
                continue
            if mid in got:
                errors.append("%s: delivered twice (also %s)"
                              % (mid, got[mid][0]))
                continue
            got[mid] = (path, data)

    tmp = os.path.join(maildir, "tmp")
    if os.path.isdir(tmp) and os.listdir(tmp):
        errors.append("%s: not empty: %s" % (tmp, sorted(os.listdir(tmp))))

    for mid, (src, exp) in sorted(want.items()):
        if mid not in got:
            errors.append("%s: not delivered" % src)
            continue
        path, data = got[mid]
        if data != exp:
            i = first_diff(data, exp)
            errors.append("%s differs from %s (%d bytes, expected %d): "
                          "first difference at byte %d: got %r, expected %r"
                          % (path, src, len(data), len(exp), i,
                             data[max(0, i - 20):i + 20],
                             exp[max(0, i - 20):i + 20]))

    for e in errors:
        print("# " + e)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
