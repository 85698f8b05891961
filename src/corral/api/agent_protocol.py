"""The controller↔agent protocol: every command, report and body between them (docs/spec/02).

One module for both sides, so the controller and the agents cannot drift apart. Commands go
controller → agent on the agent's long poll (`GET /api/v1/agents/{node}/commands`); reports,
the registration and heartbeats go agent → controller. Each command names its `kind`, each
report its `event`: the two are discriminated unions (`Command`, `Report`).

Versioning (docs/spec/02-agent-protocol.md): PROTOCOL_VERSION counts incompatible changes.
Adding an optional field is compatible and keeps the version; removing or renaming a field,
changing its type or meaning, or adding a required one bumps it. Every model keeps the fields
it does not know (extra="allow"), so an older peer passes a newer peer's additions through
instead of rejecting the message: the agent hands the launch body to the job's supervisor
whole. Sizes are MiB, times epoch seconds, time limits minutes (None: unlimited).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

PROTOCOL_VERSION = 1
# The versions the controller speaks: a registration of another one is refused (409).
PROTOCOLS = frozenset({PROTOCOL_VERSION})


class Message(BaseModel):
    """A protocol message: unknown fields are kept, not refused (a newer peer's additions)."""

    model_config = ConfigDict(extra="allow")


def unknown_fields(message: BaseModel, where: str = "") -> list[str]:
    """The dotted names of the fields the models do not declare, anywhere in `message`: a
    sender of this version MUST send none (the unit tests hold both sides to it)."""
    found = [f"{where}{name}" for name in (message.model_extra or {})]
    for name in type(message).model_fields:
        value = getattr(message, name)
        items = value if isinstance(value, list) else [value]
        for i, item in enumerate(items):
            if isinstance(item, BaseModel):
                index = f"[{i}]" if isinstance(value, list) else ""
                found += unknown_fields(item, f"{where}{name}{index}.")
    return found


# -- commands: controller → agent -------------------------------------------------------------

class LaunchSpec(Message):
    """What the batch host needs to start a job; written as the job's launch.json (without
    `script`, which becomes the job's slurm_script) and read by its supervisor."""

    job_id: int
    attempt: int
    node: str  # the batch host: the node this command is for
    uid: int
    gid: int
    user: str
    work_dir: str
    stdout: str  # resolved paths (%j, %x … expanded), absolute or relative to work_dir
    stderr: str
    stdin: str | None = None
    argv: list[str] = []
    script: str = ""
    time_limit: int | None = None
    kill_wait: float = 30.0  # seconds from SIGTERM to SIGKILL
    environment: dict[str, str] = {}
    open_append: bool = False
    signal: str | None = None  # --signal: "[B:]SIG[@SECONDS]"
    files: dict[str, str] = {}  # files written into the job's directory (pbs_nodefile)
    # What the supervisor confines the job to: CPU count (the node picks the ids), memory,
    # GPU indices; GPUs idle this long (seconds) get the job flagged.
    cpus: int = 1
    memory_mb: int | None = None
    gpus: list[int] = []
    gpu_idle_after: float | None = None
    # Read by the supervisor when present; the controller does not send them today.
    pids_max: int | None = None
    acct_freq: float | None = None


class StepTask(Message):
    """One task of a step on this node: its global and local rank, its own GPUs
    (--gpus-per-task; None: the tasks share the step's)."""

    procid: int
    localid: int
    gpus: list[int] | None = None


class StepSpec(Message):
    """One node's part of an srun step; written as the step's step.json."""

    job_id: int
    attempt: int
    step_id: int
    node: str
    nodeid: int  # this node's index among the step's nodes
    uid: int
    gid: int
    user: str
    work_dir: str
    argv: list[str]
    environment: dict[str, str] = {}
    tasks: list[StepTask]
    ntasks: int  # the step's tasks on all its nodes
    io_addr: str  # srun's address (host:port) the tasks' I/O connects to …
    io_key: str  # … proving itself with this key
    pty: bool = False
    kill_wait: float = 30.0
    winsize: list[int] | None = None
    job_cpus: int  # the job's CPUs, memory (MiB) and GPUs on this node
    memory_mb: int | None = None
    job_gpus: list[int] = []
    step_gpus: list[int] = []  # the GPUs the step's tasks see on this node
    pids_max: int | None = None
    acct_freq: float | None = None


class CommandBase(Message):
    """Every command names its job attempt; `seq` is set when the controller's queue hands it
    out, and the agent acknowledges up to it on its next poll."""

    job_id: int
    attempt: int
    seq: int = 0


class LaunchCommand(CommandBase):
    """Start the job's batch script on this node, its batch host. Idempotent per attempt."""

    kind: Literal["launch"] = "launch"
    launch: LaunchSpec


class StepCommand(CommandBase):
    """Start this node's tasks of step `step_id`. Idempotent per (attempt, step)."""

    kind: Literal["step"] = "step"
    step_id: int
    step: StepSpec


class CancelCommand(CommandBase):
    """End the job: SIGTERM its processes, SIGKILL after `kill_wait` (default: the launch's),
    and end its steps here. `why` "preempted" ends it PREEMPTED rather than CANCELLED. A node
    that never ran the attempt reports it finished with `never_ran`."""

    kind: Literal["cancel"] = "cancel"
    kill_wait: float | None = None
    why: str | None = None


class SignalCommand(CommandBase):
    """scancel --signal: send `signal` to the batch script only (`batch_only`, scancel -b),
    or to every process of the job and of its steps."""

    kind: Literal["signal"] = "signal"
    signal: int = Field(ge=0, le=64)
    batch_only: bool = False


class TimeLimitCommand(CommandBase):
    """The job's time limit changed (scontrol update): minutes from its start, None unlimited."""

    kind: Literal["time_limit"] = "time_limit"
    time_limit: int | None


Command = Annotated[LaunchCommand | StepCommand | CancelCommand | SignalCommand | TimeLimitCommand,
                    Field(discriminator="kind")]


def command_body(command: CommandBase) -> dict[str, Any]:
    """A command as the controller sends it: the fields it was built with and its `kind`,
    never the defaults of the others (a launch.json with `acct_freq: null` would stop the
    supervisor, which reads a present key as set)."""
    body = command.model_dump(mode="json", exclude_unset=True)
    kind = body.pop("kind", None) or type(command).model_fields["kind"].default
    return {"kind": kind, **body}


class CommandBatch(Message):
    """The reply to a poll: the commands not yet acknowledged, in `seq` order."""

    commands: list[Command] = []


# -- reports: agent → controller --------------------------------------------------------------

class ReportBase(Message):
    job_id: int
    attempt: int


class Usage(Message):
    """What the node measured of the processes (sacct MaxRSS, TotalCPU …; seff's GPU lines)."""

    max_rss_kb: int | None = None
    total_cpu_s: float | None = None
    user_cpu_s: float | None = None
    system_cpu_s: float | None = None
    gpu_util: float | None = None  # mean utilisation, percent
    gpu_mem_kb: int | None = None
    gpu_idle: bool | None = None  # idle past the launch's gpu_idle_after


class StartedReport(ReportBase):
    """The batch script was started (its supervisor marked the job directory `started`)."""

    event: Literal["started"] = "started"


class FinishedReport(ReportBase, Usage):
    """The job's batch script ended and nothing of the job is left on the node: its status
    as the supervisor wrote it to status.json before anyone was told."""

    event: Literal["finished"] = "finished"
    exit_code: int = 0
    exit_signal: int = 0
    end_time: float | None = None
    timed_out: bool = False  # ended by its time limit
    cancelled: bool = False  # ended by a cancel command (or a signal to its supervisor)
    preempted: bool = False  # ended by a cancel with why "preempted"
    out_of_memory: bool = False  # a process was killed by the job's memory limit
    launch_failed: bool = False  # the script could not be started (see `error`)
    node_fail: bool = False  # the node lost the job's supervisor (a crash of the node)
    never_ran: bool = False  # asked to cancel an attempt this node never had
    error: str | None = None


class StepFinishedReport(ReportBase):
    """This node's part of step `step_id` ended: the worst status of its tasks here."""

    event: Literal["step_finished"] = "step_finished"
    step_id: int
    node: str
    exit_code: int = 0
    exit_signal: int = 0
    cancelled: bool = False
    out_of_memory: bool = False
    launch_failed: bool = False  # srun could not take the step's output (exit 1)
    end_time: float | None = None
    max_rss_kb: int | None = None
    total_cpu_s: float | None = None
    error: str | None = None


Report = Annotated[StartedReport | FinishedReport | StepFinishedReport,
                   Field(discriminator="event")]


class ReportBatch(Message):
    """POST /agents/{node}/reports: every outcome not yet acknowledged; re-sent until a 2xx."""

    reports: list[Report]


class GpuDevice(Message):
    """A GPU as NVML found it."""

    index: int
    uuid: str = ""
    name: str = ""
    type: str = ""
    memory_mb: int = 0
    minor: int | None = None  # /dev/nvidia<minor>
    mig: str = "n/a"  # "enabled", "disabled" or "n/a"


class InventoryEntry(Message):
    """A job attempt the node still holds (not yet acknowledged as ended)."""

    job_id: int
    attempt: int
    finished: bool  # its status.json is written: a `finished` report will follow


class Load(Message):
    """POST /agents/{node}/heartbeat: the node's load (1-minute average) and free memory."""

    cpu_load: float | None = None
    free_memory: int | None = None


class Registration(Load):
    """POST /agents/register: what the node is, what it enforces, and the jobs it holds."""

    protocol: int = PROTOCOL_VERSION
    name: str
    cpus: int = Field(..., ge=1)
    memory: int = Field(..., ge=1)
    gpus: int = Field(0, ge=0)
    gpu_type: str | None = None
    hostname: str = ""
    arch: str = ""
    os: str = ""
    boot_time: float | None = None
    version: str = ""  # corral's version on the node
    cgroup: str = ""  # "cgroup/v1", "cgroup/v2" or "none (why)"
    enforced: str = ""  # what is enforced, comma-separated
    gpu_devices: list[GpuDevice] = []
    jobs: list[InventoryEntry] = []


class Ack(Message):
    """The controller's reply to a registration, a report batch or a heartbeat."""

    ok: bool = True


__all__ = ["PROTOCOLS", "PROTOCOL_VERSION", "Ack", "CancelCommand", "Command", "CommandBatch",
           "command_body", "FinishedReport", "GpuDevice",
           "InventoryEntry", "LaunchCommand", "LaunchSpec", "Load", "Registration", "Report",
           "ReportBatch", "SignalCommand", "StartedReport", "StepCommand", "StepFinishedReport",
           "StepSpec", "StepTask", "TimeLimitCommand", "Usage", "unknown_fields"]
