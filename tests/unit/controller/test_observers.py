"""The observer seam: every committed change of a job is published once, in commit order, to
subscribers in the controller; what they hear matches the store's events one for one."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from corral.api.agent_protocol import FinishedReport, StartedReport
from corral.clock import ManualClock
from corral.controller.jobs import Caller, JobManager
from corral.controller.nodes import Node, NodeRegistry
from corral.controller.observers import Change, JobChange, Observers
from corral.controller.writer import drive
from corral.model.job import JobSpec
from corral.model.states import JobState
from corral.settings import ControllerSettings
from corral.store.store import Store, sqlite_url

ROOT = Caller(uid=0, gid=0, user="root")


@pytest.fixture
def manager(tmp_path: Path) -> Iterator[JobManager]:
    store = Store.open(sqlite_url(tmp_path))
    clock = ManualClock(100.0)
    nodes = [Node("n1", 2, 4000, connected=True, last_seen=100.0)]
    settings = ControllerSettings(data_dir=tmp_path, db_url=sqlite_url(tmp_path),
                                  socket_path=tmp_path / "corral.sock")
    yield JobManager(settings, store, NodeRegistry(nodes), clock)
    store.close()


def _spec(**fields: object) -> JobSpec:
    return JobSpec(**{"name": "j", "uid": 0, "gid": 0, "user": "root", "group": "root",
                      "work_dir": "/", "script": "#!/bin/sh\ntrue\n", **fields})  # type: ignore[arg-type]


def test_each_committed_change_is_published_once_in_commit_order(manager: JobManager) -> None:
    heard: list[Change] = []
    manager.observers.subscribe(heard.append)
    first = drive(manager.submit(_spec(), ROOT))
    second = drive(manager.submit(_spec(hold=True), ROOT))
    drive(manager.schedule())
    drive(manager.agent_reports("n1", [StartedReport(job_id=first.job_id, attempt=0)]))
    drive(manager.agent_reports("n1", [FinishedReport(job_id=first.job_id, attempt=0, exit_code=0)]))
    drive(manager.cancel([manager.jobs[second.job_id]], ROOT))
    jobs = [c for c in heard if isinstance(c, JobChange)]
    assert [c.seq for c in heard] == list(range(1, len(heard) + 1))
    assert [(c.job.job_id, c.kind) for c in jobs] == [
        (first.job_id, "JobSubmitted"), (second.job_id, "JobSubmitted"),
        (first.job_id, "JobAllocated"), (first.job_id, "JobStarted"),
        (first.job_id, "JobFinished"), (second.job_id, "JobCancelled")]
    assert [c.new for c in jobs] == [True, True, False, False, False, False]
    # What a subscriber hears is what the store committed, in the same order.
    for job_id in (first.job_id, second.job_id):
        stored = [(e.kind, e.cause) for e in manager.store.events_of(job_id)]
        assert stored == [(c.kind, c.cause) for c in jobs if c.job.job_id == job_id]
    assert jobs[-1].job.state is JobState.CANCELLED
    assert jobs[-1].job is manager.jobs[second.job_id]


def test_a_failing_subscriber_does_not_stop_the_others_or_the_change(manager: JobManager) -> None:
    heard: list[Change] = []

    def broken(_: Change) -> None:
        raise RuntimeError("boom")

    manager.observers.subscribe(broken)
    unsubscribe = manager.observers.subscribe(heard.append)
    job = drive(manager.submit(_spec(), ROOT))
    assert [c.job.job_id for c in heard if isinstance(c, JobChange)] == [job.job_id]
    unsubscribe()
    drive(manager.submit(_spec(), ROOT))
    assert len(heard) == 1


def test_nothing_is_published_for_a_change_that_was_not_committed(manager: JobManager) -> None:
    heard: list[Change] = []
    manager.observers.subscribe(heard.append)
    drive(manager.submit(_spec(), ROOT, test_only=True))
    drive(manager.schedule())  # no job: the pass commits nothing
    assert heard == []


def test_observers_standalone() -> None:
    observers = Observers()
    heard: list[Change] = []
    observers.subscribe(heard.append)
    observers.node_committed(1.0, "n1", None, "RESPONDING", "register")
    assert [(c.seq, c.node, c.after) for c in heard] == [(1, "n1", "RESPONDING")]  # type: ignore[union-attr]
