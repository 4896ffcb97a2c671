"""Free loopback ports. The kernel picks one for a socket bound to port 0; we remember what we
handed out so one test process never gets the same port twice."""

import socket

_handed_out = set()


def free_port(host="127.0.0.1"):
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind((host, 0))
            port = s.getsockname()[1]
        if port not in _handed_out:
            _handed_out.add(port)
            return port
    raise RuntimeError("no free port found")


def closed_port(host="127.0.0.1"):
    """A port that nothing listens on (right now): connecting gets ECONNREFUSED."""
    return free_port(host)
