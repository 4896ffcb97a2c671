"""Every wait popgate does is bounded (SPEC sections 3 and 4): idle sessions are logged out,
authorization and the TLS handshake have a deadline, a backend that never greets or stalls
mid-message ends the session with a clear line or a close, never a hang. Short timeouts are set
explicitly; each test waits for the event with a deadline rather than sleeping."""

import socket

from popgate_fixtures.pop3client import RawPop3
from popgate_fixtures.scrape import wait_for_value
from popgate_fixtures.wait import wait_until

from conftest import DEFAULT_USERS

ALICE_PASSWORD = DEFAULT_USERS["alice"][0]


def ended(p, how):
    """The session's log line is written when its last handle closes, which may be just after
    the client has seen the connection end: wait for it."""
    wait_until(lambda: how in p.stderr_text(), timeout=10, what=f"a session log line with {how}")


def test_an_idle_session_is_logged_out(popgate_factory, dovecot, client_ctx):
    p = popgate_factory([(dovecot.host, dovecot.port)],
                        overrides={"policy": {"idle_timeout": "1s"}})
    with RawPop3("127.0.0.1", p.port, client_ctx) as c:
        c.login("alice", ALICE_PASSWORD)
        rest = c.read_until_eof(timeout=15)
    assert rest.startswith(b"-ERR autologout"), rest
    ended(p, "end=idle_timeout")


def test_authorization_has_a_deadline(popgate_factory, dovecot, client_ctx):
    p = popgate_factory([(dovecot.host, dovecot.port)],
                        overrides={"policy": {"auth_timeout": "1s"}})
    with RawPop3("127.0.0.1", p.port, client_ctx) as c:
        assert c.read_line().startswith(b"+OK")
        rest = c.read_until_eof(timeout=15)
    assert rest.startswith(b"-ERR [SYS/TEMP]"), rest
    ended(p, "end=auth_timeout")


def test_a_client_that_never_starts_tls_is_dropped(popgate_factory, dovecot):
    p = popgate_factory([(dovecot.host, dovecot.port)],
                        overrides={"policy": {"auth_timeout": "1s"}})
    with socket.create_connection(("127.0.0.1", p.port), timeout=15) as s:
        assert s.recv(100) == b""  # closed by popgate, not by this recv's 15 s timeout
    ended(p, "end=handshake_timeout")


def test_a_backend_that_never_greets_gets_the_client_a_clean_error(
        popgate_factory, fault_backend_factory, client_ctx):
    silent = fault_backend_factory(greeting=b"")
    p = popgate_factory([(silent.host, silent.port)],
                        overrides={"backend": [{"name": "legacy",
                                                "servers": [f"{silent.host}:{silent.port}"],
                                                "greeting_timeout": "1s"}]})
    with RawPop3("127.0.0.1", p.port, client_ctx) as c:
        rest = c.read_until_eof(timeout=15)
    assert rest == b"-ERR [SYS/TEMP] mail server did not answer, try again later\r\n", rest
    wait_for_value(p, 1, "popgate_backend_errors_total", backend="legacy",
                   reason="greeting_timeout")


def test_a_backend_stalling_mid_message_never_looks_complete(
        popgate_factory, fault_backend_factory, client_ctx):
    stalled = fault_backend_factory(on_retr="stall", partial_bytes=2000)
    p = popgate_factory([(stalled.host, stalled.port)],
                        overrides={"policy": {"idle_timeout": "2s"}})
    with RawPop3("127.0.0.1", p.port, client_ctx) as c:
        c.login("alice", "whatever")
        c.send("RETR 1\r\n")
        assert c.read_line().startswith(b"+OK")
        rest = c.read_until_eof(timeout=15)
    # The session ends without the terminating "." and without any line of popgate's mixed
    # into the message body.
    assert b"\r\n.\r\n" not in rest
    assert b"-ERR" not in rest and b"autologout" not in rest
    ended(p, "end=idle_timeout")
