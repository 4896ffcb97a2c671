"""A TCP server in a thread of the test process, for backends scripted by a test: it accepts on a
free loopback port, gives each connection its own thread, and records the connections so a test
can look at what arrived. Subclasses say what a connection records (connection_class) and how it
is served (_serve)."""

import socket
import threading

from .ports import free_port


class ScriptedServer:
    connection_class = None  # called with the accepted socket

    def __init__(self):
        self.host = "127.0.0.1"
        self.port = free_port()
        self.connections = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = []
        self._listener = None

    def start(self):
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind((self.host, self.port))
        self._listener.listen(16)
        self._listener.settimeout(0.1)
        self._spawn(self._accept_loop)
        return self

    def stop(self):
        self._stop.set()
        try:
            self._listener.close()
        except OSError:
            pass
        with self._lock:
            conns = list(self.connections)
        for c in conns:
            try:
                c.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for t in self._threads:
            t.join(5)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def _spawn(self, target, *args):
        t = threading.Thread(target=target, args=args, daemon=True)
        t.start()
        self._threads.append(t)

    def _accept_loop(self):
        while not self._stop.is_set():
            try:
                sock, _ = self._listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            conn = self.connection_class(sock)
            with self._lock:
                self.connections.append(conn)
            self._spawn(self._serve, conn)

    def _serve(self, conn):
        raise NotImplementedError
