"""Tasks and GPUs spread over nodes as Slurm spreads them: node counts from -n and --gpus,
uneven shares by block distribution (-n 3 on 2-CPU nodes: 2 CPUs, then 1), gang placement of
uneven shares, and reservations that stay feasible with them (Hypothesis)."""

from __future__ import annotations

import math
from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from corral.core.cycle import run_cycle
from corral.core.decisions import CONSERVATIVE, EASY, SchedulingContext, SchedulingPolicy
from corral.core.limits import job_tres
from corral.core.selection import PerNode, each_node, per_node_request, shares, spread
from corral.model.cluster import NodeResources, Partition
from corral.model.job import Job, JobSpec, NodeAllocation
from corral.model.states import JobState

MAIN = {"main": Partition("main", all_nodes=True, default=True)}
BASE = JobSpec(name="j", uid=1, gid=1, user="u", group="g", work_dir="/")


def nodes(n: int, cpus: int = 2, gpus: int = 0) -> dict[str, NodeResources]:
    return {f"node{i}": NodeResources(f"node{i}", cpus, 4000, gpus, None, cpus, 4000,
                                      tuple(range(gpus)))
            for i in range(1, n + 1)}


def submitted(job_id: int, spec: JobSpec, view: dict[str, NodeResources], *,
              mem_per_cpu: int = 100, limit: int | None = 10) -> Job:
    """As the controller builds it: spread at submit, memory per CPU of the largest share."""
    spec = spread(spec, list(view.values()))
    return Job(job_id, spec, JobState.PENDING, float(job_id), "main",
               mem_per_cpu * spec.cpus_per_node(), limit)


def allocation(result, job_id: int) -> dict[str, NodeAllocation]:  # type: ignore[no-untyped-def]
    return dict(next(s for s in result.starts if s.job_id == job_id).allocation)


def test_tasks_that_do_not_fill_the_last_node_hold_only_what_they_need_there() -> None:
    view = nodes(2)
    job = submitted(1, replace(BASE, num_tasks=3), view)               # sbatch -n 3
    got = allocation(run_cycle([job], [], view, MAIN, 0.0), 1)
    assert [(n, a.cpus, a.memory) for n, a in got.items()] == [("node1", 2, 200),
                                                               ("node2", 1, 100)]


def test_the_lightly_loaded_node_runs_another_job_at_the_same_time() -> None:
    view = nodes(2)
    wide = submitted(1, replace(BASE, num_tasks=3), view)
    small = submitted(2, BASE, view)
    result = run_cycle([wide, small], [], view, MAIN, 0.0)
    assert {s.job_id for s in result.starts} == {1, 2}
    assert list(allocation(result, 2)) == ["node2"]


def test_a_node_range_packs_tasks_that_fit_its_minimum() -> None:
    view = nodes(2)
    job = submitted(1, replace(BASE, num_tasks=2, max_nodes=2), view)  # -N 1-2 -n 2
    got = allocation(run_cycle([job], [], view, MAIN, 0.0), 1)
    assert [(n, a.cpus) for n, a in got.items()] == [("node1", 2)]
    wide = submitted(2, replace(BASE, num_nodes=2, max_nodes=4, num_tasks=2), nodes(4))
    got = allocation(run_cycle([wide], [], nodes(4), MAIN, 0.0), 2)  # -N 2-4 -n 2: no more
    assert len(got) == 2                                              # nodes than tasks


def test_a_gpu_total_spreads_over_as_many_nodes_as_it_needs_in_blocks() -> None:
    view = nodes(2, cpus=2, gpus=2)
    job = submitted(1, replace(BASE, gpus=3), view)                     # sbatch --gpus=3
    assert job.spec.num_nodes == 2
    got = allocation(run_cycle([job], [], view, MAIN, 0.0), 1)
    assert [(n, a.gpu_indices, a.cpus) for n, a in got.items()] == [("node1", (0, 1), 1),
                                                                    ("node2", (0,), 1)]
    assert job_tres(job)["gres/gpu"] == 3
    per_node = submitted(2, replace(BASE, gpus_per_node=3), view)       # --gpus-per-node=3
    assert per_node.spec.num_nodes == 1 and per_node_request(per_node.spec, 100).gpus == 3
    fixed = submitted(3, replace(BASE, gpus=3, max_nodes=1), view)     # -N 1 --gpus=3
    assert per_node_request(fixed.spec, 100).gpus == 3                 # refused at submit


