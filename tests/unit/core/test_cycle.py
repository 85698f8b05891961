"""The scheduling pass on small hand-computed cases, and its invariants under Hypothesis."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from corral.core.cycle import run_cycle
from corral.model.cluster import NodeResources, Partition
from corral.model.job import Job, JobSpec, NodeAllocation
from corral.model.states import JobState, Reason

MAIN = {"main": Partition("main", all_nodes=True, default=True)}


def nodes(n: int, cpus: int = 4, mem: int = 4000, gpus: int = 0) -> dict[str, NodeResources]:
    return {f"n{i}": NodeResources(f"n{i}", cpus, mem, gpus, None, cpus, mem, tuple(range(gpus)))
            for i in range(1, n + 1)}


def job(job_id: int, *, nodes: int = 1, cpus: int = 1, mem: int = 100, limit: int | None = 10,
        gpus: int = 0, **spec: object) -> Job:
    s = JobSpec(name="j", uid=1, gid=1, user="u", group="g", work_dir="/", num_nodes=nodes,
                cpus_per_task=cpus, gpus_per_node=gpus, **spec)  # type: ignore[arg-type]
    return Job(job_id=job_id, spec=s, state=JobState.PENDING, submit_time=float(job_id),
               partition="main", mem_per_node=mem, time_limit=limit)


def running(j: Job, alloc: dict[str, NodeAllocation], start: float) -> Job:
    return replace(j, state=JobState.RUNNING, allocation=alloc, start_time=start)


def occupy(view: dict[str, NodeResources], jobs: list[Job]) -> dict[str, NodeResources]:
    out = dict(view)
    for j in jobs:
        for name, a in j.allocation.items():
            n = out[name]
            out[name] = replace(n, free_cpus=n.free_cpus - a.cpus, free_memory=n.free_memory - a.memory,
                                free_gpus=tuple(g for g in n.free_gpus if g not in a.gpu_indices),
                                idle=False)
    return out


def test_jobs_start_in_priority_order_until_full() -> None:
    result = run_cycle([job(1, cpus=3), job(2, cpus=3), job(3, cpus=3)], [], nodes(2), MAIN, 0.0)
    assert [s.job_id for s in result.starts] == [1, 2]
    assert result.reasons == {3: Reason.RESOURCES}


def test_gang_job_gets_all_its_nodes_or_none() -> None:
    busy = running(job(1, cpus=4), {"n1": NodeAllocation(4, 100)}, 0.0)
    result = run_cycle([job(2, nodes=2)], [busy], occupy(nodes(2), [busy]), MAIN, 1.0)
    assert result.starts == () and result.reasons[2] is Reason.RESOURCES
    result = run_cycle([job(2, nodes=2)], [], nodes(2), MAIN, 1.0)
    assert set(result.starts[0].allocation) == {"n1", "n2"}


def test_easy_backfill_short_job_goes_long_job_waits() -> None:
    busy = running(job(1, cpus=4, limit=10), {"n1": NodeAllocation(4, 100)}, 0.0)
    pending = [job(2, nodes=2, cpus=4), job(3, cpus=4, limit=5), job(4, cpus=4, limit=20)]
    result = run_cycle(pending, [busy], occupy(nodes(2), [busy]), MAIN, 60.0)
    assert [s.job_id for s in result.starts] == [3]
    assert result.starts[0].backfilled
    assert result.reasons == {2: Reason.RESOURCES, 4: Reason.PRIORITY}
    # Job 2 holds both nodes from 600 s (job 1's limit) for its 600 s; job 4 comes after it.
    assert result.estimates == {2: 600.0, 4: 1200.0}


def test_unlimited_jobs_never_backfill_ahead_of_a_blocked_job() -> None:
    busy = running(job(1, cpus=4, limit=None), {"n1": NodeAllocation(4, 100)}, 0.0)
    pending = [job(2, nodes=2, cpus=4), job(3, cpus=1, limit=None), job(4, cpus=1, limit=5)]
    result = run_cycle(pending, [busy], occupy(nodes(2), [busy]), MAIN, 1.0)
    assert [s.job_id for s in result.starts] == [4]
    assert 2 not in result.estimates


def test_held_and_partition_limited_jobs_get_their_reasons() -> None:
    parts = {"main": Partition("main", all_nodes=True, default=True, max_time=5)}
    result = run_cycle([replace(job(1), held=True), job(2, limit=10), job(3, limit=5, nodes=3)],
                       [], nodes(2), parts, 0.0)
    assert result.reasons == {1: Reason.HELD_USER, 2: Reason.PARTITION_TIME_LIMIT,
                              3: Reason.PARTITION_NODE_LIMIT}


def test_gpus_are_given_by_index_and_never_shared() -> None:
    result = run_cycle([job(1, gpus=1), job(2, gpus=1), job(3, gpus=1)], [], nodes(1, gpus=2),
                       MAIN, 0.0)
    given = [s.allocation["n1"].gpu_indices for s in result.starts]
    assert given == [(0,), (1,)] and result.reasons == {3: Reason.RESOURCES}


def test_nodelist_and_exclude_are_honoured() -> None:
    result = run_cycle([job(1, req_nodes=("n2",)), job(2, exc_nodes=("n1",))], [], nodes(2),
                       MAIN, 0.0)
    assert [list(s.allocation) for s in result.starts] == [["n2"], ["n2"]]


def test_drained_or_down_nodes_are_not_used() -> None:
    view = nodes(2)
    view["n1"] = replace(view["n1"], available=False)
    result = run_cycle([job(1), job(2)], [], view, MAIN, 0.0)
    assert all(list(s.allocation) == ["n2"] for s in result.starts)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 3), st.integers(1, 4), st.sampled_from([None, 1, 5, 30])),
                min_size=1, max_size=25),
       st.integers(1, 4))
def test_invariants_hold_after_every_pass(requests: list[tuple[int, int, int | None]],
                                          node_count: int) -> None:
    view = nodes(node_count)
    pending = [job(i + 1, nodes=n, cpus=c, limit=limit) for i, (n, c, limit) in enumerate(requests)]
    result = run_cycle(pending, [], view, MAIN, 0.0)
    used: dict[str, int] = {}
    for start in result.starts:
        j = next(p for p in pending if p.job_id == start.job_id)
        assert len(start.allocation) == j.spec.num_nodes  # gang: whole or not at all
        for name, alloc in start.allocation.items():
            used[name] = used.get(name, 0) + alloc.cpus
    assert all(used[n] <= view[n].cpus for n in used)  # never over-allocated
    started = {s.job_id for s in result.starts}
    assert all(p.job_id in started or p.job_id in result.reasons for p in pending)


def test_without_estimates_the_decisions_are_the_same() -> None:
    from corral.core.decisions import SchedulingContext, SchedulingPolicy

    busy = running(job(1, cpus=4, limit=10), {"n1": NodeAllocation(4, 100)}, 0.0)
    pending = [job(2, nodes=2, cpus=4), job(3, cpus=4, limit=5), job(4, cpus=4, limit=20)]
    view = occupy(nodes(2), [busy])
    full = run_cycle(pending, [busy], view, MAIN, 60.0)
    lean = run_cycle(pending, [busy], view, MAIN, 60.0,
                     SchedulingContext(SchedulingPolicy(estimates=False)))
    assert (lean.starts, lean.reasons, lean.reservations) == (full.starts, full.reasons,
                                                              full.reservations)
    assert 4 not in lean.estimates and full.estimates[4] == 1200.0
