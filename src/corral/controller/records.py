"""Jobs, nodes and partitions as the API shows them (docs/spec/03-rest-api.md)."""

from __future__ import annotations

from typing import Any

from corral.controller.launch import resolve_outputs
from corral.controller.nodes import Node
from corral.controller.steps import step_view
from corral.model.cluster import NodeResources, Partition
from corral.model.hostlist import compress
from corral.model.job import Job
from corral.model.states import JobState

# Usage the node samples beyond RSS and CPU time (sacct UserCPU/SystemCPU, TRESUsageIn* gres,
# seff's GPU lines); shown once the step record carries them.
STEP_USAGE_EXTRA = ("user_cpu_s", "system_cpu_s", "gpu_util", "gpu_mem_kb", "gpu_idle")


def job_record(job: Job) -> dict[str, Any]:
    spec = job.spec
    stdout, stderr = resolve_outputs(job, job.nodes[0] if job.nodes else None)
    step = job.batch_step
    gpus = spec.gpus_per_node
    return {
        "job_id": job.job_id, "name": job.name, "user": spec.user, "uid": spec.uid,
        "group": spec.group, "gid": spec.gid, "account": spec.account or spec.user,
        "partition": job.partition, "qos": spec.qos or "normal", "state": job.state.value,
        "reason": job.reason.value, "priority": job.priority, "nice": job.nice,
        "held": job.held, "requeue": spec.requeue, "restarts": job.attempt,
        "exclusive": spec.exclusive, "submit_time": job.submit_time,
        "eligible_time": job.eligible_time, "start_time": job.start_time,
        "end_time": job.end_time, "time_limit": job.time_limit, "num_nodes": spec.num_nodes,
        "num_tasks": spec.num_tasks, "cpus_per_task": spec.cpus_per_task,
        "num_cpus": job.num_cpus, "mem_per_node": job.mem_per_node,
        "mem_per_cpu": spec.mem_per_cpu, "min_memory_node": spec.mem_per_node or 0,
        "gpus_per_node": gpus, "gpu_type": spec.gpu_type, "gpus": spec.gpus,
        "tres_per_node": (f"gres/gpu:{spec.gpu_type}:{gpus}" if spec.gpu_type else f"gres/gpu:{gpus}")
        if gpus else None,
        "req_nodes": list(spec.req_nodes), "exc_nodes": list(spec.exc_nodes),
        "nodes": list(job.nodes), "batch_host": job.nodes[0] if job.nodes else None,
        "alloc_gpus": {n: list(a.gpu_indices) for n, a in job.allocation.items() if a.gpu_indices},
        "alloc_cpus": [a.cpus for a in job.allocation.values()],  # per node, in NodeList order
        "exit_code": job.exit_code, "exit_signal": job.exit_signal,
        "cancelled_by": job.cancelled_by,
        "batch_step": None if step is None or spec.interactive else {
            "state": step.state.value, "exit_code": step.exit_code, "exit_signal": step.exit_signal,
            "start_time": step.start_time, "end_time": step.end_time,
            "max_rss_kb": step.max_rss_kb, "total_cpu_s": step.total_cpu_s,
            **{key: getattr(step, key, None) for key in STEP_USAGE_EXTRA}},
        "work_dir": spec.work_dir, "stdout": stdout, "stderr": stderr,
        "stdin": spec.stdin or "/dev/null", "command": spec.command or None,
        "submit_host": spec.submit_host,
        "dependency": job.dependency_shown if job.state is JobState.PENDING else None,
        "estimated_start": job.estimated_start,
        "sched_nodes": compress(job.sched_nodes)
        if job.sched_nodes and job.state is JobState.PENDING else None,
        "begin_time": spec.begin_time, "comment": spec.comment, "constraint": spec.constraint,
        "mail_type": spec.mail_type, "mail_user": spec.mail_user, "frontend": spec.frontend,
        # Recorded at submission; shown by scontrol (TimeMin=, Deadline=), squeue and sacct.
        "time_min": spec.time_min, "deadline": spec.deadline, "wckey": spec.wckey,
        "interactive": spec.interactive,
        "steps": [step_view(job, s) for s in job.steps],
        **_array_fields(job),
    }


def _array_fields(job: Job) -> dict[str, Any]:
    if job.array_job_id is None:
        return {"array_job_id": None, "array_task_id": None, "array_task_string": None,
                "array_max_tasks": None}
    task_string = None
    if job.array_tasks is not None and job.array_tasks.isdigit():
        # One task left pending is shown as that task, as Slurm does.
        return {"array_job_id": job.array_job_id, "array_task_id": int(job.array_tasks),
                "array_task_string": None, "array_max_tasks": job.array_throttle or None}
    if job.array_tasks is not None:
        task_string = job.array_tasks + (f"%{job.array_throttle}" if job.array_throttle else "")
    return {"array_job_id": job.array_job_id, "array_task_id": job.array_task_id,
            "array_task_string": task_string, "array_max_tasks": job.array_throttle or None}


def node_state(node: Node, view: NodeResources, responding: bool) -> str:
    if node.down:
        return "DOWN"
    busy = not view.idle
    if node.drain:
        return "DRAINING" if busy else "DRAINED"
    if not responding:
        return "DOWN"
    if not busy:
        return "IDLE"
    full = view.free_cpus == 0 or view.free_memory == 0
    return "ALLOCATED" if full else "MIXED"


def node_record(node: Node, view: NodeResources, partitions: list[str], responding: bool) -> dict[str, Any]:
    facts = node.facts
    reason, reason_time, reason_uid = node.reason, node.reason_time, node.reason_uid
    if reason is None and not responding and node.last_seen:
        # Slurm's own reason for a node past SlurmdTimeout, given by SlurmUser (root here).
        reason, reason_time, reason_uid = "Not responding", node.last_seen, 0
    return {
        "name": node.name, "state": node_state(node, view, responding), "reason": reason,
        "reason_time": reason_time, "reason_uid": reason_uid,
        "cpus": node.cpus, "memory": node.memory, "gpus": node.gpus, "gpu_type": node.gpu_type,
        "alloc_cpus": node.cpus - view.free_cpus, "alloc_memory": node.memory - view.free_memory,
        "alloc_gpus": node.gpus - len(view.free_gpus),
        "free_memory": node.load.get("free_memory"), "cpu_load": node.load.get("cpu_load"),
        "partitions": partitions, "addr": facts.get("addr", ""), "hostname": facts.get("hostname", ""),
        "arch": facts.get("arch", ""), "os": facts.get("os", ""), "version": facts.get("version", ""),
        "boot_time": facts.get("boot_time"), "agent_start_time": node.registered_at or None,
        "features": sorted(view.features), "sockets": 1, "cores_per_socket": node.cpus, "threads_per_core": 1,
        "responding": responding,
        "cgroup": facts.get("cgroup", ""), "enforced": facts.get("enforced", ""),
        "gpu_devices": facts.get("gpu_devices", []),
    }


def partition_record(partition: Partition, members: list[Node]) -> dict[str, Any]:
    return {
        "name": partition.name, "default": partition.default,
        "nodes": [n.name for n in members], "max_time": partition.max_time,
        "default_time": partition.default_time, "max_nodes": partition.max_nodes,
        "state": partition.state, "total_cpus": sum(n.cpus for n in members),
        "total_nodes": len(members),
    }
