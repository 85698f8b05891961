"""Where jobs go: typed GPUs, features and --constraint, best-fit, exclusive, the indexed pool."""

from __future__ import annotations

from dataclasses import replace

import pytest

from corral.core.cycle import run_cycle
from corral.core.features import BadConstraint, parse_constraint
from corral.core.pool import NodePool
from corral.core.selection import PerNode
from corral.model.cluster import NodeResources, Partition
from corral.model.job import Job, JobSpec
from corral.model.states import JobState, Reason

MAIN = {"main": Partition("main", all_nodes=True, default=True)}


def node(name: str, cpus: int = 8, gpus: int = 0, kind: str | None = None,
         features: tuple[str, ...] = (), free_cpus: int | None = None) -> NodeResources:
    free = cpus if free_cpus is None else free_cpus
    return NodeResources(name, cpus, 32000, gpus, kind, free, 32000, tuple(range(gpus)),
                         idle=free == cpus, features=frozenset(features))


def cluster(*nodes: NodeResources) -> dict[str, NodeResources]:
    return {n.name: n for n in nodes}


def job(job_id: int, *, cpus: int = 1, nodes: int = 1, gpus: int = 0, kind: str | None = None,
        constraint: str | None = None, exclusive: bool = False) -> Job:
    spec = JobSpec(name="j", uid=1, gid=1, user="u", group="g", work_dir="/", cpus_per_task=cpus,
                   num_nodes=nodes, gpus_per_node=gpus, gpu_type=kind, constraint=constraint,
                   exclusive=exclusive)
    return Job(job_id, spec, JobState.PENDING, float(job_id), "main", 1000, 10)


def placed(result, job_id: int) -> list[str]:  # type: ignore[no-untyped-def]
    return sorted(next(s for s in result.starts if s.job_id == job_id).allocation)


def test_typed_gpus_go_to_nodes_of_that_type() -> None:
    view = cluster(node("a1", gpus=4, kind="a100"), node("h1", gpus=4, kind="h100"))
    result = run_cycle([job(1, gpus=2, kind="h100"), job(2, gpus=4, kind="a100"),
                        job(3, gpus=1, kind="v100")], [], view, MAIN, 0.0)
    assert placed(result, 1) == ["h1"] and placed(result, 2) == ["a1"]
    assert result.starts[0].allocation["h1"].gpu_indices == (0, 1)
    assert result.reasons[3] is Reason.PARTITION_CONFIG  # no v100 anywhere


def test_cpu_jobs_keep_off_gpu_nodes_while_cpu_nodes_have_room() -> None:
    view = cluster(node("g1", gpus=8, kind="h100"), node("c1"))
    result = run_cycle([job(1, cpus=4), job(2, cpus=4), job(3, cpus=4)], [], view, MAIN, 0.0)
    assert placed(result, 1) == ["c1"] and placed(result, 2) == ["c1"]
    assert placed(result, 3) == ["g1"]  # only when the CPU node is full


def test_best_fit_picks_the_fullest_node_that_fits() -> None:
    view = cluster(node("n1", free_cpus=8), node("n2", free_cpus=3), node("n3", free_cpus=2))
    result = run_cycle([job(1, cpus=3)], [], view, MAIN, 0.0)
    assert placed(result, 1) == ["n2"]


def test_constraints_select_nodes_by_feature() -> None:
    view = cluster(node("a", features=("intel", "rack1")), node("b", features=("amd", "rack1")),
                   node("c", features=("intel", "rack2")), node("d", features=("intel", "rack2")))
    result = run_cycle([job(1, constraint="amd"), job(2, nodes=2, cpus=8, constraint="[rack1|rack2]&intel"),
                        job(3, constraint="gpu"), job(4, constraint="intel*2")], [], view, MAIN, 0.0)
    assert placed(result, 1) == ["b"]
    assert placed(result, 2) == ["c", "d"]  # both intel nodes of one rack: rack1 has only one
    assert result.reasons[3] is Reason.PARTITION_CONFIG
    assert result.reasons[4] is Reason.BAD_CONSTRAINTS


def test_exclusive_takes_only_idle_nodes_and_all_of_them() -> None:
    view = cluster(node("n1", free_cpus=7), node("n2"))
    result = run_cycle([job(1, exclusive=True), job(2)], [], view, MAIN, 0.0)
    assert placed(result, 1) == ["n2"]
    assert result.starts[0].allocation["n2"].cpus == 8
    assert placed(result, 2) == ["n1"]


