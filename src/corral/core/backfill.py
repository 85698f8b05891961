"""Reservations: when and where a job that cannot start now could start, and what it blocks.

A job's reservation is found by walking the future (Mu'alem & Feitelson's EASY shadow
time, generalised): running jobs release their nodes at their time limits, earlier
reservations hold theirs for [start, end), and the first moment at which enough nodes are
free for the job's whole limit is its start. Reserved nodes are then off-limits, for the
reservation's window, to every job considered after it: a job starting now may use one
only if it ends before the reservation begins. A reservation with an unknown (infinite)
start keeps its nodes from jobs that have no time limit.

The reservations of a pass form an availability profile, as Slurm's backfill keeps its
node_space_map: time cut at every window's start and end, each segment with a bit mask of
the nodes that no window holds. Finding a start ANDs the masks a job would span; the cost
follows the number of windows, not windows × nodes.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right, insort
from collections.abc import Callable, Collection, Iterable, Sequence
from heapq import nsmallest

from corral.core.pool import NodePool
from corral.core.selection import PerNode
from corral.model.job import Job

INF = math.inf
# What a job holds on one node, by node index: (index, cpus, memory, GPU indices).
Held = tuple[int, int, int, tuple[int, ...]]


def held(pool: NodePool, job: Job) -> tuple[Held, ...]:
    out = []
    for name, alloc in job.allocation.items():
        i = pool.index.get(name)
        if i is not None:
            out.append((i, alloc.cpus, alloc.memory, alloc.gpu_indices))
    return tuple(out)


class Timeline:
    """Running jobs in the order they are expected to release their nodes."""

    def __init__(self) -> None:
        self.entries: list[tuple[float, int]] = []
        self.holding: dict[int, tuple[float, tuple[Held, ...]]] = {}
        self.cls: list[int] = []  # node index → class, for views
        # Job → the one node class all its nodes belong to (-1 when several): lets a view
        # take most jobs whole instead of filtering their nodes one by one.
        self.single: dict[int, int] = {}
        # Per set of node classes: the releases that touch them, only their nodes, in order.
        self._views: dict[frozenset[int], list[tuple[float, int, tuple[Held, ...]]]] = {}
        # earliest_start's FitsOverTime per (classes, request, pool version); any change to
        # the releases clears it.
        self.fits: dict[tuple[object, ...], FitsOverTime] = {}

    @classmethod
    def of(cls, pool: NodePool, running: Iterable[Job], now: float,
           cache: dict[int, tuple[Job, tuple[float, tuple[Held, ...]], tuple[float, int], int]]
           | None = None) -> Timeline:
        """From the running jobs; `cache` keeps each job's entries between passes."""
        timeline = cls()
        holding, entries, single = timeline.holding, timeline.entries, timeline.single
        node_class = pool.cls
        for job in running:
            # A job being stopped (cancel, requeue, preemption) gives its nodes back shortly.
            end = now if job.state.value == "COMPLETING" else job.expected_end()
            hit = cache.get(job.job_id) if cache is not None else None
            if hit is None or hit[0] is not job or hit[1][0] != end:
                nodes = held(pool, job)
                hit = (job, (end, nodes), (end, job.job_id), _single_class(node_class, nodes))
                if cache is not None:
                    cache[job.job_id] = hit
            holding[job.job_id] = hit[1]
            entries.append(hit[2])
            single[job.job_id] = hit[3]
        entries.sort()
        timeline.cls = pool.cls
        return timeline

    def add(self, job_id: int, end: float, nodes: tuple[Held, ...]) -> None:
        self.fits.clear()
        self.holding[job_id] = (end, nodes)
        self.single[job_id] = _single_class(self.cls, nodes)
        insort(self.entries, (end, job_id))
        if end != INF:
            for classes, view in self._views.items():
                mine = tuple(h for h in nodes if self.cls[h[0]] in classes)
                if mine:
                    insort(view, (end, job_id, mine))

    def remove(self, job_id: int) -> tuple[Held, ...]:
        self.fits.clear()
        end, nodes = self.holding.pop(job_id, (INF, ()))
        self.single.pop(job_id, None)
        _drop(self.entries, end, job_id)
        for view in self._views.values():
            _drop(view, end, job_id)
        return nodes

    def view(self, classes: frozenset[int]) -> list[tuple[float, int, tuple[Held, ...]]]:
        """The finite releases touching these classes, with only their nodes, in time order."""
        found = self._views.get(classes)
        if found is None:
            found = []
            cls, single, holding = self.cls, self.single, self.holding
            for end, job_id in self.entries:
                if end == INF:
                    break
                c = single.get(job_id, -1)
                if c >= 0:
                    if c in classes:
                        found.append((end, job_id, holding[job_id][1]))
                    continue
                mine = tuple(h for h in holding[job_id][1] if cls[h[0]] in classes)
                if mine:
                    found.append((end, job_id, mine))
            self._views[classes] = found
        return found

    def releases(self, after: float = -INF) -> Iterable[tuple[float, tuple[Held, ...]]]:
        for end, job_id in self.entries:
            if end == INF:
                return
            if end >= after:
                yield end, self.holding[job_id][1]


