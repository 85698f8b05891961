"""A real cluster for tests: a controller and agents as separate processes on loopback."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from corral.client import Client, ClientError, ControllerUnreachable

BIN = Path(sys.executable).parent


def cgroups_or_skip() -> None:
    """Skips a test that needs root and a writable memory cgroup where there is none, with the
    reason; under CI that is a failure (only GPU tests may skip there)."""
    import pytest

    from corral.agent import cgroups

    hierarchy, why = cgroups.detect(f"check-{os.getpid()}")
    reason = None
    if os.geteuid() != 0:
        reason = "cgroup tests need root"
    elif hierarchy is None:
        reason = f"no usable cgroups: {why}"
    elif "memory" not in cgroups.probe(hierarchy):
        reason = f"{hierarchy.describe()} has no writable memory controller"
    if reason is None:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (in CI only GPU tests may be skipped)")
    pytest.skip(reason)


def read_until(fd: int, wanted: bytes, timeout: float = 30) -> bytes:
    """What a pty (or pipe) gave until `wanted` appeared, it closed, or `timeout` passed."""
    import select

    seen = b""
    deadline = time.monotonic() + timeout
    while wanted not in seen and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.1)
        if ready:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
    return seen


def open_dir(prefix: str) -> Path:
    """A scratch directory outside pytest's 0700 temp root, so that jobs of other users can
    reach their files."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    path.chmod(0o755)
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Cluster:
    """Starts `corral controller` and `corral agent`s; commands run with CORRAL_CONTROLLER set."""

    def __init__(self, root: Path, *, nodes: int = 2, cpus: int = 2, memory: str = "2G",
                 gpus: int = 0, kill_wait: float = 1.0, config: str | None = None,
                 db_url: str | None = None) -> None:
        self.root = root
        self.data_dir = root / "controller"
        self.socket = self.data_dir / "corral.sock"
        self.port = free_port()
        self.key = "test-cluster-key"
        self.node_names = [f"node{i}" for i in range(1, nodes + 1)]
        self.cpus, self.memory, self.gpus = cpus, memory, gpus
        self.kill_wait = kill_wait
        self.config = config
        self.db_url = db_url
        self.controller: subprocess.Popen[bytes] | None = None
        self.agents: dict[str, subprocess.Popen[bytes]] = {}
        (root / "logs").mkdir(parents=True, exist_ok=True)
        self.env = {**os.environ, "CORRAL_CONTROLLER": str(self.socket),
                    "CORRAL_CLUSTER_KEY": self.key, "PATH": f"{BIN}:{os.environ['PATH']}"}

    def _spawn(self, args: Sequence[str], log: str) -> subprocess.Popen[bytes]:
        handle = open(self.root / "logs" / log, "ab")
        try:
            return subprocess.Popen([str(BIN / "corral"), "-v", *args], env=self.env,
                                    stdout=handle, stderr=handle, stdin=subprocess.DEVNULL,
                                    start_new_session=True)
        finally:
            handle.close()

    def start_controller(self) -> None:
        args = ["controller", "--data-dir", str(self.data_dir), "--port", str(self.port),
                "--kill-wait", str(self.kill_wait)]
        if self.config:
            path = self.root / "cluster.toml"
            path.write_text(self.config)
            args += ["--config", str(path)]
        if self.db_url:
            args += ["--db", self.db_url]
        self.controller = self._spawn(args, "controller.log")
        self.wait_for(lambda: self._pings(), what="the controller to answer")

    def _pings(self) -> bool:
        assert self.controller is not None
        if self.controller.poll() is not None:
            raise RuntimeError("controller exited:\n" + self.log("controller.log"))
        try:
            with self.client() as client:
                client.ping()
            return True
        except ControllerUnreachable:
            return False

    def start_agent(self, name: str) -> None:
        self.agents[name] = self._spawn(
            ["agent", "--controller", f"http://127.0.0.1:{self.port}", "--name", name,
             "--cpus", str(self.cpus), "--memory", self.memory, "--gpus", str(self.gpus),
             "--state-dir", str(self.root / "agents" / name)], f"agent-{name}.log")

    def start(self) -> Cluster:
        self.start_controller()
        for name in self.node_names:
            self.start_agent(name)
        self.wait_for(self._all_nodes_up, what="every node to register")
        return self

    def _all_nodes_up(self) -> bool:
        with self.client() as client:
            up = {n["name"] for n in client.nodes() if n["responding"]}
        return set(self.node_names) <= up

    def stop_process(self, proc: subprocess.Popen[bytes] | None, sig: int = signal.SIGTERM) -> None:
        if proc is not None and proc.poll() is None:
            proc.send_signal(sig)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def stop(self) -> None:
        for proc in self.agents.values():
            self.stop_process(proc)
        self.stop_process(self.controller)
        # Jobs that a test left running must not outlive it.
        subprocess.run(["pkill", "-KILL", "-f", f"corral.agent.supervisor {self.root}"], check=False)

    def client(self) -> Client:
        return _ClosingClient(str(self.socket))

    def run(self, *argv: str, input: str | None = None, cwd: Path | None = None,
            env: Mapping[str, str] | None = None, check: bool = False) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(list(argv), input=input, capture_output=True, text=True,
                                cwd=cwd or self.root, env={**self.env, **(env or {})}, timeout=60)
        if check and result.returncode != 0:
            raise AssertionError(f"{argv} failed ({result.returncode}): {result.stderr}")
        return result

    def sbatch(self, *args: str, cwd: Path | None = None, **kwargs: Any) -> int:
        result = self.run("sbatch", "--parsable", *args, cwd=cwd, **kwargs)
        assert result.returncode == 0, result.stderr
        return int(result.stdout.strip())

    def job(self, job_id: int) -> dict[str, Any]:
        with self.client() as client:
            try:
                return dict(client.job(job_id))
            except ClientError:
                return dict(client.history(job_ids=[str(job_id)])[0])

    def wait_job(self, job_id: int, states: Sequence[str] = (), timeout: float = 60) -> dict[str, Any]:
        wanted = set(states) or {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "OUT_OF_MEMORY",
                                 "NODE_FAIL"}
        found: dict[str, Any] = {}

        def reached() -> bool:
            found.update(self.job(job_id))
            return found["state"] in wanted

        self.wait_for(reached, timeout=timeout, what=f"job {job_id} to reach {sorted(wanted)}")
        return found

    def wait_for(self, predicate: Any, *, timeout: float = 30, what: str = "a condition") -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return
            time.sleep(0.05)
        raise AssertionError(f"timed out waiting for {what}\n{self.log('controller.log')[-3000:]}")

    def log(self, name: str) -> str:
        path = self.root / "logs" / name
        return path.read_text(errors="replace") if path.exists() else ""


class _ClosingClient(Client):
    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def as_user(uid: int, gid: int, action: Callable[[], object]) -> object:
    """Runs `action` in a forked child that has become `uid`: the controller learns who is
    calling only from the socket's peer credentials. (The venv's interpreter may not be
    executable by other users here, so the child is forked rather than exec'd.)"""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_end)
        try:
            os.setgroups([])
            os.setgid(gid)
            os.setuid(uid)
            try:
                result: object = {"ok": action()}
            except ClientError as exc:
                result = {"error": exc.message, "status": exc.status}
            except Exception as exc:  # noqa: BLE001 - reported to the parent, which fails
                result = {"error": repr(exc), "status": None}
            os.write(write_end, json.dumps(result).encode())
        finally:
            os._exit(0)
    os.close(write_end)
    data = b""
    while chunk := os.read(read_end, 65536):
        data += chunk
    os.close(read_end)
    os.waitpid(pid, 0)
    return json.loads(data)
