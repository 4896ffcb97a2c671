"""A private POP3 Dovecot on a free loopback port for the container stages (scripts/image-test,
scripts/kube-test), built from the integration tests' Dovecot fixture.

    cd tests/integration && python3 ../../scripts/lib/dovecot_runner.py USER PASSWORD [PORTS]

prints one line: Dovecot's port, then PORTS (default 3) more free loopback ports for the caller.
The user's mailbox holds two messages: "Hello from a container." and a byte-stuffed one. That
Dovecot dies with this process (PR_SET_PDEATHSIG); it stays until stdin is closed, then stops
Dovecot and removes its files."""

import sys

from popgate_fixtures import mail
from popgate_fixtures.dovecot import Dovecot
from popgate_fixtures.ports import free_port

user, password = sys.argv[1:3]
ports = int(sys.argv[3]) if len(sys.argv) > 3 else 3
d = Dovecot({user: (password, [mail.message("from the image test", ["Hello from a container."]),
                               mail.dot_message()])}).start()
try:
    print(d.port, *(free_port() for _ in range(ports)), flush=True)
    sys.stdin.read()
finally:
    d.cleanup()
