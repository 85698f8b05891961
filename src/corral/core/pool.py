"""Free resources of every node, indexed so a placement does not scan the whole cluster.

Nodes of the same shape (CPUs, memory, GPUs and their type, features, partitions) form a
class. Within a class, available nodes sit in buckets keyed by what is free on them
(free GPUs, free CPUs, free memory), and the keys are kept sorted: a request finds its
best-fit nodes by bisecting to the smallest key that fits and walking up. Placement is
best-fit — the fewest GPUs left over, then the fewest CPUs, then memory — so CPU-only jobs
stay off GPU nodes while CPU nodes have room, and large holes stay open for large jobs.

The pool is mutable; only its own methods change it. A scheduling pass owns one.
"""

from __future__ import annotations

import math
from bisect import bisect_left, insort
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass

from corral.core.features import Constraint
from corral.core.selection import PerNode
from corral.model.cluster import NodeResources, Partition
from corral.model.job import NodeAllocation

INF = math.inf
Sig = tuple[int, int, int]  # (free GPUs, free CPUs, free memory)


@dataclass(frozen=True, slots=True)
class NodeClass:
    id: int
    cpus: int
    memory: int
    gpus: int
    gpu_type: str | None
    features: frozenset[str]
    partitions: frozenset[str]
    members: tuple[int, ...]

    def can_hold(self, need: PerNode) -> bool:
        """Would one empty node of this class hold the request?"""
        return (self.cpus >= need.cpus and self.memory >= need.memory and self.gpus >= need.gpus
                and (need.gpus == 0 or need.gpu_type is None or need.gpu_type == self.gpu_type))

    @property
    def full(self) -> Sig:
        return (self.gpus, self.cpus, self.memory)


