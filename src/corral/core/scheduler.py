"""The scheduling pass: priority order, limits, gang placement, backfill, preemption, estimates.

`Scheduler.full_pass` takes a snapshot (pending and running jobs, nodes, `now`) and decides:
which jobs start and on which nodes, which running jobs to preempt for whom, the reason
every other pending job waits, and an estimated start for each of them. It does no I/O
and reads no clock. A kept Scheduler reuses what it worked out per job from one pass to
the next (requests, shapes); only its own methods change that state.

Jobs are taken in priority order (partition PriorityTier, priority, submit time, job id).
Each either starts now — on nodes that fit it whole (gang), best-fit, not inside a
reservation it would outlast — or waits. With EASY backfill the first waiting job of each
partition reserves the nodes it will start on (core.backfill); with conservative backfill
every waiting job does, up to `reserve_depth`; with fifo a partition starts nothing behind
its first waiting job. A job whose QOS may preempt others and that does not fit preempts
the fewest lower-QOS jobs that make room (core.preempt). Estimates for all the waiting
jobs come last, from core.plan, with reserved jobs at their reserved start.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from corral.core.backfill import Blocks, Held, Timeline
from corral.core.decisions import (
    DEFAULT_CONTEXT,
    CycleResult,
    SchedulingContext,
)
from corral.core.fullpass import FullPass
from corral.core.limits import LimitState
from corral.core.limits import count as count_limits
from corral.core.plan import Planner
from corral.core.pool import NodePool
from corral.core.priority import MAX_PRIORITY, MULTIFACTOR, PriorityCalculator, basic_priority
from corral.core.request import Request, Shape, build
from corral.model.accounts import Qos
from corral.model.cluster import NodeResources, Partition
from corral.model.job import Job
from corral.model.states import JobState

PENDING = JobState.PENDING
# Submit times (ms) are shifted to stay positive in the sort key, down to 1970 minus 200 years.
_SUBMIT_OFFSET = 200 * 365 * 86400 * 1000


class Scheduler:
    """The scheduling core with its state between passes; only its own methods change it."""

    def __init__(self, partitions: Mapping[str, Partition],
                 context: SchedulingContext = DEFAULT_CONTEXT) -> None:
        self.partitions = dict(partitions)
        self.context = context
        self.policy = context.policy
        self._requests: dict[int, Request] = {}
        self._shape: object = None
        self._held: dict[int, tuple[Job, tuple[float, tuple[Held, ...]], tuple[float, int], int]] = {}
        self._kids: dict[tuple[object, ...], int] = {}
        self._shapes: dict[tuple[object, ...], Shape] = {}
        self._like: dict[tuple[object, ...], Request] = {}
        self.pool: NodePool | None = None
        self.timeline = Timeline()
        self.blocks = Blocks()
        self.limits: LimitState | None = None
        self.running: dict[int, Job] = {}
        self.planner: Planner | None = None
        self.calc: PriorityCalculator | None = None
        self._terms: dict[tuple[object, ...], tuple[float, float, float, float]] = {}
        # The priorities and sort keys of the last pass's pending jobs.
        self.priorities: dict[int, int] = {}
        self.keys: dict[int, int] = {}
        self.qos_seen: dict[tuple[str, str | None, str | None], Qos | None] = {}

    def set_context(self, context: SchedulingContext) -> None:
        """New usage or held-back jobs for the next pass; per-job facts worked out so far are
        kept unless the account tree or the policy changed."""
        if context.accounts is not self.context.accounts or context.policy != self.policy:
            self._requests.clear()
            self._like.clear()
            self._kids.clear()
            self._shapes.clear()
            self.qos_seen.clear()
        self.context = context
        self.policy = context.policy

    # -- per-job facts ----------------------------------------------------------------------

    def _request(self, job: Job, pool: NodePool) -> Request:
        req = self._requests.get(job.job_id)
        if req is not None and req.job is job:
            return req
        # Tasks of an array share their JobSpec: the first task's Request serves them all.
        like = (id(job.spec), job.partition, job.mem_per_node, job.time_limit, job.held,
                job.nice)
        template = self._like.get(like)
        if template is not None and template.job.spec is job.spec:
            req = template.with_job(job)
        else:
            req = build(job, self.partitions, pool, self.limits, self._shapes)
            kid = self._kids.get(req.key)
            if kid is None:
                kid = self._kids[req.key] = len(self._kids)
            req.kid = kid
            self._like[like] = req
        self._requests[job.job_id] = req
        return req

    def _limits(self, pending: Sequence[Job], running: Sequence[Job],
                pool: NodePool) -> LimitState | None:
        tree = self.context.accounts
        if tree is None or not self.policy.enforce_limits:
            return None
        gpu_type = {pool.names[i]: pool.classes[pool.cls[i]].gpu_type
                    for i in range(len(pool.names))}
        return count_limits(tree, [*running, *pending], gpu_type)

    def _priority(self, job: Job, req: Request, now: float) -> int:
        calc = self.calc
        if calc is None or self.policy.priority.type != MULTIFACTOR:
            return basic_priority(job)
        terms = self._terms.get(req.prio_key)
        if terms is None:
            eff = req.eff
            terms = self._terms[req.prio_key] = calc.weighted_parts(
                job, eff.assoc.key if eff else None, eff.qos.name if eff else None)
        return calc.priority_from(job, now, terms)

    def _key(self, job: Job, prio: int) -> int:
        """One integer that sorts as (tier desc, priority desc, submit asc, id asc) would."""
        partition = self.partitions.get(job.partition)
        tier = 0xFFFF - partition.priority_tier if partition is not None else 0xFFFF
        submitted = int(job.submit_time * 1000) + _SUBMIT_OFFSET
        return ((((tier << 32) | (MAX_PRIORITY - prio)) << 64 | submitted) << 64) | job.job_id

    # -- the full pass ----------------------------------------------------------------------

    def full_pass(self, pending: Sequence[Job], running: Sequence[Job],
                  nodes: Mapping[str, NodeResources], now: float) -> CycleResult:
        """Decide from scratch: the state of the last pass is replaced."""
        pool = NodePool(nodes, self.partitions)
        shape = pool.shape()
        if shape != self._shape:
            self._requests.clear()
            self._held.clear()
            self._kids.clear()
            self._shapes.clear()
            self._like.clear()
            self._shape = shape
        self.pool = pool
        self.limits = self._limits(pending, running, pool)
        if len(self._requests) > 2 * len(pending) + 1000:
            live = {j.job_id for j in pending}
            self._requests = {k: v for k, v in self._requests.items() if k in live}
            self._like.clear()
        self.timeline = Timeline.of(pool, running, now, self._held)
        if len(self._held) > 2 * len(running) + 1000:
            live = {j.job_id for j in running}
            self._held = {k: v for k, v in self._held.items() if k in live}
        self.blocks = Blocks()
        self.running = {j.job_id: j for j in running}
        self.calc = PriorityCalculator.prepare(self.policy.priority, nodes, self.partitions,
                                               self.context.accounts, self.context.usage)
        self._terms = {}
        order = self._order(pending, pool, now)
        run = FullPass(self, pool, now, dict(self.priorities))
        return run.run(order)

    def _order(self, pending: Sequence[Job], pool: NodePool, now: float) -> list[Request]:
        """Pending jobs by partition PriorityTier, priority, submit time and job id."""
        # Integer keys rather than tuples: nothing per job for the garbage collector to track.
        keys: dict[int, int] = {}
        priorities: dict[int, int] = {}
        reqs: list[Request] = []
        requests, request, priority, key = self._requests, self._request, self._priority, self._key
        for job in pending:
            if job.state is not PENDING:
                continue
            req = requests.get(job.job_id)
            if req is None or req.job is not job:
                req = request(job, pool)
            prio = priorities[job.job_id] = priority(job, req, now)
            keys[job.job_id] = key(job, prio)
            reqs.append(req)
        self.priorities, self.keys = priorities, keys
        reqs.sort(key=lambda r: keys[r.job.job_id])
        return reqs
