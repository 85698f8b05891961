"""Discrete-event replay on a virtual clock, through the scheduling core the controller runs.

Events are job arrivals and job ends, in whole seconds. All events of one instant are applied
first, then the core decides once: a full pass, as `run_cycle` makes, with the policy's
SchedulingContext, of one long-lived core.scheduler.Scheduler, which reuses what it worked
out per job and per running job from one instant to the next. Each start becomes `JobAllocated` and each end `JobFinished` through core.lifecycle, as in the
controller. A job ends at start + its traced run time, or is killed at its time limit.

The core is asked the same question the controller would ask, cut down to the part that can
change its answer (`exact=True` asks the uncut one; the tests compare both start by start):

- no pass at all while no pending job fits in what is free now: nothing could start;
- only the jobs that could start now, and those whose reservations rule on them: where the
  queue policy (core.policies) reserves for the first waiting job of each partition (EASY),
  that job; where it reserves for all (conservative), every job before the last one that
  fits; where it does not backfill (FIFO), none (nothing starts behind a partition's first
  waiting job). Jobs after the last one that fits can neither start nor hold back one that
  could;
- (nodes all of one size) only the nodes with a free core, padded with busy ones
  so that every job sees as many nodes as it asks for, plus the nodes of the running jobs
  that end first: as many of them as it takes for every reservation to fall within their
  ends (else the pass is asked again with twice as many). Nodes keep the machine's order,
  by which the core chooses between like ones.

Whether a job fits now is read from counts of nodes by free cores, kept as jobs start and
end; that is exact for plain workloads (no memory, GPUs, node lists, exclusive nodes or
constraints, basic priority, no account limits). Any other workload is replayed uncut, and so
is any policy that does not claim `replay_cuts`: the cuts lean on the traits above, which
tests/unit/sim checks against uncut passes on random workloads for each policy that claims it.

With multifactor priority and a fair-share weight, usage accrues as in the controller, by
the same core.fairshare.accrue_usage: before each instant all usage decays over the time since the
last one, and each running job is charged its cores for that time (times its QOS
UsageFactor); the pass sees the usage so far. The replay starts from no usage.
"""

from __future__ import annotations

import heapq
import math
import time
from bisect import bisect_left, insort
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace

from corral.core.decisions import EASY, CycleResult, SchedulingContext
from corral.core.fairshare import accrue_usage
from corral.core.lifecycle import apply
from corral.core.priority import BASIC, MULTIFACTOR, basic_priority
from corral.core.scheduler import Scheduler
from corral.core.selection import per_node_request, shares
from corral.model.accounts import AccountTree
from corral.model.cluster import NodeResources
from corral.model.events import JobAllocated, JobFinished
from corral.model.job import Job, NodeAllocation
from corral.sim.workload import Machine, Request, Workload

Progress = Callable[[int, int], None]


@dataclass(frozen=True, slots=True)
class Outcome:
    """One job's replayed life; all times in seconds of the trace's clock."""

    job_id: int
    origin: int
    user: str
    account: str
    partition: str
    submit: int
    start: int
    end: int
    procs: int
    cpus: int
    nodes: int
    hosts: tuple[str, ...]
    time_limit_s: int | None
    killed: bool
    backfilled: bool
    state: str

    @property
    def wait_s(self) -> int:
        return self.start - self.submit

    @property
    def run_s(self) -> int:
        return self.end - self.start


@dataclass(slots=True)
class Series:
    """The machine after each instant: cores in use, jobs waiting, jobs running."""

    times: list[int] = field(default_factory=list)
    busy_cpus: list[int] = field(default_factory=list)
    queued: list[int] = field(default_factory=list)
    running: list[int] = field(default_factory=list)


@dataclass(slots=True)
class Replay:
    policy: str
    outcomes: list[Outcome]
    series: Series
    total_cpus: int
    never_started: list[int]
    passes: int
    elapsed_s: float


