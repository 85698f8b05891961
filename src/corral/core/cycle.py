"""One scheduling pass, as the controller and the simulator call it: decisions as data.

`run_cycle` takes a snapshot — pending and running jobs, the nodes with what is free on
them, the partitions — and `now`, and returns which jobs start where, which running jobs
to preempt, why every other pending job waits and when it is expected to start. It does no
I/O and reads no clock. Everything beyond the snapshot (priority weights, accounts, usage,
QOS, the backfill policy) comes in one SchedulingContext whose defaults reproduce the
original behaviour: priority/basic, EASY backfill, no accounting. A driver that runs pass
after pass keeps a core.scheduler.Scheduler instead (it reuses per-job work);
core.explain.explain(result, job) puts any job's situation into words.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from corral.core.decisions import (
    CONSERVATIVE,
    DEFAULT_CONTEXT,
    EASY,
    FIFO,
    CycleResult,
    CycleStats,
    Reservation,
    SchedulingContext,
    SchedulingPolicy,
    Start,
)
from corral.core.preempt import Preemption
from corral.core.priority import BASE_PRIORITY, basic_priority
from corral.core.scheduler import Scheduler
from corral.model.cluster import NodeResources, Partition
from corral.model.job import Job


def priority_of(job: Job) -> int:
    """priority/basic, what a job shows before its first multifactor pass."""
    return basic_priority(job)


def run_cycle(pending: Sequence[Job], running: Sequence[Job], nodes: Mapping[str, NodeResources],
              partitions: Mapping[str, Partition], now: float,
              context: SchedulingContext = DEFAULT_CONTEXT) -> CycleResult:
    """Decide which pending jobs start now, where, and why the others wait."""
    return Scheduler(partitions, context).full_pass(pending, running, nodes, now)


__all__ = ["BASE_PRIORITY", "CONSERVATIVE", "EASY", "FIFO", "CycleResult", "CycleStats",
           "Preemption", "Reservation", "SchedulingContext", "SchedulingPolicy", "Start",
           "priority_of", "run_cycle"]
