"""The job manager: the live queue in memory, every change committed to the store before it is
acknowledged, transitions applied through core.lifecycle, effects handed to the agents."""

from __future__ import annotations

import logging
import math
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any

from corral.controller import arrays
from corral.controller.accounting import Accounting
from corral.controller.auth import Caller
from corral.controller.dependencies import (
    DependencyIndex,
    Verdict,
    gate_reason,
    ref_of,
    validate_dependency,
)
from corral.controller.launch import launch_payload, resolve_outputs
from corral.controller.nodes import NodeRegistry
from corral.controller.steps import settle_report
from corral.core.cycle import CycleResult, Start, priority_of
from corral.core.decisions import SchedulingContext
from corral.core.dependencies import RefJob, Status
from corral.core.explain import explain
from corral.core.lifecycle import apply
from corral.core.scheduler import Scheduler
from corral.core.selection import never_fits_reason, per_node_request, spread
from corral.model.accounts import PreemptMode
from corral.model.arrays import ArraySpecError, fold, parse_array, parse_indices
from corral.model.cluster import NodeResources, Partition
from corral.model.effects import Effect, LaunchJob, ReleaseResources, SignalJob
from corral.model.errors import InvalidRequest, NotFound, PermissionDenied
from corral.model.events import (
    AllocationEnded,
    Event,
    JobAllocated,
    JobCancelled,
    JobFinished,
    JobHeld,
    JobPreempted,
    JobReleased,
    JobRequeued,
    JobStarted,
    JobUpdated,
    NodeFailed,
)
from corral.model.job import Job, JobSpec, job_to_dict
from corral.model.states import JobState, Reason
from corral.model.timefmt import format_timestamp
from corral.settings import ControllerSettings
from corral.store.store import EventRecord, Store

log = logging.getLogger("corral.controller")

# An allocation without a batch script (salloc, srun outside a job) is held by this script:
# it waits until released (SIGTERM → exit 0, COMPLETED) or cancelled or timed out.
HOLDER_SCRIPT = """#!/bin/sh
trap 'exit 0' TERM
while :; do sleep 3600 & wait $!; done
"""
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


def _event_payload(event: Event) -> dict[str, Any]:
    data = job_to_dict(event)  # type: ignore[arg-type]
    return data if isinstance(data, dict) else {}


