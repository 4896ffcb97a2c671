"""The STARTTLS listener (SPEC §4 Sessions): popgate answers CAPA and STLS itself, refuses
credentials before TLS, throws away whatever was pipelined after STLS in plaintext (RFC 2595 §4,
CVE-2011-0411), and answers CAPA anew once TLS is up. Real clients (openssl s_client, poplib,
curl) fetch mail through it; the scripted backend's record proves what never reached the
backend."""

import base64
import poplib
import re
import urllib.request

import pytest

from popgate_fixtures import mail as mailgen
from popgate_fixtures.clients import (StartTlsPop3, capa, capabilities, describe, run_client)
from popgate_fixtures.pop3client import RawPop3
from popgate_fixtures.wait import wait_until

from conftest import DEFAULT_USERS

ALICE_PASSWORD, ALICE_MESSAGES = DEFAULT_USERS["alice"]
STLS_REPLY = b"+OK Begin TLS negotiation\r\n"
# How long the client listens for bytes that must not come. Silence has no event to wait for.
QUIET_WINDOW = 0.5


@pytest.fixture
def gate(popgate_factory, dovecot):
    return popgate_factory([(dovecot.host, dovecot.port)], starttls=True)


@pytest.fixture
def scripted(fault_backend_factory):
    return fault_backend_factory(messages=[mailgen.message("scripted", ["one line"])])


@pytest.fixture
def scripted_gate(popgate_factory, scripted):
    return popgate_factory([(scripted.host, scripted.port)], starttls=True)


def dovecot_transcript(dovecot, data):
    """What Dovecot answers, after its greeting, to `data` sent in one write ending in QUIT."""
    with RawPop3(dovecot.host, dovecot.port) as c:
        c.read_line()
        c.send(data)
        return c.read_until_eof(timeout=30)


def scrape(url):
    """The metrics page; None while the endpoint does not answer yet (it may open a moment
    after the POP3 listeners, which is all the popgate fixture waits for)."""
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.read().decode()
    except OSError:
        return None


def metric_value(url, name):
    """The sum of a metric's samples over all label sets."""
    text = wait_until(lambda: scrape(url), 10, f"the metrics endpoint {url}")
    values = [float(m.group(1)) for m in
              re.finditer(rf"^{re.escape(name)}(?:{{[^}}]*}})? (\S+)$", text, re.M)]
    return sum(values)


def test_openssl_s_client_logs_in_and_retrieves_after_stls(gate, dovecot, tls_material):
    commands = f"USER alice\r\nPASS {ALICE_PASSWORD}\r\nRETR 1\r\nRETR 2\r\nQUIT\r\n"
    result = run_client(
        ["openssl", "s_client", "-starttls", "pop3", "-connect", f"127.0.0.1:{gate.starttls_port}",
         "-CAfile", tls_material.cert, "-verify_hostname", "localhost", "-verify_return_error",
         "-quiet"],
        input=commands.encode())
    assert result.returncode == 0, describe(result)
    # s_client read the greeting and the STLS reply itself; what it prints is the TLS session.
    assert result.stdout == dovecot_transcript(dovecot, commands), describe(result)
    assert mailgen.stuff(ALICE_MESSAGES[0]) in result.stdout
    assert mailgen.stuff(ALICE_MESSAGES[1]) in result.stdout


def test_poplib_stls_then_login_and_retr(gate, client_ctx):
    p = poplib.POP3("localhost", gate.starttls_port, timeout=30)
    try:
        assert p.getwelcome().startswith(b"+OK")
        assert "STLS" in p.capa()
        assert p.stls(client_ctx).startswith(b"+OK")
        caps = p.capa()
        assert "STLS" not in caps and "USER" in caps, caps
        p.user("alice")
        p.pass_(ALICE_PASSWORD)
        count, _ = p.stat()
        assert count == len(ALICE_MESSAGES)
        for n, message in enumerate(ALICE_MESSAGES, start=1):
            _, lines, _ = p.retr(n)
            assert b"\r\n".join(lines) + b"\r\n" == message, f"RETR {n} differs"
        assert p.quit().startswith(b"+OK")
    finally:
        p.close()


