"""A scripted POP3 backend that misbehaves on purpose, in a thread of the test process.

It greets "+OK ready", takes any USER/PASS, answers STAT/LIST/UIDL/CAPA/DELE/NOOP/RSET/QUIT
plausibly, and on RETR does what the test asked:
  "ok"    send the message properly,
  "die"   send "+OK" and part of the message, then close the socket (a backend crash),
  "stall" send "+OK" and part of the message, then send nothing more until stopped.
Every line it receives is recorded per connection, with an event set when that connection
closed, so a test can assert, e.g., that DELE arrived and QUIT never did.
"""

import socket
import threading

from . import mail as mailgen
from .scripted_server import ScriptedServer


class BackendConnection:
    def __init__(self, sock):
        self.sock = sock
        self.lines = []  # received command lines, CRLF stripped, as str
        self.closed = threading.Event()

    def verbs(self):
        return [line.split(" ", 1)[0].upper() for line in self.lines]


class FaultBackend(ScriptedServer):
    connection_class = BackendConnection

    def __init__(self, messages=None, on_retr="ok", partial_bytes=4096,
                 greeting=b"+OK ready <1896.697170952@fault.example>\r\n"):
        super().__init__()
        assert on_retr in ("ok", "die", "stall")
        self.messages = list(messages) if messages is not None else [
            mailgen.message("scripted", ["line %d" % i for i in range(5000)])]
        self.on_retr = on_retr
        self.partial_bytes = partial_bytes
        self.greeting = greeting

    def all_lines(self):
        with self._lock:
            return [line for c in self.connections for line in c.lines]

    def _serve(self, conn):
        sock = conn.sock
        try:
            sock.sendall(self.greeting)
            buf = b""
            while not self._stop.is_set():
                data = sock.recv(65536)
                if not data:
                    return
                buf += data
                while b"\r\n" in buf:
                    raw, buf = buf.split(b"\r\n", 1)
                    line = raw.decode("latin-1")
                    with self._lock:
                        conn.lines.append(line)
                    if not self._answer(sock, line):
                        return
        except OSError:
            return
        finally:
            try:
                sock.close()
            except OSError:
                pass
            conn.closed.set()

    def _answer(self, sock, line):
        """Answers one command; False ends the connection."""
        verb, _, arg = line.partition(" ")
        verb = verb.upper()
        msgs = self.messages
        if verb in ("USER", "PASS", "NOOP", "RSET", "DELE"):
            sock.sendall(b"+OK\r\n")
        elif verb == "CAPA":
            sock.sendall(b"+OK capabilities\r\nUSER\r\nUIDL\r\nTOP\r\nPIPELINING\r\n.\r\n")
        elif verb == "STAT":
            sock.sendall(b"+OK %d %d\r\n" % (len(msgs), sum(len(m) for m in msgs)))
        elif verb in ("LIST", "UIDL"):
            rows = b"".join(
                b"%d %s\r\n" % (i + 1, (b"%d" % len(m)) if verb == "LIST" else b"uid%d" % i)
                for i, m in enumerate(msgs))
            sock.sendall(b"+OK\r\n" + rows + b".\r\n")
        elif verb == "RETR":
            try:
                body = mailgen.stuff(msgs[int(arg) - 1])
            except (ValueError, IndexError):
                sock.sendall(b"-ERR no such message\r\n")
                return True
            if self.on_retr == "ok":
                sock.sendall(b"+OK message follows\r\n" + body)
                return True
            sock.sendall(b"+OK message follows\r\n" + body[:self.partial_bytes])
            if self.on_retr == "stall":
                self._stop.wait()
            return False  # "die": close mid-response, no terminating dot
        elif verb == "QUIT":
            sock.sendall(b"+OK bye\r\n")
            return False
        else:
            sock.sendall(b"-ERR unknown command\r\n")
        return True
