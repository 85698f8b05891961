"""core.backfill.earliest_start against a brute-force walk over every candidate start.

The function walks an availability profile (bit masks per time segment) and skips
candidates that cannot be better than the last; the oracle here tries every release time
and window end, node by node, as the definition says.
"""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from corral.core.backfill import Blocks, Timeline, earliest_start
from corral.core.pool import NodePool
from corral.core.selection import PerNode
from corral.model.cluster import NodeResources, Partition
from corral.model.job import Job, JobSpec, NodeAllocation
from corral.model.states import JobState

INF = math.inf
NOW = 100.0
CPUS = 4
PARTS = {"main": Partition("main", all_nodes=True, default=True)}


def running_job(job_id: int, node: str, cpus: int, ends_in_min: int) -> Job:
    spec = JobSpec(name="r", uid=1, gid=1, user="u", group="g", work_dir="/", num_nodes=1,
                   cpus_per_task=cpus)
    # Started at 0 with a limit that ends it `ends_in_min` minutes after NOW.
    limit = int(NOW // 60) + ends_in_min
    return Job(job_id, spec, JobState.RUNNING, 0.0, "main", 100, limit,
               allocation={node: NodeAllocation(cpus, 0)}, start_time=0.0)


def brute_force(free: list[int], releases: list[tuple[float, int, int]],
                windows: list[tuple[float, float, set[int]]], need: int, count: int,
                duration: float, excluded: set[int] = frozenset(),  # type: ignore[assignment]
                required: set[int] = frozenset(),  # type: ignore[assignment]
                ) -> tuple[float, set[int]]:
    """The first candidate start at which `count` nodes (the required ones among them, none
    excluded) have `need` CPUs free for the whole duration and no window on them overlaps
    it; with the nodes that qualify then."""
    count = max(count, len(required))
    candidates = sorted({NOW} | {end for end, _, _ in releases}
                        | {end for _, end, _ in windows if NOW < end < INF})
    for t in candidates:
        cpus = list(free)
        for end, node, amount in releases:
            if end <= t:
                cpus[node] += amount
        ok = set()
        for node, have in enumerate(cpus):
            if have < need or node in excluded or (required and len(required) >= count
                                                   and node not in required):
                continue
            if any(end > t and (duration == INF or start < t + duration)
                   for start, end, nodes in windows if node in nodes):
                continue
            ok.add(node)
        if len(ok) >= count and required <= ok:
            return t, ok
    return INF, set()


busy = st.lists(st.tuples(st.integers(0, 4), st.integers(1, CPUS), st.integers(1, 30)),
                max_size=8)
reserved = st.lists(st.tuples(st.sets(st.integers(0, 4), min_size=1, max_size=3),
                              st.one_of(st.just(INF), st.integers(0, 1800).map(float)),
                              st.one_of(st.just(INF), st.integers(1, 1800).map(float))),
                    max_size=6)


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 5), busy, reserved, st.integers(1, CPUS), st.integers(1, 4),
       st.one_of(st.just(INF), st.integers(1, 40).map(lambda m: m * 60.0)),
       st.sets(st.integers(0, 4), max_size=2), st.sets(st.integers(0, 4), max_size=2))
def test_earliest_start_matches_the_brute_force_walk(node_count: int, jobs: list, windows: list,
                                                     need_cpus: int, count: int, duration: float,
                                                     excluded: set, required: set) -> None:
    free = [CPUS] * node_count
    running: list[Job] = []
    releases: list[tuple[float, int, int]] = []
    for k, (where, cpus, minutes) in enumerate(jobs):
        node = where % node_count
        if free[node] < cpus:
            continue
        free[node] -= cpus
        job = running_job(1000 + k, f"n{node}", cpus, minutes)
        running.append(job)
        releases.append((job.expected_end(), node, cpus))
    nodes = {f"n{i}": NodeResources(f"n{i}", CPUS, 1000, 0, None, free[i], 1000)
             for i in range(node_count)}
    pool = NodePool(nodes, PARTS)
    timeline = Timeline.of(pool, running, NOW)
    blocks = Blocks()
    kept: list[tuple[float, float, set[int]]] = []
    for k, (on, offset, length) in enumerate(windows):
        on = {i % node_count for i in on}
        start = NOW + offset
        end = start + length
        blocks.add(k, 1, sorted(on), start, end)
        kept.append((start, end, on))
    need = PerNode(need_cpus, 0, 0, None, False)
    excluded = {i for i in excluded if i < node_count}
    required = {i for i in required if i < node_count} - excluded
    start, chosen = earliest_start(pool, range(len(pool.classes)), need, count, duration,
                                   timeline, blocks, NOW, excluded, sorted(required))
    expected, qualifying = brute_force(free, releases, kept, need_cpus, count, duration,
                                       excluded, required)
    assert start == expected
    if start != INF:
        assert len(chosen) == max(count, len(required)) and required <= set(chosen) <= qualifying


def test_a_dropped_window_frees_its_nodes_again() -> None:
    nodes = {f"n{i}": NodeResources(f"n{i}", CPUS, 1000, 0, None, CPUS, 1000) for i in range(2)}
    pool = NodePool(nodes, PARTS)
    timeline = Timeline.of(pool, [], NOW)
    blocks = Blocks()
    blocks.add(1, 5, [0, 1], NOW, NOW + 600)
    need = PerNode(1, 0, 0, None, False)
    assert earliest_start(pool, [0], need, 2, 60.0, timeline, blocks, NOW) == (NOW + 600, [0, 1])
    assert blocks.earliest == {0: NOW, 1: NOW}
    blocks.drop(1)
    assert earliest_start(pool, [0], need, 2, 60.0, timeline, blocks, NOW) == (NOW, [0, 1])
    assert blocks.earliest == {}


def test_a_window_of_unknown_start_keeps_out_only_jobs_without_a_limit() -> None:
    nodes = {"n0": NodeResources("n0", CPUS, 1000, 0, None, CPUS, 1000)}
    pool = NodePool(nodes, PARTS)
    timeline = Timeline.of(pool, [], NOW)
    blocks = Blocks()
    blocks.add(1, 5, [0], INF, INF)
    need = PerNode(1, 0, 0, None, False)
    assert earliest_start(pool, [0], need, 1, 600.0, timeline, blocks, NOW)[0] == NOW
    assert earliest_start(pool, [0], need, 1, INF, timeline, blocks, NOW)[0] == INF
    assert blocks.above(4) == {0: INF} and blocks.above(5) == {}


def free_at(blocks: Blocks, t: float, nodes: int) -> int:
    times, free, _ = blocks.profile()
    k = max(i for i, at in enumerate(times) if at <= t)
    return free[k] & ((1 << nodes) - 1)


@settings(max_examples=200, deadline=None)
@given(reserved, st.sets(st.integers(0, 5)))
def test_dropping_windows_leaves_the_profile_of_those_kept(windows: list, dropped: set) -> None:
    blocks, kept = Blocks(), Blocks()
    for k, (on, offset, length) in enumerate(windows):
        start = NOW + offset
        blocks.add(k, 1, sorted(on), start, start + length)
        if k not in dropped:
            kept.add(k, 1, sorted(on), start, start + length)
    for k in dropped:
        blocks.drop(k)
    moments = {NOW + offset for _, offset, _ in windows} | {
        NOW + offset + length for _, offset, length in windows} | {NOW}
    for t in moments:
        if t != INF:
            assert free_at(blocks, t, 5) == free_at(kept, t, 5)
    assert blocks.profile()[2] == kept.profile()[2]
    assert blocks.earliest == kept.earliest
