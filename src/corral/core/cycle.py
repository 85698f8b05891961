"""One scheduling pass: priority order, gang placement, EASY backfill — decisions as data.

The controller and (later) the simulator call `run_cycle` with a snapshot and `now`; it does
no I/O and reads no clock. Backfill follows EASY (Mu'alem & Feitelson, 2001): the first job
of each partition that cannot start gets a reservation at its shadow time, found by releasing
running jobs in order of their expected end; a lower-priority job may start now only if it
does not touch the reserved nodes or ends before the shadow time.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from corral.core.selection import (
    PerNode,
    candidate_nodes,
    give_back,
    node_can_ever_hold,
    per_node_request,
    place,
    take,
)
from corral.model.cluster import NodeResources, Partition
from corral.model.job import Job, NodeAllocation
from corral.model.states import JobState, Reason

# Slurm's priority/basic: the first job gets 0xFFFEFFFF - 1 and each later one a point less.
BASE_PRIORITY = 4294901759


def priority_of(job: Job) -> int:
    return max(1, BASE_PRIORITY - job.job_id - job.nice)


@dataclass(frozen=True, slots=True)
class Start:
    job_id: int
    allocation: Mapping[str, NodeAllocation]
    backfilled: bool = False


@dataclass(frozen=True, slots=True)
class Reservation:
    job_id: int
    start: float
    nodes: frozenset[str]


@dataclass(frozen=True, slots=True)
class CycleStats:
    pending_seen: int = 0
    started: int = 0
    backfilled: int = 0


@dataclass(frozen=True, slots=True)
class CycleResult:
    starts: tuple[Start, ...]
    reasons: Mapping[int, Reason]
    estimates: Mapping[int, float]
    stats: CycleStats = field(default_factory=CycleStats)


def _blocking_reason(job: Job, partition: Partition | None, need: PerNode,
                     nodes: Mapping[str, NodeResources]) -> Reason | None:
    """A reason that no amount of waiting for running jobs will clear."""
    if partition is None:
        return Reason.PARTITION_CONFIG
    if job.held:
        return Reason.HELD_USER
    if partition.max_time is not None and (job.time_limit is None
                                           or job.time_limit > partition.max_time):
        return Reason.PARTITION_TIME_LIMIT
    if partition.max_nodes is not None and job.spec.num_nodes > partition.max_nodes:
        return Reason.PARTITION_NODE_LIMIT
    members = candidate_nodes(job, partition, nodes)
    capable = [n for n in members if node_can_ever_hold(n, need)]
    if len(capable) < job.spec.num_nodes:
        if len(members) < job.spec.num_nodes:
            return Reason.PARTITION_NODE_LIMIT
        return Reason.PARTITION_CONFIG
    if any(name not in nodes or not nodes[name].available for name in job.spec.req_nodes):
        return Reason.REQ_NODE_NOT_AVAIL
    if len([n for n in capable if n.available]) < job.spec.num_nodes:
        return Reason.REQ_NODE_NOT_AVAIL if job.spec.req_nodes else Reason.RESOURCES
    return None


def _shadow(job: Job, need: PerNode, partition: Partition, nodes: Mapping[str, NodeResources],
            running: Sequence[Job], now: float) -> Reservation:
    """When and where the job could start if running jobs end at their limits."""
    future = dict(nodes)
    for ending in sorted(running, key=lambda r: r.expected_end()):
        end = ending.expected_end()
        if math.isinf(end):
            break
        for node_name, alloc in ending.allocation.items():
            if node_name in future:
                future[node_name] = give_back(future[node_name], alloc)
        chosen = place(job, need, candidate_nodes(job, partition, future))
        if chosen is not None:
            return Reservation(job.job_id, max(end, now), frozenset(n.name for n in chosen))
    # No finite end frees enough: the job's start is unknown, so it keeps every node it could
    # use, and only jobs that are sure to end (a finite limit) may run there meanwhile.
    capable = {n.name for n in candidate_nodes(job, partition, nodes) if node_can_ever_hold(n, need)}
    return Reservation(job.job_id, math.inf, frozenset(capable))


def run_cycle(pending: Sequence[Job], running: Sequence[Job], nodes: Mapping[str, NodeResources],
              partitions: Mapping[str, Partition], now: float) -> CycleResult:
    """Decide which pending jobs start now, where, and why the others wait."""
    free = dict(nodes)
    starts: list[Start] = []
    reasons: dict[int, Reason] = {}
    estimates: dict[int, float] = {}
    reservations: dict[str, Reservation] = {}
    blocked_partitions: set[str] = set()
    order = sorted((j for j in pending if j.state is JobState.PENDING),
                   key=lambda j: (-priority_of(j), j.submit_time, j.job_id))
    backfilled = 0
    for job in order:
        partition = partitions.get(job.partition)
        need = per_node_request(job.spec, job.mem_per_node)
        blocked = _blocking_reason(job, partition, need, free)
        if blocked is not None or partition is None:
            reasons[job.job_id] = blocked or Reason.PARTITION_CONFIG
            continue
        chosen = place(job, need, candidate_nodes(job, partition, free))
        limit_end = now + job.time_limit * 60 if job.time_limit is not None else math.inf
        if chosen is not None and not _delays_reservation(chosen, limit_end, reservations.values()):
            allocation: dict[str, NodeAllocation] = {}
            for node in chosen:
                alloc, rest = take(node, need)
                allocation[node.name] = alloc
                free[node.name] = rest
            was_backfill = job.partition in blocked_partitions
            backfilled += was_backfill
            starts.append(Start(job.job_id, allocation, was_backfill))
            continue
        if job.partition not in blocked_partitions:
            blocked_partitions.add(job.partition)
            reservation = _shadow(job, need, partition, free, running, now)
            reservations[job.partition] = reservation
            reasons[job.job_id] = Reason.RESOURCES
            if not math.isinf(reservation.start):
                estimates[job.job_id] = reservation.start
        else:
            reasons[job.job_id] = Reason.PRIORITY
    stats = CycleStats(pending_seen=len(order), started=len(starts), backfilled=backfilled)
    return CycleResult(tuple(starts), reasons, estimates, stats)


def _delays_reservation(chosen: Sequence[NodeResources], end: float,
                        reservations: Iterable[Reservation]) -> bool:
    for reservation in reservations:
        touches = any(n.name in reservation.nodes for n in chosen)
        if touches and (math.isinf(end) or end > reservation.start):
            return True
    return False
