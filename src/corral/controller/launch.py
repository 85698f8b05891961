"""What the batch host's agent needs to start a job: paths, limits, and the job's environment."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from corral.model.hostlist import compress
from corral.model.job import Job, NodeAllocation
from corral.model.patterns import output_path


def _per_node(counts: list[int]) -> str:
    """Slurm's compressed per-node list: [2, 2, 1] → '2(x2),1'."""
    parts: list[str] = []
    i = 0
    while i < len(counts):
        j = i
        while j < len(counts) and counts[j] == counts[i]:
            j += 1
        parts.append(f"{counts[i]}(x{j - i})" if j - i > 1 else str(counts[i]))
        i = j
    return ",".join(parts)


def resolve_outputs(job: Job, node: str | None) -> tuple[str, str]:
    spec = job.spec
    fields = {"job_id": job.job_id, "name": job.name, "user": spec.user, "node": node}
    stdout = output_path(spec.stdout, spec.work_dir, **fields)
    stderr = output_path(spec.stderr, spec.work_dir, **fields) if spec.stderr else stdout
    return stdout, stderr


def job_environment(job: Job, cluster: str, batch_host: str, alloc: NodeAllocation,
                    controller_addr: str) -> dict[str, str]:
    spec = job.spec
    nodes = list(job.allocation)
    nodelist = compress(nodes)
    cpus = [a.cpus for a in job.allocation.values()]
    tasks_per_node = spec.ntasks_per_node or max(1, spec.num_tasks // max(1, len(nodes)))
    env = dict(spec.environment)
    env.update({
        "SLURMD_NODENAME": batch_host,
        "SLURM_CLUSTER_NAME": cluster,
        "SLURM_CPUS_ON_NODE": str(alloc.cpus),
        "SLURM_GTIDS": "0",
        "SLURM_JOBID": str(job.job_id),
        "SLURM_JOB_ID": str(job.job_id),
        "SLURM_JOB_ACCOUNT": spec.account or spec.user,
        "SLURM_JOB_CPUS_PER_NODE": _per_node(cpus),
        "SLURM_JOB_GID": str(spec.gid),
        "SLURM_JOB_NAME": job.name,
        "SLURM_JOB_NODELIST": nodelist,
        "SLURM_JOB_NUM_NODES": str(len(nodes)),
        "SLURM_JOB_PARTITION": job.partition,
        "SLURM_JOB_QOS": spec.qos or "normal",
        "SLURM_JOB_UID": str(spec.uid),
        "SLURM_JOB_USER": spec.user,
        "SLURM_LOCALID": "0",
        "SLURM_MEM_PER_NODE": str(job.mem_per_node),
        "SLURM_NNODES": str(len(nodes)),
        "SLURM_NODEID": "0",
        "SLURM_NODELIST": nodelist,
        "SLURM_NODE_ALIASES": "(null)",
        "SLURM_PRIO_PROCESS": "0",
        "SLURM_PROCID": "0",
        "SLURM_SUBMIT_DIR": spec.work_dir,
        "SLURM_SUBMIT_HOST": spec.submit_host,
        "SLURM_TASKS_PER_NODE": _per_node([tasks_per_node] * len(nodes)),
        "SLURM_TOPOLOGY_ADDR": batch_host,
        "SLURM_TOPOLOGY_ADDR_PATTERN": "node",
        "SLURM_WORKING_CLUSTER": f"{cluster}:{controller_addr}",
        "SLURM_JOB_RESTART_COUNT": str(job.attempt),
    })
    if spec.cpus_per_task != 1 or "SLURM_CPUS_PER_TASK" in spec.environment:
        env["SLURM_CPUS_PER_TASK"] = str(spec.cpus_per_task)
    if spec.num_tasks != 1 or spec.ntasks_per_node:
        env["SLURM_NTASKS"] = env["SLURM_NPROCS"] = str(spec.num_tasks)
    if spec.time_limit is not None or job.time_limit is not None:
        env["SLURM_TIMELIMIT"] = str(job.time_limit) if job.time_limit is not None else "UNLIMITED"
    if alloc.gpu_indices:
        gpus = ",".join(str(i) for i in alloc.gpu_indices)
        env.update({"CUDA_VISIBLE_DEVICES": gpus, "NVIDIA_VISIBLE_DEVICES": gpus,
                    "GPU_DEVICE_ORDINAL": gpus, "SLURM_JOB_GPUS": gpus,
                    "SLURM_GPUS_ON_NODE": str(len(alloc.gpu_indices))})
    else:
        # A job without GPUs must not inherit the submitter's view of them.
        env["CUDA_VISIBLE_DEVICES"] = ""
        for key in ("NVIDIA_VISIBLE_DEVICES", "GPU_DEVICE_ORDINAL"):
            env.pop(key, None)
    return env


def launch_payload(job: Job, *, cluster: str, kill_wait: float,
                   controller_addr: str) -> tuple[str, dict[str, Any]]:
    """(batch host, the launch command's body)."""
    batch_host = job.nodes[0]
    alloc: Mapping[str, NodeAllocation] = job.allocation
    stdout, stderr = resolve_outputs(job, batch_host)
    spec = job.spec
    return batch_host, {
        "job_id": job.job_id, "attempt": job.attempt, "node": batch_host,
        "uid": spec.uid, "gid": spec.gid, "user": spec.user, "work_dir": spec.work_dir,
        "stdout": stdout, "stderr": stderr, "stdin": spec.stdin, "argv": list(spec.argv),
        "script": spec.script, "time_limit": job.time_limit, "kill_wait": kill_wait,
        "environment": job_environment(job, cluster, batch_host, alloc[batch_host], controller_addr),
    }
