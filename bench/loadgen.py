#!/usr/bin/python3
"""POP3S load generator: real TLS clients (Python's ssl, i.e. OpenSSL) on loopback.

Every client speaks TLS 1.2 with ECDHE-ECDSA-AES128-GCM-SHA256 on P-256 (unless told
otherwise) and verifies the server certificate, so every proxy does the same cryptographic
work.

Used two ways:
- as a module, by bench/compare.py: one client at a time (RETR throughput, peak memory, slow
  reader);
- as a command, run as several processes so that the client is not the bottleneck:

  loadgen.py sessions --port P --cafile F --user U --password W --count N --threads T
                      [--resume] [--time-limit S]
      N sessions (connect, handshake, USER, PASS, STAT, QUIT) on T threads. Prints "READY"
      when warmed up, starts on a line from stdin, prints one JSON result line at the end.
  loadgen.py idle --port P ... --count N --threads T
      Opens N logged-in sessions and keeps them open. Prints "READY {json}" once all are
      open (or failed), closes them on a line from stdin, prints "DONE".

Every loop here is bounded in count and in time.
"""

import argparse
import json
import os
import resource
import socket
import ssl
import sys
import threading
import time

CIPHER = "ECDHE-ECDSA-AES128-GCM-SHA256"
CURVE = "prime256v1"
IO_TIMEOUT = 30.0      # seconds for any one socket operation
LINE_LIMIT = 4096      # a status line longer than this is a protocol error


def client_context(cafile, cipher=CIPHER, curve=CURVE, tls="1.2"):
    """One TLS version, one TLS 1.2 cipher suite (TLS 1.3 suites cannot be narrowed from
    Python: the servers are), one ECDHE group (OpenSSL names), certificate verified."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(cafile)
    version = ssl.TLSVersion.TLSv1_3 if tls == "1.3" else ssl.TLSVersion.TLSv1_2
    ctx.minimum_version = version
    ctx.maximum_version = version
    ctx.set_ciphers(cipher)
    if curve.lower() != "x25519":
        ctx.set_ecdh_curve(curve)
    # else: Python cannot name X25519 (set_ecdh_curve takes EC curves only), but OpenSSL's
    # default list offers it first; the servers are told to accept only it.
    return ctx


class Pop3s:
    """A blocking POP3-over-TLS client: just what the workloads need."""

    def __init__(self, ctx, port, host="127.0.0.1", session=None, timeout=IO_TIMEOUT):
        raw = socket.create_connection((host, port), timeout=timeout)
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            self.sock = ctx.wrap_socket(raw, server_hostname="localhost", session=session)
        except BaseException:
            raw.close()
            raise
        self.buf = b""

    def read_line(self):
        while b"\r\n" not in self.buf:
            if len(self.buf) > LINE_LIMIT:
                raise IOError(f"status line too long: {self.buf[:80]!r}")
            data = self.sock.recv(16384)
            if not data:
                raise IOError(f"connection closed; got {self.buf[:80]!r}")
            self.buf += data
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def command(self, text):
        self.sock.sendall(text.encode() + b"\r\n")
        line = self.read_line()
        if not line.startswith(b"+OK"):
            raise IOError(f"{text.split()[0]}: {line[:120]!r}")
        return line

    def login(self, user, password):
        greeting = self.read_line()
        if not greeting.startswith(b"+OK"):
            raise IOError(f"greeting: {greeting[:120]!r}")
        self.command(f"USER {user}")
        self.command(f"PASS {password}")

    def retr(self, n, chunk=1 << 20, on_chunk=None):
        """Sends RETR n and reads the body through the terminating dot, discarding it.
        Returns the body's size in bytes. on_chunk(nbytes_so_far) may pause (slow reader)."""
        self.sock.sendall(f"RETR {n}\r\n".encode())
        line = self.read_line()
        if not line.startswith(b"+OK"):
            raise IOError(f"RETR: {line[:120]!r}")
        total = len(self.buf)
        tail = self.buf[-5:]
        self.buf = b""
        if tail.endswith(b"\r\n.\r\n"):
            return total
        buf = bytearray(chunk)
        view = memoryview(buf)
        while True:
            n_read = self.sock.recv_into(view, chunk)
            if n_read == 0:
                raise IOError(f"connection closed inside RETR after {total} bytes")
            total += n_read
            tail = (tail + bytes(view[max(0, n_read - 5):n_read]))[-5:]
            if tail == b"\r\n.\r\n":
                return total
            if on_chunk is not None:
                on_chunk(total)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def one_session(ctx, port, user, password, session=None):
    """connect, handshake, USER, PASS, STAT, QUIT. Returns (tls session, reused?)."""
    c = Pop3s(ctx, port, session=session)
    try:
        c.login(user, password)
        c.command("STAT")
        c.command("QUIT")
        return c.sock.session, c.sock.session_reused
    finally:
        c.close()


