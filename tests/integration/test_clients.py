"""Real mail clients fetch whole mailboxes through popgate, over STLS and implicit TLS, with
the certificate checked: mpop and fetchmail deliver every message, through a delivery script
that writes each one to its own file, byte for byte what Dovecot holds."""

import os

import pytest

from popgate_fixtures import mail as mailgen
from popgate_fixtures.clients import (assert_delivered_intact, delivered_messages, describe,
                                      make_delivery_script, run_client, write_file)

PASSWORD = "frank-secret"
MESSAGES = [
    mailgen.message("first", ["Hello Frank,", "", "a plain first message."]),
    mailgen.dot_message(),
    mailgen.message("long line", ["y" * 998, "", "From the start of a line", ">From quoted"]),
    mailgen.big_message(size=2 * 1024 * 1024),
    mailgen.message("last", ["the end"]),
]


@pytest.fixture
def mailbox(dovecot_factory):
    return dovecot_factory({"frank": (PASSWORD, MESSAGES)})


@pytest.fixture
def gate(popgate_factory, mailbox):
    return popgate_factory([(mailbox.host, mailbox.port)], starttls=True)


def mailbox_count(dovecot):
    """Messages left in the Maildir: the clients ran with keep, so none may be gone."""
    maildir = dovecot.maildir("frank")
    return sum(len(os.listdir(os.path.join(maildir, sub))) for sub in ("cur", "new"))


@pytest.mark.parametrize("starttls", [True, False], ids=["STLS", "implicit TLS"])
@pytest.mark.parametrize("auth", ["user", "plain"])
def test_mpop_fetches_the_mailbox(gate, mailbox, workdir, tls_material, starttls, auth):
    script, out = make_delivery_script(workdir)
    port = gate.starttls_port if starttls else gate.port
    result = run_client([
        "mpop", "--host=127.0.0.1", f"--port={port}", "--timeout=30",
        "--tls=on", f"--tls-starttls={'on' if starttls else 'off'}",
        f"--tls-trust-file={tls_material.cert}", "--tls-certcheck=on",
        f"--auth={auth}", "--user=frank", f"--passwordeval=echo {PASSWORD}",
        "--keep=on", "--only-new=off", "--received-header=off",
        f"--uidls-file={os.path.join(workdir, 'mpop-uidls')}",
        f"--delivery=mda,{script}",
    ], env={**os.environ, "HOME": workdir})
    assert result.returncode == 0, describe(result)
    assert_delivered_intact(delivered_messages(out), MESSAGES, "mpop")
    assert mailbox_count(mailbox) == len(MESSAGES)


def fetchmailrc(workdir, port, tls_material, script, implicit):
    tls = "ssl" if implicit else "sslproto 'tls1.2+'"  # the latter: STLS, required
    return write_file(os.path.join(workdir, "fetchmailrc"), f"""\
set no bouncemail
poll localhost port {port} protocol pop3 timeout 30
    user "frank" there with password "{PASSWORD}" is "root" here
    options {tls} sslcertfile "{tls_material.cert}" sslcertck keep fetchall
    mda "{script}"
""", mode=0o600)


@pytest.mark.parametrize("implicit", [True, False], ids=["implicit TLS", "STLS"])
def test_fetchmail_fetches_the_mailbox(gate, mailbox, workdir, tls_material, implicit):
    script, out = make_delivery_script(workdir)
    port = gate.port if implicit else gate.starttls_port
    rc = fetchmailrc(workdir, port, tls_material, script, implicit)
    result = run_client([
        "fetchmail", "-f", rc, "--nosyslog", "-v", "--nodetach",
        "--pidfile", os.path.join(workdir, "fetchmail.pid"),
        "--idfile", os.path.join(workdir, "fetchmail.ids"),
    ], env={**os.environ, "HOME": workdir})
    # fetchmail exits 0 when it retrieved mail (1 would mean "no mail").
    assert result.returncode == 0, describe(result)
    assert_delivered_intact(delivered_messages(out), MESSAGES, "fetchmail")
    assert mailbox_count(mailbox) == len(MESSAGES)
    log = result.stdout.decode(errors="replace") + result.stderr.decode(errors="replace")
    assert f"{len(MESSAGES)} messages for frank" in log, log
    if not implicit:
        assert "STLS" in log, log
