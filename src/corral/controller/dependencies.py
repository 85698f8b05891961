"""Which pending jobs may be considered this pass: --begin and --dependency, evaluated against
the live queue (and what is remembered of jobs that already left it)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from corral.core.dependencies import (
    DEPENDENCY_ERROR,
    Dependency,
    DependencyError,
    RefJob,
    Status,
    evaluate,
    parse_dependency,
)
from corral.model.errors import InvalidRequest
from corral.model.job import Job
from corral.model.states import Reason


def ref_of(job: Job) -> RefJob:
    return RefJob(job.state, job.start_time, job.array_task_id, job.array_tasks)


@dataclass(frozen=True, slots=True)
class Verdict:
    status: Status
    shown: str | None


class DependencyIndex:
    """One pass's view of the jobs that dependencies may name: by job id and by array id."""

    def __init__(self, jobs: Iterable[Job], ended: Mapping[int, tuple[int | None, RefJob]]) -> None:
        self.by_id: dict[int, list[RefJob]] = {}
        # singleton: one (user, name) job runs at a time, the oldest pending one next.
        self.running_names: set[tuple[int, str]] = set()
        self.first_pending: dict[tuple[int, str], int] = {}
        for job_id, (array_job_id, ref) in ended.items():
            self.by_id.setdefault(job_id, []).append(ref)
            if array_job_id is not None and array_job_id != job_id:
                self.by_id.setdefault(array_job_id, []).append(ref)
        for job in jobs:
            ref = ref_of(job)
            self.by_id.setdefault(job.job_id, []).append(ref)
            if job.array_job_id is not None and job.array_job_id != job.job_id:
                self.by_id.setdefault(job.array_job_id, []).append(ref)
            key = (job.spec.uid, job.name)
            if job.state.is_active:
                self.running_names.add(key)
            elif not job.state.is_terminal:
                self.first_pending[key] = min(job.job_id, self.first_pending.get(key, job.job_id))

    def singleton_clear(self, job: Job) -> bool:
        key = (job.spec.uid, job.name)
        return key not in self.running_names and self.first_pending.get(key) == job.job_id

    def verdict(self, job: Job, now: float, own_task: int | None = None) -> Verdict:
        if not job.dependency:
            return Verdict(Status.SATISFIED, None)
        dependency = parse_dependency(job.dependency)
        status, shown = evaluate(dependency, self.by_id, now, own_task=own_task,
                                 singleton_clear=self.singleton_clear(job))
        return Verdict(status, shown)


def gate_reason(job: Job, verdict: Verdict, now: float) -> Reason | None:
    """Why the job may not be considered at all this pass, or None."""
    begin = job.spec.begin_time
    if verdict.status is Status.NEVER:
        return Reason.DEPENDENCY_NEVER_SATISFIED
    if verdict.status is Status.WAITING:
        return Reason.DEPENDENCY
    if begin is not None and begin > now:
        return Reason.BEGIN_TIME
    return None


def validate_dependency(text: str, exists: Callable[[int], bool]) -> Dependency:
    """Parses --dependency and checks every named job exists; Slurm's one wording otherwise."""
    try:
        dependency = parse_dependency(text)
    except DependencyError:
        raise InvalidRequest(f"Batch job submission failed: {DEPENDENCY_ERROR}") from None
    missing = [i for i in sorted(dependency.job_ids()) if not exists(i)]
    if missing:
        raise InvalidRequest(f"Batch job submission failed: {DEPENDENCY_ERROR} "
                             f"(job {missing[0]} does not exist)")
    return dependency
