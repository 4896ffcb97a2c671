"""Transparent mode (README "Transparent mode"), end to end in network namespaces this test
creates and removes:

    client ns  c0 198.51.100.2, 2001:db8:1::2
        |  veth
    gateway ns g0 198.51.100.1, 2001:db8:1::1   popgate, the firewall rules
               g1 192.0.2.1,    2001:db8:2::1
        |  veth
    server ns  s0 192.0.2.10,   2001:db8:2::10  a real Dovecot on port 110

The client and the server route through the gateway, which forwards nothing (ip_forward stays
0): every connection ends at popgate. What the tests check is what an admin would: the address
Dovecot logs as rip=, the bytes the client gets, popgate's session line and its metrics.
"""

import os
import pwd
import shutil
import signal
import subprocess

import pytest

from popgate_fixtures import mail as mailgen
from popgate_fixtures import netns
from popgate_fixtures.dovecot import Dovecot, mail_user
from popgate_fixtures.pop3client import RawPop3
from popgate_fixtures.popgate import Popgate, base_config, popgate_bin, sanitizer_env
from popgate_fixtures.scrape import wait_for_value
from popgate_fixtures.wait import wait_until

from conftest import DEFAULT_USERS

ALICE_PASSWORD, ALICE_MESSAGES = DEFAULT_USERS["alice"]

CLIENT4, GATEWAY4_C, GATEWAY4_S, SERVER4, OTHER4 = (
    "198.51.100.2", "198.51.100.1", "192.0.2.1", "192.0.2.10", "192.0.2.20")
CLIENT6, GATEWAY6_C, GATEWAY6_S, SERVER6, OTHER6 = (
    "2001:db8:1::2", "2001:db8:1::1", "2001:db8:2::1", "2001:db8:2::10", "2001:db8:2::20")
POPGATE_PORT = 10995  # namespaces have ports of their own: fixed ones cannot clash
DOVECOT_PORT = 110

# README "Transparent mode", setup 2 with TPROXY, as nftables rules.
NFT_TPROXY = f"""
table inet popgate {{
  chain divert {{
    type filter hook prerouting priority mangle; policy accept;
    meta l4proto tcp socket transparent 1 meta mark set 1 accept
    iifname "g0" tcp dport 995 tproxy to :{POPGATE_PORT} meta mark set 1 accept
  }}
}}
"""

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("ip") or not shutil.which("iptables"),
    reason="needs root, iproute2 and iptables (scripts/setup)")


def ipv6_available():
    return os.path.exists("/proc/sys/net/ipv6") and shutil.which("ip6tables")


