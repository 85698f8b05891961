"""Frozen settings for the controller, read once at process entry and passed down."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from corral.core.decisions import SchedulingPolicy
from corral.core.policies import resolve
from corral.core.priority import PriorityConfig
from corral.model.accounts import PreemptMode
from corral.model.cluster import Partition
from corral.model.hostlist import expand
from corral.model.timefmt import parse_time_limit

# The all-in-one default, as a research cluster sets slurm.conf: PriorityType=priority/
# multifactor with fair-share dominant (sharing a lab's machines fairly is why one runs a
# scheduler), age breaking ties toward the longest waiting, QOS and partition for what admins
# configure, and job size left out (0) so that neither wide nor small jobs jump the queue.
# README's "Scheduling" section documents these weights.
DEFAULT_PRIORITY = PriorityConfig(type="multifactor", weight_age=1000, weight_fairshare=10000,
                                  weight_job_size=0, weight_partition=1000, weight_qos=2000)
DEFAULT_POLICY = SchedulingPolicy(priority=DEFAULT_PRIORITY)


@dataclass(frozen=True, slots=True)
class ControllerSettings:
    data_dir: Path
    db_url: str
    socket_path: Path
    host: str = "127.0.0.1"
    port: int = 6817
    cluster_key: str = ""
    # Signs job tokens; kept apart from the cluster key, which every agent holds.
    job_token_key: str = ""
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
    # Backfill mode, priority weights, preemption: [scheduler] in cluster.toml.
    policy: SchedulingPolicy = DEFAULT_POLICY
    # AccountingStorageEnforce=associations: a job needs an association of its user and
    # account. A user who has none yet is added to the root account on their first submit
    # (auto_associate) so that a fresh all-in-one cluster needs no sacctmgr before sbatch.
    enforce_associations: bool = True
    auto_associate: bool = True
    # Features= of nodes, by node name ([[nodes]] name = "n[1-4]", features = "a100,ib").
    node_features: tuple[tuple[str, frozenset[str]], ...] = ()

    def features_of(self, node: str) -> frozenset[str]:
        found: frozenset[str] = frozenset()
        for name, features in self.node_features:
            if name == node:
                found = found | features
        return found


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
        priority_job_factor=int(entry.get("priority_job_factor", 1)),
        priority_tier=int(entry.get("priority_tier", 1)),
        allow_accounts=_names(entry.get("allow_accounts")),
        allow_qos=_names(entry.get("allow_qos")),
    )


def _names(value: Any) -> frozenset[str] | None:
    """AllowAccounts=/AllowQos=: a list or "a,b"; absent or "ALL" means everyone."""
    if value is None or value == "ALL":
        return None
    items = value.split(",") if isinstance(value, str) else value
    return frozenset(str(v).strip() for v in items if str(v).strip())


def _seconds(value: Any) -> int:
    """A duration given as seconds or in Slurm's time format ("7-0", "1:00:00")."""
    if isinstance(value, int | float):
        return int(value)
    minutes = parse_time_limit(str(value))
    if minutes is None:
        raise ValueError(f"invalid duration: {value}")
    return minutes * 60


def _policy(entry: dict[str, Any]) -> SchedulingPolicy:
    """[scheduler]: slurm.conf's SchedulerType/PriorityType/Priority*/PreemptMode in TOML."""
    known = {"backfill", "priority_type", "weight_age", "weight_fairshare", "weight_job_size",
             "weight_partition", "weight_qos", "max_age", "decay_half_life", "favor_small",
             "fairshare", "reserve_depth", "preempt_mode", "enforce_limits"}
    unknown = set(entry) - known
    if unknown:
        raise ValueError(f"unknown [scheduler] setting(s): {', '.join(sorted(unknown))}")
    # Without priority_type the default's weights apply; naming a type starts from Slurm's
    # own defaults (every weight 0), as a slurm.conf that sets PriorityType does.
    defaults = DEFAULT_PRIORITY if "priority_type" not in entry else PriorityConfig()
    priority = PriorityConfig(
        type=str(entry.get("priority_type", defaults.type)).removeprefix("priority/"),
        weight_age=int(entry.get("weight_age", defaults.weight_age)),
        weight_fairshare=int(entry.get("weight_fairshare", defaults.weight_fairshare)),
        weight_job_size=int(entry.get("weight_job_size", defaults.weight_job_size)),
        weight_partition=int(entry.get("weight_partition", defaults.weight_partition)),
        weight_qos=int(entry.get("weight_qos", defaults.weight_qos)),
        max_age=_seconds(entry.get("max_age", defaults.max_age)),
        decay_half_life=_seconds(entry.get("decay_half_life", defaults.decay_half_life)),
        favor_small=bool(entry.get("favor_small", False)),
        fairshare=str(entry.get("fairshare", defaults.fairshare)))
    if priority.type not in ("basic", "multifactor"):
        raise ValueError(f"priority_type must be basic or multifactor, not {priority.type}")
    return SchedulingPolicy(
        # A queue policy's name, or Slurm's SchedulerType for one (core.policies).
        backfill=resolve(str(entry.get("backfill", "easy"))),
        priority=priority, reserve_depth=int(entry.get("reserve_depth", 500)),
        preempt_mode=PreemptMode(str(entry.get("preempt_mode", "CANCEL")).upper()),
        enforce_limits=bool(entry.get("enforce_limits", True)))


def load_cluster_config(path: Path) -> dict[str, Any]:
    """Reads cluster.toml: [[partitions]] name/nodes/default/max_time/default_time/max_nodes/
    priority_job_factor/priority_tier/allow_accounts/allow_qos, [controller]
    def_mem_per_cpu/kill_wait/min_job_age/cluster_name/enforce_associations/auto_associate,
    [scheduler] (see _policy) and [[nodes]] name/features."""
    data = tomllib.loads(path.read_text())
    values: dict[str, Any] = dict(data.get("controller", {}))
    if data.get("partitions"):
        partitions = tuple(_partition(p) for p in data["partitions"])
        if not any(p.default for p in partitions):
            partitions = (replace(partitions[0], default=True), *partitions[1:])
        values["partitions"] = partitions
    if "scheduler" in data:
        values["policy"] = _policy(dict(data["scheduler"]))
    if data.get("nodes"):
        values["node_features"] = tuple(
            (name, frozenset(f.strip() for f in str(entry.get("features", "")).split(",") if f.strip()))
            for entry in data["nodes"] for name in expand(str(entry["name"])))
    return values
