"""A minimal HTTP/1.1 transport over a Unix socket or TCP, for the commands' fast start.

`http.client` imports the `email` package (~30 ms); the commands are called in loops by tools,
so plain requests with a JSON body are spoken here directly. https falls back to http.client.
"""

from __future__ import annotations

import socket


class TransportError(OSError):
    """The connection failed or the reply was not HTTP."""


class Connection:
    def __init__(self, *, unix_path: str | None = None, host: str = "localhost",
                 port: int = 80, timeout: float = 30.0) -> None:
        self.unix_path = unix_path
        self.host = host
        self.port = port
        self.timeout = timeout
        self.sock: socket.socket | None = None
        self.buffer = b""

    def _connect(self) -> socket.socket:
        if self.unix_path is not None:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(self.timeout)
            sock.connect(self.unix_path)
        else:
            sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
        return sock

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None
        self.buffer = b""

    def request(self, method: str, target: str, body: bytes | None,
                headers: dict[str, str]) -> tuple[int, str, bytes]:
        """(status, reason, body). Retries once on a kept-alive socket the server closed."""
        for attempt in (1, 2):
            reused = self.sock is not None
            try:
                if self.sock is None:
                    self.sock = self._connect()
                self._send(method, target, body, headers)
                return self._receive()
            except (TransportError, OSError):
                self.close()
                if not reused or attempt == 2:
                    raise
        raise TransportError("unreachable")

    def _send(self, method: str, target: str, body: bytes | None, headers: dict[str, str]) -> None:
        assert self.sock is not None
        lines = [f"{method} {target} HTTP/1.1", f"Host: {self.host}"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        lines.append(f"Content-Length: {len(body or b'')}")
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + (body or b""))

    def _read_more(self) -> None:
        assert self.sock is not None
        chunk = self.sock.recv(65536)
        if not chunk:
            raise TransportError("connection closed by the controller")
        self.buffer += chunk

    def _read_until(self, marker: bytes) -> bytes:
        while marker not in self.buffer:
            self._read_more()
        head, _, self.buffer = self.buffer.partition(marker)
        return head

    def _read_exactly(self, size: int) -> bytes:
        if len(self.buffer) >= size:
            data, self.buffer = self.buffer[:size], self.buffer[size:]
            return data
        # Large replies (squeue over 10,000 jobs is ~10 MB) are read straight into one buffer:
        # growing a bytes object chunk by chunk would copy the reply hundreds of times.
        assert self.sock is not None
        received = bytearray(size)
        view = memoryview(received)
        filled = len(self.buffer)
        view[:filled] = self.buffer
        self.buffer = b""
        while filled < size:
            got = self.sock.recv_into(view[filled:], min(size - filled, 1 << 20))
            if not got:
                raise TransportError("connection closed by the controller")
            filled += got
        return bytes(received)

    def _receive(self) -> tuple[int, str, bytes]:
        head = self._read_until(b"\r\n\r\n").decode("latin-1").split("\r\n")
        parts = head[0].split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
            raise TransportError(f"not an HTTP reply: {head[0]!r}")
        headers = {}
        for line in head[1:]:
            key, _, value = line.partition(":")
            headers[key.strip().lower()] = value.strip()
        if headers.get("transfer-encoding", "").lower() == "chunked":
            body = b""
            while True:
                size = int(self._read_until(b"\r\n").split(b";")[0], 16)
                if size == 0:
                    self._read_until(b"\r\n")
                    break
                body += self._read_exactly(size)
                self._read_exactly(2)
        else:
            body = self._read_exactly(int(headers.get("content-length", "0")))
        if headers.get("connection", "").lower() == "close":
            self.close()
        return int(parts[1]), parts[2] if len(parts) > 2 else "", body
