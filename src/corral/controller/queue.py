"""The queue and its passes: what a scheduling pass decides on, deciding it with the
core's one Scheduler, and applying what it decided to jobs that are still as they were."""

from __future__ import annotations

import logging
import math
import uuid
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from corral.controller import arrays
from corral.controller.dependencies import (
    DependencyIndex,
    Verdict,
    gate_reason,
    ref_of,
)
from corral.controller.ledger import JobBook
from corral.core.cycle import CycleResult, Start
from corral.core.deadline import expired
from corral.core.decisions import SchedulingContext
from corral.core.dependencies import Status
from corral.core.explain import explain
from corral.core.scheduler import Scheduler
from corral.model.accounts import PreemptMode
from corral.model.cluster import NodeResources
from corral.model.events import (
    DeadlinePassed,
    Event,
    JobAllocated,
    JobCancelled,
    JobPreempted,
)
from corral.model.job import Job
from corral.model.states import JobState, Reason
from corral.model.timefmt import format_timestamp

log = logging.getLogger("corral.controller")


NO_DEPENDENCY = Verdict(Status.SATISFIED, None)
# At most this many tasks of one array are offered to a single pass.
MAX_TASKS_PER_PASS = 10000


@dataclass(frozen=True, slots=True)
class PassPlan:
    """What a scheduling pass decides on, taken from the live queue at one instant."""

    now: float
    snapshot: dict[int, Job]  # every pending job as it was
    gated: dict[int, Reason]  # held back before the pass: dependencies, begin time, holds
    doomed: list[int]  # dependencies that can never be met, with --kill-on-invalid-dep
    candidates: list[Job]  # what the pass may start (pending array tasks offered one by one)
    origin: dict[int, tuple[int, int]]  # candidate id → (array record id, task id)
    active: list[Job]
    nodes: dict[str, NodeResources]


