#!/usr/bin/python3
"""popgate side by side with stunnel, HAProxy and nginx's mail proxy, on loopback, in front of
one private Dovecot. See bench/README.md for what each figure means.

Per proxy and round, "idle" on a fresh process, then the others in this order on a second
fresh process (each starts after one warm-up session):
  idle      RSS before and after opening --idle logged-in TLS sessions: KiB per session
  memory    peak RSS while one client RETRs a --peak-mib message; RSS growth while a slow
            client reads a --slow-mib RETR (backpressure)
  sessions  --sessions full TLS sessions (connect, handshake, USER, PASS, STAT, QUIT) from
            --concurrency clients: sessions/s and the proxy's CPU seconds per 1,000 sessions;
            then the same with TLS session resumption (tickets)
  retr      RETR of a --retr-mib message, --retr-reps times: MiB/s and CPU seconds per GiB

The proxy's CPU is utime+stime of its process tree (/proc/PID/stat) before and after the
workload; RSS is VmRSS summed over the tree (/proc/PID/status).
"""

import argparse
import json
import os
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True  # leave no __pycache__ in the source tree

import backend  # noqa: E402 - also puts the test fixtures on sys.path
import loadgen  # noqa: E402
import peers  # noqa: E402
import procstat  # noqa: E402
from summary import merge_rounds, summary  # noqa: E402
from popgate_fixtures import certs  # noqa: E402
from popgate_fixtures.tmpdirs import make_tmpdir, remove_tmpdir  # noqa: E402

MIB = 1024 * 1024
GIB = 1024 * MIB
SUBPROCESS_SLACK = 120.0   # seconds beyond a workload's own limit before we give up on it


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def default_popgate():
    env = os.environ.get("POPGATE_BIN")
    if env:
        return env
    return os.path.normpath(os.path.join(HERE, "..", "build", "release", "proxy", "popgate"))


def default_popgate_system():
    return os.path.normpath(os.path.join(HERE, "..", "build", "release-system", "proxy",
                                         "popgate"))


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog=__doc__.split("\n\n", 1)[1])
    p.add_argument("--targets", default="popgate,stunnel,haproxy,nginx",
                   help="comma-separated proxies to measure (default: %(default)s)")
    p.add_argument("--popgate", default=default_popgate(),
                   help="popgate binary (default: $POPGATE_BIN or build/release/proxy/popgate)")
    p.add_argument("--popgate-system", default=default_popgate_system(),
                   help="popgate built with -DPOPGATE_MBEDTLS=system, target popgate-system "
                        "(default build/release-system/proxy/popgate)")
    p.add_argument("--tls", default="1.2", choices=["1.2", "1.3"],
                   help="the one TLS version clients and proxies speak (default 1.2)")
    p.add_argument("--primitive", default="",
                   help="cipher_cost binary (bench/run builds it): also measure mbedTLS's own "
                        "AEAD per GiB in this run")
    p.add_argument("--workers", type=int, default=2,
                   help="event loops / threads / worker processes of every proxy (default 2)")
    p.add_argument("--sessions", type=int, default=2000)
    p.add_argument("--concurrency", type=int, default=50)
    p.add_argument("--client-procs", type=int, default=2,
                   help="load generator processes sharing --concurrency (default 2)")
    p.add_argument("--no-resume", action="store_true", help="skip the resumed-session run")
    p.add_argument("--idle", type=int, default=2000, help="idle sessions to hold (default 2000)")
    p.add_argument("--retr-mib", type=int, default=50)
    p.add_argument("--retr-reps", type=int, default=5)
    p.add_argument("--peak-mib", type=int, default=10)
    p.add_argument("--slow-mib", type=int, default=100)
    p.add_argument("--slow-seconds", type=float, default=5.0,
                   help="how long the slow reader reads slowly before draining (default 5)")
    p.add_argument("--time-limit", type=float, default=60.0,
                   help="seconds any one workload may run (default 60)")
    p.add_argument("--skip", default="", help="comma-separated: idle,memory,sessions,retr")
    p.add_argument("--cipher", default=loadgen.CIPHER,
                   help="the one TLS 1.2 cipher suite clients offer (default %(default)s)")
    p.add_argument("--curve", default=loadgen.CURVE,
                   help="the one ECDHE group clients offer, OpenSSL name (default %(default)s); "
                        "X25519: the peers accept only it, the client offers OpenSSL's default "
                        "list (Python cannot name X25519 alone)")
    p.add_argument("--rounds", type=int, default=3,
                   help="measure every proxy this many times, interleaved, so that load from "
                        "elsewhere on the machine hits all alike; the summary shows the median "
                        "of each figure (default 3; --quick: 1)")
    p.add_argument("--perf", metavar="DIR",
                   help="record `perf record -g` profiles of popgate's session and RETR runs "
                        "into DIR (needs perf)")
    p.add_argument("--json", help="also write every figure to this file")
    p.add_argument("--keep", action="store_true", help="keep temp dirs (configs, logs)")
    p.add_argument("--quick", action="store_true",
                   help="small sizes for a smoke run (about a minute)")
    args = p.parse_args(argv)
    if args.quick:
        args.sessions, args.idle = min(args.sessions, 300), min(args.idle, 300)
        args.retr_mib, args.retr_reps = min(args.retr_mib, 10), 1
        args.rounds = 1
        args.slow_mib, args.slow_seconds = min(args.slow_mib, 20), min(args.slow_seconds, 2.0)
    args.targets = [t for t in args.targets.split(",") if t]
    args.skip = set(s for s in args.skip.split(",") if s)
    return args


