"""Certificate renewal when popgate drops root ([server] user), as certbot lays files out.

The first load happens as root, every later one as the run user, so certbot's 0700 live/ and
archive/ directories work at start and break the first renewal 60 days later. `--check` run as
root reads every file as the run user and names the one it cannot read. With the files copied
by conf/deploy-hook (root:GROUP, 0640) and the run user in GROUP as a supplementary group only
(as `adduser popgate ssl-cert` does), popgate starts, drops privileges keeping that group, and
loads a renewed certificate by itself.

Needs root: the test makes a throwaway system user and group and removes them afterwards."""

import os
import re
import ssl
import subprocess

import pytest

from popgate_fixtures import toml_writer
from popgate_fixtures.certs import make_self_signed
from popgate_fixtures.pop3client import RawPop3, client_context
from popgate_fixtures.popgate import base_config, popgate_bin, sanitizer_env
from popgate_fixtures.scrape import wait_for_value

from conftest import DEFAULT_USERS
from test_lifecycle import not_after, peer_certificate

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to create a user")

ALICE_PASSWORD = DEFAULT_USERS["alice"][0]
EXPIRY = "popgate_certificate_expiry_timestamp_seconds"
DEPLOY_HOOK = os.path.join(
    os.environ.get("POPGATE_SOURCE_DIR",
                   os.path.normpath(os.path.join(os.path.dirname(__file__), "..", ".."))),
    "conf", "deploy-hook")


@pytest.fixture
def run_user():
    """(user, group): a system user whose only tie to the group is a supplementary membership,
    like `adduser popgate ssl-cert`. Both are removed at teardown."""
    tag = f"{os.getpid() % 100000}"
    user, group = f"pgtest{tag}", f"pgcert{tag}"
    subprocess.run(["groupadd", "--system", group], check=True, capture_output=True)
    try:
        subprocess.run(["useradd", "--system", "--no-create-home", "--user-group",
                        "--shell", "/usr/sbin/nologin", "--groups", group, user],
                       check=True, capture_output=True)
        try:
            yield user, group
        finally:
            subprocess.run(["userdel", user], capture_output=True)
    finally:
        subprocess.run(["groupdel", group], capture_output=True)


def certbot_lineage(root, name, days):
    """A certbot-like layout under root: archive/NAME/{fullchain1,privkey1}.pem and live/NAME
    with symlinks, directories 0700 and the key 0600, all owned by root. Returns live/NAME."""
    archive = os.path.join(root, "archive", name)
    live = os.path.join(root, "live", name)
    for d in (root, os.path.dirname(archive), archive, os.path.dirname(live), live):
        os.makedirs(d, exist_ok=True)
        os.chmod(d, 0o700)
    renew_lineage(live, days, 1)
    return live


def renew_lineage(live, days, version):
    """certbot's renewal: new files in archive/, then the live/ links are switched."""
    archive = os.path.join(os.path.dirname(os.path.dirname(live)), "archive",
                           os.path.basename(live))
    cert, key = make_self_signed(archive, f"v{version}", "ec", days=days)
    for src, link in ((cert, "fullchain.pem"), (key, "privkey.pem")):
        final = os.path.join(archive, f"{link[:-4]}{version}.pem")
        os.rename(src, final)
        tmp = os.path.join(live, f".{link}")
        os.symlink(os.path.relpath(final, live), tmp)
        os.replace(tmp, os.path.join(live, link))


