"""The admin socket and `popgate ctl` (SPEC section 5): an operator lists sessions, kicks one,
bans and unbans an address, takes a backend server out of rotation, all on a running gateway
without a restart; plus [policy.ban] exempt. Checked as the operator would: ctl's output and
exit status, what the POP3 client gets, what Dovecot kept, the metrics."""

import json
import os
import signal
import socket
import ssl
import stat
import subprocess

import pytest

from popgate_fixtures import toml_writer
from popgate_fixtures.popgate import popgate_bin
from popgate_fixtures.pop3client import RawPop3
from popgate_fixtures.scrape import scrape, wait_for_value
from popgate_fixtures.wait import wait_until

from conftest import DEFAULT_USERS

ALICE = DEFAULT_USERS["alice"][0]
KICKED = b"-ERR [SYS/TEMP] session ended by the administrator\r\n"


def admin_gateway(popgate_factory, workdir, servers, overrides=None):
    sock = os.path.join(workdir, "admin.sock")
    cfg = {"admin": {"socket": sock}}
    cfg.update(overrides or {})
    return popgate_factory(servers, overrides=cfg), sock


def ctl(sock, *words, json_out=False):
    """`popgate ctl -s SOCK [--json] WORDS...`: (exit status, stdout, stderr)."""
    args = [popgate_bin(), "ctl", "-s", sock] + (["--json"] if json_out else []) + list(words)
    r = subprocess.run(args, capture_output=True, text=True, timeout=30)
    return r.returncode, r.stdout, r.stderr


def ctl_json(sock, *words):
    rc, out, err = ctl(sock, *words, json_out=True)
    reply = json.loads(out)
    assert reply["ok"] == (rc == 0), (rc, out, err)
    return reply


def sessions(sock):
    return ctl_json(sock, "show", "sessions")["sessions"]


