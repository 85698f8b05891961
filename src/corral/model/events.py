"""Facts about a job, in the past tense: the only inputs that change a job's state."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields

from corral.model.job import NodeAllocation


@dataclass(frozen=True, slots=True)
class JobAllocated:
    allocation: Mapping[str, NodeAllocation]


@dataclass(frozen=True, slots=True)
class JobStarted:
    """The node's supervisor has launched the batch script."""


@dataclass(frozen=True, slots=True)
class JobFinished:
    """The batch step ended and the node cleaned up; the outcome as the supervisor saw it.

    `node` is the batch node that reported it: its report is its own cleanup confirmation,
    and the job's other nodes must each confirm theirs (NodeReleased) before the job ends.
    None: the driver vouches for every node at once (the simulator has no processes)."""

    exit_code: int = 0
    exit_signal: int = 0
    timed_out: bool = False
    out_of_memory: bool = False
    launch_failed: bool = False
    max_rss_kb: int | None = None
    total_cpu_s: float | None = None
    end_time: float | None = None
    user_cpu_s: float | None = None
    system_cpu_s: float | None = None
    gpu_util: float | None = None
    gpu_mem_kb: int | None = None
    gpu_idle: bool | None = None
    node: str | None = None


@dataclass(frozen=True, slots=True)
class NodeReleased:
    """A node of the job confirmed that its processes of the job are gone and its resources
    free (Slurm's epilog complete); a node that went DOWN or lost the job counts as one."""

    node: str


@dataclass(frozen=True, slots=True)
class DeadlinePassed:
    """The pending job can no longer finish by its --deadline (core.deadline decided it)."""


@dataclass(frozen=True, slots=True)
class JobCancelled:
    by_uid: int


@dataclass(frozen=True, slots=True)
class AllocationEnded:
    """The command of an allocation (salloc's, or srun's step outside a job) ended with this
    status (Slurm's slurm_complete_job): the holder is stopped, and the job ends FAILED with
    that code when it is not 0, COMPLETED otherwise."""

    exit_code: int = 0
    exit_signal: int = 0


@dataclass(frozen=True, slots=True)
class JobHeld:
    by_uid: int


@dataclass(frozen=True, slots=True)
class JobReleased:
    by_uid: int


@dataclass(frozen=True, slots=True)
class JobRequeued:
    by_uid: int


@dataclass(frozen=True, slots=True)
class JobPreempted:
    """A higher QOS needs the job's resources: it is signalled, and killed after grace_time
    seconds; then it ends PREEMPTED, or returns to the queue when `requeue`."""

    for_job: int
    requeue: bool = False
    grace_time: int = 0


@dataclass(frozen=True, slots=True)
class JobUpdated:
    """Fields a user may change; None means unchanged (time_limit uses UNSET for that)."""

    changes: Mapping[str, object] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class NodeFailed:
    """A node of the job went DOWN or lost the job: it ends NODE_FAIL, or returns to the
    queue with a new attempt when `requeue` (Slurm's --requeue / JobRequeue)."""

    node: str
    requeue: bool = False


Event = (JobAllocated | JobStarted | JobFinished | JobCancelled | JobHeld | JobReleased
         | JobRequeued | JobPreempted | JobUpdated | NodeFailed | AllocationEnded
         | NodeReleased | DeadlinePassed)

EVENT_KINDS: Mapping[str, type] = {cls.__name__: cls for cls in (
    JobAllocated, JobStarted, JobFinished, JobCancelled, JobHeld, JobReleased, JobRequeued,
    JobPreempted, JobUpdated, NodeFailed, AllocationEnded, NodeReleased, DeadlinePassed)}


def event_from_dict(kind: str, data: Mapping[str, object]) -> Event:
    """The event a stored record names (its kind, the class name) from its JSON payload, the
    inverse of model.job.job_to_dict on the event; keys that are no field are ignored."""
    cls = EVENT_KINDS[kind]
    names = {f.name for f in fields(cls)}
    values: dict[str, object] = {k: v for k, v in data.items() if k in names}
    if cls is JobAllocated:
        allocation = values.get("allocation") or {}
        assert isinstance(allocation, Mapping)
        values["allocation"] = {
            node: NodeAllocation(a["cpus"], a["memory"], tuple(a.get("gpu_indices") or ()))
            for node, a in allocation.items()}
    if cls is JobUpdated:
        values["changes"] = dict(values.get("changes") or {})  # type: ignore[call-overload]
    event: Event = cls(**values)
    return event
