"""The store's one writer (controller/writer.py): commits run in its own thread, a burst of
changes goes in one transaction and is acknowledged together, in the order the changes were
made; a failed commit fails each change of it, with nothing applied in memory."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.exc import OperationalError

from corral.api.agent_protocol import StartedReport
from corral.clock import ManualClock
from corral.controller.jobs import Caller, JobManager
from corral.controller.nodes import Node, NodeRegistry
from corral.controller.observers import Change, JobChange
from corral.controller.writer import StoreWriter
from corral.model.job import Job, JobSpec
from corral.model.states import JobState
from corral.settings import ControllerSettings
from corral.store.store import Store, sqlite_url

ROOT = Caller(uid=0, gid=0, user="root")


class WatchedStore(Store):
    """A store that notes each commit's thread and size, and fails while `down` is set."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.commits: list[tuple[str, int]] = []
        self.down = False

    def commit(self, changed: Sequence[tuple[Job, bool]],
               events: Any = ()) -> None:
        events = list(events)
        self.commits.append((threading.current_thread().name, len(events)))
        if self.down:
            raise OperationalError("commit", {}, Exception("database is down"))
        super().commit(changed, events)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[WatchedStore]:
    Store.open(sqlite_url(tmp_path)).close()  # migrated
    watched = WatchedStore(sqlite_url(tmp_path))
    yield watched
    watched.close()


def _manager(store: Store, tmp_path: Path, writer: StoreWriter) -> JobManager:
    settings = ControllerSettings(data_dir=tmp_path, db_url=store.url,
                                  socket_path=tmp_path / "corral.sock")
    nodes = [Node("n1", 4, 8000, connected=True, last_seen=100.0)]
    return JobManager(settings, store, NodeRegistry(nodes), ManualClock(100.0), writer=writer)


def _spec(**fields: object) -> JobSpec:
    return JobSpec(**{"name": "j", "uid": 0, "gid": 0, "user": "root", "group": "root",
                      "work_dir": "/", "script": "#!/bin/sh\ntrue\n", **fields})  # type: ignore[arg-type]


def test_a_burst_is_committed_in_few_transactions_off_the_loop_in_order(
        store: WatchedStore, tmp_path: Path) -> None:
    async def burst() -> tuple[JobManager, list[Job], list[Change], int]:
        writer = StoreWriter(store)
        writer.start()
        manager = _manager(store, tmp_path, writer)
        heard: list[Change] = []
        manager.observers.subscribe(heard.append)
        jobs = await asyncio.gather(*(manager.submit(_spec(), ROOT) for _ in range(50)))
        await writer.stop()
        return manager, list(jobs), heard, writer.batches

    manager, jobs, heard, batches = asyncio.run(burst())
    assert [j.job_id for j in jobs] == list(range(1, 51))
    assert batches < 50  # the burst queued behind the first commit went in together
    assert all(thread.startswith("corral-writer") for thread, _ in store.commits)
    assert sum(size for _, size in store.commits) == 50
    assert [c.job.job_id for c in heard if isinstance(c, JobChange)] == list(range(1, 51))
    assert sorted(manager.jobs) == list(range(1, 51)) and not manager.pending
    assert [j.job_id for j in store.load_live(0.0)] == list(range(1, 51))


def test_changes_to_one_job_are_made_on_each_other_and_committed_in_order(
        store: WatchedStore, tmp_path: Path) -> None:
    async def run() -> JobManager:
        writer = StoreWriter(store)
        writer.start()
        manager = _manager(store, tmp_path, writer)
        job = await manager.submit(_spec(), ROOT)
        await manager.schedule()
        # Both made before either is committed: the second sees the first.
        await asyncio.gather(
            manager.agent_reports("n1", [StartedReport(job_id=job.job_id, attempt=0)]),
            manager.cancel([manager.jobs[job.job_id]], ROOT))
        await writer.stop()
        return manager

    manager = asyncio.run(run())
    kinds = [e.kind for e in store.events_of(1)]
    assert kinds == ["JobSubmitted", "JobAllocated", "JobStarted", "JobCancelled"]
    assert manager.jobs[1].state is JobState.COMPLETING
    assert store.history(job_ids=[1])[0].state is JobState.COMPLETING


def test_a_failed_commit_fails_each_change_and_applies_nothing(
        store: WatchedStore, tmp_path: Path) -> None:
    async def run() -> tuple[JobManager, list[BaseException | Job], list[Change]]:
        writer = StoreWriter(store)
        writer.start()
        manager = _manager(store, tmp_path, writer)
        await manager.submit(_spec(), ROOT)
        heard: list[Change] = []
        manager.observers.subscribe(heard.append)
        store.down = True
        results = await asyncio.gather(*(manager.submit(_spec(), ROOT) for _ in range(5)),
                                       manager.hold(1, ROOT), return_exceptions=True)
        store.down = False
        await writer.stop()
        return manager, list(results), heard

    manager, results, heard = asyncio.run(run())
    assert all(isinstance(r, OperationalError) for r in results)
    assert list(manager.jobs) == [1] and not manager.jobs[1].held and not manager.pending
    assert heard == []
    assert [j.job_id for j in store.history()] == [1]
    assert [e.kind for e in store.events_of(1)] == ["JobSubmitted"]

