"""Message bytes pass through popgate unchanged (SPEC §4 Data): real clients fetch over implicit
TLS from a real Dovecot, and what they get equals what Dovecot serves directly."""

import poplib
import subprocess

import pytest

from popgate_fixtures import mail as mailgen
from popgate_fixtures.pop3client import RawPop3

PASSWORD = "carol-secret"


@pytest.fixture(scope="module")
def messages():
    # The 10 MiB message is built once per module; each test still gets its own Dovecot.
    return [
        mailgen.message("first", ["Hello Carol,", "", "nothing special here."]),
        mailgen.dot_message(),
        mailgen.big_message(),
        mailgen.message("last", ["the end"]),
    ]


@pytest.fixture
def mailbox(dovecot_factory, messages):
    return dovecot_factory({"carol": (PASSWORD, messages)})


def direct_retr_lines(dovecot, n):
    p = poplib.POP3(dovecot.host, dovecot.port, timeout=30)
    try:
        p.user("carol")
        p.pass_(PASSWORD)
        return p.retr(n)
    finally:
        p.quit()


def test_poplib_retrieves_every_message_as_dovecot_serves_it(mailbox, popgate_factory,
                                                             client_ctx, messages):
    gate = popgate_factory([(mailbox.host, mailbox.port)])
    p = poplib.POP3_SSL("localhost", gate.port, context=client_ctx, timeout=30)
    assert p.getwelcome().startswith(b"+OK")
    p.user("carol")
    p.pass_(PASSWORD)
    count, _ = p.stat()
    assert count == len(messages)
    for n in range(1, count + 1):
        through = p.retr(n)
        direct = direct_retr_lines(mailbox, n)
        assert through[0] == direct[0], f"RETR {n}: status line differs"
        assert through[1] == direct[1], f"RETR {n}: message differs"
        assert b"\r\n".join(through[1]) + b"\r\n" == messages[n - 1]
    assert p.quit().startswith(b"+OK")


def test_raw_bytes_equal_dovecot_byte_for_byte(mailbox, popgate_factory, client_ctx, messages):
    """Exact wire bytes, byte-stuffing and terminator included, for every message."""
    gate = popgate_factory([(mailbox.host, mailbox.port)])
    with RawPop3("127.0.0.1", gate.port, ssl_context=client_ctx, timeout=30) as tls, \
            RawPop3(mailbox.host, mailbox.port, timeout=30) as plain:
        assert tls.login("carol", PASSWORD) == plain.login("carol", PASSWORD)
        for n in range(1, len(messages) + 1):
            through = tls.retr(n)
            direct = plain.retr(n)
            assert through == direct, f"RETR {n} differs"
            assert through[1] == mailgen.stuff(messages[n - 1])
        assert tls.command("QUIT").startswith(b"+OK")
        assert plain.command("QUIT").startswith(b"+OK")


@pytest.mark.parametrize("n", [1, 2])
def test_curl_fetches_a_message_over_pop3s(mailbox, popgate_factory, tls_material, messages, n):
    gate = popgate_factory([(mailbox.host, mailbox.port)])
    result = subprocess.run(
        ["curl", "--silent", "--show-error", "--max-time", "30",
         "--cacert", tls_material.cert,
         f"pop3s://carol:{PASSWORD}@localhost:{gate.port}/{n}"],
        capture_output=True, timeout=60)
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    assert result.stdout == messages[n - 1]
