"""Network namespaces a test creates and removes: joined by veth pairs, with documentation
addresses only (RFC 5737 192.0.2.0/24, 198.51.100.0/24; RFC 3849 2001:db8::/32).

`entered(name)` runs a block with the calling thread inside a namespace: a socket made there
stays there, so the test process itself is the client (and probes listeners) without a helper
process. Processes started in a namespace (`prefix(name) + argv`) survive `ip netns del`: the
fixtures that start them stop them first, by PID.
"""

import contextlib
import ctypes
import os
import subprocess

_CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


def run(*argv, check=True):
    """Runs an `ip`/`iptables` command; raises with its output when it fails and check is set."""
    p = subprocess.run(list(argv), capture_output=True, text=True)
    if check and p.returncode != 0:
        raise AssertionError(f"{' '.join(argv)}: exit {p.returncode}: {p.stderr.strip()}")
    return p


def _setns(fd):
    if _libc.setns(fd, _CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"setns: {os.strerror(err)}")


@contextlib.contextmanager
def entered(name):
    """The calling thread in namespace `name` for the block, then back where it was."""
    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    target = os.open(f"/run/netns/{name}", os.O_RDONLY)
    try:
        _setns(target)
        try:
            yield
        finally:
            _setns(own)
    finally:
        os.close(target)
        os.close(own)


def prefix(name):
    """The argv prefix that runs a program in namespace `name` (ip execs it: same PID)."""
    return ["ip", "netns", "exec", name]


class Namespaces:
    """Namespaces named `<tag>-<role>`, created with loopback up; remove() deletes them all."""

    def __init__(self, tag):
        self.tag = tag
        self.created = []

    def name(self, role):
        return f"{self.tag}-{role}"

    def add(self, role):
        name = self.name(role)
        run("ip", "netns", "add", name)
        self.created.append(name)
        self.ip(role, "link", "set", "lo", "up")
        return name

    def ip(self, role, *args):
        return run("ip", "-n", self.name(role), *args)

    def exec(self, role, *argv, check=True):
        return run(*prefix(self.name(role)), *argv, check=check)

    def link(self, a, a_if, b, b_if):
        """A veth pair between roles a and b, both ends up."""
        run("ip", "link", "add", a_if, "netns", self.name(a), "type", "veth",
            "peer", "name", b_if, "netns", self.name(b))
        self.ip(a, "link", "set", a_if, "up")
        self.ip(b, "link", "set", b_if, "up")

    def address(self, role, ifname, cidr):
        # nodad: an IPv6 address is usable at once, not after duplicate address detection.
        extra = ["nodad"] if ":" in cidr else []
        self.ip(role, "addr", "add", cidr, "dev", ifname, *extra)

    def remove(self):
        for name in reversed(self.created):
            run("ip", "netns", "del", name, check=False)
        self.created = []
