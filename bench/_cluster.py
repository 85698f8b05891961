"""Starts `corral up` in a scratch directory for a benchmark, and stops it afterwards."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from corral.client import Client, ControllerUnreachable

BIN = Path(sys.executable).parent


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class UpCluster:
    def __init__(self, *args: str) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="corral-bench-"))
        self.socket = self.dir / "corral.sock"
        self.env = {**os.environ, "CORRAL_CONTROLLER": str(self.socket),
                    "PATH": f"{BIN}:{os.environ['PATH']}"}
        self.proc = subprocess.Popen([str(BIN / "corral"), "up", "--data-dir", str(self.dir),
                                      "--port", str(_free_port()), *args], env=self.env,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                client = Client(str(self.socket))
                if client.nodes():
                    client.close()
                    return
            except ControllerUnreachable:
                time.sleep(0.2)
        raise SystemExit("corral up did not start")

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGINT)
        self.proc.wait(timeout=30)