@pytest.mark.parametrize("n", [1, 2, 3])
def test_curl_fetches_a_message_with_ssl_reqd(gate, tls_material, n):
    result = run_client(
        ["curl", "--silent", "--show-error", "--max-time", "30", "--ssl-reqd",
         "--cacert", tls_material.cert,
         f"pop3://alice:{ALICE_PASSWORD}@localhost:{gate.starttls_port}/{n}"])
    assert result.returncode == 0, describe(result)
    assert result.stdout == ALICE_MESSAGES[n - 1]


def test_capa_before_and_after_stls(gate, dovecot, client_ctx):
    with RawPop3(dovecot.host, dovecot.port) as direct:
        direct.read_line()
        backend = capabilities(capa(direct))
    with StartTlsPop3("127.0.0.1", gate.starttls_port) as c:
        assert c.read_line().startswith(b"+OK")
        before = capa(c)
        assert c.stls(client_ctx) == STLS_REPLY
        after = capa(c)
        assert c.command("QUIT").startswith(b"+OK")
    print("\nbackend CAPA:\n  " + "\n  ".join(backend))
    print("CAPA before STLS:\n  " + "\n  ".join(before))
    print("CAPA after STLS:\n  " + "\n  ".join(after))

    assert "USER" in backend and any(x.startswith("SASL") for x in backend), backend
    # Before TLS: STLS added once; USER and SASL removed (require_tls_for_auth); the rest of the
    # backend's list unchanged and in its order.
    assert before[0].startswith("+OK") and before[-1] == "."
    caps = capabilities(before)
    assert caps.count("STLS") == 1, before
    assert [x for x in caps if x != "STLS"] == \
        [x for x in backend if x != "USER" and x.split(" ")[0] != "SASL"], before
    # After TLS: the backend's list as is (it offers no STLS), USER and SASL back.
    assert after[0].startswith("+OK") and after[-1] == "."
    assert capabilities(after) == backend, after


@pytest.mark.parametrize("lines", [
    ["USER alice"],
    ["USER alice", f"PASS {ALICE_PASSWORD}"],
    ["APOP alice c4c9334bac560ecc979e58001b3e22fb"],
    ["AUTH PLAIN " + base64.b64encode(f"\0alice\0{ALICE_PASSWORD}".encode()).decode()],
    ["AUTH LOGIN"],
], ids=["USER", "USER then PASS", "APOP", "AUTH PLAIN with initial response", "AUTH LOGIN"])
def test_credentials_before_stls_are_refused_and_not_forwarded(scripted_gate, scripted, lines):
    with StartTlsPop3("127.0.0.1", scripted_gate.starttls_port) as c:
        assert c.read_line().startswith(b"+OK")
        reply = c.command(lines[0])
        assert reply.startswith(b"-ERR [AUTH] ") and b"STLS" in reply, reply
        for line in lines[1:]:
            # PASS after a refused USER: refused too (RFC 1939 §7: PASS only after USER).
            reply = c.command(line)
            assert reply.startswith(b"-ERR"), reply
        # CAPA is answered from the backend's list, so everything forwarded before it has
        # arrived there. (NOOP is not valid before login, RFC 1939 §5.)
        assert capabilities(capa(c))
    received = scripted.all_lines()
    assert received == ["CAPA"], received
    assert ALICE_PASSWORD not in "".join(received)


