#!/usr/bin/env python3
"""pyfetch.py - a reference POP3 client (python's poplib) for checking the
test harness itself, independently of popfetch.

    pyfetch.py MODE PORT USER PASSWORD CA_FILE MAILDIR

MODE is plain, starttls or implicit; the host is "localhost" (the name in
the test certificate).  Fetches every message into MAILDIR/new with LF line
endings and no Received: header, exactly what popfetch should store with
received_header = no, so that mailcmp.py can check the server side.
"""

import os
import poplib
import ssl
import sys

# poplib refuses lines over 2048 bytes by default; the tests have longer.
poplib._MAXLINE = 1 << 30


def main(argv):
    if len(argv) != 7:
        sys.stderr.write(__doc__)
        return 2
    mode, port, user, password, ca_file, maildir = argv[1:]
    ctx = ssl.create_default_context(cafile=ca_file)
    if mode == "implicit":
        pop = poplib.POP3_SSL("localhost", int(port), context=ctx, timeout=30)
    else:
        pop = poplib.POP3("localhost", int(port), timeout=30)
        if mode == "starttls":
            pop.stls(ctx)
        elif mode != "plain":
            sys.stderr.write("pyfetch.py: bad mode %r\n" % mode)
            return 2
    pop.user(user)
    pop.pass_(password)
    count, _ = pop.stat()
    for d in ("new", "cur", "tmp"):
        os.makedirs(os.path.join(maildir, d), exist_ok=True)
    for n in range(1, count + 1):
        # retr() strips CRLF and undoes dot-stuffing; the server always ends
        # the last line with CRLF, so every line gets its LF back.
        _, lines, _ = pop.retr(n)
        data = b"".join(line + b"\n" for line in lines)
        with open(os.path.join(maildir, "new", "%d.pyfetch" % n), "xb") as f:
            f.write(data)
    pop.quit()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
