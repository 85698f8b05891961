"""The observer seam: every committed change of a job or a node, published once, in commit
order, to subscribers inside the controller (the coming metrics, the portal's live pages, an
event stream), so that none of them polls the job manager or reaches into it.

Publishing happens after the store has committed the change and before the caller hears of
it; a subscriber runs in the controller's thread and must not block or raise (one that
raises is logged and kept, and the others still hear the change). As Flux's journal, a
subscriber sees the job as it is after the change and the event that changed it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from corral.model.job import Job

log = logging.getLogger("corral.controller")


@dataclass(frozen=True, slots=True)
class JobChange:
    """A job as committed, with the event that changed it: a transition's event name
    (JobAllocated …), JobSubmitted, ArrayTaskSplit, or a step's record (StepStarted …)."""

    seq: int
    time: float
    kind: str
    job: Job
    new: bool  # the job's first record
    cause: str


@dataclass(frozen=True, slots=True)
class NodeChange:
    """A node's state as committed: from (None at its first registration) → to, and why."""

    seq: int
    time: float
    node: str
    before: str | None
    after: str
    cause: str


Change = JobChange | NodeChange
Subscriber = Callable[[Change], Any]


class Observers:
    """In-process publish/subscribe, in commit order, each change once."""

    def __init__(self) -> None:
        self._subscribers: list[Subscriber] = []
        self.seq = 0

    def subscribe(self, subscriber: Subscriber) -> Callable[[], None]:
        """Adds a subscriber; returns what removes it."""
        self._subscribers.append(subscriber)
        return lambda: self._subscribers.remove(subscriber)

    def jobs_committed(self, time: float, changes: Iterable[tuple[Job, str, bool]], cause: str) -> None:
        for job, kind, new in changes:
            self.seq += 1
            self._publish(JobChange(self.seq, time, kind, job, new, cause))

    def node_committed(self, time: float, node: str, before: str | None, after: str,
                       cause: str) -> None:
        self.seq += 1
        self._publish(NodeChange(self.seq, time, node, before, after, cause))

    def _publish(self, change: Change) -> None:
        for subscriber in list(self._subscribers):
            try:
                subscriber(change)
            except Exception:
                log.exception("observer %r failed on change %s", subscriber, change.seq)
