"""What a scheduling pass takes besides the jobs and nodes, and what it decides — as data."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from corral.core.policies import QueuePolicy, names, queue_policy
from corral.core.preempt import Preemption
from corral.core.priority import PriorityConfig
from corral.model.accounts import AccountTree, AssocKey, PreemptMode
from corral.model.job import NodeAllocation
from corral.model.states import Reason

EASY = "easy"
CONSERVATIVE = "conservative"
FIFO = "fifo"
BACKFILL_MODES = names()  # the registered queue policies (core.policies)


@dataclass(frozen=True, slots=True)
class SchedulingPolicy:
    """How the pass decides; fixed configuration (slurm.conf's SchedulerType and friends).

    backfill: the name of a registered queue policy (core.policies): "easy" (the first
    waiting job of each partition is protected by a reservation), "conservative" (every
    waiting job is, up to `reserve_depth` per pass), or "fifo" (no backfill: a partition
    starts nothing behind its first waiting job).
    """

    backfill: str = EASY
    priority: PriorityConfig = field(default_factory=PriorityConfig)
    reserve_depth: int = 500  # conservative: exact reservations per pass (bf_max_job_test)
    preempt_mode: PreemptMode = PreemptMode.CANCEL  # for QOS that do not name their own
    preempt_depth: int = 100  # jobs that may try to preempt per pass
    enforce_limits: bool = True  # AccountingStorageEnforce=limits,qos
    # An estimated start for every waiting job (squeue --start); a replay that never reads
    # them turns them off and saves a planner walk per pass.
    estimates: bool = True

    def __post_init__(self) -> None:
        if self.backfill not in names():
            raise ValueError(f"unknown backfill mode {self.backfill!r}")

    @property
    def queue(self) -> QueuePolicy:
        """The queue policy that `backfill` names."""
        return queue_policy(self.backfill)


@dataclass(frozen=True, slots=True)
class SchedulingContext:
    """Everything a pass needs besides jobs, nodes, partitions and the time.

    accounts: the account/association/QOS tree; None runs without accounting (no limits,
    no fair-share, no QOS). usage: each user association's decayed raw usage.
    ineligible: jobs the driver already holds back, with their reason (Dependency, …).
    """

    policy: SchedulingPolicy = field(default_factory=SchedulingPolicy)
    accounts: AccountTree | None = None
    usage: Mapping[AssocKey, float] = field(default_factory=dict)
    ineligible: Mapping[int, Reason] = field(default_factory=dict)


DEFAULT_CONTEXT = SchedulingContext()


@dataclass(frozen=True, slots=True)
class Start:
    job_id: int
    allocation: Mapping[str, NodeAllocation]
    backfilled: bool = False


@dataclass(frozen=True, slots=True)
class Reservation:
    """Nodes held for a waiting job from `start` (inf: unknown) to `end`."""

    job_id: int
    start: float
    nodes: frozenset[str]
    end: float = math.inf


@dataclass(frozen=True, slots=True)
class CycleStats:
    pending_seen: int = 0
    started: int = 0
    backfilled: int = 0
    reserved: int = 0
    preempted: int = 0
    limited: int = 0  # pending because of a partition, association or QOS limit
    placements_tried: int = 0
    placements_skipped: int = 0  # same request as one that already failed this pass
    estimated: int = 0


@dataclass(frozen=True, slots=True)
class CycleResult:
    """The pass's decisions. Every pending job that does not start has a reason."""

    starts: tuple[Start, ...]
    reasons: Mapping[int, Reason]
    estimates: Mapping[int, float]
    stats: CycleStats = field(default_factory=CycleStats)
    preemptions: tuple[Preemption, ...] = ()
    reservations: tuple[Reservation, ...] = ()
    priorities: Mapping[int, int] = field(default_factory=dict)
    details: Mapping[int, str] = field(default_factory=dict)  # limit and config words, by job
    now: float = 0.0
