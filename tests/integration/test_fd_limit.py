"""The descriptor limit: popgate raises its soft RLIMIT_NOFILE to the hard limit at start, warns
when the hard limit is below what max_connections needs, and when a connection flood runs it
out of descriptors it logs and counts the failed accepts (popgate_accept_errors_total), does not
spin, and serves again once the flood is gone."""

import os
import re
import resource
import socket
import time

from popgate_fixtures.pop3client import RawPop3
from popgate_fixtures.scrape import scrape, wait_for_value
from popgate_fixtures.wait import wait_until

from conftest import DEFAULT_USERS

ALICE_PASSWORD = DEFAULT_USERS["alice"][0]
LOW = 256
FLOOD = 400  # connections, well past what 256 descriptors hold
# Every flood connection comes from 127.0.0.1: lift the per-address limit out of the way.
OVERRIDES = {"policy": {"max_sessions_per_ip": 10000}}


def limits_of(pid):
    """(soft, hard) of "Max open files" in /proc/PID/limits."""
    with open(f"/proc/{pid}/limits") as f:
        for line in f:
            if line.startswith("Max open files"):
                soft, hard = line.split()[3:5]
                return int(soft), int(hard)
    raise AssertionError("no Max open files line")


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def with_limit(soft, hard):
    def prepare(p):
        p.preexec = lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    return prepare


def test_a_low_soft_limit_is_raised_to_the_hard_limit(popgate_factory, dovecot):
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    hard = min(hard, 65536)
    p = popgate_factory([(dovecot.host, dovecot.port)], overrides=OVERRIDES,
                        prepare=with_limit(LOW, hard))
    assert limits_of(p.proc.pid) == (hard, hard)
    assert re.search(rf"raised the descriptor limit.*from={LOW}.*to={hard}", p.stderr_text()), \
        p.stderr_text()


def test_a_flood_past_a_low_hard_limit_is_logged_counted_and_survived(popgate_factory,
                                                                     dovecot, client_ctx):
    p = popgate_factory([(dovecot.host, dovecot.port)], overrides=OVERRIDES,
                        prepare=with_limit(LOW, LOW))
    assert limits_of(p.proc.pid) == (LOW, LOW)
    # 2 per session for the default max_connections = 20000, plus the reserve.
    warning = re.search(r"descriptor limit is below what max_connections needs.*limit=256"
                        r".*needed=(\d+).*max_connections=20000", p.stderr_text())
    assert warning and int(warning.group(1)) > 40000, p.stderr_text()

    flood = []
    try:
        for _ in range(FLOOD):
            s = socket.socket()
            s.settimeout(5)
            s.connect(("127.0.0.1", p.port))  # the kernel's backlog accepts even at EMFILE
            flood.append(s)
        wait_until(lambda: "cannot accept connections" in p.stderr_text(), 15,
                   "a log line about the failed accepts")
        line = next(l for l in p.stderr_text().splitlines() if "cannot accept" in l)
        assert re.search(r'listener=pop3s error="Too many open files" lost=[1-9]', line), line
        # At the limit the worker must not busy-loop on a listening socket it cannot drain.
        time.sleep(0.5)  # let the flood's last connections be dealt with
        start = cpu_seconds(p.proc.pid)
        time.sleep(1.0)  # measuring CPU use over one second, not waiting for an event
        used = cpu_seconds(p.proc.pid) - start
        assert used < 0.5, f"popgate used {used:.2f} s of CPU in 1 s at the descriptor limit"
    finally:
        for s in flood:
            s.close()

    # The flood's sessions end; a scrape and a real session work again.
    wait_for_value(p, 0, "popgate_sessions_active", timeout=30, listener="pop3s")
    # Every connection past the limit is counted; the flood's accepted ones are sessions.
    counted = scrape(p).value("popgate_accept_errors_total", reason="fd_limit")
    sessions = scrape(p).value("popgate_connections_total", listener="pop3s")
    assert counted > 0 and counted + sessions >= FLOOD, (counted, sessions)
    with RawPop3("127.0.0.1", p.port, client_ctx) as c:
        c.login("alice", ALICE_PASSWORD)
        assert c.command("STAT").startswith(b"+OK")
        assert c.command("QUIT").startswith(b"+OK")


def test_past_max_connections_a_connection_is_closed_at_once_and_counted(popgate_factory,
                                                                        dovecot, client_ctx):
    p = popgate_factory([(dovecot.host, dovecot.port)],
                        overrides={"server": {"max_connections": 1}})
    REJECTED = "popgate_rejected_connections_total"

    # The start's readiness probe held the one slot for a moment: retry until it is free.
    def first_session():
        c = None
        try:
            c = RawPop3("127.0.0.1", p.port, client_ctx)
            c.login("alice", ALICE_PASSWORD)
            return c
        except (OSError, AssertionError):
            if c is not None:
                c.close()
            return None

    first = wait_until(first_session, 10, "a session in the one free slot")
    try:
        before = scrape(p).value(REJECTED, reason="max_connections")
        with socket.create_connection(("127.0.0.1", p.port), timeout=10) as second:
            assert second.recv(1) == b""  # closed by popgate, not left waiting
        wait_for_value(p, before + 1, REJECTED, reason="max_connections")
        assert first.command("STAT").startswith(b"+OK")
        assert first.command("QUIT").startswith(b"+OK")
    finally:
        first.close()
