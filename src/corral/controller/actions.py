"""Users' actions on jobs (scancel, scontrol hold/release/requeue/update, the end of an
allocation), each a transition through the job book."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from corral.api.agent_protocol import SignalCommand, TimeLimitCommand
from corral.controller import arrays
from corral.controller.auth import Caller
from corral.controller.dependencies import validate_dependency
from corral.controller.ledger import JobBook
from corral.core.cycle import priority_of
from corral.model.arrays import parse_indices
from corral.model.errors import InvalidRequest, PermissionDenied
from corral.model.events import (
    AllocationEnded,
    Event,
    JobCancelled,
    JobHeld,
    JobReleased,
    JobRequeued,
    JobUpdated,
)
from corral.model.job import Job
from corral.model.states import JobState


class UserActions(JobBook):
    """What users do to their jobs: cancel (or signal), hold, release, requeue, update, end
    an allocation; and the job id forms that name them."""

    def _owned(self, job_id: int, caller: Caller) -> Job:
        job = self.latest(job_id)
        if job is None:
            self.get(job_id)  # NotFound, in its words
            raise AssertionError
        if not caller.may_change(job):
            raise PermissionDenied()
        return job


    async def cancel(self, jobs: Sequence[Job], caller: Caller, signal: int | None = None,
                     batch_only: bool = False) -> tuple[list[int], list[dict[str, Any]]]:
        done: list[int] = []
        errors: list[dict[str, Any]] = []
        events: list[tuple[int, Event]] = []
        for named in jobs:
            job = self.latest(named.job_id) or named
            if job.state.is_terminal:
                continue
            if not caller.may_change(job):
                errors.append({"job_id": job.job_id, "error": "Access/permission denied"})
                continue
            if signal is not None and signal != 9:
                if job.state is JobState.RUNNING and job.nodes:
                    self.registry.send(job.nodes[0], SignalCommand(
                        kind="signal", job_id=job.job_id, attempt=job.attempt, signal=signal,
                        batch_only=batch_only))
                    done.append(job.job_id)
                continue
            events.append((job.job_id, JobCancelled(caller.uid)))
            done.append(job.job_id)
        await self.transition(events)
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
                indices = parse_indices(task_text, self.settings.max_array_size)
            except ValueError:
                raise InvalidRequest(f"Invalid job id specified: {text}") from None
            tasks.setdefault(int(base), set()).update(indices)
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

    async def cancel_pending_tasks(self, pending: dict[int, set[int]], caller: Caller) -> tuple[list[str], list[dict[str, Any]]]:
        """Cancels tasks still inside a pending array's record: each becomes its own record."""
        done: list[str] = []
        errors: list[dict[str, Any]] = []
        new_ids = self._fresh_ids()
        for meta_id, tasks in pending.items():
            meta = self.latest(meta_id)
            if meta is None or meta.state is not JobState.PENDING or not meta.array_tasks:
                continue  # its tasks left the record meanwhile (a pass started them)
            if not caller.may_change(meta):
                errors.append({"job_id": meta_id, "error": "Access/permission denied"})
                continue
            inside = set(parse_indices(meta.array_tasks))
            tasks = tasks & inside
            if not tasks:
                continue
            meta_after, fresh, ids = arrays.split(meta, sorted(tasks), new_ids)
            # The split and the cancel are made together: nothing comes between them.
            self._stage([(meta_after, None, False)] + [(j, None, True) for j in fresh],
                        uuid.uuid4().hex[:12], kind="ArrayTaskSplit")
            await self.transition([(job_id, JobCancelled(caller.uid)) for job_id in ids.values()])
            done.extend(f"{meta_id}_{t}" for t in sorted(tasks))
        return done, errors

    async def hold(self, job_id: int, caller: Caller) -> Job:
        job = self._owned(job_id, caller)
        if job.state is not JobState.PENDING:
            raise InvalidRequest("Job is no longer pending execution")
        return (await self.transition([(job_id, JobHeld(caller.uid))]))[0]

    async def release(self, job_id: int, caller: Caller) -> Job:
        job = self._owned(job_id, caller)
        if job.state is not JobState.PENDING:
            raise InvalidRequest("Job is no longer pending execution")
        return (await self.transition([(job_id, JobReleased(caller.uid))]))[0]

    async def end_allocation(self, job_id: int, caller: Caller, exit_code: int, exit_signal: int) -> Job:
        """salloc's command or srun's step ended (Slurm's slurm_complete_job): the allocation
        ends with that status; one still pending is cancelled, one already over stays so."""
        job = self._owned(job_id, caller)
        if not job.spec.interactive:
            raise InvalidRequest("Job is not an allocation (it has a batch script)")
        if job.state is JobState.PENDING:
            return (await self.transition([(job_id, JobCancelled(caller.uid))]))[0]
        if job.state.is_terminal:
            return job
        return (await self.transition([(job_id, AllocationEnded(exit_code, exit_signal))]))[0]

    async def requeue(self, job_id: int, caller: Caller) -> Job:
        job = self._owned(job_id, caller)
        if job.state in (JobState.PENDING, JobState.COMPLETING):
            raise InvalidRequest("Job is pending execution" if job.state is JobState.PENDING
                                 else "Job is currently being requeued or completing")
        if not job.spec.requeue:
            raise InvalidRequest("Requested operation is presently disabled")
        return (await self.transition([(job_id, JobRequeued(caller.uid))]))[0]

    async def update(self, job_id: int, changes: dict[str, Any], caller: Caller) -> Job:
        text = (changes.get("dependency") or "").strip()
        exists = await self.known_jobs(text) if text not in ("", "0") else None
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
            if exists is None:
                changes = {**changes, "dependency": None, "dependency_shown": None}
            else:
                validate_dependency(text, exists)
                changes = {**changes, "dependency": text}
        committed = (await self.transition([(job_id, JobUpdated(changes))]))[0]
        updated = committed
        if "nice" in changes:
            updated = replace(committed, priority=priority_of(committed))
            if self.jobs.get(job_id) is committed and job_id not in self.pending:
                self.jobs[job_id] = updated  # else a later change is on its way: next pass
        if "time_limit" in changes and updated.state is JobState.RUNNING and updated.nodes:
            self.registry.send(updated.nodes[0], TimeLimitCommand(
                kind="time_limit", job_id=job_id, attempt=updated.attempt,
                time_limit=changes["time_limit"]))
        return updated

