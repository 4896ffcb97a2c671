"""Child processes that cannot outlive the test run.

Fixture teardown stops what a test started, but a test run killed from outside (ctest's timeout,
Ctrl-C twice) runs no teardown. Linux's PR_SET_PDEATHSIG makes the kernel send SIGTERM to the
child when the process that started it dies, so no Dovecot or popgate is left holding a port.
"""

import ctypes
import signal
import subprocess

_PR_SET_PDEATHSIG = 1
_libc = ctypes.CDLL(None, use_errno=True)


def die_with_parent():
    """For subprocess.Popen(preexec_fn=...): runs in the child between fork and exec."""
    _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


def terminate(proc, timeout):
    """SIGTERM to a process we started, SIGKILL if it outlives `timeout`; reaps it either way."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout)


def tail(path, size=4000):
    """The last `size` characters of a log file, "" if there is none."""
    try:
        with open(path, errors="replace") as f:
            return f.read()[-size:]
    except OSError:
        return ""
