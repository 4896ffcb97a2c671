"""A private Redis for the shared-ban tests ([policy.ban] redis): Debian's redis-server on its own
loopback port and temp dir, nothing saved to disk (--save "" --appendonly no), stopped by its
PID. stop() and start() again on the same port stand for an outage and its end.

  RedisServer(workdir).start()  ready once it answers PING
  .command(*args)               one command over RESP, its decoded reply (str, int, list, None)
  .pause() / .resume()          SIGSTOP / SIGCONT: a Redis that stops answering
"""

import os
import shutil
import signal
import socket
import subprocess

from .ports import free_port
from .procs import die_with_parent, tail, terminate
from .wait import wait_until

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
START_TIMEOUT = 15.0
STOP_TIMEOUT = 10.0


def _encode(args):
    out = [f"*{len(args)}\r\n".encode()]
    for a in args:
        data = a if isinstance(a, bytes) else str(a).encode()
        out.append(f"${len(data)}\r\n".encode() + data + b"\r\n")
    return b"".join(out)


class _Reader:
    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def _line(self):
        while b"\r\n" not in self.buf:
            data = self.sock.recv(65536)
            if not data:
                raise ConnectionError("redis closed the connection")
            self.buf += data
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _exact(self, n):
        while len(self.buf) < n + 2:
            data = self.sock.recv(65536)
            if not data:
                raise ConnectionError("redis closed the connection")
            self.buf += data
        data, self.buf = self.buf[:n], self.buf[n + 2:]
        return data

    def reply(self):
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            raise RuntimeError(f"redis error: {rest.decode()}")
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            return None if n < 0 else self._exact(n).decode()
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self.reply() for _ in range(n)]
        raise RuntimeError(f"cannot parse redis reply {line!r}")


class RedisServer:
    def __init__(self, workdir):
        self.dir = os.path.join(workdir, "redis")
        os.makedirs(self.dir, exist_ok=True)
        self.host = "127.0.0.1"
        self.port = free_port()
        self.log_path = os.path.join(self.dir, "redis.log")
        self.proc = None

    @property
    def address(self):
        return f"{self.host}:{self.port}"

    def start(self):
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [REDIS_SERVER, "--port", str(self.port), "--bind", self.host, "--dir", self.dir,
             "--save", "", "--appendonly", "no", "--daemonize", "no", "--logfile", ""],
            stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT,
            preexec_fn=die_with_parent)

        def answers():
            if self.proc.poll() is not None:
                raise AssertionError(f"redis-server exited with {self.proc.returncode}:\n"
                                     f"{self.output()}")
            try:
                return self.command("PING") == "PONG"
            except OSError:
                return False
        wait_until(answers, START_TIMEOUT, f"redis-server on port {self.port}", interval=0.05)
        return self

    def stop(self):
        if self.proc is None:
            return
        terminate(self.proc, STOP_TIMEOUT)
        self.proc = None
        self._log.close()

    def pause(self):
        """SIGSTOP: Redis accepts connections (the kernel does) but answers nothing, as an
        overloaded or swapping Redis would."""
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self):
        self.proc.send_signal(signal.SIGCONT)

    def command(self, *args):
        with socket.create_connection((self.host, self.port), timeout=5.0) as s:
            s.sendall(_encode(args))
            return _Reader(s).reply()

    def keys(self, pattern="*"):
        return sorted(self.command("KEYS", pattern))

    def output(self):
        return tail(self.log_path)
