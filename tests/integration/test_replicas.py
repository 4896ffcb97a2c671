"""Three popgate replicas behind a real HAProxy act as one gateway (issue "Scale out"): one real
Dovecot behind them, one real Redis sharing failed logins and bans ([policy.ban] redis), one
ticket key file ([tls] ticket_key_file), HAProxy in `mode tcp` with `send-proxy-v2` and a
`check` on each replica's /healthz, and `[server] drain_delay` for HAProxy to notice a drain.

  - a TLS session from one replica resumes on the others, directly and through HAProxy (the
    resumption rate is printed);

  - failed logins spread over the three replicas add up to one ban, and once banned the address
    is refused by all three within a second (the time is measured and printed);
  - Redis stopped mid-test: logins and local bans go on, the errors are counted and logged once,
    and when Redis is back the bans are shared again; a Redis that stops answering (SIGSTOP)
    delays no session and is treated as an outage;
  - `popgate ctl ban` of an address or a block, for a time or until unban, and `unban`, reach
    every replica through Redis;
  - `kill -9` of one replica during a RETR ends only that replica's sessions; new sessions keep
    working through the other two;
  - a loop of sessions through HAProxy sees no failed session while each replica in turn is
    stopped with SIGTERM and started again, or reloaded after a new ticket key was added.

Client addresses are loopback aliases (127.0.0.2, 127.0.0.3, ...): HAProxy's PROXY v2 header
carries each as the client's, so each test has addresses of its own to fail and ban. One
cluster serves the whole file (its start is the slow part); tests that stop a replica start it
again before they end.
"""

import datetime
import os
import signal
import subprocess
import threading
import time

import pytest

from popgate_fixtures import mail as mailgen
from popgate_fixtures.certs import make_tls_material
from popgate_fixtures.dovecot import Dovecot
from popgate_fixtures.logs import text_records
from popgate_fixtures.pop3client import RawPop3, client_context
from popgate_fixtures.popgate import Popgate, popgate_bin
from popgate_fixtures.redis import RedisServer
from popgate_fixtures.replicas import ReplicaBalancer, replica_config
from popgate_fixtures.scrape import scrape
from popgate_fixtures.tmpdirs import make_tmpdir, remove_tmpdir
from popgate_fixtures.wait import wait_until

REPLICAS = 3
SMALL = mailgen.message("small", ["one short message"])
BIG = mailgen.big_message(16 * 1024 * 1024)
USERS = {
    "alice": ("alice-secret", [SMALL]),
    "carol": ("carol-secret", [BIG]),
    "dave": ("dave-secret", [SMALL]),
    "erin": ("erin-secret", [SMALL]),
}
# Refusals and propagation are asserted against this; the measured figure is printed.
PROPAGATION_LIMIT = 1.0
DRAIN_DELAY = "1s"
# A stalled Redis is found by a PING every 5 s that gets no reply within 2 s.
STALL_NOTICED = 7.0


