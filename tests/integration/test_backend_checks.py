"""Active backend checks ([[backend]] check_interval, SPEC section 5): every server's
popgate_backend_up comes from a check (connect, "+OK" greeting, QUIT) within one interval of
start, a standby server that no session tries included; a server nobody has tried has no series
at all; a reload that removes a server drops its series."""

import signal

from popgate_fixtures import toml_writer
from popgate_fixtures.pop3client import RawPop3
from popgate_fixtures.ports import closed_port
from popgate_fixtures.scrape import scrape, wait_for_value
from popgate_fixtures.wait import wait_until

USER = "olga"
PASSWORD = "pw-checks-2718"
INTERVAL = 1  # seconds: short, so each test takes a few of them
# What "within one interval" allows on top: process start under ASan and a loaded CI machine.
SLACK = 4
UP = "popgate_backend_up"
RELOADS = "popgate_config_reloads_total"


def checked(servers, interval=f"{INTERVAL}s"):
    return {"backend": [{"name": "legacy", "servers": servers, "connect_timeout": "2s",
                         "greeting_timeout": "2s", "check_interval": interval}]}


def test_a_standby_server_reads_up_within_one_interval_of_start(
        dovecot_factory, fault_backend_factory, popgate_factory):
    d = dovecot_factory({USER: (PASSWORD, [])})
    standby = fault_backend_factory()
    servers = [f"{d.host}:{d.port}", f"{standby.host}:{standby.port}"]
    p = popgate_factory([], overrides=checked(servers))
    # No session has run: both values come from the checks alone.
    for server in servers:
        wait_for_value(p, 1, UP, timeout=INTERVAL + SLACK, backend="legacy", server=server)
    # The check greets, says QUIT and goes: no login, nothing else.
    wait_until(lambda: standby.connections and standby.connections[0].closed.is_set(), 5,
               "the first check's connection to end")
    assert standby.connections[0].lines == ["QUIT"]
    # Checks repeat: a second connection arrives about one interval later.
    wait_until(lambda: len(standby.connections) >= 2, INTERVAL + SLACK, "a second check")
    assert "backend server up" in p.stderr_text()


def test_a_down_server_reads_0_and_is_logged_once(dovecot_factory, popgate_factory,
                                                  fault_backend_factory):
    d = dovecot_factory({USER: (PASSWORD, [])})
    refusing = fault_backend_factory(greeting=b"-ERR [SYS/TEMP] too busy\r\n")
    dead = f"127.0.0.1:{closed_port()}"
    busy = f"{refusing.host}:{refusing.port}"
    p = popgate_factory([], overrides=checked([f"{d.host}:{d.port}", dead, busy]))
    wait_for_value(p, 0, UP, timeout=INTERVAL + SLACK, backend="legacy", server=dead)
    m = wait_for_value(p, 0, UP, timeout=INTERVAL + SLACK, backend="legacy", server=busy)
    assert m.value(UP, backend="legacy", server=f"{d.host}:{d.port}") in (0, 1)
    wait_for_value(p, 1, UP, timeout=INTERVAL + SLACK, backend="legacy",
                   server=f"{d.host}:{d.port}")
    # Two more rounds of checks, then: still one "down" line per server, not one per check.
    wait_until(lambda: len(refusing.connections) >= 3, 2 * INTERVAL + SLACK, "three checks")
    down = [l for l in p.stderr_text().splitlines() if "backend server down" in l]
    assert len([l for l in down if dead in l]) == 1, down
    assert len([l for l in down if busy in l]) == 1, down
    assert any("-ERR" in l for l in down if busy in l), down


def test_with_checks_off_an_untried_server_has_no_series(dovecot_factory, popgate_factory,
                                                         fault_backend_factory, client_ctx):
    d = dovecot_factory({USER: (PASSWORD, [])})
    standby = fault_backend_factory()
    primary, second = f"{d.host}:{d.port}", f"{standby.host}:{standby.port}"
    p = popgate_factory([], overrides=checked([primary, second], interval="0"))
    assert not scrape(p).series(UP), "a series before any result"
    with RawPop3("127.0.0.1", p.port, client_ctx) as c:
        c.login(USER, PASSWORD)
        assert c.command("QUIT").startswith(b"+OK")
    m = wait_for_value(p, 1, UP, backend="legacy", server=primary)
    assert not m.has(UP, backend="legacy", server=second), m.series(UP)
    assert standby.connections == [], "checks are off, and no session needed the standby"


def test_a_reload_that_removes_a_server_drops_its_series(dovecot_factory, popgate_factory):
    d = dovecot_factory({USER: (PASSWORD, [])})
    alive, dead = f"{d.host}:{d.port}", f"127.0.0.1:{closed_port()}"
    p = popgate_factory([], overrides=checked([alive, dead]))
    wait_for_value(p, 0, UP, timeout=INTERVAL + SLACK, backend="legacy", server=dead)
    before = wait_for_value(p, 1, UP, timeout=INTERVAL + SLACK, backend="legacy", server=alive)
    reloads = before.value(RELOADS, result="success")

    p.config = toml_writer.merge(p.config, checked([alive]))
    p.write_config()
    p.proc.send_signal(signal.SIGHUP)
    wait_for_value(p, reloads + 1, RELOADS, result="success")
    wait_until(lambda: not scrape(p).has(UP, backend="legacy", server=dead), INTERVAL + SLACK,
               "the removed server's backend_up series to be dropped")
    assert scrape(p).value(UP, backend="legacy", server=alive) == 1
