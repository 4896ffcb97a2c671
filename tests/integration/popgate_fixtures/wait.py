"""Deadlines instead of sleeps: poll a condition until it holds or time runs out."""

import socket
import time


class Timeout(AssertionError):
    pass


def wait_until(predicate, timeout, what, interval=0.02):
    """Calls predicate() until it returns a true value (which is returned) or timeout seconds
    have passed (then Timeout names `what`)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise Timeout(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def can_connect(host, port):
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def wait_for_listener(host, port, timeout, proc=None, what=None):
    """Waits until host:port accepts a TCP connection. If proc (a Popen) exits first, fails at
    once instead of waiting out the deadline."""
    label = what or f"a listener on {host}:{port}"

    def ready():
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"{label}: process exited with status {proc.returncode} "
                                 "before it listened")
        return can_connect(host, port)

    wait_until(ready, timeout, label, interval=0.05)
