"""popgate's life cycle (SPEC sections 2 and 4): SIGHUP reloads a valid config without dropping a
session and refuses a broken one, renewed certificate files are picked up without a signal,
`--check` points at the certificate or key that is wrong, `--version` and `--help`, and SIGTERM
with nothing open exits 0 at once."""

import os
import re
import signal
import socket
import ssl
import subprocess
import time

from popgate_fixtures import toml_writer
from popgate_fixtures.certs import make_self_signed
from popgate_fixtures.pop3client import RawPop3, client_context
from popgate_fixtures.popgate import base_config, popgate_bin, sanitizer_env
from popgate_fixtures.ports import free_port
from popgate_fixtures.scrape import scrape, wait_for_value
from popgate_fixtures.wait import wait_until

from conftest import DEFAULT_USERS

ALICE_PASSWORD = DEFAULT_USERS["alice"][0]
RELOADS = "popgate_config_reloads_total"
EXPIRY = "popgate_certificate_expiry_timestamp_seconds"
NOOP_REFUSED = "-ERR [SYS/PERM] NOOP is off since the reload"


def not_after(cert_path):
    out = subprocess.run(["openssl", "x509", "-enddate", "-noout", "-in", cert_path],
                         check=True, capture_output=True, text=True).stdout.strip()
    return ssl.cert_time_to_seconds(out[len("notAfter="):])


def log_since(popgate, offset):
    return popgate.stderr_text()[offset:]


def error_lines(text):
    """Log lines at level error, in text (logfmt: "... level=error ...") or JSON
    ("level":"error") form."""
    return [l for l in text.splitlines()
            if re.search(r"(^|\s)level=error(\s|$)", l) or '"level":"error"' in l]


def reload(popgate, config=None, raw=None):
    """Writes the new config (a dict, or raw text) over popgate's and sends SIGHUP."""
    if raw is not None:
        with open(popgate.config_path, "w") as f:
            f.write(raw)
    else:
        popgate.config = config
        popgate.write_config()
    popgate.proc.send_signal(signal.SIGHUP)


def test_sighup_with_a_valid_changed_config_reloads_without_dropping_a_session(
        popgate, client_ctx):
    p = popgate
    old = RawPop3("127.0.0.1", p.port, client_ctx)
    try:
        old.login("alice", ALICE_PASSWORD)
        assert old.command("NOOP").startswith(b"+OK")
        before = scrape(p)

        changed = toml_writer.merge(p.config, {"policy": {
            "idle_timeout": "15m",
            "rule": [{"name": "archive-read-only", "commands": ["DELE"],
                      "users": ["archive-*"], "action": "deny",
                      "reply": "-ERR [SYS/PERM] deletion is disabled here"}]}})
        reload(p, changed)
        after = wait_for_value(p, before.value(RELOADS, result="success") + 1, RELOADS,
                               result="success")
        assert after.value(RELOADS, result="failure") == before.value(RELOADS, result="failure")

        # The session that was open across the reload goes on.
        _, body = old.retr(1)
        assert body.endswith(b"\r\n.\r\n")
        # A new session works.
        with RawPop3("127.0.0.1", p.port, client_ctx) as new:
            new.login("alice", ALICE_PASSWORD)
            assert new.command("STAT").startswith(b"+OK")
            assert new.command("QUIT").startswith(b"+OK")
        assert old.command("QUIT").startswith(b"+OK")
    finally:
        old.close()


def test_a_rule_added_by_sighup_applies_to_new_sessions(popgate, client_ctx):
    p = popgate
    before = scrape(p)
    changed = toml_writer.merge(p.config, {"policy": {
        "rule": [{"name": "no-noop", "commands": ["NOOP"], "users": ["alice"],
                  "action": "deny", "reply": NOOP_REFUSED}]}})
    reload(p, changed)
    wait_for_value(p, before.value(RELOADS, result="success") + 1, RELOADS, result="success")

    with RawPop3("127.0.0.1", p.port, client_ctx) as new:
        new.login("alice", ALICE_PASSWORD)
        reply = new.command("NOOP")
        assert reply.decode().rstrip("\r\n") == NOOP_REFUSED, reply
        # "deny" answers -ERR and the session goes on.
        assert new.command("STAT").startswith(b"+OK")
        assert new.command("QUIT").startswith(b"+OK")
    assert scrape(p).value("popgate_policy_decisions_total", rule="no-noop", action="deny") == 1


def test_sighup_with_a_broken_config_is_refused_and_popgate_keeps_serving(popgate, client_ctx):
    p = popgate
    old = RawPop3("127.0.0.1", p.port, client_ctx)
    try:
        old.login("alice", ALICE_PASSWORD)
        before = scrape(p)
        offset = len(p.stderr_text())
        good = toml_writer.dumps(p.config)
        reload(p, raw=good + '\n[policy]\nidle_timeout = "ten minutes or so"\n[server\n')
        after = wait_for_value(p, before.value(RELOADS, result="failure") + 1, RELOADS,
                               result="failure")
        assert after.value(RELOADS, result="success") == before.value(RELOADS, result="success")
        wait_until(lambda: error_lines(log_since(p, offset)), 5,
                   "an error line about the refused reload")

        assert old.command("STAT").startswith(b"+OK")
        with RawPop3("127.0.0.1", p.port, client_ctx) as new:
            new.login("alice", ALICE_PASSWORD)
            assert new.command("QUIT").startswith(b"+OK")
        assert old.command("QUIT").startswith(b"+OK")
    finally:
        old.close()
        # Put the good config back, so nothing after the test reads the broken one.
        p.write_config()


