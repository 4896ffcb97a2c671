"""Shared session-ticket keys (SPEC section 5, `[tls] ticket_key_file`): two popgate replicas
reading the same key file resume each other's TLS sessions (TLS 1.2 and 1.3, Python's ssl
client with session reuse), popgate_tls_sessions_resumed_total on the second replica counts
it, a rotated file keeps old tickets working while new ones are sealed with the new key, and
without a file a ticket survives a reload."""

import os
import signal
import socket
import ssl
import subprocess

import pytest

from popgate_fixtures import toml_writer
from popgate_fixtures.popgate import Popgate, base_config, popgate_bin
from popgate_fixtures.scrape import scrape, wait_for_value
from popgate_fixtures.wait import wait_until

from conftest import DEFAULT_USERS, _failed

ALICE_PASSWORD = DEFAULT_USERS["alice"][0]
RESUMED = "popgate_tls_sessions_resumed_total"
RELOADS = "popgate_config_reloads_total"
VERSIONS = {"tls12": ssl.TLSVersion.TLSv1_2, "tls13": ssl.TLSVersion.TLSv1_3}


def tls_versions():
    """Both, or TLS 1.2 alone where popgate's mbedTLS (2.28) has no TLS 1.3."""
    version = subprocess.run([popgate_bin(), "--version"], capture_output=True, text=True,
                             timeout=30).stdout if os.access(popgate_bin(), os.X_OK) else ""
    return ["tls12"] if "TLS 1.3 not available" in version else ["tls12", "tls13"]


def new_ticket_key():
    """One key line, made the way an admin makes it."""
    out = subprocess.run([popgate_bin(), "--new-ticket-key"], check=True, capture_output=True,
                         text=True, timeout=30).stdout
    assert out.endswith("\n") and len(out.strip()) == 44, "want base64 of 32 bytes and a newline"
    return out


def write(path, text):
    # Written beside and renamed over, as a config management tool does: a reader never sees
    # half a file.
    with open(path + ".new", "w") as f:
        f.write(text)
    os.chmod(path + ".new", 0o600)
    os.replace(path + ".new", path)


def tls_context(cafile, version):
    ctx = ssl.create_default_context(cafile=cafile)
    ctx.minimum_version = ctx.maximum_version = VERSIONS[version]
    return ctx


def session_on(replica, ctx, session=None, fetch=False):
    """One POP3S session on replica: greeting, optionally a login and RETR 1, QUIT. Returns
    (whether TLS resumed, the session to offer next time)."""
    with socket.create_connection(("127.0.0.1", replica.port), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname="localhost", session=session) as s:
            f = s.makefile("rb")
            assert f.readline().startswith(b"+OK")
            if fetch:
                s.sendall(f"USER alice\r\nPASS {ALICE_PASSWORD}\r\nRETR 1\r\n".encode())
                assert f.readline().startswith(b"+OK")
                assert f.readline().startswith(b"+OK"), "login failed"
                assert f.readline().startswith(b"+OK"), "RETR failed"
                body = b""
                while not body.endswith(b"\r\n.\r\n"):
                    line = f.readline()
                    assert line, "connection ended inside RETR"
                    body += line
                assert b"Hello Alice" in body
            s.sendall(b"QUIT\r\n")
            assert f.readline().startswith(b"+OK")
            # TLS 1.3 tickets arrive after the handshake: s.session is complete by now.
            return s.session_reused, s.session


@pytest.fixture
def replicas(request, workdir, tls_material, dovecot):
    """make(name, tls={...}) starts one popgate in its own folder, in front of `dovecot`."""
    started = []

    def make(name, tls):
        folder = os.path.join(workdir, name)
        os.makedirs(folder, exist_ok=True)
        config = base_config([(dovecot.host, dovecot.port)], tls_material.cert, tls_material.key)
        config = toml_writer.merge(config, {"tls": tls})
        p = Popgate(folder, config)
        started.append(p)
        return p.start()

    yield make
    codes = [(p, p.stop()) for p in started]
    for p, rc in codes:
        if _failed(request) or rc not in (0, None):
            print(f"\n=== popgate output ({p.config_path})\n{p.stderr_text()}")
    assert all(rc in (0, None) for _, rc in codes), "a replica did not exit 0 after SIGTERM"


def reload_and_wait(replica):
    before = scrape(replica).value(RELOADS, result="success")
    replica.proc.send_signal(signal.SIGHUP)
    wait_for_value(replica, before + 1, RELOADS, result="success")


