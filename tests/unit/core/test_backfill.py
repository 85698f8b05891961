"""Backfill and reservations: exact small schedules, and the guarantees under Hypothesis."""

from __future__ import annotations

import math
from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from corral.core.cycle import run_cycle
from corral.core.decisions import (
    CONSERVATIVE,
    EASY,
    FIFO,
    CycleResult,
    SchedulingContext,
    SchedulingPolicy,
)
from corral.model.cluster import NodeResources, Partition
from corral.model.job import Job, JobSpec, NodeAllocation
from corral.model.states import JobState, Reason

MAIN = {"main": Partition("main", all_nodes=True, default=True)}


def ctx(mode: str) -> SchedulingContext:
    return SchedulingContext(SchedulingPolicy(backfill=mode))


def nodes(n: int, cpus: int = 4) -> dict[str, NodeResources]:
    return {f"n{i}": NodeResources(f"n{i}", cpus, 4000, 0, None, cpus, 4000)
            for i in range(1, n + 1)}


def job(job_id: int, *, nodes: int = 1, cpus: int = 1, limit: int | None = 10) -> Job:
    spec = JobSpec(name="j", uid=1, gid=1, user="u", group="g", work_dir="/", num_nodes=nodes,
                   cpus_per_task=cpus)
    return Job(job_id, spec, JobState.PENDING, float(job_id), "main", 100, limit)


def running(j: Job, alloc: dict[str, NodeAllocation], start: float) -> Job:
    return replace(j, state=JobState.RUNNING, allocation=alloc, start_time=start)


def occupy(view: dict[str, NodeResources], jobs: list[Job]) -> dict[str, NodeResources]:
    out = dict(view)
    for j in jobs:
        for name, a in j.allocation.items():
            n = out[name]
            out[name] = replace(n, free_cpus=n.free_cpus - a.cpus, free_memory=n.free_memory - a.memory,
                                idle=False)
    return out


def three_nodes() -> tuple[list[Job], dict[str, NodeResources]]:
    """n1 busy until 600 s, n3 busy until 3000 s, n2 free; now is 60 s."""
    busy = [running(job(101, cpus=4, limit=10), {"n1": NodeAllocation(4, 100)}, 0.0),
            running(job(103, cpus=4, limit=50), {"n3": NodeAllocation(4, 100)}, 0.0)]
    return busy, occupy(nodes(3), busy)


def test_easy_reserves_for_the_first_waiting_job_only_and_estimates_everyone() -> None:
    busy, view = three_nodes()
    pending = [job(1, nodes=2, cpus=4), job(2, cpus=4), job(3, cpus=2, limit=9)]
    result = run_cycle(pending, busy, view, MAIN, 60.0, ctx(EASY))
    # Job 1 gets n1 and n2 at 600 s; job 3 ends at 600 s exactly, so it may use n2 till then.
    assert [(r.job_id, r.start, sorted(r.nodes)) for r in result.reservations] == [
        (1, 600.0, ["n1", "n2"])]
    assert [(s.job_id, list(s.allocation), s.backfilled) for s in result.starts] == [
        (3, ["n2"], True)]
    assert result.reasons == {1: Reason.RESOURCES, 2: Reason.PRIORITY}
    assert result.estimates == {1: 600.0, 2: 1200.0}


def test_conservative_reserves_for_every_waiting_job() -> None:
    busy, view = three_nodes()
    pending = [job(1, nodes=2, cpus=4), job(2, cpus=4), job(3, cpus=2, limit=9)]
    result = run_cycle(pending, busy, view, MAIN, 60.0, ctx(CONSERVATIVE))
    assert [(r.job_id, r.start, sorted(r.nodes)) for r in result.reservations] == [
        (1, 600.0, ["n1", "n2"]), (2, 1200.0, ["n1"])]
    assert [s.job_id for s in result.starts] == [3]
    assert result.estimates == {1: 600.0, 2: 1200.0}


def test_fifo_starts_nothing_behind_the_first_waiting_job() -> None:
    busy, view = three_nodes()
    pending = [job(1, nodes=2, cpus=4), job(3, cpus=2, limit=9)]
    result = run_cycle(pending, busy, view, MAIN, 60.0, ctx(FIFO))
    assert result.starts == ()
    assert result.reasons == {1: Reason.RESOURCES, 3: Reason.PRIORITY}
    assert result.estimates[1] == 600.0


def test_a_job_that_would_outlast_the_reservation_uses_unreserved_nodes() -> None:
    busy = [running(job(101, cpus=4, limit=10), {"n1": NodeAllocation(4, 100)}, 0.0)]
    view = occupy(nodes(3), busy)
    pending = [job(1, nodes=2, cpus=4), job(2, cpus=4, limit=60)]
    result = run_cycle(pending, busy, view, MAIN, 60.0)
    reserved = result.reservations[0].nodes
    assert len(result.starts) == 1
    assert not set(result.starts[0].allocation) & reserved


def test_every_pending_job_gets_an_estimate_in_priority_order() -> None:
    busy = [running(job(100 + i, cpus=4, limit=10 * i), {f"n{i}": NodeAllocation(4, 100)}, 0.0)
            for i in (1, 2)]
    view = occupy(nodes(2), busy)
    pending = [job(i, cpus=4, limit=10) for i in range(1, 6)]
    result = run_cycle(pending, busy, view, MAIN, 0.0)
    # n1 frees at 600, n2 at 1200; each job runs 600 s.
    assert result.estimates == {1: 600.0, 2: 1200.0, 3: 1200.0, 4: 1800.0, 5: 1800.0}
    assert all(r in (Reason.RESOURCES, Reason.PRIORITY) for r in result.reasons.values())


# -- guarantees ------------------------------------------------------------------------------

