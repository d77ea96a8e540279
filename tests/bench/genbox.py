#!/usr/bin/env python3
"""genbox.py - deterministic benchmark mailboxes, written as Maildir files.

    genbox.py PROFILE COUNT SEED DIR

writes COUNT messages into DIR (created; must not exist yet), one file per
message, named the way Dovecot names its own deliveries
("TIME.MnPseed.bench,S=SIZE,W=VSIZE"), so that the directory can be copied
straight into a Dovecot Maildir's new/ and Dovecot learns each message's
size and CRLF size from the name instead of reading the file.  Files have
LF line endings, as Dovecot keeps them on disk.  Each message has the
header "Message-ID: <bench-SEED-N@popfetch.bench>", which verify.py uses to
pair a delivered file with its source.  Same PROFILE, COUNT and SEED give
the same bytes on every run and machine (Python's random with a fixed
seed; random.randbytes needs Python >= 3.9).

Profiles (sizes are the whole file, in bytes, 1 KB = 1000):
  mix    real mail: 94.7 % 2-30 KB (log-uniform), 5 % 100 KB-1 MB
         (log-uniform), 0.3 % 5-10 MB (uniform; at least 1 when COUNT
         >= 100), in shuffled order.  1,000 messages are about 48 MB.
  small  0.5-4 KB (log-uniform): the 100,000-message mailbox.
  big    COUNT messages of about 100 MB each (one base64 attachment).

Bodies are 72-column text with some 8-bit UTF-8 lines, lines starting
with "." (dot-stuffed by the server), "From " lines and, above 40 KB,
a base64 attachment.  Prints one line: "COUNT messages BYTES bytes".
"""

import base64
import math
import os
import random
import sys

WORDS = ("the of and to in is that for it as was with be by on not he this are "
         "or his from at which but have an they you were her she there been "
         "one all we their has would when if so no will more about up out "
         "who get like time then them what can only other new some could "
         "these two may first any into do over such our after most also made "
         "many before must through back years where much your way well down "
         "should because each just those people how too little state good "
         "very make world still own see men work long here between both life "
         "being under never day same another know while last might us great "
         "old year off come since against go came right used take three "
         "invoice meeting quarterly report attached please review budget "
         "deadline project schedule thanks regards").split()
UTF8 = ["Grüße aus Köln, schöne Grüße an alle!",
        "Ça va très bien, merci — à bientôt.",
        "Привет, как дела? Всё хорошо.",
        "日本語のテキストも少し入っています。",
        "Ελληνικά: καλημέρα σας.",
        "¿Qué tal? ¡Nos vemos mañana!"]
ODD = ["..", ".", ".signature follows", "...and then some",
       "From the desk of the director", "From here on, dots and froms.",
       ". leading dot and space", ">From an already quoted line"]

PROFILES = ("mix", "small", "big")


def text_pool(rng, nlines):
    """Lines of 40-76 characters, LF-terminated, ~1.5 % odd ones."""
    lines = []
    for _ in range(nlines):
        r = rng.random()
        if r < 0.008:
            lines.append(rng.choice(ODD).encode() + b"\n")
            continue
        if r < 0.015:
            lines.append(rng.choice(UTF8).encode() + b"\n")
            continue
        if r < 0.05:
            lines.append(b"\n")
            continue
        width = rng.randint(40, 76)
        words = []
        n = 0
        while True:
            w = rng.choice(WORDS)
            if n + len(w) + (1 if words else 0) > width:
                break
            words.append(w)
            n += len(w) + (1 if words else 0)
        lines.append(" ".join(words).encode() + b"\n")
    return lines


def b64_pool(rng, nbytes):
    raw = base64.b64encode(rng.randbytes(nbytes))
    return [raw[i:i + 76] + b"\n" for i in range(0, len(raw), 76)]


def take(rng, pool, nbytes):
    """About nbytes of consecutive pool lines from a random start."""
    out = []
    got = 0
    while got < nbytes:
        i = rng.randrange(len(pool))
        j = i
        while j < len(pool) and got < nbytes:
            got += len(pool[j])
            j += 1
        out.extend(pool[i:j])
    return out


