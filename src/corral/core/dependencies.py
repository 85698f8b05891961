"""Job dependencies (--dependency): parsing, and whether a job may start — pure functions.

Grammar as in Slurm: `type:id[:id…][,type:id…]` (all must hold) or `…?…` (any may hold);
types after, afterany, afterok, afternotok, aftercorr, and singleton (no ids). An id is a
job id, an array's id (meaning every task), or one task `1234_7`; `after` ids may carry a
`+minutes` delay. Evaluation reads a snapshot of the referenced jobs and the time.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import Enum

from corral.model.arrays import parse_indices
from corral.model.states import JobState

DEPENDENCY_ERROR = "Job dependency problem"
KINDS = ("after", "afterany", "afterok", "afternotok", "aftercorr", "singleton")


class DependencyError(ValueError):
    def __init__(self) -> None:
        super().__init__(DEPENDENCY_ERROR)


class Status(Enum):
    SATISFIED = "satisfied"
    WAITING = "unfulfilled"
    NEVER = "failed"


@dataclass(frozen=True, slots=True)
class Term:
    kind: str
    job_id: int = 0
    task_id: int | None = None
    delay_min: int = 0

    def spelling(self) -> str:
        if self.kind == "singleton":
            return "singleton"
        ref = f"{self.job_id}_{self.task_id}" if self.task_id is not None else str(self.job_id)
        return f"{self.kind}:{ref}" + (f"+{self.delay_min}" if self.delay_min else "")


@dataclass(frozen=True, slots=True)
class Dependency:
    terms: tuple[Term, ...]
    any_of: bool = False

    def job_ids(self) -> set[int]:
        return {t.job_id for t in self.terms if t.kind != "singleton"}


@dataclass(frozen=True, slots=True)
class RefJob:
    """What evaluation needs to know of one referenced job (or array task)."""

    state: JobState
    start_time: float | None = None
    array_task_id: int | None = None
    pending_tasks: str | None = None  # an array's not-yet-split remainder, folded

    def has_task(self, task: int) -> bool:
        if self.array_task_id == task:
            return True
        return self.pending_tasks is not None and task in parse_indices(self.pending_tasks)


def _parse_ref(text: str, kind: str) -> Term:
    delay = 0
    if "+" in text:
        text, delay_text = text.split("+", 1)
        if kind != "after" or not delay_text.isdigit():
            raise DependencyError
        delay = int(delay_text)
    task: int | None = None
    if "_" in text:
        text, task_text = text.split("_", 1)
        if not task_text.isdigit():
            raise DependencyError
        task = int(task_text)
    if not text.isdigit() or int(text) <= 0:
        raise DependencyError
    return Term(kind, int(text), task, delay)


def parse_dependency(text: str) -> Dependency:
    text = text.strip()
    if not text:
        raise DependencyError
    if "," in text and "?" in text:
        raise DependencyError  # Slurm refuses to mix "all" and "any"
    any_of = "?" in text
    terms: list[Term] = []
    for group in text.split("?" if any_of else ","):
        kind, _, refs = group.partition(":")
        kind = kind.strip().lower()
        if kind not in KINDS:
            raise DependencyError
        if kind == "singleton":
            if refs:
                raise DependencyError
            terms.append(Term("singleton"))
            continue
        if not refs:
            raise DependencyError
        terms.extend(_parse_ref(ref, kind) for ref in refs.split(":"))
    return Dependency(tuple(terms), any_of)


def _term_status(term: Term, refs: Sequence[RefJob], now: float, own_task: int | None,
                 singleton_clear: bool) -> Status:
    if term.kind == "singleton":
        return Status.SATISFIED if singleton_clear else Status.WAITING
    if term.kind == "aftercorr":
        if own_task is None:
            return Status.SATISFIED
        refs = [r for r in refs if r.has_task(own_task)]
        if not refs:
            return Status.SATISFIED
    if term.task_id is not None:
        refs = [r for r in refs if r.has_task(term.task_id)]
    if not refs:
        return Status.SATISFIED  # long gone: Slurm treats a purged job as done
    if term.kind == "after":
        if any(r.state is JobState.PENDING for r in refs):
            return Status.WAITING
        started = [r.start_time for r in refs if r.start_time is not None]
        if started and now < max(started) + term.delay_min * 60:
            return Status.WAITING
        return Status.SATISFIED
    if any(not r.state.is_terminal for r in refs):
        if term.kind == "afterok" and any(r.state.is_terminal and r.state is not JobState.COMPLETED
                                          for r in refs):
            return Status.NEVER
        return Status.WAITING
    completed = [r.state is JobState.COMPLETED for r in refs]
    if term.kind in ("afterok", "aftercorr"):
        return Status.SATISFIED if all(completed) else Status.NEVER
    if term.kind == "afternotok":
        return Status.NEVER if all(completed) else Status.SATISFIED
    return Status.SATISFIED  # afterany


def evaluate(dependency: Dependency, refs: Mapping[int, Sequence[RefJob]], now: float, *,
             own_task: int | None = None, singleton_clear: bool = True) -> tuple[Status, str | None]:
    """(overall status, what squeue's %E shows: the terms not yet satisfied, or None)."""
    statuses = [(t, _term_status(t, refs.get(t.job_id, ()), now, own_task, singleton_clear))
                for t in dependency.terms]
    values = [s for _, s in statuses]
    if dependency.any_of:
        if Status.SATISFIED in values:
            return Status.SATISFIED, None
        overall = Status.NEVER if all(v is Status.NEVER for v in values) else Status.WAITING
    elif all(v is Status.SATISFIED for v in values):
        return Status.SATISFIED, None
    else:
        overall = Status.NEVER if Status.NEVER in values else Status.WAITING
    shown = [f"{t.spelling()}({s.value})" for t, s in statuses if s is not Status.SATISFIED]
    return overall, ("?" if dependency.any_of else ",").join(shown)
