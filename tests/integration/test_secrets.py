"""Passwords and AUTH data never appear in logs or metrics (SPEC section 4, Data): USER/PASS, AUTH
PLAIN (initial response and continuation) and AUTH LOGIN, successful and failed, at log levels
debug and info, in text and JSON logs. Each secret is distinctive, and so is its base64 form."""

import base64
import signal

import pytest

from popgate_fixtures import mail as mailgen
from popgate_fixtures.pop3client import RawPop3
from popgate_fixtures.scrape import fetch

USER_A = "secret-keeper-a"
USER_B = "secret-keeper-b"
# Passwords Dovecot accepts (USER_*_PASSWORD) and ones it refuses (WRONG_*).
USER_A_PASSWORD = "Qx7-userA-goodpass-91d2"
USER_B_PASSWORD = "Kv3-userB-goodpass-44e8"
WRONG_PASS = "Zr5-wrong-userpass-07c1"
WRONG_PLAIN = "Hn2-wrong-authplain-5b3e"


def b64(text):
    return base64.b64encode(text.encode()).decode()


PLAIN_OK = b64(f"\0{USER_A}\0{USER_A_PASSWORD}")
PLAIN_BAD = b64(f"\0{USER_B}\0{WRONG_PLAIN}")
LOGIN_PASSWORD = b64(USER_B_PASSWORD)

# Everything that must not leak: each password, plain and in base64, and the AUTH payloads.
SECRETS = [USER_A_PASSWORD, USER_B_PASSWORD, WRONG_PASS, WRONG_PLAIN,
           b64(USER_A_PASSWORD), b64(WRONG_PASS), b64(WRONG_PLAIN), LOGIN_PASSWORD,
           PLAIN_OK, PLAIN_BAD]


def greet(c):
    assert c.read_line().startswith(b"+OK")


def failed_user_pass(c):
    greet(c)
    assert c.command(f"USER {USER_A}").startswith(b"+OK")
    assert c.command(f"PASS {WRONG_PASS}").startswith(b"-ERR")
    assert c.command("QUIT").startswith(b"+OK")


def auth_plain_initial_response(c):
    greet(c)
    reply = c.command(f"AUTH PLAIN {PLAIN_OK}")
    assert reply.startswith(b"+OK"), reply
    assert c.command("STAT").startswith(b"+OK 1 ")
    assert c.command("QUIT").startswith(b"+OK")


def auth_plain_continuation_refused(c):
    greet(c)
    assert c.command("AUTH PLAIN").startswith(b"+")
    reply = c.command(PLAIN_BAD)
    assert reply.startswith(b"-ERR"), reply
    assert c.command("QUIT").startswith(b"+OK")


def auth_login(c):
    greet(c)
    assert c.command("AUTH LOGIN").startswith(b"+ ")
    assert c.command(b64(USER_B)).startswith(b"+ ")
    reply = c.command(LOGIN_PASSWORD)
    assert reply.startswith(b"+OK"), reply
    assert c.command("QUIT").startswith(b"+OK")


@pytest.mark.parametrize("log_format", ["text", "json"])
@pytest.mark.parametrize("log_level", ["debug", "info"])
def test_no_password_or_auth_data_in_logs_or_metrics(
        dovecot_factory, popgate_factory, client_ctx, log_level, log_format):
    d = dovecot_factory({
        USER_A: (USER_A_PASSWORD, [mailgen.message("a", ["for a"])]),
        USER_B: (USER_B_PASSWORD, []),
    })
    p = popgate_factory([(d.host, d.port)],
                        overrides={"server": {"log_level": log_level, "log_format": log_format}})

    for session in (failed_user_pass, auth_plain_initial_response,
                    auth_plain_continuation_refused, auth_login):
        with RawPop3("127.0.0.1", p.port, client_ctx) as c:
            session(c)
            c.read_until_eof()

    metrics = fetch(p.metrics_url)
    # Stop popgate ourselves, so that everything it logged, to the last line, is on disk.
    p.proc.send_signal(signal.SIGTERM)
    assert p.proc.wait(30) == 0
    log = p.stderr_text()
    assert USER_A in log and USER_B in log, \
        f"the session log lines name their users; is this popgate's log?\n{log}"

    leaks = [f"{where}: {secret!r}" for secret in SECRETS
             for where, text in (("log", log), ("metrics", metrics)) if secret in text]
    assert not leaks, "secrets leaked:\n" + "\n".join(leaks) + f"\n--- log\n{log}"
