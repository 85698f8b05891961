"""The store on SQLite and on the machine's real PostgreSQL and MariaDB servers."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
import sqlalchemy as sa
from databases import fresh_database

from corral.model.job import Job, JobSpec, NodeAllocation, StepRecord
from corral.model.states import JobState, Reason
from corral.store.store import EventRecord, Store


def _server_store(kind: str) -> Iterator[Store]:
    """A store on a fresh database of a real server (databases.py)."""
    with fresh_database(kind) as (url, _):
        store = Store.open(url)
        try:
            yield store
        finally:
            store.close()


@pytest.fixture(params=["sqlite", "postgresql", "mariadb"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "sqlite":
        opened = Store.open(f"sqlite:///{tmp_path / 'corral.db'}")
        yield opened
        opened.close()
    else:
        yield from _server_store(request.param)


def _job(job_id: int, **changes: object) -> Job:
    spec = JobSpec(name="j", uid=1000, gid=1000, user="alice", group="alice", work_dir="/tmp",
                   script="#!/bin/sh\n" + "x" * 70000, environment={"A": "1"}, argv=("a", "b c"))
    job = Job(job_id=job_id, spec=spec, state=JobState.PENDING, submit_time=100.0 + job_id,
              partition="main", mem_per_node=512, time_limit=10)
    return replace(job, **changes)  # type: ignore[arg-type]


def test_a_committed_job_reads_back_identical(store: Store) -> None:
    running = _job(1, state=JobState.RUNNING, start_time=200.0,
                   allocation={"node1": NodeAllocation(2, 1024, (0, 1))}, launched=True,
                   batch_step=StepRecord(JobState.RUNNING, 200.0))
    store.commit([(running, True), (_job(2), True)],
                 [EventRecord(1, 200.0, "JobAllocated", {"x": 1}, "c1")])
    assert store.load_live(ended_after=0) == [running, _job(2)]
    assert store.max_job_id() == 2


def test_updates_replace_the_row_and_events_accumulate(store: Store) -> None:
    store.commit([(_job(1), True)], [EventRecord(1, 1.0, "JobSubmitted", {}, "a")])
    done = _job(1, state=JobState.COMPLETED, reason=Reason.NONE, start_time=5.0, end_time=9.0)
    store.commit([(done, False)], [EventRecord(1, 9.0, "JobFinished", {"exit_code": 0}, "b")])
    assert [e.kind for e in store.events_of(1)] == ["JobSubmitted", "JobFinished"]
    assert store.load_live(ended_after=10.0) == []
    assert store.load_live(ended_after=8.0) == [done]
    assert store.history(uid=1000) == [done]


def test_history_filters_by_user_ids_window_and_state(store: Store) -> None:
    jobs = [_job(1, end_time=50.0, state=JobState.COMPLETED), _job(2, state=JobState.RUNNING),
            replace(_job(3), spec=replace(_job(3).spec, uid=7))]
    store.commit([(j, True) for j in jobs])
    assert [j.job_id for j in store.history(uid=1000)] == [1, 2]
    assert [j.job_id for j in store.history(job_ids=[3, 2])] == [2, 3]
    assert [j.job_id for j in store.history(start=60.0)] == [2, 3]
    assert [j.job_id for j in store.history(states=["COMPLETED"])] == [1]


def test_a_failed_transaction_leaves_nothing(store: Store) -> None:
    store.commit([(_job(1), True)])
    with pytest.raises(sa.exc.IntegrityError):
        store.commit([(_job(2), True), (_job(1), True)])
    assert [j.job_id for j in store.load_live(0)] == [1]


def test_nodes_and_meta_persist(store: Store) -> None:
    store.save_node("node1", {"name": "node1", "drain": True})
    store.save_node("node1", {"name": "node1", "drain": False})
    assert store.load_nodes() == {"node1": {"name": "node1", "drain": False}}
    store.set_meta("k", "v1")
    store.set_meta("k", "v2")
    assert store.get_meta("k") == "v2"


def test_migrations_are_idempotent(store: Store) -> None:
    store.migrate()
    store.commit([(_job(1), True)])
    assert store.max_job_id() == 1


def test_account_tree_and_usage_round_trip(store: Store) -> None:
    assert store.load_accounts() is None
    tree = {
        "accounts": [{"name": "root", "parent": None, "shares": 1},
                     {"name": "physics", "parent": "root", "shares": 40,
                      "description": "x" * 300}],
        "users": [{"name": "alice", "default_account": "physics"}],
        "associations": [{"user": "alice", "account": "physics", "shares": 2,
                          "limits": {"grp_tres": {"gres/gpu": 8}}}],
        "qos": [{"name": "normal"}, {"name": "high", "priority": 100, "preempt": ["normal"]}],
        "default_qos": "normal",
    }
    store.save_accounts(tree)
    loaded = store.load_accounts()
    assert loaded is not None
    by_name = sorted(tree["accounts"], key=lambda a: a["name"])
    assert sorted(loaded["accounts"], key=lambda a: a["name"]) == by_name
    assert loaded["associations"] == tree["associations"]
    assert sorted(loaded["qos"], key=lambda q: q["name"]) == sorted(tree["qos"],
                                                                    key=lambda q: q["name"])
    assert loaded["default_qos"] == "normal"
    # A save replaces the whole tree: deleted entities are gone.
    store.save_accounts({**tree, "users": [], "associations": []})
    again = store.load_accounts()
    assert again is not None and again["users"] == [] and again["associations"] == []

    store.save_usage({("physics", "alice"): 1234.5, ("root", "bob"): 0.25})
    assert store.load_usage() == {("physics", "alice"): 1234.5, ("root", "bob"): 0.25}
    store.save_usage({("physics", "alice"): 99.0})
    assert store.load_usage() == {("physics", "alice"): 99.0}
