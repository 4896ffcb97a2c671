"""popgate's log as an operator reads it (README "Log fields"): every line of a session carries
its session id; the session-end line says how the client logged in, what it fetched and deleted,
and how long TLS and the backend took; text lines are logfmt and JSON lines stay valid UTF-8;
under journald lines carry a syslog priority instead of a timestamp; TCP probes are counted
but not logged unless asked."""

import json
import re
import socket

from popgate_fixtures import mail as mailgen
from popgate_fixtures.logs import json_records, parse_logfmt, text_records
from popgate_fixtures.ports import closed_port
from popgate_fixtures.pop3client import RawPop3
from popgate_fixtures.scrape import scrape, wait_for_value
from popgate_fixtures.wait import wait_until

from conftest import DEFAULT_USERS

ALICE_PASSWORD, ALICE_MESSAGES = DEFAULT_USERS["alice"]


def records_where(records, **want):
    return [r for r in records if all(r.get(k) == v for k, v in want.items())]


def session_of(popgate, reader=text_records, **want):
    """The one "session ended" record matching want, waiting for it (the line is written when
    the session's last handle closes, which may be just after the client saw the end)."""
    def find():
        found = records_where(reader(popgate), event="session", **want)
        assert len(found) <= 1, found
        return found[0] if found else None
    return wait_until(find, 10, f"a session line with {want}")


def test_session_id_ties_the_policy_line_to_its_session_line(popgate_factory, dovecot,
                                                            client_ctx):
    p = popgate_factory([(dovecot.host, dovecot.port)], overrides={"policy": {"rule": [
        {"name": "no-dele", "commands": ["DELE"], "action": "deny"}]}})
    with RawPop3("127.0.0.1", p.port, client_ctx) as c:  # an earlier session of alice's
        c.login("alice", ALICE_PASSWORD)
        assert c.command("QUIT").startswith(b"+OK")
    first = session_of(p, user="alice")
    with RawPop3("127.0.0.1", p.port, client_ctx) as c:
        client = f"127.0.0.1:{c.sock.getsockname()[1]}"
        c.login("alice", ALICE_PASSWORD)
        assert c.command("DELE 1").startswith(b"-ERR")
        assert c.command("QUIT").startswith(b"+OK")
    second = session_of(p, client=client)

    policy = records_where(text_records(p), event="policy")
    assert len(policy) == 1, policy
    print("\n", policy[0], "\n", second)
    assert policy[0]["session"] == second["session"] != first["session"]
    assert re.fullmatch(r"[a-z2-9]{8}-\d+", second["session"]), second["session"]
    # Every line popgate wrote is logfmt (parse_logfmt raises otherwise) with ts, level, event.
    for r in text_records(p):
        assert {"ts", "level", "event", "msg"} <= r.keys(), r


def test_session_line_fields(popgate_factory, dovecot, client_ctx):
    # The first server refuses connections: the session line says two were tried.
    down = closed_port()
    p = popgate_factory([("127.0.0.1", down), (dovecot.host, dovecot.port)])
    with RawPop3("127.0.0.1", p.port, client_ctx) as c:
        assert c.read_line().startswith(b"+OK")  # the greeting
        assert c.command("USER alice").startswith(b"+OK")
        assert c.command("PASS wrong-password").startswith(b"-ERR")
        assert c.command("USER alice").startswith(b"+OK")
        assert c.command(f"PASS {ALICE_PASSWORD}").startswith(b"+OK")
        status, body = c.retr(1)
        assert status.startswith(b"+OK")
        assert c.command("DELE 2").startswith(b"+OK")
        assert c.command("RSET").startswith(b"+OK")
        assert c.command("DELE 1").startswith(b"+OK")
        c.abort()  # no QUIT: the DELE is not committed, and the line says end=client_closed
    r = session_of(p, user="alice")
    print("\n", r)
    assert r["auth"] == "USER"
    assert r["auth_failures"] == "1"
    # The message as relayed, byte-stuffed, without the terminating ".\r\n".
    assert r["retr"] == "1" and r["retr_bytes"] == str(len(body) - 3), (r, len(body))
    assert r["dele"] == "1", "RSET unmarked the first DELE"
    assert r["sni"] == "localhost"
    assert r["local"] == f"127.0.0.1:{p.port}"
    assert r["servers_tried"] == "2" and r["server"] == f"{dovecot.host}:{dovecot.port}"
    assert int(r["handshake_ms"]) >= 0 and int(r["connect_ms"]) >= 0
    assert r["end"] == "client_closed"
    assert "balancer" not in r, "no PROXY header on this listener"
    assert ALICE_PASSWORD not in p.stderr_text() and "wrong-password" not in p.stderr_text()


def test_utf8_user_names_stay_intact_in_json(popgate_factory, dovecot, client_ctx):
    p = popgate_factory([(dovecot.host, dovecot.port)],
                        overrides={"server": {"log_format": "json"}})
    for name in ("jürgen".encode(), b"j\xfcrgen"):  # UTF-8, then Latin-1 (not UTF-8)
        with RawPop3("127.0.0.1", p.port, client_ctx) as c:
            assert c.read_line().startswith(b"+OK")  # the greeting
            c.send(b"USER " + name + b"\r\n")
            assert c.read_line().startswith(b"+OK")
            assert c.command("PASS nope").startswith(b"-ERR")
            assert c.command("QUIT").startswith(b"+OK")
    # json.loads would raise on invalid UTF-8 or a bad escape; every line must parse.
    raw = open(p.stderr_path, "rb").read()
    raw.decode("utf-8")  # strict: every byte popgate wrote is UTF-8
    assert b"\\x" not in raw
    assert session_of(p, json_records, user="jürgen")["auth_failures"] == 1
    assert session_of(p, json_records, user="j\ufffdrgen")["auth_failures"] == 1


