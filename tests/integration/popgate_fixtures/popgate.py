"""The popgate process under test: a config written per SPEC section 3, the binary started with
`-c`, ready once its listeners accept TCP connections and it has logged "popgate started" (the
listeners accept as soon as they are bound, before the switch to [server] user and the workers),
stopped with SIGTERM."""

import contextlib
import os
import signal
import subprocess

from . import netns, toml_writer
from .ports import free_port
from .procs import die_with_parent
from .wait import wait_for_listener, wait_until

START_TIMEOUT = 20.0  # sanitizer builds start slowly on a busy 2-core machine
SHUTDOWN_GRACE = 2     # seconds; what the test config sets as server.shutdown_grace
STOP_TIMEOUT = SHUTDOWN_GRACE + 15.0


def popgate_bin():
    """$POPGATE_BIN (set by ctest), else the sanitizer build scripts/test makes."""
    path = os.environ.get("POPGATE_BIN")
    if not path:
        root = os.environ.get("POPGATE_SOURCE_DIR") or os.path.normpath(
            os.path.join(os.path.dirname(__file__), "..", "..", ".."))
        path = os.path.join(root, "build", "asan", "proxy", "popgate")
    return path


def has_tls13():
    """Whether this popgate's mbedTLS has TLS 1.3 (2.28, Debian 12's, has not): `--version`
    says "TLS 1.3 not available" when it has not. True when the binary is missing, so that the
    fixtures report that with a clear message."""
    binary = popgate_bin()
    if not os.access(binary, os.X_OK):
        return True
    out = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=30).stdout
    return "TLS 1.3 not available" not in out


def sanitizer_env():
    env = dict(os.environ)
    env.setdefault("ASAN_OPTIONS", "halt_on_error=1:detect_leaks=1")
    env.setdefault("UBSAN_OPTIONS", "halt_on_error=1:print_stacktrace=1")
    return env


def base_config(backend_servers, cert, key, starttls=False):
    """A minimal valid config: one certificate, an implicit listener (and a starttls one if
    asked), one backend, metrics on; every port free and on loopback."""
    listeners = [{"name": "pop3s", "bind": f"127.0.0.1:{free_port()}", "mode": "implicit",
                  "backend": "legacy"}]
    if starttls:
        listeners.append({"name": "pop3", "bind": f"127.0.0.1:{free_port()}",
                          "mode": "starttls", "backend": "legacy"})
    return {
        "server": {"workers": 1, "shutdown_grace": f"{SHUTDOWN_GRACE}s", "log_level": "debug"},
        "tls": {"certificate": [{"cert": cert, "key": key}]},
        "listener": listeners,
        "backend": [{"name": "legacy",
                     "servers": [f"{h}:{p}" for h, p in backend_servers],
                     "connect_timeout": "2s", "greeting_timeout": "5s",
                     # Off here: scripted backends count the connections they get, and a
                     # check would be one. test_backend_checks.py turns them on.
                     "check_interval": "0"}],
        "metrics": {"bind": f"127.0.0.1:{free_port()}"},
    }


def port_of(bind):
    return int(bind.rsplit(":", 1)[1])


class Popgate:
    def __init__(self, workdir, config, binary=None, journal=False, netns=None):
        """journal: start as systemd does with stderr connected to the journal, JOURNAL_STREAM
        naming stderr's device and inode (systemd.exec(5)); stderr is still the file.
        netns: run inside this network namespace (see netns.py)."""
        self.journal = journal
        self.netns = netns
        self.workdir = workdir
        self.config = config
        self.binary = binary or popgate_bin()
        self.config_path = os.path.join(workdir, "popgate.toml")
        self.stderr_path = os.path.join(workdir, "popgate.stderr")
        self.proc = None
        self.returncode = None
        self.start_failed = False
        self.extra_env = {}   # added to the environment, e.g. NOTIFY_SOCKET
        self.preexec = None   # run in the child before exec, e.g. to set a resource limit

    def listener_port(self, name):
        for l in self.config["listener"]:
            if l["name"] == name:
                return port_of(l["bind"])
        raise KeyError(name)

    @property
    def port(self):
        """The first implicit-TLS listener's port."""
        return next(port_of(l["bind"]) for l in self.config["listener"]
                    if l.get("mode") == "implicit")

    @property
    def starttls_port(self):
        return next(port_of(l["bind"]) for l in self.config["listener"]
                    if l.get("mode") == "starttls")

    @property
    def metrics_url(self):
        m = self.config.get("metrics", {})
        return f"http://{m['bind']}{m.get('path', '/metrics')}" if m.get("bind") else None

    def write_config(self):
        with open(self.config_path, "w") as f:
            f.write(toml_writer.dumps(self.config))

    def start(self, wait=True):
        """Starts popgate; with wait, returns once every listener accepts."""
        if not os.access(self.binary, os.X_OK):
            raise AssertionError(f"popgate binary not found at {self.binary}: build it "
                                 "(scripts/test) or set POPGATE_BIN")
        self.write_config()
        self._stderr = open(self.stderr_path, "wb")
        env = {**sanitizer_env(), **self.extra_env}
        if self.journal:
            st = os.fstat(self._stderr.fileno())
            env["JOURNAL_STREAM"] = f"{st.st_dev}:{st.st_ino}"

        def preexec():
            die_with_parent()
            if self.preexec:
                self.preexec()
        in_netns = netns.prefix(self.netns) if self.netns else []
        self.proc = subprocess.Popen(in_netns + [self.binary, "-c", self.config_path],
                                     stdin=subprocess.DEVNULL, stdout=self._stderr,
                                     stderr=subprocess.STDOUT, env=env,
                                     cwd=self.workdir,
                                     preexec_fn=preexec)
        if not wait:
            return self
        try:
            for l in self.config["listener"]:
                with netns.entered(self.netns) if self.netns else contextlib.nullcontext():
                    wait_for_listener("127.0.0.1", port_of(l["bind"]), START_TIMEOUT,
                                      self.proc, f"popgate listener {l['name']}")
            if self.config.get("server", {}).get("log_level", "info") in ("debug", "info"):
                wait_until(self._logged_start, START_TIMEOUT, 'popgate\'s "popgate started" line')
        except BaseException:
            self.start_failed = True
            self.stop()
            raise AssertionError(f"popgate did not start; its output:\n{self.stderr_text()}")
        return self

    def _logged_start(self):
        if self.proc.poll() is not None:
            raise AssertionError(f"popgate exited with status {self.proc.returncode} at start")
        return "popgate started" in self.stderr_text()

    def stop(self):
        """SIGTERM, then wait for the exit; returns the exit status (None if never started).
        A process that outlives the deadline is killed and reported as -SIGKILL."""
        if self.proc is None:
            return self.returncode
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.returncode = self.proc.returncode
        self.proc = None
        self._stderr.close()
        return self.returncode

    def stderr_text(self):
        try:
            with open(self.stderr_path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""
