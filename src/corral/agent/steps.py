"""The agent's side of srun steps: one step supervisor per step command, and its end reported.

Each step this node runs has a directory beside the job directories, named
`step-JOB.ATTEMPT.STEP` (parse_job_dir_name does not take it for a job):

    step.json       the controller's "step" command: tasks, environment, srun's address and key
    supervisor.pid  written by the step supervisor when it starts
    control.json    a request from the agent (cancel, signal); SIGUSR1 says "read it"
    status.json     the outcome (worst exit status, per-task statuses, usage), written first
    reported        the controller acknowledged it; the directory may go

The directory and its files are the agent's alone (0700, 0600: it holds srun's key); the
tasks never need it.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from corral.agent.jobdir import create_private, make_dir, mark, read_json, write_json_atomic

if TYPE_CHECKING:
    from corral.api.agent_protocol import StepCommand

log = logging.getLogger("corral.agent")

PREFIX = "step-"


def step_dir_name(job_id: int, attempt: int, step_id: int) -> str:
    return f"{PREFIX}{job_id}.{attempt}.{step_id}"


def parse_step_dir_name(name: str) -> tuple[int, int, int] | None:
    if not name.startswith(PREFIX):
        return None
    parts = name[len(PREFIX):].split(".")
    if len(parts) != 3 or not all(p.isdigit() for p in parts):
        return None
    return int(parts[0]), int(parts[1]), int(parts[2])


class StepRunner:
    """Starts, signals and reports the step supervisors of one node."""

    def __init__(self, jobs_dir: Path, node: str) -> None:
        self.jobs_dir = jobs_dir
        self.node = node
        self.children: dict[tuple[int, int, int], subprocess.Popen[bytes]] = {}

    def _steps(self) -> dict[tuple[int, int, int], Path]:
        found = {}
        for entry in self.jobs_dir.iterdir():
            key = parse_step_dir_name(entry.name)
            if key is not None:
                found[key] = entry
        return found

    def launch(self, command: StepCommand) -> None:
        # As sent: fields this agent does not know still reach the step supervisor.
        step = command.step.model_dump(exclude_unset=True)
        key = (command.job_id, command.attempt, command.step_id)
        path = self.jobs_dir / step_dir_name(*key)
        if path.exists():
            return  # a duplicate delivery: one supervisor per (job, attempt, step)
        tmp = self.jobs_dir / (path.name + ".new")
        shutil.rmtree(tmp, ignore_errors=True)
        make_dir(tmp, 0o700)
        write_json_atomic(tmp / "step.json", step)
        log = create_private(tmp / "supervisor.log")
        try:
            os.rename(tmp, path)
            self.children[key] = subprocess.Popen(
                [sys.executable, "-m", "corral.agent.step_supervisor", str(path)],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                start_new_session=True, close_fds=True)
        finally:
            os.close(log)

    def _tell(self, path: Path, request: dict[str, Any]) -> None:
        if (path / "status.json").exists():
            return
        write_json_atomic(path / "control.json", request)
        for _ in range(100):
            pid_file = path / "supervisor.pid"
            text = pid_file.read_text() if pid_file.exists() else ""
            if text:
                try:
                    os.kill(int(text), signal.SIGUSR1)
                except ProcessLookupError:
                    pass
                return
            time.sleep(0.01)

    def stop_job(self, job_id: int, attempt: int) -> None:
        """The job ended or was cancelled: its steps on this node end too."""
        for (job, att, _), path in self._steps().items():
            if (job, att) == (job_id, attempt):
                self._tell(path, {"cancel": True})

    def signal_job(self, job_id: int, attempt: int, sig: int) -> None:
        """scancel --signal reaches the tasks of every step, as Slurm's does."""
        for (job, att, _), path in self._steps().items():
            if (job, att) == (job_id, attempt):
                self._tell(path, {"signal": sig})

    def pending_reports(self) -> list[dict[str, Any]]:
        for key, child in list(self.children.items()):
            if child.poll() is None:
                continue
            del self.children[key]
            path = self.jobs_dir / step_dir_name(*key)
            if path.exists() and not (path / "status.json").exists():
                # The supervisor died without a word: the step cannot be left RUNNING.
                log.warning("step supervisor of %s.%s exited with %s", key[0], key[2],
                            child.returncode)
                write_json_atomic(path / "status.json", {
                    "exit_code": 0, "exit_signal": signal.SIGKILL, "cancelled": True,
                    "end_time": time.time(), "error": "step supervisor died"})
        reports = []
        for (job_id, attempt, step_id), path in self._steps().items():
            if (path / "reported").exists():
                continue
            status = read_json(path / "status.json")
            if status is None:
                continue
            reports.append({"job_id": job_id, "attempt": attempt, "step_id": step_id,
                            "node": self.node, "event": "step_finished",
                            **{k: v for k, v in status.items() if k != "tasks"}})
        return reports

    def forget(self, report: dict[str, Any]) -> None:
        path = self.jobs_dir / step_dir_name(int(report["job_id"]), int(report["attempt"]),
                                             int(report["step_id"]))
        if path.exists():
            mark(path / "reported")
            shutil.rmtree(path, ignore_errors=True)
