"""A real Prometheus server scrapes popgate: the target turns "up" and popgate_build_info can be
queried, so the endpoint speaks HTTP and the exposition format as Prometheus itself expects."""

import os

import pytest

from popgate_fixtures.pop3client import RawPop3
from popgate_fixtures.prometheus import PROMETHEUS, Prometheus
from popgate_fixtures.wait import wait_until

pytestmark = pytest.mark.skipif(not os.access(PROMETHEUS, os.X_OK),
                                reason="prometheus not installed")

SCRAPE_DEADLINE = 60.0  # a 1 s scrape interval, on a busy 2-core machine


@pytest.fixture
def prometheus_factory(request):
    started = []

    def make(target, metrics_path="/metrics"):
        p = Prometheus(target, metrics_path)
        started.append(p)
        return p.start()

    yield make
    for p in started:
        rep = getattr(request.node, "rep_call", None)
        if rep is not None and rep.failed:
            print(f"\n=== Prometheus on port {p.port}\n{p.log_text()}")
        p.cleanup()


def test_prometheus_scrapes_popgate_and_finds_build_info(
        popgate_factory, dovecot, prometheus_factory, client_ctx):
    gate = popgate_factory([(dovecot.host, dovecot.port)])
    # One session first, so the scrape carries counters that moved, not only zeros.
    with RawPop3("127.0.0.1", gate.port, client_ctx) as c:
        c.login("alice", "alice-secret")
        assert c.command("QUIT").startswith(b"+OK")

    prom = prometheus_factory(gate.config["metrics"]["bind"])
    last = {}

    def target_up():
        last["health"] = prom.target_health()
        return last["health"] is not None and last["health"][0] == "up"

    try:
        wait_until(target_up, SCRAPE_DEADLINE, "Prometheus to report popgate's target up",
                   interval=0.25)
    except AssertionError as e:
        raise AssertionError(f"{e}; last seen (health, lastError): {last.get('health')}")

    def build_info():
        return prom.api("query", query="popgate_build_info")["result"]

    result = wait_until(build_info, SCRAPE_DEADLINE, "popgate_build_info in a query",
                        interval=0.25)
    assert len(result) == 1, result
    metric = result[0]["metric"]
    assert metric["job"] == "popgate"
    assert metric["instance"] == gate.config["metrics"]["bind"]
    assert metric.get("version") and metric.get("mbedtls") and metric.get("libuv"), metric
    assert result[0]["value"][1] == "1"

    # The session above reached Prometheus too.
    ok = prom.api("query", query='popgate_tls_handshakes_total{listener="pop3s",result="success"}')
    assert ok["result"] and float(ok["result"][0]["value"][1]) >= 1, ok
