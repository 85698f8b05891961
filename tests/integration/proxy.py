"""A byte-forwarding proxy for tests that need to cut a connection where a network would.

It stands between a real client and a real server (the controller's socket, a database's
port): `cut()` closes every connection and stops listening, as a database outage does;
`drop_reply_after(marker)` forwards a request that starts with `marker` but throws its reply
away and hangs up, as a network that fails after the server acted does.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable


class Proxy:
    def __init__(self, listener: socket.socket, upstream: Callable[[], socket.socket]) -> None:
        self.listener = listener
        self.upstream = upstream
        self.sockets: list[socket.socket] = []
        self.drop_marker: bytes | None = None
        self.dropped = 0
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    @classmethod
    def tcp(cls, target: tuple[str, int]) -> Proxy:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        return cls(listener, lambda: socket.create_connection(target))

    @classmethod
    def unix(cls, path: str, target: str) -> Proxy:
        listener = socket.socket(socket.AF_UNIX)
        listener.bind(path)
        listener.listen(64)

        def connect() -> socket.socket:
            sock = socket.socket(socket.AF_UNIX)
            sock.connect(target)
            return sock
        return cls(listener, connect)

    @property
    def port(self) -> int:
        return int(self.listener.getsockname()[1])

    def drop_reply_after(self, marker: bytes) -> None:
        self.drop_marker = marker

    def cut(self) -> None:
        with self.lock:
            for sock in [self.listener, *self.sockets]:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()
            self.sockets.clear()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = self.upstream()
            with self.lock:
                self.sockets += [client, server]
            dropping = threading.Event()
            threading.Thread(target=self._pump, args=(client, server, dropping, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, dropping, False), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, dropping: threading.Event,
              requests: bool) -> None:
        try:
            while data := source.recv(65536):
                if requests and self.drop_marker and data.startswith(self.drop_marker):
                    self.drop_marker = None
                    dropping.set()
                if not requests and dropping.is_set():
                    self.dropped += 1
                    break  # the server answered; the client never hears it
                sink.sendall(data)
        except OSError:
            pass
        for sock in (source, sink):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
