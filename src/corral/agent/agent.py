"""The node agent: registers with the controller, launches and stops jobs, reports their ends.

It connects out to the controller over HTTP with the cluster key. Commands arrive on a long
poll and are acknowledged by sequence number; reports go through an outbox that is re-sent
until the controller acknowledges them, so no outcome is lost across restarts of either side.
Each job runs under its own supervisor process, which outlives the agent.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from pydantic import TypeAdapter

from corral.agent import isolation
from corral.agent.jobdir import (
    create_private,
    job_dir_name,
    make_dir,
    mark,
    parse_job_dir_name,
    read_json,
    write_json_atomic,
)
from corral.agent.resources import NodeFacts, load
from corral.agent.steps import StepRunner, parse_step_dir_name
from corral.api.agent_protocol import (
    PROTOCOL_VERSION,
    CancelCommand,
    Command,
    LaunchCommand,
    SignalCommand,
    StepCommand,
    TimeLimitCommand,
)

log = logging.getLogger("corral.agent")

Key = tuple[int, int]

# The controller's commands, one model each (docs/spec/02-agent-protocol.md).
COMMAND: TypeAdapter[Command] = TypeAdapter(Command)


class Agent:
    def __init__(self, controller: str, facts: NodeFacts, state_dir: Path, cluster_key: str,
                 *, poll_timeout: float = 20.0, heartbeat_s: float = 10.0) -> None:
        self.controller = controller.rstrip("/")
        self.facts = facts
        self.jobs_dir = state_dir / "jobs"
        # Only passed through (0711): a job's process reaches its own script, and lists nothing.
        state_dir.parent.mkdir(parents=True, exist_ok=True)
        make_dir(state_dir, 0o711, exist_ok=True)
        make_dir(self.jobs_dir, 0o711, exist_ok=True)
        self.http = httpx.AsyncClient(base_url=self.controller + "/api/v1",
                                      headers={"Authorization": f"Bearer {cluster_key}"},
                                      timeout=httpx.Timeout(poll_timeout + 10, connect=5))
        self.poll_timeout = poll_timeout
        self.heartbeat_s = heartbeat_s
        self.children: dict[Key, subprocess.Popen[bytes]] = {}
        self.steps = StepRunner(self.jobs_dir, facts.name)
        self.reported_started: set[Key] = set()
        self.ack = 0
        self.registered = asyncio.Event()
        self.wake_reports = asyncio.Event()
        self.stopping = False

    # -- local job directories -----------------------------------------------------------------

    def _dir(self, key: Key) -> Path:
        return self.jobs_dir / job_dir_name(*key)

    def _local_jobs(self) -> dict[Key, Path]:
        found = {}
        for entry in self.jobs_dir.iterdir():
            key = parse_job_dir_name(entry.name)
            if key is not None:
                found[key] = entry
        return found

    def _inventory(self) -> list[dict[str, Any]]:
        """Every job this node knows of, for the controller to reconcile against."""
        inventory = []
        for (job_id, attempt), path in self._local_jobs().items():
            if (path / "reported").exists():
                continue
            inventory.append({"job_id": job_id, "attempt": attempt,
                              "finished": (path / "status.json").exists()})
        return inventory

    # -- commands --------------------------------------------------------------------------------

    def launch(self, payload: dict[str, Any]) -> None:
        key = (int(payload["job_id"]), int(payload["attempt"]))
        path = self._dir(key)
        if path.exists():
            return  # a duplicate delivery: launches are idempotent per (job, attempt)
        tmp = self.jobs_dir / (path.name + ".new")
        shutil.rmtree(tmp, ignore_errors=True)
        make_dir(tmp, 0o711)
        # The user's script is the user's from its first byte; no one else may read it.
        script = os.open(tmp / "slurm_script", os.O_WRONLY | os.O_CREAT | os.O_EXCL
                         | os.O_NOFOLLOW | os.O_CLOEXEC, 0o700)
        with os.fdopen(script, "w") as handle:
            os.fchmod(handle.fileno(), 0o700)  # exactly: the umask must not take the exec bit
            if os.getuid() == 0:
                os.fchown(handle.fileno(), int(payload["uid"]), int(payload["gid"]))
            handle.write(payload.pop("script"))
        write_json_atomic(tmp / "launch.json", payload)
        log = create_private(tmp / "supervisor.log")
        try:
            os.rename(tmp, path)
            self.children[key] = subprocess.Popen(
                [sys.executable, "-m", "corral.agent.supervisor", str(path)],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
                close_fds=True)
        finally:
            os.close(log)

    def control(self, key: Key, request: dict[str, Any]) -> bool:
        """Hands a request to the job's supervisor; False when the node has no such job."""
        path = self._dir(key)
        if not path.exists():
            return False
        if (path / "status.json").exists():
            return True
        write_json_atomic(path / "control.json", request)
        for _ in range(100):
            pid_text = (path / "supervisor.pid").read_text() if (path / "supervisor.pid").exists() else ""
            if pid_text:
                try:
                    os.kill(int(pid_text), signal.SIGUSR1)
                except ProcessLookupError:
                    pass
                return True
            time.sleep(0.01)
        return True

    def handle(self, raw: dict[str, Any]) -> None:
        """Carries out one command of the controller; a malformed one raises ValidationError."""
        command = COMMAND.validate_python(raw)
        key = (command.job_id, command.attempt)
        if isinstance(command, LaunchCommand):
            # As sent: fields this agent does not know still reach the supervisor.
            self.launch(command.launch.model_dump(exclude_unset=True))
        elif isinstance(command, StepCommand):
            self.steps.launch(command)
        elif isinstance(command, CancelCommand):
            self.steps.stop_job(*key)
            request: dict[str, Any] = {"cancel": True, **{k: getattr(command, k) for k in ("kill_wait", "why")
                                          if k in command.model_fields_set}}
            if (self._dir(key) / "cleanup").exists():
                self.wake_reports.set()  # already cleaning up; confirmed once steps are gone
            elif not self.control(key, request):
                self._record_unknown(key)
        elif isinstance(command, SignalCommand):
            self.control(key, {"signal": command.signal, "batch_only": command.batch_only})
            if not command.batch_only:
                self.steps.signal_job(*key, command.signal)
        elif isinstance(command, TimeLimitCommand):
            self.control(key, {"time_limit": command.time_limit})

    def _recover(self) -> None:
        """At start: a job whose supervisor died with us (a node crash, an OOM of the agent's
        own group) has its cgroup killed and is reported ended, never left running unseen."""
        for key in isolation.recover(self.jobs_dir):
            path = self._dir(key)
            if path.exists() and not (path / "status.json").exists():
                log.warning("job %s.%s lost its supervisor; reporting it ended", *key)
                write_json_atomic(path / "status.json", {
                    "exit_code": 0, "exit_signal": 9, "error": "supervisor lost", "node_fail": True,
                    "end_time": time.time()})

    def _record_unknown(self, key: Key) -> None:
        """Asked to stop a job this node never ran (as its batch host): say it has ended once
        no step of it is left here, so it is not stuck and the node's cleanup is confirmed."""
        path = self._dir(key)
        make_dir(path, 0o700, exist_ok=True)
        mark(path / "cleanup")
        self.wake_reports.set()

    def _steps_left(self, key: Key) -> bool:
        """Whether a step of the job still has a live supervisor on this node."""
        for entry in self.jobs_dir.iterdir():
            step = parse_step_dir_name(entry.name)
            if step is None or step[:2] != key or (entry / "status.json").exists():
                continue
            pid = (entry / "supervisor.pid").read_text() if (entry / "supervisor.pid").exists() else ""
            if not pid:
                return True  # still starting
            try:
                os.kill(int(pid), 0)
                return True
            except ProcessLookupError:
                continue  # died without a word: nothing of it is left to wait for
            except PermissionError:
                return True
        return False

    def _cleaned_up(self, key: Key, path: Path) -> dict[str, Any] | None:
        """The status of a job being cleaned up here, once its processes are gone; else None."""
        if not (path / "cleanup").exists() or self._steps_left(key):
            return None
        status = {"exit_code": 0, "exit_signal": 0, "never_ran": True, "end_time": time.time()}
        write_json_atomic(path / "status.json", status)
        return status

    # -- loops -----------------------------------------------------------------------------------

    def registration(self) -> dict[str, Any]:
        """The body of POST /agents/register (agent_protocol.Registration)."""
        return {"protocol": PROTOCOL_VERSION, **self.facts.as_dict(), **load(),
                "jobs": self._inventory()}

    async def register(self) -> None:
        while not self.stopping:
            try:
                response = await self.http.post("/agents/register", json=self.registration())
                response.raise_for_status()
                self.ack = 0
                self.registered.set()
                self.wake_reports.set()
                log.info("registered with %s as %s", self.controller, self.facts.name)
                return
            except httpx.HTTPError as exc:
                log.warning("cannot register with %s: %s", self.controller, exc)
                await asyncio.sleep(1.0)

    async def poll_commands(self) -> None:
        while not self.stopping:
            await self.registered.wait()
            try:
                response = await self.http.get(f"/agents/{self.facts.name}/commands",
                                               params={"ack": self.ack, "wait": self.poll_timeout})
                if response.status_code == 409:  # the controller restarted and forgot us
                    self.registered.clear()
                    await self.register()
                    continue
                response.raise_for_status()
            except httpx.HTTPError:
                self.registered.clear()
                await asyncio.sleep(0.5)
                await self.register()
                continue
            for command in response.json()["commands"]:
                try:
                    self.handle(command)
                except Exception:
                    log.exception("command %s failed", command)
                self.ack = max(self.ack, int(command["seq"]))
            self.wake_reports.set()

    def _pending_reports(self) -> list[dict[str, Any]]:
        reports = []
        for key, path in self._local_jobs().items():
            if (path / "reported").exists():
                continue
            status = read_json(path / "status.json") or self._cleaned_up(key, path)
            if status is not None:
                reports.append({"job_id": key[0], "attempt": key[1], "event": "finished", **status})
            elif (path / "started").exists() and key not in self.reported_started:
                reports.append({"job_id": key[0], "attempt": key[1], "event": "started"})
        return reports + self.steps.pending_reports()

    def _reap_children(self) -> None:
        for key, child in list(self.children.items()):
            if child.poll() is not None:
                del self.children[key]

    async def report(self) -> None:
        while not self.stopping:
            try:
                await asyncio.wait_for(self.wake_reports.wait(), timeout=0.05)
            except TimeoutError:
                pass
            self.wake_reports.clear()
            self._reap_children()
            reports = self._pending_reports()
            if not reports or not self.registered.is_set():
                continue
            try:
                response = await self.http.post(f"/agents/{self.facts.name}/reports",
                                                json={"reports": reports})
                response.raise_for_status()
            except httpx.HTTPError:
                await asyncio.sleep(0.5)
                continue
            for item in reports:
                if item["event"].startswith("step_"):
                    self.steps.forget(item)
                    continue
                key = (item["job_id"], item["attempt"])
                if item["event"] == "started":
                    self.reported_started.add(key)
                else:
                    self._forget(key)

    def _forget(self, key: Key) -> None:
        self.steps.stop_job(*key)  # the job is over: no step of it may outlive it here
        path = self._dir(key)
        if path.exists():
            mark(path / "reported")
        shutil.rmtree(path, ignore_errors=True)
        self.reported_started.discard(key)

    async def heartbeat(self) -> None:
        while not self.stopping:
            await asyncio.sleep(self.heartbeat_s)
            if not self.registered.is_set():
                continue
            try:
                await self.http.post(f"/agents/{self.facts.name}/heartbeat", json=load())
            except httpx.HTTPError:
                pass

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        done = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, done.set)
        self._recover()
        await self.register()
        tasks = [asyncio.create_task(t) for t in (self.poll_commands(), self.report(), self.heartbeat())]
        await done.wait()
        self.stopping = True
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self.http.aclose()
        log.info("agent %s stopped; running jobs keep running under their supervisors",
                 self.facts.name)