def test_journald_lines_carry_priorities_and_no_timestamp(popgate_factory, dovecot, client_ctx):
    p = popgate_factory([("127.0.0.1", closed_port())], journal=True)
    with RawPop3("127.0.0.1", p.port, client_ctx) as c:
        assert c.read_line().startswith(b"-ERR [SYS/TEMP]")  # the backend is down: a warning
    wait_until(lambda: records_where(text_records(p), event="session"), 10, "the session line")
    lines = [l for l in p.stderr_text().splitlines() if "level=" in l]
    print("\n" + "\n".join(lines))
    assert lines and all(re.match(r"^<[3467]>level=", l) for l in lines), lines
    records = text_records(p)
    assert not [r for r in records if "ts" in r], "journald stamps lines itself"
    backend = records_where(records, event="backend")[0]
    assert backend["priority"] == 4 and backend["level"] == "warn"
    session = records_where(records, event="session")[0]
    assert session["priority"] == 6 and session["session"] == backend["session"]


def connect_and_close(port):
    """A TCP probe: connect, send nothing, close. Returns its client address."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        return f"127.0.0.1:{s.getsockname()[1]}"


def counted_so_far(popgate):
    """popgate_connections_total once the start's readiness check (one connection to each
    listener, popgate_fixtures/popgate.py) is counted: a count taken earlier may miss it."""
    return wait_until(lambda: scrape(popgate).value("popgate_connections_total", listener="pop3s"),
                      10, "the readiness check to be counted")


def test_empty_connections_are_counted_but_not_logged_by_default(popgate_factory, dovecot,
                                                                 client_ctx):
    p = popgate_factory([(dovecot.host, dovecot.port)])
    before = counted_so_far(p)
    probe = connect_and_close(p.port)
    wait_for_value(p, before + 1, "popgate_connections_total", listener="pop3s")
    wait_for_value(p, 0, "popgate_sessions_active", listener="pop3s")
    # A real session after it on the same (single) worker: once its line is there, the probe's
    # would have been written before it.
    with RawPop3("127.0.0.1", p.port, client_ctx) as c:
        c.login("alice", ALICE_PASSWORD)
        assert c.command("QUIT").startswith(b"+OK")
    session_of(p, user="alice")
    assert not records_where(text_records(p), event="session", client=probe), p.stderr_text()


def test_empty_connections_are_logged_when_asked(popgate_factory, dovecot):
    p = popgate_factory([(dovecot.host, dovecot.port)],
                        overrides={"server": {"log_empty_sessions": True}})
    probe = connect_and_close(p.port)
    r = session_of(p, client=probe)
    assert r["bytes_in"] == "0" and r["end"] in ("client_closed", "client_error"), r

    # Every connection so far, the probe and the start's own readiness check alike, is counted
    # once and logged once (the readiness check may still be on its way when the test begins,
    # so no count is taken before the probe).
    def counted_as_logged():
        counted = scrape(p).value("popgate_connections_total", listener="pop3s")
        logged = len(records_where(text_records(p), event="session"))
        return (counted, logged) if counted == logged else None
    wait_until(counted_as_logged, 10, "every connection counted and logged")


def test_a_failed_handshake_is_logged_at_info_with_its_session(popgate_factory, dovecot):
    p = popgate_factory([(dovecot.host, dovecot.port)])
    with socket.create_connection(("127.0.0.1", p.port), timeout=5) as s:
        client = f"127.0.0.1:{s.getsockname()[1]}"
        s.sendall(b"GET / HTTP/1.0\r\n\r\n")  # not a ClientHello
        s.settimeout(5)
        try:
            while s.recv(4096):
                pass  # mbedTLS's alert, then the close
        except ConnectionResetError:
            pass
    ended = session_of(p, client=client)
    assert ended["end"] == "tls_error", ended
    failed = records_where(text_records(p), event="tls", client=client)
    assert len(failed) == 1, text_records(p)
    assert failed[0]["level"] == "info" and failed[0]["msg"] == "handshake failed"
    assert failed[0]["session"] == ended["session"] and failed[0]["error"], failed[0]


def test_a_denied_address_reconnecting_gets_a_sample_of_reject_lines(popgate_factory, dovecot):
    """Every refusal is counted; the log shows at most 20 per 10 s per event loop."""
    p = popgate_factory([(dovecot.host, dovecot.port)],
                        overrides={"policy": {"access": {"deny": ["127.0.0.0/8"]}}})
    for _ in range(30):
        with socket.create_connection(("127.0.0.1", p.port), timeout=5) as s:
            s.settimeout(5)
            while s.recv(4096):  # refused before TLS: closed at once
                pass
    # 31: the start's readiness probe comes from 127.0.0.1 too.
    wait_for_value(p, 31, "popgate_rejected_connections_total", reason="access_denied")
    lines = [r for r in text_records(p) if r.get("event") == "reject"]
    # 20 in a 10 s window; a slow machine may open a second window before the flood ends.
    assert 20 <= len(lines) < 31, len(lines)
    assert all(r["reason"] == "access_denied" for r in lines), lines
