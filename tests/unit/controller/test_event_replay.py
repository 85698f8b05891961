"""A replayable store: every job rebuilt from its events alone (core.replay) equals the job the
store's projection (the jobs table) holds, over a workload that touches every kind of event."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from corral.api.agent_protocol import FinishedReport, StartedReport, StepFinishedReport
from corral.clock import ManualClock
from corral.controller import steps
from corral.controller.jobs import Caller, JobManager
from corral.controller.nodes import Node, NodeRegistry
from corral.controller.writer import drive
from corral.core.replay import replay
from corral.model.job import Job, JobSpec
from corral.model.states import JobState
from corral.settings import ControllerSettings
from corral.store.store import Store, sqlite_url

ROOT = Caller(uid=0, gid=0, user="root")


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[tuple[JobManager, ManualClock]]:
    store = Store.open(sqlite_url(tmp_path))
    clock = ManualClock(100.0)
    nodes = [Node(f"n{i}", 2, 4000, connected=True, last_seen=100.0) for i in (1, 2)]
    settings = ControllerSettings(data_dir=tmp_path, db_url=sqlite_url(tmp_path),
                                  socket_path=tmp_path / "corral.sock")
    yield JobManager(settings, store, NodeRegistry(nodes), clock), clock
    store.close()


def _spec(**fields: object) -> JobSpec:
    return JobSpec(**{"name": "j", "uid": 0, "gid": 0, "user": "root", "group": "root",
                      "work_dir": "/", "script": "#!/bin/sh\ntrue\n", **fields})  # type: ignore[arg-type]


def assert_replayable(store: Store) -> list[Job]:
    stored = store.history()
    assert stored
    for job in stored:
        events = [(e.at, e.kind, e.payload) for e in store.events_of(job.job_id)]
        assert replay(events) == job, f"job {job.job_id}: {[k for _, k, _ in events]}"
    return stored


def _run(manager: JobManager, job: Job, **outcome: object) -> None:
    drive(manager.agent_reports(job.nodes[0], [StartedReport(job_id=job.job_id, attempt=job.attempt)]))
    drive(manager.agent_reports(job.nodes[0], [FinishedReport(job_id=job.job_id, attempt=job.attempt,
                                                        **outcome)]))  # type: ignore[arg-type]


def test_every_job_rebuilt_from_its_events_equals_the_stored_job(
        setup: tuple[JobManager, ManualClock]) -> None:
    manager, clock = setup
    array = drive(manager.submit(_spec(array="0-5%2", time_limit=5), ROOT))
    held = drive(manager.submit(_spec(hold=True), ROOT))
    drive(manager.update(held.job_id, {"nice": 10, "name": "renamed", "time_limit": 3}, ROOT))
    after = drive(manager.submit(_spec(dependency=f"afterok:{held.job_id}"), ROOT))
    drive(manager.hold(after.job_id, ROOT))
    _, pending = manager.resolve([f"{array.job_id}_5"])
    drive(manager.cancel_pending_tasks(pending, ROOT))
    for _ in range(6):
        clock.advance(7.5)
        drive(manager.schedule())
        running = [j for j in manager.jobs.values() if j.state is JobState.RUNNING]
        for i, job in enumerate(running):
            if job.array_task_id == 0 and job.attempt == 0:
                drive(manager.requeue(job.job_id, ROOT))
                drive(manager.agent_reports(job.nodes[0], [FinishedReport(
                    job_id=job.job_id, attempt=0, exit_signal=15)]))
            elif job.array_task_id == 1:
                drive(manager.agent_reports(job.nodes[0], [StartedReport(job_id=job.job_id, attempt=0)]))
                ask = steps.StepAsk(argv=("hostname",), work_dir="/", io_addr="x:1", io_key="k")
                step = drive(steps.start_step(manager, job.job_id, ask, ROOT))
                drive(manager.agent_reports(job.nodes[0], [StepFinishedReport(
                    job_id=job.job_id, attempt=0, step_id=step["step_id"], node=job.nodes[0])]))
                drive(manager.agent_reports(job.nodes[0], [FinishedReport(
                    job_id=job.job_id, attempt=0, timed_out=True)]))
            else:
                _run(manager, job, exit_code=i % 2)
        if clock() > 115 and manager.jobs[held.job_id].held:
            drive(manager.release(held.job_id, ROOT))
            drive(manager.release(after.job_id, ROOT))
    stored = assert_replayable(manager.store)
    kinds = {e.kind for job in stored for e in manager.store.events_of(job.job_id)}
    assert {"JobSubmitted", "ArrayTaskSplit", "JobAllocated", "JobStarted", "JobFinished",
            "JobCancelled", "JobHeld", "JobReleased", "JobRequeued", "JobUpdated",
            "StepStarted", "StepNodeFinished", "StepFinished"} <= kinds
    assert {j.state for j in stored} >= {JobState.COMPLETED, JobState.TIMEOUT,
                                         JobState.CANCELLED}
    assert manager.jobs[after.job_id].dependency == f"afterok:{held.job_id}"


def test_job_ids_come_from_the_store_after_a_restart(
        setup: tuple[JobManager, ManualClock], tmp_path: Path) -> None:
    manager, clock = setup
    first = drive(manager.submit(_spec(), ROOT))
    manager.next_id = 1  # a controller that forgot: the store still refuses the id again
    with pytest.raises(Exception, match="handed out already|UNIQUE|unique"):
        drive(manager.submit(_spec(), ROOT))
    again = JobManager(manager.settings, manager.store, manager.registry, clock)
    again.load()
    assert again.next_id == first.job_id + 1
    assert drive(again.submit(_spec(), ROOT)).job_id == first.job_id + 1