def test_constraint_parser() -> None:
    assert parse_constraint("(a|b)&c").allows(frozenset({"b", "c"}))
    assert not parse_constraint("(a|b)&c").allows(frozenset({"b"}))
    assert len(parse_constraint("[x|y]").alternatives) == 2
    for bad in ("a&", "(a", "[a|b", "a|[b|c]", "a*2", ""):
        with pytest.raises(BadConstraint):
            parse_constraint(bad)


def test_pool_finds_gangs_whole_or_not_at_all_and_tracks_what_it_gives() -> None:
    view = cluster(*(node(f"n{i}", free_cpus=c) for i, c in enumerate([8, 4, 2, 8])))
    pool = NodePool(view, MAIN)
    need = PerNode(4, 1000, 0, None, False)
    classes = pool.compatible("main", need, None)[0]
    assert [pool.names[i] for i in pool.find(classes, need, 3) or []] == ["n1", "n0", "n3"]
    assert pool.find(classes, need, 4) is None
    alloc = pool.take(pool.index["n1"], need)
    assert pool.find(classes, need, 3) is None
    pool.give(pool.index["n1"], alloc)
    assert pool.resources(pool.index["n1"]) == replace(view["n1"], idle=False)
    blocked = {pool.index["n0"]: 100.0}
    assert pool.find(classes, need, 3, blocked=blocked, end=200.0) is None
    assert pool.find(classes, need, 3, blocked=blocked, end=50.0) is not None


def test_submit_check_refuses_features_no_node_has() -> None:
    from corral.core.selection import never_fits_reason, per_node_request

    view = [node("a", features=("intel",)), node("b", features=("amd",))]
    ok = job(1, constraint="intel")
    assert never_fits_reason(ok, per_node_request(ok.spec, 1000), MAIN["main"], view) is None
    for bad in ("arm", "intel&amd", "intel*2"):
        j = job(2, constraint=bad)
        assert never_fits_reason(j, per_node_request(j.spec, 1000), MAIN["main"], view) == \
            "Invalid feature specification"


def test_the_allocation_lists_its_nodes_in_cluster_order_so_the_batch_host_is_the_first() -> None:
    # Best-fit picks the fuller node2 first; Slurm still runs the script on node1 (the first
    # node of NodeList=node[1-2]), and scripts take MASTER_ADDR from `hostnames | head -1`.
    # The nodes registered in another order (node10 first) must not change that.
    view = cluster(node("node10"), node("node2", free_cpus=2), node("node1", free_cpus=8))
    result = run_cycle([job(1, nodes=3)], [], view, MAIN, 0.0)
    start = next(s for s in result.starts if s.job_id == 1)
    assert list(start.allocation) == ["node1", "node2", "node10"]


def test_tasks_without_a_node_count_spread_over_as_many_nodes_as_they_need() -> None:
    from corral.core.selection import spread
    members = [node("n1", cpus=2), node("n2", cpus=2), node("n3", cpus=2)]
    base = JobSpec(name="j", uid=1, gid=1, user="u", group="g", work_dir="/")
    assert spread(replace(base, num_tasks=4), members).num_nodes == 2       # -n 4
    assert spread(replace(base, num_tasks=2), members).num_nodes == 1       # fits one node
    assert spread(replace(base, num_tasks=3, cpus_per_task=2), members).num_nodes == 3
    assert spread(replace(base, num_tasks=9), members).num_nodes == 3       # no more than exist
    fixed = replace(base, num_tasks=4, max_nodes=1)                        # -N 1 -n 4: refused later
    assert spread(fixed, members).num_nodes == 1
    assert spread(replace(base, num_tasks=6, max_nodes=2), members).num_nodes == 2  # -N 1-2


def test_a_node_range_gets_as_many_nodes_as_fit_now_within_it() -> None:
    spec = JobSpec(name="j", uid=1, gid=1, user="u", group="g", work_dir="/", num_nodes=1,
                   max_nodes=3)
    ranged = Job(1, spec, JobState.PENDING, 1.0, "main", 1000, 10)
    view = cluster(node("n1"), node("n2"), node("n3", free_cpus=0), node("n4"))
    assert placed(run_cycle([ranged], [], view, MAIN, 0.0), 1) == ["n1", "n2", "n4"]
    view = cluster(node("n1"), node("n2", free_cpus=0))
    assert placed(run_cycle([ranged], [], view, MAIN, 0.0), 1) == ["n1"]
