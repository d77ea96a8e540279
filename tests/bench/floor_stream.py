#!/usr/bin/env python3
"""floor_stream.py - the server stream floor: how fast can Dovecot send it all?

    floor_stream.py HOST PORT USER PASSWORD

Logs in (USER/PASS, plain text), asks STAT, then writes every "RETR n"
and a QUIT at once (from a second thread, so that neither side's socket
buffers can deadlock) and reads everything until the server closes,
throwing the bytes away.  Nothing is parsed after STAT: the time is what
it takes the server to produce the stream and the kernel to carry it.
Also checks that the byte count is at least the STAT total, and that the
stream ends with the QUIT reply.

Prints "elapsed SECONDS bytes N messages M" on stdout; exit 0 on success.
"""

import re
import socket
import sys
import threading
import time


def line(sock, buf):
    while b"\r\n" not in buf:
        chunk = sock.recv(4096)
        if not chunk:
            raise SystemExit("floor_stream.py: connection closed")
        buf += chunk
    i = buf.index(b"\r\n")
    reply = bytes(buf[:i])
    del buf[:i + 2]
    if not reply.startswith(b"+OK"):
        raise SystemExit("floor_stream.py: server said %r" % reply[:80])
    return reply


def main(argv):
    if len(argv) != 5:
        sys.stderr.write("usage: floor_stream.py HOST PORT USER PASSWORD\n")
        return 64
    host, port, user, password = argv[1], int(argv[2]), argv[3], argv[4]
    t0 = time.monotonic()
    sock = socket.create_connection((host, port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    buf = bytearray()
    line(sock, buf)
    sock.sendall(b"USER %s\r\n" % user.encode())
    line(sock, buf)
    sock.sendall(b"PASS %s\r\n" % password.encode())
    line(sock, buf)
    sock.sendall(b"STAT\r\n")
    stat = line(sock, buf).split()
    count, octets = int(stat[1]), int(stat[2])
    cmds = b"".join(b"RETR %d\r\n" % n for n in range(1, count + 1))
    cmds += b"QUIT\r\n"
    writer = threading.Thread(target=sock.sendall, args=(cmds,))
    writer.start()
    total = len(buf)
    tail = bytes(buf[-64:])
    mem = bytearray(1 << 20)
    view = memoryview(mem)
    while True:
        n = sock.recv_into(view)
        if n == 0:
            break
        total += n
        tail = (tail + bytes(view[max(0, n - 64):n]))[-64:]
    elapsed = time.monotonic() - t0
    writer.join()
    sock.close()
    if total < octets or not re.search(rb"\r\n\.\r\n\+OK[^\r\n]*\r\n$", tail):
        sys.stderr.write("floor_stream.py: short stream: %d bytes, STAT "
                         "said %d, ends %r\n" % (total, octets, tail))
        return 1
    print("elapsed %.6f bytes %d messages %d" % (elapsed, total, count))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
