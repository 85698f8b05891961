"""cluster.toml: the [scheduler] policy, partition priority and access lists, node features."""

from __future__ import annotations

from pathlib import Path

import pytest

from corral.model.accounts import PreemptMode
from corral.settings import load_cluster_config


def load(tmp_path: Path, text: str) -> dict[str, object]:
    path = tmp_path / "cluster.toml"
    path.write_text(text)
    return load_cluster_config(path)


def test_scheduler_section_becomes_the_policy(tmp_path: Path) -> None:
    values = load(tmp_path, """
[scheduler]
backfill = "sched/backfill"
priority_type = "priority/multifactor"
weight_fairshare = 10000
weight_age = 1000
max_age = "1-0"
decay_half_life = 3600
preempt_mode = "requeue"

[[partitions]]
name = "gpu"
nodes = "g[1-2]"
priority_tier = 2
allow_accounts = "physics,chem"

[[nodes]]
name = "g[1-2]"
features = "a100, ib"
""")
    policy = values["policy"]
    assert policy.backfill == "easy"  # type: ignore[attr-defined]
    prio = policy.priority  # type: ignore[attr-defined]
    assert (prio.type, prio.weight_fairshare, prio.weight_age) == ("multifactor", 10000, 1000)
    assert (prio.max_age, prio.decay_half_life) == (86400, 3600)
    assert policy.preempt_mode is PreemptMode.REQUEUE  # type: ignore[attr-defined]
    (gpu,) = values["partitions"]  # type: ignore[misc]
    assert gpu.default and gpu.priority_tier == 2
    assert gpu.allow_accounts == frozenset({"physics", "chem"}) and gpu.allow_qos is None
    assert values["node_features"] == (("g1", frozenset({"a100", "ib"})),
                                       ("g2", frozenset({"a100", "ib"})))


@pytest.mark.parametrize("text, message", [
    ('[scheduler]\nbackfil = "easy"', "unknown \\[scheduler\\] setting"),
    ('[scheduler]\npriority_type = "fancy"', "priority_type must be basic or multifactor"),
    ('[scheduler]\nbackfill = "greedy"', "unknown backfill mode"),
    ('[scheduler]\nmax_age = "soon"', "Invalid --time specification"),
])
def test_bad_scheduler_settings_are_named(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        load(tmp_path, text)


def test_the_default_is_multifactor_priority_with_fair_share_on(tmp_path: Path) -> None:
    """A fresh cluster has sprio's factors: fair-share dominant, as the README documents."""
    from corral.settings import ControllerSettings

    priority = ControllerSettings(tmp_path, "sqlite://", tmp_path / "sock").policy.priority
    assert priority.type == "multifactor"
    assert priority.weight_fairshare > priority.weight_qos > priority.weight_age > 0
    fifo = load(tmp_path, '[scheduler]\nbackfill = "fifo"\n')["policy"]
    assert fifo.backfill == "fifo" and fifo.priority == priority  # type: ignore[attr-defined]
    basic = load(tmp_path, '[scheduler]\npriority_type = "basic"\n')["policy"]
    assert basic.priority.type == "basic"  # type: ignore[attr-defined]
