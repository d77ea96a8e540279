#!/usr/bin/env python3
"""delayproxy.py - a TCP proxy on 127.0.0.1 that adds a fixed one-way delay.

    delayproxy.py --to PORT [--delay-ms MS] [--port-file FILE]

Listens on 127.0.0.1 (a free port, written to FILE once listening, or
printed on stdout) and connects every client to 127.0.0.1:PORT.  Each
chunk of bytes read from either side is timestamped and written to the
other side MS milliseconds later (default 10: a 20 ms round trip).  The
delay comes from a timestamped queue per direction, not from sleeping
before each read, so the proxy keeps reading at full speed while earlier
bytes wait: throughput is that of the link without delay, as with netem.
Reading from a side stops only while more than 64 MiB wait in its queue
(or the receiver's socket is full), far above what a POP3 session has in
flight at loopback speed and 10 ms.

Both sockets get TCP_NODELAY, so that the proxy adds no Nagle or
delayed-ACK waits of its own.  A side that closes (or half-closes) is
closed towards the other side after the bytes queued before it, with the
same delay.  Runs until SIGTERM or SIGINT; nothing is logged.
"""

import argparse
import asyncio
import collections
import os
import signal
import socket
import sys

HIGH_WATER = 64 << 20
LOW_WATER = 16 << 20
CLOSE = None


class Side(asyncio.Protocol):
    """One connection; writes what its peer received, delayed."""

    def __init__(self, loop, delay):
        self.loop = loop
        self.delay = delay
        self.peer = None
        self.transport = None
        self.queue = collections.deque()	# (due time, bytes or CLOSE)
        self.queued = 0
        self.timer = None
        self.full = False		# our socket's write buffer is full
        self.closed = False
        self.pending = []		# received before the peer was connected

    def connection_made(self, transport):
        self.transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data):
        if self.peer is None:
            self.pending.append(data)
            return
        self.peer.push(data)

    def eof_received(self):
        if self.peer is None:
            self.pending.append(CLOSE)
        else:
            self.peer.push(CLOSE)
        return False

    def connection_lost(self, exc):
        self.closed = True
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        self.queue.clear()
        if self.peer is not None and not self.peer.closed:
            self.peer.push(CLOSE)

    def attach(self, peer):
        self.peer = peer
        for data in self.pending:
            peer.push(data)
        self.pending = []

    # The write side: bytes the peer read, due after the delay.
    def push(self, data):
        if self.closed:
            return
        self.queue.append((self.loop.time() + self.delay, data))
        if data is not CLOSE:
            self.queued += len(data)
        if self.timer is None:
            self.timer = self.loop.call_at(self.queue[0][0], self.flush)
        self.flow()

    def flush(self):
        self.timer = None
        if self.closed:
            return
        now = self.loop.time()
        while self.queue and self.queue[0][0] <= now:
            _, data = self.queue.popleft()
            if data is CLOSE:
                self.queue.clear()
                self.queued = 0
                self.transport.close()
                return
            self.queued -= len(data)
            self.transport.write(data)
        if self.queue:
            self.timer = self.loop.call_at(self.queue[0][0], self.flush)
        self.flow()

    def flow(self):
        """Stops reading the peer while too much waits to be written."""
        if self.peer is None or self.peer.closed:
            return
        if self.queued > HIGH_WATER or self.full:
            self.peer.transport.pause_reading()
        elif self.queued < LOW_WATER:
            self.peer.transport.resume_reading()

    def pause_writing(self):
        self.full = True
        self.flow()

    def resume_writing(self):
        self.full = False
        self.flow()


async def connect_upstream(loop, client, port, delay):
    try:
        _, upstream = await loop.create_connection(
            lambda: Side(loop, delay), "127.0.0.1", port)
    except OSError:
        client.transport.close()
        return
    if client.closed:
        upstream.transport.close()
        return
    upstream.attach(client)
    client.attach(upstream)


def main(argv):
    ap = argparse.ArgumentParser(description="TCP proxy with a delay")
    ap.add_argument("--to", type=int, required=True, metavar="PORT")
    ap.add_argument("--delay-ms", type=float, default=10.0, metavar="MS")
    ap.add_argument("--port-file", metavar="FILE")
    args = ap.parse_args(argv[1:])
    delay = args.delay_ms / 1000.0
    loop = asyncio.new_event_loop()
    tasks = set()

    def accepted():
        side = Side(loop, delay)
        task = loop.create_task(connect_upstream(loop, side, args.to, delay))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        return side

    server = loop.run_until_complete(
        loop.create_server(accepted, "127.0.0.1", 0, backlog=128))
    port = server.sockets[0].getsockname()[1]
    if args.port_file:
        tmp = args.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % port)
        os.rename(tmp, args.port_file)
    else:
        print(port, flush=True)
    stop = loop.create_future()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set_result, None)
    loop.run_until_complete(stop)
    server.close()
    loop.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
