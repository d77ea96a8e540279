#!/usr/bin/env python3
"""bench.py - the measuring half of tests/bench/run (see there).

    bench.py MODE CONFIG.json

tests/bench/run starts Dovecot and the delay proxies, fills the mailboxes
and writes CONFIG.json; this script runs the clients and the floors, one
at a time, verifies what each stored, and prints the results: a plain
table on stdout and the same as Markdown in CONFIG["results"].

Each measured program is started in its own session, as the unprivileged
CONFIG["run_as"] user when there is one, with HOME set to a fresh case
directory, under GNU time (see measure()): wall time is from fork to reap,
CPU the user + system time of the program and every child it waited for
(fetchmail's safecat, getmail's delivery processes), peak RSS the largest
resident set among them.  Dirty pages are written back (sync) before each
run.  A program that runs longer than CONFIG["timeout"] seconds is killed
(its process group) and reported as such.  The floors time themselves
(after their setup: login for the stream, loading the files for the disk)
and print "elapsed S".
"""

import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
PY = sys.executable
CLIENT_NAMES = ("popfetch", "mpop", "fetchmail", "getmail")
SYNC = ("fsync", "fdatasync", "sync_file_range", "syncfs", "sync")
TIME = "/usr/bin/time" if os.access("/usr/bin/time", os.X_OK) else None
# Run BENCH_RUNS times; the others (20 to 50 s each) BENCH_SLOW_RUNS times.
FAST = ("popfetch", "mpop")
# What "wall ÷ popfetch" divides by, in a scenario.
BASE = ("popfetch", "popfetch -j 1", "popfetch (sequential)")



def machine_busy():
    """CPU seconds all CPUs spent busy since boot (/proc/stat: everything
    but idle and iowait), or NaN."""
    try:
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
    except (OSError, ValueError):
        return float("nan")
    busy = sum(v[:8]) - v[3] - v[4]     # user nice system idle iowait irq softirq steal
    return busy / os.sysconf("SC_CLK_TCK")

class Result:
    def __init__(self, client, scenario, wall, cpu=None, rss_kb=None,
                 verified="-", note=""):
        self.client = client
        self.scenario = scenario
        self.wall = wall
        self.cpu = cpu
        self.rss_kb = rss_kb
        self.verified = verified
        self.note = note


