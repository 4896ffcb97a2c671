"""Reading popgate's metrics endpoint: fetch the Prometheus text, parse it into samples, look up
one series, and ask /healthz. Standard library only."""

import re
import shutil
import subprocess
import urllib.error
import urllib.request

from .wait import Timeout, wait_until

PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"

# One sample line of the text exposition format 0.0.4: name, optional {labels}, value, and an
# optional timestamp that popgate never writes.
_SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\S+)?$')
_LABEL = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*,?')


def fetch(url, timeout=5.0):
    """The body of GET url as text; raises on a status other than 200."""
    with urllib.request.urlopen(url, timeout=timeout) as r:
        assert r.status == 200, f"GET {url}: status {r.status}"
        return r.read().decode()


def _labels(text):
    labels = {}
    pos = 0
    while pos < len(text):
        m = _LABEL.match(text, pos)
        assert m, f"cannot parse labels {{{text}}} at {pos}"
        labels[m.group(1)] = re.sub(r'\\(.)', lambda e: {"n": "\n"}.get(e.group(1), e.group(1)),
                                    m.group(2))
        pos = m.end()
    return labels


def parse(text):
    """{(name, frozenset(labels.items())): float} for every sample line."""
    samples = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = _SAMPLE.match(line)
        assert m, f"not a sample line: {line!r}"
        samples[(m.group(1), frozenset(_labels(m.group(2) or "").items()))] = float(m.group(3))
    return samples


class Scrape:
    """One scrape of the metrics endpoint: the raw text and its samples."""

    def __init__(self, text):
        self.text = text
        self.samples = parse(text)

    def value(self, name, /, **labels):
        """The sample with exactly these labels; 0 if the series is absent (a counter that
        was never created has counted nothing)."""
        return self.samples.get((name, frozenset(labels.items())), 0.0)

    def series(self, name):
        """[(labels dict, value)] of every sample of name."""
        return [(dict(l), v) for (n, l), v in self.samples.items() if n == name]

    def has(self, name, /, **labels):
        return (name, frozenset(labels.items())) in self.samples


def scrape(popgate):
    return Scrape(fetch(popgate.metrics_url))


def healthz_url(popgate):
    bind = popgate.config["metrics"]["bind"]
    return f"http://{bind}/healthz"


def healthz_status(popgate, timeout=2.0):
    """The HTTP status of /healthz, or None when nothing answers."""
    try:
        with urllib.request.urlopen(healthz_url(popgate), timeout=timeout) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code
    except OSError:
        return None


def wait_for_value(popgate, want, name, /, timeout=10.0, **labels):
    """Polls until the series equals want; returns that scrape. On timeout, the message shows
    every series of the family as last scraped."""
    last = []

    def ready():
        s = scrape(popgate)
        last[:] = [s]
        return s if s.value(name, **labels) == want else None
    try:
        return wait_until(ready, timeout, f"{name}{labels} to be {want:g}", interval=0.05)
    except Timeout as e:
        seen = last[0].series(name) if last else "no scrape"
        raise Timeout(f"{e}; last scrape of {name}: {seen}") from None


def promtool_check(text):
    """`promtool check metrics` on the text: (exit status, its output)."""
    r = subprocess.run([PROMTOOL, "check", "metrics"], input=text, capture_output=True,
                       text=True, timeout=60)
    return r.returncode, r.stdout + r.stderr
