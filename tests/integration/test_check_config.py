"""`popgate -c FILE --check` (SPEC §2): every error printed as FILE:LINE:COL: message, exit 1;
a valid config with real certificate files exits 0."""

import os
import re
import shutil
import subprocess

from popgate_fixtures.popgate import popgate_bin, sanitizer_env
from popgate_fixtures.ports import free_port

# Two planted mistakes: a duration that does not parse (line 4, its value starts at column 18)
# and a key SPEC §3 does not know (line 15, column 1). Everything else is valid.
BROKEN = """\
# popgate configuration with two planted mistakes
[server]
workers = 1
shutdown_grace = "30 parsecs"

[[tls.certificate]]
cert = "cert.pem"
key = "key.pem"

[[listener]]
name = "pop3s"
bind = "127.0.0.1:{port}"
mode = "implicit"
backend = "legacy"
colour = "blue"

[[backend]]
name = "legacy"
servers = ["127.0.0.1:{backend_port}"]
"""

VALID = """\
[server]
workers = 1
shutdown_grace = "5s"

[tls]
min_version = "1.2"

[[tls.certificate]]
cert = "cert.pem"
key = "key.pem"

[[listener]]
name = "pop3s"
bind = "127.0.0.1:{port}"
mode = "implicit"
backend = "legacy"

[[listener]]
name = "pop3"
bind = "127.0.0.1:{port2}"
mode = "starttls"
backend = "legacy"

[[backend]]
name = "legacy"
servers = ["127.0.0.1:{backend_port}"]
connect_timeout = "5s"

[policy]
idle_timeout = "10m"

[metrics]
bind = "127.0.0.1:{metrics_port}"
"""


def run_check(config_arg, cwd):
    return subprocess.run([popgate_bin(), "-c", config_arg, "--check"], cwd=cwd,
                          capture_output=True, text=True, errors="replace",
                          env=sanitizer_env(), timeout=60)


def install_certs(workdir, tls_material):
    shutil.copy(tls_material.cert, os.path.join(workdir, "cert.pem"))
    shutil.copy(tls_material.key, os.path.join(workdir, "key.pem"))


def write_valid_config(workdir):
    """VALID on free ports as WORKDIR/popgate.toml; returns its path."""
    config = os.path.join(workdir, "popgate.toml")
    with open(config, "w") as f:
        f.write(VALID.format(port=free_port(), port2=free_port(), backend_port=free_port(),
                             metrics_port=free_port()))
    return config


def test_broken_config_reports_file_line_and_column(workdir, tls_material):
    install_certs(workdir, tls_material)
    with open(os.path.join(workdir, "broken.toml"), "w") as f:
        f.write(BROKEN.format(port=free_port(), backend_port=free_port()))
    result = run_check("broken.toml", cwd=workdir)
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    lines = output.splitlines()
    duration = [l for l in lines if l.startswith("broken.toml:4:18: ")]
    unknown = [l for l in lines if l.startswith("broken.toml:15:1: ")]
    assert duration, f"no error at the bad duration (broken.toml:4:18):\n{output}"
    assert unknown, f"no error at the unknown key (broken.toml:15:1):\n{output}"
    assert "colour" in unknown[0], unknown[0]
    assert not any("Sanitizer" in l for l in lines), output


def test_valid_config_with_real_certificates_passes(workdir, tls_material):
    install_certs(workdir, tls_material)
    config = write_valid_config(workdir)
    # Run from elsewhere: certificate paths are relative to the config file, not the cwd.
    result = run_check(config, cwd="/")
    assert result.returncode == 0, result.stdout + result.stderr


def test_key_that_does_not_match_the_certificate_fails(workdir, tls_material):
    shutil.copy(tls_material.cert, os.path.join(workdir, "cert.pem"))
    shutil.copy(tls_material.rsa_key, os.path.join(workdir, "key.pem"))
    config = write_valid_config(workdir)
    result = run_check(config, cwd="/")
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert re.search(r"key", output, re.IGNORECASE), output
