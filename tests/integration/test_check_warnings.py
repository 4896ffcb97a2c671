"""`--check` warns about a certificate that expires within 14 days, on the FILE:LINE:COL of its
`cert` key, and still exits 0: the configuration is valid, the certificate needs renewing."""

import os
import re

from popgate_fixtures import toml_writer
from popgate_fixtures.certs import make_self_signed
from popgate_fixtures.popgate import base_config
from popgate_fixtures.ports import free_port

from test_lifecycle import line_of, run_popgate


def check_with_certificate_valid_for(workdir, days):
    cert, key = make_self_signed(workdir, f"d{days}", "ec", days=days)
    text = toml_writer.dumps(base_config([("127.0.0.1", free_port())], cert, key))
    path = os.path.join(workdir, f"check-{days}.toml")
    with open(path, "w") as f:
        f.write(text)
    return path, text.splitlines(), cert, run_popgate("-c", path, "--check")


def test_a_certificate_expiring_within_14_days_is_a_warning(workdir):
    path, lines, cert, r = check_with_certificate_valid_for(workdir, 5)
    assert r.returncode == 0, r.stdout + r.stderr
    line = line_of(lines, "cert = ")
    assert re.search(rf"^{re.escape(path)}:{line}:\d+: warning: certificate 'localhost' "
                     rf"\({re.escape(cert)}\) expires in [45] days; renew it$", r.stderr, re.M), \
        r.stderr
    assert "configuration is valid" in r.stdout


def test_a_certificate_valid_for_a_month_is_not_mentioned(workdir):
    _, _, _, r = check_with_certificate_valid_for(workdir, 30)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "warning" not in r.stderr, r.stderr