class Topology:
    def __init__(self):
        self.ns = netns.Namespaces(f"pgt{os.getpid()}")
        for role in ("c", "g", "s"):
            self.ns.add(role)
        self.ns.link("c", "c0", "g", "g0")
        self.ns.link("g", "g1", "s", "s0")
        self.v6 = bool(ipv6_available())
        for role, ifname, v4, v6 in (("c", "c0", CLIENT4, CLIENT6), ("g", "g0", GATEWAY4_C, GATEWAY6_C),
                                     ("g", "g1", GATEWAY4_S, GATEWAY6_S), ("s", "s0", SERVER4, SERVER6)):
            self.ns.address(role, ifname, f"{v4}/24")
            if self.v6:
                self.ns.address(role, ifname, f"{v6}/64")
        self.ns.ip("c", "route", "add", "default", "via", GATEWAY4_C)
        self.ns.ip("s", "route", "add", "default", "via", GATEWAY4_S)
        if self.v6:
            self.ns.ip("c", "-6", "route", "add", "default", "via", GATEWAY6_C)
            self.ns.ip("s", "-6", "route", "add", "default", "via", GATEWAY6_S)

    def gateway(self, *argv, check=True):
        return self.ns.exec("g", *argv, check=check)

    def route_answers_to_popgate(self, v6=False):
        """source = "client": the backend answers the client's address, and the gateway must
        take those packets for popgate's transparent socket (README, the first setup)."""
        tables = "ip6tables" if v6 else "iptables"
        family = "-6" if v6 else "-4"
        self.gateway(tables, "-t", "mangle", "-N", "DIVERT")
        self.gateway(tables, "-t", "mangle", "-A", "PREROUTING", "-p", "tcp", "-m", "socket",
                     "-j", "DIVERT")
        self.gateway(tables, "-t", "mangle", "-A", "DIVERT", "-j", "MARK", "--set-mark", "1")
        self.gateway(tables, "-t", "mangle", "-A", "DIVERT", "-j", "ACCEPT")
        self.gateway("ip", family, "rule", "add", "fwmark", "1", "lookup", "100")
        self.gateway("ip", family, "route", "add", "local", "::/0" if v6 else "0.0.0.0/0",
                     "dev", "lo", "table", "100")

    def redirect(self, v6=False):
        """Clients' POP3S to any address goes to popgate (REDIRECT, the second setup)."""
        self.gateway("ip6tables" if v6 else "iptables", "-t", "nat", "-A", "PREROUTING",
                     "-i", "g0", "-p", "tcp", "--dport", "995", "-j", "REDIRECT",
                     "--to-ports", str(POPGATE_PORT))

    def tproxy(self):
        """The same with TPROXY: nothing rewritten, popgate's socket has the dialled address.
        Needs route_answers_to_popgate() first. False where the kernel has no TPROXY target."""
        p = self.gateway("iptables", "-t", "mangle", "-A", "PREROUTING", "-i", "g0", "-p", "tcp",
                         "--dport", "995", "-j", "TPROXY", "--on-port", str(POPGATE_PORT),
                         "--tproxy-mark", "0x1/0x1", check=False)
        return p.returncode == 0

    def tproxy_nft(self):
        """The README's nftables rules for TPROXY and the answers to source = "client", with
        its ip rule/route lines. False where nft or its tproxy expression is missing."""
        if not shutil.which("nft"):
            return False
        self.gateway("ip", "rule", "add", "fwmark", "1", "lookup", "100")
        self.gateway("ip", "route", "add", "local", "0.0.0.0/0", "dev", "lo", "table", "100")
        p = subprocess.run(netns.prefix(self.ns.name("g")) + ["nft", "-f", "-"],
                           input=NFT_TPROXY, capture_output=True, text=True)
        return p.returncode == 0

    def remove(self):
        self.ns.remove()


def failed(request):
    rep = getattr(request.node, "rep_call", None)
    return rep is not None and rep.failed


@pytest.fixture
def topology():
    t = Topology()
    yield t
    t.remove()


@pytest.fixture
def server(request, topology):
    """A Dovecot in the server namespace, on port 110 of every address there."""
    d = Dovecot(DEFAULT_USERS, port=DOVECOT_PORT, netns=topology.ns.name("s"), listen="*, ::")
    d.start()
    yield d
    if failed(request):
        print(f"\n=== Dovecot\n{d.diagnostics()}")
    d.cleanup()  # before the namespaces go: ip netns del leaves processes running


@pytest.fixture
def gateway(request, topology, workdir, tls_material):
    """start(backend, listener): a popgate in the gateway namespace. Stopped by PID at teardown,
    before the namespaces are removed."""
    started = []

    def start(backend, listener, server=None):
        cfg = base_config([], tls_material.cert, tls_material.key)
        cfg["server"].update(server or {})
        cfg["listener"] = [{"name": "pop3s", "bind": f"0.0.0.0:{POPGATE_PORT}",
                            "mode": "implicit", "backend": "legacy", **listener}]
        # 10 s: room for SYN retransmits while a fresh namespace's neighbour entries (IPv6 in
        # particular) are still being resolved on a loaded machine; no test here waits it out.
        cfg["backend"] = [{"name": "legacy", "connect_timeout": "10s", "greeting_timeout": "5s",
                           "check_interval": "0",
                           **backend}]
        p = Popgate(workdir, cfg, netns=topology.ns.name("g"))
        started.append(p)
        return p.start()

    yield start
    for p in started:
        rc = p.stop()
        if failed(request) or rc not in (0, None):
            print(f"\n=== popgate output\n{p.stderr_text()}")
        assert rc in (0, None), f"popgate exited with status {rc} after SIGTERM"


