"""srun's side of a step's I/O: the WebSocket server the nodes connect back to, and where the
tasks' output goes (srun's own stdout/stderr, or --output/--error files, with -l labels).

The protocol is corral.api.stepio's. Each node's connection is served on its own thread;
what they learn goes to the main thread through `events`.
"""

from __future__ import annotations

import hmac
import os
import queue
import threading
from collections.abc import Callable
from typing import Any

from corral.api import stepio

Expander = Callable[[str, int], str]


class OutputFileError(Exception):
    """A task's --output/--error file cannot be opened; worded as Slurm 22.05's slurmstepd."""


class Output:
    """Writes task output where srun's options say, line-labelled with -l."""

    def __init__(self, *, ntasks: int, label: bool, stdout: str | None, stderr: str | None,
                 expand: Expander, work_dir: str, truncate: bool, procids: list[int]) -> None:
        self.width = len(str(max(0, ntasks - 1))) if label else None
        self.lock = threading.Lock()
        self.partial: dict[tuple[int, int], bytes] = {}
        self.files: dict[str, int] = {}
        self.targets: dict[tuple[int, int], int] = {}
        flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | (os.O_TRUNC if truncate else 0)
        for procid in procids:
            for stream, pattern in ((stepio.STDOUT, stdout), (stepio.STDERR, stderr or stdout)):
                if not pattern:
                    self.targets[(procid, stream)] = 1 if stream == stepio.STDOUT else 2
                    continue
                if pattern == "none":
                    self.targets[(procid, stream)] = -1
                    continue
                path = os.path.join(work_dir, expand(pattern, procid))
                if path not in self.files:
                    try:
                        self.files[path] = os.open(path, flags, 0o644)
                    except OSError as exc:  # e.g. a directory named by %A_%a that is not there
                        name = "stdout" if stream == stepio.STDOUT else "stderr"
                        raise OutputFileError(f"Could not open {name} file {path}: "
                                              f"{exc.strerror}") from None
                self.targets[(procid, stream)] = self.files[path]

    def write(self, procid: int, stream: int, data: bytes) -> None:
        with self.lock:
            key = (procid, stream)
            if self.width is not None:
                data = self.partial.pop(key, b"") + data
                complete, newline, rest = data.rpartition(b"\n")
                if rest:
                    self.partial[key] = rest
                if not newline:
                    return
                prefix = f"{procid:>{self.width}}: ".encode()
                data = b"".join(prefix + line + b"\n" for line in complete.split(b"\n"))
            self._emit(key, data)

    def _emit(self, key: tuple[int, int], data: bytes) -> None:
        fd = self.targets.get(key, 1 if key[1] == stepio.STDOUT else 2)
        if fd < 0:
            return
        view = memoryview(data)
        while view:
            try:
                written = os.write(fd, view)
            except BrokenPipeError:
                return
            view = view[written:]

    def close(self) -> None:
        with self.lock:
            for key, rest in self.partial.items():
                prefix = f"{key[0]:>{self.width}}: ".encode()
                self._emit(key, prefix + rest)
            self.partial.clear()
            for fd in self.files.values():
                os.close(fd)
            self.files.clear()


