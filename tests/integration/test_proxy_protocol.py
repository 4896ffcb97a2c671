"""popgate behind a load balancer and in front of one (SPEC section 3: [[listener]] proxy_protocol
and proxy_trusted, [[backend]] forward_client). A real HAProxy in TCP mode sends the PROXY header
(v1 with `send-proxy`, v2 with `send-proxy-v2`); popgate must then treat the address in the
header as the client's everywhere an admin looks: the session log line, [policy.access], and
the PROXY header popgate itself sends a backend. Connections that could forge an address (from
outside proxy_trusted, or with no valid header) are refused and counted.

Client addresses are loopback aliases (127.0.0.5, 127.0.0.6, ...), so the address popgate
reports can only have come from the header, never from HAProxy's own 127.0.0.1."""

import re
import socket
import ssl

import pytest

from popgate_fixtures import mail as mailgen
from popgate_fixtures.clients import StartTlsPop3
from popgate_fixtures.dovecot import Dovecot, is_dovecot_24
from popgate_fixtures.haproxy import (HAProxy, ProxyHeaderBackend, V2_SIGNATURE, parse_v1,
                                      parse_v2)
from popgate_fixtures.pop3client import RawPop3
from popgate_fixtures.ports import free_port
from popgate_fixtures.scrape import scrape, wait_for_value
from popgate_fixtures.wait import wait_until

from conftest import DEFAULT_USERS

ALICE_PASSWORD, ALICE_MESSAGES = DEFAULT_USERS["alice"]
CLIENT = "127.0.0.5"
OTHER_CLIENT = "127.0.0.6"
# Refusals must come at once, not when auth_timeout (60s by default) runs out.
AT_ONCE = 5.0


@pytest.fixture
def haproxy_factory(request, workdir):
    """haproxy_factory(target_port, send_proxy) -> a started HAProxy; stopped at teardown by
    its PID, its output printed when the test failed."""
    started = []

    def make(target_port, send_proxy="send-proxy-v2"):
        h = HAProxy(workdir, target_port, send_proxy)
        started.append(h)
        return h.start()

    yield make
    for h in started:
        rep = getattr(request.node, "rep_call", None)
        if rep is not None and rep.failed:
            print(f"\n=== HAProxy on port {h.port}\n{h.output()}")
        h.stop()


@pytest.fixture
def header_backend():
    b = ProxyHeaderBackend().start()
    yield b
    b.stop()


def proxied_listener(mode, port, trusted=("127.0.0.1/32",)):
    return {"listener": [{"name": "pop3s" if mode == "implicit" else "pop3",
                          "bind": f"127.0.0.1:{port}", "mode": mode, "backend": "legacy",
                          "proxy_protocol": True, "proxy_trusted": list(trusted)}]}


def behind_haproxy(haproxy_factory, popgate_factory, backend, mode="implicit",
                   send_proxy="send-proxy-v2", overrides=None):
    """HAProxy in front of a popgate listener that expects the PROXY header from it. HAProxy
    starts first, so its readiness probe never reaches popgate."""
    port = free_port()
    h = haproxy_factory(port, send_proxy)
    p = popgate_factory([(backend.host, backend.port)],
                        overrides={**proxied_listener(mode, port), **(overrides or {})})
    return h, p


def session_line(p, client_address):
    """popgate's "session ended" log line for the client address ("ip:port"). The line is written
    when the session's last handle closes, which may be just after the client saw the end."""
    def find():
        for line in p.stderr_text().splitlines():
            if " event=session " in line and f" client={client_address} " in line:
                return line
        return None
    return wait_until(find, 10, f"a session log line with client={client_address}")


def closed_without_a_byte(sock):
    """True when the peer closes the connection without sending anything. A reset counts as
    a close; a timeout means the connection was left open."""
    sock.settimeout(AT_ONCE)
    try:
        return sock.recv(4096) == b""
    except ConnectionResetError:
        return True


# ---- 1. real HAProxy in front ------------------------------------------------------------------

