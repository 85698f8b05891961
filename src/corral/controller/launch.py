"""What the batch host's agent needs to start a job: paths, limits, and the job's environment."""

from __future__ import annotations

import socket
from collections.abc import Mapping
from typing import Any

from corral.controller.jobtoken import job_token
from corral.model.arrays import array_env
from corral.model.hostlist import compress, compress_counts
from corral.model.job import Job, NodeAllocation
from corral.model.patterns import output_path


def resolve_outputs(job: Job, node: str | None) -> tuple[str, str]:
    spec = job.spec
    fields = {"job_id": job.job_id, "name": job.name, "user": spec.user, "node": node,
              "array_job_id": job.array_job_id, "array_task_id": job.array_task_id}
    default = "slurm-%A_%a.out" if job.array_job_id is not None else None
    stdout = output_path(spec.stdout or default, spec.work_dir, **fields)
    stderr = output_path(spec.stderr, spec.work_dir, **fields) if spec.stderr else stdout
    return stdout, stderr


def job_environment(job: Job, cluster: str, batch_host: str, alloc: NodeAllocation,
                    controller_addr: str, token_key: str = "", socket_path: str = "") -> dict[str, str]:
    spec = job.spec
    nodes = list(job.allocation)
    nodelist = compress(nodes)
    cpus = [a.cpus for a in job.allocation.values()]
    env = dict(spec.environment)
    env.update({
        "SLURMD_NODENAME": batch_host,
        "SLURM_CLUSTER_NAME": cluster,
        "SLURM_CPUS_ON_NODE": str(alloc.cpus),
        "SLURM_GTIDS": "0",
        "SLURM_JOBID": str(job.job_id),
        "SLURM_JOB_ID": str(job.job_id),
        "SLURM_JOB_ACCOUNT": spec.account or spec.user,
        "SLURM_JOB_CPUS_PER_NODE": compress_counts(cpus),
        "SLURM_JOB_GID": str(spec.gid),
        "SLURM_JOB_NAME": job.name,
        "SLURM_JOB_NODELIST": nodelist,
        "SLURM_JOB_NUM_NODES": str(len(nodes)),
        "SLURM_JOB_PARTITION": job.partition,
        "SLURM_JOB_QOS": spec.qos or "normal",
        "SLURM_JOB_UID": str(spec.uid),
        "SLURM_JOB_USER": spec.user,
        "SLURM_LOCALID": "0",
        "SLURM_NNODES": str(len(nodes)),
        "SLURM_NODEID": "0",
        "SLURM_NODELIST": nodelist,
        "SLURM_NODE_ALIASES": "(null)",
        "SLURM_PRIO_PROCESS": "0",
        "SLURM_PROCID": "0",
        "SLURM_SUBMIT_DIR": spec.work_dir,
        "SLURM_SUBMIT_HOST": spec.submit_host,
        "SLURM_TASKS_PER_NODE": compress_counts(tasks_per_node(job)),
        "SLURM_TOPOLOGY_ADDR": batch_host,
        "SLURM_TOPOLOGY_ADDR_PATTERN": "node",
        "SLURM_WORKING_CLUSTER": f"{cluster}:{controller_addr}",
        "SLURM_JOB_RESTART_COUNT": str(job.attempt),
    })
    if token_key:
        # srun inside the job reaches the controller over TCP and proves itself with the token.
        host, _, port = controller_addr.rpartition(":")
        host = socket.gethostname() if host in ("", "0.0.0.0", "::") else host
        env["CORRAL_CONTROLLER"] = f"http://{host}:{port}"
        env["CORRAL_JOB_TOKEN"] = job_token(token_key, job.job_id, job.attempt)
    if socket_path:
        # On the controller's own host, commands in the job (sbatch from a workflow, scancel)
        # use its socket, where the kernel names the user: the token acts on this job only.
        env["CORRAL_SOCKET"] = socket_path
    env.update(_sizing_environment(job))
    if job.attempt:  # Slurm sets it once the job has been requeued: the times it restarted
        env["SLURM_RESTART_COUNT"] = str(job.attempt)
    if spec.time_limit is not None or job.time_limit is not None:
        env["SLURM_TIMELIMIT"] = str(job.time_limit) if job.time_limit is not None else "UNLIMITED"
    if job.array_job_id is not None and job.array_task_id is not None and spec.array:
        env.update({"SLURM_ARRAY_JOB_ID": str(job.array_job_id),
                    "SLURM_ARRAY_TASK_ID": str(job.array_task_id),
                    **array_env(spec.array, max_size=2**31)})
    if spec.frontend == "pbs":
        env.update(_pbs_environment(job, nodes))
    elif spec.frontend == "lsf":
        env.update(_lsf_environment(job))
    if alloc.gpu_indices:
        gpus = ",".join(str(i) for i in alloc.gpu_indices)
        env.update({"CUDA_VISIBLE_DEVICES": gpus, "NVIDIA_VISIBLE_DEVICES": gpus,
                    "GPU_DEVICE_ORDINAL": gpus, "SLURM_JOB_GPUS": gpus,
                    "SLURM_GPUS_ON_NODE": str(len(alloc.gpu_indices)),
                    # The indices are NVML's, in PCI bus order; CUDA's own default order
                    # (fastest first) would name other devices on a mixed-model machine.
                    "CUDA_DEVICE_ORDER": "PCI_BUS_ID"})
    else:
        # A job without GPUs must not inherit the submitter's view of them.
        env["CUDA_VISIBLE_DEVICES"] = ""
        for key in ("NVIDIA_VISIBLE_DEVICES", "GPU_DEVICE_ORDINAL"):
            env.pop(key, None)
    return env


