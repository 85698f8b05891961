"""Job steps (srun inside an allocation): lay tasks out, start them on the nodes, settle their ends.

A step gets the next id of its job (N.0, N.1 …), its tasks are laid out over the job's nodes
by Slurm's block distribution, and each node gets one "step" command naming its tasks. The
step's record (a StepRecord in job.steps) says RUNNING until every node has reported
`step_finished`; each node's report is kept as a StepNodeFinished event, so a step that
ended on some nodes survives a controller restart. The step's exit status is the worst of
its tasks', compared as wait statuses the way Slurm does (an exit code outranks a signal).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from corral.api.agent_protocol import StepCommand, StepFinishedReport, StepSpec
from corral.controller.launch import job_environment
from corral.core.lifecycle import OOM_SIGNAL
from corral.model.errors import InvalidRequest, NotFound, PermissionDenied
from corral.model.hostlist import compress, compress_counts
from corral.model.job import Job, NodeAllocation, StepRecord
from corral.model.states import JobState

if TYPE_CHECKING:
    from corral.controller.auth import Caller
    from corral.controller.jobs import JobManager
    from corral.controller.ledger import JobBook


class StepRefused(InvalidRequest):
    """The step does not fit the allocation (Slurm: "Unable to create step for job N: …")."""


@dataclass(frozen=True, slots=True)
class StepAsk:
    """What srun asked for; None means "derive it from the allocation", as srun does."""

    argv: tuple[str, ...]
    work_dir: str
    io_addr: str
    io_key: str
    ntasks: int | None = None
    nodes: int | None = None
    cpus_per_task: int = 1
    ntasks_per_node: int | None = None
    gpus_per_task: int | None = None
    overcommit: bool = False
    environment: Mapping[str, str] | None = None
    label: bool = False
    pty: bool = False
    winsize: tuple[int, ...] | None = None
    name: str | None = None


@dataclass(frozen=True, slots=True)
class Placement:
    """Where the tasks go: node names in step order, with each node's task count."""

    nodes: tuple[str, ...]
    counts: tuple[int, ...]

    @property
    def ntasks(self) -> int:
        return sum(self.counts)

    def procids(self, index: int) -> range:
        """Block distribution: node i runs the next counts[i] task ids."""
        first = sum(self.counts[:index])
        return range(first, first + self.counts[index])