def test_haproxy_v2_client_address_reaches_the_implicit_listener(
        haproxy_factory, popgate_factory, dovecot, client_ctx):
    h, p = behind_haproxy(haproxy_factory, popgate_factory, dovecot,
                          send_proxy="send-proxy-v2")
    with RawPop3(h.host, h.port, client_ctx, source=CLIENT) as c:
        client_port = c.sock.getsockname()[1]
        c.login("alice", ALICE_PASSWORD)
        _, body = c.retr(1)
        assert body == mailgen.stuff(ALICE_MESSAGES[0])
        assert c.command("QUIT").startswith(b"+OK")
    line = session_line(p, f"{CLIENT}:{client_port}")
    assert " listener=pop3s " in line and " user=alice " in line, line
    # The header's destination is the address the client dialled (HAProxy's); the balancer's
    # own connection is named apart.
    assert f" local={h.host}:{h.port} " in line, line
    assert re.search(r" balancer=127\.0\.0\.1:\d+ ", line), line


def test_haproxy_v1_client_address_reaches_the_starttls_listener(
        haproxy_factory, popgate_factory, dovecot, client_ctx):
    h, p = behind_haproxy(haproxy_factory, popgate_factory, dovecot, mode="starttls",
                          send_proxy="send-proxy")
    with StartTlsPop3(h.host, h.port, source=CLIENT) as c:
        client_port = c.sock.getsockname()[1]
        assert c.read_line().startswith(b"+OK")
        assert c.stls(client_ctx).startswith(b"+OK")
        assert c.command("USER alice").startswith(b"+OK")
        assert c.command(f"PASS {ALICE_PASSWORD}").startswith(b"+OK")
        _, body = c.retr(1)
        assert body == mailgen.stuff(ALICE_MESSAGES[0])
        assert c.command("QUIT").startswith(b"+OK")
    line = session_line(p, f"{CLIENT}:{client_port}")
    assert " listener=pop3 " in line and " user=alice " in line, line


# ---- 2. the address from the header is the one policy sees -------------------------------------

def test_access_deny_applies_to_the_address_from_the_header(
        haproxy_factory, popgate_factory, dovecot, client_ctx):
    h, p = behind_haproxy(haproxy_factory, popgate_factory, dovecot,
                          overrides={"policy": {"access": {"deny": [f"{CLIENT}/32"]}}})
    # Refused before any TLS: the TCP connection to HAProxy ends without a greeting ...
    with socket.create_connection((h.host, h.port), timeout=AT_ONCE,
                                  source_address=(CLIENT, 0)) as sock:
        assert closed_without_a_byte(sock)
    wait_for_value(p, 1, "popgate_rejected_connections_total", reason="access_denied")
    # ... and a mail client gets no TLS session.
    sock = socket.create_connection((h.host, h.port), timeout=AT_ONCE,
                                    source_address=(CLIENT, 0))
    with pytest.raises((ssl.SSLError, ConnectionError, OSError)):
        client_ctx.wrap_socket(sock, server_hostname="localhost")
    sock.close()
    wait_for_value(p, 2, "popgate_rejected_connections_total", reason="access_denied")
    # Everyone else, through the same HAProxy (same peer address 127.0.0.1), gets in.
    with RawPop3(h.host, h.port, client_ctx, source=OTHER_CLIENT) as c:
        client_port = c.sock.getsockname()[1]
        c.login("alice", ALICE_PASSWORD)
        assert c.command("QUIT").startswith(b"+OK")
    session_line(p, f"{OTHER_CLIENT}:{client_port}")
    m = scrape(p)
    assert m.value("popgate_rejected_connections_total", reason="access_denied") == 2
    assert m.value("popgate_rejected_connections_total", reason="proxy_protocol") == 0
    assert re.search(rf"event=reject .*client={re.escape(CLIENT)}:\d+ .*reason=access_denied",
                     p.stderr_text()), p.stderr_text()


# ---- 3. who may send a header, and that one must come -----------------------------------------

