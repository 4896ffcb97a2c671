"""The policy engine (SPEC section 3, [policy]): ordered rules with deny, close, dry-run and
route actions, access lists and brute-force bans, each checked the way an admin would: the reply
line the client gets, the mailbox it lands in, the counter that moved."""

import socket
import ssl

import pytest

from popgate_fixtures import mail as mailgen
from popgate_fixtures.pop3client import RawPop3
from popgate_fixtures.scrape import scrape, wait_for_value
from popgate_fixtures.wait import wait_until

from conftest import DEFAULT_USERS

ALICE_PASSWORD = DEFAULT_USERS["alice"][0]
DELETION_OFF = "-ERR [SYS/PERM] deletion is disabled here"
ARCHIVE_MESSAGE = mailgen.message("from the archive", ["Kept since 2020."])


def rules(*entries):
    return {"policy": {"rule": list(entries)}}


def routing_gateway(popgate_factory, main, archive):
    """popgate in front of `main`, sending users named archive-* to `archive`."""
    return popgate_factory([(main.host, main.port)], overrides={
        "backend": [{"name": "legacy", "servers": [f"{main.host}:{main.port}"]},
                    {"name": "archive", "servers": [f"{archive.host}:{archive.port}"]}],
        **rules({"name": "to-archive", "users": ["archive-*"], "action": "route",
                 "backend": "archive"})})


def test_deny_answers_the_rules_reply_and_the_session_goes_on(popgate_factory, dovecot_factory,
                                                               client_ctx):
    d = dovecot_factory({"archive-2020": ("pw", [ARCHIVE_MESSAGE]),
                         "alice": ("pw", [ARCHIVE_MESSAGE])})
    p = popgate_factory([(d.host, d.port)], overrides=rules(
        {"name": "archive-read-only", "commands": ["DELE"], "users": ["archive-*"],
         "action": "deny", "reply": DELETION_OFF}))
    with RawPop3("127.0.0.1", p.port, client_ctx) as c:
        c.login("archive-2020", "pw")
        assert c.command("DELE 1").decode().rstrip("\r\n") == DELETION_OFF
        assert c.command("STAT").startswith(b"+OK 1 ")
        assert c.command("RSET").startswith(b"+OK")
        assert c.command("QUIT").startswith(b"+OK")
    # The rule names archive users only: alice may delete.
    with RawPop3("127.0.0.1", p.port, client_ctx) as c:
        c.login("alice", "pw")
        assert c.command("DELE 1").startswith(b"+OK")
        assert c.command("RSET").startswith(b"+OK")
        assert c.command("QUIT").startswith(b"+OK")
    m = scrape(p)
    assert m.value("popgate_policy_decisions_total", rule="archive-read-only", action="deny") == 1
    assert "rule applied" in p.stderr_text()


def test_close_answers_and_ends_the_session(popgate_factory, dovecot, client_ctx):
    p = popgate_factory([(dovecot.host, dovecot.port)], overrides=rules(
        {"name": "no-top", "commands": ["TOP"], "action": "close"}))
    with RawPop3("127.0.0.1", p.port, client_ctx) as c:
        c.login("alice", ALICE_PASSWORD)
        assert c.command("TOP 1 0").startswith(b"-ERR [SYS/PERM]")
        assert c.read_until_eof() == b""


def test_dry_run_logs_and_counts_but_allows(popgate_factory, dovecot, client_ctx):
    p = popgate_factory([(dovecot.host, dovecot.port)], overrides=rules(
        {"name": "watch-retr", "commands": ["RETR"], "action": "deny", "dry_run": True}))
    with RawPop3("127.0.0.1", p.port, client_ctx) as c:
        c.login("alice", ALICE_PASSWORD)
        status, body = c.retr(1)
        assert status.startswith(b"+OK") and body.endswith(b"\r\n.\r\n")
        assert c.command("QUIT").startswith(b"+OK")
    assert scrape(p).value("popgate_policy_decisions_total", rule="watch-retr",
                           action="dry_run_deny") == 1
    assert "dry run" in p.stderr_text()


