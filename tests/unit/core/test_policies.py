"""The queue policy registry: the controller's pass and the simulator read a policy's traits,
never its name, so a new policy is one module and a registered QueuePolicy."""

from __future__ import annotations

import pytest

from corral.core import policies
from corral.core.decisions import BACKFILL_MODES, SchedulingPolicy
from corral.core.policies import QueuePolicy, names, queue_policy, register, resolve


def test_the_builtin_policies_and_their_traits() -> None:
    assert names() == BACKFILL_MODES == ("easy", "conservative", "fifo")
    easy, conservative, fifo = (queue_policy(n) for n in names())
    assert (easy.backfill, easy.reserve_all) == (True, False)
    assert (conservative.backfill, conservative.reserve_all) == (True, True)
    assert (fifo.backfill, fifo.reserve_all) == (False, False)
    assert fifo.scheduler_type == "sched/builtin"
    assert easy.scheduler_type == conservative.scheduler_type == "sched/backfill"
    assert all(queue_policy(n).replay_cuts for n in names())
    assert SchedulingPolicy(backfill="conservative").queue is conservative


def test_slurm_scheduler_types_resolve_to_policies() -> None:
    assert resolve("sched/backfill") == "easy"
    assert resolve("sched/builtin") == "fifo"
    assert resolve("conservative") == "conservative"
    assert resolve("nosuch") == "nosuch"  # SchedulingPolicy refuses it by name
    with pytest.raises(ValueError, match="unknown backfill mode 'nosuch'"):
        SchedulingPolicy(backfill="nosuch")


def test_a_name_is_registered_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(policies, "_REGISTRY", dict(policies._REGISTRY))
    monkeypatch.setattr(policies, "_ALIASES", dict(policies._ALIASES))
    with pytest.raises(ValueError, match="already registered"):
        register(QueuePolicy("easy", backfill=True, reserve_all=False))
    with pytest.raises(ValueError, match="already registered"):
        register(QueuePolicy("other", backfill=True, reserve_all=False,
                             aliases=("sched/builtin",)))
    register(QueuePolicy("hybrid", backfill=True, reserve_all=True))
    assert SchedulingPolicy(backfill="hybrid").queue.name == "hybrid"
