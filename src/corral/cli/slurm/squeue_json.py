"""squeue --json: job records in Slurm 22.05's openapi/v0.0.38 layout (pure: `now` is given)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from corral.cli.slurm.squeue_format import expected_end, nodelist, num_nodes, tres_per_node

Job = Mapping[str, Any]

META: dict[str, Any] = {
    "plugin": {"type": "openapi/v0.0.38", "name": "Slurm OpenAPI v0.0.38"},
    "Slurm": {"version": {"major": 22, "micro": 8, "minor": 5}, "release": "22.05.8"},
}

_YEAR = 365 * 86400


def _epoch(value: Any) -> int:
    return int(value) if value else 0


def _int(value: Any, default: int = 0) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _times(job: Job) -> tuple[int, int]:
    """(start_time, end_time) as squeue --json gives them: estimates while pending/running."""
    state = job.get("state")
    if state == "PENDING":
        start = _epoch(job.get("estimated_start"))
        end = _epoch(expected_end(job)) if start else 0
        return start, end
    start = _epoch(job.get("start_time"))
    if job.get("end_time"):
        return start, _epoch(job["end_time"])
    if not start:
        return 0, 0
    limit = job.get("time_limit")
    return start, start + (_YEAR if limit is None else _int(limit) * 60)


def _resources(job: Job) -> dict[str, Any]:
    nodes = job.get("nodes") or []
    if job.get("state") not in ("RUNNING", "COMPLETING") or not nodes:
        return {}
    cpus = _int(job.get("num_cpus"), 1)
    per_node = max(1, cpus // max(1, len(nodes))) if isinstance(nodes, list) else cpus
    names = nodes if isinstance(nodes, list) else [nodes]
    return {
        "nodes": nodelist(nodes),
        "allocated_cores": cpus,
        "allocated_hosts": len(names),
        "allocated_nodes": [
            {"sockets": {"0": {"cores": {str(c): "allocated" for c in range(per_node)}}},
             "nodename": str(name), "cpus_used": 0, "memory_used": 0,
             "memory_allocated": _int(job.get("mem_per_node"))}
            for name in names
        ],
    }


def _tres(job: Job) -> str:
    cpus = _int(job.get("num_cpus"), 1)
    mem = _int(job.get("mem_per_node")) * num_nodes(job)
    return f"cpu={cpus},mem={mem}M,node={num_nodes(job)},billing={cpus}"


def job_json(job: Job) -> dict[str, Any]:
    """One job in v0.0.38's spelling; fields corral has no notion of get Slurm's empty values."""
    start, end = _times(job)
    nice = _int(job.get("nice"))
    array_id = _int(job.get("array_job_id"))
    per_cpu = job.get("mem_per_cpu")
    per_node = None if per_cpu else job.get("min_memory_node", job.get("mem_per_node"))
    running = job.get("state") in ("RUNNING", "COMPLETING")
    tres = tres_per_node(job)
    return {
        "account": _text(job.get("account")),
        "accrue_time": _epoch(job.get("eligible_time")),
        "admin_comment": "",
        "array_job_id": array_id,
        "array_task_id": job.get("array_task_id") if array_id else None,
        "array_max_tasks": _int(job.get("array_max_tasks")),
        "array_task_string": _text(job.get("array_task_string")),
        "association_id": 0,
        "batch_features": "",
        "batch_flag": True,
        "batch_host": _text(job.get("batch_host")),
        "flags": [],
        "burst_buffer": "",
        "burst_buffer_state": "",
        "cluster": _text(job.get("cluster") or "corral"),
        "cluster_features": "",
        "command": _text(job.get("command")),
        "comment": _text(job.get("comment")),
        "container": "",
        "contiguous": False,
        "core_spec": None,
        "thread_spec": None,
        "cores_per_socket": None,
        "billable_tres": float(_int(job.get("num_cpus"), 1)),
        "cpus_per_task": job.get("cpus_per_task"),
        "cpu_frequency_minimum": None,
        "cpu_frequency_maximum": None,
        "cpu_frequency_governor": None,
        "cpus_per_tres": "",
        "deadline": _epoch(job.get("deadline")),
        "delay_boot": 0,
        "dependency": _text(job.get("dependency")),
        "derived_exit_code": 0,
        "eligible_time": _epoch(job.get("eligible_time")),
        "end_time": end,
        "excluded_nodes": nodelist(job.get("exc_nodes")),
        "exit_code": _int(job.get("exit_code")),
        "features": job.get("constraint") or "",
        "federation_origin": "",
        "federation_siblings_active": "",
        "federation_siblings_viable": "",
        "gres_detail": [],
        "group_id": _int(job.get("gid")),
        "group_name": _text(job.get("group")),
        "job_id": _int(job.get("job_id")),
        "job_resources": _resources(job),
        "job_state": _text(job.get("state")),
        "last_sched_evaluation": _epoch(job.get("submit_time")),
        "licenses": "",
        "max_cpus": 0,
        "max_nodes": 0,
        "mcs_label": "",
        "memory_per_tres": "",
        "name": _text(job.get("name")),
        "nodes": nodelist(job.get("nodes")),
        "nice": nice or None,
        "tasks_per_core": None,
        "tasks_per_node": 0,
        "tasks_per_socket": None,
        "tasks_per_board": 0,
        "cpus": _int(job.get("num_cpus"), 1),
        "node_count": num_nodes(job),
        "tasks": _int(job.get("num_tasks"), 1),
        "het_job_id": 0,
        "het_job_id_set": "",
        "het_job_offset": 0,
        "partition": _text(job.get("partition")),
        "memory_per_node": per_node,
        "memory_per_cpu": per_cpu,
        "minimum_cpus_per_node": _int(job.get("cpus_per_task"), 1),
        "minimum_tmp_disk_per_node": 0,
        "preempt_time": 0,
        "pre_sus_time": 0,
        "priority": _int(job.get("priority")),
        "profile": None,
        "qos": _text(job.get("qos")),
        "reboot": False,
        "required_nodes": nodelist(job.get("req_nodes")),
        "requeue": bool(job.get("requeue", True)),
        "resize_time": 0,
        "restart_cnt": _int(job.get("restarts")),
        "resv_name": "",
        "shared": None,
        "show_flags": ["SHOW_ALL", "SHOW_DETAIL", "SHOW_LOCAL"],
        "sockets_per_board": 0,
        "sockets_per_node": None,
        "start_time": start,
        "state_description": "",
        "state_reason": _text(job.get("reason") or "None"),
        "standard_error": _text(job.get("stderr")),
        "standard_input": _text(job.get("stdin")),
        "standard_output": _text(job.get("stdout")),
        "submit_time": _epoch(job.get("submit_time")),
        "suspend_time": 0,
        "system_comment": "",
        "time_limit": job.get("time_limit"),
        "time_minimum": _int(job.get("time_min")),
        "threads_per_core": None,
        "tres_bind": "",
        "tres_freq": "",
        "tres_per_job": "",
        "tres_per_node": "" if tres == "N/A" else tres,
        "tres_per_socket": "",
        "tres_per_task": "",
        "tres_req_str": _tres(job),
        "tres_alloc_str": _tres(job) if running else "",
        "user_id": _int(job.get("uid")),
        "user_name": _text(job.get("user")),
        "wckey": _text(job.get("wckey")),
        "current_working_directory": _text(job.get("work_dir")),
    }


def document(jobs: Iterable[Job]) -> dict[str, Any]:
    """The whole `squeue --json` reply: meta, errors, jobs."""
    return {"meta": META, "errors": [], "jobs": [job_json(job) for job in jobs]}


def dumps(doc: Mapping[str, Any]) -> str:
    """Slurm's JSON layout: two-space indentation, `/` written as `\\/`."""
    return json.dumps(doc, indent=2).replace("/", "\\/")
