"""Pydantic schemas of the request bodies of /api/v1 (responses are documented in docs/spec)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

# The agents' bodies live with the rest of the agent protocol; importable from here as before.
from corral.api.agent_protocol import AgentLoad, AgentRegistration, AgentReports

__all__ = ["AccountAdmin", "AgentLoad", "AgentRegistration", "AgentReports", "AllocationEnd",
           "CancelRequest", "JobUpdate", "NodeUpdate", "Strict", "SubmitRequest"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SubmitRequest(Strict):
    """A batch job as sbatch sends it; sizes in MiB, time limit in minutes (null = unlimited)."""

    name: str = Field("sbatch", max_length=1024)
    script: str = Field("", max_length=4 * 1024 * 1024)
    argv: list[str] = []
    work_dir: str
    environment: dict[str, str] = {}
    stdout: str | None = None
    stderr: str | None = None
    stdin: str | None = None
    partition: str | None = None
    account: str | None = None
    qos: str | None = None
    num_nodes: int = Field(1, ge=1, le=100000)
    max_nodes: int | None = Field(None, ge=1, le=100000)
    num_tasks: int = Field(1, ge=1, le=10_000_000)
    cpus_per_task: int = Field(1, ge=1, le=100000)
    ntasks_per_node: int | None = Field(None, ge=1)
    mem_per_node: int | None = Field(None, ge=0)
    mem_per_cpu: int | None = Field(None, ge=0)
    gpus_per_node: int = Field(0, ge=0, le=1024)
    gpu_type: str | None = None
    time_limit: int | None = Field(None, ge=0)
    req_nodes: list[str] = []
    exc_nodes: list[str] = []
    exclusive: bool = False
    hold: bool = False
    requeue: bool = True
    nice: int = Field(0, ge=-2147483645, le=2147483645)
    submit_host: str = ""
    command: str = ""
    uid: int | None = None
    gid: int | None = None
    array: str | None = Field(None, max_length=100_000)
    dependency: str | None = Field(None, max_length=100_000)
    kill_on_invalid_dep: bool = False
    begin_time: float | None = None
    interactive: bool = False
    frontend: str | None = Field(None, pattern="^(pbs|lsf)$")
    comment: str | None = None
    mail_type: str | None = None
    mail_user: str | None = None
    constraint: str | None = None
    signal: str | None = None
    open_mode: str | None = Field(None, pattern="^(append|truncate)$")
    time_min: int | None = Field(None, ge=0)
    deadline: float | None = None
    gpus_per_task: int | None = Field(None, ge=0)
    cpus_per_gpu: int | None = Field(None, ge=1)
    mem_per_gpu: int | None = Field(None, ge=0)
    wckey: str | None = None
    gpus: int = Field(0, ge=0, le=1_000_000)  # --gpus/-G: over the whole job


class CancelRequest(Strict):
    """job_ids are Slurm's forms: `12`, `12_7` (one array task), `12_[1-3,5]` (several)."""

    job_ids: list[int | str] = []
    user: str | None = None
    name: str | None = None
    states: list[str] = []
    partition: str | None = None
    signal: int | None = Field(None, ge=0, le=64)
    batch_only: bool = False


class AllocationEnd(Strict):
    """The status salloc's command or srun's step ended with (Slurm's slurm_complete_job)."""

    exit_code: int = Field(0, ge=0, le=255)
    exit_signal: int = Field(0, ge=0, le=64)


class JobUpdate(Strict):
    time_limit: int | None = Field(None, ge=0, le=100 * 366 * 24 * 60)
    name: str | None = Field(None, max_length=1024)
    nice: int | None = Field(None, ge=-2147483645, le=2147483645)
    dependency: str | None = None
    clear_time_limit: bool = False


class AccountAdmin(Strict):
    """One sacctmgr add/modify/delete, as its command line said it (model.account_admin)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    verb: str
    entity: str
    names: list[str] = Field(default_factory=list)
    where: dict[str, str] = Field(default_factory=dict)
    changes: dict[str, str] = Field(default_factory=dict, alias="set")
    dry_run: bool = False


class NodeUpdate(Strict):
    state: str
    reason: str | None = None