@pytest.mark.parametrize("injected", [
    b"CAPA\r\n",
    b"CAPA\r\nUSER mallory\r\nPASS injected\r\n",
    b"NOOP",  # an unfinished line must not be completed by what comes under TLS
], ids=["CAPA", "CAPA USER PASS", "unfinished line"])
def test_bytes_pipelined_after_stls_are_discarded(scripted_gate, scripted, client_ctx, injected):
    discarded_before = metric_value(scripted_gate.metrics_url,
                                    "popgate_starttls_discarded_bytes_total")
    with StartTlsPop3("127.0.0.1", scripted_gate.starttls_port) as c:
        assert c.read_line().startswith(b"+OK")
        c.send(b"STLS\r\n" + injected)  # one write: STLS and the injection in one packet
        assert c.read_line() == STLS_REPLY
        assert c.buf == b"", f"plaintext after the STLS reply: {c.buf!r}"
        c.sock = client_ctx.wrap_socket(c.sock, server_hostname="localhost")
        # Under TLS, the server speaks first only when asked.
        assert c.nothing_to_read(QUIET_WINDOW), f"unasked bytes after STLS: {c.buf!r}"
        # One CAPA sent, one CAPA answered: the injected one is gone.
        assert "STLS" not in capabilities(capa(c))
        assert c.nothing_to_read(QUIET_WINDOW), f"a second answer: {c.buf!r}"
        c.send(b"USER bob\r\nPASS bob-secret\r\nNOOP\r\n")
        assert [c.read_line() for _ in range(3)] == [b"+OK\r\n"] * 3
        c.send(b"QUIT\r\n")
        rest = c.read_until_eof(timeout=10)
        assert rest == b"+OK bye\r\n", rest
    lines = scripted.all_lines()
    assert lines == ["CAPA", "USER bob", "PASS bob-secret", "NOOP", "QUIT"], lines
    wait_until(lambda: metric_value(scripted_gate.metrics_url,
                                    "popgate_starttls_discarded_bytes_total")
               >= discarded_before + len(injected),
               10, "popgate_starttls_discarded_bytes_total to count the injected bytes")


def assert_alice_logs_in_and_quits(c):
    """USER/PASS as alice, STAT sees her mailbox, QUIT: the session is usable end to end."""
    assert c.command("USER alice").startswith(b"+OK")
    assert c.command(f"PASS {ALICE_PASSWORD}").startswith(b"+OK")
    assert c.command("STAT").startswith(b"+OK %d " % len(ALICE_MESSAGES))
    assert c.command("QUIT").startswith(b"+OK")


def test_without_require_tls_for_auth_plaintext_login_is_allowed(popgate_factory, dovecot):
    gate = popgate_factory([(dovecot.host, dovecot.port)], starttls=True,
                           overrides={"policy": {"require_tls_for_auth": False}})
    with StartTlsPop3("127.0.0.1", gate.starttls_port) as c:
        assert c.read_line().startswith(b"+OK")
        caps = capabilities(capa(c))
        # STLS is still offered; nothing is taken away.
        assert "STLS" in caps and "USER" in caps and "SASL PLAIN LOGIN" in caps, caps
        assert_alice_logs_in_and_quits(c)


def test_stls_is_refused_once_tls_is_up(gate, client_ctx):
    with StartTlsPop3("127.0.0.1", gate.starttls_port) as c:
        assert c.read_line().startswith(b"+OK")
        assert c.stls(client_ctx) == STLS_REPLY
        reply = c.command("STLS")
        assert reply.startswith(b"-ERR"), reply
        # The session goes on under the same TLS.
        assert_alice_logs_in_and_quits(c)


def test_implicit_listener_refuses_stls_and_does_not_offer_it(gate, client_ctx):
    with RawPop3("127.0.0.1", gate.port, ssl_context=client_ctx) as c:
        assert c.read_line().startswith(b"+OK")
        caps = capabilities(capa(c))
        print("\nCAPA on the implicit listener:\n  " + "\n  ".join(caps))
        assert "STLS" not in caps and "USER" in caps, caps
        reply = c.command("STLS")
        assert reply.startswith(b"-ERR"), reply
        # Still the same TLS session, still usable.
        assert_alice_logs_in_and_quits(c)


def test_stls_on_the_implicit_listener_never_reaches_the_backend(popgate_factory, scripted,
                                                                 client_ctx):
    gate = popgate_factory([(scripted.host, scripted.port)])
    with RawPop3("127.0.0.1", gate.port, ssl_context=client_ctx) as c:
        assert c.read_line().startswith(b"+OK")
        reply = c.command("STLS")
        assert reply.startswith(b"-ERR"), reply
        assert capabilities(capa(c))
    assert scripted.all_lines() == ["CAPA"]
