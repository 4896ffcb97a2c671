"""Rolling restarts (SPEC section 5, `[server] drain_delay`): after SIGTERM popgate answers 503
on /healthz at once, still accepts and serves new sessions for drain_delay, then refuses new
connections while the open sessions finish within shutdown_grace; it exits 0."""

import signal
import socket
import time

from popgate_fixtures.pop3client import RawPop3
from popgate_fixtures.scrape import healthz_status
from popgate_fixtures.wait import wait_until

from conftest import DEFAULT_USERS

ALICE_PASSWORD = DEFAULT_USERS["alice"][0]
DRAIN_DELAY = 4.0


def refused(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1.0):
            return False
    except ConnectionRefusedError:
        return True


def test_after_sigterm_healthz_is_503_new_sessions_work_for_drain_delay_then_are_refused(
        popgate_factory, dovecot, client_ctx):
    p = popgate_factory([(dovecot.host, dovecot.port)],
                        overrides={"server": {"drain_delay": f"{DRAIN_DELAY:g}s",
                                              "shutdown_grace": "10s"}})
    assert healthz_status(p) == 200
    open_session = RawPop3("127.0.0.1", p.port, client_ctx)
    open_session.login("alice", ALICE_PASSWORD)

    p.proc.send_signal(signal.SIGTERM)
    signalled = time.monotonic()
    wait_until(lambda: healthz_status(p) == 503, 2.0, "/healthz to answer 503 after SIGTERM")

    # The balancer has not noticed yet: a new client arrives and gets full service.
    with RawPop3("127.0.0.1", p.port, client_ctx) as late:
        late.login("alice", ALICE_PASSWORD)
        _, body = late.retr(1)
        assert body.endswith(b"\r\n.\r\n")
        assert late.command("QUIT").startswith(b"+OK")
    served_at = time.monotonic()
    assert served_at - signalled < DRAIN_DELAY, "the late session was not inside drain_delay"

    wait_until(lambda: refused(p.port), DRAIN_DELAY + 5.0,
               "the listener to close once drain_delay is over")
    assert time.monotonic() - signalled >= DRAIN_DELAY - 0.5, "listener closed before drain_delay"

    # The session open since before SIGTERM still works during shutdown_grace.
    assert open_session.command("STAT").startswith(b"+OK")
    assert open_session.command("QUIT").startswith(b"+OK")
    open_session.close()
    p.proc.wait(15)
    assert p.proc.returncode == 0
    assert "still accepting for drain_delay" in p.stderr_text()


def test_without_drain_delay_sigterm_closes_the_listener_at_once(popgate_factory, dovecot):
    p = popgate_factory([(dovecot.host, dovecot.port)])
    p.proc.send_signal(signal.SIGTERM)
    wait_until(lambda: refused(p.port) or p.proc.poll() is not None, 5.0,
               "the listener to close")
    p.proc.wait(15)
    assert p.proc.returncode == 0


def test_a_second_sigterm_ends_the_drain_delay(popgate_factory, dovecot):
    p = popgate_factory([(dovecot.host, dovecot.port)],
                        overrides={"server": {"drain_delay": "60s"}})
    p.proc.send_signal(signal.SIGTERM)
    wait_until(lambda: healthz_status(p) == 503, 2.0, "/healthz to answer 503")
    p.proc.send_signal(signal.SIGTERM)
    p.proc.wait(15)  # far less than the 60 s delay
    assert p.proc.returncode == 0
