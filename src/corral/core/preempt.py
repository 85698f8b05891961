"""QOS preemption: which running jobs a waiting job may push out, and how.

A job whose QOS lists other QOS under Preempt= may start in place of their running jobs
(Slurm's preempt/qos). The victims are chosen lowest QOS priority first, then lowest job
priority, then the most recently started (the least work lost), and only as many as the
job needs. Each victim is requeued or cancelled, as its own QOS's PreemptMode says (a job
that may not be requeued is cancelled), after its QOS's GraceTime.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass

from corral.core.backfill import Held
from corral.core.pool import NodePool
from corral.core.selection import PerNode
from corral.model.accounts import AccountTree, PreemptMode, Qos
from corral.model.job import Job
from corral.model.states import JobState


@dataclass(frozen=True, slots=True)
class Preemption:
    """Stop running job `job_id` (after `grace_time` seconds) to make room for `for_job`."""

    job_id: int
    mode: PreemptMode
    for_job: int
    grace_time: int = 0


def victim_qos(tree: AccountTree, job: Job) -> Qos | None:
    assoc = tree.association(job.spec.user, job.spec.account)
    if assoc is None:
        return tree.qos.get(job.spec.qos or tree.default_qos)
    return tree.qos_for(assoc, job.spec.qos)


def mode_for(victim: Job, qos: Qos, default: PreemptMode) -> PreemptMode:
    mode = qos.preempt_mode or default
    if mode is PreemptMode.REQUEUE and not victim.spec.requeue:
        return PreemptMode.CANCEL
    return mode


Victim = tuple[int, tuple[Held, ...], PreemptMode, int]  # job id, what it holds, mode, grace


def candidates(tree: AccountTree, preemptor: Qos, running: Iterable[Job],
               holding: Mapping[int, tuple[float, tuple[Held, ...]]], default: PreemptMode,
               seen: dict[tuple[str, str | None, str | None], Qos | None] | None = None,
               ) -> list[Victim]:
    """Running jobs the preemptor's QOS may preempt, best victims first.

    `holding` says what each running job holds; `seen` caches each (user, account, QOS
    request)'s QOS between calls.
    """
    out: list[tuple[tuple[int, int, float, int], Victim]] = []
    seen = {} if seen is None else seen
    running_state = JobState.RUNNING
    allowed = preemptor.preempt
    for job in running:
        if job.state is not running_state or job.job_id not in holding:
            continue  # already being stopped
        spec = job.spec
        key = (spec.user, spec.account, spec.qos)
        if key in seen:
            qos = seen[key]
        else:
            qos = seen[key] = victim_qos(tree, job)
        if qos is None or qos.name not in allowed:
            continue
        mode = mode_for(job, qos, default)
        if mode is PreemptMode.OFF:
            continue
        out.append(((qos.priority, job.priority, -(job.start_time or 0.0), job.job_id),
                    (job.job_id, holding[job.job_id][1], mode, qos.grace_time)))
    out.sort(key=_first)
    return [victim for _, victim in out]


def _first(item: tuple[tuple[int, int, float, int], Victim]) -> tuple[int, int, float, int]:
    return item[0]


class OnNode:
    """The victims on one node, by rank (0: preempt first), and all they hold there."""

    __slots__ = ("ranked", "cpus", "mem", "gpus")

    def __init__(self) -> None:
        self.ranked: list[int] = []
        self.cpus = self.mem = self.gpus = 0


def by_node(pool: NodePool, victims: Sequence[Victim]) -> dict[int, dict[int, OnNode]]:
    """The victims on each node (by their rank in `victims`), grouped by node class."""
    out: dict[int, dict[int, OnNode]] = {}
    cls = pool.cls
    for rank, victim in enumerate(victims):
        for i, cpus, mem, gpus in victim[1]:
            nodes = out.get(cls[i])
            if nodes is None:
                nodes = out[cls[i]] = {}
            on = nodes.get(i)
            if on is None:
                on = nodes[i] = OnNode()
            on.ranked.append(rank)
            on.cpus += cpus
            on.mem += mem
            on.gpus += len(gpus)
    return out


def choose_victims(pool: NodePool, classes: Collection[int], need: PerNode, count: int,
                   on_node: Mapping[int, Mapping[int, OnNode]], victims: Sequence[Victim],
                   excluded: Collection[int] = (),
                   skip: Collection[int] = ()) -> tuple[list[int], list[Victim]] | None:
    """Nodes for the job and the victims that free them, or None.

    Each node is emptied of its victims in rank order until the job fits there; the nodes
    needing the fewest (then the best-ranked) victims are taken. `skip` are victims
    already taken for another job in this pass.
    """
    cand, out = set(classes), set(excluded)
    full = [c.full for c in pool.classes]
    already = [i for i in pool.fitting(cand, need, count) if i not in out]
    if len(already) >= count:
        return already[:count], []
    had = set(already)
    options: list[tuple[int, int, int, list[Victim]]] = []
    wanted = count - len(already)
    ones = 0
    for i, on in ((i, on) for k in classes for i, on in on_node.get(k, {}).items()):
        if i in out or i in had or not pool.available[i]:
            continue
        c, m, g = pool.free_cpus[i], pool.free_mem[i], len(pool.free_gpus[i])
        # Not even all the victims together would make room here.
        if need.exclusive:
            if (g + on.gpus, c + on.cpus, m + on.mem) != full[pool.cls[i]]:
                continue
        elif c + on.cpus < need.cpus or m + on.mem < need.memory or g + on.gpus < need.gpus:
            continue
        chosen: list[Victim] = []
        for rank in on.ranked:
            victim = victims[rank]
            if victim[0] in skip:
                continue
            for j, vc, vm, vg in victim[1]:
                if j == i:
                    c += vc
                    m += vm
                    g += len(vg)
            chosen.append(victim)
            if ((g, c, m) == full[pool.cls[i]] if need.exclusive
                    else c >= need.cpus and m >= need.memory and g >= need.gpus):
                options.append((len(chosen), rank, i, chosen))
                ones += len(chosen) == 1
                break
        if ones >= wanted:
            break  # nothing beats one victim per node
    if len(already) + len(options) < count:
        return None
    options.sort(key=lambda o: o[:3])
    picked = options[:count - len(already)]
    taken: dict[int, Victim] = {}
    for option in picked:
        for victim in option[3]:
            taken.setdefault(victim[0], victim)
    return already + [o[2] for o in picked], list(taken.values())


def preemptible_by(tree: AccountTree) -> Mapping[str, frozenset[str]]:
    """QOS name → the QOS it may preempt (only QOS that may preempt anything)."""
    return {name: q.preempt for name, q in tree.qos.items() if q.preempt}