def lay_out(allocation: Mapping[str, NodeAllocation], ask: StepAsk, job_id: int) -> Placement:
    """The step's tasks over the job's nodes, or StepRefused in Slurm's words."""
    job_nodes = list(allocation)
    per_task = max(1, ask.cpus_per_task)
    nodes = ask.nodes
    if nodes is None:
        if ask.ntasks is None:
            nodes = len(job_nodes)
        elif ask.ntasks_per_node:
            nodes = min(len(job_nodes), math.ceil(ask.ntasks / ask.ntasks_per_node))
        else:
            nodes = min(len(job_nodes), ask.ntasks)
    if nodes > len(job_nodes):
        raise StepRefused(f"Only allocated {len(job_nodes)} nodes asked for {nodes}")
    ntasks = ask.ntasks if ask.ntasks is not None else nodes * (ask.ntasks_per_node or 1)
    nodes = max(1, min(nodes, ntasks))
    chosen = job_nodes[:nodes]
    capacity = [allocation[n].cpus // per_task for n in chosen]
    if ask.ntasks_per_node:
        capacity = [min(c, ask.ntasks_per_node) if not ask.overcommit else ask.ntasks_per_node
                    for c in capacity]
    refused = StepRefused(f"Unable to create step for job {job_id}: "
                          "More processors requested than permitted")
    counts = [0] * nodes
    remaining = ntasks
    # Round-robin within each node's capacity fixes the counts (Slurm's block layout does the
    # same); the task ids are then handed out node by node.
    while remaining:
        placed = False
        for i in range(nodes):
            if remaining and (counts[i] < capacity[i] or ask.overcommit):
                counts[i] += 1
                remaining -= 1
                placed = True
        if not placed:
            raise refused
    if 0 in counts:
        raise refused
    if ask.gpus_per_task:
        for name, count in zip(chosen, counts, strict=True):
            if count * ask.gpus_per_task > len(allocation[name].gpu_indices):
                raise StepRefused(f"Unable to create step for job {job_id}: "
                                  "Requested node configuration is not available")
    return Placement(tuple(chosen), tuple(counts))


def next_step_id(job: Job) -> int:
    ids = [s.step_id for s in job.steps if s.step_id is not None]
    return max(ids) + 1 if ids else 0


def _generated_environment(job: Job, node: str, cluster: str, controller_addr: str,
                           token_key: str) -> dict[str, str]:
    """The variables the launcher adds for `node` (SLURMD_NODENAME, GPUs …), without the
    submitter's environment: srun's own environment is the base of a step's."""
    bare = replace(job, spec=replace(job.spec, environment={}))
    env = job_environment(bare, cluster, node, job.allocation[node], controller_addr, token_key)
    env.pop("SLURM_TASK_PID", None)
    return env


def node_commands(job: Job, ask: StepAsk, placement: Placement, step_id: int, *,
                  cluster: str, controller_addr: str, token_key: str,
                  kill_wait: float) -> dict[str, dict[str, Any]]:
    """The "step" command for each node of the step."""
    nodelist = compress(placement.nodes)
    tasks_per_node = compress_counts(placement.counts)
    commands: dict[str, dict[str, Any]] = {}
    for index, node in enumerate(placement.nodes):
        env = {**(ask.environment or {}),
               **_generated_environment(job, node, cluster, controller_addr, token_key)}
        env.update({
            "SLURM_STEP_ID": str(step_id), "SLURM_STEPID": str(step_id),
            "SLURM_STEP_NODELIST": nodelist, "SLURM_STEP_NUM_NODES": str(len(placement.nodes)),
            "SLURM_STEP_NUM_TASKS": str(placement.ntasks), "SLURM_NTASKS": str(placement.ntasks),
            "SLURM_NPROCS": str(placement.ntasks), "SLURM_STEP_TASKS_PER_NODE": tasks_per_node,
            "SLURM_TASKS_PER_NODE": tasks_per_node, "SLURM_NODEID": str(index),
        })
        if ask.cpus_per_task != 1:
            env["SLURM_CPUS_PER_TASK"] = str(ask.cpus_per_task)
        held = job.allocation[node]
        gpus = held.gpu_indices
        tasks: list[dict[str, int | list[int] | None]] = []
        shares: set[int] = set()
        for local, procid in enumerate(placement.procids(index)):
            mine: list[int] | None = None
            if ask.gpus_per_task:
                g = ask.gpus_per_task
                mine = list(gpus[local * g:(local + 1) * g])
                shares.update(mine)
            tasks.append({"procid": procid, "localid": local, "gpus": mine})
        # The GPUs the step holds on this node: its tasks' shares, or all the job holds here.
        step_gpus = sorted(shares) if ask.gpus_per_task else list(gpus)
        if step_gpus:
            listed = ",".join(str(g) for g in step_gpus)
            env.update({"SLURM_STEP_GPUS": listed, "CUDA_VISIBLE_DEVICES": listed,
                        "GPU_DEVICE_ORDINAL": listed})
        commands[node] = {
            "job_id": job.job_id, "attempt": job.attempt, "step_id": step_id, "node": node,
            "nodeid": index, "uid": job.spec.uid, "gid": job.spec.gid, "user": job.spec.user,
            "work_dir": ask.work_dir, "argv": list(ask.argv), "environment": env,
            "tasks": tasks, "ntasks": placement.ntasks, "io_addr": ask.io_addr,
            "io_key": ask.io_key, "pty": ask.pty, "kill_wait": kill_wait,
            "winsize": list(ask.winsize) if ask.winsize else None,
            # What the node confines the step to: its job's CPUs (the node picks the ids, or
            # finds the job's batch step holds them), memory (MiB) and GPUs on this node.
            "job_cpus": held.cpus, "memory_mb": held.memory, "job_gpus": list(gpus),
            "step_gpus": step_gpus,
        }
    return commands


def _check_job(job: Job, caller: Caller) -> None:
    prefix = f"Unable to create step for job {job.job_id}: "
    if not caller.may_change(job):
        raise PermissionDenied(prefix + "Access/permission denied")
    if job.state is JobState.PENDING:
        raise StepRefused(prefix + "Job is pending execution")
    if job.state is not JobState.RUNNING or not job.allocation:
        raise StepRefused(prefix + "Job/step already completing or completed")


async def start_step(manager: JobManager, job_id: int, ask: StepAsk,
                     caller: Caller) -> dict[str, Any]:
    """Creates step N.M of a running job and sends its tasks to the nodes."""
    job = manager.latest(job_id)
    if job is None:
        raise NotFound(f"Unable to confirm allocation for job {job_id}: Invalid job id specified")
    _check_job(job, caller)
    placement = lay_out(job.allocation, ask, job_id)
    step_id = next_step_id(job)
    name = ask.name or os.path.basename(ask.argv[0])
    record = StepRecord(state=JobState.RUNNING, start_time=manager.clock(), step_id=step_id,
                        name=name, nodes=placement.nodes, num_tasks=placement.ntasks,
                        num_cpus=placement.ntasks * max(1, ask.cpus_per_task))
    job = await manager.record(replace(job, steps=(*job.steps, record)), "StepStarted",
                         {"step_id": step_id, "attempt": job.attempt, "name": name,
                          "nodes": list(placement.nodes), "tasks": list(placement.counts)})
    settings = manager.settings
    commands = node_commands(job, ask, placement, step_id, cluster=settings.cluster_name,
                             controller_addr=manager.controller_addr,
                             token_key=settings.job_token_key, kill_wait=settings.kill_wait)
    for node, step in commands.items():
        manager.registry.send(node, StepCommand(kind="step", job_id=job.job_id,
                                                attempt=job.attempt, step_id=step_id,
                                                step=StepSpec(**step)))
    return {"job_id": job.job_id, "step_id": step_id, "nodes": list(placement.nodes),
            "tasks_per_node": list(placement.counts), "ntasks": placement.ntasks,
            "job_name": job.name, "user": job.spec.user,
            # srun names an array task's files by the array's ids (%A_%a), as Slurm's does.
            "array_job_id": job.array_job_id, "array_task_id": job.array_task_id}


# -- ends ---------------------------------------------------------------------------------

def _wait_status(exit_code: int, signal: int) -> int:
    return (exit_code & 0xFF) << 8 | (signal & 0x7F)


def settled_step(step: StepRecord, reports: Sequence[Mapping[str, Any]]) -> StepRecord:
    """The record of a step once every node has reported."""
    worst = max(_wait_status(int(r.get("exit_code") or 0), int(r.get("exit_signal") or 0))
                for r in reports)
    exit_code, signal = worst >> 8, worst & 0x7F
    cancelled = any(r.get("cancelled") for r in reports)
    if any(r.get("out_of_memory") for r in reports):
        # A task was killed for the job's memory: Slurm's step shows OUT_OF_MEMORY 0:125.
        state, exit_code, signal = JobState.OUT_OF_MEMORY, 0, OOM_SIGNAL
    elif signal or cancelled:
        state = JobState.CANCELLED
    elif exit_code:
        state = JobState.FAILED
    else:
        state = JobState.COMPLETED
    rss = [int(r["max_rss_kb"]) for r in reports if r.get("max_rss_kb") is not None]
    cpu = [float(r["total_cpu_s"]) for r in reports if r.get("total_cpu_s") is not None]
    ends = [float(r["end_time"]) for r in reports if r.get("end_time") is not None]
    return replace(step, state=state, exit_code=exit_code, exit_signal=signal,
                   end_time=max(ends) if ends else step.end_time,
                   max_rss_kb=max(rss) if rss else None, total_cpu_s=sum(cpu) if cpu else None)


def _running_step(manager: JobBook, node: str, report: StepFinishedReport
                  ) -> tuple[Job, int, StepRecord] | None:
    """The job and its step that the report is about, while the step runs on the node."""
    job = manager.latest(report.job_id)
    if job is None or job.attempt != report.attempt:
        return None
    index = next((i for i, s in enumerate(job.steps) if s.step_id == report.step_id), None)
    if index is None:
        return None
    step = job.steps[index]
    if step.state is not JobState.RUNNING or node not in step.nodes:
        return None
    return job, index, step


async def settle_report(manager: JobBook, node: str, report: StepFinishedReport) -> None:
    """Takes one node's `step_finished` report; the step ends when all its nodes have.
    One report at a time: each reads what the others committed."""
    async with manager.settling:
        await _settle(manager, node, report)


async def _settle(manager: JobBook, node: str, report: StepFinishedReport) -> None:
    attempt, step_id = report.attempt, report.step_id
    if _running_step(manager, node, report) is None:
        return
    fields = ("exit_code", "exit_signal", "cancelled", "out_of_memory", "max_rss_kb",
              "total_cpu_s", "end_time")
    # The event keeps what the node said: a field it did not send is null, not the default.
    mine = {"step_id": step_id, "attempt": attempt, "node": node,
            **{k: getattr(report, k) if k in report.model_fields_set else None
               for k in fields}}
    events = await manager.writer.read(manager.store.events_of, report.job_id)
    # The job may have changed while the store was read: what follows is made at one instant.
    found = _running_step(manager, node, report)
    if found is None:
        return
    job, index, step = found
    earlier = [e.payload for e in events
               if e.kind == "StepNodeFinished" and e.payload.get("step_id") == step_id
               and e.payload.get("attempt") == attempt]
    if any(p.get("node") == node for p in earlier):
        return  # a report re-sent after a lost acknowledgement
    commits = [manager._stage_record(job, "StepNodeFinished", mine)]
    reports = [*earlier, mine]
    if set(step.nodes) <= {p["node"] for p in reports}:
        ended = settled_step(step, reports)
        steps = (*job.steps[:index], ended, *job.steps[index + 1:])
        commits.append(manager._stage_record(
            replace(job, steps=steps), "StepFinished",
            {"step_id": step_id, "attempt": attempt, "state": ended.state.value,
             "exit_code": ended.exit_code, "exit_signal": ended.exit_signal}))
    for done in commits:
        await done


def step_view(job: Job, step: StepRecord) -> dict[str, Any]:
    """A step as job records show it; a step still RUNNING in a job that no longer runs (it
    ended, or was requeued) ended with it, even if no node could say so."""
    state, end = step.state, step.end_time
    if state is JobState.RUNNING and not job.state.is_active:
        state, end = JobState.CANCELLED, job.end_time
    return {"step_id": step.step_id, "name": step.name, "state": state.value,
            "exit_code": step.exit_code, "exit_signal": step.exit_signal,
            "start_time": step.start_time, "end_time": end, "nodes": list(step.nodes),
            "num_tasks": step.num_tasks, "num_cpus": step.num_cpus,
            "max_rss_kb": step.max_rss_kb, "total_cpu_s": step.total_cpu_s}


__all__ = ["Placement", "StepAsk", "StepRefused", "lay_out", "next_step_id", "node_commands",
           "settle_report", "settled_step", "start_step", "step_view"]
