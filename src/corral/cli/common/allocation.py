"""An interactive allocation, as salloc and srun (outside a job) get one: ask, wait, release.

The controller runs a holder on the first node for as long as the allocation lasts; releasing
it tells the controller the command's exit status (Slurm's slurm_complete_job): the holder is
stopped and the job ends with that status (FAILED 3:0 for a shell that exited 3).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Mapping
from typing import Any

from corral.cli.common.runner import CommandError
from corral.client import Client, ClientError
from corral.model.hostlist import compress, compress_counts

ACTIVE = ("PENDING", "RUNNING", "COMPLETING")


class AllocationRefused(CommandError):
    """The controller would not queue the request; `lines` are printed as `PROG: error: LINE`."""

    def __init__(self, *lines: str) -> None:
        super().__init__(lines[-1])
        self.lines = lines


def request_allocation(client: Client, request: Mapping[str, Any], failed_prefix: str) -> int:
    """Submits an interactive job; Slurm's "submission failed" line is reworded for the tool
    (srun: "Unable to allocate resources: …", salloc: "Job submit/allocate failed: …")."""
    try:
        reply = client.submit({**request, "interactive": True, "script": ""})
    except ClientError as exc:
        lines = exc.message.splitlines() or [exc.message]
        marker = "Batch job submission failed: "
        reworded = [failed_prefix + line[len(marker):] if line.startswith(marker) else line
                    for line in lines]
        if not any(line.startswith(marker) for line in lines):
            reworded.append(failed_prefix + lines[-1])
        raise AllocationRefused(*reworded) from None
    return int(reply["job_id"])


def wait_for_allocation(client: Client, job_id: int, prog: str, *, announce_pending: bool = False,
                        quiet: bool = False) -> dict[str, Any]:
    """Polls until the job runs; tells the user, in Slurm's words, when it has to wait."""
    waited = False
    delay = 0.02
    while True:
        job = client.job(job_id)
        state = job["state"]
        if state == "RUNNING":
            if waited and not quiet:
                print(f"{prog}: job {job_id} has been allocated resources", file=sys.stderr,
                      flush=True)
            return dict(job)
        if state != "PENDING":
            raise CommandError(f"Job allocation {job_id} has been revoked.")
        # A reason other than None means a scheduling pass looked at it and could not start it.
        if not waited and job.get("reason", "None") != "None":
            waited = True
            if not quiet:
                if announce_pending:
                    print(f"{prog}: Pending job allocation {job_id}", file=sys.stderr)
                print(f"{prog}: job {job_id} queued and waiting for resources", file=sys.stderr,
                      flush=True)
        time.sleep(delay)
        delay = min(delay * 1.5, 0.5)


def release(client: Client, job_id: int, exit_code: int = 0, exit_signal: int = 0) -> None:
    """Ends the allocation with its command's status; one still pending is cancelled."""
    try:
        client.end_allocation(job_id, exit_code, exit_signal)
    except ClientError:
        pass  # already gone


def still_running(client: Client, job_id: int) -> bool:
    try:
        return bool(client.job(job_id)["state"] == "RUNNING")
    except ClientError as exc:
        return exc.status >= 500


def allocation_environment(job: Mapping[str, Any], cluster: str, environ: Mapping[str, str]
                           ) -> dict[str, str]:
    """The variables salloc gives its command, so that srun inside it uses the allocation."""
    nodes = list(job.get("nodes") or [])
    nodelist = compress(nodes)
    num_nodes = len(nodes) or int(job.get("num_nodes") or 1)
    per_node_cpus = max(1, int(job.get("num_cpus") or 1) // num_nodes)
    ntasks = int(job.get("num_tasks") or 1)
    tasks_per_node = max(1, ntasks // num_nodes)
    # Shares may differ (-n 3 on 2-CPU nodes: 2,1): tasks by block distribution, as the job's.
    cpus = [int(c) for c in job.get("alloc_cpus") or ()] or [per_node_cpus] * num_nodes
    tasks = [tasks_per_node] * len(cpus)
    if not job.get("ntasks_per_node") and ntasks > len(cpus):
        tasks, left = [1] * len(cpus), ntasks - len(cpus)
        for i, held in enumerate(cpus):
            extra = min(left, max(0, held // max(1, int(job.get("cpus_per_task") or 1)) - 1))
            tasks[i] += extra
            left -= extra
    env = dict(environ)
    env.update({
        "SLURM_JOB_ID": str(job["job_id"]), "SLURM_JOBID": str(job["job_id"]),
        "SLURM_JOB_NAME": str(job.get("name") or ""), "SLURM_JOB_NODELIST": nodelist,
        "SLURM_NODELIST": nodelist, "SLURM_JOB_NUM_NODES": str(num_nodes),
        "SLURM_NNODES": str(num_nodes), "SLURM_JOB_PARTITION": str(job.get("partition") or ""),
        "SLURM_JOB_CPUS_PER_NODE": compress_counts(cpus),
        "SLURM_TASKS_PER_NODE": compress_counts(tasks),
        "SLURM_CLUSTER_NAME": cluster, "SLURM_SUBMIT_DIR": str(job.get("work_dir") or ""),
        "SLURM_SUBMIT_HOST": str(job.get("submit_host") or ""),
        "SLURM_JOB_ACCOUNT": str(job.get("account") or ""),
        "SLURM_JOB_QOS": str(job.get("qos") or "normal"),
        "SLURM_MEM_PER_NODE": str(job.get("mem_per_node") or 0),
    })
    if ntasks != 1:
        env["SLURM_NTASKS"] = env["SLURM_NPROCS"] = str(ntasks)
    if int(job.get("cpus_per_task") or 1) != 1:
        env["SLURM_CPUS_PER_TASK"] = str(job["cpus_per_task"])
    return env

