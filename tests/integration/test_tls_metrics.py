"""TLS in the metrics: failed handshakes are counted under a bounded reason (a plaintext client
on the TLS port, a TLS 1.0-only client, one that hangs up mid-handshake, one that never
finishes), and completed ones by negotiated version and cipher suite, so an admin can see who
still needs TLS 1.2."""

import socket
import ssl

from popgate_fixtures.certs import make_self_signed
from popgate_fixtures.pop3client import RawPop3
from popgate_fixtures.scrape import scrape, wait_for_value
from popgate_fixtures.wait import wait_until

USER = "tom"
PASSWORD = "pw-tls-metrics-1618"
HANDSHAKES = "popgate_tls_handshakes_total"
SESSIONS = "popgate_tls_sessions_total"
REASONS = ["protocol_version", "no_shared_cipher", "bad_certificate", "unexpected_message",
           "decode_error", "peer_alert", "timeout", "eof", "other"]


def tls10_hello():
    """A TLS 1.0 ClientHello (RFC 2246 §7.4.1.2): one ECDHE-ECDSA-AES128-GCM suite, nothing
    else. OpenSSL 3 refuses to build TLS 1.0 hellos at its default security level, so the bytes
    are made here."""
    body = b"\x03\x01" + b"\x5a" * 32 + b"\x00" + b"\x00\x02\xc0\x2b" + b"\x01\x00"
    message = b"\x01" + len(body).to_bytes(3, "big") + body
    return b"\x16\x03\x01" + len(message).to_bytes(2, "big") + message


def failures(m, reason):
    return m.value(HANDSHAKES, listener="pop3s", result="failure", reason=reason)


def send_and_wait_close(port, data, close_early=False):
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(data)
        if close_early:
            return
        while s.recv(4096):
            pass


def test_failed_handshakes_are_counted_by_reason(dovecot_factory, popgate_factory):
    d = dovecot_factory({USER: (PASSWORD, [])})
    p = popgate_factory([(d.host, d.port)], overrides={"policy": {"auth_timeout": "1s"}})
    before = scrape(p)
    for reason in REASONS:
        assert before.has(HANDSHAKES, listener="pop3s", result="failure", reason=reason), reason

    send_and_wait_close(p.port, b"USER tom\r\n")           # a POP3 client on the TLS port
    send_and_wait_close(p.port, tls10_hello())            # a TLS 1.0-only client
    send_and_wait_close(p.port, tls10_hello()[:20], True)  # hangs up mid-ClientHello
    send_and_wait_close(p.port, tls10_hello()[:20])       # never finishes: auth_timeout

    want = {"decode_error": 1, "protocol_version": 1, "eof": 1, "timeout": 1}
    wait_for_value(p, failures(before, "timeout") + 1, HANDSHAKES, listener="pop3s",
                   result="failure", reason="timeout")
    after = wait_for_value(p, failures(before, "eof") + 1, HANDSHAKES, listener="pop3s",
                           result="failure", reason="eof")
    delta = {r: failures(after, r) - failures(before, r) for r in REASONS}
    assert delta == {r: want.get(r, 0) for r in REASONS}, delta
    # A bare TCP connect (a load balancer's probe) is no handshake at all.
    with socket.create_connection(("127.0.0.1", p.port), timeout=5):
        pass
    settled = scrape(p)
    assert sum(failures(settled, r) for r in REASONS) == sum(failures(after, r) for r in REASONS)
    # The log line names the reason too.
    wait_until(lambda: "reason=protocol_version" in p.stderr_text(), 5,
               "the handshake failure's log line")


