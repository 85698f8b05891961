"""The scheduling pass: priority order, limits, gang placement, backfill, preemption, estimates.

`Scheduler.full_pass` takes a snapshot (pending and running jobs, nodes, `now`) and decides:
which jobs start and on which nodes, which running jobs to preempt for whom, the reason
every other pending job waits, and an estimated start for each of them. It does no I/O
and reads no clock. Between full passes, `submitted` and `finished` are incremental
passes after one event (Slurm's quick scheduling on submit and on job end): they reuse the
state of the last pass, which only the scheduler's own methods change.

Jobs are taken in priority order (partition PriorityTier, priority, submit time, job id).
Each either starts now — on nodes that fit it whole (gang), best-fit, not inside a
reservation it would outlast — or waits. With EASY backfill the first waiting job of each
partition reserves the nodes it will start on (core.backfill); with conservative backfill
every waiting job does, up to `reserve_depth`; with fifo a partition starts nothing behind
its first waiting job. A job whose QOS may preempt others and that does not fit preempts
the fewest lower-QOS jobs that make room (core.preempt). Estimates for all the waiting
jobs come last, from core.plan, with reserved jobs at their reserved start.

An incremental pass answers only for what it changed: the jobs it starts, the jobs whose
reason or estimate moved, the reservations it made. Jobs it does not mention keep what the
last pass said; estimates of the rest of the queue are refreshed by the next full pass.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Mapping, Sequence

from corral.core.backfill import Blocks, Held, Timeline
from corral.core.decisions import (
    DEFAULT_CONTEXT,
    CycleResult,
    CycleStats,
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
from corral.model.job import Job, NodeAllocation
from corral.model.states import JobState, Reason

INF = math.inf
PENDING = JobState.PENDING
# Submit times (ms) are shifted to stay positive in the sort key, down to 1970 minus 200 years.
_SUBMIT_OFFSET = 200 * 365 * 86400 * 1000
# An incremental pass after a job ends tries at most this many waiting requests.
QUICK_BUDGET = 1000
# … and looks at most this many of the user's jobs that a limit held back.
LIMITED_LOOK = 50


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
        # What incremental passes work from, kept by the last full pass.
        self.priorities: dict[int, int] = {}
        self.keys: dict[int, int] = {}
        self.holders: dict[str, int] = {}
        self.groups: dict[int, list[Request]] = {}
        self.heads: dict[int, int] = {}
        self.by_part: dict[str, list[Request]] = {}
        self.gone: set[int] = set()
        self.limited: dict[str, list[Request]] = {}
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
        result = run.run(order)
        self._keep(run)
        return result

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

    def _keep(self, run: FullPass) -> None:
        """What the incremental passes need from the full one."""
        self.holders = dict(run.holders)
        self.gone = {s.job_id for s in run.starts}
        groups: dict[int, list[Request]] = {}
        by_part: dict[str, list[Request]] = {}
        for req in run.queued:
            group = groups.get(req.kid)
            if group is None:
                groups[req.kid] = [req]
            else:
                group.append(req)
            part = by_part.get(req.job.partition)
            if part is None:
                by_part[req.job.partition] = [req]
            else:
                part.append(req)
        self.groups, self.by_part = groups, by_part
        if self.policy.queue.reserve_all:
            # The next submit reserves at once: have the release views it will ask for ready,
            # rather than building one (a walk over every running job) inside that submit.
            for classes in {frozenset(group[0].flat) for group in groups.values()}:
                self.timeline.view(classes)
        self.heads = dict.fromkeys(groups, 0)
        limited: dict[str, list[Request]] = {}
        for req in run.limited_reqs:
            limited.setdefault(req.job.spec.user, []).append(req)
        self.limited = limited

    # -- incremental passes -----------------------------------------------------------------

    def submitted(self, job: Job, now: float) -> CycleResult:
        """A pass after one submit: the job starts now if it fits without delaying the
        reservation of a job ahead of it; otherwise its reason and estimate."""
        pool = self._ready()
        req = self._request(job, pool)
        jid, part = job.job_id, job.partition
        prio = self.priorities[jid] = self._priority(job, req, now)
        key = self.keys[jid] = self._key(job, prio)
        if self.limits is not None:
            self.limits.add(job, None, False)
        run = self._quick(pool, now)
        holder = self.holders.get(part)
        displaced = None
        if holder is not None and holder not in self.gone:
            if self.keys[holder] < key:
                run.blocked_parts.add(part)
            else:
                displaced = holder
                self.blocks.drop(holder)
        run.consider(req)
        if displaced is not None:
            if run.starts:
                run.reserve(self._requests[displaced])
                run.holders[part] = displaced
            else:
                run.reasons[displaced] = Reason.PRIORITY
        self.holders.update(run.holders)
        if run.starts:
            self.gone.add(jid)
        elif req in run.limited_reqs:
            _insort(self.limited.setdefault(job.spec.user, []), req, key, self.keys)
        elif req in run.queued:
            self._enqueue(req)
            if jid in run.exact:
                if run.exact[jid] != INF:
                    run.estimates[jid] = run.exact[jid]
            elif run.reasons.get(jid) in (Reason.PRIORITY, Reason.RESOURCES) and self.planner:
                start = self.planner.place(pool, req.flat, req.need, req.count, req.duration,
                                           now, None, True, req.kid)
                if start != INF:
                    run.estimates[jid] = start
        return self._answer(run, {jid: prio})

    def finished(self, job_id: int, now: float) -> CycleResult:
        """A pass after one running job released its nodes: start what now fits, in priority
        order and within the reservations, and move the reservations that this changes."""
        pool = self._ready()
        job = self.running.pop(job_id, None)
        run = self._quick(pool, now)
        if job is None:
            return self._answer(run, {})
        expected, held = self.timeline.holding.get(job_id, (INF, ()))
        self.timeline.remove(job_id)
        self._held.pop(job_id, None)
        for i, cpus, mem, gpus in held:
            pool.give(i, NodeAllocation(cpus, mem, gpus))
        if self.limits is not None:
            self.limits.ended(job)
        freed = {pool.cls[i] for i, *_ in held}
        heap: list[tuple[int, int]] = []
        for kid in self.groups:
            first = self._head(kid)
            if first is not None and not freed.isdisjoint(first.flat):
                heap.append((self.keys[first.job.job_id], kid))
        # The user's jobs held by a limit may be free to go now (one fewer running).
        mine = [r for r in self.limited.get(job.spec.user, ())[:LIMITED_LOOK]
                if r.job.job_id not in self.gone]
        heap.extend((self.keys[r.job.job_id], -1 - n) for n, r in enumerate(mine))
        heapq.heapify(heap)
        lost: set[str] = set()
        tries = 0
        while heap and tries < QUICK_BUDGET:
            _, kid = heapq.heappop(heap)
            req = self._head(kid) if kid >= 0 else mine[-1 - kid]
            if req is None:
                continue
            tries += 1
            run.tried += 1
            rjob, jid = req.job, req.job.job_id
            eff = req.eff
            if eff is not None and not eff.unlimited and self.limits is not None:
                if self.limits.blocking(rjob, eff, req.tres) is not None:
                    if kid >= 0:
                        self.heads[kid] += 1  # the next of the group may belong to someone else
                        nxt = self._head(kid)
                        if nxt is not None:
                            heapq.heappush(heap, (self.keys[nxt.job.job_id], kid))
                    continue
            end = now + req.duration
            placed = run.place(req, self.blocks.above(self.priorities[jid]), end)
            if placed is None:
                continue  # the rest of the group asks the same: it does not fit either
            run.start(req, placed, end, self.holders.get(rjob.partition) not in (None, jid))
            self.gone.add(jid)
            if jid in self.blocks:
                self.blocks.drop(jid)
            if self.holders.get(rjob.partition) == jid:
                lost.add(rjob.partition)
            if kid >= 0:
                nxt = self._head(kid)
                if nxt is not None:
                    heapq.heappush(heap, (self.keys[nxt.job.job_id], kid))
        for part in lost:
            self._new_holder(run, part)
        if expected > now:
            # It ended before its limit: reservations that waited on it may move earlier.
            for part, holder in list(self.holders.items()):
                hreq = self._requests.get(holder)
                if (part in lost or holder in self.gone or hreq is None
                        or freed.isdisjoint(hreq.flat)):
                    continue
                self.blocks.drop(holder)
                run.reserve(hreq)
                run.estimates[holder] = run.exact[holder]
        return self._answer(run, {})

    def _quick(self, pool: NodePool, now: float) -> FullPass:
        run = FullPass(self, pool, now, self.priorities)
        run.preemptors = {}  # choosing victims looks at every running job: full passes only
        return run

    def _ready(self) -> NodePool:
        if self.pool is None:
            raise RuntimeError("an incremental pass needs a full pass first")
        return self.pool

    def _head(self, kid: int) -> Request | None:
        group, at = self.groups[kid], self.heads[kid]
        while at < len(group) and group[at].job.job_id in self.gone:
            at += 1
        self.heads[kid] = at
        return group[at] if at < len(group) else None

    def _enqueue(self, req: Request) -> None:
        key = self.keys[req.job.job_id]
        group = self.groups.setdefault(req.kid, [])
        self.heads.setdefault(req.kid, 0)
        _insort(group, req, key, self.keys)
        _insort(self.by_part.setdefault(req.job.partition, []), req, key, self.keys)

    def _new_holder(self, run: FullPass, part: str) -> None:
        """The first job of the partition still waiting for resources gets the reservation."""
        self.holders.pop(part, None)
        for req in self.by_part.get(part, ()):
            jid = req.job.job_id
            if jid in self.gone:
                continue
            eff = req.eff
            if (eff is not None and not eff.unlimited and self.limits is not None
                    and self.limits.blocking(req.job, eff, req.tres) is not None):
                continue
            run.reserve(req)
            run.reasons[jid] = Reason.RESOURCES
            if run.exact[jid] != INF:
                run.estimates[jid] = run.exact[jid]
            self.holders[part] = jid
            return

    def _answer(self, run: FullPass, priorities: dict[int, int]) -> CycleResult:
        stats = CycleStats(pending_seen=len(priorities), started=len(run.starts),
                           backfilled=run.backfilled, reserved=len(run.reservations),
                           preempted=len(run.preemptions), limited=run.limited,
                           placements_tried=run.tried, placements_skipped=run.skipped,
                           estimated=len(run.estimates))
        return CycleResult(tuple(run.starts), run.reasons, run.estimates, stats,
                           tuple(run.preemptions), tuple(run.reservations), priorities,
                           run.details, run.now)


def _insort(items: list[Request], req: Request, key: int, keys: Mapping[int, int]) -> None:
    lo, hi = 0, len(items)
    while lo < hi:
        mid = (lo + hi) // 2
        if keys[items[mid].job.job_id] < key:
            lo = mid + 1
        else:
            hi = mid
    items.insert(lo, req)
