#!/usr/bin/env python3
"""verify.py - byte-exact check of one client's Maildir against the sources.

    verify.py CLIENT SOURCE_DIR MAILDIR

Every file in MAILDIR/new and MAILDIR/cur must be one of the files in
SOURCE_DIR (genbox.py output, LF line endings, Dovecot's own Maildir
files), paired by Message-ID, each source exactly once; MAILDIR/tmp must
be empty.  A delivered file must equal its source byte for byte once the
header lines that CLIENT adds are taken out, and those must be there
exactly once, in the place the client puts them:

  popfetch   the first field, popfetch's two-line Received: header
             "Received: from HOST by HOST with POP3 (popfetch VERSION)"
             "<TAB>id UID for <USER>; DATE"
  mpop       the first field, mpop's three-line Received: header
             "Received: from HOST (NAME [ADDR])" "<TAB>by HOST (mpop-VERSION)
             with POP3" "<TAB>for <USER>; DATE"
  fetchmail  one three-line Received: field anywhere in the header,
             "Received: from HOST [ADDR]" "<TAB>by HOST with POP3
             (fetchmail-VERSION)" "<TAB>for <USER> (single-drop); DATE";
             fetchmail puts it after the leading Return-Path: and
             Delivered-To: fields
  getmail    two adjacent fields anywhere in the header: "Delivered-To: X"
             then getmail's two-line "Received: from HOST (HOST:PORT) by
             HOST with POP3 getmail6" "  msgid:UID; DATE".  getmail also
             moves Return-Path: to the top: the sources start with it, so
             that is no change here.
  none       nothing added (the floors, and the reference client)

Everything else, the rest of the header and the whole body, must be
unchanged: 8-bit bytes, lines starting with "." (dot-unstuffed) and
"From " lines included.  Line endings must be LF, as in the sources.

Prints one line "verified N of N" (exit 0) or "FAILED: ..." lines with
the first problems (exit 1).
"""

import os
import re
import sys

ADDED = {
    "popfetch": (True, rb"Received: from \S+ by \S+ with POP3 "
                       rb"\(popfetch [^()\n]+\)\n\tid \S+ for <[^<>\n]*>; "
                       rb"[^\n]+\n"),
    "mpop": (True, rb"Received: from \S+ \([^()\n]*\)\n"
                   rb"\tby \S+ \(mpop-[^()\n]+\) with POP3\n"
                   rb"\tfor <[^<>\n]*>; [^\n]+\n"),
    "fetchmail": (False, rb"Received: from \S+ \[[^\]\n]*\]\n"
                         rb"\tby \S+ with POP3 \(fetchmail-[^()\n]+\)\n"
                         rb"\tfor <[^<>\n]*> \(single-drop\); [^\n]+\n"),
    "getmail": (False, rb"Delivered-To: [^\n]*\n"
                       rb"Received: from \S+ \([^()\n]*\) by \S+ with POP3 "
                       rb"getmail6\n  msgid:[^\n]+\n"),
    "none": (True, None),
}

MSGID = re.compile(rb"^Message-ID: <([^<>\n]+)>$", re.M | re.I)


def header_end(data):
    i = data.find(b"\n\n")
    return len(data) if i < 0 else i + 1


def field_starts(data, end):
    """Offsets of the header fields in data[:end]."""
    starts = [0]
    i = data.find(b"\n", 0, end)
    while 0 <= i < end - 1:
        if data[i + 1] not in b" \t":
            starts.append(i + 1)
        i = data.find(b"\n", i + 1, end)
    return starts


def strip_added(client, data):
    """Returns data without the client's added fields, or None."""
    first, pattern = ADDED[client]
    if pattern is None:
        return data
    rx = re.compile(pattern)
    end = header_end(data)
    hits = []
    for s in ([0] if first else field_starts(data, end)):
        m = rx.match(data, s, end)
        if m:
            hits.append(m)
    if len(hits) != 1:
        return None
    m = hits[0]
    return data[:m.start()] + data[m.end():]


def load_sources(src):
    by_id = {}
    for name in os.listdir(src):
        path = os.path.join(src, name)
        with open(path, "rb") as f:
            head = f.read(8192)
        m = MSGID.search(head, 0, header_end(head))
        if not m:
            raise SystemExit("verify.py: no Message-ID in %s" % path)
        by_id[m.group(1)] = path
    return by_id


def first_diff(a, b):
    n = min(len(a), len(b))
    lo = 0
    while lo < n and a[lo:lo + 4096] == b[lo:lo + 4096]:
        lo += 4096
    while lo < n and a[lo] == b[lo]:
        lo += 1
    return lo


def main(argv):
    if len(argv) != 4 or argv[1] not in ADDED:
        sys.stderr.write("usage: verify.py {%s} SOURCE_DIR MAILDIR\n"
                         % "|".join(ADDED))
        return 64
    client, src, md = argv[1:]
    sources = load_sources(src)
    problems = []
    seen = set()
    tmp = os.listdir(os.path.join(md, "tmp"))
    if tmp:
        problems.append("%d file(s) left in tmp/" % len(tmp))
    for sub in ("new", "cur"):
        d = os.path.join(md, sub)
        for name in os.listdir(d):
            with open(os.path.join(d, name), "rb") as f:
                data = f.read()
            where = "%s/%s" % (sub, name)
            body = strip_added(client, data)
            if body is None:
                problems.append("%s: not exactly one header block added "
                                "by %s" % (where, client))
                continue
            m = MSGID.search(body, 0, header_end(body))
            if not m or m.group(1) not in sources:
                problems.append("%s: unknown Message-ID" % where)
                continue
            mid = m.group(1)
            if mid in seen:
                problems.append("%s: duplicate of %s" % (where, mid.decode()))
                continue
            seen.add(mid)
            with open(sources[mid], "rb") as f:
                want = f.read()
            if body != want:
                i = first_diff(body, want)
                problems.append("%s (%s): differs at byte %d of %d "
                                "(source has %d): got %r, want %r"
                                % (where, mid.decode(), i, len(body),
                                   len(want), body[i:i + 40], want[i:i + 40]))
    missing = len(sources) - len(seen)
    if missing:
        problems.append("%d of %d source messages missing" %
                        (missing, len(sources)))
    if problems:
        for p in problems[:8]:
            print("FAILED: " + p)
        if len(problems) > 8:
            print("FAILED: ... %d more problems" % (len(problems) - 8))
        return 1
    print("verified %d of %d" % (len(seen), len(sources)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
