"""Pipelined commands (RFC 2449 PIPELINING, SPEC §4 Sessions): popgate tracks every multi-line
response to its terminating "." and keeps its own answers (to invalid lines, STLS) in their
place, so a client that sends many commands in one write gets the responses in order, byte for
byte what Dovecot gives to the same pipeline directly."""

import pytest

from popgate_fixtures import mail as mailgen
from popgate_fixtures.clients import StartTlsPop3, capa, capabilities, read_responses
from popgate_fixtures.pop3client import RawPop3

PASSWORD = "erin-secret"
MESSAGES = [
    mailgen.message("first", ["Hello Erin,", "", "the first message."]),
    mailgen.dot_message(),
    mailgen.big_message(size=3 * 1024 * 1024),  # more than any socket buffer holds
    mailgen.message("last", [".", "..", "the end"]),
]

LOGIN = f"USER erin\r\nPASS {PASSWORD}\r\n"


@pytest.fixture
def mailbox(dovecot_factory):
    return dovecot_factory({"erin": (PASSWORD, MESSAGES)})


@pytest.fixture
def gate(popgate_factory, mailbox):
    return popgate_factory([(mailbox.host, mailbox.port)], starttls=True)


def logged_in(client):
    greeting = client.read_line()
    assert greeting.startswith(b"+OK"), greeting
    client.send(LOGIN)
    replies = [client.read_line(), client.read_line()]
    assert all(r.startswith(b"+OK") for r in replies), replies
    return client


def through_gate(gate, client_ctx):
    return logged_in(RawPop3("127.0.0.1", gate.port, ssl_context=client_ctx, timeout=30))


def direct(mailbox):
    return logged_in(RawPop3(mailbox.host, mailbox.port, timeout=30))


def pipeline(client, commands, kinds):
    """Sends the commands in one write; returns the responses, read in order."""
    client.send("".join(c + "\r\n" for c in commands))
    return read_responses(client, kinds)


def assert_same_as_dovecot(gate, mailbox, client_ctx, commands, kinds):
    with through_gate(gate, client_ctx) as c, direct(mailbox) as d:
        got = pipeline(c, commands, kinds)
        want = pipeline(d, commands, kinds)
        for command, g, w in zip(commands, got, want):
            assert g == w, f"{command}: {g[:200]!r} != {w[:200]!r}"
        assert c.command("QUIT").startswith(b"+OK")
        assert d.command("QUIT").startswith(b"+OK")
    return got


def test_list_uidl_retr_retr_in_one_write(gate, mailbox, client_ctx):
    commands = ["LIST", "UIDL", "RETR 1", "RETR 2"]
    got = assert_same_as_dovecot(gate, mailbox, client_ctx, commands, [True] * 4)
    assert got[0].startswith(b"+OK") and got[0].count(b"\r\n") == len(MESSAGES) + 2
    assert got[1].startswith(b"+OK") and got[1].count(b"\r\n") == len(MESSAGES) + 2
    assert got[2].split(b"\r\n", 1)[1] == mailgen.stuff(MESSAGES[0])
    assert got[3].split(b"\r\n", 1)[1] == mailgen.stuff(MESSAGES[1])


def test_long_pipeline_with_a_large_message(gate, mailbox, client_ctx):
    commands = ["STAT", "RETR 3", "NOOP", "TOP 2 1", "RETR 4", "LIST 3", "UIDL 4", "RETR 3",
                "RETR 9", "STAT"]
    kinds = [False, True, False, True, True, False, False, True, True, False]
    got = assert_same_as_dovecot(gate, mailbox, client_ctx, commands, kinds)
    assert got[1].split(b"\r\n", 1)[1] == mailgen.stuff(MESSAGES[2])
    assert got[7] == got[1]
    assert got[8].startswith(b"-ERR")  # no message 9: Dovecot's -ERR, in its place


