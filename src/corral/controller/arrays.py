"""Pending job arrays: one record holds every task not yet started. A pass is offered a few of
its tasks as candidates; those that start (or are cancelled while pending) are split off into
records of their own, the way Slurm splits array tasks. The last task keeps the array's id."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import replace

from corral.model.arrays import take_first, without
from corral.model.job import Job


def offer(meta: Job, count: int, first_provisional_id: int) -> list[Job]:
    """Up to `count` of the array's lowest pending tasks as candidate jobs for one pass.

    Candidates carry provisional ids above every real one; the array's last task is offered
    under the array's own id, since that is the id it will keep.
    """
    assert meta.array_tasks is not None
    taken, rest = take_first(meta.array_tasks, count)
    candidates = []
    for i, task in enumerate(taken):
        is_last = rest is None and i == len(taken) - 1
        job_id = meta.job_id if is_last else first_provisional_id + i
        candidates.append(replace(meta, job_id=job_id, array_task_id=task, array_tasks=None))
    return candidates


def split(meta: Job, tasks: Sequence[int], new_ids: Iterator[int]) -> tuple[Job, list[Job], dict[int, int]]:
    """Splits `tasks` off the pending array: (array record after, new task records, task → job id)."""
    assert meta.array_tasks is not None
    rest = without(meta.array_tasks, tasks)
    ordered = sorted(set(tasks))
    if rest is None:
        # Nothing left pending: the array's own record becomes its last task.
        keep, others = ordered[-1], ordered[:-1]
        meta_after = replace(meta, array_task_id=keep, array_tasks=None)
    else:
        keep, others = None, ordered
        meta_after = replace(meta, array_tasks=rest)
    fresh = [replace(meta, job_id=next(new_ids), array_task_id=task, array_tasks=None,
                     estimated_start=None, dependency_shown=None) for task in others]
    ids = {job.array_task_id: job.job_id for job in fresh if job.array_task_id is not None}
    if keep is not None:
        ids[keep] = meta.job_id
    return meta_after, fresh, ids
