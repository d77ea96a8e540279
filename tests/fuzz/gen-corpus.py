#!/usr/bin/env python3
"""gen-corpus.py - writes the hand-made seed corpora of the fuzz targets.

    tests/fuzz/gen-corpus.py

Writes tests/fuzz/corpus/fuzz_X/NAME for every seed below (same bytes on
every run; existing files of the same name are replaced, others are left
alone).  The fuzz_session seeds named dovecot-* are not made here: they are
replies of a real Dovecot 2.3 (tests/lib/dovecot.sh, mailbox from
tests/lib/genmail.py) recorded once, with a script line put in front; this
script takes message bodies and listing lines from them for the other
targets.
"""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "corpus")


def write(target, name, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode("latin-1")
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def dovecot(name):
    with open(os.path.join(CORPUS, "fuzz_session", "dovecot-" + name), "rb") as f:
        data = f.read()
    return data[data.index(b"\n") + 1:]   # drop the script line


def bodies(stream):
    """The raw bodies (after "+OK N octets" up to and including ".CRLF")."""
    out = []
    pos = 0
    while True:
        i = stream.find(b" octets\r\n", pos)
        if i < 0:
            return out
        start = i + len(b" octets\r\n")
        end = stream.index(b"\r\n.\r\n", start - 2) + 5
        out.append(stream[start:end])
        pos = end


CRLF = "\r\n"


def crlf(*lines):
    return "".join(l + CRLF for l in lines)


# ---- fuzz_dot: a body just after "+OK" --------------------------------------

def gen_dot():
    t = "fuzz_dot"
    n = 0
    for src in ("login-list-retr", "retr-more", "retr-rest", "pipelined"):
        for b in bodies(dovecot(src)):
            n += 1
            write(t, "dovecot-body-%02d" % n, b)
    # The first four bytes choose the chunk sizes: these start with bytes
    # that give splits of 1..7 and one large chunk.
    cases = {
        "empty": ".\r\n",
        "empty-lf": ".\n",
        "one-line": "hello\r\n.\r\n",
        "stuffed-dots": "..\r\n...\r\n....x\r\n.\r\n",
        "dot-space": ". \r\n.\r\n",
        "dot-text": ".x\r\n.\r\n",
        "dot-cr-text": ".\rx\r\n.\r\n",
        "dot-cr-cr-lf": ".\r\r\n.\r\n",
        "dot-cr-dot": ".\r.\r\n.\r\n",
        "lf-only": "a\n..b\n\n.\n",
        "mixed-endings": "a\r\nb\n.c\r\n.\n",
        "bare-cr": "a\rb\r\n\rb\r\na\r\r\n.\r\n",
        "many-cr": "\r\r\r\r\n\r.\r\n.\r\n",
        "pipelined-next": "a\r\n.\r\n+OK next\r\n",
        "pipelined-two-bodies": "a\r\n.\r\n+OK 3 octets\r\nb\r\n.\r\n",
        "8bit": "\x80\xff\xfe\r\n\xc3\xa9t\xc3\xa9\r\n.\r\n",
        "nul": "a\0b\r\n\0\r\n.\0\r\n.\r\n",
        "no-terminator": "a\r\nb\r\n",
        "no-terminator-mid-line": "a\r\nb",
        "no-terminator-cr": "a\r\nb\r",
        "cut-after-dot": "a\r\n.",
        "cut-after-dot-cr": "a\r\n.\r",
        "dot-inside-line": "x.\r\n.x.\r\n.\r\n",
        "from-lines": "From x\r\n>From y\r\n..From z\r\n.\r\n",
        "chunk-sizes-large": "\xf5\xf1\xfa\xff" + "x" * 300 + "\r\n" + "." * 700 + "\r\n.\r\n",
        "chunk-sizes-1": "\x00\x07\x0e\x15\r\n.\r\n.\r\n",
        "crlf-at-chunk-edge": "\x01\x01\x01\x01\r\n\r\n.\r\n",
        "header-body": crlf("Subject: x", "", "body", "."),
    }
    for name, data in cases.items():
        write(t, name, data)


# ---- fuzz_status: LINE [\n MAX] ----------------------------------------------

def gen_status():
    t = "fuzz_status"
    cases = {
        "greeting": "+OK [XCLIENT] Dovecot (Debian) ready. <3964.4.6b038a2c.UD0aJpUWdDREGLkz3qpPLQ==@vm>\r",
        "ok-bare": "+OK",
        "ok-lower": "+ok fine",
        "okay": "+OKAY",
        "ok-tab": "+OK\tx",
        "err-bare": "-ERR",
        "err-auth": "-ERR [AUTH] Authentication failed.",
        "err-in-use": "-ERR [IN-USE] Mailbox is locked by another POP3 session",
        "err-login-delay": "-ERR [LOGIN-DELAY] wait 300 seconds",
        "err-sys-temp": "-ERR [SYS/TEMP] Out of disk space",
        "err-sys-temp-sub": "-ERR [SYS/TEMP/QUOTA] quota",
        "err-sys-perm": "-ERR [SYS/PERM] account disabled",
        "err-unknown-code": "-ERR [FOO] bar",
        "err-unclosed-code": "-ERR [SYS/TEMP",
        "err-empty-code": "-ERR []",
        "err-no-such": "-ERR There's no message 99.",
        "nul-in-status": "+OK a\0b",
        "neither": "OK ready",
        "junk-8bit": "\xff\xfe+OK",
        "stat": "+OK 10 291961",
        "stat-text": "10 291961\n10",
        "list-line": "1 1234\n10",
        "list-line-max": "10 1237\n10",
        "list-out-of-range": "11 1237\n10",
        "list-zero": "0 100\n10",
        "list-size-max": "1 18446744073709551615\n1",
        "list-size-overflow": "1 18446744073709551616\n1",
        "list-extra": "1 200 extra text\n5",
        "list-tab": "1 200\t\n5",
        "list-spaces": "1    200\n5",
        "list-leading-zeros": "0001 0200\n5",
        "list-no-size": "1 \n5",
        "uidl-dovecot": "1 000000016b038a2d\n10",
        "uidl-max-num": "4294967295 x\n4294967295",
        "uidl-num-overflow": "4294967296 x\n4294967295",
        "uidl-70": "1 " + "A" * 70 + "\n1",
        "uidl-71": "1 " + "A" * 71 + "\n1",
        "uidl-ctrl": "1 abc\x01def\n1",
        "uidl-space-in-uid": "1 abc def\n1",
        "uidl-trailing-blank": "1 abc \t \n1",
        "uidl-del": "1 abc\x7f\n1",
        "uidl-max-zero": "1 abc\n0",
        "uidl-no-uid": "1\n5",
        "capa-sasl": "SASL PLAIN LOGIN CRAM-MD5 SCRAM-SHA-1 SCRAM-SHA-256",
        "capa-pipelining": "PIPELINING",
        "capa-resp-codes": "RESP-CODES",
        "capa-auth-resp-code": "AUTH-RESP-CODE",
        "capa-stls": "STLS",
        "capa-stls-lower": "stls",
        "capa-stlsx": "STLSX",
        "capa-top": "TOP",
        "capa-user": "USER",
        "capa-uidl": "UIDL",
        "capa-login-delay": "LOGIN-DELAY 900",
        "arg-user": "alice@example.org",
        "arg-utf8": "j\xc3\xbcrgen",
        "arg-ctrl": "alice\x1b[31m",
        "arg-256": "u" * 256,
        "arg-255": "u" * 255,
    }
    for name, data in cases.items():
        write(t, name, data)
    # Replies of Dovecot: the greeting, CAPA, STAT, LIST and UIDL lines.
    lines = dovecot("login-list-retr").split(b"\r\n")
    for i in (0, 1, 10, 14, 15, 17, 26, 28, 37):
        write(t, "dovecot-line-%02d" % i, lines[i] + b"\n10")


# ---- fuzz_session: SCRIPT \n SERVER-BYTES ------------------------------------

GREET = "+OK POP3 ready <1896.697170952@dbc.mtview.ca.us>"
CAPA = ["+OK", "CAPA", "TOP", "UIDL", "RESP-CODES", "PIPELINING", "USER", "."]


def gen_session():
    t = "fuzz_session"
    msg = crlf("Subject: hi", "", "..dotted", "From me", "body", ".")
    cases = {
        "rfc1939-example": ("SSSSLBS", crlf(
            GREET, "+OK mrose is a real hoopy frood", "+OK mrose's maildrop has 2 messages (320 octets)",
            "+OK 2 320", "+OK 2 messages (320 octets)", "1 120", "2 200", ".",
            "+OK 120 octets", "Subject: one", "", "text", ".", "+OK dewey POP3 server signing off")),
        "lf-only": ("SLSSLB", (GREET + "\n+OK\nUIDL\nTOP\n.\n+OK\n+OK\n+OK\n1 a\n2 b\n.\n"
                              "+OK\nline\n..dot\n.\n")),
        "status-too-long": ("S", "+OK " + "A" * 2000 + CRLF),
        "status-1022": ("SS", "+OK " + "A" * 1018 + CRLF + "+OK" + CRLF),
        "status-1023": ("SS", "+OK " + "A" * 1019 + CRLF + "+OK" + CRLF),
        "status-1023-lf": ("SS", "+OK " + "A" * 1019 + "\n+OK" + CRLF),
        "status-nul": ("S", "+OK a\0b" + CRLF),
        "status-neither": ("S", "OK hello" + CRLF),
        "status-eof-no-newline": ("SS", GREET + CRLF + "+OK no newline"),
        "status-empty": ("S", ""),
        "resp-codes": ("EEEEEES", crlf(GREET, "-ERR [IN-USE] locked", "-ERR [LOGIN-DELAY] wait",
                                        "-ERR [SYS/TEMP] busy", "-ERR [SYS/PERM] gone",
                                        "-ERR [AUTH] no", "-ERR plain", "+OK bye")),
        "capa-never-ends": ("SL", crlf(GREET, "+OK", "STLS", "USER")),
        "capa-long-line": ("SL", crlf(GREET, "+OK", "SASL " + "X" * 1100, ".")),
        "capa-nul": ("SL", crlf(GREET, "+OK", "ST\0LS", ".")),
        "uidl-hostile": ("SL", crlf(GREET, "+OK", "1 a", "1 a", "0 b", "99999999999 c",
                                    "2 " + "U" * 71, "3 ctl\x01x", "4 \x7f", ".")),
        "list-lies": ("SLB", crlf(GREET, "+OK", "1 5", ".", "+OK 5 octets") + "x" * 3000 + "\r\n.\r\n"),
        "retr-eof": ("SB", crlf(GREET, "+OK 100 octets", "Subject: cut", "", "half a messa")),
        "retr-eof-at-line-start": ("SB", crlf(GREET, "+OK", "Subject: cut", "")),
        "retr-eof-cr": ("SB", crlf(GREET, "+OK", "Subject: cut") + "x\r"),
        "retr-eof-dot": ("SB", crlf(GREET, "+OK", "a") + "."),
        "retr-err": ("SBS", crlf(GREET, "-ERR no such message", "+OK")),
        "retr-nul-body": ("SBS", crlf(GREET, "+OK", "a\0b", "\0", ".\0", ".", "+OK")),
        "retr-then-pipelined": ("SBBBS", GREET + CRLF + "+OK\r\n" + msg + "+OK\r\n.\r\n+OK\r\n" + msg + "+OK bye\r\n"),
        "retr-stuffing": ("SB", crlf(GREET, "+OK", "..", "...", ".x", ". ", ".\rx", "..\r", ".")),
        "stls-injected": ("SLSS", crlf(GREET, "+OK", "STLS", ".", "+OK Begin TLS negotiation") +
                          "\x16\x03\x01\x00\x05hello" + CRLF),
        "expect-ok-chain": ("EEEEL", crlf(GREET, "+OK", "+OK", "+OK 1 10", "+OK", "1 x", ".")),
        "listing-1022": ("SL", crlf(GREET, "+OK", "1 " + "a" * 1020, "2 " + "b" * 1021, ".")),
        "listing-dot-lines": ("SL", crlf(GREET, "+OK", "..", ".x", ". ", "", ".")),
        "many-lines": ("SL", GREET + CRLF + "+OK\r\n" + "".join("%d %d\r\n" % (i, i * 7) for i in range(1, 400)) + ".\r\n"),
    }
    for name, (script, data) in cases.items():
        write(t, name, script + "\n" + data)
    # A body whose lines straddle the 64 KiB receive buffer.
    body = "".join(("%05d " % i) + "y" * (i % 997) + CRLF for i in range(140))
    write(t, "retr-buffer-straddle", "SB\n" + GREET + CRLF + "+OK\r\n" + body + ".\r\n")


# ---- fuzz_config: an INI file ----------------------------------------------

GOOD = "host = pop.example.com\nuser = alice\npassword = s3cret\nmaildir = ~/Mail\n"


def gen_config():
    t = "fuzz_config"
    cases = {
        "man-example": """[defaults]
timeout = 30                  ; give up on a server silent for 30 s
state_dir = ~/.local/state/popfetch
max_size = 20M                ; leave huge messages on the server

; the account "work"
[work]
host = pop.example.com
; tls = implicit and port = 995 are the defaults
user = alice
password = "s3cret;with#signs" ; quoted: ; and # are kept
maildir = ~/Mail/work
delete = per-message          ; RETR 1, DELE 1, RETR 2, DELE 2 ...

[home]
host = mail.example.org
tls = starttls                ; port 110, then STLS
ca_file = /etc/ssl/certs/home-ca.pem
user = alice@example.org
password = 'an0ther'
mbox = ~/Mail/home.mbox
delete = batch                ; RETR 1, RETR 2 ... DELE 1, DELE 2 ...
received_header = no

[lists]
host = pop.example.net
user = alice
password = "th1rd"
mda = /usr/bin/procmail -a %a -d %u
keep_days = 30
""",
        "minimal": "[work]\n" + GOOD,
        "all-keys": "[work]\n" + GOOD + "port = 1995\ntls = starttls\nca_file = ~/ca.pem\n"
                    "allow_plaintext = yes\ndelete = batch\nmax_size = 64k\nreceived_header = off\n"
                    "state_dir = /var/tmp/st\ntimeout = 3600\n",
        "tls-none-ok": "[work]\n" + GOOD + "tls = none\nallow_plaintext = true\n",
        "tls-none-refused": "[work]\n" + GOOD + "tls = none\n",
        "keep-days-with-delete": "[work]\n" + GOOD + "delete = per-message\nkeep_days = 3\n",
        "keep-days-36500": "[work]\n" + GOOD + "keep_days = 36500\n",
        "two-deliveries": "[work]\n" + GOOD + "mbox = ~/mbox\n",
        "no-delivery": "[work]\nhost = h\nuser = u\npassword = p\n",
        "defaults-delivery": "[defaults]\nmda = deliver -d %u\n[a]\nhost = h\nuser = u\npassword = p\n",
        "mda-bad-percent": "[work]\nhost = h\nuser = u\npassword = p\nmda = x %z\n",
        "mda-quotes": "[work]\nhost = h\nuser = u\npassword = p\nmda = \"/bin/my prog\" 'a b' c\\ d %%\n",
        "mda-unbalanced": "[work]\nhost = h\nuser = u\npassword = p\nmda = x 'open\n",
        "unknown-key": "[work]\n" + GOOD + "colour = blue\n",
        "unknown-key-defaults": "[defaults]\ncolour = blue\n[work]\n" + GOOD,
        "key-outside-section": "timeout = 5\n[work]\n" + GOOD,
        "syntax-error": "[work]\n" + GOOD + "this is not a key value\n",
        "password-colon-typo": "[work]\nhost = h\nuser = u\npassword: Sekr3tPw\nmaildir = ~/M\n",
        "bad-password-quoted": "[work]\nhost = h\nuser = u\npassword = \"a\x01b\"\nmaildir = ~/M\n",
        "ports": "[a]\n" + GOOD + "port = 0\n[b]\n" + GOOD + "port = 65536\n",
        "port-huge": "[work]\n" + GOOD + "port = 99999999999999999999\n",
        "timeouts": "[work]\n" + GOOD + "timeout = 1.5\n",
        "sizes": "[work]\n" + GOOD + "max_size = 17179869183G\n",
        "size-suffix-only": "[work]\n" + GOOD + "max_size = k\n",
        "bools": "[work]\n" + GOOD + "allow_plaintext = maybe\n",
        "section-names": "[My.Work_Box-2]\n" + GOOD,
        "section-space": "[bad name]\n" + GOOD,
        "section-dot": "[.hidden]\n" + GOOD,
        "section-long": "[" + "a" * 65 + "]\n" + GOOD,
        "section-colon": "[a:b]\n" + GOOD,
        "no-accounts": "[defaults]\ntimeout = 5\n",
        "empty": "",
        "comments-only": "; nothing\n# here\n",
        "long-line": "[work]\n" + GOOD + "host = " + "h" * 1100 + "\n",
        "long-value-256": "[work]\nhost = " + "h" * 256 + "\nuser = u\npassword = p\nmaildir = /m\n",
        "continuation": "[work]\nhost = pop.\\\nexample.com\nuser = u\npassword = p\nmaildir = /m\n",
        "crlf": ("[work]\n" + GOOD).replace("\n", "\r\n"),
        "nul-byte": "[work]\nhost = a\0b\nuser = u\npassword = p\nmaildir = /m\n",
        "utf8": "[work]\nhost = h\nuser = j\xc3\xbcrgen\npassword = p\xc3\xa4ss\nmaildir = ~/M\xc3\xa4il\n",
        "tilde-user": "[work]\nhost = h\nuser = u\npassword = p\nmaildir = ~bob/Mail\n",
        "duplicate-section": "[work]\n" + GOOD + "[work]\nhost = other\n",
        "duplicate-key": "[work]\n" + GOOD + "host = second\n",
        "uppercase": "[WORK]\nHOST = h\nUSER = u\nPASSWORD = p\nMAILDIR = /m\n",
        "mda-command-raw": "deliver -d \"%u\" 'x y'\ta\\ b \"c\\\"d\" '' \"\" end\\",
        "mda-unterminated-raw": "procmail -a \"%a",
        "jobs": "[defaults]\njobs = 8\n[work]\n" + GOOD,
        "jobs-bad": "[defaults]\njobs = 65\n[work]\n" + GOOD,
        "jobs-in-account": "[work]\n" + GOOD + "jobs = 2\n",
        "many-accounts": "".join("[a%d]\n%s" % (i, GOOD) for i in range(50)),
    }
    for name, data in cases.items():
        write(t, name, data)


# ---- fuzz_state: JOURNAL, or SNAPSHOT \0 JOURNAL ----------------------------

def gen_state():
    t = "fuzz_state"
    snap = "popfetch-state 1\n000000016b038a2d 1672628645\n000000026b038a2d 1672628645\nbig1 1672628000 big\n"
    cases = {
        "journal-only": "I 000000016b038a2d 1700000000.M1P2Q3.host\nD 000000016b038a2d 1700000001\n",
        "journal-pending": "I u1 tok1\nI u2 tok2\nD u1 1700000000\n",
        "journal-x": "I u1 tok1\nX u1\n",
        "journal-torn": "I u1 tok1\nD u1 17000",
        "journal-torn-nul": "I u1 tok1\nD u1 1\0",
        "journal-big": "B huge 1700000000\nB huge 1700000001\nD huge 1700000002\n",
        "journal-bad-record": "Q u1\n",
        "journal-4-words": "I u1 tok1 extra\n",
        "journal-long-uid": "D " + "u" * 71 + " 1\n",
        "journal-uid-70": "D " + "u" * 70 + " 1\n",
        "journal-token-255": "I u " + "t" * 255 + "\n",
        "journal-token-256": "I u " + "t" * 256 + "\n",
        "journal-time-max": "D u 4294967295\n",
        "journal-time-overflow": "D u 4294967296\n",
        "journal-time-sign": "D u -1\n",
        "journal-long-line": "D u 1\n" + "x" * 1100 + "\n",
        "journal-double-space": "D  u 1\n",
        "journal-empty-line": "\n",
        "journal-cr": "D u 1\r\n",
        "snap-and-journal": snap + "\0" + "I 000000036b038a2d 5000\nD 000000026b038a2d 1\nI 000000016b038a2d 7\n",
        "snap-only": snap + "\0",
        "snap-bad-magic": "popfetch-state 2\nu 1\n\0",
        "snap-no-newline": "popfetch-state 1\nu 1\0",
        "snap-bad-line": "popfetch-state 1\nu\n\0",
        "snap-big-word": "popfetch-state 1\nu 1 small\n\0",
        "snap-empty": "\0I u t\n",
        "snap-dup": "popfetch-state 1\nu 1\nu 2\nu 3 big\n\0B u 9\n",
        "pending-then-delivered-in-snap": "popfetch-state 1\nu 1\n\0I u t\nI v t\n",
        "many": "".join("D uid%d %d\n" % (i, i) for i in range(600)),
    }
    for name, data in cases.items():
        write(t, name, data)


# ---- fuzz_mbox_quote: one message ------------------------------------------

def gen_mbox():
    t = "fuzz_mbox_quote"
    n = 0
    for src in ("login-list-retr", "retr-more", "retr-rest"):
        for b in bodies(dovecot(src)):
            n += 1
            lines = b[:-5].split(b"\r\n")
            lines = [l[1:] if l.startswith(b".") else l for l in lines]
            write(t, "dovecot-msg-%02d" % n, b"\n".join(lines) + b"\n")
    cases = {
        "empty": "",
        "one-newline": "\n",
        "no-final-newline": "Subject: x\n\nno newline",
        "from-lines": "Subject: x\n\nFrom here\n>From there\n>>From afar\nFrom\nFrom:\n >From\n",
        "from-first-line": "From someone\nSubject: x\n\nbody\n",
        "from-in-header-end": "Subject: x\n>From y\n\n",
        "return-path": "Return-Path: <bounce@example.org>\nSubject: x\n\nFrom body\n",
        "return-path-empty": "Return-Path: <>\n\nx\n",
        "return-path-long": "Return-Path: <" + "a" * 400 + "@x>\n\nx\n",
        "return-path-ctrl": "Return-Path: a\x01b\n\nx\n",
        "held-back-at-end": "Subject: x\n\n>>Fro",
        "held-back-gts": "Subject: x\n\n>>>",
        "body-only": "\nFrom x\n",
        "crlf": "Subject: x\r\n\r\nFrom y\r\n",
        "nul": "Subject: \0\n\n\0From \0\n",
        "split-small": "\x01\x02\x03From x\n>From y\n",
        "split-large": "\xf3\xf0\xff" + "Subject: x\n\n" + "From y\n" * 50,
    }
    for name, data in cases.items():
        write(t, name, data)
    # A header that never ends: buffered up to 64 KiB, then written.
    write(t, "header-64k", "X-Long: " + "h" * 70000 + "\nFrom x\n")


def main():
    gen_dot()
    gen_status()
    gen_session()
    gen_config()
    gen_state()
    gen_mbox()
    return 0


if __name__ == "__main__":
    sys.exit(main())