class Cluster:
    def __init__(self, root):
        self.root = root
        self.tls = make_tls_material(root)
        self.ctx = client_context(self.tls.cert)
        self.redis = RedisServer(root).start()
        self.dovecot = Dovecot(USERS).start()
        # One ticket key file for every replica, as a config management tool would deploy it.
        self.ticket_keys = os.path.join(root, "tickets.key")
        write_atomically(self.ticket_keys, new_ticket_key())
        self.replicas = []
        for i in range(REPLICAS):
            workdir = os.path.join(root, f"r{i}")
            os.makedirs(workdir)
            cfg = replica_config((self.dovecot.host, self.dovecot.port), self.tls.cert,
                                 self.tls.key, self.redis.address)
            cfg["tls"]["ticket_key_file"] = self.ticket_keys
            # /healthz answers 503 at once on SIGTERM; HAProxy checks every 100 ms, so after
            # this long it sends the replica nothing new and the replica stops accepting.
            cfg["server"]["drain_delay"] = DRAIN_DELAY
            cfg["admin"] = {"socket": os.path.join(workdir, "admin.sock")}
            self.replicas.append(Popgate(workdir, cfg))
        for r in self.replicas:
            r.start()
        self.balancer = ReplicaBalancer(root, self.replicas).start()
        for i in range(REPLICAS):
            self.balancer.wait_state(i, "UP")
        for i in range(REPLICAS):
            wait_until(lambda i=i: "connected to the shared ban store" in self.log(i), 10,
                       f"replica r{i} to connect to Redis")

    def log(self, i):
        return self.replicas[i].stderr_text()

    def metric(self, i, name, **labels):
        return scrape(self.replicas[i]).value(name, **labels)

    def connect(self, port, source, timeout=10.0, session=None):
        return RawPop3("127.0.0.1", port, self.ctx, source=source, timeout=timeout,
                       session=session)

    def direct(self, i, source, timeout=10.0):
        return self.connect(self.balancer.direct_ports[i], source, timeout)

    def ctl(self, i, *words):
        """`popgate ctl` on replica i's admin socket; its output (it must succeed)."""
        sock = self.replicas[i].config["admin"]["socket"]
        r = subprocess.run([popgate_bin(), "ctl", "-s", sock] + list(words),
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, (words, r.stdout, r.stderr)
        return r.stdout

    def admitted(self, i, source):
        """True when replica i greets a client from `source`, False when it refuses it (a
        banned client is closed before TLS: the handshake fails)."""
        try:
            with self.direct(i, source, timeout=5.0) as c:
                greeting = c.read_line()
                c.command("QUIT")
                return greeting.startswith(b"+OK")
        except OSError:  # ssl.SSLError, ConnectionError and socket.timeout included
            return False

    def session(self, source, user="alice", port=None, tls_session=None):
        """One whole session, through the balanced frontend unless `port` says otherwise:
        login, STAT, RETR 1, QUIT. tls_session: a TLS session to resume. Returns (whether TLS
        resumed, the session to offer next time)."""
        password, _ = USERS[user]
        with self.connect(port or self.balancer.port, source, session=tls_session) as c:
            c.login(user, password)
            stat = c.command("STAT")
            assert stat.startswith(b"+OK 1 "), stat
            _, body = c.retr(1)
            assert body.endswith(b".\r\n")
            assert c.command("QUIT").startswith(b"+OK")
            # TLS 1.3 tickets come after the handshake: the session is complete by now.
            return c.sock.session_reused, c.sock.session

    def stop(self):
        self.balancer.stop()
        problems = []
        for i, r in enumerate(self.replicas):
            rc = r.stop()
            if rc not in (0, None):
                problems.append(f"replica r{i} exited with {rc} after SIGTERM (want 0)")
        self.dovecot.cleanup()
        self.redis.stop()
        return problems

    def diagnostics(self):
        out = [f"=== HAProxy\n{self.balancer.output()}", f"=== Redis\n{self.redis.output()}"]
        for i, r in enumerate(self.replicas):
            out.append(f"=== replica r{i} ({r.config_path})\n{r.stderr_text()[-6000:]}")
        return "\n".join(out)


@pytest.fixture(scope="module")
def cluster():
    root = make_tmpdir("replicas")
    c = Cluster(root)
    failed = []
    c.failed = failed
    yield c
    if failed:
        print(c.diagnostics())
    problems = c.stop()
    remove_tmpdir(root)
    assert not problems, "; ".join(problems)


@pytest.fixture(autouse=True)
def _diagnostics_on_failure(request, cluster):
    yield
    rep = getattr(request.node, "rep_call", None)
    if rep is not None and rep.failed:
        cluster.failed.append(request.node.name)


def new_ticket_key():
    """One ticket key line, made the way an admin makes it."""
    return subprocess.run([popgate_bin(), "--new-ticket-key"], check=True, capture_output=True,
                          text=True, timeout=30).stdout


def write_atomically(path, text):
    with open(path + ".new", "w") as f:
        f.write(text)
    os.chmod(path + ".new", 0o600)
    os.replace(path + ".new", path)


def log_time(popgate, message, **fields):
    """The time (seconds) of popgate's first log line with this message and these fields."""
    record = next((r for r in text_records(popgate) if r.get("msg") == message
                   and all(r.get(k) == v for k, v in fields.items())), None)
    assert record is not None, f"no log line {message!r} {fields}"
    return datetime.datetime.strptime(record["ts"], "%Y-%m-%dT%H:%M:%S.%fZ").timestamp()


def fail_login(c, user="alice"):
    c.read_line()
    assert c.command(f"USER {user}").startswith(b"+OK")
    reply = c.command("PASS wrong-password")
    assert reply.startswith(b"-ERR"), reply


def test_failures_on_three_replicas_add_up_to_one_ban_refused_everywhere(cluster):
    client = "127.0.0.2"
    for i in range(REPLICAS - 1):
        with cluster.direct(i, client) as c:
            fail_login(c)
    for i in range(REPLICAS):
        assert cluster.admitted(i, client), f"two failures in all must not ban yet (r{i})"

    with cluster.direct(REPLICAS - 1, client) as c:
        fail_login(c)  # the third failure, on the third replica: the shared count reaches 3
        banned_at = time.monotonic()
    refused_after = {}
    for i in range(REPLICAS):
        wait_until(lambda i=i: not cluster.admitted(i, client), PROPAGATION_LIMIT,
                   f"replica r{i} to refuse the banned client", interval=0.005)
        refused_after[i] = time.monotonic() - banned_at
    # The log lines' timestamps show the propagation itself: from r2's ban to the announcement
    # arriving on r0 and r1 (the probes above add a TLS handshake each).
    begun = log_time(cluster.replicas[2], "client address banned after repeated authentication "
                     "failures across replicas", client=client)
    heard = [log_time(cluster.replicas[i], "ban announced", client=client) for i in range(2)]
    print(f"\nban propagation: r2 began the ban; announced on r0 after "
          f"{(heard[0] - begun) * 1000:.1f} ms, on r1 after {(heard[1] - begun) * 1000:.1f} ms; "
          f"a client was refused by r0 {refused_after[0] * 1000:.0f} ms, by r1 "
          f"{refused_after[1] * 1000:.0f} ms, by r2 {refused_after[2] * 1000:.0f} ms after the "
          "third failure's reply")

    # Each replica saw one failure only: the ban came from the shared count.
    assert "banned after repeated authentication failures across replicas" in cluster.log(2)
    for i in range(REPLICAS):
        assert cluster.metric(i, "popgate_bans_active") == 1
        assert cluster.metric(i, "popgate_rejected_connections_total", reason="banned") >= 1
    assert [cluster.metric(i, "popgate_bans_total") for i in range(REPLICAS)] == [0, 0, 1]
    # Another client is not affected.
    for i in range(REPLICAS):
        assert cluster.admitted(i, "127.0.0.3")

    # Redis holds the ban with the ban's duration as its expiry, and only addresses.
    assert cluster.redis.command("EXISTS", "popgate:failures:127.0.0.2") == 0
    ttl = cluster.redis.command("PTTL", "popgate:ban:127.0.0.2")
    assert 29 * 60 * 1000 < ttl <= 30 * 60 * 1000, ttl
    keys = cluster.redis.keys()
    assert keys == ["popgate:ban:127.0.0.2"], keys
    for secret in ("alice", "wrong-password"):
        assert not any(secret in k for k in keys)


def test_redis_outage_keeps_logins_and_local_bans_and_recovers(cluster):
    errors_before = [cluster.metric(i, "popgate_ban_store_errors_total") for i in range(REPLICAS)]
    cluster.redis.stop()
    for i in range(REPLICAS):
        wait_until(lambda i=i: cluster.metric(i, "popgate_ban_store_errors_total")
                   > errors_before[i], 5, f"replica r{i} to count the lost store")

    # Sessions go on as before, on every replica.
    for _ in range(REPLICAS):
        cluster.session("127.0.0.3")
    # Bans go on locally: three failures on r0 ban the client there.
    client = "127.0.0.4"
    with cluster.direct(0, client) as c:
        fail_login(c)
        for _ in range(2):
            assert c.command("USER alice").startswith(b"+OK")
            assert c.command("PASS wrong-password").startswith(b"-ERR")
    assert not cluster.admitted(0, client)
    assert cluster.admitted(1, client), "no store: r1 has not heard of r0's ban"
    # An administrator's ban during the outage holds on its replica at once.
    cluster.ctl(2, "ban", "127.0.0.24/30", "10m")
    assert not cluster.admitted(2, "127.0.0.25") and cluster.admitted(1, "127.0.0.25")
    # Retries fail and are counted, but the outage is logged once.
    wait_until(lambda: cluster.metric(0, "popgate_ban_store_errors_total") >= errors_before[0] + 3,
               10, "r0 to retry the store")
    for i in range(REPLICAS):
        assert cluster.log(i).count("shared ban store unavailable") == 1, cluster.log(i)

    cluster.redis.start()  # empty: nothing was saved
    for i in range(REPLICAS):
        wait_until(lambda i=i: "shared ban store back" in cluster.log(i), 10,
                   f"replica r{i} to reconnect")
        assert cluster.log(i).count("shared ban store back") == 1
    # r0's ban, made during the outage, is shared now; so is the earlier ban, which every
    # replica kept locally while Redis lost it.
    wait_until(lambda: not cluster.admitted(1, client), 5, "r1 to refuse r0's ban")
    assert not cluster.admitted(2, client)
    # So is the administrator's.
    wait_until(lambda: not cluster.admitted(0, "127.0.0.25"), 5, "r0 to refuse r2's manual ban")
    assert not cluster.admitted(1, "127.0.0.25")
    assert cluster.redis.keys() == ["popgate:ban:127.0.0.2", "popgate:ban:127.0.0.24/30",
                                    "popgate:ban:127.0.0.4"]
    cluster.ctl(0, "unban", "127.0.0.24/30")
    assert not cluster.admitted(1, "127.0.0.2")
    cluster.session("127.0.0.3")


def test_a_ticket_from_one_replica_resumes_on_the_others(cluster):
    before = [cluster.metric(i, "popgate_tls_sessions_resumed_total") for i in range(REPLICAS)]
    # Each session goes to the next replica with the ticket the previous one issued.
    resumed, tls_session = cluster.session("127.0.0.9", port=cluster.balancer.direct_ports[0])
    assert not resumed
    hops = 3 * REPLICAS
    for n in range(1, hops + 1):
        resumed, tls_session = cluster.session("127.0.0.9", tls_session=tls_session,
                                               port=cluster.balancer.direct_ports[n % REPLICAS])
        assert resumed, f"hop {n}: r{(n - 1) % REPLICAS}'s ticket did not resume on r{n % REPLICAS}"
    for i in range(REPLICAS):
        assert cluster.metric(i, "popgate_tls_sessions_resumed_total") == before[i] + 3
    # Through the balancer, a client that keeps its latest session.
    total, again = 12, 0
    for _ in range(total):
        resumed, tls_session = cluster.session("127.0.0.9", tls_session=tls_session)
        again += resumed
    assert again == total
    print(f"\nresumption across replicas: {hops}/{hops} hops from one replica to the next "
          f"resumed; {again}/{total} sessions through HAProxy's round robin resumed")


def test_kill_9_ends_only_that_replicas_sessions(cluster):
    victim = 1
    others = {0: ("dave", cluster.direct(0, "127.0.0.5")),
              2: ("erin", cluster.direct(2, "127.0.0.5"))}
    for user, c in others.values():
        c.login(user, USERS[user][0])
    big = cluster.direct(victim, "127.0.0.5")
    big.login("carol", USERS["carol"][0])
    status = big.command("RETR 1")
    assert status.startswith(b"+OK"), status
    first = big.read_line()
    assert first, "the RETR has begun"

    cluster.replicas[victim].proc.send_signal(signal.SIGKILL)
    cluster.replicas[victim].proc.wait(10)
    body, complete = read_until_cut(big)
    big.close()
    assert not complete, "the killed replica's RETR cannot have ended with its terminator"
    assert len(first) + len(body) < len(BIG)

    # The other replicas' sessions are untouched.
    for user, c in others.values():
        _, body = c.retr(1)
        assert body.endswith(b".\r\n")
        assert c.command("QUIT").startswith(b"+OK")
        c.close()
    # New sessions go to the two replicas left (HAProxy retries a refused connection on
    # another replica and its check marks the dead one down).
    for _ in range(6):
        cluster.session("127.0.0.6")
    cluster.balancer.wait_state(victim, "DOWN")

    restart(cluster, victim)


def restart(cluster, i):
    """Starts replica i again (after a kill or a stop) with the same config and ports, and
    waits until HAProxy's check sees it up."""
    r = cluster.replicas[i]
    if r.proc is not None:  # killed: reap it as stop() would
        r.proc.wait(10)
        r._stderr.close()
        r.proc = None
    r.start()
    cluster.balancer.admin(f"set server replicas/r{i} state ready")
    cluster.balancer.wait_state(i, "UP")


def read_until_cut(c):
    """The rest of a multi-line response on a connection the far side drops: (body, complete).
    A TLS connection cut without close_notify may end in an SSL error instead of EOF."""
    try:
        return c.read_multiline()
    except OSError:  # ssl.SSLError and ConnectionError included
        return c.buf, False


class SessionLoop:
    """Sessions through the balanced frontend, one after another, until stopped; every failure
    is kept with its reason."""

    def __init__(self, cluster, source):
        self.cluster = cluster
        self.source = source
        self.ok = 0
        self.resumed = 0
        self.failures = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        tls_session = None
        while not self._stop.is_set():
            try:
                resumed, tls_session = self.cluster.session(self.source, tls_session=tls_session)
                self.ok += 1
                self.resumed += resumed
            except Exception as e:  # noqa: BLE001 - every failure is the finding
                self.failures.append(f"{type(e).__name__}: {e}")

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(30)

    def wait_for(self, n):
        target = self.ok + n
        wait_until(lambda: self.ok >= target or self.failures, 20, f"{n} more sessions")


def test_rolling_restart_loses_no_session(cluster):
    with SessionLoop(cluster, "127.0.0.7") as loop:
        loop.wait_for(3)
        for i in range(REPLICAS):
            # SIGTERM: /healthz says 503 at once, HAProxy's check takes the replica out, and
            # after drain_delay popgate stops accepting, lets its sessions finish
            # (shutdown_grace) and exits 0.
            rc = cluster.replicas[i].stop()
            assert rc == 0, f"replica r{i} exited with {rc} after SIGTERM"
            loop.wait_for(2)
            restart(cluster, i)
            loop.wait_for(3)
    assert loop.failures == [], loop.failures
    print(f"\nrolling restart: {loop.ok} sessions, none failed; {loop.resumed} resumed TLS with "
          "the ticket of the one before (on whichever replica it went to)")


def test_reload_of_each_replica_with_a_new_ticket_key_loses_no_session(cluster):
    with SessionLoop(cluster, "127.0.0.8") as loop:
        loop.wait_for(3)
        # Rotation: the new key goes last (it seals from now on), the old one stays to open
        # the tickets clients hold; then each replica is reloaded in turn.
        with open(cluster.ticket_keys) as f:
            old = f.read()
        write_atomically(cluster.ticket_keys, old + new_ticket_key())
        for i in range(REPLICAS):
            r = cluster.replicas[i]
            reloads = scrape(r).value("popgate_config_reloads_total", result="success")
            r.proc.send_signal(signal.SIGHUP)
            wait_until(lambda: scrape(r).value("popgate_config_reloads_total", result="success")
                       > reloads, 10, f"replica r{i} to reload")
            loop.wait_for(3)
    assert loop.failures == [], loop.failures
    print(f"\nreloads with a new ticket key: {loop.ok} sessions, none failed, {loop.resumed} "
          "resumed")


def test_a_stalled_redis_delays_no_session(cluster):
    # Every replica was restarted above, so its log holds no earlier outage.
    errors_before = [cluster.metric(i, "popgate_ban_store_errors_total") for i in range(REPLICAS)]
    cluster.redis.pause()
    try:
        # A failed login and whole sessions take as long as ever: nothing waits for Redis
        # (the failure is sent to it and never answered).
        for i in range(REPLICAS):
            started = time.monotonic()
            with cluster.direct(i, "127.0.0.10") as c:
                fail_login(c)
            cluster.session("127.0.0.11", port=cluster.balancer.direct_ports[i])
            took = time.monotonic() - started
            assert took < STALL_NOTICED, f"r{i}: {took:.1f}s for two sessions with Redis stalled"
        # A PING (or the failure) without a reply within 2 s counts as an outage, logged once.
        for i in range(REPLICAS):
            wait_until(lambda i=i: "shared ban store unavailable" in cluster.log(i),
                       STALL_NOTICED + 5, f"replica r{i} to notice the stalled Redis")
            assert "no reply" in cluster.log(i)
    finally:
        cluster.redis.resume()
    for i in range(REPLICAS):
        wait_until(lambda i=i: "shared ban store back" in cluster.log(i), 10,
                   f"replica r{i} to reconnect")
        assert cluster.log(i).count("shared ban store unavailable") == 1
        assert cluster.metric(i, "popgate_ban_store_errors_total") > errors_before[i]
    cluster.session("127.0.0.11")


def test_ctl_bans_of_addresses_and_blocks_are_shared(cluster):
    for i in range(REPLICAS):  # back from the tests' outages, or the ban would stay local
        wait_until(lambda i=i: cluster.log(i).count("shared ban store back")
                   >= cluster.log(i).count("shared ban store unavailable"), 10,
                   f"replica r{i} to be connected to Redis")
    client = "127.0.0.9"
    cluster.ctl(0, "ban", client, "10m")
    for i in range(REPLICAS):
        wait_until(lambda i=i: not cluster.admitted(i, client), PROPAGATION_LIMIT,
                   f"replica r{i} to refuse the manually banned client", interval=0.005)
    ttl = cluster.redis.command("PTTL", f"popgate:ban:{client}")
    assert 9 * 60 * 1000 < ttl <= 10 * 60 * 1000, ttl
    # An unban on another replica lifts it everywhere and in Redis.
    cluster.ctl(1, "unban", client)
    for i in range(REPLICAS):
        wait_until(lambda i=i: cluster.admitted(i, client), PROPAGATION_LIMIT,
                   f"replica r{i} to admit the unbanned client")
    assert cluster.redis.command("EXISTS", f"popgate:ban:{client}") == 0

    # A block for a time, and an address until unban, are shared too: in Redis as keys with
    # and without an expiry, refused by every replica, lifted everywhere by one unban.
    cluster.ctl(0, "ban", "127.0.0.16/30", "10m")
    cluster.ctl(0, "ban", "127.0.0.20")
    for i in range(REPLICAS):
        wait_until(lambda i=i: not cluster.admitted(i, "127.0.0.17")
                   and not cluster.admitted(i, "127.0.0.20"), PROPAGATION_LIMIT,
                   f"replica r{i} to refuse the banned block and address")
    ttl = cluster.redis.command("PTTL", "popgate:ban:127.0.0.16/30")
    assert 9 * 60 * 1000 < ttl <= 10 * 60 * 1000, ttl
    assert cluster.redis.command("PTTL", "popgate:ban:127.0.0.20") == -1
    assert "127.0.0.16/30" in cluster.ctl(2, "show", "bans")
    cluster.ctl(2, "unban", "127.0.0.16/30")
    cluster.ctl(1, "unban", "127.0.0.20")
    for i in range(REPLICAS):
        wait_until(lambda i=i: cluster.admitted(i, "127.0.0.17")
                   and cluster.admitted(i, "127.0.0.20"), PROPAGATION_LIMIT,
                   f"replica r{i} to admit the unbanned block and address")
    for key in ("popgate:ban:127.0.0.16/30", "popgate:ban:127.0.0.20"):
        assert cluster.redis.command("EXISTS", key) == 0, key
