"""A job rebuilt from its events alone (Flux: replaying the job eventlog reproduces the job).

The ledger writes each change with an event that says all of it:
- JobSubmitted carries the whole job as submitted (model.job.job_to_dict);
- ArrayTaskSplit of a task created from an array's record carries that task ({"job": ...});
  of the array's record, what changed in it ({"changed": ...}, "created": the new ids);
- a transition carries its event's fields, applied through core.lifecycle at its time;
- a record that is no transition (a step began or ended) carries what it changed;
- and every change after the first carries "view": what the scheduling passes set in between
  without an event of their own (reason, priority, estimated start, ...).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from corral.core.lifecycle import apply
from corral.model.events import event_from_dict
from corral.model.job import Job, job_from_dict, job_to_dict

# What a scheduling pass changes without an event; each record carries them as they were.
VIEW_FIELDS = ("reason", "priority", "estimated_start", "sched_nodes", "dependency_shown")

SUBMITTED = "JobSubmitted"
SPLIT = "ArrayTaskSplit"


class NotReplayable(ValueError):
    """The events do not say enough to rebuild the job (a store written before they did)."""


def merged(job: Job, changed: Mapping[str, Any]) -> Job:
    """The job with some of its fields replaced by their JSON form (as job_to_dict writes)."""
    return job_from_dict({**job_to_dict(job), **changed})


def changed_fields(before: Job, after: Job) -> dict[str, Any]:
    """after's fields (JSON form) that differ from before's."""
    old, new = job_to_dict(before), job_to_dict(after)
    return {k: v for k, v in new.items() if old.get(k) != v}


def view_of(job: Job) -> dict[str, Any]:
    data = job_to_dict(job)
    return {k: data[k] for k in VIEW_FIELDS}


def replay_one(job: Job | None, at: float, kind: str, payload: Mapping[str, Any]) -> Job:
    """The job after one stored event."""
    if kind == SUBMITTED:
        if not payload:
            raise NotReplayable("JobSubmitted without the job")
        return job_from_dict(payload)
    if "job" in payload:
        return job_from_dict(payload["job"])
    if job is None:
        raise NotReplayable(f"{kind} before the job was created")
    if "view" in payload:
        job = merged(job, payload["view"])
    if "changed" in payload:
        return merged(job, payload["changed"])
    if kind == SPLIT:
        raise NotReplayable("ArrayTaskSplit without what it changed")
    return apply(job, event_from_dict(kind, payload), at).job


def replay(events: Iterable[tuple[float, str, Mapping[str, Any]]]) -> Job:
    """The job its events (at, kind, payload), oldest first, describe."""
    job: Job | None = None
    for at, kind, payload in events:
        job = replay_one(job, at, kind, payload)
    if job is None:
        raise NotReplayable("no events")
    return job
