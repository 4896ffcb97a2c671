"""systemd's notification protocol (Type=notify), with NOTIFY_SOCKET pointing at a datagram
socket the test reads: READY=1 once every listener accepts, RELOADING=1 with MONOTONIC_USEC and
then READY=1 around a SIGHUP reload (also a refused one), STOPPING=1 when SIGTERM starts the
drain, and STATUS= lines with the session count and the last reload's result."""

import re
import signal
import time

import pytest

from popgate_fixtures.notify import NotifySocket
from popgate_fixtures.popgate import Popgate, base_config, port_of, START_TIMEOUT, STOP_TIMEOUT
from popgate_fixtures.wait import can_connect


@pytest.fixture
def notified(request, workdir, tls_material, dovecot):
    """A popgate started with NOTIFY_SOCKET (path or abstract, by the test's parameter), not
    yet waited for: the test's first step is to read READY=1. Yields (popgate, socket)."""
    abstract = getattr(request, "param", False)
    sock = NotifySocket(workdir, abstract=abstract)
    config = base_config([(dovecot.host, dovecot.port)], tls_material.cert, tls_material.key,
                         starttls=True)
    p = Popgate(workdir, config)
    p.extra_env = {"NOTIFY_SOCKET": sock.address}
    p.start(wait=False)
    try:
        yield p, sock
    finally:
        rc = p.stop()
        sock.close()
        if rc not in (0, None):
            print(p.stderr_text())


def ports(p):
    return [port_of(l["bind"]) for l in p.config["listener"]]


@pytest.mark.parametrize("notified", [False, True], ids=["path", "abstract"], indirect=True)
def test_ready_comes_once_every_listener_accepts(notified):
    p, sock = notified
    fields = sock.wait_for("READY=1", START_TIMEOUT, p.proc)
    # Checked the moment READY arrives: systemd starts dependent units then.
    for port in ports(p):
        assert can_connect("127.0.0.1", port), f"READY=1 sent before port {port} accepts"
    assert re.fullmatch(r"\d+ sessions; last reload: none since start", fields["STATUS"]), fields


def test_sighup_is_reloading_with_a_monotonic_time_then_ready(notified):
    p, sock = notified
    sock.wait_for("READY=1", START_TIMEOUT, p.proc)

    before = time.clock_gettime(time.CLOCK_MONOTONIC)
    p.proc.send_signal(signal.SIGHUP)
    fields = sock.wait_for("RELOADING=1", 10, p.proc)
    after = time.clock_gettime(time.CLOCK_MONOTONIC)
    usec = int(fields["MONOTONIC_USEC"])
    assert before * 1e6 <= usec <= after * 1e6, (before, usec, after)
    ready = sock.wait_for("READY=1", 10, p.proc)
    assert ready["STATUS"].endswith("last reload: applied"), ready

    # A refused reload also ends with READY=1: systemd must not wait for it forever.
    with open(p.config_path, "a") as f:
        f.write("\n[server\n")
    p.proc.send_signal(signal.SIGHUP)
    sock.wait_for("RELOADING=1", 10, p.proc)
    ready = sock.wait_for("READY=1", 10, p.proc)
    assert "last reload: refused" in ready["STATUS"], ready
    p.write_config()  # the good one back, for the stop


def test_sigterm_says_stopping_before_the_process_ends(notified):
    p, sock = notified
    sock.wait_for("READY=1", START_TIMEOUT, p.proc)
    p.proc.send_signal(signal.SIGTERM)
    sock.wait_for("STOPPING=1", 10)
    assert p.proc.wait(STOP_TIMEOUT) == 0