class Bench:
    def __init__(self, args, dovecot, tls):
        self.args = args
        self.dovecot = dovecot
        self.tls = tls
        self.ctx = loadgen.client_context(tls.cert, args.cipher, args.curve, args.tls)

    def fresh(self, name):
        t = peers.make_target(name, self.dovecot.port, self.tls.cert, self.tls.key,
                              self.args.workers, self.args.popgate, self.args.popgate_system)
        try:
            return t.start()
        except BaseException:
            t.cleanup(keep=self.args.keep)
            raise

    def warm_up(self, target):
        """One full session, so the first-use costs (lazy init, first allocations) are not
        counted as per-session costs."""
        loadgen.one_session(self.ctx, target.port, backend.SESSION_USER, backend.PASSWORD)

    # --- idle sessions -----------------------------------------------------------------
    def idle(self, target):
        a = self.args
        self.warm_up(target)
        time.sleep(0.5)
        rss0 = procstat.rss_kib(target.pid)
        proc = subprocess.Popen(
            [sys.executable, os.path.join(HERE, "loadgen.py"), "idle", "--port", str(target.port),
             "--cafile", self.tls.cert, "--user", backend.SESSION_USER,
             "--password", backend.PASSWORD, "--count", str(a.idle),
             "--threads", str(a.concurrency), "--time-limit", str(a.time_limit),
             "--cipher", a.cipher, "--curve", a.curve, "--tls", a.tls],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        try:
            line = proc.stdout.readline()
            if not line.startswith("READY "):
                raise RuntimeError(f"idle load generator: {line!r}")
            info = json.loads(line[len("READY "):])
            time.sleep(1.0)  # let the proxy finish whatever the last logins started
            rss1 = procstat.rss_kib(target.pid)
            proc.stdin.write("close\n")
            proc.stdin.flush()
            proc.stdout.readline()
        finally:
            _finish(proc)
        n = info["opened"]
        return {"sessions": n, "failed": info["failed"], "errors": info["errors"],
                "open_seconds": round(info["open_seconds"], 2),
                "rss_before_kib": rss0, "rss_after_kib": rss1,
                "kib_per_session": round((rss1 - rss0) / n, 1) if n else None}

    # --- peak RSS and backpressure -------------------------------------------------------
    def memory(self, target):
        a = self.args
        self.warm_up(target)
        out = {}
        c = loadgen.Pop3s(self.ctx, target.port)
        try:
            c.login(backend.big_user(a.peak_mib * MIB), backend.PASSWORD)
            rss0 = procstat.rss_kib(target.pid)
            with procstat.RssSampler(target.pid) as s:
                size = c.retr(1)
            out["peak"] = {"message_bytes": size, "rss_before_kib": rss0,
                           "rss_peak_kib": s.peak, "growth_kib": s.peak - rss0,
                           "samples": s.samples,
                           # VmHWM covers what sampling may miss, but also start-up peaks.
                           "hwm_after_kib": procstat.hwm_kib(target.pid)}
            c.command("QUIT")
        finally:
            c.close()

        c = loadgen.Pop3s(self.ctx, target.port)
        try:
            c.login(backend.big_user(a.slow_mib * MIB), backend.PASSWORD)
            rss0 = procstat.rss_kib(target.pid)
            slow = {"next": 64 * 1024, "until": 0.0, "peak": None, "read": 0}
            with procstat.RssSampler(target.pid, interval=0.02) as s:
                def on_chunk(total):
                    if slow["peak"] is not None:
                        return  # draining
                    if time.monotonic() >= slow["until"]:
                        slow["peak"], slow["read"] = s.peak, total
                        return
                    if total >= slow["next"]:
                        slow["next"] += 64 * 1024
                        time.sleep(0.02)  # 64 KiB every 20 ms: about 3 MiB/s

                slow["until"] = time.monotonic() + a.slow_seconds
                size = c.retr(1, chunk=16384, on_chunk=on_chunk)
            if slow["peak"] is None:
                slow["peak"], slow["read"] = s.peak, size
            out["slow"] = {"message_bytes": size, "read_slowly_bytes": slow["read"],
                           "slow_seconds": a.slow_seconds, "rss_before_kib": rss0,
                           "rss_peak_kib": slow["peak"], "growth_kib": slow["peak"] - rss0}
            c.command("QUIT")
        finally:
            c.close()
        return out

    # --- session rate --------------------------------------------------------------------
    def sessions(self, target, resume):
        a = self.args
        procs_n = max(1, min(a.client_procs, a.concurrency))
        procs = []
        try:
            for i in range(procs_n):
                threads = a.concurrency // procs_n + (1 if i < a.concurrency % procs_n else 0)
                count = a.sessions // procs_n + (1 if i < a.sessions % procs_n else 0)
                argv = [sys.executable, os.path.join(HERE, "loadgen.py"), "sessions",
                        "--port", str(target.port), "--cafile", self.tls.cert,
                        "--user", backend.SESSION_USER, "--password", backend.PASSWORD,
                        "--count", str(count), "--threads", str(threads),
                        "--time-limit", str(a.time_limit),
                        "--cipher", a.cipher, "--curve", a.curve, "--tls", a.tls]
                if resume:
                    argv.append("--resume")
                procs.append(subprocess.Popen(argv, stdin=subprocess.PIPE,
                                              stdout=subprocess.PIPE, text=True))
            for p in procs:
                line = p.stdout.readline()
                if line.strip() != "READY":
                    raise RuntimeError(f"session load generator: {line!r}")
            time.sleep(0.2)
            cpu0 = procstat.cpu_seconds(target.pid)
            for p in procs:
                p.stdin.write("go\n")
                p.stdin.flush()
            results = [json.loads(p.stdout.readline()) for p in procs]
            cpu1 = procstat.cpu_seconds(target.pid)
        finally:
            for p in procs:
                _finish(p)
        ok = sum(r["ok"] for r in results)
        failed = sum(r["failed"] for r in results)
        errors = {}
        for r in results:
            for k, v in r["errors"].items():
                errors[k] = errors.get(k, 0) + v
        wall = max(r["end"] for r in results) - min(r["start"] for r in results)
        cpu = cpu1 - cpu0
        return {"ok": ok, "failed": failed, "errors": errors,
                "reused": sum(r["reused"] for r in results),
                "seconds": round(wall, 2),
                "sessions_per_s": round(ok / wall, 1) if wall > 0 else None,
                "proxy_cpu_s": round(cpu, 2),
                "cpu_s_per_1000": round(cpu / ok * 1000, 3) if ok else None,
                "client_cpu_s": round(sum(r["client_cpu"] for r in results), 2)}

    # --- RETR throughput -----------------------------------------------------------------
    def retr(self, target):
        a = self.args
        c = loadgen.Pop3s(self.ctx, target.port)
        total_bytes, total_wall, total_cpu, total_client = 0, 0.0, 0.0, 0.0
        try:
            c.login(backend.big_user(a.retr_mib * MIB), backend.PASSWORD)
            for _ in range(a.retr_reps):
                cpu0 = procstat.cpu_seconds(target.pid)
                tc0 = time.thread_time()
                t0 = time.monotonic()
                total_bytes += c.retr(1)
                total_wall += time.monotonic() - t0
                total_client += time.thread_time() - tc0
                total_cpu += procstat.cpu_seconds(target.pid) - cpu0
            c.command("QUIT")
        finally:
            c.close()
        return {"bytes": total_bytes, "reps": a.retr_reps, "seconds": round(total_wall, 3),
                "mib_per_s": round(total_bytes / MIB / total_wall, 1),
                "proxy_cpu_s": round(total_cpu, 3),
                "cpu_s_per_gib": round(total_cpu / (total_bytes / GIB), 2),
                "client_cpu_s": round(total_client, 3)}

    def run_target(self, name):
        res = {}
        a = self.args
        probe = peers.make_target(name, self.dovecot.port, self.tls.cert, self.tls.key,
                                  a.workers, a.popgate, a.popgate_system)
        why = probe.available()
        probe.cleanup()
        if why:
            log(f"{name}: skipped: {why}")
            return {"skipped": why}
        steps = [("idle", "idle", lambda t: self.idle(t))]
        if "idle" in a.skip:
            steps = []
        group = []
        if "memory" not in a.skip:
            group.append(("memory", lambda t: self.memory(t)))
        if "sessions" not in a.skip:
            group.append(("sessions_full", lambda t: self.sessions(t, resume=False)))
            if not a.no_resume:
                group.append(("sessions_resumed", lambda t: self.sessions(t, resume=True)))
        if "retr" not in a.skip:
            group.append(("retr", lambda t: self.retr(t)))
        for _, key, fn in steps:
            res[key] = self._on_fresh(name, key, fn)
        if group:
            target = None
            try:
                target = self.fresh(name)
                for key, fn in group:
                    res[key] = self._step(name, key, fn, target)
            except Exception as e:  # noqa: BLE001 - one proxy failing must not stop the rest
                log(f"{name}: {type(e).__name__}: {e}")
                res.setdefault("error", str(e))
            finally:
                if target is not None:
                    target.cleanup(keep=a.keep)
        return res

    def _on_fresh(self, name, key, fn):
        target = None
        try:
            target = self.fresh(name)
            return self._step(name, key, fn, target)
        except Exception as e:  # noqa: BLE001
            log(f"{name} {key}: {type(e).__name__}: {e}")
            return {"error": str(e)}
        finally:
            if target is not None:
                target.cleanup(keep=self.args.keep)

    def _step(self, name, key, fn, target):
        log(f"{name}: {key} ...")
        recorder = None
        if self.args.perf and name == "popgate" and key in ("sessions_full", "retr"):
            recorder = _start_perf(self.args.perf, f"{name}-{key}", target.pid)
        try:
            r = fn(target)
        except Exception as e:  # noqa: BLE001
            log(f"{name} {key}: {type(e).__name__}: {e}\n{target.output()}")
            return {"error": f"{type(e).__name__}: {e}"}
        finally:
            if recorder is not None:
                _stop_perf(recorder)
        log(f"{name}: {key}: {json.dumps(r)}")
        return r


def _start_perf(directory, stem, pid):
    os.makedirs(directory, exist_ok=True)
    out = os.path.join(directory, f"{stem}.perf.data")
    proc = subprocess.Popen(["perf", "record", "-q", "-F", "499", "-g", "-p", str(pid),
                             "-o", out], stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.5)  # perf attaches asynchronously
    log(f"perf recording to {out}; read it with: perf report -i {out} --no-children")
    return proc


def _stop_perf(proc):
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


def _finish(proc):
    """Waits for a load generator we started; kills it (by its PID) if it hangs."""
    try:
        proc.wait(SUBPROCESS_SLACK)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)
    for f in (proc.stdin, proc.stdout):
        if f is not None:
            try:
                f.close()
            except OSError:
                pass


