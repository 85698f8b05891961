"""Multifactor priority: each factor and the integer as Slurm's priority/multifactor computes it."""

from __future__ import annotations

from dataclasses import replace

import pytest

from corral.core.fairshare import FAIR_TREE
from corral.core.priority import (
    BASIC,
    MULTIFACTOR,
    PriorityCalculator,
    PriorityConfig,
    basic_priority,
    combine,
)
from corral.model.accounts import Account, AccountTree, Association, Qos, User
from corral.model.cluster import NodeResources, Partition
from corral.model.job import Job, JobSpec
from corral.model.states import JobState

DAY = 86400.0
WEIGHTS = PriorityConfig(type=MULTIFACTOR, weight_age=1000, weight_fairshare=10000,
                         weight_job_size=1000, weight_partition=1000, weight_qos=2000)
NODES = {f"n{i}": NodeResources(f"n{i}", 4, 1000) for i in range(4)}  # 4 nodes, 16 CPUs
PARTS = {"main": Partition("main", all_nodes=True, priority_job_factor=10),
         "low": Partition("low", all_nodes=True, priority_job_factor=5)}


def accounts() -> AccountTree:
    accts = {"root": Account("root", None), "A": Account("A"), "B": Account("B")}
    assoc = {("A", "a1"): Association("a1", "A"), ("A", "a2"): Association("a2", "A"),
             ("B", "b1"): Association("b1", "B")}
    qos = {"normal": Qos("normal", priority=50), "high": Qos("high", priority=100)}
    return AccountTree(accts, assoc, {u: User(u, a) for a, u in assoc}, qos)


USAGE = {("A", "a1"): 10.0, ("A", "a2"): 30.0, ("B", "b1"): 20.0}


def job(job_id: int = 1, *, user: str = "a1", qos: str | None = "high", cpus: int = 2,
        nodes: int = 1, nice: int = 10, submitted: float = 0.0, partition: str = "main") -> Job:
    spec = JobSpec(name="j", uid=1, gid=1, user=user, group="g", work_dir="/", qos=qos,
                   cpus_per_task=cpus, num_nodes=nodes, num_tasks=nodes)
    return Job(job_id, spec, JobState.PENDING, submitted, partition, 100, 10, nice=nice,
               eligible_time=submitted)


def calc(config: PriorityConfig = WEIGHTS) -> PriorityCalculator:
    return PriorityCalculator.prepare(config, NODES, PARTS, accounts(), USAGE)


def test_hand_computed_multifactor_priority() -> None:
    factors = calc().factors(job(), now=3.5 * DAY)
    assert factors.age == 0.5  # 3.5 of PriorityMaxAge's 7 days
    assert factors.fairshare == pytest.approx(2 / 3)  # Fair Tree: a1 is second of three
    assert factors.job_size == (1 / 4 + 2 / 16) / 2  # favour large: nodes and CPUs of the cluster
    assert factors.partition == 1.0 and factors.qos == 1.0
    # 500 + 6666.67 + 187.5 + 1000 + 2000 − 10 = 10344.17, truncated.
    assert factors.priority == 10344
    assert calc().priority(job(), 3.5 * DAY) == 10344


def test_each_factor_stays_within_zero_and_one() -> None:
    f = calc().factors(job(user="a2", qos="normal", partition="low", nice=0), now=30 * DAY)
    assert f.age == 1.0  # capped at PriorityMaxAge
    assert f.fairshare == pytest.approx(1 / 3) and f.partition == 0.5 and f.qos == 0.5
    young = calc().factors(job(submitted=100.0), now=50.0)
    assert young.age == 0.0  # not yet eligible


def test_favor_small_inverts_the_size_factor() -> None:
    small = calc(replace(WEIGHTS, favor_small=True)).factors(job(cpus=2), now=0.0)
    assert small.job_size == ((4 - 1) / 4 + (16 - 2) / 16) / 2


def test_nice_lowers_and_priority_never_drops_below_one() -> None:
    base = calc().priority(job(nice=0), 0.0)
    assert calc().priority(job(nice=100), 0.0) == base - 100
    assert combine(WEIGHTS, 0, 0, 0, 0, 0, nice=5) == 1
    assert combine(PriorityConfig(type=MULTIFACTOR, weight_age=2**33), 1.0, 0, 0, 0, 0, 0) == 2**32 - 1


def test_weights_of_zero_leave_a_factor_out() -> None:
    only_age = PriorityConfig(type=MULTIFACTOR, weight_age=100)
    f = calc(only_age).factors(job(nice=0), now=7 * DAY)
    assert (f.fairshare, f.job_size, f.qos, f.priority) == (0.0, 0.0, 0.0, 100)
    assert f.weighted(only_age)["age"] == 100.0


def test_basic_priority_is_slurms_priority_basic() -> None:
    assert calc(PriorityConfig(type=BASIC)).priority(job(7, nice=0), 0.0) == basic_priority(job(7, nice=0))
    assert basic_priority(job(1, nice=0)) == 4294901758
    assert PriorityConfig().type == BASIC and PriorityConfig().fairshare == FAIR_TREE


def test_weighted_parts_give_the_same_integer_as_factors() -> None:
    c = calc()
    j = job(3, user="b1", qos="normal", cpus=3, nice=-5, submitted=1000.0)
    parts = c.weighted_parts(j, ("B", "b1"), "normal")
    for now in (0.0, 2000.0, 2 * DAY, 9 * DAY):
        assert c.priority_from(j, now, parts) == c.factors(j, now).priority
