"""What a job asks of each node: per-node requests, uneven shares, spreading over nodes, and
why no node can ever hold it. Placement itself is core.pool's (best-fit, gang all or none)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace

from corral.core.features import BadConstraint, parse_constraint
from corral.model.cluster import NodeResources, Partition
from corral.model.job import Job, JobSpec


@dataclass(frozen=True, slots=True)
class PerNode:
    """What one node of the job needs."""

    cpus: int
    memory: int
    gpus: int
    gpu_type: str | None
    exclusive: bool


_TRAILING_DIGITS = re.compile(r"^(.*?)([0-9]+)$", re.DOTALL)


def hostlist_key(name: str) -> tuple[str, int, str]:
    """Where a node stands in a hostlist (node2 before node10): the order NodeList is written
    in, so the first node of an allocation is the first `scontrol show hostnames` prints."""
    match = _TRAILING_DIGITS.match(name)
    return (match.group(1), int(match.group(2)), name) if match else (name, 0, name)


def spread(spec: JobSpec, members: Sequence[NodeResources]) -> JobSpec:
    """The spec with as many nodes as its tasks and GPUs need when -N did not fix the count,
    as Slurm spreads `-n 64` over 32-CPU nodes and `--gpus=3` over 2-GPU nodes: the fewest
    nodes of the partition's largest that hold the tasks' CPUs and the job's GPUs, never more
    than one node a task (GPUs aside) nor more than -N's maximum."""
    if not members:
        return spec
    needed = spec.num_nodes
    ceiling = spec.num_nodes
    if not spec.ntasks_per_node and spec.num_tasks > spec.num_nodes:
        largest = max(n.cpus for n in members)
        tasks_a_node = max(1, largest // spec.cpus_per_task)
        needed = max(needed, -(-spec.num_tasks // tasks_a_node))
        ceiling = max(ceiling, spec.num_tasks)
    if spec.gpus and spec.gpus > spec.num_nodes:
        most = max((n.gpus for n in members
                    if spec.gpu_type is None or n.gpu_type == spec.gpu_type), default=0)
        if most:
            needed = max(needed, -(-spec.gpus // most))
            ceiling = max(ceiling, spec.gpus)
    if needed == spec.num_nodes:
        return spec
    ceiling = min(ceiling, spec.max_nodes or ceiling, len(members))
    nodes = min(needed, max(ceiling, spec.num_nodes))
    return spec if nodes == spec.num_nodes else replace(spec, num_nodes=nodes)


def node_gpus(spec: JobSpec) -> int:
    """The most GPUs one node of the job holds: --gpus-per-node, or the first node's block of
    a --gpus total (`--gpus=3` on 2 nodes: 2, then 1)."""
    if spec.gpus:
        return max(spec.gpus_per_node, -(-spec.gpus // max(1, spec.num_nodes)))
    return spec.gpus_per_node


def shares(spec: JobSpec, mem_per_node: int) -> tuple[tuple[PerNode, int], ...] | None:
    """What each node of the job holds when the nodes' shares differ, largest first, as runs
    of (share, how many nodes); None when every node holds the same (the common case).

    Tasks are laid out as Slurm's block distribution lays them: one a node, then each node
    filled up to the largest share in turn (`-n 3` on 2 nodes: 2 CPUs, then 1); a --gpus
    total likewise (`--gpus=3` on 2 nodes: 2, then 1). Memory given per CPU follows the CPUs;
    --mem is per node. Every share is at most the first in each resource, so a node that
    holds the first holds any (placement may take the largest first, greedily).
    """
    nodes = spec.num_nodes
    if nodes <= 1 or spec.exclusive or spec.req_nodes:
        return None
    if ((spec.ntasks_per_node or spec.num_tasks <= nodes or spec.num_tasks % nodes == 0)
            and (not spec.gpus or spec.gpus_per_node or spec.gpus % nodes == 0)):
        return None  # even: the common case, answered before any list is built
    first = spec.cpus_per_node()
    tasks = [1] * nodes
    if not spec.ntasks_per_node and spec.num_tasks > nodes:
        cap = first // spec.cpus_per_task
        left = spec.num_tasks - nodes
        for i in range(nodes):
            extra = min(left, cap - 1)
            tasks[i] += extra
            left -= extra
            if not left:
                break
    else:
        tasks = [first // spec.cpus_per_task] * nodes
    top = node_gpus(spec)
    gpus = [top] * nodes
    if spec.gpus and not spec.gpus_per_node:
        left = spec.gpus
        for i in range(nodes):
            gpus[i] = min(left, top)
            left -= gpus[i]
    if tasks[-1] * spec.cpus_per_task == first and gpus[-1] == top:
        return None
    per_cpu = spec.mem_per_node is None
    out: list[tuple[PerNode, int]] = []
    for t, g in zip(tasks, gpus, strict=True):
        cpus = t * spec.cpus_per_task
        need = PerNode(cpus, mem_per_node * cpus // first if per_cpu else mem_per_node, g,
                       spec.gpu_type, False)
        if out and out[-1][0] == need:
            out[-1] = (need, out[-1][1] + 1)
        else:
            out.append((need, 1))
    return tuple(out)


def each_node(runs: tuple[tuple[PerNode, int], ...]) -> list[PerNode]:
    """The shares node by node, largest first."""
    return [need for need, n in runs for _ in range(n)]


def per_node_request(spec: JobSpec, mem_per_node: int) -> PerNode:
    """The largest share a node of the job holds (every node's, unless `shares` says otherwise)."""
    return PerNode(spec.cpus_per_node(), mem_per_node, node_gpus(spec), spec.gpu_type,
                   spec.exclusive)


def node_can_ever_hold(node: NodeResources, need: PerNode) -> bool:
    """Would the job fit on this node if it were empty?"""
    return (node.cpus >= need.cpus and node.memory >= need.memory and node.gpus >= need.gpus
            and (need.gpu_type is None or need.gpu_type == node.gpu_type or need.gpus == 0))


def never_fits_reason(job: Job, need: PerNode, partition: Partition,
                      nodes: Sequence[NodeResources]) -> str | None:
    """Why no node of the partition can ever hold the job (None when some can), in sbatch's words."""
    members = [n for n in nodes if partition.contains(n.name)]
    if not members:
        return None
    if job.spec.num_nodes > len(members) and not partition.all_nodes:
        return "Node count specification invalid"
    if not any(n.cpus >= need.cpus for n in members):
        return "CPU count per node can not be satisfied"
    if not any(n.memory >= need.memory for n in members):
        return "Memory specification can not be satisfied"
    if need.gpus and not any(n.gpus >= need.gpus and (need.gpu_type in (None, n.gpu_type))
                             for n in members):
        return "Invalid generic resource (gres) specification"
    for name in job.spec.req_nodes:
        if not partition.contains(name):
            return f"Requested node {name} is not in partition {partition.name}"
    if job.spec.constraint:
        try:
            constraint = parse_constraint(job.spec.constraint)
        except BadConstraint:
            return "Invalid feature specification"
        if not any(constraint.allows(n.features) and node_can_ever_hold(n, need) for n in members):
            return "Invalid feature specification"
    return None