def test_shares_follow_block_distribution_and_are_none_when_even() -> None:
    assert shares(replace(BASE, num_nodes=2, num_tasks=4), 200) is None
    assert shares(replace(BASE, num_nodes=3, num_tasks=4), 200) == (
        (PerNode(2, 200, 0, None, False), 1), (PerNode(1, 100, 0, None, False), 2))
    three = each_node(shares(replace(BASE, num_nodes=3, num_tasks=7), 300) or ())
    assert [n.cpus for n in three] == [3, 3, 1]
    assert [n.memory for n in three] == [300, 300, 100]              # memory per CPU follows
    fixed_mem = shares(replace(BASE, num_nodes=2, num_tasks=3, mem_per_node=500), 500) or ()
    assert [n.memory for n in each_node(fixed_mem)] == [500, 500]    # --mem is per node
    gpus = each_node(shares(replace(BASE, num_nodes=3, gpus=5), 100) or ())
    assert [n.gpus for n in gpus] == [2, 2, 1]
    assert shares(replace(BASE, num_nodes=2, num_tasks=3, exclusive=True), 100) is None


def test_the_first_node_of_nodelist_gets_the_largest_share_where_it_can() -> None:
    view = nodes(2)
    busy = Job(9, BASE, JobState.RUNNING, 0.0, "main", 100, 10, start_time=0.0,
               allocation={"node1": NodeAllocation(1, 100)})
    view["node1"] = replace(view["node1"], free_cpus=1, free_memory=3900, idle=False)
    job = submitted(1, replace(BASE, num_tasks=3), nodes(2))
    got = allocation(run_cycle([job], [busy], view, MAIN, 0.0), 1)
    assert [(n, a.cpus) for n, a in got.items()] == [("node1", 1), ("node2", 2)]


def test_an_uneven_job_waits_whole_and_its_reservation_counts_its_largest_share() -> None:
    view = nodes(2)
    busy = Job(9, BASE, JobState.RUNNING, 0.0, "main", 100, 10, start_time=0.0,
               allocation={"node2": NodeAllocation(2, 200)})
    view["node2"] = replace(view["node2"], free_cpus=0, free_memory=3800, idle=False)
    job = submitted(1, replace(BASE, num_tasks=3), nodes(2))
    result = run_cycle([job], [busy], view, MAIN, 60.0)
    assert not result.starts                                          # gang: not 2 of 3 now
    (reservation,) = result.reservations
    assert reservation.start == 600.0 and reservation.nodes == {"node1", "node2"}


# -- invariants ------------------------------------------------------------------------------

# (nodes given or None, tasks, cpus per task, GPUs in total, limit)
requests = st.lists(st.tuples(st.sampled_from([None, 1, 2, 3]), st.integers(1, 9),
                              st.sampled_from([1, 2]), st.sampled_from([0, 0, 1, 3, 5]),
                              st.sampled_from([None, 5, 30])), min_size=1, max_size=7)
busy = st.lists(st.tuples(st.integers(1, 4), st.integers(1, 4), st.integers(0, 2),
                          st.sampled_from([None, 2, 10, 60])), max_size=5)


def scenario(node_count: int, held: list, asked: list) -> tuple[list[Job], list[Job],
                                                                 dict[str, NodeResources]]:
    full = nodes(node_count, cpus=4, gpus=2)
    view = dict(full)
    running: list[Job] = []
    for k, (where, cpus, gpus, limit) in enumerate(held):
        name = f"node{(where - 1) % node_count + 1}"
        n = view[name]
        if n.free_cpus < cpus or len(n.free_gpus) < gpus:
            continue
        alloc = NodeAllocation(cpus, 100 * cpus, n.free_gpus[:gpus])
        running.append(Job(1000 + k, BASE, JobState.RUNNING, 0.0, "main", 100 * cpus, limit,
                           start_time=0.0, allocation={name: alloc}))
        view[name] = replace(n, free_cpus=n.free_cpus - cpus,
                             free_memory=n.free_memory - alloc.memory,
                             free_gpus=n.free_gpus[gpus:], idle=False)
    pending = []
    for i, (count, tasks, cpt, gpus, limit) in enumerate(asked):
        spec = replace(BASE, num_nodes=count or 1, max_nodes=count, num_tasks=tasks,
                       cpus_per_task=cpt, gpus=gpus)
        pending.append(submitted(i + 1, spec, full, limit=limit))
    return pending, running, view


