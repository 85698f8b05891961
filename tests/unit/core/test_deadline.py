"""--deadline: a pending job that could not finish in time ends DEADLINE (Slurm's rule)."""

from __future__ import annotations

from dataclasses import replace

from corral.core.deadline import expired, past_deadline
from corral.model.job import Job, JobSpec
from corral.model.states import JobState


def job(job_id: int = 1, *, deadline: float | None = 10_000.0, limit: int | None = 60,
        time_min: int | None = None, state: JobState = JobState.PENDING) -> Job:
    spec = JobSpec(name="j", uid=1, gid=1, user="u", group="g", work_dir="/",
                   deadline=deadline, time_min=time_min)
    return Job(job_id, spec, state, 0.0, "main", 100, limit)


def test_a_job_that_can_still_finish_waits() -> None:
    assert not past_deadline(job(), 10_000.0 - 3600)  # starts now, ends exactly at it
    assert not past_deadline(job(deadline=None), 1e12)


def test_a_job_that_cannot_finish_in_its_time_limit_ends() -> None:
    assert past_deadline(job(), 10_000.0 - 3599)


def test_time_min_is_the_shortest_run_when_given() -> None:
    assert not past_deadline(job(time_min=10), 10_000.0 - 600)
    assert past_deadline(job(time_min=10), 10_000.0 - 599)


def test_a_passed_deadline_ends_even_an_unlimited_job() -> None:
    assert not past_deadline(job(limit=None), 10_000.0)
    assert past_deadline(job(limit=None), 10_000.5)


def test_only_pending_jobs_are_ended() -> None:
    assert not past_deadline(job(state=JobState.RUNNING), 1e12)
    jobs = [job(1), job(2, deadline=None), job(3, deadline=20_000.0), job(4, limit=None)]
    assert expired(jobs, 10_000.5) == (1, 4)
    assert expired([replace(jobs[0], state=JobState.COMPLETED)], 1e12) == ()
