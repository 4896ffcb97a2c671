"""What a client sees when something fails (SPEC §4): Dovecot's own -ERR relayed on a wrong
password; -ERR [SYS/TEMP] when no backend answers; no terminating "." when the backend dies in
the middle of a message."""

import socket
import time

from popgate_fixtures import mail as mailgen
from popgate_fixtures.pop3client import RawPop3
from popgate_fixtures.ports import closed_port
from popgate_fixtures.wait import wait_until

from conftest import DEFAULT_USERS


def test_wrong_password_gets_dovecots_own_error(dovecot, popgate, client_ctx):
    with RawPop3("127.0.0.1", popgate.port, ssl_context=client_ctx) as c:
        greeting = c.read_line()
        assert greeting.startswith(b"+OK") and b"Dovecot" in greeting, greeting
        assert c.command("USER alice").startswith(b"+OK")
        reply = c.command("PASS not-the-password")
        # Dovecot's text, relayed as is: RFC 3206 response code and its own wording.
        assert reply.startswith(b"-ERR [AUTH]"), reply
        assert b"Authentication failed" in reply, reply
        # The session goes on: the right password still works.
        assert c.command("USER alice").startswith(b"+OK")
        assert c.command(f"PASS {DEFAULT_USERS['alice'][0]}").startswith(b"+OK")
        assert c.command("QUIT").startswith(b"+OK")


def test_backend_down_gets_sys_temp_then_eof(popgate_factory, client_ctx):
    connect_timeout = 2.0
    # base_config sets connect_timeout = "2s"; nothing listens on the backend port.
    gate = popgate_factory([("127.0.0.1", closed_port())])
    started = time.monotonic()
    with RawPop3("127.0.0.1", gate.port, ssl_context=client_ctx) as c:
        line = c.read_line()
        assert line.startswith(b"-ERR [SYS/TEMP]"), line
        assert line.endswith(b"\r\n"), line
        rest = c.read_until_eof(timeout=connect_timeout + 10)
        assert rest == b"", rest
    assert time.monotonic() - started < connect_timeout + 10


def test_backend_dying_mid_retr_closes_without_terminator(fault_backend_factory,
                                                          popgate_factory, client_ctx):
    message = mailgen.message("cut short", [f"line {i:06d} of a long message" for i in range(20000)])
    backend = fault_backend_factory(messages=[message], on_retr="die", partial_bytes=200_000)
    gate = popgate_factory([(backend.host, backend.port)])
    with RawPop3("127.0.0.1", gate.port, ssl_context=client_ctx, timeout=20) as c:
        c.login("dave", "dave-secret")
        status = c.command("RETR 1")
        assert status.startswith(b"+OK"), status
        try:
            received = c.read_until_eof(timeout=20)
        except (ConnectionError, socket.timeout) as e:  # a reset is a close too; a hang is not
            assert not isinstance(e, socket.timeout), "popgate kept the client connection open"
            received = c.buf
    assert not received.endswith(b"\r\n.\r\n"), "a truncated message looked complete"
    assert b"\r\n.\r\n" not in received
    assert len(received) <= 200_000
    wait_until(lambda: backend.connections[0].closed.is_set(), 10, "the backend side to close")