def check(pending: list[Job], view: dict[str, NodeResources], result) -> None:  # type: ignore[no-untyped-def]
    used = {n: [view[n].cpus - view[n].free_cpus, view[n].memory - view[n].free_memory,
                set(range(view[n].gpus)) - set(view[n].free_gpus)] for n in view}
    by_id = {j.job_id: j for j in pending}
    for start in result.starts:
        spec = by_id[start.job_id].spec
        assert len(start.allocation) == spec.num_nodes                 # gang: all or none
        expect = job_tres(by_id[start.job_id])                          # what was asked, no more
        assert sum(a.cpus for a in start.allocation.values()) == expect["cpu"]
        assert sum(len(a.gpu_indices) for a in start.allocation.values()) == spec.gpus
        assert sum(a.memory for a in start.allocation.values()) == expect["mem"]
        for name, a in start.allocation.items():
            u = used[name]
            u[0] += a.cpus
            u[1] += a.memory
            assert not u[2] & set(a.gpu_indices)
            u[2] |= set(a.gpu_indices)
    for name, (cpus, memory, _) in used.items():                        # never over-allocated
        assert cpus <= view[name].cpus and memory <= view[name].memory
    started = {s.job_id for s in result.starts}
    assert all(j.job_id in started or j.job_id in result.reasons for j in pending)


@settings(max_examples=150, deadline=None)
@given(st.integers(1, 4), busy, requests, st.sampled_from([EASY, CONSERVATIVE]))
def test_uneven_shares_are_placed_whole_and_never_over_allocate(node_count: int, held: list,
                                                                asked: list, mode: str) -> None:
    pending, running, view = scenario(node_count, held, asked)
    result = run_cycle(pending, running, view, MAIN, 60.0,
                       SchedulingContext(SchedulingPolicy(backfill=mode)))
    check(pending, view, result)


@settings(max_examples=150, deadline=None)
@given(st.integers(1, 4), busy, requests)
def test_conservative_reservations_of_uneven_jobs_form_a_feasible_plan(node_count: int,
                                                                       held: list,
                                                                       asked: list) -> None:
    """Were every job to run to its limit, each reserved job could start at its reserved
    time on its reserved nodes, each node holding the job's largest share (the reservation
    is conservative), and none of what started now or was reserved before is in its way."""
    pending, running, view = scenario(node_count, held, asked)
    now = 60.0
    result = run_cycle(pending, running, view, MAIN, now,
                       SchedulingContext(SchedulingPolicy(backfill=CONSERVATIVE)))
    check(pending, view, result)
    by_id = {j.job_id: j for j in pending}

    def holds(allocs: dict[str, NodeAllocation]) -> dict[str, tuple[int, int]]:
        return {n: (a.cpus, len(a.gpu_indices)) for n, a in allocs.items()}

    holders = [(j.start_time or 0.0, j.expected_end(), holds(dict(j.allocation))) for j in running]
    holders += [(now, now + by_id[s.job_id].time_limit * 60 if by_id[s.job_id].time_limit
                 else math.inf, holds(dict(s.allocation))) for s in result.starts]
    for r in result.reservations:
        if math.isinf(r.start):
            continue
        job = by_id[r.job_id]
        need = per_node_request(job.spec, job.mem_per_node)
        assert len(r.nodes) == job.spec.num_nodes
        late = [h for h in holders if not (h[1] <= now and r.start == now)]
        moments = {r.start} | {h[0] for h in late if r.start < h[0] < r.end}
        for node in r.nodes:
            for at in moments:
                cpus = sum(h[2].get(node, (0, 0))[0] for h in late if h[0] <= at < h[1])
                gpus = sum(h[2].get(node, (0, 0))[1] for h in late if h[0] <= at < h[1])
                assert cpus + need.cpus <= view[node].cpus
                assert gpus + need.gpus <= view[node].gpus
        holders.append((r.start, r.end, dict.fromkeys(r.nodes, (need.cpus, need.gpus))))
