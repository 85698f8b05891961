"""Frozen settings for the controller, read once at process entry and passed down."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from corral.model.cluster import Partition
from corral.model.hostlist import expand
from corral.model.timefmt import parse_time_limit


@dataclass(frozen=True, slots=True)
class ControllerSettings:
    data_dir: Path
    db_url: str
    socket_path: Path
    host: str = "127.0.0.1"
    port: int = 6817
    cluster_key: str = ""
    cluster_name: str = "corral"
    partitions: tuple[Partition, ...] = (Partition("main", all_nodes=True, default=True),)
    # Slurm without DefMemPerCPU gives a job the whole node; corral gives each CPU this much,
    # so that small jobs share nodes, as most sites configure it.
    def_mem_per_cpu: int = 512
    min_job_age: float = 300.0
    kill_wait: float = 30.0
    node_timeout: float = 60.0
    schedule_interval: float = 5.0
    # Slurm's default MaxArraySize is 1001; corral's tasks cost no rows until they start,
    # so it allows arrays of up to 100,000 tasks (ids 0-100000).
    max_array_size: int = 100001
    operators: frozenset[int] = field(default_factory=lambda: frozenset({0}))


def _partition(entry: dict[str, Any]) -> Partition:
    nodes = entry.get("nodes", "ALL")
    def limit(key: str) -> int | None:
        value = entry.get(key)
        return None if value is None else parse_time_limit(str(value))
    return Partition(
        name=str(entry["name"]),
        nodes=() if nodes == "ALL" else tuple(expand(str(nodes))),
        all_nodes=nodes == "ALL",
        default=bool(entry.get("default", False)),
        max_time=limit("max_time"),
        default_time=limit("default_time"),
        max_nodes=entry.get("max_nodes"),
    )


def load_cluster_config(path: Path) -> dict[str, Any]:
    """Reads cluster.toml: [[partitions]] name/nodes/default/max_time/default_time/max_nodes,
    and [controller] def_mem_per_cpu/kill_wait/min_job_age/cluster_name."""
    data = tomllib.loads(path.read_text())
    values: dict[str, Any] = dict(data.get("controller", {}))
    if data.get("partitions"):
        partitions = tuple(_partition(p) for p in data["partitions"])
        if not any(p.default for p in partitions):
            first = partitions[0]
            partitions = (Partition(first.name, first.nodes, first.all_nodes, True, first.max_time,
                                    first.default_time, first.max_nodes), *partitions[1:])
        values["partitions"] = partitions
    return values
