"""A stand-in for systemd's notification socket: an AF_UNIX datagram socket the test binds and
reads, passed to popgate as NOTIFY_SOCKET (a path, or an abstract name written with '@')."""

import os
import socket
import time


class NotifySocket:
    def __init__(self, workdir, abstract=False):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        if abstract:
            name = f"popgate-test-notify-{os.getpid()}-{id(self)}"
            self.sock.bind("\0" + name)
            self.address = "@" + name
        else:
            self.address = os.path.join(workdir, "notify.sock")
            self.sock.bind(self.address)
        self.messages = []  # every datagram received, in order, as text

    def next(self, timeout, proc=None):
        """The next datagram as text; fails after timeout seconds, or at once if proc exits."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no notification within {timeout}s; got {self.messages}")
            if proc is not None and proc.poll() is not None:
                raise AssertionError(f"popgate exited ({proc.returncode}) before notifying; "
                                     f"got {self.messages}")
            self.sock.settimeout(min(left, 0.2))
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                continue
            text = data.decode()
            self.messages.append(text)
            return text

    def wait_for(self, key_value, timeout, proc=None):
        """Reads datagrams until one has the line key_value (e.g. "READY=1"); returns that
        datagram's lines as a dict."""
        while True:
            text = self.next(timeout, proc)
            fields = dict(line.split("=", 1) for line in text.splitlines() if "=" in line)
            key, value = key_value.split("=", 1)
            if fields.get(key) == value:
                return fields

    def close(self):
        self.sock.close()
        if not self.address.startswith("@"):
            try:
                os.unlink(self.address)
            except OSError:
                pass
