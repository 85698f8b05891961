"""The live queue's book: the jobs in memory, each change committed to the store before it is
acknowledged, then published to the observers, transitions applied through core.lifecycle."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from corral.controller.accounting import Accounting
from corral.controller.nodes import NodeRegistry
from corral.controller.observers import Observers
from corral.core.cycle import CycleResult
from corral.core.decisions import SchedulingContext
from corral.core.dependencies import RefJob
from corral.core.lifecycle import apply
from corral.core.replay import SPLIT, SUBMITTED, changed_fields, view_of
from corral.core.scheduler import Scheduler
from corral.model.cluster import NodeResources, Partition
from corral.model.effects import Effect
from corral.model.errors import NotFound
from corral.model.events import Event
from corral.model.job import Job, job_to_dict
from corral.settings import ControllerSettings
from corral.store.store import EventRecord, Store


def _event_payload(event: Event) -> dict[str, Any]:
    data = job_to_dict(event)  # type: ignore[arg-type]
    return data if isinstance(data, dict) else {}


class JobBook:
    """The live queue and the one path by which it changes: every change is committed to the
    store, then published to the observers, then (for transitions) its effects are carried
    out. The job manager's parts (admission, actions, queue, dispatch) all write through here."""

    settings: ControllerSettings
    store: Store
    registry: NodeRegistry
    clock: Callable[[], float]
    on_change: Callable[[], None]
    partitions: dict[str, Partition]
    jobs: dict[int, Job]
    next_id: int
    last_cycle: CycleResult | None
    ended: dict[int, tuple[int | None, RefJob]]
    controller_addr: str
    accounting: Accounting
    preempting: dict[int, int]
    scheduler: Scheduler
    observers: Observers

    def get(self, job_id: int) -> Job:
        job = self.jobs.get(job_id)
        if job is None:
            raise NotFound("Invalid job id specified")
        return job

    def _commit(self, changes: Sequence[tuple[Job, Event | None, bool]], cause: str,
                kind: str = "JobSubmitted", now: float | None = None) -> None:
        """Commits changes (job, its event or None, is_new) in one transaction, each with a
        record that says all it changed (core.replay rebuilds a job from them)."""
        now = self.clock() if now is None else now
        records = []
        for i, (job, ev, new) in enumerate(changes):
            before = changes_job(changes[:i], job.job_id) or self.jobs.get(job.job_id)
            records.append(EventRecord(job.job_id, now, type(ev).__name__ if ev else kind,
                                       self._payload(changes, job, ev, new, before, kind),
                                       cause))
        self.store.commit([(job, new) for job, _, new in changes], records)
        for job, _, _ in changes:
            self.jobs[job.job_id] = job
        self.observers.jobs_committed(now, [(job, r.kind, new) for (job, _, new), r
                                            in zip(changes, records, strict=True)], cause)

    @staticmethod
    def _payload(changes: Sequence[tuple[Job, Event | None, bool]], job: Job, ev: Event | None,
                 new: bool, before: Job | None, kind: str) -> dict[str, Any]:
        if new or before is None:
            # A submit carries the whole job; a task split from an array's record, itself.
            return job_to_dict(job) if kind == SUBMITTED else {"job": job_to_dict(job)}
        view = view_of(before)
        if ev is not None:
            return {**_event_payload(ev), "view": view}
        payload: dict[str, Any] = {"view": view, "changed": changed_fields(before, job)}
        if kind == SPLIT:
            payload["created"] = [j.job_id for j, _, is_new in changes
                                  if is_new and j.array_job_id == job.job_id]
        return payload

    def record(self, job: Job, kind: str, payload: dict[str, Any], cause: str | None = None) -> Job:
        """Commits a change that is not a state transition (a step began or ended) with its
        event, which carries, besides `payload`, what changed in the job."""
        before = self.jobs[job.job_id]
        payload = {**payload, "view": view_of(before), "changed": changed_fields(before, job)}
        record = EventRecord(job.job_id, self.clock(), kind, payload, cause or uuid.uuid4().hex[:12])
        self.store.commit([(job, False)], [record])
        self.jobs[job.job_id] = job
        self.observers.jobs_committed(record.at, [(job, kind, False)], record.cause)
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
        self._commit(changes, cause, now=now)
        for effect in effects:
            self._carry_out(effect)
        self.on_change()
        return [self.jobs[j.job_id] for j, _, _ in changes]


    def _fresh_ids(self) -> Iterator[int]:
        """Hands out job ids; next_id follows along, so none is given twice."""
        while True:
            job_id = self.next_id
            self.next_id += 1
            yield job_id

    # What one part asks of another (JobManager assembles them all):

    def _carry_out(self, effect: Effect) -> None:
        raise NotImplementedError  # controller/dispatch.py

    def _return_stranded_launches(self, now: float) -> None:
        raise NotImplementedError  # controller/dispatch.py

    def nodes_view(self, active: Sequence[Job], now: float) -> dict[str, NodeResources]:
        raise NotImplementedError  # controller/queue.py

    def _context(self) -> SchedulingContext:
        raise NotImplementedError  # controller/queue.py

    def _cycle(self, pending: Sequence[Job], now: float, scheduler: Scheduler) -> CycleResult:
        raise NotImplementedError  # controller/queue.py

    def job_exists(self, job_id: int) -> bool:
        raise NotImplementedError  # controller/admission.py

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


def changes_job(changes: Sequence[tuple[Job, Event | None, bool]], job_id: int) -> Job | None:
    for job, _, _ in reversed(changes):
        if job.job_id == job_id:
            return job
    return None