def test_sessions_are_counted_by_version_and_cipher(dovecot_factory, popgate_factory,
                                                    tls_material):
    d = dovecot_factory({USER: (PASSWORD, [])})
    p = popgate_factory([(d.host, d.port)])
    before = scrape(p)

    tls12 = ssl.create_default_context(cafile=tls_material.cert)
    tls12.maximum_version = ssl.TLSVersion.TLSv1_2
    tls12.set_ciphers("ECDHE-ECDSA-AES256-GCM-SHA384")
    with RawPop3("127.0.0.1", p.port, tls12) as c:
        assert c.sock.version() == "TLSv1.2"
        c.login(USER, PASSWORD)
        assert c.command("QUIT").startswith(b"+OK")
    label = {"version": "TLSv1.2", "cipher": "TLS-ECDHE-ECDSA-WITH-AES-256-GCM-SHA384"}
    after = wait_for_value(p, before.value(SESSIONS, **label) + 1, SESSIONS, **label)
    # Nothing else moved: one handshake, one series.
    changed = [(l, v) for l, v in after.series(SESSIONS)
               if v != before.value(SESSIONS, **l)]
    assert changed == [(label, before.value(SESSIONS, **label) + 1)], changed

    # Whatever a default client negotiates is counted under that version too.
    with RawPop3("127.0.0.1", p.port, ssl.create_default_context(cafile=tls_material.cert)) as c:
        version = c.sock.version()
        c.login(USER, PASSWORD)
        assert c.command("QUIT").startswith(b"+OK")
    wait_until(lambda: sum(v for l, v in scrape(p).series(SESSIONS) if l["version"] == version)
               > sum(v for l, v in after.series(SESSIONS) if l["version"] == version),
               5, f"a {version} session to be counted")
    for labels, _ in scrape(p).series(SESSIONS):
        assert labels["version"] in ("TLSv1.2", "TLSv1.3"), labels
        assert labels["cipher"].startswith("TLS"), labels


def handshake_fails(port, ctx):
    """Runs a real client's handshake that must fail (on either side); True when it did."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
            with ctx.wrap_socket(raw, server_hostname="localhost") as s:
                s.recv(1)  # TLS 1.3: the client's verdict on the certificate comes after
    except (ssl.SSLError, ConnectionError):
        return True
    return False


def alert_after_hello(port, description):
    """A real ClientHello (Python's TLS 1.2 client), then a fatal alert (RFC 5246 §7.2) where
    the client's next flight should be: a client giving up for a reason of its own."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = ctx.wrap_bio(incoming, outgoing, server_hostname="localhost")
    try:
        tls.do_handshake()
    except ssl.SSLWantReadError:
        pass
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(outgoing.read())
        s.recv(65536)  # the server's flight
        s.sendall(bytes([0x15, 0x03, 0x03, 0x00, 0x02, 0x02, description]))
        while s.recv(4096):
            pass


def test_real_clients_refusing_the_handshake_are_counted_by_reason(
        dovecot_factory, popgate_factory, tls_material, workdir):
    d = dovecot_factory({USER: (PASSWORD, [])})
    p = popgate_factory([(d.host, d.port)])
    before = scrape(p)

    # A client whose only suites are ones popgate does not offer (RSA key exchange, CBC).
    old = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    old.check_hostname = False
    old.verify_mode = ssl.CERT_NONE
    old.maximum_version = ssl.TLSVersion.TLSv1_2
    old.set_ciphers("AES128-SHA:AES256-SHA:@SECLEVEL=0")
    assert handshake_fails(p.port, old)
    # A client that does not trust popgate's certificate (another CA) says so with an alert.
    stranger = make_self_signed(workdir, "stranger", "ec")[0]
    assert handshake_fails(p.port, ssl.create_default_context(cafile=stranger))
    alert_after_hello(p.port, 80)  # internal_error: nothing popgate could have done about

    want = {"no_shared_cipher": 1, "bad_certificate": 1, "peer_alert": 1}
    after = wait_for_value(p, failures(before, "peer_alert") + 1, HANDSHAKES, listener="pop3s",
                           result="failure", reason="peer_alert")
    after = wait_for_value(p, failures(before, "bad_certificate") + 1, HANDSHAKES,
                           listener="pop3s", result="failure", reason="bad_certificate")
    delta = {r: failures(after, r) - failures(before, r) for r in REASONS}
    assert delta == {r: want.get(r, 0) for r in REASONS}, delta