pending_jobs = st.lists(st.tuples(st.integers(1, 3), st.integers(1, 4),
                                  st.sampled_from([None, 1, 5, 30, 120])), min_size=1, max_size=20)
busy_jobs = st.lists(st.tuples(st.integers(1, 4), st.integers(1, 4), st.sampled_from([None, 2, 10, 60]),
                               st.floats(0, 50)), max_size=6)


def scenario(node_count: int, busy: list[tuple[int, int, int | None, float]],
             requests: list[tuple[int, int, int | None]]) -> tuple[list[Job], list[Job], dict[str, NodeResources]]:
    view = nodes(node_count)
    running_jobs: list[Job] = []
    for k, (where, cpus, limit, start) in enumerate(busy):
        name = f"n{(where - 1) % node_count + 1}"
        if view[name].free_cpus < cpus:
            continue
        r = running(job(1000 + k, cpus=cpus, limit=limit), {name: NodeAllocation(cpus, 100)}, start)
        running_jobs.append(r)
        view = occupy(view, [r])
    pending = [job(i + 1, nodes=n, cpus=c, limit=limit) for i, (n, c, limit) in enumerate(requests)]
    return pending, running_jobs, view


def check_invariants(pending: list[Job], busy: list[Job], view: dict[str, NodeResources],
                     result: CycleResult) -> None:
    used = {n: view[n].cpus - view[n].free_cpus for n in view}
    by_id = {j.job_id: j for j in pending}
    for start in result.starts:
        assert len(start.allocation) == by_id[start.job_id].spec.num_nodes  # gang: all or none
        for name, alloc in start.allocation.items():
            used[name] += alloc.cpus
    assert all(used[n] <= view[n].cpus for n in view)  # never over-allocated
    started = {s.job_id for s in result.starts}
    assert all(j.job_id in started or j.job_id in result.reasons for j in pending)
    assert not started & set(result.reasons)


def started_as_running(pending: list[Job], result: CycleResult, now: float) -> list[Job]:
    by_id = {j.job_id: j for j in pending}
    return [running(by_id[s.job_id], dict(s.allocation), now) for s in result.starts]


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 4), busy_jobs, pending_jobs)
def test_easy_backfill_never_delays_the_top_jobs_reservation(node_count: int, busy: list,
                                                             requests: list) -> None:
    pending, busy_jobs_, view = scenario(node_count, busy, requests)
    now = 60.0
    result = run_cycle(pending, busy_jobs_, view, MAIN, now)
    check_invariants(pending, busy_jobs_, view, result)
    for reservation in result.reservations:
        if math.isinf(reservation.start):
            continue
        top = next(j for j in pending if j.job_id == reservation.job_id)
        after = started_as_running(pending, result, now)
        again = run_cycle([top], busy_jobs_ + after, occupy(view, after), MAIN, now)
        assert again.starts or again.estimates[top.job_id] <= reservation.start + 1e-6


def cpus_in_use(node: str, at: float, holders: list[tuple[float, float, dict[str, int]]]) -> int:
    return sum(cpus.get(node, 0) for start, end, cpus in holders if start <= at < end)


@settings(max_examples=150, deadline=None)
@given(st.integers(1, 4), busy_jobs, pending_jobs)
def test_conservative_reservations_and_starts_form_a_feasible_plan(node_count: int, busy: list,
                                                                    requests: list) -> None:
    """Were every job to run to its limit, each reserved job could start at its reserved
    time on its reserved nodes: nothing started now, and no reservation ahead of it, is in
    its way. (Planning again from scratch may pick other nodes, so it is the plan of one
    pass that must hold, as Slurm's backfill re-plans each cycle.)"""
    pending, busy_jobs_, view = scenario(node_count, busy, requests)
    now = 60.0
    result = run_cycle(pending, busy_jobs_, view, MAIN, now, ctx(CONSERVATIVE))
    check_invariants(pending, busy_jobs_, view, result)
    by_id = {j.job_id: j for j in pending}
    holders = [(j.start_time or 0.0, j.expected_end(), {n: a.cpus for n, a in j.allocation.items()})
               for j in busy_jobs_]
    holders += [(now, by_id[s.job_id].time_limit * 60 + now if by_id[s.job_id].time_limit else math.inf,
                 {n: a.cpus for n, a in s.allocation.items()}) for s in result.starts]
    for r in result.reservations:
        if math.isinf(r.start):
            continue
        want = by_id[r.job_id].spec.cpus_per_task
        assert len(r.nodes) == by_id[r.job_id].spec.num_nodes
        # Past-due jobs are expected to end at once: a reservation at `now` may count on it.
        late = [h for h in holders if not (h[1] <= now and r.start == now)]
        moments = {r.start} | {h[0] for h in late if r.start < h[0] < r.end}
        for node in r.nodes:
            for at in moments:
                assert cpus_in_use(node, at, late) + want <= view[node].cpus
        holders.append((r.start, r.end, dict.fromkeys(r.nodes, want)))


@settings(max_examples=100, deadline=None)
@given(st.integers(1, 4), busy_jobs, pending_jobs, st.sampled_from([EASY, CONSERVATIVE, FIFO]))
def test_every_pending_job_has_a_reason_or_starts_in_every_mode(node_count: int, busy: list,
                                                                requests: list, mode: str) -> None:
    pending, busy_jobs_, view = scenario(node_count, busy, requests)
    result = run_cycle(pending, busy_jobs_, view, MAIN, 60.0, ctx(mode))
    check_invariants(pending, busy_jobs_, view, result)
    for job_id, reason in result.reasons.items():
        if reason in (Reason.RESOURCES, Reason.PRIORITY) and job_id in result.estimates:
            assert result.estimates[job_id] >= 60.0