def _use(node: NodeResources, alloc: NodeAllocation) -> NodeResources:
    # Built directly: dataclasses.replace costs three times as much, on every start and end.
    taken = set(alloc.gpu_indices)
    return NodeResources(node.name, node.cpus, node.memory, node.gpus, node.gpu_type,
                         node.free_cpus - alloc.cpus, node.free_memory - alloc.memory,
                         tuple(g for g in node.free_gpus if g not in taken), node.available,
                         False, node.features)


def _release(node: NodeResources, alloc: NodeAllocation) -> NodeResources:
    # Keeps the node's features (the core's NodePool does its own bookkeeping).
    free_cpus = min(node.cpus, node.free_cpus + alloc.cpus)
    free_memory = min(node.memory, node.free_memory + alloc.memory)
    gpus = (tuple(sorted(set(node.free_gpus) | set(alloc.gpu_indices))) if alloc.gpu_indices
            else node.free_gpus)
    idle = free_cpus == node.cpus and free_memory == node.memory and len(gpus) == node.gpus
    return NodeResources(node.name, node.cpus, node.memory, node.gpus, node.gpu_type, free_cpus,
                         free_memory, gpus, node.available, idle, node.features)


def plain(machine: Machine, requests: Iterable[Request], context: SchedulingContext) -> bool:
    """Whether a job fits now exactly when enough nodes have enough free cores (see above)."""
    if (context.policy.priority.type != BASIC or context.accounts is not None
            or not all(n.available for n in machine.nodes)):
        return False  # priorities that move, or limits, decide beyond what is free
    return all(not (r.job.spec.req_nodes or r.job.spec.exc_nodes or r.job.spec.gpus_per_node
                    or r.job.spec.exclusive or r.job.mem_per_node or r.job.spec.constraint)
               for r in requests)


