"""A raw POP3 client for exact-byte assertions: what poplib hides (byte-stuffing, the
terminating ".", a missing one) is visible here."""

import socket
import ssl
import time


def client_context(cafile):
    ctx = ssl.create_default_context(cafile=cafile)
    ctx.check_hostname = True
    return ctx


class RawPop3:
    def __init__(self, host, port, ssl_context=None, server_hostname="localhost", timeout=10.0,
                 source=None, session=None):
        """source: a loopback address to connect from (e.g. "127.0.0.3"), so a test has a
        client address of its own for access lists, limits and bans. session: an
        ssl.SSLSession to resume (self.sock.session_reused says whether it was)."""
        self.sock = socket.create_connection((host, port), timeout=timeout,
                                             source_address=(source, 0) if source else None)
        if ssl_context is not None:
            self.sock = ssl_context.wrap_socket(self.sock, server_hostname=server_hostname,
                                                session=session)
        self.buf = b""
        self.eof = False

    def _fill(self):
        if self.eof:
            return False
        data = self.sock.recv(65536)
        if not data:
            self.eof = True
            return False
        self.buf += data
        return True

    def read_line(self):
        """One line, CRLF included; b"" at EOF (a partial last line is returned as is)."""
        while b"\r\n" not in self.buf:
            if not self._fill():
                line, self.buf = self.buf, b""
                return line
        i = self.buf.index(b"\r\n") + 2
        line, self.buf = self.buf[:i], self.buf[i:]
        return line

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def command(self, line):
        """Sends one command line, returns the single-line reply."""
        self.send(line + "\r\n")
        return self.read_line()

    def read_multiline(self):
        """The body of a multi-line response through its terminating ".\\r\\n" line, as sent
        (still byte-stuffed). Returns (body, complete): complete is False when the connection
        ended before the terminator."""
        out = bytearray()
        while True:
            line = self.read_line()
            if not line:
                return bytes(out), False
            out += line
            if line == b".\r\n":
                return bytes(out), True
            if not line.endswith(b"\r\n"):
                return bytes(out), False

    def read_until_eof(self, timeout=10.0):
        """Everything until the peer closes, or raises socket.timeout after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while not self.eof:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise socket.timeout("peer did not close")
            self.sock.settimeout(remaining)
            self._fill()
        data, self.buf = self.buf, b""
        return data

    def login(self, user, password):
        greeting = self.read_line()
        assert greeting.startswith(b"+OK"), greeting
        reply = self.command(f"USER {user}")
        assert reply.startswith(b"+OK"), reply
        reply = self.command(f"PASS {password}")
        assert reply.startswith(b"+OK"), reply
        return greeting

    def retr(self, n):
        """RETR n; returns (status line, stuffed body with terminator)."""
        status = self.command(f"RETR {n}")
        assert status.startswith(b"+OK"), status
        body, complete = self.read_multiline()
        assert complete, f"RETR {n}: connection ended before the terminating dot"
        return status, body

    def abort(self):
        """Drops the TCP connection without QUIT (and without a TLS close_notify)."""
        # SSLSocket.close() sends no close_notify: to the peer this is a plain TCP close.
        self.close()

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
