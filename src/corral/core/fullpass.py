"""The full scheduling pass over the whole queue (see core.scheduler for the order of things).

Working state — reasons, estimates, same-request failures, preemption victims — lives only
as long as the pass; what the Scheduler keeps (pool, timeline, reservations, limit
counters, planner) belongs to it and is updated in place.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Literal

from corral.core.backfill import Held, earliest_start
from corral.core.decisions import (
    CycleResult,
    CycleStats,
    Reservation,
    Start,
)
from corral.core.plan import Planner
from corral.core.pool import NodePool
from corral.core.preempt import (
    OnNode,
    Preemption,
    Victim,
    by_node,
    candidates,
    choose_victims,
)
from corral.core.request import Request, unavailable
from corral.core.selection import PerNode, each_node, hostlist_key
from corral.model.accounts import Qos
from corral.model.job import NodeAllocation
from corral.model.states import Reason

if TYPE_CHECKING:
    from corral.core.scheduler import Scheduler

INF = math.inf


class FullPass:
    """One pass over the ordered queue; its working state lives only as long as the pass."""

    def __init__(self, sched: Scheduler, pool: NodePool, now: float,
                 priorities: dict[int, int]) -> None:
        self.s = sched
        self.pool = pool
        self.now = now
        self.priorities = priorities
        queue = sched.policy.queue
        self.no_backfill = not queue.backfill  # nothing starts behind a partition's first waiter
        self.reserve_all = queue.reserve_all
        self.starts: list[Start] = []
        self.reasons: dict[int, Reason] = {}
        self.estimates: dict[int, float] = {}
        self.details: dict[int, str] = {}
        self.reservations: list[Reservation] = []
        self.preemptions: list[Preemption] = []
        self.exact: dict[int, float] = {}
        self.waiting: list[Request] = []  # waiting for resources, in order
        self.queued: list[Request] = []  # waiting for resources, in order (no backfill included)
        self.limited_reqs: list[Request] = []  # waiting for a limit, in order
        self.holders: dict[str, int] = {}  # partition → its first waiting job, reserved
        self.blocked_parts: set[str] = set()
        self.fail_end: dict[int, float] = {}
        self.unavailable: dict[int, tuple[Reason, str] | None] = {}
        self.ineligible = sched.context.ineligible
        self.preempting: set[int] = set()
        self.preempt_tries = 0
        self.preempt_failed: set[int] = set()
        self.victims: dict[str, list[Victim]] = {}
        self.victims_near: dict[str, dict[int, dict[int, OnNode]]] = {}
        self.tried = self.skipped = self.limited = self.backfilled = 0
        tree = sched.context.accounts
        self.preemptors: dict[str, Qos] = (
            {name: q for name, q in tree.qos.items() if q.preempt} if tree is not None else {})

    def run(self, order: list[Request]) -> CycleResult:
        for req in order:
            self.consider(req)
        self.plan()
        stats = CycleStats(pending_seen=len(order), started=len(self.starts),
                           backfilled=self.backfilled, reserved=len(self.reservations),
                           preempted=len(self.preemptions), limited=self.limited,
                           placements_tried=self.tried, placements_skipped=self.skipped,
                           estimated=len(self.estimates))
        return CycleResult(tuple(self.starts), self.reasons, self.estimates, stats,
                           tuple(self.preemptions), tuple(self.reservations), self.priorities,
                           self.details, self.now)

    def wait(self, req: Request, reason: Reason, detail: str | None = None) -> None:
        self.reasons[req.job.job_id] = reason
        if detail:
            self.details[req.job.job_id] = detail

    def consider(self, req: Request) -> None:
        job = req.job
        jid = job.job_id
        if (not req.plain or self.ineligible) and self.gate(req):
            return
        kid = req.kid
        down: tuple[Reason, str] | None | Literal[False] = self.unavailable.get(kid, False)
        if down is False:
            down = self.unavailable[kid] = unavailable(req, self.pool)
        if down is not None:
            self.wait(req, *down)
            return
        eff = req.eff
        if eff is not None and not eff.unlimited and self.s.limits is not None:
            blocked = self.s.limits.blocking(job, eff, req.tres)
            if blocked is not None:
                self.limited += 1
                self.wait(req, blocked.reason, blocked.detail)
                self.limited_reqs.append(req)
                return
        part = job.partition
        blocked_parts = self.blocked_parts
        if self.no_backfill and part in blocked_parts:
            self.reasons[jid] = Reason.PRIORITY
            self.waiting.append(req)
            self.queued.append(req)
            return
        end = self.now + req.duration
        failed_at = self.fail_end.get(kid)
        if failed_at is None or end < failed_at:
            self.tried += 1
            placed = self.place(req, self.s.blocks.earliest, end)
            if placed is not None:
                self.start(req, placed, end, part in blocked_parts)
                return
            self.fail_end[kid] = end if failed_at is None or end < failed_at else failed_at
        else:
            self.skipped += 1
        first = part not in blocked_parts
        if first:
            blocked_parts.add(part)
            self.reasons[jid] = Reason.RESOURCES
        else:
            self.reasons[jid] = Reason.PRIORITY
        self.waiting.append(req)
        self.queued.append(req)
        if eff is not None and eff.qos.name in self.preemptors and self.preempt(req):
            if first:
                self.holders[part] = jid
            return
        if self.reserve_all:
            if len(self.reservations) < self.s.policy.reserve_depth:
                self.reserve(req)
        elif first:
            self.reserve(req)
        if first:
            self.holders[part] = jid

    def gate(self, req: Request) -> bool:
        """Held, held back by the driver, not yet at --begin, or never runnable as asked."""
        job = req.job
        jid = job.job_id
        if job.held:
            self.wait(req, Reason.HELD_ADMIN if job.reason is Reason.HELD_ADMIN else Reason.HELD_USER)
            return True
        if self.ineligible:
            held_back = self.ineligible.get(jid)
            if held_back is not None:
                self.wait(req, held_back)
                return True
        begin = job.spec.begin_time
        if begin is not None and begin > self.now:
            self.wait(req, Reason.BEGIN_TIME)
            self.estimates[jid] = begin
            return True
        if req.static is not None:
            self.limited += 1
            self.wait(req, *req.static)
            return True
        return False

    def place(self, req: Request, blocked: Mapping[int, float] | None,
              end: float) -> list[int] | None:
        """Nodes for the job now, all or none; with uneven shares, listed in the order of
        `each_node(req.uneven)` (the largest share's nodes first)."""
        uneven = req.uneven
        for classes in req.classes:
            if uneven is not None:
                found = self._place_shares(req, classes, uneven, blocked, end)
                if found is not None:
                    return found
                continue
            found = self.pool.find(classes, req.need, req.count, req.excluded, req.required,
                                   blocked, end)
            if found is not None:
                return self._widen(req, classes, found, blocked, end)
        return None

    def _place_shares(self, req: Request, classes: tuple[int, ...],
                      uneven: tuple[tuple[PerNode, int], ...],
                      blocked: Mapping[int, float] | None, end: float) -> list[int] | None:
        """Uneven shares, the largest first, each best-fit among the nodes still unchosen. A
        node that holds a share holds every smaller one (selection.shares), so the nodes
        fitting each share nest: whichever ones the larger shares take, as many are left for
        the smaller as any choice would leave, and a placement is found whenever one exists."""
        chosen: list[int] = []
        for need, n in uneven:
            skip = req.excluded.union(chosen) if chosen else req.excluded
            found = self.pool.find(classes, need, n, skip, (), blocked, end)
            if found is None:
                return None
            chosen.extend(found)
        return chosen

    def _widen(self, req: Request, classes: tuple[int, ...], found: list[int],
               blocked: Mapping[int, float] | None, end: float) -> list[int]:
        """-N min-max: as many more nodes as fit now, up to the maximum, as Slurm gives "as
        many nodes as possible within the range without delaying the job". Each holds the
        same per-node share, so no other job's start moves (blocked nodes stay untouched).

        Only while every node holds one task at most: tasks that fit the minimum stay packed
        there (`-N 1-2 -n 2` on 2-CPU nodes: one node of 2 CPUs, as Slurm's cons_tres packs
        them), and a job of several tasks gets no more nodes than it has tasks."""
        spec = req.job.spec
        most = spec.max_nodes
        if most is None or most <= len(found) or spec.num_tasks > spec.num_nodes:
            return found
        if spec.num_tasks > 1:
            most = min(most, spec.num_tasks)
            if most <= len(found):
                return found
        taken = set(found) | req.excluded
        more = [i for i in self.pool.fitting(classes, req.need, most + len(taken))
                if i not in taken and not (blocked and i in blocked
                                           and (end > blocked[i] or end == INF))]
        return found + more[: most - len(found)]

    def start(self, req: Request, placed: list[int], end: float, backfilled: bool) -> None:
        pool, job = self.pool, req.job
        allocation: dict[str, NodeAllocation] = {}
        held: list[Held] = []
        # In hostlist order, not best-fit's nor registration's: the first is the batch host
        # (Slurm's BatchHost is the first node of NodeList, where scripts put rank 0).
        order = sorted(placed, key=lambda i: hostlist_key(pool.names[i]))
        needs: dict[int, PerNode] | None = None
        if req.uneven is not None:
            shares = each_node(req.uneven)
            # Block distribution gives the first node of NodeList the most; where that node
            # cannot hold it (it was chosen for a smaller share), each keeps its own.
            needs = (dict(zip(order, shares, strict=True))
                     if all(pool.fits(i, need) for i, need in zip(order, shares, strict=True))
                     else dict(zip(placed, shares, strict=True)))
        for i in order:
            alloc = pool.take(i, req.need if needs is None else needs[i])
            allocation[pool.names[i]] = alloc
            held.append((i, alloc.cpus, alloc.memory, alloc.gpu_indices))
        self.s.timeline.add(job.job_id, end, tuple(held))
        self.s.running[job.job_id] = job
        if self.s.limits is not None and req.eff is not None:
            self.s.limits.started(job, req.tres)
        self.starts.append(Start(job.job_id, allocation, backfilled))
        self.backfilled += backfilled

    def reserve(self, req: Request) -> None:
        # A job of uneven shares (-n 3 on 2-CPU nodes: 2+1) reserves as if every node held
        # its largest share (2+2): conservative — its start is never later than reserved,
        # and a reservation never promises what is not there; it may keep a small job off
        # the lightly loaded node for the window. Estimates (core.plan) and preemption
        # (core.preempt) count the same way.
        s, jid = self.s, req.job.job_id
        best: tuple[float, list[int]] = (INF, [])
        for classes in req.classes:
            found = earliest_start(self.pool, classes, req.need, req.count, req.duration,
                                   s.timeline, s.blocks, self.now, req.excluded, req.required)
            if found[0] < best[0] or not best[1]:
                best = found
        start, nodes = best
        s.blocks.add(jid, self.priorities[jid], nodes, start, start + req.duration)
        self.reservations.append(Reservation(jid, start, frozenset(self.pool.names[i] for i in nodes),
                                             start + req.duration))
        self.exact[jid] = start

    def preempt(self, req: Request) -> bool:
        """Make room by preempting lower-QOS jobs, when the job's QOS may and it needs it."""
        eff, tree = req.eff, self.s.context.accounts
        if eff is None or tree is None:
            return False
        if self.preempt_tries >= self.s.policy.preempt_depth or req.kid in self.preempt_failed:
            return False
        if self.place(req, None, INF) is not None:
            return False  # it fits; only reservations keep it waiting
        self.preempt_tries += 1
        victims = self.victims.get(eff.qos.name)
        if victims is None:
            victims = self.victims[eff.qos.name] = candidates(
                tree, eff.qos, self.s.running.values(), self.s.timeline.holding,
                self.s.policy.preempt_mode, self.s.qos_seen)
        for classes in req.classes:
            near = self.victims_near.get(eff.qos.name)
            if near is None:
                near = self.victims_near[eff.qos.name] = by_node(self.pool, victims)
            found = choose_victims(self.pool, classes, req.need, req.count, near, victims,
                                   req.excluded, self.preempting)
            if found is None or not found[1]:
                continue
            nodes, chosen = found
            grace = max(v[3] for v in chosen)
            jid = req.job.job_id
            for victim, _, mode, g in chosen:
                self.preempting.add(victim)
                self.preemptions.append(Preemption(victim, mode, jid, g))
            start = self.now + grace
            self.s.blocks.add(jid, self.priorities[jid], nodes, self.now, start + req.duration)
            self.reservations.append(Reservation(
                jid, start, frozenset(self.pool.names[i] for i in nodes), start + req.duration))
            self.exact[jid] = start
            return True
        self.preempt_failed.add(req.kid)
        return False

    def plan(self) -> None:
        if not self.s.policy.estimates:
            self.s.planner = None
            return
        planner = Planner(self.pool, self.s.timeline, self.now)
        self.s.planner = planner
        place, pool, now, exact, estimates = (planner.place, self.pool, self.now, self.exact,
                                              self.estimates)
        for req in self.waiting:
            jid = req.job.job_id
            known = exact.get(jid)
            if known is not None:
                if known != INF:
                    place(pool, req.flat, req.need, req.count, req.duration, now, known, False,
                          req.kid)
                    estimates[jid] = known
                continue
            start = place(pool, req.flat, req.need, req.count, req.duration, now, None, True,
                          req.kid)
            if start != INF:
                estimates[jid] = start