def test_untrusted_peers_and_missing_headers_are_refused(popgate_factory, dovecot, client_ctx):
    # The trusted balancer is 127.0.0.7 here, so the startup probe popgate's fixture makes from
    # 127.0.0.1 is an untrusted peer too: exactly one refusal before the test starts.
    port = free_port()
    p = popgate_factory([(dovecot.host, dovecot.port)],
                        overrides=proxied_listener("implicit", port, trusted=["127.0.0.7/32"]))
    wait_for_value(p, 1, "popgate_rejected_connections_total", reason="proxy_protocol")

    # A peer outside proxy_trusted is closed at once, before it says anything.
    with socket.create_connection(("127.0.0.1", port), timeout=AT_ONCE,
                                  source_address=("127.0.0.9", 0)) as sock:
        assert closed_without_a_byte(sock)
    wait_for_value(p, 2, "popgate_rejected_connections_total", reason="proxy_protocol")

    # A trusted peer that starts TLS without a header: the ClientHello is no PROXY header.
    sock = socket.create_connection(("127.0.0.1", port), timeout=AT_ONCE,
                                    source_address=("127.0.0.7", 0))
    with pytest.raises((ssl.SSLError, ConnectionError, OSError)):
        client_ctx.wrap_socket(sock, server_hostname="localhost")
    sock.close()
    wait_for_value(p, 3, "popgate_rejected_connections_total", reason="proxy_protocol")

    # A garbled header from a trusted peer is refused the same way.
    with socket.create_connection(("127.0.0.1", port), timeout=AT_ONCE,
                                  source_address=("127.0.0.7", 0)) as sock:
        sock.sendall(b"PROXY TCP4 not-an-address 127.0.0.1 1 2\r\n")
        assert closed_without_a_byte(sock)
    m = wait_for_value(p, 4, "popgate_rejected_connections_total", reason="proxy_protocol")
    assert m.value("popgate_sessions_active", listener="pop3s") == 0
    assert "session ended" not in p.stderr_text()


class HeaderFirstPop3(RawPop3):
    """A RawPop3 over TLS that sends `header` in plaintext before its ClientHello, as a
    balancer does."""

    def __init__(self, port, header, ssl_context, source):
        sock = socket.create_connection(("127.0.0.1", port), timeout=10,
                                        source_address=(source, 0))
        sock.sendall(header)
        self.sock = ssl_context.wrap_socket(sock, server_hostname="localhost")
        self.buf = b""
        self.eof = False


@pytest.mark.parametrize("header", [b"PROXY UNKNOWN\r\n", V2_SIGNATURE + b"\x20\x00\x00\x00"],
                         ids=["v1-unknown", "v2-local"])
def test_a_header_without_addresses_keeps_the_balancers_address(
        popgate_factory, dovecot, client_ctx, header):
    # What HAProxy's own health checks send: the session goes on as the peer itself.
    port = free_port()
    p = popgate_factory([(dovecot.host, dovecot.port)],
                        overrides=proxied_listener("implicit", port, trusted=["127.0.0.7/32"]))
    with HeaderFirstPop3(port, header, client_ctx, source="127.0.0.7") as c:
        peer_port = c.sock.getsockname()[1]
        c.login("alice", ALICE_PASSWORD)
        assert c.command("QUIT").startswith(b"+OK")
    session_line(p, f"127.0.0.7:{peer_port}")


# ---- 4. popgate tells its backend who the client is --------------------------------------------

def quit_through(popgate_factory, backend, client_ctx, forward_client):
    """A session from CLIENT that only says QUIT, through popgate with `forward_client` in front
    of `backend`; returns (popgate, the client's port, every byte the backend received)."""
    p = popgate_factory([(backend.host, backend.port)], overrides={"backend": [
        {"name": "legacy", "servers": [f"{backend.host}:{backend.port}"],
         "forward_client": forward_client,
         "check_interval": "0"}]})  # the header backend reads the first connection it gets
    with RawPop3("127.0.0.1", p.port, client_ctx, source=CLIENT) as c:
        client_port = c.sock.getsockname()[1]
        assert c.read_line() == b"+OK ready\r\n"
        assert c.command("QUIT").startswith(b"+OK")
    conn = wait_until(backend.first, 10, "popgate's connection to the backend")
    assert conn.closed.wait(10), "popgate did not close its backend connection"
    return p, client_port, bytes(conn.received)


