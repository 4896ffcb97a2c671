"""popgate's metrics and /healthz (SPEC section 4, Operation): a real POP3S session against
Dovecot moves each counter by exactly what happened, the text passes `promtool check metrics`,
no label carries a user name or a client address, a dead backend is counted, and /healthz turns
503 while popgate drains after SIGTERM."""

import signal
import socket
import ssl
import subprocess

from popgate_fixtures import mail as mailgen
from popgate_fixtures.pop3client import RawPop3
from popgate_fixtures.popgate import popgate_bin
from popgate_fixtures.ports import closed_port
from popgate_fixtures.scrape import healthz_status, promtool_check, scrape, wait_for_value
from popgate_fixtures.wait import can_connect, wait_until

# Distinctive names, so that finding them in the metrics text cannot be a coincidence.
USER = "mallory-metrics"
PASSWORD = "pw-metrics-3141"
MESSAGE = mailgen.message("metrics", ["line %04d of a message worth counting" % i
                                      for i in range(200)])
# The client connects from a loopback address that nothing else uses (backends listen on
# 127.0.0.1), so the address appearing anywhere in the scrape is a leak.
CLIENT_ADDRESS = "127.0.0.2"


def connect_from(source, port, ctx):
    """A RawPop3 over TLS whose TCP connection starts from `source`."""
    c = RawPop3.__new__(RawPop3)
    raw = socket.create_connection(("127.0.0.1", port), timeout=10, source_address=(source, 0))
    c.sock = ctx.wrap_socket(raw, server_hostname="localhost")
    c.buf = b""
    c.eof = False
    return c


def settled(popgate, listener="pop3s"):
    """A scrape taken once no session is open: the fixture's readiness probe (a bare TCP
    connect) is a session too, and must not land between two scrapes of a test. The probe may
    not even be accepted yet when popgate first reports no open session: wait for it to be
    counted first."""
    wait_until(lambda: scrape(popgate).value("popgate_connections_total", listener=listener) >= 1,
               10, "the readiness probe to be counted")
    return wait_for_value(popgate, 0, "popgate_sessions_active", listener=listener)


def not_after(cert_path):
    out = subprocess.run(["openssl", "x509", "-enddate", "-noout", "-in", cert_path],
                         check=True, capture_output=True, text=True).stdout.strip()
    assert out.startswith("notAfter="), out
    return ssl.cert_time_to_seconds(out[len("notAfter="):])


