"""The backend every proxy in the benchmark talks to: the integration tests' private Dovecot,
with limits raised so that thousands of sessions of one user may be logged in at once, and
the mailboxes the workloads read.

The test fixture writes a fixed dovecot.conf; the overrides below are appended to it while it
starts (Dovecot takes the last value of a setting).
"""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))

from popgate_fixtures import dovecot as fixture_dovecot  # noqa: E402
from popgate_fixtures import mail as fixture_mail  # noqa: E402

PASSWORD = "bench-secret"
SESSION_USER = "bench"   # three small messages: what STAT counts in the session workload

# Dovecot's defaults allow 10 sessions per user and IP (mail_max_userip_connections) and one
# login process per connection. The benchmark holds thousands of sessions of one user from
# 127.0.0.1: login processes serve many clients each ("high-performance mode"), and each pop3
# process serves many sessions (all mail belongs to one uid, so that is safe here).
OVERRIDES = """
# Appended by popgate's benchmark: limits for thousands of concurrent sessions of one user.
default_process_limit = 1000
default_client_limit = 20000
default_vsz_limit = 1G
mail_max_userip_connections = 100000
protocol pop3 {
  mail_max_userip_connections = 100000
}
service pop3-login {
  service_count = 0
  process_min_avail = 2
  client_limit = 10000
}
service pop3 {
  service_count = 0
  process_min_avail = 2
  client_limit = 1000
}
service auth {
  client_limit = 20000
}
service anvil {
  client_limit = 20000
}
"""


class BenchDovecot(fixture_dovecot.Dovecot):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, extra_config=OVERRIDES, **kwargs)


def sized_message(subject, size):
    """A message of about `size` bytes (CRLF line ends), content varied but cheap to make: a
    block of distinct lines, some starting with "." so byte-stuffing is exercised, repeated."""
    lines = []
    for i in range(4096):
        if i % 97 == 0:
            lines.append(f".dot line {i:06d} " + "x" * 50)
        else:
            lines.append(f"{i:08d} " + "abcdefghijklmnopqrstuvwxyz0123456789"[i % 36:] * 2)
    block = ("\r\n".join(lines) + "\r\n").encode()
    head = fixture_mail.message(subject, [])  # headers, blank line, empty body line
    body = block * max(1, (size - len(head)) // len(block) + 1)
    return head + body


def make_backend(big_sizes):
    """A Dovecot with the session user and one user per big message size (bytes):
    users "big<MiB>" each with one message of that size. Not started."""
    d = BenchDovecot({SESSION_USER: (PASSWORD, [fixture_mail.message(f"small {i}", [
        f"line {j} of a small message" for j in range(20)]) for i in range(3)])})
    for size in sorted(set(big_sizes)):
        d.add_user(big_user(size), PASSWORD, [sized_message(f"big {size}", size)])
    return d


def big_user(size):
    return f"big{size // (1024 * 1024)}"
