"""The job: an immutable request (JobSpec) beside its runtime record (Job)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

from corral.model.states import JobState, Reason


@dataclass(frozen=True, slots=True)
class JobSpec:
    """What the submitter asked for; never changes after submit (updates go to Job fields).

    A field's metadata holds its bounds as the API checks them (pydantic's Field arguments:
    ge, le, max_length, pattern; api_default where the request's default differs):
    api.schemas.SubmitRequest is generated from these fields, so a field is declared once.
    """

    name: str = field(metadata={"max_length": 1024, "api_default": "sbatch"})
    uid: int
    gid: int
    user: str
    group: str
    work_dir: str
    script: str = field(default="", metadata={"max_length": 4 * 1024 * 1024})
    argv: tuple[str, ...] = ()
    environment: Mapping[str, str] = field(default_factory=dict)
    stdout: str | None = None
    stderr: str | None = None
    stdin: str | None = None
    partition: str | None = None
    account: str | None = None
    qos: str | None = None
    num_nodes: int = field(default=1, metadata={"ge": 1, "le": 100000})
    # -N's maximum (-N 2-4 → 4; -N 2 → 2); None when -N was not given: the node count is
    # then as many as the tasks need (Slurm spreads `-n 64` over 32-CPU nodes).
    max_nodes: int | None = field(default=None, metadata={"ge": 1, "le": 100000})
    num_tasks: int = field(default=1, metadata={"ge": 1, "le": 10_000_000})
    cpus_per_task: int = field(default=1, metadata={"ge": 1, "le": 100000})
    ntasks_per_node: int | None = field(default=None, metadata={"ge": 1})
    mem_per_node: int | None = field(default=None, metadata={"ge": 0})
    mem_per_cpu: int | None = field(default=None, metadata={"ge": 0})
    gpus_per_node: int = field(default=0, metadata={"ge": 0, "le": 1024})
    gpu_type: str | None = None
    time_limit: int | None = field(default=None, metadata={"ge": 0})
    req_nodes: tuple[str, ...] = ()
    exc_nodes: tuple[str, ...] = ()
    exclusive: bool = False
    hold: bool = False
    requeue: bool = True
    nice: int = field(default=0, metadata={"ge": -2147483645, "le": 2147483645})
    submit_host: str = ""
    command: str = ""
    # Arrays and dependencies, in Slurm's syntax ("1-31:2%4", "afterok:12:13?singleton").
    array: str | None = field(default=None, metadata={"max_length": 100_000})
    dependency: str | None = field(default=None, metadata={"max_length": 100_000})
    kill_on_invalid_dep: bool = False
    begin_time: float | None = None
    # An allocation with no batch script (salloc, srun outside a job): a holder keeps it.
    interactive: bool = False
    # Which front-end submitted it ("pbs", "lsf"): their environment variables are added.
    frontend: str | None = field(default=None, metadata={"pattern": "^(pbs|lsf)$"})
    comment: str | None = None
    mail_type: str | None = None
    mail_user: str | None = None
    constraint: str | None = None
    signal: str | None = None
    open_mode: str | None = field(default=None, metadata={"pattern": "^(append|truncate)$"})
    time_min: int | None = field(default=None, metadata={"ge": 0})
    deadline: float | None = None
    gpus_per_task: int | None = field(default=None, metadata={"ge": 0})
    cpus_per_gpu: int | None = field(default=None, metadata={"ge": 1})
    mem_per_gpu: int | None = field(default=None, metadata={"ge": 0})
    wckey: str | None = None
    # --gpus/-G: GPUs over the whole job, spread over its nodes in blocks (0: none asked so;
    # --gpus-per-node is gpus_per_node).
    gpus: int = field(default=0, metadata={"ge": 0, "le": 1_000_000})

    def cpus_per_node(self) -> int:
        tasks = self.ntasks_per_node or math.ceil(self.num_tasks / max(1, self.num_nodes))
        return max(1, tasks) * self.cpus_per_task


@dataclass(frozen=True, slots=True)
class NodeAllocation:
    """What a job holds on one node."""

    cpus: int
    memory: int
    gpu_indices: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class StepRecord:
    """One step's outcome: the batch step (sacct's `N.batch`) or an srun step (`N.0`, `N.1` …)."""

    state: JobState
    start_time: float
    end_time: float | None = None
    exit_code: int = 0
    exit_signal: int = 0
    max_rss_kb: int | None = None
    total_cpu_s: float | None = None
    step_id: int | None = None
    name: str = ""
    nodes: tuple[str, ...] = ()
    num_tasks: int = 1
    num_cpus: int = 0
    user_cpu_s: float | None = None
    system_cpu_s: float | None = None
    gpu_util: float | None = None
    gpu_mem_kb: int | None = None
    gpu_idle: bool | None = None


@dataclass(frozen=True, slots=True)
class Job:
    job_id: int
    spec: JobSpec
    state: JobState
    submit_time: float
    partition: str
    mem_per_node: int
    time_limit: int | None
    reason: Reason = Reason.NONE
    priority: int = 1
    held: bool = False
    nice: int = 0
    name: str = ""
    attempt: int = 0
    eligible_time: float | None = None
    start_time: float | None = None
    end_time: float | None = None
    allocation: Mapping[str, NodeAllocation] = field(default_factory=dict)
    launched: bool = False
    exit_code: int = 0
    exit_signal: int = 0
    batch_step: StepRecord | None = None
    cancelled_by: int | None = None
    # An allocation's end status as its command reported it (AllocationEnded): the holder's
    # own exit, once it is stopped, says nothing of the user's work.
    allocation_exit_code: int | None = None
    allocation_exit_signal: int = 0
    requeue_requested: bool = False
    preempted: bool = False
    estimated_start: float | None = None
    # The nodes the last pass reserved for it (squeue --start's SCHEDNODES).
    sched_nodes: tuple[str, ...] = ()
    # Array bookkeeping: a task has array_job_id and array_task_id; the pending remainder of
    # an array (one record for any number of tasks) has array_tasks, in --array syntax.
    array_job_id: int | None = None
    array_task_id: int | None = None
    array_tasks: str | None = None
    array_throttle: int = 0
    dependency: str | None = None
    # What squeue's %E shows: the terms still unsatisfied, with (unfulfilled)/(failed).
    dependency_shown: str | None = None
    steps: tuple[StepRecord, ...] = ()
    # Once the batch step has ended on a multi-node job: the state it ends in (PENDING for a
    # requeue) and the nodes that have not yet confirmed their processes of it are gone. It
    # stays COMPLETING, holding its resources, until the last one confirms (NodeReleased).
    end_state: JobState | None = None
    cleanup_nodes: tuple[str, ...] = ()

    @property
    def nodes(self) -> tuple[str, ...]:
        return tuple(self.allocation)

    @property
    def num_cpus(self) -> int:
        if self.allocation:
            return sum(a.cpus for a in self.allocation.values())
        return self.spec.cpus_per_node() * self.spec.num_nodes

    def expected_end(self) -> float:
        """When the job must be done by its limit (infinite when unlimited or not started)."""
        if self.start_time is None or self.time_limit is None:
            return math.inf
        return self.start_time + self.time_limit * 60


def _encode(value: Any) -> Any:
    if isinstance(value, JobState | Reason):
        return value.value
    if isinstance(value, tuple):
        return [_encode(v) for v in value]
    if isinstance(value, Mapping):
        return {k: _encode(v) for k, v in value.items()}
    if hasattr(value, "__dataclass_fields__"):
        return {f.name: _encode(getattr(value, f.name)) for f in fields(value)}
    return value


def job_to_dict(job: Job) -> dict[str, Any]:
    """A JSON-ready dict; job_from_dict(job_to_dict(j)) == j."""
    encoded: dict[str, Any] = _encode(job)
    return encoded


def _spec_from_dict(data: Mapping[str, Any]) -> JobSpec:
    known = {f.name for f in fields(JobSpec)}
    values = {k: v for k, v in data.items() if k in known}
    for key in ("argv", "req_nodes", "exc_nodes"):
        values[key] = tuple(values.get(key) or ())
    values["environment"] = dict(values.get("environment") or {})
    return JobSpec(**values)


def job_from_dict(data: Mapping[str, Any]) -> Job:
    known = {f.name for f in fields(Job)}
    values = {k: v for k, v in data.items() if k in known}
    values["spec"] = _spec_from_dict(data["spec"])
    values["state"] = JobState(data["state"])
    values["reason"] = Reason(data.get("reason", "None"))
    values["allocation"] = {
        node: NodeAllocation(a["cpus"], a["memory"], tuple(a.get("gpu_indices") or ()))
        for node, a in (data.get("allocation") or {}).items()
    }
    step = data.get("batch_step")
    if step:
        values["batch_step"] = _step_from_dict(step)
    values["steps"] = tuple(_step_from_dict(s) for s in data.get("steps") or ())
    values["sched_nodes"] = tuple(data.get("sched_nodes") or ())
    values["cleanup_nodes"] = tuple(data.get("cleanup_nodes") or ())
    values["end_state"] = JobState(data["end_state"]) if data.get("end_state") else None
    return Job(**values)


def _step_from_dict(data: Mapping[str, Any]) -> StepRecord:
    return StepRecord(**{**data, "state": JobState(data["state"]),
                         "nodes": tuple(data.get("nodes") or ())})


__all__ = ["Job", "JobSpec", "NodeAllocation", "StepRecord", "job_from_dict", "job_to_dict",
           "replace"]
