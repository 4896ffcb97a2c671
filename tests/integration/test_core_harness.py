"""The harness checks itself without popgate: the private Dovecot serves the test messages byte
for byte, and the scripted fault backend misbehaves as asked. When these fail, the popgate tests
cannot be trusted either."""

import poplib

from popgate_fixtures import mail as mailgen
from popgate_fixtures.pop3client import RawPop3
from popgate_fixtures.wait import wait_until

from conftest import DEFAULT_USERS


def test_dovecot_serves_the_messages_exactly(dovecot):
    password, messages = DEFAULT_USERS["alice"]
    with RawPop3(dovecot.host, dovecot.port) as c:
        greeting = c.login("alice", password)
        assert b"Dovecot" in greeting
        assert c.command("STAT").startswith(b"+OK %d " % len(messages))
        for n, message in enumerate(messages, start=1):
            _, body = c.retr(n)
            assert body == mailgen.stuff(message)
        assert c.command("QUIT").startswith(b"+OK")


def test_dovecot_refuses_a_wrong_password(dovecot):
    with RawPop3(dovecot.host, dovecot.port) as c:
        c.read_line()
        c.command("USER alice")
        reply = c.command("PASS wrong")
        assert reply.startswith(b"-ERR [AUTH]"), reply


def test_dovecot_keeps_a_deleted_message_without_quit(dovecot):
    password, messages = DEFAULT_USERS["alice"]
    c = RawPop3(dovecot.host, dovecot.port)
    c.login("alice", password)
    assert c.command("DELE 1").startswith(b"+OK")
    c.abort()
    p = poplib.POP3(dovecot.host, dovecot.port, timeout=10)
    p.user("alice")
    p.pass_(password)
    assert p.stat()[0] == len(messages)
    p.quit()


def test_fault_backend_dies_mid_retr(fault_backend_factory):
    b = fault_backend_factory(on_retr="die", partial_bytes=1000)
    with RawPop3(b.host, b.port) as c:
        c.login("u", "p")
        assert c.command("RETR 1").startswith(b"+OK")
        rest = c.read_until_eof()
        assert len(rest) == 1000 and not rest.endswith(b"\r\n.\r\n")
    wait_until(lambda: b.connections[0].closed.is_set(), 5, "the backend connection to close")
    assert b.connections[0].verbs() == ["USER", "PASS", "RETR"]


def test_fault_backend_records_a_drop_without_quit(fault_backend_factory):
    b = fault_backend_factory()
    c = RawPop3(b.host, b.port)
    c.login("u", "p")
    assert c.command("DELE 1").startswith(b"+OK")
    c.abort()
    wait_until(lambda: b.connections and b.connections[0].closed.is_set(), 5,
               "the backend to see the connection close")
    assert "DELE 1" in b.all_lines() and "QUIT" not in b.connections[0].verbs()
