"""Typed views of the controller's job, step and node records (docs/spec/03-rest-api.md).

Kept apart from corral.client.client so that the Slurm-style commands, which import the
client on every call, never pay for dataclasses; `corral.client` loads this module on first
use. Every view keeps the record it was built from in `raw`, so fields not typed here are
still one lookup away. They are the lean equivalents of the API's records: the commands may
not import pydantic, and tests/unit/api/test_client_views.py keeps every field typed here in
step with what controller/records.py serves.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from corral.model.states import TERMINAL_STATES

__all__ = ["JobInfo", "NodeInfo", "StepInfo"]


def _int(value: Any, default: int = 0) -> int:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else default


def _opt_int(value: Any) -> int | None:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _opt_float(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _opt_str(value: Any) -> str | None:
    return None if value is None else str(value)


def _names(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,) if value else ()
    if isinstance(value, Sequence):
        return tuple(str(v) for v in value)
    return ()


@dataclass(frozen=True, slots=True)
class StepInfo:
    """One srun step of a job (`123.0`); times are epoch seconds."""

    step_id: str
    name: str = ""
    state: str = ""
    exit_code: int | None = None
    exit_signal: int | None = None
    start_time: float | None = None
    end_time: float | None = None
    nodes: tuple[str, ...] = ()
    num_tasks: int = 0
    num_cpus: int = 0
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> StepInfo:
        r = record
        return cls(step_id=str(r.get("step_id", "")), name=str(r.get("name") or ""),
                   state=str(r.get("state") or ""), exit_code=_opt_int(r.get("exit_code")),
                   exit_signal=_opt_int(r.get("exit_signal")),
                   start_time=_opt_float(r.get("start_time")),
                   end_time=_opt_float(r.get("end_time")), nodes=_names(r.get("nodes")),
                   num_tasks=_int(r.get("num_tasks")), num_cpus=_int(r.get("num_cpus")),
                   raw=dict(r))


@dataclass(frozen=True, slots=True)
class JobInfo:
    """A job as squeue/sacct know it.

    `state` is Slurm's name (PENDING, RUNNING, COMPLETING, COMPLETED, FAILED, CANCELLED,
    TIMEOUT, OUT_OF_MEMORY, NODE_FAIL, …) and `reason` its pending reason (`None` when there is
    none). Times are epoch seconds, `time_limit` is in minutes (`None`: unlimited), and
    `exit_code`/`exit_signal` are the two halves of sacct's `ExitCode` (`3:0`, `0:9`).
    """

    job_id: int
    name: str = ""
    user: str = ""
    state: str = ""
    reason: str | None = None
    partition: str | None = None
    account: str | None = None
    nodes: tuple[str, ...] = ()
    num_nodes: int = 0
    num_cpus: int = 0
    time_limit: int | None = None
    submit_time: float | None = None
    start_time: float | None = None
    end_time: float | None = None
    exit_code: int | None = None
    exit_signal: int | None = None
    stdout: str | None = None
    stderr: str | None = None
    work_dir: str | None = None
    array_job_id: int | None = None
    array_task_id: int | None = None
    array_task_string: str | None = None
    dependency: str | None = None
    steps: tuple[StepInfo, ...] = ()
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> JobInfo:
        """Builds the view from a record of GET /api/v1/jobs; missing keys take defaults."""
        r = record
        reason = r.get("reason")
        steps = r.get("steps")
        return cls(
            job_id=_int(r.get("job_id")), name=str(r.get("name") or ""),
            user=str(r.get("user") or ""), state=str(r.get("state") or ""),
            reason=None if reason in (None, "", "None") else str(reason),
            partition=_opt_str(r.get("partition")), account=_opt_str(r.get("account")),
            nodes=_names(r.get("nodes")), num_nodes=_int(r.get("num_nodes")),
            num_cpus=_int(r.get("num_cpus")), time_limit=_opt_int(r.get("time_limit")),
            submit_time=_opt_float(r.get("submit_time")),
            start_time=_opt_float(r.get("start_time")), end_time=_opt_float(r.get("end_time")),
            exit_code=_opt_int(r.get("exit_code")), exit_signal=_opt_int(r.get("exit_signal")),
            stdout=_opt_str(r.get("stdout")), stderr=_opt_str(r.get("stderr")),
            work_dir=_opt_str(r.get("work_dir")), array_job_id=_opt_int(r.get("array_job_id")),
            array_task_id=_opt_int(r.get("array_task_id")),
            array_task_string=_opt_str(r.get("array_task_string")),
            dependency=_opt_str(r.get("dependency")) or None,
            steps=tuple(StepInfo.from_record(s) for s in steps if isinstance(s, Mapping))
            if isinstance(steps, Sequence) else (),
            raw=dict(r),
        )

    @property
    def finished(self) -> bool:
        """In a terminal state: it will not run (again) unless requeued."""
        return self.state in TERMINAL_STATES

    @property
    def succeeded(self) -> bool:
        return self.state == "COMPLETED" and not self.exit_code and not self.exit_signal

    @property
    def slurm_id(self) -> str:
        """The id as squeue shows it: `123`, `123_4` for an array task, `123_[5-9]` for the
        tasks of an array still pending in one record."""
        if self.array_job_id is None:
            return str(self.job_id)
        if self.array_task_id is not None:
            return f"{self.array_job_id}_{self.array_task_id}"
        if self.array_task_string:
            return f"{self.array_job_id}_[{self.array_task_string}]"
        return str(self.job_id)


@dataclass(frozen=True, slots=True)
class NodeInfo:
    """A compute node as sinfo knows it; memory in MiB."""

    name: str
    state: str = ""
    reason: str | None = None
    cpus: int = 0
    alloc_cpus: int = 0
    memory: int = 0
    alloc_memory: int = 0
    gpus: int = 0
    alloc_gpus: int = 0
    gpu_type: str | None = None
    partitions: tuple[str, ...] = ()
    responding: bool = True
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> NodeInfo:
        r = record
        return cls(name=str(r.get("name") or ""), state=str(r.get("state") or ""),
                   reason=_opt_str(r.get("reason")) or None, cpus=_int(r.get("cpus")),
                   alloc_cpus=_int(r.get("alloc_cpus")), memory=_int(r.get("memory")),
                   alloc_memory=_int(r.get("alloc_memory")), gpus=_int(r.get("gpus")),
                   alloc_gpus=_int(r.get("alloc_gpus")), gpu_type=_opt_str(r.get("gpu_type")),
                   partitions=_names(r.get("partitions")),
                   responding=bool(r.get("responding", True)), raw=dict(r))

    @property
    def idle_cpus(self) -> int:
        return self.cpus - self.alloc_cpus
