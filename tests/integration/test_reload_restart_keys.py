"""Reload honesty (README "Reloading"): keys that only a restart applies ([server] workers, user,
group, [metrics] bind and path, [admin] socket, mode and group) keep their running values on a reload, with a warning that names
each one, while the rest of the new file is applied; a refused reload shows in
popgate_config_last_reload_successful, and the last good one's time stays."""

import os
import signal
import stat
import subprocess

from popgate_fixtures import toml_writer
from popgate_fixtures.logs import text_records
from popgate_fixtures.pop3client import RawPop3
from popgate_fixtures.popgate import popgate_bin
from popgate_fixtures.scrape import scrape, wait_for_value
from popgate_fixtures.wait import wait_until

from conftest import DEFAULT_USERS

ALICE_PASSWORD = DEFAULT_USERS["alice"][0]
RELOADS = "popgate_config_reloads_total"
LAST_OK = "popgate_config_last_reload_successful"
LAST_OK_TIME = "popgate_config_last_reload_success_timestamp_seconds"
NOOP_REFUSED = "-ERR [SYS/PERM] NOOP is off since the reload"


def threads_of(pid):
    with open(f"/proc/{pid}/status") as f:
        return int(next(l.split()[1] for l in f if l.startswith("Threads:")))


def reload_records(p, skip):
    """The log records of event "reload" after the first `skip` records."""
    return [r for r in text_records(p)[skip:] if r.get("event") == "reload"]


def reload_with(p, changes):
    before = scrape(p)
    skip = len(text_records(p))
    # The file changes; p.config (what the scrape helper reads the metrics path from) does not.
    with open(p.config_path, "w") as f:
        f.write(toml_writer.dumps(toml_writer.merge(p.config, changes)))
    p.proc.send_signal(signal.SIGHUP)
    wait_for_value(p, before.value(RELOADS, result="success") + 1, RELOADS, result="success")
    return reload_records(p, skip)


def test_a_reload_changing_workers_keeps_them_warns_and_applies_the_rest(popgate, client_ctx):
    p = popgate
    threads = threads_of(p.proc.pid)
    log = reload_with(p, {"server": {"workers": 3}, "metrics": {"path": "/other"},
                          "policy": {"rule": [{"name": "no-noop", "commands": ["NOOP"],
                                               "users": ["alice"], "action": "deny",
                                               "reply": NOOP_REFUSED}]}})
    kept = [(r["key"], r["running"], r["new"]) for r in log
            if r["level"] == "warn" and "key" in r]
    assert kept == [("[server] workers", "1", "3"), ("[metrics] path", "/metrics", "/other")], log
    summary = [r for r in log if r["msg"].startswith("configuration reloaded")]
    assert len(summary) == 1, log
    assert summary[0]["msg"] == "configuration reloaded except keys that only a restart applies"
    assert summary[0]["restart_needed"] == "[server] workers, [metrics] path", log

    # Still one worker, still /metrics (the scrapes use the running path)...
    assert threads_of(p.proc.pid) == threads
    assert scrape(p).value(LAST_OK) == 1
    # ... and the rest of the file is in force.
    with RawPop3("127.0.0.1", p.port, client_ctx) as c:
        c.login("alice", ALICE_PASSWORD)
        assert c.command("NOOP").decode().rstrip("\r\n") == NOOP_REFUSED
        assert c.command("QUIT").startswith(b"+OK")


def test_a_reload_changing_admin_mode_keeps_the_socket_and_warns(popgate_factory, workdir,
                                                                  dovecot):
    sock = os.path.join(workdir, "admin.sock")
    p = popgate_factory([(dovecot.host, dovecot.port)], overrides={"admin": {"socket": sock}})
    log = reload_with(p, {"admin": {"mode": "0600"}})
    kept = [(r["key"], r["running"], r["new"]) for r in log
            if r["level"] == "warn" and "key" in r]
    assert kept == [("[admin] mode", "0660", "0600")], log
    assert stat.S_IMODE(os.stat(sock).st_mode) == 0o660
    info = subprocess.run([popgate_bin(), "ctl", "-s", sock, "show", "info"],
                          capture_output=True, text=True, timeout=30)
    assert info.returncode == 0, info.stderr


def test_a_refused_reload_shows_in_last_reload_successful(popgate):
    p = popgate
    before = scrape(p)
    assert before.value(LAST_OK) == 1
    started_ok = before.value(LAST_OK_TIME)
    assert started_ok > 1.7e9  # the start counts as a successful load

    good = toml_writer.dumps(p.config)
    with open(p.config_path, "w") as f:
        f.write(good + "\n[server\n")
    p.proc.send_signal(signal.SIGHUP)
    after = wait_for_value(p, 0, LAST_OK)
    assert after.value(LAST_OK_TIME) == started_ok

    p.write_config()
    p.proc.send_signal(signal.SIGHUP)
    fixed = wait_for_value(p, 1, LAST_OK)
    assert fixed.value(LAST_OK_TIME) >= started_ok
    wait_until(lambda: any(r["msg"] == "configuration reloaded" for r in reload_records(p, 0)),
               5, "the reload's log line")
