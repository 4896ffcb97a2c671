"""CPU time and resident memory of a process and its descendants, read from /proc.

A proxy may be one process with threads (popgate, HAProxy, stunnel) or a master with worker
processes (nginx): every figure here is summed over the process tree rooted at the PID we
started. /proc/PID/stat already sums the threads of a process; children that have exited and
been reaped are in their parent's cutime/cstime, so they are counted too.
"""

import os
import threading
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")


def _stat_fields(pid):
    """Fields of /proc/PID/stat after the command name (which may contain spaces), so that
    index 0 is field 3 (state) of proc(5)."""
    with open(f"/proc/{pid}/stat") as f:
        text = f.read()
    return text[text.rindex(")") + 2:].split()


def _children(pid):
    """Direct children, from /proc/PID/task/*/children (every thread may have forked)."""
    kids = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            try:
                with open(f"/proc/{pid}/task/{tid}/children") as f:
                    kids.extend(int(x) for x in f.read().split())
            except OSError:
                pass
    except OSError:
        pass
    return kids


def tree(pid):
    """pid and all its live descendants (bounded walk: at most 10,000 processes)."""
    out, todo = [], [pid]
    while todo and len(out) < 10000:
        p = todo.pop()
        out.append(p)
        todo.extend(_children(p))
    return out


def cpu_seconds(pid):
    """utime + stime of the tree, plus what reaped children used (cutime + cstime of each)."""
    total = 0
    for p in tree(pid):
        try:
            f = _stat_fields(p)
        except OSError:
            continue  # exited between the listing and the read
        # proc(5): utime is field 14, stime 15, cutime 16, cstime 17; f[0] is field 3.
        total += int(f[11]) + int(f[12]) + int(f[13]) + int(f[14])
    return total / CLK_TCK


def _status_kib(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def rss_kib(pid):
    """VmRSS summed over the tree, in KiB."""
    total = 0
    for p in tree(pid):
        try:
            total += _status_kib(p, "VmRSS")
        except OSError:
            pass
    return total


def hwm_kib(pid):
    """VmHWM (peak RSS since the process started) summed over the tree, in KiB."""
    total = 0
    for p in tree(pid):
        try:
            total += _status_kib(p, "VmHWM")
        except OSError:
            pass
    return total


class RssSampler:
    """Samples the tree's RSS every `interval` seconds in a thread, for at most `limit`
    seconds; `peak` is the largest sample seen."""

    def __init__(self, pid, interval=0.005, limit=600.0):
        self.pid = pid
        self.interval = interval
        self.limit = limit
        self.peak = 0
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        deadline = time.monotonic() + self.limit
        while not self._stop.is_set() and time.monotonic() < deadline:
            self.peak = max(self.peak, rss_kib(self.pid))
            self.samples += 1
            self._stop.wait(self.interval)

    def __enter__(self):
        self.peak = rss_kib(self.pid)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(5)
        self.peak = max(self.peak, rss_kib(self.pid))