def header(rng, seed, n, boundary):
    day = 1 + n % 28
    sec = n % 60
    user = rng.choice(("alice", "bob", "carol", "dave", "erin", "frank"))
    subj = " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 9)))
    h = ("Return-Path: <%s@sender.example>\n"
         "Delivered-To: bench@popfetch.bench\n"
         "Received: from mx.sender.example (mx.sender.example [192.0.2.%d])\n"
         "\tby mail.popfetch.bench with ESMTPS id %08x\n"
         "\tfor <bench@popfetch.bench>; Tue, %02d Mar 2024 10:%02d:%02d +0000\n"
         "Received: from [198.51.100.%d] by mx.sender.example with ESMTPSA;\n"
         "\tTue, %02d Mar 2024 10:%02d:%02d +0000\n"
         "From: %s <%s@sender.example>\n"
         "To: Bench <bench@popfetch.bench>\n"
         "Subject: %s\n"
         "Date: Tue, %02d Mar 2024 10:%02d:%02d +0000\n"
         "Message-ID: <bench-%d-%d@popfetch.bench>\n"
         "MIME-Version: 1.0\n"
         % (user, n % 250 + 1, rng.getrandbits(32), day, n % 60, sec,
            n % 250 + 1, day, n % 60, sec, user.capitalize(), user, subj,
            day, n % 60, sec, seed, n))
    if boundary:
        h += ('Content-Type: multipart/mixed; boundary="%s"\n' % boundary)
    else:
        h += ("Content-Type: text/plain; charset=utf-8\n"
              "Content-Transfer-Encoding: 8bit\n")
    return h.encode() + b"\n"


def message(rng, seed, n, size, tpool, bpool):
    if size < 40000:
        head = header(rng, seed, n, None)
        return head + b"".join(take(rng, tpool, max(size - len(head), 1)))
    boundary = "=_bench_%d_%08x" % (n, rng.getrandbits(32))
    head = header(rng, seed, n, boundary)
    text = b"".join(take(rng, tpool, rng.randint(500, 6000)))
    parts = [head, b"This is a multi-part message in MIME format.\n\n",
             b"--" + boundary.encode() + b"\n",
             b"Content-Type: text/plain; charset=utf-8\n"
             b"Content-Transfer-Encoding: 8bit\n\n", text, b"\n",
             b"--" + boundary.encode() + b"\n",
             b"Content-Type: application/pdf; name=\"report-%d.pdf\"\n" % n,
             b"Content-Transfer-Encoding: base64\n"
             b"Content-Disposition: attachment; filename=\"report-%d.pdf\"\n\n"
             % n]
    used = sum(len(p) for p in parts) + len(boundary) + 8
    parts.extend(take(rng, bpool, max(size - used, 76)))
    parts.append(b"\n--" + boundary.encode() + b"--\n")
    return b"".join(parts)


def loguniform(rng, lo, hi):
    return int(math.exp(rng.uniform(math.log(lo), math.log(hi))))


def sizes(profile, count, rng):
    if profile == "small":
        return [loguniform(rng, 500, 4000) for _ in range(count)]
    if profile == "big":
        return [100 * 1000 * 1000] * count
    nlarge = round(count * 0.003)
    if count >= 100:
        nlarge = max(nlarge, 1)
    nmed = round(count * 0.05)
    out = ([rng.randint(5 * 10**6, 10 * 10**6) for _ in range(nlarge)] +
           [loguniform(rng, 100 * 1000, 1000 * 1000) for _ in range(nmed)] +
           [loguniform(rng, 2000, 30000)
            for _ in range(count - nlarge - nmed)])
    rng.shuffle(out)
    return out


def main(argv):
    if len(argv) != 5 or argv[1] not in PROFILES:
        sys.stderr.write("usage: genbox.py {mix|small|big} COUNT SEED DIR\n")
        return 64
    profile, count, seed, out = argv[1], int(argv[2]), int(argv[3]), argv[4]
    rng = random.Random("%s-%d" % (profile, seed))
    tpool = text_pool(rng, 20000 if profile == "small" else 60000)
    bpool = b64_pool(rng, 3 * 1024 * 1024) if profile != "small" else None
    os.mkdir(out)
    total = 0
    for n, size in enumerate(sizes(profile, count, rng), 1):
        data = message(rng, seed, n, size, tpool, bpool)
        name = "%d.M%dP%d.bench,S=%d,W=%d" % (1700000000 + n, n, seed,
                                              len(data),
                                              len(data) + data.count(b"\n"))
        with open(os.path.join(out, name), "xb") as f:
            f.write(data)
        total += len(data)
    print("%d messages %d bytes" % (count, total))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
