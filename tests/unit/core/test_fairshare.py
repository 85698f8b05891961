"""Fair-share: decay, Fair Tree ranking, classic factors, on hand-computed trees and under Hypothesis."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from corral.core.fairshare import (
    CLASSIC,
    FAIR_TREE,
    accrue_usage,
    charge,
    decay,
    decay_all,
    fairshare_factors,
    new_usage,
    share_table,
)
from corral.model.accounts import Account, AccountTree, Association, Qos, User
from corral.model.job import Job, JobSpec
from corral.model.states import JobState

HOUR = 3600.0


def tree(shares: dict[str, int] | None = None, users: dict[tuple[str, str], int] | None = None,
         parents: dict[str, str] | None = None) -> AccountTree:
    shares = shares or {"A": 1, "B": 1}
    users = users or {("A", "a1"): 1, ("A", "a2"): 1, ("B", "b1"): 1}
    parents = parents or {}
    accounts = {"root": Account("root", None)}
    accounts.update({a: Account(a, parents.get(a, "root"), s) for a, s in shares.items()})
    assocs = {(a, u): Association(u, a, s) for (a, u), s in users.items()}
    return AccountTree(accounts, assocs, {u: User(u, a) for a, u in users})


USAGE = {("A", "a1"): 10.0, ("A", "a2"): 30.0, ("B", "b1"): 20.0}


def test_usage_halves_over_one_half_life_as_slurm_decays_it() -> None:
    assert decay(100.0, HOUR, HOUR) == pytest.approx(50.0, rel=1e-3)
    assert decay(100.0, 2 * HOUR, HOUR) == pytest.approx(25.0, rel=2e-3)
    # Decaying twice for t equals decaying once for 2t.
    assert decay(decay(7.0, 100.0, HOUR), 200.0, HOUR) == pytest.approx(decay(7.0, 300.0, HOUR))
    assert decay(100.0, HOUR, 0) == 100.0  # no half-life: no decay
    assert decay_all({("A", "a1"): 8.0}, HOUR, HOUR)[("A", "a1")] == pytest.approx(4.0, rel=1e-3)


def test_new_usage_is_cpu_seconds_times_usage_factor() -> None:
    assert new_usage(60.0, 4, 0) == 240.0
    assert new_usage(60.0, 4, 0, usage_factor=0.5) == 120.0
    assert new_usage(60.0, 4, HOUR) < 240.0
    assert charge({}, ("A", "a1"), 5.0) == {("A", "a1"): 5.0}


def test_accrual_decays_then_charges_each_job_its_cpus_times_its_qos_factor() -> None:
    accounts = tree()
    accounts = AccountTree(accounts.accounts, accounts.associations, accounts.users,
                           {"normal": Qos("normal"), "half": Qos("half", usage_factor=0.5)},
                           "normal")

    def running(user: str, account: str, cpus: int, qos: str | None = None) -> Job:
        spec = JobSpec(name="j", uid=1, gid=1, user=user, group="g", work_dir="/",
                       account=account, qos=qos, cpus_per_task=cpus)
        return Job(1, spec, JobState.RUNNING, 0.0, "main", 100, 10, start_time=0.0)

    ran = [(running("a1", "A", 4), 60.0), (running("b1", "B", 2, "half"), 60.0),
           (running("a2", "A", 8), 0.0)]  # ran no time: not charged, no entry made
    out = accrue_usage(USAGE, HOUR, 0, accounts, ran)  # no half-life: nothing decays
    assert out == {("A", "a1"): 10.0 + 240.0, ("A", "a2"): 30.0, ("B", "b1"): 20.0 + 60.0}
    decayed = accrue_usage(USAGE, HOUR, HOUR, accounts, [])
    assert decayed == decay_all(USAGE, HOUR, HOUR)
    assert accrue_usage({}, 0.0, HOUR, accounts, ran[2:]) == {}
    assert USAGE[("A", "a1")] == 10.0  # the input is left as it was


def test_fair_tree_ranks_the_less_served_account_first() -> None:
    rows = share_table(tree(), USAGE, FAIR_TREE)
    # B: S=1/2, U=20/60 → LevelFS 1.5; A: S=1/2, U=40/60 → 0.75. So b1 ranks first (3/3), then
    # inside A, a1 (S=1/2, U=10/40 → 2) before a2 (S=1/2, U=30/40 → 2/3).
    assert rows[("B", "b1")].fairshare == 1.0
    assert rows[("A", "a1")].fairshare == pytest.approx(2 / 3)
    assert rows[("A", "a2")].fairshare == pytest.approx(1 / 3)
    assert rows[("A", "")].level_fs == pytest.approx(0.75)
    assert rows[("B", "")].level_fs == pytest.approx(1.5)
    assert rows[("A", "a1")].norm_shares == 0.5 and rows[("A", "a1")].effectv_usage == 0.25
    assert rows[("A", "")].raw_usage == 40.0 and rows[("root", "")].raw_usage == 60.0
    assert list(rows) == [("root", ""), ("A", ""), ("A", "a1"), ("A", "a2"), ("B", ""),
                          ("B", "b1")]  # sshare's order


def test_fair_tree_ties_share_a_rank_and_unused_users_lead() -> None:
    factors = fairshare_factors(tree(), {("A", "a2"): 5.0}, FAIR_TREE)
    # B has no usage (LevelFS infinite) so b1 leads; a1 (no usage) ties nobody, a2 last.
    assert factors == {("B", "b1"): 1.0, ("A", "a1"): pytest.approx(2 / 3),
                       ("A", "a2"): pytest.approx(1 / 3)}
    tied = fairshare_factors(tree(), {}, FAIR_TREE)
    # Nobody used anything: every LevelFS is infinite, the tied accounts merge, all tie.
    assert set(tied.values()) == {1.0}


def test_classic_factor_is_two_to_the_minus_usage_over_shares() -> None:
    rows = share_table(tree(), USAGE, CLASSIC)
    # NormShares: a1 = 1/2·1/2; UE(a1) = 1/6 + (2/3 − 1/6)·1/2 = 5/12 → 2^(−5/3).
    assert rows[("A", "a1")].norm_shares == 0.25
    assert rows[("A", "a1")].effectv_usage == pytest.approx(5 / 12)
    assert rows[("A", "a1")].fairshare == pytest.approx(2 ** (-5 / 3))
    assert rows[("A", "a2")].fairshare == pytest.approx(2 ** (-7 / 3))
    assert rows[("B", "b1")].fairshare == pytest.approx(2 ** (-2 / 3))
    damped = share_table(tree(), USAGE, CLASSIC, dampening=2.0)
    assert damped[("B", "b1")].fairshare == pytest.approx(2 ** (-1 / 3))


def test_unknown_algorithm_is_refused() -> None:
    with pytest.raises(ValueError):
        share_table(tree(), USAGE, "level_based")


_USERS = [("A", "a1"), ("A", "a2"), ("C", "c1"), ("B", "b1"), ("B", "b2")]


@settings(max_examples=150, deadline=None)
@given(st.sampled_from([FAIR_TREE, CLASSIC]),
       st.lists(st.floats(0, 1e6, allow_nan=False), min_size=5, max_size=5),
       st.lists(st.integers(1, 5), min_size=8, max_size=8),
       st.integers(0, 4), st.floats(1.0, 1e6, allow_nan=False))
def test_more_usage_never_raises_a_users_fairshare(algorithm: str, used: list[float],
                                                   shares: list[int], who: int,
                                                   extra: float) -> None:
    t = tree({"A": shares[0], "B": shares[1], "C": shares[2]},
             {k: shares[3 + i] for i, k in enumerate(_USERS)}, {"C": "A"})
    usage = dict(zip(_USERS, used, strict=True))
    before = fairshare_factors(t, usage, algorithm)
    more = dict(usage)
    more[_USERS[who]] += extra
    after = fairshare_factors(t, more, algorithm)
    assert after[_USERS[who]] <= before[_USERS[who]] + 1e-12
    assert all(0.0 <= f <= 1.0 for f in after.values())