def primitive(binary):
    """mbedTLS's AEAD alone, CPU s / GiB sealed (bench/cipher_cost.c), for comparison with the
    relay's "CPU s / GiB relayed"."""
    out = subprocess.run([binary, "256"], capture_output=True, text=True, check=True).stdout
    figures = json.loads(out)
    log(f"mbedTLS cipher alone: {figures}")
    return {"primitive": figures}


def main(argv=None):
    args = parse_args(argv)
    peers.CIPHER, peers.CURVE, peers.TLS = args.cipher, args.curve, args.tls
    loadgen.raise_fd_limit(max(args.idle * 3 + 1024, 8192))
    t_start = time.monotonic()
    tmp = make_tmpdir("bench-tls")
    dovecot = None
    results = {}
    try:
        cert, key = certs.make_self_signed(tmp, "ecdsa", "ec")
        tls = certs.TlsMaterial(dir=tmp, cert=cert, key=key, rsa_cert="", rsa_key="")
        sizes = {args.retr_mib * MIB, args.peak_mib * MIB, args.slow_mib * MIB}
        log(f"writing mailboxes ({', '.join(f'{s // MIB} MiB' for s in sorted(sizes))}) ...")
        dovecot = backend.make_backend(sizes)
        dovecot.start()
        log(f"Dovecot on 127.0.0.1:{dovecot.port}")
        bench = Bench(args, dovecot, tls)
        for r in range(max(1, args.rounds)):
            if args.rounds > 1:
                log(f"round {r + 1} of {args.rounds}")
            for name in args.targets:
                results.setdefault(name, []).append(bench.run_target(name))
            if args.primitive:
                results.setdefault("mbedtls-cipher", []).append(primitive(args.primitive))
    finally:
        if dovecot is not None:
            if args.keep:
                dovecot.stop()
                log(f"kept Dovecot's dir {dovecot.root}")
            else:
                dovecot.cleanup()
        if args.keep:
            log(f"kept TLS dir {tmp}")
        else:
            remove_tmpdir(tmp)
    text = summary({n: merge_rounds(rs) for n, rs in results.items()}, args)
    print(text, flush=True)
    log(f"total {time.monotonic() - t_start:.0f} s")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"args": {k: (sorted(v) if isinstance(v, set) else v)
                                for k, v in vars(args).items()},
                       "results": results}, f, indent=2)


if __name__ == "__main__":
    main()
