"""TLS 1.3 through popgate (SPEC §3 [tls] min_version): real clients, a real Dovecot.

mbedTLS 2.28 (Debian 12) has no TLS 1.3, so on such a build the whole module is skipped; on 3.6
(Debian 13, see scripts/trixie) it runs. What it checks: OpenSSL's and Python's clients complete
a POP3 session over TLS 1.3 and get the message byte for byte; with min_version = "1.3" a client
that stops at TLS 1.2 is refused in the handshake while a TLS 1.3 client still gets in; a TLS 1.3
session ticket resumes the session.
"""

import poplib
import queue
import re
import socket
import ssl
import subprocess
import threading
import time

import pytest

from popgate_fixtures import mail as mailgen
from popgate_fixtures.popgate import has_tls13

USER = "tess"
PASSWORD = "tess-secret"
MESSAGES = [
    mailgen.message("over tls 1.3", ["Hello Tess,", "", "this one came over TLS 1.3."]),
    mailgen.dot_message(),
]


if not has_tls13():
    pytest.skip("this popgate's mbedTLS has no TLS 1.3 (popgate --version)",
                allow_module_level=True)


@pytest.fixture
def mailbox(dovecot_factory):
    return dovecot_factory({USER: (PASSWORD, MESSAGES)})


@pytest.fixture
def gate(mailbox, popgate_factory):
    return popgate_factory([(mailbox.host, mailbox.port)])


def tls13_context(cafile):
    ctx = ssl.create_default_context(cafile=cafile)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    return ctx


def tls12_only_context(cafile):
    ctx = ssl.create_default_context(cafile=cafile)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    return ctx


