#!/usr/bin/env python3
"""genmail.py - deterministic test messages for the popfetch tests.

    genmail.py DIR KIND...     write one file per KIND into DIR
    genmail.py --list          print the known kinds

"standard" stands for the standard mailbox (every kind but "big",
"returnpath", "medium" and "extra*").  Files are named KIND.eml and stored with LF line endings, as a
Maildir on the server side keeps them.  Each message has the header
"Message-ID: <KIND@popfetch.test>", which mailcmp.py uses to pair a
delivered file with its source.  Output is the same on every run.
"""

import random
import sys

WORDS = ("alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo "
         "lima mike november oscar papa quebec romeo sierra tango uniform "
         "victor whiskey xray yankee zulu").split()


def header(kind, subject, extra=b""):
    return (b"From: Popfetch Tests <tests@popfetch.test>\n"
            b"To: alice@popfetch.test\n"
            b"Subject: " + subject.encode("ascii") + b"\n"
            b"Date: Mon, 02 Jan 2023 03:04:05 +0000\n"
            b"Message-ID: <" + kind.encode("ascii") + b"@popfetch.test>\n"
            + extra)


def words(rng, nlines, width=72):
    out = []
    for _ in range(nlines):
        line = []
        n = 0
        while n < width - 10:
            w = rng.choice(WORDS)
            line.append(w)
            n += len(w) + 1
        out.append(" ".join(line).encode("ascii") + b"\n")
    return b"".join(out)


def ordinary(kind):
    rng = random.Random(kind)
    body = b""
    for _ in range(rng.randint(1, 4)):
        body += words(rng, rng.randint(1, 12)) + b"\n"
    return header(kind, "ordinary message " + kind) + b"\n" + body


def dots(kind):
    # Dot-stuffing: every line starting with "." gets one more on the wire;
    # the last line is a lone "." (sent as "..\r\n" just before ".\r\n").
    body = (b"Lines starting with dots follow.\n"
            b".\n"
            b"..\n"
            b"...x\n"
            b".x\n"
            b" .\n"
            b". \n"
            b"x.\n"
            b"\n"
            b".\n"
            b"..\n"
            b"The last line is a lone dot.\n"
            b".\n")
    return header(kind, "dot lines") + b"\n" + body


def dot_nonl(kind):
    # A lone "." as the last line, without a final newline.
    return header(kind, "dot at the end without newline") + \
        b"\nThe message ends in a dot and no newline.\n."


def from_lines(kind):
    body = (b"From the start of a line.\n"
            b"From \n"
            b">From quoted already\n"
            b">>From quoted twice\n"
            b" From indented\n"
            b"From: not a header in the body\n"
            b"\n"
            b"From tests@popfetch.test Mon Jan  2 03:04:05 2023\n"
            b"end\n")
    return header(kind, "From lines") + b"\n" + body


def eightbit(kind):
    extra = (b"MIME-Version: 1.0\n"
             b"Content-Type: text/plain; charset=utf-8\n"
             b"Content-Transfer-Encoding: 8bit\n"
             b"X-Latin1-Header: caf\xe9 na\xefve\n")
    body = ("UTF-8: café naïve Ünïcödé € 日本語 🙂\n".encode("utf-8") +
            b"Latin-1: caf\xe9 na\xefve \xa3\xa9\xbf\xff\n" +
            bytes(range(0x80, 0x100)) + b"\n" +
            b"Control-ish: \x01\x07\x1b[0m\x7f tab\there\n" +
            b"\xc3\xa9\xe9\xc3\n")
    return header(kind, "8-bit bytes", extra) + b"\n" + body


def longlines(kind):
    rng = random.Random(kind)
    body = b"Long lines follow.\n"
    for n in (998, 999, 1000, 2001, 4095, 4096, 8193, 65537, 200001):
        line = bytes(rng.choice(b"abcdefghijklmnopqrstuvwxyz0123456789")
                     for _ in range(n - 1))
        body += b"." + line + b"\n"  # dot-stuffed on the wire too
    body += b"end\n"
    return header(kind, "lines over 2000 characters") + b"\n" + body


def nonl(kind):
    # No final newline: Dovecot sends CRLF before the terminating ".CRLF",
    # so the stored message is this plus one LF (see mailcmp.py).
    return header(kind, "no final newline") + \
        b"\nThis message has no final newline."


def emptybody(kind):
    return header(kind, "empty body") + b"\n"


def big(kind):
    # About 20 MB: numbered lines, with a dot-started line now and then so
    # that stuffing happens across buffer boundaries.
    target = 20 * 1024 * 1024
    out = [header(kind, "20 MB message"), b"\n"]
    size = sum(len(x) for x in out)
    i = 0
    filler = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    while size < target:
        if i % 97 == 0:
            line = b"." * (1 + i % 3) + b"%09d\n" % i
        else:
            line = b"%09d " % i + filler + b"\n"
        out.append(line)
        size += len(line)
        i += 1
    out.append(b"end of the big message\n")
    return b"".join(out)


def returnpath(kind):
    # An mbox separator takes its sender from Return-Path (the header
    # comes first, as an MTA puts it).
    body = (b"This one has a Return-Path.\n"
            b"From here on the body goes on.\n")
    return (b"Return-Path: <bounce+rp@popfetch.test>\n" +
            header(kind, "with Return-Path") + b"\n" + body)


def medium(kind):
    # About 100 KB: over a max_size of 10k, over a small file size limit.
    rng = random.Random(kind)
    return header(kind, "100 KB message") + b"\n" + words(rng, 1560)


def extra(kind):
    return ordinary(kind)


KINDS = {
    "plain1": ordinary,
    "plain2": ordinary,
    "plain3": ordinary,
    "dots": dots,
    "dot-nonl": dot_nonl,
    "from": from_lines,
    "8bit": eightbit,
    "longlines": longlines,
    "nonl": nonl,
    "emptybody": emptybody,
    "big": big,
    "returnpath": returnpath,
    "medium": medium,
}
STANDARD = ["plain1", "dots", "from", "8bit", "plain2", "longlines", "nonl",
            "dot-nonl", "emptybody", "plain3"]


def make(kind):
    if kind in KINDS:
        return KINDS[kind](kind)
    if kind.startswith("extra"):
        return extra(kind)
    raise KeyError(kind)


def main(argv):
    if len(argv) == 2 and argv[1] == "--list":
        print(" ".join(list(KINDS) + ["standard", "extraN"]))
        return 0
    if len(argv) < 3:
        sys.stderr.write(__doc__)
        return 2
    outdir = argv[1]
    kinds = []
    for k in argv[2:]:
        kinds.extend(STANDARD if k == "standard" else [k])
    for k in kinds:
        try:
            data = make(k)
        except KeyError:
            sys.stderr.write("genmail.py: unknown kind %r\n" % k)
            return 2
        with open("%s/%s.eml" % (outdir, k), "wb") as f:
            f.write(data)
        print("%s/%s.eml" % (outdir, k))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