def deploy(live, tls_dir, group):
    """conf/deploy-hook as certbot runs it (RENEWED_LINEAGE set)."""
    env = {**os.environ, "RENEWED_LINEAGE": live, "POPGATE_TLS_DIR": tls_dir,
           "POPGATE_GROUP": group}
    r = subprocess.run([DEPLOY_HOOK], env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def config_for(workdir, dovecot, cert, key, user):
    config = base_config([(dovecot.host, dovecot.port)], cert, key)
    config["server"]["user"] = user
    return config


def write(workdir, config):
    path = os.path.join(workdir, "popgate.toml")
    with open(path, "w") as f:
        f.write(toml_writer.dumps(config))
    os.chmod(path, 0o644)  # the run user re-reads it on every reload
    return path


def check(path):
    return subprocess.run([popgate_bin(), "-c", path, "--check"], capture_output=True,
                          text=True, env=sanitizer_env(), timeout=60)


def test_check_names_the_file_the_run_user_cannot_read(workdir, dovecot, run_user):
    user, _ = run_user
    live = certbot_lineage(os.path.join(workdir, "letsencrypt"), "pop.example.com", 90)
    path = write(workdir, config_for(workdir, dovecot, os.path.join(live, "fullchain.pem"),
                                     os.path.join(live, "privkey.pem"), user))
    r = check(path)
    out = r.stdout + r.stderr
    assert r.returncode == 1, out
    # Both files, each on its own FILE:LINE:COL line, naming the user and the closed directory.
    for key, file in (("cert", "fullchain.pem"), ("key", "privkey.pem")):
        m = re.search(rf"^{re.escape(path)}:\d+:\d+: \[server\] user '{user}' cannot read {key} "
                      rf"file {re.escape(os.path.join(live, file))} \(Permission denied: "
                      rf"{re.escape(os.path.join(workdir, 'letsencrypt'))} is not searchable\)"
                      r".*deploy-hook", out, re.M)
        assert m, out
    assert "configuration is valid" not in out


def test_deploy_hook_copies_let_popgate_start_drop_root_and_load_a_renewal(
        workdir, dovecot, run_user, popgate_factory):
    user, group = run_user
    live = certbot_lineage(os.path.join(workdir, "letsencrypt"), "pop.example.com", 30)
    tls_dir = os.path.join(workdir, "popgate-tls")
    deploy(live, tls_dir, group)
    assert oct(os.stat(tls_dir).st_mode & 0o777) == "0o750"
    cert = os.path.join(tls_dir, "pop.example.com.crt")
    key = os.path.join(tls_dir, "pop.example.com.key")
    assert oct(os.stat(key).st_mode & 0o777) == "0o640"

    config = config_for(workdir, dovecot, cert, key, user)
    r = check(write(workdir, config))
    assert r.returncode == 0, r.stdout + r.stderr

    p = popgate_factory(None, config=config)
    with open(f"/proc/{p.proc.pid}/status") as f:
        status = dict(line.rstrip("\n").split(":\t", 1) for line in f if ":\t" in line)
    uid = int(subprocess.run(["id", "-u", user], capture_output=True, text=True).stdout)
    gid = int(subprocess.run(["getent", "group", group], capture_output=True,
                             text=True).stdout.split(":")[2])
    assert status["Uid"].split() == [str(uid)] * 4, status["Uid"]
    assert str(gid) in status["Groups"].split(), status["Groups"]
    assert "cannot read this file" not in p.stderr_text(), p.stderr_text()

    # The renewal: certbot writes a longer-lived certificate and runs the deploy hook; popgate,
    # now running as the user, notices the files (it looks every 5 s) with no signal.
    old_expiry = not_after(cert)
    renew_lineage(live, 90, 2)
    deploy(live, tls_dir, group)
    new_expiry = not_after(cert)
    assert new_expiry != old_expiry
    wait_for_value(p, new_expiry, EXPIRY, timeout=20, name="localhost")
    assert wait_for_value(p, 1, "popgate_config_last_reload_successful")
    with open(cert) as f:
        want = ssl.PEM_cert_to_DER_cert(f.read())
    assert peer_certificate(p.port, cert) == want
    with RawPop3("127.0.0.1", p.port, client_context(cert)) as c:
        c.login("alice", ALICE_PASSWORD)
        assert c.command("QUIT").startswith(b"+OK")
