"""The proxies under test, each started as a fresh process on its own loopback port in front of
the same Dovecot, with the same ECDSA P-256 certificate and the same TLS settings where the
proxy lets us choose (TLS 1.2, ECDHE-ECDSA-AES128-GCM-SHA256, P-256; tickets on).

  popgate  this project's binary (config written by the integration fixtures)
  stunnel  TLS on a port -> Dovecot in plaintext (stunnel4)
  haproxy  mode tcp, bind ... ssl crt -> Dovecot
  nginx    the mail proxy (ngx_mail_module): POP3 USER/PASS, auth_http, then relays

Every process is stopped by the PID we started (SIGTERM, then SIGKILL after a deadline).
"""

import os
import shutil
import signal
import subprocess
import sys

from backend import HERE  # noqa: F401 - puts the fixtures on sys.path
from popgate_fixtures import popgate as fixture_popgate
from popgate_fixtures import toml_writer
from popgate_fixtures.ports import free_port
from popgate_fixtures.tmpdirs import make_tmpdir, remove_tmpdir
from popgate_fixtures.wait import wait_for_listener

START_TIMEOUT = 20.0
STOP_TIMEOUT = 10.0
# What the peers are told to offer; compare.py sets both from --cipher and --curve (OpenSSL
# names). popgate keeps its built-in list: the client offers only this suite and group.
CIPHER = "ECDHE-ECDSA-AES128-GCM-SHA256"
CURVE = "prime256v1"
# The one TLS version every proxy speaks ("1.2" or "1.3", from --tls). Python's ssl cannot
# restrict a client's TLS 1.3 suites, so under TLS 1.3 the servers accept only the TLS 1.3
# suite with CIPHER's AEAD (tls13_suite()), popgate included.
TLS = "1.2"


def tls13_suite():
    return "TLS_CHACHA20_POLY1305_SHA256" if "CHACHA20" in CIPHER else "TLS_AES_128_GCM_SHA256"


def tls_name():
    return "TLSv" + TLS
NGINX_MAIL_MODULE = "/usr/lib/nginx/modules/ngx_mail_module.so"


class Target:
    """A proxy process: start() returns self once its listener accepts; pid is the root of
    its process tree."""

    name = "?"

    def __init__(self, backend_port, cert, key, workers):
        self.backend_port = backend_port
        self.cert = cert
        self.key = key
        self.workers = workers
        self.port = free_port()
        self.dir = make_tmpdir(f"bench-{self.name}")
        self.proc = None
        self._helpers = []

    @property
    def pid(self):
        return self.proc.pid

    def available(self):
        """None if this proxy can run here, else why not."""
        return None

    def argv(self):
        raise NotImplementedError

    def write_config(self):
        raise NotImplementedError

    def start(self):
        self.write_config()
        self._out = open(os.path.join(self.dir, "output.log"), "wb")
        self.proc = subprocess.Popen(self.argv(), stdin=subprocess.DEVNULL, stdout=self._out,
                                     stderr=subprocess.STDOUT, cwd=self.dir)
        try:
            wait_for_listener("127.0.0.1", self.port, START_TIMEOUT, self.proc, self.name)
        except BaseException:
            out = self.output()
            self.stop()
            raise RuntimeError(f"{self.name} did not start:\n{out}")
        return self

    def output(self):
        try:
            with open(os.path.join(self.dir, "output.log"), errors="replace") as f:
                return f.read()[-3000:]
        except OSError:
            return ""

    def stop(self):
        for p in [self.proc] + self._helpers:
            if p is not None and p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in [self.proc] + self._helpers:
            if p is None:
                continue
            try:
                p.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(STOP_TIMEOUT)
        if self.proc is not None:
            self._out.close()
        self.proc = None
        self._helpers = []

    def cleanup(self, keep=False):
        self.stop()
        if not keep:
            remove_tmpdir(self.dir)

    def write(self, name, text):
        path = os.path.join(self.dir, name)
        with open(path, "w") as f:
            f.write(text)
        return path


class Popgate(Target):
    name = "popgate"

    def __init__(self, backend_port, cert, key, workers, binary, name="popgate"):
        self.name = name  # "popgate" (bundled mbedTLS) or "popgate-system"
        super().__init__(backend_port, cert, key, workers)
        self.binary = binary
        config = fixture_popgate.base_config([("127.0.0.1", backend_port)], cert, key)
        config = toml_writer.merge(config, {
            "server": {"workers": workers, "log_level": "info", "max_connections": 8000},
            "tls": {"session_tickets": True, "min_version": TLS,
                    **({"ciphersuites": [tls13_suite()]} if TLS == "1.3" else {})},
            "listener": [{"name": "pop3s", "bind": f"127.0.0.1:{self.port}",
                          "mode": "implicit", "backend": "legacy"}],
            "policy": {"max_sessions_per_ip": 100000,
                       # The session workload logs in thousands of times a second from one
                       # address; no failures are expected, but keep bans out of the way.
                       "ban": {"failures": 1000000}},
        })
        self.config = config

    def available(self):
        if not os.access(self.binary, os.X_OK):
            return f"no popgate binary at {self.binary}"
        if TLS == "1.3":
            version = subprocess.run([self.binary, "--version"], capture_output=True,
                                     text=True, check=False).stdout
            if "TLS 1.3 not available" in version:
                return f"{self.binary} has no TLS 1.3"
        return None

    def write_config(self):
        self.write("popgate.toml", toml_writer.dumps(self.config))

    def argv(self):
        return [self.binary, "-c", os.path.join(self.dir, "popgate.toml")]