def test_route_sends_matching_users_to_another_backend(popgate_factory, dovecot_factory,
                                                       client_ctx):
    main = dovecot_factory({"alice": ("pw", [mailgen.message("main", ["On the main host."])])})
    archive = dovecot_factory({"archive-2020": ("pw", [ARCHIVE_MESSAGE])})
    p = routing_gateway(popgate_factory, main, archive)
    with RawPop3("127.0.0.1", p.port, client_ctx) as c:
        # The backend is not chosen yet: popgate greets and answers CAPA itself.
        assert c.read_line().startswith(b"+OK")
        c.send("CAPA\r\n")
        assert c.read_line().startswith(b"+OK")
        caps, complete = c.read_multiline()
        assert complete and b"USER\r\n" in caps and b"STLS" not in caps
        assert c.command("USER archive-2020").startswith(b"+OK")
        assert c.command("PASS pw").startswith(b"+OK")
        status, body = c.retr(1)
        assert b"Kept since 2020." in body
        assert c.command("QUIT").startswith(b"+OK")
    with RawPop3("127.0.0.1", p.port, client_ctx) as c:
        c.login("alice", "pw")
        status, body = c.retr(1)
        assert b"On the main host." in body
        assert c.command("QUIT").startswith(b"+OK")
    assert scrape(p).value("popgate_policy_decisions_total", rule="to-archive",
                           action="route") == 1


def test_a_pipelined_login_waits_for_the_routed_backend(popgate_factory, dovecot_factory,
                                                        client_ctx):
    main = dovecot_factory({"alice": ("pw", [])})
    archive = dovecot_factory({"archive-2021": ("pw", [ARCHIVE_MESSAGE])})
    p = routing_gateway(popgate_factory, main, archive)
    with RawPop3("127.0.0.1", p.port, client_ctx) as c:
        assert c.read_line().startswith(b"+OK")
        c.send("USER archive-2021\r\nPASS pw\r\nSTAT\r\nQUIT\r\n")
        replies = [c.read_line() for _ in range(4)]
        assert [r[:3] for r in replies] == [b"+OK"] * 4, replies
        assert replies[2].startswith(b"+OK 1 ")


def test_access_deny_refuses_before_any_tls(popgate_factory, dovecot, client_ctx):
    p = popgate_factory([(dovecot.host, dovecot.port)],
                        overrides={"policy": {"access": {"deny": ["127.0.0.2/32"]}}})
    sock = socket.create_connection(("127.0.0.1", p.port), timeout=5,
                                    source_address=("127.0.0.2", 0))
    with pytest.raises((ssl.SSLError, ConnectionError, OSError)):
        client_ctx.wrap_socket(sock, server_hostname="localhost")
    sock.close()
    # Others still get in.
    with RawPop3("127.0.0.1", p.port, client_ctx) as c:
        assert c.read_line().startswith(b"+OK")
    wait_for_value(p, 1, "popgate_rejected_connections_total", reason="access_denied")


def test_repeated_failures_ban_the_client_address(popgate_factory, dovecot, client_ctx):
    p = popgate_factory([(dovecot.host, dovecot.port)], overrides={"policy": {
        "max_auth_failures": 5, "ban": {"failures": 2, "window": "10m", "duration": "30m"}}})
    with RawPop3("127.0.0.1", p.port, client_ctx, source="127.0.0.3") as c:
        assert c.read_line().startswith(b"+OK")
        assert c.command("USER alice").startswith(b"+OK")
        assert c.command("PASS wrong-1").startswith(b"-ERR")
    with RawPop3("127.0.0.1", p.port, client_ctx, source="127.0.0.3") as c:
        assert c.read_line().startswith(b"+OK")
        assert c.command("USER alice").startswith(b"+OK")
        assert c.command("PASS wrong-2").startswith(b"-ERR")
        # The failure that starts the ban also ends the session.
        assert c.read_until_eof() == b""
    m = wait_for_value(p, 1, "popgate_bans_total")
    assert m.value("popgate_bans_active") == 1
    # A banned address is refused at once, even with the right password.
    sock = socket.create_connection(("127.0.0.1", p.port), timeout=5,
                                    source_address=("127.0.0.3", 0))
    with pytest.raises((ssl.SSLError, ConnectionError, OSError)):
        client_ctx.wrap_socket(sock, server_hostname="localhost").recv(10)
    sock.close()
    wait_for_value(p, 1, "popgate_rejected_connections_total", reason="banned")
    # Other addresses are not affected.
    with RawPop3("127.0.0.1", p.port, client_ctx) as c:
        c.login("alice", ALICE_PASSWORD)
        assert c.command("QUIT").startswith(b"+OK")
    assert "banned" in p.stderr_text()
