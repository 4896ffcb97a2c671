"""A client that goes away without QUIT commits nothing (RFC 1939 §6, UPDATE state only after
QUIT): popgate closes the backend connection without sending QUIT (SPEC §4 Data)."""

from popgate_fixtures.pop3client import RawPop3
from popgate_fixtures.wait import wait_until

from conftest import DEFAULT_USERS


def test_drop_after_dele_sends_no_quit_to_the_backend(fault_backend_factory, popgate_factory,
                                                       client_ctx):
    backend = fault_backend_factory()
    gate = popgate_factory([(backend.host, backend.port)])
    c = RawPop3("127.0.0.1", gate.port, ssl_context=client_ctx)
    c.login("erin", "erin-secret")
    assert c.command("DELE 1").startswith(b"+OK")
    c.abort()
    wait_until(lambda: backend.connections and all(x.closed.is_set()
                                                   for x in backend.connections),
               15, "popgate to close its backend connection")
    lines = backend.all_lines()
    assert "DELE 1" in lines
    assert all(line.split(" ")[0].upper() != "QUIT" for line in lines), lines


def test_drop_after_dele_keeps_the_message_in_dovecot(dovecot, popgate, client_ctx):
    password, messages = DEFAULT_USERS["alice"]
    c = RawPop3("127.0.0.1", popgate.port, ssl_context=client_ctx)
    c.login("alice", password)
    assert c.command("DELE 1").startswith(b"+OK")
    c.abort()
    ended = wait_until(lambda: dovecot.disconnects("alice"), 15,
                       "Dovecot to log the end of alice's session")
    assert "Disconnected: Logged out" not in ended[0], ended[0]
    with RawPop3("127.0.0.1", popgate.port, ssl_context=client_ctx) as again:
        again.login("alice", password)
        stat = again.command("STAT")
        assert stat.startswith(b"+OK %d " % len(messages)), stat
        assert again.command("QUIT").startswith(b"+OK")
