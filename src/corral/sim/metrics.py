"""The numbers a replay is judged by, computed from its per-job outcomes alone.

- utilization: core-seconds used / (cores × makespan), makespan = last end − first submit;
- wait: start − submit; median and 95th percentile interpolate linearly between ranks
  (numpy's default), so a test can recompute them from the records;
- bounded slowdown: max(1, (wait + run) / max(run, τ)) with τ = 10 s (Feitelson et al.).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from corral.model.hostlist import compress
from corral.sim.replay import Outcome, Replay

TAU_S = 10


def bounded_slowdown(wait_s: float, run_s: float, tau_s: float = TAU_S) -> float:
    return max(1.0, (wait_s + run_s) / max(run_s, tau_s))


def percentile(values: Sequence[float], q: float) -> float:
    """The q-quantile (0 ≤ q ≤ 1) by linear interpolation between closest ranks."""
    if not values:
        return 0.0
    ordered = sorted(values)
    position = q * (len(ordered) - 1)
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def _mean(values: Sequence[float]) -> float:
    return math.fsum(values) / len(values) if values else 0.0


@dataclass(frozen=True, slots=True)
class GroupWait:
    jobs: int
    mean_wait_s: float
    max_wait_s: int


def _by(outcomes: Iterable[Outcome], attr: str) -> dict[str, GroupWait]:
    groups: dict[str, list[int]] = {}
    for outcome in outcomes:
        groups.setdefault(getattr(outcome, attr), []).append(outcome.wait_s)
    return {name: GroupWait(len(waits), _mean(waits), max(waits))
            for name, waits in sorted(groups.items())}


@dataclass(frozen=True, slots=True)
class Summary:
    policy: str
    jobs: int
    skipped: int
    utilization: float
    mean_wait_s: float
    median_wait_s: float
    p95_wait_s: float
    mean_bounded_slowdown: float
    makespan_s: int
    killed_at_limit: int
    backfilled: int
    never_started: int
    replay_s: float
    passes: int
    per_user: Mapping[str, GroupWait] = field(default_factory=dict)
    per_account: Mapping[str, GroupWait] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def summarize(replay: Replay, skipped: int) -> Summary:
    outcomes = replay.outcomes
    waits = [o.wait_s for o in outcomes]
    makespan = (max(o.end for o in outcomes) - min(o.submit for o in outcomes)) if outcomes else 0
    used = sum(o.cpus * o.run_s for o in outcomes)
    return Summary(
        policy=replay.policy,
        jobs=len(outcomes),
        skipped=skipped,
        utilization=used / (replay.total_cpus * makespan) if makespan else 0.0,
        mean_wait_s=_mean(waits),
        median_wait_s=percentile(waits, 0.5),
        p95_wait_s=percentile(waits, 0.95),
        mean_bounded_slowdown=_mean([bounded_slowdown(o.wait_s, o.run_s) for o in outcomes]),
        makespan_s=makespan,
        killed_at_limit=sum(o.killed for o in outcomes),
        backfilled=sum(o.backfilled for o in outcomes),
        never_started=len(replay.never_started),
        replay_s=replay.elapsed_s,
        passes=replay.passes,
        per_user=_by(outcomes, "user"),
        per_account=_by(outcomes, "account"),
    )


def record(outcome: Outcome) -> dict[str, Any]:
    """One job in results.json."""
    return {"job_id": outcome.job_id, "origin": outcome.origin, "user": outcome.user,
            "account": outcome.account, "partition": outcome.partition,
            "submit": outcome.submit, "start": outcome.start, "end": outcome.end,
            "wait_s": outcome.wait_s, "run_s": outcome.run_s, "procs": outcome.procs,
            "cpus": outcome.cpus, "nodes": outcome.nodes,
            "hosts": compress(outcome.hosts), "time_limit_s": outcome.time_limit_s,
            "killed": outcome.killed, "backfilled": outcome.backfilled, "state": outcome.state}