def refused(port, ctx, source):
    """True when a connection from `source` is closed before any TLS: a ban or access list."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=5, source_address=(source, 0))
    try:
        ctx.wrap_socket(sock, server_hostname="localhost").recv(10)
    except (ssl.SSLError, ConnectionError, OSError):
        return True
    finally:
        sock.close()
    return False


def test_show_sessions_lists_a_logged_in_session(popgate_factory, workdir, dovecot, client_ctx):
    p, sock = admin_gateway(popgate_factory, workdir, [(dovecot.host, dovecot.port)])
    assert stat.S_IMODE(os.stat(sock).st_mode) == 0o660  # [admin] mode's default
    with RawPop3("127.0.0.1", p.port, client_ctx, source="127.0.0.4") as c:
        c.login("alice", ALICE)
        rows = wait_until(lambda: [s for s in sessions(sock) if s["user"] == "alice"], 10,
                          "alice in show sessions")
        s = rows[0]
        assert s["client"].startswith("127.0.0.4:")
        assert s["listener"] == "pop3s"
        assert s["server"] == f"{dovecot.host}:{dovecot.port}"
        assert s["backend"] == "legacy"
        assert s["state"] == "transaction"
        assert s["tls"].startswith("TLSv1.")
        assert s["bytes_in"] > 0 and s["bytes_out"] > 0 and s["id"]
        rc, out, _ = ctl(sock, "show", "sessions")
        assert rc == 0
        header, row = out.splitlines()[1], next(l for l in out.splitlines() if "alice" in l)
        assert header.split() == ["ID", "CLIENT", "LISTENER", "USER", "TLS", "BACKEND", "SERVER",
                                  "STATE", "AGE_S", "BYTES_IN", "BYTES_OUT"]
        assert row.split()[0] == s["id"] and f"{dovecot.host}:{dovecot.port}" in row
        assert c.command("QUIT").startswith(b"+OK")
    wait_until(lambda: not sessions(sock), 10, "the session to leave show sessions")


def test_kick_user_ends_the_session_and_commits_no_dele(popgate_factory, workdir, dovecot,
                                                        client_ctx):
    p, sock = admin_gateway(popgate_factory, workdir, [(dovecot.host, dovecot.port)])
    messages = DEFAULT_USERS["alice"][1]
    c = RawPop3("127.0.0.1", p.port, client_ctx)
    c.login("alice", ALICE)
    assert c.command("DELE 1").startswith(b"+OK")
    rc, out, err = ctl(sock, "kick", "user", "alice")
    assert rc == 0, err
    assert out.startswith("kicked 1 session of user alice"), out
    assert c.read_line() == KICKED
    assert c.read_until_eof() == b""
    c.close()
    ended = wait_until(lambda: dovecot.disconnects("alice"), 15, "Dovecot to log the end")
    assert "Logged out" not in ended[0], ended[0]  # no QUIT reached Dovecot: nothing expunged
    with RawPop3("127.0.0.1", p.port, client_ctx) as again:
        again.login("alice", ALICE)
        assert again.command("STAT").startswith(b"+OK %d " % len(messages))
        assert again.command("QUIT").startswith(b"+OK")
    assert "end=admin_kick" in p.stderr_text() or '"end":"admin_kick"' in p.stderr_text()
    # Kicking what is not there is an error, with exit status 1.
    rc, _, err = ctl(sock, "kick", "user", "nobody")
    assert rc == 1 and "no open session of user nobody" in err
    m = scrape(p)
    assert m.value("popgate_admin_commands_total", command="kick_user") == 2


def test_kick_session_and_client(popgate_factory, workdir, dovecot, client_ctx):
    p, sock = admin_gateway(popgate_factory, workdir, [(dovecot.host, dovecot.port)])
    a = RawPop3("127.0.0.1", p.port, client_ctx, source="127.0.0.8")
    a.login("alice", ALICE)
    b = RawPop3("127.0.0.1", p.port, client_ctx, source="127.0.0.9")
    b.login("bob", DEFAULT_USERS["bob"][0])
    rows = wait_until(lambda: len(sessions(sock)) == 2 and sessions(sock), 10, "two sessions")
    alice_id = next(s["id"] for s in rows if s["user"] == "alice")
    reply = ctl_json(sock, "kick", "session", alice_id)
    assert [s["user"] for s in reply["sessions"]] == ["alice"]
    assert a.read_line() == KICKED
    assert ctl(sock, "kick", "client", "127.0.0.9")[0] == 0
    assert b.read_line() == KICKED
    a.close()
    b.close()
    wait_until(lambda: not sessions(sock), 10, "both sessions gone")


def test_ban_and_unban_take_effect_at_once(popgate_factory, workdir, dovecot, client_ctx):
    p, sock = admin_gateway(popgate_factory, workdir, [(dovecot.host, dovecot.port)])
    assert not refused(p.port, client_ctx, "127.0.0.5")
    rc, out, _ = ctl(sock, "ban", "127.0.0.5")
    assert rc == 0 and "127.0.0.5 banned until unban" in out, out
    assert refused(p.port, client_ctx, "127.0.0.5")
    assert not refused(p.port, client_ctx, "127.0.0.6")
    assert ctl(sock, "ban", "127.0.1.0/24", "1h")[0] == 0
    assert refused(p.port, client_ctx, "127.0.1.77")
    bans = {b["block"]: b for b in ctl_json(sock, "show", "bans")["bans"]}
    assert bans["127.0.0.5"]["source"] == "manual" and bans["127.0.0.5"]["expires_in_s"] is None
    assert 3590 <= bans["127.0.1.0/24"]["expires_in_s"] <= 3600
    m = scrape(p)
    assert m.value("popgate_bans_active") == 2
    assert m.value("popgate_admin_commands_total", command="ban") == 2
    assert ctl(sock, "unban", "127.0.0.5")[0] == 0
    assert not refused(p.port, client_ctx, "127.0.0.5")
    rc, _, err = ctl(sock, "unban", "127.0.0.5")
    assert rc == 1 and "no ban of 127.0.0.5" in err
    with RawPop3("127.0.0.1", p.port, client_ctx, source="127.0.0.5") as c:
        c.login("alice", ALICE)
        assert c.command("QUIT").startswith(b"+OK")
    log = p.stderr_text()
    assert "admin command done" in log and "127.0.0.5 banned until unban" in log


def test_disable_server_sends_new_sessions_to_the_next_while_open_ones_finish(
        popgate_factory, workdir, dovecot_factory, client_ctx):
    first = dovecot_factory(DEFAULT_USERS)
    second = dovecot_factory(DEFAULT_USERS)
    s1, s2 = f"{first.host}:{first.port}", f"{second.host}:{second.port}"
    p, sock = admin_gateway(popgate_factory, workdir,
                            [(first.host, first.port), (second.host, second.port)])
    open_one = RawPop3("127.0.0.1", p.port, client_ctx)
    open_one.login("alice", ALICE)
    assert sessions(sock)[0]["server"] == s1
    rc, out, _ = ctl(sock, "disable", "server", "legacy", s1)
    assert rc == 0 and "disabled" in out
    with RawPop3("127.0.0.1", p.port, client_ctx) as new:
        new.login("bob", DEFAULT_USERS["bob"][0])
        servers = {s["user"]: s["server"] for s in sessions(sock)}
        assert servers == {"alice": s1, "bob": s2}
        rows = {r["server"]: r for r in ctl_json(sock, "show", "servers")["servers"]}
        assert rows[s1]["disabled"] is True and rows[s1]["sessions"] == 1
        assert rows[s2]["disabled"] is False and rows[s2]["sessions"] == 1
        assert rows[s1]["up"] is True and rows[s2]["up"] is True
        assert new.command("QUIT").startswith(b"+OK")
    # The open session on the disabled server goes on to the end.
    open_one.retr(1)
    assert open_one.command("QUIT").startswith(b"+OK")
    open_one.close()
    # A reload keeps the server disabled (and a manual ban in force).
    assert ctl(sock, "ban", "127.0.0.11")[0] == 0
    p.write_config()
    p.proc.send_signal(signal.SIGHUP)
    wait_until(lambda: ctl_json(sock, "show", "info")["config_generation"] == 2, 10,
               "the reload")
    info = ctl_json(sock, "show", "info")
    assert info["last_reload_result"] == "applied" and info["config_file"] == p.config_path
    assert [b["block"] for b in ctl_json(sock, "show", "bans")["bans"]] == ["127.0.0.11"]
    with RawPop3("127.0.0.1", p.port, client_ctx) as again:
        again.login("alice", ALICE)
        assert [s["server"] for s in sessions(sock)] == [s2]
        assert again.command("QUIT").startswith(b"+OK")
    assert ctl(sock, "enable", "server", "legacy", s1)[0] == 0
    with RawPop3("127.0.0.1", p.port, client_ctx) as back:
        back.login("alice", ALICE)
        assert [s["server"] for s in sessions(sock)] == [s1]
        assert back.command("QUIT").startswith(b"+OK")
    rc, _, err = ctl(sock, "disable", "server", "legacy", "127.0.0.1:1")
    assert rc == 1 and "has no server '127.0.0.1:1'" in err


def test_exempt_addresses_are_counted_but_never_banned(popgate_factory, workdir, dovecot,
                                                       client_ctx):
    p, sock = admin_gateway(popgate_factory, workdir, [(dovecot.host, dovecot.port)], {
        "policy": {"max_auth_failures": 5,
                   "ban": {"failures": 1, "window": "10m", "duration": "30m",
                           "exempt": ["127.0.2.0/24"]}}})
    # One failure bans (failures = 1), but not from inside the exempt block. (Dovecot delays
    # each failed login more than the last, so the test keeps to two.)
    with RawPop3("127.0.0.1", p.port, client_ctx, source="127.0.2.1") as c:
        assert c.read_line().startswith(b"+OK")
        assert c.command("USER alice").startswith(b"+OK")
        assert c.command("PASS wrong").startswith(b"-ERR")
        assert c.command("USER alice").startswith(b"+OK"), "the session goes on"
    wait_for_value(p, 1, "popgate_auth_total", result="failure")
    assert not refused(p.port, client_ctx, "127.0.2.1")
    assert ctl_json(sock, "show", "bans")["bans"] == []
    # Outside the exempt block, one failure bans.
    with RawPop3("127.0.0.1", p.port, client_ctx, source="127.0.3.1") as c:
        assert c.read_line().startswith(b"+OK")
        assert c.command("USER alice").startswith(b"+OK")
        assert c.command("PASS wrong").startswith(b"-ERR")
    wait_until(lambda: refused(p.port, client_ctx, "127.0.3.1"), 10, "the ban")
    bans = ctl_json(sock, "show", "bans")["bans"]
    assert bans[0]["block"] == "127.0.3.1" and bans[0]["source"] == "automatic"
    # An administrator's ban applies to an exempt address, and says what the exemption covers.
    rc, out, _ = ctl(sock, "ban", "127.0.2.1", "10m")
    assert rc == 0 and "exempt" in out
    assert refused(p.port, client_ctx, "127.0.2.1")


def test_bad_commands_get_a_one_line_error(popgate_factory, workdir, dovecot):
    p, sock = admin_gateway(popgate_factory, workdir, [(dovecot.host, dovecot.port)])
    rc, out, err = ctl(sock, "reboot")
    assert (rc, out) == (1, "") and err == "popgate ctl: unknown command 'reboot'; try `help`\n"
    rc, out, err = ctl(sock, "ban", "mail.example.com")
    assert rc == 1 and "is not an address or CIDR block" in err
    reply = ctl_json(sock, "kick", "session", "x;y")
    assert reply == {"ok": False,
                     "message": "'x;y' is not a session id; `show sessions` lists them"}
    rc, out, _ = ctl(sock, "help")
    assert rc == 0 and "disable server BACKEND SERVER" in out
    # On the socket itself: several requests on one connection, one reply each, in order; an
    # over-long line is refused and the connection closed.
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(10)
        s.connect(sock)
        s.sendall(b"show bans\nbogus\r\n")
        data = b""
        while data.count(b"\n\n") < 2:
            chunk = s.recv(4096)
            assert chunk, data
            data += chunk
        assert data == b"+OK 0 bans\nBLOCK  SOURCE  EXPIRES_IN_S\n\n" \
                       b"-ERR unknown command 'bogus'; try `help`\n\n"
        s.sendall(b"x" * 1100)  # one read: nothing left unread when the server closes
        rest = b""
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            rest += chunk
        assert rest == b"-ERR request line too long\n\n"
    m = scrape(p)
    assert m.value("popgate_admin_commands_total", command="invalid") == 4
    assert m.value("popgate_admin_commands_total", command="help") == 1


def test_ctl_without_a_running_popgate_exits_2(workdir):
    rc, out, err = ctl(os.path.join(workdir, "none.sock"), "show", "info")
    assert rc == 2 and "cannot connect" in err and "is popgate running" in err
    config = os.path.join(workdir, "off.toml")
    with open(config, "w") as f:
        f.write(toml_writer.dumps({"listener": [{"bind": "127.0.0.1:1", "mode": "implicit",
                                                 "backend": "b"}],
                                   "backend": [{"name": "b", "servers": ["127.0.0.1:2"]}],
                                   "tls": {"certificate": [{"cert": "c", "key": "k"}]}}))
    r = subprocess.run([popgate_bin(), "ctl", "-c", config, "show", "info"], capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 2 and "sets no [admin] socket" in r.stderr