class SClient:
    """`openssl s_client` driven line by line. -nocommands: otherwise a line starting with "Q"
    (QUIT) or "R" (RETR) is s_client's own quit/renegotiate command, never sent. -crlf: POP3
    lines end in CRLF (RFC 1939 §3). Output is read on a thread so every wait has a deadline."""

    def __init__(self, port, cafile, extra=()):
        self.proc = subprocess.Popen(
            ["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-servername", "localhost",
             "-CAfile", cafile, "-verify_return_error", "-crlf", "-nocommands", "-ign_eof",
             *extra],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self.lines = queue.Queue()
        self.transcript = bytearray()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self):
        for line in iter(self.proc.stdout.readline, b""):
            self.lines.put(line)
        self.lines.put(None)

    def wait_for(self, predicate, timeout=15.0):
        """Reads lines until one satisfies predicate; returns it. Fails at EOF or deadline."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"s_client: no expected line in {timeout}s:\n"
                                     f"{self.transcript.decode(errors='replace')}")
            try:
                line = self.lines.get(timeout=remaining)
            except queue.Empty:
                continue
            if line is None:
                raise AssertionError("s_client ended early:\n"
                                     f"{self.transcript.decode(errors='replace')}")
            self.transcript += line
            if predicate(line):
                return line

    def command(self, text):
        self.proc.stdin.write(text.encode() + b"\n")
        self.proc.stdin.flush()
        return self.wait_for(lambda l: l.startswith((b"+OK", b"-ERR")))

    def read_body(self):
        """The multi-line body after a +OK, stuffed, through the terminating "." line."""
        start = len(self.transcript)
        self.wait_for(lambda l: l == b".\r\n")
        return bytes(self.transcript[start:])

    def close(self, timeout=15.0):
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
        while True:  # whatever s_client printed last (session details) joins the transcript
            try:
                line = self.lines.get(timeout=2)
            except queue.Empty:
                break
            if line is None:
                break
            self.transcript += line
        return rc


def test_openssl_s_client_tls13_login_retr_quit(gate, tls_material):
    c = SClient(gate.port, tls_material.cert, extra=["-tls1_3"])
    try:
        greeting = c.wait_for(lambda l: l.startswith((b"+OK", b"-ERR")))
        assert greeting.startswith(b"+OK"), greeting
        assert c.command(f"USER {USER}").startswith(b"+OK")
        assert c.command(f"PASS {PASSWORD}").startswith(b"+OK")
        assert c.command("RETR 1").startswith(b"+OK")
        assert c.read_body() == mailgen.stuff(MESSAGES[0])
        assert c.command("QUIT").startswith(b"+OK")
    finally:
        rc = c.close()
    text = c.transcript.decode(errors="replace")
    m = re.search(r"New, (TLSv[\d.]+), Cipher is (\S+)", text)
    assert m, f"s_client printed no protocol and cipher:\n{text}"
    print(f"s_client negotiated {m.group(1)} {m.group(2)}")
    assert m.group(1) == "TLSv1.3"
    assert m.group(2).startswith("TLS_AES_") or m.group(2).startswith("TLS_CHACHA20_")
    assert "Verify return code: 0 (ok)" in text
    assert rc == 0, text


def test_python_tls13_session_retrieves_exact_bytes(gate, tls_material):
    p = poplib.POP3_SSL("localhost", gate.port, context=tls13_context(tls_material.cert),
                        timeout=30)
    try:
        assert p.sock.version() == "TLSv1.3"
        name, _, _ = p.sock.cipher()
        print(f"python ssl negotiated TLSv1.3 {name}")
        assert p.getwelcome().startswith(b"+OK")
        p.user(USER)
        p.pass_(PASSWORD)
        count, _ = p.stat()
        assert count == len(MESSAGES)
        for n, wire in enumerate(MESSAGES, start=1):
            status, lines, _ = p.retr(n)
            assert status.startswith(b"+OK")
            assert b"\r\n".join(lines) + b"\r\n" == wire, f"RETR {n} differs"
    finally:
        assert p.quit().startswith(b"+OK")


def _handshake(port, ctx, session=None):
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    try:
        return ctx.wrap_socket(sock, server_hostname="localhost", session=session)
    except BaseException:
        sock.close()
        raise


def test_min_version_13_refuses_tls12_client_and_admits_tls13(mailbox, popgate_factory,
                                                              tls_material):
    gate = popgate_factory([(mailbox.host, mailbox.port)],
                           overrides={"tls": {"min_version": "1.3"}})
    with pytest.raises((ssl.SSLError, ConnectionResetError)) as refused:
        s = _handshake(gate.port, tls12_only_context(tls_material.cert))
        try:  # a server that did complete the handshake must not serve a session either
            s.recv(512)
        finally:
            s.close()
    print(f"TLS 1.2-only client refused: {refused.value!r}")

    c = SClient(gate.port, tls_material.cert, extra=["-tls1_2"])
    c.close()
    assert "New, TLSv1.2" not in c.transcript.decode(errors="replace")

    p = poplib.POP3_SSL("localhost", gate.port, context=tls13_context(tls_material.cert),
                        timeout=30)
    try:
        assert p.sock.version() == "TLSv1.3"
        p.user(USER)
        p.pass_(PASSWORD)
        _, lines, _ = p.retr(2)
        assert b"\r\n".join(lines) + b"\r\n" == MESSAGES[1]
    finally:
        assert p.quit().startswith(b"+OK")


def test_tls13_session_ticket_resumes(gate, tls_material):
    ctx = tls13_context(tls_material.cert)
    first = _handshake(gate.port, ctx)
    try:
        # TLS 1.3 tickets come after the handshake (RFC 8446 §4.6.1): read the greeting first,
        # then the ticket that travelled with or before it is in first.session.
        assert first.recv(512).startswith(b"+OK")
        first.sendall(b"QUIT\r\n")
        assert first.recv(512).startswith(b"+OK")
        session = first.session
    finally:
        first.close()
    assert session is not None and session.has_ticket, "popgate sent no TLS 1.3 session ticket"

    second = _handshake(gate.port, ctx, session=session)
    try:
        assert second.version() == "TLSv1.3"
        assert second.session_reused, "the TLS 1.3 ticket did not resume the session"
        assert second.recv(512).startswith(b"+OK")
        second.sendall(b"QUIT\r\n")
        assert second.recv(512).startswith(b"+OK")
    finally:
        second.close()