@pytest.mark.parametrize("version", tls_versions())
def test_a_ticket_from_replica_a_resumes_on_replica_b(replicas, workdir, tls_material, version):
    key_file = os.path.join(workdir, "tickets.key")
    write(key_file, new_ticket_key())
    a = replicas("a", {"ticket_key_file": key_file})
    b = replicas("b", {"ticket_key_file": key_file})
    ctx = tls_context(tls_material.cert, version)

    resumed, session = session_on(a, ctx)
    assert not resumed
    before = scrape(b).value(RESUMED)
    resumed, _ = session_on(b, ctx, session, fetch=True)
    assert resumed, "replica B did a full handshake for replica A's ticket"
    wait_for_value(b, before + 1, RESUMED)

    # Back and forth: every session after the first resumes on the other replica.
    rounds = 6
    hits = 0
    for i in range(rounds):
        resumed, session = session_on(a if i % 2 else b, ctx, session)
        hits += resumed
    assert hits == rounds


def test_a_replica_with_other_keys_does_a_full_handshake(replicas, workdir, tls_material):
    own, other = os.path.join(workdir, "own.key"), os.path.join(workdir, "other.key")
    write(own, new_ticket_key())
    write(other, new_ticket_key())
    a = replicas("a", {"ticket_key_file": own})
    b = replicas("b", {"ticket_key_file": other})
    ctx = tls_context(tls_material.cert, tls_versions()[-1])
    _, session = session_on(a, ctx)
    resumed, _ = session_on(b, ctx, session, fetch=True)
    assert not resumed
    assert scrape(b).value(RESUMED) == 0


def test_rotating_the_key_file_keeps_old_tickets_and_seals_new_ones_with_the_new_key(
        replicas, workdir, tls_material):
    key_file = os.path.join(workdir, "tickets.key")
    old_key, new_key = new_ticket_key(), new_ticket_key()
    write(key_file, "# oldest first, newest last\n" + old_key)
    p = replicas("a", {"ticket_key_file": key_file})
    ctx = tls_context(tls_material.cert, "tls12")
    _, old_session = session_on(p, ctx)

    # Step 1 of a rotation: add the new key, reload.
    write(key_file, old_key + new_key)
    reload_and_wait(p)
    resumed, _ = session_on(p, ctx, old_session)
    assert resumed, "a ticket sealed before the rotation no longer resumes"
    _, new_session = session_on(p, ctx)

    # Step 2, a lifetime later: drop the old key. No signal: popgate sees the file change.
    before = scrape(p).value(RELOADS, result="success")
    write(key_file, new_key)
    wait_for_value(p, before + 1, RELOADS, timeout=20.0, result="success")
    resumed, _ = session_on(p, ctx, new_session)
    assert resumed, "the ticket issued after the rotation was not sealed with the new key"
    resumed, _ = session_on(p, ctx, old_session)
    assert not resumed, "the dropped key still opens tickets"


@pytest.mark.parametrize("version", tls_versions())
def test_without_a_file_a_ticket_survives_a_reload(replicas, tls_material, version):
    p = replicas("a", {})
    ctx = tls_context(tls_material.cert, version)
    _, session = session_on(p, ctx)
    reload_and_wait(p)
    before = scrape(p).value(RESUMED)
    resumed, _ = session_on(p, ctx, session, fetch=True)
    assert resumed, "the reload replaced the ticket key"
    wait_for_value(p, before + 1, RESUMED)


def test_a_bad_key_file_is_refused_with_its_line(workdir, tls_material, dovecot):
    key_file = os.path.join(workdir, "tickets.key")
    write(key_file, new_ticket_key() + "c2VjcmV0\n")  # base64, but only 6 bytes
    config = toml_writer.merge(
        base_config([(dovecot.host, dovecot.port)], tls_material.cert, tls_material.key),
        {"tls": {"ticket_key_file": key_file}})
    path = os.path.join(workdir, "popgate.toml")
    with open(path, "w") as f:
        f.write(toml_writer.dumps(config))
    r = subprocess.run([popgate_bin(), "--check", "-c", path], capture_output=True, text=True,
                       timeout=30)
    assert r.returncode == 1
    line_no = next(i for i, l in enumerate(open(path), 1) if l.startswith("ticket_key_file"))
    assert f"{path}:{line_no}:" in r.stderr, r.stderr
    assert "tickets.key: line 2: not a ticket key" in r.stderr, r.stderr
    assert "c2VjcmV0" not in r.stderr, "the key file's content was printed"
