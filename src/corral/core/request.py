"""What one pending job asks of the cluster, worked out once and reused while the job is unchanged.

A Request holds the per-node need (the largest share, and the shares node by node when
they differ: `-n 3` on 2-CPU nodes holds 2 CPUs on one and 1 on the other), the node classes that could ever hold it (one tuple per
--constraint alternative), the nodes it must or must not use, its time limit in seconds,
and — when waiting will never help — the reason. Two jobs with the same `key` ask for the
same thing, so a pass that failed to place one skips the other (Slurm's "same request"
test).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from corral.core.features import BadConstraint, parse_constraint
from corral.core.limits import Effective, LimitState, job_tres
from corral.core.pool import NodePool
from corral.core.selection import PerNode, per_node_request, shares
from corral.model.cluster import Partition
from corral.model.job import Job
from corral.model.states import Reason

INF = math.inf


@dataclass(slots=True)
class Request:
    job: Job
    need: PerNode
    count: int
    classes: tuple[tuple[int, ...], ...]
    flat: tuple[int, ...]
    key: tuple[object, ...]
    required: tuple[int, ...]
    excluded: frozenset[int]
    duration: float
    static: tuple[Reason, str] | None
    eff: Effective | None
    tres: Mapping[str, int]
    prio_key: tuple[object, ...]  # what the non-age priority terms depend on
    kid: int = -1  # `key` as a small number, given by the scheduler that interns keys
    plain: bool = False  # not held, no --begin, no static reason: the pass skips those checks
    # What each node holds when the shares differ (selection.shares), largest first; None
    # when every node holds `need`.
    uneven: tuple[tuple[PerNode, int], ...] | None = None

    def with_job(self, job: Job) -> Request:
        """The same request for another job of the same spec (array tasks); much cheaper than
        copy.copy, which goes through __reduce_ex__ for slotted classes."""
        return Request(job, self.need, self.count, self.classes, self.flat, self.key,
                       self.required, self.excluded, self.duration, self.static, self.eff,
                       self.tres, self.prio_key, self.kid, self.plain, self.uneven)


Shape = tuple[tuple[tuple[int, ...], ...], tuple[int, ...], "tuple[Reason, str] | None"]


def build(job: Job, partitions: Mapping[str, Partition], pool: NodePool,
          limits: LimitState | None, shapes: dict[tuple[object, ...], Shape] | None = None,
          ) -> Request:
    """The job's Request; `shapes` remembers the node classes per distinct request."""
    spec = job.spec
    need = per_node_request(spec, job.mem_per_node)
    count = max(spec.num_nodes, len(spec.req_nodes))
    uneven = shares(spec, job.mem_per_node) if count > 1 else None
    duration = job.time_limit * 60.0 if job.time_limit is not None else INF
    partition = partitions.get(job.partition)
    index = pool.index
    required = tuple(index[n] for n in spec.req_nodes if n in index) if spec.req_nodes else ()
    excluded = (frozenset(index[n] for n in spec.exc_nodes if n in index) if spec.exc_nodes
                else frozenset())
    key = (job.partition, need.cpus, need.memory, need.gpus, need.gpu_type, need.exclusive,
           count, spec.constraint, spec.req_nodes, spec.exc_nodes, uneven)
    tres = job_tres(job)
    eff = limits.resolve(job) if limits is not None else None
    classes: tuple[tuple[int, ...], ...] = ()
    flat: tuple[int, ...] = ()
    static = _config_reason(job, partition, limits, eff)
    if static is None and partition is not None:
        shape = shapes.get(key) if shapes is not None else None
        if shape is None:
            shape = _shape(job, partition, pool, need, count)
            if shapes is not None:
                shapes[key] = shape
        classes, flat, static = shape
    prio_key = (eff.assoc.key if eff else None, eff.qos.name if eff else None, job.partition,
                spec.num_nodes, tres["cpu"], job.nice)
    plain = not job.held and spec.begin_time is None and static is None
    return Request(job, need, count, classes, flat, key, required, excluded, duration, static,
                   eff, tres, prio_key, -1, plain, uneven)


