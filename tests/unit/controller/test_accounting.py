"""The controller's accounting on a real SQLite store: admission, usage accrual and decay,
sacctmgr edits that survive a restart."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from corral.clock import ManualClock
from corral.controller.accounting import Accounting
from corral.controller.writer import drive
from corral.core.decisions import SchedulingPolicy
from corral.core.priority import PriorityConfig
from corral.model.errors import InvalidRequest
from corral.model.job import Job, JobSpec, NodeAllocation
from corral.model.states import JobState
from corral.settings import ControllerSettings
from corral.store.store import Store

HALF_LIFE = 3600


@pytest.fixture
def parts(tmp_path: Path) -> tuple[ControllerSettings, Store, ManualClock]:
    settings = ControllerSettings(
        data_dir=tmp_path, db_url=f"sqlite:///{tmp_path / 'c.db'}", socket_path=tmp_path / "s",
        policy=SchedulingPolicy(priority=PriorityConfig(decay_half_life=HALF_LIFE)))
    return settings, Store.open(settings.db_url), ManualClock(1_000_000.0)


def spec(user: str = "alice", **changes: object) -> JobSpec:
    base = JobSpec(name="j", uid=1000, gid=1000, user=user, group=user, work_dir="/tmp",
                   script="#!/bin/sh\ntrue\n")
    return replace(base, **changes)  # type: ignore[arg-type]


def running(job_id: int, admitted: JobSpec, start: float, cpus: int) -> Job:
    return Job(job_id=job_id, spec=admitted, state=JobState.RUNNING, submit_time=start,
               partition="main", mem_per_node=100, time_limit=None, start_time=start,
               allocation={"n1": NodeAllocation(cpus, 100)})


def test_a_new_user_joins_root_and_a_foreign_account_is_refused(parts) -> None:  # type: ignore[no-untyped-def]
    settings, store, clock = parts
    accounting = Accounting(settings, store, clock)
    admitted = accounting.admit(spec())
    assert (admitted.account, admitted.qos) == ("root", "normal")
    with pytest.raises(InvalidRequest, match="Invalid account or account/partition combination"):
        accounting.admit(spec(account="physics"))
    with pytest.raises(InvalidRequest, match="Invalid qos specification"):
        accounting.admit(spec(qos="nonesuch"))
    # The association was saved: a restarted controller knows alice.
    again = Accounting(settings, store, clock)
    assert again.tree.association("alice", None) is not None


def test_running_jobs_accrue_cpu_seconds_that_decay(parts) -> None:  # type: ignore[no-untyped-def]
    settings, store, clock = parts
    accounting = Accounting(settings, store, clock)
    alice = accounting.admit(spec("alice"))
    bob = accounting.admit(spec("bob"))
    jobs = [running(1, alice, clock.now, cpus=4), running(2, bob, clock.now, cpus=1)]
    accounting.accrue(jobs, clock.now)
    for _ in range(10):
        clock.advance(6)
        accounting.accrue(jobs, clock.now)
    a, b = accounting.usage[("root", "alice")], accounting.usage[("root", "bob")]
    assert a == pytest.approx(4 * 60, rel=0.01) and b == pytest.approx(60, rel=0.01)
    # The job ends: its tail is charged once, then nothing more.
    ended = replace(jobs[0], state=JobState.COMPLETED, end_time=clock.now + 3)
    clock.advance(10)
    accounting.accrue([ended, jobs[1]], clock.now)
    after_end = accounting.usage[("root", "alice")]
    assert after_end == pytest.approx(4 * 63, rel=0.01)
    clock.advance(HALF_LIFE)
    accounting.accrue([ended], clock.now)
    assert accounting.usage[("root", "alice")] == pytest.approx(after_end / 2, rel=0.01)
    accounting.save_usage(clock.now)
    assert Accounting(settings, store, clock).usage == accounting.usage


def test_sacctmgr_edits_are_saved_and_refusals_change_nothing(parts) -> None:  # type: ignore[no-untyped-def]
    settings, store, clock = parts
    accounting = Accounting(settings, store, clock)
    reply = drive(accounting.admin({"verb": "add", "entity": "account", "names": ["physics"],
                                    "where": {}, "set": {"fairshare": "10"}}))
    assert reply["changed"] and "physics" in reply["message"]
    drive(accounting.admin({"verb": "add", "entity": "user", "names": ["carol"], "where": {},
                            "set": {"account": "physics"}}))
    assert accounting.admit(spec("carol")).account == "physics"
    before = accounting.tree
    with pytest.raises(InvalidRequest):
        drive(accounting.admin({"verb": "add", "entity": "user", "names": ["dave"], "where": {},
                                "set": {"account": "nonesuch"}}))
    assert accounting.tree is before
    dry = drive(accounting.admin({"verb": "delete", "entity": "user", "names": ["carol"],
                                  "where": {}, "set": {}, "dry_run": True}))
    assert dry["changed"] and accounting.tree is before
    restarted = Accounting(settings, store, clock)
    assert restarted.tree.accounts["physics"].shares == 10
    assert restarted.tree.association("carol", "physics") is not None
