"""Nodes and partitions as the scheduler sees them."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class NodeResources:
    """A node's size and what is free on it right now."""

    name: str
    cpus: int
    memory: int
    gpus: int = 0
    gpu_type: str | None = None
    free_cpus: int = 0
    free_memory: int = 0
    free_gpus: tuple[int, ...] = ()
    available: bool = True
    idle: bool = True
    features: frozenset[str] = frozenset()  # what --constraint matches (Features= in slurm.conf)


@dataclass(frozen=True, slots=True)
class Partition:
    name: str
    nodes: tuple[str, ...] = ()
    all_nodes: bool = False
    default: bool = False
    max_time: int | None = None
    default_time: int | None = None
    max_nodes: int | None = None
    state: str = "UP"
    features: tuple[str, ...] = field(default_factory=tuple)
    # Multifactor priority's partition factor is priority_job_factor / the largest one;
    # partitions of a higher priority_tier are scheduled first (PriorityJobFactor, PriorityTier).
    priority_job_factor: int = 1
    priority_tier: int = 1
    # AllowAccounts / AllowQos; None means ALL.
    allow_accounts: frozenset[str] | None = None
    allow_qos: frozenset[str] | None = None

    def contains(self, node: str) -> bool:
        return self.all_nodes or node in self.nodes
