"""Commands are checked before they reach the backend (SPEC §4 Sessions): over-long lines, NUL
bytes, bare LF, unknown verbs and verbs out of state get popgate's own -ERR and are never
forwarded (the scripted backend's record proves it); a client that sends only garbage is closed;
SASL AUTH works against Dovecot; the session's log line names the user and the command count."""

import base64
import contextlib
import json
import socket

import pytest

from popgate_fixtures.clients import capa, capabilities
from popgate_fixtures.pop3client import RawPop3
from popgate_fixtures.wait import wait_until

from conftest import DEFAULT_USERS

ALICE_PASSWORD, ALICE_MESSAGES = DEFAULT_USERS["alice"]
MAX_LINE = 1024  # policy.max_line_length's default, CRLF included
MAX_INVALID_IN_A_ROW = 10


@pytest.fixture
def scripted(fault_backend_factory):
    return fault_backend_factory()


@pytest.fixture
def gate(popgate_factory, scripted):
    return popgate_factory([(scripted.host, scripted.port)])


@contextlib.contextmanager
def greeted(gate, client_ctx):
    """A TLS connection to `gate` whose +OK greeting has been read."""
    with RawPop3("127.0.0.1", gate.port, ssl_context=client_ctx) as c:
        assert c.read_line().startswith(b"+OK")
        yield c


def b64(text):
    return base64.b64encode(text.encode()).decode()


# (name, bytes sent before login, what popgate's -ERR must say). Each is followed by a valid
# command that must still work: the session goes on after a bad line.
INVALID_BEFORE_LOGIN = [
    ("an over-long line", b"USER " + b"a" * (MAX_LINE - 6) + b"\r\n", b"-ERR Line too long"),
    ("a far too long line", b"USER " + b"a" * 100_000 + b"\r\n", b"-ERR Line too long"),
    ("a NUL byte", b"USER al\0ice\r\n", b"-ERR NUL byte"),
    ("a bare LF", b"USER alice\n", b"-ERR Command line must end with CRLF"),
    ("an unknown verb", b"XYZZY\r\n", b"-ERR Unknown command"),
    ("RETR before login", b"RETR 1\r\n", b"-ERR Command not valid in this state"),
    ("DELE before login", b"DELE 1\r\n", b"-ERR Command not valid in this state"),
    ("STAT before login", b"STAT\r\n", b"-ERR Command not valid in this state"),
    ("PASS without USER", b"PASS secret\r\n", b"-ERR Command not valid in this state"),
]


@pytest.mark.parametrize("bad,error", [(b, e) for _, b, e in INVALID_BEFORE_LOGIN],
                         ids=[n for n, _, _ in INVALID_BEFORE_LOGIN])
def test_invalid_line_gets_err_and_is_not_forwarded(gate, scripted, client_ctx, bad, error):
    with greeted(gate, client_ctx) as c:
        c.send(bad)
        reply = c.read_line()
        assert reply.startswith(error) and reply.endswith(b"\r\n"), reply
        # The backend answers USER: by then it has every line popgate forwarded before.
        assert c.command("USER dave") == b"+OK\r\n"
    assert scripted.all_lines() == ["USER dave"]


def test_line_of_exactly_the_maximum_length_is_forwarded(gate, scripted, client_ctx):
    line = b"USER " + b"a" * (MAX_LINE - 7) + b"\r\n"
    assert len(line) == MAX_LINE
    with greeted(gate, client_ctx) as c:
        c.send(line)
        assert c.read_line() == b"+OK\r\n"
    assert scripted.all_lines() == [line[:-2].decode()]


INVALID_AFTER_LOGIN = [
    ("USER after login", "USER mallory", b"-ERR Command not valid in this state"),
    ("STLS under TLS", "STLS", b"-ERR"),
    ("RETR without a number", "RETR", b"-ERR"),
    ("NOOP with an argument", "NOOP x", b"-ERR"),
    ("an unknown verb", "XYZZY 1", b"-ERR Unknown command"),
]


