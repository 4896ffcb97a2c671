"""forward_client = "xclient" (SPEC section 3): popgate tells the backend the real client address
with POP3 XCLIENT where the backend offers it: Dovecot does for its login_trusted_networks,
saying so in its greeting ("[XCLIENT]"). A backend that does not offer it gets nothing, and
the session goes on (its logs then show popgate's address)."""

import pytest

from popgate_fixtures import mail as mailgen
from popgate_fixtures.dovecot import Dovecot
from popgate_fixtures.logs import text_records
from popgate_fixtures.pop3client import RawPop3
from popgate_fixtures.wait import wait_until

from conftest import DEFAULT_USERS

ALICE_PASSWORD, ALICE_MESSAGES = DEFAULT_USERS["alice"]
CLIENT = "127.0.0.5"


def session_id_of_alice(popgate):
    """The session= field of popgate's "session ended" line for alice."""
    for r in text_records(popgate):
        if r.get("event") == "session" and r.get("user") == "alice":
            return r["session"]
    return None


@pytest.fixture(params=[True, False], ids=["trusted", "untrusted"])
def dovecot_trusting(request):
    """(dovecot, trusted): a Dovecot that offers XCLIENT to 127.0.0.1, or one that does not."""
    trusted = request.param
    d = Dovecot(DEFAULT_USERS,
                extra_config="login_trusted_networks = 127.0.0.1\n" if trusted else "")
    d.start()
    yield d, trusted
    d.cleanup()


def test_xclient_forwards_the_client_address_where_offered(popgate_factory, dovecot_trusting,
                                                           client_ctx):
    d, trusted = dovecot_trusting
    p = popgate_factory([(d.host, d.port)], overrides={"backend": [
        {"name": "legacy", "servers": [f"{d.host}:{d.port}"], "forward_client": "xclient"}]})
    with RawPop3("127.0.0.1", p.port, client_ctx, source=CLIENT) as c:
        c.login("alice", ALICE_PASSWORD)
        _, body = c.retr(1)
        assert body == mailgen.stuff(ALICE_MESSAGES[0])
        assert c.command("QUIT").startswith(b"+OK")

    assert d.login_address("alice") == (CLIENT if trusted else "127.0.0.1"), d.log_text()
    # XCLIENT SESSION=: Dovecot logs the session under popgate's id, so the two logs join.
    session = wait_until(lambda: session_id_of_alice(p), 10, "popgate's session line")
    dovecot_login = next(l for l in d.log_text().splitlines()
                         if "user=<alice>" in l and "rip=" in l)
    assert (f"session=<{session}>" in dovecot_login) == trusted, (session, dovecot_login)
    if not trusted:
        wait_until(lambda: "does not offer XCLIENT" in p.stderr_text(), 10,
                   "popgate's warning that XCLIENT is not offered")
