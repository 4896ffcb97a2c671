"""Client-side pieces for the session tests: a raw POP3 client that can issue STLS, CAPA
transcripts, pipelined replies read back in order, and the external mail clients (mpop,
fetchmail, curl, openssl s_client) run with their output kept for the failure message."""

import os
import select
import ssl
import stat
import subprocess

from . import mail as mailgen
from .pop3client import RawPop3

CLIENT_TIMEOUT = 60.0  # seconds for one external client run on a busy 2-core machine


class StartTlsPop3(RawPop3):
    """A plaintext RawPop3 (no ssl_context) that can upgrade itself with STLS."""

    def stls(self, ssl_context, server_hostname="localhost"):
        """Sends STLS alone; on +OK, runs the TLS handshake on the same socket. Returns the STLS
        reply line. Bytes that arrived in plaintext after the reply would be a protocol error
        (the server must say nothing more before the handshake), so they fail the test."""
        reply = self.command("STLS")
        if not reply.startswith(b"+OK"):
            return reply
        assert self.buf == b"", f"plaintext bytes after the STLS reply: {self.buf!r}"
        self.sock = ssl_context.wrap_socket(self.sock, server_hostname=server_hostname)
        return reply

    def nothing_to_read(self, within):
        """True when no byte arrives within `within` seconds. A bounded wait for an absence:
        there is no event to wait for when the correct behaviour is silence."""
        if self.buf:
            return False
        if isinstance(self.sock, ssl.SSLSocket) and self.sock.pending():
            return False
        readable, _, _ = select.select([self.sock], [], [], within)
        if not readable:
            return True
        # Readable may mean a TLS record without application data (e.g. a TLS 1.3 ticket):
        # look whether it carries any bytes.
        self.sock.setblocking(False)
        try:
            data = self.sock.recv(65536)
        except (ssl.SSLWantReadError, BlockingIOError):
            return True
        finally:
            self.sock.setblocking(True)
        if not data:
            self.eof = True
            return False
        self.buf += data
        return False


def capa(client):
    """Sends CAPA; returns the whole response as a list of lines without CRLF (status line
    first, terminating "." last)."""
    client.send("CAPA\r\n")
    status = client.read_line()
    assert status.startswith(b"+OK"), f"CAPA: {status!r}"
    body, complete = client.read_multiline()
    assert complete, f"CAPA: connection ended inside the list: {body!r}"
    return [line.decode("latin-1") for line in (status + body).split(b"\r\n")[:-1]]


def capabilities(lines):
    """The capability lines of a CAPA response (without status line and terminator)."""
    return lines[1:-1]


def read_response(client, multiline):
    """One response as bytes: the status line, and for a positive multi-line response its body
    through the terminating dot."""
    status = client.read_line()
    if not multiline or not status.startswith(b"+OK"):
        return status
    body, complete = client.read_multiline()
    assert complete, f"connection ended inside a multi-line response after {status!r}"
    return status + body


def read_responses(client, kinds):
    """Reads len(kinds) responses in order; kinds[i] says whether response i is multi-line."""
    return [read_response(client, m) for m in kinds]


def run_client(argv, timeout=CLIENT_TIMEOUT, **kwargs):
    """Runs a client to completion; returns the CompletedProcess (stdout/stderr as bytes)."""
    return subprocess.run(argv, capture_output=True, timeout=timeout, **kwargs)


def describe(result):
    """A client's exit status and output, for an assertion message."""
    return (f"{result.args!r} exited {result.returncode}\n--- stdout\n"
            f"{result.stdout.decode(errors='replace')[-4000:]}\n--- stderr\n"
            f"{result.stderr.decode(errors='replace')[-4000:]}")


def write_file(path, text, mode=0o644):
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, mode)
    return path


def make_delivery_script(dir):
    """An MDA that writes each message it is given to its own numbered file in DIR/delivered
    (000, 001, ...): mail clients deliver one message at a time, so numbers follow delivery
    order. Returns (script path, delivery dir)."""
    out = os.path.join(dir, "delivered")
    os.makedirs(out, exist_ok=True)
    script = os.path.join(dir, "deliver.sh")
    write_file(script, "#!/bin/sh\nset -e\n"
                       f"n=$(ls '{out}' | wc -l)\n"
                       f"cat > '{out}'/$(printf %03d \"$n\")\n",
               mode=stat.S_IRWXU)
    return script, out


def delivered_messages(out):
    """The files a delivery script wrote, in delivery order, as bytes."""
    result = []
    for name in sorted(os.listdir(out)):
        with open(os.path.join(out, name), "rb") as f:
            result.append(f.read())
    return result


def assert_delivered_intact(delivered, messages, client):
    """Each original message, as a delivery agent stores it (LF line ends), is the tail of the
    file delivered for it: a client may prepend trace headers (Received:, Return-Path:), but no
    byte of the message may change, and the order must be the server's."""
    assert len(delivered) == len(messages), \
        f"{client} delivered {len(delivered)} messages, the mailbox holds {len(messages)}"
    for n, (got, want) in enumerate(zip(delivered, messages), start=1):
        want_lf = mailgen.to_maildir_bytes(want)
        got_lf = got.replace(b"\r\n", b"\n")
        assert got_lf.endswith(want_lf), \
            f"{client}: message {n} differs:\n--- got\n{got[-600:]!r}\n--- want\n{want_lf[-600:]!r}"