class QueuePasses(JobBook):
    """The scheduling pass: plan (gate, offer array tasks, snapshot), decide (pure, maybe in a
    worker thread), apply (start, set reasons, preempt); and what users ask of its results."""

    def _context(self) -> SchedulingContext:
        accounts = self.accounting.tree if self.settings.enforce_associations else None
        return SchedulingContext(self.settings.policy, accounts, self.accounting.usage)

    def nodes_view(self, active: Sequence[Job], now: float) -> dict[str, NodeResources]:
        nodes = self.registry.resources(active, now, self.settings.node_timeout)
        if self.settings.node_features:
            nodes = {name: replace(view, features=self.settings.features_of(name))
                     for name, view in nodes.items()}
        return nodes

    def _cycle(self, pending: Sequence[Job], now: float, scheduler: Scheduler) -> CycleResult:
        active = [j for j in self.current() if j.state.is_active]
        return scheduler.full_pass(pending, active, self.nodes_view(active, now), now)

    async def schedule(self) -> CycleResult:
        """One whole pass, in the caller's thread (tests, the simulator's comparison)."""
        plan = await self.plan_pass()
        return await self.apply_pass(plan, self.decide(plan))

    def decide(self, plan: PassPlan) -> CycleResult:
        """The pure part of a pass, on the plan's snapshot: safe to run in a worker thread
        while the API goes on changing the live queue (apply_pass sorts that out)."""
        return self.scheduler.full_pass(plan.candidates, plan.active, plan.nodes, plan.now)

    async def plan_pass(self) -> PassPlan:
        """Gates dependencies and begin times, offers array tasks, charges usage, and takes
        the snapshot a pass decides on (jobs as their last change left them: a job whose
        change is still on its way to the store is planned as it will be)."""
        now = self.clock()
        await self._return_stranded_launches(now)
        pending = [j for j in self.current() if j.state is JobState.PENDING]
        past = expired(pending, now)  # --deadline: PENDING -> DEADLINE before the pass
        if past:
            await self.transition([(job_id, DeadlinePassed()) for job_id in past
                                   if self._is_pending(job_id)], cause="deadline")
            pending = [j for j in self.current() if j.state is JobState.PENDING]
        # Nothing is awaited from here on: the plan is taken at one instant.
        # The index walks the whole queue: build it only in passes that have dependencies.
        index = DependencyIndex(self.current(), self.ended) \
            if any(j.dependency for j in pending) else None
        considered: list[Job] = []
        gated: dict[int, Reason] = {}
        doomed: list[int] = []
        for job in pending:
            verdict = index.verdict(job, now, own_task=job.array_task_id) if index and job.dependency \
                else NO_DEPENDENCY
            if verdict.shown != job.dependency_shown and job.job_id not in self.pending:
                # What the pass shows is not committed; a job with a change on its way
                # shows it after the next pass.
                job = self.jobs[job.job_id] = replace(job, dependency_shown=verdict.shown)
            reason = None if job.held else gate_reason(job, verdict, now)
            if reason is None and self._waits_for_preemptor(job.job_id):
                # Requeued by a preemption: its preemptor goes first (Slurm shows BeginTime).
                reason = Reason.BEGIN_TIME
            if reason is None:
                considered.append(job)
                continue
            gated[job.job_id] = reason
            if verdict.status is Status.NEVER and job.spec.kill_on_invalid_dep:
                doomed.append(job.job_id)
        candidates, origin, blocked = self._offer_arrays(considered, index, now)
        offered = {meta_id for meta_id, _ in origin.values()}
        for job in considered:
            # An array none of whose tasks was offered is held back by its throttle alone.
            if job.array_tasks is not None and job.array_throttle and job.job_id not in offered \
                    and job.job_id not in blocked:
                gated[job.job_id] = Reason.JOB_ARRAY_TASK_LIMIT
        for meta_id, verdict in blocked.items():
            # Every offered task still waits for its partner task (aftercorr).
            meta = self.latest(meta_id)
            assert meta is not None
            gated[meta_id] = gate_reason(meta, verdict, now) or Reason.DEPENDENCY
            if meta_id not in self.pending:
                self.jobs[meta_id] = replace(meta, dependency_shown=verdict.shown)
        self.accounting.accrue(self.current(), now)
        self.scheduler.set_context(self._context())
        active = [j for j in self.current() if j.state.is_active]
        snapshot = {j.job_id: latest for j in pending
                    if (latest := self.latest(j.job_id)) is not None}
        return PassPlan(now, snapshot, gated, doomed, candidates, origin, active,
                        self.nodes_view(active, now))

    def _is_pending(self, job_id: int) -> bool:
        job = self.latest(job_id)
        return job is not None and job.state is JobState.PENDING

    async def apply_pass(self, plan: PassPlan, result: CycleResult) -> CycleResult:
        """Applies a pass's decisions to the jobs it decided on that are still as they were;
        a job cancelled, held or changed meanwhile is left for the next pass. Its changes
        are made at one instant (nothing comes between them), then their commit awaited."""
        self.last_cycle = result
        origin, gated = plan.origin, plan.gated
        # A pending array shows the reason of its lowest offered task.
        first_candidate = {meta: cid for cid, (meta, _) in
                           sorted(origin.items(), key=lambda item: item[1][1], reverse=True)}
        reserved = {r.job_id: r.nodes for r in result.reservations}
        for job_id, seen in plan.snapshot.items():
            job = self.latest(job_id)
            if job is not seen or job is None:
                continue
            key = first_candidate.get(job_id, job_id)
            reason = gated.get(job_id) or result.reasons.get(key)
            estimate = None if job_id in gated else result.estimates.get(key)
            sched = () if job_id in gated else tuple(sorted(reserved.get(key, ())))
            priority = result.priorities.get(key, job.priority)
            if reason is None:  # it starts: keep what the pass last said, but its priority
                reason, estimate, sched = job.reason, job.estimated_start, job.sched_nodes
            if (reason, estimate, priority, sched) != (job.reason, job.estimated_start,
                                                       job.priority, job.sched_nodes) \
                    and job_id not in self.pending:  # shown after the next pass, else
                updated = replace(job, reason=reason, estimated_start=estimate, priority=priority,
                                  sched_nodes=sched)
                self.jobs[job_id] = plan.snapshot[job_id] = updated
        # An array task starts from its array's record: that record must be unchanged.
        records = [origin[s.job_id][0] if s.job_id in origin else s.job_id for s in result.starts]
        still = [s for s, rid in zip(result.starts, records, strict=True)
                 if self.latest(rid) is plan.snapshot.get(rid)]
        commits: list[Awaitable[None]] = []
        starts = self._split_started(still, origin, commits)
        if starts:
            done, _ = self._stage_transition([(s.job_id, JobAllocated(s.allocation))
                                              for s in starts])
            commits.append(done)
        self._preempt(result, commits)
        if plan.doomed:
            done, _ = self._stage_transition([(job_id, JobCancelled(0)) for job_id in plan.doomed
                                              if self._is_pending(job_id)], cause="dependency")
            commits.append(done)
        for done in commits:
            await done
        return result

    def _preempt(self, result: CycleResult, commits: list[Awaitable[None]]) -> None:
        """Signals the jobs the pass chose to make room for a higher QOS; each ends (or is
        requeued) after its QOS's GraceTime, and its nodes go to the preemptor next pass."""
        events: list[tuple[int, Event]] = []
        self.preempting = {v: p for v, p in self.preempting.items()
                           if (job := self.latest(v)) is not None and not job.state.is_terminal
                           and self._waits_for_preemptor(v)}
        # A preemptor whose victims are still in their grace time is already served: the
        # pass does not see their resources coming free and would pick more victims.
        waiting = {p for v, p in self.preempting.items()
                   if (job := self.latest(v)) is not None and job.state.is_active}
        for p in result.preemptions:
            victim = self.latest(p.job_id)
            if victim is None or victim.state is not JobState.RUNNING or p.for_job in waiting:
                continue
            self.preempting[p.job_id] = p.for_job
            log.info("preempting job %s for job %s (%s)", p.job_id, p.for_job, p.mode.value)
            events.append((p.job_id, JobPreempted(p.for_job, requeue=p.mode is PreemptMode.REQUEUE,
                                                  grace_time=p.grace_time)))
        if events:
            commits.append(self._stage_transition(events, cause="preempt")[0])

    def _waits_for_preemptor(self, victim_id: int) -> bool:
        preemptor = self.latest(self.preempting.get(victim_id, -1))
        return preemptor is not None and preemptor.state is JobState.PENDING

    def _offer_arrays(self, considered: Sequence[Job], index: DependencyIndex | None, now: float
                      ) -> tuple[list[Job], dict[int, tuple[int, int]], dict[int, Verdict]]:
        """Pending arrays contribute as many candidate tasks as could start now (and the
        throttle allows); returns the candidates, {candidate id: (array record id, task)},
        and the arrays none of whose offered tasks may start yet (aftercorr), with why."""
        arrays_pending = [j for j in considered if j.array_tasks is not None]
        blocked: dict[int, Verdict] = {}
        if not arrays_pending:
            return list(considered), {}, blocked
        active = [j for j in self.current() if j.state.is_active]
        views = self.registry.resources(active, now, self.settings.node_timeout)
        free_cpus = sum(v.free_cpus for v in views.values() if v.available)
        running: dict[int, int] = {}
        for job in active:
            if job.array_job_id is not None:
                running[job.array_job_id] = running.get(job.array_job_id, 0) + 1
        candidates = [j for j in considered if j.array_tasks is None]
        origin: dict[int, tuple[int, int]] = {}
        provisional = self.next_id
        for meta in arrays_pending:
            count = min(MAX_TASKS_PER_PASS, free_cpus // max(1, meta.spec.cpus_per_node()) + 1)
            if meta.array_throttle:
                count = min(count, meta.array_throttle - running.get(meta.job_id, 0))
            if count <= 0:
                continue
            offered = arrays.offer(meta, count, provisional)
            provisional += len(offered)
            if index is not None and meta.dependency and "aftercorr" in meta.dependency:
                verdicts = [index.verdict(meta, now, own_task=c.array_task_id) for c in offered]
                if offered and all(v.status is not Status.SATISFIED for v in verdicts):
                    blocked[meta.job_id] = verdicts[0]
                offered = [c for c, v in zip(offered, verdicts, strict=True)
                           if v.status is Status.SATISFIED]
            for candidate in offered:
                origin[candidate.job_id] = (meta.job_id, candidate.array_task_id or 0)
            candidates.extend(offered)
        return candidates, origin, blocked

    def _split_started(self, starts: Sequence[Start], origin: dict[int, tuple[int, int]],
                       commits: list[Awaitable[None]]) -> list[Start]:
        """Gives each started array task a record of its own (the change's commit goes to
        `commits`); returns starts by real job id."""
        by_array: dict[int, list[Start]] = {}
        real: list[Start] = []
        for start in starts:
            if start.job_id in origin:
                by_array.setdefault(origin[start.job_id][0], []).append(start)
            else:
                real.append(start)
        if not by_array:
            return real
        changes: list[tuple[Job, Event | None, bool]] = []
        new_ids = self._fresh_ids()
        for meta_id, started in by_array.items():
            tasks = [origin[s.job_id][1] for s in started]
            meta = self.latest(meta_id)
            assert meta is not None
            meta_after, fresh, ids = arrays.split(meta, tasks, new_ids)
            changes.append((meta_after, None, False))
            changes.extend((job, None, True) for job in fresh)
            real.extend(replace(s, job_id=ids[origin[s.job_id][1]]) for s in started)
        commits.append(self._stage(changes, uuid.uuid4().hex[:12], kind="ArrayTaskSplit"))
        return real

    # -- what users ask of the scheduler -----------------------------------------------------

    def priority_factors(self, *, user: str | None, job_ids: Sequence[int]) -> dict[str, Any]:
        """sprio: each pending job's priority factors, as the last pass weighed them."""
        config = self.settings.policy.priority
        calc = self.scheduler.calc
        now = self.clock()
        rows = []
        for job in sorted(self.select(job_ids=job_ids, user=user, states=("PENDING",)),
                          key=lambda j: j.job_id):
            f = calc.factors(job, now) if calc is not None else None
            rows.append({"job_id": job.job_id, "user": job.spec.user, "account": job.spec.account,
                         "partition": job.partition, "qos": job.spec.qos,
                         "priority": f.priority if f else job.priority,
                         "age": f.age if f else 0.0, "fairshare": f.fairshare if f else 0.0,
                         "job_size": f.job_size if f else 0.0,
                         "partition_factor": f.partition if f else 0.0,
                         "qos_factor": f.qos if f else 0.0, "nice": job.nice})
        return {"type": config.type,
                "weights": {"age": config.weight_age, "fairshare": config.weight_fairshare,
                            "jobsize": config.weight_job_size, "partition": config.weight_partition,
                            "qos": config.weight_qos},
                "jobs": rows}

    def why(self, job_id: int) -> dict[str, Any]:
        """`corral why`: the job's situation in plain words."""
        job = self.get(job_id)
        now = self.clock()
        if job.state is JobState.PENDING:
            last = self.last_cycle
            estimates = {job_id: job.estimated_start} if job.estimated_start else {}
            seen = CycleResult((), {job_id: job.reason}, estimates,
                               preemptions=last.preemptions if last else (),
                               reservations=last.reservations if last else (),
                               details=last.details if last else {}, now=now)
            text = explain(seen, job)
        elif job.state is JobState.RUNNING:
            text = (f"Job {job_id} is running on {', '.join(job.nodes)} since "
                    f"{format_timestamp(job.start_time)}")
            end = job.expected_end()
            text += (f"; its time limit ends it by {format_timestamp(end)}." if end != math.inf
                     else " without a time limit.")
        elif job.state is JobState.COMPLETING:
            text = (f"Job {job_id} is ending: " + ("it was preempted for a job of a higher QOS and "
                                                   "gets its grace time to finish."
                    if job.preempted else "its processes are being stopped."))
        else:
            text = (f"Job {job_id} ended {job.state.value} at {format_timestamp(job.end_time)}"
                    f" (exit code {job.exit_code}:{job.exit_signal}).")
        return {"job_id": job_id, "state": job.state.value, "reason": job.reason.value,
                "text": text}

    def purge(self) -> None:
        """Ended jobs leave the live queue after MinJobAge; sacct still has them."""
        cutoff = self.clock() - self.settings.min_job_age
        for job_id in [j.job_id for j in self.jobs.values()
                       if j.state.is_terminal and (j.end_time or 0) < cutoff
                       and j.job_id not in self.pending]:
            job = self.jobs.pop(job_id)
            self.ended[job_id] = (job.array_job_id, ref_of(job))


