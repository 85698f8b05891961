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

    def contains(self, node: str) -> bool:
        return self.all_nodes or node in self.nodes