@pytest.mark.parametrize("bad,error", [(b, e) for _, b, e in INVALID_AFTER_LOGIN],
                         ids=[n for n, _, _ in INVALID_AFTER_LOGIN])
def test_invalid_command_after_login_is_not_forwarded(gate, scripted, client_ctx, bad, error):
    with RawPop3("127.0.0.1", gate.port, ssl_context=client_ctx) as c:
        c.login("dave", "dave-secret")
        reply = c.command(bad)
        assert reply.startswith(error), reply
        assert c.command("NOOP") == b"+OK\r\n"
    assert scripted.all_lines() == ["USER dave", "PASS dave-secret", "NOOP"]


def test_garbage_in_a_row_closes_the_connection(gate, scripted, client_ctx):
    with greeted(gate, client_ctx) as c:
        replies = []
        for _ in range(MAX_INVALID_IN_A_ROW + 5):
            try:
                c.send(b"garbage garbage\r\n")
                reply = c.read_line()
            except (ConnectionError, socket.timeout) as e:  # a reset is a close; a hang is not
                assert not isinstance(e, socket.timeout), "popgate kept the connection open"
                break
            if not reply:
                break
            replies.append(reply)
        assert c.eof or not replies or len(replies) <= MAX_INVALID_IN_A_ROW, replies
        assert 1 <= len(replies) <= MAX_INVALID_IN_A_ROW, replies
        assert all(r.startswith(b"-ERR") for r in replies), replies
    assert all("garbage" not in line for line in scripted.all_lines()), scripted.all_lines()


def test_pipelined_garbage_closes_the_connection(gate, scripted, client_ctx):
    with greeted(gate, client_ctx) as c:
        c.send(b"garbage\r\n" * 50)
        try:
            rest = c.read_until_eof(timeout=10)
        except ConnectionError:
            rest = c.buf
    lines = rest.split(b"\r\n")[:-1]
    assert 1 <= len(lines) <= MAX_INVALID_IN_A_ROW, rest
    assert all(line.startswith(b"-ERR") for line in lines), rest
    assert scripted.all_lines() == []


def test_a_valid_command_resets_the_garbage_count(gate, scripted, client_ctx):
    with greeted(gate, client_ctx) as c:
        for _ in range(3):
            for _ in range(MAX_INVALID_IN_A_ROW - 1):
                assert c.command("garbage").startswith(b"-ERR")
            assert capabilities(capa(c))
        assert c.command("USER dave") == b"+OK\r\n"
    assert scripted.all_lines() == ["CAPA"] * 3 + ["USER dave"]


# ---- SASL against Dovecot ---------------------------------------------------------------------

@pytest.fixture
def dovecot_gate(popgate_factory, dovecot):
    return popgate_factory([(dovecot.host, dovecot.port)])


def test_dovecot_offers_plain_and_login():
    """The harness's Dovecot configures the mechanisms the SASL tests use."""
    from popgate_fixtures import dovecot as dovecot_fixture
    assert "auth_mechanisms = plain login" in dovecot_fixture.CONFIG


def assert_logged_in_as_alice(c):
    assert c.command("STAT").startswith(b"+OK %d " % len(ALICE_MESSAGES))
    assert c.command("QUIT").startswith(b"+OK")


def assert_last_step_logs_in(c, line):
    """`line` finishes the login: +OK, and the session is alice's."""
    reply = c.command(line)
    assert reply.startswith(b"+OK"), reply
    assert_logged_in_as_alice(c)


def test_auth_plain_with_initial_response(dovecot_gate, client_ctx):
    with greeted(dovecot_gate, client_ctx) as c:
        assert_last_step_logs_in(c, "AUTH PLAIN " + b64(f"\0alice\0{ALICE_PASSWORD}"))