class JobManager:
    def __init__(self, settings: ControllerSettings, store: Store, registry: NodeRegistry,
                 clock: Callable[[], float], on_change: Callable[[], None] = lambda: None) -> None:
        self.settings = settings
        self.store = store
        self.registry = registry
        self.clock = clock
        self.on_change = on_change
        self.partitions = {p.name: p for p in settings.partitions}
        self.jobs: dict[int, Job] = {}
        self.next_id = 1
        self.last_cycle: CycleResult | None = None
        # What dependencies still need to know of jobs that have left the live queue.
        self.ended: dict[int, tuple[int | None, RefJob]] = {}
        self.controller_addr = f"{settings.host}:{settings.port}"
        self.accounting = Accounting(settings, store, clock)
        # Preempted job → its preemptor, while the preemptor waits: the victim's grace time,
        # and, when it was requeued, until the preemptor has started.
        self.preempting: dict[int, int] = {}
        # One scheduler for the controller's life: it keeps per-job facts between passes.
        self.scheduler = Scheduler(self.partitions, self._context())

    def load(self) -> None:
        now = self.clock()
        for job in self.store.load_live(now - self.settings.min_job_age):
            self.jobs[job.job_id] = job
        self.next_id = self.store.max_job_id() + 1

    # -- helpers -----------------------------------------------------------------------------

    def default_partition(self) -> Partition:
        for partition in self.partitions.values():
            if partition.default:
                return partition
        return next(iter(self.partitions.values()))

    def get(self, job_id: int) -> Job:
        job = self.jobs.get(job_id)
        if job is None:
            raise NotFound("Invalid job id specified")
        return job

    def _commit(self, changes: Sequence[tuple[Job, Event | None, bool]], cause: str,
                kind: str = "JobSubmitted") -> None:
        now = self.clock()
        records = [EventRecord(job.job_id, now, type(ev).__name__ if ev else kind,
                               _event_payload(ev) if ev else {}, cause)
                   for job, ev, _ in changes]
        self.store.commit([(job, new) for job, _, new in changes], records)
        for job, _, _ in changes:
            self.jobs[job.job_id] = job

    def record(self, job: Job, kind: str, payload: dict[str, Any], cause: str | None = None) -> Job:
        """Commits a change that is not a state transition (a step began or ended) with its event."""
        record = EventRecord(job.job_id, self.clock(), kind, payload, cause or uuid.uuid4().hex[:12])
        self.store.commit([(job, False)], [record])
        self.jobs[job.job_id] = job
        return job

    def transition(self, items: Iterable[tuple[int, Event]], cause: str | None = None) -> list[Job]:
        """Applies events, commits them in one transaction, then carries out their effects."""
        now = self.clock()
        cause = cause or uuid.uuid4().hex[:12]
        changes: list[tuple[Job, Event | None, bool]] = []
        effects: list[Effect] = []
        for job_id, event in items:
            current = changes_job(changes, job_id) or self.jobs[job_id]
            result = apply(current, event, now)
            changes.append((result.job, event, False))
            effects.extend(result.effects)
        if not changes:
            return []
        self._commit(changes, cause)
        for effect in effects:
            self._carry_out(effect)
        self.on_change()
        return [self.jobs[j.job_id] for j, _, _ in changes]

    def _carry_out(self, effect: Effect) -> None:
        job = self.jobs[effect.job_id]
        if isinstance(effect, LaunchJob):
            host, payload = launch_payload(job, cluster=self.settings.cluster_name,
                                           kill_wait=self.settings.kill_wait,
                                           controller_addr=self.controller_addr,
                                           token_key=self.settings.job_token_key,
                                           socket_path=str(self.settings.socket_path))
            self.registry.send(host, {"kind": "launch", "job_id": job.job_id,
                                      "attempt": job.attempt, "launch": payload})
        elif isinstance(effect, SignalJob) and effect.nodes:
            command = {"kind": "cancel", "job_id": effect.job_id, "attempt": effect.attempt}
            if effect.grace is not None:
                command.update(kill_wait=effect.grace, why=effect.why)
            self.registry.send(effect.nodes[0], command)
        elif isinstance(effect, ReleaseResources):
            pass  # resources are derived from the active jobs; nothing to hand back

    # -- submit ------------------------------------------------------------------------------

    def build_job(self, spec: JobSpec, job_id: int, now: float) -> Job:
        spec = self.accounting.admit(spec)
        if spec.partition:
            partition = self.partitions.get(spec.partition)
            if partition is None:
                raise InvalidRequest(f"invalid partition specified: {spec.partition}\n"
                                     "Batch job submission failed: Invalid partition name specified")
        else:
            partition = self.default_partition()
        nodes = self.nodes_view([], now)
        spec = spread(spec, [n for n in nodes.values() if partition.contains(n.name)])
        time_limit = spec.time_limit
        if time_limit is None:
            time_limit = partition.default_time if partition.default_time is not None else partition.max_time
        mem = spec.mem_per_node
        if mem is None:
            per_cpu = spec.mem_per_cpu or self.settings.def_mem_per_cpu
            mem = per_cpu * spec.cpus_per_node()
        if spec.interactive:
            spec = replace(spec, script=HOLDER_SCRIPT)
        elif not spec.script.strip():
            raise InvalidRequest("Batch job submission failed: Batch script is empty")
        job = Job(job_id=job_id, spec=spec, state=JobState.PENDING, submit_time=now,
                  partition=partition.name, mem_per_node=mem, time_limit=time_limit,
                  held=spec.hold, nice=spec.nice, name=spec.name,
                  eligible_time=max(now, spec.begin_time or now),
                  reason=Reason.HELD_USER if spec.hold else Reason.NONE,
                  dependency=spec.dependency)
        if spec.array is not None:
            try:
                ids, throttle = parse_array(spec.array, self.settings.max_array_size)
            except ArraySpecError as exc:
                raise InvalidRequest(f"Batch job submission failed: {exc}") from None
            job = replace(job, array_job_id=job_id, array_tasks=fold(ids), array_throttle=throttle)
        if spec.dependency is not None:
            validate_dependency(spec.dependency, self.job_exists)
        job = replace(job, priority=priority_of(job))
        problem = never_fits_reason(job, per_node_request(spec, mem), partition, list(nodes.values()))
        if problem:
            raise InvalidRequest(f"{problem}\nBatch job submission failed: "
                                 "Requested node configuration is not available")
        self.accounting.check(job, partition, self.scheduler.limits)
        return job

    def job_exists(self, job_id: int) -> bool:
        return (job_id in self.jobs or job_id in self.ended
                or bool(self.store.history(job_ids=[job_id])))

    def submit(self, spec: JobSpec, caller: Caller, *, test_only: bool = False) -> Job:
        if caller.uid != spec.uid and not caller.operator:
            raise PermissionDenied("Access/permission denied: cannot submit as another user")
        now = self.clock()
        job = self.build_job(spec, self.next_id, now)
        if test_only:
            return job
        self.next_id += 1
        self._commit([(job, None, True)], uuid.uuid4().hex[:12])
        self.on_change()
        return job

    def test_only(self, job: Job) -> CycleResult:
        now = self.clock()
        pending = [j for j in self.jobs.values() if j.state is JobState.PENDING] + [job]
        # A scheduler of its own: the live one must not remember a job that was never queued.
        return self._cycle(pending, now, Scheduler(self.partitions, self._context()))

    # -- user actions ------------------------------------------------------------------------

    def _owned(self, job_id: int, caller: Caller) -> Job:
        job = self.get(job_id)
        if not caller.may_change(job):
            raise PermissionDenied()
        return job

    def select(self, *, job_ids: Sequence[int] = (), user: str | None = None,
               name: str | None = None, states: Sequence[str] = (),
               partition: str | None = None) -> list[Job]:
        if job_ids:
            wanted = set(job_ids)
            chosen = [j for j in self.jobs.values()
                      if j.job_id in wanted or j.array_job_id in wanted]
        else:
            chosen = list(self.jobs.values())
        return [j for j in chosen
                if (user is None or j.spec.user == user) and (name is None or j.name == name)
                and (not states or j.state.value in states)
                and (partition is None or j.partition == partition)]

    def cancel(self, jobs: Sequence[Job], caller: Caller, signal: int | None = None,
               batch_only: bool = False) -> tuple[list[int], list[dict[str, Any]]]:
        done: list[int] = []
        errors: list[dict[str, Any]] = []
        events: list[tuple[int, Event]] = []
        for job in jobs:
            if job.state.is_terminal:
                continue
            if not caller.may_change(job):
                errors.append({"job_id": job.job_id, "error": "Access/permission denied"})
                continue
            if signal is not None and signal != 9:
                if job.state is JobState.RUNNING and job.nodes:
                    self.registry.send(job.nodes[0], {"kind": "signal", "job_id": job.job_id,
                                                      "attempt": job.attempt, "signal": signal,
                                                      "batch_only": batch_only})
                    done.append(job.job_id)
                continue
            events.append((job.job_id, JobCancelled(caller.uid)))
            done.append(job.job_id)
        self.transition(events)
        return done, errors

    def resolve(self, ids: Sequence[int | str]) -> tuple[list[Job], dict[int, set[int]]]:
        """Slurm's job id forms → (whole jobs, {array id: pending tasks still inside it}).

        `12` is job 12 or, for an array, all its tasks; `12_7` and `12_[1-3]` name tasks,
        split off or still pending in the array's record.
        """
        whole: list[int] = []
        tasks: dict[int, set[int]] = {}
        for item in ids:
            text = str(item).strip()
            base, _, task_text = text.partition("_")
            if not base.isdigit() or (task_text and not task_text.strip("[]")):
                raise InvalidRequest(f"Invalid job id specified: {text}")
            if not task_text:
                whole.append(int(base))
                continue
            try:
                wanted = parse_indices(task_text, self.settings.max_array_size)
            except ValueError:
                raise InvalidRequest(f"Invalid job id specified: {text}") from None
            tasks.setdefault(int(base), set()).update(wanted)
        jobs = self.select(job_ids=whole) if whole else []
        pending: dict[int, set[int]] = {}
        for array_id, wanted in tasks.items():
            members = [j for j in self.jobs.values() if j.array_job_id == array_id]
            for job in members:
                if job.array_task_id in wanted:
                    jobs.append(job)
                elif job.array_tasks and job.state is JobState.PENDING:
                    inside = wanted & set(parse_indices(job.array_tasks))
                    if inside:
                        pending[job.job_id] = inside
        return jobs, pending

    def cancel_pending_tasks(self, pending: dict[int, set[int]], caller: Caller) -> tuple[list[str], list[dict[str, Any]]]:
        """Cancels tasks still inside a pending array's record: each becomes its own record."""
        done: list[str] = []
        errors: list[dict[str, Any]] = []
        new_ids = self._fresh_ids()
        for meta_id, tasks in pending.items():
            meta = self.jobs[meta_id]
            if not caller.may_change(meta):
                errors.append({"job_id": meta_id, "error": "Access/permission denied"})
                continue
            meta_after, fresh, ids = arrays.split(meta, sorted(tasks), new_ids)
            self._commit([(meta_after, None, False)] + [(j, None, True) for j in fresh],
                         uuid.uuid4().hex[:12], kind="ArrayTaskSplit")
            self.transition([(job_id, JobCancelled(caller.uid)) for job_id in ids.values()])
            done.extend(f"{meta_id}_{t}" for t in sorted(tasks))
        return done, errors

    def _fresh_ids(self) -> Iterator[int]:
        """Hands out job ids; next_id follows along, so none is given twice."""
        while True:
            job_id = self.next_id
            self.next_id += 1
            yield job_id

    def hold(self, job_id: int, caller: Caller) -> Job:
        job = self._owned(job_id, caller)
        if job.state is not JobState.PENDING:
            raise InvalidRequest("Job is no longer pending execution")
        return self.transition([(job_id, JobHeld(caller.uid))])[0]

    def release(self, job_id: int, caller: Caller) -> Job:
        job = self._owned(job_id, caller)
        if job.state is not JobState.PENDING:
            raise InvalidRequest("Job is no longer pending execution")
        return self.transition([(job_id, JobReleased(caller.uid))])[0]

    def end_allocation(self, job_id: int, caller: Caller, exit_code: int, exit_signal: int) -> Job:
        """salloc's command or srun's step ended (Slurm's slurm_complete_job): the allocation
        ends with that status; one still pending is cancelled, one already over stays so."""
        job = self._owned(job_id, caller)
        if not job.spec.interactive:
            raise InvalidRequest("Job is not an allocation (it has a batch script)")
        if job.state is JobState.PENDING:
            return self.transition([(job_id, JobCancelled(caller.uid))])[0]
        if job.state.is_terminal:
            return job
        return self.transition([(job_id, AllocationEnded(exit_code, exit_signal))])[0]

    def requeue(self, job_id: int, caller: Caller) -> Job:
        job = self._owned(job_id, caller)
        if job.state in (JobState.PENDING, JobState.COMPLETING):
            raise InvalidRequest("Job is pending execution" if job.state is JobState.PENDING
                                 else "Job is currently being requeued or completing")
        if not job.spec.requeue:
            raise InvalidRequest("Requested operation is presently disabled")
        return self.transition([(job_id, JobRequeued(caller.uid))])[0]

    def update(self, job_id: int, changes: dict[str, Any], caller: Caller) -> Job:
        job = self._owned(job_id, caller)
        if job.state.is_terminal:
            raise InvalidRequest("Job has already finished")
        if "time_limit" in changes and not caller.operator:
            new, old = changes["time_limit"], job.time_limit
            if old is not None and (new is None or new > old):
                raise PermissionDenied("Access/permission denied: only an operator can raise a time limit")
        if "nice" in changes and changes["nice"] < 0 and not caller.operator:
            raise PermissionDenied("Access/permission denied: only an operator can set a negative nice")
        if "dependency" in changes:
            if job.state is not JobState.PENDING:
                raise InvalidRequest("Job is no longer pending execution")
            text = (changes["dependency"] or "").strip()
            if text in ("", "0"):
                changes = {**changes, "dependency": None, "dependency_shown": None}
            else:
                validate_dependency(text, self.job_exists)
                changes = {**changes, "dependency": text}
        updated = self.transition([(job_id, JobUpdated(changes))])[0]
        if "nice" in changes:
            updated = replace(updated, priority=priority_of(updated))
            self.jobs[job_id] = updated
        if "time_limit" in changes and updated.state is JobState.RUNNING and updated.nodes:
            self.registry.send(updated.nodes[0], {"kind": "time_limit", "job_id": job_id,
                                                  "attempt": updated.attempt,
                                                  "time_limit": changes["time_limit"]})
        return updated

    # -- scheduling --------------------------------------------------------------------------

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
        active = [j for j in self.jobs.values() if j.state.is_active]
        return scheduler.full_pass(pending, active, self.nodes_view(active, now), now)

    def schedule(self) -> CycleResult:
        """One whole pass, in the caller's thread (tests, the simulator's comparison)."""
        plan = self.plan_pass()
        return self.apply_pass(plan, self.decide(plan))

    def decide(self, plan: PassPlan) -> CycleResult:
        """The pure part of a pass, on the plan's snapshot: safe to run in a worker thread
        while the API goes on changing the live queue (apply_pass sorts that out)."""
        return self.scheduler.full_pass(plan.candidates, plan.active, plan.nodes, plan.now)

    def plan_pass(self) -> PassPlan:
        """Gates dependencies and begin times, offers array tasks, charges usage, and takes
        the snapshot a pass decides on."""
        now = self.clock()
        self._return_stranded_launches(now)
        pending = [j for j in self.jobs.values() if j.state is JobState.PENDING]
        # The index walks the whole queue: build it only in passes that have dependencies.
        index = DependencyIndex(self.jobs.values(), self.ended) \
            if any(j.dependency for j in pending) else None
        considered: list[Job] = []
        gated: dict[int, Reason] = {}
        doomed: list[int] = []
        for job in pending:
            verdict = index.verdict(job, now, own_task=job.array_task_id) if index and job.dependency \
                else NO_DEPENDENCY
            if verdict.shown != job.dependency_shown:
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
            gated[meta_id] = gate_reason(self.jobs[meta_id], verdict, now) or Reason.DEPENDENCY
            self.jobs[meta_id] = replace(self.jobs[meta_id], dependency_shown=verdict.shown)
        self.accounting.accrue(self.jobs.values(), now)
        self.scheduler.set_context(self._context())
        active = [j for j in self.jobs.values() if j.state.is_active]
        snapshot = {j.job_id: self.jobs[j.job_id] for j in pending}
        return PassPlan(now, snapshot, gated, doomed, candidates, origin, active,
                        self.nodes_view(active, now))

    def apply_pass(self, plan: PassPlan, result: CycleResult) -> CycleResult:
        """Applies a pass's decisions to the jobs it decided on that are still as they were;
        a job cancelled, held or changed meanwhile is left for the next pass."""
        self.last_cycle = result
        origin, gated = plan.origin, plan.gated
        # A pending array shows the reason of its lowest offered task.
        first_candidate = {meta: cid for cid, (meta, _) in
                           sorted(origin.items(), key=lambda item: item[1][1], reverse=True)}
        reserved = {r.job_id: r.nodes for r in result.reservations}
        for job_id, seen in plan.snapshot.items():
            job = self.jobs.get(job_id)
            if job is not seen:
                continue
            key = first_candidate.get(job_id, job_id)
            reason = gated.get(job_id) or result.reasons.get(key)
            estimate = None if job_id in gated else result.estimates.get(key)
            sched = () if job_id in gated else tuple(sorted(reserved.get(key, ())))
            priority = result.priorities.get(key, job.priority)
            if reason is None:  # it starts: keep what the pass last said, but its priority
                reason, estimate, sched = job.reason, job.estimated_start, job.sched_nodes
            if (reason, estimate, priority, sched) != (job.reason, job.estimated_start,
                                                       job.priority, job.sched_nodes):
                updated = replace(job, reason=reason, estimated_start=estimate, priority=priority,
                                  sched_nodes=sched)
                self.jobs[job_id] = plan.snapshot[job_id] = updated
        # An array task starts from its array's record: that record must be unchanged.
        records = [origin[s.job_id][0] if s.job_id in origin else s.job_id for s in result.starts]
        still = [s for s, rid in zip(result.starts, records, strict=True)
                 if self.jobs.get(rid) is plan.snapshot.get(rid)]
        starts = self._split_started(still, origin)
        if starts:
            self.transition([(s.job_id, JobAllocated(s.allocation)) for s in starts])
        self._preempt(result)
        if plan.doomed:
            self.transition([(job_id, JobCancelled(0)) for job_id in plan.doomed
                             if self.jobs[job_id].state is JobState.PENDING], cause="dependency")
        return result

    def _preempt(self, result: CycleResult) -> None:
        """Signals the jobs the pass chose to make room for a higher QOS; each ends (or is
        requeued) after its QOS's GraceTime, and its nodes go to the preemptor next pass."""
        events: list[tuple[int, Event]] = []
        self.preempting = {v: p for v, p in self.preempting.items()
                           if v in self.jobs and not self.jobs[v].state.is_terminal
                           and self._waits_for_preemptor(v)}
        # A preemptor whose victims are still in their grace time is already served: the
        # pass does not see their resources coming free and would pick more victims.
        waiting = {p for v, p in self.preempting.items() if self.jobs[v].state.is_active}
        for p in result.preemptions:
            victim = self.jobs.get(p.job_id)
            if victim is None or victim.state is not JobState.RUNNING or p.for_job in waiting:
                continue
            self.preempting[p.job_id] = p.for_job
            log.info("preempting job %s for job %s (%s)", p.job_id, p.for_job, p.mode.value)
            events.append((p.job_id, JobPreempted(p.for_job, requeue=p.mode is PreemptMode.REQUEUE,
                                                  grace_time=p.grace_time)))
        if events:
            self.transition(events, cause="preempt")

    def _waits_for_preemptor(self, victim_id: int) -> bool:
        preemptor = self.jobs.get(self.preempting.get(victim_id, -1))
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
        active = [j for j in self.jobs.values() if j.state.is_active]
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

    def _split_started(self, starts: Sequence[Start], origin: dict[int, tuple[int, int]]) -> list[Start]:
        """Gives each started array task a record of its own; returns starts by real job id."""
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
            meta_after, fresh, ids = arrays.split(self.jobs[meta_id], tasks, new_ids)
            changes.append((meta_after, None, False))
            changes.extend((job, None, True) for job in fresh)
            real.extend(replace(s, job_id=ids[origin[s.job_id][1]]) for s in started)
        self._commit(changes, uuid.uuid4().hex[:12], kind="ArrayTaskSplit")
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

    # -- agents ------------------------------------------------------------------------------

    def agent_reports(self, node: str, reports: Sequence[dict[str, Any]]) -> None:
        events: list[tuple[int, Event]] = []
        for report in reports:
            if str(report.get("event", "")).startswith("step_"):
                settle_report(self, node, report)  # srun steps: controller/steps.py
                continue
            job = self.jobs.get(int(report["job_id"]))
            if job is None or job.attempt != int(report["attempt"]) or not job.nodes \
                    or job.nodes[0] != node or not job.state.is_active:
                continue  # stale: an older attempt, or already settled
            if report["event"] == "started":
                if not job.launched:
                    events.append((job.job_id, JobStarted()))
            elif report.get("node_fail"):
                # The node lost the job's supervisor (it rebooted, or its processes were
                # killed with the agent's): the node failed the job, the job did not fail.
                log.warning("node %s lost job %s", node, job.job_id)
                events.append((job.job_id, NodeFailed(node, requeue=self._requeue_on_node_fail(job))))
            else:
                events.append((job.job_id, JobFinished(
                    exit_code=int(report.get("exit_code", 0)),
                    exit_signal=int(report.get("exit_signal", 0)),
                    timed_out=bool(report.get("timed_out")),
                    out_of_memory=bool(report.get("out_of_memory")),
                    launch_failed=bool(report.get("launch_failed")),
                    max_rss_kb=report.get("max_rss_kb"), total_cpu_s=report.get("total_cpu_s"),
                    user_cpu_s=report.get("user_cpu_s"), system_cpu_s=report.get("system_cpu_s"),
                    gpu_util=report.get("gpu_util"), gpu_mem_kb=report.get("gpu_mem_kb"),
                    gpu_idle=report.get("gpu_idle"),
                    end_time=report.get("end_time"))))
        self.transition(events, cause=f"agent:{node}")

    def reconcile(self, node: str, inventory: Sequence[dict[str, Any]]) -> None:
        """After an agent (re)registers: resend what it missed, fail what it lost, stop strays."""
        known = {(int(i["job_id"]), int(i["attempt"])) for i in inventory}
        events: list[tuple[int, Event]] = []
        for job in list(self.jobs.values()):
            if not job.state.is_active or not job.nodes or job.nodes[0] != node:
                continue
            if (job.job_id, job.attempt) in known:
                if job.state is JobState.COMPLETING:
                    self._carry_out(SignalJob(job.job_id, job.attempt, job.nodes))
            elif not job.launched:
                self._carry_out(LaunchJob(job.job_id, job.attempt))
            else:
                log.warning("node %s lost job %s", node, job.job_id)
                events.append((job.job_id, NodeFailed(node, requeue=self._requeue_on_node_fail(job))))
        for job_id, attempt in known:
            job = self.jobs.get(job_id)
            if job is None or job.attempt != attempt or not job.state.is_active:
                self.registry.send(node, {"kind": "cancel", "job_id": job_id, "attempt": attempt})
        self.transition(events, cause=f"register:{node}")

    def node_failed(self, node: str, cause: str) -> list[Job]:
        """The node is DOWN: every job with a part on it ends NODE_FAIL, or goes back to the
        queue when it may be requeued; the node is told to stop them, should it still hear."""
        events: list[tuple[int, Event]] = [
            (job.job_id, NodeFailed(node, requeue=self._requeue_on_node_fail(job)))
            for job in self.jobs.values() if job.state.is_active and node in job.allocation]
        for job_id, _ in events:
            log.warning("node %s failed job %s (%s)", node, job_id, cause)
        return self.transition(events, cause=cause)

    @staticmethod
    def _requeue_on_node_fail(job: Job) -> bool:
        # Slurm's JobRequeue=1: a batch job is requeued after a node failure unless it was
        # submitted with --no-requeue; an allocation (salloc) has no script to run again.
        return job.spec.requeue and not job.spec.interactive

    def _return_stranded_launches(self, now: float) -> None:
        """A launch that a silent node never received returns its job to the queue: the job
        never ran, so it runs elsewhere whatever its --requeue."""
        events: list[tuple[int, Event]] = []
        for node, job_id, attempt in self.registry.stranded_launches(now, self.settings.node_timeout):
            # Withdrawn first: a node that wakes up must not start an attempt that is over.
            self.registry.queue(node).withdraw_launch(job_id, attempt)
            job = self.jobs.get(job_id)
            if job is not None and job.attempt == attempt and job.state is JobState.RUNNING \
                    and not job.launched:
                log.warning("node %s is not responding; job %s goes back to the queue", node, job_id)
                events.append((job_id, NodeFailed(node, requeue=True)))
        if events:
            self.transition(events, cause="launch-lost")

    # -- housekeeping ------------------------------------------------------------------------

    def purge(self) -> None:
        """Ended jobs leave the live queue after MinJobAge; sacct still has them."""
        cutoff = self.clock() - self.settings.min_job_age
        for job_id in [j.job_id for j in self.jobs.values()
                       if j.state.is_terminal and (j.end_time or 0) < cutoff]:
            job = self.jobs.pop(job_id)
            self.ended[job_id] = (job.array_job_id, ref_of(job))


def changes_job(changes: Sequence[tuple[Job, Event | None, bool]], job_id: int) -> Job | None:
    for job, _, _ in reversed(changes):
        if job.job_id == job_id:
            return job
    return None


__all__ = ["Caller", "JobManager", "resolve_outputs"]
