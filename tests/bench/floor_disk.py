#!/usr/bin/env python3
"""floor_disk.py - the disk floor: write the messages as durable Maildir files.

    floor_disk.py [--journal] SOURCE_DIR MAILDIR

Reads every file of SOURCE_DIR into memory first (not timed), then, timed,
for each message in name order does what a careful Maildir delivery must
at least do: create MAILDIR/tmp/NAME (O_EXCL), write it, fsync it, rename
it into MAILDIR/new/; fsync new/ once per BATCH (64) messages, as popfetch
does in keep and batch mode.  One fsync per message; no journal, no
network.  As in popfetch, the fsync and rename of each file are done by
WORKERS (4) threads (renames one at a time) while the next file is
written, and the directory sync waits for them: several syncs in flight
let the file system merge them, so this is the floor for a delivery that
overlaps them, not only for one that syncs file after file.

--journal adds popfetch's exactly-once bookkeeping (README, Durability):
before each batch of 64 the batch's 40-byte intent lines are appended to
MAILDIR/journal with one fdatasync, and after new/ is synced the batch's
delivered lines are appended (not synced): the order popfetch follows, so
the gap between this and popfetch is popfetch's own overhead, and the gap
between this and the plain floor is the price of the journal.

Prints "elapsed SECONDS bytes N messages M" on stdout.
"""

import os
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

BATCH = 64      # messages per journal and directory sync (src/runner.c)
WORKERS = 4     # threads syncing and renaming (src/deliver_maildir.c)


def main(argv):
    journal = len(argv) == 4 and argv[1] == "--journal"
    if journal:
        argv = argv[1:]
    if len(argv) != 3:
        sys.stderr.write("usage: floor_disk.py [--journal] SOURCE_DIR "
                         "MAILDIR\n")
        return 64
    src, md = argv[1], argv[2]
    msgs = []
    for name in sorted(os.listdir(src)):
        with open(os.path.join(src, name), "rb") as f:
            msgs.append((name.split(",")[0], f.read()))
    for sub in ("tmp", "new", "cur"):
        os.makedirs(os.path.join(md, sub), exist_ok=True)
    tmpfd = os.open(os.path.join(md, "tmp"), os.O_RDONLY | os.O_DIRECTORY)
    newfd = os.open(os.path.join(md, "new"), os.O_RDONLY | os.O_DIRECTORY)
    jfd = os.open(os.path.join(md, "journal"),
                  os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    rename_lock = threading.Lock()

    def finish(fd, name):
        os.fsync(fd)    # (releases the interpreter lock while it waits)
        os.close(fd)
        with rename_lock:
            os.rename(name, name, src_dir_fd=tmpfd, dst_dir_fd=newfd)

    pool = ThreadPoolExecutor(WORKERS)
    done = []
    total = 0
    t0 = time.monotonic()
    for start in range(0, len(msgs), BATCH):
        batch = msgs[start:start + BATCH]
        if journal:
            for name, _ in batch:
                os.write(jfd, b"I %-16s %s\n" % (name[:16].encode(),
                                                  name[:20].encode()))
            os.fdatasync(jfd)
        for name, data in batch:
            fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600,
                         dir_fd=tmpfd)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            done.append(pool.submit(finish, fd, name))
            total += len(data)
        for f in done:
            f.result()
        done = []
        os.fsync(newfd)
        if journal:
            for name, _ in batch:
                os.write(jfd, b"D %-16s 1700000000\n" % name[:16].encode())
    elapsed = time.monotonic() - t0
    print("elapsed %.6f bytes %d messages %d" % (elapsed, total, len(msgs)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