class Stunnel(Target):
    name = "stunnel"

    def available(self):
        return None if shutil.which("stunnel") else "stunnel not installed (apt-get install stunnel4)"

    def write_config(self):
        self.write("stunnel.conf", f"""\
foreground = yes
pid =
syslog = no
output = {self.dir}/stunnel.log
debug = notice

[pop3s]
accept = 127.0.0.1:{self.port}
connect = 127.0.0.1:{self.backend_port}
cert = {self.cert}
key = {self.key}
sslVersionMin = {tls_name()}
sslVersionMax = {tls_name()}
ciphers = {CIPHER}
ciphersuites = {tls13_suite()}
curves = {CURVE}
""")

    def argv(self):
        return [shutil.which("stunnel"), os.path.join(self.dir, "stunnel.conf")]


class Haproxy(Target):
    name = "haproxy"

    def available(self):
        return None if shutil.which("haproxy") else "haproxy not installed"

    def write_config(self):
        with open(self.cert) as c, open(self.key) as k:
            self.write("haproxy.pem", c.read() + k.read())
        os.chmod(os.path.join(self.dir, "haproxy.pem"), 0o600)
        self.write("haproxy.cfg", f"""\
global
  maxconn 8000
  nbthread {self.workers}
  ssl-default-bind-ciphers {CIPHER}
  ssl-default-bind-ciphersuites {tls13_suite()}

defaults
  mode tcp
  timeout connect 5s
  timeout client 10m
  timeout server 10m

frontend pop3s
  bind 127.0.0.1:{self.port} ssl crt {self.dir}/haproxy.pem ssl-min-ver {tls_name()} ssl-max-ver {tls_name()} curves {CURVE}
  default_backend dovecot

backend dovecot
  server dovecot 127.0.0.1:{self.backend_port}
""")

    def argv(self):
        return [shutil.which("haproxy"), "-db", "-f", os.path.join(self.dir, "haproxy.cfg")]


class Nginx(Target):
    name = "nginx"

    def available(self):
        if not shutil.which("nginx"):
            return "nginx not installed (apt-get install nginx-core libnginx-mod-mail)"
        if not os.path.exists(NGINX_MAIL_MODULE):
            return "nginx mail module not installed (apt-get install libnginx-mod-mail)"
        return None

    def write_config(self):
        self.write("nginx.conf", f"""\
load_module {NGINX_MAIL_MODULE};
daemon off;
master_process on;
worker_processes {self.workers};
worker_rlimit_nofile 16384;
pid {self.dir}/nginx.pid;
error_log {self.dir}/error.log warn;

events {{
  worker_connections 8000;
}}

mail {{
  server_name localhost;
  auth_http 127.0.0.1:{self.auth_port}/auth;
  proxy_pass_error_message on;
  ssl_certificate {self.cert};
  ssl_certificate_key {self.key};
  ssl_protocols {tls_name()};
  ssl_ciphers {CIPHER};
  ssl_conf_command Ciphersuites {tls13_suite()};
  ssl_ecdh_curve {CURVE};
  ssl_session_tickets on;

  server {{
    listen 127.0.0.1:{self.port} ssl;
    protocol pop3;
    pop3_auth plain;
    proxy on;
  }}
}}
""")

    def start(self):
        self.auth_port = free_port()
        auth = subprocess.Popen(
            [sys.executable, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                          "auth_http.py"),
             str(self.auth_port), "127.0.0.1", str(self.backend_port)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self._helpers.append(auth)
        try:
            wait_for_listener("127.0.0.1", self.auth_port, START_TIMEOUT, auth, "auth_http")
        except BaseException:
            self.stop()
            raise
        return super().start()

    def argv(self):
        return [shutil.which("nginx"), "-p", self.dir, "-e", os.path.join(self.dir, "error.log"),
                "-c", os.path.join(self.dir, "nginx.conf")]


TARGETS = {"popgate": Popgate, "popgate-system": Popgate, "stunnel": Stunnel,
           "haproxy": Haproxy, "nginx": Nginx}


def make_target(name, backend_port, cert, key, workers, popgate_binary, popgate_system_binary):
    """A fresh, not yet started proxy of the given kind."""
    if name == "popgate":
        return Popgate(backend_port, cert, key, workers, popgate_binary)
    if name == "popgate-system":
        return Popgate(backend_port, cert, key, workers, popgate_system_binary, name)
    if name not in TARGETS:
        raise ValueError(f"unknown target {name}: choose from {', '.join(TARGETS)}")
    return TARGETS[name](backend_port, cert, key, workers)