def test_forward_client_proxy_v1_header_comes_first(popgate_factory, header_backend, client_ctx):
    p, client_port, data = quit_through(popgate_factory, header_backend, client_ctx, "proxy-v1")
    _, src, dst, sport, dport, n = parse_v1(data)
    assert data[:n] == f"PROXY TCP4 {CLIENT} 127.0.0.1 {sport} {dport}\r\n".encode()
    assert (src, dst) == (CLIENT, "127.0.0.1"), data[:n]
    assert (sport, dport) == (client_port, p.port), data[:n]
    # Only POP3 after the header: exactly one header, then the client's QUIT.
    assert data[n:].endswith(b"QUIT\r\n"), data
    assert b"PROXY" not in data[n:], data


def test_forward_client_proxy_v2_header_comes_first(popgate_factory, header_backend, client_ctx):
    p, client_port, data = quit_through(popgate_factory, header_backend, client_ctx, "proxy-v2")
    assert data[:12] == V2_SIGNATURE, data[:32]
    ver_cmd, fam, src, dst, sport, dport, n = parse_v2(data)
    assert ver_cmd == 0x21, f"version 2, command PROXY: got {ver_cmd:#04x}"
    assert fam == 0x11, f"TCP over IPv4: got {fam:#04x}"
    assert (src, dst) == (CLIENT, "127.0.0.1"), data[:n]
    assert (sport, dport) == (client_port, p.port), data[:n]
    assert data[n:].endswith(b"QUIT\r\n"), data
    assert V2_SIGNATURE not in data[n:], data


def test_address_from_haproxy_is_forwarded_to_the_backend(
        haproxy_factory, popgate_factory, header_backend, client_ctx):
    # HAProxy -> popgate -> backend: the backend hears the client's address, not HAProxy's.
    b = header_backend
    h, p = behind_haproxy(haproxy_factory, popgate_factory, b, overrides={"backend": [
        {"name": "legacy", "servers": [f"{b.host}:{b.port}"], "forward_client": "proxy-v1",
         "check_interval": "0"}]})  # the header backend reads the first connection it gets
    with RawPop3(h.host, h.port, client_ctx, source=CLIENT) as c:
        client_port = c.sock.getsockname()[1]
        assert c.read_line() == b"+OK ready\r\n"
        assert c.command("QUIT").startswith(b"+OK")
    conn = wait_until(b.first, 10, "popgate's connection to the backend")
    assert conn.closed.wait(10), "popgate did not close its backend connection"
    data = bytes(conn.received)
    _, src, dst, sport, dport, n = parse_v1(data)
    # The destination is what HAProxy reported: its own frontend address.
    assert (src, sport, dst, dport) == (CLIENT, client_port, "127.0.0.1", h.port), data[:n]


DOVECOT_HAPROXY_LISTENER = """
haproxy_trusted_networks = 127.0.0.1
service pop3-login {{
  inet_listener pop3-haproxy {{
    {address} = 127.0.0.1
    port = {port}
    haproxy = yes
  }}
}}
"""


@pytest.fixture
def dovecot_with_haproxy_listener():
    """A Dovecot that also listens on a port where it expects a PROXY header from 127.0.0.1
    (its haproxy_trusted_networks); yields (dovecot, that port)."""
    port = free_port()
    d = Dovecot(DEFAULT_USERS, extra_config=DOVECOT_HAPROXY_LISTENER.format(
        address="listen" if is_dovecot_24() else "address", port=port))
    d.start()
    yield d, port
    d.cleanup()


@pytest.mark.parametrize("how", ["proxy-v1", "proxy-v2"])
def test_dovecot_logs_the_forwarded_client_address(popgate_factory, dovecot_with_haproxy_listener,
                                                  client_ctx, how):
    d, port = dovecot_with_haproxy_listener
    p = popgate_factory([(d.host, port)], overrides={"backend": [
        {"name": "legacy", "servers": [f"{d.host}:{port}"], "forward_client": how}]})
    with RawPop3("127.0.0.1", p.port, client_ctx, source=CLIENT) as c:
        c.login("alice", ALICE_PASSWORD)
        _, body = c.retr(1)
        assert body == mailgen.stuff(ALICE_MESSAGES[0])
        assert c.command("QUIT").startswith(b"+OK")

    assert d.login_address("alice") == CLIENT, d.log_text()[-3000:]