def pop3s(topology, host, client_ctx):
    """A POP3S connection from the client namespace to host:995 (or the given port)."""
    with netns.entered(topology.ns.name("c")):
        return RawPop3(host, 995, client_ctx)


def fetch_first_message(c):
    c.login("alice", ALICE_PASSWORD)
    _, body = c.retr(1)
    assert body == mailgen.stuff(ALICE_MESSAGES[0])
    assert c.command("QUIT").startswith(b"+OK")


def session_line(p):
    return wait_until(lambda: next((l for l in p.stderr_text().splitlines()
                                    if "session ended" in l and "user=alice" in l), None),
                      10, "popgate's session line for alice")


def metric(topology, p, want, name, **labels):
    with netns.entered(topology.ns.name("g")):
        return wait_for_value(p, want, name, **labels)


@pytest.mark.parametrize("source", ["gateway", "client"])
def test_backend_sees_the_client_address_only_with_source_client(topology, server, gateway,
                                                                 client_ctx, source):
    if source == "client":
        topology.route_answers_to_popgate()
    p = gateway({"servers": [f"{SERVER4}:{DOVECOT_PORT}"], "source": source}, {})
    with netns.entered(topology.ns.name("c")):
        c = RawPop3(GATEWAY4_C, POPGATE_PORT, client_ctx)
    with c:
        fetch_first_message(c)

    want = CLIENT4 if source == "client" else GATEWAY4_S
    assert server.login_address("alice") == want, server.log_text()
    assert f"source={source}" in session_line(p)


def test_source_client_keeps_working_after_popgate_drops_root(topology, server, gateway,
                                                              client_ctx):
    """[server] user: popgate binds as root, then switches user keeping only CAP_NET_ADMIN,
    which each backend connection from the client's address needs."""
    user = mail_user()[0]
    topology.route_answers_to_popgate()
    p = gateway({"servers": [f"{SERVER4}:{DOVECOT_PORT}"], "source": "client"}, {},
                server={"user": user})
    with netns.entered(topology.ns.name("c")):
        c = RawPop3(GATEWAY4_C, POPGATE_PORT, client_ctx)
    with c:
        fetch_first_message(c)
    assert server.login_address("alice") == CLIENT4, server.log_text()
    status = open(f"/proc/{p.proc.pid}/status").read()
    assert f"Uid:\t{pwd.getpwnam(user).pw_uid}\t" in status
    # Only CAP_NET_ADMIN (bit 12) is left, effective and permitted.
    caps = dict(line.split(":\t") for line in status.splitlines() if line.startswith("Cap"))
    assert int(caps["CapEff"], 16) == int(caps["CapPrm"], 16) == 1 << 12, caps


def transparent_backend(source, allowed):
    return {"destination": "original", "destination_port": DOVECOT_PORT, "source": source,
            "destinations_allowed": [allowed]}


def check_refused(topology, p, client_ctx, other):
    """A dialled address outside destinations_allowed: refused after TLS with -ERR, counted."""
    with pop3s(topology, other, client_ctx) as c:
        line = c.read_line()
        assert line.startswith(b"-ERR [SYS/TEMP]"), line
        assert c.read_line() == b""
    metric(topology, p, 1, "popgate_rejected_connections_total",
           reason="destination_not_allowed")
    wait_until(lambda: "reason=destination_not_allowed" in p.stderr_text(), 10,
               "popgate's log line for the refused destination")


@pytest.mark.parametrize("source", ["gateway", "client"])
def test_redirect_serves_the_dialled_server_on_its_port_110(topology, server, gateway,
                                                            client_ctx, source):
    topology.redirect()
    if source == "client":
        topology.route_answers_to_popgate()
    p = gateway(transparent_backend(source, f"{SERVER4}/32"), {"transparent": True})
    with pop3s(topology, SERVER4, client_ctx) as c:
        fetch_first_message(c)

    assert server.login_address("alice") == (CLIENT4 if source == "client" else GATEWAY4_S)
    line = session_line(p)
    assert f"local={SERVER4}:995" in line and f"server={SERVER4}:110" in line, line
    assert f"source={source}" in line
    check_refused(topology, p, client_ctx, OTHER4)