class Bench:
    def __init__(self, cfg):
        self.cfg = cfg
        self.work = cfg["work"]
        self.results = []
        self.sections = []		# (title, markdown lines) after the table
        self.notes = []
        self.seq = 0
        if cfg.get("run_as"):
            import pwd
            pw = pwd.getpwnam(cfg["run_as"])
            self.uid, self.gid = pw.pw_uid, pw.pw_gid
        else:
            self.uid = self.gid = None

    # ---- running things -------------------------------------------------

    def case_dir(self, name):
        self.seq += 1
        d = os.path.join(self.work, "cases", "%03d-%s" % (self.seq, name))
        os.makedirs(os.path.join(d, "home"))
        self.own(d)
        return d

    def own(self, path):
        if self.uid is None:
            return
        for root, dirs, files in os.walk(path):
            os.chown(root, self.uid, self.gid)
            for f in files:
                os.chown(os.path.join(root, f), self.uid, self.gid)

    def maildir(self, path):
        for sub in ("tmp", "new", "cur"):
            os.makedirs(os.path.join(path, sub), exist_ok=True)
        return path

    last_busy = float("nan")

    def measure(self, argv, case, log_name="out"):
        """Runs argv in case; returns (wall, user+sys, maxrss KB, status).

        CPU and peak RSS come from GNU time, which forks the program from
        its own small process: the kernel starts a child's ru_maxrss at
        its parent's peak RSS at fork (copied with the mm, recorded at
        exec), so a program forked straight from this Python would never
        show less than Python's ~10 MB.  Without /usr/bin/time, wait4()'s
        numbers are used and the RSS column has that floor (noted)."""
        env = {"PATH": "/usr/local/bin:/usr/bin:/bin",
               "HOME": os.path.join(case, "home"), "LANG": "C.UTF-8",
               "TZ": "UTC"}
        out = open(os.path.join(case, log_name + ".log"), "wb")
        tfile = os.path.join(case, log_name + ".time")
        kw = {}
        if self.uid is not None:
            kw = {"user": self.uid, "group": self.gid, "extra_groups": []}
        if TIME:
            argv = [TIME, "-f", "%U %S %M", "-o", tfile] + list(argv)
        # Write back what the previous run left dirty (and its removed
        # files) now, so that it does not land on this run's fsyncs.
        os.sync()
        busy0 = machine_busy()
        t0 = time.monotonic()
        p = subprocess.Popen(argv, cwd=case, env=env, stdin=subprocess.DEVNULL,
                             stdout=out, stderr=subprocess.STDOUT,
                             start_new_session=True, **kw)
        killed = []

        def kill():
            killed.append(1)
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        timer = threading.Timer(self.cfg["timeout"], kill)
        timer.start()
        _, status, ru = os.wait4(p.pid, 0)
        wall = time.monotonic() - t0
        # CPU time the whole machine spent meanwhile (the server, the
        # delay proxy and the client together), for the accounts mode.
        self.last_busy = machine_busy() - busy0
        timer.cancel()
        p.returncode = os.waitstatus_to_exitcode(status)
        out.close()
        if killed:
            return wall, None, None, "timeout"
        if not TIME:
            return wall, ru.ru_utime + ru.ru_stime, ru.ru_maxrss, p.returncode
        # GNU time's last line; "Command exited with non-zero status N"
        # may come before it.
        with open(tfile) as f:
            last = f.read().split("\n")[-2].split()
        return wall, float(last[0]) + float(last[1]), int(last[2]), \
            p.returncode

    def log_tail(self, case, log_name="out"):
        try:
            with open(os.path.join(case, log_name + ".log"), "rb") as f:
                lines = f.read().decode("utf-8", "replace").splitlines()
        except OSError:
            return ""
        return " | ".join(lines[-3:])[:300]

    def verify(self, client, source, md):
        r = subprocess.run([PY, os.path.join(HERE, "verify.py"), client,
                            source, md], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT)
        text = r.stdout.decode("utf-8", "replace").strip()
        return r.returncode == 0, text

    # ---- the clients ----------------------------------------------------

    def client_setup(self, client, case, port, accounts):
        """accounts: [(user, password, maildir)]; returns argv."""
        c = self.cfg
        if client == "popfetch":
            path = os.path.join(case, "popfetch.ini")
            with open(path, "w") as f:
                f.write("[defaults]\nstate_dir = %s/state\ntimeout = 120\n"
                        "host = 127.0.0.1\nport = %d\ntls = none\n"
                        "allow_plaintext = yes\n\n" % (case, port))
                for user, pw, md in accounts:
                    f.write("[%s]\nuser = %s\npassword = \"%s\"\n"
                            "maildir = %s\n\n" % (user, user, pw, md))
            os.chmod(path, 0o600)
            return [c["popfetch"], "-c", path, "-k"]
        user, pw, md = accounts[0]
        if client == "mpop":
            path = os.path.join(case, "mpoprc")
            with open(path, "w") as f:
                f.write("account bench\nhost 127.0.0.1\nport %d\ntls off\n"
                        "auth user\nuser %s\npassword %s\n"
                        "delivery maildir %s\nkeep on\n"
                        "uidls_file %s/mpop-uidls\n" % (port, user, pw, md,
                                                        case))
            os.chmod(path, 0o600)
            return ["mpop", "-q", "-C", path, "bench"]
        if client == "fetchmail":
            path = os.path.join(case, "fetchmailrc")
            with open(path, "w") as f:
                f.write("set no syslog\n"
                        "poll 127.0.0.1 port %d proto pop3 uidl "
                        "auth password\n"
                        "  user \"%s\" there with password \"%s\"\n"
                        "  keep\n  sslproto ''\n"
                        "  mda \"%s %s/tmp %s/new\"\n"
                        % (port, user, pw, c["safecat"], md, md))
            os.chmod(path, 0o600)
            return ["fetchmail", "-s", "-f", path, "-i",
                    os.path.join(case, "fetchids"), "--pidfile",
                    os.path.join(case, "fetchmail.pid")]
        if client == "getmail":
            path = os.path.join(case, "getmailrc")
            with open(path, "w") as f:
                f.write("[retriever]\ntype = SimplePOP3Retriever\n"
                        "server = 127.0.0.1\nport = %d\nusername = %s\n"
                        "password = %s\n"
                        # getmail waits this long for a delivery child it
                        # lost (run_client): 30 s, not 180, is plenty on
                        # loopback and wastes less of a failed run.
                        "timeout = 30\n\n[destination]\ntype = Maildir\n"
                        "path = %s/\n\n[options]\nread_all = true\n"
                        "delete = false\nverbose = 0\n" % (port, user, pw, md))
            os.chmod(path, 0o600)
            return ["getmail", "--rcfile=" + path, "--getmaildir=" + case]
        raise ValueError(client)

    def run_client(self, client, scenario, port, accounts, source,
                   extra_args=()):
        """One timed run of client over accounts, then verification.  A
        peer whose run fails is run once more (getmail6 has a known race
        between its SIGCHLD handler and its wait for the delivery child,
        getmail6 issues #52 and #226, that stalls it for its socket timeout,
        30 s here, now and then); the note keeps the first failure.
        popfetch is never run again: its failure is a finding."""
        r = self.run_client_once(client, scenario, port, accounts, source,
                                 extra_args)
        if r.verified == "yes" or client == "popfetch":
            return r
        say("%s failed (%s); once more" % (client, r.note[:200]))
        first, first_wall = r.note, r.wall
        r = self.run_client_once(client, scenario, port, accounts, source,
                                 extra_args)
        self.notes.append("%s, %s: the first run failed after %.0f s (%s); "
                          "the table shows the second run%s"
                          % (client, scenario, first_wall, first[:300],
                             "" if r.verified == "yes" else ", which failed "
                             "too: " + r.note[:300]))
        return r

    def run_client_once(self, client, scenario, port, accounts, source,
                        extra_args=()):
        case = self.case_dir(client)
        accts = []
        for user, pw in accounts:
            md = self.maildir(os.path.join(case, "Maildir", user))
            accts.append((user, pw, md))
        argv = self.client_setup(client, case, port, accts) + list(extra_args)
        self.own(case)
        wall, cpu, rss, status = self.measure(argv, case)
        ok_all = True
        texts = []
        if status != 0:
            ok_all = False
            texts.append("exit status %s: %s" % (status, self.log_tail(case)))
        for user, pw, md in accts:
            ok, text = self.verify(client, source, md)
            ok_all = ok_all and ok
            if not ok:
                texts.append("%s: %s" % (user, text.splitlines()[0]))
        if self.cfg.get("keep_cases") != "1":
            shutil.rmtree(case, ignore_errors=True)
        return Result(client, scenario, wall, cpu, rss,
                      "yes" if ok_all else "NO", "; ".join(texts))

    def best(self, runs):
        """The median run by wall time (the lower middle for even counts)."""
        runs = sorted(runs, key=lambda r: r.wall)
        return runs[(len(runs) - 1) // 2]

    # ---- the floors -----------------------------------------------------

    def floor_stream(self, scenario, port, user, pw, label="stream floor"):
        case = self.case_dir("floor-stream")
        wall, cpu, rss, status = self.measure(
            [PY, os.path.join(HERE, "floor_stream.py"), "127.0.0.1",
             str(port), user, pw], case)
        with open(os.path.join(case, "out.log")) as f:
            m = re.search(r"elapsed ([0-9.]+) bytes (\d+)", f.read())
        shutil.rmtree(case, ignore_errors=True)
        if status != 0 or not m:
            self.notes.append("%s, %s: failed (%s)" % (label, scenario, status))
            return Result(label, scenario, float("nan"), verified="NO")
        return Result(label, scenario, float(m.group(1)), verified="bytes ok")

    def floor_disk(self, scenario, source, journal=False):
        case = self.case_dir("floor-disk")
        md = os.path.join(case, "Maildir")
        self.own(case)
        label = "disk floor + journal" if journal else "disk floor"
        wall, cpu, rss, status = self.measure(
            [PY, os.path.join(HERE, "floor_disk.py")] +
            (["--journal"] if journal else []) + [source, md], case)
        with open(os.path.join(case, "out.log")) as f:
            m = re.search(r"elapsed ([0-9.]+)", f.read())
        ok, text = self.verify("none", source, md) if status == 0 else \
            (False, "exit %s" % status)
        shutil.rmtree(case, ignore_errors=True)
        if status != 0 or not m:
            self.notes.append("%s, %s: failed: %s" % (label, scenario, text))
            return Result(label, scenario, float("nan"), verified="NO")
        return Result(label, scenario, float(m.group(1)),
                      verified="yes" if ok else "NO")

    def floor(self, fn, *args, **kw):
        """A floor is the best of its runs (at least 3: they are short)."""
        runs = [fn(*args, **kw) for _ in range(max(3, self.cfg["runs"]))]
        good = [r for r in runs if r.wall == r.wall]
        return min(good, key=lambda r: r.wall) if good else runs[0]

    def baseline(self, scenario):
        """popfetch --version: the RSS of the program and its libraries
        alone, what no message or mailbox adds to."""
        case = self.case_dir("baseline")
        wall, cpu, rss, status = self.measure([self.cfg["popfetch"],
                                               "--version"], case)
        shutil.rmtree(case, ignore_errors=True)
        return Result("popfetch --version", scenario, wall, cpu, rss,
                      "-" if status == 0 else "NO")

    def rtt(self, port, user, pw, n=30):
        """Median round trip of a NOOP through port, in ms."""
        s = socket.create_connection(("127.0.0.1", port))
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        f = s.makefile("rb")

        def cmd(line):
            if line:
                s.sendall(line + b"\r\n")
            reply = f.readline()
            if not reply.startswith(b"+OK"):
                raise RuntimeError("rtt: %r" % reply)
        cmd(None)
        cmd(b"USER " + user.encode())
        cmd(b"PASS " + pw.encode())
        times = []
        for _ in range(n):
            t0 = time.monotonic()
            cmd(b"NOOP")
            times.append(time.monotonic() - t0)
        cmd(b"QUIT")
        s.close()
        return statistics.median(times) * 1000

    # ---- modes ----------------------------------------------------------

    def mode_compare(self):
        c = self.cfg
        box = c["boxes"]["mix"]
        user, pw = box["users"][0]
        source = box["source"]
        nmsg = box["count"]
        mb = box["bytes"] / 1e6
        clients = [x for x in c["clients"] if x in c["available"]]
        missing = [x for x in c["clients"] if x not in c["available"]]
        for x in missing:
            self.notes.append("%s: not installed, not measured (%s)" %
                              (x, c["install_hint"]))
        say("warm-up: one stream of the whole mailbox (Dovecot builds its "
            "index and caches; not counted)")
        self.floor_stream("warm-up", c["port"], user, pw)
        say("disk floor (and with popfetch's journal)")
        any_delay = "%d msgs, any delay" % nmsg
        self.results.append(self.floor(self.floor_disk, any_delay, source))
        self.results.append(self.floor(self.floor_disk, any_delay, source,
                                       journal=True))
        for delay in c["delays"]:
            port = c["port"] if delay == 0 else c["proxy"][str(delay)]
            scen = "%d msgs, %d ms" % (nmsg, delay)
            if delay:
                c.setdefault("rtt", {})[str(delay)] = self.rtt(port, user, pw)
            say("%s: stream floor" % scen)
            self.results.append(self.floor(self.floor_stream, scen, port,
                                           user, pw))
            if delay == 0 and c["proxy"].get("0"):
                say("%s: stream floor through the proxy without delay "
                    "(does the proxy keep up?)" % scen)
                self.results.append(self.floor(
                    self.floor_stream, scen, c["proxy"]["0"], user, pw,
                    "stream floor via proxy"))
            runs = {x: [] for x in clients}
            for i in range(max(c["runs"], c["slow_runs"])):
                for x in clients:
                    n = c["runs"] if x in FAST else c["slow_runs"]
                    if i >= n:
                        continue
                    say("%s: %s (run %d of %d)" % (scen, x, i + 1, n))
                    runs[x].append(self.run_client(x, scen, port, [(user, pw)],
                                                   source))
            for x in clients:
                self.results.append(self.best(runs[x]))
        if c.get("strace"):
            self.strace_profile(clients, c["port"], user, pw, source, nmsg)
        self.summary_compare(nmsg)

    def mode_bigmsg(self):
        c = self.cfg
        box = c["boxes"]["big"]
        user, pw = box["users"][0]
        scen = "1 msg of %.0f MB, 0 ms" % (box["bytes"] / 1e6)
        say("bigmsg: warm-up")
        self.floor_stream("warm-up", c["port"], user, pw)
        self.results.append(self.floor(self.floor_stream, scen, c["port"],
                                       user, pw))
        self.results.append(self.floor(self.floor_disk, scen, box["source"]))
        self.results.append(self.baseline(scen))
        for x in ("popfetch", "mpop"):
            if x in c["available"]:
                say("bigmsg: %s" % x)
                self.results.append(self.run_client(x, scen, c["port"],
                                                    [(user, pw)],
                                                    box["source"]))

    def mode_many(self):
        c = self.cfg
        box = c["boxes"]["small"]
        user, pw = box["users"][0]
        scen = "%d small msgs, 0 ms" % box["count"]
        say("many: warm-up (Dovecot indexes %d messages)" % box["count"])
        t0 = time.monotonic()
        self.floor_stream("warm-up", c["port"], user, pw)
        c["many_warmup"] = time.monotonic() - t0
        self.results.append(self.floor_stream(scen, c["port"], user, pw))
        say("many: disk floor")
        self.results.append(self.floor_disk(scen, box["source"]))
        self.results.append(self.floor_disk(scen, box["source"],
                                            journal=True))
        self.results.append(self.baseline(scen))
        for x in ("popfetch", "mpop"):
            if x in c["available"]:
                say("many: %s" % x)
                self.results.append(self.run_client(x, scen, c["port"],
                                                    [(user, pw)],
                                                    box["source"]))

    def mode_accounts(self):
        c = self.cfg
        box = c["boxes"]["accounts"]
        users = box["users"]
        delay = 20
        port = c["proxy"][str(delay)]
        scen = "%d accts x %d msgs, %d ms" % (len(users), box["count"], delay)
        c.setdefault("rtt", {})[str(delay)] = self.rtt(port, *users[0])
        say("accounts: warm-up")
        for u, p in users:
            self.floor_stream("warm-up", c["port"], u, p)
        one = "1 acct x %d msgs, %d ms" % (box["count"], delay)
        say("accounts: the floors of one account")
        stream = self.floor(self.floor_stream, one, port, *users[0])
        disk = self.floor(self.floor_disk, one, box["source"], journal=True)
        self.results += [stream, disk]
        if c["has_jobs"]:
            say("accounts: popfetch -j 1")
            seq = self.run_client("popfetch", scen, port, users,
                                  box["source"], ["-j", "1"])
            seq_busy = self.last_busy
            seq.client = "popfetch -j 1"
            say("accounts: popfetch -j 8")
            par = self.run_client("popfetch", scen, port, users,
                                  box["source"], ["-j", "8"])
            par_busy = self.last_busy
            par.client = "popfetch -j 8"
            self.results += [seq, par]
            ncpu = os.cpu_count() or 1
            if par_busy == par_busy and par.wall == par.wall:
                self.notes.append(
                    "20 accounts: while popfetch -j 8 ran (%.2f s) the "
                    "machine's %d CPUs were busy %.2f CPU-seconds of %.2f "
                    "(%.0f%%: popfetch %.2f s, the rest Dovecot, the delay "
                    "proxy and the kernel's writeback); -j 1 used %.2f "
                    "CPU-seconds in %.2f s.  Side by side, the accounts "
                    "cannot finish sooner than that work divided by %d: "
                    "%.2f s."
                    % (par.wall, ncpu, par_busy, ncpu * par.wall,
                       100 * par_busy / (ncpu * par.wall), par.cpu, seq_busy,
                       seq.wall, ncpu, par_busy / ncpu))
        else:
            say("accounts: popfetch (one account after another)")
            seq = self.run_client("popfetch", scen, port, users,
                                  box["source"])
            seq.client = "popfetch (sequential)"
            self.results.append(seq)
            self.notes.append("popfetch -j 8: skipped, this popfetch has "
                              "no -j option (popfetch --help)")
        if disk.wall == disk.wall and stream.wall == stream.wall:
            self.sections.append(("20 accounts", [
                "- One account's 200 messages take %.2f s to stream at %d ms "
                "and %.2f s to write with popfetch's syncs (one per file, one journal and one directory sync per 64) "
                "(disk floor + journal); %d accounts one after another: "
                "%.1f s of disk alone, which running them side by side can "
                "overlap only as far as the file system merges their syncs."
                % (stream.wall, delay, disk.wall, len(users),
                   disk.wall * len(users)), ""]))

    # ---- diagnostics ----------------------------------------------------

    def strace_profile(self, clients, port, user, pw, source, nmsg):
        """Untimed runs at 0 ms: every client under strace -c -f (syscall
        counts), then popfetch under a trace of its I/O calls (sizes)."""
        counts = []
        for client in clients:
            say("strace -c -f: %s" % client)
            case = self.case_dir("strace-" + client)
            md = self.maildir(os.path.join(case, "Maildir", user))
            argv = self.client_setup(client, case, port, [(user, pw, md)])
            self.own(case)
            out = os.path.join(case, "strace.out")
            # All syscalls of popfetch; only the sync calls of the peers,
            # filtered in the kernel (fetchmail alone makes ~5,000
            # syscalls per message, far too slow to trace them all).
            st = ["strace", "-f", "-c", "-o", out]
            if client != "popfetch":
                st += ["--seccomp-bpf", "-e", "trace=" + ",".join(SYNC)]
            _, _, _, status = self.measure(st + argv, case)
            ok, _ = self.verify(client, source, md)
            with open(out, errors="replace") as f:
                text = f.read()
            if client == "popfetch":
                keep = os.path.join(self.cfg["outdir"],
                                    "strace-popfetch-c.txt")
                with open(keep, "w") as f:
                    f.write(text)
            calls = {}
            for ln in text.splitlines():
                f_ = ln.split()
                if len(f_) >= 5 and re.match(r"^[0-9.]+$", f_[0]):
                    calls[f_[-1]] = int(f_[3])
            counts.append((client, calls, status == 0 and ok))
            shutil.rmtree(case, ignore_errors=True)
        lines = ["Sync calls of one untimed run per client at 0 ms, under "
                 "`strace -f -c` (children included), per message of %d:"
                 % nmsg, "",
                 "| client | " + " | ".join(SYNC) + " | run ok |",
                 "| --- | " + " | ".join("---:" for _ in SYNC) + " | --- |"]
        for client, calls, ok in counts:
            lines.append("| %s | %s | %s |" % (
                client, " | ".join("%.2f" % (calls.get(x, 0) / nmsg)
                                   for x in SYNC), "yes" if ok else "NO"))
        lines.append("")
        if "popfetch" in clients:
            say("strace: popfetch's I/O sizes")
            case = self.case_dir("strace-sizes")
            md = self.maildir(os.path.join(case, "Maildir", user))
            argv = self.client_setup("popfetch", case, port, [(user, pw, md)])
            self.own(case)
            out = os.path.join(case, "strace.out")
            self.measure(["strace", "-f", "-qq", "-y", "-s", "0", "-o", out,
                          "-e", "trace=read,write,readv,writev,recvfrom,"
                          "sendto,recvmsg,sendmsg,fsync,fdatasync,pread64,"
                          "pwrite64"] + argv, case)
            with open(out, errors="replace") as f:
                lines += self.size_table(f.read())
            shutil.rmtree(case, ignore_errors=True)
            pc = [c for c in counts if c[0] == "popfetch"][0][1]
            lines.append("popfetch's busiest syscalls (full `strace -c -f` "
                         "table in build/bench/strace-popfetch-c.txt): " +
                         ", ".join("%s %d" % (k, v) for k, v in
                                   sorted(pc.items(),
                                          key=lambda kv: -kv[1])[:13]
                                   if k != "total") + ".")
            lines.append("")
        self.sections.append(("Syscall profile (%s, 0 ms)" %
                              self.mailbox_label("mix"), lines))

    def size_table(self, text):
        rx = re.compile(r"^\d+\s+(\w+)\((\d+)<([^>]*)>.*\)\s+=\s+(-?\d+)")
        stats = {}
        for ln in text.splitlines():
            m = rx.match(ln)
            if not m:
                continue
            call, target, ret = m.group(1), m.group(3), int(m.group(4))
            if target.startswith("socket:") or target.startswith("TCP"):
                kind = "socket"
            elif target.endswith(".journal"):
                kind = "journal"
            elif "/Maildir/" in target and target.endswith(("/new",
                                                             "/tmp")):
                kind = "Maildir directory"
            elif "/Maildir/" in target:
                kind = "Maildir file"
            elif target.startswith("/"):
                kind = "other file"
            else:
                kind = target.split(":")[0]
            key = (call, kind)
            s = stats.setdefault(key, [0, 0, 0, 0, 0, 0, 0])
            s[0] += 1
            if ret > 0 and call not in ("fsync", "fdatasync"):
                s[1] += ret
                b = (2 if ret < 1024 else 3 if ret < 16384 else
                     4 if ret < 65536 else 5 if ret == 65536 else 6)
                s[b] += 1
        out = ["I/O calls by target (from `strace -f -y`; sizes are return "
               "values):", "",
               "| call | on | calls | bytes | mean | <1 KiB | 1-16 KiB | "
               "16-64 KiB | =64 KiB | >64 KiB |",
               "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | "
               "---: | ---: |"]
        for (call, kind), s in sorted(stats.items(), key=lambda kv: -kv[1][0]):
            mean = s[1] / max(1, s[0])
            out.append("| %s | %s | %d | %d | %.0f | %d | %d | %d | %d | %d |"
                       % (call, kind, s[0], s[1], mean, *s[2:]))
        out.append("")
        return out

    # ---- output -----------------------------------------------------------

    def mailbox_label(self, key):
        b = self.cfg["boxes"][key]
        return "%d msg%s, %.1f MB" % (b["count"], "s"[:b["count"] != 1],
                                      b["bytes"] / 1e6)

    def find(self, client, scenario):
        for r in self.results:
            if r.client == client and r.scenario == scenario:
                return r
        return None

    def summary_compare(self, nmsg):
        c = self.cfg
        lines = []
        disk = self.find("disk floor", "%d msgs, any delay" % nmsg)
        diskj = self.find("disk floor + journal", "%d msgs, any delay" % nmsg)
        for delay in c["delays"]:
            scen = "%d msgs, %d ms" % (nmsg, delay)
            pf = self.find("popfetch", scen)
            if not pf or pf.verified != "yes":
                lines.append("- %d ms: popfetch did not complete" % delay)
                continue
            stream = self.find("stream floor", scen)
            parts = []
            for r, name in ((stream, "the stream floor"),
                            (disk, "the disk floor"),
                            (diskj, "the disk floor with its journal")):
                if r and r.wall == r.wall:
                    parts.append("%.2f× %s" % (pf.wall / r.wall, name))
            peers = []
            for x in CLIENT_NAMES[1:]:
                r = self.find(x, scen)
                if r and r.verified == "yes":
                    peers.append("%s %.2f×%s" % (
                        x, r.wall / pf.wall,
                        " (CPU %.2f×)" % (r.cpu / pf.cpu) if pf.cpu else ""))
            text = "- %d ms: popfetch %.2f s = %s." % (delay, pf.wall,
                                                      ", ".join(parts))
            if peers:
                text += "  Peers took as long as popfetch times: %s." \
                    % ", ".join(peers)
            if delay:
                per = pf.wall / nmsg * 1000
                rtt = c.get("rtt", {}).get(str(delay))
                text += "  %.1f ms per message%s." % (
                    per, " = %.2f round trips of %.1f ms" % (per / rtt, rtt)
                    if rtt else "")
            lines.append(text)
        direct = self.find("stream floor", "%d msgs, 0 ms" % nmsg)
        via = self.find("stream floor via proxy", "%d msgs, 0 ms" % nmsg)
        if direct and via and direct.wall == direct.wall and \
                via.wall == via.wall:
            mb = c["boxes"]["mix"]["bytes"] / 1e6
            fastest = min((r.wall for r in self.results
                           if r.client in CLIENT_NAMES and
                           r.scenario.endswith(" ms") and
                           not r.scenario.endswith(" 0 ms") and
                           r.verified == "yes"), default=None)
            lines.append("- The delay proxy carried the stream at %.0f MB/s "
                         "(%.2f s through it without delay, %.2f s direct)%s."
                         % (mb / via.wall, via.wall, direct.wall,
                            "; the fastest client through it needed %.0f MB/s"
                            % (mb / fastest) if fastest else ""))
        self.sections.insert(0, ("popfetch against the floors and the peers",
                                 lines + [""]))

    def summary_memory(self):
        """How popfetch's peak RSS compares with its own baseline."""
        lines = []
        for key, what in (("big", "one message of %.0f MB"),
                          ("small", "%s messages")):
            b = self.cfg["boxes"].get(key)
            if not b:
                continue
            pf = base = None
            for r in self.results:
                if r.scenario.startswith("1 msg" if key == "big" else
                                         "%d small" % b["count"]):
                    if r.client == "popfetch":
                        pf = r
                    elif r.client == "popfetch --version":
                        base = r
            if not pf or not base or pf.rss_kb is None or \
                    base.rss_kb is None:
                continue
            what = what % (b["bytes"] / 1e6 if key == "big" else
                           "{:,}".format(b["count"]))
            grow = (pf.rss_kb - base.rss_kb) * 1024
            lines.append("- With %s popfetch peaked at %.1f MB, %.1f MB "
                         "above `popfetch --version` (%.1f MB: the program "
                         "and its libraries)%s." % (
                             what, pf.rss_kb / 1024, grow / 2**20,
                             base.rss_kb / 1024,
                             "; that is %.0f bytes per message" %
                             (grow / b["count"]) if key == "small" else ""))
        if lines:
            self.sections.append(("Memory", lines + [""]))

    def targets(self):
        """The targets of issue 5, for the scenarios this run measured."""
        c = self.cfg
        out = []

        def add(name, ok, detail):
            out.append("- %s: **%s** (%s)" % (name, "met" if ok else
                                               "not met", detail))
        box = c["boxes"].get("mix")
        if box:
            n = box["count"]
            disk = self.find("disk floor", "%d msgs, any delay" % n)
            for delay in c["delays"]:
                scen = "%d msgs, %d ms" % (n, delay)
                pf, mp = self.find("popfetch", scen), self.find("mpop", scen)
                if not pf or pf.verified != "yes":
                    continue
                if delay == 0 and mp and mp.verified == "yes":
                    add("loopback wall ≤ 0.5× mpop (issue: at 10,000 "
                        "messages; here %d)" % n, pf.wall <= 0.5 * mp.wall,
                        "%.2f×" % (pf.wall / mp.wall))
                    add("loopback CPU ≤ 0.5× mpop", pf.cpu <= 0.5 * mp.cpu,
                        "%.2f×" % (pf.cpu / mp.cpu))
                if delay == 20:
                    if mp and mp.verified == "yes":
                        add("20 ms wall ≤ 0.8× mpop",
                            pf.wall <= 0.8 * mp.wall,
                            "%.2f×" % (pf.wall / mp.wall))
                    for x in ("fetchmail", "getmail"):
                        r = self.find(x, scen)
                        if r and r.verified == "yes":
                            add("20 ms ≥ 20× faster than %s" % x,
                                r.wall >= 20 * pf.wall,
                                "%.1f× faster" % (r.wall / pf.wall))
                stream = self.find("stream floor", scen)
                if stream and disk and stream.wall == stream.wall and \
                        disk.wall == disk.wall:
                    hi = max(stream.wall, disk.wall)
                    add("%d ms: within 1.5× of the higher floor" % delay,
                        pf.wall <= 1.5 * hi, "%.2f× the %s floor" % (
                            pf.wall / hi, "disk" if hi == disk.wall
                            else "stream"))
        for key, label in (("big", "100 MB message"),
                           ("small", "%s-message mailbox")):
            b = c["boxes"].get(key)
            if not b:
                continue
            if "%s" in label:
                label = label % "{:,}".format(b["count"])
            want = "1 msg" if key == "big" else "%d small" % b["count"]
            for r in self.results:
                if r.client == "popfetch" and r.rss_kb and \
                        r.verified == "yes" and r.scenario.startswith(want):
                    add("peak RSS ≤ 4 MB with a %s" % label,
                        r.rss_kb <= 4 * 1024, "%.1f MB" % (r.rss_kb / 1024))
        seq = [r for r in self.results if r.client in
               ("popfetch -j 1", "popfetch (sequential)")]
        par = [r for r in self.results if r.client == "popfetch -j 8"]
        if seq and par:
            add("20 accounts at 20 ms: -j 8 ≥ 5× faster than one after "
                "another", seq[0].wall >= 5 * par[0].wall,
                "%.1f×" % (seq[0].wall / par[0].wall))
        elif seq:
            out.append("- 20 accounts at 20 ms with -j 8: not measured (no "
                       "-j in this popfetch); one after another took %.1f s"
                       % seq[0].wall)
        if out:
            self.sections.insert(0, ("Targets of issue 5", out + [""]))

    def fmt(self, x, spec):
        return "-" if x is None or x != x else spec % x

    def table(self):
        rows = []
        head = ("client", "scenario", "wall s", "CPU s", "peak RSS MB",
                "verified", "wall ÷ popfetch")
        for r in self.results:
            base = None
            for p in self.results:
                if p.client in BASE and p.scenario == r.scenario and \
                        p.wall == p.wall:
                    base = p
                    break
            ratio = "-"
            if base and r.wall == r.wall and base.wall > 0:
                ratio = "%.2f" % (r.wall / base.wall)
            rows.append((r.client, r.scenario, self.fmt(r.wall, "%.2f"),
                         self.fmt(r.cpu, "%.2f"),
                         self.fmt(None if r.rss_kb is None else
                                  r.rss_kb / 1024, "%.1f"),
                         r.verified, ratio))
        return head, rows

    def report(self, mode, started):
        c = self.cfg
        head, rows = self.table()
        widths = [max(len(str(x)) for x in col) for col in zip(head, *rows)]
        right = (False, False, True, True, True, False, True)

        def line(cells):
            return "  ".join(str(x).rjust(w) if r else str(x).ljust(w)
                             for x, w, r in zip(cells, widths, right))
        print()
        print(line(head))
        print(line(["-" * w for w in widths]))
        for row in rows:
            print(line(row))
        print()
        md = ["# popfetch benchmark", "",
              "Reproduce with `%s` (%s, took %.0f s)." %
              (c["command"], time.strftime("%Y-%m-%d %H:%M UTC",
                                           time.gmtime()),
               time.monotonic() - started), ""]
        md += ["Machine: %s.  %s" % (c["machine"], c["versions"]), ""]
        md += ["Mailboxes: %s." % "; ".join(
            "%s: %s (`genbox.py %s`, seed %d)" %
            (k, self.mailbox_label(k), b["profile"], b["seed"])
            for k, b in sorted(c["boxes"].items())), ""]
        if c.get("rtt"):
            md += ["Delay: tests/bench/delayproxy.py, %s." % ", ".join(
                "%s ms nominal = %.1f ms measured round trip (NOOP)" %
                (k, v) for k, v in sorted(c["rtt"].items())), ""]
        if c.get("many_warmup"):
            md += ["Dovecot's first pass over the %d-message mailbox "
                   "(index, sizes, flags) took %.1f s (not counted)." %
                   (c["boxes"]["small"]["count"], c["many_warmup"]), ""]
        md += ["| " + " | ".join(head) + " |",
               "| " + " | ".join("---:" if r else "---" for r in right) +
               " |"]
        for row in rows:
            md.append("| " + " | ".join(row) + " |")
        md.append("")
        md += ["Wall time: fork to exit of the client (floors: their own "
               "timer, without process start and setup).  CPU: user + "
               "system of the client and the children it waited for, and "
               "peak RSS: the largest resident set among them, both from "
               "GNU time (`%%U %%S %%M`).  Verified: every "
               "message stored exactly once and equal to its source byte "
               "for byte, once the header lines the client adds are "
               "taken out (see tests/bench/verify.py).  Clients run %s, "
               "keep mode, plain POP3 to 127.0.0.1, Maildir delivery, "
               "each with a fresh Maildir and state.  popfetch and mpop: "
               "the median of %d run%s; fetchmail and getmail: %s; "
               "floors: the best of %d.  The stream floor's \"bytes ok\": "
               "at least STAT's total arrived, then QUIT's reply."
               % ("as the user %s" % c["run_as"] if c.get("run_as")
                  else "as the invoking user", c["runs"],
                  "s"[:c["runs"] != 1],
                  "one run" if c["slow_runs"] == 1 else
                  "the median of %d runs" % c["slow_runs"],
                  max(3, c["runs"])),
               ""]
        for title, lines in self.sections:
            md += ["## " + title, ""] + lines
        if not TIME:
            self.notes.append("no /usr/bin/time (Debian package time): CPU "
                              "and RSS from wait4(), where RSS is at least "
                              "the ~10 MB of the Python that forked the "
                              "client")
        if self.notes:
            md += ["## Notes", ""] + ["- " + n for n in self.notes] + [""]
        text = "\n".join(md)
        with open(c["results"], "w") as f:
            f.write(text)
        for title, lines in self.sections:
            print(title + ":")
            for ln in lines:
                print("  " + ln if ln else "")
        for n in self.notes:
            print("note: " + n)
        print("Markdown: %s" % c["results"])


def say(msg):
    print("bench: " + msg, flush=True)


def main(argv):
    if len(argv) != 3:
        sys.stderr.write("usage: bench.py MODES CONFIG.json\n")
        return 64
    with open(argv[2]) as f:
        cfg = json.load(f)
    started = time.monotonic()
    b = Bench(cfg)
    for mode in argv[1].split(","):
        getattr(b, "mode_" + mode)()
    b.summary_memory()
    b.targets()
    b.report(argv[1], started)
    bad = [r for r in b.results if r.verified == "NO"]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