def raise_fd_limit(want):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < want:
        new_hard = hard if hard == resource.RLIM_INFINITY or hard >= want else want
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, new_hard), new_hard))
        except (ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def run_sessions(args):
    ctx = client_context(args.cafile, args.cipher, args.curve, args.tls)
    lock = threading.Lock()
    state = {"left": args.count, "ok": 0, "failed": 0, "reused": 0, "errors": {}}
    go = threading.Event()
    warm = threading.Barrier(args.threads + 1, timeout=IO_TIMEOUT * 2)
    deadline_box = [0.0]

    def take():
        with lock:
            if state["left"] <= 0 or time.monotonic() >= deadline_box[0]:
                return False
            state["left"] -= 1
            return True

    def record(ok, reused=False, error=None):
        with lock:
            if ok:
                state["ok"] += 1
                state["reused"] += int(bool(reused))
            else:
                state["failed"] += 1
                key = type(error).__name__ + ": " + str(error)[:80]
                state["errors"][key] = state["errors"].get(key, 0) + 1

    def worker():
        session = None
        if args.resume:
            # One full handshake before the clock starts, to get a session ticket.
            try:
                session, _ = one_session(ctx, args.port, args.user, args.password)
            except Exception as e:  # noqa: BLE001 - counted, not fatal
                record(False, error=e)
        try:
            warm.wait()
        except threading.BrokenBarrierError:
            return
        go.wait(IO_TIMEOUT * 4)
        for _ in range(args.count):  # bounded: never more than the whole quota
            if not take():
                break
            try:
                s, reused = one_session(ctx, args.port, args.user, args.password,
                                        session if args.resume else None)
                if args.resume and s is not None:
                    session = s
                record(True, reused)
            except Exception as e:  # noqa: BLE001
                record(False, error=e)

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(args.threads)]
    for t in threads:
        t.start()
    warm.wait()
    if args.resume:
        with lock:  # warm-up failures are not part of the measured run
            state["failed"], state["errors"] = 0, {}
    print("READY", flush=True)
    sys.stdin.readline()
    cpu0 = os.times()
    t0 = time.monotonic()
    deadline_box[0] = t0 + args.time_limit
    go.set()
    for t in threads:
        t.join(args.time_limit + IO_TIMEOUT * 2)
    t1 = time.monotonic()
    cpu1 = os.times()
    result = {"ok": state["ok"], "failed": state["failed"], "reused": state["reused"],
              "start": t0, "end": t1,
              "client_cpu": (cpu1.user - cpu0.user) + (cpu1.system - cpu0.system),
              "errors": state["errors"]}
    print(json.dumps(result), flush=True)


def run_idle(args):
    raise_fd_limit(args.count + 256)
    ctx = client_context(args.cafile, args.cipher, args.curve, args.tls)
    lock = threading.Lock()
    opened, errors = [], {}
    left = [args.count]
    deadline = time.monotonic() + args.time_limit

    def worker():
        for _ in range(args.count):
            with lock:
                if left[0] <= 0 or time.monotonic() >= deadline:
                    return
                left[0] -= 1
            try:
                c = Pop3s(ctx, args.port)
                c.login(args.user, args.password)
                c.command("STAT")
                with lock:
                    opened.append(c)
            except Exception as e:  # noqa: BLE001
                key = type(e).__name__ + ": " + str(e)[:80]
                with lock:
                    errors[key] = errors.get(key, 0) + 1

    t0 = time.monotonic()
    threads = [threading.Thread(target=worker, daemon=True) for _ in range(args.threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(args.time_limit + IO_TIMEOUT * 2)
    result = {"opened": len(opened), "failed": sum(errors.values()), "errors": errors,
              "open_seconds": time.monotonic() - t0}
    print("READY " + json.dumps(result), flush=True)
    sys.stdin.readline()
    for c in opened:
        c.close()
    print("DONE", flush=True)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("mode", choices=["sessions", "idle"])
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--cafile", required=True)
    p.add_argument("--user", required=True)
    p.add_argument("--password", required=True)
    p.add_argument("--count", type=int, default=1000)
    p.add_argument("--threads", type=int, default=25)
    p.add_argument("--resume", action="store_true", help="reuse TLS sessions (tickets)")
    p.add_argument("--time-limit", type=float, default=60.0)
    p.add_argument("--cipher", default=CIPHER, help="OpenSSL cipher suite name")
    p.add_argument("--curve", default=CURVE, help="ECDHE group, OpenSSL name")
    p.add_argument("--tls", default="1.2", choices=["1.2", "1.3"], help="TLS version")
    args = p.parse_args(argv)
    if args.mode == "sessions":
        run_sessions(args)
    else:
        run_idle(args)


if __name__ == "__main__":
    main()
