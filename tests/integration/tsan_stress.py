"""Workers under load, reloads and a drain, for the ThreadSanitizer build (scripts/tsan runs this
file with POPGATE_BIN pointing at build/tsan; the name does not match test_*.py, so the ASan
integration run does not collect it).

popgate runs with two workers in front of a real Dovecot. Client threads do whole POP3S sessions
(login, LIST, RETR of every message, QUIT) in a loop while the test reloads the configuration
with SIGHUP again and again, with configs that add and remove a backend server and a policy
rule, then sends SIGTERM with sessions open. It passes when every session before the SIGTERM
succeeded, popgate exited 0 after the drain, and ThreadSanitizer reported nothing (with
TSAN_OPTIONS=halt_on_error=1 a report also ends the process with status 66)."""

import copy
import os
import signal
import threading

from popgate_fixtures import mail as mailgen
from popgate_fixtures import toml_writer
from popgate_fixtures.pop3client import RawPop3
from popgate_fixtures.ports import free_port
from popgate_fixtures.scrape import scrape, wait_for_value
from popgate_fixtures.wait import wait_until

RELOADS = "popgate_config_reloads_total"
CLIENT_THREADS = int(os.environ.get("TSAN_CLIENTS", "4"))
RELOAD_ROUNDS = int(os.environ.get("TSAN_RELOADS", "40"))
TSAN_REPORT = "WARNING: ThreadSanitizer"

USERS = {
    f"user{i}": (f"secret-{i}", [
        mailgen.message(f"first {i}", ["Hello,", "", "a short message."]),
        mailgen.dot_message(),
        mailgen.message(f"large {i}", ["y" * 900] * 60),  # ~54 KB: several TLS records
    ])
    for i in range(CLIENT_THREADS)
}


class Client(threading.Thread):
    """Whole sessions in a loop until told to stop. A failure before `draining` is set is a test
    failure; after it, the drain may end a session, so failures are no longer counted."""

    def __init__(self, port, ctx, user, password, draining, stop):
        super().__init__(daemon=True)
        self.port, self.ctx, self.user, self.password = port, ctx, user, password
        self.draining, self.stop = draining, stop
        self.sessions = 0
        self.failures = []

    def session(self):
        with RawPop3("127.0.0.1", self.port, self.ctx, timeout=30) as c:
            c.login(self.user, self.password)
            reply = c.command("LIST")
            assert reply.startswith(b"+OK"), reply
            listing, complete = c.read_multiline()
            assert complete, "LIST ended before its terminating dot"
            count = len(listing.splitlines()) - 1
            assert count == 3, listing
            for n in range(1, count + 1):
                _, body = c.retr(n)
                assert body.endswith(b"\r\n.\r\n")
            assert c.command("QUIT").startswith(b"+OK")

    def run(self):
        while not self.stop.is_set():
            try:
                self.session()
                if not self.draining.is_set():
                    self.sessions += 1
            except Exception as e:  # a failed session, reported by the test
                if not self.draining.is_set():
                    self.failures.append(f"{self.user}: {type(e).__name__}: {e}")
                    return


def configs(base, dovecot):
    """The configs the reloads cycle through: the base one; one with a second server (nothing
    listens there; never tried while the first answers) and a rule; one with that server in
    front, so each new session fails over to Dovecot (the servers' metric handles change with
    the runtime); one with a different rule."""
    base = copy.deepcopy(base)
    spare = f"127.0.0.1:{free_port()}"
    with_server = toml_writer.merge(copy.deepcopy(base), {"policy": {"rule": [
        {"name": "no-dele", "commands": ["DELE"], "action": "deny",
         "reply": "-ERR [SYS/PERM] deletion is disabled here"}]}})
    with_server["backend"][0]["servers"] = [f"{dovecot.host}:{dovecot.port}", spare]
    in_front = copy.deepcopy(base)
    in_front["backend"][0]["servers"] = [spare, f"{dovecot.host}:{dovecot.port}"]
    other_rule = toml_writer.merge(base, {"policy": {"idle_timeout": "15m", "rule": [
        {"name": "dry-noop", "commands": ["NOOP"], "action": "close", "dry_run": True,
         "reply": "-ERR [SYS/PERM] NOOP would close the session"}]}})
    return [with_server, in_front, other_rule, base]


def test_workers_survive_reloads_and_drain_under_load(popgate_factory, dovecot_factory,
                                                       client_ctx):
    dovecot = dovecot_factory(USERS)
    p = popgate_factory([(dovecot.host, dovecot.port)],
                        overrides={"server": {"workers": 2, "log_level": "info"}})
    draining, stop = threading.Event(), threading.Event()
    clients = [Client(p.port, client_ctx, user, password, draining, stop)
               for user, (password, _) in USERS.items()]
    holder = None
    try:
        for c in clients:
            c.start()
        wait_until(lambda: all(c.sessions > 0 or c.failures for c in clients), 60,
                   "a first whole session in every client thread")

        rotation = configs(p.config, dovecot)
        for round_ in range(RELOAD_ROUNDS):
            before = scrape(p).value(RELOADS, result="success")
            p.config = rotation[round_ % len(rotation)]
            p.write_config()
            p.proc.send_signal(signal.SIGHUP)
            wait_for_value(p, before + 1, RELOADS, result="success")
            assert not any(c.failures for c in clients), [c.failures for c in clients]

        # More sessions after the last reload, so every worker ran on the reloaded config.
        done = sum(c.sessions for c in clients)
        wait_until(lambda: sum(c.sessions for c in clients) >= done + 2 * CLIENT_THREADS or
                   any(c.failures for c in clients), 60, "sessions after the last reload")

        # The drain: one session held open (logged in, idle) and the loops still running.
        holder = RawPop3("127.0.0.1", p.port, client_ctx, timeout=30)
        holder.login("user0", USERS["user0"][0])
        draining.set()
        rc = p.stop()
        shutdown = holder.read_until_eof(timeout=30)
    finally:
        draining.set()
        stop.set()
        for c in clients:
            c.join(60)
        if holder is not None:
            holder.close()

    log = p.stderr_text()
    print(f"sessions per client: {[c.sessions for c in clients]}; reload rounds: {RELOAD_ROUNDS}")
    assert TSAN_REPORT not in log, log[log.index(TSAN_REPORT):][:20000]
    failures = [f for c in clients for f in c.failures]
    assert not failures, failures
    assert rc == 0, f"popgate exited {rc} after SIGTERM (66: a ThreadSanitizer report)"
    assert b"-ERR [SYS/TEMP] server shutting down" in shutdown, shutdown
    assert sum(c.sessions for c in clients) >= 3 * CLIENT_THREADS