def peer_certificate(port, cafile):
    ctx = client_context(cafile)
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname="localhost") as s:
            return s.getpeercert(binary_form=True)


def test_renewed_certificate_files_are_picked_up_without_a_signal(popgate, tls_material):
    p = popgate
    old_expiry = not_after(tls_material.cert)
    assert scrape(p).series(EXPIRY) == [({"name": "localhost"}, old_expiry)]

    # A renewal as certbot or acme.sh does it: new key and certificate, each written beside
    # the live file and renamed over it. The new one lives longer, so notAfter differs.
    staging = os.path.join(tls_material.dir, "renewal")
    os.makedirs(staging)
    new_cert, new_key = make_self_signed(staging, "ecdsa", "ec", days=90)
    new_expiry = not_after(new_cert)
    assert new_expiry != old_expiry
    with open(new_cert) as f:
        new_der = ssl.PEM_cert_to_DER_cert(f.read())
    os.rename(new_key, tls_material.key)
    os.rename(new_cert, tls_material.cert)

    # popgate looks at its certificate files every 5 s.
    wait_for_value(p, new_expiry, EXPIRY, timeout=15, name="localhost")
    assert peer_certificate(p.port, tls_material.cert) == new_der
    with RawPop3("127.0.0.1", p.port, client_context(tls_material.cert)) as c:
        c.login("alice", ALICE_PASSWORD)
        assert c.command("QUIT").startswith(b"+OK")


def run_popgate(*args, timeout=60):
    return subprocess.run([popgate_bin(), *args], capture_output=True, text=True,
                          errors="replace", env=sanitizer_env(), timeout=timeout)


def write_config(workdir, cert, key):
    """A config (as base_config writes it) with these certificate files; returns its path and
    text lines."""
    text = toml_writer.dumps(base_config([("127.0.0.1", free_port())], cert, key))
    path = os.path.join(workdir, "check.toml")
    with open(path, "w") as f:
        f.write(text)
    return path, text.splitlines()


def line_of(lines, prefix):
    """1-based number of the one line starting with prefix."""
    found = [i + 1 for i, l in enumerate(lines) if l.startswith(prefix)]
    assert len(found) == 1, (prefix, lines)
    return found[0]


def check_errors(path, output):
    """[(line, column, message)] of each FILE:LINE:COL: message line naming path."""
    return [(int(m.group(1)), int(m.group(2)), m.group(3))
            for m in re.finditer(rf"^{re.escape(path)}:(\d+):(\d+): (.*)$", output, re.M)]


def test_check_accepts_a_valid_config(workdir, tls_material):
    path, _ = write_config(workdir, tls_material.cert, tls_material.key)
    r = run_popgate("-c", path, "--check")
    assert r.returncode == 0, r.stdout + r.stderr


def assert_check_points_at(workdir, cert, key, field):
    """`--check` on a config with these certificate and key paths fails with an error on the
    line that starts with `field`."""
    path, lines = write_config(workdir, cert, key)
    r = run_popgate("-c", path, "--check")
    output = r.stdout + r.stderr
    assert r.returncode == 1, output
    errors = check_errors(path, output)
    line = line_of(lines, field)
    assert [e for e in errors if e[0] == line], \
        f"no error at the {field.split()[0]} line ({path}:{line}):\n{output}"


def test_check_points_at_a_missing_certificate_file(workdir, tls_material):
    missing = os.path.join(workdir, "no-such-cert.pem")
    assert_check_points_at(workdir, missing, tls_material.key, "cert = ")


def test_check_points_at_a_key_that_does_not_match_its_certificate(workdir, tls_material):
    assert_check_points_at(workdir, tls_material.cert, tls_material.rsa_key, "key = ")


def test_version_names_mbedtls_and_libuv():
    r = run_popgate("--version")
    assert r.returncode == 0, r.stdout + r.stderr
    assert re.search(r"popgate \d+\.\d+\.\d+", r.stdout), r.stdout
    assert re.search(r"mbed ?TLS \d+\.\d+\.\d+", r.stdout, re.IGNORECASE), r.stdout
    assert re.search(r"libuv \d+\.\d+\.\d+", r.stdout), r.stdout


def test_help_exits_0():
    r = run_popgate("--help")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "--check" in r.stdout and "--version" in r.stdout, r.stdout


def test_sigterm_with_no_session_exits_0_at_once(popgate_factory, dovecot):
    # A long grace: popgate must not wait it out when no session is open.
    p = popgate_factory([(dovecot.host, dovecot.port)],
                        overrides={"server": {"shutdown_grace": "60s"}})
    wait_for_value(p, 0, "popgate_sessions_active", listener="pop3s")  # the readiness probe
    started = time.monotonic()
    p.proc.send_signal(signal.SIGTERM)
    assert p.proc.wait(10) == 0
    assert time.monotonic() - started < 5
