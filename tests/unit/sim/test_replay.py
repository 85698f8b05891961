"""Replays whose schedules are worked out by hand, and the cut-down passes checked against
asking the core about the whole queue at every instant."""

from __future__ import annotations

import random

import pytest

from corral.model.cluster import Partition
from corral.sim.replay import replay
from corral.sim.swf import read_lines
from corral.sim.workload import Workload, from_trace


def workload(jobs: list[tuple[int, int, int, int]], procs: int = 4, nodes: int = 4,
             partitions: tuple[Partition, ...] = ()) -> Workload:
    """jobs: (submit, procs, run s, requested s); job numbers follow the list."""
    lines = [f"; MaxProcs: {procs}", f"; MaxNodes: {nodes}"]
    for number, (submit, p, run, req) in enumerate(jobs, start=1):
        lines.append(f"{number} {submit} -1 {run} {p} -1 -1 {p} {req} -1 1 {number % 3} 1 "
                     "-1 -1 -1 -1 -1")
    return from_trace(read_lines(lines), partitions=partitions)


# Four 1-core nodes. Job 1 holds two until 600; job 2 wants all four, so it waits for 600.
# Job 3 (2 cores, 5 min) ends by 320, before job 2 could start: EASY backfills it at once.
# Job 4 (1 core, 20 min) would run past 600 on job 2's reserved nodes: it waits for job 2.
# Job 5 (1 core, 4 min) fits in the hole job 3 leaves at 320 and ends (560) before 600.
# FIFO starts nothing behind job 2: jobs 3-5 start when it ends at 1200.
HOLE = [(0, 2, 600, 600), (10, 4, 600, 1200), (20, 2, 300, 300), (30, 1, 600, 1200),
        (40, 1, 200, 240)]


@pytest.mark.parametrize(("policy", "starts"), [
    ("fifo", {1: 0, 2: 600, 3: 1200, 4: 1200, 5: 1200}),
    ("easy", {1: 0, 2: 600, 3: 20, 4: 1200, 5: 320}),
    ("conservative", {1: 0, 2: 600, 3: 20, 4: 1200, 5: 320}),
])
def test_hand_computed_schedules(policy: str, starts: dict[int, int]) -> None:
    for exact in (False, True):
        done = replay(workload(HOLE), policy, exact=exact)
        assert {o.job_id: o.start for o in done.outcomes} == starts
        assert {o.job_id: o.end - o.start for o in done.outcomes} == {
            1: 600, 2: 600, 3: 300, 4: 600, 5: 200}
        assert {o.job_id for o in done.outcomes if o.backfilled} == (
            set() if policy == "fifo" else {3, 5})


def test_conservative_protects_every_reservation_where_easy_protects_one() -> None:
    # Five 1-core nodes; jobs 1-3 hold three of them, until 960, 960 and 2880. Job 4 (3 cores)
    # can start at 960 on three of the four nodes free then: both policies reserve them.
    # Job 5 wants all five nodes: only conservative reserves them for it, from 2880. Job 6
    # (1 core, 3840 s) fits now on the free node job 4 does not need: EASY starts it and so
    # delays job 5 until 3870; conservative keeps job 5's start and runs job 6 after it.
    jobs = [(0, 1, 960, 960), (0, 1, 960, 960), (0, 1, 2880, 2880), (10, 3, 480, 480),
            (20, 5, 480, 480), (30, 1, 3840, 3840)]
    easy = {o.job_id: o.start for o in replay(workload(jobs, 5, 5), "easy").outcomes}
    conservative = {o.job_id: o.start
                    for o in replay(workload(jobs, 5, 5), "conservative").outcomes}
    assert easy == {1: 0, 2: 0, 3: 0, 4: 960, 5: 3870, 6: 30}
    assert conservative == {1: 0, 2: 0, 3: 0, 4: 960, 5: 2880, 6: 3360}


def test_a_job_is_killed_at_its_time_limit() -> None:
    # Requested 61 s is a 2-minute limit (Slurm keeps minutes): 100 s runs out, 500 s does not.
    done = replay(workload([(0, 1, 100, 61), (0, 1, 500, 61)]), "easy")
    first, second = done.outcomes
    assert (first.end, first.killed, first.state) == (100, False, "COMPLETED")
    assert (second.end, second.killed, second.state) == (120, True, "TIMEOUT")


def test_zero_length_jobs_free_their_cores_at_the_same_instant() -> None:
    done = replay(workload([(0, 4, 0, 60), (0, 4, 30, 60)]), "fifo")
    assert [(o.start, o.end) for o in done.outcomes] == [(0, 0), (0, 30)]


def _random_workload(rng: random.Random) -> Workload:
    cores = rng.choice([1, 2, 4])
    nodes = rng.randint(2, 12)
    jobs = []
    submit = 0
    for _ in range(rng.randint(30, 90)):
        submit += rng.choice([0, 0, 5, 30, 120])
        procs = rng.choice([1, 1, 2, rng.randint(1, cores * nodes)])
        run = rng.choice([0, 10, 60, 200, 900, 3000, 7200])
        req = rng.choice([run, run + 60, 2 * run + 60, 10 * run + 60, max(60, run // 2)])
        jobs.append((submit, procs, run, req))
    parts: tuple[Partition, ...] = ()
    if rng.random() < 0.3:
        names = [f"node{i:04d}" for i in range(1, nodes + 1)]
        parts = (Partition("main", all_nodes=True, default=True),
                 Partition("small", nodes=tuple(names[: max(1, nodes // 2)])))
    return workload(jobs, cores * nodes, nodes, parts)


@pytest.mark.parametrize("policy", ["fifo", "easy", "conservative"])
def test_cut_down_passes_decide_as_whole_queue_passes(policy: str) -> None:
    rng = random.Random(f"sim-{policy}")
    for _ in range(12):
        work = _random_workload(rng)
        fast = replay(work, policy)
        whole = replay(work, policy, exact=True)
        assert [(o.job_id, o.start, o.end, o.hosts) for o in fast.outcomes] == [
            (o.job_id, o.start, o.end, o.hosts) for o in whole.outcomes]
        assert not fast.never_started


def test_a_policy_without_replay_cuts_is_replayed_uncut(monkeypatch: pytest.MonkeyPatch) -> None:
    # A new policy with EASY's traits that does not claim the simulator's cuts: the replay
    # asks the core about the whole queue at every instant, and gets EASY's schedule.
    from corral.core import policies
    from corral.core.decisions import SchedulingContext, SchedulingPolicy
    from corral.sim.replay import _State

    monkeypatch.setattr(policies, "_REGISTRY", dict(policies._REGISTRY))
    monkeypatch.setattr(policies, "_ALIASES", dict(policies._ALIASES))
    policies.register(policies.QueuePolicy("easy-uncut", backfill=True, reserve_all=False))
    context = SchedulingContext(policy=SchedulingPolicy(backfill="easy-uncut"))
    assert _State(workload(HOLE), context, exact=False).exact
    assert not _State(workload(HOLE), SchedulingContext(), exact=False).exact
    uncut = replay(workload(HOLE), context)
    assert uncut.policy == "easy-uncut"
    assert [o.start for o in uncut.outcomes] == [
        o.start for o in replay(workload(HOLE), "easy").outcomes]