class NodePool:
    def __init__(self, nodes: Mapping[str, NodeResources],
                 partitions: Mapping[str, Partition]) -> None:
        self.names: list[str] = list(nodes)
        self.index: dict[str, int] = {name: i for i, name in enumerate(self.names)}
        self.available: list[bool] = [n.available for n in nodes.values()]
        self.free_cpus: list[int] = []
        self.free_mem: list[int] = []
        self.free_gpus: list[tuple[int, ...]] = []
        self.cls: list[int] = []
        # (cpus, memory, gpus, gpu_type, features, partitions) → the nodes alike in all six.
        members: dict[tuple[int, int, int, str | None, frozenset[str], frozenset[str]],
                      list[int]] = {}
        all_nodes = [p.name for p in partitions.values() if p.all_nodes]
        listed: dict[str, list[str]] = {}
        for p in partitions.values():
            for name in p.nodes:
                listed.setdefault(name, []).append(p.name)
        # Built once per pass (the simulator: once per instant), so the loop is kept lean:
        # most nodes share their partition set, and appends are bound methods.
        everywhere = frozenset(all_nodes)
        part_sets: dict[tuple[str, ...], frozenset[str]] = {}
        add_cpus, add_mem, add_gpus = (self.free_cpus.append, self.free_mem.append,
                                       self.free_gpus.append)
        for i, node in enumerate(nodes.values()):
            extra = listed.get(node.name)
            if extra is None:
                parts = everywhere
            else:
                found = part_sets.get(tuple(extra))
                if found is None:
                    found = part_sets[tuple(extra)] = frozenset(all_nodes + extra)
                parts = found
            key = (node.cpus, node.memory, node.gpus, node.gpu_type, node.features, parts)
            group = members.get(key)
            if group is None:
                members[key] = [i]
            else:
                group.append(i)
            cpus, mem = node.free_cpus, node.free_memory
            add_cpus(cpus if cpus < node.cpus else node.cpus)
            add_mem(mem if mem < node.memory else node.memory)
            add_gpus(tuple(node.free_gpus))
        self.classes: list[NodeClass] = []
        self.cls = [0] * len(self.names)
        for cid, (key, idxs) in enumerate(members.items()):
            cpus, memory, gpus, gpu_type, features, parts = key
            self.classes.append(NodeClass(cid, cpus, memory, gpus, gpu_type,
                                          features, parts, tuple(idxs)))
            for i in idxs:
                self.cls[i] = cid
        self.up = [sum(1 for i in c.members if self.available[i]) for c in self.classes]
        self._buckets: list[dict[Sig, dict[int, None]]] = [{} for _ in self.classes]
        buckets, cls, available = self._buckets, self.cls, self.available
        free_cpus, free_mem, free_gpus = self.free_cpus, self.free_mem, self.free_gpus
        for i in range(len(self.names)):
            if available[i]:
                sig = (len(free_gpus[i]), free_cpus[i], free_mem[i])
                by_sig = buckets[cls[i]]
                bucket = by_sig.get(sig)
                if bucket is None:
                    by_sig[sig] = {i: None}
                else:
                    bucket[i] = None
        self._sigs: list[list[Sig]] = [sorted(by_sig) for by_sig in buckets]
        self._compat: dict[tuple[object, ...], tuple[tuple[int, ...], ...]] = {}
        self.version = 0  # moves on every take and give: lets callers cache what they read

    # -- bookkeeping ------------------------------------------------------------------------

    def sig(self, i: int) -> Sig:
        return (len(self.free_gpus[i]), self.free_cpus[i], self.free_mem[i])

    def _add(self, i: int) -> None:
        cid = self.cls[i]
        sig = self.sig(i)
        bucket = self._buckets[cid].get(sig)
        if bucket is None:
            bucket = self._buckets[cid][sig] = {}
            insort(self._sigs[cid], sig)
        bucket[i] = None

    def _remove(self, i: int) -> None:
        cid = self.cls[i]
        sig = self.sig(i)
        bucket = self._buckets[cid][sig]
        del bucket[i]
        if not bucket:
            del self._buckets[cid][sig]
            sigs = self._sigs[cid]
            del sigs[bisect_left(sigs, sig)]

    def take(self, i: int, need: PerNode) -> NodeAllocation:
        """Allocate the request on node i and return what it got."""
        self.version += 1
        node = self.classes[self.cls[i]]
        if self.available[i]:
            self._remove(i)
        if need.exclusive:
            alloc = NodeAllocation(node.cpus, node.memory, self.free_gpus[i])
            self.free_cpus[i], self.free_mem[i], self.free_gpus[i] = 0, 0, ()
        else:
            gpus = self.free_gpus[i]
            alloc = NodeAllocation(need.cpus, need.memory, gpus[:need.gpus])
            self.free_cpus[i] -= need.cpus
            self.free_mem[i] -= need.memory
            self.free_gpus[i] = gpus[need.gpus:]
        if self.available[i]:
            self._add(i)
        return alloc

    def give(self, i: int, alloc: NodeAllocation) -> None:
        """Return what a job held on node i."""
        self.version += 1
        node = self.classes[self.cls[i]]
        if self.available[i]:
            self._remove(i)
        self.free_cpus[i] = min(node.cpus, self.free_cpus[i] + alloc.cpus)
        self.free_mem[i] = min(node.memory, self.free_mem[i] + alloc.memory)
        self.free_gpus[i] = tuple(sorted(set(self.free_gpus[i]) | set(alloc.gpu_indices)))
        if self.available[i]:
            self._add(i)

    def resources(self, i: int) -> NodeResources:
        """The node as the rest of corral sees it."""
        c = self.classes[self.cls[i]]
        return NodeResources(self.names[i], c.cpus, c.memory, c.gpus, c.gpu_type,
                             self.free_cpus[i], self.free_mem[i], self.free_gpus[i],
                             self.available[i], self.sig(i) == c.full, c.features)

    # -- questions --------------------------------------------------------------------------

    def compatible(self, partition: str, need: PerNode,
                   constraint: Constraint | None) -> tuple[tuple[int, ...], ...]:
        """Class ids that could ever hold the request, one tuple per constraint alternative."""
        key = (partition, need, constraint.text if constraint else None)
        found = self._compat.get(key)
        if found is None:
            alternatives = constraint.alternatives if constraint else (None,)
            found = tuple(
                tuple(c.id for c in self.classes
                      if partition in c.partitions and c.can_hold(need)
                      and (alt is None or alt(c.features)))
                for alt in alternatives)
            self._compat[key] = found
        return found

    def fits(self, i: int, need: PerNode) -> bool:
        if not self.available[i]:
            return False
        if need.exclusive:
            return self.sig(i) == self.classes[self.cls[i]].full
        return (self.free_cpus[i] >= need.cpus and self.free_mem[i] >= need.memory
                and len(self.free_gpus[i]) >= need.gpus)

    def find(self, classes: Iterable[int], need: PerNode, count: int,
             excluded: Collection[int] = (), required: Sequence[int] = (),
             blocked: Mapping[int, float] | None = None, end: float = INF) -> list[int] | None:
        """`count` nodes that all fit now (gang: all or None), best-fit first.

        `blocked` maps a node to the earliest start of a reservation on it: such a node may
        only be used by a job that ends (`end`) by then; a job without a limit may never.
        """
        chosen = list(required)
        for i in required:
            if not self.fits(i, need) or (blocked and i in blocked
                                          and (end > blocked[i] or end == INF)):
                return None
        wanted = max(count, len(chosen)) - len(chosen)
        if wanted == 0:
            return chosen
        skip = set(excluded) | set(required) if (excluded or required) else None
        g, c, m = need.gpus, need.cpus, need.memory
        found: list[tuple[int, int, int, int]] = []
        for cid in classes:
            taken = 0
            buckets = self._buckets[cid]
            if need.exclusive:
                full = self.classes[cid].full
                keys: Iterable[Sig] = (full,) if full in buckets else ()
            else:
                sigs = self._sigs[cid]
                keys = (sigs[k] for k in range(bisect_left(sigs, (g, c, m)), len(sigs)))
            for sig in keys:
                if sig[1] < c or sig[2] < m:
                    continue
                for i in buckets[sig]:
                    if skip is not None and i in skip:
                        continue
                    if blocked and i in blocked and (end > blocked[i] or end == INF):
                        continue
                    found.append((sig[0] - g, sig[1], sig[2], i))
                    taken += 1
                    if taken == wanted:
                        break
                if taken == wanted:
                    break
        if len(found) < wanted:
            return None
        if len(found) > wanted:
            found.sort()
        chosen.extend(f[3] for f in found[:wanted])
        return chosen

    def fitting(self, classes: Iterable[int], need: PerNode, limit: int) -> list[int]:
        """Up to `limit` available nodes of these classes that fit the request now."""
        return self._collect(classes, need, limit)

    def _collect(self, classes: Iterable[int], need: PerNode, limit: int) -> list[int]:
        out: list[int] = []
        for cid in classes:
            buckets = self._buckets[cid]
            for sig in self._sigs[cid]:
                if sig[0] < need.gpus or sig[1] < need.cpus or sig[2] < need.memory:
                    continue
                if need.exclusive and sig != self.classes[cid].full:
                    continue
                out.extend(buckets[sig])
                if len(out) >= limit:
                    return out[:limit]
        return out

    def capacity(self, classes: Iterable[int]) -> int:
        """How many available nodes these classes have."""
        return sum(self.up[cid] for cid in classes)

    def shape(self) -> tuple[tuple[object, ...], ...]:
        """The classes as values, and the nodes by name: two pools with the same shape number
        their classes and their nodes alike (what callers cache by index stays true)."""
        return (tuple(self.names),
                *((c.cpus, c.memory, c.gpus, c.gpu_type, c.features, c.partitions, c.members)
                  for c in self.classes))
