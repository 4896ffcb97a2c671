"""Short temp dirs under /tmp. Dovecot's unix sockets live in its base_dir and a socket path has
at most 107 bytes, so pytest's long tmp_path is not used for Dovecot. The unprivileged Dovecot
processes (dovenull, dovecot, the mail user) must traverse the dir: mkdtemp's 0700 is opened to
0755."""

import os
import shutil
import tempfile


def make_tmpdir(prefix):
    path = tempfile.mkdtemp(prefix=f"pg-{prefix}-", dir="/tmp")
    os.chmod(path, 0o755)
    return path


def remove_tmpdir(path):
    shutil.rmtree(path, ignore_errors=True)