def _drop(entries: list[tuple[float, int]] | list[tuple[float, int, tuple[Held, ...]]],
          end: float, job_id: int) -> None:
    """Remove the (end, job_id, ...) entry from a list sorted by it, if there."""
    at = bisect_left(entries, (end, job_id))
    if at < len(entries) and entries[at][:2] == (end, job_id):
        del entries[at]


def _single_class(cls: Sequence[int], nodes: tuple[Held, ...]) -> int:
    if not nodes:
        return -1
    first = cls[nodes[0][0]]
    return first if all(cls[h[0]] == first for h in nodes) else -1


def mask_of(indices: Iterable[int]) -> int:
    """The bit mask with these bits set; built in bytes, since OR-ing bit by bit copies the
    whole (growing) integer each time."""
    found = list(indices)
    if not found:
        return 0
    buf = bytearray(max(found) // 8 + 1)
    for i in found:
        buf[i >> 3] |= 1 << (i & 7)
    return int.from_bytes(buf, "little")


class Blocks:
    """Reserved windows: per node (`earliest` is what NodePool.find takes as `blocked`), and
    as an availability profile over time, which `earliest_start` walks.

    The profile (Slurm's node_space_map) cuts time at every window's start and end; each
    segment carries a bit mask of the nodes no window holds during it. A window of unknown
    start is kept apart: it only keeps out jobs without a time limit.
    """

    def __init__(self) -> None:
        self.earliest: dict[int, float] = {}
        self._ranks: list[int] | None = None
        self._above: dict[int, dict[int, float]] = {}
        # Job → (priority, start, end, nodes as a mask).
        self._windows: dict[int, tuple[int, float, float, int]] = {}
        self._times: list[float] = [-INF]
        self._free: list[int] = [-1]  # -1: every bit set
        self._unknown = 0

    def add(self, job_id: int, priority: int, nodes: Iterable[int], start: float, end: float) -> None:
        self._ranks = None
        chosen = tuple(nodes)
        earliest, get = self.earliest, self.earliest.get
        for i in chosen:
            if start < get(i, INF) or i not in earliest:
                earliest[i] = start
        if end <= start != INF:
            end = math.nextafter(start, INF)  # an instant still holds its nodes at that instant
        mask = mask_of(chosen)
        self._windows[job_id] = (priority, start, end, mask)
        self._carve(start, end, mask)

    def __contains__(self, job_id: int) -> bool:
        return job_id in self._windows

    def drop(self, job_id: int) -> None:
        self._ranks = None
        window = self._windows.pop(job_id, None)
        if window is None:
            return
        _, start, end, mask = window
        self._uncarve(start, end, mask)
        for i in _bits(mask):
            self.earliest.pop(i, None)
        self._earliest_among(self.earliest, mask, None)

    def _earliest_among(self, out: dict[int, float], nodes: int, above: int | None) -> None:
        """Fills `out` with each of these nodes' earliest window (of a job with a priority
        above `above`, when given)."""
        left = nodes
        for priority, start, _, mask in sorted(self._windows.values(), key=lambda w: w[1]):
            if above is not None and priority <= above:
                continue
            hit = mask & left
            if hit:
                left &= ~hit  # a node's first window, in start order, is its earliest
                for i in _bits(hit):
                    out[i] = start
                if not left:
                    return

    def _carve(self, start: float, end: float, mask: int) -> None:
        if start == INF:
            self._unknown |= mask
            return
        keep, free = ~mask, self._free
        for k in self._segments(start, end):
            free[k] &= keep

    def _uncarve(self, start: float, end: float, mask: int) -> None:
        """Gives a dropped window's nodes back, then carves again the windows that overlap
        it on the same nodes (preemption may reserve over a reservation)."""
        if start == INF:
            self._unknown = 0
            for _, s, _, m in self._windows.values():
                if s == INF:
                    self._unknown |= m
            return
        free = self._free
        for k in self._segments(start, end):
            free[k] |= mask
        for _, s, e, m in self._windows.values():
            if m & mask and s < end and e > start:
                self._carve(s, e, m)

    def _segments(self, start: float, end: float) -> range:
        """The segments of [start, end), cut out of those around them where needed."""
        first = self._cut(start)
        return range(first, self._cut(end) if end != INF else len(self._times))

    def _cut(self, at: float) -> int:
        """The segment starting at `at`, split off the one that held it."""
        times = self._times
        k = bisect_left(times, at)
        if k == len(times) or times[k] != at:
            times.insert(k, at)
            self._free.insert(k, self._free[k - 1])
        return k

    def profile(self) -> tuple[list[float], list[int], int]:
        """(segment starts, free-node masks per segment, nodes held from an unknown start)."""
        return self._times, self._free, self._unknown

    def above(self, priority: int) -> dict[int, float]:
        """`earliest` counting only reservations of jobs with a higher priority."""
        if self._ranks is None:
            self._ranks = sorted({w[0] for w in self._windows.values()})
            self._above = {}
        rank = bisect_right(self._ranks, priority)  # reservations from rank on count
        out = self._above.get(rank)
        if out is None:
            out = self._above[rank] = {}
            self._earliest_among(out, -1, priority)
        return out


class _Window:
    """The AND of the free masks of the segments a job would span, as its start moves
    later: a two-stack queue, so each segment is taken in and dropped once."""

    def __init__(self, free: Sequence[int]) -> None:
        self.free = free
        self.hi = self.mid = self.lo0 = 0
        self.front: list[int] = []  # front[j - lo0]: AND of free[j:mid], for j in [lo0, mid)
        self.back = -1  # AND of free[mid:hi]

    def span(self, lo: int, hi: int) -> int:
        """AND of free[lo:hi]; neither bound may move back between calls."""
        free = self.free
        if lo >= self.mid:
            # Rebuild the front from lo to hi: suffix ANDs, newest last.
            acc, front = -1, []
            for k in range(hi - 1, lo - 1, -1):
                acc &= free[k]
                front.append(acc)
            front.reverse()
            self.front, self.lo0, self.mid, self.back = front, lo, hi, -1
        else:
            back = self.back
            for k in range(self.hi, hi):
                back &= free[k]
            self.back = back
        self.hi = max(hi, self.mid)
        return self.front[lo - self.lo0] & self.back if lo < self.mid else self.back


class FitsOverTime:
    """Which nodes fit a request as running jobs release theirs, release by release: worked
    out only as far as some start search has asked (`grow`), as a pass's first job start
    makes it stale anyway."""

    def __init__(self, pool: NodePool, cand: Collection[int], need: PerNode,
                 releases: Sequence[tuple[float, int, tuple[Held, ...]]],
                 usable: Callable[[int], bool], extra: int = 0) -> None:
        self.cls, self.full = pool.cls, [c.full for c in pool.classes]
        self.need, self.usable = need, usable
        self.pool, self.releases, self.taken = pool, releases, 0
        fitting = [i for i in pool.fitting(cand, need, len(pool.names)) if usable(i)]
        full, cls = self.full, self.cls
        whole = mask_of(i for i in fitting if pool.sig(i) == full[cls[i]])
        self.now = self.fitting = mask_of(fitting) | extra  # fit before any release (mask)
        self.count_now = self.fitted = self.now.bit_count()
        self.whole_now = self.whole = whole  # … that are wholly free
        self.times: list[float] = []  # the releases' times, ascending
        self.masks: list[int] = []  # the nodes that fit once the releases up to each are in
        self.counts: list[int] = []  # … how many
        self.wholes: list[int] = []  # … and are wholly free
        # Per node touched by a release: its release times and what is free after each
        # (GPUs, CPUs, memory: best fit's order).
        self.history: dict[int, tuple[list[float], list[tuple[int, int, int]]]] = {}

    def grow(self) -> bool:
        """Takes in the next release; False when none is left."""
        if self.taken >= len(self.releases):
            return False
        end, _, nodes = self.releases[self.taken]
        self.taken += 1
        pool, cls, full, history, usable = self.pool, self.cls, self.full, self.history, self.usable
        need = self.need
        fitting, whole, fitted = self.fitting, self.whole, self.fitted
        for i, cpus, mem, gpus in nodes:
            hist = history.get(i)
            if hist is None:
                g, c, m = len(pool.free_gpus[i]), pool.free_cpus[i], pool.free_mem[i]
                o = (g + len(gpus), c + cpus, m + mem)
                history[i] = ([end], [o])
            else:
                g, c, m = hist[1][-1]
                o = (g + len(gpus), c + cpus, m + mem)
                hist[0].append(end)
                hist[1].append(o)
            bit = 1 << i
            if not fitting & bit and usable(i) and (
                    o == full[cls[i]] if need.exclusive
                    else o[1] >= need.cpus and o[2] >= need.memory and o[0] >= need.gpus):
                fitting |= bit
                fitted += 1
            if o == full[cls[i]] and fitting & bit and not whole & bit:
                whole |= bit
        self.fitting, self.whole, self.fitted = fitting, whole, fitted
        self.times.append(end)
        self.masks.append(fitting)
        self.counts.append(fitted)
        self.wholes.append(whole)
        return True


def earliest_start(pool: NodePool, classes: Collection[int], need: PerNode, count: int,
                   duration: float, timeline: Timeline, blocks: Blocks, now: float,
                   excluded: Collection[int] = (), required: Sequence[int] = (),
                   ) -> tuple[float, list[int]]:
    """When and where `count` nodes fit the request for `duration` seconds.

    Returns (start, nodes); (inf, every node that could ever hold it) when no known future
    frees enough. Candidate starts are now, each release (a running job's limit) and each
    cut of the reservation profile; at each, the nodes that fit by then (`FitsOverTime`,
    shared by the requests alike until a job starts or ends) are ANDed with those that no
    window holds for the job's whole duration.
    """
    cand = frozenset(classes)
    excluded_set = set(excluded)
    required_set = set(required)
    count = max(count, len(required_set))
    avail = pool.available
    only_required = bool(required_set) and len(required_set) >= count
    cls = pool.cls

    def usable(i: int) -> bool:
        return cls[i] in cand and avail[i] and i not in excluded_set and (
            not only_required or i in required_set)

    releases = timeline.view(cand)
    required_mask = 0
    if excluded_set or required_set:
        required_mask = mask_of(required_set)
        extra = mask_of(i for i in required_set if usable(i) and pool.fits(i, need))
        fits = FitsOverTime(pool, cand, need, releases, usable, extra)
    else:
        key = (cand, need, pool.version)
        cached = timeline.fits.get(key)
        if cached is None:
            cached = timeline.fits[key] = FitsOverTime(pool, cand, need, releases, usable)
        fits = cached

    times, free, unknown = blocks.profile()
    n_seg = len(times)
    unlimited = duration == INF
    window = _Window(free)

    def valid_at(t: float, fitting: int) -> int:
        lo = bisect_right(times, t) - 1
        hi = n_seg if unlimited else max(bisect_left(times, t + duration), lo + 1)
        held_free = window.span(lo, hi)
        return fitting & (held_free & ~unknown if unlimited else held_free)

    def enough(mask: int) -> bool:
        return mask.bit_count() >= count and mask & required_mask == required_mask

    rel_times, masks, counts, grow = fits.times, fits.masks, fits.counts, fits.grow
    ri = 0
    t = now
    cut = bisect_right(times, t)  # the next cut of the profile after t
    fitting, fitted = fits.now, fits.count_now
    valid = valid_at(t, fitting) if fitted >= count else 0
    while not enough(valid):
        # Jobs already past their limit are expected to end at once, so the first step
        # applies every release up to now.
        # A release matters once it makes another node fit: straight to the first that
        # does (to the one that makes enough fit, while too few do).
        want = count if fitted < count else fitted + 1
        while (counts[-1] if counts else -1) < want and grow():
            pass
        k = bisect_left(counts, want, ri)
        upcoming = rel_times[k] if k < len(counts) else INF
        if fitted >= count and cut < n_seg and times[cut] < upcoming:
            upcoming = times[cut]
        if upcoming == INF:
            return INF, sorted(i for c in cand for i in pool.classes[c].members
                               if avail[i] and i not in excluded_set)
        if upcoming > t:
            t = upcoming
        # Only a node that fits from now on, or whose window has just ended, can make t a
        # start where the last candidate was none: otherwise t is no better, so skip it.
        gained = False
        if ri < len(rel_times) and rel_times[ri] <= t:
            while rel_times[-1] <= t and grow():
                pass
            ri = bisect_right(rel_times, t, ri)
            if counts[ri - 1] != fitted:
                gained, fitting, fitted = True, masks[ri - 1], counts[ri - 1]
        while cut < n_seg and times[cut] <= t:
            if not gained and free[cut] & ~free[cut - 1] & fitting:
                gained = True
            cut += 1
        if gained and fitted >= count:
            valid = valid_at(t, fitting)
    whole = (fits.wholes[ri - 1] if ri else fits.whole_now) if len(cand) == 1 else 0
    return t, _choose(pool, fits, t if ri else None, valid, whole, required_set, count, need)


def _bits(mask: int, limit: int = -1) -> list[int]:
    """The indices of the set bits, lowest first; at most `limit` of them (-1: all)."""
    out: list[int] = []
    while mask and limit:
        low = mask & -mask
        out.append(low.bit_length() - 1)
        mask ^= low
        limit -= 1
    return out


def _choose(pool: NodePool, fits: FitsOverTime, t: float | None, valid: int, whole: int,
            required: set[int], count: int, need: PerNode) -> list[int]:
    """Best fit at t among the valid nodes (t None: before any release).

    `whole`: valid nodes wholly free at t, when they all belong to one class; best fit takes
    them last and by index, so they need no key.
    """
    wanted = count - len(required)
    if required:
        whole = 0
        valid &= ~mask_of(required)
    others = _bits(valid & ~whole)
    if len(others) > wanted:
        history = fits.history
        free_cpus, free_mem, free_gpus = pool.free_cpus, pool.free_mem, pool.free_gpus

        def spare(i: int) -> tuple[int, int, int, int]:
            hist = history.get(i) if t is not None else None
            if hist is not None and t is not None:
                k = bisect_right(hist[0], t)
                if k:
                    g, c, m = hist[1][k - 1]
                    return (g, c, m, i)
            return (len(free_gpus[i]), free_cpus[i], free_mem[i], i)
        # nsmallest keeps sorted()'s order (the keys are unique) without sorting every node.
        others = nsmallest(wanted, others, key=spare)
    elif len(others) < wanted:
        others += _bits(valid & whole, wanted - len(others))
    return sorted(required) + others
