"""Start estimates for every pending job, cheap enough for a queue of 100,000.

Exact reservations (core.backfill) walk nodes one by one; doing that for every pending job
would cost far more than a pass may take. Estimates are instead planned per node class,
counting CPUs, memory and GPUs in aggregate: the queue is served in priority order, each
job starting in a class when enough has been released there — by running jobs at their
time limits, and by the jobs planned before it — and not before the job planned ahead of
it in that class (first come, first served per class; backfill may do better, so an
estimate is a late bound as long as jobs run to their limits and nothing of higher
priority arrives). Packing within nodes is ignored.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Hashable, Sequence

from corral.core.backfill import Timeline
from corral.core.pool import NodePool
from corral.core.selection import PerNode

INF = math.inf


class Planner:
    def __init__(self, pool: NodePool, timeline: Timeline, now: float) -> None:
        self.now = now
        n = len(pool.classes)
        self.frontier = [now] * n
        self.free = [[0, 0, 0] for _ in range(n)]
        self.capacity = [[0, 0, 0] for _ in range(n)]
        # Releases per class: a heap of distinct times, and what each time releases (jobs
        # planned at one frontier with one time limit share an entry).
        self.heaps: list[list[float]] = [[] for _ in range(n)]
        # (CPUs, memory, GPUs) released at each time, one dict per dimension: plain ints,
        # nothing for the garbage collector to follow.
        self.amounts: list[tuple[dict[float, int], dict[float, int], dict[float, int]]] = [
            ({}, {}, {}) for _ in range(n)]
        self._fitting: dict[Hashable, list[tuple[int, tuple[int, int, int]]]] = {}
        for i, k in enumerate(pool.cls):
            if pool.available[i]:
                c = pool.classes[k]
                cap, free = self.capacity[k], self.free[k]
                cap[0] += c.cpus
                cap[1] += c.memory
                cap[2] += c.gpus
                free[0] += pool.free_cpus[i]
                free[1] += pool.free_mem[i]
                free[2] += len(pool.free_gpus[i])
        cls, available, amounts = pool.cls, pool.available, self.amounts
        for end, nodes in timeline.releases():
            if end < now:
                end = now
            for i, cpus, mem, gpus in nodes:
                if not available[i]:
                    continue
                ac, am, ag = amounts[cls[i]]
                if end in ac:
                    ac[end] += cpus
                    am[end] += mem
                    ag[end] += len(gpus)
                else:
                    ac[end], am[end], ag[end] = cpus, mem, len(gpus)
        for k, (ac, _, _) in enumerate(amounts):
            self.heaps[k] = list(ac)
        for heap in self.heaps:
            heapq.heapify(heap)

    def demand(self, pool: NodePool, k: int, need: PerNode, count: int) -> tuple[int, int, int]:
        if need.exclusive:
            c = pool.classes[k]
            return (c.cpus * count, c.memory * count, c.gpus * count)
        return (need.cpus * count, need.memory * count, need.gpus * count)

    def _advance(self, k: int, want: tuple[int, int, int], not_before: float) -> float:
        """Move class k's frontier to when `want` is free from `not_before` on; inf if never."""
        free, heap, (ac, am, ag) = self.free[k], self.heaps[k], self.amounts[k]
        t = max(self.frontier[k], not_before)
        while heap and heap[0] <= t:
            t0 = heapq.heappop(heap)
            c, m, g = ac.pop(t0), am.pop(t0), ag.pop(t0)
            free[0] += c
            free[1] += m
            free[2] += g
        while free[0] < want[0] or free[1] < want[1] or free[2] < want[2]:
            if not heap:
                self.frontier[k] = t
                return INF
            t = heapq.heappop(heap)
            c, m, g = ac.pop(t), am.pop(t), ag.pop(t)
            free[0] += c
            free[1] += m
            free[2] += g
        self.frontier[k] = t
        return t

    def _consume(self, k: int, want: tuple[int, int, int], start: float, duration: float) -> None:
        free = self.free[k]
        free[0] -= want[0]
        free[1] -= want[1]
        free[2] -= want[2]
        if duration != INF:
            self._release(k, start + duration, want)

    def _release(self, k: int, at: float, want: tuple[int, int, int]) -> None:
        ac, am, ag = self.amounts[k]
        if at in ac:
            ac[at] += want[0]
            am[at] += want[1]
            ag[at] += want[2]
        else:
            ac[at], am[at], ag[at] = want
            heapq.heappush(self.heaps[k], at)

    def _next_release(self, k: int) -> float:
        heap = self.heaps[k]
        return heap[0] if heap else INF

    def place(self, pool: NodePool, classes: Sequence[int], need: PerNode, count: int,
              duration: float, not_before: float, at: float | None = None,
              after_now: bool = False, key: Hashable = None) -> float:
        """Plan one job; returns its estimated start (inf when it can never run).

        `at` plans a job whose start is already known (an exact reservation) at that time;
        `after_now` says the job was found not to fit now, so "now" is not an answer. Jobs
        with the same `key` (default: classes, need, count) share what is worked out once.
        """
        if key is None:
            key = (classes, need, count)
        fitting = self._fitting.get(key)
        if fitting is None:
            fitting = self._fitting[key] = [
                (k, want) for k in classes
                for want in (self.demand(pool, k, need, count),)
                if want[0] <= self.capacity[k][0] and want[1] <= self.capacity[k][1]
                and want[2] <= self.capacity[k][2]]
        if not fitting:
            return self._split(pool, classes, need, count, duration, not_before, at)
        if len(fitting) == 1:
            k, want = fitting[0]
        else:
            # The class that looks ready first: free enough at its frontier, or its next release.
            k, want, best = -1, (0, 0, 0), INF
            for kk, ww in fitting:
                free, ready = self.free[kk], self.frontier[kk]
                if free[0] < ww[0] or free[1] < ww[1] or free[2] < ww[2]:
                    heap = self.heaps[kk]
                    if not heap:
                        continue
                    if heap[0] > ready:
                        ready = heap[0]
                if ready < best or k < 0:
                    k, want, best = kk, ww, ready
            if k < 0:
                k, want = fitting[0]
        start = self._advance(k, want, not_before if at is None else at)
        if after_now and start <= self.now and at is None:
            heap = self.heaps[k]
            if heap:
                start = self._advance(k, want, heap[0])
        if start != INF:
            free = self.free[k]
            free[0] -= want[0]
            free[1] -= want[1]
            free[2] -= want[2]
            if duration != INF:
                self._release(k, start + duration, want)
        return start if at is None else at

    def _split(self, pool: NodePool, classes: Sequence[int], need: PerNode, count: int,
               duration: float, not_before: float, at: float | None) -> float:
        """A job no single class can hold: spread it over the classes by their size."""
        nodes = {k: sum(1 for i in pool.classes[k].members if pool.available[i]) for k in classes}
        total = sum(nodes.values())
        if total < count or not classes:
            return INF
        shares: list[tuple[int, int]] = []
        left = count
        for k in sorted(classes, key=lambda c: -nodes[c]):
            part = min(left, nodes[k])
            if part:
                shares.append((k, part))
                left -= part
        wants = [(k, self.demand(pool, k, need, part)) for k, part in shares]
        start = max(self._advance(k, want, not_before if at is None else at) for k, want in wants)
        if start == INF:
            return INF
        for k, want in wants:
            self.frontier[k] = max(self.frontier[k], start)
            self._consume(k, want, start, duration)
        return start if at is None else at