def test_auth_plain_without_initial_response(dovecot_gate, client_ctx):
    with greeted(dovecot_gate, client_ctx) as c:
        challenge = c.command("AUTH PLAIN")
        assert challenge.startswith(b"+ ") or challenge == b"+\r\n", challenge
        assert_last_step_logs_in(c, b64(f"\0alice\0{ALICE_PASSWORD}"))


def test_auth_login(dovecot_gate, client_ctx):
    with greeted(dovecot_gate, client_ctx) as c:
        assert c.command("AUTH LOGIN").startswith(b"+ ")
        assert c.command(b64("alice")).startswith(b"+ ")
        assert_last_step_logs_in(c, b64(ALICE_PASSWORD))


def test_auth_cancelled_with_star_then_login_works(dovecot_gate, client_ctx):
    with greeted(dovecot_gate, client_ctx) as c:
        assert c.command("AUTH LOGIN").startswith(b"+ ")
        reply = c.command("*")
        assert reply.startswith(b"-ERR"), reply
        assert c.command("USER alice").startswith(b"+OK")
        assert c.command(f"PASS {ALICE_PASSWORD}").startswith(b"+OK")
        assert_logged_in_as_alice(c)


def test_auth_plain_with_a_wrong_password_gets_dovecots_error(dovecot_gate, dovecot, client_ctx):
    line = "AUTH PLAIN " + b64("\0alice\0wrong-password")
    with RawPop3(dovecot.host, dovecot.port) as direct:
        direct.read_line()
        want = direct.command(line)
    with greeted(dovecot_gate, client_ctx) as c:
        reply = c.command(line)
        assert reply.startswith(b"-ERR [AUTH]"), reply
        assert reply == want  # Dovecot's own words, relayed
        # The session goes on.
        assert c.command("AUTH PLAIN " + b64(f"\0alice\0{ALICE_PASSWORD}")).startswith(b"+OK")
        assert_logged_in_as_alice(c)


# ---- the session log line -----------------------------------------------------------------------

def session_lines(gate):
    return [line for line in gate.stderr_text().splitlines()
            if " event=session " in line and " user=alice " in line]


def test_session_log_line_names_user_and_command_count(dovecot_gate, client_ctx):
    with RawPop3("127.0.0.1", dovecot_gate.port, ssl_context=client_ctx) as c:
        c.login("alice", ALICE_PASSWORD)  # USER, PASS
        assert c.command("STAT").startswith(b"+OK")
        assert c.command("XYZZY").startswith(b"-ERR")  # an invalid line is a command too
        assert c.command("QUIT").startswith(b"+OK")
    lines = wait_until(lambda: session_lines(dovecot_gate), 10, "the session log line")
    print("\n" + "\n".join(lines))
    assert len(lines) == 1, lines
    line = lines[0]
    assert line.startswith("ts="), line
    assert "commands=5" in line, line
    assert "listener=pop3s" in line, line
    assert "end=quit" in line, line
    assert ALICE_PASSWORD not in dovecot_gate.stderr_text()


def test_json_session_log_line(popgate_factory, dovecot, client_ctx):
    gate = popgate_factory([(dovecot.host, dovecot.port)],
                           overrides={"server": {"log_format": "json"}})
    with greeted(gate, client_ctx) as c:
        assert c.command("AUTH PLAIN " + b64(f"\0alice\0{ALICE_PASSWORD}")).startswith(b"+OK")
        assert c.command("STAT").startswith(b"+OK")
        assert c.command("QUIT").startswith(b"+OK")

    def alice_sessions():
        records = [json.loads(line) for line in gate.stderr_text().splitlines()
                   if line.startswith("{")]
        return [r for r in records if r.get("event") == "session" and r.get("user") == "alice"]

    records = wait_until(alice_sessions, 10, "alice's session log record")
    print("\n" + json.dumps(records))
    assert len(records) == 1, records
    assert int(records[0]["commands"]) == 3, records[0]
    assert records[0]["listener"] == "pop3s"
    text = gate.stderr_text()
    assert ALICE_PASSWORD not in text
    assert b64(f"\0alice\0{ALICE_PASSWORD}") not in text
