"""The live queue's book: the jobs in memory, each change committed to the store (through the
store's one writer, controller/writer.py) before it is applied in memory and acknowledged,
then published to the observers, transitions applied through core.lifecycle."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from typing import Any

from corral.controller.accounting import Accounting
from corral.controller.nodes import NodeRegistry
from corral.controller.observers import Observers
from corral.controller.writer import Change, Writer, ready
from corral.core.cycle import CycleResult
from corral.core.decisions import SchedulingContext
from corral.core.dependencies import DependencyError, RefJob, parse_dependency
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

_DONE = ready()


def _event_payload(event: Event) -> dict[str, Any]:
    data = job_to_dict(event)  # type: ignore[arg-type]
    return data if isinstance(data, dict) else {}


class JobBook:
    """The live queue and the one path by which it changes: every change is handed to the
    writer and, once committed, applied in memory, published to the observers, then (for
    transitions) its effects are carried out. The job manager's parts (admission, actions,
    queue, dispatch) all write through here. A change is made on the jobs as `latest` has
    them (what is committed, and what is on its way to the store), synchronously: what an
    operation reads and the change it stages are not separated by an await."""

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
    writer: Writer
    # Jobs changed by a change still on its way to the store: job id → the job as it left it.
    pending: dict[int, Job]
    settling: asyncio.Lock

    def get(self, job_id: int) -> Job:
        job = self.jobs.get(job_id)
        if job is None:
            raise NotFound("Invalid job id specified")
        return job

    def latest(self, job_id: int) -> Job | None:
        """The job as its last change left it, committed or still on its way to the store:
        what a change is made on (readers see `jobs`, which holds only what is committed)."""
        job = self.pending.get(job_id)
        return self.jobs.get(job_id) if job is None else job

    def current(self) -> Iterable[Job]:
        """Every job as `latest` sees it."""
        if not self.pending:
            return self.jobs.values()
        merged = dict(self.jobs)
        merged.update(self.pending)
        return merged.values()

    def _stage(self, changes: Sequence[tuple[Job, Event | None, bool]], cause: str,
               kind: str = "JobSubmitted", now: float | None = None,
               effects: Sequence[Effect] = (), wake: bool = False) -> Awaitable[None]:
        """Hands changes (job, its event or None, is_new) to the writer as one change, each
        with a record that says all it changed (core.replay rebuilds a job from them). Once
        committed, they are applied in memory, published, and their effects carried out; a
        change made after this one (on the same job or not) sees it through `latest`."""
        now = self.clock() if now is None else now
        records = []
        for i, (job, ev, new) in enumerate(changes):
            before = changes_job(changes[:i], job.job_id) or self.latest(job.job_id)
            records.append(EventRecord(job.job_id, now, type(ev).__name__ if ev else kind,
                                       self._payload(changes, job, ev, new, before, kind),
                                       cause))

        def applied() -> None:
            for job, _, _ in changes:
                self.jobs[job.job_id] = job
                if self.pending.get(job.job_id) is job:
                    del self.pending[job.job_id]
            self.observers.jobs_committed(now, [(job, r.kind, new) for (job, _, new), r
                                                in zip(changes, records, strict=True)], cause)
            for effect in effects:
                self._carry_out(effect)
            if wake:
                self.on_change()

        def failed() -> None:
            for job, _, _ in changes:
                if self.pending.get(job.job_id) is job:
                    del self.pending[job.job_id]

        for job, _, _ in changes:
            self.pending[job.job_id] = job
        return self.writer.stage(Change([(job, new) for job, _, new in changes], records,
                                        applied, failed))

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

    def _stage_record(self, job: Job, kind: str, payload: dict[str, Any],
                      cause: str | None = None) -> Awaitable[None]:
        """A change that is not a state transition (a step began or ended), made on the job
        as `latest` has it, with its event, which carries, besides `payload`, what changed."""
        before = self.latest(job.job_id)
        assert before is not None
        payload = {**payload, "view": view_of(before), "changed": changed_fields(before, job)}
        record = EventRecord(job.job_id, self.clock(), kind, payload, cause or uuid.uuid4().hex[:12])

        def applied() -> None:
            self.jobs[job.job_id] = job
            if self.pending.get(job.job_id) is job:
                del self.pending[job.job_id]
            self.observers.jobs_committed(record.at, [(job, kind, False)], record.cause)

        def failed() -> None:
            if self.pending.get(job.job_id) is job:
                del self.pending[job.job_id]

        self.pending[job.job_id] = job
        return self.writer.stage(Change([(job, False)], [record], applied, failed))

    async def record(self, job: Job, kind: str, payload: dict[str, Any],
                     cause: str | None = None) -> Job:
        """Commits a change that is not a state transition (see _stage_record)."""
        await self._stage_record(job, kind, payload, cause)
        return job

    def _stage_transition(self, items: Iterable[tuple[int, Event]], cause: str | None = None
                          ) -> tuple[Awaitable[None], list[Job]]:
        """Applies events to the jobs as `latest` has them and hands the change to the
        writer; returns what awaits its commit, and the jobs as they will be."""
        now = self.clock()
        cause = cause or uuid.uuid4().hex[:12]
        changes: list[tuple[Job, Event | None, bool]] = []
        effects: list[Effect] = []
        for job_id, event in items:
            current = changes_job(changes, job_id) or self.latest(job_id)
            if current is None:
                raise KeyError(job_id)
            result = apply(current, event, now)
            changes.append((result.job, event, False))
            effects.extend(result.effects)
        if not changes:
            return _DONE, []
        after = {job.job_id: job for job, _, _ in changes}
        done = self._stage(changes, cause, now=now, effects=effects, wake=True)
        return done, [after[j.job_id] for j, _, _ in changes]

    async def transition(self, items: Iterable[tuple[int, Event]],
                         cause: str | None = None) -> list[Job]:
        """Applies events, commits them in one transaction, then carries out their effects."""
        done, jobs = self._stage_transition(items, cause)
        await done
        return jobs

    def _fresh_ids(self) -> Iterator[int]:
        """Hands out job ids; next_id follows along, so none is given twice."""
        while True:
            job_id = self.next_id
            self.next_id += 1
            yield job_id

    # What one part asks of another (JobManager assembles them all):

    def _carry_out(self, effect: Effect) -> None:
        raise NotImplementedError  # controller/dispatch.py

    async def _return_stranded_launches(self, now: float) -> None:
        raise NotImplementedError  # controller/dispatch.py

    def nodes_view(self, active: Sequence[Job], now: float) -> dict[str, NodeResources]:
        raise NotImplementedError  # controller/queue.py

    def _context(self) -> SchedulingContext:
        raise NotImplementedError  # controller/queue.py

    def _cycle(self, pending: Sequence[Job], now: float, scheduler: Scheduler) -> CycleResult:
        raise NotImplementedError  # controller/queue.py

    async def known_jobs(self, dependency: str) -> Callable[[int], bool]:
        """What validate_dependency asks of the jobs a dependency names: whether each
        exists, live, ended, or only in the store (read off the event loop)."""
        try:
            named = parse_dependency(dependency).job_ids()
        except DependencyError:
            return lambda _: True  # validate_dependency refuses the text itself

        def here(job_id: int) -> bool:
            return job_id in self.jobs or job_id in self.pending or job_id in self.ended

        unknown = sorted(i for i in named if not here(i))
        found: set[int] = set()
        if unknown:
            # An array's id names it too, as in `sacct -j 2454` (Store.history).
            stored = await self.writer.read(self.store.history, job_ids=unknown)
            found = {j.job_id for j in stored} | {j.array_job_id for j in stored
                                                   if j.array_job_id is not None}
        return lambda job_id: here(job_id) or job_id in found

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