def test_login_pipelined_with_commands(gate, mailbox, client_ctx):
    commands = ["USER erin", f"PASS {PASSWORD}", "STAT", "RETR 4", "QUIT"]
    kinds = [False, False, False, True, False]
    with RawPop3("127.0.0.1", gate.port, ssl_context=client_ctx, timeout=30) as c, \
            RawPop3(mailbox.host, mailbox.port, timeout=30) as d:
        assert c.read_line() == d.read_line()
        assert pipeline(c, commands, kinds) == pipeline(d, commands, kinds)


def test_invalid_line_in_the_middle_is_answered_in_its_place(gate, mailbox, client_ctx):
    with through_gate(gate, client_ctx) as c:
        retr, bogus, stat = pipeline(c, ["RETR 1", "BOGUS", "STAT"], [True, False, False])
        assert c.command("QUIT").startswith(b"+OK")
    assert retr.startswith(b"+OK") and retr.split(b"\r\n", 1)[1] == mailgen.stuff(MESSAGES[0])
    assert bogus.startswith(b"-ERR"), bogus
    assert stat.startswith(b"+OK %d " % len(MESSAGES)), stat


@pytest.mark.parametrize("commands,kinds,local", [
    (["RETR 3", "BOGUS", "RETR 1", "XYZZY", "STAT"], [True, False, True, False, False], [1, 3]),
    (["BOGUS", "LIST", "STAT"], [False, True, False], [0]),
    (["LIST", "STLS", "UIDL"], [True, False, True], [1]),
    (["RETR 3", "USER erin", "TOP 1 0"], [True, False, True], [1]),
], ids=["two invalid lines between messages", "invalid line first",
        "STLS under TLS between lists", "USER out of state after a large message"])
def test_local_answers_keep_their_place(gate, mailbox, client_ctx, commands, kinds, local):
    with through_gate(gate, client_ctx) as c, direct(mailbox) as d:
        got = pipeline(c, commands, kinds)
        valid = [(cmd, k) for i, (cmd, k) in enumerate(zip(commands, kinds)) if i not in local]
        want = pipeline(d, [cmd for cmd, _ in valid], [k for _, k in valid])
        assert c.command("QUIT").startswith(b"+OK")
        assert d.command("QUIT").startswith(b"+OK")
    for i, response in enumerate(got):
        if i in local:
            assert response.startswith(b"-ERR") and response.count(b"\r\n") == 1, \
                f"{commands[i]}: {response[:200]!r}"
    relayed = [r for i, r in enumerate(got) if i not in local]
    assert relayed == want


def test_pipeline_after_stls(gate, mailbox, client_ctx):
    commands = ["LIST", "RETR 2", "BOGUS", "UIDL"]
    kinds = [True, True, False, True]
    with StartTlsPop3("127.0.0.1", gate.starttls_port, timeout=30) as c, direct(mailbox) as d:
        assert c.read_line().startswith(b"+OK")
        assert c.stls(client_ctx).startswith(b"+OK")
        c.send(LOGIN)
        assert [c.read_line()[:3] for _ in range(2)] == [b"+OK"] * 2
        got = pipeline(c, commands, kinds)
        want = pipeline(d, ["LIST", "RETR 2", "UIDL"], [True, True, True])
        assert c.command("QUIT").startswith(b"+OK")
    assert [got[0], got[1], got[3]] == want
    assert got[2].startswith(b"-ERR"), got[2]


def test_commands_sent_one_byte_at_a_time(gate, mailbox, client_ctx):
    """Each byte in its own TLS record: lines must be put back together."""
    data = "CAPA\r\nLIST\r\nRETR 2\r\nNOOP\r\n"
    with through_gate(gate, client_ctx) as c, direct(mailbox) as d:
        for byte in data.encode():
            c.send(bytes([byte]))
        got = read_responses(c, [True, True, True, False])
        d.send(data)
        want = read_responses(d, [True, True, True, False])
        assert c.command("QUIT").startswith(b"+OK")
    # CAPA is popgate's rewrite (it may differ in its status line); the rest is Dovecot's.
    assert got[1:] == want[1:]
    assert "PIPELINING" in capabilities(got[0].decode().split("\r\n")[:-1])


def test_capa_offers_pipelining(gate, client_ctx):
    with through_gate(gate, client_ctx) as c:
        assert "PIPELINING" in capabilities(capa(c))