def test_a_session_moves_each_counter_by_exactly_what_happened(
        dovecot_factory, popgate_factory, client_ctx, tls_material):
    d = dovecot_factory({USER: (PASSWORD, [MESSAGE])})
    p = popgate_factory([(d.host, d.port)])
    before = settled(p)

    # Session 1: login, RETR, an unknown verb and STLS on the implicit listener, QUIT.
    with connect_from(CLIENT_ADDRESS, p.port, client_ctx) as c:
        c.login(USER, PASSWORD)
        _, body = c.retr(1)
        assert body == mailgen.stuff(MESSAGE)
        assert c.command("FROBNICATE 7").startswith(b"-ERR")
        assert c.command("STLS").startswith(b"-ERR")  # already under TLS
        assert c.command("QUIT").startswith(b"+OK")
        c.read_until_eof()
    # Session 2: a wrong password.
    with connect_from(CLIENT_ADDRESS, p.port, client_ctx) as c:
        c.read_line()
        assert c.command(f"USER {USER}").startswith(b"+OK")
        assert c.command("PASS not-the-password").startswith(b"-ERR")
        assert c.command("QUIT").startswith(b"+OK")
        c.read_until_eof()

    after = settled(p)  # popgate_sessions_active back to 0 once both sessions closed

    def delta(name, **labels):
        return after.value(name, **labels) - before.value(name, **labels)

    wire = len(mailgen.stuff(MESSAGE))
    # (series, labels, check, what the check wants): every mismatch is reported at once.
    checks = [
        ("popgate_connections_total", {"listener": "pop3s"}, lambda d: d == 2, "+2"),
        ("popgate_tls_handshakes_total", {"listener": "pop3s", "result": "success"},
         lambda d: d == 2, "+2"),
        *[("popgate_tls_handshakes_total",
           {"listener": "pop3s", "result": "failure", "reason": reason}, lambda d: d == 0, "+0")
          for reason in ("protocol_version", "no_shared_cipher", "bad_certificate",
                         "unexpected_message", "decode_error", "peer_alert", "timeout", "eof",
                         "other")],
        ("popgate_commands_total", {"command": "RETR"}, lambda d: d == 1, "+1"),
        ("popgate_commands_total", {"command": "USER"}, lambda d: d == 2, "+2"),
        ("popgate_commands_total", {"command": "PASS"}, lambda d: d == 2, "+2"),
        ("popgate_commands_total", {"command": "QUIT"}, lambda d: d == 2, "+2"),
        # STLS is a known verb even where popgate refuses it; FROBNICATE is "OTHER".
        ("popgate_commands_total", {"command": "STLS"}, lambda d: d == 1, "+1"),
        ("popgate_commands_total", {"command": "OTHER"}, lambda d: d == 1, "+1"),
        ("popgate_starttls_total", {"result": "refused"}, lambda d: d == 1, "+1"),
        ("popgate_auth_total", {"result": "success"}, lambda d: d == 1, "+1"),
        ("popgate_auth_total", {"result": "failure"}, lambda d: d == 1, "+1"),
        ("popgate_bytes_total", {"direction": "client_out"}, lambda d: d >= wire, f">= +{wire}"),
        ("popgate_bytes_total", {"direction": "backend_in"}, lambda d: d >= wire, f">= +{wire}"),
        ("popgate_bytes_total", {"direction": "client_in"}, lambda d: d > 0, "> 0"),
        ("popgate_bytes_total", {"direction": "backend_out"}, lambda d: d > 0, "> 0"),
    ]
    wrong = [f"{name}{labels}: changed by {delta(name, **labels):g}, want {want}"
             for name, labels, check, want in checks if not check(delta(name, **labels))]
    assert not wrong, "\n".join(wrong) + "\n--- scrape after the sessions:\n" + after.text
    assert after.value("popgate_sessions_active", listener="pop3s") == 0
    assert after.value("popgate_backend_up", backend="legacy",
                       server=f"{d.host}:{d.port}") == 1

    build = after.series("popgate_build_info")
    assert len(build) == 1, build
    labels, value = build[0]
    assert value == 1
    version = subprocess.run([popgate_bin(), "--version"], capture_output=True, text=True,
                             timeout=30).stdout
    assert labels.get("version") and labels["version"] in version, (labels, version)
    assert labels.get("mbedtls") and labels.get("libuv"), labels

    certs = after.series("popgate_certificate_expiry_timestamp_seconds")
    assert certs == [({"name": "localhost"}, not_after(tls_material.cert))]

    # Labels are of bounded cardinality: never the user, never the client's address.
    # Make sure popgate did see that address, or the check below proves nothing.
    assert f"client={CLIENT_ADDRESS}" in p.stderr_text() or \
        f'"client":"{CLIENT_ADDRESS}' in p.stderr_text(), p.stderr_text()
    assert USER not in after.text
    assert CLIENT_ADDRESS not in after.text
    assert PASSWORD not in after.text

    rc, output = promtool_check(after.text)
    assert rc == 0, f"promtool check metrics:\n{output}"


def test_a_backend_that_refuses_connections_is_counted(popgate_factory, client_ctx):
    dead = closed_port()
    p = popgate_factory([("127.0.0.1", dead)])
    before = settled(p)
    labels = {"backend": "legacy", "reason": "connect_failed"}

    with RawPop3("127.0.0.1", p.port, client_ctx) as c:
        # popgate has nothing to relay: an -ERR greeting or a closed connection, never "+OK".
        first = c.read_line()
        assert not first.startswith(b"+OK"), first

    after = wait_for_value(p, before.value("popgate_backend_errors_total", **labels) + 1,
                           "popgate_backend_errors_total", **labels)
    assert after.value("popgate_backend_up", backend="legacy",
                       server=f"127.0.0.1:{dead}") == 0
    rc, output = promtool_check(after.text)
    assert rc == 0, f"promtool check metrics:\n{output}"


def test_healthz_is_503_while_draining_and_popgate_exits_0(
        dovecot_factory, popgate_factory, client_ctx):
    d = dovecot_factory({USER: (PASSWORD, [MESSAGE])})
    p = popgate_factory([(d.host, d.port)], overrides={"server": {"shutdown_grace": "5s"}})
    assert healthz_status(p) == 200

    c = RawPop3("127.0.0.1", p.port, client_ctx)
    try:
        c.login(USER, PASSWORD)
        proc = p.proc
        proc.send_signal(signal.SIGTERM)
        wait_until(lambda: healthz_status(p) == 503, 4, "/healthz to answer 503 while draining",
                   interval=0.05)
        # The open session goes on while popgate drains; new ones are not accepted.
        assert c.command("NOOP").startswith(b"+OK")
        assert c.command("STAT").startswith(b"+OK 1 ")
        wait_until(lambda: not can_connect("127.0.0.1", p.port), 4,
                   "the listener to stop accepting")
        assert proc.poll() is None, "popgate exited before shutdown_grace with a session open"
        # shutdown_grace ends the remaining session; then popgate exits 0.
        assert proc.wait(15) == 0
        c.read_until_eof(timeout=5)
    finally:
        c.close()
