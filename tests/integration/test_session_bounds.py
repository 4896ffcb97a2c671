"""Two defects found from outside, kept as regression tests against the real binary: a reload
that puts servers in front of a backend's list (popgate crashed on the next connect), and one
client that floods a stalled pipeline (popgate grew by tens of megabytes). README, "Memory per
session", states the bound this checks."""

import signal
import socket
import threading
import time

from popgate_fixtures import mail as mailgen
from popgate_fixtures.pop3client import RawPop3
from popgate_fixtures.ports import free_port
from popgate_fixtures.scrape import scrape, wait_for_value
from popgate_fixtures import toml_writer
from popgate_fixtures.wait import wait_until

PASSWORD = "dana-secret"
RELOADS = "popgate_config_reloads_total"
# What popgate may grow by while one client floods it. The per-session bound is about 1 MiB
# (README); the rest is slack for the allocator and, in the ASan build, its quarantine. Before the
# fix the release build grew by about 60 MB, the ASan build by about 100 MB.
MAX_GROWTH_BYTES = 24 * 1024 * 1024


def rss_bytes(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def test_a_reload_that_adds_servers_in_front_keeps_serving(popgate_factory, dovecot_factory,
                                                          client_ctx):
    d = dovecot_factory({"dana": (PASSWORD, [mailgen.message("one", ["hello"])])})
    p = popgate_factory([(d.host, d.port)])
    before = scrape(p).value(RELOADS, result="success")
    # Two servers nobody listens on, tried first: each session walks past them.
    dead = [f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"]
    backend = dict(p.config["backend"][0], servers=dead + [f"{d.host}:{d.port}"])
    p.config = toml_writer.merge(p.config, {"backend": [backend]})
    p.write_config()
    p.proc.send_signal(signal.SIGHUP)
    wait_for_value(p, before + 1, RELOADS, result="success")

    for _ in range(2):
        with RawPop3("127.0.0.1", p.port, client_ctx) as c:
            c.login("dana", PASSWORD)
            status, body = c.retr(1)
            assert status.startswith(b"+OK") and b"hello" in body
            assert c.command("QUIT").startswith(b"+OK")
    m = scrape(p)
    for server in dead:
        assert m.value("popgate_backend_up", backend="legacy", server=server) == 0
    assert m.value("popgate_backend_up", backend="legacy", server=f"{d.host}:{d.port}") == 1

    # A reload that takes them out again drops their series (no session holds the old config).
    backend = dict(p.config["backend"][0], servers=[f"{d.host}:{d.port}"])
    p.config = toml_writer.merge(p.config, {"backend": [backend]})
    p.write_config()
    p.proc.send_signal(signal.SIGHUP)
    wait_for_value(p, before + 2, RELOADS, result="success")
    wait_until(lambda: not any(scrape(p).has("popgate_backend_up", backend="legacy", server=s)
                               for s in dead),
               10, "the removed servers' backend_up series to be dropped")
    assert scrape(p).value("popgate_backend_up", backend="legacy",
                           server=f"{d.host}:{d.port}") == 1
    # The fixture's teardown checks that popgate exits 0 (an ASan report would make it 1).


def flood(sock, stop, sent):
    """Nine invalid NOOPs for each valid one, so the ten-in-a-row rule never fires."""
    chunk = (b"NOOP x\r\n" * 9 + b"NOOP\r\n") * 400
    sock.settimeout(0.5)
    while not stop.is_set():
        try:
            sent[0] += sock.send(chunk)
        except (socket.timeout, BlockingIOError):
            continue  # popgate stopped reading: that is the point
        except OSError:
            return


def test_a_client_flooding_a_stalled_pipeline_stays_bounded(popgate_factory, dovecot_factory,
                                                           client_ctx):
    d = dovecot_factory({"dana": (PASSWORD, [mailgen.big_message(16 * 1024 * 1024),
                                             mailgen.message("small", ["hi"])])})
    p = popgate_factory([(d.host, d.port)])
    flooder = RawPop3("127.0.0.1", p.port, client_ctx)
    try:
        flooder.login("dana", PASSWORD)
        # RETR the big message and never read it: its response stalls behind the client.
        flooder.send("RETR 1\r\n")
        baseline = rss_bytes(p.proc.pid)
        stop, sent = threading.Event(), [0]
        t = threading.Thread(target=flood, args=(flooder.sock, stop, sent), daemon=True)
        t.start()
        peak = baseline
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            peak = max(peak, rss_bytes(p.proc.pid))
            time.sleep(0.1)  # sampling interval, not a timing assertion
        # Another client is served meanwhile.
        with RawPop3("127.0.0.1", p.port, client_ctx) as other:
            other.login("dana", PASSWORD)
            status, body = other.retr(2)
            assert status.startswith(b"+OK") and b"hi" in body
            assert other.command("QUIT").startswith(b"+OK")
        peak = max(peak, rss_bytes(p.proc.pid))
        stop.set()
        t.join(timeout=5)
        growth = peak - baseline
        print(f"flood: {sent[0]} bytes accepted by the kernel, popgate grew by {growth} bytes")
        assert growth < MAX_GROWTH_BYTES, f"popgate grew by {growth} bytes"
        assert sent[0] < 16 * 1024 * 1024, "popgate kept reading a client that never reads"
    finally:
        flooder.abort()
