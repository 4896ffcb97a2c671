"""pytest fixtures for popgate's integration tests (see popgate_fixtures/ for the pieces).

  tls_material          self-signed ECDSA P-256 and RSA certificates for "localhost"
  dovecot_factory(users) a started private Dovecot; users = {name: (password, [messages])}
  dovecot               one started with DEFAULT_USERS
  fault_backend_factory(on_retr=..., messages=...) a started scripted backend
  popgate_factory(backend_servers, starttls=False, overrides={}) a started popgate
  popgate               one in front of `dovecot`
  client_ctx            an ssl.SSLContext trusting tls_material's ECDSA certificate

Everything a fixture starts is stopped at teardown by its PID. popgate must exit 0 on SIGTERM;
when a test fails, popgate's and Dovecot's logs are printed with the failure.
"""

import pytest

from popgate_fixtures import mail as mailgen
from popgate_fixtures.certs import make_tls_material
from popgate_fixtures.dovecot import Dovecot
from popgate_fixtures.fault_backend import FaultBackend
from popgate_fixtures.pop3client import client_context
from popgate_fixtures.popgate import Popgate, base_config
from popgate_fixtures.tmpdirs import make_tmpdir, remove_tmpdir
from popgate_fixtures.toml_writer import merge

DEFAULT_USERS = {
    "alice": ("alice-secret", [
        mailgen.message("hello", ["Hello Alice,", "", "a plain first message."]),
        mailgen.dot_message(),
        mailgen.message("third", ["x" * 998, "short", ""]),
    ]),
    "bob": ("bob-secret", []),
}


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)


def _failed(request):
    rep = getattr(request.node, "rep_call", None)
    return rep is not None and rep.failed


@pytest.fixture
def workdir():
    path = make_tmpdir("test")
    yield path
    remove_tmpdir(path)


@pytest.fixture
def tls_material(workdir):
    return make_tls_material(workdir)


@pytest.fixture
def client_ctx(tls_material):
    return client_context(tls_material.cert)


@pytest.fixture
def dovecot_factory(request):
    started = []

    def make(users):
        d = Dovecot(users)
        started.append(d)
        return d.start()

    yield make
    for d in started:
        if _failed(request):
            print(f"\n=== Dovecot on port {d.port}\n{d.diagnostics()}")
        d.cleanup()


@pytest.fixture
def dovecot(dovecot_factory):
    return dovecot_factory(DEFAULT_USERS)


@pytest.fixture
def fault_backend_factory():
    started = []

    def make(**kwargs):
        b = FaultBackend(**kwargs)
        started.append(b)
        return b.start()

    yield make
    for b in started:
        b.stop()


@pytest.fixture
def popgate_factory(request, workdir, tls_material):
    started = []

    def make(backend_servers, starttls=False, overrides=None, config=None, journal=False,
             prepare=None):
        """backend_servers: [(host, port)]; overrides: merged into the base config (a None
        value deletes a key); config: replaces the config altogether; journal: stderr is
        announced as the journal (JOURNAL_STREAM); prepare(popgate) runs before the start (to
        set extra_env or preexec)."""
        cfg = config or base_config(backend_servers, tls_material.cert, tls_material.key,
                                    starttls=starttls)
        if overrides:
            cfg = merge(cfg, overrides)
        p = Popgate(workdir, cfg, journal=journal)
        if prepare:
            prepare(p)
        started.append(p)
        return p.start()

    yield make
    problems = []
    for p in started:
        rc = p.stop()
        if p.start_failed:
            continue  # the test already failed with popgate's output
        if rc != 0 and rc is not None:
            problems.append(f"popgate exited with status {rc} after SIGTERM (want 0)")
        if _failed(request) or (rc != 0 and rc is not None):
            print(f"\n=== popgate output ({p.config_path})\n{p.stderr_text()}")
    assert not problems, "; ".join(problems)


@pytest.fixture
def popgate(popgate_factory, dovecot):
    return popgate_factory([(dovecot.host, dovecot.port)])