def _shape(job: Job, partition: Partition, pool: NodePool, need: PerNode, count: int) -> Shape:
    spec = job.spec
    try:
        constraint = parse_constraint(spec.constraint) if spec.constraint else None
    except BadConstraint as exc:
        return (), (), (Reason.BAD_CONSTRAINTS, f"--constraint={spec.constraint}: {exc}")
    classes = pool.compatible(partition.name, need, constraint)
    flat = tuple(sorted({c for alt in classes for c in alt}))
    return classes, flat, _never_fits(job, partition, pool, classes, count, need, spec.req_nodes)


def _config_reason(job: Job, partition: Partition | None, limits: LimitState | None,
                   eff: Effective | None) -> tuple[Reason, str] | None:
    if partition is None:
        return Reason.PARTITION_CONFIG, f"partition {job.partition} does not exist"
    if partition.state == "DOWN":
        return Reason.PARTITION_DOWN, f"partition {partition.name} is down"
    if partition.state == "INACTIVE":
        return Reason.PARTITION_INACTIVE, f"partition {partition.name} is inactive"
    if partition.max_time is not None and (job.time_limit is None
                                           or job.time_limit > partition.max_time):
        return (Reason.PARTITION_TIME_LIMIT,
                f"the time limit is over partition {partition.name}'s MaxTime of "
                f"{partition.max_time} minutes")
    if partition.max_nodes is not None and job.spec.num_nodes > partition.max_nodes:
        return (Reason.PARTITION_NODE_LIMIT,
                f"partition {partition.name} allows at most {partition.max_nodes} nodes per job")
    if limits is not None and eff is None:
        spec = job.spec
        assoc = limits.tree.association(spec.user, spec.account)
        if assoc is None:
            return (Reason.INVALID_ACCOUNT,
                    f"user {spec.user} has no association with account {spec.account or '(default)'}")
        return Reason.INVALID_QOS, f"QOS {spec.qos} is not allowed for {spec.user} in {assoc.account}"
    account = eff.assoc.account if eff is not None else job.spec.account
    if partition.allow_accounts is not None and account not in partition.allow_accounts:
        return (Reason.ACCOUNT_NOT_ALLOWED,
                f"partition {partition.name} does not allow account {account}")
    qos = eff.qos.name if eff is not None else job.spec.qos
    if partition.allow_qos is not None and qos not in partition.allow_qos:
        return Reason.QOS_NOT_ALLOWED, f"partition {partition.name} does not allow QOS {qos}"
    return None


def _never_fits(job: Job, partition: Partition, pool: NodePool,
                classes: tuple[tuple[int, ...], ...], count: int, need: PerNode,
                req_nodes: tuple[str, ...]) -> tuple[Reason, str] | None:
    members = sum(len(c.members) for c in pool.classes if partition.name in c.partitions)
    capable = max((sum(len(pool.classes[k].members) for k in alt) for alt in classes), default=0)
    if capable < count:
        if members < count:
            return (Reason.PARTITION_NODE_LIMIT,
                    f"partition {partition.name} has {members} nodes and the job asks for {count}")
        return (Reason.PARTITION_CONFIG,
                f"only {capable} nodes of partition {partition.name} could ever hold the request")
    flat = {k for alt in classes for k in alt}
    for name in req_nodes:
        i = pool.index.get(name)
        if i is None or pool.cls[i] not in flat:
            return (Reason.PARTITION_CONFIG,
                    f"node {name} (--nodelist) cannot hold the job in partition {partition.name}")
    return None


def unavailable(req: Request, pool: NodePool) -> tuple[Reason, str] | None:
    """Nodes the job needs are down or drained (changes without any job ending)."""
    for i in req.required:
        if not pool.available[i]:
            return (Reason.REQ_NODE_NOT_AVAIL,
                    f"node {pool.names[i]} (--nodelist) is not available")
    best = max((sum(pool.up[k] for k in alt)
                - sum(1 for i in req.excluded if pool.available[i] and pool.cls[i] in alt)
                for alt in req.classes), default=0)
    if best < req.count:
        reason = Reason.REQ_NODE_NOT_AVAIL if req.required else Reason.RESOURCES
        return reason, f"only {best} of the nodes that could hold it are up"
    return None