class StepServer:
    """Serves the nodes' connections of one step; only holders of the key get in."""

    def __init__(self, key: str, output: Output | None = None) -> None:
        self.key = key
        self.output = output
        self.events: queue.Queue[tuple[str, Any]] = queue.Queue()
        self.conns: dict[str, Any] = {}
        self.node_tasks: dict[str, list[int]] = {}
        self.exits: dict[int, tuple[int, int]] = {}
        self.signals: list[int] = []  # every signal sent so far, for nodes that connect late
        self.verdict: str | None = None  # whether srun can serve the step, told to each node
        self.lock = threading.Lock()
        self.server: Any = None

    def start(self, bind: str) -> int:
        from websockets.sync.server import serve

        self.server = serve(self._handle, bind, 0, process_request=self._check_key,
                            compression=None, ping_interval=None, max_size=None,
                            server_header=None, close_timeout=2)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return int(self.server.socket.getsockname()[1])

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()

    def _check_key(self, connection: Any, request: Any) -> Any:
        given = request.headers.get("Authorization", "")
        if hmac.compare_digest(given.encode(), f"Bearer {self.key}".encode()):
            return None
        return connection.respond(403, "Forbidden\n")

    def _handle(self, conn: Any) -> None:
        node = None
        try:
            hello = stepio.parse_control(conn.recv(timeout=30))
            node = str(hello["hello"])
            with self.lock:
                self.conns[node] = conn
                self.node_tasks[node] = [int(p) for p in hello.get("tasks", [])]
                missed = list(self.signals)
                verdict = self.verdict
            if verdict is not None:
                conn.send(verdict)
            for sig in missed:
                conn.send(stepio.control({"signal": sig}))
            self.events.put(("hello", node))
            for message in conn:
                if isinstance(message, bytes):
                    procid, stream, payload = stepio.parse_data_frame(message)
                    if self.output is not None:
                        self.output.write(procid, stream, payload)
                    continue
                control = stepio.parse_control(message)
                if "exit" in control:
                    status = control.get("status") or {}
                    with self.lock:
                        self.exits[int(control["exit"])] = (int(status.get("exit_code", 0)),
                                                            int(status.get("signal", 0)))
                    self.events.put(("exit", int(control["exit"])))
                elif control.get("done"):
                    self.events.put(("done", node))
                    return
        except Exception:  # noqa: BLE001 - a broken node connection is reported, not raised
            pass
        finally:
            with self.lock:
                self.conns.pop(node or "", None)
        self.events.put(("lost", node))

    def decide(self, failure: str | None) -> None:
        """Tells every node, now or when it connects, whether srun can serve the step."""
        verdict = stepio.control({"launch_failed": failure} if failure else {"launch": "ok"})
        with self.lock:
            self.verdict = verdict
            nodes = list(self.conns)
        for node in nodes:
            self.send(node, verdict)

    def send(self, node: str, message: str | bytes) -> None:
        with self.lock:
            conn = self.conns.get(node)
        if conn is None:
            return
        try:
            conn.send(message)
        except Exception:  # noqa: BLE001 - the handler thread notices the loss
            pass

    def broadcast(self, message: str | bytes) -> None:
        with self.lock:
            nodes = list(self.conns)
        for node in nodes:
            self.send(node, message)

    def signal(self, sig: int) -> None:
        with self.lock:
            self.signals.append(sig)
            nodes = list(self.conns)
        for node in nodes:
            self.send(node, stepio.control({"signal": sig}))

    def close_all(self) -> None:
        with self.lock:
            conns = list(self.conns.values())
        for conn in conns:
            try:
                conn.close()
            except Exception:  # noqa: BLE001
                pass


def forward_input(server: StepServer, fd: int, target: int, *, tasks_of: dict[str, list[int]]
                  ) -> None:
    """Copies srun's stdin to the tasks (every task, or only `target`) until end of file."""
    while True:
        try:
            data = os.read(fd, 65536)
        except OSError:
            data = b""
        for node, procids in tasks_of.items():
            if target == stepio.ALL_TASKS or target in procids:
                server.send(node, stepio.data_frame(target, stepio.STDIN, data))
        if not data:
            return


def task_ranges(procids: list[int]) -> str:
    """[0, 1, 2, 5] → '0-2,5', as srun names groups of tasks."""
    parts: list[str] = []
    ordered = sorted(procids)
    i = 0
    while i < len(ordered):
        j = i
        while j + 1 < len(ordered) and ordered[j + 1] == ordered[j] + 1:
            j += 1
        parts.append(str(ordered[i]) if i == j else f"{ordered[i]}-{ordered[j]}")
        i = j + 1
    return ",".join(parts)


def describe(exit_code: int, sig: int) -> str:
    if sig:
        import signal

        try:
            return signal.strsignal(sig) or f"Signal {sig}"
        except ValueError:
            return f"Signal {sig}"
    return f"Exited with exit code {exit_code}"


def failure_lines(node_tasks: dict[str, list[int]], exits: dict[int, tuple[int, int]]) -> list[str]:
    """srun's closing `srun: error: NODE: tasks 0-1: Exited with exit code 3` lines."""
    lines = []
    for node, procids in node_tasks.items():
        groups: dict[tuple[int, int], list[int]] = {}
        for procid in procids:
            status = exits.get(procid)
            if status is not None and status != (0, 0):
                groups.setdefault(status, []).append(procid)
        for (code, sig), members in groups.items():
            noun = "task" if len(members) == 1 else "tasks"
            lines.append(f"srun: error: {node}: {noun} {task_ranges(members)}: {describe(code, sig)}")
    return lines


def worst_exit(exits: dict[int, tuple[int, int]]) -> int:
    """srun's exit code: the highest of the tasks' exit codes and 128 + their signals."""
    return max((stepio.exit_status_code(code, sig) for code, sig in exits.values()), default=0)