def tasks_per_node(job: Job) -> list[int]:
    """How many of the job's tasks each node runs, Slurm's block distribution: one a node
    first, then each node filled to its CPUs in NodeList order (`-n 3` on 2-CPU nodes: 2,1)."""
    spec = job.spec
    allocs = list(job.allocation.values()) or [NodeAllocation(spec.cpus_per_node(), 0)]
    if spec.ntasks_per_node:
        return [spec.ntasks_per_node] * len(allocs)
    counts = [1] * len(allocs)
    left = max(0, spec.num_tasks - len(allocs))
    for i, alloc in enumerate(allocs):
        extra = min(left, max(0, alloc.cpus // max(1, spec.cpus_per_task) - 1))
        counts[i] += extra
        left -= extra
    for i in range(left):  # more tasks than CPUs (--overcommit): round robin
        counts[i % len(counts)] += 1
    return counts


def _sizing_environment(job: Job) -> dict[str, str]:
    """The variables for the sizes the job asked for. sbatch echoes the options it was given
    (SLURM_CPUS_PER_TASK=1 for -c 1); a job sent to the API directly gets them from its spec."""
    spec = job.spec
    env: dict[str, str] = {}
    if spec.cpus_per_task != 1 or "SLURM_CPUS_PER_TASK" in spec.environment:
        env["SLURM_CPUS_PER_TASK"] = str(spec.cpus_per_task)
    if spec.num_tasks != 1 or spec.ntasks_per_node or "SLURM_NTASKS" in spec.environment:
        env["SLURM_NTASKS"] = env["SLURM_NPROCS"] = str(spec.num_tasks)
    if spec.ntasks_per_node:
        env["SLURM_NTASKS_PER_NODE"] = str(spec.ntasks_per_node)
    # One of the two, as Slurm: per CPU when that is how the job asked for memory.
    if spec.mem_per_cpu and spec.mem_per_node is None:
        env["SLURM_MEM_PER_CPU"] = str(spec.mem_per_cpu)
    else:
        env["SLURM_MEM_PER_NODE"] = str(job.mem_per_node)
    for key, value in (("SLURM_GPUS_PER_TASK", spec.gpus_per_task),
                       ("SLURM_CPUS_PER_GPU", spec.cpus_per_gpu),
                       ("SLURM_MEM_PER_GPU", spec.mem_per_gpu),
                       ("SLURM_JOB_DEPENDENCY", spec.dependency)):
        if value:
            env[key] = str(value)
    return env


def _pbs_environment(job: Job, nodes: list[str]) -> dict[str, str]:
    spec = job.spec
    server = socket.gethostname()  # this runs in the controller: PBS's "server" is its host
    first = job.allocation.get(nodes[0]) if nodes else None
    ncpus = str(first.cpus if first is not None else spec.cpus_per_node())
    env = {"PBS_JOBID": f"{job.job_id}.{server}", "PBS_JOBNAME": job.name, "PBS_O_WORKDIR": spec.work_dir,
           "PBS_O_HOST": spec.submit_host, "PBS_QUEUE": job.partition,
           "PBS_O_LOGNAME": spec.user, "PBS_ENVIRONMENT": "PBS_BATCH", "ENVIRONMENT": "BATCH",
           # One line per CPU on each node, as PBS writes its node file; the supervisor writes
           # the file itself (see supervisor.py) at this path inside the job's directory.
           "PBS_NODEFILE": "@JOBDIR@/pbs_nodefile",
           # PBS Pro sets both from the first chunk's ncpus (ompthreads defaults to ncpus):
           # OpenMP programs from university guides size their thread pools by them.
           "NCPUS": ncpus, "OMP_NUM_THREADS": ncpus,
           # A private directory the supervisor creates for the job and removes at its end.
           "TMPDIR": "@JOBDIR@/tmp",
           "PBS_NODENUM": "0", "PBS_TASKNUM": "1"}
    if spec.account:
        env["PBS_ACCOUNT"] = spec.account
    if job.array_task_id is not None:
        env["PBS_ARRAY_INDEX"] = str(job.array_task_id)
        env["PBS_ARRAY_ID"] = f"{job.array_job_id}[].{server}"
        env["PBS_JOBID"] = f"{job.array_job_id}[{job.array_task_id}].{server}"
    return env


def _lsf_environment(job: Job) -> dict[str, str]:
    hosts = [name for name, alloc in job.allocation.items() for _ in range(alloc.cpus)]
    env = {"LSB_JOBID": str(job.array_job_id or job.job_id), "LSB_JOBNAME": job.name,
           "LSB_HOSTS": " ".join(hosts), "LSB_QUEUE": job.partition,
           "LSB_JOBINDEX": str(job.array_task_id if job.array_task_id is not None else 0),
           "LSB_DJOB_NUMPROC": str(len(hosts)), "LS_SUBCWD": job.spec.work_dir,
           # bsub's documented job variables besides: hosts with their slot counts, the
           # submission host, the slot count a parallel job may use.
           "LSB_MCPU_HOSTS": " ".join(f"{name} {alloc.cpus}"
                                      for name, alloc in job.allocation.items()),
           "LSB_SUB_HOST": job.spec.submit_host, "LSB_MAX_NUM_PROCESSORS": str(len(hosts)),
           "LSFUSER": job.spec.user}
    if job.spec.account:
        env["LSB_PROJECT_NAME"] = job.spec.account
    return env


def node_file(job: Job) -> str:
    """PBS_NODEFILE's contents: each allocated node once per CPU it holds."""
    return "".join(f"{name}\n" * alloc.cpus for name, alloc in job.allocation.items())


def launch_payload(job: Job, *, cluster: str, kill_wait: float,
                   controller_addr: str, token_key: str = "", socket_path: str = "",
                   gpu_idle_after: float | None = None) -> tuple[str, dict[str, Any]]:
    """(batch host, the launch command's body)."""
    batch_host = job.nodes[0]
    alloc: Mapping[str, NodeAllocation] = job.allocation
    here = alloc[batch_host]
    stdout, stderr = resolve_outputs(job, batch_host)
    spec = job.spec
    return batch_host, {
        "job_id": job.job_id, "attempt": job.attempt, "node": batch_host,
        "uid": spec.uid, "gid": spec.gid, "user": spec.user, "work_dir": spec.work_dir,
        "stdout": stdout, "stderr": stderr, "stdin": spec.stdin, "argv": list(spec.argv),
        "script": spec.script, "time_limit": job.time_limit, "kill_wait": kill_wait,
        "environment": job_environment(job, cluster, batch_host, alloc[batch_host], controller_addr,
                                       token_key, socket_path),
        "open_append": spec.open_mode == "append", "signal": spec.signal,
        "files": {"pbs_nodefile": node_file(job)} if spec.frontend == "pbs" else {},
        # What the node's supervisor confines the job to (its cgroup): CPU count (the node
        # picks the ids), memory in MiB, GPU indices; GPUs idle this long get the job flagged.
        "cpus": here.cpus, "memory_mb": here.memory, "gpus": list(here.gpu_indices),
        "gpu_idle_after": gpu_idle_after,
    }
