"""`--deadline`: which pending jobs can no longer end in time, as a decision of the pure core.

Slurm ends a pending job in state DEADLINE (reason DeadLine) once it could not finish before
its deadline even if it started now: now + its shortest run (--time-min, else its time limit,
else nothing) is past the deadline, which includes a deadline already gone. A job without a
deadline, or that is not pending, is never ended here. The driver applies each decision as
one transition of the job (PENDING → DEADLINE), before the scheduling pass.
"""

from __future__ import annotations

from collections.abc import Iterable

from corral.model.job import Job
from corral.model.states import JobState


def past_deadline(job: Job, now: float) -> bool:
    """Whether the pending job can no longer finish by its --deadline."""
    deadline = job.spec.deadline
    if deadline is None or job.state is not JobState.PENDING:
        return False
    shortest = job.spec.time_min if job.spec.time_min else job.time_limit
    return now + (shortest or 0) * 60 > deadline


def expired(pending: Iterable[Job], now: float) -> tuple[int, ...]:
    """The ids of the pending jobs that end DEADLINE now, in the order given."""
    return tuple(job.job_id for job in pending
                 if job.spec.deadline is not None and past_deadline(job, now))