@pytest.mark.parametrize("source,firewall", [("gateway", "iptables"), ("client", "iptables"),
                                             ("client", "nft")])
def test_tproxy_serves_the_dialled_server(topology, server, gateway, client_ctx, source,
                                          firewall):
    if firewall == "nft":
        if not topology.tproxy_nft():
            pytest.skip("no nft with tproxy here")
    else:
        topology.route_answers_to_popgate()  # TPROXY needs the same local route for its mark
        if not topology.tproxy():
            pytest.skip("this kernel has no TPROXY target")
    p = gateway(transparent_backend(source, f"{SERVER4}/32"), {"transparent": True})
    with pop3s(topology, SERVER4, client_ctx) as c:
        fetch_first_message(c)

    assert server.login_address("alice") == (CLIENT4 if source == "client" else GATEWAY4_S)
    assert f"local={SERVER4}:995" in session_line(p)
    check_refused(topology, p, client_ctx, OTHER4)


def test_ipv6_redirect_with_the_client_address(topology, server, gateway, client_ctx):
    if not topology.v6:
        pytest.skip("no IPv6 in these namespaces")
    topology.redirect(v6=True)
    topology.route_answers_to_popgate(v6=True)
    p = gateway(transparent_backend("client", f"{SERVER6}/128"),
                {"transparent": True, "bind": f"[::]:{POPGATE_PORT}"})
    with pop3s(topology, SERVER6, client_ctx) as c:
        fetch_first_message(c)

    assert server.login_address("alice") == CLIENT6, server.log_text()
    assert f"local=[{SERVER6}]:995" in session_line(p)
    check_refused(topology, p, client_ctx, OTHER6)


def test_check_says_when_cap_net_admin_is_missing(workdir, tls_material):
    """Without CAP_NET_ADMIN (and CAP_NET_RAW) source = "client" cannot work: --check says so,
    at the key, and exits 1; a transparent listener only gets a warning (REDIRECT works)."""
    if not shutil.which("setpriv"):
        pytest.skip("needs setpriv (util-linux)")
    cfg = base_config([("192.0.2.10", 110)], tls_material.cert, tls_material.key)
    p = Popgate(workdir, cfg)
    cfg["backend"][0]["source"] = "client"
    cfg["listener"][0]["transparent"] = True
    p.write_config()
    drop = ["setpriv", "--bounding-set", "-net_admin,-net_raw", "--inh-caps", "-all"]
    run = subprocess.run(drop + [popgate_bin(), "-c", p.config_path, "--check"],
                         capture_output=True, text=True, env=sanitizer_env(), timeout=30)
    assert run.returncode == 1, run.stderr
    lines = run.stderr.splitlines()
    assert any(l.startswith(f"{p.config_path}:") and
               'backend.source: "client" needs CAP_NET_ADMIN' in l for l in lines), run.stderr
    assert any("warning: listener.transparent" in l for l in lines), run.stderr

    with_caps = subprocess.run([popgate_bin(), "-c", p.config_path, "--check"],
                               capture_output=True, text=True, env=sanitizer_env(), timeout=30)
    assert with_caps.returncode == 0, with_caps.stderr


def test_reload_cannot_turn_a_listener_transparent(popgate_factory):
    """IP_TRANSPARENT is set when the listening sockets are made, so `transparent` is like the
    bind address: a reload that changes it is refused and says to restart."""
    p = popgate_factory([("127.0.0.1", 1)])
    p.config["listener"][0]["transparent"] = True
    p.write_config()
    p.proc.send_signal(signal.SIGHUP)
    wait_for_value(p, 1, "popgate_config_reloads_total", result="failure")
    assert "restart popgate for that" in p.stderr_text()