class _State:
    def __init__(self, workload: Workload, context: SchedulingContext, exact: bool) -> None:
        machine = workload.machine
        # The replay reads starts and reservations, never the estimates of the rest.
        self.context = replace(context, policy=replace(context.policy, estimates=False))
        self.core = Scheduler(machine.partitions, self.context)
        queue = context.policy.queue
        self.backfill = queue.backfill  # else nothing starts behind a partition's first waiter
        self.reserve_all = queue.reserve_all
        self.partitions = machine.partitions
        self.exact = (exact or not queue.replay_cuts
                      or not plain(machine, workload.requests, context))
        self.nodes: dict[str, NodeResources] = {n.name: n for n in machine.nodes}
        self.requests = {r.job.job_id: r for r in workload.requests}
        # For each partition, how many of its nodes have each number of free cores.
        members = {p.name: [n for n in self.nodes if p.contains(n)]
                   for p in self.partitions.values()}
        self.node_parts = {n: [p for p, names in members.items() if n in names]
                           for n in self.nodes}
        top = max((n.cpus for n in machine.nodes), default=0)
        self.levels: dict[str, list[int]] = {}
        for part, names in members.items():
            counts = [0] * (top + 1)
            for name in names:
                counts[self.nodes[name].free_cpus] += 1
            self.levels[part] = counts
        self.members = members
        self.position = {name: i for i, name in enumerate(self.nodes)}
        self.member_sets = {part: frozenset(names) for part, names in members.items()}
        # Nodes with a free core; running jobs by expected end, as the core's timeline has them.
        self.open = {n for n, node in self.nodes.items() if node.free_cpus > 0}
        self.by_end: list[tuple[float, int]] = []
        self.node_cut = (not self.exact
                         and len({(n.cpus, n.memory, n.gpus) for n in machine.nodes}) == 1)
        # Conservative reservations often reach past the first releases, and a cut pass
        # asked again in full costs more than a full one: cut only while cuts mostly hold.
        self.cut_misses = 0.0
        self.instants = 0
        self.pending: dict[int, Job] = {}
        self.order: list[tuple[tuple[int, int, float, int], int]] = []
        self.shape: dict[int, tuple[str, int, int]] = {}
        self.running: dict[int, Job] = {}
        self.ends: list[tuple[int, int]] = []  # (end, job id): the event queue of running jobs
        self.outcomes: list[Outcome] = []
        self.backfilled: set[int] = set()
        self.busy_cpus = 0
        self.passes = 0
        priority = context.policy.priority
        self.fairshare = (context.accounts is not None and priority.type == MULTIFACTOR
                          and priority.weight_fairshare > 0)
        self.accrued_at: int | None = None

    def queue_key(self, job: Job) -> tuple[int, int, float, int]:
        """The order the core takes pending jobs in under priority/basic."""
        part = self.partitions.get(job.partition)
        return (-(part.priority_tier if part else 0), -basic_priority(job), job.submit_time,
                job.job_id)

    def _set_node(self, name: str, node: NodeResources) -> None:
        before = self.nodes[name].free_cpus
        self.nodes[name] = node
        if node.free_cpus != before:
            for part in self.node_parts[name]:
                counts = self.levels[part]
                counts[before] -= 1
                counts[node.free_cpus] += 1
            if node.free_cpus > 0:
                self.open.add(name)
            else:
                self.open.discard(name)

    # -- events ---------------------------------------------------------------------------------

    def accrue(self, now: int) -> None:
        """Fair-share usage up to `now`: decayed, and charged for what ran since the last call."""
        if not self.fairshare:
            return
        since, self.accrued_at = self.accrued_at, now
        if since is None or now <= since:
            return
        tree = self.context.accounts
        assert tree is not None
        usage = accrue_usage(self.context.usage, now - since,
                             self.context.policy.priority.decay_half_life, tree,
                             ((job, now - since) for job in self.running.values()))
        self.context = replace(self.context, usage=usage)

    def arrive(self, job: Job) -> None:
        self.pending[job.job_id] = job
        insort(self.order, (self.queue_key(job), job.job_id))
        need = per_node_request(job.spec, job.mem_per_node)
        # Uneven shares (3 cores on 2 nodes: 2+1): the smallest is what every node must hold
        # at least, so the pre-filters below stay necessary conditions.
        uneven = shares(job.spec, job.mem_per_node) if job.spec.num_nodes > 1 else None
        cpus = uneven[-1][0].cpus if uneven else need.cpus
        self.shape[job.job_id] = (job.partition, cpus, job.spec.num_nodes)

    def start(self, job_id: int, allocation: Mapping[str, NodeAllocation], now: int,
              backfilled: bool) -> None:
        job = self.pending.pop(job_id)
        del self.order[bisect_left(self.order, (self.queue_key(job), job_id))]
        started = apply(job, JobAllocated(allocation), now).job
        for name, alloc in allocation.items():
            self._set_node(name, _use(self.nodes[name], alloc))
            self.busy_cpus += alloc.cpus
        self.running[job_id] = started
        insort(self.by_end, (started.expected_end(), job_id))
        run = self.requests[job_id].run_s
        limit = job.time_limit * 60 if job.time_limit is not None else math.inf
        heapq.heappush(self.ends, (now + int(min(run, limit)), job_id))
        if backfilled:
            self.backfilled.add(job_id)

    def finish(self, job_id: int, now: int) -> None:
        job = self.running.pop(job_id)
        del self.by_end[bisect_left(self.by_end, (job.expected_end(), job_id))]
        request = self.requests[job_id]
        limit = job.time_limit * 60 if job.time_limit is not None else None
        killed = limit is not None and request.run_s > limit
        ended = apply(job, JobFinished(timed_out=killed, end_time=now), now).job
        for name, alloc in job.allocation.items():
            self._set_node(name, _release(self.nodes[name], alloc))
            self.busy_cpus -= alloc.cpus
        self.outcomes.append(Outcome(
            job_id=job_id, origin=request.origin, user=request.user, account=request.account,
            partition=job.partition, submit=int(job.submit_time), start=int(job.start_time or 0),
            end=now, procs=request.procs, cpus=job.num_cpus, nodes=len(job.allocation),
            hosts=tuple(job.allocation), time_limit_s=limit, killed=killed,
            backfilled=job_id in self.backfilled,
            state=ended.state.value))

    # -- passes ---------------------------------------------------------------------------------

    def schedule(self, now: int) -> None:
        if not self.pending:
            return
        if self.exact:
            result = self._ask(list(self.pending.values()), list(self.running.values()),
                               self.nodes, now)
        else:
            pending = self._candidates()
            if not pending:
                return
            self.instants += 1
            if self.node_cut and (not self.reserve_all or self.cut_misses < 0.5
                                  or self.instants % 32 == 0):
                result = self._cut_nodes(pending, now)
            else:
                result = self._ask(pending, list(self.running.values()), self.nodes, now)
        for start in result.starts:
            self.start(start.job_id, start.allocation, now, start.backfilled)

    def _ask(self, pending: list[Job], running: list[Job], nodes: Mapping[str, NodeResources],
             now: int) -> CycleResult:
        self.passes += 1
        self.core.set_context(self.context)
        return self.core.full_pass(pending, running, nodes, now)

    def _cut_nodes(self, pending: list[Job], now: int) -> CycleResult:
        """The pass over the nodes with a free core, padded with busy ones (a job must see
        as many nodes as it asks for), and the nodes of the running jobs that end first: as
        many of those as every reservation needs to be found among them."""
        view = set(self.open)
        wanted: dict[str, int] = {}
        for job in pending:
            part, _, count = self.shape[job.job_id]
            wanted[part] = max(wanted.get(part, 0), count)
        for part, count in wanted.items():
            members = self.member_sets[part]
            have = sum(1 for name in view if name in members)
            for name in self.members[part]:
                if have >= count:
                    break
                if name not in view:
                    view.add(name)
                    have += 1
        if not self.backfill:
            # Nothing starts behind a reservation without backfill: only estimates need one.
            return self._ask(pending, [], self._in_order(view), now)
        taken = self._first_enders(pending, len(view))
        self.cut_misses *= 0.9
        while True:
            # Ties in expected end are taken together, as the core's timeline orders them.
            while 0 < taken < len(self.by_end) and \
                    self.by_end[taken][0] == self.by_end[taken - 1][0]:
                taken += 1
            running = [self.running[job_id] for _, job_id in self.by_end[:taken]]
            window = set(view)
            for job in running:
                window.update(job.allocation)
            result = self._ask(pending, running, self._in_order(window), now)
            # A reservation found by the last release it was shown might be found sooner
            # by one it was not: only one within the releases shown is the same.
            seen_until = self.by_end[taken - 1][0] if taken else -math.inf
            if taken >= len(self.by_end) or all(
                    r.start <= seen_until for r in result.reservations):
                return result
            if self.reserve_all:
                self.cut_misses += 0.1
                taken = len(self.by_end)
            else:
                taken = min(len(self.by_end), max(1, taken * 2))

    def _in_order(self, names: set[str]) -> dict[str, NodeResources]:
        # In the machine's order: the core breaks ties between like nodes by their position.
        return {name: self.nodes[name] for name in sorted(names, key=self.position.__getitem__)}

    def _first_enders(self, pending: list[Job], seen: int) -> int:
        """A first guess at how many running jobs a reservation needs released: enough to
        free as many nodes as the largest job asks for beyond those the pass already sees."""
        short = max(self.shape[j.job_id][2] for j in pending) - len(self.open)
        freed: set[str] = set()
        for i, (_, job_id) in enumerate(self.by_end):
            if len(freed) >= short:
                return i
            freed.update(self.running[job_id].allocation)
        return len(self.by_end)

    def _fits(self, job_id: int, at_least: dict[str, list[int]]) -> bool:
        part, cpus, count = self.shape[job_id]
        table = at_least.get(part)
        if table is None:
            counts = self.levels[part]
            table = [0] * (len(counts) + 1)
            for level in range(len(counts) - 1, -1, -1):
                table[level] = table[level + 1] + counts[level]
            at_least[part] = table
        return cpus < len(table) and table[cpus] >= count

    def _exhausts(self, job_id: int, demand: dict[str, int]) -> bool:
        """Adds the job's cores to its partition's demand; whether that passes what is free."""
        part, cpus, count = self.shape[job_id]
        demand[part] = demand.get(part, 0) + cpus * count
        free = sum(level * n for level, n in enumerate(self.levels[part]))
        return demand[part] > free

    def _candidates(self) -> list[Job]:
        """The pending jobs the pass must see, in queue order; none if none fits now."""
        at_least: dict[str, list[int]] = {}
        chosen: list[Job] = []
        blocked: set[str] = set()
        demand: dict[str, int] = {}
        kept = 0
        for _, job_id in self.order:
            part = self.shape[job_id][0]
            if not self.backfill and part in blocked:
                if len(blocked) == len(self.partitions):
                    break
                continue
            if self._fits(job_id, at_least):
                chosen.append(self.pending[job_id])
                kept = len(chosen)
                if not self.backfill and self._exhausts(job_id, demand):
                    # Its partition cannot hold every job so far: one of them waits, and
                    # without backfill nothing starts behind it.
                    blocked.add(part)
            elif self.reserve_all or part not in blocked:
                blocked.add(part)
                if self.backfill:
                    chosen.append(self.pending[job_id])
        return chosen[:kept]


