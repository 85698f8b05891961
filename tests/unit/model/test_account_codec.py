"""The account tree survives a JSON round trip, and malformed JSON is refused by name."""

from __future__ import annotations

import json

import pytest

from corral.model.account_codec import (
    qos_from_dict,
    qos_to_dict,
    tree_from_dict,
    tree_to_dict,
)
from corral.model.accounts import (
    ROOT,
    Account,
    AccountTree,
    Association,
    Limits,
    PreemptMode,
    Qos,
    User,
)


def sample_tree() -> AccountTree:
    limits = Limits(max_jobs=4, max_wall=60, grp_tres={"gres/gpu": 8, "cpu": 10})
    accounts = {ROOT: Account(ROOT, None),
                "physics": Account("physics", shares=5, limits=limits, qos=frozenset({"normal", "high"}),
                                   default_qos="normal", description="Physics", organization="uni"),
                "chem": Account("chem", parent="physics")}
    associations = {("physics", "alice"): Association("alice", "physics", shares=2,
                                                      limits=Limits(max_submit_jobs=9)),
                    ("chem", "alice"): Association("alice", "chem", qos=frozenset({"high"}))}
    qos = {"normal": Qos("normal"),
           "high": Qos("high", priority=10, preempt=frozenset({"normal"}),
                       preempt_mode=PreemptMode.REQUEUE, grace_time=60, usage_factor=2.0,
                       max_tres_per_user={"cpu": 16})}
    return AccountTree(accounts, associations, {"alice": User("alice", "physics")}, qos)


def test_tree_round_trips_through_json_text() -> None:
    tree = sample_tree()
    data = json.loads(json.dumps(tree_to_dict(tree)))
    assert tree_from_dict(data) == tree


def test_tree_dict_lists_are_sorted_and_sets_become_sorted_lists() -> None:
    data = tree_to_dict(sample_tree())
    assert [a["name"] for a in data["accounts"]] == ["chem", "physics", "root"]
    assert [(a["account"], a["user"]) for a in data["associations"]] == [
        ("chem", "alice"), ("physics", "alice")]
    physics = data["accounts"][1]
    assert physics["qos"] == ["high", "normal"]
    assert physics["limits"]["grp_tres"] == {"gres/gpu": 8, "cpu": 10}
    assert data["default_qos"] == "normal"


def test_qos_enum_is_written_as_its_value() -> None:
    assert qos_to_dict(sample_tree().qos["high"])["preempt_mode"] == "REQUEUE"
    assert qos_from_dict({"name": "q", "preempt_mode": "cancel"}).preempt_mode is PreemptMode.CANCEL


@pytest.mark.parametrize(("mutate", "problem"), [
    (lambda d: d["accounts"][1].update(shares="5"), "shares must be an integer"),
    (lambda d: d["accounts"][1].update(qos="normal"), "qos must be a list of strings"),
    (lambda d: d["qos"][0].update(preempt_mode="sometimes"), "unknown preempt_mode"),
    (lambda d: d["accounts"][0].update(parent="nowhere"), "unknown parent nowhere"),
    (lambda d: d["users"][0].update(default_account="chem2"), "default account chem2"),
    (lambda d: d["accounts"].append(dict(d["accounts"][0])), "appears twice"),
    (lambda d: d["associations"][0]["limits"].update(grp_tres={"cpu": "x"}), "TRES"),
    (lambda d: d.update(accounts={}), "accounts must be a list"),
])
def test_malformed_tree_is_refused_naming_the_problem(mutate, problem) -> None:
    data = tree_to_dict(sample_tree())
    mutate(data)
    with pytest.raises(ValueError, match=problem):
        tree_from_dict(data)


def test_non_object_is_refused() -> None:
    with pytest.raises(ValueError, match="expected an object"):
        tree_from_dict([])
