"""Queue policies: what a scheduling pass does with the jobs behind one that must wait.

A policy is one module of this package holding one `QueuePolicy`, registered here by name;
the controller's pass (core.fullpass, core.scheduler) and the simulator (sim.replay) both
read its traits through `queue_policy(name)` and never match the name itself. Adding a
policy is adding a module and a line to `_BUILTIN` below; a trait the pass does not know
yet is added to `QueuePolicy` with a default that keeps the existing policies as they are.

As Fluxion keeps queue policy (fcfs, easy, conservative) apart from match policy, a queue
policy here says nothing about where a job goes: placement (core.pool) and reservations
(core.backfill) are shared by all of them.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class QueuePolicy:
    """The traits of a queue policy that the pass and the simulator read.

    backfill: a job may start ahead of one that waits in its partition, where it delays no
    reservation (False: a partition starts nothing behind its first waiting job).
    reserve_all: every waiting job gets a reservation, up to SchedulingPolicy.reserve_depth
    a pass; otherwise only the first waiting job of each partition does.
    replay_cuts: the simulator may cut its passes down (sim.replay) for this policy; true
    only where tests/unit/sim checks the cut passes against uncut ones. A policy without it
    is replayed uncut: slower, never different.
    scheduler_type: slurm.conf's SchedulerType that `scontrol show config` shows for it;
    aliases: other names [scheduler] backfill accepts for it (Slurm's SchedulerType).
    """

    name: str
    backfill: bool
    reserve_all: bool
    scheduler_type: str = "sched/backfill"
    aliases: tuple[str, ...] = ()
    replay_cuts: bool = False
    summary: str = ""


_REGISTRY: dict[str, QueuePolicy] = {}
_ALIASES: dict[str, str] = {}


def register(policy: QueuePolicy) -> QueuePolicy:
    """Adds a policy by its name and aliases; a name taken twice is a mistake."""
    for name in (policy.name, *policy.aliases):
        if name in _REGISTRY or name in _ALIASES:
            raise ValueError(f"queue policy {name!r} is already registered")
    _REGISTRY[policy.name] = policy
    for alias in policy.aliases:
        _ALIASES[alias] = policy.name
    return policy


def names() -> tuple[str, ...]:
    """The registered policies' names, in the order they were registered."""
    return tuple(_REGISTRY)


def resolve(name: str) -> str:
    """The policy's own name for `name` or one of its aliases; an unknown name unchanged."""
    return _ALIASES.get(name, name)


def queue_policy(name: str) -> QueuePolicy:
    """The registered policy of that name; KeyError when there is none."""
    return _REGISTRY[name]


def _load_builtin() -> None:
    from corral.core.policies import conservative, easy, fifo

    for module in (easy, conservative, fifo):  # the order `corral sim --compare` runs them
        register(module.POLICY)


_load_builtin()

__all__ = ["QueuePolicy", "names", "queue_policy", "register", "resolve"]
