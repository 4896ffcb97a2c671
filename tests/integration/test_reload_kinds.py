"""Reloads with every kind of config change (README "Reloading"), one after another on one
running popgate: each is applied or refused as the README says, popgate stays up, a session
works under the new config (or the kept one), and going back to the first config works too."""

import copy
import signal
import ssl

import pytest

from popgate_fixtures import toml_writer
from popgate_fixtures.pop3client import RawPop3
from popgate_fixtures.popgate import has_tls13
from popgate_fixtures.ports import free_port
from popgate_fixtures.scrape import scrape, wait_for_value

from conftest import DEFAULT_USERS

ALICE_PASSWORD = DEFAULT_USERS["alice"][0]
RELOADS = "popgate_config_reloads_total"


def fetches_mail(p, ctx):
    with RawPop3("127.0.0.1", p.port, ctx) as c:
        c.login("alice", ALICE_PASSWORD)
        _, body = c.retr(1)
        assert body.endswith(b"\r\n.\r\n")
        assert c.command("QUIT").startswith(b"+OK")
    return True


def backend_is_down(p, ctx):
    with RawPop3("127.0.0.1", p.port, ctx) as c:
        return c.read_line().startswith(b"-ERR [SYS/TEMP]")


def tls12_refused(p, ctx):
    old = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    old.check_hostname = False
    old.verify_mode = ssl.CERT_NONE
    old.maximum_version = ssl.TLSVersion.TLSv1_2
    with pytest.raises((ssl.SSLError, ConnectionError)):
        RawPop3("127.0.0.1", p.port, old).close()
    return fetches_mail(p, ctx)


def json_logs(p, ctx):
    fetches_mail(p, ctx)
    last = p.stderr_text().rstrip("\n").rsplit("\n", 1)[-1]
    return last.startswith("{") and '"event":"session"' in last


def listener(c):
    return c["listener"][0]


def backend(c):
    return c["backend"][0]


# (what changes, how, "applied" or "refused", what a client then sees)
CHANGES = [
    ("a backend renamed", lambda c: (backend(c).update(name="renamed"),
                                     listener(c).update(backend="renamed")),
     "refused", fetches_mail),
    ("a listener added", lambda c: c["listener"].append(
        {"name": "extra", "bind": f"127.0.0.1:{free_port()}", "mode": "starttls",
         "backend": "legacy"}), "refused", fetches_mail),
    ("a listener's port", lambda c: listener(c).update(bind=f"127.0.0.1:{free_port()}"),
     "refused", fetches_mail),
    ("a backend added", lambda c: c["backend"].append(
        {"name": "second", "servers": [f"127.0.0.1:{free_port()}"], "check_interval": "0"}),
     "refused", fetches_mail),
    ("an invalid value", lambda c: listener(c).update(proxy_protocol=True),
     "refused", fetches_mail),
    ("a dead server put first", lambda c: backend(c).update(
        servers=[f"127.0.0.1:{free_port()}"] + backend(c)["servers"]), "applied", fetches_mail),
    ("only a dead server", lambda c: backend(c).update(servers=[f"127.0.0.1:{free_port()}"]),
     "applied", backend_is_down),
    # A build without TLS 1.3 refuses the value, naming it.
    # conftest's material has an RSA pair next to the ECDSA one: a second certificate.
    ("a certificate added", lambda c: c["tls"]["certificate"].append(
        {k: v.replace("ecdsa-", "rsa-") for k, v in c["tls"]["certificate"][0].items()}),
     "applied", fetches_mail),
    ("TLS 1.3 only", lambda c: c["tls"].update(min_version="1.3"),
     "applied" if has_tls13() else "refused", tls12_refused if has_tls13() else fetches_mail),
    ("JSON logs", lambda c: c["server"].update(log_format="json"), "applied", json_logs),
    ("ban settings", lambda c: c.setdefault("policy", {}).update(
        ban={"failures": 2, "window": "1m", "duration": "1m"}), "applied", fetches_mail),
    ("a Redis that is down", lambda c: c.setdefault("policy", {}).update(
        ban={"redis": f"127.0.0.1:{free_port()}"}), "applied", fetches_mail),
    ("active checks on", lambda c: backend(c).update(check_interval="1s"), "applied",
     fetches_mail),
    ("timeouts", lambda c: backend(c).update(connect_timeout="300ms", greeting_timeout="1s"),
     "applied", fetches_mail),
    ("a start-only key", lambda c: c["metrics"].update(path="/other"), "applied", fetches_mail),
]


def reload_to(p, config, outcome):
    """Writes `config` to popgate's file and sends SIGHUP. p.config stays the first config: the
    listeners and the metrics endpoint the helpers use do not change."""
    before = scrape(p)
    with open(p.config_path, "w") as f:
        f.write(toml_writer.dumps(config))
    p.proc.send_signal(signal.SIGHUP)
    result = "success" if outcome == "applied" else "failure"
    wait_for_value(p, before.value(RELOADS, result=result) + 1, RELOADS, result=result)
    assert p.proc.poll() is None


def test_every_kind_of_reload_keeps_popgate_serving(popgate, client_ctx):
    p = popgate
    first = copy.deepcopy(p.config)
    for what, change, outcome, then in CHANGES:
        changed = copy.deepcopy(first)
        change(changed)
        reload_to(p, changed, outcome)
        assert then(p, client_ctx), what
        reload_to(p, copy.deepcopy(first), "applied")
        assert fetches_mail(p, client_ctx), f"back from {what}"