def context_for(backfill: str, base: SchedulingContext | None = None,
                accounts: AccountTree | None = None) -> SchedulingContext:
    """`base` (the controller's defaults where None) with the named backfill mode; the
    workload's account tree where `base` has none."""
    base = base or SchedulingContext(accounts=accounts)
    return replace(base, policy=replace(base.policy, backfill=backfill))


def replay(workload: Workload, policy: str | SchedulingContext = EASY, *, exact: bool = False,
           progress: Progress | None = None) -> Replay:
    """Replays every request; `progress(done, total)` is called now and then. A policy
    named by its backfill mode runs with the controller's defaults and the workload's
    account tree."""
    clock = time.perf_counter()
    context = (policy if isinstance(policy, SchedulingContext)
               else context_for(policy, accounts=workload.accounts))
    state = _State(workload, context, exact)
    arrivals = sorted(workload.requests, key=lambda r: (r.job.submit_time, r.job.job_id))
    series = Series()
    total = len(arrivals)
    nxt = 0
    step = 0
    if progress is not None:
        progress(0, total)
    while nxt < total or state.ends:
        now = min(int(arrivals[nxt].job.submit_time) if nxt < total else math.inf,
                  state.ends[0][0] if state.ends else math.inf)
        if math.isinf(now):
            break
        now = int(now)
        state.accrue(now)
        while state.ends and state.ends[0][0] == now:
            state.finish(heapq.heappop(state.ends)[1], now)
        while nxt < total and arrivals[nxt].job.submit_time == now:
            state.arrive(arrivals[nxt].job)
            nxt += 1
        state.schedule(now)
        series.times.append(now)
        series.busy_cpus.append(state.busy_cpus)
        series.queued.append(len(state.pending))
        series.running.append(len(state.running))
        step += 1
        if progress is not None and step % 2048 == 0:
            progress(len(state.outcomes), total)
    if progress is not None:
        progress(len(state.outcomes), total)
    state.outcomes.sort(key=lambda o: o.job_id)
    return Replay(context.policy.backfill, state.outcomes, series, workload.machine.total_cpus,
                  sorted(state.pending), state.passes, time.perf_counter() - clock)
